//! Allowed names: resolved by the sandbox before it confines the program, and answered to the
//! program from files that hold exactly those answers.
//!
//! 1. [`resolve`]: every allowed name that is not pinned is looked up with the machine's own
//!    configuration (`getaddrinfo`: the hosts file, the resolver, whatever `nsswitch.conf`
//!    says), A and AAAA. A pinned name is looked up by nobody. A name that does not resolve
//!    stops the installation unless the policy says `unresolved = "unknown"`.
//! 2. [`Files`]: the hosts file (`localhost` and each allowed name with its addresses), an
//!    `nsswitch.conf` whose `hosts:` line is `files`, and a `resolv.conf` that names only
//!    the sandbox's DNS answerer (`answerer.rs`; no server at all when it could not
//!    be started). The installer binds them over `/etc/hosts`, `/etc/nsswitch.conf` and
//!    `/etc/resolv.conf` in the sandbox's private mount namespace (`mount_ns`), so
//!    that every resolver that follows `nsswitch.conf` (glibc, Go's own) answers the
//!    allowed names from the hosts file and every other name with its usual "unknown
//!    host" error, without a query, and resolvers that speak DNS themselves (musl, c-ares,
//!    hickory) ask the answerer, which answers from the same table and forwards nothing.
//!
//! The supervisor is the second line: a DNS query to any other server is a UDP or TCP
//! packet the policy does not allow unless it names a resolver (which `check` warns
//! about).

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use crate::dns_wire;
use crate::policy::{
    canonical_ip, reaches_this_machine, Policy, Refresh, Unresolved,
    UNSPECIFIED_REACHES_THIS_MACHINE,
};

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
    /// Addresses it resolved to (or was pinned to) that were left out of its table because
    /// they reach this machine whatever the policy says ([`reaches_this_machine`]: `0.0.0.0`,
    /// `::`); see [`left_out_line`].
    pub left_out: Vec<IpAddr>,
}

/// Splits `addrs` into those a name may have and the unspecified ones
/// ([`reaches_this_machine`]), which are left out of every name's table.
pub fn keep_specified(addrs: Vec<IpAddr>) -> (Vec<IpAddr>, Vec<IpAddr>) {
    addrs.into_iter().partition(|a| !reaches_this_machine(*a))
}

/// The warning for a name whose answers held unspecified addresses (ad-blocking hosts files
/// and DNS blockers answer `0.0.0.0`): `sink.test: 0.0.0.0 left out: an unspecified address
/// reaches this machine (…)`. `None` when nothing was left out.
pub fn left_out_line(r: &Resolution) -> Option<String> {
    left_out_why(&r.left_out).map(|why| format!("{}: {why}", r.name))
}

/// [`left_out_line`] without the name: `0.0.0.0 left out: …`.
fn left_out_why(left_out: &[IpAddr]) -> Option<String> {
    if left_out.is_empty() {
        return None;
    }
    let addrs: Vec<String> = left_out.iter().map(|a| a.to_string()).collect();
    Some(format!(
        "{} left out: {UNSPECIFIED_REACHES_THIS_MACHINE}",
        addrs.join(", ")
    ))
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
            left_out: Vec::new(),
        });
    }
    let mut failed = Vec::new();
    for r in out.iter_mut() {
        let found = if r.pinned {
            Ok(std::mem::take(&mut r.addresses))
        } else {
            lookup(&r.name)
        };
        // An unspecified address is left out; a name left with none does not resolve.
        let found = found.and_then(|a| {
            let (kept, left_out) = keep_specified(a);
            r.left_out = left_out;
            if kept.is_empty() {
                Err(left_out_why(&r.left_out).expect("an address was left out"))
            } else {
                Ok(kept)
            }
        });
        match found {
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

/// What `/etc/hosts` holds in the sandbox: `localhost` (unless it is an allowed name), then
/// one line per address of each name, with the name written with and without its trailing
/// dot.
pub fn hosts_file(resolutions: &[Resolution]) -> String {
    let mut s =
        String::from("# network-sandbox: the names this program may reach, and nothing else.\n");
    // `localhost` answers as usual, unless it is an allowed name: then with exactly the
    // addresses it has in the allow list.
    if !resolutions.iter().any(|r| r.name == "localhost") {
        s.push_str("127.0.0.1 localhost\n::1 localhost\n");
    }
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
    nsswitch_with_hosts(original, "hosts: files")
}

/// Learn mode's `nsswitch.conf`: the machine's, with its `hosts:` line replaced by
/// `hosts: files dns`, so that every name the hosts file does not hold is asked of the
/// sandbox's answerer, which sees it ([`RESOLV_CONF_LEARNING`]).
pub fn nsswitch_conf_learning(original: &str) -> String {
    nsswitch_with_hosts(original, "hosts: files dns")
}

fn nsswitch_with_hosts(original: &str, hosts: &str) -> String {
    let mut s = String::new();
    let mut replaced = false;
    for line in original.lines() {
        let key = line.split(':').next().unwrap_or_default().trim();
        if key == "hosts" && line.contains(':') && !line.trim_start().starts_with('#') {
            if !replaced {
                s.push_str(hosts);
                s.push('\n');
            }
            replaced = true;
        } else {
            s.push_str(line);
            s.push('\n');
        }
    }
    if !replaced {
        s.push_str(hosts);
        s.push('\n');
    }
    s
}

/// What `/etc/resolv.conf` holds in the sandbox when there is no DNS answerer: a nameserver
/// that is no server. A resolver that ignores `nsswitch.conf` and asks DNS anyway (musl,
/// c-ares' `resolve`) sends its query to `0.0.0.0`, which the supervisor never allows
/// whatever the policy says ([`crate::policy::reaches_this_machine`]). One try, and no wait for an answer
/// that cannot come: musl gives up at once with `timeout:0` (glibc, which never asks DNS
/// here, would read it as one second).
pub const RESOLV_CONF: &str =
    "# network-sandbox: no DNS server is reachable; allowed names are in /etc/hosts.\n\
nameserver 0.0.0.0\n\
options timeout:0 attempts:1\n";

/// What `/etc/resolv.conf` holds in the sandbox when the sandbox's DNS answerer runs
/// (`core/src/answerer.rs`): it is the only server, it answers at once (allowed names with
/// their addresses, every other name with NXDOMAIN), and it never forwards a query.
pub const RESOLV_CONF_ANSWERER: &str =
    "# network-sandbox: the sandbox answers DNS itself: allowed names, and NXDOMAIN for any other.\n\
nameserver 127.53.0.1\n\
options timeout:1 attempts:2\n";

/// What `/etc/resolv.conf` holds in learn mode: the sandbox's answerer, which answers the
/// policy's names, forwards every other query to the machine's own first nameserver, and
/// records the names and the addresses they had (`answerer.rs`, "Learn mode").
pub const RESOLV_CONF_LEARNING: &str =
    "# network-sandbox learn mode: the sandbox's answerer forwards to this machine's resolver and notes each name.\n\
nameserver 127.53.0.1\n\
options timeout:2 attempts:2\n";

/// Learn mode's hosts file: the machine's own `/etc/hosts`, as it is. The policy's names
/// are left out of it on purpose: looked up through DNS, they reach the answerer, which
/// answers them from its table and so sees the lookup. A name the machine's hosts file
/// holds is answered from it, without DNS, and so is learned as an address only.
pub fn hosts_file_learning(machine: &str) -> String {
    let mut s = String::from(machine);
    if !s.is_empty() && !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

/// The system files the sandbox replaces, in the order they are bound.
pub const TARGETS: [&str; 3] = ["/etc/hosts", "/etc/nsswitch.conf", "/etc/resolv.conf"];

/// The replacement files, written to a private directory until they are bound (and, when
/// the names are refreshed, until the supervisor has taken the hosts file over).
pub struct Files {
    /// The directory.
    pub dir: PathBuf,
    /// `(source, target)` for each of [`TARGETS`].
    pub binds: Vec<(PathBuf, PathBuf)>,
}

impl Files {
    /// Writes the three files for `resolutions` into a new directory (mode 0700) under the
    /// temporary directory. Every target must exist: a bind needs a file to cover, and a
    /// missing `nsswitch.conf` would make glibc ask DNS.
    /// `answerer`: the sandbox's DNS answerer runs, and `resolv.conf` names it
    /// ([`RESOLV_CONF_ANSWERER`]); else it names no server ([`RESOLV_CONF`]).
    pub fn write(resolutions: &[Resolution], answerer: bool) -> io::Result<Files> {
        let nsswitch = Self::machine_nsswitch()?;
        Self::write_contents([
            hosts_file(resolutions),
            nsswitch_conf(&nsswitch),
            if answerer {
                RESOLV_CONF_ANSWERER.to_owned()
            } else {
                RESOLV_CONF.to_owned()
            },
        ])
    }

    /// Learn mode's three files, for a sandbox whose answerer runs: the machine's hosts file
    /// ([`hosts_file_learning`]), `hosts: files dns`
    /// ([`nsswitch_conf_learning`]), and a `resolv.conf` naming the answerer
    /// ([`RESOLV_CONF_LEARNING`]).
    pub fn write_learning() -> io::Result<Files> {
        let nsswitch = Self::machine_nsswitch()?;
        let hosts = std::fs::read_to_string("/etc/hosts")?;
        Self::write_contents([
            hosts_file_learning(&hosts),
            nsswitch_conf_learning(&nsswitch),
            RESOLV_CONF_LEARNING.to_owned(),
        ])
    }

    /// The machine's `nsswitch.conf`, once every target is known to be a file.
    fn machine_nsswitch() -> io::Result<String> {
        for t in TARGETS {
            // `metadata` follows a symbolic link, as the bind does.
            if !Path::new(t).metadata().is_ok_and(|m| m.is_file()) {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{t} is not a file on this system, so the sandbox cannot replace it"),
                ));
            }
        }
        std::fs::read_to_string("/etc/nsswitch.conf")
    }

    /// Writes `contents` (one text per [`TARGETS`] entry) into a new private directory.
    fn write_contents(contents: [String; 3]) -> io::Result<Files> {
        let mut files = Files {
            binds: Vec::new(),
            dir: private_dir()?,
        };
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

impl Files {
    /// Rewrites `resolv.conf` (before it is bound) to name no server: there is no answerer
    /// after all.
    pub fn name_no_server(&self) -> io::Result<()> {
        std::fs::write(self.dir.join("resolv.conf"), RESOLV_CONF)
    }

    /// Leaves the directory in place: the supervisor's refresher opens the hosts file in it
    /// and removes it (`start_refresher`).
    pub fn keep(self) {
        std::mem::forget(self);
    }
}

impl Drop for Files {
    /// Removes the directory: once bound, the files live on in the namespace.
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Shortest and longest wait between two lookups of a name (its records' TTL, bounded).
pub const REFRESH_BOUNDS: (Duration, Duration) =
    (Duration::from_secs(30), Duration::from_secs(3600));

/// Shortest grace period: an address a name no longer has stays allowed at least this long
/// (and at least two refresh intervals), for connections the program is about to make with
/// an answer it already has.
pub const MIN_GRACE: Duration = Duration::from_secs(60);

/// Test hook: `INTERVAL_MS,GRACE_MS` replaces every refresh interval and the grace period.
#[doc(hidden)]
pub const TEST_REFRESH_ENV: &str = "NETWORK_SANDBOX_TEST_REFRESH";

/// How the supervisor refreshes the names' addresses.
#[derive(Clone, Debug)]
pub struct RefreshPlan {
    /// The directory holding the `hosts` file bound in the sandbox; the refresher opens the
    /// file, removes the directory, and rewrites the file in place (the bind shows the new
    /// contents).
    pub dir: PathBuf,
    /// `None`: at each name's records' TTL, within [`REFRESH_BOUNDS`]; else this interval.
    pub every: Option<Duration>,
    /// Grace period override (tests); else the longer of [`MIN_GRACE`] and two intervals.
    pub grace: Option<Duration>,
    /// Report each change on stderr (`NETWORK_SANDBOX_REPORT=1`, `run -v`).
    pub verbose: bool,
}

impl RefreshPlan {
    /// The plan for `refresh`, or `None` when addresses stay those found at start.
    pub fn new(refresh: Refresh, dir: PathBuf, verbose: bool) -> Option<RefreshPlan> {
        let every = match refresh {
            Refresh::Off => return None,
            Refresh::Ttl => None,
            Refresh::Every30s => Some(Duration::from_secs(30)),
            Refresh::Every5m => Some(Duration::from_secs(300)),
            Refresh::Every1h => Some(Duration::from_secs(3600)),
        };
        let mut plan = RefreshPlan {
            dir,
            every,
            grace: None,
            verbose,
        };
        if let Some((i, g)) = std::env::var(TEST_REFRESH_ENV).ok().and_then(|v| {
            v.split_once(',')
                .map(|(a, b)| (a.parse().ok(), b.parse().ok()))
        }) {
            plan.every = i.map(Duration::from_millis).or(plan.every);
            plan.grace = g.map(Duration::from_millis);
        }
        Some(plan)
    }
}

/// One address of a name: current (`until` is `None`) or retired and still allowed until
/// `until` (the grace period).
#[derive(Clone, Debug)]
struct Address {
    name: String,
    addr: IpAddr,
    until: Option<Instant>,
}

/// The names' addresses, shared by the supervisor's checks and its refresher.
#[derive(Debug)]
pub struct Table {
    entries: RwLock<Vec<Address>>,
    refresh: Option<RefreshPlan>,
}

impl Table {
    /// A table of `addresses`, all current, without the unspecified ones
    /// ([`reaches_this_machine`]), which no name may have.
    pub fn new(addresses: &[(String, Vec<IpAddr>)], refresh: Option<RefreshPlan>) -> Table {
        let entries = addresses
            .iter()
            .flat_map(|(name, addrs)| {
                addrs
                    .iter()
                    .filter(|a| !reaches_this_machine(**a))
                    .map(move |a| Address {
                        name: name.clone(),
                        addr: canonical_ip(*a),
                        until: None,
                    })
            })
            .collect();
        Table {
            entries: RwLock::new(entries),
            refresh,
        }
    }

    /// The names that have `ip` now or in their grace period.
    pub fn live_names_of(&self, ip: IpAddr) -> Vec<String> {
        let now = Instant::now();
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<String> = Vec::new();
        for e in entries.iter() {
            if e.addr == ip && e.until.is_none_or(|u| u > now) && !names.contains(&e.name) {
                names.push(e.name.clone());
            }
        }
        names
    }

    /// Each name with its current addresses (what the hosts file holds).
    pub fn current(&self) -> Vec<Resolution> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<Resolution> = Vec::new();
        for e in entries.iter().filter(|e| e.until.is_none()) {
            match out.iter_mut().find(|r| r.name == e.name) {
                Some(r) => r.addresses.push(e.addr),
                None => out.push(Resolution {
                    name: e.name.clone(),
                    addresses: vec![e.addr],
                    pinned: false,
                    failure: None,
                    left_out: Vec::new(),
                }),
            }
        }
        out
    }

    /// Makes `addrs` the current addresses of `name`: new ones join, ones it no longer has
    /// stay allowed for `grace`, expired ones (of any name) go. Returns what was added,
    /// retired and dropped.
    pub fn update(&self, name: &str, addrs: &[IpAddr], grace: Duration) -> Change {
        let now = Instant::now();
        let mut change = Change::default();
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        for e in entries.iter_mut().filter(|e| e.name == name) {
            let wanted = addrs.contains(&e.addr);
            match (wanted, e.until) {
                (false, None) => {
                    e.until = Some(now + grace);
                    change.retired.push(e.addr);
                }
                (true, Some(_)) => {
                    e.until = None;
                    change.added.push(e.addr);
                }
                _ => {}
            }
        }
        for a in addrs.iter().filter(|a| !reaches_this_machine(**a)) {
            if !entries.iter().any(|e| e.name == name && e.addr == *a) {
                entries.push(Address {
                    name: name.to_owned(),
                    addr: *a,
                    until: None,
                });
                change.added.push(*a);
            }
        }
        entries.retain(|e| {
            let keep = e.until.is_none_or(|u| u > now);
            if !keep {
                change.dropped.push((e.name.clone(), e.addr));
            }
            keep
        });
        change
    }
}

/// What [`Table::update`] changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Change {
    /// New current addresses.
    pub added: Vec<IpAddr>,
    /// Addresses the name no longer has, allowed for the grace period.
    pub retired: Vec<IpAddr>,
    /// Addresses whose grace period ended (of any name).
    pub dropped: Vec<(String, IpAddr)>,
}

/// In the supervisor, once the sandbox is in place: when the policy's names are refreshed,
/// takes the hosts file over and starts the thread that looks every unpinned name up again
/// at its records' TTL (bounded), updates the allow list and the hosts file, and reports
/// each change when asked to.
pub(crate) fn start_refresher(policy: &Policy) {
    let Some(table) = policy.resolved().cloned() else {
        return;
    };
    let Some(plan) = table.refresh.clone() else {
        return;
    };
    let names: Vec<String> = {
        let mut v: Vec<String> = Vec::new();
        let pinned: Vec<&str> = policy
            .names()
            .iter()
            .filter(|n| !n.pinned().is_empty())
            .map(|n| n.name())
            .collect();
        for n in policy.names() {
            if !pinned.contains(&n.name()) && !v.iter().any(|x| x == n.name()) {
                v.push(n.name().to_owned());
            }
        }
        v
    };
    // Not through a symbolic link: the directory is the user's (mode 0700), but nothing
    // written to it after the installer may redirect the supervisor's writes.
    let hosts = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(plan.dir.join("hosts"))
    };
    let _ = std::fs::remove_dir_all(&plan.dir);
    let mut hosts = match hosts {
        Ok(f) => f,
        Err(e) => {
            eprintln!("network-sandbox: names will not be refreshed: the hosts file: {e}");
            return;
        }
    };
    if names.is_empty() {
        return;
    }
    let _ = std::thread::Builder::new()
        .name("refresh".into())
        .spawn(move || {
            let mut due: Vec<(String, Instant, Duration)> = names
                .into_iter()
                .map(|n| (n, Instant::now(), REFRESH_BOUNDS.0))
                .collect();
            // The first lookups happened at start: wait one interval (or TTL) first.
            for d in due.iter_mut() {
                let wait = plan.every.unwrap_or_else(|| ttl_wait(&d.0));
                d.1 = Instant::now() + wait;
                d.2 = wait;
            }
            loop {
                let next = due.iter().map(|d| d.1).min().expect("a name");
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
                let now = Instant::now();
                for d in due.iter_mut().filter(|d| d.1 <= now) {
                    let wait = plan.every.unwrap_or_else(|| ttl_wait(&d.0));
                    let grace = plan
                        .grace
                        .unwrap_or_else(|| MIN_GRACE.max(wait * 2).max(d.2 * 2));
                    // Unspecified answers are left out, as at start; a name left with no
                    // address keeps the ones it had, as for a failed lookup.
                    let found = lookup(&d.0).and_then(|a| {
                        let (kept, left_out) = keep_specified(a);
                        let line = left_out_why(&left_out);
                        if let (true, Some(l)) = (plan.verbose, &line) {
                            eprintln!("network-sandbox: refresh: {}: {l}", d.0);
                        }
                        match (kept.is_empty(), line) {
                            (true, Some(l)) => Err(l),
                            _ => Ok(kept),
                        }
                    });
                    match found {
                        Ok(addrs) => {
                            let change = table.update(&d.0, &addrs, grace);
                            if !change.added.is_empty() || !change.retired.is_empty() {
                                rewrite_hosts(&mut hosts, &table.current());
                            }
                            if plan.verbose {
                                report(&d.0, &change, grace);
                            }
                        }
                        Err(why) => {
                            if plan.verbose {
                                eprintln!(
                                    "network-sandbox: refresh: {}: lookup failed ({why}); \
                                     its addresses stay as they were",
                                    d.0
                                );
                            }
                        }
                    }
                    d.1 = Instant::now() + wait;
                    d.2 = wait;
                }
            }
        });
}

fn report(name: &str, change: &Change, grace: Duration) {
    for a in &change.added {
        eprintln!("network-sandbox: refresh: {name}: {a} added");
    }
    for a in &change.retired {
        eprintln!(
            "network-sandbox: refresh: {name}: {a} no longer in its answers; still allowed for \
             {} s (grace)",
            grace.as_secs()
        );
    }
    for (n, a) in &change.dropped {
        eprintln!("network-sandbox: refresh: {n}: {a} no longer allowed (grace over)");
    }
}

/// Rewrites the hosts file in place (the same file, so the bind in the sandbox shows it).
///
/// One positioned write of the whole text, never a truncation: a resolver reading the file
/// meanwhile must not find it empty (which reads as "no such name"). A text shorter than the
/// file is padded with a comment line to the file's length, so nothing of the old text is
/// left after the last line and the file never has to shrink.
fn rewrite_hosts(file: &mut std::fs::File, current: &[Resolution]) {
    use std::os::unix::fs::FileExt;
    let old_len = file.metadata().map_or(0, |m| m.len()) as usize;
    let text = padded(hosts_file(current), old_len);
    let _ = file.write_all_at(text.as_bytes(), 0);
}

/// `text` (which ends in a newline) made at least `len` bytes long with a trailing comment
/// line of spaces: the hosts file parser skips it.
fn padded(mut text: String, len: usize) -> String {
    if text.len() < len {
        // "#", spaces, "\n": at least two bytes.
        let pad = (len - text.len()).max(2);
        text.push('#');
        text.extend(std::iter::repeat_n(' ', pad - 2));
        text.push('\n');
    }
    text
}

/// How long to wait before looking `name` up again: the smallest TTL of its A records as
/// the machine's first nameserver gives them, within [`REFRESH_BOUNDS`]; the upper bound
/// when that server does not answer (a name from the hosts file, say).
fn ttl_wait(name: &str) -> Duration {
    let ttl = nameserver().and_then(|ns| query_ttl(ns, name));
    let (lo, hi) = REFRESH_BOUNDS;
    ttl.map_or(hi, |t| Duration::from_secs(u64::from(t)).clamp(lo, hi))
}

/// The first `nameserver` of the machine's `/etc/resolv.conf` (as the calling process sees
/// it: the supervisor stays in the machine's mount namespace).
pub(crate) fn nameserver() -> Option<IpAddr> {
    let conf = std::fs::read_to_string("/etc/resolv.conf").ok()?;
    conf.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .find_map(|a| a.trim().parse().ok())
}

/// The smallest TTL of the A records `server` gives for `name` (one UDP query, 2 s).
fn query_ttl(server: IpAddr, name: &str) -> Option<u32> {
    let bind: SocketAddr = match server {
        IpAddr::V4(_) => "0.0.0.0:0".parse().ok()?,
        IpAddr::V6(_) => "[::]:0".parse().ok()?,
    };
    let sock = UdpSocket::bind(bind).ok()?;
    sock.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    sock.connect(SocketAddr::new(server, 53)).ok()?;
    let id = (std::process::id() as u16) ^ 0x5a5a;
    let q = dns_wire::query(id, name, dns_wire::TYPE_A)?;
    sock.send(&q).ok()?;
    let mut buf = [0u8; 1500];
    let n = sock.recv(&mut buf).ok()?;
    dns_wire::min_answer_ttl(&buf[..n], id)
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
    fn the_answerers_resolv_conf_names_the_answerer() {
        let ns = format!("nameserver {}\n", crate::answerer::SENTINEL);
        assert!(RESOLV_CONF_ANSWERER.contains(&ns));
        assert_eq!(crate::answerer::PORT, 53, "resolv.conf cannot name a port");
        assert!(RESOLV_CONF_LEARNING.contains(&ns));
    }

    #[test]
    fn learn_mode_asks_dns_after_the_machines_hosts_file() {
        assert_eq!(
            nsswitch_conf_learning("passwd: files\nhosts: files mdns4 myhostname\n"),
            "passwd: files\nhosts: files dns\n"
        );
        assert_eq!(
            hosts_file_learning("127.0.0.1 localhost\n10.1.2.3 box"),
            "127.0.0.1 localhost\n10.1.2.3 box\n"
        );
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

    /// An unspecified address a name has is left out of its table, with a line that says
    /// why; a name left with none does not resolve (and follows `unresolved`).
    #[test]
    fn unspecified_addresses_are_left_out() {
        let p = policy(
            vec![name("sink.test", &["0.0.0.0", "192.0.2.1", "::"])],
            Unresolved::Refuse,
        );
        let r = resolve(&p).unwrap();
        assert_eq!(r[0].addresses, vec![ip("192.0.2.1")]);
        assert_eq!(r[0].left_out, vec![ip("0.0.0.0"), ip("::")]);
        assert!(r[0].failure.is_none());
        assert_eq!(
            left_out_line(&r[0]).unwrap(),
            "sink.test: 0.0.0.0, :: left out: an unspecified address reaches this machine \
             (the kernel connects it to loopback or the bound address)"
        );
        let only = |unresolved| {
            resolve(&policy(
                vec![name("sink.test", &["0.0.0.0", "::ffff:0.0.0.0"])],
                unresolved,
            ))
        };
        let failed = only(Unresolved::Refuse).unwrap_err();
        assert_eq!(failed[0].name, "sink.test");
        assert!(
            failed[0]
                .why
                .starts_with("0.0.0.0, ::ffff:0.0.0.0 left out: an unspecified"),
            "{failed:?}"
        );
        let unknown = only(Unresolved::Unknown).unwrap();
        assert!(unknown[0].addresses.is_empty(), "{unknown:?}");
        assert!(unknown[0].failure.as_deref().unwrap().contains("left out"));
        // What getaddrinfo answers for such a name goes the same way.
        let (kept, left_out) = keep_specified(lookup("0.0.0.0").unwrap());
        assert!(kept.is_empty());
        assert_eq!(left_out, vec![ip("0.0.0.0")]);
        // The table never holds one, at start or at a refresh.
        let table = Table::new(
            &[("sink.test".into(), vec![ip("0.0.0.0"), ip("192.0.2.1")])],
            None,
        );
        assert!(table.live_names_of(ip("0.0.0.0")).is_empty());
        let change = table.update("sink.test", &[ip("0.0.0.0"), ip("::")], Duration::ZERO);
        assert!(change.added.is_empty(), "{change:?}");
        assert!(table.live_names_of(ip("::")).is_empty());
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
    fn a_rewrite_never_leaves_old_lines_or_an_empty_file() {
        let name = |addresses: &[&str]| Resolution {
            name: "a.test".into(),
            addresses: addresses.iter().map(|a| ip(a)).collect(),
            pinned: false,
            failure: None,
            left_out: Vec::new(),
        };
        let dir = std::env::temp_dir().join(format!("ns-hosts-rewrite-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("hosts");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let long = [name(&["10.0.0.1", "10.0.0.2", "10.0.0.3"])];
        rewrite_hosts(&mut file, &long);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), hosts_file(&long));
        let short = [name(&["10.0.0.9"])];
        rewrite_hosts(&mut file, &short);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        // The new lines, then one comment line that pads to the old length: no address of
        // the old text survives.
        assert!(text.starts_with(&hosts_file(&short)), "{text}");
        assert_eq!(text.len(), hosts_file(&long).len(), "{text}");
        let rest = &text[hosts_file(&short).len()..];
        assert!(rest.starts_with('#') && rest.ends_with('\n'), "{rest:?}");
        assert_eq!(rest.lines().count(), 1, "{rest:?}");
        assert!(!text.contains("10.0.0.1"), "{text}");
        for len in 0..4 {
            let p = padded("x\n".into(), len);
            assert!(
                p.len() >= len && p.starts_with("x\n") && p.ends_with('\n'),
                "{p:?}"
            );
        }
    }

    #[test]
    fn files_hold_the_answers() {
        let r = vec![Resolution {
            name: "a.test".into(),
            addresses: vec![ip("127.0.0.2"), ip("::1")],
            pinned: true,
            failure: None,
            left_out: Vec::new(),
        }];
        let hosts = hosts_file(&r);
        assert!(hosts.contains("\n127.0.0.2 a.test a.test.\n"), "{hosts}");
        assert!(hosts.contains("\n::1 a.test a.test.\n"), "{hosts}");
        assert!(hosts.contains("127.0.0.1 localhost\n"), "{hosts}");
        let only_v4 = vec![Resolution {
            name: "localhost".into(),
            addresses: vec![ip("127.0.0.1")],
            pinned: false,
            failure: None,
            left_out: Vec::new(),
        }];
        let hosts = hosts_file(&only_v4);
        assert!(
            !hosts.contains("::1"),
            "an allowed localhost has its own addresses: {hosts}"
        );
        let ns =
            nsswitch_conf("passwd: files\n# hosts: dns\nhosts:   files mdns4 dns\nhosts: dns\n");
        assert_eq!(ns, "passwd: files\n# hosts: dns\nhosts: files\n");
        assert_eq!(
            nsswitch_conf("passwd: files"),
            "passwd: files\nhosts: files\n"
        );
    }

    #[test]
    fn resolved_names_are_checked_and_explained() {
        let p = policy(vec![name("a.test", &["127.0.0.2"])], Unresolved::Refuse);
        let e = p.with_resolved(&[("a.test".into(), vec![ip("127.0.0.2"), ip("::1")])], None);
        assert!(e.endpoints().is_empty());
        assert_eq!(
            e.permits(Protocol::Tcp, "127.0.0.2:443".parse().unwrap()),
            Some(0)
        );
        assert_eq!(
            e.permits(Protocol::Tcp, "[::ffff:127.0.0.2]:443".parse().unwrap()),
            Some(0)
        );
        assert_eq!(
            e.permits(Protocol::Tcp, "127.0.0.2:80".parse().unwrap()),
            None
        );
        assert_eq!(
            e.permits(Protocol::Udp, "127.0.0.2:443".parse().unwrap()),
            None
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

    #[test]
    fn an_update_adds_retires_with_grace_and_drops() {
        let t = Table::new(&[("a.test".into(), vec![ip("192.0.2.1")])], None);
        let c = t.update("a.test", &[ip("192.0.2.2")], Duration::from_secs(3600));
        assert_eq!(c.added, vec![ip("192.0.2.2")]);
        assert_eq!(c.retired, vec![ip("192.0.2.1")]);
        // Both allowed; only the new one answered.
        assert_eq!(t.live_names_of(ip("192.0.2.1")), vec!["a.test".to_owned()]);
        assert_eq!(t.live_names_of(ip("192.0.2.2")), vec!["a.test".to_owned()]);
        assert_eq!(t.current()[0].addresses, vec![ip("192.0.2.2")]);
        // Back again: current, not retired.
        let c = t.update(
            "a.test",
            &[ip("192.0.2.1"), ip("192.0.2.2")],
            Duration::ZERO,
        );
        assert_eq!(c.added, vec![ip("192.0.2.1")]);
        // A zero grace: retired and dropped at once.
        let c = t.update("a.test", &[ip("192.0.2.2")], Duration::ZERO);
        assert_eq!(c.retired, vec![ip("192.0.2.1")]);
        assert_eq!(c.dropped, vec![("a.test".to_owned(), ip("192.0.2.1"))]);
        assert!(t.live_names_of(ip("192.0.2.1")).is_empty());
    }
}
