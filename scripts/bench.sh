#!/usr/bin/env bash
# Benchmarks network-sandbox against the floor and against the alternatives, and prints one
# table (see BENCHMARKS.md for what each row means). The connect rows (3a–3d) compare the
# project's supervisor with a minimal reference supervisor measured side by side, as
# deployed and with every process pinned to one CPU.
#
#   scripts/bench.sh            full run (1 GiB transfers, clean builds): several minutes
#   scripts/bench.sh --quick    fewer rounds, 128 MiB transfers, no clean build: < 2 minutes
#
# For investigating one row: target/release/deps/sandbox-* --diag connect|connect-pinned|bulk
# ROUNDS CONFIG… (see BENCHMARKS.md).
#
# Needs libseccomp-dev and pkg-config (installed with apt-get when missing and run as root).
# Every server and client talks over loopback only; every process started is stopped.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=()
case "${1:-}" in
  --quick) mode=(--quick) ;;
  "") ;;
  *) echo "usage: scripts/bench.sh [--quick]" >&2; exit 2 ;;
esac

if ! pkg-config --exists libseccomp 2>/dev/null; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "bench.sh: installing libseccomp-dev and pkg-config" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq libseccomp-dev pkg-config >/dev/null
  else
    echo "bench.sh: needs libseccomp-dev and pkg-config (apt-get install libseccomp-dev pkg-config)" >&2
    exit 1
  fi
fi

# The build-cost row reuses this target directory's compiled dependencies in quick mode.
export NSB_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

# On a shared machine, other processes' work is the main noise: run at a higher priority
# when allowed to (root), so the configurations compete less with them.
prio=()
if [[ $(id -u) -eq 0 ]]; then
  prio=(nice -n -10)
fi

cargo bench -p network-sandbox-benches --bench sandbox --no-run
"${prio[@]}" cargo bench -p network-sandbox-benches --bench sandbox -- "${mode[@]}"

# Hostname rows (issue 11): install with three names from a hosts file, connect by name.
scripts/bench-hostnames.sh "${mode[@]}"
