//! A readable listing of a seccomp program, for `network-sandbox explain`.
//!
//! One instruction per line: index, mnemonic, operand, and for jumps the absolute indices of
//! both targets. Constants are spelled out where the listing can tell what they are compared
//! with: system call names where the accumulator holds `nr`, `AUDIT_ARCH_*` where it holds
//! `arch`, and for the arguments of the calls the rules look at (`socket`, `setsockopt`,
//! `sendto`, `sendmsg`, `sendmmsg`) the `AF_*`, `SOCK_*`, `IPPROTO_*`, `SOL_*` and
//! `MSG_FASTOPEN` names. Returns read `ALLOW`, `ERRNO(EPERM)`, `USER_NOTIF`, `REPORT(EACCES)`
//! (a refusal the supervisor reports), `WITHIN_SANDBOX(EPERM)` (allowed where Landlock keeps
//! the call inside the sandbox, else `ERRNO(EPERM)`: the installer decides), ….

use std::fmt::Write;

use crate::arch::Arch;
use crate::bpf::{
    Instruction, Program, ALU_AND_K, JA, JEQ_K, JGE_K, JGT_K, JSET_K, LD_W_ABS, RET_K,
};
use crate::syscalls::{self, Sysno, X32_SYSCALL_BIT};

/// The listing of `program`, ending with its length.
pub fn render(program: &Program) -> String {
    let insns = &program.instructions;
    let contexts = contexts(insns);
    let mut out = format!(
        "seccomp program for {}: {} instructions\n",
        program.arch,
        insns.len()
    );
    for (at, insn) in insns.iter().enumerate() {
        let ctx = contexts[at].unwrap_or_default();
        let line = instruction(program.arch, at, insn, ctx);
        let _ = writeln!(out, "{at:5}  {}", line.trim_end());
    }
    let _ = writeln!(out, "{} instructions", insns.len());
    out
}

/// What the listing knows before an instruction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Context {
    /// The `seccomp_data` offset the accumulator was loaded from, and the mask applied since.
    acc: Option<(u32, u32)>,
    /// The system call number, once a `jeq` on `nr` has been taken.
    syscall: Option<u32>,
}

impl Context {
    fn meet(self, other: Context) -> Context {
        Context {
            acc: self.acc.filter(|a| other.acc == Some(*a)),
            syscall: self.syscall.filter(|s| other.syscall == Some(*s)),
        }
    }
}

/// The context before each instruction (`None`: unreachable). Jumps only go forward.
fn contexts(insns: &[Instruction]) -> Vec<Option<Context>> {
    let mut ctx: Vec<Option<Context>> = vec![None; insns.len()];
    if let Some(first) = ctx.first_mut() {
        *first = Some(Context::default());
    }
    let flow = |ctx: &mut Vec<Option<Context>>, to: usize, c: Context| {
        if let Some(slot) = ctx.get_mut(to) {
            *slot = Some(slot.map_or(c, |s| s.meet(c)));
        }
    };
    for at in 0..insns.len() {
        let Some(c) = ctx[at] else { continue };
        let insn = insns[at];
        match insn.code {
            RET_K => {}
            JA => flow(&mut ctx, at + 1 + insn.k as usize, c),
            JEQ_K | JGT_K | JGE_K | JSET_K => {
                let mut taken = c;
                if insn.code == JEQ_K && c.acc == Some((0, u32::MAX)) {
                    taken.syscall = Some(insn.k);
                }
                flow(&mut ctx, at + 1 + usize::from(insn.jt), taken);
                flow(&mut ctx, at + 1 + usize::from(insn.jf), c);
            }
            LD_W_ABS => flow(
                &mut ctx,
                at + 1,
                Context {
                    acc: Some((insn.k, u32::MAX)),
                    ..c
                },
            ),
            ALU_AND_K => flow(
                &mut ctx,
                at + 1,
                Context {
                    acc: c.acc.map(|(off, mask)| (off, mask & insn.k)),
                    ..c
                },
            ),
            _ => flow(&mut ctx, at + 1, Context { acc: None, ..c }),
        }
    }
    ctx
}

fn instruction(arch: Arch, at: usize, insn: &Instruction, ctx: Context) -> String {
    let targets = |jt: u8, jf: u8| {
        format!(
            "jt {:<5} jf {}",
            at + 1 + usize::from(jt),
            at + 1 + usize::from(jf)
        )
    };
    match insn.code {
        LD_W_ABS => format!("ld    {}", field(insn.k)),
        ALU_AND_K => format!("and   #{:#x}", insn.k),
        JA => format!("ja    {}", at + 1 + insn.k as usize),
        RET_K => format!("ret   {}", action(insn.k)),
        JEQ_K | JGT_K | JGE_K | JSET_K => {
            let op = match insn.code {
                JEQ_K => "jeq",
                JGT_K => "jgt",
                JGE_K => "jge",
                _ => "jset",
            };
            let operand = constant(arch, insn.code, insn.k, ctx);
            format!("{op:<5} {operand:<40} {}", targets(insn.jt, insn.jf))
        }
        code => format!("{code:#06x} jt {} jf {} k {:#x}", insn.jt, insn.jf, insn.k),
    }
}

/// The name of the `seccomp_data` word at `offset`.
fn field(offset: u32) -> String {
    match offset {
        0 => "[nr]".into(),
        4 => "[arch]".into(),
        8 => "[instruction_pointer]".into(),
        12 => "[instruction_pointer >> 32]".into(),
        16..=63 if offset % 4 == 0 => {
            let arg = (offset - 16) / 8;
            if offset % 8 == 0 {
                format!("[args[{arg}]]")
            } else {
                format!("[args[{arg}] >> 32]")
            }
        }
        _ => format!("[{offset}]"),
    }
}

/// A jump's constant, with its meaning where the listing can tell.
fn constant(arch: Arch, code: u16, k: u32, ctx: Context) -> String {
    let number = if k < 0x1000 {
        format!("#{k}")
    } else {
        format!("#{k:#x}")
    };
    let name = match ctx.acc {
        Some((0, _)) if code == JSET_K && k == X32_SYSCALL_BIT => Some("X32_SYSCALL_BIT".into()),
        Some((0, _)) if code == JGT_K => Some("highest known".into()),
        // A `jge` on the number splits the system call profile's search (issue 14).
        Some((0, _)) if code == JGE_K => {
            crate::syscall_table::name(arch, k).map(|n| format!("from {n}"))
        }
        Some((0, _)) => crate::syscall_table::name(arch, k).map(String::from),
        Some((4, _)) => syscalls::audit_arch_name(k).map(String::from),
        Some((offset, _)) if (16..64).contains(&offset) && offset % 8 == 0 => {
            let arg = (offset - 16) / 8;
            let syscall = ctx
                .syscall
                .and_then(|nr| Sysno::ALL.into_iter().find(|s| s.number(arch) == nr));
            syscall.and_then(|s| argument_name(s, arg, k))
        }
        _ => None,
    };
    match name {
        Some(name) => format!("{number} {name}"),
        None => number,
    }
}

/// The name of value `k` of argument `arg` of `syscall`, for the arguments the rules test.
fn argument_name(syscall: Sysno, arg: u32, k: u32) -> Option<String> {
    match (syscall, arg) {
        (Sysno::Socket, 0) => Some(
            match k {
                1 => "AF_UNIX",
                2 => "AF_INET",
                10 => "AF_INET6",
                16 => "AF_NETLINK",
                17 => "AF_PACKET",
                _ => return None,
            }
            .into(),
        ),
        (Sysno::Socket, 1) => {
            let base = match k & !0x8_0800 {
                1 => "SOCK_STREAM",
                2 => "SOCK_DGRAM",
                3 => "SOCK_RAW",
                5 => "SOCK_SEQPACKET",
                _ => return None,
            };
            let mut name = base.to_string();
            if k & 0x800 != 0 {
                name.push_str("|SOCK_NONBLOCK");
            }
            if k & 0x8_0000 != 0 {
                name.push_str("|SOCK_CLOEXEC");
            }
            Some(name)
        }
        (Sysno::Socket, 2) => Some(
            match k {
                0 => "default protocol",
                6 => "IPPROTO_TCP",
                17 => "IPPROTO_UDP",
                _ => return None,
            }
            .into(),
        ),
        (Sysno::Setsockopt, 1) => Some(
            match k {
                0 => "SOL_IP",
                6 => "SOL_TCP",
                41 => "SOL_IPV6",
                132 => "SOL_SCTP",
                _ => return None,
            }
            .into(),
        ),
        (Sysno::Setsockopt, 2) => Some(
            match k {
                4 => "IP_OPTIONS",
                19 => "TCP_REPAIR",
                57 => "IPV6_RTHDR",
                _ => return None,
            }
            .into(),
        ),
        (Sysno::Sendto, 3) | (Sysno::Sendmsg, 2) | (Sysno::Sendmmsg, 3) if k == 0x2000_0000 => {
            Some("MSG_FASTOPEN".into())
        }
        (Sysno::Sendto, 4) if k == 0 => Some("NULL".into()),
        _ => None,
    }
}

/// An errno by name, for the ones the programs return.
fn errno_name(data: u32) -> String {
    match data {
        1 => "EPERM".into(),
        13 => "EACCES".into(),
        38 => "ENOSYS".into(),
        n => n.to_string(),
    }
}

/// A seccomp return value by name: `REPORT(EACCES)` is `USER_NOTIF` with an errno in its
/// data, a refusal the supervisor reports.
fn action(k: u32) -> String {
    let data = k & 0xffff;
    match k & 0xffff_0000 {
        0x8000_0000 => "KILL_PROCESS".into(),
        0x0000_0000 => "KILL_THREAD".into(),
        // The placeholder of a call allowed only inside Landlock's domain (issue 12).
        0x0003_0000 => format!("WITHIN_SANDBOX({})", errno_name(data)),
        0x0005_0000 => format!("ERRNO({})", errno_name(data)),
        0x7fc0_0000 if data == 0 => "USER_NOTIF".into(),
        0x7fc0_0000 => format!("REPORT({})", errno_name(data)),
        0x7ff0_0000 => format!("TRACE({data})"),
        0x7ffc_0000 => "LOG".into(),
        0x7fff_0000 => "ALLOW".into(),
        _ => format!("{k:#x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Policy;

    #[test]
    fn names_what_it_can() {
        let compiled = crate::compile::compile(&Policy::default()).unwrap();
        let program = compiled.program(Arch::X86_64);
        let text = render(program);
        for word in [
            "AUDIT_ARCH_X86_64",
            "KILL_PROCESS",
            "X32_SYSCALL_BIT",
            "ERRNO(ENOSYS)",
            "REPORT(EACCES)",
            "ERRNO(EPERM)",
            "#41 socket",
            "AF_INET6",
            "SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC",
            "MSG_FASTOPEN",
            "TCP_REPAIR",
            "ALLOW",
        ] {
            assert!(text.contains(word), "{word} missing from\n{text}");
        }
        let lines = text.lines().count();
        assert_eq!(lines, program.instructions.len() + 2);
        assert!(text.ends_with(&format!("{} instructions\n", program.instructions.len())));
    }
}
