//! The state of one invocation and the host side of every host function.
//!
//! The rules behind each host function (state access through [`weft_rwset::TxSimulator`],
//! iterators, events, response, log lines, limits and return codes) are
//! [`weft_rwset::InvocationRecorder`], the same plain Rust the SDK's native test context calls.
//! This module adds what only the host has: the guest's linear memory (every `(ptr, len)` is
//! checked before anything is read or allocated), fuel charged up front, and the result buffer.
//! Nothing here knows about Wasm: the unit tests drive it with a `Vec<u8>` as the memory. The
//! Wasm table in `host.rs` only moves values between the engine and these functions.

use std::ops::Range;
use std::sync::Arc;

use weft_abi::{LogLevel, ReturnCode, TxField, limits};
use weft_rwset::{
    Call, Invocation, InvocationRecorder, Mode, Recorded, SharedHistory, SharedState, StateError,
    Stop, abort_message,
};

use crate::engine::HostFuel;
use crate::outcome::FailureKind;

/// Why a host call stops the invocation.
#[derive(Debug)]
pub(crate) enum HostStop {
    /// A deterministic contract failure (misuse, abort, out of fuel).
    Contract(FailureKind, String),
    /// The node failed (state could not be read).
    Node(StateError),
}

impl HostStop {
    fn misuse(function: &str, what: &str) -> HostStop {
        HostStop::Contract(FailureKind::AbiMisuse, format!("{function}: {what}"))
    }
}

impl From<Stop> for HostStop {
    fn from(stop: Stop) -> HostStop {
        match stop {
            Stop::Misuse { function, what } => HostStop::misuse(function, what),
            Stop::OutOfFuel => HostStop::Contract(FailureKind::OutOfFuel, "out of fuel".into()),
            Stop::HostMemory => HostStop::Contract(
                FailureKind::HostMemoryLimit,
                FailureKind::HostMemoryLimit.as_str().into(),
            ),
            Stop::Node(err) => HostStop::Node(err),
        }
    }
}

pub(crate) type HostResult<T> = Result<T, HostStop>;

/// Fuel mirrored from the engine around each host call, and what is owed.
#[derive(Debug)]
pub(crate) struct Meter {
    /// Fuel left.
    pub(crate) fuel: u64,
    /// Fuel owed for work the engine could not price (memory growth), paid at the next host
    /// call or at the end of the invocation.
    pub(crate) debt: u64,
    costs: HostFuel,
}

impl Meter {
    /// Charges `units`; running out stops the invocation.
    fn charge(&mut self, units: u64) -> Result<(), Stop> {
        match self.fuel.checked_sub(units) {
            Some(left) => {
                self.fuel = left;
                Ok(())
            }
            None => {
                self.fuel = 0;
                Err(Stop::OutOfFuel)
            }
        }
    }

    /// Adds `units` to the debt. The fuel left at the last host call bounds what is left now,
    /// so a debt past it is out of fuel whatever runs in between: that stops the invocation
    /// at once, which bounds a loop of refused growths (no host call pays their debt) by
    /// the budget, as fuel bounds everything else.
    pub(crate) fn owe(&mut self, units: u64) -> Result<(), Stop> {
        self.debt = self.debt.saturating_add(units);
        if self.debt > self.fuel { Err(Stop::OutOfFuel) } else { Ok(()) }
    }

    /// Charges one host call moving `bytes` bytes, plus any debt.
    fn call(&mut self, bytes: usize) -> Result<(), Stop> {
        let debt = std::mem::take(&mut self.debt);
        self.charge(debt + self.costs.per_call + self.costs.per_byte * bytes as u64)
    }

    /// Charges one host call moving `bytes` bytes that makes the host record or keep
    /// `entries` entries, plus any debt.
    fn recording(&mut self, bytes: usize, entries: u64) -> Result<(), Stop> {
        self.call(bytes)?;
        self.charge(self.costs.per_entry * entries)
    }

    /// Charges for the entry a call recorded, if it recorded one (it succeeded): a call
    /// refused with a return code does no more work than its call price covers.
    fn recorded<T>(&mut self, call: &Call<T>) -> Result<(), Stop> {
        match call {
            Ok(Ok(_)) => self.charge(self.costs.per_entry),
            _ => Ok(()),
        }
    }

    /// Charges a put or delete moving `bytes` bytes: the write-set entry it makes or
    /// replaces, and more if the key is `new` to the write set.
    fn write(&mut self, bytes: usize, new: bool) -> Result<(), Stop> {
        self.recording(bytes, 1)?;
        if new { self.charge(self.costs.per_write) } else { Ok(()) }
    }

    fn bytes(&mut self, bytes: usize) -> Result<(), Stop> {
        self.charge(self.costs.per_byte * bytes as u64)
    }

    fn iterator(&mut self) -> Result<(), Stop> {
        self.charge(self.costs.per_iterator)
    }

    /// Charges one host call moving `bytes` bytes that reads committed state, plus any debt.
    fn state_read(&mut self, bytes: usize) -> Result<(), Stop> {
        self.call(bytes)?;
        self.charge(self.costs.per_state_read)
    }
}

/// The per-invocation state: the engine's store data.
pub(crate) struct InvocationState {
    invocation: Arc<Invocation>,
    recorder: InvocationRecorder,
    result: Option<Vec<u8>>,
    pub(crate) meter: Meter,
    /// Why the last host call stopped the invocation, if one did.
    pub(crate) stop: Option<HostStop>,
    /// Set when a memory or table growth was refused by the limiter.
    pub(crate) limit_hit: bool,
    pub(crate) max_memory_bytes: usize,
    pub(crate) max_table_elements: usize,
}

fn span(mem_len: usize, ptr: i32, len: i32) -> Option<Range<usize>> {
    let start = ptr as u32 as usize;
    let end = start.checked_add(len as u32 as usize)?;
    (end <= mem_len).then_some(start..end)
}

fn read<'m>(mem: &'m [u8], function: &str, ptr: i32, len: i32) -> HostResult<&'m [u8]> {
    span(mem.len(), ptr, len)
        .map(|r| &mem[r])
        .ok_or_else(|| HostStop::misuse(function, "pointer or length out of bounds"))
}

fn code_i32(call: Call<()>) -> HostResult<i32> {
    Ok(match call? {
        Ok(()) => ReturnCode::Ok as i32,
        Err(code) => code as i32,
    })
}

impl InvocationState {
    pub(crate) fn new(
        invocation: Arc<Invocation>,
        state: SharedState,
        history: Option<SharedHistory>,
        mode: Mode,
        costs: HostFuel,
    ) -> InvocationState {
        let recorder = InvocationRecorder::new(&invocation, state, history, mode);
        InvocationState {
            invocation,
            recorder,
            result: None,
            meter: Meter { fuel: 0, debt: 0, costs },
            stop: None,
            limit_hit: false,
            max_memory_bytes: usize::MAX,
            max_table_elements: usize::MAX,
        }
    }

    /// Puts produced data in the result buffer (paying per byte); returns its length.
    fn produce(&mut self, data: Vec<u8>) -> HostResult<i64> {
        self.meter.bytes(data.len())?;
        self.recorder.hold_result(data.len())?;
        let len = data.len() as i64;
        self.result = Some(data);
        Ok(len)
    }

    /// Produces `Some(data)`, or `absent` as a negative code for `None`.
    fn produce_or(&mut self, call: Call<Option<Vec<u8>>>, absent: ReturnCode) -> HostResult<i64> {
        match call? {
            Ok(Some(data)) => self.produce(data),
            Ok(None) => Ok(absent.as_neg_i64()),
            Err(code) => Ok(code.as_neg_i64()),
        }
    }

    /// `take_result(ptr, len) -> i32`
    pub(crate) fn take_result(&mut self, mem: &mut [u8], ptr: i32, len: i32) -> HostResult<i32> {
        const F: &str = "take_result";
        let range = span(mem.len(), ptr, len)
            .ok_or_else(|| HostStop::misuse(F, "pointer or length out of bounds"))?;
        let Some(buf) = self.result.as_ref() else {
            return Err(HostStop::misuse(F, "no result to take"));
        };
        if buf.len() != range.len() {
            return Err(HostStop::misuse(F, "length differs from the result's length"));
        }
        self.meter.call(range.len())?;
        if let Some(buf) = self.result.take() {
            mem[range].copy_from_slice(&buf);
        }
        self.recorder.hold_result(0)?;
        Ok(ReturnCode::Ok as i32)
    }

    /// `tx_field(field) -> i64`
    pub(crate) fn tx_field(&mut self, field: i32) -> HostResult<i64> {
        self.meter.call(0)?;
        let field = TxField::from_i32(field)
            .ok_or_else(|| HostStop::misuse("tx_field", "unknown field id"))?;
        let data = self.invocation.field(field);
        self.produce(data)
    }

    /// `state_get(key_ptr, key_len) -> i64`
    pub(crate) fn state_get(&mut self, mem: &[u8], ptr: i32, len: i32) -> HostResult<i64> {
        let key = read(mem, "state_get", ptr, len)?;
        self.meter.state_read(key.len())?;
        let got = self.recorder.get(key);
        self.meter.recorded(&got)?;
        self.produce_or(got, ReturnCode::NotFound)
    }

    /// `state_put(key_ptr, key_len, value_ptr, value_len) -> i32`
    pub(crate) fn state_put(
        &mut self,
        mem: &[u8],
        (kp, kl): (i32, i32),
        (vp, vl): (i32, i32),
    ) -> HostResult<i32> {
        let key = read(mem, "state_put", kp, kl)?;
        let value = read(mem, "state_put", vp, vl)?;
        let new = !self.recorder.has_write(key);
        self.meter.write(key.len() + value.len(), new)?;
        code_i32(self.recorder.put(key, value))
    }

    /// `state_del(key_ptr, key_len) -> i32`
    pub(crate) fn state_del(&mut self, mem: &[u8], ptr: i32, len: i32) -> HostResult<i32> {
        let key = read(mem, "state_del", ptr, len)?;
        let new = !self.recorder.has_write(key);
        self.meter.write(key.len(), new)?;
        code_i32(self.recorder.del(key))
    }

    /// `range_open(start_ptr, start_len, end_ptr, end_len) -> i64`
    pub(crate) fn range_open(
        &mut self,
        mem: &[u8],
        (sp, sl): (i32, i32),
        (ep, el): (i32, i32),
    ) -> HostResult<i64> {
        let start = read(mem, "range_open", sp, sl)?;
        let end = read(mem, "range_open", ep, el)?;
        self.meter.state_read(start.len() + end.len())?;
        let opened = self.recorder.range_open(start, end);
        if let Ok(Ok(_)) = opened {
            self.meter.iterator()?;
        }
        self.meter.recorded(&opened)?;
        Ok(match opened? {
            Ok(id) => i64::from(id),
            Err(code) => code.as_neg_i64(),
        })
    }

    /// `range_next(iterator) -> i64`
    pub(crate) fn range_next(&mut self, iterator: i32) -> HostResult<i64> {
        self.meter.call(0)?;
        // An open iterator that is not exhausted reads committed state (one entry); an
        // unknown or exhausted one reads nothing.
        if self.recorder.range_reads_on(iterator as u32) {
            self.meter.charge(self.meter.costs.per_state_read)?;
        }
        let next = self.recorder.range_next(iterator as u32);
        // A pair read is recorded.
        if let Ok(Ok(Some(_))) = &next {
            self.meter.recorded(&next)?;
        }
        self.produce_or(next, ReturnCode::IterationDone)
    }

    /// `range_close(iterator) -> i32`
    pub(crate) fn range_close(&mut self, iterator: i32) -> HostResult<i32> {
        self.meter.call(0)?;
        let closed = self.recorder.range_close(iterator as u32);
        self.meter.recorded(&closed)?;
        code_i32(closed)
    }

    /// `history_open(key_ptr, key_len) -> i64`; each entry is paid for as it is read.
    pub(crate) fn history_open(&mut self, mem: &[u8], ptr: i32, len: i32) -> HostResult<i64> {
        let key = read(mem, "history_open", ptr, len)?;
        self.meter.call(key.len())?;
        let meter = &mut self.meter;
        let opened = self.recorder.history_open(key, |bytes| meter.recording(bytes, 1));
        if let Ok(Ok(_)) = opened {
            self.meter.iterator()?;
        }
        Ok(match opened? {
            Ok(id) => i64::from(id),
            Err(code) => code.as_neg_i64(),
        })
    }

    /// `history_next(iterator) -> i64`
    pub(crate) fn history_next(&mut self, iterator: i32) -> HostResult<i64> {
        self.meter.call(0)?;
        let next = self.recorder.history_next(iterator as u32);
        self.produce_or(next, ReturnCode::IterationDone)
    }

    /// `emit_event(name_ptr, name_len, payload_ptr, payload_len) -> i32`
    pub(crate) fn emit_event(
        &mut self,
        mem: &[u8],
        (np, nl): (i32, i32),
        (pp, pl): (i32, i32),
    ) -> HostResult<i32> {
        let name = read(mem, "emit_event", np, nl)?;
        let payload = read(mem, "emit_event", pp, pl)?;
        self.meter.call(name.len() + payload.len())?;
        let emitted = self.recorder.emit_event(name, payload);
        self.meter.recorded(&emitted)?;
        code_i32(emitted)
    }

    /// `set_response(status, msg_ptr, msg_len, payload_ptr, payload_len) -> i32`
    pub(crate) fn set_response(
        &mut self,
        mem: &[u8],
        status: i32,
        (mp, ml): (i32, i32),
        (pp, pl): (i32, i32),
    ) -> HostResult<i32> {
        let message = read(mem, "set_response", mp, ml)?;
        let payload = read(mem, "set_response", pp, pl)?;
        self.meter.call(message.len() + payload.len())?;
        let set = self.recorder.set_response(status, message, payload);
        self.meter.recorded(&set)?;
        code_i32(set)
    }

    /// `log(level, ptr, len) -> i32`: bounded; the line goes to the node's tracing.
    pub(crate) fn log(&mut self, mem: &[u8], level: i32, ptr: i32, len: i32) -> HostResult<i32> {
        let line = read(mem, "log", ptr, len)?;
        let kept = &line[..line.len().min(limits::MAX_LOG_LINE_LEN as usize)];
        self.meter.call(kept.len())?;
        let contract = self.invocation.contract.as_str();
        let tx_id = self.invocation.tx_id.as_str();
        if let Some(text) = self.recorder.log(kept) {
            self.meter.charge(self.meter.costs.per_entry)?;
            match LogLevel::from_i32(level) {
                LogLevel::Error => {
                    tracing::error!(target: "weft::contract", contract, tx_id, "{text}")
                }
                LogLevel::Warn => {
                    tracing::warn!(target: "weft::contract", contract, tx_id, "{text}")
                }
                LogLevel::Info => {
                    tracing::info!(target: "weft::contract", contract, tx_id, "{text}")
                }
                LogLevel::Debug => {
                    tracing::debug!(target: "weft::contract", contract, tx_id, "{text}")
                }
            }
        }
        Ok(ReturnCode::Ok as i32)
    }

    /// `abort(msg_ptr, msg_len)`: always stops the invocation with the contract's message.
    pub(crate) fn abort(&mut self, mem: &[u8], ptr: i32, len: i32) -> HostStop {
        match read(mem, "abort", ptr, len) {
            Ok(message) => HostStop::Contract(FailureKind::Panic, abort_message(message)),
            Err(stop) => stop,
        }
    }

    /// Ends the invocation: closes open iterators and hands back what was recorded.
    pub(crate) fn finish(self) -> HostResult<Recorded> {
        let recorded = self.recorder.finish()?;
        if recorded.logs_dropped > 0 {
            tracing::debug!(
                target: "weft::contract",
                contract = self.invocation.contract.as_str(),
                dropped = recorded.logs_dropped,
                "log lines over the per-invocation limit were dropped"
            );
        }
        Ok(recorded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_abi::{HistoryEntryHeader, Timestamp, codec};
    use weft_rwset::{HistoryEntry, HistoryView, MemoryState, Version};

    const COSTS: HostFuel = HostFuel {
        per_call: 10,
        per_byte: 1,
        per_entry: 2,
        per_write: 5,
        per_iterator: 4,
        per_state_read: 3,
    };

    fn v(b: u64, t: u64) -> Version {
        Version { block_num: b, tx_num: t }
    }

    fn state_with_history(mode: Mode, history: Option<SharedHistory>) -> InvocationState {
        let mut s = MemoryState::default();
        s.insert(b"a", b"A", v(1, 0));
        s.insert(b"b", b"BB", v(1, 1));
        s.insert(b"c", b"C", v(2, 0));
        let mut inv = Invocation::new("kv", "put", &[b"x".as_slice(), b"yz"]);
        inv.tx_id = "tx1".into();
        let mut st = InvocationState::new(Arc::new(inv), Arc::new(s), history, mode, COSTS);
        st.meter.fuel = 1_000_000;
        st
    }

    fn state_with(mode: Mode) -> InvocationState {
        state_with_history(mode, None)
    }

    /// A guest memory of 256 bytes with `bytes` written at `at`.
    fn mem_with(at: usize, bytes: &[u8]) -> Vec<u8> {
        let mut m = vec![0u8; 256];
        m[at..at + bytes.len()].copy_from_slice(bytes);
        m
    }

    fn take(st: &mut InvocationState, len: i64) -> Vec<u8> {
        let mut m = vec![0u8; 256];
        assert_eq!(st.take_result(&mut m, 100, len as i32).unwrap(), 0);
        m[100..100 + len as usize].to_vec()
    }

    #[test]
    fn get_puts_committed_value_in_result_buffer_and_take_clears_it() {
        let mut st = state_with(Mode::Invoke);
        let m = mem_with(0, b"b");
        let n = st.state_get(&m, 0, 1).unwrap();
        assert_eq!(n, 2);
        assert_eq!(take(&mut st, n), b"BB");
        // Taking twice is misuse.
        let mut m2 = vec![0u8; 256];
        assert!(matches!(
            st.take_result(&mut m2, 0, 2),
            Err(HostStop::Contract(FailureKind::AbiMisuse, _))
        ));
        let m = mem_with(0, b"zz");
        assert_eq!(st.state_get(&m, 0, 2).unwrap(), ReturnCode::NotFound.as_neg_i64());
    }

    #[test]
    fn take_result_with_wrong_length_is_misuse() {
        let mut st = state_with(Mode::Invoke);
        let n = st.tx_field(TxField::Function as i32).unwrap();
        assert_eq!(n, 3);
        let mut m = vec![0u8; 256];
        let err = st.take_result(&mut m, 0, 2).unwrap_err();
        assert!(
            matches!(err, HostStop::Contract(FailureKind::AbiMisuse, ref s) if s.contains("length"))
        );
    }

    #[test]
    fn every_pointer_is_checked_before_use() {
        let mut st = state_with(Mode::Invoke);
        let m = vec![0u8; 256];
        let oob = |r: HostResult<i64>| matches!(r, Err(HostStop::Contract(FailureKind::AbiMisuse, ref s)) if s.contains("out of bounds"));
        assert!(oob(st.state_get(&m, 250, 10)));
        assert!(oob(st.state_get(&m, -1, 2)));
        assert!(oob(st.state_get(&m, 0, -1)));
        assert!(oob(st.range_open(&m, (0, 1), (255, 2))));
        assert!(oob(st.history_open(&m, 300, 0)));
        let oob32 =
            |r: HostResult<i32>| matches!(r, Err(HostStop::Contract(FailureKind::AbiMisuse, _)));
        assert!(oob32(st.state_put(&m, (0, 1), (0, 1 << 30))));
        assert!(oob32(st.state_del(&m, 256, 1)));
        assert!(oob32(st.emit_event(&m, (0, 1), (i32::MAX, 2))));
        assert!(oob32(st.set_response(&m, 200, (0, 1), (0, 257))));
        assert!(oob32(st.log(&m, 3, 200, 100)));
        let mut mm = vec![0u8; 256];
        st.tx_field(0).unwrap();
        assert!(oob32(st.take_result(&mut mm, 255, 3)));
        assert!(matches!(st.abort(&m, 0, 1000), HostStop::Contract(FailureKind::AbiMisuse, _)));
        // The zero-length slice at the very end is in bounds.
        assert_eq!(st.state_get(&m, 256, 0).unwrap(), ReturnCode::EmptyKey.as_neg_i64());
    }

    #[test]
    fn rwset_follows_the_simulator_rules() {
        let mut st = state_with(Mode::Invoke);
        let m = mem_with(0, b"aXbnew");
        assert_eq!(st.state_put(&m, (0, 1), (3, 3)).unwrap(), 0); // a = "new"
        assert_eq!(st.state_get(&m, 0, 1).unwrap(), 1); // committed "A"
        assert_eq!(st.state_del(&m, 2, 1).unwrap(), 0); // del b
        assert_eq!(st.state_put(&m, (1, 1), (0, 0)).unwrap(), 0); // X = "" is a delete
        let rec = st.finish().unwrap();
        assert_eq!(rec.rwset.namespace, "kv");
        assert_eq!(rec.rwset.reads.len(), 1);
        assert_eq!(rec.rwset.reads[0].version, Some(v(1, 0)));
        let w: Vec<_> = rec
            .rwset
            .writes
            .iter()
            .map(|w| (w.key.clone(), w.is_delete, w.value.clone()))
            .collect();
        assert_eq!(
            w,
            vec![
                (b"X".to_vec(), true, vec![]),
                (b"a".to_vec(), false, b"new".to_vec()),
                (b"b".to_vec(), true, vec![]),
            ]
        );
    }

    #[test]
    fn range_iterates_encoded_pairs_and_records_the_scan() {
        let mut st = state_with(Mode::Invoke);
        let m = mem_with(0, b"ac");
        let it = st.range_open(&m, (0, 1), (1, 1)).unwrap();
        assert_eq!(it, 0);
        let n = st.range_next(it as i32).unwrap();
        assert_eq!(take(&mut st, n), codec::encode_kv(b"a", b"A"));
        let n = st.range_next(it as i32).unwrap();
        assert_eq!(take(&mut st, n), codec::encode_kv(b"b", b"BB"));
        assert_eq!(st.range_next(it as i32).unwrap(), ReturnCode::IterationDone.as_neg_i64());
        assert_eq!(st.range_close(it as i32).unwrap(), 0);
        assert_eq!(st.range_close(it as i32).unwrap(), ReturnCode::UnknownIterator as i32);
        assert_eq!(st.range_next(77).unwrap(), ReturnCode::UnknownIterator.as_neg_i64());
        let rec = st.finish().unwrap();
        let r = &rec.rwset.range_queries_info[0];
        assert!(r.itr_exhausted);
        assert_eq!(r.end_key, b"c");
        assert!(rec.rwset.reads.is_empty());
    }

    /// Fuel a host call charged.
    fn spent(st: &mut InvocationState, call: impl FnOnce(&mut InvocationState)) -> u64 {
        let before = st.meter.fuel;
        call(st);
        before - st.meter.fuel
    }

    #[test]
    fn a_write_pays_for_a_new_write_set_entry_only_once() {
        let mut st = state_with(Mode::Invoke);
        let m = mem_with(0, b"kvv");
        // call 10 + 3 bytes + entry 2 + new key 5; again: the entry is replaced, not added.
        assert_eq!(
            spent(&mut st, |st| assert_eq!(st.state_put(&m, (0, 1), (1, 2)).unwrap(), 0)),
            20
        );
        assert_eq!(
            spent(&mut st, |st| assert_eq!(st.state_put(&m, (0, 1), (1, 2)).unwrap(), 0)),
            15
        );
        // A delete of the written key replaces it; of a new key adds one.
        assert_eq!(spent(&mut st, |st| assert_eq!(st.state_del(&m, 0, 1).unwrap(), 0)), 13);
        assert_eq!(spent(&mut st, |st| assert_eq!(st.state_del(&m, 1, 1).unwrap(), 0)), 18);
    }

    #[test]
    fn only_a_range_step_that_reads_state_pays_for_the_read() {
        let mut st = state_with(Mode::Invoke);
        let m = mem_with(0, b"ab");
        let it = st.range_open(&m, (0, 1), (1, 1)).unwrap() as i32;
        // A pair: call 10 + read 3 + entry 2 + its bytes; the end: call + read; past the
        // end: the call.
        let pair = codec::encode_kv(b"a", b"A");
        let mut n = 0;
        assert_eq!(spent(&mut st, |st| n = st.range_next(it).unwrap()), 15 + pair.len() as u64);
        assert_eq!(take(&mut st, n), pair);
        assert_eq!(spent(&mut st, |st| assert!(st.range_next(it).unwrap() < 0)), 13);
        assert_eq!(spent(&mut st, |st| assert!(st.range_next(it).unwrap() < 0)), 10);
        assert_eq!(spent(&mut st, |st| assert!(st.range_next(99).unwrap() < 0)), 10);
    }

    #[test]
    fn iterators_are_bounded_across_ranges_and_histories() {
        let mut st = state_with(Mode::Invoke);
        let m = vec![0u8; 16];
        for i in 0..limits::MAX_OPEN_ITERATORS {
            assert_eq!(st.range_open(&m, (0, 0), (0, 0)).unwrap(), i64::from(i));
        }
        assert_eq!(
            st.range_open(&m, (0, 0), (0, 0)).unwrap(),
            ReturnCode::TooManyIterators.as_neg_i64()
        );
        assert_eq!(st.range_close(3).unwrap(), 0);
        assert!(st.range_open(&m, (0, 0), (0, 0)).unwrap() >= 0);
        assert_eq!(st.finish().unwrap().rwset.range_queries_info.len(), 65);
    }

    #[test]
    fn query_mode_refuses_writes_and_marks_the_invocation() {
        let mut st = state_with(Mode::Query);
        let m = mem_with(0, b"kv");
        assert_eq!(st.state_put(&m, (0, 1), (1, 1)).unwrap(), ReturnCode::ReadOnly as i32);
        assert_eq!(st.state_del(&m, 0, 1).unwrap(), ReturnCode::ReadOnly as i32);
        let rec = st.finish().unwrap();
        assert!(rec.wrote_during_query);
        assert!(rec.rwset.writes.is_empty());
    }

    #[test]
    fn oversized_key_and_value_get_return_codes() {
        let mut st = state_with(Mode::Invoke);
        let mut m = vec![b'k'; limits::MAX_VALUE_LEN as usize + 8];
        let big_key = limits::MAX_KEY_LEN as i32 + 1;
        st.meter.fuel = u64::MAX / 2;
        assert_eq!(st.state_get(&m, 0, big_key).unwrap(), ReturnCode::KeyTooLong.as_neg_i64());
        assert_eq!(
            st.state_put(&m, (0, 1), (0, limits::MAX_VALUE_LEN as i32 + 1)).unwrap(),
            ReturnCode::ValueTooLong as i32
        );
        m.truncate(10);
        assert_eq!(st.state_put(&m, (0, 1), (0, 5)).unwrap(), 0);
    }

    #[test]
    fn tx_fields_are_encoded_per_the_abi() {
        let mut st = state_with(Mode::Invoke);
        let n = st.tx_field(TxField::Args as i32).unwrap();
        let args = take(&mut st, n);
        assert_eq!(codec::decode_list(&args).unwrap(), vec![b"x".as_slice(), b"yz"]);
        let n = st.tx_field(TxField::TxId as i32).unwrap();
        assert_eq!(take(&mut st, n), b"tx1");
        let n = st.tx_field(TxField::Timestamp as i32).unwrap();
        assert_eq!(n, Timestamp::SIZE as i64);
        assert!(matches!(st.tx_field(99), Err(HostStop::Contract(FailureKind::AbiMisuse, _))));
    }

    #[test]
    fn events_and_response_are_bounded() {
        let mut st = state_with(Mode::Invoke);
        let m = mem_with(0, b"evtpayload");
        assert_eq!(st.emit_event(&m, (0, 0), (0, 1)).unwrap(), ReturnCode::EventTooLarge as i32);
        for _ in 0..limits::MAX_EVENTS {
            assert_eq!(st.emit_event(&m, (0, 3), (3, 7)).unwrap(), 0);
        }
        assert_eq!(st.emit_event(&m, (0, 3), (3, 7)).unwrap(), ReturnCode::TooManyEvents as i32);
        let big = vec![0u8; limits::MAX_RESPONSE_MESSAGE_LEN as usize + 1];
        assert_eq!(
            st.set_response(&big, 200, (0, big.len() as i32), (0, 0)).unwrap(),
            ReturnCode::ResponseTooLarge as i32
        );
        // A refused response is not set: the SDK then sends an error response.
        assert_eq!(st.set_response(&m, 500, (0, 3), (3, 7)).unwrap(), 0);
        assert_eq!(
            st.set_response(&m, 200, (0, 3), (0, 0)).unwrap(),
            ReturnCode::ResponseAlreadySet as i32
        );
        let rec = st.finish().unwrap();
        assert_eq!(rec.events.len(), limits::MAX_EVENTS as usize);
        assert_eq!(rec.events[0].tx_id, "tx1");
        assert_eq!(rec.response.unwrap().payload, b"payload");
    }

    #[test]
    fn logs_are_truncated_and_counted() {
        let mut st = state_with(Mode::Invoke);
        st.meter.fuel = u64::MAX / 2;
        let mut m = vec![b'x'; 8192];
        m[..4].copy_from_slice(b"a\nb\0");
        for _ in 0..limits::MAX_LOG_LINES + 5 {
            assert_eq!(st.log(&m, 3, 0, 8192).unwrap(), 0);
        }
        let rec = st.finish().unwrap();
        // The byte budget is what binds for long lines: four lines of 4 KiB.
        assert_eq!(rec.logs.len(), 4);
        assert_eq!(rec.logs_dropped, limits::MAX_LOG_LINES + 1);
        assert_eq!(rec.logs[0].len(), limits::MAX_LOG_LINE_LEN as usize);
        assert!(rec.logs[0].starts_with("a\\nb\\0xx"), "{}", &rec.logs[0][..8]);
        // Short lines: the line budget binds.
        let mut st = state_with(Mode::Invoke);
        for _ in 0..limits::MAX_LOG_LINES + 5 {
            assert_eq!(st.log(&m, 3, 0, 1).unwrap(), 0);
        }
        let rec = st.finish().unwrap();
        assert_eq!((rec.logs.len(), rec.logs_dropped), (limits::MAX_LOG_LINES as usize, 5));
    }

    #[test]
    fn abort_carries_the_message_and_fuel_is_charged_up_front() {
        let mut st = state_with(Mode::Invoke);
        let m = mem_with(0, b"boom");
        assert!(
            matches!(st.abort(&m, 0, 4), HostStop::Contract(FailureKind::Panic, ref s) if s == "boom")
        );
        st.meter.fuel = 12;
        let m = mem_with(0, b"abc");
        // 10 per call + 3 per byte = 13 > 12: out of fuel before the read happens.
        assert!(matches!(
            st.state_get(&m, 0, 3),
            Err(HostStop::Contract(FailureKind::OutOfFuel, _))
        ));
        assert_eq!(st.meter.fuel, 0);
    }

    struct History;
    impl HistoryView for History {
        fn history(&self, key: &[u8]) -> Result<Option<weft_rwset::HistoryIter<'_>>, StateError> {
            let entry = HistoryEntry {
                tx_id: "t0".into(),
                version: v(1, 2),
                timestamp: Timestamp { seconds: 5, nanos: 6, reserved: 0 },
                is_delete: false,
                value: key.to_vec(),
                source_bytes: 0,
            };
            Ok(Some(Box::new(std::iter::once(Ok(entry)))))
        }
    }

    #[test]
    fn history_entries_use_the_abi_layout() {
        let mut st = state_with(Mode::Query);
        let m = mem_with(0, b"k");
        assert_eq!(st.history_open(&m, 0, 1).unwrap(), ReturnCode::HistoryUnavailable.as_neg_i64());
        let mut st = state_with_history(Mode::Query, Some(Arc::new(History)));
        let it = st.history_open(&m, 0, 1).unwrap() as i32;
        let n = st.history_next(it).unwrap();
        let data = take(&mut st, n);
        let h = HistoryEntryHeader::from_bytes(&data).unwrap();
        assert_eq!((h.block_num, h.tx_num, h.tx_id_len), (1, 2, 2));
        assert_eq!(&data[HistoryEntryHeader::SIZE..], b"t0k");
        assert_eq!(st.history_next(it).unwrap(), ReturnCode::IterationDone.as_neg_i64());
        assert_eq!(st.history_next(it).unwrap(), ReturnCode::UnknownIterator.as_neg_i64());
    }
}
