use network_sandbox::network_sandbox;

#[network_sandbox(allow = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.example.com:443")]
fn main() {}
