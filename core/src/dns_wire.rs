//! The DNS wire format, as far as the sandbox speaks it: the question of a query, the
//! answers the sandbox's answerer gives (addresses, "no such name", "no records of that
//! type"), and the smallest TTL of a response (for the refresher). Pure functions over
//! bytes, fuzzed (`fuzz/fuzz_targets/dns_wire.rs`).
//!
//! Only what RFC 1035 calls a standard query with one question is answered; anything else
//! (several questions, a response, another opcode, a compressed or malformed question) gets
//! no question and so no answer but `FORMERR`/`NOTIMP` from [`error`].

use std::net::IpAddr;

/// `QTYPE` A.
pub const TYPE_A: u16 = 1;
/// `QTYPE` AAAA.
pub const TYPE_AAAA: u16 = 28;
/// `QCLASS` IN.
pub const CLASS_IN: u16 = 1;

/// `RCODE` SERVFAIL: the server could not answer (learn mode: the machine's resolver did
/// not).
pub const RCODE_SERVFAIL: u8 = 2;
/// `RCODE` FORMERR: the query could not be read.
pub const RCODE_FORMERR: u8 = 1;
/// `RCODE` NXDOMAIN: no such name.
pub const RCODE_NXDOMAIN: u8 = 3;
/// `RCODE` NOTIMP: not a standard query.
pub const RCODE_NOTIMP: u8 = 4;

/// The longest name on the wire (RFC 1035 §2.3.4), length octets included.
const MAX_NAME_WIRE: usize = 255;

/// The question of a standard query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    /// The query's id, echoed in the answer.
    pub id: u16,
    /// The name asked about, lower case, without a trailing dot (`""` for the root). Each
    /// label is as sent: a label with a dot or a control character in it is refused.
    pub name: String,
    /// `QTYPE`.
    pub qtype: u16,
    /// `QCLASS`.
    pub qclass: u16,
    /// The header flags (second 16-bit word): the answer copies RD from them.
    pub flags: u16,
    /// Where the question ends in the query (the answer repeats the question bytes).
    pub end: usize,
}

/// The question of `query`, if it is a standard query (QR 0, OPCODE 0) with exactly one
/// question whose name is written without compression in printable ASCII. Additional
/// records (EDNS) are allowed and ignored; answer and authority records are not.
pub fn question(query: &[u8]) -> Option<Question> {
    let header = query.get(..12)?;
    let id = u16::from_be_bytes([header[0], header[1]]);
    let flags = u16::from_be_bytes([header[2], header[3]]);
    let count = |i: usize| u16::from_be_bytes([header[i], header[i + 1]]);
    // QR set (a response) or an opcode other than QUERY.
    if flags & 0x8000 != 0 || (flags >> 11) & 0xf != 0 {
        return None;
    }
    if count(4) != 1 || count(6) != 0 || count(8) != 0 {
        return None;
    }
    let mut at = 12;
    let mut name = String::new();
    loop {
        let len = *query.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        // Compression pointers (0xc0) and the reserved label types (0x40, 0x80).
        if len & 0xc0 != 0 {
            return None;
        }
        let label = query.get(at..at + len)?;
        at += len;
        if at - 12 > MAX_NAME_WIRE {
            return None;
        }
        if label
            .iter()
            .any(|&b| b == b'.' || !b.is_ascii_graphic() && b != b' ')
        {
            return None;
        }
        if !name.is_empty() {
            name.push('.');
        }
        name.extend(label.iter().map(|&b| b.to_ascii_lowercase() as char));
    }
    let tail = query.get(at..at + 4)?;
    Some(Question {
        id,
        name,
        qtype: u16::from_be_bytes([tail[0], tail[1]]),
        qclass: u16::from_be_bytes([tail[2], tail[3]]),
        flags,
        end: at + 4,
    })
}

/// The header and question of an answer to `q` (asked in `query`) with `rcode` and
/// `answers` answer records to follow: QR and AA set, RD copied, RA set (nothing needs to
/// recurse), no authority or additional records.
fn header(query: &[u8], q: &Question, rcode: u8, answers: u16) -> Vec<u8> {
    let mut r = Vec::with_capacity(q.end + 16 * answers as usize);
    r.extend_from_slice(&q.id.to_be_bytes());
    let flags: u16 = 0x8000 | 0x0400 | (q.flags & 0x0100) | 0x0080 | u16::from(rcode & 0xf);
    r.extend_from_slice(&flags.to_be_bytes());
    r.extend_from_slice(&[0, 1]);
    r.extend_from_slice(&answers.to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(&query[12..q.end]);
    r
}

/// The answer to `q` (from `query`) for a name that has `addresses`: the A records for an
/// A question, the AAAA records for an AAAA question, each with `ttl`; no record (NOERROR,
/// "no data") for any other type or class. `None`-like answers for unknown names are
/// [`nxdomain`].
pub fn answer(query: &[u8], q: &Question, addresses: &[IpAddr], ttl: u32) -> Vec<u8> {
    let records: Vec<Vec<u8>> = if q.qclass != CLASS_IN {
        Vec::new()
    } else {
        addresses
            .iter()
            .filter_map(|a| match (a, q.qtype) {
                (IpAddr::V4(v4), TYPE_A) => Some(v4.octets().to_vec()),
                (IpAddr::V6(v6), TYPE_AAAA) => Some(v6.octets().to_vec()),
                _ => None,
            })
            .collect()
    };
    let mut r = header(query, q, 0, records.len() as u16);
    for data in records {
        // The name: a pointer to the question's, at offset 12.
        r.extend_from_slice(&[0xc0, 12]);
        r.extend_from_slice(&q.qtype.to_be_bytes());
        r.extend_from_slice(&CLASS_IN.to_be_bytes());
        r.extend_from_slice(&ttl.to_be_bytes());
        r.extend_from_slice(&(data.len() as u16).to_be_bytes());
        r.extend_from_slice(&data);
    }
    r
}

/// The answer to `q` (from `query`) for a name that does not exist: NXDOMAIN.
pub fn nxdomain(query: &[u8], q: &Question) -> Vec<u8> {
    header(query, q, RCODE_NXDOMAIN, 0)
}

/// The answer to `q` (from `query`) when no answer could be had: SERVFAIL.
pub fn servfail(query: &[u8], q: &Question) -> Vec<u8> {
    header(query, q, RCODE_SERVFAIL, 0)
}

/// The answer to a query that has no [`question`]: FORMERR, or NOTIMP for a well-formed
/// header with another opcode; `None` when there is not even a header to answer, or the
/// message is itself a response (never answer an answer).
pub fn error(query: &[u8]) -> Option<Vec<u8>> {
    let h = query.get(..12)?;
    let flags = u16::from_be_bytes([h[2], h[3]]);
    if flags & 0x8000 != 0 {
        return None;
    }
    let opcode = (flags >> 11) & 0xf;
    let rcode = if opcode != 0 {
        RCODE_NOTIMP
    } else {
        RCODE_FORMERR
    };
    let mut r = Vec::with_capacity(12);
    r.extend_from_slice(&h[..2]);
    let flags = 0x8000 | (opcode << 11) | (flags & 0x0100) | 0x0080 | u16::from(rcode);
    r.extend_from_slice(&flags.to_be_bytes());
    r.extend_from_slice(&[0; 8]);
    Some(r)
}

/// A standard query for `name` of type `qtype` with id `id`, recursion desired. `None` for
/// a name that cannot be written (an empty or over-long label).
pub fn query(id: u16, name: &str, qtype: u16) -> Option<Vec<u8>> {
    let mut q = Vec::with_capacity(18 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return None;
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    if q.len() - 12 > MAX_NAME_WIRE {
        return None;
    }
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&CLASS_IN.to_be_bytes());
    Some(q)
}

/// The smallest TTL among the answer records of DNS response `r` with id `id`.
pub fn min_answer_ttl(r: &[u8], id: u16) -> Option<u32> {
    if r.len() < 12 || u16::from_be_bytes([r[0], r[1]]) != id {
        return None;
    }
    let qd = u16::from_be_bytes([r[4], r[5]]);
    let an = u16::from_be_bytes([r[6], r[7]]);
    let mut at = 12;
    let skip_name = |mut at: usize| -> Option<usize> {
        loop {
            let len = *r.get(at)? as usize;
            if len & 0xc0 == 0xc0 {
                return Some(at + 2);
            }
            at += 1 + len;
            if len == 0 {
                return Some(at);
            }
        }
    };
    for _ in 0..qd {
        at = skip_name(at)? + 4;
    }
    let mut min: Option<u32> = None;
    for _ in 0..an {
        at = skip_name(at)?;
        let rr = r.get(at..at + 10)?;
        let ttl = u32::from_be_bytes([rr[4], rr[5], rr[6], rr[7]]);
        let len = u16::from_be_bytes([rr[8], rr[9]]) as usize;
        min = Some(min.map_or(ttl, |m| m.min(ttl)));
        at += 10 + len;
    }
    min
}

/// The addresses in the A and AAAA answer records of DNS response `r` with id `id` (class
/// IN, whatever their owner name: a CNAME chain's addresses belong to the name asked),
/// in the order given, without repeats. `None` for anything that is not a response with
/// that id or cannot be read to the end of its answer section.
pub fn answer_addresses(r: &[u8], id: u16) -> Option<Vec<IpAddr>> {
    let header = r.get(..12)?;
    if u16::from_be_bytes([header[0], header[1]]) != id || header[2] & 0x80 == 0 {
        return None;
    }
    let qd = u16::from_be_bytes([header[4], header[5]]);
    let an = u16::from_be_bytes([header[6], header[7]]);
    let mut at = 12;
    for _ in 0..qd {
        at = skip_name(r, at)?.checked_add(4)?;
    }
    let mut out: Vec<IpAddr> = Vec::new();
    for _ in 0..an {
        at = skip_name(r, at)?;
        let rr = r.get(at..at.checked_add(10)?)?;
        let rtype = u16::from_be_bytes([rr[0], rr[1]]);
        let class = u16::from_be_bytes([rr[2], rr[3]]);
        let len = u16::from_be_bytes([rr[8], rr[9]]) as usize;
        let data = r.get(at + 10..at + 10 + len)?;
        at += 10 + len;
        let ip = match (class, rtype, len) {
            (CLASS_IN, TYPE_A, 4) => IpAddr::from(<[u8; 4]>::try_from(data).ok()?),
            (CLASS_IN, TYPE_AAAA, 16) => IpAddr::from(<[u8; 16]>::try_from(data).ok()?),
            _ => continue,
        };
        if !out.contains(&ip) {
            out.push(ip);
        }
    }
    Some(out)
}

/// Where the name at `at` in `r` ends: after its zero label, or after a compression
/// pointer. `None` when it runs past the message or uses a reserved label type.
fn skip_name(r: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *r.get(at)? as usize;
        match len & 0xc0 {
            0xc0 => {
                r.get(at + 1)?;
                return Some(at + 2);
            }
            0 => {}
            _ => return None,
        }
        at += 1 + len;
        if len == 0 {
            return Some(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_query_round_trips() {
        let q = query(0x1234, "Allowed.Test.", TYPE_A).unwrap();
        let parsed = question(&q).unwrap();
        assert_eq!(parsed.id, 0x1234);
        assert_eq!(parsed.name, "allowed.test");
        assert_eq!((parsed.qtype, parsed.qclass), (TYPE_A, CLASS_IN));
        assert_eq!(parsed.end, q.len());
        assert!(query(1, "a..b", TYPE_A).is_none());
        assert!(query(1, &"x".repeat(64), TYPE_A).is_none());
    }

    #[test]
    fn answers_carry_only_the_asked_type() {
        let addrs = [ip("127.0.0.2"), ip("::1")];
        let q4 = query(7, "a.test", TYPE_A).unwrap();
        let r = answer(&q4, &question(&q4).unwrap(), &addrs, 30);
        assert_eq!(&r[..2], &[0, 7]);
        assert_eq!(r[3] & 0xf, 0, "NOERROR");
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1, "one A record");
        assert_eq!(&r[r.len() - 4..], &[127, 0, 0, 2]);
        assert_eq!(min_answer_ttl(&r, 7), Some(30));
        let q6 = query(8, "a.test", TYPE_AAAA).unwrap();
        let r = answer(&q6, &question(&q6).unwrap(), &addrs, 30);
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1, "one AAAA record");
        assert_eq!(r[r.len() - 1], 1);
        let mx = query(9, "a.test", 15).unwrap();
        let r = answer(&mx, &question(&mx).unwrap(), &addrs, 30);
        assert_eq!((r[3] & 0xf, u16::from_be_bytes([r[6], r[7]])), (0, 0));
        let r = nxdomain(&mx, &question(&mx).unwrap());
        assert_eq!((r[3] & 0xf, u16::from_be_bytes([r[6], r[7]])), (3, 0));
        assert_eq!(r[2] & 0x80, 0x80, "a response");
    }

    #[test]
    fn anything_but_a_plain_query_has_no_question() {
        let q = query(1, "a.test", TYPE_A).unwrap();
        let mut response = q.clone();
        response[2] |= 0x80;
        assert!(question(&response).is_none());
        assert!(error(&response).is_none(), "never answer an answer");
        let mut two = q.clone();
        two[5] = 2;
        assert!(question(&two).is_none());
        assert_eq!(error(&two).unwrap()[3] & 0xf, RCODE_FORMERR);
        let mut notify = q.clone();
        notify[2] |= 4 << 3;
        assert_eq!(error(&notify).unwrap()[3] & 0xf, RCODE_NOTIMP);
        let mut pointer = q[..12].to_vec();
        pointer.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert!(question(&pointer).is_none());
        let mut dotted = q.clone();
        dotted[13] = b'.';
        assert!(question(&dotted).is_none());
        assert!(question(&q[..q.len() - 1]).is_none(), "truncated");
        assert!(question(&[]).is_none() && error(&[]).is_none());
    }

    #[test]
    fn answer_ttls_are_read() {
        // id 0x1234, one question (a.test A IN), two answers with TTLs 300 and 60.
        let mut r = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0];
        r.extend_from_slice(&[1, b'a', 4, b't', b'e', b's', b't', 0, 0, 1, 0, 1]);
        for ttl in [300u32, 60] {
            r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
            r.extend_from_slice(&ttl.to_be_bytes());
            r.extend_from_slice(&[0, 4, 192, 0, 2, 1]);
        }
        assert_eq!(min_answer_ttl(&r, 0x1234), Some(60));
        assert_eq!(min_answer_ttl(&r, 0x4321), None, "another id");
        assert_eq!(min_answer_ttl(&r[..20], 0x1234), None, "truncated");
    }

    #[test]
    fn answer_addresses_are_read_from_a_response() {
        // id 0x0102, a.test AAAA? → a CNAME to b.test, then b.test's AAAA and A (the A
        // given twice), and a TXT record that is skipped.
        let mut r = vec![0x01, 0x02, 0x81, 0x80, 0, 1, 0, 5, 0, 0, 0, 0];
        r.extend_from_slice(&[1, b'a', 4, b't', b'e', b's', b't', 0, 0, 28, 0, 1]);
        // CNAME: name pointer, type 5, class IN, ttl, rdlength 4, "b" + pointer to "test".
        r.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 4, 1, b'b', 0xc0, 14]);
        let b = 24 + 12;
        r.extend_from_slice(&[0xc0, b, 0, 28, 0, 1, 0, 0, 0, 60, 0, 16]);
        r.extend_from_slice(
            &"2001:db8::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        for _ in 0..2 {
            r.extend_from_slice(&[0xc0, b, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        }
        r.extend_from_slice(&[0xc0, b, 0, 16, 0, 1, 0, 0, 0, 60, 0, 2, 1, b'x']);
        assert_eq!(
            answer_addresses(&r, 0x0102),
            Some(vec![ip("2001:db8::1"), ip("192.0.2.1")])
        );
        assert_eq!(answer_addresses(&r, 0x0103), None, "another id");
        assert_eq!(
            answer_addresses(&r[..r.len() - 1], 0x0102),
            None,
            "truncated"
        );
        let q = query(0x0102, "a.test", TYPE_A).unwrap();
        assert_eq!(answer_addresses(&q, 0x0102), None, "a query is no response");
        let r = nxdomain(&q, &question(&q).unwrap());
        assert_eq!(answer_addresses(&r, 0x0102), Some(vec![]));
        let r = servfail(&q, &question(&q).unwrap());
        assert_eq!(
            (r[3] & 0xf, answer_addresses(&r, 0x0102)),
            (RCODE_SERVFAIL, Some(vec![]))
        );
        // Our own answers read back.
        let r = answer(
            &q,
            &question(&q).unwrap(),
            &[ip("127.0.0.2"), ip("::2")],
            30,
        );
        assert_eq!(answer_addresses(&r, 0x0102), Some(vec![ip("127.0.0.2")]));
    }
}
