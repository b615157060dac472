//! CPU affinity, for the connect rows measured on one CPU.

use std::io;

/// Pins the calling thread to `cpu` (threads and processes it starts afterwards inherit
/// the mask).
pub fn pin_to(cpu: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data; all zeros is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET writes bit `cpu` of `set`; it checks the index against the set's size.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t for its size; pid 0 is the calling thread.
    let ret = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The CPUs the calling thread may run on.
pub fn allowed() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; all zeros is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is writable for its size; pid 0 is the calling thread.
    let ret =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if ret != 0 {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: CPU_ISSET reads bit `c` of `set`, within its size.
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

/// The CPU the pinned rows use: `NSB_PIN_CPU` if set, else the last CPU this process may
/// run on.
pub fn for_pinned_rows() -> usize {
    std::env::var("NSB_PIN_CPU")
        .ok()
        .and_then(|v| v.parse().ok())
        .or_else(|| allowed().last().copied())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_thread_runs_on_its_cpu_only() {
        let cpu = *allowed().last().expect("some CPU is allowed");
        std::thread::spawn(move || {
            pin_to(cpu).expect("pinning to an allowed CPU");
            assert_eq!(allowed(), vec![cpu]);
        })
        .join()
        .expect("the pinned thread");
    }
}
