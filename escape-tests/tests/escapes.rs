//! The escape catalogue (DESIGN §9 and more): each attempt reaches a forbidden endpoint
//! without the sandbox (the control) and reaches nothing forbidden with it, as root and as an
//! unprivileged user.

use network_sandbox_escape_tests::*;

fn forbidden(s: &Servers) -> Vec<String> {
    vec![s.forbidden.arg()]
}

#[test]
fn plain_connect_to_another_host() {
    for o in assert_blocked("connect", forbidden, false) {
        assert!(o.err("EACCES"), "{o:?}");
        assert!(
            o.stderr
                .contains("network-sandbox: denied connect to 127.0.0.3:"),
            "{}",
            o.stderr
        );
    }
}

#[test]
fn connect_to_another_port_of_the_allowed_host() {
    for o in assert_blocked("connect", |s| vec![s.other_port.arg()], false) {
        assert!(o.err("EACCES"), "{o:?}");
    }
}

#[test]
fn connect_over_ipv6_loopback() {
    for o in assert_blocked("connect", |s| vec![s.forbidden6.arg()], false) {
        assert!(o.err("EACCES"), "{o:?}");
    }
}

#[test]
fn ipv4_mapped_ipv6_address() {
    for o in assert_blocked("connect-mapped", forbidden, false) {
        assert!(o.err("EACCES"), "{o:?}");
    }
}

#[test]
fn nonblocking_connect() {
    for o in assert_blocked("connect-nonblock", forbidden, false) {
        assert!(o.err("EACCES"), "{o:?}");
    }
}

#[test]
fn forked_child() {
    for o in assert_blocked("fork-connect", forbidden, false) {
        assert!(o.err("EACCES"), "{o:?}");
    }
}

#[test]
fn exec_of_another_program() {
    assert_blocked("exec-connect", forbidden, false);
}

#[test]
fn disconnect_with_af_unspec_then_reconnect() {
    for o in assert_blocked(
        "unspec-reconnect",
        |s| vec![s.allowed.arg(), s.forbidden.arg()],
        false,
    ) {
        assert!(o.err("EACCES"), "{o:?}");
    }
}

#[test]
fn tcp_fast_open_with_sendto() {
    for o in assert_blocked("tfo-sendto", forbidden, false) {
        assert!(o.err("EACCES"), "{o:?}");
    }
}

#[test]
fn tcp_fast_open_with_sendmsg() {
    for o in assert_blocked("tfo-sendmsg", forbidden, false) {
        assert!(o.err("EACCES"), "{o:?}");
    }
}

#[test]
fn udp_without_a_udp_endpoint() {
    for attempt in ["udp-sendto", "udp-connect", "udp-sendmsg", "udp-sendmmsg"] {
        for o in assert_blocked(attempt, forbidden, false) {
            assert!(o.err("EACCES"), "{attempt}: {o:?}");
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
            assert!(o.err("EACCES"), "{attempt}: {o:?}");
        }
    }
}

#[test]
fn io_uring_connect() {
    for o in assert_blocked("io-uring-connect", forbidden, false) {
        assert!(o.err("ENOSYS"), "{o:?}");
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
    }
}

#[test]
fn mptcp_socket() {
    if !std::path::Path::new("/proc/sys/net/mptcp/enabled").exists() {
        eprintln!("skipped: this kernel has no MPTCP, the control cannot run");
        return;
    }
    for o in assert_blocked("mptcp-connect", forbidden, false) {
        assert!(o.err("EACCES"), "{o:?}");
    }
}

#[test]
fn raw_socket_as_root() {
    // Only root can open raw sockets, so the control only exists as root.
    let servers = Servers::start();
    let control = Probe::unsandboxed().run("raw-udp", &[&servers.forbidden.arg()]);
    assert!(
        eventually(std::time::Duration::from_secs(3), || servers
            .forbidden
            .datagrams()
            > 0),
        "control: a raw UDP packet should reach the forbidden server: {control:?}"
    );
    let servers = Servers::start();
    let o = Probe::sandboxed(&[servers.allow_tcp()]).run("raw-udp", &[&servers.forbidden.arg()]);
    settle();
    assert!(!servers.escaped(), "{o:?}");
    assert!(o.err("EACCES"), "{o:?}");
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
            connected > 0,
            "some connects to the allowed server must work: {o:?}"
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
        settle();
        assert!(
            o.err("ENOSYS"),
            "after the supervisor dies even the allowed connect fails: {o:?}"
        );
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
        assert!(o.err("EBUSY"), "{o:?}");
    }
}

#[test]
fn a_stacked_allow_filter_does_not_override() {
    for o in assert_blocked("allow-filter-connect", forbidden, false) {
        assert!(o.err("EACCES"), "{o:?}");
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

#[test]
fn process_inspection_of_processes_outside_the_sandbox() {
    for attempt in ["ptrace-attach", "proc-mem", "pidfd-getfd", "vm-write"] {
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
            assert!(
                !o.ok(),
                "{attempt} as {user:?} on an outside process must fail: {o:?}"
            );
            let o = Probe::sandboxed(&["127.0.0.2:1"])
                .user(user)
                .run(attempt, &["supervisor"]);
            assert!(
                !o.ok(),
                "{attempt} as {user:?} on the supervisor must fail: {o:?}"
            );
        }
    }
}

/// With a UDP endpoint, `bind` goes to the supervisor, which allows a UDP socket port 0 only:
/// a fixed UDP port (a server) and any TCP bind stay refused.
#[test]
fn binding_a_fixed_port_with_a_udp_endpoint() {
    for user in USERS {
        for (attempt, port) in [("bind-udp", "28999"), ("bind", "28998"), ("bind", "0")] {
            let target = format!("127.0.0.2:{port}");
            let control = Probe::unsandboxed().user(user).run(attempt, &[&target]);
            assert!(
                control.ok(),
                "control {attempt} {target} as {user:?}: {control:?}"
            );
            let o = Probe::sandboxed(&["udp://127.0.0.2:53"])
                .user(user)
                .run(attempt, &[&target]);
            assert!(o.err("EACCES"), "{attempt} {target} as {user:?}: {o:?}");
            assert!(
                o.stderr
                    .contains("network-sandbox: denied bind to 127.0.0.2:"),
                "{}",
                o.stderr
            );
        }
    }
}
