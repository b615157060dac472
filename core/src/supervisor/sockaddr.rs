//! Decoding a socket address copied out of a sandboxed process.
//!
//! Pure functions over bytes, so they can be fuzzed. The errno values are the ones the
//! kernel gives for the same input, so a sandboxed program sees no difference.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// The largest address the kernel accepts (`sizeof(struct sockaddr_storage)`).
pub const MAX_SOCKADDR_LEN: usize = 128;

const SOCKADDR_IN_LEN: usize = 16;
/// RFC 2133 `sockaddr_in6` without `sin6_scope_id`; the kernel accepts it.
const SOCKADDR_IN6_MIN_LEN: usize = 24;

/// A destination named by a `connect`/`sendto`/`sendmsg` address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination {
    /// `AF_UNSPEC`: dissolve the association (a disconnect, not a destination).
    Unspec,
    /// An IPv4 or IPv6 destination, as written (not yet canonicalised).
    Inet(SocketAddr),
    /// Another address family.
    Other(u16),
}

/// Checks an address length the way `move_addr_to_kernel` does: negative or larger than
/// `sockaddr_storage` is `EINVAL`.
pub fn check_len(len: u64) -> Result<usize, i32> {
    // socklen_t is 32 bits; the kernel reads it as an int.
    let len = len as u32 as i32;
    if len < 0 || len as usize > MAX_SOCKADDR_LEN {
        return Err(libc::EINVAL);
    }
    Ok(len as usize)
}

/// Decodes `bytes` (exactly the `addrlen` bytes the program passed). Errors are errno
/// values: `EINVAL` for an address too short for its family.
pub fn decode(bytes: &[u8]) -> Result<Destination, i32> {
    if bytes.len() < 2 {
        return Err(libc::EINVAL);
    }
    let family = u16::from_ne_bytes([bytes[0], bytes[1]]);
    match family as i32 {
        libc::AF_UNSPEC => Ok(Destination::Unspec),
        libc::AF_INET => {
            if bytes.len() < SOCKADDR_IN_LEN {
                return Err(libc::EINVAL);
            }
            let port = u16::from_be_bytes([bytes[2], bytes[3]]);
            let ip = Ipv4Addr::new(bytes[4], bytes[5], bytes[6], bytes[7]);
            Ok(Destination::Inet(SocketAddr::V4(SocketAddrV4::new(
                ip, port,
            ))))
        }
        libc::AF_INET6 => {
            if bytes.len() < SOCKADDR_IN6_MIN_LEN {
                return Err(libc::EINVAL);
            }
            let port = u16::from_be_bytes([bytes[2], bytes[3]]);
            let flowinfo = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&bytes[8..24]);
            let scope_id = match bytes.get(24..28) {
                Some(s) => u32::from_ne_bytes([s[0], s[1], s[2], s[3]]),
                None => 0,
            };
            let ip = Ipv6Addr::from(octets);
            Ok(Destination::Inet(SocketAddr::V6(SocketAddrV6::new(
                ip, port, flowinfo, scope_id,
            ))))
        }
        _ => Ok(Destination::Other(family)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sin(ip: [u8; 4], port: u16) -> Vec<u8> {
        let mut b = vec![0u8; 16];
        b[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        b[2..4].copy_from_slice(&port.to_be_bytes());
        b[4..8].copy_from_slice(&ip);
        b
    }

    #[test]
    fn decodes_ipv4() {
        assert_eq!(
            decode(&sin([127, 0, 0, 2], 443)),
            Ok(Destination::Inet("127.0.0.2:443".parse().unwrap()))
        );
        assert_eq!(decode(&sin([127, 0, 0, 2], 443)[..15]), Err(libc::EINVAL));
    }

    #[test]
    fn decodes_ipv6_with_and_without_scope() {
        let mut b = vec![0u8; 28];
        b[..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
        b[2..4].copy_from_slice(&80u16.to_be_bytes());
        b[8..24].copy_from_slice(&"::ffff:127.0.0.3".parse::<Ipv6Addr>().unwrap().octets());
        let d = decode(&b).unwrap();
        assert_eq!(d, decode(&b[..24]).unwrap());
        match d {
            Destination::Inet(SocketAddr::V6(a)) => {
                assert_eq!(a.ip().to_ipv4_mapped(), Some(Ipv4Addr::new(127, 0, 0, 3)));
                assert_eq!(a.port(), 80);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(decode(&b[..23]), Err(libc::EINVAL));
    }

    #[test]
    fn short_unspec_and_other() {
        assert_eq!(decode(&[]), Err(libc::EINVAL));
        assert_eq!(decode(&[0]), Err(libc::EINVAL));
        assert_eq!(decode(&[0, 0]), Ok(Destination::Unspec));
        let unix = (libc::AF_UNIX as u16).to_ne_bytes();
        assert_eq!(decode(&unix), Ok(Destination::Other(1)));
    }

    #[test]
    fn length_check_matches_the_kernel() {
        assert_eq!(check_len(128), Ok(128));
        assert_eq!(check_len(129), Err(libc::EINVAL));
        assert_eq!(check_len(0xffff_ffff), Err(libc::EINVAL));
        assert_eq!(
            check_len(0x1_0000_0010),
            Ok(16),
            "upper bits of the register are ignored"
        );
    }
}
