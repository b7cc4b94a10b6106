//! Crash injection: a child process (this test binary, re-run with an environment variable)
//! commits blocks in a loop and reports each acknowledged block; the parent kills it with
//! SIGKILL at random moments, reopens the ledger and checks that no acknowledged block was
//! lost, that the chain verifies, and that the state hash equals a clean replay of the same
//! blocks in a fresh ledger (no half block).
//!
//! `WEFT_CRASH_TRIALS=150 cargo test -p weft-ledger --release --test crash` runs a longer
//! campaign (default: 6 kills).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use weft_ledger::Ledger;
use weft_protocol::policy;
use weft_protocol::testing::{TestNetwork, TxSpec, Workload};

const CHILD_DIR: &str = "WEFT_CRASH_CHILD_DIR";

fn network() -> TestNetwork {
    TestNetwork::new("ch1", 2, &[("kv", policy::peer("Org1"))])
}

/// The committing process: blocks of 40 random transactions, each simulated against the
/// state it is built on, forever (until killed); with `Ledger::append` or, on odd trials,
/// the pipelined `Ledger::append_all`.
#[test]
#[ignore = "child process of crash_injection"]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else { return };
    let net = network();
    let ledger = Ledger::open(&dir, net.config.clone()).expect("open ledger");
    let pipelined = std::env::var("WEFT_CRASH_PIPELINED").is_ok();
    let mut out = std::io::stdout();
    let mut ack = move |number: u64| {
        writeln!(out, "committed {number}").unwrap();
        out.flush().unwrap();
    };
    let info = ledger.chain_info();
    let (mut height, mut previous_hash) = (info.height, info.current_hash);
    let ledger = &ledger;
    let next = std::iter::from_fn(move || {
        let mut workload = Workload::new(height, "kv", 200);
        let envelopes = {
            let snap = ledger.snapshot();
            let state = snap.namespace("kv");
            (0..40)
                .map(|i| {
                    let rwset = workload.simulate(&state);
                    let spec = TxSpec::new(
                        &net.org(0).client,
                        "kv",
                        format!("b{height}-t{i}"),
                        rwset,
                        vec![&net.org(0).peer],
                    );
                    net.envelope(spec).1
                })
                .collect()
        };
        let block = weft_protocol::block::new_block(height, previous_hash.clone(), envelopes);
        previous_hash = weft_protocol::block::block_hash(&block).to_vec();
        height += 1;
        Some(block)
    });
    if pipelined {
        ledger.append_all(next, |c| ack(c.number)).expect("commit");
    } else {
        for block in next {
            ack(ledger.append(block).expect("commit").number);
        }
    }
}

#[test]
fn crash_injection() {
    let trials: u64 =
        std::env::var("WEFT_CRASH_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(6);
    let net = network();
    let dir = tempfile::tempdir().unwrap();
    let clean_dir = tempfile::tempdir().unwrap();
    let clean = Ledger::open(clean_dir.path(), net.config.clone()).unwrap();
    let mut acknowledged: Option<u64> = None;
    let mut rng = Workload::new(0xC0FFEE, "rng", 1);
    for trial in 0..trials {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["crash_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, dir.path())
            .env(if trial % 2 == 1 { "WEFT_CRASH_PIPELINED" } else { "WEFT_CRASH_SERIAL" }, "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| l.strip_prefix("committed ").and_then(|n| n.parse::<u64>().ok()))
                .max()
        });
        std::thread::sleep(Duration::from_millis(80 + rng.next_u64() % 400));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        if let Some(n) = reader.join().unwrap() {
            acknowledged = acknowledged.max(Some(n));
        }

        let ledger = Ledger::open(dir.path(), net.config.clone()).unwrap();
        let height = ledger.chain_info().height;
        if let Some(n) = acknowledged {
            assert!(height > n, "trial {trial}: block {n} was acknowledged but height is {height}");
        }
        assert_eq!(ledger.verify_chain().unwrap(), height);
        // Clean replay of the blocks the crashed ledger holds.
        for number in clean.chain_info().height..height {
            let mut block = ledger.block(number).unwrap().unwrap();
            let recorded = block.metadata.take().unwrap();
            let replayed = clean.append(block).unwrap();
            assert_eq!(replayed.commit_hash.to_vec(), recorded.commit_hash, "block {number}");
        }
        assert_eq!(ledger.state_hash().unwrap(), clean.state_hash().unwrap(), "trial {trial}");
        assert_eq!(ledger.chain_info(), clean.chain_info());
    }
    let committed = clean.chain_info().height;
    assert!(committed >= trials, "too few blocks committed ({committed}) to mean anything");
    eprintln!(
        "crash injection: {trials} kills, {committed} blocks, last acknowledged {acknowledged:?}"
    );
}
