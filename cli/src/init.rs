//! A minimal init in front of the program when `network-sandbox run` is PID 1 (a container's
//! entrypoint, `unshare --pid --fork`).
//!
//! The supervisor double-forks away from the program so the program's `wait()` never sees
//! it; an orphan, though, is re-parented to PID 1 of its PID namespace. Were the program PID
//! 1, the supervisor would become its child, show up in every "wait for all my children"
//! loop and keep it waiting for good (the supervisor lives as long as the program). So when
//! this process is PID 1 it stays PID 1 as a small init — it reaps every child, forwards
//! signals to the program, and exits with the program's status — and the program runs as
//! its child. This init is not sandboxed (it forks before the install) and does nothing but
//! wait and forward.

use std::io;

/// When this process is PID 1, forks: the child returns `Ok` and goes on to install the
/// sandbox and execute the program; this process stays as init and never returns. Anywhere
/// else it returns `Ok` at once and changes nothing.
pub fn stay_in_front_if_pid1() -> io::Result<()> {
    // SAFETY: getpid has no preconditions.
    if unsafe { libc::getpid() } != 1 {
        return Ok(());
    }
    // Every signal is blocked before the fork, so none sent in between is lost: init takes
    // them with sigwaitinfo, the child restores the mask it had.
    // SAFETY: sigset_t is plain data, filled by sigfillset; pthread_sigmask writes `old`.
    let (all, old) = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        (all, old)
    };
    // SAFETY: `run` is single-threaded here (nothing has started a thread), so the child
    // may go on running ordinary code.
    match unsafe { libc::fork() } {
        -1 => {
            let err = io::Error::last_os_error();
            // SAFETY: restores the mask saved above.
            unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
            Err(err)
        }
        0 => {
            // SAFETY: restores the mask saved above.
            unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
            Ok(())
        }
        program => serve(program, &all),
    }
}

/// The init loop: reap every child; when `program` ends, exit with its status (128 + the
/// signal that killed it, as shells report it); forward every other signal to `program`.
fn serve(program: libc::pid_t, signals: &libc::sigset_t) -> ! {
    loop {
        // SAFETY: siginfo_t is plain data that sigwaitinfo fills.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `signals` is a valid set; every signal in it is blocked in this process.
        let sig = unsafe { libc::sigwaitinfo(signals, &mut info) };
        match sig {
            -1 => continue,
            libc::SIGCHLD => reap(program),
            // SAFETY: kill with integer arguments.
            sig => unsafe {
                libc::kill(program, sig);
            },
        }
    }
}

/// Reaps every child that has ended; exits when one of them is `program`.
fn reap(program: libc::pid_t) {
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes the status into a local.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return;
        }
        if pid == program {
            let code = if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            };
            std::process::exit(code);
        }
    }
}
