//! Connections to other organizations' peers: one lazily connected gRPC channel per peer
//! endpoint of the channel configuration (`Organization.peers`), kept for the node's life,
//! and one call of their `Endorser.ProcessProposal` with a deadline.
//!
//! A peer endpoint with a `tls_ca` is reached over TLS, trusting only that CA for the
//! address's host; one without, in plaintext. Over TLS a node that serves TLS itself
//! presents its own certificate (`[tls] cert` and `key`) as its client certificate, so a
//! peer that demands client certificates (`[tls] client_ca`) admits it when its CA signed
//! that certificate (and the certificate allows client authentication).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use weft_proto::v1::endorser_client::EndorserClient;
use weft_proto::v1::{PeerEndpoint, ProcessProposalRequest, ProposalResponse};
use weft_protocol::endpoints::check_address;
use weft_rwset::text::escape_text;

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
    channels: Mutex<HashMap<(String, Vec<u8>), Channel>>,
    timeout: Duration,
    max_message: usize,
    /// The certificate presented to peers reached over TLS: the node's own, if it serves TLS.
    identity: Option<Identity>,
}

impl RemotePeers {
    /// Connections whose every call (connecting included) must end within `timeout`,
    /// carrying messages of up to `max_message` bytes, presenting `identity` (a certificate
    /// chain and its key) to peers reached over TLS.
    pub(crate) fn new(
        timeout: Duration,
        max_message: usize,
        identity: Option<Identity>,
    ) -> RemotePeers {
        RemotePeers { channels: Mutex::new(HashMap::new()), timeout, max_message, identity }
    }

    /// The channel to `peer`, made on first use (it connects on its first call).
    fn channel(&self, peer: &PeerEndpoint) -> Result<Channel, Failure> {
        let key = (peer.address.clone(), peer.tls_ca.clone());
        if let Some(channel) = self.channels.lock().expect("peers lock").get(&key) {
            return Ok(channel.clone());
        }
        let channel = endpoint(peer, self.identity.as_ref())?
            .connect_timeout(self.timeout)
            .timeout(self.timeout)
            .connect_lazy();
        self.channels.lock().expect("peers lock").insert(key, channel.clone());
        Ok(channel)
    }

    /// Asks `peer` for its endorsement of `request`: its proposal response, or why none
    /// came, within the deadline.
    pub(crate) async fn process_proposal(
        &self,
        peer: &PeerEndpoint,
        request: ProcessProposalRequest,
    ) -> Result<ProposalResponse, Failure> {
        let channel = self.channel(peer)?;
        let mut client = EndorserClient::new(channel)
            .max_decoding_message_size(self.max_message)
            .max_encoding_message_size(self.max_message);
        let call = client.process_proposal(request);
        let answer = match tokio::time::timeout(self.timeout, call).await {
            Ok(answer) => answer,
            Err(_) => {
                return Err(Failure::Unreachable(format!(
                    "no answer within {}",
                    humantime::format_duration(self.timeout)
                )));
            }
        };
        answer.map(tonic::Response::into_inner).map_err(|status| failure_of(&status))
    }
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
fn failure_of(status: &tonic::Status) -> Failure {
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

    #[test]
    fn what_another_peer_says_is_escaped_and_bounded() {
        let forged = format!("refused\nINFO forged log line\u{202e}{}", "x".repeat(10_000));
        let said = peer_said(&tonic::Status::failed_precondition(forged));
        assert!(said.starts_with("FailedPrecondition: refused"), "{said}");
        assert!(!said.contains('\n') && !said.contains('\u{202e}'), "{said}");
        assert!(said.len() <= MAX_REASON_BYTES + "FailedPrecondition: ".len(), "{}", said.len());
    }
}
