//! Hostile input at the edges of the sandbox, through the real node: contract names and
//! versions outside Fabric's rules, modules with huge import or export names, a module built to
//! be slow to compile, and contract messages full of control characters. Each is refused (or
//! shown escaped) with a clear message, and nothing is stored.

use prost::Message;
use tonic::Code;
use weft_client::Deploy;
use weft_e2e::{TestNet, args};
use weft_proto::v1::{
    ContractDefinition, ListContractsRequest, ProposalResponsePayload, Transaction,
    TxValidationCode,
};
use weft_protocol::channel::LIFECYCLE;
use weft_protocol::names::{NAME_RULE, VERSION_RULE};
use weft_protocol::policy;

/// Files in the node's contract directory (each installed module leaves two).
fn installed(net: &TestNet) -> usize {
    let dir = net.net.dir.join(&net.config.data_dir).join("contracts");
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_names_and_versions_are_refused_at_every_entry_point() {
    let net = TestNet::start(|_| {}).await;
    let wasm = wat::parse_str(weft_contract_artifacts::PINGER_WAT).unwrap();
    let before = installed(&net);

    // Through the client (the CLI's path): refused before anything is installed.
    let long = "x".repeat(4_000);
    for name in ["../x", "a/b", ".", "a\nb", "\u{1b}[31m", "a\u{202e}b", long.as_str()] {
        let refused = net.admin.deploy(Deploy::new(name, "1", policy::peer("Org1"), wasm.clone()));
        let status = refused.await.expect_err("a bad name is refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{name:?}: {status:?}");
        assert!(status.message().contains(NAME_RULE), "{status:?}");
        assert!(!status.message().contains(['\n', '\u{1b}', '\u{202e}']), "{status:?}");
        assert!(status.message().len() < 400, "{} bytes", status.message().len());
    }
    let version = "1".repeat(100_000);
    let refused = net.admin.deploy(Deploy::new("ok", &version, policy::peer("Org1"), wasm.clone()));
    let status = refused.await.expect_err("a bad version is refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains(VERSION_RULE), "{status:?}");
    assert_eq!(installed(&net), before, "a refused deploy installs nothing");

    // A hand-made `_lifecycle` proposal (no client-side check): the node's lifecycle refuses.
    let code_hash = net.admin.install(wasm.clone()).await.unwrap();
    assert_eq!(installed(&net), before + 2, "the module and its compiled artifact");
    for (name, version, rule) in [("a/b", "1", NAME_RULE), ("ok", "1\n2", VERSION_RULE)] {
        let definition = ContractDefinition {
            name: name.into(),
            version: version.into(),
            policy: Some(policy::peer("Org1")),
            code_hash: code_hash.clone(),
            init_required: false,
        };
        let status = net
            .admin
            .submit(LIFECYCLE, "deploy", vec![definition.encode_to_vec()])
            .await
            .expect_err("the lifecycle refuses it");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains(rule), "{status:?}");
    }
    let listed =
        net.admin.admin.clone().list_contracts(ListContractsRequest::default()).await.unwrap();
    assert!(listed.into_inner().contracts.is_empty());

    // A good name and version still deploy.
    let done = net.admin.deploy(Deploy::new("ping-1_a", "1.0+b", policy::peer("Org1"), wasm)).await;
    assert_eq!(done.unwrap().definition.status.code(), TxValidationCode::Valid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modules_with_huge_names_or_costly_code_are_refused_clearly() {
    let net = TestNet::start(|_| {}).await;
    let before = installed(&net);
    let long = "n".repeat(100_000);
    let huge_export = wat::parse_str(format!(
        r#"(module (memory (export "memory") 1)
            (func (export "weft_init") (result i32) i32.const 0)
            (func (export "weft_invoke") (result i32) i32.const 0)
            (func (export "{long}")))"#
    ))
    .unwrap();
    let huge_import = wat::parse_str(format!(
        r#"(module (import "weft_v1" "{long}" (func)) (memory (export "memory") 1)
            (func (export "weft_init") (result i32) i32.const 0)
            (func (export "weft_invoke") (result i32) i32.const 0))"#
    ))
    .unwrap();
    for (wasm, rule) in [(huge_export, "may not be exported"), (huge_import, "not a host function")]
    {
        // Not "h2 protocol error": the error quotes the name cut, with its length.
        let status = net.admin.install(wasm).await.expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains(rule), "{status:?}");
        assert!(status.message().contains("… (100000 bytes)"), "{status:?}");
        assert!(status.message().len() < 300, "{} bytes", status.message().len());
    }

    // Thousands of br_if into deeply nested blocks, within every shape cap: refused by the
    // static compile-cost bound, before compiling, the same on every peer.
    let flood =
        wat::parse_str(weft_contract_artifacts::branch_flood_wat(16, 200, 3_000, 0)).unwrap();
    assert!(flood.len() > 200 << 10, "{} bytes", flood.len());
    let status = net.admin.install(flood).await.expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("compile cost"), "{status:?}");
    assert_eq!(installed(&net), before, "nothing stored");
    net.admin.install(wat::parse_str(weft_contract_artifacts::PINGER_WAT).unwrap()).await.unwrap();
    assert_eq!(installed(&net), before + 2, "the module and its compiled artifact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_messages_reach_clients_escaped() {
    let net = TestNet::start(|_| {}).await;
    let wasm = wat::parse_str(weft_contract_artifacts::CONTROL_TEXT_WAT).unwrap();
    net.admin.deploy(Deploy::new("shout", "1", policy::peer("Org1"), wasm)).await.unwrap();
    let escaped = weft_contract_artifacts::CONTROL_TEXT_ESCAPED;

    // A success response: escaped in the answer and in the endorsed payload.
    let answer = net.client.evaluate("shout", "Say", vec![]).await.unwrap();
    assert_eq!((answer.status, answer.message.as_str()), (200, escaped));
    let done = net.client.submit("shout", "Say", args(&[])).await.unwrap();
    assert_eq!(done.status.code(), TxValidationCode::Valid);
    assert_eq!(done.response.message, escaped);
    let record = net
        .client
        .ledger
        .clone()
        .get_transaction(weft_proto::v1::GetTransactionRequest {
            tx_id: done.tx_id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let tx = Transaction::decode(record.envelope.unwrap().payload.as_slice()).unwrap();
    let payload = ProposalResponsePayload::decode(tx.response_payload.as_slice()).unwrap();
    assert_eq!(payload.response.unwrap().message, escaped, "the signed message is the escaped one");

    // An error status and a panic: the status message carries the escaped text.
    let abort = weft_contract_artifacts::CONTROL_ABORT_ESCAPED;
    for (function, text) in [("Error", escaped), ("Abort", abort)] {
        for status in [
            net.client.evaluate("shout", function, vec![]).await.unwrap_err(),
            net.client.submit("shout", function, vec![]).await.unwrap_err(),
        ] {
            assert_eq!(status.code(), Code::Aborted, "{status:?}");
            assert!(status.message().contains(text), "{status:?}");
            assert!(!status.message().contains(['\n', '\u{1b}', '\u{202e}']), "{status:?}");
        }
    }
}
