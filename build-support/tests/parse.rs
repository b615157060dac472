//! The endpoint grammar: every accepted form and every class of error, with the byte range
//! each error points at.

use std::net::IpAddr;

use network_sandbox_build::model::Protocol;
use network_sandbox_build::parse::parse_endpoint;

fn ok(text: &str) -> (Protocol, IpAddr, u8, u16, u16) {
    let e = parse_endpoint(text, 0).unwrap_or_else(|e| panic!("{text}: {}", e.message));
    assert_eq!(e.origin.text, text);
    (e.protocol, e.addr, e.prefix, e.first_port, e.last_port)
}

/// Asserts that `text` fails with a message containing `needle`, pointing at `part` (the
/// text of the range; `""` for an empty range, which must then be at `at`).
fn err(text: &str, part: &str, needle: &str) {
    let e = match parse_endpoint(text, 0) {
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
    // A mapped prefix that is wider than the mapped block is a real IPv6 network.
    assert_eq!(ok("[::/64]:80"), (Tcp, ip("::"), 64, 80, 80));
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

#[test]
fn hostnames() {
    err(
        "example.com:443",
        "example.com",
        "`example.com` is a hostname: hostnames are not supported yet; write an IP address",
    );
    err("localhost:80", "localhost", "write 127.0.0.1");
    err("tcp://db-1:5432", "db-1", "is a hostname");
}

#[test]
fn unspecified_hosts() {
    err("0.0.0.0:80", "0.0.0.0", "unspecified address");
    err("[::]:80", "[::]", "unspecified address");
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
