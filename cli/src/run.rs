//! `network-sandbox run`: compile the policy, find the program, install every layer on this
//! process, then execute the program in its place.
//!
//! The order matters: everything that can fail for reasons other than the sandbox (a bad
//! endpoint, a program that does not exist or cannot be executed) is checked before anything
//! is installed, so its exit status (2, 127, 126) is never confused with the sandbox's (125).

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use network_sandbox::compiler::{self, CompileError};
use network_sandbox::EXIT_NOT_SANDBOXED;
use network_sandbox_build::model::{self, Fallback};

use crate::policy::{self, PolicyArgs, EXIT_USAGE};

/// Exit status when PROGRAM is not found (as shells use).
pub const EXIT_NOT_FOUND: i32 = 127;
/// Exit status when PROGRAM is found but cannot be executed (as shells use).
pub const EXIT_NOT_EXECUTABLE: i32 = 126;

/// Arguments of `run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    policy: PolicyArgs,

    /// Print what each layer enforces on stderr before starting PROGRAM, and each change
    /// of an allowed name's addresses while it runs (also with NETWORK_SANDBOX_REPORT=1).
    #[arg(long, short)]
    verbose: bool,

    /// Also write every decision to FILE, one JSON object per line (appended; created with
    /// mode 0600). Fields: see the README, "The structured log".
    #[arg(long, value_name = "FILE")]
    log: Option<std::path::PathBuf>,

    /// Learn mode: run in audit mode (nothing is refused) and, when the program ends, write
    /// to FILE a policy allowing exactly what it used (destinations, as the names it looked
    /// up where the sandbox saw the lookup; unix sockets; listen addresses), a comment per
    /// entry saying what used it. DNS is forwarded to this machine's resolver meanwhile.
    /// Run again with `--policy FILE`.
    #[arg(long, value_name = "FILE")]
    learn: Option<std::path::PathBuf>,

    /// Log the allowed connects and sends too (to --log FILE, or to the policy's `log`).
    #[arg(long)]
    log_allowed: bool,

    /// The program to run and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "PROGRAM")]
    command: Vec<OsString>,
}

/// Runs `network-sandbox run`. Returns only on failure; on success the process becomes
/// the program.
pub fn run(args: RunArgs) -> i32 {
    let mut model = match policy::assemble(&args.policy) {
        Ok(p) => p,
        Err(e) => return crate::policy_error(e),
    };
    if args.learn.is_some() {
        model.options.mode = model::Mode::Audit;
    }
    let (program, rest) = args.command.split_first().expect("clap requires PROGRAM");
    let path = match resolve(program) {
        Ok(p) => p,
        Err((code, why)) => {
            eprintln!("network-sandbox: {}: {why}", Path::new(program).display());
            return code;
        }
    };
    let compiled = match policy::compile(&model) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let runtime = match compiler::from_compiled(&compiled) {
        Ok(p) => p,
        Err(CompileError::UnsupportedArch) => {
            eprintln!(
                "network-sandbox: refusing to start {}: {}",
                Path::new(program).display(),
                CompileError::UnsupportedArch
            );
            return EXIT_NOT_SANDBOXED;
        }
        Err(e) => {
            eprintln!("network-sandbox: error: {e}");
            return EXIT_USAGE;
        }
    };

    // --log replaces the policy's `log`; --log-allowed widens whichever log there is.
    let allowed = args.log_allowed || model.options.log_allowed;
    let log = match (&args.log, runtime.log()) {
        (Some(path), _) => Some((path.clone(), allowed)),
        (None, Some(path)) => Some((PathBuf::from(path), allowed)),
        (None, None) if args.log_allowed => {
            eprintln!(
                "network-sandbox: --log-allowed needs a log: add --log FILE, or log = \"FILE\" \
                 to the policy file"
            );
            return EXIT_USAGE;
        }
        (None, None) => None,
    };
    if let Some(w) = model.resolver_warning() {
        eprintln!("network-sandbox: warning: {w}");
    }
    if let Err(e) = crate::init::stay_in_front_if_pid1() {
        eprintln!("network-sandbox: cannot start an init in front of the program (this process is PID 1): {e}");
        return EXIT_NOT_SANDBOXED;
    }
    let report_env = std::env::var_os("NETWORK_SANDBOX_REPORT").is_some_and(|v| v == "1");
    if args.verbose && !report_env {
        // The supervisor reports each refresh of the names' addresses when this is set at
        // install; the program does not inherit it.
        std::env::set_var("NETWORK_SANDBOX_REPORT", "1");
    }
    let mut sandbox = network_sandbox::Sandbox::new(&runtime);
    if let Some((path, allowed)) = &log {
        sandbox = sandbox.log_to(path, *allowed);
    }
    if let Some(path) = &args.learn {
        sandbox = sandbox.learn_to(path);
    }
    let installed = sandbox.install();
    if args.verbose && !report_env {
        std::env::remove_var("NETWORK_SANDBOX_REPORT");
    }
    match installed {
        Ok(enforcement) => {
            if args.verbose || report_env {
                eprint!("{enforcement}");
            }
        }
        Err(e) => {
            eprintln!(
                "network-sandbox: refusing to start {}: {e}",
                Path::new(program).display()
            );
            let refuse = model.options.fallback == Fallback::Refuse;
            if refuse && matches!(e, network_sandbox::Error::Unsupported { .. }) {
                eprintln!(
                    "network-sandbox: on the command line: --{key} {} (TCP ports only) or \
                     --{key} {} (no network)",
                    Fallback::LandlockPorts.name(),
                    Fallback::DenyAll.name(),
                    key = model::FALLBACK.key,
                );
            }
            return EXIT_NOT_SANDBOXED;
        }
    }

    // From here on the process is sandboxed for good; exec keeps every layer.
    let err = Command::new(&path).arg0(program).args(rest).exec();
    eprintln!("network-sandbox: cannot execute {}: {err}", path.display());
    match err.kind() {
        io::ErrorKind::NotFound => EXIT_NOT_FOUND,
        _ => EXIT_NOT_EXECUTABLE,
    }
}

/// Finds `program` as `execvp` would: a name with a slash is a path, any other name is
/// looked up in `PATH`. Returns the path, or the exit status and why.
pub fn resolve(program: &OsStr) -> Result<PathBuf, (i32, String)> {
    if program.is_empty() {
        return Err((EXIT_NOT_FOUND, "empty program name".into()));
    }
    if program.as_bytes().contains(&b'/') {
        let path = PathBuf::from(program);
        return match check_executable(&path) {
            Ok(()) => Ok(path),
            Err(e) => Err(e),
        };
    }
    let search: OsString =
        std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let mut denied = None;
    for dir in std::env::split_paths(&search) {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let candidate = dir.join(program);
        match check_executable(&candidate) {
            Ok(()) => return Ok(candidate),
            Err((EXIT_NOT_FOUND, _)) => {}
            Err(e) => {
                denied.get_or_insert(e);
            }
        }
    }
    Err(denied.unwrap_or_else(|| (EXIT_NOT_FOUND, "command not found in PATH".into())))
}

fn check_executable(path: &Path) -> Result<(), (i32, String)> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err((EXIT_NOT_FOUND, "no such file".into()))
        }
        Err(e) => return Err((EXIT_NOT_EXECUTABLE, format!("cannot execute: {e}"))),
    };
    if meta.is_dir() {
        return Err((EXIT_NOT_EXECUTABLE, "is a directory, not a program".into()));
    }
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return Err((EXIT_NOT_FOUND, "the name contains a NUL byte".into()));
    };
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    if unsafe { libc::access(c.as_ptr(), libc::X_OK) } != 0 {
        let e = io::Error::last_os_error();
        return Err((EXIT_NOT_EXECUTABLE, format!("cannot execute: {e}")));
    }
    Ok(())
}
