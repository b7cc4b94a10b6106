//! A network of several organizations on one machine, as `weft net up` writes it: one
//! directory per organization, each a node's (`node.toml`, the shared `genesis.pb`, and its
//! own organization's keys only), every node the peer of its own organization alone (the
//! genesis lists where each organization's peer serves, so the gateways collect the others'
//! endorsements) and ordering on one etcd cluster. Each organization's directory is laid out like a
//! development network's ([`crate::devnet`]), so the CLI's `--dir DIR/ORG` reaches that
//! organization's node with its keys.
//!
//! ```text
//! DIR/genesis.pb                  the channel's genesis configuration (every organization)
//! DIR/ORG/node.toml               ORG's node: its peer key, etcd ordering
//! DIR/ORG/genesis.pb              the same genesis
//! DIR/ORG/keys/ORG/{admin,peer,client}.key
//! DIR/ORG/data/                   its channels and contracts (created at start)
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use prost::Message;
use weft_orderer::etcd::EtcdConfig;
use weft_proto::v1::{ChannelConfig, Organization, PeerEndpoint};

use crate::config::{self, OrdererConfig, OrdererKind};
use crate::devnet::{DevNetwork, new_identities, node_config};
use crate::error::{Error, Result};

/// One organization's node of a local network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetPeer {
    /// Its organization (MSP id).
    pub org: String,
    /// Where it serves gRPC.
    pub listen: SocketAddr,
}

/// The directories of a local network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalNetwork {
    /// Its directory.
    pub dir: PathBuf,
}

impl LocalNetwork {
    /// The network in `dir` (which may not exist yet).
    pub fn at(dir: impl Into<PathBuf>) -> LocalNetwork {
        LocalNetwork { dir: dir.into() }
    }

    /// The directory of organization `org`'s node: a [`DevNetwork`] layout.
    pub fn org(&self, org: &str) -> DevNetwork {
        DevNetwork::at(self.dir.join(org))
    }

    /// The shared genesis configuration.
    pub fn genesis_path(&self) -> PathBuf {
        self.dir.join("genesis.pb")
    }

    /// Whether the network was written already.
    pub fn exists(&self) -> bool {
        self.genesis_path().exists()
    }

    /// Writes fresh keys for every organization of `peers` (admin, peer and client, as the
    /// development network has them), the genesis configuration of `channel` listing them
    /// all, and for each organization a directory with its own keys only and a `node.toml`
    /// that listens where `peers` says, endorses as its organization's peer alone and
    /// orders on the etcd cluster at `etcd`. Refuses an existing network, an organization
    /// named twice and no organization.
    pub fn create(&self, channel: &str, peers: &[NetPeer], etcd: &[String]) -> Result<()> {
        if self.exists() {
            return Err(Error::Config(format!(
                "{} already exists; remove the directory to start over",
                self.genesis_path().display()
            )));
        }
        if peers.is_empty() {
            return Err(Error::Config("a network needs at least one organization".into()));
        }
        let mut organizations = Vec::new();
        let mut secrets = Vec::new();
        for peer in peers {
            if organizations.iter().any(|o: &Organization| o.msp_id == peer.org) {
                return Err(Error::Config(format!("organization {} is named twice", peer.org)));
            }
            let mut identities = Vec::new();
            for new in new_identities(&peer.org)? {
                identities.push(new.listed);
                secrets.push((peer.org.clone(), new.name, new.secret));
            }
            // Where the other organizations' gateways ask this one's peer to endorse.
            let peers = vec![PeerEndpoint { address: peer.listen.to_string(), tls_ca: vec![] }];
            organizations.push(Organization { msp_id: peer.org.clone(), identities, peers });
        }
        let genesis =
            ChannelConfig { channel: channel.to_string(), organizations, contracts: vec![] };
        weft_protocol::channel::Channel::new(genesis.clone())?;
        let encoded = genesis.encode_to_vec();
        std::fs::create_dir_all(&self.dir)
            .map_err(Error::io(format!("creating {}", self.dir.display())))?;
        for peer in peers {
            let org = self.org(&peer.org);
            for (owner, name, secret) in &secrets {
                if *owner == peer.org {
                    config::write_key(&org.key_path_of(owner, name), secret)?;
                }
            }
            write(&org.dir.join("genesis.pb"), &encoded)?;
            let mut node = node_config(peer.listen, &peer.org);
            node.orderer = OrdererConfig {
                kind: OrdererKind::Etcd,
                // On loopback a node that stops renewing its candidacy for 2 s is dead: the
                // next leader cuts within about that (5 s by default).
                etcd: Some(EtcdConfig {
                    endpoints: etcd.to_vec(),
                    lease_ttl_secs: 2,
                    ..EtcdConfig::default()
                }),
                ..OrdererConfig::default()
            };
            write(&org.config_path(), node.to_toml().as_bytes())?;
        }
        // Written last: its presence says the network is complete.
        write(&self.genesis_path(), &encoded)
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    }
    std::fs::write(path, bytes).map_err(Error::io(format!("writing {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NodeConfig;

    fn peers() -> Vec<NetPeer> {
        ["Org1", "Org2"]
            .iter()
            .enumerate()
            .map(|(i, org)| NetPeer {
                org: (*org).into(),
                listen: format!("127.0.0.1:{}", 7051 + i).parse().unwrap(),
            })
            .collect()
    }

    #[test]
    fn each_organization_gets_its_own_keys_and_a_node_that_endorses_for_it_alone() {
        let dir = tempfile::tempdir().unwrap();
        let net = LocalNetwork::at(dir.path().join("net"));
        let etcd = vec!["http://127.0.0.1:12379".to_string()];
        net.create("net", &peers(), &etcd).unwrap();
        for (i, org) in ["Org1", "Org2"].iter().enumerate() {
            let node = net.org(org);
            let config = NodeConfig::load(&node.config_path()).unwrap();
            assert_eq!(config.peer.msp_id, *org);
            assert!(config.peer.also_endorse_as.is_empty());
            assert_eq!(config.listen.port(), 7051 + i as u16);
            assert_eq!(config.orderer.kind, OrdererKind::Etcd);
            assert_eq!(config.orderer.etcd.clone().unwrap().endpoints, etcd);
            let genesis = config.channel_config().unwrap();
            let listed: Vec<&str> =
                genesis.organizations[i].peers.iter().map(|p| p.address.as_str()).collect();
            assert_eq!(listed, [config.listen.to_string()]);
            let channel = weft_protocol::channel::Channel::new(genesis).unwrap();
            // Its own identities resolve in the channel; the other's keys are not there.
            let client = node.identity(&format!("{org}:client")).unwrap();
            assert!(channel.membership().resolve(client.identity()).is_some());
            let other = if i == 0 { "Org2" } else { "Org1" };
            assert!(!node.key_path_of(other, "client").exists());
        }
        assert!(net.create("net", &peers(), &etcd).is_err(), "created twice");
        let twice = vec![peers()[0].clone(), peers()[0].clone()];
        let err = LocalNetwork::at(dir.path().join("b")).create("net", &twice, &etcd).unwrap_err();
        assert!(err.to_string().contains("named twice"), "{err}");
    }
}
