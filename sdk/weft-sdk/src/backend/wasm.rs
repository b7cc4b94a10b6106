//! The wasm32 backend: each call is one import from [`weft_abi::sys`], with the result-buffer
//! protocol of `weft_abi` (a producing call returns a length or `-code`; the bytes are then
//! copied out with `take_result`).

use weft_abi::{LogLevel, ReturnCode, TxField, sys};

use super::Backend;

/// The host, as seen from inside the contract. Zero-sized: all state is on the host side.
pub(crate) struct WasmBackend;

fn code(rc: i32) -> Result<(), ReturnCode> {
    match ReturnCode::from_i32(rc) {
        Some(ReturnCode::Ok) => Ok(()),
        Some(code) => Err(code),
        None => panic!("the host returned unknown code {rc}"),
    }
}

fn ptr(bytes: &[u8]) -> u32 {
    bytes.as_ptr() as u32
}

fn len(bytes: &[u8]) -> u32 {
    bytes.len() as u32
}

/// Turns a producing call's return value into its bytes (`Ok(None)` for `absent`, which is
/// `NotFound` or `IterationDone` depending on the call).
fn produced(ret: i64, absent: ReturnCode) -> Result<Option<Vec<u8>>, ReturnCode> {
    if ret < 0 {
        let rc = i32::try_from(-ret).unwrap_or(i32::MAX);
        return match code(rc) {
            Err(c) if c == absent => Ok(None),
            Err(c) => Err(c),
            Ok(()) => unreachable!("-0 is not negative"),
        };
    }
    let n = usize::try_from(ret).expect("result length fits in memory");
    let mut buf = Vec::<u8>::with_capacity(n);
    // SAFETY: `buf` has capacity for `n` bytes at its pointer; `take_result` writes exactly `n`
    // bytes there (or aborts the invocation) and touches nothing else.
    let rc = unsafe { sys::take_result(buf.as_mut_ptr() as u32, n as u32) };
    code(rc)?;
    // SAFETY: the host has initialised the first `n` bytes (see above).
    unsafe { buf.set_len(n) };
    Ok(Some(buf))
}

fn produced_id(ret: i64) -> Result<u32, ReturnCode> {
    if ret < 0 {
        code(i32::try_from(-ret).unwrap_or(i32::MAX))?;
    }
    Ok(u32::try_from(ret).expect("iterator id fits in u32"))
}

impl Backend for WasmBackend {
    fn tx_field(&self, field: TxField) -> Vec<u8> {
        // SAFETY: a plain import call; no memory is passed.
        let ret = unsafe { sys::tx_field(field as i32) };
        produced(ret, ReturnCode::NotFound)
            .expect("the host provides every transaction field")
            .unwrap_or_default()
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ReturnCode> {
        // SAFETY: `key` is a live slice of our memory; the host only reads it.
        produced(unsafe { sys::state_get(ptr(key), len(key)) }, ReturnCode::NotFound)
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), ReturnCode> {
        // SAFETY: both slices are live in our memory; the host only reads them.
        code(unsafe { sys::state_put(ptr(key), len(key), ptr(value), len(value)) })
    }

    fn del(&self, key: &[u8]) -> Result<(), ReturnCode> {
        // SAFETY: `key` is a live slice of our memory; the host only reads it.
        code(unsafe { sys::state_del(ptr(key), len(key)) })
    }

    fn range_open(&self, start: &[u8], end: &[u8]) -> Result<u32, ReturnCode> {
        // SAFETY: both slices are live in our memory; the host only reads them.
        produced_id(unsafe { sys::range_open(ptr(start), len(start), ptr(end), len(end)) })
    }

    fn range_next(&self, iterator: u32) -> Result<Option<Vec<u8>>, ReturnCode> {
        // SAFETY: a plain import call; no memory is passed.
        produced(unsafe { sys::range_next(iterator) }, ReturnCode::IterationDone)
    }

    fn range_close(&self, iterator: u32) -> Result<(), ReturnCode> {
        // SAFETY: a plain import call; no memory is passed.
        code(unsafe { sys::range_close(iterator) })
    }

    fn history_open(&self, key: &[u8]) -> Result<u32, ReturnCode> {
        // SAFETY: `key` is a live slice of our memory; the host only reads it.
        produced_id(unsafe { sys::history_open(ptr(key), len(key)) })
    }

    fn history_next(&self, iterator: u32) -> Result<Option<Vec<u8>>, ReturnCode> {
        // SAFETY: a plain import call; no memory is passed.
        produced(unsafe { sys::history_next(iterator) }, ReturnCode::IterationDone)
    }

    fn emit_event(&self, name: &[u8], payload: &[u8]) -> Result<(), ReturnCode> {
        // SAFETY: both slices are live in our memory; the host only reads them.
        code(unsafe { sys::emit_event(ptr(name), len(name), ptr(payload), len(payload)) })
    }

    fn set_response(&self, status: i32, message: &[u8], payload: &[u8]) -> Result<(), ReturnCode> {
        // SAFETY: both slices are live in our memory; the host only reads them.
        code(unsafe {
            sys::set_response(status, ptr(message), len(message), ptr(payload), len(payload))
        })
    }

    fn log(&self, level: LogLevel, line: &[u8]) {
        // SAFETY: `line` is a live slice of our memory; the host only reads it. Logging cannot
        // fail in a way the contract could act on, so the code is ignored.
        let _ = unsafe { sys::log(level as i32, ptr(line), len(line)) };
    }
}

/// Reports a panic to the host, which ends the invocation with this message.
pub(crate) fn abort(message: &str) -> ! {
    // SAFETY: `message` is a live slice of our memory; the host reads it and traps.
    unsafe { sys::abort(ptr(message.as_bytes()), len(message.as_bytes())) };
    // The host never returns from `abort`; if it did, trapping is the only safe answer.
    core::arch::wasm32::unreachable()
}
