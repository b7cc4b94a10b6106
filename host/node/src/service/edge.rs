//! What every gRPC request meets before its service, and every answer after it: one tower
//! layer ([`EdgeLayer`]) in front of all services, which knows the request's method.
//!
//! * Request metadata larger than `grpc.max_header_list_bytes` is refused with
//!   `OUT_OF_RANGE` naming its size and the setting. (HTTP/2 itself is set to accept up to
//!   four times that, so that such requests reach this layer and get a gRPC status; beyond it,
//!   HTTP/2 answers `431 Request Header Fields Too Large` before any gRPC code runs, which
//!   gRPC clients report as `UNKNOWN` or `INTERNAL` with "431" in the message.)
//! * The request body's gRPC framing is checked as tonic reads it: no message at all, a body
//!   that ends inside a message, or a bad compressed flag is `INVALID_ARGUMENT` (tonic answers
//!   these with `INTERNAL`, which would say the node failed). A message that frames well but
//!   does not decode is refused by the codec ([`weft_proto::codec`]), also `INVALID_ARGUMENT`.
//!   Every Weft RPC takes exactly one request message.
//! * Every answer is logged with its method: `INTERNAL` at error level (the node failed),
//!   other failures at debug level, for unary answers and for the final status of streams.

use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use tonic::body::Body;
use tonic::{Code, Status};
use tower::{Layer, Service};

/// Factor by which HTTP/2's own header-list limit exceeds `grpc.max_header_list_bytes`, so
/// that oversized metadata is refused here with a gRPC status rather than by HTTP/2.
pub(crate) const HTTP2_HEADER_HEADROOM: u32 = 4;

/// The layer; see the [module](self).
#[derive(Debug, Clone, Copy)]
pub(crate) struct EdgeLayer {
    max_header_list_bytes: usize,
}

impl EdgeLayer {
    /// Refuses metadata over `max_header_list_bytes` (`grpc.max_header_list_bytes`).
    pub(crate) fn new(max_header_list_bytes: u32) -> EdgeLayer {
        EdgeLayer { max_header_list_bytes: max_header_list_bytes as usize }
    }
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge { inner, max_header_list_bytes: self.max_header_list_bytes }
    }
}

/// The service of [`EdgeLayer`].
#[derive(Debug, Clone)]
pub(crate) struct Edge<S> {
    inner: S,
    max_header_list_bytes: usize,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S> Service<http::Request<Body>> for Edge<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<http::Response<Body>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let method = request.uri().path().to_owned();
        let size = header_list_size(&request);
        if size > self.max_header_list_bytes {
            let status = Status::out_of_range(format!(
                "the request's metadata is {size} bytes, over the node's limit of {} \
                 (grpc.max_header_list_bytes)",
                self.max_header_list_bytes
            ));
            log(&method, &status);
            return Box::pin(std::future::ready(Ok(status.into_http())));
        }
        let compressed = request
            .headers()
            .get("grpc-encoding")
            .is_some_and(|encoding| encoding.as_bytes() != b"identity");
        let request = request.map(|body| Body::new(Framing::new(body, compressed)));
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?;
            if let Some(status) = Status::from_header_map(response.headers()) {
                log(&method, &status);
            }
            // A stream's final status (or a unary answer's, sent with a body) is in its
            // trailers: logged as they pass.
            Ok(response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    if let Some(status) = frame.trailers_ref().and_then(Status::from_header_map) {
                        log(&method, &status);
                    }
                    frame
                }))
            }))
        })
    }
}

/// The size HTTP/2 counts for the request's header list (RFC 9113 §6.5.2: name, value and
/// 32 bytes per field, the pseudo-header fields included).
fn header_list_size<B>(request: &http::Request<B>) -> usize {
    let field = |name: usize, value: usize| name + value + 32;
    let uri = request.uri();
    let pseudo = field(":method".len(), request.method().as_str().len())
        + field(":scheme".len(), uri.scheme_str().map_or(0, str::len))
        + field(":authority".len(), uri.authority().map_or(0, |a| a.as_str().len()))
        + field(":path".len(), uri.path_and_query().map_or(0, |p| p.as_str().len()));
    let headers: usize =
        request.headers().iter().map(|(name, value)| field(name.as_str().len(), value.len())).sum();
    pseudo + headers
}

/// Logs a failed answer of `method`: `INTERNAL` (and `UNKNOWN`, which no Weft code returns)
/// at error level, other failures at debug level. Also used for the refusal of one message
/// of a request stream ([`super::each::stream_error`]), which this layer does not see.
pub(crate) fn log(method: &str, status: &Status) {
    match status.code() {
        Code::Ok => {}
        Code::Internal | Code::Unknown => {
            tracing::error!(method, code = ?status.code(), message = status.message(), "request failed on the node")
        }
        code => tracing::debug!(method, ?code, message = status.message(), "request refused"),
    }
}

/// A request body whose gRPC framing is checked as it is read: 5-byte prefixes (a compressed
/// flag, a big-endian length) each followed by that many message bytes. A body that breaks
/// the framing ends in an `INVALID_ARGUMENT` error, which tonic answers with.
struct Framing {
    inner: Body,
    /// Whether the request declared a compression (a compressed flag is then allowed).
    compressed: bool,
    /// The prefix bytes of the next message read so far.
    prefix: Vec<u8>,
    /// Message bytes still to come of the current message, and its length.
    remaining: usize,
    length: usize,
    messages: usize,
    failed: bool,
}

impl Framing {
    fn new(inner: Body, compressed: bool) -> Framing {
        Framing {
            inner,
            compressed,
            prefix: Vec::with_capacity(5),
            remaining: 0,
            length: 0,
            messages: 0,
            failed: false,
        }
    }

    /// Follows the framing over `data`.
    fn check(&mut self, mut data: &[u8]) -> Result<(), Status> {
        while !data.is_empty() {
            if self.remaining > 0 {
                let taken = self.remaining.min(data.len());
                self.remaining -= taken;
                data = &data[taken..];
                continue;
            }
            let wanted = 5 - self.prefix.len();
            let taken = wanted.min(data.len());
            self.prefix.extend_from_slice(&data[..taken]);
            data = &data[taken..];
            if self.prefix.len() == 5 {
                match self.prefix[0] {
                    0 => {}
                    1 if self.compressed => {}
                    1 => {
                        return Err(Status::invalid_argument(
                            "the request's message is flagged compressed, but the request \
                             declares no grpc-encoding",
                        ));
                    }
                    flag => {
                        return Err(Status::invalid_argument(format!(
                            "the request's message has compressed flag {flag}; gRPC allows 0 \
                             and 1"
                        )));
                    }
                }
                let length = u32::from_be_bytes(self.prefix[1..].try_into().expect("4 bytes"));
                self.length = length as usize;
                self.remaining = self.length;
                self.messages += 1;
                self.prefix.clear();
            }
        }
        Ok(())
    }

    /// What the end of the body means for the framing.
    fn end(&self) -> Result<(), Status> {
        if self.remaining > 0 {
            return Err(Status::invalid_argument(format!(
                "the request body ends inside its message: {} of {} bytes came",
                self.length - self.remaining,
                self.length
            )));
        }
        if !self.prefix.is_empty() {
            return Err(Status::invalid_argument(format!(
                "the request body ends inside a message prefix ({} of 5 bytes)",
                self.prefix.len()
            )));
        }
        if self.messages == 0 {
            return Err(Status::invalid_argument(
                "the request body carries no message (a gRPC request sends exactly one)",
            ));
        }
        Ok(())
    }
}

impl HttpBody for Framing {
    type Data = bytes::Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<bytes::Bytes>, Status>>> {
        if self.failed {
            return Poll::Ready(None);
        }
        let polled = std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx));
        let checked = match polled {
            Some(Ok(frame)) => match frame.data_ref().map(|data| self.check(data)) {
                Some(Err(status)) => Err(status),
                _ => return Poll::Ready(Some(Ok(frame))),
            },
            Some(Err(error)) => return Poll::Ready(Some(Err(error))),
            None => self.end(),
        };
        match checked {
            Ok(()) => Poll::Ready(None),
            Err(status) => {
                self.failed = true;
                Poll::Ready(Some(Err(status)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        // Never claimed early: an empty body must still be polled to be refused.
        self.failed
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(flag: u8, message: &[u8]) -> Vec<u8> {
        let mut bytes = vec![flag];
        bytes.extend_from_slice(&(message.len() as u32).to_be_bytes());
        bytes.extend_from_slice(message);
        bytes
    }

    /// Feeds `chunks` to a checker; the first error, or the verdict at the end.
    fn verdict(chunks: &[&[u8]], compressed: bool) -> Result<(), Status> {
        let mut framing = Framing::new(Body::empty(), compressed);
        for chunk in chunks {
            framing.check(chunk)?;
        }
        framing.end()
    }

    #[test]
    fn well_framed_bodies_pass_in_any_chunking() {
        let body = framed(0, b"hello");
        for split in 0..=body.len() {
            let (a, b) = body.split_at(split);
            assert!(verdict(&[a, b], false).is_ok(), "split at {split}");
        }
        assert!(verdict(&[&framed(0, b"")], false).is_ok(), "an empty message is a message");
        assert!(verdict(&[&framed(1, b"zz")], true).is_ok());
    }

    #[test]
    fn broken_framing_is_an_invalid_argument_saying_what_broke() {
        let cases: [(Vec<Vec<u8>>, bool, &str); 5] = [
            (vec![], false, "carries no message"),
            (vec![framed(0, b"hello")[..7].to_vec()], false, "ends inside its message: 2 of 5"),
            (vec![vec![0, 0, 0]], false, "ends inside a message prefix (3 of 5 bytes)"),
            (vec![framed(1, b"x")], false, "declares no grpc-encoding"),
            (vec![framed(7, b"x")], true, "compressed flag 7"),
        ];
        for (chunks, compressed, expected) in cases {
            let chunks: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
            let status = verdict(&chunks, compressed).expect_err(expected);
            assert_eq!(status.code(), Code::InvalidArgument, "{expected}");
            assert!(status.message().contains(expected), "{}", status.message());
        }
    }

    /// The log lines written while `run` runs, at debug level and above.
    async fn logs_of<F: Future<Output = ()>>(run: F) -> String {
        #[derive(Clone, Default)]
        struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Lines {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        run.await;
        String::from_utf8(lines.0.lock().unwrap().clone()).unwrap()
    }

    /// A response body of nothing but `trailers`.
    struct Trailers(Option<http::HeaderMap>);

    impl HttpBody for Trailers {
        type Data = bytes::Bytes;
        type Error = Status;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<bytes::Bytes>, Status>>> {
            Poll::Ready(self.0.take().map(|trailers| Ok(Frame::trailers(trailers))))
        }
    }

    /// Calls an edge in front of a service answering `code` and `message` for `method`, in the
    /// response headers (a unary failure) or in the trailers (the end of a stream).
    async fn answer(code: Code, message: &'static str, in_trailers: bool, method: &str) {
        use http_body_util::BodyExt;
        let inner = tower::service_fn(move |_: http::Request<Body>| {
            let status = Status::new(code, message);
            let response = match in_trailers {
                false => status.into_http(),
                true => {
                    let mut trailers = http::HeaderMap::new();
                    status.add_header(&mut trailers).unwrap();
                    http::Response::new(Body::new(Trailers(Some(trailers))))
                }
            };
            std::future::ready(Ok::<_, std::convert::Infallible>(response))
        });
        let mut edge = EdgeLayer::new(16 << 10).layer(inner);
        let request = http::Request::builder()
            .uri(format!("http://node{method}"))
            .body(Body::empty())
            .unwrap();
        let response = edge.call(request).await.unwrap();
        response.into_body().collect().await.unwrap();
    }

    #[tokio::test]
    async fn every_internal_answer_is_logged_with_its_method() {
        let unary = "/weft.v1.LedgerQuery/GetBlock";
        let logs = logs_of(answer(Code::Internal, "storage failed: disk", false, unary)).await;
        assert!(logs.contains("ERROR"), "{logs}");
        assert!(logs.contains(&format!("method=\"{unary}\"")), "{logs}");
        assert!(logs.contains("storage failed: disk"), "{logs}");

        let stream = "/weft.v1.LedgerQuery/Blocks";
        let logs = logs_of(answer(Code::Internal, "block 3 is missing", true, stream)).await;
        assert!(logs.contains("ERROR") && logs.contains(stream), "{logs}");
        assert!(logs.contains("block 3 is missing"), "{logs}");

        let refused = "/weft.v1.Gateway/Evaluate";
        let logs = logs_of(answer(Code::NotFound, "contract", false, refused)).await;
        assert!(!logs.contains("ERROR") && logs.contains("DEBUG"), "{logs}");
        assert!(logs.contains(refused), "{logs}");
        let logs = logs_of(answer(Code::Ok, "", true, refused)).await;
        assert!(logs.is_empty(), "{logs}");

        // One message of a request stream refused: this layer sees only the stream, so the
        // stream's loop logs the refusal the same way.
        let stream = "/weft.v1.Gateway/SubmitStream";
        let logs = logs_of(async {
            let error = super::super::each::stream_error(stream, Status::internal("disk"));
            assert_eq!(error.code, Code::Internal as i32);
        })
        .await;
        assert!(logs.contains("ERROR") && logs.contains(stream), "{logs}");
        assert!(logs.contains("disk"), "{logs}");
    }

    #[test]
    fn the_header_list_counts_as_http2_does() {
        let request = http::Request::builder()
            .uri("http://node:7051/weft.v1.Admin/Health")
            .header("x-a", "12345")
            .body(())
            .unwrap();
        let pseudo = (7 + 4 + 32) + (7 + 4 + 32) + (10 + 9 + 32) + (5 + 20 + 32);
        assert_eq!(header_list_size(&request), pseudo + 3 + 5 + 32);
    }
}
