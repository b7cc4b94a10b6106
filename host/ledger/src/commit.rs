//! The commit hash, and the state updates of a stored block (for replay and chain
//! verification).

use weft_proto::v1::{Block, BlockMetadata, TxValidationCode};
use weft_protocol::decoded::DecodedTx;

use crate::error::{Error, Result};
use crate::validator::BlockUpdates;

/// The commit hash after block `number`: blake3 over the previous commit hash, the block
/// number, its validation codes and its state updates (namespace, key, delete flag, value,
/// version) in key order.
pub fn commit_hash(
    previous: &[u8],
    number: u64,
    codes: &[TxValidationCode],
    updates: &BlockUpdates,
) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    let mut field = |bytes: &[u8]| {
        h.update(&(bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(previous);
    field(&number.to_le_bytes());
    let codes: Vec<u8> = codes.iter().flat_map(|c| (*c as i32).to_le_bytes()).collect();
    field(&codes);
    for (namespace, writes) in &updates.latest {
        for (key, write) in writes {
            field(namespace.as_bytes());
            field(key);
            field(&[u8::from(write.value.is_none())]);
            field(write.value.as_deref().unwrap_or_default());
            field(&write.version.block_num.to_le_bytes());
            field(&write.version.tx_num.to_le_bytes());
        }
    }
    *h.finalize().as_bytes()
}

pub(crate) fn codes_of(metadata: &BlockMetadata) -> Result<Vec<TxValidationCode>> {
    metadata
        .validation_codes
        .iter()
        .map(|c| TxValidationCode::try_from(*c).map_err(|_| Error::corrupt("unknown code")))
        .collect()
}

/// The state updates of a stored block, from its recorded validation codes.
pub(crate) fn stored_updates(block: &Block) -> Result<BlockUpdates> {
    let number = block.header.as_ref().map_or(0, |h| h.number);
    let metadata = block.metadata.clone().unwrap_or_default();
    let codes = codes_of(&metadata)?;
    let envelopes = block.data.as_ref().map(|d| d.envelopes.as_slice()).unwrap_or_default();
    if codes.len() != envelopes.len() {
        return Err(Error::corrupt(format!("block {number}: not one code per transaction")));
    }
    let mut updates = BlockUpdates::default();
    for (index, (bytes, code)) in envelopes.iter().zip(&codes).enumerate() {
        if *code != TxValidationCode::Valid {
            continue;
        }
        let corrupt = |what: &str| Error::corrupt(format!("block {number} tx {index}: {what}"));
        let decoded = DecodedTx::decode(bytes).map_err(|e| corrupt(&e.to_string()))?;
        let payload = decoded.response_payload().map_err(|e| corrupt(&e.to_string()))?;
        updates.apply(number, index as u32, &payload.rwset.unwrap_or_default());
    }
    Ok(updates)
}
