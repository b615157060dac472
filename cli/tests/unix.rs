//! `unix:` endpoints on the command line (issue 12 item 2): `ssh-add` reaches an
//! `ssh-agent` whose socket is allowed and is refused, with a line saying what to add, when
//! only another socket is; the control is the same `ssh-add` without the sandbox. As root
//! and as uid 65534 (each with an agent of its own user: the agent serves only its user).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{as_user, is_root, ns_run, output, require, scratch_dir, Guard, User, NOBODY};

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
