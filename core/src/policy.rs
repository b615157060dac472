//! The policy as the runtime checks it: a table of endpoints and a few options.
//!
//! This is the *lowered* form of a policy. The policy as written (with the source locations
//! that error messages need) lives in the `network-sandbox-build` compiler; it turns it into
//! these plain values, either as literal Rust data (the attribute and the `build.rs` path) or
//! through [`Policy::new`] at run time (the `network-sandbox` command).

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use crate::filter::SockFilter;

/// The transport protocol an endpoint allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// TCP (`SOCK_STREAM`, protocol 0 or `IPPROTO_TCP`).
    Tcp,
    /// UDP (`SOCK_DGRAM`, protocol 0 or `IPPROTO_UDP`).
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

/// An IP network: an address and a prefix length (`/32` or `/128` for a single host).
///
/// IPv4 networks only match IPv4 destinations, IPv6 networks only IPv6 destinations; an
/// IPv4-mapped IPv6 destination (`::ffff:a.b.c.d`) is matched as the IPv4 address it maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpNetwork {
    addr: IpAddr,
    prefix: u8,
}

impl IpNetwork {
    /// An IPv4 network. Panics (at compile time in a `const`) if `prefix > 32` or if `addr`
    /// has bits set outside the prefix; the compiler never emits such a value.
    pub const fn v4(addr: Ipv4Addr, prefix: u8) -> Self {
        assert!(prefix <= 32, "IPv4 prefix longer than 32");
        let bits = u32::from_be_bytes(addr.octets());
        assert!(bits & !mask32(prefix) == 0, "host bits set in IPv4 network");
        IpNetwork {
            addr: IpAddr::V4(addr),
            prefix,
        }
    }

    /// An IPv6 network. Panics if `prefix > 128` or if `addr` has bits set outside the prefix.
    pub const fn v6(addr: Ipv6Addr, prefix: u8) -> Self {
        assert!(prefix <= 128, "IPv6 prefix longer than 128");
        let bits = u128::from_be_bytes(addr.octets());
        assert!(
            bits & !mask128(prefix) == 0,
            "host bits set in IPv6 network"
        );
        IpNetwork {
            addr: IpAddr::V6(addr),
            prefix,
        }
    }

    /// The network address.
    pub const fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub const fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` lies in this network. `ip` must already be canonical (see
    /// [`canonical_ip`]).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let m = mask32(self.prefix);
                u32::from(net) & m == u32::from(ip) & m
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let m = mask128(self.prefix);
                u128::from(net) & m == u128::from(ip) & m
            }
            _ => false,
        }
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.addr, self.prefix) {
            (IpAddr::V4(a), 32) => write!(f, "{a}"),
            (IpAddr::V6(a), 128) => write!(f, "[{a}]"),
            (IpAddr::V4(a), p) => write!(f, "{a}/{p}"),
            (IpAddr::V6(a), p) => write!(f, "[{a}/{p}]"),
        }
    }
}

/// The first `prefix` bits of a 128-bit word (none for /0): the mask of an IPv6 prefix, and
/// in its top 32 bits ([`mask32`]) that of an IPv4 prefix. The crate's one prefix mask; the
/// compiler keeps its own (`network_sandbox_build::model::network_of`) because it must not
/// depend on this crate, and this crate uses the compiler only with the `compiler` feature.
const fn mask128(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix as u32)
    }
}

/// The mask of an IPv4 prefix: the top 32 bits of [`mask128`].
const fn mask32(prefix: u8) -> u32 {
    (mask128(prefix) >> 96) as u32
}

/// An inclusive range of ports, `first..=last`, both in `1..=65535`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortRange {
    first: u16,
    last: u16,
}

impl PortRange {
    /// The range `first..=last`. Panics if `first == 0` or `first > last`.
    pub const fn new(first: u16, last: u16) -> Self {
        assert!(first != 0, "port 0 is not a destination");
        assert!(first <= last, "reversed port range");
        PortRange { first, last }
    }

    /// The first port of the range.
    pub const fn first(&self) -> u16 {
        self.first
    }

    /// The last port of the range (equal to `first` for a single port).
    pub const fn last(&self) -> u16 {
        self.last
    }

    /// Whether `port` is in the range.
    pub const fn contains(&self, port: u16) -> bool {
        self.first <= port && port <= self.last
    }

    /// How many ports the range holds.
    pub const fn len(&self) -> u32 {
        self.last as u32 - self.first as u32 + 1
    }

    /// Always false: a range holds at least one port.
    pub const fn is_empty(&self) -> bool {
        false
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// One allowed endpoint: a protocol, a network and a port range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// Transport protocol.
    pub protocol: Protocol,
    /// Destination network.
    pub network: IpNetwork,
    /// Destination ports.
    pub ports: PortRange,
}

impl Endpoint {
    /// Whether a destination reached with `protocol` at `dest` (canonical) matches this
    /// endpoint.
    pub fn matches(&self, protocol: Protocol, dest: SocketAddr) -> bool {
        self.protocol == protocol
            && self.network.contains(dest.ip())
            && self.ports.contains(dest.port())
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.protocol, self.network, self.ports)
    }
}

/// Canonical form of a destination address: an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`)
/// becomes the IPv4 address, since that is where the kernel sends it.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Why the sandbox never allows a destination for which [`reaches_this_machine`] holds,
/// whatever the policy says: the start of the refusal line.
pub const UNSPECIFIED_REACHES_THIS_MACHINE: &str =
    "an unspecified address reaches this machine (the kernel connects it to loopback or the \
     bound address)";

/// Whether a destination is an unspecified address, which the sandbox never allows whatever
/// the policy says: an IPv4 address in `0.0.0.0/8`, `::`, or an IPv4-mapped one in
/// `::ffff:0.0.0.0/104`. Linux sends a connect or a UDP send to `0.0.0.0` to the socket's
/// bound address or to loopback, and one to `::` to `::1`, so such a destination reaches a
/// listener on this machine that no endpoint names. A name that resolves to one (hosts
/// files and DNS blockers answer `0.0.0.0`) or a network that holds one (`0.0.0.0/8`,
/// `0.0.0.0/0`) never lets it through.
pub fn reaches_this_machine(ip: IpAddr) -> bool {
    match canonical_ip(ip) {
        IpAddr::V4(v4) => v4.octets()[0] == 0,
        IpAddr::V6(v6) => v6.is_unspecified(),
    }
}

/// Whether a destination that the policy does not allow is refused or only reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// Refuse connections outside the allow list (the default).
    #[default]
    Enforce,
    /// Report connections outside the allow list but let them through, to learn what a
    /// program needs. The static filter (socket kinds, io_uring, …) is still enforced.
    Audit,
}

/// What the installer does when the exact destination check (the supervisor) cannot run on
/// this kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Fallback {
    /// Refuse to start (the default).
    #[default]
    Refuse,
    /// Check only the destination *port* of TCP connects, through Landlock (Linux 6.7+);
    /// any address on an allowed port is reachable. Refused for policies with UDP endpoints.
    LandlockPorts,
    /// Refuse every connect: the program runs with no network at all.
    DenyAll,
}

/// How denied (or, in audit mode, unlisted) connections are reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ReportTo {
    /// One line per event on the program's standard error (the default).
    #[default]
    Stderr,
    /// Nothing is reported.
    Off,
}

/// The errno a refused network operation gives the program (`deny_errno`, `--deny-errno`).
/// Clients react differently: see README, "Which errno".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum DenyErrno {
    /// `EACCES` ("Permission denied", the default): what Landlock answers too.
    #[default]
    Eacces,
    /// `EPERM` ("Operation not permitted").
    Eperm,
    /// `ECONNREFUSED` ("Connection refused"): what a closed port answers.
    Econnrefused,
    /// `ENETUNREACH` ("Network is unreachable"): what a host without a route answers.
    Enetunreach,
}

impl DenyErrno {
    /// The errno value.
    pub fn errno(self) -> i32 {
        match self {
            DenyErrno::Eacces => libc::EACCES,
            DenyErrno::Eperm => libc::EPERM,
            DenyErrno::Econnrefused => libc::ECONNREFUSED,
            DenyErrno::Enetunreach => libc::ENETUNREACH,
        }
    }
}

/// What the installer does when an allowed name that is not pinned does not resolve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Unresolved {
    /// Refuse to start, naming the name (the default).
    #[default]
    Refuse,
    /// Start anyway: the name has no address, so the program's resolver does not know it.
    Unknown,
}

/// How often the supervisor looks the allowed names up again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Refresh {
    /// At each name's records' TTL, between 30 s and 1 h (the default).
    #[default]
    Ttl,
    /// Never: the addresses found at start.
    Off,
    /// Every 30 seconds.
    Every30s,
    /// Every 5 minutes.
    Every5m,
    /// Every hour.
    Every1h,
}

/// Options of a policy besides its endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Options {
    /// Enforce or audit.
    pub mode: Mode,
    /// What to do when the exact check cannot be installed.
    pub fallback: Fallback,
    /// Where violations are reported.
    pub report: ReportTo,
    /// Capabilities to keep besides the sandbox's default list (the policy's
    /// `keep_capabilities`), as a bit mask: bit `n` is capability `n` of
    /// `linux/capability.h` (`1 << 23` is `CAP_SYS_NICE`). A capability kept stays in each
    /// set the process has it in; none is granted. 0 (the default) keeps only the default
    /// list; see the README's "What is enforced where".
    pub keep_capabilities: u64,
    /// The errno of a refusal (the static filter's are compiled into the program with it).
    pub deny_errno: DenyErrno,
    /// What to do when an allowed name does not resolve.
    pub unresolved: Unresolved,
    /// How often allowed names are looked up again.
    pub refresh: Refresh,
    /// With a log ([`Policy::log`]), whether allowed decisions are logged too.
    pub log_allowed: bool,
}

/// An allowed DNS name: the program may reach the addresses it resolves to (or the
/// addresses pinned in the policy) with this protocol on these ports, and its resolver
/// answers the name with exactly those addresses.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Name {
    name: Cow<'static, str>,
    protocol: Protocol,
    ports: PortRange,
    pinned: Cow<'static, [IpAddr]>,
}

impl Name {
    /// A name, in lower case without a trailing dot, as the compiler writes it; `pinned`
    /// empty means "resolve it when the sandbox starts".
    pub fn new(name: String, protocol: Protocol, ports: PortRange, pinned: Vec<IpAddr>) -> Self {
        Name {
            name: Cow::Owned(name),
            protocol,
            ports,
            pinned: Cow::Owned(pinned),
        }
    }

    /// A name made of static data, used by generated code.
    #[doc(hidden)]
    pub const fn from_static(
        name: &'static str,
        protocol: Protocol,
        ports: PortRange,
        pinned: &'static [IpAddr],
    ) -> Self {
        Name {
            name: Cow::Borrowed(name),
            protocol,
            ports,
            pinned: Cow::Borrowed(pinned),
        }
    }

    /// The name (`api.example.com`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The protocol.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The ports.
    pub fn ports(&self) -> PortRange {
        self.ports
    }

    /// The addresses pinned in the policy; empty when the name is resolved at start.
    pub fn pinned(&self) -> &[IpAddr] {
        &self.pinned
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.protocol, self.name)?;
        for (i, a) in self.pinned.iter().enumerate() {
            f.write_str(if i == 0 { "=" } else { "," })?;
            match a {
                IpAddr::V4(a) => write!(f, "{a}")?,
                IpAddr::V6(a) => write!(f, "[{a}]")?,
            }
        }
        write!(f, ":{}", self.ports)
    }
}

/// A system call the policy's profile refuses (issue 14), as the supervisor's refusal line
/// names it: `syscalls = ["@system-service"]` refuses `swapon`, of `@swap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RefusedCall {
    /// Its number on this architecture.
    pub nr: u32,
    /// The kernel's name for it (`"swapon"`).
    pub name: &'static str,
    /// The group a refusal line names with it (`"@swap"`); `None` when only `@known`
    /// holds it.
    pub group: Option<&'static str>,
    /// Whether `deny_syscalls` refuses it; otherwise it is outside `syscalls`.
    pub denied: bool,
}

impl RefusedCall {
    /// A refused call, as the compiler writes it.
    pub const fn new(
        nr: u32,
        name: &'static str,
        group: Option<&'static str>,
        denied: bool,
    ) -> Self {
        RefusedCall {
            nr,
            name,
            group,
            denied,
        }
    }
}

/// An allowed unix socket (a `unix:` endpoint): connects and datagram sends may reach exactly
/// this socket.
///
/// A path names the socket that is at that path (symbolic links followed) when the
/// sandbox starts: the supervisor resolves it then and compares every later connect's
/// socket with it by identity (device and inode), never by name. An abstract name is
/// compared byte for byte.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum UnixSocket {
    /// A socket in the file system, by absolute path (`unix:/run/app.sock`).
    Path(Cow<'static, str>),
    /// An abstract socket (`unix:@name`): the bytes after the leading NUL.
    Abstract(Cow<'static, [u8]>),
}

impl UnixSocket {
    /// A socket by absolute path, used by generated code.
    #[doc(hidden)]
    pub const fn path_static(path: &'static str) -> Self {
        UnixSocket::Path(Cow::Borrowed(path))
    }

    /// An abstract socket, used by generated code.
    #[doc(hidden)]
    pub const fn abstract_static(name: &'static [u8]) -> Self {
        UnixSocket::Abstract(Cow::Borrowed(name))
    }
}

/// `unix:/run/app.sock`, `unix:@name`: what a policy writes to allow it.
impl fmt::Display for UnixSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnixSocket::Path(p) => write!(f, "unix:{p}"),
            UnixSocket::Abstract(n) => write!(f, "unix:@{}", String::from_utf8_lossy(n)),
        }
    }
}

/// A file's identity: `(st_dev, st_ino)`.
pub(crate) type Identity = (u64, u64);

/// A compiled policy: the seccomp program for this architecture, the endpoint table and the
/// options. Values come from the compiler: literal data generated by the attribute or by
/// `build.rs`, or [`Policy::new`] in programs that compile policies at run time.
#[derive(Clone, Debug)]
pub struct Policy {
    filter: Cow<'static, [SockFilter]>,
    endpoints: Cow<'static, [Endpoint]>,
    names: Cow<'static, [Name]>,
    /// Where the program may serve (`listen`): TCP, one address and one port each.
    listen: Cow<'static, [Endpoint]>,
    /// Allowed unix sockets (`unix:` endpoints).
    unix: Cow<'static, [UnixSocket]>,
    /// The identity (`st_dev`, `st_ino`) of the socket at each `unix:` path, in the order of
    /// `unix`, once the supervisor resolved them at its start ([`Policy::with_unix_identities`]);
    /// `None` for an abstract name or a path without a socket then.
    unix_identities: Option<Arc<[Option<Identity>]>>,
    options: Options,
    /// The policy's `log = "PATH"`: where the structured log goes.
    log: Option<Cow<'static, str>>,
    /// The names' addresses once resolved ([`Policy::with_resolved`]).
    resolved: Option<Arc<crate::hostnames::Table>>,
    /// The calls the system call profile refuses (issue 14), sorted by number.
    refused_calls: Cow<'static, [RefusedCall]>,
    /// For a policy without endpoints: the program to install where no supervisor can run
    /// ([`Policy::unsupervised_filter`]).
    unsupervised: Option<Cow<'static, [SockFilter]>>,
}

impl Policy {
    /// A policy from its parts, as the compiler produced them at run time.
    ///
    /// `filter` must be the program that `network-sandbox-build` compiled for the same
    /// endpoints and options and for the architecture this process runs on; the installer
    /// cannot tell a mismatched program apart from a correct one.
    pub fn new(filter: Vec<SockFilter>, endpoints: Vec<Endpoint>, options: Options) -> Self {
        Policy {
            filter: Cow::Owned(filter),
            endpoints: Cow::Owned(endpoints),
            names: Cow::Borrowed(&[]),
            listen: Cow::Borrowed(&[]),
            unix: Cow::Borrowed(&[]),
            unix_identities: None,
            options,
            log: None,
            resolved: None,
            refused_calls: Cow::Borrowed(&[]),
            unsupervised: None,
        }
    }

    /// This policy with its structured log going to `path` (the policy's `log = "PATH"`;
    /// `Options::log_allowed` says whether allowed decisions go there too). A relative path
    /// is relative to the working directory when the sandbox is installed.
    pub fn with_log(mut self, path: String) -> Self {
        self.log = Some(Cow::Owned(path));
        self
    }

    /// Where the policy sends its structured log, if it names a file.
    pub fn log(&self) -> Option<&str> {
        self.log.as_deref()
    }

    /// This policy with `listen` entries: the addresses (one TCP port each) the program may
    /// bind and listen on. The filter must have been compiled with them (it sends `listen`
    /// to the supervisor only then).
    pub fn with_listen(mut self, listen: Vec<Endpoint>) -> Self {
        self.listen = Cow::Owned(listen);
        self
    }

    /// The `listen` entries.
    pub fn listen(&self) -> &[Endpoint] {
        &self.listen
    }

    /// The `listen` entry a TCP socket bound to `local` (canonical: IPv4-mapped IPv6 as
    /// IPv4) may listen on, if any: same address, same port.
    pub fn listen_entry(&self, local: SocketAddr) -> Option<&Endpoint> {
        self.listen.iter().find(|e| {
            e.protocol == Protocol::Tcp
                && e.network.contains(local.ip())
                && e.ports.contains(local.port())
        })
    }

    /// This policy with `names` allowed besides its endpoints (the filter must have been
    /// compiled with them: a policy whose only entries are names still needs the
    /// supervisor's program).
    pub fn with_names(mut self, names: Vec<Name>) -> Self {
        self.names = Cow::Owned(names);
        self
    }

    /// This policy with the unix sockets `unix` allowed (the filter must have been compiled
    /// with them: only then are unix datagram sockets made and their sends checked).
    pub fn with_unix(mut self, unix: Vec<UnixSocket>) -> Self {
        self.unix = Cow::Owned(unix);
        self.unix_identities = None;
        self
    }

    /// The allowed unix sockets.
    pub fn unix(&self) -> &[UnixSocket] {
        &self.unix
    }

    /// This policy with the identities of its `unix:` paths as found now (one per entry of
    /// [`Policy::unix`], `None` where there is no socket): the supervisor resolves them once,
    /// when it starts, before the program runs, and compares every later connect with them,
    /// so the program cannot change what a `unix:` path allows by renaming or linking files.
    pub(crate) fn with_unix_identities(mut self, identities: Vec<Option<Identity>>) -> Self {
        self.unix_identities = Some(identities.into());
        self
    }

    /// The identity of the socket `unix()[index]` named when the supervisor started: `None`
    /// for an abstract name, a path without a socket then, or before it was resolved.
    pub(crate) fn unix_identity(&self, index: usize) -> Option<Identity> {
        self.unix_identities.as_ref()?.get(index).copied().flatten()
    }

    /// A policy made of static data, used by generated code: `listen` are its `listen`
    /// entries, `refused_calls` the calls its system call profile refuses on this
    /// architecture, sorted by number, `unix` its `unix:` endpoints (all three empty for
    /// most policies), `log` its `log` file, `unsupervised` the program to install where no
    /// supervisor can run (a policy without endpoints only).
    #[doc(hidden)]
    // Generated code calls it with every part in place: one constructor, whatever the policy
    // holds, keeps the emitted text the same shape.
    #[allow(clippy::too_many_arguments)]
    pub const fn from_static(
        filter: &'static [SockFilter],
        endpoints: &'static [Endpoint],
        names: &'static [Name],
        listen: &'static [Endpoint],
        refused_calls: &'static [RefusedCall],
        unix: &'static [UnixSocket],
        options: Options,
        log: Option<&'static str>,
        unsupervised: Option<&'static [SockFilter]>,
    ) -> Self {
        Policy {
            filter: Cow::Borrowed(filter),
            endpoints: Cow::Borrowed(endpoints),
            names: Cow::Borrowed(names),
            listen: Cow::Borrowed(listen),
            unix: Cow::Borrowed(unix),
            unix_identities: None,
            options,
            log: match log {
                Some(path) => Some(Cow::Borrowed(path)),
                None => None,
            },
            resolved: None,
            refused_calls: Cow::Borrowed(refused_calls),
            unsupervised: match unsupervised {
                Some(program) => Some(Cow::Borrowed(program)),
                None => None,
            },
        }
    }

    /// This policy with the program to install where no supervisor can run (a kernel
    /// feature missing, nested inside another sandbox): the compiler makes one for a policy
    /// without endpoints of any kind and without `listen` entries, in enforce mode, not
    /// under `fallback = "landlock-ports"` (`network_sandbox_build::lower::needs_unsupervised`;
    /// `compiler::from_compiled` adds it), for the architecture this
    /// process runs on and from the same policy as [`Policy::filter`].
    pub fn with_unsupervised_filter(mut self, filter: Vec<SockFilter>) -> Self {
        self.unsupervised = Some(Cow::Owned(filter));
        self
    }

    /// The program to install instead of [`Policy::filter`] where no supervisor can run,
    /// if the policy carries one ([`Policy::with_unsupervised_filter`]): every check the
    /// supervisor would make refused with the policy's `deny_errno`, except `bind` and
    /// `sendto` without `MSG_FASTOPEN`, which are allowed unless the system call profile
    /// refuses them. The installer uses it only for a policy of the kind the compiler makes
    /// one for; `None` for every other policy, and for one built with [`Policy::new`]
    /// alone, whose checks are then all refused there, `bind` and `sendto` included.
    pub fn unsupervised_filter(&self) -> Option<&[SockFilter]> {
        self.unsupervised.as_deref()
    }

    /// This policy with the calls its system call profile refuses (issue 14), as the
    /// compiler lists them for this architecture; the filter must have been compiled with
    /// the same profile.
    pub fn with_refused_calls(mut self, mut calls: Vec<RefusedCall>) -> Self {
        calls.sort_by_key(|c| c.nr);
        self.refused_calls = Cow::Owned(calls);
        self
    }

    /// The calls the system call profile refuses, sorted by number (empty without one).
    pub fn refused_calls(&self) -> &[RefusedCall] {
        &self.refused_calls
    }

    /// The call numbered `nr` if the system call profile refuses it.
    pub fn refused_call(&self, nr: i64) -> Option<&RefusedCall> {
        let nr = u32::try_from(nr).ok()?;
        self.refused_calls
            .binary_search_by_key(&nr, |c| c.nr)
            .ok()
            .map(|i| &self.refused_calls[i])
    }

    /// The policy the supervisor checks once names are resolved: these endpoints, and each
    /// name's `addresses` for that name's protocol and ports, in a table the supervisor's
    /// refresher may update (`refresh`; see [`crate::hostnames`]).
    pub fn with_resolved(
        &self,
        addresses: &[(String, Vec<IpAddr>)],
        refresh: Option<crate::hostnames::RefreshPlan>,
    ) -> Policy {
        Policy {
            filter: self.filter.clone(),
            endpoints: self.endpoints.clone(),
            names: self.names.clone(),
            listen: self.listen.clone(),
            unix: self.unix.clone(),
            unix_identities: self.unix_identities.clone(),
            options: self.options,
            log: self.log.clone(),
            resolved: Some(Arc::new(crate::hostnames::Table::new(addresses, refresh))),
            refused_calls: self.refused_calls.clone(),
            unsupervised: self.unsupervised.clone(),
        }
    }

    /// The allowed names, as written.
    pub fn names(&self) -> &[Name] {
        &self.names
    }

    /// The names' addresses, once resolved.
    pub(crate) fn resolved(&self) -> Option<&Arc<crate::hostnames::Table>> {
        self.resolved.as_ref()
    }

    /// The index, past the endpoints, of the first allowed name whose current (or
    /// still-in-grace) addresses include `dest`'s with this protocol and port.
    fn permits_by_name(&self, protocol: Protocol, dest: SocketAddr) -> Option<usize> {
        let table = self.resolved.as_ref()?;
        let ip = dest.ip();
        let live = table.live_names_of(ip);
        self.names
            .iter()
            .position(|n| {
                n.protocol == protocol
                    && n.ports.contains(dest.port())
                    && live.iter().any(|l| *l == n.name())
            })
            .map(|i| self.endpoints.len() + i)
    }

    /// Why `protocol` to `dest` is not allowed, in words, when names explain it: the
    /// address belongs to an allowed name but not on this port or protocol (the name is
    /// given), or no allowed name resolved to it. `None` when the policy has no names.
    pub fn why_not(&self, protocol: Protocol, dest: SocketAddr) -> Option<String> {
        if self.names.is_empty() {
            return None;
        }
        let table = self.resolved.as_ref()?;
        let ip = canonical_ip(dest.ip());
        let live = table.live_names_of(ip);
        let hosts: Vec<String> = self
            .names
            .iter()
            .filter(|n| live.iter().any(|l| *l == n.name()))
            .map(|n| format!("{}://{}:{}", n.protocol, n.name, n.ports))
            .collect();
        Some(if hosts.is_empty() {
            format!("no allowed name resolves to {ip}")
        } else {
            format!(
                "{ip} is an address of {}, which allows no {protocol} to port {}",
                hosts.join(", "),
                dest.port()
            )
        })
    }

    /// The seccomp program.
    pub fn filter(&self) -> &[SockFilter] {
        &self.filter
    }

    /// The allowed endpoints.
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// The options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Whether the policy has a UDP endpoint or name.
    pub fn has_udp(&self) -> bool {
        self.endpoints.iter().any(|e| e.protocol == Protocol::Udp)
            || self.names.iter().any(|n| n.protocol == Protocol::Udp)
    }

    /// The index of the first endpoint that allows `protocol` to `dest`, after
    /// canonicalising IPv4-mapped IPv6 addresses; past the endpoints, the index (plus the
    /// number of endpoints) of an allowed name whose addresses include it. `None`, before
    /// any endpoint is looked at, for an unspecified destination ([`reaches_this_machine`]).
    pub fn permits(&self, protocol: Protocol, dest: SocketAddr) -> Option<usize> {
        if reaches_this_machine(dest.ip()) {
            return None;
        }
        let dest = SocketAddr::new(canonical_ip(dest.ip()), dest.port());
        self.endpoints
            .iter()
            .position(|e| e.matches(protocol, dest))
            .or_else(|| self.permits_by_name(protocol, dest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The program for running without a supervisor travels with the policy: from static
    /// data (the attribute, `build.rs`), from the builder (the compiler at run time), and
    /// through `with_resolved`; `Policy::new` alone carries none.
    #[test]
    fn the_program_for_running_without_a_supervisor_travels_with_the_policy() {
        static MAIN: [SockFilter; 1] = [SockFilter::new(0x06, 0, 0, 0x7fc0_0000)];
        static SECOND: [SockFilter; 1] = [SockFilter::new(0x06, 0, 0, 0x0005_000d)];
        let options = Options::default();
        let static_one =
            Policy::from_static(&MAIN, &[], &[], &[], &[], &[], options, None, Some(&SECOND));
        assert_eq!(static_one.unsupervised_filter(), Some(&SECOND[..]));
        assert_eq!(static_one.filter(), &MAIN[..]);
        let resolved = static_one.with_resolved(&[], None);
        assert_eq!(resolved.unsupervised_filter(), Some(&SECOND[..]));
        let without = Policy::from_static(&MAIN, &[], &[], &[], &[], &[], options, None, None);
        assert_eq!(without.unsupervised_filter(), None);
        let built = Policy::new(MAIN.to_vec(), Vec::new(), options);
        assert_eq!(built.unsupervised_filter(), None);
        let built = built.with_unsupervised_filter(SECOND.to_vec());
        assert_eq!(built.unsupervised_filter(), Some(&SECOND[..]));
    }

    #[test]
    fn cidr_and_range_matching() {
        let e = Endpoint {
            protocol: Protocol::Tcp,
            network: IpNetwork::v4(Ipv4Addr::new(10, 1, 0, 0), 16),
            ports: PortRange::new(8000, 8080),
        };
        assert!(e.matches(Protocol::Tcp, "10.1.200.3:8000".parse().unwrap()));
        assert!(e.matches(Protocol::Tcp, "10.1.0.0:8080".parse().unwrap()));
        assert!(!e.matches(Protocol::Tcp, "10.2.0.1:8000".parse().unwrap()));
        assert!(!e.matches(Protocol::Tcp, "10.1.0.1:8081".parse().unwrap()));
        assert!(!e.matches(Protocol::Udp, "10.1.0.1:8000".parse().unwrap()));
        assert!(!e.matches(Protocol::Tcp, "[::1]:8000".parse().unwrap()));
    }

    #[test]
    fn mapped_ipv6_is_matched_as_ipv4() {
        let p = Policy::new(
            Vec::new(),
            vec![Endpoint {
                protocol: Protocol::Tcp,
                network: IpNetwork::v4(Ipv4Addr::new(127, 0, 0, 2), 32),
                ports: PortRange::new(443, 443),
            }],
            Options::default(),
        );
        assert_eq!(
            p.permits(Protocol::Tcp, "[::ffff:127.0.0.2]:443".parse().unwrap()),
            Some(0)
        );
        assert_eq!(
            p.permits(Protocol::Tcp, "[::ffff:127.0.0.3]:443".parse().unwrap()),
            None
        );
        assert_eq!(
            p.permits(Protocol::Tcp, "[::127.0.0.2]:443".parse().unwrap()),
            None
        );
    }

    /// `0.0.0.0/8`, `::` and `::ffff:0.0.0.0/104` are refused even under an endpoint or a
    /// name that holds them (`0.0.0.0/0`, `[::/0]`, a name resolved to `0.0.0.0`); their
    /// neighbours are not.
    #[test]
    fn unspecified_destinations_are_never_permitted() {
        let every = |protocol| {
            [
                Endpoint {
                    protocol,
                    network: IpNetwork::v4(Ipv4Addr::UNSPECIFIED, 0),
                    ports: PortRange::new(1, 65535),
                },
                Endpoint {
                    protocol,
                    network: IpNetwork::v6(Ipv6Addr::UNSPECIFIED, 0),
                    ports: PortRange::new(1, 65535),
                },
            ]
        };
        let mut endpoints = every(Protocol::Tcp).to_vec();
        endpoints.extend(every(Protocol::Udp));
        let p = Policy::new(Vec::new(), endpoints, Options::default());
        let named = Policy::new(Vec::new(), Vec::new(), Options::default())
            .with_names(vec![Name::new(
                "sink.test".into(),
                Protocol::Tcp,
                PortRange::new(47000, 47000),
                Vec::new(),
            )])
            .with_resolved(
                &[(
                    "sink.test".into(),
                    vec!["0.0.0.0".parse().unwrap(), "::".parse().unwrap()],
                )],
                None,
            );
        for never in [
            "0.0.0.0:47000",
            "0.1.2.3:47000",
            "0.255.255.255:47000",
            "[::]:47000",
            "[::ffff:0.0.0.0]:47000",
            "[::ffff:0.9.9.9]:47000",
        ] {
            let d: SocketAddr = never.parse().unwrap();
            assert!(reaches_this_machine(d.ip()), "{never}");
            for protocol in [Protocol::Tcp, Protocol::Udp] {
                assert_eq!(p.permits(protocol, d), None, "{never} {protocol}");
            }
            assert_eq!(named.permits(Protocol::Tcp, d), None, "{never} by name");
        }
        for fine in [
            "1.0.0.0:47000",
            "127.0.0.3:47000",
            "[::1]:47000",
            "[::0.0.0.1]:47000",
        ] {
            let d: SocketAddr = fine.parse().unwrap();
            assert!(!reaches_this_machine(d.ip()), "{fine}");
            assert!(p.permits(Protocol::Tcp, d).is_some(), "{fine}");
        }
    }

    #[test]
    fn zero_prefix_matches_everything_of_its_family() {
        let n = IpNetwork::v6(Ipv6Addr::UNSPECIFIED, 0);
        assert!(n.contains("2001:db8::1".parse().unwrap()));
        assert!(!n.contains("1.2.3.4".parse().unwrap()));
    }
}
