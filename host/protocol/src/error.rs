//! The protocol's errors. Each names what was wrong; none is a storage failure (those are
//! the ledger's, `weft_ledger::Error`).
//!
//! * [`ConfigError`]: a channel configuration, organization, endorsement policy (or its
//!   text) or contract definition that is not valid.
//! * [`crate::transaction::ProposalRejection`]: why an endorser refuses a signed proposal.
//! * [`crate::decoded::TxDecodeError`]: the layer of an ordered envelope that does not
//!   decode.
//! * [`crate::names::NameError`]: a contract name or version that breaks Fabric's rule.

/// A channel configuration, or a part of one (an organization and its identities, an
/// endorsement policy or its text, a contract definition), that is not valid. The message
/// names what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("channel configuration: {0}")]
pub struct ConfigError(pub String);
