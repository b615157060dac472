//! The endpoint grammar: every accepted form and every class of error, with the byte range
//! each error points at.

use std::net::IpAddr;

use network_sandbox_build::model::{Entry, NamedEndpoint, Protocol};
use network_sandbox_build::parse::{parse_endpoint, parse_entry};

fn ok(text: &str) -> (Protocol, IpAddr, u8, u16, u16) {
    let e = parse_endpoint(text, 0).unwrap_or_else(|e| panic!("{text}: {}", e.message));
    assert_eq!(e.origin.text, text);
    (e.protocol, e.addr, e.prefix, e.first_port, e.last_port)
}

/// Asserts that `text` fails with a message containing `needle`, pointing at `part` (the
/// text of the range; `""` for an empty range, which must then be at `at`).
fn err(text: &str, part: &str, needle: &str) {
    let e = match parse_entry(text, 0) {
        Ok(e) => panic!("{text} parsed as {e:?}"),
        Err(e) => e,
    };
    assert!(
        e.message.contains(needle),
        "{text}: message {:?} lacks {needle:?}",
        e.message
    );
    assert_eq!(&text[e.range.clone()], part, "{text}: range {:?}", e.range);
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn accepted_forms() {
    use Protocol::{Tcp, Udp};
    assert_eq!(ok("192.0.2.1:443"), (Tcp, ip("192.0.2.1"), 32, 443, 443));
    assert_eq!(
        ok("tcp://192.0.2.1:443"),
        (Tcp, ip("192.0.2.1"), 32, 443, 443)
    );
    assert_eq!(ok("udp://192.0.2.1:53"), (Udp, ip("192.0.2.1"), 32, 53, 53));
    assert_eq!(
        ok("10.0.0.0/8:8000-8080"),
        (Tcp, ip("10.0.0.0"), 8, 8000, 8080)
    );
    assert_eq!(ok("0.0.0.0/0:1-65535"), (Tcp, ip("0.0.0.0"), 0, 1, 65535));
    assert_eq!(ok("10.0.0.1/32:80"), (Tcp, ip("10.0.0.1"), 32, 80, 80));
    assert_eq!(ok("[::1]:443"), (Tcp, ip("::1"), 128, 443, 443));
    assert_eq!(
        ok("[2001:db8::/32]:443"),
        (Tcp, ip("2001:db8::"), 32, 443, 443)
    );
    assert_eq!(
        ok("udp://[2001:db8::53]:53"),
        (Udp, ip("2001:db8::53"), 128, 53, 53)
    );
    assert_eq!(ok("[::/0]:80"), (Tcp, ip("::"), 0, 80, 80));
    assert_eq!(ok("127.0.0.2:80-80"), (Tcp, ip("127.0.0.2"), 32, 80, 80));
    assert_eq!(ok("1.2.3.4:65535"), (Tcp, ip("1.2.3.4"), 32, 65535, 65535));
    // A network that holds [::] or ::ffff:0.0.0.0 is refused, except [::/0] (see
    // `networks_that_hold_an_unspecified_address`).
    assert_eq!(
        ok("[2001:db8::/64]:80"),
        (Tcp, ip("2001:db8::"), 64, 80, 80)
    );
}

#[test]
fn origin_ranges() {
    let e = parse_endpoint("udp://[2001:db8::/32]:53-54", 3).unwrap();
    assert_eq!(e.origin.index, 3);
    assert_eq!(&e.origin.text[e.origin.host.clone()], "[2001:db8::/32]");
    assert_eq!(&e.origin.text[e.origin.ports.clone()], "53-54");
    let e = parse_endpoint("10.0.0.0/8:443", 0).unwrap();
    assert_eq!(&e.origin.text[e.origin.host.clone()], "10.0.0.0/8");
    assert_eq!(&e.origin.text[e.origin.ports.clone()], "443");
}

#[test]
fn empty_and_whitespace() {
    err("", "", "empty endpoint");
    err(" 10.0.0.1:80", " ", "whitespace");
    err("10.0.0.1: 80", " ", "whitespace");
}

#[test]
fn schemes() {
    err(
        "http://10.0.0.1:80",
        "http://",
        "unknown scheme `http://`: use `tcp://` or `udp://`",
    );
    err("TCP://10.0.0.1:80", "TCP://", "unknown scheme");
    err("://10.0.0.1:80", "://", "is not a scheme");
    err("tcp://", "", "missing host and port");
}

#[test]
fn bad_ipv4() {
    err("300.1.1.1:80", "300.1.1.1", "`300` is more than 255");
    err("10.0.0:80", "10.0.0", "is not an IPv4 address");
    err("10.0.0.1.5:80", "10.0.0.1.5", "is not an IPv4 address");
    err(
        "010.0.0.1:80",
        "010.0.0.1",
        "leading zero in `010.0.0.1` (some tools read it as octal): write 10.0.0.1",
    );
    err(":80", "", "missing host");
}

fn name(text: &str) -> NamedEndpoint {
    match parse_entry(text, 0) {
        Ok(Entry::Name(n)) => n,
        other => panic!("{text}: {other:?}"),
    }
}

#[test]
fn names() {
    let n = name("api.Example.com:443");
    assert_eq!(
        (n.protocol, n.name.as_str(), n.first_port, n.last_port),
        (Protocol::Tcp, "api.example.com", 443, 443)
    );
    assert!(n.pinned.is_empty());
    assert_eq!(&n.origin.text[n.origin.host.clone()], "api.Example.com");
    assert_eq!(name("localhost:80").name, "localhost");
    assert_eq!(name("example.com.:443").name, "example.com", "trailing dot");
    assert_eq!(name("udp://db-1:5432-5433").protocol, Protocol::Udp);
    assert_eq!(
        name("1a.example:1").name,
        "1a.example",
        "labels may start with a digit"
    );
    let long = format!(
        "{}.{}.{}.{}",
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(61)
    );
    assert_eq!(long.len(), 253);
    assert_eq!(name(&format!("{long}:1")).name, long);
    // Digits and dots only: an address, not a name.
    err("1.2.3.999:80", "1.2.3.999", "more than 255");
    // parse_endpoint wants an address.
    let e = parse_endpoint("example.com:443", 0).unwrap_err();
    assert!(e.message.contains("is a name"), "{}", e.message);
}

#[test]
fn pinned_names() {
    let n = name("api.example.com=192.0.2.1,[2001:db8::1]:443");
    assert_eq!(n.name, "api.example.com");
    assert_eq!(n.pinned, vec![ip("192.0.2.1"), ip("2001:db8::1")]);
    assert_eq!(
        &n.origin.text[n.origin.host.clone()],
        "api.example.com=192.0.2.1,[2001:db8::1]"
    );
    assert_eq!(
        n.to_string(),
        "tcp://api.example.com=192.0.2.1,[2001:db8::1]:443"
    );
    let n = name("udp://a.test=[::1]:53");
    assert_eq!(
        (n.protocol, n.pinned.clone()),
        (Protocol::Udp, vec![ip("::1")])
    );
    err("a.test=192.0.2.1", "", "missing port");
    err("a.test=[::1]", "", "missing port");
    err("=192.0.2.1:443", "=", "missing name");
    err("a.test=:443", "=:", "missing address");
    err("a.test=192.0.2.1,:443", ",:", "missing address");
    err("a.test=192.0.2.300:443", "192.0.2.300", "not an IP address");
    err("a.test=other.test:443", "other.test", "not an IP address");
    err("a.test=10.0.0.0/8:443", "10.0.0.0/8", "is a network");
    err(
        "a.test=[2001:db8::/32]:443",
        "[2001:db8::/32]",
        "is a network",
    );
    err("a.test=2001:db8::1:443", "2001:db8::1", "need brackets");
    err(
        "a.test=[2001:db8::g]:443",
        "2001:db8::g",
        "not an IPv6 address",
    );
    err("a.test=0.0.0.0:443", "0.0.0.0", "unspecified");
    err(
        "a.test=[::ffff:10.0.0.1]:443",
        "[::ffff:10.0.0.1]",
        "IPv4-mapped",
    );
    err(
        "a.test=192.0.2.1,192.0.2.1:443",
        "192.0.2.1",
        "pinned twice",
    );
    err("a_b.test=192.0.2.1:443", "_", "not allowed in a name");
}

#[test]
fn bad_names() {
    err("a..example.com:443", ".", "empty label");
    err(".example.com:443", ".", "empty label");
    err("example.com..:443", ".", "empty label");
    let label = "x".repeat(64);
    err(&format!("{label}.com:443"), &label, "64 characters long");
    let long = format!(
        "{}.{}.{}.{}",
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(62)
    );
    err(&format!("{long}:443"), &long, "254 characters long");
    err(
        "under_score.example:443",
        "_",
        "`_` is not allowed in a name",
    );
    err("a!b.example:443", "!", "not allowed");
    err("-a.example:443", "-a", "starts or ends with `-`");
    err("a-.example:443", "a-", "starts or ends with `-`");
    err(
        "*.example.com:443",
        "*.example.com",
        "wildcards are not supported",
    );
    err("api.*.com:443", "api.*.com", "list each name");
    err("bücher.example:443", "bücher.example", "punycode");
    err("example.com/24:443", "/", "not allowed");
}

#[test]
fn unspecified_hosts() {
    err("0.0.0.0:80", "0.0.0.0", "unspecified address");
    err("[::]:80", "[::]", "unspecified address");
}

/// A network that holds an unspecified address (`0.0.0.0/8`, `::`, `::ffff:0.0.0.0/104`) is
/// refused, whatever its prefix, except `/0`: every address of the family (the supervisor
/// refuses the unspecified ones itself).
#[test]
fn networks_that_hold_an_unspecified_address() {
    use Protocol::{Tcp, Udp};
    for n in 1..=32 {
        let host = format!("0.0.0.0/{n}");
        err(
            &format!("{host}:47000"),
            &host,
            "holds 0.0.0.0, the unspecified address",
        );
        err(&format!("udp://{host}:47001"), &host, "never allows");
    }
    err("0.1.0.0/16:80", "0.1.0.0/16", "is in 0.0.0.0/8");
    err("0.1.2.3:80", "0.1.2.3", "is in 0.0.0.0/8");
    err("a.test=0.1.2.3:443", "0.1.2.3", "is in 0.0.0.0/8");
    let e = parse_entry("0.0.0.0/8:47000", 0).unwrap_err();
    assert_eq!(
        e.message,
        "0.0.0.0/8 holds 0.0.0.0, the unspecified address, which the sandbox never allows: a \
         connect to it reaches this machine (the kernel connects it to loopback or the bound \
         address); write 127.0.0.1 for loopback, or 0.0.0.0/0 for every IPv4 address"
    );
    for host in [
        "[::/1]",
        "[::/64]",
        "[::/128]",
        "[::ffff:0.0.0.0]",
        "[::ffff:0.0.0.0/96]",
        "[::ffff:0.0.0.0/104]",
        "[::ffff:0.1.0.0/112]",
        "[::8000:0:0/81]",
    ] {
        err(&format!("{host}:47000"), host, "an unspecified address");
        err(&format!("a.test={host}:47000"), host, "");
    }
    // Every address of a family stays writable; a neighbour stays an endpoint.
    assert_eq!(ok("0.0.0.0/0:47000"), (Tcp, ip("0.0.0.0"), 0, 47000, 47000));
    assert_eq!(ok("udp://[::/0]:47001"), (Udp, ip("::"), 0, 47001, 47001));
    assert_eq!(ok("1.0.0.0/8:80"), (Tcp, ip("1.0.0.0"), 8, 80, 80));
    assert_eq!(ok("[::1]:80"), (Tcp, ip("::1"), 128, 80, 80));
    assert_eq!(ok("[::2/127]:80"), (Tcp, ip("::2"), 127, 80, 80));
    err(
        "[::ffff:1.0.0.0/104]:80",
        "[::ffff:1.0.0.0/104]",
        "IPv4-mapped",
    );
}

#[test]
fn ipv6() {
    err(
        "::1:443",
        "::1:443",
        "IPv6 addresses need brackets: [::1]:443",
    );
    err(
        "2001:db8::1",
        "2001:db8::1",
        "IPv6 addresses need brackets: [2001:db8::1]:PORT",
    );
    err(
        "[2001:db8::zz]:443",
        "2001:db8::zz",
        "is not an IPv6 address",
    );
    err("[2001:db8::1:443", "[2001:db8::1:443", "missing `]`");
    err("[::1]", "", "missing port: write [::1]:PORT");
    err("[::1]443", "443", "unexpected `443` after `[::1]`");
    err("[]:80", "[]", "empty brackets");
    err(
        "[10.0.0.1]:80",
        "[10.0.0.1]",
        "is an IPv4 address: write it without brackets",
    );
    err(
        "[fe80::1%eth0]:80",
        "%eth0",
        "zone id `%eth0` is not supported",
    );
    err(
        "[::ffff:10.0.0.1]:80",
        "[::ffff:10.0.0.1]",
        "IPv4-mapped IPv6 address",
    );
    err(
        "[::ffff:10.0.0.0/104]:80",
        "[::ffff:10.0.0.0/104]",
        "write 10.0.0.0/8",
    );
}

#[test]
fn missing_port() {
    err(
        "10.0.0.1",
        "",
        "missing port: write HOST:PORT, e.g. 10.0.0.1:443",
    );
    err("10.0.0.1:", ":", "missing port after `:`");
}

#[test]
fn ports() {
    err(
        "10.0.0.1:0",
        "0",
        "port 0 is not allowed: ports are 1–65535",
    );
    err(
        "10.0.0.1:65536",
        "65536",
        "`65536` is not a port: ports are 1–65535",
    );
    err("10.0.0.1:99999999999", "99999999999", "is not a port");
    err("10.0.0.1:https", "https", "`https` is not a port");
    err("10.0.0.1:+80", "+80", "is not a port");
    err("10.0.0.1:*", "*", "write 1-65535 for every port");
    err(
        "10.0.0.1:443-80",
        "443-80",
        "reversed port range 443-80: write the lower port first",
    );
    err("10.0.0.1:0-80", "0", "port 0 is not allowed");
    err("10.0.0.1:80-", "80-", "is not a port range");
    err("10.0.0.1:80-90-100", "90-100", "is not a port");
}

#[test]
fn cidr() {
    err(
        "10.0.0.1/8:80",
        "10.0.0.1/8",
        "host bits set in 10.0.0.1/8: did you mean 10.0.0.0/8?",
    );
    err(
        "[2001:db8::1/32]:80",
        "[2001:db8::1/32]",
        "host bits set in [2001:db8::1/32]: did you mean [2001:db8::/32]?",
    );
    err(
        "10.0.0.0/33:80",
        "/33",
        "prefix /33 is longer than 32 for IPv4",
    );
    err(
        "[2001:db8::/129]:80",
        "/129",
        "prefix /129 is longer than 128 for IPv6",
    );
    err("10.0.0.0/:80", "/", "missing prefix length");
    err("10.0.0.0/x:80", "x", "is not a prefix length");
}

#[test]
fn never_panics_on_odd_input() {
    for text in [
        "[",
        "]",
        "[:",
        "/",
        ":",
        "::",
        "[]",
        "[/]:1",
        "1.2.3.4/:",
        "udp://[",
        "é:1",
        "1.2.3.4:é",
        "[::1]:",
        "[::1/]:1",
        "a://",
        "-",
        "1.2.3.4:-",
        "1.2.3.4:-1",
        "[::1]::1",
    ] {
        let _ = parse_endpoint(text, 0);
    }
}

fn unix(text: &str) -> network_sandbox_build::model::UnixEndpoint {
    match parse_entry(text, 3) {
        Ok(Entry::Unix(u)) => {
            assert_eq!(u.origin.text, text);
            assert_eq!(u.origin.index, 3);
            u
        }
        other => panic!("{text}: {other:?}"),
    }
}

#[test]
fn unix_sockets() {
    use network_sandbox_build::model::UnixName;
    let u = unix("unix:/run/app.sock");
    assert_eq!(u.name, UnixName::Path("/run/app.sock".into()));
    assert_eq!(&u.origin.text[u.origin.host.clone()], "/run/app.sock");
    assert_eq!(u.to_string(), "unix:/run/app.sock");
    // Spaces and commas are part of a path.
    assert_eq!(
        unix("unix:/tmp/a b,c.sock").name,
        UnixName::Path("/tmp/a b,c.sock".into())
    );
    // A colon not followed by digits only is part of the path too.
    assert_eq!(
        unix("unix:/tmp/x:y").name,
        UnixName::Path("/tmp/x:y".into())
    );
    let a = unix("unix:@app");
    assert_eq!(a.name, UnixName::Abstract(b"app".to_vec()));
    assert_eq!(a.to_string(), "unix:@app");
    // The longest that fit: 107 bytes of path, 107 of abstract name.
    let long = format!("unix:/{}", "a".repeat(106));
    assert!(matches!(unix(&long).name, UnixName::Path(p) if p.len() == 107));
    let long = format!("unix:@{}", "b".repeat(107));
    assert!(matches!(unix(&long).name, UnixName::Abstract(n) if n.len() == 107));
    // An address is expected where parse_endpoint is used.
    assert!(parse_endpoint("unix:/run/app.sock", 0).is_err());
}

#[test]
fn bad_unix_sockets() {
    err("unix:", "unix:", "empty unix socket");
    err("unix:@", "@", "empty abstract name");
    err("unix:run/app.sock", "run/app.sock", "is a relative path");
    err("unix:./app.sock", "./app.sock", "is a relative path");
    let long = format!("unix:/{}", "a".repeat(107));
    err(&long, &long[5..], "the path is 108 bytes long");
    let long = format!("unix:@{}", "b".repeat(108));
    err(&long, &long[5..], "the abstract name is 108 bytes long");
    err("unix:/run/app.sock:80", ":80", "a unix socket has no port");
    err("unix:@app:8080", ":8080", "a unix socket has no port");
    err("unix:/run/a\nb", "\n", "a control character");
}
