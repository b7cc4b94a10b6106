//! The endorser: checks a signed proposal (and, through [`lifecycle::check_invocation`], the
//! contract's initialization state), simulates it on a contract thread against the
//! committed state ([`Endorser::simulate`]), and signs the result with the peer's identity
//! of an organization ([`Endorser::sign`]). The gateway signs as every organization the node
//! is a peer of and collects the others' endorsements (`crate::collect`); the peer-to-peer
//! `Endorser` service signs as the one organization asked. Both run the same checks and
//! simulation here. Evaluation (query) runs the same way and returns the contract's
//! response without endorsing anything.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use weft_ledger::Ledger;
use weft_proto::quote::quote;
use weft_proto::v1::{Endorsement, Proposal, Response, SignedProposal, Timestamp, TxReadWriteSet};
use weft_protocol::channel::Channel;
use weft_protocol::channel::LIFECYCLE;
use weft_protocol::identity::{Member, Role, SigningIdentity};
use weft_protocol::transaction::{self, DecodedProposal};
use weft_runtime::{CodeHash, Creator, Invocation, Simulator};

use crate::error::{Error, Result};
use crate::lifecycle;

/// A proposal checked and simulated, not yet signed by anyone.
#[derive(Clone, Debug, PartialEq)]
pub struct Simulated {
    /// The transaction id.
    pub tx_id: String,
    /// The contract the proposal calls.
    pub contract: String,
    /// The contract's response.
    pub response: Response,
    /// The client's signed proposal as it came (with its transient data): what other
    /// organizations' peers are asked to endorse.
    pub signed: SignedProposal,
    /// The encoded `ProposalResponsePayload` endorsements sign.
    pub payload: Vec<u8>,
}

/// An endorsed proposal, ready for the client to sign and submit.
#[derive(Clone, Debug, PartialEq)]
pub struct Endorsed {
    /// The transaction id.
    pub tx_id: String,
    /// The contract's response.
    pub response: Response,
    /// The encoded `Transaction` the client signs.
    pub prepared_transaction: Vec<u8>,
}

/// Simulates and endorses proposals for one channel.
#[derive(Clone, Debug)]
pub struct Endorser {
    ledger: Arc<Ledger>,
    sim: Simulator,
    peer: SigningIdentity,
    more_peers: Vec<SigningIdentity>,
    time_window: Duration,
}

impl Endorser {
    /// An endorser signing as `peer`, refusing proposals whose timestamp is more than
    /// `time_window` from this peer's clock.
    pub fn new(
        ledger: Arc<Ledger>,
        sim: Simulator,
        peer: SigningIdentity,
        time_window: Duration,
    ) -> Endorser {
        Endorser { ledger, sim, peer, more_peers: Vec::new(), time_window }
    }

    /// This endorser, also endorsing with `peers` (one more endorsement each).
    pub fn also_endorsing_as(mut self, peers: Vec<SigningIdentity>) -> Endorser {
        self.more_peers = peers;
        self
    }

    /// The peer's identity.
    pub fn peer(&self) -> &SigningIdentity {
        &self.peer
    }

    /// Every identity this endorser signs as: the peer's (`[peer]`), then those of
    /// `[peer] also_endorse_as`.
    pub fn identities(&self) -> impl Iterator<Item = &SigningIdentity> {
        std::iter::once(&self.peer).chain(&self.more_peers)
    }

    /// The identity this endorser signs as for organization `msp_id` (empty: the peer's own,
    /// `[peer]`), if it is a peer of that organization.
    pub fn identity_of(&self, msp_id: &str) -> Option<&SigningIdentity> {
        match msp_id {
            "" => Some(&self.peer),
            _ => self.identities().find(|id| id.msp_id() == msp_id),
        }
    }

    /// `peer`'s endorsement of an encoded response payload. The signature is remembered as
    /// this node's own, so validation does not check it again when the block comes back.
    pub fn sign(&self, peer: &SigningIdentity, payload: &[u8]) -> Endorsement {
        let endorsement = transaction::endorse(peer, payload);
        if let Ok(signature) = <[u8; 64]>::try_from(endorsement.signature.as_slice()) {
            let message = transaction::endorsement_message(payload, peer.identity());
            self.ledger.verified_signatures().made(&peer.public_key(), &message, &signature);
        }
        endorsement
    }

    /// Checks `decoded` (channel, creator and signature, transaction id, contract, timestamp
    /// within the time window).
    fn verify<'a>(
        &self,
        decoded: &'a DecodedProposal,
    ) -> Result<(Arc<Channel>, &'a SignedProposal, &'a Proposal)> {
        let channel = self.ledger.channel();
        let (signed, proposal) = decoded.check(&channel)?;
        check_time(proposal.timestamp.unwrap_or_default(), SystemTime::now(), self.time_window)?;
        Ok((channel, signed, proposal))
    }

    /// Checks and simulates `decoded`; nothing is signed yet ([`Endorser::sign`]). Call on
    /// a contract thread ([`crate::contract_pool::ContractPool`]), which may call it twice.
    pub fn simulate(&self, decoded: &DecodedProposal) -> Result<Simulated> {
        let (channel, signed, proposal) = self.verify(decoded)?;
        if self.ledger.contains_tx_id(&proposal.tx_id)? {
            return Err(Error::DuplicateTx(proposal.tx_id.clone()));
        }
        let (response, rwset, events, version) = if proposal.contract == LIFECYCLE {
            let (response, rwset) =
                lifecycle::simulate(&channel, &self.ledger, &self.sim, proposal)?;
            (response, rwset, Vec::new(), "1".to_string())
        } else {
            let (hash, version) = code_of(&channel, &proposal.contract)?;
            let def = channel.contract(&proposal.contract).expect("code_of found it");
            let state = self.state(&proposal.contract);
            // Fabric's CheckInvocation: the initialized key's read (and, for an init, its
            // write) go into the transaction's read/write set before the contract's.
            let check = lifecycle::check_invocation(def, proposal.is_init, &*state)?;
            let call = invocation(&channel, proposal, signed)?;
            let outcome = if check.init {
                self.sim.init(&hash, call, state, None)?
            } else {
                self.sim.invoke(&hash, call, state, None)?
            };
            let simulation = outcome.map_err(|failure| Error::ContractFailed {
                contract: proposal.contract.clone(),
                failure,
            })?;
            let rwset = weft_rwset::merge(check.rwset, simulation.rwset)?;
            (simulation.response, rwset, simulation.events, version)
        };
        let payload = transaction::response_payload(
            &signed.proposal,
            response.clone(),
            TxReadWriteSet { ns_rwset: vec![rwset] },
            events,
            &version,
        );
        Ok(Simulated {
            tx_id: proposal.tx_id.clone(),
            contract: proposal.contract.clone(),
            response,
            signed: signed.clone(),
            payload,
        })
    }

    /// Runs `decoded` as a read-only query and returns the contract's response. Call on a
    /// contract thread ([`crate::contract_pool::ContractPool`]), which may call it twice.
    pub fn evaluate(&self, decoded: &DecodedProposal) -> Result<Response> {
        let (channel, signed, proposal) = self.verify(decoded)?;
        if proposal.contract == LIFECYCLE {
            return Err(Error::BadRequest(format!(
                "{LIFECYCLE} has no queries; use the Admin service's ListContracts"
            )));
        }
        if proposal.is_init {
            return Err(Error::BadRequest(format!(
                "an init of {} is a transaction: submit it (weft invoke --init), do not \
                 evaluate it",
                quote(&proposal.contract)
            )));
        }
        let (hash, _) = code_of(&channel, &proposal.contract)?;
        let def = channel.contract(&proposal.contract).expect("code_of found it");
        // The committed state stays still for the whole query, as under Fabric's read lock:
        // a query sees the state after one block, never part of the next. Applying a block
        // waits for the queries running then; fuel bounds each.
        let _snapshot = self.ledger.snapshot();
        let state = self.state(&proposal.contract);
        // As in Fabric, a contract that requires init answers no query before its init.
        lifecycle::check_invocation(def, false, &*state)?;
        let history = Arc::new(self.ledger.shared_namespace(&proposal.contract));
        let simulation = self
            .sim
            .query(&hash, invocation(&channel, proposal, signed)?, state, Some(history))?
            .map_err(|failure| Error::ContractFailed {
                contract: proposal.contract.clone(),
                failure,
            })?;
        Ok(simulation.response)
    }

    fn state(&self, contract: &str) -> weft_runtime::SharedState {
        Arc::new(self.ledger.shared_namespace(contract))
    }
}

/// Refuses a proposal timestamp more than `window` away from `now`, either way, or with
/// nanoseconds out of range, naming both times.
fn check_time(timestamp: Timestamp, now: SystemTime, window: Duration) -> Result<()> {
    if timestamp.nanos >= 1_000_000_000 {
        return Err(Error::BadRequest(format!(
            "the proposal's timestamp has {} nanoseconds; at most 999999999",
            timestamp.nanos
        )));
    }
    let now_secs = match now.duration_since(UNIX_EPOCH) {
        Ok(d) => i128::from(d.as_secs()),
        Err(e) => -i128::from(e.duration().as_secs()),
    };
    let skew = (i128::from(timestamp.seconds) - now_secs).unsigned_abs();
    if skew <= u128::from(window.as_secs()) {
        return Ok(());
    }
    Err(Error::BadRequest(format!(
        "the proposal's timestamp {} is {} from this peer's clock ({}); proposals must be \
         within {} of it ([peer] time_window_secs): check the client's clock",
        describe_time(timestamp.seconds),
        humantime::format_duration(Duration::from_secs(u64::try_from(skew).unwrap_or(u64::MAX))),
        humantime::format_rfc3339_seconds(now),
        humantime::format_duration(window),
    )))
}

/// `seconds` since the Unix epoch as RFC 3339 where it can be, else as a number.
fn describe_time(seconds: i64) -> String {
    u64::try_from(seconds)
        .ok()
        .and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s)))
        .filter(|t| *t < UNIX_EPOCH + Duration::from_secs(253_402_300_800))
        .map_or_else(
            || format!("{seconds} s since 1970"),
            |t| humantime::format_rfc3339_seconds(t).to_string(),
        )
}

/// The queue `decoded` waits in for a contract thread
/// ([`crate::contract_pool::ContractPool`]): its channel and contract if `channel` defines
/// the contract (one contract name on two channels is two contracts, each with its share),
/// else one shared queue (the endorser refuses such proposals at once), so a client cannot
/// make the pool keep a queue per name it invents.
pub(crate) fn queue_of(channel: &Channel, decoded: &DecodedProposal) -> String {
    match channel.contract(decoded.contract()) {
        // A channel name holds no '/' (weft_protocol::names::check_channel).
        Some(_) => format!("{}/{}", channel.name(), decoded.contract()),
        None => String::new(),
    }
}

/// The code hash and version of `contract` on `channel`, if its code is installed.
fn code_of(channel: &Channel, contract: &str) -> Result<(CodeHash, String)> {
    let def = channel.contract(contract).ok_or_else(|| {
        Error::Rejected(transaction::ProposalRejection::UnknownContract(contract.into()))
    })?;
    let hash = <[u8; 32]>::try_from(def.code_hash.as_slice())
        .map(CodeHash)
        .map_err(|_| Error::NotInstalled(contract.into()))?;
    Ok((hash, def.version.clone()))
}

/// The contract's view of `proposal`. The creator is resolved in the channel's membership
/// (the proposal's check already did, so it is there): its role, name and attributes are the
/// channel configuration's. Copied: the proposal stays whole, since the contract pool may
/// run a job twice (`crate::contract_pool`).
fn invocation(
    channel: &Channel,
    proposal: &Proposal,
    signed: &SignedProposal,
) -> Result<Invocation> {
    let identity = proposal.creator.clone().unwrap_or_default();
    let member = channel.membership().resolve(&identity).ok_or_else(|| {
        Error::Rejected(transaction::ProposalRejection::UnknownCreator(identity.msp_id.clone()))
    })?;
    let ts = proposal.timestamp.unwrap_or_default();
    Ok(Invocation {
        contract: proposal.contract.clone(),
        function: proposal.function.clone(),
        args: proposal.args.clone(),
        tx_id: proposal.tx_id.clone(),
        channel: proposal.channel.clone(),
        creator: creator(member),
        timestamp: weft_abi::Timestamp { seconds: ts.seconds, nanos: ts.nanos, reserved: 0 },
        transient: signed
            .transient
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect::<BTreeMap<_, _>>(),
    })
}

/// A channel member as the contract sees it ([`weft_abi::TxField::CreatorIdentity`]).
fn creator(member: &Member) -> Creator {
    Creator {
        msp_id: member.msp_id.clone(),
        public_key: member.key.as_bytes().to_vec(),
        role: abi_role(member.role),
        name: member.name.clone(),
        attributes: member.attributes.iter().cloned().collect(),
    }
}

/// The ABI's role for a member's role. A member is never [`Role::Member`] or
/// [`Role::Unspecified`] (the membership refuses them); they read as clients.
fn abi_role(role: Role) -> weft_abi::Role {
    match role {
        Role::Peer => weft_abi::Role::Peer,
        Role::Admin => weft_abi::Role::Admin,
        Role::Orderer => weft_abi::Role::Orderer,
        Role::Client | Role::Member | Role::Unspecified => weft_abi::Role::Client,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_contract_name_on_two_channels_waits_in_two_queues() {
        use weft_protocol::testing::TestNetwork;
        let queue = |channel: &str, contract: &str| {
            let net = TestNetwork::new(channel, 1, &[("kv", weft_protocol::policy::peer("Org1"))]);
            let spec = transaction::ProposalSpec {
                channel: channel.into(),
                contract: contract.into(),
                function: "Get".into(),
                args: vec![],
                nonce: vec![1; 24],
                timestamp: Timestamp::default(),
            };
            let client = &net.org(0).client;
            let proposal = transaction::new_proposal(client.identity(), spec);
            let signed = transaction::sign_proposal(client, &proposal, vec![]);
            let decoded = DecodedProposal::decode(signed).unwrap();
            queue_of(&Channel::new(net.config.clone()).unwrap(), &decoded)
        };
        assert_eq!(queue("ch1", "kv"), "ch1/kv");
        assert_eq!(queue("ch2", "kv"), "ch2/kv");
        // A contract the channel does not define: the one shared queue.
        assert_eq!(queue("ch1", "nope"), "");
    }

    #[test]
    fn member_roles_reach_the_contract_under_the_same_names() {
        use weft_protocol::identity::role_name;
        for role in [Role::Client, Role::Peer, Role::Admin, Role::Orderer] {
            assert_eq!(abi_role(role).name(), role_name(role));
        }
    }

    #[test]
    fn timestamps_outside_the_window_are_refused_naming_both_times() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let window = Duration::from_secs(900);
        let at = |seconds, nanos| Timestamp { seconds, nanos };
        assert!(check_time(at(1_800_000_000, 0), now, window).is_ok());
        assert!(check_time(at(1_800_000_900, 999_999_999), now, window).is_ok());
        assert!(check_time(at(1_799_999_100, 0), now, window).is_ok());
        let late = check_time(at(1_800_000_901, 0), now, window).unwrap_err().to_string();
        assert!(late.contains("2027-01-15T08:15:01Z"), "{late}");
        assert!(late.contains("2027-01-15T08:00:00Z") && late.contains("15m"), "{late}");
        for (seconds, nanos) in [
            (0, 0),
            (-5, 0),
            (253_402_300_799, 0),
            (i64::MAX, 0),
            (i64::MIN, 0),
            (1_800_000_000, 1_000_000_000),
        ] {
            let err = check_time(at(seconds, nanos), now, window).unwrap_err();
            assert!(matches!(err, Error::BadRequest(_)), "{err}");
        }
        let epoch = check_time(at(0, 0), now, window).unwrap_err().to_string();
        assert!(epoch.contains("1970-01-01T00:00:00Z"), "{epoch}");
        let far = check_time(at(i64::MIN, 0), now, window).unwrap_err().to_string();
        assert!(far.contains(&format!("{} s since 1970", i64::MIN)), "{far}");
    }
}
