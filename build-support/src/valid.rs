//! Checks across a whole policy, after each endpoint has parsed.
//!
//! | check | error points at |
//! |---|---|
//! | the same endpoint twice (also when written differently, e.g. with and without `tcp://`) | the later one |
//! | an endpoint that another one already allows (`10.1.2.3:443` beside `10.0.0.0/8:443`) | the narrower one |
//! | a name that an earlier entry already allows (same name and protocol, ports within, no new pinned address) | the later one |
//! | `fallback = "landlock-ports"` with a UDP endpoint (Landlock only restricts TCP) | the `udp://` of that endpoint |
//! | the same unix socket twice | the later one |
//! | `fallback = "landlock-ports"` with a `unix:` endpoint (without the supervisor nothing checks a unix connect) | the `unix:` of that endpoint |
//!
//! [`policy_from_strs`] is the front door for a front-end that has a list of endpoint
//! strings and options: it parses each string and validates the result, reporting every
//! error as an [`EndpointError`].

use std::fmt;
use std::ops::Range;

use crate::model::{
    network_of, Endpoint, Entry, Fallback, NamedEndpoint, Options, Origin, Policy, Protocol,
    UnixEndpoint, FALLBACK,
};
use crate::parse::{parse_entry, parse_listen, ParseError};

/// An error in one endpoint of a policy: which one, where in its text, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointError {
    /// Index of the endpoint string in the front-end's `allow` list.
    pub index: usize,
    /// Byte range within that string.
    pub range: Range<usize>,
    /// What is wrong and what is expected.
    pub message: String,
}

impl EndpointError {
    /// A parse error of the endpoint at `index`.
    pub fn from_parse(index: usize, e: ParseError) -> Self {
        EndpointError {
            index,
            range: e.range,
            message: e.message,
        }
    }
}

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EndpointError {}

/// Parses every string of `allow` and validates the policy they make with `options`.
/// Returns every error found, in the order of the list; validation runs only once every
/// endpoint parses.
pub fn policy_from_strs<S: AsRef<str>>(
    allow: &[S],
    options: Options,
) -> Result<Policy, Vec<EndpointError>> {
    let mut endpoints = Vec::with_capacity(allow.len());
    let mut names = Vec::new();
    let mut unix = Vec::new();
    let mut errors = Vec::new();
    for (index, text) in allow.iter().enumerate() {
        match parse_entry(text.as_ref(), index) {
            Ok(Entry::Address(e)) => endpoints.push(e),
            Ok(Entry::Name(n)) => names.push(n),
            Ok(Entry::Unix(u)) => unix.push(u),
            Err(e) => errors.push(EndpointError::from_parse(index, e)),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let policy = Policy {
        endpoints,
        names,
        listen: Vec::new(),
        unix,
        options,
        ..Policy::default()
    };
    validate(&policy)?;
    Ok(policy)
}

/// Parses every string of a `listen` list ([`parse_listen`]): every error, in the order of
/// the list, with a duplicate (the same address and port twice) an error too. Indices are
/// positions in the `listen` list.
///
/// `fallback = "landlock-ports"` cannot hold `listen` entries (Landlock sees binds, and a
/// `listen` after a bind to port 0 binds nothing: the program would serve on an ephemeral
/// port), so `options` with that fallback make any entry an error.
pub fn listen_from_strs<S: AsRef<str>>(
    listen: &[S],
    options: &Options,
) -> Result<Vec<Endpoint>, Vec<EndpointError>> {
    let mut out: Vec<Endpoint> = Vec::with_capacity(listen.len());
    let mut errors = Vec::new();
    for (index, text) in listen.iter().enumerate() {
        match parse_listen(text.as_ref(), index) {
            Ok(e) => {
                if let Some(first) = out
                    .iter()
                    .find(|o| o.addr == e.addr && o.first_port == e.first_port)
                {
                    errors.push(at_whole(
                        &e,
                        format!(
                            "duplicate `listen` entry: `{}` is already given as entry {}: remove one",
                            e.origin.text,
                            first.origin.index + 1
                        ),
                    ));
                } else {
                    out.push(e);
                }
            }
            Err(e) => errors.push(EndpointError::from_parse(index, e)),
        }
    }
    if let (Some(first), Fallback::LandlockPorts) = (out.first(), options.fallback) {
        errors.push(at_whole(
            first,
            "`listen` cannot be combined with fallback = \"landlock-ports\": without the \
             supervisor nothing would check where a socket listens"
                .to_owned(),
        ));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Checks `policy` as a whole (see the module documentation). Errors are sorted by endpoint
/// index.
pub fn validate(policy: &Policy) -> Result<(), Vec<EndpointError>> {
    let mut errors = Vec::new();
    let eps = &policy.endpoints;

    for (j, later) in eps.iter().enumerate() {
        for earlier in &eps[..j] {
            if same(earlier, later) {
                errors.push(at_whole(
                    later,
                    format!(
                        "duplicate endpoint: `{}` is already allowed by `{}` (entry {} of the list): remove one",
                        later.origin.text,
                        earlier.origin.text,
                        earlier.origin.index + 1
                    ),
                ));
                break;
            }
            let (wide, narrow) = if covers(earlier, later) {
                (earlier, later)
            } else if covers(later, earlier) {
                (later, earlier)
            } else {
                continue;
            };
            errors.push(at_whole(
                narrow,
                format!(
                    "`{}` is already allowed by `{}` (entry {} of the list): remove the narrower one",
                    narrow.origin.text,
                    wide.origin.text,
                    wide.origin.index + 1
                ),
            ));
            break;
        }
    }

    for (j, later) in policy.names.iter().enumerate() {
        if let Some(earlier) = policy.names[..j].iter().find(|e| name_covers(e, later)) {
            errors.push(at_whole_origin(
                &later.origin,
                format!(
                    "`{}` is already allowed by `{}` (entry {} of the list): remove it",
                    later.origin.text,
                    earlier.origin.text,
                    earlier.origin.index + 1
                ),
            ));
        }
    }

    if policy.options.fallback == Fallback::LandlockPorts {
        let udp = eps
            .iter()
            .filter(|e| e.protocol == Protocol::Udp)
            .map(|e| &e.origin)
            .chain(
                policy
                    .names
                    .iter()
                    .filter(|e| e.protocol == Protocol::Udp)
                    .map(|e| &e.origin),
            );
        for e in udp {
            let scheme = match e.text.find("://") {
                Some(end) => 0..end + 3,
                None => 0..e.text.len(),
            };
            errors.push(EndpointError {
                index: e.index,
                range: scheme,
                message: format!(
                    "`{}` is UDP, but {key} = \"{}\" can only check TCP ports: choose {key} \
                     \"{}\" or \"{}\", or drop the UDP endpoint",
                    e.text,
                    Fallback::LandlockPorts.name(),
                    Fallback::Refuse.name(),
                    Fallback::DenyAll.name(),
                    key = FALLBACK.key,
                ),
            });
        }
    }

    errors.extend(unix_errors(&policy.unix, policy.options.fallback));

    errors.sort_by_key(|e| e.index);
    errors.dedup_by_key(|e| e.index);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The checks of `unix:` endpoints: the same socket twice, and a `unix:` endpoint under
/// `fallback = "landlock-ports"`, where no supervisor checks unix connects (so the program
/// gets no unix socket at all).
fn unix_errors(unix: &[UnixEndpoint], fallback: Fallback) -> Vec<EndpointError> {
    let mut errors = Vec::new();
    for (j, later) in unix.iter().enumerate() {
        if let Some(earlier) = unix[..j].iter().find(|e| e.name == later.name) {
            errors.push(at_whole_origin(
                &later.origin,
                format!(
                    "duplicate endpoint: `{}` is already allowed by `{}` (entry {} of the list): \
                     remove one",
                    later.origin.text,
                    earlier.origin.text,
                    earlier.origin.index + 1
                ),
            ));
        }
        if fallback == Fallback::LandlockPorts {
            errors.push(EndpointError {
                index: later.origin.index,
                range: 0.."unix:".len(),
                message: format!(
                    "`{}` is a unix socket, but {key} = \"{}\" runs without the supervisor, \
                     which alone checks unix connects: choose {key} \"{}\" or \"{}\", or drop \
                     the unix endpoint",
                    later.origin.text,
                    Fallback::LandlockPorts.name(),
                    Fallback::Refuse.name(),
                    Fallback::DenyAll.name(),
                    key = FALLBACK.key,
                ),
            });
        }
    }
    errors
}

fn at_whole(e: &Endpoint, message: String) -> EndpointError {
    at_whole_origin(&e.origin, message)
}

fn at_whole_origin(origin: &Origin, message: String) -> EndpointError {
    EndpointError {
        index: origin.index,
        range: 0..origin.text.len(),
        message,
    }
}

/// Whether `a` already allows everything `b` adds: the same name and protocol, `b`'s ports
/// within `a`'s, and no address pinned in `b` that `a` does not pin (a name's pinned
/// addresses are the union of its entries, so a new one is not a duplicate).
fn name_covers(a: &NamedEndpoint, b: &NamedEndpoint) -> bool {
    a.protocol == b.protocol
        && a.name == b.name
        && a.first_port <= b.first_port
        && b.last_port <= a.last_port
        && b.pinned.iter().all(|p| a.pinned.contains(p))
}

/// The same endpoint, whatever the spelling.
fn same(a: &Endpoint, b: &Endpoint) -> bool {
    a.protocol == b.protocol
        && a.addr == b.addr
        && a.prefix == b.prefix
        && a.first_port == b.first_port
        && a.last_port == b.last_port
}

/// Whether every destination `b` allows is also allowed by `a`.
fn covers(a: &Endpoint, b: &Endpoint) -> bool {
    a.protocol == b.protocol
        && a.prefix <= b.prefix
        && network_of(a.addr, a.prefix) == network_of(b.addr, a.prefix)
        && a.first_port <= b.first_port
        && b.last_port <= a.last_port
}
