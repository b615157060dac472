use network_sandbox::network_sandbox;

#[network_sandbox(allow = "unix:")]
fn main() {}
