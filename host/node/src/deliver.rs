//! Streams of committed blocks and contract events (Fabric's deliver service): read from the
//! ledger from a starting block, then follow the committed height until the client goes
//! away or the node stops.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use weft_proto::v1::{
    Block, ContractEvent, FilteredBlock, FilteredTransaction, ProposalResponsePayload,
    TxValidationCode,
};
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

/// Each transaction of `block`, decoded, with its response payload and code (undecodable
/// transactions are left out).
fn transactions(block: &Block) -> Vec<(DecodedTx, ProposalResponsePayload, TxValidationCode)> {
    let codes = block.metadata.as_ref().map(|m| m.validation_codes.as_slice()).unwrap_or_default();
    let envelopes = block.data.as_ref().map(|d| d.envelopes.as_slice()).unwrap_or_default();
    envelopes
        .iter()
        .zip(codes)
        .filter_map(|(bytes, code)| {
            let decoded = DecodedTx::decode(bytes).ok()?;
            let payload = decoded.response_payload().ok()?;
            let code =
                TxValidationCode::try_from(*code).unwrap_or(TxValidationCode::InvalidOtherReason);
            Some((decoded, payload, code))
        })
        .collect()
}

/// The filtered form of a block: transaction ids and codes.
pub(crate) fn filtered(block: &Block) -> FilteredBlock {
    FilteredBlock {
        number: block.header.as_ref().map_or(0, |h| h.number),
        transactions: transactions(block)
            .into_iter()
            .map(|(tx, _, code)| FilteredTransaction {
                tx_id: tx.tx_id().to_owned(),
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
    let txs = transactions(block);
    let skip = after_tx_id
        .and_then(|id| txs.iter().position(|(tx, _, _)| tx.tx_id() == id).map(|i| i + 1))
        .unwrap_or(0);
    txs.into_iter()
        .skip(skip)
        .filter(|(_, _, code)| *code == TxValidationCode::Valid)
        .flat_map(|(_, payload, _)| payload.events)
        .filter(|e| e.contract == contract)
        .collect()
}
