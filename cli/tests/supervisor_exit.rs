//! The supervisor ends as soon as its program does, without spinning: after the last task
//! carrying the filter exits, `SECCOMP_IOCTL_NOTIF_RECV` fails at once with `ENOENT`, and a
//! supervisor that retried it would spin — for good under a real-time policy pinned to one
//! CPU, where no other thread of it ever runs again.
//!
//! This test binary makes itself the subreaper of what it starts, so the supervisor (which
//! double-forks away from its program) is re-parented here and can be waited for, with its
//! CPU time.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{as_user, bin, is_root, which, User};

/// How long a supervisor may take to end after its program did before the test calls it
/// stuck. Generous: the point is "ends" versus "never ends".
const LIMIT: Duration = Duration::from_secs(10);

struct Ended {
    /// The supervisor's user + system CPU time over its whole life.
    cpu: Duration,
}

fn become_subreaper() {
    // SAFETY: prctl with integer arguments.
    let ret = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(ret, 0, "PR_SET_CHILD_SUBREAPER");
}

/// Runs `PREFIX… network-sandbox run -v --allow 127.0.0.2:9 -- true` as `user`, waits for it,
/// then for its supervisor.
fn run_to_the_end(prefix: &[&str], user: User) -> Result<Ended, String> {
    become_subreaper();
    let mut cmd = match prefix.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(bin());
            c
        }
        None => Command::new(bin()),
    };
    cmd.args(["run", "-v", "--allow", "127.0.0.2:9", "--", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    as_user(&mut cmd, user);
    let mut child = cmd.spawn().map_err(|e| format!("spawn: {e}"))?;
    // The supervisor keeps stderr open, so read lines, not to the end.
    let mut stderr = BufReader::new(child.stderr.take().expect("piped"));
    let mut seen = String::new();
    let pid = loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            let _ = child.wait();
            return Err(format!("no supervisor pid in the report:\n{seen}"));
        }
        seen.push_str(&line);
        if let Some(pid) = line.trim().strip_prefix("supervisor: pid ") {
            break pid.parse::<libc::pid_t>().map_err(|e| e.to_string())?;
        }
    };
    let status = child.wait().map_err(|e| e.to_string())?;
    assert!(status.success(), "the program failed: {status}\n{seen}");
    let start = Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: rusage is plain data; wait4 fills it.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: waits for one specific child of this (subreaper) process.
        let ret = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if ret == pid {
            let tv = |t: libc::timeval| {
                Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
            };
            return Ok(Ended {
                cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
            });
        }
        if ret < 0 {
            return Err(format!(
                "wait4({pid}): {} (not re-parented here?)",
                std::io::Error::last_os_error()
            ));
        }
        if start.elapsed() > LIMIT {
            // SAFETY: kill with integer arguments; reap it so nothing outlives the test.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return Err(format!(
                "the supervisor (pid {pid}) was still running {LIMIT:?} after its program exited"
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn supervisor_ends_with_its_program_under_a_real_time_policy_on_one_cpu() {
    if !is_root() {
        network_sandbox_escape_tests::skipped("chrt -f needs root", None);
        return;
    }
    for tool in ["taskset", "chrt"] {
        assert!(which(tool).is_some(), "{tool} (util-linux) is missing");
    }
    let prefix = ["taskset", "-c", "0", "chrt", "-f", "10"];
    let ended = run_to_the_end(&prefix, User::Root).unwrap_or_else(|e| panic!("{e}"));
    // A spinning supervisor never ends (the limit above); this bound only catches one that
    // spins for a while before it ends.
    assert!(
        ended.cpu < Duration::from_secs(1),
        "CPU time {:?}",
        ended.cpu
    );
}

#[test]
fn supervisor_ends_with_its_program_as_root_and_as_nobody() {
    let users: &[User] = if is_root() {
        &[User::Root, User::Nobody]
    } else {
        &[User::Root]
    };
    for &user in users {
        let ended = run_to_the_end(&[], user).unwrap_or_else(|e| panic!("{user:?}: {e}"));
        assert!(
            ended.cpu < Duration::from_secs(1),
            "{user:?}: CPU time {:?}",
            ended.cpu
        );
    }
}
