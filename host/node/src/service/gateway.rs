//! The Gateway service: evaluate, endorse, submit, commit status.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use weft_proto::quote::quote;
use weft_proto::v1::chaincode_events_request::Start;
use weft_proto::v1::gateway_server::Gateway;
use weft_proto::v1::{
    ChaincodeEventsRequest, ChaincodeEventsResponse, CommitStatusRequest, CommitStatusResponse,
    EndorseRequest, EndorseResponse, EvaluateRequest, EvaluateResponse, SubmitRequest,
    SubmitResponse,
};
use weft_protocol::transaction::DecodedProposal;

use super::{required, tx_id};
use crate::admission::admit;
use crate::committer::TxStatus;
use crate::deliver::{Stream, events_of, follow};
use crate::endorser::queue_of;
use crate::error::Error;
use crate::node::Shared;

/// Implements `weft.v1.Gateway`.
#[derive(Debug, Clone)]
pub struct GatewayService {
    shared: Arc<Shared>,
}

impl GatewayService {
    pub(crate) fn new(shared: Arc<Shared>) -> GatewayService {
        GatewayService { shared }
    }

    async fn submit_envelope(&self, request: SubmitRequest) -> Result<String, Error> {
        let envelope = required(request.envelope, "envelope")?;
        let bytes = prost::Message::encode_to_vec(&envelope);
        let ledger = &self.shared.ledger;
        let tx = admit(&ledger.channel(), ledger.verified_signatures(), bytes)?;
        let tx_id = tx.tx_id;
        self.shared.notifier.submitting(&tx_id)?;
        if let Err(e) = self.shared.orderer.broadcast(tx.envelope).await {
            self.shared.notifier.abandon(&tx_id);
            return Err(e.into());
        }
        self.shared.metrics.submitted();
        Ok(tx_id)
    }
}

fn status_response(status: TxStatus) -> CommitStatusResponse {
    CommitStatusResponse {
        tx_id: status.tx_id,
        code: status.code as i32,
        block_number: status.block_number,
        conflicts: status.conflicts,
        block_hash: status.block_hash.to_vec(),
    }
}

#[tonic::async_trait]
impl Gateway for GatewayService {
    type ChaincodeEventsStream = Stream<ChaincodeEventsResponse>;

    async fn chaincode_events(
        &self,
        request: Request<ChaincodeEventsRequest>,
    ) -> Result<Response<Self::ChaincodeEventsStream>, Status> {
        let request = request.into_inner();
        let contract = super::contract(request.contract)?;
        let ledger = super::joined(&self.shared, &request.channel)?;
        let channel = ledger.channel();
        if channel.contract(&contract).is_none() {
            return Err(Error::NotFound(format!(
                "contract {} is not defined on channel {}",
                quote(&contract),
                quote(channel.name())
            ))
            .into());
        }
        let (start, mut after) = match request.start {
            Some(Start::StartBlock(n)) => (n, None),
            Some(Start::AfterTxId(id)) => {
                let id = tx_id(id, "after_tx_id")?;
                let record = ledger.transaction(&id).map_err(Error::from)?.ok_or_else(|| {
                    Error::NotFound(format!(
                        "no committed transaction {} to resume after",
                        quote(&id)
                    ))
                })?;
                (record.location.block_number, Some(id))
            }
            None => (ledger.chain_info().height, None),
        };
        let stream = follow(self.shared.clone(), start, move |block| {
            let events = events_of(&block, &contract, after.take().as_deref());
            let block_number = block.header.as_ref().map_or(0, |h| h.number);
            (!events.is_empty()).then_some(ChaincodeEventsResponse { block_number, events })
        })?;
        Ok(Response::new(stream))
    }

    async fn evaluate(
        &self,
        request: Request<EvaluateRequest>,
    ) -> Result<Response<EvaluateResponse>, Status> {
        let signed = required(request.into_inner().proposal, "proposal")?;
        let endorser = self.shared.endorser.clone();
        let started = std::time::Instant::now();
        let decoded = DecodedProposal::decode(signed).map_err(Error::from)?;
        let queue = queue_of(&self.shared.ledger.channel(), &decoded).to_owned();
        let result = self.shared.pool.run(&queue, move || endorser.evaluate(decoded)).await?;
        self.shared.metrics.evaluated(started.elapsed());
        Ok(Response::new(EvaluateResponse { result: Some(result) }))
    }

    async fn endorse(
        &self,
        request: Request<EndorseRequest>,
    ) -> Result<Response<EndorseResponse>, Status> {
        let signed = required(request.into_inner().proposal, "proposal")?;
        let endorser = self.shared.endorser.clone();
        let started = std::time::Instant::now();
        let decoded = DecodedProposal::decode(signed).map_err(Error::from)?;
        let queue = queue_of(&self.shared.ledger.channel(), &decoded).to_owned();
        let endorsed = self.shared.pool.run(&queue, move || endorser.endorse(decoded)).await?;
        self.shared.metrics.endorsed(started.elapsed());
        Ok(Response::new(EndorseResponse {
            tx_id: endorsed.tx_id,
            result: Some(endorsed.response),
            prepared_transaction: endorsed.prepared_transaction,
        }))
    }

    async fn submit(
        &self,
        request: Request<SubmitRequest>,
    ) -> Result<Response<SubmitResponse>, Status> {
        let tx_id = self.submit_envelope(request.into_inner()).await?;
        Ok(Response::new(SubmitResponse { tx_id }))
    }

    async fn commit_status(
        &self,
        request: Request<CommitStatusRequest>,
    ) -> Result<Response<CommitStatusResponse>, Status> {
        let request = request.into_inner();
        super::joined(&self.shared, &request.channel)?;
        let tx_id = tx_id(request.tx_id, "tx_id")?;
        let status = self.shared.notifier.wait(&tx_id).await?;
        Ok(Response::new(status_response(status)))
    }

    async fn submit_and_wait(
        &self,
        request: Request<SubmitRequest>,
    ) -> Result<Response<CommitStatusResponse>, Status> {
        let tx_id = self.submit_envelope(request.into_inner()).await?;
        let status = self.shared.notifier.wait(&tx_id).await?;
        Ok(Response::new(status_response(status)))
    }
}
