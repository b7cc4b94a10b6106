//! Request streams whose every message is answered on its own: `Gateway.SubmitStream` and
//! `Endorser.ProcessProposals`.
//!
//! Each message read from the stream is handled in a task of its own, so a slow or refused
//! one holds up no other; its answer names its position in the stream. At most `in_flight`
//! messages of one stream are in flight, and at most `grpc.max_concurrent_requests` of all
//! the node's streams together ([`Streams`]; a message read waits for that room before it
//! is handled, in arrival order, and an idle stream holds none of it): the next one is read
//! when an answer is out, so a client that sends without reading answers stops being read,
//! and what streams hold on the node is bounded however many a client opens (as the
//! node-wide limit bounds unary requests, which streams do not count against once they have
//! started). The stream ends once the client has ended its half, or the node is
//! stopping, and every message read has been answered: a stream a client keeps open does
//! not hold up the node's graceful shutdown. A client that goes away gets no more answers,
//! and what its messages started (a transaction already ordered) goes on. A message's
//! refusal is logged as a unary call's would be.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tonic::{Status, Streaming};
use weft_proto::v1::StreamError;

/// What the node's request streams share: the node-wide room for their messages in flight,
/// and the signal that the node is stopping.
#[derive(Debug)]
pub(crate) struct Streams {
    room: Arc<Semaphore>,
    stopping: watch::Sender<bool>,
}

impl Streams {
    /// Room for `max_in_flight` messages of all streams at once.
    pub(crate) fn new(max_in_flight: usize) -> Streams {
        Streams {
            room: Arc::new(Semaphore::new(max_in_flight.max(1))),
            stopping: watch::Sender::new(false),
        }
    }

    /// Every stream stops reading (the node is stopping).
    pub(crate) fn stop(&self) {
        self.stopping.send_replace(true);
    }
}

/// Where answers go: the response stream.
pub(crate) type Answers<A> = mpsc::Sender<Result<A, Status>>;

/// Reads `inbound` to its end (or until the client goes away, or the node stops), handing
/// each message and its position to `handle` and sending what it answers to `answers`, with
/// at most `in_flight` messages of this stream read and not yet answered (and room taken in
/// `streams` for each).
pub(crate) async fn answer_each<R, A, H, F>(
    mut inbound: Streaming<R>,
    answers: Answers<A>,
    streams: &Streams,
    in_flight: usize,
    handle: H,
) where
    R: Send + 'static,
    A: Send + 'static,
    H: Fn(u64, R) -> F,
    F: Future<Output = A> + Send + 'static,
{
    let room = Arc::new(Semaphore::new(in_flight));
    let mut stopping = streams.stopping.subscribe();
    for index in 0u64.. {
        // This stream's place first; the node-wide room only once a message came, so that a
        // stream left idle holds none of it.
        let place = tokio::select! {
            place = room.clone().acquire_owned() => place,
            () = answers.closed() => return,
            _ = stopping.wait_for(|stopping| *stopping) => return,
        };
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
        let node_wide = tokio::select! {
            room = streams.room.clone().acquire_owned() => room,
            () = answers.closed() => return,
            _ = stopping.wait_for(|stopping| *stopping) => return,
        };
        let (Ok(place), Ok(node_wide)) = (place, node_wide) else { return };
        let places: (OwnedSemaphorePermit, OwnedSemaphorePermit) = (place, node_wide);
        let answer = handle(index, request);
        let answers = answers.clone();
        tokio::spawn(async move {
            let answer = answer.await;
            // A client that went away gets no answer.
            let _ = answers.send(Ok(answer)).await;
            drop(places);
        });
    }
}

/// A refusal of one message of a stream of `method`, as the unary call would have failed
/// with it; logged as the edge layer logs a unary call's failure.
pub(crate) fn stream_error(method: &str, status: Status) -> StreamError {
    super::edge::log(method, &status);
    StreamError { code: status.code() as i32, message: status.message().to_string() }
}
