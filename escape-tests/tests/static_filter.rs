//! L1, the static filter, with real system calls: each refused call works without the
//! sandbox (the control) and fails as specified with it, as root and unprivileged.

use network_sandbox_escape_tests::*;

const AF_UNIX: i32 = 1;
const AF_INET: i32 = 2;
const AF_NETLINK: i32 = 16;
const AF_PACKET: i32 = 17;
const AF_INET6: i32 = 10;
const SOCK_STREAM: i32 = 1;
const SOCK_DGRAM: i32 = 2;
const SOCK_RAW: i32 = 3;

/// A TCP-only policy, and one with a UDP endpoint too: the socket rules differ.
const TCP_POLICY: &[&str] = &["127.0.0.2:443"];
const UDP_POLICY: &[&str] = &["127.0.0.2:443", "udp://127.0.0.2:53"];

fn socket_case(args: [i32; 3], root_only: bool, expect: &str) {
    socket_case_with(TCP_POLICY, args, root_only, expect);
    socket_case_with(UDP_POLICY, args, root_only, expect);
}

/// socket(`args`) works without the sandbox and fails with `expect` under `policy`, from
/// the static filter, which the supervisor reports.
fn socket_case_with(policy: &[&str], args: [i32; 3], root_only: bool, expect: &str) {
    let a: Vec<String> = args.iter().map(i32::to_string).collect();
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    for user in USERS {
        if root_only && user == User::Nobody {
            continue;
        }
        let control = Probe::unsandboxed().user(user).run("socket", &a);
        assert!(
            control.ok(),
            "control socket{args:?} as {user:?}: {control:?}"
        );
        let o = Probe::sandboxed(policy).user(user).run("socket", &a);
        o.assert_refused_by_static_filter(expect, "socket");
    }
}

#[test]
fn no_new_privs_and_filter_mode() {
    for user in USERS {
        let control = Probe::unsandboxed().user(user).run("status", &[]);
        assert_eq!(control.result(), "ok nnp=0 seccomp=0");
        let o = Probe::sandboxed(&["127.0.0.2:443"])
            .user(user)
            .run("status", &[]);
        assert_eq!(o.result(), "ok nnp=1 seccomp=2", "{o:?}");
    }
}

/// `SOCK_DGRAM` too: with a UDP policy that type is allowed for IP, so only the family
/// rule refuses these.
#[test]
fn packet_sockets() {
    socket_case([AF_PACKET, SOCK_RAW, 0], true, "EACCES");
    socket_case([AF_PACKET, SOCK_DGRAM, 0], true, "EACCES");
}

#[test]
fn raw_ip_sockets() {
    socket_case([AF_INET, SOCK_RAW, 6], true, "EACCES");
}

/// Netlink: route sockets (interface listing, issue 12) open; every other protocol is
/// refused — sock_diag (4), xfrm (6), audit (9), netfilter (12), uevent (15), generic (16).
/// A policy that keeps `CAP_NET_ADMIN` (12) or `CAP_NET_RAW` (13) keeps route sockets
/// refused too: the missing capability is what stops a route socket from changing anything.
#[test]
fn netlink_sockets() {
    for proto in [4, 6, 9, 12, 15, 16] {
        socket_case([AF_NETLINK, SOCK_RAW, proto], false, "EACCES");
    }
    for user in USERS {
        for ty in ["3", "2"] {
            let o = Probe::sandboxed(TCP_POLICY)
                .user(user)
                .run("socket", &["16", ty, "0"]);
            assert!(o.ok(), "NETLINK_ROUTE type {ty} as {user:?}: {o:?}");
            for cap in ["12", "13"] {
                let o = Probe::sandboxed(TCP_POLICY)
                    .option(&format!("keep-capability={cap}"))
                    .user(user)
                    .run("socket", &["16", ty, "0"]);
                o.assert_refused_by_static_filter("EACCES", "socket");
            }
        }
    }
}

/// Unix stream and seqpacket sockets are made (glibc's nscd probe needs one; their
/// connects go to the supervisor), except under the `landlock-ports` fallback, where no
/// supervisor would check the connect. Raw ones and a protocol other than 0 stay refused;
/// datagram ones without a `unix:` endpoint are query sockets (issue 12,
/// `query_sockets.rs`), with or without endpoints; refused where no supervisor checks
/// (landlock-ports).
#[test]
fn unix_sockets() {
    const SOCK_SEQPACKET: i32 = 5;
    socket_case([AF_UNIX, SOCK_RAW, 0], false, "EACCES");
    for user in USERS {
        for ty in [SOCK_STREAM, SOCK_SEQPACKET] {
            let a = ["1".to_owned(), ty.to_string(), "0".to_owned()];
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            for policy in [TCP_POLICY, UDP_POLICY, &[]] {
                let o = Probe::sandboxed(policy).user(user).run("socket", &a);
                assert!(o.ok(), "unix type {ty} under {policy:?} as {user:?}: {o:?}");
                assert!(!any_supervisor_line(&o.stderr), "{o:?}");
            }
            // A protocol other than 0 works without the sandbox (1 is PF_UNIX) …
            let p1 = ["1".to_owned(), ty.to_string(), "1".to_owned()];
            let p1: Vec<&str> = p1.iter().map(String::as_str).collect();
            let control = Probe::unsandboxed().user(user).run("socket", &p1);
            assert!(control.ok(), "control {p1:?}: {control:?}");
            Probe::sandboxed(TCP_POLICY)
                .user(user)
                .run("socket", &p1)
                .assert_refused_by_static_filter("EACCES", "socket");
            // … and under landlock-ports no unix socket is made at all.
            let control = Probe::unsandboxed().user(user).run("socket", &a);
            assert!(control.ok(), "control {a:?}: {control:?}");
            Probe::sandboxed(TCP_POLICY)
                .user(user)
                .option("fallback=landlock-ports")
                .run("socket", &a)
                .assert_refused_by_static_filter("EACCES", "socket");
        }
    }
}

#[test]
fn mptcp_sockets() {
    if std::path::Path::new("/proc/sys/net/mptcp/enabled").exists() {
        socket_case([AF_INET, SOCK_STREAM, 262], false, "EACCES");
    } else {
        skipped("no MPTCP in this kernel", None);
    }
}

#[test]
fn sctp_sockets() {
    let control = Probe::unsandboxed().run("socket", &["2", "1", "132"]);
    if !control.ok() {
        skipped(
            &format!("SCTP not available in this kernel: {}", control.result()),
            None,
        );
        return;
    }
    socket_case([AF_INET, SOCK_STREAM, 132], false, "EACCES");
}

/// Without a UDP endpoint a UDP socket is a query socket (issue 12, `query_sockets.rs`),
/// made silently, with or without any endpoint. Other datagram protocols (UDP-Lite, ICMP)
/// are refused either way.
#[test]
fn udp_sockets_without_a_udp_endpoint() {
    for user in USERS {
        for args in [["2", "2", "0"], ["10", "2", "17"], ["2", "526338", "0"]] {
            for policy in [TCP_POLICY, &[]] {
                let o = Probe::sandboxed(policy).user(user).run("socket", &args);
                assert!(o.ok(), "socket{args:?} {policy:?} as {user:?}: {o:?}");
                assert!(!any_supervisor_line(&o.stderr), "{o:?}");
            }
        }
    }
    socket_case_with(&[], [AF_INET, SOCK_DGRAM, 136], false, "EACCES");
    socket_case_with(&[], [AF_INET6, SOCK_DGRAM, 136], false, "EACCES");
    socket_case_with(TCP_POLICY, [AF_INET, SOCK_DGRAM, 136], false, "EACCES");
}

/// With a UDP endpoint, UDP sockets open (IPv4 and IPv6, protocol 0 or 17), and everything
/// else the TCP-only policy refuses is still refused (`packet_sockets` and the others run
/// both policies).
#[test]
fn udp_sockets_with_a_udp_endpoint() {
    for user in USERS {
        for args in [["2", "2", "0"], ["10", "2", "17"], ["2", "526338", "0"]] {
            let o = Probe::sandboxed(UDP_POLICY).user(user).run("socket", &args);
            assert!(o.ok(), "socket{args:?} as {user:?}: {o:?}");
        }
    }
    // UDP-lite and raw UDP stay refused.
    socket_case_with(UDP_POLICY, [AF_INET, SOCK_DGRAM, 136], false, "EACCES");
    socket_case_with(UDP_POLICY, [AF_INET, SOCK_RAW, 17], true, "EACCES");
}

#[test]
fn tcp_sockets_stay_allowed() {
    for user in USERS {
        for args in [["2", "1", "0"], ["10", "1", "6"], ["2", "526337", "0"]] {
            let o = Probe::sandboxed(&["127.0.0.2:443"])
                .user(user)
                .run("socket", &args);
            assert!(o.ok(), "socket{args:?}: {o:?}");
        }
    }
}

#[test]
fn io_uring_setup() {
    for user in USERS {
        let control = Probe::unsandboxed().user(user).run("io-uring-setup", &[]);
        assert!(control.ok(), "{control:?}");
        let o = Probe::sandboxed(&["127.0.0.2:443"])
            .user(user)
            .run("io-uring-setup", &[]);
        o.assert_refused_silently("ENOSYS");
    }
}

/// `io_uring_enter` and `io_uring_register` on a bad fd: the kernel answers `EBADF` (the
/// control), the filter `ENOSYS` before the kernel looks, with either policy.
#[test]
fn io_uring_enter_and_register() {
    for user in USERS {
        for attempt in ["io-uring-enter", "io-uring-register"] {
            let control = Probe::unsandboxed().user(user).run(attempt, &[]);
            assert!(control.err("EBADF"), "control {attempt}: {control:?}");
            for policy in [TCP_POLICY, UDP_POLICY] {
                let o = Probe::sandboxed(policy).user(user).run(attempt, &[]);
                o.assert_refused_silently("ENOSYS");
            }
        }
    }
}

#[test]
fn tcp_repair_as_root() {
    // TCP_REPAIR needs CAP_NET_ADMIN, so the control exists as root only.
    let control = Probe::unsandboxed().run("setsockopt", &["6", "19"]);
    assert!(control.ok(), "{control:?}");
    let o = Probe::sandboxed(&["127.0.0.2:443"]).run("setsockopt", &["6", "19"]);
    o.assert_refused_by_static_filter("EACCES", "setsockopt");
}

/// `listen` on a TCP socket is refused under a policy without `listen` entries (by the
/// supervisor, which lets unix sockets listen: `unix.rs`), with its line; `bind` goes to
/// the supervisor (bind before connect), which lets port 0 through.
#[test]
fn bind_and_listen() {
    for user in USERS {
        let control = Probe::unsandboxed().user(user).run("listen", &[]);
        assert!(control.ok(), "{control:?}");
        let o = Probe::sandboxed(&["127.0.0.2:443"])
            .user(user)
            .run("listen", &[]);
        assert!(o.err("EACCES"), "{o:?}");
        assert!(
            o.stderr.contains("denied listen (tcp) by pid ")
                && o.stderr
                    .contains("a socket may listen only where the policy says `listen`"),
            "{o:?}"
        );
        let o = Probe::sandboxed(&["127.0.0.2:443"])
            .user(user)
            .run("bind", &["127.0.0.2:0"]);
        assert!(o.ok(), "bind to port 0 as {user:?}: {o:?}");
    }
}

/// Without endpoints a supervisor runs and judges every connect (issue 12: the program's
/// own unix sockets): a TCP connect is refused with the errno and the line it had when the
/// static filter refused it; with `report = "off"` the supervisor still checks, silently.
/// Under `fallback = "landlock-ports"` (every check may become ALLOW there) the static
/// filter still refuses connect itself, and the supervisor only reports.
#[test]
fn no_endpoints_means_no_network_and_a_supervisor_that_refuses_every_connect() {
    let s = Servers::start();
    let control = Probe::unsandboxed().run("connect", &[&s.allowed.arg()]);
    assert!(control.ok());
    s.settle();
    let reached = s.allowed.connections();
    assert_eq!(reached, 1, "the control reaches the server");
    let none: [&str; 0] = [];
    let dest = s.allowed.arg();
    let line = format!("denied connect to {dest} (tcp) by pid ");
    let has_line = |o: &Outcome| {
        o.stderr.lines().any(|l| {
            l.contains(&line)
                && l.contains("the policy allows no network")
                && l.ends_with(&format!("to allow it, add tcp://{dest}"))
        })
    };
    let o = Probe::sandboxed(&none).run("connect", &[&dest]);
    o.assert_refused_by_supervisor("EACCES", "connect", &dest);
    assert!(
        o.stderr
            .contains("L2 supervisor: enforced: the policy allows no destination"),
        "{}",
        o.stderr
    );
    assert!(has_line(&o), "{}", o.stderr);
    s.settle();
    assert_eq!(s.allowed.connections(), reached);
    // With report = "off" the supervisor still checks: the same errno, no line.
    let o = Probe::sandboxed(&none)
        .option("report=off")
        .run("connect", &[&dest]);
    assert!(o.err("EACCES"), "{o:?}");
    assert!(o.stderr.contains("L2 supervisor: enforced"), "{}", o.stderr);
    assert!(!o.stderr.contains("denied connect"), "{}", o.stderr);
    // landlock-ports: the static filter refuses, the supervisor reports.
    let o = Probe::sandboxed(&none)
        .option("fallback=landlock-ports")
        .run("connect", &[&dest]);
    o.assert_refused_by_static_filter("EACCES", "connect");
    assert!(
        o.stderr.contains("L2 supervisor: enforced")
            && o.stderr
                .contains("the supervisor reports the static filter's refusals"),
        "{}",
        o.stderr
    );
    assert!(has_line(&o), "{}", o.stderr);
    let o = Probe::sandboxed(&none)
        .option("fallback=landlock-ports")
        .option("report=off")
        .run("connect", &[&dest]);
    assert!(o.err("EACCES"), "{o:?}");
    assert!(
        o.stderr.contains("L2 supervisor: not needed"),
        "{}",
        o.stderr
    );
    s.settle();
    assert_eq!(s.allowed.connections(), reached);
}

/// The layer report the program gets (printed by the probe) says what L1 refuses, for the
/// policy at hand, and mentions the missing killable wait only where it is missing: never
/// for a policy without a supervisor, and not on a kernel that has it (5.19+).
#[test]
fn the_report_says_what_the_static_filter_refuses() {
    let l1 = |o: &Outcome| {
        o.stderr
            .lines()
            .find(|l| l.starts_with("L1 static filter: enforced: "))
            .unwrap_or_else(|| panic!("no L1 line: {o:?}"))
            .to_owned()
    };
    let o = Probe::sandboxed(TCP_POLICY).run("status", &[]);
    let line = l1(&o);
    assert!(
        line.contains(
            "instructions; refuses sockets other than TCP over IPv4/IPv6, unix stream/seqpacket \
             and netlink route sockets (no other netlink,"
        ),
        "{line}"
    );
    for part in [
        "connects go to the supervisor; so do UDP and unix datagram sockets, which the \
         supervisor makes shut down (they cannot send: interface queries)",
        "TCP Fast Open",
        "io_uring and clone3 (ENOSYS)",
    ] {
        assert!(line.contains(part), "{part}: {line}");
    }
    let o = Probe::sandboxed(UDP_POLICY).run("status", &[]);
    assert!(
        l1(&o).contains("refuses sockets other than TCP and UDP over IPv4/IPv6"),
        "{o:?}"
    );
    let none: [&str; 0] = [];
    let o = Probe::sandboxed(&none).run("status", &[]);
    assert!(
        l1(&o).contains(
            "connects go to the supervisor (no endpoint: it refuses every TCP and UDP one, and \
             lets unix ones reach the sandbox's own sockets only); so do UDP and unix datagram \
             sockets"
        ),
        "query sockets without endpoints too: {o:?}"
    );
    assert!(!l1(&o).contains("; listen;"), "listen is a check: {o:?}");
    let ports = Probe::sandboxed(&none)
        .option("fallback=landlock-ports")
        .run("status", &[]);
    assert!(
        l1(&ports).contains("every connect (no endpoint)"),
        "{ports:?}"
    );
    assert!(l1(&ports).contains("; listen;"), "{ports:?}");
    assert!(
        l1(&ports).contains("(no UDP, unix, other netlink,"),
        "no query sockets under landlock-ports: {ports:?}"
    );
    // And L3 (Landlock ABI 4+, as on this kernel) refuses every TCP port.
    assert!(
        o.stderr
            .lines()
            .any(|l| l.starts_with("L3 Landlock: enforced: ")
                && l.contains("; TCP connect refused on every port;")),
        "{o:?}"
    );
    let o = Probe::sandboxed(TCP_POLICY).run("status", &[]);
    assert!(
        o.stderr
            .contains("TCP connect only to ports 443 (the supervisor's connects included)"),
        "{o:?}"
    );
    // This kernel (6.18) has SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV; without a supervisor
    // the flag does not matter.
    for policy in [TCP_POLICY, &none[..]] {
        let o = Probe::sandboxed(policy).run("status", &[]);
        assert!(!o.stderr.contains("WAIT_KILLABLE_RECV"), "{o:?}");
    }
}
