//! [`DecodedTx`]: an ordered transaction decoded once.
//!
//! An ordered transaction is an encoded `Envelope` whose payload is a `Transaction`, whose
//! `proposal` is an encoded `Proposal` (`docs/protocol.md`). Every part that reads one (the
//! orderer's admission, the validator's stateless checks, the replay of stored blocks, the key
//! history, the node's deliver and transaction queries, the CLI's output) decodes it here, so
//! the layers are decoded in one way and a failure names the layer that did not decode
//! ([`TxDecodeError`]). The endorsement's response payload is decoded on demand
//! ([`DecodedTx::response_payload`]): admission does not read it, and a transaction whose
//! payload does not decode is still ordered (and then invalid, `BAD_PAYLOAD`).
//!
//! [`crate::transaction::DecodedProposal`] is the same for a signed proposal, before
//! endorsement.

use prost::Message;
use weft_proto::v1::{
    Envelope, Identity, Proposal, ProposalResponsePayload, Timestamp, Transaction,
};

use crate::txid::derive_tx_id;

/// The layer of an ordered transaction that does not decode (or is missing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TxDecodeError {
    /// The bytes are not an `Envelope`.
    #[error("the envelope does not decode")]
    Envelope,
    /// The envelope's payload is not a `Transaction`.
    #[error("the envelope's transaction does not decode")]
    Transaction,
    /// The transaction's proposal is not a `Proposal`.
    #[error("the envelope's proposal does not decode")]
    Proposal,
    /// The proposal names no creator.
    #[error("the envelope's proposal names no creator")]
    NoCreator,
    /// The transaction's response payload is not a `ProposalResponsePayload`.
    #[error("the envelope's response payload does not decode")]
    ResponsePayload,
}

/// An ordered transaction decoded once: its envelope, transaction and proposal (the
/// invocation: channel, contract, function, arguments; the creator; the transaction id).
/// Nothing is checked beyond decoding: signatures, the id's derivation and the channel are
/// for the caller (admission, validation) to check.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodedTx {
    envelope: Envelope,
    transaction: Transaction,
    proposal: Proposal,
}

impl DecodedTx {
    /// Decodes encoded envelope bytes, layer by layer.
    ///
    /// ```
    /// use weft_protocol::decoded::{DecodedTx, TxDecodeError};
    /// assert_eq!(DecodedTx::decode(b"\xff\xff").unwrap_err(), TxDecodeError::Envelope);
    /// assert_eq!(
    ///     DecodedTx::decode(b"").unwrap_err().to_string(),
    ///     "the envelope's proposal names no creator"
    /// );
    /// ```
    pub fn decode(bytes: &[u8]) -> Result<DecodedTx, TxDecodeError> {
        let envelope = Envelope::decode(bytes).map_err(|_| TxDecodeError::Envelope)?;
        DecodedTx::from_envelope(envelope)
    }

    /// Decodes the layers under an already decoded envelope.
    pub fn from_envelope(envelope: Envelope) -> Result<DecodedTx, TxDecodeError> {
        let transaction = Transaction::decode(envelope.payload.as_slice())
            .map_err(|_| TxDecodeError::Transaction)?;
        let proposal = Proposal::decode(transaction.proposal.as_slice())
            .map_err(|_| TxDecodeError::Proposal)?;
        if proposal.creator.is_none() {
            return Err(TxDecodeError::NoCreator);
        }
        Ok(DecodedTx { envelope, transaction, proposal })
    }

    /// The envelope: the transaction's bytes (`payload`) and the creator's signature over
    /// them.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The transaction: the encoded proposal, the encoded response payload and the
    /// endorsements.
    pub fn transaction(&self) -> &Transaction {
        &self.transaction
    }

    /// The proposal: channel, contract, function, arguments, nonce, creator, timestamp,
    /// transaction id.
    pub fn proposal(&self) -> &Proposal {
        &self.proposal
    }

    /// The transaction id the proposal claims (see [`DecodedTx::tx_id_is_derived`]).
    pub fn tx_id(&self) -> &str {
        &self.proposal.tx_id
    }

    /// The channel the proposal names.
    pub fn channel(&self) -> &str {
        &self.proposal.channel
    }

    /// The contract the proposal invokes.
    pub fn contract(&self) -> &str {
        &self.proposal.contract
    }

    /// The creator the proposal names (a decoded transaction always has one).
    pub fn creator(&self) -> &Identity {
        self.proposal.creator.as_ref().expect("checked when decoded")
    }

    /// The proposal's timestamp (the default if it has none).
    pub fn timestamp(&self) -> Timestamp {
        self.proposal.timestamp.unwrap_or_default()
    }

    /// Whether the transaction id is derived from the proposal's nonce and creator, so no
    /// one can claim another client's id.
    pub fn tx_id_is_derived(&self) -> bool {
        derive_tx_id(&self.proposal.nonce, self.creator()) == self.proposal.tx_id
    }

    /// Decodes the endorsed response payload (response, read/write set, events).
    pub fn response_payload(&self) -> Result<ProposalResponsePayload, TxDecodeError> {
        ProposalResponsePayload::decode(self.transaction.response_payload.as_slice())
            .map_err(|_| TxDecodeError::ResponsePayload)
    }

    /// The envelope, transaction and proposal, owned.
    pub fn into_parts(self) -> (Envelope, Transaction, Proposal) {
        (self.envelope, self.transaction, self.proposal)
    }
}

#[cfg(test)]
mod tests {
    use weft_proto::v1::{Response, TxReadWriteSet};

    use super::*;
    use crate::identity::SigningIdentity;
    use crate::transaction::{self, ProposalSpec};

    fn envelope_of(proposal: &Proposal, response_payload: Vec<u8>) -> Envelope {
        let client = SigningIdentity::from_seed("Org1", "client");
        transaction::envelope(&client, proposal.encode_to_vec(), response_payload, vec![])
    }

    #[test]
    fn decodes_every_layer_once_and_names_the_one_that_fails() {
        let client = SigningIdentity::from_seed("Org1", "client");
        let invocation = ProposalSpec {
            channel: "ch1".into(),
            contract: "kv".into(),
            function: "put".into(),
            args: vec![b"k".to_vec()],
            nonce: b"n1".to_vec(),
            timestamp: Timestamp { seconds: 7, nanos: 8 },
        };
        let proposal = transaction::new_proposal(client.identity(), invocation);
        let bytes = transaction::response_payload(
            &proposal.encode_to_vec(),
            Response { status: 200, ..Default::default() },
            TxReadWriteSet::default(),
            vec![],
            "1",
        );
        let envelope = envelope_of(&proposal, bytes);
        let decoded = DecodedTx::decode(&envelope.encode_to_vec()).unwrap();
        assert_eq!(decoded.proposal(), &proposal);
        assert_eq!(decoded.envelope(), &envelope);
        assert_eq!((decoded.channel(), decoded.contract()), ("ch1", "kv"));
        assert_eq!(decoded.tx_id(), proposal.tx_id);
        assert_eq!(decoded.creator(), client.identity());
        assert_eq!(decoded.timestamp(), Timestamp { seconds: 7, nanos: 8 });
        assert!(decoded.tx_id_is_derived());
        assert_eq!(decoded.response_payload().unwrap().response.unwrap().status, 200);
        assert_eq!(DecodedTx::from_envelope(envelope.clone()), Ok(decoded.clone()));

        let mut claimed = proposal.clone();
        claimed.tx_id = "someone-elses".into();
        let claimed = DecodedTx::from_envelope(envelope_of(&claimed, vec![])).unwrap();
        assert!(!claimed.tx_id_is_derived());
        assert_eq!(claimed.response_payload(), Ok(ProposalResponsePayload::default()));

        let fail = |envelope: Envelope| DecodedTx::from_envelope(envelope).unwrap_err();
        assert_eq!(DecodedTx::decode(b"\x0a\xff").unwrap_err(), TxDecodeError::Envelope);
        let junk = Envelope { payload: vec![0xff; 9], signature: vec![] };
        assert_eq!(fail(junk).to_string(), "the envelope's transaction does not decode");
        let tx = Transaction { proposal: vec![0xff; 3], ..Default::default() };
        let bad_proposal = Envelope { payload: tx.encode_to_vec(), signature: vec![] };
        assert_eq!(fail(bad_proposal).to_string(), "the envelope's proposal does not decode");
        let mut anonymous = proposal.clone();
        anonymous.creator = None;
        assert_eq!(fail(envelope_of(&anonymous, vec![])), TxDecodeError::NoCreator);
        let unreadable = DecodedTx::from_envelope(envelope_of(&proposal, vec![0xff; 4])).unwrap();
        assert_eq!(
            unreadable.response_payload().unwrap_err().to_string(),
            "the envelope's response payload does not decode"
        );
    }
}
