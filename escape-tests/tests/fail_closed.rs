//! Kernels without what the exact check needs (simulated with
//! `NETWORK_SANDBOX_SIMULATE_MISSING`, which can only take features away): the default is to
//! refuse to start, naming the feature; weaker modes only when the policy opts in.

use network_sandbox_escape_tests::*;

const MISSING: &str = "NETWORK_SANDBOX_SIMULATE_MISSING";

#[test]
fn refuses_to_start_without_user_notification() {
    let s = Servers::start();
    let o = Probe::sandboxed(&[s.allow_tcp()])
        .env(MISSING, "user-notif")
        .run("connect", &[&s.forbidden.arg()]);
    assert_eq!(o.code, Some(network_sandbox::EXIT_NOT_SANDBOXED), "{o:?}");
    assert!(o.result().contains("seccomp user notification"), "{o:?}");
    s.settle();
    assert!(!s.escaped() && !s.allowed.reached());
}

#[test]
fn refuses_to_start_without_pidfd_getfd() {
    let s = Servers::start();
    let o = Probe::sandboxed(&[s.allow_tcp()])
        .env(MISSING, "pidfd-getfd")
        .run("connect", &[&s.allowed.arg()]);
    assert_eq!(o.code, Some(network_sandbox::EXIT_NOT_SANDBOXED), "{o:?}");
    assert!(o.result().contains("pidfd_getfd"), "{o:?}");
}

#[test]
fn deny_all_fallback_refuses_every_connect() {
    let s = Servers::start();
    let p = Probe::sandboxed(&[s.allow_tcp()])
        .option("fallback=deny-all")
        .env(MISSING, "user-notif");
    let o = p.run("connect", &[&s.allowed.arg()]);
    // The static filter answers EACCES itself: no supervisor, no line.
    o.assert_refused_silently("EACCES");
    assert!(o.stderr.contains("fallback \"deny-all\""), "{}", o.stderr);
    s.settle();
    assert!(!s.allowed.reached());
    // The policy's errno, not a fixed one: the fallback answers what the policy chose.
    let o = Probe::sandboxed(&[s.allow_tcp()])
        .option("fallback=deny-all")
        .option("deny_errno=ENETUNREACH")
        .env(MISSING, "user-notif")
        .run("connect", &[&s.allowed.arg()]);
    o.assert_refused_silently("ENETUNREACH");
    s.settle();
    assert!(!s.allowed.reached());
}

/// Landlock as the only wall: the allowed port works on any host (Landlock rules are
/// port-only), any other port is refused. This is L3 holding on its own.
#[test]
fn landlock_ports_fallback_checks_ports_only() {
    for user in USERS {
        let s = Servers::start();
        let p = Probe::sandboxed(&[s.allow_tcp()])
            .option("fallback=landlock-ports")
            .env(MISSING, "user-notif")
            .user(user);
        assert!(p.run("connect", &[&s.allowed.arg()]).ok());
        let o = p.run("connect", &[&s.other_port.arg()]);
        // Refused by Landlock: no supervisor line.
        o.assert_refused_silently("EACCES");
        s.settle();
        assert!(!s.other_port.reached());
        let o = p.run("connect", &[&s.forbidden.arg()]);
        assert!(
            o.ok(),
            "documented limit: Landlock does not check the host: {o:?}"
        );
        // The control: without the sandbox the other port is reachable.
        assert!(Probe::unsandboxed()
            .user(user)
            .run("connect", &[&s.other_port.arg()])
            .ok());
    }
}

#[test]
fn landlock_ports_fallback_refused_without_landlock() {
    let s = Servers::start();
    let o = Probe::sandboxed(&[s.allow_tcp()])
        .option("fallback=landlock-ports")
        .env(MISSING, "user-notif,landlock")
        .run("connect", &[&s.allowed.arg()]);
    assert_eq!(o.code, Some(network_sandbox::EXIT_NOT_SANDBOXED), "{o:?}");
}

#[test]
fn without_landlock_the_report_says_so_and_the_supervisor_still_holds() {
    let s = Servers::start();
    let p = Probe::sandboxed(&[s.allow_tcp()]).env(MISSING, "landlock");
    let o = p.run("connect", &[&s.forbidden.arg()]);
    o.assert_refused_by_supervisor("EACCES", "connect", &s.forbidden.arg());
    assert!(
        o.stderr.contains("L3 Landlock: not enforced"),
        "{}",
        o.stderr
    );
    assert!(p.run("connect", &[&s.allowed.arg()]).ok());
}

/// Landlock and the filter would cover the calling thread only, so a process that already
/// runs a second thread is refused, and nothing is installed. The control: the same probe
/// without the extra thread installs and is refused the forbidden connect.
#[test]
fn refuses_to_install_in_a_multithreaded_process() {
    for user in USERS {
        let s = Servers::start();
        let o = Probe::sandboxed(&[s.allow_tcp()])
            .option("--thread-first")
            .user(user)
            .run("connect", &[&s.forbidden.arg()]);
        assert_eq!(o.code, Some(network_sandbox::EXIT_NOT_SANDBOXED), "{o:?}");
        assert!(o.result().starts_with("refused "), "{o:?}");
        assert!(o.result().contains("already has 2 threads"), "{o:?}");
        s.settle();
        assert!(!s.escaped() && !s.allowed.reached(), "{o:?}");
        let o = Probe::sandboxed(&[s.allow_tcp()])
            .user(user)
            .run("connect", &[&s.forbidden.arg()]);
        o.assert_refused_by_supervisor("EACCES", "connect", &s.forbidden.arg());
    }
}
