use network_sandbox::network_sandbox;

#[network_sandbox(
    allow = ["127.0.0.2:443"],
    syscalls = ["@system-service", "getrandom"],
    deny_syscalls = ["@sync"],
    syscall_refusal = "ENOSYS"
)]
fn main() {}
