//! Every example, run against the loopback servers it talks to (`EXAMPLE_SERVERS`): what
//! the policy allows reaches its server, nothing else reaches any server, and the control
//! (the same request from this unsandboxed test process) shows that the refused servers
//! were there to be reached.

mod common;

use common::{run_bin, servers_for, Run};
use network_sandbox_escape_tests::{skipped, supervisor_refused, Recorder as Server};
use network_sandbox_examples::{body_for, unsandboxed_get};

/// Checks a run of an enforcing example against its servers: each "allowed" server
/// answered the example once, and each "forbidden" one accepted nothing, the example saw
/// EACCES and the supervisor reported it. Then the control: the forbidden servers answer
/// an unsandboxed request.
fn check_enforced(o: &Run, servers: &[(Server, &str)]) {
    check_enforced_by(o, servers, None);
}

/// [`check_enforced`] for an example that reaches its allowed server by the name `target`
/// (`NAME:PORT`).
fn check_enforced_by(o: &Run, servers: &[(Server, &str)], target: Option<&str>) {
    assert_eq!(o.code, Some(0), "{o:#?}");
    settle(servers);
    for (server, role) in servers {
        let addr = server.addr;
        if *role == "allowed" {
            assert_eq!(
                server.connections(),
                1,
                "{addr} should have answered: {o:#?}"
            );
            let shown = target.map_or_else(|| addr.to_string(), str::to_owned);
            assert!(
                o.stdout
                    .contains(&format!("GET http://{shown}/ -> {:?}", body_for(addr))),
                "{o:#?}"
            );
        } else {
            assert_eq!(
                server.connections(),
                0,
                "{addr} must not be reached: {o:#?}"
            );
            assert!(
                o.stdout.contains(&format!(
                    "GET http://{addr}/ -> error: Permission denied (os error 13)"
                )),
                "{o:#?}"
            );
            assert!(
                supervisor_refused(&o.stderr, "connect", Some(&addr.to_string())),
                "{o:#?}"
            );
        }
    }
    control(servers);
}

/// Drains every server's queues, so their counts are definite.
fn settle(servers: &[(Server, &str)]) {
    for (server, _) in servers {
        server.settle();
    }
}

/// Without the sandbox, every refused server is reachable.
fn control(servers: &[(Server, &str)]) {
    for (server, role) in servers.iter().filter(|(_, r)| *r != "allowed") {
        let before = server.connections();
        let body = unsandboxed_get(server.addr)
            .unwrap_or_else(|e| panic!("control: {} ({role}) unreachable: {e}", server.addr));
        assert_eq!(body, body_for(server.addr));
        server.settle();
        assert_eq!(server.connections(), before + 1);
    }
}

#[test]
fn std_client() {
    let servers = servers_for("std_client");
    let o = run_bin(env!("CARGO_BIN_EXE_std_client"));
    check_enforced(&o, &servers);
}

#[test]
fn tokio_client() {
    let servers = servers_for("tokio_client");
    let o = run_bin(env!("CARGO_BIN_EXE_tokio_client"));
    check_enforced(&o, &servers);
}

#[test]
fn from_build() {
    let servers = servers_for("from_build");
    let o = run_bin(env!("CARGO_BIN_EXE_from_build"));
    // The policy file pins the name `files.example` to the allowed server's address.
    check_enforced_by(&o, &servers, Some("files.example:28083"));
}

#[test]
fn ipv6() {
    let servers = servers_for("ipv6");
    let o = run_bin(env!("CARGO_BIN_EXE_ipv6"));
    check_enforced(&o, &servers);
}

#[test]
fn syscall_profile() {
    let servers = servers_for("syscall_profile");
    let o = run_bin(env!("CARGO_BIN_EXE_syscall_profile"));
    check_enforced(&o, &servers);
    // The profile's refusal, named with its group (the kernel's own refusal prints
    // nothing: the example's exit status alone could not tell them apart).
    assert!(
        o.stderr
            .contains(": swapon (@swap) is not in the policy's syscalls"),
        "{o:#?}"
    );
}

#[test]
fn cidr_range() {
    let servers = servers_for("cidr_range");
    let o = run_bin(env!("CARGO_BIN_EXE_cidr_range"));
    check_enforced(&o, &servers);
}

#[test]
fn audit() {
    let servers = servers_for("audit");
    let o = run_bin(env!("CARGO_BIN_EXE_audit"));
    assert_eq!(o.code, Some(0), "{o:#?}");
    settle(&servers);
    // Both servers answered: audit mode reports, it does not refuse.
    for (server, _) in &servers {
        let addr = server.addr;
        assert_eq!(server.connections(), 1, "{addr}: {o:#?}");
        assert!(
            o.stdout
                .contains(&format!("GET http://{addr}/ -> {:?}", body_for(addr))),
            "{o:#?}"
        );
    }
    let (audited, _) = &servers[1];
    assert!(
        o.stderr.contains(&format!(
            "network-sandbox: audit: would deny connect to {} (tcp) by pid ",
            audited.addr
        )),
        "{o:#?}"
    );
    // The allowed one is not reported.
    assert!(!o.stderr.contains(&servers[0].0.addr.to_string()), "{o:#?}");
}

#[test]
fn spawn_curl() {
    let servers = servers_for("spawn_curl");
    let o = run_bin(env!("CARGO_BIN_EXE_spawn_curl"));
    if o.stdout.contains("skipping: curl is not installed") {
        skipped("curl is not installed", Some("curl"));
        assert_eq!(o.code, Some(0), "{o:#?}");
        return;
    }
    assert_eq!(o.code, Some(0), "{o:#?}");
    settle(&servers);
    let (allowed, _) = &servers[0];
    let (forbidden, _) = &servers[1];
    // curl's output is the example's: the allowed body, then curl's own error.
    assert!(
        o.stdout.contains(body_for(allowed.addr).trim_end()),
        "{o:#?}"
    );
    assert_eq!(allowed.connections(), 1, "{o:#?}");
    assert!(o.stderr.contains("curl: (7)"), "{o:#?}");
    assert_eq!(forbidden.connections(), 0, "{o:#?}");
    // The supervisor names curl, the process that tried.
    assert!(
        supervisor_refused(&o.stderr, "connect", Some(&forbidden.addr.to_string()))
            && o.stderr.contains("(curl): not in the allow list"),
        "{o:#?}"
    );
    control(&servers);
}
