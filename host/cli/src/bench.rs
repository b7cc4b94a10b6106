//! `weft bench`: closed-loop load on a running node over gRPC, from this process.
//!
//! The workload is the `asset-transfer` sample: every client owns its own assets
//! (`bench-c<client>-<k>`), so transactions of different clients never touch the same key
//! and a client's next transaction starts only after its previous one committed: conflicts
//! are not expected. Phases:
//!
//! * `evaluate`: `ReadAsset` (1 read) at 1 client, then at `--clients`;
//! * `endorse`: `TransferAsset` (1 read + 1 write) endorsed, not submitted, at 1 client;
//! * `submit`: `TransferAsset` endorsed, signed, submitted and waited for until committed
//!   (SubmitAndWait), at `--submit-clients` (default `--clients`);
//! * `stream`: the same, but submitted over one `SubmitStream` per connection (the workers
//!   of a connection share it; each endorses with a unary call, sends its envelope on the
//!   stream and waits for that envelope's answer), at `--submit-clients`.
//!
//! With `--channels 1,4`, the phases run once per count, side by side in one report: the
//! same clients spread round robin over that many channels (the node's first channel and
//! `bench-2`, `bench-3`, ..., created, joined and given the sample as needed), so the total
//! load is the same and only the number of channels it is spread over changes.
//!
//! Latency is measured per request from building the signed proposal to the answer (for
//! `submit`: to the commit status). CPU and RSS come from `/proc/<pid>` of the node (its pid
//! is in DIR/pid while it runs) and of this process; with `--net`, of every node and etcd
//! member of a `weft net up` network, nodes and etcd counted apart.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::UnboundedReceiverStream;
use weft_client::Client;
use weft_proto::v1::submit_stream_response::Outcome;
use weft_proto::v1::{EndorseRequest, Envelope, TxValidationCode};

/// The sample contract the benchmark drives.
pub(crate) const CONTRACT: &str = "asset-transfer";
/// Assets per client: a client rotates over them.
const KEYS_PER_CLIENT: usize = 2;
/// Clients per gRPC connection by default (`--clients-per-connection`); the node refuses
/// streams of one connection beyond `grpc.max_concurrent_streams` (256 by default).
pub(crate) const CLIENTS_PER_CONNECTION: u32 = 32;
/// Linux reports process CPU times in /proc in units of USER_HZ, which is 100.
const USER_HZ: f64 = 100.0;

/// Which phases to run.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    All,
    Evaluate,
    Endorse,
    Submit,
    Stream,
}

/// How long each phase runs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Length {
    /// Wall time of the measured part.
    Duration(Duration),
    /// Requests in the measured part.
    Count(u64),
}

/// What the command was asked to do.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) phase: Phase,
    pub(crate) clients: usize,
    pub(crate) submit_clients: usize,
    pub(crate) length: Length,
    pub(crate) warmup: Duration,
    /// The server processes whose CPU and RSS the report counts.
    pub(crate) servers: Vec<Server>,
    pub(crate) endpoint: String,
    /// The channel counts to run the phases over, in order.
    pub(crate) channels: Vec<usize>,
    /// Clients sharing one gRPC connection.
    pub(crate) clients_per_connection: usize,
}

/// A process serving the benchmark: a node, or an etcd member ordering for the nodes.
#[derive(Clone, Debug)]
pub(crate) struct Server {
    pub(crate) name: String,
    pub(crate) pid: u32,
    pub(crate) etcd: bool,
}

impl Plan {
    /// Clock ticks of the nodes and of the etcd members so far.
    fn server_ticks(&self) -> (Option<u64>, Option<u64>) {
        let sum = |etcd: bool| {
            let pids: Vec<u32> =
                self.servers.iter().filter(|s| s.etcd == etcd).map(|s| s.pid).collect();
            (!pids.is_empty()).then(|| pids.iter().filter_map(|pid| cpu_ticks(*pid)).sum())
        };
        (sum(false), sum(true))
    }

    fn has_etcd(&self) -> bool {
        self.servers.iter().any(|s| s.etcd)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Evaluate,
    Endorse,
    Submit,
    Stream,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Evaluate => "evaluate",
            Kind::Endorse => "endorse",
            Kind::Submit => "submit",
            Kind::Stream => "stream",
        }
    }
}

/// One worker's observations.
#[derive(Default)]
struct Tally {
    latencies_ns: Vec<u64>,
    codes: BTreeMap<String, u64>,
    errors: u64,
    first_error: Option<String>,
}

/// One phase's result.
struct PhaseResult {
    kind: Kind,
    channels: usize,
    clients: usize,
    count: u64,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    codes: BTreeMap<String, u64>,
    non_valid: u64,
    errors: u64,
    first_error: Option<String>,
    node_cpu_us_per_tx: Option<f64>,
    etcd_cpu_us_per_tx: Option<f64>,
    client_cpu_us_per_tx: Option<f64>,
}

impl PhaseResult {
    fn throughput(&self) -> f64 {
        if self.seconds > 0.0 { self.count as f64 / self.seconds } else { 0.0 }
    }

    fn to_json(&self) -> Value {
        json!({
            "phase": self.kind.name(),
            "channels": self.channels,
            "clients": self.clients,
            "count": self.count,
            "seconds": round(self.seconds, 3),
            "throughput_per_s": round(self.throughput(), 1),
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "max_ms": round(self.max_ms, 3),
            "codes": self.codes,
            "non_valid": self.non_valid,
            "errors": self.errors,
            "first_error": self.first_error,
            "node_cpu_us_per_tx": self.node_cpu_us_per_tx.map(|v| round(v, 1)),
            "etcd_cpu_us_per_tx": self.etcd_cpu_us_per_tx.map(|v| round(v, 1)),
            "client_cpu_us_per_tx": self.client_cpu_us_per_tx.map(|v| round(v, 1)),
        })
    }
}

fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

/// Runs the plan with clients made by `connect` (one call per gRPC connection) over the
/// channels `channels(n)` names (n of them, each with the sample deployed) and returns the
/// report as JSON; `table` receives the readable form.
pub(crate) async fn run<F, Fut, C, CFut>(
    plan: &Plan,
    connect: F,
    channels: C,
) -> Result<(Value, String)>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Client>>,
    C: Fn(usize) -> CFut,
    CFut: std::future::Future<Output = Result<Vec<String>>>,
{
    let run_evaluate = matches!(plan.phase, Phase::All | Phase::Evaluate);
    let run_endorse = matches!(plan.phase, Phase::All | Phase::Endorse);
    let run_submit = matches!(plan.phase, Phase::All | Phase::Submit);
    let run_stream = matches!(plan.phase, Phase::All | Phase::Stream);
    let mut workers = plan.clients.max(1);
    if run_submit || run_stream {
        workers = workers.max(plan.submit_clients);
    }
    if let Some(server) = plan.servers.iter().find(|s| cpu_ticks(s.pid).is_none()) {
        bail!("{} (pid {}) is not a running process", server.name, server.pid);
    }

    let per_connection = plan.clients_per_connection;
    let connections = workers.div_ceil(per_connection);
    let mut pool = Vec::with_capacity(connections);
    for _ in 0..connections {
        pool.push(connect().await?);
    }

    let mut results = Vec::new();
    for &count in &plan.channels {
        let names = channels(count).await?;
        // Worker i addresses channel i mod n: the same load, spread over n channels.
        let clients: Vec<Client> = (0..workers)
            .map(|i| pool[i / per_connection].clone().on_channel(&names[i % names.len()]))
            .collect();
        setup(&clients).await?;
        let run = |kind, clients: &[Client]| {
            let clients = clients.to_vec();
            async move {
                let mut result = phase(plan, kind, &clients).await?;
                result.channels = count;
                anyhow::Ok(result)
            }
        };
        if run_evaluate {
            results.push(run(Kind::Evaluate, &clients[..1]).await?);
            if plan.clients > 1 {
                results.push(run(Kind::Evaluate, &clients[..plan.clients]).await?);
            }
        }
        if run_endorse {
            results.push(run(Kind::Endorse, &clients[..1]).await?);
        }
        if run_submit {
            results.push(run(Kind::Submit, &clients[..plan.submit_clients]).await?);
        }
        if run_stream {
            results.push(run(Kind::Stream, &clients[..plan.submit_clients]).await?);
        }
    }

    let servers: Vec<Value> = plan
        .servers
        .iter()
        .map(|s| {
            let (rss, hwm) = memory_kib(s.pid).unwrap_or((0, 0));
            json!({ "name": s.name, "pid": s.pid, "rss_kib": rss, "peak_rss_kib": hwm })
        })
        .collect();
    let own = memory_kib(std::process::id()).unwrap_or((0, 0));
    let report = json!({
        "endpoint": plan.endpoint,
        "contract": CONTRACT,
        "warmup_s": plan.warmup.as_secs_f64(),
        "phases": results.iter().map(PhaseResult::to_json).collect::<Vec<_>>(),
        // The node the clients talk to (the first), as before `servers` listed them all.
        "node": servers.first(),
        "servers": servers,
        "client": { "pid": std::process::id(), "rss_kib": own.0, "peak_rss_kib": own.1 },
    });
    Ok((report, table(plan, &results)))
}

/// Creates each worker's assets if they do not exist yet (a previous run may have).
async fn setup(clients: &[Client]) -> Result<()> {
    let spinner = spinner();
    spinner.set_message(format!("creating the benchmark's assets for {} clients", clients.len()));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, client) in clients.iter().enumerate() {
        let client = client.clone();
        tasks.spawn(async move {
            for k in 0..KEYS_PER_CLIENT {
                let id = asset_id(index, k);
                let exists = client
                    .evaluate(CONTRACT, "AssetExists", vec![id.clone().into_bytes()])
                    .await
                    .with_context(|| format!("evaluating AssetExists {id}"))?;
                if exists.payload == b"true" {
                    continue;
                }
                let args = [id.as_str(), "blue", "5", "bench", "100"];
                let done = client
                    .submit(
                        CONTRACT,
                        "CreateAsset",
                        args.iter().map(|a| a.as_bytes().to_vec()).collect(),
                    )
                    .await
                    .with_context(|| format!("creating the asset {id}"))?;
                let code = done.status.code();
                if code != TxValidationCode::Valid {
                    bail!("creating the asset {id} committed as {}", code.as_str_name());
                }
            }
            anyhow::Ok(())
        });
    }
    let mut outcome = Ok(());
    while let Some(joined) = tasks.join_next().await {
        let result = joined.context("a setup task panicked").and_then(|r| r);
        if outcome.is_ok() {
            outcome = result;
        }
    }
    spinner.finish_and_clear();
    outcome.with_context(|| {
        format!("setting up: is the `{CONTRACT}` sample deployed (`weft dev` deploys it)?")
    })
}

fn asset_id(client: usize, k: usize) -> String {
    format!("bench-c{client}-{k}")
}

fn spinner() -> ProgressBar {
    let spinner = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("a valid template"),
    );
    spinner.enable_steady_tick(Duration::from_millis(100));
    spinner
}

/// Runs one phase: a warm-up, then the measured part, all workers in a closed loop.
async fn phase(plan: &Plan, kind: Kind, clients: &[Client]) -> Result<PhaseResult> {
    let label = format!("{} x{}", kind.name(), clients.len());
    let progress = spinner();
    progress.set_message(format!("{label}: warming up"));
    if !plan.warmup.is_zero() {
        drive(kind, clients, plan.clients_per_connection, Length::Duration(plan.warmup), None)
            .await;
    }

    let done = Arc::new(AtomicU64::new(0));
    let ticker = {
        let done = Arc::clone(&done);
        let progress = progress.clone();
        let label = label.clone();
        let started = Instant::now();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let n = done.load(Ordering::Relaxed);
                let rate = n as f64 / started.elapsed().as_secs_f64();
                progress.set_message(format!("{label}: {n} requests, {rate:.0}/s"));
            }
        })
    };
    let (node_before, etcd_before) = plan.server_ticks();
    let own_before = cpu_ticks(std::process::id());
    let started = Instant::now();
    let tallies =
        drive(kind, clients, plan.clients_per_connection, plan.length, Some(Arc::clone(&done)))
            .await;
    let seconds = started.elapsed().as_secs_f64();
    let (node_after, etcd_after) = plan.server_ticks();
    let own_after = cpu_ticks(std::process::id());
    ticker.abort();
    progress.finish_and_clear();

    let mut latencies = Vec::new();
    let mut codes = BTreeMap::new();
    let mut errors = 0;
    let mut first_error = None;
    for tally in tallies {
        latencies.extend(tally.latencies_ns);
        for (code, n) in tally.codes {
            *codes.entry(code).or_insert(0) += n;
        }
        errors += tally.errors;
        first_error = first_error.or(tally.first_error);
    }
    latencies.sort_unstable();
    let count = latencies.len() as u64;
    if count == 0 {
        bail!(
            "{label}: no request succeeded{}",
            first_error.map(|e| format!(": {e}")).unwrap_or_default()
        );
    }
    let ok = if matches!(kind, Kind::Submit | Kind::Stream) { "VALID" } else { "OK" };
    let non_valid = codes.iter().filter(|(code, _)| code.as_str() != ok).map(|(_, n)| n).sum();
    let per_tx = |before: Option<u64>, after: Option<u64>| match (before, after) {
        (Some(b), Some(a)) => Some((a.saturating_sub(b)) as f64 / USER_HZ * 1e6 / count as f64),
        _ => None,
    };
    Ok(PhaseResult {
        kind,
        channels: 1,
        clients: clients.len(),
        count,
        seconds,
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        max_ms: latencies.last().copied().unwrap_or(0) as f64 / 1e6,
        codes,
        non_valid,
        errors,
        first_error,
        node_cpu_us_per_tx: per_tx(node_before, node_after),
        etcd_cpu_us_per_tx: per_tx(etcd_before, etcd_after),
        client_cpu_us_per_tx: per_tx(own_before, own_after),
    })
}

/// Nearest-rank percentile of sorted nanoseconds, in milliseconds.
fn percentile(sorted_ns: &[u64], q: f64) -> f64 {
    let rank = ((q * sorted_ns.len() as f64).ceil() as usize).clamp(1, sorted_ns.len());
    sorted_ns[rank - 1] as f64 / 1e6
}

/// Runs `kind` on every client until `length` is used up; each client sends its next
/// request when the previous one is answered.
async fn drive(
    kind: Kind,
    clients: &[Client],
    per_connection: usize,
    length: Length,
    done: Option<Arc<AtomicU64>>,
) -> Vec<Tally> {
    let tickets = Arc::new(AtomicU64::new(0));
    let deadline = match length {
        Length::Duration(d) => Some(Instant::now() + d),
        Length::Count(_) => None,
    };
    let limit = match length {
        Length::Count(n) => n,
        Length::Duration(_) => u64::MAX,
    };
    // The workers of one connection share one stream.
    let mut streams = Vec::new();
    if kind == Kind::Stream {
        for group in clients.chunks(per_connection) {
            match Submitter::open(&group[0]).await {
                Ok(stream) => streams.push(stream),
                Err(status) => {
                    let first_error = Some(format!("{} [{:?}]", status.message(), status.code()));
                    return vec![Tally { errors: 1, first_error, ..Tally::default() }];
                }
            }
        }
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (index, client) in clients.iter().enumerate() {
        let client = client.clone();
        let stream = streams.get(index / per_connection).cloned();
        let tickets = Arc::clone(&tickets);
        let done = done.clone();
        tasks.spawn(async move {
            let mut tally = Tally::default();
            let mut sequence = 0usize;
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                if tickets.fetch_add(1, Ordering::Relaxed) >= limit {
                    break;
                }
                let id = asset_id(index, sequence % KEYS_PER_CLIENT);
                sequence += 1;
                let owner = format!("owner-{sequence}");
                let started = Instant::now();
                match request(kind, &client, stream.as_deref(), id, owner).await {
                    Ok(code) => {
                        tally.latencies_ns.push(started.elapsed().as_nanos() as u64);
                        *tally.codes.entry(code).or_insert(0) += 1;
                        if let Some(done) = &done {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(status) => {
                        tally.errors += 1;
                        if tally.first_error.is_none() {
                            tally.first_error =
                                Some(format!("{} [{:?}]", status.message(), status.code()));
                        }
                        // Do not spin on a node that refuses everything.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            tally
        });
    }
    let mut tallies = Vec::with_capacity(clients.len());
    while let Some(joined) = tasks.join_next().await {
        if let Ok(tally) = joined {
            tallies.push(tally);
        }
    }
    tallies
}

/// One request; returns its outcome: the commit code for `submit`, else `OK` or the
/// contract's failing status.
async fn request(
    kind: Kind,
    client: &Client,
    stream: Option<&Submitter>,
    id: String,
    owner: String,
) -> Result<String, tonic::Status> {
    let outcome = |status: i32| {
        if (200..400).contains(&status) { "OK".to_string() } else { format!("STATUS_{status}") }
    };
    match kind {
        Kind::Evaluate => {
            let response = client.evaluate(CONTRACT, "ReadAsset", vec![id.into_bytes()]).await?;
            Ok(outcome(response.status))
        }
        Kind::Endorse => {
            let proposal = client.proposal(
                CONTRACT,
                "TransferAsset",
                vec![id.into_bytes(), owner.into_bytes()],
            );
            let endorsed = client
                .gateway
                .clone()
                .endorse(EndorseRequest { proposal: Some(proposal) })
                .await?
                .into_inner();
            Ok(outcome(endorsed.result.unwrap_or_default().status))
        }
        Kind::Submit => {
            let done = client
                .submit(CONTRACT, "TransferAsset", vec![id.into_bytes(), owner.into_bytes()])
                .await?;
            Ok(done.status.code().as_str_name().to_string())
        }
        Kind::Stream => {
            let stream = stream.expect("a stream phase has streams");
            let args = vec![id.into_bytes(), owner.into_bytes()];
            let endorsed = client.endorse(client.proposal(CONTRACT, "TransferAsset", args)).await?;
            match stream.submit(endorsed.envelope).await? {
                Outcome::Status(status) => Ok(status.code().as_str_name().to_string()),
                Outcome::Error(e) => Err(tonic::Status::new(e.code.into(), e.message)),
            }
        }
    }
}

/// Answers not yet received on a [`Submitter`]'s stream, by envelope position.
#[derive(Default)]
struct Pending {
    next: u64,
    waiting: HashMap<u64, oneshot::Sender<Outcome>>,
}

/// One `SubmitStream` that several workers share: each sends its envelope and waits for the
/// answer that names its position.
struct Submitter {
    envelopes: mpsc::UnboundedSender<Envelope>,
    pending: Arc<Mutex<Pending>>,
}

impl Submitter {
    /// Opens a stream on `client`'s connection and starts reading its answers.
    async fn open(client: &Client) -> Result<Arc<Submitter>, tonic::Status> {
        let (envelopes, outgoing) = mpsc::unbounded_channel();
        let mut answers = client.submit_stream(UnboundedReceiverStream::new(outgoing)).await?;
        let pending = Arc::new(Mutex::new(Pending::default()));
        let reader = Arc::clone(&pending);
        tokio::spawn(async move {
            while let Some(Ok(answer)) = answers.next().await {
                let waiter = reader.lock().expect("pending").waiting.remove(&answer.index);
                if let (Some(waiter), Some(outcome)) = (waiter, answer.outcome) {
                    let _ = waiter.send(outcome);
                }
            }
            // The stream ended: whoever still waits is told so (their senders drop).
            reader.lock().expect("pending").waiting.clear();
        });
        Ok(Arc::new(Submitter { envelopes, pending }))
    }

    /// Sends `envelope` and waits for its answer.
    async fn submit(&self, envelope: Envelope) -> Result<Outcome, tonic::Status> {
        let (answer, answered) = oneshot::channel();
        {
            // Positions are given in the order envelopes enter the stream: under the lock.
            let mut pending = self.pending.lock().expect("pending");
            let index = pending.next;
            pending.next += 1;
            pending.waiting.insert(index, answer);
            if self.envelopes.send(envelope).is_err() {
                pending.waiting.remove(&index);
                return Err(tonic::Status::unavailable("the submit stream is closed"));
            }
        }
        answered.await.map_err(|_| tonic::Status::unavailable("the submit stream ended"))
    }
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split_whitespace().collect();
    // After the name: state is field 3, utime 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// (VmRSS, VmHWM) of `pid` in KiB.
fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status.lines().find_map(|line| {
            line.strip_prefix(name)?.trim().trim_end_matches("kB").trim().parse::<u64>().ok()
        })
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

fn table(plan: &Plan, results: &[PhaseResult]) -> String {
    let mut out = format!("weft bench: {CONTRACT} on {}\n", plan.endpoint);
    let etcd = plan.has_etcd();
    out += &format!(
        "{:<9} {:>8} {:>7} {:>9} {:>11} {:>9} {:>9} {:>9} {:>9} {:>7} {:>12}{} {:>12}\n",
        "phase",
        "channels",
        "clients",
        "count",
        "per second",
        "p50 ms",
        "p99 ms",
        "max ms",
        "non-ok",
        "errors",
        "node CPU/tx",
        if etcd { format!(" {:>12}", "etcd CPU/tx") } else { String::new() },
        "bench CPU/tx"
    );
    let us = |v: Option<f64>| v.map(|v| format!("{v:.1} us")).unwrap_or_else(|| "-".into());
    for r in results {
        out += &format!(
            "{:<9} {:>8} {:>7} {:>9} {:>11.0} {:>9.3} {:>9.3} {:>9.3} {:>9} {:>7} {:>12}{} {:>12}\n",
            r.kind.name(),
            r.channels,
            r.clients,
            r.count,
            r.throughput(),
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.non_valid,
            r.errors,
            us(r.node_cpu_us_per_tx),
            if etcd { format!(" {:>12}", us(r.etcd_cpu_us_per_tx)) } else { String::new() },
            us(r.client_cpu_us_per_tx),
        );
        if let Some(e) = &r.first_error {
            out += &format!("  first error: {e}\n");
        }
        if r.non_valid > 0 {
            out += &format!("  outcomes: {:?}\n", r.codes);
        }
    }
    if plan.servers.is_empty() {
        out += "node CPU and RSS: unknown (no DIR/pid; pass --node-pid)\n";
    }
    for server in &plan.servers {
        if let Some((rss, hwm)) = memory_kib(server.pid) {
            out += &format!(
                "{} pid {}: RSS {:.1} MiB (peak {:.1} MiB)\n",
                server.name,
                server.pid,
                rss as f64 / 1024.0,
                hwm as f64 / 1024.0
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{cpu_ticks, memory_kib, percentile};

    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted: Vec<u64> = (1..=100).map(|ms| ms * 1_000_000).collect();
        assert_eq!(percentile(&sorted, 0.50), 50.0);
        assert_eq!(percentile(&sorted, 0.99), 99.0);
        assert_eq!(percentile(&[7_000_000], 0.99), 7.0);
    }

    #[test]
    fn reads_cpu_time_and_memory_from_proc() {
        let me = std::process::id();
        assert!(cpu_ticks(me).is_some());
        let (rss, peak) = memory_kib(me).unwrap();
        assert!(rss > 0 && peak >= rss);
        assert_eq!(cpu_ticks(u32::MAX), None);
    }
}
