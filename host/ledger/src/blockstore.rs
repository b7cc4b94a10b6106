//! The block store: append-only blocks with indexes by number, hash and transaction id, in
//! the ledger's sled tree (the source of truth the state is rebuilt from).
//!
//! | key                          | value                                                  |
//! |------------------------------|--------------------------------------------------------|
//! | `B` number u64               | the block without its envelopes (header, metadata)    |
//! | `E` number u64, chunk u32    | envelopes `32 * chunk ..`, each as length u32 + bytes  |
//! | `H` block hash               | number u64                                             |
//! | `T` transaction id           | number u64, index u32, validation code i32            |
//! | `F` number u64               | the fingerprints of the ids block `number` indexed    |
//!
//! Lookups of transaction ids go through an in-memory filter first
//! ([`crate::txid_filter`]): an id it has never seen is answered without reading sled. The
//! filter holds 8-byte fingerprints (the first 8 bytes of the id's BLAKE3 hash); each block
//! stores those of the ids it indexed under its `F` key, in the batch that commits it, so
//! opening a ledger reads one compact value per block to refill the filter instead of
//! walking the whole `T` index (which would pull it into sled's cache: measured, about 115
//! bytes of memory per transaction).
//!
//! Envelopes are stored in chunks of 32: few keys per block (each key costs a tree insert),
//! yet small values for ordinary transactions (sled 0.34 writes values above ~128 KiB to
//! separate blob files, which the ledger then syncs one by one).

use std::sync::Arc;

use prost::Message;
use weft_proto::v1::{Block, BlockData, TxValidationCode};

use crate::error::{Error, Result};
use crate::txid_filter::TxIdFilter;

pub(crate) const BLOCK: u8 = b'B';
pub(crate) const ENVELOPE: u8 = b'E';
pub(crate) const HASH: u8 = b'H';
pub(crate) const TXID: u8 = b'T';
pub(crate) const TXID_FINGERPRINTS: u8 = b'F';

fn block_key(number: u64) -> [u8; 9] {
    let mut k = [BLOCK; 9];
    k[1..].copy_from_slice(&number.to_be_bytes());
    k
}

/// Envelopes per chunk.
const CHUNK: usize = 32;

fn chunk_key(number: u64, chunk: u32) -> [u8; 13] {
    let mut k = [ENVELOPE; 13];
    k[1..9].copy_from_slice(&number.to_be_bytes());
    k[9..].copy_from_slice(&chunk.to_be_bytes());
    k
}

fn encode_chunk(envelopes: &[Vec<u8>]) -> Vec<u8> {
    let mut v = Vec::with_capacity(envelopes.iter().map(|e| e.len() + 4).sum());
    for e in envelopes {
        v.extend_from_slice(&(e.len() as u32).to_be_bytes());
        v.extend_from_slice(e);
    }
    v
}

fn decode_chunk(mut bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let len: [u8; 4] = bytes
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| Error::corrupt("envelope chunk"))?;
        let len = u32::from_be_bytes(len) as usize;
        let e = bytes.get(4..4 + len).ok_or_else(|| Error::corrupt("envelope chunk"))?;
        out.push(e.to_vec());
        bytes = &bytes[4 + len..];
    }
    Ok(out)
}

fn hash_key(hash: &[u8]) -> Vec<u8> {
    let mut k = vec![HASH];
    k.extend_from_slice(hash);
    k
}

fn fingerprints_key(number: u64) -> [u8; 9] {
    let mut k = [TXID_FINGERPRINTS; 9];
    k[1..].copy_from_slice(&number.to_be_bytes());
    k
}

/// The fingerprint of a transaction id the filter holds.
fn fingerprint(tx_id: &str) -> u64 {
    let hash = blake3::hash(tx_id.as_bytes());
    u64::from_le_bytes(hash.as_bytes()[..8].try_into().expect("8 bytes"))
}

fn txid_key(tx_id: &str) -> Vec<u8> {
    let mut k = vec![TXID];
    k.extend_from_slice(tx_id.as_bytes());
    k
}

/// Where a committed transaction is and how it was judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxLocation {
    /// Block number.
    pub block_number: u64,
    /// Index in the block.
    pub tx_index: u32,
    /// Its validation code.
    pub code: TxValidationCode,
}

/// Reads and writes blocks in the ledger's tree. Clones share one filter of transaction ids.
#[derive(Clone, Debug)]
pub struct BlockStore {
    tree: sled::Tree,
    tx_ids: Arc<TxIdFilter>,
}

impl BlockStore {
    /// The block store in `tree`, its filter filled from the blocks' fingerprints (two
    /// scans of the `F` keys: one to size the filter, one to fill it).
    pub(crate) fn open(tree: sled::Tree) -> Result<BlockStore> {
        let height = height_of(&tree)?;
        let (mut blocks, mut ids) = (0u64, 0u64);
        for entry in tree.scan_prefix([TXID_FINGERPRINTS]) {
            blocks += 1;
            ids += entry?.1.len() as u64 / 8;
        }
        if blocks < height {
            ids = add_missing_fingerprints(&tree, height)?;
        }
        let tx_ids = TxIdFilter::with_capacity(ids.saturating_mul(2));
        for entry in tree.scan_prefix([TXID_FINGERPRINTS]) {
            for fingerprint in entry?.1.chunks_exact(8) {
                tx_ids.insert(u64::from_le_bytes(fingerprint.try_into().expect("8 bytes")));
            }
        }
        Ok(BlockStore { tree, tx_ids: Arc::new(tx_ids) })
    }

    /// Adds a validated block (with metadata) and its indexes to `batch`.
    /// `indexed[i]` is the id transaction `i` is indexed under, if any. The ids enter the
    /// filter now, before the batch is applied, so that the filter never misses an id
    /// the index holds.
    pub(crate) fn add_block(
        &self,
        batch: &mut sled::Batch,
        block: &Block,
        hash: &[u8; 32],
        indexed: &[Option<&str>],
    ) {
        let header = block.header.clone().unwrap_or_default();
        let number = header.number;
        let metadata = block.metadata.clone().unwrap_or_default();
        let stored = Block { header: Some(header), data: None, metadata: Some(metadata.clone()) };
        batch.insert(&block_key(number), stored.encode_to_vec());
        let envelopes = block.data.as_ref().map(|d| d.envelopes.as_slice()).unwrap_or_default();
        for (chunk, envelopes) in envelopes.chunks(CHUNK).enumerate() {
            batch.insert(&chunk_key(number, chunk as u32), encode_chunk(envelopes));
        }
        batch.insert(hash_key(hash), &number.to_be_bytes());
        let mut fingerprints = Vec::with_capacity(8 * indexed.len());
        for (index, tx_id) in indexed.iter().enumerate() {
            let Some(tx_id) = tx_id else { continue };
            let fingerprint = fingerprint(tx_id);
            self.tx_ids.insert(fingerprint);
            fingerprints.extend_from_slice(&fingerprint.to_le_bytes());
            let code = metadata.validation_codes.get(index).copied().unwrap_or_default();
            let mut v = Vec::with_capacity(16);
            v.extend_from_slice(&number.to_be_bytes());
            v.extend_from_slice(&(index as u32).to_be_bytes());
            v.extend_from_slice(&code.to_be_bytes());
            batch.insert(txid_key(tx_id), v);
        }
        batch.insert(&fingerprints_key(number), fingerprints);
    }

    /// Number of blocks stored.
    pub fn height(&self) -> Result<u64> {
        height_of(&self.tree)
    }

    /// Block `number` without its envelopes.
    pub fn block_header_and_metadata(&self, number: u64) -> Result<Option<Block>> {
        match self.tree.get(block_key(number))? {
            None => Ok(None),
            Some(bytes) => Block::decode(bytes.as_ref())
                .map(Some)
                .map_err(|e| Error::corrupt(format!("block {number}: {e}"))),
        }
    }

    /// Block `number`, complete.
    pub fn block(&self, number: u64) -> Result<Option<Block>> {
        let Some(mut block) = self.block_header_and_metadata(number)? else { return Ok(None) };
        let mut envelopes = Vec::new();
        for entry in self.tree.scan_prefix(&chunk_key(number, 0)[..9]) {
            envelopes.extend(decode_chunk(&entry?.1)?);
        }
        block.data = Some(BlockData { envelopes });
        Ok(Some(block))
    }

    /// The number of the block whose header hashes to `hash`.
    pub fn number_of_hash(&self, hash: &[u8]) -> Result<Option<u64>> {
        match self.tree.get(hash_key(hash))? {
            None => Ok(None),
            Some(v) => Ok(Some(u64::from_be_bytes(
                v.as_ref().try_into().map_err(|_| Error::corrupt("hash index entry"))?,
            ))),
        }
    }

    /// Envelope `index` of block `number`.
    pub fn envelope(&self, number: u64, index: u32) -> Result<Option<Vec<u8>>> {
        let chunk = (index as usize / CHUNK) as u32;
        match self.tree.get(chunk_key(number, chunk))? {
            None => Ok(None),
            Some(bytes) => Ok(decode_chunk(&bytes)?.into_iter().nth(index as usize % CHUNK)),
        }
    }

    /// Where transaction `tx_id` was committed and its code.
    pub fn tx_location(&self, tx_id: &str) -> Result<Option<TxLocation>> {
        if !self.tx_ids.may_contain(fingerprint(tx_id)) {
            return Ok(None);
        }
        let Some(v) = self.tree.get(txid_key(tx_id))? else { return Ok(None) };
        if v.len() != 16 {
            return Err(Error::corrupt("transaction index entry"));
        }
        let code = i32::from_be_bytes(v[12..16].try_into().expect("4 bytes"));
        Ok(Some(TxLocation {
            block_number: u64::from_be_bytes(v[0..8].try_into().expect("8 bytes")),
            tx_index: u32::from_be_bytes(v[8..12].try_into().expect("4 bytes")),
            code: TxValidationCode::try_from(code)
                .map_err(|_| Error::corrupt("unknown validation code"))?,
        }))
    }

    /// Whether `tx_id` is in the ledger (the filter first, then the index).
    pub fn contains_tx_id(&self, tx_id: &str) -> Result<bool> {
        if !self.tx_ids.may_contain(fingerprint(tx_id)) {
            return Ok(false);
        }
        Ok(self.tree.contains_key(txid_key(tx_id))?)
    }
}

/// Number of blocks stored in `tree`.
fn height_of(tree: &sled::Tree) -> Result<u64> {
    match tree.scan_prefix([BLOCK]).next_back() {
        None => Ok(0),
        Some(entry) => {
            let (k, _) = entry?;
            let n: [u8; 8] = k[1..].try_into().map_err(|_| Error::corrupt("block key length"))?;
            Ok(u64::from_be_bytes(n) + 1)
        }
    }
}

/// Writes the `F` key of every block below `height` that has none (a ledger written before
/// blocks stored their fingerprints), from the `T` index, once; returns the number of
/// fingerprints stored in all.
fn add_missing_fingerprints(tree: &sled::Tree, height: u64) -> Result<u64> {
    tracing::info!(
        blocks = height,
        "storing the fingerprints of the indexed transaction ids (once)"
    );
    let mut by_block: std::collections::BTreeMap<u64, Vec<u8>> = std::collections::BTreeMap::new();
    for entry in tree.scan_prefix([TXID]) {
        let (key, value) = entry?;
        let tx_id = std::str::from_utf8(&key[1..])
            .map_err(|_| Error::corrupt("a transaction index key is not UTF-8"))?;
        let number: [u8; 8] = value
            .get(..8)
            .and_then(|n| n.try_into().ok())
            .ok_or_else(|| Error::corrupt("transaction index entry"))?;
        let fingerprints = by_block.entry(u64::from_be_bytes(number)).or_default();
        fingerprints.extend_from_slice(&fingerprint(tx_id).to_le_bytes());
    }
    let mut batch = sled::Batch::default();
    let mut stored = 0;
    for number in 0..height {
        let key = fingerprints_key(number);
        match tree.get(key)? {
            Some(present) => stored += present.len() as u64 / 8,
            None => {
                let fingerprints = by_block.remove(&number).unwrap_or_default();
                stored += fingerprints.len() as u64 / 8;
                batch.insert(&key, fingerprints);
            }
        }
    }
    tree.apply_batch(batch)?;
    Ok(stored)
}

impl crate::validator::TxIdIndex for BlockStore {
    fn contains_tx_id(&self, tx_id: &str) -> Result<bool> {
        BlockStore::contains_tx_id(self, tx_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_proto::v1::{BlockHeader, BlockMetadata};

    /// Stores blocks `0..count`, block `n` indexing ids `n-0` .. `n-3`.
    fn store_blocks(store: &BlockStore, tree: &sled::Tree, count: u64) {
        for number in 0..count {
            let block = Block {
                header: Some(BlockHeader { number, ..BlockHeader::default() }),
                data: Some(BlockData::default()),
                metadata: Some(BlockMetadata {
                    validation_codes: vec![TxValidationCode::Valid as i32; 4],
                    ..BlockMetadata::default()
                }),
            };
            let ids: Vec<String> = (0..4).map(|i| format!("{number}-{i}")).collect();
            let indexed: Vec<Option<&str>> = ids.iter().map(|id| Some(id.as_str())).collect();
            let mut batch = sled::Batch::default();
            store.add_block(&mut batch, &block, &[number as u8; 32], &indexed);
            tree.apply_batch(batch).unwrap();
        }
    }

    fn fingerprint_keys(tree: &sled::Tree) -> usize {
        tree.scan_prefix([TXID_FINGERPRINTS]).count()
    }

    #[test]
    fn the_filter_is_refilled_from_the_blocks_fingerprints_and_misses_no_id() {
        let dir = tempfile::tempdir().unwrap();
        let tree = sled::open(dir.path()).unwrap().open_tree("ledger").unwrap();
        let store = BlockStore::open(tree.clone()).unwrap();
        store_blocks(&store, &tree, 50);
        assert_eq!(fingerprint_keys(&tree), 50, "one per block");
        let reopened = BlockStore::open(tree.clone()).unwrap();
        for number in 0..50 {
            for i in 0..4 {
                let id = format!("{number}-{i}");
                assert!(reopened.contains_tx_id(&id).unwrap(), "{id}");
                assert_eq!(reopened.tx_location(&id).unwrap().unwrap().block_number, number);
            }
        }
        let strangers =
            (0..1_000).filter(|n| reopened.tx_ids.may_contain(fingerprint(&format!("x{n}"))));
        assert!(strangers.count() < 20, "the filter answers for ids it never saw");
        assert!(!reopened.contains_tx_id("50-0").unwrap());
    }

    #[test]
    fn a_ledger_without_fingerprints_gets_them_from_the_index_once() {
        let dir = tempfile::tempdir().unwrap();
        let tree = sled::open(dir.path()).unwrap().open_tree("ledger").unwrap();
        store_blocks(&BlockStore::open(tree.clone()).unwrap(), &tree, 30);
        // As a ledger written before blocks stored their fingerprints, and one block of
        // them left, as after a partial migration.
        for number in 1..30 {
            tree.remove(fingerprints_key(number)).unwrap();
        }
        let reopened = BlockStore::open(tree.clone()).unwrap();
        assert_eq!(fingerprint_keys(&tree), 30);
        for number in 0..30 {
            for i in 0..4 {
                assert!(reopened.contains_tx_id(&format!("{number}-{i}")).unwrap());
            }
            let stored = tree.get(fingerprints_key(number)).unwrap().unwrap();
            assert_eq!(stored.len(), 4 * 8, "block {number}");
        }
    }
}
