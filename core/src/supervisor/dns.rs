//! DNS to the sandbox's answerer ([`crate::answerer`]): a `connect`, or a UDP send, to
//! `SENTINEL:53` on one of the program's TCP or UDP sockets. The socket, in the machine's
//! network namespace, could only reach whatever listens on that address there; it is
//! replaced, under the same fd number, by a socket the answerer's helper made in the
//! answerer's namespace (connected to the answerer for a `connect`), with the original's
//! `O_NONBLOCK` and close-on-exec flags. A socket already in that namespace is used as it is.
//!
//! What is lost with the old socket: its options and its binding. Its `epoll` registrations
//! (tokio registers a `UdpSocket` at `bind`, before the first `send_to`) belonged to the old
//! file and go with it; the supervisor adds the new socket to the same instances with the
//! same events and data (`epoll.rs`), after which the program's own `EPOLL_CTL_MOD`/`DEL`
//! of that fd fails with `ENOENT`. See `docs/ARCHITECTURE.md`.

use std::os::fd::{AsRawFd, OwnedFd};

use super::call::{fail, performed, Call, Context, Outcome};
use super::epoll;
use super::sockaddr::{self, Destination};
use super::socket::{Socket, SocketKind};
use crate::answerer;
use crate::policy::{Policy, Protocol};
use crate::report::{Layer, Operation, Reason, Remedy, Reporter, Violation};
use crate::sys;

/// Whether `name` (a socket address as copied) is the answerer's and `socket` a TCP or UDP
/// socket, with an answerer running: the call goes to the answerer.
pub fn to_answerer(socket: &Socket, name: &[u8]) -> bool {
    if answerer::get().is_none() || !matches!(socket.kind, SocketKind::Ip(_)) {
        return false;
    }
    matches!(sockaddr::decode(name), Ok(Destination::Inet(d)) if answerer::is_sentinel(d))
}

/// Whether a send naming `name` on `socket` goes to the answerer: a UDP socket, the
/// answerer's address, an answerer running. (A TCP send's address is the kernel's to
/// ignore; it is judged as usual.)
pub fn send_to_answerer(socket: &Socket, name: &[u8]) -> bool {
    socket.kind == SocketKind::Ip(Protocol::Udp) && to_answerer(socket, name)
}

/// `connect(fd, SENTINEL:53)`: the socket is replaced by one connected to the answerer.
/// `None` for any other connect.
pub fn connect(cx: &Context<'_>, call: &Call, socket: &Socket, name: &[u8]) -> Option<Outcome> {
    if !to_answerer(socket, name) {
        return None;
    }
    let a = answerer::get()?;
    let SocketKind::Ip(proto) = socket.kind else {
        return None;
    };
    log(cx, call, Operation::Connect, proto, name);
    if a.owns(socket.fd.as_raw_fd()) {
        // Already in the answerer's namespace: connect it there (UDP; a TCP socket is only
        // ever handed over connected, and a second connect fails as the kernel says).
        // SAFETY: `name` is our own copy, valid for its length.
        let ret = unsafe {
            libc::connect(
                socket.fd.as_raw_fd(),
                name.as_ptr().cast(),
                name.len() as libc::socklen_t,
            )
        };
        return Some(performed(ret));
    }
    let v6 = is_v6(socket);
    Some(
        a.socket(v6, proto == Protocol::Tcp, true)
            .map_err(|e| super::call::Halt::Errno(e.raw_os_error().unwrap_or(libc::EIO)))
            .and_then(|new| {
                a.note(new.as_raw_fd(), proto == Protocol::Tcp, call.tid);
                replace(cx, call, socket, new).map(drop)
            })
            .map(|()| 0),
    )
}

/// A UDP send to `name`: `Ok(Some(socket))` to send on instead of `socket` (the replacement,
/// already installed in the caller, or `socket` itself when it is the answerer's already);
/// `Ok(None)` when the send is not to the answerer.
pub fn send(
    cx: &Context<'_>,
    call: &Call,
    socket: &Socket,
    name: &[u8],
) -> Outcome<Option<Socket>> {
    if !send_to_answerer(socket, name) {
        return Ok(None);
    }
    let Some(a) = answerer::get() else {
        return Ok(None);
    };
    log(cx, call, Operation::Send, Protocol::Udp, name);
    if a.owns(socket.fd.as_raw_fd()) {
        let fd = socket.fd.try_clone().or_else(|_| fail(libc::EIO))?;
        return Ok(Some(Socket {
            fd,
            kind: socket.kind.clone(),
        }));
    }
    let new = a
        .socket(is_v6(socket), false, false)
        .or_else(|e| fail(e.raw_os_error().unwrap_or(libc::EIO)))?;
    a.note(new.as_raw_fd(), false, call.tid);
    replace(cx, call, socket, new).map(Some)
}

/// `bind` of a UDP socket under a policy whose only UDP destination is the answerer (names,
/// no UDP endpoint, enforce mode): whatever the socket sends can only ever go to the
/// answerer, so it is replaced *now* by an unbound UDP socket in the answerer's namespace,
/// which is bound there to the address asked for (any port: nothing but the answerer can
/// reach that namespace, so a fixed port serves nobody). A runtime that registers the
/// socket with `epoll` after `bind` and before its first send (tokio, so hickory-resolver)
/// then registers the socket that will carry the query. `None` otherwise (the usual checks).
pub fn bind(cx: &Context<'_>, call: &Call, socket: &Socket, name: &[u8]) -> Option<Outcome> {
    let a = answerer::get()?;
    if socket.kind != SocketKind::Ip(Protocol::Udp)
        || cx.policy.has_udp()
        || cx.policy.options().mode != crate::policy::Mode::Enforce
        || a.owns(socket.fd.as_raw_fd())
    {
        return None;
    }
    let Ok(Destination::Inet(_)) = sockaddr::decode(name) else {
        return None;
    };
    let new = match a.unbound_udp(is_v6(socket)) {
        Ok(s) => s,
        Err(e) => return Some(fail(e.raw_os_error().unwrap_or(libc::EIO))),
    };
    // SAFETY: `name` is our own copy, valid for its length.
    let ret = unsafe {
        libc::bind(
            new.as_raw_fd(),
            name.as_ptr().cast(),
            name.len() as libc::socklen_t,
        )
    };
    if ret != 0 {
        return Some(performed(ret));
    }
    a.note(new.as_raw_fd(), false, call.tid);
    Some(replace(cx, call, socket, new).map(|_| 0))
}

/// Installs `new` in the caller under the number of the call's fd argument, with the old
/// socket's status flags and close-on-exec flag, and adds it to the caller's epoll
/// instances that held the old socket under that number, as the old one was
/// ([`epoll`]: best effort, never a failure of the call).
fn replace(cx: &Context<'_>, call: &Call, old: &Socket, new: OwnedFd) -> Outcome<Socket> {
    let target = call.args[0] as i32;
    // SAFETY: fcntl on descriptors we own.
    let nonblock = unsafe { libc::fcntl(old.fd.as_raw_fd(), libc::F_GETFL) } & libc::O_NONBLOCK;
    if nonblock != 0 {
        // SAFETY: fcntl on a descriptor we own.
        unsafe {
            let fl = libc::fcntl(new.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(new.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
        }
    }
    let cloexec = cloexec_of(call.tid, target);
    // The program's epoll items of the old socket, which the swap removes (`epoll.rs`).
    let registered = epoll::find(call.tid, target, &old.fd);
    // Also confirms that the epoll instances found came from the caller.
    cx.still_pending(call)?;
    sys::notif_addfd_setfd(cx.listener, call.id, new.as_raw_fd(), target, cloexec).or_else(
        |e| match e.raw_os_error() {
            Some(libc::ENOENT) => Err(super::call::Halt::Gone),
            errno => fail(errno.unwrap_or(libc::EIO)),
        },
    )?;
    registered.carry(&new);
    Ok(Socket {
        fd: new,
        kind: old.kind.clone(),
    })
}

/// Whether the caller's fd `fd` is close-on-exec (`/proc/TID/fdinfo`); true when that
/// cannot be read (a DNS socket that outlives an `exec` is the surprise to avoid).
fn cloexec_of(tid: libc::pid_t, fd: i32) -> bool {
    sys::read_small_file(&format!("/proc/{tid}/fdinfo/{fd}"))
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
        })
        .is_none_or(|flags| flags & libc::O_CLOEXEC as u32 != 0)
}

/// Whether `socket` is an IPv6 socket.
fn is_v6(socket: &Socket) -> bool {
    sys::getsockopt_int(socket.fd.as_raw_fd(), libc::SO_DOMAIN).is_ok_and(|d| d == libc::AF_INET6)
}

/// Logs the call as allowed (when the log asks for allowed decisions).
fn log(cx: &Context<'_>, call: &Call, op: Operation, proto: Protocol, name: &[u8]) {
    if let Ok(Destination::Inet(d)) = sockaddr::decode(name) {
        cx.log_allowed(call, op, proto, d);
    }
}

/// Reports a query the answerer answered with NXDOMAIN: a refusal naming the name, with
/// the entry that would allow it (`NAME:PORT`; the port is the program's to know). No
/// destination is given, so the line (and `--learn`) never suggests the answerer's
/// address itself.
pub fn report_unknown(_policy: &Policy, reporter: &Reporter, u: answerer::Unknown<'_>) {
    let (pid, tid) = match u.tid {
        Some(tid) => (sys::thread_group_of(tid).unwrap_or(tid), tid),
        None => (0, 0),
    };
    let command = if pid == 0 {
        "?".to_owned()
    } else {
        super::call::name_of(pid)
    };
    let thread = if tid == pid {
        command.clone()
    } else {
        super::call::name_of(tid)
    };
    let protocol = if u.tcp { Protocol::Tcp } else { Protocol::Udp };
    let v = Violation {
        pid,
        command,
        tid,
        thread,
        operation: Operation::Send,
        protocol: Some(protocol),
        socket: None,
        destination: None,
        reason: Reason::NotAllowedNamed(format!(
            "a DNS query for {}, which is no allowed name (the sandbox answered NXDOMAIN)",
            u.name
        )),
        remedy: Remedy::Add(format!("{}:PORT", u.name)),
        // Refused in audit mode too: the answerer has nothing else to answer with.
        audit_only: false,
        layer: Layer::Supervisor,
    };
    reporter.report(v);
}
