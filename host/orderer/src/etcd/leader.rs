//! The leader: campaign through etcd's election API on a lease, then cut the pending
//! envelopes into blocks and append each with a compare-and-swap on the chain tip (see the
//! [module](super)).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use etcd_client::{
    Compare, CompareOp, DeleteOptions, EventType, GetOptions, SortOrder, SortTarget, Txn, TxnOp,
    WatchFilterType, WatchOptions,
};
use prost::Message;
use tokio::time::Instant;
use weft_protocol::block::{header_hash, new_block};

use super::keys::{ALL, ChainTip, decode_group};
use super::orderer::{Backoff, Inner, unavailable, within};
use crate::cutter::{Batch, BlockCutter};
use crate::error::{Error, Result};

/// Resolves once the orderer is closed.
async fn closed(closing: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = closing.wait_for(|closed| *closed).await;
}

/// How a term ended.
enum Term {
    /// The orderer closed (after cutting what it held, if it led).
    Closed,
    /// It stopped leading, or never got to: campaign again.
    SteppedDown(String),
}

/// Campaigns, leads, and campaigns again, until the orderer closes.
pub(super) async fn campaign(inner: Arc<Inner>) {
    let mut backoff = Backoff::default();
    loop {
        if *inner.closing.borrow() {
            return;
        }
        let term = serve_term(&inner).await;
        inner.leading.store(false, Ordering::SeqCst);
        match term {
            Ok(Term::Closed) => return,
            Ok(Term::SteppedDown(why)) => {
                tracing::info!(name = inner.name, why, "stepped down; campaigning again");
                backoff.reset();
            }
            Err(e) => {
                tracing::warn!(name = inner.name, error = %e, "leader election failed; retrying");
            }
        }
        // A pause before the next term (50 ms after a step-down, growing while etcd fails).
        let mut closing = inner.closing.subscribe();
        tokio::select! {
            _ = tokio::time::sleep(backoff.next()) => {}
            _ = closed(&mut closing) => return,
        }
    }
}

/// One term: a lease, a campaign on it and, if elected, leading until the lease or an
/// append is lost or the orderer closes. The lease is revoked at the end, which ends the
/// candidacy (or the leadership) at once.
async fn serve_term(inner: &Arc<Inner>) -> Result<Term> {
    let timeout = Duration::from_millis(inner.etcd.timeout_ms.max(1));
    let mut leases = inner.client.lease_client();
    let lease = within(timeout, "granting a lease", leases.grant(inner.etcd.lease_ttl_secs, None))
        .await?
        .id();
    let term = async {
        let keep = keep_alive(inner, lease);
        tokio::pin!(keep);
        let mut closing = inner.closing.subscribe();
        let mut election = inner.client.election_client();
        let name = inner.name.clone();
        tokio::select! {
            elected = election.campaign(inner.keys.election(), name, lease) => {
                elected.map_err(|e| unavailable("campaigning", e))?;
            }
            why = &mut keep => return Ok(Term::SteppedDown(why)),
            _ = closed(&mut closing) => return Ok(Term::Closed),
        }
        inner.leading.store(true, Ordering::SeqCst);
        tracing::info!(name = inner.name, keys = inner.keys.base(), "leading: cutting blocks");
        let mut leader = Leader::take_over(inner).await?;
        leader.lead(&mut keep).await
    };
    let outcome = term.await;
    inner.leading.store(false, Ordering::SeqCst);
    if let Err(e) = within(timeout, "revoking the lease", leases.revoke(lease)).await {
        tracing::debug!(error = %e, "revoking the lease (it expires by itself)");
    }
    outcome
}

/// Renews `lease` every third of its time to live; returns why it is lost (etcd answered
/// that it expired, or did not answer for longer than it lives).
async fn keep_alive(inner: &Inner, lease: i64) -> String {
    let ttl = Duration::from_secs(inner.etcd.lease_ttl_secs.max(1) as u64);
    let mut leases = inner.client.lease_client();
    let Ok((mut keeper, mut answers)) = leases.keep_alive(lease).await else {
        return "the lease could not be renewed".into();
    };
    let mut renewed = Instant::now();
    loop {
        tokio::time::sleep(ttl / 3).await;
        let renew = async {
            keeper.keep_alive().await?;
            answers.message().await
        };
        match tokio::time::timeout(ttl / 3, renew).await {
            Ok(Ok(Some(answer))) if answer.ttl() > 0 => renewed = Instant::now(),
            Ok(Ok(_)) => return "the lease expired".into(),
            Ok(Err(_)) | Err(_) if renewed.elapsed() >= ttl => {
                return "the lease could not be renewed for its whole time to live".into();
            }
            Ok(Err(_)) | Err(_) => {}
        }
    }
}

/// A pending envelope: the key of its group, the revision that created the group, its
/// position in the group and whether it is the group's last.
struct Pending {
    key: Vec<u8>,
    revision: i64,
    position: u32,
    last: bool,
}

/// The envelopes of the group `value` at `key` (created at `revision`) not yet in blocks by
/// `tip`, with their places.
fn unordered(tip: &ChainTip, key: &[u8], revision: i64, value: &[u8]) -> Vec<(Pending, Vec<u8>)> {
    let Some(group) = decode_group(value) else {
        // Only ordering nodes write pending keys; nothing in it can be ordered.
        tracing::warn!(key = %String::from_utf8_lossy(key), "a pending value is not a group; skipped");
        return Vec::new();
    };
    if tip.ordered(revision) {
        return Vec::new();
    }
    let count = group.len();
    group
        .into_iter()
        .enumerate()
        .skip(tip.taken_of(revision))
        .map(|(i, envelope)| {
            let place =
                Pending { key: key.to_vec(), revision, position: i as u32, last: i + 1 == count };
            (place, envelope)
        })
        .collect()
}

/// The leader's state: the tip it appends on, the cutter, and the keys of the envelopes
/// in the cutter, in order.
struct Leader<'a> {
    inner: &'a Arc<Inner>,
    tip: ChainTip,
    cutter: BlockCutter,
    queued: VecDeque<Pending>,
    deadline: Option<Instant>,
    /// The revision after which the watch of pending envelopes starts.
    revision: i64,
    /// The revision to compact to at the next compaction point.
    compact_to: Option<i64>,
    backlog: Vec<(Pending, Vec<u8>)>,
}

impl<'a> Leader<'a> {
    fn timeout(&self) -> Duration {
        Duration::from_millis(self.inner.etcd.timeout_ms.max(1))
    }

    /// Reads (or starts) the chain tip and the envelopes pending after its watermark, and
    /// deletes pending keys already ordered.
    async fn take_over(inner: &'a Arc<Inner>) -> Result<Leader<'a>> {
        let timeout = Duration::from_millis(inner.etcd.timeout_ms.max(1));
        let keys = &inner.keys;
        let mut kv = inner.kv.clone();
        // Start the chain if etcd holds none: after the node's own blocks.
        let start = Txn::new()
            .when([Compare::create_revision(keys.chain(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(keys.chain(), inner.start.encode(), None)]);
        if within(timeout, "starting the chain", kv.txn(start)).await?.succeeded() {
            tracing::info!(
                height = inner.start.height,
                keys = keys.base(),
                "chain started in etcd"
            );
        }
        let read = within(timeout, "reading the chain tip", kv.get(keys.chain(), None)).await?;
        let revision = read.header().map_or(0, |h| h.revision());
        let value = read.kvs().first().map(|kv| kv.value().to_vec()).unwrap_or_default();
        let tip = inner.decode_tip(&value)?;
        inner.seen_height.fetch_max(tip.height, Ordering::SeqCst);
        // The envelopes not yet ordered, in the order etcd created their groups, at
        // `revision`: the rest of the group at the watermark, then the groups after it.
        let mut backlog = Vec::new();
        let mut after = tip.ordered_through();
        loop {
            let page = GetOptions::new()
                .with_prefix()
                .with_revision(revision)
                .with_min_create_revision(after + 1)
                .with_sort(SortTarget::Create, SortOrder::Ascend)
                // A group may fill one etcd request: a page within the decode limit.
                .with_limit(super::follow::PAGE);
            let got =
                within(timeout, "reading pending envelopes", kv.get(keys.pending(), Some(page)))
                    .await?;
            for entry in got.kvs() {
                after = after.max(entry.create_revision());
                let (key, created) = (entry.key(), entry.create_revision());
                backlog.extend(unordered(&tip, key, created, entry.value()));
            }
            if !got.more() {
                break;
            }
        }
        let leader = Leader {
            inner,
            tip,
            cutter: BlockCutter::new(&inner.batch),
            queued: VecDeque::new(),
            deadline: None,
            revision,
            compact_to: None,
            backlog,
        };
        leader.delete_ordered().await?;
        tracing::info!(
            height = leader.tip.height,
            pending = leader.backlog.len(),
            "took over the chain tip"
        );
        Ok(leader)
    }

    /// Deletes the pending keys whose groups are entirely in blocks (left by a leader that
    /// stopped before deleting them all), a transaction's worth at a time.
    async fn delete_ordered(&self) -> Result<()> {
        let mut kv = self.inner.kv.clone();
        let through = self.tip.ordered_through();
        loop {
            let stale = GetOptions::new()
                .with_prefix()
                .with_keys_only()
                .with_max_create_revision(through.max(0))
                .with_limit(self.inner.etcd.max_txn_ops as i64);
            if through <= 0 {
                return Ok(());
            }
            let got = within(
                self.timeout(),
                "reading ordered envelopes",
                kv.get(self.inner.keys.pending(), Some(stale)),
            )
            .await?;
            if got.kvs().is_empty() {
                return Ok(());
            }
            let keys: Vec<Vec<u8>> = got.kvs().iter().map(|kv| kv.key().to_vec()).collect();
            self.delete(keys).await?;
        }
    }

    async fn delete(&self, keys: Vec<Vec<u8>>) -> Result<()> {
        let mut kv = self.inner.kv.clone();
        for chunk in keys.chunks(self.inner.etcd.max_txn_ops.max(1)) {
            let ops: Vec<TxnOp> =
                chunk.iter().map(|key| TxnOp::delete(key.clone(), None)).collect();
            within(self.timeout(), "deleting ordered envelopes", kv.txn(Txn::new().and_then(ops)))
                .await?;
        }
        Ok(())
    }

    /// Cuts and appends until the orderer closes (then the pending batch is cut first), the
    /// lease is lost (`lost` resolves) or an append is.
    async fn lead(&mut self, lost: &mut (impl Future<Output = String> + Unpin)) -> Result<Term> {
        for (pending, envelope) in std::mem::take(&mut self.backlog) {
            if let Some(why) = self.order(pending, envelope).await? {
                return Ok(Term::SteppedDown(why));
            }
        }
        let options = WatchOptions::new()
            .with_prefix()
            .with_start_revision(self.revision + 1)
            .with_filters([WatchFilterType::NoDelete])
            .with_fragment();
        let mut client = self.inner.watch.clone();
        let mut watch = client
            .watch(self.inner.keys.pending(), Some(options))
            .await
            .map_err(|e| unavailable("watching pending envelopes", e))?;
        let mut closing = self.inner.closing.subscribe();
        loop {
            let timer = async {
                match self.deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = closed(&mut closing) => {
                    let last = self.cutter.cut();
                    if let Some(why) = self.append(last).await? {
                        return Ok(Term::SteppedDown(why));
                    }
                    return Ok(Term::Closed);
                }
                why = &mut *lost => return Ok(Term::SteppedDown(why)),
                _ = timer => {
                    self.deadline = None;
                    let batch = self.cutter.cut();
                    if let Some(why) = self.append(batch).await? {
                        return Ok(Term::SteppedDown(why));
                    }
                }
                message = watch.message() => {
                    let response = match message {
                        Ok(Some(response)) => response,
                        Ok(None) => return Ok(Term::SteppedDown("the watch of pending envelopes ended".into())),
                        Err(e) => return Err(unavailable("watching pending envelopes", e)),
                    };
                    if response.canceled() || response.compact_revision() > 0 {
                        return Ok(Term::SteppedDown(format!(
                            "the watch of pending envelopes was cancelled ({})",
                            response.cancel_reason()
                        )));
                    }
                    for event in response.events() {
                        let Some(kv) = event.kv() else { continue };
                        // Pending keys are only created and deleted: a put creates one.
                        if event.event_type() != EventType::Put {
                            continue;
                        }
                        for (pending, envelope) in unordered(&self.tip, kv.key(), kv.create_revision(), kv.value()) {
                            if let Some(why) = self.order(pending, envelope).await? {
                                return Ok(Term::SteppedDown(why));
                            }
                        }
                    }
                }
            }
        }
    }

    /// Gives one envelope to the cutter and appends the batches it completes; starts or
    /// stops the batch timer as the solo orderer does. `Some(why)` if an append was lost.
    async fn order(&mut self, pending: Pending, envelope: Vec<u8>) -> Result<Option<String>> {
        self.queued.push_back(pending);
        let (batches, still_pending) = self.cutter.ordered(envelope);
        let restart = !batches.is_empty();
        for batch in batches {
            if let Some(why) = self.append(batch).await? {
                return Ok(Some(why));
            }
        }
        self.deadline = match (still_pending, self.deadline) {
            (false, _) => None,
            (true, Some(at)) if !restart => Some(at),
            (true, _) => Some(Instant::now() + self.inner.batch.timeout()),
        };
        Ok(None)
    }

    /// Appends `envelopes` (none: nothing) as the next block if the chain tip is still the
    /// one this leader holds; `Some(why)` if it is not (another node appended).
    async fn append(&mut self, envelopes: Batch) -> Result<Option<String>> {
        if envelopes.is_empty() {
            return Ok(None);
        }
        let keys = &self.inner.keys;
        let consumed: Vec<Pending> = self.queued.drain(..envelopes.len()).collect();
        // The watermark moves to the group of the block's last envelope, and says how much
        // of that group the chain now holds.
        let (watermark, taken) = match consumed.last() {
            Some(p) if p.last => (p.revision, ALL),
            Some(p) => (p.revision, p.position + 1),
            None => (self.tip.watermark, self.tip.taken),
        };
        // A group's key goes when its last envelope is in a block.
        let finished: Vec<&Pending> = consumed.iter().filter(|p| p.last).collect();
        let number = self.tip.height;
        let block = new_block(number, self.tip.tip.clone(), envelopes);
        let hash = header_hash(block.header.as_ref().expect("new blocks have a header"));
        let next = ChainTip { height: number + 1, watermark, taken, tip: hash.to_vec() };
        let mut ops = vec![
            TxnOp::put(keys.block(number), block.encode_to_vec(), None),
            TxnOp::put(keys.chain(), next.encode(), None),
        ];
        let window = self.inner.etcd.window;
        if number + 1 > window {
            let below = DeleteOptions::new().with_range(keys.block(number + 1 - window));
            ops.push(TxnOp::delete(keys.block(0), Some(below)));
        }
        let room = self.inner.etcd.max_txn_ops.saturating_sub(ops.len()).min(finished.len());
        ops.extend(finished[..room].iter().map(|p| TxnOp::delete(p.key.clone(), None)));
        let txn = Txn::new()
            .when([Compare::value(keys.chain(), CompareOp::Equal, self.tip.encode())])
            .and_then(ops);
        let mut kv = self.inner.kv.clone();
        let response = within(self.timeout(), "appending a block", kv.txn(txn)).await?;
        if !response.succeeded() {
            self.inner.lost_appends.fetch_add(1, Ordering::SeqCst);
            return Ok(Some(format!("block {number} was appended by another node")));
        }
        let revision = response.header().map_or(0, |h| h.revision());
        tracing::debug!(number, txs = consumed.len(), revision, "block appended to etcd");
        self.tip = next;
        self.inner.seen_height.fetch_max(self.tip.height, Ordering::SeqCst);
        if room < finished.len() {
            self.delete(finished[room..].iter().map(|p| p.key.clone()).collect()).await?;
        }
        self.compact(number + 1, revision).await;
        let every = self.inner.etcd.defrag_every;
        if every > 0 && (number + 1).is_multiple_of(every) {
            defragment(self.inner.clone());
        }
        Ok(None)
    }

    /// Every `compact_every` blocks: compacts to the revision remembered at the previous
    /// compaction point and remembers this one, so history reaches back at least
    /// `compact_every` blocks.
    async fn compact(&mut self, height: u64, revision: i64) {
        let every = self.inner.etcd.compact_every;
        if every == 0 || !height.is_multiple_of(every) {
            return;
        }
        if let Some(to) = self.compact_to.replace(revision) {
            let mut kv = self.inner.kv.clone();
            match within(self.timeout(), "compacting", kv.compact(to, None)).await {
                Ok(_) => tracing::debug!(revision = to, "etcd compacted"),
                // Already compacted further (by another leader or etcd's auto-compaction).
                Err(e) => tracing::debug!(error = %e, revision = to, "compaction skipped"),
            }
        }
    }
}

/// Defragments the cluster's members one after the other, on a task of its own (the leader
/// does not wait for it), unless a round is under way already. Failures are logged: the
/// next round tries again; a member that does not finish within a minute ends the round.
fn defragment(inner: Arc<Inner>) {
    if inner.defragmenting.swap(true, Ordering::SeqCst) {
        return;
    }
    tokio::spawn(async move {
        let timeout = Duration::from_millis(inner.etcd.timeout_ms.max(1));
        let mut options = etcd_client::ConnectOptions::new().with_connect_timeout(timeout);
        if let Some(tls) = &inner.etcd.tls {
            match super::orderer::tls_options(tls) {
                Ok(tls) => options = options.with_tls(tls),
                Err(e) => {
                    tracing::warn!(error = %e, "etcd defragmentation skipped");
                    inner.defragmenting.store(false, Ordering::SeqCst);
                    return;
                }
            }
        }
        for endpoint in &inner.etcd.endpoints {
            let started = std::time::Instant::now();
            let done = async {
                let client =
                    etcd_client::Client::connect([endpoint], Some(options.clone())).await?;
                client.maintenance_client().defragment().await
            };
            // A large database takes a while; a member that does not finish in a minute is
            // left for the next round.
            match tokio::time::timeout(Duration::from_secs(60), done).await {
                Ok(Ok(_)) => {
                    inner.defragmented.fetch_add(1, Ordering::SeqCst);
                    tracing::info!(%endpoint, took = ?started.elapsed(), "etcd member defragmented");
                }
                Ok(Err(e)) => tracing::warn!(%endpoint, error = %e, "etcd defragmentation failed"),
                // It may still be defragmenting: leave the others for the next round, so two
                // members are never blocked at once.
                Err(_) => {
                    tracing::warn!(%endpoint, "etcd defragmentation took over a minute");
                    break;
                }
            }
        }
        inner.defragmenting.store(false, Ordering::SeqCst);
    });
}

impl From<Error> for Term {
    fn from(e: Error) -> Term {
        Term::SteppedDown(e.to_string())
    }
}
