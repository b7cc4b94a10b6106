//! Deliver on etcd: a stream's task range-reads `blocks/` from its next height, serves
//! heights below etcd's window from the node's block source, then watches `blocks/` from
//! the revision it read at. A watch that ends (compaction, a failed member) goes back to a
//! range read; etcd failures are retried with a pause, so a stream outlives a failed member
//! or a leader change.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use etcd_client::{
    EventType, GetOptions, KeyValue, TxnOp, TxnOpResponse, WatchFilterType, WatchOptions,
};
use prost::Message;
use tokio::sync::mpsc;
use weft_proto::v1::{Block, BlockMetadata};

use super::orderer::{Backoff, Inner, within};
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
    let mut stream = Follower { inner, next: from, blocks, first: true };
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
}

impl Follower {
    fn timeout(&self) -> Duration {
        Duration::from_millis(self.inner.etcd.timeout_ms.max(1))
    }

    /// Whether the stream is over: closed and all blocks up to the end height sent.
    fn ended(&self) -> bool {
        matches!(*self.inner.end.borrow(), Some(end) if self.next >= end)
    }

    async fn send(&mut self, block: Block) -> std::result::Result<(), Stop> {
        if self.blocks.send(Ok(block)).await.is_err() {
            return Err(Stop::Done);
        }
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
            let height = match tip.kvs().first() {
                Some(kv) => self.inner.decode_tip(kv.value())?.height,
                // No chain yet: the first leader starts it after the node's own blocks.
                None => self.inner.source.height(),
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
                let block = self.read_source(self.next, below)?;
                self.send(block).await?;
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
