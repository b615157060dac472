//! The network-sandbox demo: one HTTPS request let through, one refused.
//!
//! ```text
//! cargo run --release -p network-sandbox-examples --bin demo
//! ```
//!
//! This launcher is not sandboxed (a sandboxed process cannot listen). It makes a throw-away
//! certificate authority and a server certificate for 127.0.0.2 and 127.0.0.3, starts an
//! HTTPS server on each of 127.0.0.2:28443 and 127.0.0.3:28443 (loopback only), and runs
//! `demo-client`, whose `main` carries `#[network_sandbox(allow = "127.0.0.2:28443")]`. Then
//! it counts what each server saw. Exit status 0 only if the allowed server answered the
//! client and the forbidden one accepted no connection.
//!
//! `demo-client` is looked for next to this executable. Under `cargo run` (which builds only
//! the binary it runs) the launcher first builds it with the same profile;
//! `NETWORK_SANDBOX_DEMO_CLIENT=PATH` names it explicitly instead.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use network_sandbox_examples::{DemoCa, Server, ALLOWED_HOST, DEMO_PORT, FORBIDDEN_HOST};

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("\ndemo: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool, String> {
    let allowed_addr = SocketAddr::new(ALLOWED_HOST, DEMO_PORT);
    let forbidden_addr = SocketAddr::new(FORBIDDEN_HOST, DEMO_PORT);

    println!("network-sandbox demo");
    println!("====================");
    println!();
    println!("This launcher runs without a sandbox. It has made a throw-away certificate");
    println!("authority and started two HTTPS servers on loopback, one certificate for both:");
    let ca = DemoCa::generate().map_err(|e| format!("cannot generate the certificates: {e}"))?;
    let allowed = listen(allowed_addr, &ca)?;
    let forbidden = listen(forbidden_addr, &ca)?;
    println!("    https://{allowed_addr}/   will be allowed");
    println!("    https://{forbidden_addr}/   will be forbidden");
    println!();

    let dir = TempDir::new().map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let ca_file = dir.0.join("demo-ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem)
        .map_err(|e| format!("cannot write {}: {e}", ca_file.display()))?;

    let client = client_path()?;
    println!("Now it runs demo-client, whose main is declared as");
    println!();
    println!("    #[network_sandbox(allow = \"allowed.demo={allowed_addr}\")]");
    println!("    fn main() {{ /* fetch three URLs */ }}");
    println!();
    println!("so from its first line on, demo-client may connect to allowed.demo (pinned to");
    println!("{allowed_addr}: its resolver answers that name, and no other) and nowhere else.");
    println!("NETWORK_SANDBOX_REPORT=1 makes it print what each layer enforces on this kernel.");
    println!();
    println!("----- demo-client (sandboxed) -----");
    let status = Command::new(&client)
        .arg(&ca_file)
        .env("NETWORK_SANDBOX_REPORT", "1")
        .status()
        .map_err(|e| format!("cannot run {}: {e}", client.display()))?;
    println!(
        "----- demo-client exited with status {} -----",
        code(&status)
    );
    println!();

    // A served response is counted once the server has sent it all, which the client may
    // have read a moment before.
    let deadline = Instant::now() + Duration::from_secs(2);
    while allowed.served() < allowed.accepted() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }

    let client_ok = status.success();
    let allowed_ok = allowed.served() >= 1;
    let forbidden_ok = forbidden.accepted() == 0;
    println!("Summary");
    println!("  server                        connections accepted   responses sent");
    for (addr, role, server, ok) in [
        (allowed_addr, "allowed", &allowed, allowed_ok),
        (forbidden_addr, "forbidden", &forbidden, forbidden_ok),
    ] {
        println!(
            "  {:<28}  {:<21}  {:<14}  {}",
            format!("{addr} ({role})"),
            server.accepted(),
            server.served(),
            match (ok, role) {
                (true, _) => "ok",
                (false, "allowed") => "EXPECTED AN ANSWER",
                (false, _) => "EXPECTED NO CONNECTION",
            }
        );
    }
    println!(
        "  demo-client: {}",
        match status.code() {
            Some(0) => "both fetches went as the policy says".to_owned(),
            Some(125) => "could not install its sandbox on this kernel (exit status 125); \
                          the line starting with \"network-sandbox: refusing to start\" above \
                          says why. A program whose sandbox cannot be installed does not run."
                .to_owned(),
            _ => format!("exit status {}: see its output above", code(&status)),
        }
    );
    println!();
    let ok = client_ok && allowed_ok && forbidden_ok;
    if ok {
        println!("Result: the sandbox let the allowed HTTPS request through, refused the other");
        println!("one with EACCES before any packet was sent, and the forbidden server never");
        println!("saw a connection.");
        println!();
        println!("Next: examples/src/bin/ holds more (tokio, a build.rs policy file, IPv6,");
        println!("CIDR and port ranges, audit mode, curl in a sandbox); README.md explains what");
        println!("each layer enforces.");
    } else {
        println!("Result: NOT as the policy says (see above).");
    }
    Ok(ok)
}

/// Starts an HTTPS server on `addr`, explaining a busy port.
fn listen(addr: SocketAddr, ca: &DemoCa) -> Result<Server, String> {
    Server::https(addr, ca.server_config.clone()).map_err(|e| {
        let mut m = format!("cannot listen on {addr}: {e}.");
        if e.kind() == io::ErrorKind::AddrInUse {
            m.push_str(&format!(
                "\nThe demo needs exactly this port: it is compiled into demo-client's policy, \
                 #[network_sandbox(allow = \"{}:{}\")].\nIs another demo still running? \
                 `ss -ltnp 'sport = :{}'` shows which process holds the port.",
                ALLOWED_HOST,
                addr.port(),
                addr.port()
            ));
        }
        if matches!(addr.ip(), IpAddr::V4(v4) if v4.is_loopback())
            && e.kind() == io::ErrorKind::AddrNotAvailable
        {
            m.push_str("\nLinux answers on all of 127.0.0.0/8; this system does not.");
        }
        m
    })
}

fn code(status: &std::process::ExitStatus) -> String {
    match status.code() {
        Some(c) => c.to_string(),
        None => status.to_string(),
    }
}

/// `demo-client`: named by `NETWORK_SANDBOX_DEMO_CLIENT`, else next to this executable,
/// built first when running under `cargo run`.
fn client_path() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("NETWORK_SANDBOX_DEMO_CLIENT") {
        return Ok(path.into());
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let client = exe.with_file_name("demo-client");
    if let Some(cargo) = std::env::var_os("CARGO") {
        build_client(Path::new(&cargo), &exe)?;
    }
    if !client.is_file() {
        return Err(format!(
            "{} is missing: build it with `cargo build --release -p network-sandbox-examples`",
            client.display()
        ));
    }
    Ok(client)
}

/// `cargo run --bin demo` builds only `demo`: build `demo-client` into the same directory,
/// with the same profile (a no-op when it is up to date).
fn build_client(cargo: &Path, exe: &Path) -> Result<(), String> {
    let profile_dir = exe.parent().ok_or("no directory")?;
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("no profile directory")?;
    let mut target_dir = profile_dir.parent().ok_or("no target directory")?;
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--quiet",
        "-p",
        "network-sandbox-examples",
        "--bin",
        "demo-client",
    ]);
    cmd.arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"));
    match profile {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    // target/<triple>/<profile>/demo when built with --target.
    if !target_dir.join("CACHEDIR.TAG").exists() {
        if let (Some(triple), Some(parent)) = (target_dir.file_name(), target_dir.parent()) {
            cmd.arg("--target").arg(triple);
            target_dir = parent;
        }
    }
    cmd.arg("--target-dir").arg(target_dir);
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run cargo to build demo-client: {e}"))?;
    if !status.success() {
        return Err(format!("building demo-client failed ({status})"));
    }
    Ok(())
}

/// A private temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> io::Result<TempDir> {
        let dir = std::env::temp_dir().join(format!("network-sandbox-demo-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
