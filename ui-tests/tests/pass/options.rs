use network_sandbox::network_sandbox;

#[network_sandbox(
    allow = "127.0.0.2:443",
    audit = true,
    fallback = "deny-all",
    report = "off",
    log = "/tmp/network-sandbox-ui-pass.jsonl",
    log_allowed = true,
)]
fn main() {}
