//! The [`Ledger`] of one channel: opens the sled database, validates and commits blocks
//! atomically and durably, recovers at start, and answers queries.
//!
//! Concurrency: commits are serialized. Simulations read state through a [`StateSnapshot`],
//! which holds a read lock; a commit holds the write lock only while its sled batch is
//! applied (sled has no snapshots, and a range scan must not see half a block). Validation
//! itself reads state without the write lock: only the committer writes. Do not call
//! [`Ledger::append`] while holding a snapshot on the same thread.
//!
//! The methods are grouped by what they do: `open` (opening, configuration checks,
//! recovery from the block store), `pipeline` (validating and committing blocks, and
//! durability) and `queries` (snapshots, blocks, transactions, hashes, footprint, chain
//! verification). This module holds the types they share and the ledger itself.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use weft_proto::v1::{Conflict, TxValidationCode};
use weft_protocol::VerifiedSignatures;
use weft_protocol::channel::Channel;
use weft_rwset::{HistoryIter, StateError, StateIter, VersionedValue};

use crate::blockstore::{BlockStore, TxLocation};
use crate::error::Result;
use crate::statedb::{NamespaceState, StateDb};
use crate::validator::CommittedState;

mod open;
mod pipeline;
mod queries;

pub use queries::{Footprint, Usage};

const META_SAVEPOINT: &[u8] = b"Msavepoint";
const META_CONFIG: &[u8] = b"Mconfig";
const META_HISTORY: &[u8] = b"Mhistory";

/// What is done before [`Ledger::append`] returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `sled::Db::flush` and then `fsync` of sled's log file and of any new blob file: the
    /// block survives a process crash and a power loss. The default.
    #[default]
    Sync,
    /// `sled::Db::flush` only (`sync_file_range` on Linux): survives a process crash, not
    /// necessarily a power loss.
    Flush,
    /// Nothing: sled flushes in the background every 500 ms. A crash may lose the latest
    /// blocks (never half a block); they are fetched again from the ordering service.
    Deferred,
}

/// Options for [`Ledger::open_with`].
#[derive(Clone, Copy, Debug)]
pub struct LedgerOptions {
    /// What a commit waits for.
    pub durability: Durability,
    /// sled's page cache, in bytes.
    pub cache_capacity: u64,
    /// Whether to keep the key-history index (Fabric's `enableHistoryDatabase`). On by
    /// default; off saves some CPU per write. Changing it for an existing ledger needs
    /// [`Ledger::reset_state`] (the history is rebuilt by the replay).
    pub history: bool,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions {
            durability: Durability::Sync,
            cache_capacity: 256 * 1024 * 1024,
            history: true,
        }
    }
}

/// Height and hashes of the chain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainInfo {
    /// Number of blocks (the next block's number).
    pub height: u64,
    /// Hash of the last block's header (empty if there is none).
    pub current_hash: Vec<u8>,
    /// Hash of the header before it (empty if there is none).
    pub previous_hash: Vec<u8>,
    /// Commit hash of the last block (empty if there is none).
    pub commit_hash: Vec<u8>,
}

/// What committing a block decided ([`Ledger::append`]); [`TxOutcome`] is one transaction's.
/// (`weft_rwset::report::CommittedBlock` is the offline counterpart the SDK's `MockStub` and
/// the runtime's `Harness` return.)
#[derive(Clone, Debug, PartialEq)]
pub struct BlockOutcome {
    /// The block's number.
    pub number: u64,
    /// The block's header hash.
    pub hash: [u8; 32],
    /// One code per transaction.
    pub codes: Vec<TxValidationCode>,
    /// Per transaction: the id its proposal claims (empty if it does not decode), decoded
    /// once by the validator. Commit-status waiters are told the ledger's record of an id
    /// where it has one (only authentic ids are recorded), else this block's code.
    pub tx_ids: Vec<String>,
    /// Per transaction: whether the ledger records its id at this occurrence (then the
    /// ledger's record of the id is this block's number, hash, code and conflicts).
    pub indexed: Vec<bool>,
    /// The key (or range) and versions behind each MVCC or phantom conflict.
    pub conflicts: Vec<Conflict>,
    /// The commit hash after this block.
    pub commit_hash: [u8; 32],
    /// Where the time went.
    pub timings: CommitTimings,
}

/// Time spent in each phase of [`Ledger::append`] (for metrics and benchmarks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitTimings {
    /// Stateless checks (decoding, signatures, policies), in parallel.
    pub stateless: std::time::Duration,
    /// Duplicate-id lookups and MVCC/phantom checks, in block order.
    pub mvcc: std::time::Duration,
    /// Building and applying the sled batch.
    pub write: std::time::Duration,
    /// From applied to durable (flush, fsync; with [`Ledger::append_all`], also the wait
    /// for the syncer).
    pub sync: std::time::Duration,
}

/// A committed transaction: where it is, its code and its envelope ([`Ledger::transaction`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommittedTx {
    /// Location and code.
    pub location: TxLocation,
    /// The encoded envelope as ordered.
    pub envelope: Vec<u8>,
}

/// How a committed transaction ended ([`Ledger::outcome`]).
#[derive(Clone, Debug, PartialEq)]
pub struct TxOutcome {
    /// Block, index and validation code.
    pub location: TxLocation,
    /// The header hash of its block: with the number, names the block for good.
    pub block_hash: [u8; 32],
    /// The key (or range) and versions of its MVCC or phantom conflict, if it had one.
    pub conflicts: Vec<Conflict>,
}

/// Committed state, held still for as long as this lives (commits wait).
pub struct StateSnapshot<'a> {
    _guard: RwLockReadGuard<'a, ()>,
    state: &'a StateDb,
}

impl StateSnapshot<'_> {
    /// The state of one namespace, as a contract simulation reads it
    /// ([`weft_rwset::StateView`] and [`weft_rwset::HistoryView`]).
    pub fn namespace(&self, namespace: &str) -> NamespaceState<&StateDb> {
        self.state.namespace(namespace)
    }

    /// The valid committed writes of `key` in `namespace`, oldest first; `None` if the
    /// ledger keeps no history.
    pub fn history(&self, namespace: &str, key: &[u8]) -> Option<HistoryIter<'_>> {
        self.state.history(namespace, key)
    }
}

impl CommittedState for StateSnapshot<'_> {
    fn get(&self, namespace: &str, key: &[u8]) -> Result<Option<VersionedValue>, StateError> {
        CommittedState::get(self.state, namespace, key)
    }

    fn range(
        &self,
        namespace: &str,
        start: &[u8],
        end: &[u8],
    ) -> Result<StateIter<'_>, StateError> {
        CommittedState::range(self.state, namespace, start, end)
    }
}

/// The ledger of one channel. See the module documentation for locking.
pub struct Ledger {
    /// Genesis configuration plus committed lifecycle definitions; replaced (never mutated)
    /// when a block commits a definition.
    channel: RwLock<Arc<Channel>>,
    path: PathBuf,
    db: sled::Db,
    tree: sled::Tree,
    blocks: BlockStore,
    state: StateDb,
    options: LedgerOptions,
    log_file: File,
    synced_blobs: Mutex<HashSet<OsString>>,
    state_lock: RwLock<()>,
    commit_lock: Mutex<()>,
    chain: RwLock<ChainInfo>,
    halted: AtomicBool,
    verified: VerifiedSignatures,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("channel", &self.channel().name())
            .field("path", &self.path)
            .field("chain", &self.chain_info())
            .finish_non_exhaustive()
    }
}

impl Ledger {
    /// The channel this ledger belongs to, with the contract definitions of its genesis
    /// configuration and of every committed block (see [`weft_protocol::channel`]).
    pub fn channel(&self) -> Arc<Channel> {
        self.channel.read().expect("channel lock").clone()
    }

    /// Whether a storage failure while applying or syncing a block stopped this ledger: it
    /// refuses further blocks until it is reopened.
    pub fn is_halted(&self) -> bool {
        self.halted.load(Ordering::SeqCst)
    }

    /// Height, last hashes and commit hash.
    pub fn chain_info(&self) -> ChainInfo {
        self.chain.read().expect("chain lock").clone()
    }
}
