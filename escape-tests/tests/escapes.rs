//! The escape catalogue (DESIGN §9 and more): each attempt reaches a forbidden endpoint
//! without the sandbox (the control) and reaches nothing forbidden with it, as root and as an
//! unprivileged user.

use network_sandbox_escape_tests::*;

fn forbidden(s: &Servers) -> Vec<String> {
    vec![s.forbidden.arg()]
}

/// The supervisor refused the connect to the attempt's target with `EACCES`, and said so.
#[track_caller]
fn refused_connect(o: &Outcome) {
    o.assert_refused_by_supervisor("EACCES", "connect", &o.args[0]);
}

#[test]
fn plain_connect_to_another_host() {
    for o in assert_blocked("connect", forbidden, false) {
        refused_connect(&o);
    }
}

#[test]
fn connect_to_another_port_of_the_allowed_host() {
    for o in assert_blocked("connect", |s| vec![s.other_port.arg()], false) {
        refused_connect(&o);
    }
}

#[test]
fn connect_over_ipv6_loopback() {
    for o in assert_blocked("connect", |s| vec![s.forbidden6.arg()], false) {
        refused_connect(&o);
    }
}

#[test]
fn ipv4_mapped_ipv6_address() {
    for o in assert_blocked("connect-mapped", forbidden, false) {
        // The supervisor judged the IPv4 address behind the mapped one; its line names the
        // address as the program wrote it.
        let target: std::net::SocketAddr = o.args[0].parse().unwrap();
        let mapped = format!("[::ffff:{}]:{}", target.ip(), target.port());
        o.assert_refused_by_supervisor("EACCES", "connect", &mapped);
    }
}

#[test]
fn nonblocking_connect() {
    for o in assert_blocked("connect-nonblock", forbidden, false) {
        refused_connect(&o);
    }
}

#[test]
fn forked_child() {
    for o in assert_blocked("fork-connect", forbidden, false) {
        refused_connect(&o);
    }
}

/// bash's `/dev/tcp` in a program the probe execs: bash's own message shows its connect
/// failed with `EACCES`, and the supervisor refused it.
#[test]
fn exec_of_another_program() {
    for o in assert_blocked("exec-connect", forbidden, false) {
        refused_connect(&o);
    }
}

/// `connect(AF_UNSPEC)` dissolves an association; the next connect is checked again. The
/// control and the sandboxed run take the same path, step by step, so the test tells a
/// refused dissolve from a refused reconnect.
#[test]
fn disconnect_with_af_unspec_then_reconnect() {
    let control_result = "ok connect=ok unspec=ok reconnect=ok send=ok";
    let sandboxed_result = "ok connect=ok unspec=ok reconnect=EACCES";
    // TCP, with a TCP endpoint.
    for o in assert_blocked_with_control(
        "unspec-reconnect",
        |s| vec![s.allowed.arg(), s.forbidden.arg(), "tcp".into()],
        false,
        |c| assert_eq!(c.result(), control_result, "{c:?}"),
    ) {
        assert_eq!(o.result(), sandboxed_result, "{o:?}");
        assert!(
            supervisor_refused(&o.stderr, "connect", Some(&o.args[1])),
            "{o:?}"
        );
    }
    // UDP, with a UDP endpoint.
    for o in assert_blocked_with_control(
        "unspec-reconnect",
        |s| vec![s.allowed.arg(), s.forbidden.arg(), "udp".into()],
        true,
        |c| assert_eq!(c.result(), control_result, "{c:?}"),
    ) {
        assert_eq!(o.result(), sandboxed_result, "{o:?}");
        assert!(
            supervisor_refused(&o.stderr, "connect", Some(&o.args[1])),
            "{o:?}"
        );
    }
}

/// Refused by the static filter (the `MSG_FASTOPEN` flag), which the supervisor reports.
#[test]
fn tcp_fast_open_with_sendto() {
    for o in assert_blocked("tfo-sendto", forbidden, false) {
        o.assert_refused_by_static_filter("EACCES", "send");
    }
}

#[test]
fn tcp_fast_open_with_sendmsg() {
    for o in assert_blocked("tfo-sendmsg", forbidden, false) {
        o.assert_refused_by_static_filter("EACCES", "send");
    }
}

/// Without a UDP endpoint the UDP socket is a query socket (issue 12), which the
/// supervisor made shut down: a send naming the address and a connect are refused by the
/// supervisor with its line, `sendmsg` and `sendmmsg` (not notified under such a policy)
/// fail in the kernel with `EPIPE`. With a UDP endpoint for another port, the socket exists
/// and the supervisor refuses the send to the address that is allowed for TCP only.
#[test]
fn udp_without_a_udp_endpoint() {
    for attempt in ["udp-sendto", "udp-connect", "udp-sendmsg", "udp-sendmmsg"] {
        for o in assert_blocked(attempt, forbidden, false) {
            match attempt {
                "udp-sendto" => o.assert_refused_by_supervisor("EACCES", "send", &o.args[0]),
                "udp-connect" => o.assert_refused_by_supervisor("EACCES", "connect", &o.args[0]),
                _ => o.assert_refused_silently("EPIPE"),
            }
        }
        for user in USERS {
            // The target: the allowed TCP endpoint's address, over UDP.
            let s = Servers::start();
            let control = Probe::unsandboxed()
                .user(user)
                .run(attempt, &[&s.allowed.arg()]);
            assert!(
                eventually(std::time::Duration::from_secs(15), || s.allowed.datagrams()
                    > 0),
                "control {attempt} as {user:?}: {control:?}"
            );
            let s = Servers::start();
            let udp_elsewhere = format!("udp://{}", s.other_port.arg());
            let o = Probe::sandboxed(&[s.allow_tcp(), udp_elsewhere])
                .user(user)
                .run(attempt, &[&s.allowed.arg()]);
            let operation = if attempt == "udp-connect" {
                "connect"
            } else {
                "send"
            };
            o.assert_refused_by_supervisor("EACCES", operation, &s.allowed.arg());
            s.settle();
            assert_eq!(s.allowed.datagrams(), 0, "{attempt} as {user:?}: {o:?}");
            assert!(!s.escaped(), "{attempt} as {user:?}: {o:?}");
        }
    }
}

#[test]
fn udp_to_a_forbidden_host_with_a_udp_endpoint() {
    for attempt in [
        "udp-sendto",
        "udp-connect",
        "udp-sendmsg",
        "udp-sendmmsg",
        "udp-unspec-name",
    ] {
        for o in assert_blocked(attempt, forbidden, true) {
            match attempt {
                "udp-connect" => refused_connect(&o),
                // An AF_UNSPEC name is no address: the line has no destination.
                "udp-unspec-name" => {
                    assert!(o.err("EACCES"), "{o:?}");
                    assert!(supervisor_refused(&o.stderr, "send", None), "{o:?}");
                }
                _ => o.assert_refused_by_supervisor("EACCES", "send", &o.args[0]),
            }
        }
    }
}

/// One `sendmmsg` call with an allowed and a forbidden destination: the allowed message is
/// delivered, the forbidden one refused, and the call returns 1, as the kernel does when a
/// later message fails. In the other order nothing is delivered.
#[test]
fn sendmmsg_mixing_allowed_and_forbidden_destinations() {
    for user in USERS {
        let s = Servers::start();
        let c = Probe::unsandboxed()
            .user(user)
            .run("udp-mmsg-mix", &[&s.allowed.arg(), &s.forbidden.arg()]);
        assert_eq!(
            c.result(),
            "ok sent=2 lens=5,5",
            "control as {user:?}: {c:?}"
        );
        assert!(eventually(std::time::Duration::from_secs(15), || {
            s.allowed.datagrams() == 1 && s.forbidden.datagrams() == 1
        }));
        s.settle();
        assert_eq!((s.allowed.datagrams(), s.forbidden.datagrams()), (1, 1));

        let s = Servers::start();
        let o = Probe::sandboxed(&[s.allow_udp()])
            .user(user)
            .run("udp-mmsg-mix", &[&s.allowed.arg(), &s.forbidden.arg()]);
        assert_eq!(o.result(), "ok sent=1 lens=5,0", "as {user:?}: {o:?}");
        assert!(
            supervisor_refused(&o.stderr, "send", Some(&s.forbidden.arg())),
            "{o:?}"
        );
        assert!(eventually(std::time::Duration::from_secs(15), || s
            .allowed
            .datagrams()
            == 1));
        s.settle();
        assert_eq!(
            (s.allowed.datagrams(), s.forbidden.datagrams()),
            (1, 0),
            "as {user:?}: {o:?}"
        );
        assert!(!s.escaped());

        let s = Servers::start();
        let o = Probe::sandboxed(&[s.allow_udp()])
            .user(user)
            .run("udp-mmsg-mix", &[&s.forbidden.arg(), &s.allowed.arg()]);
        o.assert_refused_by_supervisor("EACCES", "send", &s.forbidden.arg());
        s.settle();
        assert_eq!(
            (s.allowed.datagrams(), s.forbidden.datagrams()),
            (0, 0),
            "{o:?}"
        );
    }
}

/// `sendto` and `sendmsg` on one UDP socket, alternating an allowed and a forbidden
/// destination: each call is judged on its own destination.
#[test]
fn sendto_and_sendmsg_mixed_on_one_socket() {
    for user in USERS {
        let s = Servers::start();
        let c = Probe::unsandboxed()
            .user(user)
            .run("udp-mix", &[&s.allowed.arg(), &s.forbidden.arg()]);
        assert_eq!(
            c.result(),
            "ok sendto=ok sendmsg=ok sendmsg=ok sendto=ok",
            "{c:?}"
        );
        assert!(eventually(std::time::Duration::from_secs(15), || {
            s.allowed.datagrams() == 2 && s.forbidden.datagrams() == 2
        }));

        let s = Servers::start();
        let o = Probe::sandboxed(&[s.allow_udp()])
            .user(user)
            .run("udp-mix", &[&s.allowed.arg(), &s.forbidden.arg()]);
        assert_eq!(
            o.result(),
            "ok sendto=ok sendmsg=EACCES sendmsg=ok sendto=EACCES",
            "as {user:?}: {o:?}"
        );
        let lines = o
            .stderr
            .lines()
            .filter(|l| supervisor_refused(l, "send", Some(&s.forbidden.arg())))
            .count();
        assert_eq!(lines, 2, "{o:?}");
        assert!(eventually(std::time::Duration::from_secs(15), || s
            .allowed
            .datagrams()
            == 2));
        s.settle();
        assert_eq!(
            (s.allowed.datagrams(), s.forbidden.datagrams()),
            (2, 0),
            "as {user:?}: {o:?}"
        );
    }
}

/// Refused by the static filter (`io_uring_setup`), before any connect.
#[test]
fn io_uring_connect() {
    for o in assert_blocked("io-uring-connect", forbidden, false) {
        o.assert_refused_silently("ENOSYS");
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn i386_int80_socket_and_connect() {
    for o in assert_blocked("int80-connect", forbidden, false) {
        assert_eq!(
            o.signal,
            Some(libc::SIGSYS),
            "killed by the arch check: {o:?}"
        );
        assert!(!any_supervisor_line(&o.stderr), "{o:?}");
    }
}

#[test]
fn mptcp_socket() {
    if !std::path::Path::new("/proc/sys/net/mptcp/enabled").exists() {
        skipped("this kernel has no MPTCP, the control cannot run", None);
        return;
    }
    for o in assert_blocked("mptcp-connect", forbidden, false) {
        o.assert_refused_by_static_filter("EACCES", "socket");
    }
}

#[test]
fn raw_socket_as_root() {
    // Only root can open raw sockets, so the control only exists as root.
    let servers = Servers::start();
    let control = Probe::unsandboxed().run("raw-udp", &[&servers.forbidden.arg()]);
    assert!(
        eventually(std::time::Duration::from_secs(15), || servers
            .forbidden
            .datagrams()
            > 0),
        "control: a raw UDP packet should reach the forbidden server: {control:?}"
    );
    let servers = Servers::start();
    let o = Probe::sandboxed(&[servers.allow_tcp()]).run("raw-udp", &[&servers.forbidden.arg()]);
    servers.settle();
    assert!(!servers.escaped(), "{o:?}");
    o.assert_refused_by_static_filter("EACCES", "socket");
}

#[test]
fn thread_rewriting_the_address_during_connects() {
    for o in assert_blocked(
        "race",
        |s| vec![s.allowed.arg(), s.forbidden.arg(), "3000".into()],
        false,
    ) {
        let connected: usize = o.result().trim_start_matches("ok ").parse().unwrap_or(0);
        assert!(
            connected > 0 && connected < 3000,
            "some connects to the allowed server must work, and some be refused: {o:?}"
        );
        // Every refusal the supervisor reported names the forbidden address: what it
        // judged is what it would have connected to.
        assert!(
            supervisor_refused(&o.stderr, "connect", Some(&o.args[1])),
            "{o:?}"
        );
        assert!(
            o.stderr
                .lines()
                .filter(|l| l.starts_with("network-sandbox: denied"))
                .all(|l| supervisor_refused(l, "connect", Some(&o.args[1]))),
            "{o:?}"
        );
    }
}

#[test]
fn signal_storm_during_connects() {
    for o in assert_blocked(
        "signal-storm",
        |s| vec![s.allowed.arg(), s.forbidden.arg()],
        false,
    ) {
        assert!(o.ok(), "{o:?}");
        let allowed: usize = o.result().trim_start_matches("ok ").parse().unwrap_or(0);
        assert_eq!(
            allowed, 300,
            "every allowed connect succeeds, with retries on EINTR: {o:?}"
        );
        assert!(
            supervisor_refused(&o.stderr, "connect", Some(&o.args[1])),
            "{o:?}"
        );
    }
}

#[test]
fn killing_the_supervisor_closes_everything() {
    for user in USERS {
        let servers = Servers::start();
        // The sandboxed program cannot kill it (Landlock's signal scope, ABI 6); another
        // process of the user, outside the sandbox, can.
        let o = Probe::sandboxed(&[servers.allow_tcp()])
            .user(user)
            .run("kill-supervisor-outside", &[&servers.allowed.arg()]);
        servers.settle();
        // After the supervisor dies even the allowed connect fails: the kernel answers a
        // notification nobody listens to with ENOSYS, and nobody prints a line.
        o.assert_refused_silently("ENOSYS");
        assert!(!servers.allowed.reached() && !servers.escaped());
        // The control: the same probe without killing anything reaches the allowed server.
        let o = Probe::sandboxed(&[servers.allow_tcp()])
            .user(user)
            .run("connect", &[&servers.allowed.arg()]);
        assert!(o.ok(), "{o:?}");
    }
}

#[test]
fn the_sandboxed_program_cannot_kill_its_supervisor() {
    // SAFETY: only asks for the Landlock ABI version.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    if abi < 6 {
        eprintln!("skipped: Landlock ABI {abi} has no signal scope (needs 6)");
        return;
    }
    for user in USERS {
        let servers = Servers::start();
        let o = Probe::sandboxed(&[servers.allow_tcp()])
            .user(user)
            .run("kill-supervisor", &[&servers.allowed.arg()]);
        assert!(o.err("EPERM"), "{user:?}: {o:?}");
    }
}

#[test]
fn a_second_listener_filter_is_refused() {
    for user in USERS {
        let control = Probe::unsandboxed().user(user).run("second-listener", &[]);
        assert!(
            control.ok(),
            "control: a process may install a listener of its own: {control:?}"
        );
        let o = Probe::sandboxed(&["127.0.0.2:1"])
            .user(user)
            .run("second-listener", &[]);
        // The kernel allows one listener in a filter chain.
        o.assert_refused_silently("EBUSY");
    }
}

#[test]
fn a_stacked_allow_filter_does_not_override() {
    for o in assert_blocked("allow-filter-connect", forbidden, false) {
        refused_connect(&o);
    }
}

/// A process of the same user outside the sandbox, to attack.
struct Victim(std::process::Child);

impl Victim {
    fn start(user: User) -> Victim {
        use std::os::unix::process::CommandExt;
        let mut cmd = std::process::Command::new("sleep");
        cmd.arg("60");
        if user == User::Nobody {
            cmd.uid(NOBODY).gid(NOBODY);
        }
        Victim(cmd.spawn().expect("sleep"))
    }
    fn pid(&self) -> String {
        self.0.id().to_string()
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Each way to inspect another process, refused with its specific errno: the static
/// filter refuses `pidfd_getfd` with `EPERM`, and Landlock's ptrace scoping refuses
/// `ptrace` and `process_vm_writev` (`EPERM`; the filter allows them inside the sandbox,
/// issue 12) and opening `/proc/PID/mem` (`EACCES`).
const INSPECTIONS: [(&str, &str); 4] = [
    ("ptrace-attach", "EPERM"),
    ("proc-mem", "EACCES"),
    ("pidfd-getfd", "EPERM"),
    ("vm-write", "EPERM"),
];

#[test]
fn process_inspection_of_processes_outside_the_sandbox() {
    for (attempt, errno) in INSPECTIONS {
        for user in USERS {
            let victim = Victim::start(user);
            let control = Probe::unsandboxed()
                .user(user)
                .run(attempt, &[&victim.pid()]);
            assert!(
                control.ok(),
                "control: {attempt} on a process of the same user works: {control:?}"
            );
            let o = Probe::sandboxed(&["127.0.0.2:1"])
                .user(user)
                .run(attempt, &[&victim.pid()]);
            o.assert_refused_silently(errno);
        }
    }
}

/// The supervisor, inspected from inside the sandbox: refused with the same errnos. The
/// control: a process of the same user outside the sandbox, aimed at a live supervisor. As
/// root it succeeds (CAP_SYS_PTRACE); as an unprivileged user the supervisor is already out
/// of reach (it makes itself non-dumpable), so the control fails, and says why.
#[test]
fn process_inspection_of_the_supervisor() {
    for (attempt, errno) in INSPECTIONS {
        for user in USERS {
            let held = Probe::sandboxed(&["127.0.0.2:1"]).user(user).hold();
            let pid = held
                .supervisor
                .filter(|p| *p != 0)
                .unwrap_or_else(|| panic!("no supervisor: {}", held.line))
                .to_string();
            let control = Probe::unsandboxed().user(user).run(attempt, &[&pid]);
            match user {
                User::Root => assert!(control.ok(), "control {attempt} as root: {control:?}"),
                User::Nobody => {
                    let want = if attempt == "proc-mem" {
                        "EACCES"
                    } else {
                        "EPERM"
                    };
                    assert!(
                        control.err(want),
                        "control {attempt} as nobody: {control:?}"
                    );
                }
            }
            drop(held);
            let o = Probe::sandboxed(&["127.0.0.2:1"])
                .user(user)
                .run(attempt, &["supervisor"]);
            o.assert_refused_silently(errno);
        }
    }
}

/// `bind` goes to the supervisor, which allows port 0 only (bind before connect): a fixed
/// UDP or TCP port (a server) stays refused; port 0 binds.
#[test]
fn binding_a_fixed_port_with_a_udp_endpoint() {
    for user in USERS {
        for attempt in ["bind-udp", "bind"] {
            let o = Probe::sandboxed(&["udp://127.0.0.2:53"])
                .user(user)
                .run(attempt, &["127.0.0.2:0"]);
            assert!(o.ok(), "{attempt} to port 0 as {user:?}: {o:?}");
        }
        for (attempt, port) in [("bind-udp", "28999"), ("bind", "28998")] {
            let target = format!("127.0.0.2:{port}");
            let control = Probe::unsandboxed().user(user).run(attempt, &[&target]);
            assert!(
                control.ok(),
                "control {attempt} {target} as {user:?}: {control:?}"
            );
            let o = Probe::sandboxed(&["udp://127.0.0.2:53"])
                .user(user)
                .run(attempt, &[&target]);
            o.assert_refused_by_supervisor("EACCES", "bind", &target);
        }
    }
}

/// `IP_PKTINFO` / `IPV6_PKTINFO` ancillary data with an interface index sends out of that
/// interface whatever the routing table says: a datagram to an allowed address could leave
/// by another link, to another host holding the same address (past a VPN route). The
/// supervisor refuses such a send even to the allowed destination, with its line; index 0
/// (the routing table chooses) passes. Control: unsandboxed, index 1 (`lo`) delivers.
#[test]
fn pktinfo_naming_an_interface_is_refused_even_to_an_allowed_destination() {
    for user in USERS {
        for v6 in [false, true] {
            let at = if v6 { "[::1]:0" } else { "127.0.0.2:0" };
            let target = Recorder::start(at.parse().unwrap()).unwrap();
            let dest = target.arg();
            let control = Probe::unsandboxed()
                .user(user)
                .run("udp-pktinfo", &[&dest, "1"]);
            assert!(control.ok(), "control as {user:?}: {control:?}");
            assert!(
                eventually(std::time::Duration::from_secs(15), || target.datagrams()
                    == 1),
                "control as {user:?}: {control:?}"
            );
            let allow = [format!("udp://{dest}")];
            let routed = Probe::sandboxed(&allow)
                .user(user)
                .run("udp-pktinfo", &[&dest, "0"]);
            assert!(routed.ok(), "index 0 as {user:?}: {routed:?}");
            assert!(
                eventually(std::time::Duration::from_secs(15), || target.datagrams()
                    == 2),
                "index 0 as {user:?}: {routed:?}"
            );
            let o = Probe::sandboxed(&allow)
                .user(user)
                .run("udp-pktinfo", &[&dest, "1"]);
            o.assert_refused_by_supervisor("EACCES", "send", &dest);
            assert!(o.stderr.contains("naming an interface"), "{o:?}");
            target.settle();
            assert_eq!(target.datagrams(), 2, "{user:?}: {o:?}");
        }
    }
}
