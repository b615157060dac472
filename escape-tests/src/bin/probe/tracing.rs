//! Attempts with ptrace and `process_vm_readv/writev` (issue 12): the sandbox allows them
//! between its own processes where Landlock confines them, so these check what a tracer
//! inside can and cannot do: reach the sandbox's parent or its supervisor, rewrite a
//! tracee's notified `connect` while the supervisor performs it, turn an allowed system
//! call into a `connect` at the syscall-enter stop. Also (issue 12, item 6) a program's
//! own Landlock network rules, which the supervisor's connects are outside of.

use std::io::Write;
use std::mem::size_of;
use std::net::SocketAddr;
use std::os::fd::RawFd;

use super::{addr, check, errno, sockaddr, socket, target_pid, vm_access, Res};

/// The attempt `name`, if it is one of these.
pub fn run(name: &str, a: &[&str]) -> Option<Res> {
    Some(match name {
        "ptrace-seize" => {
            let pid = pid(a[0]);
            // SAFETY: ptrace with integer arguments (a seized process is not stopped, and is
            // let go when the probe exits).
            check(unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, 0, 0) }).map(|_| String::new())
        }
        "ptrace-attach-parent" => attach_parent(),
        "vm-read" => vm_access(pid(a[0]), false),
        "trace-child" => trace_child(),
        "trace-syscall-to-connect" => syscall_to_connect(addr(a[0])),
        "trace-rewrite-during-connect" => rewrite_during_connect(addr(a[0]), addr(a[1])),
        "own-landlock-connect" => own_landlock_connect(addr(a[0])),
        _ => return None,
    })
}

/// PTRACE_ATTACH of the probe's parent; when it works (the control), waits for the
/// attach's stop and lets the parent go on.
fn attach_parent() -> Res {
    let pid = pid("parent");
    // SAFETY: ptrace with integer arguments.
    check(unsafe { libc::ptrace(libc::PTRACE_ATTACH, pid, 0, 0) })?;
    let mut status = 0;
    // SAFETY: waitpid on our tracee into a local; ptrace with integer arguments.
    unsafe {
        libc::waitpid(pid, &mut status, libc::__WALL);
        libc::ptrace(libc::PTRACE_DETACH, pid, 0, 0);
    }
    Ok(String::new())
}

/// `parent`: the probe's parent; otherwise as [`target_pid`].
fn pid(s: &str) -> libc::pid_t {
    if s == "parent" {
        // SAFETY: getppid has no preconditions.
        unsafe { libc::getppid() }
    } else {
        target_pid(s)
    }
}

/// Forks a child that stops itself; seizes it, reads its memory, lets it go: what a
/// debugger does to a process of its own sandbox.
fn trace_child() -> Res {
    let marker: u64 = 0x005e_ed0f_7ace;
    let child = fork_child(|| {
        // SAFETY: raise in the child.
        unsafe { libc::raise(libc::SIGSTOP) };
        0
    })?;
    let r = (|| {
        // SAFETY: ptrace with integer arguments.
        check(unsafe { libc::ptrace(libc::PTRACE_SEIZE, child, 0, 0) })?;
        let mut got: u64 = 0;
        let local = libc::iovec {
            iov_base: (&mut got as *mut u64).cast(),
            iov_len: 8,
        };
        let remote = libc::iovec {
            iov_base: (&marker as *const u64).cast_mut().cast(),
            iov_len: 8,
        };
        // SAFETY: a local buffer; the child's copy of `marker` is at the same address.
        check(unsafe { libc::process_vm_readv(child, &local, 1, &remote, 1, 0) } as _)?;
        if got != marker {
            return Err(libc::EIO);
        }
        Ok(String::new())
    })();
    reap(child);
    r
}

/// Forks; the child runs `f` and exits with its value. Only async-signal-safe work in `f`
/// (the probe is single-threaded, so anything is, but keep to raw system calls).
fn fork_child(f: impl FnOnce() -> i32) -> Result<libc::pid_t, i32> {
    // SAFETY: the probe has one thread (the supervisor is another process); the child only
    // runs `f` and `_exit`s.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(errno());
    }
    if pid == 0 {
        let code = f();
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    Ok(pid)
}

/// Kills and reaps `child` (a tracee is killed too).
fn reap(child: libc::pid_t) {
    let mut status = 0;
    // SAFETY: kill and waitpid on our own child.
    unsafe {
        libc::kill(child, libc::SIGKILL);
        libc::waitpid(child, &mut status, libc::__WALL);
    }
}

/// Waits for `child` to stop; `Err` if it ended instead.
fn wait_stop(child: libc::pid_t) -> Result<i32, i32> {
    let mut status = 0;
    // SAFETY: waitpid on our own child into a local.
    check(unsafe { libc::waitpid(child, &mut status, libc::__WALL) } as _)?;
    if libc::WIFSTOPPED(status) {
        Ok(status)
    } else {
        Err(libc::ECHILD)
    }
}

/// A tracer turns the tracee's `getpid` into `connect(fd, to)` at the syscall-enter stop.
/// seccomp runs after that stop (Linux 4.8+), on the changed call: the sandbox sees a
/// `connect` to `to` and judges it. `ok` if the connect succeeded, else its errno.
#[cfg(target_arch = "x86_64")]
fn syscall_to_connect(to: SocketAddr) -> Res {
    let fd = socket(super::family(to), libc::SOCK_STREAM, 0)?;
    let (ss, len) = sockaddr(to);
    let child = fork_child(|| {
        // SAFETY: ptrace, raise and a raw getpid in the child.
        unsafe {
            libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0);
            libc::raise(libc::SIGSTOP);
            libc::syscall(libc::SYS_getpid);
        }
        0
    })?;
    let r = (|| {
        wait_stop(child)?;
        // SAFETY: user_regs_struct is plain data; zero is valid.
        let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
        // SAFETY: ptrace requests on our stopped tracee, with locals for the registers.
        unsafe {
            check(libc::ptrace(
                libc::PTRACE_SETOPTIONS,
                child,
                0,
                libc::PTRACE_O_TRACESYSGOOD,
            ))?;
            // Syscall-enter stops until the getpid.
            loop {
                check(libc::ptrace(libc::PTRACE_SYSCALL, child, 0, 0))?;
                let status = wait_stop(child)?;
                if libc::WSTOPSIG(status) != libc::SIGTRAP | 0x80 {
                    continue;
                }
                check(libc::ptrace(libc::PTRACE_GETREGS, child, 0, &mut regs))?;
                if regs.orig_rax == libc::SYS_getpid as u64 {
                    break;
                }
                // The exit stop of another call: go on to the next enter stop.
                check(libc::ptrace(libc::PTRACE_SYSCALL, child, 0, 0))?;
                wait_stop(child)?;
            }
            regs.orig_rax = libc::SYS_connect as u64;
            regs.rdi = fd as u64;
            regs.rsi = (&ss as *const libc::sockaddr_storage) as u64;
            regs.rdx = u64::from(len);
            check(libc::ptrace(libc::PTRACE_SETREGS, child, 0, &regs))?;
            // To the exit stop: the changed call's result.
            check(libc::ptrace(libc::PTRACE_SYSCALL, child, 0, 0))?;
            wait_stop(child)?;
            check(libc::ptrace(libc::PTRACE_GETREGS, child, 0, &mut regs))?;
        }
        let ret = regs.rax as i64;
        if ret < 0 {
            Err(-ret as i32)
        } else {
            Ok("connected".into())
        }
    })();
    reap(child);
    r
}

#[cfg(not(target_arch = "x86_64"))]
fn syscall_to_connect(_to: SocketAddr) -> Res {
    Err(libc::ENOSYS)
}

/// The tracee connects (blocking) to `allowed`, whose listener's queue the test keeps full,
/// so the connect stays in flight; the tracer (seized) waits until a SYN to `allowed` is
/// pending, then writes `other` over the tracee's sockaddr with `process_vm_writev`, prints
/// `RESULT step rewritten` and waits for the tracee, which reports where its socket is
/// connected and what its sockaddr buffer holds afterwards:
/// `ok peer=ADDR buffer=ADDR`.
fn rewrite_during_connect(allowed: SocketAddr, other: SocketAddr) -> Res {
    let fd = socket(super::family(allowed), libc::SOCK_STREAM, 0)?;
    let (ss, len) = sockaddr(allowed);
    let (new, _) = sockaddr(other);
    let mut pipe = [0 as RawFd; 2];
    // SAFETY: pipe into a local array.
    check(unsafe { libc::pipe(pipe.as_mut_ptr()) } as _)?;
    let ss_ptr = &ss as *const libc::sockaddr_storage;
    let child = fork_child(|| {
        // SAFETY: raw system calls in the child on its own copies of fd, ss and the pipe.
        unsafe {
            let r = libc::connect(fd, ss_ptr.cast(), len);
            let mut out = [0u8; 2 * size_of::<libc::sockaddr_storage>() + 4];
            let err = if r == 0 { 0 } else { *libc::__errno_location() };
            out[..4].copy_from_slice(&err.to_ne_bytes());
            let mut peer: libc::sockaddr_storage = std::mem::zeroed();
            let mut plen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            libc::getpeername(
                fd,
                (&mut peer as *mut libc::sockaddr_storage).cast(),
                &mut plen,
            );
            let n = size_of::<libc::sockaddr_storage>();
            std::ptr::copy_nonoverlapping(
                (&peer as *const libc::sockaddr_storage).cast::<u8>(),
                out[4..].as_mut_ptr(),
                n,
            );
            std::ptr::copy_nonoverlapping(ss_ptr.cast::<u8>(), out[4 + n..].as_mut_ptr(), n);
            libc::write(pipe[1], out.as_ptr().cast(), out.len());
        }
        0
    })?;
    // SAFETY: closes our copy of the write end.
    unsafe { libc::close(pipe[1]) };
    let r = (|| {
        // SAFETY: ptrace with integer arguments.
        check(unsafe { libc::ptrace(libc::PTRACE_SEIZE, child, 0, 0) })?;
        if !syn_pending(allowed) {
            return Err(libc::ETIMEDOUT);
        }
        let local = libc::iovec {
            iov_base: (&new as *const libc::sockaddr_storage).cast_mut().cast(),
            iov_len: len as usize,
        };
        let remote = libc::iovec {
            iov_base: ss_ptr.cast_mut().cast(),
            iov_len: len as usize,
        };
        // SAFETY: a local buffer; the tracee's copy of `ss` is at the same address.
        check(unsafe { libc::process_vm_writev(child, &local, 1, &remote, 1, 0) } as _)?;
        println!("RESULT step rewritten");
        let _ = std::io::stdout().flush();
        let mut out = [0u8; 2 * size_of::<libc::sockaddr_storage>() + 4];
        let mut got = 0;
        while got < out.len() {
            // SAFETY: reads into the rest of a local buffer.
            let n = unsafe { libc::read(pipe[0], out[got..].as_mut_ptr().cast(), out.len() - got) };
            if n <= 0 {
                return Err(libc::EIO);
            }
            got += n as usize;
        }
        let err = i32::from_ne_bytes(out[..4].try_into().unwrap());
        if err != 0 {
            return Err(err);
        }
        let n = size_of::<libc::sockaddr_storage>();
        let peer = parse(&out[4..4 + n]);
        let buffer = parse(&out[4 + n..]);
        Ok(format!("peer={peer} buffer={buffer}"))
    })();
    reap(child);
    r
}

/// An IPv4 or IPv6 `sockaddr_storage` in bytes, as text.
fn parse(b: &[u8]) -> String {
    let family = u16::from_ne_bytes([b[0], b[1]]);
    let port = u16::from_be_bytes([b[2], b[3]]);
    match i32::from(family) {
        libc::AF_INET => format!("{}.{}.{}.{}:{port}", b[4], b[5], b[6], b[7]),
        libc::AF_INET6 => {
            let ip: [u8; 16] = b[8..24].try_into().unwrap();
            format!("[{}]:{port}", std::net::Ipv6Addr::from(ip))
        }
        other => format!("family{other}"),
    }
}

/// Waits (at most 30 s) until a TCP socket of this network namespace is in `SYN_SENT` to
/// `to`: the supervisor (or the kernel, unsandboxed) has read the address and is connecting.
fn syn_pending(to: SocketAddr) -> bool {
    let SocketAddr::V4(v4) = to else {
        return false;
    };
    // /proc/net/tcp: "sl local rem st …", rem as HEX_IP:HEX_PORT, the IP in host order of
    // the 32-bit word; SYN_SENT is 02.
    let want = format!(
        "{:08X}:{:04X} 02",
        u32::from_ne_bytes(v4.ip().octets()),
        v4.port()
    );
    for _ in 0..3000 {
        if let Ok(table) = std::fs::read_to_string("/proc/net/tcp") {
            if table.lines().any(|l| l.contains(&want)) {
                return true;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    false
}

/// The program's own Landlock rules (item 6 of issue 12): a ruleset handling TCP connect
/// with no rule (every TCP connect refused), restricted on itself, then a TCP connect to
/// `to`. Unsandboxed the kernel refuses it (`EACCES`); in the sandbox the supervisor
/// performs the connect, outside this process's domain, so the program's own rule does not
/// hold (documented in docs/THREAT-MODEL.md).
fn own_landlock_connect(to: SocketAddr) -> Res {
    /// `struct landlock_ruleset_attr` (ABI 4+ reads the first two fields, ABI 6+ three).
    #[repr(C)]
    struct Attr {
        handled_access_fs: u64,
        handled_access_net: u64,
    }
    const LANDLOCK_ACCESS_NET_CONNECT_TCP: u64 = 1 << 1;
    let attr = Attr {
        handled_access_fs: 0,
        handled_access_net: LANDLOCK_ACCESS_NET_CONNECT_TCP,
    };
    // SAFETY: landlock_create_ruleset reads `attr` (its size given); prctl and
    // landlock_restrict_self take integers.
    unsafe {
        let fd = check(libc::syscall(
            libc::SYS_landlock_create_ruleset,
            &attr as *const Attr,
            size_of::<Attr>(),
            0,
        ))?;
        check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) as _)?;
        check(libc::syscall(libc::SYS_landlock_restrict_self, fd, 0))?;
        libc::close(fd as RawFd);
    }
    let fd = socket(super::family(to), libc::SOCK_STREAM, 0)?;
    let (ss, len) = sockaddr(to);
    // SAFETY: `ss` holds a valid address of `len` bytes.
    check(unsafe { libc::connect(fd, (&ss as *const libc::sockaddr_storage).cast(), len) } as _)
        .map(|_| String::new())
}
