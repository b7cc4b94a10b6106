//! Identities: ed25519 keys, organizations from the channel's genesis configuration, and the
//! membership table the validator resolves signers against (each public key decoded once).
//!
//! Every identity of an organization has one role (Fabric's NodeOUs): a client creates
//! proposals and transactions, a peer endorses, an admin installs and defines contracts, an
//! orderer orders. The role decides what a signature counts for; the validator counts an
//! endorsement only from a peer.

use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use ed25519_dalek::VerifyingKey;

use crate::signature::PublicKey;
use weft_proto::quote::quote;
use weft_proto::v1::{ChannelConfig, Identity, OrgIdentity};

use crate::error::ConfigError;

/// A private key with the organization it belongs to: a client, a peer or an admin.
///
/// Signing is AWS-LC's ed25519 (`aws-lc-rs`): about twice as fast as `ed25519-dalek`'s on
/// the machines measured (docs/performance.md), and a signature is the same bytes from
/// either, as RFC 8032 signing is deterministic (a unit test holds the two to it).
/// Verification stays with the ZIP-215 rule of [`crate::signature`].
#[derive(Clone, Debug)]
pub struct SigningIdentity {
    key: Arc<Ed25519KeyPair>,
    public_key: [u8; 32],
    identity: Identity,
}

impl SigningIdentity {
    /// An identity of organization `msp_id` from a 32-byte ed25519 secret key.
    pub fn from_secret(msp_id: impl Into<String>, secret: [u8; 32]) -> SigningIdentity {
        // Any 32 bytes are an ed25519 secret key (RFC 8032 section 5.1.5): this cannot fail.
        let key = Ed25519KeyPair::from_seed_unchecked(&secret)
            .expect("every 32-byte seed is an ed25519 secret key");
        let public_key: [u8; 32] =
            key.public_key().as_ref().try_into().expect("an ed25519 public key is 32 bytes");
        let identity = Identity { msp_id: msp_id.into(), public_key: public_key.to_vec() };
        SigningIdentity { key: Arc::new(key), public_key, identity }
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
        self.public_key
    }

    /// This identity as a channel configuration lists it, under `name` with `role`.
    pub fn listed_as(&self, name: &str, role: Role) -> OrgIdentity {
        OrgIdentity {
            public_key: self.public_key().to_vec(),
            role: role as i32,
            name: name.to_string(),
            attributes: Vec::new(),
        }
    }

    /// An ed25519 signature over `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.key.sign(message).as_ref().to_vec()
    }
}

pub use weft_proto::v1::Role;

/// The lowercase name of a role as policies and the CLI write it: `member`, `client`, `peer`,
/// `admin`, `orderer` (`unspecified` for [`Role::Unspecified`]).
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Unspecified => "unspecified",
        Role::Member => "member",
        Role::Client => "client",
        Role::Peer => "peer",
        Role::Admin => "admin",
        Role::Orderer => "orderer",
    }
}

/// The role named `name` (as [`role_name`] writes it, any case), if any.
pub fn parse_role(name: &str) -> Option<Role> {
    [Role::Member, Role::Client, Role::Peer, Role::Admin, Role::Orderer]
        .into_iter()
        .find(|r| role_name(*r).eq_ignore_ascii_case(name))
}

/// The longest organization id, identity name, attribute name or value a channel accepts.
pub const MAX_NAME_LEN: usize = 64;

/// Longest attribute value.
pub const MAX_ATTRIBUTE_VALUE_LEN: usize = 256;

/// Whether `name` is a well-formed organization id or identity name: 1 to [`MAX_NAME_LEN`]
/// characters of ASCII letters, digits, `.`, `-`, `_` and `@`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_@".contains(&b))
}

/// A known identity of a channel organization: its role, name, attributes and decoded key.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// Organization id.
    pub msp_id: String,
    /// Role in the organization (never [`Role::Member`] or [`Role::Unspecified`]).
    pub role: Role,
    /// Name, unique in the organization.
    pub name: String,
    /// Attributes (name, value), sorted by name.
    pub attributes: Vec<(String, String)>,
    /// The decoded key.
    pub key: PublicKey,
}

impl Member {
    /// The identity's stable, printable id: `msp_id::name` (e.g. `Org1::client`). It does
    /// not change when the key is rotated under the same name.
    pub fn id(&self) -> String {
        format!("{}::{}", self.msp_id, self.name)
    }

    /// The value of attribute `name`, if the identity has it.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Whether this identity matches a principal of `msp_id` with `role`
    /// ([`Role::Member`]: any role).
    pub fn matches(&self, msp_id: &str, role: Role) -> bool {
        self.msp_id == msp_id && (role == Role::Member || role == self.role)
    }
}

/// Every identity of every organization of a channel, keys decoded once.
#[derive(Clone, Debug, Default)]
pub struct Membership {
    members: HashMap<(String, [u8; 32]), Member>,
}

impl Membership {
    /// Decodes the organizations of `config`. Fails, naming the organization and identity, on
    /// a malformed or repeated organization id, a malformed or weak key, a key listed twice,
    /// a role that is not client, peer, admin or orderer, a malformed or repeated name, or
    /// malformed or repeated attributes.
    pub fn from_config(config: &ChannelConfig) -> Result<Membership, ConfigError> {
        let mut members = HashMap::new();
        let mut orgs = std::collections::BTreeSet::new();
        for org in &config.organizations {
            if !valid_name(&org.msp_id) || !orgs.insert(org.msp_id.as_str()) {
                return Err(ConfigError(format!(
                    "organization id {} is malformed or repeated (1 to {MAX_NAME_LEN} of                      A-Z a-z 0-9 . - _ @, unique)",
                    quote(&org.msp_id)
                )));
            }
            if org.identities.is_empty() {
                return Err(ConfigError(format!(
                    "organization {} lists no identities (a genesis configuration written \
                     before identities had roles lists its keys in fields this version no \
                     longer reads: write it again, e.g. with `weft init` in a new directory)",
                    org.msp_id
                )));
            }
            let mut names = std::collections::BTreeSet::new();
            for identity in &org.identities {
                let member = decode_identity(&org.msp_id, identity)?;
                if !names.insert(member.name.clone()) {
                    return Err(ConfigError(format!(
                        "organization {}: two identities are named {}",
                        org.msp_id, member.name
                    )));
                }
                let key = (org.msp_id.clone(), *member.key.as_bytes());
                if members.insert(key, member).is_some() {
                    return Err(ConfigError(format!(
                        "organization {}: a key is listed twice (one key has one role)",
                        org.msp_id
                    )));
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

fn decode_identity(msp_id: &str, identity: &OrgIdentity) -> Result<Member, ConfigError> {
    let bad = |what: String| ConfigError(format!("organization {msp_id}: {what}"));
    if !valid_name(&identity.name) {
        return Err(bad(format!(
            "identity name {} is malformed (1 to {MAX_NAME_LEN} of A-Z a-z 0-9 . - _ @)",
            quote(&identity.name)
        )));
    }
    let name = &identity.name;
    let role = match Role::try_from(identity.role) {
        Ok(role @ (Role::Client | Role::Peer | Role::Admin | Role::Orderer)) => role,
        _ => {
            return Err(bad(format!(
                "identity {name} has no role (client, peer, admin or orderer)"
            )));
        }
    };
    let bytes: [u8; 32] = identity
        .public_key
        .as_slice()
        .try_into()
        .map_err(|_| bad(format!("the key of {name} is not 32 bytes")))?;
    let key = VerifyingKey::from_bytes(&bytes)
        .map_err(|_| bad(format!("the key of {name} is not an ed25519 public key")))?;
    if key.is_weak() {
        return Err(bad(format!("the key of {name} is weak")));
    }
    let key = PublicKey::from_bytes(&bytes)
        .ok_or_else(|| bad(format!("the key of {name} is not an ed25519 public key")))?;
    let mut attributes: Vec<(String, String)> =
        identity.attributes.iter().map(|a| (a.name.clone(), a.value.clone())).collect();
    attributes.sort();
    for pair in attributes.windows(2) {
        if pair[0].0 == pair[1].0 {
            return Err(bad(format!("identity {name} has attribute {} twice", pair[0].0)));
        }
    }
    for (attr, value) in &attributes {
        if !valid_name(attr)
            || value.len() > MAX_ATTRIBUTE_VALUE_LEN
            || value.chars().any(char::is_control)
        {
            return Err(bad(format!(
                "identity {name}: attribute {} is malformed (names as identity names; values \
                 at most {MAX_ATTRIBUTE_VALUE_LEN} bytes without control characters)",
                quote(attr)
            )));
        }
    }
    Ok(Member { msp_id: msp_id.to_string(), role, name: name.clone(), attributes, key })
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_proto::v1::{Attribute, Organization};

    fn org(msp_id: &str, identities: Vec<OrgIdentity>) -> Organization {
        Organization { msp_id: msp_id.into(), identities, peers: vec![] }
    }

    #[test]
    fn signatures_are_rfc_8032_and_the_same_bytes_as_ed25519_dalek() {
        // RFC 8032 section 7.1, test 1 (the empty message) and test 3 (two bytes).
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
        };
        let vectors = [
            (
                "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
                "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
                "",
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
            ),
            (
                "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
                "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
                "af82",
                "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
            ),
        ];
        for (secret, public, message, signature) in vectors {
            let identity =
                SigningIdentity::from_secret("Org1", hex(secret).try_into().expect("32 bytes"));
            assert_eq!(identity.public_key().to_vec(), hex(public));
            assert_eq!(identity.identity().public_key, hex(public));
            assert_eq!(identity.sign(&hex(message)), hex(signature));
        }
        // Any key, any message: the bytes ed25519-dalek signs.
        use ed25519_dalek::Signer;
        for n in 0..32u8 {
            let secret = [n.wrapping_mul(37); 32];
            let message = vec![n; n as usize * 13];
            let dalek = ed25519_dalek::SigningKey::from_bytes(&secret);
            let ours = SigningIdentity::from_secret("Org1", secret);
            assert_eq!(ours.public_key(), dalek.verifying_key().to_bytes());
            assert_eq!(ours.sign(&message), dalek.sign(&message).to_bytes().to_vec());
        }
    }

    #[test]
    fn resolves_only_keys_of_the_claimed_org_with_their_role() {
        let a = SigningIdentity::from_seed("Org1", "a");
        let b = SigningIdentity::from_seed("Org2", "b");
        let mut listed = a.listed_as("alice", Role::Client);
        listed.attributes = vec![
            Attribute { name: "team".into(), value: "blue".into() },
            Attribute { name: "level".into(), value: "3".into() },
        ];
        let config = ChannelConfig {
            channel: "c".into(),
            organizations: vec![
                org("Org1", vec![listed]),
                org("Org2", vec![b.listed_as("peer0", Role::Peer)]),
            ],
            contracts: vec![],
        };
        let m = Membership::from_config(&config).unwrap();
        let alice = m.resolve(a.identity()).unwrap();
        assert_eq!((alice.role, alice.id().as_str()), (Role::Client, "Org1::alice"));
        assert_eq!(alice.attribute("team"), Some("blue"));
        assert_eq!(alice.attributes[0].0, "level", "sorted by name");
        assert!(alice.matches("Org1", Role::Member) && alice.matches("Org1", Role::Client));
        assert!(!alice.matches("Org1", Role::Peer) && !alice.matches("Org2", Role::Member));
        assert_eq!(m.resolve(b.identity()).unwrap().role, Role::Peer);
        let forged = Identity { msp_id: "Org2".into(), public_key: a.public_key().to_vec() };
        assert!(m.resolve(&forged).is_none());
    }

    #[test]
    fn malformed_organizations_are_refused_with_what_is_wrong() {
        let a = SigningIdentity::from_seed("Org1", "a");
        let good = a.listed_as("alice", Role::Client);
        let refused = |orgs: Vec<Organization>, want: &str| {
            let config =
                ChannelConfig { channel: "c".into(), organizations: orgs, contracts: vec![] };
            let err = Membership::from_config(&config).unwrap_err().to_string();
            assert!(err.contains(want), "{err:?} should say {want:?}");
        };
        let short_key = OrgIdentity { public_key: vec![1, 2, 3], ..good.clone() };
        refused(vec![org("Org1", vec![short_key])], "not 32 bytes");
        let no_role = OrgIdentity { role: Role::Unspecified as i32, ..good.clone() };
        refused(vec![org("Org1", vec![no_role])], "has no role");
        let member_role = OrgIdentity { role: Role::Member as i32, ..good.clone() };
        refused(vec![org("Org1", vec![member_role])], "has no role");
        let bad_name = OrgIdentity { name: "a b\n".into(), ..good.clone() };
        refused(vec![org("Org1", vec![bad_name])], "is malformed");
        let twice = OrgIdentity { name: "other".into(), ..good.clone() };
        refused(vec![org("Org1", vec![good.clone(), twice])], "listed twice");
        refused(vec![org("Org1", vec![good.clone(), good.clone()])], "two identities");
        refused(
            vec![org("Org1", vec![good.clone()]), org("Org1", vec![])],
            "malformed or repeated",
        );
        refused(vec![org("Org1", vec![])], "lists no identities");
        refused(vec![org(&"x".repeat(10_000), vec![])], "(10000 bytes)");
        let mut dup_attr = good.clone();
        dup_attr.attributes = vec![
            Attribute { name: "x".into(), value: "1".into() },
            Attribute { name: "x".into(), value: "2".into() },
        ];
        refused(vec![org("Org1", vec![dup_attr])], "attribute x twice");
        let mut control = good;
        control.attributes = vec![Attribute { name: "x".into(), value: "a\u{1b}[2J".into() }];
        refused(vec![org("Org1", vec![control])], "attribute \"x\" is malformed");
    }

    #[test]
    fn role_names_round_trip() {
        for role in [Role::Member, Role::Client, Role::Peer, Role::Admin, Role::Orderer] {
            assert_eq!(parse_role(role_name(role)), Some(role));
        }
        assert_eq!(parse_role("PEER"), Some(Role::Peer));
        assert_eq!(parse_role("unspecified"), None);
    }
}
