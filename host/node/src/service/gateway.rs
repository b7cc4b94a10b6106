//! The Gateway service: evaluate, endorse (collecting other organizations' endorsements
//! the policy needs, `crate::collect`), submit, commit status; many submissions over one
//! stream in [`super::submit_stream`].

use std::sync::Arc;

use tonic::{Request, Response, Status, Streaming};
use weft_proto::quote::quote;
use weft_proto::v1::chaincode_events_request::Start;
use weft_proto::v1::gateway_server::Gateway;
use weft_proto::v1::{
    ChaincodeEventsRequest, ChaincodeEventsResponse, CommitStatusRequest, CommitStatusResponse,
    EndorseRequest, EndorseResponse, EvaluateRequest, EvaluateResponse, SubmitRequest,
    SubmitResponse, SubmitStreamResponse,
};
use weft_protocol::decoded::DecodedTx;
use weft_protocol::transaction::DecodedProposal;

use super::{required, submit_stream, tx_id};
use crate::admission::admit_decoded;
use crate::channels::ChannelPeer;
use crate::collect::collect;
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

    /// What the node's request streams share.
    pub(crate) fn streams(&self) -> &crate::service::each::Streams {
        &self.shared.streams
    }

    async fn submit_envelope(
        &self,
        request: SubmitRequest,
    ) -> Result<(Arc<ChannelPeer>, String), Error> {
        let envelope = required(request.envelope, "envelope")?;
        let bytes = prost::Message::encode_to_vec(&envelope);
        let decoded =
            DecodedTx::from_envelope(envelope).map_err(|e| Error::BadRequest(e.to_string()))?;
        // The envelope's own channel names the peer it goes to.
        let peer = super::joined(&self.shared, decoded.channel())?;
        let ledger = &peer.ledger;
        let channel = ledger.channel();
        let verified = ledger.verified_signatures();
        let checks = &self.shared.signatures;
        let tx = admit_decoded(&channel, verified, checks, decoded, bytes).await?;
        let tx_id = tx.tx_id;
        let submitting = peer.notifier.submitting(&tx_id)?;
        peer.orderer.broadcast(tx.envelope).await?;
        submitting.accepted();
        self.shared.metrics.submitted();
        Ok((peer, tx_id))
    }

    /// Submits the request's envelope and waits for its commit: `SubmitAndWait`, and each
    /// envelope of a `SubmitStream`.
    pub(super) async fn submit_and_wait_for(
        &self,
        request: SubmitRequest,
    ) -> Result<TxStatus, Error> {
        let (peer, tx_id) = self.submit_envelope(request).await?;
        peer.notifier.wait(&tx_id).await
    }
}

pub(super) fn status_response(status: TxStatus) -> CommitStatusResponse {
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
    type SubmitStreamStream = Stream<SubmitStreamResponse>;

    async fn chaincode_events(
        &self,
        request: Request<ChaincodeEventsRequest>,
    ) -> Result<Response<Self::ChaincodeEventsStream>, Status> {
        let request = request.into_inner();
        let contract = super::contract(request.contract)?;
        let peer = super::joined(&self.shared, &request.channel)?;
        let ledger = &peer.ledger;
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
        let stream = follow(peer.clone(), start, move |block| {
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
        let started = std::time::Instant::now();
        let decoded = DecodedProposal::decode(signed).map_err(Error::from)?;
        // The proposal's own channel names the peer that endorses it.
        let peer = super::joined(&self.shared, decoded.channel())?;
        let endorser = peer.endorser.clone();
        let channel = peer.ledger.channel();
        let decoded = self.shared.signatures.check_proposal(&channel, decoded).await?;
        let queue = queue_of(&channel, &decoded);
        let result = self.shared.pool.run(&queue, move || endorser.evaluate(&decoded)).await?;
        self.shared.metrics.evaluated(started.elapsed());
        Ok(Response::new(EvaluateResponse { result: Some(result) }))
    }

    async fn endorse(
        &self,
        request: Request<EndorseRequest>,
    ) -> Result<Response<EndorseResponse>, Status> {
        let signed = required(request.into_inner().proposal, "proposal")?;
        let started = std::time::Instant::now();
        let decoded = DecodedProposal::decode(signed).map_err(Error::from)?;
        // The proposal's own channel names the peer that endorses it.
        let peer = super::joined(&self.shared, decoded.channel())?;
        let endorser = peer.endorser.clone();
        let channel = peer.ledger.channel();
        let decoded = self.shared.signatures.check_proposal(&channel, decoded).await?;
        let queue = queue_of(&channel, &decoded);
        let simulated = self.shared.pool.run(&queue, move || endorser.simulate(&decoded)).await?;
        // This peer's result; the organizations the policy needs besides this node's are
        // asked for theirs (crate::collect), none on a node that is a peer of them all.
        let shared = &self.shared;
        let endorsed = collect(shared, &peer.ledger, &peer.endorser, simulated).await?;
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
        let (_, tx_id) = self.submit_envelope(request.into_inner()).await?;
        Ok(Response::new(SubmitResponse { tx_id }))
    }

    async fn commit_status(
        &self,
        request: Request<CommitStatusRequest>,
    ) -> Result<Response<CommitStatusResponse>, Status> {
        let request = request.into_inner();
        let peer = super::joined(&self.shared, &request.channel)?;
        let tx_id = tx_id(request.tx_id, "tx_id")?;
        let status = peer.notifier.wait(&tx_id).await?;
        Ok(Response::new(status_response(status)))
    }

    async fn submit_and_wait(
        &self,
        request: Request<SubmitRequest>,
    ) -> Result<Response<CommitStatusResponse>, Status> {
        let status = self.submit_and_wait_for(request.into_inner()).await?;
        Ok(Response::new(status_response(status)))
    }

    async fn submit_stream(
        &self,
        request: Request<Streaming<SubmitRequest>>,
    ) -> Result<Response<Self::SubmitStreamStream>, Status> {
        let (answers, stream) = tokio::sync::mpsc::channel(submit_stream::IN_FLIGHT);
        tokio::spawn(submit_stream::serve(self.clone(), request.into_inner(), answers));
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(stream)))
    }
}
