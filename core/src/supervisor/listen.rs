//! Serving where the policy says `listen` (issue 12): a TCP socket may bind to a `listen`
//! entry's address and port, and `listen` (then `accept`, which the filter never sees) once
//! it is bound there.
//!
//! `listen` reaches the supervisor under every policy it serves, policies without endpoints
//! included (only `fallback = "landlock-ports"` without `listen` entries refuses it in the
//! filter). A unix socket may listen (`multiprocessing.Manager()`,
//! a test harness: see `unix::bind`), performed on the duplicate. For a TCP socket the
//! supervisor asks the socket where it is bound (`getsockname` on its
//! duplicate) and lets it listen only if that is an entry. A bound address cannot change
//! afterwards (a second `bind` is `EINVAL`, and a port chosen by `bind` is locked to the
//! socket), so nothing can move the socket between the look and the `listen`. An unbound
//! socket, which `listen` would bind to an ephemeral port, shows port 0: refused.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;

use super::call::{fail, performed, Call, Context, Outcome, Refused};
use super::socket::{self, SocketKind};
use crate::policy::{canonical_ip, Protocol};
use crate::report::{Operation, Reason};

/// Whether a TCP socket may bind to `local`: it is one of the policy's `listen` entries.
pub fn may_bind(cx: &Context<'_>, protocol: Option<Protocol>, local: Option<SocketAddr>) -> bool {
    match (protocol, local) {
        (Some(Protocol::Tcp), Some(local)) => cx
            .policy
            .listen_entry(SocketAddr::new(canonical_ip(local.ip()), local.port()))
            .is_some(),
        _ => false,
    }
}

/// `local` if it is a fixed port, one a `listen` entry could name: not 0 and not in the
/// kernel's ephemeral range (`ip_local_port_range`), where a bind to port 0 lands.
pub(super) fn fixed(local: Option<SocketAddr>) -> Option<SocketAddr> {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok();
    let (low, high) = range
        .as_deref()
        .and_then(|r| {
            let mut it = r.split_whitespace().map(|p| p.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32768, 60999));
    local.filter(|l| l.port() != 0 && !(low..=high).contains(&l.port()))
}

/// Where the socket `fd` is bound (`getsockname`), for an IPv4 or IPv6 socket.
pub(super) fn bound_address(fd: i32) -> Option<SocketAddr> {
    // SAFETY: sockaddr_storage is plain data; zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `storage` is writable for `len` bytes, and `len` is a valid pointer.
    let r = unsafe {
        libc::getsockname(
            fd,
            (&mut storage as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return None;
    }
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in for an AF_INET socket.
            let a: libc::sockaddr_in =
                unsafe { std::ptr::read((&storage as *const libc::sockaddr_storage).cast()) };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::new(ip.into(), u16::from_be(a.sin_port)))
        }
        libc::AF_INET6 => {
            // SAFETY: the kernel wrote a sockaddr_in6 for an AF_INET6 socket.
            let a: libc::sockaddr_in6 =
                unsafe { std::ptr::read((&storage as *const libc::sockaddr_storage).cast()) };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::new(ip.into(), u16::from_be(a.sin6_port)))
        }
        _ => None,
    }
}

/// `listen(fd, backlog)`: performed on the supervisor's duplicate when the socket is a unix
/// socket or a TCP socket bound to a `listen` entry; otherwise refused with a line naming
/// the entry that would allow it (in audit mode, reported and performed).
pub fn listen(cx: &Context<'_>, call: &Call) -> Outcome {
    let socket = socket::take(cx, call, call.args[0] as i32)?;
    if socket.kind == SocketKind::NotASocket {
        return fail(libc::ENOTSOCK);
    }
    if let SocketKind::Unix(_) = socket.kind {
        // A unix socket serves the sandbox's own processes, and outside ones only through a
        // socket file the program could have written anyway (or an abstract name): allowed,
        // on the duplicate (never CONTINUE: another thread could dup2 a TCP socket onto
        // the number meanwhile).
        // SAFETY: listen takes an fd and an integer; the duplicate is ours.
        let ret = unsafe { libc::listen(socket.fd.as_raw_fd(), call.args[1] as i32) };
        return performed(ret);
    }
    let protocol = match socket.kind {
        SocketKind::Ip(p) => Some(p),
        _ => None,
    };
    let local = match protocol {
        Some(_) => bound_address(socket.fd.as_raw_fd()),
        None => None,
    };
    if let (true, Some(local)) = (may_bind(cx, protocol, local), local) {
        // Allowed: logged when asked, and written by learn mode.
        cx.log_allowed(call, Operation::Listen, Protocol::Tcp, local);
    } else {
        let local = fixed(local);
        let why = match local {
            Some(_) => "a socket may listen only where the policy says `listen`",
            None => {
                "a socket may listen only where the policy says `listen`, bound to that fixed \
                 address and port"
            }
        };
        let refused = Refused::new(Operation::Listen, Reason::Never(why.into()))
            .on(protocol)
            .to(local);
        cx.refuse_or_audit(call, refused)?;
    }
    // SAFETY: listen takes an fd and an integer; the duplicate is ours.
    let ret = unsafe { libc::listen(socket.fd.as_raw_fd(), call.args[1] as i32) };
    performed(ret)
}
