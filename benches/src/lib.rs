//! Benchmarks of network-sandbox against the floor and against the alternatives.
//!
//! The bench target `sandbox` (`cargo bench -p network-sandbox-benches`, or
//! `scripts/bench.sh [--quick]`) calls [`main`]. A filter cannot be taken off a process, so
//! the harness runs every configuration in a child process of its own (the same binary,
//! re-executed with `--child MODE …`, see [`child`]), interleaves the configurations round
//! by round, and reports for each row the median over the rounds and the spread (smallest
//! and largest) of the per-round ratio. Rows and what they mean: `BENCHMARKS.md`.
//!
//! Every server is a thread of the harness on 127.0.0.2; the relay is a child process on
//! 127.0.0.4; every child, relay and supervisor is stopped before the harness exits.

#![deny(missing_docs)]

pub mod buildcost;
pub mod child;
pub mod cpu;
pub mod filters;
pub mod net;
pub mod reference;
pub mod stats;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::filters::{calls, LibseccompMode};

/// How much to measure.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Quick mode (CI): fewer rounds, less data, no clean build.
    pub quick: bool,
    /// Rounds of the system-call rows (one child per configuration per round).
    pub syscall_rounds: usize,
    /// Calls per timed batch in a system-call child (30 batches, the fastest counts).
    pub calls_per_batch: usize,
    /// Rounds of the connect rows (each placement: as deployed, pinned).
    pub connect_rounds: usize,
    /// Connects per child per round.
    pub connects: usize,
    /// Rounds of the bulk row.
    pub bulk_rounds: usize,
    /// Bytes sent per bulk transfer.
    pub bulk_bytes: u64,
    /// Installs measured (one child each).
    pub installs: usize,
    /// Clean builds of the build-cost row.
    pub clean_build: bool,
    /// Incremental builds per variant.
    pub incremental_builds: usize,
}

impl Settings {
    /// The full run, or the quick one.
    pub fn new(quick: bool) -> Settings {
        if quick {
            Settings {
                quick,
                syscall_rounds: 5,
                calls_per_batch: 2_000,
                connect_rounds: 5,
                connects: 1_000,
                bulk_rounds: 3,
                bulk_bytes: 128 << 20,
                installs: 9,
                clean_build: false,
                incremental_builds: 2,
            }
        } else {
            Settings {
                quick,
                syscall_rounds: 11,
                calls_per_batch: 10_000,
                connect_rounds: 21,
                connects: 2_000,
                bulk_rounds: 5,
                bulk_bytes: 1 << 30,
                installs: 31,
                clean_build: true,
                incremental_builds: 5,
            }
        }
    }
}

/// Prints a progress line on stderr.
pub fn progress(what: &str) {
    eprintln!("bench: {what}");
}

/// The bench target's entry point: a child when called with `--child`, else the harness.
pub fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child::main(&args[i + 1..]);
    }
    let quick = args.iter().any(|a| a == "--quick")
        || std::env::var_os("NSB_QUICK").is_some_and(|v| v == "1");
    let settings = Settings::new(quick);
    if let Some(i) = args.iter().position(|a| a == "--diag") {
        diagnose(&args[i + 1..]);
        return;
    }
    let t0 = Instant::now();
    let table = run(&settings);
    println!("{}", machine());
    println!();
    print!("{table}");
    println!();
    println!(
        "mode: {}; total {:.0} s",
        if quick { "quick" } else { "full" },
        t0.elapsed().as_secs_f64()
    );
}

/// `--diag connect|connect-pinned|bulk|syscalls ROUNDS CONFIG…`: the medians of one row for
/// any of its configurations, and each configuration against the first (median and spread
/// of the per-round ratios, median of the per-round differences). Connect: `plain`,
/// `project`, or a reference supervisor ([`reference::Variant::from_config`]); `connect-pinned` runs
/// every process on one CPU ([`cpu::for_pinned_rows`]). Bulk: `plain`, `sandboxed`,
/// `floor` (an allow-all filter), `relay`. System calls: the configurations of
/// [`child::SYSCALL_CONFIGS`] (`policy profiled` for rows 1p/2p). With `NSB_NO_SUPERVISOR=1`, `project` and
/// `sandboxed` mean the same filter and Landlock without the supervisor. For investigating
/// a missed target; not part of the table.
fn diagnose(args: &[String]) {
    let what = args.first().map_or("", String::as_str);
    let pin = (what == "connect-pinned").then(cpu::for_pinned_rows);
    let connect_port = net::spawn_accept_server_on(pin).expect("loopback accept server");
    let sink_port = net::spawn_sink_server().expect("loopback sink server");
    let ports = format!("{connect_port},{sink_port}");
    let rounds: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(5);
    let configs: Vec<&str> = args.iter().skip(2).map(String::as_str).collect();
    let relay = Relay::start(sink_port);
    let series = interleave(rounds, &configs, |c| match what {
        "connect" | "connect-pinned" => connect_args(c, &ports, 2000, pin),
        "syscalls" => vec!["syscalls".into(), c.into(), ports.clone(), "100000".into()],
        _ => vec![
            "bulk".into(),
            c.into(),
            ports.clone(),
            (1u64 << 30).to_string(),
            relay.port.to_string(),
        ],
    });
    let mut keys: Vec<_> = series
        .keys()
        .filter(|k| !k.ends_with("/supervisor"))
        .collect();
    keys.sort();
    for k in &keys {
        let v = &series[*k];
        let (lo, hi) = stats::min_max(v);
        println!(
            "{k}: median {:.4e} min {lo:.4e} max {hi:.4e}",
            stats::median(v)
        );
    }
    let Some(first) = configs.first() else {
        return;
    };
    for k in &keys {
        let (config, stat) = k.split_once('/').expect("config/key");
        if config == *first {
            continue;
        }
        if let Some(base) = series.get(&format!("{first}/{stat}")) {
            let name = format!("{config}/{first}");
            // Times (ns) get their difference in µs; rates and counts only the ratio.
            let (cell, _) = if what == "bulk" || !matches!(stat, "median" | "p99" | "p999") {
                ratio_cell(&name, &stats::ratios(&series[*k], base))
            } else {
                overhead_cell(&name, &series[*k], base)
            };
            println!("{stat}: {cell}");
        }
    }
}

/// One configuration's child, with the values it printed.
fn run_child(args: &[String]) -> HashMap<String, f64> {
    let exe = std::env::current_exe().expect("the harness knows its own path");
    let out = Command::new(exe)
        .arg("--child")
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("starting a child");
    let text = String::from_utf8_lossy(&out.stdout);
    let values: HashMap<String, f64> = text
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_owned(), v.trim().parse().ok()?))
        })
        .collect();
    if let Some(&pid) = values.get("supervisor") {
        wait_gone(pid as libc::pid_t);
    }
    if !out.status.success() {
        panic!("child {args:?} failed with {}", out.status);
    }
    values
}

/// Waits (up to 5 s) until the supervisor `pid` has exited, which it does once its
/// sandboxed process has; kills it past that.
fn wait_gone(pid: libc::pid_t) {
    let alive = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                let state = s.rsplit_once(')')?.1.trim_start().chars().next()?;
                Some(state != 'Z' && state != 'X')
            })
            .unwrap_or(false)
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive() {
        if Instant::now() > deadline {
            progress(&format!("supervisor {pid} still running: killing it"));
            // SAFETY: kill with integer arguments, on the supervisor our child started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The relay process, killed and reaped when dropped.
struct Relay {
    child: Child,
    port: u16,
}

impl Relay {
    fn start(target: u16) -> Relay {
        let exe = std::env::current_exe().expect("the harness knows its own path");
        let mut child = Command::new(exe)
            .args(["--child", "relay", &target.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting the relay");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the relay's port");
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .expect("the relay prints its port");
        Relay { child, port }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Per-configuration series, one value per round.
type Series = HashMap<String, Vec<f64>>;

/// Runs `configs` for `rounds` rounds, rotating which goes first; `args(config)` gives the
/// child's arguments; every key a child prints is collected under `config/key`.
fn interleave(rounds: usize, configs: &[&str], args: impl Fn(&str) -> Vec<String>) -> Series {
    let mut series = Series::new();
    for round in 0..rounds {
        for i in 0..configs.len() {
            let config = configs[(i + round) % configs.len()];
            for (k, v) in run_child(&args(config)) {
                series.entry(format!("{config}/{k}")).or_default().push(v);
            }
        }
    }
    series
}

/// One line of the table.
struct Row {
    id: &'static str,
    measure: String,
    values: String,
    ratio: String,
    target: String,
    verdict: String,
}

/// `median (lo–hi)` of per-round ratios.
fn ratio_cell(name: &str, r: &[f64]) -> (String, f64) {
    let m = stats::median(r);
    let (lo, hi) = stats::min_max(r);
    (format!("{name} {m:.2} ({lo:.2}–{hi:.2})"), m)
}

/// `ratio_cell` of `a/b`, followed by the median of the per-round differences `a − b`
/// (nanoseconds, shown in µs).
fn overhead_cell(name: &str, a: &[f64], b: &[f64]) -> (String, f64) {
    let (cell, m) = ratio_cell(name, &stats::ratios(a, b));
    let d = stats::median(&stats::differences(a, b)) / 1e3;
    (format!("{cell} {d:+.1} µs"), m)
}

/// The configurations of the connect rows, in the order of the values cell.
const CONNECT_CONFIGS: [&str; 4] = ["plain", "reference", "reference+getsockopt", "project"];

/// A connect child's arguments: `connect CONFIG PORTS N [CPU]` (`ports`: the accept
/// server's port first, then the sink's, which the project's policy also allows).
fn connect_args(config: &str, ports: &str, connects: usize, pin: Option<usize>) -> Vec<String> {
    let mut a = vec![
        "connect".into(),
        config.into(),
        ports.into(),
        connects.to_string(),
    ];
    a.extend(pin.map(|c| c.to_string()));
    a
}

/// One connect row: the `stat` (median or p99 of each child's connects) of every
/// configuration, and the project against the reference, against plain, and what the
/// project's `getsockopt`s add to the reference.
fn connect_row(
    id: &'static str,
    stat: &str,
    placement: &str,
    s: &Settings,
    con: &Series,
    deployed: bool,
) -> Row {
    let v = |c: &str| get(con, &format!("{c}/{stat}"));
    let (plain, reference, sockopts, project) = (
        v("plain"),
        v("reference"),
        v("reference+getsockopt"),
        v("project"),
    );
    let (vs_ref, m_ref) = overhead_cell("project/reference", project, reference);
    let (vs_plain, m_plain) = overhead_cell("project/plain", project, plain);
    let (so, _) = overhead_cell("+getsockopt/reference", sockopts, reference);
    let values = CONNECT_CONFIGS
        .iter()
        .map(|c| format!("{c} {:.1}", stats::median(v(c)) / 1e3))
        .collect::<Vec<_>>()
        .join(" · ");
    // The targets: the project within 5 % of the reference; as deployed, also the earlier
    // target against plain.
    let (target, result) = match (stat, deployed) {
        ("median", true) => (
            "≤ 1.05 · ≤ 1.80".to_owned(),
            format!("{} · {}", verdict(m_ref <= 1.05), verdict(m_plain <= 1.8)),
        ),
        ("median", false) => ("≤ 1.05".to_owned(), verdict(m_ref <= 1.05)),
        _ => ("—".to_owned(), "info".to_owned()),
    };
    Row {
        id,
        measure: format!(
            "connect() µs, {stat} of {} × {} rounds, {placement}",
            s.connects, s.connect_rounds
        ),
        values,
        ratio: format!("{vs_ref}; {vs_plain}; {so}"),
        target,
        verdict: result,
    }
}

fn verdict(met: bool) -> String {
    if met { "met" } else { "MISSED" }.to_owned()
}

fn get<'a>(s: &'a Series, key: &str) -> &'a [f64] {
    s.get(key)
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("no values for {key}"))
}

/// Instructions the kernel runs for `data` under `program`, as a table cell.
fn insns(program: &[network_sandbox_build::Instruction], data: &filters::SeccompData) -> String {
    match filters::executed(program, data) {
        None => "cached".to_owned(),
        Some((n, _)) => format!("{n} insns"),
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ is in the workspace")
        .to_path_buf()
}

/// Runs every row and returns the table.
pub fn run(s: &Settings) -> String {
    let connect_port = net::spawn_accept_server().expect("loopback accept server");
    let sink_port = net::spawn_sink_server().expect("loopback sink server");
    let ports = format!("{connect_port},{sink_port}");
    let port_list = [connect_port, sink_port];
    let mut rows = Vec::new();

    // Programs, for the instruction counts.
    let ours = filters::instructions(
        network_sandbox::compiler::compile(&filters::endpoints(&port_list), Default::default())
            .expect("benchmark policy")
            .filter(),
    );
    let profiled = filters::instructions(child::compile_profiled(&port_list).filter());
    let floor = filters::instructions(&filters::floor_program());
    let rules = filters::rule_set(&port_list);
    let lsc = |mode| {
        filters::export(&filters::libseccomp_filter(&rules, mode).expect("libseccomp filter"))
            .expect("exporting libseccomp's BPF")
    };
    let (lsc_default, lsc_tree) = (
        lsc(LibseccompMode::Default),
        lsc(LibseccompMode::BinaryTree),
    );

    // Rows 1 and 2: system calls.
    progress("system calls (getppid, sendto, socket) under 6 filter configurations");
    let sys = interleave(s.syscall_rounds, &child::SYSCALL_CONFIGS, |c| {
        vec![
            "syscalls".into(),
            c.into(),
            ports.clone(),
            s.calls_per_batch.to_string(),
        ]
    });
    let med = |k: &str| stats::median(get(&sys, k));
    let (cell, m) = ratio_cell(
        "policy/allow-all",
        &stats::ratios(get(&sys, "policy/getppid"), get(&sys, "floor/getppid")),
    );
    rows.push(Row {
        id: "1",
        measure: "getppid() ns".into(),
        values: format!(
            "none {:.0} · allow-all {:.0} [{}] · policy {:.0} [{}]",
            med("none/getppid"),
            med("floor/getppid"),
            insns(&floor, &calls::getppid()),
            med("policy/getppid"),
            insns(&ours, &calls::getppid()),
        ),
        ratio: cell,
        target: "≤ 1.05".into(),
        verdict: verdict(m <= 1.05),
    });
    // Rows 1p and 2p: the same calls under the policy with the system call profile
    // `@system-service` (issue 14), beside the policy without one.
    for (id, call, label, data) in [
        (
            "1p",
            "getppid",
            "getppid() ns, profile @system-service",
            calls::getppid(),
        ),
        (
            "2p",
            "sendto",
            "sendto(-1, buf, 1, 0, NULL, 0) ns, profile @system-service",
            calls::sendto(),
        ),
    ] {
        let k = |c: &str| format!("{c}/{call}");
        let (cell, m) = ratio_cell(
            "profiled/policy",
            &stats::ratios(get(&sys, &k("profiled")), get(&sys, &k("policy"))),
        );
        rows.push(Row {
            id,
            measure: label.into(),
            values: format!(
                "policy {:.0} [{}] · profiled {:.0} [{}]",
                med(&k("policy")),
                insns(&ours, &data),
                med(&k("profiled")),
                insns(&profiled, &data),
            ),
            ratio: cell,
            target: "≤ 1.05".into(),
            verdict: verdict(m <= 1.05),
        });
    }
    for (id, call, label, floor_label, data) in [
        (
            "2a",
            "sendto",
            "sendto(-1, buf, 1, 0, NULL, 0) ns (EBADF)",
            "allow-all",
            calls::sendto(),
        ),
        (
            "2b",
            "socket",
            "socket(AF_PACKET, SOCK_RAW) ns (EACCES)",
            "floor",
            calls::socket_packet(),
        ),
    ] {
        let k = |c: &str| format!("{c}/{call}");
        let best = stats::pairwise_min(get(&sys, &k("lsc-default")), get(&sys, &k("lsc-tree")));
        let (cell, m) = ratio_cell(
            "policy/best libseccomp",
            &stats::ratios(get(&sys, &k("policy")), &best),
        );
        let none = if call == "sendto" {
            format!("none {:.0} · ", med(&k("none")))
        } else {
            String::new()
        };
        rows.push(Row {
            id,
            measure: label.into(),
            values: format!(
                "{none}{floor_label} {:.0} [{}] · policy {:.0} [{}] · libseccomp {:.0} [{}] · libseccomp tree {:.0} [{}]",
                med(&k("floor")),
                insns(&floor, &data),
                med(&k("policy")),
                insns(&ours, &data),
                med(&k("lsc-default")),
                insns(&lsc_default, &data),
                med(&k("lsc-tree")),
                insns(&lsc_tree, &data),
            ),
            ratio: cell,
            target: "≤ 1.00".into(),
            verdict: verdict(m <= 1.0),
        });
    }

    // Row 3: connect latency, plain and under the reference and the project's supervisor,
    // side by side; as deployed, then with every process on one CPU.
    let pin_cpu = cpu::for_pinned_rows();
    let pinned_port = net::spawn_accept_server_on(Some(pin_cpu)).expect("pinned accept server");
    for (ids, placement, port, pin) in [
        (["3a", "3b"], "as deployed".to_owned(), connect_port, None),
        (
            ["3c", "3d"],
            format!("pinned to CPU {pin_cpu}"),
            pinned_port,
            Some(pin_cpu),
        ),
    ] {
        progress(&format!(
            "connect latency {placement}: {}",
            CONNECT_CONFIGS.join(", ")
        ));
        let ports = format!("{port},{sink_port}");
        let con = interleave(s.connect_rounds, &CONNECT_CONFIGS, |c| {
            connect_args(c, &ports, s.connects, pin)
        });
        for (id, stat) in ids.into_iter().zip(["median", "p99"]) {
            rows.push(connect_row(id, stat, &placement, s, &con, pin.is_none()));
        }
    }

    // Row 4: bulk transfer.
    progress("bulk transfer: plain, sandboxed, through the relay");
    let relay = Relay::start(sink_port);
    let bulk = interleave(s.bulk_rounds, &["plain", "sandboxed", "relay"], |c| {
        vec![
            "bulk".into(),
            c.into(),
            ports.clone(),
            s.bulk_bytes.to_string(),
            relay.port.to_string(),
        ]
    });
    drop(relay);
    let gib = |c: &str| stats::median(get(&bulk, &format!("{c}/rate"))) / f64::from(1u32 << 30);
    let (cell, m) = ratio_cell(
        "sandboxed/plain",
        &stats::ratios(get(&bulk, "sandboxed/rate"), get(&bulk, "plain/rate")),
    );
    let (relay_cell, _) = ratio_cell(
        "relay/plain",
        &stats::ratios(get(&bulk, "relay/rate"), get(&bulk, "plain/rate")),
    );
    rows.push(Row {
        id: "4",
        measure: format!(
            "bulk send GiB/s, {} MiB × {} rounds{}",
            s.bulk_bytes >> 20,
            s.bulk_rounds,
            if s.quick { " (quick: < 1 GiB)" } else { "" }
        ),
        values: format!(
            "plain {:.2} · sandboxed {:.2} · relay {:.2}",
            gib("plain"),
            gib("sandboxed"),
            gib("relay")
        ),
        ratio: format!("{cell}; {relay_cell}"),
        target: "≥ 0.98".into(),
        verdict: verdict(m >= 0.98),
    });

    // Row 5: install time.
    progress("install time");
    let mut installs = Vec::new();
    for _ in 0..s.installs {
        installs.push(run_child(&["install".into(), ports.clone()])["install"] / 1e6);
    }
    let m = stats::median(&installs);
    let (lo, hi) = stats::min_max(&installs);
    rows.push(Row {
        id: "5",
        measure: format!(
            "install ms (filter + Landlock + supervisor), {} runs",
            s.installs
        ),
        values: format!(
            "median {m:.2} · p90 {:.2} · min {lo:.2} · max {hi:.2}",
            stats::quantile(&installs, 0.9)
        ),
        ratio: "—".into(),
        target: "≤ 2 ms".into(),
        verdict: verdict(m <= 2.0),
    });

    // Row 6: build cost.
    progress("build cost (cargo build of a generated crate, dev profile)");
    let warm = std::env::var_os("NSB_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    match buildcost::measure(
        &workspace_root(),
        s.clean_build,
        &warm,
        s.incremental_builds,
    ) {
        Ok(b) => {
            for (id, what, v) in [
                ("6a", "clean", &b.clean),
                ("6b", "incremental", &b.incremental),
            ] {
                if v[0].is_empty() {
                    rows.push(Row {
                        id,
                        measure: format!("{what} build s"),
                        values: "skipped in quick mode".into(),
                        ratio: "—".into(),
                        target: "—".into(),
                        verdict: "info".into(),
                    });
                    continue;
                }
                let (cell, _) = ratio_cell("with/without", &stats::ratios(&v[1], &v[0]));
                rows.push(Row {
                    id,
                    measure: format!("{what} build s, {} runs", v[0].len()),
                    values: format!(
                        "without attribute {:.2} · with attribute {:.2}",
                        stats::median(&v[0]),
                        stats::median(&v[1])
                    ),
                    ratio: cell,
                    target: "—".into(),
                    verdict: "info".into(),
                });
            }
        }
        Err(e) => rows.push(Row {
            id: "6",
            measure: "build s".into(),
            values: format!("failed: {e}").replace('\n', " "),
            ratio: "—".into(),
            target: "—".into(),
            verdict: "error".into(),
        }),
    }

    let mut out = format_table(&rows);
    out.push_str(&format!(
        "\nprogram sizes: policy {} insns, libseccomp {} insns, libseccomp tree {} insns, floor {} insns\n",
        ours.len(),
        lsc_default.len(),
        lsc_tree.len(),
        floor.len()
    ));
    out.push_str("[N insns]: BPF instructions the kernel runs for that call (test interpreter); cached: the kernel's action cache allows the call without running the program\n");
    out
}

fn format_table(rows: &[Row]) -> String {
    let header = [
        "#",
        "measure",
        "values (medians)",
        "ratio (median, min–max of rounds)",
        "target",
        "result",
    ];
    let cells: Vec<[&str; 6]> = rows
        .iter()
        .map(|r| [r.id, &r.measure, &r.values, &r.ratio, &r.target, &r.verdict])
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: [&str; 6]| {
        let mut s = String::from("|");
        for (c, w) in cols.iter().zip(widths) {
            s.push_str(&format!(" {c}{} |", " ".repeat(w - c.chars().count())));
        }
        s.push('\n');
        s
    };
    let mut out = line(header);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&line(std::array::from_fn(|i| rule[i].as_str())));
    for row in cells {
        out.push_str(&line(row));
    }
    out
}

/// The machine: CPU model and count, kernel.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|x| x.1.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "machine: {model}, {cpus} CPUs, Linux {}, {}",
        kernel.trim(),
        std::env::consts::ARCH
    )
}
