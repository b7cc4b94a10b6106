//! `weft contract new` and `weft contract build`: a contract crate from a template, and its
//! `.wasm` with a size report.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail, ensure};

/// The SDK of the source tree this binary was built from.
pub(crate) const SDK_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sdk/weft-sdk");

/// The Cargo configuration that gives contracts the SDK's fast path (a 64 KiB stack): the
/// repository's own, so the knob is set in one place.
const CARGO_CONFIG: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../.cargo/config.toml"));

/// The largest a sample contract is allowed to be; bigger builds get a warning.
const SIZE_HINT: u64 = 150 * 1024;

/// Writes a contract crate named `name` into `dir`: Cargo.toml (its own workspace, a
/// size-oriented release profile), .cargo/config.toml (the 64 KiB stack of the SDK's fast
/// path), src/lib.rs with two transactions and a test.
pub(crate) fn new_contract(name: &str, dir: &Path, sdk: &Path) -> Result<()> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.starts_with(|c: char| c.is_ascii_lowercase());
    ensure!(
        valid,
        "contract name {name:?}: use lowercase letters, digits, '-' and '_', starting with a letter"
    );
    if dir.join("Cargo.toml").exists() {
        bail!("{} already holds a crate", dir.display());
    }
    let sdk = sdk
        .canonicalize()
        .with_context(|| format!("the SDK at {} (pass --sdk PATH to weft-sdk)", sdk.display()))?;
    std::fs::create_dir_all(dir.join("src"))
        .with_context(|| format!("creating {}", dir.display()))?;
    let type_name: String = name
        .split(['-', '_'])
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    let manifest = format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
# cdylib: the .wasm the peer runs; rlib: so `cargo test` runs the contract natively.
crate-type = ["cdylib", "rlib"]

[dependencies]
weft-sdk = {{ path = {sdk:?} }}

# A contract is its own workspace.
[workspace]

# Small, deterministic .wasm: `weft contract build` uses this profile.
[profile.release]
opt-level = "z"
lto = true
codegen-units = 1
panic = "abort"
strip = true
"#,
        sdk = sdk.display().to_string()
    );
    let source = format!(
        r#"//! {name}: a Weft contract. `cargo test` runs the tests natively; `weft contract build`
//! makes the .wasm; `weft contract deploy {name} <wasm>` puts it on the channel.

use weft_sdk::{{Context, ContractError}};

/// The contract; its data lives in the ledger's state.
#[derive(Default)]
pub struct {type_name};

#[weft_sdk::contract]
impl {type_name} {{
    /// Stores `value` under `key`.
    #[transaction]
    fn put(&self, ctx: &mut Context, key: String, value: String) -> Result<(), ContractError> {{
        ctx.put(&key, &value)?;
        Ok(())
    }}

    /// The value under `key`; fails if there is none.
    #[transaction]
    fn get(&self, ctx: &mut Context, key: String) -> Result<String, ContractError> {{
        let value = ctx.get(&key)?.ok_or_else(|| ContractError::new(format!("{{key}} not found")))?;
        Ok(String::from_utf8(value)?)
    }}
}}

#[cfg(test)]
mod tests {{
    use weft_sdk::testing::MockStub;

    use super::{type_name};

    #[test]
    fn put_then_get_after_commit() {{
        let mut stub = MockStub::new("{name}", {type_name});
        assert!(stub.submit("Put", &["greeting", "hello"]).is_success());
        assert_eq!(stub.query("Get", &["greeting"]).payload_str(), "hello");
        assert!(!stub.query("Get", &["missing"]).is_success());
    }}
}}
"#
    );
    std::fs::write(dir.join("Cargo.toml"), manifest)?;
    std::fs::write(dir.join("src/lib.rs"), source)?;
    std::fs::create_dir_all(dir.join(".cargo"))?;
    std::fs::write(dir.join(".cargo/config.toml"), CARGO_CONFIG)?;
    Ok(())
}

/// Builds the contract crate in `dir` to `wasm32-unknown-unknown` (release profile) and
/// returns the `.wasm` path and its size.
pub(crate) fn build_contract(dir: &Path) -> Result<(PathBuf, u64)> {
    let manifest = dir.join("Cargo.toml");
    ensure!(
        manifest.exists(),
        "{} has no Cargo.toml: run `weft contract new` or pass --path",
        dir.display()
    );
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(&cargo)
        .args(["build", "--release", "--lib", "--target", "wasm32-unknown-unknown"])
        .args(["--message-format", "json-render-diagnostics", "--manifest-path"])
        .arg(&manifest)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {cargo}"))?;
    ensure!(
        output.status.success(),
        "cargo build failed (is the target installed? `rustup target add wasm32-unknown-unknown`)"
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
