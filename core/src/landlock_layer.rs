//! L3: Landlock, the second wall.
//!
//! On ABI 4+ (Linux 6.7): TCP connect only to the policy's TCP ports, TCP bind refused. On ABI
//! 6+: abstract unix sockets scoped to the sandbox. On any ABI: some ruleset is always
//! installed, because a Landlock domain by itself stops the sandboxed process from ptracing
//! (or opening `/proc/PID/mem` of) any process outside it — the supervisor and the
//! unsandboxed parent included.
//!
//! Requested features are chosen from the probed ABI and then required
//! (`CompatLevel::HardRequirement`), so what the report says is what the kernel enforces.

use std::collections::BTreeSet;

use landlock::{
    Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, NetPort, PathBeneath, PathFd,
    Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetError, Scope, ABI,
};

use crate::policy::{Policy, Protocol};
use crate::report::{Layer, LayerReport, Status};

/// Above this many TCP ports, connect port rules are not installed (one rule per port; a
/// wide range would cost a system call each). The supervisor still checks every port.
pub const MAX_PORT_RULES: u32 = 4096;

/// What to ask Landlock for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// `Some(ports)`: handle TCP connect, allowing these ports only.
    pub connect_ports: Option<BTreeSet<u16>>,
    /// Handle TCP bind (no rule: every bind refused).
    pub deny_bind: bool,
    /// Scope abstract unix sockets.
    pub scope_abstract_unix: bool,
    /// ABI 1–3: handle filesystem access with one rule allowing all of `/`, only so that a
    /// domain exists.
    pub filesystem_placeholder: bool,
    /// Why connect ports are not handled, if they are not.
    pub connect_note: Option<String>,
}

impl Plan {
    /// The plan for `policy` on Landlock ABI `abi` (0 = none). `check_ports` is false in
    /// audit mode, where nothing may be refused for its destination.
    pub fn new(policy: &Policy, abi: i32, check_ports: bool) -> Option<Plan> {
        if abi <= 0 {
            return None;
        }
        let tcp: Vec<_> = policy
            .endpoints()
            .iter()
            .filter(|e| e.protocol == Protocol::Tcp)
            .map(|e| e.ports)
            .collect();
        let count: u32 = tcp.iter().map(|r| r.len()).sum();
        let (connect_ports, connect_note) = if abi < 4 {
            (None, Some(format!("ABI {abi} has no network rules (needs 4, Linux 6.7)")))
        } else if !check_ports {
            (None, Some("audit mode: connect ports not restricted".to_owned()))
        } else if count > MAX_PORT_RULES {
            (
                None,
                Some(format!(
                    "{count} TCP ports allowed, more than {MAX_PORT_RULES}: connect ports left to the supervisor"
                )),
            )
        } else {
            let ports = tcp
                .iter()
                .flat_map(|r| r.first()..=r.last())
                .collect::<BTreeSet<u16>>();
            (Some(ports), None)
        };
        Some(Plan {
            connect_ports,
            deny_bind: abi >= 4,
            scope_abstract_unix: abi >= 6,
            filesystem_placeholder: abi < 4,
            connect_note,
        })
    }

    fn describe(&self, abi: i32) -> String {
        let mut parts = vec![format!("ABI {abi}")];
        match &self.connect_ports {
            Some(p) if p.is_empty() => parts.push("TCP connect refused on every port".into()),
            Some(p) => parts.push(format!("TCP connect only to ports {}", port_list(p))),
            None => parts.extend(self.connect_note.clone()),
        }
        if self.deny_bind {
            parts.push("TCP bind refused".into());
        }
        if self.scope_abstract_unix {
            parts.push("abstract unix sockets scoped".into());
        }
        parts.push("no ptrace of processes outside the sandbox".into());
        parts.join("; ")
    }
}

/// `1, 2, 8000-8080` from a set of ports.
fn port_list(ports: &BTreeSet<u16>) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut iter = ports.iter().copied().peekable();
    while let Some(first) = iter.next() {
        let mut last = first;
        while iter.peek() == Some(&(last.wrapping_add(1))) && last != u16::MAX {
            last = iter.next().expect("peeked");
        }
        out.push(if first == last {
            first.to_string()
        } else {
            format!("{first}-{last}")
        });
    }
    out.join(", ")
}

/// Installs the plan on the calling thread (and the threads and processes it creates later).
pub fn install(plan: Option<Plan>, abi: i32) -> Result<LayerReport, String> {
    build_and_restrict(plan.as_ref()).map_err(|e| e.to_string())?;
    Ok(report(plan, abi))
}

fn report(plan: Option<Plan>, abi: i32) -> LayerReport {
    let Some(plan) = plan else {
        return LayerReport {
            layer: Layer::Landlock,
            status: Status::NotEnforced,
            detail: "Landlock is not available on this kernel: no port wall, and the \
                     sandboxed process is not kept from ptracing processes outside it"
                .into(),
        };
    };
    let status = if plan.connect_note.is_some() {
        Status::Partial
    } else {
        Status::Enforced
    };
    LayerReport {
        layer: Layer::Landlock,
        status,
        detail: plan.describe(abi),
    }
}

#[derive(Debug)]
enum BuildError {
    Ruleset(RulesetError),
    Root(landlock::PathFdError),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::Ruleset(e) => e.fmt(f),
            BuildError::Root(e) => e.fmt(f),
        }
    }
}

impl From<RulesetError> for BuildError {
    fn from(e: RulesetError) -> Self {
        BuildError::Ruleset(e)
    }
}

fn build_and_restrict(plan: Option<&Plan>) -> Result<(), BuildError> {
    let Some(plan) = plan else {
        return Ok(());
    };
    let mut net: BitFlags<AccessNet> = BitFlags::empty();
    if plan.deny_bind {
        net |= AccessNet::BindTcp;
    }
    if plan.connect_ports.is_some() {
        net |= AccessNet::ConnectTcp;
    }
    let mut ruleset = Ruleset::default().set_compatibility(CompatLevel::HardRequirement);
    if !net.is_empty() {
        ruleset = ruleset.handle_access(net)?;
    }
    if plan.scope_abstract_unix {
        ruleset = ruleset.scope(Scope::AbstractUnixSocket)?;
    }
    if plan.filesystem_placeholder {
        ruleset = ruleset.handle_access(AccessFs::from_all(ABI::V1))?;
    }
    let mut created = ruleset.create()?;
    if plan.filesystem_placeholder {
        let root = PathFd::new("/").map_err(BuildError::Root)?;
        created = created.add_rule(PathBeneath::new(root, AccessFs::from_all(ABI::V1)))?;
    }
    if let Some(ports) = &plan.connect_ports {
        for &port in ports {
            created = created.add_rule(NetPort::new(port, AccessNet::ConnectTcp))?;
        }
    }
    created.restrict_self()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Endpoint, IpNetwork, Options, PortRange};
    use std::net::Ipv4Addr;

    fn policy(ranges: &[(Protocol, u16, u16)]) -> Policy {
        let endpoints = ranges
            .iter()
            .map(|&(protocol, a, b)| Endpoint {
                protocol,
                network: IpNetwork::v4(Ipv4Addr::new(127, 0, 0, 2), 32),
                ports: PortRange::new(a, b),
            })
            .collect();
        Policy::new(Vec::new(), endpoints, Options::default())
    }

    #[test]
    fn tcp_ports_only_and_by_abi() {
        let p = policy(&[(Protocol::Tcp, 443, 443), (Protocol::Udp, 53, 53), (Protocol::Tcp, 80, 81)]);
        let plan = Plan::new(&p, 7, true).unwrap();
        assert_eq!(plan.connect_ports, Some([80, 81, 443].into_iter().collect()));
        assert!(plan.deny_bind && plan.scope_abstract_unix && !plan.filesystem_placeholder);
        assert!(plan.describe(7).contains("ports 80-81, 443"));

        let old = Plan::new(&p, 3, true).unwrap();
        assert_eq!(old.connect_ports, None);
        assert!(old.filesystem_placeholder && !old.deny_bind);
        assert!(Plan::new(&p, 0, true).is_none());
        assert_eq!(Plan::new(&p, 7, false).unwrap().connect_ports, None);
    }

    #[test]
    fn wide_ranges_are_left_to_the_supervisor() {
        let p = policy(&[(Protocol::Tcp, 1, 65535)]);
        let plan = Plan::new(&p, 7, true).unwrap();
        assert_eq!(plan.connect_ports, None);
        assert!(plan.connect_note.unwrap().contains("65535 TCP ports"));
    }

    #[test]
    fn no_tcp_endpoint_refuses_every_tcp_connect() {
        let p = policy(&[]);
        let plan = Plan::new(&p, 4, true).unwrap();
        assert_eq!(plan.connect_ports, Some(BTreeSet::new()));
    }
}
