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
//! | assemble | [`assemble`] | rule set → classic BPF ([`bpf`]) through seccompiler, then optimised and [verified](verify) |
//! | emit | [`emit`] | compiled policy → Rust tokens naming `::network_sandbox::__private` |
//!
//! [`compile()`] runs lower and assemble for every [`Arch`] (for a policy without endpoints
//! also [`lower::lower_unsupervised`], the program for where no supervisor can run);
//! [`model::OPTIONS`] is the vocabulary of policy options every front end (attribute,
//! policy file, command line) uses.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod arch;
pub mod assemble;
pub mod bpf;
pub mod capabilities;
pub mod compile;
pub mod emit;
pub mod file;
#[doc(hidden)]
pub mod interp;
pub mod listing;
pub mod lower;
pub mod model;
pub mod optimize;
pub mod parse;
pub mod profiles;
pub mod ranges;
pub mod syscall_table;
pub mod syscalls;
pub mod valid;
pub mod verify;

pub use arch::Arch;
pub use assemble::CompileError;
pub use bpf::{Instruction, Program};
pub use compile::{compile, Compiled};
pub use file::{compile_file, try_compile_file};
