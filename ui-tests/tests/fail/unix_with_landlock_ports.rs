use network_sandbox::network_sandbox;

#[network_sandbox(allow = "unix:/run/app.sock", fallback = "landlock-ports")]
fn main() {}
