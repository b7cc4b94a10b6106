//! Blocks: building them and hashing headers and data with blake3.

use prost::Message;
use weft_proto::v1::{Block, BlockData, BlockHeader, BlockMetadata};

/// blake3 of the encoded block data.
pub fn data_hash(data: &BlockData) -> [u8; 32] {
    *blake3::hash(&data.encode_to_vec()).as_bytes()
}

/// blake3 of the encoded header: the block's hash, which the next block links to.
pub fn header_hash(header: &BlockHeader) -> [u8; 32] {
    *blake3::hash(&header.encode_to_vec()).as_bytes()
}

/// The hash of `block`'s header (of a default header if it has none).
pub fn block_hash(block: &Block) -> [u8; 32] {
    header_hash(&block.header.clone().unwrap_or_default())
}

/// A new block `number` over `previous_hash` (empty for block 0) holding encoded envelopes,
/// with empty metadata (the committing peer fills it).
///
/// ```
/// use weft_protocol::block::{block_hash, new_block};
/// let b0 = new_block(0, Vec::new(), vec![b"tx".to_vec()]);
/// let b1 = new_block(1, block_hash(&b0).to_vec(), vec![]);
/// assert_eq!(b1.header.unwrap().previous_hash, block_hash(&b0).to_vec());
/// ```
pub fn new_block(number: u64, previous_hash: Vec<u8>, envelopes: Vec<Vec<u8>>) -> Block {
    let data = BlockData { envelopes };
    let header = BlockHeader { number, previous_hash, data_hash: data_hash(&data).to_vec() };
    Block { header: Some(header), data: Some(data), metadata: Some(BlockMetadata::default()) }
}
