//! The node's TOML configuration and its key files.
//!
//! ```toml
//! listen = "127.0.0.1:7051"
//! genesis = "genesis.pb"        # encoded weft.v1.ChannelConfig of the node's first channel
//! data_dir = "data"             # channels/NAME/ (one per joined channel) and contracts/
//!
//! [peer]
//! msp_id = "Org1"
//! key = "keys/Org1/peer.key"    # 64 hex digits: the ed25519 secret key
//! time_window_secs = 900        # proposals more than this from the peer's clock are refused
//! also_endorse_as = [{ msp_id = "Org2", key = "keys/Org2/peer.key" }]  # optional: more peers
//!
//! [orderer]                     # Fabric's BatchSize and BatchTimeout
//! kind = "solo"                 # or "etcd": ordering on an etcd cluster (the `etcd` feature)
//! max_txs = 500
//! max_bytes = 4194304
//! batch_timeout_ms = 20
//!
//! [orderer.etcd]                # only with kind = "etcd"
//! endpoints = ["http://127.0.0.1:2379"]
//! window = 1000                 # blocks kept in etcd
//! tls = { ca = "etcd/ca.pem", cert = "etcd/client.pem", key = "etcd/client.key" }  # optional
//!
//! [gateway]                     # collecting endorsements from other organizations' peers
//! endorsement_timeout_ms = 10000  # per peer asked (connecting included)
//!
//! [grpc]
//! max_message_bytes = 8388608
//! max_concurrent_requests = 4096  # node-wide; beyond it requests are shed
//!
//! [tls]                          # optional: serve TLS
//! cert = "tls/server.pem"
//! key = "tls/server.key"
//! client_ca = "tls/ca.pem"       # optional: mutual TLS with client certificates
//! client_auth = "required"       # or "optional"; only with client_ca
//!
//! [ledger]
//! cache_mib = 8                 # sled's page cache
//! history = true                # the key-history index
//!
//! [contracts]
//! execute_timeout_ms = 10000    # wall-clock backstop per invocation (fuel ends runaways)
//! ```
//!
//! Relative paths are relative to the directory of the configuration file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use prost::Message;
use serde::{Deserialize, Serialize};
use weft_ledger::{Durability, LedgerOptions};
use weft_proto::v1::ChannelConfig;
use weft_protocol::identity::SigningIdentity;

use crate::error::{Error, Result};

/// Everything a node needs to start.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Address of the gRPC server (port 0: any free port).
    pub listen: SocketAddr,
    /// The genesis configuration (encoded `weft.v1.ChannelConfig`) of the node's first
    /// channel, opened at every start; more are joined at run time (`Admin.JoinChannel`).
    pub genesis: PathBuf,
    /// Where each joined channel (`channels/NAME/`: its genesis and ledger) and the installed
    /// contracts (`contracts/`) live.
    pub data_dir: PathBuf,
    /// This peer's identity.
    pub peer: PeerConfig,
    /// Ordering: which orderer, and block cutting.
    #[serde(default)]
    pub orderer: OrdererConfig,
    /// The gateway: how long other organizations' peers get to endorse.
    #[serde(default)]
    pub gateway: GatewayConfig,
    /// Limits of the public endpoint.
    #[serde(default)]
    pub grpc: GrpcLimits,
    /// What a commit waits for: `sync` (default), `flush` or `deferred`.
    #[serde(default)]
    pub durability: DurabilityConfig,
    /// The state database's memory and indexes.
    #[serde(default)]
    pub ledger: LedgerConfig,
    /// How this node runs contracts.
    #[serde(default)]
    pub contracts: ContractsConfig,
    /// Where to serve metrics (Prometheus text at any path over HTTP/1); none: not served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
    /// Serve gRPC over TLS with this certificate; none: plaintext.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
}

/// The server's TLS certificate chain and key, PEM files, and optionally the CA whose
/// client certificates it accepts (mutual TLS).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// The CA certificate(s) (PEM) that sign client certificates; none: clients present no
    /// certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<PathBuf>,
    /// Whether clients must present a certificate signed by `client_ca`; only valid with
    /// `client_ca`, and `required` when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_auth: Option<ClientAuth>,
}

/// Whether the TLS handshake demands a client certificate.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// A client without a certificate signed by `client_ca` is refused in the handshake.
    #[default]
    Required,
    /// A client may present no certificate; one it presents must still verify.
    Optional,
}

impl TlsConfig {
    /// How clients are authenticated in the handshake: `None` without `client_ca`.
    /// Refuses `client_auth` without `client_ca`, which would silently do nothing.
    pub fn client_auth_mode(&self) -> Result<Option<ClientAuth>> {
        match (&self.client_ca, self.client_auth) {
            (Some(_), mode) => Ok(Some(mode.unwrap_or_default())),
            (None, None) => Ok(None),
            (None, Some(mode)) => Err(Error::Config(format!(
                "tls.client_auth = \"{}\" needs tls.client_ca, the CA certificate that signs \
                 client certificates",
                mode.as_str()
            ))),
        }
    }
}

impl ClientAuth {
    /// The name in `node.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuth::Required => "required",
            ClientAuth::Optional => "optional",
        }
    }
}

/// The peer's organization and key file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// Organization (MSP) id.
    pub msp_id: String,
    /// File holding the ed25519 secret key as 64 hex digits.
    pub key: PathBuf,
    /// How far, in seconds, a proposal's timestamp may be from this peer's clock, either way
    /// (Fabric's `peer.authentication.timewindow`): the endorser refuses proposals outside
    /// it, so a signed proposal cannot be replayed for endorsement long after it was made.
    #[serde(default = "default_time_window_secs")]
    pub time_window_secs: u64,
    /// More peer identities this node endorses with, each adding its own endorsement to
    /// every proposal response (so one development node can endorse for the peers of
    /// several organizations). Each must be listed with the peer role in the genesis
    /// configuration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also_endorse_as: Vec<PeerKey>,
}

/// Another peer identity of this node: organization and key file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PeerKey {
    /// Organization (MSP) id.
    pub msp_id: String,
    /// File holding the ed25519 secret key as 64 hex digits.
    pub key: PathBuf,
}

/// Fifteen minutes, as Fabric's default time window.
pub const DEFAULT_TIME_WINDOW_SECS: u64 = 15 * 60;

fn default_time_window_secs() -> u64 {
    DEFAULT_TIME_WINDOW_SECS
}

impl PeerConfig {
    /// The proposal time window.
    pub fn time_window(&self) -> Duration {
        Duration::from_secs(self.time_window_secs)
    }
}

/// Block cutting: Fabric's `BatchSize` and `BatchTimeout` (see [`weft_orderer::cutter`]).
pub use weft_orderer::BatchConfig;
/// The `[orderer.etcd]` table (see [`weft_orderer::etcd`]).
pub use weft_orderer::etcd::EtcdConfig;

/// Which orderer a node runs.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OrdererKind {
    /// The embedded single-node orderer.
    #[default]
    Solo,
    /// Ordering on an etcd cluster shared by the ordering nodes (`[orderer.etcd]`); needs a
    /// build with the `etcd` feature.
    Etcd,
}

/// The `[orderer]` section: which orderer, Fabric's `BatchSize` and `BatchTimeout` (the
/// fields of [`BatchConfig`]), and the etcd cluster for `kind = "etcd"`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct OrdererConfig {
    /// `solo` (default) or `etcd`.
    pub kind: OrdererKind,
    /// Most transactions per block.
    pub max_txs: usize,
    /// Most bytes of envelopes per block (a single larger envelope gets a block of its own).
    pub max_bytes: usize,
    /// Longest wait from a block's first transaction to its cut, in milliseconds.
    pub batch_timeout_ms: u64,
    /// Envelopes waiting for ordering (solo) or broadcasts waiting for etcd before
    /// submissions are refused (load shedding).
    pub queue: usize,
    /// The etcd cluster, for `kind = "etcd"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etcd: Option<EtcdConfig>,
}

impl Default for OrdererConfig {
    fn default() -> Self {
        let BatchConfig { max_txs, max_bytes, batch_timeout_ms, queue } = BatchConfig::default();
        OrdererConfig {
            kind: OrdererKind::Solo,
            max_txs,
            max_bytes,
            batch_timeout_ms,
            queue,
            etcd: None,
        }
    }
}

impl OrdererConfig {
    /// Block cutting.
    pub fn batch(&self) -> BatchConfig {
        BatchConfig {
            max_txs: self.max_txs,
            max_bytes: self.max_bytes,
            batch_timeout_ms: self.batch_timeout_ms,
            queue: self.queue,
        }
    }
}

/// The `[gateway]` section: how the gateway collects endorsements from the peers of other
/// organizations (see [`crate::collect`]).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// How long one peer of another organization gets to answer an endorsement request,
    /// connecting included, in milliseconds (Fabric's `peer.gateway.endorsementTimeout`);
    /// past it the peer counts as unreachable and the organization's next peer is tried.
    pub endorsement_timeout_ms: u64,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig { endorsement_timeout_ms: 10_000 }
    }
}

impl GatewayConfig {
    /// The deadline of one endorsement request (at least a millisecond).
    pub fn endorsement_timeout(&self) -> Duration {
        Duration::from_millis(self.endorsement_timeout_ms.max(1))
    }
}

/// Limits of the gRPC server. tonic's defaults (no limit on outgoing messages or concurrent
/// streams, no timeout) are not safe for a public endpoint.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcLimits {
    /// Largest message accepted or sent, in bytes (a `.wasm` upload must fit).
    pub max_message_bytes: usize,
    /// Longest a unary request may take, in milliseconds.
    pub request_timeout_ms: u64,
    /// Requests served at once per connection; beyond it, requests are shed
    /// (`RESOURCE_EXHAUSTED`) rather than queued.
    pub concurrency_per_connection: usize,
    /// Requests served at once by the whole node, over all connections; beyond it,
    /// requests are shed (`RESOURCE_EXHAUSTED`, "the node is overloaded") rather than
    /// queued. A request holds its place until its response starts: for unary calls that
    /// includes waits for a commit (`SubmitAndWait`, `CommitStatus`); a server stream
    /// (events, blocks) gives it back once the stream is open. Higher lets more clients wait
    /// for commits at once; lower bounds the memory of requests in flight (each may hold a
    /// decoded message of up to `max_message_bytes`).
    pub max_concurrent_requests: usize,
    /// HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
    /// Largest request metadata (the HTTP/2 header list, counted as HTTP/2 does), in bytes:
    /// beyond it a request is refused with `OUT_OF_RANGE` (see `service::edge`).
    pub max_header_list_bytes: u32,
}

impl Default for GrpcLimits {
    fn default() -> Self {
        GrpcLimits {
            max_message_bytes: 8 << 20,
            request_timeout_ms: 30_000,
            concurrency_per_connection: 256,
            max_concurrent_requests: 4096,
            max_concurrent_streams: 256,
            max_header_list_bytes: 16 << 10,
        }
    }
}

/// How this node runs contracts. Only local safety settings live here: what decides a
/// contract's result (fuel, memory caps, deploy caps) is the same on every peer and is not
/// configurable per node.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ContractsConfig {
    /// Wall-clock backstop on one invocation, in milliseconds (Fabric's
    /// `chaincode.executetimeout`). Fuel ends a runaway contract first, the same way on every
    /// peer, in well under a second; this fires only on an overloaded machine, and then the
    /// request gets `UNAVAILABLE` "node overloaded, retry" and nothing is endorsed.
    pub execute_timeout_ms: u64,
}

impl Default for ContractsConfig {
    fn default() -> Self {
        ContractsConfig {
            execute_timeout_ms: weft_runtime::RuntimeConfig::default()
                .wall_clock_deadline
                .as_millis() as u64,
        }
    }
}

impl ContractsConfig {
    /// The runtime configuration for these settings.
    pub fn runtime(&self) -> weft_runtime::RuntimeConfig {
        weft_runtime::RuntimeConfig {
            wall_clock_deadline: Duration::from_millis(self.execute_timeout_ms.max(1)),
            ..weft_runtime::RuntimeConfig::default()
        }
    }
}

/// The ledger's cache and indexes.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct LedgerConfig {
    /// sled's page cache, in MiB. It bounds most of the node's memory beyond the contracts:
    /// without a bound the cache grows with the ledger (about 1.3 KiB per transaction).
    pub cache_mib: u64,
    /// Keep the key-history index (Fabric's `enableHistoryDatabase`). Changing it for an
    /// existing ledger needs its state rebuilt from the blocks ([`crate::node::rebuild_state`],
    /// `weft node rebuild-state`); the node refuses to start until then and says so.
    pub history: bool,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig { cache_mib: 8, history: true }
    }
}

impl LedgerConfig {
    /// The ledger options for this configuration and `durability`.
    pub fn options(&self, durability: DurabilityConfig) -> LedgerOptions {
        LedgerOptions {
            durability: durability.into(),
            cache_capacity: self.cache_mib << 20,
            history: self.history,
        }
    }
}

/// [`Durability`] as configured.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DurabilityConfig {
    /// Flush and fsync before a block counts as committed.
    #[default]
    Sync,
    /// Flush only.
    Flush,
    /// Background flush.
    Deferred,
}

impl From<DurabilityConfig> for Durability {
    fn from(d: DurabilityConfig) -> Durability {
        match d {
            DurabilityConfig::Sync => Durability::Sync,
            DurabilityConfig::Flush => Durability::Flush,
            DurabilityConfig::Deferred => Durability::Deferred,
        }
    }
}

impl NodeConfig {
    /// Reads `path` and makes its relative paths relative to the file's directory.
    pub fn load(path: &Path) -> Result<NodeConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(Error::io(format!("reading {}", path.display())))?;
        let mut config: NodeConfig =
            toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut paths = vec![&mut config.genesis, &mut config.data_dir, &mut config.peer.key];
        paths.extend(config.peer.also_endorse_as.iter_mut().map(|p| &mut p.key));
        if let Some(tls) = &mut config.tls {
            paths.extend([&mut tls.cert, &mut tls.key]);
            paths.extend(tls.client_ca.as_mut());
        }
        if let Some(tls) = config.orderer.etcd.as_mut().and_then(|etcd| etcd.tls.as_mut()) {
            paths.push(&mut tls.ca);
            paths.extend(tls.cert.as_mut().into_iter().chain(tls.key.as_mut()));
        }
        for p in paths {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(config)
    }

    /// The configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("the configuration serializes")
    }

    /// Reads the genesis configuration.
    pub fn channel_config(&self) -> Result<ChannelConfig> {
        let bytes = std::fs::read(&self.genesis)
            .map_err(Error::io(format!("reading the genesis file {}", self.genesis.display())))?;
        ChannelConfig::decode(bytes.as_slice()).map_err(|e| {
            Error::Config(format!("genesis file {} does not decode: {e}", self.genesis.display()))
        })
    }

    /// Reads the peer's signing identity.
    pub fn peer_identity(&self) -> Result<SigningIdentity> {
        read_identity(&self.peer.msp_id, &self.peer.key)
    }

    /// Reads the peer identities of `[peer] also_endorse_as`.
    pub fn more_peer_identities(&self) -> Result<Vec<SigningIdentity>> {
        self.peer.also_endorse_as.iter().map(|p| read_identity(&p.msp_id, &p.key)).collect()
    }
}

/// Reads an identity of `msp_id` from a key file (64 hex digits, surrounding whitespace
/// ignored).
pub fn read_identity(msp_id: &str, path: &Path) -> Result<SigningIdentity> {
    let text = std::fs::read_to_string(path)
        .map_err(Error::io(format!("reading key file {}", path.display())))?;
    let secret =
        decode_hex(text.trim()).and_then(|b| <[u8; 32]>::try_from(b).ok()).ok_or_else(|| {
            Error::Config(format!("key file {} does not hold 64 hex digits", path.display()))
        })?;
    Ok(SigningIdentity::from_secret(msp_id, secret))
}

/// Writes a secret key file (readable by its owner only on Unix).
pub fn write_key(path: &Path, secret: &[u8; 32]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    }
    std::fs::write(path, format!("{}\n", hex(secret)))
        .map_err(Error::io(format!("writing {}", path.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(Error::io(format!("restricting {}", path.display())))?;
    }
    Ok(())
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decodes hex (either case); `None` if malformed.
pub fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_with_defaults_and_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:0\"\ngenesis = \"genesis.pb\"\ndata_dir = \"data\"\n\
             [peer]\nmsp_id = \"Org1\"\nkey = \"keys/peer.key\"\n[orderer]\nmax_txs = 7\n",
        )
        .unwrap();
        let config = NodeConfig::load(&path).unwrap();
        assert_eq!(config.genesis, dir.path().join("genesis.pb"));
        assert_eq!(config.orderer.max_txs, 7);
        assert_eq!(config.orderer.batch_timeout_ms, 20);
        assert_eq!(config.orderer.kind, OrdererKind::Solo);
        assert_eq!(config.grpc, GrpcLimits::default());
        std::fs::write(&path, "listen = \"x\"").unwrap();
        let err = NodeConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains("node.toml"), "{err}");

        let key = dir.path().join("keys/peer.key");
        write_key(&key, &[7; 32]).unwrap();
        let id = read_identity("Org1", &key).unwrap();
        assert_eq!(id.public_key(), SigningIdentity::from_secret("Org1", [7; 32]).public_key());
        std::fs::write(&key, "zz").unwrap();
        assert!(read_identity("Org1", &key).is_err());
        assert_eq!(decode_hex("0aFf"), Some(vec![10, 255]));
        assert_eq!(decode_hex("abc"), None);
    }

    #[test]
    fn the_orderer_section_names_its_kind_and_the_etcd_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        let base = "listen = \"127.0.0.1:0\"\ngenesis = \"g.pb\"\ndata_dir = \"data\"\n\
                    [peer]\nmsp_id = \"Org1\"\nkey = \"peer.key\"\n";
        let load = |extra: &str| {
            std::fs::write(&path, format!("{base}{extra}")).unwrap();
            NodeConfig::load(&path).map(|c| c.orderer)
        };
        let etcd = load(
            "[orderer]\nkind = \"etcd\"\nmax_txs = 9\n\
             [orderer.etcd]\nendpoints = [\"http://127.0.0.1:2379\"]\nwindow = 50\n\
             tls = { ca = \"etcd/ca.pem\", cert = \"/abs/c.pem\", key = \"etcd/c.key\" }\n",
        )
        .unwrap();
        assert_eq!(etcd.kind, OrdererKind::Etcd);
        assert_eq!(etcd.batch(), BatchConfig { max_txs: 9, ..BatchConfig::default() });
        let cluster = etcd.etcd.as_ref().unwrap();
        assert_eq!(cluster.endpoints, ["http://127.0.0.1:2379"]);
        assert_eq!((cluster.window, cluster.compact_every), (50, 100));
        let tls = cluster.tls.as_ref().unwrap();
        assert_eq!(tls.ca, dir.path().join("etcd/ca.pem"), "relative to the file");
        assert_eq!(tls.cert, Some(PathBuf::from("/abs/c.pem")));
        assert_eq!(tls.key, Some(dir.path().join("etcd/c.key")));
        // The configuration round-trips through TOML.
        let config = NodeConfig::load(&path).unwrap();
        assert_eq!(toml::from_str::<NodeConfig>(&config.to_toml()).unwrap(), config);
        for (extra, named) in [
            ("[orderer]\nkind = \"kafka\"\n", "kafka"),
            ("[orderer]\nendpoint = [\"x\"]\n", "endpoint"),
            ("[orderer.etcd]\nwindows = 5\n", "windows"),
        ] {
            let err = load(extra).unwrap_err().to_string();
            assert!(err.contains(named), "{extra}: {err}");
        }
    }

    #[test]
    fn tls_client_auth_modes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        let base = "listen = \"127.0.0.1:0\"\ngenesis = \"g.pb\"\ndata_dir = \"data\"\n\
                    [peer]\nmsp_id = \"Org1\"\nkey = \"peer.key\"\n\
                    [tls]\ncert = \"tls/s.pem\"\nkey = \"tls/s.key\"\n";
        let load = |extra: &str| {
            std::fs::write(&path, format!("{base}{extra}")).unwrap();
            NodeConfig::load(&path).map(|c| c.tls.unwrap())
        };
        let plain = load("").unwrap();
        assert_eq!(plain.client_auth_mode().unwrap(), None);
        let required = load("client_ca = \"tls/ca.pem\"\n").unwrap();
        assert_eq!(required.client_ca, Some(dir.path().join("tls/ca.pem")));
        assert_eq!(required.client_auth_mode().unwrap(), Some(ClientAuth::Required));
        let optional = load("client_ca = \"/ca.pem\"\nclient_auth = \"optional\"\n").unwrap();
        assert_eq!(optional.client_ca, Some(PathBuf::from("/ca.pem")));
        assert_eq!(optional.client_auth_mode().unwrap(), Some(ClientAuth::Optional));
        let err = load("client_auth = \"optional\"\n").unwrap().client_auth_mode().unwrap_err();
        assert!(err.to_string().contains("needs tls.client_ca"), "{err}");
        let err = load("client_ca = \"ca.pem\"\nclient_auth = \"sometimes\"\n").unwrap_err();
        assert!(err.to_string().contains("sometimes"), "{err}");
    }
}
