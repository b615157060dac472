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

fn socket_case(args: [i32; 3], root_only: bool, expect: &str) {
    let a: Vec<String> = args.iter().map(i32::to_string).collect();
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    for user in USERS {
        let control = Probe::unsandboxed().user(user).run("socket", &a);
        if root_only && user == User::Nobody {
            continue;
        }
        assert!(
            control.ok(),
            "control socket{args:?} as {user:?}: {control:?}"
        );
        let o = Probe::sandboxed(&["127.0.0.2:443"])
            .user(user)
            .run("socket", &a);
        assert!(o.err(expect), "socket{args:?} as {user:?}: {o:?}");
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

#[test]
fn packet_sockets() {
    socket_case([AF_PACKET, SOCK_RAW, 0], true, "EACCES");
}

#[test]
fn raw_ip_sockets() {
    socket_case([AF_INET, SOCK_RAW, 6], true, "EACCES");
}

#[test]
fn netlink_sockets() {
    socket_case([AF_NETLINK, SOCK_RAW, 0], false, "EACCES");
}

#[test]
fn unix_sockets() {
    socket_case([AF_UNIX, SOCK_STREAM, 0], false, "EACCES");
}

#[test]
fn mptcp_sockets() {
    if std::path::Path::new("/proc/sys/net/mptcp/enabled").exists() {
        socket_case([AF_INET, SOCK_STREAM, 262], false, "EACCES");
    } else {
        eprintln!("skipped: no MPTCP in this kernel");
    }
}

#[test]
fn sctp_sockets() {
    let control = Probe::unsandboxed().run("socket", &["2", "1", "132"]);
    if !control.ok() {
        eprintln!("skipped: SCTP not available here ({control:?})");
        return;
    }
    socket_case([AF_INET, SOCK_STREAM, 132], false, "EACCES");
}

#[test]
fn udp_sockets_without_a_udp_endpoint() {
    socket_case([AF_INET, SOCK_DGRAM, 0], false, "EACCES");
    socket_case([AF_INET6, SOCK_DGRAM, 17], false, "EACCES");
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
        assert!(o.err("ENOSYS"), "{o:?}");
    }
}

#[test]
fn tcp_repair_as_root() {
    // TCP_REPAIR needs CAP_NET_ADMIN, so the control exists as root only.
    let control = Probe::unsandboxed().run("setsockopt", &["6", "19"]);
    assert!(control.ok(), "{control:?}");
    let o = Probe::sandboxed(&["127.0.0.2:443"]).run("setsockopt", &["6", "19"]);
    assert!(o.err("EACCES"), "{o:?}");
}

#[test]
fn bind_and_listen() {
    for user in USERS {
        for (attempt, args) in [("bind", vec!["127.0.0.2:0"]), ("listen", vec![])] {
            let control = Probe::unsandboxed().user(user).run(attempt, &args);
            assert!(control.ok(), "{control:?}");
            let o = Probe::sandboxed(&["127.0.0.2:443"])
                .user(user)
                .run(attempt, &args);
            assert!(o.err("EACCES"), "{attempt} as {user:?}: {o:?}");
        }
    }
}

#[test]
fn no_endpoints_means_no_network_and_a_supervisor_that_only_reports() {
    let s = Servers::start();
    let control = Probe::unsandboxed().run("connect", &[&s.allowed.arg()]);
    assert!(control.ok());
    let reached = s.allowed.connections();
    let none: [&str; 0] = [];
    let o = Probe::sandboxed(&none).run("connect", &[&s.allowed.arg()]);
    assert!(o.err("EACCES"), "{o:?}");
    assert!(
        o.stderr.contains("L2 supervisor: enforced")
            && o.stderr
                .contains("the supervisor reports the static filter's refusals"),
        "{}",
        o.stderr
    );
    let dest = s.allowed.arg();
    let line = format!("denied connect to {dest} (tcp) by pid ");
    assert!(
        o.stderr.lines().any(|l| l.contains(&line)
            && l.contains("the policy allows no network")
            && l.ends_with(&format!("to allow it, add tcp://{dest}"))),
        "{}",
        o.stderr
    );
    assert_eq!(s.allowed.connections(), reached);
    // With report = "off" there is nobody to report to: no supervisor, and the same errno.
    let o = Probe::sandboxed(&none)
        .option("report=off")
        .run("connect", &[&s.allowed.arg()]);
    assert!(o.err("EACCES"), "{o:?}");
    assert!(
        o.stderr.contains("L2 supervisor: not needed"),
        "{}",
        o.stderr
    );
    assert!(!o.stderr.contains("denied connect"), "{}", o.stderr);
}
