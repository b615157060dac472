//! The whole pipeline for one policy: [`lower`](crate::lower) and
//! [`assemble`](crate::assemble) for every architecture.

use crate::arch::Arch;
use crate::assemble::{assemble, CompileError};
use crate::bpf::Program;
use crate::lower::lower;
use crate::model;

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

/// Compiles `policy` to one seccomp program per entry of [`Arch::ALL`]: [`lower`], then
/// [`assemble`]. The policy is assumed valid (see [`valid`](crate::valid)); an invalid one
/// gives a wrong program or an error, never a panic.
pub fn compile(policy: &model::Policy) -> Result<Compiled, CompileError> {
    let programs = Arch::ALL
        .iter()
        .map(|&arch| {
            let rules = lower(policy, arch);
            Ok(Program {
                arch,
                instructions: assemble(&rules)?,
            })
        })
        .collect::<Result<Vec<_>, CompileError>>()?;
    Ok(Compiled {
        policy: policy.clone(),
        programs,
    })
}
