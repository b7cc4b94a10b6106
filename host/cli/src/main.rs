//! `weft`: one command for a Weft development network: create it, run the node, deploy
//! contracts, invoke and query them, read blocks and transactions.

mod bench;
mod compile;
mod net;
mod output;
mod scaffold;
mod sdk;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use weft_client::{Client, Deploy, Deployed};
use weft_node::config::{NodeConfig, decode_hex};
use weft_node::devnet::{DevNetwork, Transport};
use weft_proto::v1::{
    GetBlockRequest, GetKeyHistoryRequest, GetTransactionRequest, ListContractsRequest,
    get_block_request::By,
};
use weft_protocol::policy;

include!(concat!(env!("OUT_DIR"), "/samples.rs"));

const DEFAULT_LISTEN: &str = "127.0.0.1:7051";

/// jemalloc rather than glibc's malloc: the node allocates and frees small buffers on many
/// threads (gRPC, contract threads, sled's), where glibc's per-thread arenas fragment and
/// keep memory. Measured in docs/performance.md ("Memory").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read before `main`: two arenas (one per core of the target machine
/// kind is plenty for a node whose hot threads are few), freed pages returned to the system
/// after a second by a background thread instead of ten seconds. `MALLOC_CONF`-style
/// overrides: the `_RJEM_MALLOC_CONF` environment variable.
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: &[u8; 70] =
    b"narenas:2,background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

#[derive(Parser, Debug)]
#[command(
    name = "weft",
    version,
    about = "Run WebAssembly smart contracts on a Fabric-style ledger",
    long_about = "Run WebAssembly smart contracts on a Fabric-style ledger.\n\n\
        Start here:\n  \
        weft dev                                   create a dev network, start the node, deploy the samples\n  \
        weft invoke asset-transfer InitLedger      submit a transaction and wait for its commit\n  \
        weft query asset-transfer GetAllAssets     evaluate a query\n  \
        weft query abstore query A                 abstore, initialized at deploy with A 100 B 200\n\n\
        Every command that talks to the node signs as an identity of the dev network in --dir\n\
        (--as client by default, Org1's; deploys sign as admin; --as org2:client signs as\n\
        Org2's client)."
)]
struct Cli {
    /// Directory of the development network (written by `weft init` or `weft dev`).
    #[arg(long, global = true, env = "WEFT_DIR", default_value = ".weft")]
    dir: PathBuf,
    /// Node endpoint, e.g. http://127.0.0.1:7051. Default: the address the running node
    /// wrote to DIR/endpoint.
    #[arg(long, global = true, env = "WEFT_ENDPOINT")]
    endpoint: Option<String>,
    /// Sign as this identity of the dev network: `client`, `admin` or `peer` of Org1, or
    /// ORG:NAME for another organization's, e.g. `org2:client`.
    #[arg(long = "as", global = true, value_name = "IDENTITY")]
    role: Option<String>,
    /// The channel to address. Default: the node's only channel.
    #[arg(long, global = true, env = "WEFT_CHANNEL")]
    channel: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a development network: two organizations (Org1, Org2), each with admin, peer
    /// and client keys, the channel's genesis configuration and node.toml. The node endorses
    /// as both organizations' peers.
    Init {
        /// Channel name.
        #[arg(long, default_value = "dev")]
        channel: String,
        #[command(flatten)]
        network: NetworkArgs,
    },
    /// Run the node.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Create the dev network if needed, start the node and deploy the sample contracts
    /// (kv, asset-transfer, abstore with its init `init A 100 B 200`, marbles). Stops on
    /// Ctrl-C. --listen, --tls and --mtls apply when it creates the network.
    Dev {
        #[command(flatten)]
        network: NetworkArgs,
    },
    /// A network on this machine: one node per organization (each the peer of its own
    /// organization alone) and an etcd cluster ordering for them, as processes on loopback
    /// ports, in a directory of its own (weft-net by default).
    #[command(subcommand)]
    Net(NetCommand),
    /// Create, join and list channels: one node serves several, each with its own ledger,
    /// contracts and orderer (address one with --channel).
    #[command(subcommand)]
    Channel(ChannelCommand),
    /// Scaffold, build, deploy and list contracts.
    #[command(subcommand)]
    Contract(ContractCommand),
    /// Submit a transaction: endorse, sign, order, and wait until it is committed. Prints
    /// the result as JSON.
    Invoke(InvokeArgs),
    /// Evaluate a query on the node (nothing is ordered or written). Prints JSON.
    Query(Call),
    /// Read and verify blocks.
    #[command(subcommand)]
    Block(BlockCommand),
    /// Read transactions.
    #[command(subcommand)]
    Tx(TxCommand),
    /// Print the committed history of one key of a contract as a JSON array, oldest first:
    /// each valid write or delete with its transaction id, block, transaction index,
    /// timestamp and value (a UTF-8 string, else {"hex": ...}; null for a delete).
    History {
        /// Contract name (its namespace).
        contract: String,
        /// The key, as a string (or hex with --hex).
        key: String,
        /// KEY is hex, for keys that are not UTF-8 (e.g. composite keys: 00 type 00 ...).
        #[arg(long)]
        hex: bool,
    },
    /// Follow the events of a contract: one JSON line per event, as blocks commit (Ctrl-C
    /// stops). Resume with --from-block or --after-tx.
    Events {
        /// Contract name.
        contract: String,
        /// Start at this block (default: the next block to commit).
        #[arg(long, conflicts_with = "after_tx")]
        from_block: Option<u64>,
        /// Start after this committed transaction.
        #[arg(long)]
        after_tx: Option<String>,
    },
    /// Load a running node over gRPC from this process, closed loop, with the
    /// asset-transfer sample (each transaction reads one asset and writes it; every client
    /// has its own assets). Phases: evaluate at 1 client and at --clients, endorse at 1
    /// client, submit-and-wait at --submit-clients, then the same over one SubmitStream per
    /// connection (phase `stream`). Prints a table (or --json): count,
    /// throughput, p50/p99 latency, non-VALID outcomes, the node's CPU per transaction and
    /// RSS.
    Bench(BenchArgs),
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// Concurrent clients of the evaluate phase (each sends its next request when the
    /// previous one is answered).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=4096))]
    clients: u32,
    /// Concurrent clients of the submit and stream phases (default: --clients). A closed loop needs
    /// about throughput x latency clients in flight to saturate the node.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=4096))]
    submit_clients: Option<u32>,
    /// Measured seconds per phase.
    #[arg(long, default_value_t = 5.0, conflicts_with = "txs")]
    duration: f64,
    /// Measure this many requests per phase instead of a duration.
    #[arg(long)]
    txs: Option<u64>,
    /// Unmeasured seconds before each phase.
    #[arg(long, default_value_t = 0.2)]
    warmup: f64,
    /// Which phases to run.
    #[arg(long, value_enum, default_value = "all")]
    phase: bench::Phase,
    /// The node's process id, for its CPU time and RSS (default: DIR/pid, written by
    /// `weft dev` and `weft node start`).
    #[arg(long)]
    node_pid: Option<u32>,
    /// Measure a network of `weft net up` in this directory: the clients use its first
    /// organization's node and keys, and the report counts the CPU and RSS of every node and
    /// etcd member (nodes and etcd apart).
    #[arg(long, value_name = "NET_DIR", conflicts_with = "node_pid")]
    net: Option<PathBuf>,
    /// Run the phases once per channel count given (e.g. `1,4`), side by side: the same
    /// clients spread round robin over that many channels, the first channel of DIR's network
    /// and `bench-2`, `bench-3`, ... (created, joined and given the sample as needed, as
    /// admin).
    #[arg(long, value_delimiter = ',', default_value = "1",
          value_parser = clap::value_parser!(u32).range(1..=64))]
    channels: Vec<u32>,
    /// Clients sharing one gRPC connection (HTTP/2 multiplexes their requests): at the
    /// default, 16 clients use one connection and 512 use 16. At most the node's
    /// `grpc.max_concurrent_streams`.
    #[arg(long, default_value_t = bench::CLIENTS_PER_CONNECTION,
          value_parser = clap::value_parser!(u32).range(1..=256))]
    clients_per_connection: u32,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum NetCommand {
    /// Write the network unless DIR holds one, start its etcd members and nodes, and wait
    /// until they answer (needs etcd: Debian's etcd-server).
    Up {
        /// The network's directory.
        #[arg(default_value = "weft-net")]
        dir: PathBuf,
        #[command(flatten)]
        args: net::UpArgs,
    },
    /// Each node's height and commit hash, and each etcd member's health.
    Status {
        /// The network's directory.
        #[arg(default_value = "weft-net")]
        dir: PathBuf,
    },
    /// Stop the nodes, then the etcd members; their data stays.
    Down {
        /// The network's directory.
        #[arg(default_value = "weft-net")]
        dir: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum NodeCommand {
    /// Start the node of DIR (or of --config) and serve until Ctrl-C or SIGTERM; the block
    /// in flight is committed before it stops.
    Start {
        /// A node.toml elsewhere than DIR/node.toml.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// With the node stopped: clear its state database and key history (never its blocks),
    /// so that the next start rebuilds them by replaying every block. Needed after changing
    /// `[ledger] history` in node.toml, or when the node reports its state ahead of its
    /// blocks (Fabric's `peer node rebuild-dbs`).
    RebuildState {
        /// A node.toml elsewhere than DIR/node.toml.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum ChannelCommand {
    /// Write the genesis configuration of a new channel NAME with the dev network's
    /// organizations and keys, to DIR/channels/NAME.pb (`weft channel join NAME` sends it).
    /// Each organization's peers are those of the first channel unless --peer lists others.
    #[command(after_help = "Example (Org2's peers run on other hosts):\n  \
        weft channel create sales --peer Org2=peer0.org2.example.com:7051,tls_ca=org2-ca.pem \\\n    \
        --peer Org2=peer1.org2.example.com:7051,tls_ca=org2-ca.pem")]
    Create {
        /// Channel name: a-z, 0-9, '.' and '-', starting with a letter (Fabric's rule).
        name: String,
        /// A peer of an organization, where other organizations' gateways ask it for
        /// endorsements: ORG=HOST:PORT (plaintext) or ORG=HOST:PORT,tls_ca=FILE (TLS, its
        /// certificate signed by the CA in FILE). Repeat it for more peers, in the order
        /// they are tried.
        #[arg(long = "peer", value_name = "ORG=HOST:PORT[,tls_ca=FILE]")]
        peers: Vec<String>,
    },
    /// Join the node to channel NAME (as admin): sends its genesis configuration
    /// (DIR/channels/NAME.pb, or --genesis); the node creates the channel's ledger and
    /// serves it at once, and again after every restart.
    #[command(after_help = "Example:\n  \
        weft channel create sales && weft channel join sales\n  \
        weft --channel sales contract deploy kv kv.wasm")]
    Join {
        /// Channel name.
        name: String,
        /// The genesis configuration (an encoded ChannelConfig) to send instead.
        #[arg(long)]
        genesis: Option<PathBuf>,
    },
    /// List the channels the node has joined, with their heights, as JSON.
    List,
}

#[derive(Subcommand, Debug)]
enum ContractCommand {
    /// Install a .wasm on the node and define a new contract on the channel (as admin).
    /// Refused if NAME is already defined: use `upgrade`. With --init, the definition
    /// requires init (Fabric's --init-required) and the init transaction runs right after.
    #[command(after_help = "Examples:\n  \
        weft contract deploy kv kv.wasm\n  \
        weft contract deploy abstore abstore.wasm --init init A 100 B 200\n  \
        weft contract deploy basic basic.wasm --init InitLedger --org Org1,Org2 --min 1\n  \
        weft contract deploy ab ab.wasm --init init --init-json '[\"A\", 100, \"B\", 200]'")]
    Deploy {
        #[command(flatten)]
        define: DefineArgs,
        /// Version of this definition: at most 64 of a-z A-Z 0-9 _ . + - (Fabric's rule).
        #[arg(long, default_value = "1")]
        version: String,
    },
    /// Install a new .wasm for a defined contract and define it with a new --version (as
    /// admin); its state is kept. Refused if NAME is not defined or the version is
    /// unchanged. With --init, the new version requires init before other transactions
    /// run (queries included, as on a Fabric peer).
    #[command(after_help = "Examples:\n  \
        weft contract upgrade kv kv-v2.wasm --version 2\n  \
        weft contract upgrade abstore abstore.wasm --version 2 --init init A 0 B 0")]
    Upgrade {
        #[command(flatten)]
        define: DefineArgs,
        /// Version of the new definition (must differ from the current one).
        #[arg(long)]
        version: String,
    },
    /// List the contracts defined on the channel.
    List,
    /// Describe a deployed contract: its transaction functions with their arguments (name
    /// and type), return types and doc comments, as JSON (the contract's answer to the
    /// query `weft:describe`, which `#[weft_sdk::contract]` generates).
    Describe {
        /// Contract name.
        name: String,
    },
    /// Create a contract crate (Cargo.toml, src/lib.rs with two transactions and a test)
    /// in a new directory NAME (or --path).
    New {
        /// Contract (and crate) name.
        name: String,
        /// Where to create it (default: ./NAME).
        #[arg(long)]
        path: Option<PathBuf>,
        /// The weft-sdk crate to depend on: a weft clone or its sdk/weft-sdk directory.
        /// Default: the clone this weft runs from, else the one it was built from. Written
        /// relative to the new crate when both are under one directory (other than /).
        #[arg(long, env = "WEFT_SDK")]
        sdk: Option<PathBuf>,
    },
    /// Build the contract crate in --path (default: .) to .wasm and report its size. The
    /// same .wasm from any working directory: the profile is the crate's [profile.contract]
    /// and the link flags (a 64 KiB stack) are passed explicitly.
    Build {
        /// The contract crate's directory.
        #[arg(long, default_value = ".")]
        path: PathBuf,
    },
}

/// How a new dev network serves (`weft init`, and `weft dev` when it creates one).
#[derive(Args, Debug)]
struct NetworkArgs {
    /// Address the node will listen on (port 0: any free port).
    #[arg(long, default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Serve gRPC over TLS: writes a dev CA and a server certificate for localhost.
    #[arg(long)]
    tls: bool,
    /// Mutual TLS (implies --tls): also writes a client certificate signed by the dev CA,
    /// which the CLI presents, and the node refuses clients without one.
    #[arg(long)]
    mtls: bool,
}

impl NetworkArgs {
    /// The transport asked for (`--mtls` implies `--tls`).
    fn transport(&self) -> Transport {
        match (self.tls, self.mtls) {
            (_, true) => Transport::MutualTls,
            (true, false) => Transport::Tls,
            (false, false) => Transport::Plaintext,
        }
    }
}

/// What `contract deploy` and `contract upgrade` share.
#[derive(Args, Debug)]
struct DefineArgs {
    /// Contract name (its state namespace): letters and digits with single '-' or '_'
    /// between them, at most 64 (Fabric's chaincode name rule).
    name: String,
    /// The contract's .wasm file.
    wasm: PathBuf,
    /// Organizations whose peers must endorse (repeat or comma-separate): the policy is
    /// --min of `ORG.peer`, one per organization.
    #[arg(long = "org", value_delimiter = ',', default_value = "Org1", conflicts_with = "policy")]
    orgs: Vec<String>,
    /// How many of the --org organizations' peers must endorse (default: all).
    #[arg(long, conflicts_with = "policy")]
    min: Option<u32>,
    /// The endorsement policy in Fabric's syntax instead of --org/--min, e.g.
    /// "AND('Org1.peer', 'Org2.peer')", "OR(...)", "OutOf(2, ...)". Only peers endorse, so
    /// principals are ORG.peer (or ORG.member, which only the organization's peers meet).
    #[arg(long, value_name = "EXPR")]
    policy: Option<String>,
    /// Require init, and run it once the definition commits: FUNCTION then its arguments,
    /// each passed as a string (the contract's #[init] method gets the arguments; an
    /// argument starting with '-' other than a number needs --init-json).
    #[arg(long, num_args = 1.., value_names = ["FUNCTION", "ARGS"], allow_negative_numbers = true)]
    init: Option<Vec<String>>,
    /// The init arguments as a JSON array instead (as `weft invoke --json`); --init then
    /// gives only the function.
    #[arg(long, requires = "init", value_name = "JSON")]
    init_json: Option<String>,
}

/// `weft invoke`: a call, optionally as the contract's init.
#[derive(Args, Debug)]
struct InvokeArgs {
    #[command(flatten)]
    call: Call,
    /// Send the transaction as the contract's init (Fabric's --isInit): runs its #[init]
    /// method. Accepted once per version, only if the definition requires init (deployed
    /// with --init) and it has not run yet, e.g. after a deploy whose init failed.
    #[arg(long)]
    init: bool,
}

#[derive(Args, Debug)]
struct Call {
    /// Contract name.
    contract: String,
    /// Function, e.g. CreateAsset.
    function: String,
    /// Arguments, each passed as a string.
    args: Vec<String>,
    /// Arguments as a JSON array instead; strings are passed as they are, other values as
    /// their JSON text (e.g. '["asset7", 5, {"a": 1}]').
    #[arg(long, conflicts_with = "args")]
    json: Option<String>,
    /// Print only the response payload's bytes, as the contract returned them (no JSON).
    #[arg(long)]
    raw: bool,
}

#[derive(Subcommand, Debug)]
enum BlockCommand {
    /// Print a block (by number, or --hash) as JSON.
    Get {
        /// Block number.
        #[arg(required_unless_present = "hash")]
        number: Option<u64>,
        /// Block header hash, in hex.
        #[arg(long, conflicts_with = "number")]
        hash: Option<String>,
    },
    /// Fetch every block and check the hash chain.
    Verify,
}

#[derive(Subcommand, Debug)]
enum TxCommand {
    /// Print a committed transaction with its validation code as JSON.
    Get {
        /// Transaction id.
        tx_id: String,
    },
}

/// A command's output piped into a reader that stops early (`| head`) ends the command
/// quietly, as for any Unix tool, instead of a panic at the next print: exit status 141, as
/// a shell reports a tool that SIGPIPE ended. SIGPIPE itself stays ignored (Rust's
/// default): at its default disposition a write to a connection the node had closed (an
/// HTTP/2 `writev`, which cannot ask not to be signalled) killed the CLI without a word.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,cranelift_codegen=warn,wasmtime=warn,sled=warn".into()),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal: logs redirected to a file stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Node(_) | Command::Dev { .. }) {
        quiet_on_closed_stdout();
    }
    let result = weft_node::node::async_runtime()
        .context("starting the async runtime")
        .and_then(|runtime| runtime.block_on(run(cli)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// A failed call: when the contract itself refused (a status of 400 or more), its response is
/// printed on stdout in the usual shape and the error names the status and message; any other
/// failure is the node's status as it is.
fn refused(contract: &str, status: tonic::Status) -> anyhow::Error {
    match weft_client::contract_response(&status) {
        Some(response) => {
            let _ = output::print(&output::response(&response));
            anyhow::anyhow!(
                "contract {contract} refused with status {}: {}",
                response.status,
                response.message
            )
        }
        None => status.into(),
    }
}

/// The error and its causes on one line; a gRPC status shows its message and code. Control
/// characters from the node or a contract are shown escaped (`weft_rwset::text`), so an
/// error message cannot drive the terminal.
fn describe(error: &anyhow::Error) -> String {
    let text = error
        .chain()
        .map(|cause| match cause.downcast_ref::<tonic::Status>() {
            Some(status) => format!("{} [{:?}]", status.message(), status.code()),
            None => cause.to_string(),
        })
        .collect::<Vec<_>>()
        .join(": ");
    weft_rwset::text::escape_text(text.as_bytes(), DESCRIBE_MAX_BYTES)
}

/// Longest error line `weft` prints (longer ones are cut, ending with `…`).
const DESCRIBE_MAX_BYTES: usize = 64 << 10;

async fn run(cli: Cli) -> Result<()> {
    let net = DevNetwork::at(&cli.dir);
    match &cli.command {
        Command::Init { channel, network } => {
            net.create(channel, network.listen, network.transport())?;
            println!("created a dev network for channel {channel:?} in {}", cli.dir.display());
            println!("start it with: weft --dir {} node start", cli.dir.display());
            Ok(())
        }
        Command::Node(NodeCommand::Start { config }) => {
            let path = config.clone().unwrap_or_else(|| net.config_path());
            let config = load_config(&path)?;
            let node = start_node(&config, &cli.dir).await?;
            wait_for_signal().await?;
            stop_node(node, &cli.dir).await
        }
        Command::Node(NodeCommand::RebuildState { config }) => {
            let path = config.clone().unwrap_or_else(|| net.config_path());
            let config = load_config(&path)?;
            let data = config.data_dir.display();
            let cleared = weft_node::node::rebuild_state(&config).with_context(|| {
                format!("rebuilding the state of the ledgers in {data} (stop the node first)")
            })?;
            for ledger in cleared {
                println!(
                    "state cleared; the next start replays the blocks of {}",
                    ledger.display()
                );
            }
            Ok(())
        }
        Command::Dev { network } => dev(&cli, &net, network.listen, network.transport()).await,
        Command::Net(NetCommand::Up { dir, args }) => net::up(dir, args).await,
        Command::Net(NetCommand::Status { dir }) => net::status(dir).await,
        Command::Net(NetCommand::Down { dir }) => net::down(dir).await,
        Command::Channel(ChannelCommand::Create { name, peers }) => {
            let peers = peers.iter().map(|spec| peer_endpoint(spec)).collect::<Result<Vec<_>>>()?;
            let path = net.create_channel_with_peers(name, &peers)?;
            println!("wrote the genesis of channel {name} to {}", path.display());
            println!(
                "join the node to it with: weft --dir {} channel join {name}",
                cli.dir.display()
            );
            Ok(())
        }
        Command::Channel(ChannelCommand::Join { name, genesis }) => {
            let path = genesis.clone().unwrap_or_else(|| net.channel_genesis_path(name));
            let bytes = std::fs::read(&path).with_context(|| {
                format!(
                    "reading the genesis of channel {name} at {} (create it with `weft channel \
                     create {name}`, or pass --genesis)",
                    path.display()
                )
            })?;
            let genesis =
                <weft_proto::v1::ChannelConfig as prost::Message>::decode(bytes.as_slice())
                    .with_context(|| {
                        format!("{} is not an encoded ChannelConfig", path.display())
                    })?;
            if genesis.channel != *name {
                bail!(
                    "{} is the genesis of channel {:?}, not {name:?}",
                    path.display(),
                    genesis.channel
                );
            }
            let client = connect(&cli, "admin").await?;
            let joined = client.join_channel(bytes).await?;
            output::print(&serde_json::json!({
                "channel": joined.channel,
                "height": joined.height,
            }))
        }
        Command::Channel(ChannelCommand::List) => {
            let client = connect(&cli, "client").await?;
            let channels = client.list_channels().await?;
            output::print(&serde_json::Value::Array(
                channels
                    .into_iter()
                    .map(|c| serde_json::json!({ "channel": c.channel, "height": c.height }))
                    .collect(),
            ))
        }
        Command::Contract(ContractCommand::Deploy { define, version }) => {
            let client = connect(&cli, "admin").await?;
            let done = deploy(&client, define_request(define, version, false)?).await?;
            output::print(&output::deployed(&done))
        }
        Command::Contract(ContractCommand::Upgrade { define, version }) => {
            let client = connect(&cli, "admin").await?;
            let done = deploy(&client, define_request(define, version, true)?).await?;
            output::print(&output::deployed(&done))
        }
        Command::Contract(ContractCommand::New { name, path, sdk }) => {
            let dir = path.clone().unwrap_or_else(|| PathBuf::from(name));
            let sdk = sdk::find(sdk.as_deref())?;
            let made = scaffold::new_contract(name, &dir, &sdk)?;
            println!("created contract {name} in {}", dir.display());
            println!("weft-sdk: {} (in Cargo.toml)", made.sdk.display());
            if !made.locked {
                println!("note: no Cargo.lock next to the SDK; cargo picks dependency versions");
            }
            println!("test it: cd {} && cargo test", dir.display());
            println!("build it: weft contract build --path {}", dir.display());
            Ok(())
        }
        Command::Contract(ContractCommand::Build { path }) => {
            let spinner = ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .expect("a valid template"),
            );
            spinner.enable_steady_tick(Duration::from_millis(100));
            spinner.set_message(format!("building {} to wasm32", path.display()));
            let built = compile::build(path);
            spinner.finish_and_clear();
            let (wasm, size) = built?;
            if let Some(note) = compile::size_note(size) {
                eprintln!("warning: {note}");
            }
            output::print(&serde_json::json!({
                "wasm": wasm.display().to_string(),
                "bytes": size,
                "kib": (size as f64 / 1024.0 * 10.0).round() / 10.0,
            }))
        }
        Command::Contract(ContractCommand::List) => {
            let client = connect(&cli, "client").await?;
            let listed = client
                .admin
                .clone()
                .list_contracts(ListContractsRequest { channel: client.channel().into() })
                .await?;
            output::print(&output::contracts(&listed.into_inner().contracts))
        }
        Command::Contract(ContractCommand::Describe { name }) => {
            let client = connect(&cli, "client").await?;
            let response = client
                .evaluate(name, "weft:describe", vec![])
                .await
                .map_err(|status| refused(name, status))
                .with_context(|| {
                    format!(
                        "{name} does not describe itself: was it built with #[weft_sdk::contract]?"
                    )
                })?;
            let description: serde_json::Value = serde_json::from_slice(&response.payload)
                .with_context(|| {
                    format!("{name} answered weft:describe with something not JSON")
                })?;
            output::print(&description)
        }
        Command::Invoke(InvokeArgs { call, init }) => {
            let client = connect(&cli, "client").await?;
            let args = call_args(call)?;
            let done = if *init {
                client.submit_signed(client.init_proposal(&call.contract, &call.function, args))
            } else {
                client.submit_signed(client.proposal(&call.contract, &call.function, args))
            }
            .await
            .map_err(|status| refused(&call.contract, status))?;
            match call.raw {
                true => output::raw(&done.response.payload),
                false => output::print(&output::submitted(&done)),
            }
        }
        Command::Query(call) => {
            let client = connect(&cli, "client").await?;
            let response = client
                .evaluate(&call.contract, &call.function, call_args(call)?)
                .await
                .map_err(|status| refused(&call.contract, status))?;
            match call.raw {
                true => output::raw(&response.payload),
                false => output::print(&output::response(&response)),
            }
        }
        Command::Block(BlockCommand::Get { number, hash }) => {
            let client = connect(&cli, "client").await?;
            let by = match (number, hash) {
                (Some(n), _) => By::Number(*n),
                (None, Some(h)) => {
                    By::Hash(decode_hex(h).with_context(|| format!("--hash {h:?} is not hex"))?)
                }
                (None, None) => bail!("give a block number or --hash"),
            };
            let block = client
                .ledger
                .clone()
                .get_block(GetBlockRequest { by: Some(by), channel: client.channel().into() })
                .await?;
            output::print(&output::block(&block.into_inner()))
        }
        Command::Block(BlockCommand::Verify) => {
            let client = connect(&cli, "client").await?;
            let height = client.verify_chain().await?;
            output::print(&serde_json::json!({ "verified": true, "height": height }))
        }
        Command::Events { contract, from_block, after_tx } => {
            use weft_proto::v1::chaincode_events_request::Start;
            let client = connect(&cli, "client").await?;
            let start = match (from_block, after_tx) {
                (Some(n), _) => Some(Start::StartBlock(*n)),
                (None, Some(id)) => Some(Start::AfterTxId(id.clone())),
                (None, None) => None,
            };
            let request = weft_proto::v1::ChaincodeEventsRequest {
                contract: contract.clone(),
                start,
                channel: client.channel().into(),
            };
            let mut stream = client.gateway.clone().chaincode_events(request).await?.into_inner();
            while let Some(message) = stream.message().await? {
                for event in &message.events {
                    output::print_line(&output::event(message.block_number, event));
                }
            }
            Ok(())
        }
        Command::History { contract, key, hex } => {
            let client = connect(&cli, "client").await?;
            let key = if *hex {
                decode_hex(key).with_context(|| format!("KEY {key:?} is not hex (--hex)"))?
            } else {
                key.as_bytes().to_vec()
            };
            let request = GetKeyHistoryRequest {
                contract: contract.clone(),
                key,
                channel: client.channel().into(),
            };
            let history = client.ledger.clone().get_key_history(request).await?;
            output::print(&output::history(&history.into_inner().modifications))
        }
        Command::Tx(TxCommand::Get { tx_id }) => {
            let client = connect(&cli, "client").await?;
            let request =
                GetTransactionRequest { tx_id: tx_id.clone(), channel: client.channel().into() };
            let tx = client.ledger.clone().get_transaction(request).await?;
            output::print(&output::transaction(&tx.into_inner()))
        }
        Command::Bench(args) => run_bench(&cli, args).await,
    }
}

async fn run_bench(cli: &Cli, args: &BenchArgs) -> Result<()> {
    if !(args.duration.is_finite() && args.duration > 0.0) {
        bail!("--duration must be a positive number of seconds");
    }
    if !(args.warmup.is_finite() && args.warmup >= 0.0) {
        bail!("--warmup must be zero or a positive number of seconds");
    }
    let length = match args.txs {
        Some(0) => bail!("--txs must be at least 1"),
        Some(n) => bench::Length::Count(n),
        None => bench::Length::Duration(Duration::from_secs_f64(args.duration)),
    };
    let (dir, endpoint, servers) = match &args.net {
        Some(net_dir) => net::bench_targets(net_dir)?,
        None => {
            let node_pid = match args.node_pid {
                Some(pid) => Some(pid),
                // DIR/pid describes the node of DIR: only when the endpoint is DIR's too.
                None if cli.endpoint.is_none() => std::fs::read_to_string(cli.dir.join("pid"))
                    .ok()
                    .and_then(|p| p.trim().parse().ok()),
                None => None,
            };
            let node = node_pid.map(|pid| bench::Server { name: "node".into(), pid, etcd: false });
            (cli.dir.clone(), resolve_endpoint(cli)?, node.into_iter().collect())
        }
    };
    let plan = bench::Plan {
        phase: args.phase,
        clients: args.clients as usize,
        submit_clients: args.submit_clients.unwrap_or(args.clients) as usize,
        length,
        warmup: Duration::from_secs_f64(args.warmup),
        servers,
        endpoint: endpoint.clone(),
        channels: args.channels.iter().map(|&n| n as usize).collect(),
        clients_per_connection: args.clients_per_connection as usize,
    };
    let connect = || async {
        connect_as(cli, &dir, &endpoint, "client").await.map_err(|e| {
            let unreachable = e.chain().any(|cause| {
                cause.downcast_ref::<tonic::Status>().map(tonic::Status::code)
                    == Some(tonic::Code::Unavailable)
            });
            if unreachable {
                anyhow::anyhow!(
                    "no node is running at {endpoint}: start one with `weft dev` ({})",
                    describe(&e)
                )
            } else {
                e
            }
        })
    };
    let (report, table) = bench::run(&plan, connect, |n| bench_channels(cli, n)).await?;
    if args.json {
        output::print(&report)
    } else {
        print!("{table}");
        Ok(())
    }
}

/// The `n` channels `weft bench --channels` spreads its clients over: the one --channel names
/// (else DIR's first channel), then `bench-2` to `bench-N`, each created, joined and given
/// the benchmark's sample if it has not been yet.
async fn bench_channels(cli: &Cli, n: usize) -> Result<Vec<String>> {
    let net = DevNetwork::at(&cli.dir);
    let first = match &cli.channel {
        Some(channel) => channel.clone(),
        None => load_config(&net.config_path())?.channel_config()?.channel,
    };
    let mut names = vec![first];
    if n == 1 {
        return Ok(names);
    }
    let endpoint = resolve_endpoint(cli)?;
    let admin = connect_to(&net, &endpoint, net.identity("admin")?).await?;
    let joined: Vec<String> = admin.list_channels().await?.into_iter().map(|c| c.channel).collect();
    let (_, wasm) = SAMPLES
        .iter()
        .find(|(name, _)| *name == bench::CONTRACT)
        .context("the benchmark's sample is built in")?;
    for i in 2..=n {
        let name = format!("bench-{i}");
        let path = net.channel_genesis_path(&name);
        if !path.exists() {
            net.create_channel(&name)?;
        }
        if !joined.contains(&name) {
            let genesis =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            admin.join_channel(genesis).await.with_context(|| format!("joining {name}"))?;
        }
        let admin = admin.clone().on_channel(&name);
        let listed = admin
            .admin
            .clone()
            .list_contracts(ListContractsRequest { channel: name.clone() })
            .await?;
        if !listed.into_inner().contracts.iter().any(|c| c.name == bench::CONTRACT) {
            let sample = Deploy::new(
                bench::CONTRACT,
                "1",
                policy::peer(weft_node::devnet::ORG),
                wasm.to_vec(),
            );
            deploy(&admin, sample).await?;
        }
        names.push(name);
    }
    Ok(names)
}

fn load_config(path: &Path) -> Result<NodeConfig> {
    if !path.exists() {
        bail!(
            "{} does not exist: create a dev network with `weft init` (or `weft dev`), or pass \
             --dir / --config",
            path.display()
        );
    }
    Ok(NodeConfig::load(path)?)
}

/// Starts the node and records its endpoint in DIR/endpoint for the other commands.
async fn start_node(config: &NodeConfig, dir: &Path) -> Result<weft_node::Node> {
    let node = weft_node::Node::start(config).await?;
    let endpoint = endpoint_of(config, node.local_addr());
    std::fs::write(dir.join("endpoint"), &endpoint)
        .with_context(|| format!("writing {}", dir.join("endpoint").display()))?;
    // For `weft bench`, which reads the node's CPU time and RSS from /proc.
    std::fs::write(dir.join("pid"), std::process::id().to_string())
        .with_context(|| format!("writing {}", dir.join("pid").display()))?;
    println!("node serving on {endpoint}");
    Ok(node)
}

async fn stop_node(node: weft_node::Node, dir: &Path) -> Result<()> {
    eprintln!("stopping: committing the block in flight");
    let _ = std::fs::remove_file(dir.join("endpoint"));
    let _ = std::fs::remove_file(dir.join("pid"));
    node.shutdown().await?;
    eprintln!("stopped");
    Ok(())
}

async fn wait_for_signal() -> Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("listening for Ctrl-C")?,
        _ = term.recv() => {}
    }
    Ok(())
}

async fn dev(cli: &Cli, net: &DevNetwork, listen: SocketAddr, transport: Transport) -> Result<()> {
    if !net.exists() {
        net.create("dev", listen, transport)?;
        eprintln!("created a dev network in {}", cli.dir.display());
    }
    let config = load_config(&net.config_path())?;
    // The samples go to the network's first channel (or --channel's), however many the node
    // has joined.
    let channel = match &cli.channel {
        Some(channel) => channel.clone(),
        None => config.channel_config()?.channel,
    };
    let node = start_node(&config, &cli.dir).await?;
    let endpoint = endpoint_of(&config, node.local_addr());
    let result = async {
        let admin = connect_to(net, &endpoint, net.identity("admin")?).await?.on_channel(&channel);
        let listed = admin
            .admin
            .clone()
            .list_contracts(ListContractsRequest { channel: admin.channel().into() })
            .await?;
        let defined: Vec<String> =
            listed.into_inner().contracts.into_iter().map(|d| d.name).collect();
        for (name, wasm) in SAMPLES {
            if defined.iter().any(|d| d == name) {
                eprintln!("{name}: already deployed");
                continue;
            }
            let mut sample =
                Deploy::new(name, "1", policy::peer(weft_node::devnet::ORG), wasm.to_vec());
            if let Some((function, args)) = sample_init(name) {
                sample = sample
                    .with_init(function, args.iter().map(|a| a.as_bytes().to_vec()).collect());
            }
            deploy(&admin, sample).await?;
        }
        anyhow::Ok(())
    }
    .await;
    if let Err(e) = result {
        let _ = stop_node(node, &cli.dir).await;
        return Err(e);
    }
    println!(
        "ready: try `weft invoke asset-transfer InitLedger` then `weft query asset-transfer GetAllAssets`"
    );
    wait_for_signal().await?;
    stop_node(node, &cli.dir).await
}

/// The init transaction `weft dev` runs when it deploys a sample: abstore's `init A 100 B 200`
/// (Fabric's chaincode_example02), so a new user sees an init-required contract work.
fn sample_init(name: &str) -> Option<(&'static str, &'static [&'static str])> {
    (name == "abstore").then_some(("init", &["A", "100", "B", "200"]))
}

/// The deploy or upgrade `define` asks for.
fn define_request(define: &DefineArgs, version: &str, upgrade: bool) -> Result<Deploy> {
    weft_protocol::names::check(&define.name, version)?;
    let wasm = std::fs::read(&define.wasm)
        .with_context(|| format!("reading the contract {}", define.wasm.display()))?;
    let policy = match &define.policy {
        Some(text) => policy::parse(text)?,
        None => endorsement_policy(&define.orgs, define.min)?,
    };
    let mut request = Deploy::new(&define.name, version, policy, wasm);
    if let Some(init) = &define.init {
        let (function, words) = init.split_first().context("--init needs a FUNCTION")?;
        let args = match &define.init_json {
            Some(_) if !words.is_empty() => {
                bail!("give the init arguments after --init {function} or as --init-json, not both")
            }
            Some(json) => json_args(json, "--init-json")?,
            None => words.iter().map(|a| a.as_bytes().to_vec()).collect(),
        };
        request = request.with_init(function, args);
    }
    if upgrade {
        request = request.upgrade();
    }
    Ok(request)
}

/// Deploys (or upgrades) with a spinner; reports each committed step on stderr.
async fn deploy(client: &Client, request: Deploy) -> Result<Deployed> {
    let (name, version) = (request.name.clone(), request.version.clone());
    let verb = if request.upgrade { "upgrading" } else { "deploying" };
    let spinner = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("a valid template"),
    );
    spinner.enable_steady_tick(Duration::from_millis(100));
    spinner.set_message(format!("{verb} {name} {version} ({} KiB)", request.wasm.len() / 1024));
    let done = client.deploy(request).await;
    spinner.finish_and_clear();
    let done = done.with_context(|| format!("{verb} {name}"))?;
    let past = if verb == "upgrading" { "upgraded to" } else { "deployed" };
    eprintln!("{name}: {past} version {version} in block {}", done.definition.status.block_number);
    if let Some(init) = &done.init {
        eprintln!("{name}: initialized in block {}", init.status.block_number);
    }
    Ok(done)
}

fn endorsement_policy(
    orgs: &[String],
    min: Option<u32>,
) -> Result<weft_proto::v1::EndorsementPolicy> {
    if orgs.is_empty() {
        bail!("--org needs at least one organization");
    }
    let n = min.unwrap_or(orgs.len() as u32);
    if n == 0 || n as usize > orgs.len() {
        bail!("--min {n} must be between 1 and the number of --org ({})", orgs.len());
    }
    if orgs.len() == 1 {
        return Ok(policy::peer(&orgs[0]));
    }
    Ok(policy::n_of(n, orgs.iter().map(|o| policy::peer(o)).collect()))
}

fn call_args(call: &Call) -> Result<Vec<Vec<u8>>> {
    match &call.json {
        Some(json) => json_args(json, "--json"),
        None => Ok(call.args.iter().map(|a| a.as_bytes().to_vec()).collect()),
    }
}

/// Arguments from a JSON array: strings as they are, other values as their JSON text.
fn json_args(json: &str, flag: &str) -> Result<Vec<Vec<u8>>> {
    let values: Vec<serde_json::Value> = serde_json::from_str(json)
        .with_context(|| format!("{flag} must be a JSON array, got {json:?}"))?;
    Ok(values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => s.into_bytes(),
            other => other.to_string().into_bytes(),
        })
        .collect())
}

async fn connect(cli: &Cli, default_role: &str) -> Result<Client> {
    connect_as(cli, &cli.dir, &resolve_endpoint(cli)?, default_role).await
}

/// Connects to `endpoint` as --as (else `default_role`) of the network in `dir`, on
/// --channel if given.
async fn connect_as(cli: &Cli, dir: &Path, endpoint: &str, default_role: &str) -> Result<Client> {
    let net = DevNetwork::at(dir);
    let role = cli.role.as_deref().unwrap_or(default_role);
    let (org, name) = net.resolve_identity(role).context("--as")?;
    let identity = net.identity(role).with_context(|| {
        format!("no key of {org}'s {name} in {}: run `weft init` or pass --dir", dir.display())
    })?;
    let client = connect_to(&net, endpoint, identity).await.with_context(|| {
        format!("connecting to the node at {endpoint} (is `weft node start` running?)")
    })?;
    Ok(match &cli.channel {
        Some(channel) => client.on_channel(channel),
        None => client,
    })
}

/// --endpoint, else the address the running node wrote to DIR/endpoint, else the address
/// in DIR/node.toml.
fn resolve_endpoint(cli: &Cli) -> Result<String> {
    Ok(match &cli.endpoint {
        Some(e) => e.clone(),
        None => match std::fs::read_to_string(cli.dir.join("endpoint")) {
            Ok(e) => e.trim().to_string(),
            Err(_) => {
                let config = load_config(&DevNetwork::at(&cli.dir).config_path())?;
                endpoint_of(&config, config.listen)
            }
        },
    })
}

/// `https://ADDR` if the node serves TLS, else `http://ADDR`.
fn endpoint_of(config: &NodeConfig, addr: SocketAddr) -> String {
    let scheme = if config.tls.is_some() { "https" } else { "http" };
    format!("{scheme}://{addr}")
}

/// Connects; for `https://` endpoints over TLS, trusting the network's dev CA and
/// presenting its client certificate when it has one (`weft init --mtls`).
async fn connect_to(
    net: &DevNetwork,
    endpoint: &str,
    identity: weft_protocol::identity::SigningIdentity,
) -> Result<Client> {
    if endpoint.starts_with("https://") {
        let tls = net.tls_options()?;
        return Ok(Client::connect_tls(endpoint, &tls, identity).await?);
    }
    Ok(Client::connect(endpoint, identity).await?)
}

/// A `--peer` of `weft channel create`: `ORG=HOST:PORT`, optionally `,tls_ca=FILE`.
fn peer_endpoint(spec: &str) -> Result<(String, weft_proto::v1::PeerEndpoint)> {
    let (org, rest) = spec.split_once('=').with_context(|| {
        format!("--peer {spec:?}: write ORG=HOST:PORT or ORG=HOST:PORT,tls_ca=FILE")
    })?;
    let (address, tls_ca) = match rest.split_once(",tls_ca=") {
        None => (rest, Vec::new()),
        Some((address, file)) => {
            let pem = std::fs::read(file)
                .with_context(|| format!("--peer {spec:?}: reading the TLS CA {file}"))?;
            (address, pem)
        }
    };
    let endpoint = weft_proto::v1::PeerEndpoint { address: address.to_string(), tls_ca };
    Ok((org.to_string(), endpoint))
}
