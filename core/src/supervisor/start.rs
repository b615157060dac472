//! Starting the supervisor: a double fork before the filter is installed, then the hand-over
//! of the listener. See the [module documentation](super) for the order.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::serve;
use crate::policy::{Policy, ReportTo};
use crate::report::{Learn, Log, Sink};
use crate::sys;

/// The installer's end of a supervisor that is waiting for its listener.
pub struct Supervisor {
    pid: libc::pid_t,
    channel: OwnedFd,
}

/// Signals the supervisor ignores: terminal signals and the polite ways to stop a process.
/// (SIGKILL cannot be ignored; then the kernel fails every notified call with ENOSYS.)
const IGNORED_SIGNALS: [libc::c_int; 10] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGPIPE,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGTSTP,
    libc::SIGTTIN,
    libc::SIGTTOU,
];

impl Supervisor {
    /// Forks the supervisor, which will report violations to `sink`.
    ///
    /// # Safety
    ///
    /// The calling process must be single-threaded: the child runs arbitrary code (it
    /// allocates and takes locks) after `fork`, which is only sound when no other thread
    /// could have held a lock at the moment of the fork.
    /// `log`: the structured log, already open; the supervisor keeps it, the caller closes
    /// its copy. `answerer`: the DNS answerer's helper ([`crate::answerer::start`]); the
    /// supervisor keeps its descriptors and serves it, the caller closes its copies.
    pub unsafe fn fork(
        policy: &Policy,
        sink: Sink,
        log: Option<(&std::fs::File, bool)>,
        learn: Option<&std::path::Path>,
        answerer: Option<&crate::answerer::Helper>,
    ) -> io::Result<Supervisor> {
        let (ours, theirs) = crate::sys::seqpacket_pair()?;
        // SAFETY: getpid has no preconditions.
        let target = unsafe { libc::getpid() };

        // SAFETY: the caller guarantees the process is single-threaded, so the child may run
        // arbitrary code (allocate, take locks) after fork.
        match unsafe { libc::fork() } {
            -1 => Err(io::Error::last_os_error()),
            0 => {
                drop(ours);
                // SAFETY: setsid and fork have no memory preconditions; see above for fork.
                unsafe {
                    libc::setsid();
                    match libc::fork() {
                        0 => {
                            let log = log.and_then(|(f, allowed)| {
                                Some(Log {
                                    file: f.try_clone().ok()?,
                                    allowed,
                                })
                            });
                            let learn = learn.map(|p| Learn::new(p.to_owned()));
                            let answerer = answerer.map(|h| {
                                let [channel, udp, tcp] = h.fds();
                                // SAFETY: this forked copy's descriptors with these numbers
                                // are owned by nothing else here: the installer's `Helper`
                                // in this copy of its memory is never dropped, since this
                                // process never returns from `supervisor_main`.
                                crate::answerer::Helper {
                                    channel: OwnedFd::from_raw_fd(channel),
                                    udp: OwnedFd::from_raw_fd(udp),
                                    tcp: OwnedFd::from_raw_fd(tcp),
                                }
                            });
                            supervisor_main(
                                theirs,
                                target,
                                policy.clone(),
                                sink,
                                (log, learn),
                                answerer,
                            )
                        }
                        -1 => libc::_exit(1),
                        _ => libc::_exit(0),
                    }
                }
            }
            child => {
                drop(theirs);
                let mut status = 0;
                // SAFETY: waits for the intermediate child we just forked.
                unsafe { libc::waitpid(child, &mut status, 0) };
                let pid = read_i32(&ours)?;
                Ok(Supervisor { pid, channel: ours })
            }
        }
    }

    /// The supervisor's PID.
    pub fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// Hands the listener over and waits until the supervisor has it.
    pub fn adopt_listener(self, listener: OwnedFd) -> io::Result<()> {
        write_i32(&self.channel, listener.as_raw_fd())?;
        match read_i32(&self.channel)? {
            0 => Ok(()),
            errno => Err(io::Error::from_raw_os_error(errno)),
        }
        // `listener` and the channel close here: from now on only the supervisor holds them.
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
    loop {
        // SAFETY: reads at most 4 bytes into a local buffer.
        let n = unsafe { libc::read(fd.as_raw_fd(), b.as_mut_ptr().cast(), b.len()) };
        match n {
            4 => return Ok(i32::from_ne_bytes(b)),
            -1 if sys::errno() == libc::EINTR => continue,
            -1 => return Err(io::Error::last_os_error()),
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the supervisor ended during start-up",
                ))
            }
        }
    }
}

/// The supervisor process. Never returns.
fn supervisor_main(
    channel: OwnedFd,
    target: libc::pid_t,
    policy: Policy,
    sink: Sink,
    (log, learn): (Option<Log>, Option<Learn>),
    answerer: Option<crate::answerer::Helper>,
) -> ! {
    // SAFETY: prctl and signal with integer arguments; SIG_IGN is a valid disposition.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
        libc::prctl(libc::PR_SET_NAME, c"ns-supervisor".as_ptr(), 0, 0, 0);
        for sig in IGNORED_SIGNALS {
            libc::signal(sig, libc::SIG_IGN);
        }
        libc::chdir(c"/".as_ptr());
    }
    let keep_stderr = policy.options().report == ReportTo::Stderr;
    let keep: Vec<RawFd> = std::iter::once(channel.as_raw_fd())
        .chain(log.as_ref().map(|l| l.file.as_raw_fd()))
        .chain(answerer.iter().flat_map(|h| h.fds()))
        .collect();
    close_inherited_fds(&keep, keep_stderr);
    // What each `unix:` path allows is fixed now, before the program runs.
    let policy = super::unix::resolve_allowed(policy);

    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    let exit = |code| -> ! {
        // SAFETY: ends this forked copy without running the program's exit handlers.
        unsafe { libc::_exit(code) }
    };
    if write_i32(&channel, me).is_err() {
        exit(1);
    }
    let Ok(fd_number) = read_i32(&channel) else {
        // The installer gave up (its error is reported there).
        exit(0);
    };
    let listener = sys::pidfd_open(target).and_then(|pidfd| sys::pidfd_getfd(&pidfd, fd_number));
    let listener = match listener {
        Ok(l) => l,
        Err(e) => {
            let _ = write_i32(&channel, e.raw_os_error().unwrap_or(libc::EIO));
            exit(1);
        }
    };
    if write_i32(&channel, 0).is_err() {
        exit(1);
    }
    drop(channel);
    // The sandbox is in place: the names' refresher may take the hosts file over.
    crate::hostnames::start_refresher(&policy);
    serve::serve(listener, policy, sink, (log, learn), answerer)
}

/// Closes every fd but those in `keep` (and stderr when `keep_stderr`), and points stdin/stdout (and
/// stderr if not kept) at /dev/null, so the supervisor holds none of the program's pipes or
/// files open.
pub(crate) fn close_inherited_fds(keep: &[RawFd], keep_stderr: bool) {
    let fds: Vec<RawFd> = match std::fs::read_dir("/proc/self/fd") {
        Ok(dir) => dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
        Err(_) => (3..1024).collect(),
    };
    // SAFETY: open/dup2/close on fds of this process only; nothing else holds them.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        for fd in fds {
            let std_fd = fd <= 2;
            if keep.contains(&fd) || fd == null || (fd == 2 && keep_stderr) {
                continue;
            }
            if std_fd {
                if null >= 0 {
                    libc::dup2(null, fd);
                }
            } else {
                libc::close(fd);
            }
        }
        if null > 2 {
            libc::close(null);
        }
    }
}
