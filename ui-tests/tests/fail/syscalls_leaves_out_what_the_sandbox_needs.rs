use network_sandbox::network_sandbox;

#[network_sandbox(allow = [], syscalls = ["@network-io", "@default"])]
fn main() {}
