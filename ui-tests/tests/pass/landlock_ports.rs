use network_sandbox::network_sandbox;

#[network_sandbox(allow = "127.0.0.2:443", fallback = "landlock-ports", audit = false, report = "stderr")]
fn main() {}
