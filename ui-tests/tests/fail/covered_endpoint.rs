use network_sandbox::network_sandbox;

#[network_sandbox(allow = ["10.0.0.0/8:443", "10.1.2.3:443"])]
fn main() {}
