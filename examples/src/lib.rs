//! Helpers for the network-sandbox examples: loopback HTTP and HTTPS servers that count
//! the connections they accept, the demo's throw-away certificate authority, and the fixed
//! addresses every example uses.
//!
//! The examples themselves (`src/bin/*.rs`) are the clients; the plain-HTTP ones share the
//! few lines of [`client`], so that each example shows only its policy and what it tries.
//! The demo launcher, the `serve` binary and the tests use the servers. Nothing here is
//! sandboxed: a sandboxed process cannot serve without a `listen` entry.

#![deny(missing_docs)]

pub mod client;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// The address the policies of the examples allow: 127.0.0.2.
pub const ALLOWED_HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// An address no example's policy allows: 127.0.0.3. Linux answers on all of 127.0.0.0/8.
pub const FORBIDDEN_HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
/// IPv6 loopback, for the `ipv6` example.
pub const IPV6_HOST: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

/// The demo's port, on both hosts. It is a literal in `demo-client`'s attribute, since the
/// policy is compiled with the program. Below the kernel's ephemeral range (32768–60999), so
/// no outgoing connection on this machine is using it.
pub const DEMO_PORT: u16 = 28443;

/// The name the demo's policy pins to [`ALLOWED_HOST`]; the server certificate names it.
pub const ALLOWED_NAME: &str = "allowed.demo";

/// A name the forbidden server's certificate also carries, which the policy does not allow.
pub const FORBIDDEN_NAME: &str = "forbidden.demo";

/// The loopback servers each example talks to: `(example, [(address, role)])`. The ports
/// are the literals in the examples' policies (and in `network-policy.toml`).
pub const EXAMPLE_SERVERS: &[(&str, &[(&str, &str)])] = &[
    (
        "std_client",
        &[
            ("127.0.0.2:28081", "allowed"),
            ("127.0.0.3:28081", "forbidden"),
        ],
    ),
    (
        "tokio_client",
        &[
            ("127.0.0.2:28082", "allowed"),
            ("127.0.0.3:28082", "forbidden"),
        ],
    ),
    (
        "from_build",
        &[
            ("127.0.0.2:28083", "allowed"),
            ("127.0.0.3:28083", "forbidden"),
        ],
    ),
    (
        "ipv6",
        &[
            ("[::1]:28084", "allowed"),
            ("[::1]:28085", "forbidden"),
            ("127.0.0.3:28084", "forbidden"),
        ],
    ),
    (
        "cidr_range",
        &[
            ("127.0.0.2:28100", "allowed"),
            ("127.0.0.3:28109", "allowed"),
            ("127.0.0.4:28100", "forbidden"),
            ("127.0.0.2:28110", "forbidden"),
        ],
    ),
    (
        "audit",
        &[
            ("127.0.0.2:28120", "allowed"),
            ("127.0.0.3:28120", "audited"),
        ],
    ),
    (
        "spawn_curl",
        &[
            ("127.0.0.2:28130", "allowed"),
            ("127.0.0.3:28130", "forbidden"),
        ],
    ),
    (
        "syscall_profile",
        &[
            ("127.0.0.2:28140", "allowed"),
            ("127.0.0.3:28140", "forbidden"),
        ],
    ),
];

/// The body every server answers with: `hello from ADDRESS\n`.
pub fn body_for(addr: SocketAddr) -> String {
    format!("hello from {addr}\n")
}

/// A loopback HTTP/1.1 server, plain or over TLS, that answers every `GET` with
/// [`body_for`] its address and counts what it does. Runs on its own threads; stopped and
/// joined when dropped.
pub struct Server {
    addr: SocketAddr,
    counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Counts {
    accepted: AtomicUsize,
    served: AtomicUsize,
}

impl Server {
    /// A plain HTTP server on `addr`.
    pub fn http(addr: SocketAddr) -> io::Result<Server> {
        Server::start(addr, None)
    }

    /// An HTTPS server on `addr` with `config` (see [`DemoCa::server_config`]).
    pub fn https(addr: SocketAddr, config: Arc<rustls::ServerConfig>) -> io::Result<Server> {
        Server::start(addr, Some(config))
    }

    fn start(addr: SocketAddr, tls: Option<Arc<rustls::ServerConfig>>) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let counts = Arc::new(Counts::default());
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (counts, stop) = (counts.clone(), stop.clone());
            thread::spawn(move || accept_loop(listener, addr, tls, &counts, &stop))
        };
        Ok(Server {
            addr,
            counts,
            stop,
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many connections it has accepted.
    pub fn accepted(&self) -> usize {
        self.counts.accepted.load(Ordering::SeqCst)
    }

    /// How many responses it has sent in full.
    pub fn served(&self) -> usize {
        self.counts.served.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    addr: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    counts: &Arc<Counts>,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                counts.accepted.fetch_add(1, Ordering::SeqCst);
                let (tls, counts) = (tls.clone(), counts.clone());
                thread::spawn(move || {
                    if serve_one(stream, addr, tls).is_ok() {
                        counts.served.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5))
            }
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn serve_one(
    stream: TcpStream,
    addr: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    match tls {
        None => answer(stream, addr),
        Some(config) => {
            let conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
            let mut tls = rustls::StreamOwned::new(conn, stream);
            answer(&mut tls, addr)?;
            tls.conn.send_close_notify();
            tls.flush()
        }
    }
}

/// Reads the request head, answers `200 OK` with the body, and closes.
fn answer(mut stream: impl Read + Write, addr: SocketAddr) -> io::Result<()> {
    let mut reader = BufReader::new(&mut stream);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    drop(reader);
    let body = body_for(addr);
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// A certificate authority made for one run of the demo, and a server certificate it
/// signed for 127.0.0.2 and 127.0.0.3 (IP address subject alternative names).
pub struct DemoCa {
    /// The CA certificate, PEM: what the client trusts.
    pub ca_pem: String,
    /// The server's configuration: its certificate and key, the `ring` provider.
    pub server_config: Arc<rustls::ServerConfig>,
}

impl DemoCa {
    /// Generates the CA and the server certificate.
    pub fn generate() -> Result<DemoCa, Box<dyn std::error::Error>> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
            KeyUsagePurpose, SanType,
        };
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "network-sandbox demo CA (throw-away)");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate()?;
        let ca_cert = ca.self_signed(&ca_key)?;

        let mut leaf = CertificateParams::new(Vec::<String>::new())?;
        leaf.distinguished_name
            .push(DnType::CommonName, "network-sandbox demo server");
        leaf.subject_alt_names = vec![
            SanType::IpAddress(ALLOWED_HOST),
            SanType::IpAddress(FORBIDDEN_HOST),
            SanType::DnsName(ALLOWED_NAME.try_into()?),
            SanType::DnsName(FORBIDDEN_NAME.try_into()?),
        ];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf_key = KeyPair::generate()?;
        let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key)?;

        let key = rustls::pki_types::PrivatePkcs8KeyDer::from(leaf_key.serialize_der()).into();
        let server_config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![leaf_cert.der().clone()], key)?;
        Ok(DemoCa {
            ca_pem: ca_cert.pem(),
            server_config: Arc::new(server_config),
        })
    }
}

/// `GET /` over plain HTTP without any sandbox: the control the tests use to show that a
/// forbidden server is reachable when the sandbox is not in the way. Returns the body.
pub fn unsandboxed_get(addr: SocketAddr) -> io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    s.read_to_string(&mut response)?;
    match response.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => Ok(body.to_owned()),
        _ => Err(io::Error::other(format!(
            "unexpected response: {response:?}"
        ))),
    }
}
