//! The block store: append-only blocks with indexes by number, hash and transaction id, in
//! the ledger's sled tree (the source of truth the state is rebuilt from).
//!
//! | key                          | value                                                  |
//! |------------------------------|--------------------------------------------------------|
//! | `B` number u64               | the block without its envelopes (header, metadata)    |
//! | `E` number u64, chunk u32    | envelopes `32 * chunk ..`, each as length u32 + bytes  |
//! | `H` block hash               | number u64                                             |
//! | `T` transaction id           | number u64, index u32, validation code i32            |
//!
//! Lookups of transaction ids go through an in-memory filter first
//! ([`crate::txid_filter`]): an id it has never seen is answered without reading sled.
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
    /// The block store in `tree`; reads every indexed transaction id into the filter (two
    /// scans of the index: one to size the filter, one to fill it).
    pub(crate) fn open(tree: sled::Tree) -> Result<BlockStore> {
        let mut indexed = 0u64;
        for key in tree.scan_prefix([TXID]).keys() {
            key?;
            indexed += 1;
        }
        let tx_ids = TxIdFilter::with_capacity(indexed.saturating_mul(2));
        for key in tree.scan_prefix([TXID]).keys() {
            let key = key?;
            tx_ids.insert(
                std::str::from_utf8(&key[1..])
                    .map_err(|_| Error::corrupt("a transaction index key is not UTF-8"))?,
            );
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
        for (index, tx_id) in indexed.iter().enumerate() {
            let Some(tx_id) = tx_id else { continue };
            self.tx_ids.insert(tx_id);
            let code = metadata.validation_codes.get(index).copied().unwrap_or_default();
            let mut v = Vec::with_capacity(16);
            v.extend_from_slice(&number.to_be_bytes());
            v.extend_from_slice(&(index as u32).to_be_bytes());
            v.extend_from_slice(&code.to_be_bytes());
            batch.insert(txid_key(tx_id), v);
        }
    }

    /// Number of blocks stored.
    pub fn height(&self) -> Result<u64> {
        match self.tree.scan_prefix([BLOCK]).next_back() {
            None => Ok(0),
            Some(entry) => {
                let (k, _) = entry?;
                let n: [u8; 8] =
                    k[1..].try_into().map_err(|_| Error::corrupt("block key length"))?;
                Ok(u64::from_be_bytes(n) + 1)
            }
        }
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
        if !self.tx_ids.may_contain(tx_id) {
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
        if !self.tx_ids.may_contain(tx_id) {
            return Ok(false);
        }
        Ok(self.tree.contains_key(txid_key(tx_id))?)
    }
}

impl crate::validator::TxIdIndex for BlockStore {
    fn contains_tx_id(&self, tx_id: &str) -> Result<bool> {
        BlockStore::contains_tx_id(self, tx_id)
    }
}
