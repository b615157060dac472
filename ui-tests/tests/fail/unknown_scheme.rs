use network_sandbox::network_sandbox;

#[network_sandbox(allow = "http://192.0.2.1:80")]
fn main() {}
