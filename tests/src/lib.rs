//! # weft-e2e: a real node on loopback, for end-to-end tests
//!
//! [`TestNet::start`] writes a development network into a temporary directory, starts the
//! node on `127.0.0.1:0` and connects an admin and a client over gRPC. Tests live in
//! `tests/tests/`. [`etcd::EtcdCluster`] runs real etcd processes for the etcd orderer's tests.

pub mod etcd;

use weft_client::{Client, Deploy, Submitted};
use weft_node::config::NodeConfig;
use weft_node::devnet::{DevNetwork, Transport};
use weft_node::{Node, Result};
use weft_proto::v1::TxValidationCode;
use weft_protocol::policy;

/// Waits (up to a minute, checking every 50 ms) until `done` holds; panics naming `what`
/// otherwise.
pub async fn until(what: &str, done: impl FnMut() -> bool) {
    until_said(|| what.to_string(), done).await;
}

/// [`until`], the panic's words made when it gives up (to say what it saw then).
pub async fn until_said(what: impl FnOnce() -> String, mut done: impl FnMut() -> bool) {
    for _ in 0..1200 {
        if done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{}: not within a minute", what());
}

/// A running development node and two connected identities.
#[derive(Debug)]
pub struct TestNet {
    /// The temporary directory holding the network.
    pub dir: tempfile::TempDir,
    /// The network's paths.
    pub net: DevNetwork,
    /// The configuration the node runs with.
    pub config: NodeConfig,
    /// The node.
    pub node: Node,
    /// A client signing as the organization's admin.
    pub admin: Client,
    /// A client signing as an ordinary member.
    pub client: Client,
}

impl TestNet {
    /// A fresh network with the default configuration, tuned by `tune`.
    pub async fn start(tune: impl FnOnce(&mut NodeConfig)) -> TestNet {
        TestNet::start_with(Transport::Plaintext, tune).await
    }

    /// A fresh network served over `transport`, with the configuration tuned by `tune`.
    /// Its clients connect the way the CLI does ([`DevNetwork::tls_options`]).
    pub async fn start_with(transport: Transport, tune: impl FnOnce(&mut NodeConfig)) -> TestNet {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().expect("temporary directory");
        let net = DevNetwork::at(dir.path().join("dev"));
        let mut config =
            net.create("dev", "127.0.0.1:0".parse().unwrap(), transport).expect("weft init");
        config.orderer.batch_timeout_ms = 5;
        tune(&mut config);
        TestNet::run(dir, net, config).await.expect("node starts")
    }

    async fn run(dir: tempfile::TempDir, net: DevNetwork, config: NodeConfig) -> Result<TestNet> {
        let node = Node::start(&config).await?;
        let tls = config.tls.is_some().then(|| net.tls_options()).transpose()?;
        let url = TestNet::url_of(&config, &node);
        let connect = |role: &str| {
            let identity = net.identity(role).expect("key file");
            let (url, tls) = (url.clone(), tls.clone());
            async move {
                match tls {
                    Some(tls) => Client::connect_tls(&url, &tls, identity).await,
                    None => Client::connect(&url, identity).await,
                }
                .expect("connects")
            }
        };
        let admin = connect("admin").await;
        let client = connect("client").await;
        Ok(TestNet { dir, net, config, node, admin, client })
    }

    /// A client signing as identity `spec` of the dev network (`client`, `org2:client`, ...,
    /// as `weft --as` takes it).
    pub async fn connect_as(&self, spec: &str) -> Client {
        let identity = self.net.identity(spec).expect("key file");
        match self.config.tls.is_some() {
            true => {
                let tls = self.net.tls_options().expect("TLS files");
                Client::connect_tls(&self.url(), &tls, identity).await
            }
            false => Client::connect(&self.url(), identity).await,
        }
        .expect("connects")
    }

    fn url_of(config: &NodeConfig, node: &Node) -> String {
        let scheme = if config.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", node.local_addr())
    }

    /// The node's endpoint: `https://` when it serves TLS, else `http://`.
    pub fn url(&self) -> String {
        TestNet::url_of(&self.config, &self.node)
    }

    /// Shuts the node down gracefully and starts it again on the same directory.
    pub async fn restart(self) -> TestNet {
        let TestNet { dir, net, config, node, .. } = self;
        node.shutdown().await.expect("graceful shutdown");
        TestNet::run(dir, net, config).await.expect("node restarts")
    }

    /// Deploys the asset-transfer sample as `basic` (policy: Org1) and runs `InitLedger`.
    pub async fn deploy_asset_transfer(&self) -> Submitted {
        let wasm = std::fs::read(weft_contract_artifacts::ASSET_TRANSFER).expect("sample built");
        let deployed = self
            .admin
            .deploy(Deploy::new("basic", "1", policy::peer("Org1"), wasm))
            .await
            .expect("deploy");
        assert_eq!(deployed.definition.status.code(), TxValidationCode::Valid, "{deployed:?}");
        let init = self.client.submit("basic", "InitLedger", vec![]).await.expect("init");
        assert_eq!(init.status.code(), TxValidationCode::Valid, "{init:?}");
        init
    }
}

/// String arguments as bytes.
pub fn args(args: &[&str]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.as_bytes().to_vec()).collect()
}
