//! Attempts on unix sockets by address (issue 12): stream, seqpacket and datagram
//! connects and sends to a path (`/…`, or relative to the working directory) or an abstract
//! name (`@name`), each through `connect`/`sendto` with a `sockaddr_un` built here.

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::{check, Res};

/// The attempt `name`, if it is one of these.
pub fn run(name: &str, a: &[&str]) -> Option<Res> {
    Some(match name {
        // Connect and read the listener's tag: `ok TAG`.
        "unix-stream" => connect_read(a[0], libc::SOCK_STREAM),
        "unix-seqpacket" => connect_read(a[0], libc::SOCK_SEQPACKET),
        // N connects, each reading the tag of the listener it reached: `ok TAG=N … ERRNO=N`.
        "unix-many" => many(a[0], a[1].parse().expect("a count")),
        // An unbound datagram socket sends "hello" to the address with sendto.
        "unix-dgram-sendto" => dgram_sendto(a[0]),
        // The same with sendmsg.
        "unix-dgram-sendmsg" => dgram_sendmsg(a[0]),
        // connect, then send without an address.
        "unix-dgram-connect" => dgram_connect_send(a[0]),
        // Moves the socket at a[0] aside (to a[0].old), puts a symbolic link to a[1] in its
        // place, and connects to a[0]: `ok TAG` of the listener reached.
        "unix-swap-connect" => swap_connect(a[0], a[1]),
        _ => return None,
    })
}

/// `sockaddr_un` for `/path`, `relative/path` or `@abstract`.
fn address(target: &str) -> Vec<u8> {
    let mut a = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
    match target.strip_prefix('@') {
        Some(name) => {
            a.push(0);
            a.extend_from_slice(name.as_bytes());
        }
        None => {
            a.extend_from_slice(target.as_bytes());
            a.push(0);
        }
    }
    a
}

fn socket(ty: i32) -> Result<OwnedFd, i32> {
    // SAFETY: socket takes integers.
    let fd = check(unsafe { libc::socket(libc::AF_UNIX, ty | libc::SOCK_CLOEXEC, 0) } as _)?;
    // SAFETY: a new descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn connect(fd: &OwnedFd, target: &str) -> Result<(), i32> {
    let a = address(target);
    // SAFETY: `a` is a valid buffer of its length.
    check(unsafe { libc::connect(fd.as_raw_fd(), a.as_ptr().cast(), a.len() as _) } as _)
        .map(|_| ())
}

fn connect_read(target: &str, ty: i32) -> Res {
    let fd = socket(ty)?;
    connect(&fd, target)?;
    let mut buf = [0u8; 64];
    // SAFETY: reads into our buffer.
    let n = check(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } as _)?;
    Ok(String::from_utf8_lossy(&buf[..n as usize]).into_owned())
}

fn many(target: &str, n: usize) -> Res {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..n {
        let key = match connect_read(target, libc::SOCK_STREAM) {
            Ok(tag) => tag,
            Err(e) => super::errno_name(e),
        };
        *counts.entry(key).or_default() += 1;
    }
    Ok(counts
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" "))
}

fn dgram_sendto(target: &str) -> Res {
    let fd = socket(libc::SOCK_DGRAM)?;
    let a = address(target);
    // SAFETY: every buffer is ours and valid for its length.
    check(unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            b"hello".as_ptr().cast(),
            5,
            0,
            a.as_ptr().cast(),
            a.len() as _,
        )
    } as _)
    .map(|_| String::new())
}

fn dgram_sendmsg(target: &str) -> Res {
    let fd = socket(libc::SOCK_DGRAM)?;
    let a = address(target);
    let mut iov = libc::iovec {
        iov_base: b"hello".as_ptr() as *mut _,
        iov_len: 5,
    };
    // SAFETY: msghdr is plain data; zero is valid for every field.
    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
    hdr.msg_name = a.as_ptr() as *mut _;
    hdr.msg_namelen = a.len() as _;
    hdr.msg_iov = &mut iov;
    hdr.msg_iovlen = 1;
    // SAFETY: every pointer in `hdr` points at live buffers of ours.
    check(unsafe { libc::sendmsg(fd.as_raw_fd(), &hdr, 0) } as _).map(|_| String::new())
}

fn dgram_connect_send(target: &str) -> Res {
    let fd = socket(libc::SOCK_DGRAM)?;
    connect(&fd, target)?;
    // SAFETY: writes from a static buffer.
    check(unsafe { libc::send(fd.as_raw_fd(), b"hello".as_ptr().cast(), 5, 0) } as _)
        .map(|_| String::new())
}

fn swap_connect(path: &str, other: &str) -> Res {
    let io = |e: std::io::Error| e.raw_os_error().unwrap_or(libc::EIO);
    std::fs::rename(path, format!("{path}.old")).map_err(io)?;
    std::os::unix::fs::symlink(other, path).map_err(io)?;
    connect_read(path, libc::SOCK_STREAM)
}
