//! Streams of committed blocks and contract events (Fabric's deliver service): read from the
//! ledger from a starting block, then follow the committed height until the client goes
//! away or the node stops.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use weft_proto::v1::{Block, ContractEvent, FilteredBlock, FilteredTransaction, TxValidationCode};
use weft_protocol::decoded::DecodedTx;

use crate::channels::ChannelPeer;
use crate::error::Error;

/// A server stream of `T`.
pub type Stream<T> = ReceiverStream<Result<T, Status>>;

/// Streams `make(block)` for each committed block of `peer`'s channel from `start` on,
/// skipping `None`s.
pub(crate) fn follow<T, F>(
    peer: Arc<ChannelPeer>,
    start: u64,
    mut make: F,
) -> Result<Stream<T>, Error>
where
    T: Send + 'static,
    F: FnMut(Block) -> Option<T> + Send + 'static,
{
    let mut heights = peer.notifier.subscribe().ok_or(Error::ShuttingDown)?;
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let mut next = start;
        loop {
            let height = peer.ledger.chain_info().height;
            while next < height {
                let item = match peer.ledger.block(next) {
                    Ok(Some(block)) => make(block).map(Ok),
                    Ok(None) => Some(Err(Status::internal(format!("block {next} is missing")))),
                    Err(e) => Some(Err(Error::from(e).into())),
                };
                next += 1;
                if let Some(item) = item {
                    let failed = item.is_err();
                    if tx.send(item).await.is_err() || failed {
                        return;
                    }
                }
            }
            tokio::select! {
                changed = heights.changed() => if changed.is_err() { return },
                () = tx.closed() => return,
            }
        }
    });
    Ok(ReceiverStream::new(rx))
}

/// Each transaction of a committed `block`, decoded once (`None` if it does not decode),
/// with its validation code.
fn transactions(block: &Block) -> impl Iterator<Item = (Option<DecodedTx>, TxValidationCode)> {
    let codes = block.metadata.as_ref().map(|m| m.validation_codes.as_slice()).unwrap_or_default();
    let envelopes = block.data.as_ref().map(|d| d.envelopes.as_slice()).unwrap_or_default();
    envelopes.iter().zip(codes).map(|(bytes, code)| {
        let code =
            TxValidationCode::try_from(*code).unwrap_or(TxValidationCode::InvalidOtherReason);
        (DecodedTx::decode(bytes).ok(), code)
    })
}

/// The filtered form of a block: transaction ids and codes.
pub(crate) fn filtered(block: &Block) -> FilteredBlock {
    FilteredBlock {
        number: block.header.as_ref().map_or(0, |h| h.number),
        // Every transaction, as Fabric's filtered blocks list them: one that does not decode
        // (its code says so) with an empty id.
        transactions: transactions(block)
            .map(|(tx, code)| FilteredTransaction {
                tx_id: tx.map(|tx| tx.tx_id().to_owned()).unwrap_or_default(),
                code: code as i32,
            })
            .collect(),
    }
}

/// The events of `contract` emitted by valid transactions of `block`, skipping transactions
/// up to and including `after_tx_id` when given.
pub(crate) fn events_of(
    block: &Block,
    contract: &str,
    after_tx_id: Option<&str>,
) -> Vec<ContractEvent> {
    let txs: Vec<_> = transactions(block).collect();
    let skip = after_tx_id
        .and_then(|id| {
            txs.iter().position(|(tx, _)| tx.as_ref().is_some_and(|tx| tx.tx_id() == id))
        })
        .map_or(0, |i| i + 1);
    // Only valid transactions' payloads are decoded: their events are the only ones sent.
    txs.into_iter()
        .skip(skip)
        .filter(|(_, code)| *code == TxValidationCode::Valid)
        .filter_map(|(tx, _)| tx?.response_payload().ok())
        .flat_map(|payload| payload.events)
        .filter(|e| e.contract == contract)
        .collect()
}

#[cfg(test)]
mod tests {
    use weft_proto::v1::{KvWrite, NsReadWriteSet};
    use weft_protocol::block::new_block;
    use weft_protocol::policy;
    use weft_protocol::testing::{TestNetwork, TxSpec};

    use super::*;

    /// A filtered block lists every transaction with its code, as Fabric's do, even one
    /// whose envelope does not decode (with an empty id); events come from valid ones only.
    #[test]
    fn filtered_blocks_list_every_transaction() {
        let net = TestNetwork::new("ch1", 1, &[("kv", policy::peer("Org1"))]);
        let org = net.org(0);
        let rwset = NsReadWriteSet {
            namespace: "kv".into(),
            writes: vec![KvWrite { key: b"k".to_vec(), is_delete: false, value: b"v".to_vec() }],
            ..Default::default()
        };
        let (tx_id, envelope) =
            net.envelope(TxSpec::new(&org.client, "kv", "n", rwset, vec![&org.peer]));
        let mut block = new_block(0, Vec::new(), vec![envelope, b"junk".to_vec()]);
        block.metadata.as_mut().unwrap().validation_codes =
            vec![TxValidationCode::Valid as i32, TxValidationCode::BadPayload as i32];
        let listed: Vec<_> =
            filtered(&block).transactions.into_iter().map(|t| (t.code(), t.tx_id)).collect();
        assert_eq!(
            listed,
            [(TxValidationCode::Valid, tx_id), (TxValidationCode::BadPayload, String::new())]
        );
        assert!(events_of(&block, "kv", None).is_empty(), "the transaction emitted none");
    }
}
