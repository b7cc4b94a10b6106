//! An in-memory committed state: the SDK's test context and the model-based tests use it.

use std::collections::BTreeMap;

use crate::{
    HistoryEntry, HistoryIter, HistoryView, KvWrite, StateError, StateIter, StateView, Version,
    VersionedValue,
};

/// Committed state of one namespace held in a `BTreeMap` (byte order, like the ledger).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryState {
    entries: BTreeMap<Vec<u8>, VersionedValue>,
}

impl MemoryState {
    /// Sets `key` to `value` at `version`; an empty value deletes the key.
    pub fn insert(&mut self, key: &[u8], value: &[u8], version: Version) {
        if value.is_empty() {
            self.entries.remove(key);
        } else {
            self.entries.insert(key.to_vec(), VersionedValue { value: value.to_vec(), version });
        }
    }

    /// Applies a valid transaction's writes at `version` (deletes remove the key).
    pub fn apply_writes(&mut self, writes: &[KvWrite], version: Version) {
        for write in writes {
            if write.is_delete {
                self.remove(&write.key);
            } else {
                self.insert(&write.key, &write.value, version);
            }
        }
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &[u8]) {
        self.entries.remove(key);
    }

    /// Every committed entry in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &VersionedValue)> {
        self.entries.iter().map(|(k, v)| (k.as_slice(), v))
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl StateView for MemoryState {
    fn get(&self, key: &[u8]) -> Result<Option<VersionedValue>, StateError> {
        Ok(self.entries.get(key).cloned())
    }

    fn range(&self, start: &[u8], end: &[u8]) -> Result<StateIter<'_>, StateError> {
        use std::ops::Bound::{Excluded, Included, Unbounded};
        if !end.is_empty() && start >= end {
            return Ok(Box::new(std::iter::empty()));
        }
        let upper = if end.is_empty() { Unbounded } else { Excluded(end) };
        let iter = self
            .entries
            .range::<[u8], _>((Included(start), upper))
            .map(|(k, v)| Ok((k.clone(), v.clone())));
        Ok(Box::new(iter))
    }
}

/// Committed history of keys held in memory, oldest entry first (a [`HistoryView`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryHistory {
    entries: BTreeMap<Vec<u8>, Vec<HistoryEntry>>,
}

impl MemoryHistory {
    /// Appends one committed write of `key`.
    pub fn record(&mut self, key: &[u8], entry: HistoryEntry) {
        self.entries.entry(key.to_vec()).or_default().push(entry);
    }

    /// Appends every write of a valid transaction committed at `version`.
    pub fn record_writes(
        &mut self,
        writes: &[KvWrite],
        version: Version,
        tx_id: &str,
        timestamp: weft_abi::Timestamp,
    ) {
        for write in writes {
            self.record(
                &write.key,
                HistoryEntry {
                    tx_id: tx_id.to_owned(),
                    version,
                    timestamp,
                    is_delete: write.is_delete,
                    value: write.value.clone(),
                    source_bytes: 0,
                },
            );
        }
    }
}

impl HistoryView for MemoryHistory {
    fn history(&self, key: &[u8]) -> Result<Option<HistoryIter<'_>>, StateError> {
        let entries = self.entries.get(key).map(Vec::as_slice).unwrap_or_default();
        Ok(Some(Box::new(entries.iter().cloned().map(Ok))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applying_writes_sets_versions_deletes_and_records_history() {
        let v1 = Version { block_num: 1, tx_num: 0 };
        let v2 = Version { block_num: 2, tx_num: 4 };
        let put =
            |k: &[u8], v: &[u8]| KvWrite { key: k.to_vec(), is_delete: false, value: v.to_vec() };
        let del = |k: &[u8]| KvWrite { key: k.to_vec(), is_delete: true, value: vec![] };
        let mut state = MemoryState::default();
        let mut history = MemoryHistory::default();
        let ts = weft_abi::Timestamp::default();
        let first = [put(b"a", b"1"), put(b"b", b"2")];
        state.apply_writes(&first, v1);
        history.record_writes(&first, v1, "t1", ts);
        let second = [del(b"a"), put(b"b", b"3")];
        state.apply_writes(&second, v2);
        history.record_writes(&second, v2, "t2", ts);
        assert_eq!(state.get(b"a").unwrap(), None);
        assert_eq!(state.get(b"b").unwrap().unwrap().version, v2);
        let a: Vec<_> = history.history(b"a").unwrap().unwrap().map(Result::unwrap).collect();
        assert_eq!(a.len(), 2);
        assert!(a[1].is_delete && a[1].tx_id == "t2");
        assert_eq!(history.history(b"zz").unwrap().unwrap().count(), 0);
    }
}
