//! `Gateway.SubmitStream` through the client, as an application submits many transactions:
//! every envelope is answered once, with its position; refused envelopes are answered
//! alone and the stream goes on; a client that goes away leaves what was ordered to commit.

use std::collections::BTreeMap;

use tokio_stream::StreamExt;
use tonic::Code;
use weft_e2e::{TestNet, args};
use weft_proto::v1::submit_stream_response::Outcome;
use weft_proto::v1::{Envelope, TxValidationCode};

/// Endorses `CreateAsset` of `id` and returns the signed envelope and its transaction id.
async fn create(net: &TestNet, id: &str) -> (Envelope, String) {
    let proposal =
        net.client.proposal("basic", "CreateAsset", args(&[id, "red", "1", "Ana", "10"]));
    let endorsed = net.client.endorse(proposal).await.unwrap();
    (endorsed.envelope, endorsed.tx_id)
}

/// A `SubmitStream` whose envelopes the test sends one by one: the sender and the answers.
async fn open_stream(
    net: &TestNet,
) -> (tokio::sync::mpsc::Sender<Envelope>, tonic::Streaming<weft_proto::v1::SubmitStreamResponse>) {
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    let receiver = tokio_stream::wrappers::ReceiverStream::new(receiver);
    (sender, net.client.submit_stream(receiver).await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_envelope_is_answered_once_and_refusals_do_not_end_the_stream() {
    let net = TestNet::start(|_| {}).await;
    net.deploy_asset_transfer().await;
    let before = net.node.ledger().chain_info().height;

    let mut envelopes = Vec::new();
    let mut tx_ids = Vec::new();
    for i in 0..200 {
        let (envelope, tx_id) = create(&net, &format!("streamed{i}")).await;
        envelopes.push(envelope);
        tx_ids.push(tx_id);
    }
    // Refusals among them: a signature that does not verify, bytes that do not decode, and
    // an envelope sent twice (the second is a duplicate of one in flight or committed).
    let mut forged = envelopes[7].clone();
    forged.signature[0] ^= 1;
    let garbage = Envelope { payload: b"not a transaction".to_vec(), signature: vec![0; 64] };
    let twice = envelopes[3].clone();
    let mut sent = envelopes.clone();
    sent[7] = forged;
    sent.insert(100, garbage);
    sent.push(twice);

    let answers = net.client.submit_stream(tokio_stream::iter(sent.clone())).await.unwrap();
    let answers: Vec<_> = answers.collect::<Result<Vec<_>, _>>().await.unwrap();
    assert_eq!(answers.len(), sent.len(), "one answer per envelope, then the stream ends");
    let by_index: BTreeMap<u64, Outcome> =
        answers.into_iter().map(|a| (a.index, a.outcome.expect("an outcome"))).collect();
    assert_eq!(by_index.len(), sent.len(), "each envelope answered once");

    let error = |index: u64| match &by_index[&index] {
        Outcome::Error(e) => (Code::from(e.code), e.message.clone()),
        other => panic!("envelope {index} was not refused: {other:?}"),
    };
    let (code, message) = error(7);
    assert_eq!(code, Code::Unauthenticated, "{message}");
    assert!(message.contains("signature does not verify"), "{message}");
    let (code, message) = error(100);
    assert_eq!(code, Code::InvalidArgument, "{message}");
    let (code, message) = error(sent.len() as u64 - 1);
    assert_eq!(code, Code::AlreadyExists, "{message}");
    assert!(message.contains(&tx_ids[3]), "{message}");

    // The others committed VALID, each under its own transaction id.
    let mut valid = 0;
    for (index, outcome) in &by_index {
        let Outcome::Status(status) = outcome else { continue };
        assert_eq!(status.code(), TxValidationCode::Valid, "envelope {index}");
        let position = if *index > 100 { *index as usize - 1 } else { *index as usize };
        assert_eq!(status.tx_id, tx_ids[position], "envelope {index}");
        valid += 1;
    }
    assert_eq!(valid, 199);
    let ledger = net.node.ledger();
    assert!(ledger.chain_info().height > before);
    let committed = |tx_id: &str| ledger.transaction(tx_id).unwrap().is_some();
    assert!(!committed(&tx_ids[7]), "the forged envelope was not ordered");
    assert!(tx_ids.iter().enumerate().all(|(i, id)| i == 7 || committed(id)));
    net.node.shutdown().await.unwrap();
}

/// A client that goes away while its envelope is ordered but not yet committed: the node
/// commits it all the same, and serves the next stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_leaves_ordered_transactions_to_commit() {
    // A block is cut after 2 s: the envelope waits in ordering while the client leaves.
    let net = TestNet::start(|c| c.orderer.batch_timeout_ms = 2_000).await;
    net.deploy_asset_transfer().await;
    let (envelope, tx_id) = create(&net, "left").await;
    let (sender, answers) = open_stream(&net).await;
    sender.send(envelope.clone()).await.unwrap();
    // The same envelope again, unary: ALREADY_EXISTS once the stream's copy is in flight
    // (the node reads it within milliseconds; the unary copy comes after).
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    loop {
        let again = net.client.submit_and_wait(envelope.clone()).await;
        let again = again.expect_err("the stream's copy should have been read first");
        if again.code() == Code::AlreadyExists {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(net.node.ledger().transaction(&tx_id).unwrap().is_none(), "not committed yet");
    drop((answers, sender));
    let status = net.client.commit_status(&tx_id).await.unwrap();
    assert_eq!(status.code(), TxValidationCode::Valid);

    // The node serves the next stream.
    let (envelope, tx_id) = create(&net, "next").await;
    let answers = net.client.submit_stream(tokio_stream::iter([envelope])).await.unwrap();
    let answers: Vec<_> = answers.collect::<Result<Vec<_>, _>>().await.unwrap();
    let Some(Outcome::Status(status)) = &answers[0].outcome else { panic!("{answers:?}") };
    assert_eq!((status.code(), status.tx_id.as_str()), (TxValidationCode::Valid, tx_id.as_str()));
    net.node.shutdown().await.unwrap();
}

/// A stream whose client keeps its request half open: once its envelope is answered, the
/// node's graceful shutdown does not wait for the client to end it (it ends the stream).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_left_open_does_not_hold_up_the_shutdown() {
    let net = TestNet::start(|_| {}).await;
    net.deploy_asset_transfer().await;
    let (envelope, tx_id) = create(&net, "open").await;
    let (sender, mut answers) = open_stream(&net).await;
    sender.send(envelope).await.unwrap();
    let answer = answers.next().await.expect("an answer").unwrap();
    let Some(Outcome::Status(status)) = &answer.outcome else { panic!("{answer:?}") };
    assert_eq!((status.code(), status.tx_id.as_str()), (TxValidationCode::Valid, tx_id.as_str()));
    tokio::time::timeout(std::time::Duration::from_secs(30), net.node.shutdown())
        .await
        .expect("the shutdown does not wait for the open stream")
        .unwrap();
    assert!(matches!(answers.next().await, None | Some(Err(_))), "the stream ended");
    drop(sender);
}

/// Streams count against the node-wide limit too (`grpc.max_concurrent_requests`, here 2):
/// with two envelopes of one stream in flight, a second stream's envelope waits until one
/// of them is answered, however many streams a client opens. Seen from outside: the same
/// envelope submitted unary meanwhile is admitted (had the second stream's copy gone ahead,
/// the unary one would be ALREADY_EXISTS), and the stream's copy is then the duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_share_the_node_wide_limit() {
    // Blocks are cut after 2 s: envelopes stay in flight meanwhile.
    let net = TestNet::start(|c| {
        c.grpc.max_concurrent_requests = 2;
        c.orderer.batch_timeout_ms = 2_000;
    })
    .await;
    net.deploy_asset_transfer().await;
    let mut envelopes = Vec::new();
    for id in ["limit-1", "limit-2", "limit-3"] {
        envelopes.push(create(&net, id).await);
    }
    let (first, mut first_answers) = open_stream(&net).await;
    let (second, mut second_answers) = open_stream(&net).await;
    first.send(envelopes[0].0.clone()).await.unwrap();
    first.send(envelopes[1].0.clone()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    second.send(envelopes[2].0.clone()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let unary = net.client.submit_and_wait(envelopes[2].0.clone()).await;
    let unary = unary.expect("the second stream did not read its envelope: room was full");
    assert_eq!(unary.code(), TxValidationCode::Valid);
    for _ in 0..2 {
        let answer = first_answers.next().await.expect("an answer").unwrap();
        let Some(Outcome::Status(status)) = &answer.outcome else { panic!("{answer:?}") };
        assert_eq!(status.code(), TxValidationCode::Valid);
    }
    let answer = second_answers.next().await.expect("an answer").unwrap();
    let Some(Outcome::Error(error)) = &answer.outcome else { panic!("{answer:?}") };
    assert_eq!(Code::from(error.code), Code::AlreadyExists, "{error:?}");
    drop((first, second));
    net.node.shutdown().await.unwrap();
}
