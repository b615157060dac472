//! The optimiser: shortens what runs in an assembled program without changing what it
//! returns.
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

use crate::bpf::{is_conditional, offset, Instruction, JA, JEQ_K, JGE_K, JGT_K, LD_W_ABS, RET_K};

/// Jump threading and dead code removal until neither changes anything.
pub fn optimize(program: &mut Vec<Instruction>) {
    // Each round shortens a path or the program; the bound only guards against a bug.
    for _ in 0..64 {
        let threaded = thread_jumps(program);
        let removed = remove_dead(program);
        if !threaded && !removed {
            break;
        }
    }
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
    use crate::bpf::{jump, ret, stmt, ALU_AND_K};
    use crate::interp::{run, SeccompData};

    fn data(arch: u32, nr: u32, args: [u64; 6]) -> SeccompData {
        SeccompData {
            nr: nr as i32,
            arch,
            instruction_pointer: 0,
            args,
        }
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
}
