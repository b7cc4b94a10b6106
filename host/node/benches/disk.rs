//! Disk per transaction for the `weft bench` workload: asset-transfer `TransferAsset` (1 read,
//! 1 write, one endorsement) submitted through a real node over gRPC by concurrent clients, and
//! what the ledger stores for it: block store (envelopes, block headers and metadata, hash and
//! transaction-id indexes), state and history, and sled's size on disk.
//!
//! Run with: `cargo bench -p weft-node --bench disk` (options: `-- --txs 4000`,
//! `--clients 16`). The figures are byte counts, independent of the machine's speed.

use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use prost::Message;
use weft_client::{Client, Deploy};
use weft_ledger::{Footprint, Usage};
use weft_node::Node;
use weft_node::devnet::{DevNetwork, Transport};
use weft_proto::v1::TxValidationCode;
use weft_protocol::decoded::DecodedTx;
use weft_protocol::policy;

/// The name `weft dev` deploys the sample under, as `weft bench` expects it.
const CONTRACT: &str = "asset-transfer";
/// Assets per client, as in `weft bench`.
const KEYS_PER_CLIENT: usize = 2;

fn arg(name: &str, default: usize) -> Result<usize> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)) {
        Some(v) => v.parse().with_context(|| format!("{name} {v}")),
        None => Ok(default),
    }
}

fn asset_id(client: usize, k: usize) -> String {
    format!("bench-c{client}-{k}")
}

fn args(args: &[&str]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.as_bytes().to_vec()).collect()
}

#[tokio::main]
async fn main() -> Result<()> {
    let txs = arg("--txs", 4000)?;
    let clients = arg("--clients", 16)?;
    let dir = tempfile::tempdir()?;
    let net = DevNetwork::at(dir.path().join("dev"));
    // `weft init`'s defaults: 20 ms batch timeout, durable commits, history index on.
    let config = net.create("dev", "127.0.0.1:0".parse()?, Transport::Plaintext)?;
    let node = Node::start(&config).await?;
    let url = format!("http://{}", node.local_addr());
    let admin = Client::connect(&url, net.identity("admin")?).await?;
    let client = Client::connect(&url, net.identity("client")?).await?;
    let wasm = std::fs::read(weft_contract_artifacts::ASSET_TRANSFER)?;
    admin.deploy(Deploy::new(CONTRACT, "1", policy::peer("Org1"), wasm)).await?;
    for c in 0..clients {
        for k in 0..KEYS_PER_CLIENT {
            let id = asset_id(c, k);
            let done = client
                .submit(CONTRACT, "CreateAsset", args(&[&id, "blue", "5", "bench", "100"]))
                .await?;
            ensure!(done.status.code() == TxValidationCode::Valid, "creating {id}: {done:?}");
        }
    }

    let ledger = node.ledger();
    let height = ledger.chain_info().height;
    let before = ledger.footprint()?;
    eprintln!("submitting {txs} TransferAsset transactions from {clients} clients");
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let client = client.clone();
        let share = txs / clients + usize::from(c < txs % clients);
        tasks.spawn(async move {
            let mut last = None;
            for sequence in 0..share {
                let id = asset_id(c, sequence % KEYS_PER_CLIENT);
                let owner = format!("owner-{}", sequence + 1);
                let done = client.submit(CONTRACT, "TransferAsset", args(&[&id, &owner])).await?;
                if done.status.code() != TxValidationCode::Valid {
                    bail!("TransferAsset {id} committed as {:?}", done.status.code());
                }
                last = Some(done.tx_id);
            }
            Ok(last)
        });
    }
    let mut sample = None;
    while let Some(joined) = tasks.join_next().await {
        sample = joined??.or(sample);
    }
    let elapsed = started.elapsed();
    let after = ledger.footprint()?;
    let blocks = ledger.chain_info().height - height;

    // One transaction, taken apart.
    let sample = sample.context("no transaction")?;
    let record = ledger.transaction(&sample)?.context("sample transaction")?;
    let decoded = DecodedTx::decode(&record.envelope)?;
    let payload = decoded.response_payload()?;
    let (envelope, tx, proposal) = decoded.into_parts();
    drop(ledger);
    node.shutdown().await?;
    // sled writes its last buffers when the database closes.
    let closed = {
        let reopened = weft_ledger::Ledger::open(dir.path().join("dev/data/ledger"), {
            let genesis = std::fs::read(dir.path().join("dev/genesis.pb"))?;
            weft_proto::v1::ChannelConfig::decode(genesis.as_slice())?
        })?;
        reopened.footprint()?.on_disk
    };

    let n = txs as f64;
    let per_tx = |u: &dyn Fn(&Footprint) -> Usage| {
        let (a, b) = (u(&after), u(&before));
        (a.bytes() - b.bytes()) as f64 / n
    };
    println!(
        "disk per transaction: {txs} asset-transfer TransferAsset (1 read, 1 write, 1 endorsement) \
         from {clients} clients, {blocks} blocks ({:.1} tx/block), {:.1} s",
        n / blocks as f64,
        elapsed.as_secs_f64()
    );
    println!("block store                      {:>7.0} B/tx", {
        (after.block_store() - before.block_store()) as f64 / n
    });
    println!("  envelopes                      {:>7.0}", per_tx(&|f| f.envelopes));
    println!("  block headers + metadata       {:>7.0}", per_tx(&|f| f.blocks));
    println!("  tx-id index                    {:>7.0}", per_tx(&|f| f.tx_index));
    println!("  hash index                     {:>7.0}", per_tx(&|f| f.hash_index));
    println!(
        "state + history                  {:>7.0} B/tx (state {:.0}, history {:.0}; state does not grow: the same {} keys are rewritten)",
        per_tx(&|f| f.state) + per_tx(&|f| f.history),
        per_tx(&|f| f.state),
        per_tx(&|f| f.history),
        clients * KEYS_PER_CLIENT
    );
    let each = |u: Usage| if u.entries == 0 { 0.0 } else { u.bytes() as f64 / u.entries as f64 };
    println!(
        "  one state entry {:.0} B (key + version + JSON value), one history entry {:.0} B",
        each(after.state),
        each(after.history)
    );
    let logical = (after.block_store() + after.state.bytes() + after.history.bytes()) as f64;
    println!(
        "sled on disk                     {:>7.0} B/tx while running, {:.0} B/tx after close \
         ({:.1} MiB for {} tx in all; {:.2}x the keys and values it holds)",
        (after.on_disk - before.on_disk) as f64 / n,
        (closed - before.on_disk) as f64 / n,
        closed as f64 / (1 << 20) as f64,
        after.tx_index.entries,
        closed as f64 / logical
    );
    println!(
        "one envelope                     {:>7} B: transaction {} (proposal {}, response payload {}, \
         endorsements {}), client signature {}",
        record.envelope.len(),
        envelope.payload.len(),
        tx.proposal.len(),
        tx.response_payload.len(),
        tx.endorsements.iter().map(|e| e.encoded_len()).sum::<usize>(),
        envelope.signature.len()
    );
    println!(
        "  proposal: tx id {} B (hex), nonce {}, creator {}, args {}; response payload: rwset {}, \
         response {}, proposal hash {}",
        proposal.tx_id.len(),
        proposal.nonce.len(),
        proposal.creator.as_ref().map_or(0, Message::encoded_len),
        proposal.args.iter().map(Vec::len).sum::<usize>(),
        payload.rwset.as_ref().map_or(0, Message::encoded_len),
        payload.response.as_ref().map_or(0, Message::encoded_len),
        payload.proposal_hash.len()
    );
    Ok(())
}
