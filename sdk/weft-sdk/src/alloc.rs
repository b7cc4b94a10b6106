//! The fast-path allocator (feature `fast-alloc`, on by default): a bump allocator over a
//! static arena in the module's own memory.
//!
//! Every invocation runs in a fresh instance, so memory is never reused across calls and
//! never needs to be given back. Bumping a pointer inside an arena that is already part of the
//! module's initial memory means ordinary calls never execute `memory.grow` and touch only the
//! pages they use. Freeing or resizing the most recent block happens in place (so a growing
//! `Vec` or `String` does not leak); other frees are no-ops. An allocation that does not fit
//! continues in pages obtained with `memory.grow`, so large calls still work, bounded by the
//! host's memory limit.

/// Size of the static arena, in bytes.
pub const ARENA_SIZE: usize = 512 * 1024;

/// A Wasm page.
#[cfg_attr(not(all(target_arch = "wasm32", feature = "fast-alloc")), allow(dead_code))]
const PAGE: usize = 64 * 1024;

/// The bump region `[next, end)` (addresses in linear memory).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(all(target_arch = "wasm32", feature = "fast-alloc")), allow(dead_code))]
pub(crate) struct Bump {
    pub(crate) next: usize,
    pub(crate) end: usize,
}

#[cfg_attr(not(all(target_arch = "wasm32", feature = "fast-alloc")), allow(dead_code))]
impl Bump {
    fn bump(&mut self, size: usize, align: usize) -> Option<usize> {
        let start = self.next.checked_add(align - 1)? & !(align - 1);
        let new_next = start.checked_add(size)?;
        if new_next > self.end {
            return None;
        }
        self.next = new_next;
        Some(start)
    }

    /// Allocates `size` bytes aligned to `align` (a power of two); when the region is full,
    /// asks `grow` for that many more pages (it returns their start address) and continues
    /// there (in place if they follow the region).
    pub(crate) fn alloc(
        &mut self,
        size: usize,
        align: usize,
        grow: impl FnOnce(usize) -> Option<usize>,
    ) -> Option<usize> {
        if let Some(at) = self.bump(size, align) {
            return Some(at);
        }
        let pages = size.checked_add(align)?.div_ceil(PAGE);
        let base = grow(pages)?;
        if base != self.end {
            self.next = base;
        }
        self.end = base.checked_add(pages * PAGE)?;
        self.bump(size, align)
    }

    /// Frees a block: only the most recent one is reclaimed.
    pub(crate) fn dealloc(&mut self, at: usize, size: usize) {
        if at + size == self.next {
            self.next = at;
        }
    }

    /// Resizes the most recent block in place; `false` if `at` is not the most recent block or
    /// the region has no room.
    pub(crate) fn resize_in_place(&mut self, at: usize, old: usize, new: usize) -> bool {
        if at + old != self.next || at.checked_add(new).is_none_or(|end| end > self.end) {
            return new <= old;
        }
        self.next = at + new;
        true
    }
}

#[cfg(all(target_arch = "wasm32", feature = "fast-alloc"))]
mod global {
    use core::alloc::{GlobalAlloc, Layout};
    use core::cell::UnsafeCell;
    use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    use super::{ARENA_SIZE, Bump, PAGE};

    #[repr(C, align(16))]
    struct Arena(UnsafeCell<[u8; ARENA_SIZE]>);

    // SAFETY: contracts are single-threaded (no Wasm threads); the arena is only handed out in
    // disjoint blocks by the allocator below.
    unsafe impl Sync for Arena {}

    static ARENA: Arena = Arena(UnsafeCell::new([0; ARENA_SIZE]));

    struct FastAlloc {
        next: AtomicUsize,
        end: AtomicUsize,
    }

    impl FastAlloc {
        fn with<T>(&self, f: impl FnOnce(&mut Bump) -> T) -> T {
            let mut bump = Bump { next: self.next.load(Relaxed), end: self.end.load(Relaxed) };
            if bump.end == 0 {
                let start = ARENA.0.get() as usize;
                bump = Bump { next: start, end: start + ARENA_SIZE };
            }
            let result = f(&mut bump);
            self.next.store(bump.next, Relaxed);
            self.end.store(bump.end, Relaxed);
            result
        }
    }

    fn grow(pages: usize) -> Option<usize> {
        let previous = core::arch::wasm32::memory_grow(0, pages);
        (previous != usize::MAX).then(|| previous * PAGE)
    }

    // SAFETY: blocks come from disjoint parts of the arena or of freshly grown pages, aligned as
    // asked; a block is only reused after it was freed (and only if it was the last one).
    unsafe impl GlobalAlloc for FastAlloc {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            self.with(|b| b.alloc(layout.size(), layout.align(), grow))
                .map_or(core::ptr::null_mut(), |at| at as *mut u8)
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            self.with(|b| b.dealloc(ptr as usize, layout.size()))
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            if self.with(|b| b.resize_in_place(ptr as usize, layout.size(), new_size)) {
                return ptr;
            }
            // SAFETY: the caller guarantees `new_size` with `layout.align()` is a valid layout.
            let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
            // SAFETY: `new_layout` has a non-zero size (the caller's contract for realloc).
            let new = unsafe { self.alloc(new_layout) };
            if !new.is_null() {
                // SAFETY: both blocks are live, distinct, and at least `layout.size()` long
                // (`new_size > layout.size()` here, or the in-place path would have taken it).
                unsafe { core::ptr::copy_nonoverlapping(ptr, new, layout.size()) };
                // SAFETY: `ptr` was allocated by us with `layout`.
                unsafe { self.dealloc(ptr, layout) };
            }
            new
        }
    }

    #[global_allocator]
    static ALLOCATOR: FastAlloc = FastAlloc { next: AtomicUsize::new(0), end: AtomicUsize::new(0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_grow(_: usize) -> Option<usize> {
        None
    }

    #[test]
    fn bumps_with_alignment_and_reclaims_only_the_last_block() {
        let mut b = Bump { next: 1000, end: 1000 + 4096 };
        assert_eq!(b.alloc(3, 1, no_grow), Some(1000));
        assert_eq!(b.alloc(8, 8, no_grow), Some(1008));
        b.dealloc(1000, 3); // not the last block: kept
        assert_eq!(b.next, 1016);
        b.dealloc(1008, 8);
        assert_eq!(b.next, 1008);
    }

    #[test]
    fn resizes_the_last_block_in_place() {
        let mut b = Bump { next: 0x100, end: 0x200 };
        let at = b.alloc(16, 4, no_grow).unwrap();
        assert!(b.resize_in_place(at, 16, 64));
        assert_eq!(b.next, at + 64);
        assert!(b.resize_in_place(at, 64, 8), "shrinking always succeeds");
        assert_eq!(b.next, at + 8);
        assert!(!b.resize_in_place(at, 8, 0x1000), "no room");
        let other = b.alloc(4, 4, no_grow).unwrap();
        assert!(!b.resize_in_place(at, 8, 12), "not the last block");
        assert!(b.resize_in_place(other, 4, 8));
    }

    #[test]
    fn grows_when_full_contiguously_or_elsewhere() {
        // Region ends exactly where the grown pages begin: extends in place.
        let mut b = Bump { next: PAGE - 8, end: PAGE };
        assert_eq!(b.alloc(16, 8, |pages| Some(PAGE * pages)), Some(PAGE - 8));
        assert_eq!(b.end, 2 * PAGE);
        // Grown pages elsewhere: continue there.
        let mut b = Bump { next: 100, end: 200 };
        assert_eq!(b.alloc(PAGE, 16, |pages| Some(10 * PAGE * pages)), Some(20 * PAGE));
        assert_eq!(b.end, 22 * PAGE);
        // Growth refused: allocation fails.
        let mut b = Bump { next: 100, end: 200 };
        assert_eq!(b.alloc(500, 1, no_grow), None);
        assert_eq!(b.alloc(usize::MAX, 1, no_grow), None);
    }
}
