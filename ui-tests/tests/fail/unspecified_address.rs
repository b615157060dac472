use network_sandbox::network_sandbox;

#[network_sandbox(allow = "0.0.0.0:80")]
fn main() {}
