//! A small DNS server on loopback that answers A and AAAA from a table and logs every query
//! (name, type, transport) it receives, over UDP and TCP on port 53, for the hostname tests;
//! and a way to run a command with this server as its resolver, in a private mount namespace
//! that only that command sees (the machine's resolver configuration is left alone).

use std::ffi::CString;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

/// One query the server received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// The name asked about, in lower case without the trailing dot.
    pub name: String,
    /// The record type (1 = A, 28 = AAAA, …).
    pub qtype: u16,
    /// `"udp"` or `"tcp"`.
    pub transport: &'static str,
}

type Table = Arc<Mutex<Vec<(String, IpAddr)>>>;

/// The server; stops when dropped.
pub struct DnsServer {
    /// Its address (port 53).
    pub ip: Ipv4Addr,
    table: Table,
    log: Arc<Mutex<Vec<Query>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
    resolv_conf: PathBuf,
}

impl DnsServer {
    /// Starts a server on a loopback address of its own (127.0.X.Y:53, X from 53 to 116,
    /// counting from a start that depends on the test process's id, and skipping addresses
    /// where port 53 is taken: test processes of other checkouts may run at the same time),
    /// answering `records`.
    pub fn start(records: &[(&str, &str)]) -> DnsServer {
        static NEXT: OnceLock<AtomicU32> = OnceLock::new();
        let next = NEXT.get_or_init(|| AtomicU32::new(std::process::id().wrapping_mul(7)));
        let mut bound = None;
        let mut last_error = None;
        for _ in 0..64 {
            let n = next.fetch_add(1, Ordering::SeqCst) % (64 * 254);
            let ip = Ipv4Addr::new(127, 0, 53 + (n / 254) as u8, 1 + (n % 254) as u8);
            let addr = SocketAddr::from((ip, 53));
            let pair = UdpSocket::bind(addr).and_then(|u| Ok((u, TcpListener::bind(addr)?)));
            match pair {
                Ok(pair) => {
                    bound = Some((ip, pair));
                    break;
                }
                Err(e) => last_error = Some(format!("{addr}: {e}")),
            }
        }
        let Some((ip, (udp, tcp))) = bound else {
            panic!("no loopback address with port 53 free; last: {last_error:?}");
        };
        udp.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        tcp.set_nonblocking(true).unwrap();
        let table: Table = Arc::new(Mutex::new(
            records
                .iter()
                .map(|(n, a)| (n.to_string(), a.parse().unwrap()))
                .collect(),
        ));
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        {
            let (table, log, stop) = (table.clone(), log.clone(), stop.clone());
            threads.push(thread::spawn(move || {
                let mut buf = [0u8; 1500];
                while !stop.load(Ordering::SeqCst) {
                    if let Ok((n, from)) = udp.recv_from(&mut buf) {
                        if let Some(reply) = answer(&buf[..n], &table, &log, "udp") {
                            let _ = udp.send_to(&reply, from);
                        }
                    }
                }
            }));
        }
        {
            let (table, log, stop) = (table.clone(), log.clone(), stop.clone());
            threads.push(thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match tcp.accept() {
                        Ok((mut s, _)) => {
                            let _ = s.set_nonblocking(false);
                            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                            let mut len = [0u8; 2];
                            while s.read_exact(&mut len).is_ok() {
                                let mut q = vec![0u8; u16::from_be_bytes(len) as usize];
                                if s.read_exact(&mut q).is_err() {
                                    break;
                                }
                                if let Some(r) = answer(&q, &table, &log, "tcp") {
                                    let mut out = (r.len() as u16).to_be_bytes().to_vec();
                                    out.extend(r);
                                    let _ = s.write_all(&out);
                                }
                            }
                        }
                        Err(_) => thread::sleep(Duration::from_millis(5)),
                    }
                }
            }));
        }
        let resolv_conf = super::shared_dir().join(format!("resolv-{ip}.conf"));
        std::fs::write(
            &resolv_conf,
            format!("nameserver {ip}\noptions timeout:2 attempts:1\n"),
        )
        .unwrap();
        DnsServer {
            ip,
            table,
            log,
            stop,
            threads,
            resolv_conf,
        }
    }

    /// Every query so far.
    pub fn queries(&self) -> Vec<Query> {
        self.log.lock().unwrap().clone()
    }

    /// The names asked about so far.
    pub fn names(&self) -> Vec<String> {
        self.queries().into_iter().map(|q| q.name).collect()
    }

    /// Forgets the queries so far.
    pub fn clear(&self) {
        self.log.lock().unwrap().clear();
    }

    /// Replaces the answers for `name`.
    pub fn set(&self, name: &str, addrs: &[&str]) {
        let mut t = self.table.lock().unwrap();
        t.retain(|(n, _)| n != name);
        t.extend(addrs.iter().map(|a| (name.to_owned(), a.parse().unwrap())));
    }

    /// Makes `cmd` run in a private mount namespace whose `/etc/resolv.conf` names this
    /// server (and, with `user` = Nobody, as uid/gid 65534 after the mount, which needs
    /// root). Only that command and its children see the change.
    pub fn resolver_for(&self, cmd: &mut Command, user: super::User) {
        let source = CString::new(self.resolv_conf.to_str().unwrap()).unwrap();
        let target = CString::new("/etc/resolv.conf").unwrap();
        let root = CString::new("/").unwrap();
        let nobody = user == super::User::Nobody;
        if nobody {
            cmd.current_dir("/").env("HOME", "/nonexistent");
        }
        // SAFETY: the closure runs in the forked child before exec and makes only system
        // calls (unshare, mount, setgroups, setgid, setuid) on data prepared before the fork.
        unsafe {
            cmd.pre_exec(move || {
                let check = |r: libc::c_int| {
                    if r == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                };
                check(libc::unshare(libc::CLONE_NEWNS))?;
                check(libc::mount(
                    std::ptr::null(),
                    root.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ))?;
                check(libc::mount(
                    source.as_ptr(),
                    target.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                ))?;
                if nobody {
                    check(libc::setgroups(0, std::ptr::null()))?;
                    check(libc::setgid(super::NOBODY))?;
                    check(libc::setuid(super::NOBODY))?;
                }
                Ok(())
            });
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.resolv_conf);
    }
}

/// The reply to `query`, logging it. NXDOMAIN for a name not in the table; no answer (but
/// success) for a known name without records of the type asked.
fn answer(
    query: &[u8],
    table: &Table,
    log: &Mutex<Vec<Query>>,
    transport: &'static str,
) -> Option<Vec<u8>> {
    if query.len() < 12 || u16::from_be_bytes([query[4], query[5]]) != 1 {
        return None;
    }
    // The question: labels, then type and class.
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = *query.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        labels.push(String::from_utf8_lossy(query.get(at..at + len)?).to_ascii_lowercase());
        at += len;
    }
    let qtype = u16::from_be_bytes([*query.get(at)?, *query.get(at + 1)?]);
    let question_end = at + 4;
    query.get(..question_end)?;
    let name = labels.join(".");
    log.lock().unwrap().push(Query {
        name: name.clone(),
        qtype,
        transport,
    });
    let table = table.lock().unwrap();
    let known = table.iter().any(|(n, _)| *n == name);
    let records: Vec<IpAddr> = table
        .iter()
        .filter(|(n, a)| {
            *n == name && matches!((qtype, a), (1, IpAddr::V4(_)) | (28, IpAddr::V6(_)))
        })
        .map(|(_, a)| *a)
        .collect();
    let mut r = Vec::with_capacity(512);
    r.extend_from_slice(&query[0..2]); // id
    let rd = query[2] & 0x01;
    r.push(0x84 | rd); // QR, AA, RD as asked
    r.push(if known { 0x80 } else { 0x83 }); // RA; NXDOMAIN when unknown
    r.extend_from_slice(&[0, 1]); // one question
    r.extend_from_slice(&(records.len() as u16).to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(&query[12..question_end]);
    for a in records {
        r.extend_from_slice(&[0xc0, 12]); // the question's name
        let (ty, data) = match a {
            IpAddr::V4(v4) => (1u16, v4.octets().to_vec()),
            IpAddr::V6(v6) => (28u16, v6.octets().to_vec()),
        };
        r.extend_from_slice(&ty.to_be_bytes());
        r.extend_from_slice(&[0, 1]); // IN
        r.extend_from_slice(&60u32.to_be_bytes()); // TTL
        r.extend_from_slice(&(data.len() as u16).to_be_bytes());
        r.extend(data);
    }
    Some(r)
}
