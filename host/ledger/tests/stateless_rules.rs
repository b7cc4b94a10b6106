//! Table tests for the checks that need no state, run through `Ledger::append`: well-formed
//! envelope, creator signature, transaction id, contract, read/write set, response status,
//! endorser signatures and endorsement policies, and duplicate transaction ids.

use prost::Message;
use weft_ledger::Ledger;
use weft_proto::v1::{
    Endorsement, Envelope, Identity, KvRead, KvWrite, NsReadWriteSet, Proposal,
    ProposalResponsePayload, RangeQueryInfo, Response, TxReadWriteSet, TxValidationCode as Code,
    Version,
};
use weft_protocol::identity::SigningIdentity;
use weft_protocol::testing::TestNetwork;
use weft_protocol::{policy, transaction};

fn network() -> TestNetwork {
    TestNetwork::new(
        "ch1",
        3,
        &[
            ("kv", policy::peer("Org1")),
            ("and", policy::all(vec![policy::peer("Org1"), policy::peer("Org2")])),
            ("or", policy::any(vec![policy::peer("Org1"), policy::peer("Org2")])),
            (
                "two",
                policy::n_of(
                    2,
                    vec![policy::peer("Org1"), policy::peer("Org2"), policy::peer("Org3")],
                ),
            ),
        ],
    )
}

fn ns(namespace: &str, key: &str) -> NsReadWriteSet {
    NsReadWriteSet {
        namespace: namespace.into(),
        writes: vec![KvWrite {
            key: key.as_bytes().to_vec(),
            is_delete: false,
            value: b"v".to_vec(),
        }],
        ..Default::default()
    }
}

/// Everything that goes into one transaction, each part open to tampering.
struct Parts<'a> {
    proposal: Proposal,
    response: Response,
    rwset: TxReadWriteSet,
    endorsers: Vec<&'a SigningIdentity>,
    signer: &'a SigningIdentity,
    proposal_hash: Option<Vec<u8>>,
    edit_endorsements: fn(&mut Vec<Endorsement>),
    edit_envelope: fn(&mut Envelope),
}

fn parts<'a>(net: &'a TestNetwork, contract: &str, nonce: &str) -> Parts<'a> {
    let client = &net.org(0).client;
    let proposal = transaction::new_proposal(
        client.identity(),
        transaction::ProposalSpec {
            channel: "ch1".into(),
            contract: contract.into(),
            function: "f".into(),
            nonce: nonce.as_bytes().to_vec(),
            ..Default::default()
        },
    );
    Parts {
        proposal,
        response: Response { status: 200, ..Default::default() },
        rwset: TxReadWriteSet { ns_rwset: vec![ns(contract, nonce)] },
        endorsers: vec![&net.org(0).peer],
        signer: client,
        proposal_hash: None,
        edit_endorsements: |_| {},
        edit_envelope: |_| {},
    }
}

fn build(p: Parts<'_>) -> Vec<u8> {
    let proposal_bytes = p.proposal.encode_to_vec();
    let payload = ProposalResponsePayload {
        proposal_hash: p
            .proposal_hash
            .unwrap_or_else(|| transaction::proposal_hash(&proposal_bytes)),
        response: Some(p.response),
        rwset: Some(p.rwset),
        events: vec![],
        contract_version: "1".into(),
    }
    .encode_to_vec();
    let mut endorsements: Vec<Endorsement> =
        p.endorsers.iter().map(|e| transaction::endorse(e, &payload)).collect();
    (p.edit_endorsements)(&mut endorsements);
    let mut envelope = transaction::envelope(p.signer, proposal_bytes, payload, endorsements);
    (p.edit_envelope)(&mut envelope);
    envelope.encode_to_vec()
}

fn commit(ledger: &Ledger, envelopes: Vec<Vec<u8>>) -> Vec<Code> {
    ledger.append(ledger.next_block(envelopes)).unwrap().codes
}

#[test]
fn well_formedness_signatures_contract_rwset_and_status() {
    let net = network();
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), net.config.clone()).unwrap();
    let stranger: &'static SigningIdentity =
        Box::leak(Box::new(SigningIdentity::from_seed("Org1", "stranger")));
    type Case<'a> = (&'a str, Vec<u8>, Code);
    let mut cases: Vec<Case<'_>> = Vec::new();
    let mut case = |name: &'static str, edit: &dyn Fn(&mut Parts<'_>), code: Code| {
        let mut p = parts(&net, "kv", name);
        edit(&mut p);
        cases.push((name, build(p), code));
    };
    case("valid", &|_| {}, Code::Valid);
    case("wrong channel", &|p| p.proposal.channel = "other".into(), Code::BadPayload);
    case("no creator", &|p| p.proposal.creator = None, Code::BadPayload);
    case("proposal hash mismatch", &|p| p.proposal_hash = Some(vec![0; 32]), Code::BadPayload);
    case(
        "client signature flipped",
        &|p| p.edit_envelope = |e| e.signature[0] ^= 1,
        Code::BadCreatorSignature,
    );
    case(
        "signature missing",
        &|p| p.edit_envelope = |e| e.signature.clear(),
        Code::BadCreatorSignature,
    );
    case(
        "payload altered after signing",
        &|p| p.edit_envelope = |e| e.payload.push(0),
        Code::BadPayload, // the altered payload no longer decodes the same; trailing 0 is a bad tag
    );
    case("signed by another member", &|p| p.signer = stranger, Code::BadCreatorSignature);
    case(
        "creator not in its organization",
        &|p| {
            p.proposal.creator = Some(Identity {
                msp_id: "Org2".into(),
                public_key: p.signer.public_key().to_vec(),
            });
            p.proposal.tx_id = weft_protocol::txid::derive_tx_id(
                &p.proposal.nonce,
                p.proposal.creator.as_ref().unwrap(),
            );
        },
        Code::BadCreatorSignature,
    );
    case("transaction id not derived", &|p| p.proposal.tx_id = "f00".into(), Code::BadProposalTxid);
    case("undefined contract", &|p| p.proposal.contract = "nope".into(), Code::InvalidChaincode);
    case(
        "writes an undefined namespace",
        &|p| p.rwset.ns_rwset.push(ns("zzz", "k")),
        Code::InvalidChaincode,
    );
    case(
        "unsorted reads",
        &|p| {
            p.rwset.ns_rwset[0].reads = vec![
                KvRead { key: b"b".to_vec(), version: None },
                KvRead { key: b"a".to_vec(), version: None },
            ]
        },
        Code::BadRwset,
    );
    case("empty key", &|p| p.rwset.ns_rwset[0].writes[0].key.clear(), Code::BadRwset);
    case("put without a value", &|p| p.rwset.ns_rwset[0].writes[0].value.clear(), Code::BadRwset);
    case("repeated namespace", &|p| p.rwset.ns_rwset.push(ns("kv", "zz")), Code::BadRwset);
    case(
        "range result outside its range",
        &|p| {
            p.rwset.ns_rwset[0].range_queries_info = vec![RangeQueryInfo {
                start_key: b"a".to_vec(),
                end_key: b"b".to_vec(),
                itr_exhausted: true,
                reads: vec![KvRead {
                    key: b"c".to_vec(),
                    version: Some(Version { block_num: 0, tx_num: 0 }),
                }],
            }]
        },
        Code::BadRwset,
    );
    case("error response", &|p| p.response.status = 500, Code::InvalidOtherReason);
    let mut envelopes: Vec<Vec<u8>> = cases.iter().map(|c| c.1.clone()).collect();
    envelopes.push(b"not an envelope".to_vec());
    let signed_garbage =
        Envelope { payload: b"\xff\xff".to_vec(), signature: net.org(0).client.sign(b"\xff\xff") };
    envelopes.push(signed_garbage.encode_to_vec());
    let codes = commit(&ledger, envelopes);
    for (i, (name, _, want)) in cases.iter().enumerate() {
        assert_eq!(codes[i], *want, "{name}");
    }
    assert_eq!(codes[cases.len()], Code::BadPayload, "garbage envelope");
    assert_eq!(codes[cases.len() + 1], Code::BadPayload, "signed garbage transaction");
}

/// Name, contract, endorsers, tampering of the endorsements, expected code.
type PolicyCase<'a> = (&'a str, &'a str, Vec<&'a SigningIdentity>, fn(&mut Vec<Endorsement>), Code);

#[test]
fn endorsement_policies() {
    let net = network();
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), net.config.clone()).unwrap();
    let (o1, o2, o3) = (&net.org(0).peer, &net.org(1).peer, &net.org(2).peer);
    let impostor = SigningIdentity::from_seed("Org2", "not-a-member");
    let cases: Vec<PolicyCase<'_>> = vec![
        ("single org endorsed", "kv", vec![o1], |_| {}, Code::Valid),
        ("no endorsement", "kv", vec![], |_| {}, Code::EndorsementPolicyFailure),
        ("wrong org", "kv", vec![o2], |_| {}, Code::EndorsementPolicyFailure),
        // Only peers endorse: the organization's admin or client signing counts for nothing.
        ("admin endorses", "kv", vec![&net.org(0).admin], |_| {}, Code::EndorsementPolicyFailure),
        ("client endorses", "kv", vec![&net.org(0).client], |_| {}, Code::EndorsementPolicyFailure),
        (
            "client and admin endorse AND",
            "and",
            vec![&net.org(0).client, &net.org(1).admin],
            |_| {},
            Code::EndorsementPolicyFailure,
        ),
        (
            "peer and client endorse AND",
            "and",
            vec![o1, &net.org(1).client],
            |_| {},
            Code::EndorsementPolicyFailure,
        ),
        (
            "bad endorser signature",
            "kv",
            vec![o1],
            |e| e[0].signature[5] ^= 1,
            Code::EndorsementPolicyFailure,
        ),
        (
            "bad signature is dropped, a good one counts",
            "kv",
            vec![o2, o1],
            |e| e[0].signature[5] ^= 1,
            Code::Valid,
        ),
        (
            "endorser claims an org it is not in",
            "kv",
            vec![o2],
            |e| e[0].endorser.as_mut().unwrap().msp_id = "Org1".into(),
            Code::EndorsementPolicyFailure,
        ),
        ("unknown endorser", "or", vec![&impostor], |_| {}, Code::EndorsementPolicyFailure),
        ("AND satisfied", "and", vec![o1, o2], |_| {}, Code::Valid),
        ("AND half", "and", vec![o2], |_| {}, Code::EndorsementPolicyFailure),
        ("AND same org twice", "and", vec![o1, o1], |_| {}, Code::EndorsementPolicyFailure),
        ("OR either", "or", vec![o2], |_| {}, Code::Valid),
        ("OR none", "or", vec![o3], |_| {}, Code::EndorsementPolicyFailure),
        ("2-of-3 met", "two", vec![o3, o2], |_| {}, Code::Valid),
        ("2-of-3 one", "two", vec![o3], |_| {}, Code::EndorsementPolicyFailure),
    ];
    let mut envelopes = Vec::new();
    for (name, contract, endorsers, edit, _) in &cases {
        let mut p = parts(&net, contract, name);
        p.endorsers = endorsers.clone();
        p.edit_endorsements = *edit;
        envelopes.push(build(p));
    }
    // Writing another contract's namespace needs that contract's policy too.
    let mut p = parts(&net, "kv", "cross-namespace");
    p.rwset.ns_rwset.insert(0, ns("and", "x"));
    envelopes.push(build(p));
    let codes = commit(&ledger, envelopes);
    for (i, (name, .., want)) in cases.iter().enumerate() {
        assert_eq!(codes[i], *want, "{name}");
    }
    assert_eq!(codes[cases.len()], Code::EndorsementPolicyFailure, "cross-namespace write");
}

#[test]
fn duplicate_transaction_ids() {
    let net = network();
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), net.config.clone()).unwrap();
    let valid = |nonce: &str| build(parts(&net, "kv", nonce));
    let unendorsed = |nonce: &str| {
        let mut p = parts(&net, "kv", nonce);
        p.endorsers.clear();
        build(p)
    };
    let forged = |nonce: &str| {
        let mut p = parts(&net, "kv", nonce);
        p.edit_envelope = |e| e.signature[0] ^= 1;
        build(p)
    };
    let id = |nonce: &str| {
        weft_protocol::txid::derive_tx_id(nonce.as_bytes(), net.org(0).client.identity())
    };

    // Block 0: committed valid and committed invalid ids; in-block duplicates.
    let codes = commit(
        &ledger,
        vec![
            valid("a"),
            unendorsed("b"),
            valid("c"),
            valid("c"),
            unendorsed("d"),
            valid("d"),
            forged("e"),
            valid("e"),
        ],
    );
    use Code::*;
    assert_eq!(
        codes,
        vec![
            Valid,
            EndorsementPolicyFailure,
            Valid,
            DuplicateTxid,
            EndorsementPolicyFailure,
            Valid,
            BadCreatorSignature,
            Valid
        ],
        "in a block the first occurrence that passes the stateless checks stands"
    );
    let loc = |n: &str| ledger.transaction(&id(n)).unwrap().unwrap().location;
    assert_eq!((loc("b").tx_index, loc("b").code), (1, EndorsementPolicyFailure));
    assert_eq!((loc("c").tx_index, loc("c").code), (2, Valid));
    assert_eq!((loc("d").tx_index, loc("d").code), (5, Valid), "the valid occurrence is indexed");
    assert_eq!((loc("e").tx_index, loc("e").code), (7, Valid), "forgeries are not indexed");
    assert!(!ledger.contains_tx_id(&id("f")).unwrap());

    // Block 1: ids already in the ledger, valid or invalid.
    let codes =
        commit(&ledger, vec![valid("a"), valid("b"), unendorsed("c"), forged("a"), valid("f")]);
    assert_eq!(
        codes,
        vec![DuplicateTxid, DuplicateTxid, DuplicateTxid, BadCreatorSignature, Valid]
    );
    assert_eq!(loc("a").block_number, 0, "a duplicate does not move the index");

    // Reopened: the ids come back from the index (the in-memory filter of ids is rebuilt
    // from it), forged ones still are not there.
    drop(ledger);
    let ledger = Ledger::open(dir.path(), net.config.clone()).unwrap();
    for n in ["a", "b", "c", "d", "e", "f"] {
        assert!(ledger.contains_tx_id(&id(n)).unwrap(), "{n} is in the ledger after reopening");
    }
    assert!(!ledger.contains_tx_id(&id("g")).unwrap());
    let codes = commit(&ledger, vec![valid("e"), valid("f"), valid("g")]);
    assert_eq!(codes, vec![DuplicateTxid, DuplicateTxid, Valid]);
}
