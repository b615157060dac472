//! The classic BPF instruction type and the seccomp return values the runtime needs to know.
//!
//! The program itself is compiled at build time by `network-sandbox-build`; the runtime only
//! installs it. The program returns `SECCOMP_RET_USER_NOTIF` in two meanings, told apart by
//! the return's data bits, which the kernel ignores for that action:
//!
//! - data 0, a **check**: the supervisor decides (connect, UDP sends, UDP bind, the
//!   datagram sockets it makes shut down for interface queries);
//! - data `errno`, a **reported refusal**: the static filter refuses the call, and the
//!   supervisor reports it and answers `errno` (finding it by running the program on the
//!   notification's `seccomp_data`, [`run`]).
//!
//! The runtime changes only return values of a compiled program, never its instructions
//! otherwise. [`Fallback`](crate::Fallback) handling: when the supervisor cannot run and the
//! policy opted into a weaker mode, every *check* is rewritten to the fallback's action
//! ([`rewrite_user_notif`]). Wherever no supervisor runs (report off, a fallback, a policy
//! that needs none), every *reported refusal* becomes `SECCOMP_RET_ERRNO | errno`
//! ([`resolve_reports`]): a refusal never becomes the fallback's action, whatever it is.
//! And the placeholders of calls allowed only inside Landlock's domain are settled
//! ([`settle_within_sandbox`]). A policy without endpoints whose supervisor cannot run gets
//! a second program the compiler made for that case
//! ([`Policy::unsupervised_filter`](crate::Policy::unsupervised_filter)), not one assembled
//! here.

/// One classic BPF instruction, laid out as the kernel's `struct sock_filter`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SockFilter {
    /// Opcode.
    pub code: u16,
    /// Jump offset if the condition is true.
    pub jt: u8,
    /// Jump offset if the condition is false.
    pub jf: u8,
    /// Constant operand.
    pub k: u32,
}

impl SockFilter {
    /// An instruction from its four fields.
    pub const fn new(code: u16, jt: u8, jf: u8, k: u32) -> Self {
        SockFilter { code, jt, jf, k }
    }
}

/// `BPF_RET | BPF_K`: return the constant `k`.
pub const BPF_RET_K: u16 = 0x06;

/// `SECCOMP_RET_USER_NOTIF`: hand the syscall to the supervisor.
pub const SECCOMP_RET_USER_NOTIF: u32 = 0x7fc0_0000;
/// `SECCOMP_RET_ALLOW`.
pub const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
/// `SECCOMP_RET_ERRNO` (the errno goes in the low 16 bits).
pub const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;

/// `SECCOMP_RET_ACTION_FULL`: the action bits of a return value.
const ACTION_FULL: u32 = 0xffff_0000;
/// `SECCOMP_RET_DATA`: the data bits.
const DATA: u32 = 0x0000_ffff;

/// The errno of a reported refusal (`SECCOMP_RET_USER_NOTIF | errno`, `errno` not 0).
pub fn reported_errno(ret: u32) -> Option<i32> {
    (ret & ACTION_FULL == SECCOMP_RET_USER_NOTIF && ret & DATA != 0).then_some((ret & DATA) as i32)
}

/// Whether the program hands any *check* to the supervisor. A policy with no endpoints
/// (`allow = []`) under `fallback = "landlock-ports"` compiles to a program that does not.
pub fn uses_user_notif(program: &[SockFilter]) -> bool {
    program
        .iter()
        .any(|i| i.code == BPF_RET_K && i.k == SECCOMP_RET_USER_NOTIF)
}

/// `AUDIT_ARCH_*` of the architecture this crate is built for; `None` on one the compiler
/// emits no program for.
pub const NATIVE_AUDIT_ARCH: Option<u32> = if cfg!(target_arch = "x86_64") {
    Some(0xc000_003e)
} else if cfg!(target_arch = "aarch64") {
    Some(0xc000_00b7)
} else {
    None
};

/// Which datagram sockets `program` hands to the supervisor as *query sockets* (issue 12:
/// made shut down, for interface requests) on this machine: `(ip, unix)`, found by running
/// it on `socket(AF_INET, SOCK_DGRAM, 0)` and `socket(AF_UNIX, SOCK_DGRAM, 0)`.
pub fn query_sockets(program: &[SockFilter]) -> (bool, bool) {
    let check =
        |family| socket_return(program, family, libc::SOCK_DGRAM) == Some(SECCOMP_RET_USER_NOTIF);
    (check(libc::AF_INET), check(libc::AF_UNIX))
}

/// What `program` returns for `socket(family, ty, 0)` on this machine; `None` where the
/// compiler emits no program or the interpreter cannot run it.
pub fn socket_return(program: &[SockFilter], family: i32, ty: i32) -> Option<u32> {
    let data = SeccompData {
        nr: libc::SYS_socket as i32,
        arch: NATIVE_AUDIT_ARCH?,
        instruction_pointer: 0,
        args: [family as u64, ty as u64, 0, 0, 0, 0],
    };
    run(program, &data)
}

/// Whether the program has refusals for the supervisor to report.
pub fn has_reports(program: &[SockFilter]) -> bool {
    program
        .iter()
        .any(|i| i.code == BPF_RET_K && reported_errno(i.k).is_some())
}

/// A copy of `program` with every reported refusal (`USER_NOTIF | errno`) replaced by
/// `SECCOMP_RET_ERRNO | errno`: what is installed when no supervisor runs.
pub fn resolve_reports(program: &[SockFilter]) -> Vec<SockFilter> {
    program
        .iter()
        .map(|i| match reported_errno(i.k) {
            Some(errno) if i.code == BPF_RET_K => {
                SockFilter::new(i.code, i.jt, i.jf, SECCOMP_RET_ERRNO | errno as u32)
            }
            _ => *i,
        })
        .collect()
}

/// A copy of `program` with every check (`return SECCOMP_RET_USER_NOTIF`, data 0) replaced
/// by `return action`, and every reported refusal resolved to its errno
/// ([`resolve_reports`]). Only return instructions change, so every jump offset stays valid.
pub fn rewrite_user_notif(program: &[SockFilter], action: u32) -> Vec<SockFilter> {
    resolve_reports(program)
        .iter()
        .map(|i| {
            if i.code == BPF_RET_K && i.k == SECCOMP_RET_USER_NOTIF {
                SockFilter::new(i.code, i.jt, i.jf, action)
            } else {
                *i
            }
        })
        .collect()
}

/// `SECCOMP_RET_TRAP`: in a compiled program, only the placeholder of a call allowed where
/// Landlock keeps it inside the sandbox (ptrace, `process_vm_readv/writev`), with the errno
/// of its refusal in the data bits. Never installed: see [`settle_within_sandbox`].
pub const SECCOMP_RET_TRAP: u32 = 0x0003_0000;

/// Whether `program` has placeholders of calls allowed only inside Landlock's domain.
pub fn has_within_sandbox(program: &[SockFilter]) -> bool {
    program
        .iter()
        .any(|i| i.code == BPF_RET_K && i.k & ACTION_FULL == SECCOMP_RET_TRAP)
}

/// A copy of `program` with every placeholder of a call allowed only inside the sandbox
/// (`SECCOMP_RET_TRAP | errno`) settled: `SECCOMP_RET_ALLOW` when `confined` (a Landlock
/// domain of the sandbox's own keeps ptrace and `process_vm_readv/writev` to the sandbox's
/// processes, and nothing lets a tracer suspend seccomp), else `SECCOMP_RET_ERRNO | errno`.
/// The installer calls it on every program it installs; a placeholder it missed would
/// still refuse the call (`SIGSYS`). Only return instructions change.
pub fn settle_within_sandbox(program: &[SockFilter], confined: bool) -> Vec<SockFilter> {
    program
        .iter()
        .map(|i| {
            if i.code == BPF_RET_K && i.k & ACTION_FULL == SECCOMP_RET_TRAP {
                let k = if confined {
                    SECCOMP_RET_ALLOW
                } else {
                    SECCOMP_RET_ERRNO | (i.k & DATA)
                };
                SockFilter::new(i.code, i.jt, i.jf, k)
            } else {
                *i
            }
        })
        .collect()
}

/// The kernel's `struct seccomp_data` as the program reads it: `nr` at 0, `arch` at 4,
/// `instruction_pointer` at 8, `args[i]` at `16 + 8 * i`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeccompData {
    /// System call number.
    pub nr: i32,
    /// `AUDIT_ARCH_*`.
    pub arch: u32,
    /// Address of the system call instruction.
    pub instruction_pointer: u64,
    /// The argument registers.
    pub args: [u64; 6],
}

impl SeccompData {
    fn word(&self, offset: u32) -> Option<u32> {
        if offset % 4 != 0 || offset >= 64 {
            return None;
        }
        let half = |v: u64| {
            if offset % 8 == 0 {
                v as u32
            } else {
                (v >> 32) as u32
            }
        };
        Some(match offset {
            0 => self.nr as u32,
            4 => self.arch,
            8 | 12 => half(self.instruction_pointer),
            _ => half(self.args[(offset as usize - 16) / 8]),
        })
    }
}

/// Runs `program` on `data` as the kernel would, for the instructions the compiler emits
/// (`ld [k]`, `and #k`, `ja`, `jeq`/`jgt`/`jge`/`jset #k`, `ret #k`). `None` for anything
/// else (another instruction, a read outside `seccomp_data`, a jump out of the program):
/// the caller then refuses.
pub fn run(program: &[SockFilter], data: &SeccompData) -> Option<u32> {
    let mut acc: u32 = 0;
    let mut pc = 0usize;
    loop {
        let i = program.get(pc)?;
        pc += 1;
        match i.code {
            0x20 => acc = data.word(i.k)?,
            0x54 => acc &= i.k,
            BPF_RET_K => return Some(i.k),
            0x05 => pc = pc.checked_add(i.k as usize)?,
            0x15 | 0x25 | 0x35 | 0x45 => {
                let taken = match i.code {
                    0x15 => acc == i.k,
                    0x25 => acc > i.k,
                    0x35 => acc >= i.k,
                    _ => acc & i.k != 0,
                };
                pc += usize::from(if taken { i.jt } else { i.jf });
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The supervisor runs the filter again on each notification (to tell a reported
    /// refusal from a check) with this module's small interpreter, because a program
    /// without the `compiler` feature has no other. It must agree with the compiler's own
    /// interpreter (`network_sandbox_build::interp`, which the compiler's tests run every
    /// emitted program on) on what the compiler emits: here, on the programs of several
    /// policies, for every system call number of both architectures and a spread of
    /// argument values.
    #[test]
    fn agrees_with_the_compilers_interpreter_on_compiled_programs() {
        use network_sandbox_build::{compile, file::parse_policy_toml, interp, Arch};
        let policies = [
            r#"allow = ["127.0.0.1:443"]"#,
            r#"allow = ["udp://127.0.0.1:53", "tcp://[::1]:80-90"]"#,
            r#"allow = ["a.test=127.0.0.2:443", "unix:/run/x.sock"]
               listen = ["127.0.0.1:8080"]"#,
            r#"allow = ["127.0.0.1:443"]
               syscalls = ["@system-service"]
               deny_syscalls = ["@mount"]
               syscall_refusal = "ENOSYS""#,
            r#"allow = ["127.0.0.1:443"]
               audit = true"#,
            "allow = []",
            r#"allow = []
               deny_errno = "ENETUNREACH"
               syscalls = ["@system-service"]
               deny_syscalls = ["sendto"]"#,
        ];
        // A small deterministic generator for argument values (xorshift64).
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let special = [
            0,
            1,
            2,
            3,
            10,
            17,
            0x4000_0000,
            0x2000_0000,
            u64::MAX,
            1 << 32,
        ];
        let mut compared = 0usize;
        for text in policies {
            let policy = parse_policy_toml(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
            let compiled = compile(&policy).expect("compiles");
            // The program for running without a supervisor too (policies without
            // endpoints), which the installer runs too (`socket_return` for its report).
            let programs = Arch::ALL
                .into_iter()
                .map(|arch| compiled.program(arch))
                .chain(compiled.unsupervised.iter());
            for compiled_program in programs {
                let (arch, program) = (compiled_program.arch, &compiled_program.instructions);
                let ours: Vec<SockFilter> = program
                    .iter()
                    .map(|i| SockFilter::new(i.code, i.jt, i.jf, i.k))
                    .collect();
                let audit_arch = network_sandbox_build::syscalls::audit_arch(arch);
                for nr in (0..480).chain([0x4000_0000, -1]) {
                    for round in 0..12 {
                        let mut args = [0u64; 6];
                        for a in &mut args {
                            *a = if round % 2 == 0 {
                                special[(next() % special.len() as u64) as usize]
                            } else {
                                next() >> (next() % 64)
                            };
                        }
                        let which_arch = match round {
                            10 => network_sandbox_build::syscalls::AUDIT_ARCH_I386,
                            11 => 0,
                            _ => audit_arch,
                        };
                        let data = SeccompData {
                            nr,
                            arch: which_arch,
                            instruction_pointer: next(),
                            args,
                        };
                        let theirs = interp::run(
                            program,
                            &interp::SeccompData {
                                nr,
                                arch: which_arch,
                                instruction_pointer: data.instruction_pointer,
                                args,
                            },
                        )
                        .expect("the compiler's interpreter runs its program")
                        .action;
                        assert_eq!(
                            run(&ours, &data),
                            Some(theirs),
                            "{text:?} on {arch:?}: {data:?}"
                        );
                        compared += 1;
                    }
                }
            }
        }
        assert!(compared > 80_000, "{compared}");
    }

    #[test]
    fn rewrite_touches_only_user_notif_returns() {
        let prog = [
            SockFilter::new(0x20, 0, 0, 0),
            SockFilter::new(0x15, 0, 1, SECCOMP_RET_USER_NOTIF),
            SockFilter::new(BPF_RET_K, 0, 0, SECCOMP_RET_USER_NOTIF),
            SockFilter::new(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
        ];
        assert!(uses_user_notif(&prog));
        let out = rewrite_user_notif(&prog, SECCOMP_RET_ERRNO | 13);
        assert_eq!(
            out[1], prog[1],
            "a jump comparing with the same constant is kept"
        );
        assert_eq!(out[2].k, SECCOMP_RET_ERRNO | 13);
        assert_eq!(out[3], prog[3]);
        assert!(!uses_user_notif(&out));
    }

    #[test]
    fn a_reported_refusal_is_never_rewritten_to_the_fallback_action() {
        let report = SECCOMP_RET_USER_NOTIF | 13;
        let prog = [
            SockFilter::new(0x20, 0, 0, 0),
            SockFilter::new(0x15, 0, 1, 41),
            SockFilter::new(BPF_RET_K, 0, 0, report),
            SockFilter::new(0x15, 0, 1, 42),
            SockFilter::new(BPF_RET_K, 0, 0, SECCOMP_RET_USER_NOTIF),
            SockFilter::new(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
        ];
        assert!(has_reports(&prog));
        assert_eq!(reported_errno(report), Some(13));
        assert_eq!(reported_errno(SECCOMP_RET_USER_NOTIF), None);
        let out = rewrite_user_notif(&prog, SECCOMP_RET_ALLOW);
        assert_eq!(out[2].k, SECCOMP_RET_ERRNO | 13);
        assert_eq!(out[4].k, SECCOMP_RET_ALLOW);
        assert!(!has_reports(&out));
        let resolved = resolve_reports(&prog);
        assert_eq!(resolved[2].k, SECCOMP_RET_ERRNO | 13);
        assert_eq!(resolved[4].k, SECCOMP_RET_USER_NOTIF);
        let data = |nr| SeccompData {
            nr,
            ..Default::default()
        };
        assert_eq!(run(&prog, &data(41)), Some(report));
        assert_eq!(run(&prog, &data(42)), Some(SECCOMP_RET_USER_NOTIF));
        assert_eq!(run(&prog, &data(43)), Some(SECCOMP_RET_ALLOW));
        assert_eq!(run(&prog[..2], &data(43)), None, "runs off the end");
    }

    #[test]
    fn within_sandbox_placeholders_are_settled_both_ways() {
        let placeholder = SECCOMP_RET_TRAP | 1;
        let prog = [
            SockFilter::new(0x20, 0, 0, 0),
            SockFilter::new(0x15, 0, 1, placeholder),
            SockFilter::new(BPF_RET_K, 0, 0, placeholder),
            SockFilter::new(BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | 13),
        ];
        assert!(has_within_sandbox(&prog));
        let open = settle_within_sandbox(&prog, true);
        assert_eq!(open[1], prog[1], "a jump's constant is not a return");
        assert_eq!(open[2].k, SECCOMP_RET_ALLOW);
        assert_eq!(open[3], prog[3]);
        let closed = settle_within_sandbox(&prog, false);
        assert_eq!(closed[2].k, SECCOMP_RET_ERRNO | 1, "refused with its errno");
        assert!(!has_within_sandbox(&open) && !has_within_sandbox(&closed));
    }
}
