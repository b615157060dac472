//! `network-sandbox explain`: the compiled seccomp program, one instruction per line.

use network_sandbox_build::{listing, Arch};

use crate::policy::{self, EXIT_USAGE};
use crate::{ArchArg, ExplainArgs};

/// Runs `network-sandbox explain`.
pub fn explain(args: &ExplainArgs) -> i32 {
    let (_, compiled) = match policy::assemble_and_compile(&args.policy) {
        Ok(both) => both,
        Err(code) => return code,
    };
    let arch = match args.arch {
        Some(ArchArg::X86_64) => Arch::X86_64,
        Some(ArchArg::Aarch64) => Arch::Aarch64,
        None => match Arch::ALL
            .into_iter()
            .find(|a| a.target_arch() == std::env::consts::ARCH)
        {
            Some(a) => a,
            None => {
                eprintln!(
                    "network-sandbox: error: no program for this machine ({}); choose one with \
                     --arch x86_64 or --arch aarch64",
                    std::env::consts::ARCH
                );
                return EXIT_USAGE;
            }
        },
    };
    // The listing starts with the architecture and ends with the length.
    print!("{}", listing::render(compiled.program(arch)));
    0
}
