#!/usr/bin/env bash
# Runs each fuzz target (fuzz/fuzz_targets) for a while: 60 s each, or 15 s with --quick.
# Installs cargo-fuzz from crates.io when it is missing. Uses no sanitizer (-s none), which
# works on the stable toolchain; libFuzzer still finds panics and assertion failures.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=60
[[ "${1:-}" == --quick ]] && secs=15
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
for target in sockaddr policy dns_wire; do
    echo "== fuzz $target for ${secs}s"
    cargo fuzz run -s none "$target" -- -max_total_time="$secs" -rss_limit_mb=2048
done
