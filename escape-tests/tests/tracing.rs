//! ptrace and `process_vm_readv/writev` inside the sandbox (issue 12). The static filter
//! allows them where a Landlock domain of the sandbox's own confines them to its processes,
//! so: a tracer inside reaches a child of its own; it does not reach the sandbox's parent or
//! the supervisor; what it does to a tracee's calls is still judged (a `getpid` turned into
//! a `connect` at the syscall-enter stop is refused by the supervisor, a sockaddr rewritten
//! while the supervisor performs the connect changes nothing); without Landlock, or with
//! `CAP_SYS_ADMIN` kept, ptrace stays refused and the report says why. Each with an
//! unsandboxed control, as root and as nobody.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};

use network_sandbox_escape_tests::*;

#[test]
fn a_tracer_reaches_a_child_of_its_own() {
    for user in USERS {
        let control = Probe::unsandboxed().user(user).run("trace-child", &[]);
        assert!(control.ok(), "control as {user:?}: {control:?}");
        let o = Probe::sandboxed(&["127.0.0.2:1"])
            .user(user)
            .run("trace-child", &[]);
        assert!(o.ok(), "inside as {user:?}: {o:?}");
        assert!(
            o.stderr
                .contains("ptrace and process_vm_readv/writev allowed between the sandbox's own"),
            "the report says tracing is allowed, and where: {o:?}"
        );
    }
}

/// Without Landlock (left out with the test switch, as on a kernel without it) nothing
/// would keep a tracer to the sandbox: the static filter refuses, and the report says why.
#[test]
fn without_landlock_tracing_stays_refused() {
    for user in USERS {
        let o = Probe::sandboxed(&["127.0.0.2:1"])
            .leave_out("L3")
            .user(user)
            .run("trace-child", &[]);
        o.assert_refused_silently("EPERM");
        assert!(
            o.stderr.contains(
                "ptrace and process_vm_readv/writev refused (EPERM): no Landlock domain here"
            ),
            "the report says why: {o:?}"
        );
    }
}

/// A policy that keeps `CAP_SYS_ADMIN` (with which a tracer could ask for
/// `PTRACE_O_SUSPEND_SECCOMP`) keeps ptrace refused.
#[test]
fn keeping_cap_sys_admin_keeps_tracing_refused() {
    for user in USERS {
        let o = Probe::sandboxed(&["127.0.0.2:1"])
            .option("keep-capability=21")
            .user(user)
            .run("trace-child", &[]);
        o.assert_refused_silently("EPERM");
        assert!(
            o.stderr
                .contains("refused (EPERM): the policy keeps CAP_SYS_ADMIN"),
            "the report says why: {o:?}"
        );
    }
}

/// Runs the probe as a child of a shell of the same user, so that its parent is a process it
/// could trace without the sandbox.
fn under_a_shell(user: User, sandboxed: bool, attempt: &str) -> String {
    let probe = probe_path().to_str().unwrap().to_owned();
    let policy = if sandboxed {
        "--allow 127.0.0.2:1"
    } else {
        "--no-sandbox"
    };
    // Not `exec`: the shell stays the probe's parent, and waits for it.
    let script = format!("{probe} {policy} -- {attempt} parent; echo shell-done");
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if user == User::Nobody {
        use std::os::unix::process::CommandExt;
        cmd.uid(NOBODY).gid(NOBODY).current_dir("/");
    }
    let out = cmd.output().expect("sh");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_sandboxs_parent_stays_out_of_reach() {
    for attempt in ["ptrace-seize", "ptrace-attach-parent", "vm-read"] {
        for user in USERS {
            let control = under_a_shell(user, false, attempt);
            assert!(
                control.contains("RESULT ok") && control.contains("shell-done"),
                "control: {attempt} of the parent as {user:?} works: {control}"
            );
            let inside = under_a_shell(user, true, attempt);
            assert!(
                inside.contains("RESULT err EPERM") && inside.contains("shell-done"),
                "{attempt} of the parent from inside as {user:?}: {inside}"
            );
        }
    }
}

/// The supervisor, from inside: refused. The control (a process of the same user outside
/// the sandbox, aimed at a live supervisor) works as root; as nobody the supervisor is
/// already out of reach (it is not dumpable), and the control says so.
#[test]
fn the_supervisor_stays_out_of_reach() {
    for attempt in ["ptrace-seize", "vm-read"] {
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
                User::Nobody => assert!(
                    control.err("EPERM"),
                    "control {attempt} as nobody: {control:?}"
                ),
            }
            drop(held);
            let o = Probe::sandboxed(&["127.0.0.2:1"])
                .user(user)
                .run(attempt, &["supervisor"]);
            o.assert_refused_silently("EPERM");
        }
    }
}

/// Another sandbox's process (its own Landlock domain, a sibling of this one): out of
/// reach, so a sandbox with a narrow policy cannot make a process of a wider one connect
/// for it. The control: the same process, reached from outside any sandbox (as root, and
/// as nobody: the held probe runs as the same user and is dumpable).
#[test]
fn another_sandboxs_processes_stay_out_of_reach() {
    for attempt in ["ptrace-seize", "vm-read"] {
        for user in USERS {
            let wider = Probe::sandboxed(&["127.0.0.2:1"]).user(user).hold();
            let pid = wider.pid().to_string();
            let control = Probe::unsandboxed().user(user).run(attempt, &[&pid]);
            assert!(control.ok(), "control {attempt} as {user:?}: {control:?}");
            let o = Probe::sandboxed(&["127.0.0.2:2"])
                .user(user)
                .run(attempt, &[&pid]);
            o.assert_refused_silently("EPERM");
        }
    }
}

/// A tracer changes the tracee's `getpid` into `connect(fd, forbidden)` at the
/// syscall-enter stop. seccomp runs after that stop, on the changed call: the supervisor
/// refuses it (and says so) as it refuses any connect there.
#[test]
fn a_getpid_turned_into_a_connect_is_judged() {
    let outcomes = assert_blocked_with_control(
        "trace-syscall-to-connect",
        |s| vec![s.forbidden.arg()],
        false,
        |control| assert_eq!(control.result(), "ok connected", "{control:?}"),
    );
    for o in outcomes {
        o.assert_refused_by_supervisor("EACCES", "connect", &o.args[0]);
    }
}

/// A listener on `addr` whose accept queue is full (backlog 0, one connection waiting in
/// it), so the next connect to it stays in `SYN_SENT` until [`Full::drain`].
struct Full {
    listener: TcpListener,
    _waiting: TcpStream,
}

impl Full {
    fn new(ip: &str) -> Full {
        let listener = TcpListener::bind(format!("{ip}:0")).expect("bind");
        // SAFETY: listen on our own socket with an integer backlog.
        let r = unsafe { libc::listen(listener.as_raw_fd(), 0) };
        assert_eq!(r, 0, "listen");
        let waiting = TcpStream::connect(listener.local_addr().unwrap()).expect("fill the queue");
        Full {
            listener,
            _waiting: waiting,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap()
    }

    /// Accepts the waiting connection: the queue has room for the pending one.
    fn drain(&self) {
        let _ = self.listener.accept().expect("accept");
    }
}

/// The tracee's blocking `connect` to the allowed address is in flight (the supervisor has
/// read the address and is connecting: a SYN is pending) when its tracer writes a forbidden
/// address over the tracee's sockaddr with `process_vm_writev`. The supervisor connects with
/// the copy it checked: the socket ends up connected to the allowed address, the forbidden
/// one sees nothing. The control shows the rewrite itself lands (the tracee's buffer holds
/// the forbidden address afterwards) and where an unsandboxed connect goes.
#[test]
fn rewriting_the_address_of_a_connect_in_flight_changes_nothing() {
    for user in USERS {
        for sandboxed in [false, true] {
            let full = Full::new("127.0.0.2");
            let forbidden = Recorder::start("127.0.0.3:0".parse().unwrap()).expect("recorder");
            let (allowed, other) = (full.addr().to_string(), forbidden.addr.to_string());
            let probe = if sandboxed {
                Probe::sandboxed(&[allowed.as_str()])
            } else {
                Probe::unsandboxed()
            };
            let mut cmd = probe.user(user).command_for(
                "trace-rewrite-during-connect",
                &[allowed.as_str(), other.as_str()],
            );
            cmd.stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = cmd.spawn().expect("probe");
            let mut stdout = BufReader::new(child.stdout.take().unwrap());
            let mut lines = Vec::new();
            let mut line = String::new();
            // Until the tracer says it rewrote the address (or the probe ends).
            while stdout.read_line(&mut line).unwrap_or(0) > 0 {
                lines.push(line.trim().to_owned());
                if line.contains("RESULT step rewritten") {
                    break;
                }
                line.clear();
            }
            full.drain();
            let mut rest = String::new();
            let _ = stdout.read_to_string(&mut rest);
            let mut stderr = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
            let _ = child.wait();
            lines.extend(rest.lines().map(str::to_owned));
            forbidden.settle();
            let what = if sandboxed { "sandboxed" } else { "control" };
            assert!(
                lines.iter().any(|l| l == "RESULT step rewritten"),
                "{what} as {user:?}: the tracer did not rewrite: {lines:?} {stderr}"
            );
            let want = format!("RESULT ok peer={allowed} buffer={other}");
            assert_eq!(
                lines.last().map(String::as_str),
                Some(want.as_str()),
                "{what} as {user:?}: {lines:?} {stderr}"
            );
            assert_eq!(forbidden.connections(), 0, "{what} as {user:?}: {stderr}");
            if sandboxed {
                assert!(!any_supervisor_line(&stderr), "{stderr}");
            }
        }
    }
}

/// A policy that keeps `CAP_SYS_PTRACE` (which overrides the supervisor's non-dumpable flag
/// and ptrace's same-user rule) still reaches nothing outside: Landlock's ptrace rule does
/// not yield to capabilities. Root only (an unprivileged user has no capability to keep).
#[test]
fn keeping_cap_sys_ptrace_reaches_nothing_outside() {
    for attempt in ["ptrace-seize", "vm-read"] {
        let held = Probe::sandboxed(&["127.0.0.2:1"]).hold();
        let supervisor = held
            .supervisor
            .filter(|p| *p != 0)
            .unwrap_or_else(|| panic!("no supervisor: {}", held.line))
            .to_string();
        let control = Probe::unsandboxed().run(attempt, &[&supervisor]);
        assert!(control.ok(), "control {attempt} as root: {control:?}");
        drop(held);
        let o = Probe::sandboxed(&["127.0.0.2:1"])
            .option("keep-capability=19")
            .run(attempt, &["supervisor"]);
        o.assert_refused_silently("EPERM");
        assert!(
            o.stderr
                .contains("kept at the policy's request: CAP_SYS_PTRACE"),
            "the capability was kept: {o:?}"
        );
        // And tracing inside still works with it.
        let o = Probe::sandboxed(&["127.0.0.2:1"])
            .option("keep-capability=19")
            .run("trace-child", &[]);
        assert!(o.ok(), "{o:?}");
    }
}
