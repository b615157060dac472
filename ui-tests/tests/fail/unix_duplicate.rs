use network_sandbox::network_sandbox;

#[network_sandbox(allow = ["unix:@app", "unix:@app"])]
fn main() {}
