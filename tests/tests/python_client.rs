//! The Python example client (`examples/python/`) against a real node: it evaluates,
//! endorses, submits, waits for the commit status and reads the event, using only the protos
//! and docs/protocol.md; and it recomputes the document's test vectors with Python's libraries.
//!
//! The test makes its own virtual environment under the Cargo target directory (once per
//! `requirements.txt`), so it needs `python3` with `venv` and access to the package index.
//! It fails, saying so, when Python is missing: it never passes without running the client.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use weft_client::Deploy;
use weft_e2e::TestNet;
use weft_proto::v1::{GetBlockRequest, TxValidationCode, get_block_request::By};
use weft_protocol::policy;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the repository").to_path_buf()
}

/// Runs `command`, panicking with its output if it fails; returns its standard output.
fn run(command: &mut Command, what: &str) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: cannot run {command:?}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The virtual environment's python, created and filled from `requirements.txt` if it is
/// missing or was made from another one (once per test process).
fn python_env() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(make_python_env).clone()
}

fn make_python_env() -> PathBuf {
    let python = std::env::var("WEFT_PYTHON").unwrap_or_else(|_| "python3".into());
    let found = Command::new(&python).arg("--version").output();
    assert!(
        found.as_ref().is_ok_and(|o| o.status.success()),
        "the Python example client's test needs {python} (Python 3.9 or later with venv; on \
         Debian: apt-get install python3 python3-venv, as .ci/run does) or WEFT_PYTHON set to \
         a Python 3: {found:?}"
    );
    let requirements = repo().join("examples/python/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).expect("requirements.txt");
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-example-venv");
    let stamp = venv.join("requirements.installed");
    let bin = venv.join("bin/python");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) && bin.exists() {
        return bin;
    }
    let _ = std::fs::remove_dir_all(&venv);
    run(
        Command::new(&python).args(["-m", "venv"]).arg(&venv),
        "creating a virtual environment (on Debian it needs python3-venv)",
    );
    run(
        Command::new(&bin)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(&requirements),
        "installing examples/python/requirements.txt",
    );
    std::fs::write(&stamp, wanted).expect("stamp");
    bin
}

#[test]
fn the_python_client_recomputes_the_documented_vectors() {
    let python = python_env();
    let out = run(
        Command::new(python)
            .arg(repo().join("examples/python/weft_client.py"))
            .arg("vectors")
            .arg(repo().join("docs/protocol.md")),
        "weft_client.py vectors",
    );
    assert!(out.contains("vectors: 15 of 15 match"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_evaluates_endorses_submits_and_reads_events() {
    let python = tokio::task::spawn_blocking(python_env).await.expect("venv");
    let net = TestNet::start(|_| {}).await;
    let wasm = std::fs::read(weft_contract_artifacts::KV).expect("kv built");
    let deployed = net
        .admin
        .deploy(Deploy::new("kv", "1", policy::peer("Org1"), wasm))
        .await
        .expect("deploy kv");
    assert_eq!(deployed.definition.status.code(), TxValidationCode::Valid);

    let mut command = Command::new(python);
    command
        .arg(repo().join("examples/python/weft_client.py"))
        .arg("demo")
        .arg("--endpoint")
        .arg(net.node.local_addr().to_string())
        .arg("--key")
        .arg(net.net.key_path("client"))
        .args(["--contract", "kv", "--key-name", "colour", "--value", "teal"]);
    let out = tokio::task::spawn_blocking(move || run(&mut command, "weft_client.py demo"))
        .await
        .expect("demo");
    println!("{out}");
    let line = |prefix: &str| {
        out.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix:?} in:\n{out}"))
            .to_string()
    };

    assert!(line("channel: ").starts_with("channel: dev height "), "{out}");
    let missing = line("evaluate Get colour-missing-");
    assert!(missing.contains(": ABORTED: ") && missing.contains("not found"), "{out}");
    assert!(line("rwset kv: ").ends_with("write colour = teal"), "{out}");
    assert_eq!(line("pending event "), "pending event Put colour", "{out}");
    assert!(line("endorsed by Org1 ").ends_with("signature verifies"), "{out}");
    let tx_id = line("submit: ").trim_start_matches("submit: ").to_string();
    assert_eq!(tx_id.len(), 64, "{out}");

    // The committed code, block and hash are the ledger's.
    let commit = line("commit: ");
    let words: Vec<&str> = commit.split(' ').collect();
    assert_eq!(words[..3], ["commit:", "VALID", "block"], "{out}");
    let number: u64 = words[3].parse().expect("block number");
    let block = net
        .client
        .ledger
        .clone()
        .get_block(GetBlockRequest { by: Some(By::Number(number)), ..Default::default() })
        .await
        .expect("the block")
        .into_inner();
    let hash = weft_protocol::block::header_hash(&block.header.expect("header"));
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(words[4..], ["hash", hex.as_str()], "{out}");

    assert_eq!(line("event: "), format!("event: block {number} tx {tx_id} Put colour"), "{out}");
    assert_eq!(line("evaluate Get colour:"), "evaluate Get colour: status 200 payload teal");
    // And the Rust client sees the same committed value.
    let value = net.client.evaluate("kv", "Get", vec![b"colour".to_vec()]).await.expect("Get");
    assert_eq!(value.payload, b"teal");
}
