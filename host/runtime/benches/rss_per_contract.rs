//! Resident memory per deployed, idle contract: deploys 1,000 distinct variants of the `kv`
//! sample, then reopens the directory as a restarted node would, loads all 1,000 from the
//! cache and reports the resident-set growth per contract (and the reload time per contract).
//!
//! Run with: `cargo bench -p weft-runtime --bench rss_per_contract` (add `-- 200` for fewer).

use std::time::Instant;

use weft_runtime::{RuntimeConfig, Simulator};

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

fn variant(wasm: &[u8], n: u64) -> Vec<u8> {
    let mut out = wasm.to_vec();
    out.extend_from_slice(&[0, 10, 1, b'w']);
    out.extend_from_slice(&n.to_le_bytes());
    out
}

fn main() {
    let count: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1000);
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("weft-rss-{}", std::process::id()));
    let wasm = std::fs::read(weft_contract_artifacts::KV).unwrap();
    {
        let sim = Simulator::open(&dir, RuntimeConfig::default()).unwrap();
        let before = rss_bytes();
        let started = Instant::now();
        for n in 0..count {
            sim.deploy(&variant(&wasm, n)).unwrap();
        }
        let per = started.elapsed() / count as u32;
        let grown = rss_bytes().saturating_sub(before);
        println!(
            "deployed {count} contracts ({} B each): {per:?} per deploy, RSS +{:.1} KiB per contract",
            wasm.len(),
            grown as f64 / count as f64 / 1024.0
        );
    }
    let sim = Simulator::open(&dir, RuntimeConfig::default()).unwrap();
    let before = rss_bytes();
    let started = Instant::now();
    let loaded = sim.load_all().unwrap();
    let per = started.elapsed() / loaded as u32;
    let grown = rss_bytes().saturating_sub(before);
    println!(
        "restart: loaded {loaded} contracts from the cache in {per:?} each; RSS +{:.1} KiB per idle contract ({:.1} MiB total)",
        grown as f64 / loaded as f64 / 1024.0,
        grown as f64 / (1 << 20) as f64
    );
    let _ = std::fs::remove_dir_all(&dir);
}
