use network_sandbox::network_sandbox;

#[network_sandbox(allow = [], syscalls = ["@sytem-service"])]
fn main() {}
