//! # weft-node: one process that endorses, orders, commits and serves over gRPC
//!
//! A tour, in the order a transaction meets the parts:
//!
//! * [`service`]: thin tonic services. `Gateway` (evaluate, endorse, submit, commit
//!   status, submit-and-wait) in the shape of Fabric's Gateway; `Endorser` (peer to peer:
//!   this peer's endorsement for another organization's gateway); `Admin` (install, join a
//!   channel, list channels and contracts, health); `LedgerQuery` (chain info, blocks,
//!   transactions). Each resolves the channel the request names in [`channels`].
//! * [`channels`]: the registry of joined channels. Each is its own peer (ledger, endorser,
//!   orderer, committer thread, commit notifier) under `data_dir/channels/NAME/`; the
//!   runtime, contract threads, metrics and gRPC server are node-wide. An empty channel
//!   name means the only channel; joined channels are reopened at start. A channel's
//!   orderer is made in one place, `ordering::start`. [`status`] is the one place
//!   errors become gRPC statuses; one layer in front of all services (`service::edge`)
//!   refuses oversized metadata and broken gRPC framing with a status and logs every failed
//!   answer with its method.
//! * [`endorser`]: checks a client's signed proposal, simulates it on a contract thread
//!   ([`contract_pool::ContractPool`]: inline on the async worker that received it, on a
//!   10-20 ms leash, else in a per-contract queue, each contract holding at most its share
//!   of the contract threads)
//!   against committed state and signs the result as the peer.
//! * [`collect`]: the gateway's collection of endorsements across organizations: the
//!   organizations the contract's policy needs that this node is not a peer of are asked,
//!   over the peer-to-peer `Endorser` service (`service::endorser`, Fabric's
//!   `ProcessProposal`), at the peer endpoints the channel configuration lists; their
//!   results must equal this peer's.
//! * [`lifecycle`]: install per peer (admins), define per channel through the `_lifecycle`
//!   contract, so definitions are on chain; Fabric's init-required check, run by the
//!   endorser before every contract invocation.
//! * [`admission`]: Fabric's broadcast filter (decodes, this channel, the creator's
//!   signature), run by Submit before the envelope goes to the orderer: a
//!   [`weft_orderer::Orderer`]. `ordering` starts the one `[orderer] kind` names: the
//!   embedded [`weft_orderer::SoloOrderer`], or (built with the `etcd` feature) ordering on
//!   an etcd cluster shared by the ordering nodes (`weft_orderer::etcd`).
//! * [`signature_checks`]: the client's signature on a proposal (before it goes to a
//!   contract thread) and on an envelope (admission) is checked alone on an idle node, and
//!   under load queued and checked with the others as one ZIP-215 batch.
//! * [`committer`]: follows the orderer from the ledger's height (`deliver(height)`),
//!   commits its blocks with the ledger's pipeline and answers commit-status waiters;
//!   [`deliver`] streams committed blocks and contract events to clients.
//! * [`node`]: wiring and graceful shutdown (every channel's batch in flight commits),
//!   serving on TCP ([`Node::start`]) or over the in-memory transport of [`memory`]
//!   ([`Node::start_in_memory`]: the same server, layers and services, no socket);
//!   [`config`]: TOML and key files; [`metrics`]: Prometheus text; [`devnet`]: the
//!   development network `weft init` writes (and how a `weft_client::Client` connects to
//!   it); [`localnet`]: a network of one node per organization on one etcd cluster, as
//!   `weft net up` writes it.
//!
//! The protocol (identities, policies, the channel, signed proposals and envelopes, decoded
//! once) is `weft-protocol`'s; the signing client the CLI and tests use is `weft-client`.
//!
//! ```no_run
//! # async fn run() -> weft_node::Result<()> {
//! let config = weft_node::config::NodeConfig::load("dev/node.toml".as_ref())?;
//! let node = weft_node::Node::start(&config).await?;
//! println!("serving on {}", node.local_addr());
//! node.shutdown().await
//! # }
//! ```

pub mod admission;
pub mod channels;
pub mod collect;
pub mod committer;
pub mod config;
pub mod contract_pool;
pub mod deliver;
pub mod devnet;
pub mod endorser;
mod error;
pub mod lifecycle;
pub mod localnet;
pub mod memory;
pub mod metrics;
pub mod node;
mod ordering;
#[cfg(feature = "etcd")]
mod peer_blocks;
pub mod service;
pub mod signature_checks;
pub mod status;

pub use error::{Error, Result};
pub use node::Node;
