use network_sandbox::network_sandbox;

#[network_sandbox(allow = "unix:/run/app.sock:80")]
fn main() {}
