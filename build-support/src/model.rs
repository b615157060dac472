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

/// Enforce or audit (mirrors `network_sandbox::Mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// Refuse what the policy does not allow.
    #[default]
    Enforce,
    /// Report, but allow.
    Audit,
}

/// What happens when the supervisor cannot run (mirrors `network_sandbox::Fallback`).
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
    /// The spellings accepted in a policy, for error messages.
    pub const SPELLINGS: &'static str = "\"refuse\", \"landlock-ports\" or \"deny-all\"";

    /// Parses the policy spelling of a fallback.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "refuse" => Some(Fallback::Refuse),
            "landlock-ports" => Some(Fallback::LandlockPorts),
            "deny-all" => Some(Fallback::DenyAll),
            _ => None,
        }
    }
}

/// Where violations are reported (mirrors `network_sandbox::ReportTo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ReportTo {
    /// One line on stderr per event.
    #[default]
    Stderr,
    /// Nothing.
    Off,
}

impl ReportTo {
    /// The spellings accepted in a policy, for error messages.
    pub const SPELLINGS: &'static str = "\"stderr\" or \"off\"";

    /// Parses the policy spelling of a report destination.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "stderr" => Some(ReportTo::Stderr),
            "off" => Some(ReportTo::Off),
            _ => None,
        }
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
}

/// A whole policy as written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Allowed endpoints; empty means no network.
    pub endpoints: Vec<Endpoint>,
    /// Options.
    pub options: Options,
}

impl Policy {
    /// Whether any endpoint is UDP.
    pub fn has_udp(&self) -> bool {
        self.endpoints.iter().any(|e| e.protocol == Protocol::Udp)
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
}
