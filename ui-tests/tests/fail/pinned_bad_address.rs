use network_sandbox::network_sandbox;

#[network_sandbox(allow = "api.example.com=192.0.2.300:443")]
fn main() {}
