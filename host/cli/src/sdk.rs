//! Where the contract SDK (`weft-sdk`) is: found when the CLI runs, not fixed when it was
//! built, so a moved clone or a copied binary still works; and a check that a contract
//! crate's dependency on it still points at a real SDK.
//!
//! The order: `--sdk PATH`, then `$WEFT_SDK`, then the clone this `weft` runs from (its
//! executable in `<clone>/target/<profile>/`), then the path the binary was built at.

use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The environment variable naming the SDK (the same as `--sdk`).
pub(crate) const SDK_ENV: &str = "WEFT_SDK";

/// The SDK of the source tree this binary was built from: the last place looked.
const BUILT_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sdk/weft-sdk");

/// The SDK's directory inside a clone.
const IN_CLONE: &str = "sdk/weft-sdk";

/// What to do when no SDK is found.
const FIX: &str = "pass --sdk PATH or set WEFT_SDK to a weft clone or its sdk/weft-sdk \
                   directory; see docs/writing-contracts.md, \"Outside this repository\"";

/// The SDK's directory (canonical): `explicit` (from `--sdk` or `$WEFT_SDK`: the SDK or a
/// clone holding it) if given; otherwise the first place in the search order that holds it.
pub(crate) fn find(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = explicit {
        return check(dir).or_else(|e| check(&dir.join(IN_CLONE)).map_err(|_| e)).map_err(|e| {
            anyhow::anyhow!("no weft SDK at {} (--sdk or WEFT_SDK): {e:#}; {FIX}", dir.display())
        });
    }
    let mut looked = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        // <clone>/target/<profile>/weft or <clone>/target/<triple>/<profile>/weft.
        for clone in exe.ancestors().skip(2).take(3) {
            looked.push(clone.join(IN_CLONE));
        }
    }
    looked.push(PathBuf::from(BUILT_SDK));
    for dir in &looked {
        if let Ok(sdk) = check(dir) {
            return Ok(sdk);
        }
    }
    let looked: Vec<String> = looked.iter().map(|p| p.display().to_string()).collect();
    bail!("cannot find the weft SDK (looked in {}): {FIX}", looked.join(", "))
}

/// `dir` canonicalized, if it is the `weft-sdk` crate.
fn check(dir: &Path) -> Result<PathBuf> {
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("cannot read {}", manifest.display()))?;
    let parsed: toml::Table =
        text.parse().with_context(|| format!("parsing {}", manifest.display()))?;
    let name = parsed.get("package").and_then(|p| p.get("name")).and_then(|n| n.as_str());
    if name != Some("weft-sdk") {
        bail!("{} is not the weft-sdk crate's", manifest.display());
    }
    Ok(dir.canonicalize()?)
}

/// How a crate in `crate_dir` names the SDK in `sdk` (both canonical): relative to the crate
/// when they share a directory other than the filesystem root (moving that directory keeps
/// the crate working), absolute otherwise.
pub(crate) fn dependency_path(crate_dir: &Path, sdk: &Path) -> PathBuf {
    let from: Vec<Component<'_>> = crate_dir.components().collect();
    let to: Vec<Component<'_>> = sdk.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let shares_only_root = to[..common].iter().all(|c| !matches!(c, Component::Normal(_)));
    if shares_only_root {
        return sdk.to_path_buf();
    }
    let mut path: PathBuf = from[common..].iter().map(|_| Component::ParentDir).collect();
    path.extend(&to[common..]);
    path
}

/// Checks that the crate whose manifest is `manifest` depends on a `weft-sdk` that exists,
/// when it names it by path; the error gives the line to write.
pub(crate) fn check_dependency(manifest: &Path) -> Result<()> {
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    let parsed: toml::Table =
        text.parse().with_context(|| format!("parsing {}", manifest.display()))?;
    let Some(path) = parsed
        .get("dependencies")
        .and_then(|d| d.get("weft-sdk"))
        .and_then(|d| d.get("path"))
        .and_then(|p| p.as_str())
    else {
        return Ok(());
    };
    let crate_dir = manifest.parent().unwrap_or(Path::new("."));
    if check(&crate_dir.join(path)).is_ok() {
        return Ok(());
    }
    let env = std::env::var_os(SDK_ENV).map(PathBuf::from);
    let fix = match find(env.as_deref()) {
        Ok(sdk) => {
            let dir = crate_dir.canonicalize().unwrap_or_else(|_| crate_dir.to_path_buf());
            let written = dependency_path(&dir, &sdk);
            format!("write `weft-sdk = {{ path = {} }}` there", toml_string(&written))
        }
        Err(_) => format!("point it at the sdk/weft-sdk directory of a weft clone; {FIX}"),
    };
    bail!(
        "{}: weft-sdk's path {path:?} does not lead to the SDK (was the weft clone moved?): {fix}",
        manifest.display()
    )
}

/// `path` as a TOML string (quoted and escaped).
pub(crate) fn toml_string(path: &Path) -> String {
    toml::Value::String(path.display().to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_sdk_and_refuses_other_directories() {
        let sdk = find(None).unwrap();
        assert!(sdk.ends_with(IN_CLONE), "{}", sdk.display());
        assert_eq!(find(Some(&sdk)).unwrap(), sdk);
        // A clone will do: its sdk/weft-sdk.
        assert_eq!(find(Some(&sdk.join("../.."))).unwrap(), sdk);
        let wrong = find(Some(Path::new(env!("CARGO_MANIFEST_DIR")))).unwrap_err();
        let text = format!("{wrong:#}");
        assert!(text.contains("host/cli/Cargo.toml is not the weft-sdk crate's"), "{text}");
        assert!(text.contains("pass --sdk PATH or set WEFT_SDK"), "{text}");
        let missing = format!("{:#}", find(Some(Path::new("/nonexistent/sdk"))).unwrap_err());
        assert!(missing.contains("cannot read /nonexistent/sdk/Cargo.toml"), "{missing}");
    }

    #[test]
    fn dependency_path_is_relative_under_a_shared_directory() {
        let sdk = Path::new("/home/ana/weft/sdk/weft-sdk");
        assert_eq!(
            dependency_path(Path::new("/home/ana/contracts/hello"), sdk),
            Path::new("../../weft/sdk/weft-sdk")
        );
        assert_eq!(
            dependency_path(Path::new("/home/ana/weft/contracts/hello"), sdk),
            Path::new("../../sdk/weft-sdk")
        );
        assert_eq!(dependency_path(Path::new("/tmp/hello"), sdk), sdk);
    }

    #[test]
    fn a_moved_sdk_is_named_with_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let manifest = tmp.path().join("Cargo.toml");
        std::fs::write(&manifest, "[dependencies]\nweft-sdk = { path = \"../gone/weft-sdk\" }\n")
            .unwrap();
        let text = format!("{:#}", check_dependency(&manifest).unwrap_err());
        assert!(text.contains("\"../gone/weft-sdk\" does not lead to the SDK"), "{text}");
        assert!(text.contains("write `weft-sdk = { path = "), "{text}");
        let sdk = find(None).unwrap();
        let dir = tmp.path().canonicalize().unwrap();
        let fixed = format!(
            "[dependencies]\nweft-sdk = {{ path = {} }}\n",
            toml_string(&dependency_path(&dir, &sdk))
        );
        std::fs::write(&manifest, fixed).unwrap();
        check_dependency(&manifest).unwrap();
        // A crate that names the SDK another way (a workspace or a registry) is not checked.
        std::fs::write(&manifest, "[dependencies]\nweft-sdk.workspace = true\n").unwrap();
        check_dependency(&manifest).unwrap();
    }
}
