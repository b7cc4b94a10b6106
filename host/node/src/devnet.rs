//! A development network in one directory: two organizations, `Org1` and `Org2`, each with
//! admin, peer and client keys, a genesis configuration and a `node.toml`, as `weft init`
//! writes it. The one node endorses as the peers of both organizations (`[peer]` is Org1's
//! peer, `also_endorse_as` Org2's), so the lifecycle's majority of peers and contract policies
//! naming either organization's peer are met without asking another node (the genesis lists
//! the node's address as both organizations' peer, with the dev CA under TLS, when it
//! listens on a fixed port); clients of both organizations can call, which
//! is how contracts' cross-organization access checks are tried through the CLI
//! (`weft --as org2:client`). The organization and identity names are
//! [`weft_rwset::dev_network`]'s, which the SDK's `MockStub` uses too.
//!
//! ```text
//! DIR/node.toml
//! DIR/genesis.pb                  encoded weft.v1.ChannelConfig of the first channel
//! DIR/channels/NAME.pb            `weft channel create NAME`: another channel's genesis,
//!                                 which `weft channel join NAME` sends to the node
//! DIR/keys/{Org1,Org2}/{admin,peer,client}.key
//! DIR/data/                       channels and installed contracts (created at start)
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
use weft_proto::v1::{ChannelConfig, Organization, PeerEndpoint};
use weft_protocol::identity::{Role, SigningIdentity};
use weft_rwset::dev_network;

use crate::config::{
    self, ClientAuth, ContractsConfig, DurabilityConfig, GatewayConfig, GrpcLimits, LedgerConfig,
    NodeConfig, OrdererConfig, PeerConfig, PeerKey, TlsConfig,
};
use crate::error::{Error, Result};
use weft_client::TlsOptions;

/// The organization a development network's node is the peer of, and commands act for
/// unless told otherwise.
pub const ORG: &str = dev_network::DEFAULT_ORGANIZATION;

/// The organizations of a development network.
pub const ORGS: [&str; 2] = dev_network::ORGANIZATIONS;

/// Identities with a key file under `keys/ORG/`, in every organization.
pub const ROLES: [&str; 3] = {
    let [(a, _), (p, _), (c, _)] = dev_network::IDENTITIES;
    [a, p, c]
};

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

    /// The key file of `role` (`admin`, `peer` or `client`) of [`ORG`].
    pub fn key_path(&self, role: &str) -> PathBuf {
        self.key_path_of(ORG, role)
    }

    /// The key file of identity `name` of organization `org`.
    pub fn key_path_of(&self, org: &str, name: &str) -> PathBuf {
        self.dir.join("keys").join(org).join(format!("{name}.key"))
    }

    /// Reads the identity `spec` names: `NAME` (an identity of [`DevNetwork::own_org`]:
    /// `admin`, `peer` or `client`) or `ORG:NAME` (e.g. `org2:client`; the organization in
    /// any case).
    pub fn identity(&self, spec: &str) -> Result<SigningIdentity> {
        let (org, name) = self.resolve_identity(spec)?;
        config::read_identity(&org, &self.key_path_of(&org, name))
    }

    /// The organization and identity name `spec` names (see [`DevNetwork::identity`]).
    pub fn resolve_identity(&self, spec: &str) -> Result<(String, &'static str)> {
        match spec.contains(':') {
            true => parse_identity(spec),
            false => parse_identity(&format!("{}:{spec}", self.own_org())),
        }
    }

    /// The organization a bare `NAME` belongs to: the node's own (`[peer] msp_id` in its
    /// `node.toml`: in a network of `weft net up`, each organization's directory), else
    /// [`ORG`].
    pub fn own_org(&self) -> String {
        NodeConfig::load(&self.config_path()).map_or_else(|_| ORG.to_string(), |c| c.peer.msp_id)
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

    /// Where `weft channel create NAME` writes the genesis configuration of channel `name`.
    pub fn channel_genesis_path(&self, name: &str) -> PathBuf {
        self.dir.join("channels").join(format!("{name}.pb"))
    }

    /// Writes the genesis configuration of another channel, `name`, with the network's
    /// organizations and their existing keys (as `weft init` lists them for the first
    /// channel), at [`DevNetwork::channel_genesis_path`]; returns that path. Refuses a bad
    /// channel name, a network without keys, and an existing file.
    pub fn create_channel(&self, name: &str) -> Result<PathBuf> {
        self.create_channel_with_peers(name, &[])
    }

    /// [`DevNetwork::create_channel`], listing `peers` (organization, endpoint; in order)
    /// as the peers of their organizations instead of those the first channel lists (`weft
    /// channel create NAME --peer ORG=HOST:PORT`). Refuses an organization the network does
    /// not have and a malformed endpoint, naming them.
    pub fn create_channel_with_peers(
        &self,
        name: &str,
        peers: &[(String, PeerEndpoint)],
    ) -> Result<PathBuf> {
        if let Some((org, _)) = peers.iter().find(|(org, _)| !ORGS.contains(&org.as_str())) {
            return Err(Error::Config(format!(
                "the dev network has no organization {} (it has {})",
                weft_proto::quote::quote(org),
                ORGS.join(", ")
            )));
        }
        weft_protocol::names::check_channel(name).map_err(|e| Error::Config(e.to_string()))?;
        if !self.exists() {
            return Err(Error::Config(format!(
                "{} does not exist: create the dev network first (weft init)",
                self.config_path().display()
            )));
        }
        let path = self.channel_genesis_path(name);
        if path.exists() {
            return Err(Error::Config(format!(
                "{} already exists: channel {name} was created already",
                path.display()
            )));
        }
        // The organizations' peers are where the first channel lists them: this node.
        let first = NodeConfig::load(&self.config_path())?.channel_config()?;
        let mut organizations = Vec::new();
        for org in ORGS {
            let mut identities = Vec::new();
            for (id, role) in dev_network::IDENTITIES {
                let key = config::read_identity(org, &self.key_path_of(org, id))?;
                identities.push(key.listed_as(id, role_of(role)));
            }
            let given: Vec<PeerEndpoint> =
                peers.iter().filter(|(o, _)| o == org).map(|(_, p)| p.clone()).collect();
            let peers = match given.is_empty() {
                false => given,
                true => first
                    .organizations
                    .iter()
                    .find(|o| o.msp_id == org)
                    .map(|o| o.peers.clone())
                    .unwrap_or_default(),
            };
            organizations.push(Organization { msp_id: org.into(), identities, peers });
        }
        let genesis = ChannelConfig { channel: name.to_string(), organizations, contracts: vec![] };
        weft_protocol::channel::Channel::new(genesis.clone())?;
        let dir = self.dir.join("channels");
        std::fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
        std::fs::write(&path, genesis.encode_to_vec())
            .map_err(Error::io(format!("writing {}", path.display())))?;
        Ok(path)
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
        let tls = match transport {
            Transport::Plaintext => None,
            Transport::Tls => Some(self.write_tls(false)?),
            Transport::MutualTls => Some(self.write_tls(true)?),
        };
        let peers = self.peer_endpoints(listen, tls.is_some())?;
        let mut organizations = Vec::new();
        for org in ORGS {
            let mut identities = Vec::new();
            for new in new_identities(org)? {
                config::write_key(&self.key_path_of(org, new.name), &new.secret)?;
                identities.push(new.listed);
            }
            organizations.push(Organization {
                msp_id: org.into(),
                identities,
                peers: peers.clone(),
            });
        }
        let genesis =
            ChannelConfig { channel: channel.to_string(), organizations, contracts: vec![] };
        weft_protocol::channel::Channel::new(genesis.clone())?;
        let genesis_path = self.dir.join("genesis.pb");
        std::fs::write(&genesis_path, genesis.encode_to_vec())
            .map_err(Error::io(format!("writing {}", genesis_path.display())))?;
        let mut relative = node_config(listen, ORG);
        relative.peer.also_endorse_as = ORGS[1..]
            .iter()
            .map(|org| PeerKey {
                msp_id: (*org).into(),
                key: Path::new("keys").join(org).join("peer.key"),
            })
            .collect();
        relative.tls = tls;
        let path = self.config_path();
        std::fs::write(&path, relative.to_toml())
            .map_err(Error::io(format!("writing {}", path.display())))?;
        NodeConfig::load(&path)
    }
}

impl DevNetwork {
    /// Where the genesis lists every organization's peer: the node's own address when it
    /// listens on a fixed port (an unspecified address read as loopback), with the dev CA
    /// when it serves TLS; none for port 0 (the address is known only once it listens). The
    /// node endorses for both organizations itself, so it never asks them: the endpoints
    /// show where a node of another organization would ask.
    fn peer_endpoints(&self, listen: SocketAddr, tls: bool) -> Result<Vec<PeerEndpoint>> {
        if listen.port() == 0 {
            return Ok(Vec::new());
        }
        let ip = match listen.ip() {
            ip if !ip.is_unspecified() => ip,
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        };
        let tls_ca = match tls {
            true => std::fs::read(self.tls_ca_path()).map_err(Error::io(format!(
                "reading the CA certificate {}",
                self.tls_ca_path().display()
            )))?,
            false => Vec::new(),
        };
        Ok(vec![PeerEndpoint { address: SocketAddr::new(ip, listen.port()).to_string(), tls_ca }])
    }

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

/// A freshly keyed identity of a development network's organization.
pub(crate) struct NewIdentity {
    /// `admin`, `peer` or `client`.
    pub(crate) name: &'static str,
    /// Its secret key.
    pub(crate) secret: [u8; 32],
    /// As the genesis lists it.
    pub(crate) listed: weft_proto::v1::OrgIdentity,
}

/// Fresh keys for the identities every organization of a development network has (admin,
/// peer and client: `dev_network::IDENTITIES`).
pub(crate) fn new_identities(org: &str) -> Result<Vec<NewIdentity>> {
    dev_network::IDENTITIES
        .into_iter()
        .map(|(name, role)| {
            let secret = random_secret()?;
            let listed = SigningIdentity::from_secret(org, secret).listed_as(name, role_of(role));
            Ok(NewIdentity { name, secret, listed })
        })
        .collect()
}

/// The `node.toml` of organization `org`'s peer in a development layout, listening on
/// `listen`: `genesis.pb`, `data/`, the key `keys/ORG/peer.key`, every other setting its
/// default (paths relative to the file).
pub(crate) fn node_config(listen: SocketAddr, org: &str) -> NodeConfig {
    NodeConfig {
        listen,
        genesis: "genesis.pb".into(),
        data_dir: "data".into(),
        peer: PeerConfig {
            msp_id: org.into(),
            key: Path::new("keys").join(org).join("peer.key"),
            time_window_secs: config::DEFAULT_TIME_WINDOW_SECS,
            also_endorse_as: Vec::new(),
        },
        orderer: OrdererConfig::default(),
        gateway: GatewayConfig::default(),
        grpc: GrpcLimits::default(),
        durability: DurabilityConfig::default(),
        ledger: LedgerConfig::default(),
        contracts: ContractsConfig::default(),
        metrics_listen: None,
        tls: None,
    }
}

/// The organization and identity name `spec` (`NAME` or `ORG:NAME`) names, checked against
/// the dev network's (and the `OrgN` of a network of `weft net up`); the message lists what
/// exists.
pub fn parse_identity(spec: &str) -> Result<(String, &'static str)> {
    let (org, name) = match spec.split_once(':') {
        Some((org, name)) => (org, name),
        None => (ORG, spec),
    };
    let numbered = org
        .get(..3)
        .filter(|prefix| prefix.eq_ignore_ascii_case("org"))
        .and_then(|_| org[3..].parse::<u16>().ok())
        .filter(|n| *n >= 1 && org[3..].len() <= 2)
        .map(|n| format!("Org{n}"));
    let org = ORGS.iter().find(|o| o.eq_ignore_ascii_case(org)).map(|o| o.to_string()).or(numbered);
    let name = ROLES.iter().find(|n| **n == name);
    match (org, name) {
        (Some(org), Some(name)) => Ok((org, name)),
        _ => Err(Error::Config(format!(
            "{spec:?} is not an identity of the dev network: use NAME or ORG:NAME with NAME one \
             of {} and ORG one of {} (or OrgN in a network of `weft net up`; NAME alone is \
             the node's own organization's)",
            ROLES.join(", "),
            ORGS.join(", ")
        ))),
    }
}

/// The channel configuration's role for a role of the ABI.
pub(crate) fn role_of(role: weft_abi::Role) -> Role {
    match role {
        weft_abi::Role::Client => Role::Client,
        weft_abi::Role::Peer => Role::Peer,
        weft_abi::Role::Admin => Role::Admin,
        weft_abi::Role::Orderer => Role::Orderer,
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
pub(crate) fn random_secret() -> Result<[u8; 32]> {
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

    /// The SDK's `MockStub` calls as `weft_rwset::dev_network`'s identities: the network
    /// `weft init` writes must list exactly those, with the same roles, in both organizations,
    /// and the node endorses for every organization's peer.
    #[test]
    fn the_network_lists_the_identities_the_mock_uses() {
        let dir = tempfile::tempdir().unwrap();
        let net = DevNetwork::at(dir.path().join("dev"));
        let config =
            net.create("dev", "127.0.0.1:0".parse().unwrap(), Transport::Plaintext).unwrap();
        let genesis = config.channel_config().unwrap();
        let channel = weft_protocol::channel::Channel::new(genesis.clone()).unwrap();
        let orgs: Vec<&str> = genesis.organizations.iter().map(|o| o.msp_id.as_str()).collect();
        assert_eq!(orgs, dev_network::ORGANIZATIONS);
        for org in dev_network::ORGANIZATIONS {
            for (name, role) in dev_network::IDENTITIES {
                let key = net.identity(&format!("{org}:{name}")).unwrap();
                let member = channel.membership().resolve(key.identity()).unwrap();
                let mock = dev_network::creator(org, name).unwrap();
                assert_eq!(member.id(), mock.id());
                assert_eq!(weft_protocol::identity::role_name(member.role), role.name());
                assert_eq!(member.attributes.len(), mock.attributes.len());
            }
        }
        let default = dev_network::default_creator();
        let client = net.identity("client").unwrap();
        assert_eq!(channel.membership().resolve(client.identity()).unwrap().id(), default.id());
        let endorsers: Vec<String> = std::iter::once(config.peer_identity().unwrap())
            .chain(config.more_peer_identities().unwrap())
            .map(|p| channel.membership().resolve(p.identity()).unwrap().id())
            .collect();
        assert_eq!(endorsers, ["Org1::peer", "Org2::peer"]);
        assert_eq!(net.identity("ORG2:admin").unwrap().msp_id(), "Org2");
        let err = net.identity("acme:client").unwrap_err().to_string();
        assert!(err.contains("Org1, Org2") && err.contains("admin, peer, client"), "{err}");
    }

    /// On a fixed port the genesis lists the node as both organizations' peer (with the dev
    /// CA under TLS), and channels created later list it too; on port 0, nobody.
    #[test]
    fn the_genesis_lists_the_node_as_each_organizations_peer() {
        let dir = tempfile::tempdir().unwrap();
        let net = DevNetwork::at(dir.path().join("fixed"));
        let config = net.create("dev", "0.0.0.0:7051".parse().unwrap(), Transport::Tls).unwrap();
        let ca = std::fs::read(net.tls_ca_path()).unwrap();
        for genesis in [
            config.channel_config().unwrap(),
            ChannelConfig::decode(
                std::fs::read(net.create_channel("ch2").unwrap()).unwrap().as_slice(),
            )
            .unwrap(),
        ] {
            for org in &genesis.organizations {
                assert_eq!(org.peers.len(), 1, "{}", org.msp_id);
                assert_eq!(org.peers[0].address, "127.0.0.1:7051");
                assert_eq!(org.peers[0].tls_ca, ca);
            }
        }
        let peer = |address: &str| PeerEndpoint { address: address.into(), tls_ca: vec![] };
        let listed = net
            .create_channel_with_peers("ch3", &[("Org2".into(), peer("peer0.org2.example:7051"))])
            .unwrap();
        let listed = ChannelConfig::decode(std::fs::read(listed).unwrap().as_slice()).unwrap();
        assert_eq!(listed.organizations[0].peers[0].address, "127.0.0.1:7051");
        assert_eq!(listed.organizations[1].peers, [peer("peer0.org2.example:7051")]);
        let err = net
            .create_channel_with_peers("ch4", &[("Org3".into(), peer("a:1"))])
            .unwrap_err()
            .to_string();
        assert!(err.contains("no organization \"Org3\""), "{err}");
        let err = net
            .create_channel_with_peers("ch4", &[("Org2".into(), peer("a"))])
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"a\"") && err.contains("no port"), "{err}");
        assert!(!net.channel_genesis_path("ch4").exists());
        let net = DevNetwork::at(dir.path().join("any"));
        let config =
            net.create("dev", "127.0.0.1:0".parse().unwrap(), Transport::Plaintext).unwrap();
        assert!(config.channel_config().unwrap().organizations.iter().all(|o| o.peers.is_empty()));
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
