//! Deploy to first invoke, and restart to serving, through the real path: a node started with
//! `Node::start` on a `weft init` network (default configuration: 20 ms batch timeout, durable
//! commits), driven over gRPC by `weft_client::Client`.
//!
//! * deploy: from `Client::deploy` of the `asset-transfer` sample (~110 KiB: install, then the
//!   `_lifecycle` definition submitted and committed) to its first VALID committed invoke
//!   (`CreateAsset`), on a fresh node each trial; alternate trials run the same steps one by
//!   one for the breakdown (install, definition committed, first invoke committed).
//! * restart: a node with a ledger and four installed contracts (compiled modules cached) is
//!   stopped and started again: `Node::start`, then the first answered request (an evaluate of
//!   `asset-transfer`), then one evaluate of each of the four contracts. With `--weft PATH`
//!   (a built `weft` binary), also `weft node start` from process spawn to "node serving" and
//!   to its first answered evaluate.
//!
//! Run with: `cargo bench -p weft-node --bench startup` (options: `-- --trials 6`,
//! `--ledger-txs 4000` for the restarted ledger's size, `--weft target/release/weft`).

use std::io::BufRead;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use prost::Message;
use weft_client::{Client, Deploy, Submitted};
use weft_node::Node;
use weft_node::config::NodeConfig;
use weft_node::devnet::{DevNetwork, Transport};
use weft_proto::v1::{ContractDefinition, TxValidationCode};
use weft_protocol::channel::LIFECYCLE;
use weft_protocol::lifecycle::DEPLOY;
use weft_protocol::policy;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn args(args: &[&str]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.as_bytes().to_vec()).collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn valid(done: Submitted, what: &str) -> Result<Submitted> {
    ensure!(done.status.code() == TxValidationCode::Valid, "{what} committed as {:?}", done.status);
    Ok(done)
}

/// A fresh `weft init` network in `dir`, its node started, an admin and a client connected.
async fn fresh(dir: &std::path::Path) -> Result<(DevNetwork, NodeConfig, Node, Client, Client)> {
    let net = DevNetwork::at(dir.join("dev"));
    let config = net.create("dev", "127.0.0.1:0".parse()?, Transport::Plaintext)?;
    let node = Node::start(&config).await?;
    let (admin, client) = connect(&net, &node).await?;
    Ok((net, config, node, admin, client))
}

async fn connect(net: &DevNetwork, node: &Node) -> Result<(Client, Client)> {
    let url = format!("http://{}", node.local_addr());
    let admin = Client::connect(&url, net.identity("admin")?).await?;
    let client = Client::connect(&url, net.identity("client")?).await?;
    Ok((admin, client))
}

/// CPU time (user + system, all threads: node and clients) this process has used, in ms
/// (10 ms resolution).
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // utime and stime are fields 14 and 15, counted from the command name's field 2.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    (field(14) + field(15)) as f64 * 10.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn range(v: &[f64]) -> String {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(0.0, f64::max);
    format!("median {:6.1} ms (min {:.1}, max {:.1})", median(v.to_vec()), min, max)
}

#[tokio::main]
async fn main() -> Result<()> {
    let trials: usize = arg("--trials").map(|t| t.parse()).transpose()?.unwrap_or(6);
    let wasm = std::fs::read(weft_contract_artifacts::ASSET_TRANSFER)?;
    let create = || args(&["asset1", "blue", "5", "tom", "100"]);

    // Deploy to first invoke, a fresh node (and compiled-module cache) each trial.
    let (mut total, mut install, mut define, mut invoke) = (vec![], vec![], vec![], vec![]);
    let (mut total_cpu, mut install_cpu) = (vec![], vec![]);
    for trial in 0..trials {
        let dir = tempfile::tempdir()?;
        let (_net, _config, node, admin, client) = fresh(dir.path()).await?;
        let started = Instant::now();
        let cpu = cpu_ms();
        if trial % 2 == 0 {
            admin
                .deploy(Deploy::new("asset-transfer", "1", policy::peer("Org1"), wasm.clone()))
                .await?;
            valid(client.submit("asset-transfer", "CreateAsset", create()).await?, "first invoke")?;
            total.push(ms(started.elapsed()));
        } else {
            // What `Client::deploy` does, step by step.
            let code_hash = admin.install(wasm.clone()).await?;
            let installed = started.elapsed();
            install_cpu.push(cpu_ms() - cpu);
            let definition = ContractDefinition {
                name: "asset-transfer".into(),
                version: "1".into(),
                policy: Some(policy::peer("Org1")),
                code_hash,
                init_required: false,
            };
            let done = admin.submit(LIFECYCLE, DEPLOY, vec![definition.encode_to_vec()]).await?;
            valid(done, "the definition")?;
            let defined = started.elapsed();
            valid(client.submit("asset-transfer", "CreateAsset", create()).await?, "first invoke")?;
            let invoked = started.elapsed();
            install.push(ms(installed));
            define.push(ms(defined - installed));
            invoke.push(ms(invoked - defined));
            total.push(ms(invoked));
        }
        total_cpu.push(cpu_ms() - cpu);
        node.shutdown().await?;
    }

    // Restart to serving: a ledger with four installed contracts.
    let dir = tempfile::tempdir()?;
    let (net, config, node, admin, client) = fresh(dir.path()).await?;
    let deploy = |name: &str, wasm: &str| {
        let wasm = std::fs::read(wasm).map(|w| Deploy::new(name, "1", policy::peer("Org1"), w));
        wasm.context("reading a sample")
    };
    use weft_contract_artifacts::{ABSTORE, ASSET_TRANSFER, KV, MARBLES};
    admin.deploy(deploy("asset-transfer", ASSET_TRANSFER)?).await?;
    admin
        .deploy(deploy("abstore", ABSTORE)?.with_init("init", args(&["A", "100", "B", "200"])))
        .await?;
    admin.deploy(deploy("marbles", MARBLES)?).await?;
    admin.deploy(deploy("kv", KV)?).await?;
    valid(client.submit("asset-transfer", "CreateAsset", create()).await?, "CreateAsset")?;
    valid(
        client.submit("marbles", "initMarble", args(&["m1", "blue", "35", "tom"])).await?,
        "initMarble",
    )?;
    valid(client.submit("kv", "Put", args(&["k", "v"])).await?, "Put")?;
    // A ledger of some size: `--ledger-txs` kv writes from 16 clients.
    let ledger_txs: usize = arg("--ledger-txs").map(|t| t.parse()).transpose()?.unwrap_or(4000);
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..16 {
        let client = client.clone();
        writers.spawn(async move {
            for i in (w..ledger_txs).step_by(16) {
                let key = format!("key{i}");
                valid(client.submit("kv", "Put", args(&[&key, "value"])).await?, "Put")?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(joined) = writers.join_next().await {
        joined??;
    }
    let height = node.ledger().chain_info().height;
    node.shutdown().await?;
    let queries: [(&str, &str, &[&str]); 4] = [
        ("asset-transfer", "ReadAsset", &["asset1"]),
        ("abstore", "query", &["A"]),
        ("marbles", "readMarble", &["m1"]),
        ("kv", "Get", &["k"]),
    ];
    let (mut start, mut first, mut all) = (vec![], vec![], vec![]);
    for _ in 0..trials {
        let started = Instant::now();
        let node = Node::start(&config).await?;
        start.push(ms(started.elapsed()));
        let (_, client) = connect(&net, &node).await?;
        for (i, (contract, function, arguments)) in queries.iter().enumerate() {
            let answer = client.evaluate(contract, function, args(arguments)).await?;
            ensure!(answer.status < 400, "{contract} {function}: {answer:?}");
            if i == 0 {
                first.push(ms(started.elapsed()));
            }
        }
        all.push(ms(started.elapsed()));
        node.shutdown().await?;
    }

    let kib = wasm.len() as f64 / 1024.0;
    println!(
        "deploy to first invoke: asset-transfer ({kib:.0} KiB), fresh node, batch timeout 20 ms, {trials} trials"
    );
    println!("  Client::deploy + first VALID invoke   {}", range(&total));
    println!("    CPU time (node and client)          {}", range(&total_cpu));
    if !install.is_empty() {
        println!("    install (validate, compile, cache)  {}", range(&install));
        println!("      CPU time                          {}", range(&install_cpu));
        println!("    definition committed                {}", range(&define));
        println!("    first invoke committed              {}", range(&invoke));
    }
    println!(
        "restart to serving: {height} blocks ({} tx), 4 installed contracts (cached modules), \
         {trials} trials",
        ledger_txs + 8
    );
    println!("  Node::start                           {}", range(&start));
    println!("  to first answered evaluate            {}", range(&first));
    println!("  to all four contracts answered        {}", range(&all));

    if let Some(weft) = arg("--weft") {
        let mut spawned = vec![];
        let mut answered = vec![];
        for _ in 0..trials {
            let started = Instant::now();
            let mut child = std::process::Command::new(&weft)
                .args(["--dir", &net.dir.display().to_string(), "node", "start"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .with_context(|| format!("starting {weft}"))?;
            let stdout = child.stdout.take().context("stdout")?;
            let mut lines = std::io::BufReader::new(stdout).lines();
            let endpoint = loop {
                let Some(line) = lines.next().transpose()? else { bail!("weft node start ended") };
                if let Some(endpoint) = line.strip_prefix("node serving on ") {
                    break endpoint.trim().to_string();
                }
            };
            spawned.push(ms(started.elapsed()));
            let client = Client::connect(&endpoint, net.identity("client")?).await?;
            client.evaluate("asset-transfer", "ReadAsset", args(&["asset1"])).await?;
            answered.push(ms(started.elapsed()));
            // Graceful stop (SIGTERM) of the process this bench started.
            std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status()?;
            child.wait()?;
        }
        println!("  weft node start: spawn to \"serving\"  {}", range(&spawned));
        println!("  weft node start: spawn to answer      {}", range(&answered));
    }
    Ok(())
}
