//! The committer: consumes the orderer's blocks on a thread of its own, commits them with
//! one long-running call of the ledger's pipelined [`Ledger::append_all`] over the orderer's
//! stream, and tells whoever waits for a transaction (commit status) how it ended.

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};

use tokio::sync::{oneshot, watch};
use weft_ledger::{BlockOutcome, Ledger};
use weft_proto::v1::{Conflict, TxValidationCode};

use crate::error::{Error, Result};
use crate::orderer::CutBlock;

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
    pub fn submitting(&self, tx_id: &str) -> Result<()> {
        let mut waiting = self.waiting.lock().expect("notifier lock");
        if waiting.stopped {
            return Err(Error::ShuttingDown);
        }
        if waiting.in_flight.contains(tx_id) || self.ledger.contains_tx_id(tx_id)? {
            return Err(Error::DuplicateTx(tx_id.to_string()));
        }
        waiting.in_flight.insert(tx_id.to_string());
        Ok(())
    }

    /// Forgets an in-flight id whose submission failed.
    pub fn abandon(&self, tx_id: &str) {
        self.waiting.lock().expect("notifier lock").in_flight.remove(tx_id);
    }

    /// The status of `tx_id` once it is committed (at once if it already is).
    pub async fn wait(&self, tx_id: &str) -> Result<TxStatus> {
        let answer = {
            let mut waiting = self.waiting.lock().expect("notifier lock");
            // Under the lock: the committer notifies after the ledger has the block, so
            // either the ledger has it now or the notification comes after we registered.
            if let Some(status) = self.committed_status(tx_id)? {
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

    fn committed(&self, block: &BlockOutcome, tx_ids: &[String]) {
        if let Some(height) = self.height.lock().expect("height lock").as_ref() {
            height.send_replace(block.number + 1);
        }
        let mut waiting = self.waiting.lock().expect("notifier lock");
        for (index, (tx_id, code)) in tx_ids.iter().zip(&block.codes).enumerate() {
            waiting.in_flight.remove(tx_id);
            let Some(waiters) = waiting.waiters.remove(tx_id) else { continue };
            // A repeated id is recorded at its indexed occurrence: ask the ledger.
            let status = match self.committed_status(tx_id) {
                Ok(Some(status)) => status,
                _ => TxStatus {
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
                },
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

/// How often an idle committer looks whether the ledger halted.
pub const HALT_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// Observes every committed block (metrics, logs).
pub type OnBlock = Box<dyn FnMut(&BlockOutcome) + Send>;

/// Commits `blocks` until the orderer drops its sink (or a storage failure), notifying
/// waiters. Runs on the calling thread.
///
/// The orderer's stream goes through one [`Ledger::append_all`] pipeline for as long as the
/// node runs: the stateless checks of one block overlap the previous block's MVCC checks and
/// sync, and a block is reported (its waiters notified) as soon as it is durable, whether or
/// not the next block has arrived. When the orderer closes (graceful shutdown), the stream
/// ends after the last block it cut, which is committed before this returns. After a ledger
/// failure the pipeline returns once its stream yields or ends: at the next block, or within
/// [`HALT_POLL`] if the ledger halted (a failed write or sync), and then waiters are told the
/// node is shutting down.
pub fn run(
    ledger: &Ledger,
    blocks: Receiver<CutBlock>,
    notifier: &CommitNotifier,
    mut on_block: OnBlock,
) -> Result<()> {
    // The ids of each block go from the checking thread, which takes blocks off the stream,
    // to the calling thread, which reports them; blocks are reported in stream order.
    let (ids_of, ids) = std::sync::mpsc::channel::<(u64, Vec<String>)>();
    // An idle stream looks up now and then whether the ledger halted, and then ends, so that
    // the pipeline returns and waiters hear at once rather than at the next block.
    let stream = std::iter::from_fn(move || {
        loop {
            match blocks.recv_timeout(HALT_POLL) {
                Ok(cut) => return Some(cut),
                Err(RecvTimeoutError::Timeout) if !ledger.is_halted() => {}
                Err(_) => return None,
            }
        }
    })
    .map(move |cut| {
        let number = cut.block.header.as_ref().map_or(0, |h| h.number);
        let _ = ids_of.send((number, cut.tx_ids));
        cut.block
    });
    let result = ledger.append_all(stream, |committed| {
        let tx_ids = ids
            .try_iter()
            .find(|(number, _)| *number == committed.number)
            .map(|(_, tx_ids)| tx_ids)
            .unwrap_or_default();
        tracing::info!(
            number = committed.number,
            txs = committed.codes.len(),
            valid = committed.codes.iter().filter(|c| **c == TxValidationCode::Valid).count(),
            "block committed"
        );
        on_block(&committed);
        notifier.committed(&committed, &tx_ids);
    });
    notifier.stop();
    if let Err(e) = &result {
        tracing::error!(error = %e, "the committer stopped: the ledger failed");
    }
    Ok(result?)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use weft_proto::v1::{KvWrite, NsReadWriteSet};
    use weft_protocol::block::{header_hash, new_block};
    use weft_protocol::policy;
    use weft_protocol::testing::{TestNetwork, TxSpec};

    use super::*;

    #[test]
    fn waiters_hear_of_a_block_while_the_orderer_is_idle_and_of_the_last_one_at_close() {
        let net = TestNetwork::new("ch1", 1, &[("kv", policy::peer("Org1"))]);
        let dir = tempfile::tempdir().unwrap();
        let ledger = Arc::new(Ledger::open(dir.path(), net.config.clone()).unwrap());
        let notifier = Arc::new(CommitNotifier::new(ledger.clone()));
        let (sink, blocks) = std::sync::mpsc::sync_channel(8);
        let committer = {
            let (ledger, notifier) = (ledger.clone(), notifier.clone());
            std::thread::spawn(move || run(&ledger, blocks, &notifier, Box::new(|_| {})))
        };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let (mut height, mut tip) = (0, Vec::new());
        let mut cut = |nonce: &str| {
            let org = net.org(0);
            let rwset = NsReadWriteSet {
                namespace: "kv".into(),
                writes: vec![KvWrite { key: nonce.into(), is_delete: false, value: b"v".to_vec() }],
                ..Default::default()
            };
            let spec = TxSpec::new(&org.client, "kv", nonce, rwset, vec![&org.peer]);
            let (tx_id, envelope) = net.envelope(spec);
            notifier.submitting(&tx_id).unwrap();
            let block = new_block(height, std::mem::take(&mut tip), vec![envelope]);
            tip = header_hash(block.header.as_ref().unwrap()).to_vec();
            height += 1;
            sink.send(CutBlock { block, tx_ids: vec![tx_id.clone()] }).unwrap();
            tx_id
        };
        // One block, then the orderer is idle (its sink stays open): the waiter still hears.
        let first = cut("first");
        let waited = runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), notifier.wait(&first)).await
        });
        let status = waited.expect("no status while the orderer was idle").unwrap();
        assert_eq!((status.code, status.block_number), (TxValidationCode::Valid, 0));
        // The orderer cuts its last block and closes: it is committed before `run` returns.
        let last = cut("last");
        drop(sink);
        committer.join().unwrap().unwrap();
        let status = notifier.committed_status(&last).unwrap().expect("the last block commits");
        assert_eq!(status.block_number, 1);
        assert_eq!(ledger.chain_info().height, 2);
        assert!(notifier.subscribe().is_none(), "the notifier stops with the committer");
    }
}
