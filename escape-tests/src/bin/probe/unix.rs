//! Attempts on unix sockets by address (issue 12): stream, seqpacket and datagram
//! connects and sends to a path (`/…`, or relative to the working directory) or an abstract
//! name (`@name`), each through `connect`/`sendto` with a `sockaddr_un` built here; a
//! socket the probe binds and serves itself, and that socket's file replaced.

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
        // Changes to directory a[1] if given, binds a stream socket to a[0] and listens; a
        // forked child accepts one connection and answers "own"; the parent connects to
        // a[0]: `ok NAME own`, NAME being what getsockname says the socket is bound to.
        "unix-serve" => serve(a[0], a.get(1).copied()),
        // Binds a stream socket to a[0] and listens, then replaces the file at a[0] with
        // the socket file a[1] (a[2]: "link", a hard link to it; "rename", a[1] renamed to
        // a[0]; "symlink", a symbolic link to it) and connects to a[0]: `ok TAG` of the
        // listener reached.
        "unix-own-swap" => own_swap(a[0], a[1], a[2]),
        // Binds a datagram socket to a[0]; with a[1], replaces the file at a[0] with a hard
        // link to the socket file a[1]; another datagram socket sends "hello" to a[0]: `ok
        // hello` (what the bound socket received), or `ok sent` with a[1].
        "unix-dgram-own" => dgram_own(a[0], a.get(1).copied()),
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

/// A stream socket bound to `target` and listening.
fn listening(target: &str) -> Result<OwnedFd, i32> {
    let fd = socket(libc::SOCK_STREAM)?;
    let a = address(target);
    // SAFETY: `a` is a valid buffer of its length; listen takes integers.
    check(unsafe { libc::bind(fd.as_raw_fd(), a.as_ptr().cast(), a.len() as _) } as _)?;
    // SAFETY: listen on our own socket.
    check(unsafe { libc::listen(fd.as_raw_fd(), 8) } as _)?;
    Ok(fd)
}

/// What `getsockname` says `fd` is bound to: a path, or `@name`.
fn bound_name(fd: &OwnedFd) -> Result<String, i32> {
    // SAFETY: sockaddr_un is plain data; zero is valid.
    let mut a: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // SAFETY: `a` is writable for `len` bytes.
    check(unsafe {
        libc::getsockname(
            fd.as_raw_fd(),
            (&mut a as *mut libc::sockaddr_un).cast(),
            &mut len,
        )
    } as _)?;
    let path: Vec<u8> = a.sun_path[..(len as usize).saturating_sub(2)]
        .iter()
        .map(|&c| c as u8)
        .collect();
    Ok(match path.split_first() {
        Some((0, name)) => format!("@{}", String::from_utf8_lossy(name)),
        _ => {
            String::from_utf8_lossy(path.split(|&b| b == 0).next().unwrap_or_default()).into_owned()
        }
    })
}

fn serve(target: &str, chdir: Option<&str>) -> Res {
    if let Some(dir) = chdir {
        std::env::set_current_dir(dir).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
    }
    let listener = listening(target)?;
    let name = bound_name(&listener)?;
    // SAFETY: the probe is single-threaded here; the child only accepts, writes and exits.
    let child = check(unsafe { libc::fork() } as _)? as libc::pid_t;
    if child == 0 {
        // SAFETY: accept on the inherited listener, a write from a static buffer, _exit.
        unsafe {
            let c = libc::accept(
                listener.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
            if c >= 0 {
                libc::write(c, b"own".as_ptr().cast(), 3);
            }
            libc::_exit(0);
        }
    }
    drop(listener);
    let reached = connect_read(target, libc::SOCK_STREAM);
    if reached.is_err() {
        // SAFETY: our own child, blocked in accept.
        unsafe { libc::kill(child, libc::SIGKILL) };
    }
    // SAFETY: reaps our own child.
    unsafe { libc::waitpid(child, std::ptr::null_mut(), 0) };
    Ok(format!("{name} {}", reached?))
}

fn own_swap(path: &str, other: &str, how: &str) -> Res {
    let io = |e: std::io::Error| e.raw_os_error().unwrap_or(libc::EIO);
    let _listener = listening(path)?;
    match how {
        "link" => {
            std::fs::remove_file(path).map_err(io)?;
            std::fs::hard_link(other, path).map_err(io)?;
        }
        "rename" => std::fs::rename(other, path).map_err(io)?,
        "symlink" => {
            std::fs::remove_file(path).map_err(io)?;
            std::os::unix::fs::symlink(other, path).map_err(io)?;
        }
        _ => return Err(libc::EINVAL),
    }
    connect_read(path, libc::SOCK_STREAM)
}

fn dgram_own(path: &str, other: Option<&str>) -> Res {
    let io = |e: std::io::Error| e.raw_os_error().unwrap_or(libc::EIO);
    let bound = socket(libc::SOCK_DGRAM)?;
    let a = address(path);
    // SAFETY: `a` is a valid buffer of its length.
    check(unsafe { libc::bind(bound.as_raw_fd(), a.as_ptr().cast(), a.len() as _) } as _)?;
    if let Some(other) = other {
        std::fs::remove_file(path).map_err(io)?;
        std::fs::hard_link(other, path).map_err(io)?;
    }
    let sender = socket(libc::SOCK_DGRAM)?;
    // SAFETY: every buffer is ours and valid for its length.
    check(unsafe {
        libc::sendto(
            sender.as_raw_fd(),
            b"hello".as_ptr().cast(),
            5,
            0,
            a.as_ptr().cast(),
            a.len() as _,
        )
    } as _)?;
    if other.is_some() {
        return Ok("sent".into());
    }
    let mut buf = [0u8; 16];
    // SAFETY: reads into our buffer, without waiting.
    let n = check(unsafe {
        libc::recv(
            bound.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
        )
    } as _)?;
    Ok(String::from_utf8_lossy(&buf[..n as usize]).into_owned())
}
