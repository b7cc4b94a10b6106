//! The embedded single-node orderer: the [`BlockCutter`] driven by a thread that owns the
//! batch timer, and a bounded window of the blocks it cut, from which [`Orderer::deliver`]
//! serves every stream.
//!
//! **What it holds.** The last [`SoloConfig::window`] blocks it cut, in memory. A block
//! leaves the window only once the [`BlockSource`] holds it (the node's ledger committed
//! it); heights below the window are read from the source. So nothing is stored twice for
//! long, and a stream may start at any height from 0 to the orderer's height.
//!
//! **Backpressure.** If the window is full of blocks the source does not hold yet (the
//! committer is a whole window behind), the cutter waits before adding the next block,
//! looking at the source's height every [`SOURCE_POLL`]; meanwhile envelopes queue, and
//! once `queue` wait, [`Orderer::broadcast`] refuses with [`Error::Overloaded`].
//!
//! **Waking the cutter.** Broadcasts queue in an inbox that wakes the cutting thread only
//! when it must act: a batch starts, or may be complete; otherwise it takes what waits when
//! its batch timer fires (`inbox`). The blocks cut are the same as if it took each envelope
//! as it came.
//!
//! **Closing.** [`Orderer::close`] refuses further envelopes; the thread cuts what is queued
//! and pending without waiting for room (those envelopes are in memory already), then every
//! stream ends after the last block.
//!
//! **Deliver beyond the tip.** A stream from the orderer's height waits for the next block.
//! A stream from beyond it fails at once with [`Error::BeyondTip`]: this orderer numbers
//! blocks from the chain tip it started at, so a consumer ahead of it would never get its
//! next block (it is wired to a different chain).

mod inbox;

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use weft_proto::v1::{Block, BlockMetadata};
use weft_protocol::block::{header_hash, new_block};

use crate::cutter::{Batch, BatchConfig, BlockCutter, check_size};
use crate::error::{Error, Result};
use crate::orderer::{BlockSource, BlockStream, Broadcast, Orderer};
use inbox::{Inbox, Take};

/// Blocks kept in memory by default: a committer this far behind makes the cutter wait.
pub const DEFAULT_WINDOW: usize = 16;

/// The largest envelope accepted by default (Fabric's default `AbsoluteMaxBytes`, 10 MB).
pub const DEFAULT_ABSOLUTE_MAX_BYTES: usize = 10 << 20;

/// How often a cutter whose window is full of blocks the source does not hold yet looks
/// again at the source's height.
pub const SOURCE_POLL: Duration = Duration::from_millis(2);

/// How the solo orderer cuts and what it keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SoloConfig {
    /// Block cutting and the queue (the node's `[orderer]` section).
    pub batch: BatchConfig,
    /// The largest envelope [`Orderer::broadcast`] accepts (Fabric's `AbsoluteMaxBytes`).
    pub absolute_max_bytes: usize,
    /// Blocks kept in memory (at least 1); see the [module](self).
    pub window: usize,
}

impl SoloConfig {
    /// `batch` with the default absolute max and window.
    pub fn new(batch: BatchConfig) -> SoloConfig {
        SoloConfig { batch, absolute_max_bytes: DEFAULT_ABSOLUTE_MAX_BYTES, window: DEFAULT_WINDOW }
    }
}

/// The embedded single-node orderer.
#[derive(Debug)]
pub struct SoloOrderer {
    inbox: Arc<Inbox>,
    chain: Arc<Chain>,
    absolute_max_bytes: usize,
}

/// The blocks cut, shared by the cutting thread and the streams.
#[derive(Debug)]
struct Chain {
    window: Mutex<Window>,
    /// Wakes a cutter waiting for room when the orderer closes.
    room: Condvar,
    /// The number of blocks cut, bumped for every block and when the cutter ends.
    cut: watch::Sender<u64>,
    source: Arc<dyn BlockSource>,
    capacity: usize,
}

#[derive(Debug)]
struct Window {
    /// The number of the first block held.
    first: u64,
    blocks: VecDeque<Block>,
    closing: bool,
    /// The cutter finished: no block will follow the last one held.
    ended: bool,
}

impl Window {
    fn height(&self) -> u64 {
        self.first + self.blocks.len() as u64
    }
}

impl SoloOrderer {
    /// Starts cutting blocks after the chain tip (`height` blocks, the last one's header
    /// hash `tip_hash`), on a thread of its own; blocks below `height` are read from
    /// `source`. Returns the orderer and its thread, which ends after [`Orderer::close`]
    /// once the last block is cut.
    pub fn start(
        config: SoloConfig,
        height: u64,
        tip_hash: Vec<u8>,
        source: Arc<dyn BlockSource>,
    ) -> Result<(SoloOrderer, std::thread::JoinHandle<()>)> {
        let inbox = Arc::new(Inbox::new(&config.batch));
        let chain = Arc::new(Chain {
            window: Mutex::new(Window {
                first: height,
                blocks: VecDeque::new(),
                closing: false,
                ended: false,
            }),
            room: Condvar::new(),
            cut: watch::Sender::new(height),
            source,
            capacity: config.window.max(1),
        });
        let cutting = chain.clone();
        let taking = inbox.clone();
        let batch = config.batch;
        let thread = std::thread::Builder::new()
            .name("weft-orderer".into())
            .spawn(move || cutting.cut_blocks(batch, height, tip_hash, &taking))
            .map_err(Error::Start)?;
        let orderer = SoloOrderer { inbox, chain, absolute_max_bytes: config.absolute_max_bytes };
        Ok((orderer, thread))
    }

    fn enqueue(&self, envelope: Vec<u8>) -> Result<()> {
        check_size(envelope.len(), self.absolute_max_bytes)?;
        self.inbox.push(envelope)
    }
}

impl Orderer for SoloOrderer {
    fn broadcast(&self, envelope: Vec<u8>) -> Broadcast<'_> {
        Box::pin(std::future::ready(self.enqueue(envelope)))
    }

    fn deliver(&self, from: u64) -> BlockStream {
        let heights = self.chain.cut.subscribe();
        let start = (self.chain.clone(), heights, from);
        Box::pin(futures_util::stream::unfold(Some(start), |state| async move {
            let (chain, mut heights, number) = state?;
            match chain.block(number, &mut heights).await {
                Ok(Some(block)) => Some((Ok(block), Some((chain, heights, number + 1)))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        }))
    }

    fn close(&self) {
        self.inbox.close();
        self.chain.lock().closing = true;
        self.chain.room.notify_all();
    }
}

impl Drop for SoloOrderer {
    /// The cutting thread cuts what is queued and pending, then returns.
    fn drop(&mut self) {
        self.inbox.close();
    }
}

/// Ends the streams, and refuses further envelopes, when the cutting thread returns, or
/// panics.
struct EndOnDrop<'a>(&'a Chain, &'a Inbox);

impl Drop for EndOnDrop<'_> {
    fn drop(&mut self) {
        self.1.close();
        let height = {
            let mut window = self.0.lock();
            window.ended = true;
            window.height()
        };
        self.0.cut.send_replace(height);
    }
}

impl Chain {
    fn lock(&self) -> MutexGuard<'_, Window> {
        // A panic while holding the lock leaves the window consistent (each change is one
        // step), so a poisoned lock is used as is.
        self.window.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cutting thread: the batch timer runs from a batch's first envelope. It takes the
    /// envelopes waiting in `inbox` when woken (see [`inbox`]) and cuts them in order.
    fn cut_blocks(&self, batch: BatchConfig, mut height: u64, mut tip: Vec<u8>, inbox: &Inbox) {
        let _end = EndOnDrop(self, inbox);
        let mut cutter = BlockCutter::new(&batch);
        let mut deadline: Option<Instant> = None;
        loop {
            let (envelopes, last) = match inbox.take(deadline, cutter.pending()) {
                Take::Envelopes(envelopes) => (envelopes, false),
                Take::Closed(envelopes) => (envelopes, true),
                Take::Timeout => {
                    deadline = None;
                    self.publish(cutter.cut(), &mut height, &mut tip);
                    continue;
                }
            };
            for envelope in envelopes {
                let (batches, pending) = cutter.ordered(envelope);
                // A batch cut now leaves at most this envelope pending: its timer starts.
                let restart = !batches.is_empty();
                for batch in batches {
                    self.publish(batch, &mut height, &mut tip);
                }
                deadline = match (pending, deadline) {
                    (false, _) => None,
                    (true, Some(at)) if !restart => Some(at),
                    (true, _) => Some(Instant::now() + batch.timeout()),
                };
            }
            if last {
                self.publish(cutter.cut(), &mut height, &mut tip);
                return;
            }
        }
    }

    /// Makes a block of `envelopes` (none: nothing) over the tip and adds it to the window,
    /// first waiting for room unless closing.
    fn publish(&self, envelopes: Batch, height: &mut u64, tip: &mut Vec<u8>) {
        if envelopes.is_empty() {
            return;
        }
        let block = new_block(*height, std::mem::take(tip), envelopes);
        *tip = header_hash(block.header.as_ref().expect("new blocks have a header")).to_vec();
        *height += 1;
        tracing::debug!(number = *height - 1, "block cut");
        let mut window = self.lock();
        while window.blocks.len() >= self.capacity {
            let durable = self.source.height();
            while window.blocks.len() >= self.capacity && window.first < durable {
                window.blocks.pop_front();
                window.first += 1;
            }
            if window.blocks.len() < self.capacity || window.closing {
                break;
            }
            window = match self.room.wait_timeout(window, SOURCE_POLL) {
                Ok((window, _)) => window,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        window.blocks.push_back(block);
        let cut = window.height();
        drop(window);
        self.cut.send_replace(cut);
    }

    /// Block `number`: from the window, from the source below it, or the next one cut;
    /// `None` once the cutter ended before it.
    async fn block(
        &self,
        number: u64,
        heights: &mut watch::Receiver<u64>,
    ) -> Result<Option<Block>> {
        loop {
            // Marks the current height seen: a block cut after the look below wakes us.
            heights.borrow_and_update();
            {
                let window = self.lock();
                if number < window.first {
                    drop(window);
                    return self.read_source(number).map(Some);
                }
                if number < window.height() {
                    return Ok(Some(window.blocks[(number - window.first) as usize].clone()));
                }
                if number > window.height() {
                    return Err(Error::BeyondTip { from: number, height: window.height() });
                }
                if window.ended {
                    return Ok(None);
                }
            }
            if heights.changed().await.is_err() {
                return Ok(None); // unreachable while `self` holds the sender
            }
        }
    }

    fn read_source(&self, number: u64) -> Result<Block> {
        let block = self.source.block(number).map_err(|cause| Error::Source { number, cause })?;
        let mut block = block.ok_or(Error::Missing(number))?;
        block.metadata = Some(BlockMetadata::default());
        Ok(block)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures_util::{FutureExt, StreamExt};

    use super::*;

    /// A block store in memory that counts its reads.
    #[derive(Debug, Default)]
    struct Store {
        blocks: Mutex<Vec<Block>>,
        reads: AtomicUsize,
    }

    impl Store {
        /// Stores `block` as a committing peer would, with metadata of its own.
        fn commit(&self, mut block: Block) {
            block.metadata = Some(BlockMetadata { commit_hash: vec![7; 32], ..Default::default() });
            self.blocks.lock().unwrap().push(block);
        }
    }

    impl BlockSource for Store {
        fn height(&self) -> u64 {
            self.blocks.lock().unwrap().len() as u64
        }

        fn block(
            &self,
            number: u64,
        ) -> std::result::Result<Option<Block>, Box<dyn std::error::Error + Send + Sync>> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            Ok(self.blocks.lock().unwrap().get(number as usize).cloned())
        }
    }

    /// One block per envelope, a batch timer that never fires in a test.
    fn one_per_block(window: usize, queue: usize) -> SoloConfig {
        let batch =
            BatchConfig { max_txs: 1, max_bytes: 1 << 20, batch_timeout_ms: 3_600_000, queue };
        SoloConfig { window, ..SoloConfig::new(batch) }
    }

    fn start(config: SoloConfig, store: &Arc<Store>) -> (SoloOrderer, std::thread::JoinHandle<()>) {
        SoloOrderer::start(config, 0, Vec::new(), store.clone()).unwrap()
    }

    /// The next block of `stream` (a failure rather than a hang if none comes).
    async fn next(stream: &mut BlockStream) -> Option<Result<Block>> {
        tokio::time::timeout(Duration::from_secs(20), stream.next()).await.expect("no block came")
    }

    fn number(block: &Block) -> u64 {
        block.header.as_ref().unwrap().number
    }

    /// Blocks `0..n`, each holding the envelope `[i]`, checked for numbering and links.
    async fn take(stream: &mut BlockStream, from: u64, n: u64) -> Vec<Block> {
        let mut blocks: Vec<Block> = Vec::new();
        for i in from..from + n {
            let block = next(stream).await.unwrap().unwrap();
            assert_eq!(number(&block), i);
            assert_eq!(block.data.as_ref().unwrap().envelopes, [vec![i as u8]]);
            assert_eq!(block.metadata, Some(BlockMetadata::default()));
            if let Some(previous) = blocks.last() {
                let hash = header_hash(previous.header.as_ref().unwrap()).to_vec();
                assert_eq!(block.header.as_ref().unwrap().previous_hash, hash);
            }
            blocks.push(block);
        }
        blocks
    }

    #[tokio::test]
    async fn delivers_from_the_start_the_middle_and_the_tip() {
        let store = Arc::new(Store::default());
        let (orderer, thread) = start(one_per_block(16, 16), &store);
        for i in 0..5u8 {
            orderer.broadcast(vec![i]).await.unwrap();
        }
        let all = take(&mut orderer.deliver(0), 0, 5).await;
        // From the middle: the same blocks.
        let mut middle = orderer.deliver(2);
        assert_eq!(take(&mut middle, 2, 3).await, all[2..]);
        // From the tip: nothing yet, then the next block as it is cut.
        let mut tip = orderer.deliver(5);
        assert!(tip.next().now_or_never().is_none(), "a block before any was cut");
        orderer.broadcast(vec![5]).await.unwrap();
        let block = take(&mut tip, 5, 1).await.remove(0);
        assert_eq!(
            block.header.as_ref().unwrap().previous_hash,
            header_hash(all[4].header.as_ref().unwrap()).to_vec()
        );
        assert_eq!(take(&mut middle, 5, 1).await[0], block);
        // Beyond the tip: an error naming both heights, then the end.
        let mut beyond = orderer.deliver(7);
        match next(&mut beyond).await {
            Some(Err(Error::BeyondTip { from: 7, height: 6 })) => {}
            other => panic!("{other:?}"),
        }
        assert!(next(&mut beyond).await.is_none());
        assert_eq!(store.reads.load(Ordering::SeqCst), 0, "all from memory");
        orderer.close();
        assert!(next(&mut tip).await.is_none(), "streams end when the orderer closes");
        thread.join().unwrap();
    }

    #[tokio::test]
    async fn below_the_window_blocks_come_from_the_source() {
        let store = Arc::new(Store::default());
        let (orderer, thread) = start(one_per_block(2, 16), &store);
        // A committer: follows from 0 and stores each block, so the window can move on.
        let mut committer = orderer.deliver(0);
        let mut first = Vec::new();
        for i in 0..6u8 {
            orderer.broadcast(vec![i]).await.unwrap();
            let block = take(&mut committer, u64::from(i), 1).await.remove(0);
            store.commit(block.clone());
            first.push(block);
        }
        // The seventh block pushes out all but the two newest (blocks 5 and 6) stored.
        orderer.broadcast(vec![6]).await.unwrap();
        first.extend(take(&mut committer, 6, 1).await);
        let again = take(&mut orderer.deliver(0), 0, 7).await;
        assert_eq!(again, first, "as cut, without the source's metadata");
        assert_eq!(store.reads.load(Ordering::SeqCst), 5, "blocks 0..5 from the source");
        orderer.close();
        thread.join().unwrap();
    }

    #[tokio::test]
    async fn a_full_window_holds_the_cutter_and_the_queue_sheds_load_until_close() {
        let store = Arc::new(Store::default());
        // Nobody stores the blocks: after two the window is full and the cutter waits.
        let (orderer, thread) = start(one_per_block(2, 1), &store);
        let mut accepted = 0u8;
        let refused = loop {
            // At most two blocks, one envelope in the cutter's hands and one queued pass.
            assert!(accepted < 5, "never refused");
            match orderer.broadcast(vec![accepted]).await {
                Ok(()) => accepted += 1,
                Err(e) => break e,
            }
        };
        assert!(matches!(refused, Error::Overloaded(_)), "{refused}");
        // Closing cuts everything accepted, beyond the window, and ends the streams.
        orderer.close();
        assert!(matches!(orderer.broadcast(vec![9]).await, Err(Error::ShuttingDown)));
        let mut stream = orderer.deliver(0);
        take(&mut stream, 0, u64::from(accepted)).await;
        assert!(next(&mut stream).await.is_none());
        thread.join().unwrap();
    }

    #[tokio::test]
    async fn the_timer_and_close_cut_what_is_pending() {
        let store = Arc::new(Store::default());
        let batch = BatchConfig { max_txs: 10, max_bytes: 1 << 20, batch_timeout_ms: 1, queue: 16 };
        let (orderer, thread) = start(SoloConfig::new(batch), &store);
        let mut stream = orderer.deliver(0);
        orderer.broadcast(vec![0]).await.unwrap();
        // Alone, the envelope is cut when its batch timer fires.
        take(&mut stream, 0, 1).await;
        // An hour-long timer: only close cuts the next one.
        drop(orderer);
        let batch = BatchConfig { batch_timeout_ms: 3_600_000, ..batch };
        let (orderer, thread2) =
            SoloOrderer::start(SoloConfig::new(batch), 0, Vec::new(), store.clone()).unwrap();
        thread.join().unwrap();
        let mut stream = orderer.deliver(0);
        orderer.broadcast(vec![0]).await.unwrap();
        orderer.close();
        take(&mut stream, 0, 1).await;
        assert!(next(&mut stream).await.is_none());
        thread2.join().unwrap();
    }

    #[tokio::test]
    async fn envelopes_past_the_absolute_max_are_refused() {
        let store = Arc::new(Store::default());
        let config = SoloConfig { absolute_max_bytes: 4, ..one_per_block(2, 2) };
        let (orderer, thread) = start(config, &store);
        assert!(matches!(
            orderer.broadcast(vec![0; 5]).await,
            Err(Error::TooLarge { size: 5, max: 4 })
        ));
        orderer.broadcast(vec![0; 4]).await.unwrap();
        orderer.close();
        thread.join().unwrap();
    }
}
