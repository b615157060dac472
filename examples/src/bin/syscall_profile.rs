//! A system call profile: `syscalls = ["@system-service"]` beside `allow`.
//!
//! Shows: the program may make the calls of an everyday service (files, sockets, threads,
//! signals, timers, …) and no other; `swapon`, of `@swap`, is refused with `EPERM`, and the
//! supervisor's line on stderr names the call and its group. The network rules still hold:
//! the allowed server answers, another one is refused.
//!
//! Run it against the example servers (loopback only), in two terminals:
//!
//! ```text
//! cargo run -p network-sandbox-examples --bin serve
//! cargo run -p network-sandbox-examples --bin syscall_profile
//! ```

use network_sandbox::network_sandbox;
use network_sandbox_examples::client::{get, refused_by_sandbox};

#[network_sandbox(allow = "127.0.0.2:28140", syscalls = ["@system-service"])]
fn main() {
    let allowed = get("127.0.0.2:28140");
    let forbidden = get("127.0.0.3:28140");
    // swapon("/nonexistent", 0): without the profile root would get ENOENT, anyone else
    // EPERM from the kernel; with it the filter answers EPERM and the kernel never sees it.
    let path = c"/nonexistent-network-sandbox-swap";
    // SAFETY: swapon with a valid NUL-terminated path and no flags; it changes nothing.
    let ret = unsafe { libc::syscall(libc::SYS_swapon, path.as_ptr(), 0) };
    let swapon = std::io::Error::last_os_error().raw_os_error();
    let as_policy_says = allowed.is_ok()
        && refused_by_sandbox(&forbidden)
        && ret == -1
        && swapon == Some(libc::EPERM);
    std::process::exit(if as_policy_says { 0 } else { 1 });
}
