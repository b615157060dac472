//! The classic BPF instruction type and the seccomp return values the runtime needs to know.
//!
//! The program itself is compiled at build time by `network-sandbox-build`; the runtime only
//! installs it. The one change the runtime makes is [`Fallback`](crate::Fallback) handling:
//! when the supervisor cannot run and the policy opted into a weaker mode, every
//! `SECCOMP_RET_USER_NOTIF` return is rewritten to the fallback's action (see
//! [`rewrite_user_notif`]).

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

/// Whether the program hands any syscall to the supervisor. A policy with no endpoints
/// (`allow = []`) compiles to a program that does not, and needs no supervisor.
pub fn uses_user_notif(program: &[SockFilter]) -> bool {
    program
        .iter()
        .any(|i| i.code == BPF_RET_K && i.k == SECCOMP_RET_USER_NOTIF)
}

/// A copy of `program` with every `return SECCOMP_RET_USER_NOTIF` replaced by `return
/// action`. Only return instructions change, so every jump offset stays valid.
pub fn rewrite_user_notif(program: &[SockFilter], action: u32) -> Vec<SockFilter> {
    program
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
