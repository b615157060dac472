use network_sandbox::network_sandbox;

#[network_sandbox(allow = 443)]
fn main() {}
