//! The node's services over an in-memory transport (`weft_node::memory`, tonic's duplex
//! pattern): the same server, edge layer and services as over TCP, without a socket. A
//! deploy, transactions, a query, the event and block streams, the channel routing and a
//! malformed request, then a graceful shutdown after which nobody can dial in.

use tonic::Code;
use weft_client::{Client, Deploy};
use weft_e2e::args;
use weft_node::Node;
use weft_node::devnet::{DevNetwork, Transport};
use weft_proto::v1::{
    BlocksRequest, ChaincodeEventsRequest, EvaluateRequest, GetChainInfoRequest, SignedProposal,
    TxValidationCode, blocks_response::Kind,
};
use weft_protocol::policy;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_services_answer_over_an_in_memory_transport() {
    let dir = tempfile::tempdir().unwrap();
    let net = DevNetwork::at(dir.path().join("dev"));
    let mut config =
        net.create("dev", "127.0.0.1:0".parse().unwrap(), Transport::Plaintext).unwrap();
    config.orderer.batch_timeout_ms = 5;
    let (node, connector) = Node::start_in_memory(&config).await.unwrap();
    let connect = |role: &'static str| {
        let (connector, identity) = (connector.clone(), net.identity(role).unwrap());
        async move { Client::over(connector.channel().await.unwrap(), identity).await.unwrap() }
    };
    let admin = connect("admin").await;
    let client = connect("client").await;

    let wasm = std::fs::read(weft_contract_artifacts::ASSET_TRANSFER).expect("sample built");
    let deployed = admin.deploy(Deploy::new("basic", "1", policy::peer("Org1"), wasm)).await;
    assert_eq!(deployed.unwrap().definition.status.code(), TxValidationCode::Valid);
    let pinger = wat::parse_str(weft_contract_artifacts::PINGER_WAT).unwrap();
    let deployed = admin.deploy(Deploy::new("pinger", "1", policy::peer("Org1"), pinger)).await;
    assert_eq!(deployed.unwrap().definition.status.code(), TxValidationCode::Valid);

    let created = client
        .submit("basic", "CreateAsset", args(&["asset9", "teal", "5", "Ines", "300"]))
        .await
        .unwrap();
    assert_eq!(created.status.code(), TxValidationCode::Valid);
    let read = client.evaluate("basic", "ReadAsset", args(&["asset9"])).await.unwrap();
    let asset: serde_json::Value = serde_json::from_slice(&read.payload).unwrap();
    assert_eq!(asset["Owner"], "Ines");

    // A server stream: the event of a transaction committed after the stream began.
    let request = ChaincodeEventsRequest { contract: "pinger".into(), ..Default::default() };
    let mut events = client.gateway.clone().chaincode_events(request).await.unwrap().into_inner();
    let pinged = client.submit("pinger", "Ping", vec![]).await.unwrap();
    let event = events.message().await.unwrap().expect("the ping's event");
    assert_eq!(
        (event.block_number, &event.events[0].tx_id),
        (pinged.status.block_number, &pinged.tx_id)
    );

    // The block stream from the start, filtered, up to the ping's block.
    let request = BlocksRequest { start_block: 0, filtered: true, ..Default::default() };
    let mut blocks = client.ledger.clone().blocks(request).await.unwrap().into_inner();
    let mut seen = Vec::new();
    while !seen.contains(&pinged.tx_id) {
        let Some(Kind::FilteredBlock(block)) = blocks.message().await.unwrap().unwrap().kind else {
            panic!("a filtered block was asked for");
        };
        seen.extend(block.transactions.into_iter().map(|t| t.tx_id));
    }
    assert!(seen.contains(&created.tx_id));
    let height = pinged.status.block_number + 1;
    let info = client.ledger.clone().get_chain_info(GetChainInfoRequest::default()).await;
    assert_eq!(info.unwrap().into_inner().height, height);
    assert_eq!(client.verify_chain().await.unwrap(), height);

    // The edge and the one error mapping are the same as over TCP.
    let junk = SignedProposal { proposal: b"junk".to_vec(), ..Default::default() };
    let bad = client.gateway.clone().evaluate(EvaluateRequest { proposal: Some(junk) }).await;
    assert_eq!(bad.unwrap_err().code(), Code::InvalidArgument);
    let elsewhere = client.clone().on_channel("elsewhere");
    assert_eq!(elsewhere.verify_chain().await.unwrap_err().code(), Code::NotFound);

    drop((admin, client, elsewhere, events, blocks));
    node.shutdown().await.unwrap();
    assert!(connector.channel().await.is_err(), "dialing a stopped node fails");
}
