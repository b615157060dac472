//! Each layer holding **alone**: the sandbox installed without one layer through the
//! library's test-only switch (`network_sandbox::test_switch`, enabled by this crate's probe
//! in debug builds only; see docs/TESTING.md), so a layer that silently stopped working
//! cannot hide behind another.
//!
//! - L1 without L2 and L3: the static filter's own refusals (UDP sockets without a UDP
//!   endpoint, TCP Fast Open, io_uring, packet sockets) hold, while connects, which L1 hands
//!   to the supervisor, now go through: the switch really took the supervisor away.
//! - L2 without L3: the supervisor refuses another host and another port of the allowed
//!   host, and says so.
//! - L3 without L2: Landlock's port rules refuse another port (no supervisor line), and,
//!   as documented, let another host on the allowed port through; Landlock refuses a TCP
//!   bind.
//!
//! Each sandboxed attempt has its control (the same attempt without the sandbox reaches the
//! target), as root and as an unprivileged user.

use std::time::Duration;

use network_sandbox_escape_tests::*;

/// The control: `attempt` on `target` reaches it without the sandbox.
fn control(user: User, attempt: &str, target: &Recorder) {
    let c = Probe::unsandboxed()
        .user(user)
        .run(attempt, &[&target.arg()]);
    assert!(
        eventually(Duration::from_secs(15), || target.reached()),
        "control {attempt} to {} as {user:?}: {c:?}",
        target.arg()
    );
}

#[test]
fn the_static_filter_alone() {
    for user in USERS {
        for (attempt, errno) in [
            ("tfo-sendto", "EACCES"),
            ("tfo-sendmsg", "EACCES"),
            ("udp-sendto", "EACCES"),
            ("udp-sendmmsg", "EACCES"),
            ("io-uring-connect", "ENOSYS"),
        ] {
            let s = Servers::start();
            control(user, attempt, &s.forbidden);
            let s = Servers::start();
            let mut probe = Probe::sandboxed(&[s.allow_tcp()]);
            if attempt.starts_with("udp-") {
                // Under a TCP-only policy a UDP socket is a query socket (issue 12): L1 hands
                // it to the supervisor, which makes it shut down, so without L2 (the switch
                // lets every check through) nothing of L1 is left to hold it. L1's own UDP
                // rule holds where no query sockets are made: `landlock-ports`.
                probe = probe.option("fallback=landlock-ports");
            }
            let o = probe
                .leave_out("L2")
                .leave_out("L3")
                .user(user)
                .run(attempt, &[&s.forbidden.arg()]);
            o.assert_refused_silently(errno);
            assert!(
                o.stderr.contains("L2 supervisor: not enforced: left out"),
                "{o:?}"
            );
            assert!(
                o.stderr.contains("L3 Landlock: not enforced: left out"),
                "{o:?}"
            );
            s.settle();
            assert!(!s.escaped(), "{attempt} as {user:?} escaped L1: {o:?}");
        }
        // The switch is real: without the supervisor a forbidden connect goes through.
        let s = Servers::start();
        let o = Probe::sandboxed(&[s.allow_tcp()])
            .leave_out("L2")
            .leave_out("L3")
            .user(user)
            .run("connect", &[&s.forbidden.arg()]);
        assert!(o.ok(), "{o:?}");
        // And the packet socket, root only (CAP_NET_RAW).
        if user == User::Root {
            let args = ["17", "3", "0"];
            assert!(Probe::unsandboxed().run("socket", &args).ok());
            let o = Probe::sandboxed(&[s.allow_tcp()])
                .leave_out("L2")
                .leave_out("L3")
                .run("socket", &args);
            o.assert_refused_silently("EACCES");
        }
    }
}

#[test]
fn the_supervisor_without_landlock() {
    for user in USERS {
        let s = Servers::start();
        control(user, "connect", &s.other_port);
        control(user, "connect", &s.forbidden);
        control(user, "connect", &s.forbidden6);
        let s = Servers::start();
        let p = Probe::sandboxed(&[s.allow_tcp()])
            .leave_out("L3")
            .user(user);
        for target in [&s.other_port, &s.forbidden, &s.forbidden6] {
            let o = p.run("connect", &[&target.arg()]);
            o.assert_refused_by_supervisor("EACCES", "connect", &target.arg());
            assert!(
                o.stderr.contains("L3 Landlock: not enforced: left out"),
                "{o:?}"
            );
        }
        s.settle();
        assert!(!s.escaped(), "as {user:?}");
        let o = p.run("exchange", &[&s.allowed.arg()]);
        assert_eq!(o.result(), "ok pong", "{o:?}");
    }
}

#[test]
fn landlock_without_the_supervisor() {
    for user in USERS {
        let s = Servers::start();
        control(user, "connect", &s.other_port);
        let s = Servers::start();
        let p = Probe::sandboxed(&[s.allow_tcp()])
            .leave_out("L2")
            .user(user);
        let o = p.run("connect", &[&s.other_port.arg()]);
        o.assert_refused_silently("EACCES");
        assert!(
            o.stderr.contains("L2 supervisor: not enforced: left out"),
            "{o:?}"
        );
        assert!(o.stderr.contains("L3 Landlock: enforced"), "{o:?}");
        s.settle();
        assert_eq!(s.other_port.connections(), 0, "as {user:?}: {o:?}");
        // The allowed port works; Landlock checks ports only, so another host on the
        // allowed port goes through (the supervisor is what checks hosts).
        assert_eq!(p.run("exchange", &[&s.allowed.arg()]).result(), "ok pong");
        assert!(p.run("connect", &[&s.forbidden.arg()]).ok());
    }
}

/// Landlock's other rule, alone: TCP bind to port 0 only. `bind` is not refused by the
/// static filter (bind before connect) but sent to the supervisor; with the supervisor left
/// out it reaches the kernel, where Landlock refuses a TCP bind to a fixed port, lets one to
/// port 0 through, and lets the UDP one through (Landlock has no UDP rules).
#[test]
fn landlock_refuses_tcp_bind_without_the_supervisor() {
    for user in USERS {
        for attempt in ["bind", "bind-udp"] {
            let c = Probe::unsandboxed()
                .user(user)
                .run(attempt, &["127.0.0.2:28996"]);
            assert!(c.ok(), "control {attempt} as {user:?}: {c:?}");
        }
        let p = Probe::sandboxed(&["127.0.0.2:443", "udp://127.0.0.2:53"])
            .leave_out("L2")
            .user(user);
        let o = p.run("bind", &["127.0.0.2:28996"]);
        o.assert_refused_silently("EACCES");
        assert!(o.stderr.contains("TCP bind only to port 0"), "{o:?}");
        let o = p.run("bind", &["127.0.0.2:0"]);
        assert!(o.ok(), "{o:?}");
        let o = p.run("bind-udp", &["127.0.0.2:28996"]);
        assert!(o.ok(), "{o:?}");
    }
}
