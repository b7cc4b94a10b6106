//! Errors of the node (never endorsed, never turned into a contract outcome) and deploy-time
//! rejections.

use crate::validate::ValidationError;

/// A failure of the runtime on this node, not of the contract: I/O, a corrupt cache, the
/// engine refusing a configuration, the wall-clock guard firing. The endorsement fails;
/// nothing is signed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// Reading committed state or history failed.
    #[error(transparent)]
    State(#[from] weft_rwset::StateError),
    /// The compiled-module cache could not be read or written.
    #[error("contract cache I/O failed: {context}")]
    CacheIo {
        /// What the cache was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A cached artifact does not match its checksum or cannot be loaded.
    #[error("contract cache entry {hash} is corrupt: {reason}")]
    CorruptCache {
        /// Code hash of the entry.
        hash: String,
        /// What was wrong.
        reason: String,
    },
    /// No contract with this code hash is deployed on this node.
    #[error("no contract with code hash {0} is deployed")]
    UnknownContract(String),
    /// The engine failed in a way that is not the contract's fault.
    #[error("wasm engine failure: {0}")]
    Engine(String),
    /// The wall-clock guard (epoch deadline) fired: the node was too slow or overloaded. Not a
    /// ledger-visible result: the endorsement fails and may be retried.
    #[error("the invocation hit the node's wall-clock deadline before its fuel ran out")]
    Deadline,
    /// A run on a leash ([`crate::on_leash`]) was cut short: it ran past
    /// [`crate::LEASH_TICKS`] epoch ticks. Its result is thrown away; its caller runs it
    /// again off the leash.
    #[error(
        "the invocation was cut short on its leash (it ran past the time allowed on an async \
         worker); run it again on a contract thread"
    )]
    Preempted,
    /// A thread of the runtime could not be started.
    #[error("starting a runtime thread failed")]
    Thread(#[source] std::io::Error),
    /// The simulator's worker threads are gone.
    #[error("simulator worker threads are not running")]
    WorkersGone,
}

/// A module refused at deploy time, or a deploy that could not complete.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The module broke a deploy-time rule; nothing was compiled or stored.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// Compiling took longer than the node's compile budget; nothing was stored. A backstop
    /// on this node, not a judgement of the module: the static compile-cost measure
    /// (`crate::compile_cost`) keeps every module it admits far below the budget, so this
    /// means the node is overloaded, and the install may be retried.
    #[error(
        "compiling took longer than this node's {} ms budget although the module is within the \
         compile-cost caps: the node is overloaded; nothing was stored, retry",
        .0.as_millis()
    )]
    CompileBudget(std::time::Duration),
    /// The compiler refused a module that passed validation; nothing was stored.
    #[error("the module could not be compiled: {0}")]
    Compile(String),
    /// The node failed while deploying.
    #[error(transparent)]
    Node(#[from] RuntimeError),
}

/// Result of node operations.
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;
