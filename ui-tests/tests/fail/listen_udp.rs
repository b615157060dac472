use network_sandbox::network_sandbox;

#[network_sandbox(allow = "192.0.2.1:443", listen = "udp://127.0.0.1:5353")]
fn main() {}
