//! The Endorser service, peer to peer (Fabric's `Endorser.ProcessProposal`): another
//! organization's gateway sends a client's signed proposal and gets this peer's signed
//! proposal response, signed as the one organization asked for. The proposal goes through
//! the same endorser as the gateway's own `Endorse` (channel, creator and signature,
//! transaction id, time window, contract defined and installed, the lifecycle's checks),
//! on the same contract threads. `ProcessProposals` does the same for each proposal of a
//! stream (a gateway that asks this peer often keeps one open: [`crate::collect`]), answered
//! on its own ([`super::each`]), at most [`IN_FLIGHT`] of one stream at once.

use std::sync::Arc;

use tonic::{Request, Response, Status, Streaming};
use weft_proto::quote::quote;
use weft_proto::v1::endorser_server::Endorser;
use weft_proto::v1::process_proposals_response::Outcome;
use weft_proto::v1::{ProcessProposalRequest, ProcessProposalsResponse, ProposalResponse};
use weft_protocol::transaction::DecodedProposal;

use super::each::{answer_each, stream_error};
use super::required;
use crate::deliver::Stream;
use crate::endorser::queue_of;
use crate::error::Error;
use crate::node::Shared;

/// Implements `weft.v1.Endorser`.
#[derive(Debug, Clone)]
pub struct EndorserService {
    shared: Arc<Shared>,
}

/// Proposals of one `ProcessProposals` stream in flight at most (read, not yet answered).
pub const IN_FLIGHT: usize = 256;

/// The stream's method, as the edge layer names it in logs.
const METHOD: &str = "/weft.v1.Endorser/ProcessProposals";

impl EndorserService {
    pub(crate) fn new(shared: Arc<Shared>) -> EndorserService {
        EndorserService { shared }
    }

    /// One proposal: checked, simulated and signed as the organization asked for.
    async fn endorse(&self, request: ProcessProposalRequest) -> Result<ProposalResponse, Error> {
        let signed = required(request.proposal, "proposal")?;
        let started = std::time::Instant::now();
        let decoded = DecodedProposal::decode(signed).map_err(Error::from)?;
        // The proposal's own channel names the peer that endorses it.
        let peer = super::joined(&self.shared, decoded.channel())?;
        let endorser = peer.endorser.clone();
        // Refused before anything runs: this node signs only as a peer it is.
        let identity = endorser.identity_of(&request.msp_id).cloned().ok_or_else(|| {
            let mine: Vec<&str> = endorser.identities().map(|id| id.msp_id()).collect();
            Error::NotFound(format!(
                "this node is not a peer of organization {} (it endorses as {})",
                quote(&request.msp_id),
                mine.join(", ")
            ))
        })?;
        let channel = peer.ledger.channel();
        let decoded = self.shared.signatures.check_proposal(&channel, decoded).await?;
        let queue = queue_of(&channel, &decoded);
        let simulated = {
            let endorser = endorser.clone();
            self.shared.pool.run(&queue, move || endorser.simulate(&decoded)).await?
        };
        let endorsement = endorser.sign(&identity, &simulated.payload);
        self.shared.metrics.endorsed(started.elapsed());
        Ok(ProposalResponse { payload: simulated.payload, endorsement: Some(endorsement) })
    }
}

#[tonic::async_trait]
impl Endorser for EndorserService {
    async fn process_proposal(
        &self,
        request: Request<ProcessProposalRequest>,
    ) -> Result<Response<ProposalResponse>, Status> {
        Ok(Response::new(self.endorse(request.into_inner()).await?))
    }

    type ProcessProposalsStream = Stream<ProcessProposalsResponse>;

    async fn process_proposals(
        &self,
        request: Request<Streaming<ProcessProposalRequest>>,
    ) -> Result<Response<Self::ProcessProposalsStream>, Status> {
        let (answers, stream) = tokio::sync::mpsc::channel(IN_FLIGHT);
        let service = self.clone();
        tokio::spawn(async move {
            let streams = &service.shared.streams;
            answer_each(request.into_inner(), answers, streams, IN_FLIGHT, |index, request| {
                let service = service.clone();
                async move {
                    let outcome = match service.endorse(request).await {
                        Ok(response) => Outcome::Response(response),
                        Err(error) => Outcome::Error(stream_error(METHOD, Status::from(error))),
                    };
                    ProcessProposalsResponse { index, outcome: Some(outcome) }
                }
            })
            .await
        });
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(stream)))
    }
}
