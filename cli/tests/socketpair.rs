//! Unix socket pairs inside the sandbox keep working when the policy has a UDP endpoint (which
//! sends every `sendmsg` to the supervisor): a message without an address goes to the peer,
//! and descriptors passed with it (`SCM_RIGHTS`, Python's `socket.send_fds`) arrive as the
//! caller's own files, not the supervisor's. A unix send that names an address stays refused.

mod common;

use std::process::Command;

use common::{as_user, is_root, ns_run, output, python, User};

/// Sends "hello" and a temporary file's descriptor over a socket pair of the given type,
/// receives both on the other end, and prints the message, the number of descriptors and
/// whether the one received is the same file.
const PASS_FD: &str = r#"import os, socket, sys, tempfile
kind = {"stream": socket.SOCK_STREAM, "seqpacket": socket.SOCK_SEQPACKET}[sys.argv[1]]
a, b = socket.socketpair(socket.AF_UNIX, kind)
with tempfile.TemporaryFile() as f:
    socket.send_fds(a, [b"hello"], [f.fileno()])
    msg, fds, _, _ = socket.recv_fds(b, 16, 1)
    mine, got = os.fstat(f.fileno()), os.fstat(fds[0])
    print(msg.decode(), len(fds), (mine.st_dev, mine.st_ino) == (got.st_dev, got.st_ino))
"#;

/// Sends on a stream pair with an address: the kernel says EISCONN; the sandbox refuses.
const NAMED_SEND: &str = r#"import errno, socket
a, b = socket.socketpair()
try:
    a.sendto(b"x", "/nonexistent/socket")
    print("sent")
except OSError as e:
    print(errno.errorcode[e.errno])
"#;

fn users() -> Vec<User> {
    if is_root() {
        vec![User::Root, User::Nobody]
    } else {
        vec![User::Root]
    }
}

fn run(sandboxed: bool, user: User, program: &[&str]) -> common::Output {
    let mut cmd = if sandboxed {
        ns_run(Some("udp://127.0.0.2:53"), program)
    } else {
        let mut c = Command::new(program[0]);
        c.args(&program[1..]);
        c
    };
    as_user(&mut cmd, user);
    output(cmd)
}

#[test]
fn socketpairs_pass_messages_and_descriptors_with_a_udp_endpoint() {
    let Some(py) = python() else {
        return;
    };
    let py = py.to_str().unwrap();
    for user in users() {
        for kind in ["stream", "seqpacket"] {
            for sandboxed in [false, true] {
                let out = run(sandboxed, user, &[py, "-c", PASS_FD, kind]);
                assert_eq!(
                    out.stdout.trim(),
                    "hello 1 True",
                    "{user:?} {kind} sandboxed={sandboxed}: {out:?}"
                );
                assert!(out.status.success(), "{out:?}");
                assert!(!out.stderr.contains("denied"), "{out:?}");
            }
        }
    }
}

#[test]
fn a_unix_send_naming_an_address_is_refused() {
    let Some(py) = python() else {
        return;
    };
    let py = py.to_str().unwrap();
    for user in users() {
        let control = run(false, user, &[py, "-c", NAMED_SEND]);
        assert_eq!(control.stdout.trim(), "EISCONN", "{user:?}: {control:?}");
        let out = run(true, user, &[py, "-c", NAMED_SEND]);
        assert_eq!(out.stdout.trim(), "EACCES", "{user:?}: {out:?}");
        assert!(
            out.stderr
                .contains("network-sandbox: denied send (unix) by pid")
                && out.stderr.contains("unix sockets are not allowed"),
            "{user:?}: {out:?}"
        );
    }
}
