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

pub mod filter;
pub mod policy;

pub use filter::SockFilter;
pub use network_sandbox_macros::network_sandbox;
pub use policy::{Endpoint, Fallback, IpNetwork, Mode, Options, Policy, PortRange, Protocol, ReportTo};

/// What generated code names. Not a public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::filter::SockFilter;
    pub use crate::policy::{
        Endpoint, Fallback, IpNetwork, Mode, Options, Policy, PortRange, Protocol, ReportTo,
    };
    pub use std::net::{Ipv4Addr, Ipv6Addr};

    /// Installs `policy` and returns; on failure prints why on stderr and exits with status
    /// 101 before any user code runs.
    pub fn enter(policy: &'static Policy) {
        let _ = policy;
        todo!("installer")
    }
}
