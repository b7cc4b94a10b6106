//! Deliver on etcd: a stream's task range-reads `blocks/` from its next height, serves
//! heights below etcd's window from the node's block source (and what the source does not
//! hold from the channel's other nodes, verified: [`Follower::send_from_peers`]), then watches
//! `blocks/` from the revision it read at. A watch that ends (compaction, a failed member) goes back to a
//! range read; etcd failures are retried with a pause, so a stream outlives a failed member
//! or a leader change.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use etcd_client::{
    EventType, GetOptions, KeyValue, TxnOp, TxnOpResponse, WatchFilterType, WatchOptions,
};
use futures_util::StreamExt;
use prost::Message;
use tokio::sync::mpsc;
use weft_proto::v1::{Block, BlockMetadata};
use weft_protocol::block::{data_hash, header_hash};

use super::orderer::{Backoff, Inner, within};
use crate::PeerBlocks;
use crate::error::{Error, Result};

/// Blocks read per range request.
pub(super) const PAGE: i64 = 8;

/// Why a stream's task stops reading.
enum Stop {
    /// The consumer went away, or the stream reached the end height after close.
    Done,
    /// An error the stream ends with.
    Fatal(Error),
    /// An etcd failure: read again after a pause.
    Retry(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Stop {
        match e {
            Error::Unavailable(_) => Stop::Retry(e),
            e => Stop::Fatal(e),
        }
    }
}

/// The task behind one [`Orderer::deliver`](crate::Orderer::deliver) stream. `alive` is
/// held until it ends.
pub(super) async fn follow(
    inner: Arc<Inner>,
    from: u64,
    blocks: mpsc::Sender<Result<Block>>,
    alive: mpsc::Sender<()>,
) {
    let mut stream = Follower { inner, next: from, blocks, first: true, peer: 0, sent_tip: None };
    let mut backoff = Backoff::default();
    loop {
        let stopped = match stream.catch_up().await {
            Ok(revision) => stream.watch(revision).await,
            Err(stop) => stop,
        };
        match stopped {
            Stop::Done => break,
            Stop::Fatal(e) => {
                let _ = stream.blocks.send(Err(e)).await;
                break;
            }
            // Closed, and etcd fails: end here rather than hold the node's shutdown.
            Stop::Retry(e) if stream.inner.end.borrow().is_some() => {
                tracing::warn!(error = %e, next = stream.next, "deliver: etcd failed after close");
                break;
            }
            Stop::Retry(e) => {
                tracing::warn!(error = %e, next = stream.next, "deliver: etcd failed, retrying");
                let pause = backoff.next();
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stream.blocks.closed() => break,
                }
            }
        }
    }
    drop(alive);
}

struct Follower {
    inner: Arc<Inner>,
    /// The next block to send.
    next: u64,
    blocks: mpsc::Sender<Result<Block>>,
    /// Before the first read: a height beyond the chain's is refused then.
    first: bool,
    /// The other node asked for blocks neither etcd nor the source holds; the next one
    /// after a failed attempt.
    peer: usize,
    /// The number and header hash of the last block sent: the link of the next one, which
    /// the source may not hold yet (the committer may be behind the stream).
    sent_tip: Option<(u64, [u8; 32])>,
}

impl Follower {
    fn timeout(&self) -> Duration {
        Duration::from_millis(self.inner.etcd.timeout_ms.max(1))
    }

    /// Whether the orderer is closing or the consumer went away.
    fn stopping(&self) -> bool {
        self.inner.end.borrow().is_some() || self.blocks.is_closed()
    }

    /// Whether the stream is over: closed and all blocks up to the end height sent.
    fn ended(&self) -> bool {
        matches!(*self.inner.end.borrow(), Some(end) if self.next >= end)
    }

    async fn send(&mut self, block: Block) -> std::result::Result<(), Stop> {
        let hash = match &block.header {
            Some(header) => header_hash(header),
            None => header_hash(&Default::default()),
        };
        if self.blocks.send(Ok(block)).await.is_err() {
            return Err(Stop::Done);
        }
        self.sent_tip = Some((self.next, hash));
        self.next += 1;
        if self.ended() { Err(Stop::Done) } else { Ok(()) }
    }

    /// Sends every block up to the chain's height; returns the revision of the last read.
    async fn catch_up(&mut self) -> std::result::Result<i64, Stop> {
        let keys = self.inner.keys.clone();
        loop {
            if self.ended() {
                return Err(Stop::Done);
            }
            // The tip and the next page of blocks, at one revision.
            let page = GetOptions::new().with_range(keys.block(u64::MAX)).with_limit(PAGE);
            let txn = etcd_client::Txn::new().and_then([
                TxnOp::get(keys.chain(), None),
                TxnOp::get(keys.block(self.next), Some(page)),
            ]);
            let mut kv = self.inner.kv.clone();
            let response = within(self.timeout(), "reading blocks", kv.txn(txn)).await?;
            let revision = response.header().map_or(0, |h| h.revision());
            let mut reads = response.op_responses().into_iter().filter_map(|r| match r {
                TxnOpResponse::Get(get) => Some(get),
                _ => None,
            });
            let (Some(tip), Some(page)) = (reads.next(), reads.next()) else {
                return Err(Stop::Retry(Error::Unavailable(
                    "etcd: a read answered nothing".into(),
                )));
            };
            let (height, tip_hash) = match tip.kvs().first() {
                Some(kv) => {
                    let tip = self.inner.decode_tip(kv.value())?;
                    (tip.height, tip.tip)
                }
                // No chain yet: the first leader starts it after the node's own blocks.
                None => (self.inner.source.height(), Vec::new()),
            };
            self.inner.seen_height.fetch_max(height, Ordering::SeqCst);
            if self.first && self.next > height {
                return Err(Stop::Fatal(Error::BeyondTip { from: self.next, height }));
            }
            self.first = false;
            // Blocks below the first etcd holds come from the source.
            let first_held = page.kvs().first().and_then(|kv| keys.block_number(kv.key()));
            let below = first_held.unwrap_or(height).min(height);
            while self.next < below {
                let no_peers = self.inner.peers.as_ref().is_none_or(|p| p.is_empty());
                if self.next < self.inner.source.height() || no_peers {
                    let block = self.read_source(self.next, below)?;
                    self.send(block).await?;
                    continue;
                }
                // Neither etcd nor the node holds them: from the other nodes, checked
                // against the hash block `below` links to (or the tip's, if it is the tip).
                let anchor = match page.kvs().first() {
                    Some(kv) if first_held == Some(below) => {
                        self.decode(kv)?.header.unwrap_or_default().previous_hash
                    }
                    _ => tip_hash.clone(),
                };
                self.send_from_peers(below, &anchor).await?;
            }
            for kv in page.kvs() {
                if keys.block_number(kv.key()) == Some(self.next) {
                    let block = self.decode(kv)?;
                    self.send(block).await?;
                }
            }
            if self.next >= height {
                return Ok(revision);
            }
        }
    }

    /// Follows new blocks from `revision + 1` until the watch ends.
    async fn watch(&mut self, revision: i64) -> Stop {
        let options = WatchOptions::new()
            .with_prefix()
            .with_start_revision(revision + 1)
            .with_filters([WatchFilterType::NoDelete])
            .with_fragment();
        let mut client = self.inner.watch.clone();
        let mut watch = match client.watch(self.inner.keys.blocks(), Some(options)).await {
            Ok(watch) => watch,
            Err(e) => return Stop::Retry(super::orderer::unavailable("watching blocks", e)),
        };
        let mut end = self.inner.end.subscribe();
        loop {
            let message = tokio::select! {
                message = watch.message() => message,
                _ = self.blocks.closed() => return Stop::Done,
                _ = end.changed() => {
                    if self.ended() {
                        return Stop::Done;
                    }
                    continue;
                }
            };
            let response = match message {
                Ok(Some(response)) => response,
                Ok(None) => return Stop::Retry(Error::Unavailable("etcd: the watch ended".into())),
                Err(e) => return Stop::Retry(super::orderer::unavailable("watching blocks", e)),
            };
            if response.canceled() || response.compact_revision() > 0 {
                // Compacted past our revision, or cancelled by the server: read again.
                return Stop::Retry(Error::Unavailable(format!(
                    "etcd: the watch of blocks was cancelled ({})",
                    response.cancel_reason()
                )));
            }
            for event in response.events() {
                let Some(kv) = event.kv() else { continue };
                if event.event_type() != EventType::Put {
                    continue;
                }
                match self.inner.keys.block_number(kv.key()) {
                    Some(number) if number == self.next => {
                        let block = match self.decode(kv) {
                            Ok(block) => block,
                            Err(Stop::Fatal(e)) => return Stop::Fatal(e),
                            Err(stop) => return stop,
                        };
                        if let Err(stop) = self.send(block).await {
                            return stop;
                        }
                        self.inner.seen_height.fetch_max(self.next, Ordering::SeqCst);
                    }
                    Some(number) if number < self.next => {}
                    // A gap (never in a healthy chain): read again.
                    _ => {
                        return Stop::Retry(Error::Unavailable(format!(
                            "etcd: block {} came while waiting for block {}",
                            String::from_utf8_lossy(kv.key()),
                            self.next
                        )));
                    }
                }
            }
        }
    }

    fn decode(&self, kv: &KeyValue) -> std::result::Result<Block, Stop> {
        Block::decode(kv.value()).map_err(|e| {
            Stop::Fatal(Error::Corrupt {
                key: String::from_utf8_lossy(kv.key()).into_owned(),
                cause: e.to_string(),
            })
        })
    }

    /// Blocks `next..below` from the channel's other nodes, delivered only once they are
    /// known to be the chain's: a first pass checks that they are numbered in order, that
    /// each header holds its data's hash and links to the previous block (the first to the
    /// node's own last block), and that the last one's hash is `anchor`, the hash the chain
    /// in etcd links to; it keeps only the header hashes. A second pass fetches them again
    /// and delivers each block whose header hash is the one pinned. Memory stays at 32
    /// bytes a block whatever the gap; a node that answers with other blocks, or stops,
    /// costs a retry that asks the next node, never a forged block.
    async fn send_from_peers(
        &mut self,
        below: u64,
        anchor: &[u8],
    ) -> std::result::Result<(), Stop> {
        let peers = self.inner.peers.clone().expect("checked by the caller");
        let peer = self.peer % peers.len();
        let fetched = self.fetch(&*peers, peer, below, anchor).await;
        if matches!(fetched, Err(Stop::Retry(_))) {
            self.peer = peer + 1;
        }
        fetched
    }

    async fn fetch(
        &mut self,
        peers: &dyn PeerBlocks,
        peer: usize,
        below: u64,
        anchor: &[u8],
    ) -> std::result::Result<(), Stop> {
        let start = self.next;
        let previous = match (start.checked_sub(1), self.sent_tip) {
            (None, _) => Vec::new(),
            (Some(last), Some((number, hash))) if number == last => hash.to_vec(),
            (Some(last), _) => match self.inner.source.block(last) {
                Ok(Some(block)) => header_hash(&block.header.unwrap_or_default()).to_vec(),
                // The ledger does not hold it yet: read again later.
                _ => {
                    return Err(Stop::Retry(Error::Unavailable(format!(
                        "block {last}, the link of blocks from another node, is not in the \
                         ledger yet"
                    ))));
                }
            },
        };
        tracing::info!(
            from = start,
            to = below,
            peer,
            "deliver: blocks no longer in etcd and not in the ledger; fetching them from another node"
        );
        let refused = |why: String| {
            Stop::Retry(Error::Unavailable(format!(
                "blocks {start}..{below} from other node {peer}: {why}"
            )))
        };
        // A node that answers, but too slowly, is passed over too: both passes must keep
        // above a least rate.
        let deadline = tokio::time::Instant::now() + attempt_time(below - start);
        let mut pinned: Vec<[u8; 32]> = Vec::with_capacity((below - start) as usize);
        let mut stream = peers.blocks(peer, start);
        let mut last = previous;
        for number in start..below {
            // A node shutting down does not wait for the rest: its next start resumes.
            if self.stopping() {
                return Err(Stop::Done);
            }
            let block = next_block(&mut stream, number, deadline).await.map_err(refused)?;
            let header = checked_header(&block, number).map_err(refused)?;
            if header.previous_hash != last {
                return Err(refused(format!(
                    "block {number} does not link to block {}",
                    number.wrapping_sub(1)
                )));
            }
            last = header_hash(header).to_vec();
            pinned.push(header_hash(header));
        }
        if last != anchor {
            return Err(refused(format!(
                "block {} is not the one the chain in etcd links to",
                below - 1
            )));
        }
        drop(stream);
        let mut stream = peers.blocks(peer, start);
        for (number, hash) in (start..below).zip(pinned) {
            if self.stopping() {
                return Err(Stop::Done);
            }
            let mut block = next_block(&mut stream, number, deadline).await.map_err(refused)?;
            let header = checked_header(&block, number).map_err(refused)?;
            if header_hash(header) != hash {
                return Err(refused(format!("block {number} changed between two reads")));
            }
            block.metadata = Some(BlockMetadata::default());
            self.send(block).await?;
            if number % 1000 == 999 {
                tracing::info!(at = number + 1, to = below, "deliver: fetching from another node");
            }
        }
        Ok(())
    }

    /// Block `number`, below `first`, the first block etcd holds: from the block source.
    fn read_source(&self, number: u64, first: u64) -> std::result::Result<Block, Stop> {
        let block = self
            .inner
            .source
            .block(number)
            .map_err(|cause| Stop::Fatal(Error::Source { number, cause }))?;
        let mut block = block.ok_or(Stop::Fatal(Error::Pruned { number, first }))?;
        block.metadata = Some(BlockMetadata::default());
        Ok(block)
    }
}

/// Longest wait for the next block from another node: it serves blocks it holds, so a
/// longer pause means it does not hold them (or stalls), and another node is asked.
const PEER_BLOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one attempt to fetch `blocks` blocks from another node may take, both passes:
/// a minute, plus 5 ms a block (at least 200 blocks a second).
fn attempt_time(blocks: u64) -> Duration {
    Duration::from_secs(60)
        + Duration::from_millis(5).saturating_mul(blocks.min(u32::MAX as u64) as u32)
}

/// The next block of a peer's stream, which must be block `number`, within
/// [`PEER_BLOCK_TIMEOUT`] and before `deadline`.
async fn next_block(
    stream: &mut crate::PeerBlockStream,
    number: u64,
    deadline: tokio::time::Instant,
) -> std::result::Result<Block, String> {
    let wait =
        deadline.saturating_duration_since(tokio::time::Instant::now()).min(PEER_BLOCK_TIMEOUT);
    match tokio::time::timeout(wait, stream.next()).await {
        Ok(Some(Ok(block))) => Ok(block),
        Ok(Some(Err(why))) => Err(why),
        Ok(None) => Err(format!("the stream ended before block {number}")),
        Err(_) => Err(format!(
            "no block {number} in time (at most {} s a block, and a minute plus 5 ms a block in all)",
            PEER_BLOCK_TIMEOUT.as_secs()
        )),
    }
}

/// `block`'s header, if it is block `number` and holds its data's hash.
fn checked_header(
    block: &Block,
    number: u64,
) -> std::result::Result<&weft_proto::v1::BlockHeader, String> {
    let header = block.header.as_ref().ok_or(format!("block {number} has no header"))?;
    if header.number != number {
        return Err(format!("block {} came where block {number} belongs", header.number));
    }
    let hash = match &block.data {
        Some(data) => data_hash(data),
        None => data_hash(&Default::default()),
    };
    if header.data_hash != hash {
        return Err(format!("block {number}'s data does not match its header's hash"));
    }
    Ok(header)
}
