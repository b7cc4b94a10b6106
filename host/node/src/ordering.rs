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
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OrderingConfig {
    /// `[orderer]`: the kind, block cutting, the etcd cluster.
    orderer: OrdererConfig,
    /// The largest envelope ordering accepts: the largest message the node accepts, since a
    /// Submit request carries one envelope.
    max_envelope_bytes: usize,
    /// How this node names itself to other ordering nodes: `MSP@listen`.
    name: String,
}

impl OrderingConfig {
    /// The ordering settings of `config`.
    pub(crate) fn of(config: &NodeConfig) -> OrderingConfig {
        OrderingConfig {
            orderer: config.orderer.clone(),
            max_envelope_bytes: config.grpc.max_message_bytes,
            name: format!("{}@{}", config.peer.msp_id, config.listen),
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
    let (orderer, thread) =
        EtcdOrderer::start(settings, info.height, info.current_hash, source, None)?;
    Ok((Arc::new(orderer), thread))
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
        let err = etcd(&ordering, "dev".into(), 0, Vec::new(), Arc::new(Empty)).unwrap_err();
        assert!(err.to_string().contains("--features etcd"), "{err}");
    }
}
