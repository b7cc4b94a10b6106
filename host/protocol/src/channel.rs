//! A channel's configuration, checked and indexed for validation: the genesis configuration
//! plus the contract definitions committed through the `_lifecycle` namespace.
//!
//! Lifecycle (Fabric's `_lifecycle`, reduced to one step): a contract is defined on the
//! channel by a transaction of the built-in contract [`LIFECYCLE`], created by an admin of a
//! channel organization, whose read/write set writes key = contract name, value = encoded
//! [`ContractDefinition`] in the [`LIFECYCLE`] namespace. Its endorsement policy is a
//! majority of the channel organizations' peers. Once such a transaction is committed valid, the
//! definition applies from the next block on; a definition of an existing name replaces it
//! (an upgrade). Since definitions live in committed state, a peer replaying the chain reaches
//! the same definitions.

use std::collections::{BTreeSet, HashMap};

use prost::Message;
use weft_proto::quote::quote;
use weft_proto::v1::{ChannelConfig, ContractDefinition, PeerEndpoint};

use crate::error::ConfigError;
use crate::identity::Membership;
use crate::policy;

/// The system namespace (and built-in contract) holding committed contract definitions.
pub const LIFECYCLE: &str = "_lifecycle";

/// A checked channel configuration: organizations (keys decoded once) and contracts with
/// their endorsement policies, from genesis and from committed lifecycle definitions.
#[derive(Clone, Debug)]
pub struct Channel {
    config: ChannelConfig,
    membership: Membership,
    contracts: HashMap<String, ContractDefinition>,
}

impl Channel {
    /// Checks `config`: a channel name, well-formed organizations, keys and peer endpoints
    /// ([`crate::endpoints::check_peers`]), contracts with unique non-empty names (no NUL byte, not starting with `_`, which is reserved for
    /// system namespaces) and well-formed policies naming known organizations.
    pub fn new(config: ChannelConfig) -> Result<Channel, ConfigError> {
        if config.channel.is_empty() {
            return Err(ConfigError("the channel has no name".into()));
        }
        let membership = Membership::from_config(&config)?;
        for org in &config.organizations {
            crate::endpoints::check_peers(org)?;
        }
        let orgs: BTreeSet<&str> = config.organizations.iter().map(|o| o.msp_id.as_str()).collect();
        let mut contracts = HashMap::new();
        for def in &config.contracts {
            check_definition(def, &orgs)?;
            if contracts.insert(def.name.clone(), def.clone()).is_some() {
                return Err(ConfigError(format!("contract {} defined twice", def.name)));
            }
        }
        let lifecycle = ContractDefinition {
            name: LIFECYCLE.into(),
            version: "1".into(),
            policy: Some(policy::majority_of_peers(orgs.iter().copied())),
            code_hash: vec![],
            init_required: false,
        };
        contracts.insert(LIFECYCLE.into(), lifecycle);
        Ok(Channel { config, membership, contracts })
    }

    /// The channel's name.
    pub fn name(&self) -> &str {
        &self.config.channel
    }

    /// The genesis configuration as given.
    pub fn config(&self) -> &ChannelConfig {
        &self.config
    }

    /// The peers organization `msp_id` lists (`Organization.peers`), in the order to try
    /// them; none for an organization the channel does not have.
    pub fn peers_of(&self, msp_id: &str) -> &[PeerEndpoint] {
        self.config
            .organizations
            .iter()
            .find(|o| o.msp_id == msp_id)
            .map_or(&[], |o| o.peers.as_slice())
    }

    /// The decoded organization keys.
    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    /// The definition of contract `name`, if the channel has it (including the built-in
    /// [`LIFECYCLE`] contract).
    pub fn contract(&self, name: &str) -> Option<&ContractDefinition> {
        self.contracts.get(name)
    }

    /// Every user contract definition (not [`LIFECYCLE`]), sorted by name.
    pub fn contracts(&self) -> Vec<&ContractDefinition> {
        let mut defs: Vec<_> = self.contracts.values().filter(|d| d.name != LIFECYCLE).collect();
        defs.sort_by(|a, b| a.name.cmp(&b.name));
        defs
    }

    /// Decodes and checks a definition as written to the [`LIFECYCLE`] namespace under
    /// `key`: the name equals the key, a non-empty version, a 32-byte code hash and a
    /// well-formed policy naming known organizations.
    pub fn decode_definition(
        &self,
        key: &[u8],
        value: &[u8],
    ) -> Result<ContractDefinition, ConfigError> {
        let def = ContractDefinition::decode(value)
            .map_err(|e| ConfigError(format!("contract definition does not decode: {e}")))?;
        if def.name.as_bytes() != key {
            return Err(ConfigError(format!(
                "definition of {} is stored under another key",
                quote(&def.name)
            )));
        }
        if def.version.is_empty() {
            return Err(ConfigError(format!("contract {} has an empty version", def.name)));
        }
        if def.code_hash.len() != 32 {
            return Err(ConfigError(format!("contract {} has no 32-byte code hash", def.name)));
        }
        let orgs: BTreeSet<&str> =
            self.config.organizations.iter().map(|o| o.msp_id.as_str()).collect();
        check_definition(&def, &orgs)?;
        Ok(def)
    }

    /// This channel with `definitions` (committed in the [`LIFECYCLE`] namespace, already
    /// checked by [`Channel::decode_definition`]) added or replacing those of the same name.
    pub fn with_definitions(&self, definitions: Vec<ContractDefinition>) -> Channel {
        let mut channel = self.clone();
        for def in definitions {
            channel.contracts.insert(def.name.clone(), def);
        }
        channel
    }
}

fn check_definition(def: &ContractDefinition, orgs: &BTreeSet<&str>) -> Result<(), ConfigError> {
    crate::names::check(&def.name, &def.version).map_err(|e| ConfigError(e.to_string()))?;
    let policy = def
        .policy
        .as_ref()
        .ok_or_else(|| ConfigError(format!("contract {} has no endorsement policy", def.name)))?;
    policy::check(policy, orgs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Role;
    use crate::testing::TestNetwork;

    #[test]
    fn lifecycle_definitions_are_checked_and_added() {
        let net = TestNetwork::new("ch1", 3, &[("kv", policy::peer("Org1"))]);
        let channel = Channel::new(net.config.clone()).unwrap();
        // Majority of three organizations.
        let lifecycle = channel.contract(LIFECYCLE).unwrap().policy.clone().unwrap();
        let set = |o: &[&'static str], role| o.iter().map(|o| (*o, role)).collect::<BTreeSet<_>>();
        assert!(policy::satisfied(&lifecycle, &set(&["Org1", "Org3"], Role::Peer)));
        assert!(!policy::satisfied(&lifecycle, &set(&["Org1", "Org3"], Role::Admin)));
        assert!(!policy::satisfied(&lifecycle, &set(&["Org2"], Role::Peer)));
        assert_eq!(channel.contracts().len(), 1);

        let def = ContractDefinition {
            name: "asset".into(),
            version: "2".into(),
            policy: Some(policy::peer("Org2")),
            code_hash: vec![7; 32],
            init_required: true,
        };
        let bytes = def.encode_to_vec();
        assert_eq!(channel.decode_definition(b"asset", &bytes).unwrap(), def);
        assert!(channel.decode_definition(b"other", &bytes).is_err());
        let mut no_hash = def.clone();
        no_hash.code_hash.clear();
        assert!(channel.decode_definition(b"asset", &no_hash.encode_to_vec()).is_err());
        let mut stranger = def.clone();
        stranger.policy = Some(policy::peer("Org9"));
        assert!(channel.decode_definition(b"asset", &stranger.encode_to_vec()).is_err());
        assert!(channel.decode_definition(b"asset", b"\xff\xff").is_err());

        let upgraded = channel.with_definitions(vec![def.clone()]);
        assert_eq!(upgraded.contract("asset"), Some(&def));
        assert_eq!(upgraded.contracts().len(), 2);
        assert!(channel.contract("asset").is_none());

        let mut reserved = net.config.clone();
        reserved.contracts[0].name = "_mine".into();
        assert!(Channel::new(reserved).is_err());
    }

    #[test]
    fn peer_endpoints_are_checked_with_the_channel_and_listed_per_organization() {
        use weft_proto::v1::PeerEndpoint;
        let net = TestNetwork::new("ch1", 2, &[]);
        let peer = |address: &str| PeerEndpoint { address: address.into(), tls_ca: vec![] };
        let mut config = net.config.clone();
        config.organizations[1].peers = vec![peer("peer0.org2:7051"), peer("peer1.org2:7051")];
        let channel = Channel::new(config.clone()).unwrap();
        assert_eq!(channel.peers_of("Org2"), config.organizations[1].peers.as_slice());
        assert!(channel.peers_of("Org1").is_empty());
        assert!(channel.peers_of("Org9").is_empty());
        // One node may be a peer of two organizations (the dev network's).
        config.organizations[0].peers = vec![peer("peer0.org2:7051")];
        assert!(Channel::new(config.clone()).is_ok());
        config.organizations[1].peers.push(peer("peer0.org2:7051"));
        let err = Channel::new(config.clone()).unwrap_err().to_string();
        assert!(err.contains("Org2") && err.contains("listed twice"), "{err}");
        config.organizations[1].peers = vec![peer("peer0.org2")];
        let err = Channel::new(config).unwrap_err().to_string();
        assert!(err.contains("\"peer0.org2\"") && err.contains("no port"), "{err}");
    }
}
