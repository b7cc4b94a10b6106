//! [`EtcdOrderer`]: the handle the node holds, the thread that runs its etcd client, and
//! broadcast.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, ConnectOptions, KvClient, Txn, TxnOp, WatchClient};
use tokio::runtime::Handle;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};

use super::config::EtcdConfig;
use super::keys::{ALL, ChainTip, Keys, encode_group};
use super::{follow, leader};
use crate::cutter::{BatchConfig, check_size};
use crate::error::{Error, Result};
use crate::orderer::{BlockSource, BlockStream, Broadcast, Orderer, PeerBlocks};

/// Everything an etcd orderer needs besides the chain tip and the block source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdOrdererConfig {
    /// The cluster and the channel's log.
    pub etcd: EtcdConfig,
    /// Block cutting (the node's `[orderer]` section); `max_bytes` is lowered to what one
    /// etcd request carries.
    pub batch: BatchConfig,
    /// The largest envelope broadcast accepts (lowered the same way).
    pub absolute_max_bytes: usize,
    /// The channel: its keys are under `<prefix><channel>/`.
    pub channel: String,
    /// This node's name in the election (logged by the others).
    pub name: String,
    /// The hash of the channel's genesis configuration: the first node to start records it
    /// in etcd, and a node started from another genesis is refused (its validation would
    /// differ from the others' on the same blocks).
    pub genesis_hash: Vec<u8>,
}

/// An orderer on an etcd cluster; see the [module](super).
pub struct EtcdOrderer {
    inner: Arc<Inner>,
}

/// What the handle, the leader and the streams share.
pub(super) struct Inner {
    pub(super) client: Client,
    pub(super) kv: KvClient,
    pub(super) watch: WatchClient,
    pub(super) keys: Keys,
    pub(super) etcd: EtcdConfig,
    /// Cutting, with `max_bytes` within one etcd request.
    pub(super) batch: BatchConfig,
    pub(super) name: String,
    /// The tip a leader starts the chain at if etcd holds none: the node's ledger.
    pub(super) start: ChainTip,
    pub(super) source: Arc<dyn BlockSource>,
    /// The channel's other nodes, for heights neither etcd nor the source holds.
    pub(super) peers: Option<Arc<dyn PeerBlocks>>,
    runtime: Handle,
    envelope_max: usize,
    /// Set by `close`.
    pub(super) closing: watch::Sender<bool>,
    /// The height streams end at, once closed.
    pub(super) end: watch::Sender<Option<u64>>,
    /// Held by every stream's task; the thread ends once all are dropped.
    alive: Mutex<Option<mpsc::Sender<()>>>,
    /// Broadcasts in flight (load shedding at `batch.queue`).
    inflight: Arc<Semaphore>,
    /// Broadcasts waiting for the writer ([`write_groups`]).
    outbox: mpsc::UnboundedSender<Outgoing>,
    session: String,
    counter: AtomicU64,
    pub(super) leading: AtomicBool,
    pub(super) lost_appends: AtomicU64,
    /// Members defragmented by this node as leader; whether a round is under way.
    pub(super) defragmented: AtomicU64,
    pub(super) defragmenting: AtomicBool,
    /// The highest chain height seen, for the end height if etcd cannot be read at close.
    pub(super) seen_height: AtomicU64,
}

impl std::fmt::Debug for EtcdOrderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdOrderer")
            .field("endpoints", &self.inner.etcd.endpoints)
            .field("keys", &self.inner.keys.base())
            .field("name", &self.inner.name)
            .field("leading", &self.is_leader())
            .finish_non_exhaustive()
    }
}

/// `etcd` failed while `doing`: [`Error::Unavailable`], naming it.
pub(super) fn unavailable(doing: &str, error: etcd_client::Error) -> Error {
    Error::Unavailable(format!("etcd: {doing}: {error}"))
}

/// Why etcd may give no answer, for the messages of requests that got none.
const NO_MAJORITY: &str = "etcd answers only while a majority of its members are up and reachable";

/// `future`, or [`Error::Unavailable`] after `timeout`.
pub(super) async fn within<T>(
    timeout: Duration,
    doing: &str,
    future: impl Future<Output = std::result::Result<T, etcd_client::Error>>,
) -> Result<T> {
    match tokio::time::timeout(timeout, future).await {
        Ok(result) => result.map_err(|e| unavailable(doing, e)),
        Err(_) => Err(Error::Unavailable(format!(
            "etcd: {doing}: no answer within {} ms ({NO_MAJORITY})",
            timeout.as_millis()
        ))),
    }
}

/// The error of a write retried for `timeout` without success, naming the last try's
/// failure (no answer, or e.g. a member that is down refusing the connection).
fn gave_up(doing: &str, timeout: Duration, last: &str) -> Error {
    Error::Unavailable(format!(
        "etcd: {doing}: no success within {} ms ({NO_MAJORITY}); the last try: {last}",
        timeout.as_millis()
    ))
}

/// Growing pauses between retries of a failing etcd request: 50 ms doubling to 2 s.
#[derive(Debug)]
pub(super) struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Backoff(Duration::from_millis(50))
    }
}

impl Backoff {
    pub(super) fn next(&mut self) -> Duration {
        let now = self.0;
        self.0 = (self.0 * 2).min(Duration::from_secs(2));
        now
    }

    pub(super) fn reset(&mut self) {
        *self = Backoff::default();
    }
}

/// A name for this orderer's pending keys that no other live orderer uses: random bits of
/// the process's hasher keys, the process id and the time (collisions are still refused by
/// the put-if-absent of [`EtcdOrderer::broadcast`]).
fn session_name() -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    format!("{:016x}", hasher.finish())
}

/// The client's TLS settings from `[orderer.etcd.tls]`: the files read, a missing or
/// unreadable one named.
pub(super) fn tls_options(tls: &super::EtcdTls) -> Result<etcd_client::TlsOptions> {
    let read = |setting: &str, path: &std::path::Path| {
        std::fs::read(path).map_err(|e| {
            Error::Config(format!("reading orderer.etcd.tls.{setting} {}: {e}", path.display()))
        })
    };
    let mut options = etcd_client::TlsOptions::new()
        .ca_certificate(etcd_client::Certificate::from_pem(read("ca", &tls.ca)?));
    if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
        let identity = etcd_client::Identity::from_pem(read("cert", cert)?, read("key", key)?);
        options = options.identity(identity);
    }
    if let Some(domain) = &tls.domain {
        options = options.domain_name(domain.clone());
    }
    Ok(options)
}

/// The genesis hash another node recorded, if the transaction found one.
fn recorded_genesis(response: &etcd_client::TxnResponse) -> Option<Vec<u8>> {
    if response.succeeded() {
        return None;
    }
    response.op_responses().into_iter().find_map(|op| match op {
        etcd_client::TxnOpResponse::Get(get) => get.kvs().first().map(|kv| kv.value().to_vec()),
        _ => None,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Largest messages the client decodes: a range of blocks or of pending envelopes, each up
/// to one request.
fn decode_limit(etcd: &EtcdConfig) -> usize {
    (follow::PAGE as usize + 2).saturating_mul(etcd.max_request_bytes).max(64 << 20)
}

impl EtcdOrderer {
    /// Connects to the etcd cluster and starts following (and campaigning to lead) the
    /// channel's log, on a thread of its own with its own async runtime. If etcd holds no
    /// chain for the channel yet, the first leader starts it after `height` blocks whose last
    /// header hash is `tip_hash` (the node's ledger). Blocks below etcd's window are read
    /// from `source`, and those it does not hold either from `peers`, verified. Fails with [`Error::Config`] for settings that cannot work and
    /// [`Error::Unavailable`] if the cluster does not answer within `timeout_ms`. Returns the
    /// orderer and its thread, which ends after [`Orderer::close`] once the last stream
    /// ended.
    pub fn start(
        config: EtcdOrdererConfig,
        height: u64,
        tip_hash: Vec<u8>,
        source: Arc<dyn BlockSource>,
        peers: Option<Arc<dyn PeerBlocks>>,
    ) -> Result<(EtcdOrderer, std::thread::JoinHandle<()>)> {
        let EtcdOrdererConfig { etcd, batch, absolute_max_bytes, channel, name, genesis_hash } =
            config;
        etcd.check(batch.max_txs).map_err(Error::Config)?;
        if channel.is_empty() || channel.contains('/') {
            return Err(Error::Config(format!(
                "the channel name {channel:?} cannot be part of an etcd key"
            )));
        }
        let budget = etcd.block_budget(batch.max_txs).expect("checked");
        let batch = BatchConfig { max_bytes: batch.max_bytes.min(budget), ..batch };
        let envelope_max = absolute_max_bytes.min(budget);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Start)?;
        let (ready, started) = std::sync::mpsc::channel::<Result<Arc<Inner>>>();
        let start = ChainTip { height, watermark: 0, taken: ALL, tip: tip_hash };
        let thread = std::thread::Builder::new()
            .name("weft-orderer-etcd".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let timeout = Duration::from_millis(etcd.timeout_ms.max(1));
                    let mut options = ConnectOptions::new()
                        .with_connect_timeout(timeout)
                        .with_keep_alive(Duration::from_secs(2), timeout);
                    if let Some(tls) = &etcd.tls {
                        match tls_options(tls) {
                            Ok(tls) => options = options.with_tls(tls),
                            Err(e) => return drop(ready.send(Err(e))),
                        }
                    }
                    let endpoints = etcd.endpoints.join(", ");
                    let connected = within(
                        timeout,
                        &format!("connecting to {endpoints}"),
                        Client::connect(&etcd.endpoints, Some(options)),
                    )
                    .await;
                    let client = match connected {
                        Ok(client) => client,
                        Err(e) => return drop(ready.send(Err(e))),
                    };
                    let limit = decode_limit(&etcd);
                    let keys = Keys::new(&etcd.prefix, &channel);
                    let mut kv = client.kv_client().max_decoding_message_size(limit);
                    // One request proves the cluster answers (the client connects lazily):
                    // recording the channel's genesis, or checking it against the one recorded.
                    let doing = format!("reading {} from {endpoints}", keys.base());
                    let genesis = Txn::new()
                        .when([Compare::create_revision(keys.genesis(), CompareOp::Equal, 0)])
                        .and_then([TxnOp::put(keys.genesis(), genesis_hash.clone(), None)])
                        .or_else([TxnOp::get(keys.genesis(), None)]);
                    let recorded = match within(timeout, &doing, kv.txn(genesis)).await {
                        Ok(response) => recorded_genesis(&response),
                        Err(e) => return drop(ready.send(Err(e))),
                    };
                    if let Some(theirs) = recorded.filter(|theirs| *theirs != genesis_hash) {
                        return drop(ready.send(Err(Error::Config(format!(
                            "channel {channel} on etcd ({endpoints}) was started from another \
                             genesis configuration (blake3 {}) than this node's ({}): start the \
                             node with the channel's genesis",
                            hex(&theirs),
                            hex(&genesis_hash)
                        )))));
                    }
                    let (alive, mut streams) = mpsc::channel::<()>(1);
                    let (outbox, outgoing) = mpsc::unbounded_channel();
                    let inner = Arc::new(Inner {
                        watch: client.watch_client().max_decoding_message_size(limit),
                        kv,
                        client,
                        keys,
                        etcd,
                        batch,
                        name,
                        start,
                        source,
                        peers,
                        runtime: Handle::current(),
                        envelope_max,
                        closing: watch::Sender::new(false),
                        end: watch::Sender::new(None),
                        alive: Mutex::new(Some(alive)),
                        inflight: Arc::new(Semaphore::new(batch.queue.max(1))),
                        outbox,
                        session: session_name(),
                        counter: AtomicU64::new(0),
                        leading: AtomicBool::new(false),
                        lost_appends: AtomicU64::new(0),
                        defragmented: AtomicU64::new(0),
                        defragmenting: AtomicBool::new(false),
                        seen_height: AtomicU64::new(height),
                    });
                    let _ = ready.send(Ok(inner.clone()));
                    tokio::spawn(write_groups(inner.clone(), outgoing));
                    inner.run().await;
                    // Every stream's task holds a sender: wait until they all ended.
                    while streams.recv().await.is_some() {}
                });
            })
            .map_err(Error::Start)?;
        match started.recv() {
            Ok(Ok(inner)) => {
                tracing::info!(keys = inner.keys.base(), name = inner.name, "ordering on etcd");
                Ok((EtcdOrderer { inner }, thread))
            }
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(Error::Unavailable("the etcd orderer's thread ended while starting".into()))
            }
        }
    }

    /// Whether this orderer leads (cuts blocks) now.
    pub fn is_leader(&self) -> bool {
        self.inner.leading.load(Ordering::SeqCst)
    }

    /// How many appends this orderer cut as leader and lost to another node's append (the
    /// compare-and-swap on the chain tip), stepping down each time.
    pub fn lost_appends(&self) -> u64 {
        self.inner.lost_appends.load(Ordering::SeqCst)
    }

    /// How many etcd members this orderer defragmented as leader
    /// ([`EtcdConfig::defrag_every`]).
    pub fn defragmented(&self) -> u64 {
        self.inner.defragmented.load(Ordering::SeqCst)
    }
}

impl Inner {
    /// The orderer's life: campaign and lead until closed, then publish the height the
    /// streams end at.
    async fn run(self: &Arc<Self>) {
        let leading = tokio::spawn(leader::campaign(self.clone()));
        let mut closing = self.closing.subscribe();
        let _ = closing.wait_for(|closed| *closed).await;
        let _ = leading.await;
        let end = self.read_height().await.unwrap_or_else(|e| {
            let seen = self.seen_height.load(Ordering::SeqCst);
            tracing::warn!(error = %e, height = seen, "closing: streams end at the height seen");
            seen
        });
        self.seen_height.fetch_max(end, Ordering::SeqCst);
        self.end.send_replace(Some(end));
        self.alive.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// The chain's height in etcd (0 if it holds no chain yet).
    async fn read_height(&self) -> Result<u64> {
        let timeout = Duration::from_millis(self.etcd.timeout_ms.max(1));
        let response =
            within(timeout, "reading the chain tip", self.kv.clone().get(self.keys.chain(), None))
                .await?;
        match response.kvs().first() {
            None => Ok(0),
            Some(kv) => Ok(self.decode_tip(kv.value())?.height),
        }
    }

    pub(super) fn decode_tip(&self, bytes: &[u8]) -> Result<ChainTip> {
        ChainTip::decode(bytes).ok_or_else(|| Error::Corrupt {
            key: String::from_utf8_lossy(&self.keys.chain()).into_owned(),
            cause: format!("{} bytes, fewer than 16", bytes.len()),
        })
    }
}

impl Orderer for EtcdOrderer {
    fn broadcast(&self, envelope: Vec<u8>) -> Broadcast<'_> {
        let inner = self.inner.clone();
        Box::pin(async move {
            check_size(envelope.len(), inner.envelope_max)?;
            if *inner.closing.borrow() {
                return Err(Error::ShuttingDown);
            }
            let Ok(permit) = inner.inflight.clone().try_acquire_owned() else {
                return Err(Error::Overloaded(format!(
                    "{} broadcasts are waiting for etcd",
                    inner.batch.queue
                )));
            };
            // To the writer on the orderer's runtime. The envelope holds its place in `queue`
            // until it is written, even if the caller goes away: cancelled broadcasts cannot
            // start unbounded writes.
            let (answer, written) = oneshot::channel();
            let outgoing = Outgoing { envelope, answer, _place: permit };
            inner.outbox.send(outgoing).map_err(|_| Error::ShuttingDown)?;
            written.await.map_err(|_| Error::ShuttingDown)?
        })
    }

    fn deliver(&self, from: u64) -> BlockStream {
        let (blocks, received) = mpsc::channel(4);
        let alive = self.inner.alive.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(alive) = alive {
            self.inner.runtime.spawn(follow::follow(self.inner.clone(), from, blocks, alive));
        }
        // Without a task (the orderer's thread ended), the stream ends at once.
        Box::pin(futures_util::stream::unfold(received, |mut received| async move {
            received.recv().await.map(|item| (item, received))
        }))
    }

    fn close(&self) {
        self.inner.closing.send_replace(true);
    }

    fn is_leader(&self) -> bool {
        EtcdOrderer::is_leader(self)
    }
}

impl Drop for EtcdOrderer {
    fn drop(&mut self) {
        self.close();
    }
}

/// A broadcast waiting for the writer: its envelope, where its answer goes, and its place
/// in `queue`.
struct Outgoing {
    envelope: Vec<u8>,
    answer: oneshot::Sender<Result<()>>,
    _place: OwnedSemaphorePermit,
}

/// Envelopes written under one pending key at most.
const GROUP_MAX: usize = 1024;

/// The writer of a node's broadcasts (a group commit): takes the broadcasts waiting, as many
/// as fit one etcd request ([`GROUP_MAX`], the block budget), writes them under one pending
/// key, and answers them all. While a write is under way the next broadcasts wait and go
/// together in the next one, so under load one etcd write (a raft entry replicated to every
/// member) carries many envelopes, and alone an envelope is written at once.
async fn write_groups(inner: Arc<Inner>, mut outgoing: mpsc::UnboundedReceiver<Outgoing>) {
    let budget = inner.envelope_max.max(inner.batch.max_bytes);
    let mut carried = None;
    loop {
        let first = match carried.take() {
            Some(first) => first,
            None => match outgoing.recv().await {
                Some(first) => first,
                None => return,
            },
        };
        let mut bytes = 4 + first.envelope.len();
        let mut group = vec![first];
        while group.len() < GROUP_MAX {
            let Ok(next) = outgoing.try_recv() else { break };
            if bytes + 4 + next.envelope.len() > budget {
                carried = Some(next);
                break;
            }
            bytes += 4 + next.envelope.len();
            group.push(next);
        }
        let envelopes: Vec<&[u8]> = group.iter().map(|g| g.envelope.as_slice()).collect();
        let written = write_group(&inner, encode_group(&envelopes)).await;
        tracing::debug!(envelopes = group.len(), bytes, ok = written.is_ok(), "broadcasts written");
        for outgoing in group {
            let answer = match &written {
                Ok(()) => Ok(()),
                Err(Error::Unavailable(why)) => Err(Error::Unavailable(why.clone())),
                Err(e) => Err(Error::Unavailable(e.to_string())),
            };
            let _ = outgoing.answer.send(answer);
        }
    }
}

/// Writes a group of envelopes under a fresh pending key, retrying transport failures until
/// the timeout: the write is put-if-absent, so a retry of a write that was applied finds the
/// key and does not write it again.
async fn write_group(inner: &Inner, group: Vec<u8>) -> Result<()> {
    let counter = inner.counter.fetch_add(1, Ordering::SeqCst);
    let mut key = inner.keys.pending_entry(&inner.session, counter);
    let timeout = Duration::from_millis(inner.etcd.timeout_ms.max(1));
    let deadline = tokio::time::Instant::now() + timeout;
    let mut backoff = Backoff::default();
    let mut kv = inner.kv.clone();
    let mut written_by_us = false;
    loop {
        let txn = Txn::new()
            .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key.clone(), group.clone(), None)]);
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let last = match tokio::time::timeout(left, kv.txn(txn)).await {
            Ok(Ok(response)) if response.succeeded() => return Ok(()),
            // The key exists: our earlier attempt wrote it, or (never in practice) another
            // orderer drew the same session name; then take another key.
            Ok(Ok(_)) if written_by_us => return Ok(()),
            Ok(Ok(_)) => {
                let counter = inner.counter.fetch_add(1, Ordering::SeqCst);
                key = inner.keys.pending_entry(&format!("{}x", inner.session), counter);
                continue;
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => "no answer".to_owned(),
        };
        if tokio::time::Instant::now() + backoff.0 >= deadline {
            return Err(gave_up("writing broadcast envelopes", timeout, &last));
        }
        tracing::debug!(error = %last, "broadcast: retrying");
        written_by_us = true;
        tokio::time::sleep(backoff.next()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_that_ran_out_of_retries_says_why_etcd_may_not_answer() {
        let timeout = Duration::from_millis(1500);
        // Whether the last try got no answer or was refused by a member that is down, the
        // message names it and says why etcd may not answer.
        for last in ["no answer", "tcp connect error: Connection refused"] {
            let message = gave_up("writing broadcast envelopes", timeout, last).to_string();
            assert!(message.contains("writing broadcast envelopes"), "{message}");
            assert!(message.contains("no success within 1500 ms"), "{message}");
            assert!(message.contains("majority of its members"), "{message}");
            assert!(message.ends_with(last), "{message}");
        }
    }
}
