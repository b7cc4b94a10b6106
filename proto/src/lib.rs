//! # weft-proto: Weft's data model, defined once as protobuf
//!
//! Every structure that is hashed, signed, stored or sent between nodes is a protobuf message
//! defined under `proto/weft/v1/` and generated here with prost. prost writes fields in field
//! order and omits defaults, so `encode_to_vec` of the same message is the same bytes on every
//! node: hashes and signatures reproduce.
//!
//! ```
//! use prost::Message;
//! use weft_proto::v1::{KvRead, Version};
//!
//! let read = KvRead { key: b"asset1".to_vec(), version: Some(Version { block_num: 3, tx_num: 0 }) };
//! let bytes = read.encode_to_vec();
//! assert_eq!(KvRead::decode(bytes.as_slice()).unwrap(), read);
//! // An absent read carries no version.
//! let absent = KvRead { key: b"asset9".to_vec(), version: None };
//! assert!(absent.version.is_none());
//! ```
//!
//! Two helpers go with the messages: [`quote`] bounds client-supplied text (names, ids,
//! hashes) quoted in error messages, and, with the `grpc` feature, [`codec`] is the codec of
//! the generated clients and servers, which answers a message that does not decode with
//! `INVALID_ARGUMENT`.

pub use prost;

#[cfg(feature = "grpc")]
pub mod codec;
pub mod quote;

/// Package `weft.v1`.
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/weft.v1.rs"));
}
