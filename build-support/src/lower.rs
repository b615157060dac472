//! Lowering: a policy and an architecture → the L1 rules as data ([`RuleSet`]).
//!
//! This is the table "L1: the static program" of `docs/ARCHITECTURE.md`, written once as
//! data so that [`assemble`](crate::assemble) only translates and the tests can read what
//! was decided. The prologue (arch check, x32 check, numbers above [`RuleSet::max_nr`]) is
//! not a rule: it is the same for every policy and [`assemble`](crate::assemble) emits it
//! from the fields of the set.

use crate::arch::Arch;
use crate::model::Policy;
use crate::syscalls::{self, Sysno};

/// `EPERM`: process-inspection system calls.
pub const EPERM: u16 = 1;
/// `EACCES`: a policy denial of a network operation (what Landlock returns too).
pub const EACCES: u16 = 13;
/// `ENOSYS`: io_uring and numbers newer than the compiler knows (runtimes fall back).
pub const ENOSYS: u16 = 38;

/// `AF_INET`.
pub const AF_INET: u64 = 2;
/// `AF_INET6`.
pub const AF_INET6: u64 = 10;
/// `SOCK_STREAM`.
pub const SOCK_STREAM: u64 = 1;
/// `SOCK_DGRAM`.
pub const SOCK_DGRAM: u64 = 2;
/// `SOCK_NONBLOCK` (= `O_NONBLOCK` on x86_64 and aarch64).
pub const SOCK_NONBLOCK: u64 = 0x800;
/// `SOCK_CLOEXEC` (= `O_CLOEXEC` on x86_64 and aarch64).
pub const SOCK_CLOEXEC: u64 = 0x8_0000;
/// `IPPROTO_TCP`.
pub const IPPROTO_TCP: u64 = 6;
/// `IPPROTO_UDP`.
pub const IPPROTO_UDP: u64 = 17;
/// `MSG_FASTOPEN`: a send that connects (TCP Fast Open) without calling `connect`.
pub const MSG_FASTOPEN: u64 = 0x2000_0000;
/// `SOL_IP`.
pub const SOL_IP: u64 = 0;
/// `SOL_TCP` (= `IPPROTO_TCP`).
pub const SOL_TCP: u64 = 6;
/// `SOL_IPV6` (= `IPPROTO_IPV6`).
pub const SOL_IPV6: u64 = 41;
/// `SOL_SCTP` (= `IPPROTO_SCTP`).
pub const SOL_SCTP: u64 = 132;
/// `IP_OPTIONS` (source routing among others).
pub const IP_OPTIONS: u64 = 4;
/// `TCP_REPAIR`.
pub const TCP_REPAIR: u64 = 19;
/// `IPV6_RTHDR` (routing header).
pub const IPV6_RTHDR: u64 = 57;
/// `IP_RETOPTS` (IP options, source routing among them, in the RFC 2292 style).
pub const IP_RETOPTS: u64 = 7;
/// `IPV6_2292RTHDR` (the RFC 2292 spelling of the routing header option).
pub const IPV6_2292RTHDR: u64 = 5;
/// `IPV6_2292PKTOPTIONS` (sets sticky ancillary data, a routing header among it).
pub const IPV6_2292PKTOPTIONS: u64 = 6;

/// The L1 rules for one architecture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSet {
    /// The architecture.
    pub arch: Arch,
    /// `seccomp_data.arch` of native calls; any other value kills the process.
    pub audit_arch: u32,
    /// Kill the process for x32 numbers, `0x4000_0000..0x8000_0000` (x86_64 only).
    pub kill_x32: bool,
    /// Highest known number; larger numbers get `ERRNO(ENOSYS)`.
    pub max_nr: u32,
    /// The rules, in evaluation order. For a system call the first rule whose condition holds
    /// decides; a call no rule decides is allowed.
    pub rules: Vec<SyscallRule>,
}

/// One rule: for system call `nr`, when `when` holds, take `action`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyscallRule {
    /// Which system call.
    pub syscall: Sysno,
    /// Its number on the rule set's architecture.
    pub nr: u32,
    /// What happens when the rule applies.
    pub action: Action,
    /// When it applies: an OR of ANDs of conditions. Empty: always.
    pub when: Vec<Vec<Cond>>,
}

/// What a rule does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// `SECCOMP_RET_ALLOW`.
    Allow,
    /// `SECCOMP_RET_ERRNO` with this errno.
    Errno(u16),
    /// `SECCOMP_RET_KILL_PROCESS`.
    KillProcess,
    /// `SECCOMP_RET_USER_NOTIF`: the supervisor decides.
    UserNotif,
}

/// `SECCOMP_RET_KILL_PROCESS`.
pub const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
/// `SECCOMP_RET_ERRNO` (the errno goes in the low 16 bits).
pub const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
/// `SECCOMP_RET_USER_NOTIF`.
pub const SECCOMP_RET_USER_NOTIF: u32 = 0x7fc0_0000;
/// `SECCOMP_RET_ALLOW`.
pub const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;

impl Action {
    /// The value a seccomp program returns for this action.
    pub fn ret(self) -> u32 {
        match self {
            Action::Allow => SECCOMP_RET_ALLOW,
            Action::Errno(e) => SECCOMP_RET_ERRNO | u32::from(e),
            Action::KillProcess => SECCOMP_RET_KILL_PROCESS,
            Action::UserNotif => SECCOMP_RET_USER_NOTIF,
        }
    }
}

/// How much of an argument a condition looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    /// The low 32 bits: `int` arguments, which the kernel truncates.
    Dword,
    /// All 64 bits: pointers and `long`s.
    Qword,
}

/// A comparison of an argument with [`Cond::value`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `arg == value`.
    Eq,
    /// `arg != value`.
    Ne,
    /// `arg & mask == value & mask`.
    MaskedEq(u64),
}

/// One condition on one argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cond {
    /// Argument index, 0 to 5.
    pub arg: u8,
    /// How much of it is compared.
    pub width: Width,
    /// The comparison.
    pub op: CmpOp,
    /// The constant it is compared with.
    pub value: u64,
}

impl Cond {
    /// `arg == value` on the low 32 bits.
    pub fn eq32(arg: u8, value: u64) -> Cond {
        Cond {
            arg,
            width: Width::Dword,
            op: CmpOp::Eq,
            value,
        }
    }

    /// `arg != value` on the low 32 bits.
    pub fn ne32(arg: u8, value: u64) -> Cond {
        Cond {
            op: CmpOp::Ne,
            ..Cond::eq32(arg, value)
        }
    }

    /// Whether the condition holds for these arguments (the meaning
    /// [`assemble`](crate::assemble) must implement). An argument index above 5 never holds.
    pub fn holds(&self, args: &[u64; 6]) -> bool {
        let Some(&raw) = args.get(usize::from(self.arg)) else {
            return false;
        };
        let width_mask = match self.width {
            Width::Dword => u64::from(u32::MAX),
            Width::Qword => u64::MAX,
        };
        let (arg, value) = (raw & width_mask, self.value & width_mask);
        match self.op {
            CmpOp::Eq => arg == value,
            CmpOp::Ne => arg != value,
            CmpOp::MaskedEq(mask) => arg & mask == value & mask,
        }
    }
}

impl SyscallRule {
    /// Whether the rule applies to a call with these arguments.
    pub fn applies(&self, args: &[u64; 6]) -> bool {
        self.when.is_empty()
            || self
                .when
                .iter()
                .any(|all| all.iter().all(|c| c.holds(args)))
    }
}

impl RuleSet {
    /// The action the rules (without the prologue) take for call `nr` with `args`.
    pub fn decide(&self, nr: u32, args: &[u64; 6]) -> Action {
        self.rules
            .iter()
            .find(|r| r.nr == nr && r.applies(args))
            .map_or(Action::Allow, |r| r.action)
    }

    /// The value the whole program must return for a call: prologue, then the rules.
    pub fn expected_ret(&self, audit_arch: u32, nr: u32, args: &[u64; 6]) -> u32 {
        let x32 = self.kill_x32 && nr & syscalls::X32_SYSCALL_BIT != 0 && nr < 0x8000_0000;
        if audit_arch != self.audit_arch || x32 {
            SECCOMP_RET_KILL_PROCESS
        } else if nr > self.max_nr {
            Action::Errno(ENOSYS).ret()
        } else {
            self.decide(nr, args).ret()
        }
    }
}

/// The L1 rules of `policy` on `arch`, in the order the program tests them: the calls a
/// network program makes often come first.
pub fn lower(policy: &Policy, arch: Arch) -> RuleSet {
    let udp = policy.has_udp();
    let no_network = policy.no_network();
    let mut rules = Vec::new();
    let mut rule = |syscall: Sysno, action: Action, when: Vec<Vec<Cond>>| {
        rules.push(SyscallRule {
            syscall,
            nr: syscall.number(arch),
            action,
            when,
        })
    };
    let always = Vec::new;
    let deny = Action::Errno(EACCES);

    // sendto(fd, buf, len, flags, dest_addr, addrlen); sendmsg(fd, msg, flags);
    // sendmmsg(fd, msgvec, vlen, flags). TCP Fast Open connects without `connect`.
    let fastopen = |arg| {
        vec![vec![Cond {
            arg,
            width: Width::Dword,
            op: CmpOp::MaskedEq(MSG_FASTOPEN),
            value: MSG_FASTOPEN,
        }]]
    };
    rule(Sysno::Sendto, deny, fastopen(3));
    if udp {
        // A destination pointer: the supervisor reads it. NULL: the socket's peer.
        let dest = Cond {
            arg: 4,
            width: Width::Qword,
            op: CmpOp::Ne,
            value: 0,
        };
        rule(Sysno::Sendto, Action::UserNotif, vec![vec![dest]]);
    }
    rule(Sysno::Sendmsg, deny, fastopen(2));
    if udp {
        // The destination is behind the msghdr pointer: always ask the supervisor.
        rule(Sysno::Sendmsg, Action::UserNotif, always());
    }

    let connect = if no_network { deny } else { Action::UserNotif };
    rule(Sysno::Connect, connect, always());

    rule(Sysno::Socket, deny, socket_denials(udp));

    // setsockopt(fd, level, optname, optval, optlen)
    let option = |level, name| vec![Cond::eq32(1, level), Cond::eq32(2, name)];
    rule(
        Sysno::Setsockopt,
        deny,
        vec![
            option(SOL_TCP, TCP_REPAIR),
            option(SOL_IP, IP_OPTIONS),
            option(SOL_IP, IP_RETOPTS),
            option(SOL_IPV6, IPV6_RTHDR),
            option(SOL_IPV6, IPV6_2292RTHDR),
            option(SOL_IPV6, IPV6_2292PKTOPTIONS),
            vec![Cond::eq32(1, SOL_SCTP)],
        ],
    );

    rule(Sysno::Sendmmsg, deny, fastopen(3));
    if udp {
        rule(Sysno::Sendmmsg, Action::UserNotif, always());
    }

    // UDP clients that bind to port 0 before they send (Java, Node.js) need `bind`; the
    // supervisor lets a UDP socket bind to port 0 only. Without UDP, nothing may bind.
    let bind = if udp { Action::UserNotif } else { deny };
    rule(Sysno::Bind, bind, always());
    rule(Sysno::Listen, deny, always());
    for io_uring in [
        Sysno::IoUringSetup,
        Sysno::IoUringEnter,
        Sysno::IoUringRegister,
    ] {
        rule(io_uring, Action::Errno(ENOSYS), always());
    }
    for inspect in [
        Sysno::Ptrace,
        Sysno::ProcessVmReadv,
        Sysno::ProcessVmWritev,
        Sysno::PidfdGetfd,
    ] {
        rule(inspect, Action::Errno(EPERM), always());
    }
    // Ways for a privileged program to change the kernel under the sandbox: a cgroup BPF
    // program can rewrite the destination of the supervisor's own connects, a module or a
    // new kernel can do anything.
    for kernel in [
        Sysno::Bpf,
        Sysno::InitModule,
        Sysno::FinitModule,
        Sysno::KexecLoad,
        Sysno::KexecFileLoad,
    ] {
        rule(kernel, Action::Errno(EPERM), always());
    }

    RuleSet {
        arch,
        audit_arch: syscalls::audit_arch(arch),
        kill_x32: arch == Arch::X86_64,
        max_nr: syscalls::max_nr(arch),
        rules,
    }
}

/// When `socket(family, type, protocol)` is denied, as an OR of ANDs of exact comparisons.
///
/// Allowed: family `AF_INET`/`AF_INET6`; type exactly `SOCK_STREAM` with any of the flags
/// `SOCK_NONBLOCK`/`SOCK_CLOEXEC` and protocol 0 or `IPPROTO_TCP`; with UDP also `SOCK_DGRAM`
/// (same flags) with protocol 0 or `IPPROTO_UDP`. Types are enumerated, never masked, so no
/// other bit of `type` passes.
fn socket_denials(udp: bool) -> Vec<Vec<Cond>> {
    let (family, ty, proto) = (0, 1, 2);
    let flags = [0, SOCK_NONBLOCK, SOCK_CLOEXEC, SOCK_NONBLOCK | SOCK_CLOEXEC];
    let stream: Vec<u64> = flags.iter().map(|f| SOCK_STREAM | f).collect();
    let dgram: Vec<u64> = flags.iter().map(|f| SOCK_DGRAM | f).collect();

    let mut denials = vec![vec![
        Cond::ne32(family, AF_INET),
        Cond::ne32(family, AF_INET6),
    ]];
    let mut allowed_types = stream.clone();
    if udp {
        allowed_types.extend(&dgram);
    }
    denials.push(allowed_types.iter().map(|&t| Cond::ne32(ty, t)).collect());
    if udp {
        for &t in &stream {
            denials.push(vec![
                Cond::eq32(ty, t),
                Cond::ne32(proto, 0),
                Cond::ne32(proto, IPPROTO_TCP),
            ]);
        }
        for &t in &dgram {
            denials.push(vec![
                Cond::eq32(ty, t),
                Cond::ne32(proto, 0),
                Cond::ne32(proto, IPPROTO_UDP),
            ]);
        }
    } else {
        // Only stream types pass the type test, so "stream type and protocol not 0/TCP"
        // is "protocol not 0/TCP".
        denials.push(vec![Cond::ne32(proto, 0), Cond::ne32(proto, IPPROTO_TCP)]);
    }
    denials
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Endpoint, Origin, Protocol};
    use std::net::{IpAddr, Ipv4Addr};

    fn policy(protocols: &[Protocol]) -> Policy {
        Policy {
            endpoints: protocols
                .iter()
                .map(|&protocol| Endpoint {
                    protocol,
                    addr: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
                    prefix: 32,
                    first_port: 443,
                    last_port: 443,
                    origin: Origin::default(),
                })
                .collect(),
            ..Policy::default()
        }
    }

    fn socket(rules: &RuleSet, family: u64, ty: u64, proto: u64) -> Action {
        rules.decide(
            Sysno::Socket.number(rules.arch),
            &[family, ty, proto, 0, 0, 0],
        )
    }

    #[test]
    fn socket_kinds() {
        let tcp = lower(&policy(&[Protocol::Tcp]), Arch::X86_64);
        let udp = lower(&policy(&[Protocol::Udp]), Arch::X86_64);
        let deny = Action::Errno(EACCES);
        assert_eq!(
            socket(&tcp, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 6),
            Action::Allow
        );
        assert_eq!(socket(&tcp, AF_INET6, SOCK_STREAM, 0), Action::Allow);
        assert_eq!(socket(&tcp, AF_INET, SOCK_DGRAM, 0), deny);
        assert_eq!(socket(&tcp, AF_INET, SOCK_STREAM, 262), deny, "MPTCP");
        assert_eq!(socket(&tcp, 1, SOCK_STREAM, 0), deny, "AF_UNIX");
        assert_eq!(
            socket(&udp, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 17),
            Action::Allow
        );
        assert_eq!(socket(&udp, AF_INET, SOCK_DGRAM, 6), deny);
        assert_eq!(socket(&udp, AF_INET, SOCK_STREAM, 17), deny);
        // Only the low 32 bits of an int argument count.
        assert_eq!(
            socket(&tcp, AF_INET | 1 << 32, SOCK_STREAM, 0),
            Action::Allow
        );
    }

    #[test]
    fn connect_and_sends() {
        let none = lower(&Policy::default(), Arch::Aarch64);
        let udp = lower(&policy(&[Protocol::Udp]), Arch::Aarch64);
        let connect = Sysno::Connect.number(Arch::Aarch64);
        let sendto = Sysno::Sendto.number(Arch::Aarch64);
        assert_eq!(none.decide(connect, &[0; 6]), Action::Errno(EACCES));
        assert_eq!(udp.decide(connect, &[0; 6]), Action::UserNotif);
        assert_eq!(none.decide(sendto, &[0, 0, 0, 0, 1, 0]), Action::Allow);
        assert_eq!(
            udp.decide(sendto, &[0, 0, 0, 0, 1 << 40, 0]),
            Action::UserNotif
        );
        assert_eq!(udp.decide(sendto, &[0, 0, 0, 0, 0, 0]), Action::Allow);
        let fastopen = [0, 0, 0, MSG_FASTOPEN | 0x40, 1, 0];
        assert_eq!(udp.decide(sendto, &fastopen), Action::Errno(EACCES));
    }
}
