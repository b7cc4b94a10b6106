//! The state database on sled: value and version per (namespace, key) and a history index
//! per key. The channel is the ledger's own database directory, so a node with several
//! channels has one state database per channel.
//!
//! Layout inside the ledger's sled tree (all integers big-endian, so byte order is numeric
//! order):
//!
//! | key                                                   | value                                   |
//! |-------------------------------------------------------|-----------------------------------------|
//! | `S` ns `0x00` key                                     | block u64, tx u64, value                |
//! | `Y` ns `0x00` key-len u32, key, block u64, tx u64     | is-delete u8                            |
//!
//! As in Fabric's history database, a history entry only says which transaction wrote the
//! key; its id, timestamp and value are read from that transaction in the block store when
//! the history is queried, so a commit writes a few bytes per key for history.

use std::borrow::Borrow;
use weft_protocol::decoded::DecodedTx;
use weft_rwset::{
    HistoryEntry, HistoryIter, HistoryView, StateError, StateIter, StateView, Version,
    VersionedValue,
};

use crate::blockstore::BlockStore;
use crate::validator::{AppliedWrite, BlockUpdates, CommittedState};

pub(crate) const STATE: u8 = b'S';
pub(crate) const HISTORY: u8 = b'Y';

fn ns_prefix(tag: u8, namespace: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(namespace.len() + 2);
    k.push(tag);
    k.extend_from_slice(namespace.as_bytes());
    k.push(0);
    k
}

pub(crate) fn state_key(namespace: &str, key: &[u8]) -> Vec<u8> {
    let mut k = ns_prefix(STATE, namespace);
    k.extend_from_slice(key);
    k
}

fn history_prefix(namespace: &str, key: &[u8]) -> Vec<u8> {
    let mut k = ns_prefix(HISTORY, namespace);
    k.extend_from_slice(&(key.len() as u32).to_be_bytes());
    k.extend_from_slice(key);
    k
}

pub(crate) fn encode_versioned(version: Version, value: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(16 + value.len());
    v.extend_from_slice(&version.block_num.to_be_bytes());
    v.extend_from_slice(&version.tx_num.to_be_bytes());
    v.extend_from_slice(value);
    v
}

fn decode_versioned(bytes: &[u8]) -> Result<VersionedValue, StateError> {
    if bytes.len() < 16 {
        return Err(StateError::new("corrupt state entry: shorter than its version"));
    }
    Ok(VersionedValue {
        version: Version {
            block_num: u64::from_be_bytes(bytes[0..8].try_into().expect("8 bytes")),
            tx_num: u64::from_be_bytes(bytes[8..16].try_into().expect("8 bytes")),
        },
        value: bytes[16..].to_vec(),
    })
}

/// Adds a block's state updates and history entries to a sled batch.
/// History entries are added only if `history` is set.
pub(crate) fn add_updates(
    batch: &mut sled::Batch,
    block_num: u64,
    updates: &BlockUpdates,
    history: bool,
) {
    for (namespace, writes) in &updates.latest {
        for (key, write) in writes {
            let k = state_key(namespace, key);
            match &write.value {
                Some(value) => batch.insert(k, encode_versioned(write.version, value)),
                None => batch.remove(k),
            }
        }
    }
    if !history {
        return;
    }
    for AppliedWrite { tx_index, namespace, key, value } in &updates.writes {
        let mut k = history_prefix(namespace, key);
        k.extend_from_slice(&block_num.to_be_bytes());
        k.extend_from_slice(&u64::from(*tx_index).to_be_bytes());
        batch.insert(k, &[u8::from(value.is_none())]);
    }
}

/// Reads a history entry's transaction from the block store.
fn history_entry(
    blocks: &BlockStore,
    namespace: &str,
    key: &[u8],
    index_key: &[u8],
    index_value: &[u8],
) -> Result<HistoryEntry, StateError> {
    let corrupt = |what: &str| StateError::new(format!("history of {namespace}: {what}"));
    let suffix = index_key.len().checked_sub(16).ok_or_else(|| corrupt("short key"))?;
    let number = u64::from_be_bytes(index_key[suffix..suffix + 8].try_into().expect("8 bytes"));
    let tx_num = u64::from_be_bytes(index_key[suffix + 8..].try_into().expect("8 bytes"));
    let is_delete = index_value.first() == Some(&1);
    let envelope = blocks
        .envelope(number, tx_num as u32)
        .map_err(StateError::new)?
        .ok_or_else(|| corrupt("transaction missing from the block store"))?;
    let source_bytes = envelope.len();
    let decoded = DecodedTx::decode(&envelope).map_err(|e| corrupt(&e.to_string()))?;
    let payload = decoded.response_payload().map_err(|e| corrupt(&e.to_string()))?;
    let value = payload
        .rwset
        .unwrap_or_default()
        .ns_rwset
        .into_iter()
        .filter(|ns| ns.namespace == namespace)
        .flat_map(|ns| ns.writes)
        .find(|w| w.key == key)
        .ok_or_else(|| corrupt("write missing from its transaction"))?
        .value;
    let ts = decoded.timestamp();
    Ok(HistoryEntry {
        tx_id: decoded.tx_id().to_owned(),
        version: Version { block_num: number, tx_num },
        timestamp: weft_abi::Timestamp { seconds: ts.seconds, nanos: ts.nanos, reserved: 0 },
        is_delete,
        value,
        source_bytes,
    })
}

fn storage(e: sled::Error) -> StateError {
    StateError::new(e)
}

/// Committed state of all namespaces of a channel, read from sled.
#[derive(Clone, Debug)]
pub struct StateDb {
    tree: sled::Tree,
    blocks: BlockStore,
    history: bool,
}

impl StateDb {
    pub(crate) fn new(tree: sled::Tree, blocks: BlockStore, history: bool) -> StateDb {
        StateDb { blocks, tree, history }
    }

    /// The state of one namespace.
    pub fn namespace(&self, namespace: &str) -> NamespaceState<&StateDb> {
        NamespaceState::new(self, namespace)
    }

    /// The valid committed writes of `key` in `namespace`, oldest first; `None` if this
    /// ledger keeps no history ([`crate::LedgerOptions::history`]).
    pub fn history(&self, namespace: &str, key: &[u8]) -> Option<HistoryIter<'_>> {
        if !self.history {
            return None;
        }
        let namespace = namespace.to_string();
        let key = key.to_vec();
        let iter = self.tree.scan_prefix(history_prefix(&namespace, &key)).map(move |entry| {
            let (k, v) = entry.map_err(storage)?;
            history_entry(&self.blocks, &namespace, &key, &k, &v)
        });
        Some(Box::new(iter))
    }

    /// blake3 over every state entry (namespace, key, version, value) in byte order.
    pub fn state_hash(&self) -> Result<[u8; 32], StateError> {
        let mut hasher = blake3::Hasher::new();
        for entry in self.tree.scan_prefix([STATE]) {
            let (k, v) = entry.map_err(storage)?;
            hasher.update(&(k.len() as u64).to_le_bytes());
            hasher.update(&k);
            hasher.update(&(v.len() as u64).to_le_bytes());
            hasher.update(&v);
        }
        Ok(*hasher.finalize().as_bytes())
    }
}

impl CommittedState for StateDb {
    fn get(&self, namespace: &str, key: &[u8]) -> Result<Option<VersionedValue>, StateError> {
        match self.tree.get(state_key(namespace, key)).map_err(storage)? {
            Some(bytes) => decode_versioned(&bytes).map(Some),
            None => Ok(None),
        }
    }

    fn range(
        &self,
        namespace: &str,
        start: &[u8],
        end: &[u8],
    ) -> Result<StateIter<'_>, StateError> {
        if !end.is_empty() && start >= end {
            return Ok(Box::new(std::iter::empty()));
        }
        let prefix_len = namespace.len() + 2;
        let lo = state_key(namespace, start);
        let hi = if end.is_empty() {
            let mut hi = ns_prefix(STATE, namespace);
            *hi.last_mut().expect("prefix ends with 0x00") = 1;
            hi
        } else {
            state_key(namespace, end)
        };
        let iter = self.tree.range(lo..hi).map(move |entry| {
            let (k, v) = entry.map_err(storage)?;
            Ok((k[prefix_len..].to_vec(), decode_versioned(&v)?))
        });
        Ok(Box::new(iter))
    }
}

/// Committed state of one namespace: what a contract simulation reads. `D` is how the
/// database is held: borrowed (`&StateDb`) from a [`crate::StateSnapshot`], which holds commits
/// back while it lives, or owned ([`SharedNamespace`]) by a simulation on another thread.
#[derive(Clone, Debug)]
pub struct NamespaceState<D: Borrow<StateDb>> {
    db: D,
    namespace: String,
}

/// The committed state of one namespace that owns its handle on the database, so a
/// simulation running on another thread can hold it (`weft_rwset::SharedState`). Unlike a
/// [`crate::StateSnapshot`] it does not hold commits back: a simulation may see a block
/// applied partway through it, and then one of its recorded reads is stale, so the validator
/// rejects that transaction (MVCC or phantom conflict). Nothing inconsistent can commit.
pub type SharedNamespace = NamespaceState<StateDb>;

impl<D: Borrow<StateDb>> NamespaceState<D> {
    pub(crate) fn new(db: D, namespace: &str) -> NamespaceState<D> {
        NamespaceState { db, namespace: namespace.to_string() }
    }
}

impl<D: Borrow<StateDb>> StateView for NamespaceState<D> {
    fn get(&self, key: &[u8]) -> Result<Option<VersionedValue>, StateError> {
        CommittedState::get(self.db.borrow(), &self.namespace, key)
    }

    fn range(&self, start: &[u8], end: &[u8]) -> Result<StateIter<'_>, StateError> {
        CommittedState::range(self.db.borrow(), &self.namespace, start, end)
    }
}

impl<D: Borrow<StateDb>> HistoryView for NamespaceState<D> {
    fn history(&self, key: &[u8]) -> Result<Option<HistoryIter<'_>>, StateError> {
        Ok(self.db.borrow().history(&self.namespace, key))
    }
}
