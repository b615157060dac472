//! System call numbers and audit architecture values for the architectures the compiler
//! emits programs for.
//!
//! Only the system calls the L1 rules name are listed: every other number is allowed without
//! looking at it, so the compiler never needs to know its name.
//!
//! Sources (Linux 6.18):
//! - x86_64: `arch/x86/entry/syscalls/syscall_64.tbl` (`common` and `64` entries).
//! - aarch64: the generic table, `scripts/syscall.tbl` / `include/uapi/asm-generic/unistd.h`.
//! - Highest number: `file_setattr` (469) on both, added in 6.17 together with `file_getattr`
//!   (468); `include/uapi/asm-generic/unistd.h` has `#define __NR_syscalls 470` until `listns`
//!   (470) arrives in 6.19. Checked on a 6.18 x86_64 kernel: `syscall(469, -1, 0, ...)` gives
//!   `EINVAL`, `syscall(470, ...)` gives `ENOSYS`.
//!   The numbers match seccompiler 0.5's own tables for the calls listed here.

use crate::arch::Arch;

/// `AUDIT_ARCH_X86_64`: `EM_X86_64 (62) | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`.
pub const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
/// `AUDIT_ARCH_AARCH64`: `EM_AARCH64 (183) | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`.
pub const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;
/// `AUDIT_ARCH_I386`: what `seccomp_data.arch` holds for an `int 0x80` call on x86_64.
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// `AUDIT_ARCH_ARM`: what `seccomp_data.arch` holds for a 32-bit (aarch32) call on aarch64.
pub const AUDIT_ARCH_ARM: u32 = 0x4000_0028;

/// `__X32_SYSCALL_BIT`: set in the number of every x32 system call on x86_64.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Highest system call number Linux 6.18 defines on x86_64 (`file_setattr`).
pub const MAX_NR_X86_64: u32 = 469;
/// Highest system call number Linux 6.18 defines on aarch64 (`file_setattr`).
pub const MAX_NR_AARCH64: u32 = 469;

/// A system call that the L1 rules name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)] // each variant is the system call of the same name
pub enum Sysno {
    Socket,
    Connect,
    Bind,
    Listen,
    Sendto,
    Sendmsg,
    Sendmmsg,
    Setsockopt,
    Ptrace,
    ProcessVmReadv,
    ProcessVmWritev,
    PidfdGetfd,
    IoUringSetup,
    IoUringEnter,
    IoUringRegister,
    Bpf,
    InitModule,
    FinitModule,
    KexecLoad,
    KexecFileLoad,
    Socketpair,
    Ioctl,
    Prlimit64,
    Setpriority,
    IoprioSet,
    SchedSetparam,
    SchedSetscheduler,
    SchedSetaffinity,
    SchedSetattr,
    MigratePages,
    MovePages,
    ProcessMadvise,
    Userfaultfd,
    Clone,
    Unshare,
    Clone3,
    Setns,
    Mount,
    Umount2,
    PivotRoot,
    OpenTree,
    MoveMount,
    Fsopen,
    Fsmount,
    Fspick,
    MountSetattr,
    RequestKey,
}

/// Name, x86_64 number, aarch64 number.
const TABLE: [(Sysno, &str, u32, u32); 47] = [
    (Sysno::Socket, "socket", 41, 198),
    (Sysno::Connect, "connect", 42, 203),
    (Sysno::Bind, "bind", 49, 200),
    (Sysno::Listen, "listen", 50, 201),
    (Sysno::Sendto, "sendto", 44, 206),
    (Sysno::Sendmsg, "sendmsg", 46, 211),
    (Sysno::Sendmmsg, "sendmmsg", 307, 269),
    (Sysno::Setsockopt, "setsockopt", 54, 208),
    (Sysno::Ptrace, "ptrace", 101, 117),
    (Sysno::ProcessVmReadv, "process_vm_readv", 310, 270),
    (Sysno::ProcessVmWritev, "process_vm_writev", 311, 271),
    (Sysno::PidfdGetfd, "pidfd_getfd", 438, 438),
    (Sysno::IoUringSetup, "io_uring_setup", 425, 425),
    (Sysno::IoUringEnter, "io_uring_enter", 426, 426),
    (Sysno::IoUringRegister, "io_uring_register", 427, 427),
    (Sysno::Bpf, "bpf", 321, 280),
    (Sysno::InitModule, "init_module", 175, 105),
    (Sysno::FinitModule, "finit_module", 313, 273),
    (Sysno::KexecLoad, "kexec_load", 246, 104),
    (Sysno::KexecFileLoad, "kexec_file_load", 320, 294),
    (Sysno::Socketpair, "socketpair", 53, 199),
    (Sysno::Ioctl, "ioctl", 16, 29),
    (Sysno::Prlimit64, "prlimit64", 302, 261),
    (Sysno::Setpriority, "setpriority", 141, 140),
    (Sysno::IoprioSet, "ioprio_set", 251, 30),
    (Sysno::SchedSetparam, "sched_setparam", 142, 118),
    (Sysno::SchedSetscheduler, "sched_setscheduler", 144, 119),
    (Sysno::SchedSetaffinity, "sched_setaffinity", 203, 122),
    (Sysno::SchedSetattr, "sched_setattr", 314, 274),
    (Sysno::MigratePages, "migrate_pages", 256, 238),
    (Sysno::MovePages, "move_pages", 279, 239),
    (Sysno::ProcessMadvise, "process_madvise", 440, 440),
    (Sysno::Userfaultfd, "userfaultfd", 323, 282),
    (Sysno::Clone, "clone", 56, 220),
    (Sysno::Unshare, "unshare", 272, 97),
    (Sysno::Clone3, "clone3", 435, 435),
    (Sysno::Setns, "setns", 308, 268),
    (Sysno::Mount, "mount", 165, 40),
    (Sysno::Umount2, "umount2", 166, 39),
    (Sysno::PivotRoot, "pivot_root", 155, 41),
    (Sysno::OpenTree, "open_tree", 428, 428),
    (Sysno::MoveMount, "move_mount", 429, 429),
    (Sysno::Fsopen, "fsopen", 430, 430),
    (Sysno::Fsmount, "fsmount", 432, 432),
    (Sysno::Fspick, "fspick", 433, 433),
    (Sysno::MountSetattr, "mount_setattr", 442, 442),
    (Sysno::RequestKey, "request_key", 249, 218),
];

impl Sysno {
    /// Every system call the rules may name.
    pub const ALL: [Sysno; 47] = {
        let mut all = [Sysno::Socket; 47];
        let mut i = 0;
        while i < TABLE.len() {
            all[i] = TABLE[i].0;
            i += 1;
        }
        all
    };

    fn entry(self) -> &'static (Sysno, &'static str, u32, u32) {
        // TABLE lists every variant exactly once (checked by a unit test).
        TABLE.iter().find(|e| e.0 == self).unwrap_or(&TABLE[0])
    }

    /// The kernel's name for it (`"socket"`).
    pub fn name(self) -> &'static str {
        self.entry().1
    }

    /// Its number on `arch`.
    pub fn number(self, arch: Arch) -> u32 {
        let e = self.entry();
        match arch {
            Arch::X86_64 => e.2,
            Arch::Aarch64 => e.3,
        }
    }
}

/// The name of system call `nr` on `arch`, if it is one the rules name.
pub fn name(arch: Arch, nr: u32) -> Option<&'static str> {
    Sysno::ALL
        .iter()
        .find(|s| s.number(arch) == nr)
        .map(|s| s.name())
}

/// The highest system call number known on `arch`: larger numbers get `ENOSYS`.
pub fn max_nr(arch: Arch) -> u32 {
    match arch {
        Arch::X86_64 => MAX_NR_X86_64,
        Arch::Aarch64 => MAX_NR_AARCH64,
    }
}

/// `seccomp_data.arch` of native system calls on `arch`.
pub fn audit_arch(arch: Arch) -> u32 {
    match arch {
        Arch::X86_64 => AUDIT_ARCH_X86_64,
        Arch::Aarch64 => AUDIT_ARCH_AARCH64,
    }
}

/// The name of an audit architecture value, for listings.
pub fn audit_arch_name(value: u32) -> Option<&'static str> {
    match value {
        AUDIT_ARCH_X86_64 => Some("AUDIT_ARCH_X86_64"),
        AUDIT_ARCH_AARCH64 => Some("AUDIT_ARCH_AARCH64"),
        AUDIT_ARCH_I386 => Some("AUDIT_ARCH_I386"),
        AUDIT_ARCH_ARM => Some("AUDIT_ARCH_ARM"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_each_syscall_once_with_distinct_numbers() {
        for (i, s) in Sysno::ALL.iter().enumerate() {
            assert_eq!(TABLE[i].0, *s);
            assert_eq!(s.entry().0, *s);
            for arch in Arch::ALL {
                assert!(s.number(arch) <= max_nr(arch));
                assert_eq!(name(arch, s.number(arch)), Some(s.name()));
            }
        }
        for arch in Arch::ALL {
            let mut numbers: Vec<u32> = Sysno::ALL.iter().map(|s| s.number(arch)).collect();
            numbers.sort_unstable();
            numbers.dedup();
            assert_eq!(numbers.len(), Sysno::ALL.len(), "{arch}");
        }
    }

    #[test]
    fn known_numbers() {
        assert_eq!(Sysno::Connect.number(Arch::X86_64), 42);
        assert_eq!(Sysno::Connect.number(Arch::Aarch64), 203);
        assert_eq!(name(Arch::Aarch64, 269), Some("sendmmsg"));
        assert_eq!(name(Arch::X86_64, 0), None);
        assert_eq!(
            audit_arch_name(audit_arch(Arch::X86_64)),
            Some("AUDIT_ARCH_X86_64")
        );
    }
}
