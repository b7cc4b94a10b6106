//! Simulation through the public `Simulator`: responses, Fabric-exact read/write sets, events,
//! queries, fuel, and the failure kinds.

mod common;

use common::*;
use weft_runtime::{FailureKind, Invocation};
use weft_rwset::Version;

#[test]
fn get_records_the_committed_version_and_returns_the_value() {
    let (sim, _dir) = simulator();
    let code = sim.deploy(&kv()).unwrap();
    let done = invoke(&sim, &code, "get", &["a"]).unwrap();
    assert_eq!(done.response.status, 200);
    assert_eq!(done.response.payload, b"apple");
    assert_eq!(done.rwset.namespace, "kv");
    assert_eq!(done.rwset.reads.len(), 1);
    assert_eq!(done.rwset.reads[0].version, Some(Version { block_num: 1, tx_num: 0 }));
    assert!(done.rwset.writes.is_empty());
    assert!(done.fuel_used > 0);
}

#[test]
fn no_read_your_own_writes_and_absent_reads_have_no_version() {
    let (sim, _dir) = simulator();
    let code = sim.deploy(&kv()).unwrap();
    // put a=new then get a: the committed value comes back.
    let done = invoke(&sim, &code, "putget", &["a", "new"]).unwrap();
    assert_eq!(done.response.payload, b"apple");
    assert_eq!(done.rwset.writes[0].value, b"new");
    // A key never committed reads as absent, even after a put.
    let done = invoke(&sim, &code, "putget", &["zz", "new"]).unwrap();
    assert!(done.response.payload.is_empty());
    assert_eq!(done.rwset.reads[0].version, None);
}

#[test]
fn range_scan_records_a_range_query_not_plain_reads() {
    let (sim, _dir) = simulator();
    let code = sim.deploy(&kv()).unwrap();
    let done = invoke(&sim, &code, "scan", &["a", "c"]).unwrap();
    assert_eq!(done.response.payload, 2u32.to_le_bytes());
    assert!(done.rwset.reads.is_empty());
    let r = &done.rwset.range_queries_info[0];
    assert_eq!(
        (r.start_key.as_slice(), r.end_key.as_slice(), r.itr_exhausted),
        (&b"a"[..], &b"c"[..], true)
    );
    assert_eq!(r.reads.len(), 2);
}

#[test]
fn deletes_and_events_are_recorded() {
    let (sim, _dir) = simulator();
    let code = sim.deploy(&kv()).unwrap();
    let done = invoke(&sim, &code, "del", &["b"]).unwrap();
    assert!(done.rwset.writes[0].is_delete);
    let done = invoke(&sim, &code, "event", &["payload"]).unwrap();
    assert_eq!(done.events.len(), 1);
    assert_eq!(done.events[0].name, "evt");
    assert_eq!(done.events[0].payload, b"payload");
    assert_eq!(done.events[0].tx_id, "tx-1");
    assert_eq!(done.events[0].contract, "kv");
}

#[test]
fn error_status_is_a_contract_failure_with_the_contract_message() {
    let (sim, _dir) = simulator();
    let code = sim.deploy(&kv()).unwrap();
    let failed = invoke(&sim, &code, "fail", &[]).unwrap_err();
    assert_eq!(failed.kind, FailureKind::ErrorStatus);
    assert_eq!(failed.status, 500);
    assert_eq!(failed.message, "failed on purpose");
    assert!(failed.fuel_used > 0);
    let failed = invoke(&sim, &code, "get", &["missing"]).unwrap_err();
    assert_eq!((failed.status, failed.message.as_str()), (404, "not found"));
}

#[test]
fn init_runs_the_init_export() {
    let (sim, _dir) = simulator();
    let code = sim.deploy(&kv()).unwrap();
    let done =
        sim.init(&code, Invocation::new("kv", "init", &[""; 0]), state(), None).unwrap().unwrap();
    assert_eq!(done.rwset.writes[0].key, b"init");
    assert_eq!(done.rwset.writes[0].value, b"done");
}

#[test]
fn query_may_read_but_a_write_fails_it() {
    let (sim, _dir) = simulator();
    let code = sim.deploy(&kv()).unwrap();
    let q = Invocation::new("kv", "get", &["c"]);
    let done = sim.query(&code, &q, state(), None).unwrap().unwrap();
    assert_eq!(done.response.payload, b"cherry");
    let w = Invocation::new("kv", "put", &["c", "x"]);
    let failed = sim.query(&code, &w, state(), None).unwrap().unwrap_err();
    assert_eq!(failed.kind, FailureKind::WriteDuringQuery);
    assert_eq!(failed.message, "state cannot be written during a query");
}

#[test]
fn same_input_gives_identical_results_and_fuel() {
    let (sim, _dir) = simulator();
    let code = sim.deploy(&kv()).unwrap();
    let a = invoke(&sim, &code, "scan", &["", ""]).unwrap();
    let b = invoke(&sim, &code, "scan", &["", ""]).unwrap();
    assert_eq!(a, b);
}

#[test]
fn nothing_an_invocation_writes_to_memory_or_globals_reaches_the_next() {
    // Each call reads a global, a data-segment word and words spread over its memory (in
    // the first page, past the prelude's arena, and in pages it grows past the resident
    // part the pool keeps), responds with what it saw, then overwrites all of them. Every
    // call must see what the first saw: the pooled slot is reset, however it is reset.
    let (sim, _dir) = simulator();
    let code = sim
        .deploy(&contract(
            r#"(global $seen (mut i32) (i32.const 7))
            (data (i32.const 96) "weft")
            (func (export "weft_invoke") (result i32)
              (local $a i32) (local $sum i32) (local $i i32)
              (drop (memory.grow (i32.const 40)))
              (block $done (loop $next
                (br_if $done (i32.eq (local.get $i) (i32.const 6)))
                (local.set $a (i32.add (i32.const 4096) (i32.mul (local.get $i) (i32.const 500000))))
                (local.set $sum (i32.add (local.get $sum) (i32.load (local.get $a))))
                (i32.store (local.get $a) (i32.const 0x5a5a5a5a))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $next)))
              (i32.store (i32.const 600) (local.get $sum))
              (i32.store (i32.const 604) (i32.load (i32.const 96)))
              (i32.store (i32.const 608) (global.get $seen))
              (i32.store (i32.const 96) (i32.const -1))
              (global.set $seen (i32.const 99))
              (call $respond (i32.const 200) (i32.const 600) (i32.const 12))
              i32.const 0)"#,
        ))
        .unwrap();
    let mut first = Vec::new();
    first.extend_from_slice(&0i32.to_le_bytes());
    first.extend_from_slice(b"weft");
    first.extend_from_slice(&7i32.to_le_bytes());
    for call in 0..50 {
        let done = invoke(&sim, &code, "go", &[]).unwrap();
        assert_eq!(done.response.payload, first, "call {call} saw what an earlier call wrote");
    }
}

#[test]
fn oversized_input_is_refused_deterministically() {
    let (sim, _dir) = simulator();
    let code = sim.deploy(&kv()).unwrap();
    let args: Vec<String> = (0..300).map(|i| i.to_string()).collect();
    let inv = Invocation::new("kv", "put", &args);
    let failed = sim.invoke(&code, &inv, state(), None).unwrap().unwrap_err();
    assert_eq!(failed.kind, FailureKind::InvalidInput);
}

#[test]
fn per_contract_fuel_limit_applies() {
    let (sim, _dir) = simulator();
    let code = sim.deploy(&kv()).unwrap();
    let used = invoke(&sim, &code, "get", &["a"]).unwrap().fuel_used;
    // Fuel is checked at function entries and loop headers, so a budget only slightly short
    // may still finish; half the need cannot.
    sim.set_fuel_limit(&code, Some(used / 2));
    let failed = invoke(&sim, &code, "get", &["a"]).unwrap_err();
    assert_eq!(failed.kind, FailureKind::OutOfFuel);
    sim.set_fuel_limit(&code, None);
    assert_eq!(invoke(&sim, &code, "get", &["a"]).unwrap().fuel_used, used);
}

#[test]
fn simulations_run_inline_on_contract_threads_and_in_parallel() {
    let (sim, _dir) = simulator();
    let code = sim.deploy(&kv()).unwrap();
    let expected = invoke(&sim, &code, "get", &["a"]).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let sim = sim.clone();
            let expected = expected.clone();
            sim.clone()
                .spawn_contract_thread(&format!("t{i}"), move || {
                    for _ in 0..50 {
                        assert_eq!(invoke(&sim, &code, "get", &["a"]).unwrap(), expected);
                    }
                })
                .unwrap()
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn key_history_reaches_the_contract_through_the_harness() {
    // `weft_invoke` opens the history of "k", reads every entry and responds with the last one.
    let wasm = wat::parse_str(
        r#"(module
  (import "weft_v1" "history_open" (func $open (param i32 i32) (result i64)))
  (import "weft_v1" "history_next" (func $next (param i32) (result i64)))
  (import "weft_v1" "take_result" (func $take (param i32 i32) (result i32)))
  (import "weft_v1" "state_put" (func $put (param i32 i32 i32 i32) (result i32)))
  (import "weft_v1" "tx_field" (func $field (param i32) (result i64)))
  (import "weft_v1" "set_response" (func $resp (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "kput")
  (func (export "weft_init") (result i32) i32.const 0)
  (func (export "weft_invoke") (result i32) (local $it i32) (local $n i64) (local $len i32)
    ;; function "put": write k = tx id; otherwise read the history.
    (drop (call $take (i32.const 100) (i32.wrap_i64 (call $field (i32.const 0)))))
    (if (i32.eq (i32.load (i32.const 100)) (i32.load (i32.const 1))) (then
      (local.set $len (i32.wrap_i64 (call $field (i32.const 2))))
      (drop (call $take (i32.const 200) (local.get $len)))
      (drop (call $put (i32.const 0) (i32.const 1) (i32.const 200) (local.get $len)))
      (drop (call $resp (i32.const 200) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
      (return (i32.const 0))))
    (local.set $it (i32.wrap_i64 (call $open (i32.const 0) (i32.const 1))))
    (block $done (loop $l
      (local.set $n (call $next (local.get $it)))
      (br_if $done (i64.lt_s (local.get $n) (i64.const 0)))
      (local.set $len (i32.wrap_i64 (local.get $n)))
      (drop (call $take (i32.const 1000) (local.get $len)))
      (br $l)))
    (drop (call $resp (i32.const 200) (i32.const 0) (i32.const 0) (i32.const 1000) (local.get $len)))
    i32.const 0))"#,
    )
    .unwrap();
    let mut h = weft_runtime::Harness::new().unwrap();
    h.deploy("hist", &wasm).unwrap();
    h.submit("hist", "put", &[""; 0]).unwrap().unwrap();
    h.submit("hist", "put", &[""; 0]).unwrap().unwrap();
    let done = h.query("hist", "history", &[""; 0]).unwrap().unwrap();
    let header = weft_abi::HistoryEntryHeader::from_bytes(&done.response.payload).unwrap();
    assert_eq!((header.block_num, header.tx_num, header.is_delete), (2, 0, 0));
    let rest = &done.response.payload[weft_abi::HistoryEntryHeader::SIZE..];
    assert_eq!(rest, b"tx00000001tx00000001");
}
