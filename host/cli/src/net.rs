//! `weft net up | status | down`: a network of several organizations on this machine, one
//! node per organization and an etcd cluster ordering for them, each a process of its own
//! on loopback ports, written and started in one directory ([`weft_node::localnet`]).
//!
//! ```text
//! DIR/net.json           the etcd members and nodes: addresses, directories, running pids
//! DIR/etcd/mN/           member N's data; DIR/etcd/mN.log its log
//! DIR/ORG/               ORG's node (a dev-network layout: --dir DIR/ORG reaches it);
//!                        DIR/ORG/node.log its log
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::{Deserialize, Serialize};
use weft_node::localnet::{LocalNetwork, NetPeer};

/// `weft net up`'s options.
#[derive(Args, Debug)]
pub(crate) struct UpArgs {
    /// Organizations, one node each: Org1, Org2, ...
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=9))]
    orgs: u16,
    /// etcd members (an odd number keeps a majority when one fails).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=7))]
    etcd: u16,
    /// The first node's port; node N listens on PORT + N - 1, etcd members from PORT + 100.
    #[arg(long, default_value_t = 7051)]
    port: u16,
    /// The channel's name.
    #[arg(long, default_value = "net")]
    channel: String,
}

/// What `up` started, for `status` and `down`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Started {
    etcd: Vec<Member>,
    nodes: Vec<Node>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Member {
    name: String,
    client_url: String,
    peer_url: String,
    #[serde(flatten)]
    pid: Option<Proc>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Node {
    org: String,
    dir: PathBuf,
    endpoint: String,
    #[serde(flatten)]
    pid: Option<Proc>,
}

/// A process `up` started: its id, and when it started (clock ticks after boot, from
/// `/proc`), so that another process that later has the same id is not taken for it.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Proc {
    pid: u32,
    started: u64,
}

impl Proc {
    /// Process `pid` as it is now, if it runs.
    fn of(pid: u32) -> Option<Proc> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // After the command name (in parentheses): state is field 3, starttime field 22.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        if fields.first() == Some(&"Z") {
            return None;
        }
        Some(Proc { pid, started: fields.get(19)?.parse().ok()? })
    }
}

/// Holds `DIR/net.lock` while `weft net up` or `down` works on the network, so that two of
/// them at once cannot start a process twice or stop one that the other starts. The lock
/// goes with the process (the file is not inherited by the processes it starts).
fn lock(dir: &Path) -> Result<std::fs::File> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("net.lock");
    let file =
        std::fs::File::create(&path).with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another `weft net up` or `weft net down` is working on {}; wait for it to end",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}

fn state_path(dir: &Path) -> PathBuf {
    dir.join("net.json")
}

fn read_state(dir: &Path) -> Result<Started> {
    let path = state_path(dir);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {}: no network was brought up in {} (weft net up)",
            path.display(),
            dir.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))
}

fn write_state(dir: &Path, started: &Started) -> Result<()> {
    // Written aside, then renamed: a crash leaves the old file or the new one, never half.
    let path = state_path(dir);
    let temporary = dir.join("net.json.new");
    std::fs::write(&temporary, serde_json::to_string_pretty(started)?)
        .with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, &path).with_context(|| format!("writing {}", path.display()))
}

/// Whether `process` still runs (the same process: same id and start time; not a zombie).
fn alive(process: Option<Proc>) -> bool {
    process.is_some_and(|p| Proc::of(p.pid) == Some(p))
}

/// The etcd binary: `WEFT_ETCD`, else `etcd` on PATH; without one, an error naming the
/// Debian package.
fn etcd_binary() -> Result<String> {
    let binary = std::env::var("WEFT_ETCD").unwrap_or_else(|_| "etcd".into());
    match Command::new(&binary).arg("--version").output() {
        Ok(out) if out.status.success() => Ok(binary),
        _ => bail!(
            "`{binary}` was not found or does not run: a network orders on etcd; install it \
             (Debian: apt-get install etcd-server) or set WEFT_ETCD to an etcd binary"
        ),
    }
}

/// Starts `command` as a process of its own (its own process group, so a Ctrl-C at the
/// terminal does not reach it), its output appended to `log`.
fn spawn(mut command: Command, log: &Path) -> Result<Proc> {
    use std::os::unix::process::CommandExt;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let child = command
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {:?}", command.get_program()))?;
    // Not reaped here: a process that exits at once is a zombie, which `alive` tells apart.
    let pid = child.id();
    Proc::of(pid).with_context(|| format!("{:?} (pid {pid}) exited at once", command.get_program()))
}

/// Waits up to `limit` for `ready` (an error: the process exited), naming `what` and
/// pointing at `log` if it never is.
async fn wait_until<F, Fut>(what: &str, log: &Path, limit: Duration, mut ready: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<bool, ()>>,
{
    let started = Instant::now();
    while started.elapsed() < limit {
        match ready().await {
            Ok(true) => return Ok(()),
            Ok(false) => tokio::time::sleep(Duration::from_millis(200)).await,
            Err(()) => {
                bail!("{what} exited; see {} (`weft net down` stops what started)", log.display())
            }
        }
    }
    bail!(
        "{what} did not come up within {} s; see {} (`weft net down` stops what started)",
        limit.as_secs(),
        log.display()
    )
}

/// etcd's `/health` on `client_url` says the member is healthy.
async fn etcd_healthy(client_url: &str) -> bool {
    let Some(addr) = client_url.strip_prefix("http://") else { return false };
    let request = format!("GET /health HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    let answer = async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut body = String::new();
        stream.read_to_string(&mut body).await.ok()?;
        Some(body)
    };
    match tokio::time::timeout(Duration::from_secs(2), answer).await {
        Ok(Some(body)) => body.contains("\"health\":\"true\""),
        _ => false,
    }
}

/// `weft net up`: writes the network into `dir` unless it is there, starts its etcd
/// members and nodes, and waits until they answer.
pub(crate) async fn up(dir: &Path, args: &UpArgs) -> Result<()> {
    let etcd = etcd_binary()?;
    if !weft_node::node::ETCD_ORDERING {
        bail!(
            "this weft was built without the etcd orderer: build it with \
             `cargo build --release --features etcd --bin weft` (needs protoc, Debian's \
             protobuf-compiler)"
        );
    }
    let _lock = lock(dir)?;
    let net = LocalNetwork::at(dir);
    let mut started = match read_state(dir) {
        // The network as it was written: the flags apply only when it is written.
        Ok(started) => {
            let processes =
                || (started.etcd.iter().map(|m| m.pid)).chain(started.nodes.iter().map(|n| n.pid));
            if processes().all(alive) {
                bail!(
                    "the network in {} is up already; `weft net status` shows it, `weft net \
                     down` stops it",
                    dir.display()
                );
            }
            // Some are running (another died, or was killed): start the others.
            if processes().any(alive) {
                eprintln!("starting what is not running in {}", dir.display());
            }
            started
        }
        Err(e) if state_path(dir).exists() => return Err(e),
        Err(_) if net.exists() => bail!(
            "{} holds a network but no {}: remove the directory to start over",
            dir.display(),
            state_path(dir).display()
        ),
        Err(_) => create(&net, args)?,
    };
    let cluster: Vec<String> =
        started.etcd.iter().map(|m| format!("{}={}", m.name, m.peer_url)).collect();
    std::fs::create_dir_all(dir.join("etcd"))?;
    for member in started.etcd.iter_mut().filter(|m| !alive(m.pid)) {
        let mut command = Command::new(&etcd);
        command
            .arg("--name")
            .arg(&member.name)
            .arg("--data-dir")
            .arg(dir.join("etcd").join(&member.name))
            .args(["--listen-client-urls", &member.client_url])
            .args(["--advertise-client-urls", &member.client_url])
            .args(["--listen-peer-urls", &member.peer_url])
            .args(["--initial-advertise-peer-urls", &member.peer_url])
            .args(["--initial-cluster", &cluster.join(",")])
            .args(["--initial-cluster-state", "new", "--initial-cluster-token", "weft-net"]);
        let log = dir.join("etcd").join(format!("{}.log", member.name));
        member.pid = Some(spawn(command, &log)?);
    }
    write_state(dir, &started)?;
    for member in &started.etcd {
        let log = dir.join("etcd").join(format!("{}.log", member.name));
        let what = format!("etcd member {} ({})", member.name, member.client_url);
        wait_until(&what, &log, Duration::from_secs(30), || async {
            if !alive(member.pid) {
                return Err(());
            }
            Ok(etcd_healthy(&member.client_url).await)
        })
        .await?;
    }
    eprintln!("etcd: {} members healthy", started.etcd.len());
    let exe = std::env::current_exe().context("finding the weft binary")?;
    for node in started.nodes.iter_mut().filter(|n| !alive(n.pid)) {
        let node_dir = dir.join(&node.dir);
        let _ = std::fs::remove_file(node_dir.join("endpoint"));
        let mut command = Command::new(&exe);
        command.arg("--dir").arg(&node_dir).args(["node", "start"]);
        node.pid = Some(spawn(command, &node_dir.join("node.log"))?);
    }
    write_state(dir, &started)?;
    for node in &started.nodes {
        let node_dir = dir.join(&node.dir);
        let log = node_dir.join("node.log");
        let what = format!("{}'s node ({})", node.org, node.endpoint);
        wait_until(&what, &log, Duration::from_secs(60), || async {
            if !alive(node.pid) {
                return Err(());
            }
            Ok(node_dir.join("endpoint").exists())
        })
        .await?;
    }
    deploy_samples(dir, &started).await?;
    println!("network up in {}", dir.display());
    for node in &started.nodes {
        println!("  {} node: {} (pid {})", node.org, node.endpoint, node.pid.map_or(0, |p| p.pid));
    }
    for member in &started.etcd {
        println!("  etcd {}: {}", member.name, member.client_url);
    }
    let first = dir.join(&started.nodes[0].dir);
    let first = first.display();
    println!(
        "each organization's node and keys: `weft --dir {first} query ...` (Org1), likewise \
         for the others; `weft net status {0}`, `weft net down {0}`",
        dir.display()
    );
    Ok(())
}

/// Deploys the samples `weft dev` deploys, unless the channel defines them already: the
/// code installed on every node by its organization's admin, each defined (through the
/// first node's gateway, which collects the other organizations' endorsements) with an
/// endorsement policy that needs the peers of a majority of the organizations (both of
/// two, two of three).
async fn deploy_samples(dir: &Path, started: &Started) -> Result<()> {
    let mut admins = Vec::new();
    for node in &started.nodes {
        let identity = weft_node::devnet::DevNetwork::at(dir.join(&node.dir)).identity("admin")?;
        let admin = weft_client::Client::connect(&node.endpoint, identity)
            .await
            .with_context(|| format!("connecting to {}'s node at {}", node.org, node.endpoint))?;
        admins.push(admin);
    }
    let request = weft_proto::v1::ListContractsRequest { channel: admins[0].channel().into() };
    let listed = admins[0].admin.clone().list_contracts(request).await?.into_inner();
    let defined: Vec<String> = listed.contracts.into_iter().map(|d| d.name).collect();
    // Fabric's default endorsement policy: a majority of the organizations' peers.
    let peers: Vec<_> = started.nodes.iter().map(|n| weft_protocol::policy::peer(&n.org)).collect();
    let policy = match peers.len() {
        1 => peers[0].clone(),
        n => weft_protocol::policy::n_of(n as u32 / 2 + 1, peers),
    };
    for (name, wasm) in crate::SAMPLES {
        if defined.iter().any(|d| d == name) {
            eprintln!("{name}: already deployed");
            continue;
        }
        for (admin, node) in admins.iter().zip(&started.nodes).skip(1) {
            admin
                .install(wasm.to_vec())
                .await
                .with_context(|| format!("installing {name} on {}'s node", node.org))?;
        }
        let mut sample = weft_client::Deploy::new(name, "1", policy.clone(), wasm.to_vec());
        if let Some((function, args)) = crate::sample_init(name) {
            sample =
                sample.with_init(function, args.iter().map(|a| a.as_bytes().to_vec()).collect());
        }
        crate::deploy(&admins[0], sample).await?;
    }
    Ok(())
}

/// Writes a new network into `dir` as `args` say; returns its layout (nothing started).
fn create(net: &LocalNetwork, args: &UpArgs) -> Result<Started> {
    let last = u32::from(args.port) + 100 + 2 * u32::from(args.etcd);
    if last > u32::from(u16::MAX) || u32::from(args.port) + u32::from(args.orgs) > 65_535 {
        bail!("--port {} leaves no room for the nodes' and etcd's ports below 65536", args.port);
    }
    let mut started = Started::default();
    for i in 0..args.etcd {
        let client = args.port + 100 + 2 * i;
        started.etcd.push(Member {
            name: format!("m{i}"),
            client_url: format!("http://127.0.0.1:{client}"),
            peer_url: format!("http://127.0.0.1:{}", client + 1),
            pid: None,
        });
    }
    let peers: Vec<NetPeer> = (1..=args.orgs)
        .map(|i| NetPeer {
            org: format!("Org{i}"),
            listen: SocketAddr::from(([127, 0, 0, 1], args.port + i - 1)),
        })
        .collect();
    let endpoints: Vec<String> = started.etcd.iter().map(|m| m.client_url.clone()).collect();
    net.create(&args.channel, &peers, &endpoints)?;
    started.nodes = peers
        .iter()
        .map(|peer| Node {
            org: peer.org.clone(),
            // Relative to the network's directory, wherever it is reached from.
            dir: PathBuf::from(&peer.org),
            endpoint: format!("http://{}", peer.listen),
            pid: None,
        })
        .collect();
    write_state(&net.dir, &started)?;
    eprintln!(
        "wrote a network of {} organizations (channel {}) in {}",
        peers.len(),
        args.channel,
        net.dir.display()
    );
    Ok(started)
}

/// `weft net status`: each node's process, height and commit hash, and each etcd member's
/// health.
pub(crate) async fn status(dir: &Path) -> Result<()> {
    let started = read_state(dir)?;
    for node in &started.nodes {
        let state = if alive(node.pid) { "running" } else { "stopped" };
        let chain = if alive(node.pid) {
            // A node that does not answer (stopped, hung) does not hang `status`.
            match tokio::time::timeout(Duration::from_secs(5), chain_of(dir, node)).await {
                Ok(chain) => chain,
                Err(_) => Err(anyhow::anyhow!("no answer within 5 s")),
            }
        } else {
            Err(anyhow::anyhow!("not running"))
        };
        match chain {
            Ok((height, commit, leader)) => println!(
                "{} node {} {state}: height {height}, commit hash {commit}{}",
                node.org,
                node.endpoint,
                if leader { ", cuts the blocks (ordering leader)" } else { "" }
            ),
            Err(e) => println!("{} node {} {state}: {e:#}", node.org, node.endpoint),
        }
    }
    for member in &started.etcd {
        let health = if etcd_healthy(&member.client_url).await { "healthy" } else { "unhealthy" };
        let state = if alive(member.pid) { "running" } else { "stopped" };
        println!("etcd {} {} {state}: {health}", member.name, member.client_url);
    }
    Ok(())
}

/// The height and commit hash `node` reports, and whether it leads ordering.
async fn chain_of(dir: &Path, node: &Node) -> Result<(u64, String, bool)> {
    let net = weft_node::devnet::DevNetwork::at(dir.join(&node.dir));
    let identity = net.identity(&format!("{}:client", node.org))?;
    let client = weft_client::Client::connect(&node.endpoint, identity).await?;
    let request = weft_proto::v1::GetChainInfoRequest { channel: client.channel().into() };
    let info = client.ledger.clone().get_chain_info(request).await?.into_inner();
    let commit = match info.commit_hash.is_empty() {
        true => "- (no block yet)".to_string(),
        false => info.commit_hash.iter().map(|b| format!("{b:02x}")).collect(),
    };
    let health = client.admin.clone().health(weft_proto::v1::HealthRequest {}).await?;
    Ok((info.height, commit, health.into_inner().ordering_leader))
}

/// `weft net down`: stops the nodes (each commits its block in flight), then the etcd
/// members; keeps every directory and the layout, so `up` starts the same network again.
pub(crate) async fn down(dir: &Path) -> Result<()> {
    // Read once to refuse a directory that holds no network, then again under the lock.
    read_state(dir)?;
    let _lock = lock(dir)?;
    let mut started = read_state(dir)?;
    for node in &mut started.nodes {
        stop(&format!("{}'s node", node.org), node.pid.take()).await;
    }
    for member in &mut started.etcd {
        stop(&format!("etcd {}", member.name), member.pid.take()).await;
    }
    write_state(dir, &started)?;
    println!("network down; its data stays in {} (weft net up starts it again)", dir.display());
    Ok(())
}

/// SIGTERM, then SIGKILL if it has not exited within 15 s.
async fn stop(what: &str, process: Option<Proc>) {
    let Some(Proc { pid, .. }) = process.filter(|_| alive(process)) else {
        eprintln!("{what}: not running");
        return;
    };
    // SAFETY: `kill` with a pid and a signal number has no memory-safety preconditions.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    let started = Instant::now();
    while alive(process) && started.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if alive(process) {
        // SAFETY: as above.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        eprintln!("{what} (pid {pid}): killed after 15 s");
    } else {
        eprintln!("{what} (pid {pid}): stopped");
    }
}

/// What `weft bench --net DIR` measures: the first organization's node directory and
/// endpoint, and every node and etcd member process of the running network.
pub(crate) fn bench_targets(dir: &Path) -> Result<(PathBuf, String, Vec<crate::bench::Server>)> {
    let started = read_state(dir)?;
    let Some(first) = started.nodes.first() else {
        bail!("{} lists no node", state_path(dir).display())
    };
    let mut servers = Vec::new();
    for (name, pid, etcd) in started
        .nodes
        .iter()
        .map(|n| (format!("{} node", n.org), n.pid, false))
        .chain(started.etcd.iter().map(|m| (format!("etcd {}", m.name), m.pid, true)))
    {
        match pid.filter(|_| alive(pid)) {
            Some(Proc { pid, .. }) => servers.push(crate::bench::Server { name, pid, etcd }),
            None => {
                bail!("{name} of the network in {} is not running (weft net up)", dir.display())
            }
        }
    }
    Ok((dir.join(&first.dir), first.endpoint.clone(), servers))
}
