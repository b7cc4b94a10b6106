//! Which organizations to ask next for an endorsement: a pure function of the endorsement
//! policy, the organizations that endorsed already and those that cannot.
//!
//! Only peers endorse, so a principal `Org1.peer` (or `Org1.member`) is met by one valid
//! endorsement of a peer of `Org1`, and a policy is a condition on the set of organizations
//! that endorsed. [`next_step`] picks the fewest organizations that, with those that endorsed
//! already, satisfy it, preferring those earlier in the order given (the channel
//! configuration's); when one of them fails, the caller marks it unavailable and asks again,
//! so the next organization that can still satisfy the policy is tried.

use std::collections::BTreeSet;

use weft_proto::v1::EndorsementPolicy;
use weft_proto::v1::endorsement_policy::Rule;
use weft_protocol::identity::Role;
use weft_protocol::policy;

/// Past this many organizations to choose from, the smallest set is not searched for: the
/// organizations are taken in order until the policy is met, then those not needed are
/// dropped (a set no smaller one contains, not always the smallest).
const EXACT_SEARCH_MAX: usize = 12;

/// What the gateway does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// The endorsements gathered satisfy the policy.
    Satisfied,
    /// Ask these organizations (each once, concurrently), in the order given.
    Ask(Vec<String>),
    /// No choice of the organizations still available satisfies the policy.
    Impossible,
}

/// The next step towards satisfying `policy`, given the organizations that `endorsed`
/// already and those `unavailable` (failed, or listing no peers). `order` is every
/// organization of the channel, in the order to prefer them.
pub(crate) fn next_step(
    policy: &EndorsementPolicy,
    endorsed: &BTreeSet<String>,
    unavailable: &BTreeSet<String>,
    order: &[String],
) -> Step {
    if satisfied(policy, endorsed.iter()) {
        return Step::Satisfied;
    }
    let named = organizations(policy);
    let candidates: Vec<&String> = order
        .iter()
        .filter(|org| named.contains(org.as_str()))
        .filter(|org| !endorsed.contains(*org) && !unavailable.contains(*org))
        .collect();
    let meets =
        |chosen: &[&String]| satisfied(policy, endorsed.iter().chain(chosen.iter().copied()));
    if !meets(&candidates) {
        return Step::Impossible;
    }
    let chosen = if candidates.len() <= EXACT_SEARCH_MAX {
        smallest(&candidates, &meets)
    } else {
        pruned(candidates, &meets)
    };
    Step::Ask(chosen.into_iter().cloned().collect())
}

/// Whether endorsements by peers of `orgs` satisfy `policy`.
fn satisfied<'a>(policy: &EndorsementPolicy, orgs: impl Iterator<Item = &'a String>) -> bool {
    let peers: BTreeSet<(&str, Role)> = orgs.map(|org| (org.as_str(), Role::Peer)).collect();
    policy::satisfied(policy, &peers)
}

/// The organizations `policy` names.
pub(super) fn organizations(policy: &EndorsementPolicy) -> BTreeSet<&str> {
    let mut orgs = BTreeSet::new();
    let mut stack = vec![policy];
    while let Some(p) = stack.pop() {
        match &p.rule {
            Some(Rule::SignedBy(principal)) => {
                orgs.insert(principal.msp_id.as_str());
            }
            Some(Rule::NOutOf(rule)) => stack.extend(&rule.rules),
            None => {}
        }
    }
    orgs
}

/// The smallest subset of `candidates` that `meets` the policy, the first in order among
/// those of its size (subsets of each size are tried in lexicographic order of positions).
/// `candidates` as a whole meets it.
fn smallest<'a>(candidates: &[&'a String], meets: &dyn Fn(&[&String]) -> bool) -> Vec<&'a String> {
    let n = candidates.len();
    for size in 1..=n {
        // Positions of the current subset, increasing.
        let mut at: Vec<usize> = (0..size).collect();
        loop {
            let chosen: Vec<&String> = at.iter().map(|&i| candidates[i]).collect();
            if meets(&chosen) {
                return chosen;
            }
            // The next subset of this size: bump the last position that can move.
            let Some(i) = (0..size).rev().find(|&i| at[i] < n - size + i) else { break };
            at[i] += 1;
            for j in i + 1..size {
                at[j] = at[j - 1] + 1;
            }
        }
    }
    candidates.to_vec()
}

/// `candidates` (which meets the policy) without each organization, last first, that is not
/// needed.
fn pruned<'a>(mut chosen: Vec<&'a String>, meets: &dyn Fn(&[&String]) -> bool) -> Vec<&'a String> {
    for i in (0..chosen.len()).rev() {
        let without: Vec<&String> =
            chosen.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, o)| *o).collect();
        if meets(&without) {
            chosen.remove(i);
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use weft_protocol::policy::{all, any, n_of, parse, peer, signed_by};

    use super::*;

    fn set(orgs: &[&str]) -> BTreeSet<String> {
        orgs.iter().map(|o| o.to_string()).collect()
    }

    fn ask(orgs: &[&str]) -> Step {
        Step::Ask(orgs.iter().map(|o| o.to_string()).collect())
    }

    #[test]
    fn the_fewest_organizations_are_asked_and_failures_move_on_to_the_next() {
        let order: Vec<String> = ["Org1", "Org2", "Org3", "Org4"].map(String::from).to_vec();
        let and = "AND('Org1.peer', 'Org2.peer')";
        let or = "OR('Org1.peer', 'Org2.peer', 'Org3.peer')";
        let two_of_three = "OutOf(2, 'Org1.peer', 'Org2.peer', 'Org3.peer')";
        let nested = "OR(AND('Org2.peer', 'Org3.peer'), 'Org4.peer')";
        let deep = "AND('Org1.peer', OR(AND('Org2.peer', 'Org3.peer'), OutOf(1, 'Org4.member')))";
        // (policy, endorsed, unavailable, step)
        let cases: &[(&str, &[&str], &[&str], Step)] = &[
            // A node that is a peer of every organization needed asks nobody.
            (and, &["Org1", "Org2"], &[], Step::Satisfied),
            (and, &["Org1"], &[], ask(&["Org2"])),
            (and, &[], &[], ask(&["Org1", "Org2"])),
            (and, &["Org1"], &["Org2"], Step::Impossible),
            (or, &["Org1"], &[], Step::Satisfied),
            (or, &["Org4"], &[], ask(&["Org1"])),
            (or, &["Org4"], &["Org1"], ask(&["Org2"])),
            (or, &["Org4"], &["Org1", "Org2"], ask(&["Org3"])),
            (or, &["Org4"], &["Org1", "Org2", "Org3"], Step::Impossible),
            (two_of_three, &["Org1"], &[], ask(&["Org2"])),
            (two_of_three, &["Org1"], &["Org2"], ask(&["Org3"])),
            (two_of_three, &[], &["Org1"], ask(&["Org2", "Org3"])),
            (two_of_three, &["Org2", "Org3"], &[], Step::Satisfied),
            (two_of_three, &["Org4"], &["Org1", "Org2"], Step::Impossible),
            // One organization of the OR beats two of the AND, though they come first.
            (nested, &["Org1"], &[], ask(&["Org4"])),
            (nested, &["Org1"], &["Org4"], ask(&["Org2", "Org3"])),
            (nested, &["Org2"], &[], ask(&["Org3"])),
            (nested, &["Org2"], &["Org3", "Org4"], Step::Impossible),
            (deep, &["Org1"], &[], ask(&["Org4"])),
            (deep, &["Org1", "Org2"], &[], ask(&["Org3"])),
            (deep, &["Org4"], &[], ask(&["Org1"])),
            (deep, &[], &["Org1"], Step::Impossible),
        ];
        for (text, endorsed, unavailable, want) in cases {
            let policy = parse(text).unwrap();
            let got = next_step(&policy, &set(endorsed), &set(unavailable), &order);
            assert_eq!(&got, want, "{text} endorsed by {endorsed:?}, {unavailable:?} unavailable");
        }
    }

    #[test]
    fn the_lifecycle_majority_and_preference_order() {
        let orgs = ["Org1", "Org2", "Org3"];
        let majority = policy::majority_of_peers(orgs);
        let order: Vec<String> = orgs.map(String::from).to_vec();
        assert_eq!(next_step(&majority, &set(&["Org2"]), &set(&[]), &order), ask(&["Org1"]));
        assert_eq!(next_step(&majority, &set(&["Org2"]), &set(&["Org1"]), &order), ask(&["Org3"]));
        // The order given decides among equally small choices.
        let reversed: Vec<String> = order.iter().rev().cloned().collect();
        assert_eq!(next_step(&majority, &set(&["Org2"]), &set(&[]), &reversed), ask(&["Org3"]));
        // An organization the policy does not name is never asked; a member principal is met
        // by the organization's peer.
        let member = any(vec![signed_by("Org3", Role::Member)]);
        assert_eq!(next_step(&member, &set(&["Org1"]), &set(&[]), &order), ask(&["Org3"]));
        // An organization the channel does not list (not in the order) is never asked.
        let stranger = all(vec![peer("Org1"), peer("Org9")]);
        assert_eq!(next_step(&stranger, &set(&["Org1"]), &set(&[]), &order), Step::Impossible);
    }

    #[test]
    fn many_organizations_are_planned_without_searching_every_subset() {
        let order: Vec<String> = (1..=40).map(|i| format!("Org{i}")).collect();
        let rules = order.iter().map(|o| peer(o)).collect();
        let policy = n_of(21, rules);
        let Step::Ask(chosen) = next_step(&policy, &set(&["Org40"]), &set(&["Org1"]), &order)
        else {
            panic!("a plan");
        };
        assert_eq!(chosen.len(), 20, "{chosen:?}");
        assert!(!chosen.contains(&"Org1".to_string()) && !chosen.contains(&"Org40".to_string()));
        assert_eq!(chosen.first().map(String::as_str), Some("Org2"));
    }
}
