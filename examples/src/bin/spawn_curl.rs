//! A Rust program that runs `curl`: the child inherits the sandbox.
//!
//! Shows: the policy holds for everything the program forks or execs, whatever language it
//! is written in. `curl http://127.0.0.2:28130/` works; `curl http://127.0.0.3:28130/` fails
//! with curl's "Couldn't connect to server" (exit status 7), and the supervisor's line on
//! stderr names `curl` as the process that tried. (To sandbox a program without writing any
//! Rust, see the `network-sandbox run` command.)
//!
//! Skips with a message, and exit status 0, when curl is not installed.
//!
//! Run it against the example servers (loopback only), in two terminals:
//!
//! ```text
//! cargo run -p network-sandbox-examples --bin serve
//! cargo run -p network-sandbox-examples --bin spawn_curl
//! ```

use std::process::Command;

use network_sandbox::network_sandbox;

#[network_sandbox(allow = "127.0.0.2:28130")]
fn main() {
    let allowed = curl("http://127.0.0.2:28130/");
    let forbidden = curl("http://127.0.0.3:28130/");
    // curl's exit status 7: "Failed to connect to host".
    let as_policy_says = allowed == Some(0) && forbidden == Some(7);
    std::process::exit(if as_policy_says { 0 } else { 1 });
}

/// Runs curl on `url`; returns its exit status.
fn curl(url: &str) -> Option<i32> {
    println!("$ curl {url}");
    // --noproxy: talk to the address itself even if http_proxy is set.
    let status = Command::new("curl")
        .args([
            "--silent",
            "--show-error",
            "--max-time",
            "10",
            "--noproxy",
            "*",
            url,
        ])
        .status();
    match status {
        Ok(status) => {
            println!("curl exited with {status}");
            status.code()
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("skipping: curl is not installed (apt-get install curl)");
            std::process::exit(0);
        }
        Err(e) => {
            println!("cannot run curl: {e}");
            None
        }
    }
}
