use network_sandbox::network_sandbox;

#[network_sandbox(allow = [
    "127.0.0.2:443",
    "tcp://10.0.0.0/8:8000-8080",
    "[::1]:443",
    "[2001:db8::/32]:443",
    "udp://127.0.0.53:53",
])]
fn main() {}
