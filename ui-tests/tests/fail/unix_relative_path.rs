use network_sandbox::network_sandbox;

#[network_sandbox(allow = "unix:run/app.sock")]
fn main() {}
