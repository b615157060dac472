//! Real clients of other runtimes under `network-sandbox run --allow 127.0.0.2:P`: curl,
//! Python (`urllib.request`, `socket`), Node.js (`fetch`, `net`), Go (`net/http`) and Java
//! (`java.net.http.HttpClient`).
//!
//! For each client: a control run without the sandbox reaches the forbidden servers (so the
//! test can fail), then under the sandbox the allowed fetch returns the body (also under the
//! README's system call profile for an HTTPS client, `@system-service` and `@pkey`, which
//! refuses nothing the client calls), the
//! forbidden ones fail, and the forbidden servers record nothing. A runtime that is not installed is
//! skipped with a message.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// The README's system call profile for an HTTPS client: `@system-service`, and the memory
/// protection keys V8 (Node.js) asks for.
const HTTPS_CLIENT_PROFILE: &str = "@system-service,@pkey";

/// Builds a client's program and arguments for `(host, port, url)`.
type Argv = Box<dyn Fn(&str, u16, &str) -> Vec<String>>;

/// How to run one client: the command line for a URL-ish target (host, port, url).
struct Client {
    name: &'static str,
    /// Builds the program and its arguments for `(host, port, url)`.
    argv: Argv,
    /// The user to run as.
    user: User,
    /// Extra environment.
    env: Vec<(String, String)>,
}

/// Control run, then sandboxed runs, with every check of the module documentation.
fn exercise(client: &Client) {
    let servers = Servers::start();
    let allowed_body = servers.allowed.body();
    let targets = [&servers.forbidden, &servers.forbidden6];

    // Control: the same client without the sandbox reaches the forbidden servers.
    for server in targets {
        let argv = (client.argv)(&server.host(), server.port(), &server.url());
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        cmd.envs(client.env.iter().cloned());
        as_user(&mut cmd, client.user);
        let out = output(&mut cmd);
        assert!(
            out.stdout.contains(&server.body()),
            "{}: control run without the sandbox did not fetch {} (the test would prove \
             nothing): {out:?}",
            client.name,
            server.addr
        );
    }
    servers.settle();
    let before = (
        servers.forbidden.connections(),
        servers.forbidden6.connections(),
    );
    assert!(
        before.0 >= 1 && before.1 >= 1,
        "{}: control not recorded",
        client.name
    );

    let sandboxed_with = |flags: &[&str], host: String, port: u16, url: String| {
        let argv = (client.argv)(&host, port, &url);
        let mut cmd = Command::new(bin());
        cmd.args(["run", "--allow", &servers.allow()])
            .args(flags)
            .arg("--")
            .args(&argv);
        cmd.envs(client.env.iter().cloned());
        as_user(&mut cmd, client.user);
        output(&mut cmd)
    };
    let sandboxed = |host, port, url| sandboxed_with(&[], host, port, url);

    let a = &servers.allowed;
    let out = sandboxed(a.host(), a.port(), a.url());
    assert!(!out.timed_out, "{}: timed out: {out:?}", client.name);
    assert!(
        out.stdout.contains(&allowed_body),
        "{}: the allowed fetch did not return the body: {out:?}",
        client.name
    );
    assert_eq!(out.code(), Some(0), "{}: {out:?}", client.name);

    // The same under the README's system call profile for an HTTPS client (issue 14): the
    // client runs unchanged, and the profile refuses nothing it calls.
    let profile = ["--syscalls", HTTPS_CLIENT_PROFILE];
    let out = sandboxed_with(&profile, a.host(), a.port(), a.url());
    assert!(
        !out.timed_out,
        "{}: timed out under @system-service: {out:?}",
        client.name
    );
    assert!(
        out.stdout.contains(&allowed_body) && out.code() == Some(0),
        "{}: the allowed fetch failed under {HTTPS_CLIENT_PROFILE}: {out:?}",
        client.name
    );
    assert!(
        !out.stderr.contains("denied system call"),
        "{}: {HTTPS_CLIENT_PROFILE} refused a call the client makes: {}",
        client.name,
        out.stderr
    );

    for server in targets {
        let out = sandboxed(server.host(), server.port(), server.url());
        assert!(!out.timed_out, "{}: timed out: {out:?}", client.name);
        assert!(
            !out.stdout.contains(&server.body()),
            "{}: fetched the forbidden {}: {out:?}",
            client.name,
            server.addr
        );
        assert_ne!(
            out.code(),
            Some(0),
            "{}: forbidden fetch succeeded: {out:?}",
            client.name
        );
        assert!(
            network_sandbox_escape_tests::supervisor_refused(
                &out.stderr,
                "connect",
                Some(&server.addr.to_string())
            ),
            "{}: no denial reported: {}",
            client.name,
            out.stderr
        );
    }
    servers.settle();
    assert_eq!(
        (
            servers.forbidden.connections(),
            servers.forbidden6.connections()
        ),
        before,
        "{}: a forbidden server recorded a connection under the sandbox",
        client.name
    );
    assert_eq!(servers.forbidden_connections(), before.0 + before.1);
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// `[::1]` for URLs of IPv6 hosts.
fn url_host(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

#[test]
fn curl() {
    let Some(curl) = require("curl", "curl") else {
        return;
    };
    let mut users = vec![User::Root];
    if is_root() && world_executable(&curl) {
        users.push(User::Nobody);
    }
    for user in users {
        let path = curl.to_string_lossy().into_owned();
        exercise(&Client {
            name: "curl",
            argv: Box::new(move |_, _, url| {
                s(&[&path, "-sS", "--noproxy", "*", "--max-time", "10", url])
            }),
            user,
            env: vec![],
        });
    }
}

const PY_URLLIB: &str = "import sys, urllib.request\n\
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))\n\
print(opener.open(sys.argv[1], timeout=10).read().decode())\n";

const PY_SOCKET: &str = r"import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((host, port), timeout=10)
s.sendall(b'GET / HTTP/1.0\r\nHost: x\r\n\r\n')
data = b''
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
print(data.decode())
";

#[test]
fn python_urllib() {
    let Some(py) = python() else { return };
    let mut users = vec![User::Root];
    if is_root() && world_executable(&py) {
        users.push(User::Nobody);
    }
    for user in users {
        let path = py.to_string_lossy().into_owned();
        exercise(&Client {
            name: "python3 urllib.request",
            argv: Box::new(move |_, _, url| s(&[&path, "-c", PY_URLLIB, url])),
            user,
            env: vec![],
        });
    }
}

#[test]
fn python_socket() {
    let Some(py) = python() else { return };
    let path = py.to_string_lossy().into_owned();
    exercise(&Client {
        name: "python3 socket",
        argv: Box::new(move |host, port, _| s(&[&path, "-c", PY_SOCKET, host, &port.to_string()])),
        user: User::Root,
        env: vec![],
    });
}

const NODE_FETCH: &str = "fetch(process.argv[1]).then(r => r.text()).then(t => { console.log(t); })\
.catch(e => { console.error('fetch failed:', e.cause ? e.cause.code || e.cause.message : e.message); process.exit(1); });";

const NODE_NET: &str = "const net = require('net');\
const s = net.connect({host: process.argv[1], port: Number(process.argv[2])}, () => {\
 s.write('GET / HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n'); });\
let data = ''; s.on('data', d => data += d); s.on('end', () => console.log(data));\
s.on('error', e => { console.error('net failed:', e.code); process.exit(1); });";

#[test]
fn node_fetch() {
    let Some(node) = require("node", "Node.js") else {
        return;
    };
    let path = node.to_string_lossy().into_owned();
    exercise(&Client {
        name: "node fetch",
        argv: Box::new(move |host, port, _| {
            let url = format!("http://{}:{port}/", url_host(host));
            s(&[&path, "-e", NODE_FETCH, &url])
        }),
        user: User::Root,
        env: vec![],
    });
}

#[test]
fn node_net() {
    let Some(node) = require("node", "Node.js") else {
        return;
    };
    let path = node.to_string_lossy().into_owned();
    exercise(&Client {
        name: "node net",
        argv: Box::new(move |host, port, _| s(&[&path, "-e", NODE_NET, host, &port.to_string()])),
        user: User::Root,
        env: vec![],
    });
}

const GO_CLIENT: &str = r#"package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}
	r, err := c.Get(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "get failed:", err)
		os.Exit(1)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		fmt.Fprintln(os.Stderr, "read failed:", err)
		os.Exit(1)
	}
	fmt.Println(string(b))
}
"#;

#[test]
fn go_net_http() {
    let Some(exe) = go_program("go-client", GO_CLIENT, false) else {
        return;
    };
    let mut users = vec![User::Root];
    if is_root() {
        users.push(User::Nobody);
    }
    for user in users {
        let path = exe.to_string_lossy().into_owned();
        exercise(&Client {
            name: "go net/http",
            argv: Box::new(move |_, _, url| s(&[&path, url])),
            user,
            env: vec![],
        });
    }
}

const JAVA_CLIENT: &str = r#"import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

public class Fetch {
    public static void main(String[] args) throws Exception {
        HttpClient c = HttpClient.newBuilder()
            .connectTimeout(Duration.ofSeconds(10))
            .proxy(HttpClient.Builder.NO_PROXY)
            .version(HttpClient.Version.HTTP_1_1)
            .build();
        HttpRequest r = HttpRequest.newBuilder(URI.create(args[0])).timeout(Duration.ofSeconds(10)).build();
        try {
            System.out.println(c.send(r, HttpResponse.BodyHandlers.ofString()).body());
        } catch (java.io.IOException e) {
            System.err.println("send failed: " + e);
            System.exit(1);
        }
    }
}
"#;

#[test]
fn java_http_client() {
    let Some(java) = require("java", "Java") else {
        return;
    };
    let dir = scratch_dir("java-client");
    let src = dir.join("Fetch.java");
    std::fs::write(&src, JAVA_CLIENT).unwrap();
    let path = java.to_string_lossy().into_owned();
    let src = src.to_string_lossy().into_owned();
    exercise(&Client {
        name: "java HttpClient",
        argv: Box::new(move |_, _, url| s(&[&path, "-Xshare:auto", &src, url])),
        user: User::Root,
        env: vec![],
    });
}

fn world_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o001 != 0)
}
