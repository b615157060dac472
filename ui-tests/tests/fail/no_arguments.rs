use network_sandbox::network_sandbox;

#[network_sandbox]
fn main() {}
