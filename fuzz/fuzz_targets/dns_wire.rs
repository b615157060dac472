//! The DNS answerer's codec: any message must parse to a question or to nothing, never
//! panic; an answer built for a parsed question must parse back (as a response: no
//! question) with the query's id, and carry exactly the records of the type asked.
#![no_main]

use libfuzzer_sys::fuzz_target;
use network_sandbox::decode::dns::{answer, error, min_answer_ttl, nxdomain, question};
use std::net::IpAddr;

fuzz_target!(|data: &[u8]| {
    let addrs: [IpAddr; 2] = ["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()];
    let _ = error(data);
    let Some(q) = question(data) else {
        return;
    };
    assert!(q.end <= data.len());
    assert!(!q.name.contains(".."));
    for r in [answer(data, &q, &addrs, 30), nxdomain(data, &q)] {
        assert_eq!(&r[..2], &data[..2], "the query's id");
        assert_eq!(r[2] & 0x80, 0x80, "a response");
        assert!(question(&r).is_none(), "a response has no question to answer");
        let count = u16::from_be_bytes([r[6], r[7]]);
        assert!(count <= 1);
        if count == 1 {
            assert_eq!(min_answer_ttl(&r, q.id), Some(30));
        }
    }
});
