//! Transaction ids: derived from the client's nonce and identity, so a client cannot take
//! another client's id.

use prost::Message;
use weft_proto::v1::Identity;

/// The transaction id of a proposal: lowercase hex of blake3(nonce || encoded creator).
///
/// ```
/// use weft_protocol::txid::derive_tx_id;
/// use weft_proto::v1::Identity;
/// let alice = Identity { msp_id: "Org1".into(), public_key: vec![1; 32] };
/// let bob = Identity { msp_id: "Org1".into(), public_key: vec![2; 32] };
/// assert_eq!(derive_tx_id(b"n1", &alice).len(), 64);
/// assert_ne!(derive_tx_id(b"n1", &alice), derive_tx_id(b"n1", &bob));
/// ```
pub fn derive_tx_id(nonce: &[u8], creator: &Identity) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(nonce);
    hasher.update(&creator.encode_to_vec());
    hasher.finalize().to_hex().to_string()
}
