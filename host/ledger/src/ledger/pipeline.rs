//! Committing blocks: stateless checks ahead of the MVCC checks in a pipeline
//! ([`Ledger::append_all`]), one atomic sled batch per block, and durability.

use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use weft_proto::v1::{Block, BlockMetadata};
use weft_protocol::block::{data_hash, header_hash};
use weft_protocol::channel::{Channel, LIFECYCLE};

use super::{BlockOutcome, ChainInfo, CommitTimings, Durability, Ledger, META_SAVEPOINT};
use crate::commit::commit_hash;
use crate::error::{Error, Result};
use crate::statedb::{self};
use crate::validator::{
    Prechecked as StatelessOutcome, check_envelopes, validate_block, validate_prechecked,
};

/// A block with the outcome of its stateless checks and their time.
/// With the channel (contract definitions) they were checked against.
type Prechecked = (Block, Vec<StatelessOutcome>, std::time::Duration, Arc<Channel>);
/// Stateless checks run ahead: outcomes, their time, the channel they were checked against.
type Checked = (Vec<StatelessOutcome>, std::time::Duration, Arc<Channel>);

impl Ledger {
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
    pub(super) fn apply_locked(
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
        self.blocks.add_block(&mut batch, &stored, &hash, &indexed);
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
            indexed: validation.indexed.iter().map(Option::is_some).collect(),
            codes: validation.codes,
            tx_ids: validation.tx_ids,
            conflicts: validation.conflicts,
            commit_hash: commit,
            timings,
        };
        Ok((committed, next))
    }

    pub(super) fn durable_or_halt(&self) -> Result<()> {
        let result = self.make_durable();
        if result.is_err() {
            self.halted.store(true, Ordering::SeqCst);
        }
        result
    }

    pub(super) fn make_durable(&self) -> Result<()> {
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
}
