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

use std::io::{Read, Write};
use std::net::TcpStream;

use network_sandbox::network_sandbox;

#[network_sandbox(allow = "[::1]:28084")]
fn main() {
    let allowed = get("[::1]:28084");
    let other_port = get("[::1]:28085");
    let ipv4 = get("127.0.0.3:28084");
    let refused =
        |r: &std::io::Result<String>| matches!(r, Err(e) if e.raw_os_error() == Some(libc::EACCES));
    let as_policy_says = allowed.is_ok() && refused(&other_port) && refused(&ipv4);
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
