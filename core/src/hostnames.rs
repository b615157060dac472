//! Allowed names: resolved by the sandbox before it confines the program, and answered to the
//! program from files that hold exactly those answers.
//!
//! 1. [`resolve`]: every allowed name that is not pinned is looked up with the machine's own
//!    configuration (`getaddrinfo`: the hosts file, the resolver, whatever `nsswitch.conf`
//!    says), A and AAAA. A pinned name is looked up by nobody. A name that does not resolve
//!    stops the installation unless the policy says `unresolved = "unknown"`.
//! 2. [`Files`]: the hosts file (`localhost` and each allowed name with its addresses), an
//!    `nsswitch.conf` whose `hosts:` line is `files`, and a `resolv.conf` that names no
//!    reachable server. The installer binds them over `/etc/hosts`, `/etc/nsswitch.conf` and
//!    `/etc/resolv.conf` in the sandbox's private mount namespace ([`crate::mount_ns`]), so
//!    that every resolver that follows the system configuration (glibc, Go's own, c-ares,
//!    hickory) answers the allowed names from the hosts file and every other name with its
//!    usual "unknown host" error, without a query.
//!
//! The supervisor is the second line: a DNS query is a UDP or TCP packet to a server, and
//! the policy does not allow it unless it names a resolver (which `check` warns about).

use std::io;
use std::net::{IpAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use crate::policy::{canonical_ip, Policy, Unresolved};

/// A name and the addresses it resolved to (or was pinned to).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    /// The name.
    pub name: String,
    /// Its addresses, IPv4 first, without repeats; empty when it did not resolve and the
    /// policy allowed that.
    pub addresses: Vec<IpAddr>,
    /// Whether the addresses come from the policy.
    pub pinned: bool,
    /// Why it has no address, when it did not resolve.
    pub failure: Option<String>,
}

/// An allowed name that does not resolve, with why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unresolvable {
    /// The name.
    pub name: String,
    /// What the lookup said.
    pub why: String,
}

/// Resolves every distinct name of `policy` (pinned names are not looked up). `Err` lists
/// the names that did not resolve when the policy refuses to start without them.
pub fn resolve(policy: &Policy) -> Result<Vec<Resolution>, Vec<Unresolvable>> {
    let mut out: Vec<Resolution> = Vec::new();
    for n in policy.names() {
        if let Some(r) = out.iter_mut().find(|r| r.name == n.name()) {
            for a in n.pinned() {
                if !r.addresses.contains(a) {
                    r.addresses.push(*a);
                }
            }
            r.pinned |= !n.pinned().is_empty();
            continue;
        }
        out.push(Resolution {
            name: n.name().to_owned(),
            addresses: n.pinned().to_vec(),
            pinned: !n.pinned().is_empty(),
            failure: None,
        });
    }
    let mut failed = Vec::new();
    for r in out.iter_mut().filter(|r| !r.pinned) {
        match lookup(&r.name) {
            Ok(a) => r.addresses = a,
            Err(why) => {
                failed.push(Unresolvable {
                    name: r.name.clone(),
                    why: why.clone(),
                });
                r.failure = Some(why);
            }
        }
    }
    if !failed.is_empty() && policy.options().unresolved == Unresolved::Refuse {
        return Err(failed);
    }
    Ok(out)
}

/// The A and AAAA addresses of `name`, through `getaddrinfo` (what `std` calls).
pub fn lookup(name: &str) -> Result<Vec<IpAddr>, String> {
    let found = (name, 0u16).to_socket_addrs().map_err(|e| e.to_string())?;
    let mut addrs: Vec<IpAddr> = Vec::new();
    for a in found {
        let ip = canonical_ip(a.ip());
        if !addrs.contains(&ip) {
            addrs.push(ip);
        }
    }
    // IPv4 first, then IPv6, each in the order the resolver gave.
    addrs.sort_by_key(|a| a.is_ipv6());
    if addrs.is_empty() {
        return Err("no address".into());
    }
    Ok(addrs)
}

/// The pairs `(name, addresses)` [`Policy::with_resolved`] takes.
pub fn address_table(resolutions: &[Resolution]) -> Vec<(String, Vec<IpAddr>)> {
    resolutions
        .iter()
        .map(|r| (r.name.clone(), r.addresses.clone()))
        .collect()
}

/// What `/etc/hosts` holds in the sandbox: `localhost`, then one line per address of each
/// name, with the name written with and without its trailing dot.
pub fn hosts_file(resolutions: &[Resolution]) -> String {
    let mut s = String::from(
        "# network-sandbox: the names this program may reach, and nothing else.\n\
         127.0.0.1 localhost\n\
         ::1 localhost\n",
    );
    for r in resolutions {
        for a in &r.addresses {
            s.push_str(&format!("{a} {name} {name}.\n", name = r.name));
        }
    }
    s
}

/// The machine's `nsswitch.conf` with its `hosts:` line replaced by `hosts: files` (one is
/// added if there is none): names come from the hosts file only, never from DNS, mDNS,
/// `systemd-resolved` or another service.
pub fn nsswitch_conf(original: &str) -> String {
    let mut s = String::new();
    let mut replaced = false;
    for line in original.lines() {
        let key = line.split(':').next().unwrap_or_default().trim();
        if key == "hosts" && line.contains(':') && !line.trim_start().starts_with('#') {
            if !replaced {
                s.push_str("hosts: files\n");
            }
            replaced = true;
        } else {
            s.push_str(line);
            s.push('\n');
        }
    }
    if !replaced {
        s.push_str("hosts: files\n");
    }
    s
}

/// What `/etc/resolv.conf` holds in the sandbox: a nameserver that is no server. A resolver
/// that ignores `nsswitch.conf` and asks DNS anyway (musl, c-ares' `resolve`) sends its
/// query to `0.0.0.0`, which no policy endpoint names (the grammar refuses it) and so the
/// supervisor refuses; one try, one second at most.
pub const RESOLV_CONF: &str =
    "# network-sandbox: no DNS server is reachable; allowed names are in /etc/hosts.\n\
nameserver 0.0.0.0\n\
options timeout:1 attempts:1\n";

/// The system files the sandbox replaces, in the order they are bound.
pub const TARGETS: [&str; 3] = ["/etc/hosts", "/etc/nsswitch.conf", "/etc/resolv.conf"];

/// The replacement files, written to a private directory until they are bound.
pub struct Files {
    dir: PathBuf,
    /// `(source, target)` for each of [`TARGETS`].
    pub binds: Vec<(PathBuf, PathBuf)>,
}

impl Files {
    /// Writes the three files for `resolutions` into a new directory (mode 0700) under the
    /// temporary directory. Every target must exist: a bind needs a file to cover, and a
    /// missing `nsswitch.conf` would make glibc ask DNS.
    pub fn write(resolutions: &[Resolution]) -> io::Result<Files> {
        for t in TARGETS {
            // `metadata` follows a symbolic link, as the bind does.
            if !Path::new(t).metadata().is_ok_and(|m| m.is_file()) {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{t} is not a file on this system, so the sandbox cannot replace it"),
                ));
            }
        }
        let nsswitch = std::fs::read_to_string("/etc/nsswitch.conf")?;
        let dir = private_dir()?;
        let files = Files {
            binds: Vec::new(),
            dir,
        };
        let contents = [
            hosts_file(resolutions),
            nsswitch_conf(&nsswitch),
            RESOLV_CONF.to_owned(),
        ];
        let mut files = files;
        for (target, text) in TARGETS.iter().zip(contents) {
            let name = Path::new(target).file_name().expect("a file name");
            let source = files.dir.join(name);
            std::fs::write(&source, text)?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&source, std::fs::Permissions::from_mode(0o644))?;
            files.binds.push((source, PathBuf::from(target)));
        }
        Ok(files)
    }
}

impl Drop for Files {
    /// Removes the directory: once bound, the files live on in the namespace.
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A new directory only this user can enter.
fn private_dir() -> io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::env::temp_dir();
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    for attempt in 0..16u32 {
        let dir = base.join(format!(
            "network-sandbox-hosts-{}-{stamp}-{attempt}",
            std::process::id()
        ));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "cannot create a private directory for the hosts file",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Name, Options, PortRange, Protocol};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn policy(names: Vec<Name>, unresolved: Unresolved) -> Policy {
        Policy::new(
            Vec::new(),
            Vec::new(),
            Options {
                unresolved,
                ..Options::default()
            },
        )
        .with_names(names)
    }

    fn name(n: &str, pinned: &[&str]) -> Name {
        Name::new(
            n.into(),
            Protocol::Tcp,
            PortRange::new(443, 443),
            pinned.iter().map(|p| ip(p)).collect(),
        )
    }

    #[test]
    fn pinned_names_are_not_looked_up_and_merge() {
        let p = policy(
            vec![
                name("a.invalid", &["192.0.2.1"]),
                name("a.invalid", &["2001:db8::1", "192.0.2.1"]),
            ],
            Unresolved::Refuse,
        );
        let r = resolve(&p).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].addresses, vec![ip("192.0.2.1"), ip("2001:db8::1")]);
        assert!(r[0].pinned);
    }

    #[test]
    fn localhost_resolves() {
        // `localhost` is in every hosts file (a name that does not resolve is tested with a
        // DNS server of the tests' own, in `cli/tests/hostnames.rs`: asking the machine's
        // resolver would send a query off this machine).
        let p = policy(vec![name("localhost", &[])], Unresolved::Refuse);
        let r = resolve(&p).unwrap();
        assert!(r[0].addresses.contains(&ip("127.0.0.1")), "{r:?}");
        assert!(!r[0].pinned && r[0].failure.is_none());
    }

    #[test]
    fn files_hold_the_answers() {
        let r = vec![Resolution {
            name: "a.test".into(),
            addresses: vec![ip("127.0.0.2"), ip("::1")],
            pinned: true,
            failure: None,
        }];
        let hosts = hosts_file(&r);
        assert!(hosts.contains("\n127.0.0.2 a.test a.test.\n"), "{hosts}");
        assert!(hosts.contains("\n::1 a.test a.test.\n"), "{hosts}");
        assert!(hosts.contains("127.0.0.1 localhost\n"), "{hosts}");
        let ns =
            nsswitch_conf("passwd: files\n# hosts: dns\nhosts:   files mdns4 dns\nhosts: dns\n");
        assert_eq!(ns, "passwd: files\n# hosts: dns\nhosts: files\n");
        assert_eq!(
            nsswitch_conf("passwd: files"),
            "passwd: files\nhosts: files\n"
        );
    }

    #[test]
    fn resolved_endpoints_remember_their_name() {
        let p = policy(vec![name("a.test", &["127.0.0.2"])], Unresolved::Refuse);
        let e = p.with_resolved(&[("a.test".into(), vec![ip("127.0.0.2"), ip("::1")])]);
        assert_eq!(e.endpoints().len(), 2);
        assert_eq!(e.name_of(0), Some("a.test"));
        assert_eq!(e.name_of(1), Some("a.test"));
        assert_eq!(e.name_of(2), None);
        assert_eq!(
            e.permits(Protocol::Tcp, "127.0.0.2:443".parse().unwrap()),
            Some(0)
        );
        let why = e
            .why_not(Protocol::Tcp, "127.0.0.2:80".parse().unwrap())
            .unwrap();
        assert!(why.contains("tcp://a.test:443"), "{why}");
        let why = e
            .why_not(Protocol::Tcp, "127.0.0.3:443".parse().unwrap())
            .unwrap();
        assert_eq!(why, "no allowed name resolves to 127.0.0.3");
        assert_eq!(
            p.why_not(Protocol::Tcp, "127.0.0.3:443".parse().unwrap()),
            None,
            "before resolution there is nothing to say"
        );
    }
}
