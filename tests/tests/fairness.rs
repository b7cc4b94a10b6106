//! Fairness through the real node: while a runaway contract's calls (each burning its whole fuel
//! budget) saturate the node, another contract's queries are still answered, before the
//! runaway calls stop. The test asserts that outcome; it also prints the other contract's
//! query latency (p50/p99) idle and under saturation, the figures `docs/performance.md`
//! records:
//!
//!     cargo test -p weft-e2e --release --test fairness -- --nocapture
//!
//! (`WEFT_FAIRNESS_QUERIES=<n>` sets the queries per phase, default 40.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use weft_client::{Client, Deploy};
use weft_e2e::{TestNet, args};
use weft_protocol::policy;

#[test]
fn another_contract_is_served_while_a_runaway_one_saturates_the_node() {
    let runtime = weft_node::node::async_runtime().unwrap();
    runtime.block_on(runtime.spawn(scenario())).unwrap();
}

/// `n` queries of `basic ReadAsset asset1`, one after the other; their latencies, sorted.
async fn reads(client: &Client, n: usize) -> Vec<Duration> {
    let mut took = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let read = client.evaluate("basic", "ReadAsset", args(&["asset1"])).await.unwrap();
        assert_eq!(read.status, 200);
        took.push(started.elapsed());
    }
    took.sort();
    took
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[at]
}

async fn scenario() {
    let net = TestNet::start(|_| {}).await;
    net.deploy_asset_transfer().await;
    let wasm = std::fs::read(weft_contract_artifacts::MISBEHAVE_LOOP).expect("fixture built");
    net.admin.deploy(Deploy::new("spin", "1", policy::peer("Org1"), wasm)).await.unwrap();
    let n = std::env::var("WEFT_FAIRNESS_QUERIES").ok().and_then(|s| s.parse().ok()).unwrap_or(40);

    reads(&net.client, 5).await; // warm up
    let idle = reads(&net.client, n).await;

    // Runaway callers: more than the node has contract threads and inline slots, each
    // calling `spin` again as soon as its last call ran out of fuel.
    let stop = Arc::new(AtomicBool::new(false));
    let ran_out = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..6)
        .map(|i| {
            let client = if i % 2 == 0 { net.client.clone() } else { net.admin.clone() };
            let (stop, ran_out) = (stop.clone(), ran_out.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let failed = client.evaluate("spin", "Spin", vec![]).await.expect_err("spins");
                    assert!(failed.message().contains("out of fuel"), "{failed:?}");
                    ran_out.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    // Saturated: every caller's first call is in flight or done.
    while ran_out.load(Ordering::SeqCst) < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let busy = reads(&net.client, n).await;
    let spins_during = ran_out.load(Ordering::SeqCst);
    assert!(!stop.load(Ordering::SeqCst));
    stop.store(true, Ordering::SeqCst);
    for caller in callers {
        caller.await.unwrap();
    }
    let spins = ran_out.load(Ordering::SeqCst);
    assert!(spins > spins_during, "the runaway calls were still running while basic was served");
    // The runaway's first calls ran on the async workers, on a leash, and were cut short
    // there (at most one per worker); then `spin` ran only on contract threads. (A short run
    // of `basic` may be cut short too, on a machine this busy, for waiting for a core: those
    // are counted apart.)
    let metrics = net.node.metrics();
    let cut_short = metrics.runs_cut_short() - metrics.runs_cut_short_waiting();
    let workers = tokio::runtime::Handle::current().metrics().num_workers() as u64;
    assert!((1..=workers).contains(&cut_short), "{cut_short} runs cut short, {workers} workers");

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "basic ReadAsset, {n} queries per phase: idle p50 {:.1} ms p99 {:.1} ms; with 6 runaway \
         `spin` callers ({spins} calls out of fuel): p50 {:.1} ms p99 {:.1} ms",
        ms(percentile(&idle, 0.5)),
        ms(percentile(&idle, 0.99)),
        ms(percentile(&busy, 0.5)),
        ms(percentile(&busy, 0.99)),
    );
    net.node.shutdown().await.unwrap();
}
