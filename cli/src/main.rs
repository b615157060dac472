//! `network-sandbox`: run a program with its network access cut down to named endpoints.
//!
//! ```text
//! network-sandbox run --allow 192.0.2.1:443 -- curl https://192.0.2.1/
//! network-sandbox check --allow 192.0.2.1:443
//! network-sandbox explain --allow 192.0.2.1:443 --arch aarch64
//! ```
//!
//! `run` compiles the policy, installs every layer (static seccomp filter, supervisor,
//! Landlock) on itself and then executes the program in its place, so the program keeps the
//! PID and its exit status is the command's.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod check;
mod explain;
mod init;
mod policy;
mod profile;
mod run;

const EXAMPLES: &str = "\
Examples:
  # curl may reach 192.0.2.1 on port 443 and nothing else
  network-sandbox run --allow 192.0.2.1:443 -- curl https://192.0.2.1/

  # several endpoints, IPv6, a CIDR, a port range, UDP
  network-sandbox run --allow '[2001:db8::1]:443' --allow 10.0.0.0/8:8000-8080 \\
      --allow udp://192.0.2.53:53 -- python3 app.py

  # no network at all
  network-sandbox run -- ./build.sh

  # the policy from a file, plus one more endpoint
  network-sandbox run --policy network-policy.toml --allow 127.0.0.1:5432 -- node server.js

  # what would be enforced on this kernel, and the compiled program
  network-sandbox check --allow 192.0.2.1:443
  network-sandbox explain --allow 192.0.2.1:443 --arch aarch64

Exit status of `run`: the program's own; 127 if PROGRAM is not found, 126 if it cannot be
executed, 2 for a bad command line or policy, 125 if the sandbox cannot be installed.";

/// Run a program with its network access cut down to the endpoints you name.
#[derive(Parser, Debug)]
#[command(name = "network-sandbox", version, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Install the sandbox on this process, then execute PROGRAM in its place.
    #[command(after_help = EXAMPLES)]
    Run(run::RunArgs),
    /// Validate the policy and show what each layer would enforce on this kernel, without
    /// installing anything. Exits 0 if `run` would start, 1 if it would refuse.
    Check(check::CheckArgs),
    /// Print the compiled seccomp program, one instruction per line.
    Explain(explain::ExplainArgs),
    /// Print a shell completion script.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    // Rust starts with SIGPIPE ignored, so `check … | head` would panic on the closed pipe;
    // the default ends the command quietly, as other tools end. (`run` executes the program
    // through std, which gives it the default disposition in any case.)
    // SAFETY: signal with a valid signal number and SIG_DFL.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let cli = Cli::try_parse().unwrap_or_else(|e| {
        let hint = missing_separator_hint(&e, std::env::args_os().nth(1).as_deref());
        let _ = e.print();
        if let Some(hint) = hint {
            eprintln!("{hint}");
        }
        std::process::exit(e.exit_code());
    });
    let code = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Check(args) => check::check(&args),
        Command::Explain(args) => explain::explain(&args),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "network-sandbox",
                &mut std::io::stdout(),
            );
            0
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// The hint for `network-sandbox run curl …`: clap sees `curl` as an unexpected argument,
/// since the program must follow `--`.
fn missing_separator_hint(e: &clap::Error, subcommand: Option<&std::ffi::OsStr>) -> Option<String> {
    let unexpected = e.kind() == clap::error::ErrorKind::UnknownArgument;
    let run = subcommand.is_some_and(|s| s == "run");
    let arg = e.get(clap::error::ContextKind::InvalidArg)?.to_string();
    (unexpected && run && !arg.starts_with('-')).then(|| {
        format!(
            "hint: put `--` before the program and its arguments: network-sandbox run \
             [OPTIONS] -- {arg} …"
        )
    })
}

/// Prints a policy error and returns the usage exit status.
fn policy_error(e: policy::PolicyError) -> i32 {
    eprintln!("{}", e.0);
    policy::EXIT_USAGE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_program_without_the_separator_gets_a_hint() {
        let e = Cli::try_parse_from(["network-sandbox", "run", "curl", "http://x/"]).unwrap_err();
        let hint = missing_separator_hint(&e, Some("run".as_ref())).unwrap();
        assert!(hint.contains("-- curl"), "{hint}");
        let e = Cli::try_parse_from(["network-sandbox", "run", "--bogus"]).unwrap_err();
        assert_eq!(missing_separator_hint(&e, Some("run".as_ref())), None);
    }
}
