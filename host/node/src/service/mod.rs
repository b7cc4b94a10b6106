//! Thin tonic services: decode the request, call the node's parts, map errors with
//! [`crate::status`]. `edge` stands in front of all of them. A refusal that names what the
//! client sent quotes it with [`weft_proto::quote`], so no status outgrows gRPC metadata.

pub mod admin;
pub(crate) mod each;
pub(crate) mod edge;
pub mod endorser;
pub mod gateway;
pub mod ledger;
pub mod submit_stream;

use std::sync::Arc;

use weft_proto::quote::quote;

use crate::channels::ChannelPeer;
use crate::error::Error;
use crate::node::Shared;

/// The peer of the channel a request names ([`crate::channels::Channels::resolve`]): an
/// empty name means the node's only channel (`INVALID_ARGUMENT` when it has several); a
/// channel this node has not joined is `NOT_FOUND`, naming it and the ones it has.
pub(crate) fn joined(shared: &Shared, channel: &str) -> Result<Arc<ChannelPeer>, Error> {
    shared.channels.resolve(channel)
}

/// A required message field, or a clear error naming it.
pub(crate) fn required<T>(field: Option<T>, name: &str) -> Result<T, Error> {
    field.ok_or_else(|| Error::BadRequest(format!("the request has no {name}")))
}

/// A transaction id the request names in `field`: 64 lowercase hex digits (the id is the
/// BLAKE3 hash of the proposal's nonce and creator), or a clear error quoting what came.
pub(crate) fn tx_id(id: String, field: &str) -> Result<String, Error> {
    if id.is_empty() {
        return Err(Error::BadRequest(format!("the request has no {field}")));
    }
    if id.len() != 64 || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(Error::BadRequest(format!(
            "the request's {field} {} is not a transaction id (64 lowercase hex digits)",
            quote(&id)
        )));
    }
    Ok(id)
}

/// A contract the request names: not empty, else a clear error.
pub(crate) fn contract(name: String) -> Result<String, Error> {
    if name.is_empty() {
        return Err(Error::BadRequest("the request names no contract".into()));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tx_id_is_64_lowercase_hex_digits() {
        let id = "0123456789abcdef".repeat(4);
        assert_eq!(tx_id(id.clone(), "tx_id").unwrap(), id);
        for bad in
            [String::new(), "ab".into(), id.to_uppercase(), format!("{id}0"), "x".repeat(1 << 20)]
        {
            let message = tx_id(bad.clone(), "tx_id").unwrap_err().to_string();
            assert!(message.len() < 300, "{} bytes for {} bytes", message.len(), bad.len());
        }
    }
}
