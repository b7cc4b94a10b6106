//! What a simulation produces: a [`Simulation`] to endorse, or a [`ContractFailure`] that every
//! node reproduces and nobody endorses. Node failures are [`crate::RuntimeError`]s, never these.

use weft_proto::v1::{ContractEvent, NsReadWriteSet, Response};

/// A contract ran to completion with a success status (below 400).
#[derive(Clone, Debug, PartialEq)]
pub struct Simulation {
    /// The response the contract set.
    pub response: Response,
    /// What the contract read and wrote, recorded by [`weft_rwset::TxSimulator`].
    pub rwset: NsReadWriteSet,
    /// Events, in emission order.
    pub events: Vec<ContractEvent>,
    /// Fuel consumed by the invocation (instructions and host calls).
    pub fuel_used: u64,
    /// Log lines the contract wrote (also sent to the node's tracing; not part of any result).
    pub logs: Vec<String>,
}

/// Who-is-at-fault classification of a deterministic contract failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The fuel budget ran out (for example, an infinite loop).
    OutOfFuel,
    /// Linear memory (or a table) would have grown past the host's limit.
    MemoryLimit,
    /// The host would have held more than `weft_abi::limits::MAX_HOST_MEMORY` bytes for the
    /// invocation (read set, ranges, iterators, writes, events, response, results).
    HostMemoryLimit,
    /// The Wasm call stack exceeded the host's limit (for example, deep recursion).
    StackOverflow,
    /// A Wasm trap: `unreachable`, out-of-bounds access, division by zero, ...
    Trap,
    /// The contract aborted with a message (a Rust panic in the SDK).
    Panic,
    /// The contract broke the calling convention (bad pointer, unknown field, ...).
    AbiMisuse,
    /// The contract tried to write during a read-only query.
    WriteDuringQuery,
    /// The contract responded with a status of 400 or more.
    ErrorStatus,
    /// The invocation's input broke a limit (too many or too large arguments).
    InvalidInput,
}

impl FailureKind {
    /// A short, stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::OutOfFuel => "out of fuel",
            FailureKind::MemoryLimit => "memory limit exceeded",
            FailureKind::HostMemoryLimit => "host memory limit exceeded",
            FailureKind::StackOverflow => "stack limit exceeded",
            FailureKind::Trap => "trap",
            FailureKind::Panic => "panic",
            FailureKind::AbiMisuse => "abi misuse",
            FailureKind::WriteDuringQuery => "write during query",
            FailureKind::ErrorStatus => "error status",
            FailureKind::InvalidInput => "invalid input",
        }
    }
}

/// A deterministic contract failure: same code, state and input give the same failure, with the
/// same message, on every node. The message never contains engine or OS text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContractFailure {
    /// What went wrong.
    pub kind: FailureKind,
    /// The response status clients see: the contract's own for [`FailureKind::ErrorStatus`],
    /// otherwise 500.
    pub status: i32,
    /// A stable message (the contract's own message for panics and error statuses).
    pub message: String,
    /// The response payload, for [`FailureKind::ErrorStatus`]; empty otherwise.
    pub payload: Vec<u8>,
    /// Fuel consumed before the failure.
    pub fuel_used: u64,
}

impl ContractFailure {
    pub(crate) fn new(kind: FailureKind, message: impl Into<String>) -> ContractFailure {
        ContractFailure {
            kind,
            status: weft_abi::status::ERROR,
            message: message.into(),
            payload: Vec::new(),
            fuel_used: 0,
        }
    }
}

impl std::fmt::Display for ContractFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "contract failed ({}): {}", self.kind.as_str(), self.message)
    }
}

/// The result of a simulation that the node completed: the contract either succeeded or failed
/// deterministically. Nested inside [`crate::Result`], whose error is a node failure.
pub type Outcome = std::result::Result<Simulation, ContractFailure>;
