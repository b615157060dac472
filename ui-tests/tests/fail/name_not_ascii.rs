use network_sandbox::network_sandbox;

#[network_sandbox(allow = "bücher.example:443")]
fn main() {}
