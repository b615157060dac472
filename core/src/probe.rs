//! What the running kernel offers, found by asking it (never by parsing version numbers).

use std::os::fd::AsRawFd;

use crate::sys;

/// Kernel features the layers depend on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kernel {
    /// seccomp filters (`SECCOMP_SET_MODE_FILTER`).
    pub seccomp_filter: bool,
    /// The `SECCOMP_RET_USER_NOTIF` action (Linux 5.0).
    pub user_notif: bool,
    /// `pidfd_open` + `pidfd_getfd` (Linux 5.6), which the supervisor needs to act on a
    /// process's socket.
    pub pidfd_getfd: bool,
    /// Landlock ABI version, 0 when Landlock is unavailable. 4+ has TCP port rules, 6+
    /// scopes abstract unix sockets.
    pub landlock_abi: i32,
    /// `kernel.yama.ptrace_scope`, when Yama is built in.
    pub yama_ptrace_scope: Option<u32>,
    /// This process already runs under a seccomp filter (`Seccomp: 2`).
    pub already_filtered: bool,
    /// This process runs inside another sandbox whose seccomp filter refuses `pidfd_getfd`
    /// (an outer network-sandbox does): the kernel has the call, but a supervisor started
    /// from here could not use it.
    pub nested: bool,
}

/// What stops the supervisor from running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocker {
    /// The kernel lacks a feature (in words).
    Missing(&'static str),
    /// This process is inside another sandbox that refuses what the supervisor needs.
    Nested,
}

/// Environment variable naming features to treat as missing (comma-separated:
/// `user-notif`, `pidfd-getfd`, `landlock`), for testing the fail-closed paths on a kernel
/// that has everything. It can only take features away, so it can only make the installer
/// refuse to start or use a fallback the policy itself opted into.
pub const SIMULATE_MISSING_ENV: &str = "NETWORK_SANDBOX_SIMULATE_MISSING";

impl Kernel {
    /// Probes the running kernel (minus what [`SIMULATE_MISSING_ENV`] takes away).
    pub fn probe() -> Kernel {
        let mut k = Kernel::probe_real();
        if let Some(list) = std::env::var_os(SIMULATE_MISSING_ENV) {
            for feature in list.to_string_lossy().split(',') {
                match feature.trim() {
                    "user-notif" => k.user_notif = false,
                    "pidfd-getfd" => k.pidfd_getfd = false,
                    "landlock" => k.landlock_abi = 0,
                    _ => {}
                }
            }
        }
        k
    }

    fn probe_real() -> Kernel {
        let already_filtered = sys::read_small_file("/proc/self/status").is_some_and(|s| {
            s.lines()
                .any(|l| l.starts_with("Seccomp:") && l.trim_end().ends_with('2'))
        });
        // pidfd_getfd of one of our own fds cannot be refused for want of ptrace access:
        // an answer other than ENOSYS under a seccomp filter is the filter's.
        let (pidfd_getfd, nested) = match probe_pidfd_getfd() {
            Ok(()) => (true, false),
            Err(libc::ENOSYS) => (false, false),
            Err(_) if already_filtered => (true, true),
            Err(_) => (false, false),
        };
        Kernel {
            seccomp_filter: sys::seccomp_action_available(crate::filter::SECCOMP_RET_ALLOW),
            user_notif: sys::seccomp_action_available(crate::filter::SECCOMP_RET_USER_NOTIF),
            pidfd_getfd,
            landlock_abi: sys::landlock_abi(),
            yama_ptrace_scope: sys::read_small_file("/proc/sys/kernel/yama/ptrace_scope")
                .and_then(|s| s.parse().ok()),
            already_filtered,
            nested,
        }
    }

    /// What stops the supervisor from running, if anything.
    pub fn supervisor_blocker(&self) -> Option<Blocker> {
        if !self.seccomp_filter {
            Some(Blocker::Missing("seccomp filters (CONFIG_SECCOMP_FILTER)"))
        } else if !self.user_notif {
            Some(Blocker::Missing(
                "seccomp user notification (SECCOMP_RET_USER_NOTIF, Linux 5.0)",
            ))
        } else if self.nested {
            Some(Blocker::Nested)
        } else if !self.pidfd_getfd {
            Some(Blocker::Missing("pidfd_getfd (Linux 5.6)"))
        } else if self.yama_ptrace_scope.is_some_and(|s| s >= 2) {
            Some(Blocker::Missing(
                "ptrace access to the sandboxed process (Yama ptrace_scope is 2 or 3)",
            ))
        } else {
            None
        }
    }
}

/// Duplicates one of our own fds through a pidfd of ourselves; the errno if that fails.
fn probe_pidfd_getfd() -> Result<(), i32> {
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    let errno = |e: std::io::Error| e.raw_os_error().unwrap_or(libc::EIO);
    let pidfd = sys::pidfd_open(me).map_err(errno)?;
    sys::pidfd_getfd(&pidfd, pidfd.as_raw_fd()).map_err(errno)?;
    Ok(())
}
