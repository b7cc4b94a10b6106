//! Ordering: the [`Orderer`] trait (Fabric's Broadcast) and [`SoloOrderer`], an embedded
//! single-node orderer that cuts blocks by Fabric's BatchSize (max transactions, max bytes)
//! and BatchTimeout and delivers them, in order, to the committer (Fabric's Deliver).
//!
//! The seam for Raft: an orderer receives admitted envelopes through [`Orderer::broadcast`]
//! and sends numbered, hash-linked blocks to a [`BlockSink`]. A Raft orderer (etcd's raft)
//! implements the same trait: `broadcast` forwards the envelope to the leader, the leader
//! cuts blocks with the same [`BatchConfig`] and proposes each block as a log entry, and
//! every node delivers committed entries to its committer's sink in log order. The endorser,
//! committer and services do not change.

use std::sync::Mutex;
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::time::Instant;

use weft_proto::quote::quote;
use weft_proto::v1::Block;
use weft_protocol::VerifiedSignatures;
use weft_protocol::block::{header_hash, new_block};
use weft_protocol::channel::Channel;
use weft_protocol::decoded::DecodedTx;

use crate::config::BatchConfig;
use crate::error::{Error, Result};

/// An envelope admitted for ordering, with its transaction id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderedTx {
    /// The transaction id (from the proposal).
    pub tx_id: String,
    /// The encoded `Envelope`.
    pub envelope: Vec<u8>,
}

/// A block cut by an orderer, with the ids of its transactions in order.
#[derive(Clone, Debug, PartialEq)]
pub struct CutBlock {
    /// The block (no metadata yet).
    pub block: Block,
    /// One id per envelope.
    pub tx_ids: Vec<String>,
}

/// Where an orderer delivers blocks, in chain order.
pub type BlockSink = SyncSender<CutBlock>;

/// Orders transactions into blocks.
pub trait Orderer: Send + Sync + std::fmt::Debug {
    /// Accepts one admitted transaction. Fails with [`Error::Overloaded`] when the queue is
    /// full (load shedding) or [`Error::ShuttingDown`] once closed.
    fn broadcast(&self, tx: OrderedTx) -> Result<()>;

    /// Stops accepting transactions; the pending batch is cut and delivered, then the sink
    /// is dropped.
    fn close(&self);
}

/// Fabric's broadcast filter: the envelope decodes, is for this channel, and is signed by
/// its creator, a member of the organization it names. Returns the transaction id. The
/// signature checked is recorded in `verified`, so validation does not check it again.
pub fn admit(
    channel: &Channel,
    verified: &VerifiedSignatures,
    envelope_bytes: Vec<u8>,
) -> Result<OrderedTx> {
    let decoded =
        DecodedTx::decode(&envelope_bytes).map_err(|e| Error::BadRequest(e.to_string()))?;
    if decoded.channel() != channel.name() {
        return Err(Error::BadRequest(format!(
            "the transaction is for channel {}, this node serves {}",
            quote(decoded.channel()),
            quote(channel.name())
        )));
    }
    let creator = decoded.creator();
    // The id is checked here too: the in-flight set must not let anyone claim another
    // client's id.
    if !decoded.tx_id_is_derived() {
        return Err(Error::BadRequest(
            "the transaction id is not derived from the proposal's nonce and creator".into(),
        ));
    }
    let member = channel.membership().resolve(creator).ok_or_else(|| {
        Error::BadSignature(format!("the creator is not a member of {}", quote(&creator.msp_id)))
    })?;
    let envelope = decoded.envelope();
    let signature = ed25519_dalek::Signature::from_slice(&envelope.signature).map_err(|_| {
        Error::BadSignature("the envelope signature is missing or not 64 bytes".into())
    })?;
    if !verified.verify(&member.key, &envelope.payload, &signature) {
        return Err(Error::BadSignature("the envelope signature does not verify".into()));
    }
    Ok(OrderedTx { tx_id: decoded.tx_id().to_owned(), envelope: envelope_bytes })
}

/// The embedded single-node orderer.
#[derive(Debug)]
pub struct SoloOrderer {
    queue: Mutex<Option<SyncSender<OrderedTx>>>,
}

impl SoloOrderer {
    /// Starts cutting blocks after the chain tip (`height`, `tip_hash`) into `sink`, on a
    /// thread of its own; returns the orderer and that thread.
    pub fn start(
        batch: BatchConfig,
        height: u64,
        tip_hash: Vec<u8>,
        sink: BlockSink,
    ) -> Result<(SoloOrderer, std::thread::JoinHandle<()>)> {
        let (queue, inbox) = mpsc::sync_channel::<OrderedTx>(batch.queue.max(1));
        let thread = std::thread::Builder::new()
            .name("weft-orderer".into())
            .spawn(move || cut_blocks(batch, height, tip_hash, &inbox, &sink))
            .map_err(Error::io("spawning the orderer thread"))?;
        Ok((SoloOrderer { queue: Mutex::new(Some(queue)) }, thread))
    }
}

impl Orderer for SoloOrderer {
    fn broadcast(&self, tx: OrderedTx) -> Result<()> {
        let queue = self.queue.lock().map_err(|_| Error::ShuttingDown)?;
        let queue = queue.as_ref().ok_or(Error::ShuttingDown)?;
        queue.try_send(tx).map_err(|e| match e {
            TrySendError::Full(_) => Error::Overloaded("the ordering queue is full".into()),
            TrySendError::Disconnected(_) => Error::ShuttingDown,
        })
    }

    fn close(&self) {
        if let Ok(mut queue) = self.queue.lock() {
            queue.take();
        }
    }
}

fn cut_blocks(
    batch: BatchConfig,
    mut height: u64,
    mut tip: Vec<u8>,
    inbox: &mpsc::Receiver<OrderedTx>,
    sink: &BlockSink,
) {
    let mut envelopes: Vec<Vec<u8>> = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    let mut bytes = 0usize;
    let mut deadline: Option<Instant> = None;
    let mut cut =
        |envelopes: &mut Vec<Vec<u8>>, ids: &mut Vec<String>, bytes: &mut usize| -> bool {
            if envelopes.is_empty() {
                return true;
            }
            let block = new_block(height, std::mem::take(&mut tip), std::mem::take(envelopes));
            tip = header_hash(block.header.as_ref().expect("new blocks have a header")).to_vec();
            height += 1;
            *bytes = 0;
            tracing::debug!(
                number = block.header.as_ref().map(|h| h.number),
                txs = ids.len(),
                "block cut"
            );
            sink.send(CutBlock { block, tx_ids: std::mem::take(ids) }).is_ok()
        };
    loop {
        let next = match deadline {
            None => inbox.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(d) => inbox.recv_timeout(d.saturating_duration_since(Instant::now())),
        };
        let delivered = match next {
            Ok(tx) => {
                if !envelopes.is_empty() && bytes + tx.envelope.len() > batch.max_bytes {
                    deadline = None;
                    if !cut(&mut envelopes, &mut ids, &mut bytes) {
                        return;
                    }
                }
                if envelopes.is_empty() {
                    deadline = Some(Instant::now() + batch.timeout());
                }
                bytes += tx.envelope.len();
                envelopes.push(tx.envelope);
                ids.push(tx.tx_id);
                if envelopes.len() >= batch.max_txs || bytes >= batch.max_bytes {
                    deadline = None;
                    cut(&mut envelopes, &mut ids, &mut bytes)
                } else {
                    true
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                deadline = None;
                cut(&mut envelopes, &mut ids, &mut bytes)
            }
            Err(RecvTimeoutError::Disconnected) => {
                cut(&mut envelopes, &mut ids, &mut bytes);
                return;
            }
        };
        if !delivered {
            return; // the committer stopped
        }
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use weft_proto::v1::{Envelope, Proposal, Transaction};

    use super::*;

    fn tx(i: usize, size: usize) -> OrderedTx {
        OrderedTx { tx_id: format!("t{i}"), envelope: vec![1; size] }
    }

    #[test]
    fn cuts_by_count_bytes_timeout_and_close() {
        let batch = BatchConfig { max_txs: 3, max_bytes: 100, batch_timeout_ms: 50, queue: 100 };
        let (sink, blocks) = mpsc::sync_channel(10);
        let (orderer, thread) = SoloOrderer::start(batch, 0, vec![], sink).unwrap();
        // Count: three small transactions make a block at once.
        for i in 0..3 {
            orderer.broadcast(tx(i, 10)).unwrap();
        }
        let b0 = blocks.recv_timeout(std::time::Duration::from_millis(40)).unwrap();
        assert_eq!(b0.tx_ids, ["t0", "t1", "t2"]);
        assert_eq!(b0.block.header.as_ref().unwrap().number, 0);
        // Bytes: 60 + 60 > 100, so the first is cut alone when the second arrives.
        orderer.broadcast(tx(3, 60)).unwrap();
        orderer.broadcast(tx(4, 60)).unwrap();
        let b1 = blocks.recv_timeout(std::time::Duration::from_millis(40)).unwrap();
        assert_eq!(b1.tx_ids, ["t3"]);
        let prev = header_hash(b0.block.header.as_ref().unwrap()).to_vec();
        assert_eq!(b1.block.header.as_ref().unwrap().previous_hash, prev);
        // Timeout: t4 waits alone for the batch timeout.
        let started = Instant::now();
        let b2 = blocks.recv_timeout(std::time::Duration::from_secs(2)).unwrap();
        assert_eq!(b2.tx_ids, ["t4"]);
        assert!(started.elapsed() >= std::time::Duration::from_millis(5));
        // Close: the pending batch is cut, then the sink is dropped.
        orderer.broadcast(tx(5, 1)).unwrap();
        orderer.close();
        assert!(matches!(orderer.broadcast(tx(6, 1)), Err(Error::ShuttingDown)));
        let b3 = blocks.recv().unwrap();
        assert_eq!((b3.block.header.unwrap().number, b3.tx_ids), (3, vec!["t5".to_string()]));
        assert!(blocks.recv().is_err());
        thread.join().unwrap();
    }

    #[test]
    fn admits_only_authentic_envelopes_of_this_channel() {
        use weft_protocol::testing::{TestNetwork, TxSpec};
        let net = TestNetwork::new("ch1", 1, &[("kv", weft_protocol::policy::peer("Org1"))]);
        let channel = Channel::new(net.config.clone()).unwrap();
        let org = net.org(0);
        let spec = TxSpec::new(&org.client, "kv", "n1", Default::default(), vec![&org.peer]);
        let (tx_id, bytes) = net.envelope(spec);
        assert_eq!(
            admit(&channel, &VerifiedSignatures::default(), bytes.clone()).unwrap().tx_id,
            tx_id
        );
        assert!(matches!(
            admit(&channel, &VerifiedSignatures::default(), b"junk".to_vec()),
            Err(Error::BadRequest(_))
        ));
        // Re-signed by a stranger: not a member.
        let mut envelope = Envelope::decode(bytes.as_slice()).unwrap();
        let stranger = weft_protocol::identity::SigningIdentity::from_seed("Org1", "stranger");
        envelope.signature = stranger.sign(&envelope.payload);
        assert!(matches!(
            admit(&channel, &VerifiedSignatures::default(), envelope.encode_to_vec()),
            Err(Error::BadSignature(_))
        ));
        // A claimed id that is not derived from the nonce and creator.
        let mut envelope = Envelope::decode(bytes.as_slice()).unwrap();
        let mut tx = Transaction::decode(envelope.payload.as_slice()).unwrap();
        let mut proposal = Proposal::decode(tx.proposal.as_slice()).unwrap();
        proposal.tx_id = "someone-elses".into();
        tx.proposal = proposal.encode_to_vec();
        envelope.payload = tx.encode_to_vec();
        envelope.signature = org.client.sign(&envelope.payload);
        assert!(matches!(
            admit(&channel, &VerifiedSignatures::default(), envelope.encode_to_vec()),
            Err(Error::BadRequest(_))
        ));
        // Another channel.
        let other = TestNetwork::new("ch2", 1, &[("kv", weft_protocol::policy::peer("Org1"))]);
        let spec = TxSpec::new(&org.client, "kv", "n2", Default::default(), vec![&org.peer]);
        let (_, elsewhere) = other.envelope(spec);
        assert!(matches!(
            admit(&channel, &VerifiedSignatures::default(), elsewhere),
            Err(Error::BadRequest(_))
        ));
    }

    #[test]
    fn a_full_queue_sheds_load() {
        let batch = BatchConfig { max_txs: 1, max_bytes: 100, batch_timeout_ms: 50, queue: 1 };
        // A sink nobody reads: the orderer blocks on its first block, the queue fills.
        let (sink, _blocks) = mpsc::sync_channel(0);
        let (orderer, _thread) = SoloOrderer::start(batch, 0, vec![], sink).unwrap();
        let mut refused = None;
        for i in 0..10 {
            if let Err(e) = orderer.broadcast(tx(i, 1)) {
                refused = Some(e);
                break;
            }
        }
        assert!(matches!(refused, Some(Error::Overloaded(_))), "{refused:?}");
        orderer.close();
    }
}
