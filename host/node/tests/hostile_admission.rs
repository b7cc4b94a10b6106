//! Property tests of what a hostile client can send to ordering: arbitrary bytes, and arbitrary
//! well-formed envelopes (any creator, any endorsers including clients, admins, strangers and
//! tampered signatures, any read/write set), through admission (`admission::admit`, the
//! checks Submit runs, its signature checks through the node's `SignatureChecks`) and the
//! validator (`Ledger::append`, as the committer runs it).
//!
//! Asserts: nothing panics; a transaction commits VALID only when valid endorsements by peers
//! satisfy the policy of every namespace it writes; the state is exactly the writes of the
//! VALID transactions. Case count: `WEFT_FUZZ_CASES` (default 64, a short run for CI).

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use prost::Message;
use weft_ledger::Ledger;
use weft_node::admission::admit;
use weft_node::signature_checks::SignatureChecks;
use weft_proto::v1::{
    Endorsement, EndorsementPolicy, Envelope, KvRead, KvWrite, NsReadWriteSet, Response,
    SignedProposal, Timestamp, TxReadWriteSet, TxValidationCode,
};
use weft_protocol::identity::{Role, SigningIdentity};
use weft_protocol::testing::TestNetwork;
use weft_protocol::{policy, transaction};

const CONTRACTS: [&str; 3] = ["kv", "both", "nope"];

fn network() -> TestNetwork {
    let both = policy::all(vec![policy::peer("Org1"), policy::peer("Org2")]);
    TestNetwork::new("ch1", 2, &[("kv", policy::peer("Org1")), ("both", both)])
}

/// Who signs: the identities of the network and one that is not in it.
#[derive(Clone, Copy, Debug)]
enum Who {
    Peer(usize),
    Client(usize),
    Admin(usize),
    Stranger,
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        (0..2usize).prop_map(Who::Peer),
        (0..2usize).prop_map(Who::Client),
        (0..2usize).prop_map(Who::Admin),
        Just(Who::Stranger),
    ]
}

fn signer(net: &TestNetwork, stranger: &SigningIdentity, who: Who) -> SigningIdentity {
    match who {
        Who::Peer(i) => net.org(i).peer.clone(),
        Who::Client(i) => net.org(i).client.clone(),
        Who::Admin(i) => net.org(i).admin.clone(),
        Who::Stranger => stranger.clone(),
    }
}

/// An endorsement as a hostile client may attach it.
#[derive(Clone, Debug)]
struct EndorsementSpec {
    by: Who,
    /// Signs another payload than the transaction's.
    wrong_payload: bool,
    /// Claims another organization than the signer's.
    claim_other_org: bool,
}

fn endorsement_spec() -> impl Strategy<Value = EndorsementSpec> {
    (who(), prop::bool::weighted(0.2), prop::bool::weighted(0.1)).prop_map(
        |(by, wrong_payload, claim_other_org)| EndorsementSpec {
            by,
            wrong_payload,
            claim_other_org,
        },
    )
}

/// One namespace of a read/write set: its index, writes (key, value; an empty value is a
/// delete) and absent reads.
type NamespaceCase = (usize, Vec<(Vec<u8>, Vec<u8>)>, Vec<Vec<u8>>);

#[derive(Clone, Debug)]
struct TxCase {
    creator: Who,
    contract: usize,
    namespaces: Vec<NamespaceCase>,
    /// Sort and deduplicate, as a correct simulator records them.
    canonical: bool,
    status: i32,
    endorsements: Vec<EndorsementSpec>,
    /// Flip one byte of the encoded envelope at this position (modulo its length).
    corrupt_at: Option<usize>,
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(0u8), any::<u8>()], 0..4)
}

fn tx_case() -> impl Strategy<Value = TxCase> {
    let namespace = (
        0..4usize,
        prop::collection::vec((key(), prop::collection::vec(any::<u8>(), 0..3)), 0..4),
        prop::collection::vec(key(), 0..3),
    );
    (
        who(),
        0..CONTRACTS.len(),
        prop::collection::vec(namespace, 0..3),
        prop::bool::weighted(0.8),
        prop_oneof![Just(200), Just(500)],
        prop::collection::vec(endorsement_spec(), 0..4),
        prop::option::weighted(0.1, any::<usize>()),
    )
        .prop_map(
            |(creator, contract, namespaces, canonical, status, endorsements, corrupt_at)| TxCase {
                creator,
                contract,
                namespaces,
                canonical,
                status,
                endorsements,
                corrupt_at,
            },
        )
}

fn namespace_name(i: usize) -> String {
    // The fourth is the lifecycle namespace, which only admins' lifecycle transactions write.
    [CONTRACTS[0], CONTRACTS[1], CONTRACTS[2], "_lifecycle"][i].to_string()
}

fn rwset_of(case: &TxCase) -> TxReadWriteSet {
    let mut ns_rwset: Vec<NsReadWriteSet> = case
        .namespaces
        .iter()
        .map(|(ns, writes, reads)| {
            let mut writes: Vec<KvWrite> = writes
                .iter()
                .map(|(k, v)| KvWrite { key: k.clone(), is_delete: v.is_empty(), value: v.clone() })
                .collect();
            let mut reads: Vec<KvRead> =
                reads.iter().map(|k| KvRead { key: k.clone(), version: None }).collect();
            if case.canonical {
                writes.sort_by(|a, b| a.key.cmp(&b.key));
                writes.dedup_by(|a, b| a.key == b.key);
                writes.retain(|w| !w.key.is_empty());
                reads.sort_by(|a, b| a.key.cmp(&b.key));
                reads.dedup_by(|a, b| a.key == b.key);
                reads.retain(|r| !r.key.is_empty());
            }
            NsReadWriteSet {
                namespace: namespace_name(*ns),
                reads,
                range_queries_info: vec![],
                writes,
            }
        })
        .collect();
    if case.canonical {
        ns_rwset.sort_by(|a, b| a.namespace.cmp(&b.namespace));
        ns_rwset.dedup_by(|a, b| a.namespace == b.namespace);
    }
    TxReadWriteSet { ns_rwset }
}

/// Builds the envelope; returns it with the organizations of its untampered peer
/// endorsements.
fn build(
    net: &TestNetwork,
    stranger: &SigningIdentity,
    case: &TxCase,
    nonce: usize,
) -> (Vec<u8>, BTreeSet<String>) {
    let creator = signer(net, stranger, case.creator);
    let proposal = transaction::new_proposal(
        creator.identity(),
        transaction::ProposalSpec {
            channel: "ch1".into(),
            contract: CONTRACTS[case.contract].into(),
            function: "f".into(),
            nonce: format!("nonce-{nonce}").into_bytes(),
            timestamp: Timestamp { seconds: 1_800_000_000, nanos: 0 },
            ..Default::default()
        },
    );
    let proposal_bytes = proposal.encode_to_vec();
    let payload = transaction::response_payload(
        &proposal_bytes,
        Response { status: case.status, ..Default::default() },
        rwset_of(case),
        vec![],
        "1",
    );
    let mut honest_peers = BTreeSet::new();
    let endorsements: Vec<Endorsement> = case
        .endorsements
        .iter()
        .map(|spec| {
            let key = signer(net, stranger, spec.by);
            let mut endorsement = if spec.wrong_payload {
                transaction::endorse(&key, b"some other payload")
            } else {
                transaction::endorse(&key, &payload)
            };
            if spec.claim_other_org {
                let other = if key.msp_id() == "Org1" { "Org2" } else { "Org1" };
                endorsement.endorser.as_mut().expect("endorser").msp_id = other.into();
            } else if let (Who::Peer(i), false) = (spec.by, spec.wrong_payload) {
                honest_peers.insert(net.org(i).msp_id.clone());
            }
            endorsement
        })
        .collect();
    let mut bytes =
        transaction::envelope(&creator, proposal_bytes, payload, endorsements).encode_to_vec();
    if let Some(at) = case.corrupt_at {
        let at = at % bytes.len();
        bytes[at] ^= 0x5a;
    }
    (bytes, honest_peers)
}

/// Every namespace of the contract and of the kv/both/nope namespaces, key to value.
fn state(ledger: &Ledger) -> BTreeMap<(String, Vec<u8>), Vec<u8>> {
    let snapshot = ledger.snapshot();
    let mut all = BTreeMap::new();
    for ns in CONTRACTS {
        let view = snapshot.namespace(ns);
        for entry in weft_rwset::StateView::range(&view, b"", b"").expect("readable") {
            let (key, value) = entry.expect("readable");
            all.insert((ns.to_string(), key), value.value);
        }
    }
    all
}

fn policy_of(net: &TestNetwork, namespace: &str) -> Option<EndorsementPolicy> {
    net.config.contracts.iter().find(|c| c.name == namespace).and_then(|c| c.policy.clone())
}

fn run_block(cases: Vec<TxCase>) {
    let net = network();
    let stranger = SigningIdentity::from_seed("Org1", "stranger");
    let dir = tempfile::tempdir().expect("temp dir");
    let ledger = Ledger::open(dir.path(), net.config.clone()).expect("ledger");
    let channel = ledger.channel();
    let built: Vec<(Vec<u8>, BTreeSet<String>)> =
        cases.iter().enumerate().map(|(i, c)| build(&net, &stranger, c, i)).collect();
    // Admission: any answer but a panic; it records the signatures it verified, as on a node.
    let (runtime, checks) = signature_checks();
    for (bytes, _) in &built {
        let admitted = admit(&channel, ledger.verified_signatures(), &checks, bytes.clone());
        let _ = runtime.block_on(admitted);
    }
    let block = ledger.next_block(built.iter().map(|(b, _)| b.clone()).collect());
    let committed = ledger.append(block).expect("a block of hostile transactions commits");
    let mut expected = BTreeMap::new();
    for ((case, (_, honest_peers)), code) in cases.iter().zip(&built).zip(&committed.codes) {
        if *code != TxValidationCode::Valid {
            continue;
        }
        // VALID only with honest peer endorsements meeting every written namespace's policy.
        let signers: BTreeSet<(&str, Role)> =
            honest_peers.iter().map(|o| (o.as_str(), Role::Peer)).collect();
        let rwset = rwset_of(case);
        let mut needs = vec![CONTRACTS[case.contract].to_string()];
        needs.extend(
            rwset.ns_rwset.iter().filter(|n| !n.writes.is_empty()).map(|n| n.namespace.clone()),
        );
        for ns in &needs {
            let policy = policy_of(&net, ns).unwrap_or_else(|| panic!("{ns} is not defined"));
            assert!(
                policy::satisfied(&policy, &signers),
                "a transaction committed VALID without peer endorsements meeting {ns}'s policy: \
                 {case:?}"
            );
        }
        for ns in rwset.ns_rwset {
            for w in ns.writes {
                let key = (ns.namespace.clone(), w.key);
                if w.is_delete {
                    expected.remove(&key);
                } else {
                    expected.insert(key, w.value);
                }
            }
        }
    }
    assert_eq!(state(&ledger), expected, "the state is the VALID transactions' writes");
    ledger.verify_chain().expect("the chain verifies");
}

/// A runtime and the node's signature checks on it, for admission.
fn signature_checks() -> (tokio::runtime::Runtime, SignatureChecks) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    let checks = {
        let _entered = runtime.enter();
        SignatureChecks::start(Default::default())
    };
    (runtime, checks)
}

fn cases() -> u32 {
    std::env::var("WEFT_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn hostile_envelopes_commit_only_with_peer_endorsements(
        txs in prop::collection::vec(tx_case(), 1..6)
    ) {
        run_block(txs);
    }

    #[test]
    fn arbitrary_bytes_are_refused_without_panics(
        blobs in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..8)
    ) {
        let net = network();
        let dir = tempfile::tempdir().expect("temp dir");
        let ledger = Ledger::open(dir.path(), net.config.clone()).expect("ledger");
        let channel = ledger.channel();
        let (runtime, checks) = signature_checks();
        for blob in &blobs {
            let admitted = admit(&channel, ledger.verified_signatures(), &checks, blob.clone());
            prop_assert!(runtime.block_on(admitted).is_err());
            let signed = SignedProposal { proposal: blob.clone(), signature: blob.clone(), transient: vec![] };
            prop_assert!(transaction::verify_signed_proposal(&channel, &signed).is_err());
            // A blob that happens to decode as an envelope is still not a valid transaction.
            let _ = Envelope::decode(blob.as_slice());
        }
        let block = ledger.next_block(blobs.clone());
        let committed = ledger.append(block).expect("a block of garbage commits");
        prop_assert!(committed.codes.iter().all(|c| *c != TxValidationCode::Valid));
        prop_assert!(state(&ledger).is_empty());
    }
}

/// The case the security review found: a client builds a write set by hand and signs it as
/// its own endorsement (and as its admin's). Refused at validation, state unchanged.
#[test]
fn a_client_signing_its_own_write_set_is_an_endorsement_policy_failure() {
    let net = network();
    let dir = tempfile::tempdir().expect("temp dir");
    let ledger = Ledger::open(dir.path(), net.config.clone()).expect("ledger");
    let write = (b"owner".to_vec(), b"mallory".to_vec());
    let case = |endorsers: Vec<Who>, nonce: usize| {
        let case = TxCase {
            creator: Who::Client(0),
            contract: 0,
            namespaces: vec![(0, vec![write.clone()], vec![])],
            canonical: true,
            status: 200,
            endorsements: endorsers
                .into_iter()
                .map(|by| EndorsementSpec { by, wrong_payload: false, claim_other_org: false })
                .collect(),
            corrupt_at: None,
        };
        build(&net, &SigningIdentity::from_seed("Org1", "x"), &case, nonce).0
    };
    let block = ledger.next_block(vec![
        case(vec![Who::Client(0)], 0),
        case(vec![Who::Admin(0), Who::Client(0)], 1),
        case(vec![Who::Peer(1)], 2),
        case(vec![Who::Peer(0)], 3),
    ]);
    let codes = ledger.append(block).expect("commits").codes;
    use TxValidationCode::{EndorsementPolicyFailure as Refused, Valid};
    assert_eq!(codes, vec![Refused, Refused, Refused, Valid]);
    assert_eq!(state(&ledger).len(), 1, "only the peer-endorsed write");
}
