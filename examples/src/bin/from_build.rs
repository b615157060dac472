//! The policy in a file, compiled by `build.rs`: `#[network_sandbox(from_build)]`.
//!
//! Shows: `examples/network-policy.toml` holds the policy
//! (allow = ["files.example=127.0.0.2:28083"]: a name pinned to the server's address);
//! `examples/build.rs` calls `network_sandbox_build::compile_file("network-policy.toml")`,
//! which checks it when the package is built (an error fails the build with
//! `path:line:col`) and writes the compiled program to `$OUT_DIR`; the attribute includes
//! it. Good for a policy kept apart from the code, or generated.
//!
//! Run it against the example servers (loopback only), in two terminals:
//!
//! ```text
//! cargo run -p network-sandbox-examples --bin serve
//! cargo run -p network-sandbox-examples --bin from_build
//! ```

use network_sandbox::network_sandbox;
use network_sandbox_examples::client::{get, refused_by_sandbox};

#[network_sandbox(from_build)]
fn main() {
    // By name: the sandbox's hosts file answers it.
    let allowed = get("files.example:28083");
    let forbidden = get("127.0.0.3:28083");
    let refused = refused_by_sandbox(&forbidden);
    std::process::exit(if allowed.is_ok() && refused { 0 } else { 1 });
}
