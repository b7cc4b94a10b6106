//! The key layout of one channel in etcd and the value of its `chain` key (see the
//! [module](super)).

/// The keys of one channel: everything under `<prefix><channel>/`.
#[derive(Clone, Debug)]
pub(super) struct Keys {
    base: String,
}

/// Digits of a block number in its key, so that keys sort as numbers.
const DIGITS: usize = 20;

impl Keys {
    pub(super) fn new(prefix: &str, channel: &str) -> Keys {
        Keys { base: format!("{prefix}{channel}/") }
    }

    /// The channel's key prefix.
    pub(super) fn base(&self) -> &str {
        &self.base
    }

    pub(super) fn chain(&self) -> Vec<u8> {
        format!("{}chain", self.base).into_bytes()
    }

    /// The hash of the channel's genesis configuration, written by the first node to start.
    pub(super) fn genesis(&self) -> Vec<u8> {
        format!("{}genesis", self.base).into_bytes()
    }

    pub(super) fn election(&self) -> Vec<u8> {
        format!("{}leader", self.base).into_bytes()
    }

    pub(super) fn blocks(&self) -> Vec<u8> {
        format!("{}blocks/", self.base).into_bytes()
    }

    pub(super) fn block(&self, number: u64) -> Vec<u8> {
        format!("{}blocks/{number:0DIGITS$}", self.base).into_bytes()
    }

    /// The block number of a `blocks/` key.
    pub(super) fn block_number(&self, key: &[u8]) -> Option<u64> {
        let digits = key.strip_prefix(self.blocks().as_slice())?;
        if digits.len() != DIGITS {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    }

    pub(super) fn pending(&self) -> Vec<u8> {
        format!("{}pending/", self.base).into_bytes()
    }

    pub(super) fn pending_entry(&self, session: &str, counter: u64) -> Vec<u8> {
        format!("{}pending/{session}-{counter:0DIGITS$}", self.base).into_bytes()
    }
}

/// The value of the `chain` key: the tip blocks are appended on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ChainTip {
    /// Blocks in the chain: the next block's number.
    pub(super) height: u64,
    /// The etcd revision that created the last envelope ordered (0: none yet); pending
    /// envelopes created at or before it are in blocks.
    pub(super) watermark: i64,
    /// The last block's header hash (empty before block 0).
    pub(super) tip: Vec<u8>,
}

impl ChainTip {
    pub(super) fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(16 + self.tip.len());
        bytes.extend_from_slice(&self.height.to_be_bytes());
        bytes.extend_from_slice(&self.watermark.to_be_bytes());
        bytes.extend_from_slice(&self.tip);
        bytes
    }

    pub(super) fn decode(bytes: &[u8]) -> Option<ChainTip> {
        let height = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        let watermark = i64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?);
        Some(ChainTip { height, watermark, tip: bytes[16..].to_vec() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_as_numbers_and_parse_back() {
        let keys = Keys::new("/weft/", "dev");
        assert_eq!(keys.chain(), b"/weft/dev/chain");
        assert!(keys.block(9) < keys.block(10));
        assert_eq!(keys.block_number(&keys.block(12345)), Some(12345));
        assert_eq!(keys.block_number(b"/weft/dev/blocks/12"), None);
        assert_eq!(keys.block_number(&keys.pending_entry("s", 1)), None);
        assert!(keys.pending_entry("s", 1).starts_with(&keys.pending()));
    }

    #[test]
    fn the_tip_round_trips_and_refuses_short_values() {
        let tip = ChainTip { height: 7, watermark: 42, tip: vec![9; 32] };
        assert_eq!(ChainTip::decode(&tip.encode()), Some(tip));
        let genesis = ChainTip { height: 0, watermark: 0, tip: Vec::new() };
        assert_eq!(ChainTip::decode(&genesis.encode()), Some(genesis));
        assert_eq!(ChainTip::decode(&[0; 15]), None);
    }
}
