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
exec cargo test --workspace "$@"
