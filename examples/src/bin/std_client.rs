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

use std::io::{Read, Write};
use std::net::TcpStream;

use network_sandbox::network_sandbox;

#[network_sandbox(allow = "127.0.0.2:28081")]
fn main() {
    let allowed = get("127.0.0.2:28081");
    let forbidden = get("127.0.0.3:28081");
    let as_policy_says = allowed.is_ok() && is_sandbox_refusal(&forbidden);
    std::process::exit(if as_policy_says { 0 } else { 1 });
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

/// The sandbox refuses a connect with EACCES.
fn is_sandbox_refusal(r: &std::io::Result<String>) -> bool {
    matches!(r, Err(e) if e.raw_os_error() == Some(libc::EACCES))
}
