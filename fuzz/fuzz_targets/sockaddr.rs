//! The supervisor's decoding of what it copies out of a sandboxed process: address lengths,
//! socket addresses, `msghdr` and iovec arrays. Any input must decode or be refused with an
//! errno, never panic, and a decoded destination must be checkable against a policy.
#![no_main]

use libfuzzer_sys::fuzz_target;
use network_sandbox::policy::{Endpoint, IpNetwork, Options, Policy, PortRange, Protocol};
use network_sandbox::decode::{decode_iovecs, MsgHdr};
use network_sandbox::decode::{check_len, decode, Destination, MAX_SOCKADDR_LEN};
use std::net::{IpAddr, Ipv4Addr};

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (len_bytes, rest) = data.split_at(8);
    let len = u64::from_ne_bytes(len_bytes.try_into().unwrap());
    if let Ok(n) = check_len(len) {
        assert!(n <= MAX_SOCKADDR_LEN);
    }
    let policy = Policy::new(
        Vec::new(),
        vec![Endpoint {
            protocol: Protocol::Tcp,
            network: IpNetwork::v4(Ipv4Addr::new(127, 0, 0, 0), 8),
            ports: PortRange::new(1, 1024),
        }],
        Options::default(),
    );
    match decode(rest) {
        Ok(Destination::Inet(dest)) => {
            let allowed = policy.permits(Protocol::Tcp, dest).is_some();
            // Whatever the spelling (plain, v4-mapped), an allowed destination is in 127/8.
            if allowed {
                let ip = network_sandbox::policy::canonical_ip(dest.ip());
                assert!(matches!(ip, IpAddr::V4(v4) if v4.octets()[0] == 127));
                assert!((1..=1024).contains(&dest.port()));
            }
        }
        Ok(_) => {}
        Err(errno) => assert_eq!(errno, libc_einval()),
    }
    if let Some(chunk) = rest.get(..56) {
        let hdr = MsgHdr::decode(chunk.try_into().unwrap());
        let _ = (hdr.iovlen, hdr.controllen);
    }
    let iovs = decode_iovecs(rest);
    assert_eq!(iovs.len(), rest.len() / 16);
});

fn libc_einval() -> i32 {
    22
}
