//! The gateway's collection of endorsements across organizations, as Fabric's gateway
//! does it: the gateway's node simulates the client's proposal and signs it as every
//! organization it is a peer of (`[peer]`, `[peer] also_endorse_as`); when the contract's
//! endorsement policy (the lifecycle's majority for definitions) needs more, it asks one
//! peer of each other organization it needs (`plan`) over the peers' `Endorser` service
//! (`remote`, peers listed in the channel configuration), concurrently and with a
//! deadline, trying the organization's next peer, then the next organization that can still
//! satisfy the policy, when one fails. Every answer must carry the gateway's own response
//! payload byte for byte, with a valid endorsement of a peer of the organization asked.
//!
//! A node that is a peer of every organization needed (the dev network's) asks nobody.
//! Refusals are [`CollectError`]s: results that differ, or too few organizations.

mod plan;
mod remote;
mod stream;

use std::collections::{BTreeMap, BTreeSet};

use prost::Message;
use weft_ledger::Ledger;
use weft_proto::quote::quote;
use weft_proto::v1::{
    Endorsement, ProcessProposalRequest, ProposalResponse, ProposalResponsePayload, Transaction,
};
use weft_protocol::channel::Channel;
use weft_protocol::identity::Role;
use weft_protocol::{policy, transaction};

use remote::Failure;
pub(crate) use remote::RemotePeers;
#[cfg(feature = "etcd")]
pub(crate) use remote::{endpoint, peer_said};

use crate::endorser::{Endorsed, Endorser, Simulated};
use crate::error::{Error, Result};
use crate::node::Shared;

/// Why the gateway endorsed nothing although its own peer endorsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CollectError {
    /// Peers of other organizations computed another result than the gateway's own peer
    /// (Fabric: "ProposalResponsePayloads do not match").
    #[error("{}", describe_differing(.tx_id, .local, .differing))]
    ResultsDiffer {
        /// The transaction.
        tx_id: String,
        /// The organizations the gateway's node endorsed as.
        local: Vec<String>,
        /// Each organization whose peer's result differs, and what differs.
        differing: Vec<(String, String)>,
    },
    /// The organizations that endorsed do not satisfy the policy, and none left can.
    #[error("{}", describe_too_few(.contract, .policy, .local, .endorsed, .failed))]
    TooFew {
        /// The contract.
        contract: String,
        /// Its endorsement policy, in Fabric's syntax.
        policy: String,
        /// The organizations the gateway's node endorsed as.
        local: Vec<String>,
        /// The other organizations whose peers endorsed.
        endorsed: Vec<String>,
        /// Each organization the policy names that did not endorse, and why.
        failed: Vec<(String, String)>,
    },
}

/// Endorses `simulated` (the gateway's own peer's result) for the organizations its policy
/// needs: signs it as every organization `endorser` is a peer of, asks other
/// organizations' peers as the policy still needs (`plan::next_step`), and returns the
/// transaction with every endorsement.
pub(crate) async fn collect(
    shared: &Shared,
    ledger: &Ledger,
    endorser: &Endorser,
    simulated: Simulated,
) -> Result<Endorsed> {
    let channel = ledger.channel();
    let policy =
        channel.contract(&simulated.contract).and_then(|d| d.policy.clone()).ok_or_else(|| {
            Error::Internal(format!("contract {} has no policy", quote(&simulated.contract)))
        })?;
    let mut endorsements: Vec<Endorsement> =
        endorser.identities().map(|id| endorser.sign(id, &simulated.payload)).collect();
    let local: Vec<String> = endorser.identities().map(|id| id.msp_id().to_string()).collect();
    let mut endorsed: BTreeSet<String> = local.iter().cloned().collect();
    let order: Vec<String> =
        channel.config().organizations.iter().map(|o| o.msp_id.clone()).collect();
    // Each organization that did not endorse, with each of its peers tried and why it failed
    // (none: it lists no peers).
    let mut failed: BTreeMap<String, Vec<(String, Failure)>> = order
        .iter()
        .filter(|org| !endorsed.contains(*org) && channel.peers_of(org).is_empty())
        .map(|org| (org.clone(), Vec::new()))
        .collect();
    loop {
        let unavailable: BTreeSet<String> = failed.keys().cloned().collect();
        let orgs = match plan::next_step(&policy, &endorsed, &unavailable, &order) {
            plan::Step::Satisfied => break,
            plan::Step::Ask(orgs) => orgs,
            plan::Step::Impossible => {
                let named = plan::organizations(&policy);
                return Err(CollectError::TooFew {
                    contract: simulated.contract,
                    policy: policy::describe(&policy),
                    endorsed: endorsed.into_iter().filter(|o| !local.contains(o)).collect(),
                    local,
                    failed: failed
                        .into_iter()
                        .filter(|(org, _)| named.contains(org.as_str()))
                        .map(|(org, tried)| (org, describe_failures(&tried)))
                        .collect(),
                }
                .into());
            }
        };
        let request = ProcessProposalRequest {
            proposal: Some(simulated.signed.clone()),
            msp_id: String::new(),
        };
        let asked = orgs.iter().map(|org| {
            let request = ProcessProposalRequest { msp_id: org.clone(), ..request.clone() };
            ask(shared, &channel, ledger, org, request)
        });
        let answers = futures_util::future::join_all(asked).await;
        let mut differing = Vec::new();
        for (org, answer) in orgs.into_iter().zip(answers) {
            match answer {
                Ok(response) if response.payload != simulated.payload => {
                    differing.push((org, what_differs(&simulated.payload, &response.payload)));
                }
                Ok(response) => {
                    endorsements.extend(response.endorsement);
                    endorsed.insert(org);
                }
                Err(tried) => {
                    failed.insert(org, tried);
                }
            }
        }
        if !differing.is_empty() {
            return Err(
                CollectError::ResultsDiffer { tx_id: simulated.tx_id, local, differing }.into()
            );
        }
    }
    let Simulated { tx_id, response, signed, payload, .. } = simulated;
    let prepared =
        Transaction { proposal: signed.proposal, response_payload: payload, endorsements };
    Ok(Endorsed { tx_id, response, prepared_transaction: prepared.encode_to_vec() })
}

/// Asks the peers of `org`, in the channel configuration's order, until one answers with a
/// valid endorsement of a peer of `org`: that answer, or each peer tried and why it failed.
async fn ask(
    shared: &Shared,
    channel: &Channel,
    ledger: &Ledger,
    org: &str,
    request: ProcessProposalRequest,
) -> Result<ProposalResponse, Vec<(String, Failure)>> {
    let mut tried = Vec::new();
    for peer in channel.peers_of(org) {
        shared.metrics.endorsement_requested();
        let answer = match shared.remote.process_proposal(peer, request.clone()).await {
            Ok(response) => check_endorsement(shared, channel, ledger, org, response).await,
            Err(failure) => Err(failure),
        };
        match answer {
            Ok(response) => return Ok(response),
            Err(failure) => {
                tracing::warn!(org, peer = %peer.address, %failure, "no endorsement from a peer");
                tried.push((peer.address.clone(), failure));
            }
        }
    }
    Err(tried)
}

/// `response` if its endorsement is a valid signature of a peer of `org` over its payload
/// (checked in a batch with others under load, `crate::signature_checks`, and remembered so
/// that validation does not check it again).
async fn check_endorsement(
    shared: &Shared,
    channel: &Channel,
    ledger: &Ledger,
    org: &str,
    response: ProposalResponse,
) -> Result<ProposalResponse, Failure> {
    let refused = |why: &str| Failure::Refused(format!("its answer {why}"));
    let endorsement = response.endorsement.as_ref().ok_or_else(|| refused("has no endorsement"))?;
    let identity = endorsement.endorser.as_ref().ok_or_else(|| refused("names no endorser"))?;
    let member = channel
        .membership()
        .resolve(identity)
        .filter(|m| m.msp_id == org && m.role == Role::Peer)
        .ok_or_else(|| refused(&format!("is not signed by a peer of {org}")))?;
    if endorsement.signature.len() != 64 {
        return Err(refused("has a malformed signature"));
    }
    let message = transaction::endorsement_message(&response.payload, identity);
    if !shared.signatures.verify(&member.key, &message, &endorsement.signature).await {
        return Err(refused("has an endorsement signature that does not verify"));
    }
    ledger.verified_signatures().verified(&member.key, &message, &endorsement.signature);
    Ok(response)
}

/// What differs between the gateway's response payload and another peer's.
fn what_differs(ours: &[u8], theirs: &[u8]) -> String {
    let (Ok(ours), Ok(theirs)) =
        (ProposalResponsePayload::decode(ours), ProposalResponsePayload::decode(theirs))
    else {
        return "its response payload does not decode".into();
    };
    let mut parts = Vec::new();
    if ours.proposal_hash != theirs.proposal_hash {
        parts.push("proposal hash");
    }
    if ours.response != theirs.response {
        parts.push("response");
    }
    if ours.rwset != theirs.rwset {
        parts.push("read/write set");
    }
    if ours.events != theirs.events {
        parts.push("events");
    }
    if ours.contract_version != theirs.contract_version {
        parts.push("contract version");
    }
    match parts.is_empty() {
        true => "its response payload is encoded differently".into(),
        false => format!("its {} differ", parts.join(", ")),
    }
}

/// Each peer tried and why it failed, or that the organization lists none.
fn describe_failures(tried: &[(String, Failure)]) -> String {
    if tried.is_empty() {
        return "it lists no peers in the channel configuration".into();
    }
    let each: Vec<String> =
        tried.iter().map(|(address, failure)| format!("peer {address} {failure}")).collect();
    each.join("; ")
}

/// The organizations this gateway's node endorsed as, for a message.
fn ours(local: &[String]) -> String {
    format!("{} (this gateway's peer)", local.join(", "))
}

fn describe_differing(tx_id: &str, local: &[String], differing: &[(String, String)]) -> String {
    let each: Vec<String> = differing.iter().map(|(org, what)| format!("{org}: {what}")).collect();
    format!(
        "the endorsing organizations' results differ (ProposalResponsePayloads do not match) for \
         transaction {tx_id}: {} computed another result than {} [{}]; nothing was endorsed (a \
         peer behind on the chain or running other code computes another result: retry once \
         the peers have caught up, or ask the organization's operator)",
        differing.iter().map(|(org, _)| org.as_str()).collect::<Vec<_>>().join(", "),
        ours(local),
        each.join("; ")
    )
}

fn describe_too_few(
    contract: &str,
    policy: &str,
    local: &[String],
    endorsed: &[String],
    failed: &[(String, String)],
) -> String {
    let mut by = vec![ours(local)];
    by.extend(endorsed.iter().cloned());
    let not: Vec<String> = failed.iter().map(|(org, why)| format!("{org}: {why}")).collect();
    format!(
        "too few organizations endorsed to satisfy the endorsement policy {policy} of contract \
         {}: endorsed by {}; not by {}",
        quote(contract),
        by.join(", "),
        if not.is_empty() { "any other".to_string() } else { not.join("; ") }
    )
}
