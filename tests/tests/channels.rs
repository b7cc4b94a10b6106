//! One node, several channels, through the real gRPC server: a channel joined at run time
//! (`JoinChannel`, as `weft channel join` sends it) is its own peer. The same contract name
//! deployed from different code on two channels; state, key history, events, blocks,
//! commit status and definitions stay apart; a transaction of one channel replayed on the
//! other is invalid; requests without a channel name are refused once the node has two;
//! joined channels survive a restart; every channel's batch in flight commits at shutdown;
//! joining twice, a non-admin join, and a channel that does not list this peer are refused;
//! a single-channel node's ledger (`data_dir/ledger`) is moved into its channel's directory.

use prost::Message;
use tonic::Code;
use weft_client::{Client, Deploy};
use weft_e2e::{TestNet, args};
use weft_proto::v1::{
    ChaincodeEventsRequest, CommitStatusRequest, ContractDefinition, GetBlockRequest,
    GetChainInfoRequest, GetKeyHistoryRequest, GetTransactionRequest, HealthRequest,
    ListContractsRequest, Proposal, SubmitRequest, Transaction, TxValidationCode,
    chaincode_events_request::Start, get_block_request::By,
};
use weft_protocol::policy;

/// Deploys `wasm` as contract `name` (version 1, policy: Org1's peer) with `admin`.
async fn deploy(admin: &Client, name: &str, wasm: Vec<u8>) {
    let deployed =
        admin.deploy(Deploy::new(name, "1", policy::peer("Org1"), wasm)).await.expect("deploy");
    assert_eq!(deployed.definition.status.code(), TxValidationCode::Valid, "{deployed:?}");
}

fn kv() -> Vec<u8> {
    std::fs::read(weft_contract_artifacts::KV).expect("kv built")
}

fn pinger() -> Vec<u8> {
    wat::parse_str(weft_contract_artifacts::PINGER_WAT).expect("pinger assembles")
}

/// Writes the genesis of channel `name` (the dev network's organizations, as
/// `weft channel create` does) and joins the node to it as the network's admin.
async fn join(net: &TestNet, name: &str) {
    let path = net.net.create_channel(name).expect("weft channel create");
    let joined = net.admin.join_channel(std::fs::read(path).unwrap()).await.expect("join");
    assert_eq!((joined.channel.as_str(), joined.height), (name, 0));
}

/// The definitions of `client`'s channel.
async fn definitions(client: &Client) -> Vec<ContractDefinition> {
    let request = ListContractsRequest { channel: client.channel().into() };
    client.admin.clone().list_contracts(request).await.unwrap().into_inner().contracts
}

/// The first event of `contract` on `client`'s channel, from block 0: its name and
/// transaction.
async fn first_event(client: &Client, contract: &str) -> (String, String) {
    let request = ChaincodeEventsRequest {
        contract: contract.into(),
        start: Some(Start::StartBlock(0)),
        channel: client.channel().into(),
    };
    let mut stream = client.gateway.clone().chaincode_events(request).await.unwrap().into_inner();
    let message = stream.message().await.unwrap().expect("an event");
    let event = message.events.into_iter().next().expect("an event");
    (event.name, event.tx_id)
}

/// The height of `client`'s channel.
async fn height_of(client: &Client) -> u64 {
    let request = GetChainInfoRequest { channel: client.channel().into() };
    client.ledger.clone().get_chain_info(request).await.unwrap().into_inner().height
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_channels_keep_state_history_events_blocks_and_definitions_apart() {
    let net = TestNet::start(|_| {}).await;
    assert_eq!(net.client.channel(), "dev");
    join(&net, "sales").await;
    let health = net.client.admin.clone().health(HealthRequest {}).await.unwrap().into_inner();
    assert_eq!(health.channels, ["dev", "sales"]);
    assert_eq!(net.node.channels(), ["dev", "sales"]);

    let (dev_admin, dev) = (net.admin.clone(), net.client.clone());
    let sales_admin = net.connect_as("admin").await.on_channel("sales");
    let sales = net.connect_as("client").await.on_channel("sales");
    // A client connecting now has no default channel: the node has two.
    let fresh = net.connect_as("client").await;
    assert_eq!(fresh.channel(), "");

    // `store` is kv on dev and the pinger on sales; `kv` is kv on both.
    deploy(&dev_admin, "store", kv()).await;
    deploy(&dev_admin, "kv", kv()).await;
    deploy(&sales_admin, "store", pinger()).await;
    deploy(&sales_admin, "kv", kv()).await;
    let hash = |defs: &[ContractDefinition], name: &str| {
        defs.iter().find(|d| d.name == name).expect("defined").code_hash.clone()
    };
    let (dev_defs, sales_defs) = (definitions(&dev).await, definitions(&sales).await);
    assert_ne!(hash(&dev_defs, "store"), hash(&sales_defs, "store"));
    assert_eq!(hash(&dev_defs, "kv"), hash(&sales_defs, "kv"));

    // The same name runs each channel's own code.
    let stored = dev.submit("store", "Put", args(&["k", "dev"])).await.unwrap();
    let pinged = sales.submit("store", "Ping", vec![]).await.unwrap();
    assert_eq!(pinged.response.payload, b"hi");
    let refused = sales.evaluate("store", "Get", args(&["k"])).await;
    assert_eq!(refused.unwrap().payload, b"hi", "the pinger answers every call");

    // One key, one namespace, two channels: two values, two histories.
    let on_dev = dev.submit("kv", "Put", args(&["k", "on dev"])).await.unwrap();
    let on_sales = sales.submit("kv", "Put", args(&["k", "on sales"])).await.unwrap();
    assert_eq!(dev.evaluate("kv", "Get", args(&["k"])).await.unwrap().payload, b"on dev");
    assert_eq!(sales.evaluate("kv", "Get", args(&["k"])).await.unwrap().payload, b"on sales");
    for (client, tx) in [(&dev, &on_dev), (&sales, &on_sales)] {
        let request = GetKeyHistoryRequest {
            contract: "kv".into(),
            key: b"k".to_vec(),
            channel: client.channel().into(),
        };
        let history = client.ledger.clone().get_key_history(request).await.unwrap().into_inner();
        let ids: Vec<_> = history.modifications.iter().map(|m| m.tx_id.as_str()).collect();
        assert_eq!(ids, [tx.tx_id.as_str()], "{}", client.channel());
    }

    // Events: each channel's `store` emitted its own.
    let (dev_height, sales_height) = (height_of(&dev).await, height_of(&sales).await);
    assert_eq!(first_event(&dev, "store").await, ("Put".into(), stored.tx_id.clone()));
    assert_eq!(first_event(&sales, "store").await, ("Ping".into(), pinged.tx_id.clone()));

    // Blocks and transactions: each chain holds its own.
    let block = |client: &Client, by: By| {
        let request = GetBlockRequest { by: Some(by), channel: client.channel().into() };
        let mut ledger = client.ledger.clone();
        async move { ledger.get_block(request).await.map(|b| b.into_inner()) }
    };
    let by_hash = By::Hash(on_sales.status.block_hash.clone());
    let sales_block = block(&sales, by_hash.clone()).await.unwrap();
    assert_eq!(sales_block.header.unwrap().number, on_sales.status.block_number);
    assert_eq!(block(&dev, by_hash).await.unwrap_err().code(), Code::NotFound);
    let dev_block = block(&dev, By::Number(on_sales.status.block_number)).await.unwrap();
    let sales_block = block(&sales, By::Number(on_sales.status.block_number)).await.unwrap();
    assert_ne!(dev_block.header, sales_block.header);
    let tx_of = |client: &Client, id: &str| {
        let request = GetTransactionRequest { tx_id: id.into(), channel: client.channel().into() };
        let mut ledger = client.ledger.clone();
        async move { ledger.get_transaction(request).await.map(|t| t.into_inner()) }
    };
    assert_eq!(
        tx_of(&sales, &on_sales.tx_id).await.unwrap().block_number,
        on_sales.status.block_number
    );
    let missing = tx_of(&sales, &on_dev.tx_id).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
    assert_eq!(dev.verify_chain().await.unwrap(), dev_height);
    assert_eq!(sales.verify_chain().await.unwrap(), sales_height);

    // Commit status: a dev transaction is committed on dev, and not on sales (waited for,
    // as any id not committed yet).
    let status_on = |client: &Client, id: &str| {
        let request = CommitStatusRequest { tx_id: id.into(), channel: client.channel().into() };
        let mut gateway = client.gateway.clone();
        async move { gateway.commit_status(request).await.map(|s| s.into_inner()) }
    };
    assert_eq!(status_on(&dev, &on_dev.tx_id).await.unwrap(), on_dev.status);
    let waited = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        status_on(&sales, &on_dev.tx_id),
    );
    assert!(waited.await.is_err(), "sales answered for a dev transaction");

    // A dev transaction replayed on sales (its proposal's channel rewritten and re-signed by
    // its creator): the endorsement was for dev's proposal, so sales commits it invalid and
    // its state is unchanged.
    let endorsed = dev
        .gateway
        .clone()
        .endorse(weft_proto::v1::EndorseRequest {
            proposal: Some(dev.proposal("kv", "Put", args(&["k", "replayed"]))),
        })
        .await
        .unwrap()
        .into_inner();
    let mut tx = Transaction::decode(endorsed.prepared_transaction.as_slice()).unwrap();
    let mut proposal = Proposal::decode(tx.proposal.as_slice()).unwrap();
    proposal.channel = "sales".into();
    tx.proposal = proposal.encode_to_vec();
    let envelope = dev.sign_transaction(tx.encode_to_vec());
    let replayed = sales
        .gateway
        .clone()
        .submit_and_wait(SubmitRequest { envelope: Some(envelope) })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(replayed.code(), TxValidationCode::BadPayload, "{replayed:?}");
    // The same for a channel this node has not joined: refused at Submit, naming it.
    proposal.channel = "nowhere".into();
    tx.proposal = proposal.encode_to_vec();
    let envelope = dev.sign_transaction(tx.encode_to_vec());
    let request = SubmitRequest { envelope: Some(envelope) };
    let refused = dev.gateway.clone().submit(request).await.unwrap_err();
    assert_eq!(refused.code(), Code::NotFound, "{refused:?}");
    assert!(refused.message().contains("has not joined channel \"nowhere\""), "{refused:?}");
    assert_eq!(sales.evaluate("kv", "Get", args(&["k"])).await.unwrap().payload, b"on sales");
    // A proposal names its channel: one for a channel this node has not joined is refused.
    let nowhere = dev.clone().on_channel("nowhere");
    let refused = nowhere.evaluate("kv", "Get", args(&["k"])).await.unwrap_err();
    assert_eq!(refused.code(), Code::NotFound, "{refused:?}");
    assert!(refused.message().contains("has not joined channel \"nowhere\""), "{refused:?}");

    // No channel named, two joined: refused, listing them.
    let unnamed = fresh.evaluate("kv", "Get", args(&["k"])).await.unwrap_err();
    assert_eq!(unnamed.code(), Code::InvalidArgument, "{unnamed:?}");
    assert!(unnamed.message().contains("\"dev\", \"sales\""), "{unnamed:?}");
    let unnamed = definitions_status(&fresh).await;
    assert_eq!(unnamed.code(), Code::InvalidArgument, "{unnamed:?}");

    // A restart reopens both channels with everything in them.
    let net = net.restart().await;
    assert_eq!(net.node.channels(), ["dev", "sales"]);
    let sales = net.connect_as("client").await.on_channel("sales");
    assert_eq!(sales.evaluate("kv", "Get", args(&["k"])).await.unwrap().payload, b"on sales");
    assert_eq!(
        net.client
            .clone()
            .on_channel("dev")
            .evaluate("kv", "Get", args(&["k"]))
            .await
            .unwrap()
            .payload,
        b"on dev"
    );
    assert!(height_of(&sales).await > sales_height);
    let listed = net.client.list_channels().await.unwrap();
    let names: Vec<_> = listed.iter().map(|c| (c.channel.as_str(), c.height)).collect();
    assert_eq!(names, [("dev", dev_height), ("sales", sales_height + 1)]);
    net.node.shutdown().await.unwrap();
}

async fn definitions_status(client: &Client) -> tonic::Status {
    let request = ListContractsRequest { channel: client.channel().into() };
    client.admin.clone().list_contracts(request).await.unwrap_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_are_refused_twice_to_non_admins_and_for_channels_without_this_peer() {
    let net = TestNet::start(|_| {}).await;
    let path = net.net.create_channel("sales").expect("weft channel create");
    let genesis = std::fs::read(&path).unwrap();
    let again = net.net.create_channel("sales").unwrap_err().to_string();
    assert!(again.contains("already exists"), "{again}");
    let bad = net.net.create_channel("Sales_2").unwrap_err().to_string();
    assert!(bad.contains("bad channel name \"Sales_2\""), "{bad}");

    // A client, or Org2's peer, of the channel: not an admin.
    for who in ["client", "org2:peer"] {
        let refused = net.connect_as(who).await.join_channel(genesis.clone()).await.unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{who}: {refused:?}");
        assert!(
            refused.message().contains("joining channel \"sales\" needs an admin"),
            "{refused:?}"
        );
    }
    assert_eq!(net.node.channels(), ["dev"]);
    // Not a member of the channel at all (a key of another network).
    let stranger = weft_protocol::identity::SigningIdentity::from_seed("Org1", "stranger");
    let outsider = Client::connect(&net.url(), stranger).await.unwrap();
    let refused = outsider.join_channel(genesis.clone()).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    // A genesis of the stranger's own making, listing this node's peer and the stranger as
    // an admin of Org1: a genesis cannot vouch for its own sender, so it is refused.
    let mut forged = weft_proto::v1::ChannelConfig::decode(genesis.as_slice()).unwrap();
    forged.channel = "forged".into();
    let stranger = weft_protocol::identity::SigningIdentity::from_seed("Org1", "stranger");
    let org1 = forged.organizations.iter_mut().find(|o| o.msp_id == "Org1").unwrap();
    org1.identities.push(stranger.listed_as("stranger", weft_protocol::identity::Role::Admin));
    let refused = outsider.join_channel(forged.encode_to_vec()).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(refused.message().contains("needs an admin of this node's own"), "{refused:?}");
    assert!(!net.config.data_dir.join("channels/forged").exists());
    // A genesis whose organizations do not list this node's peer.
    let mut foreign = weft_proto::v1::ChannelConfig::decode(genesis.as_slice()).unwrap();
    foreign.channel = "foreign".into();
    foreign.organizations.retain(|o| o.msp_id == "Org2");
    let org2_admin = net.connect_as("org2:admin").await;
    let refused = org2_admin.join_channel(foreign.encode_to_vec()).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(refused.message().contains("cannot serve channel \"foreign\""), "{refused:?}");
    let mut bad_name = foreign.clone();
    bad_name.channel = "../x".into();
    let refused = org2_admin.join_channel(bad_name.encode_to_vec()).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(!net.config.data_dir.join("channels/foreign").exists());

    // Org2's admin may join the node to a channel of Org2; once.
    let joined = org2_admin.join_channel(genesis.clone()).await.unwrap();
    assert_eq!(joined.channel, "sales");
    for (what, bytes) in
        [("sales", genesis.clone()), ("dev", std::fs::read(&net.config.genesis).unwrap())]
    {
        let refused = net.admin.join_channel(bytes).await.unwrap_err();
        assert_eq!(refused.code(), Code::AlreadyExists, "{what}: {refused:?}");
        let expected = format!("this node has already joined channel \"{what}\"");
        assert!(refused.message().contains(&expected), "{refused:?}");
    }
    assert_eq!(net.node.channels(), ["dev", "sales"]);
    net.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_commits_every_channels_batch_in_flight() {
    let mut net = TestNet::start(|_| {}).await;
    join(&net, "sales").await;
    let sales_admin = net.connect_as("admin").await.on_channel("sales");
    deploy(&net.admin, "kv", kv()).await;
    deploy(&sales_admin, "kv", kv()).await;
    // Batches that would wait a minute: only the shutdown cuts them.
    net.config.orderer.batch_timeout_ms = 60_000;
    let mut net = net.restart().await;
    let mut submitted = Vec::new();
    for channel in ["dev", "sales"] {
        let client = net.connect_as("client").await.on_channel(channel);
        let proposal = client.proposal("kv", "Put", args(&["k", channel]));
        let endorsed = client
            .gateway
            .clone()
            .endorse(weft_proto::v1::EndorseRequest { proposal: Some(proposal) })
            .await
            .unwrap()
            .into_inner();
        let envelope = client.sign_transaction(endorsed.prepared_transaction);
        let request = SubmitRequest { envelope: Some(envelope) };
        client.gateway.clone().submit(request).await.unwrap();
        submitted.push((client, endorsed.tx_id));
    }
    net.config.orderer.batch_timeout_ms = 5;
    let net = net.restart().await;
    for (client, tx_id) in submitted {
        let request = GetTransactionRequest { tx_id, channel: client.channel().into() };
        let tx = net.client.ledger.clone().get_transaction(request).await.unwrap().into_inner();
        assert_eq!(tx.code(), TxValidationCode::Valid, "{}", client.channel());
        let fresh = net.connect_as("client").await.on_channel(client.channel());
        let value = fresh.evaluate("kv", "Get", args(&["k"])).await.unwrap().payload;
        assert_eq!(value, client.channel().as_bytes());
    }
    net.node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_channel_nodes_ledger_is_moved_into_its_channels_directory() {
    let net = TestNet::start(|_| {}).await;
    deploy(&net.admin, "kv", kv()).await;
    let put = net.client.submit("kv", "Put", args(&["k", "kept"])).await.unwrap();
    let height = height_of(&net.client).await;
    let TestNet { dir, net: devnet, config, node, .. } = net;
    node.shutdown().await.unwrap();
    // The layout of a node from before channels: data_dir/ledger, no channels directory.
    let channels = config.data_dir.join("channels");
    std::fs::rename(channels.join("dev/ledger"), config.data_dir.join("ledger")).unwrap();
    std::fs::remove_dir_all(&channels).unwrap();

    let node = weft_node::Node::start(&config).await.expect("starts on the old layout");
    assert!(!config.data_dir.join("ledger").exists());
    assert!(channels.join("dev/ledger").is_dir() && channels.join("dev/genesis.pb").is_file());
    let client = Client::connect(
        &format!("http://{}", node.local_addr()),
        devnet.identity("client").unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(height_of(&client).await, height);
    assert_eq!(client.evaluate("kv", "Get", args(&["k"])).await.unwrap().payload, b"kept");
    let request = CommitStatusRequest { tx_id: put.tx_id.clone(), channel: String::new() };
    let status = client.gateway.clone().commit_status(request).await.unwrap().into_inner();
    assert_eq!(status, put.status);
    node.shutdown().await.unwrap();

    // Both layouts at once claim the channel twice: refused, naming both.
    std::fs::create_dir_all(config.data_dir.join("ledger")).unwrap();
    let refused = weft_node::Node::start(&config).await.unwrap_err().to_string();
    assert!(refused.contains("both") && refused.contains("keep one"), "{refused}");
    drop(dir);
}
