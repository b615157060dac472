//! The sandbox's private mount namespace: kernel tunables read-only.
//!
//! Modelled on systemd's `ProtectKernelTunables=`: the sandboxed process gets a mount
//! namespace of its own (`unshare(CLONE_NEWNS)`, made a slave of the host's so that nothing
//! done here propagates back), in which [`KERNEL_TUNABLES`] — `/proc/sys`, `/sys`,
//! `/proc/sysrq-trigger` and the like — are bind-mounted onto themselves and made
//! read-only, submounts included (`/proc/sys/fs/binfmt_misc`, `/sys/fs/cgroup`,
//! `/sys/kernel/debug`, …). Writing `core_pattern`, the `modprobe` path, the hotplug helper,
//! a network sysctl or a cgroup's `freeze` then fails with `EROFS`, whatever the uid. The
//! mounts cannot be undone from inside: `mount`/`umount` need `CAP_SYS_ADMIN`, which the
//! sandbox drops ([`crate::capabilities`]), and L1 refuses the mount system calls, `setns`
//! and new user namespaces.
//!
//! Creating the namespace needs `CAP_SYS_ADMIN`, so only a privileged caller (root) gets it
//! now. An unprivileged caller cannot write the tunables anyway (they belong to root); a
//! later version can give it the same namespace through a user namespace. The supervisor is
//! forked before and stays in the original namespace.
//!
//! The namespace is built once, from a [`Plan`], so that more can go into it later (a
//! private `/etc/hosts` or `/etc/resolv.conf` bound over the real one: [`Plan::binds`]).

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What systemd's `ProtectKernelTunables=` makes read-only, less what does not exist here:
/// sysctls, sysfs (cgroups, debugfs, tracefs, configfs, the uevent helper), the magic SysRq
/// trigger, IRQ affinities, bus and driver settings.
pub const KERNEL_TUNABLES: [&str; 14] = [
    "/proc/sys",
    "/proc/sysrq-trigger",
    "/sys",
    "/proc/irq",
    "/proc/bus",
    "/proc/acpi",
    "/proc/fs",
    "/proc/scsi",
    "/proc/asound",
    "/proc/driver",
    "/proc/latency_stats",
    "/proc/timer_stats",
    "/proc/mtrr",
    "/proc/apm",
];

/// A file bound read-only over another (`source` over `target`) in the namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bind {
    /// The file whose contents appear.
    pub source: PathBuf,
    /// Where they appear.
    pub target: PathBuf,
}

/// What the namespace holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Paths made read-only, submounts included. Those that do not exist are skipped.
    pub read_only: Vec<PathBuf>,
    /// Files bound over others, read-only.
    pub binds: Vec<Bind>,
    /// The binds must be in place (the allowed names' hosts file and resolver
    /// configuration: [`crate::hostnames`]). Without `CAP_SYS_ADMIN` the namespace is then
    /// made inside a new user namespace that maps only the caller's uid and gid (every
    /// capability it gives is dropped afterwards, [`crate::privileges`]); failing to create
    /// the namespace or to bind a file is an error, never a silent `NotEntered`.
    pub required: bool,
}

impl Plan {
    /// Kernel tunables read-only, nothing bound.
    pub fn kernel_tunables() -> Plan {
        Plan {
            read_only: KERNEL_TUNABLES.iter().map(PathBuf::from).collect(),
            binds: Vec::new(),
            required: false,
        }
    }
}

/// What [`enter`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The namespace exists; these paths are read-only, these could not be made so.
    Entered {
        /// Made read-only (or bound), submounts included.
        read_only: Vec<String>,
        /// Path and why it could not be.
        failed: Vec<(String, String)>,
        /// The namespace was made in a new user namespace (an unprivileged caller with a
        /// required plan): every capability in it must be dropped.
        user_namespace: bool,
    },
    /// No namespace: why.
    NotEntered(String),
}

impl Outcome {
    /// In words, for the install report.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Entered {
                read_only,
                failed,
                user_namespace,
            } => {
                let mut s = format!(
                    "private mount namespace{}: read-only {}",
                    if *user_namespace {
                        " (in a user namespace mapping only this uid and gid)"
                    } else {
                        ""
                    },
                    if read_only.is_empty() {
                        "nothing".to_owned()
                    } else {
                        read_only.join(", ")
                    }
                );
                for (path, why) in failed {
                    s.push_str(&format!("; {path} NOT read-only ({why})"));
                }
                s
            }
            Outcome::NotEntered(why) => format!("kernel tunables not made read-only: {why}"),
        }
    }

    /// Whether everything planned is in place.
    pub fn complete(&self) -> bool {
        matches!(self, Outcome::Entered { failed, .. } if failed.is_empty())
    }
}

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn mount(source: Option<&Path>, target: &Path, flags: libc::c_ulong) -> io::Result<()> {
    let target = cstr(target)?;
    let source = source.map(cstr).transpose()?;
    // SAFETY: every pointer is a valid NUL-terminated string or null; no data argument.
    let r = unsafe {
        libc::mount(
            source.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            target.as_ptr(),
            std::ptr::null(),
            flags,
            std::ptr::null(),
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const AT_RECURSIVE: libc::c_uint = 0x8000;

/// The mount at `path` and every mount below it read-only: `mount_setattr` (5.12+), else
/// one remount per mount found in `/proc/thread-self/mountinfo`.
fn make_read_only(path: &Path) -> io::Result<()> {
    let c = cstr(path)?;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: a valid path string and a mount_attr of the size passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            c.as_ptr(),
            AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() != Some(libc::ENOSYS) {
        return Err(e);
    }
    // Older kernels: each mount at or below `path`, parents first.
    let mut points = mounts_below(path)?;
    points.sort_by_key(|p| p.as_os_str().len());
    for point in points {
        remount_read_only(&point)?;
    }
    Ok(())
}

/// A bind remount read-only of `point`, keeping its nosuid/nodev/noexec flags.
fn remount_read_only(point: &Path) -> io::Result<()> {
    let c = cstr(point)?;
    // SAFETY: statvfs fills the struct for a valid path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid path and a struct to fill.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
    for (st_flag, ms_flag) in [
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
    ] {
        if st.f_flag & st_flag != 0 {
            flags |= ms_flag;
        }
    }
    mount(None, point, flags)
}

/// Mount points at or below `path`, from the calling thread's mountinfo.
fn mounts_below(path: &Path) -> io::Result<Vec<PathBuf>> {
    let info = std::fs::read_to_string("/proc/thread-self/mountinfo")?;
    Ok(info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape)
        .filter(|p| p.starts_with(path))
        .collect())
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> PathBuf {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(out))
}

/// Whether the calling thread has `CAP_SYS_ADMIN` in its effective set.
fn can_unshare() -> bool {
    crate::capabilities::current().is_ok_and(|(eff, _, _)| eff & (1 << 21) != 0)
}

/// Moves the calling thread (in a single-threaded process: the process) into a new mount
/// namespace laid out by `plan`. Must run before the capabilities are dropped. Paths that
/// cannot be made read-only are reported, not fatal; failing to create the namespace is
/// reported too (`NotEntered`). `Err` only if the namespace was created but could not be
/// detached from the host's (nothing has been mounted then).
pub fn enter(plan: &Plan) -> io::Result<Outcome> {
    let mut user_namespace = false;
    if !can_unshare() && plan.required {
        enter_user_namespace()?;
        user_namespace = true;
    } else if !can_unshare() {
        // SAFETY: geteuid has no preconditions.
        let why = if unsafe { libc::geteuid() } == 0 {
            "no CAP_SYS_ADMIN to create a mount namespace: root can still write the tunables \
             wherever the file system lets it"
        } else {
            "unprivileged (no CAP_SYS_ADMIN to create a mount namespace); the tunables belong \
             to root, so this user cannot write them anyway"
        };
        return Ok(Outcome::NotEntered(why.into()));
    }
    let cwd = std::env::current_dir().ok();
    // SAFETY: unshare with a flag constant.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        let e = io::Error::last_os_error();
        if plan.required {
            return Err(io::Error::new(
                e.kind(),
                format!("cannot create a private mount namespace (unshare(CLONE_NEWNS): {e})"),
            ));
        }
        return Ok(Outcome::NotEntered(format!("unshare(CLONE_NEWNS): {e}")));
    }
    // Nothing below may reach the host's mounts.
    mount(None, Path::new("/"), libc::MS_REC | libc::MS_SLAVE)?;
    let mut read_only = Vec::new();
    let mut failed = Vec::new();
    for path in &plan.read_only {
        if std::fs::symlink_metadata(path).is_err() {
            continue;
        }
        let shown = path.display().to_string();
        let result = mount(Some(path), path, libc::MS_BIND | libc::MS_REC)
            .and_then(|()| make_read_only(path));
        match result {
            Ok(()) => read_only.push(shown),
            Err(e) => failed.push((shown, e.to_string())),
        }
    }
    for bind in &plan.binds {
        let shown = bind.target.display().to_string();
        let result = mount(Some(&bind.source), &bind.target, libc::MS_BIND)
            .and_then(|()| make_read_only(&bind.target));
        match result {
            Ok(()) => read_only.push(shown),
            Err(e) if plan.required => {
                return Err(io::Error::new(
                    e.kind(),
                    format!(
                        "cannot bind {} over {shown} in the private mount namespace: {e}",
                        bind.source.display()
                    ),
                ))
            }
            Err(e) => failed.push((shown, e.to_string())),
        }
    }
    // A working directory below a path just covered still points into the mount
    // underneath (writable): look it up again, through the new mounts.
    if let Some(cwd) = cwd {
        if let Err(e) = std::env::set_current_dir(&cwd) {
            failed.push((
                format!("working directory {}", cwd.display()),
                e.to_string(),
            ));
        }
    }
    Ok(Outcome::Entered {
        read_only,
        failed,
        user_namespace,
    })
}

/// Why [`enter`] could not make a required namespace here, when that can be told without
/// trying: no `CAP_SYS_ADMIN`, and `user.max_user_namespaces` is 0. (A container that
/// forbids `unshare` is found out only by trying.)
pub fn user_namespace_blocker() -> Option<String> {
    if can_unshare() {
        return None;
    }
    let max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces").ok()?;
    (max.trim() == "0").then(|| {
        "cannot create a user namespace: user.max_user_namespaces is 0 (user namespaces are \
         disabled on this system)"
            .to_owned()
    })
}

/// Moves the calling process (single-threaded) into a new user namespace in which its own
/// uid and gid, and nothing else, are mapped, so that it holds `CAP_SYS_ADMIN` there (and
/// only there) to make the mount namespace. `setgroups` is denied in it, as the kernel
/// requires before an unprivileged gid map.
fn enter_user_namespace() -> io::Result<()> {
    // SAFETY: geteuid and getegid have no preconditions.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    // SAFETY: unshare with a flag constant.
    if unsafe { libc::unshare(libc::CLONE_NEWUSER) } != 0 {
        let e = io::Error::last_os_error();
        let max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "?".into());
        return Err(io::Error::new(
            e.kind(),
            format!(
                "cannot create a user namespace (unshare(CLONE_NEWUSER): {e}; \
                 user.max_user_namespaces is {max}): user namespaces are disabled on this \
                 system or forbidden in this container"
            ),
        ));
    }
    let write = |path: &str, text: String| {
        std::fs::write(path, text)
            .map_err(|e| io::Error::new(e.kind(), format!("writing {path}: {e}")))
    };
    write("/proc/self/setgroups", "deny".into())?;
    write("/proc/self/uid_map", format!("{uid} {uid} 1\n"))?;
    write("/proc/self/gid_map", format!("{gid} {gid} 1\n"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn mountinfo_unescaping() {
        assert_eq!(unescape("/a\\040b"), PathBuf::from("/a b"));
        assert_eq!(unescape("/plain"), PathBuf::from("/plain"));
        assert_eq!(unescape("/x\\"), PathBuf::from("/x\\"));
    }

    /// In a thread of its own (a mount namespace can be per thread): before, root can open
    /// `core_pattern` for writing (the control; nothing is written); after, `EROFS`, and a
    /// bound file shows its source's contents. Other threads keep the host's mounts.
    #[test]
    fn tunables_become_read_only_in_the_namespace() {
        if !can_unshare() {
            eprintln!("skipped: needs CAP_SYS_ADMIN");
            return;
        }
        let open_w = |p: &str| std::fs::OpenOptions::new().write(true).open(p).map(drop);
        open_w("/proc/sys/kernel/core_pattern").expect("control: root can open it to write");
        let dir = std::env::temp_dir().join(format!("mount-ns-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (source, target) = (dir.join("source"), dir.join("target"));
        std::fs::File::create(&source)
            .unwrap()
            .write_all(b"private")
            .unwrap();
        std::fs::write(&target, b"host").unwrap();
        let plan = Plan {
            binds: vec![Bind {
                source: source.clone(),
                target: target.clone(),
            }],
            ..Plan::kernel_tunables()
        };
        let t = target.clone();
        let (outcome, core, sysfs, seen, relative) = std::thread::spawn(move || {
            // A working directory of this thread's own, inside the tunables.
            // SAFETY: unshare with a flag constant.
            assert_eq!(unsafe { libc::unshare(libc::CLONE_FS) }, 0);
            std::env::set_current_dir("/proc/sys/kernel").unwrap();
            let outcome = enter(&plan).unwrap();
            let relative = open_w("core_pattern").map_err(|e| e.raw_os_error());
            let core = open_w("/proc/sys/kernel/core_pattern").map_err(|e| e.raw_os_error());
            let sysfs = open_w("/sys/kernel/uevent_helper").map_err(|e| e.raw_os_error());
            (
                outcome,
                core,
                sysfs,
                std::fs::read_to_string(&t).unwrap(),
                relative,
            )
        })
        .join()
        .unwrap();
        assert!(outcome.complete(), "{outcome:?}");
        assert_eq!(core, Err(Some(libc::EROFS)));
        assert_eq!(
            relative,
            Err(Some(libc::EROFS)),
            "through the old working directory"
        );
        if std::path::Path::new("/sys/kernel/uevent_helper").exists() {
            assert_eq!(sysfs, Err(Some(libc::EROFS)));
        }
        assert_eq!(seen, "private");
        // This thread still sees the host's.
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "host");
        open_w("/proc/sys/kernel/core_pattern").unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
