//! The system call profile in words (issue 14), for `explain` and `check`: what the policy
//! allows and refuses, by group, and the groups themselves (`explain --groups`).

use std::collections::BTreeMap;

use network_sandbox_build::model::{self, Policy};
use network_sandbox_build::profiles::{self, GROUPS, KNOWN};
use network_sandbox_build::{syscall_table, Arch};

/// The profile of `policy` on `arch`, one line each: the lists as written, then the calls
/// refused on `arch` grouped by the group a refusal line names. Empty without a profile.
pub fn lines(policy: &Policy, arch: Arch) -> Vec<String> {
    let p = &policy.syscalls;
    if p.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    match &p.allow {
        Some(list) => out.push(format!(
            "system calls: only {} (`{}`)",
            list.join(", "),
            profiles::SYSCALLS
        )),
        None => out.push("system calls: every call the network rules allow".to_owned()),
    }
    if !p.deny.is_empty() {
        out.push(format!(
            "  refused on top: {} (`{}`)",
            p.deny.join(", "),
            profiles::DENY_SYSCALLS
        ));
    }
    out.push(format!(
        "  a refused call gets: {} ({})",
        model::SYSCALL_REFUSAL.name_in(&policy.options),
        match (policy.options.mode, policy.options.syscall_refusal) {
            (model::Mode::Audit, _) => "audit mode: reported and let through",
            (_, model::SyscallRefusal::Kill) => "the kernel kills the process, no report",
            _ => "reported with the call and its group",
        }
    ));
    let refused = profiles::refused_calls(policy, arch);
    let (_, all_refused) = profiles::decide(p);
    let mut by_group: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for (_, name, group, _) in &refused {
        let at = group
            .and_then(|g| GROUPS.iter().position(|x| x.name == g))
            .unwrap_or(GROUPS.len());
        by_group.entry(at).or_default().push(name);
    }
    out.push(format!(
        "  refused on {arch} by the profile: {} calls, by group:",
        refused.len()
    ));
    for (at, names) in &mut by_group {
        names.sort_unstable();
        let group = GROUPS.get(*at).map_or("(no group but @known)", |g| g.name);
        out.push(format!("    {group}: {}", names.join(", ")));
    }
    // Calls the profile refuses that the network rules refuse their own way.
    let kept: Vec<&str> = all_refused
        .iter()
        .copied()
        .filter(|n| syscall_table::number(n, arch).is_some() && !refused.iter().any(|r| r.1 == *n))
        .collect();
    if !kept.is_empty() {
        out.push(format!(
            "    (also refused by the network rules, with their own errno: {})",
            kept.join(", ")
        ));
    }
    if p.allow.is_some() {
        out.push(format!(
            "    and every number up to {} that names no call",
            network_sandbox_build::syscalls::max_nr(arch)
        ));
    }
    out
}

/// Every group with its description and calls, for `explain --groups`.
pub fn groups() -> Vec<String> {
    let mut out = vec!["system call groups (for `syscalls` and `deny_syscalls`):".to_owned()];
    for g in GROUPS {
        out.push(format!("  {}: {}", g.name, g.description));
        if g.name == KNOWN {
            out.push(format!(
                "    {} calls on x86_64 or aarch64",
                syscall_table::CALLS.len()
            ));
        } else {
            out.push(format!("    {}", g.members.join(", ")));
        }
    }
    out
}
