//! Admission (Fabric's broadcast filter): what the gateway checks before it hands an
//! envelope to the orderer ([`weft_orderer::Orderer::broadcast`]).

use weft_proto::quote::quote;
use weft_protocol::VerifiedSignatures;
use weft_protocol::channel::Channel;
use weft_protocol::decoded::DecodedTx;
use weft_protocol::signature::PublicKey;

use crate::error::{Error, Result};
use crate::signature_checks::SignatureChecks;

/// An envelope admitted for ordering, with its transaction id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderedTx {
    /// The transaction id (from the proposal).
    pub tx_id: String,
    /// The encoded `Envelope`.
    pub envelope: Vec<u8>,
}

/// Fabric's broadcast filter: the envelope decodes, is for this channel, and is signed by
/// its creator, a member of the organization it names (the signature checked in a batch
/// with others under load, [`SignatureChecks`]). Returns the transaction id. The signature
/// checked is recorded in `verified`, so validation does not check it again.
pub async fn admit(
    channel: &Channel,
    verified: &VerifiedSignatures,
    checks: &SignatureChecks,
    envelope_bytes: Vec<u8>,
) -> Result<OrderedTx> {
    let decoded =
        DecodedTx::decode(&envelope_bytes).map_err(|e| Error::BadRequest(e.to_string()))?;
    admit_decoded(channel, verified, checks, decoded, envelope_bytes).await
}

/// [`admit`] of an envelope already decoded, as Submit runs it: `decoded` is
/// `envelope_bytes` decoded (the gateway decodes it once, to learn which channel's peer it
/// goes to).
pub async fn admit_decoded(
    channel: &Channel,
    verified: &VerifiedSignatures,
    checks: &SignatureChecks,
    decoded: DecodedTx,
    envelope_bytes: Vec<u8>,
) -> Result<OrderedTx> {
    let key = signer(channel, &decoded)?;
    let envelope = decoded.envelope();
    if !checks.verify(&key, &envelope.payload, &envelope.signature).await {
        return Err(Error::BadSignature("the envelope signature does not verify".into()));
    }
    verified.verified(&key, &envelope.payload, &envelope.signature);
    Ok(OrderedTx { tx_id: decoded.tx_id().to_owned(), envelope: envelope_bytes })
}

/// Every check but the signature's: returns the key that must have signed the envelope.
fn signer(channel: &Channel, decoded: &DecodedTx) -> Result<PublicKey> {
    if decoded.channel() != channel.name() {
        return Err(Error::BadRequest(format!(
            "the transaction is for channel {}, not {}",
            quote(decoded.channel()),
            quote(channel.name())
        )));
    }
    let creator = decoded.creator();
    // The id is checked here too: the in-flight set must not let anyone claim another
    // client's id.
    if !decoded.tx_id_is_derived() {
        return Err(Error::BadRequest(
            "the transaction id is not derived from the proposal's nonce and creator".into(),
        ));
    }
    let member = channel.membership().resolve(creator).ok_or_else(|| {
        Error::BadSignature(format!("the creator is not a member of {}", quote(&creator.msp_id)))
    })?;
    if decoded.envelope().signature.len() != 64 {
        return Err(Error::BadSignature(
            "the envelope signature is missing or not 64 bytes".into(),
        ));
    }
    Ok(member.key)
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use weft_proto::v1::{Envelope, Proposal, Transaction};

    use super::*;

    #[tokio::test]
    async fn admits_only_authentic_envelopes_of_this_channel() {
        use weft_protocol::testing::{TestNetwork, TxSpec};
        let net = TestNetwork::new("ch1", 1, &[("kv", weft_protocol::policy::peer("Org1"))]);
        let channel = Channel::new(net.config.clone()).unwrap();
        let checks = SignatureChecks::start(Default::default());
        let verified = VerifiedSignatures::default();
        let admit = |bytes: Vec<u8>| admit(&channel, &verified, &checks, bytes);
        let org = net.org(0);
        let spec = TxSpec::new(&org.client, "kv", "n1", Default::default(), vec![&org.peer]);
        let (tx_id, bytes) = net.envelope(spec);
        assert_eq!(admit(bytes.clone()).await.unwrap().tx_id, tx_id);
        // The signature it checked is remembered for validation.
        let admitted = Envelope::decode(bytes.as_slice()).unwrap();
        let key = channel.membership().resolve(org.client.identity()).unwrap().key;
        assert!(verified.take(&key, &admitted.payload, &admitted.signature));
        assert!(matches!(admit(b"junk".to_vec()).await, Err(Error::BadRequest(_))));
        // Re-signed by a stranger: not a member.
        let mut envelope = Envelope::decode(bytes.as_slice()).unwrap();
        let stranger = weft_protocol::identity::SigningIdentity::from_seed("Org1", "stranger");
        envelope.signature = stranger.sign(&envelope.payload);
        assert!(matches!(admit(envelope.encode_to_vec()).await, Err(Error::BadSignature(_))));
        // A claimed id that is not derived from the nonce and creator.
        let mut envelope = Envelope::decode(bytes.as_slice()).unwrap();
        let mut tx = Transaction::decode(envelope.payload.as_slice()).unwrap();
        let mut proposal = Proposal::decode(tx.proposal.as_slice()).unwrap();
        proposal.tx_id = "someone-elses".into();
        tx.proposal = proposal.encode_to_vec();
        envelope.payload = tx.encode_to_vec();
        envelope.signature = org.client.sign(&envelope.payload);
        assert!(matches!(admit(envelope.encode_to_vec()).await, Err(Error::BadRequest(_))));
        // Another channel.
        let other = TestNetwork::new("ch2", 1, &[("kv", weft_protocol::policy::peer("Org1"))]);
        let spec = TxSpec::new(&org.client, "kv", "n2", Default::default(), vec![&org.peer]);
        let (_, elsewhere) = other.envelope(spec);
        assert!(matches!(admit(elsewhere).await, Err(Error::BadRequest(_))));
    }
}
