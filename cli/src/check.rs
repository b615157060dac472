//! `network-sandbox check`: validate the policy and show what each layer would enforce on
//! this kernel, without installing anything.
//!
//! The layers and the verdict come from `Sandbox::preview`, the same probe and decisions
//! `run` makes when it installs, so the two cannot drift apart.

use network_sandbox::compiler;
use network_sandbox::hostnames::{self, Resolution};
use network_sandbox::probe::Kernel;
use network_sandbox_build::model::{self, Mode};

use crate::policy::{self, PolicyArgs};

/// Exit status when `run` would refuse to start.
pub const EXIT_WOULD_REFUSE: i32 = 1;

/// Arguments of `check`.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    policy: PolicyArgs,
}

/// Runs `network-sandbox check`.
pub fn check(args: &CheckArgs) -> i32 {
    let (model, compiled) = match policy::assemble_and_compile(&args.policy) {
        Ok(both) => both,
        Err(code) => return code,
    };
    let runtime = match compiler::from_compiled(&compiled) {
        Ok(p) => p,
        Err(e) => {
            println!("run would refuse to start: {e}");
            return EXIT_WOULD_REFUSE;
        }
    };
    print_policy(&model);
    let unresolved = match hostnames::resolve(&runtime) {
        Ok(r) => {
            print_names(&r);
            None
        }
        Err(failed) => {
            let names: Vec<String> = failed
                .iter()
                .map(|f| format!("{} ({})", f.name, f.why))
                .collect();
            println!("names: {} did not resolve", names.join(", "));
            Some(names)
        }
    };
    if let Some(w) = model.resolver_warning() {
        println!("warning: {w}");
    }
    print_kernel(&Kernel::probe());
    if let Some(names) = unresolved {
        println!("run would refuse to start (exit 125): {} did not resolve; pin it in the policy (NAME=ADDRESS:PORT) or set {}", names.join(", "), model::UNRESOLVED.example);
        return EXIT_WOULD_REFUSE;
    }

    println!("layers:");
    match network_sandbox::Sandbox::new(&runtime).preview() {
        Ok(preview) => {
            for layer in &preview.layers {
                println!("  {layer}");
            }
            println!("run would start");
            0
        }
        Err(why) => {
            println!("  none: run would refuse before installing anything");
            println!("run would refuse to start (exit 125): {why}");
            EXIT_WOULD_REFUSE
        }
    }
}

/// Each allowed name with the addresses it resolved to on this machine (or was pinned to):
/// what `run` would allow and what the program's resolver would answer.
pub fn print_names(resolutions: &[Resolution]) {
    if resolutions.is_empty() {
        return;
    }
    println!("names (the program's resolver answers these, and no other name):");
    for r in resolutions {
        let addrs: Vec<String> = r.addresses.iter().map(|a| a.to_string()).collect();
        let how = if r.pinned {
            "pinned in the policy"
        } else {
            "resolved on this machine now; run resolves again at start"
        };
        match &r.failure {
            Some(why) => println!("  {}: no address ({why}): unknown to the program", r.name),
            None => {
                println!("  {} -> {} ({how})", r.name, addrs.join(", "));
                if let Some(line) = hostnames::left_out_line(r) {
                    println!("  warning: {line}");
                }
            }
        }
    }
    if !resolutions.iter().any(|r| r.name == "localhost") {
        println!("  localhost -> 127.0.0.1, ::1");
    }
}

fn print_policy(p: &model::Policy) {
    if p.no_network() {
        println!("policy: no endpoint: no network at all");
    } else {
        println!(
            "policy: {} endpoint(s)",
            p.endpoints.len() + p.names.len() + p.unix.len()
        );
        for e in &p.endpoints {
            println!("  {e}");
        }
        for n in &p.names {
            println!("  {n}");
        }
        for u in &p.unix {
            println!("  {u}");
        }
    }
    println!(
        "  mode: {}, fallback: {}, report: {}, unresolved: {}, refresh: {}, deny_errno: {}",
        match p.options.mode {
            Mode::Enforce => "enforce",
            Mode::Audit => "audit (report, do not refuse)",
        },
        p.options.fallback.name(),
        p.options.report.name(),
        model::UNRESOLVED.name_in(&p.options),
        model::REFRESH.name_in(&p.options),
        model::DENY_ERRNO.name_in(&p.options),
    );
    if let Some(path) = &p.log {
        let what = if p.options.log_allowed {
            "every decision"
        } else {
            "refusals and audit findings"
        };
        println!("  log: {path} ({what}, one JSON object per line)");
    }
    if let Some(arch) = network_sandbox_build::Arch::ALL
        .into_iter()
        .find(|a| a.target_arch() == std::env::consts::ARCH)
    {
        for line in crate::profile::lines(p, arch) {
            println!("  {line}");
        }
    }
    let kept = model::KEEP_CAPABILITIES.names_in(&p.options);
    if kept.is_empty() {
        println!("  keep_capabilities: none besides the default list");
    } else {
        println!(
            "  keep_capabilities: {} (besides the default list, where held)",
            kept.join(", ")
        );
    }
    // `listen` entries (issue 12): where the program may serve.
    if p.listen.is_empty() {
        // A unix socket the program binds may listen wherever a supervisor checks listen
        // (network_sandbox_build::lower): every fallback but landlock-ports.
        let unix = if p.options.fallback == model::Fallback::LandlockPorts {
            "no unix socket either"
        } else {
            "the program's own unix sockets may bind and listen"
        };
        println!("  listen: none (TCP and UDP bind to port 0 only, no TCP listen; {unix})");
    } else {
        let entries: Vec<String> = p
            .listen
            .iter()
            .map(|e| e.origin.text.trim_start_matches("tcp://").to_owned())
            .collect();
        println!("  listen: {} (TCP)", entries.join(", "));
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
    if k.nested {
        println!("  pidfd_getfd: yes, but refused here: inside another sandbox");
    } else {
        println!("  pidfd_getfd: {}", yes_no(k.pidfd_getfd));
    }
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
