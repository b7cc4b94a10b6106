//! The [`Ledger`] of one channel: opens the sled database, validates and commits blocks
//! atomically and durably, recovers at start, and answers queries.
//!
//! Concurrency: commits are serialized. Simulations read state through a [`StateSnapshot`],
//! which holds a read lock; a commit holds the write lock only while its sled batch is
//! applied (sled has no snapshots, and a range scan must not see half a block). Validation
//! itself reads state without the write lock: only the committer writes. Do not call
//! [`Ledger::append`] while holding a snapshot on the same thread.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use prost::Message;
use weft_proto::v1::{Block, BlockMetadata, ChannelConfig, Conflict, TxValidationCode};
use weft_protocol::VerifiedSignatures;
use weft_protocol::block::{block_hash, data_hash, header_hash};
use weft_protocol::channel::{Channel, LIFECYCLE};
use weft_rwset::{HistoryIter, StateError, StateIter, VersionedValue};

use crate::blockstore::{BlockStore, TxLocation};
use crate::commit::{codes_of, commit_hash, stored_updates};
use crate::error::{Error, Result};
use crate::statedb::{self, NamespaceState, StateDb};
use crate::validator::{
    CommittedState, Prechecked as StatelessOutcome, check_envelopes, validate_block,
    validate_prechecked,
};

/// A block with the outcome of its stateless checks and their time.
/// With the channel (contract definitions) they were checked against.
type Prechecked = (Block, Vec<StatelessOutcome>, std::time::Duration, Arc<Channel>);
/// Stateless checks run ahead: outcomes, their time, the channel they were checked against.
type Checked = (Vec<StatelessOutcome>, std::time::Duration, Arc<Channel>);

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

/// Entries of one kind in the ledger's sled tree and the bytes of their keys and values, as
/// the ledger hands them to sled (sled's own overhead is in [`Footprint::on_disk`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Number of entries.
    pub entries: u64,
    /// Bytes of their keys.
    pub key_bytes: u64,
    /// Bytes of their values.
    pub value_bytes: u64,
}

impl Usage {
    /// Keys plus values.
    pub fn bytes(&self) -> u64 {
        self.key_bytes + self.value_bytes
    }

    fn add(&mut self, key: usize, value: usize) {
        self.entries += 1;
        self.key_bytes += key as u64;
        self.value_bytes += value as u64;
    }
}

/// What a ledger stores, by kind of entry ([`Ledger::footprint`]); the layouts are in
/// [`crate::blockstore`] and [`crate::statedb`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Block headers and metadata (validation codes, commit hash, conflicts).
    pub blocks: Usage,
    /// The ordered envelopes.
    pub envelopes: Usage,
    /// The index from block hash to number.
    pub hash_index: Usage,
    /// The index from transaction id to location and code.
    pub tx_index: Usage,
    /// Current values with their versions.
    pub state: Usage,
    /// The key-history index.
    pub history: Usage,
    /// Everything else (savepoint, configuration).
    pub other: Usage,
    /// Space the ledger's directory takes on disk (sled's log, blob files, configuration;
    /// allocated blocks on Unix): sled's log-structured storage and its space amplification
    /// included.
    pub on_disk: u64,
}

impl Footprint {
    /// The block store: blocks, envelopes and their two indexes.
    pub fn block_store(&self) -> u64 {
        self.blocks.bytes()
            + self.envelopes.bytes()
            + self.hash_index.bytes()
            + self.tx_index.bytes()
    }
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
    /// Opens (or creates) the ledger at `path` with default options.
    pub fn open(path: impl AsRef<Path>, config: ChannelConfig) -> Result<Ledger> {
        Ledger::open_with(path, config, LedgerOptions::default())
    }

    /// Opens (or creates) the ledger of the channel `config` describes at `path`.
    ///
    /// Recovery: if the state database is behind the block store, the missing blocks are
    /// replayed (their stored validation codes applied, commit hashes re-checked). If it is
    /// ahead, opening fails with [`Error::StateAhead`]. A ledger created with another
    /// configuration is refused.
    pub fn open_with(
        path: impl AsRef<Path>,
        config: ChannelConfig,
        options: LedgerOptions,
    ) -> Result<Ledger> {
        let path = path.as_ref().to_path_buf();
        let channel = Channel::new(config)?;
        std::fs::create_dir_all(&path)?;
        let db = open_db(&path, options.cache_capacity)?;
        let tree = db.open_tree("ledger")?;
        let config_bytes = channel.config().encode_to_vec();
        let channel = RwLock::new(Arc::new(channel));
        match tree.get(META_CONFIG)? {
            Some(stored) if stored.as_ref() != config_bytes.as_slice() => {
                return Err(Error::Config(format!(
                    "the ledger at {} was created with another configuration",
                    path.display()
                )));
            }
            Some(_) => {}
            None => {
                tree.insert(META_CONFIG, config_bytes)?;
                db.flush()?;
            }
        }
        let log_file = File::open(path.join("db"))?;
        if options.durability == Durability::Sync {
            // sled's configuration file and the directory entries, written when the
            // database was created.
            File::open(path.join("conf"))?.sync_all()?;
            File::open(&path)?.sync_all()?;
        }
        let ledger = Ledger {
            channel,
            blocks: BlockStore::new(tree.clone()),
            state: StateDb::new(tree.clone(), options.history),
            path,
            db,
            tree,
            options,
            log_file,
            synced_blobs: Mutex::new(HashSet::new()),
            state_lock: RwLock::new(()),
            commit_lock: Mutex::new(()),
            chain: RwLock::new(ChainInfo::default()),
            halted: AtomicBool::new(false),
            verified: VerifiedSignatures::default(),
        };
        ledger.check_history_setting()?;
        ledger.recover()?;
        Ok(ledger)
    }

    /// Clears the state database and history of the ledger at `path` (not its blocks): the
    /// next [`Ledger::open`] rebuilds them by replaying every block.
    pub fn reset_state(path: impl AsRef<Path>) -> Result<()> {
        let db = open_db(path.as_ref(), LedgerOptions::default().cache_capacity)?;
        let tree = db.open_tree("ledger")?;
        let mut batch = sled::Batch::default();
        for prefix in [statedb::STATE, statedb::HISTORY] {
            for entry in tree.scan_prefix([prefix]) {
                batch.remove(entry?.0);
            }
        }
        batch.insert(META_SAVEPOINT, &0u64.to_be_bytes());
        batch.remove(META_HISTORY);
        tree.apply_batch(batch)?;
        db.flush()?;
        Ok(())
    }

    /// The history setting is recorded with the state it describes: it may change only while
    /// no block's state is applied (a new ledger, or after `reset_state`).
    fn check_history_setting(&self) -> Result<()> {
        let wanted = [u8::from(self.options.history)];
        match self.tree.get(META_HISTORY)? {
            Some(stored) if stored.as_ref() == wanted => Ok(()),
            Some(_) if self.savepoint()? > 0 => Err(Error::HistorySettingChanged {
                path: self.path.clone(),
                built_with: !self.options.history,
            }),
            _ => {
                self.tree.insert(META_HISTORY, &wanted)?;
                self.db.flush()?;
                Ok(())
            }
        }
    }

    fn savepoint(&self) -> Result<u64> {
        match self.tree.get(META_SAVEPOINT)? {
            None => Ok(0),
            Some(v) => Ok(u64::from_be_bytes(
                v.as_ref().try_into().map_err(|_| Error::corrupt("savepoint"))?,
            )),
        }
    }

    fn recover(&self) -> Result<()> {
        let height = self.blocks.height()?;
        let savepoint = self.savepoint()?;
        if savepoint > height {
            return Err(Error::StateAhead { state_height: savepoint, block_height: height });
        }
        if savepoint < height {
            tracing::info!(
                channel = self.channel().name(),
                from = savepoint,
                to = height,
                "state is behind the block store: replaying blocks"
            );
        }
        for number in savepoint..height {
            let block = self
                .blocks
                .block(number)?
                .ok_or_else(|| Error::corrupt(format!("block {number} is missing")))?;
            let previous_commit = self.stored_commit_hash(number)?;
            let updates = stored_updates(&block)?;
            let metadata = block.metadata.clone().unwrap_or_default();
            let codes = codes_of(&metadata)?;
            let recomputed = commit_hash(&previous_commit, number, &codes, &updates);
            if recomputed.as_slice() != metadata.commit_hash.as_slice() {
                return Err(Error::corrupt(format!(
                    "block {number}: replayed commit hash differs from the stored one"
                )));
            }
            let mut batch = sled::Batch::default();
            statedb::add_updates(&mut batch, number, &updates, self.options.history);
            batch.insert(META_SAVEPOINT, &(number + 1).to_be_bytes());
            self.tree.apply_batch(batch)?;
        }
        if savepoint < height {
            self.make_durable()?;
        }
        let mut info = ChainInfo { height, ..ChainInfo::default() };
        if height > 0 {
            let last = self
                .blocks
                .block_header_and_metadata(height - 1)?
                .ok_or_else(|| Error::corrupt("last block missing"))?;
            info.current_hash = block_hash(&last).to_vec();
            info.previous_hash = last.header.unwrap_or_default().previous_hash;
            info.commit_hash = last.metadata.unwrap_or_default().commit_hash;
        }
        self.load_definitions()?;
        tracing::debug!(channel = self.channel().name(), height, "ledger open");
        *self.chain.write().expect("chain lock") = info;
        Ok(())
    }

    fn stored_commit_hash(&self, number: u64) -> Result<Vec<u8>> {
        if number == 0 {
            return Ok(Vec::new());
        }
        let prev = self
            .blocks
            .block_header_and_metadata(number - 1)?
            .ok_or_else(|| Error::corrupt(format!("block {} is missing", number - 1)))?;
        Ok(prev.metadata.unwrap_or_default().commit_hash)
    }

    /// The channel this ledger belongs to, with the contract definitions of its genesis
    /// configuration and of every committed block (see [`weft_protocol::channel`]).
    pub fn channel(&self) -> Arc<Channel> {
        self.channel.read().expect("channel lock").clone()
    }

    /// Adds the definitions in the committed `_lifecycle` state to the channel (at open).
    fn load_definitions(&self) -> Result<()> {
        let channel = self.channel();
        let state = self.state.namespace(LIFECYCLE);
        let mut definitions = Vec::new();
        for entry in weft_rwset::StateView::range(&state, b"", b"")? {
            let (key, value) = entry?;
            let def = channel.decode_definition(&key, &value.value).map_err(|e| {
                Error::corrupt(format!("committed lifecycle definition is invalid: {e}"))
            })?;
            definitions.push(def);
        }
        if !definitions.is_empty() {
            *self.channel.write().expect("channel lock") =
                Arc::new(channel.with_definitions(definitions));
        }
        Ok(())
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

    /// A new block over the current chain holding `envelopes` (for a single-node orderer and
    /// tests; a real orderer tracks its own chain).
    pub fn next_block(&self, envelopes: Vec<Vec<u8>>) -> Block {
        let info = self.chain_info();
        weft_protocol::block::new_block(info.height, info.current_hash, envelopes)
    }

    /// Validates `block` and commits it: its state updates, validation codes, conflicts,
    /// indexes and the new height go into sled as one atomic batch, made durable as the
    /// options say before this returns. Invalid transactions are recorded with their code.
    ///
    /// Errors: the block does not extend the chain ([`Error::WrongBlockNumber`],
    /// [`Error::BadBlock`]: nothing written), or storage failed. After a storage failure the
    /// ledger refuses further blocks; reopen it to recover.
    pub fn append(&self, block: Block) -> Result<BlockOutcome> {
        let _commit = self.commit_lock.lock().expect("commit lock");
        let (mut committed, tip) = self.apply_locked(block, &self.chain_info(), None)?;
        let applied = std::time::Instant::now();
        self.durable_or_halt()?;
        committed.timings.sync = applied.elapsed();
        *self.chain.write().expect("chain lock") = tip;
        Ok(committed)
    }

    /// Commits a stream of blocks like [`Ledger::append`], as a pipeline: one thread runs the
    /// stateless checks (signatures, policies) a block ahead, the calling thread runs the
    /// MVCC checks and applies each block, and a syncer thread makes applied blocks durable
    /// (several at once if they are waiting). `on_committed` is called on the calling thread,
    /// in order, only for blocks that are durable, and as soon as they are: the calling thread
    /// wakes for a durable block as it does for a checked one, so a stream that waits for its
    /// next block (blocks arriving from an orderer) does not hold back the reports of the
    /// blocks before it. Stops at the first error; blocks reported before it are committed,
    /// and blocks applied before it are made durable and reported first. The iterator is
    /// drained on the checking thread, at most two blocks ahead; after an error this returns
    /// once the iterator yields its next block or ends.
    ///
    /// Meanwhile [`Ledger::chain_info`] reports durable blocks only (it counts a block before
    /// `on_committed` sees it), while snapshots may already see applied ones (as with
    /// `append`).
    pub fn append_all<I, F>(&self, blocks: I, mut on_committed: F) -> Result<()>
    where
        I: IntoIterator<Item = Block>,
        I::IntoIter: Send,
        F: FnMut(BlockOutcome),
    {
        type Applied = (BlockOutcome, ChainInfo, std::time::Instant);
        /// What wakes the calling thread.
        enum Event {
            /// The checking thread's next block.
            Checked(Prechecked),
            /// The stream ended.
            Ended,
            /// The syncer made these blocks durable (or failed, and stopped).
            Synced(Result<Vec<Applied>>),
        }
        let _commit = self.commit_lock.lock().expect("commit lock");
        let mut tip = self.chain_info();
        let blocks = blocks.into_iter();
        std::thread::scope(|scope| {
            let (events, woken) = std::sync::mpsc::channel::<Event>();
            // Stateless checks need no state: they run a block ahead, on their own thread.
            // They are redone in line if a lifecycle definition committed meanwhile. One
            // checked block may wait for the calling thread (a place it takes and gets back
            // when the block is taken), one more is checked meanwhile.
            let (give_back, places) = std::sync::mpsc::channel::<()>();
            give_back.send(()).expect("the receiver is here");
            let checked_events = events.clone();
            scope.spawn(move || {
                for block in blocks {
                    let started = std::time::Instant::now();
                    let channel = self.channel();
                    let envelopes = block.data.as_ref().map(|d| d.envelopes.as_slice());
                    let envelopes = envelopes.unwrap_or_default();
                    let checked = check_envelopes(&channel, envelopes, &self.verified);
                    let prechecked = (block, checked, started.elapsed(), channel);
                    if places.recv().is_err()
                        || checked_events.send(Event::Checked(prechecked)).is_err()
                    {
                        return; // the calling thread stopped
                    }
                }
                let _ = checked_events.send(Event::Ended);
            });
            let (to_sync, pending) = std::sync::mpsc::channel::<Applied>();
            scope.spawn(move || {
                while let Ok(first) = pending.recv() {
                    let mut group = vec![first];
                    group.extend(pending.try_iter());
                    let result = self.durable_or_halt().map(|()| group);
                    let failed = result.is_err();
                    if events.send(Event::Synced(result)).is_err() || failed {
                        break;
                    }
                }
            });
            let mut to_sync = Some(to_sync);
            let mut give_back = Some(give_back);
            let mut failure = None;
            let mut streaming = true;
            // Applied blocks the syncer has not reported yet.
            let mut unreported = 0usize;
            loop {
                if failure.is_some() || !streaming {
                    // No more blocks: let the checking thread stop and the syncer finish
                    // what it has, then end.
                    give_back = None;
                    to_sync = None;
                    if unreported == 0 {
                        break;
                    }
                }
                let Ok(event) = woken.recv() else { break };
                match event {
                    Event::Checked((block, checked, stateless, channel)) => {
                        let Some(syncer) = to_sync.as_ref().filter(|_| failure.is_none()) else {
                            continue; // stopping: a block after the failure is not applied
                        };
                        if let Some(give_back) = &give_back {
                            let _ = give_back.send(());
                        }
                        match self.apply_locked(block, &tip, Some((checked, stateless, channel))) {
                            Ok((committed, next)) => {
                                tip = next.clone();
                                unreported += 1;
                                // If the syncer stopped on an error, its report is on its way.
                                let _ = syncer.send((committed, next, std::time::Instant::now()));
                            }
                            Err(e) => failure = Some(e),
                        }
                    }
                    Event::Ended => streaming = false,
                    Event::Synced(Ok(group)) => {
                        unreported -= group.len();
                        for (mut committed, info, applied) in group {
                            committed.timings.sync = applied.elapsed();
                            *self.chain.write().expect("chain lock") = info;
                            on_committed(committed);
                        }
                    }
                    Event::Synced(Err(e)) => {
                        // The syncer stopped: what it did not report is not durable.
                        unreported = 0;
                        failure.get_or_insert(e);
                    }
                }
            }
            drop((give_back, to_sync, woken));
            failure.map_or(Ok(()), Err)
        })
    }

    /// Validates `block` over the chain tip `tip` and applies it to sled (not yet durable).
    /// The caller holds the commit lock.
    /// `checked`: the stateless checks of its envelopes, if already run, their time and the
    /// channel they ran against (ignored if the channel's definitions changed since).
    fn apply_locked(
        &self,
        block: Block,
        tip: &ChainInfo,
        checked: Option<Checked>,
    ) -> Result<(BlockOutcome, ChainInfo)> {
        let channel = self.channel();
        let checked = checked.filter(|(_, _, used)| Arc::ptr_eq(used, &channel));
        if self.halted.load(Ordering::SeqCst) {
            return Err(Error::corrupt("an earlier commit failed; reopen the ledger"));
        }
        let header = block.header.clone().unwrap_or_default();
        let number = header.number;
        if number != tip.height {
            return Err(Error::WrongBlockNumber { expected: tip.height, got: number });
        }
        let bad = |reason: &str| Error::BadBlock { number, reason: reason.to_string() };
        if header.previous_hash != tip.current_hash {
            return Err(bad("previous hash is not the hash of the last block"));
        }
        let data = block.data.unwrap_or_default();
        if header.data_hash != data_hash(&data) {
            return Err(bad("data hash does not match the transactions"));
        }
        let mut timings = CommitTimings::default();
        let checked_in_line = checked.is_none();
        let started = std::time::Instant::now();
        let validation = match checked {
            Some((checked, stateless, _)) => {
                let mut v = validate_prechecked(number, &checked, &self.state, &self.blocks)?;
                v.stateless_time = stateless;
                v
            }
            None => validate_block(
                &channel,
                &self.verified,
                number,
                &data.envelopes,
                &self.state,
                &self.blocks,
            )?,
        };
        let in_line = if checked_in_line { validation.stateless_time } else { Default::default() };
        timings.stateless = validation.stateless_time;
        let validated = std::time::Instant::now();
        let commit = commit_hash(&tip.commit_hash, number, &validation.codes, &validation.updates);
        let hash = header_hash(&header);
        let metadata = BlockMetadata {
            validation_codes: validation.codes.iter().map(|c| *c as i32).collect(),
            commit_hash: commit.to_vec(),
            conflicts: validation.conflicts.clone(),
        };
        let stored =
            Block { header: Some(header.clone()), data: Some(data), metadata: Some(metadata) };

        // Definitions committed by this block apply from the next block on.
        let defined = match validation.updates.latest.get(LIFECYCLE) {
            None => None,
            Some(writes) => {
                let mut definitions = Vec::new();
                for (key, write) in writes {
                    let value = write.value.as_deref().unwrap_or_default();
                    definitions.push(channel.decode_definition(key, value).map_err(|e| {
                        Error::corrupt(format!("validated lifecycle definition is invalid: {e}"))
                    })?);
                }
                Some(Arc::new(channel.with_definitions(definitions)))
            }
        };
        let mut batch = sled::Batch::default();
        let indexed: Vec<Option<&str>> =
            validation.indexed.iter().map(|i| i.as_ref().map(|(id, _)| id.as_str())).collect();
        BlockStore::add_block(&mut batch, &stored, &hash, &indexed);
        statedb::add_updates(&mut batch, number, &validation.updates, self.options.history);
        batch.insert(META_SAVEPOINT, &(number + 1).to_be_bytes());
        {
            let _write = self.state_lock.write().expect("state lock");
            if let Err(e) = self.tree.apply_batch(batch) {
                self.halted.store(true, Ordering::SeqCst);
                return Err(e.into());
            }
            if let Some(defined) = defined {
                *self.channel.write().expect("channel lock") = defined;
            }
        }
        timings.mvcc = validated.duration_since(started).saturating_sub(in_line);
        timings.write = validated.elapsed();
        tracing::debug!(
            channel = channel.name(),
            number,
            txs = validation.codes.len(),
            "block applied"
        );
        let next = ChainInfo {
            height: number + 1,
            current_hash: hash.to_vec(),
            previous_hash: header.previous_hash,
            commit_hash: commit.to_vec(),
        };
        let committed = BlockOutcome {
            number,
            hash,
            codes: validation.codes,
            conflicts: validation.conflicts,
            commit_hash: commit,
            timings,
        };
        Ok((committed, next))
    }

    fn durable_or_halt(&self) -> Result<()> {
        let result = self.make_durable();
        if result.is_err() {
            self.halted.store(true, Ordering::SeqCst);
        }
        result
    }

    fn make_durable(&self) -> Result<()> {
        match self.options.durability {
            Durability::Deferred => return Ok(()),
            Durability::Flush => {
                self.db.flush()?;
                return Ok(());
            }
            Durability::Sync => {}
        }
        self.db.flush()?;
        self.log_file.sync_all()?;
        // sled writes values larger than its inline limit to blob files without syncing
        // them; sync any new one (and the directory entry).
        let blobs = self.path.join("blobs");
        let mut synced = self.synced_blobs.lock().expect("blob set");
        let mut new = false;
        for entry in std::fs::read_dir(&blobs)? {
            let entry = entry?;
            if synced.insert(entry.file_name()) {
                if let Ok(f) = File::open(entry.path()) {
                    f.sync_all()?;
                }
                new = true;
            }
        }
        if new {
            File::open(&blobs)?.sync_all()?;
        }
        Ok(())
    }

    /// Signatures already verified or made by this process, which validation skips: the
    /// orderer records the client signatures it checks, the endorser its own endorsements.
    pub fn verified_signatures(&self) -> &VerifiedSignatures {
        &self.verified
    }

    /// Committed state, held still while the snapshot lives.
    pub fn snapshot(&self) -> StateSnapshot<'_> {
        StateSnapshot { _guard: self.state_lock.read().expect("state lock"), state: &self.state }
    }

    /// The committed state of `namespace`, as a handle a simulation on another thread can
    /// own (see [`statedb::SharedNamespace`] for its consistency).
    pub fn shared_namespace(&self, namespace: &str) -> statedb::SharedNamespace {
        statedb::NamespaceState::new(self.state.clone(), namespace)
    }

    /// Block `number` with its metadata.
    pub fn block(&self, number: u64) -> Result<Option<Block>> {
        self.blocks.block(number)
    }

    /// The block whose header hash is `hash`.
    pub fn block_by_hash(&self, hash: &[u8]) -> Result<Option<Block>> {
        match self.blocks.number_of_hash(hash)? {
            Some(number) => self.blocks.block(number),
            None => Ok(None),
        }
    }

    /// Transaction `tx_id`: location, validation code and envelope.
    pub fn transaction(&self, tx_id: &str) -> Result<Option<CommittedTx>> {
        let Some(location) = self.blocks.tx_location(tx_id)? else { return Ok(None) };
        let envelope = self
            .blocks
            .envelope(location.block_number, location.tx_index)?
            .ok_or_else(|| Error::corrupt(format!("envelope of {tx_id} missing")))?;
        Ok(Some(CommittedTx { location, envelope }))
    }

    /// Whether `tx_id` is committed (valid or not): endorsers refuse such proposals.
    pub fn contains_tx_id(&self, tx_id: &str) -> Result<bool> {
        self.blocks.contains_tx_id(tx_id)
    }

    /// The conflicts recorded for transaction `tx_id` (empty unless it got
    /// MVCC_READ_CONFLICT or PHANTOM_READ_CONFLICT).
    pub fn conflicts_of(&self, tx_id: &str) -> Result<Vec<Conflict>> {
        Ok(self.outcome(tx_id)?.map(|o| o.conflicts).unwrap_or_default())
    }

    /// How committed transaction `tx_id` ended: its place and code, its block's header hash
    /// and its conflicts; `None` if it is not committed.
    pub fn outcome(&self, tx_id: &str) -> Result<Option<TxOutcome>> {
        let Some(location) = self.blocks.tx_location(tx_id)? else { return Ok(None) };
        let block = self
            .blocks
            .block_header_and_metadata(location.block_number)?
            .ok_or_else(|| Error::corrupt("indexed block missing"))?;
        let block_hash = weft_protocol::block::header_hash(&block.header.unwrap_or_default());
        let conflicts = block
            .metadata
            .unwrap_or_default()
            .conflicts
            .into_iter()
            .filter(|c| c.tx_index == location.tx_index)
            .collect();
        Ok(Some(TxOutcome { location, block_hash, conflicts }))
    }

    /// blake3 over the whole committed state; equal on two ledgers with the same state.
    pub fn state_hash(&self) -> Result<[u8; 32]> {
        let _read = self.state_lock.read().expect("state lock");
        Ok(self.state.state_hash()?)
    }

    /// What the ledger stores, by kind, and the space its directory takes on disk. Reads
    /// every entry (for benchmarks and operators, not for a hot path); commits go on
    /// meanwhile, so under load the figures are of no single height.
    pub fn footprint(&self) -> Result<Footprint> {
        let mut footprint = Footprint::default();
        for entry in self.tree.iter() {
            let (key, value) = entry?;
            let usage = match key.first() {
                Some(&crate::blockstore::BLOCK) => &mut footprint.blocks,
                Some(&crate::blockstore::ENVELOPE) => &mut footprint.envelopes,
                Some(&crate::blockstore::HASH) => &mut footprint.hash_index,
                Some(&crate::blockstore::TXID) => &mut footprint.tx_index,
                Some(&statedb::STATE) => &mut footprint.state,
                Some(&statedb::HISTORY) => &mut footprint.history,
                _ => &mut footprint.other,
            };
            usage.add(key.len(), value.len());
        }
        footprint.on_disk = disk_usage(&self.path)?;
        Ok(footprint)
    }

    /// Verifies the chain from block 0: numbering, header links, data hashes, the hash
    /// index, one code per transaction and the commit-hash chain. Returns the height.
    pub fn verify_chain(&self) -> Result<u64> {
        let height = self.chain_info().height;
        let mut previous_hash = Vec::new();
        let mut previous_commit = Vec::new();
        for number in 0..height {
            let broken = |reason: String| Error::ChainBroken { number, reason };
            let block = self.blocks.block(number)?.ok_or_else(|| broken("missing".into()))?;
            let header = block.header.clone().unwrap_or_default();
            let data = block.data.clone().unwrap_or_default();
            let metadata = block.metadata.clone().unwrap_or_default();
            if header.number != number {
                return Err(broken(format!("header says block {}", header.number)));
            }
            if header.previous_hash != previous_hash {
                return Err(broken("previous hash does not link".into()));
            }
            if header.data_hash != data_hash(&data) {
                return Err(broken("data hash does not match".into()));
            }
            let hash = header_hash(&header);
            if self.blocks.number_of_hash(&hash)? != Some(number) {
                return Err(broken("hash index does not point to the block".into()));
            }
            if metadata.validation_codes.len() != data.envelopes.len() {
                return Err(broken("not one validation code per transaction".into()));
            }
            let updates = stored_updates(&block)?;
            let codes = codes_of(&metadata)?;
            let commit = commit_hash(&previous_commit, number, &codes, &updates);
            if commit.as_slice() != metadata.commit_hash.as_slice() {
                return Err(broken("commit hash does not match".into()));
            }
            previous_hash = hash.to_vec();
            previous_commit = commit.to_vec();
        }
        Ok(height)
    }
}

/// Space the files under `path` take on disk: allocated blocks on Unix, lengths elsewhere.
fn disk_usage(path: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let metadata = entry.metadata()?;
        if metadata.is_dir() {
            total += disk_usage(&entry.path())?;
            continue;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            total += metadata.blocks() * 512;
        }
        #[cfg(not(unix))]
        {
            total += metadata.len();
        }
    }
    Ok(total)
}

/// Opens sled at `path`. sled releases its file lock only when its background threads have
/// let go of a dropped database, so a reopen in the same process retries for a while.
fn open_db(path: &Path, cache_capacity: u64) -> Result<sled::Db> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let config = sled::Config::new()
            .path(path)
            .cache_capacity(cache_capacity)
            .mode(sled::Mode::HighThroughput);
        match config.open() {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return Ok(other?),
        }
    }
}
