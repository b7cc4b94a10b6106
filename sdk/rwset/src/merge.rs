//! [`merge`]: one namespace's read/write set from two recorded one after the other, as if one
//! [`crate::TxSimulator`] had recorded both. The peer uses it to put its own reads and writes
//! of a transaction (the lifecycle's initialized key) beside the contract's.

use std::collections::BTreeMap;

use crate::{KvRead, KvWrite, NsReadWriteSet, Version};

/// The two read/write sets are of different namespaces.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot merge the read/write set of {later:?} into that of {earlier:?}")]
pub struct NamespaceMismatch {
    /// The namespace of the earlier set.
    pub earlier: String,
    /// The namespace of the later set.
    pub later: String,
}

/// The read/write set of `earlier`'s operations followed by `later`'s, in the same namespace,
/// by [`crate::TxSimulator`]'s rules: a key read in both keeps the first read (its version);
/// a key written in both keeps the last write; range queries keep their order, `earlier`'s
/// first. Reads and writes come out sorted by key, so every peer gets the same bytes.
pub fn merge(
    earlier: NsReadWriteSet,
    later: NsReadWriteSet,
) -> Result<NsReadWriteSet, NamespaceMismatch> {
    if earlier.namespace != later.namespace {
        return Err(NamespaceMismatch { earlier: earlier.namespace, later: later.namespace });
    }
    // The common case on a peer: the lifecycle recorded nothing (no init required).
    if earlier.reads.is_empty()
        && earlier.writes.is_empty()
        && earlier.range_queries_info.is_empty()
    {
        return Ok(later);
    }
    let mut reads: BTreeMap<Vec<u8>, Option<Version>> = BTreeMap::new();
    for read in earlier.reads.into_iter().chain(later.reads) {
        reads.entry(read.key).or_insert(read.version);
    }
    let mut writes: BTreeMap<Vec<u8>, KvWrite> = BTreeMap::new();
    for write in earlier.writes.into_iter().chain(later.writes) {
        writes.insert(write.key.clone(), write);
    }
    let mut range_queries_info = earlier.range_queries_info;
    range_queries_info.extend(later.range_queries_info);
    Ok(NsReadWriteSet {
        namespace: earlier.namespace,
        reads: reads.into_iter().map(|(key, version)| KvRead { key, version }).collect(),
        range_queries_info,
        writes: writes.into_values().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemoryState, Mode, RangeQueryInfo, TxSimulator};

    fn v(block_num: u64, tx_num: u64) -> Version {
        Version { block_num, tx_num }
    }

    fn state() -> MemoryState {
        let mut s = MemoryState::default();
        s.insert(b"\x00init", b"1", v(1, 0));
        s.insert(b"a", b"A", v(2, 0));
        s.insert(b"c", b"C", v(3, 1));
        s
    }

    #[test]
    fn merging_equals_recording_both_with_one_simulator() {
        let s = state();
        let first = |sim: &mut TxSimulator<'_, MemoryState>| {
            sim.get(b"\x00init").unwrap();
            sim.get(b"c").unwrap();
            sim.put(b"\x00init", b"2").unwrap();
            sim.put(b"c", b"first").unwrap();
        };
        let second = |sim: &mut TxSimulator<'_, MemoryState>| {
            sim.get(b"a").unwrap();
            sim.get(b"c").unwrap();
            sim.get(b"b").unwrap();
            sim.put(b"c", b"second").unwrap();
            sim.del(b"a").unwrap();
            let it = sim.range_open(b"a", b"b").unwrap();
            while sim.range_next(it).unwrap().is_some() {}
            sim.range_close(it).unwrap();
        };
        let mut one = TxSimulator::new("ns", &s, Mode::Invoke);
        first(&mut one);
        second(&mut one);
        let together = one.finish().unwrap();

        let mut a = TxSimulator::new("ns", &s, Mode::Invoke);
        first(&mut a);
        let mut b = TxSimulator::new("ns", &s, Mode::Invoke);
        second(&mut b);
        let merged = merge(a.finish().unwrap(), b.finish().unwrap()).unwrap();
        assert_eq!(merged, together);
        let keys: Vec<&[u8]> = merged.reads.iter().map(|r| r.key.as_slice()).collect();
        assert_eq!(keys, [&b"\x00init"[..], b"a", b"b", b"c"]);
        let last = merged.writes.iter().find(|w| w.key == b"c").unwrap();
        assert_eq!(last.value, b"second");
    }

    #[test]
    fn the_first_read_of_a_key_and_the_last_write_win() {
        let read = |key: &[u8], version| KvRead { key: key.to_vec(), version };
        let write = |key: &[u8], value: &[u8]| KvWrite {
            key: key.to_vec(),
            is_delete: value.is_empty(),
            value: value.to_vec(),
        };
        let range =
            |start: &[u8]| RangeQueryInfo { start_key: start.to_vec(), ..Default::default() };
        let earlier = NsReadWriteSet {
            namespace: "ns".into(),
            reads: vec![read(b"k", Some(v(1, 0)))],
            range_queries_info: vec![range(b"x")],
            writes: vec![write(b"k", b"1"), write(b"z", b"")],
        };
        let later = NsReadWriteSet {
            namespace: "ns".into(),
            reads: vec![read(b"a", None), read(b"k", Some(v(5, 0)))],
            range_queries_info: vec![range(b"b")],
            writes: vec![write(b"k", b"")],
        };
        let merged = merge(earlier, later).unwrap();
        assert_eq!(merged.reads, vec![read(b"a", None), read(b"k", Some(v(1, 0)))]);
        assert_eq!(merged.writes, vec![write(b"k", b""), write(b"z", b"")]);
        assert_eq!(merged.range_queries_info, vec![range(b"x"), range(b"b")]);

        let other = NsReadWriteSet { namespace: "other".into(), ..Default::default() };
        let err = merge(NsReadWriteSet { namespace: "ns".into(), ..Default::default() }, other);
        assert_eq!(
            err.unwrap_err().to_string(),
            "cannot merge the read/write set of \"other\" into that of \"ns\""
        );
    }
}
