//! The HTTPS demo, run as the README's first command runs it: the allowed fetch returns the
//! server's body over TLS, the forbidden one fails with the sandbox's EACCES and the
//! supervisor's line, and the forbidden server accepts no connection.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use common::{run, Run};
use network_sandbox_escape_tests::{supervisor_refused, Recorder};
use network_sandbox_examples::{body_for, ALLOWED_HOST, DEMO_PORT, FORBIDDEN_HOST};

/// The demo's port is fixed: one test at a time uses it.
static PORT: Mutex<()> = Mutex::new(());

fn demo() -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_demo"));
    cmd.env(
        "NETWORK_SANDBOX_DEMO_CLIENT",
        env!("CARGO_BIN_EXE_demo-client"),
    )
    .env_remove("CARGO");
    run(cmd)
}

/// The number in the "connections accepted" column of the demo's summary for `addr`.
fn accepted(stdout: &str, addr: SocketAddr) -> usize {
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{addr} (")))
        .unwrap_or_else(|| panic!("no summary line for {addr}:\n{stdout}"));
    line.split(')')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {line:?}"))
}

#[test]
fn allowed_fetch_gets_through_over_tls_and_forbidden_one_is_refused() {
    let _port = PORT.lock().unwrap_or_else(|e| e.into_inner());
    let allowed = SocketAddr::new(ALLOWED_HOST, DEMO_PORT);
    let forbidden = SocketAddr::new(FORBIDDEN_HOST, DEMO_PORT);

    let o = demo();
    assert_eq!(o.code, Some(0), "{o:#?}");
    // The allowed fetch: TLS handshake verified against the generated CA, then the body.
    assert!(o.stdout.contains("TLS: TLSv1_3"), "{}", o.stdout);
    assert!(
        o.stdout
            .contains("certificate for allowed.demo (127.0.0.2) verified"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("[2/3] GET https://forbidden.demo:28443/")
            && o.stdout.contains("lookup: failed"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout
            .contains(&format!("body: \"hello from {allowed}\\n\"")),
        "{}",
        o.stdout
    );
    // The forbidden fetch: EACCES from connect, and the supervisor's line on stderr.
    assert!(
        o.stdout
            .contains("connect: failed with EACCES, \"Permission denied (os error 13)\""),
        "{}",
        o.stdout
    );
    assert!(
        supervisor_refused(&o.stderr, "connect", Some(&forbidden.to_string())),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("(demo-client): not in the allow list"),
        "{}",
        o.stderr
    );
    assert!(
        !o.stdout.contains(&format!("hello from {forbidden}")),
        "{}",
        o.stdout
    );
    // The servers' own counts, from the summary.
    assert_eq!(accepted(&o.stdout, allowed), 1, "{}", o.stdout);
    assert_eq!(accepted(&o.stdout, forbidden), 0, "{}", o.stdout);
    // The layer report (NETWORK_SANDBOX_REPORT=1) shows the supervisor in force.
    assert!(o.stderr.contains("L2 supervisor: enforced"), "{}", o.stderr);

    // The control: without the sandbox, the forbidden address is reachable on this port.
    let server = Recorder::http(forbidden, body_for).expect("listen on the forbidden address");
    let body = network_sandbox_examples::unsandboxed_get(forbidden).expect("control fetch");
    assert_eq!(body, format!("hello from {forbidden}\n"));
    server.settle();
    assert_eq!(server.connections(), 1);
}

#[test]
fn a_busy_port_is_explained() {
    let _port = PORT.lock().unwrap_or_else(|e| e.into_inner());
    let addr = SocketAddr::new(ALLOWED_HOST, DEMO_PORT);
    let squatter = TcpListener::bind(addr).expect("take the demo's port");
    let o = demo();
    drop(squatter);
    assert_eq!(o.code, Some(1), "{o:#?}");
    assert!(
        o.stderr.contains(&format!("cannot listen on {addr}")),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("Is another demo still running?"),
        "{}",
        o.stderr
    );
    // Nothing was run.
    assert!(
        !o.stdout.contains("demo-client (sandboxed)"),
        "{}",
        o.stdout
    );
    // The port is free again: nothing the demo started holds it.
    let s = TcpStream::connect_timeout(&addr, Duration::from_millis(500));
    assert!(s.is_err(), "the port should be closed again");
}

#[test]
fn client_alone_explains_how_to_run_it() {
    let o = run(Command::new(env!("CARGO_BIN_EXE_demo-client")));
    assert_eq!(o.code, Some(2), "{o:#?}");
    assert!(o.stderr.contains("--bin demo"), "{}", o.stderr);
}
