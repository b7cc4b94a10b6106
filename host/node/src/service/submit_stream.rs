//! `Gateway.SubmitStream`: many transactions over one HTTP/2 stream, each answered with
//! its commit status as it commits.
//!
//! Each envelope read from the stream goes through exactly what `SubmitAndWait` does for
//! one ([`GatewayService::submit_envelope`], then the commit wait), answered on its own
//! ([`super::each`]): a refusal answers that envelope alone and the stream goes on, and at
//! most [`IN_FLIGHT`] envelopes of one stream are in flight. A client that goes away
//! leaves the transactions already ordered to commit.

use tonic::{Status, Streaming};
use weft_proto::v1::submit_stream_response::Outcome;
use weft_proto::v1::{SubmitRequest, SubmitStreamResponse};

use super::each::{Answers, answer_each, stream_error};
use super::gateway::{GatewayService, status_response};

/// Envelopes of one stream in flight at most (read, not yet answered).
pub const IN_FLIGHT: usize = 1024;

/// The stream's method, as the edge layer names it in logs.
const METHOD: &str = "/weft.v1.Gateway/SubmitStream";

/// Reads `inbound` to its end (or until the client goes away), submitting each envelope and
/// sending its answer to `answers`.
pub(crate) async fn serve(
    gateway: GatewayService,
    inbound: Streaming<SubmitRequest>,
    answers: Answers<SubmitStreamResponse>,
) {
    answer_each(inbound, answers, gateway.streams(), IN_FLIGHT, |index, request| {
        let gateway = gateway.clone();
        async move {
            let outcome = match gateway.submit_and_wait_for(request).await {
                Ok(status) => Outcome::Status(status_response(status)),
                Err(error) => Outcome::Error(stream_error(METHOD, Status::from(error))),
            };
            SubmitStreamResponse { index, outcome: Some(outcome) }
        }
    })
    .await
}
