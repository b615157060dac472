use network_sandbox::network_sandbox;

#[network_sandbox(
    allow = "127.0.0.2:443",
    keep_capabilities = ["CAP_SYS_NICE", "CAP_SYS_PTRACE"],
)]
fn main() {}
