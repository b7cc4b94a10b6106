//! The misbehave corpus in Rust (`contracts/misbehave/*`, built by `weft-contract-artifacts`):
//! each case's deterministic outcome, then a sample contract still works in the same runtime.

use weft_abi::ReturnCode;
use weft_contract_artifacts as artifacts;
use weft_runtime::{ContractFailure, FailureKind, Harness, Outcome, RuntimeConfig};

fn harness() -> Harness {
    // A smaller budget keeps the out-of-fuel case quick; everything else is the default.
    harness_with(RuntimeConfig { fuel_per_invocation: 200_000_000, ..RuntimeConfig::default() })
}

fn harness_with(config: RuntimeConfig) -> Harness {
    let mut h = Harness::with_config(config).unwrap();
    h.deploy("kv", &std::fs::read(artifacts::KV).unwrap()).unwrap();
    h
}

fn run(h: &mut Harness, path: &str, function: &str, args: &[&str]) -> Outcome {
    h.deploy("case", &std::fs::read(path).unwrap()).unwrap();
    let first = h.invoke("case", function, args).unwrap();
    // The same failure, message and fuel, every time.
    let mut again = h.invoke("case", function, args).unwrap();
    if let (Err(a), Err(b)) = (&first, &mut again) {
        assert_eq!(a, b);
    }
    // The node still serves other contracts.
    h.submit("kv", "Put", &["k", "v"]).unwrap().unwrap();
    assert_eq!(h.query("kv", "Get", &["k"]).unwrap().unwrap().response.payload, b"v");
    first
}

fn failed(h: &mut Harness, path: &str, function: &str, args: &[&str]) -> ContractFailure {
    run(h, path, function, args).expect_err("the case fails")
}

#[test]
fn rust_infinite_loop_runs_out_of_fuel() {
    let mut h = harness();
    let f = failed(&mut h, artifacts::MISBEHAVE_LOOP, "Spin", &[]);
    assert_eq!((f.kind, f.message.as_str()), (FailureKind::OutOfFuel, "out of fuel"));
}

#[test]
fn rust_unbounded_allocation_hits_the_memory_limit() {
    // The default budget pays for growing to the 64 MiB cap (about 1.1e9 fuel).
    let mut h = harness_with(RuntimeConfig::default());
    let f = failed(&mut h, artifacts::MISBEHAVE_ALLOC, "Hoard", &[]);
    assert_eq!((f.kind, f.message.as_str()), (FailureKind::MemoryLimit, "memory limit exceeded"));
}

#[test]
fn unbounded_allocation_on_a_small_budget_runs_out_of_fuel_before_the_cap() {
    // Growth is priced (1,000,000 a page): 200,000,000 fuel buys about 12 MiB, and the
    // growth that owes more than the fuel left ends the invocation at once.
    let mut h = harness();
    let f = failed(&mut h, artifacts::MISBEHAVE_ALLOC, "Hoard", &[]);
    assert_eq!((f.kind, f.message.as_str()), (FailureKind::OutOfFuel, "out of fuel"));
    assert_eq!(f.fuel_used, 200_000_000);
}

#[test]
fn rust_deep_recursion_is_stopped() {
    let mut h = harness();
    let f = failed(&mut h, artifacts::MISBEHAVE_RECURSION, "Descend", &[]);
    // The Wasm stack limit, or Rust's own shadow stack running off the bottom of memory.
    assert!(matches!(f.kind, FailureKind::StackOverflow | FailureKind::Trap), "{f}");
}

#[test]
fn rust_panic_reaches_the_caller_and_nothing_is_endorsed() {
    let mut h = harness();
    let f = failed(&mut h, artifacts::MISBEHAVE_PANIC, "Boom", &["7"]);
    assert_eq!(f.kind, FailureKind::Panic);
    assert_eq!(f.message, "boom 7: 0");
    assert_eq!(h.get("case", b"written-before-panic"), None);
}

#[test]
fn rust_raw_abi_abuse_is_refused_safely() {
    let mut h = harness();
    let f = failed(&mut h, artifacts::MISBEHAVE_RAW, "BadPointer", &[]);
    assert_eq!(
        (f.kind, f.message.as_str()),
        (FailureKind::AbiMisuse, "state_get: pointer or length out of bounds")
    );

    let done = run(&mut h, artifacts::MISBEHAVE_RAW, "Oversized", &[]).unwrap();
    let want = format!("{},{}", ReturnCode::KeyTooLong as i32, ReturnCode::ValueTooLong as i32);
    assert_eq!(done.response.payload, want.as_bytes());
    assert!(done.rwset.writes.is_empty());

    let done = run(&mut h, artifacts::MISBEHAVE_RAW, "Iterators", &[]).unwrap();
    let want = format!(
        "{},{}",
        weft_abi::limits::MAX_OPEN_ITERATORS,
        ReturnCode::TooManyIterators.as_neg_i64()
    );
    assert_eq!(done.response.payload, want.as_bytes());

    let q = h.query("case", "Write", &[""; 0]).unwrap().unwrap_err();
    assert_eq!(q.kind, FailureKind::WriteDuringQuery);
    h.invoke("case", "Write", &[""; 0]).unwrap().unwrap();
}

#[test]
fn rust_float_results_are_deterministic_with_canonical_nans() {
    let mut h = harness();
    let a = run(&mut h, artifacts::MISBEHAVE_RAW, "Floats", &["1.5"]).unwrap();
    let b = h.invoke("case", "Floats", &["1.5"]).unwrap().unwrap();
    assert_eq!(a.response, b.response);
    assert_eq!(a.fuel_used, b.fuel_used);
    let text = String::from_utf8(a.response.payload).unwrap();
    let mut parts = text.split(' ');
    assert_eq!(parts.next(), Some("7ff8000000000000"), "{text}");
    assert_eq!(parts.next(), Some("7ff8000000000000"), "{text}");
}
