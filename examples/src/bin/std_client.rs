//! A plain std program under a policy: `std::net::TcpStream`, nothing else.
//!
//! Shows: the attribute on `fn main`; an allowed connect works as usual; a connect anywhere
//! else fails with `EACCES` ("Permission denied"), and the supervisor prints one line on
//! stderr saying what was denied and why.
//!
//! Run it against the example servers (loopback only), in two terminals:
//!
//! ```text
//! cargo run -p network-sandbox-examples --bin serve
//! cargo run -p network-sandbox-examples --bin std_client
//! ```
//!
//! `examples/tests/run_examples.rs` does the same and checks the result.

use network_sandbox::network_sandbox;
use network_sandbox_examples::client::{get, refused_by_sandbox};

#[network_sandbox(allow = "127.0.0.2:28081")]
fn main() {
    let allowed = get("127.0.0.2:28081");
    let forbidden = get("127.0.0.3:28081");
    let as_policy_says = allowed.is_ok() && refused_by_sandbox(&forbidden);
    std::process::exit(if as_policy_says { 0 } else { 1 });
}
