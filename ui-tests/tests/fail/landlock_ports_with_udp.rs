use network_sandbox::network_sandbox;

#[network_sandbox(allow = ["192.0.2.1:443", "udp://192.0.2.53:53"], fallback = "landlock-ports")]
fn main() {}
