//! The sandbox's own unix sockets: the socket files the supervisor bound on the program's
//! behalf (`unix::bind`), which the program's processes may connect and send to like a
//! `unix:` endpoint (Python's `multiprocessing.Manager()`, a test harness, a local broker).
//!
//! Which file a socket is bound to is asked of the kernel, never of the path: right after
//! the bind the supervisor sends a `NETLINK_SOCK_DIAG` request for exactly that socket (by
//! its sockfs inode, `UDIAG_SHOW_VFS`), whose `UNIX_DIAG_VFS` answer names the file's
//! device and inode. The program cannot change that answer by renaming or linking files: a
//! hard link to `/run/docker.sock` swapped in at the path after the bind is another inode.
//!
//! Two details of that answer, measured on the project's kernel (tests below):
//! - the device is the kernel's internal `dev_t` (`major << 20 | minor`), not `st_dev`'s
//!   encoding: it is converted with `makedev`;
//! - the inode number is cut to 32 bits (`udiag_vfs_ino` is a `__u32`). To compare full
//!   identities, the supervisor also looks at the file it just created (`fstatat` in the
//!   directory it holds, no symbolic link followed) and keeps that full inode number only if
//!   it agrees with the kernel's answer on the device and the low 32 bits; otherwise nothing
//!   is recorded (the program swapped the file in that instant: its connects are refused).
//!
//! A recorded socket is recognised at connect time only while it is alive and still bound
//! to that file: the supervisor asks again by inode *and* socket cookie (64 bits, never
//! reused), so an inode number freed when the socket closed and reused for an outside
//! socket's file matches nothing. While both the socket and the supervisor's `O_PATH`
//! descriptor of the connect's target are alive, two live inodes cannot share a number, so
//! the target is exactly that socket's file.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

/// How many sockets the set holds at most; past it, dead ones are dropped, and a bind that
/// still finds it full is refused.
pub const MAX_OWN: usize = 4096;

/// `SOCK_DIAG_BY_FAMILY`.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `UDIAG_SHOW_VFS`.
const UDIAG_SHOW_VFS: u32 = 0x2;
/// `UNIX_DIAG_VFS`.
const UNIX_DIAG_VFS: u16 = 1;
/// `sizeof(struct nlmsghdr)`.
const NLMSG_HDR: usize = 16;
/// `sizeof(struct unix_diag_req)`.
const UNIX_DIAG_REQ: usize = 24;
/// `sizeof(struct unix_diag_msg)`.
const UNIX_DIAG_MSG: usize = 16;

/// One socket the supervisor bound for the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnSocket {
    /// The socket's own inode (sockfs), as `sock_diag` numbers it.
    pub sock_ino: u32,
    /// The socket's cookie, as `sock_diag` gives it.
    pub cookie: [u32; 2],
    /// `st_dev` of the file it is bound to.
    pub dev: u64,
    /// `st_ino` of that file.
    pub ino: u64,
}

/// What `sock_diag` says about one unix socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Diag {
    /// The socket's cookie.
    pub cookie: [u32; 2],
    /// The file it is bound to: (`st_dev` encoding, low 32 bits of the inode number); `None`
    /// for a socket without a file (unbound, abstract).
    pub vfs: Option<(u64, u32)>,
}

/// The set, shared by every receiver thread.
#[derive(Default)]
pub struct OwnSockets {
    set: Mutex<Vec<OwnSocket>>,
}

impl OwnSockets {
    /// Whether one more socket can be recorded (dead ones are dropped first when full).
    pub fn has_room(&self) -> bool {
        let mut set = self.set.lock().unwrap_or_else(|p| p.into_inner());
        if set.len() >= MAX_OWN {
            set.retain(alive);
        }
        set.len() < MAX_OWN
    }

    /// Records `s`.
    pub fn insert(&self, s: OwnSocket) {
        let mut set = self.set.lock().unwrap_or_else(|p| p.into_inner());
        if set.len() >= MAX_OWN {
            set.retain(alive);
        }
        if set.len() < MAX_OWN {
            set.push(s);
        }
    }

    /// Whether the file `(dev, ino)` (the supervisor's open `O_PATH` descriptor of it) is
    /// the file of a socket the sandbox bound and that is still alive and bound to it.
    /// Dead entries met on the way are dropped.
    pub fn contains(&self, dev: u64, ino: u64) -> bool {
        let mut set = self.set.lock().unwrap_or_else(|p| p.into_inner());
        let mut found = false;
        set.retain(|s| {
            if s.dev != dev || s.ino != ino {
                return true;
            }
            let live = alive(s);
            found |= live;
            live
        });
        found
    }
}

/// Whether `s` is still a live socket bound to its file.
fn alive(s: &OwnSocket) -> bool {
    matches!(
        query(s.sock_ino, s.cookie),
        Ok(Diag { vfs: Some(v), .. }) if v == (s.dev, s.ino as u32)
    )
}

/// The identity of the socket `fd` (the supervisor's duplicate) after a successful bind to
/// a path, with `dir` the directory it was bound in and `name` its last component: the
/// kernel's answer, completed with the full inode number of `dir/name` when that agrees
/// with it. `None` when the kernel cannot be asked or the file there is another one.
pub fn identify(fd: RawFd, dir: RawFd, name: &std::ffi::CStr) -> Option<OwnSocket> {
    let sock_ino = u32::try_from(stat(fd, None)?.st_ino).ok()?;
    let diag = query(sock_ino, [!0, !0]).ok()?;
    let (dev, ino32) = diag.vfs?;
    let st = stat(dir, Some(name))?;
    (st.st_mode & libc::S_IFMT == libc::S_IFSOCK && st.st_dev == dev && st.st_ino as u32 == ino32)
        .then_some(OwnSocket {
            sock_ino,
            cookie: diag.cookie,
            dev,
            ino: st.st_ino,
        })
}

/// `fstat(fd)`, or `fstatat(fd, name, AT_SYMLINK_NOFOLLOW)`.
fn stat(fd: RawFd, name: Option<&std::ffi::CStr>) -> Option<libc::stat> {
    // SAFETY: stat is plain data; zero is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let (path, flags) = match name {
        Some(n) => (n.as_ptr(), libc::AT_SYMLINK_NOFOLLOW),
        None => (c"".as_ptr(), libc::AT_EMPTY_PATH),
    };
    // SAFETY: `st` is a valid out-pointer; `path` is NUL-terminated and outlives the call.
    let r = unsafe { libc::fstatat(fd, path, &mut st, flags) };
    (r == 0).then_some(st)
}

/// The kernel's `dev_t` (`major << 20 | minor`, as `sock_diag` reports it) in `st_dev`'s
/// encoding.
pub fn kernel_dev_to_st_dev(kdev: u32) -> u64 {
    libc::makedev(kdev >> 20, kdev & 0xf_ffff)
}

/// The `SOCK_DIAG_BY_FAMILY` request for the unix socket with inode `ino` and `cookie`
/// (`[!0, !0]`: any), asking for its file.
pub fn request(ino: u32, cookie: [u32; 2]) -> Vec<u8> {
    let len = NLMSG_HDR + UNIX_DIAG_REQ;
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    m.extend_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
    m.extend_from_slice(&1u32.to_ne_bytes()); // seq
    m.extend_from_slice(&0u32.to_ne_bytes()); // pid: the kernel
    m.push(libc::AF_UNIX as u8); // sdiag_family
    m.push(0); // sdiag_protocol
    m.extend_from_slice(&0u16.to_ne_bytes()); // pad
    m.extend_from_slice(&(!0u32).to_ne_bytes()); // udiag_states: all
    m.extend_from_slice(&ino.to_ne_bytes());
    m.extend_from_slice(&UDIAG_SHOW_VFS.to_ne_bytes());
    m.extend_from_slice(&cookie[0].to_ne_bytes());
    m.extend_from_slice(&cookie[1].to_ne_bytes());
    m
}

/// Decodes the kernel's answer to [`request`]: the socket's [`Diag`], or the errno of an
/// `NLMSG_ERROR` (`ENOENT`: no such socket; `ESTALE`: another cookie). Pure, for tests.
pub fn parse(reply: &[u8]) -> Result<Diag, i32> {
    let u32_at = |at: usize| -> Result<u32, i32> {
        reply
            .get(at..at + 4)
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or(libc::EPROTO)
    };
    let u16_at = |at: usize| -> Result<u16, i32> {
        reply
            .get(at..at + 2)
            .map(|b| u16::from_ne_bytes([b[0], b[1]]))
            .ok_or(libc::EPROTO)
    };
    let len = (u32_at(0)? as usize).min(reply.len());
    match u16_at(4)? {
        t if t == libc::NLMSG_ERROR as u16 => {
            let e = u32_at(NLMSG_HDR)? as i32;
            return Err(if e < 0 { -e } else { libc::EPROTO });
        }
        SOCK_DIAG_BY_FAMILY => {}
        _ => return Err(libc::EPROTO),
    }
    let cookie = [u32_at(NLMSG_HDR + 8)?, u32_at(NLMSG_HDR + 12)?];
    let mut at = NLMSG_HDR + UNIX_DIAG_MSG;
    let mut vfs = None;
    while at + 4 <= len {
        let rta_len = u16_at(at)? as usize;
        let rta_type = u16_at(at + 2)?;
        if rta_len < 4 || at + rta_len > len {
            return Err(libc::EPROTO);
        }
        if rta_type == UNIX_DIAG_VFS && rta_len >= 12 {
            let ino = u32_at(at + 4)?;
            let dev = u32_at(at + 8)?;
            vfs = Some((kernel_dev_to_st_dev(dev), ino));
        }
        at += (rta_len + 3) & !3;
    }
    Ok(Diag { cookie, vfs })
}

/// Asks the kernel about the unix socket with inode `ino` and `cookie`.
pub fn query(ino: u32, cookie: [u32; 2]) -> Result<Diag, i32> {
    // SAFETY: socket takes integers.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::NETLINK_SOCK_DIAG,
        )
    };
    if fd < 0 {
        return Err(crate::sys::errno());
    }
    // SAFETY: a new descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let req = request(ino, cookie);
    // SAFETY: `req` is our buffer, valid for its length; the socket's default destination
    // is the kernel.
    let sent = unsafe { libc::send(fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
    if sent < 0 {
        return Err(crate::sys::errno());
    }
    let mut buf = [0u8; 1024];
    // SAFETY: reads into our buffer.
    let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        return Err(crate::sys::errno());
    }
    parse(&buf[..n as usize])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    fn o_path(p: &std::path::Path) -> OwnedFd {
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: `c` is NUL-terminated.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
        assert!(fd >= 0);
        // SAFETY: a new descriptor we own.
        unsafe { OwnedFd::from_raw_fd(fd) }
    }

    /// The kernel's answer names the file the socket is bound to in `st_dev`'s encoding
    /// (the conversion matters: on this machine's ext4 root, major 254, the raw value is
    /// not `st_dev`), with the inode number cut to 32 bits; a wrong cookie is `ESTALE`.
    #[test]
    fn sock_diag_names_the_bound_file_as_stat_does() {
        let dir = std::env::temp_dir().join(format!("ns-own-diag-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let path = dir.join("s.sock");
        let l = UnixListener::bind(&path).unwrap();
        let sock = stat(l.as_raw_fd(), None).unwrap();
        let file = stat(o_path(&path).as_raw_fd(), None).unwrap();
        let d = query(sock.st_ino as u32, [!0, !0]).unwrap();
        assert_eq!(d.vfs, Some((file.st_dev, file.st_ino as u32)), "{file:?}");
        // The exact socket by its cookie; another cookie finds nothing.
        assert_eq!(query(sock.st_ino as u32, d.cookie).unwrap(), d);
        let other = [d.cookie[0] ^ 1, d.cookie[1]];
        assert_eq!(query(sock.st_ino as u32, other), Err(libc::ESTALE));
        // `identify` agrees, with the full inode number.
        let dirfd = o_path(&dir);
        let own = identify(l.as_raw_fd(), dirfd.as_raw_fd(), c"s.sock").unwrap();
        assert_eq!((own.dev, own.ino), (file.st_dev, file.st_ino));
        // Another file at the name (the socket renamed away, a hard link of another in its
        // place) is not taken for it.
        std::fs::rename(&path, dir.join("moved.sock")).unwrap();
        let other = UnixListener::bind(dir.join("o.sock")).unwrap();
        std::fs::hard_link(dir.join("o.sock"), &path).unwrap();
        assert_eq!(identify(l.as_raw_fd(), dirfd.as_raw_fd(), c"s.sock"), None);
        // The set: found while the socket lives, dropped once it is closed.
        let set = OwnSockets::default();
        set.insert(own);
        assert!(set.contains(own.dev, own.ino));
        assert!(!set.contains(own.dev, own.ino + 1));
        drop(l);
        assert!(
            !set.contains(own.dev, own.ino),
            "a closed socket is no longer ours"
        );
        drop(other);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn devices_and_replies_decode() {
        assert_eq!(kernel_dev_to_st_dev(254 << 20), 0xfe00);
        assert_eq!(kernel_dev_to_st_dev(0x2d), 0x2d);
        assert_eq!(kernel_dev_to_st_dev(0x12345), libc::makedev(0, 0x12345));
        assert_eq!(request(7, [1, 2]).len(), 40);
        // An NLMSG_ERROR with -ENOENT.
        let mut e = vec![0u8; 36];
        e[0..4].copy_from_slice(&36u32.to_ne_bytes());
        e[4..6].copy_from_slice(&(libc::NLMSG_ERROR as u16).to_ne_bytes());
        e[16..20].copy_from_slice(&(-libc::ENOENT).to_ne_bytes());
        assert_eq!(parse(&e), Err(libc::ENOENT));
        assert_eq!(parse(&e[..10]), Err(libc::EPROTO));
        // A reply with the VFS attribute.
        let mut r = vec![0u8; 16 + 16 + 12];
        r[0..4].copy_from_slice(&44u32.to_ne_bytes());
        r[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        r[24..28].copy_from_slice(&5u32.to_ne_bytes());
        r[32..34].copy_from_slice(&12u16.to_ne_bytes());
        r[34..36].copy_from_slice(&UNIX_DIAG_VFS.to_ne_bytes());
        r[36..40].copy_from_slice(&99u32.to_ne_bytes());
        r[40..44].copy_from_slice(&(254u32 << 20).to_ne_bytes());
        assert_eq!(
            parse(&r),
            Ok(Diag {
                cookie: [5, 0],
                vfs: Some((0xfe00, 99))
            })
        );
        // A truncated attribute is refused.
        r[32..34].copy_from_slice(&40u16.to_ne_bytes());
        assert_eq!(parse(&r), Err(libc::EPROTO));
    }
}
