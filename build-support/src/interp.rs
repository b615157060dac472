//! A classic BPF interpreter over `seccomp_data`, for the tests that run every emitted
//! program, and an emulation of the kernel's action-cache check.
//!
//! [`run`] executes a program as the kernel would for one system call. [`check`] applies the
//! kernel's load-time rules (`bpf_check_classic` and `seccomp_check_filter`) that matter for
//! the instructions supported here. [`const_allow`] is `seccomp_is_const_allow` from
//! `kernel/seccomp.c`: whether the kernel may cache "allow" for a system call number without
//! running the program.

use std::fmt;

use crate::Instruction;

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

/// `sizeof(struct seccomp_data)`.
pub const SECCOMP_DATA_LEN: u32 = 64;

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

/// Why a program cannot be run or loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The program has no instruction.
    Empty,
    /// More instructions than the kernel accepts.
    TooLong(usize),
    /// An opcode this interpreter (or seccomp) does not support.
    UnknownOpcode {
        /// Instruction index.
        at: usize,
        /// The opcode.
        code: u16,
    },
    /// A jump beyond the last instruction.
    JumpOutOfRange {
        /// Instruction index.
        at: usize,
    },
    /// A load outside `seccomp_data`, or not 4-byte aligned.
    LoadOutOfRange {
        /// Instruction index.
        at: usize,
        /// The byte offset.
        offset: u32,
    },
    /// A scratch memory index above 15.
    BadScratchIndex {
        /// Instruction index.
        at: usize,
    },
    /// Division or modulo by the constant 0, or a shift by 32 or more.
    BadConstant {
        /// Instruction index.
        at: usize,
    },
    /// The last instruction is not a return, or execution ran past the end.
    NoReturn,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Empty => write!(f, "empty program"),
            Error::TooLong(n) => write!(f, "{n} instructions, more than 4096"),
            Error::UnknownOpcode { at, code } => write!(f, "unknown opcode {code:#06x} at {at}"),
            Error::JumpOutOfRange { at } => write!(f, "jump out of the program at {at}"),
            Error::LoadOutOfRange { at, offset } => {
                write!(f, "load of seccomp_data offset {offset} at {at}")
            }
            Error::BadScratchIndex { at } => write!(f, "scratch memory index above 15 at {at}"),
            Error::BadConstant { at } => write!(f, "division by 0 or oversized shift at {at}"),
            Error::NoReturn => write!(f, "the program does not end with a return"),
        }
    }
}

impl std::error::Error for Error {}

/// The result of running a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The value returned (`SECCOMP_RET_*`).
    pub action: u32,
    /// How many instructions ran, the return included.
    pub executed: usize,
}

// Instruction classes and fields, from `linux/bpf_common.h`.
const CLASS: u16 = 0x07;
const LD: u16 = 0x00;
const LDX: u16 = 0x01;
const ST: u16 = 0x02;
const STX: u16 = 0x03;
const ALU: u16 = 0x04;
const JMP: u16 = 0x05;
const RET: u16 = 0x06;
const MISC: u16 = 0x07;
const SIZE_MODE: u16 = 0xf8;
const W_ABS: u16 = 0x20;
const W_LEN: u16 = 0x80;
const IMM: u16 = 0x00;
const MEM: u16 = 0x60;
const OP: u16 = 0xf0;
const SRC_X: u16 = 0x08;
const RVAL: u16 = 0x18;
const RVAL_A: u16 = 0x10;
const TAX: u16 = 0x00;
const TXA: u16 = 0x80;
const ADD: u16 = 0x00;
const SUB: u16 = 0x10;
const MUL: u16 = 0x20;
const DIV: u16 = 0x30;
const OR: u16 = 0x40;
const AND: u16 = 0x50;
const LSH: u16 = 0x60;
const RSH: u16 = 0x70;
const NEG: u16 = 0x80;
const MOD: u16 = 0x90;
const XOR: u16 = 0xa0;
const JA: u16 = 0x00;
const JEQ: u16 = 0x10;
const JGT: u16 = 0x20;
const JGE: u16 = 0x30;
const JSET: u16 = 0x40;

/// Checks what the kernel checks when the program is loaded, except its length.
pub fn check_structure(program: &[Instruction]) -> Result<(), Error> {
    let last = program.last().ok_or(Error::Empty)?;
    for (at, insn) in program.iter().enumerate() {
        let code = insn.code;
        let unknown = Error::UnknownOpcode { at, code };
        let k = insn.k;
        match code & CLASS {
            LD | LDX => match code & SIZE_MODE {
                W_ABS if code & CLASS == LD => {
                    if k % 4 != 0 || k >= SECCOMP_DATA_LEN {
                        return Err(Error::LoadOutOfRange { at, offset: k });
                    }
                }
                W_LEN | IMM => {}
                MEM if k >= 16 => return Err(Error::BadScratchIndex { at }),
                MEM => {}
                _ => return Err(unknown),
            },
            ST | STX if code & !CLASS != 0 => return Err(unknown),
            ST | STX if k >= 16 => return Err(Error::BadScratchIndex { at }),
            ST | STX => {}
            ALU => {
                if code & !(CLASS | OP | SRC_X) != 0 || code & OP > XOR {
                    return Err(unknown);
                }
                let by_k = code & SRC_X == 0;
                match code & OP {
                    DIV | MOD if by_k && k == 0 => return Err(Error::BadConstant { at }),
                    LSH | RSH if by_k && k >= 32 => return Err(Error::BadConstant { at }),
                    NEG if !by_k => return Err(unknown),
                    _ => {}
                }
            }
            JMP => {
                if code & !(CLASS | OP | SRC_X) != 0 || code & OP > JSET {
                    return Err(unknown);
                }
                let far = |off: usize| at + 1 + off >= program.len();
                let out = if code & OP == JA {
                    code & SRC_X != 0 || far(k as usize)
                } else {
                    far(usize::from(insn.jt)) || far(usize::from(insn.jf))
                };
                if out {
                    return Err(Error::JumpOutOfRange { at });
                }
            }
            RET => {
                if code != RET && code != RET | RVAL_A {
                    return Err(unknown);
                }
            }
            _ => {
                // MISC
                if code != MISC | TAX && code != MISC | TXA {
                    return Err(unknown);
                }
            }
        }
    }
    if last.code & CLASS != RET {
        return Err(Error::NoReturn);
    }
    Ok(())
}

/// Checks what the kernel checks when the program is loaded: [`check_structure`] and at most
/// 4096 instructions.
pub fn check(program: &[Instruction]) -> Result<(), Error> {
    check_structure(program)?;
    if program.len() > 4096 {
        return Err(Error::TooLong(program.len()));
    }
    Ok(())
}

/// Runs `program` for one system call and returns what it returns.
///
/// Every error [`check`] finds is also found here when execution reaches it, so a program
/// need not be checked first.
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
            0x20 => match k {
                0 => reg = nr,
                4 => reg = arch,
                _ => return false,
            },
            0x06 => return k == SECCOMP_RET_ALLOW,
            0x05 => pc = pc.saturating_add(k as usize),
            0x15 | 0x25 | 0x35 | 0x45 => {
                let taken = match insn.code {
                    0x15 => reg == k,
                    0x25 => reg > k,
                    0x35 => reg >= k,
                    _ => reg & k != 0,
                };
                pc += usize::from(if taken { insn.jt } else { insn.jf });
            }
            0x54 => reg &= k,
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
    fn rejects_bad_programs() {
        let ret = i(0x06, 0, 0, 0);
        assert_eq!(check(&[]), Err(Error::Empty));
        assert_eq!(
            check(&[i(0x15, 0, 1, 0), ret]),
            Err(Error::JumpOutOfRange { at: 0 })
        );
        assert_eq!(
            check(&[i(0x05, 0, 0, 1), ret]),
            Err(Error::JumpOutOfRange { at: 0 })
        );
        assert_eq!(
            check(&[i(0x20, 0, 0, 64), ret]),
            Err(Error::LoadOutOfRange { at: 0, offset: 64 })
        );
        assert_eq!(
            check(&[i(0x20, 0, 0, 2), ret]),
            Err(Error::LoadOutOfRange { at: 0, offset: 2 })
        );
        assert_eq!(check(&[i(0x20, 0, 0, 0)]), Err(Error::NoReturn));
        assert_eq!(
            check(&[i(0x34, 0, 0, 0), ret]),
            Err(Error::BadConstant { at: 0 })
        );
        assert!(matches!(
            check(&[i(0xff, 0, 0, 0), ret]),
            Err(Error::UnknownOpcode { .. })
        ));
        assert_eq!(check(&vec![ret; 4097]), Err(Error::TooLong(4097)));
        assert_eq!(check(&vec![ret; 4096]), Ok(()));
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
