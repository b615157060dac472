//! Issue 12, items 3 and 4: interface listing and route reading work inside the sandbox,
//! changing them does not; bind before connect (port 0) works, a fixed port does not.
//!
//! Every listing is run first without the sandbox (the control) and must print the same
//! inside it; before netlink route sockets were allowed each of them failed with `EACCES`.
//! Changes are tried only inside a network namespace the test creates (never on the
//! host's interfaces), where the same command without the sandbox succeeds.

mod common;

use std::process::Command;

use common::*;
use network_sandbox_escape_tests::NetNs;

/// A policy with one TCP endpoint nobody listens on: the listings need no endpoint.
const ALLOW: &str = "127.0.0.2:9";

/// The users to run as: root, and nobody when the tests run as root.
fn users() -> Vec<User> {
    if is_root() {
        vec![User::Root, User::Nobody]
    } else {
        vec![User::Root]
    }
}

/// Runs `program` without and with the sandbox as `user`; both must succeed and print the
/// same standard output, which must contain `expect`, and the sandbox must refuse nothing
/// on the way (no `network-sandbox: denied` line).
fn same_inside(user: User, program: &[&str], expect: &str) {
    same_inside_of(Some(ALLOW), user, program, expect)
}

/// [`same_inside`] under `--allow allow`, or under a policy without any endpoint (`None`).
fn same_inside_of(allow: Option<&str>, user: User, program: &[&str], expect: &str) {
    let mut control = Command::new(program[0]);
    control.args(&program[1..]);
    as_user(&mut control, user);
    let control = output(control);
    assert!(
        control.status.success() && control.stdout.contains(expect),
        "control without the sandbox ({program:?} as {user:?}) failed: the test would prove \
         nothing: {control:?}"
    );
    let mut cmd = ns_run(allow, program);
    as_user(&mut cmd, user);
    let out = output(cmd);
    assert!(
        out.status.success(),
        "{program:?} as {user:?} failed in the sandbox: {out:?}"
    );
    assert_eq!(
        out.stdout, control.stdout,
        "{program:?} as {user:?}: different output in the sandbox ({out:?})"
    );
    assert!(
        !out.stderr.contains("network-sandbox: denied"),
        "{program:?} as {user:?}: something was refused: {out:?}"
    );
}

#[test]
fn ip_addr_and_ip_route_work_inside() {
    let Some(ip) = require("ip", "iproute2") else {
        return;
    };
    let ip = ip.to_str().unwrap();
    for user in users() {
        same_inside(user, &[ip, "-o", "addr", "show"], "lo");
        same_inside(user, &[ip, "-o", "link", "show"], "lo");
        same_inside(user, &[ip, "route", "show", "table", "all"], "local");
        same_inside(user, &[ip, "-6", "route", "show", "table", "local"], "::1");
    }
}

#[test]
fn python_if_nameindex_works_inside() {
    let Some(python) = python() else {
        return;
    };
    let code = "import socket; print(socket.if_nameindex())";
    for user in users() {
        same_inside(user, &[python.to_str().unwrap(), "-c", code], "'lo'");
    }
}

#[test]
fn getifaddrs_works_inside() {
    let Some(gcc) = require("gcc", "a C compiler") else {
        return;
    };
    let dir = scratch_dir("getifaddrs");
    let source = dir.join("list.c");
    std::fs::write(
        &source,
        "#include <ifaddrs.h>\n#include <stdio.h>\n\
         int main(void) {\n\
           struct ifaddrs *all, *a;\n\
           if (getifaddrs(&all) != 0) { perror(\"getifaddrs\"); return 1; }\n\
           for (a = all; a; a = a->ifa_next)\n\
             printf(\"%s %d\\n\", a->ifa_name, a->ifa_addr ? a->ifa_addr->sa_family : -1);\n\
           freeifaddrs(all);\n\
           return 0;\n\
         }\n",
    )
    .unwrap();
    let program = dir.join("list");
    let built = output(Command::new(gcc).arg("-o").arg(&program).arg(&source));
    assert!(built.status.success(), "gcc: {built:?}");
    for user in users() {
        // "lo 2": the loopback interface's IPv4 address (AF_INET).
        same_inside(user, &[program.to_str().unwrap()], "lo 2");
    }
}

#[test]
fn node_network_interfaces_works_inside() {
    let Some(node) = require("node", "Node.js") else {
        return;
    };
    let code = "console.log(JSON.stringify(require('os').networkInterfaces().lo))";
    for user in users() {
        same_inside(user, &[node.to_str().unwrap(), "-e", code], "127.0.0.1");
    }
}

#[test]
fn hostname_i_works_inside() {
    let Some(hostname) = require("hostname", "hostname") else {
        return;
    };
    for user in users() {
        // Its output is this machine's addresses; whatever they are, the same inside.
        same_inside(user, &[hostname.to_str().unwrap(), "-I"], "");
    }
}

/// `ip ARGS` in the test's namespace, without the sandbox.
fn ip_in(netns: &NetNs, args: &[&str]) -> Output {
    let mut cmd = Command::new("nsenter");
    cmd.arg(format!("--net={}", netns.path().display()))
        .arg("ip")
        .args(args);
    output(cmd)
}

/// `ip ARGS` in the test's namespace, in the sandbox, as root.
fn sandboxed_ip_in(netns: &NetNs, args: &[&str]) -> Output {
    let mut cmd = Command::new("nsenter");
    cmd.arg(format!("--net={}", netns.path().display()))
        .arg(bin())
        .args(["run", "--allow", ALLOW, "--", "ip"])
        .args(args);
    output(cmd)
}

/// Root inside the sandbox cannot add an address, change a link or add a route: the kernel
/// asks `CAP_NET_ADMIN`, which the sandbox dropped. In a namespace of the test's own, where
/// the same commands work without the sandbox.
#[test]
fn root_cannot_change_addresses_links_or_routes() {
    if !is_root() {
        network_sandbox_escape_tests::skipped("needs root (a network namespace)", None);
        return;
    }
    if require("ip", "iproute2").is_none() || require("nsenter", "util-linux").is_none() {
        return;
    }
    let netns = NetNs::new().expect("a network namespace");
    // Controls: each change works without the sandbox.
    for args in [
        &["link", "set", "lo", "up"][..],
        &["addr", "add", "10.200.0.1/32", "dev", "lo"],
        &["link", "set", "lo", "mtu", "1400"],
        &["route", "add", "10.201.0.0/24", "dev", "lo"],
    ] {
        let out = ip_in(&netns, args);
        assert!(out.status.success(), "control ip {args:?}: {out:?}");
    }
    // The sandbox can read them…
    let out = sandboxed_ip_in(&netns, &["-o", "addr", "show", "dev", "lo"]);
    assert!(out.stdout.contains("10.200.0.1/32"), "{out:?}");
    // …and change none of them.
    for args in [
        &["addr", "add", "10.200.0.2/32", "dev", "lo"][..],
        &["addr", "del", "10.200.0.1/32", "dev", "lo"],
        &["link", "set", "lo", "mtu", "1300"],
        &["route", "add", "10.202.0.0/24", "dev", "lo"],
        &["route", "del", "10.201.0.0/24", "dev", "lo"],
    ] {
        let out = sandboxed_ip_in(&netns, args);
        assert!(!out.status.success(), "ip {args:?} in the sandbox: {out:?}");
        assert!(
            out.stderr.contains("Operation not permitted"),
            "ip {args:?}: the kernel's EPERM (no CAP_NET_ADMIN) expected: {out:?}"
        );
    }
    let addrs = ip_in(&netns, &["-o", "addr", "show", "dev", "lo"]).stdout;
    assert!(addrs.contains("10.200.0.1/32") && !addrs.contains("10.200.0.2"));
    let link = ip_in(&netns, &["-o", "link", "show", "dev", "lo"]).stdout;
    assert!(link.contains("mtu 1400"), "{link}");
    let routes = ip_in(&netns, &["route", "show"]).stdout;
    assert!(routes.contains("10.201.0.0/24") && !routes.contains("10.202.0.0"));
}

/// An `RTM_NEWADDR` request written by hand on a netlink route socket. With a UDP endpoint
/// in the policy, `sendto` with an address reaches the supervisor, which sends only
/// `RTM_GET*` requests and refuses this one with its line; `send` without an address goes
/// straight to the kernel, which refuses it (`EPERM` in the acknowledgement: no
/// `CAP_NET_ADMIN`). A `NETLINK_SOCK_DIAG` socket stays refused. Joining a multicast group
/// (reading changes) works; a message to another netlink port (which the kernel would check
/// against the supervisor's privileges) is refused by the supervisor. Root, in a namespace of
/// the test's own, where the same script adds the address without the sandbox.
#[test]
fn a_handwritten_rtm_newaddr_is_refused_and_sock_diag_stays_closed() {
    if !is_root() {
        network_sandbox_escape_tests::skipped("needs root (a network namespace)", None);
        return;
    }
    let Some(python) = python() else {
        return;
    };
    if require("nsenter", "util-linux").is_none() {
        return;
    }
    let netns = NetNs::new().expect("a network namespace");
    // Prints, one per line: the sendto's result, the kernel's answer to the send, and
    // whether a sock_diag socket opens.
    let script = r#"
import errno, socket, struct
def newaddr(last, seq):
    ifa = struct.pack("=BBBBI", 2, 32, 0, 0, 1)
    local = struct.pack("=HH4B", 8, 2, 10, 203, 0, last)
    body = ifa + local
    return struct.pack("=IHHII", 16 + len(body), 20, 0x1 | 0x4 | 0x400 | 0x200, seq, 0) + body
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
try:
    print("sendto", s.sendto(newaddr(1, 1), (0, 0)))
    print("ack", struct.unpack("=i", s.recv(4096)[16:20])[0])
except OSError as e:
    print("sendto", errno.errorcode[e.errno])
s.send(newaddr(2, 2))
print("send", struct.unpack("=i", s.recv(4096)[16:20])[0])
try:
    socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 4)
    print("sock_diag open")
except OSError as e:
    print("sock_diag", errno.errorcode[e.errno])
g = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
g.bind((0, 1))
print("groups", g.getsockname()[1])
getlink = struct.pack("=IHHII", 32, 18, 0x301, 3, 0) + bytes(16)
try:
    g.sendto(getlink, (4242, 0))
    print("to a port sent")
except OSError as e:
    print("to a port", errno.errorcode[e.errno])
"#;
    let python = python.to_str().unwrap();
    let path = format!("--net={}", netns.path().display());
    let control = output(Command::new("nsenter").args([&path, python, "-c", script]));
    assert!(
        control
            .stdout
            .contains("sendto 32\nack 0\nsend 0\nsock_diag open\ngroups 1\nto a port ECONNREFUSED"),
        "control without the sandbox: {control:?}"
    );
    let addrs = ip_in(&netns, &["-o", "addr", "show", "dev", "lo"]).stdout;
    assert!(addrs.contains("10.203.0.1/32") && addrs.contains("10.203.0.2/32"));
    ip_in(&netns, &["addr", "flush", "dev", "lo"]);

    let out = output(Command::new("nsenter").arg(&path).arg(bin()).args([
        "run",
        "--allow",
        "udp://127.0.0.2:9",
        "--",
        python,
        "-c",
        script,
    ]));
    assert!(
        out.stdout
            .contains("sendto EACCES\nsend -1\nsock_diag EACCES\ngroups 1\nto a port EACCES"),
        "{out:?}"
    );
    assert!(
        out.stderr
            .contains("RTM_NEWADDR (20) would change the network"),
        "the supervisor's line: {out:?}"
    );
    assert!(
        out.stderr
            .contains("a netlink message may go to the kernel only, not to port 4242"),
        "the supervisor's line: {out:?}"
    );
    let addrs = ip_in(&netns, &["-o", "addr", "show", "dev", "lo"]).stdout;
    assert!(!addrs.contains("10.203.0."), "{addrs}");
}

/// Bind before connect: Python's `create_connection(…, source_address=("127.0.0.1", 0))`
/// to an allowed endpoint connects; a bind to a fixed port is refused with `EACCES` and a
/// line. Controls without the sandbox: both work.
#[test]
fn bind_to_port_zero_before_connect_works_a_fixed_port_does_not() {
    let Some(python) = python() else {
        return;
    };
    let server = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let fixed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The fixed port is free again (the listener above is gone): the control can bind it.
    let script = format!(
        r#"
import errno, socket
c = socket.create_connection(("127.0.0.2", {port}), timeout=10, source_address=("127.0.0.1", 0))
print("connected from", c.getsockname()[0], c.getsockname()[1] != 0)
c.close()
for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind(("127.0.0.1", {fixed}))
        print("fixed bound")
    except OSError as e:
        print("fixed", errno.errorcode[e.errno])
    s.close()
"#
    );
    let accept = std::thread::spawn(move || {
        for _ in 0..users().len() * 2 {
            drop(server.accept());
        }
    });
    let python = python.to_str().unwrap();
    for user in users() {
        let mut control = Command::new(python);
        control.args(["-c", &script]);
        as_user(&mut control, user);
        let control = output(control);
        assert!(
            control
                .stdout
                .contains("connected from 127.0.0.1 True\nfixed bound\nfixed bound"),
            "control as {user:?}: {control:?}"
        );
        let allow = format!("127.0.0.2:{port},udp://127.0.0.2:9");
        let mut cmd = ns_run(Some(&allow), &[python, "-c", &script]);
        as_user(&mut cmd, user);
        let out = output(cmd);
        assert!(
            out.stdout
                .contains("connected from 127.0.0.1 True\nfixed EACCES\nfixed EACCES"),
            "as {user:?}: {out:?}"
        );
        assert!(
            out.stderr.contains("may bind to port 0 only"),
            "as {user:?}: the supervisor's line: {out:?}"
        );
    }
    accept.join().unwrap();
}

/// `curl --local-port N`: a fixed source port is a fixed bind, refused (curl exits 45 with
/// `EACCES`, the supervisor's line names the `listen` entry to add) unless the policy has
/// that `listen` entry; with it, the same command connects from that port. The control: the
/// command works without the sandbox.
#[test]
fn curl_local_port_needs_a_listen_entry() {
    let Some(curl) = require("curl", "curl") else {
        return;
    };
    let curl = curl.to_str().unwrap();
    let server = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let answer = std::thread::spawn(move || {
        // Control and allowed run per user: each connects once and gets its answer.
        for _ in 0..users().len() * 2 {
            let (mut c, from) = server.accept().unwrap();
            let mut request = [0u8; 1024];
            let _ = std::io::Read::read(&mut c, &mut request);
            let body = format!("from port {}", from.port());
            let reply = format!(
                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = std::io::Write::write_all(&mut c, reply.as_bytes());
        }
    });
    let url = format!("http://127.0.0.2:{port}/");
    let allow = format!("127.0.0.2:{port}");
    // A fresh local port for each run that connects: the one before may have left its
    // connection in TIME_WAIT, and the same four-tuple cannot connect again at once.
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
            .to_string()
    };
    let argv = |local: &str| {
        [
            curl,
            "-sS",
            "--max-time",
            "20",
            "--interface",
            "127.0.0.1",
            "--local-port",
            local,
            &url,
        ]
        .map(str::to_owned)
    };
    for user in users() {
        let local = free_port();
        let mut control = Command::new(curl);
        control.args(&argv(&local)[1..]);
        as_user(&mut control, user);
        let control = output(control);
        assert!(
            control.status.success() && control.stdout == format!("from port {local}"),
            "control as {user:?}: {control:?}"
        );
        let local = free_port();
        let argv = argv(&local);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let mut refused = ns_run(Some(&allow), &argv);
        as_user(&mut refused, user);
        let refused = output(refused);
        assert_eq!(refused.status.code(), Some(45), "as {user:?}: {refused:?}");
        assert!(
            refused.stderr.contains("errno 13"),
            "as {user:?}: curl's bind gets EACCES: {refused:?}"
        );
        assert!(
            refused
                .stderr
                .contains(&format!("denied bind to 127.0.0.1:{local} (tcp)"))
                && refused
                    .stderr
                    .contains(&format!("add listen = \"127.0.0.1:{local}\"")),
            "as {user:?}: the supervisor's line: {refused:?}"
        );
        let listen = format!("127.0.0.1:{local}");
        let mut cmd = Command::new(bin());
        cmd.args(["run", "--allow", &allow, "--listen", &listen, "--"]);
        cmd.args(&argv);
        as_user(&mut cmd, user);
        let out = output(cmd);
        assert!(
            out.status.success() && out.stdout == format!("from port {local}"),
            "with the listen entry as {user:?}: {out:?}"
        );
    }
    answer.join().unwrap();
}

/// `--listen 127.0.0.1:PORT`: a Python server in the sandbox binds there, listens and
/// accepts a connection from the test itself (outside the sandbox), and answers it. Without
/// `--listen` the same server's bind is refused with `EACCES` and a line naming the entry to
/// add. The control: the server works without the sandbox.
#[test]
fn a_server_listens_where_the_policy_says_listen() {
    let Some(python) = python() else {
        return;
    };
    let python = python.to_str().unwrap();
    let script = r#"
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
    s.listen(1)
except OSError as e:
    print("server", e.errno, flush=True)
    sys.exit(3)
print("listening", flush=True)
c, _ = s.accept()
c.sendall(b"hello from the sandbox")
c.close()
"#;
    for user in users() {
        for sandboxed in [false, true] {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let listen = format!("127.0.0.1:{port}");
            let mut cmd = if sandboxed {
                let mut c = Command::new(bin());
                c.args(["run", "--allow", ALLOW, "--listen", &listen, "--"]);
                c.arg(python);
                c
            } else {
                Command::new(python)
            };
            cmd.args(["-c", script, &port.to_string()]);
            as_user(&mut cmd, user);
            // Killed with its group if an assertion fails first.
            let mut server = Guard::spawn(&mut cmd);
            // Wait for its "listening" line, then connect from outside the sandbox.
            let mut line = String::new();
            let stdout = server.child.stdout.take().unwrap();
            std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
            assert_eq!(line, "listening\n", "as {user:?}, sandboxed {sandboxed}");
            let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            client
                .set_read_timeout(Some(std::time::Duration::from_secs(30)))
                .unwrap();
            let mut answer = String::new();
            std::io::Read::read_to_string(&mut client, &mut answer).unwrap();
            assert_eq!(answer, "hello from the sandbox", "as {user:?}");
            let status = server.child.wait().unwrap();
            assert!(
                status.success(),
                "as {user:?}, sandboxed {sandboxed}: {status:?}"
            );
        }
        // Without --listen: refused, with the entry to add.
        let port = 28994;
        let mut cmd = ns_run(Some(ALLOW), &[python, "-c", script, &port.to_string()]);
        as_user(&mut cmd, user);
        let out = output(cmd);
        assert_eq!(out.code(), Some(3), "{out:?}");
        assert!(out.stdout.contains("server 13"), "EACCES: {out:?}");
        assert!(
            out.stderr
                .contains("to allow it, add listen = \"127.0.0.1:28994\""),
            "{out:?}"
        );
    }
}

/// Go's `net.Interfaces` and `Addrs` (netlink, `CGO_ENABLED=0`).
#[test]
fn go_net_interfaces_works_inside() {
    const SOURCE: &str = "package main\n\nimport (\n\t\"fmt\"\n\t\"net\"\n\t\"os\"\n)\n\n\
         func main() {\n\tifs, err := net.Interfaces()\n\tif err != nil {\n\t\t\
         fmt.Println(err)\n\t\tos.Exit(1)\n\t}\n\tfor _, i := range ifs {\n\t\t\
         addrs, err := i.Addrs()\n\t\tif err != nil {\n\t\t\tfmt.Println(err)\n\t\t\t\
         os.Exit(1)\n\t\t}\n\t\tfmt.Println(i.Name, addrs)\n\t}\n}\n";
    let Some(exe) = go_program("go-interfaces", SOURCE, false) else {
        return;
    };
    for user in users() {
        same_inside(user, &[exe.to_str().unwrap()], "lo [127.0.0.1/8");
    }
}

/// Java's `NetworkInterface` asks its questions with `SIOCGIF*` ioctls on datagram sockets
/// (`socket(AF_INET, SOCK_DGRAM)`, then `AF_INET6`). Under a TCP-only policy the supervisor
/// makes those sockets, shut down (query sockets, issue 12): Java lists the same interfaces
/// and addresses as without the sandbox, and no socket is refused. Before query sockets it
/// failed at the socket (`denied socket (udp)`). The same under a policy without any
/// endpoint, where a supervisor runs too. As root and as nobody.
#[test]
fn java_network_interface_works_under_a_tcp_only_policy() {
    let Some(java) = require("java", "Java") else {
        return;
    };
    let dir = scratch_dir("java-interfaces");
    let src = dir.join("Interfaces.java");
    std::fs::write(
        &src,
        "import java.net.NetworkInterface;\nimport java.util.Collections;\n\
         public class Interfaces {\n  public static void main(String[] a) throws Exception {\n\
             for (NetworkInterface n : Collections.list(NetworkInterface.getNetworkInterfaces()))\n\
               System.out.println(n.getName() + \" \" + n.getIndex() + \" \" + n.isUp() + \" \"\n\
                 + n.isLoopback() + \" \" + n.getMTU() + \" \" + Collections.list(n.getInetAddresses()));\n\
           }\n}\n",
    )
    .unwrap();
    std::fs::set_permissions(&src, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let (java, src) = (java.to_str().unwrap(), src.to_str().unwrap());
    let lines = |s: &str| {
        let mut v: Vec<String> = s.lines().map(str::to_owned).collect();
        v.sort();
        v
    };
    for user in users() {
        let mut control = Command::new(java);
        control.args(["-Xshare:auto", src]);
        as_user(&mut control, user);
        let control = output(control);
        assert!(
            control.status.success() && control.stdout.contains("lo 1 true true"),
            "control as {user:?}: {control:?}"
        );
        for allow in [Some(ALLOW), None] {
            let mut cmd = ns_run(allow, &[java, "-Xshare:auto", src]);
            as_user(&mut cmd, user);
            let out = output(cmd);
            assert!(out.status.success(), "{allow:?} as {user:?}: {out:?}");
            assert_eq!(
                lines(&out.stdout),
                lines(&control.stdout),
                "{allow:?} as {user:?}: {out:?}"
            );
            assert!(
                !out.stderr.contains("network-sandbox: denied"),
                "{allow:?} as {user:?}: nothing is refused: {out:?}"
            );
        }
    }
}

/// glibc's `if_nametoindex` and `if_indextoname` (Python's `socket.if_nametoindex`) ask
/// `SIOCGIFINDEX`/`SIOCGIFNAME` on a datagram socket from `__opensock` (unix, then IPv4,
/// then IPv6): under a TCP-only policy, and under one without any endpoint, they answer as
/// without the sandbox, silently. Before query sockets: two refusal lines and "no interface
/// with this name".
#[test]
fn python_if_nametoindex_works_under_a_tcp_only_policy() {
    let Some(python) = python() else {
        return;
    };
    let code = "import socket\n\
                i = socket.if_nametoindex('lo')\n\
                print(i, socket.if_indextoname(i))\n\
                for n in sorted(socket.if_nameindex()):\n\
                \x20   print(n, socket.if_nametoindex(n[1]))";
    for user in users() {
        for allow in [Some(ALLOW), None] {
            // Same output, and nothing refused on the way (`same_inside_of`).
            same_inside_of(
                allow,
                user,
                &[python.to_str().unwrap(), "-c", code],
                "1 lo\n",
            );
        }
    }
}

/// `dig +tcp` binds its TCP socket to port 0 before it connects; to an allowed loopback DNS
/// server (the test's own) it gets its answer inside, as outside (the control).
#[test]
fn dig_over_tcp_binds_before_it_connects() {
    let Some(dig) = require("dig", "dig (Debian package dnsutils)") else {
        return;
    };
    let server = common::dns::DnsServer::start(&[("bind-first.test", "192.0.2.91")]);
    let at = format!("@{}", server.ip);
    let dig = dig.to_str().unwrap();
    let argv = [
        dig,
        "+tcp",
        "+short",
        "+time=5",
        "+tries=1",
        &at,
        "bind-first.test",
    ];
    for user in users() {
        let mut control = Command::new(dig);
        control.args(&argv[1..]);
        as_user(&mut control, user);
        let control = output(control);
        assert_eq!(control.stdout.trim(), "192.0.2.91", "control: {control:?}");
        let allow = format!("{}:53", server.ip);
        let mut cmd = ns_run(Some(&allow), &argv);
        as_user(&mut cmd, user);
        let out = output(cmd);
        assert_eq!(out.stdout.trim(), "192.0.2.91", "as {user:?}: {out:?}");
        assert!(!out.stderr.contains("denied bind"), "{out:?}");
    }
    assert!(server.queries().iter().all(|q| q.transport == "tcp"));
}

/// `curl --interface 127.0.0.1` binds its socket to that address, port 0, before it
/// connects: it fetches from an allowed server inside, as outside.
#[test]
fn curl_interface_binds_before_it_connects() {
    let Some(curl) = require("curl", "curl") else {
        return;
    };
    let servers = Servers::start();
    let url = servers.allowed.url();
    let body = servers.allowed.body();
    let curl = curl.to_str().unwrap();
    let argv = [
        curl,
        "-sS",
        "--max-time",
        "20",
        "--interface",
        "127.0.0.1",
        &url,
    ];
    for user in users() {
        let mut control = Command::new(curl);
        control.args(&argv[1..]);
        as_user(&mut control, user);
        let control = output(control);
        assert!(control.stdout.contains(&body), "control: {control:?}");
        let mut cmd = ns_run(Some(&servers.allow()), &argv);
        as_user(&mut cmd, user);
        let out = output(cmd);
        assert!(out.stdout.contains(&body), "as {user:?}: {out:?}");
        assert!(!out.stderr.contains("denied bind"), "{out:?}");
    }
}

/// `check` shows the `listen` entries and the Landlock bind rules they add; a bad entry is
/// an error with a caret under it.
#[test]
fn check_shows_listen_entries_and_refuses_bad_ones() {
    let out = output(ns(&[
        "check",
        "--allow",
        ALLOW,
        "--listen",
        "127.0.0.1:8080,[::1]:8081",
    ]));
    assert!(
        out.stdout
            .contains("  listen: 127.0.0.1:8080, [::1]:8081 (TCP)"),
        "{out:?}"
    );
    // Landlock port rules need ABI 4.
    let abi: u32 = out
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Landlock: ABI "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    if abi >= 4 {
        assert!(
            out.stdout.contains("TCP bind only to ports 0, 8080-8081"),
            "{out:?}"
        );
    }
    let out = output(ns(&[
        "check",
        "--allow",
        ALLOW,
        "--listen",
        "127.0.0.1:80-90",
    ]));
    assert_eq!(out.code(), Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains("invalid address in --listen: `listen` takes one port"),
        "{out:?}"
    );
}
