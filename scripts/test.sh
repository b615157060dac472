#!/usr/bin/env bash
# Runs the whole test suite. On a fresh Debian machine, run as root, it first installs what
# the tests need (clients of other runtimes for the command's tests); elsewhere it uses what
# is there, and tests whose tool is missing say "skipped" and why.
#
#   bash scripts/test.sh            # everything
#   bash scripts/test.sh -p network-sandbox-escape-tests   # extra arguments go to cargo test
set -euo pipefail
cd "$(dirname "$0")/.."

# command -> Debian package
declare -A tools=(
    [curl]=curl
    [python3]=python3
    [node]=nodejs
    [go]=golang-go
    [java]=default-jre-headless
    [bash]=bash
)
missing=()
for tool in "${!tools[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("${tools[$tool]}")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "scripts/test.sh: installing ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "scripts/test.sh: not installed: ${missing[*]} (their tests will be skipped)" >&2
    fi
fi

# The enforcement tests run as root and as uid 65534; unprivileged user namespaces are not
# needed. Everything talks to loopback only.
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
