//! The channels a node has joined ([`Channels`]): each is its own peer ([`ChannelPeer`]),
//! with its ledger, endorser, orderer, committer thread and commit notifier; the contract
//! definitions are its ledger's. Node-wide stay the installed code (the `Simulator`), the
//! contract threads, the metrics and the gRPC server.
//!
//! On disk, a channel is a directory of its name (a valid channel name, see
//! `weft_protocol::names::check_channel`, so a safe directory name):
//!
//! ```text
//! DATA_DIR/channels/NAME/genesis.pb   its genesis configuration (encoded ChannelConfig)
//! DATA_DIR/channels/NAME/ledger/      its ledger
//! ```
//!
//! At start the node opens the channel of `genesis` in node.toml (creating it the first
//! time) and every other channel directory, so joined channels survive a restart. A ledger
//! left by a single-channel node at `DATA_DIR/ledger` is moved to its channel's directory
//! first (a rename: its blocks and state are kept as they are).
//!
//! Requests name their channel; [`Channels::resolve`] applies the one rule: an empty name
//! means the node's only channel (with several, it is `INVALID_ARGUMENT`, listing them), and
//! a channel not joined is `NOT_FOUND`, naming it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use prost::Message;
use weft_ledger::{Ledger, LedgerOptions};
use weft_orderer::Orderer;
use weft_proto::quote::quote;
use weft_proto::v1::{ChannelConfig, Identity};
use weft_protocol::channel::Channel;
use weft_protocol::identity::{Role, SigningIdentity, role_name};
use weft_protocol::names;
use weft_runtime::Simulator;

use crate::committer::{self, CommitNotifier};
use crate::config::NodeConfig;
use crate::endorser::Endorser;
use crate::error::{Error, Result};
use crate::lifecycle;
use crate::metrics::Metrics;
use crate::ordering::{self, OrderingConfig};

/// The directory under the data directory that holds one directory per channel.
pub const CHANNELS_DIR: &str = "channels";

/// The file of a channel's directory holding its genesis configuration.
pub const GENESIS_FILE: &str = "genesis.pb";

/// Where a single-channel node kept its ledger, under the data directory.
const LEGACY_LEDGER_DIR: &str = "ledger";

/// The directory of channel `name` under `data_dir`.
pub fn channel_dir(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join(CHANNELS_DIR).join(name)
}

/// The ledger directories of every channel under `data_dir` (and a single-channel node's
/// ledger not moved yet), for tools that work on stopped nodes (`weft node rebuild-state`).
pub fn ledger_dirs(data_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = channel_names(data_dir)?
        .into_iter()
        .map(|name| channel_dir(data_dir, &name).join(LEGACY_LEDGER_DIR))
        .filter(|dir| dir.exists())
        .collect();
    let legacy = data_dir.join(LEGACY_LEDGER_DIR);
    if legacy.exists() {
        dirs.push(legacy);
    }
    Ok(dirs)
}

/// The names of the channel directories under `data_dir`, sorted.
fn channel_names(data_dir: &Path) -> Result<Vec<String>> {
    let root = data_dir.join(CHANNELS_DIR);
    let entries = match std::fs::read_dir(&root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("reading {}", root.display()))(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(Error::io(format!("reading {}", root.display())))?;
        if !entry.path().join(GENESIS_FILE).exists() {
            continue;
        }
        let name = entry.file_name().into_string().map_err(|name| {
            Error::Config(format!("{} is not a channel directory", root.join(name).display()))
        })?;
        names.push(name);
    }
    names.sort();
    Ok(names)
}

/// One channel's peer: its ledger (state, blocks, contract definitions), endorser, orderer,
/// committer thread and commit notifier.
pub struct ChannelPeer {
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) endorser: Endorser,
    pub(crate) orderer: Arc<dyn Orderer>,
    pub(crate) notifier: Arc<CommitNotifier>,
    threads: Mutex<Option<PeerThreads>>,
}

/// The threads of a channel's peer, joined at shutdown.
struct PeerThreads {
    orderer: Option<JoinHandle<()>>,
    committer: JoinHandle<Result<()>>,
}

impl std::fmt::Debug for ChannelPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelPeer").field("channel", &self.name()).finish_non_exhaustive()
    }
}

impl ChannelPeer {
    /// The channel's name.
    pub fn name(&self) -> String {
        self.ledger.channel().name().to_owned()
    }

    /// The channel's ledger.
    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }
}

/// What every channel's peer is made with: the node's settings.
struct PeerSettings {
    data_dir: PathBuf,
    ledger: LedgerOptions,
    peer: SigningIdentity,
    more_peers: Vec<SigningIdentity>,
    time_window: Duration,
    ordering: OrderingConfig,
    sim: Simulator,
    metrics: Arc<Metrics>,
}

/// The channels a node has joined, by name.
pub struct Channels {
    settings: PeerSettings,
    /// The channel of node.toml's `genesis`.
    bootstrap: String,
    peers: RwLock<BTreeMap<String, Arc<ChannelPeer>>>,
    /// Held while a channel is joined, so two joins of one name do not race; `true` once
    /// the node is stopping (no more joins).
    joining: Mutex<bool>,
}

impl std::fmt::Debug for Channels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channels").field("joined", &self.names()).finish_non_exhaustive()
    }
}

impl Channels {
    /// Opens the node's channels: the one of node.toml's `genesis` (created the first time;
    /// a single-channel node's `data_dir/ledger` is moved into it), then every other channel
    /// directory, and starts each one's peer.
    pub(crate) fn open(
        config: &NodeConfig,
        sim: Simulator,
        metrics: Arc<Metrics>,
    ) -> Result<Channels> {
        let genesis = config.channel_config()?;
        names::check_channel(&genesis.channel).map_err(|e| {
            Error::Config(format!("the genesis configuration {}: {e}", config.genesis.display()))
        })?;
        let settings = PeerSettings {
            data_dir: config.data_dir.clone(),
            ledger: config.ledger.options(config.durability),
            peer: config.peer_identity()?,
            more_peers: config.more_peer_identities()?,
            time_window: config.peer.time_window(),
            ordering: OrderingConfig::of(config),
            sim,
            metrics,
        };
        let channels = Channels {
            settings,
            bootstrap: genesis.channel.clone(),
            peers: RwLock::new(BTreeMap::new()),
            joining: Mutex::new(false),
        };
        channels.check_peer(&Channel::new(genesis.clone())?)?;
        channels.adopt_legacy_ledger(&genesis)?;
        let dir = channel_dir(&channels.settings.data_dir, &genesis.channel);
        if !dir.join(GENESIS_FILE).exists() {
            write_genesis(&dir, &genesis)?;
        }
        let mut started = Vec::new();
        let opened = (|| {
            // The channel of node.toml first, with node.toml's genesis: a ledger made with
            // another is refused, naming its directory.
            started.push(channels.open_peer(genesis.clone())?);
            for name in channel_names(&channels.settings.data_dir)? {
                if name != genesis.channel {
                    let config = read_genesis(&channel_dir(&channels.settings.data_dir, &name))?;
                    if config.channel != name {
                        return Err(Error::Config(format!(
                            "{} holds the genesis of channel {}, not of {}",
                            channel_dir(&channels.settings.data_dir, &name).display(),
                            quote(&config.channel),
                            quote(&name)
                        )));
                    }
                    started.push(channels.open_peer(config)?);
                }
            }
            Ok(())
        })();
        if let Err(e) = opened {
            // Stop what started before the failure.
            for peer in &started {
                peer.orderer.close();
            }
            let _ = join_threads(&started);
            return Err(e);
        }
        let mut peers = channels.peers.write().expect("channels lock");
        for peer in started {
            peers.insert(peer.name(), peer);
        }
        drop(peers);
        Ok(channels)
    }

    /// Moves a single-channel node's ledger (`data_dir/ledger`) into the directory of the
    /// channel of `genesis`. A rename: nothing is rewritten. Refused if that channel already
    /// has a ledger of its own (both would claim the channel).
    fn adopt_legacy_ledger(&self, genesis: &ChannelConfig) -> Result<()> {
        let legacy = self.settings.data_dir.join(LEGACY_LEDGER_DIR);
        if !legacy.exists() {
            return Ok(());
        }
        let dir = channel_dir(&self.settings.data_dir, &genesis.channel);
        let target = dir.join(LEGACY_LEDGER_DIR);
        if target.exists() {
            return Err(Error::Config(format!(
                "both {} (a single-channel node's ledger) and {} exist: keep one",
                legacy.display(),
                target.display()
            )));
        }
        // The genesis first: a crash before the rename leaves the old ledger where it was,
        // and the next start moves it.
        write_genesis(&dir, genesis)?;
        std::fs::rename(&legacy, &target).map_err(Error::io(format!(
            "moving the ledger {} to {}",
            legacy.display(),
            target.display()
        )))?;
        tracing::info!(
            from = %legacy.display(),
            to = %target.display(),
            "moved the single-channel ledger into its channel's directory"
        );
        Ok(())
    }

    /// Opens the ledger of `config`'s channel (creating it if new) and starts its peer.
    fn open_peer(&self, config: ChannelConfig) -> Result<Arc<ChannelPeer>> {
        let settings = &self.settings;
        let name = config.channel.clone();
        let path = channel_dir(&settings.data_dir, &name).join(LEGACY_LEDGER_DIR);
        let ledger = Ledger::open_with(&path, config, settings.ledger).map_err(|e| {
            match e.needs_state_rebuild() {
                true => Error::Config(format!(
                    "{e}. With the node stopped, run `weft node rebuild-state`: the blocks are \
                     kept, and the state is replayed from them at the next start"
                )),
                false => e.into(),
            }
        })?;
        let ledger = Arc::new(ledger);
        self.check_peer(&ledger.channel())?;
        let ordering = ordering::start(&settings.ordering, &ledger)?;
        let orderer = ordering.orderer;
        let notifier = Arc::new(CommitNotifier::new(ledger.clone()));
        let committer = {
            let (ledger, orderer, notifier, metrics) =
                (ledger.clone(), orderer.clone(), notifier.clone(), settings.metrics.clone());
            std::thread::Builder::new().name(format!("weft-commit-{name}")).spawn(move || {
                committer::run(
                    &ledger,
                    &*orderer,
                    &notifier,
                    Box::new(move |b| metrics.committed(b)),
                )
            })
        };
        let committer = match committer {
            Ok(thread) => thread,
            Err(e) => {
                orderer.close();
                return Err(Error::io(format!("spawning the committer of channel {name}"))(e));
            }
        };
        let endorser = Endorser::new(
            ledger.clone(),
            settings.sim.clone(),
            settings.peer.clone(),
            settings.time_window,
        )
        .also_endorsing_as(settings.more_peers.clone());
        tracing::info!(channel = %name, height = ledger.chain_info().height, "channel opened");
        Ok(Arc::new(ChannelPeer {
            ledger,
            endorser,
            orderer,
            notifier,
            threads: Mutex::new(Some(PeerThreads { orderer: ordering.thread, committer })),
        }))
    }

    /// Refuses a channel that does not list this node's peer keys with the peer role.
    fn check_peer(&self, channel: &Channel) -> Result<()> {
        let settings = &self.settings;
        for (identity, setting) in std::iter::once((&settings.peer, "[peer] key"))
            .chain(settings.more_peers.iter().map(|p| (p, "[peer] also_endorse_as")))
        {
            check_peer(channel, identity, setting)?;
        }
        Ok(())
    }

    /// The peer of the channel a request names: an empty name means the node's only
    /// channel (`INVALID_ARGUMENT` listing them when it has several); a channel not joined
    /// is `NOT_FOUND`, naming it and the ones the node has.
    pub fn resolve(&self, channel: &str) -> Result<Arc<ChannelPeer>> {
        let peers = self.peers.read().expect("channels lock");
        if channel.is_empty() {
            return match peers.len() {
                1 => Ok(peers.values().next().expect("one channel").clone()),
                _ => Err(Error::BadRequest(format!(
                    "the request names no channel and this node has joined several: name one \
                     of {}",
                    list(peers.keys())
                ))),
            };
        }
        peers.get(channel).cloned().ok_or_else(|| {
            Error::NotFound(format!(
                "this node has not joined channel {} (it has joined {})",
                quote(channel),
                list(peers.keys())
            ))
        })
    }

    /// Every joined channel's peer, by name.
    pub fn all(&self) -> Vec<Arc<ChannelPeer>> {
        self.peers.read().expect("channels lock").values().cloned().collect()
    }

    /// The names of the joined channels, sorted.
    pub fn names(&self) -> Vec<String> {
        self.peers.read().expect("channels lock").keys().cloned().collect()
    }

    /// The channel of node.toml's `genesis`.
    pub fn bootstrap(&self) -> Arc<ChannelPeer> {
        self.resolve(&self.bootstrap).expect("the bootstrap channel is always joined")
    }

    /// The channel requests without a name go to where there is one, else the first by
    /// name (as `Health` reports it).
    pub(crate) fn default_channel(&self) -> Arc<ChannelPeer> {
        let peers = self.peers.read().expect("channels lock");
        peers.values().next().expect("a node has a channel").clone()
    }

    /// Joins the channel whose encoded genesis configuration is `genesis`, as asked by
    /// `signer` (an admin of one of its organizations, who signed
    /// `weft_protocol::lifecycle::join_message`): writes its directory and starts its peer.
    /// Blocks (opens a database): call off the async workers.
    pub(crate) fn join(
        &self,
        genesis: &[u8],
        signer: &Identity,
        signature: &[u8],
    ) -> Result<Arc<ChannelPeer>> {
        let config = ChannelConfig::decode(genesis).map_err(|e| {
            Error::BadRequest(format!("the genesis configuration does not decode: {e}"))
        })?;
        names::check_channel(&config.channel).map_err(|e| Error::BadRequest(e.to_string()))?;
        let channel = Channel::new(config.clone()).map_err(|e| {
            Error::BadRequest(format!(
                "the genesis configuration of channel {}: {e}",
                quote(&config.channel)
            ))
        })?;
        lifecycle::check_join(&channel, genesis, signer, signature)?;
        // And the node's own admin asks, as a channel it already serves knows them: the
        // genesis sent cannot vouch for its sender (anyone can write one naming this peer).
        self.check_local_admin(signer, "joining a channel")?;
        let closed = self.joining.lock().expect("join lock");
        if *closed {
            return Err(Error::ShuttingDown);
        }
        let name = config.channel.clone();
        let dir = channel_dir(&self.settings.data_dir, &name);
        if self.peers.read().expect("channels lock").contains_key(&name) {
            return Err(Error::AlreadyExists(format!(
                "this node has already joined channel {}",
                quote(&name)
            )));
        }
        if dir.exists() {
            // The path is for the operator's log, not for the remote caller.
            tracing::warn!(dir = %dir.display(), channel = %name, "a join found a channel directory the node does not serve");
            return Err(Error::Config(format!(
                "the directory of channel {} exists but is not a channel this node serves (a \
                 join that did not finish, or a directory made by hand): the node's operator \
                 must remove it, with the node stopped (see the node's log)",
                quote(&name)
            )));
        }
        self.check_peer(&channel).map_err(|e| match e {
            Error::Config(message) => Error::PermissionDenied(format!(
                "this node cannot serve channel {}: {message}",
                quote(&name)
            )),
            other => other,
        })?;
        write_genesis(&dir, &config)?;
        let peer = match self.open_peer(config) {
            Ok(peer) => peer,
            Err(e) => {
                // Nothing committed yet: leave no half-made channel behind.
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        self.peers.write().expect("channels lock").insert(name.clone(), peer.clone());
        drop(closed);
        tracing::info!(channel = %name, signer = %signer.msp_id, "joined channel");
        Ok(peer)
    }

    /// Checks that `signer` is an admin of one of this node's own organizations (those of
    /// `[peer]` and `[peer] also_endorse_as`: Fabric's local MSP admins), as the channel of
    /// node.toml's genesis lists them. Only they may install code or join channels: an
    /// admin of another organization of a shared channel may not, and a genesis sent with a
    /// join request cannot vouch for its own sender.
    fn check_local_admin(&self, signer: &Identity, what: &str) -> Result<()> {
        let settings = &self.settings;
        let local = std::iter::once(&settings.peer)
            .chain(&settings.more_peers)
            .any(|peer| peer.msp_id() == signer.msp_id);
        let trusted = self.bootstrap().ledger.channel();
        let admin = trusted.membership().resolve(signer).is_some_and(|m| m.role == Role::Admin);
        if local && admin {
            return Ok(());
        }
        Err(Error::PermissionDenied(format!(
            "{what} needs an admin of this node's own organization, as channel {} lists it; \
             the signer of organization {} is not one",
            quote(trusted.name()),
            quote(&signer.msp_id)
        )))
    }

    /// Checks that `signer` may install code on this peer: an admin of this node's own
    /// organization ([`Channels::check_local_admin`]), who signed the install message of
    /// `wasm` with the key a joined channel lists.
    pub(crate) fn check_install(
        &self,
        wasm: &[u8],
        signer: &Identity,
        signature: &[u8],
    ) -> Result<()> {
        let mut refusal = None;
        for peer in self.all() {
            match lifecycle::check_install(&peer.ledger.channel(), wasm, signer, signature) {
                Ok(()) => return self.check_local_admin(signer, "installing contracts"),
                // A member who is not an admin says more than "unknown signer".
                Err(e @ Error::PermissionDenied(_)) => refusal = Some(e),
                Err(e) => {
                    refusal.get_or_insert(e);
                }
            }
        }
        Err(refusal.unwrap_or_else(|| Error::Internal("the node has no channel".into())))
    }

    /// Stops every channel's ordering (each cuts and delivers its batch in flight) and any
    /// further join.
    pub(crate) fn close(&self) {
        *self.joining.lock().expect("join lock") = true;
        for peer in self.all() {
            peer.orderer.close();
        }
    }

    /// Waits for every channel's orderer and committer threads to end (after
    /// [`Channels::close`]): each channel's last block is committed. Blocks.
    pub(crate) fn join_threads(&self) -> Result<()> {
        join_threads(&self.all())
    }
}

/// Joins the threads of `peers`; the first committer failure is returned, after all are
/// joined.
fn join_threads(peers: &[Arc<ChannelPeer>]) -> Result<()> {
    let mut result = Ok(());
    for peer in peers {
        let Some(threads) = peer.threads.lock().expect("threads lock").take() else { continue };
        if let Some(orderer) = threads.orderer {
            let _ = orderer.join();
        }
        let committed = threads.committer.join().unwrap_or_else(|_| {
            Err(Error::Internal(format!("the committer of channel {} panicked", peer.name())))
        });
        if let Err(e) = committed
            && result.is_ok()
        {
            result = Err(e);
        }
    }
    result
}

/// Names, quoted, comma-separated.
fn list<'a>(names: impl Iterator<Item = &'a String>) -> String {
    names.map(|n| quote(n).to_string()).collect::<Vec<_>>().join(", ")
}

/// Writes `genesis` as `dir/genesis.pb` (creating `dir`), through a temporary file so a
/// crash leaves either no file or the whole one.
fn write_genesis(dir: &Path, genesis: &ChannelConfig) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    let path = dir.join(GENESIS_FILE);
    let partial = dir.join(format!("{GENESIS_FILE}.partial"));
    std::fs::write(&partial, genesis.encode_to_vec())
        .map_err(Error::io(format!("writing {}", partial.display())))?;
    std::fs::File::open(&partial)
        .and_then(|f| f.sync_all())
        .map_err(Error::io(format!("syncing {}", partial.display())))?;
    std::fs::rename(&partial, &path).map_err(Error::io(format!("writing {}", path.display())))
}

/// Reads `dir/genesis.pb`.
fn read_genesis(dir: &Path) -> Result<ChannelConfig> {
    let path = dir.join(GENESIS_FILE);
    let bytes = std::fs::read(&path).map_err(Error::io(format!("reading {}", path.display())))?;
    ChannelConfig::decode(bytes.as_slice()).map_err(|e| {
        Error::Config(format!("{} is not an encoded ChannelConfig: {e}", path.display()))
    })
}

/// Refuses a key (from `setting`) that is not an identity with the peer role on `channel`.
fn check_peer(channel: &Channel, peer: &SigningIdentity, setting: &str) -> Result<()> {
    match channel.membership().resolve(peer.identity()) {
        Some(member) if member.role == Role::Peer => Ok(()),
        Some(member) => Err(Error::Config(format!(
            "the peer key ({setting}) is {} in the genesis configuration of channel {}, whose \
             role is {}: only an identity with the peer role endorses",
            member.id(),
            quote(channel.name()),
            role_name(member.role)
        ))),
        None => Err(Error::Config(format!(
            "the peer key ({setting}) is not an identity of {} in the genesis configuration of \
             channel {}",
            peer.msp_id(),
            quote(channel.name())
        ))),
    }
}
