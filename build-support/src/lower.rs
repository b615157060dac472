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
/// `SOL_SOCKET`.
pub const SOL_SOCKET: u64 = 1;
/// `SOL_UDP` (= `IPPROTO_UDP`).
pub const SOL_UDP: u64 = 17;
/// `SOL_NETLINK`.
pub const SOL_NETLINK: u64 = 270;
/// `AF_UNIX`.
pub const AF_UNIX: u64 = 1;
/// `AF_NETLINK`.
pub const AF_NETLINK: u64 = 16;
/// `SOCK_RAW`.
pub const SOCK_RAW: u64 = 3;
/// `NETLINK_ROUTE`: links, addresses, routes, neighbours, rules (`ip`, `getifaddrs`).
pub const NETLINK_ROUTE: u64 = 0;
/// `CAP_NET_ADMIN`: what the kernel asks of every rtnetlink request that is not a `GET`.
pub const CAP_NET_ADMIN: u32 = 12;
/// `CAP_NET_RAW`.
pub const CAP_NET_RAW: u32 = 13;
/// `SOCK_SEQPACKET`.
pub const SOCK_SEQPACKET: u64 = 5;
/// `CLONE_NEWUSER`.
pub const CLONE_NEWUSER: u64 = 0x1000_0000;
/// `PRIO_PROCESS` (`setpriority`'s `which`).
pub const PRIO_PROCESS: u64 = 0;
/// `IOPRIO_WHO_PROCESS` (`ioprio_set`'s `which`).
pub const IOPRIO_WHO_PROCESS: u64 = 1;

/// The socket options a sandboxed program may set, by level: none of them changes where a
/// packet goes (routing, interface, source route), how it is filtered (marks, IPsec
/// policies, socket BPF programs), or turns a socket into another kind (`TCP_ULP`,
/// `IPV6_ADDRFORM`). Every other (level, option) pair is refused with `EACCES`. The list
/// covers what curl, Python, Node.js, Go, Java and glibc's resolver set
/// (`cli/tests/runtimes.rs` runs them). Same numbers on x86_64 and aarch64
/// (`asm-generic/socket.h`).
pub const SOCKET_OPTIONS: [(u64, &[u64]); 6] = [
    // SO_REUSEADDR 2, SO_BROADCAST 6, SO_SNDBUF 7, SO_RCVBUF 8, SO_KEEPALIVE 9,
    // SO_OOBINLINE 10, SO_PRIORITY 12, SO_LINGER 13, SO_REUSEPORT 15, SO_PASSCRED 16,
    // SO_RCVLOWAT 18, SO_SNDLOWAT 19, SO_RCVTIMEO_OLD 20, SO_SNDTIMEO_OLD 21,
    // SO_TIMESTAMP_OLD 29, SO_PASSSEC 34, SO_TIMESTAMPNS_OLD 35, SO_TIMESTAMPING_OLD 37,
    // SO_RXQ_OVFL 40, SO_PEEK_OFF 42, SO_SELECT_ERR_QUEUE 45, SO_BUSY_POLL 46,
    // SO_MAX_PACING_RATE 47, SO_INCOMING_CPU 49, SO_ZEROCOPY 60, SO_TIMESTAMP_NEW 63,
    // SO_TIMESTAMPNS_NEW 64, SO_TIMESTAMPING_NEW 65, SO_RCVTIMEO_NEW 66, SO_SNDTIMEO_NEW 67,
    // SO_PREFER_BUSY_POLL 69, SO_BUSY_POLL_BUDGET 70, SO_BUF_LOCK 72, SO_PASSPIDFD 76.
    // Not: SO_DONTROUTE 5, SO_BINDTODEVICE 25, SO_ATTACH_FILTER 26, SO_MARK 36,
    // SO_ATTACH_BPF 50, SO_ATTACH_REUSEPORT_* 51/52, SO_BINDTOIFINDEX 62, the *FORCE ones.
    (
        SOL_SOCKET,
        &[
            2, 6, 7, 8, 9, 10, 12, 13, 15, 16, 18, 19, 20, 21, 29, 34, 35, 37, 40, 42, 45, 46, 47,
            49, 60, 63, 64, 65, 66, 67, 69, 70, 72, 76,
        ],
    ),
    // TCP_NODELAY 1, TCP_MAXSEG 2, TCP_CORK 3, TCP_KEEPIDLE 4, TCP_KEEPINTVL 5,
    // TCP_KEEPCNT 6, TCP_SYNCNT 7, TCP_LINGER2 8, TCP_DEFER_ACCEPT 9, TCP_WINDOW_CLAMP 10,
    // TCP_QUICKACK 12, TCP_CONGESTION 13, TCP_THIN_LINEAR_TIMEOUTS 16, TCP_THIN_DUPACK 17,
    // TCP_USER_TIMEOUT 18, TCP_FASTOPEN 23, TCP_TIMESTAMP 24, TCP_NOTSENT_LOWAT 25,
    // TCP_SAVE_SYN 27, TCP_FASTOPEN_CONNECT 30, TCP_FASTOPEN_NO_COOKIE 34, TCP_INQ 36.
    // Not: TCP_REPAIR* 19-22/29, TCP_ULP 31 (kTLS, SMC), TCP_MD5SIG*, TCP_AO*.
    (
        SOL_TCP,
        &[
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 16, 17, 18, 23, 24, 25, 27, 30, 34, 36,
        ],
    ),
    // IP_TOS 1, IP_TTL 2, IP_PKTINFO 8 (receiving it), IP_MTU_DISCOVER 10, IP_RECVERR 11,
    // IP_RECVTTL 12, IP_RECVTOS 13, IP_BIND_ADDRESS_NO_PORT 24, IP_RECVFRAGSIZE 25,
    // IP_RECVERR_RFC4884 26, IP_MULTICAST_TTL 33, IP_MULTICAST_LOOP 34,
    // IP_MULTICAST_ALL 49 (Java clears it on every datagram socket).
    // Not: IP_LOCAL_PORT_RANGE 51 (a range of one port makes `bind` to port 0 land on a port
    // of the program's choice: a fixed port, or another socket's `SO_REUSEPORT` group;
    // it sits under `SOL_IP` for IPv6 sockets too), IP_OPTIONS 4 and IP_RETOPTS 7 (source routing), IP_IPSEC_POLICY 16,
    // IP_XFRM_POLICY 17, IP_TRANSPARENT 19, IP_FREEBIND 15, IP_MULTICAST_IF 32,
    // group memberships 35-48 (they send IGMP), IP_UNICAST_IF 50, netfilter's
    // IPT_SO_SET_* 64/65 and EBT/ARPT/IP_VS ones.
    (SOL_IP, &[1, 2, 8, 10, 11, 12, 13, 24, 25, 26, 33, 34, 49]),
    // IPV6_UNICAST_HOPS 16, IPV6_MULTICAST_HOPS 18, IPV6_MULTICAST_LOOP 19,
    // IPV6_MTU_DISCOVER 23, IPV6_RECVERR 25, IPV6_V6ONLY 26, IPV6_MULTICAST_ALL 29,
    // IPV6_RECVPKTINFO 49, IPV6_RECVHOPLIMIT 51, IPV6_DONTFRAG 62, IPV6_RECVTCLASS 66,
    // IPV6_TCLASS 67, IPV6_AUTOFLOWLABEL 70, IPV6_ADDR_PREFERENCES 72.
    // Not: IPV6_ADDRFORM 1, the RFC 2292 options 2-8, IPV6_NEXTHOP 9, IPV6_MULTICAST_IF 17,
    // memberships and anycast 20/21/27/28, IPV6_IPSEC_POLICY 34, IPV6_XFRM_POLICY 35,
    // IPV6_PKTINFO 50 (sticky outgoing interface), routing and option headers 54-59,
    // IPV6_TRANSPARENT 75, IPV6_UNICAST_IF 76, IPV6_FREEBIND 78, ip6tables' 64/65.
    (
        SOL_IPV6,
        &[16, 18, 19, 23, 25, 26, 29, 49, 51, 62, 66, 67, 70, 72],
    ),
    // UDP_CORK 1, UDP_SEGMENT 103, UDP_GRO 104. Not: UDP_ENCAP 100 (ESP/GTP/L2TP
    // encapsulation).
    (SOL_UDP, &[1, 103, 104]),
    // Netlink sockets (NETLINK_ROUTE only, issue 12): NETLINK_ADD_MEMBERSHIP 1 and
    // NETLINK_DROP_MEMBERSHIP 2 (route groups: reading changes, as `bind` with groups),
    // NETLINK_PKTINFO 3, NETLINK_BROADCAST_ERROR 4, NETLINK_NO_ENOBUFS 5, NETLINK_CAP_ACK 10,
    // NETLINK_EXT_ACK 11, NETLINK_GET_STRICT_CHK 12 (iproute2 sets the last two). Not:
    // NETLINK_LISTEN_ALL_NSID 8.
    (SOL_NETLINK, &[1, 2, 3, 4, 5, 10, 11, 12]),
];

/// `ioctl` requests a sandboxed program may make in the socket range (`0x89xx`): the ones
/// that only read (interface listing included), by exact value. Every other `0x89xx`
/// request (interface, address, route, ARP, bridge, bonding, VLAN, private device requests)
/// is refused.
pub const SOCKET_IOCTLS: [u64; 31] = [
    0x8901,      // FIOSETOWN (SIGIO target; Landlock scopes the signal)
    0x8902,      // SIOCSPGRP (same)
    0x8903,      // FIOGETOWN
    0x8904,      // SIOCGPGRP
    0x8905,      // SIOCATMARK
    0x8906,      // SIOCGSTAMP_OLD
    0x8907,      // SIOCGSTAMPNS_OLD
    0x8010_8906, // SIOCGSTAMP_NEW
    0x8010_8907, // SIOCGSTAMPNS_NEW
    0x8910,      // SIOCGIFNAME
    0x8912,      // SIOCGIFCONF
    0x8913,      // SIOCGIFFLAGS
    0x8915,      // SIOCGIFADDR
    0x8917,      // SIOCGIFDSTADDR
    0x8919,      // SIOCGIFBRDADDR
    0x891b,      // SIOCGIFNETMASK
    0x891d,      // SIOCGIFMETRIC
    0x891f,      // SIOCGIFMEM
    0x8921,      // SIOCGIFMTU
    0x8925,      // SIOCGIFENCAP
    0x8927,      // SIOCGIFHWADDR
    0x8929,      // SIOCGIFSLAVE
    0x8933,      // SIOCGIFINDEX
    0x8935,      // SIOCGIFPFLAGS
    0x8938,      // SIOCGIFCOUNT
    0x8942,      // SIOCGIFTXQLEN
    0x894b,      // SIOCOUTQNSD
    0x8954,      // SIOCGARP
    0x8961,      // SIOCGRARP
    0x8970,      // SIOCGIFMAP
    0x89b1,      // SIOCGHWTSTAMP
];

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
    /// decides; a call no rule names is allowed unless [`refused`](Self::refused) holds it.
    pub rules: Vec<SyscallRule>,
    /// The numbers the system call profile refuses that no rule names, sorted (issue 14;
    /// [`crate::profiles::lower`]); empty without a profile.
    pub refused: Vec<u32>,
    /// What a number of [`refused`](Self::refused) gets.
    pub refusal: Action,
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
    /// A refusal the supervisor reports: `SECCOMP_RET_USER_NOTIF` with this errno in the
    /// data bits. The kernel ignores a `USER_NOTIF` return's data (`__seccomp_filter` takes
    /// only the action), so the supervisor is notified; it runs the program on the
    /// notification's `seccomp_data` to find the errno, reports the refusal and answers it.
    /// Where no supervisor runs, the runtime turns this return back into
    /// `SECCOMP_RET_ERRNO | errno` (`network_sandbox`'s `filter::resolve_reports`): never
    /// into the fallback's action for checks.
    Report(u16),
    /// A call that is safe only where Landlock keeps it inside the sandbox (ptrace and
    /// `process_vm_readv/writev`: Landlock lets a process reach only processes of its own
    /// domain). Whether the domain exists is known at run time only, so the program returns
    /// a placeholder, `SECCOMP_RET_TRAP` with this errno in the data bits, which the
    /// installer always replaces (`network_sandbox`'s `filter::settle_within_sandbox`): by
    /// `SECCOMP_RET_ALLOW` when the domain is in place, else by `SECCOMP_RET_ERRNO | errno`.
    /// A placeholder left in place still refuses the call (`SIGSYS`): closed, never open.
    WithinSandbox(u16),
}

/// `SECCOMP_RET_KILL_PROCESS`.
pub const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
/// `SECCOMP_RET_ERRNO` (the errno goes in the low 16 bits).
pub const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
/// `SECCOMP_RET_USER_NOTIF`.
pub const SECCOMP_RET_USER_NOTIF: u32 = 0x7fc0_0000;
/// `SECCOMP_RET_ALLOW`.
pub const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
/// `SECCOMP_RET_TRAP`: only as the placeholder of [`Action::WithinSandbox`].
pub const SECCOMP_RET_TRAP: u32 = 0x0003_0000;

impl Action {
    /// The value a seccomp program returns for this action.
    pub fn ret(self) -> u32 {
        match self {
            Action::Allow => SECCOMP_RET_ALLOW,
            Action::Errno(e) => SECCOMP_RET_ERRNO | u32::from(e),
            Action::KillProcess => SECCOMP_RET_KILL_PROCESS,
            Action::UserNotif => SECCOMP_RET_USER_NOTIF,
            Action::Report(e) => SECCOMP_RET_USER_NOTIF | u32::from(e),
            Action::WithinSandbox(e) => SECCOMP_RET_TRAP | u32::from(e),
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

    /// `arg != value` on all 64 bits (pointers).
    pub fn qword_ne(arg: u8, value: u64) -> Cond {
        Cond {
            arg,
            width: Width::Qword,
            op: CmpOp::Ne,
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
        let profile = || {
            if self.refused.binary_search(&nr).is_ok() {
                self.refusal
            } else {
                Action::Allow
            }
        };
        self.rules
            .iter()
            .find(|r| r.nr == nr && r.applies(args))
            .map_or_else(profile, |r| r.action)
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
    // Audit mode (issue 13) hands the supervisor every UDP socket's sends, binds and
    // connects, and every connect even without endpoints, so that it can report what the
    // program uses and let it through; a policy with a UDP endpoint compiles the same rules.
    let audit = policy.options.mode == crate::model::Mode::Audit;
    // Allowed names: the program's DNS queries (UDP first) go to the sandbox's answerer,
    // which the supervisor reaches by replacing the socket (core `answerer`).
    let udp = policy.has_udp() || audit || !policy.names.is_empty();
    // Where the runtime may rewrite every check to ALLOW with no supervisor (`fallback =
    // "landlock-ports"`), a policy without endpoints keeps the rules that need none: connect
    // refused, bind left to the kernel and Landlock, listen refused. Everywhere else a
    // supervisor runs for such a policy too (it reports the filter's refusals), and it
    // judges connect, bind and listen as under a policy with endpoints (issue 12: the
    // program's own unix sockets, `multiprocessing.Manager()`); where it cannot run, the
    // runtime refuses every check outright (core `install::choose_program`).
    let ports_only = policy.options.fallback == crate::model::Fallback::LandlockPorts;
    let no_network = policy.no_network() && !audit && ports_only;
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
    // Every network refusal of this table is reported by the supervisor (it answers the
    // same errno); refusals around the supervisor (ptrace, io_uring, mounts, …) are not.
    let deny = Action::Report(policy.options.deny_errno.errno());

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
    // Query sockets (issue 12, [`query_sockets`]): a send naming a destination on one gets
    // the supervisor's refusal line rather than a bare `EPIPE`. Rare on TCP sockets, which
    // ignore the address; `sendmsg`/`sendmmsg` stay with the kernel (they get `EPIPE`).
    let query = query_sockets(policy);
    if udp || query.any() {
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

    // Unix sockets (issue 12, 13): see [`unix_socket_rules`]. Before the rules below, which
    // then see no unix socket. Query sockets (issue 12, [`query_sockets`]): each kind goes
    // to the supervisor after the refusals, which let it through as if it were allowed.
    if let Some((refusal, allowed)) = unix_socket_rules(policy) {
        rule(Sysno::Socket, deny, refusal);
        if query.unix {
            rule(Sysno::Socket, Action::UserNotif, unix_query_socket());
        }
        rule(Sysno::Socket, Action::Allow, allowed);
    }
    rule(
        Sysno::Socket,
        deny,
        socket_denials(udp || query.ip, netlink_route_allowed(policy)),
    );
    if query.ip {
        rule(Sysno::Socket, Action::UserNotif, ip_query_socket());
    }

    // setsockopt(fd, level, optname, optval, optlen): an allow list per level (see
    // [`SOCKET_OPTIONS`]); any other level or option is refused.
    rule(Sysno::Setsockopt, deny, setsockopt_denials());

    // ioctl(fd, cmd, arg): tun/tap attachment, interface and route changes, userfaultfd,
    // wireless configuration (see [`ioctl_denials`]).
    rule(Sysno::Ioctl, deny, ioctl_denials());

    rule(Sysno::Sendmmsg, deny, fastopen(3));
    if udp {
        rule(Sysno::Sendmmsg, Action::UserNotif, always());
    }

    // Bind before connect (issue 12): the supervisor lets a TCP or UDP socket bind to port
    // 0 (a port the kernel picks) and a netlink route socket bind (iproute2 and Go bind
    // before they ask), and binds a unix socket in the caller's view (`own.rs`). Under a
    // policy without endpoints and `fallback = "landlock-ports"` (no unix socket is made
    // there) bind is left to the kernel and Landlock (a TCP bind only to port 0 where
    // Landlock handles binds).
    let bind = if no_network {
        Action::Allow
    } else {
        Action::UserNotif
    };
    rule(Sysno::Bind, bind, always());
    // listen(fd, backlog): a check wherever a supervisor serves: it lets a unix socket
    // listen (issue 12: `multiprocessing.Manager()` serves itself over a socket it binds)
    // and a TCP socket only where the policy says `listen`. Without `listen` entries,
    // refused under `fallback = "landlock-ports"`, where the runtime may rewrite every
    // check to ALLOW (no unix socket is made there, and an autobound TCP listener would
    // take connections).
    let listen = if policy.listen.is_empty() && ports_only {
        deny
    } else {
        Action::UserNotif
    };
    rule(Sysno::Listen, listen, always());
    // socketpair(domain, type, protocol, sv): unix stream and seqpacket pairs only. A
    // datagram (or SOCK_RAW, which unix turns into datagram) socket may name any pathname
    // socket in sendto/sendmsg; the supervisor would have to see every sendmsg to stop it.
    rule(Sysno::Socketpair, deny, socketpair_denials());
    for io_uring in [
        Sysno::IoUringSetup,
        Sysno::IoUringEnter,
        Sysno::IoUringRegister,
    ] {
        rule(io_uring, Action::Errno(ENOSYS), always());
    }
    // --- Debuggers and sanitizers (issue 12): ptrace and process_vm_readv/writev. ---
    // Allowed between the sandbox's own processes where Landlock confines them to its
    // domain (gdb, strace -f, LeakSanitizer), refused (EPERM) elsewhere: the installer
    // settles the placeholder at run time (Action::WithinSandbox). pidfd_getfd stays
    // refused: no debugger needs it, and it would hand over another process's sockets.
    for inspect in [Sysno::Ptrace, Sysno::ProcessVmReadv, Sysno::ProcessVmWritev] {
        rule(inspect, Action::WithinSandbox(EPERM), always());
    }
    rule(Sysno::PidfdGetfd, Action::Errno(EPERM), always());
    // --- end of debuggers and sanitizers ---
    // Ways for a privileged program to change the kernel under the sandbox: a cgroup BPF
    // program can rewrite the destination of the supervisor's own connects, a module or a
    // new kernel can do anything.
    // request_key upcalls /sbin/request-key, which runs outside the sandbox as root and,
    // for a dns_resolver key, looks up a name the caller chose.
    for kernel in [
        Sysno::RequestKey,
        Sysno::Bpf,
        Sysno::InitModule,
        Sysno::FinitModule,
        Sysno::KexecLoad,
        Sysno::KexecFileLoad,
    ] {
        rule(kernel, Action::Errno(EPERM), always());
    }

    // Other processes: the calls Landlock's scopes do not see, allowed on the caller only
    // (pid 0). A filter cannot know the caller's own pid, so a thread's own tid is refused
    // too (docs/ARCHITECTURE.md, "Other processes").
    let eperm = Action::Errno(EPERM);
    let (pid0, pid1) = (0, 1);
    // prlimit64(pid, resource, new, old): reading another process's limits stays allowed.
    rule(
        Sysno::Prlimit64,
        eperm,
        vec![vec![Cond::ne32(pid0, 0), Cond::qword_ne(2, 0)]],
    );
    // setpriority(which, who, prio): PRIO_PROCESS of the caller only (PRIO_PGRP 0 and
    // PRIO_USER 0 reach the supervisor too).
    rule(
        Sysno::Setpriority,
        eperm,
        vec![vec![Cond::ne32(0, PRIO_PROCESS)], vec![Cond::ne32(pid1, 0)]],
    );
    // ioprio_set(which, who, ioprio): IOPRIO_WHO_PROCESS of the caller only.
    rule(
        Sysno::IoprioSet,
        eperm,
        vec![
            vec![Cond::ne32(0, IOPRIO_WHO_PROCESS)],
            vec![Cond::ne32(pid1, 0)],
        ],
    );
    for own in [
        Sysno::SchedSetparam,
        Sysno::SchedSetscheduler,
        Sysno::SchedSetaffinity,
        Sysno::SchedSetattr,
        Sysno::MigratePages,
        Sysno::MovePages,
    ] {
        rule(own, eperm, vec![vec![Cond::ne32(pid0, 0)]]);
    }
    // process_madvise(pidfd, …): a pidfd says nothing about whose it is.
    rule(Sysno::ProcessMadvise, eperm, always());

    // The tools that park the supervisor on a read that never ends: userfaultfd, and the
    // user namespaces in which a FUSE file system can be mounted. clone3's flags are behind
    // a pointer: ENOSYS, and libc falls back to clone, whose flags are checked.
    rule(Sysno::Userfaultfd, eperm, always());
    let newuser = |arg| {
        vec![vec![Cond {
            arg,
            width: Width::Dword,
            op: CmpOp::MaskedEq(CLONE_NEWUSER),
            value: CLONE_NEWUSER,
        }]]
    };
    rule(Sysno::Clone, eperm, newuser(0));
    rule(Sysno::Unshare, eperm, newuser(0));
    rule(Sysno::Clone3, Action::Errno(ENOSYS), always());
    // Mounts (also refused by the missing CAP_SYS_ADMIN): the read-only kernel tunables
    // must stay read-only; joining another namespace would leave them.
    for mount in [
        Sysno::Setns,
        Sysno::Mount,
        Sysno::Umount2,
        Sysno::PivotRoot,
        Sysno::OpenTree,
        Sysno::MoveMount,
        Sysno::Fsopen,
        Sysno::Fsmount,
        Sysno::Fspick,
        Sysno::MountSetattr,
    ] {
        rule(mount, eperm, always());
    }

    // Datagram sends to `unix:` endpoints: with no UDP sends already notified, a send that
    // may name an address goes to the supervisor (it resolves and checks unix addresses).
    if policy.has_unix() && !udp {
        let dest = Cond::qword_ne(4, 0);
        if !query.any() {
            rule(Sysno::Sendto, Action::UserNotif, vec![vec![dest]]);
        }
        rule(Sysno::Sendmsg, Action::UserNotif, always());
        rule(Sysno::Sendmmsg, Action::UserNotif, always());
    }

    // The system call profile (issue 14), on top of the rules above.
    let (refused, refusal) = crate::profiles::lower(policy, arch, &mut rules);
    RuleSet {
        arch,
        audit_arch: syscalls::audit_arch(arch),
        kill_x32: arch == Arch::X86_64,
        max_nr: syscalls::max_nr(arch),
        rules,
        refused,
        refusal,
    }
}

/// Whether `policy` compiles to a second program, the one installed where no supervisor can
/// run ([`lower_unsupervised`]): a policy without endpoints of any kind (no address, name or
/// `unix:` socket) and without `listen` entries, in enforce mode, whose fallback is not
/// `landlock-ports` (issue 12). Such a policy hands `connect`, `bind`, `listen` and its
/// query sockets to the supervisor only for the program's own unix sockets and interface
/// queries, so it starts without one, whatever its fallback, and loses nothing it allows.
/// Every other policy carries no second program.
pub fn needs_unsupervised(policy: &Policy) -> bool {
    policy.no_network()
        && policy.listen.is_empty()
        && policy.options.mode == crate::model::Mode::Enforce
        && policy.options.fallback != crate::model::Fallback::LandlockPorts
}

/// The rules of the program installed instead of [`lower`]'s where no supervisor can run (a
/// kernel feature missing, nested inside another sandbox), for a policy that has one
/// ([`needs_unsupervised`]); `None` for every other policy.
///
/// They are [`lower`]'s rules with every answer that needs the supervisor settled, as data:
///
/// - a check ([`Action::UserNotif`]) of `bind` or `sendto` becomes [`Action::Allow`]: the
///   two checks such a policy ran without a supervisor before connect, bind and listen
///   became checks. `bind` is left to the kernel and Landlock (a TCP socket binds only to
///   port 0 where Landlock handles binds, and no socket of this policy can reach anything),
///   as the `landlock-ports` fallback compiles it; `sendto` stays allowed (glibc's
///   `getifaddrs` names its netlink peer) except with `MSG_FASTOPEN`, whose refusal is a
///   rule of its own before the check;
/// - every other check (`connect`, `listen`, query sockets) becomes
///   [`Action::Errno`] with the policy's `deny_errno`;
/// - every reported refusal ([`Action::Report`]) becomes [`Action::Errno`] with its errno:
///   nobody reports here.
///
/// The system call profile was applied before (it is part of [`lower`]): a `bind` or
/// `sendto` it refuses has lost its check for the profile's refusal, and stays refused.
/// The prologue (architecture, x32, unknown numbers) is [`lower`]'s. The program has no
/// `SECCOMP_RET_USER_NOTIF` return.
pub fn lower_unsupervised(policy: &Policy, arch: Arch) -> Option<RuleSet> {
    if !needs_unsupervised(policy) {
        return None;
    }
    let deny = policy.options.deny_errno.errno();
    let settle = |syscall: Option<Sysno>, action: Action| match action {
        Action::UserNotif if matches!(syscall, Some(Sysno::Bind | Sysno::Sendto)) => Action::Allow,
        Action::UserNotif => Action::Errno(deny),
        Action::Report(errno) => Action::Errno(errno),
        other => other,
    };
    let mut set = lower(policy, arch);
    for rule in &mut set.rules {
        rule.action = settle(Some(rule.syscall), rule.action);
    }
    set.refusal = settle(None, set.refusal);
    Some(set)
}

/// When `setsockopt(fd, level, optname, …)` is denied: for each level of
/// [`SOCKET_OPTIONS`], "this level and none of its options"; then "none of the levels".
/// One conjunction per level, so a call runs one comparison per level tested and one per
/// option of its own level at most.
fn setsockopt_denials() -> Vec<Vec<Cond>> {
    let (level, name) = (1, 2);
    let mut denials: Vec<Vec<Cond>> = SOCKET_OPTIONS
        .iter()
        .map(|&(l, names)| {
            let mut all = vec![Cond::eq32(level, l)];
            all.extend(names.iter().map(|&n| Cond::ne32(name, n)));
            all
        })
        .collect();
    denials.push(
        SOCKET_OPTIONS
            .iter()
            .map(|&(l, _)| Cond::ne32(level, l))
            .collect(),
    );
    denials
}

/// `_IOC_TYPE` 'T' with a number from 192 up: the tun/tap family (`TUNSETIFF` is
/// `_IOW('T', 202, int)`, the family runs from 200; terminal requests of type 'T' stay
/// below 0x50). Compared on the low 16 bits, so any size and direction matches.
pub const TUN_IOCTL_MASK: u64 = 0xffc0;
/// See [`TUN_IOCTL_MASK`].
pub const TUN_IOCTL_TYPE: u64 = 0x54c0;
/// userfaultfd's ioctl type 0xAA: `USERFAULTFD_IOC_NEW` on `/dev/userfaultfd` and every
/// `UFFDIO_*` request.
pub const UFFD_IOCTL_TYPE: u64 = 0xaa00;
/// Wireless extensions setting requests: 0x8Bxx with an even number (`IW_IS_SET`).
pub const WIRELESS_SET_MASK: u64 = 0xff01;
/// See [`WIRELESS_SET_MASK`].
pub const WIRELESS_SET: u64 = 0x8b00;

/// `TIOCSTI`: pushes characters into a terminal's input, which the shell that started the
/// sandboxed program reads (and runs, unsandboxed) after it.
pub const TIOCSTI: u64 = 0x5412;
/// `TIOCLINUX`: its selection subcommands paste into a virtual console the same way.
pub const TIOCLINUX: u64 = 0x541c;

/// When `ioctl(fd, request, …)` is denied: the tun/tap family, userfaultfd, wireless
/// setting requests, socket requests (`0x89xx`) other than [`SOCKET_IOCTLS`], and the
/// terminal requests that type into another program's input ([`TIOCSTI`], [`TIOCLINUX`]).
fn ioctl_denials() -> Vec<Vec<Cond>> {
    let request = 1;
    let masked = |mask, value| Cond {
        arg: request,
        width: Width::Dword,
        op: CmpOp::MaskedEq(mask),
        value,
    };
    let mut socket = vec![masked(0xff00, 0x8900)];
    socket.extend(SOCKET_IOCTLS.iter().map(|&r| Cond::ne32(request, r)));
    vec![
        vec![masked(TUN_IOCTL_MASK, TUN_IOCTL_TYPE)],
        socket,
        vec![masked(0xff00, UFFD_IOCTL_TYPE)],
        vec![masked(WIRELESS_SET_MASK, WIRELESS_SET)],
        vec![Cond::eq32(request, TIOCSTI)],
        vec![Cond::eq32(request, TIOCLINUX)],
    ]
}

/// When `socketpair(domain, type, protocol, sv)` is denied: a domain other than `AF_UNIX`,
/// or a type other than `SOCK_STREAM`/`SOCK_SEQPACKET` with any of the flags
/// `SOCK_NONBLOCK`/`SOCK_CLOEXEC` (enumerated, so `SOCK_DGRAM`, `SOCK_RAW` and any other
/// bit are refused).
fn socketpair_denials() -> Vec<Vec<Cond>> {
    let (family, ty) = (0, 1);
    let flags = [0, SOCK_NONBLOCK, SOCK_CLOEXEC, SOCK_NONBLOCK | SOCK_CLOEXEC];
    let types = [SOCK_STREAM, SOCK_SEQPACKET]
        .iter()
        .flat_map(|t| flags.iter().map(move |f| t | f));
    vec![
        vec![Cond::ne32(family, AF_UNIX)],
        types.map(|t| Cond::ne32(ty, t)).collect(),
    ]
}

/// Whether the policy may open `NETLINK_ROUTE` sockets (interface listing, issue 12): yes,
/// unless it keeps `CAP_NET_ADMIN` or `CAP_NET_RAW`. What stops a route socket from changing
/// addresses, links and routes is the kernel itself, which asks `CAP_NET_ADMIN` of every
/// request but a `GET`; a policy that keeps that capability (or `CAP_NET_RAW`, kept for the
/// same kind of program) keeps netlink refused.
pub fn netlink_route_allowed(policy: &Policy) -> bool {
    let kept = policy.options.keep_capabilities;
    kept & (1 << CAP_NET_ADMIN | 1 << CAP_NET_RAW) == 0
}

/// An OR of ANDs of conditions: when a rule applies.
pub type Conditions = Vec<Vec<Cond>>;

/// The unix sockets a program may make, as two rules that come before the other `socket`
/// rules: `(refusal, allow)`, or `None` when no unix socket is allowed. Unix stream and
/// seqpacket sockets (with `SOCK_NONBLOCK`/`SOCK_CLOEXEC`, enumerated) for every policy, so
/// that glibc's nscd probe reaches its `connect`, which the supervisor answers (`ENOENT`,
/// silently, when the path does not exist); unix datagram sockets too when the policy has a
/// `unix:` endpoint, whose sends the supervisor then checks (or, without one, for the query
/// socket rule that follows the refusal: [`query_sockets`]). Protocol exactly 0. The
/// refusal holds the unix sockets of other types or protocols; the allow rule is then
/// "family `AF_UNIX`". Each conjunction tests the family first, so another family pays three
/// comparisons.
///
/// Not under `fallback = "landlock-ports"`: there the runtime may rewrite the connect check
/// to `ALLOW` with no supervisor, and a unix connect would reach any socket.
pub fn unix_socket_rules(policy: &Policy) -> Option<(Conditions, Conditions)> {
    if policy.options.fallback == crate::model::Fallback::LandlockPorts {
        return None;
    }
    let (family, ty, proto) = (0, 1, 2);
    let flags = [0, SOCK_NONBLOCK, SOCK_CLOEXEC, SOCK_NONBLOCK | SOCK_CLOEXEC];
    let mut types = vec![SOCK_STREAM, SOCK_SEQPACKET];
    // Datagram ones pass on to the query socket rule without a `unix:` endpoint.
    if policy.has_unix() || query_sockets(policy).unix {
        types.push(SOCK_DGRAM);
    }
    let mut other_type = vec![Cond::eq32(family, AF_UNIX)];
    other_type.extend(
        types
            .iter()
            .flat_map(|t| flags.iter().map(move |f| t | f))
            .map(|t| Cond::ne32(ty, t)),
    );
    let refusal = vec![
        other_type,
        vec![Cond::eq32(family, AF_UNIX), Cond::ne32(proto, 0)],
    ];
    Some((refusal, vec![vec![Cond::eq32(family, AF_UNIX)]]))
}

/// Which datagram sockets become *query sockets* under a policy (issue 12): sockets the
/// supervisor makes itself, shuts down for sending and receiving, and installs in the
/// program, so that the `SIOCGIF*` requests programs ask on a datagram socket (Java's
/// `NetworkInterface`, glibc's `if_nametoindex` and `__opensock`) work under a policy
/// that does not otherwise allow the socket. A shut-down datagram socket cannot send
/// (`EPIPE`, which the supervisor checks once before it makes the first one).
///
/// Only where a supervisor checks: not in audit mode (where UDP sockets and unix datagram
/// sockets are made anyway), not under `fallback = "landlock-ports"` (where the runtime may
/// rewrite every check to `ALLOW`: the sockets would be made unchecked). Policies without
/// endpoints have them too (a supervisor runs for them; where it cannot, the runtime
/// refuses every check, these sockets included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuerySockets {
    /// `socket(AF_INET | AF_INET6, SOCK_DGRAM, 0 | IPPROTO_UDP)`: the policy allows no UDP.
    pub ip: bool,
    /// `socket(AF_UNIX, SOCK_DGRAM, 0)`: the policy has no `unix:` endpoint.
    pub unix: bool,
}

impl QuerySockets {
    /// Whether any socket becomes a query socket.
    pub fn any(self) -> bool {
        self.ip || self.unix
    }
}

/// The query sockets of `policy`: see [`QuerySockets`].
pub fn query_sockets(policy: &Policy) -> QuerySockets {
    let supervised = policy.options.mode == crate::model::Mode::Enforce
        && policy.options.fallback != crate::model::Fallback::LandlockPorts;
    let udp = policy.has_udp() || !policy.names.is_empty();
    QuerySockets {
        ip: supervised && !udp,
        unix: supervised && !policy.has_unix(),
    }
}

/// When a unix socket is a query socket: `AF_UNIX`, type `SOCK_DGRAM` with any of
/// `SOCK_NONBLOCK`/`SOCK_CLOEXEC`, protocol 0. The type is compared on every bit but those
/// two flags (`type & !(SOCK_NONBLOCK | SOCK_CLOEXEC) == SOCK_DGRAM`, the four enumerated
/// values exactly: no other bit passes), so that another family pays one comparison.
/// Exact values, so the rule overlaps no other `socket` rule and its place only decides
/// what it costs: after [`unix_socket_rules`]' refusal.
fn unix_query_socket() -> Conditions {
    let (family, ty, proto) = (0, 1, 2);
    let flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
    vec![vec![
        Cond::eq32(family, AF_UNIX),
        Cond {
            arg: ty,
            width: Width::Dword,
            op: CmpOp::MaskedEq(u64::from(u32::MAX) & !flags),
            value: SOCK_DGRAM,
        },
        Cond::eq32(proto, 0),
    ]]
}

/// When an IP socket is a query socket: `AF_INET`/`AF_INET6`, type exactly `SOCK_DGRAM` with
/// any of `SOCK_NONBLOCK`/`SOCK_CLOEXEC` (enumerated), protocol 0 or `IPPROTO_UDP`. Exact
/// values, so the rule overlaps no other `socket` rule; placed after [`socket_denials`],
/// whose type test already decided the type (a TCP socket's jump passes the whole rule).
fn ip_query_socket() -> Conditions {
    let (family, ty, proto) = (0, 1, 2);
    let flags = [0, SOCK_NONBLOCK, SOCK_CLOEXEC, SOCK_NONBLOCK | SOCK_CLOEXEC];
    let mut out = Vec::new();
    for f in flags {
        for fam in [AF_INET, AF_INET6] {
            for p in [0, IPPROTO_UDP] {
                out.push(vec![
                    Cond::eq32(ty, SOCK_DGRAM | f),
                    Cond::eq32(family, fam),
                    Cond::eq32(proto, p),
                ]);
            }
        }
    }
    out
}

/// When `socket(family, type, protocol)` is denied, as an OR of ANDs of exact comparisons.
///
/// Allowed: family `AF_INET`/`AF_INET6`; type exactly `SOCK_STREAM` with any of the flags
/// `SOCK_NONBLOCK`/`SOCK_CLOEXEC` and protocol 0 or `IPPROTO_TCP`; with UDP also `SOCK_DGRAM`
/// (same flags) with protocol 0 or `IPPROTO_UDP`. With `netlink` also `AF_NETLINK` with type
/// `SOCK_RAW` or `SOCK_DGRAM` (same flags) and protocol `NETLINK_ROUTE` only. Types are
/// enumerated, never masked, so no other bit of `type` passes.
fn socket_denials(udp: bool, netlink: bool) -> Vec<Vec<Cond>> {
    let (family, ty, proto) = (0, 1, 2);
    let flags = [0, SOCK_NONBLOCK, SOCK_CLOEXEC, SOCK_NONBLOCK | SOCK_CLOEXEC];
    let stream: Vec<u64> = flags.iter().map(|f| SOCK_STREAM | f).collect();
    let dgram: Vec<u64> = flags.iter().map(|f| SOCK_DGRAM | f).collect();

    let mut families = vec![Cond::ne32(family, AF_INET), Cond::ne32(family, AF_INET6)];
    if netlink {
        families.push(Cond::ne32(family, AF_NETLINK));
    }
    let mut denials = vec![families];
    let mut allowed_types = stream.clone();
    if udp {
        allowed_types.extend(&dgram);
    }
    let mut ip_types: Vec<Cond> = allowed_types.iter().map(|&t| Cond::ne32(ty, t)).collect();
    if netlink {
        // A netlink socket: raw or datagram (the same thing for netlink), NETLINK_ROUTE only
        // (not sock_diag, netfilter, audit, generic, uevent, xfrm, …).
        let raw = flags.iter().map(|f| SOCK_RAW | f);
        let mut nl_types = vec![Cond::eq32(family, AF_NETLINK)];
        nl_types.extend(raw.chain(dgram.iter().copied()).map(|t| Cond::ne32(ty, t)));
        denials.push(nl_types);
        denials.push(vec![
            Cond::eq32(family, AF_NETLINK),
            Cond::ne32(proto, NETLINK_ROUTE),
        ]);
        // The IP families' type list applies to them only.
        ip_types.insert(0, Cond::ne32(family, AF_NETLINK));
    }
    denials.push(ip_types);
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
        let deny = Action::Report(EACCES);
        assert_eq!(
            socket(&tcp, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 6),
            Action::Allow
        );
        assert_eq!(socket(&tcp, AF_INET6, SOCK_STREAM, 0), Action::Allow);
        assert_eq!(socket(&tcp, AF_INET, SOCK_DGRAM, 6), deny);
        assert_eq!(socket(&tcp, AF_INET, SOCK_STREAM, 262), deny, "MPTCP");
        assert_eq!(
            socket(&tcp, 1, SOCK_STREAM, 0),
            Action::Allow,
            "AF_UNIX stream"
        );
        assert_eq!(
            socket(&tcp, 1, SOCK_SEQPACKET | SOCK_CLOEXEC, 0),
            Action::Allow
        );
        assert_eq!(
            socket(&tcp, 1, SOCK_DGRAM, 1),
            deny,
            "unix datagram: protocol 0"
        );
        assert_eq!(socket(&tcp, 1, SOCK_STREAM, 1), deny, "protocol 0 only");
        assert_eq!(socket(&tcp, 1, 3, 0), deny, "SOCK_RAW");
        assert_eq!(
            socket(&udp, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 17),
            Action::Allow
        );
        assert_eq!(socket(&udp, AF_INET, SOCK_DGRAM, 6), deny);
        assert_eq!(socket(&udp, AF_INET, SOCK_STREAM, 17), deny);
        // NETLINK_ROUTE only (interface listing), raw or datagram.
        assert_eq!(
            socket(&tcp, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0),
            Action::Allow
        );
        assert_eq!(socket(&tcp, AF_NETLINK, SOCK_DGRAM, 0), Action::Allow);
        assert_eq!(socket(&tcp, AF_NETLINK, SOCK_RAW, 4), deny, "sock_diag");
        assert_eq!(socket(&tcp, AF_NETLINK, SOCK_RAW, 16), deny, "generic");
        assert_eq!(socket(&tcp, AF_NETLINK, SOCK_STREAM, 0), deny);
        assert_eq!(socket(&tcp, AF_INET, SOCK_RAW, 0), deny);
        let mut admin = policy(&[Protocol::Tcp]);
        admin.options.keep_capabilities = 1 << CAP_NET_ADMIN;
        let admin = lower(&admin, Arch::X86_64);
        assert_eq!(
            socket(&admin, AF_NETLINK, SOCK_RAW, 0),
            deny,
            "keeps NET_ADMIN"
        );
        // Only the low 32 bits of an int argument count.
        assert_eq!(
            socket(&tcp, AF_INET | 1 << 32, SOCK_STREAM, 0),
            Action::Allow
        );
    }

    #[test]
    fn query_sockets_go_to_the_supervisor() {
        use crate::model::{Fallback, Mode, NamedEndpoint, UnixEndpoint, UnixName};
        let tcp = lower(&policy(&[Protocol::Tcp]), Arch::X86_64);
        let (q, deny) = (Action::UserNotif, Action::Report(EACCES));
        let flags = [0, SOCK_NONBLOCK, SOCK_CLOEXEC, SOCK_NONBLOCK | SOCK_CLOEXEC];
        for f in flags {
            for family in [AF_INET, AF_INET6] {
                for proto in [0, IPPROTO_UDP] {
                    assert_eq!(socket(&tcp, family, SOCK_DGRAM | f, proto), q);
                }
            }
            assert_eq!(socket(&tcp, AF_UNIX, SOCK_DGRAM | f, 0), q);
        }
        // Exact values only: no other flag, type, protocol or family.
        assert_eq!(socket(&tcp, AF_INET, SOCK_DGRAM | 0x10, 0), deny);
        assert_eq!(socket(&tcp, AF_INET, SOCK_DGRAM, 1), deny, "ICMP");
        assert_eq!(socket(&tcp, AF_INET, SOCK_DGRAM, 136), deny, "UDP-Lite");
        assert_eq!(socket(&tcp, AF_INET6, SOCK_DGRAM, 58), deny, "ICMPv6");
        assert_eq!(socket(&tcp, AF_INET, SOCK_RAW, IPPROTO_UDP), deny);
        assert_eq!(socket(&tcp, AF_UNIX, SOCK_DGRAM, 1), deny);
        assert_eq!(socket(&tcp, AF_UNIX, SOCK_DGRAM | 0x10, 0), deny);
        assert_eq!(socket(&tcp, AF_UNIX, SOCK_DGRAM | 1 << 31, 0), deny);
        assert_eq!(socket(&tcp, AF_INET6, SOCK_DGRAM | 1 << 31, 0), deny);
        assert_eq!(
            socket(&tcp, AF_UNIX, SOCK_RAW, 0),
            deny,
            "unix raw is datagram"
        );
        assert_eq!(socket(&tcp, 17, SOCK_DGRAM, 0), deny, "AF_PACKET");
        assert_eq!(socket(&tcp, AF_NETLINK, SOCK_DGRAM, 0), Action::Allow);
        // The low 32 bits only, as the kernel reads an int.
        assert_eq!(socket(&tcp, AF_INET | 1 << 32, SOCK_DGRAM, 0), q);
        // A send naming a destination goes to the supervisor (a refusal line instead of
        // EPIPE); one on the socket's peer, sendmsg and sendmmsg stay with the kernel.
        let nr = |s: Sysno| s.number(Arch::X86_64);
        assert_eq!(tcp.decide(nr(Sysno::Sendto), &[3, 0, 1, 0, 1 << 40, 16]), q);
        assert_eq!(
            tcp.decide(nr(Sysno::Sendto), &[3, 0, 1, 0, 0, 0]),
            Action::Allow
        );
        assert_eq!(
            tcp.decide(nr(Sysno::Sendmsg), &[3, 1, 0, 0, 0, 0]),
            Action::Allow
        );
        assert_eq!(
            tcp.decide(nr(Sysno::Sendmmsg), &[3, 1, 1, 0, 0, 0]),
            Action::Allow
        );
        // Multicast and anycast joins (the kernel would send IGMP/MLD) stay refused.
        let opt = |level, name| tcp.decide(nr(Sysno::Setsockopt), &[3, level, name, 0, 8, 0]);
        for name in 35..=48 {
            assert_eq!(opt(SOL_IP, name), deny, "SOL_IP {name}");
        }
        for name in [20, 21, 27, 28, 42, 43, 44, 45, 46, 47, 48] {
            assert_eq!(opt(SOL_IPV6, name), deny, "SOL_IPV6 {name}");
        }

        // Where UDP sockets are made already, the IP ones are not query sockets.
        let udp = lower(&policy(&[Protocol::Udp]), Arch::X86_64);
        assert_eq!(socket(&udp, AF_INET, SOCK_DGRAM, 0), Action::Allow);
        assert_eq!(socket(&udp, AF_UNIX, SOCK_DGRAM, 0), q, "no unix: endpoint");
        let mut named = policy(&[Protocol::Tcp]);
        named.names.push(NamedEndpoint {
            name: "example.test".into(),
            protocol: Protocol::Tcp,
            first_port: 443,
            last_port: 443,
            pinned: vec![],
            origin: Origin::default(),
        });
        assert_eq!(
            query_sockets(&named),
            QuerySockets {
                ip: false,
                unix: true
            }
        );
        // A unix: endpoint makes unix datagram sockets; IP ones stay query sockets.
        let mut unix = policy(&[Protocol::Tcp]);
        unix.unix.push(UnixEndpoint {
            name: UnixName::Path("/run/app.sock".into()),
            origin: Origin::default(),
        });
        let with_unix = lower(&unix, Arch::X86_64);
        assert_eq!(socket(&with_unix, AF_UNIX, SOCK_DGRAM, 0), Action::Allow);
        assert_eq!(socket(&with_unix, AF_INET6, SOCK_DGRAM, 0), q);
        // Without endpoints too: a supervisor runs there (the runtime refuses every check
        // where it cannot).
        let none = lower(&Policy::default(), Arch::X86_64);
        assert_eq!(socket(&none, AF_INET, SOCK_DGRAM, 0), q, "no endpoint");
        assert_eq!(socket(&none, AF_UNIX, SOCK_DGRAM, 0), q, "no endpoint");
        assert_eq!(
            query_sockets(&Policy::default()),
            QuerySockets {
                ip: true,
                unix: true
            }
        );
        // One that would be bypassed: refused as before.
        let mut none_ports = Policy::default();
        none_ports.options.fallback = Fallback::LandlockPorts;
        assert_eq!(query_sockets(&none_ports), QuerySockets::default());
        let none_ports = lower(&none_ports, Arch::X86_64);
        assert_eq!(socket(&none_ports, AF_INET, SOCK_DGRAM, 0), deny);
        assert_eq!(socket(&none_ports, AF_UNIX, SOCK_DGRAM, 0), deny);
        let mut ports = policy(&[Protocol::Tcp]);
        ports.options.fallback = Fallback::LandlockPorts;
        let ports = lower(&ports, Arch::X86_64);
        assert_eq!(
            socket(&ports, AF_INET, SOCK_DGRAM, 0),
            deny,
            "landlock-ports"
        );
        assert_eq!(
            socket(&ports, AF_UNIX, SOCK_DGRAM, 0),
            deny,
            "landlock-ports"
        );
        let mut deny_all = policy(&[Protocol::Tcp]);
        deny_all.options.fallback = Fallback::DenyAll;
        let deny_all = lower(&deny_all, Arch::X86_64);
        assert_eq!(
            socket(&deny_all, AF_INET, SOCK_DGRAM, 0),
            q,
            "rewritten to ERRNO"
        );
        // Audit mode makes the real sockets, as before.
        let mut audit = policy(&[Protocol::Tcp]);
        audit.options.mode = Mode::Audit;
        assert_eq!(query_sockets(&audit), QuerySockets::default());
        let audit = lower(&audit, Arch::X86_64);
        assert_eq!(socket(&audit, AF_INET, SOCK_DGRAM, 0), Action::Allow);
    }

    #[test]
    fn unix_endpoints() {
        use crate::model::{Fallback, UnixEndpoint, UnixName};
        let mut unix = Policy {
            unix: vec![UnixEndpoint {
                name: UnixName::Path("/run/app.sock".into()),
                origin: Origin::default(),
            }],
            ..Policy::default()
        };
        let rules = lower(&unix, Arch::X86_64);
        let nr = |s: Sysno| s.number(Arch::X86_64);
        assert_eq!(
            socket(&rules, 1, SOCK_DGRAM | SOCK_CLOEXEC, 0),
            Action::Allow
        );
        // No UDP: a query socket, which the supervisor makes shut down.
        assert_eq!(socket(&rules, AF_INET, SOCK_DGRAM, 0), Action::UserNotif);
        assert_eq!(rules.decide(nr(Sysno::Connect), &[0; 6]), Action::UserNotif);
        let sendto = |dest| rules.decide(nr(Sysno::Sendto), &[3, 0, 0, 0, dest, 0]);
        assert_eq!(sendto(1 << 40), Action::UserNotif);
        assert_eq!(sendto(0), Action::Allow);
        assert_eq!(rules.decide(nr(Sysno::Sendmsg), &[0; 6]), Action::UserNotif);
        // Without the supervisor's check (landlock-ports) no unix socket is made at all.
        unix.options.fallback = Fallback::LandlockPorts;
        let ports = lower(&unix, Arch::X86_64);
        assert_eq!(socket(&ports, 1, SOCK_STREAM, 0), Action::Report(EACCES));
        let mut tcp = policy(&[Protocol::Tcp]);
        tcp.options.fallback = Fallback::LandlockPorts;
        let tcp = lower(&tcp, Arch::X86_64);
        assert_eq!(socket(&tcp, 1, SOCK_STREAM, 0), Action::Report(EACCES));
    }

    #[test]
    fn connect_and_sends() {
        let none = lower(&Policy::default(), Arch::Aarch64);
        let udp = lower(&policy(&[Protocol::Udp]), Arch::Aarch64);
        let connect = Sysno::Connect.number(Arch::Aarch64);
        let sendto = Sysno::Sendto.number(Arch::Aarch64);
        assert_eq!(none.decide(connect, &[0; 6]), Action::UserNotif);
        assert_eq!(udp.decide(connect, &[0; 6]), Action::UserNotif);
        // Without endpoints, connect, bind and listen are the supervisor's checks (issue
        // 12: the program's own unix sockets), except under `fallback = "landlock-ports"`,
        // whose runtime may rewrite every check to ALLOW: there connect and listen stay
        // refused and bind is left to the kernel and Landlock.
        let (bind, listen) = (
            Sysno::Bind.number(Arch::Aarch64),
            Sysno::Listen.number(Arch::Aarch64),
        );
        assert_eq!(none.decide(bind, &[0; 6]), Action::UserNotif);
        assert_eq!(none.decide(listen, &[0; 6]), Action::UserNotif);
        let mut ports = Policy::default();
        ports.options.fallback = crate::model::Fallback::LandlockPorts;
        let ports = lower(&ports, Arch::Aarch64);
        assert_eq!(ports.decide(connect, &[0; 6]), Action::Report(EACCES));
        assert_eq!(ports.decide(bind, &[0; 6]), Action::Allow);
        assert_eq!(ports.decide(listen, &[0; 6]), Action::Report(EACCES));
        assert_eq!(
            ports.decide(sendto, &[0, 0, 0, 0, 1 << 40, 0]),
            Action::Allow
        );
        let mut audit = Policy::default();
        audit.options.mode = crate::model::Mode::Audit;
        let audit = lower(&audit, Arch::Aarch64);
        assert_eq!(audit.decide(connect, &[0; 6]), Action::UserNotif);
        assert_eq!(
            audit.decide(sendto, &[0, 0, 0, 0, 1 << 40, 0]),
            Action::UserNotif,
            "audit mode sees UDP destinations"
        );
        // A send naming a destination: the query sockets' rule (a refusal line on one).
        assert_eq!(none.decide(sendto, &[0, 0, 0, 0, 1, 0]), Action::UserNotif);
        assert_eq!(none.decide(sendto, &[0; 6]), Action::Allow);
        assert_eq!(
            udp.decide(sendto, &[0, 0, 0, 0, 1 << 40, 0]),
            Action::UserNotif
        );
        assert_eq!(udp.decide(sendto, &[0, 0, 0, 0, 0, 0]), Action::Allow);
        let fastopen = [0, 0, 0, MSG_FASTOPEN | 0x40, 1, 0];
        assert_eq!(udp.decide(sendto, &fastopen), Action::Report(EACCES));
        assert_eq!(Action::Report(EACCES).ret(), SECCOMP_RET_USER_NOTIF | 13);
    }

    #[test]
    fn around_the_supervisor() {
        let tcp = lower(&policy(&[Protocol::Tcp]), Arch::X86_64);
        let nr = |s: Sysno| s.number(Arch::X86_64);
        let deny = Action::Report(EACCES);
        let eperm = Action::Errno(EPERM);
        let pair = |ty| tcp.decide(nr(Sysno::Socketpair), &[AF_UNIX, ty, 0, 0, 0, 0]);
        assert_eq!(pair(SOCK_STREAM | SOCK_CLOEXEC), Action::Allow);
        assert_eq!(pair(SOCK_SEQPACKET), Action::Allow);
        assert_eq!(pair(SOCK_DGRAM), deny);
        assert_eq!(pair(SOCK_DGRAM | SOCK_NONBLOCK), deny);
        assert_eq!(pair(3), deny, "SOCK_RAW: a datagram socket for AF_UNIX");
        let opt = |level, name| tcp.decide(nr(Sysno::Setsockopt), &[3, level, name, 0, 4, 0]);
        assert_eq!(opt(SOL_TCP, 1), Action::Allow, "TCP_NODELAY");
        assert_eq!(opt(SOL_SOCKET, 9), Action::Allow, "SO_KEEPALIVE");
        assert_eq!(opt(SOL_SOCKET, 25), deny, "SO_BINDTODEVICE");
        assert_eq!(opt(SOL_IP, 64), deny, "IPT_SO_SET_REPLACE");
        assert_eq!(opt(SOL_TCP, TCP_REPAIR), deny);
        assert_eq!(opt(263, 1), deny, "SOL_PACKET");
        let ioctl = |req| tcp.decide(nr(Sysno::Ioctl), &[3, req, 0, 0, 0, 0]);
        assert_eq!(ioctl(0x5421), Action::Allow, "FIONBIO");
        assert_eq!(ioctl(0x8913), Action::Allow, "SIOCGIFFLAGS");
        assert_eq!(ioctl(0x400454ca), deny, "TUNSETIFF");
        assert_eq!(ioctl(0x8914), deny, "SIOCSIFFLAGS");
        assert_eq!(ioctl(0x890b), deny, "SIOCADDRT");
        assert_eq!(ioctl(0xaa00), deny, "USERFAULTFD_IOC_NEW");
        assert_eq!(ioctl(TIOCSTI), deny);
        assert_eq!(ioctl(0x5413), Action::Allow, "TIOCGWINSZ");
        let call = |s, args: [u64; 6]| tcp.decide(nr(s), &args);
        // Debuggers (issue 12): settled at install time; pidfd_getfd stays refused.
        for inspect in [Sysno::Ptrace, Sysno::ProcessVmReadv, Sysno::ProcessVmWritev] {
            assert_eq!(call(inspect, [0; 6]), Action::WithinSandbox(EPERM));
        }
        assert_eq!(call(Sysno::PidfdGetfd, [0; 6]), eperm);
        assert_eq!(Action::WithinSandbox(EPERM).ret(), SECCOMP_RET_TRAP | 1);
        assert_eq!(call(Sysno::Prlimit64, [0, 7, 1, 0, 0, 0]), Action::Allow);
        assert_eq!(call(Sysno::Prlimit64, [42, 7, 0, 1, 0, 0]), Action::Allow);
        assert_eq!(call(Sysno::Prlimit64, [42, 7, 1, 0, 0, 0]), eperm);
        assert_eq!(call(Sysno::Setpriority, [0, 0, 5, 0, 0, 0]), Action::Allow);
        assert_eq!(
            call(Sysno::Setpriority, [2, 0, 5, 0, 0, 0]),
            eperm,
            "PRIO_USER"
        );
        assert_eq!(call(Sysno::SchedSetaffinity, [42, 8, 1, 0, 0, 0]), eperm);
        assert_eq!(call(Sysno::Clone, [0x1120_0011, 0, 0, 0, 0, 0]), eperm);
        assert_eq!(call(Sysno::Clone, [0x3d0f00, 0, 0, 0, 0, 0]), Action::Allow);
        assert_eq!(call(Sysno::Clone3, [0; 6]), Action::Errno(ENOSYS));
    }
}
