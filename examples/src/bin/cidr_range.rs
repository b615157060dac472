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

use std::io::{Read, Write};
use std::net::TcpStream;

use network_sandbox::network_sandbox;

#[network_sandbox(allow = "127.0.0.2/31:28100-28109")]
fn main() {
    let in_policy = [get("127.0.0.2:28100"), get("127.0.0.3:28109")];
    let outside = [
        get("127.0.0.4:28100"), // host outside the network
        get("127.0.0.2:28110"), // port outside the range
    ];
    let refused =
        |r: &std::io::Result<String>| matches!(r, Err(e) if e.raw_os_error() == Some(libc::EACCES));
    let as_policy_says = in_policy.iter().all(|r| r.is_ok()) && outside.iter().all(refused);
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
