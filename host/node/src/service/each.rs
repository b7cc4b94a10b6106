//! Request streams whose every message is answered on its own: `Gateway.SubmitStream` and
//! `Endorser.ProcessProposals`.
//!
//! Each message read from the stream is handled in a task of its own, so a slow or refused
//! one holds up no other; its answer names its position in the stream. At most `in_flight`
//! messages of one stream are in flight: the next one is read when an answer is out, so a
//! client that sends without reading answers stops being read, and what one stream holds on
//! the node is bounded. The stream ends once the client has ended its half, or the node is
//! stopping, and every message read has been answered: a stream a client keeps open does
//! not hold up the node's graceful shutdown. A client that goes away gets no more answers,
//! and what its messages started (a transaction already ordered) goes on.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, watch};
use tonic::{Status, Streaming};
use weft_proto::v1::StreamError;

/// Where answers go: the response stream.
pub(crate) type Answers<A> = mpsc::Sender<Result<A, Status>>;

/// Reads `inbound` to its end (or until the client goes away, or `stopping` turns true),
/// handing each message and its position to `handle` and sending what it answers to
/// `answers`, with at most `in_flight` messages read and not yet answered.
pub(crate) async fn answer_each<R, A, H, F>(
    mut inbound: Streaming<R>,
    answers: Answers<A>,
    mut stopping: watch::Receiver<bool>,
    in_flight: usize,
    handle: H,
) where
    R: Send + 'static,
    A: Send + 'static,
    H: Fn(u64, R) -> F,
    F: Future<Output = A> + Send + 'static,
{
    let room = Arc::new(Semaphore::new(in_flight));
    for index in 0u64.. {
        let Ok(place) = room.clone().acquire_owned().await else { return };
        let request = tokio::select! {
            request = inbound.message() => request,
            () = answers.closed() => return,
            _ = stopping.wait_for(|stopping| *stopping) => return,
        };
        let request = match request {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(status) => {
                tracing::debug!(%status, "a request stream broke off");
                return;
            }
        };
        let answer = handle(index, request);
        let answers = answers.clone();
        tokio::spawn(async move {
            let answer = answer.await;
            // A client that went away gets no answer.
            let _ = answers.send(Ok(answer)).await;
            drop(place);
        });
    }
}

/// A refusal of one message of a stream, as the unary call would have failed with it.
pub(crate) fn stream_error(status: Status) -> StreamError {
    StreamError { code: status.code() as i32, message: status.message().to_string() }
}
