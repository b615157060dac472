//! The target architectures the compiler emits a program for.

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
