//! A deterministic test network: organizations with a peer, a client and an admin each, a
//! channel configuration, and signed transactions built from read/write sets. For tests,
//! benchmarks and local demos; keys are derived from fixed seeds.

use prost::Message;
use weft_proto::v1::{
    ChannelConfig, ContractDefinition, EndorsementPolicy, NsReadWriteSet, Organization, Response,
    Timestamp, TxReadWriteSet,
};

use crate::identity::{Role, SigningIdentity};
use crate::transaction::{self, ProposalSpec};

/// One organization of a [`TestNetwork`].
#[derive(Clone, Debug)]
pub struct TestOrg {
    /// Its id, `Org1`, `Org2`...
    pub msp_id: String,
    /// An endorsing peer.
    pub peer: SigningIdentity,
    /// A client.
    pub client: SigningIdentity,
    /// An admin.
    pub admin: SigningIdentity,
}

/// Organizations and a channel configuration.
#[derive(Clone, Debug)]
pub struct TestNetwork {
    /// The organizations, `Org1` first.
    pub orgs: Vec<TestOrg>,
    /// The channel's configuration.
    pub config: ChannelConfig,
}

impl TestNetwork {
    /// A channel `channel` with `orgs` organizations and the given contracts.
    pub fn new(channel: &str, orgs: usize, contracts: &[(&str, EndorsementPolicy)]) -> Self {
        let orgs: Vec<TestOrg> = (1..=orgs)
            .map(|i| {
                let msp_id = format!("Org{i}");
                TestOrg {
                    peer: SigningIdentity::from_seed(&msp_id, &format!("{msp_id}/peer")),
                    client: SigningIdentity::from_seed(&msp_id, &format!("{msp_id}/client")),
                    admin: SigningIdentity::from_seed(&msp_id, &format!("{msp_id}/admin")),
                    msp_id,
                }
            })
            .collect();
        let config = ChannelConfig {
            channel: channel.to_string(),
            organizations: orgs
                .iter()
                .map(|o| Organization {
                    msp_id: o.msp_id.clone(),
                    identities: vec![
                        o.peer.listed_as("peer0", Role::Peer),
                        o.client.listed_as("client", Role::Client),
                        o.admin.listed_as("admin", Role::Admin),
                    ],
                    peers: vec![],
                })
                .collect(),
            contracts: contracts
                .iter()
                .map(|(name, policy)| ContractDefinition {
                    name: name.to_string(),
                    version: "1".into(),
                    policy: Some(policy.clone()),
                    code_hash: vec![],
                    init_required: false,
                })
                .collect(),
        };
        TestNetwork { orgs, config }
    }

    /// Organization `i` (0-based).
    pub fn org(&self, i: usize) -> &TestOrg {
        &self.orgs[i]
    }

    /// A transaction of `contract` by `client` with read/write set `rwset`, endorsed by
    /// `endorsers`, as the ordered envelope bytes, with its id.
    pub fn envelope(&self, spec: TxSpec<'_>) -> (String, Vec<u8>) {
        let proposal = transaction::new_proposal(
            spec.client.identity(),
            ProposalSpec {
                channel: self.config.channel.clone(),
                contract: spec.contract.to_string(),
                function: "invoke".into(),
                args: vec![],
                nonce: spec.nonce,
                timestamp: Timestamp { seconds: 1_700_000_000, nanos: 0 },
            },
        );
        let proposal_bytes = proposal.encode_to_vec();
        let payload = transaction::response_payload(
            &proposal_bytes,
            Response { status: spec.status, message: String::new(), payload: vec![] },
            spec.rwset,
            vec![],
            "1",
        );
        let endorsements =
            spec.endorsers.iter().map(|e| transaction::endorse(e, &payload)).collect();
        let envelope = transaction::envelope(spec.client, proposal_bytes, payload, endorsements);
        (proposal.tx_id, envelope.encode_to_vec())
    }
}

/// What [`TestNetwork::envelope`] builds.
#[derive(Clone, Debug)]
pub struct TxSpec<'a> {
    /// The creator.
    pub client: &'a SigningIdentity,
    /// The invoked contract.
    pub contract: &'a str,
    /// The nonce (determines the id).
    pub nonce: Vec<u8>,
    /// The read/write set.
    pub rwset: TxReadWriteSet,
    /// Who endorses.
    pub endorsers: Vec<&'a SigningIdentity>,
    /// The response status (200: success).
    pub status: i32,
}

impl<'a> TxSpec<'a> {
    /// A successful transaction of `contract` with one namespace's read/write set.
    pub fn new(
        client: &'a SigningIdentity,
        contract: &'a str,
        nonce: impl Into<Vec<u8>>,
        rwset: NsReadWriteSet,
        endorsers: Vec<&'a SigningIdentity>,
    ) -> Self {
        TxSpec {
            client,
            contract,
            nonce: nonce.into(),
            rwset: TxReadWriteSet { ns_rwset: vec![rwset] },
            endorsers,
            status: 200,
        }
    }
}

/// A deterministic random key-value workload: each call simulates one transaction (reads,
/// writes, deletes, range scans stopped early or run to the end) over a small key space, so
/// that blocks of them conflict now and then.
#[derive(Clone, Debug)]
pub struct Workload {
    state: u64,
    keys: u32,
    namespace: String,
}

impl Workload {
    /// A workload over keys `k000`.. of `namespace`, from `seed`.
    pub fn new(seed: u64, namespace: &str, keys: u32) -> Workload {
        Workload {
            state: seed ^ 0x9e37_79b9_7f4a_7c15,
            keys: keys.max(1),
            namespace: namespace.into(),
        }
    }

    /// The next pseudo-random number (splitmix64).
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A random key of the key space.
    pub fn key(&mut self) -> Vec<u8> {
        format!("k{:03}", self.below(u64::from(self.keys))).into_bytes()
    }

    /// Simulates one transaction against `state`.
    pub fn simulate<S: weft_rwset::StateView>(&mut self, state: &S) -> NsReadWriteSet {
        use weft_rwset::{Mode, TxSimulator};
        let mut sim = TxSimulator::new(self.namespace.clone(), state, Mode::Invoke);
        for _ in 0..1 + self.below(4) {
            match self.below(10) {
                0..=3 => {
                    let key = self.key();
                    sim.get(&key).expect("state readable");
                }
                4..=6 => {
                    let key = self.key();
                    let value = format!("v{}", self.next_u64() % 1000);
                    sim.put(&key, value.as_bytes()).expect("valid write");
                }
                7 => {
                    let key = self.key();
                    sim.del(&key).expect("valid delete");
                }
                _ => {
                    let (a, b) = (self.key(), self.key());
                    let end = if self.below(4) == 0 { Vec::new() } else { b };
                    let it = sim.range_open(&a, &end).expect("valid range");
                    let take = self.below(5);
                    for _ in 0..take {
                        if sim.range_next(it).expect("state readable").is_none() {
                            break;
                        }
                    }
                    sim.range_close(it).expect("open iterator");
                }
            }
        }
        sim.finish().expect("state readable")
    }
}
