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
    /// The etcd revision that created the last group of envelopes ordered from (0: none
    /// yet); groups created before it are in blocks.
    pub(super) watermark: i64,
    /// How many envelopes of the group created at `watermark` are in blocks: [`ALL`], or
    /// fewer when a block ended inside the group.
    pub(super) taken: u32,
    /// The last block's header hash (empty before block 0).
    pub(super) tip: Vec<u8>,
}

/// [`ChainTip::taken`] when the whole group is in blocks.
pub(super) const ALL: u32 = u32::MAX;

impl ChainTip {
    /// Whether the group created at `revision` is entirely in blocks.
    pub(super) fn ordered(&self, revision: i64) -> bool {
        revision < self.watermark || (revision == self.watermark && self.taken == ALL)
    }

    /// How many envelopes of the group created at `revision` are in blocks already, for a
    /// group not entirely [`ordered`](Self::ordered).
    pub(super) fn taken_of(&self, revision: i64) -> usize {
        if revision == self.watermark { self.taken as usize } else { 0 }
    }

    /// The revision of the last group entirely in blocks.
    pub(super) fn ordered_through(&self) -> i64 {
        if self.taken == ALL { self.watermark } else { self.watermark - 1 }
    }

    pub(super) fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(20 + self.tip.len());
        bytes.extend_from_slice(&self.height.to_be_bytes());
        bytes.extend_from_slice(&self.watermark.to_be_bytes());
        bytes.extend_from_slice(&self.taken.to_be_bytes());
        bytes.extend_from_slice(&self.tip);
        bytes
    }

    /// Reads a tip: height, watermark, taken and the hash (32 bytes, none before block 0);
    /// a tip written before groups existed has no `taken` (every group is whole).
    pub(super) fn decode(bytes: &[u8]) -> Option<ChainTip> {
        let height = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        let watermark = i64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?);
        let (taken, tip) = match bytes.len() {
            16 | 48 => (ALL, &bytes[16..]),
            20 | 52 => (u32::from_be_bytes(bytes[16..20].try_into().ok()?), &bytes[20..]),
            _ => return None,
        };
        Some(ChainTip { height, watermark, taken, tip: tip.to_vec() })
    }
}

/// What a pending value holding a group starts with. A protobuf message never starts with a
/// zero byte (field number 0 does not exist), so a value without it is one envelope as a
/// node wrote it before groups.
const GROUP_MAGIC: &[u8] = b"\0wg1";

/// The value of a pending key: the envelopes one node wrote together (a group commit of
/// broadcasts): [`GROUP_MAGIC`], then each envelope as its length (4 bytes, big-endian) and
/// its bytes.
pub(super) fn encode_group<E: AsRef<[u8]>>(envelopes: &[E]) -> Vec<u8> {
    let size = envelopes.iter().map(|e| 4 + e.as_ref().len()).sum::<usize>();
    let mut bytes = Vec::with_capacity(GROUP_MAGIC.len() + size);
    bytes.extend_from_slice(GROUP_MAGIC);
    for envelope in envelopes {
        let envelope = envelope.as_ref();
        bytes.extend_from_slice(&(envelope.len() as u32).to_be_bytes());
        bytes.extend_from_slice(envelope);
    }
    bytes
}

/// The envelopes of a pending key's value (a value written before groups is one envelope);
/// `None` if it is a malformed group.
pub(super) fn decode_group(bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
    let Some(mut bytes) = bytes.strip_prefix(GROUP_MAGIC) else {
        return Some(vec![bytes.to_vec()]);
    };
    let mut envelopes = Vec::new();
    while !bytes.is_empty() {
        let len = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
        envelopes.push(bytes.get(4..4 + len)?.to_vec());
        bytes = &bytes[4 + len..];
    }
    Some(envelopes)
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
        let tip = ChainTip { height: 7, watermark: 42, taken: 3, tip: vec![9; 32] };
        assert_eq!(ChainTip::decode(&tip.encode()), Some(tip.clone()));
        let genesis = ChainTip { height: 0, watermark: 0, taken: ALL, tip: Vec::new() };
        assert_eq!(ChainTip::decode(&genesis.encode()), Some(genesis));
        assert_eq!(ChainTip::decode(&[0; 15]), None);
        assert_eq!(ChainTip::decode(&[0; 30]), None);
        // A tip of the format before groups: every group before and at it is whole.
        let old = [&7u64.to_be_bytes()[..], &42i64.to_be_bytes(), &[9; 32]].concat();
        let read = ChainTip::decode(&old).unwrap();
        assert_eq!((read.height, read.watermark, read.taken), (7, 42, ALL));
    }

    #[test]
    fn a_tip_inside_a_group_knows_what_of_it_is_ordered() {
        let tip = ChainTip { height: 7, watermark: 42, taken: 3, tip: vec![9; 32] };
        assert!(tip.ordered(41) && !tip.ordered(42) && !tip.ordered(43));
        assert_eq!((tip.taken_of(42), tip.taken_of(43), tip.ordered_through()), (3, 0, 41));
        let whole = ChainTip { taken: ALL, ..tip };
        assert!(whole.ordered(42) && !whole.ordered(43));
        assert_eq!(whole.ordered_through(), 42);
    }

    #[test]
    fn groups_round_trip_and_malformed_values_are_refused() {
        let envelopes = vec![b"one".to_vec(), Vec::new(), vec![7; 300]];
        assert_eq!(decode_group(&encode_group(&envelopes)), Some(envelopes));
        let none: [&[u8]; 0] = [];
        assert_eq!(decode_group(&encode_group(&none)), Some(Vec::new()));
        let cut = |tail: &[u8]| [GROUP_MAGIC, tail].concat();
        assert_eq!(decode_group(&cut(&[0, 0, 0, 5, 1, 2])), None);
        assert_eq!(decode_group(&cut(&[0, 0])), None);
        // A value written before groups: one envelope (protobuf, so not starting with 0).
        assert_eq!(decode_group(b"\x0a\x03abc"), Some(vec![b"\x0a\x03abc".to_vec()]));
    }
}
