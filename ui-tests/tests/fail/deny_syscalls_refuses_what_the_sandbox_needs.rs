use network_sandbox::network_sandbox;

#[network_sandbox(allow = [], deny_syscalls = ["@swap", "write"])]
fn main() {}
