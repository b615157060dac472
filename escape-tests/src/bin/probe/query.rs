//! Attempts on query sockets (issue 12): the datagram sockets a policy without UDP (or
//! without a `unix:` endpoint) still lets a program make, which the supervisor makes shut
//! down so that interface requests work and nothing can be sent. Each attempt makes a
//! plain `socket(…, SOCK_DGRAM, 0)`, as Java and glibc do, and reports every step as
//! `STEP=ok` or `STEP=ERRNO`, so that one run shows the whole row and the test compares
//! it with the control's.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::{addr, check, errno_name, sockaddr, Res};

/// The attempt `name`, if it is one of these.
pub fn run(name: &str, a: &[&str]) -> Option<Res> {
    Some(match name {
        // Every way to send to a[0] (`IP:PORT`, `v4-mapped IP:PORT` for an IPv4 address
        // written as ::ffff:a.b.c.d on an IPv6 socket, or a unix path) from a datagram
        // socket: `ok ioctl=… sendto=… …`.
        "query-sends" => sends(a),
        // Joins a multicast group (which makes the kernel send IGMP or MLD) on the loopback
        // interface from a datagram socket: a[0] names the option.
        "query-join" => join(a[0]),
        _ => return None,
    })
}

/// Where the sends go: an IP address as `sockaddr` bytes and the socket's family, or a
/// unix path.
fn target(a: &[&str]) -> (i32, Vec<u8>) {
    if a[0] == "v4-mapped" {
        let std::net::SocketAddr::V4(v4) = addr(a[1]) else {
            panic!("an IPv4 address after v4-mapped")
        };
        let mapped = std::net::SocketAddr::new(v4.ip().to_ipv6_mapped().into(), v4.port());
        return (libc::AF_INET6, bytes(mapped));
    }
    if a[0].starts_with('/') {
        let mut un = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        un.extend_from_slice(a[0].as_bytes());
        un.push(0);
        return (libc::AF_UNIX, un);
    }
    let d = addr(a[0]);
    let family = if d.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    (family, bytes(d))
}

fn bytes(d: std::net::SocketAddr) -> Vec<u8> {
    let (ss, len) = sockaddr(d);
    // SAFETY: `ss` is a sockaddr_storage, valid for `len` bytes (at most its size).
    unsafe { std::slice::from_raw_parts((&ss as *const libc::sockaddr_storage).cast(), len as _) }
        .to_vec()
}

fn datagram_socket(family: i32) -> Result<OwnedFd, i32> {
    // SAFETY: socket takes integers.
    let fd = check(unsafe { libc::socket(family, libc::SOCK_DGRAM, 0) } as _)?;
    // SAFETY: a new descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `ok` or the errno's name, for one step.
fn step(ret: isize) -> String {
    if ret >= 0 {
        "ok".to_owned()
    } else {
        errno_name(super::errno())
    }
}

fn sends(a: &[&str]) -> Res {
    let (family, to) = target(a);
    let fd = datagram_socket(family)?;
    let s = fd.as_raw_fd();
    let data = b"hello";
    let mut row = Vec::new();
    // What the socket is made for: SIOCGIFINDEX of "lo".
    // SAFETY: ifreq is plain data; zero is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, c) in req.ifr_name.iter_mut().zip(b"lo") {
        *d = *c as libc::c_char;
    }
    // SAFETY: the ioctl reads the name and writes the index into `req`, which we own.
    let ret = unsafe { libc::ioctl(s, libc::SIOCGIFINDEX, &mut req) };
    row.push(format!("ioctl={}", step(ret as isize)));
    let ip = family != libc::AF_UNIX;
    if ip {
        // SO_ZEROCOPY (on the allow list): a zerocopy send pins pages and completes later.
        let one: i32 = 1;
        // SAFETY: a pointer to a local int and its size.
        let ret = unsafe {
            libc::setsockopt(
                s,
                libc::SOL_SOCKET,
                libc::SO_ZEROCOPY,
                (&one as *const i32).cast(),
                4,
            )
        };
        row.push(format!("zerocopy-opt={}", step(ret as isize)));
    }
    let name = || {
        (
            to.as_ptr() as *mut libc::c_void,
            to.len() as libc::socklen_t,
        )
    };
    // SAFETY: valid buffers of their lengths.
    let ret = unsafe {
        libc::sendto(
            s,
            data.as_ptr().cast(),
            data.len(),
            0,
            to.as_ptr().cast(),
            to.len() as _,
        )
    };
    row.push(format!("sendto={}", step(ret)));
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut _,
        iov_len: data.len(),
    };
    // SAFETY: msghdr is plain data; zero is valid.
    let mut m: libc::msghdr = unsafe { std::mem::zeroed() };
    (m.msg_name, m.msg_namelen) = name();
    m.msg_iov = &mut iov;
    m.msg_iovlen = 1;
    // SAFETY: `m` points at buffers that outlive the call.
    let ret = unsafe { libc::sendmsg(s, &m, 0) };
    row.push(format!("sendmsg={}", step(ret)));
    if ip {
        // SAFETY: as above.
        let ret = unsafe { libc::sendmsg(s, &m, libc::MSG_ZEROCOPY) };
        row.push(format!("zerocopy={}", step(ret)));
    }
    let mut mm = [
        libc::mmsghdr {
            msg_hdr: m,
            msg_len: 0,
        },
        libc::mmsghdr {
            msg_hdr: m,
            msg_len: 0,
        },
    ];
    // SAFETY: two headers pointing at buffers that outlive the call.
    let ret = unsafe { libc::sendmmsg(s, mm.as_mut_ptr(), 2, 0) };
    row.push(format!("sendmmsg={}", step(ret as isize)));
    // SAFETY: `to` is valid for its length.
    let ret = unsafe { libc::connect(s, to.as_ptr().cast(), to.len() as _) };
    row.push(format!("connect={}", step(ret as isize)));
    // SAFETY: valid buffers of their lengths.
    let ret = unsafe { libc::send(s, data.as_ptr().cast(), data.len(), 0) };
    row.push(format!("send={}", step(ret)));
    // SAFETY: as above.
    let ret = unsafe { libc::write(s, data.as_ptr().cast(), data.len()) };
    row.push(format!("write={}", step(ret)));
    // sendfile from a memfd holding the data, and splice from a pipe holding it: the
    // kernel's own copies into the socket.
    // SAFETY: a valid C string.
    let file = check(unsafe { libc::memfd_create(c"query".as_ptr(), libc::MFD_CLOEXEC) } as _)?;
    // SAFETY: our own descriptor, a valid buffer.
    check(unsafe { libc::write(file as RawFd, data.as_ptr().cast(), data.len()) } as _)?;
    let mut offset: libc::off_t = 0;
    // SAFETY: descriptors we own, a valid offset pointer.
    let ret = unsafe { libc::sendfile(s, file as RawFd, &mut offset, data.len()) };
    row.push(format!("sendfile={}", step(ret)));
    let mut pipe = [0; 2];
    // SAFETY: room for two descriptors.
    check(unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) } as _)?;
    // SAFETY: our own pipe, a valid buffer.
    check(unsafe { libc::write(pipe[1], data.as_ptr().cast(), data.len()) } as _)?;
    // SAFETY: descriptors we own, no offsets.
    let ret = unsafe {
        libc::splice(
            pipe[0],
            std::ptr::null_mut(),
            s,
            std::ptr::null_mut(),
            data.len(),
            0,
        )
    };
    row.push(format!("splice={}", step(ret)));
    // SAFETY: closing descriptors we own.
    unsafe {
        libc::close(file as RawFd);
        libc::close(pipe[0]);
        libc::close(pipe[1]);
    }
    Ok(row.join(" "))
}

/// The multicast joins: (name, level, option, value bytes), each on the loopback interface
/// (index 1).
fn join(which: &str) -> Res {
    let lo = 1u32.to_ne_bytes();
    // struct group_req: interface index, padding, sockaddr_storage with the group.
    let group_req = |family: u16, group: &[u8], at: usize| {
        let mut v = vec![0u8; 8 + 128];
        v[..4].copy_from_slice(&lo);
        v[8..10].copy_from_slice(&family.to_ne_bytes());
        v[8 + at..8 + at + group.len()].copy_from_slice(group);
        v
    };
    let v6_group = |last: u8| {
        let mut g = [0u8; 16];
        g[0] = 0xff;
        g[1] = 0x02;
        g[15] = last;
        g
    };
    let (family, level, option, value): (i32, i32, i32, Vec<u8>) = match which {
        // struct ip_mreqn: group, address (any), interface index.
        "ip-add-membership" => {
            let mut v = vec![239, 1, 2, 3, 0, 0, 0, 0];
            v.extend_from_slice(&lo);
            (libc::AF_INET, libc::IPPROTO_IP, libc::IP_ADD_MEMBERSHIP, v)
        }
        // struct ip_mreq_source: group, interface address, source.
        "ip-add-source-membership" => (
            libc::AF_INET,
            libc::IPPROTO_IP,
            libc::IP_ADD_SOURCE_MEMBERSHIP,
            vec![239, 1, 2, 4, 127, 0, 0, 1, 127, 0, 0, 1],
        ),
        "mcast-join-group" => (
            libc::AF_INET,
            libc::IPPROTO_IP,
            libc::MCAST_JOIN_GROUP,
            group_req(libc::AF_INET as u16, &[239, 1, 2, 5], 4),
        ),
        // struct ipv6_mreq: group, interface index.
        "ipv6-add-membership" => {
            let mut v = v6_group(3).to_vec();
            v.extend_from_slice(&lo);
            (
                libc::AF_INET6,
                libc::IPPROTO_IPV6,
                libc::IPV6_ADD_MEMBERSHIP,
                v,
            )
        }
        "mcast-join-group6" => (
            libc::AF_INET6,
            libc::IPPROTO_IPV6,
            libc::MCAST_JOIN_GROUP,
            group_req(libc::AF_INET6 as u16, &v6_group(4), 8),
        ),
        other => panic!("unknown join {other}"),
    };
    let fd = datagram_socket(family)?;
    // SAFETY: `value` is a valid buffer of its length.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            option,
            value.as_ptr().cast(),
            value.len() as _,
        )
    } as _)
    .map(|_| String::new())
}
