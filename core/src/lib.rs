//! Cut a program's network access down to the endpoints it names.
//!
//! ```no_run
//! use network_sandbox::network_sandbox;
//!
//! #[network_sandbox(allow = "127.0.0.2:443")]
//! fn main() {
//!     // From here on this process, and everything it forks or execs, can connect to
//!     // 127.0.0.2:443 and nowhere else.
//! }
//! ```
//!
//! See the README for the layers (static seccomp filter, supervisor, Landlock) and what each
//! enforces.

#![deny(missing_docs)]

mod answerer;
mod capabilities;
#[cfg(feature = "compiler")]
pub mod compiler;
mod dns_wire;
pub mod filter;
pub mod hostnames;
mod install;
mod landlock_layer;
mod mount_ns;
pub mod policy;
mod privileges;
pub mod probe;
pub mod report;
mod supervisor;
mod sys;
#[doc(hidden)]
pub mod test_switch;

/// The supervisor's decoders of what it copies out of a sandboxed process: pure functions
/// over bytes, public for the fuzz targets. Not a stable API.
#[doc(hidden)]
pub mod decode {
    pub use crate::supervisor::msghdr::{
        control_messages, decode_iovecs, ip_control_allowed, picks_interface, rights, Cmsg, MsgHdr,
        MSGHDR_LEN,
    };
    pub use crate::supervisor::sockaddr::{check_len, decode, Destination, MAX_SOCKADDR_LEN};
    /// The DNS codec of the sandbox's answerer.
    pub mod dns {
        pub use crate::dns_wire::{
            answer, answer_addresses, error, min_answer_ttl, nxdomain, query, question, servfail,
            Question,
        };
    }
}

pub use filter::SockFilter;
pub use install::{install, Error, Preview, Sandbox};
pub use network_sandbox_macros::network_sandbox;
pub use policy::RefusedCall;
pub use policy::{
    DenyErrno, Endpoint, Fallback, IpNetwork, Mode, Name, Options, Policy, PortRange, Protocol,
    Refresh, ReportTo, UnixSocket, Unresolved,
};
pub use report::{Enforcement, Layer, LayerReport, Operation, Reason, Remedy, Status, Violation};

/// Exit status of a program whose sandbox could not be installed.
pub const EXIT_NOT_SANDBOXED: i32 = 125;

/// Installs `policy` with [`install`]; on failure prints why on stderr and exits with
/// [`EXIT_NOT_SANDBOXED`], so no code runs unsandboxed. With the environment variable
/// `NETWORK_SANDBOX_REPORT=1`, also prints what each layer enforces.
pub fn install_or_exit(policy: &Policy) -> Enforcement {
    match install(policy) {
        Ok(enforcement) => {
            if std::env::var_os("NETWORK_SANDBOX_REPORT").is_some_and(|v| v == "1") {
                eprint!("{enforcement}");
            }
            enforcement
        }
        Err(e) => {
            eprintln!("network-sandbox: refusing to start: {e}");
            std::process::exit(EXIT_NOT_SANDBOXED);
        }
    }
}

/// What generated code names. Not a public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::filter::SockFilter;
    pub use crate::policy::RefusedCall;
    pub use crate::policy::{
        DenyErrno, Endpoint, Fallback, IpNetwork, Mode, Name, Options, Policy, PortRange, Protocol,
        Refresh, ReportTo, UnixSocket, Unresolved,
    };
    pub use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    /// Installs `policy` before any user code runs; see [`crate::install_or_exit`].
    pub fn enter(policy: &'static Policy) {
        crate::install_or_exit(policy);
    }
}
