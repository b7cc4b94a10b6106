//! The clients' signatures, checked in batches under load: a proposal's (endorse, evaluate,
//! another organization's endorsement request) and an envelope's (submit).
//!
//! One ed25519 check alone costs 19 to 45 µs on the machines we measure on, depending on
//! the CPU; in a batch of 16 to 32 ([`verify_each`]) it costs a sixth to a half less, with
//! exactly the same verdicts (one rule for both: [`weft_protocol::signature`]). So the
//! services do not check a client's signature on the task that serves the request: they
//! queue it here and wait, and one task checks what is queued as one batch of at most
//! [`MAX_BATCH`] (batches smaller than this CPU's crossover, measured when the node
//! starts, are checked one by one: [`weft_protocol::signature::min_batch`]).
//!
//! **When it waits.** A check that finds no other check queued or running is made at once,
//! alone, on the caller's task: an idle node pays nothing for the queue. Otherwise it is
//! queued. When the last batch held more than one check (the node is under load), the
//! checking task first lets every task that is ready run once (one turn of the scheduler, no
//! timer), so that the requests already read from the sockets queue their checks into the
//! same batch.
//!
//! **What a bad signature costs.** A batch holding one fails as a whole; its signatures are
//! then checked one by one to find which ([`verify_each`]). So that a client sending bad
//! signatures cannot make each of them cost a whole batch, the next
//! [`SINGLES_AFTER_FAILURE`] checks after a failed batch are made one by one, as they were
//! before batching: under such an attack the node checks at about its unbatched cost, never
//! much above it. A caller that has gone away has its check dropped unchecked.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, oneshot};
use weft_protocol::channel::Channel;
use weft_protocol::signature::{Check, PublicKey, verify_each};
use weft_protocol::transaction::{DecodedProposal, ProposalRejection};

use crate::error::Result;
use crate::metrics::Metrics;

/// The most signatures checked as one batch.
pub const MAX_BATCH: usize = 32;

/// Checks made one by one after a batch failed (see the [module](self)).
pub const SINGLES_AFTER_FAILURE: usize = 8 * MAX_BATCH;

/// The node's queue of signature checks, and the task that checks them. Dropping it ends the
/// task once the checks queued then are answered.
#[derive(Debug)]
pub struct SignatureChecks {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    queue: Mutex<Vec<Job>>,
    wake: Notify,
    closed: AtomicBool,
    /// Checks queued or being checked.
    busy: AtomicUsize,
    metrics: Arc<Metrics>,
}

#[derive(Debug)]
struct Job {
    key: PublicKey,
    message: Vec<u8>,
    signature: Vec<u8>,
    answer: oneshot::Sender<bool>,
}

impl SignatureChecks {
    /// Starts the checking task on the current tokio runtime; it counts what it checks in
    /// `metrics`.
    pub fn start(metrics: Arc<Metrics>) -> SignatureChecks {
        // Measured once per process (a few ms), here rather than on a request's path.
        let min_batch = weft_protocol::signature::min_batch();
        tracing::debug!(min_batch, "client signatures are checked in batches from {min_batch} on");
        let inner = Arc::new(Inner {
            queue: Mutex::default(),
            wake: Notify::new(),
            closed: AtomicBool::new(false),
            busy: AtomicUsize::new(0),
            metrics,
        });
        tokio::spawn(check_queued(inner.clone()));
        SignatureChecks { inner }
    }

    /// Whether `signature` is `key`'s signature of `message` ([`PublicKey::verify`]'s
    /// verdict), checked in a batch with the others queued meanwhile.
    pub async fn verify(&self, key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
        if signature.len() != 64 {
            // Not a signature at all: refused here, neither copied nor let into a batch.
            return false;
        }
        let inner = &self.inner;
        if inner.busy.compare_exchange(0, 1, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
            let verdict = key.verify(message, signature);
            inner.busy.fetch_sub(1, Ordering::AcqRel);
            inner.metrics.signatures_checked(1, 1);
            return verdict;
        }
        inner.busy.fetch_add(1, Ordering::AcqRel);
        let (answer, verdict) = oneshot::channel();
        let job =
            Job { key: *key, message: message.to_vec(), signature: signature.to_vec(), answer };
        self.inner.queue.lock().expect("signature queue").push(job);
        self.inner.wake.notify_one();
        // The task ends only after `self` is dropped, or if it panicked: then check here.
        verdict.await.unwrap_or_else(|_| key.verify(message, signature))
    }

    /// [`DecodedProposal::check`]'s signature check, made here: `decoded` marked verified,
    /// or refused with [`ProposalRejection::BadSignature`]. A proposal with no check to
    /// make (another channel, a creator that is not a member) is returned as it is, for
    /// [`DecodedProposal::check`] to refuse.
    pub async fn check_proposal(
        &self,
        channel: &Channel,
        decoded: DecodedProposal,
    ) -> Result<DecodedProposal> {
        let Some((key, message, signature)) = decoded.signature_check(channel) else {
            return Ok(decoded);
        };
        if !self.verify(&key, message, signature).await {
            return Err(ProposalRejection::BadSignature.into());
        }
        Ok(decoded.signature_verified(&key))
    }
}

impl Drop for SignatureChecks {
    fn drop(&mut self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.wake.notify_one();
    }
}

/// The checking task: see the [module](self).
async fn check_queued(inner: Arc<Inner>) {
    let mut batching = Batching::default();
    let mut last_batch = 0;
    loop {
        inner.wake.notified().await;
        if last_batch > 1 {
            tokio::task::yield_now().await;
        }
        loop {
            let (taken, jobs): (usize, Vec<Job>) = {
                let mut queue = inner.queue.lock().expect("signature queue");
                let n = queue.len().min(MAX_BATCH);
                (n, queue.drain(..n).filter(|job| !job.answer.is_closed()).collect())
            };
            if taken == 0 {
                break;
            }
            let checks: Vec<Check<'_>> = jobs
                .iter()
                .map(|job| Check {
                    key: &job.key,
                    message: &job.message,
                    signature: &job.signature,
                })
                .collect();
            let (verdicts, batches) = batching.check(&checks);
            drop(checks);
            last_batch = jobs.len();
            inner.metrics.signatures_checked(jobs.len(), batches);
            for (job, verdict) in jobs.into_iter().zip(verdicts) {
                let _ = job.answer.send(verdict);
            }
            inner.busy.fetch_sub(taken, Ordering::AcqRel);
            // More than a batch was queued: let the tasks it answered run first.
            tokio::task::yield_now().await;
        }
        if inner.closed.load(Ordering::Acquire) {
            return;
        }
    }
}

/// Checks signatures in batches, or one by one for a while after a batch failed.
#[derive(Debug, Default)]
struct Batching {
    singles_left: usize,
}

impl Batching {
    /// The verdicts on `checks`, and how many batches that took (a check alone counts as
    /// one).
    fn check(&mut self, checks: &[Check<'_>]) -> (Vec<bool>, usize) {
        if checks.is_empty() {
            return (Vec::new(), 0);
        }
        if self.singles_left > 0 {
            self.singles_left = self.singles_left.saturating_sub(checks.len());
            let verdicts = checks.iter().map(|c| c.key.verify(c.message, c.signature));
            return (verdicts.collect(), checks.len());
        }
        let verdicts = verify_each(checks);
        if checks.len() > 1 && verdicts.contains(&false) {
            self.singles_left = SINGLES_AFTER_FAILURE;
        }
        (verdicts, 1)
    }
}

#[cfg(test)]
mod tests {
    use weft_protocol::identity::SigningIdentity;

    use super::*;

    fn key_of(signer: &SigningIdentity) -> PublicKey {
        PublicKey::from_bytes(&signer.public_key()).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_checks_at_once_each_get_their_own_verdict_alone_or_queued() {
        let signers: Vec<SigningIdentity> =
            (0..4).map(|i| SigningIdentity::from_seed("Org1", &format!("client{i}"))).collect();
        let metrics = Arc::new(Metrics::default());
        let checks = Arc::new(SignatureChecks::start(metrics.clone()));
        // Checks queued at once, every `bad`-th one forged: each gets its own verdict.
        let check_all = |n: usize, bad: usize| {
            let tasks: Vec<_> = (0..n)
                .map(|i| {
                    let signer = &signers[i % signers.len()];
                    let key = key_of(signer);
                    let message = format!("message {i}").into_bytes();
                    let mut signature = signer.sign(&message);
                    let good = i % bad != bad - 1;
                    if !good {
                        signature[5] ^= 1;
                    }
                    let checks = checks.clone();
                    tokio::spawn(
                        async move { (good, checks.verify(&key, &message, &signature).await) },
                    )
                })
                .collect();
            async move {
                for task in tasks {
                    let (good, verdict) = task.await.unwrap();
                    assert_eq!(good, verdict);
                }
            }
        };
        check_all(200, 7).await;
        // As if a check were running all along: every check goes through the queue.
        checks.inner.busy.fetch_add(1, Ordering::AcqRel);
        check_all(200, usize::MAX).await;
        check_all(200, 7).await;
        checks.inner.busy.fetch_sub(1, Ordering::AcqRel);
        let (checked, batches) = metrics.signature_checks();
        assert_eq!(checked, 600);
        assert!(batches <= checked);
        assert_eq!(checks.inner.busy.load(Ordering::Acquire), 0, "every queued check answered");
        // A signature of the wrong length is refused, not a panic.
        assert!(!checks.verify(&key_of(&signers[0]), b"m", &[0; 10]).await);
    }

    #[test]
    fn after_a_failed_batch_checks_are_made_one_by_one_for_a_while() {
        let signer = SigningIdentity::from_seed("Org1", "client");
        let key = key_of(&signer);
        let messages: Vec<Vec<u8>> = (0..MAX_BATCH).map(|i| vec![i as u8; 40]).collect();
        let good: Vec<Vec<u8>> = messages.iter().map(|m| signer.sign(m)).collect();
        let mut bad = good.clone();
        bad[7][3] ^= 1;
        fn checks<'a>(
            key: &'a PublicKey,
            messages: &'a [Vec<u8>],
            signatures: &'a [Vec<u8>],
        ) -> Vec<Check<'a>> {
            messages
                .iter()
                .zip(signatures)
                .map(|(message, signature)| Check { key, message, signature })
                .collect()
        }
        let mut batching = Batching::default();
        assert_eq!(batching.check(&checks(&key, &messages, &good)), (vec![true; MAX_BATCH], 1));
        let (verdicts, batches) = batching.check(&checks(&key, &messages, &bad));
        assert_eq!(batches, 1);
        assert_eq!(verdicts.iter().filter(|v| !**v).count(), 1);
        assert!(!verdicts[7]);
        // The next SINGLES_AFTER_FAILURE checks go one by one, with the same verdicts.
        for _ in 0..SINGLES_AFTER_FAILURE / MAX_BATCH {
            assert_eq!(
                batching.check(&checks(&key, &messages, &good)),
                (vec![true; MAX_BATCH], MAX_BATCH)
            );
        }
        assert_eq!(batching.check(&checks(&key, &messages, &good)), (vec![true; MAX_BATCH], 1));
    }

    #[tokio::test]
    async fn a_check_on_an_idle_node_is_answered_alone_and_the_task_ends_with_the_queue() {
        let signer = SigningIdentity::from_seed("Org1", "client");
        let metrics = Arc::new(Metrics::default());
        let checks = SignatureChecks::start(metrics.clone());
        let signature = signer.sign(b"m");
        assert!(checks.verify(&key_of(&signer), b"m", &signature).await);
        assert!(!checks.verify(&key_of(&signer), b"n", &signature).await);
        assert_eq!(metrics.signature_checks(), (2, 2));
        let inner = Arc::downgrade(&checks.inner);
        drop(checks);
        for _ in 0..100 {
            if inner.strong_count() == 0 {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the checking task did not end");
    }
}
