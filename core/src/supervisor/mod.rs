//! L2: the supervisor process, which checks and performs every notified call.
//!
//! Start-up, in the process being sandboxed (single-threaded, before any user code):
//!
//! 1. [`Supervisor::fork`]: a socketpair, then a double fork. The grandchild becomes the
//!    supervisor: a new session (no terminal signals), not dumpable (the sandboxed program
//!    cannot ptrace it or read its memory), every inherited fd closed but stderr, terminal
//!    and termination signals ignored. The program's `wait()` never sees it, since its
//!    parent (the intermediate child) is reaped at once. It is forked before the filter and
//!    Landlock are installed, so neither applies to it.
//! 2. The installer installs Landlock and the seccomp filter with a listener.
//! 3. [`Supervisor::adopt_listener`]: the installer sends the listener's fd *number*; the
//!    supervisor takes the listener with `pidfd_getfd` and acknowledges. (Sending the fd
//!    with `SCM_RIGHTS` would need `sendmsg`, which the filter may already hand to the
//!    supervisor that is waiting for this very fd.) The installer then closes its copy.
//!
//! Then it serves notifications ([`serve`]) until no task carries the filter any more.
//!
//! The rule that makes every check race-free: the supervisor copies what a call points at
//! out of the sandboxed process **once**, decides on that copy, and performs the system call
//! itself on a duplicate of the process's socket with that same copy. The kernel never
//! re-reads the process's memory for a checked call (`SECCOMP_USER_NOTIF_FLAG_CONTINUE` is
//! used only in audit mode, for refusals judged on register arguments alone: see
//! `refusal.rs`), so rewriting the address from another thread after the check changes
//! nothing. Every failure closes: an address that cannot be read, a socket that cannot be
//! inspected, a call the supervisor does not expect, all get an error, never the call.
//!
//! | file | holds |
//! |---|---|
//! | `start.rs` | the fork and the hand-over of the listener |
//! | `serve.rs` | the receiver threads and the watchdog |
//! | `call.rs` | a call, its answer ([`call::Outcome`]), and the shared steps: read memory, copy an address, judge, refuse |
//! | `refusal.rs` | the static filter's refusals (`USER_NOTIF | errno`): reported, answered with their errno |
//! | `socket.rs` | taking the caller's fd and telling what socket it is |
//! | `connect.rs` | `connect` and `bind` |
//! | `dns.rs` | a connect or UDP send to the DNS answerer: the socket replaced by one in its namespace |
//! | `epoll.rs` | for `dns.rs`: the caller's epoll items of a replaced socket, added again for its replacement |
//! | `send.rs` | `sendto`, `sendmsg`, `sendmmsg` |
//! | `listen.rs` | `listen`: a unix socket, or a TCP socket where the policy says `listen`; the TCP binds it allows |
//! | `netlink.rs` | netlink route sockets: `RTM_GET*` requests to the kernel only, bind |
//! | `query.rs` | query sockets: a datagram `socket()` the policy does not allow, made by the supervisor shut down (it cannot send) and receiving nothing (a UDP one drops every datagram) for interface requests; a UDP bind under such a policy is refused |
//! | `unix.rs` | unix addresses: resolved in the caller's view, checked by identity, reached through the supervisor's own `O_PATH` descriptor; binds to a path performed in the caller's view |
//! | `own.rs` | the unix sockets the supervisor bound for the program, identified by the kernel (`sock_diag`), which its processes may reach |
//! | `sockaddr.rs`, `msghdr.rs` | pure decoders of what is copied (fuzzed) |

mod call;
mod connect;
mod dns;
mod epoll;
mod listen;
pub mod msghdr;
mod netlink;
mod own;
mod query;
mod refusal;
mod send;
mod serve;
pub mod sockaddr;
mod socket;
mod start;
mod unix;

pub(crate) use start::close_inherited_fds;
pub use start::Supervisor;

use call::{fail, Call, Context, Outcome};

/// Answers one call: a refusal of the static filter is reported and answered with its
/// errno; the checks go to their handlers; anything else is refused.
fn dispatch(cx: &Context<'_>, call: &Call) -> Outcome {
    if let Some(errno) = refusal::refused(cx, call) {
        return refusal::report(cx, call, errno);
    }
    match call.nr {
        libc::SYS_connect => connect::connect(cx, call),
        libc::SYS_bind => connect::bind(cx, call),
        libc::SYS_listen => listen::listen(cx, call),
        libc::SYS_sendto => send::sendto(cx, call),
        libc::SYS_sendmsg => send::sendmsg(cx, call),
        libc::SYS_sendmmsg => send::sendmmsg(cx, call),
        libc::SYS_socket => query::socket(cx, call),
        _ => fail(libc::EACCES),
    }
}
