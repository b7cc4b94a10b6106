//! The ledger on sled: block store and indexes, state and history, atomic commit, recovery
//! (replay, refusal when state is ahead), chain verification and determinism.

use weft_ledger::{Durability, Error, Ledger, LedgerOptions};
use weft_proto::v1::{Block, KvRead, KvWrite, NsReadWriteSet, TxValidationCode as Code, Version};
use weft_protocol::testing::{TestNetwork, TxSpec, Workload};
use weft_protocol::{block, policy};
use weft_rwset::{HistoryView, StateView};

fn network() -> TestNetwork {
    TestNetwork::new("ch1", 2, &[("kv", policy::peer("Org1")), ("other", policy::peer("Org1"))])
}

fn write(ns: &str, key: &str, value: Option<&str>) -> NsReadWriteSet {
    NsReadWriteSet {
        namespace: ns.into(),
        writes: vec![KvWrite {
            key: key.as_bytes().to_vec(),
            is_delete: value.is_none(),
            value: value.unwrap_or_default().as_bytes().to_vec(),
        }],
        ..Default::default()
    }
}

fn env(net: &TestNetwork, contract: &str, nonce: &str, rwset: NsReadWriteSet) -> Vec<u8> {
    let spec = TxSpec::new(&net.org(0).client, contract, nonce, rwset, vec![&net.org(0).peer]);
    net.envelope(spec).1
}

fn id(net: &TestNetwork, nonce: &str) -> String {
    weft_protocol::txid::derive_tx_id(nonce.as_bytes(), net.org(0).client.identity())
}

#[test]
fn blocks_indexes_state_history_and_conflicts() {
    let net = network();
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), net.config.clone()).unwrap();
    assert_eq!(ledger.chain_info().height, 0);
    let b0 = ledger.next_block(vec![
        env(&net, "kv", "t1", write("kv", "a", Some("1"))),
        env(&net, "kv", "t2", write("kv", "b", Some("2"))),
        env(&net, "other", "t3", write("other", "a", Some("x"))),
    ]);
    let c0 = ledger.append(b0.clone()).unwrap();
    assert_eq!(c0.codes, vec![Code::Valid; 3]);
    let stale_read = NsReadWriteSet {
        namespace: "kv".into(),
        reads: vec![KvRead { key: b"a".to_vec(), version: None }],
        writes: vec![KvWrite { key: b"c".to_vec(), is_delete: false, value: b"3".to_vec() }],
        ..Default::default()
    };
    let b1 = ledger.next_block(vec![
        env(&net, "kv", "t4", write("kv", "a", None)),
        env(&net, "kv", "t5", stale_read),
        env(&net, "kv", "t6", write("kv", "a", Some("again"))),
    ]);
    let c1 = ledger.append(b1).unwrap();
    assert_eq!(c1.codes, vec![Code::Valid, Code::MvccReadConflict, Code::Valid]);

    // Chain info and block lookups.
    let info = ledger.chain_info();
    assert_eq!(info.height, 2);
    assert_eq!(info.current_hash, c1.hash.to_vec());
    assert_eq!(info.previous_hash, c0.hash.to_vec());
    assert_eq!(info.commit_hash, c1.commit_hash.to_vec());
    let stored0 = ledger.block(0).unwrap().unwrap();
    assert_eq!(stored0.header, b0.header);
    assert_eq!(stored0.data, b0.data);
    assert_eq!(stored0.metadata.unwrap().validation_codes, vec![0, 0, 0]);
    assert_eq!(ledger.block_by_hash(&c1.hash).unwrap().unwrap().header.unwrap().number, 1);
    assert!(ledger.block(2).unwrap().is_none());
    assert!(ledger.block_by_hash(&[0; 32]).unwrap().is_none());

    // Transactions by id, with codes and conflicts.
    let t5 = ledger.transaction(&id(&net, "t5")).unwrap().unwrap();
    assert_eq!((t5.location.block_number, t5.location.tx_index), (1, 1));
    assert_eq!(t5.location.code, Code::MvccReadConflict);
    let conflicts = ledger.conflicts_of(&id(&net, "t5")).unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].key, b"a");
    assert_eq!(conflicts[0].recorded, None);
    assert_eq!(conflicts[0].written_by_tx, Some(0));
    assert!(ledger.conflicts_of(&id(&net, "t4")).unwrap().is_empty());
    assert!(ledger.transaction("nope").unwrap().is_none());

    // State per namespace, in byte order, namespaces kept apart.
    let snap = ledger.snapshot();
    let kv = snap.namespace("kv");
    let a = kv.get(b"a").unwrap().unwrap();
    assert_eq!(
        (a.value.as_slice(), a.version),
        (b"again".as_slice(), Version { block_num: 1, tx_num: 2 })
    );
    assert!(kv.get(b"c").unwrap().is_none(), "a conflicting transaction writes nothing");
    let keys: Vec<Vec<u8>> = kv.range(b"", b"").unwrap().map(|e| e.unwrap().0).collect();
    assert_eq!(keys, vec![b"a".to_vec(), b"b".to_vec()]);
    let keys: Vec<Vec<u8>> = kv.range(b"a", b"b").unwrap().map(|e| e.unwrap().0).collect();
    assert_eq!(keys, vec![b"a".to_vec()]);
    assert_eq!(snap.namespace("other").get(b"a").unwrap().unwrap().value, b"x");

    // History of a key: every valid write, oldest first, deletes included.
    let history: Vec<_> = kv.history(b"a").unwrap().unwrap().map(|e| e.unwrap()).collect();
    let summary: Vec<(u64, u64, bool, &[u8])> = history
        .iter()
        .map(|h| (h.version.block_num, h.version.tx_num, h.is_delete, h.value.as_slice()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (0, 0, false, b"1".as_slice()),
            (1, 0, true, b"".as_slice()),
            (1, 2, false, b"again".as_slice())
        ]
    );
    // Each entry says how many stored bytes were read to produce it (its transaction's
    // envelope), which the runtime charges fuel for.
    for h in &history {
        let block = ledger.block(h.version.block_num).unwrap().unwrap();
        let envelope = &block.data.unwrap().envelopes[h.version.tx_num as usize];
        assert_eq!(h.source_bytes, envelope.len());
    }
    assert_eq!(history[0].tx_id, id(&net, "t1"));
    assert_eq!(history[0].timestamp.seconds, 1_700_000_000);
    drop(snap);
    assert_eq!(ledger.verify_chain().unwrap(), 2);
}

#[test]
fn blocks_that_do_not_extend_the_chain_are_refused_and_change_nothing() {
    let net = network();
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), net.config.clone()).unwrap();
    ledger
        .append(ledger.next_block(vec![env(&net, "kv", "a", write("kv", "a", Some("1")))]))
        .unwrap();
    let hash = ledger.state_hash().unwrap();
    let good = ledger.next_block(vec![env(&net, "kv", "b", write("kv", "b", Some("1")))]);

    let mut skip = good.clone();
    skip.header.as_mut().unwrap().number = 5;
    assert!(matches!(ledger.append(skip), Err(Error::WrongBlockNumber { expected: 1, got: 5 })));
    let mut unlinked = good.clone();
    unlinked.header.as_mut().unwrap().previous_hash = vec![7; 32];
    assert!(matches!(ledger.append(unlinked), Err(Error::BadBlock { number: 1, .. })));
    let mut altered = good.clone();
    altered.data.as_mut().unwrap().envelopes.push(b"extra".to_vec());
    assert!(matches!(ledger.append(altered), Err(Error::BadBlock { number: 1, .. })));
    assert_eq!(ledger.chain_info().height, 1);
    assert_eq!(ledger.state_hash().unwrap(), hash);
    ledger.append(good).unwrap();
    assert_eq!(ledger.chain_info().height, 2);
}

fn random_blocks(net: &TestNetwork, ledger: &Ledger, seed: u64, blocks: usize, per_block: usize) {
    let mut workload = Workload::new(seed, "kv", 12);
    let mut nonce = 0u64;
    for _ in 0..blocks {
        let envelopes: Vec<Vec<u8>> = (0..per_block)
            .map(|_| {
                let rwset = {
                    let snap = ledger.snapshot();
                    workload.simulate(&snap.namespace("kv"))
                };
                nonce += 1;
                env(net, "kv", &format!("{seed}-{nonce}"), rwset)
            })
            .collect();
        ledger.append(ledger.next_block(envelopes)).unwrap();
    }
}

fn blocks_of(ledger: &Ledger) -> Vec<Block> {
    (0..ledger.chain_info().height)
        .map(|n| {
            let mut b = ledger.block(n).unwrap().unwrap();
            b.metadata = None;
            b
        })
        .collect()
}

#[test]
fn two_ledgers_fed_the_same_blocks_agree() {
    let net = network();
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = Ledger::open(d1.path(), net.config.clone()).unwrap();
    random_blocks(&net, &first, 7, 30, 8);
    let options = LedgerOptions { durability: Durability::Deferred, ..LedgerOptions::default() };
    let second = Ledger::open_with(d2.path(), net.config.clone(), options).unwrap();
    let mut conflicts = 0;
    for block in blocks_of(&first) {
        let n = block.header.as_ref().unwrap().number;
        let committed = second.append(block).unwrap();
        let original = first.block(n).unwrap().unwrap().metadata.unwrap();
        assert_eq!(
            committed.codes.iter().map(|c| *c as i32).collect::<Vec<_>>(),
            original.validation_codes
        );
        assert_eq!(committed.conflicts, original.conflicts);
        assert_eq!(committed.commit_hash.to_vec(), original.commit_hash);
        conflicts += committed.conflicts.len();
    }
    assert!(conflicts > 0, "the workload should produce some conflicts");
    assert_eq!(first.state_hash().unwrap(), second.state_hash().unwrap());
    assert_eq!(first.chain_info(), second.chain_info());
}

#[test]
fn reopen_replays_a_state_behind_the_block_store_and_refuses_one_ahead() {
    let net = network();
    let dir = tempfile::tempdir().unwrap();
    let (state_hash, info, history) = {
        let ledger = Ledger::open(dir.path(), net.config.clone()).unwrap();
        random_blocks(&net, &ledger, 3, 12, 6);
        let snap = ledger.snapshot();
        let history: Vec<_> = snap.history("kv", b"k001").unwrap().map(|e| e.unwrap()).collect();
        drop(snap);
        (ledger.state_hash().unwrap(), ledger.chain_info(), history)
    };
    // Same state after a plain reopen.
    {
        let ledger = Ledger::open(dir.path(), net.config.clone()).unwrap();
        assert_eq!(ledger.state_hash().unwrap(), state_hash);
        assert_eq!(ledger.chain_info(), info);
    }
    // State and history wiped: rebuilt from the block store.
    Ledger::reset_state(dir.path()).unwrap();
    {
        let ledger = Ledger::open(dir.path(), net.config.clone()).unwrap();
        assert_eq!(ledger.state_hash().unwrap(), state_hash);
        assert_eq!(ledger.chain_info(), info);
        let snap = ledger.snapshot();
        let replayed: Vec<_> = snap.history("kv", b"k001").unwrap().map(|e| e.unwrap()).collect();
        assert_eq!(replayed, history);
        drop(snap);
        ledger.verify_chain().unwrap();
    }
    // A savepoint beyond the block store: refuse to start.
    {
        let db = sled::open(dir.path()).unwrap();
        let tree = db.open_tree("ledger").unwrap();
        tree.insert(b"Msavepoint", &(info.height + 3).to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let err = Ledger::open(dir.path(), net.config.clone()).unwrap_err();
    assert!(matches!(err, Error::StateAhead { state_height: 15, block_height: 12 }), "{err}");
    assert!(err.to_string().contains("ahead of the block store"));
}

#[test]
fn another_configuration_is_refused() {
    let net = network();
    let dir = tempfile::tempdir().unwrap();
    drop(Ledger::open(dir.path(), net.config.clone()).unwrap());
    let mut other = net.config.clone();
    other.contracts.pop();
    assert!(matches!(Ledger::open(dir.path(), other), Err(Error::Config(_))));
}

#[test]
fn verify_chain_detects_a_tampered_block_store() {
    let net = network();
    let dir = tempfile::tempdir().unwrap();
    {
        let ledger = Ledger::open(dir.path(), net.config.clone()).unwrap();
        random_blocks(&net, &ledger, 5, 4, 3);
        assert_eq!(ledger.verify_chain().unwrap(), 4);
    }
    {
        let db = sled::open(dir.path()).unwrap();
        let tree = db.open_tree("ledger").unwrap();
        let mut key = vec![b'E'];
        key.extend_from_slice(&2u64.to_be_bytes());
        key.extend_from_slice(&0u32.to_be_bytes());
        let mut envelope = tree.get(&key).unwrap().unwrap().to_vec();
        envelope[10] ^= 1;
        tree.insert(key, envelope).unwrap();
        db.flush().unwrap();
    }
    let ledger = Ledger::open(dir.path(), net.config.clone()).unwrap();
    match ledger.verify_chain() {
        Err(Error::ChainBroken { number, reason }) => {
            assert_eq!(number, 2);
            assert!(reason.contains("data hash"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let b3 = ledger.block(3).unwrap().unwrap();
    assert_eq!(
        b3.header.unwrap().previous_hash,
        block::block_hash(&ledger.block(2).unwrap().unwrap()).to_vec()
    );
}

#[test]
fn append_all_pipelines_and_reports_only_durable_blocks_in_order() {
    let net = network();
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let serial = Ledger::open(d1.path(), net.config.clone()).unwrap();
    random_blocks(&net, &serial, 11, 10, 5);
    let pipelined = Ledger::open(d2.path(), net.config.clone()).unwrap();
    let mut blocks = blocks_of(&serial);
    // A block that does not link stops the stream; the blocks before it are committed.
    let mut broken = blocks[7].clone();
    broken.header.as_mut().unwrap().previous_hash = vec![1; 32];
    let tail = blocks.split_off(7);
    blocks.push(broken);
    let mut reported = Vec::new();
    let err = pipelined
        .append_all(blocks, |c| {
            reported.push((c.number, c.commit_hash));
        })
        .unwrap_err();
    assert!(matches!(err, Error::BadBlock { number: 7, .. }), "{err}");
    assert_eq!(reported.iter().map(|r| r.0).collect::<Vec<_>>(), (0..7).collect::<Vec<_>>());
    assert_eq!(pipelined.chain_info().height, 7);
    pipelined.append_all(tail, |c| reported.push((c.number, c.commit_hash))).unwrap();
    for (number, commit_hash) in reported {
        let original = serial.block(number).unwrap().unwrap().metadata.unwrap();
        assert_eq!(commit_hash.to_vec(), original.commit_hash);
    }
    assert_eq!(pipelined.chain_info(), serial.chain_info());
    assert_eq!(pipelined.state_hash().unwrap(), serial.state_hash().unwrap());
}

#[test]
fn append_all_reports_a_durable_block_while_the_stream_waits() {
    // Blocks from the orderer arrive on a channel: after one block the stream waits, and
    // that block must be reported once durable, not when the next block arrives.
    let net = network();
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), net.config.clone()).unwrap();
    let (feed, stream) = std::sync::mpsc::channel::<Block>();
    let (report, reported) = std::sync::mpsc::channel::<(u64, u64)>();
    let ledger = &ledger;
    std::thread::scope(|scope| {
        let committer = scope.spawn(move || {
            let caller = std::thread::current().id();
            ledger.append_all(stream, move |c| {
                assert_eq!(std::thread::current().id(), caller, "reported on the calling thread");
                report.send((c.number, ledger.chain_info().height)).unwrap();
            })
        });
        let b0 = ledger.next_block(vec![env(&net, "kv", "w0", write("kv", "a", Some("0")))]);
        feed.send(b0).unwrap();
        let first = reported.recv_timeout(std::time::Duration::from_secs(5));
        // The chain info already counts the block when it is reported.
        assert_eq!(first, Ok((0, 1)), "block 0 was not reported while the stream waited");
        // And the pipeline goes on with the next block, still in the same call.
        let b1 = ledger.next_block(vec![env(&net, "kv", "w1", write("kv", "a", Some("1")))]);
        feed.send(b1).unwrap();
        assert_eq!(reported.recv_timeout(std::time::Duration::from_secs(5)), Ok((1, 2)));
        drop(feed);
        committer.join().unwrap().unwrap();
    });
    assert_eq!(ledger.chain_info().height, 2);
}

#[test]
fn footprint_counts_what_each_block_adds() {
    let net = network();
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), net.config.clone()).unwrap();
    let before = ledger.footprint().unwrap();
    assert_eq!(before.block_store(), 0);
    let envelopes = vec![
        env(&net, "kv", "f1", write("kv", "a", Some("1"))),
        env(&net, "kv", "f2", write("kv", "a", Some("2"))),
    ];
    let envelope_bytes: usize = envelopes.iter().map(Vec::len).sum();
    ledger.append(ledger.next_block(envelopes)).unwrap();
    let after = ledger.footprint().unwrap();
    // The transaction index: two ids and the block's fingerprints of them (16 bytes).
    assert_eq!((after.blocks.entries, after.hash_index.entries, after.tx_index.entries), (1, 1, 3));
    // One chunk: the envelopes, each behind its length.
    assert_eq!(after.envelopes.value_bytes, envelope_bytes as u64 + 8);
    // Both wrote one key: one state entry, two history entries.
    assert_eq!((after.state.entries, after.history.entries), (1, 2));
    assert!(after.on_disk > 0);
}

/// Committed state that cannot be read.
struct BrokenState;

impl weft_ledger::validator::CommittedState for BrokenState {
    fn get(
        &self,
        _: &str,
        _: &[u8],
    ) -> Result<Option<weft_rwset::VersionedValue>, weft_rwset::StateError> {
        Err(weft_rwset::StateError::new("disk on fire"))
    }

    fn range(
        &self,
        _: &str,
        _: &[u8],
        _: &[u8],
    ) -> Result<weft_rwset::StateIter<'_>, weft_rwset::StateError> {
        Err(weft_rwset::StateError::new("disk on fire"))
    }
}

#[test]
fn a_storage_error_during_validation_halts_instead_of_invalidating() {
    let net = network();
    let channel = weft_protocol::channel::Channel::new(net.config.clone()).unwrap();
    let read = NsReadWriteSet {
        namespace: "kv".into(),
        reads: vec![KvRead { key: b"a".to_vec(), version: None }],
        ..Default::default()
    };
    let envelopes = vec![env(&net, "kv", "x", read)];
    let ids = std::collections::HashSet::new();
    let result = weft_ledger::validator::validate_block(
        &channel,
        &Default::default(),
        0,
        &envelopes,
        &BrokenState,
        &ids,
    );
    match result {
        Err(Error::State(e)) => assert!(e.to_string().contains("disk on fire")),
        other => panic!("expected a node error, got {other:?}"),
    }
}

#[test]
fn offline_conflict_report_uses_the_validator_rules() {
    use std::collections::BTreeMap;
    use weft_ledger::report::conflict_report_ns;
    use weft_rwset::{MemoryState, Mode, TxSimulator};
    let mut assets = MemoryState::default();
    for (k, t) in [("asset1", 0), ("asset2", 1), ("asset3", 2)] {
        assets.insert(k.as_bytes(), b"{}", Version { block_num: 4, tx_num: t });
    }
    let state = BTreeMap::from([("assets".to_string(), assets)]);
    let sim = |f: &dyn Fn(&mut TxSimulator<'_, MemoryState>)| {
        let mut s = TxSimulator::new("assets", &state["assets"], Mode::Invoke);
        f(&mut s);
        s.finish().unwrap()
    };
    let create = sim(&|s| {
        assert!(s.get(b"asset4").unwrap().is_none());
        s.put(b"asset4", b"{}").unwrap();
    });
    let get_all = sim(&|s| {
        let it = s.range_open(b"", b"").unwrap();
        while s.range_next(it).unwrap().is_some() {}
        s.range_close(it).unwrap();
    });
    let transfer = sim(&|s| {
        s.get(b"asset2").unwrap();
        s.put(b"asset2", b"{\"owner\":\"bob\"}").unwrap();
    });
    let stale = {
        let mut t = transfer.clone();
        t.reads[0].version = Some(Version { block_num: 3, tx_num: 0 });
        t
    };
    let report = conflict_report_ns(&state, 5, vec![create, get_all, transfer, stale]).unwrap();
    let codes: Vec<Code> = report.verdicts.iter().map(|v| v.code).collect();
    assert_eq!(
        codes,
        vec![Code::Valid, Code::PhantomReadConflict, Code::Valid, Code::MvccReadConflict]
    );
    let phantom = report.verdicts[1].conflict.as_ref().unwrap();
    assert_eq!((phantom.key.as_slice(), phantom.written_by_tx), (b"asset4".as_slice(), Some(0)));
    let text = report.to_string();
    assert!(text.contains("tx 1: PHANTOM_READ_CONFLICT: assets/\"asset4\" in range"), "{text}");
    assert!(
        text.contains("tx 3: MVCC_READ_CONFLICT: assets/\"asset2\" read at 3:0, written by tx 2"),
        "{text}"
    );
    // The same report over a live ledger's snapshot works too (any CommittedState).
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), network().config).unwrap();
    let snap = ledger.snapshot();
    let empty = weft_ledger::report::conflict_report(&snap, 0, &[]).unwrap();
    assert!(empty.verdicts.is_empty());
}

#[test]
fn a_ledger_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Ledger>();
    // Simulations on other threads read while blocks are committed.
    let net = network();
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), net.config.clone()).unwrap();
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut seen = 0;
            for _ in 0..200 {
                let snap = ledger.snapshot();
                // Within one snapshot, a range never shows half a block: keys come in pairs.
                let keys = snap.namespace("kv").range(b"", b"").unwrap().count();
                assert_eq!(keys % 2, 0, "a block's writes are seen all at once");
                seen = seen.max(keys);
            }
            seen
        });
        for i in 0..20 {
            let pair = NsReadWriteSet {
                namespace: "kv".into(),
                writes: vec![
                    KvWrite {
                        key: format!("a{i:02}").into_bytes(),
                        is_delete: false,
                        value: b"1".to_vec(),
                    },
                    KvWrite {
                        key: format!("b{i:02}").into_bytes(),
                        is_delete: false,
                        value: b"1".to_vec(),
                    },
                ],
                ..Default::default()
            };
            let block = ledger.next_block(vec![env(&net, "kv", &format!("p{i}"), pair)]);
            ledger.append(block).unwrap();
        }
        reader.join().unwrap();
    });
    assert_eq!(ledger.snapshot().namespace("kv").range(b"", b"").unwrap().count(), 40);
}

#[test]
fn the_history_index_can_be_off_and_rebuilt() {
    let net = network();
    let (with, without) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let reference = Ledger::open(with.path(), net.config.clone()).unwrap();
    random_blocks(&net, &reference, 9, 6, 5);
    let no_history = LedgerOptions { history: false, ..LedgerOptions::default() };
    {
        let ledger = Ledger::open_with(without.path(), net.config.clone(), no_history).unwrap();
        ledger.append_all(blocks_of(&reference), |_| {}).unwrap();
        assert_eq!(ledger.state_hash().unwrap(), reference.state_hash().unwrap());
        let snap = ledger.snapshot();
        assert!(snap.history("kv", b"k001").is_none());
        assert!(snap.namespace("kv").history(b"k001").unwrap().is_none());
    }
    // Turning it on needs a rebuild, which replays the history.
    let err = Ledger::open(without.path(), net.config.clone()).unwrap_err();
    assert!(matches!(err, Error::HistorySettingChanged { built_with: false, .. }), "{err}");
    assert!(err.needs_state_rebuild());
    Ledger::reset_state(without.path()).unwrap();
    let rebuilt = Ledger::open(without.path(), net.config.clone()).unwrap();
    let (a, b) = (rebuilt.snapshot(), reference.snapshot());
    for key in ["k000", "k001", "k002", "k005"] {
        let got: Vec<_> = a.history("kv", key.as_bytes()).unwrap().map(|e| e.unwrap()).collect();
        let want: Vec<_> = b.history("kv", key.as_bytes()).unwrap().map(|e| e.unwrap()).collect();
        assert_eq!(got, want, "{key}");
    }
}

#[test]
fn signatures_verified_earlier_are_skipped_and_never_stretch_to_other_bytes() {
    use prost::Message;
    use weft_proto::v1::{Envelope, Transaction};
    let net = network();
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), net.config.clone()).unwrap();
    let member = |identity: &weft_proto::v1::Identity| {
        ledger.channel().membership().resolve(identity).unwrap().key
    };
    // Record the client's envelope signature and the peer's endorsement, as the orderer's
    // admission and the endorser do.
    let remember = |bytes: &[u8]| {
        let envelope = Envelope::decode(bytes).unwrap();
        let client = net.org(0).client.identity();
        let key = member(client);
        assert!(key.verify(&envelope.payload, &envelope.signature));
        ledger.verified_signatures().verified(&key, &envelope.payload, &envelope.signature);
        let tx = Transaction::decode(envelope.payload.as_slice()).unwrap();
        let endorsement = &tx.endorsements[0];
        let peer = endorsement.endorser.as_ref().unwrap();
        let message = weft_protocol::transaction::endorsement_message(&tx.response_payload, peer);
        let signature = endorsement.signature.as_slice().try_into().unwrap();
        ledger.verified_signatures().made(member(peer).as_bytes(), &message, &signature);
    };
    let good = env(&net, "kv", "v1", write("kv", "a", Some("1")));
    remember(&good);
    // The same signatures on other bytes: a payload changed after it was signed.
    let tampered = {
        let signed = env(&net, "kv", "v2", write("kv", "b", Some("2")));
        remember(&signed);
        let mut envelope = Envelope::decode(signed.as_slice()).unwrap();
        let mut tx = Transaction::decode(envelope.payload.as_slice()).unwrap();
        let mut payload =
            weft_proto::v1::ProposalResponsePayload::decode(tx.response_payload.as_slice())
                .unwrap();
        payload.rwset.as_mut().unwrap().ns_rwset[0].writes[0].value = b"3".to_vec();
        tx.response_payload = payload.encode_to_vec();
        envelope.payload = tx.encode_to_vec();
        envelope.encode_to_vec()
    };
    assert_eq!(ledger.verified_signatures().len(), 4);
    let committed = ledger.append(ledger.next_block(vec![good, tampered])).unwrap();
    assert_eq!(committed.codes, vec![Code::Valid, Code::BadCreatorSignature]);
    // The good transaction's two entries were used (and dropped); the tampered one's were not.
    assert_eq!(ledger.verified_signatures().len(), 2);

    // A peer that saw nothing before reaches the same codes and state.
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = Ledger::open(fresh_dir.path(), net.config.clone()).unwrap();
    fresh.append(ledger.block(0).unwrap().unwrap()).unwrap();
    assert_eq!(
        fresh.block(0).unwrap().unwrap().metadata,
        ledger.block(0).unwrap().unwrap().metadata
    );
    assert_eq!(fresh.state_hash().unwrap(), ledger.state_hash().unwrap());
}
