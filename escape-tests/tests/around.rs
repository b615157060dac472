//! Going around the supervisor (issue 10): each attempt works without the sandbox (the
//! control) and fails with it, as root and as an unprivileged user; an attempt that needs
//! root says so when its unprivileged control fails for lack of privilege. Global state is
//! never changed: network configuration happens in network namespaces the tests create,
//! tunables are only opened for writing (nothing is written), device nodes the
//! unprivileged user needs are made in a temporary directory.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use network_sandbox_escape_tests::*;

const POLICY: [&str; 1] = ["127.0.0.2:443"];
/// With a UDP endpoint, so that UDP sockets can be made.
const POLICY_UDP: [&str; 2] = ["127.0.0.2:443", "udp://127.0.0.2:53"];

fn landlock_abi() -> i32 {
    // SAFETY: landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) only
    // returns the ABI version.
    unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        ) as i32
    }
}

/// Runs `attempt` unsandboxed and sandboxed as `user`; the control must succeed unless
/// `needs_root` and the user is not root (then it must fail with `EPERM`/`EACCES`, and is
/// reported as such). Returns the sandboxed outcome.
fn controlled(user: User, attempt: &str, args: &[&str], needs_root: bool) -> Outcome {
    controlled_in(None, user, attempt, args, needs_root)
}

fn controlled_in(
    ns: Option<&NetNs>,
    user: User,
    attempt: &str,
    args: &[&str],
    needs_root: bool,
) -> Outcome {
    let with_ns = |p: Probe| match ns {
        Some(ns) => p.netns(ns),
        None => p,
    };
    let control = with_ns(Probe::unsandboxed().user(user)).run(attempt, args);
    if needs_root && user == User::Nobody {
        assert!(
            control.err("EPERM") || control.err("EACCES"),
            "control for {attempt} {args:?} as nobody: expected a refusal for lack of \
             privilege: {control:?}"
        );
        eprintln!("{attempt} {args:?}: needs root; as nobody the control is refused too");
    } else {
        assert!(
            control.ok(),
            "control for {attempt} {args:?} as {user:?} must work: {control:?}"
        );
    }
    with_ns(Probe::sandboxed(&POLICY).user(user)).run(attempt, args)
}

// --- 1. Unix datagrams --------------------------------------------------------------------

/// A unix datagram socket at a pathname (a syslog-like daemon) that counts what it gets.
struct DgramRecorder {
    _dir: TempDir,
    path: String,
    socket: UnixDatagram,
}

impl DgramRecorder {
    fn start() -> DgramRecorder {
        let dir = TempDir::new("dgram");
        let path = dir.path.join("log.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
        socket.set_nonblocking(true).unwrap();
        DgramRecorder {
            _dir: dir,
            path: path.to_string_lossy().into_owned(),
            socket,
        }
    }

    fn received(&self) -> usize {
        let mut n = 0;
        let mut buf = [0u8; 64];
        while self.socket.recv(&mut buf).is_ok() {
            n += 1;
        }
        n
    }
}

#[test]
fn unix_datagram_socketpair_cannot_reach_a_pathname_socket() {
    for user in USERS {
        for ty in ["dgram", "dgram|cloexec|nonblock", "raw"] {
            let daemon = DgramRecorder::start();
            let control = Probe::unsandboxed()
                .user(user)
                .run("unix-dgram-pair", &[&daemon.path, ty]);
            assert!(control.ok(), "control {ty} as {user:?}: {control:?}");
            assert_eq!(daemon.received(), 1, "control {ty}: the daemon got it");
            let o = Probe::sandboxed(&POLICY)
                .user(user)
                .run("unix-dgram-pair", &[&daemon.path, ty]);
            assert!(o.err("EACCES"), "{ty} as {user:?}: {o:?}");
            std::thread::sleep(Duration::from_millis(50));
            assert_eq!(daemon.received(), 0, "{ty} as {user:?} reached the daemon");
        }
    }
}

#[test]
fn unix_stream_and_seqpacket_pairs_keep_working() {
    for user in USERS {
        for ty in ["stream", "seqpacket|cloexec", "stream|nonblock"] {
            let o = Probe::sandboxed(&POLICY)
                .user(user)
                .run("unix-stream-pair", &[ty]);
            assert_eq!(o.result(), "ok pong", "{ty} as {user:?}: {o:?}");
        }
    }
}

#[test]
fn python_multiprocessing_pipes_keep_working() {
    if std::process::Command::new("python3")
        .arg("-c")
        .arg("1")
        .status()
        .map_or(true, |s| !s.success())
    {
        eprintln!("skipped: python3 is not installed");
        return;
    }
    let script = "import multiprocessing as m\n\
                  def f(c): c.send(c.recv() * 2)\n\
                  if __name__ == '__main__':\n    \
                  a, b = m.Pipe(); p = m.Process(target=f, args=(b,)); p.start()\n    \
                  a.send(21); assert a.recv() == 42; p.join(); assert p.exitcode == 0\n    \
                  q = m.Queue(); q.put('x'); assert q.get() == 'x'\n";
    for user in USERS {
        let o = Probe::sandboxed(&POLICY)
            .user(user)
            .run("exec", &["python3", "-c", script]);
        assert!(o.ok() && o.result() == "ok", "{user:?}: {o:?}");
    }
}

// --- 2. Root reconfigures the network or the kernel ----------------------------------------

#[test]
fn capabilities_are_dropped_from_every_set() {
    let control = Probe::unsandboxed().run("caps", &[]);
    let o = Probe::sandboxed(&POLICY).run("caps", &[]);
    let mask = |out: &Outcome, set: &str| {
        let field = out
            .result()
            .split(' ')
            .find_map(|f| f.strip_prefix(&format!("{set}=")))
            .unwrap_or_else(|| panic!("{set} in {out:?}"))
            .to_owned();
        u64::from_str_radix(&field, 16).unwrap()
    };
    // NET_ADMIN 12, NET_RAW 13, SYS_MODULE 16, SYS_RAWIO 17, SYS_PTRACE 19, SYS_ADMIN 21,
    // PERFMON 38, BPF 39.
    let required: u64 = [12, 13, 16, 17, 19, 21, 38, 39]
        .iter()
        .fold(0, |m, c| m | 1 << c);
    assert_eq!(
        mask(&control, "eff") & required,
        required,
        "control: root has them"
    );
    assert_eq!(mask(&control, "bnd") & required, required);
    for set in ["inh", "prm", "eff", "bnd", "amb"] {
        assert_eq!(mask(&o, set) & required, 0, "{set}: {o:?}");
    }
    // CAP_CHOWN is kept.
    assert_ne!(mask(&o, "eff") & 1, 0, "{o:?}");
    assert!(
        o.stderr.contains("privileges: enforced: dropped CAP_"),
        "{}",
        o.stderr
    );
    // Unprivileged: nothing to drop, and the report says so.
    let o = Probe::sandboxed(&POLICY)
        .user(User::Nobody)
        .run("caps", &[]);
    assert!(o.stderr.contains("no capability to drop"), "{}", o.stderr);
}

/// The set `set` (`inh`, `prm`, `eff`, `bnd`, `amb`) of the probe's `caps` attempt.
fn cap_set(out: &Outcome, set: &str) -> u64 {
    let field = out
        .result()
        .split(' ')
        .find_map(|f| f.strip_prefix(&format!("{set}=")))
        .unwrap_or_else(|| panic!("{set} in {out:?}"));
    u64::from_str_radix(field, 16).unwrap()
}

/// A policy's `keep_capabilities` keeps the capabilities it names, in the sets the process
/// has them in, and nothing else: CAP_SYS_NICE (23) stays in the permitted, effective and
/// bounding sets with the key and leaves them without it (the control), and it still works
/// (lowering the probe's own nice value needs it). Never granted: nobody, who does not have
/// it, does not get it (so this needs root).
#[test]
fn a_policy_keeps_the_capabilities_it_names() {
    const SYS_NICE: u64 = 1 << 23;
    const KEEP: &str = "keep-capability=23";
    for user in USERS {
        let control = Probe::unsandboxed().user(user).run("caps", &[]);
        let kept = Probe::sandboxed(&POLICY)
            .user(user)
            .option(KEEP)
            .run("caps", &[]);
        let dropped = Probe::sandboxed(&POLICY).user(user).run("caps", &[]);
        if user == User::Nobody {
            for set in ["prm", "eff"] {
                assert_eq!(cap_set(&control, set) & SYS_NICE, 0, "control: {control:?}");
                assert_eq!(cap_set(&kept, set) & SYS_NICE, 0, "not granted: {kept:?}");
            }
            assert!(
                kept.stderr.contains(
                    "named by the policy but not permitted to this process (nothing to keep): \
                     CAP_SYS_NICE"
                ),
                "{}",
                kept.stderr
            );
            let o = Probe::sandboxed(&POLICY)
                .user(user)
                .option(KEEP)
                .run("raise-priority", &[]);
            assert!(o.err("EACCES"), "{o:?}");
            eprintln!("keep_capabilities: needs root; nobody has no CAP_SYS_NICE to keep");
            continue;
        }
        for set in ["prm", "eff", "bnd"] {
            assert_ne!(cap_set(&control, set) & SYS_NICE, 0, "control: root has it");
            assert_ne!(
                cap_set(&kept, set) & SYS_NICE,
                0,
                "{set} with the key: {kept:?}"
            );
            assert_eq!(
                cap_set(&dropped, set) & SYS_NICE,
                0,
                "{set} without: {dropped:?}"
            );
        }
        for set in ["inh", "amb"] {
            assert_eq!(
                cap_set(&kept, set) & SYS_NICE,
                cap_set(&control, set) & SYS_NICE,
                "{set}: kept where it was, added nowhere: {kept:?}"
            );
        }
        // Only it: every other capability as without the key (CAP_SYS_ADMIN 21 gone).
        for set in ["inh", "prm", "eff", "bnd", "amb"] {
            assert_eq!(
                cap_set(&kept, set) & !SYS_NICE,
                cap_set(&dropped, set) & !SYS_NICE,
                "{set}"
            );
        }
        assert_eq!(cap_set(&kept, "eff") & 1 << 21, 0, "{kept:?}");
        assert!(
            kept.stderr
                .contains("kept at the policy's request: CAP_SYS_NICE"),
            "{}",
            kept.stderr
        );
        assert!(
            !dropped.stderr.contains("policy's request"),
            "{}",
            dropped.stderr
        );

        // The capability does what it is kept for. (With an RLIMIT_NICE above 0 the control
        // without it would succeed too: then that part says so and is skipped.)
        // SAFETY: getrlimit writes one rlimit.
        let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
        // SAFETY: a valid rlimit to write.
        unsafe { libc::getrlimit(libc::RLIMIT_NICE, &mut limit) };
        if limit.rlim_cur != 0 {
            eprintln!(
                "raise-priority: skipped: RLIMIT_NICE is {} here",
                limit.rlim_cur
            );
            continue;
        }
        let control = Probe::unsandboxed().run("raise-priority", &[]);
        assert!(control.ok(), "control: {control:?}");
        let o = Probe::sandboxed(&POLICY)
            .option(KEEP)
            .run("raise-priority", &[]);
        assert!(o.ok(), "with the key: {o:?}");
        let o = Probe::sandboxed(&POLICY).run("raise-priority", &[]);
        assert!(o.err("EACCES"), "without the key (no CAP_SYS_NICE): {o:?}");
    }
}

#[test]
fn netfilter_table_replace_is_refused() {
    let ns = NetNs::new().expect("a network namespace");
    for user in USERS {
        let o = controlled_in(Some(&ns), user, "netfilter-replace", &[], true);
        assert!(o.err("EACCES"), "{user:?}: {o:?}");
    }
}

#[test]
fn socket_options_outside_the_allow_list_are_refused() {
    // (socket, level, option, what): each refused by L1 whatever the capabilities.
    let refused = [
        ("tcp", "1", "25", "SO_BINDTODEVICE"),
        ("tcp", "1", "36", "SO_MARK"),
        ("tcp", "1", "62", "SO_BINDTOIFINDEX"),
        ("tcp", "1", "5", "SO_DONTROUTE"),
        ("tcp", "1", "26", "SO_ATTACH_FILTER"),
        ("tcp", "6", "31", "TCP_ULP"),
        ("udp", "0", "50", "IP_UNICAST_IF"),
        ("udp", "0", "32", "IP_MULTICAST_IF"),
        ("udp", "0", "19", "IP_TRANSPARENT"),
        ("udp6", "41", "76", "IPV6_UNICAST_IF"),
        ("udp6", "41", "50", "IPV6_PKTINFO"),
        ("udp", "17", "100", "UDP_ENCAP"),
    ];
    for user in USERS {
        for (kind, level, name, what) in refused {
            let o = Probe::sandboxed(&POLICY_UDP)
                .user(user)
                .run("setsockopt-int", &[kind, level, name]);
            assert!(o.err("EACCES"), "{what} as {user:?}: {o:?}");
        }
    }
    // Controls where the option works without privilege (the others need CAP_NET_ADMIN or
    // CAP_NET_RAW, or a value other than 1: refused by L1 before the kernel looks).
    for user in USERS {
        for (kind, level, name, what) in [
            ("tcp", "1", "5", "SO_DONTROUTE"),
            ("udp", "1", "62", "SO_BINDTOIFINDEX"),
        ] {
            let control = Probe::unsandboxed()
                .user(user)
                .run("setsockopt-int", &[kind, level, name]);
            assert!(control.ok(), "control {what} as {user:?}: {control:?}");
        }
    }
    // What runtimes set keeps working.
    for user in USERS {
        for (kind, level, name, what) in [
            ("tcp", "6", "1", "TCP_NODELAY"),
            ("tcp", "1", "9", "SO_KEEPALIVE"),
            ("tcp", "6", "4", "TCP_KEEPIDLE"),
            ("tcp6", "41", "26", "IPV6_V6ONLY"),
            ("tcp", "1", "2", "SO_REUSEADDR"),
            ("unix", "1", "16", "SO_PASSCRED"),
            ("udp", "0", "11", "IP_RECVERR"),
            ("udp", "1", "6", "SO_BROADCAST"),
            ("udp", "0", "49", "IP_MULTICAST_ALL"),
        ] {
            let o = Probe::sandboxed(&POLICY_UDP)
                .user(user)
                .run("setsockopt-int", &[kind, level, name]);
            assert!(o.ok(), "{what} as {user:?}: {o:?}");
        }
    }
}

#[test]
fn tun_attachment_is_refused() {
    let ns = NetNs::new().expect("a network namespace");
    let dir = TempDir::new("tun");
    // /dev/net/tun is 10:200; a node of the test's own, mode 0666 as on most distributions.
    let tun = dir.char_device("tun", 10, 200);
    let tun = tun.to_str().unwrap();
    // Root creates and attaches to a new device in the namespace.
    let o = controlled_in(Some(&ns), User::Root, "tun-attach", &[tun, "nstun0"], true);
    assert!(o.err("EACCES"), "{o:?}");
    // A user attaches to a persistent device it owns, without any capability.
    let made = Probe::unsandboxed()
        .netns(&ns)
        .run("tun-create", &[tun, "nstun1", &NOBODY.to_string()]);
    assert!(made.ok(), "{made:?}");
    let o = controlled_in(
        Some(&ns),
        User::Nobody,
        "tun-attach",
        &[tun, "nstun1"],
        false,
    );
    assert!(o.err("EACCES"), "{o:?}");
}

#[test]
fn interface_and_route_ioctls_are_refused_listing_is_not() {
    let ns = NetNs::new().expect("a network namespace");
    for user in USERS {
        let o = controlled_in(Some(&ns), user, "lo-up", &[], true);
        assert!(o.err("EACCES"), "{user:?}: {o:?}");
        // The rest of the family: refused by L1 before any capability check.
        for (request, what) in [
            ("890b", "SIOCADDRT"),
            ("890c", "SIOCDELRT"),
            ("8916", "SIOCSIFADDR"),
            ("8923", "SIOCSIFNAME"),
            ("8922", "SIOCSIFMTU"),
            ("8955", "SIOCSARP"),
            ("89a0", "SIOCBRADDBR"),
            ("89f0", "SIOCDEVPRIVATE"),
            ("8946", "SIOCETHTOOL"),
        ] {
            let o = Probe::sandboxed(&POLICY)
                .user(user)
                .netns(&ns)
                .run("sock-ioctl", &[request]);
            assert!(o.err("EACCES"), "{what} as {user:?}: {o:?}");
        }
        for (request, what) in [("8913", "SIOCGIFFLAGS"), ("8933", "SIOCGIFINDEX")] {
            let o = Probe::sandboxed(&POLICY)
                .user(user)
                .netns(&ns)
                .run("sock-ioctl", &[request]);
            assert!(o.ok(), "{what} as {user:?}: {o:?}");
        }
    }
}

#[test]
fn kernel_tunables_are_read_only() {
    let mut paths = vec![
        "/proc/sys/kernel/core_pattern",
        "/proc/sys/net/ipv4/ip_forward",
        "/proc/sys/net/core/bpf_jit_enable",
    ];
    // What this kernel has of the rest of the family.
    for optional in [
        "/proc/sys/kernel/modprobe",
        "/proc/sysrq-trigger",
        "/sys/kernel/uevent_helper",
        "/sys/fs/cgroup/unified/cgroup.procs",
        "/proc/sys/kernel/hotplug",
        "/proc/sys/fs/binfmt_misc/register",
        "/sys/class/net/lo/mtu",
        "/sys/kernel/mm/transparent_hugepage/enabled",
    ] {
        if std::path::Path::new(optional).exists() {
            paths.push(optional);
        }
    }
    for path in paths {
        let o = controlled(User::Root, "open-write", &[path], true);
        assert!(o.err("EROFS"), "{path}: {o:?}");
        let o = controlled(User::Nobody, "open-write", &[path], true);
        assert!(o.err("EACCES") || o.err("EROFS"), "{path} as nobody: {o:?}");
    }
    // Through another process's root, in the host's mount namespace: Landlock keeps the
    // sandbox from reaching into processes outside it.
    let outside = Outside::start(User::Root);
    let via = format!("/proc/{}/root/proc/sys/kernel/core_pattern", outside.pid());
    let o = controlled(User::Root, "open-write", &[&via], true);
    assert!(o.err("EACCES") || o.err("EPERM"), "{o:?}");
    // From a working directory inside the tunables, taken before the namespace existed.
    let control = Probe::unsandboxed()
        .cwd("/proc/sys/kernel")
        .run("open-write", &["core_pattern"]);
    assert!(control.ok(), "{control:?}");
    let o = Probe::sandboxed(&POLICY)
        .cwd("/proc/sys/kernel")
        .run("open-write", &["core_pattern"]);
    assert!(o.err("EROFS"), "{o:?}");
    // And the read-only mounts cannot be undone.
    let o = Probe::sandboxed(&POLICY).run("umount", &["/proc/sys"]);
    assert!(o.err("EPERM"), "{o:?}");
    let o = Probe::sandboxed(&POLICY).run("caps", &[]);
    assert!(
        o.stderr
            .contains("private mount namespace: read-only /proc/sys"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains(", /sys,"), "{}", o.stderr);
}

#[test]
fn files_cannot_be_opened_by_handle() {
    // open_by_handle_at skips the path walk, and with it path-based walls such as the
    // read-only mounts: CAP_DAC_READ_SEARCH, which it needs, is dropped.
    let dir = TempDir::new("by-handle");
    let file = dir.path.join("file");
    std::fs::write(&file, b"x").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let file = file.to_str().unwrap();
    for user in USERS {
        let o = controlled(user, "open-by-handle", &[file], true);
        assert!(o.err("EPERM"), "{user:?}: {o:?}");
    }
}

#[test]
fn the_kernel_is_not_asked_to_run_request_key() {
    for user in USERS {
        // The control reaches the kernel's key search and upcall: without keyutils installed
        // it fails there (ENOKEY), not for lack of permission.
        let control = Probe::unsandboxed().user(user).run("request-key", &[]);
        assert!(
            !control.err("EPERM") && !control.err("EACCES"),
            "{control:?}"
        );
        let o = Probe::sandboxed(&POLICY).user(user).run("request-key", &[]);
        assert!(o.err("EPERM"), "{user:?}: {o:?}");
    }
}

// --- 3. Other processes ------------------------------------------------------------------

#[test]
fn other_processes_cannot_be_signalled_relimited_or_rescheduled() {
    let scoped = landlock_abi() >= 6;
    for user in USERS {
        let target = Outside::start(user);
        let pid = target.pid();
        let p = pid.as_str();
        let mut attempts: Vec<(&str, Vec<&str>, &str)> = vec![
            ("prlimit", vec![p], "EPERM"),
            ("setpriority", vec!["process", p], "EPERM"),
            // Its own process group (after setpgid(0, 0)): PRIO_PGRP is refused whoever is
            // in it. PRIO_USER is refused the same way (build-support's model checks it);
            // its control would renice every process of the user.
            ("setpriority", vec!["own-pgrp", "0"], "EPERM"),
            ("sched-affinity", vec![p], "EPERM"),
            ("sched-scheduler", vec![p], "EPERM"),
            ("ioprio", vec![p], "EPERM"),
        ];
        if scoped {
            attempts.extend([
                ("signal", vec![p, "18"], "EPERM"),
                ("signal", vec![p, "0"], "EPERM"),
                ("pidfd-signal", vec![p], "EPERM"),
                ("sigqueue", vec![p], "EPERM"),
            ]);
        } else {
            eprintln!(
                "signals: skipped, Landlock ABI {} has no signal scope",
                landlock_abi()
            );
        }
        for (attempt, args, errno) in attempts {
            let o = controlled(user, attempt, &args, false);
            assert!(o.err(errno), "{attempt} {args:?} as {user:?}: {o:?}");
        }
        assert!(target.running(), "the target was left running");
    }
}

#[test]
fn the_supervisor_cannot_be_stopped_or_relimited() {
    for user in USERS {
        let servers = Servers::start();
        let mut attempts = vec![("prlimit", vec!["supervisor"])];
        if landlock_abi() >= 6 {
            attempts.push(("signal", vec!["supervisor", "18"]));
            attempts.push(("pidfd-signal", vec!["supervisor"]));
        }
        for (attempt, args) in attempts {
            let o = Probe::sandboxed(&[servers.allow_tcp()])
                .user(user)
                .run(attempt, &args);
            assert!(o.err("EPERM"), "{attempt} as {user:?}: {o:?}");
        }
    }
}

#[test]
fn the_calling_process_may_still_change_its_own_settings() {
    for user in USERS {
        for (attempt, args) in [
            ("prlimit", vec!["0"]),
            ("setpriority", vec!["process", "0"]),
            ("sched-affinity", vec!["0"]),
            ("sched-scheduler", vec!["0"]),
            ("ioprio", vec!["0"]),
            ("clone-plain", vec![]),
        ] {
            let o = Probe::sandboxed(&POLICY).user(user).run(attempt, &args);
            assert!(o.ok(), "{attempt} as {user:?}: {o:?}");
        }
    }
}

#[test]
fn typing_into_the_terminal_is_refused() {
    // With dev.tty.legacy_tiocsti = 1 any user may type into its controlling terminal (the
    // shell reads it after the program exits); with 0 only CAP_SYS_ADMIN may.
    let legacy =
        std::fs::read_to_string("/proc/sys/dev/tty/legacy_tiocsti").is_ok_and(|v| v.trim() == "1");
    for user in USERS {
        if user == User::Nobody && !legacy {
            eprintln!("tiocsti as nobody: skipped, dev.tty.legacy_tiocsti is not 1");
            continue;
        }
        let o = controlled(user, "tiocsti", &[], false);
        assert!(o.err("EACCES"), "{user:?}: {o:?}");
    }
}

// --- 4. Parking the supervisor ------------------------------------------------------------

#[test]
fn userfaultfd_and_user_namespaces_are_refused() {
    let dir = TempDir::new("uffd");
    // /dev/userfaultfd is 10:257 here (mode 0600); a node of the test's own, mode 0666.
    let uffd = dir.char_device("userfaultfd", 10, 257);
    let uffd = uffd.to_str().unwrap();
    for user in USERS {
        for (attempt, args, errno) in [
            ("userfaultfd", vec![], "EPERM"),
            ("dev-userfaultfd", vec![uffd], "EACCES"),
            ("userns", vec![], "EPERM"),
            ("clone-newuser", vec![], "EPERM"),
            ("clone3", vec![], "ENOSYS"),
        ] {
            let o = controlled(user, attempt, &args, false);
            assert!(o.err(errno), "{attempt} as {user:?}: {o:?}");
        }
    }
}

#[test]
fn no_fuse_mount() {
    let dir = TempDir::new("fuse");
    let mnt = dir.path.join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    std::fs::set_permissions(&mnt, std::fs::Permissions::from_mode(0o777)).unwrap();
    // /dev/fuse is 10:229.
    let fuse = dir.char_device("fuse", 10, 229);
    let (fuse, mnt) = (fuse.to_str().unwrap(), mnt.to_str().unwrap());
    for user in USERS {
        let o = controlled(user, "fuse-mount", &[fuse, mnt], false);
        assert!(o.err("EPERM"), "{user:?}: {o:?}");
    }
    // Nothing was left mounted in the test's own namespace.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(mnt), "{mounts}");
}
