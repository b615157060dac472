//! What the example tests share: running a binary with a time limit, and the servers of an
//! example (on the loopback harness of escape-tests, which all test crates share).

#![allow(dead_code)]

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use network_sandbox_escape_tests::Recorder;
use network_sandbox_examples::{body_for, EXAMPLE_SERVERS};

/// A finished run of an example.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` to the end, killing it after 60 s. Returns once stdout and stderr are closed,
/// that is once the program and its supervisor (which holds stderr) have both exited.
pub fn run(mut cmd: Command) -> Run {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Talk to the addresses themselves, never through a proxy.
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("https_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY");
    let mut child = cmd.spawn().expect("start the example");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let run = Run {
        code: status.and_then(|s| s.code()),
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    };
    assert!(status.is_some(), "timed out after 60 s: {run:#?}");
    run
}

/// Runs the binary at `path` with no arguments.
pub fn run_bin(path: &str) -> Run {
    run(Command::new(path))
}

/// The servers `example` talks to (see `EXAMPLE_SERVERS`), started on loopback with the
/// test crates' shared harness (escape-tests' [`Recorder`], answering HTTP with
/// [`body_for`]), with their roles.
pub fn servers_for(example: &str) -> Vec<(Recorder, &'static str)> {
    let (_, addrs) = EXAMPLE_SERVERS
        .iter()
        .find(|(name, _)| *name == example)
        .unwrap_or_else(|| panic!("no servers listed for {example}"));
    addrs
        .iter()
        .map(|(addr, role)| {
            let addr: SocketAddr = addr.parse().expect("socket address");
            let server = Recorder::http(addr, body_for)
                .unwrap_or_else(|e| panic!("cannot listen on {addr} for {example}: {e}"));
            (server, *role)
        })
        .collect()
}
