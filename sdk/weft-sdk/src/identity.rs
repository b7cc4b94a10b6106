//! [`Creator`]: who submitted the transaction, as the channel configuration knows them
//! (Fabric's client identity library: `GetID`, `GetMSPID`, the role, `GetAttributeValue`,
//! `AssertAttributeValue`).

use std::collections::BTreeMap;

use crate::ContractError;
pub use weft_abi::Role;

/// The status of the errors the `assert_*` helpers return: the caller is known but not
/// allowed (HTTP's 403 Forbidden).
pub const FORBIDDEN: i32 = 403;

/// Who submitted the transaction: an identity of a channel organization. The node fills it
/// from the channel configuration's entry for the signing key; `MockStub` from the identity
/// the test chose (by default `Org1::client`, as on a dev network).
///
/// ```
/// use weft_sdk::{Context, ContractError, Role};
///
/// fn only_org1_admins(ctx: &Context) -> Result<(), ContractError> {
///     let me = ctx.creator();
///     me.assert_msp_id("Org1")?;
///     me.assert_role(Role::Admin)?;
///     Ok(())
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Creator {
    /// The organization (MSP) id, e.g. `Org1`.
    pub msp_id: String,
    /// The signing public key (32 bytes on a node).
    pub public_key: Vec<u8>,
    /// The role in the organization.
    pub role: Role,
    /// The identity's name, unique in its organization, e.g. `client`.
    pub name: String,
    /// Attributes the channel configuration gives the identity (name to value).
    pub attributes: BTreeMap<String, String>,
}

impl Creator {
    /// The stable, printable id `MSP::name` (e.g. `Org1::client`): unique on the channel and
    /// unchanged when the identity's key is rotated. Use it as an account id.
    pub fn id(&self) -> String {
        format!("{}::{}", self.msp_id, self.name)
    }

    /// The value of attribute `name`, if the identity has it.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).map(String::as_str)
    }

    /// `Ok` if the creator belongs to organization `msp_id`, else a 403 error naming both.
    pub fn assert_msp_id(&self, msp_id: &str) -> Result<(), ContractError> {
        if self.msp_id == msp_id {
            return Ok(());
        }
        Err(self.forbidden(format_args!("only members of {msp_id} may do this")))
    }

    /// `Ok` if the creator has `role`, else a 403 error naming both roles.
    pub fn assert_role(&self, role: Role) -> Result<(), ContractError> {
        if self.role == role {
            return Ok(());
        }
        Err(self.forbidden(format_args!("this needs role {role}; its role is {}", self.role)))
    }

    /// `Ok` if attribute `name` is `value`, else a 403 error naming the attribute.
    pub fn assert_attribute(&self, name: &str, value: &str) -> Result<(), ContractError> {
        match self.attribute(name) {
            Some(v) if v == value => Ok(()),
            Some(v) => {
                Err(self.forbidden(format_args!("attribute {name} must be {value:?}; it is {v:?}")))
            }
            None => Err(self.forbidden(format_args!(
                "attribute {name} must be {value:?}; this identity does not have it"
            ))),
        }
    }

    fn forbidden(&self, why: std::fmt::Arguments<'_>) -> ContractError {
        ContractError::with_status(FORBIDDEN, format!("{} is not allowed: {why}", self.id()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Creator {
        Creator {
            msp_id: "Org2".into(),
            public_key: vec![1; 32],
            role: Role::Client,
            name: "alice".into(),
            attributes: [("dept".to_string(), "sales".to_string())].into(),
        }
    }

    #[test]
    fn assertions_pass_or_say_who_and_why_with_403() {
        let a = alice();
        assert_eq!(a.id(), "Org2::alice");
        assert_eq!(a.attribute("dept"), Some("sales"));
        assert!(a.assert_msp_id("Org2").is_ok() && a.assert_role(Role::Client).is_ok());
        assert!(a.assert_attribute("dept", "sales").is_ok());
        let org = a.assert_msp_id("Org1").unwrap_err();
        assert_eq!(org.status(), 403);
        assert_eq!(org.message(), "Org2::alice is not allowed: only members of Org1 may do this");
        let role = a.assert_role(Role::Admin).unwrap_err();
        assert_eq!(
            role.message(),
            "Org2::alice is not allowed: this needs role admin; its role is client"
        );
        let wrong = a.assert_attribute("dept", "hr").unwrap_err().to_string();
        assert!(wrong.ends_with("attribute dept must be \"hr\"; it is \"sales\""), "{wrong}");
        let missing = a.assert_attribute("level", "3").unwrap_err().to_string();
        assert!(missing.ends_with("this identity does not have it"), "{missing}");
    }
}
