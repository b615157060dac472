//! A classic BPF interpreter over `seccomp_data`, for the tests that run every emitted
//! program (and the benchmarks that count what runs), and an emulation of the kernel's
//! action-cache check. The compiler itself never runs a program: it only
//! [verifies](crate::verify) them.
//!
//! [`run`] executes a program as the kernel would for one system call. [`const_allow`] is
//! `seccomp_is_const_allow` from `kernel/seccomp.c`: whether the kernel may cache "allow" for
//! a system call number without running the program.

use crate::bpf::field::*;
use crate::bpf::{
    Instruction, ALU_AND_K, ARCH_OFFSET, JA as JA_K, JEQ_K, JGE_K, JGT_K, JSET_K, LD_W_ABS,
    NR_OFFSET, RET_K, SECCOMP_DATA_LEN,
};
use crate::verify::{check_structure, Error};

/// The kernel's `struct seccomp_data`, as a filter sees it.
///
/// Layout (little-endian, as on x86_64 and aarch64): `nr` at 0, `arch` at 4,
/// `instruction_pointer` at 8, `args[i]` at `16 + 8 * i`; the low half of a 64-bit field is
/// at its offset, the high half 4 bytes later.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeccompData {
    /// System call number.
    pub nr: i32,
    /// `AUDIT_ARCH_*` of the calling convention.
    pub arch: u32,
    /// Address of the system call instruction.
    pub instruction_pointer: u64,
    /// The six argument registers.
    pub args: [u64; 6],
}

impl SeccompData {
    /// The 32-bit word at byte `offset`, if it is aligned and inside the structure.
    pub fn word(&self, offset: u32) -> Option<u32> {
        if offset % 4 != 0 || offset >= SECCOMP_DATA_LEN {
            return None;
        }
        let field = |v: u64| {
            if offset % 8 == 0 {
                v as u32
            } else {
                (v >> 32) as u32
            }
        };
        Some(match offset {
            0 => self.nr as u32,
            4 => self.arch,
            8 | 12 => field(self.instruction_pointer),
            _ => field(self.args[(offset as usize - 16) / 8]),
        })
    }
}

/// The result of running a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The value returned (`SECCOMP_RET_*`).
    pub action: u32,
    /// How many instructions ran, the return included.
    pub executed: usize,
}

/// Runs `program` for one system call and returns what it returns.
///
/// Every error [`check`](crate::verify::check) finds is also found here when execution
/// reaches it, so a program need not be checked first.
pub fn run(program: &[Instruction], data: &SeccompData) -> Result<Outcome, Error> {
    check_structure(program)?;
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; 16];
    let mut pc = 0usize;
    let mut executed = 0usize;
    while let Some(insn) = program.get(pc) {
        executed += 1;
        let code = insn.code;
        let k = insn.k;
        pc += 1;
        match code & CLASS {
            LD | LDX => {
                let value = match code & SIZE_MODE {
                    W_ABS => data.word(k).ok_or(Error::LoadOutOfRange {
                        at: pc - 1,
                        offset: k,
                    })?,
                    W_LEN => SECCOMP_DATA_LEN,
                    IMM => k,
                    _ => mem[(k & 15) as usize],
                };
                if code & CLASS == LD {
                    a = value;
                } else {
                    x = value;
                }
            }
            ST => mem[(k & 15) as usize] = a,
            STX => mem[(k & 15) as usize] = x,
            ALU => {
                let operand = if code & SRC_X != 0 { x } else { k };
                a = match code & OP {
                    ADD => a.wrapping_add(operand),
                    SUB => a.wrapping_sub(operand),
                    MUL => a.wrapping_mul(operand),
                    // The kernel ends the program with 0 on a division by X = 0.
                    DIV | MOD if operand == 0 => {
                        return Ok(Outcome {
                            action: 0,
                            executed,
                        })
                    }
                    DIV => a / operand,
                    MOD => a % operand,
                    OR => a | operand,
                    AND => a & operand,
                    LSH => a.checked_shl(operand).unwrap_or(0),
                    RSH => a.checked_shr(operand).unwrap_or(0),
                    NEG => a.wrapping_neg(),
                    _ => a ^ operand,
                };
            }
            JMP => {
                let operand = if code & SRC_X != 0 { x } else { k };
                let taken = match code & OP {
                    JA => {
                        pc += k as usize;
                        continue;
                    }
                    JEQ => a == operand,
                    JGT => a > operand,
                    JGE => a >= operand,
                    _ => a & operand != 0,
                };
                pc += usize::from(if taken { insn.jt } else { insn.jf });
            }
            RET => {
                let action = if code & RVAL == RVAL_A { a } else { k };
                return Ok(Outcome { action, executed });
            }
            _ => {
                if code == MISC | TAX {
                    x = a;
                } else {
                    a = x;
                }
            }
        }
    }
    Err(Error::NoReturn)
}

/// `SECCOMP_RET_ALLOW`.
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;

/// Whether the kernel's action cache would always allow system call `nr` with audit
/// architecture `arch` without running `program`: `seccomp_is_const_allow` in
/// `kernel/seccomp.c` (Linux 5.11+), which emulates the program with only `nr` and `arch`
/// known and gives up on anything that reads an argument or the instruction pointer.
///
/// The kernel's exception for `uretprobe`/`uprobe` (never filtered at all) is left out: this
/// answers for the program, not for the number.
pub fn const_allow(program: &[Instruction], arch: u32, nr: u32) -> bool {
    let mut reg = 0u32;
    let mut pc = 0usize;
    while let Some(insn) = program.get(pc) {
        let k = insn.k;
        match insn.code {
            LD_W_ABS => match k {
                NR_OFFSET => reg = nr,
                ARCH_OFFSET => reg = arch,
                _ => return false,
            },
            RET_K => return k == SECCOMP_RET_ALLOW,
            JA_K => pc = pc.saturating_add(k as usize),
            JEQ_K | JGT_K | JGE_K | JSET_K => {
                let taken = match insn.code {
                    JEQ_K => reg == k,
                    JGT_K => reg > k,
                    JGE_K => reg >= k,
                    _ => reg & k != 0,
                };
                pc += usize::from(if taken { insn.jt } else { insn.jf });
            }
            ALU_AND_K => reg &= k,
            _ => return false,
        }
        pc = pc.saturating_add(1);
    }
    // Ran off the end: the kernel warns and does not cache.
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i(code: u16, jt: u8, jf: u8, k: u32) -> Instruction {
        Instruction { code, jt, jf, k }
    }

    #[test]
    fn words_of_seccomp_data() {
        let d = SeccompData {
            nr: -1,
            arch: 7,
            instruction_pointer: 0x1111_2222_3333_4444,
            args: [0x5555_6666_7777_8888, 0, 0, 0, 0, 9 << 32],
        };
        assert_eq!(d.word(0), Some(u32::MAX));
        assert_eq!(d.word(4), Some(7));
        assert_eq!(d.word(8), Some(0x3333_4444));
        assert_eq!(d.word(12), Some(0x1111_2222));
        assert_eq!(d.word(16), Some(0x7777_8888));
        assert_eq!(d.word(20), Some(0x5555_6666));
        assert_eq!(d.word(60), Some(9));
        assert_eq!(d.word(64), None);
        assert_eq!(d.word(2), None);
    }

    #[test]
    fn runs_and_counts() {
        // A = args[0] lo; if A & 4 → ret 1 else ret A
        let p = [
            i(0x20, 0, 0, 16),
            i(0x45, 0, 1, 4),
            i(0x06, 0, 0, 1),
            i(0x16, 0, 0, 0),
        ];
        let d = |v| SeccompData {
            args: [v, 0, 0, 0, 0, 0],
            ..SeccompData::default()
        };
        assert_eq!(
            run(&p, &d(5)).unwrap(),
            Outcome {
                action: 1,
                executed: 3
            }
        );
        assert_eq!(
            run(&p, &d(3)).unwrap(),
            Outcome {
                action: 3,
                executed: 3
            }
        );
    }

    #[test]
    fn const_allow_follows_the_kernel() {
        let allow = i(0x06, 0, 0, SECCOMP_RET_ALLOW);
        // if nr == 1: look at args[0] else allow
        let p = [
            i(0x20, 0, 0, 0),
            i(0x15, 0, 2, 1),
            i(0x20, 0, 0, 16),
            i(0x06, 0, 0, 0),
            allow,
        ];
        assert!(const_allow(&p, 0, 2));
        assert!(!const_allow(&p, 0, 1));
        // A constant non-allow is not cached either.
        assert!(!const_allow(&[i(0x06, 0, 0, 0x0005_000d)], 0, 2));
        // Unknown instructions end the emulation.
        assert!(!const_allow(&[i(0x07, 0, 0, 0), allow], 0, 2));
    }
}
