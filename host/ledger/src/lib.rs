//! # weft-ledger: blocks, the validator and the state database
//!
//! A peer's ledger of one channel, with Hyperledger Fabric's validation rules
//! (`docs/semantics.md`). What every party agrees on (identities, policies, the channel's
//! configuration, transaction ids, signed proposals and envelopes, block hashes) is the
//! protocol, in `weft-protocol`; this crate stores, validates and commits.
//!
//! * [`validator`] decides each transaction's code: stateless checks batched over all cores,
//!   then MVCC and phantom checks in block order, recording which key conflicted.
//!   `weft_protocol::VerifiedSignatures` lets it skip signatures the same process already
//!   verified (at admission) or made (its own endorsements).
//! * [`Ledger`] commits a block (state, history, codes, indexes, height) as one atomic sled
//!   batch, durably ([`Ledger::append`], or [`Ledger::append_all`] which overlaps each
//!   block's fsync with the next block's validation), and replays from its block store at
//!   start. [`statedb`] and [`blockstore`] describe the storage layout. A transaction
//!   id's lookup asks an in-memory Bloom filter of the indexed ids first (`txid_filter`),
//!   so a new id (nearly every id asked about) costs no read of sled; the filter never
//!   misses an indexed id, so no answer changes.
//! * [`report`] answers "which of these would conflict?" offline.
//!
//! An [`Error`] is a storage or chain failure: the node cannot go on. A configuration that
//! is not valid is the protocol's `ConfigError`, carried as [`Error::Channel`].
//!
//! ```
//! use weft_ledger::Ledger;
//! use weft_protocol::{identity::{Role, SigningIdentity}, policy, transaction};
//! use weft_proto::v1::{ChannelConfig, ContractDefinition, Organization, Response, TxValidationCode};
//! use weft_rwset::{Mode, TxSimulator};
//!
//! let org1 = SigningIdentity::from_seed("Org1", "peer0");
//! let client = SigningIdentity::from_seed("Org1", "client");
//! let config = ChannelConfig {
//!     channel: "ch1".into(),
//!     organizations: vec![Organization {
//!         msp_id: "Org1".into(),
//!         identities: vec![
//!             org1.listed_as("peer0", Role::Peer),
//!             client.listed_as("client", Role::Client),
//!         ],
//!         peers: vec![],
//!     }],
//!     contracts: vec![ContractDefinition {
//!         name: "kv".into(),
//!         version: "1".into(),
//!         policy: Some(policy::peer("Org1")),
//!         code_hash: vec![],
//!         init_required: false,
//!     }],
//! };
//! let dir = tempfile::tempdir().unwrap();
//! let ledger = Ledger::open(dir.path(), config).unwrap();
//!
//! // Simulate against committed state, endorse, sign, order into a block, commit.
//! let rwset = {
//!     let snapshot = ledger.snapshot();
//!     let state = snapshot.namespace("kv");
//!     let mut sim = TxSimulator::new("kv", &state, Mode::Invoke);
//!     sim.put(b"greeting", b"hello").unwrap();
//!     sim.finish().unwrap()
//! };
//! let invocation = transaction::ProposalSpec {
//!     channel: "ch1".into(), contract: "kv".into(), function: "set".into(),
//!     nonce: b"nonce-1".to_vec(), ..Default::default()
//! };
//! let proposal = transaction::new_proposal(client.identity(), invocation);
//! let proposal_bytes = prost::Message::encode_to_vec(&proposal);
//! let payload = transaction::response_payload(
//!     &proposal_bytes,
//!     Response { status: 200, ..Default::default() },
//!     weft_proto::v1::TxReadWriteSet { ns_rwset: vec![rwset] },
//!     vec![],
//!     "1",
//! );
//! let endorsement = transaction::endorse(&org1, &payload);
//! let envelope = transaction::envelope(&client, proposal_bytes, payload, vec![endorsement]);
//! let block = ledger.next_block(vec![prost::Message::encode_to_vec(&envelope)]);
//! let committed = ledger.append(block).unwrap();
//! assert_eq!(committed.codes, vec![TxValidationCode::Valid]);
//! assert_eq!(ledger.chain_info().height, 1);
//! assert_eq!(ledger.transaction(&proposal.tx_id).unwrap().unwrap().location.code, TxValidationCode::Valid);
//! ledger.verify_chain().unwrap();
//! ```

pub mod blockstore;
mod commit;
mod error;
mod ledger;
pub use weft_rwset::report;
pub mod statedb;
mod txid_filter;
pub mod validator;

pub use commit::commit_hash;
pub use error::{Error, Result};
pub use ledger::{
    BlockOutcome, ChainInfo, CommitTimings, CommittedTx, Durability, Footprint, Ledger,
    LedgerOptions, StateSnapshot, TxOutcome, Usage,
};
