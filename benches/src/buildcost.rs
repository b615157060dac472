//! Build cost: a small generated program, built with and without the attribute.
//!
//! Two throwaway crates in a temporary directory: `without` has no dependency and a plain
//! `main`; `with` depends on the workspace's `core` by path and carries
//! `#[network_sandbox(allow = …)]`. That is the cost of adopting the sandbox: the clean build
//! of `with` compiles the attribute's compiler (syn, seccompiler, …) and the runtime, and
//! each incremental build of it expands the attribute again, which compiles the policy.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The two variants.
pub const VARIANTS: [&str; 2] = ["without", "with"];

/// Seconds of each build, per variant.
#[derive(Debug, Default)]
pub struct BuildTimes {
    /// Clean builds (empty target directory), `[without, with]`; empty when skipped.
    pub clean: [Vec<f64>; 2],
    /// Incremental builds after a change to `main.rs`, `[without, with]`.
    pub incremental: [Vec<f64>; 2],
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn main_rs(variant: &str, revision: usize) -> String {
    let attr = if variant == "with" {
        "#[network_sandbox::network_sandbox(allow = [\"127.0.0.2:443\", \"10.0.0.0/8:8000-8100\"])]\n"
    } else {
        ""
    };
    format!(
        "const REVISION: usize = {revision};\n\n{attr}fn main() {{\n    \
         let r = std::net::TcpStream::connect(\"127.0.0.2:443\");\n    \
         println!(\"revision {{REVISION}}: {{}}\", r.is_ok());\n}}\n"
    )
}

fn write_crate(dir: &Path, variant: &str, workspace: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("src"))?;
    let dep = if variant == "with" {
        format!(
            "network-sandbox = {{ path = {:?} }}\n",
            workspace.join("core").display().to_string()
        )
    } else {
        String::new()
    };
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"nsb-buildcost-{variant}\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             publish = false\n\n[dependencies]\n{dep}\n[workspace]\n"
        ),
    )?;
    // The workspace's lock file pins the same versions and lets the build run offline.
    if variant == "with" {
        std::fs::copy(workspace.join("Cargo.lock"), dir.join("Cargo.lock"))?;
    }
    std::fs::write(dir.join("src/main.rs"), main_rs(variant, 0))
}

fn cargo_build(dir: &Path, target_dir: &Path) -> std::io::Result<f64> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let t0 = Instant::now();
    let out = Command::new(cargo)
        .args(["build", "--offline", "--quiet"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir)
        .env_remove("RUSTFLAGS")
        .output()?;
    let secs = t0.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "cargo build in {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(secs)
}

/// Measures the builds. With `clean`, each variant is first built in an empty target
/// directory of its own (timed); otherwise both build once, untimed, in `warm_target` (a
/// directory that may already hold the workspace's dependencies). Then `incremental`
/// rounds, alternating the variants, each changing `main.rs` and rebuilding.
pub fn measure(
    workspace: &Path,
    clean: bool,
    warm_target: &Path,
    incremental: usize,
) -> std::io::Result<BuildTimes> {
    let root = TempDir(std::env::temp_dir().join(format!("nsb-buildcost-{}", std::process::id())));
    let mut times = BuildTimes::default();
    let mut targets = Vec::new();
    for (i, variant) in VARIANTS.iter().enumerate() {
        let dir = root.0.join(variant);
        write_crate(&dir, variant, workspace)?;
        let target = if clean {
            root.0.join(format!("target-{variant}"))
        } else {
            warm_target.to_path_buf()
        };
        crate::progress(&format!("build cost: first build of `{variant}`"));
        let secs = cargo_build(&dir, &target)?;
        if clean {
            times.clean[i].push(secs);
        }
        targets.push((dir, target));
    }
    for rev in 1..=incremental {
        for (i, (dir, target)) in targets.iter().enumerate() {
            std::fs::write(dir.join("src/main.rs"), main_rs(VARIANTS[i], rev))?;
            times.incremental[i].push(cargo_build(dir, target)?);
        }
    }
    Ok(times)
}
