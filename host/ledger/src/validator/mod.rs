//! The validator: Fabric's rules for deciding which transactions of a block are valid.
//!
//! 1. Stateless checks for every transaction, in parallel ([`check_envelopes`]): decoding,
//!    transaction id, creator signature, contract, read/write set, endorsement policy.
//! 2. Duplicate transaction ids: an id already in the ledger is DUPLICATE_TXID; inside the
//!    block, among transactions that passed step 1, the first occurrence stands.
//! 3. In block order, MVCC and phantom checks ([`MvccValidator`]); a valid transaction's
//!    writes join the block's pending updates at once.
//!
//! A storage failure while validating is an [`Error`](crate::Error), never a code: the block
//! is not processed further, so peers cannot diverge.

mod parallel;
mod stateless;

use std::collections::{HashMap, HashSet};

pub use stateless::{CheckedTx, Prechecked, check_envelopes};
pub use weft_rwset::mvcc::{
    AppliedWrite, BlockUpdates, CommittedState, MvccOutcome, MvccValidator, PendingWrite,
};

use weft_proto::v1::{Conflict, Timestamp, TxValidationCode};
use weft_protocol::VerifiedSignatures;
use weft_protocol::channel::Channel;
use weft_rwset::{StateError, StateIter, VersionedValue};

use crate::error::Result;

/// Answers whether a transaction id is already committed.
pub trait TxIdIndex: Sync {
    /// Whether `tx_id` is in the ledger (valid or not).
    fn contains_tx_id(&self, tx_id: &str) -> Result<bool>;
}

impl TxIdIndex for HashSet<String> {
    fn contains_tx_id(&self, tx_id: &str) -> Result<bool> {
        Ok(self.contains(tx_id))
    }
}

type Prefetched = ((String, Vec<u8>), Option<VersionedValue>);

/// Committed state with the values of a block's plain reads fetched ahead, in parallel.
struct PrefetchedState<'s, S: ?Sized> {
    inner: &'s S,
    values: HashMap<(String, Vec<u8>), Option<VersionedValue>>,
}

impl<S: CommittedState + ?Sized> CommittedState for PrefetchedState<'_, S> {
    fn get(&self, namespace: &str, key: &[u8]) -> Result<Option<VersionedValue>, StateError> {
        match self.values.get(&(namespace.to_string(), key.to_vec())) {
            Some(value) => Ok(value.clone()),
            None => self.inner.get(namespace, key),
        }
    }

    fn range(
        &self,
        namespace: &str,
        start: &[u8],
        end: &[u8],
    ) -> Result<StateIter<'_>, StateError> {
        self.inner.range(namespace, start, end)
    }
}

/// The outcome of validating one block.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BlockValidation {
    /// One code per transaction, in block order.
    pub codes: Vec<TxValidationCode>,
    /// The conflict behind each MVCC_READ_CONFLICT / PHANTOM_READ_CONFLICT, by tx index.
    pub conflicts: Vec<Conflict>,
    /// State updates of the valid transactions.
    pub updates: BlockUpdates,
    /// Per transaction: the id and timestamp to index it under, if it is authentic and this
    /// is the occurrence the ledger records (see [`validate_block`]).
    pub indexed: Vec<Option<(String, Timestamp)>>,
    /// Per transaction: the id its proposal claims (empty if it does not decode), what
    /// commit-status waiters are told about; only [`Self::indexed`] ids are recorded.
    pub tx_ids: Vec<String>,
    /// Time spent in the stateless checks.
    pub stateless_time: std::time::Duration,
}

/// Validates the envelopes of block `block_num` against committed `state` and the
/// committed transaction ids.
///
/// Index entries: an authentic transaction id (derived correctly, creator signature valid)
/// not yet in the ledger is indexed once, at its valid occurrence if there is one, else at
/// its first occurrence. Ids of transactions with a bad payload, bad creator signature or bad
/// id are not indexed, so nobody can block another client's id by submitting garbage.
pub fn validate_block<S, T>(
    channel: &Channel,
    verified: &VerifiedSignatures,
    block_num: u64,
    envelopes: &[Vec<u8>],
    state: &S,
    tx_ids: &T,
) -> Result<BlockValidation>
where
    S: CommittedState + ?Sized,
    T: TxIdIndex + ?Sized,
{
    let started = std::time::Instant::now();
    let prechecked = check_envelopes(channel, envelopes, verified);
    let stateless_time = started.elapsed();
    let mut validation = validate_prechecked(block_num, &prechecked, state, tx_ids)?;
    validation.stateless_time = stateless_time;
    Ok(validation)
}

/// The stateful part of [`validate_block`], for envelopes already through
/// [`check_envelopes`] (which needs no state, so it can run ahead, on another thread).
pub fn validate_prechecked<S, T>(
    block_num: u64,
    prechecked: &[Prechecked],
    state: &S,
    tx_ids: &T,
) -> Result<BlockValidation>
where
    S: CommittedState + ?Sized,
    T: TxIdIndex + ?Sized,
{
    // In parallel: is each authentic id already in the ledger, and what are the committed
    // versions of the keys read (the serial pass below then only touches memory).
    let lookups = parallel::map_chunks(prechecked, 64, |chunk| {
        chunk
            .iter()
            .map(|p| -> Result<(bool, Vec<Prefetched>)> {
                let in_ledger = match &p.authentic_tx_id {
                    Some((id, _)) => tx_ids.contains_tx_id(id)?,
                    None => false,
                };
                let mut fetched = Vec::new();
                if let (false, Ok(tx)) = (in_ledger, &p.result) {
                    for ns in &tx.rwset.ns_rwset {
                        for read in &ns.reads {
                            let value = state.get(&ns.namespace, &read.key)?;
                            fetched.push(((ns.namespace.clone(), read.key.clone()), value));
                        }
                    }
                }
                Ok((in_ledger, fetched))
            })
            .collect()
    });
    let mut cache = PrefetchedState { inner: state, values: HashMap::new() };
    let mut in_ledger = Vec::with_capacity(prechecked.len());
    for lookup in lookups {
        let (already, fetched) = lookup?;
        in_ledger.push(already);
        cache.values.extend(fetched);
    }

    let mut codes = Vec::with_capacity(prechecked.len());
    let mut candidates = Vec::with_capacity(prechecked.len());
    let mut seen_valid = HashSet::new();
    for (p, &already) in prechecked.iter().zip(&in_ledger) {
        let code = match &p.result {
            _ if already => Some(TxValidationCode::DuplicateTxid),
            Err(code) => Some(*code),
            Ok(tx) if !seen_valid.insert(tx.tx_id.as_str()) => {
                Some(TxValidationCode::DuplicateTxid)
            }
            Ok(_) => None,
        };
        codes.push(code);
        candidates.push(code.is_none());
    }

    let mut mvcc = MvccValidator::new(block_num, &cache);
    let mut conflicts = Vec::new();
    for (index, p) in prechecked.iter().enumerate() {
        let (true, Ok(tx)) = (candidates[index], &p.result) else { continue };
        let tx_index = u32::try_from(index).expect("fewer than 2^32 transactions in a block");
        codes[index] = Some(match mvcc.validate(tx_index, &tx.rwset)? {
            MvccOutcome::Valid => TxValidationCode::Valid,
            MvccOutcome::Conflict(code, conflict) => {
                conflicts.push(conflict);
                code
            }
        });
    }
    let codes: Vec<TxValidationCode> =
        codes.into_iter().map(|c| c.expect("every transaction has a code")).collect();

    // Which occurrence of each new authentic id the ledger indexes.
    let mut chosen: HashMap<&str, usize> = HashMap::new();
    for (index, p) in prechecked.iter().enumerate() {
        let Some((id, _)) = &p.authentic_tx_id else { continue };
        if in_ledger[index] {
            continue;
        }
        chosen
            .entry(id.as_str())
            .and_modify(|first| {
                if codes[*first] != TxValidationCode::Valid
                    && codes[index] == TxValidationCode::Valid
                {
                    *first = index;
                }
            })
            .or_insert(index);
    }
    let mut indexed = vec![None; prechecked.len()];
    for index in chosen.into_values() {
        indexed[index] = prechecked[index].authentic_tx_id.clone();
    }
    let tx_ids = prechecked.iter().map(|p| p.claimed_tx_id.clone()).collect();
    Ok(BlockValidation {
        codes,
        conflicts,
        updates: mvcc.into_updates(),
        indexed,
        tx_ids,
        stateless_time: std::time::Duration::ZERO,
    })
}
