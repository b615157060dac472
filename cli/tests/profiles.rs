//! System call profiles through the command (issue 14): real calls that `@system-service`
//! refuses, each made first without the sandbox (the control) and then under
//! `network-sandbox run --syscalls @system-service`, as root and as nobody.
//!
//! The controls must not change the machine: every call gets arguments that make the
//! kernel refuse it harmlessly (a path that does not exist, a bad magic number, an invalid
//! time, bad flags, a pointer the kernel cannot read), so that root's control fails with
//! another errno than the sandbox's `EPERM`. For nobody most of these calls fail with
//! `EPERM` anyway (the kernel checks the capability first); the calls the profile refuses
//! itself are told apart by the supervisor's line naming the call and its group, the ones
//! the network rules refuse (mount, pivot_root, init_module, kexec_load, silently with
//! `EPERM`) only where the control's errno differs; the others are reported as skipped.

mod common;

use std::process::Command;

use common::*;

/// Makes one system call by name with harmless arguments and prints `ok` or `err ERRNO`.
const CALLER: &str = r#"
import ctypes, errno, platform, sys
x86 = platform.machine() == "x86_64"
numbers = {
    "mount": (165, 40), "swapon": (167, 224), "reboot": (169, 142),
    "init_module": (175, 105), "settimeofday": (164, 170), "pivot_root": (155, 41),
    "kexec_load": (246, 104), "getppid": (110, 173), "unused": (400, 400),
}
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
name = sys.argv[1]
nr = numbers[name][0 if x86 else 1]
image = ctypes.create_string_buffer(4)
# A timeval with 2 000 000 microseconds: invalid before any permission check.
bad_time = (ctypes.c_long * 2)(0, 2000000)
args = {
    # type points nowhere: EFAULT before the permission check.
    "mount": (b"none", b"/nonexistent-network-sandbox", ctypes.c_void_p(1), 0, None),
    "swapon": (b"/nonexistent-network-sandbox-swap", 0),
    "reboot": (0, 0, 0, None),
    "init_module": (image, 4, b""),
    "settimeofday": (bad_time, None),
    "pivot_root": (b"/nonexistent-network-sandbox", b"/nonexistent-network-sandbox"),
    "kexec_load": (0, 0, None, ctypes.c_ulong(0xdead0000)),
    "getppid": (),
    "unused": (),
}[name]
ret = libc.syscall(ctypes.c_long(nr), *args)
if ret < 0:
    print("err " + errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno())))
else:
    print("ok")
"#;

/// (call, group it is refused by: `None` for the network rules' silent refusals).
const CALLS: [(&str, Option<&str>); 7] = [
    ("mount", None),
    ("swapon", Some("@swap")),
    ("reboot", Some("@reboot")),
    ("init_module", None),
    ("settimeofday", Some("@clock")),
    ("pivot_root", None),
    ("kexec_load", None),
];

/// python3 and the caller script, written once (the tests run in parallel).
fn caller() -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    static SCRIPT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let python = python()?;
    let script = SCRIPT.get_or_init(|| {
        let script = scratch_dir("profiles").join("call.py");
        std::fs::write(&script, CALLER).expect("write the caller");
        script
    });
    Some((python, script.clone()))
}

fn attempt(user: User, sandboxed: bool, call: &str) -> Output {
    let (python, script) = caller().expect("python3 checked by the caller");
    let mut cmd = if sandboxed {
        let mut c = Command::new(bin());
        c.args(["run", "--syscalls", "@system-service", "--"]);
        c.arg(&python);
        c
    } else {
        Command::new(&python)
    };
    cmd.arg(&script).arg(call);
    as_user(&mut cmd, user);
    output(&mut cmd)
}

fn refused_under_system_service(user: User) {
    if caller().is_none() {
        return;
    }
    for (call, group) in CALLS {
        let control = attempt(user, false, call);
        let control_result = control.stdout.trim().to_owned();
        assert!(
            control_result.starts_with("err "),
            "{call} ({user:?}): the control must fail harmlessly: {control:?}"
        );
        let out = attempt(user, true, call);
        assert_eq!(out.code(), Some(0), "{call} ({user:?}): {out:?}");
        assert_eq!(out.stdout.trim(), "err EPERM", "{call} ({user:?}): {out:?}");
        let line = "denied system call by pid ";
        let named = out.stderr.lines().any(|l| {
            l.contains(line)
                && group.is_some_and(|g| {
                    l.contains(&format!(": {call} ({g}) is not in the policy's syscalls"))
                })
        });
        match group {
            // Refused by the profile: the supervisor's line names the call and its group,
            // which the kernel's own refusal (the control) never prints.
            Some(g) => assert!(
                named,
                "{call} ({user:?}): no line naming {call} ({g}): {out:?}"
            ),
            // Refused by the network rules, before the profile: EPERM without a line.
            None => {
                assert!(!out.stderr.contains(line), "{call} ({user:?}): {out:?}");
                if control_result == "err EPERM" {
                    network_sandbox_escape_tests::skipped(
                        &format!(
                            "{call} as {user:?}: the kernel refuses the control with EPERM too \
                             (missing capability), so the sandbox's EPERM proves nothing here"
                        ),
                        None,
                    );
                }
            }
        }
    }
}

#[test]
fn system_service_refuses_system_wide_calls_as_root() {
    refused_under_system_service(User::Root);
}

#[test]
fn system_service_refuses_system_wide_calls_as_nobody() {
    if !is_root() {
        network_sandbox_escape_tests::skipped("switching to nobody needs root", None);
        return;
    }
    refused_under_system_service(User::Nobody);
}

#[test]
fn the_root_controls_fail_with_another_errno() {
    // As root every control gets past the permission checks to the harmless failure, so
    // the sandbox's EPERM is its own.
    if !is_root() || caller().is_none() {
        return;
    }
    for (call, _) in CALLS {
        let control = attempt(User::Root, false, call);
        assert_ne!(control.stdout.trim(), "err EPERM", "{call}: {control:?}");
        assert_ne!(control.stdout.trim(), "ok", "{call}: {control:?}");
    }
}

#[test]
fn a_deny_list_refuses_with_the_chosen_errno_and_audit_lets_through() {
    let Some(_) = caller() else { return };
    let (python, script) = caller().unwrap();
    let run = |flags: &[&str]| {
        let mut c = Command::new(bin());
        c.arg("run")
            .args(flags)
            .arg("--")
            .arg(&python)
            .arg(&script)
            .arg("swapon");
        output(&mut c)
    };
    let out = run(&["--deny-syscalls", "@swap", "--syscall-refusal", "ENOSYS"]);
    assert_eq!(out.stdout.trim(), "err ENOSYS", "{out:?}");
    assert!(
        out.stderr.contains(": swapon (@swap) is in the policy's deny_syscalls; to allow it, remove swapon from deny_syscalls"),
        "{out:?}"
    );
    // Audit mode: reported, then the kernel runs it.
    let mut c = Command::new(bin());
    c.args(["run", "--deny-syscalls", "getppid", "--audit", "--"])
        .arg(&python)
        .arg(&script)
        .arg("getppid");
    let out = output(&mut c);
    assert_eq!(out.stdout.trim(), "ok", "{out:?}");
    assert!(
        out.stderr.contains("audit: would deny system call by pid ")
            && out
                .stderr
                .contains(": getppid (@default) is in the policy's deny_syscalls"),
        "{out:?}"
    );
    // Kill: the kernel ends the process with SIGSYS, no line.
    let out = run(&["--deny-syscalls", "@swap", "--syscall-refusal", "kill"]);
    assert_eq!(out.signal(), Some(libc::SIGSYS), "{out:?}");
    assert_eq!(out.stdout.trim(), "", "{out:?}");
}

#[test]
fn an_allow_list_refuses_numbers_no_call_has() {
    let Some(_) = caller() else { return };
    // The control: no such call (ENOSYS from the kernel).
    let control = attempt(User::Root, false, "unused");
    assert_eq!(control.stdout.trim(), "err ENOSYS", "{control:?}");
    let out = attempt(User::Root, true, "unused");
    assert_eq!(out.stdout.trim(), "err EPERM", "{out:?}");
    assert!(
        out.stderr.contains(
            "denied system call by pid ",
        ) && out.stderr.contains("system call 400, which the policy compiler does not know, is outside the policy's syscalls"),
        "{out:?}"
    );
}

#[test]
fn learn_lists_the_calls_used_outside_the_profile() {
    let Some((python, script)) = caller() else {
        return;
    };
    let dir = scratch_dir("profiles-learn");
    let file = dir.join("learned.toml");
    let _ = std::fs::remove_file(&file);
    let mut c = Command::new(bin());
    c.args(["run", "--syscalls", "@system-service", "--learn"])
        .arg(&file)
        .arg("--")
        .arg(&python)
        .arg(&script)
        .arg("reboot");
    let out = output(&mut c);
    assert_eq!(out.code(), Some(0), "{out:?}");
    let learned = std::fs::read_to_string(&file).expect("the learned policy");
    assert!(
        learned.contains("#   reboot (@reboot): by python3"),
        "{learned}"
    );
}

#[test]
fn bad_names_on_the_command_line_point_at_the_flag() {
    let out = output(ns(&[
        "check",
        "--syscalls",
        "@system-service,@sytem-service",
    ]));
    assert_eq!(out.code(), Some(2), "{out:?}");
    assert!(
        out.stderr.contains("in --syscalls: `@sytem-service` is not a system call group this compiler knows: did you mean `@system-service`?"),
        "{out:?}"
    );
    let out = output(ns(&[
        "check",
        "--syscalls",
        "@basic-io,exit,exit_group,rt_sigreturn",
    ]));
    assert_eq!(out.code(), Some(2), "{out:?}");
    assert!(
        out.stderr.contains("the profile refuses `execve`"),
        "{out:?}"
    );
    let out = output(ns(&[
        "explain",
        "--syscalls",
        "@system-service",
        "--deny-syscalls",
        "@sync",
    ]));
    assert_eq!(out.code(), Some(0), "{out:?}");
    assert!(out.stdout.contains("    @swap: swapoff, swapon"), "{out:?}");
    assert!(
        out.stdout.contains("    @sync: fdatasync, fsync"),
        "{out:?}"
    );
}
