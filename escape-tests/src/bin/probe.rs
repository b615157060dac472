//! The program the enforcement tests run: installs the policy given on its command line (or
//! none, for the control run), then makes one attempt and prints `RESULT ok …` or
//! `RESULT err ERRNO`.
//!
//! ```text
//! probe [--allow ENDPOINT]… [--option audit|fallback=NAME|report=off|deny_errno=ECONNREFUSED|
//!       unresolved=unknown|keep-capability=N] [--log=PATH] [--learn=PATH] [--hook]
//!       [--leave-out=L2|--leave-out=L3] [--thread-first] [--no-sandbox] -- ATTEMPT ARGS…
//! ```
//!
//! `--leave-out` uses the library's test-only switch (`network_sandbox::test_switch`, the
//! `test-switch` feature, debug builds only) to install the sandbox without one layer.

use std::ffi::CString;
use std::mem::size_of;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use network_sandbox::{Fallback, Layer, Mode, Options, ReportTo};

#[path = "probe/around.rs"]
mod around;
#[path = "probe/query.rs"]
mod query;
#[path = "probe/tracing.rs"]
mod tracing;
#[path = "probe/unix.rs"]
mod unix;

static SUPERVISOR: AtomicUsize = AtomicUsize::new(0);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let split = args
        .iter()
        .position(|a| a == "--")
        .expect("usage: probe … -- ATTEMPT ARGS");
    let (opts, rest) = (&args[..split], &args[split + 1..]);
    let mut allow = Vec::new();
    let mut options = Options::default();
    let mut sandbox = true;
    let mut hook = false;
    let mut log: Option<String> = None;
    let mut learn: Option<String> = None;
    let mut it = opts.iter();
    while let Some(o) = it.next() {
        match o.as_str() {
            "--allow" => allow.push(it.next().expect("--allow needs a value").clone()),
            "--no-sandbox" => sandbox = false,
            "--hook" => hook = true,
            other if other.starts_with("--log=") => log = Some(other[6..].to_owned()),
            other if other.starts_with("--learn=") => learn = Some(other[8..].to_owned()),
            // A second thread before installing: the installer must refuse.
            "--thread-first" => {
                std::thread::spawn(|| loop {
                    std::thread::park();
                });
            }
            "--leave-out=L2" => leave_out(Layer::Supervisor),
            "--leave-out=L3" => leave_out(Layer::Landlock),
            "--option" => match it.next().expect("--option needs a value").as_str() {
                "audit" => options.mode = Mode::Audit,
                "report=off" => options.report = ReportTo::Off,
                "fallback=landlock-ports" => options.fallback = Fallback::LandlockPorts,
                "fallback=deny-all" => options.fallback = Fallback::DenyAll,
                "unresolved=unknown" => {
                    options.unresolved = network_sandbox::policy::Unresolved::Unknown
                }
                "deny_errno=ECONNREFUSED" => {
                    options.deny_errno = network_sandbox::DenyErrno::Econnrefused
                }
                "deny_errno=ENETUNREACH" => {
                    options.deny_errno = network_sandbox::DenyErrno::Enetunreach
                }
                // keep-capability=N: keep capability number N (keep_capabilities).
                other if other.starts_with("keep-capability=") => {
                    options.keep_capabilities |= 1 << other[16..].parse::<u32>().unwrap()
                }
                other => panic!("unknown option {other}"),
            },
            other => panic!("unknown flag {other}"),
        }
    }
    if rest.first().map(String::as_str) == Some("kill-supervisor-outside") {
        start_outside_killer();
    }
    if sandbox {
        let policy = network_sandbox::compiler::compile(&allow, options).unwrap_or_else(|e| {
            eprintln!("probe: bad policy: {e}");
            std::process::exit(2)
        });
        let mut installer = network_sandbox::Sandbox::new(&policy);
        if let Some(path) = &log {
            installer = installer.log_to(path, true);
        }
        if let Some(path) = &learn {
            installer = installer.learn_to(path);
        }
        if hook {
            installer = installer.on_violation(append_to_hook_file);
        }
        match installer.install() {
            Ok(enforcement) => {
                eprint!("{enforcement}");
                SUPERVISOR.store(
                    enforcement.supervisor_pid.unwrap_or(0) as usize,
                    Ordering::SeqCst,
                );
            }
            Err(e) => {
                println!("RESULT refused {e}");
                std::process::exit(network_sandbox::EXIT_NOT_SANDBOXED);
            }
        }
    }
    let (attempt, args) = rest.split_first().expect("no attempt");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = run(attempt, &args);
    report(result);
}

/// The library's test switch: only in debug builds (it does not exist in release builds).
#[cfg(debug_assertions)]
fn leave_out(layer: Layer) {
    network_sandbox::test_switch::leave_out(layer);
}

#[cfg(not(debug_assertions))]
fn leave_out(layer: Layer) {
    panic!("--leave-out={layer:?}: the test switch exists in debug builds only");
}

/// The violation hook: appends the line to the file named by `PROBE_HOOK_FILE`. It runs in
/// the supervisor process.
fn append_to_hook_file(v: &network_sandbox::Violation) {
    use std::io::Write;
    if let Some(path) = std::env::var_os("PROBE_HOOK_FILE") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
        {
            let _ = writeln!(f, "hook: {v}");
        }
    }
}

type Res = Result<String, i32>;

fn report(r: Res) {
    match r {
        Ok(s) if s.is_empty() => println!("RESULT ok"),
        Ok(s) => println!("RESULT ok {s}"),
        Err(e) => println!("RESULT err {}", errno_name(e)),
    }
}

fn errno_name(e: i32) -> String {
    match e {
        libc::EACCES => "EACCES".into(),
        libc::EAGAIN => "EAGAIN".into(),
        libc::EPERM => "EPERM".into(),
        libc::ENOSYS => "ENOSYS".into(),
        libc::EINVAL => "EINVAL".into(),
        libc::ECONNREFUSED => "ECONNREFUSED".into(),
        libc::ENETUNREACH => "ENETUNREACH".into(),
        libc::EBUSY => "EBUSY".into(),
        libc::EAFNOSUPPORT => "EAFNOSUPPORT".into(),
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT".into(),
        libc::ESOCKTNOSUPPORT => "ESOCKTNOSUPPORT".into(),
        libc::EFAULT => "EFAULT".into(),
        libc::EINTR => "EINTR".into(),
        libc::EISCONN => "EISCONN".into(),
        libc::ETIMEDOUT => "ETIMEDOUT".into(),
        libc::EINPROGRESS => "EINPROGRESS".into(),
        libc::EBADF => "EBADF".into(),
        libc::ENOTSOCK => "ENOTSOCK".into(),
        libc::ESRCH => "ESRCH".into(),
        libc::EROFS => "EROFS".into(),
        libc::ENOPROTOOPT => "ENOPROTOOPT".into(),
        libc::ENOENT => "ENOENT".into(),
        libc::ENOTDIR => "ENOTDIR".into(),
        libc::ENODEV => "ENODEV".into(),
        libc::ENOTCONN => "ENOTCONN".into(),
        libc::EPIPE => "EPIPE".into(),
        libc::EDESTADDRREQ => "EDESTADDRREQ".into(),
        libc::EIO => "EIO".into(),
        other => format!("errno{other}"),
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn check(ret: libc::c_long) -> Result<libc::c_long, i32> {
    if ret < 0 {
        Err(errno())
    } else {
        Ok(ret)
    }
}

fn addr(s: &str) -> SocketAddr {
    s.to_socket_addrs()
        .expect("address")
        .next()
        .expect("address")
}

/// A `sockaddr_storage` holding `a`, and its length.
fn sockaddr(a: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; zero is valid.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match a {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as u16,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_in fits in sockaddr_storage.
            unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin) };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as u16,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: 0,
            };
            // SAFETY: sockaddr_in6 fits in sockaddr_storage.
            unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin6) };
            size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

fn family(a: SocketAddr) -> i32 {
    if a.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    }
}

fn socket(domain: i32, ty: i32, proto: i32) -> Result<RawFd, i32> {
    // SAFETY: socket takes integers.
    check(unsafe { libc::socket(domain, ty, proto) } as libc::c_long).map(|fd| fd as RawFd)
}

/// A new socket of type `ty` bound to `a`.
fn bind_new(a: SocketAddr, ty: i32) -> Result<RawFd, i32> {
    let fd = socket(family(a), ty, 0)?;
    let (ss, len) = sockaddr(a);
    // SAFETY: `ss` holds a valid address of `len` bytes.
    check(
        // SAFETY: a raw system call with integer arguments, or buffers that outlive it.
        unsafe { libc::bind(fd, (&ss as *const libc::sockaddr_storage).cast(), len) }
            as libc::c_long,
    )?;
    Ok(fd)
}

fn connect_fd(fd: RawFd, a: SocketAddr) -> Result<(), i32> {
    let (ss, len) = sockaddr(a);
    // SAFETY: `ss` holds a valid address of `len` bytes.
    check(
        unsafe { libc::connect(fd, (&ss as *const libc::sockaddr_storage).cast(), len) }
            as libc::c_long,
    )
    .map(|_| ())
}

fn tcp_connect(a: SocketAddr) -> Res {
    let fd = socket(family(a), libc::SOCK_STREAM, 0)?;
    let r = connect_fd(fd, a);
    if r.is_ok() {
        let _ = send_hello(fd);
    }
    // SAFETY: closing our own fd.
    unsafe { libc::close(fd) };
    r.map(|_| String::new())
}

fn send_hello(fd: RawFd) -> Result<(), i32> {
    // SAFETY: writes from a static buffer.
    check(unsafe { libc::write(fd, b"hello".as_ptr().cast(), 5) } as libc::c_long).map(|_| ())
}

fn run(attempt: &str, a: &[&str]) -> Res {
    match attempt {
        "connect" => tcp_connect(addr(a[0])),
        "connect-nonblock" => connect_nonblock(addr(a[0])),
        "connect-mapped" => {
            // The IPv4 address written as ::ffff:a.b.c.d on an IPv6 socket.
            let SocketAddr::V4(v4) = addr(a[0]) else {
                panic!("ipv4 expected")
            };
            let mapped = SocketAddr::new(v4.ip().to_ipv6_mapped().into(), v4.port());
            tcp_connect(mapped)
        }
        "connect-repeat" => {
            let n: usize = a[1].parse().unwrap();
            for _ in 0..n {
                tcp_connect(addr(a[0]))?;
            }
            Ok(format!("{n}"))
        }
        "connect-threads" => connect_threads(addr(a[0]), a[1].parse().unwrap()),
        "connect-named-thread" => {
            // A connect from a thread named a[1], which first reports `RESULT ids PID TID`.
            let (d, name) = (addr(a[0]), a[1].to_owned());
            std::thread::Builder::new()
                .name(name)
                .spawn(move || {
                    // SAFETY: getpid and gettid take no arguments.
                    let (pid, tid) = unsafe { (libc::getpid(), libc::gettid()) };
                    println!("RESULT ids {pid} {tid}");
                    tcp_connect(d).map(|_| format!("{pid} {tid}"))
                })
                .expect("spawn a thread")
                .join()
                .expect("the thread ends")
        }
        "connect-each" => {
            // A connect to each address in turn; the first failure ends the attempt.
            for d in a {
                tcp_connect(addr(d))?;
            }
            Ok(format!("{}", a.len()))
        }
        "connect-count" => {
            // N connects, each to its end: how many were refused with EACCES.
            let n: usize = a[1].parse().unwrap();
            let refused = (0..n)
                .filter(|_| tcp_connect(addr(a[0])) == Err(libc::EACCES))
                .count();
            Ok(format!("{refused}"))
        }
        "unix-connect" => std::os::unix::net::UnixStream::connect(a[0])
            .map(|_| String::new())
            .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO)),
        "fork-connect" => fork_connect(addr(a[0])),
        "exec-connect" => exec_connect(addr(a[0])),
        "unspec-reconnect" => unspec_reconnect(addr(a[0]), addr(a[1]), a.get(2).copied()),
        "udp-mmsg-mix" => udp_mmsg_mix(&a.iter().map(|s| addr(s)).collect::<Vec<_>>()),
        "udp-mix" => udp_mix(addr(a[0]), addr(a[1])),
        "hold" => hold(),
        "sendto-len0" => sendto_len0(addr(a[0]), a[1] == "udp"),
        "race" => race(addr(a[0]), addr(a[1]), a[2].parse().unwrap()),
        "signal-storm" => signal_storm(addr(a[0]), addr(a[1])),
        "tfo-sendto" => tfo(addr(a[0]), false),
        "tfo-sendmsg" => tfo(addr(a[0]), true),
        "udp-sendto" => udp(addr(a[0]), UdpHow::SendTo),
        "udp-connect" => udp(addr(a[0]), UdpHow::Connect),
        "udp-sendmsg" => udp(addr(a[0]), UdpHow::SendMsg),
        "udp-pktinfo" => udp_pktinfo(addr(a[0]), a[1].parse().unwrap()),
        "udp-sendmmsg" => udp(addr(a[0]), UdpHow::SendMmsg),
        "udp-unspec-name" => udp(addr(a[0]), UdpHow::UnspecName),
        "socket" => {
            let n = |s: &str| s.parse::<i32>().unwrap();
            socket(n(a[0]), n(a[1]), n(a[2])).map(|_| String::new())
        }
        "mptcp-connect" => {
            let d = addr(a[0]);
            let fd = socket(family(d), libc::SOCK_STREAM, libc::IPPROTO_MPTCP)?;
            connect_fd(fd, d).map(|_| String::new())
        }
        "raw-udp" => raw_udp(addr(a[0])),
        "io-uring-setup" => {
            // SAFETY: io_uring_setup with a zeroed params struct.
            let mut p = [0u8; 120];
            // SAFETY: a raw system call with integer arguments, or buffers that outlive it.
            check(unsafe { libc::syscall(libc::SYS_io_uring_setup, 4, p.as_mut_ptr()) })
                .map(|_| String::new())
        }
        "io-uring-connect" => io_uring_connect(addr(a[0])),
        // On a bad fd (1000: -1 means "no ring" to io_uring_register): the kernel answers EBADF, so ENOSYS means the filter refused the call.
        // SAFETY (both): raw system calls with integer arguments only.
        "io-uring-enter" => {
            // SAFETY: a raw system call with integer arguments, or buffers that outlive it.
            check(unsafe { libc::syscall(libc::SYS_io_uring_enter, 1000, 0, 0, 0, 0, 0) })
                .map(|_| String::new())
        }
        "io-uring-register" => {
            // SAFETY: a raw system call with integer arguments, or buffers that outlive it.
            check(unsafe { libc::syscall(libc::SYS_io_uring_register, 1000, 0, 0, 0) })
                .map(|_| String::new())
        }
        #[cfg(target_arch = "x86_64")]
        "int80-connect" => int80_connect(addr(a[0])),
        "setsockopt" => {
            let n = |s: &str| s.parse::<i32>().unwrap();
            let fd = socket(libc::AF_INET, libc::SOCK_STREAM, 0)?;
            let one: i32 = 1;
            // SAFETY: passes a pointer to a local int and its size.
            check(
                unsafe { libc::setsockopt(fd, n(a[0]), n(a[1]), (&one as *const i32).cast(), 4) }
                    as libc::c_long,
            )
            .map(|_| String::new())
        }
        "bind" => bind_new(addr(a[0]), libc::SOCK_STREAM).map(|_| String::new()),
        "bind-udp" => bind_new(addr(a[0]), libc::SOCK_DGRAM).map(|_| String::new()),
        // A TCP socket bound to SRC (port 0), then connected to DEST (0.0.0.0:P, [::]:P: the
        // kernel sends it to the bound address or loopback).
        "connect-from" => {
            let fd = bind_new(addr(a[0]), libc::SOCK_STREAM)?;
            let r = connect_fd(fd, addr(a[1])).and_then(|()| send_hello(fd));
            // SAFETY: closing our own fd.
            unsafe { libc::close(fd) };
            r.map(|()| String::new())
        }
        // A UDP socket bound to SRC (port 0), then a `sendto` DEST.
        "udp-from" => {
            let fd = bind_new(addr(a[0]), libc::SOCK_DGRAM)?;
            let (to, to_len) = sockaddr(addr(a[1]));
            // SAFETY: a static buffer and our own copy of the address, valid for `to_len`.
            let r = check(unsafe {
                libc::sendto(
                    fd,
                    b"hello".as_ptr().cast(),
                    5,
                    0,
                    (&to as *const libc::sockaddr_storage).cast(),
                    to_len,
                )
            } as libc::c_long);
            // SAFETY: closing our own fd.
            unsafe { libc::close(fd) };
            r.map(|_| String::new())
        }
        "query-recv" => query_recv(addr(a[0]), a[1]),
        "port-range" => port_range(addr(a[0]), a[1].parse().unwrap(), a[2] == "udp"),
        "udp-bind0-send" => {
            // What Java's DatagramSocket and Node.js's dgram do: bind to port 0, then send.
            let d = addr(a[0]);
            let any = SocketAddr::new(
                if d.is_ipv4() {
                    [0u8; 4].into()
                } else {
                    [0u16; 8].into()
                },
                0,
            );
            let fd = bind_new(any, libc::SOCK_DGRAM)?;
            let (to, to_len) = sockaddr(d);
            // SAFETY: valid buffers.
            check(unsafe {
                libc::sendto(
                    fd,
                    b"hello".as_ptr().cast(),
                    5,
                    0,
                    (&to as *const libc::sockaddr_storage).cast(),
                    to_len,
                )
            } as libc::c_long)
            .map(|_| String::new())
        }
        "listen" => {
            let fd = socket(libc::AF_INET, libc::SOCK_STREAM, 0)?;
            // SAFETY: listen on our own socket (autobinds).
            check(unsafe { libc::listen(fd, 1) } as libc::c_long).map(|_| String::new())
        }
        "kill-supervisor" => kill_supervisor(addr(a[0])),
        "kill-supervisor-outside" => kill_supervisor_outside(addr(a[0])),
        "ptrace-attach" => {
            let pid = target_pid(a[0]);
            // SAFETY: ptrace with integer arguments.
            check(unsafe { libc::ptrace(libc::PTRACE_ATTACH, pid, 0, 0) })?;
            // Attached (a control): take the stop the attach caused and detach, so the
            // target runs on instead of staying stopped once this process exits.
            // SAFETY: waitpid and ptrace with integer arguments and a local status.
            unsafe {
                let mut status = 0;
                libc::waitpid(pid, &mut status, libc::__WALL);
                libc::ptrace(libc::PTRACE_DETACH, pid, 0, 0);
            }
            Ok(String::new())
        }
        "proc-mem" => {
            let path = CString::new(format!("/proc/{}/mem", target_pid(a[0]))).unwrap();
            // SAFETY: open with a valid C string.
            check(unsafe { libc::open(path.as_ptr(), libc::O_RDWR) } as libc::c_long)
                .map(|_| String::new())
        }
        "pidfd-getfd" => {
            // SAFETY: raw syscalls with integer arguments.
            let pidfd = check(unsafe { libc::syscall(libc::SYS_pidfd_open, target_pid(a[0]), 0) })?;
            // SAFETY: a raw system call with integer arguments, or buffers that outlive it.
            check(unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd, 0, 0) })
                .map(|_| String::new())
        }
        "vm-write" => vm_access(target_pid(a[0]), true),
        "second-listener" => second_listener(),
        "allow-filter-connect" => allow_filter_connect(addr(a[0])),
        "status" => {
            let status = std::fs::read_to_string("/proc/self/status").map_err(|_| libc::EIO)?;
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(str::trim)
                    .unwrap_or("?")
                    .to_owned()
            };
            Ok(format!(
                "nnp={} seccomp={}",
                field("NoNewPrivs:"),
                field("Seccomp:")
            ))
        }
        "bad-input" => bad_input(addr(a[0])),
        "exchange" => exchange(addr(a[0])),
        "nondumpable-connect" => {
            // SAFETY: prctl with integer arguments.
            unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
            tcp_connect(addr(a[0]))
        }
        "stalled-and-normal" => stalled_and_normal(addr(a[0]), addr(a[1])),
        other => around::run(other, a)
            .or_else(|| tracing::run(other, a))
            .or_else(|| unix::run(other, a))
            .or_else(|| query::run(other, a))
            .unwrap_or_else(|| panic!("unknown attempt {other}")),
    }
}

fn target_pid(s: &str) -> libc::pid_t {
    if s == "supervisor" {
        SUPERVISOR.load(Ordering::SeqCst) as libc::pid_t
    } else {
        s.parse().unwrap()
    }
}

fn connect_nonblock(a: SocketAddr) -> Res {
    let fd = socket(family(a), libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0)?;
    match connect_fd(fd, a) {
        Ok(()) => return Ok("immediate".into()),
        Err(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut pfd, 1, 5000) };
    let mut err: i32 = 0;
    let mut len = 4 as libc::socklen_t;
    // SAFETY: SO_ERROR into a local int.
    unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut err as *mut i32).cast(),
            &mut len,
        )
    };
    if err != 0 {
        return Err(err);
    }
    send_hello(fd)?;
    Ok("einprogress".into())
}

fn connect_threads(a: SocketAddr, n: usize) -> Res {
    let ok = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let ok = ok.clone();
            std::thread::spawn(move || {
                if tcp_connect(a).is_ok() {
                    ok.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let ok = ok.load(Ordering::SeqCst);
    if ok == n {
        Ok(format!("{ok}"))
    } else {
        Err(libc::EIO)
    }
}

fn wait_child(pid: libc::pid_t) -> i32 {
    let mut status = 0;
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        255
    }
}

/// The child reports the errno of its connect as its exit code (0 = connected).
fn fork_connect(a: SocketAddr) -> Res {
    // SAFETY: the probe is single-threaded here; the child only makes system calls and exits.
    match unsafe { libc::fork() } {
        0 => {
            let code = match tcp_connect(a) {
                Ok(_) => 0,
                Err(e) => e,
            };
            // SAFETY: leaves the child without running exit handlers.
            unsafe { libc::_exit(code) }
        }
        pid => match wait_child(pid) {
            0 => Ok(String::new()),
            e => Err(e),
        },
    }
}

/// Another program (bash's /dev/tcp) connecting: the sandbox survives exec. Bash's own
/// message tells the errno of its connect; anything else is reported as it is.
fn exec_connect(a: SocketAddr) -> Res {
    let script = format!("exec 3<>/dev/tcp/{}/{} && echo hello >&3", a.ip(), a.port());
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|_| libc::ENOENT)?;
    if out.status.success() {
        return Ok(String::new());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprint!("{stderr}");
    for (message, errno) in [
        ("connect: Permission denied", libc::EACCES),
        ("connect: Function not implemented", libc::ENOSYS),
        ("connect: Operation not permitted", libc::EPERM),
        ("connect: Connection refused", libc::ECONNREFUSED),
    ] {
        if stderr.contains(message) {
            return Err(errno);
        }
    }
    Ok(format!("bash failed otherwise: {}", stderr.trim()))
}

/// Connects a socket (TCP, or UDP with `udp`) to `allowed`, dissolves the association with
/// `connect(AF_UNSPEC)`, connects it to `other` and sends. Reports each step, so a test can
/// tell which one failed: `connect=ok unspec=ok reconnect=EACCES`.
fn unspec_reconnect(allowed: SocketAddr, other: SocketAddr, kind: Option<&str>) -> Res {
    let ty = match kind {
        Some("udp") => libc::SOCK_DGRAM,
        _ => libc::SOCK_STREAM,
    };
    let fd = socket(family(allowed), ty, 0)?;
    let mut steps = Vec::new();
    let mut step = |name: &str, r: Result<(), i32>| {
        let ok = r.is_ok();
        steps.push(format!(
            "{name}={}",
            r.map_or_else(errno_name, |_| "ok".into())
        ));
        ok
    };
    // SAFETY: zeroed sockaddr_in: family AF_UNSPEC, 16 bytes.
    let unspec: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let _ = step("connect", connect_fd(fd, allowed))
        && step(
            "unspec",
            // SAFETY: valid address buffer of 16 bytes.
            check(
                // SAFETY: a raw system call with integer arguments, or buffers that outlive it.
                unsafe { libc::connect(fd, (&unspec as *const libc::sockaddr_in).cast(), 16) }
                    as libc::c_long,
            )
            .map(|_| ()),
        )
        && step("reconnect", connect_fd(fd, other))
        && step("send", send_hello(fd));
    // SAFETY: our own fd.
    unsafe { libc::close(fd) };
    Ok(steps.join(" "))
}

/// One `sendmmsg` on one UDP socket, one message to each destination in order. Reports the
/// call's return and each message's `msg_len`: `sent=1 lens=5,0`.
fn udp_mmsg_mix(to: &[SocketAddr]) -> Res {
    let fd = socket(family(to[0]), libc::SOCK_DGRAM, 0)?;
    let data = b"hello";
    let names: Vec<_> = to.iter().map(|a| sockaddr(*a)).collect();
    let mut iovs: Vec<libc::iovec> = to
        .iter()
        .map(|_| libc::iovec {
            iov_base: data.as_ptr() as *mut _,
            iov_len: data.len(),
        })
        .collect();
    let mut msgs: Vec<libc::mmsghdr> = names
        .iter()
        .zip(iovs.iter_mut())
        .map(|((ss, len), iov)| {
            // SAFETY: msghdr is plain data.
            let mut m: libc::msghdr = unsafe { std::mem::zeroed() };
            m.msg_name = (ss as *const libc::sockaddr_storage) as *mut _;
            m.msg_namelen = *len;
            m.msg_iov = iov;
            m.msg_iovlen = 1;
            libc::mmsghdr {
                msg_hdr: m,
                msg_len: 0,
            }
        })
        .collect();
    // SAFETY: every header points at live buffers above.
    let n = check(
        unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr(), msgs.len() as u32, 0) } as libc::c_long,
    )?;
    let lens: Vec<String> = msgs.iter().map(|m| m.msg_len.to_string()).collect();
    Ok(format!("sent={n} lens={}", lens.join(",")))
}

/// On one UDP socket: `sendto` the allowed, `sendmsg` the forbidden, `sendmsg` the allowed,
/// `sendto` the forbidden destination. Reports each: `sendto=ok sendmsg=EACCES …`.
fn udp_mix(allowed: SocketAddr, forbidden: SocketAddr) -> Res {
    let fd = socket(family(allowed), libc::SOCK_DGRAM, 0)?;
    let data = b"hello";
    let send = |to: SocketAddr, with_sendmsg: bool| -> String {
        let (ss, len) = sockaddr(to);
        let n = if with_sendmsg {
            let mut iov = libc::iovec {
                iov_base: data.as_ptr() as *mut _,
                iov_len: data.len(),
            };
            // SAFETY: msghdr is plain data.
            let mut m: libc::msghdr = unsafe { std::mem::zeroed() };
            m.msg_name = (&ss as *const libc::sockaddr_storage) as *mut _;
            m.msg_namelen = len;
            m.msg_iov = &mut iov;
            m.msg_iovlen = 1;
            // SAFETY: every pointer in `m` is valid.
            unsafe { libc::sendmsg(fd, &m, 0) }
        } else {
            // SAFETY: valid buffers.
            unsafe {
                libc::sendto(
                    fd,
                    data.as_ptr().cast(),
                    data.len(),
                    0,
                    (&ss as *const libc::sockaddr_storage).cast(),
                    len,
                )
            }
        };
        let call = if with_sendmsg { "sendmsg" } else { "sendto" };
        match check(n as libc::c_long) {
            Ok(_) => format!("{call}=ok"),
            Err(e) => format!("{call}={}", errno_name(e)),
        }
    };
    Ok([
        send(allowed, false),
        send(forbidden, true),
        send(allowed, true),
        send(forbidden, false),
    ]
    .join(" "))
}

/// On a socket (TCP, or UDP with `udp`) connected to `a`: `sendto` with an address pointer
/// but an address length of 0. The kernel's answer depends on the protocol (TCP ignores the
/// name and sends; UDP has a name too short for its family: `EINVAL`).
fn sendto_len0(a: SocketAddr, udp: bool) -> Res {
    let ty = if udp {
        libc::SOCK_DGRAM
    } else {
        libc::SOCK_STREAM
    };
    let fd = socket(family(a), ty, 0)?;
    connect_fd(fd, a)?;
    let (ss, _) = sockaddr(a);
    // SAFETY: valid buffers; the length 0 is the point.
    let n = check(unsafe {
        libc::sendto(
            fd,
            b"hello".as_ptr().cast(),
            5,
            0,
            (&ss as *const libc::sockaddr_storage).cast(),
            0,
        )
    } as libc::c_long)?;
    Ok(format!("{n}"))
}

/// Reports the supervisor's PID, then waits until standard input closes (so a test can act
/// on a live sandboxed process's supervisor from outside).
fn hold() -> Res {
    use std::io::{Read, Write};
    let pid = SUPERVISOR.load(Ordering::SeqCst);
    println!("RESULT ok supervisor={pid}");
    let _ = std::io::stdout().flush();
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
    std::process::exit(0)
}

/// One thread flips a shared sockaddr between the allowed and the forbidden destination while
/// the main thread connects with it `n` times.
fn race(allowed: SocketAddr, forbidden: SocketAddr, n: usize) -> Res {
    let (good, len) = sockaddr(allowed);
    let (bad, _) = sockaddr(forbidden);
    let shared: &'static mut libc::sockaddr_storage = Box::leak(Box::new(good));
    let ptr = shared as *mut libc::sockaddr_storage as usize;
    let stop = Arc::new(AtomicBool::new(false));
    let flipper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let p = ptr as *mut libc::sockaddr_storage;
            let mut flip = false;
            while !stop.load(Ordering::Relaxed) {
                // SAFETY: the box is leaked, so `p` stays valid; the racing read in connect()
                // is the point of this test.
                unsafe { std::ptr::write_volatile(p, if flip { bad } else { good }) };
                flip = !flip;
            }
        })
    };
    let mut connected = 0;
    for _ in 0..n {
        let fd = socket(libc::AF_INET, libc::SOCK_STREAM, 0)?;
        // SAFETY: `ptr` points at a valid sockaddr_storage (contents racing on purpose).
        let r = unsafe { libc::connect(fd, (ptr as *const libc::sockaddr_storage).cast(), len) };
        if r == 0 {
            connected += 1;
            let _ = send_hello(fd);
        }
        // SAFETY: our own fd.
        unsafe { libc::close(fd) };
    }
    stop.store(true, Ordering::SeqCst);
    flipper.join().unwrap();
    Ok(format!("{connected}"))
}

extern "C" fn on_signal(_: i32) {}

/// A thread sends SIGUSR1 (handler without SA_RESTART) to the process while it connects to
/// the forbidden and the allowed destination over and over.
fn signal_storm(allowed: SocketAddr, forbidden: SocketAddr) -> Res {
    // SAFETY: installs a handler that does nothing.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as usize;
        libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
    }
    let stop = Arc::new(AtomicBool::new(false));
    // SAFETY: gettid/getpid have no preconditions.
    let (pid, tid) = unsafe { (libc::getpid(), libc::gettid()) };
    let sender = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                // SAFETY: signals our own main thread.
                unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, libc::SIGUSR1) };
                std::thread::sleep(Duration::from_micros(50));
            }
        })
    };
    let mut allowed_ok = 0;
    for _ in 0..300 {
        let _ = tcp_connect(forbidden);
        let fd = socket(libc::AF_INET, libc::SOCK_STREAM, 0)?;
        let mut r = connect_fd(fd, allowed);
        while r == Err(libc::EINTR) {
            r = connect_fd(fd, allowed);
            if r == Err(libc::EISCONN) || r == Err(libc::EALREADY) {
                r = Ok(());
            }
        }
        if r.is_ok() {
            allowed_ok += 1;
        }
        // SAFETY: our own fd.
        unsafe { libc::close(fd) };
    }
    stop.store(true, Ordering::SeqCst);
    sender.join().unwrap();
    Ok(format!("{allowed_ok}"))
}

fn tfo(a: SocketAddr, with_sendmsg: bool) -> Res {
    let fd = socket(family(a), libc::SOCK_STREAM, 0)?;
    let (ss, len) = sockaddr(a);
    let data = b"hello";
    let n = if with_sendmsg {
        let mut iov = libc::iovec {
            iov_base: data.as_ptr() as *mut _,
            iov_len: data.len(),
        };
        // SAFETY: msghdr is plain data.
        let mut m: libc::msghdr = unsafe { std::mem::zeroed() };
        m.msg_name = (&ss as *const libc::sockaddr_storage) as *mut _;
        m.msg_namelen = len;
        m.msg_iov = &mut iov;
        m.msg_iovlen = 1;
        // SAFETY: every pointer in `m` is valid.
        unsafe { libc::sendmsg(fd, &m, libc::MSG_FASTOPEN) }
    } else {
        // SAFETY: valid buffers.
        unsafe {
            libc::sendto(
                fd,
                data.as_ptr().cast(),
                data.len(),
                libc::MSG_FASTOPEN,
                (&ss as *const libc::sockaddr_storage).cast(),
                len,
            )
        }
    };
    check(n as libc::c_long)?;
    std::thread::sleep(Duration::from_millis(100));
    Ok(String::new())
}

/// A UDP `sendmsg` to `a` with `IP_PKTINFO` (IPv4) or `IPV6_PKTINFO` (IPv6) ancillary data
/// whose interface index is `ifindex` (0: the routing table chooses; 1: `lo`).
fn udp_pktinfo(a: SocketAddr, ifindex: i32) -> Res {
    let fd = socket(family(a), libc::SOCK_DGRAM, 0)?;
    let (ss, len) = sockaddr(a);
    let data = b"hello";
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut _,
        iov_len: data.len(),
    };
    // Room for one header and the larger of the two structures, 8-byte aligned.
    let mut control = [0u64; 8];
    let (level, ty, payload): (i32, i32, Vec<u8>) = match a {
        SocketAddr::V4(_) => {
            let mut p = vec![0u8; std::mem::size_of::<libc::in_pktinfo>()];
            p[..4].copy_from_slice(&ifindex.to_ne_bytes());
            (libc::SOL_IP, libc::IP_PKTINFO, p)
        }
        SocketAddr::V6(_) => {
            let mut p = vec![0u8; std::mem::size_of::<libc::in6_pktinfo>()];
            p[16..20].copy_from_slice(&ifindex.to_ne_bytes());
            (libc::SOL_IPV6, libc::IPV6_PKTINFO, p)
        }
    };
    // SAFETY: CMSG_SPACE/CMSG_LEN are arithmetic.
    let (space, cmsg_len) = unsafe {
        (
            libc::CMSG_SPACE(payload.len() as u32) as usize,
            libc::CMSG_LEN(payload.len() as u32) as usize,
        )
    };
    // SAFETY: msghdr is plain data.
    let mut m: libc::msghdr = unsafe { std::mem::zeroed() };
    m.msg_name = (&ss as *const libc::sockaddr_storage) as *mut _;
    m.msg_namelen = len;
    m.msg_iov = &mut iov;
    m.msg_iovlen = 1;
    m.msg_control = control.as_mut_ptr().cast();
    m.msg_controllen = space;
    // SAFETY: `control` holds `space` bytes (checked by CMSG_FIRSTHDR); the header and its
    // data are written inside it.
    let n = unsafe {
        let c = libc::CMSG_FIRSTHDR(&m);
        assert!(!c.is_null() && space <= std::mem::size_of_val(&control));
        (*c).cmsg_level = level;
        (*c).cmsg_type = ty;
        (*c).cmsg_len = cmsg_len;
        std::ptr::copy_nonoverlapping(payload.as_ptr(), libc::CMSG_DATA(c), payload.len());
        libc::sendmsg(fd, &m, 0)
    };
    if n < 0 {
        return Err(errno());
    }
    Ok(String::new())
}

enum UdpHow {
    SendTo,
    Connect,
    SendMsg,
    SendMmsg,
    UnspecName,
}

fn udp(a: SocketAddr, how: UdpHow) -> Res {
    let fd = socket(family(a), libc::SOCK_DGRAM, 0)?;
    let (ss, len) = sockaddr(a);
    let data = b"hello";
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut _,
        iov_len: data.len(),
    };
    // SAFETY: msghdr is plain data.
    let mut m: libc::msghdr = unsafe { std::mem::zeroed() };
    m.msg_name = (&ss as *const libc::sockaddr_storage) as *mut _;
    m.msg_namelen = len;
    m.msg_iov = &mut iov;
    m.msg_iovlen = 1;
    // SAFETY (all arms): valid buffers and headers built above.
    // SAFETY: a raw system call with integer arguments, or buffers that outlive it.
    let n = unsafe {
        match how {
            UdpHow::SendTo => libc::sendto(
                fd,
                data.as_ptr().cast(),
                5,
                0,
                (&ss as *const libc::sockaddr_storage).cast(),
                len,
            ),
            UdpHow::Connect => {
                connect_fd(fd, a)?;
                libc::send(fd, data.as_ptr().cast(), 5, 0)
            }
            UdpHow::SendMsg => libc::sendmsg(fd, &m, 0),
            UdpHow::SendMmsg => {
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
                let n = libc::sendmmsg(fd, mm.as_mut_ptr(), 2, 0);
                if n == 2 && mm[0].msg_len != 5 {
                    return Err(libc::EIO);
                }
                n as isize
            }
            UdpHow::UnspecName => {
                // AF_UNSPEC family, but the rest of a sockaddr_in: UDP sends to that address.
                let mut sin = std::ptr::read(
                    (&ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>(),
                );
                sin.sin_family = libc::AF_UNSPEC as u16;
                libc::sendto(
                    fd,
                    data.as_ptr().cast(),
                    5,
                    0,
                    (&sin as *const libc::sockaddr_in).cast(),
                    16,
                )
            }
        }
    };
    check(n as libc::c_long)?;
    Ok(String::new())
}

/// A UDP datagram written by hand on a raw socket (root only).
fn raw_udp(a: SocketAddr) -> Res {
    let fd = socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_UDP)?;
    let mut pkt = Vec::new();
    pkt.extend_from_slice(&40000u16.to_be_bytes());
    pkt.extend_from_slice(&a.port().to_be_bytes());
    pkt.extend_from_slice(&13u16.to_be_bytes());
    pkt.extend_from_slice(&0u16.to_be_bytes());
    pkt.extend_from_slice(b"hello");
    let (ss, len) = sockaddr(SocketAddr::new(a.ip(), 0));
    // SAFETY: valid buffers.
    check(unsafe {
        libc::sendto(
            fd,
            pkt.as_ptr().cast(),
            pkt.len(),
            0,
            (&ss as *const libc::sockaddr_storage).cast(),
            len,
        )
    } as libc::c_long)
    .map(|_| String::new())
}

fn io_uring_connect(a: SocketAddr) -> Res {
    use io_uring::{opcode, types, IoUring};
    let mut ring = IoUring::new(4).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
    let fd = socket(family(a), libc::SOCK_STREAM, 0)?;
    let (ss, len) = sockaddr(a);
    let op = opcode::Connect::new(
        types::Fd(fd),
        (&ss as *const libc::sockaddr_storage).cast(),
        len,
    )
    .build();
    // SAFETY: `ss` outlives the submission, which completes before we return.
    unsafe { ring.submission().push(&op).map_err(|_| libc::EIO)? };
    ring.submit_and_wait(1)
        .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
    let cqe = ring.completion().next().ok_or(libc::EIO)?;
    if cqe.result() < 0 {
        return Err(-cqe.result());
    }
    send_hello(fd)?;
    Ok(String::new())
}

/// socket() and connect() through the i386 entry point (`int $0x80`), with the address in
/// memory below 4 GiB so the 32-bit ABI can name it.
#[cfg(target_arch = "x86_64")]
fn int80_connect(a: SocketAddr) -> Res {
    let SocketAddr::V4(_) = a else {
        panic!("ipv4 expected")
    };
    // SAFETY: anonymous private mapping in the low 2 GiB.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_32BIT,
            -1,
            0,
        )
    };
    if page == libc::MAP_FAILED {
        return Err(errno());
    }
    let (ss, len) = sockaddr(a);
    // SAFETY: the page is ours and large enough.
    unsafe { std::ptr::write(page.cast::<libc::sockaddr_storage>(), ss) };
    let int80 = |nr: u32, b: u32, c: u32, d: u32| -> i32 {
        let ret: i32;
        // SAFETY: a 32-bit system call with integer arguments and a pointer into `page`.
        unsafe {
            // rbx is reserved by LLVM: swap the first argument in and out around the call.
            std::arch::asm!(
                "xchg {b:r}, rbx",
                "int 0x80",
                "xchg {b:r}, rbx",
                b = inout(reg) b as u64 => _,
                inlateout("eax") nr as i32 => ret,
                in("ecx") c,
                in("edx") d,
                options(nostack),
            );
        }
        ret
    };
    const I386_SOCKET: u32 = 359;
    const I386_CONNECT: u32 = 362;
    let fd = int80(
        I386_SOCKET,
        libc::AF_INET as u32,
        libc::SOCK_STREAM as u32,
        0,
    );
    if fd < 0 {
        return Err(-fd);
    }
    let r = int80(I386_CONNECT, fd as u32, page as usize as u32, len);
    if r < 0 {
        return Err(-r);
    }
    send_hello(fd)?;
    Ok(String::new())
}

fn kill_supervisor(a: SocketAddr) -> Res {
    let pid = SUPERVISOR.load(Ordering::SeqCst) as libc::pid_t;
    if pid == 0 {
        return Err(libc::ESRCH);
    }
    // SAFETY: kill with integer arguments.
    check(unsafe { libc::kill(pid, libc::SIGKILL) } as libc::c_long)?;
    std::thread::sleep(Duration::from_millis(200));
    tcp_connect(a)
}

/// The write end of the pipe to the killer forked before the sandbox (0: none).
static KILLER: AtomicUsize = AtomicUsize::new(0);

/// Forks, before the sandbox is installed, a child that reads a pid from a pipe, SIGKILLs
/// it and exits: a process outside the sandbox, as another program of the user would be.
fn start_outside_killer() {
    let mut fds = [0; 2];
    // SAFETY: pipe writes two descriptors; the child only reads, kills and _exits.
    unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
        if libc::fork() == 0 {
            libc::close(fds[1]);
            let mut pid = [0u8; 4];
            if libc::read(fds[0], pid.as_mut_ptr().cast(), 4) == 4 {
                libc::kill(i32::from_ne_bytes(pid), libc::SIGKILL);
            }
            libc::_exit(0);
        }
        libc::close(fds[0]);
    }
    KILLER.store(fds[1] as usize, Ordering::SeqCst);
}

/// Has the outside killer SIGKILL the supervisor, then connects to `a`.
fn kill_supervisor_outside(a: SocketAddr) -> Res {
    let pid = SUPERVISOR.load(Ordering::SeqCst) as libc::pid_t;
    let fd = KILLER.load(Ordering::SeqCst) as RawFd;
    if pid == 0 || fd == 0 {
        return Err(libc::ESRCH);
    }
    // SAFETY: writes four bytes to our own pipe; waits for the killer (our child).
    unsafe {
        libc::write(fd, pid.to_ne_bytes().as_ptr().cast(), 4);
        let mut status = 0;
        libc::wait(&mut status);
    }
    std::thread::sleep(Duration::from_millis(200));
    tcp_connect(a)
}

/// Reads (`write` false) or writes one byte at 0x1000 of `pid` with `process_vm_readv` or
/// `process_vm_writev`: `EFAULT` (nothing mapped there) still shows the call was permitted.
fn vm_access(pid: libc::pid_t, write: bool) -> Res {
    let mut byte = [0u8; 1];
    let local = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let remote = libc::iovec {
        iov_base: 0x1000 as *mut _,
        iov_len: 1,
    };
    // SAFETY: describes a local buffer; the remote side is only touched by the kernel.
    let n = unsafe {
        if write {
            libc::process_vm_writev(pid, &local, 1, &remote, 1, 0)
        } else {
            libc::process_vm_readv(pid, &local, 1, &remote, 1, 0)
        }
    };
    match n {
        n if n >= 0 => Ok(String::new()),
        _ if errno() == libc::EFAULT => Ok("efault".into()),
        _ => Err(errno()),
    }
}

const CONNECT_NR: u32 = libc::SYS_connect as u32;

#[cfg(target_arch = "x86_64")]
const NATIVE_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const NATIVE_ARCH: u32 = 0xc000_00b7;

fn filter(ret_for_connect: u32) -> Vec<libc::sock_filter> {
    let i = |code: u16, jt: u8, jf: u8, k: u32| libc::sock_filter { code, jt, jf, k };
    vec![
        i(0x20, 0, 0, 4),
        i(0x15, 1, 0, NATIVE_ARCH),
        i(0x06, 0, 0, 0x7fff_0000),
        i(0x20, 0, 0, 0),
        i(0x15, 0, 1, CONNECT_NR),
        i(0x06, 0, 0, ret_for_connect),
        i(0x06, 0, 0, 0x7fff_0000),
    ]
}

fn install_own_filter(
    prog: &[libc::sock_filter],
    flags: libc::c_ulong,
) -> Result<libc::c_long, i32> {
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr() as *mut _,
    };
    // SAFETY: as root without no_new_privs the kernel needs CAP_SYS_ADMIN; set it anyway.
    unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    // SAFETY: a valid program.
    check(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &fprog,
        )
    })
}

/// A second filter with a listener of our own, which could answer CONTINUE to our connects.
fn second_listener() -> Res {
    install_own_filter(&filter(0x7fc0_0000), libc::SECCOMP_FILTER_FLAG_NEW_LISTENER)
        .map(|_| String::new())
}

/// A filter that explicitly allows connect, stacked on the sandbox's.
fn allow_filter_connect(a: SocketAddr) -> Res {
    install_own_filter(&filter(0x7fff_0000), 0)?;
    tcp_connect(a)
}

/// Calls the supervisor must answer as the kernel would, then one that must still work.
fn bad_input(allowed: SocketAddr) -> Res {
    let fd = socket(libc::AF_INET, libc::SOCK_STREAM, 0)?;
    let (ss, len) = sockaddr(allowed);
    let p = (&ss as *const libc::sockaddr_storage).cast::<libc::sockaddr>();
    let mut pipe = [0; 2];
    // SAFETY: pipe writes two fds.
    unsafe { libc::pipe(pipe.as_mut_ptr()) };
    type Call<'a> = (&'static str, Box<dyn Fn() -> i32 + 'a>);
    let calls: [Call<'_>; 8] = [
        // SAFETY (all): connect with deliberately bad arguments; the kernel or the supervisor
        // validates them, nothing is dereferenced in this process.
        (
            "unmapped",
            // SAFETY: connect with deliberately bad arguments; nothing is dereferenced here.
            Box::new(|| unsafe { libc::connect(fd, 8 as *const libc::sockaddr, len) }),
        ),
        (
            "len-huge",
            // SAFETY: connect with deliberately bad arguments; nothing is dereferenced here.
            Box::new(move || unsafe { libc::connect(fd, p, 0xffff_fff0) }),
        ),
        (
            "len-1",
            // SAFETY: connect with deliberately bad arguments; nothing is dereferenced here.
            Box::new(move || unsafe { libc::connect(fd, p, 1) }),
        ),
        (
            "len-short",
            // SAFETY: connect with deliberately bad arguments; nothing is dereferenced here.
            Box::new(move || unsafe { libc::connect(fd, p, 8) }),
        ),
        (
            "not-socket",
            // SAFETY: connect with deliberately bad arguments; nothing is dereferenced here.
            Box::new(move || unsafe { libc::connect(pipe[0], p, len) }),
        ),
        (
            "bad-fd",
            // SAFETY: connect with deliberately bad arguments; nothing is dereferenced here.
            Box::new(move || unsafe { libc::connect(4000, p, len) }),
        ),
        (
            "bad-fd-and-address",
            // SAFETY: connect with deliberately bad arguments; nothing is dereferenced here.
            Box::new(move || unsafe { libc::connect(4000, 8 as *const libc::sockaddr, len) }),
        ),
        (
            "not-socket-and-len",
            // SAFETY: connect with deliberately bad arguments; nothing is dereferenced here.
            Box::new(move || unsafe { libc::connect(pipe[0], p, 0xffff_fff0) }),
        ),
    ];
    let mut answers = Vec::new();
    for (name, call) in calls.iter() {
        let r = call();
        answers.push(format!(
            "{name}={}",
            if r == 0 {
                "ok".into()
            } else {
                errno_name(errno())
            }
        ));
    }
    tcp_connect(allowed)?;
    Ok(answers.join(","))
}

/// Connects, sends `hello`, and reads the server's `pong`.
fn exchange(a: SocketAddr) -> Res {
    use std::io::{Read, Write};
    let mut s =
        std::net::TcpStream::connect(a).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
    s.write_all(b"hello").map_err(|_| libc::EIO)?;
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).map_err(|_| libc::EIO)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// A blocking connect to a server that never answers (its accept queue is full) must not
/// hold up a connect from another thread: the supervisor hands blocking calls to spare
/// threads.
fn stalled_and_normal(stalled: SocketAddr, normal: SocketAddr) -> Res {
    let blocked = std::thread::spawn(move || {
        let fd = socket(libc::AF_INET, libc::SOCK_STREAM, 0)?;
        let tv = libc::timeval {
            tv_sec: 6,
            tv_usec: 0,
        };
        // SAFETY: SO_SNDTIMEO bounds the blocking connect; pointer and size of a local.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_SNDTIMEO,
                (&tv as *const libc::timeval).cast(),
                size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        let start = std::time::Instant::now();
        let r = connect_fd(fd, stalled);
        Ok::<_, i32>((r, start.elapsed()))
    });
    std::thread::sleep(Duration::from_millis(300));
    let start = std::time::Instant::now();
    tcp_connect(normal)?;
    let normal_took = start.elapsed();
    let (stalled_result, stalled_took) = blocked.join().unwrap()?;
    Ok(format!(
        "normal={}ms stalled={}ms/{}",
        normal_took.as_millis(),
        stalled_took.as_millis(),
        match stalled_result {
            Ok(()) => "connected".into(),
            Err(e) => errno_name(e),
        }
    ))
}

/// The port `fd` is bound to (`getsockname`), 0 when it has none.
fn local_port(fd: RawFd) -> Result<u16, i32> {
    // SAFETY: sockaddr_storage is plain data; zero is a valid value.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `ss` is writable for `len` bytes.
    check(unsafe {
        libc::getsockname(
            fd,
            (&mut ss as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    } as libc::c_long)?;
    // The port sits at the same offset in sockaddr_in and sockaddr_in6.
    // SAFETY: the kernel wrote an IPv4 or IPv6 address; both start with family and port.
    let sin: libc::sockaddr_in =
        unsafe { std::ptr::read((&ss as *const libc::sockaddr_storage).cast()) };
    Ok(u16::from_be(sin.sin_port))
}

/// Whether a UDP socket can be reached from outside: a socket of `a`'s family gets a port by
/// `how` (`bind` to `a`, or `send`, which autobinds before it fails), prints `PORT N`, waits
/// for a line on stdin (the test sends its datagram to that port first), then receives
/// without waiting: `ok got=N` (N bytes arrived) or the errno (`EAGAIN`: nothing).
fn query_recv(a: SocketAddr, how: &str) -> Res {
    use std::io::{BufRead, Write};
    let fd = socket(family(a), libc::SOCK_DGRAM, 0)?;
    match how {
        "bind" => {
            let (ss, len) = sockaddr(a);
            check(
                // SAFETY: `ss` holds a valid address of `len` bytes.
                unsafe { libc::bind(fd, (&ss as *const libc::sockaddr_storage).cast(), len) }
                    as libc::c_long,
            )?;
        }
        _ => {
            // Fails (no destination), after the kernel gave the socket a port.
            // SAFETY: a static buffer, valid for its length.
            let _ = unsafe { libc::send(fd, b"x".as_ptr().cast(), 1, libc::MSG_NOSIGNAL) };
        }
    }
    println!("PORT {}", local_port(fd)?);
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    let mut buf = [0u8; 64];
    // SAFETY: `buf` is writable for its length.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
    let n = check(n as libc::c_long)?;
    Ok(format!("got={n}"))
}

/// `IP_LOCAL_PORT_RANGE` (`SOL_IP` 51) narrowed to the one port `port` on a new TCP (or UDP)
/// socket of `a`'s family, then `bind` to `a` (port 0): `ok port=N`, the port the kernel
/// chose.
fn port_range(a: SocketAddr, port: u16, udp: bool) -> Res {
    let ty = if udp {
        libc::SOCK_DGRAM
    } else {
        libc::SOCK_STREAM
    };
    let fd = socket(family(a), ty, 0)?;
    // Low port in the low 16 bits, high port in the high 16 bits.
    let range: u32 = u32::from(port) | (u32::from(port) << 16);
    check(
        // SAFETY: a pointer to a local u32 and its size.
        unsafe { libc::setsockopt(fd, libc::SOL_IP, 51, (&range as *const u32).cast(), 4) }
            as libc::c_long,
    )?;
    let (ss, len) = sockaddr(a);
    check(
        // SAFETY: `ss` holds a valid address of `len` bytes.
        unsafe { libc::bind(fd, (&ss as *const libc::sockaddr_storage).cast(), len) }
            as libc::c_long,
    )?;
    Ok(format!("port={}", local_port(fd)?))
}
