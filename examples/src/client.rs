//! The plain HTTP/1.1 client the std examples share: one `GET /`, printed, and how to tell
//! the sandbox's refusal from any other failure.

use std::io::{self, Read, Write};
use std::net::TcpStream;

/// `GET /` over plain HTTP/1.1; returns the body.
pub fn fetch(addr: &str) -> io::Result<String> {
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
pub fn get(addr: &str) -> io::Result<String> {
    let result = fetch(addr);
    match &result {
        Ok(body) => println!("GET http://{addr}/ -> {body:?}"),
        Err(e) => {
            println!("GET http://{addr}/ -> error: {e}");
            if e.kind() == io::ErrorKind::ConnectionRefused {
                println!(
                    "  (nothing listens there: start `cargo run -p network-sandbox-examples --bin serve`)"
                );
            }
        }
    }
    result
}

/// Whether `r` is the sandbox's refusal: a connect that failed with `EACCES`.
pub fn refused_by_sandbox<T>(r: &io::Result<T>) -> bool {
    matches!(r, Err(e) if e.raw_os_error() == Some(libc::EACCES))
}
