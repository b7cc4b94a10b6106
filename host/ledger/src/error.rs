//! Errors of the ledger. An invalid transaction is never an error: it gets a validation code
//! and the block still commits. An [`Error`] means the node cannot go on (storage broke, the
//! block does not fit the chain, the configuration is wrong) and block processing must stop.

use weft_rwset::StateError;

/// A failure of the node, never of a transaction.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The sled database failed.
    #[error("storage failed: {0}")]
    Storage(#[from] sled::Error),
    /// A file operation (durability sync) failed.
    #[error("storage I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// Reading committed state failed during validation.
    #[error(transparent)]
    State(#[from] StateError),
    /// Stored data does not decode or contradicts itself.
    #[error("ledger data is corrupt: {0}")]
    Corrupt(String),
    /// The block's number is not the next height.
    #[error("block {got} does not extend the chain: the next block number is {expected}")]
    WrongBlockNumber {
        /// The height of the chain.
        expected: u64,
        /// The number the block carries.
        got: u64,
    },
    /// The block's header does not link to the previous block or to its own data.
    #[error("block {number} is malformed: {reason}")]
    BadBlock {
        /// The block's number.
        number: u64,
        /// What does not match.
        reason: String,
    },
    /// The state database holds blocks the block store does not: it cannot be trusted.
    #[error(
        "state database is ahead of the block store (state at block {state_height} but the \
         block store has {block_height} blocks); restore the block store or rebuild the state \
         with `Ledger::reset_state`"
    )]
    StateAhead {
        /// Number of blocks the state reflects.
        state_height: u64,
        /// Number of blocks in the block store.
        block_height: u64,
    },
    /// The key-history setting differs from the one the ledger's state was built with.
    #[error(
        "the ledger at {path} was built with the history index {built}; its state must be \
         rebuilt from the blocks for the new setting (`Ledger::reset_state`)",
        built = if *built_with { "on" } else { "off" }
    )]
    HistorySettingChanged {
        /// The ledger's directory.
        path: std::path::PathBuf,
        /// Whether the state was built with the history index.
        built_with: bool,
    },
    /// The chain does not verify.
    #[error("chain verification failed at block {number}: {reason}")]
    ChainBroken {
        /// First block that failed.
        number: u64,
        /// What failed.
        reason: String,
    },
    /// The channel configuration differs from the one the ledger was created with.
    #[error("channel configuration: {0}")]
    Config(String),
    /// The channel configuration, or a contract definition committed in the `_lifecycle`
    /// namespace, is not valid.
    #[error(transparent)]
    Channel(#[from] weft_protocol::ConfigError),
}

/// Result of ledger operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether rebuilding the state from the block store ([`crate::Ledger::reset_state`],
    /// then opening again) is the remedy.
    pub fn needs_state_rebuild(&self) -> bool {
        matches!(self, Error::StateAhead { .. } | Error::HistorySettingChanged { .. })
    }

    pub(crate) fn corrupt(what: impl Into<String>) -> Error {
        Error::Corrupt(what.into())
    }
}
