//! The reference supervisor: the floor of the project's L2 design, to measure the project's
//! supervisor against.
//!
//! A child that wants the reference installs [`install`]: a seccomp filter that sends
//! `connect` to a listener (user notification, `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP` set) and
//! allows everything else, and a supervisor process forked beforehand (so the filter does not
//! apply to it) that takes the listener and answers each `connect` with exactly these steps:
//!
//! 1. `SECCOMP_IOCTL_NOTIF_RECV`;
//! 2. `process_vm_readv` of the address, once, into a buffer on the stack;
//! 3. a `PIDFD_THREAD` pidfd of the caller, cached from the previous call when the thread id
//!    is the same (a fresh one when not, or when the cached one no longer works; before
//!    Linux 6.9, a pidfd of the process, not cached);
//! 4. `pidfd_getfd` of the socket;
//! 5. `SECCOMP_IOCTL_NOTIF_ID_VALID`: the caller is still waiting, so the thread id (hence
//!    the pidfd, the memory read and the duplicate) named the caller throughout;
//! 6. a trivial check of the copy (the one allowed IPv4 address and port), then `connect`
//!    on the duplicate with that same copy;
//! 7. `close` of the duplicate;
//! 8. `SECCOMP_IOCTL_NOTIF_SEND` with the result.
//!
//! It never answers `CONTINUE` (the kernel never re-reads the caller's memory), so it is as
//! race-free as the project's design; it only leaves out what a real policy needs (matching
//! a list, the socket's kind, reporting). [`Variant`] adds one step at a time, to measure
//! what each costs.

use std::io;
use std::net::SocketAddrV4;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use network_sandbox::SockFilter;

/// `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP` (Linux 6.6).
const SYNC_WAKE_UP: u64 = 1;
/// `PIDFD_THREAD` (Linux 6.9): the pidfd names the thread, not its thread group.
const PIDFD_THREAD: libc::c_uint = libc::O_EXCL as libc::c_uint;
/// `sizeof(struct sockaddr_storage)`: the kernel refuses longer addresses with `EINVAL`.
const SOCKADDR_MAX: usize = 128;
/// `__X32_SYSCALL_BIT`: x32 system-call numbers (refused by the filter).
const X32_BIT: u32 = 0x4000_0000;

/// Which reference supervisor: the minimal path, or the minimal path with some of the
/// project's extra steps, to measure what each costs. Named in a child configuration as
/// `reference` followed by any of `+getsockopt`, `+ticker`, `+setsid`, `-nosync` (e.g.
/// `reference+getsockopt+setsid`), or `continue`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Variant {
    /// `+getsockopt`: the project's three `getsockopt`s on the duplicate (`SO_DOMAIN`,
    /// `SO_TYPE`, `SO_PROTOCOL`, as `core/src/supervisor/socket.rs::classify`); anything
    /// but TCP over IPv4 is refused.
    pub sockopts: bool,
    /// `+ticker`: the path runs in a receiver thread while the main thread wakes every
    /// 20 ms to look for the hang-up, as the project's supervisor is built.
    pub ticker: bool,
    /// `+setsid`: the supervisor calls `setsid()`, as the project's does (with autogroup
    /// scheduling, a new session is a scheduling group of its own).
    pub setsid: bool,
    /// `-nosync`: without `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP`.
    pub no_sync_wake_up: bool,
    /// `continue`: answers `SECCOMP_USER_NOTIF_FLAG_CONTINUE` at once. **Not secure** (the
    /// kernel re-reads the address after the answer): the cost of the notification round
    /// trip alone, for the findings only.
    pub continue_at_once: bool,
}

impl Variant {
    /// The variant a child configuration names, if it names one.
    pub fn from_config(name: &str) -> Option<Variant> {
        if name == "continue" {
            return Some(Variant {
                continue_at_once: true,
                ..Variant::default()
            });
        }
        let mut rest = name.strip_prefix("reference")?;
        let mut v = Variant::default();
        while !rest.is_empty() {
            let end = rest
                .char_indices()
                .skip(1)
                .find(|&(_, c)| c == '+' || c == '-')
                .map_or(rest.len(), |(i, _)| i);
            let flag = match &rest[..end] {
                "+getsockopt" => &mut v.sockopts,
                "+ticker" => &mut v.ticker,
                "+setsid" => &mut v.setsid,
                "-nosync" => &mut v.no_sync_wake_up,
                _ => return None,
            };
            *flag = true;
            rest = &rest[end..];
        }
        Some(v)
    }
}

fn cvt(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// The filter: `connect` → user notification, x32 numbers → `ENOSYS`, a foreign
/// architecture → kill, everything else allowed.
pub fn program() -> Vec<SockFilter> {
    let arch = network_sandbox_build::syscalls::audit_arch(crate::filters::native_arch());
    vec![
        SockFilter::new(0x20, 0, 0, 4),                              // ld arch
        SockFilter::new(0x15, 1, 0, arch),                           // jeq native, +1
        SockFilter::new(0x06, 0, 0, libc::SECCOMP_RET_KILL_PROCESS), // ret kill
        SockFilter::new(0x20, 0, 0, 0),                              // ld nr
        SockFilter::new(0x15, 0, 1, libc::SYS_connect as u32),       // jeq connect, 0, +1
        SockFilter::new(0x06, 0, 0, libc::SECCOMP_RET_USER_NOTIF),   // ret notify
        SockFilter::new(0x35, 0, 1, X32_BIT),                        // jge x32 bit, 0, +1
        SockFilter::new(0x06, 0, 0, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        SockFilter::new(0x06, 0, 0, libc::SECCOMP_RET_ALLOW),
    ]
}

/// Installs the reference sandbox in this (single-threaded) process: forks the supervisor
/// of `variant`, which lets connects to `allowed` through and refuses the others with
/// `EACCES`, then installs the filter and hands the listener over. Returns the supervisor's
/// PID; the supervisor exits once no task carries the filter.
pub fn install(variant: Variant, allowed: SocketAddrV4) -> io::Result<libc::pid_t> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two fds socketpair writes.
    cvt(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    }
    .into())?;
    // SAFETY: socketpair returned two new fds that we now own.
    let (ours, theirs) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: getpid has no preconditions.
    let target = unsafe { libc::getpid() };
    // SAFETY: the bench child is single-threaded (the caller's contract), so the forked
    // copy may allocate and take locks.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        drop(ours);
        supervisor_main(theirs, target, variant, allowed);
    }
    drop(theirs);

    // SAFETY: prctl with integer arguments.
    cvt(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }.into())?;
    let filter = program();
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    let flags =
        libc::SECCOMP_FILTER_FLAG_NEW_LISTENER | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
    let set_filter = |flags: libc::c_ulong| {
        // SAFETY: `prog` points at `len` instructions laid out as `struct sock_filter`
        // (`SockFilter` is `repr(C)` with the kernel's fields); the kernel only reads them.
        cvt(unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                flags,
                &prog as *const libc::sock_fprog,
            )
        })
    };
    let listener = match set_filter(flags) {
        // Before Linux 5.19: without WAIT_KILLABLE_RECV, as the project falls back.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            set_filter(libc::SECCOMP_FILTER_FLAG_NEW_LISTENER)
        }
        other => other,
    }?;
    // SAFETY: with NEW_LISTENER the return value is a new fd that we now own.
    let listener = unsafe { OwnedFd::from_raw_fd(listener as RawFd) };
    // The supervisor takes the listener with pidfd_getfd, then acknowledges.
    write_i32(&ours, listener.as_raw_fd())?;
    match read_i32(&ours)? {
        0 => Ok(pid),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

fn write_i32(fd: &OwnedFd, v: i32) -> io::Result<()> {
    let b = v.to_ne_bytes();
    // SAFETY: writes 4 bytes from a local buffer.
    let n = unsafe { libc::write(fd.as_raw_fd(), b.as_ptr().cast(), b.len()) };
    if n == 4 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn read_i32(fd: &OwnedFd) -> io::Result<i32> {
    let mut b = [0u8; 4];
    // SAFETY: reads at most 4 bytes into a local buffer.
    let n = unsafe { libc::read(fd.as_raw_fd(), b.as_mut_ptr().cast(), b.len()) };
    match n {
        4 => Ok(i32::from_ne_bytes(b)),
        n if n < 0 => Err(io::Error::last_os_error()),
        _ => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the reference supervisor ended during start-up",
        )),
    }
}

fn pidfd_open(tid: libc::pid_t, flags: libc::c_uint) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes integers and returns a new fd.
    let fd = cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, tid, flags) })?;
    // SAFETY: a new fd that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn pidfd_getfd(pidfd: &OwnedFd, fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_getfd takes integers and returns a new fd.
    let dup = cvt(unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) })?;
    // SAFETY: a new fd that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(dup as RawFd) })
}

/// The supervisor process: takes the listener from `target`, then serves. Never returns.
fn supervisor_main(
    channel: OwnedFd,
    target: libc::pid_t,
    variant: Variant,
    allowed: SocketAddrV4,
) -> ! {
    let exit = |code| -> ! {
        // SAFETY: ends this forked copy without running the bench child's exit handlers.
        unsafe { libc::_exit(code) }
    };
    // Let go of the harness's stdout pipe (it reads the child's output to its end), and of
    // stdin; keep stderr.
    // SAFETY: open/dup2/close on this process's own fds.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        if null < 0 {
            exit(1);
        }
        libc::dup2(null, 0);
        libc::dup2(null, 1);
        libc::close(null);
    }
    if variant.setsid {
        // SAFETY: setsid has no memory preconditions.
        unsafe { libc::setsid() };
    }
    let Ok(number) = read_i32(&channel) else {
        exit(0);
    };
    let listener = match pidfd_open(target, 0).and_then(|p| pidfd_getfd(&p, number)) {
        Ok(l) => l,
        Err(e) => {
            let _ = write_i32(&channel, e.raw_os_error().unwrap_or(libc::EIO));
            exit(1);
        }
    };
    if !variant.no_sync_wake_up {
        // SAFETY: the ioctl takes the flags by value.
        let ret = unsafe {
            libc::ioctl(
                listener.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS,
                SYNC_WAKE_UP,
            )
        };
        if ret != 0 {
            eprintln!(
                "bench reference: SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: {}",
                io::Error::last_os_error()
            );
        }
    }
    if write_i32(&channel, 0).is_err() {
        exit(1);
    }
    drop(channel);
    let allowed = crate::net::sockaddr_in(allowed);
    if variant.ticker {
        let fd = listener.as_raw_fd();
        std::thread::spawn(move || serve(&listener, variant, &allowed));
        while !hung_up(fd) {
            std::thread::sleep(Duration::from_millis(20));
        }
        exit(0);
    }
    serve(&listener, variant, &allowed);
    exit(0)
}

/// Whether the listener reports that no task carries the filter any more (without waiting).
fn hung_up(listener: RawFd) -> bool {
    let mut pfd = libc::pollfd {
        fd: listener,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd; a zero timeout never waits.
    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
    n > 0 && pfd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
}

/// Receives and answers notifications until no task carries the filter.
fn serve(listener: &OwnedFd, variant: Variant, allowed: &libc::sockaddr_in) {
    let fd = listener.as_raw_fd();
    let mut cache: Option<(libc::pid_t, OwnedFd)> = None;
    loop {
        // SAFETY: seccomp_notif is plain data; the kernel requires it zeroed.
        let mut notif: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: the ioctl writes one seccomp_notif into `notif`.
        if unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_RECV, &mut notif) } != 0 {
            match errno() {
                libc::EINTR => continue,
                // ENOENT: the caller went away between the wake-up and the copy, or no task
                // carries the filter any more (then the listener has hung up).
                libc::ENOENT if !hung_up(fd) => continue,
                _ => return,
            }
        }
        let mut resp = libc::seccomp_notif_resp {
            id: notif.id,
            val: 0,
            error: 0,
            flags: 0,
        };
        if variant.continue_at_once {
            resp.flags = libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32;
        } else {
            match answer(fd, &notif, variant, allowed, &mut cache) {
                Some(Ok(v)) => resp.val = v,
                Some(Err(e)) => resp.error = -e,
                None => continue,
            }
        }
        // SAFETY: the ioctl reads one seccomp_notif_resp. ENOENT: the caller is gone.
        unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_SEND, &resp) };
    }
}

fn id_valid(listener: RawFd, id: u64) -> bool {
    // SAFETY: the ioctl reads one u64.
    unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0 }
}

/// `pidfd_getfd` of `fd` in thread `tid`, with the cached pidfd when it names `tid`. A
/// cached `PIDFD_THREAD` pidfd names one thread; once that thread is gone `pidfd_getfd`
/// fails and a fresh pidfd is opened for whatever thread now has the id (which the caller
/// then confirms with `NOTIF_ID_VALID`).
fn take_fd(
    cache: &mut Option<(libc::pid_t, OwnedFd)>,
    tid: libc::pid_t,
    fd: RawFd,
) -> io::Result<OwnedFd> {
    if let Some((t, pidfd)) = cache.as_ref() {
        if *t == tid {
            if let Ok(dup) = pidfd_getfd(pidfd, fd) {
                return Ok(dup);
            }
        }
    }
    *cache = None;
    let pidfd = match pidfd_open(tid, PIDFD_THREAD) {
        Ok(p) => p,
        // Before Linux 6.9: a pidfd of the process, which only a thread-group leader's id
        // opens. It names a process, not the thread, so it is not cached.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            return pidfd_getfd(&pidfd_open(tid, 0)?, fd);
        }
        Err(e) => return Err(e),
    };
    let dup = pidfd_getfd(&pidfd, fd);
    *cache = Some((tid, pidfd));
    dup
}

/// The answer to one notification: the return value or an errno, or `None` when the caller
/// is gone (nothing to answer).
fn answer(
    listener: RawFd,
    notif: &libc::seccomp_notif,
    variant: Variant,
    allowed: &libc::sockaddr_in,
    cache: &mut Option<(libc::pid_t, OwnedFd)>,
) -> Option<Result<i64, i32>> {
    if notif.data.nr != libc::SYS_connect as i32 {
        return Some(Err(libc::EACCES));
    }
    let tid = notif.pid as libc::pid_t;
    let [fd, ptr, len, ..] = notif.data.args;
    // The kernel reads the length as an int.
    let len = len as u32 as i32;
    if !(0..=SOCKADDR_MAX as i32).contains(&len) {
        return Some(Err(libc::EINVAL));
    }
    let len = len as usize;

    // The address, copied once.
    let mut addr = [0u8; SOCKADDR_MAX];
    let local = libc::iovec {
        iov_base: addr.as_mut_ptr().cast(),
        iov_len: len,
    };
    let remote = libc::iovec {
        iov_base: ptr as usize as *mut libc::c_void,
        iov_len: len,
    };
    if len > 0 {
        // SAFETY: `local` describes `len` ≤ SOCKADDR_MAX writable bytes of `addr`; `remote`
        // is read in the other process only.
        let n = unsafe { libc::process_vm_readv(tid, &local, 1, &remote, 1, 0) };
        if n != len as isize {
            let e = if n >= 0 { libc::EFAULT } else { errno() };
            if !id_valid(listener, notif.id) {
                return None;
            }
            return Some(Err(if e == libc::EFAULT { e } else { libc::EACCES }));
        }
    }

    // The socket.
    let dup = match take_fd(cache, tid, fd as u32 as i32) {
        Ok(d) => d,
        Err(e) => {
            if !id_valid(listener, notif.id) {
                return None;
            }
            return Some(Err(if e.raw_os_error() == Some(libc::EBADF) {
                libc::EBADF
            } else {
                libc::EACCES
            }));
        }
    };
    // Still waiting: the thread id named the caller from the notification until now.
    if !id_valid(listener, notif.id) {
        return None;
    }
    if variant.sockopts && !is_tcp_v4(dup.as_raw_fd()) {
        return Some(Err(libc::EACCES));
    }

    // The trivial policy: this one address, compared on our copy.
    let want = sockaddr_bytes(allowed);
    if len < want.len() || addr[..8] != want[..8] {
        return Some(Err(libc::EACCES));
    }
    // SAFETY: `addr` is our own copy, valid for `len` bytes.
    let ret = unsafe {
        libc::connect(
            dup.as_raw_fd(),
            addr.as_ptr().cast(),
            len as libc::socklen_t,
        )
    };
    let result = if ret == 0 { Ok(0) } else { Err(errno()) };
    drop(dup);
    Some(result)
}

/// The bytes of a `sockaddr_in`.
fn sockaddr_bytes(a: &libc::sockaddr_in) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..2].copy_from_slice(&a.sin_family.to_ne_bytes());
    b[2..4].copy_from_slice(&a.sin_port.to_ne_bytes());
    b[4..8].copy_from_slice(&a.sin_addr.s_addr.to_ne_bytes());
    b
}

fn getsockopt_int(fd: RawFd, opt: libc::c_int) -> Option<libc::c_int> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` and `len` are valid for writes of an int and a socklen_t.
    let ret = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    (ret == 0).then_some(v)
}

/// The project's three `getsockopt`s (`core/src/supervisor/socket.rs::classify`).
fn is_tcp_v4(fd: RawFd) -> bool {
    getsockopt_int(fd, libc::SO_DOMAIN) == Some(libc::AF_INET)
        && getsockopt_int(fd, libc::SO_TYPE) == Some(libc::SOCK_STREAM)
        && getsockopt_int(fd, libc::SO_PROTOCOL) == Some(libc::IPPROTO_TCP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_are_named_by_their_steps() {
        assert_eq!(Variant::from_config("reference"), Some(Variant::default()));
        let v = Variant::from_config("reference+getsockopt+setsid-nosync").expect("a variant");
        assert!(v.sockopts && v.setsid && v.no_sync_wake_up && !v.ticker);
        assert!(Variant::from_config("continue").is_some_and(|v| v.continue_at_once));
        for bad in [
            "project",
            "plain",
            "reference+",
            "reference+nothing",
            "referencex",
            "referenceé",
        ] {
            assert_eq!(Variant::from_config(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_filter_notifies_connect_only() {
        let program = crate::filters::instructions(&program());
        network_sandbox_build::verify::check(&program).expect("a valid program");
        let action = |data: crate::filters::SeccompData| {
            network_sandbox_build::interp::run(&program, &data)
                .expect("runs")
                .action
        };
        let call = |nr: i64| crate::filters::call(nr, [0; 6]);
        assert_eq!(
            action(call(libc::SYS_connect)),
            libc::SECCOMP_RET_USER_NOTIF
        );
        for nr in [libc::SYS_socket, libc::SYS_sendto, libc::SYS_getppid] {
            assert_eq!(action(call(nr)), libc::SECCOMP_RET_ALLOW, "nr {nr}");
        }
        assert_eq!(
            action(call(libc::SYS_connect | X32_BIT as i64)),
            libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32
        );
        let mut foreign = call(libc::SYS_connect);
        foreign.arch ^= 1;
        assert_eq!(action(foreign), libc::SECCOMP_RET_KILL_PROCESS);
    }

    #[test]
    fn the_compared_bytes_are_a_sockaddr_in() {
        let a = crate::net::sockaddr_in(SocketAddrV4::new(crate::net::SERVER_IP, 0x1234));
        let b = sockaddr_bytes(&a);
        assert_eq!(&b[..2], &(libc::AF_INET as u16).to_ne_bytes());
        assert_eq!(&b[2..4], &[0x12, 0x34]);
        assert_eq!(&b[4..8], &[127, 0, 0, 2]);
    }

    /// Set in the test process that [`the_reference_allows_its_address_only`] starts.
    const CHILD_ENV: &str = "NSB_REFERENCE_TEST_CHILD";

    /// The reference installed for real, in a test process of its own (a filter cannot be
    /// taken off a process): see [`reference_in_this_process`].
    #[test]
    fn the_reference_allows_its_address_only() {
        let exe = std::env::current_exe().expect("the test binary's path");
        let out = std::process::Command::new(exe)
            .args([
                "--exact",
                "reference::tests::reference_in_this_process",
                "--ignored",
                "--test-threads=1",
                "--nocapture",
            ])
            .env(CHILD_ENV, "1")
            .output()
            .expect("starting the test process");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{text}");
        assert!(
            text.contains("1 passed"),
            "the inner test did not run: {text}"
        );
    }

    fn connect_to(addr: &libc::sockaddr_in) -> Result<OwnedFd, i32> {
        // SAFETY: socket with integer arguments.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        assert!(fd >= 0, "socket: {}", io::Error::last_os_error());
        // SAFETY: a new fd that we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: `addr` is a valid sockaddr_in for its size.
        let ret = unsafe {
            libc::connect(
                fd.as_raw_fd(),
                (addr as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if ret == 0 {
            Ok(fd)
        } else {
            Err(errno())
        }
    }

    fn peer(fd: &OwnedFd) -> std::net::SocketAddr {
        std::net::TcpStream::from(fd.try_clone().expect("dup"))
            .peer_addr()
            .expect("a connected socket's peer")
    }

    /// Only in the process [`the_reference_allows_its_address_only`] starts: installs the
    /// reference, then checks that the allowed address connects, another one is refused
    /// with `EACCES` (and connects without the sandbox: the control), and that rewriting
    /// the address from another thread during the calls never reaches the other address.
    #[test]
    #[ignore = "installs a filter on its process; run by the_reference_allows_its_address_only"]
    fn reference_in_this_process() {
        assert!(
            std::env::var_os(CHILD_ENV).is_some(),
            "run by the_reference_allows_its_address_only"
        );
        let allowed_l = crate::net::listen(crate::net::SERVER_IP).expect("allowed listener");
        let other_l =
            crate::net::listen(std::net::Ipv4Addr::new(127, 0, 0, 3)).expect("other listener");
        let allowed = match allowed_l.local_addr().expect("address") {
            std::net::SocketAddr::V4(a) => a,
            a => panic!("not IPv4: {a}"),
        };
        let other = match other_l.local_addr().expect("address") {
            std::net::SocketAddr::V4(a) => a,
            a => panic!("not IPv4: {a}"),
        };
        let (allowed_sa, other_sa) = (
            crate::net::sockaddr_in(allowed),
            crate::net::sockaddr_in(other),
        );
        // Control: without the sandbox, the other address connects.
        let c = connect_to(&other_sa).expect("control: the other address connects unsandboxed");
        assert_eq!(peer(&c), other.into());
        drop(c);

        let supervisor = install(Variant::default(), allowed).expect("installing the reference");
        assert!(supervisor > 0);
        let c = connect_to(&allowed_sa).expect("the allowed address connects");
        assert_eq!(peer(&c), allowed.into());
        assert_eq!(
            connect_to(&other_sa).err(),
            Some(libc::EACCES),
            "the other address"
        );
        let mut wrong_port = allowed_sa;
        wrong_port.sin_port = other_sa.sin_port;
        assert_eq!(
            connect_to(&wrong_port).err(),
            Some(libc::EACCES),
            "another port"
        );

        // The race: a thread flips the address between the two while this one connects. The
        // reference reads the address once and connects with its copy, so every connect
        // that succeeds reaches the allowed address.
        let shared: &'static mut libc::sockaddr_in = Box::leak(Box::new(allowed_sa));
        let ptr = shared as *mut libc::sockaddr_in as usize;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flipper = {
            let stop = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let v = if n % 2 == 0 { other_sa } else { allowed_sa };
                    // SAFETY: `ptr` points at the leaked sockaddr_in, which lives forever;
                    // volatile writes race with the kernel's and the supervisor's reads on
                    // purpose.
                    unsafe { std::ptr::write_volatile(ptr as *mut libc::sockaddr_in, v) };
                    n += 1;
                }
            })
        };
        let (mut reached, mut refused) = (0, 0);
        for _ in 0..2000 {
            // SAFETY: `ptr` is valid (see above); the copy may be torn, which is the point.
            let addr = ptr as *const libc::sockaddr_in;
            // SAFETY: socket with integer arguments.
            let fd =
                unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
            assert!(fd >= 0);
            // SAFETY: a new fd that we own.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            // SAFETY: the kernel reads a sockaddr_in's size at `addr`, which stays mapped.
            let ret = unsafe {
                libc::connect(
                    fd.as_raw_fd(),
                    addr.cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            };
            if ret == 0 {
                assert_eq!(peer(&fd), allowed.into(), "a rewritten address got through");
                reached += 1;
            } else {
                assert_eq!(errno(), libc::EACCES);
                refused += 1;
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        flipper.join().expect("the flipping thread");
        println!("race: {reached} reached the allowed address, {refused} refused");
        drop((allowed_l, other_l));
    }
}
