//! WAT fixtures shared by the integration tests: a prelude importing every host function with
//! small helpers, a key/value contract used as the "normal" contract, and the misbehaving
//! shapes Rust cannot (or should not) produce.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use weft_runtime::{Invocation, Outcome, RuntimeConfig, SharedState, Simulator};
use weft_rwset::{MemoryState, Version};

/// Imports, memory, a bump allocator from 64 KiB... and helpers:
/// * `$take(n) -> ptr`: copy the result buffer (n bytes) into fresh memory;
/// * `$field(id) -> ptr` with the length in `$len`;
/// * `$arg(i) -> ptr` with the length in `$len` (arguments list);
/// * `$respond(status, ptr, len)`: set the response message empty and the payload;
/// * `$is(ptr, len, str_ptr, str_len) -> i32`: byte equality.
pub const PRELUDE: &str = r#"
  (import "weft_v1" "take_result" (func $take_result (param i32 i32) (result i32)))
  (import "weft_v1" "tx_field" (func $tx_field (param i32) (result i64)))
  (import "weft_v1" "state_get" (func $state_get (param i32 i32) (result i64)))
  (import "weft_v1" "state_put" (func $state_put (param i32 i32 i32 i32) (result i32)))
  (import "weft_v1" "state_del" (func $state_del (param i32 i32) (result i32)))
  (import "weft_v1" "range_open" (func $range_open (param i32 i32 i32 i32) (result i64)))
  (import "weft_v1" "range_next" (func $range_next (param i32) (result i64)))
  (import "weft_v1" "range_close" (func $range_close (param i32) (result i32)))
  (import "weft_v1" "emit_event" (func $emit_event (param i32 i32 i32 i32) (result i32)))
  (import "weft_v1" "set_response" (func $set_response (param i32 i32 i32 i32 i32) (result i32)))
  (import "weft_v1" "log" (func $log (param i32 i32 i32) (result i32)))
  (import "weft_v1" "abort" (func $abort (param i32 i32)))
  (memory (export "memory") 2)
  (global $bump (mut i32) (i32.const 65536))
  (global $len (mut i32) (i32.const 0))
  (global $args (mut i32) (i32.const 0))
  (func $alloc (param $n i32) (result i32)
    (local $p i32)
    global.get $bump
    local.set $p
    (global.set $bump (i32.add (global.get $bump) (local.get $n)))
    (if (i32.gt_u (global.get $bump) (i32.mul (memory.size) (i32.const 65536)))
      (then (drop (memory.grow (i32.add (i32.const 1)
        (i32.div_u (i32.sub (global.get $bump) (i32.mul (memory.size) (i32.const 65536)))
                   (i32.const 65536)))))))
    local.get $p)
  (func $take (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (call $alloc (local.get $n)))
    (drop (call $take_result (local.get $p) (local.get $n)))
    (global.set $len (local.get $n))
    local.get $p)
  (func $field (param $id i32) (result i32)
    (call $take (i32.wrap_i64 (call $tx_field (local.get $id)))))
  (func $arg (param $i i32) (result i32)
    (local $p i32)
    (if (i32.eqz (global.get $args)) (then (global.set $args (call $field (i32.const 1)))))
    (local.set $p (i32.add (global.get $args) (i32.const 4)))
    (block $done (loop $next
      (br_if $done (i32.eqz (local.get $i)))
      (local.set $p (i32.add (i32.add (local.get $p) (i32.const 4)) (i32.load (local.get $p))))
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (br $next)))
    (global.set $len (i32.load (local.get $p)))
    (i32.add (local.get $p) (i32.const 4)))
  (func $respond (param $status i32) (param $p i32) (param $n i32)
    (drop (call $set_response (local.get $status) (i32.const 0) (i32.const 0) (local.get $p) (local.get $n))))
  (func $is (param $a i32) (param $an i32) (param $b i32) (param $bn i32) (result i32)
    (if (i32.ne (local.get $an) (local.get $bn)) (then (return (i32.const 0))))
    (block $done (loop $next
      (br_if $done (i32.eqz (local.get $an)))
      (if (i32.ne (i32.load8_u (local.get $a)) (i32.load8_u (local.get $b))) (then (return (i32.const 0))))
      (local.set $a (i32.add (local.get $a) (i32.const 1)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (local.set $an (i32.sub (local.get $an) (i32.const 1)))
      (br $next)))
    i32.const 1)
  (func $respond_i32 (param $v i32)
    (i32.store (i32.const 512) (local.get $v))
    (call $respond (i32.const 200) (i32.const 512) (i32.const 4)))
"#;

/// A module from the prelude plus `body`; `weft_init` responds 200 unless `body` defines it.
pub fn contract(body: &str) -> Vec<u8> {
    let init = if body.contains("\"weft_init\"") {
        ""
    } else {
        r#"(func (export "weft_init") (result i32) (call $respond (i32.const 200) (i32.const 0) (i32.const 0)) i32.const 0)"#
    };
    wat::parse_str(format!("(module {PRELUDE} {init} {body})")).expect("fixture is valid WAT")
}

/// A key/value contract: `put k v`, `get k` (404 if absent), `del k`, `scan start end`
/// (payload: number of entries, u32 LE), `event payload`, `fail` (500), `log line`,
/// `putget k v` (put then get: shows no read-your-own-writes). Init writes `init=done`.
pub fn kv() -> Vec<u8> {
    contract(KV_BODY)
}

pub const KV_BODY: &str = r#"
  (data (i32.const 100) "put\00\00\00\00\00\00\00get\00\00\00\00\00\00\00del\00\00\00\00\00\00\00scan\00\00\00\00\00\00event\00\00\00\00\00fail\00\00\00\00\00\00failed on purpose\00\00\00log\00\00\00\00\00\00\00putget\00\00\00\00initdone\00\00evt\00\00\00\00\00\00\00not found\00")
  (func (export "weft_init") (result i32)
    (drop (call $state_put (i32.const 200) (i32.const 4) (i32.const 204) (i32.const 4)))
    (call $respond (i32.const 200) (i32.const 0) (i32.const 0))
    i32.const 0)
  (func (export "weft_invoke") (result i32)
    (local $f i32) (local $fn i32) (local $k i32) (local $kn i32) (local $v i32) (local $vn i32)
    (local $n i64) (local $it i32) (local $count i32)
    (local.set $f (call $field (i32.const 0)))
    (local.set $fn (global.get $len))
    (if (call $is (local.get $f) (local.get $fn) (i32.const 100) (i32.const 3)) (then
      (local.set $k (call $arg (i32.const 0))) (local.set $kn (global.get $len))
      (local.set $v (call $arg (i32.const 1))) (local.set $vn (global.get $len))
      (call $respond_i32 (call $state_put (local.get $k) (local.get $kn) (local.get $v) (local.get $vn)))
      (return (i32.const 0))))
    (if (call $is (local.get $f) (local.get $fn) (i32.const 110) (i32.const 3)) (then
      (local.set $k (call $arg (i32.const 0))) (local.set $kn (global.get $len))
      (local.set $n (call $state_get (local.get $k) (local.get $kn)))
      (if (i64.lt_s (local.get $n) (i64.const 0)) (then
        (drop (call $set_response (i32.const 404) (i32.const 220) (i32.const 9) (i32.const 0) (i32.const 0)))
        (return (i32.const 0))))
      (local.set $v (call $take (i32.wrap_i64 (local.get $n))))
      (call $respond (i32.const 200) (local.get $v) (global.get $len))
      (return (i32.const 0))))
    (if (call $is (local.get $f) (local.get $fn) (i32.const 120) (i32.const 3)) (then
      (local.set $k (call $arg (i32.const 0))) (local.set $kn (global.get $len))
      (call $respond_i32 (call $state_del (local.get $k) (local.get $kn)))
      (return (i32.const 0))))
    (if (call $is (local.get $f) (local.get $fn) (i32.const 130) (i32.const 4)) (then
      (local.set $k (call $arg (i32.const 0))) (local.set $kn (global.get $len))
      (local.set $v (call $arg (i32.const 1))) (local.set $vn (global.get $len))
      (local.set $it (i32.wrap_i64 (call $range_open (local.get $k) (local.get $kn) (local.get $v) (local.get $vn))))
      (block $done (loop $next
        (local.set $n (call $range_next (local.get $it)))
        (br_if $done (i64.lt_s (local.get $n) (i64.const 0)))
        (drop (call $take (i32.wrap_i64 (local.get $n))))
        (local.set $count (i32.add (local.get $count) (i32.const 1)))
        (br $next)))
      (drop (call $range_close (local.get $it)))
      (call $respond_i32 (local.get $count))
      (return (i32.const 0))))
    (if (call $is (local.get $f) (local.get $fn) (i32.const 140) (i32.const 5)) (then
      (local.set $v (call $arg (i32.const 0))) (local.set $vn (global.get $len))
      (call $respond_i32 (call $emit_event (i32.const 210) (i32.const 3) (local.get $v) (local.get $vn)))
      (return (i32.const 0))))
    (if (call $is (local.get $f) (local.get $fn) (i32.const 150) (i32.const 4)) (then
      (drop (call $set_response (i32.const 500) (i32.const 160) (i32.const 17) (i32.const 0) (i32.const 0)))
      (return (i32.const 0))))
    (if (call $is (local.get $f) (local.get $fn) (i32.const 180) (i32.const 3)) (then
      (local.set $v (call $arg (i32.const 0))) (local.set $vn (global.get $len))
      (call $respond_i32 (call $log (i32.const 3) (local.get $v) (local.get $vn)))
      (return (i32.const 0))))
    (if (call $is (local.get $f) (local.get $fn) (i32.const 190) (i32.const 6)) (then
      (local.set $k (call $arg (i32.const 0))) (local.set $kn (global.get $len))
      (local.set $v (call $arg (i32.const 1))) (local.set $vn (global.get $len))
      (drop (call $state_put (local.get $k) (local.get $kn) (local.get $v) (local.get $vn)))
      (local.set $n (call $state_get (local.get $k) (local.get $kn)))
      (if (i64.lt_s (local.get $n) (i64.const 0)) (then
        (call $respond (i32.const 200) (i32.const 0) (i32.const 0))
        (return (i32.const 0))))
      (local.set $v (call $take (i32.wrap_i64 (local.get $n))))
      (call $respond (i32.const 200) (local.get $v) (global.get $len))
      (return (i32.const 0))))
    (drop (call $set_response (i32.const 400) (i32.const 220) (i32.const 9) (i32.const 0) (i32.const 0)))
    i32.const 0)
"#;

/// A simulator in a fresh directory (kept alive by the returned guard).
pub fn simulator() -> (Simulator, tempfile::TempDir) {
    simulator_with(RuntimeConfig::default())
}

pub fn simulator_with(config: RuntimeConfig) -> (Simulator, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (Simulator::open(dir.path(), config).unwrap(), dir)
}

/// Committed state with a few keys.
pub fn state() -> SharedState {
    let mut s = MemoryState::default();
    s.insert(b"a", b"apple", Version { block_num: 1, tx_num: 0 });
    s.insert(b"b", b"banana", Version { block_num: 1, tx_num: 1 });
    s.insert(b"c", b"cherry", Version { block_num: 2, tx_num: 0 });
    Arc::new(s)
}

/// Invokes `function` with `args` on contract `code` as namespace "kv".
pub fn invoke(
    sim: &Simulator,
    code: &weft_runtime::CodeHash,
    function: &str,
    args: &[&str],
) -> Outcome {
    let mut inv = Invocation::new("kv", function, args);
    inv.tx_id = "tx-1".into();
    sim.invoke(code, &inv, state(), None).expect("no node failure")
}

/// Asserts the normal contract still works in `sim`.
pub fn normal_contract_still_works(sim: &Simulator) {
    let code = sim.deploy(&kv()).unwrap();
    let ok = invoke(sim, &code, "get", &["b"]).expect("kv get succeeds");
    assert_eq!(ok.response.payload, b"banana");
    let ok = invoke(sim, &code, "put", &["k", "v"]).expect("kv put succeeds");
    assert_eq!(ok.rwset.writes.len(), 1);
}
