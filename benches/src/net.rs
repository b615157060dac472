//! Loopback servers, the relaying proxy, and the client side of the network rows. Every
//! socket here is on 127.0.0.0/8.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Instant;

/// The address the sandboxed children may reach.
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// The address the relay listens on.
pub const RELAY_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 4);
/// Buffer size of the sink and of the relay (what a simple proxy uses).
pub const BUF: usize = 64 * 1024;
/// Size of each write of the bulk sender.
pub const CHUNK: usize = 256 * 1024;

/// A listener on `ip`, an ephemeral port, with a deep backlog.
pub fn listen(ip: Ipv4Addr) -> io::Result<TcpListener> {
    // std's listen() backlog is 128; 1000 connects in a burst with a slow acceptor need more.
    // SAFETY: socket with integer arguments; a non-negative return is a new fd we own.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is new and ours.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let addr = sockaddr_in(SocketAddrV4::new(ip, 0));
    // SAFETY: `addr` is a valid sockaddr_in for its size.
    let ret = unsafe {
        libc::bind(
            fd,
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    // SAFETY: listen with integer arguments on our fd.
    if ret != 0 || unsafe { libc::listen(fd, 4096) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(TcpListener::from(owned))
}

/// `a` as a `struct sockaddr_in`.
pub fn sockaddr_in(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// Accepts and drops connections for the connect-latency row, in a background thread.
pub fn spawn_accept_server() -> io::Result<u16> {
    spawn_accept_server_on(None)
}

/// [`spawn_accept_server`], with the server's thread pinned to `cpu` when given.
pub fn spawn_accept_server_on(cpu: Option<usize>) -> io::Result<u16> {
    let l = listen(SERVER_IP)?;
    let port = l.local_addr()?.port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let pinned = cpu.map_or(Ok(()), crate::cpu::pin_to);
        let ok = pinned.is_ok();
        let _ = tx.send(pinned);
        if !ok {
            return;
        }
        for conn in l.incoming() {
            drop(conn);
        }
    });
    rx.recv()
        .map_err(|_| io::Error::other("the accept server's thread ended"))??;
    Ok(port)
}

/// Reads each connection to its end and answers with the byte count (8 bytes, little
/// endian), in background threads.
pub fn spawn_sink_server() -> io::Result<u16> {
    let l = listen(SERVER_IP)?;
    let port = l.local_addr()?.port();
    std::thread::spawn(move || {
        for mut conn in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = vec![0u8; BUF];
                let mut total = 0u64;
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => total += n as u64,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => return,
                    }
                }
                let _ = conn.write_all(&total.to_le_bytes());
            });
        }
    });
    Ok(port)
}

/// The relaying proxy (a process of its own): accepts on [`RELAY_IP`], connects each client
/// to `127.0.0.2:target`, and copies bytes both ways through a user-space buffer, as
/// proxy-based sandboxes do. Prints its port on stdout, then serves until killed.
pub fn relay_main(target: u16) -> ! {
    let l = listen(RELAY_IP).expect("relay: listen");
    println!("PORT {}", l.local_addr().expect("relay: address").port());
    io::stdout().flush().expect("relay: stdout");
    for client in l.incoming().flatten() {
        let Ok(upstream) = TcpStream::connect(SocketAddrV4::new(SERVER_IP, target)) else {
            continue;
        };
        let (c2, u2) = match (client.try_clone(), upstream.try_clone()) {
            (Ok(c), Ok(u)) => (c, u),
            _ => continue,
        };
        std::thread::spawn(move || pump(client, upstream));
        std::thread::spawn(move || pump(u2, c2));
    }
    std::process::exit(0)
}

/// Copies `from` to `to` until end of file, then passes the end on.
fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0u8; BUF];
    loop {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// `n` connects to `127.0.0.2:port`, each on a new socket that is reset on close (so no
/// TIME_WAIT piles up); returns each connect's duration in nanoseconds.
pub fn connect_latencies(port: u16, n: usize) -> io::Result<Vec<f64>> {
    let addr = sockaddr_in(SocketAddrV4::new(SERVER_IP, port));
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        // SAFETY: socket with integer arguments.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is new and ours; closed when `owned` drops.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: `linger` is a valid struct linger for its size.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        let t0 = Instant::now();
        // SAFETY: `addr` is a valid sockaddr_in for its size.
        let ret = unsafe {
            libc::connect(
                owned.as_raw_fd(),
                (&addr as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        let dt = t0.elapsed();
        if ret != 0 {
            return Err(io::Error::last_os_error());
        }
        out.push(dt.as_nanos() as f64);
    }
    Ok(out)
}

/// Sends `bytes` to `addr` in [`CHUNK`]-sized writes, half-closes, and waits for the sink's
/// count. Returns the rate in bytes per second, from the connect's end to the count's arrival.
pub fn bulk_send(addr: SocketAddr, bytes: u64) -> io::Result<f64> {
    let mut s = TcpStream::connect(addr)?;
    let chunk = vec![0x5au8; CHUNK];
    let t0 = Instant::now();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        s.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    s.shutdown(Shutdown::Write)?;
    let mut count = [0u8; 8];
    s.read_exact(&mut count)?;
    let secs = t0.elapsed().as_secs_f64();
    let got = u64::from_le_bytes(count);
    if got != bytes {
        return Err(io::Error::other(format!(
            "the sink counted {got} bytes of {bytes}"
        )));
    }
    Ok(bytes as f64 / secs)
}
