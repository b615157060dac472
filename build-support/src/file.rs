//! The `build.rs` API: a policy in a TOML file, compiled when the crate is built.
//!
//! ```toml
//! # network-policy.toml
//! allow = ["192.0.2.1:443", "udp://[2001:db8::53]:53"]   # or one string; [] = no network
//! audit = false                                          # optional
//! fallback = "refuse"                                    # "refuse", "landlock-ports", "deny-all"
//! report = "stderr"                                      # "stderr", "off"
//! keep_capabilities = ["CAP_SYS_NICE"]                   # optional: kept besides the defaults
//! syscalls = ["@system-service"]                         # optional: only these system calls
//! deny_syscalls = ["@mount", "@swap"]                    # optional: refused on top
//! log = "/var/log/app/sandbox.jsonl"                     # optional: the structured log
//! log_allowed = true                                     # optional: allowed decisions too
//! listen = "127.0.0.1:8080"                              # optional: where it may serve (TCP)
//! ```
//!
//! ```no_run
//! // in build.rs's `fn main`:
//! network_sandbox_build::compile_file("network-policy.toml");
//! ```
//!
//! and in the crate, `#[network_sandbox(from_build)] fn main() { … }`.
//!
//! The keys and the endpoint grammar are those of the attribute; unknown keys are errors. An
//! invalid file fails the build with `path:line:col: message`, pointing into the string of
//! a bad endpoint. [`compile_file`] prints and exits; [`try_compile_file`] and
//! [`compile_file_to`] return the errors instead; [`parse_policy_toml`] only parses (the
//! command line's `--policy FILE` uses it).

use std::fmt;
use std::fs;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::compile::compile;
use crate::emit::policy_source;
use crate::model::{self, OptionSpec, OptionValue, Options, Policy, Syntax};
use crate::profiles;
use crate::valid::{listen_from_strs, policy_from_strs, EndpointError};

/// The name of the file written to `$OUT_DIR`, which `#[network_sandbox(from_build)]`
/// includes.
pub const OUTPUT_FILE: &str = "network_sandbox_policy.rs";

/// An error in a policy text, as a byte range of the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TomlError {
    /// Byte range in the TOML text (empty when something is missing at that place).
    pub range: Range<usize>,
    /// What is wrong and what is expected.
    pub message: String,
}

impl fmt::Display for TomlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TomlError {}

/// A line and a column (in characters), both starting at 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` in `text` (clamped to the text, and to a character
    /// boundary).
    pub fn of(text: &str, offset: usize) -> Self {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Position {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

/// An error about a policy file: where (when it is about a place in the file) and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileError {
    /// The file, as given.
    pub path: PathBuf,
    /// The place in the file, or `None` (the file cannot be read, or the compiler failed).
    pub position: Option<Position>,
    /// What is wrong and what is expected.
    pub message: String,
    /// The line of the file the position is on, for display.
    pub line_text: Option<String>,
}

impl FileError {
    /// The error with the offending line and a caret under the position, as rustc shows
    /// errors (no trailing newline).
    pub fn render(&self) -> String {
        let mut out = format!("error: {self}");
        if let (Some(pos), Some(line)) = (self.position, &self.line_text) {
            let width = pos.line.to_string().len();
            let pad = " ".repeat(width);
            let caret_pad: String = line
                .chars()
                .take(pos.column - 1)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            out.push_str(&format!(
                "\n{pad} |\n{} | {line}\n{pad} | {caret_pad}^",
                pos.line
            ));
        }
        out
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(p) => write!(
                f,
                "{}:{}:{}: {}",
                self.path.display(),
                p.line,
                p.column,
                self.message
            ),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for FileError {}

/// Every error found in one policy file (at least one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileErrors(pub Vec<FileError>);

impl fmt::Display for FileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FileErrors {}

/// Compiles the policy file at `path` (relative to the crate's directory, where `build.rs`
/// runs) into `$OUT_DIR/network_sandbox_policy.rs`, and tells Cargo to run the build script
/// again when the file changes. On an invalid file, prints each error as
/// `path:line:col: message` with the offending line and exits with status 1, which fails
/// the build.
///
/// Call it from `build.rs`; see the [module documentation](self).
pub fn compile_file(path: impl AsRef<Path>) {
    if let Err(errors) = try_compile_file(path) {
        for e in &errors.0 {
            eprintln!("{}", e.render());
        }
        std::process::exit(1);
    }
}

/// [`compile_file`], returning the errors instead of exiting. Prints
/// `cargo:rerun-if-changed=<path>` first, so a fixed file is picked up. Returns the path of
/// the file written.
pub fn try_compile_file(path: impl AsRef<Path>) -> Result<PathBuf, FileErrors> {
    let path = path.as_ref();
    println!("cargo:rerun-if-changed={}", path.display());
    let Some(out_dir) = std::env::var_os("OUT_DIR") else {
        return Err(FileErrors(vec![FileError {
            path: path.to_owned(),
            position: None,
            message: "OUT_DIR is not set: call compile_file from a build script (build.rs), \
                      where Cargo sets it"
                .to_owned(),
            line_text: None,
        }]));
    };
    compile_file_to(path, Path::new(&out_dir))
}

/// Compiles the policy file at `path` into `out_dir/network_sandbox_policy.rs` and returns
/// that path. Prints nothing and reads no environment variable. The file is rewritten only
/// when its contents change, so an unchanged policy does not rebuild the crate.
pub fn compile_file_to(path: &Path, out_dir: &Path) -> Result<PathBuf, FileErrors> {
    let unplaced = |message: String| {
        FileErrors(vec![FileError {
            path: path.to_owned(),
            position: None,
            message,
            line_text: None,
        }])
    };
    let text = fs::read_to_string(path)
        .map_err(|e| unplaced(format!("cannot read the policy file: {e}")))?;
    let policy = parse_policy_toml(&text).map_err(|errors| {
        FileErrors(
            errors
                .into_iter()
                .map(|e| {
                    let position = Position::of(&text, e.range.start);
                    FileError {
                        path: path.to_owned(),
                        position: Some(position),
                        message: e.message,
                        line_text: text.lines().nth(position.line - 1).map(str::to_owned),
                    }
                })
                .collect(),
        )
    })?;
    let compiled = compile(&policy).map_err(|e| {
        unplaced(format!(
            "network-sandbox could not compile this policy: {e}"
        ))
    })?;

    let source = format!(
        "// @generated by network-sandbox-build from {}. Do not edit.\n{}",
        path.display(),
        policy_source(&compiled)
    );
    let out = out_dir.join(OUTPUT_FILE);
    let write = |out: &Path| -> io::Result<()> {
        if fs::read_to_string(out).ok().as_deref() != Some(source.as_str()) {
            fs::write(out, &source)?;
        }
        Ok(())
    };
    write(&out).map_err(|e| unplaced(format!("cannot write {}: {e}", out.display())))?;
    Ok(out)
}

/// Parses and validates a policy written as TOML (the keys of the
/// [module documentation](self)). Errors are byte ranges of `text`; an endpoint error points
/// into its string.
pub fn parse_policy_toml(text: &str) -> Result<Policy, Vec<TomlError>> {
    let table = DeTable::parse(text).map_err(|e| {
        vec![TomlError {
            range: e.span().unwrap_or(0..0),
            message: format!("invalid TOML: {}", e.message().trim_end()),
        }]
    })?;

    let mut errors = Vec::new();
    let mut options = Options::default();
    // (string, its value's span in `text`) for each endpoint
    let mut allow: Option<Vec<(String, Range<usize>)>> = None;
    // (key, its range, (name, its value's span) for each entry) of `syscalls`, `deny_syscalls`
    let mut profile_keys: Vec<ProfileKey> = Vec::new();
    let mut log: Option<String> = None;
    let mut log_allowed_key: Option<Range<usize>> = None;
    // the same for `listen`
    let mut listen: Vec<(String, Range<usize>)> = Vec::new();

    let mut entries: Vec<_> = table.get_ref().iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    for (key, value) in entries {
        let key_range = key.span();
        match key.get_ref().as_ref() {
            key @ (model::ALLOW | model::LISTEN) => {
                let list = strings(key, value, &mut errors);
                if key == model::ALLOW {
                    allow = Some(list);
                } else {
                    listen = list;
                }
            }
            model::LOG => match value.get_ref() {
                DeValue::String(s) => match model::log_path_error(s) {
                    None => log = Some(s.to_string()),
                    Some(message) => errors.push(TomlError {
                        range: value.span(),
                        message,
                    }),
                },
                other => errors.push(TomlError {
                    range: value.span(),
                    message: format!(
                        "expected a file name for `log`, found {}: log = \"/var/log/sandbox.jsonl\"",
                        other.type_str()
                    ),
                }),
            },
            key @ (profiles::SYSCALLS | profiles::DENY_SYSCALLS) => {
                // System call profile (issue 14): checked once the policy is whole.
                match string_list(key, value) {
                    Ok(list) => profile_keys.push((key.to_owned(), key_range.clone(), list)),
                    Err(e) => errors.extend(e),
                }
            }
            "from_build" => errors.push(TomlError {
                range: key_range,
                message: "`from_build` belongs in the attribute, #[network_sandbox(from_build)]; \
                          the policy file holds the policy itself"
                    .to_owned(),
            }),
            other => match model::option(other) {
                Some(spec) => match spec.syntax {
                    Syntax::Names { .. } => {
                        if let Err(e) = set_names(spec, value, &mut options) {
                            errors.extend(e);
                        }
                    }
                    _ => match option_value(spec, value) {
                        Ok(chosen) => {
                            if spec.key == model::LOG_ALLOWED.key {
                                log_allowed_key = Some(key_range.clone());
                            }
                            (chosen.set)(&mut options)
                        }
                        Err(e) => errors.push(e),
                    },
                },
                None => errors.push(TomlError {
                    range: key_range,
                    message: format!(
                        "unknown key `{other}`: expected {}",
                        model::expected_keys(&[])
                    ),
                }),
            },
        }
    }

    if let (Some(range), None) = (log_allowed_key, &log) {
        if options.log_allowed {
            errors.push(TomlError {
                range,
                message: "`log_allowed` needs `log`: add log = \"/var/log/sandbox.jsonl\""
                    .to_owned(),
            });
        }
    }

    let Some(allow) = allow else {
        if errors.is_empty() {
            errors.push(TomlError {
                range: 0..0,
                message: "missing `allow`: write allow = [\"192.0.2.1:443\"], or allow = [] \
                          for no network"
                    .to_owned(),
            });
        }
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }

    let located = |list: &[(String, Range<usize>)], endpoint_errors: Vec<EndpointError>| {
        endpoint_errors
            .into_iter()
            .map(|e| {
                let (s, span) = &list[e.index];
                TomlError {
                    range: locate_in_string(text, span.clone(), s, e.range),
                    message: e.message,
                }
            })
            .collect::<Vec<_>>()
    };
    let texts: Vec<&str> = allow.iter().map(|(s, _)| s.as_str()).collect();
    let mut policy = policy_from_strs(&texts, options).map_err(|e| located(&allow, e))?;
    let texts: Vec<&str> = listen.iter().map(|(s, _)| s.as_str()).collect();
    policy.listen = listen_from_strs(&texts, &policy.options).map_err(|e| located(&listen, e))?;
    policy.log = log;
    policy.syscalls = profile(&profile_keys)?;
    Ok(policy)
}

/// `syscalls` or `deny_syscalls` as written: the key, its range, and each name with the
/// span of its string.
type ProfileKey = (String, Range<usize>, Vec<(String, Range<usize>)>);

/// The system call profile of `syscalls` and `deny_syscalls` (issue 14), checked: each
/// error spans the string it is about, or the key for the list as a whole.
fn profile(keys: &[ProfileKey]) -> Result<profiles::Profile, Vec<TomlError>> {
    let find = |list: profiles::List| keys.iter().find(|(k, ..)| k == list.key());
    let names = |l: &[(String, Range<usize>)]| l.iter().map(|(s, _)| s.clone()).collect();
    let profile = profiles::Profile {
        allow: find(profiles::List::Allow).map(|(_, _, l)| names(l)),
        deny: find(profiles::List::Deny).map_or_else(Vec::new, |(_, _, l)| names(l)),
    };
    profiles::check(&profile, &profiles::SANDBOX_NEEDS).map_err(|errors| {
        errors
            .into_iter()
            .map(|e| {
                let (_, key, list) = find(e.list).expect("errors are about a list given");
                TomlError {
                    range: e.index.map_or(key.clone(), |i| list[i].1.clone()),
                    message: e.message,
                }
            })
            .collect::<Vec<_>>()
    })?;
    Ok(profile)
}

/// One string or a list of strings (the names of `syscalls`, `deny_syscalls`), each with
/// its span.
fn string_list(
    key: &str,
    value: &Spanned<DeValue<'_>>,
) -> Result<Vec<(String, Range<usize>)>, Vec<TomlError>> {
    let mut errors = Vec::new();
    let list = strings(key, value, &mut errors);
    if errors.is_empty() {
        Ok(list)
    } else {
        Err(errors)
    }
}

/// The strings of `key` (`allow`, `listen`, `syscalls`, `deny_syscalls`): one string or a
/// list of strings, each with its span; anything else is an error.
fn strings(
    key: &str,
    value: &Spanned<DeValue<'_>>,
    errors: &mut Vec<TomlError>,
) -> Vec<(String, Range<usize>)> {
    let example = match key {
        model::LISTEN => "127.0.0.1:8080",
        model::ALLOW => "192.0.2.1:443",
        _ => "@system-service",
    };
    match value.get_ref() {
        DeValue::String(s) => vec![(s.to_string(), value.span())],
        DeValue::Array(items) => {
            let mut list = Vec::new();
            for item in items.iter() {
                match item.get_ref() {
                    DeValue::String(s) => list.push((s.to_string(), item.span())),
                    other => errors.push(TomlError {
                        range: item.span(),
                        message: format!(
                            "expected a string in `{key}`, like \"{example}\", found {}",
                            other.type_str()
                        ),
                    }),
                }
            }
            list
        }
        other => {
            errors.push(TomlError {
                range: value.span(),
                message: format!(
                    "expected a string or a list of strings for `{key}`, found {}: \
                     {key} = [\"{example}\"]",
                    other.type_str()
                ),
            });
            Vec::new()
        }
    }
}

/// The value of option `spec` that `value` names, or an error spanning `value`.
fn option_value(
    spec: &OptionSpec,
    value: &Spanned<DeValue<'_>>,
) -> Result<&'static OptionValue, TomlError> {
    let error = |message| TomlError {
        range: value.span(),
        message,
    };
    match (spec.syntax, value.get_ref()) {
        (Syntax::Bool, DeValue::Boolean(b)) => spec
            .value(if *b { "true" } else { "false" })
            .ok_or_else(|| error(spec.unknown_value(&b.to_string()))),
        (Syntax::Name, DeValue::String(s)) => {
            spec.value(s).ok_or_else(|| error(spec.unknown_value(s)))
        }
        (Syntax::Bool, other) => Err(error(format!(
            "expected {} for `{}`, found {}",
            spec.expected(),
            spec.key,
            other.type_str()
        ))),
        (Syntax::Name, other) => Err(error(format!(
            "expected a string for `{}`, found {}: {}",
            spec.key,
            other.type_str(),
            spec.expected()
        ))),
        (Syntax::Names { .. }, _) => unreachable!("a list option is set by `set_names`"),
    }
}

/// Sets the values a [`Syntax::Names`] option names: one string or a list of strings.
/// Each error spans the string it is about (or the value, when it is not strings).
fn set_names(
    spec: &OptionSpec,
    value: &Spanned<DeValue<'_>>,
    options: &mut Options,
) -> Result<(), Vec<TomlError>> {
    let not_a_string = |found: &str, range: Range<usize>| TomlError {
        range,
        message: format!(
            "expected a string in `{}`, found {found}: {}",
            spec.key, spec.example
        ),
    };
    let items: Vec<(&str, Range<usize>)> = match value.get_ref() {
        DeValue::String(s) => vec![(s.as_ref(), value.span())],
        DeValue::Array(items) => {
            let mut list = Vec::new();
            let mut errors = Vec::new();
            for item in items.iter() {
                match item.get_ref() {
                    DeValue::String(s) => list.push((s.as_ref(), item.span())),
                    other => errors.push(not_a_string(other.type_str(), item.span())),
                }
            }
            if !errors.is_empty() {
                return Err(errors);
            }
            list
        }
        other => {
            return Err(vec![TomlError {
                range: value.span(),
                message: format!(
                    "expected a list of strings for `{}`, found {}: {}",
                    spec.key,
                    other.type_str(),
                    spec.example
                ),
            }])
        }
    };
    let names: Vec<&str> = items.iter().map(|(s, _)| *s).collect();
    spec.set_names(&names, options).map_err(|errors| {
        errors
            .into_iter()
            .map(|e| TomlError {
                range: items[e.index].1.clone(),
                message: e.message,
            })
            .collect()
    })
}

/// The range in `text` of `range` within the string `value` whose TOML token is at `span`.
/// Exact when the token spells the value literally (no escapes); otherwise the start of the
/// token.
fn locate_in_string(
    text: &str,
    span: Range<usize>,
    value: &str,
    range: Range<usize>,
) -> Range<usize> {
    let raw = &text[span.clone()];
    for quote in ["\"\"\"", "'''", "\"", "'"] {
        let Some(body) = raw.strip_prefix(quote).and_then(|r| r.strip_suffix(quote)) else {
            continue;
        };
        let skip = quote.len() + usize::from(quote.len() == 3 && body.starts_with('\n'));
        if &raw[skip..raw.len() - quote.len()] == value {
            return span.start + skip + range.start..span.start + skip + range.end;
        }
        break;
    }
    span.start..span.start
}
