//! The sandbox's DNS answerer: the only name server the sandboxed program can reach, which
//! answers from the allowed names' table and never forwards a query.
//!
//! The program's `resolv.conf` (bound in its private mount namespace, [`crate::hostnames`])
//! names [`SENTINEL`] port 53. Nothing listens there in the machine's network namespace;
//! the answerer's sockets live in a network namespace of their own that holds only `lo`:
//!
//! 1. [`start`], in the installer before anything is confined: a double fork. The helper
//!    process (not dumpable, a new session, every inherited fd closed) unshares a network
//!    namespace (root: `CLONE_NEWNET`; otherwise `CLONE_NEWUSER | CLONE_NEWNET`, mapping
//!    only the caller's uid and gid), brings `lo` up, binds a UDP and a listening TCP
//!    socket to `SENTINEL:53` there, and sends both back over a unix socketpair. It then
//!    stays, making sockets in that namespace on request ([`Answerer::socket`]): the supervisor, in
//!    the machine's namespace and held by the Landlock port rules, cannot.
//! 2. The supervisor inherits the helper's channel and the two sockets, and [`serve`]s them
//!    with threads that answer every query from the live [`Table`] (the refresher's): an
//!    allowed name gets exactly its addresses (A or AAAA; any other type: no records),
//!    `localhost` gets 127.0.0.1 and ::1, every other name gets NXDOMAIN and a refusal
//!    line naming it.
//! 3. A UDP or TCP `connect`, or a UDP send, to `SENTINEL:53` from the program reaches the
//!    supervisor like every other (`supervisor::dns`): its socket, in the machine's
//!    namespace, is replaced (`SECCOMP_IOCTL_NOTIF_ADDFD` with `SECCOMP_ADDFD_FLAG_SETFD`,
//!    same fd number, `O_NONBLOCK` and `FD_CLOEXEC` kept) by one the helper made in the
//!    answerer's namespace, connected to the answerer for a `connect`. The answer then
//!    really comes from `SENTINEL:53`, so resolvers that check where an answer came from
//!    accept it.
//!
//! The helper ends when the supervisor does (its channel closes), or when the installer
//! gives up before the supervisor starts.
//!
//! **Learn mode** (`--learn`, which is audit mode: nothing is enforced) is the one
//! exception to "never forwards": there the answerer is started even for a policy without
//! names, and a query for a name it does not know is forwarded over UDP, from the
//! supervisor in the machine's network namespace, to the machine's own first nameserver
//! ([`Learning`]); the reply goes back to the program unchanged (same id), and the name and
//! the A/AAAA addresses in it are handed to the learner, which writes endpoints reached at
//! those addresses as the name. Without [`Learning`] (every enforcing sandbox) nothing is
//! forwarded.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::dns_wire;
use crate::hostnames::Table;

/// The answerer's address, in its own network namespace: in 127.0.0.0/8, away from the
/// addresses local resolvers use (127.0.0.1, 127.0.0.53, 127.0.1.1).
pub const SENTINEL: Ipv4Addr = Ipv4Addr::new(127, 53, 0, 1);
/// The answerer's port.
pub const PORT: u16 = 53;
/// The TTL of every answer: resolvers that cache ask again soon enough to see a refresh.
pub const ANSWER_TTL: u32 = 30;

/// Whether `dest` is the answerer's address and port (IPv4, or IPv4-mapped IPv6).
pub fn is_sentinel(dest: SocketAddr) -> bool {
    dest.port() == PORT && crate::policy::canonical_ip(dest.ip()) == IpAddr::V4(SENTINEL)
}

/// The installer's end of a started helper: its channel and the answerer's two sockets,
/// which the supervisor inherits.
pub struct Helper {
    /// Requests for sockets in the answerer's namespace.
    pub channel: OwnedFd,
    /// The UDP socket bound to `SENTINEL:53`.
    pub udp: OwnedFd,
    /// The TCP socket listening on `SENTINEL:53`.
    pub tcp: OwnedFd,
}

impl Helper {
    /// The raw fds, for the supervisor's list of fds to keep.
    pub fn fds(&self) -> [RawFd; 3] {
        [
            self.channel.as_raw_fd(),
            self.udp.as_raw_fd(),
            self.tcp.as_raw_fd(),
        ]
    }
}

/// Request kinds on the helper's channel.
const MAKE_UDP: u8 = b'u';
const MAKE_UDP_UNBOUND: u8 = b'v';
const MAKE_UDP_CONNECTED: u8 = b'U';
const MAKE_TCP_CONNECTED: u8 = b'T';

/// Forks the helper and waits for its two sockets. `Err` says why there is no answerer
/// (the caller then tells the program's resolvers that no server is reachable).
///
/// # Safety
///
/// The calling process must be single-threaded (the child runs arbitrary code after
/// `fork`).
pub unsafe fn start() -> Result<Helper, String> {
    let (ours, theirs) = crate::sys::seqpacket_pair().map_err(|e| format!("socketpair: {e}"))?;
    // SAFETY: the caller guarantees a single thread; see above.
    match unsafe { libc::fork() } {
        -1 => Err(format!("fork: {}", io::Error::last_os_error())),
        0 => {
            drop(ours);
            // SAFETY: setsid and fork have no memory preconditions.
            unsafe {
                libc::setsid();
                match libc::fork() {
                    0 => helper_main(theirs),
                    -1 => libc::_exit(1),
                    _ => libc::_exit(0),
                }
            }
        }
        child => {
            drop(theirs);
            let mut status = 0;
            // SAFETY: waits for the intermediate child just forked.
            unsafe { libc::waitpid(child, &mut status, 0) };
            let mut buf = [0u8; 512];
            let (n, fds) = recv_with_fds(&ours, &mut buf)
                .map_err(|e| format!("the DNS helper did not answer: {e}"))?;
            let mut fds = fds.into_iter();
            match (&buf[..n], fds.next(), fds.next()) {
                (b"ok", Some(udp), Some(tcp)) => Ok(Helper {
                    channel: ours,
                    udp,
                    tcp,
                }),
                (why, _, _) if !why.is_empty() => Err(String::from_utf8_lossy(why).into_owned()),
                _ => Err("the DNS helper ended during start-up".into()),
            }
        }
    }
}

/// The helper process. Never returns.
fn helper_main(channel: OwnedFd) -> ! {
    // SAFETY: prctl and signal with integer arguments; SIG_IGN is a valid disposition.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, c"ns-dns-netns".as_ptr(), 0, 0, 0);
        libc::prctl(libc::PR_SET_PDEATHSIG, 0, 0, 0, 0);
        for sig in [libc::SIGHUP, libc::SIGINT, libc::SIGQUIT, libc::SIGTERM] {
            libc::signal(sig, libc::SIG_IGN);
        }
        libc::chdir(c"/".as_ptr());
    }
    crate::supervisor::close_inherited_fds(&[channel.as_raw_fd()], false);
    let exit = |code| -> ! {
        // SAFETY: ends this forked copy without running the program's exit handlers.
        unsafe { libc::_exit(code) }
    };
    let ready = set_up();
    // Not dumpable only now: an unprivileged user writes its own uid map in
    // `/proc/self`, which belongs to root in a process that is not dumpable. Nothing of the
    // program runs yet (the installer waits for this answer).
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    match ready {
        Ok((udp, tcp)) => {
            if send_with_fds(&channel, b"ok", &[udp.as_raw_fd(), tcp.as_raw_fd()]).is_err() {
                exit(1);
            }
        }
        Err(why) => {
            let _ = send_with_fds(&channel, why.as_bytes(), &[]);
            exit(1);
        }
    }
    let mut req = [0u8; 8];
    loop {
        // SAFETY: reads into a local buffer of the length passed.
        let n = unsafe { libc::recv(channel.as_raw_fd(), req.as_mut_ptr().cast(), req.len(), 0) };
        if n < 0 && crate::sys::errno() == libc::EINTR {
            continue;
        }
        if n != 2 {
            // The supervisor is gone (or confused): nothing more to make.
            exit(0);
        }
        let answer = make_socket(req[0], req[1]);
        let sent = match answer {
            Ok(fd) => send_with_fds(&channel, &[0, 0, 0, 0], &[fd.as_raw_fd()]),
            Err(e) => send_with_fds(
                &channel,
                &e.raw_os_error().unwrap_or(libc::EIO).to_ne_bytes(),
                &[],
            ),
        };
        if sent.is_err() {
            exit(0);
        }
    }
}

/// In the helper: the network namespace, `lo` up, the answerer's two sockets.
fn set_up() -> Result<(OwnedFd, OwnedFd), String> {
    // SAFETY: unshare with a flag constant.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        // SAFETY: geteuid and getegid have no preconditions.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        // SAFETY: unshare with flag constants.
        if unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) } != 0 {
            return Err(format!(
                "cannot create a network namespace for it (unshare(CLONE_NEWUSER | \
                 CLONE_NEWNET): {})",
                io::Error::last_os_error()
            ));
        }
        let write = |path: &str, text: String| {
            std::fs::write(path, text).map_err(|e| format!("writing {path}: {e}"))
        };
        write("/proc/self/setgroups", "deny".into())?;
        write("/proc/self/uid_map", format!("{uid} {uid} 1\n"))?;
        write("/proc/self/gid_map", format!("{gid} {gid} 1\n"))?;
    }
    loopback_up().map_err(|e| format!("bringing lo up in its network namespace: {e}"))?;
    let at = SocketAddr::new(IpAddr::V4(SENTINEL), PORT);
    let udp = UdpSocket::bind(at).map_err(|e| format!("binding UDP {at}: {e}"))?;
    let tcp = TcpListener::bind(at).map_err(|e| format!("listening on TCP {at}: {e}"))?;
    Ok((OwnedFd::from(udp), OwnedFd::from(tcp)))
}

/// `ip link set lo up`, in the calling thread's network namespace.
fn loopback_up() -> io::Result<()> {
    // SAFETY: a plain socket call.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: socket returned a new fd that we own.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain data; zero is valid for every field.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
        *d = *s as libc::c_char;
    }
    // SAFETY: the ioctls read and write one ifreq.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) != 0 {
            return Err(io::Error::last_os_error());
        }
        ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// In the helper: a new socket of `family` (4 or 6) for request `kind`: connected to
/// `SENTINEL:53`, or (an unconnected UDP socket) bound to a port the kernel picks on any
/// address, as its first send would bind it, so that its port is known before that send.
fn make_socket(family: u8, kind: u8) -> io::Result<OwnedFd> {
    let v6 = family == 6;
    let domain = if v6 { libc::AF_INET6 } else { libc::AF_INET };
    let ty = if kind == MAKE_TCP_CONNECTED {
        libc::SOCK_STREAM
    } else {
        libc::SOCK_DGRAM
    };
    // SAFETY: a plain socket call.
    let fd = unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: socket returned a new fd that we own.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    if kind == MAKE_UDP_UNBOUND {
        return Ok(sock);
    }
    let (ip, port) = if kind == MAKE_UDP {
        (Ipv4Addr::UNSPECIFIED, 0)
    } else {
        (SENTINEL, PORT)
    };
    // SAFETY: sockaddr_storage is plain data; zero is valid for every field.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = if v6 {
        // SAFETY: sockaddr_storage is large enough and aligned for a sockaddr_in6.
        let sa =
            unsafe { &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
        sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        sa.sin6_port = port.to_be();
        if kind != MAKE_UDP {
            sa.sin6_addr.s6_addr = ip.to_ipv6_mapped().octets();
        }
        std::mem::size_of::<libc::sockaddr_in6>()
    } else {
        // SAFETY: sockaddr_storage is large enough and aligned for a sockaddr_in.
        let sa =
            unsafe { &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
        sa.sin_family = libc::AF_INET as libc::sa_family_t;
        sa.sin_port = port.to_be();
        sa.sin_addr.s_addr = u32::from(ip).to_be();
        std::mem::size_of::<libc::sockaddr_in>()
    };
    let addr = (&ss as *const libc::sockaddr_storage).cast::<libc::sockaddr>();
    // SAFETY: `addr` points to a valid socket address of `len` bytes.
    let ret = unsafe {
        if kind == MAKE_UDP {
            libc::bind(sock.as_raw_fd(), addr, len as libc::socklen_t)
        } else {
            libc::connect(sock.as_raw_fd(), addr, len as libc::socklen_t)
        }
    };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sock)
}

/// The supervisor's end of the answerer.
pub(crate) struct Answerer {
    channel: Mutex<OwnedFd>,
    /// The network namespace cookie of the answerer's sockets.
    cookie: u64,
    /// The most recent sockets handed to the program: (local port, TCP, thread that
    /// asked), so that a refusal names who asked.
    clients: Mutex<Vec<(u16, bool, libc::pid_t)>>,
}

/// How many handed-over sockets [`Answerer`] remembers.
const CLIENTS: usize = 256;

/// Who asked about an unknown name: the name, whether over TCP, and the thread that was
/// handed the socket (when known).
pub(crate) struct Unknown<'a> {
    /// The name, lower case, without a trailing dot.
    pub name: &'a str,
    /// Asked over TCP (else UDP).
    pub tcp: bool,
    /// The thread whose socket asked.
    pub tid: Option<libc::pid_t>,
}

static ANSWERER: OnceLock<Answerer> = OnceLock::new();

/// The answerer, in the supervisor, once [`serve`] has started it.
pub(crate) fn get() -> Option<&'static Answerer> {
    ANSWERER.get()
}

/// What the answerer calls for each name it refuses (the supervisor's reporter).
pub(crate) type OnUnknown = Arc<dyn Fn(Unknown<'_>) + Send + Sync>;

/// What learn mode's answerer calls with each name looked up and its addresses.
pub(crate) type OnAnswer = Arc<dyn Fn(&str, &[IpAddr]) + Send + Sync>;

/// Whether the answerer may forward what its table does not answer: only when learning
/// (`--learn`, `Sandbox::learn_to`) **and** in audit mode. Under an enforced policy a
/// forwarding answerer would carry any name to the machine's resolver (a DNS tunnel), so
/// learning there writes addresses only. The installer and the supervisor both ask this.
pub(crate) fn may_forward(learning: bool, mode: crate::policy::Mode) -> bool {
    learning && mode == crate::policy::Mode::Audit
}

/// Learn mode's answerer (see the module documentation): forwards what the table does not
/// answer and tells who listens what each name resolved to. Only learn mode makes one.
pub(crate) struct Learning {
    /// The machine's first nameserver, port 53; `None` (none could be read): a query the
    /// table does not answer gets SERVFAIL.
    pub forward_to: Option<SocketAddr>,
    /// Called with each name the program looked up (lower case, no trailing dot) and the
    /// A/AAAA addresses the answer carried (none for NXDOMAIN, say).
    pub on_answer: OnAnswer,
}

/// How long a forwarded query waits for the machine's resolver.
const FORWARD_WAIT: Duration = Duration::from_secs(3);

/// The reply of `server` to `query` (a standard query with id `id`), relayed as it came;
/// `None` when it sent none within [`FORWARD_WAIT`]. One UDP socket per query, bound by
/// the kernel to an ephemeral port, connected to `server` (so only its datagrams arrive);
/// a datagram with another id is not the reply and is skipped.
fn forward(server: SocketAddr, query: &[u8], id: u16) -> Option<Vec<u8>> {
    let bind: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let sock = UdpSocket::bind(bind).ok()?;
    sock.connect(server).ok()?;
    sock.set_read_timeout(Some(FORWARD_WAIT)).ok()?;
    sock.send(query).ok()?;
    let deadline = std::time::Instant::now() + FORWARD_WAIT;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = sock.recv(&mut buf).ok()?;
        let reply = &buf[..n];
        if n >= 12 && u16::from_be_bytes([reply[0], reply[1]]) == id && reply[2] & 0x80 != 0 {
            return Some(reply.to_vec());
        }
        let left = deadline.checked_duration_since(std::time::Instant::now())?;
        sock.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
    }
}

/// In the supervisor: answers queries on the helper's sockets from `table`, in threads of
/// their own, and keeps the channel for [`Answerer::socket`]. With `learning` (learn mode
/// only), what the table does not answer is forwarded ([`Learning`]).
pub(crate) fn serve(
    helper: Helper,
    table: Arc<Table>,
    on_unknown: OnUnknown,
    learning: Option<Arc<Learning>>,
) {
    let Helper { channel, udp, tcp } = helper;
    let cookie = netns_cookie(udp.as_raw_fd()).unwrap_or(0);
    if ANSWERER
        .set(Answerer {
            channel: Mutex::new(channel),
            cookie,
            clients: Mutex::new(Vec::new()),
        })
        .is_err()
    {
        return;
    }
    let udp = UdpSocket::from(udp);
    let (t, u, l) = (table.clone(), on_unknown.clone(), learning.clone());
    let _ = std::thread::Builder::new()
        .name("dns-udp".into())
        .stack_size(128 * 1024)
        .spawn(move || serve_udp(udp, t, u, l));
    let tcp = TcpListener::from(tcp);
    let _ = std::thread::Builder::new()
        .name("dns-tcp".into())
        .stack_size(128 * 1024)
        .spawn(move || serve_tcp(tcp, table, on_unknown, learning));
}

/// The most forwarded UDP queries waiting for the machine's resolver at once (learn mode);
/// past it a query is answered in the receiving thread.
const MAX_FORWARDS: usize = 16;

fn serve_udp(
    udp: UdpSocket,
    table: Arc<Table>,
    on_unknown: OnUnknown,
    learning: Option<Arc<Learning>>,
) {
    let udp = Arc::new(udp);
    let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut buf = [0u8; 4096];
    loop {
        let Ok((n, from)) = udp.recv_from(&mut buf) else {
            // Not expected on a bound UDP socket; never spin on it.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let query = buf[..n].to_vec();
        let (t, u, l, s) = (
            table.clone(),
            on_unknown.clone(),
            learning.clone(),
            udp.clone(),
        );
        let answer = move || {
            let on = |name: &str| {
                u(Unknown {
                    name,
                    tcp: false,
                    tid: client(from, false),
                })
            };
            if let Some(r) = respond(&t, &query, l.as_deref(), &on) {
                let _ = s.send_to(&r, from);
            }
        };
        // In learn mode a query may wait seconds for the machine's resolver: in a thread of
        // its own, so that the others are not held up.
        if learning.is_some() && open.load(std::sync::atomic::Ordering::SeqCst) < MAX_FORWARDS {
            open.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let guard = CountGuard(open.clone());
            // Not spawned: the closure (and the guard) are gone with the error; the query
            // is lost, as a datagram may be, and the resolver asks again.
            let _ = std::thread::Builder::new()
                .name("dns-forward".into())
                .stack_size(128 * 1024)
                .spawn(move || {
                    let _guard = guard;
                    answer()
                });
            continue;
        }
        answer();
    }
}

/// The most TCP connections answered at once; more wait in the listener's backlog (a
/// program that opens connections without end costs the supervisor no more threads).
const MAX_TCP_CONNECTIONS: usize = 32;

fn serve_tcp(
    tcp: TcpListener,
    table: Arc<Table>,
    on_unknown: OnUnknown,
    learning: Option<Arc<Learning>>,
) {
    let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for conn in tcp.incoming() {
        let Ok(mut conn) = conn else {
            // Out of descriptors, say: never spin on it.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        while open.load(std::sync::atomic::Ordering::SeqCst) >= MAX_TCP_CONNECTIONS {
            std::thread::sleep(Duration::from_millis(10));
        }
        open.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let guard = CountGuard(open.clone());
        let peer = conn.peer_addr().ok();
        let (t, u, l) = (table.clone(), on_unknown.clone(), learning.clone());
        let _ = std::thread::Builder::new()
            .name("dns-tcp-conn".into())
            .stack_size(128 * 1024)
            .spawn(move || {
                use std::io::{Read, Write};
                let _guard = guard;
                let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = conn.set_write_timeout(Some(Duration::from_secs(10)));
                loop {
                    let mut len = [0u8; 2];
                    if conn.read_exact(&mut len).is_err() {
                        return;
                    }
                    let mut q = vec![0u8; u16::from_be_bytes(len) as usize];
                    if conn.read_exact(&mut q).is_err() {
                        return;
                    }
                    let Some(r) = respond(&t, &q, l.as_deref(), &|name| {
                        u(Unknown {
                            name,
                            tcp: true,
                            // Looked up now: the socket may be accepted before the
                            // supervisor has noted whose it is.
                            tid: peer.and_then(|p| client(p, true)),
                        })
                    }) else {
                        return;
                    };
                    let mut out = (r.len() as u16).to_be_bytes().to_vec();
                    out.extend_from_slice(&r);
                    if conn.write_all(&out).is_err() {
                        return;
                    }
                }
            });
    }
}

/// Counts one open connection until dropped.
struct CountGuard(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for CountGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The answer to `query` from `table`; `None` for a message that is not to be answered.
/// With `learning` (learn mode), a name the table does not hold is forwarded instead of
/// refused, and every name asked (but `localhost`) is told with its addresses.
pub(crate) fn respond(
    table: &Table,
    query: &[u8],
    learning: Option<&Learning>,
    on_unknown: &dyn Fn(&str),
) -> Option<Vec<u8>> {
    let Some(q) = dns_wire::question(query) else {
        return dns_wire::error(query);
    };
    let current = table.current();
    let found = current
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(&q.name) && !r.addresses.is_empty());
    match (found, learning) {
        (Some(r), _) => {
            if let Some(l) = learning {
                (l.on_answer)(&q.name, &r.addresses);
            }
            Some(dns_wire::answer(query, &q, &r.addresses, ANSWER_TTL))
        }
        (None, _) if q.name == "localhost" => {
            let local = [
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ];
            Some(dns_wire::answer(query, &q, &local, ANSWER_TTL))
        }
        (None, Some(l)) => {
            let reply = l.forward_to.and_then(|server| forward(server, query, q.id));
            match reply {
                Some(reply) => {
                    let addresses = dns_wire::answer_addresses(&reply, q.id).unwrap_or_default();
                    (l.on_answer)(&q.name, &addresses);
                    Some(reply)
                }
                None => Some(dns_wire::servfail(query, &q)),
            }
        }
        (None, None) => {
            on_unknown(&q.name);
            Some(dns_wire::nxdomain(query, &q))
        }
    }
}

/// The thread that was handed the socket at `peer`.
fn client(peer: SocketAddr, tcp: bool) -> Option<libc::pid_t> {
    let a = get()?;
    let clients = a.clients.lock().unwrap_or_else(|e| e.into_inner());
    clients
        .iter()
        .rev()
        .find(|c| c.0 == peer.port() && c.1 == tcp)
        .map(|c| c.2)
}

impl Answerer {
    /// Remembers that thread `tid` was handed `fd` (a socket in the answerer's namespace).
    pub(crate) fn note(&self, fd: RawFd, tcp: bool, tid: libc::pid_t) {
        // SAFETY: sockaddr_storage is plain data.
        let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: getsockname writes at most `len` bytes into `ss`.
        if unsafe {
            libc::getsockname(
                fd,
                (&mut ss as *mut libc::sockaddr_storage).cast(),
                &mut len,
            )
        } != 0
        {
            return;
        }
        // The port is at the same offset in sockaddr_in and sockaddr_in6.
        // SAFETY: both start with family and port; `ss` is initialised.
        let port = u16::from_be(unsafe {
            (*(&ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>()).sin_port
        });
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        clients.retain(|c| (c.0, c.1) != (port, tcp));
        if clients.len() >= CLIENTS {
            clients.remove(0);
        }
        clients.push((port, tcp, tid));
    }

    /// Whether `fd` is a socket in the answerer's network namespace (already replaced).
    pub(crate) fn owns(&self, fd: RawFd) -> bool {
        self.cookie != 0 && netns_cookie(fd).ok() == Some(self.cookie)
    }

    /// A new socket in the answerer's namespace: UDP (`tcp` false) or TCP, of IPv6 when
    /// `v6`, connected to `SENTINEL:53` when `connected` (always for TCP), else (UDP)
    /// bound to a port the kernel picks.
    pub(crate) fn socket(&self, v6: bool, tcp: bool, connected: bool) -> io::Result<OwnedFd> {
        let kind = match (tcp, connected) {
            (true, _) => MAKE_TCP_CONNECTED,
            (false, true) => MAKE_UDP_CONNECTED,
            (false, false) => MAKE_UDP,
        };
        self.request(v6, kind)
    }

    /// A new UDP socket in the answerer's namespace, of IPv6 when `v6`, neither bound nor
    /// connected.
    pub(crate) fn unbound_udp(&self, v6: bool) -> io::Result<OwnedFd> {
        self.request(v6, MAKE_UDP_UNBOUND)
    }

    fn request(&self, v6: bool, kind: u8) -> io::Result<OwnedFd> {
        let channel = self.channel.lock().unwrap_or_else(|e| e.into_inner());
        let req = [if v6 { 6 } else { 4 }, kind];
        // SAFETY: sends 2 bytes from a local buffer.
        let n = unsafe {
            libc::send(
                channel.as_raw_fd(),
                req.as_ptr().cast(),
                req.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if n != 2 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = [0u8; 4];
        let (n, mut fds) = recv_with_fds(&channel, &mut buf)?;
        match (n, fds.pop()) {
            (4, Some(fd)) => Ok(fd),
            (4, None) => Err(io::Error::from_raw_os_error(i32::from_ne_bytes(buf))),
            _ => Err(io::Error::from_raw_os_error(libc::EIO)),
        }
    }
}

/// `SO_NETNS_COOKIE` of socket `fd` (Linux 5.14+).
fn netns_cookie(fd: RawFd) -> io::Result<u64> {
    const SO_NETNS_COOKIE: libc::c_int = 71;
    let mut v: u64 = 0;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `v`.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            SO_NETNS_COOKIE,
            (&mut v as *mut u64).cast(),
            &mut len,
        )
    };
    if r == 0 {
        Ok(v)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Room for the control message of up to two descriptors.
const CONTROL_LEN: usize = 64;

/// Sends `data` with `fds` (`SCM_RIGHTS`) on `sock`.
fn send_with_fds(sock: &OwnedFd, data: &[u8], fds: &[RawFd]) -> io::Result<()> {
    let mut control = [0u64; CONTROL_LEN / 8];
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: msghdr is plain data; zero is valid for every field.
    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
    hdr.msg_iov = &mut iov;
    hdr.msg_iovlen = 1;
    if !fds.is_empty() {
        let bytes = std::mem::size_of_val(fds) as u32;
        hdr.msg_control = control.as_mut_ptr().cast();
        // SAFETY: CMSG_SPACE only computes a size.
        hdr.msg_controllen = unsafe { libc::CMSG_SPACE(bytes) } as _;
        // SAFETY: the control buffer (aligned, CONTROL_LEN bytes) has room for one header
        // and `bytes` of data (at most two fds), so the pointers the macros give are in it.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&hdr);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(bytes) as _;
            std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(c).cast(), fds.len());
        }
    }
    loop {
        // SAFETY: every pointer in `hdr` points into live local buffers.
        let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &hdr, libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return Ok(());
        }
        if crate::sys::errno() != libc::EINTR {
            return Err(io::Error::last_os_error());
        }
    }
}

/// Receives one message into `buf` with the descriptors it carries.
fn recv_with_fds(sock: &OwnedFd, buf: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
    let mut control = [0u64; CONTROL_LEN / 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain data; zero is valid for every field.
    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
    hdr.msg_iov = &mut iov;
    hdr.msg_iovlen = 1;
    hdr.msg_control = control.as_mut_ptr().cast();
    hdr.msg_controllen = CONTROL_LEN as _;
    let n = loop {
        // SAFETY: every pointer in `hdr` points into live local buffers of the lengths given.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut hdr, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n as usize;
        }
        if crate::sys::errno() != libc::EINTR {
            return Err(io::Error::last_os_error());
        }
    };
    let mut fds = Vec::new();
    // SAFETY: the kernel filled `control` and set `msg_controllen`; the macros walk the
    // headers within it, and each SCM_RIGHTS payload holds whole ints.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&hdr);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c).cast::<RawFd>();
                let count = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize)
                    / std::mem::size_of::<RawFd>();
                for i in 0..count {
                    fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            c = libc::CMSG_NXTHDR(&hdr, c);
        }
    }
    if n == 0 && fds.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the other end closed",
        ));
    }
    Ok((n, fds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_learning_in_audit_mode_forwards() {
        use crate::policy::Mode;
        assert!(may_forward(true, Mode::Audit));
        assert!(
            !may_forward(true, Mode::Enforce),
            "an enforced policy never forwards"
        );
        assert!(!may_forward(false, Mode::Audit));
        assert!(!may_forward(false, Mode::Enforce));
    }

    fn table() -> Table {
        Table::new(
            &[(
                "allowed.test".into(),
                vec!["127.0.0.2".parse().unwrap(), "::2".parse().unwrap()],
            )],
            None,
        )
    }

    #[test]
    fn answers_come_from_the_table_only() {
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let s = seen.clone();
        let on = move |n: &str| s.lock().unwrap().push(n.to_owned());
        let t = table();
        let q = dns_wire::query(1, "ALLOWED.test", dns_wire::TYPE_A).unwrap();
        let r = respond(&t, &q, None, &on).unwrap();
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1);
        assert_eq!(&r[r.len() - 4..], &[127, 0, 0, 2]);
        let q = dns_wire::query(2, "localhost", dns_wire::TYPE_AAAA).unwrap();
        let r = respond(&t, &q, None, &on).unwrap();
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1);
        assert_eq!(r[3] & 0xf, 0);
        let q = dns_wire::query(3, "other.test", dns_wire::TYPE_A).unwrap();
        let r = respond(&t, &q, None, &on).unwrap();
        assert_eq!(r[3] & 0xf, dns_wire::RCODE_NXDOMAIN);
        assert_eq!(*seen.lock().unwrap(), vec!["other.test".to_owned()]);
        // A refresh shows up in the next answer.
        t.update(
            "allowed.test",
            &["127.0.0.4".parse().unwrap()],
            Duration::from_secs(60),
        );
        let q = dns_wire::query(4, "allowed.test", dns_wire::TYPE_A).unwrap();
        let r = respond(&t, &q, None, &on).unwrap();
        assert_eq!(
            u16::from_be_bytes([r[6], r[7]]),
            1,
            "only the current address"
        );
        assert_eq!(&r[r.len() - 4..], &[127, 0, 0, 4]);
        assert!(is_sentinel("127.53.0.1:53".parse().unwrap()));
        assert!(is_sentinel("[::ffff:127.53.0.1]:53".parse().unwrap()));
        assert!(!is_sentinel("127.53.0.1:54".parse().unwrap()));
    }

    #[test]
    fn learn_mode_forwards_unknown_names_and_tells_their_addresses() {
        // "The machine's resolver": one UDP server on loopback answering 192.0.2.7 for
        // any A question, with the query's id.
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let at = server.local_addr().unwrap();
        let resolver = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            let (n, from) = server.recv_from(&mut buf).unwrap();
            let q = dns_wire::question(&buf[..n]).unwrap();
            let r = dns_wire::answer(&buf[..n], &q, &["192.0.2.7".parse().unwrap()], 60);
            server.send_to(&r, from).unwrap();
            q.name
        });
        let told = Arc::new(Mutex::new(Vec::<(String, Vec<IpAddr>)>::new()));
        let t2 = told.clone();
        let learning = Learning {
            forward_to: Some(at),
            on_answer: Arc::new(move |n, a| t2.lock().unwrap().push((n.into(), a.to_vec()))),
        };
        let refused = Mutex::new(Vec::<String>::new());
        let on = |n: &str| refused.lock().unwrap().push(n.to_owned());
        let t = table();
        let q = dns_wire::query(0x77, "Elsewhere.test", dns_wire::TYPE_A).unwrap();
        let r = respond(&t, &q, Some(&learning), &on).unwrap();
        assert_eq!(resolver.join().unwrap(), "elsewhere.test", "forwarded");
        assert_eq!(&r[..2], &[0, 0x77], "relayed with the query's id");
        assert_eq!(&r[r.len() - 4..], &[192, 0, 2, 7]);
        // A name of the table is answered from it, and told too.
        let q = dns_wire::query(0x78, "allowed.test", dns_wire::TYPE_A).unwrap();
        let r = respond(&t, &q, Some(&learning), &on).unwrap();
        assert_eq!(&r[r.len() - 4..], &[127, 0, 0, 2]);
        assert_eq!(
            *told.lock().unwrap(),
            vec![
                (
                    "elsewhere.test".to_owned(),
                    vec!["192.0.2.7".parse().unwrap()]
                ),
                (
                    "allowed.test".to_owned(),
                    vec!["127.0.0.2".parse().unwrap(), "::2".parse().unwrap()]
                ),
            ]
        );
        assert!(
            refused.lock().unwrap().is_empty(),
            "nothing refused in learn mode"
        );
        // No resolver to forward to: SERVFAIL, not NXDOMAIN (the name may well exist).
        let none = Learning {
            forward_to: None,
            on_answer: Arc::new(|_, _| {}),
        };
        let q = dns_wire::query(0x79, "elsewhere.test", dns_wire::TYPE_A).unwrap();
        let r = respond(&t, &q, Some(&none), &on).unwrap();
        assert_eq!(r[3] & 0xf, dns_wire::RCODE_SERVFAIL);
    }
}
