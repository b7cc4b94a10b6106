//! Compile time against the static compile-cost measure (`weft_runtime::compile_cost`): for
//! the sample contracts and for the costliest hostile shapes the deploy-time caps admit (each
//! filled to just under the module's unit cap, with its bodies at the per-body edge cap),
//! reports the units, the median time to validate and compile (a fresh deploy each run) and
//! the ratio to the slowest sample. Then it shows what the caps refuse: the flood that took
//! seconds before the measure existed is refused before compiling.
//!
//! Run with: `cargo bench -p weft-runtime --bench compile_cost` (add `-- 3` for fewer runs).

use std::time::{Duration, Instant};

use weft_contract_artifacts::{ALL, Kind, branch_flood_wat};
use weft_runtime::{RuntimeConfig, Simulator, ValidationLimits, validate};

/// A module of `functions` copies of `body` (a function `(param i32) (result i32)` whose
/// operators are `body`), plus the two entry points.
fn module(functions: usize, body: &str) -> Vec<u8> {
    let f = format!("(func (param i32) (result i32) {body} i32.const 0)\n");
    wat::parse_str(format!(
        r#"(module (type $t (func (param i32) (result i32))) (table 1 funcref) {}
            (memory (export "memory") 1)
            (func (export "weft_init") (result i32) i32.const 0)
            (func (export "weft_invoke") (result i32) i32.const 0))"#,
        f.repeat(functions)
    ))
    .unwrap()
}

/// The most copies of a body that stay within the caps.
fn fill(limits: &ValidationLimits, make: impl Fn(usize) -> Vec<u8>) -> Vec<u8> {
    let mut n = 1;
    while validate(&make(n + 1), limits).is_ok() {
        n += 1;
    }
    make(n)
}

/// Median wall time of a fresh validate + compile + store of `wasm`.
fn compile_time(wasm: &[u8], runs: usize) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let dir = tempfile::tempdir().unwrap();
            let sim = Simulator::open(dir.path(), RuntimeConfig::default()).unwrap();
            let started = Instant::now();
            sim.deploy(wasm).unwrap();
            started.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let runs: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(5);
    let limits = ValidationLimits::default();
    let mut cases: Vec<(String, Vec<u8>)> = ALL
        .iter()
        .filter(|c| c.kind == Kind::Sample)
        .map(|c| (c.package.to_string(), std::fs::read(c.path).unwrap()))
        .collect();
    let samples = cases.len();
    let edges = limits.max_function_branch_edges as usize;
    cases.push((
        format!("br_if flood ({edges} edges a body, 40 deep)"),
        fill(&limits, |n| wat::parse_str(branch_flood_wat(n, 40, edges, 0)).unwrap()),
    ));
    cases.push((
        format!("loop flood ({} loops a body)", edges / 3),
        fill(&limits, |n| module(n, &"(loop local.get 0 br_if 0)".repeat(edges / 3))),
    ));
    cases.push((
        format!("call_indirect flood ({} a body)", edges / 2),
        fill(&limits, |n| {
            let call = "(drop (call_indirect (type $t) (local.get 0) (local.get 0)))";
            module(n, &call.repeat(edges / 2))
        }),
    ));
    cases.push((
        "arithmetic flood (no branches)".into(),
        fill(&limits, |n| {
            module(
                n,
                &"(drop (i64.div_s (i64.extend_i32_u (local.get 0)) (i64.const 7)))".repeat(900),
            )
        }),
    ));

    println!("{:<44} {:>8} {:>9} {:>10} {:>7}", "module", "KiB", "units", "compile", "ratio");
    let mut slowest_sample = Duration::ZERO;
    for (i, (name, wasm)) in cases.iter().enumerate() {
        let shape = validate(wasm, &limits).unwrap();
        let time = compile_time(wasm, runs);
        if i < samples {
            slowest_sample = slowest_sample.max(time);
        }
        println!(
            "{name:<44} {:>8} {:>9} {:>8.1}ms {:>6.2}x",
            wasm.len() / 1024,
            shape.compile_units,
            time.as_secs_f64() * 1e3,
            time.as_secs_f64() / slowest_sample.as_secs_f64()
        );
    }

    // What the measure refuses, before compiling: 16 bodies of 3,000 br_if into blocks 200
    // deep (within every other cap).
    let flood = wat::parse_str(branch_flood_wat(16, 200, 3_000, 0)).unwrap();
    let started = Instant::now();
    let refused = validate(&flood, &limits).unwrap_err();
    println!(
        "refused in {:.1}ms ({} KiB): {refused}",
        started.elapsed().as_secs_f64() * 1e3,
        flood.len() / 1024
    );
    let lifted = ValidationLimits {
        max_nesting_depth: u32::MAX,
        max_function_branch_edges: u64::MAX,
        max_compile_units: u64::MAX,
        ..limits
    };
    validate(&flood, &lifted).expect("within every other cap");
    let mut config = RuntimeConfig { limits: lifted, ..RuntimeConfig::default() };
    config.compile_budget = Duration::from_secs(600);
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::open(dir.path(), config).unwrap();
    let started = Instant::now();
    sim.deploy(&flood).unwrap();
    println!(
        "the same flood, compile-cost caps lifted: compiles in {:.1}ms",
        started.elapsed().as_secs_f64() * 1e3
    );
}
