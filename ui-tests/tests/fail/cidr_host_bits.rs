use network_sandbox::network_sandbox;

#[network_sandbox(allow = "10.0.0.1/8:443")]
fn main() {}
