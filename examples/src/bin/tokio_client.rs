//! An async program: `#[network_sandbox]` stacked over `#[tokio::main]`.
//!
//! Shows: the sandbox is installed first, then the runtime starts its worker threads, so
//! every worker is sandboxed from its first instruction (the other order,
//! `#[tokio::main] #[network_sandbox(…)]`, works too). `tokio::net::TcpStream::connect` to
//! an address outside the policy fails with `EACCES` like the blocking one.
//!
//! Run it against the example servers (loopback only), in two terminals:
//!
//! ```text
//! cargo run -p network-sandbox-examples --bin serve
//! cargo run -p network-sandbox-examples --bin tokio_client
//! ```

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use network_sandbox::network_sandbox;

#[network_sandbox(allow = "127.0.0.2:28082")]
#[tokio::main]
async fn main() {
    // Both requests run at once, on the runtime's worker threads.
    let (allowed, forbidden) = tokio::join!(
        tokio::spawn(get("127.0.0.2:28082")),
        tokio::spawn(get("127.0.0.3:28082")),
    );
    let allowed = allowed.expect("task");
    let forbidden = forbidden.expect("task");
    let refused = matches!(&forbidden, Err(e) if e.raw_os_error() == Some(libc::EACCES));
    std::process::exit(if allowed.is_ok() && refused { 0 } else { 1 });
}

/// `GET /` over plain HTTP/1.1, written by hand; returns the body.
async fn fetch(addr: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    Ok(response
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned())
}

/// [`fetch`], printing what happened.
async fn get(addr: &'static str) -> std::io::Result<String> {
    let result = fetch(addr).await;
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
