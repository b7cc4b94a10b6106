//! Runs the real `weft` binary: init, dev (start + deploy the samples), invoke, query, block
//! verify, events, contract deploy, deploy and upgrade with init, key history, a
//! clear error, a graceful stop on SIGTERM, `weft bench`, and a mutual-TLS network the CLI
//! connects to with its client certificate. `tests/outside.rs` covers `contract new` and
//! `contract build`, as a user outside this repository runs them.

use std::io::{BufRead, BufReader, Lines};
use std::path::Path;
use std::process::{ChildStdout, Command, Output, Stdio};

use common::{Node, stop};

mod common;

fn weft(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weft"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("weft runs")
}

fn json(output: &Output) -> serde_json::Value {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

/// Starts `weft dev` on `dir` and waits until it prints `ready:`; returns the process and the
/// rest of its standard output.
fn start_dev(dir: &Path, stderr: Stdio) -> (Node, Lines<BufReader<ChildStdout>>) {
    let mut dev = Command::new(env!("CARGO_BIN_EXE_weft"))
        .arg("--dir")
        .arg(dir)
        .arg("dev")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(dev.stdout.take().unwrap()).lines();
    let dev = Node(dev);
    let ready = lines.by_ref().map(Result::unwrap).find(|l| l.starts_with("ready:"));
    assert!(ready.is_some(), "weft dev did not get ready");
    (dev, lines)
}

#[test]
fn init_dev_invoke_query_and_stop() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let init = weft(&dir, &["init", "--listen", "127.0.0.1:0"]);
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    assert!(dir.join("node.toml").exists() && dir.join("keys/Org1/admin.key").exists());
    let again = weft(&dir, &["init"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let (dev, _stdout_kept_open) = start_dev(&dir, Stdio::piped());

    let init = json(&weft(&dir, &["invoke", "asset-transfer", "InitLedger"]));
    assert_eq!(init["code"], "VALID");
    // The block by number and hash: a number reused after a `deferred` crash is told apart.
    let block = json(&weft(&dir, &["block", "get", &init["block"].to_string()]));
    assert_eq!(init["block_hash"], block["hash"], "{init} {block}");
    let created = weft(
        &dir,
        &["invoke", "asset-transfer", "CreateAsset", "--json", r#"["a7","red",3,"Ana",150]"#],
    );
    assert_eq!(json(&created)["code"], "VALID");
    let read = json(&weft(&dir, &["query", "asset-transfer", "ReadAsset", "a7"]));
    // The payload as the contract returned it (a JSON document, in a string), or alone.
    let asset: serde_json::Value = serde_json::from_str(read["payload"].as_str().unwrap()).unwrap();
    assert_eq!(
        (&asset["Owner"], &asset["Size"]),
        (&serde_json::json!("Ana"), &serde_json::json!(3))
    );
    let raw = weft(&dir, &["query", "asset-transfer", "ReadAsset", "a7", "--raw"]);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&raw.stdout).unwrap(), asset);
    let listed = json(&weft(&dir, &["contract", "list"]));
    assert_eq!(listed.as_array().unwrap().len(), 5);
    assert_eq!(listed[1]["name"], "asset-transfer");
    assert!(dir.join("keys/Org2/client.key").exists());

    // Two organizations: the token sample lets Org1's clients mint, and refuses Org2's.
    let token = |args: &[&str]| weft(&dir, args);
    assert_eq!(
        json(&token(&["invoke", "token", "Initialize", "Weft", "WFT", "2"]))["code"],
        "VALID"
    );
    let refused = token(&["--as", "org2:client", "invoke", "token", "Mint", "5"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("contract token refused with status 403: Org2::client is not allowed"),
        "{stderr}"
    );
    let printed: serde_json::Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!((printed["status"].as_i64(), printed["payload"].as_str()), (Some(403), Some("")));
    let minted = json(&token(&["invoke", "token", "Mint", "10"]));
    assert_eq!((minted["code"].as_str(), minted["payload"].as_str()), (Some("VALID"), Some("10")));
    let described = json(&token(&["contract", "describe", "token"]));
    let mint = described["functions"].as_array().unwrap().iter().find(|f| f["name"] == "Mint");
    assert_eq!(mint.unwrap()["args"], serde_json::json!([{ "name": "amount", "type": "u64" }]));
    let who = json(&token(&["--as", "org2:client", "query", "token", "ClientAccountID"]));
    assert_eq!(who["payload"], "Org2::client");
    // A string stays a string, even one that reads as a number.
    let supply = json(&token(&["query", "token", "TotalSupply"]));
    assert_eq!(supply["payload"], serde_json::json!("10"));

    let unknown = token(&["--as", "acme:client", "query", "token", "Name"]);
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(!unknown.status.success() && stderr.contains("ORG one of Org1, Org2"), "{stderr}");
    // An organization of the OrgN form that this directory holds no key of.
    let absent = token(&["--as", "org3:client", "query", "token", "Name"]);
    let stderr = String::from_utf8_lossy(&absent.stderr);
    assert!(!absent.status.success() && stderr.contains("no key of Org3's client"), "{stderr}");
    let verified = json(&weft(&dir, &["block", "verify"]));
    assert_eq!(verified["verified"], true);
    let tx = json(&weft(&dir, &["tx", "get", init["tx_id"].as_str().unwrap()]));
    assert_eq!((tx["code"].as_str(), tx["function"].as_str()), (Some("VALID"), Some("InitLedger")));

    // Deploy a contract from a file, invoke it, follow its events.
    let wasm = tmp.path().join("pinger.wasm");
    std::fs::write(&wasm, wat::parse_str(weft_contract_artifacts::PINGER_WAT).unwrap()).unwrap();
    let deployed =
        weft(&dir, &["contract", "deploy", "pinger", wasm.to_str().unwrap(), "--version", "1"]);
    assert_eq!(json(&deployed)["code"], "VALID");
    let ping = json(&weft(&dir, &["invoke", "pinger", "Ping"]));
    assert_eq!((ping["status"].as_i64(), ping["payload"].as_str()), (Some(200), Some("hi")));
    assert!(ping["block_hash"].as_str().is_some_and(|h| h.len() == 64), "{ping}");
    let mut follow = Command::new(env!("CARGO_BIN_EXE_weft"))
        .arg("--dir")
        .arg(&dir)
        .args(["events", "pinger", "--from-block", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut events = BufReader::new(follow.stdout.take().unwrap()).lines();
    let first: serde_json::Value = serde_json::from_str(&events.next().unwrap().unwrap()).unwrap();
    assert_eq!(
        (first["name"].as_str(), first["tx_id"].as_str()),
        (Some("Ping"), ping["tx_id"].as_str())
    );
    follow.kill().unwrap();
    follow.wait().unwrap();

    let unknown = weft(&dir, &["query", "nope", "Anything"]);
    assert!(!unknown.status.success());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        stderr.contains("contract \"nope\" is not defined") && stderr.contains("NotFound"),
        "{stderr}"
    );

    // Policies in Fabric's syntax; only peers endorse, so an admin principal is refused.
    let hello_wasm = weft_contract_artifacts::KV;
    let admin_only =
        weft(&dir, &["contract", "deploy", "hello2", hello_wasm, "--policy", "Org1.admin"]);
    let stderr = String::from_utf8_lossy(&admin_only.stderr);
    assert!(!admin_only.status.success() && stderr.contains("only peers endorse"), "{stderr}");
    let deployed =
        weft(&dir, &["contract", "deploy", "hello2", hello_wasm, "--policy", "OR('Org1.peer')"]);
    assert_eq!(json(&deployed)["code"], "VALID");
    let listed = json(&weft(&dir, &["contract", "list"]));
    let hello2 = listed.as_array().unwrap().iter().find(|c| c["name"] == "hello2").unwrap();
    assert_eq!(hello2["policy"], "OutOf(1, 'Org1.peer')");

    stop(dev);
    assert!(!dir.join("endpoint").exists());
}

#[test]
fn bench_reports_valid_commits_as_json() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    // Before any node runs: a clear error.
    let init = weft(&dir, &["init", "--listen", "127.0.0.1:0"]);
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    std::fs::write(dir.join("endpoint"), "http://127.0.0.1:1").unwrap();
    let refused = weft(&dir, &["bench", "--duration", "0.1"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("no node is running at http://127.0.0.1:1"), "{stderr}");
    std::fs::remove_file(dir.join("endpoint")).unwrap();

    let (dev, _stdout_kept_open) = start_dev(&dir, Stdio::null());
    let pid: u32 = std::fs::read_to_string(dir.join("pid")).unwrap().trim().parse().unwrap();
    assert_eq!(pid, dev.0.id());

    let report = json(&weft(&dir, &["bench", "--duration", "1", "--clients", "2", "--json"]));
    let phases = report["phases"].as_array().unwrap();
    let names: Vec<(&str, u64)> = phases
        .iter()
        .map(|p| (p["phase"].as_str().unwrap(), p["clients"].as_u64().unwrap()))
        .collect();
    let expected = [("evaluate", 1), ("evaluate", 2), ("endorse", 1), ("submit", 2), ("stream", 2)];
    assert_eq!(names, expected);
    for phase in phases {
        let count = phase["count"].as_u64().unwrap();
        assert!(count > 0, "{phase}");
        assert!(phase["throughput_per_s"].as_f64().unwrap() > 0.0, "{phase}");
        let (p50, p99) = (phase["p50_ms"].as_f64().unwrap(), phase["p99_ms"].as_f64().unwrap());
        assert!(0.0 < p50 && p50 <= p99, "{phase}");
        assert_eq!((phase["non_valid"].as_u64(), phase["errors"].as_u64()), (Some(0), Some(0)));
        assert!(phase["node_cpu_us_per_tx"].as_f64().is_some(), "{phase}");
    }
    for submit in &phases[3..] {
        assert_eq!(submit["codes"]["VALID"].as_u64(), submit["count"].as_u64(), "{submit}");
    }
    assert_eq!(report["node"]["pid"].as_u64(), Some(u64::from(pid)));
    assert!(report["node"]["rss_kib"].as_u64().unwrap() > 1024);

    // The same load over one channel, then spread over two (bench-2 created and joined).
    let args = ["bench", "--phase", "submit", "--txs", "20", "--clients", "2", "--json"];
    let report = json(&weft(&dir, &[&args[..], &["--channels", "1,2"]].concat()));
    let phases = report["phases"].as_array().unwrap();
    let runs: Vec<_> =
        phases.iter().map(|p| (p["channels"].as_u64(), p["count"].as_u64())).collect();
    assert_eq!(runs, [(Some(1), Some(20)), (Some(2), Some(20))], "{report}");
    assert!(phases.iter().all(|p| p["codes"]["VALID"].as_u64() == Some(20)), "{report}");
    let channels = json(&weft(&dir, &["channel", "list"]));
    assert_eq!(channels[0]["channel"], "bench-2", "{channels}");
    // Its definition, a block of setup per client, and some of the 20 submits.
    assert!(channels[0]["height"].as_u64().unwrap() > 3, "{channels}");

    stop(dev);
    assert!(!dir.join("pid").exists());
}

#[test]
fn deploy_with_init_upgrade_and_key_history() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let init = weft(&dir, &["init", "--listen", "127.0.0.1:0"]);
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    let (dev, _stdout_kept_open) = start_dev(&dir, Stdio::null());
    let fails = |args: &[&str], text: &str| {
        let out = weft(&dir, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(text), "{args:?}: {stderr}");
    };

    // `weft dev` deployed abstore with its init (A 100 B 200).
    let listed = json(&weft(&dir, &["contract", "list"]));
    let abstore = listed.as_array().unwrap().iter().find(|c| c["name"] == "abstore").unwrap();
    assert_eq!(abstore["init_required"], true);
    assert_eq!(json(&weft(&dir, &["query", "abstore", "query", "A"]))["payload"], "100");
    fails(&["invoke", "--init", "abstore", "init", "A", "1", "B", "1"], "already initialized");
    let moved = json(&weft(&dir, &["invoke", "abstore", "invoke", "A", "B", "10"]));
    assert_eq!(moved["code"], "VALID");

    // Key history: oldest first, values as text; --hex names the same key.
    let history = json(&weft(&dir, &["history", "abstore", "A"]));
    let values: Vec<&str> =
        history.as_array().unwrap().iter().map(|m| m["value"].as_str().unwrap()).collect();
    assert_eq!(values, ["100", "90"]);
    assert_eq!(history[1]["tx_id"], moved["tx_id"]);
    assert_eq!(history[1]["block"], moved["block"]);
    assert_eq!((history[1]["tx"].as_u64(), &history[1]["is_delete"]), (Some(0), &false.into()));
    assert!(history[1]["timestamp"].as_str().unwrap().ends_with('Z'), "{history}");
    assert_eq!(json(&weft(&dir, &["history", "abstore", "41", "--hex"])), history);
    assert_eq!(json(&weft(&dir, &["history", "abstore", "nobody"])), serde_json::json!([]));
    fails(&["history", "abstore", "4x", "--hex"], "is not hex");
    let tx = json(&weft(&dir, &["tx", "get", history[0]["tx_id"].as_str().unwrap()]));
    assert_eq!((tx["function"].as_str(), &tx["is_init"]), (Some("init"), &true.into()));

    // Deploy refuses a defined name; upgrade refuses an undefined one and the same version.
    let wasm = weft_contract_artifacts::ABSTORE;
    fails(&["contract", "deploy", "abstore", wasm], "weft contract upgrade");
    fails(&["contract", "upgrade", "nope", wasm, "--version", "2"], "deploy it first");
    fails(&["contract", "upgrade", "abstore", wasm, "--version", "1"], "new version");
    fails(
        &["contract", "deploy", "ab2", wasm, "--init", "init", "A", "--init-json", "[]"],
        "not both",
    );

    // Upgrade with a new init, its arguments as JSON.
    let upgraded = json(&weft(
        &dir,
        &[
            "contract",
            "upgrade",
            "abstore",
            wasm,
            "--version",
            "2",
            "--init",
            "init",
            "--init-json",
            r#"["A", 5, "B", 6]"#,
        ],
    ));
    assert_eq!((&upgraded["code"], &upgraded["init"]["code"]), (&"VALID".into(), &"VALID".into()));
    assert_eq!(json(&weft(&dir, &["query", "abstore", "query", "A"]))["payload"], "5");
    // The init marker's history: one init per version.
    let marker =
        json(&weft(&dir, &["history", "abstore", "00f48fbfbf696e697469616c697a6564", "--hex"]));
    let inits: Vec<&str> =
        marker.as_array().unwrap().iter().map(|m| m["value"].as_str().unwrap()).collect();
    assert_eq!(inits, ["1", "2"]);

    // A deploy whose init fails: the definition stands, the error names the init step,
    // transactions wait for an init sent later with `invoke --init`.
    fails(
        &["contract", "deploy", "ab2", wasm, "--init", "init", "A", "-5", "B", "1"],
        "initializing ab2 version 1 (init)",
    );
    fails(&["invoke", "ab2", "invoke", "A", "B", "1"], "must call as init first");
    let later = json(&weft(&dir, &["invoke", "--init", "ab2", "init", "A", "3", "B", "4"]));
    assert_eq!(later["code"], "VALID");
    assert_eq!(json(&weft(&dir, &["invoke", "ab2", "invoke", "A", "B", "1"]))["code"], "VALID");
    assert_eq!(json(&weft(&dir, &["query", "ab2", "query", "B"]))["payload"], "5");

    stop(dev);
}

#[test]
fn mutual_tls_network_uses_its_client_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let init = weft(&dir, &["init", "--mtls", "--listen", "127.0.0.1:0"]);
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    let config = std::fs::read_to_string(dir.join("node.toml")).unwrap();
    assert!(config.contains("client_ca = \"tls/ca.pem\""), "{config}");
    assert!(dir.join("tls/client.pem").exists() && dir.join("tls/client.key").exists());

    let mut node = Command::new(env!("CARGO_BIN_EXE_weft"))
        .arg("--dir")
        .arg(&dir)
        .args(["node", "start"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let node = Node(node);
    let serving = lines.by_ref().map(Result::unwrap).find(|l| l.starts_with("node serving on"));
    assert!(serving.unwrap().contains("https://"));

    // The CLI presents DIR/tls/client.pem on its own.
    assert_eq!(json(&weft(&dir, &["contract", "list"])), serde_json::json!([]));
    assert_eq!(json(&weft(&dir, &["block", "verify"]))["verified"], true);

    // Without it, the node refuses the connection and the error says what happened.
    std::fs::rename(dir.join("tls/client.pem"), tmp.path().join("client.pem")).unwrap();
    let refused = weft(&dir, &["contract", "list"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    // An exit, not a death by signal: writing to the connection the node closed once
    // raised SIGPIPE, which ended the CLI without a word.
    assert_eq!(refused.status.code(), Some(1), "{:?}: {stderr}", refused.status);
    assert!(
        stderr.contains("closed the TLS connection (without a client certificate)"),
        "{stderr}"
    );

    stop(node);
}

#[test]
fn changing_key_history_needs_a_rebuild_that_keeps_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    assert!(weft(&dir, &["init", "--listen", "127.0.0.1:0"]).status.success());
    let (dev, _stdout_kept_open) = start_dev(&dir, Stdio::null());
    let put = json(&weft(&dir, &["invoke", "kv", "Put", "greeting", "hello"]));
    assert_eq!(put["code"], "VALID");
    stop(dev);

    // Key history off: the state was built with it, so the node refuses to start and says
    // what to do; nothing was changed.
    let config = dir.join("node.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("history = true"), "{text}");
    std::fs::write(&config, text.replace("history = true", "history = false")).unwrap();
    let refused = weft(&dir, &["node", "start"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("history index on"), "{stderr}");
    assert!(stderr.contains("run `weft node rebuild-state`"), "{stderr}");

    let rebuilt = weft(&dir, &["node", "rebuild-state"]);
    assert!(rebuilt.status.success(), "{}", String::from_utf8_lossy(&rebuilt.stderr));
    // The replay keeps the state; the history is gone, and asking for it says why.
    let (dev, _stdout_kept_open) = start_dev(&dir, Stdio::null());
    assert_eq!(json(&weft(&dir, &["query", "kv", "Get", "greeting"]))["payload"], "hello");
    let history = weft(&dir, &["history", "kv", "greeting"]);
    let stderr = String::from_utf8_lossy(&history.stderr);
    assert!(!history.status.success() && stderr.contains("[ledger] history = false"), "{stderr}");
    assert_eq!(json(&weft(&dir, &["block", "verify"]))["verified"], true);
    stop(dev);
}

/// Starts `weft node start` on `dir` and waits until it serves.
fn start_node(dir: &Path) -> (Node, Lines<BufReader<ChildStdout>>) {
    let mut node = Command::new(env!("CARGO_BIN_EXE_weft"))
        .arg("--dir")
        .arg(dir)
        .args(["node", "start"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let node = Node(node);
    let serving = lines.by_ref().map(Result::unwrap).find(|l| l.starts_with("node serving on"));
    assert!(serving.is_some(), "weft node start did not serve");
    (node, lines)
}

#[test]
fn bad_names_hostile_modules_and_control_characters_through_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    assert!(weft(&dir, &["init", "--listen", "127.0.0.1:0"]).status.success());
    let (node, _stdout_kept_open) = start_node(&dir);
    let file = |name: &str, wasm: Vec<u8>| {
        let path = tmp.path().join(name);
        std::fs::write(&path, wasm).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let refused = |args: &[&str]| {
        let out = weft(&dir, args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8(out.stderr).expect("the CLI prints UTF-8");
        assert!(!stderr.contains(['\u{1b}', '\u{202e}', '\r']), "raw control text: {stderr:?}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr:?}");
        stderr
    };
    let pinger = file("pinger.wasm", wat::parse_str(weft_contract_artifacts::PINGER_WAT).unwrap());
    let contracts = dir.join("data").join("contracts");
    let stored = || std::fs::read_dir(&contracts).map_or(0, |d| d.count());

    // Names and versions: the rule is stated, the bad text shown escaped, nothing installed.
    for name in ["a/b", "../x", "a\nb", "\u{1b}[2Jx", "a\u{202e}b"] {
        let stderr = refused(&["contract", "deploy", name, &pinger]);
        assert!(stderr.contains("bad contract name") && stderr.contains("Fabric's"), "{stderr}");
    }
    let stderr = refused(&["contract", "deploy", "ok", &pinger, "--version", "1\n\u{1b}[31m"]);
    assert!(stderr.contains("bad version \"1\\n\\u{1b}[31m\" of contract ok"), "{stderr}");
    assert_eq!(stored(), 0, "a refused deploy installs nothing");

    // A 100 KB export name: a short error quoting the name cut, not "h2 protocol error".
    let long = "n".repeat(100_000);
    let huge = file(
        "huge.wasm",
        wat::parse_str(format!(
            r#"(module (memory (export "memory") 1) (func (export "{long}"))
                (func (export "weft_init") (result i32) i32.const 0)
                (func (export "weft_invoke") (result i32) i32.const 0))"#
        ))
        .unwrap(),
    );
    let stderr = refused(&["contract", "deploy", "huge", &huge]);
    assert!(
        stderr.contains("may not be exported") && stderr.contains("(100000 bytes)"),
        "{stderr}"
    );
    assert!(stderr.len() < 400, "{} bytes", stderr.len());

    // Thousands of br_if into deeply nested blocks: refused by the static compile-cost bound.
    let flood = weft_contract_artifacts::branch_flood_wat(16, 200, 3_000, 0);
    let flood = file("flood.wasm", wat::parse_str(flood).unwrap());
    let stderr = refused(&["contract", "deploy", "flood", &flood]);
    assert!(stderr.contains("compile cost"), "{stderr}");
    assert_eq!(stored(), 0, "nothing installed");

    // Contract text with control characters: escaped in JSON output and in errors.
    let shout =
        file("shout.wasm", wat::parse_str(weft_contract_artifacts::CONTROL_TEXT_WAT).unwrap());
    assert_eq!(json(&weft(&dir, &["contract", "deploy", "shout", &shout]))["code"], "VALID");
    assert_eq!(stored(), 2);
    let out = weft(&dir, &["query", "shout", "Say"]);
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(!stdout.contains(['\u{1b}', '\u{202e}']), "{stdout:?}");
    assert_eq!(json(&out)["message"], weft_contract_artifacts::CONTROL_TEXT_ESCAPED);
    let stderr = refused(&["query", "shout", "Abort"]);
    assert!(stderr.contains(weft_contract_artifacts::CONTROL_ABORT_ESCAPED), "{stderr}");
    let stderr = refused(&["invoke", "shout", "Error"]);
    assert!(stderr.contains(weft_contract_artifacts::CONTROL_TEXT_ESCAPED), "{stderr}");
    stop(node);
}

#[test]
fn channels_are_created_joined_listed_and_addressed_with_dash_dash_channel() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    assert!(weft(&dir, &["init", "--listen", "127.0.0.1:0"]).status.success());
    let (dev, _stdout) = start_dev(&dir, Stdio::null());
    let failure = |output: Output| {
        assert!(!output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };

    let created = weft(&dir, &["channel", "create", "sales"]);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    assert!(dir.join("channels/sales.pb").is_file());
    let stderr = failure(weft(&dir, &["channel", "create", "Sales"]));
    assert!(stderr.contains("bad channel name \"Sales\""), "{stderr}");
    // --peer lists where an organization's peers are, in the genesis.
    let peer = "Org2=peer0.org2.example:7051";
    let listed = weft(&dir, &["channel", "create", "shared", "--peer", peer]);
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let genesis = std::fs::read(dir.join("channels/shared.pb")).unwrap();
    assert!(genesis.windows(23).any(|w| w == b"peer0.org2.example:7051"));
    let stderr = failure(weft(&dir, &["channel", "create", "bad", "--peer", "Org2=peer0"]));
    assert!(stderr.contains("peer address \"peer0\": no port"), "{stderr}");
    let stderr = failure(weft(&dir, &["channel", "create", "bad", "--peer", "Org2"]));
    assert!(stderr.contains("ORG=HOST:PORT"), "{stderr}");
    let stderr = failure(weft(&dir, &["channel", "create", "bad", "--peer", "Org9=a:1"]));
    assert!(stderr.contains("no organization \"Org9\""), "{stderr}");
    assert!(!dir.join("channels/bad.pb").exists());
    let stderr = failure(weft(&dir, &["channel", "join", "nope"]));
    assert!(stderr.contains("weft channel create nope"), "{stderr}");
    let stderr = failure(weft(&dir, &["--as", "client", "channel", "join", "sales"]));
    assert!(stderr.contains("needs an admin") && stderr.contains("PermissionDenied"), "{stderr}");
    let joined = json(&weft(&dir, &["channel", "join", "sales"]));
    assert_eq!(joined, serde_json::json!({ "channel": "sales", "height": 0 }));
    let stderr = failure(weft(&dir, &["channel", "join", "sales"]));
    assert!(stderr.contains("already joined channel \"sales\""), "{stderr}");

    // The sample name asset-transfer, deployed on sales from other code (the pinger).
    let wasm = tmp.path().join("pinger.wasm");
    std::fs::write(&wasm, wat::parse_str(weft_contract_artifacts::PINGER_WAT).unwrap()).unwrap();
    let on_sales = |args: &[&str]| weft(&dir, &[&["--channel", "sales"], args].concat());
    let deployed = on_sales(&["contract", "deploy", "asset-transfer", wasm.to_str().unwrap()]);
    assert_eq!(json(&deployed)["code"], "VALID");
    let ping = json(&on_sales(&["invoke", "asset-transfer", "InitLedger"]));
    assert_eq!((ping["code"].as_str(), ping["payload"].as_str()), (Some("VALID"), Some("hi")));
    let init = json(&weft(&dir, &["--channel", "dev", "invoke", "asset-transfer", "InitLedger"]));
    assert_eq!((init["code"].as_str(), init["payload"].as_str()), (Some("VALID"), Some("")));
    // Two channels: a command must name one.
    let stderr = failure(weft(&dir, &["query", "asset-transfer", "GetAllAssets"]));
    assert!(
        stderr.contains("names no channel") && stderr.contains("\"dev\", \"sales\""),
        "{stderr}"
    );
    let stderr = failure(weft(&dir, &["--channel", "nope", "contract", "list"]));
    assert!(stderr.contains("has not joined channel \"nope\""), "{stderr}");

    let listed = json(&on_sales(&["contract", "list"]));
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(
        json(&weft(&dir, &["--channel", "dev", "contract", "list"])).as_array().unwrap().len(),
        5
    );
    let tx_id = init["tx_id"].as_str().unwrap();
    assert_eq!(json(&weft(&dir, &["--channel", "dev", "tx", "get", tx_id]))["code"], "VALID");
    let stderr = failure(on_sales(&["tx", "get", tx_id]));
    assert!(stderr.contains("no committed transaction"), "{stderr}");
    let history = json(&on_sales(&["history", "asset-transfer", "asset1"]));
    assert_eq!(history, serde_json::json!([]));
    let verified = json(&on_sales(&["block", "verify"]));
    assert_eq!(verified["height"], 2);
    let block = json(&on_sales(&["block", "get", &ping["block"].to_string()]));
    assert_eq!(block["hash"], ping["block_hash"]);
    let channels = json(&weft(&dir, &["channel", "list"]));
    assert_eq!(channels[1], serde_json::json!({ "channel": "sales", "height": 2 }));

    // `weft dev` again: both channels reopen, the samples stay on the first.
    stop(dev);
    let (dev, _stdout) = start_dev(&dir, Stdio::null());
    let channels = json(&weft(&dir, &["channel", "list"]));
    assert_eq!(channels.as_array().unwrap().len(), 2, "{channels}");
    assert_eq!(channels[1]["height"], 2);
    let read =
        json(&weft(&dir, &["--channel", "dev", "query", "asset-transfer", "ReadAsset", "asset1"]));
    assert_eq!(read["status"], 200);
    stop(dev);
}
