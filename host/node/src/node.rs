//! Wiring: the runtime, the contract threads, the channels (each with its ledger, endorser,
//! orderer and committer: [`crate::channels`]) and the gRPC server, and their graceful
//! shutdown.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::DuplexStream;
use tokio::sync::oneshot;
use tokio_stream::Stream;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tower::limit::GlobalConcurrencyLimitLayer;
use weft_ledger::Ledger;
use weft_proto::v1::admin_server::AdminServer;
use weft_proto::v1::endorser_server::EndorserServer;
use weft_proto::v1::gateway_server::GatewayServer;
use weft_proto::v1::ledger_query_server::LedgerQueryServer;
use weft_runtime::{RuntimeConfig, Simulator};

use crate::channels::{self, Channels};
use crate::collect::RemotePeers;
use crate::config::{ClientAuth, NodeConfig, TlsConfig};
use crate::contract_pool::ContractPool;
use crate::error::{Error, Result};
use crate::memory::MemoryConnector;
use crate::metrics::Metrics;
use crate::service::each::Streams;
use crate::service::edge::{EdgeLayer, HTTP2_HEADER_HEADROOM};
use crate::service::endorser::EndorserService;
use crate::service::{admin::AdminService, gateway::GatewayService, ledger::LedgerService};
use crate::signature_checks::SignatureChecks;

/// Whether this build orders on etcd (`[orderer] kind = "etcd"`): the crate's `etcd`
/// feature.
pub const ETCD_ORDERING: bool = cfg!(feature = "etcd");

/// The multi-threaded async runtime a node process should run on: its workers get the
/// contract stack and are declared contract threads, so endorsements and queries run on
/// the worker that received them instead of being handed to another thread (see
/// [`crate::contract_pool`]). A node started on any other runtime works the same, with a
/// hand-off per simulation.
///
/// Where the build has tokio's unstable API (`.cargo/config.toml` turns it on), a task woken
/// by a worker waits its turn behind the tasks already ready there instead of running next
/// (tokio's "LIFO slot" is off). The task a request wakes when its answer is ready is its
/// connection's: run next, it writes that one answer to the socket; behind the other
/// requests ready, it writes their answers too, in one write. At 512 clients that halves
/// the socket writes per transaction and cuts the node's CPU per transaction by 10 to 18%
/// (two runs); a node serving one client at a time pays about a quarter more CPU per
/// request at the same latency (work stealing wakes the other worker more often). Measured
/// in `docs/performance.md`, "Contracts inline on every worker, on a leash; answers written
/// together".
pub fn async_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let stack = RuntimeConfig::default().thread_stack;
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    #[cfg(tokio_unstable)]
    builder.disable_lifo_slot();
    builder
        .enable_all()
        .thread_stack_size(stack)
        .on_thread_start(move || weft_runtime::declare_contract_thread(stack))
        .build()
}

/// Clears the state database and key history of every channel's ledger (not their
/// blocks), so that the next start rebuilds them by replaying every block: after
/// `[ledger] history` changed, or when the state is ahead of the block store (Fabric's
/// `peer node rebuild-dbs`). The node must be stopped. Returns the ledgers cleared.
pub fn rebuild_state(config: &NodeConfig) -> Result<Vec<std::path::PathBuf>> {
    let dirs = channels::ledger_dirs(&config.data_dir)?;
    for dir in &dirs {
        Ledger::reset_state(dir)?;
    }
    Ok(dirs)
}

/// What the services share: the channels, and what is node-wide.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) channels: Channels,
    pub(crate) sim: Simulator,
    pub(crate) pool: ContractPool,
    pub(crate) metrics: Arc<Metrics>,
    /// Connections to other organizations' peers, for the gateway's endorsements.
    pub(crate) remote: RemotePeers,
    /// The clients' signatures, checked in batches under load.
    pub(crate) signatures: SignatureChecks,
    /// What the request streams share: room for their messages, and the signal to stop
    /// reading when the node stops (`crate::service::each`).
    pub(crate) streams: Streams,
}

/// The server side of `[tls]`: the node's certificate and key and, with `client_ca`, the
/// client certificates it demands (or, `client_auth = "optional"`, accepts). Missing or
/// unreadable files are named.
fn server_tls(tls: &TlsConfig) -> Result<ServerTlsConfig> {
    let mut server = ServerTlsConfig::new().identity(tls_identity(tls)?);
    if let (Some(ca), Some(mode)) = (&tls.client_ca, tls.client_auth_mode()?) {
        let pem = read_tls("client_ca", ca)?;
        if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
            return Err(Error::Config(format!(
                "tls.client_ca {} holds no PEM certificate",
                ca.display()
            )));
        }
        server = server
            .client_ca_root(Certificate::from_pem(pem))
            .client_auth_optional(mode == ClientAuth::Optional);
        tracing::info!(client_ca = %ca.display(), client_auth = mode.as_str(), "mutual TLS");
    }
    Ok(server)
}

/// The certificate and key of `[tls]`: the node's identity as a server, and as a client of
/// the peers of other organizations it asks for endorsements (`crate::collect`).
pub(crate) fn tls_identity(tls: &TlsConfig) -> Result<Identity> {
    Ok(Identity::from_pem(read_tls("cert", &tls.cert)?, read_tls("key", &tls.key)?))
}

/// Reads the file of `[tls]` key `field`, naming both when it cannot.
fn read_tls(field: &str, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(Error::io(format!("reading tls.{field} {}", path.display())))
}

/// The gRPC server with `[tls]` applied, and the node-wide limit checked: every
/// configuration error of the server before anything is opened or started.
fn server_builder(config: &NodeConfig) -> Result<Server> {
    if config.grpc.max_concurrent_requests == 0 {
        return Err(Error::Config("grpc.max_concurrent_requests must be at least 1".into()));
    }
    let mut builder = Server::builder();
    if let Some(files) = &config.tls {
        builder = builder.tls_config(server_tls(files)?).map_err(|e| {
            let (cert, key) = (files.cert.display(), files.key.display());
            Error::Config(format!("TLS with tls.cert {cert} and tls.key {key}: {e}"))
        })?;
    }
    Ok(builder)
}

/// What a request shed by the node-wide limit (`grpc.max_concurrent_requests`, `max`)
/// fails with: [`Error::TooManyRequests`] through [`crate::status`], counted in the metrics,
/// instead of tonic's message about "the connection". Other errors pass unchanged.
fn overload_status(
    max: usize,
    metrics: Arc<Metrics>,
) -> impl Fn(tower::BoxError) -> tower::BoxError + Clone + Send + Sync + 'static {
    move |error| {
        if error.is::<tower::load_shed::error::Overloaded>() {
            metrics.shed();
            tracing::debug!(max, "request shed: the node is at grpc.max_concurrent_requests");
            tonic::Status::from(Error::TooManyRequests(max)).into()
        } else {
            error
        }
    }
}

/// A running node.
#[derive(Debug)]
pub struct Node {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    stop_metrics: oneshot::Sender<()>,
    shared: Arc<Shared>,
    stop_server: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

/// Where a node takes its connections from.
enum Incoming {
    /// A bound TCP listener (`listen` in node.toml).
    Tcp(tokio::net::TcpListener),
    /// In-memory pipes ([`crate::memory`]).
    Memory(std::pin::Pin<Box<dyn Stream<Item = std::io::Result<DuplexStream>> + Send>>),
}

impl Node {
    /// Opens the ledger and runtime under the configured data directory, starts the
    /// orderer and committer threads, and serves gRPC on the configured address.
    pub async fn start(config: &NodeConfig) -> Result<Node> {
        // The address after the configuration is checked, before any channel runs: a port in
        // use fails the start with nothing to undo.
        let builder = server_builder(config)?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(Error::io(format!("listening on {}", config.listen)))?;
        Node::launch(config, builder, Incoming::Tcp(listener)).await
    }

    /// The same node, serving gRPC over an in-memory transport instead of `listen` (the
    /// same server, layers and services; see [`crate::memory`]): clients dial with the
    /// returned connector. [`Node::local_addr`] is then the unspecified address. A node
    /// served in memory speaks plaintext: a `[tls]` section is refused.
    pub async fn start_in_memory(config: &NodeConfig) -> Result<(Node, MemoryConnector)> {
        if config.tls.is_some() {
            return Err(Error::Config(
                "a node served in memory speaks plaintext: remove the [tls] section".into(),
            ));
        }
        let builder = server_builder(config)?;
        let (connector, incoming) = crate::memory::pair();
        let node = Node::launch(config, builder, Incoming::Memory(Box::pin(incoming))).await?;
        Ok((node, connector))
    }

    async fn launch(config: &NodeConfig, builder: Server, incoming: Incoming) -> Result<Node> {
        let max_requests = config.grpc.max_concurrent_requests;
        let addr = match &incoming {
            Incoming::Tcp(listener) => {
                listener.local_addr().map_err(Error::io("reading the listening address"))?
            }
            Incoming::Memory(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        };
        let metrics_listener = match config.metrics_listen {
            None => None,
            Some(at) => Some(
                tokio::net::TcpListener::bind(at)
                    .await
                    .map_err(Error::io(format!("listening for metrics on {at}")))?,
            ),
        };
        // Before anything starts: nothing to undo if the files went away.
        let remote = RemotePeers::new(
            config.gateway.endorsement_timeout(),
            config.grpc.max_message_bytes,
            config.tls.as_ref().map(tls_identity).transpose()?,
            config.grpc.max_concurrent_requests,
        );
        let sim = Simulator::open(&config.data_dir.join("contracts"), config.contracts.runtime())?;
        let metrics = Arc::new(Metrics::default());
        let channels = Channels::open(config, sim.clone(), metrics.clone())?;
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let pool = match ContractPool::start(&sim, threads, metrics.clone()) {
            Ok(pool) => pool,
            Err(e) => {
                channels.close();
                let _ = channels.join_threads();
                return Err(e);
            }
        };
        let signatures = SignatureChecks::start(metrics.clone());
        let streams = Streams::new(config.grpc.max_concurrent_requests);
        let shared = Arc::new(Shared { channels, sim, pool, metrics, remote, signatures, streams });

        let limits = config.grpc;
        let max = limits.max_message_bytes;
        let gateway = GatewayServer::new(GatewayService::new(shared.clone()))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
        let endorser = EndorserServer::new(EndorserService::new(shared.clone()))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
        let admin = AdminServer::new(AdminService::new(shared.clone()))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
        let ledger_query = LedgerQueryServer::new(LedgerService::new(shared.clone()))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
        let (stop_server, stopped) = oneshot::channel::<()>();
        let router = builder
            .timeout(Duration::from_millis(limits.request_timeout_ms))
            .concurrency_limit_per_connection(limits.concurrency_per_connection)
            .load_shed(true)
            // The node-wide limit, over all connections: a request beyond it is refused at
            // once rather than queued. Its place is taken before its message is decoded and
            // given back when its response starts, so a server stream holds none while it
            // streams. In front of it, the edge (service::edge): oversized metadata and
            // broken framing refused with a gRPC status, every failed answer logged with its
            // method.
            .layer(
                tower::ServiceBuilder::new()
                    .layer(EdgeLayer::new(limits.max_header_list_bytes))
                    .map_err(overload_status(max_requests, shared.metrics.clone()))
                    .load_shed()
                    .layer(GlobalConcurrencyLimitLayer::new(max_requests))
                    .into_inner(),
            )
            .max_concurrent_streams(limits.max_concurrent_streams)
            .http2_max_header_list_size(
                limits.max_header_list_bytes.saturating_mul(HTTP2_HEADER_HEADROOM),
            )
            .add_service(gateway)
            .add_service(endorser)
            .add_service(admin)
            .add_service(ledger_query);
        let stop = async {
            let _ = stopped.await;
        };
        let server = match incoming {
            // No Nagle: responses are small and latency-bound.
            Incoming::Tcp(listener) => {
                let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
                tokio::spawn(router.serve_with_incoming_shutdown(incoming, stop))
            }
            Incoming::Memory(incoming) => {
                tokio::spawn(router.serve_with_incoming_shutdown(incoming, stop))
            }
        };
        let (stop_metrics, metrics_stopped) = oneshot::channel::<()>();
        let metrics_addr = match metrics_listener {
            None => None,
            Some(listener) => {
                let bound =
                    listener.local_addr().map_err(Error::io("reading the metrics address"))?;
                tokio::spawn(crate::metrics::serve(listener, shared.metrics.clone(), async {
                    let _ = metrics_stopped.await;
                }));
                tracing::info!(addr = %bound, "metrics served");
                Some(bound)
            }
        };
        tracing::info!(%addr, channels = ?shared.channels.names(), "node started");
        Ok(Node { addr, metrics_addr, shared, stop_server, stop_metrics, server })
    }

    /// The address the gRPC server listens on (the unspecified address `0.0.0.0:0` for a
    /// node served in memory).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address metrics are served on, if configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The node's metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.shared.metrics.clone()
    }

    /// The ledger of the node's first channel (node.toml's `genesis`).
    pub fn ledger(&self) -> Arc<Ledger> {
        self.shared.channels.bootstrap().ledger().clone()
    }

    /// The ledger of channel `name`, if the node has joined it.
    pub fn channel_ledger(&self, name: &str) -> Option<Arc<Ledger>> {
        let peer = self.shared.channels.resolve(name).ok()?;
        (!name.is_empty()).then(|| peer.ledger().clone())
    }

    /// The channels the node has joined, by name.
    pub fn channels(&self) -> Vec<String> {
        self.shared.channels.names()
    }

    /// Stops gracefully: every channel's ordering stops accepting, its batch in flight is
    /// cut and committed (its waiters get their status), waiters for anything else get
    /// `UNAVAILABLE`, then the server finishes its in-flight requests and closes.
    pub async fn shutdown(self) -> Result<()> {
        let Node { shared, stop_server, stop_metrics, server, .. } = self;
        shared.channels.close();
        let committed = {
            let shared = shared.clone();
            tokio::task::spawn_blocking(move || shared.channels.join_threads())
                .await
                .map_err(|_| Error::ShuttingDown)?
        };
        shared.streams.stop();
        let _ = stop_server.send(());
        let _ = stop_metrics.send(());
        let served = server.await;
        shared.pool.close();
        for peer in shared.channels.all() {
            let height = peer.ledger().chain_info().height;
            tracing::info!(channel = %peer.name(), height, "channel stopped");
        }
        tracing::info!("node stopped");
        committed?;
        match served {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::Internal(format!("the gRPC server failed: {e}"))),
            Err(_) => Err(Error::Internal("the gRPC server task panicked".into())),
        }
    }
}
