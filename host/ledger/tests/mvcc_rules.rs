//! Table tests for docs/semantics.md "Validation": plain reads (MVCC), range re-runs (phantoms),
//! order of checks and the effect of valid/invalid transactions on the block's updates.
//! Each case is a committed state, a block of read/write sets (some pre-marked invalid by
//! the stateless checks) and the expected code and conflict of every transaction.

use std::collections::BTreeMap;

use weft_ledger::validator::{MvccOutcome, MvccValidator};
use weft_proto::v1::{
    Conflict, KeyRangeRecord, KvRead, KvWrite, NsReadWriteSet, RangeQueryInfo, TxReadWriteSet,
    TxValidationCode as Code, Version,
};
use weft_rwset::MemoryState;

const NS: &str = "kv";
const BLOCK: u64 = 10;

fn v(b: u64, t: u64) -> Option<Version> {
    Some(Version { block_num: b, tx_num: t })
}

/// Committed state: a@1:0, b@1:1, c@2:0, e@3:0.
fn state() -> BTreeMap<String, MemoryState> {
    let mut s = MemoryState::default();
    for (k, b, t) in [("a", 1, 0), ("b", 1, 1), ("c", 2, 0), ("e", 3, 0)] {
        s.insert(k.as_bytes(), b"val", Version { block_num: b, tx_num: t });
    }
    BTreeMap::from([(NS.to_string(), s)])
}

#[derive(Clone, Default)]
struct Tx {
    reads: Vec<(&'static str, Option<Version>)>,
    ranges: Vec<RangeQueryInfo>,
    writes: Vec<(&'static str, Option<&'static str>)>,
    /// Already invalid from the stateless checks: not MVCC-checked, writes nothing.
    invalid: bool,
}

fn read(key: &'static str, version: Option<Version>) -> Tx {
    Tx { reads: vec![(key, version)], ..Tx::default() }
}

fn write(key: &'static str, value: Option<&'static str>) -> Tx {
    Tx { writes: vec![(key, value)], ..Tx::default() }
}

fn range(start: &str, end: &str, exhausted: bool, reads: &[(&str, Option<Version>)]) -> Tx {
    Tx {
        ranges: vec![RangeQueryInfo {
            start_key: start.as_bytes().to_vec(),
            end_key: end.as_bytes().to_vec(),
            itr_exhausted: exhausted,
            reads: reads
                .iter()
                .map(|(k, v)| KvRead { key: k.as_bytes().to_vec(), version: *v })
                .collect(),
        }],
        ..Tx::default()
    }
}

fn rwset(tx: &Tx) -> TxReadWriteSet {
    TxReadWriteSet {
        ns_rwset: vec![NsReadWriteSet {
            namespace: NS.into(),
            reads: tx
                .reads
                .iter()
                .map(|(k, v)| KvRead { key: k.as_bytes().to_vec(), version: *v })
                .collect(),
            range_queries_info: tx.ranges.clone(),
            writes: tx
                .writes
                .iter()
                .map(|(k, v)| KvWrite {
                    key: k.as_bytes().to_vec(),
                    is_delete: v.is_none(),
                    value: v.unwrap_or_default().as_bytes().to_vec(),
                })
                .collect(),
        }],
    }
}

/// Expected: code, and for a conflict (key, recorded, current, written_by_tx).
type Want = (Code, Option<(&'static str, Option<Version>, Option<Version>, Option<u32>)>);

const OK: Want = (Code::Valid, None);

/// Per transaction: `None` if pre-marked invalid, else its code and conflict.
type Outcomes = Vec<Option<(Code, Option<Conflict>)>>;

fn run(txs: &[Tx]) -> (Outcomes, weft_ledger::validator::BlockUpdates) {
    let committed = state();
    let mut validator = MvccValidator::new(BLOCK, &committed);
    let mut out = Vec::new();
    for (i, tx) in txs.iter().enumerate() {
        if tx.invalid {
            out.push(None);
            continue;
        }
        out.push(Some(match validator.validate(i as u32, &rwset(tx)).unwrap() {
            MvccOutcome::Valid => (Code::Valid, None),
            MvccOutcome::Conflict(code, c) => (code, Some(c)),
        }));
    }
    (out, validator.into_updates())
}

fn check(name: &str, txs: &[Tx], want: &[Want]) {
    let (got, _) = run(txs);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let Some((code, conflict)) = g else { continue };
        assert_eq!(*code, w.0, "{name}: tx {i} code");
        match (&w.1, conflict) {
            (None, None) => {}
            (Some((key, recorded, current, by)), Some(c)) => {
                assert_eq!(c.tx_index, i as u32, "{name}: tx {i} conflict index");
                assert_eq!(c.key, key.as_bytes(), "{name}: tx {i} conflict key");
                assert_eq!(c.recorded, *recorded, "{name}: tx {i} recorded version");
                assert_eq!(c.current, *current, "{name}: tx {i} current version");
                assert_eq!(c.written_by_tx, *by, "{name}: tx {i} written by");
                assert_eq!(c.namespace, NS);
            }
            (w, g) => panic!("{name}: tx {i}: want conflict {w:?}, got {g:?}"),
        }
    }
}

#[test]
fn rule_1_plain_reads() {
    let cases: Vec<(&str, Vec<Tx>, Vec<Want>)> = vec![
        ("same version is valid", vec![read("a", v(1, 0))], vec![OK]),
        (
            "different version conflicts",
            vec![read("a", v(1, 1))],
            vec![(Code::MvccReadConflict, Some(("a", v(1, 1), v(1, 0), None)))],
        ),
        ("absent equals absent", vec![read("zz", None)], vec![OK]),
        (
            "absent read of an existing key conflicts",
            vec![read("a", None)],
            vec![(Code::MvccReadConflict, Some(("a", None, v(1, 0), None)))],
        ),
        (
            "version read of a missing key conflicts",
            vec![read("zz", v(1, 0))],
            vec![(Code::MvccReadConflict, Some(("zz", v(1, 0), None, None)))],
        ),
        (
            "earlier valid write in the block conflicts whatever the versions",
            vec![write("a", Some("x")), read("a", v(1, 0))],
            vec![OK, (Code::MvccReadConflict, Some(("a", v(1, 0), v(BLOCK, 0), Some(0))))],
        ),
        (
            "earlier delete of a never-existing key conflicts with an absent read",
            vec![write("zz", None), read("zz", None)],
            vec![OK, (Code::MvccReadConflict, Some(("zz", None, None, Some(0))))],
        ),
        (
            "earlier delete of an existing key conflicts",
            vec![write("b", None), read("b", v(1, 1))],
            vec![OK, (Code::MvccReadConflict, Some(("b", v(1, 1), None, Some(0))))],
        ),
        (
            "an invalid transaction's write does not conflict",
            vec![Tx { invalid: true, ..write("a", Some("x")) }, read("a", v(1, 0))],
            vec![OK, OK],
        ),
        (
            "a conflicting transaction's write does not conflict",
            vec![
                Tx { reads: vec![("a", None)], writes: vec![("b", Some("x"))], ..Tx::default() },
                read("b", v(1, 1)),
            ],
            vec![(Code::MvccReadConflict, Some(("a", None, v(1, 0), None))), OK],
        ),
        (
            "a later write does not affect an earlier read",
            vec![read("a", v(1, 0)), write("a", Some("x"))],
            vec![OK, OK],
        ),
        (
            "the first conflicting read (in key order) is reported",
            vec![Tx { reads: vec![("a", None), ("b", None)], ..Tx::default() }],
            vec![(Code::MvccReadConflict, Some(("a", None, v(1, 0), None)))],
        ),
        (
            "blind writes never conflict",
            vec![write("a", Some("1")), write("a", Some("2"))],
            vec![OK, OK],
        ),
    ];
    for (name, txs, want) in cases {
        check(name, &txs, &want);
    }
}

#[test]
fn rule_2_range_queries() {
    let all_exhausted = || range("a", "d", true, &[("a", v(1, 0)), ("b", v(1, 1)), ("c", v(2, 0))]);
    let cases: Vec<(&str, Vec<Tx>, Vec<Want>)> = vec![
        ("unchanged range is valid", vec![all_exhausted()], vec![OK]),
        (
            "a key that appeared (committed) is a phantom",
            vec![range("a", "d", true, &[("a", v(1, 0)), ("c", v(2, 0))])],
            vec![(Code::PhantomReadConflict, Some(("b", None, v(1, 1), None)))],
        ),
        (
            "a key that disappeared is a phantom",
            vec![range(
                "a",
                "d",
                true,
                &[("a", v(1, 0)), ("b", v(1, 1)), ("bb", v(1, 5)), ("c", v(2, 0))],
            )],
            vec![(Code::PhantomReadConflict, Some(("bb", v(1, 5), None, None)))],
        ),
        (
            "a changed version is a phantom",
            vec![range("a", "d", true, &[("a", v(1, 0)), ("b", v(1, 0)), ("c", v(2, 0))])],
            vec![(Code::PhantomReadConflict, Some(("b", v(1, 0), v(1, 1), None)))],
        ),
        (
            "an earlier valid insert in the block is a phantom",
            vec![write("bb", Some("x")), all_exhausted()],
            vec![OK, (Code::PhantomReadConflict, Some(("bb", None, v(BLOCK, 0), Some(0))))],
        ),
        (
            "an earlier valid update in the block is a phantom",
            vec![write("b", Some("x")), all_exhausted()],
            vec![OK, (Code::PhantomReadConflict, Some(("b", v(1, 1), v(BLOCK, 0), Some(0))))],
        ),
        (
            "an earlier valid delete in the block drops the key out",
            vec![write("c", None), all_exhausted()],
            vec![OK, (Code::PhantomReadConflict, Some(("c", v(2, 0), None, Some(0))))],
        ),
        (
            "deleting a key outside the range is no phantom",
            vec![write("e", None), all_exhausted()],
            vec![OK, OK],
        ),
        (
            "an invalid transaction's insert is no phantom",
            vec![Tx { invalid: true, ..write("bb", Some("x")) }, all_exhausted()],
            vec![OK, OK],
        ),
        (
            "exhausted: the end key is excluded, so writing it is no phantom",
            vec![write("d", Some("x")), all_exhausted()],
            vec![OK, OK],
        ),
        (
            "stopped early: the last key returned is the inclusive end",
            vec![write("bb", Some("x")), range("a", "b", false, &[("a", v(1, 0)), ("b", v(1, 1))])],
            vec![OK, OK],
        ),
        (
            "stopped early: changing the inclusive end key is a phantom",
            vec![write("b", Some("x")), range("a", "b", false, &[("a", v(1, 0)), ("b", v(1, 1))])],
            vec![OK, (Code::PhantomReadConflict, Some(("b", v(1, 1), v(BLOCK, 0), Some(0))))],
        ),
        (
            "stopped early: a key inserted before the end is a phantom",
            vec![write("ab", Some("x")), range("a", "b", false, &[("a", v(1, 0)), ("b", v(1, 1))])],
            vec![OK, (Code::PhantomReadConflict, Some(("ab", None, v(BLOCK, 0), Some(0))))],
        ),
        (
            "empty end is unbounded",
            vec![write("zzz", Some("x")), range("d", "", true, &[("e", v(3, 0))])],
            vec![OK, (Code::PhantomReadConflict, Some(("zzz", None, v(BLOCK, 0), Some(0))))],
        ),
        (
            "closed before the first result: everything from start is covered",
            vec![write("zzz", Some("x")), range("f", "", false, &[])],
            vec![OK, (Code::PhantomReadConflict, Some(("zzz", None, v(BLOCK, 0), Some(0))))],
        ),
        (
            "start after end is empty and never a phantom",
            vec![write("b", Some("x")), range("c", "a", true, &[])],
            vec![OK, OK],
        ),
        (
            "keys compare as raw bytes: 0xff sorts after ASCII",
            vec![
                write("b\u{7f}", Some("x")),
                range("a", "b\u{7f}", true, &[("a", v(1, 0)), ("b", v(1, 1))]),
            ],
            vec![OK, OK],
        ),
    ];
    for (name, txs, want) in cases {
        check(name, &txs, &want);
    }
}

#[test]
fn rule_3_plain_reads_are_checked_before_ranges() {
    // Both a stale read and a phantom range: the code is MVCC_READ_CONFLICT.
    let tx = Tx {
        reads: vec![("c", v(9, 9))],
        ranges: range("a", "b", true, &[]).ranges,
        ..Tx::default()
    };
    check("reads first", &[tx], &[(Code::MvccReadConflict, Some(("c", v(9, 9), v(2, 0), None)))]);
    let (got, _) = run(&[Tx { ranges: range("a", "b", true, &[]).ranges, ..read("c", v(2, 0)) }]);
    let (code, conflict) = got[0].clone().unwrap();
    assert_eq!(code, Code::PhantomReadConflict);
    assert_eq!(
        conflict.unwrap().range,
        Some(KeyRangeRecord {
            start_key: b"a".to_vec(),
            end_key: b"b".to_vec(),
            end_inclusive: false
        })
    );
}

#[test]
fn rule_4_valid_writes_apply_at_once_with_block_and_index_versions() {
    // tx 0 invalid (stateless), tx 1 conflicts, tx 2 and 3 valid: the index counts them all.
    let txs = vec![
        Tx { invalid: true, ..write("p", Some("0")) },
        Tx { reads: vec![("a", None)], writes: vec![("q", Some("1"))], ..Tx::default() },
        write("r", Some("2")),
        Tx { writes: vec![("a", None), ("r", Some("3"))], ..Tx::default() },
    ];
    let (codes, updates) = run(&txs);
    assert_eq!(codes[1].as_ref().unwrap().0, Code::MvccReadConflict);
    let latest = &updates.latest[NS];
    assert!(!latest.contains_key(b"p".as_slice()), "invalid transactions change nothing");
    assert!(!latest.contains_key(b"q".as_slice()), "conflicting transactions change nothing");
    assert_eq!(latest[b"r".as_slice()].version, v(BLOCK, 3).unwrap(), "last write wins");
    assert_eq!(latest[b"r".as_slice()].value.as_deref(), Some(b"3".as_slice()));
    assert_eq!(latest[b"a".as_slice()].value, None, "a delete is kept as a delete");
    let history: Vec<(u32, &[u8])> =
        updates.writes.iter().map(|w| (w.tx_index, w.key.as_slice())).collect();
    assert_eq!(history, vec![(2, b"r".as_slice()), (3, b"a".as_slice()), (3, b"r".as_slice())]);
}
