//! Identities: ed25519 keys, organizations from the channel's genesis configuration, and the
//! membership table the validator resolves signers against (each public key decoded once).

use std::collections::HashMap;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use weft_proto::v1::{ChannelConfig, Identity};

use crate::error::{Error, Result};

/// A private key with the organization it belongs to: a client, a peer or an admin.
#[derive(Clone, Debug)]
pub struct SigningIdentity {
    key: SigningKey,
    identity: Identity,
}

impl SigningIdentity {
    /// An identity of organization `msp_id` from a 32-byte ed25519 secret key.
    pub fn from_secret(msp_id: impl Into<String>, secret: [u8; 32]) -> SigningIdentity {
        let key = SigningKey::from_bytes(&secret);
        let identity =
            Identity { msp_id: msp_id.into(), public_key: key.verifying_key().to_bytes().to_vec() };
        SigningIdentity { key, identity }
    }

    /// A deterministic identity derived from `seed` (tests, examples, local networks). Not for
    /// production keys.
    pub fn from_seed(msp_id: impl Into<String>, seed: &str) -> SigningIdentity {
        let secret = blake3::derive_key("weft identity seed v1", seed.as_bytes());
        SigningIdentity::from_secret(msp_id, secret)
    }

    /// The public identity (organization and public key).
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The organization id.
    pub fn msp_id(&self) -> &str {
        &self.identity.msp_id
    }

    /// The raw public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// An ed25519 signature over `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.key.sign(message).to_bytes().to_vec()
    }
}

/// What a key may do in its organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A member: clients and peers.
    Member,
    /// An administrator (also counts as a member).
    Admin,
}

/// A known key: its organization, role and decoded public key.
#[derive(Clone, Debug)]
pub struct Member {
    /// Organization id.
    pub msp_id: String,
    /// Role in the organization.
    pub role: Role,
    /// The decoded key.
    pub key: VerifyingKey,
}

/// Every key of every organization of a channel, decoded once.
#[derive(Clone, Debug, Default)]
pub struct Membership {
    members: HashMap<(String, [u8; 32]), Member>,
}

impl Membership {
    /// Decodes the organizations of `config`. Fails on a malformed or weak key, a repeated
    /// organization, or an empty organization id.
    pub fn from_config(config: &ChannelConfig) -> Result<Membership> {
        let mut members = HashMap::new();
        let mut orgs = std::collections::BTreeSet::new();
        for org in &config.organizations {
            if org.msp_id.is_empty() || !orgs.insert(org.msp_id.as_str()) {
                return Err(Error::Config(format!(
                    "bad or repeated organization {:?}",
                    org.msp_id
                )));
            }
            let keys = org
                .member_keys
                .iter()
                .map(|k| (k, Role::Member))
                .chain(org.admin_keys.iter().map(|k| (k, Role::Admin)));
            for (raw, role) in keys {
                let bytes: [u8; 32] = raw.as_slice().try_into().map_err(|_| {
                    Error::Config(format!("organization {}: a key is not 32 bytes", org.msp_id))
                })?;
                let key = VerifyingKey::from_bytes(&bytes).map_err(|e| {
                    Error::Config(format!("organization {}: bad key: {e}", org.msp_id))
                })?;
                if key.is_weak() {
                    return Err(Error::Config(format!("organization {}: weak key", org.msp_id)));
                }
                let entry = members.entry((org.msp_id.clone(), bytes)).or_insert(Member {
                    msp_id: org.msp_id.clone(),
                    role,
                    key,
                });
                if role == Role::Admin {
                    entry.role = Role::Admin;
                }
            }
        }
        Ok(Membership { members })
    }

    /// The member `identity` names, if its key belongs to the organization it claims.
    pub fn resolve(&self, identity: &Identity) -> Option<&Member> {
        let key: [u8; 32] = identity.public_key.as_slice().try_into().ok()?;
        self.members.get(&(identity.msp_id.clone(), key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_proto::v1::Organization;

    #[test]
    fn resolves_only_keys_of_the_claimed_org() {
        let a = SigningIdentity::from_seed("Org1", "a");
        let b = SigningIdentity::from_seed("Org2", "b");
        let config = ChannelConfig {
            channel: "c".into(),
            organizations: vec![
                Organization {
                    msp_id: "Org1".into(),
                    member_keys: vec![a.public_key().to_vec()],
                    admin_keys: vec![],
                },
                Organization {
                    msp_id: "Org2".into(),
                    member_keys: vec![],
                    admin_keys: vec![b.public_key().to_vec()],
                },
            ],
            contracts: vec![],
        };
        let m = Membership::from_config(&config).unwrap();
        assert_eq!(m.resolve(a.identity()).unwrap().role, Role::Member);
        assert_eq!(m.resolve(b.identity()).unwrap().role, Role::Admin);
        let forged = Identity { msp_id: "Org2".into(), public_key: a.public_key().to_vec() };
        assert!(m.resolve(&forged).is_none());
        let mut bad = config.clone();
        bad.organizations[0].member_keys.push(vec![1, 2, 3]);
        assert!(Membership::from_config(&bad).is_err());
        let mut dup = config;
        dup.organizations.push(dup.organizations[0].clone());
        assert!(Membership::from_config(&dup).is_err());
    }
}
