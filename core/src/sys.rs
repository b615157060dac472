//! Thin wrappers over the system calls the runtime needs and the C library does not wrap.
//!
//! Every function returns `io::Result` with the raw errno, so callers can answer a sandboxed
//! process with exactly what the kernel said.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::filter::SockFilter;

/// `PIDFD_THREAD` (Linux 6.9): a pidfd for a thread that is not a thread-group leader.
const PIDFD_THREAD: libc::c_uint = libc::O_EXCL as libc::c_uint;
/// `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP` (Linux 6.6).
const SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: u64 = 1;

fn cvt(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`.
pub fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    cvt(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } as libc::c_long)?;
    Ok(())
}

/// Whether the kernel knows the seccomp return action `action`.
pub fn seccomp_action_available(action: u32) -> bool {
    // SAFETY: SECCOMP_GET_ACTION_AVAIL reads one u32 from the pointer, which is valid.
    unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_ACTION_AVAIL,
            0,
            &action as *const u32,
        ) == 0
    }
}

/// Installs `program` as a seccomp filter on the calling thread with `flags`. Returns the
/// listener fd when `flags` has `SECCOMP_FILTER_FLAG_NEW_LISTENER`.
pub fn seccomp_set_filter(
    program: &[SockFilter],
    flags: libc::c_ulong,
) -> io::Result<Option<OwnedFd>> {
    let len =
        u16::try_from(program.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let prog = libc::sock_fprog {
        len,
        // `SockFilter` is `repr(C)` with the kernel's field layout; the kernel only reads it.
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at `len` valid instructions that outlive the call.
    let ret = cvt(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &prog as *const libc::sock_fprog,
        )
    })?;
    if flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
        // SAFETY: with NEW_LISTENER the return value is a new fd that we now own.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(ret as RawFd) }))
    } else {
        Ok(None)
    }
}

/// A pidfd for the process that thread `tid` belongs to: `pidfd_open(tid, PIDFD_THREAD)`
/// (Linux 6.9), or on older kernels, which open only thread-group leaders, `pidfd_open` of
/// the thread group named in `/proc/TID/status`. Threads share their fd table, so either
/// serves `pidfd_getfd`. (The caller checks afterwards that the notification is still
/// pending, which rules out a reused TID.)
///
/// The flag says whether the pidfd names the thread itself (`PIDFD_THREAD`).
pub fn pidfd_open_thread(tid: libc::pid_t) -> io::Result<(OwnedFd, bool)> {
    // SAFETY: pidfd_open takes integers and returns a new fd.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, tid, PIDFD_THREAD) };
    match cvt(ret) {
        // SAFETY: the return value is a new fd that we now own.
        Ok(fd) => Ok((unsafe { OwnedFd::from_raw_fd(fd as RawFd) }, true)),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            Ok((pidfd_open(thread_group_of(tid)?)?, false))
        }
        Err(e) => Err(e),
    }
}

/// The thread group (process) id of thread `tid`.
pub(crate) fn thread_group_of(tid: libc::pid_t) -> io::Result<libc::pid_t> {
    read_small_file(&format!("/proc/{tid}/status"))
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Tgid:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .ok_or_else(|| io::Error::from_raw_os_error(libc::ESRCH))
}

/// `pidfd_open(pid, 0)`.
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes integers and returns a new fd.
    let ret = cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: the return value is a new fd that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// `pidfd_getfd(pidfd, fd, 0)`: a duplicate of another process's fd (same open file
/// description).
pub fn pidfd_getfd(pidfd: &OwnedFd, fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_getfd takes integers and returns a new fd.
    let ret = cvt(unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) })?;
    // SAFETY: the return value is a new fd that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// Copies `buf.len()` bytes at `addr` in process `pid` into `buf`. A short copy is
/// reported as `EFAULT`, as the kernel reports a partly unmapped buffer.
pub fn read_process_memory(pid: libc::pid_t, addr: u64, buf: &mut [u8]) -> io::Result<()> {
    if buf.is_empty() {
        return Ok(());
    }
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as usize as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: `local` describes `buf`, which is writable for its length; `remote` is only
    // read by the kernel on the other process's side.
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    match n {
        n if n < 0 => Err(io::Error::last_os_error()),
        n if n as usize == buf.len() => Ok(()),
        _ => Err(io::Error::from_raw_os_error(libc::EFAULT)),
    }
}

/// Writes `buf` at `addr` in process `pid`. A short write is reported as `EFAULT`.
pub fn write_process_memory(pid: libc::pid_t, addr: u64, buf: &[u8]) -> io::Result<()> {
    let local = libc::iovec {
        iov_base: buf.as_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as usize as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: `local` describes `buf`, which the kernel only reads.
    let n = unsafe { libc::process_vm_writev(pid, &local, 1, &remote, 1, 0) };
    match n {
        n if n < 0 => Err(io::Error::last_os_error()),
        n if n as usize == buf.len() => Ok(()),
        _ => Err(io::Error::from_raw_os_error(libc::EFAULT)),
    }
}

/// `SECCOMP_IOCTL_NOTIF_RECV` into a zeroed `seccomp_notif`.
pub fn notif_recv(listener: RawFd) -> io::Result<libc::seccomp_notif> {
    // SAFETY: seccomp_notif is plain data; the kernel requires it zeroed.
    let mut notif: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: the ioctl writes one seccomp_notif into `notif`.
    let ret = unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_RECV, &mut notif) };
    cvt(ret as libc::c_long)?;
    Ok(notif)
}

/// `SECCOMP_IOCTL_NOTIF_ID_VALID`: whether notification `id` is still pending (its task is
/// alive and still waiting in that system call).
pub fn notif_id_valid(listener: RawFd, id: u64) -> bool {
    // SAFETY: the ioctl reads one u64.
    unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0 }
}

/// `SECCOMP_IOCTL_NOTIF_SEND`: answers notification `id` with `val` or `-errno`. Never sets
/// `SECCOMP_USER_NOTIF_FLAG_CONTINUE`.
pub fn notif_send(listener: RawFd, id: u64, result: Result<i64, i32>) -> io::Result<()> {
    let (val, error) = match result {
        Ok(v) => (v, 0),
        Err(errno) => (0, -errno),
    };
    let resp = libc::seccomp_notif_resp {
        id,
        val,
        error,
        flags: 0,
    };
    // SAFETY: the ioctl reads one seccomp_notif_resp.
    let ret = unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_SEND, &resp) };
    cvt(ret as libc::c_long)?;
    Ok(())
}

/// `SECCOMP_IOCTL_NOTIF_SEND` with `SECCOMP_USER_NOTIF_FLAG_CONTINUE`: the kernel performs
/// the call itself, re-reading its memory arguments. Used only in audit mode, only for calls
/// whose decision the supervisor took on register arguments alone without reading the
/// caller's memory (docs/ARCHITECTURE.md, "Audit mode").
pub fn notif_continue(listener: RawFd, id: u64) -> io::Result<()> {
    let resp = libc::seccomp_notif_resp {
        id,
        val: 0,
        error: 0,
        flags: libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
    };
    // SAFETY: the ioctl reads one seccomp_notif_resp.
    let ret = unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_SEND, &resp) };
    cvt(ret as libc::c_long)?;
    Ok(())
}

/// `SECCOMP_IOCTL_NOTIF_ADDFD` with `SECCOMP_ADDFD_FLAG_SEND`: installs a copy of `fd` in
/// the caller (with `O_CLOEXEC` when `cloexec`) and answers notification `id` with its number,
/// atomically (Linux 5.14+).
pub fn notif_addfd_send(listener: RawFd, id: u64, fd: RawFd, cloexec: bool) -> io::Result<i32> {
    let addfd = libc::seccomp_notif_addfd {
        id,
        flags: libc::SECCOMP_ADDFD_FLAG_SEND as u32,
        srcfd: fd as u32,
        newfd: 0,
        newfd_flags: if cloexec { libc::O_CLOEXEC as u32 } else { 0 },
    };
    // SAFETY: the ioctl reads one seccomp_notif_addfd.
    let ret = unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_ADDFD, &addfd) };
    cvt(ret as libc::c_long).map(|fd| fd as i32)
}

/// `SECCOMP_IOCTL_NOTIF_ADDFD` with `SECCOMP_ADDFD_FLAG_SETFD`: installs a copy of `fd` in
/// the caller of notification `id` under the number `target` (with `O_CLOEXEC` when
/// `cloexec`), replacing whatever that number held, atomically (Linux 5.9+). The
/// notification stays pending.
pub fn notif_addfd_setfd(
    listener: RawFd,
    id: u64,
    fd: RawFd,
    target: RawFd,
    cloexec: bool,
) -> io::Result<()> {
    let addfd = libc::seccomp_notif_addfd {
        id,
        flags: libc::SECCOMP_ADDFD_FLAG_SETFD as u32,
        srcfd: fd as u32,
        newfd: target as u32,
        newfd_flags: if cloexec { libc::O_CLOEXEC as u32 } else { 0 },
    };
    // SAFETY: the ioctl reads one seccomp_notif_addfd.
    let ret = unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_ADDFD, &addfd) };
    cvt(ret as libc::c_long).map(drop)
}

/// Asks the kernel to wake the supervisor synchronously on notifications (Linux 6.6+),
/// which roughly halves the round trip. Failure only costs latency.
pub fn notif_set_sync_wake_up(listener: RawFd) -> bool {
    let flags: u64 = SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP;
    // SAFETY: the ioctl takes the flags by value.
    unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS, flags) == 0 }
}

/// The Landlock ABI version, or 0 if Landlock is not available.
pub fn landlock_abi() -> i32 {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with the VERSION flag the kernel reads no memory.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if v < 0 {
        0
    } else {
        v as i32
    }
}

/// Reads a small text file from /proc or /sys, trimmed; `None` if it does not exist.
pub fn read_small_file(path: &str) -> Option<String> {
    let mut s = String::new();
    File::open(path).ok()?.read_to_string(&mut s).ok()?;
    Some(s.trim().to_owned())
}

/// `getsockopt(fd, SOL_SOCKET, opt)` for an `int` option.
pub fn getsockopt_int(fd: RawFd, opt: libc::c_int) -> io::Result<libc::c_int> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` and `len` are valid for writes of their sizes.
    let ret = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    cvt(ret as libc::c_long)?;
    Ok(v)
}

/// The last OS error as a positive errno value.
pub fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// A pair of connected unix seqpacket sockets, close-on-exec: the channel between the
/// installer and a helper it forks (the supervisor, the DNS answerer's helper).
pub(crate) fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two fds socketpair writes.
    let ret = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: socketpair returned two new fds that we now own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_maps_to_its_process() {
        // SAFETY: getpid/gettid have no preconditions.
        let pid = unsafe { libc::getpid() };
        // SAFETY: gettid has no preconditions.
        let tid = std::thread::spawn(|| unsafe { libc::gettid() })
            .join()
            .unwrap();
        assert_ne!(tid, pid);
        // The thread has exited; use this (test) thread instead, which is not the leader.
        // SAFETY: as above.
        let me = unsafe { libc::gettid() };
        if me != pid {
            assert_eq!(thread_group_of(me).unwrap(), pid);
        }
        assert_eq!(thread_group_of(pid).unwrap(), pid);
        assert!(pidfd_open_thread(me).is_ok());
    }
}
