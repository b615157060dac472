//! The kernel's load-time checks of a seccomp program, applied by the compiler to every
//! program it emits: `bpf_check_classic` and `seccomp_check_filter` for the instructions
//! seccomp accepts. A program that fails them is a bug in the compiler
//! ([`CompileError::Internal`](crate::assemble::CompileError::Internal)), never a program
//! the kernel refuses at run time.

use std::fmt;

use crate::bpf::field::*;
use crate::bpf::{Instruction, MAX_LEN, SECCOMP_DATA_LEN};

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
            Error::TooLong(n) => write!(f, "{n} instructions, more than {MAX_LEN}"),
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
/// [`MAX_LEN`] instructions.
pub fn check(program: &[Instruction]) -> Result<(), Error> {
    check_structure(program)?;
    if program.len() > MAX_LEN {
        return Err(Error::TooLong(program.len()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i(code: u16, jt: u8, jf: u8, k: u32) -> Instruction {
        Instruction { code, jt, jf, k }
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
}
