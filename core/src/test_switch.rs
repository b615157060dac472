//! A test-only switch that leaves one layer out, so the escape tests can show each of the
//! others holding **alone** (L1 without L2, L2 without L3, L3 without L2).
//!
//! It cannot weaken a real program:
//!
//! - It exists only with the `test-switch` cargo feature of this crate, which only the
//!   escape tests' `probe` binary enables, **and** only in builds with debug assertions. In
//!   any other build `skip` is a constant `false` and the installer's branches that use it
//!   are compiled out.
//! - Nothing in a policy, an option, the attribute, the TOML file, the command line or the
//!   environment reaches it: a layer is left out only when the program itself calls
//!   `leave_out` before installing, which only the probe does.
//!
//! A release build with the feature turned on does not fail to compile (a release build of
//! the whole workspace includes the probe's crate); the switch is simply not there. See
//! `docs/TESTING.md`.

use crate::filter::{self, SockFilter, SECCOMP_RET_ALLOW};
use crate::landlock_layer::Plan;
use crate::report::{Layer, LayerReport, Status};

#[cfg(all(feature = "test-switch", debug_assertions))]
static LEFT_OUT: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

#[cfg(all(feature = "test-switch", debug_assertions))]
fn bit(layer: Layer) -> u8 {
    match layer {
        Layer::StaticFilter => 1,
        Layer::Supervisor => 2,
        Layer::Landlock => 4,
        Layer::Privileges => 8,
    }
}

/// Leaves `layer` out of every later installation in this process (tests only).
///
/// Only the supervisor (L2) and Landlock (L3) can be left out: the static filter is what
/// sends calls to the supervisor, so without it nothing holds. Leaving out L2 installs the
/// static program with every "ask the supervisor" answer turned into "allow", as the
/// `landlock-ports` fallback does; leaving out L3 installs no Landlock ruleset.
///
/// # Panics
///
/// For [`Layer::StaticFilter`].
#[cfg(all(feature = "test-switch", debug_assertions))]
pub fn leave_out(layer: Layer) {
    assert!(
        layer != Layer::StaticFilter,
        "the static filter cannot be left out"
    );
    LEFT_OUT.fetch_or(bit(layer), std::sync::atomic::Ordering::SeqCst);
}

/// Whether `layer` is to be left out. Always `false` outside the escape tests' debug builds.
#[cfg(all(feature = "test-switch", debug_assertions))]
pub(crate) fn skip(layer: Layer) -> bool {
    LEFT_OUT.load(std::sync::atomic::Ordering::SeqCst) & bit(layer) != 0
}

/// Whether `layer` is to be left out. Always `false` outside the escape tests' debug builds.
#[cfg(not(all(feature = "test-switch", debug_assertions)))]
#[inline(always)]
pub(crate) const fn skip(_layer: Layer) -> bool {
    false
}

/// L2 left out: no supervisor, and the program allows what it would have notified.
pub(crate) fn drop_supervisor(
    program: &mut Vec<SockFilter>,
    supervised: &mut bool,
    report: &mut LayerReport,
) {
    *program = filter::rewrite_user_notif(program, SECCOMP_RET_ALLOW);
    *supervised = false;
    mark_left_out(report);
}

/// L3 left out: no Landlock ruleset at all.
pub(crate) fn drop_landlock(plan: &mut Option<Plan>, report: &mut LayerReport) {
    *plan = None;
    mark_left_out(report);
}

fn mark_left_out(report: &mut LayerReport) {
    report.status = Status::NotEnforced;
    report.detail = "left out by the test switch (escape tests only)".into();
}
