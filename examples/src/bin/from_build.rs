//! The policy in a file, compiled by `build.rs`: `#[network_sandbox(from_build)]`.
//!
//! Shows: `examples/network-policy.toml` holds the policy (allow = ["127.0.0.2:28083"]);
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

use std::io::{Read, Write};
use std::net::TcpStream;

use network_sandbox::network_sandbox;

#[network_sandbox(from_build)]
fn main() {
    let allowed = get("127.0.0.2:28083");
    let forbidden = get("127.0.0.3:28083");
    let refused = matches!(&forbidden, Err(e) if e.raw_os_error() == Some(libc::EACCES));
    std::process::exit(if allowed.is_ok() && refused { 0 } else { 1 });
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
