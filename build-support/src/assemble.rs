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
//! The assembled program then goes through the [optimiser](crate::optimize), is checked with
//! [`verify::check`] (the kernel's load-time rules) and must be at most [`MAX_LEN`]
//! instructions.

use std::fmt;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::arch::Arch;
use crate::bpf::{
    jump, offset, ret, stmt, Instruction, ARCH_OFFSET, JA, JEQ_K, JGE_K, JGT_K, JSET_K, LD_W_ABS,
    MAX_LEN, NR_OFFSET, RET_K,
};
use crate::lower::{
    Action, CmpOp, Cond, RuleSet, SyscallRule, Width, ENOSYS, SECCOMP_RET_ALLOW,
    SECCOMP_RET_KILL_PROCESS,
};
use crate::optimize::optimize;
use crate::syscalls::{self, X32_SYSCALL_BIT};
use crate::verify;

/// `SECCOMP_RET_TRACE`, used only for the placeholders below.
const SECCOMP_RET_TRACE: u32 = 0x7ff0_0000;
/// Placeholder data for "the rule's conditions hold".
const MATCH_TAG: u32 = 0x4d41;
/// Placeholder data for "they do not: go on with the next rule".
const CONTINUE_TAG: u32 = 0x434f;

/// Why a policy could not be compiled to BPF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompileError {
    /// The program for `arch` would be longer than the kernel accepts (4096 instructions).
    TooLong {
        /// The architecture.
        arch: Arch,
        /// Its length.
        len: usize,
    },
    /// More system calls with rules than one dispatch table can reach (255).
    TooManySyscalls {
        /// The architecture.
        arch: Arch,
        /// How many system calls have rules.
        count: usize,
    },
    /// seccompiler refused a rule (for instance an argument index above 5).
    Seccompiler {
        /// The architecture.
        arch: Arch,
        /// seccompiler's message.
        message: String,
    },
    /// The program failed the compiler's own checks: a bug in the compiler.
    Internal {
        /// The architecture.
        arch: Arch,
        /// What is wrong.
        message: String,
    },
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompileError::TooLong { arch, len } => write!(
                f,
                "the {arch} seccomp program has {len} instructions, more than the kernel's {}",
                MAX_LEN
            ),
            CompileError::TooManySyscalls { arch, count } => {
                write!(
                    f,
                    "{count} system calls have rules on {arch}, at most 255 can"
                )
            }
            CompileError::Seccompiler { arch, message } => {
                write!(f, "seccompiler refused a rule for {arch}: {message}")
            }
            CompileError::Internal { arch, message } => {
                write!(f, "internal compiler error for {arch}: {message}")
            }
        }
    }
}

impl std::error::Error for CompileError {}

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
    // A call without a rule is allowed, unless a system call profile (issue 14) refuses
    // some: then it goes to the profile's search, placed after the blocks.
    let search = crate::ranges::search(rules);
    let to_search = program.len();
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
    if !search.is_empty() {
        program[to_search] = stmt(JA, offset(to_search, program.len()));
        program.extend(search);
    }

    let internal = |what: &str, e: verify::Error| CompileError::Internal {
        arch,
        message: format!("{what}: {e}"),
    };
    // Checked before optimising, which relies on jumps staying in the program.
    verify::check_structure(&program).map_err(|e| internal("assembled program", e))?;
    optimize(&mut program);
    if program.len() > MAX_LEN {
        return Err(CompileError::TooLong {
            arch,
            len: program.len(),
        });
    }
    verify::check(&program).map_err(|e| internal("optimised program", e))?;
    Ok(program)
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
        jump(JEQ_K, syscalls::audit_arch(arch), 1, 0),
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
        assert_eq!(out.action, Action::Report(EACCES).ret());
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
