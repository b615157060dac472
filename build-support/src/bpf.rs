//! Classic BPF as seccomp runs it: the instruction, its opcodes, the layout of
//! `seccomp_data`, and a program for one architecture.
//!
//! The vocabulary the later stages share: [`assemble`](crate::assemble) writes programs,
//! the optimiser rewrites them, [`verify`](crate::verify) checks them, [`listing`](crate::listing)
//! prints them and the test interpreter runs them.

use crate::arch::Arch;

/// One classic BPF instruction (the kernel's `struct sock_filter`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Instruction {
    /// Opcode.
    pub code: u16,
    /// Jump offset when true.
    pub jt: u8,
    /// Jump offset when false.
    pub jf: u8,
    /// Constant operand.
    pub k: u32,
}

/// A seccomp program for one architecture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// The architecture it is for.
    pub arch: Arch,
    /// Its instructions.
    pub instructions: Vec<Instruction>,
}

/// The kernel's limit on a seccomp program's length (`BPF_MAXINSNS`).
pub const MAX_LEN: usize = 4096;

/// `sizeof(struct seccomp_data)`.
pub const SECCOMP_DATA_LEN: u32 = 64;
/// Offset of `nr` in `seccomp_data`.
pub const NR_OFFSET: u32 = 0;
/// Offset of `arch` in `seccomp_data`.
pub const ARCH_OFFSET: u32 = 4;

// The opcodes the compiler emits.

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

/// The fields of an opcode, from `linux/bpf_common.h`, for code that takes any instruction
/// apart (the verifier and the test interpreter).
pub(crate) mod field {
    pub const CLASS: u16 = 0x07;
    pub const LD: u16 = 0x00;
    pub const LDX: u16 = 0x01;
    pub const ST: u16 = 0x02;
    pub const STX: u16 = 0x03;
    pub const ALU: u16 = 0x04;
    pub const JMP: u16 = 0x05;
    pub const RET: u16 = 0x06;
    pub const MISC: u16 = 0x07;
    pub const SIZE_MODE: u16 = 0xf8;
    pub const W_ABS: u16 = 0x20;
    pub const W_LEN: u16 = 0x80;
    pub const IMM: u16 = 0x00;
    pub const MEM: u16 = 0x60;
    pub const OP: u16 = 0xf0;
    pub const SRC_X: u16 = 0x08;
    pub const RVAL: u16 = 0x18;
    pub const RVAL_A: u16 = 0x10;
    pub const TAX: u16 = 0x00;
    pub const TXA: u16 = 0x80;
    pub const ADD: u16 = 0x00;
    pub const SUB: u16 = 0x10;
    pub const MUL: u16 = 0x20;
    pub const DIV: u16 = 0x30;
    pub const OR: u16 = 0x40;
    pub const AND: u16 = 0x50;
    pub const LSH: u16 = 0x60;
    pub const RSH: u16 = 0x70;
    pub const NEG: u16 = 0x80;
    pub const MOD: u16 = 0x90;
    pub const XOR: u16 = 0xa0;
    pub const JA: u16 = 0x00;
    pub const JEQ: u16 = 0x10;
    pub const JGT: u16 = 0x20;
    pub const JGE: u16 = 0x30;
    pub const JSET: u16 = 0x40;
}

/// A statement: `code` with constant `k` and no jump.
pub(crate) fn stmt(code: u16, k: u32) -> Instruction {
    Instruction {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

/// A conditional jump: compare with `k`, skip `jt` instructions if true, `jf` if false.
pub(crate) fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Instruction {
    Instruction { code, jt, jf, k }
}

/// `ret k`.
pub(crate) fn ret(k: u32) -> Instruction {
    stmt(RET_K, k)
}

/// Whether `code` is one of the conditional jumps the compiler emits.
pub(crate) fn is_conditional(code: u16) -> bool {
    matches!(code, JEQ_K | JGT_K | JGE_K | JSET_K)
}

/// The `ja` offset from instruction `from` to instruction `to` (`to > from`).
pub(crate) fn offset(from: usize, to: usize) -> u32 {
    u32::try_from(to - from - 1).unwrap_or(u32::MAX)
}
