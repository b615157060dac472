//! Assembling a policy from the command line and a policy file, and rendering its errors.
//!
//! The file (`--policy FILE`, the TOML format of `build.rs` policy files) is parsed and
//! validated on its own first, so its errors point into the file. Then the flags are
//! applied: `--allow` endpoints are added to the file's, `--audit`, `--quiet`, `--fallback`
//! and `--deny-errno` override the file's options, `--keep-capability` names are added to
//! the file's `keep_capabilities`, and the whole list is validated again. An endpoint that
//! another one already allows (a duplicate, or a narrower one) is left out with a warning
//! naming the flag or the file; any other invalid endpoint is an error pointing at it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::Args;
use network_sandbox_build::file::{parse_policy_toml, FileError, Position};
use network_sandbox_build::model::{self, Mode, Options, ReportTo};
use network_sandbox_build::profiles;
use network_sandbox_build::valid::{listen_from_strs, policy_from_strs, EndpointError};

/// Exit status for a command line or policy that is wrong (as clap uses for usage errors).
pub const EXIT_USAGE: i32 = 2;

/// The policy flags every subcommand takes.
#[derive(Args, Debug, Clone, Default)]
pub struct PolicyArgs {
    /// Allow connections to ENDPOINT: `[tcp://|udp://]HOST:PORTS`, where HOST is an IPv4
    /// address, `[IPv6]`, a CIDR, a DNS name (`api.example.com`, resolved at start) or a
    /// name pinned to addresses (`api.example.com=192.0.2.1,[2001:db8::1]`), and PORTS a
    /// port or `LO-HI`; or a unix socket, `unix:/absolute/path` or `unix:@abstract-name`
    /// (given alone: its value is not split at commas). Repeat for more endpoints, or give a
    /// comma-separated list; none (and no --policy) means no network.
    #[arg(long = "allow", value_name = "ENDPOINT")]
    pub allow: Vec<String>,

    /// Let the program serve on ADDRESS:PORT (TCP): bind there, listen and accept. An IP
    /// address (`127.0.0.1`, `[::1]`, `0.0.0.0`) and one port. Repeat, or give a
    /// comma-separated list; added to the policy file's `listen`. Without it the program may
    /// bind only to port 0 and never listen.
    #[arg(long = "listen", value_name = "ADDRESS:PORT")]
    pub listen: Vec<String>,

    /// Read the policy from a TOML file (`allow = [...]`, `listen`, `syscalls`,
    /// `deny_syscalls`, `audit`, `fallback`, `report`, `keep_capabilities`, `unresolved`,
    /// `refresh`, `deny_errno`, `syscall_refusal`, `log`, `log_allowed`); --allow, --listen,
    /// --syscalls, --deny-syscalls and --keep-capability add to it, the other flags override
    /// its options.
    #[arg(long = "policy", value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// Audit mode: report connections outside the allow list but let them through.
    #[arg(long)]
    pub audit: bool,

    /// Do not report denied connections on stderr.
    #[arg(long, short)]
    pub quiet: bool,

    /// What to do when the kernel cannot check exact destinations (no seccomp user
    /// notification or pidfd_getfd) [default: refuse, or the policy file's].
    #[arg(long, value_name = "MODE", value_parser = option_values(&model::FALLBACK))]
    pub fallback: Option<&'static model::OptionValue>,

    /// What to do when an allowed name does not resolve at start [default: refuse, or the
    /// policy file's].
    #[arg(long, value_name = "WHAT", value_parser = option_values(&model::UNRESOLVED))]
    pub unresolved: Option<&'static model::OptionValue>,

    /// How often allowed names are looked up again while the program runs [default: ttl,
    /// or the policy file's].
    #[arg(long, value_name = "WHEN", value_parser = option_values(&model::REFRESH))]
    pub refresh: Option<&'static model::OptionValue>,

    /// Keep capability NAME, written as the kernel names it (`CAP_SYS_NICE`), besides the
    /// sandbox's default list, where the program has it (it is never granted). Repeat, or
    /// give a comma-separated list; adds to the policy file's `keep_capabilities`.
    #[arg(long = "keep-capability", value_name = "NAME", value_delimiter = ',')]
    pub keep_capabilities: Vec<String>,

    /// Allow only these system calls: groups (`@system-service`) and calls (`getrandom`),
    /// a comma-separated list or repeated; adds to the policy file's `syscalls`. Every
    /// other call is refused (EPERM, reported). `explain` lists the groups.
    #[arg(long = "syscalls", value_name = "NAMES", value_delimiter = ',')]
    pub syscalls: Vec<String>,

    /// Refuse these system calls (groups or calls) on top: a comma-separated list or
    /// repeated; adds to the policy file's `deny_syscalls`.
    #[arg(long = "deny-syscalls", value_name = "NAMES", value_delimiter = ',')]
    pub deny_syscalls: Vec<String>,

    /// What a system call outside the profile gets [default: EPERM, or the policy file's
    /// `syscall_refusal`].
    #[arg(long = "syscall-refusal", value_name = "WHAT", value_parser = option_values(&model::SYSCALL_REFUSAL))]
    pub syscall_refusal: Option<&'static model::OptionValue>,

    /// The errno a refused network operation returns to the program [default: EACCES, or
    /// the policy file's `deny_errno`]. Clients react differently: see the README.
    #[arg(long = "deny-errno", value_name = "ERRNO", value_parser = option_values(&model::DENY_ERRNO))]
    pub deny_errno: Option<&'static model::OptionValue>,
}

/// The values of a policy option as clap's possible values, with their descriptions: the
/// names `--fallback` accepts are the policy's (`model::FALLBACK`).
fn option_values(
    spec: &'static model::OptionSpec,
) -> impl TypedValueParser<Value = &'static model::OptionValue> {
    PossibleValuesParser::new(
        spec.values
            .iter()
            .map(|v| PossibleValue::new(v.name).help(v.description)),
    )
    .map(|name| {
        spec.value(&name)
            .expect("clap accepts only the names of the values")
    })
}

/// A policy the command line could not make: the full text to print on stderr (without
/// the trailing newline).
#[derive(Debug)]
pub struct PolicyError(pub String);

/// Builds and validates the policy the flags describe.
pub fn assemble(args: &PolicyArgs) -> Result<model::Policy, PolicyError> {
    let file = match &args.policy {
        Some(path) => Some((path.as_path(), read_file(path)?)),
        None => None,
    };
    let mut options = file
        .as_ref()
        .map_or_else(Options::default, |(_, p)| p.options);
    if args.audit {
        options.mode = Mode::Audit;
    }
    if args.quiet {
        options.report = ReportTo::Off;
    }
    for value in [args.fallback, args.unresolved, args.refresh]
        .into_iter()
        .flatten()
    {
        (value.set)(&mut options);
    }
    if let Some(value) = args.deny_errno {
        (value.set)(&mut options);
    }
    if let Some(value) = args.syscall_refusal {
        (value.set)(&mut options);
    }
    let profile = profile(args, file.as_ref().map(|(p, f)| (*p, &f.syscalls)))?;
    let spec = &model::KEEP_CAPABILITIES;
    spec.set_names(&args.keep_capabilities, &mut options)
        .map_err(|errors| {
            let rendered: Vec<String> = errors
                .iter()
                .map(|e| render_keep_error(&args.keep_capabilities[e.index], &e.message))
                .collect();
            PolicyError(rendered.join("\n"))
        })?;

    // `listen`: the file's entries, then the --listen values.
    let listen_flags = split_allow(&args.listen);
    let mut listen_texts: Vec<String> = file
        .as_ref()
        .map(|(_, p)| p.listen.iter().map(|e| e.origin.text.clone()).collect())
        .unwrap_or_default();
    let from_file = listen_texts.len();
    listen_texts.extend(listen_flags.iter().cloned());
    let listen = listen_from_strs(&listen_texts, &options).map_err(|errors| {
        let rendered: Vec<String> = errors
            .iter()
            .map(|e| match e.index.checked_sub(from_file) {
                Some(flag) => render_listen_error(&listen_flags[flag], e),
                None => format!(
                    "network-sandbox: error: invalid `listen` entry in the policy file: {}",
                    e.message
                ),
            })
            .collect();
        PolicyError(rendered.join("\n"))
    })?;

    // Each endpoint with where it was written: `None` for the file, `Some(i)` for
    // `allow[i]`, the --allow values with their comma-separated lists split.
    let allow = split_allow(&args.allow);
    let mut entries: Vec<(Option<usize>, String)> = file
        .as_ref()
        .map(|(_, p)| {
            let mut entries: Vec<(usize, String)> = p
                .endpoints
                .iter()
                .map(|e| &e.origin)
                .chain(p.names.iter().map(|n| &n.origin))
                .chain(p.unix.iter().map(|u| &u.origin))
                .map(|o| (o.index, o.text.clone()))
                .collect();
            entries.sort();
            entries.into_iter().map(|(_, t)| (None, t)).collect()
        })
        .unwrap_or_default();
    entries.extend(allow.iter().cloned().enumerate().map(|(i, t)| (Some(i), t)));
    let path = file.as_ref().map_or(Path::new("-"), |(p, _)| p);
    loop {
        let texts: Vec<String> = entries.iter().map(|(_, t)| t.clone()).collect();
        let errors = match policy_from_strs(&texts, options) {
            Ok(mut policy) => {
                policy.syscalls = profile;
                policy.log = file.as_ref().and_then(|(_, p)| p.log.clone());
                policy.listen = listen;
                return Ok(policy);
            }
            Err(errors) => errors,
        };
        // An endpoint that another one already allows (a duplicate, or a narrower one) is
        // left out with a warning: the policy means the same without it.
        let (covered, wrong): (Vec<&EndpointError>, Vec<&EndpointError>) =
            errors.iter().partition(|e| is_covered(e));
        if wrong.is_empty() && !covered.is_empty() {
            let mut drop: Vec<usize> = covered.iter().map(|e| e.index).collect();
            drop.sort_unstable();
            drop.dedup();
            for &i in drop.iter().rev() {
                let e = covered
                    .iter()
                    .find(|e| e.index == i)
                    .expect("an error for it");
                let (source, text) = &entries[i];
                let what = match source {
                    Some(_) => format!("--allow {text}"),
                    None => format!("{}: {text}", path.display()),
                };
                eprintln!(
                    "network-sandbox: warning: {what}: {}; it is left out",
                    e.message
                );
                entries.remove(i);
            }
            continue;
        }
        let mut out = String::new();
        for (i, e) in wrong.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            match entries[e.index] {
                (Some(flag), _) => out.push_str(&render_flag_error(&allow[flag], e)),
                (None, ref text) => out.push_str(&render_file_endpoint_error(path, text, e)),
            }
        }
        return Err(PolicyError(out));
    }
}

/// The system call profile (issue 14): the policy file's lists with the flags' names
/// added, checked for what `run` needs (the sandbox's own calls and `execve`). An error
/// names the flag value or the file entry it is about.
fn profile(
    args: &PolicyArgs,
    file: Option<(&Path, &profiles::Profile)>,
) -> Result<profiles::Profile, PolicyError> {
    let mut profile = file.map(|(_, p)| p.clone()).unwrap_or_default();
    // Where each entry came from: the file (`None`) or the flag value (`Some`).
    let from_file = |list: &Option<Vec<String>>| list.as_ref().map_or(0, Vec::len);
    let (file_allow, file_deny) = (from_file(&profile.allow), profile.deny.len());
    if !args.syscalls.is_empty() {
        profile
            .allow
            .get_or_insert_with(Vec::new)
            .extend(args.syscalls.iter().cloned());
    }
    profile.deny.extend(args.deny_syscalls.iter().cloned());
    let needs: Vec<&str> = profiles::SANDBOX_NEEDS
        .iter()
        .chain(&profiles::COMMAND_NEEDS)
        .copied()
        .collect();
    profiles::check(&profile, &needs).map_err(|errors| {
        let path = file.map_or(Path::new("-"), |(p, _)| p);
        let rendered: Vec<String> = errors
            .iter()
            .map(|e| {
                let (flag, values, in_file) = match e.list {
                    profiles::List::Allow => ("--syscalls", &args.syscalls, file_allow),
                    profiles::List::Deny => ("--deny-syscalls", &args.deny_syscalls, file_deny),
                };
                match e.index {
                    Some(i) if i >= in_file => {
                        render_name_error(flag, &values[i - in_file], &e.message)
                    }
                    Some(_) => format!(
                        "network-sandbox: error: in {}: `{}`: {}",
                        path.display(),
                        e.list.key(),
                        e.message
                    ),
                    None => format!("network-sandbox: error: {}", e.message),
                }
            })
            .collect();
        PolicyError(rendered.join("\n"))
    })?;
    Ok(profile)
}

/// The error for one name of `flag`, with a caret line under it.
fn render_name_error(flag: &str, name: &str, message: &str) -> String {
    let prefix = format!("  {flag} ");
    format!(
        "network-sandbox: error: in {flag}: {message}\n{prefix}{name}\n{}{}",
        " ".repeat(prefix.chars().count()),
        "^".repeat(name.chars().count().max(1))
    )
}

/// The endpoints of the --allow values: each value is one endpoint or a comma-separated list
/// of them. A comma inside a name's pinned addresses (`api.example.com=192.0.2.1,[::1]:443`)
/// does not split: a piece whose end has no `:PORTS` (outside brackets) is not a whole
/// endpoint yet, and takes the next piece. A value that starts with `unix:` is one endpoint,
/// commas and all (a path may hold them).
fn split_allow(values: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for value in values {
        if value.starts_with("unix:") {
            out.push(value.clone());
            continue;
        }
        let mut current: Option<String> = None;
        for piece in value.split(',') {
            let joined = match current.take() {
                Some(prev) => format!("{prev},{piece}"),
                None => piece.to_owned(),
            };
            let tail = joined.rsplit(']').next().unwrap_or("");
            if tail.contains(':') {
                out.push(joined);
            } else {
                current = Some(joined);
            }
        }
        out.extend(current);
    }
    out
}

/// Whether `e` says only that its endpoint is already allowed by another one (validation's
/// "duplicate endpoint" and "remove the narrower one").
fn is_covered(e: &EndpointError) -> bool {
    e.message.contains(" is already allowed by ")
}

fn read_file(path: &Path) -> Result<model::Policy, PolicyError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        PolicyError(format!(
            "network-sandbox: error: cannot read the policy file {}: {e}",
            path.display()
        ))
    })?;
    parse_policy_toml(&text).map_err(|errors| {
        let rendered: Vec<String> = errors
            .into_iter()
            .map(|e| {
                let position = Position::of(&text, e.range.start);
                let err = FileError {
                    path: path.to_owned(),
                    position: Some(position),
                    message: e.message,
                    line_text: text.lines().nth(position.line - 1).map(str::to_owned),
                };
                format!("network-sandbox: {}", err.render())
            })
            .collect();
        PolicyError(rendered.join("\n"))
    })
}

/// Compiles an assembled policy. On failure prints why and returns the exit status.
pub fn compile(model: &model::Policy) -> Result<network_sandbox_build::Compiled, i32> {
    network_sandbox_build::compile(model).map_err(|e| {
        eprintln!("network-sandbox: error: the policy does not compile: {e}");
        EXIT_USAGE
    })
}

/// [`assemble`] and [`compile`]. On failure prints why and returns the exit status.
pub fn assemble_and_compile(
    args: &PolicyArgs,
) -> Result<(model::Policy, network_sandbox_build::Compiled), i32> {
    let model = assemble(args).map_err(crate::policy_error)?;
    let compiled = compile(&model)?;
    Ok((model, compiled))
}

/// The error for one `--allow` value, with a caret line under the bad part:
///
/// ```text
/// network-sandbox: error: invalid endpoint in --allow: port 0 is not allowed: ports are 1–65535
///   --allow 127.0.0.1:0
///                     ^
/// ```
pub fn render_flag_error(value: &str, e: &EndpointError) -> String {
    let prefix = "  --allow ";
    format!(
        "network-sandbox: error: invalid endpoint in --allow: {}\n{prefix}{value}\n{}",
        e.message,
        caret_line(prefix.chars().count(), value, e)
    )
}

/// The error for one `--listen` value, with a caret line under the bad part.
fn render_listen_error(value: &str, e: &EndpointError) -> String {
    let prefix = "  --listen ";
    format!(
        "network-sandbox: error: invalid address in --listen: {}\n{prefix}{value}\n{}",
        e.message,
        caret_line(prefix.chars().count(), value, e)
    )
}

/// The error for one `--keep-capability` name, with a caret line under it.
fn render_keep_error(name: &str, message: &str) -> String {
    let prefix = "  --keep-capability ";
    format!(
        "network-sandbox: error: invalid capability in --keep-capability: {message}\n\
         {prefix}{name}\n{}{}",
        " ".repeat(prefix.chars().count()),
        "^".repeat(name.chars().count().max(1))
    )
}

fn render_file_endpoint_error(path: &Path, value: &str, e: &EndpointError) -> String {
    let prefix = "  ";
    format!(
        "network-sandbox: error: invalid endpoint in {}: {}\n{prefix}{value}\n{}",
        path.display(),
        e.message,
        caret_line(prefix.chars().count(), value, e)
    )
}

/// Spaces up to the start of `e.range` in `value`, then one `^` per character of the range
/// (at least one).
fn caret_line(indent: usize, value: &str, e: &EndpointError) -> String {
    let start = e.range.start.min(value.len());
    let end = e.range.end.clamp(start, value.len());
    let chars_before = value.get(..start).map_or(start, |s| s.chars().count());
    let width = value
        .get(start..end)
        .map_or(1, |s| s.chars().count())
        .max(1);
    let mut line = String::new();
    let _ = write!(
        line,
        "{}{}",
        " ".repeat(indent + chars_before),
        "^".repeat(width)
    );
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use network_sandbox_build::model::Fallback;

    #[test]
    fn comma_lists_split_but_not_inside_pinned_addresses() {
        let v = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            split_allow(&v(&["127.0.0.2:80,udp://[::1]:53", "10.0.0.0/8:1-9"])),
            v(&["127.0.0.2:80", "udp://[::1]:53", "10.0.0.0/8:1-9"])
        );
        assert_eq!(
            split_allow(&v(&[
                "api.example.com=192.0.2.1,[2001:db8::1]:443,127.0.0.2:80"
            ])),
            v(&[
                "api.example.com=192.0.2.1,[2001:db8::1]:443",
                "127.0.0.2:80"
            ])
        );
        // An incomplete last piece is kept whole, so validation can point at it.
        assert_eq!(split_allow(&v(&["127.0.0.2"])), v(&["127.0.0.2"]));
        assert_eq!(
            split_allow(&v(&["unix:/run/a,b.sock", "unix:@x"])),
            v(&["unix:/run/a,b.sock", "unix:@x"])
        );
    }

    fn args(allow: &[&str]) -> PolicyArgs {
        PolicyArgs {
            allow: allow.iter().map(|s| s.to_string()).collect(),
            ..PolicyArgs::default()
        }
    }

    #[test]
    fn caret_points_at_the_port() {
        let err = assemble(&args(&["127.0.0.1:0"])).unwrap_err().0;
        let lines: Vec<&str> = err.lines().collect();
        assert!(lines[0].starts_with("network-sandbox: error: invalid endpoint in --allow: "));
        assert_eq!(lines[1], "  --allow 127.0.0.1:0");
        assert_eq!(lines[2], format!("{}^", " ".repeat(20)));
    }

    #[test]
    fn flags_override_options() {
        let mut a = args(&["127.0.0.2:80"]);
        a.audit = true;
        a.quiet = true;
        a.fallback = model::FALLBACK.value("deny-all");
        let p = assemble(&a).unwrap();
        assert_eq!(p.options.mode, Mode::Audit);
        assert_eq!(p.options.report, ReportTo::Off);
        assert_eq!(p.options.fallback, Fallback::DenyAll);
        assert_eq!(p.endpoints.len(), 1);
    }

    #[test]
    fn keep_capability_flags_add_names() {
        let mut a = args(&[]);
        a.keep_capabilities = vec!["CAP_SYS_NICE".into(), "CAP_NET_RAW".into()];
        assert_eq!(
            assemble(&a).unwrap().options.keep_capabilities,
            1 << 23 | 1 << 13
        );
        assert_eq!(assemble(&args(&[])).unwrap().options.keep_capabilities, 0);

        a.keep_capabilities = vec!["CAP_SYS_NICE".into(), "sys_ptrace".into()];
        let err = assemble(&a).unwrap_err().0;
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(
            lines[0],
            "network-sandbox: error: invalid capability in --keep-capability: `sys_ptrace` is \
             not a capability `keep_capabilities` knows: did you mean `CAP_SYS_PTRACE`?"
        );
        assert_eq!(lines[1], "  --keep-capability sys_ptrace");
        assert_eq!(lines[2], format!("{}{}", " ".repeat(20), "^".repeat(10)));

        a.keep_capabilities = vec!["CAP_BPF".into(), "CAP_BPF".into()];
        let err = assemble(&a).unwrap_err().0;
        assert!(err.contains("duplicate capability `CAP_BPF`"), "{err}");
    }

    #[test]
    fn no_allow_means_no_network() {
        assert!(assemble(&args(&[])).unwrap().endpoints.is_empty());
    }
}
