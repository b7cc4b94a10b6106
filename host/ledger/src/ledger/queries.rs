//! Reading a ledger: snapshots of state, blocks, transactions and their outcomes, the
//! state hash, the storage footprint, and verifying the chain.

use std::path::Path;

use weft_proto::v1::{Block, Conflict};
use weft_protocol::VerifiedSignatures;
use weft_protocol::block::{data_hash, header_hash};

use super::{CommittedTx, Ledger, StateSnapshot, TxOutcome};
use crate::commit::{codes_of, commit_hash, stored_updates};
use crate::error::{Error, Result};
use crate::statedb::{self};

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

impl Ledger {
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
                Some(&crate::blockstore::TXID | &crate::blockstore::TXID_FINGERPRINTS) => {
                    &mut footprint.tx_index
                }
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
