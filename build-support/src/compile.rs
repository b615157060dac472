//! The whole pipeline for one policy: [`lower`](crate::lower) and
//! [`assemble`](crate::assemble) for every architecture.

use crate::arch::Arch;
use crate::assemble::{assemble, CompileError};
use crate::bpf::Program;
use crate::lower::{lower, lower_unsupervised};
use crate::model;

/// A compiled policy: the validated policy, one program per architecture, and for a
/// policy without endpoints one more per architecture, to install where no supervisor can
/// run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compiled {
    /// The policy it was compiled from.
    pub policy: model::Policy,
    /// One program per entry of [`Arch::ALL`].
    pub programs: Vec<Program>,
    /// The programs to install where no supervisor can run, one per entry of [`Arch::ALL`],
    /// for a policy that has them ([`lower::needs_unsupervised`](crate::lower::needs_unsupervised),
    /// [`lower_unsupervised`]); empty for every other policy.
    pub unsupervised: Vec<Program>,
}

impl Compiled {
    /// The program for `arch`.
    pub fn program(&self, arch: Arch) -> &Program {
        self.programs
            .iter()
            .find(|p| p.arch == arch)
            .expect("a program is compiled for every arch")
    }

    /// The program for `arch` to install where no supervisor can run, if the policy has one
    /// ([`Compiled::unsupervised`]).
    pub fn unsupervised(&self, arch: Arch) -> Option<&Program> {
        self.unsupervised.iter().find(|p| p.arch == arch)
    }
}

/// Compiles `policy` to one seccomp program per entry of [`Arch::ALL`]: [`lower`], then
/// [`assemble`]; and, for a policy without endpoints, one more per architecture to install
/// where no supervisor can run: [`lower_unsupervised`], then [`assemble`]. The policy is
/// assumed valid (see [`valid`](crate::valid)); an invalid one gives a wrong program or an
/// error, never a panic.
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
    let unsupervised = Arch::ALL
        .iter()
        .filter_map(|&arch| {
            let rules = lower_unsupervised(policy, arch)?;
            Some(assemble(&rules).map(|instructions| Program { arch, instructions }))
        })
        .collect::<Result<Vec<_>, CompileError>>()?;
    Ok(Compiled {
        policy: policy.clone(),
        programs,
        unsupervised,
    })
}
