//! Queries read one committed state through the real gRPC server: while blocks commit, a
//! query sees the state after one block, never part of the next (as under the read lock a
//! Fabric peer holds around a query's simulation).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};

use weft_client::Deploy;
use weft_e2e::{TestNet, args};
use weft_proto::v1::TxValidationCode;
use weft_protocol::policy;

const MARBLES: usize = 60;
const ROUNDS: usize = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_never_sees_part_of_a_block() {
    let net = TestNet::start(|_| {}).await;
    let wasm = std::fs::read(weft_contract_artifacts::MARBLES).expect("sample built");
    net.admin.deploy(Deploy::new("marbles", "1", policy::peer("Org1"), wasm)).await.unwrap();
    for i in 0..MARBLES {
        let name = format!("m{i:03}");
        let created = net
            .client
            .submit("marbles", "initMarble", args(&[&name, "blue", "1", "owner0"]))
            .await
            .unwrap();
        assert_eq!(created.status.code(), TxValidationCode::Valid);
    }

    // The writer gives every blue marble a new owner in one transaction per round; each
    // commit rewrites all of them at once. The reader meanwhile reads them all in one query,
    // again and again, and must always find a single owner.
    let done = AtomicBool::new(false);
    let writer = async {
        for round in 1..=ROUNDS {
            let owner = format!("owner{round}");
            let moved = net
                .admin
                .submit("marbles", "transferMarblesBasedOnColor", args(&["blue", &owner]))
                .await
                .unwrap();
            assert_eq!(moved.status.code(), TxValidationCode::Valid);
        }
        done.store(true, Ordering::SeqCst);
    };
    let reader = async {
        let mut owners_seen = BTreeSet::new();
        let mut queries = 0;
        while !done.load(Ordering::SeqCst) {
            let answer = net
                .client
                .evaluate("marbles", "getMarblesByRange", args(&["m000", "m999"]))
                .await
                .unwrap();
            let records: Vec<serde_json::Value> = serde_json::from_slice(&answer.payload).unwrap();
            assert_eq!(records.len(), MARBLES);
            let owners: BTreeSet<&str> =
                records.iter().map(|r| r["Record"]["owner"].as_str().unwrap()).collect();
            assert_eq!(owners.len(), 1, "query {queries} saw part of a block: {owners:?}");
            owners_seen.extend(owners.into_iter().map(String::from));
            queries += 1;
        }
        (queries, owners_seen.len())
    };
    let ((), (queries, distinct)) = tokio::join!(writer, reader);
    // The reader ran while the state changed under it, many times.
    assert!(queries >= ROUNDS && distinct > ROUNDS / 4, "{queries} queries, {distinct} owners");
    net.node.shutdown().await.unwrap();
}
