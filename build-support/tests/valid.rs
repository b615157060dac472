//! Checks across a policy: duplicates, covered endpoints, option combinations.

use network_sandbox_build::model::{Fallback, Options};
use network_sandbox_build::valid::{policy_from_strs, EndpointError};

fn errors(allow: &[&str], options: Options) -> Vec<EndpointError> {
    match policy_from_strs(allow, options) {
        Ok(p) => panic!("{allow:?} validated as {p:?}"),
        Err(e) => e,
    }
}

#[test]
fn a_good_policy_keeps_its_endpoints_in_order() {
    let p = policy_from_strs(
        &[
            "127.0.0.2:443",
            "udp://[::1]:53",
            "10.0.0.0/8:80",
            "10.0.0.0/8:443",
        ],
        Options::default(),
    )
    .unwrap();
    assert_eq!(p.endpoints.len(), 4);
    for (i, e) in p.endpoints.iter().enumerate() {
        assert_eq!(e.origin.index, i);
    }
    assert!(p.has_udp());
}

#[test]
fn empty_allow_is_no_network() {
    let p = policy_from_strs::<&str>(&[], Options::default()).unwrap();
    assert!(p.endpoints.is_empty());
}

#[test]
fn duplicate_points_at_the_second() {
    let e = errors(
        &["192.0.2.1:443", "10.0.0.1:80", "tcp://192.0.2.1:443"],
        Options::default(),
    );
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].index, 2);
    assert_eq!(e[0].range, 0..19);
    assert!(
        e[0].message.starts_with("duplicate endpoint"),
        "{}",
        e[0].message
    );
    assert!(e[0].message.contains("entry 1"), "{}", e[0].message);
}

#[test]
fn same_host_different_protocol_or_port_is_fine() {
    policy_from_strs(
        &["192.0.2.1:443", "udp://192.0.2.1:443", "192.0.2.1:80"],
        Options::default(),
    )
    .unwrap();
    // Overlapping but not covering ranges are fine too.
    policy_from_strs(&["192.0.2.1:80-90", "192.0.2.1:85-100"], Options::default()).unwrap();
    // IPv4 and IPv6 never cover each other.
    policy_from_strs(&["0.0.0.0/0:443", "[::1]:443"], Options::default()).unwrap();
}

#[test]
fn covered_endpoint_points_at_the_narrower_one() {
    let e = errors(&["10.1.2.3:443", "10.0.0.0/8:400-500"], Options::default());
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].index, 0);
    assert!(
        e[0].message
            .contains("already allowed by `10.0.0.0/8:400-500`"),
        "{}",
        e[0].message
    );

    let e = errors(
        &["[2001:db8::/32]:443", "[2001:db8:1::1]:443"],
        Options::default(),
    );
    assert_eq!(e[0].index, 1);
}

#[test]
fn landlock_ports_refuses_udp() {
    let options = Options {
        fallback: Fallback::LandlockPorts,
        ..Options::default()
    };
    policy_from_strs(&["192.0.2.1:443"], options).unwrap();
    let e = errors(&["192.0.2.1:443", "udp://192.0.2.53:53"], options);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].index, 1);
    assert_eq!(e[0].range, 0..6, "points at `udp://`");
    assert!(e[0].message.contains("landlock-ports"), "{}", e[0].message);
    // Other fallbacks take UDP.
    policy_from_strs(
        &["udp://192.0.2.53:53"],
        Options {
            fallback: Fallback::DenyAll,
            ..Options::default()
        },
    )
    .unwrap();
}

#[test]
fn parse_errors_carry_the_index_and_all_are_reported() {
    let e = errors(
        &["192.0.2.1:0", "192.0.2.2:443", "*.example.com:80"],
        Options::default(),
    );
    assert_eq!(e.len(), 2);
    assert_eq!((e[0].index, e[0].range.clone()), (0, 10..11));
    assert_eq!((e[1].index, e[1].range.clone()), (2, 0..13));
}

#[test]
fn names_join_the_policy() {
    let p = policy_from_strs(
        &[
            "192.0.2.1:443",
            "api.example.com:443",
            "udp://a.test=127.0.0.2:53",
            "a.test=[::1]:53",
        ],
        Options::default(),
    )
    .unwrap();
    assert_eq!(p.endpoints.len(), 1);
    assert_eq!(p.names.len(), 3);
    assert!(p.has_udp());
    assert!(!p.no_network());
    let names = p.distinct_names();
    assert_eq!(names.len(), 2);
    assert_eq!(names[0], ("api.example.com", vec![]));
    assert_eq!(
        names[1],
        (
            "a.test",
            vec!["127.0.0.2".parse().unwrap(), "::1".parse().unwrap()]
        )
    );
    // Only names: still a policy with network.
    let p = policy_from_strs(&["a.test:1"], Options::default()).unwrap();
    assert!(p.endpoints.is_empty() && !p.no_network());
}

#[test]
fn repeated_names() {
    let e = errors(&["a.test:443", "A.test.:443"], Options::default());
    assert_eq!((e.len(), e[0].index), (1, 1));
    assert!(
        e[0].message.contains("already allowed by `a.test:443`"),
        "{}",
        e[0].message
    );
    let e = errors(&["a.test:400-500", "a.test:443"], Options::default());
    assert_eq!(e[0].index, 1);
    // Another protocol, other ports, or a new pinned address: not a repeat.
    policy_from_strs(
        &[
            "a.test:443",
            "udp://a.test:443",
            "a.test:80",
            "a.test=192.0.2.1:443",
        ],
        Options::default(),
    )
    .unwrap();
    let e = errors(&["a.test=192.0.2.1:443", "a.test:443"], Options::default());
    assert_eq!(e[0].index, 1);
}

#[test]
fn landlock_ports_refuses_udp_names() {
    let options = Options {
        fallback: Fallback::LandlockPorts,
        ..Options::default()
    };
    let e = errors(&["udp://a.test:53"], options);
    assert_eq!((e[0].index, e[0].range.clone()), (0, 0..6));
}

#[test]
fn resolver_warning() {
    let p = policy_from_strs(&["a.test:443", "udp://192.0.2.53:53"], Options::default()).unwrap();
    let w = p.resolver_warning().expect("a warning");
    assert!(w.contains("`udp://192.0.2.53:53`"), "{w}");
    let p = policy_from_strs(&["a.test:443", "192.0.2.53:1-1000"], Options::default()).unwrap();
    assert!(p.resolver_warning().is_some());
    let p = policy_from_strs(&["udp://192.0.2.53:53"], Options::default()).unwrap();
    assert_eq!(
        p.resolver_warning(),
        None,
        "no names: nothing to warn about"
    );
    let p = policy_from_strs(&["a.test:443", "udp://192.0.2.53:54"], Options::default()).unwrap();
    assert_eq!(p.resolver_warning(), None);
}

#[test]
fn unix_endpoints_are_checked_across_the_policy() {
    use network_sandbox_build::model::{Fallback, Options};
    use network_sandbox_build::valid::policy_from_strs;
    let p = policy_from_strs(
        &["unix:/run/a.sock", "unix:@a", "127.0.0.2:443"],
        Options::default(),
    )
    .unwrap();
    assert_eq!(p.unix.len(), 2);
    assert!(p.has_unix() && !p.no_network());
    let only_unix = policy_from_strs(&["unix:@a"], Options::default()).unwrap();
    assert!(!only_unix.no_network(), "a unix endpoint is an endpoint");

    let e =
        policy_from_strs(&["unix:@a", "127.0.0.2:443", "unix:@a"], Options::default()).unwrap_err();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].index, 2);
    assert!(
        e[0].message.starts_with("duplicate endpoint"),
        "{}",
        e[0].message
    );
    // A path and an abstract name of the same text are two sockets.
    assert!(policy_from_strs(&["unix:/a", "unix:@/a"], Options::default()).is_ok());

    let ports = Options {
        fallback: Fallback::LandlockPorts,
        ..Options::default()
    };
    let e = policy_from_strs(&["127.0.0.2:443", "unix:/run/a.sock"], ports).unwrap_err();
    assert_eq!(e.len(), 1);
    assert_eq!((e[0].index, e[0].range.clone()), (1, 0..5));
    assert!(e[0].message.contains("landlock-ports"), "{}", e[0].message);
}

/// A network holding an unspecified address is an error with the entry's index and the
/// network's range (attribute, policy file and command line all validate through here);
/// `0.0.0.0/0` and `[::/0]` stay "every address of the family".
#[test]
fn networks_holding_an_unspecified_address_are_errors() {
    let e = errors(
        &[
            "127.0.0.3:47000",
            "0.0.0.0/8:47000",
            "udp://0.0.0.0/31:47001",
            "[::/96]:47000",
            "udp://[::ffff:0.0.0.0/104]:47001",
            "sink.test=0.0.0.1:47000",
        ],
        Options::default(),
    );
    let got: Vec<(usize, std::ops::Range<usize>)> =
        e.iter().map(|e| (e.index, e.range.clone())).collect();
    assert_eq!(
        got,
        vec![(1, 0..9), (2, 6..16), (3, 0..7), (4, 6..26), (5, 10..17)]
    );
    for e in &e {
        assert!(e.message.contains("never allows"), "{}", e.message);
        assert!(e.message.contains("reaches this machine"), "{}", e.message);
    }
    policy_from_strs(
        &["0.0.0.0/0:47000", "udp://[::/0]:47001"],
        Options::default(),
    )
    .unwrap();
}
