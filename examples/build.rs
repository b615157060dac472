//! Compiles `network-policy.toml` for the `from_build` example
//! (`#[network_sandbox(from_build)]`). A build script applies to the whole package, so the
//! package has one policy file; the other examples write their policy in the attribute.

fn main() {
    network_sandbox_build::compile_file("network-policy.toml");
}
