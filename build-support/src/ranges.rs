//! The system call profile's part of a program (issue 14): a binary search over the
//! numbers no rule names, ending in `ret ALLOW` or the profile's refusal.
//!
//! The numbers `0..=max_nr` fall into runs of allowed and refused ones; a number a rule
//! names never reaches the search (the dispatch sends it to its rules first), so it joins
//! whichever run is next to it. Each node compares with `jge` the first number of the
//! middle run; `@system-service` on x86_64 makes a few dozen runs, so a number reaches its
//! `ret` after about six comparisons. Only `ld nr`, `jge`, `ja` and `ret` run, so the
//! kernel's action cache proves every allowed number constant and never runs the program
//! for it (`interp::const_allow`).

use crate::bpf::{jump, ret, stmt, Instruction, JA, JGE_K};
use crate::lower::{RuleSet, SECCOMP_RET_ALLOW};

/// The search for `rules`' profile, to be entered with `nr` in the accumulator; empty when
/// the profile refuses nothing there.
pub fn search(rules: &RuleSet) -> Vec<Instruction> {
    if rules.refused.is_empty() {
        return Vec::new();
    }
    let named: Vec<u32> = rules.rules.iter().map(|r| r.nr).collect();
    // (first number, refused) of each run, in order.
    let mut runs: Vec<(u32, bool)> = Vec::new();
    for nr in 0..=rules.max_nr {
        if named.contains(&nr) {
            continue;
        }
        let refused = rules.refused.binary_search(&nr).is_ok();
        match runs.last() {
            Some(&(_, r)) if r == refused => {}
            _ => runs.push((if runs.is_empty() { 0 } else { nr }, refused)),
        }
    }
    let refuse = rules.refusal.ret();
    tree(&runs, refuse)
}

fn tree(runs: &[(u32, bool)], refuse: u32) -> Vec<Instruction> {
    if runs.len() <= 1 {
        let refused = runs.first().is_some_and(|r| r.1);
        return vec![ret(if refused { refuse } else { SECCOMP_RET_ALLOW })];
    }
    let mid = runs.len() / 2;
    let left = tree(&runs[..mid], refuse);
    let right = tree(&runs[mid..], refuse);
    let split = runs[mid].0;
    let mut out = Vec::with_capacity(left.len() + right.len() + 2);
    match u8::try_from(left.len()) {
        Ok(len) => out.push(jump(JGE_K, split, len, 0)),
        Err(_) => {
            // Beyond a conditional jump's reach: `jge` to a `ja` over the left half.
            out.push(jump(JGE_K, split, 0, 1));
            out.push(stmt(JA, left.len() as u32));
        }
    }
    out.extend(left);
    out.extend(right);
    out
}
