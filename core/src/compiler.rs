//! Compiling a policy at run time (feature `compiler`).
//!
//! The attribute and `build.rs` compile policies when the program is built; a program that
//! only learns its policy when it runs (the `network-sandbox` command, a plugin host that
//! sandboxes what it starts) compiles it here with the same compiler, and gets the same
//! [`Policy`] value the generated code would have built.

use std::fmt;

pub use network_sandbox_build as build;
use network_sandbox_build::{model, valid::EndpointError, Arch, Compiled};

use crate::filter::SockFilter;
use crate::policy::{
    DenyErrno, Endpoint, Fallback, IpNetwork, Mode, Name, Options, Policy, PortRange, Protocol,
    Refresh, RefusedCall, ReportTo, UnixSocket, Unresolved,
};

/// Why a policy given at run time did not compile.
#[derive(Debug)]
pub enum CompileError {
    /// Endpoint errors, each with the index of its string and a byte range in it.
    Endpoints(Vec<EndpointError>),
    /// The compiler failed to produce a program.
    Program(build::CompileError),
    /// The running architecture is not one the compiler emits programs for.
    UnsupportedArch,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompileError::Endpoints(errors) => {
                let msgs: Vec<_> = errors.iter().map(|e| e.message.as_str()).collect();
                f.write_str(&msgs.join("; "))
            }
            CompileError::Program(e) => e.fmt(f),
            CompileError::UnsupportedArch => {
                f.write_str("network-sandbox supports x86_64 and aarch64 only")
            }
        }
    }
}

impl std::error::Error for CompileError {}

/// Parses, validates and compiles the endpoints `allow` with `options`.
pub fn compile<S: AsRef<str>>(allow: &[S], options: Options) -> Result<Policy, CompileError> {
    let policy = build::valid::policy_from_strs(allow, model_options(options))
        .map_err(CompileError::Endpoints)?;
    let compiled = build::compile(&policy).map_err(CompileError::Program)?;
    from_compiled(&compiled)
}

/// The runtime policy for a compiled one, with this architecture's program.
pub fn from_compiled(compiled: &Compiled) -> Result<Policy, CompileError> {
    let arch = native_arch().ok_or(CompileError::UnsupportedArch)?;
    let program = |p: &build::Program| -> Vec<SockFilter> {
        p.instructions
            .iter()
            .map(|i| SockFilter::new(i.code, i.jt, i.jf, i.k))
            .collect()
    };
    let filter = program(compiled.program(arch));
    let endpoints = compiled.policy.endpoints.iter().map(endpoint).collect();
    let names = compiled
        .policy
        .names
        .iter()
        .map(|n| {
            Name::new(
                n.name.clone(),
                protocol(n.protocol),
                PortRange::new(n.first_port, n.last_port),
                n.pinned.clone(),
            )
        })
        .collect();
    let unix = compiled
        .policy
        .unix
        .iter()
        .map(|u| match &u.name {
            model::UnixName::Path(p) => UnixSocket::Path(p.clone().into()),
            model::UnixName::Abstract(n) => UnixSocket::Abstract(n.clone().into()),
        })
        .collect();
    let refused_calls = build::profiles::refused_calls(&compiled.policy, arch)
        .into_iter()
        .map(|(nr, name, group, denied)| RefusedCall::new(nr, name, group, denied))
        .collect();
    let listen = compiled.policy.listen.iter().map(endpoint).collect();
    let policy = Policy::new(filter, endpoints, runtime_options(compiled.policy.options))
        .with_names(names)
        .with_listen(listen)
        .with_refused_calls(refused_calls)
        .with_unix(unix);
    // A policy without endpoints: the program to install where no supervisor can run.
    let policy = match compiled.unsupervised(arch) {
        Some(p) => policy.with_unsupervised_filter(program(p)),
        None => policy,
    };
    Ok(match &compiled.policy.log {
        Some(path) => policy.with_log(path.clone()),
        None => policy,
    })
}

fn native_arch() -> Option<Arch> {
    Arch::ALL
        .into_iter()
        .find(|a| a.target_arch() == std::env::consts::ARCH)
}

fn endpoint(e: &model::Endpoint) -> Endpoint {
    let network = match e.addr {
        std::net::IpAddr::V4(a) => IpNetwork::v4(a, e.prefix),
        std::net::IpAddr::V6(a) => IpNetwork::v6(a, e.prefix),
    };
    Endpoint {
        protocol: protocol(e.protocol),
        network,
        ports: PortRange::new(e.first_port, e.last_port),
    }
}

fn protocol(p: model::Protocol) -> Protocol {
    match p {
        model::Protocol::Tcp => Protocol::Tcp,
        model::Protocol::Udp => Protocol::Udp,
    }
}

fn model_options(o: Options) -> model::Options {
    model::Options {
        mode: match o.mode {
            Mode::Enforce => model::Mode::Enforce,
            Mode::Audit => model::Mode::Audit,
        },
        fallback: match o.fallback {
            Fallback::Refuse => model::Fallback::Refuse,
            Fallback::LandlockPorts => model::Fallback::LandlockPorts,
            Fallback::DenyAll => model::Fallback::DenyAll,
        },
        report: match o.report {
            ReportTo::Stderr => model::ReportTo::Stderr,
            ReportTo::Off => model::ReportTo::Off,
        },
        keep_capabilities: o.keep_capabilities,
        deny_errno: match o.deny_errno {
            DenyErrno::Eacces => model::DenyErrno::Eacces,
            DenyErrno::Eperm => model::DenyErrno::Eperm,
            DenyErrno::Econnrefused => model::DenyErrno::Econnrefused,
            DenyErrno::Enetunreach => model::DenyErrno::Enetunreach,
        },
        unresolved: match o.unresolved {
            Unresolved::Refuse => model::Unresolved::Refuse,
            Unresolved::Unknown => model::Unresolved::Unknown,
        },
        refresh: match o.refresh {
            Refresh::Ttl => model::Refresh::Ttl,
            Refresh::Off => model::Refresh::Off,
            Refresh::Every30s => model::Refresh::Every30s,
            Refresh::Every5m => model::Refresh::Every5m,
            Refresh::Every1h => model::Refresh::Every1h,
        },
        // A profile is compiled from the policy's own keys, never from runtime options.
        syscall_refusal: model::SyscallRefusal::default(),
        log_allowed: o.log_allowed,
    }
}

/// The runtime form of compiled options.
pub fn runtime_options(o: model::Options) -> Options {
    Options {
        mode: match o.mode {
            model::Mode::Enforce => Mode::Enforce,
            model::Mode::Audit => Mode::Audit,
        },
        fallback: match o.fallback {
            model::Fallback::Refuse => Fallback::Refuse,
            model::Fallback::LandlockPorts => Fallback::LandlockPorts,
            model::Fallback::DenyAll => Fallback::DenyAll,
        },
        report: match o.report {
            model::ReportTo::Stderr => ReportTo::Stderr,
            model::ReportTo::Off => ReportTo::Off,
        },
        keep_capabilities: o.keep_capabilities,
        deny_errno: match o.deny_errno {
            model::DenyErrno::Eacces => DenyErrno::Eacces,
            model::DenyErrno::Eperm => DenyErrno::Eperm,
            model::DenyErrno::Econnrefused => DenyErrno::Econnrefused,
            model::DenyErrno::Enetunreach => DenyErrno::Enetunreach,
        },
        unresolved: match o.unresolved {
            model::Unresolved::Refuse => Unresolved::Refuse,
            model::Unresolved::Unknown => Unresolved::Unknown,
        },
        refresh: match o.refresh {
            model::Refresh::Ttl => Refresh::Ttl,
            model::Refresh::Off => Refresh::Off,
            model::Refresh::Every30s => Refresh::Every30s,
            model::Refresh::Every5m => Refresh::Every5m,
            model::Refresh::Every1h => Refresh::Every1h,
        },
        log_allowed: o.log_allowed,
    }
}
