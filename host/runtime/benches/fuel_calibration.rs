//! Fuel calibration: wall time per fuel unit for each operator class, through the real
//! `Simulator`. The per-operator costs in `engine.rs` are set so the worst class stays within
//! 3x of the best.
//!
//! Run with: `cargo bench -p weft-runtime --bench fuel_calibration`

use std::sync::Arc;
use std::time::{Duration, Instant};

use weft_runtime::{Invocation, RuntimeConfig, Simulator};
use weft_rwset::{MemoryState, Version};

const PRELUDE: &str = r#"
  (import "weft_v1" "set_response" (func $set_response (param i32 i32 i32 i32 i32) (result i32)))
  (import "weft_v1" "state_get" (func $state_get (param i32 i32) (result i64)))
  (import "weft_v1" "take_result" (func $take_result (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (table 4 funcref)
  (elem (i32.const 0) $leaf $leaf $leaf $leaf)
  (type $t (func (param i32) (result i32)))
  (global $g (mut i32) (i32.const 0))
  (func $leaf (param $x i32) (result i32) (i32.add (local.get $x) (i32.const 1)))
  (func (export "weft_init") (result i32) i32.const 0)
"#;

/// (class name, loop body run `iterations` times; `$i` is the counter, `$x`/`$y` scratch).
const CLASSES: &[(&str, &str, u32)] = &[
    ("branch loop (baseline)", "", 20_000_000),
    (
        "i32/i64 arithmetic",
        "(local.set $x (i32.xor (i32.mul (local.get $x) (i32.const 31)) (local.get $i))) (local.set $y (i64.rotl (i64.add (local.get $y) (i64.extend_i32_u (local.get $x))) (i64.const 7)))",
        10_000_000,
    ),
    (
        "integer division",
        "(local.set $y (i64.div_u (i64.const 0x7fffffffffff) (i64.or (local.get $y) (i64.const 3)))) (local.set $x (i32.rem_u (local.get $i) (i32.const 7)))",
        5_000_000,
    ),
    (
        "loads and stores",
        "(i32.store (i32.and (local.get $i) (i32.const 0xfffc)) (i32.add (i32.load (i32.const 64)) (local.get $i)))",
        10_000_000,
    ),
    ("globals", "(global.set $g (i32.add (global.get $g) (local.get $i)))", 10_000_000),
    ("direct call", "(local.set $x (call $leaf (local.get $x)))", 10_000_000),
    (
        "indirect call",
        "(local.set $x (call_indirect (type $t) (local.get $x) (i32.and (local.get $i) (i32.const 3))))",
        10_000_000,
    ),
    (
        "f64 arithmetic",
        "(local.set $f (f64.add (f64.mul (local.get $f) (f64.const 1.0000001)) (f64.const 0.5)))",
        10_000_000,
    ),
    (
        "f64 div/sqrt",
        "(local.set $f (f64.sqrt (f64.div (local.get $f) (f64.const 1.1))))",
        5_000_000,
    ),
    ("memory.fill len 0", "(memory.fill (i32.const 0) (i32.const 0) (i32.const 0))", 5_000_000),
    ("memory.copy len 0", "(memory.copy (i32.const 0) (i32.const 8) (i32.const 0))", 5_000_000),
    ("memory.fill 64 B", "(memory.fill (i32.const 0) (local.get $i) (i32.const 64))", 5_000_000),
    ("memory.fill 64 KiB", "(memory.fill (i32.const 0) (local.get $i) (i32.const 65536))", 20_000),
    (
        "memory.copy 64 KiB",
        "(memory.copy (i32.const 65536) (i32.const 0) (i32.const 65536))",
        20_000,
    ),
    ("memory.size", "(local.set $x (i32.add (local.get $x) (memory.size)))", 10_000_000),
    (
        "memory.grow 0",
        "(local.set $x (i32.add (local.get $x) (memory.grow (i32.const 0))))",
        2_000_000,
    ),
    (
        "memory.grow refused",
        "(local.set $x (i32.add (local.get $x) (memory.grow (i32.const 100000))))",
        1_000_000,
    ),
    ("state_get host call", "(drop (call $state_get (i32.const 0) (i32.const 1)))", 500_000),
];

fn module(body: &str, iterations: u32) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module {PRELUDE}
          (func (export "weft_invoke") (result i32)
            (local $i i32) (local $x i32) (local $y i64) (local $f f64)
            (local.set $f (f64.const 1))
            (loop $l {body}
              (br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const {iterations}))))
            (drop (call $set_response (i32.const 200) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
            i32.const 0))"#
    ))
    .expect("valid calibration module")
}

/// A module growing memory one page at a time, 1000 times, touching each new 4 KiB page.
fn grow_module() -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module {PRELUDE}
          (func (export "weft_invoke") (result i32) (local $i i32) (local $p i32) (local $j i32)
            (loop $l (local.set $p (i32.mul (memory.grow (i32.const 1)) (i32.const 65536)))
              (local.set $j (i32.const 0))
              (loop $t (i32.store8 (i32.add (local.get $p) (local.get $j)) (i32.const 1))
                (br_if $t (i32.ne (local.tee $j (i32.add (local.get $j) (i32.const 4096))) (i32.const 65536))))
              (br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 1000))))
            (drop (call $set_response (i32.const 200) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
            i32.const 0))"#
    ))
    .unwrap()
}

fn measure(sim: &Simulator, wasm: &[u8], state: &Arc<MemoryState>) -> (Duration, u64) {
    let code = sim.deploy(wasm).unwrap();
    let inv = Invocation::new("cal", "run", &[""; 0]);
    let mut best = Duration::MAX;
    let mut fuel = 0;
    for _ in 0..5 {
        let started = Instant::now();
        let done = sim.invoke(&code, &inv, state.clone(), None).unwrap().unwrap();
        best = best.min(started.elapsed());
        fuel = done.fuel_used;
    }
    (best, fuel)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("weft-fuel-cal-{}", std::process::id()));
    let config = RuntimeConfig { fuel_per_invocation: 1 << 40, ..RuntimeConfig::default() };
    let sim = Simulator::open(&dir, config).unwrap();
    let mut state = MemoryState::default();
    state.insert(b"\0", b"value", Version { block_num: 1, tx_num: 0 });
    let state = Arc::new(state);

    let (base_t, base_f) = measure(&sim, &module("", 1), &state);
    println!(
        "{:<24} {:>12} {:>14} {:>10} {:>8}",
        "class", "ns/iter", "fuel/iter", "ns/fuel", "ratio"
    );
    let mut rows = Vec::new();
    let mut cases: Vec<(String, Vec<u8>, u32)> =
        CLASSES.iter().map(|(name, body, n)| (name.to_string(), module(body, *n), *n)).collect();
    cases.push(("memory.grow 1 page+touch".into(), grow_module(), 1000));
    for (name, wasm, n) in &cases {
        let (t, f) = measure(&sim, wasm, &state);
        let t = t.saturating_sub(base_t);
        let f = f.saturating_sub(base_f);
        let ns_per_fuel = t.as_nanos() as f64 / f.max(1) as f64;
        rows.push((
            name.clone(),
            t.as_nanos() as f64 / f64::from(*n),
            f as f64 / f64::from(*n),
            ns_per_fuel,
        ));
    }
    let min = rows.iter().map(|r| r.3).fold(f64::MAX, f64::min);
    for (name, ns_iter, fuel_iter, ns_fuel) in &rows {
        println!(
            "{name:<24} {ns_iter:>12.2} {fuel_iter:>14.1} {ns_fuel:>10.4} {:>8.2}",
            ns_fuel / min
        );
    }
    let max = rows.iter().map(|r| r.3).fold(0.0, f64::max);
    println!("worst/best wall time per fuel unit: {:.2}x", max / min);
    let _ = std::fs::remove_dir_all(&dir);
}
