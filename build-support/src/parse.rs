//! The endpoint grammar: `[tcp://|udp://]HOST:PORTS`.
//!
//! | part | forms |
//! |---|---|
//! | scheme | `tcp://`, `udp://`, or none (TCP) |
//! | HOST | `192.0.2.1`, `10.0.0.0/8`, `[2001:db8::1]`, `[2001:db8::/32]` |
//! | HOST (a name) | `api.example.com`, `localhost`, `example.com.` (RFC 1123, ASCII) |
//! | HOST (a pinned name) | `api.example.com=192.0.2.1`, `api.example.com=192.0.2.1,[2001:db8::1]` |
//! | PORTS | `443` or `8000-8080` (inclusive, 1–65535) |
//! | a unix socket | `unix:/run/app.sock` (an absolute path), `unix:@name` (an abstract name) |
//!
//! [`parse_entry`] turns one string into a [`model::Entry`](crate::model::Entry): an
//! [`Endpoint`] for an address, a [`NamedEndpoint`] for a name, whose [`Origin`] records
//! where the host and the ports are in the text. Every error is a [`ParseError`]: the byte
//! range of the offending part and a message that says what is wrong and what is expected.
//!
//! A HOST made only of digits and dots (before any `/LEN`) is an address (`1.2.3.999` is a bad address, not
//! a name); anything else that is not in brackets is a name. A name is labels of 1–63
//! letters, digits and `-` (not first or last), separated by dots, 253 characters at most; a
//! trailing dot is accepted and dropped, and the name is kept in lower case. Wildcards
//! (`*.example.com`) are refused: every name must be known before the program starts.
//! Non-ASCII names are refused with a pointer to their punycode (`xn--…`) form. A pinned
//! name's addresses are single IPv4 addresses or bracketed IPv6 addresses, comma-separated.
//!
//! Besides what `std` rejects, the grammar refuses forms that would not do what they seem to:
//! the unspecified address as a single host (`0.0.0.0:80`, `[::]:80`: the kernel sends a
//! connect to it to loopback or the bound address), and any network or pinned address that
//! holds or lies in an unspecified one (`0.0.0.0/8`, `0.0.0.0/31`, `0.1.2.3`, `[::/64]`,
//! `[::ffff:0.0.0.0/104]`; the supervisor never allows those destinations) except `0.0.0.0/0`
//! and `[::/0]`, which stay "every address of the family", IPv4-mapped IPv6 hosts (`[::ffff:10.0.0.1]`: the supervisor
//! matches such destinations as IPv4, so the endpoint would never match), IPv6 zone ids,
//! and whitespace.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use crate::model::{
    network_of, Endpoint, Entry, NamedEndpoint, Origin, Protocol, UnixEndpoint, UnixName,
    MAX_UNIX_PATH,
};

/// An endpoint string that does not follow the grammar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Byte range of the offending part within the endpoint string (empty at the end of the
    /// string when something is missing there).
    pub range: Range<usize>,
    /// What is wrong and what is expected.
    pub message: String,
}

impl ParseError {
    fn new(range: Range<usize>, message: impl Into<String>) -> Self {
        ParseError {
            range,
            message: message.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParseError {}

/// The message for a port outside 1–65535, shared with other front-ends.
const PORTS_ARE: &str = "ports are 1–65535";

/// Parses one address endpoint: [`parse_entry`], with a name refused (for callers that need
/// an address).
pub fn parse_endpoint(text: &str, index: usize) -> Result<Endpoint, ParseError> {
    match parse_entry(text, index)? {
        Entry::Address(e) => Ok(e),
        Entry::Name(n) => Err(ParseError::new(
            n.origin.host.clone(),
            format!("`{}` is a name: an address is expected here", n.name),
        )),
        Entry::Unix(u) => Err(ParseError::new(
            u.origin.host.clone(),
            format!("`{u}` is a unix socket: an address is expected here"),
        )),
    }
}

/// Parses one entry of a `listen` list: `[tcp://]ADDRESS:PORT`, an IP address (no name, no
/// prefix) and one port, TCP only (a UDP server answers with sends, which `allow` governs).
pub fn parse_listen(text: &str, index: usize) -> Result<Endpoint, ParseError> {
    let example = "write ADDRESS:PORT, e.g. \"127.0.0.1:8080\"";
    if text.starts_with("udp://") {
        return Err(ParseError::new(
            0..6,
            format!(
                "`listen` takes TCP addresses: a UDP server answers with sends, which `allow` \
                 governs; {example}"
            ),
        ));
    }
    let e = parse_endpoint(text, index).map_err(|mut e| {
        if e.message.contains("is a name") {
            e.message = format!("{}; `listen` takes an IP address: {example}", e.message);
        }
        e
    })?;
    let full = if e.addr.is_ipv4() { 32 } else { 128 };
    if e.prefix != full {
        return Err(ParseError::new(
            e.origin.host.clone(),
            format!("`listen` takes one address, not a network: {example}"),
        ));
    }
    if e.first_port != e.last_port {
        return Err(ParseError::new(
            e.origin.ports.clone(),
            format!("`listen` takes one port, not a range: {example}"),
        ));
    }
    Ok(e)
}

/// Parses one entry of an allow list. `index` is its position in the front-end's list and is
/// stored in the [`Origin`], together with the text and the ranges of the host and the ports
/// (the host range includes the brackets of an IPv6 host, and a name's pinned addresses).
pub fn parse_entry(text: &str, index: usize) -> Result<Entry, ParseError> {
    if text.is_empty() {
        return Err(ParseError::new(
            0..0,
            "empty endpoint: write HOST:PORT, e.g. \"192.0.2.1:443\"",
        ));
    }
    if let Some(rest) = text.strip_prefix(UNIX_SCHEME) {
        return parse_unix(text, rest, index).map(Entry::Unix);
    }
    if let Some((at, c)) = text.char_indices().find(|(_, c)| c.is_whitespace()) {
        return Err(ParseError::new(
            at..at + c.len_utf8(),
            format!(
                "whitespace in endpoint `{text}`: write it without spaces, e.g. \"192.0.2.1:443\""
            ),
        ));
    }

    let (protocol, rest_start) = parse_scheme(text)?;
    let rest = &text[rest_start..];

    if !rest.starts_with('[') {
        if let Some(eq) = rest.find('=') {
            return parse_pinned(text, protocol, rest_start, rest_start + eq, index);
        }
    }
    let (host, ports) = if rest.starts_with('[') {
        split_bracketed(text, rest_start)?
    } else {
        split_plain(text, rest_start)?
    };

    let host_text = &text[host.clone()];
    let before_prefix = host_text.split('/').next().unwrap_or_default();
    if !host_text.is_empty()
        && !host_text.starts_with('[')
        && !before_prefix
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.')
    {
        let name = parse_name(text, host.clone())?;
        let (first_port, last_port) = parse_ports(text, ports.clone())?;
        return Ok(Entry::Name(NamedEndpoint {
            protocol,
            name,
            pinned: Vec::new(),
            first_port,
            last_port,
            origin: Origin {
                index,
                text: text.to_owned(),
                host,
                ports,
            },
        }));
    }

    let (addr, prefix) = parse_host(text, host.clone())?;
    let (first_port, last_port) = parse_ports(text, ports.clone())?;

    Ok(Entry::Address(Endpoint {
        protocol,
        addr,
        prefix,
        first_port,
        last_port,
        origin: Origin {
            index,
            text: text.to_owned(),
            host,
            ports,
        },
    }))
}

/// `NAME=ADDR[,ADDR…]:PORTS`, the `=` at `eq`.
fn parse_pinned(
    text: &str,
    protocol: Protocol,
    start: usize,
    eq: usize,
    index: usize,
) -> Result<Entry, ParseError> {
    // IPv6 addresses are bracketed, so the port's colon is the last one, after any `]`.
    let colon = match text[eq..].rfind(':').map(|c| eq + c) {
        Some(c) if !text[c..].contains(']') => c,
        _ => {
            return Err(ParseError::new(
                text.len()..text.len(),
                format!(
                    "missing port: write {}:PORT, e.g. api.example.com=192.0.2.1:443",
                    &text[start..]
                ),
            ))
        }
    };
    if eq == start {
        return Err(ParseError::new(
            start..eq + 1,
            "missing name before `=`: write NAME=ADDRESS:PORT, e.g. api.example.com=192.0.2.1:443",
        ));
    }
    let name = parse_name(text, start..eq)?;
    let mut pinned = Vec::new();
    let mut at = eq + 1;
    loop {
        let end = text[at..colon].find(',').map_or(colon, |c| at + c);
        let addr = parse_pin(text, at..end)?;
        if pinned.contains(&addr) {
            return Err(ParseError::new(
                at..end,
                format!(
                    "`{}` is pinned twice: write each address once",
                    &text[at..end]
                ),
            ));
        }
        pinned.push(addr);
        if end == colon {
            break;
        }
        at = end + 1;
    }
    let ports = colon + 1..text.len();
    let (first_port, last_port) = parse_ports(text, ports.clone())?;
    Ok(Entry::Name(NamedEndpoint {
        protocol,
        name,
        pinned,
        first_port,
        last_port,
        origin: Origin {
            index,
            text: text.to_owned(),
            host: start..colon,
            ports,
        },
    }))
}

/// One pinned address at `range`: `192.0.2.1` or `[2001:db8::1]`.
fn parse_pin(text: &str, range: Range<usize>) -> Result<IpAddr, ParseError> {
    let s = &text[range.clone()];
    if s.is_empty() {
        return Err(ParseError::new(
            range.start.saturating_sub(1)..range.end + 1,
            "missing address: a name is pinned to IP addresses separated by commas, e.g. \
             api.example.com=192.0.2.1,[2001:db8::1]:443",
        ));
    }
    if s.contains('/') {
        return Err(ParseError::new(
            range,
            format!(
                "`{s}` is a network: a name is pinned to single addresses (what its lookup \
                 answers), e.g. =192.0.2.1"
            ),
        ));
    }
    if let Some(inner) = s.strip_prefix('[') {
        let Some(inner) = inner.strip_suffix(']') else {
            return Err(ParseError::new(
                range,
                format!("missing `]` in `{s}`: write a pinned IPv6 address as [2001:db8::1]"),
            ));
        };
        let (addr, _) = parse_v6_host(text, range.start + 1..range.end - 1, inner)?;
        return Ok(addr);
    }
    if s.contains(':') {
        return Err(ParseError::new(
            range,
            format!("IPv6 addresses need brackets: [{s}]"),
        ));
    }
    let addr = parse_v4_addr(s).map_err(|_| {
        ParseError::new(
            range.clone(),
            format!(
                "`{s}` is not an IP address: a name is pinned to IPv4 addresses (192.0.2.1) or \
                 IPv6 addresses in brackets ([2001:db8::1])"
            ),
        )
    })?;
    if addr.is_unspecified() {
        return Err(ParseError::new(
            range,
            "0.0.0.0 is the unspecified address: a connect to it reaches this machine; pin \
             127.0.0.1 for loopback",
        ));
    }
    if addr.octets()[0] == 0 {
        return Err(ParseError::new(
            range,
            format!(
                "{addr} is in 0.0.0.0/8, which the sandbox never allows: {UNSPECIFIED_WHY}; \
                 pin 127.0.0.1 for loopback"
            ),
        ));
    }
    Ok(IpAddr::V4(addr))
}

/// Longest name, without its trailing dot (RFC 1035: 255 octets on the wire).
const MAX_NAME: usize = 253;
/// Longest label (RFC 1035).
const MAX_LABEL: usize = 63;

/// A DNS name at `range` (RFC 1123 labels, ASCII, a trailing dot accepted): in lower case,
/// without the trailing dot.
fn parse_name(text: &str, range: Range<usize>) -> Result<String, ParseError> {
    let s = &text[range.clone()];
    if !s.is_ascii() {
        return Err(ParseError::new(
            range,
            format!(
                "`{s}` is not ASCII: write the name in its punycode form (`xn--…`, as `idn2` \
                 prints it), e.g. bücher.example is xn--bcher-kva.example"
            ),
        ));
    }
    if s.contains('*') {
        return Err(ParseError::new(
            range,
            format!(
                "`{s}`: wildcards are not supported: the sandbox resolves every allowed name \
                 before the program starts and gives it exactly those answers, and a wildcard \
                 names no host; list each name, e.g. api.example.com:443"
            ),
        ));
    }
    let trimmed = s.strip_suffix('.').unwrap_or(s);
    if trimmed.len() > MAX_NAME {
        return Err(ParseError::new(
            range,
            format!(
                "the name is {} characters long: a DNS name has at most {MAX_NAME}",
                trimmed.len()
            ),
        ));
    }
    let mut at = range.start;
    for label in trimmed.split('.') {
        let lr = at..at + label.len();
        if label.is_empty() {
            // Point at the dot that ends (or the place that starts) the empty label.
            let dot = if at < range.end { at..at + 1 } else { at..at };
            return Err(ParseError::new(
                dot,
                format!("empty label in `{s}`: a name is labels of 1–{MAX_LABEL} characters separated by single dots"),
            ));
        }
        if label.len() > MAX_LABEL {
            return Err(ParseError::new(
                lr,
                format!(
                    "label `{label}` is {} characters long: a DNS label has 1–{MAX_LABEL}",
                    label.len()
                ),
            ));
        }
        if let Some(bad) = label
            .bytes()
            .position(|b| !(b.is_ascii_alphanumeric() || b == b'-'))
        {
            let c = label.as_bytes()[bad] as char;
            return Err(ParseError::new(
                lr.start + bad..lr.start + bad + 1,
                format!(
                    "`{c}` is not allowed in a name: letters, digits, `-` and `.` only (RFC 1123)"
                ),
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(ParseError::new(
                lr,
                format!("label `{label}` starts or ends with `-`: a DNS label may not (RFC 1123)"),
            ));
        }
        at = lr.end + 1;
    }
    Ok(trimmed.to_ascii_lowercase())
}

/// Reads an optional `tcp://` or `udp://`; returns the protocol and where the rest starts.
fn parse_scheme(text: &str) -> Result<(Protocol, usize), ParseError> {
    let Some(end) = text.find("://") else {
        return Ok((Protocol::Tcp, 0));
    };
    let scheme = &text[..end];
    // `[::1]://…` or `1.2.3.4://…` is not a scheme but a typo further on; only letters count.
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+')
    {
        return Err(ParseError::new(
            0..end + 3,
            format!("`{}` is not a scheme: write `tcp://` or `udp://` (or none for tcp) before HOST:PORT", &text[..end + 3]),
        ));
    }
    match scheme {
        "tcp" => Ok((Protocol::Tcp, end + 3)),
        "udp" => Ok((Protocol::Udp, end + 3)),
        _ => Err(ParseError::new(
            0..end + 3,
            format!("unknown scheme `{scheme}://`: use `tcp://` or `udp://` (or none for tcp)"),
        )),
    }
}

/// `[IPv6]:PORTS` or `[IPv6/len]:PORTS`, starting at `start`: the host range (with brackets)
/// and the ports range.
fn split_bracketed(text: &str, start: usize) -> Result<(Range<usize>, Range<usize>), ParseError> {
    let rest = &text[start..];
    let Some(close) = rest.find(']') else {
        return Err(ParseError::new(
            start..text.len(),
            format!(
                "missing `]` after the IPv6 address in `{rest}`: write [IPv6]:PORT, e.g. [2001:db8::1]:443"
            ),
        ));
    };
    let host = start..start + close + 1;
    let after = &text[host.end..];
    match after.strip_prefix(':') {
        Some(_) => Ok((host.clone(), host.end + 1..text.len())),
        None if after.is_empty() => Err(ParseError::new(
            text.len()..text.len(),
            format!("missing port: write {}:PORT", &text[host.clone()]),
        )),
        None => Err(ParseError::new(
            host.end..text.len(),
            format!(
                "unexpected `{after}` after `{}`: write {}:PORT",
                &text[host.clone()],
                &text[host]
            ),
        )),
    }
}

/// `HOST:PORTS` without brackets, starting at `start`: the host range and the ports range.
fn split_plain(text: &str, start: usize) -> Result<(Range<usize>, Range<usize>), ParseError> {
    let rest = &text[start..];
    let colons = rest.matches(':').count();
    if colons == 0 {
        if rest.is_empty() {
            return Err(ParseError::new(
                start..start,
                "missing host and port after the scheme: write HOST:PORT, e.g. tcp://192.0.2.1:443",
            ));
        }
        return Err(ParseError::new(
            text.len()..text.len(),
            format!("missing port: write HOST:PORT, e.g. {rest}:443"),
        ));
    }
    if colons > 1 {
        // An IPv6 address without brackets: either `ADDR:PORT` or a bare `ADDR`.
        let hint = match rest.rsplit_once(':') {
            Some((a, p)) if a.parse::<Ipv6Addr>().is_ok() && is_port_like(p) => {
                format!("[{a}]:{p}")
            }
            _ if rest.parse::<Ipv6Addr>().is_ok() => format!("[{rest}]:PORT"),
            _ => "[::1]:443".to_owned(),
        };
        return Err(ParseError::new(
            start..text.len(),
            format!("IPv6 addresses need brackets: {hint}"),
        ));
    }
    let colon = start + rest.find(':').expect("one colon");
    Ok((start..colon, colon + 1..text.len()))
}

fn is_port_like(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'-')
}

/// The host at `range` in `text`: an address and a prefix length.
fn parse_host(text: &str, range: Range<usize>) -> Result<(IpAddr, u8), ParseError> {
    let host = &text[range.clone()];
    if host.is_empty() {
        return Err(ParseError::new(
            range,
            "missing host before `:`: write HOST:PORT, e.g. 192.0.2.1:443",
        ));
    }
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .expect("split_bracketed keeps the `]`");
        parse_v6_host(text, range.start + 1..range.end - 1, inner)
    } else {
        parse_v4_host(text, range, host)
    }
}

/// Splits `ADDR/LEN` at `range`: the address range and, if written, the prefix range.
fn split_prefix(range: &Range<usize>, host: &str) -> (Range<usize>, Option<Range<usize>>) {
    match host.find('/') {
        Some(slash) => (
            range.start..range.start + slash,
            Some(range.start + slash + 1..range.end),
        ),
        None => (range.clone(), None),
    }
}

/// Parses the digits of a prefix length no longer than `max`.
fn parse_prefix(text: &str, range: Range<usize>, max: u8, family: &str) -> Result<u8, ParseError> {
    let s = &text[range.clone()];
    if s.is_empty() {
        return Err(ParseError::new(
            range.start - 1..range.end,
            format!("missing prefix length after `/`: write a number from 0 to {max}"),
        ));
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::new(
            range,
            format!("`/{s}` is not a prefix length: write a number from 0 to {max}"),
        ));
    }
    match s.parse::<u32>() {
        Ok(n) if n <= u32::from(max) => Ok(n as u8),
        _ => Err(ParseError::new(
            range.start - 1..range.end,
            format!("prefix /{s} is longer than {max} for {family}"),
        )),
    }
}

fn parse_v4_host(text: &str, range: Range<usize>, host: &str) -> Result<(IpAddr, u8), ParseError> {
    let (addr_range, prefix_range) = split_prefix(&range, host);
    let addr_text = &text[addr_range.clone()];
    let addr = parse_v4_addr(addr_text).map_err(|m| ParseError::new(addr_range.clone(), m))?;
    let prefix = match prefix_range {
        Some(p) => parse_prefix(text, p, 32, "IPv4")?,
        None => {
            if addr.is_unspecified() {
                return Err(ParseError::new(
                    addr_range,
                    "0.0.0.0 is the unspecified address: a connect to it reaches this machine; \
                     write 127.0.0.1 for loopback, or 0.0.0.0/0 for every IPv4 address",
                ));
            }
            32
        }
    };
    let net = network_of(IpAddr::V4(addr), prefix);
    if net != IpAddr::V4(addr) {
        return Err(ParseError::new(
            range,
            format!("host bits set in {host}: did you mean {net}/{prefix}?"),
        ));
    }
    // 0.0.0.0/0 stays "every IPv4 address": the supervisor still refuses 0.0.0.0/8 itself.
    if prefix > 0 && addr.octets()[0] == 0 {
        let what = if addr.is_unspecified() {
            "holds 0.0.0.0, the unspecified address"
        } else {
            "is in 0.0.0.0/8, where 0.0.0.0 is the unspecified address"
        };
        return Err(ParseError::new(
            range,
            format!(
                "{host} {what}, which the sandbox never allows: {UNSPECIFIED_WHY}; write \
                 127.0.0.1 for loopback, or 0.0.0.0/0 for every IPv4 address"
            ),
        ));
    }
    Ok((IpAddr::V4(addr), prefix))
}

/// An IPv4 address in dotted decimal, with messages for the near misses.
fn parse_v4_addr(s: &str) -> Result<Ipv4Addr, String> {
    if let Ok(a) = s.parse::<Ipv4Addr>() {
        return Ok(a);
    }
    let parts: Vec<&str> = s.split('.').collect();
    let numeric = parts
        .iter()
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if numeric && parts.len() == 4 {
        if let Some(p) = parts.iter().find(|p| p.len() > 1 && p.starts_with('0')) {
            if p.parse::<u32>().is_ok_and(|n| n <= 255) {
                let fixed: Vec<String> = parts
                    .iter()
                    .map(|p| p.parse::<u32>().map(|n| n.to_string()).unwrap_or_default())
                    .collect();
                return Err(format!(
                    "leading zero in `{s}` (some tools read it as octal): write {}",
                    fixed.join(".")
                ));
            }
        }
        if let Some(p) = parts
            .iter()
            .find(|p| p.parse::<u32>().map_or(true, |n| n > 255))
        {
            return Err(format!(
                "`{s}` is not an IPv4 address: `{p}` is more than 255"
            ));
        }
    }
    Err(format!(
        "`{s}` is not an IPv4 address: write four numbers 0–255 separated by dots, e.g. 192.0.2.1, \
         or an IPv6 address in brackets"
    ))
}

fn parse_v6_host(text: &str, range: Range<usize>, inner: &str) -> Result<(IpAddr, u8), ParseError> {
    let bracketed = range.start - 1..range.end + 1;
    if inner.is_empty() {
        return Err(ParseError::new(
            bracketed,
            "empty brackets: write an IPv6 address inside, e.g. [2001:db8::1]:443",
        ));
    }
    let (addr_range, prefix_range) = split_prefix(&range, inner);
    let addr_text = &text[addr_range.clone()];
    if let Some(pct) = addr_text.find('%') {
        return Err(ParseError::new(
            addr_range.start + pct..addr_range.end,
            format!(
                "zone id `{}` is not supported: write the address without it",
                &addr_text[pct..]
            ),
        ));
    }
    let addr = match addr_text.parse::<Ipv6Addr>() {
        Ok(a) => a,
        Err(_) if addr_text.parse::<Ipv4Addr>().is_ok() => {
            return Err(ParseError::new(
                bracketed,
                format!(
                    "`{addr_text}` is an IPv4 address: write it without brackets, e.g. {addr_text}:443"
                ),
            ));
        }
        Err(_) => {
            return Err(ParseError::new(
                addr_range,
                format!(
                    "`{addr_text}` is not an IPv6 address: write eight groups of hex digits \
                     separated by `:` (`::` for a run of zeros), e.g. [2001:db8::1]"
                ),
            ));
        }
    };
    let prefix = match prefix_range {
        Some(p) => parse_prefix(text, p, 128, "IPv6")?,
        None => {
            if addr.is_unspecified() {
                return Err(ParseError::new(
                    bracketed,
                    "[::] is the unspecified address: a connect to it reaches this machine; \
                     write [::1] for loopback, or [::/0] for every IPv6 address",
                ));
            }
            128
        }
    };
    let net = network_of(IpAddr::V6(addr), prefix);
    if net != IpAddr::V6(addr) {
        return Err(ParseError::new(
            bracketed,
            format!("host bits set in [{inner}]: did you mean [{net}/{prefix}]?"),
        ));
    }
    // [::/0] stays "every IPv6 address": the supervisor still refuses :: itself.
    if prefix > 0 && holds_v6_unspecified(addr, prefix) {
        return Err(ParseError::new(
            bracketed,
            format!(
                "[{inner}] holds [::] or [::ffff:0.0.0.0], an unspecified address, which the \
                 sandbox never allows: {UNSPECIFIED_WHY}; write [::1] for loopback, or [::/0] \
                 for every IPv6 address"
            ),
        ));
    }
    // ::ffff:0:0/96 holds IPv4 addresses in IPv6 clothing. The supervisor matches such a
    // destination as the IPv4 address it maps, so an IPv6 endpoint inside it matches nothing.
    if prefix >= 96 {
        if let Some(v4) = addr.to_ipv4_mapped() {
            let suggestion = if prefix == 128 {
                v4.to_string()
            } else {
                format!("{v4}/{}", prefix - 96)
            };
            return Err(ParseError::new(
                bracketed,
                format!(
                    "[{inner}] is an IPv4-mapped IPv6 address: connections to it are checked as IPv4; write {suggestion}"
                ),
            ));
        }
    }
    Ok((IpAddr::V6(addr), prefix))
}

/// Why an unspecified address is never a destination (the supervisor's refusal line says
/// the same, `network_sandbox::policy::UNSPECIFIED_REACHES_THIS_MACHINE`).
const UNSPECIFIED_WHY: &str = "a connect to it reaches this machine (the kernel connects it \
                               to loopback or the bound address)";

/// Whether the IPv6 network `addr/prefix` holds `::` or overlaps `::ffff:0.0.0.0/104` (the
/// IPv4-mapped `0.0.0.0/8`), which the supervisor refuses whatever the policy says.
fn holds_v6_unspecified(addr: Ipv6Addr, prefix: u8) -> bool {
    const MAPPED_ZERO: u128 = 0xffff_0000_0000;
    let mask = |p: u8| {
        if p == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(p))
        }
    };
    let net = u128::from(addr);
    let common = prefix.min(104);
    net == 0 || (net & mask(common)) == (MAPPED_ZERO & mask(common))
}

/// `N` or `LO-HI` at `range`.
fn parse_ports(text: &str, range: Range<usize>) -> Result<(u16, u16), ParseError> {
    let s = &text[range.clone()];
    if s.is_empty() {
        return Err(ParseError::new(
            range.start - 1..range.end,
            "missing port after `:`: write HOST:PORT or HOST:LOW-HIGH, e.g. 192.0.2.1:443",
        ));
    }
    if s == "*" {
        return Err(ParseError::new(
            range,
            "`*` is not a port: write 1-65535 for every port",
        ));
    }
    match s.find('-') {
        None => {
            let p = parse_port(text, range.clone())?;
            Ok((p, p))
        }
        Some(dash) => {
            let lo_range = range.start..range.start + dash;
            let hi_range = range.start + dash + 1..range.end;
            if lo_range.is_empty() || hi_range.is_empty() {
                return Err(ParseError::new(
                    range,
                    format!("`{s}` is not a port range: write LOW-HIGH, e.g. 8000-8080"),
                ));
            }
            let lo = parse_port(text, lo_range)?;
            let hi = parse_port(text, hi_range)?;
            if lo > hi {
                return Err(ParseError::new(
                    range,
                    format!("reversed port range {lo}-{hi}: write the lower port first, {hi}-{lo}"),
                ));
            }
            Ok((lo, hi))
        }
    }
}

fn parse_port(text: &str, range: Range<usize>) -> Result<u16, ParseError> {
    let s = &text[range.clone()];
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::new(
            range,
            format!("`{s}` is not a port: {PORTS_ARE}, written in decimal"),
        ));
    }
    match s.parse::<u32>() {
        Ok(0) => Err(ParseError::new(
            range,
            format!("port 0 is not allowed: {PORTS_ARE}"),
        )),
        Ok(n) if n <= 65535 => Ok(n as u16),
        _ => Err(ParseError::new(
            range,
            format!("`{s}` is not a port: {PORTS_ARE}"),
        )),
    }
}

/// The scheme of a unix socket endpoint.
const UNIX_SCHEME: &str = "unix:";

/// `unix:/absolute/path` or `unix:@abstract-name`; `rest` is what follows `unix:`.
///
/// Refused: an empty path or name, a relative path (the policy has no working directory; a
/// program's relative path is resolved against its own), a path or name longer than
/// [`MAX_UNIX_PATH`] bytes (it does not fit in `sun_path`), a `:PORT` at the end (unix
/// sockets have no ports), NUL and other control characters.
fn parse_unix(text: &str, rest: &str, index: usize) -> Result<UnixEndpoint, ParseError> {
    let start = UNIX_SCHEME.len();
    let range = start..text.len();
    let example = "write unix:/run/app.sock for a socket in the file system or unix:@name for \
                   an abstract one";
    if rest.is_empty() {
        return Err(ParseError::new(
            0..start,
            format!("empty unix socket: {example}"),
        ));
    }
    if let Some((at, c)) = rest.char_indices().find(|(_, c)| c.is_control()) {
        let at = start + at;
        return Err(ParseError::new(
            at..at + c.len_utf8(),
            format!("a control character ({c:?}) in a unix socket endpoint: {example}"),
        ));
    }
    // `unix:/run/app.sock:80`: a port does not belong to a unix socket.
    if let Some(colon) = rest.rfind(':') {
        let tail = &rest[colon + 1..];
        if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::new(
                start + colon..text.len(),
                format!(
                    "`:{tail}`: a unix socket has no port: write it without one, e.g. \
                     unix:{}",
                    &rest[..colon]
                ),
            ));
        }
    }
    let name = if let Some(abstract_name) = rest.strip_prefix('@') {
        if abstract_name.is_empty() {
            return Err(ParseError::new(
                range,
                format!("empty abstract name after `@`: {example}"),
            ));
        }
        if abstract_name.len() > MAX_UNIX_PATH {
            return Err(ParseError::new(
                range,
                format!(
                    "the abstract name is {} bytes long: at most {MAX_UNIX_PATH} fit in \
                     sun_path after its leading NUL",
                    abstract_name.len()
                ),
            ));
        }
        UnixName::Abstract(abstract_name.as_bytes().to_vec())
    } else {
        if !rest.starts_with('/') {
            return Err(ParseError::new(
                range,
                format!(
                    "`{rest}` is a relative path: a policy names a unix socket by its \
                     absolute path (unix:/run/app.sock), or an abstract one as unix:@name"
                ),
            ));
        }
        if rest.len() > MAX_UNIX_PATH {
            return Err(ParseError::new(
                range,
                format!(
                    "the path is {} bytes long: at most {MAX_UNIX_PATH} fit in sun_path \
                     (with its terminating NUL)",
                    rest.len()
                ),
            ));
        }
        UnixName::Path(rest.to_owned())
    };
    Ok(UnixEndpoint {
        name,
        origin: Origin {
            index,
            text: text.to_owned(),
            host: range,
            ports: text.len()..text.len(),
        },
    })
}
