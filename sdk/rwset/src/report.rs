//! "Which of these would conflict?" offline: put several simulated transactions into one
//! block over a committed state and report each one's code and, for conflicts, the key and
//! versions. Runs the validator's own [`MvccValidator`]; no signatures involved.

use std::fmt;

use weft_proto::v1::{Conflict, NsReadWriteSet, TxReadWriteSet, TxValidationCode};

use crate::StateError;
use crate::mvcc::{BlockUpdates, CommittedState, MvccOutcome, MvccValidator};

/// The verdict on one transaction of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxVerdict {
    /// VALID, MVCC_READ_CONFLICT or PHANTOM_READ_CONFLICT.
    pub code: TxValidationCode,
    /// What conflicted, for a conflict.
    pub conflict: Option<Conflict>,
}

/// The verdicts on a set of transactions placed in one block, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConflictReport {
    /// One verdict per transaction.
    pub verdicts: Vec<TxVerdict>,
    /// The state updates the valid ones would make.
    pub updates: BlockUpdates,
}

/// Places `txs` in one block numbered `block_num` over `state` and runs the MVCC and phantom
/// checks in order.
///
/// ```
/// use std::collections::BTreeMap;
/// use weft_rwset::report::conflict_report;
/// use weft_proto::v1::TxValidationCode;
/// use weft_rwset::{MemoryState, Mode, TxSimulator, Version};
///
/// let mut kv = MemoryState::default();
/// kv.insert(b"balance", b"10", Version { block_num: 1, tx_num: 0 });
/// let state = BTreeMap::from([("bank".to_string(), kv)]);
/// // Two transfers simulated against the same committed balance.
/// let simulate = || {
///     let mut sim = TxSimulator::new("bank", &state["bank"], Mode::Invoke);
///     sim.get(b"balance").unwrap();
///     sim.put(b"balance", b"5").unwrap();
///     sim.finish().unwrap()
/// };
/// let report = weft_rwset::report::conflict_report_ns(&state, 2, vec![simulate(), simulate()]).unwrap();
/// assert_eq!(report.verdicts[0].code, TxValidationCode::Valid);
/// assert_eq!(report.verdicts[1].code, TxValidationCode::MvccReadConflict);
/// println!("{report}"); // tx 1: MVCC_READ_CONFLICT: bank/"balance" read at 1:0, written by tx 0 of this block
/// ```
pub fn conflict_report<S: CommittedState + ?Sized>(
    state: &S,
    block_num: u64,
    txs: &[TxReadWriteSet],
) -> Result<ConflictReport, StateError> {
    let mut validator = MvccValidator::new(block_num, state);
    let mut verdicts = Vec::with_capacity(txs.len());
    for (index, tx) in txs.iter().enumerate() {
        verdicts.push(match validator.validate(index as u32, tx)? {
            MvccOutcome::Valid => TxVerdict { code: TxValidationCode::Valid, conflict: None },
            MvccOutcome::Conflict(code, conflict) => TxVerdict { code, conflict: Some(conflict) },
        });
    }
    Ok(ConflictReport { verdicts, updates: validator.into_updates() })
}

/// [`conflict_report`] for single-namespace transactions, as a simulator returns them.
pub fn conflict_report_ns<S: CommittedState + ?Sized>(
    state: &S,
    block_num: u64,
    txs: Vec<NsReadWriteSet>,
) -> Result<ConflictReport, StateError> {
    let txs: Vec<TxReadWriteSet> =
        txs.into_iter().map(|ns| TxReadWriteSet { ns_rwset: vec![ns] }).collect();
    conflict_report(state, block_num, &txs)
}

fn version(v: &Option<weft_proto::v1::Version>) -> String {
    match v {
        Some(v) => format!("{}:{}", v.block_num, v.tx_num),
        None => "absent".to_string(),
    }
}

fn key(k: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(k))
}

/// One line explaining a conflict, e.g. `bank/"balance" read at 1:0, now 2:3`.
pub fn describe(conflict: &Conflict) -> String {
    let mut s = format!("{}/{}", conflict.namespace, key(&conflict.key));
    if let Some(range) = &conflict.range {
        let end = if range.end_key.is_empty() {
            "unbounded)".to_string()
        } else {
            format!("{}{}", key(&range.end_key), if range.end_inclusive { "]" } else { ")" })
        };
        s.push_str(&format!(" in range [{}, {end}", key(&range.start_key)));
        s.push_str(&format!(
            ": seen at simulation {}, now {}",
            version(&conflict.recorded),
            version(&conflict.current)
        ));
    } else {
        s.push_str(&format!(" read at {}", version(&conflict.recorded)));
        if conflict.written_by_tx.is_none() {
            s.push_str(&format!(", now {}", version(&conflict.current)));
        }
    }
    if let Some(tx) = conflict.written_by_tx {
        s.push_str(&format!(", written by tx {tx} of this block"));
    }
    s
}

/// A block whose transactions were validated in order and committed: its number, the ids of
/// its transactions and each one's verdict. The SDK's `MockStub` and the runtime's `Harness`
/// both return it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommittedBlock {
    /// The block number.
    pub block_num: u64,
    /// The transaction ids, in block order.
    pub tx_ids: Vec<String>,
    /// Each transaction's code and, for a conflict, the key and versions.
    pub report: ConflictReport,
}

impl CommittedBlock {
    /// The validation code of each transaction, in block order.
    pub fn codes(&self) -> Vec<TxValidationCode> {
        self.report.verdicts.iter().map(|v| v.code).collect()
    }

    /// The verdict on the transaction with this id.
    pub fn verdict(&self, tx_id: &str) -> Option<&TxVerdict> {
        let index = self.tx_ids.iter().position(|id| id == tx_id)?;
        self.report.verdicts.get(index)
    }
}

impl fmt::Display for CommittedBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "block {}:", self.block_num)?;
        self.report.fmt(f)
    }
}

impl fmt::Display for ConflictReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, verdict) in self.verdicts.iter().enumerate() {
            write!(f, "tx {index}: {}", verdict.code.as_str_name())?;
            if let Some(conflict) = &verdict.conflict {
                write!(f, ": {}", describe(conflict))?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
