//! # weft-protocol: what every party of a Weft channel agrees on
//!
//! The messages of `weft-proto` given their meaning: who may sign what, how ids and hashes
//! are derived, and what a well-formed configuration is. Clients, endorsers, orderers and
//! the ledger's validator all use this crate; it holds no storage, no contract runtime and
//! no async runtime (no sled, wasmtime or tokio), so a client or an orderer can build and
//! check envelopes without the ledger. The exact bytes are in `docs/protocol.md`.
//!
//! * [`identity`]: ed25519 signing identities (signing through AWS-LC: RFC 8032, the same
//!   bytes as any conforming signer), roles, and the [`identity::Membership`] of a channel's
//!   organizations (keys decoded once).
//! * [`policy`]: endorsement policies (Fabric's `AND`/`OR`/`OutOf` syntax), parsed,
//!   described, checked and evaluated.
//! * [`channel`]: a checked channel configuration, with the contract definitions committed
//!   through the `_lifecycle` namespace ([`channel::LIFECYCLE`]); [`names`] is the rule for
//!   contract names and versions and for channel names (Fabric's); [`lifecycle`] names the
//!   `_lifecycle` functions and the messages an admin signs to install code and to join a
//!   peer to a channel.
//! * [`endpoints`]: where each organization's peers are (`Organization.peers`: `host:port`
//!   and an optional TLS CA), checked with the channel, for gateways that collect
//!   endorsements across organizations.
//! * [`txid`] derives transaction ids; [`transaction`] builds signed proposals,
//!   endorsements and envelopes, and checks a signed proposal as an endorser does
//!   ([`transaction::DecodedProposal`]).
//! * [`decoded`]: an ordered envelope decoded once into its envelope, transaction and
//!   proposal ([`decoded::DecodedTx`]), for admission, validation, history, queries and
//!   output alike; a failure names the layer that did not decode.
//! * [`block`] builds blocks and hashes their headers and data (blake3).
//! * [`signature`]: the one rule (ZIP-215) by which every ed25519 signature is checked,
//!   alone or in a batch, so that every peer reaches the same verdict, on whichever of
//!   curve25519-dalek's backends its CPU runs (AVX-512 IFMA where it can; its benchmark:
//!   `cargo bench -p weft-protocol --bench signatures`).
//! * [`VerifiedSignatures`]: signatures this process already verified (at admission) or
//!   made (its own endorsements), so validation does not check them again.
//! * [`testing`]: a deterministic test network and workload for tests and benchmarks.
//!
//! Errors are typed and name what is wrong: [`ConfigError`] for configurations and
//! policies, [`transaction::ProposalRejection`] for refused proposals,
//! [`decoded::TxDecodeError`] for envelopes that do not decode, [`names::NameError`] for
//! contract names and versions and channel names.
//!
//! ```
//! use weft_protocol::identity::{Role, SigningIdentity};
//! use weft_protocol::{policy, transaction, txid};
//!
//! let client = SigningIdentity::from_seed("Org1", "client");
//! let peer = SigningIdentity::from_seed("Org1", "peer0");
//! let invocation = transaction::ProposalSpec {
//!     channel: "ch1".into(), contract: "kv".into(), function: "set".into(),
//!     nonce: b"nonce-1".to_vec(), ..Default::default()
//! };
//! let proposal = transaction::new_proposal(client.identity(), invocation);
//! assert_eq!(proposal.tx_id, txid::derive_tx_id(b"nonce-1", client.identity()));
//! let signed = transaction::sign_proposal(&client, &proposal, vec![]);
//! assert_eq!(signed.signature.len(), 64);
//! let policy = policy::parse("AND('Org1.peer', 'Org2.peer')").unwrap();
//! assert_eq!(policy::describe(&policy), "AND('Org1.peer', 'Org2.peer')");
//! assert_eq!(peer.listed_as("peer0", Role::Peer).role, Role::Peer as i32);
//! ```

pub mod block;
pub mod channel;
pub mod decoded;
pub mod endpoints;
mod error;
pub mod identity;
pub mod lifecycle;
pub mod names;
pub mod policy;
pub mod signature;
pub mod testing;
pub mod transaction;
pub mod txid;
mod verified;

pub use error::ConfigError;
pub use verified::VerifiedSignatures;
