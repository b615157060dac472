//! The command itself: exit statuses, pass-through of output and signals, error messages,
//! `check`, `explain`, help and completions; and a plain allowed/forbidden case as root and
//! as an unprivileged user.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn program_exit_status_passes_through() {
    for code in [0, 1, 3, 42] {
        let out = output(&mut ns_run(None, &["sh", "-c", &format!("exit {code}")]));
        assert_eq!(out.code(), Some(code), "{out:?}");
    }
}

#[test]
fn stdout_and_stderr_pass_through() {
    let out = output(&mut ns_run(
        Some("127.0.0.2:80"),
        &[
            "sh",
            "-c",
            "echo to-stdout; echo to-stderr >&2; printf 'a\\0b'",
        ],
    ));
    assert_eq!(out.code(), Some(0), "{out:?}");
    assert_eq!(out.stdout, "to-stdout\na\0b");
    assert_eq!(out.stderr, "to-stderr\n");
}

#[test]
fn the_program_keeps_the_pid() {
    // The command execs the program: the PID the caller spawned is the program's.
    let mut cmd = ns_run(Some("127.0.0.2:80"), &["sh", "-c", "echo $$"]);
    let guard = Guard::spawn(&mut cmd);
    let pid = guard.child.id();
    let out = guard.wait(Duration::from_secs(30));
    assert_eq!(out.stdout.trim(), pid.to_string(), "{out:?}");
}

#[test]
fn killed_by_a_signal_is_reported_as_such() {
    let out = output(&mut ns_run(None, &["sh", "-c", "kill -KILL $$"]));
    assert_eq!(out.signal(), Some(libc::SIGKILL), "{out:?}");
}

#[test]
fn sigterm_to_the_pid_reaches_the_program() {
    let script = "trap 'echo got-term; kill $! 2>/dev/null; exit 7' TERM; \
                  echo ready; sleep 30 & wait $!";
    let mut cmd = ns_run(Some("127.0.0.2:80"), &["sh", "-c", script]);
    let mut guard = Guard::spawn(&mut cmd);
    // Wait for "ready" so the trap is installed.
    let mut stdout = guard.child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let start = Instant::now();
    let mut buf = [0u8; 64];
    while !String::from_utf8_lossy(&seen).contains("ready") {
        assert!(start.elapsed() < Duration::from_secs(20), "never ready");
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "stdout closed before ready");
        seen.extend_from_slice(&buf[..n]);
    }
    let pid = guard.child.id() as libc::pid_t;
    // SAFETY: kill with the PID of our own child, which has not been reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = guard.child.wait().unwrap();
    // Whatever the shell left running (the background sleep) must not keep the pipe open.
    guard.kill_group();
    let mut rest = String::new();
    let _ = stdout.read_to_string(&mut rest);
    assert_eq!(status.code(), Some(7), "{status:?}");
    assert!(rest.contains("got-term"), "{rest:?}");
}

#[test]
fn program_not_found_is_127() {
    let out = output(&mut ns_run(None, &["no-such-program-xyz"]));
    assert_eq!(out.code(), Some(127), "{out:?}");
    assert!(
        out.stderr
            .contains("network-sandbox: no-such-program-xyz: command not found"),
        "{}",
        out.stderr
    );
    let out = output(&mut ns_run(None, &["/nonexistent/prog"]));
    assert_eq!(out.code(), Some(127), "{out:?}");
    assert!(out.stderr.contains("no such file"), "{}", out.stderr);
    // Nothing was installed: no sandbox message, no layer report.
    assert!(!out.stderr.contains("refusing"), "{}", out.stderr);
}

#[test]
fn program_not_executable_is_126() {
    let dir = scratch_dir("not-executable");
    let file = dir.join("script.sh");
    std::fs::write(&file, "#!/bin/sh\necho hi\n").unwrap();
    let out = output(&mut ns_run(None, &[file.to_str().unwrap()]));
    assert_eq!(out.code(), Some(126), "{out:?}");
    assert!(out.stderr.contains("cannot execute"), "{}", out.stderr);
    let out = output(&mut ns_run(None, &[dir.to_str().unwrap()]));
    assert_eq!(out.code(), Some(126), "{out:?}");
    assert!(out.stderr.contains("is a directory"), "{}", out.stderr);
}

#[test]
fn bad_endpoint_is_2_with_a_caret() {
    let out = output(&mut ns_run(Some("127.0.0.1:0"), &["true"]));
    assert_eq!(out.code(), Some(2), "{out:?}");
    assert_eq!(
        out.stderr,
        "network-sandbox: error: invalid endpoint in --allow: port 0 is not allowed: ports are 1–65535\n  \
         --allow 127.0.0.1:0\n                    ^\n"
    );
    let out = output(&mut ns_run(Some("10.0.0.1/8:443"), &["true"]));
    assert_eq!(out.code(), Some(2), "{out:?}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert!(
        lines[0].starts_with("network-sandbox: error: invalid endpoint in --allow: "),
        "{}",
        out.stderr
    );
    assert_eq!(lines[1], "  --allow 10.0.0.1/8:443");
    // The caret line points into the value, not at the flag.
    let caret = lines[2].find('^').expect("caret");
    assert!(caret >= "  --allow ".len(), "{}", out.stderr);
}

#[test]
fn bad_policy_file_is_2_with_its_position() {
    let dir = scratch_dir("bad-policy");
    let file = dir.join("policy.toml");
    std::fs::write(&file, "allow = [\"127.0.0.2:80\", \"127.0.0.3:99999\"]\n").unwrap();
    let out = output(ns(&[
        "run",
        "--policy",
        file.to_str().unwrap(),
        "--",
        "true",
    ]));
    assert_eq!(out.code(), Some(2), "{out:?}");
    assert!(
        out.stderr.contains(&format!("{}:1:", file.display())),
        "{}",
        out.stderr
    );
    let out = output(ns(&["check", "--policy", "/nonexistent/policy.toml"]));
    assert_eq!(out.code(), Some(2), "{out:?}");
    assert!(
        out.stderr.contains("cannot read the policy file"),
        "{}",
        out.stderr
    );
}

#[test]
fn usage_errors_come_from_clap() {
    // Missing `--` before the program.
    let out = output(ns(&["run", "--allow", "127.0.0.2:80", "true"]));
    assert_eq!(out.code(), Some(2), "{out:?}");
    assert!(
        out.stderr.contains("unexpected argument 'true'"),
        "{}",
        out.stderr
    );
    // No program at all.
    let out = output(ns(&["run", "--allow", "127.0.0.2:80"]));
    assert_eq!(out.code(), Some(2), "{out:?}");
    // Unknown flag.
    let out = output(ns(&["run", "--alow", "127.0.0.2:80", "--", "true"]));
    assert_eq!(out.code(), Some(2), "{out:?}");
    assert!(out.stderr.contains("--alow"), "{}", out.stderr);
    let out = output(ns(&["run", "--fallback", "maybe", "--", "true"]));
    assert_eq!(out.code(), Some(2), "{out:?}");
}

#[test]
fn unsupported_kernel_is_125_naming_the_feature() {
    let out = output(
        ns_run(Some("127.0.0.2:80"), &["sh", "-c", "echo should-not-run"])
            .env("NETWORK_SANDBOX_SIMULATE_MISSING", "user-notif"),
    );
    assert_eq!(out.code(), Some(125), "{out:?}");
    assert!(!out.stdout.contains("should-not-run"), "{out:?}");
    assert!(
        out.stderr.contains("seccomp user notification"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--fallback deny-all"), "{}", out.stderr);

    let out = output(
        ns_run(Some("127.0.0.2:80"), &["sh", "-c", "echo should-not-run"])
            .env("NETWORK_SANDBOX_SIMULATE_MISSING", "pidfd-getfd"),
    );
    assert_eq!(out.code(), Some(125), "{out:?}");
    assert!(out.stderr.contains("pidfd_getfd"), "{}", out.stderr);
}

#[test]
fn deny_all_fallback_runs_without_network() {
    let servers = Servers::start();
    let Some(py) = python() else { return };
    let script = connect_script();
    let out = output(
        ns(&[
            "run",
            "--allow",
            &servers.allow(),
            "--fallback",
            "deny-all",
            "--",
            py.to_str().unwrap(),
            "-c",
            &script,
            &servers.allowed.host(),
            &servers.allowed.port().to_string(),
        ])
        .env("NETWORK_SANDBOX_SIMULATE_MISSING", "user-notif"),
    );
    assert_eq!(out.code(), Some(0), "{out:?}");
    assert!(out.stdout.contains("err 13"), "EACCES expected: {out:?}");
    servers.settle();
    assert_eq!(servers.allowed.connections(), 0);
}

/// A python3 that every user can run (not a shim under /root).
fn python() -> Option<std::path::PathBuf> {
    let p = std::path::Path::new("/usr/bin/python3");
    if p.exists() {
        Some(p.to_owned())
    } else {
        network_sandbox_escape_tests::skipped("/usr/bin/python3 not installed", Some("python3"));
        None
    }
}

/// Connects to argv[1]:argv[2] and prints `ok` or `err ERRNO`.
fn connect_script() -> String {
    "import socket, sys\n\
     s = socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET)\n\
     s.settimeout(5)\n\
     try:\n    s.connect((sys.argv[1], int(sys.argv[2])))\n    print('ok')\n\
     except OSError as e:\n    print('err', e.errno)\n"
        .to_owned()
}

#[test]
fn allowed_and_forbidden_as_root_and_as_nobody() {
    let Some(py) = python() else { return };
    let mut users = vec![User::Root];
    if is_root() {
        users.push(User::Nobody);
    }
    for user in users {
        let servers = Servers::start();
        for server in [&servers.allowed, &servers.forbidden, &servers.forbidden6] {
            // Control: without the sandbox, every server is reachable.
            let mut control = std::process::Command::new(&py);
            control.args([
                "-c",
                &connect_script(),
                &server.host(),
                &server.port().to_string(),
            ]);
            as_user(&mut control, user);
            let c = output(&mut control);
            assert!(
                c.stdout.contains("ok"),
                "control as {user:?} to {}: {c:?}",
                server.addr
            );
        }
        servers.settle();
        let before = (
            servers.forbidden.connections(),
            servers.forbidden6.connections(),
        );
        assert_eq!(before, (1, 1));
        for (server, expect_ok) in [
            (&servers.allowed, true),
            (&servers.forbidden, false),
            (&servers.forbidden6, false),
        ] {
            let mut cmd = ns_run(
                Some(&servers.allow()),
                &[
                    py.to_str().unwrap(),
                    "-c",
                    &connect_script(),
                    &server.host(),
                    &server.port().to_string(),
                ],
            );
            as_user(&mut cmd, user);
            let out = output(&mut cmd);
            assert_eq!(
                out.code(),
                Some(0),
                "as {user:?} to {}: {out:?}",
                server.addr
            );
            if expect_ok {
                assert_eq!(out.stdout.trim(), "ok", "as {user:?}: {out:?}");
            } else {
                assert_eq!(out.stdout.trim(), "err 13", "as {user:?}: {out:?}");
                assert!(
                    network_sandbox_escape_tests::supervisor_refused(
                        &out.stderr,
                        "connect",
                        Some(&server.addr.to_string())
                    ),
                    "{}",
                    out.stderr
                );
            }
        }
        servers.settle();
        assert_eq!(
            (
                servers.forbidden.connections(),
                servers.forbidden6.connections()
            ),
            before,
            "a forbidden server was reached under the sandbox as {user:?}"
        );
        assert_eq!(servers.allowed.connections(), 2);
    }
}

#[test]
fn quiet_reports_nothing_and_audit_lets_through() {
    let Some(py) = python() else { return };
    let servers = Servers::start();
    let host = servers.forbidden.host();
    let port = servers.forbidden.port().to_string();
    let script = connect_script();
    let prog = [py.to_str().unwrap(), "-c", &script, &host, &port];

    let mut quiet = ns(&["run", "--quiet", "--allow", &servers.allow(), "--"]);
    quiet.args(prog);
    let out = output(&mut quiet);
    assert_eq!(out.stdout.trim(), "err 13", "{out:?}");
    assert_eq!(out.stderr, "", "--quiet must report nothing");

    let mut audit = ns(&["run", "--audit", "--allow", &servers.allow(), "--"]);
    audit.args(prog);
    let out = output(&mut audit);
    assert_eq!(out.stdout.trim(), "ok", "{out:?}");
    assert!(
        out.stderr.contains("audit: would deny connect to"),
        "{}",
        out.stderr
    );
    servers.settle();
    assert_eq!(servers.forbidden.connections(), 1);
}

#[test]
fn verbose_prints_the_layers() {
    let out = output(ns(&["run", "-v", "--allow", "127.0.0.2:80", "--", "true"]));
    assert_eq!(out.code(), Some(0), "{out:?}");
    assert!(
        out.stderr.contains("L1 static filter: enforced"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("L2 supervisor: enforced"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("L3 Landlock"), "{}", out.stderr);
}

#[test]
fn policy_file_and_flags_combine() {
    let Some(py) = python() else { return };
    let servers = Servers::start();
    let dir = scratch_dir("policy-file");
    let file = dir.join("policy.toml");
    std::fs::write(
        &file,
        format!("allow = [\"{}\"]\nreport = \"off\"\n", servers.allow()),
    )
    .unwrap();
    let script = connect_script();
    let f = file.to_str().unwrap();
    let forbidden6 = servers.forbidden6.addr.to_string();
    // The file allows 127.0.0.2:P; the flag adds [::1]:P.
    let cmd = |host: String, port: String| {
        let mut c = ns(&["run", "--policy", f, "--allow", &forbidden6, "--"]);
        c.args([py.to_str().unwrap(), "-c", &script, &host, &port]);
        c
    };
    let port = servers.allowed.port().to_string();
    let out = output(&mut cmd(servers.allowed.host(), port.clone()));
    assert_eq!(out.stdout.trim(), "ok", "{out:?}");
    let out = output(&mut cmd(servers.forbidden6.host(), port.clone()));
    assert_eq!(out.stdout.trim(), "ok", "{out:?}");
    let out = output(&mut cmd(servers.forbidden.host(), port));
    assert_eq!(out.stdout.trim(), "err 13", "{out:?}");
    assert_eq!(out.stderr, "", "report = \"off\" from the file");
    servers.settle();
    assert_eq!(servers.forbidden.connections(), 0);

    // A flag that repeats an endpoint of the file is a warning naming the flag, and left
    // out; a comma-separated --allow is several endpoints.
    let out = output(ns(&[
        "check",
        "--policy",
        f,
        "--allow",
        &format!("{},{forbidden6}", servers.allow()),
    ]));
    assert_eq!(out.code(), Some(0), "{out:?}");
    assert!(
        out.stderr.contains(&format!(
            "network-sandbox: warning: --allow {}: duplicate endpoint",
            servers.allow()
        )) && out.stderr.contains("it is left out"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("policy: 2 endpoint(s)"),
        "{}",
        out.stdout
    );
    // A narrower one too.
    let out = output(ns(&["check", "--allow", "127.0.0.0/8:80,127.0.0.2:80"]));
    assert_eq!(out.code(), Some(0), "{out:?}");
    assert!(
        out.stderr
            .contains("warning: --allow 127.0.0.2:80: `127.0.0.2:80` is already allowed"),
        "{}",
        out.stderr
    );
    // An endpoint that is wrong is still an error pointing at it, in a list too.
    let out = output(ns(&["check", "--allow", "127.0.0.2:80,127.0.0.2:0"]));
    assert_eq!(out.code(), Some(2), "{out:?}");
    assert!(
        out.stderr.contains("  --allow 127.0.0.2:0\n"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_program_without_the_separator_gets_a_hint() {
    let out = output(ns(&["run", "curl", "http://127.0.0.2/"]));
    assert_eq!(out.code(), Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains("hint: put `--` before the program and its arguments"),
        "{}",
        out.stderr
    );
}

#[test]
fn check_reports_layers_without_installing() {
    let out = output(ns(&[
        "check",
        "--allow",
        "127.0.0.2:8080",
        "--allow",
        "[::1]:443",
    ]));
    assert_eq!(out.code(), Some(0), "{out:?}");
    for needle in [
        "policy: 2 endpoint(s)",
        "tcp://127.0.0.2:8080",
        "tcp://[::1]:443",
        "seccomp user notification: yes",
        "pidfd_getfd: yes",
        "Landlock:",
        "L1 static filter:",
        "io_uring",
        "L2 supervisor: enforced",
        "L3 Landlock:",
        "run would start",
    ] {
        assert!(
            out.stdout.contains(needle),
            "missing {needle:?} in\n{}",
            out.stdout
        );
    }
    let out = output(
        ns(&["check", "--allow", "127.0.0.2:80"])
            .env("NETWORK_SANDBOX_SIMULATE_MISSING", "user-notif"),
    );
    assert_eq!(out.code(), Some(1), "{out:?}");
    assert!(
        out.stdout.contains("seccomp user notification: no"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("run would refuse to start"),
        "{}",
        out.stdout
    );

    let out = output(
        ns(&["check", "--allow", "127.0.0.2:80", "--fallback", "deny-all"])
            .env("NETWORK_SANDBOX_SIMULATE_MISSING", "user-notif"),
    );
    assert_eq!(out.code(), Some(0), "{out:?}");
    assert!(out.stdout.contains("deny-all"), "{}", out.stdout);

    let out = output(ns(&["check"]));
    assert_eq!(out.code(), Some(0), "{out:?}");
    assert!(out.stdout.contains("no network at all"), "{}", out.stdout);
    assert!(
        out.stdout.contains(
            "listen: none (TCP and UDP bind to port 0 only, no TCP listen; the program's own \
             unix sockets may bind and listen)"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("L2 supervisor: enforced: the policy allows no destination")
            && out
                .stdout
                .contains("the static filter's refusals are reported by the supervisor"),
        "{}",
        out.stdout
    );
    // Without endpoints the policy needs the supervisor only for the program's own unix
    // sockets and interface queries: where it cannot run, `run` still starts (issue 12).
    let out = output(ns(&["check"]).env("NETWORK_SANDBOX_SIMULATE_MISSING", "user-notif"));
    assert_eq!(out.code(), Some(0), "{out:?}");
    assert!(
        out.stdout.contains(
            "L2 supervisor: not enforced: unavailable (seccomp user notification \
             (SECCOMP_RET_USER_NOTIF, Linux 5.0)): the policy allows no destination"
        ) && out.stdout.contains("run would start"),
        "{}",
        out.stdout
    );
    let out = output(ns(&["check", "--fallback", "landlock-ports"]));
    assert_eq!(out.code(), Some(0), "{out:?}");
    assert!(
        out.stdout.contains("no TCP listen; no unix socket either)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("L2 supervisor: enforced")
            && out
                .stdout
                .contains("the supervisor reports the static filter's refusals"),
        "{}",
        out.stdout
    );

    let out = output(ns(&["check", "--allow", "127.0.0.1:0"]));
    assert_eq!(out.code(), Some(2), "{out:?}");
    assert!(out.stderr.contains("port 0"), "{}", out.stderr);
}

#[test]
fn explain_lists_the_program() {
    for (arch, audit) in [
        ("x86_64", "AUDIT_ARCH_X86_64"),
        ("aarch64", "AUDIT_ARCH_AARCH64"),
    ] {
        let out = output(ns(&["explain", "--allow", "127.0.0.2:80", "--arch", arch]));
        assert_eq!(out.code(), Some(0), "{out:?}");
        let first = out.stdout.lines().next().unwrap();
        assert!(
            first.starts_with(&format!("seccomp program for {arch}: ")),
            "{first}"
        );
        let n: usize = first
            .rsplit(": ")
            .next()
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines[n + 1], format!("{n} instructions"), "{}", out.stdout);
        assert!(out.stdout.contains(audit), "{}", out.stdout);
        assert!(out.stdout.contains("USER_NOTIF"), "{}", out.stdout);
        // A TCP-only policy: UDP and unix datagram sockets are query sockets (issue 12).
        assert_eq!(
            &lines[n + 2..],
            [
                "",
                "query sockets (the socket() USER_NOTIF returns above): UDP (IPv4, IPv6) and \
                 unix datagram sockets are made by the supervisor, shut down so that they \
                 cannot send, for interface requests (SIOCGIF*)"
            ],
            "{}",
            out.stdout
        );
    }
    // No endpoint: connect, bind and listen are checks, and query sockets are made, as
    // with endpoints (issue 12).
    // It also lists the program installed where no supervisor can run: no check in it,
    // and the main program's listing ends before it.
    let out = output(ns(&["explain"]));
    assert_eq!(out.code(), Some(0), "{out:?}");
    let (main, second) = out
        .stdout
        .split_once("where no supervisor can run")
        .unwrap_or_else(|| panic!("no second program: {}", out.stdout));
    assert!(main.contains("USER_NOTIF\n"), "{}", out.stdout);
    assert!(main.contains("query sockets"), "{}", out.stdout);
    assert!(
        second.contains("\nseccomp program for ") && second.contains(" instructions\n"),
        "{}",
        out.stdout
    );
    assert!(!second.contains("USER_NOTIF"), "{}", out.stdout);
    assert!(second.contains("ret   ALLOW"), "{}", out.stdout);
    // A policy with endpoints has none.
    let out = output(ns(&["explain", "--allow", "127.0.0.2:80"]));
    assert!(
        !out.stdout.contains("where no supervisor can run"),
        "{}",
        out.stdout
    );
    // Under landlock-ports: connect is refused by the filter itself, no check; the refusal
    // goes to the supervisor for its line (REPORT: USER_NOTIF with the errno in the data
    // bits).
    let out = output(ns(&["explain", "--fallback", "landlock-ports"]));
    assert_eq!(out.code(), Some(0), "{out:?}");
    assert!(!out.stdout.contains("USER_NOTIF\n"), "{}", out.stdout);
    assert!(!out.stdout.contains("query sockets"), "{}", out.stdout);
    assert!(out.stdout.contains("REPORT(EACCES)"), "{}", out.stdout);
    let out = output(ns(&["explain", "--arch", "mips"]));
    assert_eq!(out.code(), Some(2), "{out:?}");
}

#[test]
fn help_has_examples_and_completions_exist() {
    let out = output(ns(&["--help"]));
    assert_eq!(out.code(), Some(0), "{out:?}");
    assert!(out.stdout.contains("Examples:"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("network-sandbox run --allow 192.0.2.1:443 -- curl"),
        "{}",
        out.stdout
    );
    let out = output(ns(&["run", "--help"]));
    assert!(out.stdout.contains("--allow <ENDPOINT>"), "{}", out.stdout);
    assert!(out.stdout.contains("--fallback <MODE>"), "{}", out.stdout);
    for shell in ["bash", "zsh", "fish"] {
        let out = output(ns(&["completions", shell]));
        assert_eq!(out.code(), Some(0), "{out:?}");
        assert!(out.stdout.contains("network-sandbox"), "{shell}");
        assert!(out.stdout.contains("allow"), "{shell}");
    }
}

/// `--keep-capability` (repeated or a comma list) is shown by `check`, in the policy and in
/// the privileges layer; `run` keeps it: the program still has it in its effective set
/// (root), and loses it without the flag (the control). A bad name is an error at the flag.
#[test]
fn keep_capability_is_shown_and_kept() {
    let out = output(ns(&[
        "check",
        "--keep-capability",
        "CAP_SYS_NICE,CAP_NET_RAW",
        "--keep-capability",
        "CAP_SYS_PTRACE",
    ]));
    assert_eq!(out.code(), Some(0), "{out:?}");
    assert!(
        out.stdout.contains(
            "keep_capabilities: CAP_NET_RAW, CAP_SYS_PTRACE, CAP_SYS_NICE (besides the default \
             list, where held)"
        ),
        "{}",
        out.stdout
    );
    let out_plain = output(ns(&["check"]));
    assert!(
        out_plain
            .stdout
            .contains("keep_capabilities: none besides the default list"),
        "{}",
        out_plain.stdout
    );

    let out = output(ns(&["check", "--keep-capability", "CAP_SYS_NIC"]));
    assert_eq!(out.code(), Some(2), "{out:?}");
    assert!(
        out.stderr.contains("did you mean `CAP_SYS_NICE`?")
            && out.stderr.contains("  --keep-capability CAP_SYS_NIC\n"),
        "{}",
        out.stderr
    );

    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("keep_capability_is_shown_and_kept: the rest needs root; skipped");
        return;
    }
    let out = output(ns(&["check", "--keep-capability", "CAP_SYS_NICE"]));
    assert!(
        out.stdout
            .contains("would keep at the policy's request: CAP_SYS_NICE"),
        "{}",
        out.stdout
    );
    // CapEff of the program, as a hex mask; CAP_SYS_NICE is bit 23.
    let cap_eff = |keep: bool| {
        let mut cmd = ns(&["run"]);
        if keep {
            cmd.args(["--keep-capability", "CAP_SYS_NICE"]);
        }
        cmd.args(["--", "grep", "^CapEff:", "/proc/self/status"]);
        let out = output(&mut cmd);
        assert_eq!(out.code(), Some(0), "{out:?}");
        let hex = out
            .stdout
            .trim()
            .trim_start_matches("CapEff:")
            .trim()
            .to_owned();
        u64::from_str_radix(&hex, 16).unwrap()
    };
    let without = cap_eff(false);
    assert_eq!(without & 1 << 23, 0, "control: dropped without the flag");
    let with = cap_eff(true);
    assert_ne!(with & 1 << 23, 0, "kept with the flag");
    assert_eq!(with & 1 << 21, 0, "CAP_SYS_ADMIN still dropped");
}

/// `log = "FILE"` in a policy file writes the structured log there (`log_allowed` adds the
/// allowed decisions); `--log` replaces the file's log; `check` shows it.
#[test]
fn a_policy_files_log_key_writes_the_structured_log() {
    let Some(py) = python() else { return };
    let servers = Servers::start();
    let dir = scratch_dir("policy-log");
    let (file, from_file, from_flag) = (
        dir.join("policy.toml"),
        dir.join("from-file.jsonl"),
        dir.join("from-flag.jsonl"),
    );
    std::fs::write(
        &file,
        format!(
            "allow = [\"{}\"]\nlog = \"{}\"\nlog_allowed = true\n",
            servers.allow(),
            from_file.display()
        ),
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let script = connect_script();
    let run = |extra: &[&str], host: String| {
        let mut c = ns(&["run", "--policy", f]);
        c.args(extra).arg("--");
        c.args([py.to_str().unwrap(), "-c", &script, &host]);
        c.arg(servers.allowed.port().to_string());
        output(c)
    };
    // Control: without the sandbox, the refused destination is reachable.
    let control = output(
        std::process::Command::new(&py)
            .args(["-c", &script, &servers.forbidden.host()])
            .arg(servers.allowed.port().to_string()),
    );
    assert_eq!(control.stdout.trim(), "ok", "{control:?}");

    let out = run(&[], servers.allowed.host());
    assert_eq!(out.stdout.trim(), "ok", "{out:?}");
    let out = run(&[], servers.forbidden.host());
    assert_eq!(out.stdout.trim(), "err 13", "{out:?}");
    let lines: Vec<String> = std::fs::read_to_string(&from_file)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let verdicts: Vec<&str> = lines
        .iter()
        .filter(|l| l.contains("\"operation\":\"connect\""))
        .map(|l| {
            if l.contains("\"verdict\":\"allowed\"") {
                "allowed"
            } else if l.contains("\"verdict\":\"denied\"") {
                "denied"
            } else {
                "other"
            }
        })
        .collect();
    assert_eq!(verdicts, ["allowed", "denied"], "{lines:#?}");

    // --log replaces the file's log.
    let flag = format!("--log={}", from_flag.display());
    let out = run(&[&flag], servers.forbidden.host());
    assert_eq!(out.stdout.trim(), "err 13", "{out:?}");
    let flagged = std::fs::read_to_string(&from_flag).unwrap();
    assert!(flagged.contains("\"verdict\":\"denied\""), "{flagged}");
    assert_eq!(
        std::fs::read_to_string(&from_file).unwrap().lines().count(),
        lines.len(),
        "the policy's log is not written when --log is given"
    );

    let out = output(ns(&["check", "--policy", f]));
    assert!(
        out.stdout
            .contains(&format!("log: {} (every decision", from_file.display())),
        "{}",
        out.stdout
    );
    servers.settle();
    assert_eq!(
        servers.forbidden.connections(),
        1,
        "the control's connection only"
    );
}
