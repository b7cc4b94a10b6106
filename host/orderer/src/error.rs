//! Errors of ordering. The node maps each to a gRPC status (`weft_node::status`).

/// Why an orderer refused an envelope or cannot serve a block stream.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ordering queue is full (load shedding): try again later.
    #[error("ordering is overloaded: {0}")]
    Overloaded(String),
    /// The orderer is closed (the node is shutting down).
    #[error("ordering is shutting down")]
    ShuttingDown,
    /// The envelope is larger than the most an orderer accepts (Fabric's
    /// `AbsoluteMaxBytes`).
    #[error("the envelope is {size} bytes, more than the {max} bytes ordering accepts")]
    TooLarge {
        /// The envelope's size in bytes.
        size: usize,
        /// The largest envelope accepted.
        max: usize,
    },
    /// A stream was asked to start beyond the next block this orderer will cut: it holds
    /// blocks `0..height` (and cuts block `height` next), so `from` can never be served in
    /// order. A consumer whose chain is ahead of its orderer is wired to the wrong orderer
    /// or to a chain that lost blocks.
    #[error(
        "cannot deliver from block {from}: the orderer's chain has {height} blocks, so the \
         next block it delivers is {height}"
    )]
    BeyondTip {
        /// The first block asked for.
        from: u64,
        /// The orderer's height (number of blocks cut).
        height: u64,
    },
    /// A block below the orderer's in-memory window is not in its block source (the
    /// source lost it or was reset).
    #[error("block {0} is neither held by the orderer nor in its block source")]
    Missing(u64),
    /// Reading a block from the block source failed.
    #[error("reading block {number} from the block source: {cause}")]
    Source {
        /// The block being read.
        number: u64,
        /// The source's error.
        cause: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A block below the window the orderer keeps (for etcd, `[orderer.etcd] window`) is not
    /// in the node's block source either: the node was away longer than the window.
    #[error(
        "block {number} is no longer kept by the orderer (it keeps blocks from {first} on) and \
         is not in this node's ledger: a node this far behind cannot catch up from the orderer"
    )]
    Pruned {
        /// The block asked for.
        number: u64,
        /// The first block the orderer still keeps.
        first: u64,
    },
    /// The ordering service (the etcd cluster) could not be reached or did not answer in
    /// time; what was being done is named.
    #[error("ordering is unavailable: {0}")]
    Unavailable(String),
    /// A value in the ordering service's store does not decode (it was written by something
    /// else, or by an incompatible version).
    #[error("the orderer's key {key} holds a value that does not decode: {cause}")]
    Corrupt {
        /// The key.
        key: String,
        /// What is wrong with its value.
        cause: String,
    },
    /// The orderer's settings cannot work; the setting is named.
    #[error("the orderer's settings: {0}")]
    Config(String),
    /// The orderer could not start (a thread could not be spawned).
    #[error("starting the orderer: {0}")]
    Start(#[source] std::io::Error),
}

/// Result of ordering operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
