//! An unspecified destination is never allowed, whatever the policy says: Linux sends a
//! connect or a UDP send to `0.0.0.0` to the socket's bound address (or loopback), and one to
//! `::` to `::1`. A program that binds `127.0.0.3:0` (or `[::1]:0`) and connects, or sends,
//! to `0.0.0.0:P` (`[::]:P`) reaches a listener there that no endpoint names: the control,
//! without the sandbox, does. Under a policy allowing a name that resolves to `0.0.0.0` and
//! `::` (what ad-blocking hosts files answer), and under `0.0.0.0/0` and `[::/0]` ("every
//! address", which stay valid), the same attempts fail with `EACCES` and a line that says
//! why, and the listener sees nothing; as root and as uid 65534. The name's addresses are
//! left out at start, with a warning. `0.0.0.0/8` itself is a policy error (build-support's
//! tests, `ui-tests`).
//!
//! The name resolves through a hosts file bound over `/etc/hosts` in a mount namespace that
//! only the probe has (made between fork and exec): the machine's files are never touched.

use std::ffi::CString;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Stdio;

use network_sandbox_escape_tests::*;

/// Two recorders on one port: `127.0.0.3:P` and `[::1]:P`.
fn recorders() -> (Recorder, Recorder) {
    for _ in 0..50 {
        let Ok(v4) = Recorder::start("127.0.0.3:0".parse().unwrap()) else {
            continue;
        };
        let port = v4.addr.port();
        if let Ok(v6) = Recorder::start(SocketAddr::from(([0u16, 0, 0, 0, 0, 0, 0, 1], port))) {
            return (v4, v6);
        }
    }
    panic!("no port free on both 127.0.0.3 and [::1]");
}

/// A hosts file the probe sees as `/etc/hosts`; removed when dropped.
struct Hosts {
    path: std::path::PathBuf,
}

impl Hosts {
    fn new(text: &str) -> Hosts {
        let path =
            std::env::temp_dir().join(format!("ns-unspecified-{}.hosts", std::process::id()));
        std::fs::write(&path, text).expect("write the hosts file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        Hosts { path }
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Runs `probe` (built as root) as `user`, in a mount namespace of its own where `hosts` is
/// `/etc/hosts` when given.
fn run(probe: Probe, user: User, hosts: Option<&Hosts>, attempt: &str, args: &[&str]) -> Outcome {
    let mut cmd = probe.command_for(attempt, args);
    let source = hosts.map(|h| CString::new(h.path.to_str().unwrap()).unwrap());
    let target = CString::new("/etc/hosts").unwrap();
    let root = CString::new("/").unwrap();
    let nobody = user == User::Nobody;
    // SAFETY: the closure runs in the child between fork and exec and makes only
    // async-signal-safe system calls on strings made before the fork.
    unsafe {
        cmd.pre_exec(move || {
            let fail = || Err(std::io::Error::last_os_error());
            if let Some(source) = &source {
                if libc::unshare(libc::CLONE_NEWNS) != 0
                    || libc::mount(
                        std::ptr::null(),
                        root.as_ptr(),
                        std::ptr::null(),
                        libc::MS_REC | libc::MS_PRIVATE,
                        std::ptr::null(),
                    ) != 0
                    || libc::mount(
                        source.as_ptr(),
                        target.as_ptr(),
                        std::ptr::null(),
                        libc::MS_BIND,
                        std::ptr::null(),
                    ) != 0
                {
                    return fail();
                }
            }
            if nobody
                && (libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(NOBODY) != 0
                    || libc::setuid(NOBODY) != 0
                    || libc::chdir(root.as_ptr()) != 0)
            {
                return fail();
            }
            Ok(())
        });
    }
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run the probe");
    Outcome {
        results: String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("RESULT "))
            .map(str::to_owned)
            .collect(),
        code: out.status.code(),
        signal: std::os::unix::process::ExitStatusExt::signal(&out.status),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        args: args.iter().map(|a| a.to_string()).collect(),
    }
}

/// The four attempts: (attempt, source, destination, operation in the line, recorder).
fn attempts<'a>(
    v4: &'a Recorder,
    v6: &'a Recorder,
) -> Vec<(&'static str, String, String, &'static str, &'a Recorder)> {
    let p = v4.addr.port();
    vec![
        (
            "connect-from",
            "127.0.0.3:0".into(),
            format!("0.0.0.0:{p}"),
            "connect",
            v4,
        ),
        (
            "udp-from",
            "127.0.0.3:0".into(),
            format!("0.0.0.0:{p}"),
            "send",
            v4,
        ),
        (
            "connect-from",
            "[::1]:0".into(),
            format!("[::]:{p}"),
            "connect",
            v6,
        ),
        (
            "udp-from",
            "[::1]:0".into(),
            format!("[::]:{p}"),
            "send",
            v6,
        ),
    ]
}

/// What a recorder has seen: TCP connections and UDP datagrams.
fn seen(r: &Recorder) -> (usize, usize) {
    r.settle();
    (r.connections(), r.datagrams())
}

/// Each attempt reaches its listener without the sandbox, and fails with `EACCES` and the
/// line under `allow(port)` (with `options`), reaching nothing; stderr also holds `extra`.
fn refused_under(
    allow: impl Fn(u16) -> Vec<String>,
    options: &[&str],
    hosts: Option<&Hosts>,
    extra: &str,
) {
    let (v4, v6) = recorders();
    let allow = allow(v4.addr.port());
    for user in USERS {
        for (attempt, from, to, op, rec) in attempts(&v4, &v6) {
            let who = format!("{attempt} {from} -> {to} as {user:?} under {allow:?}");
            let before = seen(rec);
            let control = run(Probe::unsandboxed(), user, hosts, attempt, &[&from, &to]);
            assert!(control.ok(), "control {who}: {control:?}");
            let after = seen(rec);
            assert_ne!(
                before, after,
                "control {who} reached nothing (the test would prove nothing)"
            );

            let mut probe = Probe::sandboxed(&allow);
            for o in options {
                probe = probe.option(o);
            }
            let o = run(probe, user, hosts, attempt, &[&from, &to]);
            o.assert_refused_by_supervisor("EACCES", op, &to);
            assert!(
                o.stderr.contains(
                    "an unspecified address reaches this machine (the kernel connects it to \
                     loopback or the bound address); the sandbox never allows"
                ),
                "{who}: {o:?}"
            );
            assert!(
                o.stderr.contains("no policy entry can allow this"),
                "{who}: {o:?}"
            );
            assert!(o.stderr.contains(extra), "{who}: {o:?}");
            assert_eq!(seen(rec), after, "{who}: the listener was reached: {o:?}");
        }
    }
}

/// `sink.test` resolves to `0.0.0.0` and `::` only: both are left out with a warning, so
/// the name has no address. By default the sandbox then refuses to start, as for a name that
/// does not resolve; with `unresolved = "unknown"` the program runs and neither address
/// reaches this machine.
#[test]
fn a_name_that_resolves_to_an_unspecified_address() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        skipped("the probe's mount namespace needs root", None);
        return;
    }
    let hosts = Hosts::new("127.0.0.1 localhost\n0.0.0.0 sink.test\n:: sink.test\n");
    let allow = |p: u16| vec![format!("sink.test:{p}"), format!("udp://sink.test:{p}")];
    for user in USERS {
        let o = run(
            Probe::sandboxed(&allow(47000)),
            user,
            Some(&hosts),
            "connect",
            &["127.0.0.1:1"],
        );
        assert_eq!(o.code, Some(network_sandbox::EXIT_NOT_SANDBOXED), "{o:?}");
        assert!(o.result().starts_with("refused"), "{o:?}");
        assert!(
            o.result()
                .contains("`sink.test` (0.0.0.0, :: left out: an unspecified address"),
            "{o:?}"
        );
    }
    refused_under(
        allow,
        &["unresolved=unknown"],
        Some(&hosts),
        "network-sandbox: warning: sink.test: 0.0.0.0, :: left out: an unspecified address \
         reaches this machine",
    );
}

/// `0.0.0.0/0` and `[::/0]` stay "every address of the family" (`0.0.0.0/8` is a policy
/// error), and the supervisor still refuses the unspecified addresses in them.
#[test]
fn every_address_leaves_out_the_unspecified_ones() {
    refused_under(
        |p| {
            vec![
                format!("0.0.0.0/0:{p}"),
                format!("udp://0.0.0.0/0:{p}"),
                format!("[::/0]:{p}"),
                format!("udp://[::/0]:{p}"),
            ]
        },
        &[],
        None,
        "",
    );
}

/// In audit mode the same attempts are reported as ones that would be refused, and go on.
#[test]
fn audit_mode_reports_them() {
    let (v4, v6) = recorders();
    let p = v4.addr.port();
    let allow = [format!("0.0.0.0/0:{p}"), format!("udp://[::/0]:{p}")];
    for (attempt, from, to, op, _) in attempts(&v4, &v6) {
        let o = run(
            Probe::sandboxed(&allow).option("audit"),
            User::Root,
            None,
            attempt,
            &[&from, &to],
        );
        assert!(o.ok(), "{attempt} {to}: {o:?}");
        assert!(
            o.stderr.contains(&format!("would deny {op} to {to}")),
            "{attempt} {to}: {o:?}"
        );
        assert!(
            o.stderr
                .contains("an unspecified address reaches this machine"),
            "{attempt} {to}: {o:?}"
        );
    }
}
