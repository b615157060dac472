//! The installer: puts every layer in place, in an order that leaves no window.
//!
//! 1. Refuse if the process already has more than one thread (Landlock and the filter
//!    would only cover the calling thread).
//! 2. Probe the kernel; decide, from the policy's `fallback`, what to do if the supervisor
//!    cannot run. Nothing is installed yet, so refusing here leaves the process untouched.
//! 3. `PR_SET_NO_NEW_PRIVS`.
//! 4. Landlock TCP connect port rules (a domain the supervisor shares, so its own connects
//!    are held by them too).
//! 5. Fork the supervisor (before the filter, so the filter does not apply to it).
//! 6. Privileges (`privileges.rs`): kernel tunables read-only in a private mount namespace
//!    (root), capabilities that configure the network or the kernel dropped. Then the rest
//!    of Landlock, in a domain of the sandboxed process's own, nested in the first, so the
//!    sandboxed process cannot ptrace or signal the supervisor.
//! 7. The seccomp program, with a listener when the policy needs the supervisor. Its
//!    ptrace and `process_vm_readv/writev` placeholders are settled first: allowed only
//!    when the Landlock domain of step 6 confines them and `CAP_SYS_ADMIN` is not kept.
//! 8. Hand the listener to the supervisor.
//!
//! Once step 7 has succeeded the process is sandboxed for good: a failure in step 7 leaves
//! every notified call failing with `ENOSYS` (closed, never open), and is still reported.

use std::fmt;
use std::io;

use crate::filter::{self, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO};
use crate::hostnames;
use crate::landlock_layer::{self, Plan};
use crate::policy::ReportTo;
use crate::policy::{Fallback, Mode, Policy};
use crate::probe::{Blocker, Kernel};
use crate::report::{Enforcement, Layer, LayerReport, Sink, Status, ViolationHook};
use crate::supervisor::Supervisor;
use crate::sys;

/// Why the sandbox was not installed.
#[derive(Debug)]
pub enum Error {
    /// The process already runs several threads; the sandbox must be installed first.
    Threads(usize),
    /// The kernel lacks a feature the policy needs, and the policy did not opt into a
    /// weaker mode.
    Unsupported {
        /// The missing feature, in words.
        feature: &'static str,
        /// What the policy could say instead, if anything.
        hint: &'static str,
    },
    /// A system call failed during installation.
    Io {
        /// The step that failed.
        step: &'static str,
        /// The error.
        source: io::Error,
    },
    /// Landlock refused the ruleset.
    Landlock(String),
    /// The process already runs inside another sandbox whose seccomp filter refuses what a
    /// supervisor needs (`pidfd_getfd`), and the policy's fallback would not be honest there.
    Nested,
    /// Allowed names that did not resolve (name, what the lookup said), and the policy
    /// refuses to start without them (`unresolved = "refuse"`, the default).
    Unresolved(Vec<(String, String)>),
    /// The program's resolver cannot be given the allowed names' answers here (no private
    /// mount namespace: user namespaces disabled, a container forbidding `unshare`, …).
    Hostnames(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Threads(n) => write!(
                f,
                "the process already has {n} threads; the sandbox must be installed before \
                 any thread is started (put #[network_sandbox] above any runtime attribute)"
            ),
            Error::Unsupported { feature, hint } => {
                write!(f, "this kernel lacks {feature}, which the policy needs")?;
                if !hint.is_empty() {
                    write!(f, "; {hint}")?;
                }
                Ok(())
            }
            Error::Io { step, source } => write!(f, "{step}: {source}"),
            Error::Landlock(e) => write!(f, "Landlock: {e}"),
            Error::Unresolved(names) => {
                let list: Vec<String> = names
                    .iter()
                    .map(|(n, why)| format!("`{n}` ({why})"))
                    .collect();
                write!(
                    f,
                    "allowed name {} did not resolve; pin it to its addresses in the policy \
                     (NAME=ADDRESS:PORT), or set unresolved = \"unknown\" to start without it",
                    list.join(", ")
                )
            }
            Error::Hostnames(why) => write!(
                f,
                "the policy allows names, and their answers reach the program through a \
                 private mount namespace (a hosts file with exactly their addresses, no \
                 reachable DNS server), which cannot be made here: {why}. Run as root, \
                 enable user namespaces (sysctl user.max_user_namespaces), or allow \
                 addresses instead of names (`--allow 192.0.2.1:443`); a pinned name needs \
                 the namespace too"
            ),
            Error::Nested => f.write_str(
                "this process already runs inside another sandbox (its seccomp filter refuses \
                 pidfd_getfd), so this sandbox's supervisor cannot check connects; the outer \
                 sandbox's policy still applies. To run anyway with no network at all, set \
                 fallback = \"deny-all\" (\"landlock-ports\" cannot hold there: the outer \
                 supervisor performs connects outside this process's Landlock domain)",
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn io_err(step: &'static str) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::Io { step, source }
}

/// Installs `policy` on the calling process. See the module documentation for the order.
pub fn install(policy: &Policy) -> Result<Enforcement, Error> {
    Sandbox::new(policy).install()
}

/// Installation with settings beyond the policy.
pub struct Sandbox<'a> {
    policy: &'a Policy,
    hook: Option<ViolationHook>,
    log: Option<(std::path::PathBuf, bool)>,
    learn: Option<std::path::PathBuf>,
}

impl<'a> Sandbox<'a> {
    /// Installation of `policy` with default settings: its log, if it names one
    /// ([`Policy::log`]).
    pub fn new(policy: &'a Policy) -> Self {
        Sandbox {
            policy,
            hook: None,
            log: policy
                .log()
                .map(|path| (path.into(), policy.options().log_allowed)),
            learn: None,
        }
    }

    /// Learn mode: when the program ends, the supervisor writes to `path` a policy file (the
    /// TOML of `--policy` and `build.rs`) allowing exactly what the run used: the TCP and UDP
    /// destinations it connected or sent to (as the name the program looked up, when the
    /// sandbox's DNS answerer saw the lookup), the unix sockets it connected or sent to, and
    /// the fixed ports TCP sockets listened on, each with a comment saying what used it.
    /// Meant for a policy in audit mode, so that nothing is refused while learning. To see
    /// lookups, the program gets the sandbox's DNS answerer even without names, which in
    /// this mode only **forwards** what it cannot answer to the machine's first nameserver
    /// (README, "Learn mode"); where that cannot be set up, one line on stderr says so and
    /// destinations are written as addresses. With an enforced policy nothing is forwarded
    /// (that would let any name out): destinations are written as addresses. A relative path is taken from the current
    /// directory now (the supervisor runs in `/`, as the calling user).
    pub fn learn_to(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        let path = path.into();
        self.learn = Some(std::path::absolute(&path).unwrap_or(path));
        self
    }

    /// Writes every decision of the sandbox to `path` as well, one JSON object per line
    /// (README, "The structured log"); with `allowed`, the allowed connects and sends too.
    /// The file is opened for appending (created, mode 0600, if missing) when the sandbox is
    /// installed, and written by the supervisor, which a policy then always starts. This
    /// replaces the policy's own `log`, if it has one.
    pub fn log_to(mut self, path: impl Into<std::path::PathBuf>, allowed: bool) -> Self {
        self.log = Some((path.into(), allowed));
        self
    }

    /// Sends violations to `hook` instead of stderr (whatever the policy's `report` says).
    /// The hook runs in the supervisor process; see [`ViolationHook`]. Calling this again
    /// replaces the hook: only the last one receives violations.
    pub fn on_violation(mut self, hook: ViolationHook) -> Self {
        self.hook = Some(hook);
        self
    }

    /// What [`install`](Self::install) would do on this kernel, decided without changing
    /// anything: the same probe and the same decisions. `Err` is the error `install` would
    /// return before installing anything.
    ///
    /// Names are not resolved here: their addresses do not change what the layers are.
    pub fn preview(&self) -> Result<Preview, Error> {
        let d = self.decide(&self.policy.with_resolved(&[], None))?;
        Ok(Preview {
            layers: vec![d.static_filter, d.supervisor, d.landlock, d.privileges],
            kernel: d.kernel,
        })
    }

    /// The probe and every decision, shared by [`preview`](Self::preview) and
    /// [`install`](Self::install).
    fn decide(&self, policy: &Policy) -> Result<Decisions, Error> {
        let kernel = Kernel::probe();
        if !kernel.seccomp_filter {
            return Err(Error::Unsupported {
                feature: "seccomp filters (CONFIG_SECCOMP_FILTER)",
                hint: "",
            });
        }
        if !policy.names().is_empty() {
            if let Some(why) = crate::mount_ns::user_namespace_blocker() {
                return Err(Error::Hostnames(why));
            }
        }
        let plan = Plan::new(
            policy,
            kernel.landlock_abi,
            policy.options().mode == Mode::Enforce,
        );
        let reports =
            !matches!(self.sink(), Sink::Off) || self.log.is_some() || self.learn.is_some();
        let choice = choose_program(policy, &kernel, plan.as_ref(), reports)?;
        let tracing = tracing_blocker(plan.as_ref(), policy.options().keep_capabilities);
        let static_filter = LayerReport {
            layer: Layer::StaticFilter,
            status: Status::Enforced,
            detail: static_filter_detail(policy, &choice.program, tracing),
        };
        let landlock =
            landlock_layer::report(plan.as_ref(), kernel.landlock_abi, choice.supervised);
        let mut supervisor = choice.report;
        if !policy.names().is_empty() && choice.supervised && self.learn.is_none() {
            supervisor.detail.push_str(&format!(
                "; DNS: the program's only name server is the sandbox's answerer ({}:{}, in a \
                 network namespace of its own), which answers allowed names with their \
                 addresses and every other name with NXDOMAIN, and forwards nothing",
                crate::answerer::SENTINEL,
                crate::answerer::PORT
            ));
        }
        Ok(Decisions {
            kernel,
            program: choice.program,
            supervised: choice.supervised,
            plan,
            tracing,
            static_filter,
            supervisor,
            landlock,
            privileges: crate::privileges::preview(
                policy.options().keep_capabilities,
                !policy.names().is_empty(),
            ),
        })
    }

    /// Where the supervisor sends violations.
    fn sink(&self) -> Sink {
        match (self.hook, self.policy.options().report) {
            (Some(hook), _) => Sink::Hook(hook),
            (None, ReportTo::Stderr) => Sink::Stderr,
            (None, ReportTo::Off) => Sink::Off,
        }
    }

    /// Installs every layer.
    pub fn install(self) -> Result<Enforcement, Error> {
        let threads = thread_count().map_err(io_err(
            "counting the process's threads in /proc/self/task (the sandbox must know it is \
             the only one)",
        ))?;
        if threads > 1 {
            return Err(Error::Threads(threads));
        }
        // Names first, with the machine's own resolver: nothing is confined yet.
        let resolutions = if self.policy.names().is_empty() {
            None
        } else {
            let r = hostnames::resolve(self.policy).map_err(|failed| {
                Error::Unresolved(failed.into_iter().map(|f| (f.name, f.why)).collect())
            })?;
            for line in r.iter().filter_map(hostnames::left_out_line) {
                eprintln!("network-sandbox: warning: {line}");
            }
            Some(r)
        };
        // Learn mode records the names the program looks up: the answerer runs (forwarding,
        // `answerer.rs`) for a policy without names too, where it can. Only in audit mode:
        // a forwarding answerer under an enforced policy would carry any name out (a DNS
        // tunnel), so `learn_to` with an enforced policy learns addresses only.
        let learning =
            crate::answerer::may_forward(self.learn.is_some(), self.policy.options().mode);
        let say_no_names = |why: &str| {
            eprintln!(
                "network-sandbox: learn mode: names cannot be learned ({why}); the learned \
                 policy lists addresses"
            );
        };
        let record_names = learning
            && resolutions.is_none()
            && match crate::mount_ns::user_namespace_blocker() {
                None => true,
                Some(why) => {
                    say_no_names(&why);
                    false
                }
            };
        // The DNS answerer's helper, forked before anything is confined (it needs a network
        // namespace of its own, and the Landlock port rules would hold it).
        let mut answerer = (resolutions.is_some() || record_names).then(|| {
            // SAFETY: the thread count above is 1, and nothing since has started a thread.
            unsafe { crate::answerer::start() }
        });
        if record_names {
            if let Some(Err(why)) = &answerer {
                say_no_names(why);
                answerer = None;
            }
        }
        let answering = matches!(answerer, Some(Ok(_)));
        let files = match (&resolutions, learning && answering) {
            (_, true) => Some(hostnames::Files::write_learning()),
            (Some(r), false) => Some(hostnames::Files::write(r, answering)),
            (None, false) => None,
        }
        .transpose();
        let files = match files {
            Err(e) if record_names => {
                // Without names the program needs none of these files: learn addresses.
                say_no_names(&format!("the resolver configuration: {e}"));
                answerer = None;
                None
            }
            other => other.map_err(|e| Error::Hostnames(format!("the hosts file: {e}")))?,
        };
        let answering = matches!(answerer, Some(Ok(_)));
        let refresh = files
            .as_ref()
            .filter(|_| resolutions.is_some())
            .and_then(|f| {
                let verbose = std::env::var_os("NETWORK_SANDBOX_REPORT").is_some_and(|v| v == "1");
                hostnames::RefreshPlan::new(self.policy.options().refresh, f.dir.clone(), verbose)
            });
        let refreshed = refresh.is_some();
        let resolved;
        let policy = match &resolutions {
            Some(r) => {
                resolved = self
                    .policy
                    .with_resolved(&hostnames::address_table(r), refresh);
                &resolved
            }
            // Learn mode without names: an empty table, which the answerer serves (and
            // forwards past).
            None if answering => {
                resolved = self.policy.with_resolved(&[], None);
                &resolved
            }
            None => self.policy,
        };
        let Decisions {
            kernel,
            mut program,
            mut supervised,
            mut plan,
            mut tracing,
            mut static_filter,
            mut supervisor,
            mut landlock,
            privileges: _,
        } = self.decide(policy)?;
        if crate::test_switch::skip(Layer::Supervisor) {
            crate::test_switch::drop_supervisor(&mut program, &mut supervised, &mut supervisor);
        }
        let mut files = files;
        if answering && !supervised && record_names {
            // Nobody would send the program's queries to the answerer, and without names
            // the program needs none of the files: it keeps the machine's.
            say_no_names("no supervisor");
            answerer = None;
            files = None;
        }
        if answering && !supervised && !record_names {
            // Nobody would send the program's queries to the answerer: name no server.
            answerer = Some(Err("no supervisor".into()));
            if let Some(f) = &files {
                f.name_no_server()
                    .map_err(|e| Error::Hostnames(format!("the resolver configuration: {e}")))?;
            }
        }
        if learning && matches!(answerer, Some(Ok(_))) {
            supervisor.detail.push_str(&format!(
                "; DNS (learn mode): the program's name server is the sandbox's answerer ({}:{}), \
                 which answers the policy's names, forwards every other query to this \
                 machine's first nameserver and notes each name and its addresses",
                crate::answerer::SENTINEL,
                crate::answerer::PORT
            ));
        }
        if let Some(Err(why)) = &answerer {
            supervisor.detail.push_str(&format!(
                "; no DNS answerer ({why}): a resolver that asks DNS itself (musl, c-ares, \
                 hickory) gets no answer, allowed names included; getaddrinfo still answers \
                 allowed names from the hosts file"
            ));
        }
        if crate::test_switch::skip(Layer::Landlock) {
            crate::test_switch::drop_landlock(&mut plan, &mut landlock);
            tracing = tracing_blocker(plan.as_ref(), policy.options().keep_capabilities);
            static_filter.detail = static_filter_detail(policy, &program, tracing);
        }
        // Debuggers (issue 12): ptrace and process_vm_readv/writev are allowed only when the
        // Landlock domain installed below keeps them to the sandbox's own processes.
        let program = filter::settle_within_sandbox(&program, tracing.is_none());

        sys::set_no_new_privs().map_err(io_err("prctl(PR_SET_NO_NEW_PRIVS)"))?;
        // Port rules first, so the supervisor forked next is held by them too.
        landlock_layer::restrict_connect_ports(plan.as_ref()).map_err(Error::Landlock)?;
        let log = match &self.log {
            Some((path, allowed)) if supervised => {
                use std::os::unix::fs::OpenOptionsExt;
                let file = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .mode(0o600)
                    .custom_flags(libc::O_CLOEXEC)
                    .open(path)
                    .map_err(io_err("opening the log file"))?;
                Some((file, *allowed))
            }
            _ => None,
        };
        let process = if supervised {
            let log = log.as_ref().map(|(f, allowed)| (f, *allowed));
            let learn = self.learn.as_deref();
            let helper = answerer.as_ref().and_then(|a| a.as_ref().ok());
            // SAFETY: the thread count above is 1, and nothing since has started a thread.
            let forked = unsafe { Supervisor::fork(policy, self.sink(), log, learn, helper) };
            // The supervisor has its own copies of the helper's descriptors.
            drop(answerer.take());
            Some(forked.map_err(io_err("starting the supervisor"))?)
        } else {
            None
        };
        if let (Some(s), Some(1)) = (&process, kernel.yama_ptrace_scope) {
            // SAFETY: prctl with integer arguments.
            unsafe { libc::prctl(libc::PR_SET_PTRACER, s.pid() as libc::c_ulong, 0, 0, 0) };
        }
        let binds = files.as_ref().map_or(&[][..], |f| &f.binds[..]);
        let privileges = crate::privileges::confine(policy.options().keep_capabilities, binds)
            .map_err(|e| {
                if binds.is_empty() {
                    io_err("dropping privileges")(e)
                } else {
                    Error::Hostnames(e.to_string())
                }
            })?;
        // Bound in the namespace, the files need no path any more, unless the supervisor
        // refreshes the hosts file: it takes it over once it has the listener.
        match files {
            Some(f) if refreshed && supervised => f.keep(),
            other => drop(other),
        }
        landlock_layer::restrict_sandbox(plan.as_ref()).map_err(Error::Landlock)?;

        let (listener, killable) = install_filter(&program, supervised)?;
        if supervised && !killable {
            // Not a weaker check, but a visible difference: say so.
            supervisor.detail.push_str(
                "; this kernel lacks SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (5.19), so a signal \
                 interrupts a pending connect (EINTR) after the supervisor may have started it",
            );
        }
        let supervisor_pid = process.as_ref().map(|s| s.pid());
        if let (Some(s), Some(listener)) = (process, listener) {
            s.adopt_listener(listener)
                .map_err(io_err("handing the listener to the supervisor"))?;
        }
        if policy.options().mode == Mode::Audit && matches!(self.sink(), Sink::Stderr) {
            // Audit is never the default; say so before the program's own output.
            eprintln!(
                "network-sandbox: audit mode: nothing is refused; what the policy would \
                 refuse is reported (\"audit: would deny\") and let through"
            );
        }
        Ok(Enforcement {
            layers: vec![static_filter, supervisor, landlock, privileges],
            supervisor_pid,
        })
    }
}

/// What the installer decided before touching anything.
struct Decisions {
    kernel: Kernel,
    program: Vec<filter::SockFilter>,
    supervised: bool,
    plan: Option<Plan>,
    /// Why ptrace and `process_vm_readv/writev` stay refused, if they do.
    tracing: Option<&'static str>,
    static_filter: LayerReport,
    supervisor: LayerReport,
    landlock: LayerReport,
    /// What dropping privileges would do; installing reports what it did.
    privileges: LayerReport,
}

/// What installing a policy would do on this kernel; see [`Sandbox::preview`].
pub struct Preview {
    /// The kernel features found.
    pub kernel: Kernel,
    /// One report per layer, L1 to L3, then privileges, as [`install`] would return them.
    pub layers: Vec<LayerReport>,
}

/// `CAP_SYS_ADMIN`: what `PTRACE_O_SUSPEND_SECCOMP` and `PTRACE_SECCOMP_GET_FILTER` need.
const CAP_SYS_ADMIN: u32 = 21;

/// Why ptrace and `process_vm_readv/writev` must stay refused inside the sandbox, or `None`
/// when they can be allowed between its own processes (debuggers, `strace -f`,
/// LeakSanitizer). They can when a Landlock domain of the sandbox's own is installed
/// (`plan`): Landlock lets a process ptrace, or read and write the memory of, only
/// processes in its domain or nested in it, whatever its capabilities, so the supervisor
/// and every process outside the sandbox stay out of reach. And when `CAP_SYS_ADMIN` is
/// not kept (`keep`, the policy's `keep_capabilities`): a tracer holding it could ask for
/// `PTRACE_O_SUSPEND_SECCOMP` (the kernel also refuses that to a tracer under seccomp, but
/// the sandbox does not rest on one check).
fn tracing_blocker(plan: Option<&Plan>, keep: u64) -> Option<&'static str> {
    if plan.is_none() {
        Some(
            "no Landlock domain here, and only Landlock keeps a tracer to the sandbox's own \
             processes",
        )
    } else if keep & (1 << CAP_SYS_ADMIN) != 0 {
        Some("the policy keeps CAP_SYS_ADMIN, with which a tracer could suspend seccomp")
    } else {
        None
    }
}

/// What the static program refuses for this policy, in words; `tracing`: why ptrace stays
/// refused, if it does ([`tracing_blocker`]).
fn static_filter_detail(
    policy: &Policy,
    program: &[filter::SockFilter],
    tracing: Option<&str>,
) -> String {
    let len = program.len();
    // Query sockets (issue 12): what the program hands to the supervisor instead of
    // refusing it.
    let (query_ip, query_unix) = filter::query_sockets(program);
    // A program whose checks were rewritten to ALLOW (the escape tests' switch) makes UDP
    // sockets outright: say so rather than "no UDP".
    let udp = policy.has_udp()
        || !policy.names().is_empty()
        || filter::socket_return(program, libc::AF_INET, libc::SOCK_DGRAM)
            == Some(filter::SECCOMP_RET_ALLOW);
    // Netlink route sockets (interface listing) unless the policy keeps CAP_NET_ADMIN or
    // CAP_NET_RAW (network_sandbox_build::lower::netlink_route_allowed).
    let netlink = policy.options().keep_capabilities & (1 << 12 | 1 << 13) == 0;
    let mut made = vec![if udp {
        "TCP and UDP over IPv4/IPv6"
    } else {
        "TCP over IPv4/IPv6"
    }];
    let mut not = vec![];
    if !udp && !query_ip {
        not.push("UDP");
    }
    // Unix sockets: stream and seqpacket ones are made (their connects go to the supervisor),
    // datagram ones with a `unix:` endpoint, none under the landlock-ports fallback.
    if policy.options().fallback == Fallback::LandlockPorts {
        not.push("unix");
    } else if policy.unix().is_empty()
        && filter::socket_return(program, libc::AF_UNIX, libc::SOCK_DGRAM)
            != Some(filter::SECCOMP_RET_ALLOW)
    {
        made.push("unix stream/seqpacket");
        if !query_unix {
            not.push("unix datagram");
        }
    } else {
        made.push("unix stream/seqpacket/datagram");
    }
    if netlink {
        made.push("netlink route sockets");
        not.push("other netlink");
    } else {
        not.push("netlink: the policy keeps CAP_NET_ADMIN or CAP_NET_RAW");
    }
    not.extend(["raw", "packet", "MPTCP", "SCTP"]);
    let made = match made.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, init)) => format!("{} and {last}", init.join(", ")),
        None => String::new(),
    };
    let sockets = format!("sockets other than {made} (no {})", not.join(", "));
    // network_sandbox_build::lower: listen is the supervisor's check wherever one serves.
    // Without endpoints a program without checks is the landlock-ports fallback's or one
    // whose checks are refused outright (no supervisor can run: `choose_program`).
    let no_endpoint = no_endpoint(policy);
    let refused_outright = no_endpoint && !filter::uses_user_notif(program);
    // Where it is, the check says nothing here (a unix socket may listen, a TCP one only
    // at a `listen` entry).
    let listen = if !policy.listen().is_empty() {
        "listen outside the policy's `listen` entries (the supervisor checks them); "
    } else if refused_outright || policy.options().fallback == Fallback::LandlockPorts {
        "listen; "
    } else {
        ""
    };
    let tracing = match tracing {
        None => "ptrace and process_vm_readv/writev allowed between the sandbox's own \
                 processes only (debuggers, strace -f, sanitizers; Landlock keeps them in)"
            .to_owned(),
        Some(why) => format!("ptrace and process_vm_readv/writev refused (EPERM): {why}"),
    };
    let connect = if refused_outright {
        "every connect (no endpoint)".to_owned()
    } else {
        let query = match (query_ip, query_unix) {
            (true, true) => "; so do UDP and unix datagram sockets",
            (true, false) => "; so do UDP sockets",
            (false, true) => "; so do unix datagram sockets",
            (false, false) => "",
        };
        let made = if query.is_empty() {
            ""
        } else {
            ", which the supervisor makes shut down (they cannot send: interface queries)"
        };
        let none = if no_endpoint {
            " (no endpoint: it refuses every TCP and UDP one, and lets unix ones reach the \
             sandbox's own sockets only)"
        } else {
            ""
        };
        format!("connects go to the supervisor{none}{query}{made}")
    };
    format!(
        "{len} instructions; refuses {sockets}; {connect}; TCP Fast Open; unix datagram \
         socketpairs; socket options outside an allow list (routing, filtering, netfilter, \
         TCP_REPAIR); tun/tap, interface, route and userfaultfd ioctls; io_uring and clone3 \
         (ENOSYS); pidfd_getfd, bpf, module loading, kexec, request_key, userfaultfd, user \
         namespaces, setns, mounts, re-limiting, renicing or rescheduling another process \
         (EPERM); {listen}i386 and x32 system calls (killed); {tracing}{}",
        profile_detail(policy)
    )
}

/// What the system call profile refuses besides (issue 14), for the layer's line.
fn profile_detail(policy: &Policy) -> String {
    match policy.refused_calls().len() {
        0 => String::new(),
        n => format!("; its system call profile refuses {n} more calls (`explain` lists them)"),
    }
}

/// Whether `policy` has no endpoint of any kind (no address, name or `unix:` socket).
fn no_endpoint(policy: &Policy) -> bool {
    policy.endpoints().is_empty() && policy.names().is_empty() && policy.unix().is_empty()
}

/// The program to install, whether it needs the supervisor, and the supervisor's report.
struct ProgramChoice {
    program: Vec<filter::SockFilter>,
    supervised: bool,
    report: LayerReport,
}

/// Decides the program to install: the policy's own, or its fallback when the supervisor
/// cannot run on this kernel. `reports`: whether refusals are reported anywhere (not
/// `report = "off"` without a hook); if not, or if no supervisor can run, the static
/// filter's refusals are answered in the kernel ([`filter::resolve_reports`]).
fn choose_program(
    policy: &Policy,
    kernel: &Kernel,
    plan: Option<&Plan>,
    reports: bool,
) -> Result<ProgramChoice, Error> {
    let compiled = policy.filter();
    let choice = |program, supervised, status, detail: String| ProgramChoice {
        program,
        supervised,
        report: LayerReport {
            layer: Layer::Supervisor,
            status,
            detail,
        },
    };
    let reporting = reports && filter::has_reports(compiled);
    let program = if reporting {
        compiled.to_vec()
    } else {
        filter::resolve_reports(compiled)
    };
    // Only a policy without endpoints under `fallback = "landlock-ports"` has no check
    // (network_sandbox_build::lower): no supervisor is needed there but to report.
    if !filter::uses_user_notif(&program) {
        let no_destination = "the policy allows no destination: every connect is refused by the \
                              static filter";
        return Ok(match kernel.supervisor_blocker() {
            None if reporting => choice(
                program,
                true,
                Status::Enforced,
                format!("{no_destination}; the supervisor reports the static filter's refusals"),
            ),
            _ => choice(
                filter::resolve_reports(&program),
                false,
                Status::NotNeeded,
                no_destination.into(),
            ),
        });
    }
    let Some(blocker) = kernel.supervisor_blocker() else {
        let detail = match policy.options().mode {
            Mode::Enforce if no_endpoint(policy) && policy.listen().is_empty() => {
                "the policy allows no destination: every TCP and UDP connect is refused; the \
                 supervisor checks unix connects (to the sandbox's own sockets only), binds and \
                 listens (unix sockets only)"
            }
            Mode::Enforce => {
                "every connect (and UDP or unix datagram send) checked against the allow list and \
                              performed by the supervisor"
            }
            Mode::Audit => "audit mode: connects outside the allow list are reported, not refused",
        };
        let mut detail = if reporting {
            format!("{detail}; the static filter's refusals are reported by the supervisor")
        } else {
            detail.into()
        };
        if filter::query_sockets(&program) != (false, false) {
            detail.push_str(
                "; a UDP or unix datagram socket the policy does not allow is made by the \
                 supervisor, shut down so that it cannot send, for interface requests \
                 (SIOCGIF*; a check on the supervisor's own sockets first)",
            );
        }
        return Ok(choice(program, true, Status::Enforced, detail));
    };
    let unavailable = match blocker {
        Blocker::Missing(missing) => format!("unavailable ({missing})"),
        Blocker::Nested => "unavailable inside another sandbox".to_owned(),
    };
    // A policy without endpoints (issue 12) hands connect, bind and listen to the
    // supervisor only for the program's own unix sockets and its query sockets: without
    // one, every check is refused outright, which loses nothing the policy allows. Such a
    // policy starts wherever it started before, whatever its fallback. Not with `listen`
    // entries: those need the supervisor's check, as with endpoints. The compiler made the
    // program for this case (`network_sandbox_build::lower::lower_unsupervised`): bind and
    // sendto without MSG_FASTOPEN stay as they were before they became checks. A policy
    // without it (built with `Policy::new` alone) refuses every check, bind and sendto
    // too, and the line says so. Either way only return values are rewritten here (the
    // compiled one has no check left; nothing with USER_NOTIF is installed unsupervised).
    if no_endpoint(policy)
        && policy.listen().is_empty()
        && policy.options().mode == Mode::Enforce
        && policy.options().fallback != Fallback::LandlockPorts
    {
        let deny = SECCOMP_RET_ERRNO | policy.options().deny_errno.errno() as u32;
        let (program, missing) = match policy.unsupervised_filter() {
            Some(unsupervised) => (filter::rewrite_user_notif(unsupervised, deny), ""),
            None => (
                filter::rewrite_user_notif(&program, deny),
                "; this policy carries no program for running without a supervisor (it was \
                 not made by the compiler), so bind, and sendto naming an address, are \
                 refused too",
            ),
        };
        return Ok(choice(
            program,
            false,
            Status::NotEnforced,
            format!(
                "{unavailable}: the policy allows no destination, so every connect is \
                 refused by the static filter all the same; the program's own unix sockets \
                 (listen, and connects to them) and interface queries on UDP or unix datagram \
                 sockets need the supervisor and are refused too{missing}"
            ),
        ));
    }
    match (policy.options().fallback, blocker) {
        (Fallback::DenyAll, _) => Ok(choice(
            filter::rewrite_user_notif(
                &program,
                SECCOMP_RET_ERRNO | policy.options().deny_errno.errno() as u32,
            ),
            false,
            Status::NotEnforced,
            format!("{unavailable}; fallback \"deny-all\": every connect is refused"),
        )),
        // The outer sandbox's supervisor would perform every connect this filter lets
        // through, outside this process's Landlock domain: port rules would not hold.
        (_, Blocker::Nested) => Err(Error::Nested),
        (Fallback::Refuse, Blocker::Missing(feature)) => Err(Error::Unsupported {
            feature,
            hint: "to run anyway, set fallback = \"landlock-ports\" (ports only) or \
                   fallback = \"deny-all\" (no network) in the policy",
        }),
        // Without Landlock port rules in force, ALLOW would let every connect through.
        (Fallback::LandlockPorts, Blocker::Missing(feature))
            if policy.has_udp() || plan.is_none_or(|p| p.connect_ports.is_none()) =>
        {
            Err(Error::Unsupported {
                feature,
                hint: "the \"landlock-ports\" fallback needs Landlock ABI 4 (Linux 6.7), \
                       enforce mode, at most 4096 TCP ports and no UDP endpoint",
            })
        }
        (Fallback::LandlockPorts, Blocker::Missing(_)) => Ok(choice(
            filter::rewrite_user_notif(&program, SECCOMP_RET_ALLOW),
            false,
            Status::NotEnforced,
            format!("{unavailable}; fallback \"landlock-ports\": only TCP ports are checked"),
        )),
    }
}

/// Installs the program; with `listener`, asks for a notification listener, waiting
/// killably for replies where the kernel supports it (5.19+) so that a signal does not
/// cancel a connect the supervisor is already performing.
/// Returns the listener, and whether replies are waited for killably.
fn install_filter(
    program: &[filter::SockFilter],
    listener: bool,
) -> Result<(Option<std::os::fd::OwnedFd>, bool), Error> {
    let err = io_err("installing the seccomp filter");
    if !listener {
        return sys::seccomp_set_filter(program, 0)
            .map(|l| (l, false))
            .map_err(err);
    }
    let base = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
    match sys::seccomp_set_filter(program, base | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV) {
        Ok(l) => Ok((l, true)),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => sys::seccomp_set_filter(program, base)
            .map(|l| (l, false))
            .map_err(err),
        Err(e) => Err(err(e)),
    }
}

/// The number of threads of this process. An error, never a guess, when `/proc` cannot be
/// read: installing in a multi-threaded process would leave the other threads unconfined.
fn thread_count() -> io::Result<usize> {
    Ok(std::fs::read_dir("/proc/self/task")?.count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Operation, Reason, Remedy, Violation};
    use std::sync::Mutex;

    static CALLED: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

    fn first(_: &Violation) {
        CALLED.lock().unwrap().push("first");
    }

    fn second(_: &Violation) {
        CALLED.lock().unwrap().push("second");
    }

    /// Where no supervisor can run, a policy without endpoints installs the second program
    /// the compiler made for it (only return values rewritten: it has no check left), which
    /// keeps bind and sendto; one built with `Policy::new` alone refuses every check, bind
    /// included, and the L2 line says why. Where a supervisor runs, the main program.
    #[test]
    fn without_a_supervisor_a_policy_without_endpoints_installs_its_second_program() {
        use network_sandbox_build::{compile, file::parse_policy_toml, Arch, Program};
        let (Some(arch), Some(audit_arch)) = (
            Arch::ALL
                .into_iter()
                .find(|a| a.target_arch() == std::env::consts::ARCH),
            filter::NATIVE_AUDIT_ARCH,
        ) else {
            eprintln!("skipped: no program for this architecture");
            return;
        };
        let compiled = compile(&parse_policy_toml("allow = []").unwrap()).unwrap();
        let ours = |p: &Program| -> Vec<filter::SockFilter> {
            p.instructions
                .iter()
                .map(|i| filter::SockFilter::new(i.code, i.jt, i.jf, i.k))
                .collect()
        };
        let main = ours(compiled.program(arch));
        let second = ours(compiled.unsupervised(arch).expect("a second program"));
        let call = |p: &[filter::SockFilter], nr: i64, flags: u64| {
            let data = filter::SeccompData {
                nr: nr as i32,
                arch: audit_arch,
                instruction_pointer: 0,
                args: [3, 0, 0, flags, 1 << 40, 16],
            };
            filter::run(p, &data)
        };
        let deny = Some(SECCOMP_RET_ERRNO | 13);
        let allow = Some(filter::SECCOMP_RET_ALLOW);
        let no_notif = Kernel {
            seccomp_filter: true,
            user_notif: false,
            pidfd_getfd: true,
            landlock_abi: 7,
            yama_ptrace_scope: None,
            already_filtered: false,
            nested: false,
        };
        let nested = Kernel {
            user_notif: true,
            already_filtered: true,
            nested: true,
            ..no_notif
        };
        let with = Policy::new(main.clone(), Vec::new(), Default::default())
            .with_unsupervised_filter(second.clone());
        for kernel in [&no_notif, &nested] {
            let choice = choose_program(&with, kernel, None, true).unwrap();
            assert!(!choice.supervised);
            assert_eq!(choice.program, second, "the compiled program as it is");
            assert_eq!(call(&choice.program, libc::SYS_bind, 0), allow);
            assert_eq!(call(&choice.program, libc::SYS_sendto, 0), allow);
            assert_eq!(call(&choice.program, libc::SYS_sendto, 0x2000_0000), deny);
            assert_eq!(call(&choice.program, libc::SYS_connect, 0), deny);
            assert_eq!(call(&choice.program, libc::SYS_listen, 0), deny);
            assert_eq!(choice.report.status, Status::NotEnforced);
            assert!(
                !choice.report.detail.contains("carries no program"),
                "{}",
                choice.report.detail
            );
        }
        // Built by hand without it: nothing is weakened, bind and sendto are refused too.
        let without = Policy::new(main.clone(), Vec::new(), Default::default());
        let choice = choose_program(&without, &no_notif, None, true).unwrap();
        assert!(!choice.supervised);
        assert!(!filter::uses_user_notif(&choice.program));
        assert_eq!(call(&choice.program, libc::SYS_bind, 0), deny);
        assert_eq!(call(&choice.program, libc::SYS_sendto, 0), deny);
        assert_eq!(call(&choice.program, libc::SYS_connect, 0), deny);
        assert!(
            choice.report.detail.contains(
                "carries no program for running without a supervisor (it was not made by the \
                 compiler), so bind, and sendto naming an address, are refused too"
            ),
            "{}",
            choice.report.detail
        );
        // Where a supervisor runs: the main program, which checks bind.
        let able = Kernel {
            user_notif: true,
            ..no_notif
        };
        let choice = choose_program(&with, &able, None, true).unwrap();
        assert!(choice.supervised);
        assert_eq!(choice.program, main);
        assert_eq!(
            call(&choice.program, libc::SYS_bind, 0),
            Some(filter::SECCOMP_RET_USER_NOTIF)
        );
    }

    #[test]
    fn a_second_violation_hook_replaces_the_first() {
        let policy = Policy::new(Vec::new(), Vec::new(), Default::default());
        let sandbox = Sandbox::new(&policy)
            .on_violation(first)
            .on_violation(second);
        sandbox.sink().deliver(&Violation {
            pid: 1,
            command: "test".into(),
            tid: 1,
            thread: "test".into(),
            operation: Operation::Connect,
            protocol: None,
            socket: None,
            destination: None,
            reason: Reason::NotAllowed,
            remedy: Remedy::Nothing,
            audit_only: false,
            layer: crate::report::Layer::Supervisor,
        });
        assert_eq!(*CALLED.lock().unwrap(), ["second"]);
    }
}
