//! A development network in one directory: one organization with admin, peer and client
//! keys, a genesis configuration and a `node.toml`, as `weft init` writes it.
//!
//! ```text
//! DIR/node.toml
//! DIR/genesis.pb                  encoded weft.v1.ChannelConfig
//! DIR/keys/Org1/{admin,peer,client}.key
//! DIR/data/                       ledger and installed contracts (created at start)
//! DIR/tls/ca.pem                  --tls: the dev CA clients trust (its key is not kept)
//! DIR/tls/server.{pem,key}        --tls: the node's certificate (localhost, 127.0.0.1)
//! DIR/tls/client.{pem,key}        --mtls: the client certificate the CLI presents, signed
//!                                 by the dev CA, which node.toml names as tls.client_ca
//! ```
//!
//! The keys under `keys/` sign proposals and transactions (application level); the TLS
//! files only secure and, with `--mtls`, admit the connection.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use prost::Message;
use weft_ledger::identity::{Role, SigningIdentity};
use weft_proto::v1::{ChannelConfig, Organization};

use crate::client::TlsOptions;
use crate::config::{
    self, BatchConfig, ClientAuth, DurabilityConfig, GrpcLimits, LedgerConfig, NodeConfig,
    PeerConfig, TlsConfig,
};
use crate::error::{Error, Result};

/// The organization of a development network.
pub const ORG: &str = "Org1";

/// Roles with a key file under `keys/Org1/`.
pub const ROLES: [&str; 3] = ["admin", "peer", "client"];

/// The name the dev server certificate is checked against.
pub const TLS_DOMAIN: &str = "localhost";

/// How the node of a development network serves gRPC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Transport {
    /// No TLS.
    #[default]
    Plaintext,
    /// TLS with a server certificate signed by a dev CA.
    Tls,
    /// TLS, and clients must present a certificate signed by the dev CA (mutual TLS).
    MutualTls,
}

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

    /// The client certificate (PEM) presented to a node that demands one.
    pub fn tls_client_cert_path(&self) -> PathBuf {
        self.dir.join("tls").join("client.pem")
    }

    /// The client certificate's private key (PEM).
    pub fn tls_client_key_path(&self) -> PathBuf {
        self.dir.join("tls").join("client.key")
    }

    /// How a client connects to this network's node over TLS: trusting the dev CA for
    /// [`TLS_DOMAIN`], and presenting the client certificate when the network has one.
    pub fn tls_options(&self) -> Result<TlsOptions> {
        let read = |what: &str, path: &Path| {
            std::fs::read(path).map_err(Error::io(format!("reading the {what} {}", path.display())))
        };
        let options = TlsOptions::new(read("CA certificate", &self.tls_ca_path())?, TLS_DOMAIN);
        let cert = self.tls_client_cert_path();
        if !cert.exists() {
            return Ok(options);
        }
        let key = self.tls_client_key_path();
        Ok(options.with_client_identity(
            read("client certificate", &cert)?,
            read("client certificate's key", &key)?,
        ))
    }

    /// Writes fresh keys, the genesis configuration of channel `channel` and a `node.toml`
    /// listening on `listen`. With [`Transport::Tls`], also a dev CA and a server
    /// certificate for `localhost` and `127.0.0.1` signed by it (`tls/`), and the node serves
    /// TLS; with [`Transport::MutualTls`], also a client certificate signed by the dev CA,
    /// and the node requires one. Refuses to overwrite an existing network.
    pub fn create(
        &self,
        channel: &str,
        listen: SocketAddr,
        transport: Transport,
    ) -> Result<NodeConfig> {
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
                identities: vec![
                    admin.listed_as("admin", Role::Admin),
                    peer.listed_as("peer", Role::Peer),
                    client.listed_as("client", Role::Client),
                ],
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
                time_window_secs: config::DEFAULT_TIME_WINDOW_SECS,
            },
            orderer: BatchConfig::default(),
            grpc: GrpcLimits::default(),
            durability: DurabilityConfig::default(),
            ledger: LedgerConfig::default(),
            metrics_listen: None,
            tls: match transport {
                Transport::Plaintext => None,
                Transport::Tls => Some(self.write_tls(false)?),
                Transport::MutualTls => Some(self.write_tls(true)?),
            },
        };
        let path = self.config_path();
        std::fs::write(&path, relative.to_toml())
            .map_err(Error::io(format!("writing {}", path.display())))?;
        NodeConfig::load(&path)
    }
}

impl DevNetwork {
    /// Generates the dev CA and a server certificate and, if `mutual`, a client certificate;
    /// returns the configuration with relative paths.
    fn write_tls(&self, mutual: bool) -> Result<TlsConfig> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair,
        };
        let tls_err = |e: rcgen::Error| Error::Config(format!("generating TLS certificates: {e}"));
        let ca_key = KeyPair::generate().map_err(tls_err)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "weft dev CA");
        let ca_cert = ca_params.self_signed(&ca_key).map_err(tls_err)?;
        let issuer = Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().map_err(tls_err)?;
        let server_params =
            CertificateParams::new(vec![TLS_DOMAIN.to_string(), "127.0.0.1".to_string()])
                .map_err(tls_err)?;
        let server_cert = server_params.signed_by(&server_key, &issuer).map_err(tls_err)?;
        let dir = self.dir.join("tls");
        std::fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
        let mut files = vec![
            ("ca.pem", ca_cert.pem()),
            ("server.pem", server_cert.pem()),
            ("server.key", server_key.serialize_pem()),
        ];
        if mutual {
            let client_key = KeyPair::generate().map_err(tls_err)?;
            let mut client_params =
                CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
            client_params.distinguished_name.push(DnType::CommonName, "weft dev client");
            client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            let client_cert = client_params.signed_by(&client_key, &issuer).map_err(tls_err)?;
            files.push(("client.pem", client_cert.pem()));
            files.push(("client.key", client_key.serialize_pem()));
        }
        for (name, pem) in files {
            let path = dir.join(name);
            std::fs::write(&path, pem).map_err(Error::io(format!("writing {}", path.display())))?;
            if name.ends_with(".key") {
                restrict_to_owner(&path)?;
            }
        }
        Ok(TlsConfig {
            cert: "tls/server.pem".into(),
            key: "tls/server.key".into(),
            client_ca: mutual.then(|| "tls/ca.pem".into()),
            client_auth: mutual.then_some(ClientAuth::Required),
        })
    }
}

/// Makes a private key file readable by its owner only (on Unix).
fn restrict_to_owner(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(Error::io(format!("restricting {}", path.display())))?;
    }
    Ok(())
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
        let config = net.create("dev", "127.0.0.1:0".parse().unwrap(), Transport::Tls).unwrap();
        let tls = config.tls.clone().unwrap();
        assert!(tls.cert.exists() && tls.key.exists() && net.tls_ca_path().exists());
        assert_eq!(tls.client_auth_mode().unwrap(), None);
        assert!(net.tls_options().unwrap().client_identity().is_none());
        assert_eq!(config.channel_config().unwrap().channel, "dev");
        let peer = config.peer_identity().unwrap();
        assert_eq!(peer.public_key(), net.identity("peer").unwrap().public_key());
        assert_ne!(net.identity("admin").unwrap().public_key(), peer.public_key());
        let again = net.create("dev", "127.0.0.1:0".parse().unwrap(), Transport::Plaintext);
        assert!(again.is_err());
    }

    #[test]
    fn mutual_tls_writes_a_client_certificate_and_requires_it() {
        let dir = tempfile::tempdir().unwrap();
        let net = DevNetwork::at(dir.path().join("dev"));
        let listen = "127.0.0.1:0".parse().unwrap();
        let config = net.create("dev", listen, Transport::MutualTls).unwrap();
        let tls = config.tls.unwrap();
        assert_eq!(tls.client_ca.as_deref(), Some(net.tls_ca_path().as_path()));
        assert_eq!(tls.client_auth_mode().unwrap(), Some(ClientAuth::Required));
        let options = net.tls_options().unwrap();
        let (cert, key) = options.client_identity().expect("a client certificate");
        assert!(String::from_utf8_lossy(cert).starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(String::from_utf8_lossy(key).contains("PRIVATE KEY"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(net.tls_client_key_path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A missing key is named.
        std::fs::remove_file(net.tls_client_key_path()).unwrap();
        let err = net.tls_options().unwrap_err().to_string();
        assert!(err.contains("client.key"), "{err}");
    }
}
