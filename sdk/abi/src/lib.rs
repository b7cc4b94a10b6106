//! # weft-abi: the one definition of the contract/host boundary
//!
//! Everything that crosses between a Weft contract (the Wasm guest) and the Weft host is
//! defined here and nowhere else: the import module name (which carries the ABI version), the
//! export names, the host functions and their exact Wasm signatures, the return codes (fixed
//! numbers, never reused), the limits, and the byte layouts written into linear memory.
//! The SDK (`weft-sdk`) and the host runtime (`weft-runtime`) both depend on this crate.
//!
//! A tour:
//!
//! ```
//! use weft_abi::{IMPORT_MODULE, ReturnCode, HOST_FUNCTIONS, codec};
//!
//! // Contracts import host functions from one versioned module.
//! assert_eq!(IMPORT_MODULE, "weft_v1");
//! // Each host function is listed once, with its exact Wasm signature.
//! let get = HOST_FUNCTIONS.iter().find(|f| f.name == "state_get").unwrap();
//! assert_eq!(get.results.len(), 1);
//! // Return codes have fixed numbers.
//! assert_eq!(ReturnCode::from_i32(1), Some(ReturnCode::NotFound));
//! // Lists (arguments, transient data) use one length-prefixed layout.
//! let bytes = codec::encode_list(&[b"a".as_slice(), b"bc".as_slice()]);
//! assert_eq!(codec::decode_list(&bytes).unwrap(), vec![b"a".as_slice(), b"bc".as_slice()]);
//! ```
//!
//! ## Calling convention
//!
//! * All pointers and lengths are `i32` values read as unsigned 32-bit offsets into the
//!   contract's exported `memory`. The host checks every `(ptr, len)` against the memory size
//!   before it reads or allocates anything; an out-of-bounds pair aborts the invocation.
//! * Host functions that produce variable-length data return an `i64`: a non-negative value is
//!   the length of the data the host now holds in the invocation's *result buffer*; a negative
//!   value is `-(ReturnCode)`. The contract then allocates that many bytes and calls
//!   [`import::TAKE_RESULT`] to copy the buffer into its memory. Each producing call replaces
//!   the buffer. This keeps the host from ever calling back into the guest allocator.
//! * Host functions that produce nothing return an `i32` [`ReturnCode`].
//! * Conditions that a well-behaved contract never causes (bad pointers, unknown field ids,
//!   taking a result that is not there) abort the invocation with a stable message: they are
//!   contract failures, identical on every node.
//!
//! See `docs/abi.md` for the prose version of this contract.
#![no_std]

extern crate alloc;

pub mod codec;
mod layout;
mod role;
#[cfg(target_arch = "wasm32")]
pub mod sys;

pub use layout::{HistoryEntryHeader, Timestamp};
pub use role::Role;

/// The version of this ABI. It is part of [`IMPORT_MODULE`], so a module built against another
/// version fails deploy-time validation with a message naming the version it wants.
pub const ABI_VERSION: u32 = 1;

/// The module every host function is imported from.
pub const IMPORT_MODULE: &str = "weft_v1";

/// Prefix of [`IMPORT_MODULE`]; a module importing `weft_vN` for another `N` is told which
/// versions this host supports.
pub const IMPORT_MODULE_PREFIX: &str = "weft_v";

/// Names a contract module must (or may) export.
pub mod export {
    /// The contract's linear memory. Exactly one memory, exported under this name.
    pub const MEMORY: &str = "memory";
    /// `() -> i32`: run the contract's init function against the invocation's input.
    pub const INIT: &str = "weft_init";
    /// `() -> i32`: run one transaction function against the invocation's input.
    pub const INVOKE: &str = "weft_invoke";
    /// Every export a contract may have. Anything else (except [`TOLERATED_GLOBALS`]) is
    /// rejected at deploy time.
    pub const ALLOWED: &[&str] = &[MEMORY, INIT, INVOKE];
    /// Global exports that rustc (1.95, before rust-lang/rust#156174) adds to every
    /// `wasm32-unknown-unknown` cdylib whatever the source says: immutable `i32` globals with
    /// no behaviour. Deploy-time validation accepts them as globals only; the host never reads
    /// them.
    pub const TOLERATED_GLOBALS: &[&str] = &["__heap_base", "__data_end"];
    /// The value `weft_init` and `weft_invoke` return when they ran to completion. Any other
    /// value is a contract failure.
    pub const COMPLETED: i32 = 0;
}

/// A Wasm value type as it appears in a host function signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValType {
    /// `i32`
    I32,
    /// `i64`
    I64,
}

/// One host function: its import name and exact Wasm signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostFunction {
    /// Name inside [`IMPORT_MODULE`].
    pub name: &'static str,
    /// Parameter types, in order.
    pub params: &'static [ValType],
    /// Result types (zero or one).
    pub results: &'static [ValType],
}

/// Import names of the host functions, for use by the host's function table and the SDK.
pub mod import {
    /// `(ptr, len) -> i32`: copy the result buffer (exactly `len` bytes) to `ptr` and clear it.
    pub const TAKE_RESULT: &str = "take_result";
    /// `(field: TxField) -> i64`: put one field of the transaction context in the result buffer.
    pub const TX_FIELD: &str = "tx_field";
    /// `(key_ptr, key_len) -> i64`: committed value of a key; `-NotFound` when absent.
    pub const STATE_GET: &str = "state_get";
    /// `(key_ptr, key_len, value_ptr, value_len) -> i32`: write a key (an empty value deletes).
    pub const STATE_PUT: &str = "state_put";
    /// `(key_ptr, key_len) -> i32`: delete a key.
    pub const STATE_DEL: &str = "state_del";
    /// `(start_ptr, start_len, end_ptr, end_len) -> i64`: open a range iterator over
    /// `[start, end)` (empty end: unbounded); returns the iterator id.
    pub const RANGE_OPEN: &str = "range_open";
    /// `(iterator) -> i64`: next `(key, value)` pair as [`crate::codec::encode_kv`];
    /// `-IterationDone` at the end.
    pub const RANGE_NEXT: &str = "range_next";
    /// `(iterator) -> i32`: close an iterator (records the range as read so far).
    pub const RANGE_CLOSE: &str = "range_close";
    /// `(key_ptr, key_len) -> i64`: open an iterator over a key's history; returns its id.
    pub const HISTORY_OPEN: &str = "history_open";
    /// `(iterator) -> i64`: next history entry ([`crate::HistoryEntryHeader`] then tx id then
    /// value); `-IterationDone` at the end.
    pub const HISTORY_NEXT: &str = "history_next";
    /// `(name_ptr, name_len, payload_ptr, payload_len) -> i32`: emit an event.
    pub const EMIT_EVENT: &str = "emit_event";
    /// `(status, msg_ptr, msg_len, payload_ptr, payload_len) -> i32`: set the response.
    pub const SET_RESPONSE: &str = "set_response";
    /// `(level: LogLevel, ptr, len) -> i32`: write a line to the node's log.
    pub const LOG: &str = "log";
    /// `(msg_ptr, msg_len) -> ()`: abort the invocation with a message (the SDK's panic hook).
    pub const ABORT: &str = "abort";
}

use ValType::{I32, I64};

/// The complete table of host functions. The host registers exactly these, and deploy-time
/// validation accepts imports only from this table with exactly these signatures.
pub const HOST_FUNCTIONS: &[HostFunction] = &[
    HostFunction { name: import::TAKE_RESULT, params: &[I32, I32], results: &[I32] },
    HostFunction { name: import::TX_FIELD, params: &[I32], results: &[I64] },
    HostFunction { name: import::STATE_GET, params: &[I32, I32], results: &[I64] },
    HostFunction { name: import::STATE_PUT, params: &[I32, I32, I32, I32], results: &[I32] },
    HostFunction { name: import::STATE_DEL, params: &[I32, I32], results: &[I32] },
    HostFunction { name: import::RANGE_OPEN, params: &[I32, I32, I32, I32], results: &[I64] },
    HostFunction { name: import::RANGE_NEXT, params: &[I32], results: &[I64] },
    HostFunction { name: import::RANGE_CLOSE, params: &[I32], results: &[I32] },
    HostFunction { name: import::HISTORY_OPEN, params: &[I32, I32], results: &[I64] },
    HostFunction { name: import::HISTORY_NEXT, params: &[I32], results: &[I64] },
    HostFunction { name: import::EMIT_EVENT, params: &[I32, I32, I32, I32], results: &[I32] },
    HostFunction {
        name: import::SET_RESPONSE,
        params: &[I32, I32, I32, I32, I32],
        results: &[I32],
    },
    HostFunction { name: import::LOG, params: &[I32, I32, I32], results: &[I32] },
    HostFunction { name: import::ABORT, params: &[I32, I32], results: &[] },
];

/// Looks up a host function by import name.
pub fn host_function(name: &str) -> Option<&'static HostFunction> {
    HOST_FUNCTIONS.iter().find(|f| f.name == name)
}

/// Return codes of host functions. The numbers are fixed forever: a retired code keeps its
/// number reserved and is never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum ReturnCode {
    /// Success.
    Ok = 0,
    /// The key is absent from committed state.
    NotFound = 1,
    /// The iterator has no more entries.
    IterationDone = 2,
    /// A key was empty.
    EmptyKey = 3,
    /// A key was longer than [`limits::MAX_KEY_LEN`].
    KeyTooLong = 4,
    /// A value was longer than [`limits::MAX_VALUE_LEN`].
    ValueTooLong = 5,
    /// `state_put` or `state_del` during a read-only query. The invocation fails whatever the
    /// contract does next.
    ReadOnly = 6,
    /// More than [`limits::MAX_OPEN_ITERATORS`] iterators open at once.
    TooManyIterators = 7,
    /// The iterator id is not open in this invocation.
    UnknownIterator = 8,
    /// More than [`limits::MAX_EVENTS`] events in one transaction.
    TooManyEvents = 9,
    /// An event name or payload over its limit, or an empty event name.
    EventTooLarge = 10,
    /// More than [`limits::MAX_WRITES`] distinct keys written in one transaction.
    TooManyWrites = 11,
    /// `set_response` called a second time.
    ResponseAlreadySet = 12,
    /// A response message or payload over its limit.
    ResponseTooLarge = 13,
    /// History is not available: the call is not a query (history is not re-validated at
    /// commit, so transactions cannot depend on it), or this node keeps no history.
    HistoryUnavailable = 14,
}

impl ReturnCode {
    /// Every code, for tables and tests.
    pub const ALL: &'static [ReturnCode] = &[
        ReturnCode::Ok,
        ReturnCode::NotFound,
        ReturnCode::IterationDone,
        ReturnCode::EmptyKey,
        ReturnCode::KeyTooLong,
        ReturnCode::ValueTooLong,
        ReturnCode::ReadOnly,
        ReturnCode::TooManyIterators,
        ReturnCode::UnknownIterator,
        ReturnCode::TooManyEvents,
        ReturnCode::EventTooLarge,
        ReturnCode::TooManyWrites,
        ReturnCode::ResponseAlreadySet,
        ReturnCode::ResponseTooLarge,
        ReturnCode::HistoryUnavailable,
    ];

    /// The code with this number, if there is one.
    pub fn from_i32(n: i32) -> Option<ReturnCode> {
        ReturnCode::ALL.iter().copied().find(|c| *c as i32 == n)
    }

    /// The code as a negative `i64`, as returned by producing host functions.
    pub fn as_neg_i64(self) -> i64 {
        -(self as i32 as i64)
    }

    /// A short, stable description (it may reach clients in error responses).
    pub fn description(self) -> &'static str {
        match self {
            ReturnCode::Ok => "ok",
            ReturnCode::NotFound => "key not found",
            ReturnCode::IterationDone => "iteration done",
            ReturnCode::EmptyKey => "key is empty",
            ReturnCode::KeyTooLong => "key is longer than the limit",
            ReturnCode::ValueTooLong => "value is longer than the limit",
            ReturnCode::ReadOnly => "state cannot be written during a query",
            ReturnCode::TooManyIterators => "too many open iterators",
            ReturnCode::UnknownIterator => "unknown iterator",
            ReturnCode::TooManyEvents => "too many events in one transaction",
            ReturnCode::EventTooLarge => "event name or payload is empty or over the limit",
            ReturnCode::TooManyWrites => "too many keys written in one transaction",
            ReturnCode::ResponseAlreadySet => "response already set",
            ReturnCode::ResponseTooLarge => "response message or payload over the limit",
            ReturnCode::HistoryUnavailable => "key history is not available",
        }
    }
}

/// Field ids for [`import::TX_FIELD`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum TxField {
    /// UTF-8 name of the transaction function being called.
    Function = 0,
    /// The arguments after the function name, as a [`codec::encode_list`] list.
    Args = 1,
    /// UTF-8 transaction id.
    TxId = 2,
    /// UTF-8 channel name.
    Channel = 3,
    /// The creator: a list of two items, the UTF-8 organization (MSP) id and the public key.
    Creator = 4,
    /// The proposal's timestamp, as a [`Timestamp`] (never the node's clock).
    Timestamp = 5,
    /// Transient data: a list of alternating keys and values (keys sorted, unique).
    Transient = 6,
    /// UTF-8 name of the contract (its state namespace).
    Contract = 7,
    /// What the channel configuration says about the creator: a list of the [`Role`] name
    /// (`client`, `peer`, `admin` or `orderer`), the identity's name in its organization,
    /// then alternating attribute names and values (names sorted, unique). The creator's
    /// stable id is `msp_id::name`. (A field of its own rather than more items in
    /// [`TxField::Creator`], whose two-item layout contracts already decode.)
    CreatorIdentity = 8,
}

impl TxField {
    /// Every field.
    pub const ALL: &'static [TxField] = &[
        TxField::Function,
        TxField::Args,
        TxField::TxId,
        TxField::Channel,
        TxField::Creator,
        TxField::Timestamp,
        TxField::Transient,
        TxField::Contract,
        TxField::CreatorIdentity,
    ];

    /// The field with this id, if there is one.
    pub fn from_i32(n: i32) -> Option<TxField> {
        TxField::ALL.iter().copied().find(|f| *f as i32 == n)
    }
}

/// Levels for [`import::LOG`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum LogLevel {
    /// Errors.
    Error = 1,
    /// Warnings.
    Warn = 2,
    /// Information.
    Info = 3,
    /// Debugging detail.
    Debug = 4,
}

impl LogLevel {
    /// The level with this number; unknown numbers read as `Info`.
    pub fn from_i32(n: i32) -> LogLevel {
        match n {
            1 => LogLevel::Error,
            2 => LogLevel::Warn,
            4 => LogLevel::Debug,
            _ => LogLevel::Info,
        }
    }
}

/// Response status conventions (Fabric's): below [`status::ERROR_THRESHOLD`] is success.
pub mod status {
    /// Success.
    pub const OK: i32 = 200;
    /// Statuses at or above this are errors: the transaction is not endorsed.
    pub const ERROR_THRESHOLD: i32 = 400;
    /// The status the SDK uses for a contract error.
    pub const ERROR: i32 = 500;
}

/// Limits enforced by the host (and by the SDK's native test context, identically).
pub mod limits {
    /// Longest key, in bytes.
    pub const MAX_KEY_LEN: u32 = 4 * 1024;
    /// Longest value, in bytes.
    pub const MAX_VALUE_LEN: u32 = 1024 * 1024;
    /// Most distinct keys written by one transaction.
    pub const MAX_WRITES: u32 = 10_000;
    /// Most iterators (range and history) open at once in one invocation.
    pub const MAX_OPEN_ITERATORS: u32 = 64;
    /// Most arguments to one call (after the function name).
    pub const MAX_ARGS: u32 = 256;
    /// Largest total size of function name, arguments and transient data, in bytes.
    pub const MAX_INPUT_LEN: u32 = 4 * 1024 * 1024;
    /// Most events one transaction may emit.
    pub const MAX_EVENTS: u32 = 16;
    /// Longest event name, in bytes.
    pub const MAX_EVENT_NAME_LEN: u32 = 256;
    /// Largest event payload, in bytes.
    pub const MAX_EVENT_PAYLOAD_LEN: u32 = 64 * 1024;
    /// Longest response message, in bytes.
    pub const MAX_RESPONSE_MESSAGE_LEN: u32 = 4 * 1024;
    /// Largest response payload, in bytes.
    pub const MAX_RESPONSE_PAYLOAD_LEN: u32 = 1024 * 1024;
    /// Longest log line kept, in bytes after escaping (longer lines are truncated).
    pub const MAX_LOG_LINE_LEN: u32 = 4 * 1024;
    /// Most log lines kept per invocation (later ones are dropped and counted).
    pub const MAX_LOG_LINES: u32 = 64;
    /// Most bytes of log lines kept per invocation, after escaping: what one invocation can
    /// write to the node's log (a line crossing it is cut; later ones are dropped and counted).
    pub const MAX_LOG_BYTES: u32 = 16 * 1024;
    /// Longest abort (panic) message kept, in bytes (longer ones are truncated).
    pub const MAX_ABORT_MESSAGE_LEN: u32 = 4 * 1024;
    /// Most bytes the host may hold on one invocation's behalf: read set, recorded ranges,
    /// open iterators, writes, events, logs, the response and the result buffer, each counted
    /// as its key and value bytes plus [`HOST_ENTRY_OVERHEAD`] (open iterators: plus
    /// [`HOST_ITERATOR_STATE`]). Past it the invocation fails with "host memory limit
    /// exceeded". Part of the protocol: every peer counts the same bytes the same way.
    pub const MAX_HOST_MEMORY: u32 = 64 * 1024 * 1024;
    /// Bytes counted for each entry the host records, on top of its keys and values.
    pub const HOST_ENTRY_OVERHEAD: u32 = 64;
    /// Bytes counted for each open iterator's state, while it is open.
    pub const HOST_ITERATOR_STATE: u32 = 1024;
}

/// Composite keys, Fabric's layout: `0x00`, object type, `0x00`, then each attribute followed
/// by `0x00`. Attributes are UTF-8 without `0x00` or U+10FFFF.
pub mod composite {
    /// First byte of every composite key.
    pub const NAMESPACE: u8 = 0x00;
    /// Separator after the object type and after each attribute.
    pub const SEPARATOR: u8 = 0x00;
    /// U+10FFFF, appended to a partial composite key to make the exclusive end of its range.
    pub const MAX_UNICODE_RUNE: char = '\u{10FFFF}';
    /// A plain (non-composite) range with an empty start begins here, so composite keys never
    /// appear in plain range results.
    pub const MIN_SIMPLE_KEY: &[u8] = &[0x01];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_codes_are_fixed_and_unique() {
        // These numbers are part of the ABI: changing one breaks every deployed contract.
        let fixed: &[(ReturnCode, i32)] = &[
            (ReturnCode::Ok, 0),
            (ReturnCode::NotFound, 1),
            (ReturnCode::IterationDone, 2),
            (ReturnCode::EmptyKey, 3),
            (ReturnCode::KeyTooLong, 4),
            (ReturnCode::ValueTooLong, 5),
            (ReturnCode::ReadOnly, 6),
            (ReturnCode::TooManyIterators, 7),
            (ReturnCode::UnknownIterator, 8),
            (ReturnCode::TooManyEvents, 9),
            (ReturnCode::EventTooLarge, 10),
            (ReturnCode::TooManyWrites, 11),
            (ReturnCode::ResponseAlreadySet, 12),
            (ReturnCode::ResponseTooLarge, 13),
            (ReturnCode::HistoryUnavailable, 14),
        ];
        assert_eq!(fixed.len(), ReturnCode::ALL.len());
        for (code, n) in fixed {
            assert_eq!(*code as i32, *n);
            assert_eq!(ReturnCode::from_i32(*n), Some(*code));
            assert_eq!(code.as_neg_i64(), -(*n as i64));
        }
        assert_eq!(ReturnCode::from_i32(15), None);
    }

    #[test]
    fn host_function_names_are_unique_and_versioned_module_matches() {
        for (i, f) in HOST_FUNCTIONS.iter().enumerate() {
            assert!(HOST_FUNCTIONS[i + 1..].iter().all(|g| g.name != f.name), "{}", f.name);
            assert!(f.results.len() <= 1);
        }
        assert_eq!(IMPORT_MODULE, alloc::format!("{IMPORT_MODULE_PREFIX}{ABI_VERSION}"));
        assert!(host_function("state_get").is_some());
        assert!(host_function("fd_write").is_none());
    }

    #[test]
    fn tx_fields_round_trip() {
        for f in TxField::ALL {
            assert_eq!(TxField::from_i32(*f as i32), Some(*f));
        }
        assert_eq!(TxField::from_i32(99), None);
    }
}
