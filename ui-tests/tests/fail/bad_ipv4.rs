use network_sandbox::network_sandbox;

#[network_sandbox(allow = "300.1.1.1:443")]
fn main() {}
