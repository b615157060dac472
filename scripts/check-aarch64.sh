#!/usr/bin/env bash
# Type-checks, for aarch64, a small program that uses the attribute (and the core crate with
# its run-time compiler): the generated code has a program for each architecture under
# #[cfg(target_arch)], and this is how the aarch64 one gets compiled on an x86_64 machine.
# Needs the aarch64 standard library; says "skipped" when it cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

if ! timeout 300 rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1; then
    echo "aarch64 check skipped: the aarch64 standard library could not be installed here"
    exit 0
fi

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/src"
printf '%s\n' \
    '[package]' \
    'name = "aarch64-check"' \
    'version = "0.0.0"' \
    'edition = "2021"' \
    '[dependencies]' \
    "network-sandbox = { path = \"$root/core\" }" \
    '[workspace]' > "$dir/Cargo.toml"
printf '%s\n' \
    '#[network_sandbox::network_sandbox(allow = ["127.0.0.2:443", "udp://[::1]:53"])]' \
    'fn main() {}' > "$dir/src/main.rs"

CARGO_TARGET_DIR="$root/target" cargo check --quiet --manifest-path "$dir/Cargo.toml" \
    --target aarch64-unknown-linux-gnu
cargo check --quiet --target aarch64-unknown-linux-gnu -p network-sandbox --features compiler
echo "aarch64 check: ok"
