use network_sandbox::network_sandbox;

#[network_sandbox(allow = "192.0.2.1:443", keep_capabilities = ["CAP_NET_RAW", "cap_sys_nice"])]
fn main() {}
