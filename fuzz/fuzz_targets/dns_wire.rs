//! The DNS answerer's codec: any message must parse to a question or to nothing, never
//! panic; an answer built for a parsed question must parse back (as a response: no
//! question) with the query's id, and carry exactly the records of the type asked; the
//! addresses of any message are read without a panic, and an answer's read back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use network_sandbox::decode::dns::{
    answer, answer_addresses, error, min_answer_ttl, nxdomain, question, servfail,
};
use std::net::IpAddr;

fuzz_target!(|data: &[u8]| {
    let addrs: [IpAddr; 2] = ["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()];
    let _ = error(data);
    // Learn mode reads the addresses of any reply the machine's resolver sends.
    if data.len() >= 2 {
        let _ = answer_addresses(data, u16::from_be_bytes([data[0], data[1]]));
    }
    let Some(q) = question(data) else {
        return;
    };
    assert!(q.end <= data.len());
    assert!(!q.name.contains(".."));
    let a = answer(data, &q, &addrs, 30);
    let read = answer_addresses(&a, q.id).expect("our answer reads back");
    assert!(read.len() <= 1 && read.iter().all(|ip| addrs.contains(ip)));
    for r in [a, nxdomain(data, &q), servfail(data, &q)] {
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
