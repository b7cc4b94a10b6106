//! The one place a channel's orderer is made ([`start`]): each channel the node has joined
//! gets its own, from the node's `[orderer]` settings ([`OrderingConfig`]): the embedded
//! [`SoloOrderer`], or (built with the `etcd` feature) an orderer on an etcd cluster shared
//! by the ordering nodes. Either follows the channel's ledger as its block source, behind
//! the same [`Orderer`] trait.

use std::sync::Arc;

use weft_ledger::Ledger;
use weft_orderer::{BlockSource, Orderer, SoloConfig, SoloOrderer};

use crate::committer::LedgerBlocks;
use crate::config::{NodeConfig, OrdererConfig, OrdererKind};
use crate::error::{Error, Result};

/// What every channel's orderer is made with: the node's `[orderer]` section, the largest
/// envelope it accepts, and the name this node campaigns under (etcd).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct OrderingConfig {
    /// `[orderer]`: the kind, block cutting, the etcd cluster.
    orderer: OrdererConfig,
    /// The largest envelope ordering accepts: the largest message the node accepts, since a
    /// Submit request carries one envelope.
    max_envelope_bytes: usize,
    /// How this node names itself to other ordering nodes: `MSP@listen`.
    name: String,
    /// Where this node serves (`listen`): not asked for blocks by itself.
    address: String,
    /// The node's TLS files, whose certificate it presents to the nodes it asks for blocks.
    tls: Option<crate::config::TlsConfig>,
    /// The largest message the node accepts.
    max_message_bytes: usize,
}

impl OrderingConfig {
    /// The ordering settings of `config`.
    pub(crate) fn of(config: &NodeConfig) -> OrderingConfig {
        OrderingConfig {
            orderer: config.orderer.clone(),
            max_envelope_bytes: config.grpc.max_message_bytes,
            name: format!("{}@{}", config.peer.msp_id, config.listen),
            address: config.listen.to_string(),
            tls: config.tls.clone(),
            max_message_bytes: config.grpc.max_message_bytes,
        }
    }
}

/// A channel's running orderer, and the thread to join once it is closed (if it has one).
pub(crate) struct Ordering {
    /// The orderer the channel's gateway broadcasts to and its committer follows.
    pub(crate) orderer: Arc<dyn Orderer>,
    /// Its thread, ending after [`Orderer::close`].
    pub(crate) thread: Option<std::thread::JoinHandle<()>>,
}

/// Starts the orderer of the channel whose ledger is `ledger`, ordering from the ledger's
/// height.
pub(crate) fn start(config: &OrderingConfig, ledger: &Arc<Ledger>) -> Result<Ordering> {
    let info = ledger.chain_info();
    let source: Arc<dyn BlockSource> = Arc::new(LedgerBlocks(ledger.clone()));
    let (orderer, thread) = match config.orderer.kind {
        OrdererKind::Solo => {
            let solo = SoloConfig {
                absolute_max_bytes: config.max_envelope_bytes,
                ..SoloConfig::new(config.orderer.batch())
            };
            let (orderer, thread) =
                SoloOrderer::start(solo, info.height, info.current_hash, source)?;
            (Arc::new(orderer) as Arc<dyn Orderer>, thread)
        }
        OrdererKind::Etcd => etcd(config, ledger, source)?,
    };
    Ok(Ordering { orderer, thread: Some(thread) })
}

/// The etcd orderer of `ledger`'s channel, following from the ledger's height.
#[cfg(feature = "etcd")]
fn etcd(
    config: &OrderingConfig,
    ledger: &Ledger,
    source: Arc<dyn BlockSource>,
) -> Result<(Arc<dyn Orderer>, std::thread::JoinHandle<()>)> {
    use prost::Message;
    use weft_orderer::etcd::{EtcdOrderer, EtcdOrdererConfig};
    let Some(etcd) = config.orderer.etcd.clone() else {
        return Err(Error::Config(
            "[orderer] kind = \"etcd\" needs an [orderer.etcd] table naming the cluster's \
             endpoints"
                .into(),
        ));
    };
    let channel = ledger.channel();
    let settings = EtcdOrdererConfig {
        etcd,
        batch: config.orderer.batch(),
        absolute_max_bytes: config.max_envelope_bytes,
        channel: channel.name().to_string(),
        name: config.name.clone(),
        genesis_hash: blake3::hash(&channel.config().encode_to_vec()).as_bytes().to_vec(),
    };
    let info = ledger.chain_info();
    let peers = peer_blocks(config, &channel)?;
    let (orderer, thread) =
        EtcdOrderer::start(settings, info.height, info.current_hash, source, peers)?;
    Ok((Arc::new(orderer), thread))
}

/// The channel's other nodes, at the peer endpoints its configuration lists (but this
/// node's own address), for blocks older than etcd keeps that this node's ledger lacks.
#[cfg(feature = "etcd")]
fn peer_blocks(
    config: &OrderingConfig,
    channel: &weft_protocol::channel::Channel,
) -> Result<Option<Arc<dyn weft_orderer::PeerBlocks>>> {
    let peers: Vec<_> = (channel.config().organizations.iter())
        .flat_map(|org| org.peers.iter())
        .filter(|peer| peer.address != config.address)
        .cloned()
        .collect();
    if peers.is_empty() {
        return Ok(None);
    }
    let identity = config.tls.as_ref().map(crate::node::tls_identity).transpose()?;
    // Blocks came through etcd, so none is larger than one of its requests; twice that
    // leaves room for the committed metadata.
    let etcd = config.orderer.etcd.as_ref().map_or(0, |e| e.max_request_bytes);
    let limit = config.max_message_bytes.max(2 * etcd);
    let name = channel.name().to_string();
    Ok(Some(Arc::new(crate::peer_blocks::GrpcPeerBlocks::new(name, peers, identity, limit))))
}

#[cfg(not(feature = "etcd"))]
fn etcd(
    _: &OrderingConfig,
    _: &Ledger,
    _: Arc<dyn BlockSource>,
) -> Result<(Arc<dyn Orderer>, std::thread::JoinHandle<()>)> {
    Err(Error::Config(
        "[orderer] kind = \"etcd\", but this weft was built without the etcd orderer: build \
         it with `cargo build --release --bin weft --features etcd` (which needs protoc, \
         Debian's protobuf-compiler)"
            .into(),
    ))
}

#[cfg(all(test, not(feature = "etcd")))]
mod tests {
    use super::*;

    #[test]
    fn without_the_feature_etcd_is_refused_saying_how_to_build_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:0\"\ngenesis = \"g.pb\"\ndata_dir = \"data\"\n\
             [peer]\nmsp_id = \"Org1\"\nkey = \"peer.key\"\n[orderer]\nkind = \"etcd\"\n",
        )
        .unwrap();
        let config = NodeConfig::load(&path).unwrap();
        #[derive(Debug)]
        struct Empty;
        impl BlockSource for Empty {
            fn height(&self) -> u64 {
                0
            }
            fn block(
                &self,
                _: u64,
            ) -> std::result::Result<
                Option<weft_proto::v1::Block>,
                Box<dyn std::error::Error + Send + Sync>,
            > {
                Ok(None)
            }
        }
        let ordering = OrderingConfig::of(&config);
        assert_eq!(ordering.orderer.kind, OrdererKind::Etcd);
        let net = weft_protocol::testing::TestNetwork::new("dev", 1, &[]);
        let ledger = Ledger::open(dir.path().join("ledger"), net.config.clone()).unwrap();
        let err = etcd(&ordering, &ledger, Arc::new(Empty)).unwrap_err();
        assert!(err.to_string().contains("--features etcd"), "{err}");
    }
}
