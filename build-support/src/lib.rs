//! The network-sandbox policy compiler.
//!
//! One pipeline, used by the `#[network_sandbox]` attribute, by `build.rs` (see [`mod@file`]) and
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

pub mod bpf;
pub mod emit;
pub mod file;
#[doc(hidden)]
pub mod interp;
pub mod listing;
pub mod lower;
pub mod model;
pub mod parse;
pub mod syscalls;
pub mod valid;

pub use file::{compile_file, try_compile_file};

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
                bpf::MAX_LEN
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

/// Compiles `policy` to one seccomp program per entry of [`Arch::ALL`]: [`lower::lower`],
/// then [`bpf::assemble`]. The policy is assumed valid (see [`valid`]); an invalid one gives
/// a wrong program or an error, never a panic.
pub fn compile(policy: &model::Policy) -> Result<Compiled, CompileError> {
    let programs = Arch::ALL
        .iter()
        .map(|&arch| {
            let rules = lower::lower(policy, arch);
            Ok(Program {
                arch,
                instructions: bpf::assemble(&rules)?,
            })
        })
        .collect::<Result<Vec<_>, CompileError>>()?;
    Ok(Compiled {
        policy: policy.clone(),
        programs,
    })
}
