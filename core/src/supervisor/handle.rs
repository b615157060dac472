//! What the supervisor does with one notification.
//!
//! The rule that makes this race-free: the supervisor copies the address out of the
//! sandboxed process **once**, decides on that copy, and performs the system call itself on a
//! duplicate of the process's socket with that same copy. The kernel never re-reads the
//! process's memory for a checked call (`SECCOMP_USER_NOTIF_FLAG_CONTINUE` is never used), so
//! rewriting the address from another thread after the check changes nothing.
//!
//! Every failure closes: an address that cannot be read, a socket that cannot be inspected,
//! a call the supervisor does not expect, all get an error, never the call.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::sendmsg;
use super::sockaddr::{self, Destination};
use crate::policy::{Mode, Policy, Protocol, ReportTo};
use crate::report::{self, Operation, Reason, Violation};
use crate::sys;

/// The answer to a notification: the call's return value or an errno, or `None` when the
/// notification is no longer pending (the task died or was interrupted) and needs no answer.
pub type Reply = Option<Result<i64, i32>>;

/// What a handler needs besides the notification.
pub struct Context<'a> {
    /// The listener fd, to check that a notification is still pending.
    pub listener: RawFd,
    /// The policy.
    pub policy: &'a Policy,
}

/// A call made by a sandboxed task, as the notification describes it.
pub struct Call {
    /// Notification id.
    pub id: u64,
    /// Thread id of the caller.
    pub pid: libc::pid_t,
    /// System call number.
    pub nr: i64,
    /// Arguments.
    pub args: [u64; 6],
}

impl Call {
    /// From a received notification.
    pub fn from_notif(n: &libc::seccomp_notif) -> Self {
        Call {
            id: n.id,
            pid: n.pid as libc::pid_t,
            nr: n.data.nr as i64,
            args: n.data.args,
        }
    }
}

/// Answers one call.
pub fn handle(cx: &Context<'_>, call: &Call) -> Reply {
    match call.nr {
        libc::SYS_connect => connect(cx, call),
        libc::SYS_sendto => sendto(cx, call),
        libc::SYS_sendmsg => sendmsg::sendmsg(cx, call),
        libc::SYS_sendmmsg => sendmsg::sendmmsg(cx, call),
        libc::SYS_bind => bind(cx, call),
        // The compiled program notifies nothing else; refuse whatever it is.
        _ => Some(Err(libc::EACCES)),
    }
}

/// A socket of the sandboxed process, duplicated into the supervisor.
pub struct Socket {
    /// The duplicate: same open file description as the process's fd.
    pub fd: OwnedFd,
    /// TCP or UDP over IPv4/IPv6, or the reason it is neither.
    pub kind: Result<Protocol, String>,
    /// The fd is not a socket at all. `connect` reports that after checking the address,
    /// the send calls before; each handler answers `ENOTSOCK` at its point.
    pub not_a_socket: bool,
}

thread_local! {
    /// This receiver thread's last pidfd: `(tid, pidfd of that very thread)`. Consecutive
    /// calls usually come from the same thread, and opening and closing a pidfd costs more
    /// than the rest of the check.
    static LAST_PIDFD: std::cell::RefCell<Option<(libc::pid_t, OwnedFd)>> =
        const { std::cell::RefCell::new(None) };
}

/// Duplicates fd `fd` of the caller, after confirming the notification still refers to the
/// same task (so the PID was not reused). `Err(None)` means "no reply needed".
///
/// A cached pidfd is used only if it names the thread itself (`PIDFD_THREAD`): while that
/// thread lives it owns its TID, so a notification from that TID is from it; once it is
/// gone `pidfd_getfd` fails with `ESRCH` and a fresh pidfd is opened.
pub fn take_socket(cx: &Context<'_>, call: &Call, fd: RawFd) -> Result<Socket, Option<i32>> {
    let cached = LAST_PIDFD.with_borrow(|last| match last {
        Some((tid, pidfd)) if *tid == call.pid => sys::pidfd_getfd(pidfd, fd).ok(),
        _ => None,
    });
    let dup = match cached {
        Some(dup) => dup,
        None => {
            let (pidfd, names_thread) =
                sys::pidfd_open_thread(call.pid).map_err(|e| uninspectable(cx, call, &e))?;
            // The pidfd names whatever task has this TID now; the notification is still
            // pending only if that is the caller.
            if !sys::notif_id_valid(cx.listener, call.id) {
                return Err(None);
            }
            let dup = match sys::pidfd_getfd(&pidfd, fd) {
                Ok(dup) => dup,
                Err(e) if e.raw_os_error() == Some(libc::EBADF) => return Err(Some(libc::EBADF)),
                Err(e) => return Err(uninspectable(cx, call, &e)),
            };
            if names_thread {
                LAST_PIDFD.set(Some((call.pid, pidfd)));
            }
            dup
        }
    };
    // Still pending: the duplicate comes from the caller, not from a task that exited and
    // left its TID to another.
    if !sys::notif_id_valid(cx.listener, call.id) {
        return Err(None);
    }
    let (kind, not_a_socket) = match socket_kind(dup.as_raw_fd()) {
        Ok(kind) => (kind, false),
        Err(libc::ENOTSOCK) => (Err("non-socket".to_owned()), true),
        Err(errno) => return Err(Some(errno)),
    };
    Ok(Socket {
        fd: dup,
        kind,
        not_a_socket,
    })
}

/// `Err(ENOTSOCK)` for a non-socket, else TCP/UDP or a description of the other kind.
fn socket_kind(fd: RawFd) -> Result<Result<Protocol, String>, i32> {
    let domain = sys::getsockopt_int(fd, libc::SO_DOMAIN).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOTSOCK) => libc::ENOTSOCK,
        _ => libc::EACCES,
    })?;
    let ty = sys::getsockopt_int(fd, libc::SO_TYPE).map_err(|_| libc::EACCES)?;
    let proto = sys::getsockopt_int(fd, libc::SO_PROTOCOL).map_err(|_| libc::EACCES)?;
    if domain != libc::AF_INET && domain != libc::AF_INET6 {
        return Ok(Err(match domain {
            libc::AF_UNIX => "unix".to_owned(),
            libc::AF_NETLINK => "netlink".to_owned(),
            libc::AF_PACKET => "packet".to_owned(),
            d => format!("address family {d}"),
        }));
    }
    Ok(match (ty, proto) {
        (libc::SOCK_STREAM, libc::IPPROTO_TCP) => Ok(Protocol::Tcp),
        (libc::SOCK_DGRAM, libc::IPPROTO_UDP) => Ok(Protocol::Udp),
        (libc::SOCK_STREAM, libc::IPPROTO_MPTCP) => Err("MPTCP".to_owned()),
        (libc::SOCK_STREAM, libc::IPPROTO_SCTP) | (libc::SOCK_SEQPACKET, _) => {
            Err("SCTP".to_owned())
        }
        (libc::SOCK_RAW, _) => Err("raw".to_owned()),
        (t, p) => Err(format!("type {t} protocol {p}")),
    })
}

/// The supervisor could not look at the caller (`e`): no reply if the task is gone,
/// otherwise the call is refused with `EACCES` and reported, since nobody can know what it
/// would have done.
fn uninspectable(cx: &Context<'_>, call: &Call, e: &std::io::Error) -> Option<i32> {
    if !sys::notif_id_valid(cx.listener, call.id) {
        return None;
    }
    let v = Violation {
        pid: call.pid,
        command: command_of(call.pid),
        operation: operation_of(call),
        protocol: None,
        destination: None,
        reason: Reason::Uninspectable(e.raw_os_error().unwrap_or(libc::EIO)),
        audit_only: false,
    };
    report::deliver(&v, cx.policy.options().report == ReportTo::Stderr);
    Some(libc::EACCES)
}

fn operation_of(call: &Call) -> Operation {
    match call.nr {
        libc::SYS_connect => Operation::Connect,
        libc::SYS_bind => Operation::Bind,
        _ => Operation::Send,
    }
}

/// Copies `buf.len()` bytes at `ptr` out of the caller. `EFAULT` as the kernel would give
/// it; any other failure is [`uninspectable`].
pub fn read_memory(
    cx: &Context<'_>,
    call: &Call,
    ptr: u64,
    buf: &mut [u8],
) -> Result<(), Option<i32>> {
    sys::read_process_memory(call.pid, ptr, buf).map_err(|e| match e.raw_os_error() {
        Some(libc::EFAULT) => Some(libc::EFAULT),
        _ => uninspectable(cx, call, &e),
    })
}

/// Copies the caller's address argument (`ptr`, `len`) once. Errors are errnos as the
/// kernel would give them, or `None` if the task is gone.
pub fn copy_address(
    cx: &Context<'_>,
    call: &Call,
    ptr: u64,
    len: u64,
) -> Result<Vec<u8>, Option<i32>> {
    let len = sockaddr::check_len(len).map_err(Some)?;
    let mut buf = vec![0u8; len];
    read_memory(cx, call, ptr, &mut buf)?;
    Ok(buf)
}

/// The verdict on a destination for a socket: `Ok(())` to go ahead, or the reason to refuse.
pub fn judge(
    cx: &Context<'_>,
    call: &Call,
    op: Operation,
    socket: &Socket,
    dest: Option<SocketAddr>,
) -> Result<(), i32> {
    let violation = |protocol, reason| Violation {
        pid: call.pid,
        command: command_of(call.pid),
        operation: op,
        protocol,
        destination: dest,
        reason,
        audit_only: cx.policy.options().mode == Mode::Audit,
    };
    let v = match (&socket.kind, dest) {
        (Err(kind), _) => violation(None, Reason::SocketKind(kind.clone())),
        (Ok(proto), Some(d)) => match cx.policy.permits(*proto, d) {
            Some(_) => return Ok(()),
            None => violation(Some(*proto), Reason::NotAllowed),
        },
        (Ok(_), None) => return Ok(()),
    };
    report::deliver(&v, cx.policy.options().report == ReportTo::Stderr);
    if v.audit_only {
        Ok(())
    } else {
        Err(libc::EACCES)
    }
}

/// The caller's command name, with control characters replaced: the sandboxed program
/// chooses its name, and the line goes to a terminal.
fn command_of(pid: libc::pid_t) -> String {
    sys::read_small_file(&format!("/proc/{pid}/comm"))
        .map(|c| {
            c.chars()
                .map(|ch| if ch.is_control() { '?' } else { ch })
                .collect()
        })
        .unwrap_or_else(|| "?".to_owned())
}

/// For `connect(fd, addr, len)` and `bind(fd, addr, len)`: the duplicated socket and our
/// copy of the address, with the kernel's errors in the kernel's order (`EBADF`, then the
/// address, then `ENOTSOCK`).
fn socket_and_address(cx: &Context<'_>, call: &Call) -> Result<(Socket, Vec<u8>), Reply> {
    let socket = take_socket(cx, call, call.args[0] as i32).map_err(|r| r.map(Err))?;
    let addr = copy_address(cx, call, call.args[1], call.args[2]).map_err(|r| r.map(Err))?;
    if socket.not_a_socket {
        return Err(Some(Err(libc::ENOTSOCK)));
    }
    Ok((socket, addr))
}

/// `connect(fd, addr, len)`.
fn connect(cx: &Context<'_>, call: &Call) -> Reply {
    let (socket, addr) = match socket_and_address(cx, call) {
        Ok(both) => both,
        Err(reply) => return reply,
    };
    let dest = match sockaddr::decode(&addr) {
        Ok(d) => d,
        Err(errno) => return Some(Err(errno)),
    };
    let checked = match dest {
        // Dissolving an association reaches nobody; the next connect is checked again.
        Destination::Unspec => socket.kind.as_ref().map(|_| ()).map_err(|_| libc::EACCES),
        Destination::Inet(d) => judge(cx, call, Operation::Connect, &socket, Some(d)),
        Destination::Other(_) => match socket.kind {
            Ok(_) => Err(libc::EAFNOSUPPORT),
            Err(_) => judge(cx, call, Operation::Connect, &socket, None),
        },
    };
    if let Err(errno) = checked {
        return Some(Err(errno));
    }
    // SAFETY: `addr` is our own copy, valid for `addr.len()` bytes.
    let ret = unsafe {
        libc::connect(
            socket.fd.as_raw_fd(),
            addr.as_ptr().cast(),
            addr.len() as libc::socklen_t,
        )
    };
    Some(if ret == 0 { Ok(0) } else { Err(sys::errno()) })
}

/// `bind(fd, addr, len)`, notified only when the policy has a UDP endpoint: a UDP socket may
/// bind to port 0 (an ephemeral port, as the kernel would pick on the first send) on any
/// local address, which UDP clients such as Java's and Node.js's do before sending. Nothing
/// else may bind: a fixed port or a TCP socket would let the program serve.
fn bind(cx: &Context<'_>, call: &Call) -> Reply {
    let (socket, addr) = match socket_and_address(cx, call) {
        Ok(both) => both,
        Err(reply) => return reply,
    };
    let dest = match sockaddr::decode(&addr) {
        Ok(Destination::Inet(d)) => Some(d),
        Ok(_) => None,
        Err(errno) => return Some(Err(errno)),
    };
    let ephemeral_udp = socket.kind == Ok(Protocol::Udp) && dest.is_some_and(|d| d.port() == 0);
    if !ephemeral_udp {
        let v = Violation {
            pid: call.pid,
            command: command_of(call.pid),
            operation: Operation::Bind,
            protocol: socket.kind.as_ref().ok().copied(),
            destination: dest,
            reason: Reason::NotAllowed,
            audit_only: false,
        };
        report::deliver(&v, cx.policy.options().report == ReportTo::Stderr);
        return Some(Err(libc::EACCES));
    }
    // SAFETY: `addr` is our own copy, valid for `addr.len()` bytes.
    let ret = unsafe {
        libc::bind(
            socket.fd.as_raw_fd(),
            addr.as_ptr().cast(),
            addr.len() as libc::socklen_t,
        )
    };
    Some(if ret == 0 { Ok(0) } else { Err(sys::errno()) })
}

/// The destination a send names (`None`: no name, the connected peer). A name that is not
/// an IPv4/IPv6 address is refused on an IP socket: IPv4 UDP reads even an `AF_UNSPEC` name
/// as a destination.
pub fn send_destination(
    cx: &Context<'_>,
    call: &Call,
    name: &[u8],
    socket: &Socket,
) -> Result<Option<SocketAddr>, i32> {
    if name.is_empty() {
        return Ok(None);
    }
    match sockaddr::decode(name)? {
        Destination::Inet(d) => Ok(Some(d)),
        _ if socket.kind.is_err() => Ok(None),
        Destination::Unspec | Destination::Other(_) => {
            let protocol = socket.kind.as_ref().ok().copied();
            let v = Violation {
                pid: call.pid,
                command: command_of(call.pid),
                operation: Operation::Send,
                protocol,
                destination: None,
                reason: Reason::NotAllowed,
                audit_only: false,
            };
            report::deliver(&v, cx.policy.options().report == ReportTo::Stderr);
            Err(libc::EACCES)
        }
    }
}

/// `sendto(fd, buf, len, flags, addr, addrlen)` with a non-NULL `addr` (the filter sends
/// the others straight to the kernel).
fn sendto(cx: &Context<'_>, call: &Call) -> Reply {
    let [fd, buf_ptr, len, flags, addr_ptr, addr_len] = call.args;
    let socket = match take_socket(cx, call, fd as i32) {
        Ok(s) if s.not_a_socket => return Some(Err(libc::ENOTSOCK)),
        Ok(s) => s,
        Err(reply) => return reply.map(Err),
    };
    let addr = match copy_address(cx, call, addr_ptr, addr_len) {
        Ok(a) => a,
        Err(reply) => return reply.map(Err),
    };
    let dest = match send_destination(cx, call, &addr, &socket) {
        Ok(d) => d,
        Err(errno) => return Some(Err(errno)),
    };
    if let Err(errno) = judge(cx, call, Operation::Send, &socket, dest) {
        return Some(Err(errno));
    }
    let data = match sendmsg::copy_data(cx, call, &[(buf_ptr, len)]) {
        Ok(d) => d,
        Err(reply) => return reply.map(Err),
    };
    // SAFETY: `data` and `addr` are our own buffers, valid for their lengths.
    let n = unsafe {
        libc::sendto(
            socket.fd.as_raw_fd(),
            data.as_ptr().cast(),
            data.len(),
            flags as i32,
            addr.as_ptr().cast(),
            addr.len() as libc::socklen_t,
        )
    };
    Some(if n >= 0 {
        Ok(n as i64)
    } else {
        Err(sys::errno())
    })
}
