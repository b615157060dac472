//! `sendto`, `sendmsg` and `sendmmsg`, which the filter hands over only when the policy has a
//! UDP endpoint: the destination is behind a pointer, so the supervisor copies the whole
//! message once, judges the copy, and sends the copy itself.
//!
//! On a unix socket (a `socketpair` within the sandbox) a message without an address goes to
//! the connected peer and is passed on; descriptors it carries (`SCM_RIGHTS`) are numbers in
//! the *caller's* table, so the supervisor takes each one (`pidfd_getfd`) and sends its own
//! duplicates, never its own descriptors under the caller's numbers.

use std::os::fd::{AsRawFd, OwnedFd};

use super::call::{fail, Call, Context, Halt, Outcome, Refused, Target};
use super::msghdr::{self, MsgHdr, IOVEC_LEN, MMSGHDR_LEN, MMSGHDR_MSG_LEN, MSGHDR_LEN};
use super::netlink;
use super::sockaddr::{self, Destination, MAX_SOCKADDR_LEN};
use super::socket::{self, Socket, SocketKind};
use super::unix;
use crate::policy::Protocol;
use crate::report::{Operation, Reason};
use crate::sys;

/// `UIO_MAXIOV`: the kernel refuses more iovecs (and more `sendmmsg` messages) than this.
const MAX_IOV: u64 = 1024;
/// The most data copied for one message. A stream send of more is sent in part, which `send`
/// may always do; a datagram of more is `EMSGSIZE`.
const MAX_DATA: u64 = 256 * 1024;
/// The largest UDP payload; a bigger datagram is `EMSGSIZE` in the kernel too.
const MAX_DATAGRAM: u64 = 65_535;
/// The most ancillary data copied for one message (the kernel's default `optmem_max` is
/// smaller).
const MAX_CONTROL: u64 = 64 * 1024;

/// A message copied out of the caller and judged: ready to send.
struct Message {
    /// The address; empty for none (`sendmsg` reads a zero length as no address).
    name: Vec<u8>,
    data: Vec<u8>,
    control: Vec<u8>,
    /// The supervisor's duplicates of descriptors passed with `SCM_RIGHTS`, whose numbers
    /// `control` now holds; closed after the send.
    _passed: Vec<OwnedFd>,
    /// The socket a unix datagram goes to, which `name` names through its magic link
    /// (`unix.rs`); closed after the send.
    _destination: Option<OwnedFd>,
}

/// Where a send's address points, for the policy: a name that is not an IP address on a
/// socket that is not an IP socket is `Other`, and never allowed.
fn target(name: &[u8]) -> Outcome<Target> {
    if name.is_empty() {
        return Ok(Target::Peer);
    }
    Ok(match sockaddr::decode(name).map_err(Halt::Errno)? {
        Destination::Inet(d) => Target::Ip(d),
        Destination::Unspec | Destination::Other(_) => Target::Other,
    })
}

/// Judges a send's address (`name`, empty for none) for `socket`: on a netlink socket the
/// kernel only (`netlink.rs`), on any other the policy's endpoints.
fn judge_destination(cx: &Context<'_>, call: &Call, socket: &Socket, name: &[u8]) -> Outcome<()> {
    if netlink::is_netlink(socket) {
        return netlink::judge_destination(cx, call, socket, name);
    }
    cx.judge(call, Operation::Send, socket, target(name)?)
}

/// Judges a send's data, our copy: on a netlink socket only `RTM_GET*` requests go on
/// (`netlink.rs`); on any other socket the data is not looked at.
fn judge_data(cx: &Context<'_>, call: &Call, socket: &Socket, data: &[u8]) -> Outcome<()> {
    if netlink::is_netlink(socket) {
        return netlink::judge_messages(cx, call, data);
    }
    Ok(())
}

/// Copies the data of `iovs` out of the caller: at most [`MAX_DATA`] bytes, and for a message
/// socket (UDP, unix datagram or seqpacket) all of it or `EMSGSIZE`, so a datagram is never
/// cut short.
fn copy_data(
    cx: &Context<'_>,
    call: &Call,
    socket: &Socket,
    iovs: &[(u64, u64)],
) -> Outcome<Vec<u8>> {
    let total: u128 = iovs.iter().map(|&(_, len)| len as u128).sum();
    let limit = match socket.kind {
        SocketKind::Ip(Protocol::Udp) => Some(MAX_DATAGRAM),
        SocketKind::Unix(ty) if ty != libc::SOCK_STREAM => Some(MAX_DATA),
        // A netlink message is a datagram too: whole, or not at all.
        _ if netlink::is_netlink(socket) => Some(MAX_DATA),
        _ => None,
    };
    if limit.is_some_and(|limit| total > limit as u128) {
        return fail(libc::EMSGSIZE);
    }
    let mut out = Vec::new();
    for &(base, len) in iovs {
        let take = len.min(MAX_DATA - out.len() as u64) as usize;
        if take == 0 {
            continue;
        }
        let start = out.len();
        out.resize(start + take, 0);
        cx.read_memory(call, base, &mut out[start..])?;
        if out.len() as u64 == MAX_DATA {
            break;
        }
    }
    Ok(out)
}

/// Checks the ancillary data for `socket` and, on a unix socket, swaps the caller's
/// descriptor numbers for the supervisor's duplicates.
fn prepare_control(
    cx: &Context<'_>,
    call: &Call,
    socket: &Socket,
    name: &[u8],
    control: &mut [u8],
) -> Outcome<Vec<OwnedFd>> {
    let mut passed = Vec::new();
    // A refusal names the message's IP destination (none: the socket's peer) and protocol.
    let refused = |reason: Reason| {
        let mut r = Refused::new(Operation::Send, reason);
        if let SocketKind::Ip(protocol) = socket.kind {
            r.protocol = Some(protocol);
            if let Ok(sockaddr::Destination::Inet(to)) = sockaddr::decode(name) {
                r.destination = Some(to);
            }
        }
        r
    };
    for m in msghdr::control_messages(control).map_err(Halt::Errno)? {
        let allowed = match socket.kind {
            SocketKind::Ip(_) => msghdr::ip_control_allowed(&m),
            // Credentials would be checked against the supervisor's, not the caller's.
            SocketKind::Unix(_) => m.level == libc::SOL_SOCKET && m.ty == libc::SCM_RIGHTS,
            _ => false,
        };
        if !allowed {
            let reason = Reason::Ancillary {
                level: m.level,
                ty: m.ty,
            };
            return Err(cx.refuse(call, refused(reason)));
        }
        if matches!(socket.kind, SocketKind::Ip(_)) && msghdr::picks_interface(control, &m) {
            let reason = Reason::Never(
                "IP_PKTINFO/IPV6_PKTINFO ancillary data naming an interface is not passed on (it \
                 sends out of that interface whatever the routing table says, like \
                 SO_BINDTODEVICE); index 0 (a source address only) is"
                    .into(),
            );
            return Err(cx.refuse(call, refused(reason)));
        }
        if matches!(socket.kind, SocketKind::Unix(_)) {
            let fds = msghdr::rights(control, &m).map_err(Halt::Errno)?;
            for (i, fd) in fds.into_iter().enumerate() {
                let dup = socket::duplicate_fd(cx, call, fd)?;
                let at = m.data.start + 4 * i;
                control[at..at + 4].copy_from_slice(&dup.as_raw_fd().to_ne_bytes());
                passed.push(dup);
            }
        }
    }
    Ok(passed)
}

/// Copies the message at `msg_ptr` and judges it for `socket`.
fn copy_message(cx: &Context<'_>, call: &Call, socket: &Socket, msg_ptr: u64) -> Outcome<Message> {
    let raw = cx.read(call, msg_ptr, MSGHDR_LEN)?;
    let hdr = MsgHdr::decode(raw.as_slice().try_into().expect("msghdr length"));
    if hdr.iovlen > MAX_IOV {
        return fail(libc::EMSGSIZE);
    }
    if hdr.controllen > MAX_CONTROL {
        return fail(libc::ENOBUFS);
    }
    // As the kernel does: no name pointer or a zero length means no name; an oversized
    // length is clipped.
    let mut name = if hdr.name == 0 || hdr.namelen == 0 {
        Vec::new()
    } else {
        let len = (hdr.namelen as usize).min(MAX_SOCKADDR_LEN);
        cx.copy_address(call, hdr.name, len as u64)?
    };
    let mut destination = None;
    // A send to the DNS answerer goes out on the socket `dns::send` gives.
    if !super::dns::send_to_answerer(socket, &name) {
        match unix::send_address(cx, call, socket, &name)? {
            Some((ours, held)) => (name, destination) = (ours, held),
            None => judge_destination(cx, call, socket, &name)?,
        }
    }
    let iov_bytes = cx.read(call, hdr.iov, hdr.iovlen as usize * IOVEC_LEN)?;
    let data = copy_data(cx, call, socket, &msghdr::decode_iovecs(&iov_bytes))?;
    judge_data(cx, call, socket, &data)?;
    let mut control = if hdr.control == 0 {
        Vec::new()
    } else {
        cx.read(call, hdr.control, hdr.controllen as usize)?
    };
    let passed = prepare_control(cx, call, socket, &name, &mut control)?;
    Ok(Message {
        name,
        data,
        control,
        _passed: passed,
        _destination: destination,
    })
}

/// Sends `m` on `socket` with `flags`: the byte count or errno.
fn send(socket: &Socket, m: &Message, flags: i32) -> Outcome {
    let mut iov = libc::iovec {
        iov_base: m.data.as_ptr() as *mut libc::c_void,
        iov_len: m.data.len(),
    };
    // SAFETY: msghdr is plain data; zero is a valid value for every field.
    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
    if !m.name.is_empty() {
        hdr.msg_name = m.name.as_ptr() as *mut libc::c_void;
        hdr.msg_namelen = m.name.len() as libc::socklen_t;
    }
    hdr.msg_iov = &mut iov;
    hdr.msg_iovlen = 1;
    if !m.control.is_empty() {
        hdr.msg_control = m.control.as_ptr() as *mut libc::c_void;
        hdr.msg_controllen = m.control.len() as _;
    }
    // SAFETY: every pointer in `hdr` points into buffers owned by `m` or into `iov`, all of
    // which outlive the call; the kernel only reads them.
    let n = unsafe { libc::sendmsg(socket.fd.as_raw_fd(), &hdr, flags) };
    if n >= 0 {
        Ok(n as i64)
    } else {
        fail(sys::errno())
    }
}

/// The caller's socket for a send call: `ENOTSOCK` is answered before the address is read.
fn send_socket(cx: &Context<'_>, call: &Call) -> Outcome<Socket> {
    let socket = socket::take(cx, call, call.args[0] as i32)?;
    if socket.kind == SocketKind::NotASocket {
        return fail(libc::ENOTSOCK);
    }
    Ok(socket)
}

/// `sendto(fd, buf, len, flags, addr, addrlen)` with a non-NULL `addr` (the filter sends the
/// others straight to the kernel). Performed with `sendto` itself, with our copy of the
/// address: an address of length 0 is still an address there (a UDP socket answers
/// `EINVAL`), where `sendmsg` would read it as none.
pub fn sendto(cx: &Context<'_>, call: &Call) -> Outcome {
    let [_, buf_ptr, len, flags, addr_ptr, addr_len] = call.args;
    let socket = send_socket(cx, call)?;
    let mut name = cx.copy_address(call, addr_ptr, addr_len)?;
    let mut _destination = None;
    let socket = match super::dns::send(cx, call, &socket, &name)? {
        Some(answerer) => answerer,
        None => {
            match unix::send_address(cx, call, &socket, &name)? {
                Some((ours, held)) => (name, _destination) = (ours, held),
                None => judge_destination(cx, call, &socket, &name)?,
            }
            socket
        }
    };
    let data = copy_data(cx, call, &socket, &[(buf_ptr, len)])?;
    judge_data(cx, call, &socket, &data)?;
    // SAFETY: `data` and `name` are our own buffers, valid for their lengths (a zero-length
    // name is not read).
    let n = unsafe {
        libc::sendto(
            socket.fd.as_raw_fd(),
            data.as_ptr().cast(),
            data.len(),
            flags as i32,
            name.as_ptr().cast(),
            name.len() as libc::socklen_t,
        )
    };
    if n >= 0 {
        Ok(n as i64)
    } else {
        fail(sys::errno())
    }
}

/// `sendmsg(fd, msg, flags)`.
pub fn sendmsg(cx: &Context<'_>, call: &Call) -> Outcome {
    let [_, msg_ptr, flags, ..] = call.args;
    let socket = send_socket(cx, call)?;
    let m = copy_message(cx, call, &socket, msg_ptr)?;
    let socket = super::dns::send(cx, call, &socket, &m.name)?.unwrap_or(socket);
    send(&socket, &m, flags as i32)
}

/// `sendmmsg(fd, msgvec, vlen, flags)`: each message is copied, judged and sent in turn, and
/// the number of bytes sent written back to its `msg_len`, as the kernel does. An error after
/// some messages went out ends the batch and returns the count, as the kernel does.
///
/// The caller's memory is reached through its thread id, which a dead caller leaves for reuse:
/// the notification is confirmed pending before each later message is read and before each
/// write-back, so nothing is read from or written into another process.
pub fn sendmmsg(cx: &Context<'_>, call: &Call) -> Outcome {
    let [_, vec_ptr, vlen, flags, ..] = call.args;
    let vlen = u64::from((vlen as u32).min(MAX_IOV as u32));
    let mut socket = send_socket(cx, call)?;
    let mut sent = 0u64;
    while sent < vlen {
        let entry = vec_ptr.wrapping_add(sent * MMSGHDR_LEN as u64);
        if sent > 0 {
            cx.still_pending(call)?;
        }
        let result = copy_message(cx, call, &socket, entry).and_then(|m| {
            if let Some(answerer) = super::dns::send(cx, call, &socket, &m.name)? {
                socket = answerer;
            }
            send(&socket, &m, flags as i32)
        });
        let n = match result {
            Ok(n) => n,
            Err(Halt::Errno(errno)) if sent == 0 => return fail(errno),
            Err(Halt::Errno(_)) => break,
            Err(h @ (Halt::Gone | Halt::Answered | Halt::Continue)) => return Err(h),
        };
        cx.still_pending(call)?;
        let len = (n as u32).to_ne_bytes();
        let at = entry.wrapping_add(MMSGHDR_MSG_LEN as u64);
        if sys::write_process_memory(call.tid, at, &len).is_err() {
            break;
        }
        sent += 1;
    }
    Ok(sent as i64)
}
