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
    /// This process already runs under a seccomp filter (`Seccomp: 2`), for instance an outer
    /// network-sandbox, which refuses `pidfd_getfd`.
    pub already_filtered: bool,
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
        Kernel {
            seccomp_filter: sys::seccomp_action_available(crate::filter::SECCOMP_RET_ALLOW),
            user_notif: sys::seccomp_action_available(crate::filter::SECCOMP_RET_USER_NOTIF),
            pidfd_getfd: probe_pidfd_getfd(),
            landlock_abi: sys::landlock_abi(),
            yama_ptrace_scope: sys::read_small_file("/proc/sys/kernel/yama/ptrace_scope")
                .and_then(|s| s.parse().ok()),
            already_filtered: sys::read_small_file("/proc/self/status").is_some_and(|s| {
                s.lines()
                    .any(|l| l.starts_with("Seccomp:") && l.trim_end().ends_with('2'))
            }),
        }
    }

    /// The missing feature that stops the supervisor from running, if any.
    pub fn supervisor_blocker(&self) -> Option<&'static str> {
        if !self.seccomp_filter {
            Some("seccomp filters (CONFIG_SECCOMP_FILTER)")
        } else if !self.user_notif {
            Some("seccomp user notification (SECCOMP_RET_USER_NOTIF, Linux 5.0)")
        } else if !self.pidfd_getfd && self.already_filtered {
            Some(
                "pidfd_getfd, which the seccomp filter this process already runs under refuses \
                 (a network-sandbox inside another one cannot start its supervisor; the outer \
                 sandbox still applies)",
            )
        } else if !self.pidfd_getfd {
            Some("pidfd_getfd (Linux 5.6)")
        } else if self.yama_ptrace_scope.is_some_and(|s| s >= 2) {
            Some("ptrace access to the sandboxed process (Yama ptrace_scope is 2 or 3)")
        } else {
            None
        }
    }
}

/// Duplicates one of our own fds through a pidfd of ourselves.
fn probe_pidfd_getfd() -> bool {
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    match sys::pidfd_open(me) {
        Ok(pidfd) => sys::pidfd_getfd(&pidfd, pidfd.as_raw_fd()).is_ok(),
        Err(_) => false,
    }
}
