//! The node-wide request limit (`grpc.max_concurrent_requests`) through the real server:
//! requests beyond it, each on its own connection (so the per-connection limit never
//! fires), are refused at once with `RESOURCE_EXHAUSTED` and a message saying the node is
//! overloaded, change nothing, and leave the node healthy; open streams hold no place.

use std::time::Duration;

use tonic::Code;
use tonic::transport::{Channel, Endpoint};
use weft_e2e::{TestNet, args};
use weft_proto::v1::admin_client::AdminClient;
use weft_proto::v1::gateway_client::GatewayClient;
use weft_proto::v1::{
    BlocksRequest, ChaincodeEventsRequest, CommitStatusRequest, EndorseRequest, HealthRequest,
    SubmitRequest, TxValidationCode,
};

/// A connection of its own to the node.
async fn connection(net: &TestNet) -> Channel {
    Endpoint::from_shared(net.url()).unwrap().connect().await.expect("connects")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_node_wide_limit_are_shed() {
    let net = TestNet::start(|c| c.grpc.max_concurrent_requests = 2).await;
    net.deploy_asset_transfer().await;

    // Two open streams, each on its own connection, hold no place: a query still runs.
    let events =
        ChaincodeEventsRequest { contract: "basic".into(), start: None, ..Default::default() };
    let mut gateway = GatewayClient::new(connection(&net).await);
    let _events = gateway.chaincode_events(events).await.unwrap().into_inner();
    let blocks = BlocksRequest { start_block: 0, filtered: true, ..Default::default() };
    let mut ledger =
        weft_proto::v1::ledger_query_client::LedgerQueryClient::new(connection(&net).await);
    let mut blocks = ledger.blocks(blocks).await.unwrap().into_inner();
    assert!(blocks.message().await.unwrap().is_some());
    net.client.evaluate("basic", "ReadAsset", args(&["asset1"])).await.unwrap();

    // Six transactions endorsed and signed, ready to submit, each on its own connection.
    let mut ready = Vec::new();
    for i in 0..6 {
        let asset = format!("asset{}", i + 1);
        let proposal = net.client.proposal("basic", "TransferAsset", args(&[&asset, "Zoe"]));
        let endorsed = net
            .client
            .gateway
            .clone()
            .endorse(EndorseRequest { proposal: Some(proposal) })
            .await
            .unwrap()
            .into_inner();
        let envelope = net.client.sign_transaction(endorsed.prepared_transaction);
        ready.push((GatewayClient::new(connection(&net).await), envelope));
    }
    let before = (net.node.ledger().chain_info(), net.node.ledger().state_hash().unwrap());

    // Two slow requests take both places: commit-status waits for transactions that never
    // come, until their deadline. One that meets the other and a probe in flight (below) is
    // shed and asks again.
    let mut holders = Vec::new();
    for i in 0..2 {
        let mut gateway = GatewayClient::new(connection(&net).await);
        holders.push(tokio::spawn(async move {
            loop {
                let mut request = tonic::Request::new(CommitStatusRequest {
                    tx_id: format!("{:064x}", i + 1),
                    ..Default::default()
                });
                request.set_timeout(Duration::from_secs(12));
                match gateway.commit_status(request).await {
                    Err(status) if status.code() == Code::ResourceExhausted => {
                        tokio::time::sleep(Duration::from_millis(5)).await
                    }
                    answer => return answer,
                }
            }
        }));
    }
    // Until a probe on yet another connection is shed, they are not both in (only they can
    // fill the second place beside the probe's).
    // (Generous deadlines: on a loaded 2-core machine connecting can take a while.)
    let mut probe = AdminClient::new(connection(&net).await);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match probe.health(HealthRequest {}).await {
            Err(status) if status.code() == Code::ResourceExhausted => break,
            _ if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(10)).await
            }
            other => panic!("the two waits never filled the node: {other:?}"),
        }
    }

    // The burst: every submission is refused at once, with a status that says why.
    let started = std::time::Instant::now();
    let burst: Vec<_> = ready
        .iter()
        .map(|(gateway, envelope)| {
            let (mut gateway, envelope) = (gateway.clone(), envelope.clone());
            tokio::spawn(async move {
                gateway.submit_and_wait(SubmitRequest { envelope: Some(envelope) }).await
            })
        })
        .collect();
    for submitted in burst {
        let status = submitted.await.unwrap().expect_err("shed");
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert!(status.message().contains("the node is overloaded"), "{status:?}");
        assert!(status.message().contains("max_concurrent_requests"), "{status:?}");
    }
    assert!(started.elapsed() < Duration::from_secs(2), "shed at once, not queued");
    assert!(net.node.metrics().requests_shed() >= 7);

    // The waits were served (and ended at their deadline), not shed.
    for holder in holders {
        let status = holder.await.unwrap().expect_err("nothing to wait for");
        assert_ne!(status.code(), Code::ResourceExhausted, "{status:?}");
    }
    // Nothing the shed requests carried reached the ledger.
    assert_eq!(net.node.ledger().chain_info(), before.0);
    assert_eq!(net.node.ledger().state_hash().unwrap(), before.1);

    // The node is healthy once the waits have let go of their places (the server ends them
    // a moment after the client gives up), and the same transactions, submitted again in
    // turn, commit: shedding left nothing behind (no half-registered transaction id).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Err(status) = probe.health(HealthRequest {}).await {
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert!(tokio::time::Instant::now() < deadline, "the node stays overloaded");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for (mut gateway, envelope) in ready {
        let request = SubmitRequest { envelope: Some(envelope) };
        let status = gateway.submit_and_wait(request).await.unwrap().into_inner();
        assert_eq!(status.code(), TxValidationCode::Valid, "{status:?}");
    }
    let read = net.client.evaluate("basic", "ReadAsset", args(&["asset6"])).await.unwrap();
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&read.payload).unwrap()["Owner"], "Zoe");
    net.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_limit_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let net = weft_node::devnet::DevNetwork::at(dir.path().join("dev"));
    let mut config = net
        .create("dev", "127.0.0.1:0".parse().unwrap(), weft_node::devnet::Transport::Plaintext)
        .unwrap();
    config.grpc.max_concurrent_requests = 0;
    let err = weft_node::Node::start(&config).await.unwrap_err().to_string();
    assert!(err.contains("grpc.max_concurrent_requests must be at least 1"), "{err}");
}
