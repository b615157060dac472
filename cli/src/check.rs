//! `network-sandbox check`: validate the policy and show what each layer would enforce on
//! this kernel, without installing anything.
//!
//! The decision whether `run` would start mirrors the installer's (`core/src/install.rs`):
//! a policy with endpoints needs the supervisor; without it, `fallback` decides. Keep the
//! two in step.

use network_sandbox::compiler;
use network_sandbox::filter::uses_user_notif;
use network_sandbox::probe::Kernel;
use network_sandbox_build::model::{self, Fallback, Mode, Protocol, ReportTo};

use crate::policy::{self, EXIT_USAGE};
use crate::CheckArgs;

/// Above this many TCP ports the installer leaves connect ports to the supervisor
/// (`landlock_layer::MAX_PORT_RULES` in core).
const MAX_PORT_RULES: u32 = 4096;

/// Exit status when `run` would refuse to start.
pub const EXIT_WOULD_REFUSE: i32 = 1;

/// Runs `network-sandbox check`.
pub fn check(args: &CheckArgs) -> i32 {
    let model = match policy::assemble(&args.policy) {
        Ok(p) => p,
        Err(e) => return crate::policy_error(e),
    };
    let compiled = match network_sandbox_build::compile(&model) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("network-sandbox: error: the policy does not compile: {e}");
            return EXIT_USAGE;
        }
    };
    let runtime = match compiler::from_compiled(&compiled) {
        Ok(p) => p,
        Err(e) => {
            println!("run would refuse to start: {e}");
            return EXIT_WOULD_REFUSE;
        }
    };
    let kernel = Kernel::probe();
    let program = runtime.filter();

    print_policy(&model);
    print_kernel(&kernel);

    println!("layers:");
    let notif = uses_user_notif(program);
    let verdict = decide(&model, &kernel, notif);
    println!(
        "  L1 static filter: {} instructions ({}): {}",
        program.len(),
        std::env::consts::ARCH,
        if kernel.seccomp_filter {
            static_filter_refuses(&model)
        } else {
            "unavailable: this kernel has no seccomp filters".into()
        }
    );
    println!("  L2 supervisor: {}", verdict.supervisor);
    println!("  L3 Landlock: {}", landlock(&model, kernel.landlock_abi));

    match verdict.refusal {
        None => {
            println!("run would start");
            0
        }
        Some(why) => {
            println!("run would refuse to start (exit 125): {why}");
            EXIT_WOULD_REFUSE
        }
    }
}

fn print_policy(p: &model::Policy) {
    if p.endpoints.is_empty() {
        println!("policy: no endpoint: no network at all");
    } else {
        println!("policy: {} endpoint(s)", p.endpoints.len());
        for e in &p.endpoints {
            println!("  {}", endpoint(e));
        }
    }
    println!(
        "  mode: {}, fallback: {}, report: {}",
        match p.options.mode {
            Mode::Enforce => "enforce",
            Mode::Audit => "audit (report, do not refuse)",
        },
        fallback_name(p.options.fallback),
        match p.options.report {
            ReportTo::Stderr => "stderr",
            ReportTo::Off => "off",
        }
    );
}

fn endpoint(e: &model::Endpoint) -> String {
    let full = if e.addr.is_ipv4() { 32 } else { 128 };
    let host = match (e.addr, e.prefix == full) {
        (std::net::IpAddr::V4(a), true) => a.to_string(),
        (std::net::IpAddr::V4(a), false) => format!("{a}/{}", e.prefix),
        (std::net::IpAddr::V6(a), true) => format!("[{a}]"),
        (std::net::IpAddr::V6(a), false) => format!("[{a}/{}]", e.prefix),
    };
    let ports = if e.first_port == e.last_port {
        e.first_port.to_string()
    } else {
        format!("{}-{}", e.first_port, e.last_port)
    };
    format!("{}://{host}:{ports}", e.protocol)
}

fn fallback_name(f: Fallback) -> &'static str {
    match f {
        Fallback::Refuse => "refuse",
        Fallback::LandlockPorts => "landlock-ports",
        Fallback::DenyAll => "deny-all",
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn print_kernel(k: &Kernel) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into());
    println!("kernel: Linux {release}");
    println!("  seccomp filters: {}", yes_no(k.seccomp_filter));
    println!("  seccomp user notification: {}", yes_no(k.user_notif));
    println!("  pidfd_getfd: {}", yes_no(k.pidfd_getfd));
    if k.landlock_abi > 0 {
        println!("  Landlock: ABI {}", k.landlock_abi);
    } else {
        println!("  Landlock: no");
    }
    match k.yama_ptrace_scope {
        Some(s) => println!("  Yama ptrace_scope: {s}"),
        None => println!("  Yama ptrace_scope: not present"),
    }
    if let Some(list) = std::env::var_os(network_sandbox::probe::SIMULATE_MISSING_ENV) {
        println!(
            "  (treated as missing: {}, from {})",
            list.to_string_lossy(),
            network_sandbox::probe::SIMULATE_MISSING_ENV
        );
    }
}

fn static_filter_refuses(p: &model::Policy) -> String {
    let udp = p.has_udp();
    let kinds = if udp {
        "sockets other than TCP and UDP over IPv4/IPv6 (no unix, netlink, raw, packet, MPTCP, SCTP)"
    } else {
        "sockets other than TCP over IPv4/IPv6 (no UDP, unix, netlink, raw, packet, MPTCP, SCTP)"
    };
    let connect = if p.endpoints.is_empty() {
        "every connect (no endpoint)"
    } else {
        "nothing by destination (connects go to the supervisor)"
    };
    format!(
        "refuses {kinds}; {connect}; TCP Fast Open; TCP_REPAIR, IP_OPTIONS, IPV6_RTHDR, SCTP \
         options; io_uring (ENOSYS); ptrace, process_vm_readv/writev, pidfd_getfd (EPERM); \
         bind and listen; i386 and x32 system calls (killed)"
    )
}

struct Verdict {
    supervisor: String,
    refusal: Option<String>,
}

fn tcp_port_count(p: &model::Policy) -> u32 {
    p.endpoints
        .iter()
        .filter(|e| e.protocol == Protocol::Tcp)
        .map(|e| u32::from(e.last_port) - u32::from(e.first_port) + 1)
        .sum()
}

/// What the installer would do with the supervisor, and whether it would refuse to start.
fn decide(p: &model::Policy, k: &Kernel, notif: bool) -> Verdict {
    if !k.seccomp_filter {
        return Verdict {
            supervisor: "not started".into(),
            refusal: Some("this kernel lacks seccomp filters (CONFIG_SECCOMP_FILTER)".into()),
        };
    }
    if !notif {
        return Verdict {
            supervisor: "not needed: the policy allows no destination, every connect is \
                         refused by the static filter"
                .into(),
            refusal: None,
        };
    }
    let Some(missing) = k.supervisor_blocker() else {
        let what = match p.options.mode {
            Mode::Enforce => {
                "every connect (and UDP send) checked against the allow list and performed by \
                 the supervisor"
            }
            Mode::Audit => "audit mode: connects outside the allow list are reported, not refused",
        };
        return Verdict {
            supervisor: format!("enforced: {what}"),
            refusal: None,
        };
    };
    match p.options.fallback {
        Fallback::Refuse => Verdict {
            supervisor: format!("unavailable: {missing}"),
            refusal: Some(format!(
                "this kernel lacks {missing}; --fallback landlock-ports (ports only) or \
                 --fallback deny-all (no network) would run anyway"
            )),
        },
        Fallback::LandlockPorts => {
            let ports_ok = k.landlock_abi >= 4
                && p.options.mode == Mode::Enforce
                && !p.has_udp()
                && tcp_port_count(p) <= MAX_PORT_RULES;
            if ports_ok {
                Verdict {
                    supervisor: format!(
                        "unavailable ({missing}); fallback \"landlock-ports\": only TCP ports \
                         are checked, any address on an allowed port is reachable"
                    ),
                    refusal: None,
                }
            } else {
                Verdict {
                    supervisor: format!("unavailable: {missing}"),
                    refusal: Some(format!(
                        "this kernel lacks {missing}, and the \"landlock-ports\" fallback needs \
                         Landlock ABI 4 (Linux 6.7), enforce mode, at most {MAX_PORT_RULES} TCP \
                         ports and no UDP endpoint"
                    )),
                }
            }
        }
        Fallback::DenyAll => Verdict {
            supervisor: format!(
                "unavailable ({missing}); fallback \"deny-all\": every connect is refused"
            ),
            refusal: None,
        },
    }
}

fn landlock(p: &model::Policy, abi: i32) -> String {
    if abi <= 0 {
        return "unavailable on this kernel: no second wall for connect ports, no ptrace \
                scoping"
            .into();
    }
    let mut parts = vec![format!("ABI {abi}")];
    let count = tcp_port_count(p);
    if abi < 4 {
        parts.push(format!(
            "ABI {abi} has no network rules (needs 4, Linux 6.7)"
        ));
    } else if p.options.mode == Mode::Audit {
        parts.push("audit mode: connect ports not restricted".into());
    } else if count > MAX_PORT_RULES {
        parts.push(format!(
            "{count} TCP ports allowed, more than {MAX_PORT_RULES}: connect ports left to the \
             supervisor"
        ));
    } else if count == 0 {
        parts.push("TCP connect refused on every port".into());
    } else {
        let mut ranges: Vec<(u16, u16)> = p
            .endpoints
            .iter()
            .filter(|e| e.protocol == Protocol::Tcp)
            .map(|e| (e.first_port, e.last_port))
            .collect();
        ranges.sort_unstable();
        let list: Vec<String> = ranges
            .iter()
            .map(|&(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect();
        parts.push(format!("TCP connect only to ports {}", list.join(", ")));
    }
    if abi >= 4 {
        parts.push("TCP bind refused".into());
    }
    if abi >= 6 {
        parts.push("abstract unix sockets scoped".into());
    }
    parts.push("no ptrace of processes outside the sandbox".into());
    parts.join("; ")
}
