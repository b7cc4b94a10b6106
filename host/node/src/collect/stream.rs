//! One `Endorser.ProcessProposals` stream to another organization's peer, shared by every
//! proposal this node asks that peer to endorse: a proposal and its answer are one message
//! each way on a stream already open, where a unary `ProcessProposal` opens and closes an
//! HTTP/2 stream for each (headers, trailers, a task on each side).
//!
//! Callers take positions in the request stream in the order they send (under one lock), and
//! the peer's answers name their position. When the stream breaks or the peer ends it, every
//! caller still waiting is told the peer is unreachable, and the next proposal opens a new
//! stream ([`super::remote`]). Dropping the stream ends it.
//!
//! A peer that stops reading the stream (hostile, or stuck) cannot make this node hold its
//! proposals without bound: at most `max_queued` proposals wait to be sent (the node's own
//! `grpc.max_concurrent_requests`, more than it can have in flight when the peer reads).
//! A proposal that finds the queue full ends the stream as unreachable, which frees what
//! waited in it, and the next proposal opens another.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc::error::TrySendError;
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

impl Waiting {
    /// Ends the stream for `why`: every caller still waiting is told the peer is unreachable.
    fn end(&mut self, why: String) {
        for (_, caller) in self.callers.drain() {
            let _ = caller.send(Err(Failure::Unreachable(why.clone())));
        }
        self.ended = Some(why);
    }
}

/// An open `ProcessProposals` stream (see the module's documentation).
#[derive(Debug)]
pub(crate) struct ProposalStream {
    requests: mpsc::Sender<ProcessProposalRequest>,
    waiting: Arc<Mutex<Waiting>>,
    /// The task that reads the peer's answers; dropping the stream stops it.
    answers: tokio::task::AbortHandle,
    /// Dropped with the stream: ends the request half even while proposals wait in the
    /// queue (a peer not reading), which drops them, so the HTTP/2 stream is reset.
    _end_requests: oneshot::Sender<()>,
}

impl Drop for ProposalStream {
    fn drop(&mut self) {
        self.answers.abort();
    }
}

/// Forgets a caller's place once it stops waiting (answered, timed out or gone away), so
/// that a peer that never answers does not make the callers map grow.
struct Place<'a> {
    waiting: &'a Mutex<Waiting>,
    index: u64,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.waiting.lock().expect("stream lock").callers.remove(&self.index);
    }
}

impl ProposalStream {
    /// Opens a stream on `channel`, with at most `max_queued` proposals waiting to be sent;
    /// the peer's status if it refuses (`UNIMPLEMENTED` from a peer that does not serve the
    /// stream).
    pub(crate) async fn open(
        channel: Channel,
        max_message: usize,
        max_queued: usize,
    ) -> Result<ProposalStream, tonic::Status> {
        let (requests, outbound) = mpsc::channel(max_queued.max(1));
        let mut client = EndorserClient::new(channel)
            .max_decoding_message_size(max_message)
            .max_encoding_message_size(max_message);
        let (end_requests, requests_end) = oneshot::channel();
        let outbound =
            tokio_stream::wrappers::ReceiverStream::new(outbound).take_until(requests_end);
        let mut answers = client.process_proposals(outbound).await?.into_inner();
        let waiting = Arc::new(Mutex::new(Waiting::default()));
        let dispatch = Arc::clone(&waiting);
        let task = tokio::spawn(async move {
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
            dispatch.lock().expect("stream lock").end(why);
        });
        Ok(ProposalStream {
            requests,
            waiting,
            answers: task.abort_handle(),
            _end_requests: end_requests,
        })
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
            // Queued under the lock, so that positions follow the order of sending.
            match self.requests.try_send(request) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    let why = format!(
                        "the peer is not reading its endorsement stream ({} proposals wait)",
                        self.requests.max_capacity()
                    );
                    waiting.end(why.clone());
                    return Err(Failure::Unreachable(why));
                }
                Err(TrySendError::Closed(_)) => {
                    return Err(Failure::Unreachable("the endorsement stream is closed".into()));
                }
            }
            waiting.next += 1;
            waiting.callers.insert(index, caller);
            index
        };
        let _place = Place { waiting: &self.waiting, index };
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(Failure::Unreachable("the endorsement stream ended".into())),
            Err(_) => Err(no_answer_within(timeout)),
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
