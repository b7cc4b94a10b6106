//! The misbehave corpus: each case asserts its deterministic, safe outcome and that a normal
//! contract still works afterwards in the same runtime.

mod common;

use common::*;
use weft_abi::ReturnCode;
use weft_runtime::{
    DeployError, FailureKind, Invocation, RuntimeConfig, Simulator, ValidationError,
};

/// Deploys `wasm`, invokes it once, and checks the runtime still serves the kv contract.
fn run_case(sim: &Simulator, wasm: &[u8]) -> weft_runtime::Outcome {
    let code = sim.deploy(wasm).expect("fixture deploys");
    let outcome = invoke(sim, &code, "go", &[]);
    // Twice: the failure is the same every time (determinism), fuel included.
    assert_eq!(invoke(sim, &code, "go", &[]), outcome);
    normal_contract_still_works(sim);
    outcome
}

fn failure(sim: &Simulator, wasm: &[u8]) -> weft_runtime::ContractFailure {
    run_case(sim, wasm).expect_err("the case fails")
}

/// A smaller fuel budget keeps the out-of-fuel cases quick.
fn small_fuel() -> RuntimeConfig {
    RuntimeConfig { fuel_per_invocation: 50_000_000, ..RuntimeConfig::default() }
}

/// A loop that never ends.
const ENDLESS: &str = r#"(func (export "weft_invoke") (result i32) (loop $l (br $l)) i32.const 0)"#;

/// Fuel too large to run out: only the wall clock (`deadline`) or a leash stops a run.
fn bounded_by_time(deadline: std::time::Duration) -> RuntimeConfig {
    RuntimeConfig {
        fuel_per_invocation: u64::MAX / 4,
        wall_clock_deadline: deadline,
        ..RuntimeConfig::default()
    }
}

#[test]
fn infinite_loop_runs_out_of_fuel() {
    let (sim, _dir) = simulator_with(small_fuel());
    let f = failure(&sim, &contract(ENDLESS));
    assert_eq!(f.kind, FailureKind::OutOfFuel);
    assert_eq!(f.message, "out of fuel");
    assert!(f.fuel_used >= 49_000_000, "{}", f.fuel_used);
}

#[test]
fn infinite_loop_of_host_calls_runs_out_of_fuel() {
    let (sim, _dir) = simulator_with(small_fuel());
    let f = failure(
        &sim,
        &contract(
            r#"(func (export "weft_invoke") (result i32)
            (loop $l (drop (call $state_get (i32.const 0) (i32.const 1))) (br $l)) i32.const 0)"#,
        ),
    );
    assert_eq!(f.kind, FailureKind::OutOfFuel);
}

#[test]
fn unbounded_memory_growth_hits_the_memory_limit() {
    let (sim, _dir) = simulator();
    // Grow until refused, then abort the way Rust's allocator does (`unreachable`).
    let f = failure(
        &sim,
        &contract(
            r#"(func (export "weft_invoke") (result i32)
            (loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
            unreachable)"#,
        ),
    );
    assert_eq!(f.kind, FailureKind::MemoryLimit);
    assert_eq!(f.message, "memory limit exceeded");
}

#[test]
fn one_huge_grow_is_refused_and_the_contract_may_carry_on() {
    let (sim, _dir) = simulator();
    let done = run_case(
        &sim,
        &contract(
            r#"(func (export "weft_invoke") (result i32)
            (call $respond_i32 (memory.grow (i32.const 60000))) i32.const 0)"#,
        ),
    )
    .unwrap();
    assert_eq!(done.response.payload, (-1i32).to_le_bytes());
}

/// Growths the limiter refuses owe fuel that no host call collects in a loop without host
/// calls; the debt ends the invocation once it passes the fuel left. Growths past 4 GiB,
/// answered by the guard, pay their instructions.
#[test]
fn loops_of_refused_growths_run_out_of_fuel() {
    let (sim, _dir) = simulator_with(small_fuel());
    for pages in [2000, 70000] {
        let f = failure(
            &sim,
            &contract(&format!(
                r#"(func (export "weft_invoke") (result i32)
                (loop $l (drop (memory.grow (i32.const {pages}))) (br $l)) i32.const 0)"#
            )),
        );
        assert_eq!((f.kind, f.message.as_str()), (FailureKind::OutOfFuel, "out of fuel"));
        assert_eq!(f.fuel_used, 50_000_000);
    }
}

/// A filled byte costs half a fuel unit: the fill guard prices it (`rewrite.rs`).
#[test]
fn a_filled_byte_costs_half_a_fuel_unit() {
    let (sim, _dir) = simulator();
    let fuel = |len: u32| {
        run_case(
            &sim,
            &contract(&format!(
                r#"(func (export "weft_invoke") (result i32)
                (memory.fill (i32.const 1024) (i32.const 7) (i32.const {len}))
                (call $respond (i32.const 200) (i32.const 1024) (i32.const 1)) i32.const 0)"#
            )),
        )
        .unwrap()
        .fuel_used
    };
    assert_eq!(fuel(10_002) - fuel(2), 5_000);
}

/// `memory.fill`, `memory.grow` and `table.grow` run through guards added before compiling
/// (`rewrite.rs`): they must keep the instructions' semantics exactly, at every edge.
#[test]
fn guarded_fill_and_grow_keep_their_semantics() {
    let (sim, _dir) = simulator();
    let done = run_case(
        &sim,
        &contract(
            r#"(table 1 funcref)
            (func (export "weft_invoke") (result i32)
            (memory.fill (i32.const 131072) (i32.const 7) (i32.const 0))
            (i32.store (i32.const 600) (memory.grow (i32.const 0)))
            (i32.store (i32.const 604) (memory.grow (i32.const 1)))
            (i32.store (i32.const 608) (memory.size))
            (memory.fill (i32.const 196607) (i32.const 9) (i32.const 1))
            (i32.store (i32.const 612) (i32.load8_u (i32.const 196607)))
            (memory.fill (i32.const 196608) (i32.const 0) (i32.const 0))
            (i32.store (i32.const 616) (table.grow (ref.null func) (i32.const 0)))
            (i32.store (i32.const 620) (table.grow (ref.null func) (i32.const 2)))
            (i32.store (i32.const 624) (table.size))
            (i32.store (i32.const 628) (memory.grow (i32.const 70000)))
            (i32.store (i32.const 632) (table.grow (ref.null func) (i32.const 100000)))
            (call $respond (i32.const 200) (i32.const 600) (i32.const 36)) i32.const 0)"#,
        ),
    )
    .unwrap();
    let got: Vec<i32> = done
        .response
        .payload
        .chunks(4)
        .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    // grow 0 gives the size; grow 1 the old size; a fill at the new last byte lands; a fill
    // of nothing at either end is allowed; table growth likewise; refused growths give -1.
    assert_eq!(got, [2, 2, 3, 9, 1, 1, 3, -1, -1]);

    // A fill of nothing one past the end traps, as the unguarded instruction does, also
    // after the memory has grown.
    for (grow, at) in [(0, 131073), (1, 196609)] {
        let f = failure(
            &sim,
            &contract(&format!(
                r#"(func (export "weft_invoke") (result i32)
                (drop (memory.grow (i32.const {grow})))
                (memory.fill (i32.const {at}) (i32.const 0) (i32.const 0)) i32.const 0)"#
            )),
        );
        assert_eq!(f.kind, FailureKind::Trap, "{f}");
        assert_eq!(f.message, "out-of-bounds memory access");
    }
}

#[test]
fn deep_recursion_hits_the_stack_limit() {
    let (sim, _dir) = simulator();
    let f = failure(
        &sim,
        &contract(
            r#"(func $down (param $n i64) (result i64)
                (i64.add (call $down (i64.add (local.get $n) (i64.const 1))) (local.get $n)))
            (func (export "weft_invoke") (result i32) (drop (call $down (i64.const 0))) i32.const 0)"#,
        ),
    );
    assert_eq!(f.kind, FailureKind::StackOverflow);
    assert_eq!(f.message, "stack limit exceeded");
}

#[test]
fn panic_reaches_the_caller_with_its_message() {
    let (sim, _dir) = simulator();
    let f = failure(
        &sim,
        &contract(
            r#"(data (i32.const 300) "index out of bounds: the len is 3 but the index is 7")
            (func (export "weft_invoke") (result i32) (call $abort (i32.const 300) (i32.const 52)) i32.const 0)"#,
        ),
    );
    assert_eq!(f.kind, FailureKind::Panic);
    assert_eq!(f.message, "index out of bounds: the len is 3 but the index is 7");
    assert_eq!(f.status, 500);
}

#[test]
fn out_of_bounds_pointers_to_host_calls_are_abi_misuse() {
    let (sim, _dir) = simulator();
    let cases = [
        ("(drop (call $state_get (i32.const -16) (i32.const 100)))", "state_get"),
        (
            "(drop (call $state_put (i32.const 0) (i32.const 1) (i32.const 131000) (i32.const 100)))",
            "state_put",
        ),
        (
            "(drop (call $emit_event (i32.const 0) (i32.const 1) (i32.const 0) (i32.const -1)))",
            "emit_event",
        ),
        (
            "(drop (call $set_response (i32.const 200) (i32.const 200000) (i32.const 1) (i32.const 0) (i32.const 0)))",
            "set_response",
        ),
        ("(drop (call $log (i32.const 1) (i32.const 2147483647) (i32.const 2)))", "log"),
        ("(call $abort (i32.const 131070) (i32.const 4))", "abort"),
        (
            "(drop (call $tx_field (i32.const 0))) (drop (call $take_result (i32.const 131071) (i32.const 0)))",
            "take_result",
        ),
    ];
    for (call, name) in cases {
        let f = failure(
            &sim,
            &contract(&format!(r#"(func (export "weft_invoke") (result i32) {call} i32.const 0)"#)),
        );
        assert_eq!(f.kind, FailureKind::AbiMisuse, "{name}");
        assert!(f.message.starts_with(name), "{name}: {}", f.message);
    }
    // Other misuse: unknown field, taking a result that is not there, a bad return value.
    let f = failure(
        &sim,
        &contract(
            r#"(func (export "weft_invoke") (result i32) (drop (call $tx_field (i32.const 99))) i32.const 0)"#,
        ),
    );
    assert_eq!(f.message, "tx_field: unknown field id");
    let f = failure(
        &sim,
        &contract(
            r#"(func (export "weft_invoke") (result i32) (drop (call $take_result (i32.const 0) (i32.const 0))) i32.const 0)"#,
        ),
    );
    assert_eq!(f.message, "take_result: no result to take");
    let f = failure(&sim, &contract(r#"(func (export "weft_invoke") (result i32) i32.const 7)"#));
    assert_eq!(
        (f.kind, f.message.as_str()),
        (FailureKind::AbiMisuse, "entry point returned 7, not 0")
    );
    let f = failure(&sim, &contract(r#"(func (export "weft_invoke") (result i32) i32.const 0)"#));
    assert_eq!(f.message, "the contract returned without setting a response");
}

#[test]
fn oversized_key_and_value_get_return_codes_and_write_nothing() {
    let (sim, _dir) = simulator();
    // Key of MAX_KEY_LEN + 1 bytes; value of MAX_VALUE_LEN + 1 bytes (memory grown to fit).
    let done = run_case(
        &sim,
        &contract(r#"(func (export "weft_invoke") (result i32)
            (drop (memory.grow (i32.const 20)))
            (i32.store (i32.const 600) (call $state_put (i32.const 0) (i32.const 4097) (i32.const 0) (i32.const 1)))
            (i32.store (i32.const 604) (call $state_put (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1048577)))
            (i32.store (i32.const 608) (i32.wrap_i64 (call $state_get (i32.const 0) (i32.const 4097))))
            (call $respond (i32.const 200) (i32.const 600) (i32.const 12)) i32.const 0)"#),
    )
    .unwrap();
    let codes: Vec<i32> = done
        .response
        .payload
        .chunks(4)
        .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(
        codes,
        vec![
            ReturnCode::KeyTooLong as i32,
            ReturnCode::ValueTooLong as i32,
            -(ReturnCode::KeyTooLong as i32)
        ]
    );
    assert!(done.rwset.writes.is_empty() && done.rwset.reads.is_empty());
}

#[test]
fn thousands_of_open_iterators_are_capped() {
    let (sim, _dir) = simulator();
    // Open 5000 iterators without closing; count successes and keep the first refusal.
    let done = run_case(
        &sim,
        &contract(r#"(func (export "weft_invoke") (result i32) (local $i i32) (local $r i64) (local $ok i32) (local $first i64)
            (loop $l
              (local.set $r (call $range_open (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
              (if (i64.ge_s (local.get $r) (i64.const 0))
                (then (local.set $ok (i32.add (local.get $ok) (i32.const 1))))
                (else (if (i64.eqz (local.get $first)) (then (local.set $first (local.get $r))))))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $l (i32.lt_u (local.get $i) (i32.const 5000))))
            (i32.store (i32.const 600) (local.get $ok))
            (i64.store (i32.const 604) (local.get $first))
            (call $respond (i32.const 200) (i32.const 600) (i32.const 12)) i32.const 0)"#),
    )
    .unwrap();
    let p = &done.response.payload;
    assert_eq!(
        u32::from_le_bytes(p[0..4].try_into().unwrap()),
        weft_abi::limits::MAX_OPEN_ITERATORS
    );
    assert_eq!(
        i64::from_le_bytes(p[4..12].try_into().unwrap()),
        ReturnCode::TooManyIterators.as_neg_i64()
    );
    // Iterators left open are closed and recorded at the end, in id order.
    assert_eq!(done.rwset.range_queries_info.len(), 64);
}

#[test]
fn float_operations_are_deterministic_with_canonical_nans() {
    let (sim, _dir) = simulator();
    let done = run_case(
        &sim,
        &contract(r#"(func (export "weft_invoke") (result i32)
            (i64.store (i32.const 600) (i64.reinterpret_f64 (f64.div (f64.const 0) (f64.const 0))))
            (i64.store (i32.const 608) (i64.reinterpret_f64 (f64.sqrt (f64.const -1))))
            (i64.store (i32.const 616) (i64.reinterpret_f64 (f64.add (f64.const nan:0x4) (f64.const 1))))
            (i32.store (i32.const 624) (i32.reinterpret_f32 (f32.mul (f32.const -nan:0x1234) (f32.const 2))))
            (i64.store (i32.const 628) (i64.reinterpret_f64 (f64.mul (f64.const 0.1) (f64.const 3))))
            (i64.store (i32.const 636) (i64.trunc_sat_f64_s (f64.const 1e300)))
            (call $respond (i32.const 200) (i32.const 600) (i32.const 44)) i32.const 0)"#),
    )
    .unwrap();
    let p = &done.response.payload;
    let u64_at = |i: usize| u64::from_le_bytes(p[i..i + 8].try_into().unwrap());
    let canonical = 0x7ff8_0000_0000_0000u64;
    assert_eq!((u64_at(0), u64_at(8), u64_at(16)), (canonical, canonical, canonical));
    assert_eq!(u32::from_le_bytes(p[24..28].try_into().unwrap()), 0x7fc0_0000);
    assert_eq!(f64::from_bits(u64_at(28)), 0.1 * 3.0);
    assert_eq!(u64_at(36) as i64, i64::MAX);
}

#[test]
fn a_write_during_a_query_fails_the_query() {
    let (sim, _dir) = simulator();
    let code = sim.deploy(&kv()).unwrap();
    for (f, args) in [("put", vec!["a", "x"]), ("del", vec!["a"])] {
        let q = Invocation::new("kv", f, &args);
        let failed = sim.query(&code, &q, state(), None).unwrap().unwrap_err();
        assert_eq!(failed.kind, FailureKind::WriteDuringQuery);
    }
    normal_contract_still_works(&sim);
}

#[test]
fn a_module_importing_something_we_do_not_provide_is_refused_at_deploy() {
    let (sim, dir) = simulator();
    let clock = wat::parse_str(r#"(module (import "wasi_snapshot_preview1" "clock_time_get" (func (param i32 i64 i32) (result i32)))
        (memory (export "memory") 1)
        (func (export "weft_init") (result i32) i32.const 0)
        (func (export "weft_invoke") (result i32) i32.const 0))"#).unwrap();
    let err = sim.deploy(&clock).unwrap_err();
    assert!(matches!(err, DeployError::Invalid(ValidationError::ForeignImport { .. })), "{err}");
    let random = wat::parse_str(
        r#"(module (import "weft_v1" "random" (func (result i64)))
        (memory (export "memory") 1)
        (func (export "weft_init") (result i32) i32.const 0)
        (func (export "weft_invoke") (result i32) i32.const 0))"#,
    )
    .unwrap();
    let err = sim.deploy(&random).unwrap_err();
    assert!(
        matches!(err, DeployError::Invalid(ValidationError::UnknownHostFunction { .. })),
        "{err}"
    );
    // A rejected module leaves nothing behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    normal_contract_still_works(&sim);
}

#[test]
fn a_trap_in_the_middle_of_a_transaction_is_a_stable_failure() {
    let (sim, _dir) = simulator();
    let f = failure(
        &sim,
        &contract(
            r#"(func (export "weft_invoke") (result i32)
        (drop (call $state_put (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1)))
        (drop (i32.div_u (i32.const 1) (i32.const 0))) i32.const 0)"#,
        ),
    );
    assert_eq!((f.kind, f.message.as_str()), (FailureKind::Trap, "integer division by zero"));
    let f = failure(
        &sim,
        &contract(
            r#"(func (export "weft_invoke") (result i32) (drop (i32.load (i32.const -4))) i32.const 0)"#,
        ),
    );
    assert_eq!(f.message, "out-of-bounds memory access");
}

#[test]
fn the_wall_clock_guard_is_a_node_error_not_a_result() {
    let (sim, _dir) = simulator_with(bounded_by_time(std::time::Duration::from_millis(50)));
    let code = sim.deploy(&contract(ENDLESS)).unwrap();
    let inv = Invocation::new("kv", "go", &[""; 0]);
    let err = sim.invoke(&code, &inv, state(), None).unwrap_err();
    assert!(matches!(err, weft_runtime::RuntimeError::Deadline), "{err}");
    normal_contract_still_works(&sim);
}

#[test]
fn a_run_on_a_leash_is_cut_short_and_the_same_run_off_it_is_not() {
    let (sim, _dir) = simulator_with(bounded_by_time(std::time::Duration::from_secs(600)));
    let spin = sim.deploy(&contract(ENDLESS)).unwrap();
    // Counts down from 200 million: far longer than the leash, and done in under a second.
    let long = sim
        .deploy(&contract(
            r#"(func (export "weft_invoke") (result i32) (local $i i32)
              (local.set $i (i32.const 200000000))
              (loop $l (local.set $i (i32.sub (local.get $i) (i32.const 1))) (br_if $l (local.get $i)))
              (call $respond (i32.const 200) (i32.const 0) (i32.const 0)) i32.const 0)"#,
        ))
        .unwrap();
    let kv = sim.deploy(&kv()).unwrap();
    let inv = Invocation::new("kv", "go", &[""; 0]);
    let get = Invocation::new("kv", "get", &["b"]);
    let on_thread = sim.clone();
    let (spun, cut, done, after) = sim
        .spawn_contract_thread("leashed", move || {
            let sim = on_thread;
            let spun = weft_runtime::on_leash(|| sim.invoke(&spin, &inv, state(), None));
            let cut = weft_runtime::on_leash(|| sim.invoke(&long, &inv, state(), None));
            let done = weft_runtime::on_leash(|| sim.invoke(&kv, &get, state(), None));
            // Off the leash again, the long run takes what it needs.
            (spun, cut, done, sim.invoke(&long, &inv, state(), None))
        })
        .unwrap()
        .join()
        .unwrap();
    // Cut short at the leash, not at the 600 s deadline nor out of its fuel.
    assert!(matches!(spun, Err(weft_runtime::RuntimeError::Preempted)), "{spun:?}");
    assert!(matches!(cut, Err(weft_runtime::RuntimeError::Preempted)), "{cut:?}");
    // A run that ends within the leash is untouched.
    assert_eq!(done.unwrap().unwrap().response.payload, b"banana");
    assert_eq!(after.unwrap().unwrap().response.status, 200);
    normal_contract_still_works(&sim);
}

/// Everything the host records for an invocation counts against
/// `weft_abi::limits::MAX_HOST_MEMORY`; an invocation that would pass it fails, the same way
/// every time, with "host memory limit exceeded".
fn host_memory_failure(sim: &Simulator, body: &str) -> weft_runtime::ContractFailure {
    let f = failure(sim, &contract(body));
    assert_eq!(
        (f.kind, f.message.as_str()),
        (FailureKind::HostMemoryLimit, "host memory limit exceeded")
    );
    f
}

#[test]
fn opening_and_closing_iterators_forever_hits_the_host_memory_limit() {
    let (sim, _dir) = simulator();
    // Each closed range stays recorded (start and end key: 8 KiB), so the host's memory grows
    // with every round until the limit stops the invocation (long before the fuel would).
    host_memory_failure(
        &sim,
        r#"(func (export "weft_invoke") (result i32)
            (loop $l
              (drop (call $range_close (i32.wrap_i64
                (call $range_open (i32.const 0) (i32.const 4096) (i32.const 4096) (i32.const 4096)))))
              (br $l))
            i32.const 0)"#,
    );
}

#[test]
fn writing_many_large_values_hits_the_host_memory_limit() {
    let (sim, _dir) = simulator();
    // 1 MiB values under fresh keys: 64 of them fill the 64 MiB the host may hold.
    host_memory_failure(
        &sim,
        r#"(func (export "weft_invoke") (result i32) (local $i i32)
            (drop (memory.grow (i32.const 16)))
            (loop $l
              (i32.store (i32.const 0) (local.get $i))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (drop (call $state_put (i32.const 0) (i32.const 4) (i32.const 65536) (i32.const 1048576)))
              (br $l))
            i32.const 0)"#,
    );
}

#[test]
fn overwriting_one_key_holds_only_the_last_value() {
    let (sim, _dir) = simulator();
    // 200 writes of 1 MiB to the same key: the last wins and the host holds one value, so
    // this stays far below the limit.
    let done = run_case(
        &sim,
        &contract(
            r#"(func (export "weft_invoke") (result i32) (local $i i32)
            (drop (memory.grow (i32.const 16)))
            (i32.store (i32.const 0) (i32.const 7))
            (loop $l
              (drop (call $state_put (i32.const 0) (i32.const 4) (i32.const 65536) (i32.const 1048576)))
              (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 200))))
            (call $respond (i32.const 200) (i32.const 0) (i32.const 0)) i32.const 0)"#,
        ),
    )
    .unwrap();
    assert_eq!(done.rwset.writes.len(), 1);
    assert_eq!(done.rwset.writes[0].value.len(), 1 << 20);
}
