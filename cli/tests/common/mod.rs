//! Test support: loopback HTTP servers that record connections (the shared harness of
//! escape-tests), the `network-sandbox` binary
//! in a directory every user can read, and child processes that are killed and reaped when a
//! test ends, however it ends.

#![allow(dead_code)]

use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// The unprivileged user some tests run as.
pub const NOBODY: u32 = 65534;

/// The loopback server of the test crates (escape-tests' [`Recorder`]), answering HTTP.
pub use network_sandbox_escape_tests::Recorder as HttpServer;

/// The body each server answers with.
fn body_for(addr: SocketAddr) -> String {
    format!("hello from {addr}")
}

/// The three servers of one test, on one port: 127.0.0.2 (allowed), 127.0.0.3 and `[::1]`
/// (forbidden).
pub struct Servers {
    /// 127.0.0.2:P, what the policy allows.
    pub allowed: HttpServer,
    /// 127.0.0.3:P, forbidden.
    pub forbidden: HttpServer,
    /// `[::1]:P`, forbidden.
    pub forbidden6: HttpServer,
}

impl Servers {
    /// Starts the servers on a port free on all three addresses.
    pub fn start() -> Servers {
        for _ in 0..50 {
            let Ok(allowed) = HttpServer::http("127.0.0.2:0".parse().unwrap(), body_for) else {
                continue;
            };
            let port = allowed.port();
            let Ok(forbidden) =
                HttpServer::http(SocketAddr::from(([127, 0, 0, 3], port)), body_for)
            else {
                continue;
            };
            let Ok(forbidden6) =
                HttpServer::http(format!("[::1]:{port}").parse().unwrap(), body_for)
            else {
                continue;
            };
            return Servers {
                allowed,
                forbidden,
                forbidden6,
            };
        }
        panic!("no port free on 127.0.0.2, 127.0.0.3 and [::1]");
    }

    /// The `--allow` value for the allowed server.
    pub fn allow(&self) -> String {
        self.allowed.addr.to_string()
    }

    /// Drains every server's queues: the counts are then definite for everything that
    /// reached the kernel before the call (see [`HttpServer::settle`]).
    pub fn settle(&self) {
        for s in [&self.allowed, &self.forbidden, &self.forbidden6] {
            s.settle();
        }
    }

    /// Connections the forbidden servers accepted, counted after draining their queues.
    pub fn forbidden_connections(&self) -> usize {
        self.settle();
        self.forbidden.connections() + self.forbidden6.connections()
    }
}

/// Who runs a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum User {
    /// The test's own user (root in CI).
    Root,
    /// uid/gid 65534 without supplementary groups.
    Nobody,
}

/// Whether the tests run as root (needed to switch to [`NOBODY`]).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A directory every user can read and enter, in the temp dir under the test process's PID,
/// removed when the process exits (`process_dir`); it holds copies of binaries.
pub fn shared_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| network_sandbox_escape_tests::process_dir("network-sandbox-cli"))
}

/// A fresh directory every user can read, for one test's files.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = shared_dir().join(name);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

/// The `network-sandbox` binary, copied once into [`shared_dir`] so that the unprivileged
/// user can run it wherever the build directory is.
pub fn bin() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let copy = shared_dir().join("network-sandbox");
        install_executable(Path::new(env!("CARGO_BIN_EXE_network-sandbox")), &copy)
            .expect("copy binary");
        copy
    })
}

/// Copies the executable `from` to `to` (mode 755) in a child process (`install`), never
/// with a descriptor of this process: a test thread that forks while this process holds the
/// copy open for writing would keep it open until its exec, and an exec of the copy in that
/// window fails with `ETXTBSY` ("Text file busy"), as a CI run once saw.
pub fn install_executable(from: &Path, to: &Path) -> Result<(), String> {
    let status = Command::new("install")
        .args(["-m", "755"])
        .arg(from)
        .arg(to)
        .status()
        .map_err(|e| format!("install: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "install {} {}: {status}",
            from.display(),
            to.display()
        ))
    }
}

/// A command for `network-sandbox ARGS`.
pub fn ns(args: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(args);
    cmd
}

/// `network-sandbox run --allow ALLOW -- PROGRAM…` (no `--allow` when `allow` is `None`).
pub fn ns_run(allow: Option<&str>, program: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.arg("run");
    if let Some(a) = allow {
        cmd.arg("--allow").arg(a);
    }
    cmd.arg("--").args(program);
    cmd
}

/// Makes `cmd` run as [`NOBODY`] from `/` (std drops supplementary groups when root sets a uid).
pub fn as_user(cmd: &mut Command, user: User) {
    if user == User::Nobody {
        cmd.uid(NOBODY).gid(NOBODY).current_dir("/");
        cmd.env("HOME", "/nonexistent");
    }
}

/// A child that is killed (whole process group) and reaped when dropped.
pub struct Guard {
    /// The child.
    pub child: Child,
    reaped: bool,
}

impl Guard {
    /// Spawns `cmd` in its own process group, stdin from /dev/null, output captured.
    pub fn spawn(cmd: &mut Command) -> Guard {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        Guard {
            child,
            reaped: false,
        }
    }

    /// Waits at most `limit`, killing the group if it runs longer, and collects the output.
    pub fn wait(mut self, limit: Duration) -> Output {
        let mut stdout = self.child.stdout.take().expect("stdout");
        let mut stderr = self.child.stderr.take().expect("stderr");
        let out_t = thread::spawn(move || {
            let mut v = Vec::new();
            let _ = stdout.read_to_end(&mut v);
            v
        });
        let err_t = thread::spawn(move || {
            let mut v = Vec::new();
            let _ = stderr.read_to_end(&mut v);
            v
        });
        let start = Instant::now();
        let mut timed_out = false;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break s;
            }
            if start.elapsed() > limit {
                timed_out = true;
                self.kill_group();
                break self.child.wait().expect("wait");
            }
            thread::sleep(Duration::from_millis(10));
        };
        self.reaped = true;
        // Anything the program left behind in its group (a background child holding the
        // pipes) is stopped too, so reading the pipes ends.
        self.kill_group();
        let stdout = out_t.join().unwrap();
        let stderr = err_t.join().unwrap();
        Output {
            status,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            timed_out,
        }
    }

    /// Sends SIGKILL to the child's whole process group (the supervisor is not in it: it
    /// starts its own session).
    pub fn kill_group(&self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill with the process group we created for our own child (process_group(0)
        // makes the child the leader of a group with its PID). Signalling a group whose
        // members are gone is harmless (ESRCH).
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.reaped {
            self.kill_group();
            let _ = self.child.wait();
        }
    }
}

/// What a finished command did.
#[derive(Debug)]
pub struct Output {
    /// Its status.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Whether it was killed for running too long.
    pub timed_out: bool,
}

impl Output {
    /// The exit code, if it exited.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// The signal that ended it, if any.
    pub fn signal(&self) -> Option<i32> {
        self.status.signal()
    }
}

/// Runs `cmd` to completion (at most 60 s) and returns what it did.
pub fn output<C: std::borrow::BorrowMut<Command>>(mut cmd: C) -> Output {
    Guard::spawn(cmd.borrow_mut()).wait(Duration::from_secs(60))
}

/// The path of `name` in `PATH`, if any, resolved to the real file.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .and_then(|p| std::fs::canonicalize(p).ok())
}

/// `which(name)`, or reports the test skipped (`SKIPPED: …`, counted by scripts/test.sh;
/// a failure in CI, where scripts/setup.sh installs every tool) and returns `None`.
pub fn require(name: &str, what: &str) -> Option<PathBuf> {
    let found = which(name);
    if found.is_none() {
        network_sandbox_escape_tests::skipped(
            &format!("{what} not installed ({name} not in PATH)"),
            Some(name),
        );
    }
    found
}

/// python3 that every user can run: Debian's, since pyenv's shims live under /root; else
/// whatever `python3` is in `PATH`, or the test is reported skipped.
pub fn python() -> Option<PathBuf> {
    let system = Path::new("/usr/bin/python3");
    if system.exists() {
        return Some(system.to_owned());
    }
    require("python3", "python3")
}

/// Builds the Go program `source` (one `main.go`) in a scratch directory named `name`, with
/// cgo on or off, and returns the executable; `None` (the test reported skipped) without Go.
/// The build uses the directory's own cache and GOPATH, no modules, no inherited GOFLAGS.
#[allow(dead_code)] // Not every test file builds Go programs.
pub fn go_program(name: &str, source: &str, cgo: bool) -> Option<PathBuf> {
    let go = require("go", "Go (Debian package golang-go)")?;
    let dir = scratch_dir(name);
    std::fs::write(dir.join("main.go"), source).unwrap();
    let exe = dir.join(name);
    let out = output(
        Command::new(&go)
            .args(["build", "-o"])
            .arg(&exe)
            .arg("main.go")
            .current_dir(&dir)
            .env("GOCACHE", dir.join("cache"))
            .env("GOPATH", dir.join("gopath"))
            .env("GO111MODULE", "off")
            .env("GOFLAGS", "")
            .env("CGO_ENABLED", if cgo { "1" } else { "0" }),
    );
    assert_eq!(out.code(), Some(0), "go build of {name} failed: {out:?}");
    Some(exe)
}

pub mod dns;

/// Installs `program` as a seccomp filter (with `no_new_privs`) in the child of `cmd` just
/// before it execs: a test's way to run the command where a system call is refused, as a
/// container runtime or an outer sandbox would.
pub fn with_seccomp_filter(cmd: &mut Command, program: Vec<libc::sock_filter>) {
    // SAFETY: runs in the child before exec; prctl and seccomp on a program that lives in
    // the closure.
    unsafe {
        cmd.pre_exec(move || {
            let prog = libc::sock_fprog {
                len: program.len() as u16,
                filter: program.as_ptr() as *mut libc::sock_filter,
            };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER,
                    &prog as *const libc::sock_fprog,
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
