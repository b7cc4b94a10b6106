//! The solo cutter's inbox: the envelopes broadcast and not yet taken by the cutting thread,
//! which is woken only when it has something to do.
//!
//! A thread blocked on a channel is woken by every message: a system call for the sender and
//! a sleep and a wake-up for the cutter, per envelope. But between a batch's first envelope
//! and its timer, the cutter only has to act when the batch fills (by count or by bytes); the
//! envelopes in between can wait in the inbox and join the batch when the cutter next wakes,
//! with the same result. So a broadcast wakes the cutter when it is idle (the envelope starts
//! a batch and its timer), or when the envelopes waiting may complete the pending batch;
//! otherwise the cutter sleeps until its timer and takes everything waiting then.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use crate::cutter::BatchConfig;
use crate::error::{Error, Result};

/// The envelopes waiting for the cutter; see the [module](self).
#[derive(Debug)]
pub(super) struct Inbox {
    state: Mutex<State>,
    wake: Condvar,
    /// At most this many envelopes wait (the cutter may hold as many more it took).
    capacity: usize,
    max_txs: usize,
    max_bytes: usize,
}

#[derive(Debug)]
struct State {
    queue: Vec<Vec<u8>>,
    queued_bytes: usize,
    /// The cutter's pending batch when it last asked for envelopes: envelopes and bytes.
    pending: (usize, usize),
    cutter: Cutter,
    closed: bool,
}

/// What the cutting thread is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cutter {
    /// Working, or woken: it looks at the inbox before it sleeps again.
    Busy,
    /// Asleep with nothing pending: the next envelope starts a batch.
    Idle,
    /// Asleep until its batch timer.
    Timer,
}

/// What the cutter does next ([`Inbox::take`]).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Take {
    /// Envelopes, in the order they were broadcast.
    Envelopes(Vec<Vec<u8>>),
    /// The batch timer fired with nothing waiting.
    Timeout,
    /// Closed: these are the last envelopes.
    Closed(Vec<Vec<u8>>),
}

impl Inbox {
    /// An inbox of `batch.queue` envelopes (at least one), for a cutter of `batch`'s limits.
    pub(super) fn new(batch: &BatchConfig) -> Inbox {
        Inbox {
            state: Mutex::new(State {
                queue: Vec::new(),
                queued_bytes: 0,
                pending: (0, 0),
                cutter: Cutter::Busy,
                closed: false,
            }),
            wake: Condvar::new(),
            capacity: batch.queue.max(1),
            max_txs: batch.max_txs.max(1),
            max_bytes: batch.max_bytes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change under the lock is one step, so a poisoned lock is used as is.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `envelope` for the cutter, waking it if it must act; refuses when `capacity`
    /// envelopes wait ([`Error::Overloaded`]) or after [`Inbox::close`].
    pub(super) fn push(&self, envelope: Vec<u8>) -> Result<()> {
        let mut state = self.lock();
        if state.closed {
            return Err(Error::ShuttingDown);
        }
        if state.queue.len() >= self.capacity {
            return Err(Error::Overloaded("the ordering queue is full".into()));
        }
        state.queued_bytes += envelope.len();
        state.queue.push(envelope);
        let wake = match state.cutter {
            Cutter::Busy => false,
            Cutter::Idle => true,
            Cutter::Timer => {
                let (txs, bytes) = state.pending;
                txs + state.queue.len() >= self.max_txs
                    || bytes + state.queued_bytes >= self.max_bytes
            }
        };
        if wake {
            state.cutter = Cutter::Busy;
            drop(state);
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Refuses further envelopes and wakes the cutter, which takes what waits as the last.
    pub(super) fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_one();
    }

    /// The cutter's next step, waiting for it: envelopes as soon as there are any and it is
    /// woken, [`Take::Timeout`] at `deadline` (its batch timer, if a batch is pending) with
    /// nothing waiting, or [`Take::Closed`]. `pending`: the cutter's pending batch now
    /// (envelopes, bytes), by which a broadcast decides whether to wake it.
    pub(super) fn take(&self, deadline: Option<Instant>, pending: (usize, usize)) -> Take {
        let mut state = self.lock();
        state.pending = pending;
        loop {
            if !state.queue.is_empty() || state.closed {
                state.cutter = Cutter::Busy;
                state.queued_bytes = 0;
                let envelopes = std::mem::take(&mut state.queue);
                return if state.closed {
                    Take::Closed(envelopes)
                } else {
                    Take::Envelopes(envelopes)
                };
            }
            state = match deadline {
                None => {
                    state.cutter = Cutter::Idle;
                    self.wake.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner())
                }
                Some(at) => {
                    let now = Instant::now();
                    if now >= at {
                        state.cutter = Cutter::Busy;
                        return Take::Timeout;
                    }
                    state.cutter = Cutter::Timer;
                    self.wake
                        .wait_timeout(state, at - now)
                        .map(|(state, _)| state)
                        .unwrap_or_else(|poisoned| poisoned.into_inner().0)
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn inbox(max_txs: usize, max_bytes: usize, queue: usize) -> Inbox {
        Inbox::new(&BatchConfig { max_txs, max_bytes, batch_timeout_ms: 1_000, queue })
    }

    /// Waits until the cutter (another thread) sleeps as `how`.
    fn asleep(inbox: &Inbox, how: Cutter) {
        while inbox.lock().cutter != how {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_sleeping_cutter_is_woken_to_start_a_batch_and_to_complete_one_only() {
        let inbox = inbox(3, 100, 16);
        // Idle: the first envelope wakes it.
        std::thread::scope(|s| {
            s.spawn(|| {
                asleep(&inbox, Cutter::Idle);
                inbox.push(vec![1]).unwrap();
            });
            assert_eq!(inbox.take(None, (0, 0)), Take::Envelopes(vec![vec![1]]));
        });
        // Waiting for its timer with one pending: the second envelope does not wake it (it
        // sleeps until the timer and takes it then), the third completes the batch and does.
        let timer = Instant::now() + Duration::from_secs(3_600);
        std::thread::scope(|s| {
            s.spawn(|| {
                asleep(&inbox, Cutter::Timer);
                inbox.push(vec![2]).unwrap();
                assert_eq!(inbox.lock().cutter, Cutter::Timer, "not woken");
                inbox.push(vec![3]).unwrap();
            });
            assert_eq!(inbox.take(Some(timer), (1, 1)), Take::Envelopes(vec![vec![2], vec![3]]));
        });
        // Bytes complete a batch too.
        std::thread::scope(|s| {
            s.spawn(|| {
                asleep(&inbox, Cutter::Timer);
                inbox.push(vec![0; 60]).unwrap();
            });
            assert_eq!(inbox.take(Some(timer), (1, 50)), Take::Envelopes(vec![vec![0; 60]]));
        });
        // Nothing waiting at the timer: a timeout.
        let soon = Instant::now() + Duration::from_millis(10);
        assert_eq!(inbox.take(Some(soon), (1, 1)), Take::Timeout);
    }

    #[test]
    fn a_full_inbox_refuses_and_a_closed_one_hands_over_the_last_envelopes() {
        let inbox = inbox(10, 1 << 20, 2);
        inbox.push(vec![1]).unwrap();
        inbox.push(vec![2]).unwrap();
        assert!(matches!(inbox.push(vec![3]), Err(Error::Overloaded(_))));
        assert_eq!(inbox.take(None, (0, 0)), Take::Envelopes(vec![vec![1], vec![2]]));
        inbox.push(vec![3]).unwrap();
        inbox.close();
        assert!(matches!(inbox.push(vec![4]), Err(Error::ShuttingDown)));
        assert_eq!(inbox.take(None, (0, 0)), Take::Closed(vec![vec![3]]));
        assert_eq!(inbox.take(None, (0, 0)), Take::Closed(Vec::new()));
    }
}
