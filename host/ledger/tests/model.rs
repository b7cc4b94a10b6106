//! Model-based test: random sequences of simulations, block cuts, restarts and state
//! rebuilds run through the real ledger (sled, signatures, validator) and through a naive
//! in-memory oracle of docs/semantics.md's rules; codes, conflicting keys, state and height must
//! agree after every step.
//!
//! `WEFT_MODEL_CASES=500 cargo test -p weft-ledger --release --test model` runs a longer
//! search (default: 32 cases).

use std::collections::{BTreeMap, HashSet};

use proptest::prelude::*;
use weft_ledger::{Durability, Ledger, LedgerOptions};
use weft_proto::v1::{NsReadWriteSet, TxValidationCode as Code, Version};
use weft_protocol::policy;
use weft_protocol::testing::{TestNetwork, TxSpec, Workload};
use weft_rwset::{KeyRange, StateView};

#[derive(Clone, Debug)]
enum Op {
    /// Simulate a transaction against the current committed state.
    Simulate { seed: u64, endorsed: bool },
    /// Simulate a transaction reusing the id of an earlier one.
    Resubmit { seed: u64, which: usize },
    /// Order the first `take` pending transactions into a block and commit it.
    Cut { take: usize },
    /// Close and reopen the ledger.
    Restart,
    /// Wipe state and history; reopening replays every block.
    Rebuild,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any::<u64>(), prop::bool::weighted(0.9))
            .prop_map(|(seed, endorsed)| Op::Simulate { seed, endorsed }),
        1 => (any::<u64>(), any::<usize>()).prop_map(|(seed, which)| Op::Resubmit { seed, which }),
        3 => (0usize..8).prop_map(|take| Op::Cut { take }),
        1 => Just(Op::Restart),
        1 => Just(Op::Rebuild),
    ]
}

struct PendingTx {
    id: String,
    envelope: Vec<u8>,
    rwset: NsReadWriteSet,
    endorsed: bool,
}

/// The rules, written plainly over a BTreeMap.
#[derive(Default)]
struct Oracle {
    state: BTreeMap<Vec<u8>, (Vec<u8>, Version)>,
    height: u64,
    ids: HashSet<String>,
}

impl Oracle {
    /// Codes and, per conflict, the key reported.
    fn commit(&mut self, txs: &[&PendingTx]) -> (Vec<Code>, Vec<Vec<u8>>) {
        let block = self.height;
        let mut pending: BTreeMap<Vec<u8>, (Option<Vec<u8>>, Version)> = BTreeMap::new();
        let mut seen = HashSet::new();
        let mut codes = Vec::new();
        let mut conflict_keys = Vec::new();
        for (i, tx) in txs.iter().enumerate() {
            let code = if self.ids.contains(&tx.id) {
                Code::DuplicateTxid
            } else if !tx.endorsed {
                Code::EndorsementPolicyFailure
            } else if !seen.insert(tx.id.clone()) {
                Code::DuplicateTxid
            } else if let Some(key) = self.read_conflict(&pending, &tx.rwset) {
                conflict_keys.push(key);
                Code::MvccReadConflict
            } else if let Some(key) = self.phantom(&pending, &tx.rwset) {
                conflict_keys.push(key);
                Code::PhantomReadConflict
            } else {
                let version = Version { block_num: block, tx_num: i as u64 };
                for w in &tx.rwset.writes {
                    let value = (!w.is_delete).then(|| w.value.clone());
                    pending.insert(w.key.clone(), (value, version));
                }
                Code::Valid
            };
            codes.push(code);
        }
        for tx in txs {
            self.ids.insert(tx.id.clone());
        }
        for (key, (value, version)) in pending {
            match value {
                Some(v) => self.state.insert(key, (v, version)),
                None => self.state.remove(&key),
            };
        }
        self.height += 1;
        (codes, conflict_keys)
    }

    fn read_conflict(
        &self,
        pending: &BTreeMap<Vec<u8>, (Option<Vec<u8>>, Version)>,
        rwset: &NsReadWriteSet,
    ) -> Option<Vec<u8>> {
        rwset
            .reads
            .iter()
            .find(|r| {
                pending.contains_key(&r.key) || self.state.get(&r.key).map(|(_, v)| *v) != r.version
            })
            .map(|r| r.key.clone())
    }

    fn phantom(
        &self,
        pending: &BTreeMap<Vec<u8>, (Option<Vec<u8>>, Version)>,
        rwset: &NsReadWriteSet,
    ) -> Option<Vec<u8>> {
        // The whole merged view, filtered by the range rule.
        let mut merged: BTreeMap<Vec<u8>, Version> =
            self.state.iter().map(|(k, (_, v))| (k.clone(), *v)).collect();
        for (k, (value, version)) in pending {
            match value {
                Some(_) => merged.insert(k.clone(), *version),
                None => merged.remove(k),
            };
        }
        for info in &rwset.range_queries_info {
            let range = KeyRange::of_record(info);
            let now: Vec<(Vec<u8>, Option<Version>)> = merged
                .iter()
                .filter(|(k, _)| range.contains(k))
                .map(|(k, v)| (k.clone(), Some(*v)))
                .collect();
            let recorded: Vec<(Vec<u8>, Option<Version>)> =
                info.reads.iter().map(|r| (r.key.clone(), r.version)).collect();
            if now != recorded {
                // The first position where they differ; the smaller key is reported.
                let at = now.iter().zip(&recorded).position(|(a, b)| a != b);
                let key = match at {
                    Some(i) => now[i].0.clone().min(recorded[i].0.clone()),
                    None if now.len() > recorded.len() => now[recorded.len()].0.clone(),
                    None => recorded[now.len()].0.clone(),
                };
                return Some(key);
            }
        }
        None
    }
}

fn ledger_state(ledger: &Ledger) -> BTreeMap<Vec<u8>, (Vec<u8>, Version)> {
    let snap = ledger.snapshot();
    let kv = snap.namespace("kv");
    kv.range(b"", b"")
        .unwrap()
        .map(|e| {
            let (k, v) = e.unwrap();
            (k, (v.value, v.version))
        })
        .collect()
}

fn run(ops: Vec<Op>) {
    let net = TestNetwork::new("ch1", 2, &[("kv", policy::peer("Org1"))]);
    let dir = tempfile::tempdir().unwrap();
    let options = LedgerOptions { durability: Durability::Flush, ..LedgerOptions::default() };
    let open = || Ledger::open_with(dir.path(), net.config.clone(), options).unwrap();
    let mut ledger = Some(open());
    let mut oracle = Oracle::default();
    let mut pending: Vec<PendingTx> = Vec::new();
    let mut nonces: Vec<String> = Vec::new();
    for op in ops {
        let l = ledger.as_ref().unwrap();
        match op {
            Op::Simulate { .. } | Op::Resubmit { .. } => {
                let (seed, endorsed, nonce) = match op {
                    Op::Simulate { seed, endorsed } => {
                        nonces.push(format!("n{}", nonces.len()));
                        (seed, endorsed, nonces.last().unwrap().clone())
                    }
                    Op::Resubmit { seed, which } if !nonces.is_empty() => {
                        (seed, true, nonces[which % nonces.len()].clone())
                    }
                    _ => continue,
                };
                let rwset = {
                    let snap = l.snapshot();
                    Workload::new(seed, "kv", 8).simulate(&snap.namespace("kv"))
                };
                let endorsers =
                    if endorsed { vec![&net.org(0).peer] } else { vec![&net.org(1).peer] };
                let spec = TxSpec::new(&net.org(0).client, "kv", nonce, rwset.clone(), endorsers);
                let (id, envelope) = net.envelope(spec);
                pending.push(PendingTx { id, envelope, rwset, endorsed });
            }
            Op::Cut { take } => {
                let take = take.min(pending.len());
                let txs: Vec<PendingTx> = pending.drain(..take).collect();
                let block = l.next_block(txs.iter().map(|t| t.envelope.clone()).collect());
                let committed = l.append(block).unwrap();
                let (codes, keys) = oracle.commit(&txs.iter().collect::<Vec<_>>());
                assert_eq!(committed.codes, codes);
                let got: Vec<Vec<u8>> = committed.conflicts.iter().map(|c| c.key.clone()).collect();
                assert_eq!(got, keys, "conflicting keys");
            }
            Op::Restart => {
                drop(ledger.take());
                ledger = Some(open());
            }
            Op::Rebuild => {
                drop(ledger.take());
                Ledger::reset_state(dir.path()).unwrap();
                ledger = Some(open());
            }
        }
        let l = ledger.as_ref().unwrap();
        assert_eq!(l.chain_info().height, oracle.height);
        assert_eq!(ledger_state(l), oracle.state);
    }
    ledger.unwrap().verify_chain().unwrap();
}

fn cases() -> u32 {
    std::env::var("WEFT_MODEL_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(32)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn ledger_matches_the_oracle(ops in prop::collection::vec(op(), 1..60)) {
        run(ops);
    }
}
