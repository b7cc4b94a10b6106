//! Runs Fabric's asset-transfer sample as real `.wasm` in-process: deploy, init, transfer,
//! a conflicting pair in one block, and a query, printing what each step recorded.
//!
//! Run with: `cargo run --release -p weft-runtime --example asset-transfer`

use weft_runtime::{Harness, Outcome};

fn show(step: &str, outcome: &Outcome) {
    match outcome {
        Ok(sim) => println!(
            "{step}: status {} ({} fuel), payload {}, reads {}, writes {}, events {}",
            sim.response.status,
            sim.fuel_used,
            String::from_utf8_lossy(&sim.response.payload),
            sim.rwset.reads.len(),
            sim.rwset.writes.len(),
            sim.events.len(),
        ),
        Err(failure) => println!("{step}: {failure}"),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let wasm = std::fs::read(weft_contract_artifacts::ASSET_TRANSFER)?;
    let mut harness = Harness::new()?;
    let started = std::time::Instant::now();
    let hash = harness.deploy("basic", &wasm)?;
    println!(
        "deployed asset-transfer ({} KiB, code {hash}) in {:.1} ms",
        wasm.len() / 1024,
        started.elapsed().as_secs_f64() * 1e3
    );

    show("InitLedger", &harness.submit("basic", "InitLedger", &[] as &[&str])?);
    show(
        "TransferAsset asset1 -> Kim",
        &harness.submit("basic", "TransferAsset", &["asset1", "Kim"])?,
    );

    // Two transfers of the same asset simulated against the same committed state, then
    // ordered into one block: the validator lets the first through and reports the second.
    show(
        "TransferAsset asset2 -> Ann",
        &harness.invoke("basic", "TransferAsset", &["asset2", "Ann"])?,
    );
    show(
        "TransferAsset asset2 -> Bob",
        &harness.invoke("basic", "TransferAsset", &["asset2", "Bob"])?,
    );
    print!("{}", harness.commit()?);

    show("ReadAsset asset2", &harness.query("basic", "ReadAsset", &["asset2"])?);
    show("ReadAsset missing", &harness.query("basic", "ReadAsset", &["missing"])?);
    Ok(())
}
