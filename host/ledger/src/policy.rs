//! Endorsement policies over organizations: AND, OR and k-of-n, evaluated against the set of
//! organizations that produced a valid endorsement.

use std::collections::BTreeSet;

use weft_proto::v1::{EndorsementPolicy, NOutOf, endorsement_policy::Rule};

use crate::error::{Error, Result};

/// A policy satisfied by one valid endorsement from `org`.
pub fn org(msp_id: &str) -> EndorsementPolicy {
    EndorsementPolicy { rule: Some(Rule::Org(msp_id.to_string())) }
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

/// Whether the organizations in `endorsed_by` satisfy `policy`.
///
/// ```
/// use std::collections::BTreeSet;
/// use weft_ledger::policy::{all, any, n_of, org, satisfied};
/// let p = all(vec![org("Org1"), any(vec![org("Org2"), org("Org3")])]);
/// assert!(satisfied(&p, &BTreeSet::from(["Org1", "Org3"])));
/// assert!(!satisfied(&p, &BTreeSet::from(["Org2", "Org3"])));
/// let two_of_three = n_of(2, vec![org("Org1"), org("Org2"), org("Org3")]);
/// assert!(satisfied(&two_of_three, &BTreeSet::from(["Org2", "Org3"])));
/// assert!(!satisfied(&two_of_three, &BTreeSet::from(["Org2"])));
/// ```
pub fn satisfied(policy: &EndorsementPolicy, endorsed_by: &BTreeSet<&str>) -> bool {
    match &policy.rule {
        None => false,
        Some(Rule::Org(org)) => endorsed_by.contains(org.as_str()),
        Some(Rule::NOutOf(rule)) => {
            let met = rule.rules.iter().filter(|r| satisfied(r, endorsed_by)).count();
            rule.n > 0 && met >= rule.n as usize
        }
    }
}

/// Checks that a policy is well-formed: every rule set, every `n` in `1..=rules`, every
/// organization known.
pub fn check(policy: &EndorsementPolicy, known_orgs: &BTreeSet<&str>) -> Result<()> {
    match &policy.rule {
        None => Err(Error::Config("empty endorsement policy rule".into())),
        Some(Rule::Org(org)) if !known_orgs.contains(org.as_str()) => {
            Err(Error::Config(format!("endorsement policy names unknown organization {org:?}")))
        }
        Some(Rule::Org(_)) => Ok(()),
        Some(Rule::NOutOf(rule)) => {
            if rule.n == 0 || rule.n as usize > rule.rules.len() {
                return Err(Error::Config(format!(
                    "endorsement policy needs {} of {} rules",
                    rule.n,
                    rule.rules.len()
                )));
            }
            rule.rules.iter().try_for_each(|r| check(r, known_orgs))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let set = |orgs: &[&'static str]| orgs.iter().copied().collect::<BTreeSet<&str>>();
        let and = all(vec![org("A"), org("B")]);
        let or = any(vec![org("A"), org("B")]);
        let k = n_of(2, vec![org("A"), org("B"), org("C")]);
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
            assert_eq!(satisfied(policy, &set(orgs)), *want, "{orgs:?}");
        }
        let known = set(&["A", "B", "C"]);
        assert!(check(&k, &known).is_ok());
        assert!(check(&org("Z"), &known).is_err());
        assert!(check(&n_of(0, vec![org("A")]), &known).is_err());
        assert!(check(&n_of(2, vec![org("A")]), &known).is_err());
        assert!(check(&EndorsementPolicy { rule: None }, &known).is_err());
    }
}
