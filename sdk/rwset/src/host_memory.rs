//! [`HostMemory`]: the bytes the host holds on one invocation's behalf, against
//! [`limits::MAX_HOST_MEMORY`].
//!
//! Counted from logical sizes, never from the allocator: an entry costs its key and value
//! bytes plus [`limits::HOST_ENTRY_OVERHEAD`], an open iterator [`limits::HOST_ITERATOR_STATE`]
//! more while it is open. So every peer (and the SDK's native test context) reaches the limit
//! at the same host call, and the node's memory has a bound: per contract thread, the guest's
//! linear-memory cap plus this one.

use weft_abi::limits;

/// The invocation would hold more than its host-memory limit: a deterministic contract failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("host memory limit exceeded")]
pub struct HostMemoryExceeded;

/// Bytes held for one invocation, and its limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostMemory {
    held: u64,
    limit: u64,
}

impl Default for HostMemory {
    fn default() -> HostMemory {
        HostMemory::with_limit(u64::from(limits::MAX_HOST_MEMORY))
    }
}

impl HostMemory {
    /// A budget of `limit` bytes (the protocol's is [`limits::MAX_HOST_MEMORY`]).
    pub fn with_limit(limit: u64) -> HostMemory {
        HostMemory { held: 0, limit }
    }

    /// Bytes held now.
    pub fn held(&self) -> u64 {
        self.held
    }

    /// The limit.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Holds `bytes` more; fails (holding nothing more) if that would pass the limit.
    pub fn charge(&mut self, bytes: usize) -> Result<(), HostMemoryExceeded> {
        let held = self.held.saturating_add(bytes as u64);
        if held > self.limit {
            return Err(HostMemoryExceeded);
        }
        self.held = held;
        Ok(())
    }

    /// Gives back `bytes` that are no longer held.
    pub fn release(&mut self, bytes: usize) {
        self.held = self.held.saturating_sub(bytes as u64);
    }

    /// Replaces a holding of `old` bytes by one of `new` bytes.
    pub fn resize(&mut self, old: usize, new: usize) -> Result<(), HostMemoryExceeded> {
        if new >= old {
            self.charge(new - old)
        } else {
            self.release(old - new);
            Ok(())
        }
    }

    /// What one recorded entry of `bytes` key and value bytes counts.
    pub const fn entry(bytes: usize) -> usize {
        bytes + limits::HOST_ENTRY_OVERHEAD as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_up_to_the_limit_and_not_past_it() {
        let mut m = HostMemory::with_limit(100);
        m.charge(60).unwrap();
        assert_eq!(m.charge(41), Err(HostMemoryExceeded));
        assert_eq!(m.held(), 60, "a refused charge holds nothing");
        m.charge(40).unwrap();
        m.release(30);
        m.resize(10, 40).unwrap();
        assert_eq!(m.held(), 100);
        m.resize(40, 0).unwrap();
        assert_eq!(m.held(), 60);
        assert_eq!(HostMemory::entry(3), 3 + limits::HOST_ENTRY_OVERHEAD as usize);
    }
}
