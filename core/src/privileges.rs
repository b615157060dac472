//! What the sandbox takes away from a privileged program besides the network calls: the
//! capabilities that configure the network or the kernel ([`crate::capabilities`]) and
//! write access to kernel tunables ([`crate::mount_ns`]). Run by the installer after the
//! supervisor is forked (the supervisor keeps what it had: it needs no capability) and
//! before the seccomp program (which refuses the mount calls).

use std::io;
use std::path::PathBuf;

use crate::capabilities;
use crate::mount_ns::{self, Bind, Outcome, Plan};
use crate::report::{Layer, LayerReport, Status};

/// Creates the mount namespace (tunables read-only, and `binds`: the allowed names' hosts
/// file and resolver configuration, which must be in place when there are any), then drops
/// the capabilities but the default ones and `keep` (the policy's `keep_capabilities`, a bit
/// mask); every one of them when the namespace was made in a user namespace (they were
/// given by that namespace, for the mounts only).
pub fn confine(keep: u64, binds: &[(PathBuf, PathBuf)]) -> io::Result<LayerReport> {
    let mut plan = Plan::kernel_tunables();
    plan.binds = binds
        .iter()
        .map(|(source, target)| Bind {
            source: source.clone(),
            target: target.clone(),
        })
        .collect();
    plan.required = !binds.is_empty();
    let ns = mount_ns::enter(&plan)?;
    let dropped = if matches!(
        ns,
        Outcome::Entered {
            user_namespace: true,
            ..
        }
    ) {
        capabilities::drop_all()?
    } else {
        capabilities::drop_all_but_kept(keep)?
    };
    // Capabilities left in the bounding set of a process that had none of them cannot come
    // back: no_new_privs (set by the installer) keeps execve from granting any.
    // Root without capabilities still owns the tunables (their permissions are by mode).
    // SAFETY: geteuid has no preconditions.
    let privileged = !dropped.removed.is_empty() || unsafe { libc::geteuid() } == 0;
    let status = if privileged && !ns.complete() {
        Status::Partial
    } else {
        Status::Enforced
    };
    Ok(LayerReport {
        layer: Layer::Privileges,
        status,
        detail: format!("{}; {}", dropped.describe(), ns.describe()),
    })
}

/// What [`confine`] would do with `keep`, decided without changing anything; `names`: the
/// policy allows names, so their files are bound too.
pub fn preview(keep: u64, names: bool) -> LayerReport {
    let (eff, perm, bounding) = capabilities::current().unwrap_or((0, 0, 0));
    let held = eff | perm | bounding;
    let to_drop: Vec<String> = (0..=capabilities::last_cap().min(63))
        .filter(|&c| !capabilities::kept_with(c, keep) && held & (1 << c) != 0)
        .map(capabilities::name)
        .collect();
    let names = if names {
        ", and the allowed names' hosts file, nsswitch.conf and resolv.conf"
    } else {
        ""
    };
    let ns = if eff & (1 << 21) != 0 {
        format!(
            "a private mount namespace with {} read-only{names}",
            mount_ns::KERNEL_TUNABLES.join(", ")
        )
    } else if !names.is_empty() {
        format!(
            "a private mount namespace in a user namespace mapping only this uid and gid \
             (every capability it gives dropped), with {} read-only{names}",
            mount_ns::KERNEL_TUNABLES.join(", ")
        )
    } else {
        Outcome::NotEntered("unprivileged (no CAP_SYS_ADMIN); the tunables belong to root".into())
            .describe()
    };
    let mut caps = if to_drop.is_empty() {
        "no capability to drop".to_owned()
    } else {
        format!("would drop {}", to_drop.join(", "))
    };
    if let Some(requested) = capabilities::describe_requested(keep, perm) {
        caps.push_str("; ");
        caps.push_str(&requested.replacen("kept at", "would keep at", 1));
    }
    LayerReport {
        layer: Layer::Privileges,
        status: Status::Enforced,
        detail: format!("{caps}; {ns}"),
    }
}
