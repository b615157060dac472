//! `network-sandbox explain`: the compiled seccomp program, one instruction per line, the
//! query sockets it hands to the supervisor, the program installed where no supervisor can
//! run (for a policy without endpoints), and the system call profile by group.

use clap::ValueEnum;
use network_sandbox_build::{listing, Arch};

use crate::policy::{self, PolicyArgs, EXIT_USAGE};

/// Arguments of `explain`.
#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    #[command(flatten)]
    policy: PolicyArgs,

    /// The architecture to show the program for [default: this machine's].
    #[arg(long, value_enum)]
    arch: Option<ArchArg>,

    /// Also list the system call groups that `--syscalls` and `--deny-syscalls` take, with
    /// their calls.
    #[arg(long)]
    groups: bool,
}

/// `--arch` values.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchArg {
    /// x86_64.
    #[value(name = "x86_64", alias = "x86-64")]
    X86_64,
    /// aarch64 (arm64).
    #[value(name = "aarch64", alias = "arm64")]
    Aarch64,
}

/// Runs `network-sandbox explain`.
pub fn explain(args: &ExplainArgs) -> i32 {
    let (model, compiled) = match policy::assemble_and_compile(&args.policy) {
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
    // Query sockets (issue 12): `socket()` calls the program hands to the supervisor.
    let query = network_sandbox_build::lower::query_sockets(&model);
    let kinds = match (query.ip, query.unix) {
        (true, true) => Some("UDP (IPv4, IPv6) and unix datagram sockets"),
        (true, false) => Some("UDP sockets (IPv4, IPv6)"),
        (false, true) => Some("unix datagram sockets"),
        (false, false) => None,
    };
    if let Some(kinds) = kinds {
        println!();
        println!(
            "query sockets (the socket() USER_NOTIF returns above): {kinds} are made by the \
             supervisor, shut down so that they cannot send, for interface requests (SIOCGIF*)"
        );
    }
    // A policy without endpoints carries a second program (issue 12): the one installed
    // where no supervisor can run, so the listing shows everything that may be installed.
    if let Some(unsupervised) = compiled.unsupervised(arch) {
        println!();
        println!(
            "where no supervisor can run (a kernel without seccomp user notification or \
             pidfd_getfd, or inside another sandbox), this program is installed instead: bind, \
             and sendto without MSG_FASTOPEN, pass; every other check is refused"
        );
        print!("{}", listing::render(unsupervised));
    }
    if !model.names.is_empty() {
        // The program sends every connect to the supervisor; the names decide there.
        println!();
        println!("names (checked by the supervisor, not by this program):");
        for n in &model.names {
            println!("  {n}");
        }
        if let Ok(runtime) = network_sandbox::compiler::from_compiled(&compiled) {
            match network_sandbox::hostnames::resolve(&runtime) {
                Ok(r) => crate::check::print_names(&r),
                Err(failed) => {
                    for f in failed {
                        println!("  {}: does not resolve ({})", f.name, f.why);
                    }
                }
            }
        }
    }
    if let Some(w) = model.resolver_warning() {
        println!("warning: {w}");
    }
    let profile = crate::profile::lines(&model, arch);
    if !profile.is_empty() {
        println!();
        for line in profile {
            println!("{line}");
        }
    }
    if args.groups {
        println!();
        for line in crate::profile::groups() {
            println!("{line}");
        }
    }
    0
}
