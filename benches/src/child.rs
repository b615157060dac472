//! What a child process does: install one configuration, measure, print `KEY VALUE` lines
//! on stdout, exit. A filter cannot be taken off a process, so each configuration lives in
//! a process of its own.

use std::hint::black_box;
use std::net::{SocketAddr, SocketAddrV4};
use std::time::Instant;

use crate::filters::{self, calls, LibseccompMode};
use crate::net;
use crate::reference;
use crate::stats;

/// The filter configurations of the system-call rows.
/// `profiled` is `policy` with the system call profile `syscalls = ["@system-service"]`
/// (issue 14).
pub const SYSCALL_CONFIGS: [&str; 6] = [
    "none",
    "floor",
    "policy",
    "profiled",
    "lsc-default",
    "lsc-tree",
];

fn die(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("bench child: {what}: {e}");
    std::process::exit(3)
}

/// Runs the child named by `args` (`MODE ARGS…`, after `--child`). Never returns.
pub fn main(args: &[String]) -> ! {
    let arg = |i: usize| -> &str { args.get(i).map_or("", String::as_str) };
    let num = |i: usize| -> u64 {
        arg(i)
            .parse()
            .unwrap_or_else(|_| die("bad argument", arg(i)))
    };
    let ports = |s: &str| -> Vec<u16> { s.split(',').filter_map(|p| p.parse().ok()).collect() };
    match arg(0) {
        "syscalls" => syscalls(arg(1), &ports(arg(2)), num(3) as usize),
        "connect" => {
            // connect CONFIG PORTS N [CPU]: with CPU, this process and everything it starts
            // (the supervisor) run on that CPU only.
            if !arg(4).is_empty() {
                let cpu = num(4) as usize;
                crate::cpu::pin_to(cpu).unwrap_or_else(|e| die("pinning to a CPU", e));
            }
            let port = ports(arg(2))[0];
            match arg(1) {
                "plain" => {}
                // "sandboxed": the configuration's earlier name.
                "project" | "sandboxed" => sandbox(&ports(arg(2))),
                other => {
                    let variant = reference::Variant::from_config(other)
                        .unwrap_or_else(|| die("unknown connect configuration", other));
                    let pid = reference::install(variant, SocketAddrV4::new(net::SERVER_IP, port))
                        .unwrap_or_else(|e| die("installing the reference supervisor", e));
                    println!("supervisor {pid}");
                    if !variant.continue_at_once {
                        // The reference checks the address: a port it does not allow is
                        // refused (ECONNREFUSED would mean the connect went through).
                        let other = SocketAddrV4::new(net::SERVER_IP, 1);
                        let errno = std::net::TcpStream::connect(other)
                            .err()
                            .and_then(|e| e.raw_os_error());
                        if errno != Some(libc::EACCES) {
                            die("the reference let through", format!("{other} ({errno:?})"));
                        }
                    }
                }
            }
            let v =
                net::connect_latencies(port, num(3) as usize).unwrap_or_else(|e| die("connect", e));
            println!("median {}", stats::median(&v));
            println!("p99 {}", stats::quantile(&v, 0.99));
            // For --diag: the tail further out, and how many connects took over 100 µs.
            println!("p999 {}", stats::quantile(&v, 0.999));
            println!("over100us {}", v.iter().filter(|&&ns| ns > 100e3).count());
        }
        "bulk" => {
            let allowed = ports(arg(2));
            if arg(1) == "sandboxed" {
                sandbox(&allowed);
            }
            if arg(1) == "floor" {
                install_raw(&[network_sandbox::SockFilter::new(0x06, 0, 0, 0x7fff_0000)]);
            }
            let (ip, port) = match arg(1) {
                "relay" => (net::RELAY_IP, num(4) as u16),
                _ => (net::SERVER_IP, allowed[1]),
            };
            let addr = SocketAddr::V4(SocketAddrV4::new(ip, port));
            let rate = net::bulk_send(addr, num(3)).unwrap_or_else(|e| die("bulk", e));
            println!("rate {rate}");
        }
        "install" => {
            let policy = compile(&ports(arg(1)));
            let t0 = Instant::now();
            let enforcement =
                network_sandbox::install(&policy).unwrap_or_else(|e| die("install", e));
            let dt = t0.elapsed();
            println!("install {}", dt.as_nanos());
            supervisor_line(&enforcement);
        }
        "relay" => net::relay_main(num(1) as u16),
        other => die("unknown mode", other),
    }
    std::process::exit(0)
}

/// The benchmark policy, with `report = "off"`: the static filter's refusals are then
/// answered in the kernel (`REPORT` resolved to `ERRNO`), so row 2b measures the filter, as
/// the libseccomp twin does; with reports on, a refused call costs a supervisor round trip
/// by design (issue 13). Allowed calls run the same program either way.
fn compile(ports: &[u16]) -> network_sandbox::Policy {
    let options = network_sandbox::Options {
        report: network_sandbox::ReportTo::Off,
        ..Default::default()
    };
    network_sandbox::compiler::compile(&filters::endpoints(ports), options)
        .unwrap_or_else(|e| die("compiling the policy", e))
}

/// The benchmark policy with the system call profile `syscalls = ["@system-service"]`
/// (issue 14), `report = "off"` as in the policy without one.
pub fn compile_profiled(ports: &[u16]) -> network_sandbox::Policy {
    use network_sandbox::compiler::build;
    let options = build::model::Options {
        report: build::model::ReportTo::Off,
        ..Default::default()
    };
    let mut policy = build::valid::policy_from_strs(&filters::endpoints(ports), options)
        .unwrap_or_else(|e| die("the benchmark policy", format!("{e:?}")));
    policy.syscalls.allow = Some(vec!["@system-service".to_owned()]);
    let compiled = build::compile(&policy).unwrap_or_else(|e| die("compiling the policy", e));
    network_sandbox::compiler::from_compiled(&compiled)
        .unwrap_or_else(|e| die("compiling the policy", e))
}

fn supervisor_line(e: &network_sandbox::Enforcement) {
    if let Some(pid) = e.supervisor_pid {
        println!("supervisor {pid}");
    }
}

/// Installs the benchmark policy with every layer (filter, supervisor, Landlock); with
/// `NSB_NO_SUPERVISOR=1` (diagnostics) the same filter and Landlock without the supervisor
/// (connect allowed by the filter, ports checked by Landlock), to tell the supervisor's
/// share of a cost from the filter's.
fn sandbox(ports: &[u16]) {
    let policy = if std::env::var_os("NSB_NO_SUPERVISOR").is_some_and(|v| v == "1") {
        let options = network_sandbox::Options {
            fallback: network_sandbox::Fallback::LandlockPorts,
            ..Default::default()
        };
        // The core's test hook: pretend the kernel lacks user notification.
        std::env::set_var(network_sandbox::probe::SIMULATE_MISSING_ENV, "user-notif");
        network_sandbox::compiler::compile(&filters::endpoints(ports), options)
            .unwrap_or_else(|e| die("compiling the policy", e))
    } else {
        compile(ports)
    };
    let enforcement = network_sandbox::install(&policy).unwrap_or_else(|e| die("install", e));
    supervisor_line(&enforcement);
}

/// Installs `program` with no_new_privs and no listener.
fn install_raw(program: &[network_sandbox::SockFilter]) {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        die("no_new_privs", std::io::Error::last_os_error());
    }
    let prog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at `len` instructions laid out as `struct sock_filter`
    // (`SockFilter` is `repr(C)` with the kernel's fields); the kernel only reads them.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &prog as *const libc::sock_fprog,
        )
    };
    if ret != 0 {
        die("seccomp", std::io::Error::last_os_error());
    }
}

/// Nanoseconds per call of `f`: the fastest of `batches` batches of `calls` calls, after
/// one batch of warm-up. Interference from other processes only adds time, so on a shared
/// machine the fastest batch is the stablest estimate of what the call itself costs.
fn per_call(mut f: impl FnMut(), calls: usize, batches: usize) -> f64 {
    for _ in 0..calls {
        f();
    }
    let mut fastest = f64::INFINITY;
    for _ in 0..batches {
        let t0 = Instant::now();
        for _ in 0..calls {
            f();
        }
        fastest = fastest.min(t0.elapsed().as_nanos() as f64 / calls as f64);
    }
    fastest
}

fn syscalls(config: &str, ports: &[u16], calls_per_batch: usize) {
    match config {
        "none" => {}
        "floor" => install_raw(&filters::floor_program()),
        "policy" => sandbox(ports),
        "profiled" => {
            let policy = compile_profiled(ports);
            let enforcement =
                network_sandbox::install(&policy).unwrap_or_else(|e| die("install", e));
            supervisor_line(&enforcement);
        }
        "lsc-default" | "lsc-tree" => {
            let mode = if config == "lsc-tree" {
                LibseccompMode::BinaryTree
            } else {
                LibseccompMode::Default
            };
            filters::libseccomp_filter(&filters::rule_set(ports), mode)
                .and_then(|ctx| ctx.load())
                .unwrap_or_else(|e| die("libseccomp", e));
        }
        other => die("unknown filter configuration", other),
    }
    let batches = 30;
    let getppid = per_call(
        || {
            // SAFETY: getppid takes no arguments and has no preconditions.
            black_box(unsafe { libc::syscall(libc::SYS_getppid) });
        },
        calls_per_batch,
        batches,
    );
    println!("getppid {getppid}");

    let buf = [0u8; 1];
    let sendto = || {
        // SAFETY: sendto on fd -1 fails with EBADF; `buf` is valid for 1 byte.
        unsafe {
            libc::syscall(
                libc::SYS_sendto,
                black_box(-1),
                buf.as_ptr(),
                1usize,
                0,
                std::ptr::null::<libc::sockaddr>(),
                0,
            )
        }
    };
    check_errno("sendto", sendto(), libc::EBADF);
    let sendto_ns = per_call(
        || {
            black_box(sendto());
        },
        calls_per_batch,
        batches,
    );
    println!("sendto {sendto_ns}");

    if config != "none" {
        let socket = || {
            // SAFETY: socket with integer arguments; every filter here denies this call.
            unsafe {
                libc::syscall(
                    libc::SYS_socket,
                    black_box(calls::AF_PACKET),
                    calls::SOCK_RAW,
                    calls::ETH_P_ALL_BE,
                )
            }
        };
        check_errno("socket(AF_PACKET)", socket(), libc::EACCES);
        let socket_ns = per_call(
            || {
                black_box(socket());
            },
            calls_per_batch,
            batches,
        );
        println!("socket {socket_ns}");
    }
}

/// Stops the child if a measured call does not fail as expected (the filter is not the one
/// meant).
fn check_errno(what: &str, ret: libc::c_long, errno: i32) {
    let got = std::io::Error::last_os_error().raw_os_error();
    if ret != -1 || got != Some(errno) {
        die(
            what,
            format!("returned {ret} (errno {got:?}), expected errno {errno}"),
        );
    }
}
