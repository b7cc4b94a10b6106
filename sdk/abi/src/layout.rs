//! Fixed-size structures written into linear memory. Each is `repr(C)`, little-endian on the
//! wire, with its size pinned by a compile-time assertion.

/// A transaction timestamp taken from the signed proposal (16 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(C)]
pub struct Timestamp {
    /// Seconds since the Unix epoch.
    pub seconds: i64,
    /// Nanoseconds within the second, `0..1_000_000_000`.
    pub nanos: u32,
    /// Always zero.
    pub reserved: u32,
}

const _: () = assert!(core::mem::size_of::<Timestamp>() == Timestamp::SIZE);

impl Timestamp {
    /// Encoded size in bytes.
    pub const SIZE: usize = 16;

    /// Little-endian encoding.
    pub fn to_bytes(self) -> [u8; Self::SIZE] {
        let mut out = [0u8; Self::SIZE];
        out[0..8].copy_from_slice(&self.seconds.to_le_bytes());
        out[8..12].copy_from_slice(&self.nanos.to_le_bytes());
        out[12..16].copy_from_slice(&self.reserved.to_le_bytes());
        out
    }

    /// Decodes [`Timestamp::to_bytes`]; `None` if the length is wrong.
    pub fn from_bytes(bytes: &[u8]) -> Option<Timestamp> {
        let bytes: &[u8; Self::SIZE] = bytes.try_into().ok()?;
        Some(Timestamp {
            seconds: i64::from_le_bytes(bytes[0..8].try_into().ok()?),
            nanos: u32::from_le_bytes(bytes[8..12].try_into().ok()?),
            reserved: u32::from_le_bytes(bytes[12..16].try_into().ok()?),
        })
    }
}

/// Header of one key-history entry (40 bytes), followed in the result buffer by
/// `tx_id_len` bytes of UTF-8 transaction id and then `value_len` bytes of value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct HistoryEntryHeader {
    /// Block that wrote the key.
    pub block_num: u64,
    /// Index of the transaction in that block.
    pub tx_num: u64,
    /// The writing transaction's timestamp.
    pub timestamp: Timestamp,
    /// 1 if the entry is a delete, else 0.
    pub is_delete: u32,
    /// Length of the transaction id that follows.
    pub tx_id_len: u32,
}

const _: () = assert!(core::mem::size_of::<HistoryEntryHeader>() == HistoryEntryHeader::SIZE);

impl HistoryEntryHeader {
    /// Encoded size in bytes.
    pub const SIZE: usize = 40;

    /// Little-endian encoding.
    pub fn to_bytes(self) -> [u8; Self::SIZE] {
        let mut out = [0u8; Self::SIZE];
        out[0..8].copy_from_slice(&self.block_num.to_le_bytes());
        out[8..16].copy_from_slice(&self.tx_num.to_le_bytes());
        out[16..32].copy_from_slice(&self.timestamp.to_bytes());
        out[32..36].copy_from_slice(&self.is_delete.to_le_bytes());
        out[36..40].copy_from_slice(&self.tx_id_len.to_le_bytes());
        out
    }

    /// Decodes [`HistoryEntryHeader::to_bytes`] from the front of `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Option<HistoryEntryHeader> {
        let bytes = bytes.get(..Self::SIZE)?;
        Some(HistoryEntryHeader {
            block_num: u64::from_le_bytes(bytes[0..8].try_into().ok()?),
            tx_num: u64::from_le_bytes(bytes[8..16].try_into().ok()?),
            timestamp: Timestamp::from_bytes(&bytes[16..32])?,
            is_delete: u32::from_le_bytes(bytes[32..36].try_into().ok()?),
            tx_id_len: u32::from_le_bytes(bytes[36..40].try_into().ok()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_round_trips() {
        let t = Timestamp { seconds: -5, nanos: 999_999_999, reserved: 0 };
        assert_eq!(Timestamp::from_bytes(&t.to_bytes()), Some(t));
        assert_eq!(Timestamp::from_bytes(&[0; 15]), None);
    }

    #[test]
    fn history_header_round_trips() {
        let h = HistoryEntryHeader {
            block_num: 7,
            tx_num: 3,
            timestamp: Timestamp { seconds: 1_700_000_000, nanos: 5, reserved: 0 },
            is_delete: 1,
            tx_id_len: 64,
        };
        let mut bytes = h.to_bytes().to_vec();
        bytes.extend_from_slice(b"trailing");
        assert_eq!(HistoryEntryHeader::from_bytes(&bytes), Some(h));
        assert_eq!(HistoryEntryHeader::from_bytes(&bytes[..39]), None);
    }
}
