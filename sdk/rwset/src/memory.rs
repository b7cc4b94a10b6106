//! An in-memory committed state: the SDK's test context and the model-based tests use it.

use std::collections::BTreeMap;

use crate::{StateError, StateIter, StateView, Version, VersionedValue};

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
