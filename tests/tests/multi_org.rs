//! Peers of several organizations, one node each (the dev network's keys, a channel whose
//! genesis lists each organization's node as its peer), ordering on one etcd cluster: each node
//! endorses as its own organization only, and its gateway collects the other
//! organizations' endorsements a contract's policy needs over the peers' `Endorser`
//! service, at the endpoints the channel configuration lists.
//!
//! * An AND(Org1.peer, Org2.peer) contract, defined across both organizations (the
//!   lifecycle's majority of two), commits VALID through either organization's gateway, and
//!   both nodes reach the same state.
//! * A definition of code Org2's node has not installed is refused with Org2's peer's
//!   reason; with Org2's node stopped, the AND contract is refused naming the policy, who
//!   endorsed and why Org2 did not (unreachable); an OR contract goes on, asking nobody.
//! * A peer whose result differs makes the gateway refuse ("ProposalResponsePayloads do not
//!   match"). A definition pins the code's hash, so two nodes cannot run different code for
//!   one definition; what legitimately differs between peers is their committed state when
//!   one is behind on the chain. Org2's node reaches etcd through a proxy the test cuts (a
//!   network partition between it and the ordering service): its ledger stops at the
//!   height it had, while Org1's goes on, and the next transaction reading a key written
//!   since reads another version on each peer.
//! * Over TLS the gateway trusts the CA the channel lists for a peer (and no other), and
//!   passes over an organization's dead first peer for its next; nodes that demand client
//!   certificates admit each other's gateways.
//! * The peer-to-peer service signs only as the organization asked, with the gateway's
//!   checks; a dev node, a peer of both organizations, asks nobody.

use std::time::Duration;

use prost::Message;
use tonic::Code;
use weft_client::{Client, Deploy};
use weft_e2e::etcd::{EtcdCluster, free_port};
use weft_e2e::{TestNet, args, until};
use weft_node::Node;
use weft_node::config::{EtcdConfig, NodeConfig, OrdererKind};
use weft_node::devnet::{DevNetwork, ORGS, Transport};
use weft_proto::v1::endorser_client::EndorserClient;
use weft_proto::v1::{PeerEndpoint, ProcessProposalRequest, TxValidationCode};
use weft_protocol::decoded::DecodedTx;
use weft_protocol::policy;

/// One organization's node and its admin and client, connected to it.
struct OrgNode {
    node: Option<Node>,
    /// What it was started with (to start it again).
    config: NodeConfig,
    admin: Client,
    client: Client,
}

impl OrgNode {
    fn node(&self) -> &Node {
        self.node.as_ref().expect("the node runs")
    }

    /// Starts the node again on its directory, after it stopped.
    async fn restart(&mut self) {
        assert!(self.node.is_none(), "the node runs");
        self.node = Some(Node::start(&self.config).await.expect("the node starts again"));
    }
}

/// Two organizations, a node each, on one etcd cluster.
struct TwoOrgs {
    _dir: tempfile::TempDir,
    orgs: Vec<OrgNode>,
    /// Each node's address, as the channel configuration lists it.
    addresses: Vec<String>,
}

impl TwoOrgs {
    /// Org1's and Org2's nodes, ordering on etcd at `etcd[i]` each: the dev network's keys
    /// and genesis, with each organization's peer listed at its node's address; each node
    /// has only its own organization's peer key.
    async fn start(etcd: [Vec<String>; 2]) -> TwoOrgs {
        TwoOrgs::start_with(etcd, Transport::Plaintext, |_, own| vec![own]).await
    }

    /// [`TwoOrgs::start`], the nodes serving `transport` (the dev network's CA and server
    /// certificate, for both), each organization listing the peers `peers` makes of its
    /// name and its own node's endpoint (with the dev CA under TLS).
    async fn start_with(
        etcd: [Vec<String>; 2],
        transport: Transport,
        peers: impl Fn(&str, PeerEndpoint) -> Vec<PeerEndpoint>,
    ) -> TwoOrgs {
        TwoOrgs::start_tuned(etcd, transport, peers, |_| {}).await
    }

    /// [`TwoOrgs::start_with`], each node's configuration then tuned by `tune`.
    async fn start_tuned(
        etcd: [Vec<String>; 2],
        transport: Transport,
        peers: impl Fn(&str, PeerEndpoint) -> Vec<PeerEndpoint>,
        tune: impl Fn(&mut NodeConfig),
    ) -> TwoOrgs {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().expect("temporary directory");
        let net = DevNetwork::at(dir.path().join("net"));
        let base = net.create("dev", "127.0.0.1:0".parse().unwrap(), transport).unwrap();
        let tls = base.tls.is_some().then(|| net.tls_options().unwrap());
        let addresses: Vec<String> =
            ORGS.iter().map(|_| format!("127.0.0.1:{}", free_port())).collect();
        // `weft channel create multi --peer Org1=ADDRESS[,tls_ca=FILE] --peer Org2=...`.
        let peers: Vec<(String, PeerEndpoint)> = ORGS
            .iter()
            .zip(&addresses)
            .flat_map(|(org, address)| {
                let tls_ca = tls.as_ref().map(|t| t.ca_pem.clone()).unwrap_or_default();
                let own = PeerEndpoint { address: address.clone(), tls_ca };
                peers(org, own).into_iter().map(|p| (org.to_string(), p))
            })
            .collect();
        let genesis = net.create_channel_with_peers("multi", &peers).unwrap();
        let mut orgs = Vec::new();
        for ((org, address), endpoints) in ORGS.iter().zip(&addresses).zip(etcd) {
            let mut config: NodeConfig = base.clone();
            config.genesis = genesis.clone();
            config.listen = address.parse().unwrap();
            config.data_dir = dir.path().join(org);
            config.peer.msp_id = org.to_string();
            config.peer.key = net.key_path_of(org, "peer");
            config.peer.also_endorse_as.clear();
            config.orderer.kind = OrdererKind::Etcd;
            config.orderer.batch_timeout_ms = 5;
            config.orderer.etcd =
                Some(EtcdConfig { endpoints, lease_ttl_secs: 2, ..EtcdConfig::default() });
            tune(&mut config);
            let node = Node::start(&config).await.expect("the node starts");
            let connect = async |name: &str| {
                let identity = net.identity(&format!("{org}:{name}")).expect("key file");
                match &tls {
                    Some(tls) => {
                        Client::connect_tls(&format!("https://{address}"), tls, identity).await
                    }
                    None => Client::connect(&format!("http://{address}"), identity).await,
                }
            };
            let admin = connect("admin").await.expect("connects");
            let client = connect("client").await.expect("connects");
            orgs.push(OrgNode { node: Some(node), config, admin, client });
        }
        TwoOrgs { _dir: dir, orgs, addresses }
    }

    /// Installs the asset-transfer sample on Org2's node (its admin), then deploys it as
    /// `name` with `policy` through Org1's gateway (Org1's admin installs it there and
    /// defines it; the lifecycle's majority of two needs both organizations' peers).
    async fn deploy(&self, name: &str, policy: &str) {
        let wasm = std::fs::read(weft_contract_artifacts::ASSET_TRANSFER).expect("sample built");
        self.orgs[1].admin.install(wasm.clone()).await.expect("Org2's admin installs");
        let policy = policy::parse(policy).unwrap();
        let deployed =
            self.orgs[0].admin.deploy(Deploy::new(name, "1", policy, wasm)).await.expect("deploy");
        assert_eq!(deployed.definition.status.code(), TxValidationCode::Valid);
        self.endorsers_of(0, &deployed.definition.tx_id, &["Org1", "Org2"]);
        // Org2's node knows the definition once it committed the block too.
        self.in_step().await;
    }

    /// Creates `asset1` through node `i`'s gateway and checks it committed VALID; returns
    /// its transaction id.
    async fn create_asset1(&self, i: usize) -> String {
        let created = self.orgs[i]
            .client
            .submit("basic", "CreateAsset", args(&["asset1", "blue", "5", "Ana", "300"]))
            .await
            .unwrap_or_else(|e| panic!("asset1 created through node {i}'s gateway: {e:?}"));
        assert_eq!(created.status.code(), TxValidationCode::Valid, "{created:?}");
        created.tx_id
    }

    /// Checks that transaction `tx_id`, as committed on node `i`, carries endorsements of
    /// exactly the peers of `orgs`.
    fn endorsers_of(&self, i: usize, tx_id: &str, orgs: &[&str]) {
        let committed =
            self.orgs[i].node().ledger().transaction(tx_id).unwrap().expect("committed");
        let tx = DecodedTx::decode(&committed.envelope).unwrap();
        let mut endorsers: Vec<String> = tx
            .transaction()
            .endorsements
            .iter()
            .map(|e| e.endorser.as_ref().unwrap().msp_id.clone())
            .collect();
        endorsers.sort();
        assert_eq!(endorsers, orgs, "the endorsers of {tx_id}");
    }

    /// Waits until both nodes are at the same height and asserts they hold the same chain
    /// and state.
    async fn in_step(&self) {
        let (a, b) = (self.orgs[0].node().ledger(), self.orgs[1].node().ledger());
        until("both nodes reach the same height", || {
            a.chain_info().height == b.chain_info().height
        })
        .await;
        assert_eq!(a.chain_info(), b.chain_info());
        assert_eq!(a.state_hash().unwrap(), b.state_hash().unwrap());
    }

    /// Stops every node still running, gracefully.
    async fn stop(mut self) {
        for org in &mut self.orgs {
            if let Some(node) = org.node.take() {
                node.shutdown().await.expect("graceful shutdown");
            }
        }
    }
}

/// A TCP proxy to an etcd member that the test cuts, as a network partition would: the
/// connections through it are closed and new ones refused. It runs on a thread and runtime
/// of its own, so a node starting (which waits for etcd) does not hold it up.
struct Partition {
    url: String,
    cut: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Partition {
    /// A proxy to `url` (`http://host:port`).
    fn to(url: &str) -> Partition {
        let upstream = url.trim_start_matches("http://").to_string();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (cut, cut_off) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                // Dropped when the proxy is cut: every connection through it ends.
                let mut connections = tokio::task::JoinSet::new();
                let accept = async {
                    while let Ok((mut inbound, _)) = listener.accept().await {
                        let upstream = upstream.clone();
                        connections.spawn(async move {
                            let outbound = tokio::net::TcpStream::connect(&upstream).await;
                            if let Ok(mut outbound) = outbound {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound)
                                    .await;
                            }
                        });
                    }
                };
                tokio::select! {
                    () = accept => {}
                    _ = cut_off => {}
                }
            });
        });
        Partition { url, cut, thread }
    }

    /// Cuts every connection through the proxy and refuses new ones.
    fn cut(self) {
        let _ = self.cut.send(());
        self.thread.join().unwrap();
    }
}

/// `refused` is the gateway's ABORTED refusal, and its message says every one of `parts`.
fn aborted_saying(refused: &tonic::Status, parts: &[&str]) {
    assert_eq!(refused.code(), Code::Aborted, "{refused:?}");
    let message = refused.message();
    for part in parts {
        assert!(message.contains(part), "{part:?} not in: {message}");
    }
}

#[tokio::test]
async fn an_and_policy_contract_commits_through_either_organizations_gateway() {
    let cluster = EtcdCluster::start(1);
    let orgs = TwoOrgs::start([cluster.endpoints(), cluster.endpoints()]).await;
    orgs.deploy("basic", "AND('Org1.peer', 'Org2.peer')").await;
    orgs.in_step().await;

    // Through Org1's gateway: Org1's node endorses, Org2's is asked.
    let asked = orgs.orgs[0].node().metrics().endorsement_requests();
    assert!(asked >= 1, "the definition needed Org2's endorsement");
    let created = orgs.create_asset1(0).await;
    assert_eq!(orgs.orgs[0].node().metrics().endorsement_requests(), asked + 1);
    orgs.endorsers_of(0, &created, &["Org1", "Org2"]);
    orgs.in_step().await;
    orgs.endorsers_of(1, &created, &["Org1", "Org2"]);

    // Through Org2's gateway, by Org2's client: Org1's node is asked.
    let moved = orgs.orgs[1]
        .client
        .submit("basic", "TransferAsset", args(&["asset1", "Bo"]))
        .await
        .expect("transferred");
    assert_eq!(moved.status.code(), TxValidationCode::Valid, "{moved:?}");
    assert_eq!(orgs.orgs[1].node().metrics().endorsement_requests(), 1);
    orgs.in_step().await;
    let read = orgs.orgs[0].client.evaluate("basic", "ReadAsset", args(&["asset1"])).await.unwrap();
    assert!(String::from_utf8_lossy(&read.payload).contains("\"Bo\""), "{read:?}");
    let valid = |i: usize| orgs.orgs[i].node().metrics().transactions(TxValidationCode::Valid);
    assert_eq!(valid(0), valid(1));
    orgs.stop().await;
}

#[tokio::test]
async fn with_org2s_node_stopped_the_and_policy_is_refused_and_an_or_policy_goes_on() {
    let cluster = EtcdCluster::start(1);
    let mut orgs = TwoOrgs::start([cluster.endpoints(), cluster.endpoints()]).await;
    // A definition of code Org2's node does not have: its peer refuses, saying why.
    let kv = std::fs::read(weft_contract_artifacts::KV).expect("sample built");
    let refused = orgs.orgs[0]
        .admin
        .deploy(Deploy::new("kv", "1", policy::peer("Org1"), kv))
        .await
        .expect_err("Org2's peer has no code for it");
    aborted_saying(
        &refused,
        &[
            "defining kv version 1: too few organizations endorsed",
            "AND('Org1.peer', 'Org2.peer') of contract \"_lifecycle\"",
            &format!(
                "not by Org2: peer {} refused: FailedPrecondition: contract \"kv\"",
                orgs.addresses[1]
            ),
            "install it first",
        ],
    );
    orgs.deploy("both", "AND('Org1.peer', 'Org2.peer')").await;
    orgs.deploy("either", "OR('Org1.peer', 'Org2.peer')").await;
    orgs.in_step().await;
    orgs.orgs[1].node.take().unwrap().shutdown().await.expect("Org2's node stops");

    let asked = orgs.orgs[0].node().metrics().endorsement_requests();
    let refused = orgs.orgs[0]
        .client
        .submit("both", "CreateAsset", args(&["asset1", "blue", "5", "Ana", "300"]))
        .await
        .expect_err("Org2 cannot endorse");
    aborted_saying(
        &refused,
        &[
            "too few organizations endorsed",
            "AND('Org1.peer', 'Org2.peer')",
            "contract \"both\"",
            "endorsed by Org1 (this gateway's peer)",
            &format!("Org2: peer {} unreachable", orgs.addresses[1]),
        ],
    );
    assert_eq!(orgs.orgs[0].node().metrics().endorsement_requests(), asked + 1);

    // Org1's endorsement alone satisfies the OR policy: nobody is asked.
    let created = orgs.orgs[0]
        .client
        .submit("either", "CreateAsset", args(&["asset1", "blue", "5", "Ana", "300"]))
        .await
        .expect("created");
    assert_eq!(created.status.code(), TxValidationCode::Valid, "{created:?}");
    assert_eq!(orgs.orgs[0].node().metrics().endorsement_requests(), asked + 1);
    orgs.endorsers_of(0, &created.tx_id, &["Org1"]);
    orgs.stop().await;
}

#[tokio::test]
async fn a_peer_whose_result_differs_makes_the_gateway_refuse() {
    // Org2's node reaches etcd through a proxy only.
    let cluster = EtcdCluster::start(1);
    let endpoint = cluster.endpoints()[0].clone();
    let partition = Partition::to(&endpoint);
    let mut orgs = TwoOrgs::start([vec![endpoint], vec![partition.url.clone()]]).await;
    orgs.deploy("basic", "AND('Org1.peer', 'Org2.peer')").await;
    orgs.create_asset1(0).await;
    orgs.in_step().await;

    // Org2's node is cut off from etcd: it endorses from its state but commits no more.
    partition.cut();
    let behind = orgs.orgs[1].node().ledger().chain_info().height;
    let moved = orgs.orgs[0]
        .client
        .submit("basic", "TransferAsset", args(&["asset1", "Bo"]))
        .await
        .expect("both endorse the same result: asset1 is at the same version on both");
    assert_eq!(moved.status.code(), TxValidationCode::Valid);
    assert_eq!(orgs.orgs[1].node().ledger().chain_info().height, behind);

    // Org1's node read asset1 as Bo's, Org2's still as Ana's: the results differ.
    let refused = orgs.orgs[0]
        .client
        .submit("basic", "TransferAsset", args(&["asset1", "Cy"]))
        .await
        .expect_err("the results differ");
    aborted_saying(
        &refused,
        &[
            "ProposalResponsePayloads do not match",
            "Org2 computed another result than Org1 (this gateway's peer)",
            "Org2: its response, read/write set differ",
        ],
    );
    let read = orgs.orgs[0].client.evaluate("basic", "ReadAsset", args(&["asset1"])).await.unwrap();
    assert!(String::from_utf8_lossy(&read.payload).contains("\"Bo\""), "nothing committed");
    // Org2's node cannot reach etcd to close its orderer cleanly: it is not waited for.
    let org2 = orgs.orgs[1].node.take().unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(10), org2.shutdown()).await;
    orgs.stop().await;
}

/// A peer of Org2 that answers with the endorsement of Org2's real node, its signature
/// altered on the way: a hostile peer, or a tampered answer.
#[derive(Clone, Default)]
struct Forger {
    /// Org2's real node.
    target: std::sync::Arc<std::sync::Mutex<String>>,
    asked: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// `ProcessProposals` streams asked for (it serves none).
    streams_asked: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

#[tonic::async_trait]
impl weft_proto::v1::endorser_server::Endorser for Forger {
    async fn process_proposal(
        &self,
        request: tonic::Request<ProcessProposalRequest>,
    ) -> Result<tonic::Response<weft_proto::v1::ProposalResponse>, tonic::Status> {
        self.asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let target = format!("http://{}", self.target.lock().unwrap());
        let mut real = EndorserClient::connect(target)
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let mut answer = real.process_proposal(request.into_inner()).await?.into_inner();
        if let Some(endorsement) = answer.endorsement.as_mut() {
            endorsement.signature[0] ^= 1;
        }
        Ok(tonic::Response::new(answer))
    }

    type ProcessProposalsStream = tokio_stream::wrappers::ReceiverStream<
        Result<weft_proto::v1::ProcessProposalsResponse, tonic::Status>,
    >;

    /// Serves no stream, as a peer of an older build would not: the gateway then asks it
    /// one call at a time.
    async fn process_proposals(
        &self,
        _: tonic::Request<tonic::Streaming<ProcessProposalRequest>>,
    ) -> Result<tonic::Response<Self::ProcessProposalsStream>, tonic::Status> {
        self.streams_asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err(tonic::Status::unimplemented("no endorsement stream here"))
    }
}

/// Org2's first peer forges its endorsement signature: the gateway refuses that answer and
/// passes over to Org2's next peer, so the transaction commits VALID with a true signature
/// of Org2 (a forged one would have made it fail the endorsement policy at validation).
#[tokio::test]
async fn a_forged_endorsement_signature_is_refused_and_the_next_peer_asked() {
    let cluster = EtcdCluster::start(1);
    let forger = Forger::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let forger_address = listener.local_addr().unwrap().to_string();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(weft_proto::v1::endorser_server::EndorserServer::new(forger.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let orgs =
        TwoOrgs::start_with([cluster.endpoints(), cluster.endpoints()], Transport::Plaintext, {
            let forger = forger.clone();
            move |org, own| match org {
                "Org2" => {
                    *forger.target.lock().unwrap() = own.address.clone();
                    vec![PeerEndpoint { address: forger_address.clone(), ..own.clone() }, own]
                }
                _ => vec![own],
            }
        })
        .await;
    orgs.deploy("basic", "AND('Org1.peer', 'Org2.peer')").await;
    let created = orgs.create_asset1(0).await;
    assert!(forger.asked.load(std::sync::atomic::Ordering::SeqCst) >= 2, "deploy and create");
    // The gateway asked the forger for a stream once, then called it one proposal at a time.
    assert_eq!(forger.streams_asked.load(std::sync::atomic::Ordering::SeqCst), 1);
    orgs.endorsers_of(0, &created, &["Org1", "Org2"]);
    orgs.in_step().await;
    orgs.stop().await;
}

/// Between nodes serving TLS, the gateway trusts the CA the channel configuration lists for
/// each peer: with it, the AND contract commits, the organization's first peer (nobody
/// listens there) passed over for its second; with a CA that did not sign the peer's
/// certificate, the peer is unreachable, and says why.
#[tokio::test]
async fn over_tls_the_gateway_trusts_the_ca_the_channel_lists_and_tries_the_next_peer() {
    let cluster = EtcdCluster::start(1);
    let dead = format!("127.0.0.1:{}", free_port());
    let orgs = TwoOrgs::start_with([cluster.endpoints(), cluster.endpoints()], Transport::Tls, {
        let dead = dead.clone();
        move |org, own| match org {
            "Org2" => vec![PeerEndpoint { address: dead.clone(), ..own.clone() }, own],
            _ => vec![own],
        }
    })
    .await;
    orgs.deploy("basic", "AND('Org1.peer', 'Org2.peer')").await;
    let asked = orgs.orgs[0].node().metrics().endorsement_requests();
    let created = orgs.create_asset1(0).await;
    assert_eq!(orgs.orgs[0].node().metrics().endorsement_requests(), asked + 2, "both peers");
    orgs.endorsers_of(0, &created, &["Org1", "Org2"]);
    orgs.in_step().await;
    orgs.stop().await;

    // Another dev network's CA did not sign the nodes' certificates (a new network: a new
    // etcd cluster for its chain).
    let cluster = EtcdCluster::start(1);
    let other = tempfile::tempdir().unwrap();
    let stranger = DevNetwork::at(other.path());
    stranger.create("dev", "127.0.0.1:0".parse().unwrap(), Transport::Tls).unwrap();
    let wrong_ca = std::fs::read(stranger.tls_ca_path()).unwrap();
    let orgs = TwoOrgs::start_with([cluster.endpoints(), cluster.endpoints()], Transport::Tls, {
        move |org, own| match org {
            "Org2" => vec![PeerEndpoint { tls_ca: wrong_ca.clone(), ..own }],
            _ => vec![own],
        }
    })
    .await;
    let wasm = std::fs::read(weft_contract_artifacts::ASSET_TRANSFER).expect("sample built");
    orgs.orgs[1].admin.install(wasm.clone()).await.expect("Org2's admin installs");
    let refused = orgs.orgs[0]
        .admin
        .deploy(Deploy::new("basic", "1", policy::peer("Org1"), wasm))
        .await
        .expect_err("Org2's peer is not trusted");
    assert_eq!(refused.code(), Code::Aborted, "{refused:?}");
    let message = refused.message();
    assert!(message.contains(&format!("peer {} unreachable", orgs.addresses[1])), "{message}");
    assert!(message.to_lowercase().contains("certificate"), "{message}");
    orgs.stop().await;
}

/// Nodes that demand client certificates (mutual TLS) admit each other's gateways: a node
/// presents its own TLS certificate, signed by the CA the other trusts for clients.
#[tokio::test]
async fn between_nodes_demanding_client_certificates_each_presents_its_own() {
    let cluster = EtcdCluster::start(1);
    let endpoints = [cluster.endpoints(), cluster.endpoints()];
    let orgs = TwoOrgs::start_with(endpoints, Transport::MutualTls, |_, own| vec![own]).await;
    orgs.deploy("basic", "AND('Org1.peer', 'Org2.peer')").await;
    let created = orgs.create_asset1(1).await;
    orgs.endorsers_of(1, &created, &["Org1", "Org2"]);
    orgs.in_step().await;
    orgs.stop().await;
}

/// A dev node with the samples deployed, and a client of its Endorser service.
async fn dev_node_endorser() -> (TestNet, EndorserClient<tonic::transport::Channel>) {
    let net = TestNet::start(|_| {}).await;
    net.deploy_asset_transfer().await;
    let endpoint = tonic::transport::Endpoint::from_shared(net.url()).unwrap();
    let endorser = EndorserClient::new(endpoint.connect().await.unwrap());
    (net, endorser)
}

/// A proposal to read `asset1`, asked of the node as a peer of `msp_id`.
fn read_asset_asked_of(net: &TestNet, msp_id: &str) -> ProcessProposalRequest {
    ProcessProposalRequest {
        proposal: Some(net.client.proposal("basic", "ReadAsset", args(&["asset1"]))),
        msp_id: msp_id.into(),
    }
}

/// The peer-to-peer service on a dev node (a peer of Org1 and, through `also_endorse_as`,
/// of Org2): it signs as the organization asked for only, refuses one it is not a peer of,
/// and runs the gateway's checks; the dev node's gateway, a peer of both, asks nobody.
#[tokio::test]
async fn the_endorser_service_signs_only_as_the_organization_asked() {
    let (net, mut endorser) = dev_node_endorser().await;
    let ask = |msp_id: &str| read_asset_asked_of(&net, msp_id);
    for (asked, signer) in [("", "Org1"), ("Org1", "Org1"), ("Org2", "Org2")] {
        let response = endorser.process_proposal(ask(asked)).await.unwrap().into_inner();
        let endorsement = response.endorsement.unwrap();
        assert_eq!(endorsement.endorser.unwrap().msp_id, signer, "asked for {asked:?}");
        let payload =
            weft_proto::v1::ProposalResponsePayload::decode(response.payload.as_slice()).unwrap();
        assert_eq!(payload.response.unwrap().status, 200);
    }
    let refused = endorser.process_proposal(ask("Org3")).await.unwrap_err();
    assert_eq!(refused.code(), Code::NotFound, "{refused:?}");
    assert!(refused.message().contains("not a peer of organization \"Org3\""), "{refused:?}");
    assert!(refused.message().contains("Org1, Org2"), "{refused:?}");
    // The same checks as the gateway's: a proposal whose signature does not verify.
    let mut forged = ask("Org1");
    forged.proposal.as_mut().unwrap().signature[0] ^= 1;
    let refused = endorser.process_proposal(forged).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    let none = endorser.process_proposal(ProcessProposalRequest::default()).await.unwrap_err();
    assert_eq!(none.code(), Code::InvalidArgument, "{none:?}");
    // The dev node endorses for both organizations: its gateway never asked anyone.
    assert_eq!(net.node.metrics().endorsement_requests(), 0);
    net.node.shutdown().await.unwrap();
}

/// `ProcessProposals` on the same dev node: each proposal of the stream is answered with its
/// position, as `ProcessProposal` answers it (a refusal answers that proposal alone, the
/// stream goes on), and a stream its caller keeps open does not hold up the node's shutdown.
#[tokio::test]
async fn the_endorser_stream_answers_each_proposal_as_the_call_would() {
    use weft_proto::v1::process_proposals_response::Outcome;
    let (net, mut endorser) = dev_node_endorser().await;
    let ask = |msp_id: &str| read_asset_asked_of(&net, msp_id);
    let mut forged = ask("Org1");
    forged.proposal.as_mut().unwrap().signature[0] ^= 1;
    let (requests, outbound) = tokio::sync::mpsc::unbounded_channel();
    for request in
        [ask("Org1"), ask("Org3"), forged, ProcessProposalRequest::default(), ask("Org2")]
    {
        requests.send(request).unwrap();
    }
    let outbound = tokio_stream::wrappers::UnboundedReceiverStream::new(outbound);
    let mut answers = endorser.process_proposals(outbound).await.unwrap().into_inner();
    let mut by_position = std::collections::BTreeMap::new();
    for _ in 0..5 {
        let answer = answers.message().await.unwrap().expect("an answer per proposal");
        by_position.insert(answer.index, answer.outcome.expect("an outcome"));
    }
    let signer = |outcome: &Outcome| match outcome {
        Outcome::Response(response) => {
            response.endorsement.clone().unwrap().endorser.unwrap().msp_id
        }
        Outcome::Error(error) => panic!("refused: {error:?}"),
    };
    let refusal = |outcome: &Outcome| match outcome {
        Outcome::Error(error) => (Code::from(error.code), error.message.clone()),
        Outcome::Response(_) => panic!("endorsed"),
    };
    assert_eq!(signer(&by_position[&0]), "Org1");
    let (code, message) = refusal(&by_position[&1]);
    assert_eq!(code, Code::NotFound, "{message}");
    assert!(message.contains("not a peer of organization \"Org3\""), "{message}");
    assert_eq!(refusal(&by_position[&2]).0, Code::Unauthenticated);
    assert_eq!(refusal(&by_position[&3]).0, Code::InvalidArgument);
    assert_eq!(signer(&by_position[&4]), "Org2");
    // The request half is still open: the node stops all the same, and the stream ends.
    tokio::time::timeout(Duration::from_secs(30), net.node.shutdown())
        .await
        .expect("the shutdown does not wait for the open stream")
        .unwrap();
    assert!(matches!(answers.message().await, Ok(None) | Err(_)));
    drop(requests);
}

/// Org2's node stops while Org1's commits 30 blocks more than etcd keeps (4); started again,
/// Org2's node is further behind than etcd's window: it fetches the missing blocks from
/// Org1's node (the peer endpoint the channel lists), checks them against the chain in etcd,
/// and reaches the same chain and state.
#[tokio::test]
async fn a_node_away_longer_than_the_window_catches_up_from_the_other_node() {
    let cluster = EtcdCluster::start(1);
    let etcd = [cluster.endpoints(), cluster.endpoints()];
    let mut orgs = TwoOrgs::start_tuned(
        etcd,
        Transport::Plaintext,
        |_, own| vec![own],
        |c| {
            c.orderer.max_txs = 1;
            let etcd = c.orderer.etcd.as_mut().expect("etcd");
            etcd.window = 4;
            etcd.compact_every = 2;
        },
    )
    .await;
    orgs.deploy("basic", "OR('Org1.peer')").await;
    orgs.orgs[1].node.take().unwrap().shutdown().await.expect("Org2's node stops");
    let height = orgs.orgs[0].node().ledger().chain_info().height;
    for i in 0..30 {
        let id = format!("asset{i}");
        let done = orgs.orgs[0]
            .client
            .submit("basic", "CreateAsset", args(&[&id, "red", "1", "Ana", "10"]))
            .await
            .unwrap();
        assert_eq!(done.status.code(), TxValidationCode::Valid);
    }
    assert!(orgs.orgs[0].node().ledger().chain_info().height >= height + 30);
    orgs.orgs[1].restart().await;
    orgs.in_step().await;
    orgs.stop().await;
}
