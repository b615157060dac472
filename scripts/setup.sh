#!/usr/bin/env bash
# Installs what building and testing the workspace needs on a fresh Debian machine, when run
# as root: libseccomp-dev and pkg-config (the benchmarks compare with libseccomp and are part
# of the workspace), and the clients of other runtimes that the command's tests run (curl,
# Python, Node.js, Go, Java, dig, a static musl program for the hostname tests; util-linux's
# unshare for the network namespaces of the escape tests; gdb, strace and gcc with
# AddressSanitizer for the debugger tests). Elsewhere it only says what is
# missing; tests whose client is missing report themselves skipped, and why (in CI, such a
# skip is a failure). cargo-mutants is not installed here (it takes minutes to compile):
# scripts/mutants.sh installs it when it runs.
set -euo pipefail

# command or file that shows the package is there -> Debian package
declare -A need=(
    [curl]=curl
    [unshare]=util-linux
    [python3]=python3
    [node]=nodejs
    [go]=golang-go
    [java]=default-jre-headless
    [dig]=dnsutils
    [musl-gcc]=musl-tools
    [pkg-config]=pkg-config
    [ssh-agent]=openssh-client
    [/usr/include/seccomp.h]=libseccomp-dev
    [gdb]=gdb
    [strace]=strace
    [gcc]=gcc
)
# `--tools`: the commands this script installs, one a line (scripts/test.sh uses the list:
# in CI a test skipped for want of one of them is a failure).
if [[ ${1:-} == --tools ]]; then
    for what in "${!need[@]}"; do
        [[ $what == /* ]] || echo "$what"
    done
    exit 0
fi

missing=()
for what in "${!need[@]}"; do
    if [[ $what == /* ]]; then
        [[ -e $what ]] || missing+=("${need[$what]}")
    else
        command -v "$what" >/dev/null 2>&1 || missing+=("${need[$what]}")
    fi
done
((${#missing[@]})) || exit 0
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "setup: not installed: ${missing[*]}" >&2
fi
