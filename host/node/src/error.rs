//! Errors of the node. [`crate::status`] maps each one to a gRPC status.

use weft_proto::quote::quote;
use weft_protocol::transaction::ProposalRejection;
use weft_runtime::{ContractFailure, DeployError, RuntimeError};

/// Why a request failed, or the node could not go on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field is missing or does not decode.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The signed proposal was refused before any contract ran.
    #[error("proposal refused: {0}")]
    Rejected(#[from] ProposalRejection),
    /// A transaction's client signature does not verify, or its creator is unknown.
    #[error("transaction refused: {0}")]
    BadSignature(String),
    /// The caller may not do this (for example, a non-admin deploy).
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The transaction id is already committed or waiting to be.
    #[error("transaction {} was already submitted", quote(.0))]
    DuplicateTx(String),
    /// The contract is defined but its code is not installed on this peer.
    #[error("contract {0} has no code installed on this peer")]
    NotInstalled(String),
    /// The proposal does not fit the contract's initialization state (Fabric's
    /// `--init-required` / `--isInit` rules): an init where none is required or allowed, or a
    /// transaction before the required init.
    #[error("{0}")]
    Initialization(String),
    /// The gateway's peer endorsed, but the endorsements of the organizations the policy
    /// needs could not be collected: results that differ, or too few organizations.
    #[error(transparent)]
    Endorsement(#[from] crate::collect::CollectError),
    /// The contract ran and failed; nothing was endorsed.
    #[error("contract {contract}: {failure}")]
    ContractFailed {
        /// The contract.
        contract: String,
        /// What it did.
        failure: ContractFailure,
    },
    /// A `.wasm` was refused at install.
    #[error("install refused: {0}")]
    Deploy(#[from] DeployError),
    /// No such block or transaction.
    #[error("{0}")]
    NotFound(String),
    /// Something the request would create exists already (a channel this node has joined).
    #[error("{0}")]
    AlreadyExists(String),
    /// Ordering refused the envelope (overloaded, too large, shutting down) or cannot
    /// deliver blocks.
    #[error(transparent)]
    Orderer(#[from] weft_orderer::Error),
    /// The node already serves `grpc.max_concurrent_requests` requests (the number): this
    /// one was shed, not queued.
    #[error(
        "the node is overloaded: {0} requests are in flight (grpc.max_concurrent_requests); \
         try again later"
    )]
    TooManyRequests(usize),
    /// The node is shutting down.
    #[error("the node is shutting down")]
    ShuttingDown,
    /// This node was too busy to finish the invocation: its wall-clock guard fired before the
    /// contract's fuel ran out. Not a contract outcome (another peer, or this one later, gives
    /// the deterministic result): the client should retry.
    #[error("node overloaded, retry: {0}")]
    Busy(RuntimeError),
    /// The contract runtime failed on this node (never the contract's fault).
    #[error("contract runtime failed: {0}")]
    Runtime(RuntimeError),
    /// The ledger failed.
    #[error("ledger failed: {0}")]
    Ledger(#[from] weft_ledger::Error),
    /// Configuration or key files are wrong.
    #[error("configuration: {0}")]
    Config(String),
    /// A part of the node failed (a thread panicked, the server stopped on an error): a node
    /// bug or a broken host, never the caller's fault or a configuration mistake.
    #[error("internal failure: {0}")]
    Internal(String),
    /// A channel configuration (genesis) is not valid.
    #[error(transparent)]
    Channel(#[from] weft_protocol::ConfigError),
    /// A file or socket operation failed.
    #[error("{context}: {cause}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause (in the message, so it reaches clients and logs in one line).
        cause: std::io::Error,
    },
    /// Reading state failed.
    #[error(transparent)]
    State(#[from] weft_rwset::StateError),
    /// The node put read/write sets of two namespaces together (a node bug).
    #[error(transparent)]
    Rwset(#[from] weft_rwset::NamespaceMismatch),
}

impl From<RuntimeError> for Error {
    fn from(error: RuntimeError) -> Error {
        match error {
            RuntimeError::Deadline => Error::Busy(error),
            // The channel defines a contract whose code this peer has not installed (Fabric:
            // "chaincode definition exists, but chaincode is not installed").
            RuntimeError::UnknownContract(hash) => {
                Error::NotInstalled(format!("with code hash {hash} (install it on this peer)"))
            }
            error => Error::Runtime(error),
        }
    }
}

impl Error {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |cause| Error::Io { context, cause }
    }
}

/// Result of node operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
