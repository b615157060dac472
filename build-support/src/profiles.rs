//! System call profiles (issue 14): named groups of system calls, defined once as data for
//! x86_64 and aarch64, and the policy keys that use them, `syscalls = [...]` (an allow
//! list: every other call is refused) and `deny_syscalls = [...]` (refused on top).
//!
//! The groups carry systemd's names and, where they overlap, its membership
//! (`SystemCallFilter=`, `systemd-analyze syscall-filter`), restricted to the calls that
//! exist on x86_64 or aarch64 ([`crate::syscall_table`]) and completed with the calls Linux
//! added since (`cachestat`, `mseal`, the `*xattrat` calls, `file_getattr`, …). A group may
//! name other groups (`@system-service` names `@basic-io`, …); [`expand`] flattens it.
//! Where the lists differ from systemd's, on purpose: `@default` also holds what every
//! dynamically linked program calls before `main` (`brk`, `mmap`, `mprotect`, `munmap`,
//! `getrandom`, `sched_getaffinity`) and the newer futex calls; `@ipc` holds
//! `process_madvise`; `@file-system` the read-only mount listings (`statmount`,
//! `listmount`); `@system-service` also `mincore`, `mseal`, `cachestat` and the LSM
//! self-attribute reads. The descriptions are this project's own.
//!
//! The network rules apply on top of any profile: a profile can refuse more, never allow
//! what the rules refuse (`bpf`, io_uring, `ptrace`, mounts, …). [`check`] finds the errors
//! every front end reports at the entry they are about: an unknown name (with a "did you
//! mean"), a call that exists on only one of the architectures, a name given twice, and a
//! profile that refuses a call the sandbox itself needs ([`SANDBOX_NEEDS`]). [`refused`] is
//! what the profile refuses on one architecture, by number, for [`lower`](crate::lower).

use std::collections::BTreeSet;
use std::fmt;

use crate::arch::Arch;
use crate::lower::{Action, SyscallRule, ENOSYS, EPERM};
use crate::model::{Mode, Options, Policy, SyscallRefusal};
use crate::syscall_table::{self, CALLS};
use crate::syscalls::max_nr;

/// A named group of system calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Group {
    /// The name, with its `@` (`"@basic-io"`).
    pub name: &'static str,
    /// What the calls do, one line.
    pub description: &'static str,
    /// Its calls and the groups it includes (names starting with `@`).
    pub members: &'static [&'static str],
}

impl Group {
    /// Whether the group is made of other groups (or is `@known`): such a group is never
    /// "the group" of a call in a refusal line.
    pub fn is_composite(&self) -> bool {
        self.name == KNOWN || self.members.iter().any(|m| m.starts_with('@'))
    }
}

/// `@known`: every system call of the table. Its members are not listed in [`GROUPS`].
pub const KNOWN: &str = "@known";

/// The groups, in the order `explain` and `check` list them: systemd's order, `@default`
/// first and `@known` last.
pub const GROUPS: [Group; 30] = [
    Group {
        name: "@default",
        description: "what every program calls: exit, time, its own ids, futexes, memory maps, signal return",
        members: &[
            "brk", "clock_getres", "clock_gettime", "clock_nanosleep", "execve", "exit",
            "exit_group", "futex", "futex_requeue", "futex_wait", "futex_waitv", "futex_wake",
            "get_robust_list", "get_thread_area", "getegid", "geteuid", "getgid", "getgroups",
            "getpgid", "getpgrp", "getpid", "getppid", "getrandom", "getresgid", "getresuid",
            "getrlimit", "getsid", "gettid", "gettimeofday", "getuid", "map_shadow_stack",
            "membarrier", "mmap", "mprotect", "munmap", "nanosleep", "pause", "prlimit64",
            "restart_syscall", "rseq", "rt_sigreturn", "sched_getaffinity", "sched_yield",
            "set_robust_list", "set_thread_area", "set_tid_address", "time", "uprobe",
            "uretprobe",
        ],
    },
    Group {
        name: "@aio",
        description: "asynchronous I/O: the AIO calls and io_uring (which the network rules refuse anyway)",
        members: &[
            "io_cancel", "io_destroy", "io_getevents", "io_pgetevents", "io_setup", "io_submit",
            "io_uring_enter", "io_uring_register", "io_uring_setup",
        ],
    },
    Group {
        name: "@basic-io",
        description: "reading, writing, seeking and closing descriptors already open",
        members: &[
            "close", "close_range", "dup", "dup2", "dup3", "lseek", "pread64", "preadv", "preadv2",
            "pwrite64", "pwritev", "pwritev2", "read", "readv", "write", "writev",
        ],
    },
    Group {
        name: "@chown",
        description: "changing the owner of files",
        members: &["chown", "fchown", "fchownat", "lchown"],
    },
    Group {
        name: "@clock",
        description: "setting the system clock",
        members: &["adjtimex", "clock_adjtime", "clock_settime", "settimeofday"],
    },
    Group {
        name: "@cpu-emulation",
        description: "emulating other CPU modes (x86 segment tables)",
        members: &["modify_ldt"],
    },
    Group {
        name: "@debug",
        description: "debugging, tracing and performance counters",
        members: &["lookup_dcookie", "perf_event_open", "pidfd_getfd", "ptrace"],
    },
    Group {
        name: "@file-system",
        description: "opening, inspecting, creating and removing files and directories, file memory maps",
        members: &[
            "access", "chdir", "chmod", "close", "creat", "faccessat", "faccessat2", "fallocate",
            "fchdir", "fchmod", "fchmodat", "fchmodat2", "fcntl", "fgetxattr", "file_getattr",
            "file_setattr", "flistxattr", "fremovexattr", "fsetxattr", "fstat", "fstatfs",
            "ftruncate", "futimesat", "getcwd", "getdents", "getdents64", "getxattr",
            "getxattrat", "inotify_add_watch", "inotify_init", "inotify_init1",
            "inotify_rm_watch", "lgetxattr", "link", "linkat", "listmount", "listxattr",
            "listxattrat", "llistxattr", "lremovexattr", "lsetxattr", "lstat", "mkdir",
            "mkdirat", "mknod", "mknodat", "mmap", "munmap", "newfstatat", "open", "openat",
            "openat2", "readlink", "readlinkat", "removexattr", "removexattrat", "rename",
            "renameat", "renameat2", "rmdir", "setxattr", "setxattrat", "stat", "statfs",
            "statmount", "statx", "symlink", "symlinkat", "truncate", "unlink", "unlinkat",
            "utime", "utimensat", "utimes",
        ],
    },
    Group {
        name: "@io-event",
        description: "waiting for events on descriptors: epoll, poll, select, eventfd",
        members: &[
            "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
            "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "poll",
            "ppoll", "pselect6", "select",
        ],
    },
    Group {
        name: "@ipc",
        description: "pipes, System V and POSIX IPC, shared memory files, other processes' memory",
        members: &[
            "memfd_create", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
            "mq_timedsend", "mq_unlink", "msgctl", "msgget", "msgrcv", "msgsnd", "pipe", "pipe2",
            "process_madvise", "process_vm_readv", "process_vm_writev", "semctl", "semget",
            "semop", "semtimedop", "shmat", "shmctl", "shmdt", "shmget",
        ],
    },
    Group {
        name: "@keyring",
        description: "the kernel's key store",
        members: &["add_key", "keyctl", "request_key"],
    },
    Group {
        name: "@memlock",
        description: "locking memory into RAM",
        members: &["mlock", "mlock2", "mlockall", "munlock", "munlockall"],
    },
    Group {
        name: "@module",
        description: "loading and unloading kernel modules",
        members: &["delete_module", "finit_module", "init_module"],
    },
    Group {
        name: "@mount",
        description: "mounting, unmounting and changing the root directory",
        members: &[
            "chroot", "fsconfig", "fsmount", "fsopen", "fspick", "mount", "mount_setattr",
            "move_mount", "open_tree", "open_tree_attr", "pivot_root", "umount2",
        ],
    },
    Group {
        name: "@network-io",
        description: "sockets: creating, connecting, sending, receiving (the network rules still decide where)",
        members: &[
            "accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt",
            "listen", "recvfrom", "recvmmsg", "recvmsg", "sendmmsg", "sendmsg", "sendto",
            "setsockopt", "shutdown", "socket", "socketpair",
        ],
    },
    Group {
        name: "@obsolete",
        description: "calls no current kernel implements, or that nothing should use",
        members: &[
            "_sysctl", "afs_syscall", "create_module", "get_kernel_syms", "getpmsg", "putpmsg",
            "query_module", "security", "sysfs", "tuxcall", "uselib", "ustat", "vserver",
        ],
    },
    Group {
        name: "@pkey",
        description: "memory protection keys",
        members: &["pkey_alloc", "pkey_free", "pkey_mprotect"],
    },
    Group {
        name: "@privileged",
        description: "calls that need a capability the sandbox drops, or that act for the whole system",
        members: &[
            "@chown", "@clock", "@module", "@raw-io", "@reboot", "@swap", "_sysctl", "acct",
            "bpf", "capset", "chroot", "fanotify_init", "fanotify_mark", "nfsservctl",
            "open_by_handle_at", "pivot_root", "quotactl", "quotactl_fd", "setdomainname",
            "setfsuid", "setgroups", "sethostname", "setresuid", "setreuid", "setuid",
            "vhangup",
        ],
    },
    Group {
        name: "@process",
        description: "creating, executing, waiting for and signalling processes; namespaces",
        members: &[
            "arch_prctl", "capget", "clone", "clone3", "execveat", "fork", "getrusage", "kill",
            "pidfd_open", "pidfd_send_signal", "prctl", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
            "setns", "tgkill", "times", "tkill", "unshare", "vfork", "wait4", "waitid",
        ],
    },
    Group {
        name: "@raw-io",
        description: "direct access to I/O ports",
        members: &["ioperm", "iopl"],
    },
    Group {
        name: "@reboot",
        description: "rebooting and loading a new kernel",
        members: &["kexec_file_load", "kexec_load", "reboot"],
    },
    Group {
        name: "@resources",
        description: "changing scheduling, priorities, memory policies and limits",
        members: &[
            "ioprio_set", "mbind", "migrate_pages", "move_pages", "sched_setaffinity",
            "sched_setattr", "sched_setparam", "sched_setscheduler", "set_mempolicy",
            "set_mempolicy_home_node", "setpriority", "setrlimit",
        ],
    },
    Group {
        name: "@sandbox",
        description: "confining oneself: seccomp filters and Landlock rules",
        members: &[
            "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "seccomp",
        ],
    },
    Group {
        name: "@setuid",
        description: "changing user and group ids",
        members: &[
            "setgid", "setgroups", "setregid", "setresgid", "setresuid", "setreuid", "setuid",
        ],
    },
    Group {
        name: "@signal",
        description: "signal handlers, masks and signal descriptors",
        members: &[
            "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigsuspend",
            "rt_sigtimedwait", "sigaltstack", "signalfd", "signalfd4",
        ],
    },
    Group {
        name: "@swap",
        description: "turning swap space on and off",
        members: &["swapoff", "swapon"],
    },
    Group {
        name: "@sync",
        description: "flushing files and memory to storage",
        members: &["fdatasync", "fsync", "msync", "sync", "sync_file_range", "syncfs"],
    },
    Group {
        name: "@timer",
        description: "timers and alarms",
        members: &[
            "alarm", "getitimer", "setitimer", "timer_create", "timer_delete",
            "timer_getoverrun", "timer_gettime", "timer_settime", "timerfd_create",
            "timerfd_gettime", "timerfd_settime", "times",
        ],
    },
    Group {
        name: "@system-service",
        description: "what a service or client usually needs: everything but the privileged, debugging, obsolete and system-wide groups",
        members: &[
            "@aio", "@basic-io", "@chown", "@default", "@file-system", "@io-event", "@ipc",
            "@keyring", "@memlock", "@network-io", "@process", "@resources", "@setuid",
            "@signal", "@sync", "@timer", "cachestat", "capget", "capset", "copy_file_range",
            "fadvise64", "flock", "get_mempolicy", "getcpu", "getpriority", "ioctl",
            "ioprio_get", "kcmp", "lsm_get_self_attr", "lsm_list_modules", "madvise",
            "mincore", "mremap", "mseal", "name_to_handle_at", "personality", "readahead",
            "remap_file_pages", "sched_get_priority_max", "sched_get_priority_min",
            "sched_getattr", "sched_getparam", "sched_getscheduler", "sched_rr_get_interval",
            "sendfile", "setfsgid", "setfsuid", "setpgid", "setsid", "splice", "sysinfo",
            "tee", "umask", "uname", "userfaultfd", "vmsplice",
        ],
    },
    Group {
        name: "@known",
        description: "every system call this compiler knows on x86_64 and aarch64 (Linux 6.18)",
        members: &[],
    },
];

/// The calls the sandbox itself makes once its filter is installed: handing the listener
/// to the supervisor (`write`, `read`, `close`), returning from signal handlers, and
/// exiting. A profile that refuses one of them is an error. The command line adds
/// `execve` ([`COMMAND_NEEDS`]).
pub const SANDBOX_NEEDS: [&str; 6] = [
    "close",
    "exit",
    "exit_group",
    "read",
    "rt_sigreturn",
    "write",
];

/// What `network-sandbox run` needs besides [`SANDBOX_NEEDS`]: it executes the program.
pub const COMMAND_NEEDS: [&str; 1] = ["execve"];

/// The key of the allow list.
pub const SYSCALLS: &str = "syscalls";
/// The key of the deny list.
pub const DENY_SYSCALLS: &str = "deny_syscalls";

/// A profile as written: the allow list (if any) and the deny list, each entry a group
/// (`@basic-io`) or a call (`getrandom`), in the order written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    /// `syscalls = [...]`: only these are allowed. `None`: every call the network rules
    /// allow.
    pub allow: Option<Vec<String>>,
    /// `deny_syscalls = [...]`: refused on top.
    pub deny: Vec<String>,
}

impl Profile {
    /// Whether the profile changes nothing (no allow list, nothing denied).
    pub fn is_empty(&self) -> bool {
        self.allow.is_none() && self.deny.is_empty()
    }
}

/// Which list of a profile an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum List {
    /// `syscalls`.
    Allow,
    /// `deny_syscalls`.
    Deny,
}

impl List {
    /// The key of the list.
    pub fn key(self) -> &'static str {
        match self {
            List::Allow => SYSCALLS,
            List::Deny => DENY_SYSCALLS,
        }
    }
}

/// An error in a profile: the list, the index of the entry (`None`: the list as a whole)
/// and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileError {
    /// The list.
    pub list: List,
    /// The entry, or `None` for the list as a whole.
    pub index: Option<usize>,
    /// What is wrong, and what to write instead.
    pub message: String,
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The group called `name` (with its `@`).
pub fn group(name: &str) -> Option<&'static Group> {
    GROUPS.iter().find(|g| g.name == name)
}

/// The calls `name` stands for, by name, sorted: a group's calls (nested groups
/// flattened; `@known`: every call), or the call itself. Empty for an unknown name.
pub fn expand(name: &str) -> BTreeSet<&'static str> {
    let mut out = BTreeSet::new();
    add(name, &mut out);
    out
}

fn add(name: &str, out: &mut BTreeSet<&'static str>) {
    if name == KNOWN {
        out.extend(CALLS.iter().map(|c| c.0));
    } else if let Some(g) = group(name) {
        for m in g.members {
            add(m, out);
        }
    } else if let Some(c) = CALLS.iter().find(|c| c.0 == name) {
        out.insert(c.0);
    }
}

/// The group a refusal line names for `call`: the first group of [`GROUPS`] that lists it
/// directly and is not [composite](Group::is_composite), else the first that lists it
/// (`acct`: `@privileged`); `None` when only `@known` has it.
pub fn group_of(call: &str) -> Option<&'static str> {
    let lists = |g: &&Group| g.members.contains(&call);
    GROUPS
        .iter()
        .filter(|g| !g.is_composite())
        .find(lists)
        .or_else(|| GROUPS.iter().find(lists))
        .map(|g| g.name)
}

/// The calls the profile allows and refuses, by name: (allowed, refused). Without an allow
/// list every call is allowed but the denied ones; the deny list wins over the allow list.
pub fn decide(profile: &Profile) -> (BTreeSet<&'static str>, BTreeSet<&'static str>) {
    let mut allowed: BTreeSet<&'static str> = match &profile.allow {
        Some(list) => list.iter().flat_map(|n| expand(n)).collect(),
        None => CALLS.iter().map(|c| c.0).collect(),
    };
    let denied: BTreeSet<&'static str> = profile.deny.iter().flat_map(|n| expand(n)).collect();
    allowed.retain(|c| !denied.contains(c));
    let refused = CALLS
        .iter()
        .map(|c| c.0)
        .filter(|c| !allowed.contains(c))
        .collect();
    (allowed, refused)
}

/// The numbers the profile refuses on `arch`, sorted: the refused calls that exist there
/// and, with an allow list, every number up to the highest known one that names no call
/// (a call this table does not know cannot be on the list). Empty for an empty profile.
pub fn refused(profile: &Profile, arch: Arch) -> Vec<u32> {
    if profile.is_empty() {
        return Vec::new();
    }
    let (allowed, refused) = decide(profile);
    let mut numbers: Vec<u32> = refused
        .iter()
        .filter_map(|c| syscall_table::number(c, arch))
        .collect();
    if profile.allow.is_some() {
        let known: BTreeSet<u32> = allowed
            .iter()
            .chain(refused.iter())
            .filter_map(|c| syscall_table::number(c, arch))
            .collect();
        numbers.extend((0..=max_nr(arch)).filter(|n| !known.contains(n)));
    }
    numbers.sort_unstable();
    numbers.dedup();
    numbers
}

/// Checks a profile: every entry a known group or call, a call named alone known on both
/// architectures, no entry twice in a list, and none of `needs` (the sandbox's own calls,
/// [`SANDBOX_NEEDS`], and for the command line [`COMMAND_NEEDS`]) refused. Every error is
/// returned, entry errors in list order.
pub fn check(profile: &Profile, needs: &[&str]) -> Result<(), Vec<ProfileError>> {
    let mut errors = Vec::new();
    let lists = [
        (List::Allow, profile.allow.as_deref()),
        (List::Deny, Some(&profile.deny[..])),
    ];
    for (list, entries) in lists {
        let Some(entries) = entries else { continue };
        for (index, name) in entries.iter().enumerate() {
            let error = |message| ProfileError {
                list,
                index: Some(index),
                message,
            };
            if let Some(first) = entries[..index].iter().position(|n| n == name) {
                errors.push(error(format!(
                    "`{name}` is already in `{}` (entry {}): remove one",
                    list.key(),
                    first + 1
                )));
                continue;
            }
            if name == KNOWN || group(name).is_some() {
                continue;
            }
            if syscall_table::known(name) {
                let missing: Vec<Arch> = Arch::ALL
                    .into_iter()
                    .filter(|&a| syscall_table::number(name, a).is_none())
                    .collect();
                if let Some(arch) = missing.first() {
                    let group = group_of(name).map_or(String::new(), |g| {
                        format!(" (name its group, `{g}`, which holds it where it exists)")
                    });
                    errors.push(error(format!(
                        "`{name}` is not a system call on {arch}, and the policy is compiled \
                         for x86_64 and aarch64: leave it out{group}"
                    )));
                }
                continue;
            }
            errors.push(error(unknown_message(name)));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let (_, refused) = decide(profile);
    let missing: Vec<&str> = needs
        .iter()
        .copied()
        .filter(|n| refused.contains(n))
        .collect();
    if !missing.is_empty() {
        let denied: Vec<&str> = missing
            .iter()
            .copied()
            .filter(|n| profile.deny.iter().any(|d| expand(d).contains(n)))
            .collect();
        let list = if denied.is_empty() {
            List::Allow
        } else {
            List::Deny
        };
        let names: Vec<String> = missing.iter().map(|n| format!("`{n}`")).collect();
        let fix = match list {
            List::Allow => format!(
                "add {} (or `@default` and `@basic-io`) to `{SYSCALLS}`",
                names.join(", ")
            ),
            List::Deny => format!("take {} out of `{DENY_SYSCALLS}`", names.join(", ")),
        };
        errors.push(ProfileError {
            list,
            index: None,
            message: format!(
                "the profile refuses {}, which the sandbox itself calls once installed \
                 (handing its listener to the supervisor, returning from signal handlers, \
                 exiting{}): {fix}",
                names.join(", "),
                if needs.contains(&"execve") {
                    ", executing the program"
                } else {
                    ""
                }
            ),
        });
        return Err(errors);
    }
    Ok(())
}

/// The message for a name that is neither a group nor a call, with the closest name when
/// one is close.
fn unknown_message(name: &str) -> String {
    let what = if name.is_empty() {
        "an empty string".to_owned()
    } else {
        format!("`{name}`")
    };
    let kind = if name.starts_with('@') {
        "a system call group"
    } else {
        "a system call or a group"
    };
    match suggest(name) {
        Some(close) => format!("{what} is not {kind} this compiler knows: did you mean `{close}`?"),
        None => format!(
            "{what} is not {kind} this compiler knows: write a call as the kernel names it \
             (`getrandom`) or a group with its `@` (`@system-service`); `network-sandbox \
             explain --groups` lists the groups"
        ),
    }
}

/// The group or call a misspelt `name` probably means: the same name but for case, `_` for
/// `-` or a missing `@` (`system_service` → `@system-service`), or the closest name within
/// a quarter of its length in edits.
pub fn suggest(name: &str) -> Option<&'static str> {
    let canonical = |s: &str| {
        let s = s.trim().to_ascii_lowercase().replace('_', "-");
        s.strip_prefix('@').map(str::to_owned).unwrap_or(s)
    };
    let wanted = canonical(name);
    if wanted.is_empty() {
        return None;
    }
    let limit = (wanted.chars().count() / 4).max(1);
    GROUPS
        .iter()
        .map(|g| g.name)
        .chain(CALLS.iter().map(|c| c.0))
        .map(|n| (crate::model::edit_distance(&wanted, &canonical(n)), n))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, n)| n)
}

/// The action for a call the profile refuses: `syscall_refusal`'s (`EPERM` by default) as a
/// refusal the supervisor reports (`USER_NOTIF | errno`; resolved to `ERRNO` where no
/// supervisor runs), or `KILL_PROCESS`. In audit mode always a reported `EPERM`, which the
/// supervisor lets through.
pub fn refusal(options: &Options) -> Action {
    if options.mode == Mode::Audit {
        return Action::Report(EPERM);
    }
    match options.syscall_refusal {
        SyscallRefusal::Eperm => Action::Report(EPERM),
        SyscallRefusal::Enosys => Action::Report(ENOSYS),
        SyscallRefusal::Kill => Action::KillProcess,
    }
}

/// Applies the profile of `policy` to the rules lowered for `arch`, and returns the numbers
/// it refuses that no rule names (sorted) with their action ([`refusal`]).
///
/// The network rules stay on top: a call they always refuse (`ptrace`, io_uring, `bpf`,
/// mounts, …) keeps its rule whatever the profile says. A call with argument rules
/// (`socket`, `ioctl`, `clone`, …) that the profile refuses loses them for one
/// unconditional refusal: refusing every call is stricter than any of them.
pub fn lower(policy: &Policy, arch: Arch, rules: &mut Vec<SyscallRule>) -> (Vec<u32>, Action) {
    let action = refusal(&policy.options);
    let refused = refused(&policy.syscalls, arch);
    if refused.is_empty() {
        return (refused, action);
    }
    let named: BTreeSet<u32> = rules.iter().map(|r| r.nr).collect();
    for &nr in named.iter().filter(|nr| refused.binary_search(nr).is_ok()) {
        let always = rules.iter().find(|r| r.nr == nr).is_some_and(|r| {
            r.when.is_empty()
                && matches!(
                    r.action,
                    Action::Errno(_) | Action::Report(_) | Action::KillProcess
                )
        });
        if always {
            continue;
        }
        let at = rules.iter().position(|r| r.nr == nr).unwrap_or(0);
        let syscall = rules[at].syscall;
        rules.retain(|r| r.nr != nr);
        rules.insert(
            at,
            SyscallRule {
                syscall,
                nr,
                action,
                when: Vec::new(),
            },
        );
    }
    let rest = refused
        .into_iter()
        .filter(|nr| !named.contains(nr))
        .collect();
    (rest, action)
}

/// A call the profile refuses on one architecture, as the runtime's refusal lines name it
/// (`network_sandbox::RefusedCall`): number, name, [group](group_of), and whether
/// `deny_syscalls` refuses it (else it is outside `syscalls`).
pub type RefusedCall = (u32, &'static str, Option<&'static str>, bool);

/// The calls whose answer on `arch` is the profile's refusal, sorted by number: the profile's
/// refused calls, without those the network rules keep refusing their own way. Empty for
/// an empty profile. `emit` writes them into the policy; the runtime's supervisor names a
/// refused call with them.
pub fn refused_calls(policy: &Policy, arch: Arch) -> Vec<RefusedCall> {
    if policy.syscalls.is_empty() {
        return Vec::new();
    }
    let profiled = crate::lower::lower(policy, arch);
    let plain = crate::lower::lower(
        &Policy {
            syscalls: Profile::default(),
            ..policy.clone()
        },
        arch,
    );
    let rules_of = |set: &crate::lower::RuleSet, nr: u32| -> Vec<SyscallRule> {
        set.rules.iter().filter(|r| r.nr == nr).cloned().collect()
    };
    let denied: BTreeSet<&str> = policy
        .syscalls
        .deny
        .iter()
        .flat_map(|n| expand(n))
        .collect();
    let (_, refused) = decide(&policy.syscalls);
    let mut calls: Vec<RefusedCall> = refused
        .into_iter()
        .filter_map(|name| {
            let nr = syscall_table::number(name, arch)?;
            let ours = profiled.refused.binary_search(&nr).is_ok()
                || rules_of(&profiled, nr) != rules_of(&plain, nr);
            ours.then(|| (nr, name, group_of(name), denied.contains(name)))
        })
        .collect();
    // The runtime looks a number up by binary search.
    calls.sort_by_key(|c| c.0);
    calls
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(allow: Option<&[&str]>, deny: &[&str]) -> Profile {
        Profile {
            allow: allow.map(|l| l.iter().map(|s| s.to_string()).collect()),
            deny: deny.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn every_member_is_a_known_call_or_group_and_names_are_distinct() {
        for (i, g) in GROUPS.iter().enumerate() {
            assert!(g.name.starts_with('@'));
            assert!(!g.description.is_empty());
            assert!(GROUPS[..i].iter().all(|o| o.name != g.name), "{}", g.name);
            for m in g.members {
                assert!(
                    group(m).is_some() || syscall_table::known(m),
                    "{} in {}",
                    m,
                    g.name
                );
            }
        }
        assert_eq!(expand(KNOWN).len(), CALLS.len());
    }

    #[test]
    fn system_service_leaves_out_the_system_wide_groups() {
        let service = expand("@system-service");
        for g in [
            "@clock",
            "@cpu-emulation",
            "@debug",
            "@module",
            "@mount",
            "@obsolete",
            "@raw-io",
            "@reboot",
            "@swap",
        ] {
            for c in expand(g) {
                assert!(!service.contains(c), "{c} of {g}");
            }
        }
        for c in [
            "read",
            "getrandom",
            "connect",
            "openat",
            "clone",
            "futex",
            "ioctl",
        ] {
            assert!(service.contains(c), "{c}");
        }
        for c in SANDBOX_NEEDS.iter().chain(&COMMAND_NEEDS) {
            assert!(service.contains(c), "{c}");
        }
    }

    #[test]
    fn groups_of_calls() {
        assert_eq!(group_of("swapon"), Some("@swap"));
        assert_eq!(group_of("mount"), Some("@mount"));
        assert_eq!(group_of("close"), Some("@basic-io"));
        assert_eq!(group_of("syslog"), None);
        assert_eq!(group_of("acct"), Some("@privileged"));
        assert!(group("@privileged").unwrap().is_composite());
    }

    #[test]
    fn refused_numbers() {
        let p = profile(None, &["@swap"]);
        assert_eq!(refused(&p, Arch::X86_64), [167, 168]);
        assert_eq!(refused(&p, Arch::Aarch64), [224, 225]);
        assert!(refused(&Profile::default(), Arch::X86_64).is_empty());
        let p = profile(Some(&["@system-service"]), &[]);
        let r = refused(&p, Arch::X86_64);
        assert!(r.contains(&169), "reboot");
        assert!(
            r.contains(&400),
            "unused numbers are refused with an allow list"
        );
        assert!(!r.contains(&0), "read");
        let p = profile(Some(&["@system-service"]), &["read"]);
        assert!(refused(&p, Arch::X86_64).contains(&0), "the deny list wins");
    }

    #[test]
    fn refused_calls_are_sorted_by_number_and_exclude_what_the_rules_keep() {
        let policy = Policy {
            syscalls: profile(Some(&["@system-service"]), &["@sync"]),
            ..Policy::default()
        };
        for arch in Arch::ALL {
            let calls = refused_calls(&policy, arch);
            assert!(calls.windows(2).all(|w| w[0].0 < w[1].0), "{arch}");
            let swapon = calls.iter().find(|c| c.1 == "swapon").unwrap();
            assert_eq!((swapon.2, swapon.3), (Some("@swap"), false));
            assert!(calls.iter().any(|c| c.1 == "fsync" && c.3), "denied");
            // mount stays the rules' refusal (ERRNO(EPERM), not reported).
            assert!(!calls.iter().any(|c| c.1 == "mount"), "{arch}");
        }
    }

    #[test]
    fn errors_point_at_their_entry() {
        let p = profile(
            Some(&[
                "@system-service",
                "@sytem-service",
                "open",
                "getrandom",
                "getrandom",
                "@nothing",
            ]),
            &["mount"],
        );
        let e = check(&p, &SANDBOX_NEEDS).unwrap_err();
        let at: Vec<(List, Option<usize>)> = e.iter().map(|e| (e.list, e.index)).collect();
        assert_eq!(
            at,
            [
                (List::Allow, Some(1)),
                (List::Allow, Some(2)),
                (List::Allow, Some(4)),
                (List::Allow, Some(5))
            ]
        );
        assert!(
            e[0].message.ends_with("did you mean `@system-service`?"),
            "{}",
            e[0]
        );
        assert!(
            e[1].message.contains("not a system call on aarch64"),
            "{}",
            e[1]
        );
        assert!(
            e[2].message.contains("already in `syscalls` (entry 4)"),
            "{}",
            e[2]
        );
        assert_eq!(suggest("system_service"), Some("@system-service"));
        assert_eq!(suggest("getrandmo"), Some("getrandom"));
        assert_eq!(suggest("@everything-at-once"), None);

        let e = check(&profile(Some(&["@network-io"]), &[]), &SANDBOX_NEEDS).unwrap_err();
        assert_eq!((e[0].list, e[0].index), (List::Allow, None));
        assert!(
            e[0].message
                .contains("`close`, `exit`, `exit_group`, `read`, `rt_sigreturn`, `write`"),
            "{}",
            e[0]
        );
        let e = check(&profile(None, &["@basic-io"]), &SANDBOX_NEEDS).unwrap_err();
        assert_eq!(e[0].list, List::Deny);
        assert!(
            e[0].message
                .contains("take `close`, `read`, `write` out of `deny_syscalls`"),
            "{}",
            e[0]
        );
        assert!(check(
            &profile(Some(&["@system-service"]), &["@swap"]),
            &SANDBOX_NEEDS
        )
        .is_ok());
        let cli: Vec<&str> = SANDBOX_NEEDS
            .iter()
            .chain(&COMMAND_NEEDS)
            .copied()
            .collect();
        let e = check(
            &profile(
                Some(&["@basic-io", "exit", "exit_group", "rt_sigreturn"]),
                &[],
            ),
            &cli,
        )
        .unwrap_err();
        assert!(e[0].message.contains("`execve`"), "{}", e[0]);
    }
}
