//! Counters and latency sums of the node, rendered in the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use weft_ledger::BlockOutcome;
use weft_proto::v1::TxValidationCode;

/// The node's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    endorsements: AtomicU64,
    endorse_micros: AtomicU64,
    evaluations: AtomicU64,
    evaluate_micros: AtomicU64,
    submitted: AtomicU64,
    endorsement_requests: AtomicU64,
    shed: AtomicU64,
    blocks: AtomicU64,
    commit_micros: AtomicU64,
    signature_checks: AtomicU64,
    signature_batches: AtomicU64,
    runs_cut_short: AtomicU64,
    runs_cut_short_waiting: AtomicU64,
    txs_by_code: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    pub(crate) fn endorsed(&self, took: Duration) {
        self.endorsements.fetch_add(1, Ordering::Relaxed);
        self.endorse_micros.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    pub(crate) fn evaluated(&self, took: Duration) {
        self.evaluations.fetch_add(1, Ordering::Relaxed);
        self.evaluate_micros.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    pub(crate) fn submitted(&self) {
        self.submitted.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn endorsement_requested(&self) {
        self.endorsement_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Endorsements this node's gateway asked other organizations' peers for (each peer
    /// tried counts once).
    pub fn endorsement_requests(&self) -> u64 {
        self.endorsement_requests.load(Ordering::Relaxed)
    }

    pub(crate) fn run_cut_short(&self) {
        self.runs_cut_short.fetch_add(1, Ordering::Relaxed);
    }

    /// Contract runs cut short on their leash on an async worker and run again on a contract
    /// thread (`crate::contract_pool`).
    pub fn runs_cut_short(&self) -> u64 {
        self.runs_cut_short.load(Ordering::Relaxed)
    }

    pub(crate) fn run_cut_short_waiting(&self) {
        self.runs_cut_short_waiting.fetch_add(1, Ordering::Relaxed);
    }

    /// Of [`Metrics::runs_cut_short`], those that then ran in less than a leash: they were
    /// cut short for waiting, not for their work, and left their contract unbarred.
    pub fn runs_cut_short_waiting(&self) -> u64 {
        self.runs_cut_short_waiting.load(Ordering::Relaxed)
    }

    pub(crate) fn shed(&self) {
        self.shed.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests refused because the node served `grpc.max_concurrent_requests` already.
    pub fn requests_shed(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }

    /// `checks` client signatures checked in `batches` (`crate::signature_checks`).
    pub(crate) fn signatures_checked(&self, checks: usize, batches: usize) {
        self.signature_checks.fetch_add(checks as u64, Ordering::Relaxed);
        self.signature_batches.fetch_add(batches as u64, Ordering::Relaxed);
    }

    /// Client signatures checked so far, and the batches they were checked in (a check made
    /// alone counts as a batch).
    pub fn signature_checks(&self) -> (u64, u64) {
        (
            self.signature_checks.load(Ordering::Relaxed),
            self.signature_batches.load(Ordering::Relaxed),
        )
    }

    pub(crate) fn committed(&self, block: &BlockOutcome) {
        self.blocks.fetch_add(1, Ordering::Relaxed);
        let t = block.timings;
        let took = t.stateless + t.mvcc + t.write + t.sync;
        self.commit_micros.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        let mut codes = self.txs_by_code.lock().expect("metrics lock");
        for code in &block.codes {
            *codes.entry(code.as_str_name()).or_default() += 1;
        }
    }

    /// Transactions committed with `code` so far.
    pub fn transactions(&self, code: TxValidationCode) -> u64 {
        let codes = self.txs_by_code.lock().expect("metrics lock");
        codes.get(code.as_str_name()).copied().unwrap_or(0)
    }

    /// Everything, in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
        };
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter("weft_endorsements_total", "Proposals endorsed.", get(&self.endorsements));
        counter(
            "weft_endorse_micros_total",
            "Microseconds spent endorsing.",
            get(&self.endorse_micros),
        );
        counter("weft_evaluations_total", "Queries evaluated.", get(&self.evaluations));
        counter(
            "weft_evaluate_micros_total",
            "Microseconds spent evaluating.",
            get(&self.evaluate_micros),
        );
        counter(
            "weft_submitted_total",
            "Transactions accepted for ordering.",
            get(&self.submitted),
        );
        counter(
            "weft_endorsement_requests_total",
            "Endorsements asked of other organizations' peers (each peer tried counts).",
            get(&self.endorsement_requests),
        );
        counter(
            "weft_requests_shed_total",
            "Requests refused because the node was at grpc.max_concurrent_requests.",
            get(&self.shed),
        );
        counter(
            "weft_signature_checks_total",
            "Client signatures checked (proposals and envelopes).",
            get(&self.signature_checks),
        );
        counter(
            "weft_signature_batches_total",
            "Batches those signatures were checked in (a check made alone counts as one).",
            get(&self.signature_batches),
        );
        counter(
            "weft_contract_runs_cut_short_total",
            "Contract runs cut short on their leash on an async worker, then run again on a \
             contract thread.",
            get(&self.runs_cut_short),
        );
        counter(
            "weft_contract_runs_cut_short_waiting_total",
            "Of those, the runs that then took less than a leash: cut short for waiting (for a \
             block being applied, or for a core), not for their work.",
            get(&self.runs_cut_short_waiting),
        );
        counter("weft_blocks_total", "Blocks committed.", get(&self.blocks));
        counter(
            "weft_commit_micros_total",
            "Microseconds spent validating and committing blocks.",
            get(&self.commit_micros),
        );
        let _ = writeln!(
            out,
            "# HELP weft_transactions_total Committed transactions by validation code.\n\
             # TYPE weft_transactions_total counter"
        );
        for (code, n) in self.txs_by_code.lock().expect("metrics lock").iter() {
            let _ = writeln!(out, "weft_transactions_total{{code=\"{code}\"}} {n}");
        }
        out
    }
}

/// Serves `metrics` as Prometheus text over HTTP/1 on `listener` until `stop` resolves: every
/// request, whatever its path, gets the current metrics.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    metrics: std::sync::Arc<Metrics>,
    stop: impl std::future::Future<Output = ()>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tokio::pin!(stop);
    loop {
        let (mut socket, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics endpoint: accept failed");
                    continue;
                }
            },
            () = &mut stop => return,
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            // Read the request head (bounded); its content does not matter.
            let mut head = [0u8; 4096];
            let _ = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut head)).await;
            let body = metrics.render();
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
            let _ = socket.shutdown().await;
        });
    }
}
