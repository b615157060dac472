use network_sandbox::network_sandbox;

#[network_sandbox(allow = "192.0.2.1:443", listen = "localhost:8080")]
fn main() {}
