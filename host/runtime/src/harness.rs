//! The offline harness for contract authors: deploy a real `.wasm`, init, invoke, query and
//! commit in-process, with no network, running the same [`Simulator`] the node uses.
//!
//! Successful invocations wait in a pending block; [`Harness::commit`] orders them into one
//! block and validates them in order with the ledger's MVCC and phantom-read rules
//! ([`weft_rwset::report::conflict_report`], the same checks the SDK's `MockStub` and the
//! ledger's validator use), so conflicting transactions show up here as they would on a
//! network. Signatures, endorsement policies and block storage are the node's business.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use weft_abi::Timestamp;
use weft_proto::v1::TxValidationCode;
use weft_rwset::mvcc::CommittedState;
use weft_rwset::report::{CommittedBlock, ConflictReport, conflict_report_ns};
use weft_rwset::{
    MemoryHistory, MemoryState, NsReadWriteSet, StateError, StateIter, StateView, Version,
    VersionedValue,
};

use crate::cache::CodeHash;
use crate::engine::RuntimeConfig;
use crate::error::{DeployError, Result, RuntimeError};
use crate::outcome::{Outcome, Simulation};
use crate::simulator::Simulator;
use weft_rwset::{Creator, Invocation};

/// A deployed contract in the harness.
struct Deployed {
    hash: CodeHash,
    state: Arc<MemoryState>,
    history: Arc<MemoryHistory>,
}

/// A simulated transaction waiting for the next block.
struct Pending {
    invocation: Invocation,
    simulation: Simulation,
}

/// An in-process ledger of one peer, for contract tests on real `.wasm`.
///
/// ```no_run
/// use weft_runtime::Harness;
///
/// let mut h = Harness::new().unwrap();
/// h.deploy("kv", &std::fs::read("kv.wasm").unwrap()).unwrap();
/// // Simulate and commit in one step...
/// let sim = h.submit("kv", "Put", &["k", "v"]).unwrap().unwrap();
/// assert_eq!(sim.rwset.writes[0].key, b"k");
/// assert_eq!(h.get("kv", b"k"), Some(b"v".to_vec()));
/// // ...or endorse several and commit them as one block, with MVCC validation.
/// h.invoke("kv", "Put", &["a", "1"]).unwrap().unwrap();
/// h.invoke("kv", "Put", &["b", "2"]).unwrap().unwrap();
/// let block = h.commit().unwrap();
/// assert_eq!(block.tx_ids.len(), 2);
/// ```
pub struct Harness {
    simulator: Simulator,
    contracts: HashMap<String, Deployed>,
    pending: Vec<Pending>,
    height: u64,
    tx_counter: u64,
    dir: PathBuf,
    remove_dir: bool,
    /// The creator used for every call.
    pub creator: Creator,
    /// The channel name used for every call.
    pub channel: String,
}

static NEXT_DIR: AtomicU64 = AtomicU64::new(0);

impl Harness {
    /// A harness with the default runtime configuration in a fresh temporary directory
    /// (removed when the harness is dropped).
    pub fn new() -> Result<Harness> {
        Harness::with_config(RuntimeConfig::default())
    }

    /// A harness with `config` in a fresh temporary directory (removed when dropped).
    pub fn with_config(config: RuntimeConfig) -> Result<Harness> {
        let dir = std::env::temp_dir().join(format!(
            "weft-harness-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::Relaxed)
        ));
        let mut h = Harness::open(&dir, config)?;
        h.remove_dir = true;
        Ok(h)
    }

    /// A harness keeping its compiled contracts in `dir`, with `config`.
    pub fn open(dir: &Path, config: RuntimeConfig) -> Result<Harness> {
        Ok(Harness {
            simulator: Simulator::open(dir, config)?,
            contracts: HashMap::new(),
            pending: Vec::new(),
            height: 0,
            tx_counter: 0,
            dir: dir.to_owned(),
            remove_dir: false,
            creator: weft_rwset::dev_network::default_creator(),
            channel: "mychannel".into(),
        })
    }

    /// The simulator underneath (the node's own type).
    pub fn simulator(&self) -> &Simulator {
        &self.simulator
    }

    /// Deploys `wasm` under `name` (its namespace), with empty state.
    pub fn deploy(&mut self, name: &str, wasm: &[u8]) -> Result<CodeHash, DeployError> {
        let hash = self.simulator.deploy(wasm)?;
        self.contracts.insert(
            name.to_owned(),
            Deployed { hash, state: Arc::default(), history: Arc::default() },
        );
        Ok(hash)
    }

    fn contract(&self, name: &str) -> Result<&Deployed> {
        self.contracts.get(name).ok_or_else(|| RuntimeError::UnknownContract(name.to_owned()))
    }

    /// The invocation the harness would send next for `function` and `args`.
    pub fn invocation<A: AsRef<[u8]>>(&self, name: &str, function: &str, args: &[A]) -> Invocation {
        let n = self.tx_counter;
        Invocation {
            tx_id: format!("tx{n:08}"),
            channel: self.channel.clone(),
            creator: self.creator.clone(),
            timestamp: Timestamp { seconds: 1_700_000_000 + n as i64, nanos: 0, reserved: 0 },
            ..Invocation::new(name, function, args)
        }
    }

    /// [`Harness::invocation`] for a new transaction: the next transaction id and timestamp.
    fn next_invocation<A: AsRef<[u8]>>(
        &mut self,
        name: &str,
        function: &str,
        args: &[A],
    ) -> Invocation {
        let invocation = self.invocation(name, function, args);
        self.tx_counter += 1;
        invocation
    }

    /// Runs init and, if it succeeded, commits it as a block of its own.
    pub fn init<A: AsRef<[u8]>>(&mut self, name: &str, args: &[A]) -> Result<Outcome> {
        let inv = self.next_invocation(name, "init", args);
        let c = self.contract(name)?;
        let outcome =
            self.simulator.init(&c.hash, &inv, c.state.clone(), Some(c.history.clone()))?;
        self.commit_one(inv, &outcome)?;
        Ok(outcome)
    }

    /// Simulates a transaction (endorsement). If it succeeds it joins the pending block, which
    /// [`Harness::commit`] validates and commits.
    pub fn invoke<A: AsRef<[u8]>>(
        &mut self,
        name: &str,
        function: &str,
        args: &[A],
    ) -> Result<Outcome> {
        let inv = self.next_invocation(name, function, args);
        let outcome = self.simulate(&inv)?;
        if let Ok(simulation) = &outcome {
            self.pending.push(Pending { invocation: inv, simulation: simulation.clone() });
        }
        Ok(outcome)
    }

    /// Simulates `invocation` against the current committed state (nothing is pending).
    pub fn simulate(&self, invocation: &Invocation) -> Result<Outcome> {
        let c = self.contract(&invocation.contract)?;
        self.simulator.invoke(&c.hash, invocation, c.state.clone(), Some(c.history.clone()))
    }

    /// Simulates a transaction and, if it succeeded, commits it as a block of its own (after
    /// any pending ones).
    pub fn submit<A: AsRef<[u8]>>(
        &mut self,
        name: &str,
        function: &str,
        args: &[A],
    ) -> Result<Outcome> {
        let inv = self.next_invocation(name, function, args);
        let outcome = self.simulate(&inv)?;
        self.commit_one(inv, &outcome)?;
        Ok(outcome)
    }

    fn commit_one(&mut self, invocation: Invocation, outcome: &Outcome) -> Result<()> {
        if let Ok(simulation) = outcome {
            self.commit()?;
            self.pending.push(Pending { invocation, simulation: simulation.clone() });
            self.commit()?;
        }
        Ok(())
    }

    /// Evaluates a read-only query.
    pub fn query<A: AsRef<[u8]>>(&self, name: &str, function: &str, args: &[A]) -> Result<Outcome> {
        let inv = self.invocation(name, function, args);
        let c = self.contract(name)?;
        self.simulator.query(&c.hash, &inv, c.state.clone(), Some(c.history.clone()))
    }

    /// The simulations waiting for the next block.
    pub fn pending(&self) -> Vec<&Simulation> {
        self.pending.iter().map(|p| &p.simulation).collect()
    }

    /// Orders the pending transactions into block `height + 1` and commits it as a peer would:
    /// each is validated in order with the MVCC and phantom-read checks, and only valid ones
    /// change state, at versions `(block, index)`. An empty pending list commits nothing.
    pub fn commit(&mut self) -> Result<CommittedBlock> {
        let block_num = self.height + 1;
        let pending = std::mem::take(&mut self.pending);
        if pending.is_empty() {
            let report = ConflictReport { verdicts: Vec::new(), updates: Default::default() };
            return Ok(CommittedBlock { block_num: self.height, tx_ids: Vec::new(), report });
        }
        let rwsets: Vec<NsReadWriteSet> =
            pending.iter().map(|p| p.simulation.rwset.clone()).collect();
        let report = conflict_report_ns(&Committed(&self.contracts), block_num, rwsets)?;
        self.height = block_num;
        let mut tx_ids = Vec::with_capacity(pending.len());
        for (tx_num, (p, verdict)) in pending.iter().zip(&report.verdicts).enumerate() {
            if verdict.code == TxValidationCode::Valid {
                let version = Version { block_num, tx_num: tx_num as u64 };
                self.apply(&p.simulation.rwset, version, &p.invocation);
            }
            tx_ids.push(p.invocation.tx_id.clone());
        }
        Ok(CommittedBlock { block_num, tx_ids, report })
    }

    fn apply(&mut self, rwset: &NsReadWriteSet, version: Version, inv: &Invocation) {
        let Some(c) = self.contracts.get_mut(&rwset.namespace) else { return };
        Arc::make_mut(&mut c.state).apply_writes(&rwset.writes, version);
        Arc::make_mut(&mut c.history).record_writes(
            &rwset.writes,
            version,
            &inv.tx_id,
            inv.timestamp,
        );
    }

    /// The committed value of `key` in contract `name`.
    pub fn get(&self, name: &str, key: &[u8]) -> Option<Vec<u8>> {
        let c = self.contracts.get(name)?;
        c.state.get(key).ok().flatten().map(|v| v.value)
    }

    /// The committed state of contract `name`.
    pub fn state(&self, name: &str) -> Option<&MemoryState> {
        self.contracts.get(name).map(|c| c.state.as_ref())
    }

    /// The number of blocks committed.
    pub fn height(&self) -> u64 {
        self.height
    }
}

/// The committed state of every contract, as the MVCC checks read it.
struct Committed<'a>(&'a HashMap<String, Deployed>);

impl CommittedState for Committed<'_> {
    fn get(&self, namespace: &str, key: &[u8]) -> Result<Option<VersionedValue>, StateError> {
        match self.0.get(namespace) {
            Some(c) => c.state.get(key),
            None => Ok(None),
        }
    }

    fn range(
        &self,
        namespace: &str,
        start: &[u8],
        end: &[u8],
    ) -> Result<StateIter<'_>, StateError> {
        match self.0.get(namespace) {
            Some(c) => c.state.range(start, end),
            None => Ok(Box::new(std::iter::empty())),
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if self.remove_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
