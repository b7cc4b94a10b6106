//! An in-memory Bloom filter of the transaction ids a ledger has indexed (by their 8-byte
//! fingerprints, see [`crate::blockstore`]), in front of the block store's `T` index: most
//! ids asked about are new (a proposal's, an envelope's at admission, a block's at
//! validation), and "certainly not there" from the filter spares a walk down sled's tree.
//!
//! The filter never answers "not there" for an id the index holds: an id enters the filter
//! before the batch that indexes it is applied ([`crate::blockstore::BlockStore::add_block`]),
//! and every id already indexed enters it when the ledger opens. "Maybe there" (a
//! fingerprint seen, or a false positive) is answered by the index itself, so the filter
//! changes no answer, only what it costs. A batch that fails to apply leaves its ids in the
//! filter: a false positive, which the index corrects.
//!
//! Sizing: layers of Bloom filters at a false-positive rate of 1 in 1,000 (about 1.8 bytes
//! per id). The first holds twice the ids indexed at open (at least [`FIRST_LAYER`]); when
//! the last layer is full a layer twice its size is added, so memory stays proportional to
//! the ids indexed and the false-positive rate stays bounded by the number of layers. The
//! filter's hash is SipHash with random keys (the crate's default), so clients choosing
//! their ids cannot aim them at one another's bits; at worst a collision costs the index
//! lookup the filter would have spared.

use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use fastbloom::AtomicBloomFilter;

/// Ids the first layer of a new or small ledger is sized for.
pub(crate) const FIRST_LAYER: u64 = 1 << 16;

/// Target false-positive rate of each layer.
const FALSE_POSITIVE_RATE: f64 = 0.001;

/// The filter: see the module's documentation.
#[derive(Debug)]
pub(crate) struct TxIdFilter {
    layers: RwLock<Vec<Layer>>,
}

#[derive(Debug)]
struct Layer {
    bloom: AtomicBloomFilter,
    capacity: u64,
    len: AtomicU64,
}

impl Layer {
    fn new(capacity: u64) -> Layer {
        let bloom = AtomicBloomFilter::with_false_pos(FALSE_POSITIVE_RATE)
            .expected_items(capacity as usize);
        Layer { bloom, capacity, len: AtomicU64::new(0) }
    }
}

impl TxIdFilter {
    /// An empty filter whose first layer holds `expected` ids (at least [`FIRST_LAYER`]).
    pub(crate) fn with_capacity(expected: u64) -> TxIdFilter {
        TxIdFilter { layers: RwLock::new(vec![Layer::new(expected.max(FIRST_LAYER))]) }
    }

    /// Adds the fingerprint of an id.
    pub(crate) fn insert(&self, fingerprint: u64) {
        {
            let layers = self.layers.read().expect("filter lock");
            let last = layers.last().expect("a filter has a layer");
            if last.len.fetch_add(1, Ordering::Relaxed) < last.capacity {
                last.bloom.insert(&fingerprint);
                return;
            }
        }
        let mut layers = self.layers.write().expect("filter lock");
        let last = layers.last().expect("a filter has a layer");
        if last.len.load(Ordering::Relaxed) >= last.capacity {
            let capacity = last.capacity.saturating_mul(2);
            layers.push(Layer::new(capacity));
        }
        let last = layers.last().expect("a filter has a layer");
        last.len.fetch_add(1, Ordering::Relaxed);
        last.bloom.insert(&fingerprint);
    }

    /// False if `fingerprint` was never inserted; true if it was, or rarely if it was not.
    pub(crate) fn may_contain(&self, fingerprint: u64) -> bool {
        let layers = self.layers.read().expect("filter lock");
        layers.iter().any(|layer| layer.bloom.contains(&fingerprint))
    }

    /// How many layers the filter has grown to.
    #[cfg(test)]
    fn layers(&self) -> usize {
        self.layers.read().expect("filter lock").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_forgets_an_id_and_rarely_claims_one_it_never_saw() {
        let filter = TxIdFilter::with_capacity(0);
        let inserted = 3 * FIRST_LAYER + 17;
        for n in 0..inserted {
            filter.insert(n);
        }
        // Grown past its first layer (1x, then 2x: 3x holds the ids, the 17 need a third).
        assert_eq!(filter.layers(), 3);
        for n in 0..inserted {
            assert!(filter.may_contain(n), "{n} was inserted");
        }
        let strangers = 100_000;
        let claimed = (0..strangers).filter(|n| filter.may_contain(u64::MAX - n)).count();
        // Three layers at 1 in 1,000 each: about 300 expected; 1,000 would be a broken filter.
        assert!(claimed < 1_000, "{claimed} of {strangers} never-inserted ids claimed");
    }

    #[test]
    fn is_shared_across_threads_without_losing_an_insert() {
        let filter = std::sync::Arc::new(TxIdFilter::with_capacity(16));
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let filter = std::sync::Arc::clone(&filter);
                std::thread::spawn(move || {
                    for n in 0..40_000 {
                        filter.insert(t << 32 | n);
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        for t in 0..4 {
            for n in 0..40_000 {
                assert!(filter.may_contain(t << 32 | n));
            }
        }
    }
}
