//! Validate + commit throughput of 500-transaction blocks (1 read, 1 write, 1 endorsement,
//! client-signed, durable: sled flush + fsync before each block is acknowledged), next to
//! raw sled throughput for the same state writes with the same durability.
//!
//! Run with: `cargo bench -p weft-ledger --bench commit` (options: `-- --blocks 40`,
//! `--dir PATH` for the database location, default a temporary directory under the target
//! directory, on the same disk as the workspace; `--no-history` to run without the
//! key-history index).

use std::time::{Duration, Instant};

use anyhow::Context;
use weft_ledger::Ledger;
use weft_ledger::validator::check_envelopes;
use weft_proto::v1::{Block, KvRead, KvWrite, NsReadWriteSet, TxValidationCode, Version};
use weft_protocol::testing::{TestNetwork, TxSpec};
use weft_protocol::{channel::Channel, policy};

const TXS: usize = 500;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn key(i: usize) -> Vec<u8> {
    format!("asset{i:08}").into_bytes()
}

fn value(i: usize, round: usize) -> Vec<u8> {
    format!("{{\"id\":{i},\"owner\":\"owner{round}\",\"value\":{}}}", i * 7 + round).into_bytes()
}

/// CPU time (user + system, all threads) this process has used so far.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses) start at field 3; utime and
    // stime are fields 14 and 15, in clock ticks (100 per second on Linux).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    let ticks = field(14) + field(15);
    Duration::from_millis(ticks * 10)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn main() -> anyhow::Result<()> {
    let blocks: usize = arg("--blocks").map(|b| b.parse()).transpose()?.unwrap_or(40);
    let base = match arg("--dir") {
        Some(d) => std::path::PathBuf::from(d),
        None => std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-tmp"),
    };
    std::fs::create_dir_all(&base)?;
    let dir = tempfile::tempdir_in(&base)?;
    let net = TestNetwork::new("bench", 2, &[("assets", policy::peer("Org1"))]);
    let client = &net.org(0).client;
    let peer = &net.org(0).peer;
    let history = !std::env::args().any(|a| a == "--no-history");
    let options = weft_ledger::LedgerOptions { history, ..Default::default() };
    let ledger = Ledger::open_with(dir.path().join("ledger"), net.config.clone(), options)?;

    // Setup (not measured): block 0..blocks-1 write every key once, blind.
    let keys = 2 * blocks * TXS;
    eprintln!("setup: {} blocks of {TXS} blind writes", 2 * blocks);
    for b in 0..2 * blocks {
        let envelopes = (0..TXS)
            .map(|j| {
                let i = b * TXS + j;
                let rwset = NsReadWriteSet {
                    namespace: "assets".into(),
                    writes: vec![KvWrite { key: key(i), is_delete: false, value: value(i, 0) }],
                    ..Default::default()
                };
                net.envelope(TxSpec::new(client, "assets", format!("setup-{i}"), rwset, vec![peer]))
                    .1
            })
            .collect();
        ledger.append(ledger.next_block(envelopes))?;
    }

    // The measured blocks: each transaction reads one key at its committed version and
    // writes it; signed by the client, endorsed by one peer. Built before timing.
    eprintln!("signing {} transactions", keys);
    let first = ledger.chain_info().height;
    let mut prepared: Vec<Vec<Vec<u8>>> = Vec::with_capacity(2 * blocks);
    for b in 0..2 * blocks {
        prepared.push(
            (0..TXS)
                .map(|j| {
                    let i = b * TXS + j;
                    let version = Version { block_num: (i / TXS) as u64, tx_num: (i % TXS) as u64 };
                    let rwset = NsReadWriteSet {
                        namespace: "assets".into(),
                        reads: vec![KvRead { key: key(i), version: Some(version) }],
                        writes: vec![KvWrite { key: key(i), is_delete: false, value: value(i, 1) }],
                        ..Default::default()
                    };
                    let spec = TxSpec::new(client, "assets", format!("tx-{i}"), rwset, vec![peer]);
                    net.envelope(spec).1
                })
                .collect(),
        );
    }

    // Stateless checks alone (signatures, policy), for the breakdown.
    let channel = Channel::new(net.config.clone())?;
    let mut stateless = Vec::new();
    for envelopes in prepared.iter().take(10) {
        let t = Instant::now();
        let checked =
            check_envelopes(&channel, envelopes, &weft_protocol::VerifiedSignatures::default());
        stateless.push(t.elapsed());
        anyhow::ensure!(checked.iter().all(|c| c.result.is_ok()));
    }
    stateless.sort();

    // Serial: `Ledger::append`, one block at a time (validate, apply, flush + fsync).
    let mut serial = prepared;
    let pipelined = serial.split_off(blocks);
    let mut previous_hash = ledger.chain_info().current_hash;
    let mut serial_latencies = Vec::with_capacity(blocks);
    let started = Instant::now();
    let cpu = cpu_time();
    for (b, envelopes) in serial.into_iter().enumerate() {
        let block = weft_protocol::block::new_block(first + b as u64, previous_hash, envelopes);
        let t = Instant::now();
        let committed = ledger.append(block)?;
        serial_latencies.push(t.elapsed());
        anyhow::ensure!(committed.codes.iter().all(|c| *c == TxValidationCode::Valid));
        previous_hash = committed.hash.to_vec();
    }
    let serial_tps = (blocks * TXS) as f64 / started.elapsed().as_secs_f64();
    let serial_cpu = cpu_time() - cpu;
    serial_latencies.sort();

    // Pipelined: `Ledger::append_all`, the next block validated while the last one syncs.
    let first = first + blocks as u64;
    let mut blocks_in: Vec<Block> = Vec::with_capacity(blocks);
    for (b, envelopes) in pipelined.into_iter().enumerate() {
        let block = weft_protocol::block::new_block(first + b as u64, previous_hash, envelopes);
        previous_hash = weft_protocol::block::block_hash(&block).to_vec();
        blocks_in.push(block);
    }
    let mut phases: Vec<weft_ledger::CommitTimings> = Vec::with_capacity(blocks);
    let mut all_valid = true;
    let started = Instant::now();
    let cpu = cpu_time();
    ledger.append_all(blocks_in, |c| {
        all_valid &= c.codes.iter().all(|c| *c == TxValidationCode::Valid);
        phases.push(c.timings);
    })?;
    let elapsed = started.elapsed();
    let pipelined_cpu = cpu_time() - cpu;
    anyhow::ensure!(all_valid, "every benchmark transaction must be valid");
    anyhow::ensure!(phases.len() == blocks);
    let tps = (blocks * TXS) as f64 / elapsed.as_secs_f64();
    let mut latencies: Vec<Duration> =
        phases.iter().map(|t| t.stateless + t.mvcc + t.write + t.sync).collect();
    latencies.sort();

    // Raw sled: the same state writes (key, 16-byte version + value), one batch per block,
    // flush + fsync per block.
    let raw_path = dir.path().join("raw");
    let db = sled::open(&raw_path)?;
    let tree = db.open_tree("state")?;
    let log = std::fs::File::open(raw_path.join("db")).context("sled log file")?;
    let raw = Instant::now();
    for b in 0..blocks {
        let mut batch = sled::Batch::default();
        for j in 0..TXS {
            let i = b * TXS + j;
            let mut k = b"Sassets\0".to_vec();
            k.extend_from_slice(&key(i));
            let mut v = Vec::new();
            v.extend_from_slice(&((first as usize + b) as u64).to_be_bytes());
            v.extend_from_slice(&(j as u64).to_be_bytes());
            v.extend_from_slice(&value(i, 1));
            batch.insert(k, v);
        }
        tree.apply_batch(batch)?;
        db.flush()?;
        log.sync_all()?;
    }
    let raw_tps = (blocks * TXS) as f64 / raw.elapsed().as_secs_f64();

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let median_of = |f: &dyn Fn(&weft_ledger::CommitTimings) -> Duration| {
        let mut v: Vec<Duration> = phases.iter().map(f).collect();
        v.sort();
        ms(percentile(&v, 0.5))
    };
    println!(
        "ledger validate+commit, {blocks} blocks x {TXS} tx each way, durable (flush + fsync), \
         history index {}",
        if history { "on" } else { "off" }
    );
    println!("  pipelined (append_all)  {tps:>8.0} tx/s");
    println!(
        "    block latency         median {:.2} ms, p99 {:.2} ms (validation start to durable)",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99))
    );
    println!(
        "    phases (median ms)    stateless {:.2}, mvcc {:.2}, write {:.2}, to durable {:.2}",
        median_of(&|t| t.stateless),
        median_of(&|t| t.mvcc),
        median_of(&|t| t.write),
        median_of(&|t| t.sync)
    );
    let per_tx = |cpu: Duration| cpu.as_secs_f64() * 1e6 / (blocks * TXS) as f64;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    println!(
        "    CPU time              {:.1} us per tx (all threads): {:.0} tx/s if {cores} cores were ours",
        per_tx(pipelined_cpu),
        cores * 1e6 / per_tx(pipelined_cpu)
    );
    println!("  serial (append)         {serial_tps:>8.0} tx/s");
    println!("    CPU time              {:.1} us per tx", per_tx(serial_cpu));
    println!(
        "    block latency         median {:.2} ms, p99 {:.2} ms",
        ms(percentile(&serial_latencies, 0.5)),
        ms(percentile(&serial_latencies, 0.99))
    );
    println!(
        "  stateless checks alone  median {:.2} ms per block (signatures, policy; all cores)",
        ms(percentile(&stateless, 0.5))
    );
    println!("raw sled, same state writes, one batch + flush + fsync per block");
    println!("  throughput              {raw_tps:>8.0} tx/s");
    println!("ratio pipelined ledger / raw sled: {:.2}", tps / raw_tps);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average at the end: {}",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    Ok(())
}
