#!/usr/bin/env bash
# Mutation testing of the enforcement code with cargo-mutants (installed from crates.io when
# missing): each mutant is a small change to the code (a condition flipped, a function
# replaced by a constant, a match arm deleted) that some test must notice. A mutant no test
# notices ("missed") is either a gap in the tests or a change that does not change behaviour;
# docs/TESTING.md lists the ones found and what became of each.
#
#   bash scripts/mutants.sh                # every mutant of the enforcement code (hours)
#   bash scripts/mutants.sh --quick        # CI: a few mutants of one small file (minutes)
#   bash scripts/mutants.sh -- ARGS…       # more arguments for cargo mutants, for example
#                                          #   -- --shard 3/16   or   -- -f core/src/install.rs
#
# The enforcement code: build-support's lowering and BPF assembly, core's supervisor,
# installer and Landlock layer. The tests that judge a mutant: the escape tests (real system
# calls, root and nobody), plus the unit and interpreter tests of core and build-support.
# Like scripts/test.sh, run it as root (the tests switch to uid 65534). Results go to
# mutants.out/ (missed.txt, caught.txt, timeout.txt, unviable.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=false
extra=()
while (($#)); do
    case $1 in
    --quick) quick=true ;;
    --) shift; extra=("$@"); break ;;
    *) echo "usage: $0 [--quick] [-- CARGO-MUTANTS-ARGS…]" >&2; exit 2 ;;
    esac
    shift
done

command -v cargo-mutants >/dev/null 2>&1 || cargo install --locked cargo-mutants

tests=(
    --test-package network-sandbox-escape-tests
    --test-package network-sandbox
    --test-package network-sandbox-build
)
if $quick; then
    # Five mutants of the supervisor's address decoding (every fifth of its 22), judged by
    # the escape tests alone; the target directory is copied so only the mutated crates are
    # rebuilt. The unmutated tree's tests already ran (scripts/test.sh), so no baseline.
    set -- -f core/src/supervisor/sockaddr.rs --sharding round-robin --shard 0/5 \
        --test-package network-sandbox-escape-tests --baseline skip --copy-target true
else
    set -- \
        -f 'build-support/src/lower.rs' -f 'build-support/src/bpf.rs' \
        -f 'core/src/supervisor/*.rs' -f 'core/src/install.rs' -f 'core/src/landlock_layer.rs' \
        "${tests[@]}" --copy-target true
fi
# One build and one test run at a time: the escape tests use fixed loopback addresses and
# run as root and nobody; two copies at once would trip over each other.
exec cargo mutants --jobs 1 --timeout 600 "$@" "${extra[@]}"
