//! The channel's orderer, as `[orderer]` says: the embedded solo orderer, or (built with
//! the `etcd` feature) an orderer on an etcd cluster shared by the ordering nodes.

use std::sync::Arc;

use weft_orderer::{BlockSource, Orderer, SoloConfig, SoloOrderer};

use crate::config::{NodeConfig, OrdererKind};
use crate::error::{Error, Result};

/// The orderer of `channel` and its thread (which ends after [`Orderer::close`] once the
/// last block is delivered), continuing after the node's `height` blocks whose last header
/// hash is `tip_hash`; blocks the orderer no longer keeps are read from `source`. The
/// largest envelope ordering accepts is the largest message the node accepts: a Submit
/// request carries one envelope.
pub(crate) fn start_orderer(
    config: &NodeConfig,
    channel: &str,
    height: u64,
    tip_hash: Vec<u8>,
    source: Arc<dyn BlockSource>,
) -> Result<(Arc<dyn Orderer>, std::thread::JoinHandle<()>)> {
    let absolute_max_bytes = config.grpc.max_message_bytes;
    let batch = config.orderer.batch();
    match config.orderer.kind {
        OrdererKind::Solo => {
            let solo = SoloConfig { absolute_max_bytes, ..SoloConfig::new(batch) };
            let (orderer, thread) = SoloOrderer::start(solo, height, tip_hash, source)?;
            Ok((Arc::new(orderer), thread))
        }
        OrdererKind::Etcd => etcd(config, channel, height, tip_hash, source),
    }
}

#[cfg(feature = "etcd")]
fn etcd(
    config: &NodeConfig,
    channel: &str,
    height: u64,
    tip_hash: Vec<u8>,
    source: Arc<dyn BlockSource>,
) -> Result<(Arc<dyn Orderer>, std::thread::JoinHandle<()>)> {
    use weft_orderer::etcd::{EtcdOrderer, EtcdOrdererConfig};
    let Some(etcd) = config.orderer.etcd.clone() else {
        return Err(Error::Config(
            "[orderer] kind = \"etcd\" needs an [orderer.etcd] table naming the cluster's \
             endpoints"
                .into(),
        ));
    };
    let settings = EtcdOrdererConfig {
        etcd,
        batch: config.orderer.batch(),
        absolute_max_bytes: config.grpc.max_message_bytes,
        channel: channel.to_string(),
        name: format!("{}@{}", config.peer.msp_id, config.listen),
    };
    let (orderer, thread) = EtcdOrderer::start(settings, height, tip_hash, source)?;
    Ok((Arc::new(orderer), thread))
}

#[cfg(not(feature = "etcd"))]
fn etcd(
    _: &NodeConfig,
    _: &str,
    _: u64,
    _: Vec<u8>,
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
        let err = start_orderer(&config, "dev", 0, Vec::new(), Arc::new(Empty)).unwrap_err();
        assert!(err.to_string().contains("--features etcd"), "{err}");
    }
}
