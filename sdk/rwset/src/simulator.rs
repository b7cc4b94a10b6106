//! [`TxSimulator`]: runs beside one invocation, reads committed state, records the rwset.

use std::collections::BTreeMap;

use weft_abi::{ReturnCode, limits};

use crate::host_memory::{HostMemory, HostMemoryExceeded};
use crate::{
    KvRead, KvWrite, NsReadWriteSet, RangeQueryInfo, StateError, StateIter, StateView, Version,
};

/// Whether the invocation may write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A transaction being endorsed: writes are recorded.
    Invoke,
    /// A read-only query (evaluate): a write is refused and fails the invocation.
    Query,
}

/// Why a simulator call failed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The contract broke a rule of the ABI; the code is returned to the contract.
    #[error("{}", .0.description())]
    Contract(ReturnCode),
    /// Committed state could not be read: a node failure.
    #[error(transparent)]
    State(#[from] StateError),
    /// Recording would pass the invocation's host-memory limit: a deterministic contract
    /// failure that ends the invocation.
    #[error(transparent)]
    HostMemory(#[from] HostMemoryExceeded),
}

impl From<ReturnCode> for SimError {
    fn from(code: ReturnCode) -> SimError {
        SimError::Contract(code)
    }
}

struct OpenRange<'s> {
    info: RangeQueryInfo,
    requested_end: Vec<u8>,
    entries: StateIter<'s>,
    done: bool,
}

/// Records the read/write set of one transaction in one namespace.
pub struct TxSimulator<'s, S: StateView> {
    namespace: String,
    state: &'s S,
    mode: Mode,
    reads: BTreeMap<Vec<u8>, Option<Version>>,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    ranges: Vec<RangeQueryInfo>,
    open: BTreeMap<u32, OpenRange<'s>>,
    next_iterator: u32,
    wrote_during_query: bool,
    memory: HostMemory,
}

fn check_key(key: &[u8]) -> Result<(), ReturnCode> {
    if key.is_empty() {
        Err(ReturnCode::EmptyKey)
    } else if key.len() > limits::MAX_KEY_LEN as usize {
        Err(ReturnCode::KeyTooLong)
    } else {
        Ok(())
    }
}

fn check_bound(bound: &[u8]) -> Result<(), ReturnCode> {
    if bound.len() > limits::MAX_KEY_LEN as usize { Err(ReturnCode::KeyTooLong) } else { Ok(()) }
}

impl<'s, S: StateView> TxSimulator<'s, S> {
    /// A simulator for one invocation of the contract whose namespace is `namespace`.
    pub fn new(namespace: impl Into<String>, state: &'s S, mode: Mode) -> Self {
        TxSimulator {
            namespace: namespace.into(),
            state,
            mode,
            reads: BTreeMap::new(),
            writes: BTreeMap::new(),
            ranges: Vec::new(),
            open: BTreeMap::new(),
            next_iterator: 0,
            wrote_during_query: false,
            memory: HostMemory::default(),
        }
    }

    /// The bytes this invocation holds in the host.
    pub fn host_memory(&self) -> &HostMemory {
        &self.memory
    }

    /// The bytes this invocation holds in the host, which the rest of the invocation
    /// ([`crate::InvocationRecorder`]: events, logs, response, results) charges too.
    pub fn host_memory_mut(&mut self) -> &mut HostMemory {
        &mut self.memory
    }

    /// The mode this simulator was created with.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The committed value of `key` (never a pending write). Records the read once, with the
    /// version seen, or as absent.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, SimError> {
        check_key(key)?;
        let found = self.state.get(key)?;
        if !self.reads.contains_key(key) {
            self.memory.charge(HostMemory::entry(key.len()))?;
            self.reads.insert(key.to_vec(), found.as_ref().map(|v| v.version));
        }
        Ok(found.map(|v| v.value))
    }

    /// Records a write; an empty value is a delete. The last write to a key wins.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), SimError> {
        check_key(key)?;
        if value.len() > limits::MAX_VALUE_LEN as usize {
            return Err(ReturnCode::ValueTooLong.into());
        }
        self.write(key, (!value.is_empty()).then(|| value.to_vec()))
    }

    /// Whether the write set already holds `key` (a put or delete of it replaces an entry
    /// rather than adding one).
    pub fn has_write(&self, key: &[u8]) -> bool {
        self.writes.contains_key(key)
    }

    /// Whether `iterator` is open and not yet exhausted: its next step reads committed state.
    pub fn range_reads_on(&self, iterator: u32) -> bool {
        self.open.get(&iterator).is_some_and(|open| !open.done)
    }

    /// Records a delete.
    pub fn del(&mut self, key: &[u8]) -> Result<(), SimError> {
        check_key(key)?;
        self.write(key, None)
    }

    fn write(&mut self, key: &[u8], value: Option<Vec<u8>>) -> Result<(), SimError> {
        if self.mode == Mode::Query {
            self.wrote_during_query = true;
            return Err(ReturnCode::ReadOnly.into());
        }
        let new_len = value.as_ref().map_or(0, Vec::len);
        match self.writes.get_mut(key) {
            Some(old) => {
                self.memory.resize(old.as_ref().map_or(0, Vec::len), new_len)?;
                *old = value;
            }
            None => {
                if self.writes.len() >= limits::MAX_WRITES as usize {
                    return Err(ReturnCode::TooManyWrites.into());
                }
                self.memory.charge(HostMemory::entry(key.len() + new_len))?;
                self.writes.insert(key.to_vec(), value);
            }
        }
        Ok(())
    }

    /// Opens an iterator over committed `[start, end)` (empty end: unbounded). Iterator ids
    /// are assigned in order from 0, so they are the same on every node.
    pub fn range_open(&mut self, start: &[u8], end: &[u8]) -> Result<u32, SimError> {
        check_bound(start)?;
        check_bound(end)?;
        if self.open.len() >= limits::MAX_OPEN_ITERATORS as usize {
            return Err(ReturnCode::TooManyIterators.into());
        }
        self.memory.charge(
            HostMemory::entry(start.len() + end.len()) + limits::HOST_ITERATOR_STATE as usize,
        )?;
        let entries = match self.state.range(start, end) {
            Ok(entries) => entries,
            Err(err) => {
                self.memory.release(
                    HostMemory::entry(start.len() + end.len())
                        + limits::HOST_ITERATOR_STATE as usize,
                );
                return Err(err.into());
            }
        };
        let id = self.next_iterator;
        self.next_iterator += 1;
        let info = RangeQueryInfo {
            start_key: start.to_vec(),
            end_key: Vec::new(),
            itr_exhausted: false,
            reads: Vec::new(),
        };
        self.open.insert(id, OpenRange { info, requested_end: end.to_vec(), entries, done: false });
        Ok(id)
    }

    /// The next committed `(key, value)` of an open iterator, or `None` at the end (which marks
    /// the scan exhausted).
    #[allow(clippy::type_complexity)]
    pub fn range_next(&mut self, iterator: u32) -> Result<Option<(Vec<u8>, Vec<u8>)>, SimError> {
        let open = self.open.get_mut(&iterator).ok_or(ReturnCode::UnknownIterator)?;
        if open.done {
            return Ok(None);
        }
        match open.entries.next().transpose()? {
            Some((key, vv)) => {
                // The read, and the scan's end key moving to it.
                self.memory.charge(HostMemory::entry(key.len()))?;
                self.memory.resize(open.info.end_key.len(), key.len())?;
                open.info.reads.push(KvRead { key: key.clone(), version: Some(vv.version) });
                open.info.end_key = key.clone();
                Ok(Some((key, vv.value)))
            }
            None => {
                open.done = true;
                open.info.itr_exhausted = true;
                self.memory.release(open.info.end_key.len());
                open.info.end_key = std::mem::take(&mut open.requested_end);
                Ok(None)
            }
        }
    }

    /// Closes an iterator and records its range query.
    pub fn range_close(&mut self, iterator: u32) -> Result<(), SimError> {
        let open = self.open.remove(&iterator).ok_or(ReturnCode::UnknownIterator)?;
        // The recorded range stays; the iterator's own state goes.
        self.memory.release(limits::HOST_ITERATOR_STATE as usize);
        self.ranges.push(open.info);
        Ok(())
    }

    /// Whether the contract tried to write during a query. Such an invocation fails whatever
    /// the contract returned.
    pub fn wrote_during_query(&self) -> bool {
        self.wrote_during_query
    }

    /// Ends the simulation: closes iterators still open (in id order) and returns the
    /// read/write set, reads and writes sorted by key.
    pub fn finish(mut self) -> Result<NsReadWriteSet, SimError> {
        for (_, open) in std::mem::take(&mut self.open) {
            self.ranges.push(open.info);
        }
        Ok(NsReadWriteSet {
            namespace: self.namespace,
            reads: self.reads.into_iter().map(|(key, version)| KvRead { key, version }).collect(),
            range_queries_info: self.ranges,
            writes: self
                .writes
                .into_iter()
                .map(|(key, value)| KvWrite {
                    key,
                    is_delete: value.is_none(),
                    value: value.unwrap_or_default(),
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryState;

    fn v(block_num: u64, tx_num: u64) -> Version {
        Version { block_num, tx_num }
    }

    fn state() -> MemoryState {
        let mut s = MemoryState::default();
        s.insert(b"a", b"A", v(1, 0));
        s.insert(b"b", b"B", v(1, 1));
        s.insert(b"c", b"C", v(2, 0));
        s.insert(b"d", b"D", v(2, 3));
        s
    }

    #[test]
    fn get_after_put_returns_committed_value_and_records_version() {
        let s = state();
        let mut sim = TxSimulator::new("ns", &s, Mode::Invoke);
        sim.put(b"a", b"new").unwrap();
        assert_eq!(sim.get(b"a").unwrap(), Some(b"A".to_vec()));
        sim.put(b"z", b"new").unwrap();
        assert_eq!(sim.get(b"z").unwrap(), None);
        let rw = sim.finish().unwrap();
        assert_eq!(
            rw.reads,
            vec![
                KvRead { key: b"a".to_vec(), version: Some(v(1, 0)) },
                KvRead { key: b"z".to_vec(), version: None },
            ]
        );
    }

    #[test]
    fn repeated_reads_keep_one_entry_and_sets_are_sorted() {
        let s = state();
        let mut sim = TxSimulator::new("ns", &s, Mode::Invoke);
        for k in [b"d", b"b", b"d", b"a", b"b"] {
            sim.get(k).unwrap();
        }
        sim.put(b"y", b"1").unwrap();
        sim.put(b"x", b"1").unwrap();
        let rw = sim.finish().unwrap();
        let keys: Vec<_> = rw.reads.iter().map(|r| r.key.clone()).collect();
        assert_eq!(keys, vec![b"a".to_vec(), b"b".to_vec(), b"d".to_vec()]);
        let keys: Vec<_> = rw.writes.iter().map(|w| w.key.clone()).collect();
        assert_eq!(keys, vec![b"x".to_vec(), b"y".to_vec()]);
    }

    #[test]
    fn empty_value_and_del_are_deletes_and_last_write_wins() {
        let s = state();
        let mut sim = TxSimulator::new("ns", &s, Mode::Invoke);
        sim.put(b"a", b"").unwrap();
        sim.del(b"b").unwrap();
        sim.put(b"c", b"1").unwrap();
        sim.put(b"c", b"2").unwrap();
        sim.del(b"d").unwrap();
        sim.put(b"d", b"back").unwrap();
        let rw = sim.finish().unwrap();
        let w = |k: &[u8], d: bool, val: &[u8]| KvWrite {
            key: k.to_vec(),
            is_delete: d,
            value: val.to_vec(),
        };
        assert_eq!(
            rw.writes,
            vec![
                w(b"a", true, b""),
                w(b"b", true, b""),
                w(b"c", false, b"2"),
                w(b"d", false, b"back")
            ]
        );
    }

    #[test]
    fn range_to_exhaustion_records_requested_end_exclusive() {
        let s = state();
        let mut sim = TxSimulator::new("ns", &s, Mode::Invoke);
        sim.put(b"bb", b"pending").unwrap();
        let it = sim.range_open(b"b", b"d").unwrap();
        let mut seen = vec![];
        while let Some((k, _)) = sim.range_next(it).unwrap() {
            seen.push(k);
        }
        // Still None after exhaustion.
        assert_eq!(sim.range_next(it).unwrap(), None);
        sim.range_close(it).unwrap();
        assert_eq!(seen, vec![b"b".to_vec(), b"c".to_vec()]);
        let rw = sim.finish().unwrap();
        assert!(rw.reads.is_empty(), "range results are not plain reads");
        assert_eq!(
            rw.range_queries_info,
            vec![RangeQueryInfo {
                start_key: b"b".to_vec(),
                end_key: b"d".to_vec(),
                itr_exhausted: true,
                reads: vec![
                    KvRead { key: b"b".to_vec(), version: Some(v(1, 1)) },
                    KvRead { key: b"c".to_vec(), version: Some(v(2, 0)) },
                ],
            }]
        );
    }

    #[test]
    fn early_stop_records_last_key_and_open_iterators_close_at_finish() {
        let s = state();
        let mut sim = TxSimulator::new("ns", &s, Mode::Invoke);
        let first = sim.range_open(b"a", b"").unwrap();
        let second = sim.range_open(b"c", b"").unwrap();
        assert_eq!((first, second), (0, 1));
        sim.range_next(first).unwrap();
        sim.range_next(first).unwrap();
        let rw = sim.finish().unwrap();
        assert_eq!(rw.range_queries_info.len(), 2);
        let r0 = &rw.range_queries_info[0];
        assert_eq!(
            (r0.end_key.as_slice(), r0.itr_exhausted, r0.reads.len()),
            (b"b".as_slice(), false, 2)
        );
        let r1 = &rw.range_queries_info[1];
        assert_eq!(
            (r1.start_key.as_slice(), r1.end_key.as_slice(), r1.itr_exhausted),
            (b"c".as_slice(), b"".as_slice(), false)
        );
    }

    #[test]
    fn inverted_range_is_empty_and_exhausted() {
        let s = state();
        let mut sim = TxSimulator::new("ns", &s, Mode::Invoke);
        let it = sim.range_open(b"d", b"b").unwrap();
        assert_eq!(sim.range_next(it).unwrap(), None);
        let rw = sim.finish().unwrap();
        assert!(rw.range_queries_info[0].itr_exhausted);
        assert!(rw.range_queries_info[0].reads.is_empty());
    }

    #[test]
    fn query_mode_refuses_writes_and_remembers() {
        let s = state();
        let mut sim = TxSimulator::new("ns", &s, Mode::Query);
        assert!(matches!(sim.put(b"a", b"1"), Err(SimError::Contract(ReturnCode::ReadOnly))));
        assert!(sim.wrote_during_query());
        assert!(sim.finish().unwrap().writes.is_empty());
    }

    #[test]
    fn limits_are_enforced() {
        let s = state();
        let mut sim = TxSimulator::new("ns", &s, Mode::Invoke);
        let long = vec![b'k'; limits::MAX_KEY_LEN as usize + 1];
        assert!(matches!(sim.get(&long), Err(SimError::Contract(ReturnCode::KeyTooLong))));
        assert!(matches!(sim.get(b""), Err(SimError::Contract(ReturnCode::EmptyKey))));
        let big = vec![1u8; limits::MAX_VALUE_LEN as usize + 1];
        assert!(matches!(sim.put(b"k", &big), Err(SimError::Contract(ReturnCode::ValueTooLong))));
        for _ in 0..limits::MAX_OPEN_ITERATORS {
            sim.range_open(b"", b"").unwrap();
        }
        assert!(matches!(
            sim.range_open(b"", b""),
            Err(SimError::Contract(ReturnCode::TooManyIterators))
        ));
        assert!(matches!(
            sim.range_next(999),
            Err(SimError::Contract(ReturnCode::UnknownIterator))
        ));
    }
}
