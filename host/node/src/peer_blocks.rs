//! [`PeerBlocks`] over gRPC: the blocks the channel's other nodes serve through their
//! `LedgerQuery.Blocks` stream, at the endpoints the channel configuration lists
//! (`Organization.peers`), for a node further behind than its orderer keeps blocks (etcd's
//! window). The orderer verifies every block it gets this way before delivering it
//! (`weft_orderer::etcd`), so this side only fetches.

use futures_util::StreamExt;
use tonic::transport::Identity;
use weft_orderer::{PeerBlockStream, PeerBlocks};
use weft_proto::v1::ledger_query_client::LedgerQueryClient;
use weft_proto::v1::{BlocksRequest, PeerEndpoint, blocks_response};

use crate::collect;

/// The other nodes of one channel.
#[derive(Debug)]
pub(crate) struct GrpcPeerBlocks {
    channel: String,
    peers: Vec<PeerEndpoint>,
    identity: Option<Identity>,
    max_message_bytes: usize,
}

impl GrpcPeerBlocks {
    /// The nodes at `peers`, serving `channel`, reached presenting `identity` over TLS;
    /// blocks up to `max_message_bytes` each.
    pub(crate) fn new(
        channel: String,
        peers: Vec<PeerEndpoint>,
        identity: Option<Identity>,
        max_message_bytes: usize,
    ) -> GrpcPeerBlocks {
        GrpcPeerBlocks { channel, peers, identity, max_message_bytes }
    }
}

impl PeerBlocks for GrpcPeerBlocks {
    fn len(&self) -> usize {
        self.peers.len()
    }

    fn blocks(&self, peer: usize, from: u64) -> PeerBlockStream {
        let peer = &self.peers[peer % self.peers.len()];
        let address = peer.address.clone();
        let request =
            BlocksRequest { start_block: from, filtered: false, channel: self.channel.clone() };
        let endpoint = collect::endpoint(peer, self.identity.as_ref());
        let limit = self.max_message_bytes;
        let opened = async move {
            // What another node sends is quoted escaped and bounded (`collect::peer_said`).
            let failed = |e: &dyn std::fmt::Display| format!("{address}: {e}");
            let channel =
                endpoint.map_err(|e| failed(&e))?.connect().await.map_err(|e| failed(&e))?;
            let mut client = LedgerQueryClient::new(channel).max_decoding_message_size(limit);
            let stream = match client.blocks(request).await {
                Ok(stream) => stream.into_inner(),
                Err(status) => return Err(failed(&collect::peer_said(&status))),
            };
            Ok::<_, String>(stream.map(move |item| match item {
                Ok(response) => match response.kind {
                    Some(blocks_response::Kind::Block(block)) => Ok(block),
                    _ => Err(format!("{address}: the answer is not a block")),
                },
                Err(status) => Err(format!("{address}: {}", collect::peer_said(&status))),
            }))
        };
        Box::pin(
            futures_util::stream::once(opened)
                .map(|opened| match opened {
                    Ok(blocks) => blocks.boxed(),
                    Err(e) => futures_util::stream::iter([Err(e)]).boxed(),
                })
                .flatten(),
        )
    }
}
