use network_sandbox::network_sandbox;

#[network_sandbox(allow = "api..example.com:443")]
fn main() {}
