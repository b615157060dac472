use network_sandbox::network_sandbox;

#[network_sandbox(allow = [], syscalls = 3)]
fn main() {}
