//! The native test context: run a contract in `cargo test` with the peer's exact simulation
//! rules, commit blocks, and inspect every transaction's read/write set and events.
//!
//! [`MockStub`] keeps a committed state and the history of every key. Each call runs the
//! contract against that committed state through the same [`weft_rwset::TxSimulator`] the host
//! uses, so the recorded [`NsReadWriteSet`] is what a peer would record: no
//! read-your-own-writes, absent reads recorded without a version, empty values deleting, the
//! range early-stop rule. Successful invocations wait in a pending block until
//! [`MockStub::commit`] applies them, in order, with versions `(block, index)`.
//!
//! ```
//! use weft_sdk::{Context, ContractError, testing::{MockStub, TxValidationCode}};
//!
//! #[derive(Default)]
//! struct Counter;
//!
//! #[weft_sdk::contract]
//! impl Counter {
//!     #[transaction]
//!     fn add(&self, ctx: &mut Context, key: String, n: u64) -> Result<u64, ContractError> {
//!         let now = match ctx.get(&key)? {
//!             Some(v) => String::from_utf8(v)?.parse::<u64>()?,
//!             None => 0,
//!         };
//!         ctx.put(&key, (now + n).to_string())?;
//!         Ok(now + n)
//!     }
//! }
//!
//! let mut stub = MockStub::new("counter", Counter);
//! let first = stub.invoke("Add", &["c", "2"]);
//! assert_eq!(first.payload_str(), "2");
//! // Not committed yet: a second transaction in the same block sees the old state.
//! assert_eq!(stub.invoke("Add", &["c", "5"]).payload_str(), "5");
//! // Both read "c" as absent; the peer's validator lets only the first one through.
//! let block = stub.commit();
//! assert_eq!(block.codes(), [TxValidationCode::Valid, TxValidationCode::MvccReadConflict]);
//! println!("{block}"); // tx 1: MVCC_READ_CONFLICT: counter/"c" read at absent, written by tx 0
//! assert_eq!(stub.committed(b"c").as_deref(), Some(b"2".as_slice()));
//! assert!(first.rwset.reads[0].version.is_none()); // "c" was absent when first read
//! ```
//!
//! [`MockStub::commit`] runs the ledger's own MVCC and phantom checks
//! ([`weft_rwset::mvcc`]), so a test sees exactly which transactions of a block a peer would
//! mark invalid, and why. Signatures and endorsement policies are not checked here.
//!
//! [`ContractHarness`] is the seam for running the same scenario against the real `.wasm`: a
//! test written over `impl ContractHarness` runs on `MockStub` here and on any harness that
//! executes the built module and reports [`TxRecord`]s the same way.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use weft_abi::Timestamp;
use weft_proto::v1::TxReadWriteSet;
use weft_rwset::mvcc::CommittedState;
use weft_rwset::report::conflict_report;
use weft_rwset::{Invocation, MemoryState, Mode, StateError, StateIter, StateView};

pub use weft_proto::v1::TxValidationCode;
/// An identity a test calls as (see [`MockStub::set_identity`]): organization, name, role,
/// attributes and a stand-in public key.
pub use weft_rwset::Creator as Identity;
pub use weft_rwset::MemoryHistory;
pub use weft_rwset::dev_network;
pub use weft_rwset::report::{CommittedBlock, TxVerdict};

pub use weft_proto::v1::{ContractEvent, KvRead, KvWrite, NsReadWriteSet, RangeQueryInfo, Version};

use crate::backend::native::NativeBackend;
use crate::contract::{Entry, panic_message, run};
use crate::{Context, Contract, Response};

/// One call as the test context ran it.
#[derive(Clone, Debug, PartialEq)]
pub struct TxRecord {
    /// The transaction id.
    pub tx_id: String,
    /// The function called.
    pub function: String,
    /// Its arguments.
    pub args: Vec<Vec<u8>>,
    /// The proposal timestamp the contract saw.
    pub timestamp: Timestamp,
    /// The response. A panic is status 500 with the panic message; a write during a query is
    /// status 500 whatever the contract returned.
    pub response: Response,
    /// What the call read and wrote.
    pub rwset: NsReadWriteSet,
    /// Events emitted, in order.
    pub events: Vec<ContractEvent>,
    /// Lines logged.
    pub logs: Vec<String>,
}

impl TxRecord {
    /// Whether the response status is below 400 (the transaction would be endorsed).
    pub fn is_success(&self) -> bool {
        self.response.is_success()
    }

    /// The response payload as UTF-8 (panics if it is not).
    pub fn payload_str(&self) -> &str {
        std::str::from_utf8(&self.response.payload).expect("payload is UTF-8")
    }

    /// The response payload parsed as JSON (panics if it does not parse).
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.response.payload).expect("payload is the expected JSON")
    }

    /// The response message.
    pub fn message(&self) -> &str {
        &self.response.message
    }
}

/// Settings for the next call only (see the `set_next_*` methods).
#[derive(Default)]
struct NextTx {
    tx_id: Option<String>,
    timestamp: Option<Timestamp>,
    transient: BTreeMap<String, Vec<u8>>,
}

/// A ledger of one contract in memory: run calls, commit blocks, inspect what happened.
pub struct MockStub<C> {
    contract: C,
    namespace: String,
    channel: String,
    identity: Identity,
    state: Arc<MemoryState>,
    history: Arc<MemoryHistory>,
    next_block: u64,
    pending: Vec<TxRecord>,
    committed_ids: BTreeSet<String>,
    calls: u64,
    clock: Timestamp,
    next: NextTx,
}

/// Default channel name.
pub const DEFAULT_CHANNEL: &str = "mychannel";
/// The default creator's organization: the first organization of a dev network (`Org1`,
/// see [`dev_network`]).
pub const DEFAULT_MSP_ID: &str = dev_network::DEFAULT_ORGANIZATION;
/// Timestamp of the first call (2024-01-01T00:00:00Z); each later call is one second later.
pub const DEFAULT_START_SECONDS: i64 = 1_704_067_200;

impl<C: Contract> MockStub<C> {
    /// An empty ledger running `contract` under the namespace `name`. The first committed
    /// block is number 1.
    pub fn new(name: impl Into<String>, contract: C) -> MockStub<C> {
        MockStub {
            contract,
            namespace: name.into(),
            channel: DEFAULT_CHANNEL.to_owned(),
            identity: dev_network::default_creator(),
            state: Arc::default(),
            history: Arc::default(),
            next_block: 1,
            pending: Vec::new(),
            committed_ids: BTreeSet::new(),
            calls: 0,
            clock: Timestamp { seconds: DEFAULT_START_SECONDS, nanos: 0, reserved: 0 },
            next: NextTx::default(),
        }
    }

    /// Sets the channel name for later calls.
    pub fn set_channel(&mut self, channel: impl Into<String>) {
        self.channel = channel.into();
    }

    /// Sets the creator's organization and public key for later calls (its name, role and
    /// attributes stay).
    pub fn set_creator(&mut self, msp_id: impl Into<String>, public_key: impl Into<Vec<u8>>) {
        self.identity.msp_id = msp_id.into();
        self.identity.public_key = public_key.into();
    }

    /// Calls as `identity` from now on: any organization, name, role and attributes.
    ///
    /// ```
    /// # use weft_sdk::{Context, ContractError, testing::{Identity, MockStub}, Role};
    /// # #[derive(Default)] struct Who;
    /// # #[weft_sdk::contract] impl Who {
    /// #     #[transaction] fn who(&self, ctx: &mut Context) -> Result<String, ContractError> {
    /// #         let me = ctx.creator();
    /// #         Ok(format!("{} {} {:?}", me.id(), me.role, me.attribute("dept")))
    /// #     }
    /// # }
    /// let mut stub = MockStub::new("who", Who);
    /// assert_eq!(stub.query("Who", &[]).payload_str(), "Org1::client client None");
    /// stub.set_identity(Identity::new("Org3", "auditor", Role::Client).with_attribute("dept", "audit"));
    /// assert_eq!(stub.query("Who", &[]).payload_str(), r#"Org3::auditor client Some("audit")"#);
    /// ```
    pub fn set_identity(&mut self, identity: Identity) {
        self.identity = identity;
    }

    /// Calls as identity `name` (`admin`, `peer` or `client`) of organization `msp_id`
    /// (`Org1` or `Org2`) of a dev network from now on, as `weft --as org2:client` does.
    /// Panics naming the dev network's identities if there is no such identity.
    pub fn act_as(&mut self, msp_id: &str, name: &str) {
        self.identity = dev_network::creator(msp_id, name).unwrap_or_else(|| {
            panic!(
                "a dev network has no identity {name} in {msp_id}: organizations {:?}, \
                 identities {:?}",
                dev_network::ORGANIZATIONS,
                dev_network::IDENTITIES.map(|(n, _)| n)
            )
        });
    }

    /// The identity later calls are made as.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Sets the transaction id of the next call (otherwise `tx<N>`).
    pub fn set_next_tx_id(&mut self, tx_id: impl Into<String>) {
        self.next.tx_id = Some(tx_id.into());
    }

    /// Sets the timestamp of the next call (otherwise one second after the previous call's).
    pub fn set_next_timestamp(&mut self, timestamp: Timestamp) {
        self.next.timestamp = Some(timestamp);
    }

    /// Adds a transient entry for the next call.
    pub fn set_next_transient(&mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) {
        self.next.transient.insert(key.into(), value.into());
    }

    /// Runs the contract's init as a transaction; if it succeeds it is pending like an invoke.
    pub fn init(&mut self, function: &str, args: &[&str]) -> TxRecord {
        self.call(Entry::Init, Mode::Invoke, function, bytes(args))
    }

    /// Simulates a transaction (endorsement). If it succeeds it joins the pending block.
    pub fn invoke(&mut self, function: &str, args: &[&str]) -> TxRecord {
        self.call(Entry::Invoke, Mode::Invoke, function, bytes(args))
    }

    /// [`MockStub::invoke`] with byte arguments.
    pub fn invoke_bytes(&mut self, function: &str, args: Vec<Vec<u8>>) -> TxRecord {
        self.call(Entry::Invoke, Mode::Invoke, function, args)
    }

    /// Runs a read-only query (evaluate): never pending; a write fails the call.
    pub fn query(&mut self, function: &str, args: &[&str]) -> TxRecord {
        self.call(Entry::Invoke, Mode::Query, function, bytes(args))
    }

    /// Invokes, then commits the transaction alone in a block if it succeeded.
    pub fn submit(&mut self, function: &str, args: &[&str]) -> TxRecord {
        let record = self.invoke(function, args);
        if record.is_success() {
            // Alone in its block and simulated on the latest state: always valid.
            self.commit();
        }
        record
    }

    /// Transactions simulated and endorsed since the last commit, in order.
    pub fn pending(&self) -> &[TxRecord] {
        &self.pending
    }

    /// Orders the pending transactions into one block and commits it as a peer would: each
    /// transaction is validated in order with the ledger's MVCC and phantom checks, and only
    /// valid ones change state, with versions `(block, index)`.
    pub fn commit(&mut self) -> CommittedBlock {
        let block_num = self.next_block;
        self.next_block += 1;
        let pending = std::mem::take(&mut self.pending);
        let txs: Vec<TxReadWriteSet> =
            pending.iter().map(|tx| TxReadWriteSet { ns_rwset: vec![tx.rwset.clone()] }).collect();
        let committed = OneNamespace { namespace: &self.namespace, state: &self.state };
        let report = conflict_report(&committed, block_num, &txs)
            .unwrap_or_else(|err| panic!("test ledger failed: {err}"));
        let state = Arc::make_mut(&mut self.state);
        let history = Arc::make_mut(&mut self.history);
        let mut tx_ids = Vec::with_capacity(pending.len());
        for (tx_num, (tx, verdict)) in pending.into_iter().zip(&report.verdicts).enumerate() {
            self.committed_ids.insert(tx.tx_id.clone());
            if verdict.code == TxValidationCode::Valid {
                let version = Version { block_num, tx_num: tx_num as u64 };
                state.apply_writes(&tx.rwset.writes, version);
                history.record_writes(&tx.rwset.writes, version, &tx.tx_id, tx.timestamp);
            }
            tx_ids.push(tx.tx_id);
        }
        CommittedBlock { block_num, tx_ids, report }
    }

    /// The committed state.
    pub fn state(&self) -> &MemoryState {
        &self.state
    }

    /// The committed value of `key`.
    pub fn committed(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.state.get(key).expect("memory state cannot fail").map(|v| v.value)
    }

    /// The committed version of `key`.
    pub fn committed_version(&self, key: &[u8]) -> Option<Version> {
        self.state.get(key).expect("memory state cannot fail").map(|v| v.version)
    }

    /// The committed history.
    pub fn history(&self) -> &MemoryHistory {
        &self.history
    }

    /// The contract under test.
    pub fn contract(&self) -> &C {
        &self.contract
    }

    fn call(&mut self, entry: Entry, mode: Mode, function: &str, args: Vec<Vec<u8>>) -> TxRecord {
        self.calls += 1;
        let next = std::mem::take(&mut self.next);
        let tx_id = next.tx_id.unwrap_or_else(|| format!("tx{}", self.calls));
        let timestamp = next.timestamp.unwrap_or(self.clock);
        self.clock = Timestamp { seconds: timestamp.seconds + 1, ..timestamp };
        let invocation = Invocation {
            contract: self.namespace.clone(),
            function: function.to_owned(),
            args: args.clone(),
            tx_id: tx_id.clone(),
            channel: self.channel.clone(),
            creator: self.identity.clone(),
            timestamp,
            transient: next.transient,
        };
        let state = Arc::clone(&self.state);
        let history = Arc::clone(&self.history);
        let backend = NativeBackend::new(invocation, state, Some(history), mode);
        let mut ctx = Context::new(backend);
        let panicked = catch_unwind(AssertUnwindSafe(|| run(&self.contract, entry, &mut ctx)))
            .err()
            .map(|payload| panic_message(payload.as_ref()));
        let outcome = ctx.into_backend().finish();

        let mut response = match (panicked, outcome.response) {
            (Some(message), _) => Response::error(message),
            (None, Some(r)) => {
                Response { status: r.status, message: r.message, payload: r.payload }
            }
            (None, None) => unreachable!("run always sets a response"),
        };
        if outcome.wrote_during_query {
            response = Response::error(weft_abi::ReturnCode::ReadOnly.description());
        }
        if mode == Mode::Invoke && self.committed_ids.contains(&tx_id) {
            // The endorser refuses a proposal whose id is already in the ledger.
            response = Response::error(format!("transaction id {tx_id} is already committed"));
        }
        let record = TxRecord {
            tx_id,
            function: function.to_owned(),
            args,
            timestamp,
            response,
            rwset: outcome.rwset,
            events: outcome.events,
            logs: outcome.logs,
        };
        if mode == Mode::Invoke && record.is_success() {
            self.pending.push(record.clone());
        }
        record
    }
}

/// What a contract test needs from a ledger: run calls, commit blocks. [`MockStub`] runs the
/// contract natively; a harness that runs the built `.wasm` on the real runtime can implement
/// it too, so one scenario checks both.
pub trait ContractHarness {
    /// Runs init as a transaction (see [`MockStub::init`]).
    fn init(&mut self, function: &str, args: &[&str]) -> TxRecord;
    /// Simulates a transaction (see [`MockStub::invoke`]).
    fn invoke(&mut self, function: &str, args: &[&str]) -> TxRecord;
    /// Runs a read-only query (see [`MockStub::query`]).
    fn query(&mut self, function: &str, args: &[&str]) -> TxRecord;
    /// Commits the pending transactions as one block (see [`MockStub::commit`]).
    fn commit(&mut self) -> CommittedBlock;
}

impl<C: Contract> ContractHarness for MockStub<C> {
    fn init(&mut self, function: &str, args: &[&str]) -> TxRecord {
        MockStub::init(self, function, args)
    }
    fn invoke(&mut self, function: &str, args: &[&str]) -> TxRecord {
        MockStub::invoke(self, function, args)
    }
    fn query(&mut self, function: &str, args: &[&str]) -> TxRecord {
        MockStub::query(self, function, args)
    }
    fn commit(&mut self) -> CommittedBlock {
        MockStub::commit(self)
    }
}

/// The stub's committed state as the validator reads it: one namespace.
struct OneNamespace<'a> {
    namespace: &'a str,
    state: &'a MemoryState,
}

impl CommittedState for OneNamespace<'_> {
    fn get(
        &self,
        namespace: &str,
        key: &[u8],
    ) -> Result<Option<weft_rwset::VersionedValue>, StateError> {
        if namespace == self.namespace { self.state.get(key) } else { Ok(None) }
    }

    fn range(
        &self,
        namespace: &str,
        start: &[u8],
        end: &[u8],
    ) -> Result<StateIter<'_>, StateError> {
        if namespace == self.namespace {
            self.state.range(start, end)
        } else {
            Ok(Box::new(std::iter::empty()))
        }
    }
}

fn bytes(args: &[&str]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.as_bytes().to_vec()).collect()
}
