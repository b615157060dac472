//! What the installer tells the program: which layer enforces what on this kernel, and the
//! violations the supervisor reports.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::policy::{canonical_ip, Protocol};

/// One of the three layers of enforcement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    /// L1: the static seccomp program compiled at build time.
    StaticFilter,
    /// L2: the supervisor that checks and performs every connect.
    Supervisor,
    /// L3: Landlock rules (TCP ports, no TCP bind, ptrace, signal and abstract unix socket
    /// scoping).
    Landlock,
    /// Capabilities dropped and kernel tunables made read-only (root is confined like any
    /// user).
    Privileges,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layer::StaticFilter => "L1 static filter",
            Layer::Supervisor => "L2 supervisor",
            Layer::Landlock => "L3 Landlock",
            Layer::Privileges => "privileges",
        })
    }
}

/// How much of a layer is in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Everything the layer is meant to do on this policy.
    Enforced,
    /// Part of it; the detail says which part.
    Partial,
    /// Nothing: not available on this kernel, or left out by the policy's fallback.
    NotEnforced,
    /// Nothing, because the policy does not need the layer.
    NotNeeded,
}

/// The state of one layer after installation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerReport {
    /// Which layer.
    pub layer: Layer,
    /// How much of it is in force.
    pub status: Status,
    /// What exactly, in words.
    pub detail: String,
}

/// What was installed, layer by layer. Returned by [`install`](crate::install).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enforcement {
    /// One entry per layer, in the order L1, L2, L3, then privileges.
    pub layers: Vec<LayerReport>,
    /// PID of the supervisor process, if one was started.
    pub supervisor_pid: Option<i32>,
}

impl Enforcement {
    /// The report for `layer`.
    pub fn layer(&self, layer: Layer) -> &LayerReport {
        self.layers
            .iter()
            .find(|l| l.layer == layer)
            .expect("every layer is reported")
    }
}

impl fmt::Display for LayerReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match self.status {
            Status::Enforced => "enforced",
            Status::Partial => "partly enforced",
            Status::NotEnforced => "not enforced",
            Status::NotNeeded => "not needed",
        };
        write!(f, "{}: {status}: {}", self.layer, self.detail)
    }
}

impl fmt::Display for Enforcement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.layers {
            writeln!(f, "{l}")?;
        }
        if let Some(pid) = self.supervisor_pid {
            writeln!(f, "supervisor: pid {pid}")?;
        }
        Ok(())
    }
}

/// The operation a violation was caught in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `socket()` (or `socketpair()`): a socket of a kind the policy does not allow.
    Socket,
    /// `connect()`.
    Connect,
    /// `sendto()`, `sendmsg()` or `sendmmsg()` with a destination address.
    Send,
    /// `bind()` (a UDP socket may bind to port 0 only).
    Bind,
    /// `listen()`.
    Listen,
    /// `setsockopt()` with an option outside the allow list.
    SetSockOpt,
    /// `ioctl()` with a socket or terminal request the sandbox refuses.
    Ioctl,
    /// A system call the policy's system call profile refuses (issue 14); the reason names
    /// it and its group.
    Syscall,
}

impl Operation {
    /// The operation's name as the line and the structured log print it.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Socket => "socket",
            Operation::Connect => "connect",
            Operation::Send => "send",
            Operation::Bind => "bind",
            Operation::Listen => "listen",
            Operation::SetSockOpt => "setsockopt",
            Operation::Ioctl => "ioctl",
            Operation::Syscall => "system call",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why an operation was refused.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The destination matches no endpoint of the policy.
    NotAllowed,
    /// The destination matches no endpoint of a policy with names, and the names explain
    /// it: the address is an allowed name's on another port, or no allowed name has it.
    NotAllowedNamed(String),
    /// The socket is of a kind the policy does not allow (for example a unix socket or an
    /// MPTCP socket opened before the sandbox was installed).
    SocketKind(String),
    /// The supervisor could not inspect the calling process (it made itself non-dumpable,
    /// or ptrace access was refused), so it cannot know what the call does.
    Uninspectable(i32),
    /// A send carried ancillary data (a control message) the supervisor does not pass on:
    /// one that could change the route (IP options, routing headers) or whose effect would
    /// be judged against the supervisor's privileges instead of the program's.
    Ancillary {
        /// `cmsg_level`.
        level: i32,
        /// `cmsg_type`.
        ty: i32,
    },
    /// The policy allows no network at all (no endpoint).
    NoNetwork,
    /// The sandbox never allows this, whatever the policy (serving, a fixed local port, a
    /// socket option or request that could reach around the checks); the text says what.
    Never(String),
    /// The policy's system call profile refuses the call (issue 14).
    Profile {
        /// The call's name (`swapon`).
        call: &'static str,
        /// Its group (`@swap`), when a group other than `@known` holds it.
        group: Option<&'static str>,
        /// Whether `deny_syscalls` refuses it; otherwise it is outside `syscalls`.
        denied: bool,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NotAllowed => f.write_str("not in the allow list"),
            Reason::NotAllowedNamed(why) => write!(f, "not in the allow list: {why}"),
            Reason::SocketKind(k) => write!(f, "{k} sockets are not allowed"),
            Reason::Uninspectable(errno) => write!(
                f,
                "the supervisor cannot inspect the process ({})",
                std::io::Error::from_raw_os_error(*errno)
            ),
            Reason::Ancillary { level, ty } => write!(
                f,
                "ancillary data of level {level} type {ty} is not passed on (it could change \
                 the route, or act with the supervisor's privileges)"
            ),
            Reason::NoNetwork => f.write_str("the policy allows no network"),
            Reason::Never(what) => f.write_str(what),
            Reason::Profile {
                call,
                group,
                denied,
            } => {
                write!(f, "{call}")?;
                if let Some(g) = group {
                    write!(f, " ({g})")?;
                }
                if *denied {
                    f.write_str(" is in the policy's deny_syscalls")
                } else {
                    f.write_str(" is not in the policy's syscalls")
                }
            }
        }
    }
}

/// What a user can write to allow a refused operation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Remedy {
    /// Adding this endpoint to the policy (`allow = [...]` in a policy file, `--allow` on
    /// the command line) allows the operation: `tcp://127.0.0.3:80`.
    Add(String),
    /// Taking this out of the policy allows it: `swapon from deny_syscalls`.
    Remove(String),
    /// No policy entry can allow it.
    Nothing,
}

impl Remedy {
    /// The remedy for a refusal of `operation` by `reason`, with what the line knows of
    /// the socket and the destination: an endpoint to add exactly when the refusal is a
    /// TCP or UDP destination outside the allow list (or any destination under a policy
    /// without endpoints).
    pub fn for_refusal(
        operation: Operation,
        reason: &Reason,
        protocol: Option<Protocol>,
        destination: Option<SocketAddr>,
    ) -> Remedy {
        let reaches = matches!(operation, Operation::Connect | Operation::Send);
        match (reason, protocol, destination) {
            (
                Reason::NotAllowed | Reason::NotAllowedNamed(_) | Reason::NoNetwork,
                Some(p),
                Some(d),
            ) if reaches => Remedy::Add(endpoint_text(p, d)),
            // A TCP bind to a fixed port, or a listen there: a `listen` entry allows it.
            (Reason::Never(_), Some(Protocol::Tcp), Some(d))
                if matches!(operation, Operation::Bind | Operation::Listen) && d.port() != 0 =>
            {
                Remedy::Add(format!("listen = \"{}\"", canonical(d)))
            }
            (Reason::Never(_), Some(Protocol::Tcp), None) if operation == Operation::Listen => {
                Remedy::Add("listen = \"ADDR:PORT\"".into())
            }
            _ => Remedy::Nothing,
        }
    }
}

/// `tcp://127.0.0.3:80`, `udp://[::1]:53`: the endpoint that allows exactly `protocol` to
/// `dest`, with an IPv4-mapped address written as the IPv4 address it maps.
pub fn endpoint_text(protocol: Protocol, dest: SocketAddr) -> String {
    format!("{protocol}://{}", canonical(dest))
}

/// `dest` with an IPv4-mapped IPv6 address (`[::ffff:a.b.c.d]:p`) as the IPv4 address
/// (`a.b.c.d:p`), where the kernel sends it; scope and flow information are dropped.
pub fn canonical(dest: SocketAddr) -> SocketAddr {
    SocketAddr::new(canonical_ip(dest.ip()), dest.port())
}

/// A refused operation (or, in audit mode, one that would be refused), as the sandbox saw
/// it.
///
/// Printed as one line: `network-sandbox: denied OPERATION[ to DESTINATION] (KIND) by pid
/// PID (NAME)[ thread TID (NAME)]: REASON; to allow it, add ENDPOINT` (or `; no policy
/// entry can allow this`). The part up to the destination is stable; tests match it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Process id of the caller: its thread group id, in the supervisor's PID namespace.
    pub pid: i32,
    /// The process's command name (`/proc/PID/comm`), if it could be read.
    pub command: String,
    /// Thread id of the calling thread (equal to `pid` for the main thread).
    pub tid: i32,
    /// The calling thread's name (`/proc/TID/comm`).
    pub thread: String,
    /// What it tried.
    pub operation: Operation,
    /// The socket's protocol, when it is TCP or UDP.
    pub protocol: Option<Protocol>,
    /// The socket's kind in words when it is neither TCP nor UDP ("unix", "netlink", …).
    pub socket: Option<String>,
    /// The destination, when the address was an IP address, as the program wrote it.
    pub destination: Option<SocketAddr>,
    /// Why it was refused.
    pub reason: Reason,
    /// What to write to allow it, if anything can.
    pub remedy: Remedy,
    /// True in audit mode: reported, but let through.
    pub audit_only: bool,
    /// The layer that refused it: [`Layer::StaticFilter`] for the static filter's refusals
    /// (reported by the supervisor), [`Layer::Supervisor`] for its own.
    pub layer: Layer,
}

impl Violation {
    /// The socket's kind in words: the protocol, or the other kind, if known.
    pub fn kind(&self) -> Option<String> {
        self.protocol
            .map(|p| p.to_string())
            .or_else(|| self.socket.clone())
    }

    /// What the line says identically for identical refusals: everything but the ids.
    pub(crate) fn same_as(&self, other: &Violation) -> bool {
        self.pid == other.pid
            && self.operation == other.operation
            && self.protocol == other.protocol
            && self.socket == other.socket
            && self.destination.map(canonical) == other.destination.map(canonical)
            && self.reason == other.reason
            && self.audit_only == other.audit_only
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.audit_only {
            "audit: would deny"
        } else {
            "denied"
        };
        write!(f, "network-sandbox: {verdict} {}", self.operation)?;
        if let Some(d) = self.destination {
            write!(f, " to {}", canonical(d))?;
        }
        if let Some(k) = self.kind() {
            write!(f, " ({k})")?;
        }
        write!(f, " by pid {} ({})", self.pid, self.command)?;
        if self.tid != self.pid {
            write!(f, " thread {}", self.tid)?;
            if self.thread != self.command {
                write!(f, " ({})", self.thread)?;
            }
        }
        write!(f, ": {}", self.reason)?;
        match &self.remedy {
            Remedy::Add(e) => write!(f, "; to allow it, add {e}"),
            Remedy::Remove(e) => write!(f, "; to allow it, remove {e}"),
            Remedy::Nothing => f.write_str("; no policy entry can allow this"),
        }
    }
}

/// A function that receives every violation instead of the line on stderr.
///
/// It runs **in the supervisor process**, which is a copy of the program made when the
/// sandbox was installed, outside the sandbox: it sees the program's memory as it was at that
/// moment, not as it is now, and must not rely on anything the program did since.
pub type ViolationHook = fn(&Violation);

/// Where the supervisor sends the violations it sees: decided at install, handed to the
/// supervisor when it is forked, and carried by every handler's context.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Sink {
    /// One line on stderr per violation.
    Stderr,
    /// The program's hook ([`Sandbox::on_violation`](crate::Sandbox::on_violation)).
    Hook(ViolationHook),
    /// Nowhere (`report = "off"`).
    Off,
}

impl Sink {
    /// Delivers `v`.
    pub(crate) fn deliver(self, v: &Violation) {
        match self {
            Sink::Hook(hook) => hook(v),
            Sink::Stderr => write_stderr(&format!("{v}\n")),
            Sink::Off => {}
        }
    }
}

/// How long identical refusals are counted instead of printed, after the line of the first.
pub(crate) const QUIET_WINDOW: Duration = Duration::from_secs(1);
/// How many different refusals are counted at once; past it the oldest count is printed.
const QUIET_SLOTS: usize = 16;

/// A printed refusal and the identical ones counted since.
struct Quiet {
    violation: Violation,
    first: Instant,
    last: Instant,
    more: u64,
}

impl Quiet {
    /// `network-sandbox: … and 499 more like this in 1.0 s (denied connect to …)`.
    fn summary(&self) -> String {
        let v = &self.violation;
        let verdict = if v.audit_only { "would deny" } else { "denied" };
        let mut what = format!("{verdict} {}", v.operation);
        if let Some(d) = v.destination {
            what.push_str(&format!(" to {}", canonical(d)));
        }
        if let Some(k) = v.kind() {
            what.push_str(&format!(" ({k})"));
        }
        format!(
            "network-sandbox: … and {} more like this in {:.1} s ({what} by pid {})",
            self.more,
            (self.last - self.first).as_secs_f64(),
            v.pid
        )
    }
}

/// The supervisor's side of a [`Sink`]: on stderr, identical refusals within
/// [`QUIET_WINDOW`] of the first one's line become one count, printed when the window has
/// passed ([`tick`](Self::tick), from the supervisor's watchdog), when the slots are full, or
/// at exit ([`flush`](Self::flush)). A hook receives every violation.
pub(crate) struct Reporter {
    sink: Sink,
    quiet: Mutex<Vec<Quiet>>,
    log: Option<Log>,
    learn: Option<Learn>,
}

impl Reporter {
    /// A reporter delivering to `sink`, and to `log` and `learn` if there are.
    pub(crate) fn new(sink: Sink, log: Option<Log>, learn: Option<Learn>) -> Self {
        Reporter {
            sink,
            quiet: Mutex::new(Vec::new()),
            log,
            learn,
        }
    }

    /// Whether allowed decisions are wanted too ([`allowed`](Self::allowed)): by the log
    /// when asked, and by learn mode.
    pub(crate) fn logs_allowed(&self) -> bool {
        self.log.as_ref().is_some_and(|l| l.allowed) || self.learn.is_some()
    }

    /// Records an allowed decision (only when [`logs_allowed`](Self::logs_allowed)).
    pub(crate) fn allowed(&self, v: &Violation) {
        if let Some(log) = self.log.as_ref().filter(|l| l.allowed) {
            log.write(v, Verdict::Allowed);
        }
        if let Some(learn) = &self.learn {
            learn.record(v);
        }
    }

    /// Whether learn mode is on: the answerer then forwards and tells what it answered
    /// ([`looked_up`](Self::looked_up)).
    pub(crate) fn learns(&self) -> bool {
        self.learn.is_some()
    }

    /// Learn mode: the program looked `name` up (through the sandbox's answerer) and was
    /// answered `addresses`.
    pub(crate) fn looked_up(&self, name: &str, addresses: &[IpAddr]) {
        if let Some(learn) = &self.learn {
            learn.looked_up(name, addresses);
        }
    }

    /// Reports `v`: delivered, or counted if an identical one was printed within the window.
    pub(crate) fn report(&self, v: Violation) {
        if let Some(learn) = &self.learn {
            learn.record(&v);
        }
        if let Some(log) = &self.log {
            let verdict = if v.audit_only {
                Verdict::Audit
            } else {
                Verdict::Denied
            };
            log.write(&v, verdict);
        }
        if !matches!(self.sink, Sink::Stderr) {
            self.sink.deliver(&v);
            return;
        }
        let now = Instant::now();
        let mut quiet = self.quiet.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(q) = quiet
            .iter_mut()
            .find(|q| q.violation.same_as(&v) && now - q.first < QUIET_WINDOW)
        {
            q.more += 1;
            q.last = now;
            return;
        }
        let mut lines = String::new();
        quiet.retain(|q| {
            let keep = now - q.first < QUIET_WINDOW;
            if !keep && q.more > 0 {
                lines.push_str(&q.summary());
                lines.push('\n');
            }
            keep
        });
        if quiet.len() >= QUIET_SLOTS {
            let q = quiet.remove(0);
            if q.more > 0 {
                lines.push_str(&q.summary());
                lines.push('\n');
            }
        }
        lines.push_str(&v.to_string());
        lines.push('\n');
        write_stderr(&lines);
        quiet.push(Quiet {
            violation: v,
            first: now,
            last: now,
            more: 0,
        });
    }

    /// Prints the counts whose window has passed.
    pub(crate) fn tick(&self) {
        self.print_counts(false);
    }

    /// Prints every count and writes the learned policy: the supervisor is about to exit.
    pub(crate) fn flush(&self) {
        self.print_counts(true);
        if let Some(learn) = &self.learn {
            learn.write();
        }
    }

    fn print_counts(&self, all: bool) {
        let now = Instant::now();
        let mut quiet = self.quiet.lock().unwrap_or_else(|e| e.into_inner());
        let mut lines = String::new();
        quiet.retain(|q| {
            let keep = !all && now - q.first < QUIET_WINDOW;
            if !keep && q.more > 0 {
                lines.push_str(&q.summary());
                lines.push('\n');
            }
            keep
        });
        if !lines.is_empty() {
            write_stderr(&lines);
        }
    }
}

/// What became of a logged decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Refused.
    Denied,
    /// Would be refused; let through (audit mode).
    Audit,
    /// In the policy; let through (logged only when asked).
    Allowed,
}

/// The structured log (`--log FILE`, [`Sandbox::log_to`](crate::Sandbox::log_to)): one JSON
/// object per line and per decision, written by the supervisor. The field names are stable
/// (README, "The structured log").
pub(crate) struct Log {
    /// Opened by the installer for appending, handed to the supervisor.
    pub(crate) file: std::fs::File,
    /// Whether allowed connects and sends are logged too.
    pub(crate) allowed: bool,
}

impl Log {
    fn write(&self, v: &Violation, verdict: Verdict) {
        use std::io::Write;
        let exe = std::fs::read_link(format!("/proc/{}/exe", v.pid))
            .map(|p| p.to_string_lossy().into_owned())
            .ok();
        let mut line = json_record(v, verdict, std::time::SystemTime::now(), exe.as_deref());
        line.push('\n');
        // One write on an O_APPEND file: lines from concurrent receivers do not interleave.
        let _ = (&self.file).write_all(line.as_bytes());
    }
}

/// The JSON object for one decision. Every field is always present (`null` when unknown),
/// in this order: `time` (UTC, RFC 3339 with milliseconds), `pid`, `tid`, `process`,
/// `thread`, `executable`, `operation`, `protocol`, `socket`, `destination`, `verdict`
/// (`denied`, `audit`, `allowed`), `reason`, `allow_with`, `layer`.
pub(crate) fn json_record(
    v: &Violation,
    verdict: Verdict,
    time: std::time::SystemTime,
    exe: Option<&str>,
) -> String {
    let s = |x: &str| json_string(x);
    let opt = |x: Option<String>| x.map_or_else(|| "null".to_owned(), |x| json_string(&x));
    let allowed = verdict == Verdict::Allowed;
    let reason = (!allowed).then(|| v.reason.to_string());
    let allow_with = match &v.remedy {
        Remedy::Add(e) if !allowed => Some(e.clone()),
        _ => None,
    };
    format!(
        "{{\"time\":{},\"pid\":{},\"tid\":{},\"process\":{},\"thread\":{},\"executable\":{},\
         \"operation\":{},\"protocol\":{},\"socket\":{},\"destination\":{},\"verdict\":{},\
         \"reason\":{},\"allow_with\":{},\"layer\":{}}}",
        s(&rfc3339(time)),
        v.pid,
        v.tid,
        s(&v.command),
        s(&v.thread),
        opt(exe.map(str::to_owned)),
        s(v.operation.name()),
        opt(v.protocol.map(|p| p.to_string())),
        opt(v.socket.clone()),
        opt(v.destination.map(|d| canonical(d).to_string())),
        s(match verdict {
            Verdict::Denied => "denied",
            Verdict::Audit => "audit",
            Verdict::Allowed => "allowed",
        }),
        opt(reason),
        opt(allow_with),
        s(match v.layer {
            Layer::StaticFilter => "L1",
            Layer::Supervisor => "L2",
            Layer::Landlock => "L3",
            Layer::Privileges => "privileges",
        }),
    )
}

/// `s` as a JSON string: quotes, backslashes and control characters escaped.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `2026-11-30T05:40:00.123Z`.
fn rfc3339(t: std::time::SystemTime) -> String {
    let d = t
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Learn mode (`--learn FILE`, [`Sandbox::learn_to`](crate::Sandbox::learn_to)): what the
/// run used — TCP and UDP destinations (written as the name the program looked up, when
/// the sandbox's answerer saw the lookup), `unix:` sockets, `listen` addresses — written at
/// the end as a policy file allowing exactly those, with a comment per entry saying what
/// used it.
pub(crate) struct Learn {
    /// Where the policy goes (written to `PATH.tmp`, then renamed, so a reader never sees
    /// half a file).
    pub(crate) path: std::path::PathBuf,
    /// (UDP rather than TCP, destination) → what used it (`connect by curl`).
    pub(crate) seen: Mutex<BTreeMap<(bool, SocketAddr), BTreeSet<String>>>,
    /// `unix:` endpoints (`unix:/run/x.sock`, `unix:@name`) → what used them.
    pub(crate) unix: Mutex<BTreeMap<String, BTreeSet<String>>>,
    /// Addresses TCP sockets listened on → what listened.
    pub(crate) listen: Mutex<BTreeMap<SocketAddr, BTreeSet<String>>>,
    /// The names the program looked up through the answerer, in the order of their first
    /// lookup, with every address their answers carried.
    pub(crate) names: Mutex<Vec<(String, Vec<IpAddr>)>>,
    /// System calls the run made outside its profile (`swapon (@swap)`, issue 14) → the
    /// commands that made them.
    pub(crate) calls: Mutex<BTreeMap<String, BTreeSet<String>>>,
}

impl Learn {
    /// A learner writing to `path`.
    pub(crate) fn new(path: std::path::PathBuf) -> Self {
        Learn {
            path,
            seen: Mutex::new(Default::default()),
            unix: Mutex::new(Default::default()),
            listen: Mutex::new(Default::default()),
            names: Mutex::new(Default::default()),
            calls: Mutex::new(Default::default()),
        }
    }

    /// Records what a decision used: a TCP or UDP destination, a `unix:` socket, a
    /// `listen` address, or a system call outside the profile.
    fn record(&self, v: &Violation) {
        if let Reason::Profile { call, group, .. } = &v.reason {
            let call = match group {
                Some(g) => format!("{call} ({g})"),
                None => (*call).to_owned(),
            };
            self.calls
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(call)
                .or_default()
                .insert(v.command.clone());
            return;
        }
        let user = format!("{} by {}", v.operation, v.command);
        match (v.operation, v.protocol, v.destination) {
            (Operation::Connect | Operation::Send, Some(protocol), Some(dest)) => {
                // The program's DNS traffic to the sandbox's own answerer is no endpoint.
                if crate::answerer::is_sentinel(dest) {
                    return;
                }
                // No entry can allow an unspecified address (the grammar refuses it).
                if crate::policy::reaches_this_machine(dest.ip()) {
                    return;
                }
                self.seen
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry((protocol == Protocol::Udp, canonical(dest)))
                    .or_default()
                    .insert(user);
            }
            (Operation::Connect | Operation::Send, None, None) => {
                // A unix socket: its line names the `unix:` endpoint that would allow it.
                if let Remedy::Add(e) = &v.remedy {
                    if e.starts_with("unix:") && e != "unix:PATH" {
                        self.unix
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .entry(e.clone())
                            .or_default()
                            .insert(user);
                    }
                }
            }
            // A TCP socket listening on a fixed port (an ephemeral one has no entry).
            (Operation::Listen, Some(Protocol::Tcp), Some(local)) if local.port() != 0 => {
                self.listen
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(canonical(local))
                    .or_default()
                    .insert(user);
            }
            _ => {}
        }
    }

    /// Records that the program looked `name` up and was answered `addresses`.
    pub(crate) fn looked_up(&self, name: &str, addresses: &[IpAddr]) {
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        let i = match names.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                names.push((name.to_owned(), Vec::new()));
                names.len() - 1
            }
        };
        for a in addresses {
            let a = canonical_ip(*a);
            if !names[i].1.contains(&a) {
                names[i].1.push(a);
            }
        }
    }

    /// The policy file: comments, `allow = [...]` and `listen = [...]` (when something
    /// listened), one entry a line with its comment.
    fn text(&self) -> String {
        let one_line = |s: String| -> String {
            // Names come from the program: keep a comment on one line.
            s.chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect()
        };
        let mut out = String::from(
            "# Written by network-sandbox in learn mode: the endpoints the run used.\n\
             # Use it with `network-sandbox run --policy FILE -- …` or from build.rs.\n",
        );
        let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        if !calls.is_empty() {
            out.push_str(
                "#\n# System calls the run made outside its system call profile: add them to\n\
                 # `syscalls` (or take them out of `deny_syscalls`) to allow them.\n",
            );
            for (call, users) in calls.iter() {
                let users: Vec<&str> = users.iter().map(String::as_str).collect();
                let line = one_line(format!("{call}: by {}", users.join(", ")));
                out.push_str(&format!("#   {line}\n"));
            }
        }
        drop(calls);
        let names = self.names.lock().unwrap_or_else(|e| e.into_inner()).clone();
        // Entry text → (what used it, the name's addresses in this run if it is a name).
        let mut entries: BTreeMap<String, (BTreeSet<String>, Option<String>)> = BTreeMap::new();
        let mut reached: BTreeSet<&str> = BTreeSet::new();
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        for (&(udp, dest), users) in seen.iter() {
            let protocol = if udp { Protocol::Udp } else { Protocol::Tcp };
            // The first name looked up that had this address; a name the policy grammar
            // could not read stays an address.
            let name = names
                .iter()
                .find(|(n, a)| a.contains(&dest.ip()) && writable_name(n));
            let (text, note) = match name {
                Some((n, addrs)) => {
                    reached.insert(n);
                    let addrs: Vec<String> = addrs.iter().map(ToString::to_string).collect();
                    (
                        format!("{protocol}://{n}:{}", dest.port()),
                        Some(format!("{n} was {} in this run", addrs.join(", "))),
                    )
                }
                None => (endpoint_text(protocol, dest), None),
            };
            let e = entries.entry(text).or_default();
            e.0.extend(users.iter().cloned());
            e.1 = note;
        }
        let unseen: Vec<&str> = names
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| !reached.contains(n))
            .collect();
        if !unseen.is_empty() {
            out.push_str(&format!(
                "#\n# Looked up, but no connect or send went to their addresses (not allowed):\n#   {}\n",
                one_line(unseen.join(", "))
            ));
        }
        for (endpoint, users) in self.unix.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            entries
                .entry(endpoint.clone())
                .or_default()
                .0
                .extend(users.iter().cloned());
        }
        let entry = |out: &mut String, text: &str, users: &BTreeSet<String>, note: Option<&str>| {
            let users: Vec<&str> = users.iter().map(String::as_str).collect();
            let mut comment = users.join(", ");
            if let Some(note) = note {
                comment.push_str("; ");
                comment.push_str(note);
            }
            out.push_str(&format!(
                "    # {}\n    {},\n",
                one_line(comment),
                toml_string(text)
            ));
        };
        if entries.is_empty() {
            out.push_str("allow = []\n");
        } else {
            out.push_str("allow = [\n");
            for (text, (users, note)) in &entries {
                entry(&mut out, text, users, note.as_deref());
            }
            out.push_str("]\n");
        }
        let listen = self.listen.lock().unwrap_or_else(|e| e.into_inner());
        if !listen.is_empty() {
            out.push_str("listen = [\n");
            for (local, users) in listen.iter() {
                entry(&mut out, &local.to_string(), users, None);
            }
            out.push_str("]\n");
        }
        out
    }

    /// Writes the file; a failure gets a line on stderr (the program has ended: nobody
    /// else would tell).
    fn write(&self) {
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let written = std::fs::write(&tmp, self.text()).and_then(|()| {
            std::fs::rename(&tmp, &self.path).inspect_err(|_| {
                let _ = std::fs::remove_file(&tmp);
            })
        });
        if let Err(e) = written {
            write_stderr(&format!(
                "network-sandbox: learn mode: cannot write {}: {e}\n",
                self.path.display()
            ));
        }
    }
}

/// Whether `name` (as the program asked it) can be written as a policy name: RFC 1123
/// labels (letters, digits, `-` inside), at most 253 characters, and not all digits at the
/// end (which would read as an address).
fn writable_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
        && !name
            .rsplit('.')
            .next()
            .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
}

/// `s` as a TOML basic string: quotes, backslashes and control characters escaped.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One write, so lines from concurrent receivers do not interleave.
fn write_stderr(lines: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(lines.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect_refusal() -> Violation {
        Violation {
            pid: 42,
            command: "curl".into(),
            tid: 42,
            thread: "curl".into(),
            operation: Operation::Connect,
            protocol: Some(Protocol::Tcp),
            socket: None,
            destination: Some("203.0.113.5:80".parse().unwrap()),
            reason: Reason::NotAllowed,
            remedy: Remedy::Add("tcp://203.0.113.5:80".into()),
            audit_only: false,
            layer: Layer::Supervisor,
        }
    }

    #[test]
    fn violation_line_names_what_where_why_and_the_remedy() {
        assert_eq!(
            connect_refusal().to_string(),
            "network-sandbox: denied connect to 203.0.113.5:80 (tcp) by pid 42 (curl): not in \
             the allow list; to allow it, add tcp://203.0.113.5:80"
        );
    }

    #[test]
    fn the_line_names_the_thread_when_it_is_not_the_main_one() {
        let mut v = connect_refusal();
        v.tid = 45;
        v.thread = "tokio-rt-worker".into();
        assert!(v
            .to_string()
            .contains(" by pid 42 (curl) thread 45 (tokio-rt-worker): "));
        v.thread = "curl".into();
        assert!(v.to_string().contains(" by pid 42 (curl) thread 45: "));
    }

    #[test]
    fn an_ipv4_mapped_destination_prints_as_ipv4() {
        let mut v = connect_refusal();
        v.destination = Some("[::ffff:127.0.0.3]:80".parse().unwrap());
        assert!(v
            .to_string()
            .contains("denied connect to 127.0.0.3:80 (tcp) by"));
        assert_eq!(
            Remedy::for_refusal(v.operation, &v.reason, v.protocol, v.destination),
            Remedy::Add("tcp://127.0.0.3:80".into())
        );
        assert!(!v.same_as(&connect_refusal()));
        let mut w = v.clone();
        w.tid = 99;
        assert!(v.same_as(&w));
    }

    #[test]
    fn only_a_destination_outside_the_list_has_an_endpoint_to_add() {
        let d = Some("[::1]:53".parse().unwrap());
        assert_eq!(
            Remedy::for_refusal(Operation::Send, &Reason::NoNetwork, Some(Protocol::Udp), d),
            Remedy::Add("udp://[::1]:53".into())
        );
        assert_eq!(
            Remedy::for_refusal(Operation::Bind, &Reason::NotAllowed, Some(Protocol::Udp), d),
            Remedy::Nothing
        );
        let unix = Reason::SocketKind("unix".into());
        assert_eq!(
            Remedy::for_refusal(Operation::Connect, &unix, None, None),
            Remedy::Nothing
        );
        let mut v = connect_refusal();
        v.operation = Operation::Listen;
        v.destination = None;
        v.reason = Reason::Never("the sandbox lets no program serve".into());
        v.remedy = Remedy::Nothing;
        assert_eq!(
            v.to_string(),
            "network-sandbox: denied listen (tcp) by pid 42 (curl): the sandbox lets no \
             program serve; no policy entry can allow this"
        );
    }

    #[test]
    fn a_count_names_what_it_counts() {
        let first = Instant::now();
        let q = Quiet {
            violation: connect_refusal(),
            first,
            last: first + Duration::from_millis(1000),
            more: 499,
        };
        assert_eq!(
            q.summary(),
            "network-sandbox: … and 499 more like this in 1.0 s (denied connect to \
             203.0.113.5:80 (tcp) by pid 42)"
        );
    }

    #[test]
    fn a_log_record_has_every_field_escaped() {
        let mut v = connect_refusal();
        v.command = "cu\"rl\n".into();
        let t = std::time::UNIX_EPOCH + Duration::from_millis(1_795_930_800_123);
        let r = json_record(&v, Verdict::Denied, t, Some("/usr/bin/curl"));
        assert_eq!(
            r,
            "{\"time\":\"2026-11-29T05:40:00.123Z\",\"pid\":42,\"tid\":42,\"process\":\"cu\\\"rl\\u000a\",\
             \"thread\":\"curl\",\"executable\":\"/usr/bin/curl\",\"operation\":\"connect\",\
             \"protocol\":\"tcp\",\"socket\":null,\"destination\":\"203.0.113.5:80\",\
             \"verdict\":\"denied\",\"reason\":\"not in the allow list\",\
             \"allow_with\":\"tcp://203.0.113.5:80\",\"layer\":\"L2\"}"
        );
        let r = json_record(&v, Verdict::Allowed, t, None);
        assert!(r.contains("\"executable\":null"), "{r}");
        assert!(r.contains("\"reason\":null,\"allow_with\":null"), "{r}");
        assert_eq!(rfc3339(std::time::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn learn_writes_one_commented_entry_per_endpoint() {
        let learn = Learn::new("/nonexistent/x".into());
        assert!(learn.text().ends_with("allow = []\n"));
        let mut v = connect_refusal();
        learn.record(&v);
        v.command = "wget".into();
        v.destination = Some("[::ffff:203.0.113.5]:80".parse().unwrap());
        learn.record(&v);
        v.operation = Operation::Send;
        v.protocol = Some(Protocol::Udp);
        v.destination = Some("[::1]:53".parse().unwrap());
        learn.record(&v);
        v.operation = Operation::Bind;
        learn.record(&v);
        let text = learn.text();
        assert!(
            text.ends_with(
                "allow = [\n    # connect by curl, connect by wget\n    \"tcp://203.0.113.5:80\",\n    \
                 # send by wget\n    \"udp://[::1]:53\",\n]\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn learn_writes_names_that_were_looked_up_and_addresses_that_were_not() {
        let learn = Learn::new("/nonexistent/x".into());
        learn.looked_up("api.example.com", &["192.0.2.1".parse().unwrap()]);
        learn.looked_up(
            "api.example.com",
            &["2001:db8::1".parse().unwrap(), "192.0.2.1".parse().unwrap()],
        );
        // A second name for the same address: the first one looked up wins.
        learn.looked_up("alias.example.com", &["192.0.2.1".parse().unwrap()]);
        learn.looked_up("unused.example.com", &["198.51.100.9".parse().unwrap()]);
        learn.looked_up("nothing.example.com", &[]);
        // Names a policy could not read stay addresses.
        learn.looked_up("bad name", &["192.0.2.77".parse().unwrap()]);
        let mut v = connect_refusal();
        v.destination = Some("192.0.2.1:443".parse().unwrap());
        learn.record(&v);
        v.destination = Some("[2001:db8::1]:443".parse().unwrap());
        learn.record(&v);
        v.destination = Some("[::ffff:192.0.2.1]:443".parse().unwrap());
        v.command = "wget".into();
        learn.record(&v);
        v.destination = Some("192.0.2.77:80".parse().unwrap());
        learn.record(&v);
        v.operation = Operation::Send;
        v.protocol = Some(Protocol::Udp);
        v.destination = Some("192.0.2.1:53".parse().unwrap());
        learn.record(&v);
        // The program's DNS traffic to the answerer is no endpoint.
        v.destination = Some("127.53.0.1:53".parse().unwrap());
        learn.record(&v);
        let text = learn.text();
        let expected = r#"allow = [
    # connect by wget
    "tcp://192.0.2.77:80",
    # connect by curl, connect by wget; api.example.com was 192.0.2.1, 2001:db8::1 in this run
    "tcp://api.example.com:443",
    # send by wget; api.example.com was 192.0.2.1, 2001:db8::1 in this run
    "udp://api.example.com:53",
]
"#;
        assert!(text.ends_with(expected), "{text}");
        let unseen = "# Looked up, but no connect or send went to their addresses (not allowed):\n\
                      #   alias.example.com, unused.example.com, nothing.example.com, bad name\n";
        assert!(text.contains(unseen), "{text}");
        assert!(!text.contains("127.53.0.1"), "{text}");
    }

    #[test]
    fn learn_writes_unix_sockets_and_listen_addresses() {
        let learn = Learn::new("/nonexistent/x".into());
        let mut v = connect_refusal();
        v.protocol = None;
        v.destination = None;
        v.reason = Reason::NotAllowedNamed("no unix: endpoint names it".into());
        v.remedy = Remedy::Add(r#"unix:/run/a "b".sock"#.into());
        learn.record(&v);
        v.remedy = Remedy::Add("unix:@daemon".into());
        v.operation = Operation::Send;
        learn.record(&v);
        // A unix datagram socket's creation names no socket yet.
        v.operation = Operation::Socket;
        v.remedy = Remedy::Add("unix:PATH".into());
        learn.record(&v);
        let mut l = connect_refusal();
        l.operation = Operation::Listen;
        l.destination = Some("[::ffff:127.0.0.1]:8080".parse().unwrap());
        l.reason = Reason::Never("a socket may listen only where the policy says `listen`".into());
        learn.record(&l);
        // An ephemeral port: no entry can name it.
        l.destination = None;
        learn.record(&l);
        let text = learn.text();
        let expected = r#"allow = [
    # connect by curl
    "unix:/run/a \"b\".sock",
    # send by curl
    "unix:@daemon",
]
listen = [
    # listen by curl
    "127.0.0.1:8080",
]
"#;
        assert!(text.ends_with(expected), "{text}");
    }
}
