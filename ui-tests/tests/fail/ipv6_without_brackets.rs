use network_sandbox::network_sandbox;

#[network_sandbox(allow = "2001:db8::1:443")]
fn main() {}
