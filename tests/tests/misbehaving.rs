//! Misbehaving contracts through the real node: an endless loop, unbounded allocation,
//! unbounded recursion, a panic and raw ABI abuse each end in a clear error for that request
//! alone. Nothing is endorsed or ordered, the ledger is unchanged, and the node keeps serving
//! other requests while the bad ones run. The node runs on its own async runtime
//! ([`weft_node::node::async_runtime`]), so contracts run inline on its workers, the path
//! `weft node start` takes.

use std::time::Instant;

use tonic::Code;
use weft_client::Deploy;
use weft_e2e::{TestNet, args};
use weft_proto::v1::TxValidationCode;
use weft_protocol::policy;

/// The wall-clock backstop, made short enough to fire before the fuel runs out: the caller is
/// told the node is overloaded and to retry (UNAVAILABLE), never INTERNAL and never a result;
/// nothing is endorsed or ordered, and the node serves the next request.
#[test]
fn a_call_stopped_by_the_wall_clock_backstop_is_unavailable_and_changes_nothing() {
    let runtime = weft_node::node::async_runtime().unwrap();
    runtime.block_on(runtime.spawn(backstop())).unwrap();
}

async fn backstop() {
    // 50 ms: far longer than any sample call, far shorter than spending a budget of fuel.
    let net = TestNet::start(|config| config.contracts.execute_timeout_ms = 50).await;
    net.deploy_asset_transfer().await;
    let wasm = std::fs::read(weft_contract_artifacts::MISBEHAVE_LOOP).expect("fixture built");
    net.admin.deploy(Deploy::new("spin", "1", policy::peer("Org1"), wasm)).await.unwrap();
    let ledger = net.node.ledger();
    let before = (ledger.chain_info(), ledger.state_hash().unwrap());
    let queried = net.client.evaluate("spin", "Spin", vec![]).await;
    let submitted = net.client.submit("spin", "Spin", vec![]).await;
    for status in [queried.expect_err("query stopped"), submitted.expect_err("not endorsed")] {
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        assert!(status.message().starts_with("node overloaded, retry"), "{status:?}");
    }
    assert_eq!((ledger.chain_info(), ledger.state_hash().unwrap()), before);
    let read = net.client.evaluate("basic", "ReadAsset", args(&["asset1"])).await.unwrap();
    assert_eq!(read.status, 200);
}

#[test]
fn misbehaving_contracts_fail_alone_and_the_node_keeps_serving() {
    let runtime = weft_node::node::async_runtime().unwrap();
    runtime.block_on(runtime.spawn(scenario())).unwrap();
}

async fn scenario() {
    let net = TestNet::start(|_| {}).await;
    net.deploy_asset_transfer().await;
    let fixtures = [
        ("spin", weft_contract_artifacts::MISBEHAVE_LOOP),
        ("hoard", weft_contract_artifacts::MISBEHAVE_ALLOC),
        ("descend", weft_contract_artifacts::MISBEHAVE_RECURSION),
        ("boom", weft_contract_artifacts::MISBEHAVE_PANIC),
        ("raw", weft_contract_artifacts::MISBEHAVE_RAW),
    ];
    for (name, path) in fixtures {
        let wasm = std::fs::read(path).expect("fixture built");
        net.admin.deploy(Deploy::new(name, "1", policy::peer("Org1"), wasm)).await.unwrap();
    }
    let ledger = net.node.ledger();
    let before = (ledger.chain_info(), ledger.state_hash().unwrap());

    // Each case, as a query and as a transaction: refused with what the contract did.
    let cases: [(&str, &str, &[&str], &[&str]); 5] = [
        ("spin", "Spin", &[], &["out of fuel"]),
        ("hoard", "Hoard", &[], &["memory limit exceeded"]),
        ("descend", "Descend", &[], &["stack limit exceeded", "trap"]),
        // It writes before it panics: as a query the write already fails it.
        ("boom", "Boom", &["7"], &["boom 7", "write during query"]),
        ("raw", "BadPointer", &[], &["abi misuse", "pointer or length out of bounds"]),
    ];
    for (contract, function, arguments, expected) in cases {
        let queried = net.client.evaluate(contract, function, args(arguments)).await;
        let submitted = net.client.submit(contract, function, args(arguments)).await;
        for status in [queried.expect_err("query fails"), submitted.expect_err("not endorsed")] {
            assert_eq!(status.code(), Code::Aborted, "{contract}: {status:?}");
            assert!(
                expected.iter().any(|text| status.message().contains(text)),
                "{contract}: {expected:?} not in {:?}",
                status.message()
            );
        }
    }
    assert_eq!((ledger.chain_info(), ledger.state_hash().unwrap()), before);

    // Two endless loops at once, each until its fuel runs out (a fraction of a second),
    // while an ordinary query is answered: it finishes first. A transaction submitted
    // meanwhile commits once the loops are done: a commit waits for the queries running
    // (each holds the state still, as under a Fabric peer's read lock), and fuel bounds them.
    let spin = |client: weft_client::Client| async move {
        let result = client.evaluate("spin", "Spin", vec![]).await;
        (result.expect_err("out of fuel").message().to_string(), Instant::now())
    };
    let loops = [tokio::spawn(spin(net.client.clone())), tokio::spawn(spin(net.admin.clone()))];
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let read = net.client.evaluate("basic", "ReadAsset", args(&["asset1"])).await.unwrap();
    assert_eq!(read.status, 200);
    let served = Instant::now();
    let moved = net.client.submit("basic", "TransferAsset", args(&["asset1", "Zoe"])).await;
    assert_eq!(moved.unwrap().status.code(), TxValidationCode::Valid);
    for spinning in loops {
        let (message, ended) = spinning.await.unwrap();
        assert!(message.contains("out of fuel"), "{message}");
        assert!(served < ended, "the node answered no query while contracts looped");
    }
    assert_eq!(net.node.ledger().chain_info().height, before.0.height + 1);
    net.node.shutdown().await.unwrap();
}
