use network_sandbox::network_sandbox;

#[network_sandbox(allow = "127.0.0.2:443")]
fn main() {}
