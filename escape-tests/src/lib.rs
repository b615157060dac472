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

/// How a [`Recorder`] answers a TCP client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// `pong` to every read, until the client closes (the probe's attempts).
    Pong,
    /// One HTTP/1.1 `200 OK` response with this body to the first request, then close (the
    /// clients of other runtimes, the examples).
    Http(String),
}

/// What a recorder counted, shared with its threads.
#[derive(Default)]
struct Counts {
    connections: AtomicUsize,
    datagrams: AtomicUsize,
    answered: AtomicUsize,
    tcp_bytes: Mutex<Vec<u8>>,
    /// Bumped by [`Recorder::settle`]; each receiving thread copies it into its `drained_*`
    /// once it has found its queue empty after reading the request.
    settle_request: AtomicUsize,
    drained_tcp: AtomicUsize,
    drained_udp: AtomicUsize,
}

/// One recording endpoint on loopback: a TCP listener and a UDP socket on the same address,
/// counting every connection and datagram. The one loopback server of the test crates (the
/// escape tests, the command's tests and the examples' tests all use it).
pub struct Recorder {
    /// The address both listen on.
    pub addr: SocketAddr,
    answer: Answer,
    counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Recorder {
    /// A recorder on `addr` (port 0: a free port) that answers `pong`.
    pub fn start(addr: SocketAddr) -> std::io::Result<Recorder> {
        Recorder::with_answer(addr, Answer::Pong)
    }

    /// A recorder on `addr` that answers each TCP client with an HTTP response carrying
    /// `body(address it listens on)`.
    pub fn http(addr: SocketAddr, body: fn(SocketAddr) -> String) -> std::io::Result<Recorder> {
        let tcp = TcpListener::bind(addr)?;
        let addr = tcp.local_addr()?;
        Recorder::from_listener(tcp, Answer::Http(body(addr)))
    }

    /// A recorder on `addr` that answers as `answer` says.
    pub fn with_answer(addr: SocketAddr, answer: Answer) -> std::io::Result<Recorder> {
        Recorder::from_listener(TcpListener::bind(addr)?, answer)
    }

    fn from_listener(tcp: TcpListener, answer: Answer) -> std::io::Result<Recorder> {
        let addr = tcp.local_addr()?;
        let udp = UdpSocket::bind(addr)?;
        tcp.set_nonblocking(true)?;
        udp.set_nonblocking(true)?;
        let counts = Arc::new(Counts::default());
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        {
            let (counts, stop, answer) = (counts.clone(), stop.clone(), answer.clone());
            threads.push(thread::spawn(move || {
                accept_loop(tcp, counts, answer, stop)
            }));
        }
        {
            let (counts, stop) = (counts.clone(), stop.clone());
            threads.push(thread::spawn(move || udp_loop(udp, counts, stop)));
        }
        Ok(Recorder {
            addr,
            answer,
            counts,
            stop,
            threads,
        })
    }

    /// TCP connections accepted so far. Definite only after [`settle`](Self::settle).
    pub fn connections(&self) -> usize {
        self.counts.connections.load(Ordering::SeqCst)
    }

    /// UDP datagrams received so far. Definite only after [`settle`](Self::settle).
    pub fn datagrams(&self) -> usize {
        self.counts.datagrams.load(Ordering::SeqCst)
    }

    /// HTTP responses sent in full (always 0 for [`Answer::Pong`]).
    pub fn answered(&self) -> usize {
        self.counts.answered.load(Ordering::SeqCst)
    }

    /// Bytes received over TCP so far.
    pub fn tcp_bytes(&self) -> Vec<u8> {
        self.counts.tcp_bytes.lock().unwrap().clone()
    }

    /// Anything at all reached this endpoint.
    pub fn reached(&self) -> bool {
        self.connections() > 0 || self.datagrams() > 0
    }

    /// Waits until both the listener's accept queue and the UDP socket's receive queue have
    /// been found empty after this call began, so every connection and datagram that reached
    /// the kernel before it is counted. A definite answer, not a pause: it returns as soon
    /// as both threads have drained their queues (it gives up, panicking, only if a thread is
    /// stuck for a minute).
    pub fn settle(&self) {
        let request = self.counts.settle_request.fetch_add(1, Ordering::SeqCst) + 1;
        let drained = || {
            self.counts.drained_tcp.load(Ordering::SeqCst) >= request
                && self.counts.drained_udp.load(Ordering::SeqCst) >= request
        };
        assert!(
            eventually(Duration::from_secs(60), drained),
            "the recorder on {} did not drain its queues",
            self.addr
        );
    }

    /// `host:port` as the probe takes it.
    pub fn arg(&self) -> String {
        self.addr.to_string()
    }

    /// `http://addr/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The host part as a client takes it (`127.0.0.3` or `::1`).
    pub fn host(&self) -> String {
        self.addr.ip().to_string()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The HTTP body this recorder answers with (empty for [`Answer::Pong`]).
    pub fn body(&self) -> String {
        match &self.answer {
            Answer::Pong => String::new(),
            Answer::Http(body) => body.clone(),
        }
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

fn accept_loop(tcp: TcpListener, counts: Arc<Counts>, answer: Answer, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        let request = counts.settle_request.load(Ordering::SeqCst);
        match tcp.accept() {
            Ok((stream, _)) => {
                counts.connections.fetch_add(1, Ordering::SeqCst);
                let (counts, answer) = (counts.clone(), answer.clone());
                thread::spawn(move || serve_connection(stream, &counts, &answer));
            }
            Err(_) => {
                // The queue was empty after `request` was read: everything queued before
                // that settle request has been counted.
                counts.drained_tcp.fetch_max(request, Ordering::SeqCst);
                thread::sleep(Duration::from_millis(2));
            }
        }
    }
}

fn udp_loop(udp: UdpSocket, counts: Arc<Counts>, stop: Arc<AtomicBool>) {
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::SeqCst) {
        let request = counts.settle_request.load(Ordering::SeqCst);
        match udp.recv_from(&mut buf) {
            Ok((_, peer)) => {
                counts.datagrams.fetch_add(1, Ordering::SeqCst);
                let _ = udp.send_to(b"pong", peer);
            }
            Err(_) => {
                counts.drained_udp.fetch_max(request, Ordering::SeqCst);
                thread::sleep(Duration::from_millis(2));
            }
        }
    }
}

/// Records what the client sends and answers it (see [`Answer`]).
fn serve_connection(mut stream: TcpStream, counts: &Counts, answer: &Answer) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        counts
            .tcp_bytes
            .lock()
            .unwrap()
            .extend_from_slice(&buf[..n]);
        match answer {
            Answer::Pong => {
                let _ = stream.write_all(b"pong");
            }
            Answer::Http(_) => {
                seen.extend_from_slice(&buf[..n]);
                if seen.windows(4).any(|w| w == b"\r\n\r\n") || !seen.starts_with(b"GET") {
                    break;
                }
            }
        }
    }
    if let Answer::Http(body) = answer {
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).is_ok() && stream.flush().is_ok() {
            counts.answered.fetch_add(1, Ordering::SeqCst);
        }
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

    /// Drains every recorder's queues (see [`Recorder::settle`]): after this, the counts
    /// include everything that reached the kernel before the call.
    pub fn settle(&self) {
        for r in [
            &self.allowed,
            &self.forbidden,
            &self.forbidden6,
            &self.other_port,
        ] {
            r.settle();
        }
    }

    /// Whether anything reached a forbidden endpoint (definite after [`settle`](Self::settle)).
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
    /// The attempt's arguments (for [`assert_blocked`], `args[0]` is the forbidden target).
    pub args: Vec<String>,
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

    /// Asserts that the attempt failed with `errno` and that the supervisor reported it: a
    /// refusal line for `operation` (`connect`, `send`, `bind`) to `destination`.
    #[track_caller]
    pub fn assert_refused_by_supervisor(&self, errno: &str, operation: &str, destination: &str) {
        assert!(self.err(errno), "{errno} expected: {self:?}");
        assert!(
            supervisor_refused(&self.stderr, operation, Some(destination)),
            "no supervisor line for {operation} to {destination}: {self:?}"
        );
    }

    /// Asserts that the attempt failed with `errno` and that the static filter's refusal of
    /// `operation` (`socket`, `bind`, `listen`, `send`, `setsockopt`, `ioctl`, `connect`) was
    /// reported: L1 sends its network refusals to the supervisor, which prints the line and
    /// answers the same errno (issue 13).
    #[track_caller]
    pub fn assert_refused_by_static_filter(&self, errno: &str, operation: &str) {
        assert!(self.err(errno), "{errno} expected: {self:?}");
        assert!(
            supervisor_refused(&self.stderr, operation, None),
            "no line for the static filter's refusal of {operation}: {self:?}"
        );
    }

    /// Asserts that the attempt failed with `errno` and that no supervisor line was printed:
    /// what a refusal by Landlock (L3), or by the static filter outside the network
    /// operations (`ENOSYS` for io_uring, `EPERM` for ptrace, …), looks like.
    #[track_caller]
    pub fn assert_refused_silently(&self, errno: &str) {
        assert!(self.err(errno), "{errno} expected: {self:?}");
        assert!(
            !any_supervisor_line(&self.stderr),
            "the supervisor should not have seen this call: {self:?}"
        );
    }
}

/// Whether `stderr` holds the supervisor's refusal of `operation` (to `destination`, when
/// given). The one place that knows the line's wording (`core/src/report.rs`): it matches
/// only its stable part, "denied OPERATION to DESTINATION".
///
/// An IPv4 destination and its IPv4-mapped IPv6 form (`[::ffff:a.b.c.d]:port`, what a
/// dual-stack client such as Java writes) match each other: the line prints the mapped form
/// as IPv4.
pub fn supervisor_refused(stderr: &str, operation: &str, destination: Option<&str>) -> bool {
    let what = format!("denied {operation}");
    let mut forms: Vec<String> = destination.into_iter().map(str::to_owned).collect();
    match destination.and_then(|d| d.parse().ok()) {
        Some(SocketAddr::V4(v4)) => forms.push(format!("[::ffff:{}]:{}", v4.ip(), v4.port())),
        Some(SocketAddr::V6(v6)) => {
            if let Some(v4) = v6.ip().to_ipv4_mapped() {
                forms.push(format!("{v4}:{}", v6.port()));
            }
        }
        None => {}
    }
    stderr.lines().any(|l| {
        l.starts_with("network-sandbox: ")
            && l.contains(&what)
            && (forms.is_empty() || forms.iter().any(|d| l.contains(&format!("{what} to {d} "))))
    })
}

/// Whether `stderr` holds any line of the supervisor (a refusal or an audit report; not the
/// installer's "audit mode" notice).
pub fn any_supervisor_line(stderr: &str) -> bool {
    stderr.lines().any(|l| {
        l.starts_with("network-sandbox: denied") || l.starts_with("network-sandbox: audit: ")
    })
}

/// Reports that the current test could not run here, in the form `scripts/test.sh` counts
/// (`SKIPPED: TEST: WHY [tool: TOOL]`), written straight to the process's stderr so the test
/// harness does not capture it. The test's name is its thread's (the harness names each test
/// thread after its test). `tool`: the command whose absence is the reason, if any; in CI
/// a skip for a tool that `scripts/setup.sh` installs is a failure. The caller then returns
/// without asserting anything; `scripts/test.sh` does not count the test as passed.
pub fn skipped(why: &str, tool: Option<&str>) {
    let current = thread::current();
    let test = current.name().unwrap_or("<unnamed test>");
    let tool = tool.map(|t| format!(" [tool: {t}]")).unwrap_or_default();
    let line = format!("SKIPPED: {test}: {why}{tool}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
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

    /// Writes the structured log, allowed decisions included, to `path`
    /// (`Sandbox::log_to`).
    pub fn log(mut self, path: &str) -> Probe {
        self.options.push(format!("--log={path}"));
        self
    }

    /// Learn mode into `path` (`Sandbox::learn_to`; combine with the `audit` option).
    pub fn learn(mut self, path: &str) -> Probe {
        self.options.push(format!("--learn={path}"));
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

    /// Leaves a layer out (`"L2"` or `"L3"`) through the test-only switch of the library
    /// (`network_sandbox::test_switch`), to show the other layers holding alone.
    pub fn leave_out(mut self, layer: &str) -> Probe {
        self.options.push(format!("--leave-out={layer}"));
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

    /// Runs `attempt` with `args` and waits (at most 5 minutes: a guard against a hang,
    /// generous for a loaded machine; the race attempt makes 3000 supervised connects).
    pub fn run(&self, attempt: &str, args: &[&str]) -> Outcome {
        let mut cmd = self.command(attempt, args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = cmd.spawn().expect("spawn probe");
        let out = wait_with_timeout(child, Duration::from_secs(300));
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
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// Starts the probe with the `hold` attempt: it installs the sandbox, prints its
    /// supervisor's PID and waits until the returned [`Held`] is dropped.
    pub fn hold(&self) -> Held {
        let mut cmd = self.command("hold", &[]);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("spawn probe");
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        use std::io::BufRead;
        let _ = stdout.read_line(&mut line);
        let supervisor = line
            .trim()
            .strip_prefix("RESULT ok supervisor=")
            .and_then(|p| p.parse().ok());
        let supervisor_pidfd = supervisor.filter(|&p| p != 0).and_then(|p: u32| {
            // SAFETY: pidfd_open takes integers and returns a new descriptor or -1.
            let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, p as libc::pid_t, 0) };
            // SAFETY: a new descriptor that nothing else owns.
            (fd >= 0).then(|| unsafe {
                <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32)
            })
        });
        Held {
            child,
            supervisor,
            supervisor_pidfd,
            line,
        }
    }

    /// The command [`run`](Self::run) would start, for a test that talks to the probe while
    /// it runs (its stdio is left to the caller).
    pub fn command_for(&self, attempt: &str, args: &[&str]) -> Command {
        self.command(attempt, args)
    }

    fn command(&self, attempt: &str, args: &[&str]) -> Command {
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
        cmd
    }
}

/// A sandboxed probe that stays alive (see [`Probe::hold`]); killed and reaped when dropped.
pub struct Held {
    child: std::process::Child,
    /// Its supervisor's PID, if it reported one.
    pub supervisor: Option<u32>,
    /// A pidfd of the supervisor, opened while the probe that reported it still ran (so it
    /// names that process, never a later one with the same PID).
    supervisor_pidfd: Option<std::os::fd::OwnedFd>,
    /// The line it printed.
    pub line: String,
}

impl Held {
    /// The held probe's PID (the sandboxed process itself).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Held {
    /// Kills the probe, and its supervisor too: a test that ptrace-attached to the
    /// supervisor (a control) may have left it stopped, and a stopped supervisor never sees
    /// its program go, so it would stay behind, re-parented to init.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(pidfd) = &self.supervisor_pidfd {
            // SAFETY: a raw system call on our own pidfd, no pointers (no siginfo).
            unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    std::os::fd::AsRawFd::as_raw_fd(pidfd),
                    libc::SIGKILL,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                )
            };
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

/// A directory of this test process's own, `$TMPDIR/PREFIX-PID`, every user can read and
/// enter (mode 0755). It is removed when the process exits, and the first call also removes
/// the directories that earlier test processes left under the same prefix (a process killed
/// or aborted runs no exit handler): copies of binaries add up to gigabytes otherwise.
pub fn process_dir(prefix: &str) -> PathBuf {
    static DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    extern "C" fn remove_dirs() {
        let dirs = DIRS.lock().map(|d| d.clone()).unwrap_or_default();
        for dir in dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    let tmp = std::env::temp_dir();
    let dir = tmp.join(format!("{prefix}-{}", std::process::id()));
    let mut dirs = DIRS.lock().unwrap_or_else(|e| e.into_inner());
    if dirs.contains(&dir) {
        return dir;
    }
    if dirs.is_empty() {
        // SAFETY: `remove_dirs` is an `extern "C" fn()` that lives as long as the process.
        unsafe { libc::atexit(remove_dirs) };
    }
    // Leftovers: `PREFIX-PID` whose PID is no longer a process.
    if let Ok(entries) = std::fs::read_dir(&tmp) {
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| n.strip_prefix(prefix))
                .and_then(|n| n.strip_prefix('-'))
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dirs.push(dir.clone());
    dir
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
        let copy = process_dir("network-sandbox-probe").join("probe");
        // Copied by a child process (`install`), never through a descriptor of this one: a
        // test thread forking while this process held the copy open for writing would keep
        // it open until its exec, and running the copy then fails with ETXTBSY.
        let status = Command::new("install")
            .args(["-m", "755"])
            .arg(&built)
            .arg(&copy)
            .status()
            .expect("install the probe");
        assert!(status.success(), "install the probe: {status}");
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

/// What an escape check runs: the attempt name and its arguments for a set of servers.
pub type Args = fn(&Servers) -> Vec<String>;

/// The heart of every escape test, for each user: the attempt run **without** the sandbox
/// must reach a forbidden endpoint (otherwise the test proves nothing and fails), and run
/// under a policy that allows only the allowed server, it must reach no forbidden endpoint.
/// Returns the sandboxed outcomes, one per user, for further checks.
pub fn assert_blocked(attempt: &str, args: Args, udp_policy: bool) -> Vec<Outcome> {
    assert_blocked_with_control(attempt, args, udp_policy, |_| ())
}

/// [`assert_blocked`], with `check` run on each control outcome as well (to show that the
/// control took the path the sandboxed run is expected to stop on).
pub fn assert_blocked_with_control(
    attempt: &str,
    args: Args,
    udp_policy: bool,
    check: impl Fn(&Outcome),
) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    for user in USERS {
        let servers = Servers::start();
        let a = args(&servers);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let control = Probe::unsandboxed().user(user).run(attempt, &a);
        assert!(
            eventually(Duration::from_secs(15), || servers.escaped()),
            "control for {attempt} as {user:?} did not reach the forbidden endpoint, so the \
             test would prove nothing: {control:?}"
        );
        check(&control);

        let servers = Servers::start();
        let a = args(&servers);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let mut allow = vec![servers.allow_tcp()];
        if udp_policy {
            allow.push(servers.allow_udp());
        }
        let sandboxed = Probe::sandboxed(&allow).user(user).run(attempt, &a);
        servers.settle();
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
        let changed = eventually(Duration::from_secs(15), || {
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
