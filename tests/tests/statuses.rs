//! The status of every RPC of every service for bad requests, through the real server on
//! loopback, as a hostile client sends them: raw HTTP/2 gRPC requests whose body is built
//! here byte by byte. Pinned for each RPC: a body that does not decode, no message at all,
//! a message cut short, oversized metadata, an empty message, oversized fields (1 MiB names,
//! ids and hashes) and unknown names. No answer is `INTERNAL` or `UNKNOWN`, and every
//! message is bounded: a refusal never echoes what it quotes whole.

use std::future::poll_fn;
use std::time::Duration;

use http_body_util::Full;
use prost::Message;
use tonic::client::GrpcService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};
use weft_client::Client;
use weft_e2e::TestNet;
use weft_proto::v1::chaincode_events_request::Start;
use weft_proto::v1::get_block_request::By;
use weft_proto::v1::{
    BlocksRequest, ChaincodeEventsRequest, CommitStatusRequest, EndorseRequest, Envelope,
    EvaluateRequest, GetBlockRequest, GetChainInfoRequest, GetKeyHistoryRequest,
    GetTransactionRequest, HealthRequest, Identity, InstallRequest, JoinChannelRequest,
    ListChannelsRequest, ListContractsRequest, ProcessProposalRequest, SignedProposal,
    SubmitRequest, Timestamp, Transaction,
};
use weft_protocol::transaction::{self, ProposalSpec};

/// Every RPC of every service.
const RPCS: [&str; 17] = [
    "/weft.v1.Gateway/Evaluate",
    "/weft.v1.Gateway/Endorse",
    "/weft.v1.Gateway/Submit",
    "/weft.v1.Gateway/CommitStatus",
    "/weft.v1.Gateway/SubmitAndWait",
    "/weft.v1.Gateway/ChaincodeEvents",
    "/weft.v1.Admin/Install",
    "/weft.v1.Admin/ListContracts",
    "/weft.v1.Admin/Health",
    "/weft.v1.LedgerQuery/GetChainInfo",
    "/weft.v1.LedgerQuery/GetBlock",
    "/weft.v1.LedgerQuery/GetTransaction",
    "/weft.v1.LedgerQuery/GetKeyHistory",
    "/weft.v1.LedgerQuery/Blocks",
    "/weft.v1.Admin/JoinChannel",
    "/weft.v1.Admin/ListChannels",
    "/weft.v1.Endorser/ProcessProposal",
];

/// Longest message a refusal quoting a 1 MiB field may have.
const QUOTING_BOUND: usize = 400;

/// Longest message any answer may have: the node's bound and its "… (N bytes in all)".
const MESSAGE_BOUND: usize = weft_node::status::MAX_MESSAGE_BYTES + 40;

/// `message` as one gRPC frame: uncompressed, its length, its bytes.
fn frame(message: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0];
    bytes.extend_from_slice(&(message.len() as u32).to_be_bytes());
    bytes.extend_from_slice(message);
    bytes
}

/// Sends `body` as the request body of `path`, with `metadata` added, and returns the
/// status: the answer's (trailers-only) status, or `OK` once a successful answer starts (a
/// stream is then open).
async fn call(channel: &Channel, path: &str, body: Vec<u8>, metadata: &[(&str, &str)]) -> Status {
    let mut channel = channel.clone();
    let mut request = http::Request::builder()
        .method("POST")
        .uri(format!("http://node{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (name, value) in metadata {
        request = request.header(*name, *value);
    }
    let request =
        request.body(tonic::body::Body::new(Full::new(bytes::Bytes::from(body)))).unwrap();
    poll_fn(|cx| GrpcService::poll_ready(&mut channel, cx)).await.expect("channel ready");
    let answer = tokio::time::timeout(Duration::from_secs(20), channel.call(request))
        .await
        .unwrap_or_else(|_| panic!("{path}: no answer"));
    match answer {
        Ok(response) if response.status() != http::StatusCode::OK => {
            Status::unknown(format!("HTTP status {}", response.status()))
        }
        Ok(response) => {
            Status::from_header_map(response.headers()).unwrap_or_else(|| Status::ok(""))
        }
        // The transport failed: the status tonic's own client reports.
        Err(error) => Status::from_error(error.into()),
    }
}

/// A proposal signed by `client` with each field as given (the transaction id derived from
/// the nonce and `creator`, as a well-behaved client derives it).
fn proposal(client: &Client, creator: Identity, channel: &str, contract: &str) -> SignedProposal {
    calling(client, creator, channel, contract, "ReadAsset")
}

/// [`proposal`] calling `function`.
fn calling(
    client: &Client,
    creator: Identity,
    channel: &str,
    contract: &str,
    function: &str,
) -> SignedProposal {
    let invocation = ProposalSpec {
        channel: channel.into(),
        contract: contract.into(),
        function: function.into(),
        args: vec![b"asset1".to_vec()],
        nonce: nonce(),
        timestamp: now(),
    };
    let proposal = transaction::new_proposal(&creator, invocation);
    transaction::sign_proposal(client.identity(), &proposal, vec![])
}

/// A nonce no other proposal of this test has.
fn nonce() -> Vec<u8> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let nanos = now().nanos;
    format!("statuses-{}-{nanos}", NEXT.fetch_add(1, Ordering::Relaxed)).into_bytes()
}

fn now() -> Timestamp {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    Timestamp { seconds: now.as_secs() as i64, nanos: now.subsec_nanos() }
}

/// An envelope signed by `client` carrying `proposal` (not endorsed: admission refuses it
/// before any endorsement is looked at).
fn envelope(client: &Client, proposal: &SignedProposal) -> Envelope {
    let tx = Transaction { proposal: proposal.proposal.clone(), ..Default::default() };
    client.sign_transaction(tx.encode_to_vec())
}

/// A request of any RPC: what it is, its body, its metadata, the code it must get and a text
/// the message must hold.
type RawCase<'a> = (&'a str, Vec<u8>, &'a [(&'a str, &'a str)], Code, &'a str);

/// An install of `wasm` signed by `client`, as `weft contract deploy` signs it.
fn signed_install(client: &Client, wasm: Vec<u8>) -> InstallRequest {
    let signature = client.identity().sign(&weft_protocol::lifecycle::install_message(&wasm));
    InstallRequest { signer: Some(client.identity().identity().clone()), wasm, signature }
}

/// One row: an RPC, a request, the code it must get and a text the message must hold.
struct Row {
    path: &'static str,
    what: &'static str,
    body: Vec<u8>,
    code: Code,
    says: &'static str,
}

fn row(path: &'static str, what: &'static str, message: impl Message, code: Code) -> Row {
    Row { path, what, body: frame(&message.encode_to_vec()), code, says: "" }
}

impl Row {
    fn says(mut self, text: &'static str) -> Row {
        self.says = text;
        self
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_answers_bad_requests_with_the_documented_status() {
    let net = TestNet::start(|c| c.grpc.request_timeout_ms = 3000).await;
    let committed = net.deploy_asset_transfer().await;
    let channel = Endpoint::from_shared(net.url()).unwrap().connect().await.unwrap();
    let ledger = net.node.ledger();
    let before = (ledger.chain_info(), ledger.state_hash().unwrap());

    // The framing and metadata of any request, the same for every RPC.
    let metadata = "m".repeat(20 << 10);
    for path in RPCS {
        let cases: [RawCase<'_>; 6] = [
            (
                "an undecodable body",
                frame(&[0x0f, 0xff, 0xff]),
                &[],
                Code::InvalidArgument,
                "does not decode as weft.v1.",
            ),
            ("no message", vec![], &[], Code::InvalidArgument, "carries no message"),
            (
                "a message cut short",
                frame(&[0; 10])[..8].to_vec(),
                &[],
                Code::InvalidArgument,
                "ends inside its message: 3 of 10 bytes",
            ),
            (
                "a prefix cut short",
                vec![0, 0],
                &[],
                Code::InvalidArgument,
                "ends inside a message prefix",
            ),
            (
                "a bad compressed flag",
                [vec![9], frame(&[])[1..].to_vec()].concat(),
                &[],
                Code::InvalidArgument,
                "compressed flag 9",
            ),
            (
                "20 KiB of metadata",
                frame(&[]),
                &[("x-padding", &metadata)],
                Code::OutOfRange,
                "grpc.max_header_list_bytes",
            ),
        ];
        for (what, body, metadata, code, says) in cases {
            let status = call(&channel, path, body, metadata).await;
            assert_eq!(status.code(), code, "{path}, {what}: {status:?}");
            assert!(status.message().contains(says), "{path}, {what}: {status:?}");
        }
    }

    // Messages of each RPC: empty, with 1 MiB fields, naming what does not exist.
    let big = "x".repeat(1 << 20);
    let big_id = "a".repeat(1 << 20);
    let unknown_id = "0".repeat(64);
    let me = net.client.identity().identity().clone();
    let stranger = Identity { msp_id: big.clone(), ..me.clone() };
    let org9 = Identity { msp_id: "Org9".into(), ..me.clone() };
    let on = |channel: &str, contract: &str| proposal(&net.client, me.clone(), channel, contract);
    let dev = net.client.channel().to_owned();
    let evaluate = |p: SignedProposal| EvaluateRequest { proposal: Some(p) };
    let endorse = |p: SignedProposal| EndorseRequest { proposal: Some(p) };
    let submit = |p: SignedProposal| SubmitRequest { envelope: Some(envelope(&net.client, &p)) };
    let install = |signer: Identity| InstallRequest {
        wasm: vec![0; 16],
        signer: Some(signer),
        signature: vec![0; 64],
    };
    let events = |contract: &str, start| ChaincodeEventsRequest {
        contract: contract.into(),
        start,
        ..Default::default()
    };
    let history = |contract: &str| GetKeyHistoryRequest {
        contract: contract.into(),
        key: b"k".to_vec(),
        ..Default::default()
    };
    use Code::*;
    const EVALUATE: &str = RPCS[0];
    const ENDORSE: &str = RPCS[1];
    const SUBMIT: &str = RPCS[2];
    const COMMIT_STATUS: &str = RPCS[3];
    const SUBMIT_AND_WAIT: &str = RPCS[4];
    const EVENTS: &str = RPCS[5];
    const INSTALL: &str = RPCS[6];
    const LIST: &str = RPCS[7];
    const HEALTH: &str = RPCS[8];
    const CHAIN_INFO: &str = RPCS[9];
    const GET_BLOCK: &str = RPCS[10];
    const GET_TX: &str = RPCS[11];
    const HISTORY: &str = RPCS[12];
    const BLOCKS: &str = RPCS[13];
    const JOIN: &str = RPCS[14];
    const CHANNELS: &str = RPCS[15];
    const PROCESS: &str = RPCS[16];
    let process = |p: SignedProposal, msp_id: &str| ProcessProposalRequest {
        proposal: Some(p),
        msp_id: msp_id.into(),
    };
    let rows = vec![
        row(EVALUATE, "empty", EvaluateRequest::default(), InvalidArgument).says("no proposal"),
        row(EVALUATE, "1 MiB contract", evaluate(on(&dev, &big)), NotFound).says("1048576 bytes"),
        row(EVALUATE, "1 MiB channel", evaluate(on(&big, "basic")), NotFound).says("1048576 bytes"),
        row(
            EVALUATE,
            "1 MiB MSP id",
            evaluate(proposal(&net.client, stranger.clone(), &dev, "basic")),
            Unauthenticated,
        )
        .says("1048576 bytes"),
        // The contract itself fails on an unknown function (status 500: ABORTED), quoting
        // its name: the node bounds the whole message. A name too long for the contract's
        // response message (4 KiB) fails the contract too.
        row(
            EVALUATE,
            "2 KiB function",
            evaluate(calling(&net.client, me.clone(), &dev, "basic", &big[..2 << 10])),
            Aborted,
        )
        .says("bytes in all)"),
        row(
            EVALUATE,
            "1 MiB function",
            evaluate(calling(&net.client, me.clone(), &dev, "basic", &big)),
            Aborted,
        )
        .says("over the limit"),
        row(EVALUATE, "unknown contract", evaluate(on(&dev, "nope")), NotFound)
            .says("\"nope\" is not defined"),
        row(ENDORSE, "empty", EndorseRequest::default(), InvalidArgument).says("no proposal"),
        row(ENDORSE, "1 MiB contract", endorse(on(&dev, &big)), NotFound).says("1048576 bytes"),
        row(ENDORSE, "1 MiB channel", endorse(on(&big, "basic")), NotFound).says("1048576 bytes"),
        row(
            ENDORSE,
            "unknown org",
            endorse(proposal(&net.client, org9.clone(), &dev, "basic")),
            Unauthenticated,
        )
        .says("\"Org9\""),
        row(ENDORSE, "unknown contract", endorse(on(&dev, "nope")), NotFound)
            .says("\"nope\" is not defined"),
        row(SUBMIT, "empty", SubmitRequest::default(), InvalidArgument).says("no envelope"),
        row(
            SUBMIT,
            "undecodable payload",
            SubmitRequest {
                envelope: Some(Envelope { payload: vec![0xff; 9], signature: vec![] }),
            },
            InvalidArgument,
        )
        .says("does not decode"),
        row(SUBMIT, "1 MiB channel", submit(on(&big, "basic")), NotFound).says("1048576 bytes"),
        row(
            SUBMIT,
            "1 MiB MSP id",
            submit(proposal(&net.client, stranger.clone(), &dev, "basic")),
            Unauthenticated,
        )
        .says("1048576 bytes"),
        row(
            SUBMIT,
            "unknown org",
            submit(proposal(&net.client, org9.clone(), &dev, "basic")),
            Unauthenticated,
        )
        .says("\"Org9\""),
        row(SUBMIT_AND_WAIT, "empty", SubmitRequest::default(), InvalidArgument)
            .says("no envelope"),
        row(SUBMIT_AND_WAIT, "1 MiB channel", submit(on(&big, "basic")), NotFound)
            .says("1048576 bytes"),
        row(
            SUBMIT_AND_WAIT,
            "unknown org",
            submit(proposal(&net.client, org9.clone(), &dev, "basic")),
            Unauthenticated,
        )
        .says("\"Org9\""),
        row(COMMIT_STATUS, "empty", CommitStatusRequest::default(), InvalidArgument)
            .says("no tx_id"),
        row(
            COMMIT_STATUS,
            "1 MiB tx id",
            CommitStatusRequest { tx_id: big_id.clone(), ..Default::default() },
            InvalidArgument,
        )
        .says("1048576 bytes"),
        // As in Fabric, an id not committed yet is waited for (here until the node's
        // request_timeout_ms).
        row(
            COMMIT_STATUS,
            "unknown tx id",
            CommitStatusRequest { tx_id: unknown_id.clone(), ..Default::default() },
            Cancelled,
        )
        .says("Timeout expired"),
        row(EVENTS, "empty", ChaincodeEventsRequest::default(), InvalidArgument)
            .says("names no contract"),
        row(EVENTS, "1 MiB contract", events(&big, None), NotFound).says("1048576 bytes"),
        row(EVENTS, "unknown contract", events("nope", None), NotFound)
            .says("\"nope\" is not defined"),
        row(
            EVENTS,
            "1 MiB after_tx_id",
            events("basic", Some(Start::AfterTxId(big_id.clone()))),
            InvalidArgument,
        )
        .says("1048576 bytes"),
        row(
            EVENTS,
            "unknown after_tx_id",
            events("basic", Some(Start::AfterTxId(unknown_id.clone()))),
            NotFound,
        )
        .says("to resume after"),
        row(EVENTS, "a defined contract", events("basic", None), Ok),
        row(INSTALL, "empty", InstallRequest::default(), InvalidArgument).says("no signer"),
        row(INSTALL, "1 MiB MSP id", install(stranger.clone()), Unauthenticated)
            .says("1048576 bytes"),
        row(INSTALL, "unknown org", install(org9.clone()), Unauthenticated).says("\"Org9\""),
        row(
            INSTALL,
            "a member signing",
            signed_install(&net.client, vec![0; 16]),
            PermissionDenied,
        )
        .says("needs an admin"),
        row(
            INSTALL,
            "100 KiB of garbage",
            signed_install(&net.admin, vec![0x3d; 100 << 10]),
            InvalidArgument,
        )
        .says("not a WebAssembly module: it starts with [3d 3d 3d 3d]"),
        row(LIST, "empty", ListContractsRequest::default(), Ok),
        row(HEALTH, "empty", HealthRequest::default(), Ok),
        row(CHAIN_INFO, "empty", GetChainInfoRequest::default(), Ok),
        row(GET_BLOCK, "empty", GetBlockRequest::default(), InvalidArgument)
            .says("no block number or hash"),
        row(
            GET_BLOCK,
            "1 MiB hash",
            GetBlockRequest { by: Some(By::Hash(vec![0xab; 1 << 20])), ..Default::default() },
            InvalidArgument,
        )
        .says("1048576 bytes"),
        row(
            GET_BLOCK,
            "unknown hash",
            GetBlockRequest { by: Some(By::Hash(vec![0xab; 32])), ..Default::default() },
            NotFound,
        )
        .says("no block with hash abab"),
        row(
            GET_BLOCK,
            "unknown number",
            GetBlockRequest { by: Some(By::Number(1 << 40)), ..Default::default() },
            NotFound,
        )
        .says("no block 1099511627776"),
        row(GET_TX, "empty", GetTransactionRequest::default(), InvalidArgument).says("no tx_id"),
        row(
            GET_TX,
            "1 MiB tx id",
            GetTransactionRequest { tx_id: big_id.clone(), ..Default::default() },
            InvalidArgument,
        )
        .says("1048576 bytes"),
        row(
            GET_TX,
            "unknown tx id",
            GetTransactionRequest { tx_id: unknown_id.clone(), ..Default::default() },
            NotFound,
        )
        .says("no committed transaction"),
        row(
            GET_TX,
            "a committed tx id",
            GetTransactionRequest { tx_id: committed.tx_id.clone(), ..Default::default() },
            Ok,
        ),
        row(HISTORY, "empty", GetKeyHistoryRequest::default(), InvalidArgument)
            .says("names no contract"),
        row(HISTORY, "1 MiB contract", history(&big), NotFound).says("1048576 bytes"),
        row(HISTORY, "unknown contract", history("nope"), NotFound).says("\"nope\" is not defined"),
        row(BLOCKS, "empty", BlocksRequest::default(), Ok),
        row(JOIN, "empty", JoinChannelRequest::default(), InvalidArgument).says("no signer"),
        row(
            JOIN,
            "1 MiB of garbage",
            JoinChannelRequest {
                genesis: vec![0xff; 1 << 20],
                signer: Some(me.clone()),
                signature: vec![0; 64],
            },
            InvalidArgument,
        )
        .says("does not decode"),
        row(CHANNELS, "empty", ListChannelsRequest::default(), Ok),
        row(PROCESS, "empty", ProcessProposalRequest::default(), InvalidArgument)
            .says("no proposal"),
        row(PROCESS, "1 MiB MSP id", process(on(&dev, "basic"), &big), NotFound)
            .says("1048576 bytes"),
        row(PROCESS, "unknown contract", process(on(&dev, "nope"), ""), NotFound)
            .says("\"nope\" is not defined"),
        row(PROCESS, "1 MiB channel", process(on(&big, "basic"), ""), NotFound)
            .says("1048576 bytes"),
    ];
    for path in RPCS {
        assert!(rows.iter().any(|r| r.path == path), "no row for {path}");
    }
    for Row { path, what, body, code, says } in rows {
        let status = call(&channel, path, body, &[]).await;
        let message = status.message();
        assert_eq!(status.code(), code, "{path}, {what}: {}", &message[..message.len().min(500)]);
        assert!(message.contains(says), "{path}, {what}: {message}");
        let bound = if what.contains("function") { MESSAGE_BOUND } else { QUOTING_BOUND };
        assert!(message.len() <= bound, "{path}, {what}: {} bytes", message.len());
    }

    // A message over grpc.max_message_bytes, and a method no service has.
    let huge = frame(&vec![0; (net.config.grpc.max_message_bytes + 1) as usize]);
    let status = call(&channel, HEALTH, huge, &[]).await;
    assert_eq!(status.code(), OutOfRange, "{status:?}");
    let status = call(&channel, "/weft.v1.Gateway/Nope", frame(&[]), &[]).await;
    assert_eq!(status.code(), Unimplemented, "{status:?}");

    // None of it changed anything.
    assert_eq!((ledger.chain_info(), ledger.state_hash().unwrap()), before);
    net.node.shutdown().await.unwrap();
}

/// Metadata beyond what HTTP/2 itself accepts (four times `grpc.max_header_list_bytes`) is
/// refused by HTTP/2 before any gRPC code runs: what tonic's client sees then. Below that,
/// the same client gets the node's `OUT_OF_RANGE`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_beyond_the_http2_limit_is_refused_by_http2() {
    let net = TestNet::start(|_| {}).await;
    let mut admin = net.client.admin.clone();
    let health = |padding: usize| {
        let mut request = tonic::Request::new(HealthRequest {});
        request.metadata_mut().insert("x-padding", "m".repeat(padding).parse().unwrap());
        request
    };
    let status = admin.health(health(20 << 10)).await.expect_err("over the limit");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(status.message().contains("grpc.max_header_list_bytes"), "{status:?}");
    let status = admin.health(health(100 << 10)).await.expect_err("over HTTP/2's limit");
    assert_eq!(status.code(), Code::Unknown, "{status:?}");
    assert!(status.message().contains("HTTP status code 431"), "{status:?}");
    // The connection still serves other requests.
    admin.health(HealthRequest {}).await.expect("healthy");
    net.node.shutdown().await.unwrap();
}
