//! The etcd orderer against real etcd processes ([`weft_e2e::etcd::EtcdCluster`]): several
//! ordering nodes on one cluster, a leader that dies, two nodes that both believe they lead,
//! deliver below etcd's window, a failed etcd member, and a node ordering on etcd.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use weft_e2e::etcd::EtcdCluster;
use weft_e2e::until;
use weft_orderer::etcd::{EtcdConfig, EtcdOrderer, EtcdOrdererConfig};
use weft_orderer::{
    BatchConfig, BlockSource, BlockStream, Error, Orderer, PeerBlockStream, PeerBlocks,
};
use weft_proto::v1::{Block, BlockMetadata};
use weft_protocol::block::{data_hash, header_hash};

/// Blocks a node holds (its ledger), in memory.
#[derive(Debug, Default)]
struct Store(Mutex<Vec<Block>>);

impl BlockSource for Store {
    fn height(&self) -> u64 {
        self.0.lock().unwrap().len() as u64
    }

    fn block(
        &self,
        number: u64,
    ) -> Result<Option<Block>, Box<dyn std::error::Error + Send + Sync>> {
        Ok(self.0.lock().unwrap().get(number as usize).cloned())
    }
}

/// Other nodes, as their Deliver serves the blocks of their ledgers (with metadata); a
/// node marked flaky stops after two blocks every second time it is asked.
#[derive(Debug, Default)]
struct Peers(
    Vec<(Arc<Store>, bool)>,
    std::sync::atomic::AtomicUsize,
    /// Answers a flaky node broke off.
    Arc<std::sync::atomic::AtomicUsize>,
);

impl Peers {
    fn of(stores: &[&Arc<Store>]) -> Peers {
        Peers(
            stores.iter().map(|s| ((*s).clone(), false)).collect(),
            Default::default(),
            Default::default(),
        )
    }

    fn flaky(mut self, peer: usize) -> Peers {
        self.0[peer].1 = true;
        self
    }
}

impl PeerBlocks for Peers {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn blocks(&self, peer: usize, from: u64) -> PeerBlockStream {
        let (store, flaky) = &self.0[peer];
        let held = store.0.lock().unwrap();
        let mut blocks: Vec<_> = held.iter().skip(from as usize).cloned().map(Ok).collect();
        let call = self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if *flaky && call % 2 == 1 {
            blocks.truncate(2);
            self.2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        Box::pin(futures_util::stream::iter(blocks))
    }
}

/// An orderer node on `cluster` for channel `ch`, cutting `max_txs` per block, tuned by
/// `tune`.
fn node(
    cluster: &EtcdCluster,
    name: &str,
    max_txs: usize,
    source: Arc<Store>,
    tune: impl FnOnce(&mut EtcdConfig),
) -> (EtcdOrderer, std::thread::JoinHandle<()>) {
    node_with_peers(cluster, name, max_txs, source, None, tune)
}

/// [`node`], asking `peers` for blocks neither etcd nor `source` holds.
fn node_with_peers(
    cluster: &EtcdCluster,
    name: &str,
    max_txs: usize,
    source: Arc<Store>,
    peers: Option<Arc<dyn PeerBlocks>>,
    tune: impl FnOnce(&mut EtcdConfig),
) -> (EtcdOrderer, std::thread::JoinHandle<()>) {
    let mut etcd =
        EtcdConfig { endpoints: cluster.endpoints(), lease_ttl_secs: 2, ..EtcdConfig::default() };
    tune(&mut etcd);
    // A batch timer that never fires in a test: blocks are cut by count (or at close).
    let batch = BatchConfig { max_txs, batch_timeout_ms: 3_600_000, ..BatchConfig::default() };
    let config = EtcdOrdererConfig {
        etcd,
        batch,
        absolute_max_bytes: 1 << 20,
        channel: "ch".into(),
        name: name.into(),
        genesis_hash: vec![1; 32],
    };
    EtcdOrderer::start(config, 0, Vec::new(), source, peers).expect("the orderer starts")
}

/// The next item of `stream`: a failure rather than a hang if none comes within a minute.
async fn next(stream: &mut BlockStream) -> Option<Result<Block, Error>> {
    tokio::time::timeout(Duration::from_secs(60), stream.next()).await.expect("no block came")
}

/// Blocks from `stream` until they hold `envelopes` envelopes in all, checked for
/// numbering from `from` and links.
async fn blocks(stream: &mut BlockStream, from: u64, envelopes: usize) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    let mut count = 0;
    while count < envelopes {
        let block = next(stream).await.expect("the stream ended").expect("a block");
        let header = block.header.clone().unwrap();
        assert_eq!(header.number, from + blocks.len() as u64);
        if let Some(previous) = blocks.last() {
            assert_eq!(
                header.previous_hash,
                header_hash(previous.header.as_ref().unwrap()).to_vec()
            );
        }
        assert_eq!(block.metadata, Some(BlockMetadata::default()));
        count += block.data.as_ref().unwrap().envelopes.len();
        blocks.push(block);
    }
    assert_eq!(count, envelopes, "more envelopes than broadcast");
    blocks
}

/// The envelopes of `blocks`, in order.
fn envelopes(blocks: &[Block]) -> Vec<Vec<u8>> {
    blocks.iter().flat_map(|b| b.data.as_ref().unwrap().envelopes.clone()).collect()
}

/// Each of `sent` exactly once in `blocks`.
fn exactly_once(blocks: &[Block], sent: &[Vec<u8>]) {
    let got = envelopes(blocks);
    let unique: BTreeSet<_> = got.iter().collect();
    assert_eq!(unique.len(), got.len(), "an envelope ordered twice: {got:?}");
    assert_eq!(unique, sent.iter().collect::<BTreeSet<_>>(), "lost or foreign envelopes");
}

/// An etcd client of the test itself, to act as the cluster's operator would.
async fn operator(cluster: &EtcdCluster) -> etcd_client::Client {
    etcd_client::Client::connect(cluster.endpoints(), None).await.unwrap()
}

/// Revokes the lease of the elected leader's candidacy, as its crash (or a partition longer
/// than the lease) would end it.
async fn revoke_leader_lease(cluster: &EtcdCluster, channel: &str) {
    let mut client = operator(cluster).await;
    let leader = client.leader(format!("/weft/{channel}/leader")).await.unwrap();
    let lease = leader.kv().expect("a leader").lease();
    client.lease_revoke(lease).await.unwrap();
}

#[tokio::test]
async fn two_ordering_nodes_order_broadcasts_from_both_into_one_chain() {
    let cluster = EtcdCluster::start(1);
    let (a, a_thread) = node(&cluster, "a", 3, Arc::default(), |_| {});
    let (b, b_thread) = node(&cluster, "b", 3, Arc::default(), |_| {});
    let (mut from_a, mut from_b) = (a.deliver(0), b.deliver(0));
    let sent: Vec<Vec<u8>> = (0..9u8).map(|i| vec![i; 10]).collect();
    for (i, envelope) in sent.iter().enumerate() {
        let orderer = if i % 2 == 0 { &a } else { &b };
        orderer.broadcast(envelope.clone()).await.expect("acknowledged");
    }
    let chain = blocks(&mut from_a, 0, sent.len()).await;
    assert_eq!(chain.len(), 3, "three envelopes a block");
    exactly_once(&chain, &sent);
    assert_eq!(blocks(&mut from_b, 0, sent.len()).await, chain, "both nodes deliver one chain");
    // One of them leads.
    until("exactly one leads", || a.is_leader() != b.is_leader()).await;
    // Closing ends the streams after the chain's height.
    drop(a);
    assert!(next(&mut from_a).await.is_none());
    a_thread.join().unwrap();
    b.close();
    assert!(next(&mut from_b).await.is_none());
    b_thread.join().unwrap();
}

#[tokio::test]
async fn a_dead_leader_is_replaced_without_losing_an_acknowledged_envelope() {
    let cluster = EtcdCluster::start(1);
    // Leaders here change only when the test says so (a revoked lease, a closed node): a
    // lease long enough that a loaded machine's stall cannot end one first, which would
    // hand "last" below to c instead of b's last block.
    let long_lease = |e: &mut EtcdConfig| e.lease_ttl_secs = 10;
    let (a, a_thread) = node(&cluster, "a", 3, Arc::default(), long_lease);
    until("a leads", || a.is_leader()).await;
    let (b, b_thread) = node(&cluster, "b", 3, Arc::default(), long_lease);
    let mut stream = b.deliver(0);
    // Two envelopes acknowledged, held by the leader's cutter (a block takes three).
    let sent: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 4]).collect();
    a.broadcast(sent[0].clone()).await.unwrap();
    b.broadcast(sent[1].clone()).await.unwrap();
    // The leader dies (its lease ends): b takes over.
    revoke_leader_lease(&cluster, "ch").await;
    until("b leads, a does not", || b.is_leader() && !a.is_leader()).await;
    // The third envelope completes a block with the two the dead leader held.
    b.broadcast(sent[2].clone()).await.unwrap();
    let first = blocks(&mut stream, 0, 3).await;
    assert_eq!(first.len(), 1);
    exactly_once(&first, &sent[..3]);
    // Dropping the old leader's orderer changes nothing; b goes on.
    drop(a);
    a_thread.join().unwrap();
    for envelope in &sent[3..] {
        b.broadcast(envelope.clone()).await.unwrap();
    }
    let second = blocks(&mut stream, 1, 3).await;
    assert_eq!(
        second[0].header.as_ref().unwrap().previous_hash,
        header_hash(first[0].header.as_ref().unwrap()).to_vec()
    );
    exactly_once(&[first, second].concat(), &sent);
    // A leader that closes cuts what it holds into a last block.
    let (c, c_thread) = node(&cluster, "c", 3, Arc::default(), long_lease);
    b.broadcast(b"last".to_vec()).await.unwrap();
    drop(b);
    let last = blocks(&mut stream, 2, 1).await;
    assert_eq!(envelopes(&last), [b"last".to_vec()]);
    assert!(next(&mut stream).await.is_none(), "b's stream ends after the last block");
    b_thread.join().unwrap();
    // c took over and goes on from there.
    until("c leads", || c.is_leader()).await;
    let mut from_c = c.deliver(3);
    for i in 0..3u8 {
        c.broadcast(vec![b'c', i]).await.unwrap();
    }
    assert_eq!(blocks(&mut from_c, 3, 3).await.len(), 1);
    drop(c);
    c_thread.join().unwrap();
}

/// Broadcasts made at once through one node are written together under one pending key (a
/// group commit); blocks of two split the group, and the chain tip records how much of it is
/// ordered. The leader dies with the group's last envelope in its cutter: the next leader
/// orders exactly the rest, nothing twice, nothing lost.
#[tokio::test]
async fn a_group_of_broadcasts_split_by_blocks_is_ordered_exactly_once_across_leaders() {
    let cluster = EtcdCluster::start(1);
    let (a, a_thread) = node(&cluster, "a", 2, Arc::default(), |_| {});
    until("a leads", || a.is_leader()).await;
    let (b, b_thread) = node(&cluster, "b", 2, Arc::default(), |_| {});
    let mut stream = b.deliver(0);
    // Nine at once through b: the first is written alone, the others wait for that write
    // and go together.
    let sent: Vec<Vec<u8>> = (0..9u8).map(|i| vec![b'g', i]).collect();
    let writes = sent.iter().map(|envelope| b.broadcast(envelope.clone()));
    for written in futures_util::future::join_all(writes).await {
        written.expect("acknowledged");
    }
    let first = blocks(&mut stream, 0, 8).await;
    assert_eq!(first.len(), 4, "blocks of two");
    // The ninth waits in a's cutter (a block takes two): the tip is inside its group, which
    // holds more than one envelope.
    let mut client = operator(&cluster).await;
    let tip = client.get("/weft/ch/chain", None).await.unwrap().kvs()[0].value().to_vec();
    let taken = u32::from_be_bytes(tip[16..20].try_into().unwrap());
    assert_ne!(taken, u32::MAX, "the chain tip records a group taken in part");
    revoke_leader_lease(&cluster, "ch").await;
    until("b leads, a does not", || b.is_leader() && !a.is_leader()).await;
    b.broadcast(b"after".to_vec()).await.unwrap();
    let second = blocks(&mut stream, 4, 2).await;
    let chain = [first, second].concat();
    exactly_once(&chain, &[sent, vec![b"after".to_vec()]].concat());
    // Every group is in blocks: no pending key is left.
    until_no_pending(&mut client).await;
    drop((a, b));
    a_thread.join().unwrap();
    b_thread.join().unwrap();
}

/// Waits (up to a minute) until no pending key is left in channel `ch`.
async fn until_no_pending(client: &mut etcd_client::Client) {
    let options = || Some(etcd_client::GetOptions::new().with_prefix().with_count_only());
    for _ in 0..600 {
        if client.get("/weft/ch/pending/", options()).await.unwrap().count() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("pending keys are left after every envelope was ordered");
}

#[tokio::test]
async fn two_nodes_that_both_believe_they_lead_never_fork_the_chain() {
    let cluster = EtcdCluster::start(1);
    // a renews its lease every 20 s: revoked, it goes on believing it leads until then.
    let (a, a_thread) = node(&cluster, "a", 1, Arc::default(), |c| c.lease_ttl_secs = 60);
    until("a leads", || a.is_leader()).await;
    let (b, b_thread) = node(&cluster, "b", 1, Arc::default(), |_| {});
    revoke_leader_lease(&cluster, "ch").await;
    until("b leads", || b.is_leader()).await;
    assert!(a.is_leader(), "a should not have noticed yet");
    // Both cut every envelope into a block and race to append it, in rounds of envelopes
    // broadcast through each in turn, until one of them has lost an append (how soon
    // depends on the machine's timing: usually in the first round).
    let mut sent: Vec<Vec<u8>> = Vec::new();
    for round in 0..20u8 {
        for i in 0..8u8 {
            let orderer = if i % 2 == 0 { &a } else { &b };
            let envelope = vec![round, i, 3];
            orderer.broadcast(envelope.clone()).await.unwrap();
            sent.push(envelope);
        }
        if a.lost_appends() + b.lost_appends() >= 1 {
            break;
        }
    }
    let chain = blocks(&mut a.deliver(0), 0, sent.len()).await;
    exactly_once(&chain, &sent);
    assert_eq!(blocks(&mut b.deliver(0), 0, sent.len()).await, chain);
    assert!(
        a.lost_appends() + b.lost_appends() >= 1,
        "both led, so one of them lost the compare-and-swap of an append"
    );
    drop((a, b));
    a_thread.join().unwrap();
    b_thread.join().unwrap();
}

/// Node a on `cluster`, keeping 3 blocks in etcd, orders 8 envelopes into 8 blocks and
/// commits the first 6 to its ledger (with its metadata); etcd then holds blocks 5..8 only.
/// Returns the node, its thread, its ledger and the chain as cut.
async fn eight_blocks_six_committed(
    cluster: &EtcdCluster,
) -> (EtcdOrderer, std::thread::JoinHandle<()>, Arc<Store>, Vec<Block>) {
    let ledger = Arc::new(Store::default());
    let (a, a_thread) = node(cluster, "a", 1, ledger.clone(), |c| c.window = 3);
    let mut committer = a.deliver(0);
    for i in 0..8u8 {
        a.broadcast(vec![i]).await.unwrap();
    }
    let chain = blocks(&mut committer, 0, 8).await;
    ledger.0.lock().unwrap().extend(chain[..6].iter().cloned().map(|mut b| {
        b.metadata = Some(BlockMetadata { commit_hash: vec![7; 32], ..Default::default() });
        b
    }));
    (a, a_thread, ledger, chain)
}

#[tokio::test]
async fn deliver_from_any_height_and_below_the_window_from_the_ledger() {
    let cluster = EtcdCluster::start(1);
    let (a, a_thread, _ledger, chain) = eight_blocks_six_committed(&cluster).await;
    // etcd holds the last three blocks only.
    let mut client = operator(&cluster).await;
    let held = client
        .get(
            "/weft/ch/blocks/",
            Some(etcd_client::GetOptions::new().with_prefix().with_keys_only()),
        )
        .await
        .unwrap();
    let held: Vec<String> = held.kvs().iter().map(|kv| kv.key_str().unwrap().to_string()).collect();
    assert_eq!(held.len(), 3, "{held:?}");
    assert!(held[0].ends_with("00000000000000000005"), "{held:?}");
    // From 0 and from 2: the ledger's blocks (as cut, without its metadata), then etcd's.
    assert_eq!(blocks(&mut a.deliver(0), 0, 8).await, chain);
    assert_eq!(blocks(&mut a.deliver(2), 2, 6).await, chain[2..]);
    assert_eq!(blocks(&mut a.deliver(8), 8, 0).await, []);
    // Beyond the tip: an error naming both heights.
    match next(&mut a.deliver(9)).await {
        Some(Err(Error::BeyondTip { from: 9, height: 8 })) => {}
        other => panic!("{other:?}"),
    }
    // A node whose ledger lacks blocks below the window: a clear error.
    let (b, b_thread) = node(&cluster, "b", 1, Arc::default(), |c| c.window = 3);
    let mut stream = b.deliver(1);
    match next(&mut stream).await {
        Some(Err(e @ Error::Pruned { number: 1, first: 5 })) => {
            assert!(e.to_string().contains("cannot catch up"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert!(next(&mut stream).await.is_none());
    drop((a, b));
    a_thread.join().unwrap();
    b_thread.join().unwrap();
}

/// `chain` with block `at`'s envelopes replaced, rehashed and relinked: a consistent chain
/// of its own, which is not the one etcd's blocks link to.
fn forged(chain: &[Block], at: usize) -> Vec<Block> {
    let mut forged = chain.to_vec();
    forged[at].data.as_mut().unwrap().envelopes = vec![b"forged".to_vec()];
    for i in at..forged.len() {
        let previous = if i == 0 {
            Vec::new()
        } else {
            header_hash(forged[i - 1].header.as_ref().unwrap()).to_vec()
        };
        let data = data_hash(forged[i].data.as_ref().unwrap()).to_vec();
        let header = forged[i].header.as_mut().unwrap();
        header.previous_hash = previous;
        header.data_hash = data;
    }
    forged
}

#[tokio::test]
async fn a_node_behind_the_window_fetches_blocks_from_another_node_and_believes_only_the_chain() {
    let cluster = EtcdCluster::start(1);
    let (a, a_thread, ledger, chain) = eight_blocks_six_committed(&cluster).await;

    // Node c's ledger is empty. The nodes it may ask: one that holds nothing, one whose
    // chain was forged from block 2 on (consistent in itself), node a behind a connection
    // that breaks after two blocks of its second answer (c's own ledger, which its committer
    // would fill, stays empty here: the link from the last block fetched is kept), and
    // node a.
    let liar = Arc::new(Store(Mutex::new(forged(&ledger.0.lock().unwrap(), 2))));
    let empty = Arc::default();
    let peers = Peers::of(&[&empty, &liar, &ledger, &ledger]).flaky(2);
    let broken_off = peers.2.clone();
    let (c, c_thread) =
        node_with_peers(&cluster, "c", 1, Arc::default(), Some(Arc::new(peers)), |c| c.window = 3);
    // It gets the chain itself: blocks 0..5 from node a (as cut), then etcd's; the broken
    // answer was one of the ways there.
    assert_eq!(blocks(&mut c.deliver(0), 0, 8).await, chain);
    assert_eq!(broken_off.load(std::sync::atomic::Ordering::SeqCst), 1);
    // And from a height it holds the block before (the link is checked from there).
    let d_ledger = Arc::new(Store(Mutex::new(chain[..2].to_vec())));
    let peers = Peers::of(&[&liar, &ledger]);
    let (d, d_thread) =
        node_with_peers(&cluster, "d", 1, d_ledger, Some(Arc::new(peers)), |c| c.window = 3);
    assert_eq!(blocks(&mut d.deliver(0), 0, 8).await, chain);

    // With only the forger to ask, nothing is delivered (it keeps asking), never a forged
    // block.
    let (e, e_thread) = node_with_peers(
        &cluster,
        "e",
        1,
        Arc::default(),
        Some(Arc::new(Peers::of(&[&liar]))),
        |c| c.window = 3,
    );
    let mut stream = e.deliver(0);
    let first = tokio::time::timeout(Duration::from_secs(3), stream.next()).await;
    assert!(first.is_err(), "a block came from the forger: {first:?}");
    drop((stream, a, c, d, e));
    for thread in [a_thread, c_thread, d_thread, e_thread] {
        thread.join().unwrap();
    }
}

#[tokio::test]
async fn ordering_goes_on_when_an_etcd_member_dies() {
    let mut cluster = EtcdCluster::start(3);
    let (a, a_thread) = node(&cluster, "a", 1, Arc::default(), |_| {});
    let (b, b_thread) = node(&cluster, "b", 1, Arc::default(), |_| {});
    let mut stream = b.deliver(0);
    a.broadcast(b"before".to_vec()).await.unwrap();
    blocks(&mut stream, 0, 1).await;
    cluster.kill(0);
    // Broadcasts retry on the living members until acknowledged or out of time.
    let mut sent = vec![b"before".to_vec()];
    for i in 0..4u8 {
        let envelope = vec![b'x', i];
        let orderer = if i % 2 == 0 { &a } else { &b };
        let mut tries = 0;
        while let Err(e) = orderer.broadcast(envelope.clone()).await {
            tries += 1;
            assert!(tries < 10, "broadcast keeps failing with one member of three dead: {e}");
            assert!(matches!(e, Error::Unavailable(_)), "{e}");
        }
        sent.push(envelope);
    }
    let mut chain = blocks(&mut b.deliver(0), 0, sent.len()).await;
    exactly_once(&chain, &sent);
    chain.drain(..1);
    assert_eq!(blocks(&mut stream, 1, sent.len() - 1).await, chain);
    drop((a, b));
    a_thread.join().unwrap();
    b_thread.join().unwrap();
}

#[tokio::test]
async fn settings_that_cannot_work_and_an_unreachable_cluster_are_refused_at_start() {
    let config = |endpoints: Vec<String>, max_request_bytes| EtcdOrdererConfig {
        etcd: EtcdConfig { endpoints, max_request_bytes, timeout_ms: 500, ..EtcdConfig::default() },
        batch: BatchConfig::default(),
        absolute_max_bytes: 1 << 20,
        channel: "ch".into(),
        name: "a".into(),
        genesis_hash: vec![1; 32],
    };
    let start =
        |c| EtcdOrderer::start(c, 0, Vec::new(), Arc::new(Store::default()), None).map(|_| ());
    // Nobody listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = start(config(vec![format!("http://127.0.0.1:{port}")], 3 << 19)).unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err}");
    assert!(err.to_string().contains(&format!("127.0.0.1:{port}")), "{err}");
    let err = start(config(Vec::new(), 3 << 19)).unwrap_err();
    assert!(err.to_string().contains("endpoints"), "{err}");
    let err = start(config(vec!["http://127.0.0.1:1".into()], 2048)).unwrap_err();
    assert!(err.to_string().contains("max_request_bytes"), "{err}");
    // An envelope larger than one etcd request is refused at broadcast.
    let cluster = EtcdCluster::start(1);
    let (a, a_thread) = node(&cluster, "a", 1, Arc::default(), |c| c.max_request_bytes = 256 << 10);
    match a.broadcast(vec![0; 300 << 10]).await {
        Err(Error::TooLarge { size, max }) => assert!(size == 300 << 10 && max < 256 << 10),
        other => panic!("{other:?}"),
    }
    drop(a);
    a_thread.join().unwrap();
}

/// Two nodes of one network order on one etcd cluster: transactions submitted to the first
/// commit on both, to byte-identical state; a node that joins late catches up from deliver;
/// a restarted node goes on from its ledger.
#[tokio::test]
async fn nodes_with_orderer_kind_etcd_commit_the_same_chain() {
    use weft_e2e::{TestNet, args};
    use weft_node::config::OrdererKind;
    use weft_proto::v1::TxValidationCode;

    let cluster = EtcdCluster::start(1);
    let etcd = EtcdConfig { endpoints: cluster.endpoints(), ..EtcdConfig::default() };
    let net = TestNet::start(|c| {
        c.orderer.kind = OrdererKind::Etcd;
        c.orderer.etcd = Some(etcd.clone());
    })
    .await;
    // A second node of the same channel, with a ledger of its own, on the same cluster.
    let mut second = net.config.clone();
    second.data_dir = net.dir.path().join("second");
    let other = weft_node::Node::start(&second).await.expect("the second node starts");

    net.deploy_asset_transfer().await;
    let created = net
        .client
        .submit("basic", "CreateAsset", args(&["asset7", "orange", "3", "Ana", "150"]))
        .await
        .unwrap();
    assert_eq!(created.status.code(), TxValidationCode::Valid);
    let height = net.node.ledger().chain_info().height;
    let ledger = other.ledger();
    until("the second node commits every block", || ledger.chain_info().height == height).await;
    assert_eq!(ledger.chain_info(), net.node.ledger().chain_info());
    assert_eq!(ledger.state_hash().unwrap(), net.node.ledger().state_hash().unwrap());
    other.shutdown().await.unwrap();

    // A node of the same channel started from another genesis configuration (the same
    // organizations, listed in another order) is refused at start.
    let mut forked = net.config.clone();
    forked.data_dir = net.dir.path().join("forked");
    let mut genesis = net.config.channel_config().unwrap();
    assert!(genesis.organizations.len() >= 2);
    genesis.organizations.reverse();
    forked.genesis = net.dir.path().join("forked-genesis.pb");
    std::fs::write(&forked.genesis, prost::Message::encode_to_vec(&genesis)).unwrap();
    let Err(err) = weft_node::Node::start(&forked).await else {
        panic!("a forked genesis started")
    };
    let err = err.to_string();
    assert!(err.contains("another genesis configuration"), "{err}");

    // A node that joins the channel late, with an empty ledger, catches up from deliver.
    let mut late = net.config.clone();
    late.data_dir = net.dir.path().join("late");
    let late = weft_node::Node::start(&late).await.expect("the late node starts");
    let ledger = late.ledger();
    until("the late node catches up", || ledger.chain_info().height == height).await;
    assert_eq!(ledger.chain_info(), net.node.ledger().chain_info());
    assert_eq!(ledger.state_hash().unwrap(), net.node.ledger().state_hash().unwrap());
    late.shutdown().await.unwrap();

    // The blocks are in etcd, under the channel's name.
    let channel = net.node.ledger().channel().name().to_string();
    let mut client = operator(&cluster).await;
    let count = client
        .get(
            format!("/weft/{channel}/blocks/"),
            Some(etcd_client::GetOptions::new().with_prefix().with_count_only()),
        )
        .await
        .unwrap()
        .count();
    assert_eq!(count as u64, height);

    // Restarted, the node follows etcd from its ledger's height.
    let net = net.restart().await;
    let moved = net.client.submit("basic", "TransferAsset", args(&["asset7", "Bo"])).await.unwrap();
    assert_eq!(moved.status.code(), TxValidationCode::Valid);
    assert_eq!(moved.status.block_number, height);
    net.node.shutdown().await.unwrap();
}

/// The leader defragments every member, one after the other, every `defrag_every` blocks.
#[tokio::test]
async fn the_leader_defragments_the_members_on_schedule() {
    let cluster = EtcdCluster::start(3);
    // The window holds every block, so the stream from 0 never needs one etcd deleted.
    let (a, a_thread) = node(&cluster, "a", 1, Arc::default(), |c| {
        c.compact_every = 2;
        c.defrag_every = 4;
    });
    let mut stream = a.deliver(0);
    for i in 0..4u8 {
        a.broadcast(vec![i]).await.unwrap();
    }
    blocks(&mut stream, 0, 4).await;
    until("a round of defragmentation", || a.defragmented() == 3).await;
    // Ordering goes on after it.
    a.broadcast(vec![9]).await.unwrap();
    blocks(&mut stream, 4, 1).await;
    drop((stream, a));
    a_thread.join().unwrap();
}

/// A node started from another genesis configuration of the channel is refused: it would
/// validate the same blocks differently.
#[tokio::test]
async fn a_node_with_another_genesis_of_the_channel_is_refused() {
    let cluster = EtcdCluster::start(1);
    let (a, a_thread) = node(&cluster, "a", 1, Arc::default(), |_| {});
    let config = EtcdOrdererConfig {
        etcd: EtcdConfig { endpoints: cluster.endpoints(), ..EtcdConfig::default() },
        batch: BatchConfig::default(),
        absolute_max_bytes: 1 << 20,
        channel: "ch".into(),
        name: "b".into(),
        genesis_hash: vec![2; 32],
    };
    let err = EtcdOrderer::start(config, 0, Vec::new(), Arc::new(Store::default()), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("another genesis configuration") && err.contains("0101"), "{err}");
    drop(a);
    a_thread.join().unwrap();
}

/// With two of three etcd members down, Submit is refused with `UNAVAILABLE` naming etcd
/// (no quorum), and ordering resumes once they are back.
#[tokio::test]
async fn without_an_etcd_majority_submissions_are_unavailable_until_it_is_back() {
    use weft_e2e::{TestNet, args};
    use weft_node::config::OrdererKind;
    use weft_proto::v1::TxValidationCode;

    let mut cluster = EtcdCluster::start(3);
    let etcd =
        EtcdConfig { endpoints: cluster.endpoints(), timeout_ms: 1500, ..EtcdConfig::default() };
    let net = TestNet::start(|c| {
        c.orderer.kind = OrdererKind::Etcd;
        c.orderer.etcd = Some(etcd.clone());
    })
    .await;
    net.deploy_asset_transfer().await;
    let create = |id: &str| args(&[id, "blue", "5", "Ana", "100"]);
    let done = net.client.submit("basic", "CreateAsset", create("a1")).await.unwrap();
    assert_eq!(done.status.code(), TxValidationCode::Valid);

    cluster.kill(1);
    cluster.kill(2);
    let refused = net.client.submit("basic", "CreateAsset", create("a2")).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    // Without an answer the message says why etcd gives none; a member may also answer at
    // once that it has no leader.
    let message = refused.message();
    assert!(message.contains("ordering is unavailable: etcd"), "{message}");
    assert!(message.contains("majority of its members") || message.contains("leader"), "{message}");

    cluster.restart(1);
    cluster.restart(2);
    cluster.wait_healthy(1);
    let done = submit_through_faults(&net.client, "CreateAsset", create("a3"), "a3").await;
    assert_eq!(done.code(), TxValidationCode::Valid);
    net.node.shutdown().await.unwrap();
}

/// Submits `count` transactions from `workers` concurrent workers, worker `w` through
/// `clients[w % clients.len()]`: mostly `CreateAsset` of its own assets, and every tenth a
/// `TransferAsset` of one shared asset (so some are MVCC conflicts, invalid on every node
/// alike), each through [`submit_through_faults`]. Returns how many committed, by code.
async fn agreement_load(
    clients: &[weft_client::Client],
    workers: usize,
    count: usize,
    tag: &str,
) -> std::collections::BTreeMap<String, usize> {
    use weft_e2e::args;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..workers {
        let client = clients[w % clients.len()].clone();
        let (next, tag) = (next.clone(), tag.to_string());
        tasks.spawn(async move {
            let mut codes = std::collections::BTreeMap::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= count {
                    return codes;
                }
                let id = format!("{tag}-{i}");
                let (function, call) = match i % 10 {
                    9 => ("TransferAsset", args(&["shared", &id])),
                    _ => ("CreateAsset", args(&[&id, "red", "1", "Ana", "10"])),
                };
                let done = submit_through_faults(&client, function, call, &id).await;
                *codes.entry(done.code().as_str_name().to_string()).or_insert(0) += 1;
            }
        });
    }
    let mut all = std::collections::BTreeMap::new();
    while let Some(codes) = tasks.join_next().await {
        for (code, n) in codes.unwrap() {
            *all.entry(code).or_insert(0) += n;
        }
    }
    all
}

/// Submits one transaction as a client does while faults are injected: the endorsement is
/// asked again until it succeeds; then the same signed envelope is submitted until its
/// outcome is known. A Submit refused with `UNAVAILABLE` may still have been ordered, so a
/// later `ALREADY_EXISTS` means an earlier attempt got through and `CommitStatus` says how
/// it committed.
async fn submit_through_faults(
    client: &weft_client::Client,
    function: &str,
    call: Vec<Vec<u8>>,
    id: &str,
) -> weft_proto::v1::CommitStatusResponse {
    let proposal = client.proposal("basic", function, call);
    let mut attempts = 0;
    let mut retry = |e: tonic::Status, codes: &[tonic::Code]| {
        attempts += 1;
        assert!(codes.contains(&e.code()), "{function} {id}: {e:?}");
        assert!(attempts < 100, "{function} {id} kept failing: {e:?}");
    };
    let endorsed = loop {
        match client.endorse(proposal.clone()).await {
            Ok(endorsed) => break endorsed,
            Err(e) => retry(e, &[tonic::Code::Unavailable, tonic::Code::Aborted]),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    loop {
        match client.submit_and_wait(endorsed.envelope.clone()).await {
            Ok(status) => return status,
            Err(e) if e.code() == tonic::Code::AlreadyExists => {
                return client.commit_status(&endorsed.tx_id).await.unwrap();
            }
            Err(e) => retry(e, &[tonic::Code::Unavailable]),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Two nodes of one channel on a three-member etcd cluster commit 10,000 transactions,
/// submitted to both, while faults are injected: an etcd member killed and started again,
/// the cutting leader's lease revoked (a leader change), and the second node stopped while
/// the first goes on, then started again (it catches up). Every block is then byte-identical
/// on both nodes, validation codes and commit hash included, and so is the state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_agree_on_every_block_over_ten_thousand_transactions_with_faults() {
    use weft_e2e::TestNet;
    use weft_node::config::OrdererKind;

    let mut cluster = EtcdCluster::start(3);
    let etcd = EtcdConfig {
        endpoints: cluster.endpoints(),
        lease_ttl_secs: 2,
        timeout_ms: 2000,
        ..EtcdConfig::default()
    };
    let net = TestNet::start(|c| {
        c.orderer.kind = OrdererKind::Etcd;
        c.orderer.etcd = Some(etcd.clone());
        c.orderer.batch_timeout_ms = 10;
    })
    .await;
    let mut second = net.config.clone();
    second.data_dir = net.dir.path().join("second");
    let b = weft_node::Node::start(&second).await.expect("the second node starts");
    let b_url = format!("http://{}", b.local_addr());
    let identity = || net.net.identity("client").unwrap();
    let b_client = weft_client::Client::connect(&b_url, identity()).await.unwrap();
    net.deploy_asset_transfer().await;
    // The definition is committed once, for both; the code is installed on each node. A
    // node without it says so (Fabric: "chaincode definition exists, but chaincode is not
    // installed").
    {
        let (a, b) = (net.node.ledger(), b.ledger());
        let synced = || b.chain_info().height == a.chain_info().height;
        until("the second node has the definition", synced).await;
    }
    let missing = b_client.evaluate("basic", "GetAllAssets", vec![]).await.unwrap_err();
    assert_eq!(missing.code(), tonic::Code::FailedPrecondition, "{missing:?}");
    assert!(missing.message().contains("install it on this peer"), "{}", missing.message());
    let wasm = std::fs::read(weft_contract_artifacts::ASSET_TRANSFER).unwrap();
    let b_admin = weft_client::Client::connect(&b_url, net.net.identity("admin").unwrap());
    b_admin.await.unwrap().install(wasm).await.unwrap();
    let shared = weft_e2e::args(&["shared", "blue", "1", "Ana", "10"]);
    net.client.submit("basic", "CreateAsset", shared).await.unwrap();
    let both = [net.client.clone(), b_client];
    let mut committed = std::collections::BTreeMap::new();
    let mut add = |codes: std::collections::BTreeMap<String, usize>| {
        for (code, n) in codes {
            *committed.entry(code).or_insert(0) += n;
        }
    };

    // 1. An etcd member dies under load, and comes back.
    let load = agreement_load(&both, 32, 3000, "one");
    let fault = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        cluster.kill(0);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        cluster.restart(0);
    };
    add(tokio::join!(load, fault).0);
    // 2. The cutting leader loses its lease under load: another node leads.
    let load = agreement_load(&both, 32, 3000, "two");
    let fault = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        revoke_leader_lease(&cluster, "dev").await;
    };
    add(tokio::join!(load, fault).0);
    // 3. The second node stops; the first goes on alone; the second starts again.
    b.shutdown().await.unwrap();
    add(agreement_load(&both[..1], 32, 2000, "three").await);
    let b = weft_node::Node::start(&second).await.expect("the second node starts again");
    let b_client = weft_client::Client::connect(&format!("http://{}", b.local_addr()), identity())
        .await
        .unwrap();
    add(agreement_load(&[net.client.clone(), b_client], 32, 2000, "four").await);
    assert_eq!(committed.values().sum::<usize>(), 10_000, "{committed:?}");
    assert!(committed["VALID"] >= 9000, "{committed:?}");

    let (a, b_ledger) = (net.node.ledger(), b.ledger());
    // Either node may be a block ahead when the load ends (each client's last answers came
    // from its own node): wait until they stand at one height. Said with both heights if they
    // do not: a stall and a slow catch-up read differently.
    let heights = || (a.chain_info().height, b_ledger.chain_info().height);
    let said = || format!("the nodes stand at heights {:?}, not at one", heights());
    let level = || {
        let (a, b) = heights();
        a == b
    };
    weft_e2e::until_said(said, level).await;
    let height = a.chain_info().height;
    eprintln!("{height} blocks, transactions by code: {committed:?}");
    for number in 0..height {
        assert_eq!(
            a.block(number).unwrap(),
            b_ledger.block(number).unwrap(),
            "block {number} differs between the nodes"
        );
    }
    assert_eq!(a.chain_info(), b_ledger.chain_info());
    assert_eq!(a.state_hash().unwrap(), b_ledger.state_hash().unwrap());
    b.shutdown().await.unwrap();
    net.node.shutdown().await.unwrap();
}

/// TLS to etcd with client certificates (the dev network's CA, server and client
/// certificates): an orderer with them orders; one without a client certificate, or naming
/// plain `http://` endpoints with TLS, is refused at start.
#[tokio::test]
async fn an_orderer_reaches_etcd_over_mutual_tls() {
    use weft_e2e::etcd::TlsFiles;
    use weft_node::devnet::{DevNetwork, Transport};
    use weft_orderer::etcd::EtcdTls;

    let dir = tempfile::tempdir().unwrap();
    let net = DevNetwork::at(dir.path().join("dev"));
    net.create("dev", "127.0.0.1:0".parse().unwrap(), Transport::MutualTls).unwrap();
    let tls_dir = dir.path().join("dev/tls");
    let files = TlsFiles {
        cert: tls_dir.join("server.pem"),
        key: tls_dir.join("server.key"),
        ca: tls_dir.join("ca.pem"),
    };
    let cluster = EtcdCluster::start_with(1, Some(&files));
    assert!(cluster.endpoints()[0].starts_with("https://"));
    let client_tls = EtcdTls {
        ca: files.ca.clone(),
        cert: Some(net.tls_client_cert_path()),
        key: Some(net.tls_client_key_path()),
        domain: None,
    };
    let (a, a_thread) =
        node(&cluster, "a", 1, Arc::default(), |c| c.tls = Some(client_tls.clone()));
    let mut stream = a.deliver(0);
    a.broadcast(b"over tls".to_vec()).await.unwrap();
    assert_eq!(envelopes(&blocks(&mut stream, 0, 1).await), [b"over tls".to_vec()]);
    drop(a);
    a_thread.join().unwrap();

    let refused = |tune: Box<dyn FnOnce(&mut EtcdConfig)>| {
        let mut etcd = EtcdConfig {
            endpoints: cluster.endpoints(),
            timeout_ms: 2000,
            ..EtcdConfig::default()
        };
        tune(&mut etcd);
        let config = EtcdOrdererConfig {
            etcd,
            batch: BatchConfig::default(),
            absolute_max_bytes: 1 << 20,
            channel: "ch".into(),
            name: "b".into(),
            genesis_hash: vec![1; 32],
        };
        EtcdOrderer::start(config, 0, Vec::new(), Arc::new(Store::default()), None).unwrap_err()
    };
    let without_cert = EtcdTls { cert: None, key: None, ..client_tls.clone() };
    let err = refused(Box::new(move |c| c.tls = Some(without_cert)));
    assert!(matches!(err, Error::Unavailable(_)), "{err}");
    let plain = cluster.endpoints()[0].replace("https://", "http://");
    let err = refused(Box::new(move |c| {
        c.tls = Some(client_tls);
        c.endpoints = vec![plain];
    }));
    assert!(err.to_string().contains("https://"), "{err}");
    let err = refused(Box::new(|c| {
        c.tls =
            Some(EtcdTls { ca: "/nonexistent/ca.pem".into(), cert: None, key: None, domain: None })
    }));
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}
