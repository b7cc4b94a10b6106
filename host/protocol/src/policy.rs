//! Endorsement policies over principals (an organization and a role): AND, OR and k-of-n,
//! evaluated against the identities that produced a valid endorsement, and written in
//! Fabric's syntax: `AND('Org1.peer', 'Org2.peer')`, `OR(...)`, `OutOf(2, ...)`.
//!
//! Only peers endorse. The validator counts an endorsement only when its signer is a peer of
//! the channel, so a client or an admin can never make a policy true by signing a read/write
//! set of its own making; and [`check`] refuses endorsement policies whose principals could
//! only be met by other roles.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use weft_proto::quote::quote;
use weft_proto::v1::{EndorsementPolicy, NOutOf, Principal, endorsement_policy::Rule};

use crate::error::ConfigError;
use crate::identity::{Role, parse_role, role_name};

/// A policy satisfied by one valid endorsement from an identity of `msp_id` with `role`
/// ([`Role::Member`]: any role).
pub fn signed_by(msp_id: &str, role: Role) -> EndorsementPolicy {
    EndorsementPolicy {
        rule: Some(Rule::SignedBy(Principal { msp_id: msp_id.to_string(), role: role as i32 })),
    }
}

/// A policy satisfied by one valid endorsement from a peer of `msp_id` (`Org1.peer`).
pub fn peer(msp_id: &str) -> EndorsementPolicy {
    signed_by(msp_id, Role::Peer)
}

/// A policy satisfied when at least `n` of `rules` are.
pub fn n_of(n: u32, rules: Vec<EndorsementPolicy>) -> EndorsementPolicy {
    EndorsementPolicy { rule: Some(Rule::NOutOf(NOutOf { n, rules })) }
}

/// All of `rules`.
pub fn all(rules: Vec<EndorsementPolicy>) -> EndorsementPolicy {
    let n = rules.len() as u32;
    n_of(n, rules)
}

/// Any one of `rules`.
pub fn any(rules: Vec<EndorsementPolicy>) -> EndorsementPolicy {
    n_of(1, rules)
}

/// A majority of the peers of `orgs` (Fabric's default `MAJORITY Endorsement`): one
/// organization needs its own peer, two need both, three need two.
pub fn majority_of_peers<'a>(orgs: impl IntoIterator<Item = &'a str>) -> EndorsementPolicy {
    let rules: Vec<EndorsementPolicy> = orgs.into_iter().map(peer).collect();
    if rules.len() == 1 {
        return rules.into_iter().next().expect("one rule");
    }
    let majority = u32::try_from(rules.len() / 2 + 1).unwrap_or(u32::MAX);
    n_of(majority, rules)
}

/// Whether the endorsing identities in `endorsed_by` (organization, role) satisfy `policy`.
///
/// ```
/// use std::collections::BTreeSet;
/// use weft_protocol::identity::Role;
/// use weft_protocol::policy::{all, any, n_of, peer, satisfied};
/// let p = all(vec![peer("Org1"), any(vec![peer("Org2"), peer("Org3")])]);
/// let peers = |orgs: &[&'static str]| orgs.iter().map(|o| (*o, Role::Peer)).collect::<BTreeSet<_>>();
/// assert!(satisfied(&p, &peers(&["Org1", "Org3"])));
/// assert!(!satisfied(&p, &peers(&["Org2", "Org3"])));
/// // A client of Org1 is not a peer of Org1.
/// assert!(!satisfied(&peer("Org1"), &BTreeSet::from([("Org1", Role::Client)])));
/// let two_of_three = n_of(2, vec![peer("Org1"), peer("Org2"), peer("Org3")]);
/// assert!(satisfied(&two_of_three, &peers(&["Org2", "Org3"])));
/// ```
pub fn satisfied(policy: &EndorsementPolicy, endorsed_by: &BTreeSet<(&str, Role)>) -> bool {
    match &policy.rule {
        None => false,
        Some(Rule::SignedBy(principal)) => match Role::try_from(principal.role) {
            Ok(Role::Member) => endorsed_by.iter().any(|(org, _)| *org == principal.msp_id),
            Ok(Role::Unspecified) | Err(_) => false,
            Ok(role) => endorsed_by.contains(&(principal.msp_id.as_str(), role)),
        },
        Some(Rule::NOutOf(rule)) => {
            let met = rule.rules.iter().filter(|r| satisfied(r, endorsed_by)).count();
            rule.n > 0 && met >= rule.n as usize
        }
    }
}

/// Checks that an endorsement policy is well-formed: every rule set, every `n` in
/// `1..=rules`, every organization known, every principal a peer (`Org1.peer`) or a member
/// (`Org1.member`, which only an organization's peers can meet, since only peers endorse).
pub fn check(policy: &EndorsementPolicy, known_orgs: &BTreeSet<&str>) -> Result<(), ConfigError> {
    match &policy.rule {
        None => Err(ConfigError("empty endorsement policy rule".into())),
        Some(Rule::SignedBy(principal)) => {
            if !known_orgs.contains(principal.msp_id.as_str()) {
                return Err(ConfigError(format!(
                    "endorsement policy names unknown organization {}",
                    quote(&principal.msp_id)
                )));
            }
            match Role::try_from(principal.role) {
                Ok(Role::Peer | Role::Member) => Ok(()),
                Ok(role) => Err(ConfigError(format!(
                    "endorsement policy names {}.{}: only peers endorse, so an endorsement \
                     policy names peers (e.g. {}.peer)",
                    principal.msp_id,
                    role_name(role),
                    principal.msp_id
                ))),
                Err(_) => Err(ConfigError(format!(
                    "endorsement policy names an unknown role number {} of {}",
                    principal.role, principal.msp_id
                ))),
            }
        }
        Some(Rule::NOutOf(rule)) => {
            if rule.n == 0 || rule.n as usize > rule.rules.len() {
                return Err(ConfigError(format!(
                    "endorsement policy needs {} of {} rules",
                    rule.n,
                    rule.rules.len()
                )));
            }
            rule.rules.iter().try_for_each(|r| check(r, known_orgs))
        }
    }
}

/// `policy` in the syntax [`parse`] reads: `Org1.peer`, `AND(...)`, `OR(...)`, `OutOf(n, ...)`.
///
/// ```
/// use weft_protocol::policy::{all, describe, parse, peer};
/// let p = all(vec![peer("Org1"), peer("Org2")]);
/// assert_eq!(describe(&p), "AND('Org1.peer', 'Org2.peer')");
/// assert_eq!(parse(&describe(&p)).unwrap(), p);
/// ```
pub fn describe(policy: &EndorsementPolicy) -> String {
    let mut out = String::new();
    write_policy(&mut out, policy);
    out
}

fn write_policy(out: &mut String, policy: &EndorsementPolicy) {
    match &policy.rule {
        None => out.push_str("<empty>"),
        Some(Rule::SignedBy(p)) => {
            let role = Role::try_from(p.role).map_or("?", role_name);
            let _ = write!(out, "'{}.{role}'", p.msp_id);
        }
        Some(Rule::NOutOf(rule)) => {
            let n = rule.n as usize;
            match (n, rule.rules.len()) {
                (1, len) if len > 1 => out.push_str("OR("),
                (n, len) if n == len && len > 1 => out.push_str("AND("),
                _ => {
                    let _ = write!(out, "OutOf({n}, ");
                }
            }
            for (i, r) in rule.rules.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_policy(out, r);
            }
            out.push(')');
        }
    }
}

/// The longest policy text [`parse`] reads.
pub const MAX_POLICY_TEXT: usize = 4096;

/// Parses a policy in Fabric's syntax: a principal `Org1.peer` (`member`, `peer`, `admin`,
/// `client`; quotes optional), `AND(p, ...)`, `OR(p, ...)` or `OutOf(n, p, ...)` (keywords in
/// any case). The result is not [`check`]ed against a channel.
///
/// ```
/// use weft_protocol::policy::{n_of, parse, peer};
/// let p = parse("OutOf(2, 'Org1.peer', \"Org2.peer\", Org3.peer)").unwrap();
/// assert_eq!(p, n_of(2, vec![peer("Org1"), peer("Org2"), peer("Org3")]));
/// assert!(parse("AND(Org1.peer,").unwrap_err().to_string().contains("at character 15"));
/// ```
pub fn parse(text: &str) -> Result<EndorsementPolicy, ConfigError> {
    if text.len() > MAX_POLICY_TEXT {
        return Err(ConfigError(format!(
            "the policy is {} bytes; at most {MAX_POLICY_TEXT}",
            text.len()
        )));
    }
    let mut parser = Parser { text, pos: 0, depth: 0 };
    let policy = parser.policy()?;
    parser.skip_space();
    if parser.pos != text.len() {
        return Err(parser.error("unexpected text after the policy"));
    }
    Ok(policy)
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> ConfigError {
        ConfigError(format!(
            "bad endorsement policy at character {}: {what} (write e.g. \
             AND('Org1.peer', 'Org2.peer'), OR(...), OutOf(2, ...) or Org1.peer)",
            self.pos + 1
        ))
    }

    fn skip_space(&mut self) {
        let rest = &self.text[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_space();
        if self.text[self.pos..].starts_with(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn word(&mut self) -> &str {
        self.skip_space();
        let rest = &self.text[self.pos..];
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || "._-@".contains(c)))
            .unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    fn policy(&mut self) -> Result<EndorsementPolicy, ConfigError> {
        self.depth += 1;
        if self.depth > 16 {
            return Err(self.error("nested more than 16 deep"));
        }
        self.skip_space();
        let opening = ['\'', '"'].into_iter().find(|q| self.text[self.pos..].starts_with(*q));
        if let Some(q) = opening {
            self.pos += 1;
            let policy = self.principal()?;
            if !self.text[self.pos..].starts_with(q) {
                return Err(self.error("unclosed quote"));
            }
            self.pos += 1;
            self.depth -= 1;
            return Ok(policy);
        }
        let start = self.pos;
        let word = self.word().to_string();
        if !self.eat('(') {
            self.pos = start;
            let policy = self.principal()?;
            self.depth -= 1;
            return Ok(policy);
        }
        let n = match word.to_ascii_lowercase().as_str() {
            "and" | "or" => None,
            "outof" => {
                let n =
                    self.word().parse::<u32>().map_err(|_| self.error("OutOf needs a count"))?;
                if !self.eat(',') {
                    return Err(self.error("expected ',' after the count"));
                }
                Some(n)
            }
            _ => return Err(self.error(&format!("unknown operator {}", quote(&word)))),
        };
        let mut rules = vec![self.policy()?];
        while self.eat(',') {
            rules.push(self.policy()?);
        }
        if !self.eat(')') {
            return Err(self.error("expected ',' or ')'"));
        }
        self.depth -= 1;
        let n = match word.to_ascii_lowercase().as_str() {
            "and" => rules.len() as u32,
            "or" => 1,
            _ => n.expect("OutOf has a count"),
        };
        Ok(n_of(n, rules))
    }

    fn principal(&mut self) -> Result<EndorsementPolicy, ConfigError> {
        let word = self.word().to_string();
        let Some((org, role)) = word.rsplit_once('.') else {
            return Err(self.error(&format!("{} is not a principal ORG.ROLE", quote(&word))));
        };
        let role = parse_role(role).ok_or_else(|| {
            self.error(&format!("unknown role {} (member, peer, admin, client)", quote(role)))
        })?;
        if org.is_empty() {
            return Err(self.error("a principal needs an organization"));
        }
        Ok(signed_by(org, role))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(orgs: &[&'static str]) -> BTreeSet<(&'static str, Role)> {
        orgs.iter().map(|o| (*o, Role::Peer)).collect()
    }

    #[test]
    fn table() {
        let and = all(vec![peer("A"), peer("B")]);
        let or = any(vec![peer("A"), peer("B")]);
        let k = n_of(2, vec![peer("A"), peer("B"), peer("C")]);
        let cases: &[(&EndorsementPolicy, &[&'static str], bool)] = &[
            (&and, &["A", "B"], true),
            (&and, &["A"], false),
            (&and, &[], false),
            (&or, &["B"], true),
            (&or, &["C"], false),
            (&k, &["A", "C"], true),
            (&k, &["C"], false),
            (&k, &["A", "B", "C"], true),
        ];
        for (policy, orgs, want) in cases {
            assert_eq!(satisfied(policy, &peers(orgs)), *want, "{orgs:?}");
        }
        let known: BTreeSet<&str> = ["A", "B", "C"].into();
        assert!(check(&k, &known).is_ok());
        assert!(check(&peer("Z"), &known).is_err());
        assert!(check(&n_of(0, vec![peer("A")]), &known).is_err());
        assert!(check(&n_of(2, vec![peer("A")]), &known).is_err());
        assert!(check(&EndorsementPolicy { rule: None }, &known).is_err());
    }

    #[test]
    fn roles_are_matched_and_only_peer_principals_pass_the_check() {
        let signed = |o: &'static str, r: Role| BTreeSet::from([(o, r)]);
        assert!(satisfied(&peer("A"), &signed("A", Role::Peer)));
        for role in [Role::Client, Role::Admin, Role::Orderer] {
            assert!(!satisfied(&peer("A"), &signed("A", role)), "{role:?}");
        }
        assert!(satisfied(&signed_by("A", Role::Member), &signed("A", Role::Client)));
        assert!(!satisfied(&signed_by("A", Role::Member), &signed("B", Role::Peer)));
        assert!(!satisfied(&signed_by("A", Role::Unspecified), &signed("A", Role::Peer)));
        let known: BTreeSet<&str> = ["A"].into();
        assert!(check(&signed_by("A", Role::Member), &known).is_ok());
        let admin = check(&signed_by("A", Role::Admin), &known).unwrap_err().to_string();
        assert!(admin.contains("only peers endorse"), "{admin}");
        assert!(check(&signed_by("A", Role::Unspecified), &known).is_err());
        assert!(check(&any(vec![peer("A"), signed_by("A", Role::Client)]), &known).is_err());
    }

    #[test]
    fn majority() {
        assert_eq!(majority_of_peers(["A"]), peer("A"));
        let three = majority_of_peers(["A", "B", "C"]);
        assert!(satisfied(&three, &peers(&["A", "C"])));
        assert!(!satisfied(&three, &peers(&["B"])));
        assert_eq!(majority_of_peers(["A", "B"]), all(vec![peer("A"), peer("B")]));
    }

    #[test]
    fn parses_and_describes() {
        let cases = [
            ("Org1.peer", peer("Org1")),
            ("'Org1.member'", signed_by("Org1", Role::Member)),
            (" and ( Org1.peer , \"Org2.PEER\" ) ", all(vec![peer("Org1"), peer("Org2")])),
            ("OR('A.peer','B.peer')", any(vec![peer("A"), peer("B")])),
            (
                "OutOf(1, AND(A.peer, B.peer), C.peer)",
                n_of(1, vec![all(vec![peer("A"), peer("B")]), peer("C")]),
            ),
        ];
        for (text, want) in cases {
            let got = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(got, want, "{text}");
            assert_eq!(parse(&describe(&got)).unwrap(), got, "{text}");
        }
        for bad in [
            "",
            "Org1",
            "Org1.boss",
            "AND(",
            "AND(Org1.peer",
            "XOR(Org1.peer)",
            "OutOf(x, A.peer)",
            "'Org1.peer",
            "Org1.peer junk",
            &"AND(".repeat(40),
            &"x".repeat(MAX_POLICY_TEXT + 1),
        ] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.len() < 400, "bounded message: {err}");
        }
        assert_eq!(describe(&peer("Org1")), "'Org1.peer'");
    }
}
