//! Building proposals, endorsements and transaction envelopes: what clients and endorsing
//! peers do, and what tests use to make signed blocks.

use prost::Message;
use weft_proto::quote::quote;
use weft_proto::v1::{
    ContractEvent, Endorsement, Envelope, Identity, Proposal, ProposalResponse,
    ProposalResponsePayload, Response, SignedProposal, Timestamp, Transaction, TransientEntry,
    TxReadWriteSet,
};

use crate::identity::SigningIdentity;
use crate::signature::PublicKey;
use crate::txid::derive_tx_id;

/// What a client's proposal asks for: which contract function to call with which arguments,
/// on which channel, with its nonce and timestamp ([`new_proposal`] adds the creator and the
/// transaction id). Not `weft_rwset::Invocation`, which is a call as the contract runtime
/// runs it (with the creator's role and attributes and the transient data).
#[derive(Clone, Debug, Default)]
pub struct ProposalSpec {
    /// Channel name.
    pub channel: String,
    /// Contract name (its namespace).
    pub contract: String,
    /// Function name.
    pub function: String,
    /// Arguments.
    pub args: Vec<Vec<u8>>,
    /// A client-chosen nonce; with the creator it determines the transaction id.
    pub nonce: Vec<u8>,
    /// The client's timestamp.
    pub timestamp: Timestamp,
}

/// A proposal by `creator`, with its transaction id derived from the nonce.
pub fn new_proposal(creator: &Identity, spec: ProposalSpec) -> Proposal {
    let tx_id = derive_tx_id(&spec.nonce, creator);
    Proposal {
        channel: spec.channel,
        contract: spec.contract,
        function: spec.function,
        args: spec.args,
        nonce: spec.nonce,
        creator: Some(creator.clone()),
        timestamp: Some(spec.timestamp),
        tx_id,
        is_init: false,
    }
}

/// Signs an encoded proposal; transient entries travel beside it, unsigned and unstored.
pub fn sign_proposal(
    creator: &SigningIdentity,
    proposal: &Proposal,
    transient: Vec<TransientEntry>,
) -> SignedProposal {
    let proposal = proposal.encode_to_vec();
    SignedProposal { signature: creator.sign(&proposal), proposal, transient }
}

/// blake3 of an encoded proposal, as a response payload carries it.
pub fn proposal_hash(proposal_bytes: &[u8]) -> Vec<u8> {
    blake3::hash(proposal_bytes).as_bytes().to_vec()
}

/// The encoded payload an endorser signs for a simulated proposal.
pub fn response_payload(
    proposal_bytes: &[u8],
    response: Response,
    rwset: TxReadWriteSet,
    events: Vec<ContractEvent>,
    contract_version: &str,
) -> Vec<u8> {
    ProposalResponsePayload {
        proposal_hash: proposal_hash(proposal_bytes),
        response: Some(response),
        rwset: Some(rwset),
        events,
        contract_version: contract_version.to_string(),
    }
    .encode_to_vec()
}

/// The bytes an endorsement signs: the payload followed by the encoded endorser identity.
pub fn endorsement_message(payload: &[u8], endorser: &Identity) -> Vec<u8> {
    let mut message = payload.to_vec();
    endorser.encode(&mut message).expect("a Vec grows as needed");
    message
}

/// `endorser`'s endorsement of an encoded response payload.
pub fn endorse(endorser: &SigningIdentity, payload: &[u8]) -> Endorsement {
    let signature = endorser.sign(&endorsement_message(payload, endorser.identity()));
    Endorsement { endorser: Some(endorser.identity().clone()), signature }
}

/// An endorser's answer: payload and endorsement.
pub fn proposal_response(endorser: &SigningIdentity, payload: Vec<u8>) -> ProposalResponse {
    let endorsement = endorse(endorser, &payload);
    ProposalResponse { payload, endorsement: Some(endorsement) }
}

/// The client assembles and signs the transaction (the proposal without transient data, the
/// common response payload and the endorsements).
pub fn envelope(
    client: &SigningIdentity,
    proposal_bytes: Vec<u8>,
    response_payload: Vec<u8>,
    endorsements: Vec<Endorsement>,
) -> Envelope {
    let payload =
        Transaction { proposal: proposal_bytes, response_payload, endorsements }.encode_to_vec();
    Envelope { signature: client.sign(&payload), payload }
}

/// Why an endorser refuses a signed proposal before running the contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposalRejection {
    /// The proposal bytes do not decode, or it names no creator.
    #[error("malformed proposal")]
    Malformed,
    /// The proposal is for another channel.
    #[error("proposal is for channel {}", quote(.0))]
    WrongChannel(String),
    /// The creator is not a member of the organization it names.
    #[error("creator is not a member of {}", quote(.0))]
    UnknownCreator(String),
    /// The creator's signature does not verify.
    #[error("bad creator signature")]
    BadSignature,
    /// The transaction id is not derived from the nonce and creator.
    #[error("transaction id is not derived from the nonce and creator")]
    BadTxId,
    /// The contract is not defined on the channel.
    #[error("contract {} is not defined on this channel", quote(.0))]
    UnknownContract(String),
}

/// A signed proposal decoded once and not yet checked. The node decodes each proposal once:
/// its contract names the queue it waits in for a contract thread ([`DecodedProposal::contract`]),
/// then [`DecodedProposal::check`] checks it on that thread. Its counterpart for an ordered
/// envelope is [`crate::decoded::DecodedTx`].
#[derive(Clone, Debug, PartialEq)]
pub struct DecodedProposal {
    signed: SignedProposal,
    proposal: Proposal,
    /// The key the creator's signature was already verified with, by a caller that checks
    /// signatures in batches ([`DecodedProposal::signature_verified`]).
    verified_with: Option<[u8; 32]>,
}

impl DecodedProposal {
    /// Decodes `signed.proposal`; refuses bytes that do not decode.
    pub fn decode(signed: SignedProposal) -> Result<DecodedProposal, ProposalRejection> {
        let proposal = Proposal::decode(signed.proposal.as_slice())
            .map_err(|_| ProposalRejection::Malformed)?;
        Ok(DecodedProposal { signed, proposal, verified_with: None })
    }

    /// The contract the proposal names, unchecked.
    pub fn contract(&self) -> &str {
        &self.proposal.contract
    }

    /// The channel the proposal names, unchecked: a node serving several channels routes the
    /// proposal to this channel's endorser, whose [`DecodedProposal::check`] checks it.
    pub fn channel(&self) -> &str {
        &self.proposal.channel
    }

    /// The signature check [`DecodedProposal::check`] makes, for a caller that checks
    /// signatures in batches: the creator's key, the signed bytes and the signature, if the
    /// proposal names `channel` and a member of it (else `None`, and `check` refuses it
    /// before any signature check).
    pub fn signature_check(
        &self,
        channel: &crate::channel::Channel,
    ) -> Option<(PublicKey, &[u8], &[u8])> {
        let creator = self.proposal.creator.as_ref()?;
        if self.proposal.channel != channel.name() {
            return None;
        }
        let member = channel.membership().resolve(creator)?;
        Some((member.key, &self.signed.proposal, &self.signed.signature))
    }

    /// Records that the creator's signature verified under `key`
    /// ([`crate::signature::PublicKey::verify`] or [`crate::signature::verify_each`] of
    /// [`DecodedProposal::signature_check`]'s triple, nothing else): `check` does not check
    /// it again if `key` is still the creator's key then.
    pub fn signature_verified(mut self, key: &PublicKey) -> DecodedProposal {
        self.verified_with = Some(*key.as_bytes());
        self
    }

    /// An endorser's checks (channel, creator membership and signature, transaction id,
    /// contract); returns the signed proposal and its decoded proposal, which stay here (the
    /// node may run a proposal twice). The endorser must also refuse ids already committed
    /// (`Ledger::contains_tx_id`).
    pub fn check(
        &self,
        channel: &crate::channel::Channel,
    ) -> Result<(&SignedProposal, &Proposal), ProposalRejection> {
        check_proposal(channel, &self.signed, &self.proposal, self.verified_with.as_ref())?;
        Ok((&self.signed, &self.proposal))
    }
}

/// [`DecodedProposal::decode`] then [`DecodedProposal::check`], for a borrowed proposal;
/// returns the decoded proposal.
pub fn verify_signed_proposal(
    channel: &crate::channel::Channel,
    signed: &SignedProposal,
) -> Result<Proposal, ProposalRejection> {
    let proposal =
        Proposal::decode(signed.proposal.as_slice()).map_err(|_| ProposalRejection::Malformed)?;
    check_proposal(channel, signed, &proposal, None)?;
    Ok(proposal)
}

/// `verified_with`: the key the signature already verified with, if any; the signature is
/// checked unless that is the creator's key.
fn check_proposal(
    channel: &crate::channel::Channel,
    signed: &SignedProposal,
    proposal: &Proposal,
    verified_with: Option<&[u8; 32]>,
) -> Result<(), ProposalRejection> {
    let creator = proposal.creator.as_ref().ok_or(ProposalRejection::Malformed)?;
    if proposal.channel != channel.name() {
        return Err(ProposalRejection::WrongChannel(proposal.channel.clone()));
    }
    let member = channel
        .membership()
        .resolve(creator)
        .ok_or_else(|| ProposalRejection::UnknownCreator(creator.msp_id.clone()))?;
    let verified = verified_with == Some(member.key.as_bytes());
    if !verified && !member.key.verify(&signed.proposal, &signed.signature) {
        return Err(ProposalRejection::BadSignature);
    }
    if derive_tx_id(&proposal.nonce, creator) != proposal.tx_id {
        return Err(ProposalRejection::BadTxId);
    }
    if channel.contract(&proposal.contract).is_none() {
        return Err(ProposalRejection::UnknownContract(proposal.contract.clone()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::Channel;
    use crate::policy;
    use crate::testing::TestNetwork;

    #[test]
    fn endorser_checks_signed_proposals() {
        let net = TestNetwork::new("ch1", 2, &[("kv", policy::peer("Org1"))]);
        let channel = Channel::new(net.config.clone()).unwrap();
        let client = &net.org(0).client;
        let invocation = |contract: &str, channel: &str| ProposalSpec {
            channel: channel.into(),
            contract: contract.into(),
            nonce: b"n".to_vec(),
            ..Default::default()
        };
        let good = new_proposal(client.identity(), invocation("kv", "ch1"));
        let signed = sign_proposal(client, &good, vec![]);
        assert_eq!(verify_signed_proposal(&channel, &signed), Ok(good.clone()));

        let mut bad_sig = signed.clone();
        bad_sig.signature[0] ^= 1;
        assert_eq!(
            verify_signed_proposal(&channel, &bad_sig),
            Err(ProposalRejection::BadSignature)
        );
        let other = new_proposal(client.identity(), invocation("kv", "ch2"));
        let rejected = verify_signed_proposal(&channel, &sign_proposal(client, &other, vec![]));
        assert_eq!(rejected, Err(ProposalRejection::WrongChannel("ch2".into())));
        let unknown = new_proposal(client.identity(), invocation("nope", "ch1"));
        let rejected = verify_signed_proposal(&channel, &sign_proposal(client, &unknown, vec![]));
        assert_eq!(rejected, Err(ProposalRejection::UnknownContract("nope".into())));
        let mut bad_id = good.clone();
        bad_id.tx_id = "0".into();
        let rejected = verify_signed_proposal(&channel, &sign_proposal(client, &bad_id, vec![]));
        assert_eq!(rejected, Err(ProposalRejection::BadTxId));
        let stranger = SigningIdentity::from_seed("Org1", "stranger");
        let theirs = new_proposal(stranger.identity(), invocation("kv", "ch1"));
        let rejected = verify_signed_proposal(&channel, &sign_proposal(&stranger, &theirs, vec![]));
        assert_eq!(rejected, Err(ProposalRejection::UnknownCreator("Org1".into())));
        // Transient data is outside the signature.
        let mut with_transient = signed;
        with_transient
            .transient
            .push(TransientEntry { key: "k".into(), value: b"secret".to_vec() });
        assert!(verify_signed_proposal(&channel, &with_transient).is_ok());
    }

    #[test]
    fn a_signature_verified_in_a_batch_is_not_checked_again_under_the_same_key_only() {
        let net = TestNetwork::new("ch1", 2, &[("kv", policy::peer("Org1"))]);
        let channel = Channel::new(net.config.clone()).unwrap();
        let client = &net.org(0).client;
        let spec = ProposalSpec {
            channel: "ch1".into(),
            contract: "kv".into(),
            nonce: b"n".to_vec(),
            ..Default::default()
        };
        let proposal = new_proposal(client.identity(), spec);
        let signed = sign_proposal(client, &proposal, vec![]);
        let decoded = DecodedProposal::decode(signed.clone()).unwrap();
        let (key, message, signature) = decoded.signature_check(&channel).unwrap();
        assert_eq!((message, signature), (&signed.proposal[..], &signed.signature[..]));
        assert!(key.verify(message, signature));

        // The check a batch made stands for the creator's key: nothing is checked again.
        let mut forged = signed.clone();
        forged.signature[0] ^= 1;
        let decoded = DecodedProposal::decode(forged.clone()).unwrap();
        assert!(decoded.clone().signature_verified(&key).check(&channel).is_ok());
        // Under another key it does not: the signature is checked, and refused.
        let other = net.org(1).client.identity().public_key.clone();
        let other = PublicKey::from_bytes(&other.try_into().unwrap()).unwrap();
        let rejected = decoded.signature_verified(&other);
        assert_eq!(rejected.check(&channel), Err(ProposalRejection::BadSignature));

        // Another channel's proposal, or a stranger's, has no check to batch.
        let elsewhere = TestNetwork::new("ch2", 1, &[("kv", policy::peer("Org1"))]);
        let elsewhere = Channel::new(elsewhere.config.clone()).unwrap();
        assert!(DecodedProposal::decode(signed).unwrap().signature_check(&elsewhere).is_none());
    }
}
