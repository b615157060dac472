//! The benchmark harness (`harness = false`): see `network_sandbox_benches` and
//! `BENCHMARKS.md`.

fn main() {
    network_sandbox_benches::main();
}
