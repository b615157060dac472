use network_sandbox::network_sandbox;

#[network_sandbox(allow = "api_v2.example.com:443")]
fn main() {}
