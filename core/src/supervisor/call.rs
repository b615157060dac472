//! One notified call, what a handler answers, and the steps every handler shares: read the
//! caller's memory, copy an address once, judge a destination, refuse with a report.
//!
//! A handler returns an [`Outcome`]: `Ok(value)` is the call's return value, `Err(Halt)`
//! either an errno or "the caller is gone, answer nothing". `?` carries both from any step to
//! the receive loop, which turns the outcome into the one reply.

use std::net::SocketAddr;
use std::os::fd::RawFd;

use super::sockaddr;
use super::socket::{Socket, SocketKind};
use crate::policy::{Mode, Policy, Protocol};
use crate::report::{Layer, Operation, Reason, Remedy, Reporter, Violation};
use crate::sys;

/// A call made by a sandboxed task, as its notification describes it.
pub struct Call {
    /// Notification id.
    pub id: u64,
    /// Thread id of the caller.
    pub tid: libc::pid_t,
    /// System call number.
    pub nr: i64,
    /// `AUDIT_ARCH_*` of the call.
    pub arch: u32,
    /// Address of the system call instruction.
    pub instruction_pointer: u64,
    /// Arguments.
    pub args: [u64; 6],
}

impl Call {
    /// From a received notification.
    pub fn from_notif(n: &libc::seccomp_notif) -> Self {
        Call {
            id: n.id,
            tid: n.pid as libc::pid_t,
            nr: n.data.nr as i64,
            arch: n.data.arch,
            instruction_pointer: n.data.instruction_pointer,
            args: n.data.args,
        }
    }

    /// What the filter saw: the `seccomp_data` of the call.
    pub fn data(&self) -> crate::filter::SeccompData {
        crate::filter::SeccompData {
            nr: self.nr as i32,
            arch: self.arch,
            instruction_pointer: self.instruction_pointer,
            args: self.args,
        }
    }

    /// The operation this call performs, for reports.
    pub fn operation(&self) -> Operation {
        match self.nr {
            libc::SYS_connect => Operation::Connect,
            libc::SYS_bind => Operation::Bind,
            libc::SYS_listen => Operation::Listen,
            _ => Operation::Send,
        }
    }
}

/// Why a handler stops before the call's own result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Halt {
    /// Answer the call with this errno.
    Errno(i32),
    /// The notification is no longer pending (the caller died, or a signal interrupted the
    /// call, which the kernel restarts as a new notification): there is nobody to answer.
    Gone,
    /// Already answered (`SECCOMP_ADDFD_FLAG_SEND` answers with the installed fd).
    Answered,
    /// Audit mode only: let the kernel perform the call (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`),
    /// for calls decided on register arguments without reading the caller's memory.
    Continue,
}

/// What a handler step gives: its value, or why the handler stops.
pub type Outcome<T = i64> = Result<T, Halt>;

/// `Err(Halt::Errno(errno))`, for the many places that answer with an errno.
pub fn fail<T>(errno: i32) -> Outcome<T> {
    Err(Halt::Errno(errno))
}

/// The answer for a call the supervisor performed itself that returns 0 or -1 (`connect`,
/// `bind`, `listen`): 0, or the errno it failed with, as the caller would have got it.
pub fn performed(ret: libc::c_int) -> Outcome {
    if ret == 0 {
        Ok(0)
    } else {
        fail(sys::errno())
    }
}

/// Where a call sends its data, as far as the policy is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// No address: the socket's connected peer (or, for `connect(AF_UNSPEC)`, nobody).
    Peer,
    /// An IPv4 or IPv6 destination.
    Ip(SocketAddr),
    /// An address of another family (a unix path, say).
    Other,
}

/// What a refusal is about: the operation, what it aimed at, and why it is refused. Built
/// once per refusal and carried to the one place that turns it into a report.
#[derive(Clone, Debug)]
pub struct Refused {
    /// What was tried.
    pub operation: Operation,
    /// The socket's protocol, when it is TCP or UDP.
    pub protocol: Option<Protocol>,
    /// The destination, when it was an IP address.
    pub destination: Option<SocketAddr>,
    /// Why it is refused.
    pub reason: Reason,
    /// What to write to allow it, when the handler knows better than
    /// [`Remedy::for_refusal`] (a `unix:` endpoint).
    pub remedy: Option<Remedy>,
}

impl Refused {
    /// `operation`, refused for `reason`, with neither protocol nor destination known.
    pub fn new(operation: Operation, reason: Reason) -> Self {
        Refused {
            operation,
            protocol: None,
            destination: None,
            reason,
            remedy: None,
        }
    }

    /// The same, with the remedy its line gives.
    pub fn remedy(mut self, remedy: Remedy) -> Self {
        self.remedy = Some(remedy);
        self
    }

    /// The same, on a socket of `protocol`.
    pub fn on(mut self, protocol: Option<Protocol>) -> Self {
        self.protocol = protocol;
        self
    }

    /// The same, aimed at `destination`.
    pub fn to(mut self, destination: Option<SocketAddr>) -> Self {
        self.destination = destination;
        self
    }
}

/// What a handler needs besides the call.
pub struct Context<'a> {
    /// The listener, to check that a notification is still pending.
    pub listener: RawFd,
    /// The policy.
    pub policy: &'a Policy,
    /// Where violations go.
    pub reporter: &'a Reporter,
    /// The unix sockets the supervisor bound for the program (`own.rs`).
    pub own: &'a super::own::OwnSockets,
}

impl Context<'_> {
    /// `Ok` while the call is still waiting for our answer. Checked after every look at the
    /// caller through its thread id, since a dead caller's id can be reused.
    pub fn still_pending(&self, call: &Call) -> Outcome<()> {
        if sys::notif_id_valid(self.listener, call.id) {
            Ok(())
        } else {
            Err(Halt::Gone)
        }
    }

    /// Copies `buf.len()` bytes at `ptr` out of the caller. `EFAULT` as the kernel would give
    /// it; any other failure means the caller cannot be inspected.
    pub fn read_memory(&self, call: &Call, ptr: u64, buf: &mut [u8]) -> Outcome<()> {
        sys::read_process_memory(call.tid, ptr, buf).map_err(|e| match e.raw_os_error() {
            Some(libc::EFAULT) => Halt::Errno(libc::EFAULT),
            _ => self.uninspectable(call, &e),
        })
    }

    /// Copies `len` bytes at `ptr` out of the caller into a new buffer.
    pub fn read(&self, call: &Call, ptr: u64, len: usize) -> Outcome<Vec<u8>> {
        let mut buf = vec![0u8; len];
        self.read_memory(call, ptr, &mut buf)?;
        Ok(buf)
    }

    /// Copies the caller's address argument (`ptr`, `len`) once, with the kernel's length
    /// check. This copy is the one that is judged and the one that is used.
    pub fn copy_address(&self, call: &Call, ptr: u64, len: u64) -> Outcome<Vec<u8>> {
        let len = sockaddr::check_len(len).map_err(Halt::Errno)?;
        self.read(call, ptr, len)
    }

    /// The verdict on `target` for `socket`: `Ok(())` to go ahead. A destination outside
    /// the policy, or a socket of a kind the policy does not allow, is refused and reported;
    /// in audit mode it is reported and let through.
    pub fn judge(
        &self,
        call: &Call,
        op: Operation,
        socket: &Socket,
        target: Target,
    ) -> Outcome<()> {
        match (&socket.kind, target) {
            (SocketKind::Ip(_), Target::Peer) | (SocketKind::Unix(_), Target::Peer) => Ok(()),
            // Before any entry of the policy: the kernel sends these to this machine.
            (SocketKind::Ip(proto), Target::Ip(d))
                if crate::policy::reaches_this_machine(d.ip()) =>
            {
                let why = format!(
                    "{}; the sandbox never allows {}, whatever the policy says",
                    crate::policy::UNSPECIFIED_REACHES_THIS_MACHINE,
                    crate::policy::canonical_ip(d.ip())
                );
                let refused = Refused::new(op, Reason::Never(why))
                    .on(Some(*proto))
                    .to(Some(d));
                self.refuse_or_audit(call, refused)
            }
            (SocketKind::Ip(proto), Target::Ip(d)) => match self.policy.permits(*proto, d) {
                // A socket the answerer's swap moved into its namespace (its first use was a
                // query to the sandbox's DNS address) reaches nothing else there: say so,
                // rather than let an allowed send vanish or a connect find nobody.
                Some(_) if in_answerers_namespace(socket) => {
                    let why = format!(
                        "this socket was handed over to the sandbox's DNS answerer when it \
                         first talked to {}:53, and only the answerer can be reached from it; \
                         use another socket for {d}",
                        crate::answerer::SENTINEL
                    );
                    let refused = Refused::new(op, Reason::Never(why))
                        .on(Some(*proto))
                        .to(Some(d));
                    self.refuse_or_audit(call, refused)
                }
                Some(_) => {
                    self.log_allowed(call, op, *proto, d);
                    Ok(())
                }
                None => {
                    let reason = match self.policy.why_not(*proto, d) {
                        Some(why) => Reason::NotAllowedNamed(why),
                        None => Reason::NotAllowed,
                    };
                    let refused = Refused::new(op, reason).on(Some(*proto)).to(Some(d));
                    self.refuse_or_audit(call, refused)
                }
            },
            // IPv4 UDP reads even an AF_UNSPEC name as a destination: no name but an IP one.
            (SocketKind::Ip(proto), Target::Other) => {
                Err(self.refuse(call, Refused::new(op, Reason::NotAllowed).on(Some(*proto))))
            }
            (kind, target) => {
                let dest = match target {
                    Target::Ip(d) => Some(d),
                    _ => None,
                };
                let reason = Reason::SocketKind(kind.describe());
                self.refuse_or_audit(call, Refused::new(op, reason).to(dest))
            }
        }
    }

    /// Reports a refusal and answers the policy's errno (`deny_errno`, `EACCES` by default).
    pub fn refuse(&self, call: &Call, refused: Refused) -> Halt {
        self.report(call, refused, false);
        Halt::Errno(self.policy.options().deny_errno.errno())
    }

    /// Whether the policy is in audit mode.
    pub fn audit(&self) -> bool {
        self.policy.options().mode == Mode::Audit
    }

    /// [`refuse`](Self::refuse), except in audit mode, where the call is reported as one
    /// that would be refused and goes on.
    pub fn refuse_or_audit(&self, call: &Call, refused: Refused) -> Outcome<()> {
        if self.audit() {
            self.report(call, refused, true);
            Ok(())
        } else {
            Err(self.refuse(call, refused))
        }
    }

    fn report(&self, call: &Call, mut refused: Refused, audit_only: bool) {
        // Under a policy without endpoints nothing is in the allow list: say so.
        if refused.reason == Reason::NotAllowed
            && self.policy.endpoints().is_empty()
            && self.policy.names().is_empty()
            && self.policy.unix().is_empty()
        {
            refused.reason = Reason::NoNetwork;
        }
        let remedy = refused.remedy.clone().unwrap_or_else(|| {
            Remedy::for_refusal(
                refused.operation,
                &refused.reason,
                refused.protocol,
                refused.destination,
            )
        });
        self.deliver(call, refused, remedy, audit_only, Layer::Supervisor);
    }

    /// Reports a refusal of the static filter, with its remedy as the caller found it (in
    /// audit mode, as one that would be refused).
    pub fn report_refusal(&self, call: &Call, refused: Refused, remedy: Remedy) {
        self.deliver(call, refused, remedy, self.audit(), Layer::StaticFilter);
    }

    fn deliver(
        &self,
        call: &Call,
        refused: Refused,
        remedy: Remedy,
        audit_only: bool,
        layer: Layer,
    ) {
        let v = self.violation(call, refused, remedy, audit_only, layer);
        self.reporter.report(v);
    }

    /// Logs an allowed `operation` to `destination`, when the log asks for allowed
    /// decisions (one flag test otherwise).
    pub fn log_allowed(
        &self,
        call: &Call,
        operation: Operation,
        protocol: Protocol,
        destination: SocketAddr,
    ) {
        if self.reporter.logs_allowed() {
            let seen = Refused::new(operation, Reason::NotAllowed)
                .on(Some(protocol))
                .to(Some(destination));
            let v = self.violation(call, seen, Remedy::Nothing, false, Layer::Supervisor);
            self.reporter.allowed(&v);
        }
    }

    /// Logs an allowed unix connect or send to `endpoint` (`unix:/path`, `unix:@name`),
    /// when allowed decisions are wanted (the log asks, or learn mode, which writes the
    /// endpoint from the remedy).
    pub fn log_allowed_unix(&self, call: &Call, operation: Operation, endpoint: &str) {
        if self.reporter.logs_allowed() {
            let seen = Refused::new(operation, Reason::NotAllowed);
            let remedy = Remedy::Add(endpoint.to_owned());
            let v = self.violation(call, seen, remedy, false, Layer::Supervisor);
            self.reporter.allowed(&v);
        }
    }

    fn violation(
        &self,
        call: &Call,
        refused: Refused,
        remedy: Remedy,
        audit_only: bool,
        layer: Layer,
    ) -> Violation {
        let Refused {
            operation,
            protocol,
            destination,
            reason,
            remedy: _,
        } = refused;
        let socket = match &reason {
            Reason::SocketKind(k) => Some(k.clone()),
            _ => None,
        };
        let pid = sys::thread_group_of(call.tid).unwrap_or(call.tid);
        let thread = name_of(call.tid);
        let command = if pid == call.tid {
            thread.clone()
        } else {
            name_of(pid)
        };
        Violation {
            pid,
            command,
            tid: call.tid,
            thread,
            operation,
            protocol,
            socket,
            destination,
            remedy,
            reason,
            audit_only,
            layer,
        }
    }

    /// The supervisor could not look at the caller (`e`): nothing to answer if the caller is
    /// gone; otherwise the call is refused and reported, since nobody can know what it
    /// would have done.
    pub fn uninspectable(&self, call: &Call, e: &std::io::Error) -> Halt {
        if let Err(gone) = self.still_pending(call) {
            return gone;
        }
        let errno = e.raw_os_error().unwrap_or(libc::EIO);
        self.refuse(
            call,
            Refused::new(call.operation(), Reason::Uninspectable(errno)),
        )
    }
}

/// The name of task `id` (a process or a thread), with control characters replaced: the
/// sandboxed program chooses its names, and the line goes to a terminal.
pub(super) fn name_of(id: libc::pid_t) -> String {
    sys::read_small_file(&format!("/proc/{id}/comm"))
        .map(|c| {
            c.chars()
                .map(|ch| if ch.is_control() { '?' } else { ch })
                .collect()
        })
        .unwrap_or_else(|| "?".to_owned())
}

/// Whether `socket` lives in the DNS answerer's network namespace (`dns.rs` swapped it in).
fn in_answerers_namespace(socket: &Socket) -> bool {
    crate::answerer::get().is_some_and(|a| a.owns(std::os::fd::AsRawFd::as_raw_fd(&socket.fd)))
}
