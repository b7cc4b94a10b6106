//! The organizations and identities of a development network, defined once: `weft init`
//! (the node's `devnet`) creates exactly these, and the SDK's `MockStub` calls as
//! [`default_creator`] unless a test chooses another. So a contract's access checks see the
//! same names in `cargo test` as on a dev node.
//!
//! ```
//! use weft_abi::Role;
//! use weft_rwset::dev_network;
//!
//! let me = dev_network::default_creator();
//! assert_eq!((me.msp_id.as_str(), me.role, me.id()), ("Org1", Role::Client, "Org1::client".into()));
//! let other = dev_network::creator("Org2", "admin").unwrap();
//! assert_eq!(other.role, Role::Admin);
//! assert!(dev_network::creator("Org3", "client").is_none());
//! ```

use weft_abi::Role;

use crate::Creator;

/// The organizations (MSP ids), in order. The node endorses as the first one's peer.
pub const ORGANIZATIONS: [&str; 2] = ["Org1", "Org2"];

/// The identities of every organization: name and role.
pub const IDENTITIES: [(&str, Role); 3] =
    [("admin", Role::Admin), ("peer", Role::Peer), ("client", Role::Client)];

/// The organization a command or test acts for unless told otherwise.
pub const DEFAULT_ORGANIZATION: &str = ORGANIZATIONS[0];

/// The identity a command or test signs as unless told otherwise.
pub const DEFAULT_IDENTITY: &str = "client";

/// The role of identity `name` in a development network, if it has one of that name.
pub fn role_of(name: &str) -> Option<Role> {
    IDENTITIES.iter().find(|(n, _)| *n == name).map(|(_, role)| *role)
}

/// Identity `name` of organization `msp_id` as a contract sees it, with a stand-in public
/// key (the bytes of its id: a test context has no real keys), if the dev network has it.
pub fn creator(msp_id: &str, name: &str) -> Option<Creator> {
    if !ORGANIZATIONS.contains(&msp_id) {
        return None;
    }
    Some(Creator::new(msp_id, name, role_of(name)?))
}

/// [`DEFAULT_IDENTITY`] of [`DEFAULT_ORGANIZATION`]: `Org1::client`.
pub fn default_creator() -> Creator {
    creator(DEFAULT_ORGANIZATION, DEFAULT_IDENTITY).expect("the default identity exists")
}
