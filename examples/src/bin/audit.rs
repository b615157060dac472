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

use std::io::{Read, Write};
use std::net::TcpStream;

use network_sandbox::network_sandbox;

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

/// `GET /` over plain HTTP/1.1; returns the body.
fn fetch(addr: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned())
}

/// [`fetch`], printing what happened.
fn get(addr: &str) -> std::io::Result<String> {
    let result = fetch(addr);
    match &result {
        Ok(body) => println!("GET http://{addr}/ -> {body:?}"),
        Err(e) => {
            println!("GET http://{addr}/ -> error: {e}");
            if e.kind() == std::io::ErrorKind::ConnectionRefused {
                println!("  (nothing listens there: start `cargo run -p network-sandbox-examples --bin serve`)");
            }
        }
    }
    result
}
