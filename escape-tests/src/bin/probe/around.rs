//! Attempts that go around the supervisor instead of through `connect` (issue 10): unix
//! datagrams from a socketpair, network and kernel configuration as root, other processes,
//! and the tools that park a supervisor's read.

use std::ffi::CString;
use std::os::fd::RawFd;

use super::{check, errno, target_pid, Res};

/// The attempt `name`, if it is one of these.
pub fn run(name: &str, a: &[&str]) -> Option<Res> {
    Some(match name {
        "unix-dgram-pair" => unix_pair_sendto(a[0], sock_type(a[1])),
        "unix-stream-pair" => unix_pair_echo(sock_type(a[0])),
        "setsockopt-int" => setsockopt_int(a[0], a[1], a[2]),
        "netfilter-replace" => netfilter_replace(),
        "tun-attach" => tun_attach(a[0], a[1]),
        "tun-create" => tun_create(a[0], a[1], a[2]),
        "sock-ioctl" => sock_ioctl(a[0], a.get(1).copied().unwrap_or("lo")),
        "lo-up" => lo_up(),
        "open-write" => open_write(a[0]),
        "open-by-handle" => open_by_handle(a[0]),
        "umount" => {
            let p = CString::new(a[0]).unwrap();
            // SAFETY: umount2 with a valid path.
            check(unsafe { libc::umount2(p.as_ptr(), libc::MNT_DETACH) } as libc::c_long)
                .map(|_| String::new())
        }
        "caps" => caps(),
        "raise-priority" => raise_priority(),
        "signal" => {
            // SAFETY: kill with integer arguments.
            check(unsafe { libc::kill(target_pid(a[0]), a[1].parse().unwrap()) } as libc::c_long)
                .map(|_| String::new())
        }
        "pidfd-signal" => pidfd_signal(target_pid(a[0])),
        "sigqueue" => sigqueue(target_pid(a[0])),
        "prlimit" => prlimit_same(target_pid(a[0])),
        "setpriority" => setpriority_same(a[0], a[1]),
        "sched-affinity" => sched_affinity_same(target_pid(a[0])),
        "sched-scheduler" => sched_scheduler_same(target_pid(a[0])),
        "ioprio" => ioprio_same(target_pid(a[0])),
        "userfaultfd" => {
            // UFFD_USER_MODE_ONLY (1): what an unprivileged process may create.
            // SAFETY: a raw system call with integer arguments.
            check(unsafe { libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC | 1) })
                .map(|_| String::new())
        }
        "dev-userfaultfd" => dev_userfaultfd(a[0]),
        "userns" => {
            // SAFETY: unshare with a flag constant.
            check(unsafe { libc::unshare(libc::CLONE_NEWUSER) } as libc::c_long)
                .map(|_| String::new())
        }
        "clone-newuser" => clone_child(libc::CLONE_NEWUSER as u64),
        "clone-plain" => clone_child(0),
        "clone3" => clone3_child(),
        "fuse-mount" => fuse_mount(a[0], a[1]),
        "exec" => exec_status(a),
        "tiocsti" => tiocsti(),
        "ioctl-loop" => ioctl_loop(a[0].parse().unwrap()),
        "request-key" => {
            // A key that does not exist, with callout data: the kernel runs
            // /sbin/request-key (outside any sandbox) to make it, where keyutils is installed.
            // SAFETY: valid NUL-terminated strings; KEY_SPEC_PROCESS_KEYRING is -2.
            check(unsafe {
                libc::syscall(
                    libc::SYS_request_key,
                    c"user".as_ptr(),
                    c"network-sandbox-probe".as_ptr(),
                    c"callout".as_ptr(),
                    -2i32,
                )
            })
            .map(|_| String::new())
        }
        _ => return None,
    })
}

fn sock_type(s: &str) -> i32 {
    let mut ty = 0;
    for part in s.split('|') {
        ty |= match part {
            "stream" => libc::SOCK_STREAM,
            "dgram" => libc::SOCK_DGRAM,
            "raw" => libc::SOCK_RAW,
            "seqpacket" => libc::SOCK_SEQPACKET,
            "nonblock" => libc::SOCK_NONBLOCK,
            "cloexec" => libc::SOCK_CLOEXEC,
            other => panic!("socket type {other}"),
        };
    }
    ty
}

fn pair(ty: i32) -> Result<[RawFd; 2], i32> {
    let mut fds = [-1; 2];
    // SAFETY: socketpair writes two descriptors into the array.
    check(unsafe { libc::socketpair(libc::AF_UNIX, ty, 0, fds.as_mut_ptr()) } as libc::c_long)?;
    Ok(fds)
}

/// A socketpair of `ty`, then `sendto` of one datagram to the pathname socket `path`.
fn unix_pair_sendto(path: &str, ty: i32) -> Res {
    let fds = pair(ty)?;
    // SAFETY: sockaddr_un is plain data; zeroed is valid.
    let mut sun: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    sun.sun_family = libc::AF_UNIX as u16;
    for (d, s) in sun.sun_path.iter_mut().zip(path.as_bytes()) {
        *d = *s as libc::c_char;
    }
    let len = (std::mem::size_of::<libc::sa_family_t>() + path.len() + 1) as libc::socklen_t;
    // SAFETY: a valid buffer and address.
    check(unsafe {
        libc::sendto(
            fds[0],
            b"escaped".as_ptr().cast(),
            7,
            0,
            (&sun as *const libc::sockaddr_un).cast(),
            len,
        )
    } as libc::c_long)
    .map(|_| String::new())
}

/// A socketpair of `ty`; one message each way.
fn unix_pair_echo(ty: i32) -> Res {
    let fds = pair(ty)?;
    let mut buf = [0u8; 8];
    // SAFETY: valid buffers on our own descriptors.
    unsafe {
        check(libc::write(fds[0], b"ping".as_ptr().cast(), 4) as libc::c_long)?;
        check(libc::read(fds[1], buf.as_mut_ptr().cast(), 8) as libc::c_long)?;
        check(libc::write(fds[1], b"pong".as_ptr().cast(), 4) as libc::c_long)?;
        check(libc::read(fds[0], buf.as_mut_ptr().cast(), 8) as libc::c_long)?;
    }
    Ok(String::from_utf8_lossy(&buf[..4]).into_owned())
}

/// `setsockopt(level, name, &int)` on a socket of `kind` (`tcp`, `udp`, `tcp6`, `udp6`,
/// `unix`).
fn setsockopt_int(kind: &str, level: &str, name: &str) -> Res {
    let (domain, ty) = match kind {
        "tcp" => (libc::AF_INET, libc::SOCK_STREAM),
        "udp" => (libc::AF_INET, libc::SOCK_DGRAM),
        "tcp6" => (libc::AF_INET6, libc::SOCK_STREAM),
        "udp6" => (libc::AF_INET6, libc::SOCK_DGRAM),
        "unix" => {
            let fds = pair(libc::SOCK_STREAM)?;
            return set_int(fds[0], level, name);
        }
        other => panic!("socket kind {other}"),
    };
    // SAFETY: socket with integer arguments.
    let fd = check(unsafe { libc::socket(domain, ty, 0) } as libc::c_long)? as RawFd;
    set_int(fd, level, name)
}

fn set_int(fd: RawFd, level: &str, name: &str) -> Res {
    let one: i32 = 1;
    // SAFETY: a pointer to a local int and its size.
    check(unsafe {
        libc::setsockopt(
            fd,
            level.parse().unwrap(),
            name.parse().unwrap(),
            (&one as *const i32).cast(),
            4,
        )
    } as libc::c_long)
    .map(|_| String::new())
}

const IPT_SO_SET_REPLACE: i32 = 64;
const IPT_SO_GET_INFO: i32 = 64;
const IPT_SO_GET_ENTRIES: i32 = 65;

/// Replaces the iptables `filter` table with its own contents: what installing a NAT rule
/// takes, without changing anything (run in a network namespace of the test's own).
fn netfilter_replace() -> Res {
    // SAFETY: socket with integer arguments.
    let fd = check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) } as libc::c_long)?
        as RawFd;
    // struct ipt_getinfo: name[32], valid_hooks, hook_entry[5], underflow[5], num_entries,
    // size: 84 bytes.
    let mut info = [0u8; 84];
    info[..6].copy_from_slice(b"filter");
    let mut len = info.len() as libc::socklen_t;
    // SAFETY: a buffer of `len` bytes.
    let got = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_IP,
            IPT_SO_GET_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if got != 0 {
        // Reading needs CAP_NET_ADMIN too: try the replace itself with an empty table, so
        // that what refuses the write is what is reported.
        let mut replace = [0u8; 96];
        replace[..6].copy_from_slice(b"filter");
        // SAFETY: a buffer of the length passed; the kernel rejects it before any pointer
        // in it is used, or refuses the call.
        return check(unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_IP,
                IPT_SO_SET_REPLACE,
                replace.as_ptr().cast(),
                96,
            )
        } as libc::c_long)
        .map(|_| "empty table".into());
    }
    let word = |b: &[u8], i: usize| u32::from_ne_bytes(b[i..i + 4].try_into().unwrap());
    let valid_hooks = word(&info, 32);
    let num_entries = word(&info, 76);
    let size = word(&info, 80) as usize;
    // struct ipt_get_entries: name[32], size, then the entries at offset 40 (8-aligned).
    let mut entries = vec![0u8; 40 + size];
    entries[..6].copy_from_slice(b"filter");
    entries[32..36].copy_from_slice(&(size as u32).to_ne_bytes());
    let mut len = entries.len() as libc::socklen_t;
    // SAFETY: a buffer of `len` bytes.
    check(unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_IP,
            IPT_SO_GET_ENTRIES,
            entries.as_mut_ptr().cast(),
            &mut len,
        )
    } as libc::c_long)?;
    // struct ipt_replace: name[32], valid_hooks, num_entries, size, hook_entry[5],
    // underflow[5], num_counters, (pad) counters pointer at 88, entries at 96.
    let mut counters = vec![0u8; 16 * num_entries as usize];
    let mut replace = vec![0u8; 96 + size];
    replace[..6].copy_from_slice(b"filter");
    replace[32..36].copy_from_slice(&valid_hooks.to_ne_bytes());
    replace[36..40].copy_from_slice(&num_entries.to_ne_bytes());
    replace[40..44].copy_from_slice(&(size as u32).to_ne_bytes());
    replace[44..84].copy_from_slice(&info[36..76]);
    replace[84..88].copy_from_slice(&num_entries.to_ne_bytes());
    replace[88..96].copy_from_slice(&(counters.as_mut_ptr() as u64).to_ne_bytes());
    replace[96..].copy_from_slice(&entries[40..40 + size]);
    // SAFETY: the buffer and the counters it points to live across the call.
    check(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_IP,
            IPT_SO_SET_REPLACE,
            replace.as_ptr().cast(),
            replace.len() as libc::socklen_t,
        )
    } as libc::c_long)
    .map(|_| format!("{num_entries} entries"))
}

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const TUNSETPERSIST: libc::c_ulong = 0x4004_54cb;
const TUNSETOWNER: libc::c_ulong = 0x4004_54cc;
const IFF_TUN: i16 = 0x0001;
const IFF_NO_PI: i16 = 0x1000;

fn open_dev(path: &str) -> Result<RawFd, i32> {
    let p = CString::new(path).unwrap();
    // SAFETY: open with a valid path.
    Ok(
        check(unsafe { libc::open(p.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) } as libc::c_long)?
            as RawFd,
    )
}

fn ifreq(name: &str) -> libc::ifreq {
    // SAFETY: ifreq is plain data; zeroed is valid.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in ifr.ifr_name.iter_mut().zip(name.as_bytes()) {
        *d = *s as libc::c_char;
    }
    ifr
}

/// Attaches to (or creates) tun device `name` through the device node `dev`.
fn tun_attach(dev: &str, name: &str) -> Res {
    let fd = open_dev(dev)?;
    let mut ifr = ifreq(name);
    ifr.ifr_ifru.ifru_flags = IFF_TUN | IFF_NO_PI;
    // SAFETY: TUNSETIFF reads and writes an ifreq.
    check(unsafe { libc::ioctl(fd, TUNSETIFF, &mut ifr) } as libc::c_long)?;
    Ok("attached".into())
}

/// Creates a persistent tun device `name` owned by `uid` (run as root, unsandboxed).
fn tun_create(dev: &str, name: &str, uid: &str) -> Res {
    let fd = open_dev(dev)?;
    let mut ifr = ifreq(name);
    ifr.ifr_ifru.ifru_flags = IFF_TUN | IFF_NO_PI;
    // SAFETY: tun ioctls with an ifreq or integer arguments.
    unsafe {
        check(libc::ioctl(fd, TUNSETIFF, &mut ifr) as libc::c_long)?;
        check(libc::ioctl(fd, TUNSETOWNER, uid.parse::<libc::c_ulong>().unwrap()) as libc::c_long)?;
        check(libc::ioctl(fd, TUNSETPERSIST, 1 as libc::c_ulong) as libc::c_long)?;
    }
    Ok(String::new())
}

/// A socket ioctl `request` (hex) with an ifreq naming `ifname` (zeroed otherwise).
fn sock_ioctl(request: &str, ifname: &str) -> Res {
    let request = u64::from_str_radix(request.trim_start_matches("0x"), 16).unwrap();
    // A TCP socket: the policies of the tests allow no UDP.
    // SAFETY: socket with integer arguments.
    let fd = check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) } as libc::c_long)?;
    // A buffer large enough for any of these requests (ifreq, rtentry, arpreq, ifconf).
    let mut buf = [0u8; 256];
    buf[..ifname.len()].copy_from_slice(ifname.as_bytes());
    // SAFETY: the kernel reads or writes at most the structure of the request, which fits.
    check(
        unsafe { libc::ioctl(fd as RawFd, request as libc::c_ulong, buf.as_mut_ptr()) }
            as libc::c_long,
    )
    .map(|_| String::new())
}

/// Brings `lo` up with SIOCGIFFLAGS + SIOCSIFFLAGS (run in a network namespace of the
/// test's own).
fn lo_up() -> Res {
    // SAFETY: socket with integer arguments.
    let fd = check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) } as libc::c_long)?
        as RawFd;
    let mut ifr = ifreq("lo");
    // SAFETY: both read or write an ifreq.
    unsafe {
        check(libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut ifr) as libc::c_long)?;
        ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as i16;
        check(libc::ioctl(fd, libc::SIOCSIFFLAGS, &mut ifr) as libc::c_long)?;
    }
    Ok(String::new())
}

/// Opens `path` for writing and closes it without writing anything.
fn open_write(path: &str) -> Res {
    let p = CString::new(path).unwrap();
    // SAFETY: open with a valid path; the descriptor is closed at once.
    let fd =
        check(unsafe { libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) } as libc::c_long)?;
    // SAFETY: our own descriptor.
    unsafe { libc::close(fd as RawFd) };
    Ok(String::new())
}

/// Opens `path` by its file handle (`name_to_handle_at`, then `open_by_handle_at` against a
/// descriptor of its directory's mount): no path walk, so around path-based walls. Needs
/// `CAP_DAC_READ_SEARCH`.
fn open_by_handle(path: &str) -> Res {
    const MAX_HANDLE_SZ: usize = 128;
    #[repr(C)]
    struct Handle {
        bytes: u32,
        ty: i32,
        f_handle: [u8; MAX_HANDLE_SZ],
    }
    let p = CString::new(path).unwrap();
    let dir = CString::new(
        std::path::Path::new(path)
            .parent()
            .unwrap()
            .as_os_str()
            .as_encoded_bytes(),
    )
    .unwrap();
    let mut handle = Handle {
        bytes: MAX_HANDLE_SZ as u32,
        ty: 0,
        f_handle: [0; MAX_HANDLE_SZ],
    };
    let mut mount_id = 0i32;
    // SAFETY: valid path, a handle buffer of the size it declares, an int for the mount id.
    check(unsafe {
        libc::syscall(
            libc::SYS_name_to_handle_at,
            libc::AT_FDCWD,
            p.as_ptr(),
            &mut handle as *mut Handle,
            &mut mount_id as *mut i32,
            0,
        )
    })?;
    // SAFETY: open with a valid path.
    let mount_fd = check(unsafe {
        libc::open(
            dir.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    } as libc::c_long)? as RawFd;
    // SAFETY: the handle filled in above; our own descriptor.
    let fd = check(unsafe {
        libc::syscall(
            libc::SYS_open_by_handle_at,
            mount_fd,
            &mut handle as *mut Handle,
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    });
    // SAFETY: our own descriptors.
    unsafe {
        libc::close(mount_fd);
        if let Ok(fd) = fd {
            libc::close(fd as RawFd);
        }
    }
    fd.map(|_| String::new())
}

/// The capability sets from /proc/self/status, as hex masks.
fn caps() -> Res {
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
        "inh={} prm={} eff={} bnd={} amb={}",
        field("CapInh:"),
        field("CapPrm:"),
        field("CapEff:"),
        field("CapBnd:"),
        field("CapAmb:")
    ))
}

/// Lowers the probe's own nice value by one: `CAP_SYS_NICE` (or an `RLIMIT_NICE` above the
/// default 0) is what allows it. Only this process changes, and it exits right after.
fn raise_priority() -> Res {
    // SAFETY: getpriority/setpriority with integer arguments (errno cleared to tell -1).
    unsafe {
        *libc::__errno_location() = 0;
        let current = libc::getpriority(libc::PRIO_PROCESS, 0);
        if current == -1 && errno() != 0 {
            return Err(errno());
        }
        check(libc::setpriority(libc::PRIO_PROCESS, 0, current - 1) as libc::c_long)
            .map(|_| format!("nice {}", current - 1))
    }
}

fn pidfd_signal(pid: libc::pid_t) -> Res {
    // SAFETY: raw system calls with integer arguments.
    let pidfd = check(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: a raw system call with integer arguments, or buffers that outlive it.
    check(unsafe { libc::syscall(libc::SYS_pidfd_send_signal, pidfd, libc::SIGCONT, 0, 0) })
        .map(|_| String::new())
}

fn sigqueue(pid: libc::pid_t) -> Res {
    // SAFETY: siginfo_t is plain data; the kernel reads it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    info.si_signo = libc::SIGCONT;
    info.si_code = -1; // SI_QUEUE
                       // SAFETY: a valid siginfo.
    check(unsafe {
        libc::syscall(
            libc::SYS_rt_sigqueueinfo,
            pid,
            libc::SIGCONT,
            &info as *const _,
        )
    })
    .map(|_| String::new())
}

/// Sets `pid`'s RLIMIT_NOFILE to what it is: permission without change.
fn prlimit_same(pid: libc::pid_t) -> Res {
    let mut old = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: raw prlimit64 with valid pointers (new = NULL: read only).
    check(unsafe {
        libc::syscall(
            libc::SYS_prlimit64,
            pid,
            libc::RLIMIT_NOFILE,
            std::ptr::null::<libc::rlimit64>(),
            &mut old,
        )
    })?;
    // SAFETY: as above, now setting the same values.
    check(unsafe {
        libc::syscall(
            libc::SYS_prlimit64,
            pid,
            libc::RLIMIT_NOFILE,
            &old,
            std::ptr::null_mut::<libc::rlimit64>(),
        )
    })
    .map(|_| String::new())
}

/// `setpriority(which, who, current)`: `which` is `process`, `pgrp` or `user`.
fn setpriority_same(which: &str, who: &str) -> Res {
    let which = match which {
        "process" => libc::PRIO_PROCESS,
        "own-pgrp" => {
            // SAFETY: setpgid with integer arguments: a process group of its own.
            check(unsafe { libc::setpgid(0, 0) } as libc::c_long)?;
            libc::PRIO_PGRP
        }
        "user" => libc::PRIO_USER,
        other => panic!("which {other}"),
    };
    let who = target_pid(who) as libc::id_t;
    // SAFETY: getpriority/setpriority with integer arguments (errno cleared to tell -1).
    unsafe {
        *libc::__errno_location() = 0;
        let current = libc::getpriority(which, who);
        if current == -1 && errno() != 0 {
            return Err(errno());
        }
        check(libc::setpriority(which, who, current) as libc::c_long).map(|_| String::new())
    }
}

fn sched_affinity_same(pid: libc::pid_t) -> Res {
    // SAFETY: cpu_set_t is plain data; the kernel fills and reads it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: a cpu_set_t of `size` bytes.
    unsafe {
        check(libc::sched_getaffinity(pid, size, &mut set) as libc::c_long)?;
        check(libc::sched_setaffinity(pid, size, &set) as libc::c_long).map(|_| String::new())
    }
}

fn sched_scheduler_same(pid: libc::pid_t) -> Res {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: a valid sched_param; SCHED_OTHER with priority 0 is what the target has.
    check(unsafe { libc::sched_setscheduler(pid, libc::SCHED_OTHER, &param) } as libc::c_long)
        .map(|_| String::new())
}

fn ioprio_same(pid: libc::pid_t) -> Res {
    const IOPRIO_WHO_PROCESS: libc::c_long = 1;
    // SAFETY: raw system calls with integer arguments.
    let current = check(unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, pid) })?;
    // SAFETY: a raw system call with integer arguments, or buffers that outlive it.
    check(unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, pid, current) })
        .map(|_| String::new())
}

/// `USERFAULTFD_IOC_NEW` on the device node `dev`.
fn dev_userfaultfd(dev: &str) -> Res {
    let fd = open_dev(dev)?;
    // SAFETY: the ioctl takes the new descriptor's flags as an integer.
    check(unsafe { libc::ioctl(fd, 0xaa00, libc::O_CLOEXEC as libc::c_ulong) } as libc::c_long)
        .map(|_| String::new())
}

fn reap(pid: libc::c_long) -> Res {
    let mut status = 0;
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        Ok(String::new())
    } else {
        Ok(format!("child status {status:#x}"))
    }
}

/// A raw `clone(flags | SIGCHLD)` whose child exits at once.
fn clone_child(flags: u64) -> Res {
    // SAFETY: like fork: the child only calls _exit.
    let pid = check(unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags | libc::SIGCHLD as u64,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    })?;
    if pid == 0 {
        // SAFETY: leaves the child without running anything else.
        unsafe { libc::_exit(0) };
    }
    reap(pid)
}

/// `clone3` with no flags (a fork) whose child exits at once.
fn clone3_child() -> Res {
    // struct clone_args (CLONE_ARGS_SIZE_VER0 = 64 bytes): flags, pidfd, child_tid,
    // parent_tid, exit_signal, stack, stack_size, tls.
    let mut args = [0u64; 8];
    args[4] = libc::SIGCHLD as u64;
    // SAFETY: like fork: the child only calls _exit.
    let pid = check(unsafe { libc::syscall(libc::SYS_clone3, args.as_mut_ptr(), 64usize) })?;
    if pid == 0 {
        // SAFETY: leaves the child without running anything else.
        unsafe { libc::_exit(0) };
    }
    reap(pid)
}

/// Mounts a FUSE file system (no daemon: nothing is ever read) on `dir` through the device
/// node `dev`, in a mount namespace of its own (root) or a user namespace (anyone else),
/// then unmounts it.
fn fuse_mount(dev: &str, dir: &str) -> Res {
    // SAFETY: geteuid/getegid have no preconditions.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let flags = if uid == 0 {
        libc::CLONE_NEWNS
    } else {
        libc::CLONE_NEWUSER | libc::CLONE_NEWNS
    };
    // SAFETY: unshare with flag constants.
    check(unsafe { libc::unshare(flags) } as libc::c_long)?;
    if uid != 0 {
        // Map the user to root of the new namespace, as `unshare -r` does.
        let write = |f: &str, s: String| {
            std::fs::write(f, s).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))
        };
        write("/proc/self/uid_map", format!("0 {uid} 1"))?;
        write("/proc/self/setgroups", "deny".into())?;
        write("/proc/self/gid_map", format!("0 {gid} 1"))?;
    }
    // SAFETY: mount with valid arguments, in the mount namespace just created.
    check(unsafe {
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    } as libc::c_long)?;
    let fd = open_dev(dev)?;
    let data = CString::new(format!("fd={fd},rootmode=40000,user_id=0,group_id=0")).unwrap();
    let target = CString::new(dir).unwrap();
    // SAFETY: valid strings; the mount lives in this process's mount namespace.
    unsafe {
        check(libc::mount(
            c"probe".as_ptr(),
            target.as_ptr(),
            c"fuse".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            data.as_ptr().cast(),
        ) as libc::c_long)?;
        libc::umount2(target.as_ptr(), libc::MNT_DETACH);
    }
    Ok("mounted".into())
}

/// Runs a program and reports its exit status.
fn exec_status(a: &[&str]) -> Res {
    let status = std::process::Command::new(a[0])
        .args(&a[1..])
        .status()
        .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
    match status.code() {
        Some(0) => Ok(String::new()),
        other => Ok(format!("exit {other:?}")),
    }
}

/// Types a character into a terminal's input with `TIOCSTI`: a new pseudo-terminal made the
/// controlling terminal of a new session, as a shell's terminal is for the programs it runs.
fn tiocsti() -> Res {
    // SAFETY: setsid, the posix_openpt family and open/ioctl with valid arguments; the
    // descriptors are ours.
    unsafe {
        check(libc::setsid() as libc::c_long)?;
        let master =
            check(libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY) as libc::c_long)? as RawFd;
        check(libc::grantpt(master) as libc::c_long)?;
        check(libc::unlockpt(master) as libc::c_long)?;
        let name = libc::ptsname(master);
        if name.is_null() {
            return Err(errno());
        }
        // Without O_NOCTTY: it becomes the session's controlling terminal.
        let slave = check(libc::open(name, libc::O_RDWR) as libc::c_long)? as RawFd;
        let c = b'x';
        check(libc::ioctl(slave, libc::TIOCSTI, &c) as libc::c_long)?;
    }
    Ok("typed".into())
}

/// Times `n` `ioctl(FIONREAD)` calls on a pipe: nanoseconds per call (for the cost note in
/// docs/ARCHITECTURE.md; no test asserts a time).
fn ioctl_loop(n: u32) -> Res {
    let mut fds = [0; 2];
    // SAFETY: pipe writes two descriptors.
    check(unsafe { libc::pipe(fds.as_mut_ptr()) } as libc::c_long)?;
    let mut avail: libc::c_int = 0;
    let start = std::time::Instant::now();
    for _ in 0..n {
        // SAFETY: FIONREAD writes an int.
        check(unsafe { libc::ioctl(fds[0], libc::FIONREAD, &mut avail) } as libc::c_long)?;
    }
    Ok(format!(
        "{} ns",
        start.elapsed().as_nanos() / u128::from(n.max(1))
    ))
}
