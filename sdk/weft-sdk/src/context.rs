//! [`Context`]: everything a contract can see and do during one call.

use std::collections::BTreeMap;

use weft_abi::{HistoryEntryHeader, LogLevel, Timestamp, TxField, codec, status};

use crate::backend::{Active, Backend};
use crate::composite;
use crate::identity::{Creator, Role};
use crate::{ContractError, Error, Response, Result};

/// The transaction context of one call: its input, its identity fields, state access and
/// events. The same API runs on a peer (through the host's imports) and in `cargo test`
/// (through [`crate::testing::MockStub`]), with the same read/write-set recording.
///
/// Every method takes `&self`, so a contract can write while it iterates a range.
/// There is no clock, no randomness and no I/O here, on purpose: a transaction must produce
/// the same result on every peer. The time of a transaction is [`Context::timestamp`], taken
/// from the signed proposal.
pub struct Context {
    backend: Active,
    function: String,
    args: Vec<Vec<u8>>,
}

/// One entry of a range scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: Vec<u8>,
    /// Its committed value.
    pub value: Vec<u8>,
}

/// One committed modification of a key (Fabric's `KeyModification`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyModification {
    /// The transaction that wrote it.
    pub tx_id: String,
    /// Block of the write.
    pub block_num: u64,
    /// Index of the writing transaction in its block.
    pub tx_num: u64,
    /// The writing transaction's timestamp.
    pub timestamp: Timestamp,
    /// Whether the write was a delete.
    pub is_delete: bool,
    /// The value written (empty for a delete).
    pub value: Vec<u8>,
}

fn utf8(bytes: Vec<u8>, what: &str) -> String {
    String::from_utf8(bytes).unwrap_or_else(|_| panic!("the host sent a {what} that is not UTF-8"))
}

fn list(bytes: &[u8], what: &str) -> Vec<Vec<u8>> {
    codec::decode_list(bytes)
        .unwrap_or_else(|_| panic!("the host sent a malformed {what}"))
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect()
}

impl Context {
    pub(crate) fn new(backend: Active) -> Context {
        let function = utf8(backend.tx_field(TxField::Function), "function name");
        let args = list(&backend.tx_field(TxField::Args), "argument list");
        Context { backend, function, args }
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn into_backend(self) -> Active {
        self.backend
    }

    /// The name of the transaction function being called.
    pub fn function(&self) -> &str {
        &self.function
    }

    /// The arguments after the function name.
    pub fn args(&self) -> &[Vec<u8>] {
        &self.args
    }

    /// The arguments as UTF-8 strings.
    pub fn string_args(&self) -> std::result::Result<Vec<&str>, crate::ContractError> {
        self.args
            .iter()
            .enumerate()
            .map(|(i, arg)| {
                std::str::from_utf8(arg)
                    .map_err(|_| crate::ContractError::new(format!("argument {i} is not UTF-8")))
            })
            .collect()
    }

    /// The transaction id.
    pub fn tx_id(&self) -> String {
        utf8(self.backend.tx_field(TxField::TxId), "transaction id")
    }

    /// The channel the transaction is on.
    pub fn channel(&self) -> String {
        utf8(self.backend.tx_field(TxField::Channel), "channel name")
    }

    /// The name of this contract (its state namespace).
    pub fn contract_name(&self) -> String {
        utf8(self.backend.tx_field(TxField::Contract), "contract name")
    }

    /// Who submitted the transaction: organization, role, name (the stable [`Creator::id`])
    /// and attributes, as the channel configuration lists the signing key.
    pub fn creator(&self) -> Creator {
        let mut items = list(&self.backend.tx_field(TxField::Creator), "creator").into_iter();
        let (Some(msp_id), Some(public_key), None) = (items.next(), items.next(), items.next())
        else {
            panic!("the host sent a malformed creator")
        };
        let mut items =
            list(&self.backend.tx_field(TxField::CreatorIdentity), "creator identity").into_iter();
        let (Some(role), Some(name)) = (items.next(), items.next()) else {
            panic!("the host sent a malformed creator identity")
        };
        let role = Role::from_name(&utf8(role, "role"))
            .unwrap_or_else(|| panic!("the host sent an unknown role"));
        let mut attributes = BTreeMap::new();
        while let Some(key) = items.next() {
            let value = items.next().expect("attributes come in name/value pairs");
            attributes.insert(utf8(key, "attribute name"), utf8(value, "attribute value"));
        }
        Creator {
            msp_id: utf8(msp_id, "MSP id"),
            public_key,
            role,
            name: utf8(name, "identity name"),
            attributes,
        }
    }

    /// The transaction's timestamp, from the signed proposal: the same on every peer. (There
    /// is no clock: a peer's clock would make endorsements differ.)
    pub fn timestamp(&self) -> Timestamp {
        Timestamp::from_bytes(&self.backend.tx_field(TxField::Timestamp))
            .expect("the host sends a 16-byte timestamp")
    }

    /// Transient data: passed to the endorsing peers but never written to the ledger.
    pub fn transient(&self) -> BTreeMap<String, Vec<u8>> {
        let items = list(&self.backend.tx_field(TxField::Transient), "transient map");
        let mut map = BTreeMap::new();
        let mut items = items.into_iter();
        while let Some(key) = items.next() {
            let value = items.next().expect("transient data comes in key/value pairs");
            map.insert(utf8(key, "transient key"), value);
        }
        map
    }

    /// The committed value of `key`. Never a value this transaction wrote: there is no
    /// read-your-own-writes. The read is recorded with the version seen (or as absent).
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        Ok(self.backend.get(key.as_ref())?)
    }

    /// Writes `key`. An empty value deletes the key. The last write to a key wins.
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        Ok(self.backend.put(key.as_ref(), value.as_ref())?)
    }

    /// Deletes `key`.
    pub fn del(&self, key: impl AsRef<[u8]>) -> Result<()> {
        Ok(self.backend.del(key.as_ref())?)
    }

    /// The committed value of `key` parsed as JSON into `T` ([`Context::get`]'s rules); an
    /// error names the key when the value is not `T`'s JSON.
    pub fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        key: impl AsRef<[u8]>,
    ) -> std::result::Result<Option<T>, ContractError> {
        let key = key.as_ref();
        let Some(bytes) = self.get(key)? else { return Ok(None) };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            ContractError::new(format!(
                "state key {} does not hold the JSON of a {}: {e}",
                String::from_utf8_lossy(key).escape_debug(),
                std::any::type_name::<T>()
            ))
        })
    }

    /// Writes `value` as JSON under `key`.
    pub fn put_json<T: serde::Serialize + ?Sized>(
        &self,
        key: impl AsRef<[u8]>,
        value: &T,
    ) -> std::result::Result<(), ContractError> {
        Ok(self.put(key, serde_json::to_vec(value)?)?)
    }

    /// The committed value of `key` as a number written in decimal text (what
    /// [`Context::put_number`] writes; `None` if absent); an error names the key when it is
    /// not one.
    pub fn get_number<T: std::str::FromStr>(
        &self,
        key: impl AsRef<[u8]>,
    ) -> std::result::Result<Option<T>, ContractError> {
        let key = key.as_ref();
        let Some(bytes) = self.get(key)? else { return Ok(None) };
        std::str::from_utf8(&bytes).ok().and_then(|text| text.parse().ok()).map(Some).ok_or_else(
            || {
                ContractError::new(format!(
                    "state key {} does not hold a {} in decimal text",
                    String::from_utf8_lossy(key).escape_debug(),
                    std::any::type_name::<T>()
                ))
            },
        )
    }

    /// Writes `value` under `key` as decimal text (readable by clients and by
    /// [`Context::get_number`]).
    pub fn put_number<T: std::fmt::Display>(
        &self,
        key: impl AsRef<[u8]>,
        value: T,
    ) -> std::result::Result<(), ContractError> {
        Ok(self.put(key, value.to_string())?)
    }

    /// Committed entries with `start <= key < end` in byte order, streamed: stop early by
    /// dropping the iterator. An empty `end` is unbounded; an empty `start` begins after all
    /// composite keys, which plain ranges never return. A bound beginning with `0x00` is
    /// refused (that prefix is reserved for composite keys).
    ///
    /// The scan is recorded for validation: if it ran to the end, the requested range; if the
    /// contract stopped early, up to and including the last key it was given.
    pub fn range(&self, start: impl AsRef<[u8]>, end: impl AsRef<[u8]>) -> Result<RangeIter<'_>> {
        let (start, end) = composite::simple_range_bounds(start.as_ref(), end.as_ref())?;
        self.open_range(start, end)
    }

    /// Committed entries whose composite key begins with `object_type` and `attributes`
    /// (Fabric's `GetStateByPartialCompositeKey`): the range `[prefix, prefix + U+10FFFF)`.
    pub fn composite_range(&self, object_type: &str, attributes: &[&str]) -> Result<RangeIter<'_>> {
        let (start, end) = composite::partial_key_range(object_type, attributes)?;
        self.open_range(&start, &end)
    }

    fn open_range(&self, start: &[u8], end: &[u8]) -> Result<RangeIter<'_>> {
        let id = self.backend.range_open(start, end)?;
        Ok(RangeIter { ctx: self, id, open: true })
    }

    /// The committed history of `key`, oldest first. History is read-only and not part of the
    /// read/write set (it is not re-checked at commit), so use it in queries.
    pub fn history(&self, key: impl AsRef<[u8]>) -> Result<HistoryIter<'_>> {
        let id = self.backend.history_open(key.as_ref())?;
        Ok(HistoryIter { ctx: self, id, done: false })
    }

    /// Emits an event, delivered when the transaction commits. Several events per transaction
    /// are allowed (up to [`weft_abi::limits::MAX_EVENTS`]); names must not be empty.
    pub fn set_event(&self, name: &str, payload: impl AsRef<[u8]>) -> Result<()> {
        Ok(self.backend.emit_event(name.as_bytes(), payload.as_ref())?)
    }

    /// Writes a line to the node's log (not part of any result).
    pub fn log(&self, level: LogLevel, line: &str) {
        self.backend.log(level, line.as_bytes());
    }

    /// Hands the contract's response to the host. A response over the limits becomes an error
    /// response saying so.
    pub(crate) fn respond(&self, response: &Response) {
        let result = self.backend.set_response(
            response.status,
            response.message.as_bytes(),
            &response.payload,
        );
        if let Err(code) = result {
            let message = code.description().as_bytes();
            self.backend
                .set_response(status::ERROR, message, &[])
                .expect("an error response within the limits is accepted once");
        }
    }
}

/// A range scan in progress (see [`Context::range`]). Dropping it before the end stops the
/// scan; the read/write set then records the range up to the last key returned.
pub struct RangeIter<'c> {
    ctx: &'c Context,
    id: u32,
    open: bool,
}

impl RangeIter<'_> {
    fn close(&mut self) {
        if std::mem::replace(&mut self.open, false) {
            // Closing an iterator this type opened cannot fail.
            let _ = self.ctx.backend.range_close(self.id);
        }
    }
}

impl Iterator for RangeIter<'_> {
    type Item = Result<KeyValue>;

    fn next(&mut self) -> Option<Result<KeyValue>> {
        if !self.open {
            return None;
        }
        match self.ctx.backend.range_next(self.id) {
            Ok(Some(raw)) => {
                let (key, value) =
                    codec::decode_kv(&raw).expect("the host sends well-formed pairs");
                Some(Ok(KeyValue { key: key.to_vec(), value: value.to_vec() }))
            }
            Ok(None) => {
                self.close();
                None
            }
            Err(code) => {
                self.close();
                Some(Err(Error::Host(code)))
            }
        }
    }
}

impl Drop for RangeIter<'_> {
    fn drop(&mut self) {
        self.close();
    }
}

/// A key's history in progress (see [`Context::history`]).
pub struct HistoryIter<'c> {
    ctx: &'c Context,
    id: u32,
    done: bool,
}

impl Iterator for HistoryIter<'_> {
    type Item = Result<KeyModification>;

    fn next(&mut self) -> Option<Result<KeyModification>> {
        if self.done {
            return None;
        }
        match self.ctx.backend.history_next(self.id) {
            Ok(Some(raw)) => Some(Ok(decode_history_entry(&raw))),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(code) => {
                self.done = true;
                Some(Err(Error::Host(code)))
            }
        }
    }
}

fn decode_history_entry(raw: &[u8]) -> KeyModification {
    let header = HistoryEntryHeader::from_bytes(raw).expect("the host sends a history header");
    let rest = &raw[HistoryEntryHeader::SIZE..];
    let (tx_id, value) = rest.split_at(header.tx_id_len as usize);
    KeyModification {
        tx_id: utf8(tx_id.to_vec(), "transaction id"),
        block_num: header.block_num,
        tx_num: header.tx_num,
        timestamp: header.timestamp,
        is_delete: header.is_delete != 0,
        value: value.to_vec(),
    }
}
