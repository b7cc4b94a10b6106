//! The golden hash: a fixed contract on fixed input must give one fixed hash of (response,
//! read/write set, events, fuel used). It guards `engine::build_config` and the fuel costs:
//! any change to how contracts execute or are metered changes the hash. If you changed them on
//! purpose, update `GOLDEN` and say why in `docs/determinism.md`.
//!
//! The contract is a WAT fixture (fixed bytes), not a Rust sample, so SDK changes do not move
//! the hash; it exercises host calls, ranges, events, floats, bulk memory and growth.

mod common;

use common::*;
use weft_proto::prost::Message;
use weft_runtime::{Invocation, Outcome};

const GOLDEN: &str = "e30ced9442dafa93de54f5ddd753db3ea191a677e2b455c8ce707430f198e9ff";

fn absorb(hasher: &mut blake3::Hasher, outcome: &Outcome) {
    match outcome {
        Ok(sim) => {
            hasher.update(b"ok");
            hasher.update(&sim.response.encode_to_vec());
            hasher.update(&sim.rwset.encode_to_vec());
            for event in &sim.events {
                hasher.update(&event.encode_to_vec());
            }
            hasher.update(&sim.fuel_used.to_le_bytes());
        }
        Err(failure) => {
            hasher.update(b"failed");
            hasher.update(failure.kind.as_str().as_bytes());
            hasher.update(&failure.status.to_le_bytes());
            hasher.update(failure.message.as_bytes());
            hasher.update(&failure.fuel_used.to_le_bytes());
        }
    }
}

const COMPUTE: &str = r#"(func (export "weft_invoke") (result i32) (local $i i32) (local $f f64)
    (local.set $f (f64.const 1.5))
    (loop $l
      (local.set $f (f64.add (f64.mul (local.get $f) (f64.const 1.0001)) (f64.div (f64.const 0) (f64.const 0))))
      (memory.fill (i32.const 1024) (local.get $i) (i32.const 256))
      (memory.copy (i32.const 2048) (i32.const 1024) (i32.const 256))
      (br_if $l (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 1000))))
    (drop (memory.grow (i32.const 0)))
    (drop (memory.grow (i32.const 1)))
    (f64.store (i32.const 600) (local.get $f))
    (call $respond (i32.const 200) (i32.const 600) (i32.const 8)) i32.const 0)"#;

#[test]
fn golden_hash_of_a_fixed_contract_on_fixed_input() {
    let (sim, _dir) = simulator();
    let kv = sim.deploy(&kv()).unwrap();
    let compute = sim.deploy(&contract(COMPUTE)).unwrap();
    let mut hasher = blake3::Hasher::new();
    let calls: &[(&str, &[&str])] = &[
        ("scan", &["", ""]),
        ("scan", &["a", "b"]),
        ("putget", &["a", "new"]),
        ("get", &["zz"]),
        ("del", &["c"]),
        ("event", &["payload"]),
        ("log", &["hello"]),
        ("fail", &[]),
    ];
    for (function, args) in calls {
        let mut inv = Invocation::new("golden", function, args);
        inv.tx_id = format!("tx-{function}");
        absorb(&mut hasher, &sim.invoke(&kv, &inv, state(), None).unwrap());
    }
    let inv = Invocation::new("golden", "compute", &[""; 0]);
    absorb(&mut hasher, &sim.invoke(&compute, &inv, state(), None).unwrap());
    let hash = hasher.finalize().to_hex().to_string();
    assert_eq!(hash, GOLDEN, "the golden hash moved: execution or metering changed");
}
