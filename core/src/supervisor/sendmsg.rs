//! `sendmsg` and `sendmmsg` (and the data of `sendto`), which the filter hands over only when
//! the policy has a UDP endpoint: the destination is behind a pointer, so the supervisor must
//! copy the whole message and send it itself.

use std::os::fd::AsRawFd;

use super::handle::{
    copy_address, judge, read_memory, send_destination, take_socket, Call, Context, Reply, Socket,
};
use super::sockaddr::MAX_SOCKADDR_LEN;
use crate::report::Operation;
use crate::sys;

/// `UIO_MAXIOV`: the kernel refuses more iovecs (and more `sendmmsg` messages) than this.
const MAX_IOV: u64 = 1024;
/// The most data copied for one message. A datagram cannot be larger; a stream send of more
/// is sent in part, which `send` may always do.
const MAX_DATA: u64 = 256 * 1024;
/// The largest UDP payload; a bigger datagram is `EMSGSIZE` in the kernel too.
const MAX_DATAGRAM: u64 = 65_535;
/// The most ancillary data copied for one message (the kernel's default `optmem_max` is
/// smaller).
const MAX_CONTROL: u64 = 64 * 1024;

const MSGHDR_LEN: usize = 56;
const MMSGHDR_LEN: usize = 64;
const IOVEC_LEN: usize = 16;

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// The fields of a `struct msghdr` (x86_64 and aarch64 layout) the supervisor uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsgHdr {
    /// `msg_name`.
    pub name: u64,
    /// `msg_namelen`.
    pub namelen: u32,
    /// `msg_iov`.
    pub iov: u64,
    /// `msg_iovlen`.
    pub iovlen: u64,
    /// `msg_control`.
    pub control: u64,
    /// `msg_controllen`.
    pub controllen: u64,
}

impl MsgHdr {
    /// Decodes the 56 bytes of a `struct msghdr`.
    pub fn decode(b: &[u8; MSGHDR_LEN]) -> Self {
        MsgHdr {
            name: u64_at(b, 0),
            namelen: u32_at(b, 8),
            iov: u64_at(b, 16),
            iovlen: u64_at(b, 24),
            control: u64_at(b, 32),
            controllen: u64_at(b, 40),
        }
    }
}

/// Decodes `n` iovecs into `(base, len)` pairs.
pub fn decode_iovecs(b: &[u8]) -> Vec<(u64, u64)> {
    b.chunks_exact(IOVEC_LEN)
        .map(|c| (u64_at(c, 0), u64_at(c, 8)))
        .collect()
}

/// Copies the data of `iovs` (up to `MAX_DATA` bytes in all) out of the caller.
pub fn copy_data(
    cx: &Context<'_>,
    call: &Call,
    iovs: &[(u64, u64)],
) -> Result<Vec<u8>, Option<i32>> {
    let mut out = Vec::new();
    for &(base, len) in iovs {
        let room = MAX_DATA - out.len() as u64;
        let take = len.min(room) as usize;
        if take == 0 {
            continue;
        }
        let start = out.len();
        out.resize(start + take, 0);
        read_memory(cx, call, base, &mut out[start..])?;
        if out.len() as u64 == MAX_DATA {
            break;
        }
    }
    Ok(out)
}

fn read(cx: &Context<'_>, call: &Call, ptr: u64, len: usize) -> Result<Vec<u8>, Option<i32>> {
    let mut buf = vec![0u8; len];
    read_memory(cx, call, ptr, &mut buf)?;
    Ok(buf)
}

/// A message copied out of the caller and checked: ready to send.
struct Message {
    name: Vec<u8>,
    data: Vec<u8>,
    control: Vec<u8>,
}

/// Copies the message at `msg_ptr` and checks its destination for `socket`.
fn copy_message(
    cx: &Context<'_>,
    call: &Call,
    socket: &Socket,
    msg_ptr: u64,
) -> Result<Message, Option<i32>> {
    let raw = read(cx, call, msg_ptr, MSGHDR_LEN)?;
    let hdr = MsgHdr::decode(raw.as_slice().try_into().expect("msghdr length"));
    if hdr.iovlen > MAX_IOV {
        return Err(Some(libc::EMSGSIZE));
    }
    if hdr.controllen > MAX_CONTROL {
        return Err(Some(libc::ENOBUFS));
    }
    // As the kernel does: no name pointer means no name; an oversized length is clipped.
    let name = if hdr.name == 0 {
        Vec::new()
    } else {
        let len = (hdr.namelen as usize).min(MAX_SOCKADDR_LEN);
        copy_address(cx, call, hdr.name, len as u64)?
    };
    let dest = send_destination(cx, call, &name, socket).map_err(Some)?;
    judge(cx, call, Operation::Send, socket, dest).map_err(Some)?;
    let iov_bytes = read(cx, call, hdr.iov, hdr.iovlen as usize * IOVEC_LEN)?;
    let iovs = decode_iovecs(&iov_bytes);
    if socket.kind == Ok(crate::Protocol::Udp)
        && iovs.iter().map(|&(_, l)| l as u128).sum::<u128>() > MAX_DATAGRAM as u128
    {
        return Err(Some(libc::EMSGSIZE));
    }
    let data = copy_data(cx, call, &iovs)?;
    let control = if hdr.control == 0 {
        Vec::new()
    } else {
        read(cx, call, hdr.control, hdr.controllen as usize)?
    };
    check_control(&control).map_err(Some)?;
    Ok(Message {
        name,
        data,
        control,
    })
}

/// `sizeof(struct cmsghdr)` on 64-bit Linux: `size_t cmsg_len; int level; int type`.
const CMSGHDR_LEN: usize = 16;

/// Ancillary data the supervisor passes on: what selects a source address, TTL/hop limit,
/// traffic class or segmentation. Anything else is refused, in particular IPv4 options
/// (`IP_RETOPTS`: loose source routing sends the packet to the first hop instead of the
/// checked destination), IPv6 routing headers and `IPV6_NEXTHOP`.
pub fn check_control(control: &[u8]) -> Result<(), i32> {
    const SOL_SOCKET: i32 = libc::SOL_SOCKET;
    const SOL_IP: i32 = libc::SOL_IP;
    const SOL_IPV6: i32 = libc::SOL_IPV6;
    const SOL_UDP: i32 = libc::SOL_UDP;
    const UDP_SEGMENT: i32 = 103;
    let mut at = 0;
    while control.len() - at >= CMSGHDR_LEN {
        let len = u64_at(control, at) as usize;
        let level = u32_at(control, at + 8) as i32;
        let ty = u32_at(control, at + 12) as i32;
        if len < CMSGHDR_LEN || len > control.len() - at {
            return Err(libc::EINVAL);
        }
        let allowed = match level {
            SOL_SOCKET => ty != libc::SCM_RIGHTS,
            SOL_IP => matches!(ty, libc::IP_PKTINFO | libc::IP_TTL | libc::IP_TOS),
            SOL_IPV6 => matches!(
                ty,
                libc::IPV6_PKTINFO
                    | libc::IPV6_2292PKTINFO
                    | libc::IPV6_HOPLIMIT
                    | libc::IPV6_2292HOPLIMIT
                    | libc::IPV6_TCLASS
                    | libc::IPV6_DONTFRAG
            ),
            SOL_UDP => ty == UDP_SEGMENT,
            _ => false,
        };
        if !allowed {
            return Err(libc::EACCES);
        }
        // CMSG_ALIGN: the next header starts at the next multiple of 8.
        at += (len + 7) & !7;
        if at > control.len() {
            break;
        }
    }
    Ok(())
}

/// Sends `m` on `socket` with `flags`; the byte count or errno.
fn send(socket: &Socket, m: &Message, flags: i32) -> Result<i64, i32> {
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
        hdr.msg_controllen = m.control.len();
    }
    // SAFETY: every pointer in `hdr` points into buffers owned by `m` or into `iov`, all of
    // which outlive the call; the kernel only reads them.
    let n = unsafe { libc::sendmsg(socket.fd.as_raw_fd(), &hdr, flags) };
    if n >= 0 {
        Ok(n as i64)
    } else {
        Err(sys::errno())
    }
}

/// `sendmsg(fd, msg, flags)`.
pub fn sendmsg(cx: &Context<'_>, call: &Call) -> Reply {
    let [fd, msg_ptr, flags, ..] = call.args;
    let flags = flags as i32;
    let socket = match take_socket(cx, call, fd as i32) {
        Ok(s) if s.not_a_socket => return Some(Err(libc::ENOTSOCK)),
        Ok(s) => s,
        Err(reply) => return reply.map(Err),
    };
    let m = match copy_message(cx, call, &socket, msg_ptr) {
        Ok(m) => m,
        Err(reply) => return reply.map(Err),
    };
    Some(send(&socket, &m, flags))
}

/// `sendmmsg(fd, msgvec, vlen, flags)`: each message is checked and sent in turn; the
/// number sent is written back to each `msg_len` and returned, as the kernel does.
pub fn sendmmsg(cx: &Context<'_>, call: &Call) -> Reply {
    let [fd, vec_ptr, vlen, flags, ..] = call.args;
    let flags = flags as i32;
    let vlen = (vlen as u32).min(MAX_IOV as u32) as u64;
    let socket = match take_socket(cx, call, fd as i32) {
        Ok(s) if s.not_a_socket => return Some(Err(libc::ENOTSOCK)),
        Ok(s) => s,
        Err(reply) => return reply.map(Err),
    };
    let mut sent = 0u64;
    while sent < vlen {
        let entry = vec_ptr.wrapping_add(sent * MMSGHDR_LEN as u64);
        let result = copy_message(cx, call, &socket, entry)
            .and_then(|m| send(&socket, &m, flags).map_err(Some));
        match result {
            Ok(n) => {
                let len = (n as u32).to_ne_bytes();
                if sys::write_process_memory(call.pid, entry + MSGHDR_LEN as u64, &len).is_err() {
                    break;
                }
                sent += 1;
            }
            Err(None) => return None,
            // As the kernel: an error after some messages went out returns the count.
            Err(Some(errno)) if sent == 0 => return Some(Err(errno)),
            Err(Some(_)) => break,
        }
    }
    Some(Ok(sent as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmsg(level: i32, ty: i32, data: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&((CMSGHDR_LEN + data.len()) as u64).to_ne_bytes());
        b.extend_from_slice(&level.to_ne_bytes());
        b.extend_from_slice(&ty.to_ne_bytes());
        b.extend_from_slice(data);
        while b.len() % 8 != 0 {
            b.push(0);
        }
        b
    }

    #[test]
    fn control_messages_that_cannot_redirect_pass() {
        let mut c = cmsg(libc::SOL_IP, libc::IP_PKTINFO, &[0; 12]);
        c.extend(cmsg(libc::SOL_IPV6, libc::IPV6_TCLASS, &[0; 4]));
        c.extend(cmsg(libc::SOL_UDP, 103, &[0; 2]));
        assert_eq!(check_control(&c), Ok(()));
        assert_eq!(check_control(&[]), Ok(()));
    }

    #[test]
    fn source_routing_and_routing_headers_are_refused() {
        for (level, ty) in [
            (libc::SOL_IP, libc::IP_RETOPTS),
            (libc::SOL_IP, libc::IP_OPTIONS),
            (libc::SOL_IPV6, libc::IPV6_RTHDR),
            (libc::SOL_IPV6, libc::IPV6_2292RTHDR),
            (libc::SOL_IPV6, libc::IPV6_NEXTHOP),
            (libc::SOL_SOCKET, libc::SCM_RIGHTS),
            (132, 1),
        ] {
            let mut c = cmsg(libc::SOL_IP, libc::IP_TTL, &[64, 0, 0, 0]);
            c.extend(cmsg(level, ty, &[0; 8]));
            assert_eq!(check_control(&c), Err(libc::EACCES), "{level}/{ty}");
        }
    }

    #[test]
    fn malformed_lengths_are_invalid() {
        let mut c = cmsg(libc::SOL_IP, libc::IP_TTL, &[64, 0, 0, 0]);
        c[0] = 200;
        assert_eq!(check_control(&c), Err(libc::EINVAL));
        c[0] = 3;
        assert_eq!(check_control(&c), Err(libc::EINVAL));
    }

    #[test]
    fn msghdr_layout_matches_libc() {
        assert_eq!(std::mem::size_of::<libc::msghdr>(), MSGHDR_LEN);
        assert_eq!(std::mem::size_of::<libc::mmsghdr>(), MMSGHDR_LEN);
        assert_eq!(std::mem::size_of::<libc::iovec>(), IOVEC_LEN);
        let mut iov = [0u8; 4];
        // SAFETY: msghdr is plain data; zero is valid.
        let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
        h.msg_name = 0x1111 as *mut _;
        h.msg_namelen = 16;
        h.msg_iov = iov.as_mut_ptr().cast();
        h.msg_iovlen = 3;
        h.msg_control = 0x2222 as *mut _;
        h.msg_controllen = 40;
        // SAFETY: reading the bytes of a plain-data struct of exactly MSGHDR_LEN bytes.
        let bytes: [u8; MSGHDR_LEN] = unsafe { std::mem::transmute(h) };
        let d = MsgHdr::decode(&bytes);
        assert_eq!(d.name, 0x1111);
        assert_eq!(d.namelen, 16);
        assert_eq!(d.iov, iov.as_ptr() as u64);
        assert_eq!(d.iovlen, 3);
        assert_eq!(d.control, 0x2222);
        assert_eq!(d.controllen, 40);
    }
}
