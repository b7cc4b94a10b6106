//! Contract names and versions, and channel names: Fabric's character sets, with bounded
//! lengths.
//!
//! * A name (the contract's state namespace) matches Fabric's chaincode name rule
//!   `^[a-zA-Z0-9]+([-_][a-zA-Z0-9]+)*$` and is at most [`MAX_CONTRACT_NAME_LEN`] bytes. So it
//!   never starts with `_` (reserved for system namespaces such as `_lifecycle`), and holds no
//!   path separator, dot, whitespace, control or invisible character.
//! * A version matches Fabric's chaincode version rule `^[A-Za-z0-9_.+-]+$` and is at most
//!   [`MAX_CONTRACT_VERSION_LEN`] bytes.
//!
//! * A channel name matches Fabric's channel name rule `^[a-z][a-z0-9.-]*$` and is at most
//!   [`MAX_CHANNEL_NAME_LEN`] bytes, so it is also a safe directory name (a node keeps each
//!   channel's data under a directory of its name); [`check_channel`] is called by the
//!   node for every channel it opens or joins, and by `weft channel create`.
//!
//! [`check`] is called at every entry point: the `weft` client before it installs anything,
//! the node's `_lifecycle` endorsement, and the validator's check of a definition
//! (`Channel::decode_definition`, also applied to genesis definitions), so a hand-made
//! lifecycle write with a bad name is invalid too. A refusal states the rule.

use weft_rwset::text::excerpt;

/// Longest contract name, in bytes.
pub const MAX_CONTRACT_NAME_LEN: usize = 64;

/// Longest contract version, in bytes.
pub const MAX_CONTRACT_VERSION_LEN: usize = 64;

/// Longest channel name, in bytes (Fabric's: fewer than 250).
pub const MAX_CHANNEL_NAME_LEN: usize = 249;

/// The channel name rule, as refusals state it.
pub const CHANNEL_RULE: &str = "a channel name is 1 to 249 of the characters a-z, 0-9, '.' \
                                and '-', starting with a letter (Fabric's ^[a-z][a-z0-9.-]*$)";

/// The name rule, as refusals state it.
pub const NAME_RULE: &str = "a contract name is 1 to 64 letters (a-z, A-Z) and digits, with \
                             single '-' or '_' between them (Fabric's \
                             ^[a-zA-Z0-9]+([-_][a-zA-Z0-9]+)*$)";

/// The version rule, as refusals state it.
pub const VERSION_RULE: &str = "a contract version is 1 to 64 of the characters a-z, A-Z, \
                                0-9, '_', '.', '+' and '-' (Fabric's ^[A-Za-z0-9_.+-]+$)";

/// A contract name or version that breaks its rule. The message quotes it escaped and cut
/// (`weft_rwset::text::excerpt`) and states the rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name breaks [`NAME_RULE`].
    #[error("bad contract name \"{0}\": {NAME_RULE}")]
    Name(String),
    /// The channel name breaks [`CHANNEL_RULE`].
    #[error("bad channel name \"{0}\": {CHANNEL_RULE}")]
    Channel(String),
    /// The version breaks [`VERSION_RULE`].
    #[error("bad version \"{version}\" of contract {name}: {VERSION_RULE}")]
    Version {
        /// The contract (quoted as given, cut).
        name: String,
        /// The version (quoted as given, cut).
        version: String,
    },
}

/// Whether `name` is a valid contract name.
pub fn is_valid_name(name: &str) -> bool {
    name.len() <= MAX_CONTRACT_NAME_LEN
        && !name.is_empty()
        && name
            .split(['-', '_'])
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Whether `version` is a valid contract version.
pub fn is_valid_version(version: &str) -> bool {
    (1..=MAX_CONTRACT_VERSION_LEN).contains(&version.len())
        && version.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.+-".contains(&b))
}

/// Whether `name` is a valid channel name.
pub fn is_valid_channel_name(name: &str) -> bool {
    name.len() <= MAX_CHANNEL_NAME_LEN
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b))
}

/// Checks a channel's name.
pub fn check_channel(name: &str) -> Result<(), NameError> {
    match is_valid_channel_name(name) {
        true => Ok(()),
        false => Err(NameError::Channel(excerpt(name))),
    }
}

/// Checks a contract's name and version.
pub fn check(name: &str, version: &str) -> Result<(), NameError> {
    if !is_valid_name(name) {
        return Err(NameError::Name(excerpt(name)));
    }
    if !is_valid_version(version) {
        return Err(NameError::Version { name: name.to_owned(), version: excerpt(version) });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_follow_fabrics_rule() {
        for good in ["dev", "mychannel", "ch1", "a.b-c", &"x".repeat(249)] {
            assert!(check_channel(good).is_ok(), "{good}");
        }
        for bad in ["", "1ch", "Dev", "a_b", "../x", "a/b", ".", "a b", "é", &"x".repeat(250)] {
            let refused = check_channel(bad).unwrap_err().to_string();
            assert!(refused.contains("^[a-z][a-z0-9.-]*$"), "{refused}");
        }
    }

    #[test]
    fn names_follow_fabrics_rule() {
        for good in ["kv", "asset-transfer", "my_cc", "A1", "a-b_c-1", &"x".repeat(64)] {
            assert!(is_valid_name(good), "{good}");
        }
        let long = "x".repeat(65);
        let bad = [
            "",
            "_lifecycle",
            "-a",
            "a-",
            "a--b",
            "a_-b",
            "../x",
            "a/b",
            ".",
            "a.b",
            "a b",
            "a\nb",
            "\u{1b}[31m",
            "a\u{202e}b",
            "é",
            &long,
        ];
        for bad in bad {
            assert!(!is_valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn versions_follow_fabrics_rule() {
        for good in ["1", "1.0.2", "2.0+build.7", "v1_rc-2", &"9".repeat(64)] {
            assert!(is_valid_version(good), "{good}");
        }
        let long = "1".repeat(65);
        for bad in ["", "1 0", "1/2", "1\n", "v1\u{202e}", "1:2", &long] {
            assert!(!is_valid_version(bad), "{bad:?}");
        }
    }

    #[test]
    fn refusals_state_the_rule_and_quote_the_value_safely() {
        let e = check("a/b\n", "1").unwrap_err().to_string();
        assert_eq!(
            e,
            format!("bad contract name \"a/b\\n\": {NAME_RULE}"),
            "the name is escaped and the rule stated"
        );
        let huge = "v".repeat(100_000);
        let e = check("kv", &huge).unwrap_err().to_string();
        assert!(e.starts_with("bad version \"vvv"), "{e}");
        assert!(e.contains("… (100000 bytes)\" of contract kv: a contract version is"), "{e}");
        assert!(e.len() < 400, "{}", e.len());
        check("kv", "1.0").unwrap();
    }
}
