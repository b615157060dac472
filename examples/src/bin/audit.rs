//! Audit mode: `audit = true` reports connections outside the policy but lets them through.
//!
//! Shows: how to learn what a program needs before enforcing. Both requests succeed; the
//! one outside the policy is reported on stderr as
//! `network-sandbox: audit: would deny connect to 127.0.0.3:28120 (tcp) by pid … : not in
//! the allow list`. Everything the static filter decides (socket kinds, io_uring, bind,
//! TCP Fast Open, …) is still enforced in audit mode; only destinations are audited.
//!
//! Run it against the example servers (loopback only), in two terminals:
//!
//! ```text
//! cargo run -p network-sandbox-examples --bin serve
//! cargo run -p network-sandbox-examples --bin audit
//! ```

use network_sandbox::network_sandbox;
use network_sandbox_examples::client::get;

#[network_sandbox(allow = "127.0.0.2:28120", audit = true)]
fn main() {
    let allowed = get("127.0.0.2:28120");
    let audited = get("127.0.0.3:28120");
    std::process::exit(if allowed.is_ok() && audited.is_ok() {
        0
    } else {
        1
    });
}
