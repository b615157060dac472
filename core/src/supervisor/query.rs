//! Query sockets (issue 12): the datagram sockets programs make only to ask the kernel
//! about interfaces.
//!
//! Java's `NetworkInterface` (`socket(AF_INET, SOCK_DGRAM, 0)`, then `AF_INET6`) and
//! glibc's `if_nametoindex`, `if_indextoname` and `__opensock` (`AF_UNIX`, then `AF_INET`,
//! then `AF_INET6` datagram sockets) make a datagram socket only to send `SIOCGIF*`
//! requests on it, which the static filter allows on any descriptor. Under a policy that
//! allows no UDP (or no unix datagram socket), the filter hands such a `socket()` call here
//! instead of refusing it (`network_sandbox_build::lower::query_sockets`). The supervisor
//! makes the socket itself, shuts it down for sending and receiving, and installs it in the
//! caller as the call's result (`SECCOMP_IOCTL_NOTIF_ADDFD` with `SECCOMP_ADDFD_FLAG_SEND`).
//!
//! What keeps such a socket from sending is the kernel's shutdown bit: every send path of a
//! UDP or unix datagram socket allocates its buffer through `sock_alloc_send_pskb`, or
//! checks the bit itself, and fails with `EPIPE` once `SEND_SHUTDOWN` is set; nothing
//! clears the bit on a datagram socket (`connect`, `connect(AF_UNSPEC)`, `bind` leave it).
//! That is not taken on trust: before the first query socket, the supervisor checks on
//! sockets of its own that a shut-down socket's send fails with `EPIPE` and that nothing
//! arrives at a receiver ([`self_check`]). If it does not hold, query sockets are refused
//! with a line saying why, as they were before.
//!
//! The socket is made in the supervisor's network namespace, so it answers about the
//! program's interfaces only while the program is in that namespace: the supervisor checks
//! that it is (`/proc/TID/ns/net`), and refuses otherwise.
//!
//! Nor may such a socket receive. `shutdown` does not stop UDP delivery: a UDP socket with
//! a port takes datagrams from anyone who learns it, a one-way channel into a program under
//! a policy that allows no UDP. So:
//!
//! - a `bind` of a UDP socket is refused, whatever the address, port 0 included
//!   ([`refuse_bind`]), under every policy whose UDP sockets are query sockets. The
//!   supervisor knows them by the policy, not by the socket: under such a policy the filter
//!   lets no other UDP socket be made, so every UDP socket the program has is a query
//!   socket, or one it held before the sandbox started (or was handed over a unix socket).
//!   Those get the same refusal: the policy allows no UDP, and a bind would only let them
//!   receive. A socket already bound before the sandbox started stays as it was;
//! - the kernel gives a UDP socket a port without `bind` too: `connect` does (refused
//!   anyway: the policy allows no UDP destination, even at the address and port of a TCP
//!   endpoint, so the socket never gets a peer), and so does every send, before it fails
//!   (`inet_send_prepare`: `send`, `write`, `sendmsg` on a query socket leave it with an
//!   ephemeral port). So the supervisor also attaches a socket filter that drops every
//!   datagram to each IP query socket before installing it, and locks it
//!   (`SO_LOCK_FILTER`; the program may not set `SO_ATTACH_FILTER`/`SO_DETACH_FILTER`
//!   either, they are not on the socket option list): whatever port such a socket ends up
//!   with, nothing it receives reaches the program;
//! - a unix datagram query socket receives nothing even when bound: a sender to a socket
//!   shut down for receiving gets `EPIPE` (`unix_dgram_sendmsg`), so its bind stays the
//!   usual unix bind (`unix.rs`), and it gets no filter (a filter would make the kernel
//!   drop the datagram and tell the sender it was sent, before it looks at the shutdown
//!   bit).
//!
//! Everything else on such a socket goes through the usual checks: a `connect` is judged
//! as any UDP (or unix) connect and refused with the line that says which endpoint would
//! allow it, a `sendto` naming a destination is notified and refused the same way; `send`,
//! `sendmsg`, `sendmmsg` and `write` are not notified under such a policy and fail in the
//! kernel (`EPIPE`, or `EDESTADDRREQ` unconnected).

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::sync::OnceLock;

use super::call::{fail, Call, Context, Halt, Outcome, Refused};
use crate::policy::{Policy, Protocol};
use crate::report::{Operation, Reason, Remedy};
use crate::sys;

/// Whether `policy`'s UDP sockets are query sockets: its program hands a UDP `socket()` to
/// the supervisor as one (no UDP endpoint and no names, enforce mode, a supervisor).
pub fn ip_query_sockets(policy: &Policy) -> bool {
    crate::filter::query_sockets(policy.filter()).0
}

/// `bind` of a UDP socket under a policy whose UDP sockets are query sockets
/// ([`ip_query_sockets`]): refused whatever the address (in audit mode reported as one that
/// would be, and `Ok`), since a bound UDP socket receives from anyone.
pub fn refuse_bind(cx: &Context<'_>, call: &Call, local: Option<SocketAddr>) -> Outcome<()> {
    let why = "a UDP socket under this policy only serves interface requests (a query \
               socket): it may not bind";
    let refused = Refused::new(Operation::Bind, Reason::Never(why.into()))
        .on(Some(Protocol::Udp))
        .to(local)
        .remedy(Remedy::Add("udp://HOST:PORT".into()));
    cx.refuse_or_audit(call, refused)
}

/// The flags `socket()`'s type may carry besides the type.
const TYPE_FLAGS: i32 = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;

/// `socket(family, type, protocol)` handed over by the static filter as a query socket.
pub fn socket(cx: &Context<'_>, call: &Call) -> Outcome {
    let int = |i: usize| call.args[i] as u32 as i32;
    let (family, ty, proto) = (int(0), int(1), int(2));
    // The filter notifies exactly these; anything else here is a filter the supervisor
    // does not expect: refused.
    if !is_query_socket(family, ty, proto) {
        let kind = super::refusal::socket_kind(family, ty, proto);
        return Err(cx.refuse(
            call,
            Refused::new(Operation::Socket, Reason::SocketKind(kind)),
        ));
    }
    let remedy = || {
        if family == libc::AF_UNIX {
            Remedy::Add("unix:PATH".into())
        } else {
            Remedy::Add("udp://HOST:PORT".into())
        }
    };
    if let Err(why) = self_check().get(family) {
        let reason = Reason::Never(format!(
            "a datagram socket for interface queries is made shut down, and this kernel's \
             shut-down socket could still send: {why}"
        ));
        let refused = Refused::new(Operation::Socket, reason).remedy(remedy());
        return Err(cx.refuse(call, refused));
    }
    match same_network_namespace(call.tid) {
        Ok(true) => {}
        Ok(false) => {
            let reason = Reason::Never(
                "the program is in another network namespace than the supervisor, which \
                 would make the datagram socket for its interface queries"
                    .into(),
            );
            let refused = Refused::new(Operation::Socket, reason).remedy(remedy());
            return Err(cx.refuse(call, refused));
        }
        Err(e) => return Err(cx.uninspectable(call, &e)),
    }
    // The namespace was read through the caller's thread id: still the caller's?
    cx.still_pending(call)?;
    let fd = shut_down_socket(family, ty & !libc::SOCK_CLOEXEC, proto).or_else(fail)?;
    let cloexec = ty & libc::SOCK_CLOEXEC != 0;
    match sys::notif_addfd_send(cx.listener, call.id, fd.as_raw_fd(), cloexec) {
        Ok(_) => Err(Halt::Answered),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Err(Halt::Gone),
        Err(e) => fail(e.raw_os_error().unwrap_or(libc::EMFILE)),
    }
}

/// Whether `socket(family, ty, proto)` is one the static filter hands over as a query
/// socket: a UDP socket over IPv4 or IPv6 (protocol 0 or `IPPROTO_UDP`) or a unix datagram
/// socket (protocol 0), with no flag but `SOCK_NONBLOCK` and `SOCK_CLOEXEC`.
pub fn is_query_socket(family: i32, ty: i32, proto: i32) -> bool {
    if ty & !TYPE_FLAGS != libc::SOCK_DGRAM {
        return false;
    }
    match family {
        libc::AF_INET | libc::AF_INET6 => matches!(proto, 0 | libc::IPPROTO_UDP),
        libc::AF_UNIX => proto == 0,
        _ => false,
    }
}

/// A new socket of `family`, `ty` (with `SOCK_NONBLOCK` if asked; always close-on-exec in
/// the supervisor), `proto`, shut down for sending and receiving, and for IPv4 and IPv6
/// with a locked filter that drops every datagram. Errors are errnos, as the caller's
/// `socket()` would have got them.
fn shut_down_socket(family: i32, ty: i32, proto: i32) -> Result<OwnedFd, i32> {
    // SAFETY: socket takes integers and returns a new fd.
    let fd = unsafe { libc::socket(family, ty | libc::SOCK_CLOEXEC, proto) };
    if fd < 0 {
        return Err(sys::errno());
    }
    // SAFETY: a new fd we now own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // An unconnected IP socket answers ENOTCONN, but the kernel sets the shutdown bits
    // first (inet_shutdown); a unix socket answers 0.
    // SAFETY: shutdown on a descriptor we own.
    let ret = unsafe { libc::shutdown(fd.as_raw_fd(), libc::SHUT_RDWR) };
    if ret != 0 && sys::errno() != libc::ENOTCONN {
        return Err(libc::EACCES);
    }
    // A unix datagram socket shut down for receiving takes nothing (its senders get
    // `EPIPE`); a UDP socket takes datagrams whatever its shutdown bits say.
    if family != libc::AF_UNIX {
        drop_everything(fd.as_raw_fd()).map_err(|_| libc::EACCES)?;
    }
    Ok(fd)
}

/// Attaches to `fd` a socket filter that drops every packet it would receive, and locks it
/// (`SO_LOCK_FILTER`): nothing may replace or remove it afterwards.
fn drop_everything(fd: libc::c_int) -> io::Result<()> {
    // One instruction: `ret #0`, keep no byte of the packet.
    let mut code = [libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: 0,
    }];
    let prog = libc::sock_fprog {
        len: code.len() as u16,
        filter: code.as_mut_ptr(),
    };
    let one: libc::c_int = 1;
    // SAFETY: `prog` points at `code`, both alive for the call; the kernel copies the program.
    let ret = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&prog as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a pointer to a local int and its size.
    let ret = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LOCK_FILTER,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The result of the self-check, per family.
pub struct SelfCheck {
    ipv4: Result<(), String>,
    ipv6: Result<(), String>,
    unix: Result<(), String>,
}

impl SelfCheck {
    /// The verdict for query sockets of `family`.
    pub fn get(&self, family: i32) -> &Result<(), String> {
        match family {
            libc::AF_INET => &self.ipv4,
            libc::AF_INET6 => &self.ipv6,
            _ => &self.unix,
        }
    }
}

/// Whether a shut-down datagram socket cannot send on this kernel, checked once per
/// supervisor, on the first query socket: for each family, a send from a shut-down socket
/// to a receiver of the supervisor's own (by address, and after `connect`) must fail with
/// `EPIPE`, and nothing may arrive. For IPv6 both a native receiver (`[::1]`, where the
/// machine has it) and an IPv4 one through a v4-mapped address. A family the kernel does
/// not offer passes: its query sockets fail to be made, as the program's own would.
pub fn self_check() -> &'static SelfCheck {
    static CHECK: OnceLock<SelfCheck> = OnceLock::new();
    CHECK.get_or_init(|| SelfCheck {
        ipv4: check_ip(false),
        ipv6: check_ip(true),
        unix: check_unix(),
    })
}

/// The self-check for UDP over IPv4 (`v6` false) or IPv6.
fn check_ip(v6: bool) -> Result<(), String> {
    let family = if v6 { libc::AF_INET6 } else { libc::AF_INET };
    // An IPv6 sender with IPV6_V6ONLY cleared (the program may clear it too; the
    // `bindv6only` sysctl may have set it): the v4-mapped path is tried whatever the default.
    let sender = || {
        let fd = shut_down_socket(family, libc::SOCK_DGRAM, 0)?;
        if v6 {
            let zero: libc::c_int = 0;
            // SAFETY: a pointer to a local int and its size, on a descriptor we own.
            let ret = unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::IPPROTO_IPV6,
                    libc::IPV6_V6ONLY,
                    (&zero as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if ret != 0 {
                return Err(sys::errno());
            }
        }
        Ok(fd)
    };
    if let Err(libc::EAFNOSUPPORT) = sender() {
        return Ok(());
    }
    let (v4, v4_addr) =
        receiver(sockaddr_v4([127, 0, 0, 1], 0)).map_err(|e| format!("receiver: {e}"))?;
    if !v6 {
        return check_sends(&sender, &[(&v4, v4_addr)]);
    }
    let mut mapped = [0u8; 16];
    mapped[10..].copy_from_slice(&[0xff, 0xff, 127, 0, 0, 1]);
    let mapped = sockaddr_v6(mapped, port_of(&v4_addr));
    // [::1] may not exist (IPv6 off for loopback): then only the v4-mapped sends.
    let mut loopback = [0u8; 16];
    loopback[15] = 1;
    match receiver(sockaddr_v6(loopback, 0)) {
        Ok((v6, v6_addr)) => check_sends(&sender, &[(&v4, mapped), (&v6, v6_addr)]),
        Err(_) => check_sends(&sender, &[(&v4, mapped)]),
    }
}

/// The self-check for unix datagram sockets: a receiver bound to an abstract name the
/// kernel picks (autobind).
fn check_unix() -> Result<(), String> {
    let sender = || shut_down_socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0);
    // sizeof(sa_family_t) alone: autobind to an abstract name.
    let family = (libc::AF_UNIX as libc::sa_family_t).to_ne_bytes().to_vec();
    let (fd, name) = receiver_of(libc::AF_UNIX, family).map_err(|e| format!("receiver: {e}"))?;
    check_sends(&sender, &[(&fd, name)])
}

/// For each receiver and its address, from a new socket made by `sender`: a send to the
/// address, then a `connect` to it and a send without one. Every send must fail with
/// `EPIPE`, and the receiver must then hold no datagram.
fn check_sends(
    sender: &dyn Fn() -> Result<OwnedFd, i32>,
    targets: &[(&OwnedFd, Vec<u8>)],
) -> Result<(), String> {
    let payload = b"network-sandbox self-check";
    for (receiver, addr) in targets {
        let s = sender()
            .map_err(|e| format!("no test socket ({})", io::Error::from_raw_os_error(e)))?;
        let s = s.as_raw_fd();
        // SAFETY: `payload` and `addr` are our own buffers, valid for their lengths.
        let sent = unsafe {
            libc::sendto(
                s,
                payload.as_ptr().cast(),
                payload.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                addr.as_ptr().cast(),
                addr.len() as libc::socklen_t,
            )
        };
        expect_epipe(sent, "sendto")?;
        // SAFETY: `addr` is our own buffer, valid for its length.
        let connected =
            unsafe { libc::connect(s, addr.as_ptr().cast(), addr.len() as libc::socklen_t) };
        if connected != 0 {
            return Err(format!(
                "connect to the receiver failed ({})",
                io::Error::last_os_error()
            ));
        }
        // SAFETY: as above.
        let sent = unsafe {
            libc::send(
                s,
                payload.as_ptr().cast(),
                payload.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        expect_epipe(sent, "send after connect")?;
        let mut buf = [0u8; 64];
        // SAFETY: `buf` is writable for its length.
        let n = unsafe {
            libc::recv(
                receiver.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n >= 0 {
            return Err(format!("a datagram of {n} bytes arrived"));
        }
        let e = sys::errno();
        if e != libc::EAGAIN {
            return Err(format!(
                "the receiver failed ({})",
                io::Error::from_raw_os_error(e)
            ));
        }
    }
    Ok(())
}

/// `Ok` when a send returned -1 with `EPIPE`.
fn expect_epipe(ret: isize, what: &str) -> Result<(), String> {
    if ret >= 0 {
        return Err(format!("{what} sent {ret} bytes"));
    }
    match sys::errno() {
        libc::EPIPE => Ok(()),
        e => Err(format!(
            "{what} failed with {} instead of EPIPE",
            io::Error::from_raw_os_error(e)
        )),
    }
}

/// A datagram socket bound to `addr` (an IP socket address), and the address it got.
fn receiver(addr: Vec<u8>) -> io::Result<(OwnedFd, Vec<u8>)> {
    let family = i32::from(u16::from_ne_bytes([addr[0], addr[1]]));
    receiver_of(family, addr)
}

/// A datagram socket of `family` bound to `addr`, and its bound address (`getsockname`).
fn receiver_of(family: i32, addr: Vec<u8>) -> io::Result<(OwnedFd, Vec<u8>)> {
    // SAFETY: socket takes integers and returns a new fd.
    let fd = unsafe { libc::socket(family, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new fd we now own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: `addr` is our own buffer, valid for its length.
    let ret = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            addr.as_ptr().cast(),
            addr.len() as libc::socklen_t,
        )
    };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut bound = vec![0u8; std::mem::size_of::<libc::sockaddr_storage>()];
    let mut len = bound.len() as libc::socklen_t;
    // SAFETY: `bound` is writable for `len` bytes; the kernel writes at most that many.
    let ret = unsafe { libc::getsockname(fd.as_raw_fd(), bound.as_mut_ptr().cast(), &mut len) };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    bound.truncate(len as usize);
    Ok((fd, bound))
}

/// A `sockaddr_in` for `ip`:`port`, as bytes.
fn sockaddr_v4(ip: [u8; 4], port: u16) -> Vec<u8> {
    let mut a = vec![0u8; std::mem::size_of::<libc::sockaddr_in>()];
    a[..2].copy_from_slice(&(libc::AF_INET as libc::sa_family_t).to_ne_bytes());
    a[2..4].copy_from_slice(&port.to_be_bytes());
    a[4..8].copy_from_slice(&ip);
    a
}

/// A `sockaddr_in6` for `[ip]`:`port`, as bytes.
fn sockaddr_v6(ip: [u8; 16], port: u16) -> Vec<u8> {
    let mut a = vec![0u8; std::mem::size_of::<libc::sockaddr_in6>()];
    a[..2].copy_from_slice(&(libc::AF_INET6 as libc::sa_family_t).to_ne_bytes());
    a[2..4].copy_from_slice(&port.to_be_bytes());
    a[8..24].copy_from_slice(&ip);
    a
}

/// The port of a `sockaddr_in` or `sockaddr_in6`, as bytes.
fn port_of(addr: &[u8]) -> u16 {
    u16::from_be_bytes([addr[2], addr[3]])
}

/// Whether thread `tid` is in the supervisor's network namespace.
fn same_network_namespace(tid: libc::pid_t) -> io::Result<bool> {
    static OURS: OnceLock<Option<(u64, u64)>> = OnceLock::new();
    let ns = |path: &str| std::fs::metadata(path).map(|m| (m.dev(), m.ino()));
    let ours = OURS.get_or_init(|| ns("/proc/self/ns/net").ok());
    let Some(ours) = ours else {
        return Err(io::Error::from_raw_os_error(libc::EACCES));
    };
    Ok(ns(&format!("/proc/{tid}/ns/net"))? == *ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_datagram_sockets_of_the_three_families_are_query_sockets() {
        let flags = [0, libc::SOCK_NONBLOCK, libc::SOCK_CLOEXEC, TYPE_FLAGS];
        for f in flags {
            let dgram = libc::SOCK_DGRAM | f;
            assert!(is_query_socket(libc::AF_INET, dgram, 0));
            assert!(is_query_socket(libc::AF_INET6, dgram, libc::IPPROTO_UDP));
            assert!(is_query_socket(libc::AF_UNIX, dgram, 0));
        }
        assert!(!is_query_socket(libc::AF_INET, libc::SOCK_STREAM, 0));
        assert!(!is_query_socket(libc::AF_INET, libc::SOCK_DGRAM | 0x10, 0));
        assert!(!is_query_socket(libc::AF_INET, libc::SOCK_DGRAM, 1), "ICMP");
        assert!(
            !is_query_socket(libc::AF_INET, libc::SOCK_DGRAM, 136),
            "UDP-Lite"
        );
        assert!(!is_query_socket(libc::AF_UNIX, libc::SOCK_DGRAM, 1));
        assert!(!is_query_socket(libc::AF_PACKET, libc::SOCK_DGRAM, 0));
        assert!(!is_query_socket(libc::AF_NETLINK, libc::SOCK_DGRAM, 0));
    }

    /// The self-check holds on this kernel, and it can fail: the same sends from a socket
    /// that is not shut down reach the receiver.
    #[test]
    fn the_self_check_holds_here_and_fails_for_a_socket_that_can_send() {
        let check = self_check();
        for family in [libc::AF_INET, libc::AF_INET6, libc::AF_UNIX] {
            assert_eq!(check.get(family), &Ok(()), "family {family}");
        }
        let open = || {
            // SAFETY: socket takes integers and returns a new fd, which we then own.
            let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) };
            assert!(fd >= 0);
            // SAFETY: as above.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        };
        let (fd, addr) = receiver(sockaddr_v4([127, 0, 0, 1], 0)).unwrap();
        let err = check_sends(&open, &[(&fd, addr)]).unwrap_err();
        assert!(err.contains("sendto sent 26 bytes"), "{err}");
    }

    /// A send gives an unbound UDP socket a port (the kernel autobinds before it finds the
    /// socket shut down): a datagram to that port reaches a shut-down socket without the
    /// filter (the control) and not a query socket, whose filter cannot be removed.
    #[test]
    fn a_query_socket_receives_nothing_on_the_port_a_send_gave_it() {
        let outside = receiver(sockaddr_v4([127, 0, 0, 1], 0)).unwrap().0;
        let port_after_send = |fd: &OwnedFd| {
            // SAFETY: a static buffer, valid for its length.
            let ret = unsafe { libc::send(fd.as_raw_fd(), b"x".as_ptr().cast(), 1, 0) };
            assert_eq!((ret, sys::errno()), (-1, libc::EDESTADDRREQ));
            let mut bound = vec![0u8; std::mem::size_of::<libc::sockaddr_in>()];
            let mut len = bound.len() as libc::socklen_t;
            // SAFETY: `bound` is writable for `len` bytes.
            let r =
                unsafe { libc::getsockname(fd.as_raw_fd(), bound.as_mut_ptr().cast(), &mut len) };
            assert_eq!(r, 0);
            let port = port_of(&bound);
            assert_ne!(port, 0, "the send gave the socket a port");
            let to = sockaddr_v4([127, 0, 0, 1], port);
            // SAFETY: our own buffers, valid for their lengths.
            let sent = unsafe {
                libc::sendto(
                    outside.as_raw_fd(),
                    b"in".as_ptr().cast(),
                    2,
                    0,
                    to.as_ptr().cast(),
                    to.len() as libc::socklen_t,
                )
            };
            assert_eq!(sent, 2);
            let mut buf = [0u8; 8];
            // SAFETY: `buf` is writable for its length.
            unsafe {
                libc::recv(
                    fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            }
        };
        // The control: shut down the same way, no filter.
        // SAFETY: socket takes integers and returns a new fd.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) };
        assert!(fd >= 0, "{}", io::Error::last_os_error());
        // SAFETY: a new fd we now own.
        let control = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: shutdown on a descriptor we own.
        unsafe { libc::shutdown(control.as_raw_fd(), libc::SHUT_RDWR) };
        assert_eq!(port_after_send(&control), 2, "the control receives");
        let query = shut_down_socket(libc::AF_INET, libc::SOCK_DGRAM, 0).unwrap();
        assert_eq!(port_after_send(&query), -1);
        assert_eq!(sys::errno(), libc::EAGAIN, "nothing queued");
        let zero: libc::c_int = 0;
        // SAFETY: a pointer to a local int and its size (the kernel wants an int, unused).
        let r = unsafe {
            libc::setsockopt(
                query.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_DETACH_FILTER,
                (&zero as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!((r, sys::errno()), (-1, libc::EPERM), "the filter is locked");
    }

    /// A unix datagram query socket, bound (autobind to an abstract name), takes nothing: a
    /// sender gets `EPIPE`. The control, the same socket without shutdown, receives.
    #[test]
    fn a_bound_unix_query_socket_receives_nothing() {
        let autobind = (libc::AF_UNIX as libc::sa_family_t).to_ne_bytes();
        let name_of = |fd: &OwnedFd| {
            // SAFETY: `autobind` is our own buffer, valid for its length.
            let r = unsafe {
                libc::bind(
                    fd.as_raw_fd(),
                    autobind.as_ptr().cast(),
                    autobind.len() as libc::socklen_t,
                )
            };
            assert_eq!(r, 0, "{}", io::Error::last_os_error());
            let mut name = vec![0u8; std::mem::size_of::<libc::sockaddr_un>()];
            let mut len = name.len() as libc::socklen_t;
            // SAFETY: `name` is writable for `len` bytes.
            let r =
                unsafe { libc::getsockname(fd.as_raw_fd(), name.as_mut_ptr().cast(), &mut len) };
            assert_eq!(r, 0);
            name.truncate(len as usize);
            name
        };
        let send_to = |name: &[u8]| {
            // SAFETY: socket takes integers and returns a new fd.
            let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0) };
            assert!(fd >= 0);
            // SAFETY: a new fd we now own.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            // SAFETY: our own buffers, valid for their lengths.
            let sent = unsafe {
                libc::sendto(
                    fd.as_raw_fd(),
                    b"in".as_ptr().cast(),
                    2,
                    libc::MSG_DONTWAIT,
                    name.as_ptr().cast(),
                    name.len() as libc::socklen_t,
                )
            };
            (sent, sys::errno())
        };
        // SAFETY: socket takes integers and returns a new fd.
        let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0) };
        assert!(fd >= 0);
        // SAFETY: a new fd we now own.
        let control = unsafe { OwnedFd::from_raw_fd(fd) };
        assert_eq!(send_to(&name_of(&control)).0, 2, "the control receives");
        let query = shut_down_socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0).unwrap();
        assert_eq!(send_to(&name_of(&query)), (-1, libc::EPIPE));
    }

    #[test]
    fn a_query_socket_is_shut_down_for_both_directions() {
        let fd = shut_down_socket(libc::AF_INET, libc::SOCK_DGRAM, 0).unwrap();
        // SO_TYPE and a send: EPIPE.
        assert_eq!(
            sys::getsockopt_int(fd.as_raw_fd(), libc::SO_TYPE).unwrap(),
            libc::SOCK_DGRAM
        );
        let (r, addr) = receiver(sockaddr_v4([127, 0, 0, 1], 0)).unwrap();
        let shut = || shut_down_socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        check_sends(&shut, &[(&r, addr)]).unwrap();
        // What it is for: SIOCGIFINDEX of "lo" still answers.
        // SAFETY: ifreq is plain data; zero is a valid value for every field.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (d, s) in req.ifr_name.iter_mut().zip(b"lo") {
            *d = *s as libc::c_char;
        }
        // SAFETY: the ioctl reads the name and writes the index into `req`, which we own.
        let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFINDEX, &mut req) };
        assert_eq!(ret, 0, "{}", io::Error::last_os_error());
        // SAFETY: SIOCGIFINDEX filled in the index member of the union.
        assert!(unsafe { req.ifr_ifru.ifru_ifindex } > 0);
        // SAFETY: gettid has no preconditions.
        let me = unsafe { libc::gettid() };
        assert!(same_network_namespace(me).unwrap());
    }
}
