//! Refusals the static filter makes and the supervisor reports.
//!
//! The filter returns `SECCOMP_RET_USER_NOTIF | errno` for a network call it refuses (a
//! socket of another kind, bind, listen, a socket option or ioctl outside its lists, a TCP
//! Fast Open send, a unix datagram pair, any connect under a policy without endpoints and
//! `fallback = "landlock-ports"`). The kernel notifies the supervisor without the data
//! bits, so the supervisor runs the same program on the notification's `seccomp_data`
//! ([`filter::run`]) and finds the errno there: the answer is the filter's, exactly. The handler then names what was refused from the
//! call's by-value arguments (and, for connect and bind, from a copy of the address and a
//! duplicate of the socket, used for the line only), reports it and answers the errno. It
//! never lets the call through: nothing read from the caller's memory decides anything.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::call::{fail, performed, Call, Context, Halt, Outcome, Refused};
use super::sockaddr::{self, Destination};
use super::socket::{self, SocketKind};
use crate::filter;
use crate::policy::Protocol;
use crate::report::{Operation, Reason, Remedy};
use crate::sys;

/// The errno the installed program refuses `call` with and asks the supervisor to report,
/// or `None` for a check (or a call the program lets through, which the supervisor never
/// sees). A program the interpreter cannot run refuses with `EACCES`.
///
/// The checks (connect, the sends, bind) skip the interpreter unless their arguments could
/// make them a refusal, so an allowed connect pays one comparison: a connect under a policy
/// without endpoints and `fallback = "landlock-ports"`, a send with `MSG_FASTOPEN`. That
/// gate only ever sends a call to the interpreter or to its check; the check is the
/// authority either way.
pub fn refused(cx: &Context<'_>, call: &Call) -> Option<i32> {
    const MSG_FASTOPEN: u64 = 0x2000_0000;
    // A call the system call profile refuses is a refusal whatever its arguments (issue
    // 14): never let the gate send it to a check.
    let profiled = cx.policy.refused_call(call.nr).is_some();
    let maybe = profiled
        || match call.nr {
            // Without endpoints connect is a refusal in the filter only under the
            // landlock-ports fallback (elsewhere a check: issue 12).
            libc::SYS_connect => {
                cx.policy.endpoints().is_empty()
                    && cx.policy.names().is_empty()
                    && cx.policy.unix().is_empty()
                    && cx.policy.options().fallback == crate::policy::Fallback::LandlockPorts
            }
            libc::SYS_sendto | libc::SYS_sendmmsg => call.args[3] & MSG_FASTOPEN != 0,
            libc::SYS_sendmsg => call.args[2] & MSG_FASTOPEN != 0,
            // The compiler never refuses bind in the filter (bind before connect, issue 12):
            // a notified bind is a check, and `connect::bind` is the authority.
            libc::SYS_bind => false,
            _ => true,
        };
    if !maybe {
        return None;
    }
    match filter::run(cx.policy.filter(), &call.data()) {
        Some(ret) => filter::reported_errno(ret),
        None => Some(libc::EACCES),
    }
}

/// Reports the refusal of `call` and answers `errno`; in audit mode reports it as one that
/// would be refused and lets it through: the supervisor performs it (`socket` created and
/// installed in the caller, `listen`, `connect`, `bind` on its duplicate with its own copy)
/// or, for the calls it judged without reading the caller's memory (`socketpair`,
/// `setsockopt`, `ioctl`, a `MSG_FASTOPEN` send), lets the kernel perform it.
pub fn report(cx: &Context<'_>, call: &Call, errno: i32) -> Outcome {
    if let Some(refused) = cx.policy.refused_call(call.nr) {
        return profile_refusal(cx, call, *refused, errno);
    }
    let a = call.args;
    let int = |i: usize| a[i] as u32 as i32;
    match call.nr {
        libc::SYS_socket => {
            let (family, ty, proto) = (int(0), int(1), int(2));
            let kind = socket_kind(family, ty, proto);
            let udp = matches!(family, libc::AF_INET | libc::AF_INET6)
                && ty & 0xf == libc::SOCK_DGRAM
                && matches!(proto, 0 | libc::IPPROTO_UDP);
            // A unix datagram socket is made for a policy with a `unix:` endpoint.
            let unix_dgram = family == libc::AF_UNIX
                && ty & 0xf == libc::SOCK_DGRAM
                && proto == 0
                && cx.policy.options().fallback != crate::policy::Fallback::LandlockPorts;
            let remedy = if udp {
                Remedy::Add("udp://HOST:PORT".into())
            } else if unix_dgram {
                Remedy::Add("unix:PATH".into())
            } else {
                Remedy::Nothing
            };
            cx.report_refusal(
                call,
                Refused::new(Operation::Socket, Reason::SocketKind(kind)),
                remedy,
            );
            if cx.audit() {
                return create_socket(cx, call, family, ty, proto);
            }
        }
        libc::SYS_socketpair => {
            cx.report_refusal(
                call,
                Refused::new(
                    Operation::Socket,
                    Reason::Never(
                        "a unix datagram socket pair may send to any unix socket by name".into(),
                    ),
                ),
                Remedy::Nothing,
            );
            if cx.audit() {
                return audit_continue();
            }
        }
        libc::SYS_connect | libc::SYS_bind => {
            let op = if call.nr == libc::SYS_connect {
                Operation::Connect
            } else {
                Operation::Bind
            };
            // For the line only: what socket, and where to. Failures leave them out.
            let taken = socket::take(cx, call, a[0] as i32).ok();
            let kind = taken.as_ref().map(|s| s.kind.clone());
            let addr = cx.copy_address(call, a[1], a[2]).ok();
            let dest = addr
                .as_deref()
                .and_then(|addr| match sockaddr::decode(addr) {
                    Ok(Destination::Inet(d)) => Some(d),
                    _ => None,
                });
            let protocol = match kind {
                Some(SocketKind::Ip(p)) => Some(p),
                _ => None,
            };
            let unix = match (op, &kind, addr.as_deref()) {
                // A unix connect: answered silently when nothing is there (glibc's nscd
                // probe), else a line saying which unix: endpoint would allow it.
                (Operation::Connect, Some(SocketKind::Unix(_)), Some(addr))
                    if super::unix::is_unix(addr) =>
                {
                    Some(super::unix::refusal(cx, call, addr)?)
                }
                _ => None,
            };
            let (reason, remedy) = match (op, &kind, protocol, unix) {
                (.., Some(unix)) => unix,
                // The compiler never refuses bind in the filter (a unix bind is the
                // supervisor's check, `unix::bind`): a filter that does is named as such.
                (Operation::Bind, Some(SocketKind::Unix(_)), _, None) => (
                    Reason::Never("this static filter refuses unix binds".into()),
                    Remedy::Nothing,
                ),
                (_, Some(k @ (SocketKind::Unix(_) | SocketKind::Other(_))), _, None) => {
                    (Reason::SocketKind(k.describe()), Remedy::Nothing)
                }
                (Operation::Connect, _, _, None) => (Reason::NoNetwork, Remedy::Nothing),
                // The compiler never refuses `bind` in the filter any more (it is a check,
                // or allowed without endpoints under landlock-ports): a filter that does is
                // reported as the supervisor's own bind refusal would be.
                _ => (
                    Reason::Never(
                        "a TCP or UDP socket may bind to port 0 only (a port the kernel \
                         picks), or where the policy says `listen`"
                            .into(),
                    ),
                    Remedy::Nothing,
                ),
            };
            let remedy = match (&reason, protocol, dest) {
                (Reason::NoNetwork, Some(p), Some(d)) => {
                    Remedy::for_refusal(op, &Reason::NoNetwork, Some(p), Some(d))
                }
                _ => remedy,
            };
            cx.report_refusal(call, Refused::new(op, reason).on(protocol).to(dest), remedy);
            // Audit mode compiles connect and bind as checks, so this is only a safety net:
            // the call is performed on the duplicate with the copy that was reported.
            if let (true, Some(socket), Some(addr)) = (cx.audit(), taken, addr) {
                // SAFETY: `addr` is our own copy, valid for `addr.len()` bytes.
                let ret = unsafe {
                    let (fd, p, l) = (
                        socket.fd.as_raw_fd(),
                        addr.as_ptr().cast(),
                        addr.len() as libc::socklen_t,
                    );
                    if op == Operation::Connect {
                        libc::connect(fd, p, l)
                    } else {
                        libc::bind(fd, p, l)
                    }
                };
                return performed(ret);
            }
        }
        libc::SYS_sendto | libc::SYS_sendmsg | libc::SYS_sendmmsg => {
            cx.report_refusal(
                call,
                Refused::new(
                    Operation::Send,
                    Reason::Never(
                        "TCP Fast Open (MSG_FASTOPEN) connects without connect(), past the \
                     supervisor's check; connect first"
                            .into(),
                    ),
                ),
                Remedy::Nothing,
            );
            if cx.audit() {
                return audit_continue();
            }
        }
        libc::SYS_listen => {
            let taken = socket::take(cx, call, a[0] as i32).ok();
            let protocol = match taken.as_ref().map(|s| &s.kind) {
                Some(SocketKind::Ip(p)) => Some(*p),
                _ => None,
            };
            // Where it is bound, when that is a fixed port: the `listen` entry to add.
            let local = match (&taken, protocol) {
                (Some(s), Some(Protocol::Tcp)) => {
                    super::listen::fixed(super::listen::bound_address(s.fd.as_raw_fd()))
                }
                _ => None,
            };
            let remedy = match (protocol, local) {
                (Some(Protocol::Tcp), Some(l)) => {
                    Remedy::Add(format!("listen = \"{}\"", crate::report::canonical(l)))
                }
                (Some(Protocol::Tcp), None) => Remedy::Add("listen = \"ADDR:PORT\"".into()),
                _ => Remedy::Nothing,
            };
            cx.report_refusal(
                call,
                Refused::new(
                    Operation::Listen,
                    Reason::Never("a socket may listen only where the policy says `listen`".into()),
                )
                .on(protocol)
                .to(local),
                remedy,
            );
            if let (true, Some(socket)) = (cx.audit(), taken) {
                // SAFETY: listen on our duplicate, with the caller's backlog (by value).
                let ret = unsafe { libc::listen(socket.fd.as_raw_fd(), int(1)) };
                return performed(ret);
            }
        }
        libc::SYS_setsockopt => {
            cx.report_refusal(
                call,
                Refused::new(
                    Operation::SetSockOpt,
                    Reason::Never(format!(
                        "socket option level {} name {} is not in the allow list (it could change \
                     routing or filtering)",
                        int(1),
                        int(2)
                    )),
                ),
                Remedy::Nothing,
            );
            if cx.audit() {
                return audit_continue();
            }
        }
        libc::SYS_ioctl => {
            cx.report_refusal(
                call,
                Refused::new(
                    Operation::Ioctl,
                    Reason::Never(format!(
                        "ioctl request {:#x} is refused (interfaces, routes, tun/tap, terminal \
                     input, userfaultfd)",
                        a[1] as u32
                    )),
                ),
                Remedy::Nothing,
            );
            if cx.audit() {
                return audit_continue();
            }
        }
        // A number no call of the compiler's table has: with a system call profile, an
        // allow list refuses it (issue 14).
        nr if !cx.policy.refused_calls().is_empty() => {
            cx.report_refusal(
                call,
                Refused::new(
                    Operation::Syscall,
                    Reason::Never(format!(
                        "system call {nr}, which the policy compiler does not know, is \
                         outside the policy's syscalls"
                    )),
                ),
                Remedy::Nothing,
            );
            if cx.audit() {
                return audit_continue();
            }
        }
        nr => cx.report_refusal(
            call,
            Refused::new(
                Operation::Socket,
                Reason::Never(format!("system call {nr} is refused by the static filter")),
            ),
            Remedy::Nothing,
        ),
    }
    fail(errno)
}

/// Reports a call the system call profile refuses (issue 14), naming it and its group,
/// and answers `errno`; in audit mode lets the kernel perform it (it was judged on its
/// number alone).
fn profile_refusal(
    cx: &Context<'_>,
    call: &Call,
    refused: crate::policy::RefusedCall,
    errno: i32,
) -> Outcome {
    let remedy = if refused.denied {
        Remedy::Remove(format!("{} from deny_syscalls", refused.name))
    } else {
        Remedy::Add(format!("{} to syscalls", refused.name))
    };
    cx.report_refusal(
        call,
        Refused::new(
            Operation::Syscall,
            Reason::Profile {
                call: refused.name,
                group: refused.group,
                denied: refused.denied,
            },
        ),
        remedy,
    );
    if cx.audit() {
        return audit_continue();
    }
    fail(errno)
}

/// Audit mode: let the kernel perform a call that was judged on its register arguments
/// alone, without the supervisor reading the caller's memory (the only case where
/// `SECCOMP_USER_NOTIF_FLAG_CONTINUE` is used; docs/ARCHITECTURE.md, "Audit mode").
fn audit_continue() -> Outcome {
    Err(Halt::Continue)
}

/// Audit mode: creates the socket the filter refused, in the supervisor, and installs it in
/// the caller as the call's result (`SECCOMP_IOCTL_NOTIF_ADDFD` with `SECCOMP_ADDFD_FLAG_SEND`).
/// `SOCK_NONBLOCK` is part of the socket; `SOCK_CLOEXEC` becomes the new fd's `O_CLOEXEC`.
fn create_socket(cx: &Context<'_>, call: &Call, family: i32, ty: i32, proto: i32) -> Outcome {
    // SAFETY: socket takes integers and returns a new fd.
    let fd = unsafe { libc::socket(family, ty | libc::SOCK_CLOEXEC, proto) };
    if fd < 0 {
        return fail(sys::errno());
    }
    // SAFETY: a new fd we now own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let cloexec = ty & libc::SOCK_CLOEXEC != 0;
    match sys::notif_addfd_send(cx.listener, call.id, fd.as_raw_fd(), cloexec) {
        Ok(_) => Err(Halt::Answered),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Err(Halt::Gone),
        Err(e) => fail(e.raw_os_error().unwrap_or(libc::EMFILE)),
    }
}

/// A socket's kind in words, from `socket()`'s arguments: "udp", "unix stream",
/// "netlink", "raw IPv4", "MPTCP", ….
pub fn socket_kind(family: i32, ty: i32, proto: i32) -> String {
    let base = ty & 0xf;
    let ty_name = match base {
        libc::SOCK_STREAM => "stream",
        libc::SOCK_DGRAM => "datagram",
        libc::SOCK_RAW => "raw",
        libc::SOCK_SEQPACKET => "seqpacket",
        _ => "other",
    };
    match family {
        libc::AF_INET | libc::AF_INET6 => {
            let v = if family == libc::AF_INET {
                "IPv4"
            } else {
                "IPv6"
            };
            match (base, proto) {
                (libc::SOCK_DGRAM, 0 | libc::IPPROTO_UDP) => "udp".into(),
                (libc::SOCK_STREAM, 0 | libc::IPPROTO_TCP) => "tcp".into(),
                (libc::SOCK_STREAM, libc::IPPROTO_MPTCP) => "MPTCP".into(),
                (_, libc::IPPROTO_SCTP) => "SCTP".into(),
                (libc::SOCK_RAW, _) => format!("raw {v}"),
                (libc::SOCK_DGRAM, libc::IPPROTO_ICMP | libc::IPPROTO_ICMPV6) => "ICMP".into(),
                _ => format!("{v} {ty_name} protocol {proto}"),
            }
        }
        libc::AF_UNIX => format!("unix {ty_name}"),
        libc::AF_NETLINK => "netlink".into(),
        libc::AF_PACKET => "packet".into(),
        f => format!("address family {f}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_kinds_in_words() {
        let udp = socket_kind(libc::AF_INET6, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        assert_eq!(udp, "udp");
        assert_eq!(
            socket_kind(libc::AF_UNIX, libc::SOCK_STREAM, 0),
            "unix stream"
        );
        assert_eq!(socket_kind(libc::AF_NETLINK, libc::SOCK_RAW, 0), "netlink");
        assert_eq!(
            socket_kind(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP),
            "raw IPv4"
        );
        assert_eq!(
            socket_kind(libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_MPTCP),
            "MPTCP"
        );
    }
}
