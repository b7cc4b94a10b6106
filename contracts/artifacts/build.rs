//! Builds every contract crate of the workspace to `wasm32-unknown-unknown` with
//! `--profile contract` (size-oriented, LTO, stripped) through a nested `cargo build` into its
//! own target directory, then writes one `pub const` path per contract into `OUT_DIR`.
//!
//! The nested build gets a clean environment: the outer build's `RUSTFLAGS`, target and
//! target directory are removed, so the repository's `.cargo/config.toml` (the 64 KiB stack)
//! applies exactly as it does to `cargo build --target wasm32-unknown-unknown` by hand. The
//! jobserver (`CARGO_MAKEFLAGS`) is passed through, so the nested build shares the outer
//! build's job slots.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail, ensure};

/// The packages built to `.wasm`, as `(package name, kind)`. A sample is a contract users
/// read and port; a fixture exists to test the host (for example `contracts/misbehave/*`).
/// Add a new contract crate here (and to the workspace members).
const CONTRACTS: &[(&str, Kind)] = &[
    ("kv", Kind::Sample),
    ("asset-transfer", Kind::Sample),
    ("abstore", Kind::Sample),
    ("marbles", Kind::Sample),
    ("token", Kind::Sample),
    ("misbehave-loop", Kind::Fixture),
    ("misbehave-alloc", Kind::Fixture),
    ("misbehave-recursion", Kind::Fixture),
    ("misbehave-panic", Kind::Fixture),
    ("misbehave-raw", Kind::Fixture),
];

#[derive(Clone, Copy, Debug)]
enum Kind {
    Sample,
    Fixture,
}

const TARGET: &str = "wasm32-unknown-unknown";
const PROFILE: &str = "contract";

/// Environment of the outer build that must not leak into the nested one.
const STRIPPED_ENV: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_PKG_NAME",
    "RUSTC_WORKSPACE_WRAPPER",
    "TARGET",
    "HOST",
    "PROFILE",
    "OPT_LEVEL",
    "DEBUG",
    "OUT_DIR",
];

fn main() -> Result<()> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let workspace = manifest_dir.join("../..").canonicalize()?;
    for watched in ["sdk", "contracts", "Cargo.toml", "Cargo.lock", ".cargo/config.toml"] {
        println!("cargo:rerun-if-changed={}", workspace.join(watched).display());
    }

    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    // OUT_DIR is <target dir>/[<triple>/]<profile>/build/<pkg>-<hash>/out.
    let target_dir = out_dir
        .ancestors()
        .nth(4)
        .context("OUT_DIR is not inside a cargo target directory")?
        .join("wasm-contracts");

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    ensure_wasm_target()?;

    let mut cmd = Command::new(&cargo);
    cmd.current_dir(&workspace)
        .args(["build", "--target", TARGET, "--profile", PROFILE, "--target-dir"])
        .arg(&target_dir);
    for (package, _) in CONTRACTS {
        cmd.args(["-p", package]);
    }
    for var in STRIPPED_ENV {
        cmd.env_remove(var);
    }
    for (var, _) in env::vars_os() {
        if var
            .to_str()
            .is_some_and(|v| v.starts_with("CARGO_FEATURE_") || v.starts_with("CARGO_CFG_"))
        {
            cmd.env_remove(var);
        }
    }
    eprintln!("running: {cmd:?}");
    let status = cmd.status().with_context(|| format!("running {cargo}"))?;
    ensure!(status.success(), "building the contracts to {TARGET} failed ({status})");

    let mut generated = String::new();
    let mut all = String::new();
    for (package, kind) in CONTRACTS {
        let wasm = target_dir
            .join(TARGET)
            .join(PROFILE)
            .join(format!("{}.wasm", package.replace('-', "_")));
        ensure!(wasm.is_file(), "{} was not built", wasm.display());
        let constant = package.replace('-', "_").to_uppercase();
        writeln!(
            generated,
            "/// `{}` ({kind:?}), built with `--profile {PROFILE}`.",
            wasm.display()
        )?;
        writeln!(generated, "pub const {constant}: &str = {:?};", path_str(&wasm)?)?;
        writeln!(
            all,
            "    Contract {{ package: {package:?}, path: {constant}, kind: Kind::{kind:?} }},"
        )?;
    }
    writeln!(generated, "/// Every contract built, in the order of the build script's list.")?;
    writeln!(generated, "pub const ALL: &[Contract] = &[\n{all}];")?;
    std::fs::write(out_dir.join("contracts.rs"), generated)?;
    Ok(())
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str().with_context(|| format!("{} is not UTF-8", path.display()))
}

/// Makes sure the standard library for the Wasm target is installed: installs it with rustup
/// if it is missing, or fails with the command to run.
fn ensure_wasm_target() -> Result<()> {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let output = Command::new(&rustc).args(["--print", "sysroot"]).output()?;
    ensure!(output.status.success(), "{rustc} --print sysroot failed");
    let sysroot = PathBuf::from(String::from_utf8(output.stdout)?.trim());
    let target_lib = sysroot.join("lib/rustlib").join(TARGET).join("lib");
    if target_lib.is_dir() {
        return Ok(());
    }
    eprintln!("the {TARGET} target is not installed; running `rustup target add {TARGET}`");
    let installed = Command::new("rustup").args(["target", "add", TARGET]).status();
    match installed {
        Ok(status) if status.success() && target_lib.is_dir() => Ok(()),
        _ => bail!(
            "the Rust standard library for {TARGET} is missing from {} and could not be \
             installed; run `rustup target add {TARGET}` and build again",
            sysroot.display()
        ),
    }
}
