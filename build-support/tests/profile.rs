//! System call profiles (issue 14): every program compiled with a profile is run in the
//! interpreter for every call number on both architectures and compared with a reference
//! model written here: a call the profile refuses gets the profile's refusal, unless the
//! network rules always refuse it (they stay on top); every other call gets exactly what
//! the same policy without a profile gives (the network rules unchanged, checked against
//! their own model in `program.rs`); every call the profile allows and no rule names is a
//! constant allow the kernel caches.

use std::collections::BTreeSet;
use std::net::IpAddr;

use network_sandbox_build::interp::{const_allow, run, SeccompData};
use network_sandbox_build::model::{
    Endpoint, Mode, Options, Origin, Policy, Protocol, SyscallRefusal,
};
use network_sandbox_build::profiles::{Profile, GROUPS, KNOWN};
use network_sandbox_build::syscall_table::CALLS;
use network_sandbox_build::{compile, Arch, Instruction};

const KILL_PROCESS: u32 = 0x8000_0000;
const USER_NOTIF: u32 = 0x7fc0_0000;
const MAX_NR: u32 = 469;

fn native(arch: Arch) -> u32 {
    match arch {
        Arch::X86_64 => 0xC000_003E,
        Arch::Aarch64 => 0xC000_00B7,
    }
}

fn number(arch: Arch, name: &str) -> Option<u32> {
    let c = CALLS.iter().find(|c| c.0 == name)?;
    match arch {
        Arch::X86_64 => c.1,
        Arch::Aarch64 => c.2,
    }
}

/// The calls a list entry stands for, expanded here from the group data.
fn expand(name: &str, out: &mut BTreeSet<&'static str>) {
    if name == KNOWN {
        out.extend(CALLS.iter().map(|c| c.0));
    } else if let Some(g) = GROUPS.iter().find(|g| g.name == name) {
        for m in g.members {
            expand(m, out);
        }
    } else if let Some(c) = CALLS.iter().find(|c| c.0 == name) {
        out.insert(c.0);
    }
}

/// Whether the profile refuses number `nr` on `arch`: with an allow list, every number up
/// to the highest that is not a listed call; then every denied call.
fn profile_refuses(p: &Profile, arch: Arch, nr: u32) -> bool {
    let names = |list: &[String]| {
        let mut out = BTreeSet::new();
        for n in list {
            expand(n, &mut out);
        }
        out.into_iter()
            .filter_map(|c| number(arch, c))
            .collect::<BTreeSet<u32>>()
    };
    let denied = names(&p.deny).contains(&nr);
    let outside = p.allow.as_ref().is_some_and(|a| !names(a).contains(&nr));
    nr <= MAX_NR && (denied || outside)
}

/// The calls the network rules refuse whatever the arguments (docs/ARCHITECTURE.md's L1
/// table): a profile never changes their answer.
fn always_refused_by_the_rules(policy: &Policy, name: &str) -> bool {
    let audit = policy.options.mode == Mode::Audit;
    // Without endpoints, connect is refused whatever the arguments only under the
    // landlock-ports fallback (elsewhere it is the supervisor's check).
    let ports_only =
        policy.options.fallback == network_sandbox_build::model::Fallback::LandlockPorts;
    let no_network = policy.endpoints.is_empty() && !audit && ports_only;
    // ptrace and process_vm_readv/writev are not on the list: their rule is a placeholder
    // the installer settles (allowed under Landlock), so a profile that leaves them out
    // refuses them outright.
    matches!(
        name,
        "pidfd_getfd"
            | "io_uring_setup"
            | "io_uring_enter"
            | "io_uring_register"
            | "bpf"
            | "init_module"
            | "finit_module"
            | "kexec_load"
            | "kexec_file_load"
            | "request_key"
            | "process_madvise"
            | "userfaultfd"
            | "clone3"
            | "setns"
            | "mount"
            | "umount2"
            | "pivot_root"
            | "open_tree"
            | "move_mount"
            | "fsopen"
            | "fsmount"
            | "fspick"
            | "mount_setattr"
    ) || (name == "connect" && no_network)
        // listen is a check wherever a supervisor serves (a unix socket listens); refused
        // whatever the arguments only without `listen` entries where every check may
        // become ALLOW.
        || (name == "listen" && policy.listen.is_empty() && ports_only)
}

fn refusal(policy: &Policy) -> u32 {
    if policy.options.mode == Mode::Audit {
        return USER_NOTIF | 1;
    }
    match policy.options.syscall_refusal {
        SyscallRefusal::Eperm => USER_NOTIF | 1,
        SyscallRefusal::Enosys => USER_NOTIF | 38,
        SyscallRefusal::Kill => KILL_PROCESS,
    }
}

fn endpoint(protocol: Protocol, addr: &str, port: u16) -> Endpoint {
    let addr: IpAddr = addr.parse().unwrap();
    Endpoint {
        protocol,
        addr,
        prefix: if addr.is_ipv4() { 32 } else { 128 },
        first_port: port,
        last_port: port,
        origin: Origin::default(),
    }
}

fn list(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn policies() -> Vec<(&'static str, Policy)> {
    let tcp = vec![endpoint(Protocol::Tcp, "127.0.0.2", 443)];
    let udp = vec![
        endpoint(Protocol::Tcp, "127.0.0.2", 443),
        endpoint(Protocol::Udp, "::1", 53),
    ];
    let with = |endpoints: &Vec<Endpoint>, allow: Option<&[&str]>, deny: &[&str], options| Policy {
        endpoints: endpoints.clone(),
        options,
        syscalls: Profile {
            allow: allow.map(list),
            deny: list(deny),
        },
        ..Policy::default()
    };
    let o = Options::default();
    vec![
        (
            "@system-service, TCP",
            with(&tcp, Some(&["@system-service"]), &[], o),
        ),
        (
            "@system-service without @network-io, UDP",
            with(&udp, Some(&["@system-service"]), &["@network-io"], o),
        ),
        (
            "deny @swap @reboot @clock, no endpoints",
            with(&vec![], None, &["@swap", "@reboot", "@clock"], o),
        ),
        (
            "small allow list, UDP, audit",
            with(
                &udp,
                Some(&["@default", "@basic-io", "@network-io"]),
                &[],
                Options {
                    mode: Mode::Audit,
                    ..o
                },
            ),
        ),
        (
            "@system-service, kill",
            with(
                &tcp,
                Some(&["@system-service"]),
                &[],
                Options {
                    syscall_refusal: SyscallRefusal::Kill,
                    ..o
                },
            ),
        ),
        (
            "@basic-io and a few calls, ENOSYS",
            with(
                &vec![],
                Some(&[
                    "@basic-io",
                    "exit",
                    "exit_group",
                    "rt_sigreturn",
                    "ioctl",
                    "socket",
                ]),
                &[],
                Options {
                    syscall_refusal: SyscallRefusal::Enosys,
                    ..o
                },
            ),
        ),
    ]
}

fn args() -> Vec<[u64; 6]> {
    let high = 0xdead_beef_0000_0000;
    vec![
        [0; 6],
        [u64::MAX; 6],
        [2, 1, 0, 0, 0, 0],
        [2, 2, 17, 0, 1, 16],
        [10, 0x8_0801, 6, 0x2000_0000, 1, 16],
        [1, 5, 0, 0, 0, 0],
        [3, 0x5421, 0, 0, 0, 0],
        [3, 0x8914, 0, 0, 0, 0],
        [0x1000_0000, 0, 0, 0, 0, 0],
        [42, 7, 1, 0, 0, 0],
        [high | 2, high | 1, high, high | 0x2000_0000, high, high],
    ]
}

fn program(policy: &Policy, arch: Arch) -> Vec<Instruction> {
    compile(policy).unwrap().program(arch).instructions.clone()
}

#[test]
fn profiled_programs_agree_with_the_reference_everywhere() {
    for (label, policy) in policies() {
        let plain = Policy {
            syscalls: Profile::default(),
            ..policy.clone()
        };
        for arch in Arch::ALL {
            let prog = program(&policy, arch);
            let base = program(&plain, arch);
            let mut mismatches = Vec::new();
            let mut refused = 0;
            for nr in 0..=MAX_NR + 10 {
                let name = CALLS
                    .iter()
                    .find(|c| number(arch, c.0) == Some(nr))
                    .map(|c| c.0);
                let kept = name.is_some_and(|n| always_refused_by_the_rules(&policy, n));
                // A number the network rules do not look at needs few argument patterns.
                let patterns = if const_allow(&base, native(arch), nr) {
                    2
                } else {
                    11
                };
                for args in args().into_iter().take(patterns) {
                    let d = SeccompData {
                        nr: nr as i32,
                        arch: native(arch),
                        instruction_pointer: 0,
                        args,
                    };
                    let network = run(&base, &d).unwrap().action;
                    let want = if profile_refuses(&policy.syscalls, arch, nr) && !kept {
                        refused += 1;
                        refusal(&policy)
                    } else {
                        network
                    };
                    let got = run(&prog, &d).unwrap().action;
                    if got != want {
                        mismatches.push(format!(
                            "nr {nr} ({name:?}) {args:x?}: {got:#x}, want {want:#x}"
                        ));
                    }
                }
            }
            assert!(refused > 0, "{label}: the profile refuses something");
            assert!(
                mismatches.is_empty(),
                "{label} on {arch}: {} disagreements:\n{}",
                mismatches.len(),
                mismatches[..mismatches.len().min(8)].join("\n")
            );
            // Other ABIs and x32 still die.
            let i386 = SeccompData {
                nr: 0,
                arch: 0x4000_0003,
                ..SeccompData::default()
            };
            assert_eq!(run(&prog, &i386).unwrap().action, KILL_PROCESS);
        }
    }
}

#[test]
fn allowed_calls_stay_cacheable_and_refused_ones_are_not() {
    for (label, policy) in policies() {
        let plain = Policy {
            syscalls: Profile::default(),
            ..policy.clone()
        };
        for arch in Arch::ALL {
            let prog = program(&policy, arch);
            let base = program(&plain, arch);
            let audit = native(arch);
            let mut cached = 0;
            for nr in 0..=MAX_NR {
                let refused = profile_refuses(&policy.syscalls, arch, nr);
                let was = const_allow(&base, audit, nr);
                let is = const_allow(&prog, audit, nr);
                assert_eq!(is, was && !refused, "{label} {arch}: nr {nr}");
                cached += usize::from(is);
            }
            assert!(cached > 0, "{label} {arch}");
        }
    }
}

#[test]
fn profiles_stay_small_and_fast() {
    for (label, policy) in policies() {
        for arch in Arch::ALL {
            let prog = program(&policy, arch);
            assert!(
                prog.len() < 1024,
                "{label} {arch}: {} instructions",
                prog.len()
            );
            // getppid (x86_64 110, aarch64 173) is allowed by every allow list here but
            // one; when the program runs at all (no action cache), it runs few instructions.
            let nr = number(arch, "getppid").unwrap();
            let d = SeccompData {
                nr: nr as i32,
                arch: native(arch),
                ..SeccompData::default()
            };
            let out = run(&prog, &d).unwrap();
            assert!(
                out.executed < 80,
                "{label} {arch}: {} instructions",
                out.executed
            );
        }
    }
}
