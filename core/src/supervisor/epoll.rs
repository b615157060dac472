//! Carrying the program's `epoll` registrations of a socket over to the socket that replaces
//! it under the same fd number (`dns.rs`: the answerer's socket, installed with
//! `SECCOMP_IOCTL_NOTIF_ADDFD` + `SECCOMP_ADDFD_FLAG_SETFD`).
//!
//! An epoll item belongs to an open file: the swap releases the program's old socket, and
//! the kernel removes every item of that file from every epoll instance. A runtime that
//! registered the socket before its first send (tokio's `UdpSocket::bind`, so
//! hickory-resolver) would wait for an answer it is never told about. So, before the swap,
//! [`find`] looks through the calling thread's fd table for epoll instances
//! (`anon_inode:[eventpoll]`), takes each with `pidfd_getfd`, and reads from its own
//! duplicate's `/proc/self/fdinfo` the items whose fd number is the swapped one and whose
//! inode and device are the old socket's (`tfd: N events: X data: D pos:0 ino:I sdev:S`,
//! one line per item). After the swap, [`Found::carry`] adds the new socket to each of those
//! instances with the same events (`EPOLLET`, `EPOLLONESHOT`, `EPOLLEXCLUSIVE` included) and
//! the same data (the program's token). An `EPOLL_CTL_ADD` reports the current readiness, so
//! an answer that arrives at any time after it is seen.
//!
//! What differs afterwards: the kernel keys an item by (file, fd number *of the caller of
//! `epoll_ctl`*), here the supervisor's number, so the program's own later `EPOLL_CTL_MOD` or
//! `EPOLL_CTL_DEL` on its fd fails with `ENOENT` (tokio and mio ignore the error at
//! deregistration), and an `EPOLL_CTL_ADD` of it succeeds and makes a second item. The
//! supervisor keeps no reference: its duplicates are closed when the call is answered, so the
//! item goes away when the program closes the socket. An item whose one shot has fired (no
//! events left) is not carried: added again the kernel would arm it for errors and hang-ups.
//!
//! Nothing here can refuse or fail the program's call: what cannot be carried over is left as
//! it was before (the registration is lost), with a note on stderr when the sandbox was
//! started with `NETWORK_SANDBOX_REPORT=1` (`run -v`). The work is bounded
//! ([`MAX_FDS`], [`MAX_EPOLLS`], [`MAX_FDINFO`], [`MAX_LINES`]); everything read comes from
//! the kernel (directory listings, link texts, fdinfo of the supervisor's own duplicates),
//! and nothing the program chose (its data, its events) is used except as the arguments of
//! the `epoll_ctl` that puts them back into the program's own instance.

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;

use crate::sys;

/// The most entries of `/proc/TID/fd` looked at.
pub const MAX_FDS: usize = 4096;
/// The most epoll instances taken from the program.
pub const MAX_EPOLLS: usize = 64;
/// The most bytes read of one epoll instance's fdinfo (about 3000 items).
pub const MAX_FDINFO: u64 = 256 * 1024;
/// The most lines of one fdinfo parsed.
pub const MAX_LINES: usize = 4096;
/// The most items carried per epoll instance (the same file under the same number is one
/// item per instance; more would be a malformed text).
const MAX_ITEMS: usize = 4;

/// What `/proc/TID/fd/N` reads as for an epoll instance.
const EVENTPOLL: &str = "anon_inode:[eventpoll]";

/// The epoll flags that survive a fired `EPOLLONESHOT` (the kernel's `EP_PRIVATE_BITS`).
const PRIVATE_BITS: u32 =
    (libc::EPOLLWAKEUP | libc::EPOLLONESHOT | libc::EPOLLET | libc::EPOLLEXCLUSIVE) as u32;

/// One epoll item of the old socket: what the program registered it with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Item {
    /// The events, flags included (the kernel adds `EPOLLERR | EPOLLHUP` itself).
    pub events: u32,
    /// The program's data (mio's token).
    pub data: u64,
}

/// The epoll instances that hold the old socket, each a duplicate in the supervisor, with the
/// items to carry.
#[derive(Default)]
pub struct Found {
    epolls: Vec<(OwnedFd, Vec<Item>)>,
}

/// Which old socket to look for.
struct Old {
    /// The fd number in the program.
    fd: RawFd,
    /// Its inode and device (the kernel's encoding, as fdinfo prints it).
    ino: u64,
    sdev: u64,
}

/// Finds, in the fd table of thread `tid`, the epoll instances holding `old` (the
/// supervisor's duplicate of the program's socket) under the number `target`. Best effort:
/// an empty result for anything that cannot be read. The caller checks afterwards that the
/// notification is still pending, so the instances came from the caller.
pub fn find(tid: libc::pid_t, target: RawFd, old: &OwnedFd) -> Found {
    let mut found = Found::default();
    let Some(old) = identify(target, old) else {
        note("cannot stat the old socket");
        return found;
    };
    let Ok(dir) = std::fs::read_dir(format!("/proc/{tid}/fd")) else {
        note("cannot list the caller's fds");
        return found;
    };
    let mut pidfd = None;
    let mut epolls = 0;
    for entry in dir.take(MAX_FDS).flatten() {
        let Some(n) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<RawFd>().ok())
        else {
            continue;
        };
        if !std::fs::read_link(entry.path()).is_ok_and(|l| l.as_os_str() == EVENTPOLL) {
            continue;
        }
        epolls += 1;
        if epolls > MAX_EPOLLS {
            note("more epoll instances than looked at");
            break;
        }
        if pidfd.is_none() {
            match sys::pidfd_open_thread(tid) {
                Ok((p, _)) => pidfd = Some(p),
                Err(e) => {
                    note(&format!("pidfd_open: {e}"));
                    return found;
                }
            }
        }
        let Some(p) = &pidfd else { break };
        // The number may have been reused since the link was read: the duplicate is checked
        // again, and only its own fdinfo is read.
        let Ok(ep) = sys::pidfd_getfd(p, n) else {
            continue;
        };
        let Some(text) = own_epoll_fdinfo(ep.as_raw_fd()) else {
            continue;
        };
        let items = parse(&text, &old);
        if !items.is_empty() {
            found.epolls.push((ep, items));
        }
    }
    found
}

impl Found {
    /// Adds `new` (the supervisor's duplicate of the socket now installed under the old
    /// number) to each instance found, with each item's events and data; closes the
    /// instances. Failures are notes, never errors.
    pub fn carry(self, new: &OwnedFd) {
        for (ep, items) in self.epolls {
            for item in items {
                let mut ev = libc::epoll_event {
                    events: item.events,
                    u64: item.data,
                };
                // SAFETY: `ep` and `new` are descriptors we own; `ev` is valid for reads.
                let ret = unsafe {
                    libc::epoll_ctl(
                        ep.as_raw_fd(),
                        libc::EPOLL_CTL_ADD,
                        new.as_raw_fd(),
                        &mut ev,
                    )
                };
                if ret != 0 {
                    note(&format!(
                        "epoll_ctl(EPOLL_CTL_ADD): {}",
                        std::io::Error::last_os_error()
                    ));
                }
            }
        }
    }
}

/// The old socket's inode and device, in the kernel's device encoding (`MAJOR << 20 |
/// MINOR`, what fdinfo's `sdev` prints).
fn identify(target: RawFd, old: &OwnedFd) -> Option<Old> {
    // SAFETY: an all-zero `stat` is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `old` is a descriptor we own; `st` is valid for writes.
    if unsafe { libc::fstat(old.as_raw_fd(), &mut st) } != 0 {
        return None;
    }
    let (major, minor) = (libc::major(st.st_dev), libc::minor(st.st_dev));
    Some(Old {
        fd: target,
        ino: st.st_ino,
        sdev: (u64::from(major) << 20) | u64::from(minor),
    })
}

/// The fdinfo of the supervisor's own descriptor `fd`, if it is an epoll instance; at most
/// [`MAX_FDINFO`] bytes.
fn own_epoll_fdinfo(fd: RawFd) -> Option<String> {
    if !std::fs::read_link(format!("/proc/self/fd/{fd}")).is_ok_and(|l| l.as_os_str() == EVENTPOLL)
    {
        return None;
    }
    let mut text = String::new();
    std::fs::File::open(format!("/proc/self/fdinfo/{fd}"))
        .ok()?
        .take(MAX_FDINFO)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

/// The items of `text` (an epoll instance's fdinfo) for `old`: `tfd` its number, `ino` and
/// `sdev` its own; at most [`MAX_LINES`] lines, [`MAX_ITEMS`] items. A line that does not
/// parse is skipped; an item whose one shot has fired is left out.
fn parse(text: &str, old: &Old) -> Vec<Item> {
    let mut items = Vec::new();
    for line in text.lines().take(MAX_LINES) {
        let Some(e) = parse_line(line) else { continue };
        if e.tfd != old.fd || e.ino != old.ino || e.sdev != old.sdev {
            continue;
        }
        if e.item.events & libc::EPOLLONESHOT as u32 != 0 && e.item.events & !PRIVATE_BITS == 0 {
            continue;
        }
        items.push(e.item);
        if items.len() >= MAX_ITEMS {
            break;
        }
    }
    items
}

/// One fdinfo line of an epoll item.
#[derive(Debug, PartialEq, Eq)]
struct Line {
    tfd: RawFd,
    item: Item,
    ino: u64,
    sdev: u64,
}

/// Parses `tfd: %8d events: %8x data: %16llx  pos:%lli ino:%lx sdev:%x` (Linux's
/// `ep_show_fdinfo`); a key's value may follow after a space or directly. `None` for a line
/// that is not an item or lacks a field.
fn parse_line(line: &str) -> Option<Line> {
    if !line.starts_with("tfd:") {
        return None;
    }
    let (mut tfd, mut events, mut data, mut ino, mut sdev) = (None, None, None, None, None);
    let mut words = line.split_ascii_whitespace();
    while let Some(word) = words.next() {
        let (key, value) = match word.split_once(':') {
            Some((k, "")) => (k, words.next()?),
            Some((k, v)) => (k, v),
            None => return None,
        };
        let slot = match key {
            "tfd" => {
                tfd = Some(value.parse::<RawFd>().ok()?);
                continue;
            }
            "events" => &mut events,
            "data" => &mut data,
            "ino" => &mut ino,
            "sdev" => &mut sdev,
            _ => continue,
        };
        *slot = Some(u64::from_str_radix(value, 16).ok()?);
    }
    Some(Line {
        tfd: tfd?,
        item: Item {
            events: u32::try_from(events?).ok()?,
            data: data?,
        },
        ino: ino?,
        sdev: sdev?,
    })
}

/// A note on stderr about a registration not carried over, when the sandbox was started with
/// `NETWORK_SANDBOX_REPORT=1` (the supervisor's environment is the installer's at the fork).
fn note(what: &str) {
    static VERBOSE: OnceLock<bool> = OnceLock::new();
    if *VERBOSE.get_or_init(|| std::env::var_os("NETWORK_SANDBOX_REPORT").is_some_and(|v| v == "1"))
    {
        eprintln!("network-sandbox: dns: epoll registration not carried over: {what}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: Old = Old {
        fd: 4,
        ino: 0x449_5d63,
        sdev: 9,
    };

    /// A bound non-blocking UDP socket on 127.0.0.1 and its port.
    fn udp() -> (OwnedFd, u16) {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_nonblocking(true).unwrap();
        let port = s.local_addr().unwrap().port();
        (s.into(), port)
    }

    fn epoll_ctl(ep: &OwnedFd, op: libc::c_int, fd: RawFd, events: u32, data: u64) -> i32 {
        let mut ev = libc::epoll_event { events, u64: data };
        // SAFETY: descriptors of this test; `ev` is valid for reads.
        if unsafe { libc::epoll_ctl(ep.as_raw_fd(), op, fd, &mut ev) } == 0 {
            0
        } else {
            sys::errno()
        }
    }

    /// The events ready on `ep` within `ms` milliseconds, as (data, events).
    fn ready(ep: &OwnedFd, ms: i32) -> Vec<(u64, u32)> {
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 8];
        // SAFETY: `evs` is valid for writes of 8 events.
        let n = unsafe { libc::epoll_wait(ep.as_raw_fd(), evs.as_mut_ptr(), 8, ms) };
        assert!(n >= 0, "{}", std::io::Error::last_os_error());
        evs[..n as usize]
            .iter()
            .map(|e| (e.u64, e.events))
            .collect()
    }

    /// The swap, played in this process (`dup3` closes the old file as `SETFD` does): the
    /// item found before it is carried over with its edge-triggered events and data, is
    /// told about a datagram to the new socket, is out of the program's reach by its fd
    /// number (`ENOENT`), and goes away when the program closes the fd. Control: without
    /// the carry-over the swap leaves the instance without an item for the fd.
    #[test]
    fn an_item_is_carried_over_the_swap_and_goes_away_with_the_file() {
        // SAFETY: epoll_create1 returns a new fd that we own, or -1.
        let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        assert!(ep >= 0);
        // SAFETY: just created, ours.
        let ep = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(ep) };
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let token = 0x1122_3344_5566_7788;
        let et = (libc::EPOLLIN | libc::EPOLLET) as u32;
        for carry in [false, true] {
            let (program, _) = udp();
            let target = program.as_raw_fd();
            assert_eq!(epoll_ctl(&ep, libc::EPOLL_CTL_ADD, target, et, token), 0);
            let old = program.try_clone().unwrap();
            let found = find(tid, target, &old);
            assert_eq!(found.epolls.len(), 1, "the instance is found");
            let (new, port) = udp();
            // SAFETY: both descriptors are this test's; `target` stays owned by `program`.
            assert_eq!(unsafe { libc::dup3(new.as_raw_fd(), target, 0) }, target);
            drop(old);
            if carry {
                found.carry(&new);
            } else {
                drop(found);
            }
            drop(new);
            let fdinfo = format!("/proc/self/fdinfo/{}", ep.as_raw_fd());
            let items = || {
                let info = std::fs::read_to_string(&fdinfo).unwrap();
                info.lines().filter(|l| l.starts_with("tfd:")).count()
            };
            sender.send_to(b"x", ("127.0.0.1", port)).unwrap();
            if carry {
                assert_eq!(items(), 1);
                // A wait, not a timing assertion: the datagram is usually there already.
                let got = ready(&ep, 10_000);
                assert_eq!(got, vec![(token, libc::EPOLLIN as u32)]);
                assert!(ready(&ep, 0).is_empty(), "edge-triggered: told once");
                assert_eq!(
                    epoll_ctl(&ep, libc::EPOLL_CTL_MOD, target, et, 1),
                    libc::ENOENT,
                    "the item is the supervisor's number's"
                );
            } else {
                assert_eq!(items(), 0, "control: the swap lost the item");
            }
            drop(program);
            assert_eq!(items(), 0, "closing the program's fd released the item");
        }
    }

    #[test]
    fn a_line_of_the_kernel_parses() {
        let line =
            "tfd:        4 events: 80000019 data: 1122334455667788  pos:0 ino:4495d63 sdev:9";
        assert_eq!(
            parse_line(line),
            Some(Line {
                tfd: 4,
                item: Item {
                    events: 0x8000_0019,
                    data: 0x1122_3344_5566_7788,
                },
                ino: 0x449_5d63,
                sdev: 9,
            })
        );
    }

    #[test]
    fn only_items_of_the_old_socket_under_its_number_are_carried() {
        let text = "pos:\t0\nflags:\t02000002\nmnt_id:\t17\nino:\t18\n\
            tfd:        5 events: 19 data: 7  pos:0 ino:4495d63 sdev:9\n\
            tfd:        4 events: 19 data: 8  pos:0 ino:4495d64 sdev:9\n\
            tfd:        4 events: 19 data: 9  pos:0 ino:4495d63 sdev:a\n\
            tfd:        4 events: 80000019 data: 2a  pos:0 ino:4495d63 sdev:9\n";
        assert_eq!(
            parse(text, &OLD),
            vec![Item {
                events: 0x8000_0019,
                data: 42
            }]
        );
    }

    #[test]
    fn exclusive_and_armed_oneshot_items_are_carried_a_fired_one_is_not() {
        let text = "tfd: 4 events: 10000019 data: 1 pos:0 ino:4495d63 sdev:9\n\
            tfd: 4 events: 40000019 data: 2 pos:0 ino:4495d63 sdev:9\n\
            tfd: 4 events: 40000000 data: 3 pos:0 ino:4495d63 sdev:9\n\
            tfd: 4 events: c0000000 data: 4 pos:0 ino:4495d63 sdev:9\n";
        let data: Vec<u64> = parse(text, &OLD).iter().map(|i| i.data).collect();
        assert_eq!(data, vec![1, 2]);
    }

    #[test]
    fn malformed_lines_are_skipped() {
        for line in [
            "",
            "tfd:",
            "tfd: 4",
            "tfd: 4 events: 19 data: 1 pos:0 ino:4495d63",
            "tfd: 4 events: 19 data: 1 pos:0 ino:4495d63 sdev:",
            "tfd: 4 events: zz data: 1 pos:0 ino:4495d63 sdev:9",
            "tfd: 4 events: 100000000 data: 1 pos:0 ino:4495d63 sdev:9",
            "tfd: 4 events: 19 data: 10000000000000000 pos:0 ino:4495d63 sdev:9",
            "tfd: -x events: 19 data: 1 pos:0 ino:4495d63 sdev:9",
            "tfd: 99999999999 events: 19 data: 1 pos:0 ino:4495d63 sdev:9",
            "tfd: 4 events 19 data: 1 pos:0 ino:4495d63 sdev:9",
            " tfd: 4 events: 19 data: 1 pos:0 ino:4495d63 sdev:9",
            "tfd: 4 events: 19 data: 1 pos:0 ino:4495d63 sdev:9 \u{fffd}",
        ] {
            assert_eq!(parse_line(line), None, "{line:?}");
            assert!(parse(line, &OLD).is_empty(), "{line:?}");
        }
        // Unknown keys (a later kernel's) are ignored.
        assert!(parse_line("tfd: 4 events: 19 data: 1 pos:0 ino:4495d63 sdev:9 new:x").is_some());
    }

    #[test]
    fn huge_texts_are_bounded() {
        let other = "tfd: 5 events: 19 data: 1 pos:0 ino:1 sdev:9\n";
        let ours = "tfd: 4 events: 19 data: 2 pos:0 ino:4495d63 sdev:9\n";
        // Past MAX_LINES lines an item is not looked at.
        let late = other.repeat(MAX_LINES) + ours;
        assert!(parse(&late, &OLD).is_empty());
        let early = other.repeat(MAX_LINES - 1) + ours;
        assert_eq!(parse(&early, &OLD).len(), 1);
        // However many lines repeat the old socket, at most MAX_ITEMS are carried.
        assert_eq!(parse(&ours.repeat(100_000), &OLD).len(), MAX_ITEMS);
        // A line of a million characters is one malformed line.
        let long = format!(
            "tfd: 4 events: 19 data: 2 pos:0 ino:4495d63 sdev:9{}\n",
            "9".repeat(1 << 20)
        );
        assert!(parse(&long, &OLD).is_empty());
    }
}
