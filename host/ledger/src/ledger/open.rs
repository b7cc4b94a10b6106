//! Opening a ledger: creating or reopening its sled database, checking its configuration
//! and history setting, and recovering the state database from the block store.

use std::collections::HashSet;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};

use prost::Message;
use weft_proto::v1::ChannelConfig;
use weft_protocol::VerifiedSignatures;
use weft_protocol::block::block_hash;
use weft_protocol::channel::{Channel, LIFECYCLE};

use super::{
    ChainInfo, Durability, Ledger, LedgerOptions, META_CONFIG, META_HISTORY, META_SAVEPOINT,
};
use crate::blockstore::BlockStore;
use crate::commit::{codes_of, commit_hash, stored_updates};
use crate::error::{Error, Result};
use crate::statedb::{self, StateDb};

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
        let blocks = BlockStore::open(tree.clone())?;
        let ledger = Ledger {
            channel,
            state: StateDb::new(tree.clone(), blocks.clone(), options.history),
            blocks,
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
    pub(super) fn check_history_setting(&self) -> Result<()> {
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

    pub(super) fn savepoint(&self) -> Result<u64> {
        match self.tree.get(META_SAVEPOINT)? {
            None => Ok(0),
            Some(v) => Ok(u64::from_be_bytes(
                v.as_ref().try_into().map_err(|_| Error::corrupt("savepoint"))?,
            )),
        }
    }

    pub(super) fn recover(&self) -> Result<()> {
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

    pub(super) fn stored_commit_hash(&self, number: u64) -> Result<Vec<u8>> {
        if number == 0 {
            return Ok(Vec::new());
        }
        let prev = self
            .blocks
            .block_header_and_metadata(number - 1)?
            .ok_or_else(|| Error::corrupt(format!("block {} is missing", number - 1)))?;
        Ok(prev.metadata.unwrap_or_default().commit_hash)
    }

    /// Adds the definitions in the committed `_lifecycle` state to the channel (at open).
    pub(super) fn load_definitions(&self) -> Result<()> {
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
