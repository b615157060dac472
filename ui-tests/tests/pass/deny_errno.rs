use network_sandbox::network_sandbox;

#[network_sandbox(allow = "127.0.0.2:443", deny_errno = "ECONNREFUSED")]
fn main() {
    // A refused connect reaches the program as ECONNREFUSED.
    let e = std::net::TcpStream::connect("127.0.0.3:9").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(111), "{e}");
}
