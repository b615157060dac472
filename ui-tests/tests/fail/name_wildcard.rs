use network_sandbox::network_sandbox;

#[network_sandbox(allow = "*.example.com:443")]
fn main() {}
