//! Event and block streams through the real gRPC server: events of committed valid
//! transactions, resumable after a transaction; filtered and full blocks; streams end when
//! the node shuts down gracefully.

use weft_client::Deploy;
use weft_e2e::TestNet;
use weft_proto::v1::{
    BlocksRequest, ChaincodeEventsRequest, TxValidationCode, blocks_response::Kind,
    chaincode_events_request::Start,
};
use weft_protocol::policy;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_and_blocks_stream_and_resume() {
    let net = TestNet::start(|_| {}).await;
    let wasm = wat::parse_str(weft_contract_artifacts::PINGER_WAT).unwrap();
    let deployed = net
        .admin
        .deploy(Deploy::new("pinger", "1", policy::peer("Org1"), wasm))
        .await
        .unwrap()
        .definition;
    assert_eq!(deployed.status.code(), TxValidationCode::Valid);

    let mut gateway = net.client.gateway.clone();
    let request =
        ChaincodeEventsRequest { contract: "pinger".into(), start: None, ..Default::default() };
    let mut events = gateway.chaincode_events(request).await.unwrap().into_inner();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let done = net.client.submit("pinger", "Ping", vec![]).await.unwrap();
        assert_eq!(done.status.code(), TxValidationCode::Valid);
        ids.push((done.tx_id, done.status.block_number));
    }
    for (tx_id, block) in &ids {
        let message = events.message().await.unwrap().expect("an event");
        assert_eq!(message.block_number, *block);
        let event = &message.events[0];
        assert_eq!((event.name.as_str(), event.payload.as_slice()), ("Ping", &b"hi"[..]));
        assert_eq!((&event.tx_id, event.contract.as_str()), (tx_id, "pinger"));
    }

    // Resume after the first transaction: the next message is the second one's event.
    let resume = ChaincodeEventsRequest {
        contract: "pinger".into(),
        start: Some(Start::AfterTxId(ids[0].0.clone())),
        ..Default::default()
    };
    let mut resumed = gateway.chaincode_events(resume).await.unwrap().into_inner();
    let message = resumed.message().await.unwrap().unwrap();
    assert_eq!(message.events[0].tx_id, ids[1].0);
    // From block 0: both, the deploy block has none.
    let from_start = ChaincodeEventsRequest {
        contract: "pinger".into(),
        start: Some(Start::StartBlock(0)),
        ..Default::default()
    };
    let mut all = gateway.chaincode_events(from_start).await.unwrap().into_inner();
    assert_eq!(all.message().await.unwrap().unwrap().events[0].tx_id, ids[0].0);
    // After a transaction never committed: not found; after something no transaction id
    // can be: a bad request.
    for (id, code) in
        [("0".repeat(64), tonic::Code::NotFound), ("nope".into(), tonic::Code::InvalidArgument)]
    {
        let bad = ChaincodeEventsRequest {
            contract: "pinger".into(),
            start: Some(Start::AfterTxId(id)),
            ..Default::default()
        };
        let status = gateway.chaincode_events(bad).await.unwrap_err();
        assert_eq!(status.code(), code, "{status:?}");
    }

    // Blocks, filtered and full, from the start.
    let mut ledger = net.client.ledger.clone();
    let request = BlocksRequest { start_block: 0, filtered: true, ..Default::default() };
    let mut filtered = ledger.blocks(request).await.unwrap().into_inner();
    for (number, tx_id) in [(0, &deployed.tx_id), (1, &ids[0].0), (2, &ids[1].0)] {
        let Some(Kind::FilteredBlock(block)) = filtered.message().await.unwrap().unwrap().kind
        else {
            panic!("a filtered block")
        };
        assert_eq!(block.number, number);
        assert_eq!(&block.transactions[0].tx_id, tx_id);
        assert_eq!(block.transactions[0].code(), TxValidationCode::Valid);
    }
    let mut full = ledger
        .blocks(BlocksRequest { start_block: 2, filtered: false, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let Some(Kind::Block(block)) = full.message().await.unwrap().unwrap().kind else {
        panic!("a full block")
    };
    assert_eq!(block.header.unwrap().number, 2);

    // A graceful shutdown ends open streams.
    net.node.shutdown().await.unwrap();
    assert!(matches!(events.message().await, Ok(None) | Err(_)));
    assert!(matches!(filtered.message().await, Ok(None) | Err(_)));
}
