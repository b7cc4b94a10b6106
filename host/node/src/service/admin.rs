//! The Admin service: install contract code (admins only), list definitions, health.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use weft_proto::v1::admin_server::Admin;
use weft_proto::v1::{
    HealthRequest, HealthResponse, InstallRequest, InstallResponse, ListContractsRequest,
    ListContractsResponse,
};

use super::required;
use crate::error::Error;
use crate::lifecycle::check_install;
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
        check_install(&self.shared.ledger.channel(), &request.wasm, &signer, &request.signature)?;
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
        let channel = super::joined(&self.shared, &request.into_inner().channel)?.channel();
        let contracts = channel.contracts().into_iter().cloned().collect();
        Ok(Response::new(ListContractsResponse { contracts }))
    }

    async fn health(
        &self,
        _request: Request<HealthRequest>,
    ) -> Result<Response<HealthResponse>, Status> {
        let ledger = &self.shared.ledger;
        let name = ledger.channel().name().to_string();
        Ok(Response::new(HealthResponse {
            channel: name.clone(),
            height: ledger.chain_info().height,
            channels: vec![name],
        }))
    }
}
