//! The sandboxed half of the HTTPS demo: a client whose policy allows the name
//! `allowed.demo`, pinned to 127.0.0.2, on port 28443, and nothing else. Run it through the launcher, which starts the two servers and hands over
//! the certificate authority to trust:
//!
//! ```text
//! cargo run --release -p network-sandbox-examples --bin demo
//! ```
//!
//! It fetches `https://allowed.demo:28443/` by name (rustls verifies the certificate for
//! that name; the name resolves from the sandbox's hosts file, no DNS), then
//! `https://forbidden.demo:28443/` (a name the forbidden server's certificate carries, but
//! not in the policy: the program's resolver does not know it) and
//! `https://127.0.0.3:28443/` (the forbidden server by address: refused with EACCES), with a
//! small HTTP/1.1 client written over `rustls::StreamOwned`, and says what happened to each. Exit status: 0 when both went as
//! the policy says, 1 otherwise, 2 on bad usage, 125 when the sandbox cannot be installed.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use network_sandbox::network_sandbox;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

const ALLOWED: &str = "allowed.demo:28443";
const FORBIDDEN_NAME: &str = "forbidden.demo:28443";
const FORBIDDEN: &str = "127.0.0.3:28443";

// Everything in main, and in every thread and child process it starts, runs under this
// policy: the attribute installs it before the first line of the body. The name is pinned
// to its address, so nobody is asked about it.
#[network_sandbox(allow = "allowed.demo=127.0.0.2:28443")]
fn main() {
    let Some(ca_file) = std::env::args_os().nth(1) else {
        eprintln!(
            "usage: demo-client CA_FILE\n\
             It is started by the demo launcher: \
             cargo run --release -p network-sandbox-examples --bin demo"
        );
        std::process::exit(2);
    };
    let config = match client_config(ca_file.as_ref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("demo-client: cannot load the CA from {ca_file:?}: {e}");
            std::process::exit(2);
        }
    };

    println!();
    println!("[1/3] GET https://{ALLOWED}/   (in the policy, by name)");
    let allowed_ok = match fetch(ALLOWED, &config) {
        Ok(body) => {
            println!("      body: {:?}", body);
            println!("      => got through, as the policy says");
            body.trim_end() == "hello from 127.0.0.2:28443"
        }
        Err(e) => {
            println!("      => FAILED, but the policy allows it: {e}");
            false
        }
    };

    println!();
    println!("[2/3] GET https://{FORBIDDEN_NAME}/   (a name not in the policy)");
    let name_refused = match fetch(FORBIDDEN_NAME, &config) {
        Ok(body) => {
            println!("      body: {body:?}");
            println!("      => GOT THROUGH, but the policy does not allow it");
            false
        }
        Err(Failure::Lookup(e)) => {
            println!("      lookup: failed, \"{e}\"");
            println!("      => unknown to the program: its resolver reads the sandbox's hosts");
            println!("         file, which holds only the allowed names; no DNS query was sent");
            true
        }
        Err(e) => {
            println!("      => failed, but not at the lookup: {e}");
            false
        }
    };

    println!();
    println!("[3/3] GET https://{FORBIDDEN}/   (not in the policy: same port, other host)");
    let forbidden_refused = match fetch(FORBIDDEN, &config) {
        Ok(body) => {
            println!("      body: {body:?}");
            println!("      => GOT THROUGH, but the policy does not allow it");
            false
        }
        Err(Failure::Connect(e)) if e.raw_os_error() == Some(libc::EACCES) => {
            println!("      connect: failed with EACCES, \"{e}\"");
            println!("      => refused by the sandbox: the supervisor read the address, found it");
            println!("         outside the policy, reported it on stderr (the \"network-sandbox:");
            println!("         denied\" line above) and answered EACCES; the connection was");
            println!("         never made");
            true
        }
        Err(e) => {
            println!("      => failed, but not with the sandbox's EACCES: {e}");
            false
        }
    };
    println!();
    std::process::exit(if allowed_ok && name_refused && forbidden_refused {
        0
    } else {
        1
    });
}

/// Trusts exactly the certificates in the PEM file (the demo's CA); TLS from rustls with
/// the `ring` provider.
fn client_config(ca_file: &std::path::Path) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file).map_err(|e| e.to_string())? {
        roots
            .add(cert.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Where a fetch failed.
enum Failure {
    /// The name did not resolve.
    Lookup(io::Error),
    /// `connect()` itself: this is where the sandbox answers.
    Connect(io::Error),
    /// The TLS handshake, the request or the response.
    Exchange(io::Error),
    /// A response that is not `200 OK` with a body.
    Http(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Lookup(e) => write!(f, "lookup failed: {e}"),
            Failure::Connect(e) => write!(f, "connect failed: {e}"),
            Failure::Exchange(e) => write!(f, "TLS or HTTP exchange failed: {e}"),
            Failure::Http(m) => write!(f, "bad response: {m}"),
        }
    }
}

/// `GET /` over HTTPS to `target` (`HOST:PORT`, HOST a name or an address): lookup, TCP
/// connect, TLS handshake (the certificate must name HOST), one HTTP/1.1 request with
/// `Connection: close`, the response read to the end. Returns the body.
fn fetch(target: &str, config: &Arc<rustls::ClientConfig>) -> Result<String, Failure> {
    let (host, _) = target.rsplit_once(':').expect("HOST:PORT");
    // getaddrinfo: in the sandbox it reads the hosts file the sandbox gave it.
    let addr: SocketAddr = target
        .to_socket_addrs()
        .map_err(Failure::Lookup)?
        .next()
        .ok_or_else(|| Failure::Lookup(io::Error::other("no address")))?;
    // The sandbox acts here: connect() goes to the supervisor, which checks the address
    // against the policy and connects (or answers EACCES).
    let tcp = TcpStream::connect(addr).map_err(Failure::Connect)?;
    println!("      connect: ok");
    let timeout = Some(Duration::from_secs(10));
    tcp.set_read_timeout(timeout).map_err(Failure::Exchange)?;
    tcp.set_write_timeout(timeout).map_err(Failure::Exchange)?;

    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| Failure::Exchange(io::Error::other(e)))?;
    let conn = rustls::ClientConnection::new(config.clone(), name)
        .map_err(|e| Failure::Exchange(io::Error::other(e)))?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    // The first write runs the handshake.
    let request = format!("GET / HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes())
        .map_err(Failure::Exchange)?;
    tls.flush().map_err(Failure::Exchange)?;
    println!(
        "      TLS: {:?}, {:?}; certificate for {} ({}) verified against the demo CA",
        tls.conn.protocol_version().expect("handshake done"),
        tls.conn
            .negotiated_cipher_suite()
            .expect("handshake done")
            .suite(),
        host,
        addr.ip()
    );
    let mut response = Vec::new();
    tls.read_to_end(&mut response).map_err(Failure::Exchange)?;
    let response = String::from_utf8_lossy(&response);
    let Some((head, body)) = response.split_once("\r\n\r\n") else {
        return Err(Failure::Http(format!("no end of headers in {response:?}")));
    };
    let status = head.lines().next().unwrap_or_default();
    println!("      response: {status}");
    if !status.starts_with("HTTP/1.1 200 ") {
        return Err(Failure::Http(status.to_owned()));
    }
    Ok(body.to_owned())
}
