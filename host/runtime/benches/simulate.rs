//! Simulation, deploy and cache-reload benchmarks through the public `Simulator`.
//!
//! Run with: `cargo bench -p weft-runtime --bench simulate`

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use weft_runtime::{CodeHash, Invocation, RuntimeConfig, SharedState, Simulator};
use weft_rwset::{MemoryState, Version};

/// A minimal hand-written contract doing exactly one get and one put of small values.
const GET_PUT: &str = r#"(module
  (import "weft_v1" "state_get" (func $get (param i32 i32) (result i64)))
  (import "weft_v1" "take_result" (func $take (param i32 i32) (result i32)))
  (import "weft_v1" "state_put" (func $put (param i32 i32 i32 i32) (result i32)))
  (import "weft_v1" "set_response" (func $resp (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "key1value-2")
  (func (export "weft_init") (result i32) i32.const 0)
  (func (export "weft_invoke") (result i32) (local $n i32)
    (local.set $n (i32.wrap_i64 (call $get (i32.const 0) (i32.const 4))))
    (drop (call $take (i32.const 64) (local.get $n)))
    (drop (call $put (i32.const 0) (i32.const 4) (i32.const 4) (i32.const 7)))
    (drop (call $resp (i32.const 200) (i32.const 0) (i32.const 0) (i32.const 64) (local.get $n)))
    i32.const 0))"#;

fn state() -> SharedState {
    let mut s = MemoryState::default();
    s.insert(b"key1", b"value-1", Version { block_num: 1, tx_num: 0 });
    let asset = br#"{"AppraisedValue":300,"Color":"blue","ID":"asset1","Owner":"Tomoko","Size":5}"#;
    s.insert(b"asset1", asset, Version { block_num: 1, tx_num: 1 });
    Arc::new(s)
}

/// Appends a custom section so the same module gets a new code hash (forcing a real compile).
fn variant(wasm: &[u8], n: u64) -> Vec<u8> {
    let mut out = wasm.to_vec();
    out.extend_from_slice(&[0, 10, 1, b'w']);
    out.extend_from_slice(&n.to_le_bytes());
    out
}

/// Runs `iters` simulations on `threads` contract threads at once; returns the wall time.
fn run_on_threads(
    sim: &Simulator,
    code: CodeHash,
    inv: &Invocation,
    iters: u64,
    threads: u64,
) -> Duration {
    let (tx, rx) = mpsc::channel();
    let start_barrier = Arc::new(std::sync::Barrier::new(threads as usize + 1));
    for t in 0..threads {
        let (sim2, inv, tx, barrier) =
            (sim.clone(), inv.clone(), tx.clone(), start_barrier.clone());
        let share = iters / threads + u64::from(t < iters % threads);
        sim.spawn_contract_thread("bench", move || {
            let st = state();
            barrier.wait();
            for _ in 0..share {
                let out = sim2.invoke(&code, &inv, st.clone(), None).unwrap();
                assert!(out.is_ok());
            }
            tx.send(()).unwrap();
        })
        .unwrap();
    }
    start_barrier.wait();
    let started = Instant::now();
    for _ in 0..threads {
        rx.recv().unwrap();
    }
    started.elapsed()
}

fn simulate(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::open(dir.path(), RuntimeConfig::default()).unwrap();
    let get_put = sim.deploy(&wat::parse_str(GET_PUT).unwrap()).unwrap();
    let kv = sim.deploy(&std::fs::read(weft_contract_artifacts::KV).unwrap()).unwrap();
    let basic =
        sim.deploy(&std::fs::read(weft_contract_artifacts::ASSET_TRANSFER).unwrap()).unwrap();
    let cases = [
        ("wat_get_put", get_put, Invocation::new("bench", "run", &[""; 0])),
        ("kv_put", kv, Invocation::new("kv", "Put", &["key1", "value-2"])),
        ("asset_transfer", basic, Invocation::new("basic", "TransferAsset", &["asset1", "Max"])),
    ];
    let mut g = c.benchmark_group("simulate");
    g.measurement_time(Duration::from_secs(4));
    for (name, code, inv) in &cases {
        g.bench_function(format!("{name}/1_thread"), |b| {
            b.iter_custom(|iters| run_on_threads(&sim, *code, inv, iters, 1))
        });
        // Per-simulation time with two threads running at once (half of 1-thread time is
        // perfect scaling across both cores).
        g.bench_function(format!("{name}/2_threads"), |b| {
            b.iter_custom(|iters| run_on_threads(&sim, *code, inv, iters, 2))
        });
    }
    // From an ordinary thread: includes the hand-off to a contract thread and back.
    let (_, code, inv) = &cases[0];
    let st = state();
    g.bench_function("wat_get_put/pool_handoff", |b| {
        b.iter(|| sim.invoke(code, inv, st.clone(), None).unwrap().unwrap())
    });
    g.finish();
}

fn deploy_and_reload(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::open(dir.path(), RuntimeConfig::default()).unwrap();
    let wasm = std::fs::read(weft_contract_artifacts::ASSET_TRANSFER).unwrap();
    let mut g = c.benchmark_group("deploy");
    g.sample_size(10);
    let mut n = 0u64;
    g.bench_function(format!("cold_validate_compile_store_{}KiB", wasm.len() / 1024), |b| {
        b.iter(|| {
            n += 1;
            sim.deploy(&variant(&wasm, n)).unwrap()
        })
    });
    g.finish();

    // Restart: artifacts on disk, nothing loaded. One loaded slot and two contracts, so every
    // load reads and deserializes an artifact.
    let config = RuntimeConfig { loaded_modules: 1, ..RuntimeConfig::default() };
    let cold = Simulator::open(dir.path(), config).unwrap();
    let a = CodeHash::of(&variant(&wasm, 1));
    let b2 = CodeHash::of(&variant(&wasm, 2));
    let mut g = c.benchmark_group("cache");
    g.bench_function("reload_artifact_from_disk", |b| {
        let mut flip = false;
        b.iter(|| {
            flip = !flip;
            cold.load(if flip { &a } else { &b2 }).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, simulate, deploy_and_reload);
criterion_main!(benches);
