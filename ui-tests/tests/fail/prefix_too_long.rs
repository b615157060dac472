use network_sandbox::network_sandbox;

#[network_sandbox(allow = "10.0.0.0/33:443")]
fn main() {}
