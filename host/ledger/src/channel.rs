//! A channel's genesis configuration, checked and indexed for validation.

use std::collections::{BTreeSet, HashMap};

use weft_proto::v1::{ChannelConfig, ContractDefinition};

use crate::error::{Error, Result};
use crate::identity::Membership;
use crate::policy;

/// A checked channel configuration: organizations (keys decoded once) and contracts with
/// their endorsement policies.
#[derive(Clone, Debug)]
pub struct Channel {
    config: ChannelConfig,
    membership: Membership,
    contracts: HashMap<String, ContractDefinition>,
}

impl Channel {
    /// Checks `config`: a channel name, well-formed organizations and keys, contracts with
    /// unique non-empty names (no NUL byte) and well-formed policies naming known
    /// organizations.
    pub fn new(config: ChannelConfig) -> Result<Channel> {
        if config.channel.is_empty() {
            return Err(Error::Config("the channel has no name".into()));
        }
        let membership = Membership::from_config(&config)?;
        let orgs: BTreeSet<&str> = config.organizations.iter().map(|o| o.msp_id.as_str()).collect();
        let mut contracts = HashMap::new();
        for def in &config.contracts {
            if def.name.is_empty() || def.name.contains('\0') {
                return Err(Error::Config(format!("bad contract name {:?}", def.name)));
            }
            let policy = def.policy.as_ref().ok_or_else(|| {
                Error::Config(format!("contract {} has no endorsement policy", def.name))
            })?;
            policy::check(policy, &orgs)?;
            if contracts.insert(def.name.clone(), def.clone()).is_some() {
                return Err(Error::Config(format!("contract {} defined twice", def.name)));
            }
        }
        Ok(Channel { config, membership, contracts })
    }

    /// The channel's name.
    pub fn name(&self) -> &str {
        &self.config.channel
    }

    /// The configuration as given.
    pub fn config(&self) -> &ChannelConfig {
        &self.config
    }

    /// The decoded organization keys.
    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    /// The definition of contract `name`, if the channel has it.
    pub fn contract(&self, name: &str) -> Option<&ContractDefinition> {
        self.contracts.get(name)
    }
}
