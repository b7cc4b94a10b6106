//! One rule for ed25519 signatures, whether a signature is checked alone or in a batch:
//! [ZIP-215](https://zips.z.cash/zip-0215), through `ed25519-zebra`.
//!
//! Every peer must reach the same verdict on every signature of a block, however it checks
//! it: alone at admission, in a batch at validation, in a batch of another size, or not at
//! all because it checked it before ([`crate::VerifiedSignatures`]). RFC 8032 leaves edge
//! cases open (non-canonical encodings of the key and of `R`, small-order components, the
//! cofactored or the cofactorless equation), and implementations answer them differently:
//! ed25519-dalek's `verify_strict` refuses signatures that its batch check accepts, so a
//! block holding one validated differently depending on which other signatures shared its
//! batch. ZIP-215 fixes every edge case and makes batch verification agree with single
//! verification:
//!
//! * the key and `R` must decode to curve points; non-canonical encodings are accepted;
//! * `S` must be canonical (below the group order);
//! * the cofactored equation `[8][S]B = [8]R + [8][k]A` must hold, `k = SHA-512(R || A || M)`.
//!
//! Every signature an RFC 8032 signer makes satisfies it. Membership still refuses a key of
//! small order when the channel configuration is read (`identity`), so no identity can sign
//! for any message.
//!
//! A batch is checked with random 128-bit coefficients from the operating system, so that a
//! signer cannot make invalid signatures cancel out; when a batch fails, its signatures are
//! checked one by one to find which.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ed25519_zebra::batch;
use ed25519_zebra::{Signature, VerificationKey, VerificationKeyBytes};
use getrandom::SysRng;
use getrandom::rand_core::UnwrapErr;

/// An ed25519 public key, decoded once (its point decompressed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublicKey(VerificationKey);

impl PublicKey {
    /// Decodes a 32-byte public key; `None` when it is not the encoding of a curve point.
    pub fn from_bytes(bytes: &[u8; 32]) -> Option<PublicKey> {
        VerificationKey::try_from(*bytes).ok().map(PublicKey)
    }

    /// The 32-byte encoding, as it was given.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_ref().try_into().expect("a verification key is 32 bytes")
    }

    /// Whether `signature` (64 bytes, `R || S`) is this key's signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        parse(signature).is_some_and(|signature| self.0.verify(&signature, message).is_ok())
    }
}

/// One signature to check: `signature` of `message` by `key`.
#[derive(Clone, Copy, Debug)]
pub struct Check<'a> {
    /// The signer's key.
    pub key: &'a PublicKey,
    /// What was signed.
    pub message: &'a [u8],
    /// The signature, 64 bytes.
    pub signature: &'a [u8],
}

/// Whether each signature verifies, with exactly the verdicts of [`PublicKey::verify`]: all
/// of them in one batch (when there are at least [`min_batch`]), and one by one if the
/// batch fails.
pub fn verify_each(checks: &[Check<'_>]) -> Vec<bool> {
    if checks.len() < min_batch() {
        return one_by_one(checks);
    }
    verify_batch(checks)
}

/// [`verify_each`] with one batch whatever the number of checks.
fn verify_batch(checks: &[Check<'_>]) -> Vec<bool> {
    let mut verifier = batch::Verifier::new();
    for check in checks {
        let Some(signature) = parse(check.signature) else {
            // A malformed signature fails the batch; find it one by one.
            return one_by_one(checks);
        };
        let key = VerificationKeyBytes::from(*check.key.as_bytes());
        verifier.queue((key, signature, check.message));
    }
    if verifier.verify(UnwrapErr(SysRng)).is_ok() {
        return vec![true; checks.len()];
    }
    one_by_one(checks)
}

fn one_by_one(checks: &[Check<'_>]) -> Vec<bool> {
    checks.iter().map(|c| c.key.verify(c.message, c.signature)).collect()
}

/// The fewest signatures [`verify_each`] checks as one batch: below it, one by one costs
/// less. Measured once per process, on first use (see `calibrate_min_batch`), because where
/// the two costs cross depends on the CPU, not only on its instruction set: a batch
/// decompresses each key again and multiplies the base point without its precomputed table,
/// which a single check does not, and how much a batch's shared work saves against that
/// differs between machines. On an AMD EPYC with AVX-512 IFMA a single check took 19 µs and
/// batches of 2 to 4 cost more per signature; on an Intel Xeon with the same instructions
/// a single check took 42 µs and a batch of 2 already cost less (docs/performance.md). The
/// verdicts are the same whichever way a signature is checked, so the measurement decides
/// only the cost.
pub fn min_batch() -> usize {
    static MIN_BATCH: OnceLock<usize> = OnceLock::new();
    *MIN_BATCH.get_or_init(calibrate_min_batch)
}

/// The batch sizes `calibrate_min_batch` tries, smallest first; the largest is its answer
/// when no smaller batch pays.
const TRIED_BATCHES: [usize; 5] = [2, 3, 4, 6, 8];

/// Rounds of the measurement; each kind's fastest round counts, so that a round interrupted
/// by another thread or a page fault does not decide.
const CALIBRATION_ROUNDS: usize = 3;

/// The smallest of [`TRIED_BATCHES`] whose batch check costs less per signature than
/// checks one by one, timed on this CPU: signatures of a proposal's size by distinct keys
/// (the least a batch shares), single checks and each batch size timed in turn, best of
/// [`CALIBRATION_ROUNDS`]. About 2 to 4 ms once per process.
fn calibrate_min_batch() -> usize {
    let largest = TRIED_BATCHES[TRIED_BATCHES.len() - 1];
    let message = [0x5a_u8; 300];
    let signed: Vec<(PublicKey, [u8; 64])> = (0..largest)
        .map(|i| {
            let secret = ed25519_zebra::SigningKey::from([i as u8 + 1; 32]);
            let key = PublicKey(VerificationKey::from(&secret));
            (key, secret.sign(&message).into())
        })
        .collect();
    let checks: Vec<Check<'_>> =
        signed.iter().map(|(key, signature)| Check { key, message: &message, signature }).collect();
    // A way of checking that refuses these good signatures is never chosen.
    let per_signature = |n: usize, batch: bool| {
        let started = Instant::now();
        let verdicts = if batch { verify_batch(&checks[..n]) } else { one_by_one(&checks[..n]) };
        let took = started.elapsed() / n as u32;
        if verdicts.iter().all(|&v| v) { took } else { Duration::MAX }
    };
    let mut single = Duration::MAX;
    let mut batched = [Duration::MAX; TRIED_BATCHES.len()];
    for _ in 0..CALIBRATION_ROUNDS {
        single = single.min(per_signature(4, false));
        for (best, &n) in batched.iter_mut().zip(&TRIED_BATCHES) {
            *best = (*best).min(per_signature(n, true));
        }
    }
    smallest_paying_batch(single, &batched)
}

/// The first of [`TRIED_BATCHES`] whose cost per signature (`batched`, in the same order) is
/// below `single`'s; the largest when none is.
fn smallest_paying_batch(single: Duration, batched: &[Duration; TRIED_BATCHES.len()]) -> usize {
    let largest = TRIED_BATCHES[TRIED_BATCHES.len() - 1];
    TRIED_BATCHES.iter().zip(batched).find(|&(_, &cost)| cost < single).map_or(largest, |(&n, _)| n)
}

fn parse(signature: &[u8]) -> Option<Signature> {
    Signature::from_slice(signature).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::SigningIdentity;
    use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
    use curve25519_dalek::scalar::Scalar;
    use sha2::{Digest, Sha512};

    fn key_of(signer: &SigningIdentity) -> PublicKey {
        let bytes: [u8; 32] = signer.identity().public_key.as_slice().try_into().unwrap();
        PublicKey::from_bytes(&bytes).unwrap()
    }

    /// A signature by the secret scalar `a` whose `R` carries a component of order 8: RFC
    /// 8032's cofactorless equation fails for it and the cofactored one holds, which is
    /// where `verify_strict` and a batch check used to disagree.
    fn torsioned(a: Scalar, public: &[u8; 32], message: &[u8]) -> [u8; 64] {
        let r = Scalar::from_bytes_mod_order([7; 32]);
        let big_r = (ED25519_BASEPOINT_POINT * r + EIGHT_TORSION[1]).compress().to_bytes();
        let hash = Sha512::new().chain_update(big_r).chain_update(public).chain_update(message);
        let k = Scalar::from_bytes_mod_order_wide(&hash.finalize().into());
        let s = r + k * a;
        let mut signature = [0; 64];
        signature[..32].copy_from_slice(&big_r);
        signature[32..].copy_from_slice(s.as_bytes());
        signature
    }

    #[test]
    fn a_signature_has_one_verdict_alone_and_in_any_batch() {
        let signers: Vec<_> =
            (0..4).map(|i| SigningIdentity::from_seed("Org1", &format!("s{i}"))).collect();
        let keys: Vec<_> = signers.iter().map(key_of).collect();
        let messages: Vec<Vec<u8>> = (0..4).map(|i| format!("message {i}").into_bytes()).collect();
        let mut signatures: Vec<Vec<u8>> =
            signers.iter().zip(&messages).map(|(s, m)| s.sign(m)).collect();
        // Signature 1 carries a small-order component; signature 2 is of other bytes.
        let a = Scalar::from_bytes_mod_order([42; 32]);
        let odd_key = (ED25519_BASEPOINT_POINT * a).compress().to_bytes();
        let odd = PublicKey::from_bytes(&odd_key).unwrap();
        let keys = [keys[0], odd, keys[2], keys[3]];
        signatures[1] = torsioned(a, &odd_key, &messages[1]).to_vec();
        signatures[2] = signers[2].sign(b"other bytes");
        let check = |i: usize| Check::<'_> {
            key: &keys[i],
            message: &messages[i],
            signature: &signatures[i],
        };
        let alone: Vec<bool> =
            (0..4).map(|i| keys[i].verify(&messages[i], &signatures[i])).collect();
        assert_eq!(alone, [true, true, false, true]);
        // RFC 8032's strict rule, which the node applied before, refuses signature 1.
        let strict = ed25519_dalek::VerifyingKey::from_bytes(&odd_key).unwrap();
        let as_dalek = ed25519_dalek::Signature::from_slice(&signatures[1]).unwrap();
        assert!(strict.verify_strict(&messages[1], &as_dalek).is_err());
        // Every subset, as one batch and through `verify_each`: the same verdicts.
        for subset in 1..16u32 {
            let chosen: Vec<usize> = (0..4).filter(|i| subset & (1 << i) != 0).collect();
            let checks: Vec<Check<'_>> = chosen.iter().map(|&i| check(i)).collect();
            let expected: Vec<bool> = chosen.iter().map(|&i| alone[i]).collect();
            for _ in 0..8 {
                assert_eq!(verify_batch(&checks), expected, "batch {chosen:?}");
            }
            assert_eq!(verify_each(&checks), expected, "{chosen:?}");
        }
        // Batches as large as `verify_each` makes, holding the odd signatures among good ones.
        let many: Vec<Check<'_>> = (0..2 * min_batch()).map(|i| check(i % 4)).collect();
        let expected: Vec<bool> = (0..many.len()).map(|i| alone[i % 4]).collect();
        assert_eq!(verify_each(&many), expected);
        let good: Vec<Check<'_>> =
            many.iter().copied().filter(|c| c.signature != signatures[2]).collect();
        assert_eq!(verify_each(&good), vec![true; good.len()]);
    }

    #[test]
    fn the_smallest_batch_that_costs_less_than_single_checks_is_chosen() {
        let us = Duration::from_micros;
        // As on the EPYC: single checks cheap, only batches of 8 pay.
        assert_eq!(smallest_paying_batch(us(19), &[us(23), us(21), us(20), us(19), us(17)]), 8);
        // As on the Xeon: a batch of 2 already pays.
        assert_eq!(smallest_paying_batch(us(42), &[us(39), us(34), us(34), us(30), us(28)]), 2);
        // A cost equal to a single check's does not pay; the first cheaper size is taken.
        assert_eq!(smallest_paying_batch(us(30), &[us(30), us(31), us(29), us(25), us(20)]), 4);
        // Nothing pays (or every batch failed its measurement): the largest size tried.
        assert_eq!(smallest_paying_batch(us(10), &[Duration::MAX; TRIED_BATCHES.len()]), 8);
        // The measurement on this CPU answers one of the sizes.
        assert!(TRIED_BATCHES.contains(&calibrate_min_batch()));
    }

    #[test]
    fn malformed_signatures_and_keys_are_refused_by_name() {
        let signer = SigningIdentity::from_seed("Org1", "client");
        let key = key_of(&signer);
        let good = signer.sign(b"m");
        assert!(key.verify(b"m", &good));
        assert!(!key.verify(b"m", &good[..63]));
        assert!(!key.verify(b"m", &[good.as_slice(), &[0]].concat()));
        // S not below the group order.
        let mut high = good.clone();
        high[63] |= 0xf0;
        assert!(!key.verify(b"m", &high));
        let checks = [
            Check { key: &key, message: b"m", signature: &good },
            Check { key: &key, message: b"m", signature: &good[..10] },
            Check { key: &key, message: b"m", signature: &high },
        ];
        assert_eq!(verify_each(&checks), [true, false, false]);
        assert_eq!(key.as_bytes().as_slice(), signer.identity().public_key.as_slice());
        // About half of all y coordinates are not on the curve.
        let not_a_point = (0..32u8).map(|y| [y; 32]).find(|b| PublicKey::from_bytes(b).is_none());
        assert!(not_a_point.is_some());
    }
}
