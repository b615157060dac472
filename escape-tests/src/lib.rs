//! Test support for the enforcement and escape suites.
//!
//! - [`Servers`]: TCP and UDP servers on loopback that record every connection and datagram:
//!   127.0.0.2 (the allowed host), 127.0.0.3 and `[::1]` (forbidden), all on one port, and a
//!   second port on 127.0.0.2 (forbidden port on the allowed host).
//! - [`Probe`]: runs the `probe` binary (a program that installs a policy given on its command
//!   line, then makes one attempt) as root or as an unprivileged user, with or without the
//!   sandbox, and parses what it reports.
//!
//! Every test talks to loopback only, and every process a test starts ends with it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

/// The unprivileged user the suites also run as.
pub const NOBODY: u32 = 65534;

/// One recording endpoint: a TCP listener and a UDP socket on the same address.
pub struct Recorder {
    /// The address both listen on.
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    tcp_bytes: Arc<Mutex<Vec<u8>>>,
    datagrams: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Recorder {
    fn start(addr: SocketAddr) -> std::io::Result<Recorder> {
        let tcp = TcpListener::bind(addr)?;
        let addr = tcp.local_addr()?;
        let udp = UdpSocket::bind(addr)?;
        tcp.set_nonblocking(true)?;
        udp.set_read_timeout(Some(Duration::from_millis(20)))?;
        let connections = Arc::new(AtomicUsize::new(0));
        let tcp_bytes = Arc::new(Mutex::new(Vec::new()));
        let datagrams = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        {
            let (connections, bytes, stop) = (connections.clone(), tcp_bytes.clone(), stop.clone());
            threads.push(thread::spawn(move || {
                accept_loop(tcp, connections, bytes, stop)
            }));
        }
        {
            let (datagrams, stop) = (datagrams.clone(), stop.clone());
            threads.push(thread::spawn(move || {
                let mut buf = [0u8; 2048];
                while !stop.load(Ordering::SeqCst) {
                    if let Ok((_, peer)) = udp.recv_from(&mut buf) {
                        datagrams.fetch_add(1, Ordering::SeqCst);
                        let _ = udp.send_to(b"pong", peer);
                    }
                }
            }));
        }
        Ok(Recorder {
            addr,
            connections,
            tcp_bytes,
            datagrams,
            stop,
            threads,
        })
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// UDP datagrams received so far.
    pub fn datagrams(&self) -> usize {
        self.datagrams.load(Ordering::SeqCst)
    }

    /// Bytes received over TCP so far.
    pub fn tcp_bytes(&self) -> Vec<u8> {
        self.tcp_bytes.lock().unwrap().clone()
    }

    /// Anything at all reached this endpoint.
    pub fn reached(&self) -> bool {
        self.connections() > 0 || self.datagrams() > 0
    }

    /// `host:port` as the probe takes it.
    pub fn arg(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn accept_loop(
    tcp: TcpListener,
    connections: Arc<AtomicUsize>,
    bytes: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::SeqCst) {
        match tcp.accept() {
            Ok((stream, _)) => {
                connections.fetch_add(1, Ordering::SeqCst);
                let bytes = bytes.clone();
                thread::spawn(move || serve_connection(stream, bytes));
            }
            Err(_) => thread::sleep(Duration::from_millis(2)),
        }
    }
}

/// Records what the client sends and answers `pong` to each read, for a short while.
fn serve_connection(mut stream: TcpStream, bytes: Arc<Mutex<Vec<u8>>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        bytes.lock().unwrap().extend_from_slice(&buf[..n]);
        let _ = stream.write_all(b"pong");
    }
}

/// The servers one test uses.
pub struct Servers {
    /// 127.0.0.2:P — what the policy allows.
    pub allowed: Recorder,
    /// 127.0.0.3:P — same port, other host: forbidden.
    pub forbidden: Recorder,
    /// `[::1]:P` — forbidden.
    pub forbidden6: Recorder,
    /// 127.0.0.2:Q — allowed host, other port: forbidden.
    pub other_port: Recorder,
}

impl Servers {
    /// Starts the four recorders on free ports.
    pub fn start() -> Servers {
        for _ in 0..50 {
            let Ok(allowed) = Recorder::start("127.0.0.2:0".parse().unwrap()) else {
                continue;
            };
            let port = allowed.addr.port();
            let Ok(forbidden) = Recorder::start(SocketAddr::from(([127, 0, 0, 3], port))) else {
                continue;
            };
            let Ok(forbidden6) = Recorder::start(format!("[::1]:{port}").parse().unwrap()) else {
                continue;
            };
            let Ok(other_port) = Recorder::start("127.0.0.2:0".parse().unwrap()) else {
                continue;
            };
            return Servers {
                allowed,
                forbidden,
                forbidden6,
                other_port,
            };
        }
        panic!("could not find a free port on 127.0.0.2, 127.0.0.3 and [::1]");
    }

    /// Whether anything reached a forbidden endpoint.
    pub fn escaped(&self) -> bool {
        self.forbidden.reached() || self.forbidden6.reached() || self.other_port.reached()
    }

    /// The TCP allow entry for the allowed server.
    pub fn allow_tcp(&self) -> String {
        self.allowed.arg()
    }

    /// The UDP allow entry for the allowed server.
    pub fn allow_udp(&self) -> String {
        format!("udp://{}", self.allowed.arg())
    }
}

/// Who runs the probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum User {
    /// The test's own user (root in CI).
    Root,
    /// uid/gid 65534, with no supplementary groups.
    Nobody,
}

/// Both users, for tests that run as each.
pub const USERS: [User; 2] = [User::Root, User::Nobody];

/// What a probe run reported.
#[derive(Debug)]
pub struct Outcome {
    /// `RESULT …` lines the probe printed, without the prefix.
    pub results: Vec<String>,
    /// Exit code, if it exited.
    pub code: Option<i32>,
    /// Signal that killed it, if any.
    pub signal: Option<i32>,
    /// Its standard error.
    pub stderr: String,
}

impl Outcome {
    /// The last `RESULT` line.
    pub fn result(&self) -> &str {
        self.results.last().map(String::as_str).unwrap_or("<none>")
    }

    /// Whether the attempt reported success.
    pub fn ok(&self) -> bool {
        self.result().starts_with("ok")
    }

    /// Whether it reported the errno `name` (e.g. "EACCES").
    pub fn err(&self, name: &str) -> bool {
        self.result() == format!("err {name}")
    }
}

/// A probe invocation being built.
pub struct Probe {
    allow: Option<Vec<String>>,
    options: Vec<String>,
    user: User,
    env: Vec<(String, String)>,
    netns: Option<PathBuf>,
    cwd: Option<PathBuf>,
}

impl Probe {
    /// A probe that installs a policy with these allow entries.
    pub fn sandboxed<S: ToString>(allow: &[S]) -> Probe {
        Probe {
            allow: Some(allow.iter().map(ToString::to_string).collect()),
            options: Vec::new(),
            user: User::Root,
            env: Vec::new(),
            netns: None,
            cwd: None,
        }
    }

    /// A probe that runs the attempt without any sandbox (the control).
    pub fn unsandboxed() -> Probe {
        Probe {
            allow: None,
            options: Vec::new(),
            user: User::Root,
            env: Vec::new(),
            netns: None,
            cwd: None,
        }
    }

    /// Sends violations to the probe's hook (which appends them to `PROBE_HOOK_FILE`).
    pub fn hook(mut self) -> Probe {
        self.options.push("--hook".to_owned());
        self
    }

    /// Adds a policy option (`audit`, `fallback=…`, `report=off`).
    pub fn option(mut self, o: &str) -> Probe {
        self.options.push(o.to_owned());
        self
    }

    /// Runs as `user`.
    pub fn user(mut self, user: User) -> Probe {
        self.user = user;
        self
    }

    /// Sets an environment variable for the probe.
    pub fn env(mut self, k: &str, v: &str) -> Probe {
        self.env.push((k.to_owned(), v.to_owned()));
        self
    }

    /// Runs the probe in network namespace `ns` (entered as root, before the user changes).
    pub fn netns(mut self, ns: &NetNs) -> Probe {
        self.netns = Some(ns.path());
        self
    }

    /// Runs the probe in working directory `dir`.
    pub fn cwd(mut self, dir: &str) -> Probe {
        self.cwd = Some(PathBuf::from(dir));
        self
    }

    /// Runs `attempt` with `args` and waits (at most 60 s).
    pub fn run(&self, attempt: &str, args: &[&str]) -> Outcome {
        let mut cmd = Command::new(probe_path());
        match &self.allow {
            Some(allow) => {
                for a in allow {
                    cmd.arg("--allow").arg(a);
                }
                for o in &self.options {
                    match o.strip_prefix("--") {
                        Some(flag) => cmd.arg(format!("--{flag}")),
                        None => cmd.arg("--option").arg(o),
                    };
                }
            }
            None => {
                cmd.arg("--no-sandbox");
            }
        }
        cmd.arg("--").arg(attempt).args(args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(ns) = &self.netns {
            let ns = std::fs::File::open(ns).expect("open the network namespace");
            let nobody = self.user == User::Nobody;
            // SAFETY: the closure runs in the child between fork and exec and makes only
            // async-signal-safe system calls (setns, setgroups, setgid, setuid).
            unsafe {
                cmd.pre_exec(move || {
                    use std::os::fd::AsRawFd;
                    if libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) != 0
                        || nobody
                            && (libc::setgroups(0, std::ptr::null()) != 0
                                || libc::setgid(NOBODY) != 0
                                || libc::setuid(NOBODY) != 0)
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            if nobody {
                cmd.current_dir("/");
            }
        } else if self.user == User::Nobody {
            cmd.uid(NOBODY).gid(NOBODY).current_dir("/");
        }
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        let child = cmd.spawn().expect("spawn probe");
        let out = wait_with_timeout(child, Duration::from_secs(60));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        Outcome {
            results: stdout
                .lines()
                .filter_map(|l| l.strip_prefix("RESULT "))
                .map(str::to_owned)
                .collect(),
            code: out.status.code(),
            signal: out.status.signal(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

fn wait_with_timeout(child: std::process::Child, limit: Duration) -> std::process::Output {
    let pid = child.id() as libc::pid_t;
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let done = done.clone();
        thread::spawn(move || {
            let start = std::time::Instant::now();
            while !done.load(Ordering::SeqCst) {
                if start.elapsed() > limit {
                    // SAFETY: kill with a pid of our own child that has not been reaped yet
                    // (wait_with_output below reaps it only after it exits).
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    return;
                }
                thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let out = child.wait_with_output().expect("wait for probe");
    done.store(true, Ordering::SeqCst);
    let _ = watchdog.join();
    out
}

/// The probe binary, copied once to a directory every user can read, so the unprivileged
/// runs work wherever the build directory is.
pub fn probe_path() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        // Integration tests run from target/<profile>/deps/; cargo puts the binary one up.
        let exe = std::env::current_exe().expect("test executable");
        let built = exe
            .parent()
            .and_then(Path::parent)
            .map(|d| d.join("probe"))
            .filter(|p| p.exists())
            .expect("the probe binary next to the test's deps directory");
        let dir =
            std::env::temp_dir().join(format!("network-sandbox-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let copy = dir.join("probe");
        std::fs::copy(&built, &copy).expect("copy probe");
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        copy
    })
}

/// Waits until `f` holds or `limit` passes; servers count connections asynchronously.
pub fn eventually(limit: Duration, f: impl Fn() -> bool) -> bool {
    let start = std::time::Instant::now();
    loop {
        if f() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Gives the servers a moment to record anything still in flight.
pub fn settle() {
    thread::sleep(Duration::from_millis(150));
}

/// What an escape check runs: the attempt name and its arguments for a set of servers.
pub type Args = fn(&Servers) -> Vec<String>;

/// The heart of every escape test, for each user: the attempt run **without** the sandbox
/// must reach a forbidden endpoint (otherwise the test proves nothing and fails), and run
/// under a policy that allows only the allowed server, it must reach no forbidden endpoint.
/// Returns the sandboxed outcomes, one per user, for further checks.
pub fn assert_blocked(attempt: &str, args: Args, udp_policy: bool) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    for user in USERS {
        let servers = Servers::start();
        let a = args(&servers);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let control = Probe::unsandboxed().user(user).run(attempt, &a);
        assert!(
            eventually(Duration::from_secs(3), || servers.escaped()),
            "control for {attempt} as {user:?} did not reach the forbidden endpoint, so the \
             test would prove nothing: {control:?}"
        );

        let servers = Servers::start();
        let a = args(&servers);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let mut allow = vec![servers.allow_tcp()];
        if udp_policy {
            allow.push(servers.allow_udp());
        }
        let sandboxed = Probe::sandboxed(&allow).user(user).run(attempt, &a);
        settle();
        assert!(
            !servers.escaped(),
            "{attempt} as {user:?} escaped the sandbox: forbidden={} forbidden6={} other_port={} \
             datagrams={}/{}; probe said {sandboxed:?}",
            servers.forbidden.connections(),
            servers.forbidden6.connections(),
            servers.other_port.connections(),
            servers.forbidden.datagrams(),
            servers.forbidden6.datagrams(),
        );
        outcomes.push(sandboxed);
    }
    outcomes
}

/// A network namespace of the test's own, held by a `sleep` started with `unshare --net`;
/// it disappears (with any device created in it) when the holder is killed on drop.
pub struct NetNs {
    holder: std::process::Child,
}

impl NetNs {
    /// A new, empty network namespace (needs root).
    pub fn new() -> std::io::Result<NetNs> {
        let mut holder = Command::new("unshare")
            .args(["--net", "sleep", "600"])
            .stdin(Stdio::null())
            .spawn()?;
        let ours = std::fs::read_link("/proc/self/ns/net")?;
        let path = format!("/proc/{}/ns/net", holder.id());
        let changed = eventually(Duration::from_secs(5), || {
            std::fs::read_link(&path).is_ok_and(|l| l != ours)
                && std::fs::read_to_string(format!("/proc/{}/comm", holder.id()))
                    .is_ok_and(|c| c.trim() == "sleep")
        });
        if !changed {
            let _ = holder.kill();
            let _ = holder.wait();
            return Err(std::io::Error::other("unshare --net did not start"));
        }
        Ok(NetNs { holder })
    }

    /// `/proc/PID/ns/net` of the holder.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/net", self.holder.id()))
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// A directory of the test's own under the temporary directory, open to every user, removed
/// on drop.
pub struct TempDir {
    /// Its path.
    pub path: PathBuf,
}

impl TempDir {
    /// Creates it, mode 0777.
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "network-sandbox-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&path).expect("temp dir");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        TempDir { path }
    }

    /// A character device node (major, minor) in the directory, mode 0666, so that the
    /// unprivileged user can open it without changing the machine's own node in /dev.
    pub fn char_device(&self, name: &str, major: u32, minor: u32) -> PathBuf {
        let path = self.path.join(name);
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mknod with a valid path.
        let r = unsafe {
            libc::mknod(
                c.as_ptr(),
                libc::S_IFCHR | 0o666,
                libc::makedev(major, minor),
            )
        };
        assert_eq!(r, 0, "mknod {path:?}: {}", std::io::Error::last_os_error());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A process outside any sandbox, of `user`, that the attempts aim at; killed on drop.
pub struct Outside {
    child: std::process::Child,
}

impl Outside {
    /// A `sleep` running as `user`.
    pub fn start(user: User) -> Outside {
        let mut cmd = Command::new("sleep");
        cmd.arg("120").stdin(Stdio::null());
        if user == User::Nobody {
            cmd.uid(NOBODY).gid(NOBODY).current_dir("/");
        }
        Outside {
            child: cmd.spawn().expect("spawn sleep"),
        }
    }

    /// Its pid, as the probe takes it.
    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Whether it is still running, not stopped.
    pub fn running(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).is_ok_and(|s| {
            s.rsplit(") ")
                .next()
                .is_some_and(|r| r.starts_with('S') || r.starts_with('R'))
        })
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
