//! Checks across a whole policy, after each endpoint has parsed.
//!
//! | check | error points at |
//! |---|---|
//! | the same endpoint twice (also when written differently, e.g. with and without `tcp://`) | the later one |
//! | an endpoint that another one already allows (`10.1.2.3:443` beside `10.0.0.0/8:443`) | the narrower one |
//! | `fallback = "landlock-ports"` with a UDP endpoint (Landlock only restricts TCP) | the `udp://` of that endpoint |
//!
//! [`policy_from_strs`] is the front door for a front-end that has a list of endpoint
//! strings and options: it parses each string and validates the result, reporting every
//! error as an [`EndpointError`].

use std::fmt;
use std::ops::Range;

use crate::model::{network_of, Endpoint, Fallback, Options, Policy, Protocol, FALLBACK};
use crate::parse::{parse_endpoint, ParseError};

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
    let mut errors = Vec::new();
    for (index, text) in allow.iter().enumerate() {
        match parse_endpoint(text.as_ref(), index) {
            Ok(e) => endpoints.push(e),
            Err(e) => errors.push(EndpointError::from_parse(index, e)),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let policy = Policy { endpoints, options };
    validate(&policy)?;
    Ok(policy)
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

    if policy.options.fallback == Fallback::LandlockPorts {
        for e in eps.iter().filter(|e| e.protocol == Protocol::Udp) {
            let scheme = match e.origin.text.find("://") {
                Some(end) => 0..end + 3,
                None => 0..e.origin.text.len(),
            };
            errors.push(EndpointError {
                index: e.origin.index,
                range: scheme,
                message: format!(
                    "`{}` is UDP, but {key} = \"{}\" can only check TCP ports: choose {key} \
                     \"{}\" or \"{}\", or drop the UDP endpoint",
                    e.origin.text,
                    Fallback::LandlockPorts.name(),
                    Fallback::Refuse.name(),
                    Fallback::DenyAll.name(),
                    key = FALLBACK.key,
                ),
            });
        }
    }

    errors.sort_by_key(|e| e.index);
    errors.dedup_by_key(|e| e.index);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn at_whole(e: &Endpoint, message: String) -> EndpointError {
    EndpointError {
        index: e.origin.index,
        range: 0..e.origin.text.len(),
        message,
    }
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
