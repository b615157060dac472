use network_sandbox::network_sandbox;

#[network_sandbox(audit = true)]
fn main() {}
