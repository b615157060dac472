//! Unix sockets by address (issue 12 item 2, issue 13's nscd noise): `unix:` endpoints let a
//! program reach exactly the sockets they name, and nothing else; a symbolic link flipped
//! during the connects never redirects one; a path that does not exist is answered `ENOENT`
//! without a line. Each attempt first works without the sandbox (the control), as root and
//! as uid 65534. Listeners are the test's own, in temporary directories or under abstract
//! names unique to the test process, and record who connected.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use network_sandbox_escape_tests::*;

/// A listening unix socket (stream or seqpacket) at a path or an abstract name (`@name`)
/// that answers each connection with its tag and counts them; stopped on drop.
struct Listener {
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn sockaddr(target: &str) -> Vec<u8> {
    let mut a = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
    match target.strip_prefix('@') {
        Some(name) => {
            a.push(0);
            a.extend_from_slice(name.as_bytes());
        }
        None => {
            a.extend_from_slice(target.as_bytes());
            a.push(0);
        }
    }
    a
}

impl Listener {
    fn start(target: &str, ty: i32, tag: &'static str) -> Listener {
        // SAFETY: socket takes integers.
        let fd = unsafe { libc::socket(libc::AF_UNIX, ty | libc::SOCK_CLOEXEC, 0) };
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        // SAFETY: a new descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let a = sockaddr(target);
        // SAFETY: `a` is a valid buffer of its length; listen takes integers.
        unsafe {
            assert_eq!(
                libc::bind(fd.as_raw_fd(), a.as_ptr().cast(), a.len() as _),
                0,
                "bind {target}: {}",
                std::io::Error::last_os_error()
            );
            assert_eq!(libc::listen(fd.as_raw_fd(), 128), 0);
        }
        if !target.starts_with('@') {
            std::fs::set_permissions(target, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, halt) = (accepted.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !halt.load(Ordering::SeqCst) {
                let mut p = libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                if unsafe { libc::poll(&mut p, 1, 50) } <= 0 {
                    continue;
                }
                // SAFETY: accept4 on our listening socket, no address wanted.
                let c = unsafe {
                    libc::accept4(
                        fd.as_raw_fd(),
                        std::ptr::null_mut(),
                        std::ptr::null_mut(),
                        libc::SOCK_CLOEXEC,
                    )
                };
                if c < 0 {
                    continue;
                }
                // SAFETY: the accepted descriptor is ours.
                let c = unsafe { OwnedFd::from_raw_fd(c) };
                count.fetch_add(1, Ordering::SeqCst);
                // SAFETY: writes from a static buffer.
                unsafe { libc::write(c.as_raw_fd(), tag.as_ptr().cast(), tag.len()) };
            }
        });
        Listener {
            accepted,
            stop,
            thread: Some(thread),
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A unique abstract name for this test process.
fn abstract_name(tag: &str) -> String {
    format!("@network-sandbox-test-{}-{tag}", std::process::id())
}

/// Runs `attempt args` without the sandbox (it must give `control`) and under `allow`, as
/// `user`; returns the sandboxed outcome.
#[track_caller]
fn with_control(
    user: User,
    allow: &[String],
    attempt: &str,
    args: &[&str],
    control: &str,
) -> Outcome {
    let c = Probe::unsandboxed().user(user).run(attempt, args);
    assert_eq!(
        c.result(),
        control,
        "control {attempt} {args:?} as {user:?}: {c:?}"
    );
    Probe::sandboxed(allow).user(user).run(attempt, args)
}

/// Asserts the refusal of a unix connect or send to `endpoint` with its line and remedy.
#[track_caller]
fn assert_refused_unix(o: &Outcome, operation: &str, endpoint: &str) {
    assert!(o.err("EACCES"), "EACCES expected: {o:?}");
    let line = o
        .stderr
        .lines()
        .find(|l| l.starts_with(&format!("network-sandbox: denied {operation} by pid ")))
        .unwrap_or_else(|| panic!("no line for {operation}: {o:?}"));
    assert!(
        line.ends_with(&format!(
            "no unix: endpoint names {endpoint}; to allow it, add {endpoint}"
        )),
        "{line}"
    );
}

#[test]
fn an_allowed_path_is_reached_and_another_is_refused() {
    let dir = TempDir::new("unix-path");
    let a = dir.path.join("a.sock").to_str().unwrap().to_owned();
    let b = dir.path.join("b.sock").to_str().unwrap().to_owned();
    let (la, lb) = (
        Listener::start(&a, libc::SOCK_STREAM, "A"),
        Listener::start(&b, libc::SOCK_STREAM, "B"),
    );
    let allow = [format!("unix:{a}")];
    for user in USERS {
        let o = with_control(user, &allow, "unix-stream", &[&a], "ok A");
        assert_eq!(o.result(), "ok A", "{user:?}: {o:?}");
        assert!(!any_supervisor_line(&o.stderr), "{o:?}");
        let before = lb.accepted();
        let o = with_control(user, &allow, "unix-stream", &[&b], "ok B");
        assert_refused_unix(&o, "connect", &format!("unix:{b}"));
        assert_eq!(lb.accepted(), before + 1, "only the control reached B");
    }
    assert!(la.accepted() >= 4);
}

#[test]
fn seqpacket_connects_are_checked_too() {
    let dir = TempDir::new("unix-seqpacket");
    let a = dir.path.join("a.sock").to_str().unwrap().to_owned();
    let b = dir.path.join("b.sock").to_str().unwrap().to_owned();
    let (_la, lb) = (
        Listener::start(&a, libc::SOCK_SEQPACKET, "A"),
        Listener::start(&b, libc::SOCK_SEQPACKET, "B"),
    );
    let allow = [format!("unix:{a}")];
    for user in USERS {
        let o = with_control(user, &allow, "unix-seqpacket", &[&a], "ok A");
        assert_eq!(o.result(), "ok A", "{user:?}: {o:?}");
        let before = lb.accepted();
        let o = with_control(user, &allow, "unix-seqpacket", &[&b], "ok B");
        assert_refused_unix(&o, "connect", &format!("unix:{b}"));
        assert_eq!(lb.accepted(), before + 1);
    }
}

#[test]
fn abstract_names_are_compared_as_bytes() {
    let (a, b) = (abstract_name("a"), abstract_name("b"));
    let (_la, lb) = (
        Listener::start(&a, libc::SOCK_STREAM, "A"),
        Listener::start(&b, libc::SOCK_STREAM, "B"),
    );
    // The same name one byte shorter (a prefix) is another socket: nothing listens there.
    let prefix = &a[..a.len() - 1];
    let allow = [format!("unix:{a}")];
    for user in USERS {
        // The supervisor performs allowed abstract connects, from outside the program's
        // Landlock domain, whose abstract unix scope (ABI 6) would refuse them (EPERM).
        let o = with_control(user, &allow, "unix-stream", &[&a], "ok A");
        assert_eq!(o.result(), "ok A", "{user:?}: {o:?}");
        let before = lb.accepted();
        let o = with_control(user, &allow, "unix-stream", &[&b], "ok B");
        assert_refused_unix(&o, "connect", &format!("unix:{b}"));
        assert_eq!(lb.accepted(), before + 1);
        let o = with_control(user, &allow, "unix-stream", &[prefix], "err ECONNREFUSED");
        assert_refused_unix(&o, "connect", &format!("unix:{prefix}"));
    }
}

#[test]
fn a_relative_path_is_resolved_against_the_programs_working_directory() {
    let dir = TempDir::new("unix-relative");
    let a = dir.path.join("a.sock").to_str().unwrap().to_owned();
    let b = dir.path.join("b.sock").to_str().unwrap().to_owned();
    let (_la, lb) = (
        Listener::start(&a, libc::SOCK_STREAM, "A"),
        Listener::start(&b, libc::SOCK_STREAM, "B"),
    );
    let cwd = dir.path.to_str().unwrap();
    let allow = [format!("unix:{a}")];
    for user in USERS {
        let control = Probe::unsandboxed()
            .user(user)
            .cwd(cwd)
            .run("unix-stream", &["a.sock"]);
        assert_eq!(control.result(), "ok A", "{control:?}");
        let o = Probe::sandboxed(&allow)
            .user(user)
            .cwd(cwd)
            .run("unix-stream", &["a.sock"]);
        assert_eq!(o.result(), "ok A", "{user:?}: {o:?}");
        // `./b.sock` from there is b.sock, refused under its absolute name.
        let before = lb.accepted();
        let o = Probe::sandboxed(&allow)
            .user(user)
            .cwd(cwd)
            .run("unix-stream", &["./b.sock"]);
        assert_refused_unix(&o, "connect", &format!("unix:{cwd}/./b.sock"));
        assert_eq!(lb.accepted(), before);
        // From elsewhere, `a.sock` names nothing.
        let o = Probe::sandboxed(&allow)
            .user(user)
            .cwd("/")
            .run("unix-stream", &["a.sock"]);
        o.assert_refused_silently("ENOENT");
    }
}

/// A thread flips a symbolic link between the allowed socket and another one while the
/// program connects through the link many times: every connect that succeeds reaches the
/// allowed socket; the other one is reached only without the sandbox.
#[test]
fn a_symlink_flipped_during_connects_never_redirects_one() {
    let dir = TempDir::new("unix-race");
    let a = dir.path.join("a.sock").to_str().unwrap().to_owned();
    let b = dir.path.join("b.sock").to_str().unwrap().to_owned();
    let (la, lb) = (
        Listener::start(&a, libc::SOCK_STREAM, "A"),
        Listener::start(&b, libc::SOCK_STREAM, "B"),
    );
    let link = dir.path.join("link.sock");
    std::os::unix::fs::symlink(&a, &link).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flipper = {
        let (stop, dir, link) = (stop.clone(), dir.path.clone(), link.clone());
        let (a, b) = (a.clone(), b.clone());
        std::thread::spawn(move || {
            let tmp = dir.join("link.tmp");
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let to = if i % 2 == 0 { &b } else { &a };
                let _ = std::fs::remove_file(&tmp);
                // rename is atomic: the link always exists, pointing at one or the other.
                if std::os::unix::fs::symlink(to, &tmp).is_err()
                    || std::fs::rename(&tmp, &link).is_err()
                {
                    break;
                }
                i += 1;
            }
        })
    };
    // Stops the flipping thread however the test ends.
    let _flipping = Flipping(stop, Some(flipper));
    let link = link.to_str().unwrap();
    let allow = [format!("unix:{a}")];
    let n = 400;
    let counts = |o: &Outcome| -> std::collections::BTreeMap<String, usize> {
        let r = o
            .result()
            .strip_prefix("ok ")
            .unwrap_or_else(|| panic!("{o:?}"));
        r.split(' ')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_owned(), v.parse().unwrap())
            })
            .collect()
    };
    for user in USERS {
        // The control: without the sandbox the link reaches both (retried until it has).
        let mut reached_b = false;
        for _ in 0..10 {
            let c = Probe::unsandboxed()
                .user(user)
                .run("unix-many", &[link, "200"]);
            if counts(&c).get("B").is_some_and(|&v| v > 0) {
                reached_b = true;
                break;
            }
        }
        assert!(reached_b, "control: the flipping link never reached B");
        // Sandboxed, B is never reached; A is reached while the link points there, which
        // needs the flipping thread to run during the connects: on a loaded machine it may
        // not, so, as the control, the run is repeated (every run checked) until A was.
        let mut reached_a = false;
        for _ in 0..10 {
            let b_before = lb.accepted();
            let a_before = la.accepted();
            let o = Probe::sandboxed(&allow)
                .user(user)
                .run("unix-many", &[link, &n.to_string()]);
            let c = counts(&o);
            assert_eq!(lb.accepted(), b_before, "B reached from the sandbox: {o:?}");
            assert_eq!(c.get("B"), None, "{o:?}");
            let ok = c.get("A").copied().unwrap_or(0);
            let refused = c.get("EACCES").copied().unwrap_or(0);
            assert_eq!(ok + refused, n, "only A or a refusal: {c:?}");
            assert_eq!(la.accepted() - a_before, ok);
            if ok > 0 {
                reached_a = true;
                break;
            }
        }
        assert!(
            reached_a,
            "the allowed socket was never reached through the link"
        );
    }
}

/// The flipping thread's stop flag and handle: stopped and joined on drop.
struct Flipping(Arc<AtomicBool>, Option<JoinHandle<()>>);

impl Drop for Flipping {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
        if let Some(t) = self.1.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn a_path_that_does_not_exist_is_enoent_without_a_line() {
    let dir = TempDir::new("unix-missing");
    let missing = dir.path.join("none.sock").to_str().unwrap().to_owned();
    let file = dir.path.join("file").to_str().unwrap().to_owned();
    std::fs::write(&file, b"").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
    let s = Servers::start();
    for user in USERS {
        for allow in [vec![s.allow_tcp()], vec![], vec![format!("unix:{file}")]] {
            let o = with_control(user, &allow, "unix-stream", &[&missing], "err ENOENT");
            o.assert_refused_silently("ENOENT");
            // Not a socket: ECONNREFUSED, as the kernel answers, and no line either.
            let o = with_control(user, &allow, "unix-stream", &[&file], "err ECONNREFUSED");
            o.assert_refused_silently("ECONNREFUSED");
        }
    }
}

/// glibc's name lookup first asks nscd (`/var/run/nscd/socket`): with no nscd running, a
/// lookup under the sandbox prints no line.
#[test]
fn a_name_lookup_prints_no_line_for_the_nscd_probe() {
    if std::path::Path::new("/var/run/nscd/socket").exists() {
        skipped("nscd runs on this machine", None);
        return;
    }
    let s = Servers::start();
    let script = "import socket; print(socket.getaddrinfo('localhost', 80)[0][4][0])";
    for user in USERS {
        let control = Probe::unsandboxed()
            .user(user)
            .run("exec", &["python3", "-c", script]);
        if !control.ok() {
            skipped("python3 is not installed", Some("python3"));
            return;
        }
        let o = Probe::sandboxed(&[s.allow_tcp()])
            .user(user)
            .run("exec", &["python3", "-c", script]);
        assert!(o.ok(), "{user:?}: {o:?}");
        assert!(!any_supervisor_line(&o.stderr), "{o:?}");
        // The probe itself, as glibc does it.
        let o = with_control(
            user,
            &[s.allow_tcp()],
            "unix-stream",
            &["/var/run/nscd/socket"],
            "err ENOENT",
        );
        o.assert_refused_silently("ENOENT");
    }
}

/// A unix datagram socket at a path that counts what it gets.
struct Dgram {
    path: String,
    socket: UnixDatagram,
}

impl Dgram {
    fn bind(path: String) -> Dgram {
        let socket = UnixDatagram::bind(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
        socket.set_nonblocking(true).unwrap();
        Dgram { path, socket }
    }

    fn received(&self) -> usize {
        let mut buf = [0u8; 64];
        let mut n = 0;
        while self.socket.recv(&mut buf).is_ok() {
            n += 1;
        }
        n
    }
}

#[test]
fn datagrams_reach_an_allowed_unix_socket_only() {
    let dir = TempDir::new("unix-dgram");
    let a = Dgram::bind(dir.path.join("a.sock").to_str().unwrap().to_owned());
    let b = Dgram::bind(dir.path.join("b.sock").to_str().unwrap().to_owned());
    let allow = [format!("unix:{}", a.path)];
    for user in USERS {
        for attempt in [
            "unix-dgram-sendto",
            "unix-dgram-sendmsg",
            "unix-dgram-connect",
        ] {
            let o = with_control(user, &allow, attempt, &[&a.path], "ok");
            assert!(o.ok(), "{attempt} as {user:?}: {o:?}");
            assert_eq!(
                a.received(),
                2,
                "{attempt}: the control's and the sandboxed one"
            );
            let o = with_control(user, &allow, attempt, &[&b.path], "ok");
            let operation = if attempt == "unix-dgram-connect" {
                "connect"
            } else {
                "send"
            };
            assert_refused_unix(&o, operation, &format!("unix:{}", b.path));
            assert_eq!(b.received(), 1, "{attempt}: only the control's");
        }
    }
}

/// Without a `unix:` endpoint a unix datagram socket is a query socket (issue 12): the
/// supervisor makes it shut down, and a send naming a socket is refused with the line that
/// names the endpoint to add (issue 10: it could name any socket in a send). The same under
/// a policy without endpoints, where a supervisor runs too (issue 12).
#[test]
fn without_a_unix_endpoint_a_datagram_socket_sends_nothing() {
    let dir = TempDir::new("unix-dgram-none");
    let a = Dgram::bind(dir.path.join("a.sock").to_str().unwrap().to_owned());
    let s = Servers::start();
    for user in USERS {
        for allow in [&[s.allow_tcp()][..], &[]] {
            let o = with_control(user, allow, "unix-dgram-sendto", &[&a.path], "ok");
            assert_refused_unix(&o, "send", &format!("unix:{}", a.path));
            assert_eq!(a.received(), 1, "only the control's ({allow:?})");
        }
    }
}

/// Landlock's abstract unix scope (ABI 6) holds alone: with the supervisor left out (the
/// test switch), the program's own connect to an abstract socket outside the sandbox gets
/// `EPERM` from Landlock, even to the allowed name — which is why the supervisor, outside
/// the program's domain, performs the allowed ones.
#[test]
fn without_the_supervisor_landlock_scopes_abstract_connects() {
    let a = abstract_name("scope");
    let la = Listener::start(&a, libc::SOCK_STREAM, "A");
    let allow = [format!("unix:{a}")];
    for user in USERS {
        let control = Probe::unsandboxed().user(user).run("unix-stream", &[&a]);
        assert_eq!(control.result(), "ok A", "{control:?}");
        let before = la.accepted();
        let o = Probe::sandboxed(&allow)
            .leave_out("L2")
            .user(user)
            .run("unix-stream", &[&a]);
        if !o.stderr.contains("abstract unix sockets scoped") {
            skipped("Landlock without the abstract unix scope (ABI < 6)", None);
            return;
        }
        o.assert_refused_silently("EPERM");
        assert_eq!(la.accepted(), before, "{o:?}");
    }
}

/// What a `unix:` path allows is fixed when the sandbox starts: a program that can write the
/// directory moves the allowed socket aside and links another socket in its place; its
/// connect to the allowed path then reaches nothing (the line says why), where without the
/// sandbox it reaches the other socket.
#[test]
fn replacing_the_allowed_path_does_not_move_what_it_allows() {
    let dir = TempDir::new("unix-swap");
    let a = dir.path.join("a.sock").to_str().unwrap().to_owned();
    let b = dir.path.join("b.sock").to_str().unwrap().to_owned();
    let (_la, lb) = (
        Listener::start(&a, libc::SOCK_STREAM, "A"),
        Listener::start(&b, libc::SOCK_STREAM, "B"),
    );
    let restore = || {
        let _ = std::fs::remove_file(&a);
        std::fs::rename(format!("{a}.old"), &a).unwrap();
    };
    let allow = [format!("unix:{a}")];
    for user in USERS {
        let control = Probe::unsandboxed()
            .user(user)
            .run("unix-swap-connect", &[&a, &b]);
        assert_eq!(control.result(), "ok B", "control as {user:?}: {control:?}");
        restore();
        let before = lb.accepted();
        let o = Probe::sandboxed(&allow)
            .user(user)
            .run("unix-swap-connect", &[&a, &b]);
        restore();
        assert!(o.err("EACCES"), "{user:?}: {o:?}");
        assert!(
            o.stderr.contains(&format!(
                "unix:{a} is allowed, but the socket there is not the one that was there when \
                 the sandbox started"
            )),
            "{o:?}"
        );
        assert_eq!(lb.accepted(), before, "B reached from the sandbox: {o:?}");
    }
}

/// A policy with an endpoint (a supervisor runs) and no `unix:` endpoint.
const TCP_ONLY: [&str; 1] = ["127.0.0.2:443"];

/// Whether `path` is a socket file.
fn is_socket(path: &std::path::Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

/// A program serves itself over a unix socket it binds (issue 12: Python's
/// `multiprocessing.Manager()`, a test harness, a local broker): the bind is made in the
/// program's view — an absolute path, a relative one after a `chdir`, through a symbolically
/// linked directory, with `..` — the socket file appears where the program's path leads,
/// `getsockname` gives the program its own name back, and a forked child that accepts is
/// reached by the parent's connect. Same as without the sandbox, with no line.
#[test]
fn a_socket_the_program_binds_is_served_across_fork_in_its_view() {
    let dir = TempDir::new("unix-own");
    let d = dir.path.to_str().unwrap().to_owned();
    std::fs::create_dir(dir.path.join("real")).unwrap();
    std::fs::set_permissions(
        dir.path.join("real"),
        std::fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    std::os::unix::fs::symlink(dir.path.join("real"), dir.path.join("link")).unwrap();
    let real = format!("{d}/real");
    // (path bound, directory to change to first, where the file must be)
    let cases = [
        (format!("{d}/a.sock"), None, format!("{d}/a.sock")),
        ("b.sock".to_owned(), Some(d.clone()), format!("{d}/b.sock")),
        (format!("{d}/link/c.sock"), None, format!("{real}/c.sock")),
        (
            "../d.sock".to_owned(),
            Some(real.clone()),
            format!("{d}/d.sock"),
        ),
        (
            "link/../link/e.sock".to_owned(),
            Some(d.clone()),
            format!("{real}/e.sock"),
        ),
    ];
    for user in USERS {
        for (path, chdir, file) in &cases {
            let file = std::path::Path::new(file);
            let mut args = vec![path.as_str()];
            args.extend(chdir.as_deref());
            let want = format!("ok {path} own");
            let c = Probe::unsandboxed().user(user).run("unix-serve", &args);
            assert_eq!(c.result(), want, "control {args:?} as {user:?}: {c:?}");
            assert!(is_socket(file), "control: {file:?}");
            std::fs::remove_file(file).unwrap();
            let o = Probe::sandboxed(&TCP_ONLY)
                .user(user)
                .run("unix-serve", &args);
            assert_eq!(o.result(), want, "{args:?} as {user:?}: {o:?}");
            assert!(!any_supervisor_line(&o.stderr), "{o:?}");
            assert!(is_socket(file), "sandboxed: {file:?}");
            std::fs::remove_file(file).unwrap();
        }
    }
}

/// Binding its own sockets opens nothing else: a unix socket outside the sandbox (the
/// test's listeners, at a path and at an abstract name) stays refused with its line, under
/// a policy without `unix:` endpoints.
#[test]
fn an_outside_unix_socket_stays_refused() {
    let dir = TempDir::new("unix-outside");
    let b = dir.path.join("b.sock").to_str().unwrap().to_owned();
    let lb = Listener::start(&b, libc::SOCK_STREAM, "B");
    let c = abstract_name("outside");
    let lc = Listener::start(&c, libc::SOCK_STREAM, "C");
    for user in USERS {
        let before = lc.accepted();
        let o = with_control(
            user,
            &TCP_ONLY.map(String::from),
            "unix-stream",
            &[&c],
            "ok C",
        );
        assert_refused_unix(&o, "connect", &format!("unix:{c}"));
        assert_eq!(lc.accepted(), before + 1, "only the control reached C");
        let before = lb.accepted();
        let o = with_control(
            user,
            &TCP_ONLY.map(String::from),
            "unix-stream",
            &[&b],
            "ok B",
        );
        assert_refused_unix(&o, "connect", &format!("unix:{b}"));
        assert_eq!(lb.accepted(), before + 1, "only the control reached B");
    }
}

/// The program binds its own socket, then replaces the file at that path with the outside
/// listener's socket file — a hard link, a rename, a symbolic link — and connects to the
/// path: without the sandbox it reaches the outside listener; sandboxed, the file the path
/// now leads to is not one the sandbox bound (the kernel said which file each of its
/// sockets got), so the connect is refused with its line and the outside listener is not
/// reached.
#[test]
fn replacing_the_programs_own_socket_file_does_not_redirect_a_connect() {
    let dir = TempDir::new("unix-own-swap");
    let b = dir.path.join("b.sock").to_str().unwrap().to_owned();
    let lb = Listener::start(&b, libc::SOCK_STREAM, "B");
    let mine = dir.path.join("mine.sock").to_str().unwrap().to_owned();
    // After each run: the outside socket file back at `b`, the program's path free.
    let restore = |how: &str| {
        if how == "rename" {
            std::fs::rename(&mine, &b).unwrap();
        } else {
            std::fs::remove_file(&mine).unwrap();
        }
        assert!(is_socket(std::path::Path::new(&b)));
    };
    for user in USERS {
        // A hard link to another user's socket needs its ownership (protected_hardlinks).
        let owner = match user {
            User::Root => 0,
            _ => NOBODY,
        };
        std::os::unix::fs::lchown(&b, Some(owner), Some(owner)).unwrap();
        for how in ["link", "rename", "symlink"] {
            let args = [mine.as_str(), b.as_str(), how];
            let c = Probe::unsandboxed().user(user).run("unix-own-swap", &args);
            restore(how);
            assert_eq!(c.result(), "ok B", "control {how} as {user:?}: {c:?}");
            let before = lb.accepted();
            let o = Probe::sandboxed(&TCP_ONLY)
                .user(user)
                .run("unix-own-swap", &args);
            restore(how);
            assert_refused_unix(&o, "connect", &format!("unix:{mine}"));
            assert_eq!(lb.accepted(), before, "{how} as {user:?}: B reached: {o:?}");
        }
    }
}

/// An abstract name has no file to tie a connect to the socket that was bound: the
/// program's own abstract listener is not reached by name unless a `unix:@name` endpoint
/// names it (refused with its line; reached without the sandbox).
#[test]
fn the_programs_own_abstract_name_needs_its_endpoint() {
    let name = abstract_name("own");
    for user in USERS {
        let want = format!("ok {name} own");
        let o = with_control(
            user,
            &TCP_ONLY.map(String::from),
            "unix-serve",
            &[&name],
            &want,
        );
        assert_refused_unix(&o, "connect", &format!("unix:{name}"));
        let o = Probe::sandboxed(&[format!("unix:{name}")])
            .user(user)
            .run("unix-serve", &[&name]);
        assert_eq!(o.result(), want, "{user:?}: {o:?}");
    }
}

/// A unix datagram socket the program binds (a policy with a `unix:` endpoint, so that
/// datagram sockets exist) receives the program's own datagrams; replaced by a hard link to
/// an outside datagram socket, its path is refused with its line and the outside socket
/// gets nothing from the sandbox.
#[test]
fn datagrams_reach_the_programs_own_socket_and_not_one_linked_in_its_place() {
    let dir = TempDir::new("unix-dgram-own");
    let outside = Dgram::bind(dir.path.join("out.sock").to_str().unwrap().to_owned());
    let mine = dir.path.join("mine.sock").to_str().unwrap().to_owned();
    let allow = [abstract_name("unused").replacen('@', "unix:@", 1)];
    for user in USERS {
        let owner = match user {
            User::Root => 0,
            _ => NOBODY,
        };
        std::os::unix::fs::lchown(&outside.path, Some(owner), Some(owner)).unwrap();
        // Each run leaves its file (the hard link in the second case) behind.
        let run = |probe: Probe, args: &[&str]| {
            let o = probe.user(user).run("unix-dgram-own", args);
            std::fs::remove_file(&mine).unwrap();
            o
        };
        let c = run(Probe::unsandboxed(), &[&mine]);
        assert_eq!(c.result(), "ok hello", "control as {user:?}: {c:?}");
        let o = run(Probe::sandboxed(&allow), &[&mine]);
        assert_eq!(o.result(), "ok hello", "{user:?}: {o:?}");
        assert!(!any_supervisor_line(&o.stderr), "{o:?}");
        let args = [mine.as_str(), outside.path.as_str()];
        let c = run(Probe::unsandboxed(), &args);
        assert_eq!(c.result(), "ok sent", "control as {user:?}: {c:?}");
        let o = run(Probe::sandboxed(&allow), &args);
        assert_refused_unix(&o, "send", &format!("unix:{mine}"));
        assert_eq!(outside.received(), 1, "only the control's");
    }
}
