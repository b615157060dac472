//! Query sockets (issue 12): under a policy without UDP (or without a `unix:` endpoint) a
//! datagram socket is still made, by the supervisor, shut down, so that Java's
//! `NetworkInterface` and glibc's `if_nametoindex` can ask their `SIOCGIF*` questions. Such
//! a socket must never send: every way to send to a loopback recorder (by address, connected,
//! `sendmsg`, `sendmmsg`, zerocopy, `write`, `sendfile`, `splice`) is tried, over IPv4,
//! IPv6, an IPv4-mapped address and a unix path. The control, the same attempt without the
//! sandbox, delivers every datagram; in the sandbox none arrives, each step fails with the
//! errno asserted here, and the sends that name an address are refused with the
//! supervisor's line. Multicast joins (which make the kernel send IGMP/MLD) stay refused.
//! Under a TCP-only policy and under one without any endpoint. As root and as uid 65534.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;

use network_sandbox_escape_tests::*;

/// A TCP-only policy.
const POLICY: [&str; 1] = ["127.0.0.2:443"];

/// The policies with query sockets tried: TCP-only, and without any endpoint (where a
/// supervisor runs too).
const POLICIES: [&[&str]; 2] = [&POLICY, &[]];

/// The row of an IP target without the sandbox: every step works.
const IP_CONTROL: &str = "ok ioctl=ok zerocopy-opt=ok sendto=ok sendmsg=ok zerocopy=ok \
                          sendmmsg=ok connect=ok send=ok write=ok sendfile=ok splice=ok";
/// Datagrams the control delivers to an IP target: sendto, sendmsg, zerocopy, two of
/// sendmmsg, send, write, sendfile, splice.
const IP_DATAGRAMS: usize = 9;
/// In the sandbox: the interface request answers; the sends naming the address and the
/// connect are refused by the supervisor (`EACCES`, with a line); `sendmsg`, `sendmmsg`
/// and the zerocopy send reach the kernel, which refuses a shut-down socket (`EPIPE`);
/// the socket never got a peer, so the sends without an address have no destination.
const IP_SANDBOXED: &str = "ok ioctl=ok zerocopy-opt=ok sendto=EACCES sendmsg=EPIPE \
                            zerocopy=EPIPE sendmmsg=EPIPE connect=EACCES send=EDESTADDRREQ \
                            write=EDESTADDRREQ sendfile=EDESTADDRREQ splice=EDESTADDRREQ";
/// The same for a unix path (no zerocopy on unix sockets).
const UNIX_CONTROL: &str = "ok ioctl=ok sendto=ok sendmsg=ok sendmmsg=ok connect=ok send=ok \
                            write=ok sendfile=ok splice=ok";
/// Datagrams the control delivers to the unix path.
const UNIX_DATAGRAMS: usize = 8;
/// A unix datagram socket without a peer answers a send without an address with `EPIPE`
/// once it is shut down (the shutdown test comes first).
const UNIX_SANDBOXED: &str = "ok ioctl=ok sendto=EACCES sendmsg=EPIPE sendmmsg=EPIPE \
                              connect=EACCES send=EPIPE write=EPIPE sendfile=EPIPE splice=EPIPE";

/// A unix datagram socket at a path in a fresh directory, open to every user.
struct UnixRecorder {
    _dir: TempDir,
    path: String,
    socket: UnixDatagram,
}

impl UnixRecorder {
    fn start() -> UnixRecorder {
        let dir = TempDir::new("query-unix");
        let path = dir.path.join("r.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
        socket.set_nonblocking(true).unwrap();
        UnixRecorder {
            _dir: dir,
            path: path.to_string_lossy().into_owned(),
            socket,
        }
    }

    /// The datagrams queued now (a unix datagram is queued before its send returns).
    fn received(&self) -> usize {
        let mut buf = [0u8; 64];
        std::iter::from_fn(|| self.socket.recv(&mut buf).ok()).count()
    }
}

/// Runs `query-sends` with `args` without and with the sandbox as `user`: the control must
/// print `control` and deliver `expected` datagrams (`delivered` counts them), the sandboxed
/// run must print `sandboxed` and deliver none. Returns the sandboxed outcome.
fn sends_case(
    policy: &[&str],
    user: User,
    args: &[&str],
    control: &str,
    sandboxed: &str,
    expected: usize,
    delivered: &dyn Fn() -> usize,
) -> Outcome {
    let c = Probe::unsandboxed().user(user).run("query-sends", args);
    assert_eq!(c.result(), control, "control {args:?} as {user:?}: {c:?}");
    assert_eq!(delivered(), expected, "control {args:?} as {user:?}");
    let o = Probe::sandboxed(policy).user(user).run("query-sends", args);
    assert_eq!(
        o.result(),
        sandboxed,
        "{args:?} {policy:?} as {user:?}: {o:?}"
    );
    assert_eq!(
        delivered(),
        0,
        "{args:?} {policy:?} as {user:?}: a datagram arrived"
    );
    assert!(
        !o.stderr.contains("denied socket"),
        "the socket itself is made silently: {o:?}"
    );
    o
}

#[test]
fn a_query_socket_answers_interface_requests_and_sends_nothing_over_ip() {
    let v4 = Recorder::start("127.0.0.3:0".parse().unwrap()).unwrap();
    let v6 = Recorder::start("[::1]:0".parse().unwrap());
    let v6 = match v6 {
        Ok(r) => Some(r),
        Err(e) => {
            skipped(&format!("no [::1] here ({e}): IPv6 part left out"), None);
            None
        }
    };
    for (user, policy) in USERS.iter().flat_map(|&u| POLICIES.map(|p| (u, p))) {
        let mut targets: Vec<(Vec<String>, &Recorder)> = vec![
            (vec![v4.arg()], &v4),
            (vec!["v4-mapped".into(), v4.arg()], &v4),
        ];
        if let Some(v6) = &v6 {
            targets.push((vec![v6.arg()], v6));
        }
        for (args, recorder) in targets {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            recorder.settle();
            let seen = std::cell::Cell::new(recorder.datagrams());
            let delivered = || {
                recorder.settle();
                let now = recorder.datagrams();
                now - seen.replace(now)
            };
            let o = sends_case(
                policy,
                user,
                &args,
                IP_CONTROL,
                IP_SANDBOXED,
                IP_DATAGRAMS,
                &delivered,
            );
            let dest = recorder.arg();
            for op in ["send", "connect"] {
                assert!(
                    supervisor_refused(&o.stderr, op, Some(&dest)),
                    "{op} to {dest}: the supervisor's line, as {user:?}: {o:?}"
                );
            }
            assert!(
                o.stderr
                    .contains(&format!("to allow it, add udp://{}", recorder.arg())),
                "{o:?}"
            );
        }
    }
}

#[test]
fn a_unix_query_socket_sends_nothing_to_a_path() {
    let r = UnixRecorder::start();
    for (user, policy) in USERS.iter().flat_map(|&u| POLICIES.map(|p| (u, p))) {
        let o = sends_case(
            policy,
            user,
            &[&r.path],
            UNIX_CONTROL,
            UNIX_SANDBOXED,
            UNIX_DATAGRAMS,
            &|| r.received(),
        );
        for op in ["send", "connect"] {
            let line = o
                .stderr
                .lines()
                .find(|l| l.starts_with(&format!("network-sandbox: denied {op} by pid ")))
                .unwrap_or_else(|| panic!("no {op} line as {user:?}: {o:?}"));
            assert!(
                line.ends_with(&format!("to allow it, add unix:{}", r.path)),
                "{line}"
            );
        }
    }
}

/// Joining a multicast group makes the kernel send an IGMP or MLD report: the socket
/// options stay refused by the static filter on a query socket, with its line.
#[test]
fn a_query_socket_cannot_join_a_multicast_group() {
    for user in USERS {
        for join in [
            "ip-add-membership",
            "ip-add-source-membership",
            "mcast-join-group",
            "ipv6-add-membership",
            "mcast-join-group6",
        ] {
            let c = Probe::unsandboxed().user(user).run("query-join", &[join]);
            assert!(c.ok(), "control {join} as {user:?}: {c:?}");
            for policy in POLICIES {
                let o = Probe::sandboxed(policy)
                    .user(user)
                    .run("query-join", &[join]);
                o.assert_refused_by_static_filter("EACCES", "setsockopt");
            }
        }
    }
}

/// Query sockets exist only where the supervisor makes them: under the `landlock-ports`
/// fallback (whose program may let every check through), with or without endpoints, a UDP
/// or unix datagram socket stays refused by the static filter. In audit mode the socket is
/// an ordinary one, as before (UDP is reported, not refused).
#[test]
fn query_sockets_only_where_the_supervisor_makes_them() {
    let v4 = Recorder::start("127.0.0.3:0".parse().unwrap()).unwrap();
    for user in USERS {
        for args in [["2", "2", "0"], ["1", "2", "0"]] {
            let c = Probe::unsandboxed().user(user).run("socket", &args);
            assert!(c.ok(), "control {args:?} as {user:?}: {c:?}");
            for policy in POLICIES {
                Probe::sandboxed(policy)
                    .user(user)
                    .option("fallback=landlock-ports")
                    .run("socket", &args)
                    .assert_refused_by_static_filter("EACCES", "socket");
            }
        }
        v4.settle();
        let before = v4.datagrams();
        let o = Probe::sandboxed(&POLICY)
            .user(user)
            .option("audit")
            .run("udp-sendto", &[&v4.arg()]);
        assert!(o.ok(), "audit mode as {user:?}: {o:?}");
        v4.settle();
        assert_eq!(
            v4.datagrams(),
            before + 1,
            "audit mode sends, as before: {o:?}"
        );
    }
}
