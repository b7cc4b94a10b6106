//! End to end through the real gRPC server on loopback: deploy asset-transfer through the
//! lifecycle, invoke, query, commit status, blocks, the chain, an MVCC conflict in one block,
//! a restart, and bad requests that get clear errors and change nothing.

use prost::Message;
use tonic::Code;
use weft_client::Deploy;
use weft_e2e::{TestNet, args};
use weft_proto::v1::{
    CommitStatusRequest, EndorseRequest, EvaluateRequest, GetBlockRequest, GetTransactionRequest,
    ListContractsRequest, SubmitRequest, TxValidationCode, get_block_request::By,
};
use weft_protocol::policy;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_invoke_query_read_the_block_and_restart() {
    let net = TestNet::start(|c| c.metrics_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    net.deploy_asset_transfer().await;

    let created = net
        .client
        .submit("basic", "CreateAsset", args(&["asset7", "orange", "3", "Ana", "150"]))
        .await
        .unwrap();
    assert_eq!(created.status.code(), TxValidationCode::Valid);
    let read = net.client.evaluate("basic", "ReadAsset", args(&["asset7"])).await.unwrap();
    let asset: serde_json::Value = serde_json::from_slice(&read.payload).unwrap();
    assert_eq!(asset["Owner"], "Ana");

    // Commit status again, after the fact, from the ledger.
    let mut gateway = net.client.gateway.clone();
    let status = gateway
        .commit_status(CommitStatusRequest { tx_id: created.tx_id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status, created.status);

    // The transaction and its block.
    let mut ledger = net.client.ledger.clone();
    let tx = ledger
        .get_transaction(GetTransactionRequest {
            tx_id: created.tx_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((tx.code(), tx.block_number), (TxValidationCode::Valid, status.block_number));
    let block = ledger
        .get_block(GetBlockRequest {
            by: Some(By::Number(status.block_number)),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let envelope = tx.envelope.unwrap().encode_to_vec();
    assert_eq!(block.data.unwrap().envelopes[tx.tx_index as usize], envelope);
    let height = net.client.verify_chain().await.unwrap();
    assert_eq!(height, status.block_number + 1);

    // Metrics, as Prometheus text over HTTP.
    let metrics = scrape(net.node.metrics_addr().unwrap()).await;
    assert!(metrics.starts_with("HTTP/1.1 200 OK"), "{metrics}");
    assert!(metrics.contains("weft_transactions_total{code=\"VALID\"} 3"), "{metrics}");
    assert!(metrics.contains("weft_endorsements_total 3"), "{metrics}");
    assert!(metrics.contains("weft_evaluations_total 1"), "{metrics}");

    // The definition is on chain and survives a restart, with the state.
    let listed =
        net.admin.admin.clone().list_contracts(ListContractsRequest::default()).await.unwrap();
    let names: Vec<_> = listed.into_inner().contracts.into_iter().map(|d| d.name).collect();
    assert_eq!(names, ["basic"]);
    let net = net.restart().await;
    assert_eq!(net.client.verify_chain().await.unwrap(), height);
    let read = net.client.evaluate("basic", "ReadAsset", args(&["asset7"])).await.unwrap();
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&read.payload).unwrap()["Owner"], "Ana");
    let moved = net.client.submit("basic", "TransferAsset", args(&["asset7", "Bo"])).await.unwrap();
    assert_eq!(moved.status.code(), TxValidationCode::Valid);
    assert_eq!(moved.status.block_number, height);
    assert_eq!(moved.response.payload, b"Ana");
    let history = net
        .client
        .ledger
        .clone()
        .get_key_history(weft_proto::v1::GetKeyHistoryRequest {
            contract: "basic".into(),
            key: b"asset7".to_vec(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .modifications;
    let writers: Vec<&str> = history.iter().map(|m| m.tx_id.as_str()).collect();
    assert_eq!(writers, [created.tx_id.as_str(), moved.tx_id.as_str()]);
    assert!(history.iter().all(|m| !m.is_delete));
    net.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_signatures_among_many_concurrent_calls_are_refused_each_alone() {
    let net = TestNet::start(|c| c.metrics_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    net.deploy_asset_transfer().await;
    let gateway = net.client.gateway.clone();
    // Transactions endorsed beforehand, to submit all at once.
    let mut envelopes = Vec::new();
    for i in 0..24 {
        let id = format!("c{i}");
        let proposal =
            net.client.proposal("basic", "CreateAsset", args(&[&id, "red", "1", "Al", "5"]));
        let request = EndorseRequest { proposal: Some(proposal) };
        let endorsed = gateway.clone().endorse(request).await.unwrap().into_inner();
        envelopes.push(net.client.sign_transaction(endorsed.prepared_transaction));
    }
    let checked = || async {
        let metrics = scrape(net.node.metrics_addr().unwrap()).await;
        let line = metrics.lines().find(|l| l.starts_with("weft_signature_checks_total "));
        line.and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok()).expect("the counter")
    };
    let before = checked().await;

    // Submissions, queries and endorsements at once, every fifth one forged: the checks
    // share batches, and each call gets its own answer.
    let forged = |i: usize| i % 5 == 2;
    let valid = TxValidationCode::Valid as i32;
    let mut calls = tokio::task::JoinSet::new();
    for (i, mut envelope) in envelopes.into_iter().enumerate() {
        if forged(i) {
            envelope.signature[9] ^= 1;
        }
        let mut gateway = gateway.clone();
        calls.spawn(async move {
            let answer = gateway.submit_and_wait(SubmitRequest { envelope: Some(envelope) }).await;
            (forged(i), answer.map(|a| a.into_inner().code))
        });
    }
    for i in 0..48 {
        let mut proposal = net.client.proposal("basic", "ReadAsset", args(&["asset1"]));
        if forged(i) {
            proposal.signature[0] ^= 1;
        }
        let mut gateway = gateway.clone();
        calls.spawn(async move {
            let answer = if i % 2 == 0 {
                gateway.evaluate(EvaluateRequest { proposal: Some(proposal) }).await.map(|_| valid)
            } else {
                gateway.endorse(EndorseRequest { proposal: Some(proposal) }).await.map(|_| valid)
            };
            (forged(i), answer)
        });
    }
    let mut refused = 0;
    while let Some(call) = calls.join_next().await {
        match call.unwrap() {
            (false, answer) => assert_eq!(answer.unwrap(), valid),
            (true, answer) => {
                let status = answer.expect_err("a forged signature is refused");
                assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
                assert!(status.message().contains("signature"), "{status:?}");
                refused += 1;
            }
        }
    }
    assert_eq!(refused, 5 + 10);
    // Each of the 72 signatures was checked once.
    assert_eq!(checked().await - before, 72);
    net.node.shutdown().await.unwrap();
}

async fn scrape(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let mut text = String::new();
    socket.read_to_string(&mut text).await.unwrap();
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_conflicting_transactions_in_one_block() {
    // Blocks of two: the pair lands in one block.
    let net = TestNet::start(|c| {
        c.orderer.max_txs = 2;
        c.orderer.batch_timeout_ms = 200;
    })
    .await;
    net.deploy_asset_transfer().await;
    let mut gateway = net.client.gateway.clone();
    let mut envelopes = Vec::new();
    for owner in ["Bo", "Cy"] {
        let proposal = net.client.proposal("basic", "TransferAsset", args(&["asset1", owner]));
        let endorsed = gateway
            .endorse(EndorseRequest { proposal: Some(proposal) })
            .await
            .unwrap()
            .into_inner();
        envelopes
            .push((endorsed.tx_id, net.client.sign_transaction(endorsed.prepared_transaction)));
    }
    for (_, envelope) in &envelopes {
        gateway.submit(SubmitRequest { envelope: Some(envelope.clone()) }).await.unwrap();
    }
    let mut statuses = Vec::new();
    for (tx_id, _) in &envelopes {
        let request = CommitStatusRequest { tx_id: tx_id.clone(), ..Default::default() };
        statuses.push(gateway.commit_status(request).await.unwrap().into_inner());
    }
    assert_eq!(statuses[0].block_number, statuses[1].block_number);
    assert_eq!(statuses[0].code(), TxValidationCode::Valid);
    assert_eq!(statuses[1].code(), TxValidationCode::MvccReadConflict);
    let conflict = &statuses[1].conflicts[0];
    assert_eq!((conflict.namespace.as_str(), conflict.key.as_slice()), ("basic", &b"asset1"[..]));
    assert_eq!(conflict.written_by_tx, Some(0));
    assert!(conflict.recorded.is_some());
    let read = net.client.evaluate("basic", "ReadAsset", args(&["asset1"])).await.unwrap();
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&read.payload).unwrap()["Owner"], "Bo");
    net.node.shutdown().await.unwrap();
}

/// The request failed with `code` and a message containing `words`.
fn expect<T: std::fmt::Debug>(
    result: Result<tonic::Response<T>, tonic::Status>,
    code: Code,
    words: &str,
) {
    let status = result.expect_err("the request must fail");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(status.message().contains(words), "{:?} lacks {words:?}", status.message());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors_and_change_nothing() {
    let net = TestNet::start(|c| c.grpc.max_message_bytes = 1 << 20).await;
    net.deploy_asset_transfer().await;
    let before = net.node.ledger().chain_info();
    let state = net.node.ledger().state_hash().unwrap();
    let mut gateway = net.client.gateway.clone();

    // Unknown contract.
    let unknown = net.client.proposal("nope", "Anything", vec![]);
    expect(
        gateway.evaluate(EvaluateRequest { proposal: Some(unknown.clone()) }).await,
        Code::NotFound,
        "\"nope\"",
    );
    expect(
        gateway.endorse(EndorseRequest { proposal: Some(unknown) }).await,
        Code::NotFound,
        "\"nope\"",
    );

    // Bad and missing signatures, on proposals and on transactions.
    let mut forged = net.client.proposal("basic", "ReadAsset", args(&["asset1"]));
    forged.signature[0] ^= 1;
    expect(
        gateway.evaluate(EvaluateRequest { proposal: Some(forged) }).await,
        Code::Unauthenticated,
        "signature",
    );
    let mut unsigned = net.client.proposal("basic", "ReadAsset", args(&["asset1"]));
    unsigned.signature.clear();
    expect(
        gateway.endorse(EndorseRequest { proposal: Some(unsigned) }).await,
        Code::Unauthenticated,
        "signature",
    );
    expect(
        gateway.evaluate(EvaluateRequest { proposal: None }).await,
        Code::InvalidArgument,
        "no proposal",
    );
    let proposal =
        net.client.proposal("basic", "CreateAsset", args(&["a9", "red", "1", "Al", "5"]));
    let endorsed =
        gateway.endorse(EndorseRequest { proposal: Some(proposal) }).await.unwrap().into_inner();
    let mut envelope = net.client.sign_transaction(endorsed.prepared_transaction.clone());
    envelope.signature[3] ^= 1;
    expect(
        gateway.submit(SubmitRequest { envelope: Some(envelope.clone()) }).await,
        Code::Unauthenticated,
        "signature",
    );
    envelope.signature.clear();
    expect(
        gateway.submit(SubmitRequest { envelope: Some(envelope) }).await,
        Code::Unauthenticated,
        "signature",
    );
    // A transaction signed by someone else than its creator.
    let stolen = net.admin.sign_transaction(endorsed.prepared_transaction);
    expect(
        gateway.submit(SubmitRequest { envelope: Some(stolen) }).await,
        Code::Unauthenticated,
        "signature",
    );

    // Non-admin deploy: install and define are both refused.
    let wasm = std::fs::read(weft_contract_artifacts::KV).unwrap();
    let refused =
        net.client.deploy(Deploy::new("kv", "1", policy::peer("Org1"), wasm.clone())).await;
    let status = refused.expect_err("a member may not deploy");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains("admin"), "{status:?}");
    let code_hash = net.admin.install(wasm).await.unwrap();
    let definition = weft_proto::v1::ContractDefinition {
        name: "kv".into(),
        version: "1".into(),
        policy: Some(policy::peer("Org1")),
        code_hash,
        init_required: false,
    };
    let define = net.client.proposal("_lifecycle", "define", vec![definition.encode_to_vec()]);
    expect(
        gateway.endorse(EndorseRequest { proposal: Some(define) }).await,
        Code::PermissionDenied,
        "admin",
    );

    // Oversized message.
    let big = net.client.proposal("basic", "ReadAsset", vec![vec![b'x'; 2 << 20]]);
    let status = gateway.evaluate(EvaluateRequest { proposal: Some(big) }).await.unwrap_err();
    assert!(matches!(status.code(), Code::OutOfRange | Code::ResourceExhausted), "{status:?}");
    assert!(status.message().contains("message length too large"), "{status:?}");

    // Malformed arguments: the contract refuses them, nothing is endorsed.
    let bad_size =
        net.client.proposal("basic", "CreateAsset", args(&["a8", "red", "big", "Al", "5"]));
    let refused = gateway.endorse(EndorseRequest { proposal: Some(bad_size) }).await;
    expect(refused, Code::Aborted, "argument 2 (size) of CreateAsset");

    // A duplicate transaction id: endorsing or submitting a committed transaction again.
    let done = net
        .client
        .submit("basic", "CreateAsset", args(&["a7", "red", "1", "Al", "5"]))
        .await
        .unwrap();
    assert_eq!(done.status.code(), TxValidationCode::Valid);
    let after_valid = (net.node.ledger().chain_info(), net.node.ledger().state_hash().unwrap());
    let record = net
        .client
        .ledger
        .clone()
        .get_transaction(GetTransactionRequest { tx_id: done.tx_id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let again = SubmitRequest { envelope: record.envelope };
    expect(gateway.submit_and_wait(again).await, Code::AlreadyExists, &done.tx_id);
    // What a client that resubmitted after an unknown outcome asks next.
    let status = net.client.commit_status(&done.tx_id).await.unwrap();
    assert_eq!(status.code(), TxValidationCode::Valid);
    let tx = weft_proto::v1::Transaction::decode(
        net.client
            .ledger
            .clone()
            .get_transaction(GetTransactionRequest {
                tx_id: done.tx_id.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .envelope
            .unwrap()
            .payload
            .as_slice(),
    )
    .unwrap();
    // The original signed proposal, replayed.
    let replay = weft_proto::v1::SignedProposal {
        signature: net.client.identity().sign(&tx.proposal),
        proposal: tx.proposal,
        transient: vec![],
    };
    expect(
        gateway.endorse(EndorseRequest { proposal: Some(replay) }).await,
        Code::AlreadyExists,
        &done.tx_id,
    );

    // Nothing changed but the one valid transaction.
    assert_eq!(before.height + 1, after_valid.0.height);
    assert_ne!(state, after_valid.1);
    assert_eq!(net.node.ledger().chain_info(), after_valid.0);
    assert_eq!(net.node.ledger().state_hash().unwrap(), after_valid.1);
    net.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_lets_work_in_flight_finish() {
    let net = TestNet::start(|_| {}).await;
    net.deploy_asset_transfer().await;
    let mut gateway = net.client.gateway.clone();
    // Endorsed on version 1, submitted after the upgrade commits.
    let proposal = net.client.proposal("basic", "TransferAsset", args(&["asset2", "Di"]));
    let endorsed =
        gateway.endorse(EndorseRequest { proposal: Some(proposal) }).await.unwrap().into_inner();

    let wasm = std::fs::read(weft_contract_artifacts::ASSET_TRANSFER).unwrap();
    let same = net
        .admin
        .deploy(Deploy::new("basic", "1", policy::peer("Org1"), wasm.clone()).upgrade())
        .await;
    let status = same.expect_err("the same version again is refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("new version"), "{status:?}");
    let upgraded =
        net.admin.deploy(Deploy::new("basic", "2", policy::peer("Org1"), wasm).upgrade()).await;
    assert_eq!(upgraded.unwrap().definition.status.code(), TxValidationCode::Valid);

    let envelope = net.client.sign_transaction(endorsed.prepared_transaction);
    let late = gateway.submit_and_wait(SubmitRequest { envelope: Some(envelope) }).await.unwrap();
    assert_eq!(late.into_inner().code(), TxValidationCode::Valid);
    let listed =
        net.admin.admin.clone().list_contracts(ListContractsRequest::default()).await.unwrap();
    assert_eq!(listed.into_inner().contracts[0].version, "2");
    // New endorsements run on version 2.
    let now = net.client.submit("basic", "ReadAsset", args(&["asset2"])).await.unwrap();
    let record = net
        .client
        .ledger
        .clone()
        .get_transaction(GetTransactionRequest { tx_id: now.tx_id, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let tx =
        weft_proto::v1::Transaction::decode(record.envelope.unwrap().payload.as_slice()).unwrap();
    let payload =
        weft_proto::v1::ProposalResponsePayload::decode(tx.response_payload.as_slice()).unwrap();
    assert_eq!(payload.contract_version, "2");
    net.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_tls() {
    let net = TestNet::start_with(weft_node::devnet::Transport::Tls, |_| {}).await;
    net.deploy_asset_transfer().await;
    let read = net.client.evaluate("basic", "ReadAsset", args(&["asset1"])).await.unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&read.payload).unwrap()["Owner"],
        "Tomoko"
    );
    // A plaintext client gets nowhere.
    let url = format!("http://{}", net.node.local_addr());
    let plain = weft_client::Client::connect(&url, net.net.identity("client").unwrap()).await;
    assert!(plain.is_err());
    // Nor does a client that does not trust the dev CA.
    let url = format!("https://{}", net.node.local_addr());
    let stranger =
        weft_node::config::NodeConfig::load(&net.net.config_path()).unwrap().tls.unwrap();
    let wrong_ca = std::fs::read(stranger.cert).unwrap(); // the leaf, not the CA
    let untrusted = weft_client::Client::connect_tls(
        &url,
        &weft_client::TlsOptions::new(wrong_ca, "localhost"),
        net.net.identity("client").unwrap(),
    )
    .await;
    assert!(untrusted.is_err());
    net.node.shutdown().await.unwrap();
}

/// Every request names its channel: empty means the node's only channel, the channel's own
/// name works the same, and a channel the node has not joined is NOT_FOUND, naming it, for
/// requests and proposals alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_name_their_channel() {
    let net = TestNet::start(|_| {}).await;
    let done = net.deploy_asset_transfer().await;
    let served = net.client.channel().to_string();
    let health = net.client.admin.clone().health(weft_proto::v1::HealthRequest {}).await;
    assert_eq!(health.unwrap().into_inner().channels, vec![served.clone()]);
    for channel in ["", served.as_str()] {
        let request = GetTransactionRequest { tx_id: done.tx_id.clone(), channel: channel.into() };
        assert!(net.client.ledger.clone().get_transaction(request).await.is_ok(), "{channel:?}");
        let request = ListContractsRequest { channel: channel.into() };
        let listed = net.admin.admin.clone().list_contracts(request).await.unwrap().into_inner();
        assert_eq!(listed.contracts.len(), 1, "{channel:?}");
    }

    let elsewhere = net.client.clone().on_channel("other");
    let expect_not_joined = |status: tonic::Status| {
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
        assert!(status.message().contains("has not joined channel \"other\""), "{status:?}");
    };
    let request = GetTransactionRequest { tx_id: done.tx_id.clone(), channel: "other".into() };
    expect_not_joined(net.client.ledger.clone().get_transaction(request).await.unwrap_err());
    let request = CommitStatusRequest { tx_id: done.tx_id.clone(), channel: "other".into() };
    expect_not_joined(net.client.gateway.clone().commit_status(request).await.unwrap_err());
    let request = ListContractsRequest { channel: "other".into() };
    expect_not_joined(net.client.admin.clone().list_contracts(request).await.unwrap_err());
    expect_not_joined(elsewhere.verify_chain().await.unwrap_err());
    // A proposal for another channel is refused before any contract runs.
    let refused = elsewhere.evaluate("basic", "ReadAsset", args(&["asset1"])).await.unwrap_err();
    assert!(refused.message().contains("\"other\""), "{refused:?}");
}
