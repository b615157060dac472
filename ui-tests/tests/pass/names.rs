use network_sandbox::network_sandbox;

// Pinned names and `localhost` only: running this test resolves nothing off the machine.
#[network_sandbox(allow = ["localhost:8080", "a.test=127.0.0.2,[::1]:443", "b.test.=127.0.0.3:80"], unresolved = "unknown")]
fn main() {
    let found: Vec<_> = std::net::ToSocketAddrs::to_socket_addrs("a.test:443")
        .expect("a.test resolves in the sandbox")
        .collect();
    assert!(found.iter().any(|a| a.ip() == std::net::Ipv4Addr::new(127, 0, 0, 2)));
}
