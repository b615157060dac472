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
//! 6. The rest of Landlock, in a domain of the sandboxed process's own, nested in the first,
//!    so the sandboxed process cannot ptrace the supervisor.
//! 7. The seccomp program, with a listener when the policy needs the supervisor.
//! 8. Hand the listener to the supervisor.
//!
//! Once step 7 has succeeded the process is sandboxed for good: a failure in step 7 leaves
//! every notified call failing with `ENOSYS` (closed, never open), and is still reported.

use std::fmt;
use std::io;

use crate::filter::{self, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO};
use crate::landlock_layer::{self, Plan};
use crate::policy::{Fallback, Mode, Policy};
use crate::probe::Kernel;
use crate::report::{Enforcement, Layer, LayerReport, Status, ViolationHook};
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
}

impl<'a> Sandbox<'a> {
    /// Installation of `policy` with default settings.
    pub fn new(policy: &'a Policy) -> Self {
        Sandbox { policy, hook: None }
    }

    /// Sends violations to `hook` instead of stderr. The hook runs in the supervisor
    /// process; see [`ViolationHook`].
    pub fn on_violation(mut self, hook: ViolationHook) -> Self {
        self.hook = Some(hook);
        self
    }

    /// What [`install`](Self::install) would do on this kernel, decided without changing
    /// anything: the same probe and the same decisions. `Err` is the error `install` would
    /// return before installing anything.
    pub fn preview(&self) -> Result<Preview, Error> {
        let policy = self.policy;
        let kernel = Kernel::probe();
        if !kernel.seccomp_filter {
            return Err(Error::Unsupported {
                feature: "seccomp filters (CONFIG_SECCOMP_FILTER)",
                hint: "",
            });
        }
        let plan = Plan::new(
            policy,
            kernel.landlock_abi,
            policy.options().mode == Mode::Enforce,
        );
        let (program, supervised, l2) = choose_program(policy, &kernel, plan.as_ref())?;
        let l1 = LayerReport {
            layer: Layer::StaticFilter,
            status: Status::Enforced,
            detail: static_filter_detail(policy, program.len()),
        };
        let l3 = landlock_layer::report(plan.as_ref(), kernel.landlock_abi, supervised);
        Ok(Preview {
            kernel,
            layers: vec![l1, l2, l3],
            program,
            supervised,
            plan,
        })
    }

    /// Installs every layer.
    pub fn install(self) -> Result<Enforcement, Error> {
        let threads = thread_count();
        if threads > 1 {
            return Err(Error::Threads(threads));
        }
        if let Some(hook) = self.hook {
            crate::report::set_hook(hook);
        }
        let policy = self.policy;
        let Preview {
            kernel,
            mut layers,
            mut program,
            mut supervised,
            mut plan,
        } = self.preview()?;
        if crate::test_switch::skip(Layer::Supervisor) {
            crate::test_switch::drop_supervisor(&mut program, &mut supervised, &mut layers);
        }
        if crate::test_switch::skip(Layer::Landlock) {
            crate::test_switch::drop_landlock(&mut plan, &mut layers);
        }

        sys::set_no_new_privs().map_err(io_err("prctl(PR_SET_NO_NEW_PRIVS)"))?;
        // Port rules first, so the supervisor forked next is held by them too.
        landlock_layer::restrict_connect_ports(plan.as_ref()).map_err(Error::Landlock)?;
        let supervisor = if supervised {
            Some(Supervisor::fork(policy).map_err(io_err("starting the supervisor"))?)
        } else {
            None
        };
        if let (Some(s), Some(scope)) = (&supervisor, kernel.yama_ptrace_scope) {
            if scope == 1 {
                // SAFETY: prctl with integer arguments.
                unsafe { libc::prctl(libc::PR_SET_PTRACER, s.pid() as libc::c_ulong, 0, 0, 0) };
            }
        }
        landlock_layer::restrict_sandbox(plan.as_ref()).map_err(Error::Landlock)?;

        let (listener, killable) = install_filter(&program, supervised)?;
        if supervised && !killable {
            // Not a weaker check, but a visible difference: say so.
            layers[1].detail.push_str(
                "; this kernel lacks SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (5.19), so a signal \
                 interrupts a pending connect (EINTR) after the supervisor may have started it",
            );
        }
        let supervisor_pid = supervisor.as_ref().map(|s| s.pid());
        if let (Some(s), Some(listener)) = (supervisor, listener) {
            s.adopt_listener(listener)
                .map_err(io_err("handing the listener to the supervisor"))?;
        }
        Ok(Enforcement {
            layers,
            supervisor_pid,
        })
    }
}

/// What installing a policy would do on this kernel; see [`Sandbox::preview`].
pub struct Preview {
    /// The kernel features found.
    pub kernel: Kernel,
    /// One report per layer, L1 to L3, as [`install`] would return them.
    pub layers: Vec<LayerReport>,
    program: Vec<filter::SockFilter>,
    supervised: bool,
    plan: Option<Plan>,
}

/// What the static program refuses for this policy, in words.
fn static_filter_detail(policy: &Policy, len: usize) -> String {
    let sockets = if policy.has_udp() {
        "sockets other than TCP and UDP over IPv4/IPv6 (no unix, netlink, raw, packet, MPTCP, SCTP)"
    } else {
        "sockets other than TCP over IPv4/IPv6 (no UDP, unix, netlink, raw, packet, MPTCP, SCTP)"
    };
    let connect = if policy.endpoints().is_empty() {
        "every connect (no endpoint)"
    } else {
        "connects go to the supervisor"
    };
    format!(
        "{len} instructions; refuses {sockets}; {connect}; TCP Fast Open; source-routing and \
         TCP_REPAIR socket options; io_uring (ENOSYS); ptrace, process_vm_readv/writev, \
         pidfd_getfd, bpf, module loading, kexec (EPERM); bind and listen; i386 and x32 \
         system calls (killed)"
    )
}

/// The program to install, whether it needs the supervisor, and the supervisor's report.
fn choose_program(
    policy: &Policy,
    kernel: &Kernel,
    plan: Option<&Plan>,
) -> Result<(Vec<filter::SockFilter>, bool, LayerReport), Error> {
    let program = policy.filter().to_vec();
    if !filter::uses_user_notif(&program) {
        let detail = "the policy allows no destination: every connect is refused by the static \
                      filter";
        return Ok((program, false, report(Status::NotNeeded, detail.into())));
    }
    let Some(missing) = kernel.supervisor_blocker() else {
        let detail = match policy.options().mode {
            Mode::Enforce => {
                "every connect (and UDP send) checked against the allow list and \
                              performed by the supervisor"
            }
            Mode::Audit => "audit mode: connects outside the allow list are reported, not refused",
        };
        return Ok((program, true, report(Status::Enforced, detail.into())));
    };
    match policy.options().fallback {
        Fallback::Refuse => Err(Error::Unsupported {
            feature: missing,
            hint: "to run anyway, set fallback = \"landlock-ports\" (ports only) or \
                   fallback = \"deny-all\" (no network) in the policy",
        }),
        // Without Landlock port rules in force, ALLOW would let every connect through.
        Fallback::LandlockPorts
            if policy.has_udp() || plan.is_none_or(|p| p.connect_ports.is_none()) =>
        {
            Err(Error::Unsupported {
                feature: missing,
                hint: "the \"landlock-ports\" fallback needs Landlock ABI 4 (Linux 6.7), \
                       enforce mode, at most 4096 TCP ports and no UDP endpoint",
            })
        }
        Fallback::LandlockPorts => Ok((
            filter::rewrite_user_notif(&program, SECCOMP_RET_ALLOW),
            false,
            report(
                Status::NotEnforced,
                format!("unavailable ({missing}); fallback \"landlock-ports\": only TCP ports are checked"),
            ),
        )),
        Fallback::DenyAll => Ok((
            filter::rewrite_user_notif(&program, SECCOMP_RET_ERRNO | libc::EACCES as u32),
            false,
            report(
                Status::NotEnforced,
                format!("unavailable ({missing}); fallback \"deny-all\": every connect is refused"),
            ),
        )),
    }
}

fn report(status: Status, detail: String) -> LayerReport {
    LayerReport {
        layer: Layer::Supervisor,
        status,
        detail,
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

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(1)
}
