//! Decoding a `struct msghdr`, its iovecs and its ancillary data, copied out of a sandboxed
//! process.
//!
//! Pure functions over bytes, so they can be fuzzed. Offsets come from the C library's own
//! definition (`offset_of!`), and the fields are read with the kernel's widths, which on
//! 64-bit Linux are 8 bytes for pointers and `size_t` lengths.

use std::mem::{offset_of, size_of};

/// `sizeof(struct msghdr)`.
pub const MSGHDR_LEN: usize = size_of::<libc::msghdr>();
/// `sizeof(struct mmsghdr)`: a `msghdr`, then `unsigned int msg_len`.
pub const MMSGHDR_LEN: usize = size_of::<libc::mmsghdr>();
/// Where `msg_len` sits in a `struct mmsghdr`.
pub const MMSGHDR_MSG_LEN: usize = offset_of!(libc::mmsghdr, msg_len);
/// `sizeof(struct iovec)`.
pub const IOVEC_LEN: usize = size_of::<libc::iovec>();
/// `sizeof(struct cmsghdr)` on 64-bit Linux: `size_t cmsg_len; int level; int type`.
pub const CMSGHDR_LEN: usize = size_of::<libc::cmsghdr>();
/// `SCM_MAX_FD`: the most descriptors one `SCM_RIGHTS` message may carry.
pub const SCM_MAX_FD: usize = 253;

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// The fields of a `struct msghdr` the supervisor uses.
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
    /// Decodes the bytes of a `struct msghdr`.
    pub fn decode(b: &[u8; MSGHDR_LEN]) -> Self {
        MsgHdr {
            name: u64_at(b, offset_of!(libc::msghdr, msg_name)),
            namelen: u32_at(b, offset_of!(libc::msghdr, msg_namelen)),
            iov: u64_at(b, offset_of!(libc::msghdr, msg_iov)),
            iovlen: u64_at(b, offset_of!(libc::msghdr, msg_iovlen)),
            control: u64_at(b, offset_of!(libc::msghdr, msg_control)),
            controllen: u64_at(b, offset_of!(libc::msghdr, msg_controllen)),
        }
    }
}

/// Decodes an array of iovecs into `(base, len)` pairs.
pub fn decode_iovecs(b: &[u8]) -> Vec<(u64, u64)> {
    b.chunks_exact(IOVEC_LEN)
        .map(|c| {
            (
                u64_at(c, offset_of!(libc::iovec, iov_base)),
                u64_at(c, offset_of!(libc::iovec, iov_len)),
            )
        })
        .collect()
}

/// One control message: its level, type, and where its data lies in the buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cmsg {
    /// `cmsg_level`.
    pub level: i32,
    /// `cmsg_type`.
    pub ty: i32,
    /// The data's byte range in the control buffer.
    pub data: std::ops::Range<usize>,
}

/// Splits ancillary data into its messages, with the kernel's checks: a header whose length
/// is shorter than a header or runs past the buffer is `EINVAL`. Trailing bytes too short for
/// a header are ignored, as the kernel ignores them.
pub fn control_messages(control: &[u8]) -> Result<Vec<Cmsg>, i32> {
    let mut out = Vec::new();
    let mut at = 0;
    while control.len() - at >= CMSGHDR_LEN {
        let len = u64_at(control, at + offset_of!(libc::cmsghdr, cmsg_len));
        if len < CMSGHDR_LEN as u64 || len > (control.len() - at) as u64 {
            return Err(libc::EINVAL);
        }
        let len = len as usize;
        out.push(Cmsg {
            level: u32_at(control, at + offset_of!(libc::cmsghdr, cmsg_level)) as i32,
            ty: u32_at(control, at + offset_of!(libc::cmsghdr, cmsg_type)) as i32,
            data: at + CMSGHDR_LEN..at + len,
        });
        // CMSG_ALIGN: the next header starts at the next multiple of 8.
        at += (len + 7) & !7;
        if at > control.len() {
            break;
        }
    }
    Ok(out)
}

/// `UDP_SEGMENT` (GSO), not in every libc.
const UDP_SEGMENT: i32 = 103;

/// Whether the supervisor passes on control message `m` with a send on a TCP or UDP socket:
/// what selects a source address, TTL/hop limit, traffic class, timestamps or segmentation.
/// Everything else is refused, in particular IPv4 options (`IP_RETOPTS`: loose source routing
/// sends the packet to the first hop instead of the checked destination), IPv6 routing
/// headers and `IPV6_NEXTHOP`, and the socket-level messages whose effect depends on the
/// sender's privileges (`SO_MARK`, `SO_PRIORITY`, credentials), which would be judged against
/// the supervisor's, not the program's.
pub fn ip_control_allowed(m: &Cmsg) -> bool {
    match m.level {
        libc::SOL_SOCKET => matches!(
            m.ty,
            libc::SO_TIMESTAMPING | libc::SO_TIMESTAMPING_NEW | libc::SCM_TXTIME
        ),
        libc::SOL_IP => matches!(m.ty, libc::IP_PKTINFO | libc::IP_TTL | libc::IP_TOS),
        libc::SOL_IPV6 => matches!(
            m.ty,
            libc::IPV6_PKTINFO
                | libc::IPV6_2292PKTINFO
                | libc::IPV6_HOPLIMIT
                | libc::IPV6_2292HOPLIMIT
                | libc::IPV6_TCLASS
                | libc::IPV6_DONTFRAG
        ),
        libc::SOL_UDP => m.ty == UDP_SEGMENT,
        _ => false,
    }
}

/// Whether control message `m` (one [`ip_control_allowed`] passes) names an outgoing
/// interface: `IP_PKTINFO`'s `ipi_ifindex` or `IPV6_PKTINFO`/`IPV6_2292PKTINFO`'s
/// `ipi6_ifindex` not 0. The kernel then sends out of that interface whatever the routing
/// table says (so a datagram to an allowed address could leave by another link, past a VPN
/// route, to another host holding the same address), the per-message form of
/// `SO_BINDTODEVICE` and `IP_UNICAST_IF`, which the static filter refuses. Index 0 leaves the
/// choice to the routing table and only picks the source address, as `bind` may. A message
/// too short to hold the index is not judged here: the kernel refuses it (`EINVAL`).
pub fn picks_interface(control: &[u8], m: &Cmsg) -> bool {
    let data = &control[m.data.clone()];
    let at = match (m.level, m.ty) {
        (libc::SOL_IP, libc::IP_PKTINFO) => offset_of!(libc::in_pktinfo, ipi_ifindex),
        (libc::SOL_IPV6, libc::IPV6_PKTINFO | libc::IPV6_2292PKTINFO) => {
            offset_of!(libc::in6_pktinfo, ipi6_ifindex)
        }
        _ => return false,
    };
    data.get(at..at + 4).is_some_and(|b| b != [0; 4])
}

/// The descriptor numbers an `SCM_RIGHTS` message carries, as the kernel counts them (whole
/// `int`s; more than `SCM_MAX_FD` (253) is `EINVAL`).
pub fn rights(control: &[u8], m: &Cmsg) -> Result<Vec<i32>, i32> {
    let fds: Vec<i32> = control[m.data.clone()]
        .chunks_exact(4)
        .map(|c| i32::from_ne_bytes(c.try_into().expect("4 bytes")))
        .collect();
    if fds.len() > SCM_MAX_FD {
        return Err(libc::EINVAL);
    }
    Ok(fds)
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

    fn all_allowed(c: &[u8]) -> Result<bool, i32> {
        Ok(control_messages(c)?.iter().all(ip_control_allowed))
    }

    #[test]
    fn control_messages_that_cannot_redirect_pass() {
        let mut c = cmsg(libc::SOL_IP, libc::IP_PKTINFO, &[0; 12]);
        c.extend(cmsg(libc::SOL_IPV6, libc::IPV6_TCLASS, &[0; 4]));
        c.extend(cmsg(libc::SOL_UDP, UDP_SEGMENT, &[0; 2]));
        assert_eq!(all_allowed(&c), Ok(true));
        assert_eq!(control_messages(&c).unwrap().len(), 3);
        assert_eq!(all_allowed(&[]), Ok(true));
    }

    #[test]
    fn routing_and_privileged_messages_are_refused() {
        for (level, ty) in [
            (libc::SOL_IP, libc::IP_RETOPTS),
            (libc::SOL_IP, libc::IP_OPTIONS),
            (libc::SOL_IPV6, libc::IPV6_RTHDR),
            (libc::SOL_IPV6, libc::IPV6_2292RTHDR),
            (libc::SOL_IPV6, libc::IPV6_NEXTHOP),
            (libc::SOL_SOCKET, libc::SCM_RIGHTS),
            (libc::SOL_SOCKET, libc::SCM_CREDENTIALS),
            (libc::SOL_SOCKET, libc::SO_MARK),
            (libc::SOL_SOCKET, libc::SO_PRIORITY),
            (132, 1),
        ] {
            let mut c = cmsg(libc::SOL_IP, libc::IP_TTL, &[64, 0, 0, 0]);
            c.extend(cmsg(level, ty, &[0; 8]));
            assert_eq!(all_allowed(&c), Ok(false), "{level}/{ty}");
        }
    }

    /// `IP_PKTINFO` and `IPV6_PKTINFO` pick the source address with index 0 and the outgoing
    /// interface with any other: the second is refused.
    #[test]
    fn pktinfo_with_an_interface_picks_it() {
        let one = 1i32.to_ne_bytes();
        let mut v4 = [0u8; 12];
        assert!(!picks_interface(
            &cmsg(libc::SOL_IP, libc::IP_PKTINFO, &v4),
            &first(&cmsg(libc::SOL_IP, libc::IP_PKTINFO, &v4))
        ));
        v4[8..12].copy_from_slice(&[127, 0, 0, 1]);
        let c = cmsg(libc::SOL_IP, libc::IP_PKTINFO, &v4);
        assert!(!picks_interface(&c, &first(&c)), "a source address alone");
        v4[..4].copy_from_slice(&one);
        let c = cmsg(libc::SOL_IP, libc::IP_PKTINFO, &v4);
        assert!(picks_interface(&c, &first(&c)));
        for ty in [libc::IPV6_PKTINFO, libc::IPV6_2292PKTINFO] {
            let mut v6 = [0u8; 20];
            let c = cmsg(libc::SOL_IPV6, ty, &v6);
            assert!(!picks_interface(&c, &first(&c)));
            v6[16..20].copy_from_slice(&one);
            let c = cmsg(libc::SOL_IPV6, ty, &v6);
            assert!(picks_interface(&c, &first(&c)), "{ty}");
            // Too short to hold the index: the kernel refuses it.
            let c = cmsg(libc::SOL_IPV6, ty, &v6[..16]);
            assert!(!picks_interface(&c, &first(&c)));
        }
        // Other messages name no interface, whatever their bytes.
        let c = cmsg(libc::SOL_IP, libc::IP_TTL, &one);
        assert!(!picks_interface(&c, &first(&c)));
    }

    fn first(c: &[u8]) -> Cmsg {
        control_messages(c).unwrap().remove(0)
    }

    #[test]
    fn malformed_lengths_are_invalid() {
        let mut c = cmsg(libc::SOL_IP, libc::IP_TTL, &[64, 0, 0, 0]);
        c[0] = 200;
        assert_eq!(control_messages(&c), Err(libc::EINVAL));
        c[0] = 3;
        assert_eq!(control_messages(&c), Err(libc::EINVAL));
    }

    #[test]
    fn rights_are_whole_ints() {
        let mut data = Vec::new();
        for fd in [3i32, 7, 9] {
            data.extend_from_slice(&fd.to_ne_bytes());
        }
        data.push(0xff);
        let c = cmsg(libc::SOL_SOCKET, libc::SCM_RIGHTS, &data);
        let m = &control_messages(&c).unwrap()[0];
        assert_eq!(rights(&c, m), Ok(vec![3, 7, 9]));
        let too_many = cmsg(
            libc::SOL_SOCKET,
            libc::SCM_RIGHTS,
            &[0; 4 * (SCM_MAX_FD + 1)],
        );
        let m = &control_messages(&too_many).unwrap()[0];
        assert_eq!(rights(&too_many, m), Err(libc::EINVAL));
    }

    /// Builds a `msghdr` in a buffer of plain integers through field writes, so every byte
    /// read back is initialised (reading a struct's padding is undefined behaviour).
    #[test]
    fn msghdr_layout_matches_libc() {
        let mut words = [0u64; MSGHDR_LEN.div_ceil(8)];
        assert!(size_of::<[u64; MSGHDR_LEN.div_ceil(8)]>() >= MSGHDR_LEN);
        let mut iov = [0u8; 4];
        let h = words.as_mut_ptr().cast::<libc::msghdr>();
        // SAFETY: `words` is large enough and 8-byte aligned for a msghdr; only fields are
        // written, through a raw pointer, so the padding keeps its zero bytes.
        unsafe {
            (*h).msg_name = 0x1111 as *mut _;
            (*h).msg_namelen = 16;
            (*h).msg_iov = iov.as_mut_ptr().cast();
            (*h).msg_iovlen = 3;
            (*h).msg_control = 0x2222 as *mut _;
            (*h).msg_controllen = 40;
        }
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
        let d = MsgHdr::decode(bytes[..MSGHDR_LEN].try_into().unwrap());
        assert_eq!(d.name, 0x1111);
        assert_eq!(d.namelen, 16);
        assert_eq!(d.iov, iov.as_ptr() as u64);
        assert_eq!(d.iovlen, 3);
        assert_eq!(d.control, 0x2222);
        assert_eq!(d.controllen, 40);
        assert_eq!(MMSGHDR_MSG_LEN, MSGHDR_LEN);
        assert_eq!(CMSGHDR_LEN, 16);
    }
}
