//! The network-sandbox policy compiler.
//!
//! One pipeline, used by the `#[network_sandbox]` attribute, by `build.rs` (see [`file`]) and
//! by the `network-sandbox` command:
//!
//! | stage | module | in → out |
//! |---|---|---|
//! | parse | [`parse`] | endpoint text → [`model::Endpoint`] |
//! | validate | [`valid`] | [`model::Policy`] → errors pointing into the text |
//! | lower | [`lower`] | policy → per-arch [`lower::RuleSet`] (rules as data) |
//! | BPF | [`bpf`] | rule set → classic BPF through seccompiler, then post-processed |
//! | emit | [`emit`] | compiled policy → Rust tokens naming `::network_sandbox::__private` |

#![deny(missing_docs)]

pub mod emit;
pub mod model;
pub mod parse;
pub mod valid;

use std::fmt;

/// A target architecture the compiler emits a program for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arch {
    /// x86_64 (`AUDIT_ARCH_X86_64`); x32 and i386 system calls are refused.
    X86_64,
    /// aarch64 (`AUDIT_ARCH_AARCH64`); 32-bit compat system calls are refused.
    Aarch64,
}

impl Arch {
    /// Every supported architecture, in the order programs are emitted.
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Aarch64];

    /// The value of `target_arch` for this architecture.
    pub fn target_arch(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.target_arch())
    }
}

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

/// A compiled policy: the validated policy and one program per architecture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compiled {
    /// The policy it was compiled from.
    pub policy: model::Policy,
    /// One program per entry of [`Arch::ALL`].
    pub programs: Vec<Program>,
}

impl Compiled {
    /// The program for `arch`.
    pub fn program(&self, arch: Arch) -> &Program {
        self.programs
            .iter()
            .find(|p| p.arch == arch)
            .expect("a program is compiled for every arch")
    }
}
