//! What one ed25519 signature costs: signing (AWS-LC), one check alone, and checks in
//! batches of the sizes the node forms (`weft_node::signature_checks` batches up to 32).
//!
//! Run with: `cargo bench -p weft-protocol --bench signatures`
//!
//! The verification figures depend on the backend curve25519-dalek picks at run time: AVX-512
//! IFMA where the CPU has it and the build enables it (`.cargo/config.toml`), else AVX2.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use weft_protocol::identity::SigningIdentity;
use weft_protocol::signature::{Check, PublicKey, verify_each};

/// Signers, messages about the size of a proposal, and their signatures.
fn signed(n: usize) -> (Vec<PublicKey>, Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let signers: Vec<_> =
        (0..n).map(|i| SigningIdentity::from_seed("Org1", &format!("bench-{i}"))).collect();
    let keys = signers
        .iter()
        .map(|s| {
            let bytes: [u8; 32] = s.identity().public_key.as_slice().try_into().unwrap();
            PublicKey::from_bytes(&bytes).unwrap()
        })
        .collect();
    let messages: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8; 400]).collect();
    let signatures = signers.iter().zip(&messages).map(|(s, m)| s.sign(m)).collect();
    (keys, messages, signatures)
}

fn signatures(c: &mut Criterion) {
    // `verify_each` checks fewer signatures than this one by one (measured on this CPU).
    println!("min_batch on this CPU: {}", weft_protocol::signature::min_batch());
    let (keys, messages, signatures) = signed(32);
    let signer = SigningIdentity::from_seed("Org1", "bench-signer");
    c.bench_function("sign", |b| b.iter(|| signer.sign(&messages[0])));
    c.bench_function("verify alone", |b| {
        b.iter(|| assert!(keys[0].verify(&messages[0], &signatures[0])))
    });
    let mut group = c.benchmark_group("verify_each");
    for n in [2, 3, 4, 8, 16, 32] {
        let checks: Vec<Check<'_>> = (0..n)
            .map(|i| Check { key: &keys[i], message: &messages[i], signature: &signatures[i] })
            .collect();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &checks, |b, checks| {
            b.iter(|| assert!(verify_each(checks).iter().all(|ok| *ok)))
        });
    }
    group.finish();
}

criterion_group!(benches, signatures);
criterion_main!(benches);
