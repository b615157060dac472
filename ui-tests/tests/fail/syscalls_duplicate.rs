use network_sandbox::network_sandbox;

#[network_sandbox(allow = [], syscalls = ["@system-service", "@system-service"])]
fn main() {}
