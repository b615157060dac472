//! The sandbox's DNS answerer, through `network-sandbox run`: a program that asks DNS itself
//! (a raw query over UDP or TCP to the nameserver of `/etc/resolv.conf`, hickory-resolver)
//! gets the allowed names' addresses, NXDOMAIN for every other name, no records for other
//! types of an allowed name, and `localhost`; a refusal line names each other name; and
//! the test's own logging DNS server (`common::dns`, the machine's resolver for the command
//! under test only) never sees a query the program made. Each with an unsandboxed control
//! that does reach the server. Root, and uid 65534 where user namespaces can be made.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::dns::DnsServer;
use common::*;

/// Root, and nobody where unprivileged user namespaces can be made (names need one there).
fn users() -> Vec<User> {
    if !is_root() {
        eprintln!("skipped: the test's resolver namespace needs root");
        return vec![];
    }
    if std::fs::read_to_string("/proc/sys/user/max_user_namespaces").is_ok_and(|v| v.trim() == "0")
    {
        eprintln!("skipped as nobody: user.max_user_namespaces is 0");
        return vec![User::Root];
    }
    vec![User::Root, User::Nobody]
}

/// `network-sandbox run ARGS` with this server as the machine's resolver, as `user`.
fn run_with(dns: &DnsServer, user: User, args: &[&str]) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args);
    dns.resolver_for(&mut cmd, user);
    output(cmd)
}

/// For each `NAME:QTYPE:TRANSPORT` argument, one query to the first nameserver of
/// `/etc/resolv.conf`, printing `TRANSPORT NAME QTYPE from SERVER rcode R answers N last
/// HEX` (the last four bytes: an A record's address), or `… failed ERROR`.
const PY_QUERY: &str = r"import socket, struct, sys
server = [l.split()[1] for l in open('/etc/resolv.conf') if l.startswith('nameserver')][0]
def query(name, qtype):
    q = struct.pack('>HHHHHH', 0x1234, 0x0100, 1, 0, 0, 0)
    for label in name.split('.'):
        q += bytes([len(label)]) + label.encode()
    return q + b'\x00' + struct.pack('>HH', qtype, 1)
for arg in sys.argv[1:]:
    name, qtype, transport = arg.split(':')
    q = query(name, int(qtype))
    try:
        if transport == 'udp':
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(5)
            s.sendto(q, (server, 53))
            r, src = s.recvfrom(512)
        else:
            s = socket.create_connection((server, 53), timeout=5)
            s.sendall(struct.pack('>H', len(q)) + q)
            n = struct.unpack('>H', s.recv(2))[0]
            r = b''
            while len(r) < n:
                r += s.recv(n - len(r))
            src = s.getpeername()
        print(transport, name, qtype, 'from %s:%d' % src[:2], 'rcode', r[3] & 15,
              'answers', struct.unpack('>H', r[6:8])[0], 'last', r[-4:].hex())
    except OSError as e:
        print(transport, name, qtype, 'failed', e)
";

/// Raw queries over UDP and TCP to the nameserver the program finds in `resolv.conf`.
#[test]
fn raw_queries_to_the_configured_nameserver_get_the_sandboxs_answers_and_nothing_leaks() {
    let Some(py) = python() else { return };
    let py = py.to_str().unwrap().to_owned();
    for user in users() {
        let dns = DnsServer::start(&[("allowed.test", "127.0.0.2"), ("other.test", "127.0.0.3")]);
        // Control: the same script without the sandbox reaches the server.
        let mut control = Command::new(&py);
        control.args(["-c", PY_QUERY, "other.test:1:udp", "other.test:1:tcp"]);
        dns.resolver_for(&mut control, user);
        let out = output(control);
        let server = format!("from {}:53", dns.ip);
        assert_eq!(
            out.stdout
                .matches(&format!("{server} rcode 0 answers 1 last 7f000003"))
                .count(),
            2,
            "control: {out:?}"
        );
        assert_eq!(dns.names(), vec!["other.test", "other.test"], "control");
        for policy in [
            vec!["--allow", "allowed.test:80"],
            vec![
                "--allow",
                "allowed.test:80",
                "--allow",
                "udp://127.0.0.2:53",
            ],
        ] {
            dns.clear();
            let mut args = vec!["run"];
            args.extend(&policy);
            args.extend(["--", &py, "-c", PY_QUERY]);
            let queries = [
                "allowed.test:1:udp",
                "allowed.test:1:tcp",
                "allowed.test:16:udp",
                "allowed.test:16:tcp",
                "other.test:1:udp",
                "other.test:1:tcp",
                "other.test:28:udp",
                "localhost:1:udp",
            ];
            args.extend(queries);
            let out = run_with(&dns, user, &args);
            let who = format!("{user:?} {policy:?}");
            assert_eq!(out.code(), Some(0), "{who}: {out:?}");
            let line = |q: &str| -> String {
                let (name, rest) = q.split_once(':').unwrap();
                let (qtype, transport) = rest.split_once(':').unwrap();
                let head = format!("{transport} {name} {qtype} ");
                out.stdout
                    .lines()
                    .find(|l| l.starts_with(&head))
                    .unwrap_or_else(|| panic!("{who}: no answer to {q}: {out:?}"))
                    .to_owned()
            };
            let answerer = "from 127.53.0.1:53";
            for q in ["allowed.test:1:udp", "allowed.test:1:tcp"] {
                assert!(
                    line(q).ends_with(&format!("{answerer} rcode 0 answers 1 last 7f000002")),
                    "{who}: {q}: exactly the sandbox's address, from the answerer: {out:?}"
                );
            }
            for q in ["allowed.test:16:udp", "allowed.test:16:tcp"] {
                assert!(
                    line(q).contains(&format!("{answerer} rcode 0 answers 0 ")),
                    "{who}: {q}: no records of another type: {out:?}"
                );
            }
            for q in ["other.test:1:udp", "other.test:1:tcp", "other.test:28:udp"] {
                assert!(
                    line(q).contains(&format!("{answerer} rcode 3 answers 0 ")),
                    "{who}: {q}: NXDOMAIN: {out:?}"
                );
            }
            assert!(
                line("localhost:1:udp").ends_with("rcode 0 answers 1 last 7f000001"),
                "{who}: {out:?}"
            );
            assert!(
                out.stderr.contains(
                    "a DNS query for other.test, which is no allowed name (the sandbox \
                     answered NXDOMAIN); to allow it, add other.test:PORT"
                ),
                "{who}: {}",
                out.stderr
            );
            // Only the sandbox's own lookup of the allowed name, before the program ran.
            let leaked: Vec<_> = dns
                .queries()
                .into_iter()
                .filter(|q| q.name != "allowed.test" || q.qtype == 16)
                .collect();
            assert!(leaked.is_empty(), "{who}: {leaked:?}");
        }
    }
}

/// Builds `examples/hickory_lookup.rs` with the `cargo` that runs the tests (an example is
/// not built for an integration test) and copies it where every user can run it.
fn hickory_lookup() -> &'static Path {
    static PATH: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = PATH.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>");
        let built = profile_dir.join("examples").join("hickory_lookup");
        if let Some(cargo) = std::env::var_os("CARGO") {
            let mut cmd = Command::new(cargo);
            cmd.args([
                "build",
                "--quiet",
                "-p",
                "network-sandbox-cli",
                "--example",
                "hickory_lookup",
            ]);
            if profile_dir.file_name().is_some_and(|n| n == "release") {
                cmd.arg("--release");
            }
            if let Some(target) = profile_dir.parent() {
                cmd.env("CARGO_TARGET_DIR", target);
            }
            cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
            match cmd.status() {
                Ok(s) if s.success() => {}
                other => return Err(format!("building hickory_lookup failed: {other:?}")),
            }
        }
        let copy = shared_dir().join("hickory_lookup");
        common::install_executable(&built, &copy)?;
        Ok(copy)
    });
    match built {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

/// hickory-resolver, configured from `resolv.conf` and told not to read the hosts file:
/// the allowed name resolves to exactly its address through the answerer, the other name
/// fails with hickory's "no records found" (NXDOMAIN; not a time-out), `localhost` answers,
/// and the server never sees the other name. Control: without the sandbox hickory resolves
/// the other name through the server.
///
/// Twice: under a policy with names only, where hickory's UDP socket is replaced at `bind`
/// (before tokio registers it with epoll), and under one that also allows a UDP endpoint
/// (`udp://127.0.0.1:9`), where the socket is replaced at its first send and the supervisor
/// carries tokio's edge-triggered epoll registration over to the new socket
/// (`core/src/supervisor/epoll.rs`). Without that carry-over the second run's lookups time
/// out (hickory's "request timed out", or the harness's limit) instead of answering.
#[test]
fn hickory_resolver_gets_the_sandboxs_answers_and_nothing_leaks() {
    if users().is_empty() {
        return;
    }
    let exe = hickory_lookup().to_str().unwrap().to_owned();
    for user in users() {
        let dns = DnsServer::start(&[("allowed.test", "127.0.0.2"), ("other.test", "127.0.0.3")]);
        let mut control = Command::new(&exe);
        control.arg("other.test");
        dns.resolver_for(&mut control, user);
        let out = output(control);
        assert!(
            out.stdout.contains("other.test: 127.0.0.3"),
            "control: {out:?}"
        );
        assert!(dns.names().contains(&"other.test".to_owned()), "control");
        for policy in [
            vec!["--allow", "allowed.test:80"],
            vec!["--allow", "allowed.test:80", "--allow", "udp://127.0.0.1:9"],
        ] {
            dns.clear();
            let mut args = vec!["run"];
            args.extend(&policy);
            args.extend(["--", &exe, "allowed.test", "other.test", "localhost"]);
            let out = run_with(&dns, user, &args);
            let who = format!("{user:?} {policy:?}");
            assert!(!out.timed_out, "{who}: {out:?}");
            assert!(
                out.stdout.contains("allowed.test: 127.0.0.2\n"),
                "{who}: {out:?}"
            );
            assert!(
                out.stdout.contains("other.test: failed")
                    && out.stdout.contains("no records found"),
                "{who}: NXDOMAIN, not a time-out: {out:?}"
            );
            assert!(
                out.stdout.contains("localhost: 127.0.0.1"),
                "{who}: {out:?}"
            );
            assert!(
                out.stderr.contains("a DNS query for other.test"),
                "{who}: {}",
                out.stderr
            );
            assert!(
                dns.names().iter().all(|n| n == "allowed.test"),
                "{who}: {:?}",
                dns.queries()
            );
        }
    }
}

/// After the other `pre_exec` steps: no_new_privs and a filter answering `unshare` with
/// EPERM when its flags ask for a new network namespace (x86_64 and aarch64 numbers), as a
/// container might: the answerer's helper cannot make its namespace, everything else can.
fn forbid_new_network_namespaces(cmd: &mut Command) {
    const RET_ALLOW: u32 = 0x7fff_0000;
    const RET_EPERM: u32 = 0x0005_0000 | libc::EPERM as u32;
    let insn = |code: u16, jt: u8, jf: u8, k: u32| libc::sock_filter { code, jt, jf, k };
    let program = [
        // 0: A = seccomp_data.nr
        insn(0x20, 0, 0, 0),
        // 1: if A != unshare goto 4 (allow)
        insn(0x15, 0, 2, libc::SYS_unshare as u32),
        // 2: A = low half of args[0] (little-endian)
        insn(0x20, 0, 0, 16),
        // 3: if A & CLONE_NEWNET goto 5 (EPERM) else goto 4 (allow)
        insn(0x45, 1, 0, libc::CLONE_NEWNET as u32),
        // 4:
        insn(0x06, 0, 0, RET_ALLOW),
        // 5:
        insn(0x06, 0, 0, RET_EPERM),
    ];
    with_seccomp_filter(cmd, program.to_vec());
}

/// Where the answerer cannot make its network namespace, the sandbox still starts (the hosts
/// file answers `getaddrinfo`), says so in its start report, and names no server in
/// `resolv.conf`: a query the program writes itself is refused (`EACCES`) and reaches no
/// server. Control: the same filter leaves the test's own query to its server alone.
#[test]
fn without_a_network_namespace_there_is_no_answerer_and_the_report_says_so() {
    let Some(py) = python() else { return };
    let py = py.to_str().unwrap().to_owned();
    const LOOKUP: &str =
        "import socket; print('getaddrinfo:', socket.gethostbyname('allowed.test'))";
    for user in users() {
        let dns = DnsServer::start(&[("allowed.test", "127.0.0.2"), ("other.test", "127.0.0.3")]);
        let mut control = Command::new(&py);
        control.args(["-c", PY_QUERY, "other.test:1:udp"]);
        dns.resolver_for(&mut control, user);
        forbid_new_network_namespaces(&mut control);
        let out = output(control);
        assert!(out.stdout.contains("rcode 0 answers 1"), "control: {out:?}");
        dns.clear();

        let sandboxed = |script: &str, args: &[&str]| {
            let mut cmd = Command::new(bin());
            cmd.args([
                "run",
                "-v",
                "--allow",
                "allowed.test:80",
                "--",
                &py,
                "-c",
                script,
            ]);
            cmd.args(args);
            dns.resolver_for(&mut cmd, user);
            forbid_new_network_namespaces(&mut cmd);
            output(cmd)
        };
        let out = sandboxed(LOOKUP, &[]);
        assert_eq!(out.code(), Some(0), "{user:?}: {out:?}");
        assert!(
            out.stdout.contains("getaddrinfo: 127.0.0.2"),
            "{user:?}: {out:?}"
        );
        assert!(
            out.stderr
                .contains("no DNS answerer (cannot create a network namespace"),
            "{user:?}: the start report says so: {}",
            out.stderr
        );
        let out = sandboxed(PY_QUERY, &["allowed.test:1:udp", "other.test:1:tcp"]);
        assert!(
            out.stdout.contains("udp allowed.test 1 failed [Errno 13]")
                && out.stdout.contains("tcp other.test 1 failed [Errno 13]"),
            "{user:?}: {out:?}"
        );
        assert!(
            out.stderr.contains("denied send to 0.0.0.0:53 (udp)"),
            "{user:?}: {}",
            out.stderr
        );
        assert!(
            dns.names().iter().all(|n| n == "allowed.test"),
            "{user:?}: {:?}",
            dns.queries()
        );
    }
}

/// One UDP socket used first for a DNS query, then for an allowed UDP destination: the
/// query handed the socket over to the answerer's namespace, from which only the answerer
/// can be reached, so the later send is refused with a line that says so (it used to
/// succeed and vanish); a fresh socket reaches the destination. Control: without the
/// sandbox the same socket's second send arrives.
#[test]
fn a_socket_handed_to_the_answerer_says_so_when_used_for_another_destination() {
    let Some(py) = python() else { return };
    let py = py.to_str().unwrap().to_owned();
    const SCRIPT: &str = r"import socket, struct, sys
server = [l.split()[1] for l in open('/etc/resolv.conf') if l.startswith('nameserver')][0]
q = struct.pack('>HHHHHH', 0x1234, 0x0100, 1, 0, 0, 0) + b'\x07allowed\x04test\x00' + struct.pack('>HH', 1, 1)
dest = ('127.0.0.3', int(sys.argv[1]))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(q, (server, 53))
s.recvfrom(512)
for what, sock in (('same', s), ('fresh', socket.socket(socket.AF_INET, socket.SOCK_DGRAM))):
    try:
        sock.sendto(what.encode(), dest)
        print(what, 'sent')
    except OSError as e:
        print(what, 'failed', e.errno)
";
    for user in users() {
        let dns = DnsServer::start(&[("allowed.test", "127.0.0.2")]);
        let receiver = std::net::UdpSocket::bind("127.0.0.3:0").unwrap();
        receiver
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let port = receiver.local_addr().unwrap().port().to_string();
        let received = |n: usize| -> Vec<String> {
            let mut got = Vec::new();
            let mut buf = [0u8; 64];
            for _ in 0..n {
                match receiver.recv(&mut buf) {
                    Ok(k) => got.push(String::from_utf8_lossy(&buf[..k]).into_owned()),
                    Err(_) => break,
                }
            }
            got
        };
        let mut control = Command::new(&py);
        control.args(["-c", SCRIPT, &port]);
        dns.resolver_for(&mut control, user);
        let out = output(control);
        assert!(out.stdout.contains("same sent"), "control: {out:?}");
        let mut got = received(2);
        got.sort();
        assert_eq!(got, ["fresh", "same"], "control: {out:?}");
        let udp = format!("udp://127.0.0.3:{port}");
        let out = run_with(
            &dns,
            user,
            &[
                "run",
                "--allow",
                "allowed.test:80",
                "--allow",
                &udp,
                "--",
                &py,
                "-c",
                SCRIPT,
                &port,
            ],
        );
        let who = format!("{user:?}");
        assert!(out.stdout.contains("same failed 13"), "{who}: {out:?}");
        assert!(out.stdout.contains("fresh sent"), "{who}: {out:?}");
        assert!(
            out.stderr
                .contains(&format!("denied send to 127.0.0.3:{port} (udp)"))
                && out
                    .stderr
                    .contains("handed over to the sandbox's DNS answerer"),
            "{who}: {}",
            out.stderr
        );
        assert_eq!(received(1), ["fresh"], "{who}: only the fresh socket's");
        receiver.set_nonblocking(true).unwrap();
        assert!(received(1).is_empty(), "{who}: nothing more");
        receiver.set_nonblocking(false).unwrap();
    }
}
