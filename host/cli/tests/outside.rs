//! A contract author outside this repository, through the real `weft` binary and cargo:
//! scaffold a crate in a directory no Cargo configuration of this repository reaches, run its
//! tests there, build it from the directory above, deploy, invoke, query, change the code and
//! upgrade, against a node the test starts. Also: the errors that name their fix (an SDK that
//! cannot be found, a module over the memory cap).
//!
//! Nested cargo runs share one target directory under `CARGO_TARGET_TMPDIR`, so reruns reuse
//! the compiled dependencies (serde and the SDK's own crates). That directory being inside
//! this repository's `target/` changes nothing a user would see: Cargo finds configuration
//! from the directory it runs in and the crate's manifest, never from the target directory.
//! They run with `CARGO_NET_OFFLINE`: the scaffold's Cargo.lock pins versions this
//! repository's build already fetched, so no network is needed.

use std::io::{BufRead, BufReader, Lines};
use std::path::Path;
use std::process::{ChildStdout, Command, Output, Stdio};

use common::{Node, stop};

mod common;

/// Environment a user's shell would not have: what the outer `cargo test` sets.
const OUTER_ENV: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_PKG_NAME",
    "CARGO_CRATE_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "WEFT_SDK",
    "WEFT_DIR",
];

/// A command as a user runs it in `cwd`: the outer test's cargo variables removed, the shared
/// target directory, offline.
fn user(program: impl AsRef<std::ffi::OsStr>, cwd: &Path) -> Command {
    let mut command = Command::new(program);
    command.current_dir(cwd);
    for name in OUTER_ENV {
        command.env_remove(name);
    }
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("outside-contracts");
    command.env("CARGO_TARGET_DIR", target).env("CARGO_NET_OFFLINE", "true");
    command.env("RUST_LOG", "warn");
    command
}

fn weft(cwd: &Path, net: &Path, args: &[&str]) -> Output {
    user(env!("CARGO_BIN_EXE_weft"), cwd).arg("--dir").arg(net).args(args).output().unwrap()
}

fn json(output: &Output) -> serde_json::Value {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

fn fails(output: &Output, text: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains(text), "{stderr}");
}

/// Builds with `weft contract build` from `cwd`; returns the .wasm path and bytes.
fn build(cwd: &Path, net: &Path, args: &[&str]) -> (String, Vec<u8>) {
    let built = json(&weft(cwd, net, &[&["contract", "build"], args].concat()));
    let wasm = built["wasm"].as_str().unwrap().to_owned();
    let bytes = std::fs::read(&wasm).unwrap();
    assert_eq!(built["bytes"].as_u64(), Some(bytes.len() as u64));
    (wasm, bytes)
}

#[test]
fn author_a_contract_outside_the_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().canonicalize().unwrap();
    // Nothing above the user's directory configures Cargo (so this repository's
    // .cargo/config.toml, with the stack flag, cannot help) or makes it a workspace.
    for dir in home.ancestors() {
        for found in [".cargo/config.toml", ".cargo/config", "Cargo.toml"] {
            assert!(!dir.join(found).exists(), "{} exists", dir.join(found).display());
        }
    }
    let net = home.join("net");
    assert!(weft(&home, &net, &["init", "--listen", "127.0.0.1:0"]).status.success());
    let (node, _stdout_kept_open) = start_node(&home, &net);

    // The SDK must be found; the error says how to point at it.
    fails(&weft(&home, &net, &["contract", "new", "x", "--sdk", "/nowhere"]), "set WEFT_SDK");
    let bad_env = user(env!("CARGO_BIN_EXE_weft"), &home)
        .args(["contract", "new", "x"])
        .env("WEFT_SDK", &home)
        .output()
        .unwrap();
    fails(&bad_env, "pass --sdk PATH or set WEFT_SDK");
    assert!(!home.join("x").exists());

    // Scaffold and test, as the README says: `weft contract new hello && cd hello && cargo test`.
    let created = weft(&home, &net, &["contract", "new", "hello"]);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let crate_dir = home.join("hello");
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    let deps = manifest.split("[dependencies]").nth(1).unwrap().split("\n[").next().unwrap();
    let dep_lines: Vec<&str> =
        deps.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    assert!(dep_lines.len() == 1 && dep_lines[0].starts_with("weft-sdk = { path = "), "{manifest}");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let tested = user(&cargo, &crate_dir).args(["test", "--quiet"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&tested.stdout);
    assert!(tested.status.success(), "{stdout}{}", String::from_utf8_lossy(&tested.stderr));
    assert!(stdout.contains("1 passed"), "{stdout}");
    // The lock written by the scaffold pins what this repository tests with.
    let lock = std::fs::read_to_string(crate_dir.join("Cargo.lock")).unwrap();
    let ours = include_str!("../../../Cargo.lock");
    assert!(lock.contains("name = \"hello\""));
    for package in ["serde", "serde_json", "thiserror"] {
        assert_eq!(locked_version(&lock, package), locked_version(ours, package), "{package}");
    }
    assert!(!lock.contains("name = \"weft-node\""), "unused packages are dropped");

    // Build from the directory above: the .wasm has the SDK's 64 KiB stack, and is the same
    // bytes as a build started inside the crate. `weft contract build` passes the flag
    // itself: without the crate's .cargo/config.toml (a crate made by hand) nothing changes.
    std::fs::remove_file(crate_dir.join(".cargo/config.toml")).unwrap();
    let (wasm, v1) = build(&home, &net, &["--path", "hello"]);
    assert!(wasm.ends_with("wasm32-unknown-unknown/contract/hello.wasm"), "{wasm}");
    assert_eq!(weft_contract_artifacts::shadow_stack_size(&v1), Some(64 * 1024));
    assert_eq!(build(&crate_dir, &net, &[]).1, v1);

    let deployed = json(&weft(&home, &net, &["contract", "deploy", "hello", &wasm]));
    assert_eq!(deployed["code"], "VALID");
    assert_eq!(
        json(&weft(&home, &net, &["invoke", "hello", "Put", "greeting", "hi"]))["code"],
        "VALID"
    );
    assert_eq!(json(&weft(&home, &net, &["query", "hello", "Get", "greeting"]))["payload"], "hi");
    // The payload is printed as the contract returned it: JSON text stays a string.
    let listed = json(&weft(&home, &net, &["query", "hello", "List"]));
    let listed: serde_json::Value =
        serde_json::from_str(listed["payload"].as_str().unwrap()).unwrap();
    assert_eq!(listed, serde_json::json!([{"key": "greeting", "value": "hi"}]));

    // Change the code, rebuild, upgrade: the new transaction runs and the state is kept.
    let source = crate_dir.join("src/lib.rs");
    let code = std::fs::read_to_string(&source).unwrap();
    let added = code.replacen(
        "    /// Every key and its value",
        "    /// How many keys there are.\n    #[transaction]\n    fn count(&self, ctx: &mut Context) -> Result<u64, ContractError> {\n        Ok(self.list(ctx)?.len() as u64)\n    }\n\n    /// Every key and its value",
        1,
    );
    assert_ne!(added, code);
    std::fs::write(&source, added).unwrap();
    let (wasm, v2) = build(&home, &net, &["--path", "hello"]);
    assert_ne!(v2, v1);
    let upgraded =
        json(&weft(&home, &net, &["contract", "upgrade", "hello", &wasm, "--version", "2"]));
    assert_eq!(upgraded["code"], "VALID");
    assert_eq!(json(&weft(&home, &net, &["query", "hello", "Count"]))["payload"], "1");
    assert_eq!(json(&weft(&home, &net, &["query", "hello", "Get", "greeting"]))["payload"], "hi");
    let listed = json(&weft(&home, &net, &["contract", "list"]));
    assert_eq!(listed[0]["version"], "2", "{listed}");

    // A module over the memory cap (what a build without the stack flag gives) is refused
    // with the fix.
    let big = home.join("big.wasm");
    let module = r#"(module (memory (export "memory") 25)
        (func (export "weft_init") (result i32) i32.const 0)
        (func (export "weft_invoke") (result i32) i32.const 0))"#;
    std::fs::write(&big, wat::parse_str(module).unwrap()).unwrap();
    fails(
        &weft(&home, &net, &["contract", "deploy", "big", big.to_str().unwrap()]),
        "build it with `weft contract build`",
    );

    // A crate whose SDK path no longer leads anywhere (a moved clone) is told what to write.
    let moved = manifest.replace("weft-sdk = { path = ", "weft-sdk = { path = \"/moved\" }\n#");
    std::fs::write(crate_dir.join("Cargo.toml"), moved).unwrap();
    fails(
        &weft(&home, &net, &["contract", "build", "--path", "hello"]),
        "write `weft-sdk = { path = ",
    );

    stop(node);
}

/// The version of `package` in a Cargo.lock.
fn locked_version(lock: &str, package: &str) -> Option<String> {
    let header = format!("name = \"{package}\"\nversion = \"");
    let at = lock.find(&header)? + header.len();
    Some(lock[at..].split('"').next()?.to_owned())
}

/// Starts `weft node start` (no samples: only what the test deploys) and waits until it
/// serves; returns the node and the rest of its standard output.
fn start_node(cwd: &Path, net: &Path) -> (Node, Lines<BufReader<ChildStdout>>) {
    let mut node = user(env!("CARGO_BIN_EXE_weft"), cwd)
        .arg("--dir")
        .arg(net)
        .args(["node", "start"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let serving = lines.by_ref().map(Result::unwrap).find(|l| l.starts_with("node serving on"));
    let node = Node(node);
    assert!(serving.is_some(), "the node did not start");
    (node, lines)
}
