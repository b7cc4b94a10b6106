//! `weft contract build`: a contract crate to its deployable `.wasm`, the same bytes from any
//! working directory.
//!
//! Cargo reads `.cargo/config.toml` from the directory it is started in, not from the crate,
//! so the link flags that give contracts the SDK's 64 KiB stack are passed explicitly
//! (`CARGO_ENCODED_RUSTFLAGS`, which overrides every configured `rustflags`) and cargo runs
//! in the crate's directory. The profile is always `contract`, defined by the crate's
//! workspace (`weft contract new` writes it; this repository's root defines it too).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail, ensure};

/// This repository's Cargo configuration for contracts: the single place the stack flag is
/// set. `weft contract new` writes it into new crates (for plain `cargo` commands run there)
/// and [`build`] passes its flags explicitly.
const CARGO_CONFIG: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../.cargo/config.toml"));

/// The profile contracts are built with.
const PROFILE: &str = "contract";

/// `[profile.contract]`: small, stripped `.wasm`; `panic = "abort"` is safe because the SDK's
/// panic hook reports the message to the host first. The same as this repository's.
pub(crate) const PROFILE_TOML: &str = r#"[profile.contract]
inherits = "release"
opt-level = "z"
lto = true
codegen-units = 1
panic = "abort"
strip = true
debug = false
"#;

const TARGET: &str = "wasm32-unknown-unknown";

/// The largest a sample contract is allowed to be; bigger builds get a warning.
const SIZE_HINT: u64 = 150 * 1024;

/// The `rustflags` of [`CARGO_CONFIG`] for the wasm target.
pub(crate) fn rustflags() -> Vec<String> {
    let config: toml::Table = CARGO_CONFIG.parse().expect("the repository's cargo config parses");
    config["target"][TARGET]["rustflags"]
        .as_array()
        .expect("the repository's cargo config sets rustflags for wasm32-unknown-unknown")
        .iter()
        .map(|flag| flag.as_str().expect("rustflags are strings").to_owned())
        .collect()
}

/// Builds the contract crate in `dir` to `wasm32-unknown-unknown` with the `contract`
/// profile and returns the `.wasm` path and its size.
pub(crate) fn build(dir: &Path) -> Result<(PathBuf, u64)> {
    let manifest = dir.join("Cargo.toml");
    ensure!(
        manifest.exists(),
        "{} has no Cargo.toml: run `weft contract new` or pass --path",
        dir.display()
    );
    crate::sdk::check_dependency(&manifest)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    check_profile(&cargo, dir)?;
    let output = Command::new(&cargo)
        .current_dir(dir)
        .args(["build", "--lib", "--profile", PROFILE, "--target", TARGET])
        .args(["--message-format", "json-render-diagnostics"])
        .env("CARGO_ENCODED_RUSTFLAGS", rustflags().join("\x1f"))
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {cargo}"))?;
    ensure!(
        output.status.success(),
        "cargo build failed (is the target installed? `rustup target add {TARGET}`)"
    );
    let mut wasm = None;
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        for file in message["filenames"].as_array().into_iter().flatten() {
            if let Some(path) = file.as_str().filter(|p| p.ends_with(".wasm")) {
                wasm = Some(PathBuf::from(path));
            }
        }
    }
    let wasm = wasm.context("cargo built no .wasm: is crate-type [\"cdylib\"] set?")?;
    let size =
        std::fs::metadata(&wasm).with_context(|| format!("reading {}", wasm.display()))?.len();
    Ok((wasm, size))
}

/// Checks that the workspace of the crate in `dir` defines `[profile.contract]`; the error
/// gives the table to add.
fn check_profile(cargo: &str, dir: &Path) -> Result<()> {
    let located = Command::new(cargo)
        .current_dir(dir)
        .args(["locate-project", "--workspace", "--message-format", "plain"])
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {cargo}"))?;
    ensure!(located.status.success(), "cargo cannot read the crate in {}", dir.display());
    let root = PathBuf::from(String::from_utf8_lossy(&located.stdout).trim());
    let text =
        std::fs::read_to_string(&root).with_context(|| format!("reading {}", root.display()))?;
    let parsed: toml::Table =
        text.parse().with_context(|| format!("parsing {}", root.display()))?;
    if parsed.get("profile").and_then(|p| p.get(PROFILE)).is_none() {
        bail!(
            "{} defines no [profile.{PROFILE}], which `weft contract build` builds with; add:\n\n{PROFILE_TOML}",
            root.display()
        );
    }
    Ok(())
}

/// A warning if `size` is over the sample contracts' limit.
pub(crate) fn size_note(size: u64) -> Option<String> {
    (size > SIZE_HINT).then(|| {
        format!(
            "{} KiB is over the {} KiB the sample contracts stay under; check dependencies",
            size / 1024,
            SIZE_HINT / 1024
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stack_flag_comes_from_the_repository_config() {
        assert_eq!(rustflags(), ["-C", "link-arg=-zstack-size=65536"]);
    }

    #[test]
    fn the_profile_is_the_repository_one() {
        let ours: toml::Table = PROFILE_TOML.parse().unwrap();
        let root: toml::Table =
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml")).parse().unwrap();
        assert_eq!(ours["profile"][PROFILE], root["profile"][PROFILE]);
    }

    #[test]
    fn a_workspace_without_the_profile_is_told_what_to_add() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(
            tmp.path().join("Cargo.toml"),
            "[package]\nname = \"c\"\nversion = \"0.1.0\"\nedition = \"2024\"\n[workspace]\n",
        )
        .unwrap();
        std::fs::create_dir(tmp.path().join("src")).unwrap();
        std::fs::write(tmp.path().join("src/lib.rs"), "").unwrap();
        let text = format!("{:#}", build(tmp.path()).unwrap_err());
        assert!(text.contains("defines no [profile.contract]"), "{text}");
        assert!(text.contains("opt-level = \"z\""), "{text}");
    }
}
