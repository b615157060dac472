use network_sandbox::network_sandbox;

// Unix endpoints beside an address; nothing listens at either, so nothing is reached.
#[network_sandbox(allow = ["unix:/nonexistent/network-sandbox-ui.sock", "unix:@network-sandbox-ui", "127.0.0.2:443"])]
fn main() {
    // A path that does not exist: ENOENT, as without the sandbox (and no line).
    let e = std::os::unix::net::UnixStream::connect("/nonexistent/other.sock").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc_enoent()));
}

fn libc_enoent() -> i32 {
    2
}
