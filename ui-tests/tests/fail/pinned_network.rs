use network_sandbox::network_sandbox;

#[network_sandbox(allow = "api.example.com=10.0.0.0/8:443")]
fn main() {}
