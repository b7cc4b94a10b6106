//! The block cutter, in the shape of Fabric's `orderer/common/blockcutter`: envelopes in,
//! batches (the envelopes of one block) out. It is pure: no clock, no I/O, no threads. The
//! batch timeout belongs to its caller, which starts a timer when [`BlockCutter::ordered`]
//! says a batch is pending and calls [`BlockCutter::cut`] when it fires.
//!
//! The rules, Fabric's `BatchSize` as [`BatchConfig`] names them:
//!
//! * **Count**: a batch is cut once it holds `max_txs` envelopes.
//! * **Bytes** (Fabric's `PreferredMaxBytes`): an envelope that would take the pending batch
//!   past `max_bytes` cuts the pending batch first and starts the next one; a batch that
//!   reaches `max_bytes` exactly is cut at once.
//! * **Oversize**: an envelope larger than `max_bytes` cuts what is pending, then goes into
//!   a batch of its own.
//! * **Absolute max** (Fabric's `AbsoluteMaxBytes`): checked at admission, before an
//!   envelope reaches the cutter ([`check_size`]); the cutter never refuses an envelope.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The envelopes of one block, in order.
pub type Batch = Vec<Vec<u8>>;

/// Fabric's `BatchSize` and `BatchTimeout` (the node's `[orderer]` section): a block is cut
/// when it holds `max_txs` transactions, when adding one more would pass `max_bytes`, or
/// `batch_timeout_ms` after its first transaction arrived.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct BatchConfig {
    /// Most transactions per block.
    pub max_txs: usize,
    /// Most bytes of envelopes per block (a single larger envelope gets a block of its own).
    pub max_bytes: usize,
    /// Longest wait from a block's first transaction to its cut, in milliseconds.
    pub batch_timeout_ms: u64,
    /// Envelopes waiting for ordering before submissions are refused (load shedding).
    pub queue: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig { max_txs: 500, max_bytes: 4 << 20, batch_timeout_ms: 20, queue: 10_000 }
    }
}

impl BatchConfig {
    /// The batch timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.batch_timeout_ms)
    }
}

/// Refuses an envelope of `size` bytes larger than `absolute_max_bytes` (Fabric's
/// `AbsoluteMaxBytes`, checked by its broadcast filters before ordering).
pub fn check_size(size: usize, absolute_max_bytes: usize) -> Result<()> {
    if size > absolute_max_bytes {
        return Err(Error::TooLarge { size, max: absolute_max_bytes });
    }
    Ok(())
}

/// Cuts envelopes into batches by count and bytes; see the [module](self) for the rules.
#[derive(Debug)]
pub struct BlockCutter {
    max_txs: usize,
    max_bytes: usize,
    pending: Batch,
    pending_bytes: usize,
}

impl BlockCutter {
    /// A cutter with `config`'s count and byte limits (a `max_txs` of 0 counts as 1).
    pub fn new(config: &BatchConfig) -> BlockCutter {
        BlockCutter {
            max_txs: config.max_txs.max(1),
            max_bytes: config.max_bytes,
            pending: Vec::new(),
            pending_bytes: 0,
        }
    }

    /// Adds `envelope`; returns the batches it completed (zero, one or two, in order) and
    /// whether envelopes are still pending (then the caller's batch timer should run; when
    /// none are, it should stop).
    pub fn ordered(&mut self, envelope: Vec<u8>) -> (Vec<Batch>, bool) {
        let size = envelope.len();
        let mut batches = Vec::new();
        if size > self.max_bytes {
            if !self.pending.is_empty() {
                batches.push(self.cut());
            }
            batches.push(vec![envelope]);
            return (batches, false);
        }
        if !self.pending.is_empty() && self.pending_bytes + size > self.max_bytes {
            batches.push(self.cut());
        }
        self.pending.push(envelope);
        self.pending_bytes += size;
        if self.pending.len() >= self.max_txs || self.pending_bytes >= self.max_bytes {
            batches.push(self.cut());
        }
        (batches, !self.pending.is_empty())
    }

    /// Cuts the pending batch (empty if nothing is pending): for the batch timeout and for
    /// closing.
    pub fn cut(&mut self) -> Batch {
        self.pending_bytes = 0;
        std::mem::take(&mut self.pending)
    }

    /// Whether envelopes are pending.
    pub fn is_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The envelopes pending, and their bytes.
    pub fn pending(&self) -> (usize, usize) {
        (self.pending.len(), self.pending_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An envelope of `size` bytes whose bytes name it.
    fn env(id: u8, size: usize) -> Vec<u8> {
        vec![id; size]
    }

    /// The ids of each batch.
    fn ids(batches: &[Batch]) -> Vec<Vec<u8>> {
        batches.iter().map(|b| b.iter().map(|e| e[0]).collect()).collect()
    }

    enum Step {
        /// An envelope (id, size); the batches it cuts (by id) and whether one is pending.
        Order(u8, usize, &'static [&'static [u8]], bool),
        /// The timer fired or the orderer closed: the batch cut (by id).
        Cut(&'static [u8]),
    }
    use Step::{Cut, Order};

    #[test]
    fn cuts_by_count_bytes_oversize_and_on_demand() {
        // max 3 envelopes, preferred max 100 bytes.
        let config = BatchConfig { max_txs: 3, max_bytes: 100, ..BatchConfig::default() };
        let cases: &[(&str, &[Step])] = &[
            (
                "count",
                &[
                    Order(1, 10, &[], true),
                    Order(2, 10, &[], true),
                    Order(3, 10, &[&[1, 2, 3]], false),
                    Order(4, 10, &[], true),
                ],
            ),
            (
                "bytes: the next would pass the max, the pending are cut first",
                &[
                    Order(1, 60, &[], true),
                    Order(2, 60, &[&[1]], true),
                    Order(3, 40, &[&[2, 3]], false),
                ],
            ),
            (
                "bytes: reaching the max exactly cuts at once",
                &[Order(1, 40, &[], true), Order(2, 60, &[&[1, 2]], false)],
            ),
            (
                "oversize: pending cut, then the envelope alone",
                &[
                    Order(1, 10, &[], true),
                    Order(2, 10, &[], true),
                    Order(3, 101, &[&[1, 2], &[3]], false),
                    Order(4, 101, &[&[4]], false),
                ],
            ),
            ("exactly the max alone", &[Order(1, 100, &[&[1]], false)]),
            ("empty cut", &[Cut(&[]), Order(1, 1, &[], true), Cut(&[1]), Cut(&[])]),
        ];
        for (name, steps) in cases {
            let mut cutter = BlockCutter::new(&config);
            for (i, step) in steps.iter().enumerate() {
                match step {
                    Order(id, size, want, pending) => {
                        let (batches, still) = cutter.ordered(env(*id, *size));
                        let want: Vec<Vec<u8>> = want.iter().map(|b| b.to_vec()).collect();
                        assert_eq!(ids(&batches), want, "{name}, step {i}");
                        assert_eq!(still, *pending, "{name}, step {i}: pending");
                        assert_eq!(cutter.is_pending(), *pending, "{name}, step {i}");
                    }
                    Cut(want) => {
                        assert_eq!(ids(&[cutter.cut()]), [want.to_vec()], "{name}, step {i}");
                        assert!(!cutter.is_pending(), "{name}, step {i}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_absolute_max_is_checked_before_cutting() {
        assert!(check_size(10, 10).is_ok());
        assert!(matches!(check_size(11, 10), Err(Error::TooLarge { size: 11, max: 10 })));
    }
}
