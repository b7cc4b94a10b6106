//! The trust boundary through the real node: only peers endorse (a client that signs a
//! read/write set of its own making, or has its admin sign it, commits nothing), endorsement
//! policies name roles, proposals outside the time window are refused, and a commit status
//! names its block by number and hash.

use prost::Message;
use tonic::Code;
use weft_client::Deploy;
use weft_e2e::{TestNet, args};
use weft_proto::v1::{
    EndorseRequest, EvaluateRequest, GetBlockRequest, Proposal, SignedProposal, SubmitRequest,
    Timestamp, Transaction, TxValidationCode, get_block_request::By,
};
use weft_protocol::{policy, transaction};

/// The owner of asset1 as the ledger says.
async fn owner(net: &TestNet) -> String {
    let read = net.client.evaluate("basic", "ReadAsset", args(&["asset1"])).await.unwrap();
    let asset: serde_json::Value = serde_json::from_slice(&read.payload).unwrap();
    asset["Owner"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_cannot_endorse_its_own_write_set() {
    let net = TestNet::start(|_| {}).await;
    net.deploy_asset_transfer().await;
    let before = owner(&net).await;

    // Endorse an honest transfer, then replace the peer's result with a hand-made one.
    let mut gateway = net.client.gateway.clone();
    let proposal = net.client.proposal("basic", "TransferAsset", args(&["asset1", "Bo"]));
    let endorsed =
        gateway.endorse(EndorseRequest { proposal: Some(proposal) }).await.unwrap().into_inner();
    let honest = Transaction::decode(endorsed.prepared_transaction.as_slice()).unwrap();
    let forged_asset = serde_json::json!({
        "ID": "asset1", "Color": "blue", "Size": 5, "Owner": "Mallory", "AppraisedValue": 1
    });
    let mut payload =
        weft_proto::v1::ProposalResponsePayload::decode(honest.response_payload.as_slice())
            .unwrap();
    let rwset = payload.rwset.as_mut().unwrap();
    let writes = &mut rwset.ns_rwset[0].writes;
    writes.retain(|w| w.key == b"asset1");
    writes[0].value = serde_json::to_vec(&forged_asset).unwrap();
    let forged_payload = payload.encode_to_vec();

    for signers in [vec![net.client.identity()], vec![net.admin.identity(), net.client.identity()]]
    {
        // A fresh proposal each time (a new id), endorsed only by the client (and its admin).
        let signed = net.client.proposal("basic", "TransferAsset", args(&["asset1", "Bo"]));
        let mut payload =
            weft_proto::v1::ProposalResponsePayload::decode(forged_payload.as_slice()).unwrap();
        payload.proposal_hash = transaction::proposal_hash(&signed.proposal);
        let payload = payload.encode_to_vec();
        let endorsements = signers.iter().map(|s| transaction::endorse(s, &payload)).collect();
        let envelope =
            transaction::envelope(net.client.identity(), signed.proposal, payload, endorsements);
        let status = gateway
            .submit_and_wait(SubmitRequest { envelope: Some(envelope) })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(status.code(), TxValidationCode::EndorsementPolicyFailure, "{signers:?}");
    }
    assert_eq!(owner(&net).await, before, "the forged write set changed nothing");

    // The honest transaction, endorsed by the peer, still commits.
    let envelope = net.client.sign_transaction(endorsed.prepared_transaction);
    let status = gateway.submit_and_wait(SubmitRequest { envelope: Some(envelope) }).await.unwrap();
    assert_eq!(status.into_inner().code(), TxValidationCode::Valid);
    assert_eq!(owner(&net).await, "Bo");
    net.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_name_roles_and_only_peer_principals_are_defined() {
    let net = TestNet::start(|_| {}).await;
    let wasm = std::fs::read(weft_contract_artifacts::KV).unwrap();
    for (text, want) in [
        ("Org1.admin", "only peers endorse"),
        ("OR('Org1.peer', 'Org1.client')", "only peers endorse"),
        ("Org9.peer", "unknown organization"),
    ] {
        let policy = policy::parse(text).unwrap();
        let refused = net.admin.deploy(Deploy::new("kv", "1", policy, wasm.clone())).await;
        let status = refused.expect_err(text);
        assert_eq!(status.code(), Code::InvalidArgument, "{text}: {status:?}");
        assert!(status.message().contains(want), "{text}: {}", status.message());
    }
    // `member` is accepted, and met by the organization's peer.
    let member = policy::parse("Org1.member").unwrap();
    let deployed = net.admin.deploy(Deploy::new("kv", "1", member, wasm)).await.unwrap();
    assert_eq!(deployed.definition.status.code(), TxValidationCode::Valid);
    let put = net.client.submit("kv", "Put", args(&["k", "v"])).await.unwrap();
    assert_eq!(put.status.code(), TxValidationCode::Valid);
    let listed = net
        .admin
        .admin
        .clone()
        .list_contracts(weft_proto::v1::ListContractsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let described: Vec<String> =
        listed.contracts.iter().map(|d| policy::describe(d.policy.as_ref().unwrap())).collect();
    assert_eq!(described, ["'Org1.member'"]);
    net.node.shutdown().await.unwrap();
}

/// `client`'s proposal of `function`, timestamped `seconds`.
fn proposal_at(net: &TestNet, seconds: i64, nanos: u32) -> SignedProposal {
    let honest = net.client.proposal("basic", "ReadAsset", args(&["asset1"]));
    let mut proposal = Proposal::decode(honest.proposal.as_slice()).unwrap();
    proposal.timestamp = Some(Timestamp { seconds, nanos });
    transaction::sign_proposal(net.client.identity(), &proposal, vec![])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposals_outside_the_time_window_are_refused() {
    let net = TestNet::start(|c| c.peer.time_window_secs = 60).await;
    net.deploy_asset_transfer().await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
        as i64;
    let mut gateway = net.client.gateway.clone();
    assert!(
        gateway
            .evaluate(EvaluateRequest { proposal: Some(proposal_at(&net, now, 0)) })
            .await
            .is_ok()
    );
    for (seconds, nanos) in
        [(0, 0), (now - 120, 0), (now + 120, 0), (253_402_300_799, 0), (now, 2_000_000_000)]
    {
        let proposal = proposal_at(&net, seconds, nanos);
        let refused = gateway
            .evaluate(EvaluateRequest { proposal: Some(proposal.clone()) })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{seconds}: {refused:?}");
        let endorse = gateway.endorse(EndorseRequest { proposal: Some(proposal) }).await;
        let refused = endorse.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{seconds}: {refused:?}");
        if nanos == 0 {
            assert!(refused.message().contains("time_window_secs"), "{}", refused.message());
        }
    }
    net.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_status_names_its_block_by_number_and_hash() {
    let net = TestNet::start(|_| {}).await;
    let init = net.deploy_asset_transfer().await;
    let block = net
        .client
        .ledger
        .clone()
        .get_block(GetBlockRequest {
            by: Some(By::Number(init.status.block_number)),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let hash = weft_protocol::block::header_hash(block.header.as_ref().unwrap());
    assert_eq!(init.status.block_hash, hash.to_vec());
    let by_hash = net
        .client
        .ledger
        .clone()
        .get_block(GetBlockRequest {
            by: Some(By::Hash(init.status.block_hash.clone())),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_hash.header, block.header);
    net.node.shutdown().await.unwrap();
}
