//! The LedgerQuery service: chain info, blocks by number or hash (and streamed),
//! transactions by id, key history.

use std::sync::Arc;

use prost::Message;
use tonic::{Request, Response, Status};
use weft_proto::quote::{quote, quote_hex};
use weft_proto::v1::ledger_query_server::LedgerQuery;
use weft_proto::v1::{
    Block, BlocksRequest, BlocksResponse, ChainInfoResponse, Envelope, GetBlockRequest,
    GetChainInfoRequest, GetKeyHistoryRequest, GetKeyHistoryResponse, GetTransactionRequest,
    GetTransactionResponse, KeyModification, Timestamp, blocks_response::Kind,
    get_block_request::By,
};

use super::{required, tx_id};
use crate::deliver::{Stream, filtered, follow};
use crate::error::Error;
use crate::node::Shared;

/// Implements `weft.v1.LedgerQuery`.
#[derive(Debug, Clone)]
pub struct LedgerService {
    shared: Arc<Shared>,
}

impl LedgerService {
    pub(crate) fn new(shared: Arc<Shared>) -> LedgerService {
        LedgerService { shared }
    }
}

#[tonic::async_trait]
impl LedgerQuery for LedgerService {
    type BlocksStream = Stream<BlocksResponse>;

    async fn blocks(
        &self,
        request: Request<BlocksRequest>,
    ) -> Result<Response<Self::BlocksStream>, Status> {
        let BlocksRequest { start_block, filtered: only_codes, channel } = request.into_inner();
        let peer = super::joined(&self.shared, &channel)?;
        let stream = follow(peer, start_block, move |block| {
            let kind =
                if only_codes { Kind::FilteredBlock(filtered(&block)) } else { Kind::Block(block) };
            Some(BlocksResponse { kind: Some(kind) })
        })?;
        Ok(Response::new(stream))
    }

    async fn get_chain_info(
        &self,
        request: Request<GetChainInfoRequest>,
    ) -> Result<Response<ChainInfoResponse>, Status> {
        let info = super::joined(&self.shared, &request.into_inner().channel)?.ledger.chain_info();
        Ok(Response::new(ChainInfoResponse {
            height: info.height,
            current_hash: info.current_hash,
            previous_hash: info.previous_hash,
            commit_hash: info.commit_hash,
        }))
    }

    async fn get_block(
        &self,
        request: Request<GetBlockRequest>,
    ) -> Result<Response<Block>, Status> {
        let request = request.into_inner();
        let peer = super::joined(&self.shared, &request.channel)?;
        let ledger = &peer.ledger;
        let block = match required(request.by, "block number or hash")? {
            By::Number(n) => ledger.block(n).map_err(Error::from)?.ok_or_else(|| {
                let height = ledger.chain_info().height;
                Error::NotFound(format!("no block {n}: the chain has {height} blocks"))
            })?,
            By::Hash(h) if h.len() != 32 => {
                return Err(Error::BadRequest(format!(
                    "a block hash is 32 bytes; the request's hash {} is not one",
                    quote_hex(&h)
                ))
                .into());
            }
            By::Hash(h) => ledger
                .block_by_hash(&h)
                .map_err(Error::from)?
                .ok_or_else(|| Error::NotFound(format!("no block with hash {}", quote_hex(&h))))?,
        };
        Ok(Response::new(block))
    }

    async fn get_key_history(
        &self,
        request: Request<GetKeyHistoryRequest>,
    ) -> Result<Response<GetKeyHistoryResponse>, Status> {
        let GetKeyHistoryRequest { contract, key, channel } = request.into_inner();
        let contract = super::contract(contract)?;
        let peer = super::joined(&self.shared, &channel)?;
        let ledger = &peer.ledger;
        if ledger.channel().contract(&contract).is_none() {
            return Err(Error::NotFound(format!(
                "contract {} is not defined on channel {}",
                quote(&contract),
                quote(ledger.channel().name())
            ))
            .into());
        }
        let snapshot = ledger.snapshot();
        let history = snapshot.history(&contract, &key).ok_or_else(|| {
            Error::Config(
                "this node keeps no key history (`[ledger] history = false` in its \
                 node.toml)"
                    .into(),
            )
        })?;
        let modifications = history
            .map(|entry| {
                entry.map(|e| KeyModification {
                    tx_id: e.tx_id,
                    version: Some(e.version),
                    timestamp: Some(Timestamp {
                        seconds: e.timestamp.seconds,
                        nanos: e.timestamp.nanos,
                    }),
                    is_delete: e.is_delete,
                    value: e.value,
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(Error::from)?;
        Ok(Response::new(GetKeyHistoryResponse { modifications }))
    }

    async fn get_transaction(
        &self,
        request: Request<GetTransactionRequest>,
    ) -> Result<Response<GetTransactionResponse>, Status> {
        let request = request.into_inner();
        let peer = super::joined(&self.shared, &request.channel)?;
        let ledger = &peer.ledger;
        let tx_id = tx_id(request.tx_id, "tx_id")?;
        let record = ledger.transaction(&tx_id).map_err(Error::from)?.ok_or_else(|| {
            Error::NotFound(format!("no committed transaction {}", quote(&tx_id)))
        })?;
        // Only the envelope is returned: its inner layers are the client's to decode.
        let envelope = Envelope::decode(record.envelope.as_slice())
            .map_err(|e| Error::Ledger(weft_ledger::Error::Corrupt(e.to_string())))?;
        Ok(Response::new(GetTransactionResponse {
            envelope: Some(envelope),
            code: record.location.code as i32,
            block_number: record.location.block_number,
            tx_index: record.location.tx_index,
            conflicts: ledger.conflicts_of(&tx_id).map_err(Error::from)?,
        }))
    }
}
