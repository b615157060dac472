#!/usr/bin/env bash
# Runs the whole test suite. On a fresh Debian machine, run as root, it first installs what
# the build and the tests need (scripts/setup.sh); elsewhere it uses what is there, and
# tests whose tool is missing say "skipped" and why.
#
#   bash scripts/test.sh            # everything
#   bash scripts/test.sh -p network-sandbox-escape-tests   # extra arguments go to cargo test
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

# The enforcement tests run as root and as uid 65534; unprivileged user namespaces are
# needed only by the hostname tests' runs as uid 65534 (skipped where they are disabled).
# Everything talks to loopback only.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over every test binary and doctest run.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
