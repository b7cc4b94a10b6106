//! # weft-orderer: ordering envelopes into blocks, and delivering them from any height
//!
//! The ordering half of execute-order-validate, in the shape of Fabric's orderer. A tour:
//!
//! * [`cutter`]: the [`BlockCutter`] (Fabric's `blockcutter`): envelopes in, batches out, by
//!   count and bytes ([`BatchConfig`], the node's `[orderer]` section). Pure: the batch timer
//!   belongs to whoever drives it.
//! * [`orderer`]: the seam. [`Orderer`] is Fabric's Broadcast (`broadcast`: accept one
//!   admitted envelope) and Deliver (`deliver(from)`: an async [`BlockStream`] of blocks from
//!   any height, following new blocks as they are cut), and `close`. [`BlockSource`] is what
//!   the node gives an orderer to read the blocks it already holds (its ledger), so an
//!   orderer keeps only a window of recent blocks.
//! * [`solo`]: [`SoloOrderer`], the embedded single-node orderer: the cutter on a thread with
//!   the batch timer (broadcasts wake it only when a batch starts or may be complete), a
//!   bounded in-memory window, and streams served from the window or,
//!   below it, from the block source.
//! * [`etcd`]: ordering nodes sharing one etcd cluster. [`etcd::EtcdConfig`] (the node's
//!   `[orderer.etcd]` table) always; `EtcdOrderer` with the `etcd` feature (etcd-client's
//!   build needs `protoc`): broadcast writes the envelope durably into etcd, a leader
//!   elected through etcd cuts with the same cutter and appends each block by
//!   compare-and-swap on the chain tip, and every node delivers from etcd (below its
//!   window, from the block source).
//! * [`Error`]: overloaded, shutting down, too large, a height it cannot serve, etcd
//!   unavailable.
//!
//! A committer follows an orderer from its own ledger's height: at start, after a restart
//! and when it is behind, it asks for `deliver(height)` and commits what comes, so catching
//! up and following are the same path. The etcd orderer implements the same trait: every
//! node runs `deliver` over the log in etcd, from its own height.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), weft_orderer::Error> {
//! use std::sync::Arc;
//! use futures_util::StreamExt;
//! use weft_orderer::{BatchConfig, BlockSource, Orderer, SoloConfig, SoloOrderer};
//! # #[derive(Debug)]
//! # struct Empty;
//! # impl BlockSource for Empty {
//! #     fn height(&self) -> u64 { 0 }
//! #     fn block(&self, _: u64) -> Result<Option<weft_proto::v1::Block>,
//! #         Box<dyn std::error::Error + Send + Sync>> { Ok(None) }
//! # }
//!
//! let batch = BatchConfig { max_txs: 2, ..BatchConfig::default() };
//! let (orderer, thread) = SoloOrderer::start(SoloConfig::new(batch), 0, Vec::new(), Arc::new(Empty))?;
//! let mut blocks = orderer.deliver(0);
//! orderer.broadcast(b"envelope 1".to_vec()).await?;
//! orderer.broadcast(b"envelope 2".to_vec()).await?;
//! let block = blocks.next().await.unwrap()?;
//! assert_eq!(block.data.unwrap().envelopes.len(), 2);
//! orderer.close();
//! assert!(blocks.next().await.is_none());
//! thread.join().unwrap();
//! # Ok(())
//! # }
//! ```

pub mod cutter;
mod error;
pub mod etcd;
pub mod orderer;
pub mod solo;

pub use cutter::{BatchConfig, BlockCutter};
pub use error::{Error, Result};
pub use orderer::{BlockSource, BlockStream, Broadcast, Orderer, PeerBlockStream, PeerBlocks};
pub use solo::{SoloConfig, SoloOrderer};
