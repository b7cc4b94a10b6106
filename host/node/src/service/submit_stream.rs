//! `Gateway.SubmitStream`: many transactions over one HTTP/2 stream, each answered with
//! its commit status as it commits.
//!
//! Each envelope read from the stream goes through exactly what `SubmitAndWait` does for
//! one ([`GatewayService::submit_envelope`], then the commit wait) in a task of its own, so
//! a slow or refused envelope holds up no other; its answer names its position in the
//! stream. A refusal answers that envelope alone and the stream goes on. At most
//! [`IN_FLIGHT`] envelopes of one stream are in flight: the next one is read when an answer
//! is out, so a client that sends without reading answers stops being read, and what one
//! stream holds on the node is bounded. The stream ends once the client has ended its half
//! and every envelope read has been answered; a client that goes away leaves the
//! transactions already ordered to commit.

use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc};
use tonic::{Status, Streaming};
use weft_proto::v1::submit_stream_response::Outcome;
use weft_proto::v1::{StreamError, SubmitRequest, SubmitStreamResponse};

use super::gateway::{GatewayService, status_response};

/// Envelopes of one stream in flight at most (read, not yet answered).
pub const IN_FLIGHT: usize = 1024;

/// Where answers go: the response stream.
pub(crate) type Answers = mpsc::Sender<Result<SubmitStreamResponse, Status>>;

/// Reads `inbound` to its end (or until the client goes away), submitting each envelope and
/// sending its answer to `answers`.
pub(crate) async fn serve(
    gateway: GatewayService,
    mut inbound: Streaming<SubmitRequest>,
    answers: Answers,
) {
    let room = Arc::new(Semaphore::new(IN_FLIGHT));
    for index in 0u64.. {
        let Ok(place) = room.clone().acquire_owned().await else { return };
        let request = tokio::select! {
            request = inbound.message() => request,
            () = answers.closed() => return,
        };
        let request = match request {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(status) => {
                tracing::debug!(%status, "a submit stream broke off");
                return;
            }
        };
        let (gateway, answers) = (gateway.clone(), answers.clone());
        tokio::spawn(async move {
            let outcome = match gateway.submit_and_wait_for(request).await {
                Ok(status) => Outcome::Status(status_response(status)),
                Err(error) => {
                    let status = Status::from(error);
                    let code = status.code() as i32;
                    Outcome::Error(StreamError { code, message: status.message().to_string() })
                }
            };
            let answer = SubmitStreamResponse { index, outcome: Some(outcome) };
            // A client that went away gets no answer; the transaction commits all the same.
            let _ = answers.send(Ok(answer)).await;
            drop(place);
        });
    }
}
