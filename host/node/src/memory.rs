//! An in-memory transport for the node's gRPC server (tonic's duplex pattern): every
//! connection is a [`tokio::io::duplex`] pipe instead of a socket, through the same server,
//! layers and services as TCP. Tests use it to exercise the services without ports; an
//! application embedding a node can use it the same way.
//!
//! [`pair`] makes the two ends: the stream of connections the server accepts, and the
//! [`MemoryConnector`] clients dial with ([`MemoryConnector::channel`]). Each dial opens a
//! fresh pipe.

use std::io;

use hyper_util::rt::TokioIo;
use tokio::io::DuplexStream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::transport::{Channel, Endpoint, Uri};

/// Bytes buffered in each direction of one in-memory connection.
const PIPE_BYTES: usize = 1 << 20;

/// The two ends of an in-memory transport: what clients dial, and the stream of
/// connections the server accepts (it ends once every [`MemoryConnector`] is dropped).
pub fn pair() -> (MemoryConnector, impl Stream<Item = io::Result<DuplexStream>>) {
    let (dial, accept) = mpsc::unbounded_channel();
    (MemoryConnector { dial }, UnboundedReceiverStream::new(accept).map(Ok))
}

/// The clients' end: dials the node over a fresh in-memory pipe.
#[derive(Clone, Debug)]
pub struct MemoryConnector {
    dial: mpsc::UnboundedSender<DuplexStream>,
}

impl MemoryConnector {
    /// A gRPC channel to the node, as [`Channel`] over TCP would be (the URI is a
    /// placeholder: nothing is resolved). Fails if the node's server has stopped.
    pub async fn channel(&self) -> Result<Channel, tonic::transport::Error> {
        let dial = self.dial.clone();
        Endpoint::from_static("http://in-memory.weft")
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let (client, server) = tokio::io::duplex(PIPE_BYTES);
                let sent = dial.send(server).map_err(|_| {
                    io::Error::new(io::ErrorKind::ConnectionRefused, "the node's server stopped")
                });
                async move { sent.map(|()| TokioIo::new(client)) }
            }))
            .await
    }
}
