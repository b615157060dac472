use network_sandbox::network_sandbox;

#[network_sandbox(allow = "192.0.2.1:443", listen = "127.0.0.1:8000-8080")]
fn main() {}
