use network_sandbox::network_sandbox;

#[network_sandbox(allow = [], syscalls = ["@system-service", "open"])]
fn main() {}
