//! [`InvocationRecorder`]: everything one contract invocation does through the host functions,
//! as plain Rust: state access through [`TxSimulator`], range and history iterators, events,
//! the response and log lines, with the ABI's limits and return codes.
//!
//! The host runtime wraps it with linear-memory decoding, fuel and the result buffer; the SDK's
//! native test context calls it directly. So a contract meets the same rules in `cargo test`
//! as on a peer.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use weft_abi::{HistoryEntryHeader, ReturnCode, Role, Timestamp, TxField, codec, limits};
use weft_proto::v1::{ContractEvent, NsReadWriteSet, Response};

use crate::host_memory::{HostMemory, HostMemoryExceeded};
use crate::text::escape_text;
use crate::{
    HistoryEntry, HistoryView, Mode, SimError, StateError, StateIter, StateView, TxSimulator,
    VersionedValue,
};

/// Committed state shared with a simulation (possibly on another thread).
pub type SharedState = Arc<dyn StateView + Send + Sync>;
/// Committed key history shared with a simulation.
pub type SharedHistory = Arc<dyn HistoryView + Send + Sync>;

/// The creator (submitter) of a transaction, as the channel configuration lists it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Creator {
    /// Organization (MSP) id.
    pub msp_id: String,
    /// The creator's public key.
    pub public_key: Vec<u8>,
    /// Its role in the organization.
    pub role: Role,
    /// Its name, unique in the organization.
    pub name: String,
    /// Its attributes (name to value).
    pub attributes: BTreeMap<String, String>,
}

impl Creator {
    /// Identity `name` of `msp_id` with `role`, no attributes, and a stand-in public key
    /// (the bytes of its id), for tests.
    pub fn new(msp_id: &str, name: &str, role: Role) -> Creator {
        Creator {
            msp_id: msp_id.to_owned(),
            public_key: format!("{msp_id}::{name}").into_bytes(),
            role,
            name: name.to_owned(),
            attributes: BTreeMap::new(),
        }
    }

    /// This creator with attribute `name` set to `value`.
    pub fn with_attribute(mut self, name: &str, value: &str) -> Creator {
        self.attributes.insert(name.to_owned(), value.to_owned());
        self
    }

    /// The stable, printable id: `msp_id::name` (e.g. `Org1::client`).
    pub fn id(&self) -> String {
        format!("{}::{}", self.msp_id, self.name)
    }
}

/// One call of a contract: what the client asked for and the transaction's context.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Invocation {
    /// Name of the contract, which is its state namespace.
    pub contract: String,
    /// Transaction function to run.
    pub function: String,
    /// Arguments after the function name.
    pub args: Vec<Vec<u8>>,
    /// Transaction id.
    pub tx_id: String,
    /// Channel name.
    pub channel: String,
    /// Who submitted the proposal.
    pub creator: Creator,
    /// The proposal's timestamp (never the node's clock).
    pub timestamp: Timestamp,
    /// Transient data (never recorded in the transaction).
    pub transient: BTreeMap<String, Vec<u8>>,
}

/// A simulator keeps its input in an `Arc`, shared with the run's host functions: an
/// invocation given by value moves in, a borrowed one is copied.
impl From<&Invocation> for Arc<Invocation> {
    fn from(invocation: &Invocation) -> Arc<Invocation> {
        Arc::new(invocation.clone())
    }
}

impl Invocation {
    /// A minimal invocation of `function` with `args` on `contract`; the other fields are empty.
    pub fn new<A: AsRef<[u8]>>(contract: &str, function: &str, args: &[A]) -> Invocation {
        Invocation {
            contract: contract.to_owned(),
            function: function.to_owned(),
            args: args.iter().map(|a| a.as_ref().to_vec()).collect(),
            ..Invocation::default()
        }
    }

    /// Checks the input against the ABI's limits; the message says which one it breaks.
    pub fn check_limits(&self) -> Result<(), &'static str> {
        if self.args.len() > limits::MAX_ARGS as usize {
            return Err("too many arguments");
        }
        let total = self.function.len()
            + self.args.iter().map(Vec::len).sum::<usize>()
            + self.transient.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        if total > limits::MAX_INPUT_LEN as usize {
            return Err("arguments and transient data are over the size limit");
        }
        Ok(())
    }

    /// One transaction-context field in the ABI's layout (see [`TxField`]).
    pub fn field(&self, field: TxField) -> Vec<u8> {
        match field {
            TxField::Function => self.function.as_bytes().to_vec(),
            TxField::Args => codec::encode_list(&self.args),
            TxField::TxId => self.tx_id.as_bytes().to_vec(),
            TxField::Channel => self.channel.as_bytes().to_vec(),
            TxField::Creator => codec::encode_list(&[
                self.creator.msp_id.as_bytes(),
                self.creator.public_key.as_slice(),
            ]),
            TxField::Timestamp => self.timestamp.to_bytes().to_vec(),
            TxField::Transient => {
                let items: Vec<&[u8]> =
                    self.transient.iter().flat_map(|(k, v)| [k.as_bytes(), v.as_slice()]).collect();
                codec::encode_list(&items)
            }
            TxField::Contract => self.contract.as_bytes().to_vec(),
            TxField::CreatorIdentity => {
                let creator = &self.creator;
                let mut items: Vec<&[u8]> =
                    vec![creator.role.name().as_bytes(), creator.name.as_bytes()];
                items.extend(
                    creator.attributes.iter().flat_map(|(k, v)| [k.as_bytes(), v.as_bytes()]),
                );
                codec::encode_list(&items)
            }
        }
    }
}

/// Why a host call ends the invocation (rather than returning a code to the contract).
#[derive(Debug, thiserror::Error)]
pub enum Stop {
    /// The contract misused the ABI: a deterministic contract failure.
    #[error("{function}: {what}")]
    Misuse {
        /// The host function.
        function: &'static str,
        /// What was wrong.
        what: &'static str,
    },
    /// The caller's budget ran out (the host's fuel): a deterministic contract failure.
    #[error("out of fuel")]
    OutOfFuel,
    /// The host would hold more than [`limits::MAX_HOST_MEMORY`] for this invocation: a
    /// deterministic contract failure.
    #[error("host memory limit exceeded")]
    HostMemory,
    /// Committed state or history could not be read: a node failure.
    #[error(transparent)]
    Node(#[from] StateError),
}

/// A host call's result: the value or a code for the contract, or the end of the invocation.
pub type Call<T> = Result<Result<T, ReturnCode>, Stop>;

/// What a finished invocation recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    /// The read/write set.
    pub rwset: NsReadWriteSet,
    /// Whether the contract wrote during a query (the query fails whatever it returned).
    pub wrote_during_query: bool,
    /// The response, if the contract set one.
    pub response: Option<Response>,
    /// Events, in emission order.
    pub events: Vec<ContractEvent>,
    /// Log lines kept, escaped (at most [`limits::MAX_LOG_LINES`] lines and
    /// [`limits::MAX_LOG_BYTES`] bytes).
    pub logs: Vec<String>,
    /// Log lines dropped over the limit.
    pub logs_dropped: u32,
}

/// The committed state, owned so the simulator can borrow it for the whole invocation.
struct StateHandle(SharedState);

impl StateView for StateHandle {
    fn get(&self, key: &[u8]) -> Result<Option<VersionedValue>, StateError> {
        self.0.get(key)
    }
    fn range(&self, start: &[u8], end: &[u8]) -> Result<StateIter<'_>, StateError> {
        self.0.range(start, end)
    }
}

type Recording<'a> = Option<TxSimulator<'a, StateHandle>>;

self_cell::self_cell!(
    /// A [`TxSimulator`] with the state it reads, so the recorder owns everything (`'static`).
    struct SimCell {
        owner: StateHandle,
        #[covariant]
        dependent: Recording,
    }
);

/// The state of one invocation behind the host functions.
pub struct InvocationRecorder {
    contract: String,
    tx_id: String,
    sim: SimCell,
    history: Option<SharedHistory>,
    histories: BTreeMap<u32, VecDeque<HistoryEntry>>,
    next_history: u32,
    open_ranges: u32,
    events: Vec<ContractEvent>,
    response: Option<Response>,
    logs: Vec<String>,
    log_bytes: usize,
    logs_dropped: u32,
    /// Bytes of the result buffer the host holds for the contract (see [`Self::hold_result`]).
    result_bytes: usize,
}

fn sim<T>(result: Result<T, SimError>) -> Call<T> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(SimError::Contract(code)) => Ok(Err(code)),
        Err(SimError::State(err)) => Err(Stop::Node(err)),
        Err(SimError::HostMemory(_)) => Err(Stop::HostMemory),
    }
}

/// The message of `abort` (the SDK's panic hook) as the client sees it: [`escape_text`], at
/// most [`limits::MAX_ABORT_MESSAGE_LEN`] bytes. The host and the SDK's native test context
/// both report an abort (a panic) with this text.
pub fn abort_message(bytes: &[u8]) -> String {
    escape_text(bytes, limits::MAX_ABORT_MESSAGE_LEN as usize)
}

impl From<HostMemoryExceeded> for Stop {
    fn from(_: HostMemoryExceeded) -> Stop {
        Stop::HostMemory
    }
}

/// What one history entry held by an open history iterator counts.
fn history_entry_bytes(entry: &HistoryEntry) -> usize {
    HostMemory::entry(entry.tx_id.len() + entry.value.len())
}

impl InvocationRecorder {
    /// A recorder for `invocation` over committed `state` (and `history`, if kept).
    pub fn new(
        invocation: &Invocation,
        state: SharedState,
        history: Option<SharedHistory>,
        mode: Mode,
    ) -> InvocationRecorder {
        let namespace = invocation.contract.clone();
        let sim = SimCell::new(StateHandle(state), |s| Some(TxSimulator::new(namespace, s, mode)));
        InvocationRecorder {
            contract: invocation.contract.clone(),
            tx_id: invocation.tx_id.clone(),
            sim,
            history,
            histories: BTreeMap::new(),
            next_history: 0,
            open_ranges: 0,
            events: Vec::new(),
            response: None,
            logs: Vec::new(),
            log_bytes: 0,
            logs_dropped: 0,
            result_bytes: 0,
        }
    }

    /// Holds `bytes` more in the host for this invocation (see [`HostMemory`]).
    fn charge(&mut self, bytes: usize) -> Result<(), Stop> {
        Ok(self.with_sim(|s| s.host_memory_mut().charge(bytes))?)
    }

    /// Gives back `bytes` the host no longer holds.
    fn release(&mut self, bytes: usize) {
        self.with_sim(|s| s.host_memory_mut().release(bytes));
    }

    /// The host's result buffer now holds `len` bytes for the contract (0: it was taken), in
    /// place of what it held before. Past the host-memory limit the invocation ends.
    pub fn hold_result(&mut self, len: usize) -> Result<(), Stop> {
        let old = std::mem::replace(&mut self.result_bytes, 0);
        self.release(old);
        self.charge(len)?;
        self.result_bytes = len;
        Ok(())
    }

    fn with_sim<T>(&mut self, f: impl FnOnce(&mut TxSimulator<'_, StateHandle>) -> T) -> T {
        self.sim.with_dependent_mut(|_, sim| f(sim.as_mut().expect("simulation still running")))
    }

    /// `state_get`: the committed value (never a pending write).
    pub fn get(&mut self, key: &[u8]) -> Call<Option<Vec<u8>>> {
        sim(self.with_sim(|s| s.get(key)))
    }

    /// `state_put`: an empty value deletes.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Call<()> {
        sim(self.with_sim(|s| s.put(key, value)))
    }

    /// Whether the write set already holds `key` (see [`TxSimulator::has_write`]).
    pub fn has_write(&mut self, key: &[u8]) -> bool {
        self.with_sim(|s| s.has_write(key))
    }

    /// Whether the next `range_next` on `iterator` reads committed state (it is open and not
    /// exhausted).
    pub fn range_reads_on(&mut self, iterator: u32) -> bool {
        self.with_sim(|s| s.range_reads_on(iterator))
    }

    /// `state_del`.
    pub fn del(&mut self, key: &[u8]) -> Call<()> {
        sim(self.with_sim(|s| s.del(key)))
    }

    fn iterators_full(&self) -> bool {
        self.open_ranges as usize + self.histories.len() >= limits::MAX_OPEN_ITERATORS as usize
    }

    /// `range_open`: an iterator over committed `[start, end)`. Range and history iterators
    /// share the [`limits::MAX_OPEN_ITERATORS`] bound.
    pub fn range_open(&mut self, start: &[u8], end: &[u8]) -> Call<u32> {
        if self.iterators_full() {
            return Ok(Err(ReturnCode::TooManyIterators));
        }
        let opened = sim(self.with_sim(|s| s.range_open(start, end)))?;
        if opened.is_ok() {
            self.open_ranges += 1;
        }
        Ok(opened)
    }

    /// `range_next`: the next pair encoded with [`codec::encode_kv`], `None` at the end.
    pub fn range_next(&mut self, iterator: u32) -> Call<Option<Vec<u8>>> {
        let next = sim(self.with_sim(|s| s.range_next(iterator)))?;
        Ok(next.map(|kv| kv.map(|(key, value)| codec::encode_kv(&key, &value))))
    }

    /// `range_close`.
    pub fn range_close(&mut self, iterator: u32) -> Call<()> {
        let closed = sim(self.with_sim(|s| s.range_close(iterator)))?;
        if closed.is_ok() {
            self.open_ranges -= 1;
        }
        Ok(closed)
    }

    /// `history_open`: reads the key's history; `charge` is called with the size of each entry
    /// as it is read, including the bytes storage read and decoded to produce it
    /// ([`HistoryEntry::source_bytes`]), so a long history, or one written by large
    /// transactions, cannot be read unmetered.
    /// Queries only: history is not re-validated at commit, so a transaction that depended on
    /// it could commit on a history that changed; in [`Mode::Invoke`] it is `HistoryUnavailable`
    /// whatever history the caller provides.
    pub fn history_open(
        &mut self,
        key: &[u8],
        mut charge: impl FnMut(usize) -> Result<(), Stop>,
    ) -> Call<u32> {
        if self.sim.borrow_dependent().as_ref().map(TxSimulator::mode) != Some(Mode::Query) {
            return Ok(Err(ReturnCode::HistoryUnavailable));
        }
        if key.is_empty() {
            return Ok(Err(ReturnCode::EmptyKey));
        }
        if key.len() > limits::MAX_KEY_LEN as usize {
            return Ok(Err(ReturnCode::KeyTooLong));
        }
        if self.iterators_full() {
            return Ok(Err(ReturnCode::TooManyIterators));
        }
        let Some(view) = self.history.clone() else {
            return Ok(Err(ReturnCode::HistoryUnavailable));
        };
        let Some(entries) = view.history(key)? else {
            return Ok(Err(ReturnCode::HistoryUnavailable));
        };
        let mut collected = VecDeque::new();
        self.charge(limits::HOST_ITERATOR_STATE as usize)?;
        for entry in entries {
            let entry = entry?;
            charge(entry.value.len() + entry.tx_id.len() + entry.source_bytes)?;
            let bytes = history_entry_bytes(&entry);
            self.charge(bytes)?;
            collected.push_back(entry);
        }
        let id = self.next_history;
        self.next_history += 1;
        self.histories.insert(id, collected);
        Ok(Ok(id))
    }

    /// `history_next`: the next entry as [`HistoryEntryHeader`], tx id, value; `None` at the
    /// end (an exhausted history iterator closes itself).
    pub fn history_next(&mut self, iterator: u32) -> Call<Option<Vec<u8>>> {
        let Some(entries) = self.histories.get_mut(&iterator) else {
            return Ok(Err(ReturnCode::UnknownIterator));
        };
        let Some(entry) = entries.pop_front() else {
            self.histories.remove(&iterator);
            self.release(limits::HOST_ITERATOR_STATE as usize);
            return Ok(Ok(None));
        };
        self.release(history_entry_bytes(&entry));
        let header = HistoryEntryHeader {
            block_num: entry.version.block_num,
            tx_num: entry.version.tx_num,
            timestamp: entry.timestamp,
            is_delete: u32::from(entry.is_delete),
            tx_id_len: entry.tx_id.len() as u32,
        };
        let mut data =
            Vec::with_capacity(HistoryEntryHeader::SIZE + entry.tx_id.len() + entry.value.len());
        data.extend_from_slice(&header.to_bytes());
        data.extend_from_slice(entry.tx_id.as_bytes());
        data.extend_from_slice(&entry.value);
        Ok(Ok(Some(data)))
    }

    /// `emit_event`: several events per transaction, up to [`limits::MAX_EVENTS`].
    pub fn emit_event(&mut self, name: &[u8], payload: &[u8]) -> Call<()> {
        if name.is_empty()
            || name.len() > limits::MAX_EVENT_NAME_LEN as usize
            || payload.len() > limits::MAX_EVENT_PAYLOAD_LEN as usize
        {
            return Ok(Err(ReturnCode::EventTooLarge));
        }
        if self.events.len() >= limits::MAX_EVENTS as usize {
            return Ok(Err(ReturnCode::TooManyEvents));
        }
        let name = std::str::from_utf8(name).map_err(|_| Stop::Misuse {
            function: "emit_event",
            what: "event name is not UTF-8",
        })?;
        self.charge(HostMemory::entry(
            self.contract.len() + self.tx_id.len() + name.len() + payload.len(),
        ))?;
        self.events.push(ContractEvent {
            contract: self.contract.clone(),
            tx_id: self.tx_id.clone(),
            name: name.to_owned(),
            payload: payload.to_vec(),
        });
        Ok(Ok(()))
    }

    /// `set_response`: once per invocation. The message is kept as [`escape_text`] makes it
    /// (control characters escaped, at most [`limits::MAX_RESPONSE_MESSAGE_LEN`] bytes), so
    /// the response a client sees, and the one in an endorsed payload, is the same safe text
    /// on every peer.
    pub fn set_response(&mut self, status: i32, message: &[u8], payload: &[u8]) -> Call<()> {
        if self.response.is_some() {
            return Ok(Err(ReturnCode::ResponseAlreadySet));
        }
        if message.len() > limits::MAX_RESPONSE_MESSAGE_LEN as usize
            || payload.len() > limits::MAX_RESPONSE_PAYLOAD_LEN as usize
        {
            return Ok(Err(ReturnCode::ResponseTooLarge));
        }
        let message = std::str::from_utf8(message)
            .map_err(|_| Stop::Misuse { function: "set_response", what: "message is not UTF-8" })?;
        let message = escape_text(message.as_bytes(), limits::MAX_RESPONSE_MESSAGE_LEN as usize);
        self.charge(HostMemory::entry(message.len() + payload.len()))?;
        self.response = Some(Response { status, message, payload: payload.to_vec() });
        Ok(Ok(()))
    }

    /// `log`: keeps the line as [`escape_text`] makes it (one line of safe text, at most
    /// [`limits::MAX_LOG_LINE_LEN`] bytes and what is left of [`limits::MAX_LOG_BYTES`]) and
    /// returns it, or drops it (counted) once [`limits::MAX_LOG_LINES`] lines or
    /// [`limits::MAX_LOG_BYTES`] bytes are kept. A line the host-memory limit has no room for
    /// is dropped the same way (logs are not a result, so they never end the invocation).
    pub fn log(&mut self, line: &[u8]) -> Option<&str> {
        let left = (limits::MAX_LOG_BYTES as usize).saturating_sub(self.log_bytes);
        if self.logs.len() >= limits::MAX_LOG_LINES as usize || left == 0 {
            self.logs_dropped += 1;
            return None;
        }
        let text = escape_text(line, left.min(limits::MAX_LOG_LINE_LEN as usize));
        if text.len() > left || self.charge(HostMemory::entry(text.len())).is_err() {
            // Fewer bytes left than the cut marker takes, or no host memory left.
            self.logs_dropped += 1;
            return None;
        }
        self.log_bytes += text.len().max(1);
        self.logs.push(text);
        self.logs.last().map(String::as_str)
    }

    /// The contract this invocation runs.
    pub fn contract(&self) -> &str {
        &self.contract
    }

    /// The transaction id of this invocation.
    pub fn tx_id(&self) -> &str {
        &self.tx_id
    }

    /// Ends the invocation: closes open iterators and hands back what was recorded.
    pub fn finish(mut self) -> Result<Recorded, Stop> {
        let (wrote_during_query, rwset) = self.sim.with_dependent_mut(|_, sim| {
            let sim = sim.take().expect("finished once");
            (sim.wrote_during_query(), sim.finish())
        });
        let rwset = match rwset {
            Ok(rwset) => rwset,
            Err(SimError::State(err)) => return Err(Stop::Node(err)),
            Err(SimError::Contract(_)) => {
                return Err(Stop::Misuse { function: "finish", what: "recording failed" });
            }
            Err(SimError::HostMemory(_)) => return Err(Stop::HostMemory),
        };
        Ok(Recorded {
            rwset,
            wrote_during_query,
            response: self.response,
            events: self.events,
            logs: self.logs,
            logs_dropped: self.logs_dropped,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemoryHistory, MemoryState, Version};

    fn recorder(mode: Mode) -> InvocationRecorder {
        let mut state = MemoryState::default();
        state.insert(b"a", b"A", Version { block_num: 1, tx_num: 0 });
        let mut history = MemoryHistory::default();
        history.record(
            b"a",
            HistoryEntry {
                tx_id: "t1".into(),
                version: Version { block_num: 1, tx_num: 0 },
                timestamp: Timestamp::default(),
                is_delete: false,
                value: b"A".to_vec(),
                source_bytes: 0,
            },
        );
        let inv = Invocation { tx_id: "tx9".into(), ..Invocation::new("kv", "f", &["x"]) };
        InvocationRecorder::new(&inv, Arc::new(state), Some(Arc::new(history)), mode)
    }

    #[test]
    fn fields_follow_the_abi_layouts() {
        let mut inv = Invocation::new("kv", "Put", &["k", "v"]);
        inv.creator = Creator::new("Org2", "alice", Role::Admin).with_attribute("dept", "sales");
        inv.transient.insert("secret".into(), b"s".to_vec());
        let args = inv.field(TxField::Args);
        assert_eq!(codec::decode_list(&args).unwrap(), vec![b"k".as_slice(), b"v".as_slice()]);
        let creator = inv.field(TxField::Creator);
        assert_eq!(codec::decode_list(&creator).unwrap(), [b"Org2".as_slice(), b"Org2::alice"]);
        let identity = inv.field(TxField::CreatorIdentity);
        let identity = codec::decode_list(&identity).unwrap();
        assert_eq!(identity, [b"admin".as_slice(), b"alice", b"dept", b"sales"]);
        let transient = inv.field(TxField::Transient);
        assert_eq!(codec::decode_list(&transient).unwrap(), vec![b"secret".as_slice(), b"s"]);
        assert_eq!(inv.field(TxField::Timestamp).len(), Timestamp::SIZE);
    }

    #[test]
    fn input_limits_name_the_rule() {
        let many = vec!["x"; limits::MAX_ARGS as usize + 1];
        assert_eq!(Invocation::new("kv", "f", &many).check_limits(), Err("too many arguments"));
        let big = vec![0u8; limits::MAX_INPUT_LEN as usize + 1];
        assert!(Invocation::new("kv", "f", &[big]).check_limits().is_err());
        assert!(Invocation::new("kv", "f", &["ok"]).check_limits().is_ok());
    }

    #[test]
    fn ranges_and_histories_share_the_iterator_bound() {
        let mut r = recorder(Mode::Query);
        for _ in 0..limits::MAX_OPEN_ITERATORS / 2 {
            r.range_open(b"", b"").unwrap().unwrap();
            r.history_open(b"a", |_| Ok(())).unwrap().unwrap();
        }
        assert_eq!(r.range_open(b"", b"").unwrap(), Err(ReturnCode::TooManyIterators));
        assert_eq!(r.history_open(b"a", |_| Ok(())).unwrap(), Err(ReturnCode::TooManyIterators));
        r.range_close(0).unwrap().unwrap();
        assert!(r.range_open(b"", b"").unwrap().is_ok());
    }

    #[test]
    fn history_is_charged_per_entry_and_encoded_per_the_abi() {
        let mut r = recorder(Mode::Query);
        assert!(matches!(r.history_open(b"a", |_| Err(Stop::OutOfFuel)), Err(Stop::OutOfFuel)));
        let id = r.history_open(b"a", |_| Ok(())).unwrap().unwrap();
        let entry = r.history_next(id).unwrap().unwrap().unwrap();
        let header = HistoryEntryHeader::from_bytes(&entry).unwrap();
        assert_eq!((header.block_num, header.tx_id_len), (1, 2));
        assert_eq!(&entry[HistoryEntryHeader::SIZE..], b"t1A");
        assert_eq!(r.history_next(id).unwrap(), Ok(None));
        assert_eq!(r.history_next(id).unwrap(), Err(ReturnCode::UnknownIterator));
    }

    #[test]
    fn events_response_and_logs_are_bounded() {
        let mut r = recorder(Mode::Invoke);
        assert_eq!(r.emit_event(b"", b"").unwrap(), Err(ReturnCode::EventTooLarge));
        assert!(matches!(r.emit_event(b"\xff", b""), Err(Stop::Misuse { .. })));
        for _ in 0..limits::MAX_EVENTS {
            r.emit_event(b"E", b"p").unwrap().unwrap();
        }
        assert_eq!(r.emit_event(b"E", b"p").unwrap(), Err(ReturnCode::TooManyEvents));
        r.set_response(200, b"ok", b"").unwrap().unwrap();
        assert_eq!(r.set_response(200, b"", b"").unwrap(), Err(ReturnCode::ResponseAlreadySet));
        let long = vec![b'x'; limits::MAX_LOG_LINE_LEN as usize + 10];
        assert_eq!(r.log(&long).map(str::len), Some(limits::MAX_LOG_LINE_LEN as usize));
        for _ in 1..limits::MAX_LOG_LINES {
            r.log(b"line");
        }
        assert_eq!(r.log(b"dropped"), None);
        let rec = r.finish().unwrap();
        assert_eq!((rec.events.len(), rec.logs_dropped), (limits::MAX_EVENTS as usize, 1));
        assert_eq!(rec.events[0].tx_id, "tx9");
        assert_eq!(rec.response.unwrap().message, "ok");
    }

    #[test]
    fn logs_have_a_byte_budget_and_stay_one_line() {
        let mut r = recorder(Mode::Query);
        // A forged record: newline, a fake log prefix, ANSI and NUL bytes.
        let forged = b"ok\n2026-01-01T00:00:00Z  INFO weft: admin logged in\r\x1b[2K\0";
        let kept = r.log(forged).unwrap().to_owned();
        assert_eq!(kept, "ok\\n2026-01-01T00:00:00Z  INFO weft: admin logged in\\r\\u{1b}[2K\\0");
        let line = vec![b'x'; limits::MAX_LOG_LINE_LEN as usize];
        let mut kept_bytes = kept.len();
        while let Some(text) = r.log(&line) {
            kept_bytes += text.len();
        }
        assert_eq!(kept_bytes, limits::MAX_LOG_BYTES as usize);
        r.log(b"more");
        let rec = r.finish().unwrap();
        assert_eq!(rec.logs.iter().map(String::len).sum::<usize>(), limits::MAX_LOG_BYTES as usize);
        assert!(rec.logs.last().unwrap().ends_with('…'), "the line crossing the budget is cut");
        assert_eq!(rec.logs_dropped, 2);
        assert!(rec.logs.iter().all(|l| !l.contains(['\n', '\r', '\0', '\x1b'])));
    }

    #[test]
    fn messages_reach_clients_as_safe_text() {
        let mut r = recorder(Mode::Invoke);
        r.set_response(500, b"no\rsuch\x1b]0;pwned\x07 \xe2\x80\xaeasset", b"").unwrap().unwrap();
        let message = r.finish().unwrap().response.unwrap().message;
        assert_eq!(message, "no\\rsuch\\u{1b}]0;pwned\\u{7} \\u{202e}asset");
        // Escaping cannot push a message over its limit.
        let mut r = recorder(Mode::Invoke);
        let controls = vec![0x1b; limits::MAX_RESPONSE_MESSAGE_LEN as usize];
        r.set_response(200, &controls, b"").unwrap().unwrap();
        let message = r.finish().unwrap().response.unwrap().message;
        assert!(message.len() <= limits::MAX_RESPONSE_MESSAGE_LEN as usize);
        assert!(message.ends_with('…'));
        assert_eq!(abort_message(b"\xffpanicked\n"), "\u{FFFD}panicked\\n");
    }

    #[test]
    fn history_is_for_queries_only() {
        let mut r = recorder(Mode::Invoke);
        assert_eq!(r.history_open(b"a", |_| Ok(())).unwrap(), Err(ReturnCode::HistoryUnavailable));
        assert!(recorder(Mode::Query).history_open(b"a", |_| Ok(())).unwrap().is_ok());
    }

    #[test]
    fn a_write_in_a_query_is_refused_and_recorded() {
        let mut r = recorder(Mode::Query);
        assert_eq!(r.put(b"a", b"1").unwrap(), Err(ReturnCode::ReadOnly));
        assert_eq!(r.get(b"a").unwrap(), Ok(Some(b"A".to_vec())));
        let rec = r.finish().unwrap();
        assert!(rec.wrote_during_query);
        assert!(rec.rwset.writes.is_empty());
    }
}
