//! The one seam between the public API ([`crate::Context`]) and where a call goes: the host's
//! imports on wasm32 ([`wasm`]), or the shared simulator in the native test context
//! ([`native`]). Both speak the ABI's byte layouts, so decoding is written once, in `Context`.

use weft_abi::{LogLevel, ReturnCode, TxField};

#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod native;
#[cfg(target_arch = "wasm32")]
mod wasm;

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use native::NativeBackend as Active;
#[cfg(target_arch = "wasm32")]
pub(crate) use wasm::{WasmBackend as Active, abort};

/// One method per host function of [`weft_abi::HOST_FUNCTIONS`] (except the result-buffer
/// plumbing and `abort`). Producing calls return the bytes the host put in its result buffer,
/// in the ABI's layout; `Ok(None)` stands for `NotFound` / `IterationDone`.
pub(crate) trait Backend {
    fn tx_field(&self, field: TxField) -> Vec<u8>;
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ReturnCode>;
    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), ReturnCode>;
    fn del(&self, key: &[u8]) -> Result<(), ReturnCode>;
    fn range_open(&self, start: &[u8], end: &[u8]) -> Result<u32, ReturnCode>;
    /// The next pair as [`weft_abi::codec::encode_kv`].
    fn range_next(&self, iterator: u32) -> Result<Option<Vec<u8>>, ReturnCode>;
    fn range_close(&self, iterator: u32) -> Result<(), ReturnCode>;
    fn history_open(&self, key: &[u8]) -> Result<u32, ReturnCode>;
    /// The next entry as [`weft_abi::HistoryEntryHeader`], transaction id, value.
    fn history_next(&self, iterator: u32) -> Result<Option<Vec<u8>>, ReturnCode>;
    fn emit_event(&self, name: &[u8], payload: &[u8]) -> Result<(), ReturnCode>;
    fn set_response(&self, status: i32, message: &[u8], payload: &[u8]) -> Result<(), ReturnCode>;
    fn log(&self, level: LogLevel, line: &[u8]);
}
