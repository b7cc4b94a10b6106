//! The committer: consumes the orderer's blocks on a thread of its own, commits them with
//! the ledger's pipelined [`Ledger::append_all`], and tells whoever waits for a transaction
//! (commit status) how it ended.

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};

use tokio::sync::{oneshot, watch};
use weft_ledger::{CommittedBlock, Ledger};
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
        let Some(record) = self.ledger.transaction(tx_id)? else { return Ok(None) };
        let conflicts = self.ledger.conflicts_of(tx_id)?;
        Ok(Some(TxStatus {
            tx_id: tx_id.to_string(),
            code: record.location.code,
            block_number: record.location.block_number,
            conflicts,
        }))
    }

    fn committed(&self, block: &CommittedBlock, tx_ids: &[String]) {
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

/// Observes every committed block (metrics, logs).
pub type OnBlock = Box<dyn FnMut(&CommittedBlock) + Send>;

/// Commits `blocks` until the orderer drops its sink (or a storage failure), notifying
/// waiters. Runs on the calling thread.
///
/// Blocks already queued are committed together through the ledger's pipeline
/// ([`Ledger::append_all`]: stateless checks of one block overlap the previous block's MVCC
/// checks and sync). The pipeline reports a block once it is durable *and* the stream moved
/// on, so each call gets only the blocks queued now, and an idle node answers at once.
pub fn run(
    ledger: &Ledger,
    blocks: Receiver<CutBlock>,
    notifier: &CommitNotifier,
    mut on_block: OnBlock,
) -> Result<()> {
    let mut result = Ok(());
    while let Ok(first) = blocks.recv() {
        let queued: Vec<CutBlock> = std::iter::once(first).chain(blocks.try_iter()).collect();
        let mut ids: HashMap<u64, Vec<String>> = HashMap::new();
        let stream: Vec<_> = queued
            .into_iter()
            .map(|cut| {
                let number = cut.block.header.as_ref().map_or(0, |h| h.number);
                ids.insert(number, cut.tx_ids);
                cut.block
            })
            .collect();
        result = ledger.append_all(stream, |committed| {
            let tx_ids = ids.remove(&committed.number).unwrap_or_default();
            tracing::info!(
                number = committed.number,
                txs = committed.codes.len(),
                valid = committed.codes.iter().filter(|c| **c == TxValidationCode::Valid).count(),
                "block committed"
            );
            on_block(&committed);
            notifier.committed(&committed, &tx_ids);
        });
        if result.is_err() {
            break;
        }
    }
    notifier.stop();
    if let Err(e) = &result {
        tracing::error!(error = %e, "the committer stopped: the ledger failed");
    }
    Ok(result?)
}
