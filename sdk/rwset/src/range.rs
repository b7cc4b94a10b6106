//! The key interval a range-query record covers, used both when recording and when the
//! validator re-runs the range.

use crate::RangeQueryInfo;

/// A key interval `[start, end)` or `[start, end]`; an empty `end` is unbounded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRange {
    /// Inclusive start.
    pub start: Vec<u8>,
    /// End; empty means unbounded.
    pub end: Vec<u8>,
    /// Whether `end` itself is in the range.
    pub end_inclusive: bool,
}

impl KeyRange {
    /// The interval a recorded range covers: if the iterator was exhausted, the requested end,
    /// exclusive; if the contract stopped early, the last key it was given, inclusive. A scan
    /// closed before it returned any key has an empty end and so covers everything from its
    /// start (Fabric records it the same way).
    pub fn of_record(info: &RangeQueryInfo) -> KeyRange {
        KeyRange {
            start: info.start_key.clone(),
            end: info.end_key.clone(),
            end_inclusive: !info.itr_exhausted && !info.end_key.is_empty(),
        }
    }

    /// Whether `key` lies in the interval (raw byte order).
    pub fn contains(&self, key: &[u8]) -> bool {
        if key < self.start.as_slice() {
            return false;
        }
        if self.end.is_empty() {
            return true;
        }
        if self.end_inclusive { key <= self.end.as_slice() } else { key < self.end.as_slice() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(start: &[u8], end: &[u8], exhausted: bool) -> RangeQueryInfo {
        RangeQueryInfo {
            start_key: start.to_vec(),
            end_key: end.to_vec(),
            itr_exhausted: exhausted,
            reads: vec![],
        }
    }

    #[test]
    fn exhausted_scan_is_exclusive_of_requested_end() {
        let r = KeyRange::of_record(&info(b"b", b"d", true));
        assert!(!r.contains(b"a"));
        assert!(r.contains(b"b"));
        assert!(r.contains(b"c\xff"));
        assert!(!r.contains(b"d"));
    }

    #[test]
    fn early_stop_is_inclusive_of_last_key() {
        let r = KeyRange::of_record(&info(b"b", b"c", false));
        assert!(r.contains(b"c"));
        assert!(!r.contains(b"c\x00"));
    }

    #[test]
    fn empty_end_is_unbounded_and_start_after_end_is_empty() {
        assert!(KeyRange::of_record(&info(b"b", b"", true)).contains(b"\xff\xff"));
        assert!(KeyRange::of_record(&info(b"b", b"", false)).contains(b"zzz"));
        let inverted = KeyRange::of_record(&info(b"d", b"b", true));
        for k in [b"a", b"b", b"c", b"d", b"e"] {
            assert!(!inverted.contains(k));
        }
    }
}
