//! `weft contract new`: a contract crate from a template, outside any workspace: its
//! dependency on the SDK (found by [`crate::sdk::find`]), the `contract` profile, the stack
//! flag for plain `cargo` commands, and the compiler and dependency versions this repository
//! tests with.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};

use crate::compile::{PROFILE_TOML, rustflags};
use crate::sdk;

/// What `new_contract` wrote.
#[derive(Debug)]
pub(crate) struct Scaffolded {
    /// The SDK path as written in Cargo.toml (relative to the crate, or absolute).
    pub(crate) sdk: PathBuf,
    /// Whether Cargo.lock came from the SDK's repository (otherwise cargo resolves fresh).
    pub(crate) locked: bool,
}

/// Writes a contract crate named `name` into `dir`: Cargo.toml (its own workspace, weft-sdk
/// as its only dependency, the `contract` profile), Cargo.lock (the SDK repository's, so the
/// crate builds with the versions tested there, offline too), rust-toolchain.toml (the
/// compiler tested there), .cargo/config.toml (the 64 KiB stack of the SDK's fast path, for
/// plain `cargo` commands), .gitignore, and src/lib.rs with three transactions and a test.
/// `sdk_dir` is the SDK's directory (canonical, see [`sdk::find`]).
pub(crate) fn new_contract(name: &str, dir: &Path, sdk_dir: &Path) -> Result<Scaffolded> {
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
    std::fs::create_dir_all(dir.join("src"))
        .with_context(|| format!("creating {}", dir.display()))?;
    let canonical = dir.canonicalize()?;
    let written = sdk::dependency_path(&canonical, sdk_dir);
    let sdk_path = sdk::toml_string(&written);
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

# The SDK re-exports serde and serde_json: a contract needs no other dependency.
[dependencies]
weft-sdk = {{ path = {sdk_path} }}

# A contract is its own workspace.
[workspace]

# The deployable .wasm: `weft contract build` builds with this profile.
{PROFILE_TOML}"#
    );
    let source = format!(
        r#"//! {name}: a Weft contract. `cargo test` runs the tests natively; `weft contract build`
//! makes the .wasm; `weft contract deploy {name} <wasm>` puts it on the channel.

use weft_sdk::serde::{{Deserialize, Serialize}};
use weft_sdk::{{Context, ContractError}};

/// A key and its value, as `List` returns them (JSON).
#[derive(Serialize, Deserialize, Debug, PartialEq)]
#[serde(crate = "weft_sdk::serde")]
pub struct Entry {{
    /// The key.
    pub key: String,
    /// Its committed value.
    pub value: String,
}}

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

    /// Every key and its value, in key order, as a JSON array.
    #[transaction]
    fn list(&self, ctx: &mut Context) -> Result<Vec<Entry>, ContractError> {{
        let mut entries = Vec::new();
        for pair in ctx.range("", "")? {{
            let pair = pair?;
            entries.push(Entry {{
                key: String::from_utf8(pair.key)?,
                value: String::from_utf8(pair.value)?,
            }});
        }}
        Ok(entries)
    }}
}}

#[cfg(test)]
mod tests {{
    use weft_sdk::testing::MockStub;

    use super::{{Entry, {type_name}}};

    #[test]
    fn put_then_get_and_list_after_commit() {{
        let mut stub = MockStub::new("{name}", {type_name});
        assert!(stub.submit("Put", &["greeting", "hello"]).is_success());
        assert_eq!(stub.query("Get", &["greeting"]).payload_str(), "hello");
        assert!(!stub.query("Get", &["missing"]).is_success());
        let entries: Vec<Entry> = stub.query("List", &[]).json();
        assert_eq!(entries, [Entry {{ key: "greeting".into(), value: "hello".into() }}]);
    }}
}}
"#
    );
    let flags: Vec<String> =
        rustflags().iter().map(|f| toml::Value::from(f.as_str()).to_string()).collect();
    let config = format!(
        "# The SDK's fast path, a 64 KiB stack, for `cargo build --target wasm32-unknown-unknown`\n\
         # run in this directory. `weft contract build` passes the same flags itself.\n\
         [target.wasm32-unknown-unknown]\nrustflags = [{}]\n",
        flags.join(", ")
    );
    // The versions this repository tests with; cargo drops what this crate does not use.
    let repository = sdk_dir.join("../..");
    let lock = repository.join("Cargo.lock");
    let locked = lock.is_file();
    let toolchain = toolchain(&repository)?;
    std::fs::write(dir.join("Cargo.toml"), manifest)?;
    std::fs::write(dir.join("src/lib.rs"), source)?;
    std::fs::write(dir.join(".gitignore"), "/target\n")?;
    std::fs::create_dir_all(dir.join(".cargo"))?;
    std::fs::write(dir.join(".cargo/config.toml"), config)?;
    if let Some(toolchain) = toolchain {
        std::fs::write(dir.join("rust-toolchain.toml"), toolchain)?;
    }
    if locked {
        std::fs::copy(&lock, dir.join("Cargo.lock"))
            .with_context(|| format!("copying {}", lock.display()))?;
    }
    Ok(Scaffolded { sdk: written, locked })
}

/// A rust-toolchain.toml naming the compiler the SDK's repository is tested with (its own
/// `rust-toolchain.toml`), if it names one: the same compiler builds the same `.wasm`, so
/// every organization that builds the contract gets the same code hash.
fn toolchain(repository: &Path) -> Result<Option<String>> {
    let path = repository.join("rust-toolchain.toml");
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(None) };
    let parsed: toml::Table =
        text.parse().with_context(|| format!("parsing {}", path.display()))?;
    let Some(channel) = parsed.get("toolchain").and_then(|t| t.get("channel")) else {
        return Ok(None);
    };
    Ok(Some(format!(
        "# The compiler weft's SDK is tested with: the same compiler builds the same .wasm, so\n\
         # every organization that builds this contract gets the same code hash.\n\
         [toolchain]\nchannel = {channel}\ntargets = [\"wasm32-unknown-unknown\"]\n"
    )))
}
