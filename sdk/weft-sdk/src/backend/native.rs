//! The native backend of the test context: a thin adapter over
//! [`weft_rwset::InvocationRecorder`], the same logic the host's function table calls, so every
//! rule and limit a contract meets on a peer it meets in `cargo test`.

use std::cell::RefCell;

use weft_abi::{LogLevel, ReturnCode, TxField};
use weft_rwset::{
    Call, Invocation, InvocationRecorder, Mode, Recorded, SharedHistory, SharedState, Stop,
};

use super::Backend;

/// The backend of a [`crate::Context`] in `cargo test`.
pub(crate) struct NativeBackend {
    invocation: Invocation,
    recorder: RefCell<InvocationRecorder>,
}

/// A host call's result as the contract sees it. A stop (misuse of the ABI) unwinds like a
/// trap on the peer; the test context catches it and reports its message. A state failure
/// cannot happen on the in-memory ledger: if it did, the test itself is broken.
fn returned<T>(call: Call<T>) -> Result<T, ReturnCode> {
    match call {
        Ok(result) => result,
        Err(Stop::Node(err)) => panic!("test ledger failed: {err}"),
        Err(stop) => std::panic::panic_any(stop.to_string()),
    }
}

impl NativeBackend {
    /// Data a host call hands to the contract. On a peer it waits in the host's result buffer
    /// until the contract takes it, and counts against the host-memory limit meanwhile: it is
    /// held and released here too, so the limit is met at the same call as on a peer.
    fn handed_over(&self, call: Call<Option<Vec<u8>>>) -> Call<Option<Vec<u8>>> {
        if let Ok(Ok(Some(data))) = &call {
            let mut recorder = self.recorder.borrow_mut();
            recorder.hold_result(data.len())?;
            recorder.hold_result(0)?;
        }
        call
    }

    pub(crate) fn new(
        invocation: Invocation,
        state: SharedState,
        history: Option<SharedHistory>,
        mode: Mode,
    ) -> NativeBackend {
        let recorder = InvocationRecorder::new(&invocation, state, history, mode);
        NativeBackend { invocation, recorder: RefCell::new(recorder) }
    }

    /// Ends the simulation and hands back what it recorded.
    pub(crate) fn finish(self) -> Recorded {
        match self.recorder.into_inner().finish() {
            Ok(recorded) => recorded,
            Err(stop) => panic!("test ledger failed: {stop}"),
        }
    }
}

impl Backend for NativeBackend {
    fn tx_field(&self, field: TxField) -> Vec<u8> {
        let field = self.invocation.field(field);
        match returned(self.handed_over(Ok(Ok(Some(field))))) {
            Ok(Some(field)) => field,
            _ => unreachable!("a field is handed over or the call stops"),
        }
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ReturnCode> {
        let got = self.recorder.borrow_mut().get(key);
        returned(self.handed_over(got))
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), ReturnCode> {
        returned(self.recorder.borrow_mut().put(key, value))
    }

    fn del(&self, key: &[u8]) -> Result<(), ReturnCode> {
        returned(self.recorder.borrow_mut().del(key))
    }

    fn range_open(&self, start: &[u8], end: &[u8]) -> Result<u32, ReturnCode> {
        returned(self.recorder.borrow_mut().range_open(start, end))
    }

    fn range_next(&self, iterator: u32) -> Result<Option<Vec<u8>>, ReturnCode> {
        let next = self.recorder.borrow_mut().range_next(iterator);
        returned(self.handed_over(next))
    }

    fn range_close(&self, iterator: u32) -> Result<(), ReturnCode> {
        returned(self.recorder.borrow_mut().range_close(iterator))
    }

    fn history_open(&self, key: &[u8]) -> Result<u32, ReturnCode> {
        returned(self.recorder.borrow_mut().history_open(key, |_| Ok(())))
    }

    fn history_next(&self, iterator: u32) -> Result<Option<Vec<u8>>, ReturnCode> {
        let next = self.recorder.borrow_mut().history_next(iterator);
        returned(self.handed_over(next))
    }

    fn emit_event(&self, name: &[u8], payload: &[u8]) -> Result<(), ReturnCode> {
        returned(self.recorder.borrow_mut().emit_event(name, payload))
    }

    fn set_response(&self, status: i32, message: &[u8], payload: &[u8]) -> Result<(), ReturnCode> {
        returned(self.recorder.borrow_mut().set_response(status, message, payload))
    }

    fn log(&self, _level: LogLevel, line: &[u8]) {
        // Kept lines are returned in the call's `TxRecord::logs`.
        self.recorder.borrow_mut().log(line);
    }
}
