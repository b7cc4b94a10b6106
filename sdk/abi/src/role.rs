//! [`Role`]: what an identity is in its organization, as the creator field carries it.

/// The role of an identity in its organization (Fabric's NodeOU): the channel configuration
/// gives every identity exactly one. It crosses the boundary as its lowercase
/// [`Role::name`] (see [`crate::TxField::CreatorIdentity`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Creates proposals and transactions (the identities applications sign with).
    #[default]
    Client,
    /// Endorses proposals.
    Peer,
    /// Administers the organization (installs and defines contracts).
    Admin,
    /// Orders transactions into blocks.
    Orderer,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::Client, Role::Peer, Role::Admin, Role::Orderer];

    /// The lowercase name: `client`, `peer`, `admin` or `orderer` (as policies and the CLI
    /// write it).
    pub const fn name(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Peer => "peer",
            Role::Admin => "admin",
            Role::Orderer => "orderer",
        }
    }

    /// The role named `name` (exactly as [`Role::name`] writes it), if any.
    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }
}

impl core::fmt::Display for Role {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_nothing_else_parses() {
        for role in Role::ALL {
            assert_eq!(Role::from_name(role.name()), Some(role));
        }
        assert_eq!(Role::from_name("member"), None);
        assert_eq!(Role::from_name("Client"), None);
    }
}
