//! One `Endorser.ProcessProposals` stream to another organization's peer, shared by every
//! proposal this node asks that peer to endorse: a proposal and its answer are one message
//! each way on a stream already open, where a unary `ProcessProposal` opens and closes an
//! HTTP/2 stream for each (headers, trailers, a task on each side).
//!
//! Callers take positions in the request stream in the order they send (under one lock), and
//! the peer's answers name their position. When the stream breaks or the peer ends it, every
//! caller still waiting is told the peer is unreachable, and the next proposal opens a new
//! stream ([`super::remote`]). Dropping the stream ends its request half: the peer answers
//! what it read and ends the stream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tonic::transport::Channel;
use weft_proto::v1::endorser_client::EndorserClient;
use weft_proto::v1::process_proposals_response::Outcome;
use weft_proto::v1::{ProcessProposalRequest, ProcessProposalsResponse, ProposalResponse};

use super::remote::{Failure, failure_of, no_answer_within, peer_said};

type Answer = Result<ProposalResponse, Failure>;

/// Callers waiting for their answers, by position.
#[derive(Debug, Default)]
struct Waiting {
    next: u64,
    callers: HashMap<u64, oneshot::Sender<Answer>>,
    /// Why the stream ended, once it has.
    ended: Option<String>,
}

/// An open `ProcessProposals` stream (see the module's documentation).
#[derive(Debug)]
pub(crate) struct ProposalStream {
    requests: mpsc::UnboundedSender<ProcessProposalRequest>,
    waiting: Arc<Mutex<Waiting>>,
}

impl ProposalStream {
    /// Opens a stream on `channel`; the peer's status if it refuses (`UNIMPLEMENTED` from a
    /// peer that does not serve the stream).
    pub(crate) async fn open(
        channel: Channel,
        max_message: usize,
    ) -> Result<ProposalStream, tonic::Status> {
        let (requests, outbound) = mpsc::unbounded_channel();
        let mut client = EndorserClient::new(channel)
            .max_decoding_message_size(max_message)
            .max_encoding_message_size(max_message);
        let outbound = tokio_stream::wrappers::UnboundedReceiverStream::new(outbound);
        let mut answers = client.process_proposals(outbound).await?.into_inner();
        let waiting = Arc::new(Mutex::new(Waiting::default()));
        let dispatch = Arc::clone(&waiting);
        tokio::spawn(async move {
            let why = loop {
                match answers.message().await {
                    Ok(Some(answer)) => {
                        let caller =
                            dispatch.lock().expect("stream lock").callers.remove(&answer.index);
                        if let Some(caller) = caller {
                            let _ = caller.send(answer_of(answer));
                        }
                    }
                    Ok(None) => break "the peer ended the endorsement stream".to_string(),
                    Err(status) => break peer_said(&status),
                }
            };
            let callers = {
                let mut waiting = dispatch.lock().expect("stream lock");
                waiting.ended = Some(why.clone());
                std::mem::take(&mut waiting.callers)
            };
            for (_, caller) in callers {
                let _ = caller.send(Err(Failure::Unreachable(why.clone())));
            }
        });
        Ok(ProposalStream { requests, waiting })
    }

    /// Whether the stream still carries proposals.
    pub(crate) fn is_open(&self) -> bool {
        self.waiting.lock().expect("stream lock").ended.is_none()
    }

    /// Sends `request` and waits for its answer, within `timeout`.
    pub(crate) async fn ask(&self, request: ProcessProposalRequest, timeout: Duration) -> Answer {
        let (caller, answer) = oneshot::channel();
        let index = {
            let mut waiting = self.waiting.lock().expect("stream lock");
            if let Some(why) = &waiting.ended {
                return Err(Failure::Unreachable(why.clone()));
            }
            let index = waiting.next;
            // Sent under the lock, so that positions follow the order of sending.
            if self.requests.send(request).is_err() {
                return Err(Failure::Unreachable("the endorsement stream is closed".into()));
            }
            waiting.next += 1;
            waiting.callers.insert(index, caller);
            index
        };
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(Failure::Unreachable("the endorsement stream ended".into())),
            Err(_) => {
                self.waiting.lock().expect("stream lock").callers.remove(&index);
                Err(no_answer_within(timeout))
            }
        }
    }
}

/// A peer's answer to one proposal: its response, or its refusal as a unary call's status.
fn answer_of(answer: ProcessProposalsResponse) -> Answer {
    match answer.outcome {
        Some(Outcome::Response(response)) => Ok(response),
        Some(Outcome::Error(error)) => {
            Err(failure_of(&tonic::Status::new(tonic::Code::from(error.code), error.message)))
        }
        None => Err(Failure::Refused("its answer has no outcome".into())),
    }
}
