//! The escape suite through the command: the escape-tests `probe` program, run with
//! `--no-sandbox` (it installs nothing itself) under `network-sandbox run --allow …`, makes
//! the same attempts as the enforcement suite. Each attempt must reach a forbidden endpoint
//! without the command (the control) and nothing forbidden under it, as root and as nobody.
//!
//! The probe is a binary of another package, so Cargo does not build it for this one: the
//! test builds it with the `cargo` that runs the tests (`$CARGO`, into the same target
//! directory and profile) and uses the one next to its own `deps` directory.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use network_sandbox_escape_tests::{any_supervisor_line, eventually, supervisor_refused, Servers};

/// Builds the probe (a no-op when it is up to date). A failed build fails the test: these
/// tests must not pass without having run.
fn probe() -> &'static Path {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>");
        // Always ask cargo, so a stale probe is not used; without cargo (the test binary run
        // by hand), use what is there.
        let Some(cargo) = std::env::var_os("CARGO") else {
            return if profile_dir.join("probe").exists() {
                Ok(())
            } else {
                Err("no $CARGO to build the probe with, and no probe built".into())
            };
        };
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "--quiet",
            "-p",
            "network-sandbox-escape-tests",
            "--bin",
            "probe",
        ]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        // target/<profile> → target
        if let Some(target) = profile_dir.parent() {
            cmd.env("CARGO_TARGET_DIR", target);
        }
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
        match cmd.status() {
            Ok(s) if s.success() && profile_dir.join("probe").exists() => Ok(()),
            other => Err(format!("building the probe failed ({cmd:?}): {other:?}")),
        }
    });
    if let Err(e) = ready {
        panic!("{e}");
    }
    // Copies the probe to a directory every user can read.
    network_sandbox_escape_tests::probe_path()
}

/// What one probe run printed and how it ended.
#[derive(Debug)]
struct Run {
    result: String,
    out: common::Output,
    /// The forbidden target.
    target: String,
}

impl Run {
    /// Refused by the supervisor with `EACCES`, with its line naming `operation` to the
    /// target.
    #[track_caller]
    fn refused_by_supervisor(&self, operation: &str) {
        assert_eq!(self.result, "err EACCES", "{self:?}");
        assert!(
            supervisor_refused(&self.out.stderr, operation, Some(&self.target)),
            "{self:?}"
        );
    }

    /// Refused with `errno` by the static filter, whose network refusals the supervisor
    /// reports: a line for `operation`.
    #[track_caller]
    fn refused_by_static_filter(&self, errno: &str, operation: &str) {
        assert_eq!(self.result, format!("err {errno}"), "{self:?}");
        assert!(
            supervisor_refused(&self.out.stderr, operation, None),
            "{self:?}"
        );
    }

    /// Refused with `errno` before the supervisor, outside the network operations (the
    /// static filter's `ENOSYS` for io_uring): no line.
    #[track_caller]
    fn refused_silently(&self, errno: &str) {
        assert_eq!(self.result, format!("err {errno}"), "{self:?}");
        assert!(!any_supervisor_line(&self.out.stderr), "{self:?}");
    }
}

fn run_probe(sandboxed: Option<&str>, user: common::User, attempt: &str, args: &[String]) -> Run {
    let probe = probe();
    let mut cmd = match sandboxed {
        Some(allow) => {
            let mut c = Command::new(common::bin());
            c.args(["run", "--allow", allow, "--"]).arg(probe);
            c
        }
        None => Command::new(probe),
    };
    cmd.args(["--no-sandbox", "--", attempt]).args(args);
    common::as_user(&mut cmd, user);
    let out = common::output(&mut cmd);
    let result = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("RESULT "))
        .next_back()
        .unwrap_or("<none>")
        .to_owned();
    Run {
        result,
        out,
        target: args.first().cloned().unwrap_or_default(),
    }
}

/// Control without the command reaches a forbidden endpoint; under the command nothing
/// forbidden is reached. Returns the sandboxed runs, one per user.
fn blocked(attempt: &str) -> Vec<Run> {
    let mut users = vec![common::User::Root];
    if common::is_root() {
        users.push(common::User::Nobody);
    }
    let mut runs = Vec::new();
    for user in users {
        let servers = Servers::start();
        let control = run_probe(None, user, attempt, &[servers.forbidden.arg()]);
        assert!(
            eventually(Duration::from_secs(15), || servers.escaped()),
            "control for {attempt} as {user:?} did not reach the forbidden endpoint: {control:?}"
        );

        let servers = Servers::start();
        let run = run_probe(
            Some(&servers.allow_tcp()),
            user,
            attempt,
            &[servers.forbidden.arg()],
        );
        servers.settle();
        assert!(
            !servers.escaped(),
            "{attempt} as {user:?} escaped network-sandbox run: {run:?}"
        );
        runs.push(run);
    }
    runs
}

#[test]
fn connect_to_a_forbidden_host() {
    for r in blocked("connect") {
        r.refused_by_supervisor("connect");
    }
}

#[test]
fn allowed_connect_still_works() {
    let servers = Servers::start();
    let r = run_probe(
        Some(&servers.allow_tcp()),
        common::User::Root,
        "connect",
        &[servers.allowed.arg()],
    );
    assert!(r.result.starts_with("ok"), "{r:?}");
    assert!(eventually(Duration::from_secs(15), || servers
        .allowed
        .connections()
        == 1));
    servers.settle();
    assert_eq!(servers.allowed.connections(), 1);
    assert!(!servers.escaped());
}

#[test]
fn tcp_fast_open_sendto() {
    for r in blocked("tfo-sendto") {
        r.refused_by_static_filter("EACCES", "send");
    }
}

/// Under a TCP-only policy the UDP socket is a query socket (issue 12: made by the
/// supervisor, shut down); the send naming the address is refused by the supervisor.
#[test]
fn udp_sendto() {
    for r in blocked("udp-sendto") {
        r.refused_by_supervisor("send");
    }
}

#[test]
fn io_uring_connect() {
    for r in blocked("io-uring-connect") {
        r.refused_silently("ENOSYS");
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn int80_connect() {
    for r in blocked("int80-connect") {
        // The probe is the process the command execs, so its death by the arch check is the
        // command's exit status.
        assert_eq!(r.out.signal(), Some(libc::SIGSYS), "{r:?}");
        assert!(!any_supervisor_line(&r.out.stderr), "{r:?}");
    }
}

/// A forked child reports its connect's errno; bash's message tells its connect's errno.
#[test]
fn fork_and_exec_inherit_the_sandbox() {
    for attempt in ["fork-connect", "exec-connect"] {
        for r in blocked(attempt) {
            r.refused_by_supervisor("connect");
        }
    }
}
