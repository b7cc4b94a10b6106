//! Checks that need no state: decoding, transaction id, creator and endorser signatures,
//! contract definition, read/write-set well-formedness and endorsement policy. Transactions
//! are checked in fixed groups; each group's signatures are verified as one ed25519 batch
//! (falling back to one-by-one when the batch fails, to find the bad ones), and groups are
//! spread over all cores. Group size is fixed, so results do not depend on the core count.

use std::collections::BTreeSet;

use weft_abi::limits;
use weft_proto::v1::{Timestamp, TxReadWriteSet, TxValidationCode};
use weft_protocol::VerifiedSignatures;
use weft_protocol::channel::{Channel, LIFECYCLE};
use weft_protocol::decoded::DecodedTx;
use weft_protocol::identity::Role;
use weft_protocol::policy;
use weft_protocol::signature::{self, PublicKey};
use weft_protocol::transaction::{endorsement_message, proposal_hash};
use weft_rwset::KeyRange;

/// Transactions per signature batch (and per unit of parallel work).
const GROUP_TXS: usize = 64;

/// A transaction that passed the stateless checks.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckedTx {
    /// Its (verified) transaction id.
    pub tx_id: String,
    /// The proposal's timestamp.
    pub timestamp: Timestamp,
    /// Its read/write set.
    pub rwset: TxReadWriteSet,
}

/// Outcome of the stateless checks of one transaction.
#[derive(Clone, Debug, PartialEq)]
pub struct Prechecked {
    /// `Ok` if the transaction may go on to the MVCC checks, else its code.
    pub result: Result<CheckedTx, TxValidationCode>,
    /// The transaction id if it is authentic (derived from the nonce and creator and signed
    /// by the creator), whatever the outcome: such ids are indexed in the ledger.
    pub authentic_tx_id: Option<(String, Timestamp)>,
    /// The id the transaction's proposal claims, authentic or not (empty if the envelope
    /// does not decode): what the node reports to whoever waits for that id.
    pub claimed_tx_id: String,
}

struct SigJob {
    message: Vec<u8>,
    signature: [u8; 64],
    key: PublicKey,
}

struct Pending {
    code: Option<TxValidationCode>,
    /// The id the proposal claims; authentic only if the checks pass.
    tx_id: String,
    timestamp: Timestamp,
    rwset: TxReadWriteSet,
    /// Namespaces whose policy must be met.
    policies: Vec<String>,
    creator_sig: Option<usize>,
    /// (signature job, organization) per endorsement by a known peer.
    endorsements: Vec<(usize, String)>,
}

impl Pending {
    fn failed(code: TxValidationCode) -> Pending {
        Pending { code: Some(code), ..Pending::open() }
    }

    /// Not failed so far.
    fn open() -> Pending {
        Pending {
            code: None,
            tx_id: String::new(),
            timestamp: Timestamp::default(),
            rwset: TxReadWriteSet::default(),
            policies: Vec::new(),
            creator_sig: None,
            endorsements: Vec::new(),
        }
    }
}

/// Runs the stateless checks on every envelope of a block, in parallel. Signatures in
/// `verified` are not checked again (see [`VerifiedSignatures`]).
pub fn check_envelopes(
    channel: &Channel,
    envelopes: &[Vec<u8>],
    verified: &VerifiedSignatures,
) -> Vec<Prechecked> {
    super::parallel::map_chunks(envelopes, GROUP_TXS, |group| check_group(channel, group, verified))
}

fn check_group(
    channel: &Channel,
    envelopes: &[Vec<u8>],
    verified: &VerifiedSignatures,
) -> Vec<Prechecked> {
    let mut jobs = Vec::with_capacity(envelopes.len() * 2);
    let pending: Vec<Pending> =
        envelopes.iter().map(|e| decode_and_check(channel, e, &mut jobs)).collect();
    let ok = verify_all(&jobs, verified);
    pending
        .into_iter()
        .map(|p| {
            let claimed_tx_id = p.tx_id.clone();
            let (result, authentic_tx_id) = conclude(channel, p, &ok);
            Prechecked { result, authentic_tx_id, claimed_tx_id }
        })
        .collect()
}

/// The outcome of one transaction's stateless checks once its signatures are verified
/// (`ok`): its result and, if it is authentic, its id and timestamp.
fn conclude(
    channel: &Channel,
    pending: Pending,
    ok: &[bool],
) -> (Result<CheckedTx, TxValidationCode>, Option<(String, Timestamp)>) {
    let Pending { code, tx_id, timestamp, rwset, policies, creator_sig, endorsements } = pending;
    // Before the signature check only decoding failures are decided.
    let creator_ok = creator_sig.is_some_and(|i| ok[i]);
    match code {
        Some(TxValidationCode::BadPayload) => return (Err(TxValidationCode::BadPayload), None),
        _ if !creator_ok => return (Err(TxValidationCode::BadCreatorSignature), None),
        Some(TxValidationCode::BadProposalTxid) => {
            return (Err(TxValidationCode::BadProposalTxid), None);
        }
        _ => {}
    }
    let authentic_tx_id = Some((tx_id.clone(), timestamp));
    if let Some(code) = code {
        return (Err(code), authentic_tx_id);
    }
    let endorsed_by: BTreeSet<(&str, Role)> = endorsements
        .iter()
        .filter(|(job, _)| ok[*job])
        .map(|(_, org)| (org.as_str(), Role::Peer))
        .collect();
    let policy_met = policies.iter().all(|ns| {
        channel
            .contract(ns)
            .and_then(|def| def.policy.as_ref())
            .is_some_and(|p| policy::satisfied(p, &endorsed_by))
    });
    if !policy_met {
        return (Err(TxValidationCode::EndorsementPolicyFailure), authentic_tx_id);
    }
    (Ok(CheckedTx { tx_id, timestamp, rwset }), authentic_tx_id)
}

/// Decodes one envelope and runs the checks that need no signature; queues its signatures.
fn decode_and_check(channel: &Channel, bytes: &[u8], jobs: &mut Vec<SigJob>) -> Pending {
    use TxValidationCode::{BadPayload, BadProposalTxid, InvalidChaincode};
    let Ok(decoded) = DecodedTx::decode(bytes) else { return Pending::failed(BadPayload) };
    let Ok(payload) = decoded.response_payload() else { return Pending::failed(BadPayload) };
    let tx_id_is_derived = decoded.tx_id_is_derived();
    let (envelope, tx, proposal) = decoded.into_parts();
    let creator = proposal.creator.as_ref().expect("DecodedTx refuses a proposal with no creator");
    let mut pending = Pending { tx_id: proposal.tx_id.clone(), ..Pending::open() };
    if proposal.channel != channel.name() || payload.proposal_hash != proposal_hash(&tx.proposal) {
        pending.code = Some(BadPayload);
        return pending;
    }
    // The creator's signature over the transaction payload.
    pending.creator_sig =
        match (channel.membership().resolve(creator), signature(&envelope.signature)) {
            (Some(member), Some(signature)) => {
                jobs.push(SigJob { message: envelope.payload, signature, key: member.key });
                Some(jobs.len() - 1)
            }
            _ => None,
        };
    if !tx_id_is_derived {
        pending.code = Some(BadProposalTxid);
        return pending;
    }
    pending.timestamp = proposal.timestamp.unwrap_or_default();
    if channel.contract(&proposal.contract).is_none() {
        pending.code = Some(InvalidChaincode);
        return pending;
    }
    let rwset = payload.rwset.unwrap_or_default();
    if let Err(code) = check_rwset(channel, &rwset) {
        pending.code = Some(code);
        return pending;
    }
    if payload.response.as_ref().is_none_or(|r| r.status >= 400) {
        pending.code = Some(TxValidationCode::InvalidOtherReason);
        return pending;
    }
    if let Err(code) = check_lifecycle_writes(channel, &proposal.contract, creator, &rwset) {
        pending.code = Some(code);
        return pending;
    }
    // Policies: the invoked contract's, and that of every other namespace written.
    pending.policies.push(proposal.contract.clone());
    for ns in &rwset.ns_rwset {
        if ns.namespace != proposal.contract && !ns.writes.is_empty() {
            pending.policies.push(ns.namespace.clone());
        }
    }
    // Only peers endorse: a signature by any other identity (a client signing a read/write
    // set of its own making, an admin) never counts towards a policy.
    for endorsement in &tx.endorsements {
        let Some(endorser) = endorsement.endorser.as_ref() else { continue };
        let (Some(member), Some(signature)) =
            (channel.membership().resolve(endorser), signature(&endorsement.signature))
        else {
            continue;
        };
        if member.role != Role::Peer {
            continue;
        }
        jobs.push(SigJob {
            message: endorsement_message(&tx.response_payload, endorser),
            signature,
            key: member.key,
        });
        pending.endorsements.push((jobs.len() - 1, member.msp_id.clone()));
    }
    pending.rwset = rwset;
    pending
}

/// The [`LIFECYCLE`] namespace is written only by transactions of the lifecycle contract
/// created by an admin, and only with well-formed definitions.
fn check_lifecycle_writes(
    channel: &Channel,
    contract: &str,
    creator: &weft_proto::v1::Identity,
    rwset: &TxReadWriteSet,
) -> Result<(), TxValidationCode> {
    let illegal = Err(TxValidationCode::IllegalWriteset);
    let is_lifecycle = contract == LIFECYCLE;
    if is_lifecycle {
        let admin = channel.membership().resolve(creator).is_some_and(|m| m.role == Role::Admin);
        if !admin {
            return illegal;
        }
    }
    for ns in rwset.ns_rwset.iter().filter(|ns| ns.namespace == LIFECYCLE) {
        if !is_lifecycle && !ns.writes.is_empty() {
            return illegal;
        }
        for write in &ns.writes {
            if write.is_delete || channel.decode_definition(&write.key, &write.value).is_err() {
                return illegal;
            }
        }
    }
    Ok(())
}

fn signature(bytes: &[u8]) -> Option<[u8; 64]> {
    bytes.try_into().ok()
}

/// Whether each job's signature verifies: known (`verified`), else one batch of the rest,
/// or one by one if the batch fails.
fn verify_all(jobs: &[SigJob], verified: &VerifiedSignatures) -> Vec<bool> {
    let mut ok: Vec<bool> =
        jobs.iter().map(|j| verified.take(&j.key, &j.message, &j.signature)).collect();
    let rest: Vec<&SigJob> =
        jobs.iter().zip(&ok).filter(|(_, known)| !**known).map(|(j, _)| j).collect();
    if rest.is_empty() {
        return ok;
    }
    let checks: Vec<signature::Check<'_>> = rest
        .iter()
        .map(|j| signature::Check { key: &j.key, message: &j.message, signature: &j.signature })
        .collect();
    let mut verdicts = signature::verify_each(&checks).into_iter();
    for ok in ok.iter_mut().filter(|known| !**known) {
        *ok = verdicts.next().expect("one verdict per check");
    }
    ok
}

/// Well-formedness of a read/write set: namespaces are defined contracts, sorted and unique;
/// keys non-empty, within limits, strictly increasing; writes carry a value unless deletes;
/// range results lie in their range and carry versions.
fn check_rwset(channel: &Channel, rwset: &TxReadWriteSet) -> Result<(), TxValidationCode> {
    use TxValidationCode::{BadRwset, InvalidChaincode};
    let key_ok = |k: &[u8]| !k.is_empty() && k.len() <= limits::MAX_KEY_LEN as usize;
    let increasing = |keys: &mut dyn Iterator<Item = &[u8]>| {
        let mut prev: Option<&[u8]> = None;
        for k in keys {
            if !key_ok(k) || prev.is_some_and(|p| p >= k) {
                return false;
            }
            prev = Some(k);
        }
        true
    };
    let mut prev_ns: Option<&str> = None;
    for ns in &rwset.ns_rwset {
        if ns.namespace.is_empty() || prev_ns.is_some_and(|p| p >= ns.namespace.as_str()) {
            return Err(BadRwset);
        }
        prev_ns = Some(&ns.namespace);
        if channel.contract(&ns.namespace).is_none() {
            return Err(InvalidChaincode);
        }
        if !increasing(&mut ns.reads.iter().map(|r| r.key.as_slice()))
            || !increasing(&mut ns.writes.iter().map(|w| w.key.as_slice()))
        {
            return Err(BadRwset);
        }
        for w in &ns.writes {
            let value_ok = if w.is_delete {
                w.value.is_empty()
            } else {
                !w.value.is_empty() && w.value.len() <= limits::MAX_VALUE_LEN as usize
            };
            if !value_ok {
                return Err(BadRwset);
            }
        }
        for info in &ns.range_queries_info {
            let range = KeyRange::of_record(info);
            if info.start_key.len() > limits::MAX_KEY_LEN as usize
                || info.end_key.len() > limits::MAX_KEY_LEN as usize
                || !increasing(&mut info.reads.iter().map(|r| r.key.as_slice()))
                || info.reads.iter().any(|r| r.version.is_none() || !range.contains(&r.key))
            {
                return Err(BadRwset);
            }
        }
    }
    Ok(())
}
