//! The ordering seam: [`Orderer`] (Fabric's Broadcast and Deliver) and [`BlockSource`],
//! the blocks a node already holds, through which an orderer serves heights it no longer
//! keeps itself.

use std::future::Future;
use std::pin::Pin;

use futures_util::Stream;
use weft_proto::v1::Block;

use crate::error::Result;

/// The answer to [`Orderer::broadcast`]: resolves once the envelope is accepted for
/// ordering (not once it is in a block).
pub type Broadcast<'a> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

/// Blocks in chain order, from the height asked for: numbered consecutively, each linking
/// to the previous one's header hash, with empty metadata (the committing peer fills it).
/// It ends when the orderer closes, after the last block it cut; an error ends it too.
pub type BlockStream = Pin<Box<dyn Stream<Item = Result<Block>> + Send>>;

/// Orders envelopes into blocks and delivers them from any height.
///
/// An implementation is shared by the services that broadcast and the committer that
/// follows it. Every stream of one orderer yields the same block for the same number.
pub trait Orderer: Send + Sync + std::fmt::Debug {
    /// Accepts one admitted envelope (encoded `weft.v1.Envelope`) for ordering. Fails with
    /// [`Error::Overloaded`](crate::Error::Overloaded) when the queue is full (load shedding),
    /// [`Error::TooLarge`](crate::Error::TooLarge) past the absolute max, or
    /// [`Error::ShuttingDown`](crate::Error::ShuttingDown) once closed. Async, so that an
    /// orderer that forwards to a leader answers with the leader's verdict.
    fn broadcast(&self, envelope: Vec<u8>) -> Broadcast<'_>;

    /// The blocks from number `from` on: those already cut at once, then each new one as
    /// it is cut, until the orderer closes. `from` may be any height up to the orderer's
    /// (`from` equal to its height waits for the next block). Beyond it, an orderer that
    /// will never deliver `from` in order (the solo orderer, always) yields
    /// [`Error::BeyondTip`](crate::Error::BeyondTip) as the stream's first item; one whose
    /// own copy of a replicated log is still catching up may wait instead.
    ///
    /// The stream must not need an async runtime's context to be polled: the committer
    /// polls it from a thread of its own. (An orderer whose blocks come from network
    /// I/O feeds the stream from a task of its own, through a channel.)
    fn deliver(&self, from: u64) -> BlockStream;

    /// Stops accepting envelopes; what is pending is cut into a last block, and every
    /// stream ends after it. Returns without waiting for that.
    fn close(&self);

    /// Whether this orderer cuts the blocks now: always for one that orders alone (solo);
    /// for a replicated one, whether it is the elected leader.
    fn is_leader(&self) -> bool {
        true
    }
}

/// Blocks as another node of the channel serves them (its Deliver), in chain order from the
/// height asked for; an item is a block or why none came (unreachable, refused, ended).
pub type PeerBlockStream = Pin<Box<dyn Stream<Item = std::result::Result<Block, String>> + Send>>;

/// The other nodes of a channel, for a node that is further behind than its orderer keeps
/// blocks: the orderer asks them for the missing blocks and delivers only blocks that it
/// verified against the chain it trusts (see the etcd orderer), so a node that answers
/// with forged or other blocks is only slower, never believed.
pub trait PeerBlocks: Send + Sync + std::fmt::Debug {
    /// How many other nodes there are to ask.
    fn len(&self) -> usize;

    /// Whether there is none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Blocks from `from` on, from other node `peer` (`0..len()`).
    fn blocks(&self, peer: usize, from: u64) -> PeerBlockStream;
}

/// The blocks a node already holds (its ledger's block store), numbered `0..height`. An
/// orderer reads heights below its in-memory window here instead of keeping every block
/// itself.
pub trait BlockSource: Send + Sync + std::fmt::Debug {
    /// How many blocks the source holds: blocks `0..height`.
    fn height(&self) -> u64;

    /// Block `number`, or `None` if the source does not hold it. Its metadata is not
    /// delivered (orderers deliver blocks as cut).
    fn block(
        &self,
        number: u64,
    ) -> std::result::Result<Option<Block>, Box<dyn std::error::Error + Send + Sync>>;
}
