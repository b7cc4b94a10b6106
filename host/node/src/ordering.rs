//! The one place a channel's orderer is made ([`start`]): each channel the node has joined
//! gets its own, from the node's `[orderer]` settings ([`OrderingConfig`]). Today that is
//! the embedded [`SoloOrderer`], following the channel's ledger as its block source; another
//! kind of orderer plugs in here, behind the same [`Orderer`] trait.

use std::sync::Arc;

use weft_ledger::Ledger;
use weft_orderer::{BatchConfig, Orderer, SoloConfig, SoloOrderer};

use crate::committer::LedgerBlocks;
use crate::config::NodeConfig;
use crate::error::Result;

/// What every channel's orderer is made with: the node's `[orderer]` section and the
/// largest envelope it accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OrderingConfig {
    /// Block cutting (`[orderer]`).
    batch: BatchConfig,
    /// The largest envelope ordering accepts: the largest message the node accepts, since a
    /// Submit request carries one envelope.
    max_envelope_bytes: usize,
}

impl OrderingConfig {
    /// The ordering settings of `config`.
    pub(crate) fn of(config: &NodeConfig) -> OrderingConfig {
        OrderingConfig { batch: config.orderer, max_envelope_bytes: config.grpc.max_message_bytes }
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
    let solo = SoloConfig {
        absolute_max_bytes: config.max_envelope_bytes,
        ..SoloConfig::new(config.batch)
    };
    let source = Arc::new(LedgerBlocks(ledger.clone()));
    let (orderer, thread) = SoloOrderer::start(solo, info.height, info.current_hash, source)?;
    Ok(Ordering { orderer: Arc::new(orderer), thread: Some(thread) })
}
