//! Every refusal has its line (issue 13): a refused UDP socket (no endpoints, landlock-ports), a unix connect, a bind, a
//! listen and a connect under a policy without endpoints each give one line that names the
//! process and what to write to allow it (or that nothing can); 500 refused connects give a
//! handful of lines with the right count. Each attempt succeeds without the sandbox (the
//! control), as root and as uid 65534.

use network_sandbox_escape_tests::*;

/// The supervisor's lines in `stderr` (refusals and counts).
fn lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| {
            l.starts_with("network-sandbox: denied")
                || l.starts_with("network-sandbox: audit")
                || l.starts_with("network-sandbox: …")
        })
        .collect()
}

/// Runs `attempt` without the sandbox (it must succeed) and with a TCP-only policy (or
/// `allow`), as each user; returns the sandboxed outcomes.
fn refused(attempt: &str, args: &[&str], allow: &[String]) -> Vec<Outcome> {
    refused_with(attempt, args, allow, &[])
}

/// [`refused`] with the policy `options` too (`fallback=landlock-ports`).
fn refused_with(attempt: &str, args: &[&str], allow: &[String], options: &[&str]) -> Vec<Outcome> {
    USERS
        .iter()
        .map(|&user| {
            let control = Probe::unsandboxed().user(user).run(attempt, args);
            assert!(control.ok(), "control {attempt} as {user:?}: {control:?}");
            let mut probe = Probe::sandboxed(allow).user(user);
            for &option in options {
                probe = probe.option(option);
            }
            let o = probe.run(attempt, args);
            assert!(o.err("EACCES"), "{attempt} as {user:?}: {o:?}");
            o
        })
        .collect()
}

/// Asserts exactly one supervisor line, that it starts with `start` (the stable part), names
/// the probe as the process, and ends with `end` (the remedy).
#[track_caller]
fn one_line(o: &Outcome, start: &str, end: &str) {
    let l = lines(&o.stderr);
    assert_eq!(l.len(), 1, "{o:?}");
    assert!(
        l[0].starts_with(start),
        "{:?} does not start {start:?}",
        l[0]
    );
    assert!(l[0].contains(" by pid "), "{}", l[0]);
    assert!(l[0].contains(" (probe)"), "{}", l[0]);
    assert!(l[0].ends_with(end), "{:?} does not end {end:?}", l[0]);
}

/// Under a policy without endpoints and `fallback = "landlock-ports"` (no supervisor checks
/// sends there, so no query socket is made: issue 12).
#[test]
fn a_refused_udp_socket_has_its_line_and_hint() {
    for o in refused_with(
        "socket",
        &["2", "2", "0"],
        &[],
        &["fallback=landlock-ports"],
    ) {
        one_line(
            &o,
            "network-sandbox: denied socket (udp) by pid ",
            "udp sockets are not allowed; to allow it, add udp://HOST:PORT",
        );
    }
}

#[test]
fn a_unix_connect_has_its_line() {
    let dir = TempDir::new("unix-line");
    let path = dir.path.join("sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).expect("unix listener");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    listener.set_nonblocking(true).unwrap();
    let s = Servers::start();
    let path = path.to_str().unwrap();
    for o in refused("unix-connect", &[path], &[s.allow_tcp()]) {
        one_line(
            &o,
            "network-sandbox: denied connect by pid ",
            &format!("no unix: endpoint names unix:{path}; to allow it, add unix:{path}"),
        );
    }
    // The same under a policy without endpoints, where the supervisor judges it too (under
    // `landlock-ports` no unix socket is made: the socket's own line, in `static_filter.rs`).
    for o in refused("unix-connect", &[path], &[]) {
        one_line(
            &o,
            "network-sandbox: denied connect by pid ",
            &format!("no unix: endpoint names unix:{path}; to allow it, add unix:{path}"),
        );
    }
}

#[test]
fn a_bind_has_its_line_saying_nothing_allows_it() {
    let s = Servers::start();
    for o in refused("bind", &["127.0.0.2:28997"], &[s.allow_tcp()]) {
        one_line(
            &o,
            "network-sandbox: denied bind to 127.0.0.2:28997 (tcp) by pid ",
            "a TCP or UDP socket may bind to port 0 only (a port the kernel picks): a fixed \
             port would let the program serve; to allow it, add listen = \"127.0.0.2:28997\"",
        );
    }
}

#[test]
fn a_listen_has_its_line() {
    let s = Servers::start();
    for o in refused("listen", &[], &[s.allow_tcp()]) {
        one_line(
            &o,
            "network-sandbox: denied listen (tcp) by pid ",
            "a socket may listen only where the policy says `listen`, bound to that fixed \
             address and port; to allow it, add listen = \"ADDR:PORT\"",
        );
    }
}

#[test]
fn a_connect_under_a_policy_without_endpoints_has_its_line_and_hint() {
    let s = Servers::start();
    let dest = s.forbidden.arg();
    let none: [String; 0] = [];
    for o in refused("connect", &[&dest], &none) {
        one_line(
            &o,
            &format!("network-sandbox: denied connect to {dest} (tcp) by pid "),
            &format!("the policy allows no network; to allow it, add tcp://{dest}"),
        );
    }
}

#[test]
fn five_hundred_refused_connects_give_a_handful_of_lines_with_the_count() {
    let s = Servers::start();
    let dest = s.forbidden.arg();
    for &user in &USERS {
        let control = Probe::unsandboxed()
            .user(user)
            .run("connect-count", &[&dest, "500"]);
        assert_eq!(control.result(), "ok 0", "control as {user:?}: {control:?}");
        let o = Probe::sandboxed(&[s.allow_tcp()])
            .user(user)
            .run("connect-count", &[&dest, "500"]);
        assert_eq!(o.result(), "ok 500", "as {user:?}: {o:?}");
        let l = lines(&o.stderr);
        let what = format!("denied connect to {dest} (tcp) by pid ");
        let printed = l
            .iter()
            .filter(|l| l.starts_with("network-sandbox: denied") && l.contains(&what))
            .count();
        let counted: usize = l
            .iter()
            .filter_map(|l| l.strip_prefix("network-sandbox: … and "))
            .map(|rest| rest.split(' ').next().unwrap().parse::<usize>().unwrap())
            .sum();
        assert_eq!(printed + counted, 500, "{}", o.stderr);
        assert!(
            printed <= 50,
            "{printed} lines for 500 refusals: {}",
            o.stderr
        );
    }
}

#[test]
fn deny_errno_econnrefused_reaches_the_program_from_every_layer() {
    let s = Servers::start();
    let dest = s.forbidden.arg();
    for &user in &USERS {
        // The supervisor's refusal (a connect outside the list) and the static filter's (a
        // NETLINK_SOCK_DIAG socket).
        let attempts: [(&str, Vec<&str>); 2] =
            [("connect", vec![&dest]), ("socket", vec!["16", "3", "4"])];
        for (attempt, args) in attempts {
            let control = Probe::unsandboxed().user(user).run(attempt, &args);
            assert!(control.ok(), "control {attempt} as {user:?}: {control:?}");
            let o = Probe::sandboxed(&[s.allow_tcp()])
                .user(user)
                .option("deny_errno=ECONNREFUSED")
                .run(attempt, &args);
            assert!(o.err("ECONNREFUSED"), "{attempt} as {user:?}: {o:?}");
            assert_eq!(lines(&o.stderr).len(), 1, "{o:?}");
        }
    }
}

#[test]
fn the_log_has_one_json_object_per_decision_with_every_field() {
    let s = Servers::start();
    let dir = TempDir::new("log");
    let fields = [
        "time",
        "pid",
        "tid",
        "process",
        "thread",
        "executable",
        "operation",
        "protocol",
        "socket",
        "destination",
        "verdict",
        "reason",
        "allow_with",
        "layer",
    ];
    for (n, &user) in USERS.iter().enumerate() {
        let path = dir.path.join(format!("log-{n}"));
        let path = path.to_str().unwrap();
        // One allowed connect, one refused by the supervisor, one refused socket (L1: a
        // NETLINK_SOCK_DIAG socket).
        let attempts: [(&str, Vec<String>); 3] = [
            ("connect", vec![s.allowed.arg()]),
            ("connect", vec![s.forbidden.arg()]),
            ("socket", vec!["16".into(), "3".into(), "4".into()]),
        ];
        for (attempt, args) in &attempts {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let control = Probe::unsandboxed().user(user).run(attempt, &args);
            assert!(control.ok(), "control {attempt} as {user:?}: {control:?}");
            Probe::sandboxed(&[s.allow_tcp()])
                .user(user)
                .log(path)
                .run(attempt, &args);
        }
        let text = std::fs::read_to_string(path).expect("the log was written");
        let records: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert_eq!(records.len(), 3, "{text}");
        for r in &records {
            let o = r.as_object().unwrap();
            assert_eq!(o.len(), fields.len(), "{r}");
            for f in fields {
                assert!(o.contains_key(f), "{f} missing: {r}");
            }
            assert_eq!(r["process"], "probe", "{r}");
            assert!(r["pid"].as_i64().unwrap() > 0, "{r}");
            assert!(r["time"].as_str().unwrap().ends_with('Z'), "{r}");
        }
        let (allowed, refused, socket) = (&records[0], &records[1], &records[2]);
        assert_eq!(allowed["verdict"], "allowed", "{allowed}");
        assert_eq!(allowed["destination"], s.allowed.arg().as_str());
        assert_eq!(refused["verdict"], "denied", "{refused}");
        assert_eq!(refused["layer"], "L2");
        assert_eq!(refused["destination"], s.forbidden.arg().as_str());
        assert_eq!(
            refused["allow_with"],
            format!("tcp://{}", s.forbidden.arg()).as_str()
        );
        assert_eq!(socket["operation"], "socket", "{socket}");
        assert_eq!(socket["socket"], "netlink");
        assert_eq!(socket["layer"], "L1");
    }
}

#[test]
fn audit_lets_a_udp_send_a_unix_connect_a_bind_and_a_listen_through_and_reports_each() {
    let s = Servers::start();
    let dir = TempDir::new("audit-unix");
    let path = dir.path.join("sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).expect("unix listener");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    listener.set_nonblocking(true).unwrap();
    let path = path.to_str().unwrap();
    let udp_dest = s.forbidden.arg();
    let cases: [(&str, Vec<&str>, String); 4] = [
        (
            "udp-sendto",
            vec![&udp_dest],
            format!("network-sandbox: audit: would deny send to {udp_dest} (udp) by pid "),
        ),
        (
            "unix-connect",
            vec![path],
            "network-sandbox: audit: would deny connect by pid ".into(),
        ),
        (
            "bind",
            vec!["127.0.0.2:28995"],
            "network-sandbox: audit: would deny bind to 127.0.0.2:28995 (tcp) by pid ".into(),
        ),
        (
            "listen",
            vec![],
            "network-sandbox: audit: would deny listen (tcp) by pid ".into(),
        ),
    ];
    for &user in &USERS {
        for (attempt, args, line) in &cases {
            let control = Probe::unsandboxed().user(user).run(attempt, args);
            assert!(control.ok(), "control {attempt} as {user:?}: {control:?}");
            let before = s.forbidden.datagrams();
            let o = Probe::sandboxed(&[s.allow_tcp()])
                .user(user)
                .option("audit")
                .run(attempt, args);
            assert!(o.ok(), "{attempt} as {user:?} in audit mode: {o:?}");
            assert!(
                lines(&o.stderr)
                    .iter()
                    .any(|l| l.starts_with(line.as_str())),
                "{attempt} as {user:?}: no {line:?} in {}",
                o.stderr
            );
            assert!(
                o.stderr
                    .contains("network-sandbox: audit mode: nothing is refused"),
                "{}",
                o.stderr
            );
            if *attempt == "udp-sendto" {
                let arrived = || s.forbidden.datagrams() > before;
                assert!(
                    eventually(std::time::Duration::from_secs(15), arrived),
                    "the datagram arrived"
                );
            }
        }
    }
}

#[test]
fn learn_writes_a_policy_with_which_the_same_run_works_and_a_third_endpoint_is_refused() {
    use network_sandbox::compiler::build::file::parse_policy_toml;
    let s = Servers::start();
    let dir = TempDir::new("learn");
    let (one, two, third) = (s.allowed.arg(), s.forbidden.arg(), s.other_port.arg());
    for (n, &user) in USERS.iter().enumerate() {
        let control = Probe::unsandboxed()
            .user(user)
            .run("connect-each", &[&one, &two, &third]);
        assert_eq!(control.result(), "ok 3", "control as {user:?}: {control:?}");

        // Learn from a policy without endpoints: nothing is refused in audit mode.
        let path = dir.path.join(format!("learned-{n}.toml"));
        let path = path.to_str().unwrap();
        let none: [&str; 0] = [];
        let learning = Probe::sandboxed(&none)
            .user(user)
            .option("audit")
            .learn(path)
            .run("connect-each", &[&one, &two]);
        assert_eq!(
            learning.result(),
            "ok 2",
            "learning as {user:?}: {learning:?}"
        );
        // The supervisor writes the file once the program has ended.
        let written = || std::fs::metadata(path).is_ok();
        assert!(eventually(std::time::Duration::from_secs(10), written));
        let text = std::fs::read_to_string(path).unwrap();
        let policy = parse_policy_toml(&text).unwrap_or_else(|e| panic!("{e:?}: {text}"));
        let allow: Vec<String> = policy
            .endpoints
            .iter()
            .map(|e| e.origin.text.clone())
            .collect();
        assert_eq!(
            allow,
            [format!("tcp://{one}"), format!("tcp://{two}")],
            "{text}"
        );
        assert!(text.contains("# connect by probe"), "{text}");

        let again = Probe::sandboxed(&allow)
            .user(user)
            .run("connect-each", &[&one, &two]);
        assert_eq!(again.result(), "ok 2", "second run as {user:?}: {again:?}");
        let other = Probe::sandboxed(&allow)
            .user(user)
            .run("connect", &[&third]);
        assert!(other.err("EACCES"), "third endpoint as {user:?}: {other:?}");
    }
}

#[test]
fn the_line_names_the_process_by_its_pid_and_the_thread_by_its_id_and_name() {
    let s = Servers::start();
    let dest = s.forbidden.arg();
    for &user in &USERS {
        let args = [dest.as_str(), "worker-7"];
        let control = Probe::unsandboxed()
            .user(user)
            .run("connect-named-thread", &args);
        assert!(control.ok(), "control as {user:?}: {control:?}");
        let o = Probe::sandboxed(&[s.allow_tcp()])
            .user(user)
            .run("connect-named-thread", &args);
        assert!(o.err("EACCES"), "as {user:?}: {o:?}");
        let stdout_ids = o
            .results
            .iter()
            .find_map(|l| l.strip_prefix("ids "))
            .unwrap_or_else(|| panic!("no ids: {o:?}"));
        let (pid, tid) = stdout_ids.split_once(' ').unwrap();
        assert_ne!(pid, tid, "a second thread");
        one_line(
            &o,
            &format!("network-sandbox: denied connect to {dest} (tcp) by pid {pid} (probe) thread {tid} (worker-7): "),
            &format!("to allow it, add tcp://{dest}"),
        );
    }
}
