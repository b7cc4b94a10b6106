//! # weft-rwset: recording what a transaction read and wrote, exactly as Fabric does
//!
//! One [`TxSimulator`] runs alongside one contract invocation. It reads committed state through
//! a [`StateView`] and records a [`NsReadWriteSet`] by the rules of `docs/semantics.md`:
//!
//! * no read-your-own-writes: `get` and ranges always see committed state;
//! * every `get` records the key with the version it saw (absent: no version), once per key;
//! * `del`, and `put` of an empty value, are writes with the delete flag; the last write wins;
//! * reads and writes come out sorted by key;
//! * a range scan records a [`RangeQueryInfo`] with the early-stop rule (see [`KeyRange`]);
//! * [`merge`] joins two sets recorded one after the other by the same rules.
//!
//! Around it, [`InvocationRecorder`] is everything else one invocation does through the host
//! functions (iterators, history, events, response, logs, with the ABI's limits), and
//! [`Invocation`] is its input with the ABI's encoding of each transaction field. [`text`] is
//! the one rule that makes contract-supplied text (log lines, messages) safe to show.
//! [`dev_network`] names the organizations and identities of a development network once, for
//! the node's `weft init` and the SDK's `MockStub` alike.
//!
//! On the other side of ordering, [`mvcc`] is the stateful core of validation (plain-read and
//! phantom checks in block order, Fabric's codes, with the conflicting key and versions), and
//! [`report`] answers "which of these would conflict?" for a set of simulated transactions.
//!
//! The host runtime and the SDK's native test context both drive these same types, so a
//! contract's read/write set is the same in `cargo test` as on a peer. The validator uses
//! [`KeyRange::of_record`] to re-run recorded ranges by the same inclusive/exclusive rule.
//!
//! ```
//! use weft_rwset::{MemoryState, Mode, TxSimulator, Version};
//!
//! let mut state = MemoryState::default();
//! state.insert(b"a", b"1", Version { block_num: 1, tx_num: 0 });
//! let mut sim = TxSimulator::new("kv", &state, Mode::Invoke);
//! sim.put(b"a", b"2").unwrap();
//! // No read-your-own-writes: the committed value is returned.
//! assert_eq!(sim.get(b"a").unwrap().as_deref(), Some(b"1".as_slice()));
//! let rwset = sim.finish().unwrap();
//! assert_eq!(rwset.reads[0].version, Some(Version { block_num: 1, tx_num: 0 }));
//! assert_eq!(rwset.writes[0].value, b"2");
//! ```

pub mod dev_network;
mod host_memory;
mod invocation;
mod memory;
mod merge;
pub mod mvcc;
mod range;
pub mod report;
mod simulator;
pub mod text;

pub use host_memory::{HostMemory, HostMemoryExceeded};
pub use invocation::{
    Call, Creator, Invocation, InvocationRecorder, Recorded, SharedHistory, SharedState, Stop,
    abort_message,
};
pub use memory::{MemoryHistory, MemoryState};
pub use merge::{NamespaceMismatch, merge};
pub use range::KeyRange;
pub use simulator::{Mode, SimError, TxSimulator};
pub use weft_proto::v1::{
    KvRead, KvWrite, NsReadWriteSet, RangeQueryInfo, TxReadWriteSet, Version,
};

/// A committed value and the version that wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionedValue {
    /// The value (never empty: an empty write is a delete).
    pub value: Vec<u8>,
    /// (block, transaction index) of the write.
    pub version: Version,
}

/// Entries of a range scan over committed state, in ascending key order.
pub type StateIter<'a> =
    Box<dyn Iterator<Item = Result<(Vec<u8>, VersionedValue), StateError>> + Send + 'a>;

/// Read-only access to the committed state of one namespace.
pub trait StateView {
    /// The committed value of `key`, if any.
    fn get(&self, key: &[u8]) -> Result<Option<VersionedValue>, StateError>;

    /// Committed entries with `start <= key < end` in byte order; an empty `end` is
    /// unbounded. If `start > end` (and `end` is not empty) the range is empty.
    fn range(&self, start: &[u8], end: &[u8]) -> Result<StateIter<'_>, StateError>;
}

impl<T: StateView + ?Sized> StateView for &T {
    fn get(&self, key: &[u8]) -> Result<Option<VersionedValue>, StateError> {
        (**self).get(key)
    }
    fn range(&self, start: &[u8], end: &[u8]) -> Result<StateIter<'_>, StateError> {
        (**self).range(start, end)
    }
}

/// One committed modification of a key, as key-history queries return it (Fabric's
/// `KeyModification`). History is not part of the read/write set: it is not re-validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Id of the transaction that wrote the key.
    pub tx_id: String,
    /// Version of the write: (block, transaction index).
    pub version: Version,
    /// The writing transaction's timestamp (from its proposal).
    pub timestamp: weft_abi::Timestamp,
    /// Whether the write was a delete.
    pub is_delete: bool,
    /// The value written (empty for a delete).
    pub value: Vec<u8>,
    /// Bytes read and decoded from storage to produce this entry: on a node, the writing
    /// transaction's envelope, which is the same on every peer; 0 for history held in memory.
    /// Reading history is charged fuel for them (`InvocationRecorder::history_open`).
    pub source_bytes: usize,
}

/// Entries of a key's history, oldest first.
pub type HistoryIter<'a> = Box<dyn Iterator<Item = Result<HistoryEntry, StateError>> + Send + 'a>;

/// Read-only access to the committed history of keys of one namespace.
pub trait HistoryView {
    /// The valid committed writes of `key`, oldest first; `None` if this node keeps no history.
    fn history(&self, key: &[u8]) -> Result<Option<HistoryIter<'_>>, StateError>;
}

/// Reading committed state failed: the node is broken (I/O, corruption), not the contract.
/// Never turned into a contract outcome, never endorsed.
#[derive(Debug, thiserror::Error)]
#[error("reading committed state failed: {0}")]
pub struct StateError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

impl StateError {
    /// Wraps any error as a state error.
    pub fn new(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StateError {
        StateError(err.into())
    }
}
