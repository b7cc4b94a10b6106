//! The stateful core of validation: plain-read (MVCC) and range (phantom) checks in block
//! order, against committed state merged with the writes of earlier valid transactions of
//! the same block. The ledger, the offline conflict report and the model test's subject all
//! run this one implementation.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::{
    KeyRange, KvRead, MemoryState, RangeQueryInfo, StateError, StateIter, StateView, Version,
    VersionedValue,
};
use weft_proto::v1::{Conflict, KeyRangeRecord, TxReadWriteSet, TxValidationCode};

/// Committed state of every namespace of a channel, as the validator reads it.
pub trait CommittedState: Sync {
    /// The committed value and version of `key` in `namespace`.
    fn get(&self, namespace: &str, key: &[u8]) -> Result<Option<VersionedValue>, StateError>;

    /// Committed entries of `namespace` with `start <= key < end` in byte order (empty `end`:
    /// unbounded; `start >= end`: empty).
    fn range(&self, namespace: &str, start: &[u8], end: &[u8])
    -> Result<StateIter<'_>, StateError>;
}

/// In-memory committed state, one [`MemoryState`] per namespace (offline reports, tests).
impl CommittedState for BTreeMap<String, MemoryState> {
    fn get(&self, namespace: &str, key: &[u8]) -> Result<Option<VersionedValue>, StateError> {
        match self.get(namespace) {
            Some(state) => state.get(key),
            None => Ok(None),
        }
    }

    fn range(
        &self,
        namespace: &str,
        start: &[u8],
        end: &[u8],
    ) -> Result<StateIter<'_>, StateError> {
        match self.get(namespace) {
            Some(state) => state.range(start, end),
            None => Ok(Box::new(std::iter::empty())),
        }
    }
}

/// A write of a valid transaction of the block being validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingWrite {
    /// The new value; `None` for a delete.
    pub value: Option<Vec<u8>>,
    /// (block, index of the writing transaction).
    pub version: Version,
}

/// One write of one valid transaction, in block order (for the history index).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedWrite {
    /// Index of the transaction in the block.
    pub tx_index: u32,
    /// Namespace written.
    pub namespace: String,
    /// Key written.
    pub key: Vec<u8>,
    /// The value; `None` for a delete.
    pub value: Option<Vec<u8>>,
}

/// The state updates of a block: the last write of each key, and every write in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockUpdates {
    /// Final write per (namespace, key).
    pub latest: BTreeMap<String, BTreeMap<Vec<u8>, PendingWrite>>,
    /// All writes of valid transactions in block order.
    pub writes: Vec<AppliedWrite>,
}

impl BlockUpdates {
    fn pending(&self, namespace: &str, key: &[u8]) -> Option<&PendingWrite> {
        self.latest.get(namespace)?.get(key)
    }

    /// Applies the writes of the valid transaction `tx_index` of block `block_num`.
    pub fn apply(&mut self, block_num: u64, tx_index: u32, rwset: &TxReadWriteSet) {
        let version = Version { block_num, tx_num: u64::from(tx_index) };
        for ns in &rwset.ns_rwset {
            if ns.writes.is_empty() {
                continue;
            }
            let latest = self.latest.entry(ns.namespace.clone()).or_default();
            for w in &ns.writes {
                let value = (!w.is_delete).then(|| w.value.clone());
                latest.insert(w.key.clone(), PendingWrite { value: value.clone(), version });
                self.writes.push(AppliedWrite {
                    tx_index,
                    namespace: ns.namespace.clone(),
                    key: w.key.clone(),
                    value,
                });
            }
        }
    }
}

/// How one transaction fared in the MVCC and phantom checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MvccOutcome {
    /// No conflict; its writes were applied to the block's updates.
    Valid,
    /// The first conflict found, with its code (MVCC_READ_CONFLICT or
    /// PHANTOM_READ_CONFLICT).
    Conflict(TxValidationCode, Conflict),
}

/// Validates the transactions of one block in order against committed state plus the writes
/// of the block's earlier valid transactions.
///
/// ```
/// use std::collections::BTreeMap;
/// use weft_rwset::mvcc::{MvccOutcome, MvccValidator};
/// use weft_proto::v1::{KvRead, KvWrite, NsReadWriteSet, TxReadWriteSet, TxValidationCode};
/// let committed: BTreeMap<String, weft_rwset::MemoryState> = BTreeMap::new();
/// let tx = TxReadWriteSet { ns_rwset: vec![NsReadWriteSet {
///     namespace: "kv".into(),
///     reads: vec![KvRead { key: b"k".to_vec(), version: None }],
///     writes: vec![KvWrite { key: b"k".to_vec(), is_delete: false, value: b"1".to_vec() }],
///     ..Default::default()
/// }] };
/// let mut v = MvccValidator::new(5, &committed);
/// assert_eq!(v.validate(0, &tx).unwrap(), MvccOutcome::Valid);
/// // The same read again in the same block: the key was written by tx 0.
/// match v.validate(1, &tx).unwrap() {
///     MvccOutcome::Conflict(code, c) => {
///         assert_eq!(code, TxValidationCode::MvccReadConflict);
///         assert_eq!(c.written_by_tx, Some(0));
///     }
///     other => panic!("{other:?}"),
/// }
/// ```
pub struct MvccValidator<'s, S: CommittedState + ?Sized> {
    block_num: u64,
    state: &'s S,
    updates: BlockUpdates,
}

impl<'s, S: CommittedState + ?Sized> MvccValidator<'s, S> {
    /// A validator for block `block_num` over `state`.
    pub fn new(block_num: u64, state: &'s S) -> Self {
        MvccValidator { block_num, state, updates: BlockUpdates::default() }
    }

    /// Checks transaction `tx_index`'s plain reads, then its ranges; if it is valid, applies
    /// its writes. Call only for transactions that passed the stateless checks.
    pub fn validate(
        &mut self,
        tx_index: u32,
        rwset: &TxReadWriteSet,
    ) -> Result<MvccOutcome, StateError> {
        for ns in &rwset.ns_rwset {
            for read in &ns.reads {
                if let Some(conflict) = self.check_read(&ns.namespace, read)? {
                    return Ok(conflict_outcome(
                        TxValidationCode::MvccReadConflict,
                        tx_index,
                        conflict,
                    ));
                }
            }
        }
        for ns in &rwset.ns_rwset {
            for info in &ns.range_queries_info {
                if let Some(conflict) = self.check_range(&ns.namespace, info)? {
                    return Ok(conflict_outcome(
                        TxValidationCode::PhantomReadConflict,
                        tx_index,
                        conflict,
                    ));
                }
            }
        }
        self.updates.apply(self.block_num, tx_index, rwset);
        Ok(MvccOutcome::Valid)
    }

    /// The block's accumulated updates.
    pub fn updates(&self) -> &BlockUpdates {
        &self.updates
    }

    /// Ends validation and returns the block's updates.
    pub fn into_updates(self) -> BlockUpdates {
        self.updates
    }

    fn check_read(&self, namespace: &str, read: &KvRead) -> Result<Option<Conflict>, StateError> {
        if let Some(pending) = self.updates.pending(namespace, &read.key) {
            // Written (or deleted) by an earlier valid transaction of this block: a conflict
            // whatever the versions say.
            return Ok(Some(Conflict {
                namespace: namespace.to_string(),
                key: read.key.clone(),
                recorded: read.version,
                current: pending.value.as_ref().map(|_| pending.version),
                written_by_tx: Some(pending.version.tx_num as u32),
                ..Default::default()
            }));
        }
        let current = self.state.get(namespace, &read.key)?.map(|v| v.version);
        if current == read.version {
            return Ok(None);
        }
        Ok(Some(Conflict {
            namespace: namespace.to_string(),
            key: read.key.clone(),
            recorded: read.version,
            current,
            ..Default::default()
        }))
    }

    fn check_range(
        &self,
        namespace: &str,
        info: &RangeQueryInfo,
    ) -> Result<Option<Conflict>, StateError> {
        let range = KeyRange::of_record(info);
        let record = KeyRangeRecord {
            start_key: range.start.clone(),
            end_key: range.end.clone(),
            end_inclusive: range.end_inclusive,
        };
        let mut now = self.merged_range(namespace, &range)?;
        let mut recorded = info.reads.iter();
        let mut next_now = now.next().transpose()?;
        let mut next_rec = recorded.next();
        loop {
            let (key, rec_version, now_version) = match (next_rec, &next_now) {
                (None, None) => return Ok(None),
                (Some(r), Some((k, v))) if r.key == *k => {
                    if r.version == Some(*v) {
                        next_rec = recorded.next();
                        next_now = now.next().transpose()?;
                        continue;
                    }
                    (k.clone(), r.version, Some(*v))
                }
                // A key the scan returned is missing now.
                (Some(r), Some((k, _))) if r.key < *k => (r.key.clone(), r.version, None),
                (Some(r), None) => (r.key.clone(), r.version, None),
                // A key that appeared in the range.
                (_, Some((k, v))) => (k.clone(), None, Some(*v)),
            };
            let written_by_tx =
                self.updates.pending(namespace, &key).map(|p| p.version.tx_num as u32);
            return Ok(Some(Conflict {
                namespace: namespace.to_string(),
                key,
                recorded: rec_version,
                current: now_version,
                written_by_tx,
                range: Some(record),
                ..Default::default()
            }));
        }
    }

    /// Keys and versions in `range` of committed state overlaid with the block's pending
    /// writes (pending wins; deleted keys drop out), in byte order.
    fn merged_range<'a>(
        &'a self,
        namespace: &str,
        range: &KeyRange,
    ) -> Result<VersionIter<'a>, StateError> {
        // [start, end] is [start, end ++ 0x00): nothing lies strictly between.
        let end = if range.end_inclusive {
            let mut e = range.end.clone();
            e.push(0);
            e
        } else {
            range.end.clone()
        };
        if !end.is_empty() && range.start >= end {
            return Ok(Box::new(std::iter::empty()));
        }
        let committed = self.state.range(namespace, &range.start, &end)?;
        let upper = if end.is_empty() { Bound::Unbounded } else { Bound::Excluded(end) };
        let pending: Vec<(Vec<u8>, &PendingWrite)> = match self.updates.latest.get(namespace) {
            Some(map) => map
                .range::<Vec<u8>, _>((Bound::Included(range.start.clone()), upper))
                .map(|(k, p)| (k.clone(), p))
                .collect(),
            None => Vec::new(),
        };
        Ok(Box::new(Merge {
            committed: committed.peekable(),
            pending: pending.into_iter().peekable(),
        }))
    }
}

/// Keys and versions in byte order.
type VersionIter<'a> = Box<dyn Iterator<Item = Result<(Vec<u8>, Version), StateError>> + 'a>;

fn conflict_outcome(code: TxValidationCode, tx_index: u32, mut conflict: Conflict) -> MvccOutcome {
    conflict.tx_index = tx_index;
    MvccOutcome::Conflict(code, conflict)
}

struct Merge<'a, C: Iterator<Item = Result<(Vec<u8>, VersionedValue), StateError>>> {
    committed: std::iter::Peekable<C>,
    pending: std::iter::Peekable<std::vec::IntoIter<(Vec<u8>, &'a PendingWrite)>>,
}

impl<C: Iterator<Item = Result<(Vec<u8>, VersionedValue), StateError>>> Iterator for Merge<'_, C> {
    type Item = Result<(Vec<u8>, Version), StateError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let take_pending = match (self.committed.peek(), self.pending.peek()) {
                (None, None) => return None,
                (Some(Err(_)), _) => {
                    return match self.committed.next() {
                        Some(Err(e)) => Some(Err(e)),
                        _ => None,
                    };
                }
                (None, Some(_)) => true,
                (Some(Ok(_)), None) => false,
                (Some(Ok((ck, _))), Some((pk, _))) => {
                    if pk <= ck {
                        if pk == ck {
                            self.committed.next(); // shadowed by the pending write
                        }
                        true
                    } else {
                        false
                    }
                }
            };
            if take_pending {
                let (key, write) = self.pending.next()?;
                if write.value.is_some() {
                    return Some(Ok((key, write.version)));
                }
                // A pending delete drops the key out.
            } else {
                return self.committed.next().map(|r| r.map(|(k, v)| (k, v.version)));
            }
        }
    }
}
