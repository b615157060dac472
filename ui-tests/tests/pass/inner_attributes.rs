use network_sandbox::network_sandbox;

/// The entry point.
#[network_sandbox(allow = "127.0.0.2:443")]
#[allow(clippy::let_unit_value)]
fn main() {
    #![allow(unused_variables)]
    let unused = 1;
}
