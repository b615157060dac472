//! `unix:` endpoints on the command line (issue 12 item 2): `ssh-add` reaches an
//! `ssh-agent` whose socket is allowed and is refused, with a line saying what to add, when
//! only another socket is; the control is the same `ssh-add` without the sandbox. As root
//! and as uid 65534 (each with an agent of its own user: the agent serves only its user).
//!
//! And programs that serve themselves over a unix socket they bind: Python's
//! `multiprocessing.Manager()` round trip, a forkserver pool, and a `python3 -c` bind, listen, accept and
//! connect, each the same with and without the sandbox, under a policy with an endpoint and
//! under one without any (`allow = []`, where a TCP listen and connect stay refused); learn
//! mode writes no `unix:` line for such a socket (it does for an outside one in the same
//! run).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{
    as_user, is_root, ns, ns_run, output, python, require, scratch_dir, Guard, User, NOBODY,
};

fn users() -> Vec<User> {
    if is_root() {
        vec![User::Root, User::Nobody]
    } else {
        vec![User::Root]
    }
}

/// `ssh-add -l` with `SSH_AUTH_SOCK=agent`, sandboxed with `allow` or not at all.
fn ssh_add(allow: Option<&str>, agent: &Path, user: User) -> common::Output {
    let mut cmd = match allow {
        Some(a) => ns_run(Some(a), &["ssh-add", "-l"]),
        None => {
            let mut c = Command::new("ssh-add");
            c.arg("-l");
            c
        }
    };
    as_user(&mut cmd, user);
    cmd.env("SSH_AUTH_SOCK", agent);
    output(cmd)
}

#[test]
fn ssh_agent_is_reached_through_its_unix_endpoint_and_another_socket_is_refused() {
    if require("ssh-agent", "OpenSSH's agent").is_none() || require("ssh-add", "ssh-add").is_none()
    {
        return;
    }
    for user in users() {
        let dir = scratch_dir(&format!("unix-ssh-agent-{user:?}"));
        let _ = std::fs::remove_file(dir.join("agent.sock"));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let agent = dir.join("agent.sock");
        let mut cmd = Command::new("ssh-agent");
        cmd.arg("-D").arg("-a").arg(&agent);
        as_user(&mut cmd, user);
        let running = Guard::spawn(&mut cmd);
        let mut waited = Duration::ZERO;
        while !agent.exists() && waited < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(20));
            waited += Duration::from_millis(20);
        }
        assert!(
            agent.exists(),
            "ssh-agent did not start: {:?}",
            running.child.id()
        );
        if user == User::Nobody {
            let meta = std::fs::metadata(&agent).unwrap();
            assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), NOBODY);
        }
        let a = agent.to_str().unwrap();

        // The control: an agent with no keys answers "no identities" (exit 1).
        let control = ssh_add(None, &agent, user);
        assert_eq!(control.code(), Some(1), "control as {user:?}: {control:?}");
        assert!(control.stdout.contains("no identities"), "{control:?}");

        let allowed = ssh_add(Some(&format!("unix:{a}")), &agent, user);
        assert_eq!(allowed.code(), Some(1), "allowed as {user:?}: {allowed:?}");
        assert!(allowed.stdout.contains("no identities"), "{allowed:?}");
        assert!(!allowed.stderr.contains("denied"), "{allowed:?}");

        let other = format!("unix:{}", dir.join("other.sock").display());
        let refused = ssh_add(Some(&other), &agent, user);
        assert_eq!(refused.code(), Some(2), "refused as {user:?}: {refused:?}");
        assert!(
            refused
                .stderr
                .contains("network-sandbox: denied connect by pid ")
                && refused
                    .stderr
                    .contains(&format!("; to allow it, add unix:{a}")),
            "{refused:?}"
        );
        drop(running);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Runs `python3 -c script args…` as `user`, sandboxed with `--allow allow` (and `extra`
/// options before `--`) or not at all.
fn python_run(
    python: &Path,
    allow: Option<&str>,
    extra: &[&str],
    user: User,
    script: &str,
    args: &[&str],
) -> common::Output {
    let mut program = vec![python.to_str().unwrap(), "-c", script];
    program.extend_from_slice(args);
    let mut cmd = match allow {
        Some(a) => {
            let mut c = ns(&["run", "--allow", a]);
            c.args(extra).arg("--").args(&program);
            c
        }
        None => {
            let mut c = Command::new(program[0]);
            c.args(&program[1..]);
            c
        }
    };
    as_user(&mut cmd, user);
    output(cmd)
}

/// A policy with an endpoint (so a supervisor runs) and no `unix:` endpoint.
const TCP_ONLY: &str = "127.0.0.2:443";

const MANAGER: &str = "import multiprocessing as m
mg = m.Manager()
l = mg.list([1])
l.append(2)
print(list(l), flush=True)
mg.shutdown()";

#[test]
fn python_multiprocessing_manager_round_trips_under_a_supervised_policy() {
    let Some(python) = python() else { return };
    for user in users() {
        let control = python_run(&python, None, &[], user, MANAGER, &[]);
        assert_eq!(control.code(), Some(0), "control as {user:?}: {control:?}");
        assert_eq!(control.stdout.trim(), "[1, 2]", "{control:?}");
        let o = python_run(&python, Some(TCP_ONLY), &[], user, MANAGER, &[]);
        assert_eq!(o.code(), Some(0), "sandboxed as {user:?}: {o:?}");
        assert_eq!(o.stdout.trim(), "[1, 2]", "{o:?}");
        assert!(!o.stderr.contains("denied"), "{o:?}");
    }
}

/// (A builtin as the work: a function of `-c`'s `__main__` cannot be found by the workers.)
const FORKSERVER: &str = "import multiprocessing as mp
if __name__ == '__main__':
    mp.set_start_method('forkserver')
    with mp.Pool(2) as p:
        print(p.map(abs, [-2, -4, 6]), flush=True)";

/// Python's forkserver binds a unix socket in the parent, serves it from the forkserver
/// process, and passes descriptors over it: a pool works the same with and without the
/// sandbox (also with a UDP endpoint, where every `sendmsg` goes to the supervisor).
#[test]
fn python_forkserver_pool_works_under_a_supervised_policy() {
    let Some(python) = python() else { return };
    for user in users() {
        let control = python_run(&python, None, &[], user, FORKSERVER, &[]);
        assert_eq!(control.code(), Some(0), "control as {user:?}: {control:?}");
        assert_eq!(control.stdout.trim(), "[2, 4, 6]", "{control:?}");
        for extra in [&[][..], &["--allow", "udp://127.0.0.2:53"][..]] {
            let o = python_run(&python, Some(TCP_ONLY), extra, user, FORKSERVER, &[]);
            assert_eq!(o.code(), Some(0), "sandboxed {extra:?} as {user:?}: {o:?}");
            assert_eq!(o.stdout.trim(), "[2, 4, 6]", "{o:?}");
            assert!(!o.stderr.contains("denied"), "{o:?}");
        }
    }
}

/// Binds `argv[1]` (relative to `argv[2]`, made the working directory), listens, accepts in
/// a thread and answers "pong" to "ping" from its own connect; `argv[3]`, if given, is an
/// outside socket to connect to as well (`outside ok`, or the errno).
const SERVE_SELF: &str = "import os, socket, sys, threading
os.chdir(sys.argv[2])
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen()
def serve():
    a, _ = s.accept()
    if a.recv(4) == b'ping':
        a.sendall(b'pong')
t = threading.Thread(target=serve)
t.start()
c = socket.socket(socket.AF_UNIX)
c.connect(sys.argv[1])
c.sendall(b'ping')
print(s.getsockname(), c.recv(4).decode(), flush=True)
t.join()
if len(sys.argv) > 3:
    o = socket.socket(socket.AF_UNIX)
    try:
        o.connect(sys.argv[3])
        print('outside ok', flush=True)
    except OSError as e:
        print('outside errno', e.errno, flush=True)";

#[test]
fn a_python_program_serves_itself_over_a_unix_socket() {
    let Some(python) = python() else { return };
    for user in users() {
        let dir = scratch_dir(&format!("unix-serve-self-{user:?}"));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let d = dir.to_str().unwrap();
        for sandboxed in [false, true] {
            let _ = std::fs::remove_file(dir.join("self.sock"));
            let allow = sandboxed.then_some(TCP_ONLY);
            let o = python_run(&python, allow, &[], user, SERVE_SELF, &["self.sock", d]);
            assert_eq!(o.code(), Some(0), "{user:?} sandboxed {sandboxed}: {o:?}");
            assert_eq!(o.stdout.trim(), "self.sock pong", "{o:?}");
            assert!(!o.stderr.contains("denied"), "{o:?}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Learn mode (audit: nothing refused) writes the outside socket the run connected to, and
/// nothing for the socket it bound and connected to itself.
#[test]
fn learn_mode_writes_no_unix_line_for_the_programs_own_socket() {
    let Some(python) = python() else { return };
    for user in users() {
        let dir = scratch_dir(&format!("unix-learn-own-{user:?}"));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let d = dir.to_str().unwrap().to_owned();
        let outside = dir.join("outside.sock");
        let _ = std::fs::remove_file(&outside);
        let listener = std::os::unix::net::UnixListener::bind(&outside).unwrap();
        std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o777)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let learned = dir.join("learned.toml");
        let _ = std::fs::remove_file(&learned);
        std::fs::write(&learned, "").unwrap();
        std::fs::set_permissions(&learned, std::fs::Permissions::from_mode(0o666)).unwrap();
        let _ = std::fs::remove_file(dir.join("own.sock"));
        let o = python_run(
            &python,
            Some(TCP_ONLY),
            &["--learn", learned.to_str().unwrap()],
            user,
            SERVE_SELF,
            &["own.sock", &d, outside.to_str().unwrap()],
        );
        assert_eq!(o.code(), Some(0), "{user:?}: {o:?}");
        assert_eq!(o.stdout, "own.sock pong\noutside ok\n", "{o:?}");
        let policy = std::fs::read_to_string(&learned).unwrap();
        assert!(
            policy.contains(&format!("\"unix:{}\"", outside.display())),
            "the outside socket is learned: {policy}"
        );
        assert!(!policy.contains("own.sock"), "{policy}");
        drop(listener);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Runs `python3 -c script args…` as `user` under a policy without any endpoint
/// (`network-sandbox run -- …`, `allow = []`).
fn python_no_network(python: &Path, user: User, script: &str, args: &[&str]) -> common::Output {
    let mut cmd = ns(&["run", "--"]);
    cmd.arg(python).arg("-c").arg(script).args(args);
    as_user(&mut cmd, user);
    output(cmd)
}

/// Issue 12: under a policy without any endpoint (`allow = []`, "run the test suite with no
/// network") a supervisor runs too and judges connect, bind and listen: a `Manager()` and a
/// forkserver pool work as without the sandbox, and a program serves itself over a unix
/// socket it binds, while a connect to an outside unix socket is refused with its line.
#[test]
fn without_endpoints_a_manager_a_pool_and_an_own_socket_work() {
    let Some(python) = python() else { return };
    for user in users() {
        for (script, expected) in [(MANAGER, "[1, 2]"), (FORKSERVER, "[2, 4, 6]")] {
            let control = python_run(&python, None, &[], user, script, &[]);
            assert_eq!(control.code(), Some(0), "control as {user:?}: {control:?}");
            assert_eq!(control.stdout.trim(), expected, "{control:?}");
            let o = python_no_network(&python, user, script, &[]);
            assert_eq!(o.code(), Some(0), "no endpoint, as {user:?}: {o:?}");
            assert_eq!(o.stdout.trim(), expected, "{o:?}");
            assert!(!o.stderr.contains("denied"), "{o:?}");
        }

        let dir = scratch_dir(&format!("unix-no-network-{user:?}"));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let d = dir.to_str().unwrap().to_owned();
        let outside = dir.join("outside.sock");
        let _ = std::fs::remove_file(&outside);
        let listener = std::os::unix::net::UnixListener::bind(&outside).unwrap();
        std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o777)).unwrap();
        let o_path = outside.to_str().unwrap().to_owned();
        for sandboxed in [false, true] {
            let _ = std::fs::remove_file(dir.join("own.sock"));
            let args = ["own.sock", d.as_str(), o_path.as_str()];
            let o = if sandboxed {
                python_no_network(&python, user, SERVE_SELF, &args)
            } else {
                python_run(&python, None, &[], user, SERVE_SELF, &args)
            };
            assert_eq!(o.code(), Some(0), "{user:?} sandboxed {sandboxed}: {o:?}");
            if sandboxed {
                // The outside socket: not the sandbox's own, and no `unix:` endpoint.
                assert_eq!(o.stdout, "own.sock pong\noutside errno 13\n", "{o:?}");
                assert!(
                    o.stderr.contains("network-sandbox: denied connect by pid ")
                        && o.stderr
                            .contains(&format!("; to allow it, add unix:{o_path}")),
                    "{o:?}"
                );
            } else {
                assert_eq!(o.stdout, "own.sock pong\noutside ok\n", "{o:?}");
            }
        }
        drop(listener);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// `argv[1]`: `listen` (a TCP socket bound to port 0 on loopback listens) or `connect` (to
/// the loopback listener at port `argv[2]`); prints `ok` or the errno.
const TCP: &str = "import socket, sys
s = socket.socket()
try:
    if sys.argv[1] == 'listen':
        s.bind(('127.0.0.1', 0))
        s.listen()
    else:
        s.connect(('127.0.0.1', int(sys.argv[2])))
    print('ok', flush=True)
except OSError as e:
    print('errno', e.errno, flush=True)";

/// Under a policy without any endpoint, where the supervisor now judges listen and connect,
/// a TCP listen and a TCP connect stay refused (`EACCES`), each with its line; their
/// controls succeed.
#[test]
fn without_endpoints_a_tcp_listen_and_a_tcp_connect_are_still_refused() {
    let Some(python) = python() else { return };
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port().to_string();
    for user in users() {
        for (what, line) in [
            (
                "listen",
                "network-sandbox: denied listen (tcp) by pid ".to_owned(),
            ),
            (
                "connect",
                format!("network-sandbox: denied connect to 127.0.0.1:{port} (tcp) by pid "),
            ),
        ] {
            let control = python_run(&python, None, &[], user, TCP, &[what, &port]);
            assert_eq!(
                control.stdout.trim(),
                "ok",
                "control {what} as {user:?}: {control:?}"
            );
            let o = python_no_network(&python, user, TCP, &[what, &port]);
            assert_eq!(o.code(), Some(0), "{what} as {user:?}: {o:?}");
            assert_eq!(o.stdout.trim(), "errno 13", "{what} as {user:?}: {o:?}");
            assert!(o.stderr.contains(&line), "{what} as {user:?}: {o:?}");
            let why = if what == "listen" {
                "a socket may listen only where the policy says `listen`"
            } else {
                "the policy allows no network; to allow it, add tcp://127.0.0.1:"
            };
            assert!(o.stderr.contains(why), "{what} as {user:?}: {o:?}");
        }
    }
}

/// A unix connect and bind with odd address lengths get the kernel's own answers: a
/// sockaddr_un of 110 bytes is read up to its first NUL (`ENOENT` for a missing path), one
/// longer than `struct sockaddr_un` is `EINVAL` (the supervisor used to look the path up and
/// answer `ENOENT`). The control is the same script without the sandbox: same output.
#[test]
fn odd_unix_address_lengths_get_the_kernels_errors() {
    let Some(python) = python() else { return };
    const SCRIPT: &str = "import ctypes, socket, struct
libc = ctypes.CDLL(None, use_errno=True)
for call in ('connect', 'bind'):
    for n in (110, 111, 128):
        s = socket.socket(socket.AF_UNIX)
        buf = (struct.pack('H', socket.AF_UNIX) + b'/nonexistent-dir/x.sock' + bytes(n))[:n]
        r = getattr(libc, call)(s.fileno(), ctypes.c_char_p(buf), n)
        print(call, n, ctypes.get_errno() if r else 'ok')";
    for user in users() {
        let control = python_run(&python, None, &[], user, SCRIPT, &[]);
        assert!(
            control.stdout.contains("connect 111 22") && control.stdout.contains("connect 110 2"),
            "control as {user:?}: {control:?}"
        );
        let out = python_run(&python, Some(TCP_ONLY), &[], user, SCRIPT, &[]);
        assert_eq!(out.stdout, control.stdout, "{user:?}: {out:?}");
    }
}
