//! The allowed path: what the policy allows works with normal semantics, as root and as an
//! unprivileged user. Each test also checks a forbidden destination in the same run.

use std::time::Duration;

use network_sandbox_escape_tests::*;

/// The other half of every test here: the same attempt, under the same policy, to a
/// forbidden destination is refused by the supervisor (errno and line), and nothing
/// forbidden was reached.
#[track_caller]
fn forbidden_refused(user: User, s: &Servers, allow: &[String], attempt: &str, op: &str) {
    let o = Probe::sandboxed(allow)
        .user(user)
        .run(attempt, &[&s.forbidden.arg()]);
    o.assert_refused_by_supervisor("EACCES", op, &s.forbidden.arg());
    s.settle();
    assert!(!s.escaped(), "{attempt} as {user:?}: {o:?}");
}

#[test]
fn blocking_connect_exchanges_data() {
    for user in USERS {
        let s = Servers::start();
        let o = Probe::sandboxed(&[s.allow_tcp()])
            .user(user)
            .run("exchange", &[&s.allowed.arg()]);
        assert_eq!(o.result(), "ok pong", "{user:?}: {o:?}");
        assert!(eventually(Duration::from_secs(15), || s
            .allowed
            .tcp_bytes()
            == b"hello"));
        forbidden_refused(user, &s, &[s.allow_tcp()], "exchange", "connect");
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
        assert!(eventually(Duration::from_secs(15), || s
            .allowed
            .tcp_bytes()
            == b"hello"));
        forbidden_refused(user, &s, &[s.allow_tcp()], "connect-nonblock", "connect");
    }
}

#[test]
fn thousand_sequential_connects() {
    let s = Servers::start();
    let o = Probe::sandboxed(&[s.allow_tcp()]).run("connect-repeat", &[&s.allowed.arg(), "1000"]);
    assert_eq!(o.result(), "ok 1000", "{o:?}");
    assert!(eventually(Duration::from_secs(15), || s
        .allowed
        .connections()
        == 1000));
    // Exactly: nothing more arrives once the queue is drained.
    s.settle();
    assert_eq!(s.allowed.connections(), 1000);
    forbidden_refused(User::Root, &s, &[s.allow_tcp()], "connect", "connect");
}

#[test]
fn two_hundred_concurrent_connects() {
    for user in USERS {
        let s = Servers::start();
        let o = Probe::sandboxed(&[s.allow_tcp()])
            .user(user)
            .run("connect-threads", &[&s.allowed.arg(), "200"]);
        assert_eq!(o.result(), "ok 200", "{user:?}: {o:?}");
        assert!(eventually(Duration::from_secs(15), || s
            .allowed
            .connections()
            == 200));
        s.settle();
        assert_eq!(s.allowed.connections(), 200);
        forbidden_refused(user, &s, &[s.allow_tcp()], "connect", "connect");
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
        forbidden_refused(user, &s, &[s.allow_tcp()], "fork-connect", "connect");
        forbidden_refused(user, &s, &[s.allow_tcp()], "exec-connect", "connect");
    }
}

#[test]
fn ipv4_mapped_destination_of_an_allowed_host() {
    let s = Servers::start();
    let o = Probe::sandboxed(&[s.allow_tcp()]).run("connect-mapped", &[&s.allowed.arg()]);
    assert!(o.ok(), "{o:?}");
    assert!(eventually(Duration::from_secs(15), || s
        .allowed
        .connections()
        == 1));
    let o = Probe::sandboxed(&[s.allow_tcp()]).run("connect-mapped", &[&s.forbidden.arg()]);
    let mapped = format!(
        "[::ffff:{}]:{}",
        s.forbidden.addr.ip(),
        s.forbidden.addr.port()
    );
    o.assert_refused_by_supervisor("EACCES", "connect", &mapped);
    s.settle();
    assert!(!s.escaped(), "{o:?}");
}

#[test]
fn ipv6_endpoint() {
    let s = Servers::start();
    let allow = format!("[::1]:{}", s.forbidden6.addr.port());
    let o = Probe::sandboxed(&[&allow]).run("connect", &[&s.forbidden6.arg()]);
    assert!(o.ok(), "{o:?}");
    let o = Probe::sandboxed(&[&allow]).run("connect", &[&s.allowed.arg()]);
    o.assert_refused_by_supervisor("EACCES", "connect", &s.allowed.arg());
    s.settle();
    assert_eq!(s.allowed.connections(), 0, "{o:?}");
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
    o.assert_refused_by_supervisor("EACCES", "connect", &s.forbidden6.arg());
    let narrow = format!("127.0.0.2/32:{p}-{p}");
    let o = Probe::sandboxed(&[&narrow]).run("connect", &[&s.other_port.arg()]);
    o.assert_refused_by_supervisor("EACCES", "connect", &s.other_port.arg());
    s.settle();
    assert_eq!(s.forbidden6.connections(), 0);
    assert_eq!(
        s.other_port.connections(),
        1,
        "only the run that allowed it"
    );
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
                eventually(Duration::from_secs(15), || s.allowed.datagrams() == want),
                "{attempt}: {} datagrams",
                s.allowed.datagrams()
            );
            s.settle();
            assert_eq!(s.allowed.datagrams(), want, "{attempt}: exactly");
            let op = if attempt == "udp-connect" {
                "connect"
            } else {
                "send"
            };
            forbidden_refused(user, &s, &[s.allow_udp()], attempt, op);
        }
    }
}

#[test]
fn udp_clients_may_bind_to_port_zero_before_sending() {
    for user in USERS {
        let s = Servers::start();
        let o = Probe::sandboxed(&[s.allow_udp()])
            .user(user)
            .run("udp-bind0-send", &[&s.allowed.arg()]);
        assert!(o.ok(), "{user:?}: {o:?}");
        assert!(eventually(Duration::from_secs(15), || s
            .allowed
            .datagrams()
            == 1));
        let o = Probe::sandboxed(&[s.allow_udp()])
            .user(user)
            .run("udp-bind0-send", &[&s.forbidden.arg()]);
        o.assert_refused_by_supervisor("EACCES", "send", &s.forbidden.arg());
        s.settle();
        assert!(!s.escaped(), "{user:?}: {o:?}");
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
        // After all that, the supervisor still refuses what it must.
        forbidden_refused(user, &s, &[s.allow_tcp()], "connect", "connect");
    }
}

/// `sendto` with an address pointer and an address length of 0 on a connected TCP socket:
/// the kernel ignores the empty name and sends; so must the supervisor. With a UDP endpoint
/// in the policy, so that the call goes to the supervisor at all (with TCP only, the filter
/// lets `sendto` without `MSG_FASTOPEN` through). Kills the mutant `check_len`: `len < 0` →
/// `len <= 0`, which answers `EINVAL` instead.
#[test]
fn sendto_with_an_empty_address_on_tcp_is_answered_as_the_kernel_would() {
    for user in USERS {
        let s = Servers::start();
        let plain = Probe::unsandboxed()
            .user(user)
            .run("sendto-len0", &[&s.allowed.arg(), "tcp"]);
        assert_eq!(plain.result(), "ok 5", "control as {user:?}: {plain:?}");
        let o = Probe::sandboxed(&[s.allow_tcp(), s.allow_udp()])
            .user(user)
            .run("sendto-len0", &[&s.allowed.arg(), "tcp"]);
        assert_eq!(o.result(), plain.result(), "as {user:?}: {o:?}");
        assert!(!any_supervisor_line(&o.stderr), "{o:?}");
    }
}

/// The same on a connected UDP socket: the kernel answers `EINVAL` (a name too short for
/// its family), and so does the sandbox (the supervisor passes the empty name on).
#[test]
fn sendto_with_an_empty_address_on_udp_is_answered_as_the_kernel_would() {
    for user in USERS {
        let s = Servers::start();
        let plain = Probe::unsandboxed()
            .user(user)
            .run("sendto-len0", &[&s.allowed.arg(), "udp"]);
        assert_eq!(
            plain.result(),
            "err EINVAL",
            "control as {user:?}: {plain:?}"
        );
        let o = Probe::sandboxed(&[s.allow_udp()])
            .user(user)
            .run("sendto-len0", &[&s.allowed.arg(), "udp"]);
        assert_eq!(o.result(), plain.result(), "as {user:?}: {o:?}");
    }
}

#[test]
fn audit_mode_reports_but_allows() {
    let s = Servers::start();
    let o = Probe::sandboxed(&[s.allow_tcp()])
        .option("audit")
        .run("connect", &[&s.forbidden.arg()]);
    assert!(o.ok(), "{o:?}");
    assert!(eventually(Duration::from_secs(15), || s
        .forbidden
        .reached()));
    assert!(
        o.stderr.contains(&format!(
            "network-sandbox: audit: would deny connect to {} ",
            s.forbidden.arg()
        )),
        "{}",
        o.stderr
    );
    // The allowed one is not reported.
    let o = Probe::sandboxed(&[s.allow_tcp()])
        .option("audit")
        .run("connect", &[&s.allowed.arg()]);
    assert!(o.ok() && !any_supervisor_line(&o.stderr), "{o:?}");
}

#[test]
fn violations_go_to_the_hook_instead_of_stderr() {
    let s = Servers::start();
    let file = std::env::temp_dir().join(format!("ns-hook-{}", std::process::id()));
    let _ = std::fs::remove_file(&file);
    let o = Probe::sandboxed(&[s.allow_tcp()])
        .hook()
        .env("PROBE_HOOK_FILE", file.to_str().unwrap())
        .run("connect", &[&s.forbidden.arg()]);
    assert!(o.err("EACCES"), "{o:?}");
    assert!(!any_supervisor_line(&o.stderr), "{o:?}");
    let written = std::fs::read_to_string(&file).unwrap_or_default();
    let _ = std::fs::remove_file(&file);
    assert!(
        written.contains("hook: network-sandbox: denied connect to 127.0.0.3:"),
        "{written:?}"
    );
    assert!(!o.stderr.contains("denied connect"), "{}", o.stderr);
}

#[test]
fn report_off_is_silent() {
    let s = Servers::start();
    let o = Probe::sandboxed(&[s.allow_tcp()])
        .option("report=off")
        .run("connect", &[&s.forbidden.arg()]);
    o.assert_refused_silently("EACCES");
    s.settle();
    assert!(!s.escaped(), "{o:?}");
    // The control of the silence: the same refusal, reported.
    forbidden_refused(User::Root, &s, &[s.allow_tcp()], "connect", "connect");
}

/// A listener whose accept queue is already full: further SYNs are dropped, so a blocking
/// connect to it waits.
struct StalledServer {
    fd: i32,
    fillers: Vec<std::net::TcpStream>,
    addr: std::net::SocketAddr,
}

impl StalledServer {
    fn start() -> StalledServer {
        // SAFETY: plain socket calls on a fresh fd; the address struct is local.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
            let mut sin: libc::sockaddr_in = std::mem::zeroed();
            sin.sin_family = libc::AF_INET as u16;
            sin.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 2]);
            assert_eq!(
                libc::bind(fd, (&sin as *const libc::sockaddr_in).cast(), 16),
                0
            );
            assert_eq!(libc::listen(fd, 0), 0);
            let mut len = 16 as libc::socklen_t;
            libc::getsockname(fd, (&mut sin as *mut libc::sockaddr_in).cast(), &mut len);
            let addr = std::net::SocketAddr::from(([127, 0, 0, 2], u16::from_be(sin.sin_port)));
            let mut fillers = Vec::new();
            for _ in 0..3 {
                if let Ok(s) =
                    std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200))
                {
                    fillers.push(s);
                }
            }
            StalledServer { fd, fillers, addr }
        }
    }
}

impl Drop for StalledServer {
    fn drop(&mut self) {
        self.fillers.clear();
        // SAFETY: closes the fd this guard owns.
        unsafe { libc::close(self.fd) };
    }
}

#[test]
fn a_blocking_connect_that_hangs_does_not_hold_up_others() {
    let s = Servers::start();
    let stalled = StalledServer::start();
    // The control: a connect to the stalled server really does hang (here: times out).
    let probe = std::net::TcpStream::connect_timeout(&stalled.addr, Duration::from_millis(500));
    assert!(
        probe.is_err(),
        "the stalled server must not accept: {probe:?}"
    );
    let allow = [s.allow_tcp(), format!("127.0.0.2:{}", stalled.addr.port())];
    let o = Probe::sandboxed(&allow).run(
        "stalled-and-normal",
        &[&stalled.addr.to_string(), &s.allowed.arg()],
    );
    assert!(o.ok(), "{o:?}");
    let normal_ms: u64 = o
        .result()
        .split("normal=")
        .nth(1)
        .and_then(|r| r.split("ms").next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    // Generous: the point is that it does not wait for the stalled connect (6 s).
    assert!(normal_ms < 4000, "{o:?}");
    assert!(
        o.result().contains("stalled=") && !o.result().contains("/connected"),
        "{o:?}"
    );
    forbidden_refused(User::Root, &s, &allow, "connect", "connect");
}

/// A process that makes itself non-dumpable cannot be inspected by an unprivileged
/// supervisor: its connects are refused (closed, never open) and the refusal is reported.
/// (A root supervisor can still inspect it, so this runs as the unprivileged user only.)
#[test]
fn an_uninspectable_process_is_refused_and_told_why() {
    let s = Servers::start();
    let control = Probe::unsandboxed()
        .user(User::Nobody)
        .run("nondumpable-connect", &[&s.allowed.arg()]);
    assert!(control.ok(), "{control:?}");
    let o = Probe::sandboxed(&[s.allow_tcp()])
        .user(User::Nobody)
        .run("nondumpable-connect", &[&s.allowed.arg()]);
    assert!(o.err("EACCES"), "{o:?}");
    assert!(
        o.stderr
            .contains("the supervisor cannot inspect the process"),
        "{}",
        o.stderr
    );
}
