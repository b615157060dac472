//! Learn mode through `network-sandbox run --learn FILE`: a run that looks a name up (the
//! test's own logging DNS server is the machine's resolver, for the command under test
//! only), connects to it and to an address, connects to a unix socket and listens on a
//! fixed port writes a policy with the name, the address, the `unix:` endpoint and the
//! `listen` entry; that policy parses, and a second run under it (enforce mode) does the
//! same again and is refused a third destination. Each with an unsandboxed control. Root,
//! and uid 65534 where user namespaces can be made.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::dns::DnsServer;
use common::*;

/// Root, and nobody where unprivileged user namespaces can be made.
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

/// Each argument one attempt, printing `WHAT ok` or `WHAT errno N`:
/// `name:PORT` (connect to learn-a.test, looked up with getaddrinfo), `addr:HOST:PORT`
/// (connect to an IPv4 address), `addr6:PORT` (connect to [::1]), `unix:PATH` (connect to a
/// unix stream socket, PATH as given), `listen:PORT` (bind 127.0.0.1:PORT and listen).
const PY: &str = r"import socket, sys
def attempt(what, f):
    try:
        f()
        print(what, 'ok')
    except OSError as e:
        print(what, 'errno', e.errno)
    sys.stdout.flush()
def tcp(family, addr):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(addr)
    s.close()
def name(port):
    ip = socket.getaddrinfo('learn-a.test', port, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
    tcp(socket.AF_INET, (ip, port))
def unix(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.close()
def listen(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(('127.0.0.1', port))
    s.listen(1)
    s.close()
for arg in sys.argv[1:]:
    kind, _, rest = arg.partition(':')
    if kind == 'name':
        attempt(arg, lambda: name(int(rest)))
    elif kind == 'addr':
        host, port = rest.split(':')
        attempt(arg, lambda: tcp(socket.AF_INET, (host, int(port))))
    elif kind == 'addr6':
        attempt(arg, lambda: tcp(socket.AF_INET6, ('::1', int(rest))))
    elif kind == 'unix':
        attempt(arg, lambda: unix(rest))
    elif kind == 'listen':
        attempt(arg, lambda: listen(int(rest)))
";

/// A TCP port on 127.0.0.1 that is free now and outside the kernel's ephemeral range (a
/// `listen` entry names a fixed port).
fn fixed_port() -> u16 {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
    let low: u16 = range.split_whitespace().next().unwrap().parse().unwrap();
    let start = 20000 + (std::process::id() % 5000) as u16;
    (start..start + 500)
        .filter(|p| *p < low)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free fixed port")
}

/// `python3 -c PY ARGS` from `dir`, as `user`, with `dns` as the machine's resolver,
/// under `network-sandbox ns_args --` (unsandboxed when `ns_args` is `None`).
fn attempt(
    dns: &DnsServer,
    user: User,
    dir: &Path,
    ns_args: Option<&[&str]>,
    args: &[String],
) -> Output {
    let py = python().expect("python3");
    let mut cmd = match ns_args {
        Some(ns_args) => {
            let mut c = Command::new(bin());
            c.args(ns_args).arg("--").arg(&py);
            c
        }
        None => Command::new(&py),
    };
    cmd.arg("-c").arg(PY).args(args);
    dns.resolver_for(&mut cmd, user);
    cmd.current_dir(dir);
    output(cmd)
}

#[test]
fn learn_writes_names_addresses_unix_sockets_and_listen_entries_that_a_second_run_enforces() {
    if python().is_none() {
        return;
    }
    for user in users() {
        let who = format!("{user:?}");
        let s = Servers::start();
        let port = s.allowed.port();
        let dns = DnsServer::start(&[("learn-a.test", "127.0.0.2")]);
        let dir = scratch_dir(&format!("learn-{who}"));
        if user == User::Nobody {
            // The learned file is written by the supervisor, which runs as the user.
            std::os::unix::fs::chown(&dir, Some(NOBODY), Some(NOBODY)).unwrap();
        }
        let sock = dir.join("learn.sock");
        let _ = std::fs::remove_file(&sock);
        let unix_server = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o777)).unwrap();
        let lport = fixed_port();
        let used = [
            format!("name:{port}"),
            format!("addr:127.0.0.3:{port}"),
            "unix:learn.sock".to_owned(),
            format!("listen:{lport}"),
        ];
        let third = format!("addr6:{port}");
        let all: Vec<String> = used.iter().cloned().chain([third.clone()]).collect();

        // Control: without the sandbox, every attempt works.
        let control = attempt(&dns, user, &dir, None, &all);
        for a in &all {
            assert!(
                control.stdout.contains(&format!("{a} ok\n")),
                "control {who}: {control:?}"
            );
        }
        assert!(dns.names().contains(&"learn-a.test".to_owned()));

        // Learn, from a policy without endpoints: audit mode, nothing refused.
        dns.clear();
        let file = dir.join("learned.toml");
        let _ = std::fs::remove_file(&file);
        let file_s = file.to_str().unwrap();
        let learning = attempt(&dns, user, &dir, Some(&["run", "--learn", file_s]), &used);
        assert_eq!(learning.code(), Some(0), "learning {who}: {learning:?}");
        for a in &used {
            assert!(
                learning.stdout.contains(&format!("{a} ok\n")),
                "learning {who}: {learning:?}"
            );
        }
        // The lookup went through the sandbox's answerer to the machine's resolver.
        assert!(
            dns.names().contains(&"learn-a.test".to_owned()),
            "forwarded {who}: {:?} {learning:?}",
            dns.names()
        );
        // The supervisor writes the file once the program has ended.
        let start = Instant::now();
        while !file.exists() && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("no learned file {who}: {e}; {learning:?}"));
        for want in [
            format!("\"tcp://learn-a.test:{port}\""),
            "learn-a.test was 127.0.0.2 in this run".to_owned(),
            format!("\"tcp://127.0.0.3:{port}\""),
            format!("\"unix:{}\"", sock.display()),
            format!("listen = [\n    # listen by python3\n    \"127.0.0.1:{lport}\",\n]"),
        ] {
            assert!(text.contains(&want), "{who}: no {want:?} in\n{text}");
        }
        // Neither the name's address as an address, nor the answerer's own.
        assert!(!text.contains("\"tcp://127.0.0.2"), "{who}: {text}");
        assert!(!text.contains("127.53.0.1"), "{who}: {text}");
        // It parses, and its name resolves (with the same resolver).
        let mut check = ns(&["check", "--policy", file_s]);
        dns.resolver_for(&mut check, user);
        let check = output(check);
        assert_eq!(check.code(), Some(0), "check {who}: {check:?}\n{text}");

        // Enforce the learned policy: the same run works, the third destination is refused.
        let before = s.forbidden6.connections();
        let again = attempt(&dns, user, &dir, Some(&["run", "--policy", file_s]), &all);
        for a in &used {
            assert!(
                again.stdout.contains(&format!("{a} ok\n")),
                "second run {who}: {again:?}\n{text}"
            );
        }
        assert!(
            again
                .stdout
                .contains(&format!("{third} errno {}\n", libc::EACCES)),
            "third {who}: {again:?}"
        );
        assert!(
            again
                .stderr
                .contains(&format!("denied connect to [::1]:{port} (tcp)")),
            "{who}: {again:?}"
        );
        s.settle();
        assert_eq!(
            s.forbidden6.connections(),
            before,
            "{who}: nothing reached [::1]"
        );

        // Learning again under the learned policy: what it allows is learned too (the
        // policy's name through the answerer's table, the allowed unix socket and listen).
        let file2 = dir.join("learned-again.toml");
        let _ = std::fs::remove_file(&file2);
        let file2_s = file2.to_str().unwrap();
        let args = ["run", "--policy", file_s, "--learn", file2_s];
        let relearning = attempt(&dns, user, &dir, Some(&args), &used);
        for a in &used {
            assert!(
                relearning.stdout.contains(&format!("{a} ok\n")),
                "learning again {who}: {relearning:?}"
            );
        }
        let start = Instant::now();
        while !file2.exists() && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let text2 = std::fs::read_to_string(&file2)
            .unwrap_or_else(|e| panic!("no second learned file {who}: {e}; {relearning:?}"));
        let entries = |t: &str| -> Vec<String> {
            t.lines()
                .filter(|l| l.trim_start().starts_with('"'))
                .map(|l| l.trim().to_owned())
                .collect()
        };
        assert_eq!(entries(&text2), entries(&text), "{who}:\n{text2}\n{text}");
        drop(unix_server);
        let _ = std::fs::remove_file(&sock);
    }
}
