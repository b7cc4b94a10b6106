//! A development network in one directory: one organization with admin, peer and client
//! keys, a genesis configuration and a `node.toml`, as `weft init` writes it.
//!
//! ```text
//! DIR/node.toml
//! DIR/genesis.pb                  encoded weft.v1.ChannelConfig
//! DIR/keys/Org1/{admin,peer,client}.key
//! DIR/data/                       ledger and installed contracts (created at start)
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use prost::Message;
use weft_ledger::identity::SigningIdentity;
use weft_proto::v1::{ChannelConfig, Organization};

use crate::config::{
    self, BatchConfig, DurabilityConfig, GrpcLimits, LedgerConfig, NodeConfig, PeerConfig,
    TlsConfig,
};
use crate::error::{Error, Result};

/// The organization of a development network.
pub const ORG: &str = "Org1";

/// Roles with a key file under `keys/Org1/`.
pub const ROLES: [&str; 3] = ["admin", "peer", "client"];

/// Paths of a development network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevNetwork {
    /// Its directory.
    pub dir: PathBuf,
}

impl DevNetwork {
    /// The network in `dir` (which may not exist yet).
    pub fn at(dir: impl Into<PathBuf>) -> DevNetwork {
        DevNetwork { dir: dir.into() }
    }

    /// The node configuration file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("node.toml")
    }

    /// Whether `weft init` already ran here.
    pub fn exists(&self) -> bool {
        self.config_path().exists()
    }

    /// The key file of `role` (`admin`, `peer` or `client`).
    pub fn key_path(&self, role: &str) -> PathBuf {
        self.dir.join("keys").join(ORG).join(format!("{role}.key"))
    }

    /// Reads the identity of `role`.
    pub fn identity(&self, role: &str) -> Result<SigningIdentity> {
        config::read_identity(ORG, &self.key_path(role))
    }

    /// The CA certificate clients trust when the network serves TLS.
    pub fn tls_ca_path(&self) -> PathBuf {
        self.dir.join("tls").join("ca.pem")
    }

    /// Writes fresh keys, the genesis configuration of channel `channel` and a `node.toml`
    /// listening on `listen`; with `tls`, also a dev CA and a server certificate for
    /// `localhost` and `127.0.0.1` signed by it (`tls/`), and the node serves TLS. Refuses to
    /// overwrite an existing network.
    pub fn create(&self, channel: &str, listen: SocketAddr, tls: bool) -> Result<NodeConfig> {
        if self.exists() {
            return Err(Error::Config(format!(
                "{} already exists; remove the directory to start over",
                self.config_path().display()
            )));
        }
        let mut identities = Vec::new();
        for role in ROLES {
            let secret = random_secret()?;
            config::write_key(&self.key_path(role), &secret)?;
            identities.push(SigningIdentity::from_secret(ORG, secret));
        }
        let [admin, peer, client] = [&identities[0], &identities[1], &identities[2]];
        let genesis = ChannelConfig {
            channel: channel.to_string(),
            organizations: vec![Organization {
                msp_id: ORG.into(),
                member_keys: vec![peer.public_key().to_vec(), client.public_key().to_vec()],
                admin_keys: vec![admin.public_key().to_vec()],
            }],
            contracts: vec![],
        };
        weft_ledger::channel::Channel::new(genesis.clone())?;
        let genesis_path = self.dir.join("genesis.pb");
        std::fs::write(&genesis_path, genesis.encode_to_vec())
            .map_err(Error::io(format!("writing {}", genesis_path.display())))?;
        let relative = NodeConfig {
            listen,
            genesis: "genesis.pb".into(),
            data_dir: "data".into(),
            peer: PeerConfig {
                msp_id: ORG.into(),
                key: Path::new("keys").join(ORG).join("peer.key"),
            },
            orderer: BatchConfig::default(),
            grpc: GrpcLimits::default(),
            durability: DurabilityConfig::default(),
            ledger: LedgerConfig::default(),
            metrics_listen: None,
            tls: if tls { Some(self.write_tls()?) } else { None },
        };
        let path = self.config_path();
        std::fs::write(&path, relative.to_toml())
            .map_err(Error::io(format!("writing {}", path.display())))?;
        NodeConfig::load(&path)
    }
}

impl DevNetwork {
    /// Generates the dev CA and a server certificate; returns the paths, relative.
    fn write_tls(&self) -> Result<TlsConfig> {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let tls_err = |e: rcgen::Error| Error::Config(format!("generating TLS certificates: {e}"));
        let ca_key = KeyPair::generate().map_err(tls_err)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "weft dev CA");
        let ca_cert = ca_params.self_signed(&ca_key).map_err(tls_err)?;
        let issuer = Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().map_err(tls_err)?;
        let server_params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .map_err(tls_err)?;
        let server_cert = server_params.signed_by(&server_key, &issuer).map_err(tls_err)?;
        let dir = self.dir.join("tls");
        std::fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
        for (name, pem) in [
            ("ca.pem", ca_cert.pem()),
            ("server.pem", server_cert.pem()),
            ("server.key", server_key.serialize_pem()),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, pem).map_err(Error::io(format!("writing {}", path.display())))?;
        }
        Ok(TlsConfig { cert: "tls/server.pem".into(), key: "tls/server.key".into() })
    }
}

/// 32 bytes from the operating system's random source.
fn random_secret() -> Result<[u8; 32]> {
    use std::io::Read;
    let mut secret = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut secret))
        .map_err(Error::io("reading /dev/urandom for a new key"))?;
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_a_loadable_network_once() {
        let dir = tempfile::tempdir().unwrap();
        let net = DevNetwork::at(dir.path().join("dev"));
        let config = net.create("dev", "127.0.0.1:0".parse().unwrap(), true).unwrap();
        let tls = config.tls.clone().unwrap();
        assert!(tls.cert.exists() && tls.key.exists() && net.tls_ca_path().exists());
        assert_eq!(config.channel_config().unwrap().channel, "dev");
        let peer = config.peer_identity().unwrap();
        assert_eq!(peer.public_key(), net.identity("peer").unwrap().public_key());
        assert_ne!(net.identity("admin").unwrap().public_key(), peer.public_key());
        assert!(net.create("dev", "127.0.0.1:0".parse().unwrap(), false).is_err());
    }
}
