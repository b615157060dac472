use network_sandbox::network_sandbox;

#[network_sandbox(allow = [], syscalls = ["@system-service"], syscall_refusal = "EACCES")]
fn main() {}
