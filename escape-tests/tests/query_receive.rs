//! Query sockets receive nothing, and no socket picks its port (issue 12's query sockets,
//! red team): `shutdown` does not stop UDP delivery, so a query socket with a port would
//! be a one-way channel from any outside process into a program under a policy that allows
//! no UDP. Each attempt has its control: the same run without the sandbox, where a datagram
//! from outside (this test, unsandboxed) arrives.
//!
//! - a query socket's `bind` is refused (`EACCES`, with the supervisor's line), port 0
//!   included, over IPv4 and IPv6;
//! - a query socket that got a port from the kernel anyway (a send autobinds it before it
//!   fails) receives nothing: the supervisor's socket filter drops every datagram;
//! - a UDP `connect` to the address and port of a TCP endpoint is refused (the socket gets
//!   no peer and no port from it), and nothing is sent;
//! - `IP_LOCAL_PORT_RANGE` (`SOL_IP` 51), with which `bind` to port 0 lands on a port of the
//!   program's choice, is refused by the static filter, for IPv4 and IPv6 sockets.
//!
//! Under a TCP-only policy and under one without any endpoint; as root and as uid 65534.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use network_sandbox_escape_tests::*;

/// A TCP-only policy.
const POLICY: [&str; 1] = ["127.0.0.2:443"];

/// The policies with query sockets: TCP-only, and without any endpoint.
const POLICIES: [&[&str]; 2] = [&POLICY, &[]];

/// What the probe receives when the datagram from outside arrives: its 12 bytes.
const RECEIVED: &str = "ok got=12";

/// The refusal's own words (`core/src/supervisor/query.rs`).
const WHY: &str = "a UDP socket under this policy only serves interface requests (a query \
                   socket): it may not bind";

/// Whether `[::1]` works here; a skip is reported when it does not.
fn ipv6() -> bool {
    match UdpSocket::bind("[::1]:0") {
        Ok(_) => true,
        Err(e) => {
            skipped(&format!("no [::1] here ({e}): IPv6 part left out"), None);
            false
        }
    }
}

/// Runs `query-recv ADDR HOW` under `probe`. When the probe prints the port its socket
/// got, this (unsandboxed) test sends a 12-byte datagram there from a socket of its own on
/// loopback, then tells the probe to look. Returns what the probe reported.
fn recv_run(probe: &Probe, addr: &str, how: &str) -> Outcome {
    let a: SocketAddr = addr.parse().unwrap();
    let loopback = if a.is_ipv4() {
        "127.0.0.1:0"
    } else {
        "[::1]:0"
    };
    let outside = UdpSocket::bind(loopback).unwrap();
    let mut cmd = probe.command_for("query-recv", &[addr, how]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn probe");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut results = Vec::new();
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap_or(0) > 0 {
        if let Some(port) = line.trim().strip_prefix("PORT ") {
            let port: u16 = port.parse().expect("a port");
            let mut to = outside.local_addr().unwrap();
            to.set_port(port);
            outside.send_to(b"from outside", to).unwrap();
            let _ = writeln!(stdin);
        } else if let Some(r) = line.trim().strip_prefix("RESULT ") {
            results.push(r.to_owned());
        }
        line.clear();
    }
    drop(stdin);
    let mut stderr = String::new();
    let _ = child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr);
    let status = child.wait().expect("wait for probe");
    Outcome {
        results,
        code: status.code(),
        signal: status.signal(),
        stderr,
        args: vec![addr.to_owned(), how.to_owned()],
    }
}

#[test]
fn a_query_socket_may_not_bind() {
    let mut addrs = vec!["127.0.0.1:0", "0.0.0.0:0"];
    if ipv6() {
        addrs.push("[::1]:0");
    }
    for user in USERS {
        for addr in &addrs {
            let c = recv_run(&Probe::unsandboxed().user(user), addr, "bind");
            assert_eq!(
                c.result(),
                RECEIVED,
                "control {addr} as {user:?}: a bound UDP socket receives: {c:?}"
            );
            for policy in POLICIES {
                let o = recv_run(&Probe::sandboxed(policy).user(user), addr, "bind");
                assert!(o.err("EACCES"), "{addr} {policy:?} as {user:?}: {o:?}");
                assert!(
                    supervisor_refused(&o.stderr, "bind", Some(addr)),
                    "no bind line as {user:?}: {o:?}"
                );
                let line = o
                    .stderr
                    .lines()
                    .find(|l| l.contains(WHY))
                    .unwrap_or_else(|| panic!("no query socket line as {user:?}: {o:?}"));
                assert!(line.ends_with("to allow it, add udp://HOST:PORT"), "{line}");
            }
        }
    }
}

/// A fixed port is refused with the same line (the query socket's rule comes first).
#[test]
fn a_query_socket_may_not_bind_a_fixed_port_either() {
    let free = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap().to_string();
    drop(free);
    for user in USERS {
        for policy in POLICIES {
            let o = Probe::sandboxed(policy)
                .user(user)
                .run("bind-udp", &[&addr]);
            assert!(o.err("EACCES"), "{policy:?} as {user:?}: {o:?}");
            assert!(
                supervisor_refused(&o.stderr, "bind", Some(&addr)),
                "{policy:?} as {user:?}: {o:?}"
            );
            assert!(o.stderr.contains(WHY), "{o:?}");
        }
    }
}

/// A send gives an unbound UDP socket an ephemeral port before it fails: without the
/// sandbox the datagram from outside then arrives; on a query socket it does not.
#[test]
fn a_query_socket_receives_nothing_on_the_port_a_send_gave_it() {
    let mut addrs = vec!["0.0.0.0:0"];
    if ipv6() {
        addrs.push("[::]:0");
    }
    for user in USERS {
        for addr in &addrs {
            let c = recv_run(&Probe::unsandboxed().user(user), addr, "send");
            assert_eq!(c.result(), RECEIVED, "control {addr} as {user:?}: {c:?}");
            for policy in POLICIES {
                let o = recv_run(&Probe::sandboxed(policy).user(user), addr, "send");
                assert!(
                    o.err("EAGAIN"),
                    "{addr} {policy:?} as {user:?}: nothing may arrive: {o:?}"
                );
            }
        }
    }
}

/// A UDP connect to the address and port of a TCP endpoint: the policy allows no UDP, so
/// the connect is refused with its line (the socket gets no peer), and nothing arrives.
#[test]
fn a_udp_connect_to_a_tcp_endpoint_is_refused() {
    let r = Recorder::start("127.0.0.3:0".parse().unwrap()).unwrap();
    let endpoint = r.arg();
    for user in USERS {
        r.settle();
        let before = r.datagrams();
        let c = Probe::unsandboxed()
            .user(user)
            .run("udp-connect", &[&endpoint]);
        assert!(c.ok(), "control as {user:?}: {c:?}");
        r.settle();
        assert_eq!(r.datagrams(), before + 1, "control as {user:?}");
        let o = Probe::sandboxed(&[endpoint.as_str()])
            .user(user)
            .run("udp-connect", &[&endpoint]);
        o.assert_refused_by_supervisor("EACCES", "connect", &endpoint);
        assert!(
            o.stderr
                .contains(&format!("to allow it, add udp://{endpoint}")),
            "{o:?}"
        );
        r.settle();
        assert_eq!(r.datagrams(), before + 1, "as {user:?}: {o:?}");
    }
}

/// A loopback port nobody holds now (bound, read, released).
fn free_port(addr: &str) -> u16 {
    TcpListener::bind(addr)
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn ip_local_port_range_is_refused() {
    let mut cases = vec![("127.0.0.1:0", "tcp"), ("127.0.0.1:0", "udp")];
    if ipv6() {
        cases.push(("[::1]:0", "tcp"));
    }
    for user in USERS {
        for (addr, proto) in &cases {
            let port = free_port(addr);
            let arg = port.to_string();
            let c = Probe::unsandboxed()
                .user(user)
                .run("port-range", &[addr, &arg, proto]);
            assert_eq!(
                c.result(),
                format!("ok port={port}"),
                "control {addr} {proto} as {user:?}: bind to port 0 gets the chosen port"
            );
            // A UDP policy for the UDP socket, which is otherwise a query socket.
            let udp = ["udp://127.0.0.2:53"];
            let policies: Vec<&[&str]> = match *proto {
                "udp" => vec![&udp],
                _ => POLICIES.to_vec(),
            };
            for policy in policies {
                let o = Probe::sandboxed(policy)
                    .user(user)
                    .run("port-range", &[addr, &arg, proto]);
                o.assert_refused_by_static_filter("EACCES", "setsockopt");
            }
        }
    }
}
