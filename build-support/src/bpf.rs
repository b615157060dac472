//! Classic BPF from a [`RuleSet`]: seccompiler for the argument checks, our own code for
//! everything seccompiler 0.5 cannot express.
//!
//! # Layout
//!
//! ```text
//! prologue   ld arch; jeq NATIVE ? +1 : kill;  ret KILL_PROCESS
//!            ld nr
//!            jgt MAX_NR ? +0 : dispatch
//!              jge 0x80000000 ? enosys : +0                     (x86_64 only: x32 numbers
//!              jset 0x40000000 ? kill : enosys                    are 0x40000000 + n)
//!              ret ERRNO(ENOSYS); ret KILL_PROCESS
//! dispatch   jeq nr_1 ? block_1 : next … jeq nr_n ? block_n : next
//!            ret ALLOW                                         ← every call without a rule
//! blocks     one per system call with rules, its rules in order:
//!              a rule without condition: ret ACTION
//!              a rule with conditions: seccompiler's code for it, then the next rule
//!            ret ALLOW
//! ```
//!
//! A call without a rule runs only loads of `nr`/`arch`, `jeq`/`jset`/`jgt` and `ret ALLOW`,
//! so the kernel's action cache (5.11+) proves it constant and never runs the program for it.
//!
//! # How seccompiler is used
//!
//! seccompiler 0.5 gives one match action per filter, no `SECCOMP_RET_USER_NOTIF`, and always
//! starts a program with its own arch check. So each rule *with conditions* becomes its own
//! seccompiler filter for its one system call, with two placeholder actions:
//! match = `TRACE|MATCH_TAG`, mismatch = `TRACE|CONTINUE_TAG` (the kernel's `TRACE` is never
//! emitted otherwise). From its output we
//! 1. check and drop the 5-instruction head (`ld arch; jeq; ret KILL; ld nr; jeq nr`): the
//!    rest is the rule's argument checks, entered at its first instruction;
//! 2. replace `ret TRACE|MATCH_TAG` with `ret ACTION` (this is where `USER_NOTIF` comes in);
//! 3. replace `ret TRACE|CONTINUE_TAG` with `ja` to the end of the piece, i.e. to the next
//!    rule. `ja` has the same length, so no other offset moves.
//!
//! seccompiler tests a rule's conditions in the reverse of the order it is given them, so
//! they are passed reversed: the program tests them in [`SyscallRule::when`]'s order.
//!
//! # Post-processing
//!
//! seccompiler reloads the argument before every comparison, enters every rule through a
//! `ja`, and tries the rules of a call one after the other even when an earlier comparison
//! already decided a later one. Two passes, repeated until nothing changes, cut what runs
//! without changing what the program returns:
//! - *jump threading*: a forward dataflow pass records, before each instruction, which
//!   `seccomp_data` word the accumulator holds and which words have a known value (learned
//!   on the taken edge of a `jeq`; `seccomp_data` does not change while the program runs).
//!   Each jump is then pointed as far along its path as those facts decide it: past `ja`s,
//!   reloads, and comparisons whose outcome is known; a `ja` that reaches a `ret` becomes
//!   that `ret`. A jump lands only where the accumulator is what the skipped path would have
//!   left, or where it is not read (a `ret K`, a load), and a conditional jump only within
//!   its 255-instruction reach. The facts are recomputed after each change.
//! - *dead code removal*: instructions no path reaches, and `ja 0`, are removed and offsets
//!   recomputed (they only shrink).
//!
//! For `socket` this turns the rule-by-rule checks into a decision tree: family, type and
//! protocol are each loaded once.
//!
//! The result is checked with [`crate::interp::check`] (the kernel's load-time
//! rules) and must be at most [`MAX_LEN`] instructions.

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::interp;
use crate::lower::{
    Action, CmpOp, Cond, RuleSet, SyscallRule, Width, ENOSYS, SECCOMP_RET_ALLOW,
    SECCOMP_RET_KILL_PROCESS,
};
use crate::syscalls::X32_SYSCALL_BIT;
use crate::{Arch, CompileError, Instruction};

/// The kernel's limit on a seccomp program's length (`BPF_MAXINSNS`).
pub const MAX_LEN: usize = 4096;

/// `BPF_LD | BPF_W | BPF_ABS`: load a 32-bit word of `seccomp_data`.
pub const LD_W_ABS: u16 = 0x20;
/// `BPF_ALU | BPF_AND | BPF_K`.
pub const ALU_AND_K: u16 = 0x54;
/// `BPF_JMP | BPF_JA`: jump `k` forward.
pub const JA: u16 = 0x05;
/// `BPF_JMP | BPF_JEQ | BPF_K`.
pub const JEQ_K: u16 = 0x15;
/// `BPF_JMP | BPF_JGT | BPF_K`.
pub const JGT_K: u16 = 0x25;
/// `BPF_JMP | BPF_JGE | BPF_K`.
pub const JGE_K: u16 = 0x35;
/// `BPF_JMP | BPF_JSET | BPF_K`.
pub const JSET_K: u16 = 0x45;
/// `BPF_RET | BPF_K`.
pub const RET_K: u16 = 0x06;

/// Offset of `nr` in `seccomp_data`.
pub const NR_OFFSET: u32 = 0;
/// Offset of `arch` in `seccomp_data`.
pub const ARCH_OFFSET: u32 = 4;

/// `SECCOMP_RET_TRACE`, used only for the placeholders below.
const SECCOMP_RET_TRACE: u32 = 0x7ff0_0000;
/// Placeholder data for "the rule's conditions hold".
const MATCH_TAG: u32 = 0x4d41;
/// Placeholder data for "they do not: go on with the next rule".
const CONTINUE_TAG: u32 = 0x434f;

fn stmt(code: u16, k: u32) -> Instruction {
    Instruction {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Instruction {
    Instruction { code, jt, jf, k }
}

fn ret(k: u32) -> Instruction {
    stmt(RET_K, k)
}

/// The program for `rules`. Same rules, same instructions.
pub fn assemble(rules: &RuleSet) -> Result<Vec<Instruction>, CompileError> {
    let arch = rules.arch;
    let groups = group_by_syscall(&rules.rules);
    // Each dispatch `jeq` jumps over the rest of the dispatch to its own `ja`: n ≤ 255.
    let n = groups.len();
    let Ok(n_u8) = u8::try_from(n) else {
        return Err(CompileError::TooManySyscalls { arch, count: n });
    };
    let blocks = groups
        .iter()
        .map(|(nr, group)| syscall_block(arch, *nr, group))
        .collect::<Result<Vec<_>, _>>()?;

    let mut program = prologue(rules);
    for (nr, _) in &groups {
        program.push(jump(JEQ_K, *nr, n_u8, 0));
    }
    program.push(ret(SECCOMP_RET_ALLOW));
    // One `ja` per block: conditional jumps reach 255 instructions, `ja` any distance.
    let table = program.len();
    let mut block_start = table + n;
    for (i, block) in blocks.iter().enumerate() {
        program.push(stmt(JA, offset(table + i, block_start)));
        block_start += block.len();
    }
    for block in blocks {
        program.extend(block);
    }

    let internal = |what: &str, e: interp::Error| CompileError::Internal {
        arch,
        message: format!("{what}: {e}"),
    };
    // Checked before optimising, which relies on jumps staying in the program.
    interp::check_structure(&program).map_err(|e| internal("assembled program", e))?;
    optimize(&mut program);
    if program.len() > MAX_LEN {
        return Err(CompileError::TooLong {
            arch,
            len: program.len(),
        });
    }
    interp::check(&program).map_err(|e| internal("optimised program", e))?;
    Ok(program)
}

/// The `ja` offset from instruction `from` to instruction `to` (`to > from`).
fn offset(from: usize, to: usize) -> u32 {
    u32::try_from(to - from - 1).unwrap_or(u32::MAX)
}

/// Arch check, x32 check, unknown numbers; leaves `nr` in the accumulator.
fn prologue(rules: &RuleSet) -> Vec<Instruction> {
    let mut p = vec![
        stmt(LD_W_ABS, ARCH_OFFSET),
        jump(JEQ_K, rules.audit_arch, 1, 0),
        ret(SECCOMP_RET_KILL_PROCESS),
        stmt(LD_W_ABS, NR_OFFSET),
    ];
    // Every x32 number is above the highest known one, so the x32 check costs the common
    // path nothing. Negative numbers (`syscall(-1)`) get ENOSYS, as without a filter.
    if rules.kill_x32 {
        p.push(jump(JGT_K, rules.max_nr, 0, 4));
        p.push(jump(JGE_K, 0x8000_0000, 1, 0));
        p.push(jump(JSET_K, X32_SYSCALL_BIT, 1, 0));
        p.push(ret(Action::Errno(ENOSYS).ret()));
        p.push(ret(SECCOMP_RET_KILL_PROCESS));
    } else {
        p.push(jump(JGT_K, rules.max_nr, 0, 1));
        p.push(ret(Action::Errno(ENOSYS).ret()));
    }
    p
}

/// Rules grouped by system call, in the order each call first appears; rules keep their order.
fn group_by_syscall(rules: &[SyscallRule]) -> Vec<(u32, Vec<&SyscallRule>)> {
    let mut groups: Vec<(u32, Vec<&SyscallRule>)> = Vec::new();
    for rule in rules {
        match groups.iter_mut().find(|(nr, _)| *nr == rule.nr) {
            Some((_, group)) => group.push(rule),
            None => groups.push((rule.nr, vec![rule])),
        }
    }
    groups
}

/// The code for one system call: its rules in order, then `ret ALLOW`.
fn syscall_block(
    arch: Arch,
    nr: u32,
    rules: &[&SyscallRule],
) -> Result<Vec<Instruction>, CompileError> {
    let mut block = Vec::new();
    for rule in rules {
        // An empty AND is true: such a rule (or one with no condition) always applies, and
        // the rules after it never run.
        if rule.when.is_empty() || rule.when.iter().any(Vec::is_empty) {
            block.push(ret(rule.action.ret()));
            return Ok(block);
        }
        block.extend(argument_checks(arch, nr, rule)?);
    }
    block.push(ret(SECCOMP_RET_ALLOW));
    Ok(block)
}

/// seccompiler's code for one rule with conditions, with its head dropped and its
/// placeholder returns replaced (see the module documentation).
fn argument_checks(
    arch: Arch,
    nr: u32,
    rule: &SyscallRule,
) -> Result<Vec<Instruction>, CompileError> {
    let seccompiler_error = |e: seccompiler::BackendError| CompileError::Seccompiler {
        arch,
        message: e.to_string(),
    };
    let internal = |message: String| CompileError::Internal { arch, message };

    let chain = rule
        .when
        .iter()
        .map(|all| {
            let conditions = all
                .iter()
                .rev()
                .map(seccomp_condition)
                .collect::<Result<Vec<_>, _>>()?;
            SeccompRule::new(conditions)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(seccompiler_error)?;
    let filter = SeccompFilter::new(
        [(i64::from(nr), chain)].into_iter().collect(),
        SeccompAction::Trace(CONTINUE_TAG),
        SeccompAction::Trace(MATCH_TAG),
        target_arch(arch),
    )
    .map_err(seccompiler_error)?;
    let program: BpfProgram = filter.try_into().map_err(seccompiler_error)?;
    let program: Vec<Instruction> = program
        .iter()
        .map(|i| jump(i.code, i.k, i.jt, i.jf))
        .collect();

    let head = [
        stmt(LD_W_ABS, ARCH_OFFSET),
        jump(JEQ_K, crate::syscalls::audit_arch(arch), 1, 0),
        ret(SECCOMP_RET_KILL_PROCESS),
        stmt(LD_W_ABS, NR_OFFSET),
        jump(JEQ_K, nr, 0, 1),
    ];
    if program.len() <= head.len() || program[..head.len()] != head {
        return Err(internal(format!(
            "seccompiler output for syscall {nr} does not start as expected: {:?}",
            &program[..program.len().min(head.len())]
        )));
    }
    let mut body = program[head.len()..].to_vec();
    let len = body.len();
    for (i, insn) in body.iter_mut().enumerate() {
        if insn.code != RET_K {
            continue;
        }
        *insn = match insn.k {
            k if k == SECCOMP_RET_TRACE | MATCH_TAG => ret(rule.action.ret()),
            k if k == SECCOMP_RET_TRACE | CONTINUE_TAG => stmt(JA, offset(i, len)),
            k => {
                return Err(internal(format!(
                    "seccompiler output for syscall {nr} returns {k:#x}"
                )))
            }
        };
    }
    Ok(body)
}

fn seccomp_condition(c: &Cond) -> Result<SeccompCondition, seccompiler::BackendError> {
    let width = match c.width {
        Width::Dword => SeccompCmpArgLen::Dword,
        Width::Qword => SeccompCmpArgLen::Qword,
    };
    let op = match c.op {
        CmpOp::Eq => SeccompCmpOp::Eq,
        CmpOp::Ne => SeccompCmpOp::Ne,
        CmpOp::MaskedEq(mask) => SeccompCmpOp::MaskedEq(mask),
    };
    SeccompCondition::new(c.arg, width, op, c.value)
}

fn target_arch(arch: Arch) -> TargetArch {
    match arch {
        Arch::X86_64 => TargetArch::x86_64,
        Arch::Aarch64 => TargetArch::aarch64,
    }
}

/// Jump threading and dead code removal until neither changes anything.
fn optimize(program: &mut Vec<Instruction>) {
    // Each round shortens a path or the program; the bound only guards against a bug.
    for _ in 0..64 {
        let threaded = thread_jumps(program);
        let removed = remove_dead(program);
        if !threaded && !removed {
            break;
        }
    }
}

fn is_conditional(code: u16) -> bool {
    matches!(code, JEQ_K | JGT_K | JGE_K | JSET_K)
}

/// Whether conditional jump `code` with constant `k` is taken when the accumulator is `a`.
fn taken(code: u16, a: u32, k: u32) -> bool {
    match code {
        JEQ_K => a == k,
        JGT_K => a > k,
        JGE_K => a >= k,
        _ => a & k != 0,
    }
}

/// What is known before an instruction on every path to it. `seccomp_data` does not change
/// while the program runs, so a value learned once holds for the rest of the path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Facts {
    /// The `seccomp_data` offset the accumulator was loaded from, unmodified since.
    acc: Option<u32>,
    /// Words of `seccomp_data` whose value is known, as (offset, value), sorted by offset.
    known: Vec<(u32, u32)>,
}

impl Facts {
    fn value(&self, offset: u32) -> Option<u32> {
        self.known
            .iter()
            .find(|(o, _)| *o == offset)
            .map(|(_, v)| *v)
    }

    fn learn(&mut self, offset: u32, value: u32) {
        self.known.retain(|(o, _)| *o != offset);
        self.known.push((offset, value));
        self.known.sort_unstable();
    }

    /// What holds whichever of two paths was taken.
    fn meet(&self, other: &Facts) -> Facts {
        Facts {
            acc: self.acc.filter(|a| other.acc == Some(*a)),
            known: self
                .known
                .iter()
                .filter(|f| other.known.contains(f))
                .copied()
                .collect(),
        }
    }
}

/// The facts along each edge out of instruction `at` (given the facts before it), as
/// (target, facts) pairs.
fn edges(program: &[Instruction], at: usize, before: &Facts) -> Vec<(usize, Facts)> {
    let insn = program[at];
    match insn.code {
        RET_K => vec![],
        JA => vec![(at + 1 + insn.k as usize, before.clone())],
        c if is_conditional(c) => {
            let mut on_true = before.clone();
            if let (JEQ_K, Some(offset)) = (c, before.acc) {
                on_true.learn(offset, insn.k);
            }
            vec![
                (at + 1 + usize::from(insn.jt), on_true),
                (at + 1 + usize::from(insn.jf), before.clone()),
            ]
        }
        LD_W_ABS => vec![(
            at + 1,
            Facts {
                acc: Some(insn.k),
                ..before.clone()
            },
        )],
        _ => vec![(
            at + 1,
            Facts {
                acc: None,
                ..before.clone()
            },
        )],
    }
}

/// The facts before each instruction; `None` where no path reaches it. Jumps only go
/// forward, so one pass in order suffices.
fn analyze(program: &[Instruction]) -> Vec<Option<Facts>> {
    let mut facts: Vec<Option<Facts>> = vec![None; program.len()];
    if let Some(first) = facts.first_mut() {
        *first = Some(Facts::default());
    }
    for at in 0..program.len() {
        let Some(before) = facts[at].clone() else {
            continue;
        };
        for (to, f) in edges(program, at, &before) {
            if let Some(slot) = facts.get_mut(to) {
                *slot = Some(match slot {
                    Some(old) => old.meet(&f),
                    None => f,
                });
            }
        }
    }
    facts
}

/// Where a jump to `target`, taken with `facts`, can go instead, at most to `limit`.
///
/// It follows the path the program would run as far as the facts decide it: through `ja`s,
/// loads of words whose value is known, and conditional jumps on such words. It stops where
/// the path depends on something unknown, and returns the furthest instruction on the way
/// where landing directly is exact: the accumulator there holds what it would have held, or
/// the instruction does not read it (`ret K`, a load).
fn final_target(program: &[Instruction], target: usize, facts: &Facts, limit: usize) -> usize {
    let mut acc = facts.acc;
    let mut at = target;
    let mut best = target;
    while let Some(insn) = program.get(at) {
        let next = match insn.code {
            JA => at + 1 + insn.k as usize,
            LD_W_ABS if acc == Some(insn.k) => at + 1,
            LD_W_ABS if facts.value(insn.k).is_some() => {
                acc = Some(insn.k);
                at + 1
            }
            c if is_conditional(c) => {
                let Some(a) = acc.and_then(|offset| facts.value(offset)) else {
                    break;
                };
                let off = if taken(c, a, insn.k) {
                    insn.jt
                } else {
                    insn.jf
                };
                at + 1 + usize::from(off)
            }
            _ => break,
        };
        if next > limit {
            break;
        }
        at = next;
        let exact = acc == facts.acc
            || program
                .get(at)
                .is_some_and(|i| matches!(i.code, RET_K | LD_W_ABS));
        if exact {
            best = at;
        }
    }
    best
}

/// Points jumps past what [`final_target`] can decide. Facts are recomputed after every
/// change, so each change is made on facts that hold for the program as it then is.
fn thread_jumps(program: &mut [Instruction]) -> bool {
    let mut facts = analyze(program);
    let mut changed = false;
    for at in 0..program.len() {
        let Some(before) = facts[at].clone() else {
            continue;
        };
        let insn = program[at];
        let mut new = insn;
        if insn.code == JA {
            let target = at + 1 + insn.k as usize;
            let to = final_target(program, target, &before, usize::MAX);
            match program.get(to) {
                Some(done) if done.code == RET_K => new = *done,
                _ => new.k = offset(at, to),
            }
        } else if is_conditional(insn.code) {
            let limit = at + 1 + usize::from(u8::MAX);
            let paths = edges(program, at, &before);
            let jt = final_target(program, paths[0].0, &paths[0].1, limit);
            let jf = final_target(program, paths[1].0, &paths[1].1, limit);
            // Both fit in a u8: `final_target` stays within `limit`.
            new.jt = (jt - at - 1) as u8;
            new.jf = (jf - at - 1) as u8;
        }
        if new != insn {
            program[at] = new;
            changed = true;
            facts = analyze(program);
        }
    }
    changed
}

/// Removes what no path reaches, and `ja 0`. Returns whether anything was removed.
fn remove_dead(program: &mut Vec<Instruction>) -> bool {
    let facts = analyze(program);
    let keep: Vec<bool> = program
        .iter()
        .zip(&facts)
        .map(|(insn, f)| f.is_some() && !(insn.code == JA && insn.k == 0))
        .collect();
    if keep.iter().all(|k| *k) {
        return false;
    }
    // new_index[i]: how many kept instructions come before i. For a removed `ja 0` that is
    // the new index of the instruction it falls through to.
    let mut new_index = Vec::with_capacity(program.len() + 1);
    let mut count = 0usize;
    for k in &keep {
        new_index.push(count);
        count += usize::from(*k);
    }
    new_index.push(count);
    let mut out = Vec::with_capacity(count);
    for (at, insn) in program.iter().enumerate() {
        if !keep[at] {
            continue;
        }
        let mut insn = *insn;
        let moved = |target: usize| new_index[target] - new_index[at] - 1;
        if insn.code == JA {
            insn.k = moved(at + 1 + insn.k as usize) as u32;
        } else if is_conditional(insn.code) {
            // Removing instructions only shortens a jump, so it still fits.
            insn.jt = moved(at + 1 + usize::from(insn.jt)) as u8;
            insn.jf = moved(at + 1 + usize::from(insn.jf)) as u8;
        }
        out.push(insn);
    }
    *program = out;
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::{run, SeccompData};
    use crate::lower::{lower, EACCES};
    use crate::model::Policy;
    use crate::syscalls::Sysno;

    fn data(arch: u32, nr: u32, args: [u64; 6]) -> SeccompData {
        SeccompData {
            nr: nr as i32,
            arch,
            instruction_pointer: 0,
            args,
        }
    }

    #[test]
    fn seccompiler_head_is_as_expected_and_placeholders_are_gone() {
        let rules = lower(&Policy::default(), Arch::X86_64);
        let program = assemble(&rules).unwrap();
        assert!(program
            .iter()
            .all(|i| !(i.code == RET_K && i.k & 0xffff_0000 == SECCOMP_RET_TRACE)));
    }

    #[test]
    fn program_follows_the_rule_set_on_argument_patterns() {
        let rules = lower(&Policy::default(), Arch::Aarch64);
        let program = assemble(&rules).unwrap();
        let values = [
            0,
            1,
            2,
            6,
            10,
            17,
            19,
            41,
            0x801,
            0x2000_0000,
            1 << 32 | 2,
            u64::MAX,
        ];
        for rule in &rules.rules {
            for &a in &values {
                for &b in &values {
                    let args = [a, b, a, b, a, b];
                    let want = rules.expected_ret(rules.audit_arch, rule.nr, &args);
                    let got = run(&program, &data(rules.audit_arch, rule.nr, args)).unwrap();
                    assert_eq!(got.action, want, "{} {args:x?}", rule.syscall.name());
                }
            }
        }
    }

    #[test]
    fn threading_skips_reloads() {
        let rules = lower(&Policy::default(), Arch::X86_64);
        let program = assemble(&rules).unwrap();
        // socket(AF_INET, SOCK_STREAM, 0): family, type and protocol are each loaded once.
        let nr = Sysno::Socket.number(Arch::X86_64);
        let out = run(&program, &data(rules.audit_arch, nr, [2, 1, 0, 0, 0, 0])).unwrap();
        assert_eq!(out.action, SECCOMP_RET_ALLOW);
        let out = run(&program, &data(rules.audit_arch, nr, [17, 3, 0, 0, 0, 0])).unwrap();
        assert_eq!(out.action, Action::Errno(EACCES).ret());
    }

    /// Runs `original` and its optimised form on a grid of first and second arguments.
    fn assert_optimising_keeps_meaning(original: &[Instruction]) -> Vec<Instruction> {
        let mut optimised = original.to_vec();
        optimize(&mut optimised);
        for a in [0, 1, 4, 5, 6] {
            for b in [0, 1, 2, 5] {
                let d = data(0, 0, [a, b, 0, 0, 0, 0]);
                assert_eq!(
                    run(original, &d).unwrap().action,
                    run(&optimised, &d).unwrap().action,
                    "args {a} {b}: {optimised:?}"
                );
            }
        }
        optimised
    }

    #[test]
    fn threading_lands_only_where_the_accumulator_is_right() {
        let (arg0, arg1) = (16, 24);
        let program = [
            stmt(LD_W_ABS, arg0),
            jump(JEQ_K, 5, 0, 7),
            stmt(LD_W_ABS, arg1),
            // Taken: args[0] is known to be 5, the accumulator holds args[1].
            jump(JEQ_K, 1, 0, 4),
            stmt(LD_W_ABS, arg0),
            // Reads the accumulator: jumping here from 3 would AND args[1].
            stmt(ALU_AND_K, 4),
            jump(JEQ_K, 4, 0, 1),
            ret(1),
            ret(2),
            ret(3),
        ];
        let optimised = assert_optimising_keeps_meaning(&program);
        assert_eq!(optimised.len(), program.len());
    }

    #[test]
    fn threading_decides_known_comparisons() {
        let arg0 = 16;
        let program = [
            stmt(LD_W_ABS, arg0),
            jump(JEQ_K, 5, 0, 1),
            stmt(JA, 0),
            // Rule-by-rule code that tests args[0] again.
            stmt(LD_W_ABS, arg0),
            jump(JEQ_K, 6, 0, 1),
            ret(1),
            stmt(LD_W_ABS, arg0),
            jump(JEQ_K, 5, 0, 1),
            ret(2),
            ret(3),
        ];
        let optimised = assert_optimising_keeps_meaning(&program);
        // args[0] == 5 goes from the first comparison straight to `ret 2`.
        let d = data(0, 0, [5, 0, 0, 0, 0, 0]);
        assert_eq!(run(&optimised, &d).unwrap().executed, 3);
    }

    #[test]
    fn bad_argument_index_is_an_error_not_a_panic() {
        let mut rules = lower(&Policy::default(), Arch::X86_64);
        rules.rules[0].when = vec![vec![Cond::eq32(9, 1)]];
        assert!(matches!(
            assemble(&rules),
            Err(CompileError::Seccompiler { .. })
        ));
    }
}
