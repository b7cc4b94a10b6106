//! # weft-client: sign as one identity, talk to a node over gRPC
//!
//! What the `weft` CLI, the end-to-end tests and the benchmarks use to reach a node.
//! Proposals and transactions are signed here, never by the node: a [`Client`] holds a
//! signing identity (`weft_protocol::identity::SigningIdentity`) and the node's three
//! services (Gateway, Admin, LedgerQuery). It depends on the messages (`weft-proto`) and the
//! protocol (`weft-protocol`) only, not on the node or the ledger, so an application links
//! no storage and no contract runtime.
//!
//! * [`Client::connect`] / [`Client::connect_tls`] ([`TlsOptions`], mutual TLS too) learn
//!   the channel's name from the node (a node with several channels has none by default:
//!   choose one with [`Client::on_channel`]).
//! * [`Client::evaluate`] runs a query; [`Client::submit`] endorses, signs the transaction,
//!   submits it and waits for its commit ([`Submitted`]); [`Client::endorse`],
//!   [`Client::submit_and_wait`] and [`Client::commit_status`] are its steps, for a caller
//!   that resubmits the same envelope after an unknown outcome; [`Client::submit_stream`]
//!   submits many endorsed transactions over one stream.
//! * [`Client::deploy`] installs code and defines (or upgrades) a contract through the
//!   `_lifecycle` contract, then runs its init if asked ([`Deploy`], [`Deployed`]).
//! * [`Client::join_channel`] joins the node to a channel (an admin of one of its
//!   organizations signs); [`Client::list_channels`] lists the node's channels.
//! * [`Client::verify_chain`] re-checks the chain's hashes client-side;
//!   [`contract_response`] reads a contract's own error response from a refusal.
//!
//! ```no_run
//! # async fn run() -> Result<(), tonic::Status> {
//! use weft_protocol::identity::SigningIdentity;
//! let me = SigningIdentity::from_seed("Org1", "client");
//! let client = weft_client::Client::connect("http://127.0.0.1:7051", me).await?;
//! let done = client.submit("kv", "put", vec![b"k".to_vec(), b"v".to_vec()]).await?;
//! println!("{} committed as {:?}", done.tx_id, done.status.code());
//! # Ok(())
//! # }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

use prost::Message;
use tonic::Status;
use tonic::transport::{Channel, Endpoint};
use weft_proto::v1::admin_client::AdminClient;
use weft_proto::v1::gateway_client::GatewayClient;
use weft_proto::v1::ledger_query_client::LedgerQueryClient;
use weft_proto::v1::{
    ChannelHeight, CommitStatusRequest, CommitStatusResponse, ContractDefinition, EndorseRequest,
    EndorsementPolicy, Envelope, EvaluateRequest, HealthRequest, InstallRequest,
    JoinChannelRequest, JoinChannelResponse, ListChannelsRequest, Response, SignedProposal,
    SubmitRequest, SubmitStreamResponse, Timestamp, TxValidationCode,
};
use weft_protocol::channel::LIFECYCLE;
use weft_protocol::identity::SigningIdentity;
use weft_protocol::lifecycle::{DEPLOY, UPGRADE, install_message, join_message};
use weft_protocol::names;
use weft_protocol::transaction::{self, ProposalSpec};

/// Largest message the client accepts (blocks can be large).
const MAX_MESSAGE: usize = 64 << 20;

/// A connection to a node, signing as `identity`.
#[derive(Debug, Clone)]
pub struct Client {
    /// The Gateway service.
    pub gateway: GatewayClient<Channel>,
    /// The Admin service.
    pub admin: AdminClient<Channel>,
    /// The LedgerQuery service.
    pub ledger: LedgerQueryClient<Channel>,
    identity: SigningIdentity,
    channel: String,
}

/// How [`Client::connect_tls`] secures its connection.
#[derive(Clone)]
pub struct TlsOptions {
    /// The CA certificate(s) (PEM) the node's certificate must chain to.
    pub ca_pem: Vec<u8>,
    /// The name the node's certificate must carry.
    pub domain: String,
    client_identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl TlsOptions {
    /// Trust `ca_pem` for a node named `domain`; present no client certificate.
    pub fn new(ca_pem: Vec<u8>, domain: &str) -> TlsOptions {
        TlsOptions { ca_pem, domain: domain.to_string(), client_identity: None }
    }

    /// Present the client certificate chain `cert_pem` with its private key `key_pem`.
    pub fn with_client_identity(self, cert_pem: Vec<u8>, key_pem: Vec<u8>) -> TlsOptions {
        TlsOptions { client_identity: Some((cert_pem, key_pem)), ..self }
    }

    /// The client certificate chain and key (PEM), if one is presented.
    pub fn client_identity(&self) -> Option<(&[u8], &[u8])> {
        self.client_identity.as_ref().map(|(cert, key)| (cert.as_slice(), key.as_slice()))
    }
}

/// The private key stays out of logs.
impl std::fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsOptions")
            .field("domain", &self.domain)
            .field("client_certificate", &self.client_identity.is_some())
            .finish_non_exhaustive()
    }
}

/// An error and its causes on one line: transport errors keep the TLS reason (e.g. "peer
/// sent no certificates", "unknown issuer") in their sources.
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let next = e.to_string();
        if !text.contains(&next) {
            text = format!("{text}: {next}");
        }
        cause = e.source();
    }
    text
}

/// The result of a submitted transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Submitted {
    /// The transaction id.
    pub tx_id: String,
    /// The contract's response at endorsement.
    pub response: Response,
    /// How it committed.
    pub status: CommitStatusResponse,
}

/// An endorsed transaction, signed and ready to submit ([`Client::endorse`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Endorsed {
    /// The transaction id.
    pub tx_id: String,
    /// The contract's response at endorsement.
    pub response: Response,
    /// The signed transaction.
    pub envelope: Envelope,
}

impl Client {
    /// Connects to `endpoint` (`http://host:port`) and learns the channel's name.
    pub async fn connect(endpoint: &str, identity: SigningIdentity) -> Result<Client, Status> {
        let endpoint = Endpoint::from_shared(endpoint.to_string())
            .map_err(|e| Status::invalid_argument(format!("bad endpoint {endpoint:?}: {e}")))?;
        let channel = endpoint.connect().await.map_err(|e| {
            Status::unavailable(format!("cannot connect to {}: {e}", endpoint.uri()))
        })?;
        Client::over(channel, identity).await
    }

    /// Connects over TLS to `endpoint` (`https://host:port`) as `tls` says: which CA and
    /// name the node's certificate must have, and the client certificate to present to a
    /// node that demands one (mutual TLS).
    pub async fn connect_tls(
        endpoint: &str,
        tls: &TlsOptions,
        identity: SigningIdentity,
    ) -> Result<Client, Status> {
        use tonic::transport::{Certificate, ClientTlsConfig, Identity};
        let mut config = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&tls.ca_pem))
            .domain_name(tls.domain.clone());
        if let Some((cert, key)) = tls.client_identity() {
            config = config.identity(Identity::from_pem(cert, key));
        }
        let endpoint = Endpoint::from_shared(endpoint.to_string())
            .and_then(|e| e.tls_config(config))
            .map_err(|e| Status::invalid_argument(format!("bad TLS endpoint {endpoint:?}: {e}")))?;
        let uri = endpoint.uri().clone();
        let presented = match tls.client_identity() {
            Some(_) => "with a client certificate",
            None => "without a client certificate",
        };
        let channel = endpoint.connect().await.map_err(|e| {
            Status::unavailable(format!(
                "cannot connect to {uri} over TLS ({presented}): {}",
                causes(&e)
            ))
        })?;
        // With TLS 1.3 the node checks a client certificate after the client has finished
        // its side of the handshake: a refusal shows as a transport error on the first
        // request, here.
        Client::over(channel, identity).await.map_err(|status| {
            match std::error::Error::source(&status) {
                Some(cause) if cause.is::<tonic::transport::Error>() => {
                    Status::unavailable(format!(
                        "the node at {uri} closed the TLS connection ({presented}); a node that \
                         requires client certificates does so when none is presented or it is \
                         not signed by the node's tls.client_ca: {}",
                        causes(cause)
                    ))
                }
                _ => status,
            }
        })
    }

    /// A client over an existing tonic channel.
    pub async fn over(channel: Channel, identity: SigningIdentity) -> Result<Client, Status> {
        let mut admin = AdminClient::new(channel.clone())
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        let health = admin.health(HealthRequest {}).await?.into_inner();
        // A node with several channels has no default: requests name none, and the node
        // refuses those that need one, listing its channels, until `on_channel` chooses.
        let name = match health.channels.len() {
            0 | 1 => health.channel,
            _ => String::new(),
        };
        Ok(Client {
            gateway: GatewayClient::new(channel.clone())
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
            ledger: LedgerQueryClient::new(channel)
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
            admin,
            identity,
            channel: name,
        })
    }

    /// The channel this client addresses: the node's only channel unless
    /// [`Client::on_channel`] chose another; empty if the node has several and none was
    /// chosen.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The same client, addressing `channel`: its proposals name it and its requests ask
    /// for it (a node that has not joined it answers `NOT_FOUND`).
    pub fn on_channel(mut self, channel: &str) -> Client {
        self.channel = channel.to_string();
        self
    }

    /// The signing identity.
    pub fn identity(&self) -> &SigningIdentity {
        &self.identity
    }

    /// A proposal to call `function` of `contract` with `args`, signed, with a fresh nonce.
    pub fn proposal(&self, contract: &str, function: &str, args: Vec<Vec<u8>>) -> SignedProposal {
        self.signed(contract, function, args, false)
    }

    fn signed(
        &self,
        contract: &str,
        function: &str,
        args: Vec<Vec<u8>>,
        is_init: bool,
    ) -> SignedProposal {
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let mut proposal = transaction::new_proposal(
            self.identity.identity(),
            ProposalSpec {
                channel: self.channel.clone(),
                contract: contract.to_string(),
                function: function.to_string(),
                args,
                nonce: fresh_nonce(),
                timestamp: Timestamp {
                    seconds: i64::try_from(now.as_secs()).unwrap_or(i64::MAX),
                    nanos: now.subsec_nanos(),
                },
            },
        );
        proposal.is_init = is_init;
        transaction::sign_proposal(&self.identity, &proposal, vec![])
    }

    /// Evaluates a query and returns the contract's response.
    pub async fn evaluate(
        &self,
        contract: &str,
        function: &str,
        args: Vec<Vec<u8>>,
    ) -> Result<Response, Status> {
        let proposal = self.proposal(contract, function, args);
        let answer =
            self.gateway.clone().evaluate(EvaluateRequest { proposal: Some(proposal) }).await?;
        Ok(answer.into_inner().result.unwrap_or_default())
    }

    /// Endorses `proposal`, signs the transaction, submits it and waits for its commit.
    pub async fn submit_signed(&self, proposal: SignedProposal) -> Result<Submitted, Status> {
        let endorsed = self.endorse(proposal).await?;
        let status = self.submit_and_wait(endorsed.envelope).await?;
        Ok(Submitted { tx_id: endorsed.tx_id, response: endorsed.response, status })
    }

    /// Has `proposal` endorsed and signs the transaction: the envelope to submit. Nothing
    /// is written until the envelope is submitted, so a failed endorsement can be asked
    /// again.
    pub async fn endorse(&self, proposal: SignedProposal) -> Result<Endorsed, Status> {
        let mut gateway = self.gateway.clone();
        let endorsed =
            gateway.endorse(EndorseRequest { proposal: Some(proposal) }).await?.into_inner();
        Ok(Endorsed {
            envelope: self.sign_transaction(endorsed.prepared_transaction),
            tx_id: endorsed.tx_id,
            response: endorsed.result.unwrap_or_default(),
        })
    }

    /// Submits a signed transaction and waits for its commit. When it fails with
    /// `UNAVAILABLE` the transaction may or may not have been ordered: submitting the same
    /// envelope again is safe (it commits at most once), and `ALREADY_EXISTS` then means an
    /// earlier attempt got through: ask [`Client::commit_status`].
    pub async fn submit_and_wait(
        &self,
        envelope: Envelope,
    ) -> Result<CommitStatusResponse, Status> {
        let request = SubmitRequest { envelope: Some(envelope) };
        Ok(self.gateway.clone().submit_and_wait(request).await?.into_inner())
    }

    /// Submits every envelope `envelopes` yields over one stream (`Gateway.SubmitStream`) and
    /// returns the stream of answers: one per envelope, as each commits or is refused, in
    /// commit order, with the envelope's position (`index`, from 0). Ending `envelopes`
    /// ends the request half; the answers end once all are out.
    pub async fn submit_stream<S>(
        &self,
        envelopes: S,
    ) -> Result<tonic::Streaming<SubmitStreamResponse>, Status>
    where
        S: tokio_stream::Stream<Item = Envelope> + Send + 'static,
    {
        use tokio_stream::StreamExt;
        let requests = envelopes.map(|envelope| SubmitRequest { envelope: Some(envelope) });
        Ok(self.gateway.clone().submit_stream(requests).await?.into_inner())
    }

    /// Waits until transaction `tx_id` of this client's channel is committed and returns how.
    pub async fn commit_status(&self, tx_id: &str) -> Result<CommitStatusResponse, Status> {
        let request =
            CommitStatusRequest { tx_id: tx_id.to_string(), channel: self.channel.clone() };
        Ok(self.gateway.clone().commit_status(request).await?.into_inner())
    }

    /// Calls `function` of `contract` as a transaction and waits for it to commit.
    pub async fn submit(
        &self,
        contract: &str,
        function: &str,
        args: Vec<Vec<u8>>,
    ) -> Result<Submitted, Status> {
        self.submit_signed(self.proposal(contract, function, args)).await
    }

    /// Signs a prepared transaction (from `Endorse`) as an envelope.
    pub fn sign_transaction(&self, prepared: Vec<u8>) -> Envelope {
        Envelope { signature: self.identity.sign(&prepared), payload: prepared }
    }

    /// Installs `wasm` on the node (the identity must be an admin); returns its code hash.
    pub async fn install(&self, wasm: Vec<u8>) -> Result<Vec<u8>, Status> {
        let signature = self.identity.sign(&install_message(&wasm));
        let request =
            InstallRequest { wasm, signer: Some(self.identity.identity().clone()), signature };
        Ok(self.admin.clone().install(request).await?.into_inner().code_hash)
    }

    /// Joins the node to the channel whose encoded genesis `ChannelConfig` is `genesis` (the
    /// identity must be an admin of an organization of that channel); returns the channel's
    /// name and height.
    pub async fn join_channel(&self, genesis: Vec<u8>) -> Result<JoinChannelResponse, Status> {
        let signature = self.identity.sign(&join_message(&genesis));
        let request = JoinChannelRequest {
            genesis,
            signer: Some(self.identity.identity().clone()),
            signature,
        };
        Ok(self.admin.clone().join_channel(request).await?.into_inner())
    }

    /// The channels the node has joined, by name, with their heights.
    pub async fn list_channels(&self) -> Result<Vec<ChannelHeight>, Status> {
        Ok(self.admin.clone().list_channels(ListChannelsRequest {}).await?.into_inner().channels)
    }

    /// Deploys (or upgrades) a contract, as Fabric's lifecycle with `--init-required`:
    /// installs the code, submits the `_lifecycle` definition and waits for it to commit,
    /// then, if [`Deploy::init`] is set, submits the init transaction (`is_init`) and waits
    /// for it too. Needs an admin identity. An error names the step that failed; a step
    /// that commits other than VALID is an error (`Aborted`), and later steps are not
    /// attempted.
    pub async fn deploy(&self, deploy: Deploy) -> Result<Deployed, Status> {
        let Deploy { name, version, policy, wasm, init, upgrade } = deploy;
        let step = |what: String| {
            move |status: Status| {
                Status::new(status.code(), format!("{what}: {}", status.message()))
            }
        };
        // Checked here too, so a bad name or version installs nothing.
        names::check(&name, &version).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let code_hash = self.install(wasm).await.map_err(step(format!("installing {name}")))?;
        let definition = ContractDefinition {
            name: name.clone(),
            version: version.clone(),
            policy: Some(policy),
            code_hash,
            init_required: init.is_some(),
        };
        let (function, verb) = if upgrade { (UPGRADE, "upgrading") } else { (DEPLOY, "defining") };
        let what = format!("{verb} {name} version {version}");
        let defined = self
            .submit(LIFECYCLE, function, vec![definition.encode_to_vec()])
            .await
            .and_then(committed_valid)
            .map_err(step(what))?;
        let Some(InitCall { function, args }) = init else {
            return Ok(Deployed { definition: defined, init: None });
        };
        let what = format!("initializing {name} version {version} ({function})");
        let initialized = self
            .submit_signed(self.init_proposal(&name, &function, args))
            .await
            .and_then(committed_valid)
            .map_err(step(what))?;
        Ok(Deployed { definition: defined, init: Some(initialized) })
    }

    /// A proposal that runs the init entry of `contract` (Fabric's `--isInit`), signed.
    /// Accepted once per version, only for a contract defined with `init_required`.
    pub fn init_proposal(
        &self,
        contract: &str,
        function: &str,
        args: Vec<Vec<u8>>,
    ) -> SignedProposal {
        self.signed(contract, function, args, true)
    }
}

/// What [`Client::deploy`] deploys.
#[derive(Debug, Clone)]
pub struct Deploy {
    /// Contract name (its state namespace).
    pub name: String,
    /// Version of the definition; an upgrade needs a new one.
    pub version: String,
    /// The endorsement policy.
    pub policy: EndorsementPolicy,
    /// The contract's `.wasm`.
    pub wasm: Vec<u8>,
    /// If set, the definition requires init (`init_required`) and this init transaction is
    /// submitted once the definition commits.
    pub init: Option<InitCall>,
    /// Upgrade a defined contract (`_lifecycle` function `upgrade`) instead of defining a
    /// new one (`deploy`); the node refuses the one that does not fit.
    pub upgrade: bool,
}

impl Deploy {
    /// A deploy of a new contract without init.
    pub fn new(name: &str, version: &str, policy: EndorsementPolicy, wasm: Vec<u8>) -> Deploy {
        Deploy {
            name: name.to_string(),
            version: version.to_string(),
            policy,
            wasm,
            init: None,
            upgrade: false,
        }
    }

    /// Requires init and runs `function` with `args` as the init transaction.
    pub fn with_init(mut self, function: &str, args: Vec<Vec<u8>>) -> Deploy {
        self.init = Some(InitCall { function: function.to_string(), args });
        self
    }

    /// Makes this an upgrade of a defined contract.
    pub fn upgrade(mut self) -> Deploy {
        self.upgrade = true;
        self
    }
}

/// The init transaction of a deploy: the function name (which the contract's init entry
/// sees as `Context::function`) and its arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct InitCall {
    /// Function name.
    pub function: String,
    /// Arguments.
    pub args: Vec<Vec<u8>>,
}

/// What [`Client::deploy`] committed.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployed {
    /// The `_lifecycle` definition transaction.
    pub definition: Submitted,
    /// The init transaction, if one was asked for.
    pub init: Option<Submitted>,
}

/// The contract's own error response a refusal carries (the node puts it in the status
/// details when a contract answers with a status of 400 or more), if `status` has one.
pub fn contract_response(status: &Status) -> Option<Response> {
    if status.details().is_empty() {
        return None;
    }
    Response::decode(status.details()).ok()
}

/// `done` if it committed VALID, else an `Aborted` status naming its code.
fn committed_valid(done: Submitted) -> Result<Submitted, Status> {
    let code = done.status.code();
    if code == TxValidationCode::Valid {
        return Ok(done);
    }
    let conflicts = if done.status.conflicts.is_empty() {
        String::new()
    } else {
        format!(" ({} conflicting reads)", done.status.conflicts.len())
    };
    Err(Status::aborted(format!(
        "transaction {} committed as {}{conflicts}",
        done.tx_id,
        code.as_str_name()
    )))
}

fn fresh_nonce() -> Vec<u8> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let mut hasher = blake3::Hasher::new();
    hasher.update(&now.to_le_bytes());
    hasher.update(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    hasher.update(&std::process::id().to_le_bytes());
    hasher.finalize().as_bytes()[..24].to_vec()
}

impl Client {
    /// Fetches every block and checks the chain client-side: numbering, each header's link
    /// to the previous block, each data hash, and that the last hash is the node's current
    /// hash. Returns the height.
    pub async fn verify_chain(&self) -> Result<u64, Status> {
        use weft_proto::v1::{GetBlockRequest, GetChainInfoRequest, get_block_request::By};
        use weft_protocol::block::{data_hash, header_hash};
        let mut ledger = self.ledger.clone();
        let info = ledger
            .get_chain_info(GetChainInfoRequest { channel: self.channel.clone() })
            .await?
            .into_inner();
        let mut previous = Vec::new();
        for number in 0..info.height {
            let block = ledger
                .get_block(GetBlockRequest {
                    by: Some(By::Number(number)),
                    channel: self.channel.clone(),
                })
                .await?
                .into_inner();
            let broken = |why: &str| Status::data_loss(format!("block {number}: {why}"));
            let header = block.header.clone().ok_or_else(|| broken("no header"))?;
            if header.number != number {
                return Err(broken("wrong number"));
            }
            if header.previous_hash != previous {
                return Err(broken("previous hash does not link"));
            }
            if header.data_hash != data_hash(&block.data.clone().unwrap_or_default()) {
                return Err(broken("data hash does not match its transactions"));
            }
            previous = header_hash(&header).to_vec();
        }
        if previous != info.current_hash {
            return Err(Status::data_loss("the last block is not the node's current block"));
        }
        Ok(info.height)
    }
}
