//! The supervisor's threads.
//!
//! Receiver threads wait in `SECCOMP_IOCTL_NOTIF_RECV` on the listener; the kernel gives each
//! notification to exactly one of them, which handles it and replies itself, so a call
//! passes through no hand-off between threads.
//!
//! One receiver waits when nothing is happening: measured on the project's machine, a second
//! waiting receiver makes every connect slower (both are woken). A receiver can block,
//! though — a blocking connect to a host that does not answer takes as long as the kernel's
//! connect timeout — and then nobody would receive. So the main thread is also the pool's
//! watchdog: several times a second it checks whether every receiver is busy and none has
//! finished a call since its last look, and if so starts another one. One slow destination
//! holds up the others for at most [`TICK`] once. Surplus receivers exit when they find
//! another one already waiting.
//!
//! The process ends as soon as no task carries the filter any more. The kernel then makes
//! `SECCOMP_IOCTL_NOTIF_RECV` fail at once with `ENOENT` (which also means "a notification
//! was withdrawn before we got it") and the listener report `POLLHUP`: a receiver that gets
//! `ENOENT` looks for the hang-up and exits the process, so it never retries against a
//! listener nobody uses (measured: such a retry loop spins at full speed, and under a
//! real-time policy on one CPU starves every other thread for good). The main thread looks
//! for the hang-up too, for the case where every receiver is busy in a slow call.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::call::{Call, Context, Halt};
use crate::policy::Policy;
use crate::report::{Learn, Log, Reporter, Sink};
use crate::sys;

/// Receivers kept waiting when nothing is happening.
const IDLE_RECEIVERS: usize = 1;
/// Upper bound on receivers; past it, notifications wait in the kernel until one is free.
const MAX_THREADS: usize = 512;
/// Stack size of a receiver; handlers use little stack.
const STACK_SIZE: usize = 128 * 1024;
/// How often the main thread looks at the pool and for the hang-up.
const TICK: Duration = Duration::from_millis(20);

struct Shared {
    listener: OwnedFd,
    policy: Policy,
    reporter: Reporter,
    /// The unix sockets bound for the program, shared by every receiver.
    own: super::own::OwnSockets,
    /// Receivers waiting in NOTIF_RECV (or about to).
    idle: AtomicUsize,
    /// All receivers.
    threads: AtomicUsize,
    /// Notifications handled so far: the watchdog's sign of progress.
    handled: AtomicU64,
}

/// Serves `listener` until no sandboxed task is left, then exits the process.
pub fn serve(
    listener: OwnedFd,
    policy: Policy,
    sink: Sink,
    (log, learn): (Option<Log>, Option<Learn>),
    answerer: Option<crate::answerer::Helper>,
) -> ! {
    sys::notif_set_sync_wake_up(listener.as_raw_fd());
    let shared = Arc::new(Shared {
        listener,
        policy,
        reporter: Reporter::new(sink, log, learn),
        own: super::own::OwnSockets::default(),
        idle: AtomicUsize::new(0),
        threads: AtomicUsize::new(0),
        handled: AtomicU64::new(0),
    });
    if let (Some(helper), Some(table)) = (answerer, shared.policy.resolved().cloned()) {
        let s = Arc::clone(&shared);
        let on_unknown: crate::answerer::OnUnknown =
            Arc::new(move |u| super::dns::report_unknown(&s.policy, &s.reporter, u));
        // Learn mode (audit: nothing is enforced) is the only one in which the answerer
        // forwards, to the machine's first nameserver as this process sees it (the
        // supervisor stays in the machine's mount and network namespaces).
        let forwards =
            crate::answerer::may_forward(shared.reporter.learns(), shared.policy.options().mode);
        let learning = forwards.then(|| {
            let s = Arc::clone(&shared);
            Arc::new(crate::answerer::Learning {
                forward_to: crate::hostnames::nameserver()
                    .map(|ip| std::net::SocketAddr::new(ip, 53)),
                on_answer: Arc::new(move |name, addresses| s.reporter.looked_up(name, addresses)),
            })
        });
        crate::answerer::serve(helper, table, on_unknown, learning);
    }
    for _ in 0..IDLE_RECEIVERS {
        spawn_receiver(&shared);
    }
    watch(&shared);
    shared.reporter.flush();
    exit_supervisor()
}

/// Ends the supervisor: no sandboxed task is left.
fn exit_supervisor() -> ! {
    // SAFETY: _exit ends the process without running destructors or atexit handlers, which
    // belong to the program this process was forked from.
    unsafe { libc::_exit(0) }
}

/// The main thread: every [`TICK`], starts a receiver if all are stuck, and returns once the
/// listener reports `POLLHUP`.
///
/// The hang-up check is a non-blocking `poll`: a thread blocked in `poll` would sit on the
/// listener's wait queue, which the kernel wakes for every notification.
fn watch(shared: &Arc<Shared>) {
    let mut last_handled = shared.handled.load(Ordering::SeqCst);
    loop {
        if hung_up(shared.listener.as_raw_fd()) {
            return;
        }
        let handled = shared.handled.load(Ordering::SeqCst);
        if shared.idle.load(Ordering::SeqCst) == 0 && handled == last_handled {
            spawn_receiver(shared);
        }
        last_handled = handled;
        shared.reporter.tick();
        std::thread::sleep(TICK);
    }
}

fn hung_up(listener: RawFd) -> bool {
    let mut pfd = libc::pollfd {
        fd: listener,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd; a zero timeout never waits on the listener's queue.
    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
    n > 0 && pfd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
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
    let cx = Context {
        listener,
        policy: &shared.policy,
        reporter: &shared.reporter,
        own: &shared.own,
    };
    loop {
        let notif = match sys::notif_recv(listener) {
            Ok(n) => n,
            Err(e) => match next_step(e.raw_os_error(), || hung_up(listener)) {
                Step::Retry => continue,
                Step::ExitProcess => {
                    shared.reporter.flush();
                    exit_supervisor()
                }
                Step::EndThread => {
                    shared.idle.fetch_sub(1, Ordering::SeqCst);
                    shared.threads.fetch_sub(1, Ordering::SeqCst);
                    return;
                }
            },
        };
        shared.idle.fetch_sub(1, Ordering::SeqCst);
        let call = Call::from_notif(&notif);
        // ENOENT from an answer: the caller died or was interrupted; there is no one to
        // answer.
        match super::dispatch(&cx, &call) {
            Ok(value) => {
                let _ = sys::notif_send(listener, call.id, Ok(value));
            }
            Err(Halt::Errno(errno)) => {
                let _ = sys::notif_send(listener, call.id, Err(errno));
            }
            // Only audit mode may let the kernel perform a call itself; in enforce mode a
            // handler asking for it is a bug, and the call is refused instead.
            Err(Halt::Continue) if cx.audit() => {
                let _ = sys::notif_continue(listener, call.id);
            }
            Err(Halt::Continue) => {
                let _ = sys::notif_send(listener, call.id, Err(libc::EACCES));
            }
            Err(Halt::Gone | Halt::Answered) => {}
        }
        shared.handled.fetch_add(1, Ordering::SeqCst);
        if shared.idle.fetch_add(1, Ordering::SeqCst) >= IDLE_RECEIVERS {
            shared.idle.fetch_sub(1, Ordering::SeqCst);
            shared.threads.fetch_sub(1, Ordering::SeqCst);
            return;
        }
    }
}

/// What a receiver does after `NOTIF_RECV` failed with `errno`.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Wait for the next notification.
    Retry,
    /// No task carries the filter any more: the supervisor's work is done.
    ExitProcess,
    /// The listener is unusable; the main thread sees the hang-up or error and exits.
    EndThread,
}

/// `EINTR` is retried. `ENOENT` is either a notification withdrawn before it was copied out
/// (retry) or a listener nobody uses any more (exit): `hung_up` tells which. Anything else
/// ends this receiver.
fn next_step(errno: Option<i32>, hung_up: impl FnOnce() -> bool) -> Step {
    match errno {
        Some(libc::EINTR) => Step::Retry,
        Some(libc::ENOENT) if hung_up() => Step::ExitProcess,
        Some(libc::ENOENT) => Step::Retry,
        _ => Step::EndThread,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_nobody_uses_ends_the_supervisor_instead_of_a_retry() {
        assert_eq!(next_step(Some(libc::ENOENT), || true), Step::ExitProcess);
        assert_eq!(next_step(Some(libc::ENOENT), || false), Step::Retry);
        assert_eq!(next_step(Some(libc::EINTR), || true), Step::Retry);
        assert_eq!(next_step(Some(libc::EBADF), || false), Step::EndThread);
    }
}
