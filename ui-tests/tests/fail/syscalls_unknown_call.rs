use network_sandbox::network_sandbox;

#[network_sandbox(allow = [], syscalls = ["@system-service", "getrandon"])]
fn main() {}
