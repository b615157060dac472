//! The filters compared: the floor, network-sandbox's compiled policy, and the same rules
//! built with libseccomp; and the count of BPF instructions each runs for a call.

use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{FromRawFd, OwnedFd};

use libseccomp::{ScmpAction, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use network_sandbox::SockFilter;
use network_sandbox_build::interp;
pub use network_sandbox_build::interp::SeccompData;
use network_sandbox_build::lower::{self, Action, CmpOp, RuleSet};
use network_sandbox_build::{model, syscalls, valid, Arch, Instruction};

/// `SECCOMP_RET_ALLOW`.
const RET_ALLOW: u32 = 0x7fff_0000;
/// `SECCOMP_RET_ERRNO | EACCES`.
const RET_EACCES: u32 = 0x0005_0000 | libc::EACCES as u32;

/// The architecture this binary runs on.
pub fn native_arch() -> Arch {
    Arch::ALL
        .into_iter()
        .find(|a| a.target_arch() == std::env::consts::ARCH)
        .expect("the benchmarks run on x86_64 or aarch64")
}

/// The floor: the smallest program that allows every call by number alone and denies
/// `socket` by number alone. For `getppid` and `sendto` it is an allow-all filter (the
/// kernel's action cache skips it); for `socket` it is the least a filter can run to deny.
pub fn floor_program() -> Vec<SockFilter> {
    let socket = libc::SYS_socket as u32;
    vec![
        SockFilter::new(0x20, 0, 0, 0),      // ld nr
        SockFilter::new(0x15, 0, 1, socket), // jeq socket
        SockFilter::new(0x06, 0, 0, RET_EACCES),
        SockFilter::new(0x06, 0, 0, RET_ALLOW),
    ]
}

/// The benchmark policy's endpoints.
pub fn endpoints(ports: &[u16]) -> Vec<String> {
    ports.iter().map(|p| format!("127.0.0.2:{p}")).collect()
}

/// The L1 rules network-sandbox lowers the benchmark policy to on this architecture: the
/// input both network-sandbox's back end and libseccomp compile.
pub fn rule_set(ports: &[u16]) -> RuleSet {
    let policy = valid::policy_from_strs(&endpoints(ports), model::Options::default())
        .expect("the benchmark policy is valid");
    lower::lower(&policy, native_arch())
}

/// libseccomp's optimisation level: its default (a linear list of system calls) or the
/// binary tree (`SCMP_FLTATR_CTL_OPTIMIZE` = 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LibseccompMode {
    /// `SCMP_FLTATR_CTL_OPTIMIZE` = 1 (the default).
    Default,
    /// `SCMP_FLTATR_CTL_OPTIMIZE` = 2.
    BinaryTree,
}

/// The rules of `rules` as a libseccomp filter: default action allow, bad arch kills the
/// process (as ours does), each AND group of each rule one or more `seccomp_rule_add`s.
///
/// libseccomp (2.5) refuses two comparisons of the same argument in one rule (`EINVAL`), so
/// "family is neither `AF_INET` nor `AF_INET6`" cannot be one rule. The complement of the
/// allowed values is written as several one-comparison rules instead (below the smallest:
/// `LT`; above the largest: `GT`; each gap between: aligned blocks, `MASKED_EQ`), which is
/// what a libseccomp user has to write (systemd's `RestrictAddressFamilies=` enumerates the
/// same way). The other differences libseccomp's API imposes: it compares every argument on
/// all 64 bits (ours compares `int` arguments on their low 32, as the kernel reads them),
/// and it has no "numbers above the highest known one get ENOSYS" test.
pub fn libseccomp_filter(
    rules: &RuleSet,
    mode: LibseccompMode,
) -> Result<ScmpFilterContext, libseccomp::error::SeccompError> {
    let mut ctx = ScmpFilterContext::new(ScmpAction::Allow)?;
    ctx.set_act_badarch(ScmpAction::KillProcess)?;
    ctx.set_ctl_optimize(match mode {
        LibseccompMode::Default => 1,
        LibseccompMode::BinaryTree => 2,
    })?;
    // Ours is first match: an unconditional-on-one-argument ALLOW (`family == AF_UNIX` for
    // `socket`) shields the later rules of the same call from what it matches. libseccomp
    // has no order and refuses a rule that repeats its default ALLOW, so the twin leaves the
    // ALLOW out and adds `arg != value` to the later rules instead.
    let mut shielded: Vec<(u32, lower::Cond)> = Vec::new();
    for rule in &rules.rules {
        if rule.action == Action::Allow {
            for all in &rule.when {
                let [c] = all.as_slice() else {
                    panic!("an ALLOW rule the twin cannot express: {all:?}");
                };
                assert_eq!(c.op, CmpOp::Eq, "an ALLOW rule the twin cannot express");
                shielded.push((rule.nr, *c));
            }
            continue;
        }
        let when: Vec<Vec<lower::Cond>> = rule
            .when
            .iter()
            .filter_map(|all| {
                let mut all = all.clone();
                for (_, c) in shielded.iter().filter(|(nr, _)| *nr == rule.nr) {
                    let same_arg = |d: &&lower::Cond| d.arg == c.arg && d.op == CmpOp::Eq;
                    match all.iter().find(same_arg) {
                        // Matches only what the ALLOW took: never reached.
                        Some(d) if d.value == c.value => return None,
                        // Another value: the ALLOW cannot match it anyway.
                        Some(_) => {}
                        None => all.push(lower::Cond {
                            op: CmpOp::Ne,
                            ..*c
                        }),
                    }
                }
                Some(all)
            })
            .collect();
        if !rule.when.is_empty() && when.is_empty() {
            continue;
        }
        let action = match rule.action {
            Action::Allow => ScmpAction::Allow,
            Action::Errno(e) => ScmpAction::Errno(i32::from(e)),
            Action::KillProcess => ScmpAction::KillProcess,
            Action::UserNotif => ScmpAction::Notify,
            // A refusal the supervisor reports: libseccomp cannot put data in a USER_NOTIF
            // return, so its twin is the program as installed without reports.
            Action::Report(e) => ScmpAction::Errno(i32::from(e)),
            // ptrace and process_vm_*: ALLOW as installed where Landlock confines them, which
            // is the default action (libseccomp refuses a rule that repeats it).
            Action::WithinSandbox(_) => continue,
        };
        let syscall = ScmpSyscall::from(rule.nr as i32);
        if when.is_empty() {
            ctx.add_rule(action, syscall)?;
            continue;
        }
        for all in &when {
            for conds in one_comparison_per_argument(all) {
                ctx.add_rule_conditional(action, syscall, &conds)?;
            }
        }
    }
    Ok(ctx)
}

/// "`x & mask == value` and `x` none of these" (ioctl's socket requests `0x89xx` but the
/// read-only ones) as one `MASKED_EQ` per request number left, enumerating the bits of the
/// low 16 that the mask leaves free. Ours compares the exceptions on all 32 bits, so a
/// request with one of their low 16 bits and more bits above is refused by ours and let
/// through here: a corner no benchmark calls.
fn masked_except(arg: u32, conds: &[&lower::Cond]) -> Vec<ScmpArgCompare> {
    let [(mask, value)] = conds
        .iter()
        .filter_map(|c| match c.op {
            CmpOp::MaskedEq(mask) => Some((mask, c.value)),
            _ => None,
        })
        .collect::<Vec<_>>()[..]
    else {
        panic!("one masked comparison and != exceptions on one argument, nothing else");
    };
    assert!(conds
        .iter()
        .all(|c| c.op == CmpOp::Ne || c.op == CmpOp::MaskedEq(mask)));
    let free = !mask & 0xffff;
    assert!(
        free.count_ones() <= 8,
        "too many request numbers to enumerate"
    );
    let excluded: Vec<u64> = conds
        .iter()
        .filter(|c| c.op == CmpOp::Ne)
        .map(|c| c.value)
        .collect();
    (0..=0xffffu64)
        .filter(|v| v & !free == value & mask & 0xffff && !excluded.contains(v))
        .map(|v| ScmpArgCompare::new(arg, ScmpCompareOp::MaskedEqual(0xffff), v))
        .collect()
}

/// An AND of conditions as an OR of libseccomp rules that each compare an argument at most
/// once. Supports what the benchmark policy lowers to: per argument either one condition
/// or only `!=` conditions.
fn one_comparison_per_argument(all: &[lower::Cond]) -> Vec<Vec<ScmpArgCompare>> {
    // For each argument, the alternatives (any one of them makes its conditions hold).
    let mut per_arg: Vec<Vec<ScmpArgCompare>> = Vec::new();
    for arg in 0..6u8 {
        let conds: Vec<&lower::Cond> = all.iter().filter(|c| c.arg == arg).collect();
        match conds.as_slice() {
            [] => {}
            [c] => per_arg.push(vec![ScmpArgCompare::new(
                u32::from(arg),
                match c.op {
                    CmpOp::Eq => ScmpCompareOp::Equal,
                    CmpOp::Ne => ScmpCompareOp::NotEqual,
                    CmpOp::MaskedEq(mask) => ScmpCompareOp::MaskedEqual(mask),
                },
                c.value,
            )]),
            many if many.iter().all(|c| c.op == CmpOp::Ne) => {
                let excluded: Vec<u64> = many.iter().map(|c| c.value).collect();
                per_arg.push(not_in(u32::from(arg), &excluded));
            }
            many => per_arg.push(masked_except(u32::from(arg), many)),
        }
    }
    // The cross product: one rule per choice of an alternative for every argument.
    let mut out = vec![Vec::new()];
    for alternatives in per_arg {
        out = out
            .into_iter()
            .flat_map(|rule: Vec<ScmpArgCompare>| {
                alternatives.iter().map(move |a| {
                    let mut r = rule.clone();
                    r.push(*a);
                    r
                })
            })
            .collect();
    }
    out
}

/// "argument `arg` is none of `values`" as one-comparison alternatives.
pub fn not_in(arg: u32, values: &[u64]) -> Vec<ScmpArgCompare> {
    let mut v = values.to_vec();
    v.sort_unstable();
    v.dedup();
    let mut out = Vec::new();
    if v[0] > 0 {
        out.push(ScmpArgCompare::new(arg, ScmpCompareOp::Less, v[0]));
    }
    for pair in v.windows(2) {
        if pair[1] - pair[0] > 1 {
            for (mask, base) in aligned_blocks(pair[0] + 1, pair[1] - 1) {
                let op = if mask == u64::MAX {
                    ScmpCompareOp::Equal
                } else {
                    ScmpCompareOp::MaskedEqual(mask)
                };
                out.push(ScmpArgCompare::new(arg, op, base));
            }
        }
    }
    let last = v[v.len() - 1];
    if last < u64::MAX {
        out.push(ScmpArgCompare::new(arg, ScmpCompareOp::Greater, last));
    }
    out
}

/// `[lo, hi]` as the fewest aligned power-of-two blocks, each `(mask, base)`: `x` is in the
/// block when `x & mask == base`.
pub fn aligned_blocks(mut lo: u64, hi: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    loop {
        // The largest block starting at `lo` (aligned) that ends at or before `hi`.
        let mut size_log = lo.trailing_zeros().min(63);
        while size_log > 0 && lo + ((1u64 << size_log) - 1) > hi {
            size_log -= 1;
        }
        let last = lo + ((1u64 << size_log) - 1);
        out.push((!((1u64 << size_log) - 1), lo));
        if last >= hi {
            return out;
        }
        lo = last + 1;
    }
}

/// The BPF program libseccomp generates for `ctx` (`seccomp_export_bpf` into a memfd).
pub fn export(ctx: &ScmpFilterContext) -> std::io::Result<Vec<Instruction>> {
    // SAFETY: memfd_create with a valid C string; a non-negative return is a new fd we own.
    let fd = unsafe { libc::memfd_create(c"libseccomp-bpf".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new fd that nothing else owns.
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    ctx.export_bpf(&file).map_err(std::io::Error::other)?;
    file.seek(SeekFrom::Start(0))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes
        .chunks_exact(8)
        .map(|b| Instruction {
            code: u16::from_ne_bytes([b[0], b[1]]),
            jt: b[2],
            jf: b[3],
            k: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        })
        .collect())
}

/// `SockFilter`s as the interpreter's instructions.
pub fn instructions(program: &[SockFilter]) -> Vec<Instruction> {
    program
        .iter()
        .map(|i| Instruction {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect()
}

/// A system call as a filter sees it on this architecture.
pub fn call(nr: i64, args: [u64; 6]) -> SeccompData {
    SeccompData {
        nr: nr as i32,
        arch: syscalls::audit_arch(native_arch()),
        instruction_pointer: 0,
        args,
    }
}

/// What the kernel runs for `data` under `program`: `None` when its action cache proves
/// the call allowed and skips the program, else the number of instructions executed and the
/// action returned.
pub fn executed(program: &[Instruction], data: &SeccompData) -> Option<(usize, u32)> {
    if interp::const_allow(program, data.arch, data.nr as u32) {
        return None;
    }
    let outcome = interp::run(program, data).expect("the program runs in the interpreter");
    Some((outcome.executed, outcome.action))
}

/// The calls the syscall rows measure.
pub mod calls {
    /// `AF_PACKET`.
    pub const AF_PACKET: u64 = 17;
    /// `SOCK_RAW`.
    pub const SOCK_RAW: u64 = 3;
    /// `htons(ETH_P_ALL)`.
    pub const ETH_P_ALL_BE: u64 = 0x0300;

    /// `getppid()`.
    pub fn getppid() -> super::SeccompData {
        super::call(libc::SYS_getppid, [0; 6])
    }

    /// `sendto(-1, buf, 1, 0, NULL, 0)`; `buf` is a typical stack address.
    pub fn sendto() -> super::SeccompData {
        super::call(libc::SYS_sendto, [u64::MAX, 0x7ffd_0000_1000, 1, 0, 0, 0])
    }

    /// `socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL))`.
    pub fn socket_packet() -> super::SeccompData {
        super::call(
            libc::SYS_socket,
            [AF_PACKET, SOCK_RAW, ETH_P_ALL_BE, 0, 0, 0],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_denies_socket_and_allows_the_rest_cached() {
        let p = instructions(&floor_program());
        let s = executed(&p, &calls::socket_packet()).unwrap();
        assert_eq!(s, (3, RET_EACCES));
        assert_eq!(executed(&p, &calls::getppid()), None);
        assert_eq!(executed(&p, &calls::sendto()), None);
    }

    #[test]
    fn blocks_cover_exactly() {
        for (lo, hi) in [(3, 9), (2, 0x800), (0x802, 0x8_0000), (5, 5), (0, 7)] {
            let blocks = aligned_blocks(lo, hi);
            for x in 0..0x9_0000u64 {
                let inside = blocks.iter().any(|(m, b)| x & m == *b);
                assert_eq!(
                    inside,
                    (lo..=hi).contains(&x),
                    "{x:#x} in [{lo:#x}, {hi:#x}]"
                );
            }
        }
    }

    #[test]
    fn libseccomp_matches_ours_on_socket() {
        let rules = rule_set(&[443]);
        let policy =
            network_sandbox::compiler::compile(&endpoints(&[443]), Default::default()).unwrap();
        let ours = instructions(&network_sandbox::filter::resolve_reports(policy.filter()));
        let types = [
            0, 1, 2, 3, 5, 0x801, 0x80001, 0x80801, 0x80802, 0x4001, 0x10_0001,
        ];
        for mode in [LibseccompMode::Default, LibseccompMode::BinaryTree] {
            let theirs = export(&libseccomp_filter(&rules, mode).unwrap()).unwrap();
            for family in 0..48 {
                for ty in types {
                    for proto in [0, 1, 6, 7, 17, 262, 0x300] {
                        let d = call(libc::SYS_socket, [family, ty, proto, 0, 0, 0]);
                        assert_eq!(
                            executed(&theirs, &d).unwrap().1,
                            executed(&ours, &d).unwrap().1,
                            "{mode:?} socket({family}, {ty:#x}, {proto})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn libseccomp_agrees_with_ours_on_the_benchmarked_calls() {
        let rules = rule_set(&[443]);
        for mode in [LibseccompMode::Default, LibseccompMode::BinaryTree] {
            let p = export(&libseccomp_filter(&rules, mode).unwrap()).unwrap();
            assert_eq!(executed(&p, &calls::getppid()), None, "{mode:?}");
            assert_eq!(executed(&p, &calls::sendto()).unwrap().1, RET_ALLOW);
            assert_eq!(executed(&p, &calls::socket_packet()).unwrap().1, RET_EACCES);
        }
    }
}
