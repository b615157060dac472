use network_sandbox::network_sandbox;

#[network_sandbox(allow = "")]
fn main() {}
