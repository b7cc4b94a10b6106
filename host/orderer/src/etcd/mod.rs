//! Ordering on etcd: every ordering node reads and writes one replicated log in an etcd
//! cluster, one node at a time cuts blocks, and a block is appended only on the chain tip it
//! was cut on. [`EtcdConfig`] (the node's `[orderer.etcd]` table) is always available; the
//! orderer itself, [`EtcdOrderer`], needs the crate's `etcd` feature (etcd-client's build
//! script needs `protoc`).
//!
//! **Keys.** A channel's keys live under `<prefix><channel>/` ([`EtcdConfig::prefix`],
//! `/weft/` by default):
//!
//! * `chain`: the chain tip, `height` (8 bytes, big-endian), `watermark` (8 bytes,
//!   big-endian: the etcd revision that created the group of the last envelope ordered),
//!   `taken` (4 bytes, big-endian: how many envelopes of that group are in blocks, `u32::MAX`
//!   for all of them) and the last block's header hash. Every append compares it to the
//!   value it was cut on.
//! * `blocks/<number>` (20 digits, zero-padded): an encoded `weft.v1.Block`, as cut (empty
//!   metadata). Only the last [`EtcdConfig::window`] blocks are kept.
//! * `pending/<session>-<counter>`: a group of envelopes one node broadcast together and
//!   not yet ordered (`\0wg1`, then each envelope as its length, 4 bytes big-endian, and its
//!   bytes; a value without that prefix is one envelope, as nodes wrote them before groups).
//!   Groups are ordered by the etcd revision that created them, the envelopes of a group in
//!   the order they were written. A node of a version before groups cannot read them:
//!   upgrade a channel's ordering nodes together.
//! * `leader`: the election (etcd's election API, a key per candidate bound to its lease).
//! * `genesis`: the hash of the channel's genesis configuration, written by the first node
//!   to start; a node started from another genesis is refused at start
//!   ([`EtcdOrdererConfig::genesis_hash`]), since it would validate the same blocks
//!   differently.
//!
//! **Broadcast.** [`Orderer::broadcast`](crate::Orderer::broadcast) on any node hands the
//! envelope to the node's writer, which writes the envelopes waiting for it under one fresh
//! `pending/` key (a group commit: while a write is under way the next broadcasts wait and
//! go together in the next one, up to one etcd request's worth), and answers each once
//! etcd committed that write. So an
//! acknowledged envelope is in the etcd cluster's replicated log: it is ordered exactly
//! once, whichever node leads and whichever node or leader crashes afterwards, as long as
//! the etcd cluster keeps its data (a majority of its members). A write that fails without
//! an answer (a member died, a timeout) is retried until `timeout_ms` as a put-if-absent of
//! the same key, so a write that had been applied is not written again while it is pending;
//! only if it was applied *and* already ordered before the retry is it written (and
//! ordered) a second time, and the ledger then commits the second copy as
//! `DUPLICATE_TXID`, so a transaction still takes effect once.
//!
//! **The leader.** Every node campaigns; the elected one reads the chain tip, reads the
//! pending envelopes not yet ordered (the rest of the group at the watermark past `taken`,
//! then the groups created after it, in revision order), watches for new ones
//! from the revision it read at, and cuts them with the same [`BlockCutter`](crate::BlockCutter)
//! and batch timer as the solo orderer. Block `N` is appended by one transaction: *if*
//! `chain` still holds the tip block `N` was cut on, *then* put `blocks/N`, put the new tip
//! (height `N + 1`, the watermark and `taken` of the block's last envelope: a block may end
//! inside a group), delete the block that left the window and the pending keys whose groups
//! the block finished. A leader that loses that compare (another node
//! appended, e.g. when two nodes briefly both believed they led) or its lease steps down:
//! it drops what it had not appended (those envelopes are still pending in etcd), and
//! campaigns again from a fresh read. So the chain never forks and no acknowledged envelope
//! is lost or ordered twice: an envelope is consumed exactly when a block holding it is
//! appended, in the same transaction that moves the watermark (and `taken`) past it.
//!
//! **Request size.** etcd refuses a request larger than its `--max-request-bytes` (1.5 MiB
//! by default, [`EtcdConfig::max_request_bytes`] must match it) and a transaction of more
//! than `--max-txn-ops` operations (128, [`EtcdConfig::max_txn_ops`]). A block's envelopes
//! are cut to at most the request size less a reserve for keys and framing
//! ([`EtcdConfig::block_budget`]), whatever `[orderer] max_bytes` says; a larger envelope is
//! refused at broadcast ([`Error::TooLarge`](crate::Error::TooLarge)). Consumed pending keys
//! beyond the transaction's operations are deleted by the transactions that follow (they
//! are already below the watermark, so nothing orders them again).
//!
//! **Deliver.** Every node follows the log itself: a stream range-reads `blocks/` from the
//! height asked for, then watches `blocks/` from the revision it read at. Heights below the
//! window come from the node's [`BlockSource`](crate::BlockSource) (its ledger). Those it
//! does not hold either (a node that stayed away longer than the window) come from the
//! channel's other nodes ([`PeerBlocks`](crate::PeerBlocks): their Deliver), and are
//! delivered only once verified: numbered in order, each header holding its data's hash
//! and linking to the block before (the first to the node's own last block), the last one
//! being the block that the first block etcd holds links to, read twice so that only 32
//! bytes a block are kept while checking. A node that answers with other blocks, or none,
//! is passed over for the next. Without other nodes to ask, such a height fails with
//! [`Error::Pruned`](crate::Error::Pruned).
//!
//! **Window and compaction.** The leader deletes `blocks/N - window` when it appends block
//! `N`, and every [`EtcdConfig::compact_every`] blocks compacts etcd's history to the
//! revision of the append `compact_every` blocks earlier (watches that far behind restart
//! from a range read). Compaction frees history, not disk: every
//! [`EtcdConfig::defrag_every`] blocks the leader defragments the members one after the
//! other, on a task of its own.
//!
//! **Closing.** [`Orderer::close`](crate::Orderer::close) refuses further broadcasts; a
//! leading node cuts what it holds into a last block and resigns; then every stream ends
//! after the chain's height at that moment.

mod config;
#[cfg(feature = "etcd")]
mod follow;
#[cfg(feature = "etcd")]
mod keys;
#[cfg(feature = "etcd")]
mod leader;
#[cfg(feature = "etcd")]
mod orderer;

pub use config::{DEFAULT_PREFIX, EtcdConfig, EtcdTls};
#[cfg(feature = "etcd")]
pub use orderer::{EtcdOrderer, EtcdOrdererConfig};
