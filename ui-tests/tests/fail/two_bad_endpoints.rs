use network_sandbox::network_sandbox;

#[network_sandbox(allow = ["192.0.2.1:0", "192.0.2.2:443", "exa_mple.com:80"])]
fn main() {}
