//! `network-sandbox run` as PID 1 (`unshare --pid --fork`, a container's entrypoint): a
//! program that reaps all its children ends, because the supervisor is re-parented to the
//! small init that `run` keeps in front of the program instead of to the program; the
//! program's exit status and the signals sent to PID 1 reach it.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{as_user, bin, is_root, output, python, Guard, User};

/// Forks a child that exits, then waits until no child is left; prints how many it reaped
/// and its own PID, and exits 7.
const REAPER: &str = r#"import os
if os.fork() == 0:
    os._exit(0)
n = 0
while True:
    try:
        os.wait()
        n += 1
    except ChildProcessError:
        break
print("reaped", n, "pid", os.getpid())
raise SystemExit(7)
"#;

/// Exits 3 on SIGTERM.
const ON_TERM: &str = r#"import signal, sys
signal.signal(signal.SIGTERM, lambda *a: sys.exit(3))
print("ready", flush=True)
signal.pause()
"#;

/// `unshare … --pid --fork [network-sandbox run --allow 127.0.0.2:9 --] python3 -c SCRIPT`;
/// as nobody in a user namespace of its own (a new PID namespace needs one there).
fn pid1(user: User, sandboxed: bool, script: &str) -> Option<Command> {
    let py = python()?;
    let mut cmd = Command::new("unshare");
    if user == User::Nobody {
        cmd.args(["--user", "--map-root-user"]);
    }
    cmd.args(["--pid", "--fork"]);
    if sandboxed {
        cmd.arg(bin()).args(["run", "--allow", "127.0.0.2:9", "--"]);
    }
    cmd.arg(py).args(["-c", script]);
    as_user(&mut cmd, user);
    Some(cmd)
}

fn users() -> Vec<User> {
    if is_root() {
        vec![User::Root, User::Nobody]
    } else {
        vec![User::Nobody]
    }
}

#[test]
fn a_reaper_as_pid_1_ends_and_keeps_its_exit_status() {
    if python().is_none() {
        return;
    }
    for user in users() {
        let control = output(pid1(user, false, REAPER).unwrap());
        assert_eq!(control.code(), Some(7), "{user:?}: {control:?}");
        assert_eq!(
            control.stdout.trim(),
            "reaped 1 pid 1",
            "{user:?}: {control:?}"
        );
        let out = output(pid1(user, true, REAPER).unwrap());
        assert!(
            !out.timed_out,
            "{user:?}: the reaper waited for the supervisor: {out:?}"
        );
        assert_eq!(out.code(), Some(7), "{user:?}: {out:?}");
        // The program is the init's child; the supervisor was never its child.
        assert_eq!(out.stdout.trim(), "reaped 1 pid 2", "{user:?}: {out:?}");
    }
}

/// The host PID of `parent`'s only child (unshare's child is PID 1 of the new namespace).
fn only_child(parent: u32) -> libc::pid_t {
    let path = format!("/proc/{parent}/task/{parent}/children");
    let children = std::fs::read_to_string(&path).unwrap_or_default();
    let pids: Vec<libc::pid_t> = children
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 1, "{path}: {children:?}");
    pids[0]
}

#[test]
fn a_signal_to_pid_1_reaches_the_program() {
    if python().is_none() {
        return;
    }
    for user in users() {
        for sandboxed in [false, true] {
            let mut cmd = pid1(user, sandboxed, ON_TERM).unwrap();
            cmd.stdout(Stdio::piped());
            let mut guard = Guard::spawn(&mut cmd);
            let mut line = String::new();
            BufReader::new(guard.child.stdout.as_mut().unwrap())
                .read_line(&mut line)
                .unwrap();
            assert_eq!(line.trim(), "ready", "{user:?} sandboxed={sandboxed}");
            let init = only_child(guard.child.id());
            // SAFETY: kill with integer arguments.
            assert_eq!(unsafe { libc::kill(init, libc::SIGTERM) }, 0);
            let out = guard.wait(Duration::from_secs(30));
            assert_eq!(
                out.code(),
                Some(3),
                "{user:?} sandboxed={sandboxed}: {out:?}"
            );
        }
    }
}
