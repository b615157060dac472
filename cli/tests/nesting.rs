//! `network-sandbox run` inside another one: it says so in one line and never reports a layer
//! as enforced when it is not. An outer sandbox refuses `pidfd_getfd`, so an inner supervisor
//! cannot run; the inner run refuses to start, except with `fallback = "deny-all"`, which
//! needs no supervisor. `landlock-ports` refuses too: the outer supervisor performs connects
//! outside the inner Landlock domain, so inner port rules would not hold. A policy without
//! any endpoint starts anyway (issue 12): every check refused outright.

mod common;

use std::net::TcpListener;

use common::{as_user, bin, is_root, ns, output, User};

const NESTED: &str = "this process already runs inside another sandbox";

fn users() -> Vec<User> {
    if is_root() {
        vec![User::Root, User::Nobody]
    } else {
        vec![User::Root]
    }
}

/// `network-sandbox run --allow ALLOW -- network-sandbox INNER…` when `outer`, else the inner
/// command alone (the control).
fn run(outer: bool, allow: &str, inner: &[&str], user: User) -> common::Output {
    let mut cmd = if outer {
        let mut c = ns(&["run", "--allow", allow, "--"]);
        c.arg(bin()).args(inner);
        c
    } else {
        ns(inner)
    };
    as_user(&mut cmd, user);
    output(cmd)
}

#[test]
fn a_nested_run_refuses_to_start_in_one_clear_line() {
    let server = TcpListener::bind("127.0.0.2:0").unwrap();
    let allow = server.local_addr().unwrap().to_string();
    let inner = ["run", "--allow", allow.as_str(), "--", "true"];
    for user in users() {
        let control = run(false, &allow, &inner, user);
        assert_eq!(control.code(), Some(0), "{user:?}: {control:?}");
        let out = run(true, &allow, &inner, user);
        assert_eq!(out.code(), Some(125), "{user:?}: {out:?}");
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{user:?}: one line: {out:?}");
        assert!(lines[0].contains(NESTED), "{user:?}: {out:?}");
        assert!(
            !out.stderr.contains("lacks"),
            "{user:?}: no missing feature: {out:?}"
        );
    }
}

#[test]
fn check_inside_another_sandbox_says_so_and_not_that_the_kernel_lacks_pidfd_getfd() {
    let allow = "127.0.0.2:9";
    let inner = ["check", "--allow", allow];
    for user in users() {
        let control = run(false, allow, &inner, user);
        assert!(control.stdout.contains("pidfd_getfd: yes\n"), "{control:?}");
        assert_eq!(control.code(), Some(0), "{control:?}");
        let out = run(true, allow, &inner, user);
        assert!(
            out.stdout
                .contains("pidfd_getfd: yes, but refused here: inside another sandbox"),
            "{user:?}: {out:?}"
        );
        assert!(out.stdout.contains(NESTED), "{user:?}: {out:?}");
        assert_eq!(
            out.code(),
            Some(1),
            "{user:?}: check says run would refuse: {out:?}"
        );
    }
}

#[test]
fn nested_fallbacks_deny_all_refuses_every_connect_and_landlock_ports_refuses_to_start() {
    let server = TcpListener::bind("127.0.0.2:0").unwrap();
    let addr = server.local_addr().unwrap();
    let allow = addr.to_string();
    let connect = format!("echo > /dev/tcp/{}/{}", addr.ip(), addr.port());
    for user in users() {
        let deny_all = [
            "run",
            "-v",
            "--fallback",
            "deny-all",
            "--allow",
            allow.as_str(),
            "--",
            "bash",
            "-c",
            connect.as_str(),
        ];
        // Control: alone, the supervisor runs and the allowed connect succeeds.
        let control = run(false, &allow, &deny_all, user);
        assert_eq!(control.code(), Some(0), "{user:?}: {control:?}");
        assert!(
            control.stderr.contains("L2 supervisor: enforced"),
            "{control:?}"
        );
        let out = run(true, &allow, &deny_all, user);
        assert_ne!(out.code(), Some(0), "{user:?}: {out:?}");
        assert!(out.stderr.contains("connect: Permission denied"), "{out:?}");
        assert!(
            out.stderr.contains(
                "L2 supervisor: not enforced: unavailable inside another sandbox; fallback \
                 \"deny-all\""
            ),
            "{user:?}: {out:?}"
        );

        let ports = [
            "run",
            "--fallback",
            "landlock-ports",
            "--allow",
            allow.as_str(),
            "--",
            "true",
        ];
        let control = run(false, &allow, &ports, user);
        assert_eq!(control.code(), Some(0), "{user:?}: {control:?}");
        let out = run(true, &allow, &ports, user);
        assert_eq!(out.code(), Some(125), "{user:?}: {out:?}");
        assert!(out.stderr.contains(NESTED), "{user:?}: {out:?}");
    }
}

/// `argv[1]`: a loopback TCP port to connect to. Binds a TCP socket to port 0, tries to
/// listen on it and to connect to the port, and prints what each did.
const NO_NETWORK: &str = "import socket, sys
def attempt(f):
    try:
        f()
        return 'ok'
    except OSError as e:
        return 'errno %d' % e.errno
s = socket.socket()
b = attempt(lambda: s.bind(('127.0.0.1', 0)))
l = attempt(lambda: s.listen())
c = attempt(lambda: socket.socket().connect(('127.0.0.1', int(sys.argv[1]))))
print('bind', b, 'listen', l, 'connect', c, flush=True)";

/// A policy without any endpoint whose supervisor cannot run (here: inside another sandbox)
/// still starts, whatever its fallback (issue 12): every check is refused outright, which
/// loses nothing the policy allows, binds stay as the kernel and Landlock have them, and
/// the L2 line says what needs the supervisor. Alone (the control), the supervisor runs and
/// a TCP socket may not listen either, but a unix one may (`unix.rs`).
#[test]
fn a_nested_run_without_endpoints_starts_and_says_what_needs_the_supervisor() {
    let Some(python) = common::python() else {
        return;
    };
    let python = python.to_str().unwrap().to_owned();
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port().to_string();
    let inner = ["run", "-v", "--", &python, "-c", NO_NETWORK, &port];
    for user in users() {
        let control = run(false, "127.0.0.2:9", &inner, user);
        assert_eq!(control.code(), Some(0), "{user:?}: {control:?}");
        assert_eq!(
            control.stdout.trim(),
            "bind ok listen errno 13 connect errno 13",
            "{control:?}"
        );
        assert!(
            control
                .stderr
                .contains("L2 supervisor: enforced: the policy allows no destination"),
            "{control:?}"
        );
        let out = run(true, "127.0.0.2:9", &inner, user);
        assert_eq!(out.code(), Some(0), "{user:?}: {out:?}");
        assert_eq!(
            out.stdout.trim(),
            "bind ok listen errno 13 connect errno 13",
            "{user:?}: {out:?}"
        );
        assert!(
            out.stderr.contains(
                "L2 supervisor: not enforced: unavailable inside another sandbox: the policy \
                 allows no destination, so every connect is refused by the static filter all \
                 the same; the program's own unix sockets"
            ),
            "{user:?}: {out:?}"
        );
        assert!(
            out.stderr.contains("every connect (no endpoint)") && out.stderr.contains("; listen;"),
            "{user:?}: the L1 line says so: {out:?}"
        );
        assert!(!out.stderr.contains(NESTED), "{user:?}: {out:?}");

        // The same where the kernel lacks a feature (simulated): it starts, and says which.
        let mut cmd = ns(&inner);
        cmd.env("NETWORK_SANDBOX_SIMULATE_MISSING", "user-notif");
        as_user(&mut cmd, user);
        let out = output(cmd);
        assert_eq!(out.code(), Some(0), "{user:?}: {out:?}");
        assert_eq!(
            out.stdout.trim(),
            "bind ok listen errno 13 connect errno 13",
            "{user:?}: {out:?}"
        );
        assert!(
            out.stderr.contains(
                "L2 supervisor: not enforced: unavailable (seccomp user notification \
                 (SECCOMP_RET_USER_NOTIF, Linux 5.0)): the policy allows no destination"
            ),
            "{user:?}: {out:?}"
        );
    }
}
