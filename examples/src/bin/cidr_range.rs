//! A network and a port range in one endpoint: `allow = "127.0.0.2/31:28100-28109"`.
//!
//! Shows: `127.0.0.2/31` is the network 127.0.0.2–127.0.0.3 (host bits must be zero, or the
//! build fails), and `28100-28109` an inclusive port range. Landlock, the third layer, gets
//! one rule per port (up to 4096 ports; above that it leaves ports to the supervisor).
//!
//! Run it against the example servers (loopback only), in two terminals:
//!
//! ```text
//! cargo run -p network-sandbox-examples --bin serve
//! cargo run -p network-sandbox-examples --bin cidr_range
//! ```

use network_sandbox::network_sandbox;
use network_sandbox_examples::client::{get, refused_by_sandbox};

#[network_sandbox(allow = "127.0.0.2/31:28100-28109")]
fn main() {
    let in_policy = [get("127.0.0.2:28100"), get("127.0.0.3:28109")];
    let outside = [
        get("127.0.0.4:28100"), // host outside the network
        get("127.0.0.2:28110"), // port outside the range
    ];
    let refused = refused_by_sandbox::<String>;
    let as_policy_says = in_policy.iter().all(|r| r.is_ok()) && outside.iter().all(refused);
    std::process::exit(if as_policy_says { 0 } else { 1 });
}
