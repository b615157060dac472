//! What the installer tells the program: which layer enforces what on this kernel, and the
//! violations the supervisor reports.

use std::fmt;
use std::net::SocketAddr;

use crate::policy::Protocol;

/// One of the three layers of enforcement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    /// L1: the static seccomp program compiled at build time.
    StaticFilter,
    /// L2: the supervisor that checks and performs every connect.
    Supervisor,
    /// L3: Landlock rules (TCP ports, no TCP bind, ptrace, signal and abstract unix socket
    /// scoping).
    Landlock,
    /// Capabilities dropped and kernel tunables made read-only (root is confined like any
    /// user).
    Privileges,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layer::StaticFilter => "L1 static filter",
            Layer::Supervisor => "L2 supervisor",
            Layer::Landlock => "L3 Landlock",
            Layer::Privileges => "privileges",
        })
    }
}

/// How much of a layer is in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Everything the layer is meant to do on this policy.
    Enforced,
    /// Part of it; the detail says which part.
    Partial,
    /// Nothing: not available on this kernel, or left out by the policy's fallback.
    NotEnforced,
    /// Nothing, because the policy does not need the layer.
    NotNeeded,
}

/// The state of one layer after installation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerReport {
    /// Which layer.
    pub layer: Layer,
    /// How much of it is in force.
    pub status: Status,
    /// What exactly, in words.
    pub detail: String,
}

/// What was installed, layer by layer. Returned by [`install`](crate::install).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enforcement {
    /// One entry per layer, in the order L1, L2, L3, then privileges.
    pub layers: Vec<LayerReport>,
    /// PID of the supervisor process, if one was started.
    pub supervisor_pid: Option<i32>,
}

impl Enforcement {
    /// The report for `layer`.
    pub fn layer(&self, layer: Layer) -> &LayerReport {
        self.layers
            .iter()
            .find(|l| l.layer == layer)
            .expect("every layer is reported")
    }
}

impl fmt::Display for LayerReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match self.status {
            Status::Enforced => "enforced",
            Status::Partial => "partly enforced",
            Status::NotEnforced => "not enforced",
            Status::NotNeeded => "not needed",
        };
        write!(f, "{}: {status}: {}", self.layer, self.detail)
    }
}

impl fmt::Display for Enforcement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.layers {
            writeln!(f, "{l}")?;
        }
        if let Some(pid) = self.supervisor_pid {
            writeln!(f, "supervisor: pid {pid}")?;
        }
        Ok(())
    }
}

/// The operation a violation was caught in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// `connect()`.
    Connect,
    /// `sendto()`, `sendmsg()` or `sendmmsg()` with a destination address.
    Send,
    /// `bind()` (a UDP socket may bind to port 0 only).
    Bind,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Connect => "connect",
            Operation::Send => "send",
            Operation::Bind => "bind",
        })
    }
}

/// Why an operation was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The destination matches no endpoint of the policy.
    NotAllowed,
    /// The destination matches no endpoint of a policy with names, and the names explain
    /// it: the address is an allowed name's on another port, or no allowed name has it.
    NotAllowedNamed(String),
    /// The socket is of a kind the policy does not allow (for example a unix socket or an
    /// MPTCP socket opened before the sandbox was installed).
    SocketKind(String),
    /// The supervisor could not inspect the calling process (it made itself non-dumpable,
    /// or ptrace access was refused), so it cannot know what the call does.
    Uninspectable(i32),
    /// A send carried ancillary data (a control message) the supervisor does not pass on:
    /// one that could change the route (IP options, routing headers) or whose effect would
    /// be judged against the supervisor's privileges instead of the program's.
    Ancillary {
        /// `cmsg_level`.
        level: i32,
        /// `cmsg_type`.
        ty: i32,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NotAllowed => f.write_str("not in the allow list"),
            Reason::NotAllowedNamed(why) => write!(f, "not in the allow list: {why}"),
            Reason::SocketKind(k) => write!(f, "{k} sockets are not allowed"),
            Reason::Uninspectable(errno) => write!(
                f,
                "the supervisor cannot inspect the process ({})",
                std::io::Error::from_raw_os_error(*errno)
            ),
            Reason::Ancillary { level, ty } => write!(
                f,
                "ancillary data of level {level} type {ty} is not passed on (it could change \
                 the route, or act with the supervisor's privileges)"
            ),
        }
    }
}

/// A connection or send outside the policy, as the supervisor saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Thread id of the caller (in the supervisor's PID namespace).
    pub pid: i32,
    /// The caller's command name (`/proc/PID/comm`), if it could be read.
    pub command: String,
    /// What it tried.
    pub operation: Operation,
    /// The socket's protocol, when it is TCP or UDP.
    pub protocol: Option<Protocol>,
    /// The destination, when the address was an IP address.
    pub destination: Option<SocketAddr>,
    /// Why it was refused.
    pub reason: Reason,
    /// True in audit mode: reported, but let through.
    pub audit_only: bool,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.audit_only {
            "audit: would deny"
        } else {
            "denied"
        };
        write!(f, "network-sandbox: {verdict} {}", self.operation)?;
        if let Some(d) = self.destination {
            write!(f, " to {d}")?;
        }
        if let Some(p) = self.protocol {
            write!(f, " ({p})")?;
        }
        write!(
            f,
            " by pid {} ({}): {}",
            self.pid, self.command, self.reason
        )
    }
}

/// A function that receives every violation instead of the line on stderr.
///
/// It runs **in the supervisor process**, which is a copy of the program made when the
/// sandbox was installed, outside the sandbox: it sees the program's memory as it was at that
/// moment, not as it is now, and must not rely on anything the program did since.
pub type ViolationHook = fn(&Violation);

/// Where the supervisor sends the violations it sees: decided at install, handed to the
/// supervisor when it is forked, and carried by every handler's context.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Sink {
    /// One line on stderr per violation.
    Stderr,
    /// The program's hook ([`Sandbox::on_violation`](crate::Sandbox::on_violation)).
    Hook(ViolationHook),
    /// Nowhere (`report = "off"`).
    Off,
}

impl Sink {
    /// Delivers `v`.
    pub(crate) fn deliver(self, v: &Violation) {
        match self {
            Sink::Hook(hook) => hook(v),
            Sink::Stderr => {
                use std::io::Write;
                // One write per line, so lines from concurrent receivers do not interleave.
                let line = format!("{v}\n");
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
            }
            Sink::Off => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violation_line_names_what_where_and_why() {
        let v = Violation {
            pid: 42,
            command: "curl".into(),
            operation: Operation::Connect,
            protocol: Some(Protocol::Tcp),
            destination: Some("203.0.113.5:80".parse().unwrap()),
            reason: Reason::NotAllowed,
            audit_only: false,
        };
        assert_eq!(
            v.to_string(),
            "network-sandbox: denied connect to 203.0.113.5:80 (tcp) by pid 42 (curl): not in the allow list"
        );
    }
}
