//! Debuggers and sanitizers inside the sandbox (issue 12): `strace -f`, `gdb` and
//! LeakSanitizer trace processes of the sandbox itself, which the static filter allows where
//! Landlock confines ptrace to the sandbox's own processes (on this kernel: always). Each
//! with an unsandboxed control, as root and as nobody. That tracing anything *outside* the
//! sandbox (its parent, the supervisor) stays refused is in `escape-tests/tests/tracing.rs`.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{as_user, is_root, ns_run, output, require, scratch_dir, Output, User};

const ALLOW: &str = "127.0.0.2:9";

fn users() -> Vec<User> {
    if is_root() {
        vec![User::Root, User::Nobody]
    } else {
        vec![User::Nobody]
    }
}

/// Runs `program` as `user`, without the sandbox (the control) and inside it.
fn both(user: User, program: &[&str]) -> (Output, Output) {
    let mut control = Command::new(program[0]);
    control.args(&program[1..]);
    as_user(&mut control, user);
    let mut inside = ns_run(Some(ALLOW), program);
    as_user(&mut inside, user);
    (output(control), output(inside))
}

#[test]
fn strace_follows_a_child_inside() {
    let Some(strace) = require("strace", "strace") else {
        return;
    };
    let strace = strace.to_str().unwrap();
    // `sh -c 'true; true'` forks: -f has a child to follow.
    let program = [
        strace,
        "-f",
        "-e",
        "trace=none",
        "sh",
        "-c",
        "/bin/true; /bin/true",
    ];
    for user in users() {
        let (control, inside) = both(user, &program);
        for (what, o) in [("control", &control), ("sandboxed", &inside)] {
            assert_eq!(o.code(), Some(0), "{what} strace as {user:?}: {o:?}");
            // One line per process that exited: the shell and its children.
            let exits = o.stderr.matches("+++ exited with 0 +++").count();
            assert!(
                exits >= 2,
                "{what} strace as {user:?} followed no child: {o:?}"
            );
        }
    }
}

#[test]
fn gdb_runs_a_program_inside() {
    let Some(gdb) = require("gdb", "gdb") else {
        return;
    };
    let gdb = gdb.to_str().unwrap();
    let program = [
        gdb,
        "-nx",
        "-batch",
        "-ex",
        "run",
        "-ex",
        "bt",
        "--args",
        "/bin/true",
    ];
    for user in users() {
        let (control, inside) = both(user, &program);
        for (what, o) in [("control", &control), ("sandboxed", &inside)] {
            assert!(
                o.stdout.contains("exited normally]"),
                "{what} gdb as {user:?} did not run /bin/true: {o:?}"
            );
            // Nothing refused: not ptrace, not personality(ADDR_NO_RANDOMIZE).
            assert!(
                !o.stderr.contains("not permitted") && !o.stderr.contains("Error disabling"),
                "{what} gdb as {user:?}: {o:?}"
            );
            // `bt` after the program ended: "No stack." (and gdb's status 1), both times.
            assert!(o.stderr.contains("No stack."), "{what}: {o:?}");
        }
        assert_eq!(control.code(), inside.code(), "{control:?} / {inside:?}");
    }
}

/// A C program built with `-fsanitize=address` that leaks 1234 bytes when given an argument.
fn asan_program() -> Option<PathBuf> {
    let gcc = require("gcc", "gcc (for an AddressSanitizer program)")?;
    let dir = scratch_dir("asan");
    let source = dir.join("leak.c");
    std::fs::write(
        &source,
        "#include <stdlib.h>\n\
         #include <stdio.h>\n\
         void *volatile sink;\n\
         int main(int argc, char **argv) {\n\
             sink = malloc(1234);\n\
             if (argc < 2) free(sink);\n\
             sink = 0;\n\
             puts(\"main done\");\n\
             return 0;\n\
         }\n",
    )
    .expect("write leak.c");
    let exe = dir.join("leak");
    let o = output(
        Command::new(gcc)
            .args(["-fsanitize=address", "-g", "-O0", "-o"])
            .arg(&exe)
            .arg(&source),
    );
    if o.code() != Some(0) {
        network_sandbox_escape_tests::skipped(
            &format!("gcc cannot build with -fsanitize=address (libasan missing?): {o:?}"),
            None,
        );
        return None;
    }
    Some(exe)
}

#[test]
fn leak_sanitizer_reports_a_leak_inside() {
    let Some(exe) = asan_program() else {
        return;
    };
    let exe = exe.to_str().unwrap();
    for user in users() {
        // No leak: exit 0 (LeakSanitizer ran: it stops the world with ptrace at exit).
        let (control, inside) = both(user, &[exe]);
        for (what, o) in [("control", &control), ("sandboxed", &inside)] {
            assert_eq!(o.code(), Some(0), "{what} as {user:?}: {o:?}");
            assert!(o.stdout.contains("main done"), "{what}: {o:?}");
            assert!(!o.stderr.contains("LeakSanitizer"), "{what}: {o:?}");
        }
        // A leak: reported, and the program fails (AddressSanitizer's exit code, 1).
        let (control, inside) = both(user, &[exe, "leak"]);
        for (what, o) in [("control", &control), ("sandboxed", &inside)] {
            assert!(
                o.stderr
                    .contains("ERROR: LeakSanitizer: detected memory leaks")
                    && o.stderr.contains("Direct leak of 1234 byte(s)"),
                "{what} as {user:?}: {o:?}"
            );
            assert!(
                !o.stderr.contains("fatal error"),
                "{what} as {user:?}: {o:?}"
            );
            assert_eq!(o.code(), Some(1), "{what} as {user:?}: {o:?}");
        }
    }
}

/// `check` says whether debuggers work, and why not when they do not.
#[test]
fn check_says_whether_tracing_is_allowed() {
    let o = output(common::ns(&["check", "--allow", ALLOW]));
    assert!(
        o.stdout.contains(
            "ptrace and process_vm_readv/writev allowed between the sandbox's own processes only"
        ),
        "{o:?}"
    );
    let o = output(common::ns(&[
        "check",
        "--allow",
        ALLOW,
        "--keep-capability",
        "CAP_SYS_ADMIN",
    ]));
    assert!(
        o.stdout.contains(
            "ptrace and process_vm_readv/writev refused (EPERM): the policy keeps CAP_SYS_ADMIN"
        ),
        "{o:?}"
    );
}

/// With `CAP_SYS_ADMIN` kept, ptrace stays refused: strace cannot start its child (the same
/// command works in the default sandbox, `strace_follows_a_child_inside`).
#[test]
fn keeping_cap_sys_admin_keeps_debuggers_out() {
    let Some(strace) = require("strace", "strace") else {
        return;
    };
    let mut cmd = Command::new(common::bin());
    cmd.args([
        "run",
        "--allow",
        ALLOW,
        "--keep-capability",
        "CAP_SYS_ADMIN",
        "--",
    ])
    .arg(strace)
    .args(["-f", "-e", "trace=none", "/bin/true"]);
    let o = output(cmd);
    assert_ne!(o.code(), Some(0), "{o:?}");
    assert!(o.stderr.contains("Operation not permitted"), "{o:?}");
}
