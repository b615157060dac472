//! Compiled policy → Rust code.
//!
//! The output is one block expression of type `&'static network_sandbox::__private::Policy`:
//!
//! ```text
//! {
//!     #[cfg(target_arch = "x86_64")]
//!     const FILTER: &[::network_sandbox::__private::SockFilter] = &[/* one program */];
//!     #[cfg(target_arch = "aarch64")]
//!     const FILTER: &[::network_sandbox::__private::SockFilter] = &[/* the other */];
//!     #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
//!     const FILTER: &[::network_sandbox::__private::SockFilter] = ::core::compile_error!("…");
//!     const ENDPOINTS: &[::network_sandbox::__private::Endpoint] = &[/* endpoints */];
//!     const NAMES: &[::network_sandbox::__private::Name] = &[/* names */];
//!     static POLICY: ::network_sandbox::__private::Policy =
//!         ::network_sandbox::__private::Policy::from_static(
//!             FILTER, ENDPOINTS, NAMES, /* listen */, /* refused calls */, /* unix */,
//!             /* options */, /* log */, /* unsupervised */,
//!         );
//!     &POLICY
//! }
//! ```
//!
//! A policy without endpoints ([`needs_unsupervised`](crate::lower::needs_unsupervised))
//! also has, per architecture, `const UNSUPERVISED: &[…SockFilter]`, the program to install
//! where no supervisor can run, passed as `Some(UNSUPERVISED)`; every other policy passes
//! `None` and carries no second program.
//!
//! The attribute passes it to `::network_sandbox::__private::enter`, and the `build.rs` path
//! writes it to a file that `#[network_sandbox(from_build)]` includes. A proc macro runs on
//! the host and cannot see the target, so every architecture's program is emitted under its
//! own `cfg`. Every path is absolute, every value a literal, and the same policy always gives
//! the same text.
//!
//! [`policy_source`] renders the code as formatted text (what `build.rs` writes and what
//! `cargo expand` shows); [`policy_expr`] is the same text as tokens, so the two cannot
//! drift apart.

use std::fmt::Write as _;
use std::net::IpAddr;

use proc_macro2::TokenStream;

use crate::bpf::{Instruction, Program};
use crate::compile::Compiled;
use crate::model::{Endpoint, NamedEndpoint, Options, Protocol, UnixEndpoint, UnixName};

/// The path every generated item is named through.
const P: &str = "::network_sandbox::__private";

/// The block expression for `compiled`, as tokens (spans are `Span::call_site()`).
pub fn policy_expr(compiled: &Compiled) -> TokenStream {
    policy_source(compiled)
        .parse()
        .expect("emitted source is valid Rust tokens")
}

/// `const NAME: &[SockFilter] = &[…];` for `program`, under its architecture's `cfg`, after
/// a comment naming the architecture (then `note`) and the length.
fn program_const(out: &mut String, name: &str, note: &str, program: &Program) {
    let _ = writeln!(
        out,
        "    // {}{note}: {} instructions",
        program.arch,
        program.instructions.len()
    );
    let _ = writeln!(
        out,
        "    #[cfg(target_arch = \"{}\")]",
        program.arch.target_arch()
    );
    let _ = writeln!(out, "    const {name}: &[{P}::SockFilter] = &[");
    for i in &program.instructions {
        out.push_str("        ");
        instruction(out, i);
        out.push_str(",\n");
    }
    out.push_str("    ];\n");
}

/// The block expression for `compiled`, as formatted Rust source (four-space indents, one
/// instruction per line, a trailing newline).
pub fn policy_source(compiled: &Compiled) -> String {
    let mut out = String::new();
    out.push_str("{\n");

    let mut programs: Vec<_> = compiled.programs.iter().collect();
    programs.sort_by_key(|p| p.arch);
    for program in &programs {
        program_const(&mut out, "FILTER", "", program);
    }

    let arches: Vec<String> = programs
        .iter()
        .map(|p| format!("target_arch = \"{}\"", p.arch.target_arch()))
        .collect();
    let names: Vec<&str> = programs.iter().map(|p| p.arch.target_arch()).collect();
    let _ = writeln!(out, "    #[cfg(not(any({})))]", arches.join(", "));
    let _ = writeln!(
        out,
        "    const FILTER: &[{P}::SockFilter] = ::core::compile_error!(\
         \"network-sandbox has seccomp programs for {} only; this target architecture is not supported\");",
        names.join(" and ")
    );

    // A policy without endpoints (issue 12): the program to install where no supervisor can
    // run, per architecture (every other policy is emitted without it).
    let mut unsupervised: Vec<_> = compiled.unsupervised.iter().collect();
    unsupervised.sort_by_key(|p| p.arch);
    for program in &unsupervised {
        program_const(
            &mut out,
            "UNSUPERVISED",
            ", where no supervisor can run",
            program,
        );
    }
    if !unsupervised.is_empty() {
        // FILTER's compile_error already stops any other target.
        let _ = writeln!(out, "    #[cfg(not(any({})))]", arches.join(", "));
        let _ = writeln!(out, "    const UNSUPERVISED: &[{P}::SockFilter] = &[];");
    }

    // The system call profile (issue 14): the calls it refuses, for the refusal lines.
    let profiled = !compiled.policy.syscalls.is_empty();
    if profiled {
        for program in &programs {
            let calls = crate::profiles::refused_calls(&compiled.policy, program.arch);
            let _ = writeln!(
                out,
                "    #[cfg(target_arch = \"{}\")]",
                program.arch.target_arch()
            );
            let _ = writeln!(out, "    const SYSCALLS: &[{P}::RefusedCall] = &[");
            for (nr, name, group, denied) in calls {
                let group = group.map_or("::core::option::Option::None".to_owned(), |g| {
                    format!("::core::option::Option::Some(\"{g}\")")
                });
                let _ = writeln!(
                    out,
                    "        {P}::RefusedCall::new({nr}, \"{name}\", {group}, {denied}),"
                );
            }
            out.push_str("    ];\n");
        }
        let _ = writeln!(out, "    #[cfg(not(any({})))]", arches.join(", "));
        let _ = writeln!(out, "    const SYSCALLS: &[{P}::RefusedCall] = &[];");
    }

    let _ = writeln!(out, "    const ENDPOINTS: &[{P}::Endpoint] = &[");
    for e in &compiled.policy.endpoints {
        endpoint(&mut out, e);
    }
    out.push_str("    ];\n");

    let _ = writeln!(out, "    const NAMES: &[{P}::Name] = &[");
    for n in &compiled.policy.names {
        name(&mut out, n);
    }
    out.push_str("    ];\n");

    let listen = &compiled.policy.listen;
    if !listen.is_empty() {
        let _ = writeln!(out, "    const LISTEN: &[{P}::Endpoint] = &[");
        for e in listen {
            endpoint(&mut out, e);
        }
        out.push_str("    ];\n");
    }
    // A policy with `unix:` endpoints names them in a table of its own (a policy without
    // any is emitted as before).
    let unix = &compiled.policy.unix;
    if !unix.is_empty() {
        let _ = writeln!(out, "    const UNIX: &[{P}::UnixSocket] = &[");
        for u in unix {
            unix_socket(&mut out, u);
        }
        out.push_str("    ];\n");
    }
    let _ = writeln!(
        out,
        "    static POLICY: {P}::Policy = {P}::Policy::from_static("
    );
    out.push_str("        FILTER,\n        ENDPOINTS,\n        NAMES,\n");
    // `listen` entries (issue 12), the profile's refused calls (issue 14) and `unix:`
    // endpoints, when there are some.
    if listen.is_empty() {
        out.push_str("        &[],\n");
    } else {
        out.push_str("        LISTEN,\n");
    }
    if profiled {
        out.push_str("        SYSCALLS,\n");
    } else {
        out.push_str("        &[],\n");
    }
    if unix.is_empty() {
        out.push_str("        &[],\n");
    } else {
        out.push_str("        UNIX,\n");
    }
    options(&mut out, &compiled.policy.options);
    match &compiled.policy.log {
        Some(path) => {
            let _ = writeln!(out, "        ::core::option::Option::Some({path:?}),");
        }
        None => out.push_str("        ::core::option::Option::None,\n"),
    }
    if unsupervised.is_empty() {
        out.push_str("        ::core::option::Option::None,\n");
    } else {
        out.push_str("        ::core::option::Option::Some(UNSUPERVISED),\n");
    }
    out.push_str("    );\n");
    out.push_str("    &POLICY\n}\n");
    out
}

fn instruction(out: &mut String, i: &Instruction) {
    let _ = write!(
        out,
        "{P}::SockFilter::new(0x{:02x}, {}, {}, 0x{:08x})",
        i.code, i.jt, i.jf, i.k
    );
}

fn protocol(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "Tcp",
        Protocol::Udp => "Udp",
    }
}

fn ip(a: IpAddr) -> String {
    match a {
        IpAddr::V4(a) => {
            let [a, b, c, d] = a.octets();
            format!("{P}::IpAddr::V4({P}::Ipv4Addr::new({a}, {b}, {c}, {d}))")
        }
        IpAddr::V6(a) => {
            let segs: Vec<String> = a.segments().iter().map(|s| format!("0x{s:x}")).collect();
            format!("{P}::IpAddr::V6({P}::Ipv6Addr::new({}))", segs.join(", "))
        }
    }
}

fn name(out: &mut String, n: &NamedEndpoint) {
    let pinned: Vec<String> = n.pinned.iter().map(|a| ip(*a)).collect();
    let _ = writeln!(out, "        // {n}");
    let _ = writeln!(out, "        {P}::Name::from_static(");
    // The parser admits only letters, digits, `-` and `.`: nothing to escape.
    let _ = writeln!(out, "            \"{}\",", n.name);
    let _ = writeln!(out, "            {P}::Protocol::{},", protocol(n.protocol));
    let _ = writeln!(
        out,
        "            {P}::PortRange::new({}, {}),",
        n.first_port, n.last_port
    );
    let _ = writeln!(out, "            &[{}],", pinned.join(", "));
    out.push_str("        ),\n");
}

fn unix_socket(out: &mut String, u: &UnixEndpoint) {
    // `{:?}` of a `str` is a Rust string literal (quotes and escapes included); a comment
    // gets the endpoint with its control characters (none pass the parser) as they are.
    let _ = writeln!(out, "        // {}", u.to_string().replace('\n', " "));
    match &u.name {
        UnixName::Path(p) => {
            let _ = writeln!(out, "        {P}::UnixSocket::path_static({p:?}),");
        }
        UnixName::Abstract(n) => {
            let bytes: Vec<String> = n.iter().map(|b| format!("0x{b:02x}")).collect();
            let _ = writeln!(
                out,
                "        {P}::UnixSocket::abstract_static(&[{}]),",
                bytes.join(", ")
            );
        }
    }
}

fn endpoint(out: &mut String, e: &Endpoint) {
    let network = match e.addr {
        IpAddr::V4(a) => {
            let [a, b, c, d] = a.octets();
            format!(
                "{P}::IpNetwork::v4({P}::Ipv4Addr::new({a}, {b}, {c}, {d}), {})",
                e.prefix
            )
        }
        IpAddr::V6(a) => {
            let segs: Vec<String> = a.segments().iter().map(|s| format!("0x{s:x}")).collect();
            format!(
                "{P}::IpNetwork::v6({P}::Ipv6Addr::new({}), {})",
                segs.join(", "),
                e.prefix
            )
        }
    };
    let protocol = protocol(e.protocol);
    let _ = writeln!(out, "        // {e}");
    let _ = writeln!(out, "        {P}::Endpoint {{");
    let _ = writeln!(out, "            protocol: {P}::Protocol::{protocol},");
    let _ = writeln!(out, "            network: {network},");
    let _ = writeln!(
        out,
        "            ports: {P}::PortRange::new({}, {}),",
        e.first_port, e.last_port
    );
    out.push_str("        },\n");
}

fn options(out: &mut String, o: &Options) {
    // The model's enums mirror the runtime's variant for variant, so each is written by its
    // name (`Debug`): a new value needs no change here.
    let (mode, fallback, report, unresolved, refresh, deny_errno) = (
        format!("{:?}", o.mode),
        format!("{:?}", o.fallback),
        format!("{:?}", o.report),
        format!("{:?}", o.unresolved),
        format!("{:?}", o.refresh),
        format!("{:?}", o.deny_errno),
    );
    let _ = writeln!(out, "        {P}::Options {{");
    let _ = writeln!(out, "            mode: {P}::Mode::{mode},");
    let _ = writeln!(out, "            fallback: {P}::Fallback::{fallback},");
    let _ = writeln!(out, "            report: {P}::ReportTo::{report},");
    // A bit mask (capability `n` is bit `n`), so that `Options` stays const-constructible;
    // the comment names the capabilities.
    let kept = crate::capabilities::names_in(o.keep_capabilities);
    let comment = if kept.is_empty() {
        String::new()
    } else {
        format!(" // {}", kept.join(", "))
    };
    let _ = writeln!(
        out,
        "            keep_capabilities: 0x{:x},{comment}",
        o.keep_capabilities
    );
    let _ = writeln!(
        out,
        "            unresolved: {P}::Unresolved::{unresolved},"
    );
    let _ = writeln!(out, "            refresh: {P}::Refresh::{refresh},");
    let _ = writeln!(out, "            deny_errno: {P}::DenyErrno::{deny_errno},");
    let _ = writeln!(out, "            log_allowed: {},", o.log_allowed);
    out.push_str("        },\n");
}
