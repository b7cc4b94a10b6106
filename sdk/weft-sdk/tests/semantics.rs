//! Each simulation rule of `docs/semantics.md`, shown holding in the native test context
//! (`MockStub`), through a probe contract written with the SDK's public API.

use prost::Message;
use serde::{Deserialize, Serialize};
use weft_sdk::testing::{
    KvRead, KvWrite, MockStub, RangeQueryInfo, TxRecord, TxValidationCode, Version,
};
use weft_sdk::{Context, ContractError, Timestamp, composite};

/// One state operation of a script.
#[derive(Serialize, Deserialize)]
enum Op {
    Get(String),
    Put(String, String),
    Del(String),
}

/// `(tx id, block, index, is delete, value)` of a committed write.
type Change = (String, u64, u64, bool, String);

#[derive(Default)]
struct Probe;

#[weft_sdk::contract]
impl Probe {
    /// Runs a script of operations; returns what each `Get` saw (`null` for absent).
    #[transaction]
    fn run(&self, ctx: &mut Context, ops: Vec<Op>) -> Result<Vec<Option<String>>, ContractError> {
        let mut seen = Vec::new();
        for op in ops {
            match op {
                Op::Get(k) => seen.push(ctx.get(&k)?.map(|v| String::from_utf8(v).unwrap())),
                Op::Put(k, v) => ctx.put(&k, &v)?,
                Op::Del(k) => ctx.del(&k)?,
            }
        }
        Ok(seen)
    }

    /// Scans `[start, end)`, consuming at most `limit` entries (0: all); writes `written`
    /// while iterating. Returns the keys consumed.
    #[transaction]
    fn scan(
        &self,
        ctx: &mut Context,
        start: String,
        end: String,
        limit: usize,
        written: String,
    ) -> Result<Vec<String>, ContractError> {
        let mut keys = Vec::new();
        for kv in ctx.range(&start, &end)? {
            let kv = kv?;
            if !written.is_empty() {
                ctx.put(&written, b"during-scan")?;
            }
            keys.push(String::from_utf8_lossy(&kv.key).into_owned());
            if keys.len() == limit {
                break;
            }
        }
        Ok(keys)
    }

    /// Writes a composite key.
    #[transaction]
    fn put_composite(
        &self,
        ctx: &mut Context,
        object_type: String,
        attributes: Vec<String>,
    ) -> Result<(), ContractError> {
        let attributes: Vec<&str> = attributes.iter().map(String::as_str).collect();
        ctx.put(composite::create_composite_key(&object_type, &attributes)?, b"x")?;
        Ok(())
    }

    /// Partial composite key query: the attributes of every matching key.
    #[transaction]
    fn find(
        &self,
        ctx: &mut Context,
        object_type: String,
        attributes: Vec<String>,
    ) -> Result<Vec<Vec<String>>, ContractError> {
        let attributes: Vec<&str> = attributes.iter().map(String::as_str).collect();
        let mut found = Vec::new();
        for kv in ctx.composite_range(&object_type, &attributes)? {
            found.push(composite::split_composite_key(&kv?.key)?.1);
        }
        Ok(found)
    }

    /// `(tx id, block, index, is delete, value)` of each committed write of `key`.
    #[transaction]
    fn history(&self, ctx: &mut Context, key: String) -> Result<Vec<Change>, ContractError> {
        let mut out = Vec::new();
        for m in ctx.history(&key)? {
            let m = m?;
            out.push((m.tx_id, m.block_num, m.tx_num, m.is_delete, String::from_utf8(m.value)?));
        }
        Ok(out)
    }

    /// Emits `count` events named `e0`, `e1`...
    #[transaction]
    fn emit(&self, ctx: &mut Context, count: u32) -> Result<(), ContractError> {
        for i in 0..count {
            ctx.set_event(&format!("e{i}"), i.to_string())?;
        }
        Ok(())
    }

    /// The transaction fields as one line of text.
    #[transaction]
    fn fields(&self, ctx: &mut Context) -> String {
        let creator = ctx.creator();
        let transient: Vec<String> = ctx
            .transient()
            .into_iter()
            .map(|(k, v)| format!("{k}={}", String::from_utf8_lossy(&v)))
            .collect();
        format!(
            "{} {} {} {} {} {}.{} [{}]",
            ctx.contract_name(),
            ctx.channel(),
            ctx.tx_id(),
            creator.msp_id,
            String::from_utf8_lossy(&creator.public_key),
            ctx.timestamp().seconds,
            ctx.timestamp().nanos,
            transient.join(",")
        )
    }

    /// Tries to write and ignores a refusal: returns success either way.
    #[transaction]
    fn try_write(&self, ctx: &mut Context) -> String {
        format!("refused={}", ctx.put("a", "x").is_err())
    }

    /// Writes `count` values of 1 MiB under fresh keys.
    #[transaction]
    fn fill(&self, ctx: &mut Context, count: u32) -> Result<(), ContractError> {
        let value = vec![b'v'; 1 << 20];
        for i in 0..count {
            ctx.put(format!("big{i}"), &value)?;
        }
        Ok(())
    }

    /// Writes `count` values of 1 MiB under fresh keys, then reads `key`.
    #[transaction]
    fn fill_and_read(
        &self,
        ctx: &mut Context,
        count: u32,
        key: String,
    ) -> Result<(), ContractError> {
        let value = vec![b'v'; 1 << 20];
        for i in 0..count {
            ctx.put(format!("pad{i}"), &value)?;
        }
        ctx.get(&key)?;
        Ok(())
    }

    #[transaction]
    fn panic(&self, _ctx: &mut Context, message: String) {
        panic!("{message}");
    }

    #[transaction]
    fn fail(&self, ctx: &mut Context, status: i32, message: String) -> Result<(), ContractError> {
        ctx.put("written-before-failing", b"1")?;
        Err(ContractError::with_status(status, message))
    }
}

fn json(value: impl Serialize) -> String {
    serde_json::to_string(&value).unwrap()
}

fn run(stub: &mut MockStub<Probe>, ops: &[Op]) -> TxRecord {
    let record = stub.invoke("Run", &[&json(ops)]);
    assert!(record.is_success(), "{}", record.message());
    record
}

fn put(key: &str, value: &str) -> Op {
    Op::Put(key.into(), value.into())
}

fn get(key: &str) -> Op {
    Op::Get(key.into())
}

fn v(block_num: u64, tx_num: u64) -> Option<Version> {
    Some(Version { block_num, tx_num })
}

fn read(key: &str, version: Option<Version>) -> KvRead {
    KvRead { key: key.into(), version }
}

/// A stub with `a`..`e` committed in block 1 (index 0) and `c` rewritten in block 2.
fn seeded() -> MockStub<Probe> {
    let mut stub = MockStub::new("probe", Probe);
    run(&mut stub, &[put("a", "A"), put("b", "B"), put("c", "C"), put("d", "D"), put("e", "E")]);
    stub.commit();
    run(&mut stub, &[put("c", "C2")]);
    stub.commit();
    stub
}

#[test]
fn writes_never_reach_committed_state_during_simulation() {
    let mut stub = seeded();
    let tx = run(&mut stub, &[put("a", "new"), put("z", "Z")]);
    assert_eq!(stub.committed(b"a").as_deref(), Some(b"A".as_slice()));
    assert_eq!(stub.committed(b"z"), None);
    assert_eq!(tx.rwset.writes.len(), 2);
    assert_eq!(stub.pending().len(), 1);
    stub.commit();
    assert_eq!(stub.committed(b"a").as_deref(), Some(b"new".as_slice()));
}

#[test]
fn no_read_your_own_writes_for_get_and_range() {
    let mut stub = seeded();
    let tx = run(&mut stub, &[put("a", "new"), get("a"), put("zz", "1"), get("zz")]);
    assert_eq!(tx.json::<Vec<Option<String>>>(), vec![Some("A".to_owned()), None]);
    // A scan that writes a key inside its own range does not see that write.
    let scan = stub.invoke("Scan", &["a", "", "0", "bb"]);
    assert_eq!(scan.json::<Vec<String>>(), ["a", "b", "c", "d", "e"]);
}

#[test]
fn every_get_records_its_version_absent_without_one_and_once_per_key() {
    let mut stub = seeded();
    let tx = run(&mut stub, &[get("c"), get("missing"), get("a"), get("c"), get("missing")]);
    assert_eq!(tx.rwset.reads, [read("a", v(1, 0)), read("c", v(2, 0)), read("missing", None)]);
}

#[test]
fn versions_are_block_and_index_counting_invalid_transactions() {
    let mut stub = seeded();
    run(&mut stub, &[put("x", "from tx 0")]);
    // Reads "x", which tx 0 of the same block writes: invalid, whatever the versions say.
    run(&mut stub, &[get("x"), put("y", "from tx 1, invalid")]);
    run(&mut stub, &[put("z", "from tx 2")]);
    let block = stub.commit();
    assert_eq!(block.block_num, 3);
    assert_eq!(
        block.codes(),
        [TxValidationCode::Valid, TxValidationCode::MvccReadConflict, TxValidationCode::Valid]
    );
    assert_eq!(stub.committed_version(b"x"), v(3, 0));
    assert_eq!(stub.committed(b"y"), None, "an invalid transaction changes nothing");
    assert_eq!(stub.committed_version(b"z"), v(3, 2));
}

#[test]
fn commit_reports_phantoms_with_the_key_that_appeared() {
    let mut stub = seeded();
    // tx 0 inserts "ba"; tx 1 scans [a, c) to the end on the state before the block.
    run(&mut stub, &[put("ba", "phantom")]);
    let scan = stub.invoke("Scan", &["a", "c", "0", ""]);
    assert_eq!(scan.json::<Vec<String>>(), ["a", "b"]);
    let block = stub.commit();
    assert_eq!(block.codes(), [TxValidationCode::Valid, TxValidationCode::PhantomReadConflict]);
    let conflict = block.verdict(&scan.tx_id).unwrap().conflict.as_ref().unwrap();
    assert_eq!(conflict.key, b"ba");
    assert!(block.to_string().contains("PHANTOM_READ_CONFLICT"), "{block}");
}

#[test]
fn del_and_empty_put_are_deletes() {
    let mut stub = seeded();
    let tx = run(&mut stub, &[Op::Del("a".into()), put("b", "")]);
    let delete = |k: &str| KvWrite { key: k.into(), is_delete: true, value: vec![] };
    assert_eq!(tx.rwset.writes, [delete("a"), delete("b")]);
    stub.commit();
    assert_eq!((stub.committed(b"a"), stub.committed(b"b")), (None, None));
}

#[test]
fn last_write_wins_and_sets_are_sorted_by_key() {
    let mut stub = seeded();
    let tx = run(
        &mut stub,
        &[get("e"), get("a"), put("q", "1"), put("b", "1"), put("q", "2"), Op::Del("b".into())],
    );
    let keys: Vec<&[u8]> = tx.rwset.reads.iter().map(|r| r.key.as_slice()).collect();
    assert_eq!(keys, [b"a", b"e"]);
    assert_eq!(
        tx.rwset.writes,
        [
            KvWrite { key: b"b".to_vec(), is_delete: true, value: vec![] },
            KvWrite { key: b"q".to_vec(), is_delete: false, value: b"2".to_vec() },
        ]
    );
}

#[test]
fn a_range_run_to_the_end_records_the_requested_exclusive_end() {
    let mut stub = seeded();
    let tx = stub.invoke("Scan", &["b", "d", "0", ""]);
    assert_eq!(tx.json::<Vec<String>>(), ["b", "c"]);
    assert!(tx.rwset.reads.is_empty(), "range results are not plain reads");
    assert_eq!(
        tx.rwset.range_queries_info,
        [RangeQueryInfo {
            start_key: b"b".to_vec(),
            end_key: b"d".to_vec(),
            itr_exhausted: true,
            reads: vec![read("b", v(1, 0)), read("c", v(2, 0))],
        }]
    );
}

#[test]
fn a_range_stopped_early_records_the_last_key_inclusive() {
    let mut stub = seeded();
    let tx = stub.invoke("Scan", &["a", "", "2", ""]);
    assert_eq!(tx.json::<Vec<String>>(), ["a", "b"]);
    assert_eq!(
        tx.rwset.range_queries_info,
        [RangeQueryInfo {
            start_key: b"a".to_vec(),
            end_key: b"b".to_vec(),
            itr_exhausted: false,
            reads: vec![read("a", v(1, 0)), read("b", v(1, 0))],
        }]
    );
}

#[test]
fn an_empty_end_is_unbounded_and_an_empty_start_skips_composite_keys() {
    let mut stub = seeded();
    stub.submit("PutComposite", &["color~name", r#"["blue","m1"]"#]);
    let tx = stub.invoke("Scan", &["", "", "0", ""]);
    assert_eq!(tx.json::<Vec<String>>(), ["a", "b", "c", "d", "e"]);
    let info = &tx.rwset.range_queries_info[0];
    assert_eq!(info.start_key, weft_abi::composite::MIN_SIMPLE_KEY);
    assert_eq!((info.end_key.as_slice(), info.itr_exhausted), (b"".as_slice(), true));
    // Plain range bounds may not begin with 0x00.
    let bad = stub.invoke("Scan", &["\0color", "", "0", ""]);
    assert!(bad.message().contains("reserved for composite keys"), "{}", bad.message());
}

#[test]
fn keys_compare_as_raw_bytes_and_an_inverted_range_is_empty() {
    let mut stub = MockStub::new("probe", Probe);
    run(&mut stub, &[put("B", "1"), put("a", "1"), put("\u{e9}", "1"), put("aa", "1")]);
    stub.commit();
    let all = stub.invoke("Scan", &["", "", "0", ""]);
    assert_eq!(all.json::<Vec<String>>(), ["B", "a", "aa", "\u{e9}"]);
    let inverted = stub.invoke("Scan", &["b", "a", "0", ""]);
    assert!(inverted.json::<Vec<String>>().is_empty());
    assert!(inverted.rwset.range_queries_info[0].itr_exhausted);
}

#[test]
fn a_partial_composite_key_query_is_the_prefix_up_to_max_rune() {
    let mut stub = seeded();
    for attrs in [r#"["blue","m1"]"#, r#"["blue","m2"]"#, r#"["red","m3"]"#, r#"["bluer","m4"]"#] {
        stub.invoke("PutComposite", &["color~name", attrs]);
    }
    stub.commit();
    let blue = stub.invoke("Find", &["color~name", r#"["blue"]"#]);
    assert_eq!(blue.json::<Vec<Vec<String>>>(), [["blue", "m1"], ["blue", "m2"]]);
    let info = &blue.rwset.range_queries_info[0];
    assert_eq!(info.start_key, b"\0color~name\0blue\0");
    assert_eq!(info.end_key, b"\0color~name\0blue\0\xf4\x8f\xbf\xbf");
    let all = stub.invoke("Find", &["color~name", "[]"]);
    assert_eq!(all.json::<Vec<Vec<String>>>().len(), 4);
    let bad = stub.invoke("PutComposite", &["color~name", r#"["a\u0000b"]"#]);
    assert!(!bad.is_success());
}

#[test]
fn an_error_status_is_not_endorsed_and_a_low_status_becomes_500() {
    let mut stub = seeded();
    let failed = stub.invoke("Fail", &["404", "no such thing"]);
    assert_eq!((failed.response.status, failed.message()), (404, "no such thing"));
    assert_eq!(failed.rwset.writes.len(), 1, "the rwset is still reported");
    assert!(stub.pending().is_empty(), "a failed transaction is never ordered");
    assert_eq!(stub.invoke("Fail", &["200", "x"]).response.status, 500);
}

#[test]
fn simulation_is_deterministic_byte_for_byte() {
    let script = json([get("a"), put("n", "1"), get("missing"), Op::Del("b".into())]);
    let outputs: Vec<_> = (0..2)
        .map(|_| {
            let mut stub = seeded();
            let mut out = vec![];
            for (f, args) in [
                ("Run", vec![script.as_str()]),
                ("Scan", vec!["a", "", "3", ""]),
                ("Emit", vec!["3"]),
            ] {
                let tx = stub.invoke(f, &args);
                out.push((tx.rwset.encode_to_vec(), tx.response, tx.events));
            }
            out
        })
        .collect();
    assert_eq!(outputs[0], outputs[1]);
}

#[test]
fn a_write_during_a_query_fails_the_query_whatever_the_contract_returns() {
    let mut stub = seeded();
    // The contract swallows the refusal and returns success; the query fails anyway.
    let q = stub.query("TryWrite", &[]);
    assert_eq!((q.response.status, q.message()), (500, "state cannot be written during a query"));
    assert!(q.rwset.writes.is_empty());
    assert!(stub.pending().is_empty());
    // The same call as a transaction may write.
    let tx = stub.invoke("TryWrite", &[]);
    assert_eq!(tx.payload_str(), "refused=false");
    assert_eq!(tx.rwset.writes.len(), 1);
}

#[test]
fn a_panic_is_an_error_response_with_the_message() {
    let mut stub = seeded();
    let tx = stub.invoke("Panic", &["the contract gave up"]);
    assert_eq!((tx.response.status, tx.message()), (500, "the contract gave up"));
    assert!(stub.pending().is_empty());
}

#[test]
fn several_events_per_transaction_within_the_limit() {
    let mut stub = seeded();
    let tx = stub.invoke("Emit", &["3"]);
    let names: Vec<&str> = tx.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["e0", "e1", "e2"]);
    assert!(tx.events.iter().all(|e| e.tx_id == tx.tx_id && e.contract == "probe"));
    let max = weft_abi::limits::MAX_EVENTS;
    assert!(stub.invoke("Emit", &[&max.to_string()]).is_success());
    let over = stub.invoke("Emit", &[&(max + 1).to_string()]);
    assert_eq!(over.message(), "too many events in one transaction");
}

#[test]
fn transaction_fields_come_from_the_proposal() {
    let mut stub = MockStub::new("probe", Probe);
    stub.set_channel("ch1");
    stub.set_creator("Org2MSP", b"key2".to_vec());
    stub.set_next_tx_id("tx-abc");
    stub.set_next_timestamp(Timestamp { seconds: 1_000, nanos: 5, reserved: 0 });
    stub.set_next_transient("secret", b"s3");
    let tx = stub.invoke("Fields", &[]);
    assert_eq!(tx.payload_str(), "probe ch1 tx-abc Org2MSP key2 1000.5 [secret=s3]");
    // Transient data, id and timestamp were for that call only.
    let next = stub.invoke("Fields", &[]);
    assert_eq!(next.payload_str(), "probe ch1 tx2 Org2MSP key2 1001.5 []");
}

#[test]
fn history_lists_committed_writes_oldest_first() {
    let mut stub = seeded();
    stub.set_next_tx_id("deleter");
    run(&mut stub, &[Op::Del("c".into())]);
    stub.commit();
    let h = stub.query("History", &["c"]);
    let entries: Vec<Change> = h.json();
    let summary: Vec<_> = entries.iter().map(|e| (e.1, e.2, e.3, e.4.as_str())).collect();
    assert_eq!(summary, [(1, 0, false, "C"), (2, 0, false, "C2"), (3, 0, true, "")]);
    assert_eq!(entries[2].0, "deleter");
    assert!(h.rwset.reads.is_empty(), "history is not part of the read set");
    // A committed id cannot be endorsed again.
    stub.set_next_tx_id("deleter");
    assert!(!run_unchecked(&mut stub, &[get("a")]).is_success());
}

fn run_unchecked(stub: &mut MockStub<Probe>, ops: &[Op]) -> TxRecord {
    stub.invoke("Run", &[&json(ops)])
}

#[test]
fn arguments_are_checked_before_the_function_runs() {
    let mut stub = seeded();
    let wrong_count = stub.invoke("Scan", &["a"]);
    assert_eq!(wrong_count.message(), "Scan takes 4 arguments, got 1");
    let bad_number = stub.invoke("Scan", &["a", "", "many", ""]);
    assert!(bad_number.message().starts_with("argument 2 (limit) of Scan:"));
    let bad_json = stub.invoke("Run", &["not json"]);
    assert!(bad_json.message().starts_with("argument 0 (ops) of Run: invalid JSON"));
    assert!(bad_json.rwset.reads.is_empty() && bad_json.rwset.writes.is_empty());
}

#[test]
fn the_host_memory_limit_holds_in_the_test_context_as_on_a_peer() {
    let mut stub = seeded();
    // 32 MiB of writes fit; 80 MiB do not: the invocation ends as it would on a peer.
    assert!(stub.invoke("Fill", &["32"]).is_success());
    let over = stub.invoke("Fill", &["80"]);
    assert_eq!((over.response.status, over.message()), (500, "host memory limit exceeded"));
    // What a read hands back counts while the host holds it for the contract, as on a peer:
    // 62 MiB of writes and a 1 MiB read fit; with 63 MiB of writes the read passes the limit.
    stub.invoke("Fill", &["1"]);
    stub.commit();
    assert!(stub.invoke("FillAndRead", &["62", "big0"]).is_success());
    let over = stub.invoke("FillAndRead", &["63", "big0"]);
    assert_eq!((over.response.status, over.message()), (500, "host memory limit exceeded"));
}
