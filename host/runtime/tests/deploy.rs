//! Deploy, the compiled-module cache, restart without recompiling, and node failures.

mod common;

use std::time::{Duration, Instant};

use common::*;
use weft_runtime::{
    CodeHash, DeployError, RuntimeConfig, RuntimeError, Simulator, ValidationError,
    ValidationLimits,
};

#[test]
fn deploy_is_addressed_by_blake3_and_idempotent() {
    let (sim, dir) = simulator();
    let wasm = kv();
    let hash = sim.deploy(&wasm).unwrap();
    assert_eq!(hash, CodeHash::of(&wasm));
    assert_eq!(hash.to_hex(), blake3::hash(&wasm).to_hex().to_string());
    assert_eq!(sim.deploy(&wasm).unwrap(), hash);
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec![format!("{hash}.cwasm"), format!("{hash}.wasm")]);
}

#[test]
fn restart_reloads_artifacts_without_recompiling() {
    let dir = tempfile::tempdir().unwrap();
    let hash = {
        let sim = Simulator::open(dir.path(), RuntimeConfig::default()).unwrap();
        sim.deploy(&kv()).unwrap()
    };
    // Remove the module bytes: only the artifact is left, so a recompile is impossible.
    std::fs::remove_file(dir.path().join(format!("{hash}.wasm"))).unwrap();
    let sim = Simulator::open(dir.path(), RuntimeConfig::default()).unwrap();
    assert!(sim.is_deployed(&hash));
    let started = Instant::now();
    assert_eq!(sim.load_all().unwrap(), 1);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(sim.loaded_contracts(), 1);
    let done = invoke(&sim, &hash, "get", &["a"]).unwrap();
    assert_eq!(done.response.payload, b"apple");
}

#[test]
fn a_corrupt_artifact_is_a_node_error() {
    let dir = tempfile::tempdir().unwrap();
    let hash =
        Simulator::open(dir.path(), RuntimeConfig::default()).unwrap().deploy(&kv()).unwrap();
    let path = dir.path().join(format!("{hash}.cwasm"));
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let sim = Simulator::open(dir.path(), RuntimeConfig::default()).unwrap();
    let err = sim.load(&hash).unwrap_err();
    assert!(matches!(err, RuntimeError::CorruptCache { .. }), "{err}");
    let inv = weft_runtime::Invocation::new("kv", "get", &["a"]);
    assert!(matches!(
        sim.invoke(&hash, &inv, state(), None),
        Err(RuntimeError::CorruptCache { .. })
    ));
}

#[test]
fn an_artifact_compiled_under_other_fuel_prices_is_compiled_again() {
    let dir = tempfile::tempdir().unwrap();
    let hash =
        Simulator::open(dir.path(), RuntimeConfig::default()).unwrap().deploy(&kv()).unwrap();
    let path = dir.path().join(format!("{hash}.cwasm"));
    let mut bytes = std::fs::read(&path).unwrap();
    // The prices' version follows the 8-byte magic.
    let older = weft_runtime::FUEL_PRICES_VERSION - 1;
    bytes[8..12].copy_from_slice(&older.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let sim = Simulator::open(dir.path(), RuntimeConfig::default()).unwrap();
    sim.load(&hash).expect("recompiled from the stored .wasm");
    let rewritten = std::fs::read(&path).unwrap();
    assert_eq!(rewritten[8..12], weft_runtime::FUEL_PRICES_VERSION.to_le_bytes());
}

#[test]
fn an_unknown_contract_is_a_node_error() {
    let (sim, _dir) = simulator();
    let inv = weft_runtime::Invocation::new("kv", "get", &["a"]);
    let err = sim.invoke(&CodeHash([7; 32]), &inv, state(), None).unwrap_err();
    assert!(matches!(err, RuntimeError::UnknownContract(_)));
}

#[test]
fn the_lru_keeps_a_bounded_number_of_modules_loaded() {
    let config = RuntimeConfig { loaded_modules: 2, ..RuntimeConfig::default() };
    let (sim, _dir) = simulator_with(config);
    let hashes: Vec<CodeHash> = (0..4)
        .map(|i| sim.deploy(&contract(&format!(
            r#"(func (export "weft_invoke") (result i32) (call $respond_i32 (i32.const {i})) i32.const 0)"#
        ))).unwrap())
        .collect();
    assert_eq!(sim.loaded_contracts(), 2);
    // An evicted module is reloaded from its artifact on use.
    let done = invoke(&sim, &hashes[0], "go", &[]).unwrap();
    assert_eq!(done.response.payload, 0i32.to_le_bytes());
    assert_eq!(sim.loaded_contracts(), 2);
}

#[test]
fn a_compile_over_budget_is_refused_and_leaves_nothing() {
    let config =
        RuntimeConfig { compile_budget: Duration::from_nanos(1), ..RuntimeConfig::default() };
    let (sim, dir) = simulator_with(config);
    let err = sim.deploy(&kv()).unwrap_err();
    assert!(matches!(err, DeployError::CompileBudget(_)), "{err}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn costly_shapes_are_refused_before_compiling() {
    let (sim, dir) = simulator();
    // 10k functions with 1000 parameters each: ~41 KB, seconds to compile if let through.
    let params = "i32 ".repeat(1000);
    let funcs = format!("(type $t (func (param {params}))) ").to_string()
        + &"(func (type $t))".repeat(10_000);
    let wasm = wat::parse_str(format!(
        r#"(module {funcs} (memory (export "memory") 1)
            (func (export "weft_init") (result i32) i32.const 0)
            (func (export "weft_invoke") (result i32) i32.const 0))"#
    ))
    .unwrap();
    let started = Instant::now();
    let err = sim.deploy(&wasm).unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
    assert!(matches!(err, DeployError::Invalid(ValidationError::OverCap { .. })), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// Install refusals reach clients as gRPC status messages: each is one short line, never a
/// multi-line dump, whatever bytes were sent. Checked over modules with a few bytes of a
/// real contract changed (a fixed pseudo-random sequence, so failures reproduce). Before the
/// magic bytes were checked first, wasmparser's refusal of a bad magic number printed both
/// byte arrays over eleven lines.
#[test]
fn refusals_of_damaged_modules_are_one_short_line() {
    let (sim, _dir) = simulator();
    let original = kv();
    let mut seed: u64 = 0x5eed;
    let mut next = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        seed >> 16
    };
    let mut refused = 0;
    for round in 0..2000 {
        let mut wasm = original.clone();
        for _ in 0..1 + round % 4 {
            // Half the changes in the first 64 bytes: the header and first sections.
            let span = if next() % 2 == 0 { 64.min(wasm.len()) } else { wasm.len() };
            let at = next() as usize % span;
            wasm[at] = next() as u8;
        }
        if let Err(e) = sim.validate(&wasm) {
            refused += 1;
            let message = e.to_string();
            assert!(!message.contains('\n') && message.len() < 300, "round {round}: {message:?}");
        }
    }
    assert!(refused > 500, "only {refused} of 2000 damaged modules refused");
}

#[test]
fn hostile_control_flow_is_refused_by_the_static_compile_cost_measure() {
    use weft_contract_artifacts::branch_flood_wat;
    let (sim, dir) = simulator();
    // Every other cap holds: only the compile cost refuses these.
    let lifted = ValidationLimits {
        max_nesting_depth: u32::MAX,
        max_function_branch_edges: u64::MAX,
        max_compile_units: u64::MAX,
        ..ValidationLimits::default()
    };
    let refused = |wat: String| {
        let wasm = wat::parse_str(wat).unwrap();
        weft_runtime::validate(&wasm, &lifted).expect("within every other cap");
        let err = sim.deploy(&wasm).unwrap_err();
        assert!(matches!(err, DeployError::Invalid(ValidationError::CompileCost { .. })), "{err}");
        (wasm.len(), err.to_string())
    };
    // Thousands of br_if into blocks nested 200 deep, a few hundred KB: every shape cap but
    // the compile cost would let it through, and its like took 13 s to compile on a busy
    // machine.
    let (size, e) = refused(branch_flood_wat(16, 200, 3_000, 0));
    assert!(size > 200_000, "{size}");
    assert!(
        e.starts_with("compile cost: function 0 nests blocks 200 deep, over the cap of 100"),
        "{e}"
    );
    // The same without the nesting: the branches of one body.
    let (_, e) = refused(branch_flood_wat(16, 40, 3_500, 0));
    assert!(
        e.starts_with("compile cost: function 0 has 3500 branch edges, over the cap of 420"),
        "{e}"
    );
    // Bodies each within the caps, too many of them: the module's units.
    let (_, e) = refused(branch_flood_wat(40, 40, 400, 0));
    assert!(e.contains("compile cost: the module measures over"), "{e}");
    assert!(e.contains("(operators + 10 per branch edge), over the cap of 160000"), "{e}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing stored");

    // Just within the caps, the costliest shape the measure admits deploys.
    let admitted = wat::parse_str(branch_flood_wat(32, 40, 400, 0)).unwrap();
    let shape = sim.validate(&admitted).unwrap();
    assert!(shape.compile_units > 150_000, "{shape:?}");
    sim.deploy(&admitted).unwrap();
}
