//! `connect` and `bind`: one socket, one address, judged on the supervisor's own copy and
//! performed by the supervisor on its duplicate of the socket with that same copy.

use std::os::fd::AsRawFd;

use super::call::{fail, performed, Call, Context, Halt, Outcome, Refused, Target};
use super::listen;
use super::netlink;
use super::sockaddr::{self, Destination};
use super::socket::{self, Socket, SocketKind};
use super::unix;
use crate::policy::Protocol;
use crate::report::{Operation, Reason};

/// The socket and our copy of the address of `connect(fd, addr, len)` or
/// `bind(fd, addr, len)`, with the kernel's errors in the kernel's order (`EBADF`, then the
/// address, then `ENOTSOCK`).
fn socket_and_address(cx: &Context<'_>, call: &Call) -> Outcome<(Socket, Vec<u8>)> {
    let socket = socket::take(cx, call, call.args[0] as i32)?;
    let addr = cx.copy_address(call, call.args[1], call.args[2])?;
    if socket.kind == SocketKind::NotASocket {
        return fail(libc::ENOTSOCK);
    }
    Ok((socket, addr))
}

/// `connect(fd, addr, len)`.
pub fn connect(cx: &Context<'_>, call: &Call) -> Outcome {
    let (socket, addr) = socket_and_address(cx, call)?;
    if let Some(o) = super::dns::connect(cx, call, &socket, &addr) {
        return o;
    }
    if netlink::is_netlink(&socket) {
        return netlink::connect(cx, call, &socket, &addr);
    }
    if let SocketKind::Unix(_) = socket.kind {
        return unix::connect(cx, call, &socket, &addr);
    }
    let is_ip = matches!(socket.kind, SocketKind::Ip(_));
    match sockaddr::decode(&addr).map_err(Halt::Errno)? {
        // Dissolving an association reaches nobody; the next connect is checked again.
        Destination::Unspec if is_ip => {}
        Destination::Inet(d) => cx.judge(call, Operation::Connect, &socket, Target::Ip(d))?,
        Destination::Other(_) if is_ip => return fail(libc::EAFNOSUPPORT),
        Destination::Unspec | Destination::Other(_) => {
            cx.judge(call, Operation::Connect, &socket, Target::Other)?
        }
    }
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

/// `bind(fd, addr, len)`, notified under every policy with endpoints (issue 12, bind before
/// connect): a TCP or UDP socket may bind to port 0 (a port the kernel picks, as it would on
/// the first connect or send) on any address; `curl --local-port`-style clients, Python's
/// `source_address`, and Java's and Node.js's UDP clients do. Whether the address is one of
/// this machine's is the kernel's check (`EADDRNOTAVAIL`): the options that would lift it,
/// `IP_FREEBIND`, `IP_TRANSPARENT` and `IPV6_FREEBIND`, are not on the socket option list,
/// and the `ip_nonlocal_bind` sysctls are read-only inside. Either way only the destination
/// decides where a packet goes, and that is checked at connect and send. A netlink route
/// socket binds as asked (`netlink.rs`); a unix socket binds in the caller's view and
/// becomes the sandbox's own (`unix.rs`, `own.rs`). A fixed port would let the program
/// serve: refused, unless it is one of the policy's `listen` entries (`listen.rs`) for a TCP
/// socket. Under a policy whose UDP sockets are query sockets a UDP socket binds nowhere,
/// port 0 included (`query::refuse_bind`). In audit mode any bind is reported and
/// performed.
pub fn bind(cx: &Context<'_>, call: &Call) -> Outcome {
    let (socket, addr) = socket_and_address(cx, call)?;
    if let Some(o) = super::dns::bind(cx, call, &socket, &addr) {
        return o;
    }
    if netlink::is_netlink(&socket) {
        return netlink::bind(cx, call, &socket, &addr);
    }
    if let SocketKind::Unix(_) = socket.kind {
        return unix::bind(cx, call, &socket, &addr);
    }
    let dest = match sockaddr::decode(&addr).map_err(Halt::Errno)? {
        Destination::Inet(d) => Some(d),
        _ => None,
    };
    let protocol = match socket.kind {
        SocketKind::Ip(p) => Some(p),
        _ => None,
    };
    // Under a policy whose UDP sockets are query sockets, no UDP socket binds (`query.rs`).
    if protocol == Some(Protocol::Udp) && super::query::ip_query_sockets(cx.policy) {
        super::query::refuse_bind(cx, call, dest)?;
    }
    let ephemeral = protocol.is_some() && dest.is_some_and(|d| d.port() == 0);
    if !ephemeral && !listen::may_bind(cx, protocol, dest) {
        // In audit mode reported as one that would be refused, and performed below.
        let why = "a TCP or UDP socket may bind to port 0 only (a port the kernel picks): \
                   a fixed port would let the program serve";
        let refused = Refused::new(Operation::Bind, Reason::Never(why.into()))
            .on(protocol)
            .to(dest);
        cx.refuse_or_audit(call, refused)?;
    }
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
