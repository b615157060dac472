#!/usr/bin/env bash
# Runs the whole test suite. On a fresh Debian machine, run as root, it first installs what
# the build and the tests need (scripts/setup.sh); elsewhere it uses what is there, and
# tests whose tool is missing report themselves skipped, and why.
#
#   bash scripts/test.sh            # everything
#   bash scripts/test.sh -p network-sandbox-escape-tests   # extra arguments go to cargo test
#
# Closes with one line over every test binary and doctest run:
#
#   tests: N passed, N failed, N skipped
#
# A test that cannot run here prints `SKIPPED: TEST: WHY [tool: TOOL]` (see
# `network_sandbox_escape_tests::skipped`) and returns; cargo counts it as passed, this
# script counts it as skipped instead. With CI=true, a skip whose tool scripts/setup.sh
# installs is a failure: on CI's machine that tool must be there.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

# The enforcement tests run as root and as uid 65534; unprivileged user namespaces are
# needed only by the hostname tests' runs as uid 65534 (skipped where they are disabled).
# Everything talks to loopback only.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
# --no-fail-fast: every test binary runs, so the closing line counts them all.
cargo test --workspace --no-fail-fast "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# Each skipped test once (a marker may share its line with the harness's own output).
skips=$(grep -o 'SKIPPED: .*' "$log" | awk -F': ' '!seen[$2]++' || true)
nskipped=$(printf '%s' "$skips" | grep -c . || true)
if [[ -n $skips ]]; then
    echo
    echo "skipped tests:"
    sed 's/^/  /' <<<"$skips"
fi

# In CI, a skip for want of a tool that setup.sh installs means setup failed: a failure.
if [[ ${CI:-} == true && -n $skips ]]; then
    installed=" $(bash scripts/setup.sh --tools | tr '\n' ' ') "
    while IFS= read -r line; do
        tool=$(sed -n 's/.*\[tool: \([^]]*\)\]$/\1/p' <<<"$line")
        if [[ -n $tool && $installed == *" $tool "* ]]; then
            echo "CI: '$line': scripts/setup.sh installs $tool, so this skip is a failure" >&2
            status=1
        fi
    done <<<"$skips"
fi

# One closing line over every test binary and doctest run; a skipped test is not passed.
awk -v skipped="$nskipped" '
    /^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
    END { printf "tests: %d passed, %d failed, %d skipped\n", p - skipped, f, skipped }' "$log"
exit "$status"
