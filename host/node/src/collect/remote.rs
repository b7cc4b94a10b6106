//! Connections to other organizations' peers: one lazily connected gRPC channel per peer
//! endpoint of the channel configuration (`Organization.peers`), kept for the node's life,
//! and on it one `Endorser.ProcessProposals` stream that carries every proposal asked of
//! that peer ([`super::stream`]), each answer awaited within a deadline.
//!
//! The stream is opened by the first proposal that finds none open; proposals that come
//! while it is being opened, and every proposal to a peer that does not serve the stream
//! (`UNIMPLEMENTED`), are asked with a unary `Endorser.ProcessProposal` instead, so no
//! proposal waits for a stream to open. The answers are the same either way.
//!
//! A peer endpoint with a `tls_ca` is reached over TLS, trusting only that CA for the
//! address's host; one without, in plaintext. Over TLS a node that serves TLS itself
//! presents its own certificate (`[tls] cert` and `key`) as its client certificate, so a
//! peer that demands client certificates (`[tls] client_ca`) admits it when its CA signed
//! that certificate (and the certificate allows client authentication).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use weft_proto::v1::endorser_client::EndorserClient;
use weft_proto::v1::{PeerEndpoint, ProcessProposalRequest, ProposalResponse};
use weft_protocol::endpoints::check_address;
use weft_rwset::text::escape_text;

use super::stream::ProposalStream;

/// The longest part of a peer's refusal quoted in the gateway's own refusal, in bytes.
const MAX_REASON_BYTES: usize = 200;

/// Why a peer gave no endorsement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// No answer: no connection, a broken one, or none within the deadline.
    Unreachable(String),
    /// The peer answered with a refusal (its status code and message), or with an
    /// endorsement that does not hold.
    Refused(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Unreachable(why) => write!(f, "unreachable ({why})"),
            Failure::Refused(why) => write!(f, "refused: {why}"),
        }
    }
}

/// The node's connections to other peers, by endpoint.
#[derive(Debug)]
pub(crate) struct RemotePeers {
    links: Mutex<HashMap<LinkKey, Arc<Link>>>,
    timeout: Duration,
    max_message: usize,
    /// The certificate presented to peers reached over TLS: the node's own, if it serves TLS.
    identity: Option<Identity>,
    /// How long a peer that serves no endorsement stream is asked one call per proposal
    /// before the stream is tried again (it may have been upgraded meanwhile).
    stream_retry: Duration,
    /// Proposals at most waiting to be sent on one stream ([`super::stream`]).
    max_queued: usize,
}

/// A peer endpoint: its address and the CA it is trusted through.
type LinkKey = (String, Vec<u8>);

/// One peer endpoint: its channel and the proposal stream on it.
#[derive(Debug)]
struct Link {
    channel: Channel,
    stream: Mutex<Streaming>,
}

/// Where a link's proposal stream is.
#[derive(Debug)]
enum Streaming {
    /// None open (none yet, or the last one ended).
    Closed,
    /// A proposal is opening one.
    Opening,
    Open(Arc<ProposalStream>),
    /// The peer did not serve `ProcessProposals` when asked at this instant.
    Unsupported(Instant),
}

/// How long a peer that serves no endorsement stream gets unary calls before the stream is
/// tried again.
const STREAM_RETRY: Duration = Duration::from_secs(60);

impl RemotePeers {
    /// Connections whose every call (connecting included) must end within `timeout`,
    /// carrying messages of up to `max_message` bytes, presenting `identity` (a certificate
    /// chain and its key) to peers reached over TLS, with at most `max_queued` proposals
    /// waiting to be sent on a peer's stream (the node's `grpc.max_concurrent_requests`).
    pub(crate) fn new(
        timeout: Duration,
        max_message: usize,
        identity: Option<Identity>,
        max_queued: usize,
    ) -> RemotePeers {
        RemotePeers {
            links: Mutex::new(HashMap::new()),
            timeout,
            max_message,
            identity,
            stream_retry: STREAM_RETRY,
            max_queued,
        }
    }

    /// The link to `peer`, made on first use (its channel connects on its first call).
    fn link(&self, peer: &PeerEndpoint) -> Result<Arc<Link>, Failure> {
        let key = (peer.address.clone(), peer.tls_ca.clone());
        if let Some(link) = self.links.lock().expect("peers lock").get(&key) {
            return Ok(link.clone());
        }
        let channel = endpoint(peer, self.identity.as_ref())?
            .connect_timeout(self.timeout)
            .timeout(self.timeout)
            .connect_lazy();
        let link = Arc::new(Link { channel, stream: Mutex::new(Streaming::Closed) });
        Ok(self.links.lock().expect("peers lock").entry(key).or_insert(link).clone())
    }

    /// Asks `peer` for its endorsement of `request`: its proposal response, or why none
    /// came, within the deadline.
    pub(crate) async fn process_proposal(
        &self,
        peer: &PeerEndpoint,
        request: ProcessProposalRequest,
    ) -> Result<ProposalResponse, Failure> {
        let link = self.link(peer)?;
        match self.stream(&link).await? {
            Some(stream) => stream.ask(request, self.timeout).await,
            None => self.unary(&link, request).await,
        }
    }

    /// The link's open stream, opening one if none is and no other proposal is opening
    /// one. `None`: ask with a unary call (a stream is being opened, or the peer serves
    /// none). A stream that cannot be opened is the peer's failure, as a call's would be.
    async fn stream(&self, link: &Arc<Link>) -> Result<Option<Arc<ProposalStream>>, Failure> {
        {
            let mut state = link.stream.lock().expect("stream state lock");
            match &*state {
                Streaming::Open(stream) if stream.is_open() => return Ok(Some(stream.clone())),
                Streaming::Opening => return Ok(None),
                Streaming::Unsupported(since) if since.elapsed() < self.stream_retry => {
                    return Ok(None);
                }
                Streaming::Open(_) | Streaming::Closed | Streaming::Unsupported(_) => {
                    *state = Streaming::Opening
                }
            }
        }
        // In a task of its own, so that a caller that goes away midway cannot leave the
        // link `Opening` for ever.
        let (opening, timeout) = (link.clone(), self.timeout);
        let open = ProposalStream::open(link.channel.clone(), self.max_message, self.max_queued);
        let opened = tokio::spawn(async move {
            let opened = tokio::time::timeout(timeout, open).await;
            let (state, outcome) = Self::opened(opened, timeout);
            *opening.stream.lock().expect("stream state lock") = state;
            outcome
        });
        opened.await.unwrap_or_else(|_| {
            Err(Failure::Unreachable("opening the endorsement stream failed".into()))
        })
    }

    /// The link's state and the caller's outcome after an attempt to open a stream.
    fn opened(
        opened: Result<Result<ProposalStream, tonic::Status>, tokio::time::error::Elapsed>,
        timeout: Duration,
    ) -> (Streaming, Result<Option<Arc<ProposalStream>>, Failure>) {
        match opened {
            Ok(Ok(stream)) => {
                let stream = Arc::new(stream);
                (Streaming::Open(stream.clone()), Ok(Some(stream)))
            }
            Ok(Err(status)) if status.code() == tonic::Code::Unimplemented => {
                tracing::info!(status = %peer_said(&status), "a peer serves no endorsement stream: one call per proposal for a minute, then the stream is tried again");
                (Streaming::Unsupported(Instant::now()), Ok(None))
            }
            Ok(Err(status)) => (Streaming::Closed, Err(failure_of(&status))),
            Err(_) => (Streaming::Closed, Err(no_answer_within(timeout))),
        }
    }

    /// One unary `ProcessProposal` call.
    async fn unary(
        &self,
        link: &Link,
        request: ProcessProposalRequest,
    ) -> Result<ProposalResponse, Failure> {
        let mut client = EndorserClient::new(link.channel.clone())
            .max_decoding_message_size(self.max_message)
            .max_encoding_message_size(self.max_message);
        let call = client.process_proposal(request);
        let answer = match tokio::time::timeout(self.timeout, call).await {
            Ok(answer) => answer,
            Err(_) => return Err(no_answer_within(self.timeout)),
        };
        answer.map(tonic::Response::into_inner).map_err(|status| failure_of(&status))
    }
}

/// No answer came within `timeout`.
pub(super) fn no_answer_within(timeout: Duration) -> Failure {
    Failure::Unreachable(format!("no answer within {}", humantime::format_duration(timeout)))
}

/// How this node reaches `peer`, an endpoint of the channel configuration: over TLS trusting
/// only its `tls_ca` for the address's host and presenting `identity` (the node's own
/// certificate, if it serves TLS), or in plaintext if it lists no CA. The one place a node
/// makes a connection to another node (endorsements, and blocks for a node that is behind:
/// `crate::peer_blocks`).
pub(crate) fn endpoint(
    peer: &PeerEndpoint,
    identity: Option<&Identity>,
) -> Result<Endpoint, Failure> {
    // The channel configuration was checked: the address is well-formed.
    let address = check_address(&peer.address).map_err(|e| Failure::Refused(e.to_string()))?;
    let scheme = if peer.tls_ca.is_empty() { "http" } else { "https" };
    let mut endpoint = Endpoint::from_shared(format!("{scheme}://{}", peer.address))
        .map_err(|e| Failure::Unreachable(format!("bad endpoint: {e}")))?
        .tcp_nodelay(true);
    if !peer.tls_ca.is_empty() {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&peer.tls_ca))
            .domain_name(address.host);
        if let Some(identity) = identity {
            tls = tls.identity(identity.clone());
        }
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|e| Failure::Unreachable(format!("TLS configuration: {e}")))?;
    }
    Ok(endpoint)
}

/// A failed call as the gateway reports it: a status the client side made (no connection,
/// a broken one, a deadline: tonic keeps the cause as its source) is unreachable; a status
/// the peer sent is its refusal, with its code and message.
pub(super) fn failure_of(status: &tonic::Status) -> Failure {
    match std::error::Error::source(status) {
        Some(_) => Failure::Unreachable(peer_said(status)),
        None => Failure::Refused(peer_said(status)),
    }
}

/// A failed call to another peer as text safe to log and to quote to a client (another
/// organization's peer chooses its messages): control characters escaped, at most
/// `MAX_REASON_BYTES`. A status the client side made is its causes on one line; one the peer
/// sent is its code and message.
pub(crate) fn peer_said(status: &tonic::Status) -> String {
    if std::error::Error::source(status).is_some() {
        return causes(status);
    }
    let message = escape_text(status.message().as_bytes(), MAX_REASON_BYTES);
    format!("{:?}: {message}", status.code())
}

/// A transport failure and its causes on one line, bounded.
fn causes(status: &tonic::Status) -> String {
    let mut text = status.message().to_string();
    let mut cause = std::error::Error::source(status);
    while let Some(e) = cause {
        let next = e.to_string();
        if !text.contains(&next) {
            text = format!("{text}: {next}");
        }
        cause = e.source();
    }
    escape_text(text.as_bytes(), MAX_REASON_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use tonic::{Request, Response, Status};
    use weft_proto::v1::endorser_server::{Endorser, EndorserServer};
    use weft_proto::v1::process_proposals_response::Outcome;
    use weft_proto::v1::{ProcessProposalsResponse, SignedProposal, StreamError};

    /// A peer that answers a proposal with its bytes as the payload, refuses one whose
    /// bytes are `refuse`, answers a stream's proposals in reverse order of arrival in
    /// pairs, and ends a stream after `stream_answers` answers.
    #[derive(Clone, Default)]
    struct Peer {
        calls: Arc<AtomicUsize>,
        streams: Arc<AtomicUsize>,
        /// Stream requests refused as unimplemented.
        refused_streams: Arc<AtomicUsize>,
        serves_streams: Arc<AtomicBool>,
        /// Opens streams but never reads them (nor answers).
        stalls: bool,
        stream_answers: usize,
    }

    impl Peer {
        fn serving_streams() -> Peer {
            Peer { serves_streams: Arc::new(AtomicBool::new(true)), ..Peer::default() }
        }
    }

    fn answer(request: &ProcessProposalRequest) -> Result<ProposalResponse, Status> {
        let bytes = request.proposal.clone().unwrap_or_default().proposal;
        if bytes == b"refuse" {
            return Err(Status::permission_denied("not this one"));
        }
        Ok(ProposalResponse { payload: bytes, endorsement: None })
    }

    #[tonic::async_trait]
    impl Endorser for Peer {
        async fn process_proposal(
            &self,
            request: Request<ProcessProposalRequest>,
        ) -> Result<Response<ProposalResponse>, Status> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            answer(request.get_ref()).map(Response::new)
        }

        type ProcessProposalsStream = crate::deliver::Stream<ProcessProposalsResponse>;

        async fn process_proposals(
            &self,
            request: Request<tonic::Streaming<ProcessProposalRequest>>,
        ) -> Result<Response<Self::ProcessProposalsStream>, Status> {
            if !self.serves_streams.load(Ordering::SeqCst) {
                self.refused_streams.fetch_add(1, Ordering::SeqCst);
                return Err(Status::unimplemented("no stream"));
            }
            self.streams.fetch_add(1, Ordering::SeqCst);
            let (answers, stream) = tokio::sync::mpsc::channel(64);
            let mut inbound = request.into_inner();
            if self.stalls {
                tokio::spawn(async move {
                    let _held = (inbound, answers);
                    std::future::pending::<()>().await
                });
                return Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(stream)));
            }
            let limit = self.stream_answers;
            tokio::spawn(async move {
                let mut held: Option<(u64, ProcessProposalRequest)> = None;
                let (mut index, mut sent) = (0, 0);
                loop {
                    let next = match held {
                        None => inbound.message().await,
                        // A second proposal soon, or the one held is answered alone.
                        Some(_) => {
                            tokio::time::timeout(Duration::from_millis(20), inbound.message())
                                .await
                                .unwrap_or(Ok(None))
                        }
                    };
                    let pair = match (next, held.take()) {
                        (Ok(Some(request)), None) => {
                            held = Some((index, request));
                            index += 1;
                            continue;
                        }
                        (Ok(Some(request)), Some(earlier)) => {
                            index += 1;
                            vec![(index - 1, request), earlier]
                        }
                        (_, Some(earlier)) => vec![earlier],
                        (_, None) => return,
                    };
                    for (index, request) in pair {
                        let outcome = match answer(&request) {
                            Ok(response) => Outcome::Response(response),
                            Err(status) => Outcome::Error(StreamError {
                                code: status.code() as i32,
                                message: status.message().into(),
                            }),
                        };
                        let answer = ProcessProposalsResponse { index, outcome: Some(outcome) };
                        let _ = answers.send(Ok(answer)).await;
                        sent += 1;
                        if sent == limit {
                            return;
                        }
                    }
                }
            });
            Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(stream)))
        }
    }

    async fn serve(peer: Peer) -> PeerEndpoint {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(EndorserServer::new(peer))
                .serve_with_incoming(incoming),
        );
        PeerEndpoint { address, tls_ca: Vec::new() }
    }

    fn proposal(bytes: &[u8]) -> ProcessProposalRequest {
        let proposal = SignedProposal { proposal: bytes.to_vec(), ..Default::default() };
        ProcessProposalRequest { proposal: Some(proposal), msp_id: "Org2".into() }
    }

    fn remote() -> RemotePeers {
        RemotePeers::new(Duration::from_secs(10), 1 << 20, None, 4096)
    }

    #[tokio::test]
    async fn proposals_share_one_stream_and_each_gets_its_own_answer() {
        let peer = Peer { stream_answers: usize::MAX, ..Peer::serving_streams() };
        let at = serve(peer.clone()).await;
        let remote = Arc::new(remote());
        // The first opens the stream; while it does, others are asked one call each.
        assert_eq!(
            remote.process_proposal(&at, proposal(b"first")).await.unwrap().payload,
            b"first"
        );
        let asks = (0..40).map(|n| {
            let (remote, at) = (remote.clone(), at.clone());
            tokio::spawn(async move {
                let bytes =
                    if n % 7 == 3 { b"refuse".to_vec() } else { format!("p{n}").into_bytes() };
                (bytes.clone(), remote.process_proposal(&at, proposal(&bytes)).await)
            })
        });
        for ask in asks.collect::<Vec<_>>() {
            let (bytes, answer) = ask.await.unwrap();
            match answer {
                Ok(response) => assert_eq!(response.payload, bytes),
                Err(failure) => {
                    assert_eq!(bytes, b"refuse");
                    assert_eq!(failure, Failure::Refused("PermissionDenied: not this one".into()));
                }
            }
        }
        assert_eq!(peer.streams.load(Ordering::SeqCst), 1);
        assert_eq!(peer.calls.load(Ordering::SeqCst), 0, "the first opened it before the rest");
    }

    #[tokio::test]
    async fn a_stream_the_peer_ends_fails_its_waiting_callers_and_the_next_opens_another() {
        // The peer ends each stream after 4 answers.
        let peer = Peer { stream_answers: 4, ..Peer::serving_streams() };
        let at = serve(peer.clone()).await;
        let remote = Arc::new(remote());
        let mut answered = 0;
        for n in 0..12 {
            let asks: Vec<_> = (0..2)
                .map(|k| {
                    let (remote, at) = (remote.clone(), at.clone());
                    tokio::spawn(async move {
                        let bytes = format!("{n}-{k}").into_bytes();
                        (bytes.clone(), remote.process_proposal(&at, proposal(&bytes)).await)
                    })
                })
                .collect();
            for ask in asks {
                match ask.await.unwrap() {
                    (bytes, Ok(response)) => {
                        assert_eq!(response.payload, bytes);
                        answered += 1;
                    }
                    // Sent on a stream the peer had just ended.
                    (_, Err(Failure::Unreachable(why))) => assert!(why.contains("ended"), "{why}"),
                    (_, Err(other)) => panic!("{other}"),
                }
            }
        }
        assert!(answered >= 12, "{answered} of 24 answered");
        assert!(peer.streams.load(Ordering::SeqCst) >= 3, "a new stream after each end");
    }

    #[tokio::test]
    async fn a_peer_without_the_stream_is_asked_one_call_each() {
        let peer = Peer::default();
        let at = serve(peer.clone()).await;
        let remote = remote();
        for n in 0..5 {
            let bytes = format!("p{n}").into_bytes();
            assert_eq!(
                remote.process_proposal(&at, proposal(&bytes)).await.unwrap().payload,
                bytes
            );
        }
        assert_eq!(peer.calls.load(Ordering::SeqCst), 5);
        assert_eq!(peer.refused_streams.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_peer_that_stops_reading_its_stream_is_given_at_most_the_queue() {
        let peer = Peer { stalls: true, ..Peer::serving_streams() };
        let at = serve(peer.clone()).await;
        let remote = Arc::new(RemotePeers {
            timeout: Duration::from_millis(300),
            max_queued: 4,
            ..remote()
        });
        // The first opens the stream (and gets no answer).
        let first = remote.process_proposal(&at, proposal(b"first")).await;
        assert!(matches!(first, Err(Failure::Unreachable(_))), "{first:?}");
        // Proposals of 64 KiB: HTTP/2's window (1 MiB at the peer) fills, then the queue;
        // the proposal that finds it full ends the stream at once.
        let asks = (0..40).map(|n| {
            let (remote, at) = (remote.clone(), at.clone());
            let bytes = vec![n as u8; 64 << 10];
            tokio::spawn(async move { remote.process_proposal(&at, proposal(&bytes)).await })
        });
        let mut not_reading = 0;
        for ask in asks.collect::<Vec<_>>() {
            match ask.await.unwrap() {
                Err(Failure::Unreachable(why)) if why.contains("not reading") => not_reading += 1,
                Err(Failure::Unreachable(_)) => {}
                // Asked with a unary call while another stream was being opened.
                Ok(_) => {}
                Err(refused) => panic!("{refused:?}"),
            }
        }
        assert!(not_reading > 0, "the queue never filled");
        // The stream that filled was ended; a later proposal opened another.
        let again = remote.process_proposal(&at, proposal(b"again")).await;
        assert!(matches!(again, Err(Failure::Unreachable(_))), "{again:?}");
        assert!(peer.streams.load(Ordering::SeqCst) >= 2);
    }

    #[tokio::test]
    async fn a_peer_that_later_serves_the_stream_gets_it_after_the_retry_period() {
        let peer = Peer::default();
        let at = serve(peer.clone()).await;
        let remote = RemotePeers { stream_retry: Duration::from_millis(300), ..remote() };
        let ask = |n: usize| {
            let bytes = format!("p{n}").into_bytes();
            let (remote, at) = (&remote, &at);
            async move {
                assert_eq!(
                    remote.process_proposal(at, proposal(&bytes)).await.unwrap().payload,
                    bytes
                )
            }
        };
        ask(0).await;
        ask(1).await;
        assert_eq!(peer.refused_streams.load(Ordering::SeqCst), 1, "asked again too soon");
        // The peer is upgraded; after the retry period the next proposal opens a stream.
        peer.serves_streams.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(400)).await;
        ask(2).await;
        ask(3).await;
        assert_eq!(peer.streams.load(Ordering::SeqCst), 1);
        assert_eq!(peer.calls.load(Ordering::SeqCst), 2, "only the first two were unary calls");
    }

    #[test]
    fn what_another_peer_says_is_escaped_and_bounded() {
        let forged = format!("refused\nINFO forged log line\u{202e}{}", "x".repeat(10_000));
        let said = peer_said(&tonic::Status::failed_precondition(forged));
        assert!(said.starts_with("FailedPrecondition: refused"), "{said}");
        assert!(!said.contains('\n') && !said.contains('\u{202e}'), "{said}");
        assert!(said.len() <= MAX_REASON_BYTES + "FailedPrecondition: ".len(), "{}", said.len());
    }
}
