//! The policy as written: what the front-ends (attribute, policy file, command line) produce
//! and the rest of the compiler consumes.
//!
//! Every endpoint keeps the text it came from and where that text is, so that validation
//! errors can point at it. The runtime never sees these types: `emit` turns them into the
//! plain `network_sandbox::Policy` data.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;

/// Transport protocol of an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// `tcp://` (the default when no scheme is written).
    Tcp,
    /// `udp://`.
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

/// One endpoint as written, e.g. `udp://[2001:db8::/32]:53` or `10.0.0.0/8:8000-8080`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Protocol (`tcp` when no scheme was written).
    pub protocol: Protocol,
    /// Network address (host bits are zero once validated).
    pub addr: IpAddr,
    /// Prefix length: 32 or 128 for a single host.
    pub prefix: u8,
    /// First port, inclusive.
    pub first_port: u16,
    /// Last port, inclusive (equal to `first_port` for a single port).
    pub last_port: u16,
    /// Where this endpoint came from (for error messages).
    pub origin: Origin,
}

/// The endpoint in full, whatever its spelling: `tcp://10.0.0.0/8:443`,
/// `udp://[2001:db8::1]:53-54`.
impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.protocol)?;
        match (self.addr, self.prefix) {
            (IpAddr::V4(a), 32) => write!(f, "{a}")?,
            (IpAddr::V6(a), 128) => write!(f, "[{a}]")?,
            (IpAddr::V4(a), p) => write!(f, "{a}/{p}")?,
            (IpAddr::V6(a), p) => write!(f, "[{a}/{p}]")?,
        }
        if self.first_port == self.last_port {
            write!(f, ":{}", self.first_port)
        } else {
            write!(f, ":{}-{}", self.first_port, self.last_port)
        }
    }
}

/// The network `addr/prefix` lies in: `addr` with every bit after the first `prefix` cleared
/// (a prefix as long as the address, or longer, keeps it whole). The one prefix mask of the
/// compiler: parsing uses it to find host bits, validation to compare networks.
pub fn network_of(addr: IpAddr, prefix: u8) -> IpAddr {
    // The first `prefix` bits of a 128-bit word (none for /0); an IPv4 address is matched
    // against its first 32.
    let mask = u128::MAX
        .checked_shl(128u32.saturating_sub(u32::from(prefix)))
        .unwrap_or(0);
    match addr {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & (mask >> 96) as u32)),
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask)),
    }
}

/// An allowed DNS name, e.g. `api.example.com:443` or, pinned to addresses that nobody
/// resolves, `api.example.com=192.0.2.1,[2001:db8::1]:443`.
///
/// The sandbox resolves an unpinned name before it confines the program (A and AAAA, with
/// the machine's own configuration); the addresses join the allow list for this protocol and
/// these ports, and the program's resolver answers the name with exactly them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedEndpoint {
    /// Protocol (`tcp` when no scheme was written).
    pub protocol: Protocol,
    /// The name in lower case, without a trailing dot (`api.example.com`).
    pub name: String,
    /// Addresses pinned in the policy, in the order written; empty: resolved at start.
    pub pinned: Vec<IpAddr>,
    /// First port, inclusive.
    pub first_port: u16,
    /// Last port, inclusive.
    pub last_port: u16,
    /// Where this endpoint came from (`host` covers the name and its pinned addresses).
    pub origin: Origin,
}

/// The endpoint in full: `tcp://api.example.com:443`, `tcp://a.test=127.0.0.2,[::1]:443`.
impl fmt::Display for NamedEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.protocol, self.name)?;
        for (i, a) in self.pinned.iter().enumerate() {
            f.write_str(if i == 0 { "=" } else { "," })?;
            match a {
                IpAddr::V4(a) => write!(f, "{a}")?,
                IpAddr::V6(a) => write!(f, "[{a}]")?,
            }
        }
        if self.first_port == self.last_port {
            write!(f, ":{}", self.first_port)
        } else {
            write!(f, ":{}-{}", self.first_port, self.last_port)
        }
    }
}

/// One entry of an allow list: an address endpoint, a name or a unix socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// An address or a network (`192.0.2.1:443`, `10.0.0.0/8:443`).
    Address(Endpoint),
    /// A DNS name (`api.example.com:443`), pinned or not.
    Name(NamedEndpoint),
    /// A unix socket (`unix:/run/app.sock`, `unix:@name`).
    Unix(UnixEndpoint),
}

/// The longest `sun_path` a policy may name: 108 bytes in `struct sockaddr_un`, one of
/// them kept for the terminating NUL of a path, or for the leading NUL of an abstract name.
pub const MAX_UNIX_PATH: usize = 107;

/// Which unix socket a `unix:` endpoint names.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum UnixName {
    /// A socket in the file system, by its absolute path (`unix:/run/app.sock`). The
    /// supervisor compares sockets by identity (device and inode), not by name.
    Path(String),
    /// An abstract socket (`unix:@name`): the bytes after the leading NUL, compared exactly
    /// (the length counts).
    Abstract(Vec<u8>),
}

/// A `unix:` endpoint: connects (stream, seqpacket, datagram) and datagram sends to exactly
/// this socket are allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnixEndpoint {
    /// The socket.
    pub name: UnixName,
    /// Where this endpoint came from (`host` covers the path or the name, `ports` is empty).
    pub origin: Origin,
}

/// `unix:/run/app.sock`, `unix:@name` (an abstract name's bytes that are not UTF-8 are
/// shown as U+FFFD).
impl fmt::Display for UnixEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            UnixName::Path(p) => write!(f, "unix:{p}"),
            UnixName::Abstract(n) => write!(f, "unix:@{}", String::from_utf8_lossy(n)),
        }
    }
}

/// Where an endpoint was written: its index in the front-end's list of endpoint strings, and
/// byte ranges within that string for the parts validation may complain about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    /// Index of the string in the `allow` list (0 for a single string).
    pub index: usize,
    /// The whole endpoint text.
    pub text: String,
    /// Byte range of the host (address or CIDR) within `text`.
    pub host: Range<usize>,
    /// Byte range of the port part within `text`.
    pub ports: Range<usize>,
}

/// Enforce or audit (mirrors `network_sandbox::Mode`; [`emit`](crate::emit) writes the
/// variant by its name). Written `audit = true | false`: see [`AUDIT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// Refuse what the policy does not allow.
    #[default]
    Enforce,
    /// Report, but allow.
    Audit,
}

/// What happens when the supervisor cannot run (mirrors `network_sandbox::Fallback`;
/// [`emit`](crate::emit) writes the variant by its name). Its spellings are [`FALLBACK`]'s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Fallback {
    /// Refuse to start.
    #[default]
    Refuse,
    /// Landlock port rules only.
    LandlockPorts,
    /// No network at all.
    DenyAll,
}

impl Fallback {
    /// How a policy spells this fallback (`"landlock-ports"`).
    pub fn name(self) -> &'static str {
        FALLBACK.name_in(&Options {
            fallback: self,
            ..Options::default()
        })
    }
}

/// Where violations are reported (mirrors `network_sandbox::ReportTo`; [`emit`](crate::emit)
/// writes the variant by its name). Its spellings are [`REPORT`]'s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ReportTo {
    /// One line on stderr per event.
    #[default]
    Stderr,
    /// Nothing.
    Off,
}

impl ReportTo {
    /// How a policy spells this destination (`"stderr"`).
    pub fn name(self) -> &'static str {
        REPORT.name_in(&Options {
            report: self,
            ..Options::default()
        })
    }
}

/// The errno a refused network operation gives the program (mirrors
/// `network_sandbox::DenyErrno`; [`emit`](crate::emit) writes the variant by its name). Its
/// spellings are [`DENY_ERRNO`]'s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DenyErrno {
    /// `EACCES` ("Permission denied"), what Landlock answers too.
    #[default]
    Eacces,
    /// `EPERM` ("Operation not permitted").
    Eperm,
    /// `ECONNREFUSED` ("Connection refused"), what a closed port answers.
    Econnrefused,
    /// `ENETUNREACH` ("Network is unreachable"), what a host without a route answers.
    Enetunreach,
}

impl DenyErrno {
    /// The errno value (the same on x86_64 and aarch64).
    pub fn errno(self) -> u16 {
        match self {
            DenyErrno::Eacces => 13,
            DenyErrno::Eperm => 1,
            DenyErrno::Econnrefused => 111,
            DenyErrno::Enetunreach => 101,
        }
    }
}

/// What happens when an allowed, unpinned name does not resolve at start (mirrors
/// `network_sandbox::Unresolved`; [`emit`](crate::emit) writes the variant by its name). Its
/// spellings are [`UNRESOLVED`]'s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Unresolved {
    /// Refuse to start (exit 125), naming the name.
    #[default]
    Refuse,
    /// Start; the name has no address, so the program's resolver does not know it.
    Unknown,
}

/// How often the sandbox looks allowed names up again (mirrors `network_sandbox::Refresh`;
/// [`emit`](crate::emit) writes the variant by its name). Its spellings are [`REFRESH`]'s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Refresh {
    /// At the records' TTL, between 30 s and 1 h.
    #[default]
    Ttl,
    /// Never.
    Off,
    /// Every 30 seconds.
    Every30s,
    /// Every 5 minutes.
    Every5m,
    /// Every hour.
    Every1h,
}

/// The key of the endpoint list, in the attribute and the policy file.
pub const ALLOW: &str = "allow";
/// The key of the addresses the program may serve on: `listen = "127.0.0.1:8080"` or a list
/// (issue 12). Each is an IP address and one TCP port; the program may bind exactly there and
/// `listen`/`accept` on it.
pub const LISTEN: &str = "listen";
/// How `listen` is written, for messages.
pub const LISTEN_FORM: &str = "listen = \"127.0.0.1:8080\" or listen = [\"127.0.0.1:8080\", …]";

/// How an option's value is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    /// `true` or `false` (the names of the values are `"true"` and `"false"`).
    Bool,
    /// A string, one of the names of the values.
    Name,
    /// A list of strings (or one string), each one of the names of the values, each at most
    /// once; every value named is set. `item` is what one name is called in messages
    /// (`"capability"`).
    Names {
        /// What one name is, in messages.
        item: &'static str,
    },
}

/// One value an option can take: its name and what it does to [`Options`].
#[derive(Clone, Copy, Debug)]
pub struct OptionValue {
    /// The name a policy writes (`"landlock-ports"`, or `"true"` for a [`Syntax::Bool`]).
    pub name: &'static str,
    /// What it means, one line, for help texts.
    pub description: &'static str,
    /// Sets it.
    pub set: fn(&mut Options),
}

/// An option of a policy besides [`ALLOW`], as every front end spells it: the attribute
/// (`key = value`), the policy file (`key = value`), the command line (`--key value` where
/// it has a flag) and `network-sandbox check` (which prints `key: name`). Adding a value
/// here adds it to all of them, to their help and to their error messages.
#[derive(Clone, Copy, Debug)]
pub struct OptionSpec {
    /// The key (`"fallback"`).
    pub key: &'static str,
    /// What it decides, one line.
    pub description: &'static str,
    /// How its value is written.
    pub syntax: Syntax,
    /// The values, in the order messages list them (the default is [`Options::default`]'s).
    pub values: &'static [OptionValue],
    /// An example, `fallback = "deny-all"`, for error messages.
    pub example: &'static str,
}

impl OptionSpec {
    /// The value called `name`.
    pub fn value(&self, name: &str) -> Option<&'static OptionValue> {
        self.values.iter().find(|v| v.name == name)
    }

    /// The names of this option's values that `options` holds: those whose `set` changes
    /// nothing. For a [`Syntax::Names`] option, every name the policy gave (none when it gave
    /// none), in the order of [`values`](Self::values).
    pub fn names_in(&self, options: &Options) -> Vec<&'static str> {
        self.values
            .iter()
            .filter(|v| {
                let mut set = *options;
                (v.set)(&mut set);
                set == *options
            })
            .map(|v| v.name)
            .collect()
    }

    /// The value a misspelt `name` probably means: the same name but for case, `-` for `_`
    /// or a missing `CAP_` prefix (`sys_nice` → `CAP_SYS_NICE`, `deny_all` → `deny-all`), or
    /// the closest name within a quarter of its length in edits (`CAP_SYS_NIC`).
    pub fn suggest(&self, name: &str) -> Option<&'static str> {
        let canonical = |s: &str| {
            let s = s.trim().to_ascii_lowercase().replace('_', "-");
            s.strip_prefix("cap-").map(str::to_owned).unwrap_or(s)
        };
        let wanted = canonical(name);
        let limit = (wanted.chars().count() / 4).max(1);
        self.values
            .iter()
            .map(|v| (edit_distance(&wanted, &canonical(v.name)), v.name))
            .filter(|&(d, _)| d <= limit)
            .min_by_key(|&(d, _)| d)
            .map(|(_, n)| n)
    }

    /// The name of this option's value in `options`.
    pub fn name_in(&self, options: &Options) -> &'static str {
        self.values
            .iter()
            .find(|v| {
                let mut set = *options;
                (v.set)(&mut set);
                set == *options
            })
            .map_or("?", |v| v.name)
    }

    /// The values as an error message lists them: `"refuse", "landlock-ports" or
    /// "deny-all"` (`` `true` or `false` `` for a [`Syntax::Bool`]). A [`Syntax::Names`]
    /// option has too many values to list: its example stands for them.
    pub fn expected(&self) -> String {
        if let Syntax::Names { item } = self.syntax {
            return format!("a list of {item} names: {}", self.example);
        }
        let quoted: Vec<String> = self
            .values
            .iter()
            .map(|v| match self.syntax {
                Syntax::Bool => format!("`{}`", v.name),
                _ => format!("\"{}\"", v.name),
            })
            .collect();
        one_of(&quoted)
    }

    /// The message for a string that names no value: `` `x` is not a valid `fallback`:
    /// expected "refuse", … ``, or `` `CAP_SYS_NIC` is not a capability: did you mean
    /// `CAP_SYS_NICE`? `` for a [`Syntax::Names`] option; with a [suggestion](Self::suggest)
    /// when one is close.
    pub fn unknown_value(&self, name: &str) -> String {
        let what = if name.is_empty() {
            "an empty string".to_owned()
        } else {
            format!("`{name}`")
        };
        let mut message = match self.syntax {
            Syntax::Names { item } => format!(
                "{what} is not a {item} `{}` knows: write each as {}",
                self.key, self.example
            ),
            _ => format!(
                "{what} is not a valid `{}`: expected {}",
                self.key,
                self.expected()
            ),
        };
        if let Some(close) = self.suggest(name) {
            message = match self.syntax {
                Syntax::Names { item } => format!(
                    "{what} is not a {item} `{}` knows: did you mean `{close}`?",
                    self.key
                ),
                _ => format!("{message}; did you mean `{close}`?"),
            };
        }
        message
    }

    /// Sets the values `names` name, for a [`Syntax::Names`] option (each name the value's
    /// whole name). Errors carry the index of the name in `names`: one that names no value
    /// ([`unknown_value`](Self::unknown_value)), or one given earlier in the list.
    pub fn set_names<S: AsRef<str>>(
        &self,
        names: &[S],
        options: &mut Options,
    ) -> Result<(), Vec<NameError>> {
        let item = match self.syntax {
            Syntax::Names { item } => item,
            _ => "value",
        };
        let mut errors = Vec::new();
        for (index, name) in names.iter().enumerate() {
            let name = name.as_ref();
            match self.value(name) {
                None => errors.push(NameError {
                    index,
                    message: self.unknown_value(name),
                }),
                Some(v) => match names[..index].iter().position(|n| n.as_ref() == name) {
                    Some(first) => errors.push(NameError {
                        index,
                        message: format!(
                            "duplicate {item} `{name}`: already named (entry {} of the list): \
                             remove one",
                            first + 1
                        ),
                    }),
                    None => (v.set)(options),
                },
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// A name of a [`Syntax::Names`] option that is wrong: see [`OptionSpec::set_names`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameError {
    /// Index of the name in the list given.
    pub index: usize,
    /// What is wrong, and what to write instead.
    pub message: String,
}

/// The Levenshtein distance between `a` and `b`, in characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// `audit = true | false`.
pub const AUDIT: OptionSpec = OptionSpec {
    key: "audit",
    description: "report connections outside the allow list, but let them through",
    syntax: Syntax::Bool,
    values: &[
        OptionValue {
            name: "true",
            description: "report connections outside the allow list, but let them through",
            set: |o| o.mode = Mode::Audit,
        },
        OptionValue {
            name: "false",
            description: "refuse what the policy does not allow",
            set: |o| o.mode = Mode::Enforce,
        },
    ],
    example: "audit = true",
};

/// `fallback = "refuse" | "landlock-ports" | "deny-all"`.
pub const FALLBACK: OptionSpec = OptionSpec {
    key: "fallback",
    description: "what to do when the kernel cannot check exact destinations",
    syntax: Syntax::Name,
    values: &[
        OptionValue {
            name: "refuse",
            description: "Refuse to start (exit 125)",
            set: |o| o.fallback = Fallback::Refuse,
        },
        OptionValue {
            name: "landlock-ports",
            description: "Check only TCP destination ports, with Landlock (Linux 6.7+)",
            set: |o| o.fallback = Fallback::LandlockPorts,
        },
        OptionValue {
            name: "deny-all",
            description: "Run with no network at all",
            set: |o| o.fallback = Fallback::DenyAll,
        },
    ],
    example: "fallback = \"deny-all\"",
};

/// `report = "stderr" | "off"`.
pub const REPORT: OptionSpec = OptionSpec {
    key: "report",
    description: "where denied connections are reported",
    syntax: Syntax::Name,
    values: &[
        OptionValue {
            name: "stderr",
            description: "One line per event on standard error",
            set: |o| o.report = ReportTo::Stderr,
        },
        OptionValue {
            name: "off",
            description: "Nothing",
            set: |o| o.report = ReportTo::Off,
        },
    ],
    example: "report = \"off\"",
};

/// `deny_errno = "EACCES" | "EPERM" | "ECONNREFUSED" | "ENETUNREACH"`.
pub const DENY_ERRNO: OptionSpec = OptionSpec {
    key: "deny_errno",
    description: "the errno a refused network operation returns",
    syntax: Syntax::Name,
    values: &[
        OptionValue {
            name: "EACCES",
            description: "Permission denied (curl, Python, Go give up at once; wget retries)",
            set: |o| o.deny_errno = DenyErrno::Eacces,
        },
        OptionValue {
            name: "EPERM",
            description: "Operation not permitted (most clients give up at once)",
            set: |o| o.deny_errno = DenyErrno::Eperm,
        },
        OptionValue {
            name: "ECONNREFUSED",
            description: "Connection refused, as a closed port (clients try the next address)",
            set: |o| o.deny_errno = DenyErrno::Econnrefused,
        },
        OptionValue {
            name: "ENETUNREACH",
            description:
                "Network is unreachable, as without a route (clients try the next address)",
            set: |o| o.deny_errno = DenyErrno::Enetunreach,
        },
    ],
    example: "deny_errno = \"ECONNREFUSED\"",
};

/// `keep_capabilities = ["CAP_SYS_NICE", …]`: capabilities the sandbox keeps besides its
/// default list, written as the kernel names them (see [`crate::capabilities`]).
pub const KEEP_CAPABILITIES: OptionSpec = OptionSpec {
    key: "keep_capabilities",
    description: "capabilities to keep besides the default list, where the process has them",
    syntax: Syntax::Names { item: "capability" },
    values: crate::capabilities::VALUES,
    example: "keep_capabilities = [\"CAP_SYS_NICE\"]",
};

/// `unresolved = "refuse" | "unknown"`.
pub const UNRESOLVED: OptionSpec = OptionSpec {
    key: "unresolved",
    description: "what to do when an allowed name does not resolve at start",
    syntax: Syntax::Name,
    values: &[
        OptionValue {
            name: "refuse",
            description: "Refuse to start (exit 125), naming the name",
            set: |o| o.unresolved = Unresolved::Refuse,
        },
        OptionValue {
            name: "unknown",
            description: "Start; the program's resolver does not know the name",
            set: |o| o.unresolved = Unresolved::Unknown,
        },
    ],
    example: "unresolved = \"unknown\"",
};

/// `refresh = "ttl" | "off" | "30s" | "5m" | "1h"`.
pub const REFRESH: OptionSpec = OptionSpec {
    key: "refresh",
    description: "how often allowed names are looked up again while the program runs",
    syntax: Syntax::Name,
    values: &[
        OptionValue {
            name: "ttl",
            description: "At the records' TTL, between 30 s and 1 h",
            set: |o| o.refresh = Refresh::Ttl,
        },
        OptionValue {
            name: "off",
            description: "Never: the addresses found at start",
            set: |o| o.refresh = Refresh::Off,
        },
        OptionValue {
            name: "30s",
            description: "Every 30 seconds",
            set: |o| o.refresh = Refresh::Every30s,
        },
        OptionValue {
            name: "5m",
            description: "Every 5 minutes",
            set: |o| o.refresh = Refresh::Every5m,
        },
        OptionValue {
            name: "1h",
            description: "Every hour",
            set: |o| o.refresh = Refresh::Every1h,
        },
    ],
    example: "refresh = \"5m\"",
};

/// `syscall_refusal = "EPERM" | "ENOSYS" | "kill"` (issue 14): what a system call outside
/// the profile (`syscalls`, `deny_syscalls`) gets.
pub const SYSCALL_REFUSAL: OptionSpec = OptionSpec {
    key: "syscall_refusal",
    description: "what a system call the profile refuses gets",
    syntax: Syntax::Name,
    values: &[
        OptionValue {
            name: "EPERM",
            description: "Operation not permitted, reported with the call and its group",
            set: |o| o.syscall_refusal = SyscallRefusal::Eperm,
        },
        OptionValue {
            name: "ENOSYS",
            description:
                "Function not implemented, as on a kernel without the call (programs fall back)",
            set: |o| o.syscall_refusal = SyscallRefusal::Enosys,
        },
        OptionValue {
            name: "kill",
            description: "The kernel kills the process (SIGSYS), without a report",
            set: |o| o.syscall_refusal = SyscallRefusal::Kill,
        },
    ],
    example: "syscall_refusal = \"ENOSYS\"",
};

/// `log_allowed = true | false`: with [`LOG`], log the allowed decisions too.
pub const LOG_ALLOWED: OptionSpec = OptionSpec {
    key: "log_allowed",
    description: "with `log`, log the allowed connects and sends too",
    syntax: Syntax::Bool,
    values: &[
        OptionValue {
            name: "true",
            description: "log every decision, allowed ones included",
            set: |o| o.log_allowed = true,
        },
        OptionValue {
            name: "false",
            description: "log refusals (and audit-mode findings) only",
            set: |o| o.log_allowed = false,
        },
    ],
    example: "log_allowed = true",
};

/// Every option besides [`ALLOW`] and [`LOG`], in the order front ends list them.
pub const OPTIONS: [&OptionSpec; 9] = [
    &AUDIT,
    &FALLBACK,
    &REPORT,
    &KEEP_CAPABILITIES,
    &UNRESOLVED,
    &REFRESH,
    &DENY_ERRNO,
    &SYSCALL_REFUSAL,
    &LOG_ALLOWED,
];

/// `log = "PATH"`: the structured log (one JSON object per decision) is appended to `PATH`,
/// created with mode 0600; a relative path is relative to the working directory when the
/// sandbox starts. Not an [`OptionSpec`]: its value is a path, not one of a list of names.
pub const LOG: &str = "log";

/// What is wrong with a `log` path, if anything: it must not be empty, nor hold a NUL.
pub fn log_path_error(path: &str) -> Option<String> {
    if path.is_empty() {
        Some("`log` needs a file name: log = \"/var/log/sandbox.jsonl\"".to_owned())
    } else if path.contains('\0') {
        Some("`log` holds a NUL byte, which no file name can".to_owned())
    } else {
        None
    }
}

/// The option called `key`.
pub fn option(key: &str) -> Option<&'static OptionSpec> {
    OPTIONS.into_iter().find(|o| o.key == key)
}

/// The keys a front end accepts, for "expected …": `` `allow`, `listen`, `audit`, `fallback`,
/// `report`, `keep_capabilities`, `unresolved`, `refresh` `` and then `extra` (the attribute's `from_build`), the last joined with "or".
pub fn expected_keys(extra: &[&str]) -> String {
    let keys: Vec<String> = [ALLOW, LISTEN]
        .into_iter()
        .chain([crate::profiles::SYSCALLS, crate::profiles::DENY_SYSCALLS])
        .chain(OPTIONS.iter().map(|o| o.key))
        .chain(std::iter::once(LOG))
        .chain(extra.iter().copied())
        .map(|k| format!("`{k}`"))
        .collect();
    one_of(&keys)
}

/// `a`, `a or b`, `a, b or c`.
fn one_of(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Options besides the endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Options {
    /// `audit = true` selects [`Mode::Audit`].
    pub mode: Mode,
    /// `fallback = "…"`.
    pub fallback: Fallback,
    /// `report = "…"`.
    pub report: ReportTo,
    /// `keep_capabilities = [...]`: bit `n` keeps capability `n` (`linux/capability.h`)
    /// besides the sandbox's default list; 0 keeps only that list.
    pub keep_capabilities: u64,
    /// `unresolved = "…"`.
    pub unresolved: Unresolved,
    /// `refresh = "…"`.
    pub refresh: Refresh,
    /// `deny_errno = "…"`.
    pub deny_errno: DenyErrno,
    /// `log_allowed = true`: the log (`log = "…"`) holds allowed decisions too.
    pub log_allowed: bool,
    /// `syscall_refusal = "…"` (issue 14).
    pub syscall_refusal: SyscallRefusal,
}

/// What a system call outside the profile gets (issue 14). Its spellings are
/// [`SYSCALL_REFUSAL`]'s. Compiled into the program; the runtime has no mirror of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SyscallRefusal {
    /// `EPERM`, reported by the supervisor where one runs.
    #[default]
    Eperm,
    /// `ENOSYS`, reported by the supervisor where one runs.
    Enosys,
    /// `SECCOMP_RET_KILL_PROCESS`: no report (the kernel kills before anyone could answer).
    Kill,
}

/// A whole policy as written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Allowed address endpoints.
    pub endpoints: Vec<Endpoint>,
    /// Allowed names. With no endpoint, no name and no unix socket, the policy allows no
    /// network.
    pub names: Vec<NamedEndpoint>,
    /// Where the program may serve (`listen`): TCP, one address (prefix full length) and one
    /// port each. Empty: it may bind only to port 0 and never `listen`.
    pub listen: Vec<Endpoint>,
    /// Allowed unix sockets (`unix:` endpoints).
    pub unix: Vec<UnixEndpoint>,
    /// Options.
    pub options: Options,
    /// The system call profile (`syscalls`, `deny_syscalls`; issue 14): empty by default.
    pub syscalls: crate::profiles::Profile,
    /// `log = "PATH"`: where the structured log goes (see [`LOG`]).
    pub log: Option<String>,
}

impl Policy {
    /// Whether any endpoint or name is UDP.
    pub fn has_udp(&self) -> bool {
        self.endpoints.iter().any(|e| e.protocol == Protocol::Udp)
            || self.names.iter().any(|e| e.protocol == Protocol::Udp)
    }

    /// Whether the policy allows no destination at all (no endpoint, no name, no unix
    /// socket).
    pub fn no_network(&self) -> bool {
        self.endpoints.is_empty() && self.names.is_empty() && self.unix.is_empty()
    }

    /// Whether the policy has a `unix:` endpoint.
    pub fn has_unix(&self) -> bool {
        !self.unix.is_empty()
    }

    /// The distinct names, in the order first written, each with its pinned addresses (the
    /// union over every entry that names it; empty: resolved at start).
    pub fn distinct_names(&self) -> Vec<(&str, Vec<IpAddr>)> {
        let mut out: Vec<(&str, Vec<IpAddr>)> = Vec::new();
        for n in &self.names {
            let i = match out.iter().position(|(name, _)| *name == n.name) {
                Some(i) => i,
                None => {
                    out.push((&n.name, Vec::new()));
                    out.len() - 1
                }
            };
            for a in &n.pinned {
                if !out[i].1.contains(a) {
                    out[i].1.push(*a);
                }
            }
        }
        out
    }

    /// A warning for a policy that names hosts and also lets the program reach a DNS
    /// resolver (port 53 or 853, UDP or TCP): whatever name the program asks that resolver
    /// about leaves the sandbox in the query, so the names no longer bound what leaves.
    pub fn resolver_warning(&self) -> Option<String> {
        if self.names.is_empty() {
            return None;
        }
        let dns: Vec<String> = self
            .endpoints
            .iter()
            .filter(|e| {
                [53, 853]
                    .iter()
                    .any(|p| e.first_port <= *p && *p <= e.last_port)
            })
            .map(|e| format!("`{e}`"))
            .chain(
                self.names
                    .iter()
                    .filter(|e| {
                        [53, 853]
                            .iter()
                            .any(|p| e.first_port <= *p && *p <= e.last_port)
                    })
                    .map(|e| format!("`{e}`")),
            )
            .collect();
        if dns.is_empty() {
            return None;
        }
        Some(format!(
            "the policy names hosts but also allows {}, which reaches DNS resolvers (port 53 or \
             853): the program can ask a resolver about any name, and the query carries that \
             name out of the sandbox; names already resolve without it, so remove it unless the \
             program must query DNS itself",
            one_of(&dns)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_of_clears_host_bits() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(network_of(ip("10.1.2.3"), 8), ip("10.0.0.0"));
        assert_eq!(network_of(ip("10.1.2.3"), 31), ip("10.1.2.2"));
        assert_eq!(network_of(ip("10.1.2.3"), 32), ip("10.1.2.3"));
        assert_eq!(network_of(ip("10.1.2.3"), 0), ip("0.0.0.0"));
        assert_eq!(network_of(ip("2001:db8::1"), 32), ip("2001:db8::"));
        assert_eq!(network_of(ip("2001:db8::1"), 127), ip("2001:db8::"));
        assert_eq!(network_of(ip("2001:db8::1"), 128), ip("2001:db8::1"));
        assert_eq!(network_of(ip("2001:db8::1"), 0), ip("::"));
    }

    #[test]
    fn every_option_value_is_named_back() {
        for spec in OPTIONS {
            assert_eq!(option(spec.key).map(|o| o.key), Some(spec.key));
            for v in spec.values {
                let mut o = Options::default();
                (v.set)(&mut o);
                assert_eq!(spec.name_in(&o), v.name, "{}", spec.key);
                assert_eq!(spec.value(v.name).map(|x| x.name), Some(v.name));
            }
        }
        assert_eq!(Fallback::LandlockPorts.name(), "landlock-ports");
        assert_eq!(ReportTo::Off.name(), "off");
        assert_eq!(AUDIT.name_in(&Options::default()), "false");
    }

    #[test]
    fn messages_list_the_vocabulary() {
        assert_eq!(
            FALLBACK.expected(),
            "\"refuse\", \"landlock-ports\" or \"deny-all\""
        );
        assert_eq!(AUDIT.expected(), "`true` or `false`");
        assert_eq!(
            expected_keys(&["from_build"]),
            "`allow`, `listen`, `syscalls`, `deny_syscalls`, `audit`, `fallback`, `report`, \
             `keep_capabilities`, `unresolved`, `refresh`, `deny_errno`, `syscall_refusal`, \
             `log_allowed`, `log` or `from_build`"
        );
        assert_eq!(
            REPORT.unknown_value(""),
            "an empty string is not a valid `report`: expected \"stderr\" or \"off\""
        );
    }

    #[test]
    fn names_are_checked_suggested_and_set() {
        let spec = &KEEP_CAPABILITIES;
        let mut o = Options::default();
        spec.set_names(&["CAP_SYS_NICE", "CAP_NET_RAW"], &mut o)
            .unwrap();
        assert_eq!(o.keep_capabilities, 1 << 23 | 1 << 13);
        assert_eq!(spec.names_in(&o), ["CAP_NET_RAW", "CAP_SYS_NICE"]);
        assert!(spec.names_in(&Options::default()).is_empty());

        let e = spec
            .set_names(
                &["CAP_SYS_NICE", "sys_nice", "CAP_SYS_NICE", "CAP_BOGUS"],
                &mut o,
            )
            .unwrap_err();
        assert_eq!(e.iter().map(|e| e.index).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(
            e[0].message,
            "`sys_nice` is not a capability `keep_capabilities` knows: did you mean \
             `CAP_SYS_NICE`?"
        );
        assert_eq!(
            e[1].message,
            "duplicate capability `CAP_SYS_NICE`: already named (entry 1 of the list): remove one"
        );
        assert_eq!(
            e[2].message,
            "`CAP_BOGUS` is not a capability `keep_capabilities` knows: write each as \
             keep_capabilities = [\"CAP_SYS_NICE\"]"
        );
        for (typo, meant) in [
            ("cap_net_raw", "CAP_NET_RAW"),
            ("CAP_SYS_NIC", "CAP_SYS_NICE"),
            ("CAP_NET_RAWW", "CAP_NET_RAW"),
            ("CAP-SYS-PTRACE", "CAP_SYS_PTRACE"),
            ("bpf", "CAP_BPF"),
        ] {
            assert_eq!(spec.suggest(typo), Some(meant), "{typo}");
        }
        assert_eq!(spec.suggest("CAP_EVERYTHING"), None);
        assert_eq!(spec.suggest(""), None);
        // The other options suggest too, but not from too far.
        assert_eq!(FALLBACK.suggest("deny_all"), Some("deny-all"));
        assert_eq!(REPORT.suggest("on"), None);
        assert!(FALLBACK
            .unknown_value("Deny-All")
            .ends_with("; did you mean `deny-all`?"));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
