//! An IPv6 endpoint: `allow = "[::1]:28084"`.
//!
//! Shows: IPv6 addresses go in brackets, like in a URL. The policy names one address and
//! one port: another port on `[::1]` is refused, and so is IPv4 (the supervisor compares the
//! exact address; an IPv4-mapped IPv6 address counts as the IPv4 address it maps).
//!
//! Run it against the example servers (loopback only), in two terminals:
//!
//! ```text
//! cargo run -p network-sandbox-examples --bin serve
//! cargo run -p network-sandbox-examples --bin ipv6
//! ```

use network_sandbox::network_sandbox;
use network_sandbox_examples::client::{get, refused_by_sandbox};

#[network_sandbox(allow = "[::1]:28084")]
fn main() {
    let allowed = get("[::1]:28084");
    let other_port = get("[::1]:28085");
    let ipv4 = get("127.0.0.3:28084");
    let refused = refused_by_sandbox::<String>;
    let as_policy_says = allowed.is_ok() && refused(&other_port) && refused(&ipv4);
    std::process::exit(if as_policy_says { 0 } else { 1 });
}
