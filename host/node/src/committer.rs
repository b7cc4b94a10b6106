//! The committer: follows the orderer from the ledger's height on a thread of its own
//! ([`run`]), commits its blocks with one long-running call of the ledger's pipelined
//! [`Ledger::append_all`], and tells whoever waits for a transaction (commit status) how it
//! ended. [`LedgerBlocks`] lends the ledger's block store to the orderer, which reads there
//! the blocks it no longer keeps.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};
use weft_ledger::{BlockOutcome, Ledger};
use weft_orderer::{BlockSource, BlockStream, Orderer};
use weft_proto::v1::{Block, Conflict, TxValidationCode};

use crate::error::{Error, Result};

/// How a committed transaction ended.
#[derive(Clone, Debug, PartialEq)]
pub struct TxStatus {
    /// The transaction id.
    pub tx_id: String,
    /// Its validation code.
    pub code: TxValidationCode,
    /// The block it is in.
    pub block_number: u64,
    /// That block's header hash.
    pub block_hash: [u8; 32],
    /// For MVCC and phantom conflicts: the key (or range) and versions.
    pub conflicts: Vec<Conflict>,
}

#[derive(Debug, Default)]
struct Waiting {
    waiters: HashMap<String, Vec<oneshot::Sender<TxStatus>>>,
    in_flight: HashSet<String>,
    stopped: bool,
}

/// Transactions submitted and not yet committed, and who waits for them.
#[derive(Debug)]
pub struct CommitNotifier {
    ledger: Arc<Ledger>,
    waiting: Mutex<Waiting>,
    /// The durable height, for block and event streams; dropped at stop, which ends them.
    height: Mutex<Option<watch::Sender<u64>>>,
}

impl CommitNotifier {
    /// A notifier over `ledger`.
    pub fn new(ledger: Arc<Ledger>) -> CommitNotifier {
        let height = watch::Sender::new(ledger.chain_info().height);
        CommitNotifier {
            ledger,
            waiting: Mutex::new(Waiting::default()),
            height: Mutex::new(Some(height)),
        }
    }

    /// Follows the committed height; `None` once the committer stopped. The receiver's
    /// `changed` fails when it stops.
    pub fn subscribe(&self) -> Option<watch::Receiver<u64>> {
        self.height.lock().expect("height lock").as_ref().map(watch::Sender::subscribe)
    }

    /// Records that `tx_id` goes to ordering; fails if it is committed or already in flight.
    /// The id is forgotten again when the returned guard is dropped, unless ordering
    /// [`Submitting::accepted`] it: a broadcast that fails, or whose caller goes away while
    /// it waits, leaves no id stuck in flight.
    pub fn submitting<'a>(&'a self, tx_id: &'a str) -> Result<Submitting<'a>> {
        let mut waiting = self.waiting.lock().expect("notifier lock");
        if waiting.stopped {
            return Err(Error::ShuttingDown);
        }
        if waiting.in_flight.contains(tx_id) || self.ledger.contains_tx_id(tx_id)? {
            return Err(Error::DuplicateTx(tx_id.to_string()));
        }
        waiting.in_flight.insert(tx_id.to_string());
        Ok(Submitting { notifier: self, tx_id, accepted: false })
    }

    /// The status of `tx_id` once it is committed (at once if it already is). A caller that
    /// goes away before then leaves nothing behind (see [`Forget`]).
    pub async fn wait(&self, tx_id: &str) -> Result<TxStatus> {
        // Declared first, so dropped last: after the receiver below, whose sender it finds
        // closed and removes.
        let _forget = Forget { notifier: self, tx_id };
        let answer = {
            let mut waiting = self.waiting.lock().expect("notifier lock");
            // Under the lock: the committer notifies after the ledger has the block, so
            // either the ledger has it now or the notification comes after we registered.
            // An id still in flight is not committed (the committer takes it out of flight
            // as it notifies): no need to ask the ledger.
            if !waiting.in_flight.contains(tx_id)
                && let Some(status) = self.committed_status(tx_id)?
            {
                return Ok(status);
            }
            if waiting.stopped {
                return Err(Error::ShuttingDown);
            }
            let (tx, rx) = oneshot::channel();
            waiting.waiters.entry(tx_id.to_string()).or_default().push(tx);
            rx
        };
        answer.await.map_err(|_| Error::ShuttingDown)
    }

    /// The status of `tx_id` from the ledger, if committed.
    pub fn committed_status(&self, tx_id: &str) -> Result<Option<TxStatus>> {
        let Some(outcome) = self.ledger.outcome(tx_id)? else { return Ok(None) };
        Ok(Some(TxStatus {
            tx_id: tx_id.to_string(),
            code: outcome.location.code,
            block_number: outcome.location.block_number,
            block_hash: outcome.block_hash,
            conflicts: outcome.conflicts,
        }))
    }

    fn committed(&self, block: &BlockOutcome) {
        if let Some(height) = self.height.lock().expect("height lock").as_ref() {
            height.send_replace(block.number + 1);
        }
        let mut waiting = self.waiting.lock().expect("notifier lock");
        for (index, (tx_id, code)) in block.tx_ids.iter().zip(&block.codes).enumerate() {
            if tx_id.is_empty() {
                continue;
            }
            waiting.in_flight.remove(tx_id);
            let Some(waiters) = waiting.waiters.remove(tx_id) else { continue };
            let here = || TxStatus {
                tx_id: tx_id.clone(),
                code: *code,
                block_number: block.number,
                block_hash: block.hash,
                conflicts: block
                    .conflicts
                    .iter()
                    .filter(|c| c.tx_index as usize == index)
                    .cloned()
                    .collect(),
            };
            // The ledger's record of the id, which is this occurrence's when the block
            // indexed it here. A repeated or forged id may be recorded elsewhere: ask.
            let status = if block.indexed.get(index).copied().unwrap_or(false) {
                here()
            } else {
                match self.committed_status(tx_id) {
                    Ok(Some(status)) => status,
                    _ => here(),
                }
            };
            for waiter in waiters {
                let _ = waiter.send(status.clone());
            }
        }
    }

    fn stop(&self) {
        let mut waiting = self.waiting.lock().expect("notifier lock");
        waiting.stopped = true;
        waiting.waiters.clear();
        self.height.lock().expect("height lock").take();
    }
}

/// An id on its way to ordering ([`CommitNotifier::submitting`]).
#[derive(Debug)]
pub struct Submitting<'a> {
    notifier: &'a CommitNotifier,
    tx_id: &'a str,
    accepted: bool,
}

impl Submitting<'_> {
    /// Ordering accepted the envelope: the id stays in flight until it commits.
    pub fn accepted(mut self) {
        self.accepted = true;
    }
}

impl Drop for Submitting<'_> {
    fn drop(&mut self) {
        if !self.accepted {
            let mut waiting = self.notifier.waiting.lock().expect("notifier lock");
            waiting.in_flight.remove(self.tx_id);
        }
    }
}

/// Removes the waiters of `tx_id` nobody listens to any more, when a wait ends however it
/// ends: a client that asks for the status of ids that never commit, then goes away,
/// leaves no waiter behind.
struct Forget<'a> {
    notifier: &'a CommitNotifier,
    tx_id: &'a str,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        let mut waiting = self.notifier.waiting.lock().expect("notifier lock");
        if let Some(waiters) = waiting.waiters.get_mut(self.tx_id) {
            waiters.retain(|waiter| !waiter.is_closed());
            if waiters.is_empty() {
                waiting.waiters.remove(self.tx_id);
            }
        }
    }
}

/// How often an idle committer looks whether the ledger halted.
pub const HALT_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// Observes every committed block (metrics, logs).
pub type OnBlock = Box<dyn FnMut(&BlockOutcome) + Send>;

/// The ledger's block store as the orderer's [`BlockSource`]: the blocks it committed.
#[derive(Debug)]
pub struct LedgerBlocks(pub Arc<Ledger>);

impl BlockSource for LedgerBlocks {
    fn height(&self) -> u64 {
        self.0.chain_info().height
    }

    fn block(
        &self,
        number: u64,
    ) -> std::result::Result<Option<Block>, Box<dyn std::error::Error + Send + Sync>> {
        Ok(self.0.block(number)?)
    }
}

/// Follows `orderer` from the ledger's height and commits what it delivers until the
/// orderer closes (or a ledger or orderer failure), notifying waiters. Runs on the calling
/// thread, which must not be an async runtime's worker.
///
/// It asks for `deliver(height)` with the ledger's own height, so a node that restarts, or
/// whose ledger is behind its orderer, catches up on the blocks it misses by the same path
/// it follows new ones. The stream goes through one [`Ledger::append_all`] pipeline for as
/// long as the node runs: the stateless checks of one block overlap the previous block's
/// MVCC checks and sync, and a block is reported (its waiters notified) as soon as it is
/// durable, whether or not the next block has arrived. When the orderer closes (graceful
/// shutdown), the stream ends after the last block it cut, which is committed before this
/// returns. After a ledger failure the pipeline returns once its stream yields or ends: at
/// the next block, or within [`HALT_POLL`] if the ledger halted (a failed write or sync),
/// and then waiters are told the node is shutting down. A stream that fails stops the
/// committer the same way, with the orderer's error.
pub fn run(
    ledger: &Ledger,
    orderer: &dyn Orderer,
    notifier: &CommitNotifier,
    mut on_block: OnBlock,
) -> Result<()> {
    let from = ledger.chain_info().height;
    tracing::debug!(from, "the committer follows the orderer");
    let mut blocks = orderer.deliver(from);
    let failed = Mutex::new(None::<weft_orderer::Error>);
    // An idle stream looks up now and then whether the ledger halted, and then ends, so that
    // the pipeline returns and waiters hear at once rather than at the next block.
    let stream = std::iter::from_fn(|| {
        loop {
            match next_within(&mut blocks, HALT_POLL) {
                Some(Some(Ok(block))) => return Some(block),
                Some(Some(Err(e))) => {
                    *failed.lock().expect("failure lock") = Some(e);
                    return None;
                }
                Some(None) => return None,
                None if !ledger.is_halted() => {}
                None => return None,
            }
        }
    });
    let result = ledger.append_all(stream, |committed| {
        tracing::info!(
            number = committed.number,
            txs = committed.codes.len(),
            valid = committed.codes.iter().filter(|c| **c == TxValidationCode::Valid).count(),
            "block committed"
        );
        on_block(&committed);
        notifier.committed(&committed);
    });
    notifier.stop();
    if let Err(e) = &result {
        tracing::error!(error = %e, "the committer stopped: the ledger failed");
    }
    result?;
    if let Some(e) = failed.into_inner().expect("failure lock") {
        tracing::error!(error = %e, "the committer stopped: the orderer's stream failed");
        return Err(e.into());
    }
    Ok(())
}

/// Wakes the committer's thread when the stream it polls can go on.
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// The next item of `blocks`, waiting at most `timeout` on this thread: `None` if none came
/// in time, `Some(None)` at the stream's end.
fn next_within(
    blocks: &mut BlockStream,
    timeout: Duration,
) -> Option<Option<weft_orderer::Result<Block>>> {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let deadline = Instant::now() + timeout;
    loop {
        if let Poll::Ready(item) = blocks.as_mut().poll_next(&mut context) {
            return Some(item);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        // Woken early (or spuriously): poll again.
        std::thread::park_timeout(left);
    }
}

#[cfg(test)]
mod tests {
    use weft_orderer::{BatchConfig, Broadcast, SoloConfig, SoloOrderer};
    use weft_proto::v1::{KvWrite, NsReadWriteSet};
    use weft_protocol::policy;
    use weft_protocol::testing::{TestNetwork, TxSpec};

    use super::*;

    /// An orderer that records the heights asked for and the blocks delivered.
    #[derive(Debug)]
    struct Recording {
        inner: SoloOrderer,
        asked: Mutex<Vec<u64>>,
        delivered: Arc<Mutex<Vec<u64>>>,
    }

    impl Orderer for Recording {
        fn broadcast(&self, envelope: Vec<u8>) -> Broadcast<'_> {
            self.inner.broadcast(envelope)
        }

        fn deliver(&self, from: u64) -> BlockStream {
            self.asked.lock().unwrap().push(from);
            let delivered = self.delivered.clone();
            Box::pin(tokio_stream::StreamExt::map(self.inner.deliver(from), move |block| {
                if let Ok(block) = &block {
                    delivered.lock().unwrap().push(block.header.as_ref().unwrap().number);
                }
                block
            }))
        }

        fn close(&self) {
            self.inner.close();
        }
    }

    struct Fixture {
        net: TestNetwork,
        ledger: Arc<Ledger>,
        notifier: Arc<CommitNotifier>,
        orderer: Arc<Recording>,
        orderer_thread: std::thread::JoinHandle<()>,
        runtime: tokio::runtime::Runtime,
        _dir: tempfile::TempDir,
    }

    /// A ledger and a solo orderer over it that cuts one block per envelope.
    fn fixture() -> Fixture {
        let net = TestNetwork::new("ch1", 1, &[("kv", policy::peer("Org1"))]);
        let dir = tempfile::tempdir().unwrap();
        let ledger = Arc::new(Ledger::open(dir.path(), net.config.clone()).unwrap());
        let notifier = Arc::new(CommitNotifier::new(ledger.clone()));
        let batch = BatchConfig { max_txs: 1, ..BatchConfig::default() };
        let info = ledger.chain_info();
        let source = Arc::new(LedgerBlocks(ledger.clone()));
        let (inner, orderer_thread) =
            SoloOrderer::start(SoloConfig::new(batch), info.height, info.current_hash, source)
                .unwrap();
        let orderer =
            Arc::new(Recording { inner, asked: Mutex::default(), delivered: Arc::default() });
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        Fixture { net, ledger, notifier, orderer, orderer_thread, runtime, _dir: dir }
    }

    impl Fixture {
        /// Broadcasts a transaction writing `key` and returns its id.
        fn submit(&self, key: &str) -> String {
            let org = self.net.org(0);
            let rwset = NsReadWriteSet {
                namespace: "kv".into(),
                writes: vec![KvWrite { key: key.into(), is_delete: false, value: b"v".to_vec() }],
                ..Default::default()
            };
            let spec = TxSpec::new(&org.client, "kv", key, rwset, vec![&org.peer]);
            let (tx_id, envelope) = self.net.envelope(spec);
            self.notifier.submitting(&tx_id).unwrap().accepted();
            self.runtime.block_on(self.orderer.broadcast(envelope)).unwrap();
            tx_id
        }

        /// Runs the committer on a thread; returns it and the numbers it reported.
        fn committer(&self) -> (std::thread::JoinHandle<Result<()>>, Arc<Mutex<Vec<u64>>>) {
            let reported = Arc::new(Mutex::new(Vec::new()));
            let (ledger, orderer, notifier) =
                (self.ledger.clone(), self.orderer.clone(), self.notifier.clone());
            let seen = reported.clone();
            let on_block: OnBlock = Box::new(move |b| seen.lock().unwrap().push(b.number));
            let thread = std::thread::spawn(move || run(&ledger, &*orderer, &notifier, on_block));
            (thread, reported)
        }

        fn wait(&self, tx_id: &str) -> TxStatus {
            let waited = self.runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(20), self.notifier.wait(tx_id)).await
            });
            waited.expect("no status came").unwrap()
        }
    }

    /// A client that waits for ids that never commit and goes away, or whose submission
    /// is given up, leaves nothing behind in the notifier.
    #[test]
    fn abandoned_waits_and_submissions_leave_nothing_behind() {
        let net = TestNetwork::new("ch1", 1, &[("kv", policy::peer("Org1"))]);
        let dir = tempfile::tempdir().unwrap();
        let ledger = Arc::new(Ledger::open(dir.path(), net.config.clone()).unwrap());
        let notifier = CommitNotifier::new(ledger);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        for i in 0..100 {
            let id = format!("{i:064x}");
            let waited = runtime.block_on(async {
                tokio::time::timeout(Duration::from_millis(1), notifier.wait(&id)).await
            });
            assert!(waited.is_err(), "nothing commits");
        }
        drop(notifier.submitting("given-up").unwrap());
        let accepted = notifier.submitting("accepted").unwrap();
        accepted.accepted();
        let waiting = notifier.waiting.lock().unwrap();
        assert!(waiting.waiters.is_empty(), "{} waiters left", waiting.waiters.len());
        assert_eq!(waiting.in_flight.iter().collect::<Vec<_>>(), ["accepted"]);
    }

    #[test]
    fn waiters_hear_of_a_block_while_the_orderer_is_idle_and_of_the_last_one_at_close() {
        let f = fixture();
        let (committer, _) = f.committer();
        // One block, then the orderer is idle (its streams stay open): the waiter still hears.
        let first = f.submit("first");
        let status = f.wait(&first);
        assert_eq!((status.code, status.block_number), (TxValidationCode::Valid, 0));
        // The orderer cuts its last block and closes: it is committed before `run` returns.
        let last = f.submit("last");
        f.orderer.close();
        committer.join().unwrap().unwrap();
        let status = f.notifier.committed_status(&last).unwrap().expect("the last block commits");
        assert_eq!(status.block_number, 1);
        assert_eq!(f.ledger.chain_info().height, 2);
        assert!(f.notifier.subscribe().is_none(), "the notifier stops with the committer");
        f.orderer_thread.join().unwrap();
    }

    #[test]
    fn a_committer_ahead_of_its_orderer_stops_naming_both_heights() {
        let f = fixture();
        // The ledger has two blocks the orderer (started on the empty ledger) never cut.
        for i in 0..2 {
            let block = f.ledger.next_block(vec![format!("e{i}").into_bytes()]);
            f.ledger.append(block).unwrap();
        }
        let (committer, reported) = f.committer();
        match committer.join().unwrap() {
            Err(Error::Orderer(weft_orderer::Error::BeyondTip { from: 2, height: 0 })) => {}
            other => panic!("{other:?}"),
        }
        assert!(reported.lock().unwrap().is_empty());
        assert!(f.notifier.subscribe().is_none(), "waiters are told the node stops");
        f.orderer.close();
        f.orderer_thread.join().unwrap();
    }

    #[test]
    fn a_committer_on_a_ledger_at_height_h_asks_for_and_receives_blocks_from_h() {
        let f = fixture();
        let ids: Vec<String> = (0..5).map(|i| f.submit(&format!("k{i}"))).collect();
        // The ledger gets the first two blocks by itself (as a node that stopped after
        // block 1 would have them); the orderer has cut five.
        f.runtime.block_on(async {
            let mut stream = f.orderer.inner.deliver(0);
            for _ in 0..2 {
                let block = tokio_stream::StreamExt::next(&mut stream).await.unwrap().unwrap();
                f.ledger.append(block).unwrap();
            }
        });
        let (committer, reported) = f.committer();
        let status = f.wait(&ids[4]);
        assert_eq!((status.code, status.block_number), (TxValidationCode::Valid, 4));
        f.orderer.close();
        committer.join().unwrap().unwrap();
        assert_eq!(*f.orderer.asked.lock().unwrap(), [2], "it asks from its own height");
        assert_eq!(*f.orderer.delivered.lock().unwrap(), [2, 3, 4]);
        assert_eq!(*reported.lock().unwrap(), [2, 3, 4]);
        assert_eq!(f.ledger.chain_info().height, 5);
        for (i, id) in ids.iter().enumerate() {
            let status = f.notifier.committed_status(id).unwrap().unwrap();
            assert_eq!(status.block_number, i as u64, "{id}");
        }
        f.orderer_thread.join().unwrap();
    }
}
