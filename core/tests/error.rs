//! The installer's error keeps its cause: `Error::Io` exposes the system call's error through
//! `std::error::Error::source`, so a program can report the whole chain.

use std::error::Error as _;

use network_sandbox::Error;

#[test]
fn io_errors_keep_their_source_and_others_have_none() {
    let e = Error::Io {
        step: "installing the seccomp filter",
        source: std::io::Error::from_raw_os_error(libc::EINVAL),
    };
    let source = e.source().expect("an I/O error has a source");
    let io = source
        .downcast_ref::<std::io::Error>()
        .expect("the source is the io::Error");
    assert_eq!(io.raw_os_error(), Some(libc::EINVAL));
    assert!(e.to_string().starts_with("installing the seccomp filter: "));
    assert!(Error::Threads(2).source().is_none());
    assert!(Error::Landlock("x".into()).source().is_none());
}
