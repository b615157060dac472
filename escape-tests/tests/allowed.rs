//! The allowed path: what the policy allows works with normal semantics, as root and as an
//! unprivileged user. Each test also checks a forbidden destination in the same run.

use std::time::Duration;

use network_sandbox_escape_tests::*;

#[test]
fn blocking_connect_exchanges_data() {
    for user in USERS {
        let s = Servers::start();
        let o = Probe::sandboxed(&[s.allow_tcp()])
            .user(user)
            .run("exchange", &[&s.allowed.arg()]);
        assert_eq!(o.result(), "ok pong", "{user:?}: {o:?}");
        assert!(eventually(Duration::from_secs(2), || s.allowed.tcp_bytes() == b"hello"));
    }
}

#[test]
fn nonblocking_connect_reports_einprogress_and_completes() {
    for user in USERS {
        let s = Servers::start();
        let o = Probe::sandboxed(&[s.allow_tcp()])
            .user(user)
            .run("connect-nonblock", &[&s.allowed.arg()]);
        assert!(o.ok(), "{user:?}: {o:?}");
        assert!(eventually(Duration::from_secs(2), || s.allowed.tcp_bytes() == b"hello"));
    }
}

#[test]
fn thousand_sequential_connects() {
    let s = Servers::start();
    let o = Probe::sandboxed(&[s.allow_tcp()]).run("connect-repeat", &[&s.allowed.arg(), "1000"]);
    assert_eq!(o.result(), "ok 1000", "{o:?}");
    assert!(eventually(Duration::from_secs(5), || s
        .allowed
        .connections()
        == 1000));
}

#[test]
fn two_hundred_concurrent_connects() {
    for user in USERS {
        let s = Servers::start();
        let o = Probe::sandboxed(&[s.allow_tcp()])
            .user(user)
            .run("connect-threads", &[&s.allowed.arg(), "200"]);
        assert_eq!(o.result(), "ok 200", "{user:?}: {o:?}");
    }
}

#[test]
fn forked_children_connect() {
    for user in USERS {
        let s = Servers::start();
        let o = Probe::sandboxed(&[s.allow_tcp()])
            .user(user)
            .run("fork-connect", &[&s.allowed.arg()]);
        assert!(o.ok(), "{user:?}: {o:?}");
        let o = Probe::sandboxed(&[s.allow_tcp()])
            .user(user)
            .run("exec-connect", &[&s.allowed.arg()]);
        assert!(o.ok(), "{user:?}: {o:?}");
    }
}

#[test]
fn ipv4_mapped_destination_of_an_allowed_host() {
    let s = Servers::start();
    let o = Probe::sandboxed(&[s.allow_tcp()]).run("connect-mapped", &[&s.allowed.arg()]);
    assert!(o.ok(), "{o:?}");
}

#[test]
fn ipv6_endpoint() {
    let s = Servers::start();
    let allow = format!("[::1]:{}", s.forbidden6.addr.port());
    let o = Probe::sandboxed(&[&allow]).run("connect", &[&s.forbidden6.arg()]);
    assert!(o.ok(), "{o:?}");
    let o = Probe::sandboxed(&[&allow]).run("connect", &[&s.allowed.arg()]);
    assert!(o.err("EACCES"), "{o:?}");
}

#[test]
fn cidr_and_port_range() {
    let s = Servers::start();
    let (p, q) = (s.allowed.addr.port(), s.other_port.addr.port());
    let (lo, hi) = (p.min(q), p.max(q));
    let allow = format!("127.0.0.0/30:{lo}-{hi}");
    for target in [&s.allowed, &s.forbidden, &s.other_port] {
        let o = Probe::sandboxed(&[&allow]).run("connect", &[&target.arg()]);
        assert!(o.ok(), "{} is inside {allow}: {o:?}", target.arg());
    }
    let o = Probe::sandboxed(&[&allow]).run("connect", &[&s.forbidden6.arg()]);
    assert!(o.err("EACCES"), "{o:?}");
    let narrow = format!("127.0.0.2/32:{p}-{p}");
    let o = Probe::sandboxed(&[&narrow]).run("connect", &[&s.other_port.arg()]);
    assert!(o.err("EACCES"), "{o:?}");
}

#[test]
fn udp_to_an_allowed_endpoint() {
    for user in USERS {
        for attempt in ["udp-sendto", "udp-connect", "udp-sendmsg", "udp-sendmmsg"] {
            let s = Servers::start();
            let o = Probe::sandboxed(&[s.allow_udp()])
                .user(user)
                .run(attempt, &[&s.allowed.arg()]);
            assert!(o.ok(), "{attempt} {user:?}: {o:?}");
            let want = if attempt == "udp-sendmmsg" { 2 } else { 1 };
            assert!(
                eventually(Duration::from_secs(2), || s.allowed.datagrams() == want),
                "{attempt}: {} datagrams",
                s.allowed.datagrams()
            );
        }
    }
}

#[test]
fn bad_input_is_answered_as_the_kernel_would_and_the_supervisor_carries_on() {
    for user in USERS {
        let s = Servers::start();
        let plain = Probe::unsandboxed()
            .user(user)
            .run("bad-input", &[&s.allowed.arg()]);
        let sandboxed = Probe::sandboxed(&[s.allow_tcp()])
            .user(user)
            .run("bad-input", &[&s.allowed.arg()]);
        assert!(plain.ok() && sandboxed.ok(), "{plain:?} {sandboxed:?}");
        assert_eq!(
            sandboxed.result(),
            plain.result(),
            "errnos differ from the kernel's"
        );
    }
}

#[test]
fn audit_mode_reports_but_allows() {
    let s = Servers::start();
    let o = Probe::sandboxed(&[s.allow_tcp()])
        .option("audit")
        .run("connect", &[&s.forbidden.arg()]);
    assert!(o.ok(), "{o:?}");
    assert!(eventually(Duration::from_secs(2), || s.forbidden.reached()));
    assert!(
        o.stderr
            .contains("network-sandbox: audit: would deny connect to 127.0.0.3:"),
        "{}",
        o.stderr
    );
}

#[test]
fn report_off_is_silent() {
    let s = Servers::start();
    let o = Probe::sandboxed(&[s.allow_tcp()])
        .option("report=off")
        .run("connect", &[&s.forbidden.arg()]);
    assert!(o.err("EACCES"), "{o:?}");
    assert!(!o.stderr.contains("denied"), "{}", o.stderr);
}
