//! Names in the policy, through `network-sandbox run`, with a DNS server of the test's own on
//! loopback (`common::dns`) as the resolver of a private mount namespace that only the
//! command under test sees: the machine's resolver configuration is never touched.
//!
//! For each client (curl, python3, Node.js `dns.lookup`, Go's pure resolver and its cgo one,
//! Java): the control, without the sandbox, resolves `other.test` through the server (which
//! logs the query) and fetches from the forbidden server; under the sandbox with
//! `--allow allowed.test:P`, `allowed.test` resolves to exactly its address and the fetch
//! works, while `other.test` fails with the client's usual "unknown host" error and **never
//! appears in the server's log**. Root and uid 65534 where the runtime is readable by it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::dns::DnsServer;
use common::*;

/// Builds a client's program and arguments for `(host, port)`.
type Argv = Box<dyn Fn(&str, u16) -> Vec<String>>;

/// A client: the program and arguments that fetch `http://HOST:PORT/` and print the body.
struct Client {
    name: &'static str,
    argv: Argv,
    /// What its error says when a name does not resolve (one of these).
    unknown_host: &'static [&'static str],
    users: Vec<User>,
    env: Vec<(&'static str, &'static str)>,
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// Whether user namespaces are disabled on this machine.
fn userns_disabled() -> bool {
    std::fs::read_to_string("/proc/sys/user/max_user_namespaces").is_ok_and(|v| v.trim() == "0")
}

fn users_for(program: &Path) -> Vec<User> {
    use std::os::unix::fs::PermissionsExt;
    let mut users = vec![User::Root];
    if is_root()
        && !userns_disabled()
        && std::fs::metadata(program).is_ok_and(|m| m.permissions().mode() & 0o001 != 0)
    {
        users.push(User::Nobody);
    }
    users
}

/// Every check of the module documentation for `client`.
fn exercise(client: &Client) {
    if !is_root() {
        eprintln!(
            "skipped: {}: the test's resolver namespace needs root",
            client.name
        );
        return;
    }
    for &user in &client.users {
        let servers = Servers::start();
        let port = servers.allowed.port();
        let dns = DnsServer::start(&[("allowed.test", "127.0.0.2"), ("other.test", "127.0.0.3")]);
        let run = |sandboxed: bool, host: &str| {
            let argv = (client.argv)(host, port);
            let mut cmd = if sandboxed {
                let mut c = Command::new(bin());
                c.args(["run", "--allow", &format!("allowed.test:{port}"), "--"]);
                c.args(&argv);
                c
            } else {
                let mut c = Command::new(&argv[0]);
                c.args(&argv[1..]);
                c
            };
            cmd.envs(client.env.iter().copied());
            dns.resolver_for(&mut cmd, user);
            output(cmd)
        };
        let who = format!("{} as {user:?}", client.name);

        // Control: without the sandbox the other name resolves through the server and the
        // forbidden server answers.
        let out = run(false, "other.test");
        assert!(
            out.stdout.contains(&servers.forbidden.body()),
            "{who}: control did not fetch other.test (the test would prove nothing): {out:?}"
        );
        assert!(
            dns.names().contains(&"other.test".to_owned()),
            "{who}: control query not logged: {:?}",
            dns.queries()
        );
        let before = servers.forbidden_connections();
        dns.clear();

        // The allowed name resolves to its address and the fetch works.
        let out = run(true, "allowed.test");
        assert!(!out.timed_out, "{who}: timed out: {out:?}");
        assert!(
            out.stdout.contains(&servers.allowed.body()),
            "{who}: allowed.test not fetched: {out:?}"
        );
        assert_eq!(out.code(), Some(0), "{who}: {out:?}");
        // Only the sandbox's own lookup, before the program started.
        assert!(
            dns.names().iter().all(|n| n == "allowed.test"),
            "{who}: queries: {:?}",
            dns.queries()
        );

        // The other name: the client's usual error, no query, no connection.
        dns.clear();
        let out = run(true, "other.test");
        assert!(!out.timed_out, "{who}: timed out: {out:?}");
        assert_ne!(out.code(), Some(0), "{who}: other.test fetched: {out:?}");
        assert!(
            !out.stdout.contains(&servers.forbidden.body()),
            "{who}: {out:?}"
        );
        assert!(
            client
                .unknown_host
                .iter()
                .any(|u| out.stderr.contains(u) || out.stdout.contains(u)),
            "{who}: expected one of {:?}: {out:?}",
            client.unknown_host
        );
        assert!(
            !dns.names().contains(&"other.test".to_owned()),
            "{who}: a query for other.test reached the server: {:?}",
            dns.queries()
        );
        assert_eq!(servers.forbidden_connections(), before, "{who}");
    }
}

#[test]
fn curl() {
    let Some(curl) = require("curl", "curl") else {
        return;
    };
    let path = curl.to_string_lossy().into_owned();
    exercise(&Client {
        name: "curl",
        users: users_for(&curl),
        argv: Box::new(move |host, port| {
            s(&[
                &path,
                "-sS",
                "--noproxy",
                "*",
                "--max-time",
                "10",
                &format!("http://{host}:{port}/"),
            ])
        }),
        unknown_host: &["Could not resolve host"],
        env: vec![],
    });
}

const PY_FETCH: &str = "import sys, urllib.request\n\
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))\n\
print(opener.open('http://%s:%s/' % (sys.argv[1], sys.argv[2]), timeout=10).read().decode())\n";

#[test]
fn python3() {
    let Some(py) = python() else { return };
    let path = py.to_string_lossy().into_owned();
    exercise(&Client {
        name: "python3 urllib",
        users: users_for(&py),
        argv: Box::new(move |host, port| s(&[&path, "-c", PY_FETCH, host, &port.to_string()])),
        unknown_host: &["Name or service not known"],
        env: vec![],
    });
}

/// `dns.lookup` (getaddrinfo), then a plain HTTP/1.0 request to what it returned.
const NODE_LOOKUP: &str = "const dns = require('dns'), net = require('net');\
dns.lookup(process.argv[1], (e, addr) => {\
 if (e) { console.error('lookup failed:', e.code); process.exit(1); }\
 const s = net.connect({host: addr, port: Number(process.argv[2])}, () => {\
  s.write('GET / HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n'); });\
 let data = ''; s.on('data', d => data += d); s.on('end', () => console.log(data));\
 s.on('error', e => { console.error('net failed:', e.code); process.exit(1); }); });";

#[test]
fn node_dns_lookup() {
    let Some(node) = require("node", "Node.js") else {
        return;
    };
    let path = node.to_string_lossy().into_owned();
    exercise(&Client {
        name: "node dns.lookup",
        users: vec![User::Root],
        argv: Box::new(move |host, port| s(&[&path, "-e", NODE_LOOKUP, host, &port.to_string()])),
        unknown_host: &["ENOTFOUND"],
        env: vec![],
    });
}

const GO_CLIENT: &str = r#"package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}
	r, err := c.Get("http://" + os.Args[1] + ":" + os.Args[2] + "/")
	if err != nil {
		fmt.Fprintln(os.Stderr, "get failed:", err)
		os.Exit(1)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	fmt.Println(string(b))
}
"#;

/// Builds the Go client with cgo on or off.
fn go_client(cgo: bool) -> Option<PathBuf> {
    let name = if cgo {
        "hostnames-go-cgo"
    } else {
        "hostnames-go"
    };
    go_program(name, GO_CLIENT, cgo)
}

#[test]
fn go_pure_resolver() {
    let Some(exe) = go_client(false) else { return };
    let path = exe.to_string_lossy().into_owned();
    exercise(&Client {
        name: "go (pure resolver)",
        users: users_for(&exe),
        argv: Box::new(move |host, port| s(&[&path, host, &port.to_string()])),
        // With `hosts: files` only, Go's own resolver reads the hosts file and says so.
        unknown_host: &["no such host", "no suitable address found"],
        env: vec![("GODEBUG", "netdns=go")],
    });
}

#[test]
fn go_cgo_resolver() {
    let Some(exe) = go_client(true) else { return };
    let path = exe.to_string_lossy().into_owned();
    exercise(&Client {
        name: "go (cgo resolver)",
        users: users_for(&exe),
        argv: Box::new(move |host, port| s(&[&path, host, &port.to_string()])),
        unknown_host: &["no such host"],
        env: vec![("GODEBUG", "netdns=cgo")],
    });
}

const JAVA_CLIENT: &str = r#"import java.io.*;
import java.net.*;

public class Get {
    public static void main(String[] args) throws Exception {
        try (Socket s = new Socket(args[0], Integer.parseInt(args[1]))) {
            s.getOutputStream().write("GET / HTTP/1.0\r\nHost: x\r\n\r\n".getBytes());
            System.out.println(new String(s.getInputStream().readAllBytes()));
        } catch (IOException e) {
            System.err.println("failed: " + e);
            System.exit(1);
        }
    }
}
"#;

#[test]
fn java() {
    let Some(java) = require("java", "Java") else {
        return;
    };
    let dir = scratch_dir("hostnames-java");
    let src = dir.join("Get.java");
    std::fs::write(&src, JAVA_CLIENT).unwrap();
    let path = java.to_string_lossy().into_owned();
    let src = src.to_string_lossy().into_owned();
    exercise(&Client {
        name: "java Socket",
        users: vec![User::Root],
        argv: Box::new(move |host, port| {
            s(&[&path, "-Xshare:auto", &src, host, &port.to_string()])
        }),
        unknown_host: &["UnknownHostException"],
        env: vec![],
    });
}

/// `network-sandbox run` with this server as the resolver, as `user`.
fn run_with(dns: &DnsServer, user: User, args: &[&str]) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args);
    dns.resolver_for(&mut cmd, user);
    output(cmd)
}

/// Root, and nobody where unprivileged user namespaces can be made (names need one there).
fn users() -> Vec<User> {
    if is_root() {
        if userns_disabled() {
            eprintln!("skipped as nobody: user.max_user_namespaces is 0");
            return vec![User::Root];
        }
        vec![User::Root, User::Nobody]
    } else {
        eprintln!("skipped: the test's resolver namespace needs root");
        vec![]
    }
}

#[test]
fn a_name_that_does_not_resolve_refuses_to_start_unless_the_policy_says_otherwise() {
    for user in users() {
        let dns = DnsServer::start(&[("allowed.test", "127.0.0.2")]);
        let out = run_with(
            &dns,
            user,
            &["run", "--allow", "missing.test:80", "--", "true"],
        );
        assert_eq!(out.code(), Some(125), "{user:?}: {out:?}");
        assert!(
            out.stderr.contains("`missing.test`") && out.stderr.contains("did not resolve"),
            "{user:?}: {}",
            out.stderr
        );
        assert!(
            dns.names().contains(&"missing.test".to_owned()),
            "looked up"
        );
        // unresolved = "unknown": starts, and the program does not know the name.
        let out = run_with(
            &dns,
            user,
            &[
                "run",
                "--unresolved",
                "unknown",
                "--allow",
                "missing.test:80",
                "--allow",
                "allowed.test:80",
                "--",
                "sh",
                "-c",
                "getent hosts allowed.test && ! getent hosts missing.test",
            ],
        );
        assert_eq!(out.code(), Some(0), "{user:?}: {out:?}");
        assert!(out.stdout.contains("127.0.0.2"), "{out:?}");
    }
}

/// An unspecified address among a name's answers (what blocking DNS servers and hosts files
/// answer) is left out with a warning, in `check` and at start; a name left with none does
/// not resolve and follows `unresolved`; the program's hosts file never holds it.
#[test]
fn unspecified_answers_are_left_out() {
    for user in users() {
        let dns = DnsServer::start(&[
            ("sink.test", "0.0.0.0"),
            ("mixed.test", "0.0.0.0"),
            ("mixed.test", "127.0.0.2"),
        ]);
        let why = "0.0.0.0 left out: an unspecified address reaches this machine (the kernel \
                   connects it to loopback or the bound address)";
        let out = run_with(
            &dns,
            user,
            &[
                "check",
                "--unresolved",
                "unknown",
                "--allow",
                "mixed.test:47000",
                "--allow",
                "sink.test:47000",
            ],
        );
        assert!(
            out.stdout.contains("  mixed.test -> 127.0.0.2 (resolved"),
            "{user:?}: {out:?}"
        );
        assert!(
            out.stdout
                .contains(&format!("  warning: mixed.test: {why}")),
            "{user:?}: {out:?}"
        );
        assert!(
            out.stdout
                .contains(&format!("  sink.test: no address ({why}): unknown")),
            "{user:?}: {out:?}"
        );

        let out = run_with(
            &dns,
            user,
            &["run", "--allow", "sink.test:47000", "--", "true"],
        );
        assert_eq!(out.code(), Some(125), "{user:?}: {out:?}");
        assert!(
            out.stderr.contains(&format!("`sink.test` ({why})")),
            "{user:?}: {out:?}"
        );

        let out = run_with(
            &dns,
            user,
            &[
                "run",
                "--allow",
                "mixed.test:47000",
                "--",
                "getent",
                "ahosts",
                "mixed.test",
            ],
        );
        assert_eq!(out.code(), Some(0), "{user:?}: {out:?}");
        assert!(out.stdout.contains("127.0.0.2"), "{user:?}: {out:?}");
        assert!(!out.stdout.contains("0.0.0.0"), "{user:?}: {out:?}");
        assert!(
            out.stderr
                .contains(&format!("network-sandbox: warning: mixed.test: {why}")),
            "{user:?}: {out:?}"
        );
    }
}

#[test]
fn a_pinned_name_is_looked_up_by_nobody() {
    for user in users() {
        let servers = Servers::start();
        let port = servers.allowed.port();
        let dns = DnsServer::start(&[("pinned.test", "127.0.0.3")]);
        let Some(curl) = require("curl", "curl") else {
            return;
        };
        let url = format!("http://pinned.test:{port}/");
        let allow = format!("pinned.test=127.0.0.2:{port}");
        let out = run_with(
            &dns,
            user,
            &[
                "run",
                "--allow",
                &allow,
                "--",
                curl.to_str().unwrap(),
                "-sS",
                "--noproxy",
                "*",
                &url,
            ],
        );
        assert_eq!(out.code(), Some(0), "{user:?}: {out:?}");
        assert!(out.stdout.contains(&servers.allowed.body()), "{out:?}");
        assert!(dns.queries().is_empty(), "{:?}", dns.queries());
    }
}

#[test]
fn a_refused_connect_names_the_host_or_says_no_name_has_the_address() {
    for user in users() {
        let servers = Servers::start();
        let port = servers.allowed.port();
        let dns = DnsServer::start(&[("allowed.test", "127.0.0.2")]);
        let allow = format!("allowed.test:{port}");
        let script = format!(
            "import socket\n\
             for a in [('127.0.0.3', {port}), ('127.0.0.2', {other})]:\n\
             \x20   try:\n\
             \x20       socket.create_connection(a, timeout=5)\n\
             \x20   except OSError as e:\n\
             \x20       print('refused', a, e.errno)\n",
            other = port.wrapping_add(1).max(1)
        );
        let Some(py) = python() else { return };
        let out = run_with(
            &dns,
            user,
            &[
                "run",
                "--allow",
                &allow,
                "--",
                py.to_str().unwrap(),
                "-c",
                &script,
            ],
        );
        assert_eq!(
            out.stdout.matches("refused").count(),
            2,
            "{user:?}: {out:?}"
        );
        assert!(
            out.stderr
                .contains("not in the allow list: no allowed name resolves to 127.0.0.3"),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr.contains(&format!(
                "127.0.0.2 is an address of tcp://allowed.test:{port}, which allows no tcp to port"
            )),
            "{}",
            out.stderr
        );
    }
}

/// `check` lists each name with what it resolved to.
#[test]
fn check_names_the_names_and_their_addresses() {
    for user in users().into_iter().take(1) {
        let dns = DnsServer::start(&[("allowed.test", "127.0.0.2"), ("allowed.test", "::1")]);
        let out = run_with(
            &dns,
            user,
            &[
                "check",
                "--allow",
                "allowed.test:443",
                "--allow",
                "pinned.test=192.0.2.1:443",
                "--allow",
                "udp://127.0.0.53:53",
            ],
        );
        assert!(
            out.stdout
                .contains("allowed.test -> 127.0.0.2, ::1 (resolved"),
            "{out:?}"
        );
        assert!(
            out.stdout
                .contains("pinned.test -> 192.0.2.1 (pinned in the policy)"),
            "{out:?}"
        );
        assert!(
            out.stdout
                .contains("warning: the policy names hosts but also allows `udp://127.0.0.53:53`"),
            "{out:?}"
        );
        let out = run_with(&dns, user, &["check", "--allow", "missing.test:443"]);
        assert_eq!(out.code(), Some(1), "{out:?}");
        assert!(out.stdout.contains("missing.test"), "{out:?}");
    }
}

/// Where user namespaces cannot be created (here: a seccomp filter of the test's own that
/// answers `unshare` with EPERM, as a container's default profile does; the machine-wide
/// `user.max_user_namespaces` is left alone because other tests on this machine use user
/// namespaces), an unprivileged run with a name refuses to start and says why and what to
/// do instead; the same user with an address starts (control).
#[test]
fn without_user_namespaces_an_unprivileged_run_with_names_refuses_clearly() {
    if !is_root() {
        eprintln!("skipped: needs root to switch to nobody");
        return;
    }
    let dns = DnsServer::start(&[("allowed.test", "127.0.0.2")]);
    let run = |allow: &str| {
        let mut cmd = Command::new(bin());
        cmd.args(["run", "--allow", allow, "--", "true"]);
        dns.resolver_for(&mut cmd, User::Nobody);
        forbid_unshare(&mut cmd);
        output(cmd)
    };
    let control = run("127.0.0.2:80");
    assert_eq!(control.code(), Some(0), "control: {control:?}");
    let out = run("allowed.test:80");
    assert_eq!(out.code(), Some(125), "{out:?}");
    for needle in [
        "cannot create a user namespace",
        "Operation not permitted",
        "Run as root",
        "allow addresses instead of names",
    ] {
        assert!(out.stderr.contains(needle), "{needle:?}: {}", out.stderr);
    }
}

/// After the other `pre_exec` steps: no_new_privs and a filter answering `unshare` with
/// EPERM (x86_64 and aarch64 numbers; any other architecture is not filtered).
fn forbid_unshare(cmd: &mut std::process::Command) {
    const RET_ALLOW: u32 = 0x7fff_0000;
    const RET_EPERM: u32 = 0x0005_0000 | libc::EPERM as u32;
    let program = [
        // A = seccomp_data.nr
        libc::sock_filter {
            code: 0x20,
            jt: 0,
            jf: 0,
            k: 0,
        },
        libc::sock_filter {
            code: 0x15,
            jt: 0,
            jf: 1,
            k: libc::SYS_unshare as u32,
        },
        libc::sock_filter {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: RET_EPERM,
        },
        libc::sock_filter {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: RET_ALLOW,
        },
    ];
    with_seccomp_filter(cmd, program.to_vec());
}

/// A program that writes DNS queries itself, to the resolver it was told about, over UDP and
/// TCP, for a name outside the policy and of types A, AAAA, TXT and ANY: the control, without
/// the sandbox, reaches the server (logged); under the sandbox none does, with a UDP
/// endpoint in the policy too (so UDP sockets exist and each send goes to the supervisor).
const PY_RAW_DNS: &str = r"import socket, struct, sys
server = sys.argv[1]
def query(name, qtype):
    q = struct.pack('>HHHHHH', 0x1234, 0x0100, 1, 0, 0, 0)
    for label in name.split('.'):
        q += bytes([len(label)]) + label.encode()
    return q + b'\x00' + struct.pack('>HH', qtype, 1)
sent = 0
for qtype in (1, 28, 16, 255):
    q = query('other.test', qtype)
    try:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(1)
        u.sendto(q, (server, 53))
        u.recvfrom(512)
        sent += 1
    except OSError as e:
        print('udp', qtype, 'failed', e)
    try:
        t = socket.create_connection((server, 53), timeout=2)
        t.sendall(struct.pack('>H', len(q)) + q)
        t.recv(2)
        sent += 1
    except OSError as e:
        print('tcp', qtype, 'failed', e)
print('answered', sent)
";

#[test]
fn queries_a_program_writes_itself_never_reach_a_resolver() {
    let Some(py) = python() else { return };
    let py = py.to_str().unwrap().to_owned();
    for user in users() {
        let dns = DnsServer::start(&[("allowed.test", "127.0.0.2"), ("other.test", "127.0.0.3")]);
        let server = dns.ip.to_string();
        let mut control = Command::new(&py);
        control.args(["-c", PY_RAW_DNS, &server]);
        dns.resolver_for(&mut control, user);
        let out = output(control);
        assert!(out.stdout.contains("answered 8"), "control: {out:?}");
        assert_eq!(dns.queries().len(), 8, "control: {:?}", dns.queries());
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
            args.extend(["--", &py, "-c", PY_RAW_DNS, &server]);
            let out = run_with(&dns, user, &args);
            assert!(
                out.stdout.contains("answered 0"),
                "{user:?} {policy:?}: {out:?}"
            );
            // Refused by the sandbox (EACCES), not lost on the way.
            assert_eq!(
                out.stdout.matches("[Errno 13]").count(),
                8,
                "{user:?} {policy:?}: {out:?}"
            );
            let leaked: Vec<_> = dns
                .queries()
                .into_iter()
                .filter(|q| q.name != "allowed.test")
                .collect();
            assert!(leaked.is_empty(), "{user:?} {policy:?}: {leaked:?}");
        }
    }
}

/// The files the sandbox bound cannot be changed from inside, even by a program that holds
/// a user namespace of its own in the unprivileged case: no unmount, no remount, no write.
/// Control: the same user outside the sandbox can bind and unmount a file over `/etc/hosts`
/// in a user namespace of its own (`unshare -rm`).
#[test]
fn the_bound_files_cannot_be_undone_from_inside() {
    let Some(unshare) = require("unshare", "util-linux unshare") else {
        return;
    };
    for user in users() {
        let dns = DnsServer::start(&[]);
        if user == User::Nobody {
            let mut control = Command::new(&unshare);
            control.args([
                "-rm",
                "sh",
                "-c",
                "mount --bind /etc/passwd /etc/hosts && umount /etc/hosts && echo undone",
            ]);
            dns.resolver_for(&mut control, user);
            let out = output(control);
            assert!(out.stdout.contains("undone"), "control: {out:?}");
        }
        let script = "umount /etc/hosts 2>&1; umount -l /etc/resolv.conf 2>&1; \
                      mount -o remount,rw /etc/hosts 2>&1; echo 1.2.3.4 evil.test >> /etc/hosts 2>&1; \
                      unshare -rm true 2>&1; grep -c evil /etc/hosts; grep hosts: /etc/nsswitch.conf";
        let out = run_with(
            &dns,
            user,
            &[
                "run",
                "--allow",
                "a.test=127.0.0.2:80",
                "--",
                "sh",
                "-c",
                script,
            ],
        );
        assert!(
            out.stdout.contains("\n0\nhosts: files\n"),
            "{user:?}: {out:?}"
        );
        assert!(!out.stdout.contains("evil.test"), "{out:?}");
    }
}

/// Polls `name` until it resolves to `new`, then fetches the new and the old address, then
/// polls the old one until it is refused (when `wait_for_refusal`): the program's side of a
/// refresh.
const PY_MOVING: &str = r"import socket, sys, time, urllib.request
name, port, old, new, wait_for_refusal = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] == '1'
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
def get(host):
    return opener.open('http://%s:%s/' % (host, port), timeout=5).read().decode().strip()
deadline = time.time() + 30
while time.time() < deadline:
    try:
        if socket.gethostbyname(name) == new:
            break
    except OSError:
        pass
    time.sleep(0.1)
else:
    print('never resolved to', new)
    sys.exit(1)
print('resolves to', new)
print('new:', get(name))
print('old:', get(old))
if wait_for_refusal:
    while time.time() < deadline:
        try:
            get(old)
        except OSError as e:
            print('old refused:', e)
            break
        time.sleep(0.1)
";

/// The server changes its answer while the program runs: the supervisor's refresher looks
/// the name up again (every 300 ms here, through the test hook; `ttl` in real use), the
/// program resolves the new address and reaches it, the old address stays allowed through
/// the grace period and is refused after it; `-v` reports each change.
#[test]
fn a_refresh_follows_a_changed_answer_and_keeps_the_old_address_through_the_grace_period() {
    let Some(py) = python() else { return };
    let py = py.to_str().unwrap().to_owned();
    for user in users() {
        for (grace_ms, wait_for_refusal) in [(600_000, false), (1_000, true)] {
            let servers = Servers::start();
            let port = servers.allowed.port();
            let dns = DnsServer::start(&[("moving.test", "127.0.0.2")]);
            let allow = format!("moving.test:{port}");
            let port_s = port.to_string();
            let mut cmd = Command::new(bin());
            cmd.args(["run", "-v", "--allow", &allow, "--"]).args([
                py.as_str(),
                "-c",
                PY_MOVING,
                "moving.test",
                &port_s,
                "127.0.0.2",
                "127.0.0.3",
                if wait_for_refusal { "1" } else { "0" },
            ]);
            cmd.env(
                network_sandbox::hostnames::TEST_REFRESH_ENV,
                format!("300,{grace_ms}"),
            );
            dns.resolver_for(&mut cmd, user);
            let guard = Guard::spawn(&mut cmd);
            // The sandbox's own lookup at start, then the new answer.
            for _ in 0..500 {
                if !dns.queries().is_empty() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            assert!(
                !dns.queries().is_empty(),
                "the sandbox never looked the name up"
            );
            dns.set("moving.test", &["127.0.0.3"]);
            let out = guard.wait(std::time::Duration::from_secs(60));
            let who = format!("{user:?}, grace {grace_ms} ms");
            assert_eq!(out.code(), Some(0), "{who}: {out:?}");
            assert!(
                out.stdout
                    .contains(&format!("new: {}", servers.forbidden.body().trim())),
                "{who}: {out:?}"
            );
            assert!(
                out.stdout
                    .contains(&format!("old: {}", servers.allowed.body().trim())),
                "{who}: the old address was not allowed in its grace period: {out:?}"
            );
            assert!(
                out.stderr
                    .contains("network-sandbox: refresh: moving.test: 127.0.0.3 added"),
                "{who}: {}",
                out.stderr
            );
            assert!(
                out.stderr.contains("127.0.0.2 no longer in its answers"),
                "{who}: {}",
                out.stderr
            );
            if wait_for_refusal {
                assert!(
                    out.stdout.contains("old refused:") && out.stdout.contains("Permission denied"),
                    "{who}: {out:?}"
                );
                // The refusal names no name for the old address any more.
                assert!(
                    out.stderr.contains("denied connect to 127.0.0.2:")
                        && out.stderr.contains("no allowed name resolves to 127.0.0.2"),
                    "{who}: {}",
                    out.stderr
                );
            }
        }
    }
}

/// Node's `dns.resolve4` (c-ares) asks DNS itself, reading `resolv.conf` and ignoring the
/// hosts file and `nsswitch.conf`: under the sandbox its query goes to the sandbox's DNS
/// answerer, the only server its `resolv.conf` names, which answers the allowed name with
/// exactly the sandbox's address and the other name with NXDOMAIN (`ENOTFOUND`, the usual
/// "unknown host"); the test's server never sees the other name, even with a UDP endpoint in
/// the policy. Control: without the sandbox the same call reaches the server.
#[test]
fn node_c_ares_resolve_gets_the_sandboxs_answers_and_never_reaches_a_resolver() {
    let Some(node) = require("node", "Node.js") else {
        return;
    };
    const SCRIPT: &str = "require('dns').resolve4(process.argv[1], (e, a) => {\
        if (e) { console.log('resolve failed:', e.code); process.exit(1); }\
        console.log('resolved:', a.join(',')); });";
    let users = if is_root() { users_for(&node) } else { users() };
    let node = node.to_str().unwrap().to_owned();
    for user in users {
        // The server would give allowed.test another address than the policy pins.
        let dns = DnsServer::start(&[("other.test", "127.0.0.3"), ("allowed.test", "127.0.0.9")]);
        let mut control = Command::new(&node);
        control.args(["-e", SCRIPT, "other.test"]);
        dns.resolver_for(&mut control, user);
        let out = output(control);
        assert!(
            out.stdout.contains("resolved: 127.0.0.3"),
            "control: {out:?}"
        );
        for policy in [
            vec!["--allow", "allowed.test=127.0.0.2:80"],
            vec![
                "--allow",
                "allowed.test=127.0.0.2:80",
                "--allow",
                "udp://127.0.0.2:53",
            ],
        ] {
            let run = |name: &str| {
                let mut args = vec!["run"];
                args.extend(&policy);
                args.extend(["--", node.as_str(), "-e", SCRIPT, name]);
                run_with(&dns, user, &args)
            };
            dns.clear();
            let out = run("allowed.test");
            assert!(!out.timed_out, "{user:?} {policy:?}: {out:?}");
            assert!(
                out.stdout.contains("resolved: 127.0.0.2\n"),
                "{user:?} {policy:?}: {out:?}"
            );
            let out = run("other.test");
            assert!(!out.timed_out, "{user:?} {policy:?}: {out:?}");
            assert!(
                out.stdout.contains("resolve failed: ENOTFOUND"),
                "{user:?} {policy:?}: {out:?}"
            );
            assert!(
                out.stderr.contains("a DNS query for other.test")
                    && out.stderr.contains("add other.test:PORT"),
                "{user:?} {policy:?}: the refusal names the name: {}",
                out.stderr
            );
            assert!(
                dns.queries().is_empty(),
                "{user:?} {policy:?}: {:?}",
                dns.queries()
            );
        }
    }
}

const MUSL_LOOKUP: &str = r#"#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
    struct addrinfo hints, *res;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    int e = getaddrinfo(argv[1], NULL, &hints, &res);
    if (e) { printf("lookup failed: %s\n", gai_strerror(e)); return 1; }
    char b[64];
    inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, b, sizeof b);
    printf("resolved: %s\n", b);
    return 0;
}
"#;

/// musl reads the hosts file and then asks DNS itself, whatever `nsswitch.conf` says: the
/// allowed name resolves from the hosts file; the other name's query goes to the sandbox's
/// DNS answerer (the only server in the sandbox's `resolv.conf`), which answers NXDOMAIN,
/// and the lookup fails with musl's "unknown host" ("Name does not resolve"); the test's
/// server never sees it. Control: the same static binary without the sandbox resolves the
/// other name through the server.
#[test]
fn musl_getaddrinfo() {
    let Some(cc) = require("musl-gcc", "musl (Debian package musl-tools)") else {
        return;
    };
    let dir = scratch_dir("hostnames-musl");
    std::fs::write(dir.join("lookup.c"), MUSL_LOOKUP).unwrap();
    let exe = dir.join("lookup");
    let out = output(
        Command::new(&cc)
            .args(["-static", "-O2", "-o"])
            .arg(&exe)
            .arg(dir.join("lookup.c")),
    );
    assert_eq!(out.code(), Some(0), "musl-gcc: {out:?}");
    let exe = exe.to_str().unwrap().to_owned();
    for user in users() {
        let dns = DnsServer::start(&[("allowed.test", "127.0.0.2"), ("other.test", "127.0.0.3")]);
        let mut control = Command::new(&exe);
        control.arg("other.test");
        dns.resolver_for(&mut control, user);
        let out = output(control);
        assert!(
            out.stdout.contains("resolved: 127.0.0.3"),
            "control: {out:?}"
        );
        for policy in [
            vec!["--allow", "allowed.test:80"],
            vec![
                "--allow",
                "allowed.test:80",
                "--allow",
                "udp://127.0.0.2:53",
            ],
        ] {
            let run = |name: &str| {
                let mut args = vec!["run"];
                args.extend(&policy);
                args.extend(["--", exe.as_str(), name]);
                run_with(&dns, user, &args)
            };
            let out = run("allowed.test");
            assert!(
                out.stdout.contains("resolved: 127.0.0.2"),
                "{user:?} {policy:?}: {out:?}"
            );
            dns.clear();
            let out = run("other.test");
            assert!(!out.timed_out, "{out:?}");
            assert!(
                out.stdout.contains("lookup failed: Name does not resolve"),
                "{user:?} {policy:?}: {out:?}"
            );
            assert!(
                !dns.names().contains(&"other.test".to_owned()),
                "{user:?} {policy:?}: {:?}",
                dns.queries()
            );
        }
    }
}
