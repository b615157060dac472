//! Dropping the capabilities that configure the network or the kernel, so that root is
//! confined like any other user.
//!
//! The sandbox keeps a short list of capabilities that act on files, users and the process
//! itself ([`KEPT`]), and those the policy names in `keep_capabilities`
//! ([`Options::keep_capabilities`](crate::Options::keep_capabilities)), and drops every
//! other one the kernel knows (up to `/proc/sys/kernel/cap_last_cap`, so capabilities newer
//! than this list are dropped too) from all five sets:
//!
//! - the **bounding** set (`PR_CAPBSET_DROP`, which needs `CAP_SETPCAP`: done first), so that
//!   no `execve` — of a set-user-ID-root program or one with file capabilities — gives them
//!   back;
//! - the **ambient** set (`PR_CAP_AMBIENT_LOWER`);
//! - the **permitted**, **effective** and **inheritable** sets (`capset`).
//!
//! Securebits are left alone: with the capability gone from the bounding set, neither the
//! root-exec rules nor file capabilities can raise it again, and a process without
//! `CAP_SETPCAP` cannot change securebits anyway.
//!
//! A kept capability stays in each set it is in and is added to none: keeping is not
//! granting. A process without any of the dropped capabilities (any unprivileged user) is
//! left as it is; the bounding set is still reduced when `CAP_SETPCAP` is effective.

use std::io;

/// Capabilities the sandbox keeps, with why (Linux numbers from `linux/capability.h`).
///
/// None of them configures routing, filtering, interfaces or the kernel: they act on files
/// (`CHOWN`, `DAC_*`, `FOWNER`, `FSETID`, `LINUX_IMMUTABLE`, `SETFCAP`, `LEASE`), on the
/// process's own identity and limits (`SETUID`, `SETGID`, `SYS_RESOURCE`, `IPC_*`,
/// `SYS_CHROOT`), or are harmless for the network (`NET_BIND_SERVICE`: `bind` is refused or
/// checked anyway; `AUDIT_WRITE`/`AUDIT_READ`: log records). `SYS_RESOURCE` could re-limit
/// another process with `prlimit64`, which L1 refuses for any pid but 0.
///
/// `DAC_READ_SEARCH` is dropped although it acts on files: it is what `open_by_handle_at`
/// needs, which opens a file by its handle without walking a path — around path-based
/// walls such as the read-only mounts of the private mount namespace. `DAC_OVERRIDE` still
/// lets root read what it could read before.
pub const KEPT: [(u32, &str); 16] = [
    (0, "CAP_CHOWN"),
    (1, "CAP_DAC_OVERRIDE"),
    (3, "CAP_FOWNER"),
    (4, "CAP_FSETID"),
    (6, "CAP_SETGID"),
    (7, "CAP_SETUID"),
    (9, "CAP_LINUX_IMMUTABLE"),
    (10, "CAP_NET_BIND_SERVICE"),
    (14, "CAP_IPC_LOCK"),
    (15, "CAP_IPC_OWNER"),
    (18, "CAP_SYS_CHROOT"),
    (24, "CAP_SYS_RESOURCE"),
    (28, "CAP_LEASE"),
    (29, "CAP_AUDIT_WRITE"),
    (31, "CAP_SETFCAP"),
    (37, "CAP_AUDIT_READ"),
];

/// Names of the capabilities Linux 6.18 defines, by number. The policy compiler has the
/// same table (`network_sandbox_build::capabilities::NAMES`, which it checks policies
/// against); this crate cannot always depend on it, so a test checks that they agree.
const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// `CAP_SETPCAP`: needed for `PR_CAPBSET_DROP`.
const CAP_SETPCAP: u32 = 8;

/// The name of capability `cap` (`cap_42` for one newer than this list).
pub fn name(cap: u32) -> String {
    NAMES
        .get(cap as usize)
        .map_or_else(|| format!("cap_{cap}"), |n| (*n).to_owned())
}

/// Whether the sandbox keeps `cap` by default.
pub fn kept(cap: u32) -> bool {
    KEPT.iter().any(|&(c, _)| c == cap)
}

/// Whether `cap` is in the mask `bits` (bit `n` for capability `n`).
fn in_mask(bits: u64, cap: u32) -> bool {
    cap < 64 && bits & (1 << cap) != 0
}

/// Whether the sandbox keeps `cap` for a policy that asks to keep `extra` too.
pub fn kept_with(cap: u32, extra: u64) -> bool {
    kept(cap) || in_mask(extra, cap)
}

/// The names of the capabilities in the mask `bits`, joined with ", ".
pub fn names_of(bits: u64) -> String {
    (0..64)
        .filter(|&c| in_mask(bits, c))
        .map(name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the report says of the capabilities a policy asked to keep (`extra`), given the
/// process's permitted set (`held`: what it can use, under `no_new_privs`): those it keeps
/// that it would otherwise have dropped, and those it does not have (nothing is granted; a
/// capability only in the bounding set stays there, unusable). `None` when the policy asked
/// for none, or only for ones kept anyway.
pub fn describe_requested(extra: u64, held: u64) -> Option<String> {
    let default: u64 = KEPT.iter().fold(0, |m, &(c, _)| m | 1 << c);
    let extra = extra & !default;
    if extra == 0 {
        return None;
    }
    let mut parts = Vec::new();
    if extra & held != 0 {
        parts.push(format!(
            "kept at the policy's request: {}",
            names_of(extra & held)
        ));
    }
    if extra & !held != 0 {
        parts.push(format!(
            "named by the policy but not permitted to this process (nothing to keep): {}",
            names_of(extra & !held)
        ));
    }
    Some(parts.join("; "))
}

/// The highest capability the running kernel knows.
pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(NAMES.len() as u32 - 1)
}

/// What [`drop_all_but_kept`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    /// The capabilities the policy asked to keep (a bit mask).
    pub requested: u64,
    /// The process's permitted set before (a bit mask).
    pub held: u64,
    /// Capabilities the process had in some set (bounding included) and no longer has.
    pub removed: Vec<u32>,
    /// Capabilities still in the bounding set that should have left it (no `CAP_SETPCAP`
    /// to drop them): an execve of a set-user-ID-root program could get them back, were
    /// it not for `no_new_privs`.
    pub bounding_left: Vec<u32>,
}

impl Dropped {
    /// In words, for the install report.
    pub fn describe(&self) -> String {
        let mut out = if self.removed.is_empty() {
            "no capability to drop (the process had none of them)".to_owned()
        } else {
            format!(
                "dropped {} from every set (bounding, permitted, effective, inheritable, \
                 ambient)",
                self.removed
                    .iter()
                    .map(|&c| name(c))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        if !self.bounding_left.is_empty() {
            out.push_str(&format!(
                "; left in the bounding set (no CAP_SETPCAP to drop them; no_new_privs keeps \
                 an execve from granting them): {}",
                self.bounding_left
                    .iter()
                    .map(|&c| name(c))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if let Some(requested) = describe_requested(self.requested, self.held) {
            out.push_str("; ");
            out.push_str(&requested);
        }
        out
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit sets in two words.
const VERSION_3: u32 = 0x2008_0522;

fn capget() -> io::Result<[CapData; 2]> {
    let mut header = CapHeader {
        version: VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget writes two CapData (the layout of struct __user_cap_data_struct) for
    // version 3; both pointers are valid for the call.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    if r == 0 {
        Ok(data)
    } else {
        Err(io::Error::last_os_error())
    }
}

fn capset(data: &[CapData; 2]) -> io::Result<()> {
    let mut header = CapHeader {
        version: VERSION_3,
        pid: 0,
    };
    // SAFETY: capset reads the header and two CapData; both pointers are valid.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn has(data: &[CapData; 2], cap: u32, set: fn(&CapData) -> u32) -> bool {
    let word = (cap / 32) as usize;
    word < 2 && set(&data[word]) & (1 << (cap % 32)) != 0
}

fn in_bounding(cap: u32) -> bool {
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) == 1 }
}

fn in_ambient(cap: u32) -> bool {
    // SAFETY: prctl with integer arguments.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_IS_SET as libc::c_ulong,
            cap as libc::c_ulong,
            0,
            0,
        ) == 1
    }
}

/// Drops every capability but [`KEPT`] and those in `extra` (bit `n` for capability `n`, the
/// policy's `keep_capabilities`) from the calling thread's five sets; a kept capability
/// stays in the sets it is in and is added to none. Meant for a single-threaded process (the
/// installer checks): the sets are per thread.
pub fn drop_all_but_kept(extra: u64) -> io::Result<Dropped> {
    drop_except(Some(extra))
}

/// Drops every capability, [`KEPT`] included: for a process in a user namespace of its own,
/// whose capabilities served only to make the sandbox's mount namespace.
pub fn drop_all() -> io::Result<Dropped> {
    drop_except(None)
}

/// Drops every capability but, with `Some(extra)`, [`KEPT`] and `extra`; with `None`, all.
fn drop_except(keep: Option<u64>) -> io::Result<Dropped> {
    let extra = keep.unwrap_or(0);
    let kept = |c: u32| keep.is_some() && kept_with(c, extra);
    let last = last_cap();
    let before = capget()?;
    let can_drop_bounding = has(&before, CAP_SETPCAP, |d| d.effective);
    let held_in = |cap: u32| {
        in_bounding(cap)
            || in_ambient(cap)
            || has(&before, cap, |d| d.permitted)
            || has(&before, cap, |d| d.inheritable)
    };
    let mut dropped = Dropped {
        requested: extra,
        held: u64::from(before[0].permitted) | u64::from(before[1].permitted) << 32,
        ..Dropped::default()
    };
    for cap in (0..=last).filter(|&c| !kept(c)) {
        let had = held_in(cap);
        if in_bounding(cap) {
            if can_drop_bounding {
                // SAFETY: prctl with integer arguments.
                let r =
                    unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
                if r != 0 {
                    return Err(io::Error::last_os_error());
                }
            } else {
                dropped.bounding_left.push(cap);
            }
        }
        if in_ambient(cap) {
            // SAFETY: prctl with integer arguments.
            let r = unsafe {
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_LOWER as libc::c_ulong,
                    cap as libc::c_ulong,
                    0,
                    0,
                )
            };
            if r != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        if had && !dropped.bounding_left.contains(&cap) {
            dropped.removed.push(cap);
        }
    }
    // Permitted, effective, inheritable: clear every bit but the kept ones (and set none).
    let mut keep_mask = [extra as u32, (extra >> 32) as u32];
    for &(cap, _) in KEPT.iter().filter(|_| keep.is_some()) {
        keep_mask[(cap / 32) as usize] |= 1 << (cap % 32);
    }
    let mut after = before;
    for (word, mask) in after.iter_mut().zip(keep_mask) {
        word.effective &= mask;
        word.permitted &= mask;
        word.inheritable &= mask;
    }
    capset(&after)?;
    Ok(dropped)
}

/// The calling thread's effective, permitted and bounding sets as bit masks, for tests
/// and reports.
pub fn current() -> io::Result<(u64, u64, u64)> {
    let d = capget()?;
    let join = |f: fn(&CapData) -> u32| u64::from(f(&d[0])) | u64::from(f(&d[1])) << 32;
    let bounding = (0..=last_cap())
        .filter(|&c| in_bounding(c))
        .fold(0u64, |m, c| m | 1 << c);
    Ok((join(|d| d.effective), join(|d| d.permitted), bounding))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_required_capabilities_are_dropped() {
        for cap in [12, 13, 21, 16, 17, 39, 38, 19, 22, 25, 27, 8, 5, 23] {
            assert!(!kept(cap), "{} must be dropped", name(cap));
        }
        assert_eq!(name(12), "CAP_NET_ADMIN");
        assert_eq!(name(40), "CAP_CHECKPOINT_RESTORE");
        assert_eq!(name(63), "cap_63");
        for (cap, n) in KEPT {
            assert_eq!(name(cap), n);
        }
    }

    /// In a thread of its own (capability sets are per thread): root loses the dropped
    /// capabilities from every set, keeps the kept ones. The control is the state before.
    #[test]
    fn dropping_in_a_thread() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root (nothing to drop otherwise)");
            return;
        }
        let (eff, perm, bounding) = current().unwrap();
        assert!(
            eff & 1 << 12 != 0 && bounding & 1 << 21 != 0,
            "control: root has them"
        );
        let (dropped, after) = std::thread::spawn(|| {
            let d = drop_all_but_kept(0).unwrap();
            (d, current().unwrap())
        })
        .join()
        .unwrap();
        for cap in [12, 13, 21, 16, 17, 19, 38, 39] {
            assert!(dropped.removed.contains(&cap), "{}", name(cap));
            let bit = 1u64 << cap;
            assert_eq!((after.0 & bit, after.1 & bit, after.2 & bit), (0, 0, 0));
        }
        assert!(after.0 & 1 != 0 && after.2 & 1 != 0, "CAP_CHOWN kept");
        assert!(dropped.bounding_left.is_empty());
        assert!(dropped.describe().contains("CAP_NET_ADMIN"));
        assert!(!dropped.describe().contains("policy"));
        // This thread is untouched.
        assert_eq!(current().unwrap(), (eff, perm, bounding));
    }

    /// The policy keeps CAP_SYS_NICE (23) and CAP_SYS_PTRACE (19): they stay in every set
    /// they were in, the rest is dropped as without the policy, and the report names them.
    #[test]
    fn a_policy_keeps_what_it_names() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root (nothing to keep otherwise)");
            return;
        }
        let extra = 1 << 23 | 1 << 19;
        let (eff, perm, bounding) = current().unwrap();
        assert_eq!(eff & extra, extra, "control: root has them");
        let (dropped, after) = std::thread::spawn(move || {
            let d = drop_all_but_kept(extra).unwrap();
            (d, current().unwrap())
        })
        .join()
        .unwrap();
        assert_eq!(
            (after.0 & extra, after.1 & extra, after.2 & extra),
            (eff & extra, perm & extra, bounding & extra)
        );
        assert!(!dropped.removed.contains(&23) && !dropped.removed.contains(&19));
        for cap in [12, 13, 21, 16, 17, 38, 39] {
            assert!(dropped.removed.contains(&cap), "{}", name(cap));
            assert_eq!(after.2 & 1 << cap, 0, "{}", name(cap));
        }
        assert!(
            dropped
                .describe()
                .ends_with("; kept at the policy's request: CAP_SYS_PTRACE, CAP_SYS_NICE"),
            "{}",
            dropped.describe()
        );
    }

    #[test]
    fn the_report_names_what_the_policy_asked_for() {
        assert_eq!(describe_requested(0, u64::MAX), None);
        // CAP_CHOWN is kept anyway: nothing to say.
        assert_eq!(describe_requested(1, u64::MAX), None);
        assert_eq!(
            describe_requested(1 << 23 | 1 << 13, 1 << 23),
            Some(
                "kept at the policy's request: CAP_SYS_NICE; named by the policy but not \
                 permitted to this process (nothing to keep): CAP_NET_RAW"
                    .to_owned()
            )
        );
        assert!(kept_with(23, 1 << 23) && !kept_with(23, 0) && kept_with(0, 0));
        assert!(!kept_with(70, u64::MAX));
    }

    /// The compiler checks policies against its own copy of the table; they must agree.
    #[test]
    fn names_agree_with_the_compiler() {
        assert_eq!(NAMES, network_sandbox_build::capabilities::NAMES);
    }
}
