use network_sandbox::network_sandbox;

#[network_sandbox(from_build)]
fn main() {}
