//! Tests of the `#[network_sandbox]` attribute with trybuild: `tests/fail/*.rs` must fail to
//! compile with the error in the `.stderr` beside each, `tests/pass/*.rs` must compile and
//! run. Run with `cargo test -p ui-tests`; regenerate the expected errors with
//! `TRYBUILD=overwrite cargo test -p ui-tests` and read every changed `.stderr`.

#![deny(missing_docs)]
