//! Contract initialization through the real gRPC server, with Fabric 2.x's semantics
//! (`--init-required` at definition, then one `--isInit` transaction per version): deploy
//! with init arguments, transactions refused before init, a second init refused, racing
//! inits conflicting at validation, an upgrade that requires a new init, and the lifecycle's
//! deploy/upgrade checks.

use prost::Message;
use tonic::Code;
use weft_client::Deploy;
use weft_e2e::{TestNet, args};
use weft_node::lifecycle::INITIALIZED_KEY;
use weft_proto::v1::{
    ContractDefinition, EndorseRequest, EvaluateRequest, GetTransactionRequest,
    ProposalResponsePayload, SubmitRequest, Transaction, TxValidationCode,
};
use weft_protocol::policy;

fn abstore() -> Vec<u8> {
    std::fs::read(weft_contract_artifacts::ABSTORE).expect("sample built")
}

fn expect_refused<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: Code, text: &str) {
    let status = result.expect_err("refused");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(status.message().contains(text), "{text:?} not in {status:?}");
}

async fn query(net: &TestNet, contract: &str, key: &str) -> String {
    let answer = net.client.evaluate(contract, "query", args(&[key])).await.unwrap();
    String::from_utf8(answer.payload).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_with_init_runs_it_once() {
    let net = TestNet::start(|_| {}).await;
    let deploy = Deploy::new("ab", "1", policy::peer("Org1"), abstore())
        .with_init("init", args(&["A", "100", "B", "200"]));
    let deployed = net.admin.deploy(deploy).await.unwrap();
    let init = deployed.init.expect("an init transaction");
    assert_eq!(init.status.code(), TxValidationCode::Valid);
    assert_eq!(query(&net, "ab", "A").await, "100");
    assert_eq!(query(&net, "ab", "B").await, "200");

    // The init's read/write set holds the initialized key beside the contract's writes,
    // sorted by key, in the contract's one namespace.
    let record = net
        .client
        .ledger
        .clone()
        .get_transaction(GetTransactionRequest { tx_id: init.tx_id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let tx = Transaction::decode(record.envelope.unwrap().payload.as_slice()).unwrap();
    let payload = ProposalResponsePayload::decode(tx.response_payload.as_slice()).unwrap();
    let rwset = payload.rwset.unwrap();
    assert_eq!(rwset.ns_rwset.len(), 1);
    let ns = &rwset.ns_rwset[0];
    assert_eq!(ns.namespace, "ab");
    assert_eq!(ns.reads.len(), 1);
    assert_eq!((ns.reads[0].key.as_slice(), ns.reads[0].version), (INITIALIZED_KEY, None));
    let writes: Vec<(&[u8], &[u8])> =
        ns.writes.iter().map(|w| (w.key.as_slice(), w.value.as_slice())).collect();
    assert_eq!(writes, [(INITIALIZED_KEY, &b"1"[..]), (b"A", b"100"), (b"B", b"200")]);
    let listed = net.node.ledger().channel().contract("ab").cloned().unwrap();
    assert!(listed.init_required);

    // Transactions run; a second init is refused and nothing is ordered.
    let moved = net.client.submit("ab", "invoke", args(&["A", "B", "10"])).await.unwrap();
    assert_eq!(moved.status.code(), TxValidationCode::Valid);
    let height = net.node.ledger().chain_info().height;
    let again = net.client.submit_signed(net.client.init_proposal(
        "ab",
        "init",
        args(&["A", "1", "B", "1"]),
    ));
    expect_refused(again.await, Code::FailedPrecondition, "already initialized");
    assert_eq!(net.node.ledger().chain_info().height, height);
    assert_eq!(query(&net, "ab", "A").await, "90");

    // A contract defined without init_required cannot be called as init.
    net.deploy_asset_transfer().await;
    let init = net.client.init_proposal("basic", "InitLedger", vec![]);
    expect_refused(
        net.client.submit_signed(init).await,
        Code::FailedPrecondition,
        "does not require initialization but called as init",
    );
    // Nor can the lifecycle.
    let height = net.node.ledger().chain_info().height;
    let lifecycle = net.admin.init_proposal("_lifecycle", "deploy", vec![vec![]]);
    expect_refused(
        net.admin.submit_signed(lifecycle).await,
        Code::FailedPrecondition,
        "_lifecycle cannot be called as init",
    );
    assert_eq!(net.node.ledger().chain_info().height, height);
    net.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_required_refuses_transactions_until_init_and_racing_inits_conflict() {
    let net = TestNet::start(|_| {}).await;
    // Defined with init_required, init not yet sent (Fabric: approve and commit with
    // --init-required, then invoke --isInit later).
    let code_hash = net.admin.install(abstore()).await.unwrap();
    let definition = ContractDefinition {
        name: "ab".into(),
        version: "1".into(),
        policy: Some(policy::peer("Org1")),
        code_hash,
        init_required: true,
    };
    let defined =
        net.admin.submit("_lifecycle", "deploy", vec![definition.encode_to_vec()]).await.unwrap();
    assert_eq!(defined.status.code(), TxValidationCode::Valid);

    let height = net.node.ledger().chain_info().height;
    let state = net.node.ledger().state_hash().unwrap();
    let early = net.client.submit("ab", "invoke", args(&["A", "B", "1"])).await;
    expect_refused(early, Code::FailedPrecondition, "has not been initialized for version \"1\"");
    assert_eq!(net.node.ledger().chain_info().height, height);
    assert_eq!(net.node.ledger().state_hash().unwrap(), state);

    // Two inits endorsed before either commits: the first valid one wins, the other reads
    // a stale initialized key.
    let mut gateway = net.client.gateway.clone();
    let mut envelopes = Vec::new();
    for amount in ["100", "7"] {
        let proposal = net.client.init_proposal("ab", "init", args(&["A", amount, "B", "200"]));
        let endorsed = gateway.endorse(EndorseRequest { proposal: Some(proposal) }).await;
        envelopes
            .push(net.client.sign_transaction(endorsed.unwrap().into_inner().prepared_transaction));
    }
    let mut codes = Vec::new();
    for envelope in envelopes {
        let done = gateway.submit_and_wait(SubmitRequest { envelope: Some(envelope) }).await;
        codes.push(done.unwrap().into_inner().code());
    }
    assert_eq!(codes, [TxValidationCode::Valid, TxValidationCode::MvccReadConflict]);
    assert_eq!(query(&net, "ab", "A").await, "100");
    let moved = net.client.submit("ab", "invoke", args(&["A", "B", "1"])).await.unwrap();
    assert_eq!(moved.status.code(), TxValidationCode::Valid);
    net.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_that_requires_init_needs_a_new_init() {
    let net = TestNet::start(|_| {}).await;
    let init = |version: &str, a: &str| {
        Deploy::new("ab", version, policy::peer("Org1"), abstore())
            .with_init("init", args(&["A", a, "B", "0"]))
    };
    net.admin.deploy(init("1", "100")).await.unwrap();

    // Deploying a defined name is refused: it names upgrade. Upgrading an undefined one is
    // refused too, and so is an upgrade to the same version. Nothing is ordered.
    let height = net.node.ledger().chain_info().height;
    expect_refused(net.admin.deploy(init("2", "1")).await, Code::InvalidArgument, "upgrade it");
    let missing = Deploy::new("nope", "1", policy::peer("Org1"), abstore()).upgrade();
    expect_refused(net.admin.deploy(missing).await, Code::InvalidArgument, "deploy it first");
    expect_refused(
        net.admin.deploy(init("1", "1").upgrade()).await,
        Code::InvalidArgument,
        "new version",
    );
    assert_eq!(net.node.ledger().chain_info().height, height);

    // Version 2 requires init: the definition commits, then transactions wait for its init.
    let upgrade = Deploy::new("ab", "2", policy::peer("Org1"), abstore())
        .with_init("init", args(&["A", "x", "B", "0"]))
        .upgrade();
    let failed = net.admin.deploy(upgrade).await;
    // The init's arguments are wrong: the definition committed, the init failed, and the
    // error names the step.
    expect_refused(failed, Code::Aborted, "initializing ab version 2 (init)");
    let early = net.client.submit("ab", "invoke", args(&["A", "B", "1"])).await;
    expect_refused(early, Code::FailedPrecondition, "not been initialized for version \"2\"");
    // Queries are refused too until the init, as on a Fabric peer; an init cannot be
    // evaluated.
    let early = net.client.evaluate("ab", "query", args(&["A"])).await;
    expect_refused(early, Code::FailedPrecondition, "not been initialized for version \"2\"");
    let mut gateway = net.admin.gateway.clone();
    let as_query = net.admin.init_proposal("ab", "init", args(&["A", "1", "B", "0"]));
    let as_query = gateway.evaluate(EvaluateRequest { proposal: Some(as_query) }).await;
    expect_refused(as_query, Code::InvalidArgument, "an init of \"ab\" is a transaction");
    let proposal = net.admin.init_proposal("ab", "init", args(&["A", "500", "B", "0"]));
    let done = net.admin.submit_signed(proposal).await.unwrap();
    assert_eq!(done.status.code(), TxValidationCode::Valid);
    assert_eq!(query(&net, "ab", "A").await, "500");
    let moved = net.client.submit("ab", "invoke", args(&["A", "B", "1"])).await.unwrap();
    assert_eq!(moved.status.code(), TxValidationCode::Valid);

    // Version 3 without init_required: transactions run at once, an init is refused.
    let plain = Deploy::new("ab", "3", policy::peer("Org1"), abstore()).upgrade();
    net.admin.deploy(plain).await.unwrap();
    let moved = net.client.submit("ab", "invoke", args(&["A", "B", "1"])).await.unwrap();
    assert_eq!(moved.status.code(), TxValidationCode::Valid);
    let late = net.admin.init_proposal("ab", "init", args(&["A", "1", "B", "1"]));
    expect_refused(
        net.admin.submit_signed(late).await,
        Code::FailedPrecondition,
        "does not require",
    );
    assert_eq!(query(&net, "ab", "A").await, "498");
    net.node.shutdown().await.unwrap();
}
