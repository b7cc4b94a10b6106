//! Fuel floods: the wall time of ONE fuel-exhausted invocation, for a corpus of contracts that
//! each spend the whole default budget one way (one per operator class, one per host function,
//! plus ordinary Rust contracts). Fuel means time when every row takes about as long as every
//! other: the target is max <= 3x min and max <= 0.5 s on a quiet machine.
//!
//! Run with: `cargo bench -p weft-runtime --bench fuel_floods`
//! (`-- <filter>` runs the rows whose name contains `<filter>`; `WEFT_FLOOD_FUEL=<n>` sets the
//! budget instead of the default one, `WEFT_FLOOD_RUNS=<n>` the runs after the first;
//! `-- --memory-state` reads an in-memory state instead of the peer's.)
//!
//! The contracts read and write the state a peer gives them: a namespace of a sled-backed
//! ledger (`weft_ledger`) holding 10,000 other keys besides the ones the floods use, with a
//! key history, because the host-call prices are set for that state, not for a map in memory.
//!
//! Every run must end with "out of fuel" (the bench panics otherwise): a row that ended any
//! other way would not measure the budget. The first call after deploy is reported apart from
//! the best of the later ones, so a first-call slowdown shows up.

use std::sync::Arc;
use std::time::{Duration, Instant};

use weft_ledger::Ledger;
use weft_proto::v1::{KvWrite, NsReadWriteSet, TxValidationCode};
use weft_protocol::policy;
use weft_protocol::testing::{TestNetwork, TxSpec};
use weft_runtime::{FailureKind, Invocation, RuntimeConfig, SharedHistory, SharedState, Simulator};
use weft_rwset::{MemoryHistory, MemoryState, Mode, Version};

const PRELUDE: &str = r#"
  (import "weft_v1" "take_result" (func $take_result (param i32 i32) (result i32)))
  (import "weft_v1" "tx_field" (func $tx_field (param i32) (result i64)))
  (import "weft_v1" "state_get" (func $state_get (param i32 i32) (result i64)))
  (import "weft_v1" "state_put" (func $state_put (param i32 i32 i32 i32) (result i32)))
  (import "weft_v1" "state_del" (func $state_del (param i32 i32) (result i32)))
  (import "weft_v1" "range_open" (func $range_open (param i32 i32 i32 i32) (result i64)))
  (import "weft_v1" "range_next" (func $range_next (param i32) (result i64)))
  (import "weft_v1" "range_close" (func $range_close (param i32) (result i32)))
  (import "weft_v1" "history_open" (func $history_open (param i32 i32) (result i64)))
  (import "weft_v1" "history_next" (func $history_next (param i32) (result i64)))
  (import "weft_v1" "emit_event" (func $emit_event (param i32 i32 i32 i32) (result i32)))
  (import "weft_v1" "set_response" (func $set_response (param i32 i32 i32 i32 i32) (result i32)))
  (import "weft_v1" "log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 4)
  (table 8 funcref)
  (elem (i32.const 0) $leaf $leaf $leaf $leaf $leaf $leaf $leaf $leaf)
  (type $t (func (param i32) (result i32)))
  (global $g (mut i32) (i32.const 0))
  (data (i32.const 0) "k")
  (data (i32.const 16) "evt")
  (data $seg "0123456789abcdef0123456789abcdef")
  (func $leaf (param $x i32) (result i32) (local.get $x))
  (func $empty)
  (func (export "weft_init") (result i32) i32.const 0)
"#;

/// (row name, loop body; the loop is `(loop $l BODY (br $l))` unless the body starts with
/// `!`, in which case the body is the whole function body). Locals: `$i $x` i32, `$y` i64,
/// `$f` f64.
const ROWS: &[(&str, &str)] = &[
    ("op: empty loop (br)", "!(loop $l (br $l))"),
    ("op: br_if loop", "!(loop $l (br_if $l (i32.const 1)))"),
    ("op: br_table loop", "!(loop $l (br_table $l $l (local.get $i)))"),
    (
        "op: if/else",
        "(if (local.get $x) (then (local.set $x (i32.const 0))) (else (local.set $x (i32.const 1))))",
    ),
    ("op: nested blocks + br", "(block (block (block (br 2))))"),
    (
        "op: i32 arithmetic x16",
        "(local.set $x (i32.add (i32.xor (i32.mul (i32.add (i32.xor (i32.mul (i32.add (i32.xor (local.get $x) (i32.const 3)) (i32.const 5)) (i32.const 7)) (i32.const 9)) (i32.const 11)) (i32.const 13)) (i32.const 15)) (i32.const 17)))",
    ),
    (
        "op: i64 arithmetic x8",
        "(local.set $y (i64.rotl (i64.add (i64.mul (i64.xor (local.get $y) (i64.const 3)) (i64.const 5)) (i64.const 7)) (i64.const 9)))",
    ),
    ("op: locals only", "(local.set $x (local.get $i)) (local.set $i (local.get $x))"),
    (
        "op: i64 division",
        "(local.set $y (i64.div_u (i64.const 0x7fffffffffff) (i64.or (local.get $y) (i64.const 3))))",
    ),
    (
        "op: i32 remainder",
        "(local.set $x (i32.rem_u (i32.const 0x7fffffff) (i32.or (local.get $x) (i32.const 3))))",
    ),
    (
        "op: f64 add/mul",
        "(local.set $f (f64.add (f64.mul (local.get $f) (f64.const 1.0000001)) (f64.const 0.5)))",
    ),
    ("op: f64 div/sqrt", "(local.set $f (f64.sqrt (f64.div (local.get $f) (f64.const 1.1))))"),
    (
        "op: float conversions",
        "(local.set $f (f64.convert_i64_s (i64.trunc_sat_f64_s (local.get $f))))",
    ),
    (
        "op: loads/stores",
        "(i32.store (i32.and (local.get $x) (i32.const 0xfffc)) (i32.add (i32.load (i32.const 64)) (i32.const 1))) (local.set $x (i32.add (local.get $x) (i32.const 4)))",
    ),
    ("op: globals", "(global.set $g (i32.add (global.get $g) (i32.const 1)))"),
    ("op: select", "(local.set $x (select (local.get $x) (i32.const 1) (local.get $x)))"),
    ("op: call (empty)", "(call $empty)"),
    ("op: call (leaf)", "(local.set $x (call $leaf (local.get $x)))"),
    (
        "op: call_indirect",
        "(local.set $x (call_indirect (type $t) (local.get $x) (i32.and (local.get $x) (i32.const 7))))",
    ),
    ("op: memory.size", "(local.set $x (memory.size))"),
    ("op: memory.grow 0", "(local.set $x (memory.grow (i32.const 0)))"),
    ("op: memory.grow refused", "(local.set $x (memory.grow (i32.const 2000)))"),
    ("op: memory.grow past 4 GiB", "(local.set $x (memory.grow (i32.const 100000)))"),
    ("op: memory.fill len 0 (const)", "(memory.fill (local.get $x) (i32.const 0) (i32.const 0))"),
    ("op: memory.fill len 0 (dynamic)", "(memory.fill (i32.const 0) (i32.const 0) (local.get $i))"),
    ("op: memory.fill 64 B", "(memory.fill (i32.const 0) (local.get $x) (i32.const 64))"),
    ("op: memory.fill 64 KiB", "(memory.fill (i32.const 0) (local.get $x) (i32.const 65536))"),
    ("op: memory.copy len 0", "(memory.copy (local.get $x) (i32.const 8) (i32.const 0))"),
    ("op: memory.copy 8 B (inline)", "(memory.copy (i32.const 64) (i32.const 8) (i32.const 8))"),
    ("op: memory.copy 64 KiB", "(memory.copy (i32.const 65536) (i32.const 0) (i32.const 65536))"),
    ("op: memory.init 32 B", "(memory.init $seg (i32.const 128) (i32.const 0) (i32.const 32))"),
    ("op: data.drop", "(data.drop $seg)"),
    ("op: table.get/set", "(table.set (i32.const 1) (table.get (i32.const 0)))"),
    ("op: table.size", "(local.set $x (table.size))"),
    ("op: table.grow 0", "(local.set $x (table.grow (ref.null func) (i32.const 0)))"),
    ("op: table.fill 0", "(table.fill (i32.const 0) (ref.null func) (i32.const 0))"),
    ("op: table.copy 4", "(table.copy (i32.const 4) (i32.const 0) (i32.const 4))"),
    ("host: tx_field", "(drop (call $tx_field (i32.const 0)))"),
    (
        "host: tx_field + take_result",
        "(drop (call $take_result (i32.const 256) (i32.wrap_i64 (call $tx_field (i32.const 0)))))",
    ),
    ("host: state_get missing", "(drop (call $state_get (i32.const 16) (i32.const 3)))"),
    (
        "host: state_get 1 KiB + take",
        "(drop (call $take_result (i32.const 4096) (i32.wrap_i64 (call $state_get (i32.const 0) (i32.const 1)))))",
    ),
    (
        "host: state_put same key",
        "(drop (call $state_put (i32.const 0) (i32.const 1) (i32.const 64) (i32.const 64)))",
    ),
    (
        "host: state_put new keys",
        "(i32.store (i32.const 32) (local.get $x)) (local.set $x (i32.add (local.get $x) (i32.const 1))) (drop (call $state_put (i32.const 32) (i32.const 4) (i32.const 64) (i32.const 16)))",
    ),
    ("host: state_del", "(drop (call $state_del (i32.const 0) (i32.const 1)))"),
    (
        "host: range_open/close",
        "(drop (call $range_close (i32.wrap_i64 (call $range_open (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))))",
    ),
    (
        "host: range_next done",
        "!(local.set $x (i32.wrap_i64 (call $range_open (i32.const 16) (i32.const 3) (i32.const 16) (i32.const 3)))) (loop $l (drop (call $range_next (local.get $x))) (br $l))",
    ),
    ("host: range_next unknown", "(drop (call $range_next (i32.const 99)))"),
    ("host: range_close unknown", "(drop (call $range_close (i32.const 99)))"),
    ("host: history_open", "(drop (call $history_open (i32.const 0) (i32.const 1)))"),
    ("host: history_next unknown", "(drop (call $history_next (i32.const 99)))"),
    (
        "host: emit_event",
        "(drop (call $emit_event (i32.const 16) (i32.const 3) (i32.const 64) (i32.const 64)))",
    ),
    (
        "host: set_response",
        "(drop (call $set_response (i32.const 200) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))",
    ),
    ("host: log 64 B", "(drop (call $log (i32.const 2) (i32.const 64) (i32.const 64)))"),
];

fn module(body: &str) -> Vec<u8> {
    let body = match body.strip_prefix('!') {
        Some(whole) => whole.to_owned(),
        None => format!("(loop $l {body} (br $l))"),
    };
    wat::parse_str(format!(
        r#"(module {PRELUDE}
          (func (export "weft_invoke") (result i32)
            (local $i i32) (local $x i32) (local $y i64) (local $f f64)
            (local.set $f (f64.const 1))
            {body}
            i32.const 0))"#
    ))
    .unwrap_or_else(|e| panic!("flood module {body}: {e}"))
}

struct Row {
    name: String,
    wasm: Vec<u8>,
    function: &'static str,
    mode: Mode,
}

fn rows(filter: Option<&str>) -> Vec<Row> {
    let mut rows: Vec<Row> = ROWS
        .iter()
        .map(|(name, body)| Row {
            name: (*name).into(),
            wasm: module(body),
            function: "run",
            mode: if name.contains("history") { Mode::Query } else { Mode::Invoke },
        })
        .collect();
    let spin = std::fs::read(weft_contract_artifacts::MISBEHAVE_LOOP).expect("built loop fixture");
    rows.push(Row {
        name: "rust: spin loop".into(),
        wasm: spin,
        function: "Spin",
        mode: Mode::Invoke,
    });
    rows.retain(|r| filter.is_none_or(|f| r.name.contains(f)));
    rows
}

/// The keys the floods read: `k` (1 KiB), `r000`..`r063` (a range), each written twice so
/// they have a history.
fn flood_keys() -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut keys = vec![(b"k".to_vec(), vec![7u8; 1024])];
    keys.extend((0..64u32).map(|i| (format!("r{i:03}").into_bytes(), b"v".to_vec())));
    keys
}

/// What the contracts read: the state and history of namespace `flood`.
struct Peer {
    state: SharedState,
    history: SharedHistory,
    /// Keeps the ledger's directory until the bench ends.
    _dir: Option<tempfile::TempDir>,
}

impl Peer {
    /// A sled-backed ledger, as on a peer: the flood keys (twice, for a history) and 10,000
    /// other keys, committed in blocks of 500 transactions.
    fn ledger() -> Peer {
        let dir = tempfile::tempdir().expect("temporary directory");
        let net = TestNetwork::new("bench", 1, &[("flood", policy::peer("Org1"))]);
        let ledger = Ledger::open(dir.path().join("ledger"), net.config.clone()).expect("ledger");
        let mut writes: Vec<(Vec<u8>, Vec<u8>)> = (0..10_000u32)
            .map(|i| (format!("asset{i:08}").into_bytes(), format!("value {i}").into_bytes()))
            .collect();
        writes.extend(flood_keys());
        writes.extend(flood_keys());
        let (client, peer) = (&net.org(0).client, &net.org(0).peer);
        for (b, chunk) in writes.chunks(500).enumerate() {
            let envelopes = chunk
                .iter()
                .enumerate()
                .map(|(j, (key, value))| {
                    let rwset = NsReadWriteSet {
                        namespace: "flood".into(),
                        writes: vec![KvWrite {
                            key: key.clone(),
                            is_delete: false,
                            value: value.clone(),
                        }],
                        ..Default::default()
                    };
                    net.envelope(TxSpec::new(
                        client,
                        "flood",
                        format!("setup-{b}-{j}"),
                        rwset,
                        vec![peer],
                    ))
                    .1
                })
                .collect();
            let outcome = ledger.append(ledger.next_block(envelopes)).expect("setup block commits");
            assert!(outcome.codes.iter().all(|c| *c == TxValidationCode::Valid));
        }
        let ns = Arc::new(ledger.shared_namespace("flood"));
        Peer { state: ns.clone(), history: ns, _dir: Some(dir) }
    }

    /// The same keys in memory (no history).
    fn memory() -> Peer {
        let mut state = MemoryState::default();
        for (key, value) in flood_keys() {
            state.insert(&key, &value, Version { block_num: 1, tx_num: 0 });
        }
        Peer { state: Arc::new(state), history: Arc::new(MemoryHistory::default()), _dir: None }
    }
}

fn run(
    sim: &Simulator,
    row: &Row,
    code: &weft_runtime::CodeHash,
    peer: &Peer,
) -> Result<Duration, Duration> {
    let inv = Invocation::new("flood", row.function, &[""; 0]);
    let started = Instant::now();
    let outcome = match row.mode {
        Mode::Invoke => sim.invoke(code, &inv, peer.state.clone(), None),
        Mode::Query => sim.query(code, &inv, peer.state.clone(), Some(peer.history.clone())),
    };
    let elapsed = started.elapsed();
    let outcome = match outcome {
        Err(weft_runtime::RuntimeError::Deadline) => return Err(elapsed),
        other => other.expect("no node failure"),
    };
    let failure = outcome.expect_err("the flood runs out of fuel");
    assert_eq!(failure.kind, FailureKind::OutOfFuel, "{}: {}", row.name, failure.message);
    Ok(elapsed)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let fuel = std::env::var("WEFT_FLOOD_FUEL")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(weft_runtime::DEFAULT_FUEL);
    let later: usize =
        std::env::var("WEFT_FLOOD_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    let dir = std::env::temp_dir().join(format!("weft-fuel-floods-{}", std::process::id()));
    let config =
        RuntimeConfig { fuel_per_invocation: fuel, worker_threads: 1, ..RuntimeConfig::default() };
    let sim = Simulator::open(&dir, config).unwrap();
    let in_memory = std::env::args().any(|a| a == "--memory-state");
    let peer = if in_memory { Peer::memory() } else { Peer::ledger() };

    println!(
        "fuel budget per invocation: {fuel}; state: {}",
        if in_memory { "in memory" } else { "sled-backed ledger, 10,064 keys" }
    );
    println!("{:<34} {:>10} {:>10} {:>10}", "flood", "first ms", "best ms", "ns/Mfuel");
    println!("(max and min below are over the slower of the first and the best later run)");
    let mut best_all = Vec::new();
    for row in rows(args.first().map(String::as_str)) {
        let code = sim.deploy(&row.wasm).expect("flood module deploys");
        let first = run(&sim, &row, &code, &peer);
        let best = (0..later)
            .map(|_| run(&sim, &row, &code, &peer))
            .min_by_key(|r| r.map_or(Duration::MAX, |d| d))
            .unwrap_or(first);
        let ms = |r: Result<Duration, Duration>| match r {
            Ok(d) => format!("{:.1}", d.as_secs_f64() * 1e3),
            Err(d) => format!("DEADLINE {:.0}", d.as_secs_f64() * 1e3),
        };
        let worst = first.unwrap_or_else(|d| d).max(best.unwrap_or_else(|d| d));
        println!(
            "{:<34} {:>10} {:>10} {:>10.0}",
            row.name,
            ms(first),
            ms(best),
            best.unwrap_or_else(|d| d).as_nanos() as f64 / (fuel as f64 / 1e6)
        );
        best_all.push((row.name, worst));
    }
    if let (Some(min), Some(max)) =
        (best_all.iter().min_by_key(|r| r.1), best_all.iter().max_by_key(|r| r.1))
    {
        println!(
            "min {:.1} ms ({}), max {:.1} ms ({}), max/min {:.2}x",
            min.1.as_secs_f64() * 1e3,
            min.0,
            max.1.as_secs_f64() * 1e3,
            max.0,
            max.1.as_secs_f64() / min.1.as_secs_f64()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
