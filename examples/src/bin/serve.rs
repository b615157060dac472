//! The loopback servers the examples talk to, for running them by hand.
//!
//! ```text
//! cargo run -p network-sandbox-examples --bin serve
//! ```
//!
//! Starts a plain HTTP server on every address in
//! `network_sandbox_examples::EXAMPLE_SERVERS` (127.0.0.2–127.0.0.4 and `[::1]`, ports
//! 28081–28140), each answering `hello from ADDRESS`, and runs until interrupted. Not
//! sandboxed: a sandboxed process cannot listen. The HTTPS demo starts its own servers.

use std::net::SocketAddr;

use network_sandbox_examples::{Server, EXAMPLE_SERVERS};

fn main() {
    let mut servers = Vec::new();
    for (example, addrs) in EXAMPLE_SERVERS {
        for (addr, role) in *addrs {
            let addr: SocketAddr = addr.parse().expect("a socket address");
            match Server::http(addr) {
                Ok(s) => {
                    println!("{example:>12}: http://{addr}/ ({role})");
                    servers.push(s);
                }
                Err(e) => eprintln!("{example:>12}: cannot listen on {addr}: {e}"),
            }
        }
    }
    println!("Serving; run the examples in another terminal. Ctrl-C stops.");
    loop {
        std::thread::park();
    }
}
