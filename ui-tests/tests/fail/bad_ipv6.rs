use network_sandbox::network_sandbox;

#[network_sandbox(allow = "[2001:db8::zz]:443")]
fn main() {}
