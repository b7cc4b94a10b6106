//! [`VerifiedSignatures`]: signatures this process has already checked or made, so that
//! validation does not check them again.
//!
//! On a peer every transaction's signatures used to be checked twice: the client's envelope
//! signature when the orderer admits it and again when the block is validated, and the
//! peer's own endorsement, made by this process, verified at validation. (Fabric checks each
//! proposal's signatures twice too; the profile puts signature checks at ~30% of its
//! CPU per transaction.) The orderer and the endorser record what they verified or signed
//! here, and the validator skips exactly those.
//!
//! Soundness: an entry is the blake3 hash of (public key, signature, message), recorded only
//! after [`PublicKey::verify`] or a batch ([`crate::signature::verify_each`], the same
//! verdicts) accepted that triple, or for a signature this process made with its own key.
//! So a block validates to the same codes with or without the cache, and on a peer that
//! never saw the transactions before. The set is bounded: when full, the oldest entries are
//! forgotten (their signatures are then simply verified again), and a hit removes its entry.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use crate::signature::PublicKey;

/// Entries kept by default: two per transaction (envelope, endorsement) for a full ordering
/// queue of 10,000 transactions plus blocks in flight, about 1.5 MiB at most.
const DEFAULT_CAPACITY: usize = 32_768;

/// A bounded set of signatures known to verify. See the module documentation.
#[derive(Debug)]
pub struct VerifiedSignatures {
    capacity: usize,
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    set: HashSet<[u8; 32]>,
    order: VecDeque<[u8; 32]>,
}

impl Default for VerifiedSignatures {
    fn default() -> Self {
        VerifiedSignatures::with_capacity(DEFAULT_CAPACITY)
    }
}

impl VerifiedSignatures {
    /// A set holding at most `capacity` entries (0: remembers nothing).
    pub fn with_capacity(capacity: usize) -> VerifiedSignatures {
        VerifiedSignatures { capacity, entries: Mutex::default() }
    }

    /// Records a signature the caller verified with [`PublicKey::verify`] or
    /// [`crate::signature::verify_each`], nothing else.
    pub fn verified(&self, key: &PublicKey, message: &[u8], signature: &[u8]) {
        self.remember(entry(key.as_bytes(), message, signature));
    }

    /// Records a signature this process made over `message` with the secret key of
    /// `public_key`.
    pub fn made(&self, public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) {
        self.remember(entry(public_key, message, signature));
    }

    /// Whether this exact signature was recorded; forgets it if so (a signature is
    /// validated once).
    pub fn take(&self, key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
        if self.capacity == 0 {
            return false;
        }
        let entry = entry(key.as_bytes(), message, signature);
        self.entries.lock().expect("verified signatures").set.remove(&entry)
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.entries.lock().expect("verified signatures").set.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn remember(&self, entry: [u8; 32]) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.lock().expect("verified signatures");
        if !entries.set.insert(entry) {
            return;
        }
        entries.order.push_back(entry);
        // Entries taken by validation stay in `order` until they reach its front; the queue
        // is bounded at twice the capacity so it cannot grow without end.
        while entries.set.len() > self.capacity || entries.order.len() > 2 * self.capacity {
            let Some(oldest) = entries.order.pop_front() else { break };
            entries.set.remove(&oldest);
        }
    }
}

fn entry(public_key: &[u8; 32], message: &[u8], signature: &[u8]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(public_key);
    hasher.update(signature);
    hasher.update(message);
    *hasher.finalize().as_bytes()
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};

    use super::*;

    #[test]
    fn remembers_only_what_verified_and_forgets_on_take_and_when_full() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let public = PublicKey::from_bytes(key.verifying_key().as_bytes()).unwrap();
        let sign = |message: &[u8]| key.sign(message).to_bytes();
        let signature = sign(b"payload");
        let cache = VerifiedSignatures::with_capacity(2);

        // What the caller verified (alone or in a batch), nothing else.
        assert!(!cache.take(&public, b"other payload", &signature));
        cache.verified(&public, b"payload", &signature);
        assert!(cache.take(&public, b"payload", &signature));
        assert!(!cache.take(&public, b"payload", &signature), "taken once");

        // What this process signed itself.
        let own = sign(b"endorsement");
        cache.made(public.as_bytes(), b"endorsement", &own);
        assert!(!cache.take(&public, b"endorsement!", &own), "the message is part of it");
        assert!(cache.take(&public, b"endorsement", &own));

        // Bounded: the oldest goes first.
        for message in [&b"a"[..], b"b", b"c"] {
            cache.verified(&public, message, &sign(message));
        }
        assert_eq!(cache.len(), 2);
        assert!(!cache.take(&public, b"a", &sign(b"a")));
        assert!(cache.take(&public, b"c", &sign(b"c")));

        let none = VerifiedSignatures::with_capacity(0);
        none.verified(&public, b"payload", &signature);
        assert!(none.is_empty() && !none.take(&public, b"payload", &signature));
    }
}
