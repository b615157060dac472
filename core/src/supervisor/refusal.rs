//! Refusals the static filter makes and the supervisor reports.
//!
//! The filter returns `SECCOMP_RET_USER_NOTIF | errno` for a network call it refuses (a
//! socket of another kind, bind, listen, a socket option or ioctl outside its lists, a TCP
//! Fast Open send, a unix datagram pair, any connect under a policy without endpoints). The
//! kernel notifies the supervisor without the data bits, so the supervisor runs the same
//! program on the notification's `seccomp_data` ([`filter::run`]) and finds the errno there:
//! the answer is the filter's, exactly. The handler then names what was refused from the
//! call's by-value arguments (and, for connect and bind, from a copy of the address and a
//! duplicate of the socket, used for the line only), reports it and answers the errno. It
//! never lets the call through: nothing read from the caller's memory decides anything.

use super::call::{fail, Call, Context, Outcome};
use super::sockaddr::{self, Destination};
use super::socket::{self, SocketKind};
use crate::filter;
use crate::policy::Protocol;
use crate::report::{Operation, Reason, Remedy};

/// The errno the installed program refuses `call` with and asks the supervisor to report,
/// or `None` for a check (or a call the program lets through, which the supervisor never
/// sees). A program the interpreter cannot run refuses with `EACCES`.
pub fn refused(cx: &Context<'_>, call: &Call) -> Option<i32> {
    match filter::run(cx.policy.filter(), &call.data()) {
        Some(ret) => filter::reported_errno(ret),
        None => Some(libc::EACCES),
    }
}

/// Reports the refusal of `call` and answers `errno`.
pub fn report(cx: &Context<'_>, call: &Call, errno: i32) -> Outcome {
    let a = call.args;
    let int = |i: usize| a[i] as u32 as i32;
    match call.nr {
        libc::SYS_socket => {
            let (family, ty, proto) = (int(0), int(1), int(2));
            let kind = socket_kind(family, ty, proto);
            let udp = matches!(family, libc::AF_INET | libc::AF_INET6)
                && ty & 0xf == libc::SOCK_DGRAM
                && matches!(proto, 0 | libc::IPPROTO_UDP);
            let remedy = if udp {
                Remedy::Add("udp://HOST:PORT".into())
            } else {
                Remedy::Nothing
            };
            cx.report_refusal(
                call,
                Operation::Socket,
                None,
                None,
                Reason::SocketKind(kind),
                remedy,
            );
        }
        libc::SYS_socketpair => cx.report_refusal(
            call,
            Operation::Socket,
            None,
            None,
            Reason::Never("a unix datagram socket pair may send to any unix socket by name".into()),
            Remedy::Nothing,
        ),
        libc::SYS_connect | libc::SYS_bind => {
            let op = if call.nr == libc::SYS_connect {
                Operation::Connect
            } else {
                Operation::Bind
            };
            // For the line only: what socket, and where to. Failures leave them out.
            let kind = socket::take(cx, call, a[0] as i32).ok().map(|s| s.kind);
            let dest =
                cx.copy_address(call, a[1], a[2]).ok().and_then(|addr| {
                    match sockaddr::decode(&addr) {
                        Ok(Destination::Inet(d)) => Some(d),
                        _ => None,
                    }
                });
            let protocol = match kind {
                Some(SocketKind::Ip(p)) => Some(p),
                _ => None,
            };
            let (reason, remedy) = match (op, &kind, protocol) {
                (_, Some(k @ (SocketKind::Unix(_) | SocketKind::Other(_))), _) => {
                    (Reason::SocketKind(k.describe()), Remedy::Nothing)
                }
                (Operation::Connect, _, _) => (Reason::NoNetwork, Remedy::Nothing),
                (_, _, Some(Protocol::Udp)) if dest.is_some_and(|d| d.port() == 0) => (
                    Reason::Never(
                        "a UDP socket may bind to port 0 only under a policy with a UDP \
                         endpoint"
                            .into(),
                    ),
                    Remedy::Add("udp://HOST:PORT".into()),
                ),
                _ => (
                    Reason::Never(
                        "only a UDP socket may bind, and only to port 0 (a port the kernel \
                         picks)"
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
            cx.report_refusal(call, op, protocol, dest, reason, remedy);
        }
        libc::SYS_sendto | libc::SYS_sendmsg | libc::SYS_sendmmsg => cx.report_refusal(
            call,
            Operation::Send,
            None,
            None,
            Reason::Never(
                "TCP Fast Open (MSG_FASTOPEN) connects without connect(), past the \
                 supervisor's check; connect first"
                    .into(),
            ),
            Remedy::Nothing,
        ),
        libc::SYS_listen => cx.report_refusal(
            call,
            Operation::Listen,
            match socket::take(cx, call, a[0] as i32).map(|s| s.kind) {
                Ok(SocketKind::Ip(p)) => Some(p),
                _ => None,
            },
            None,
            Reason::Never("the sandbox lets no program accept connections".into()),
            Remedy::Nothing,
        ),
        libc::SYS_setsockopt => cx.report_refusal(
            call,
            Operation::SetSockOpt,
            None,
            None,
            Reason::Never(format!(
                "socket option level {} name {} is not in the allow list (it could change \
                 routing or filtering)",
                int(1),
                int(2)
            )),
            Remedy::Nothing,
        ),
        libc::SYS_ioctl => cx.report_refusal(
            call,
            Operation::Ioctl,
            None,
            None,
            Reason::Never(format!(
                "ioctl request {:#x} is refused (interfaces, routes, tun/tap, terminal input, \
                 userfaultfd)",
                a[1] as u32
            )),
            Remedy::Nothing,
        ),
        nr => cx.report_refusal(
            call,
            Operation::Socket,
            None,
            None,
            Reason::Never(format!("system call {nr} is refused by the static filter")),
            Remedy::Nothing,
        ),
    }
    fail(errno)
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
