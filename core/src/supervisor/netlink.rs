//! Netlink route sockets (issue 12): interface and route listing, never changes.
//!
//! The static filter lets a program open `NETLINK_ROUTE` sockets (raw or datagram) and
//! nothing else of `AF_NETLINK`. What keeps such a socket from changing addresses, links,
//! routes, neighbours, rules or filters is the kernel: `rtnetlink_rcv_msg` asks
//! `CAP_NET_ADMIN` of every request that is not a `GET`, and checks it both against the
//! credentials the socket was opened with and against the sender's — the sandbox dropped it
//! (a policy that keeps it keeps netlink refused). This module is a second wall, defence in
//! depth, for the sends that reach the supervisor (`sendto` with an address under every
//! policy with an endpoint but a `landlock-ports` one, `sendmsg` under a policy with a UDP
//! endpoint or in audit mode; `write`, `send` and the other sends go straight to the
//! kernel):
//!
//! - every message the kernel would process must be a request of an `RTM_GET*` type;
//! - the address (a send's, a `connect`'s) must be the kernel: port id 0, no multicast group.
//!   This one matters more than it looks: the supervisor performs the send with its own
//!   privileges, and the kernel checks a unicast to another process's port, or a multicast,
//!   against the *sender's* `CAP_NET_ADMIN` only.
//! - `bind` (iproute2 and Go bind before they ask; `ip monitor` joins multicast groups,
//!   which `NETLINK_ROUTE` lets anyone read) is performed as asked on a route socket.
//!
//! Any other netlink socket (one inherited, or made by the supervisor in audit mode) is
//! refused as a socket kind.

use std::os::fd::AsRawFd;

use super::call::{fail, performed, Call, Context, Outcome, Refused};
use super::socket::{Socket, SocketKind};
use crate::report::{Operation, Reason};
use crate::sys;

/// `NETLINK_ROUTE`.
const NETLINK_ROUTE: i32 = 0;
/// `sizeof(struct nlmsghdr)`.
const NLMSG_HDRLEN: usize = 16;
/// `RTM_BASE`: rtnetlink types start here; below it are netlink's own (`NLMSG_NOOP`, …).
const RTM_BASE: u16 = 16;
/// `sizeof(struct sockaddr_nl)`.
const SOCKADDR_NL_LEN: usize = 12;

/// Whether `socket` is a netlink socket.
pub fn is_netlink(socket: &Socket) -> bool {
    matches!(&socket.kind, SocketKind::Other(k) if k == "netlink")
}

/// The protocol of the netlink socket `socket`: only `NETLINK_ROUTE` goes on; any other is
/// refused as a socket kind (in audit mode, reported and let through).
fn route_only(cx: &Context<'_>, call: &Call, socket: &Socket) -> Outcome<()> {
    let proto =
        sys::getsockopt_int(socket.fd.as_raw_fd(), libc::SO_PROTOCOL).or(fail(libc::EACCES))?;
    if proto == NETLINK_ROUTE {
        return Ok(());
    }
    let kind = format!("netlink protocol {proto}");
    cx.refuse_or_audit(
        call,
        Refused::new(call.operation(), Reason::SocketKind(kind)),
    )
}

/// A netlink address: `(port id, multicast groups)`, or `EINVAL` as the kernel answers a
/// short one or one of another family.
pub fn decode_address(bytes: &[u8]) -> Result<(u32, u32), i32> {
    if bytes.len() < SOCKADDR_NL_LEN
        || u16::from_ne_bytes([bytes[0], bytes[1]]) != libc::AF_NETLINK as u16
    {
        return Err(libc::EINVAL);
    }
    let word = |at: usize| u32::from_ne_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    Ok((word(4), word(8)))
}

/// Judges the destination of a send or a `connect` on a netlink socket: no address (the
/// socket's peer, which only a checked `connect` can have set) or the kernel.
pub fn judge_destination(
    cx: &Context<'_>,
    call: &Call,
    socket: &Socket,
    name: &[u8],
) -> Outcome<()> {
    route_only(cx, call, socket)?;
    if name.is_empty() {
        return Ok(());
    }
    let (port, groups) = decode_address(name).map_err(super::call::Halt::Errno)?;
    if port == 0 && groups == 0 {
        return Ok(());
    }
    let why = format!(
        "a netlink message may go to the kernel only, not to port {port} or groups {groups:#x} \
         (the supervisor would send it with its own privileges)"
    );
    cx.refuse_or_audit(call, Refused::new(call.operation(), Reason::Never(why)))
}

/// The name of an rtnetlink message type, for lines.
fn type_name(ty: u16) -> String {
    const NAMES: [&str; 11] = [
        "LINK",
        "ADDR",
        "ROUTE",
        "NEIGH",
        "RULE",
        "QDISC",
        "TCLASS",
        "TFILTER",
        "ACTION",
        "PREFIX",
        "MULTICAST",
    ];
    const KINDS: [&str; 4] = ["NEW", "DEL", "GET", "SET"];
    let i = usize::from(ty.saturating_sub(RTM_BASE));
    match NAMES.get(i / 4) {
        Some(&name) if ty >= RTM_BASE => {
            format!("RTM_{}{name} ({ty})", KINDS[i % 4])
        }
        _ => format!("type {ty}"),
    }
}

/// The first message of `data` that is not an rtnetlink `GET` request, walking the messages
/// exactly as `netlink_rcv_skb` does (it stops at a header shorter than its own length or
/// longer than what is left, and steps by the aligned length), so every message the kernel
/// would process is looked at.
pub fn first_change(data: &[u8]) -> Option<u16> {
    let mut rest = data;
    while rest.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            return None;
        }
        let ty = u16::from_ne_bytes([rest[4], rest[5]]);
        // rtnl_msgtype_kind: (type - RTM_BASE) & 3 == 2 is a GET. Netlink's own types (below
        // RTM_BASE) are not requests; refused too, nothing needs to send them.
        if ty < RTM_BASE || (ty - RTM_BASE) & 3 != 2 {
            return Some(ty);
        }
        let step = ((len + 3) & !3).min(rest.len());
        rest = &rest[step..];
    }
    None
}

/// Judges the data of a send on a netlink route socket: only `RTM_GET*` requests.
pub fn judge_messages(cx: &Context<'_>, call: &Call, data: &[u8]) -> Outcome<()> {
    let Some(ty) = first_change(data) else {
        return Ok(());
    };
    let why = format!(
        "only netlink requests that read (RTM_GET*) are sent; {} would change the network",
        type_name(ty)
    );
    cx.refuse_or_audit(call, Refused::new(Operation::Send, Reason::Never(why)))
}

/// `bind(fd, addr, len)` on a netlink socket: a route socket binds as asked (a port id, and
/// multicast groups, which `NETLINK_ROUTE` lets anyone join to read changes).
pub fn bind(cx: &Context<'_>, call: &Call, socket: &Socket, addr: &[u8]) -> Outcome {
    route_only(cx, call, socket)?;
    // SAFETY: `addr` is our own copy, valid for `addr.len()` bytes.
    let ret = unsafe {
        libc::bind(
            socket.fd.as_raw_fd(),
            addr.as_ptr().cast(),
            addr.len() as libc::socklen_t,
        )
    };
    performed(ret)
}

/// `connect(fd, addr, len)` on a netlink socket: to the kernel only.
pub fn connect(cx: &Context<'_>, call: &Call, socket: &Socket, addr: &[u8]) -> Outcome {
    judge_destination(cx, call, socket, addr)?;
    // SAFETY: `addr` is our own copy, valid for `addr.len()` bytes.
    let ret = unsafe {
        libc::connect(
            socket.fd.as_raw_fd(),
            addr.as_ptr().cast(),
            addr.len() as libc::socklen_t,
        )
    };
    performed(ret)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(ty: u16, payload: usize) -> Vec<u8> {
        let len = NLMSG_HDRLEN + payload;
        let mut m = vec![0u8; (len + 3) & !3];
        m[..4].copy_from_slice(&(len as u32).to_ne_bytes());
        m[4..6].copy_from_slice(&ty.to_ne_bytes());
        m[6..8].copy_from_slice(&0x301u16.to_ne_bytes()); // NLM_F_REQUEST | NLM_F_DUMP
        m
    }

    #[test]
    fn get_requests_pass_and_changes_are_found_anywhere() {
        const GETLINK: u16 = 18;
        const NEWADDR: u16 = 20;
        const GETADDR: u16 = 22;
        const GETROUTE: u16 = 26;
        const DELROUTE: u16 = 25;
        assert_eq!(first_change(&msg(GETLINK, 16)), None);
        assert_eq!(first_change(&msg(GETADDR, 1)), None, "unaligned payload");
        let two = [msg(GETLINK, 16), msg(GETROUTE, 12)].concat();
        assert_eq!(first_change(&two), None);
        assert_eq!(first_change(&msg(NEWADDR, 24)), Some(NEWADDR));
        // A change hidden behind a GET, after an unaligned one.
        let hidden = [msg(GETADDR, 1), msg(DELROUTE, 12)].concat();
        assert_eq!(first_change(&hidden), Some(DELROUTE));
        // RTM_SETLINK (19) is a change too; NLMSG_NOOP (1) is not a request.
        assert_eq!(first_change(&msg(19, 16)), Some(19));
        assert_eq!(first_change(&msg(1, 0)), Some(1));
        assert_eq!(first_change(&[]), None);
    }

    #[test]
    fn the_walk_stops_where_the_kernel_stops() {
        // A header claiming more than is there: the kernel processes nothing more.
        let mut short = msg(20, 8);
        short[..4].copy_from_slice(&200u32.to_ne_bytes());
        assert_eq!(first_change(&short), None);
        // A length below the header's: the kernel stops too.
        let mut tiny = msg(20, 8);
        tiny[..4].copy_from_slice(&8u32.to_ne_bytes());
        assert_eq!(first_change(&tiny), None);
        // Fewer bytes than a header after a GET: ignored by the kernel.
        let tail = [msg(18, 16), vec![20, 0, 0, 0]].concat();
        assert_eq!(first_change(&tail), None);
    }

    #[test]
    fn names_for_lines() {
        assert_eq!(type_name(20), "RTM_NEWADDR (20)");
        assert_eq!(type_name(19), "RTM_SETLINK (19)");
        assert_eq!(type_name(25), "RTM_DELROUTE (25)");
        assert_eq!(type_name(1), "type 1");
        assert_eq!(type_name(500), "type 500");
    }

    #[test]
    fn addresses() {
        let mut a = [0u8; 12];
        a[..2].copy_from_slice(&(libc::AF_NETLINK as u16).to_ne_bytes());
        assert_eq!(decode_address(&a), Ok((0, 0)));
        a[4..8].copy_from_slice(&1234u32.to_ne_bytes());
        a[8..12].copy_from_slice(&1u32.to_ne_bytes());
        assert_eq!(decode_address(&a), Ok((1234, 1)));
        assert_eq!(decode_address(&a[..11]), Err(libc::EINVAL));
        a[0] = libc::AF_INET as u8;
        assert_eq!(decode_address(&a), Err(libc::EINVAL));
    }
}
