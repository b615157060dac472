//! The supervisor's threads.
//!
//! Several threads wait in `SECCOMP_IOCTL_NOTIF_RECV` on the same listener; the kernel gives
//! each notification to exactly one of them, which handles it and replies itself, so the
//! common path has no hand-off between threads. A thread about to make a call that can block
//! (a blocking connect to a slow host) first makes sure another thread is waiting, spawning
//! one if needed, so one slow destination never stalls the others. Surplus threads exit when
//! they become idle.
//!
//! The main thread only looks, a few times a second, for the listener to report `POLLHUP`,
//! which the kernel does once no task carries the filter any more, and then ends the
//! process.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::handle::{self, Call, Context};
use crate::policy::Policy;
use crate::sys;

/// Receivers kept waiting when nothing is happening.
const IDLE_RECEIVERS: usize = 2;
/// Upper bound on threads; past it, a blocking call blocks its thread and notifications wait
/// in the kernel until a thread is free.
const MAX_THREADS: usize = 512;
/// Stack size of a receiver; handlers use little stack.
const STACK_SIZE: usize = 128 * 1024;

struct Shared {
    listener: OwnedFd,
    policy: Policy,
    /// Threads waiting in NOTIF_RECV (or about to).
    idle: AtomicUsize,
    /// All receiver threads.
    threads: AtomicUsize,
}

/// Serves `listener` until no sandboxed task is left, then exits the process.
pub fn serve(listener: OwnedFd, policy: Policy) -> ! {
    sys::notif_set_sync_wake_up(listener.as_raw_fd());
    let shared = Arc::new(Shared {
        listener,
        policy,
        idle: AtomicUsize::new(0),
        threads: AtomicUsize::new(0),
    });
    for _ in 0..IDLE_RECEIVERS {
        spawn_receiver(&shared);
    }
    wait_for_hangup(shared.listener.as_raw_fd());
    // SAFETY: _exit ends the process without running destructors or atexit handlers, which
    // belong to the program this process was forked from.
    unsafe { libc::_exit(0) }
}

/// How often the main thread looks for the hang-up.
const HANGUP_CHECK: std::time::Duration = std::time::Duration::from_millis(25);

/// Returns once the listener reports `POLLHUP` (no task carries the filter any more).
///
/// The check is a non-blocking `poll` every [`HANGUP_CHECK`], not a blocking one: a thread
/// blocked in `poll` sits on the listener's wait queue, which the kernel wakes for every
/// notification, so it would cost every connect a useless wake-up (measured: several µs).
/// The price is up to 25 ms between the last sandboxed task's exit and the supervisor's.
fn wait_for_hangup(listener: RawFd) {
    loop {
        let mut pfd = libc::pollfd {
            fd: listener,
            events: 0,
            revents: 0,
        };
        // SAFETY: one valid pollfd; a zero timeout never waits on the listener's queue.
        let n = unsafe { libc::poll(&mut pfd, 1, 0) };
        if n > 0 && pfd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            return;
        }
        std::thread::sleep(HANGUP_CHECK);
    }
}

fn spawn_receiver(shared: &Arc<Shared>) -> bool {
    if shared.threads.fetch_add(1, Ordering::SeqCst) >= MAX_THREADS {
        shared.threads.fetch_sub(1, Ordering::SeqCst);
        return false;
    }
    shared.idle.fetch_add(1, Ordering::SeqCst);
    let s = Arc::clone(shared);
    let spawned = std::thread::Builder::new()
        .name("receiver".into())
        .stack_size(STACK_SIZE)
        .spawn(move || receive_loop(&s));
    if spawned.is_err() {
        shared.idle.fetch_sub(1, Ordering::SeqCst);
        shared.threads.fetch_sub(1, Ordering::SeqCst);
        return false;
    }
    true
}

fn receive_loop(shared: &Arc<Shared>) {
    let listener = shared.listener.as_raw_fd();
    let before_blocking = || {
        if shared.idle.load(Ordering::SeqCst) == 0 {
            spawn_receiver(shared);
        }
    };
    let cx = Context {
        listener,
        policy: &shared.policy,
        before_blocking: &before_blocking,
    };
    loop {
        let notif = match sys::notif_recv(listener) {
            Ok(n) => n,
            // ENOENT: the task was interrupted between our wake-up and the copy.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::ENOENT)) => continue,
            Err(_) => {
                // The listener is unusable; the main thread sees POLLHUP/POLLERR and exits.
                shared.idle.fetch_sub(1, Ordering::SeqCst);
                shared.threads.fetch_sub(1, Ordering::SeqCst);
                return;
            }
        };
        shared.idle.fetch_sub(1, Ordering::SeqCst);
        let call = Call::from_notif(&notif);
        if let Some(result) = handle::handle(&cx, &call) {
            // ENOENT here: the task died or was interrupted; there is no one to answer.
            let _ = sys::notif_send(listener, call.id, result);
        }
        if shared.idle.fetch_add(1, Ordering::SeqCst) >= IDLE_RECEIVERS {
            shared.idle.fetch_sub(1, Ordering::SeqCst);
            shared.threads.fetch_sub(1, Ordering::SeqCst);
            return;
        }
    }
}
