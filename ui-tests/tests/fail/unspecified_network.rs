use network_sandbox::network_sandbox;

#[network_sandbox(allow = "udp://0.0.0.0/8:47001")]
fn main() {}
