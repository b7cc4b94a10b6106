//! The Admin service: join channels and install contract code (admins only), list
//! channels and definitions, health.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use weft_proto::v1::admin_server::Admin;
use weft_proto::v1::{
    ChannelHeight, HealthRequest, HealthResponse, InstallRequest, InstallResponse,
    JoinChannelRequest, JoinChannelResponse, ListChannelsRequest, ListChannelsResponse,
    ListContractsRequest, ListContractsResponse,
};

use super::required;
use crate::error::Error;
use crate::node::Shared;

/// Implements `weft.v1.Admin`.
#[derive(Debug, Clone)]
pub struct AdminService {
    shared: Arc<Shared>,
}

impl AdminService {
    pub(crate) fn new(shared: Arc<Shared>) -> AdminService {
        AdminService { shared }
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn install(
        &self,
        request: Request<InstallRequest>,
    ) -> Result<Response<InstallResponse>, Status> {
        let request = request.into_inner();
        let signer = required(request.signer, "signer")?;
        self.shared.channels.check_install(&request.wasm, &signer, &request.signature)?;
        let sim = self.shared.sim.clone();
        let wasm = request.wasm;
        let size = wasm.len() as u64;
        let hash = tokio::task::spawn_blocking(move || sim.deploy(&wasm))
            .await
            .map_err(|_| Error::ShuttingDown)?
            .map_err(Error::from)?;
        tracing::info!(code = %hash.to_hex(), size, "contract installed");
        Ok(Response::new(InstallResponse { code_hash: hash.0.to_vec(), size }))
    }

    async fn list_contracts(
        &self,
        request: Request<ListContractsRequest>,
    ) -> Result<Response<ListContractsResponse>, Status> {
        let channel = super::joined(&self.shared, &request.into_inner().channel)?.ledger.channel();
        let contracts = channel.contracts().into_iter().cloned().collect();
        Ok(Response::new(ListContractsResponse { contracts }))
    }

    async fn health(
        &self,
        _request: Request<HealthRequest>,
    ) -> Result<Response<HealthResponse>, Status> {
        let first = self.shared.channels.default_channel();
        Ok(Response::new(HealthResponse {
            channel: first.name(),
            height: first.ledger.chain_info().height,
            channels: self.shared.channels.names(),
            ordering_leader: first.orderer.is_leader(),
        }))
    }

    async fn join_channel(
        &self,
        request: Request<JoinChannelRequest>,
    ) -> Result<Response<JoinChannelResponse>, Status> {
        let request = request.into_inner();
        let signer = required(request.signer, "signer")?;
        let shared = self.shared.clone();
        let peer = tokio::task::spawn_blocking(move || {
            shared.channels.join(&request.genesis, &signer, &request.signature)
        })
        .await
        .map_err(|_| Error::ShuttingDown)??;
        Ok(Response::new(JoinChannelResponse {
            channel: peer.name(),
            height: peer.ledger.chain_info().height,
        }))
    }

    async fn list_channels(
        &self,
        _request: Request<ListChannelsRequest>,
    ) -> Result<Response<ListChannelsResponse>, Status> {
        let channels = self
            .shared
            .channels
            .all()
            .into_iter()
            .map(|peer| ChannelHeight {
                channel: peer.name(),
                height: peer.ledger.chain_info().height,
            })
            .collect();
        Ok(Response::new(ListChannelsResponse { channels }))
    }
}
