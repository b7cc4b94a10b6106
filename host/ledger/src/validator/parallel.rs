//! Fixed-size chunks of work spread over all cores with `std::thread::scope`. Chunk
//! boundaries depend only on the input, never on the core count, so anything computed per
//! chunk (such as a signature batch) is the same on every node.

/// Applies `f` to each chunk of `chunk` items and concatenates the results in order.
pub(crate) fn map_chunks<T, R, F>(items: &[T], chunk: usize, f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&[T]) -> Vec<R> + Sync,
{
    let chunks: Vec<&[T]> = items.chunks(chunk.max(1)).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(chunks.len());
    if threads <= 1 {
        return chunks.into_iter().flat_map(&f).collect();
    }
    let mut results: Vec<Option<Vec<R>>> = (0..chunks.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let f = &f;
        let chunks = &chunks;
        let handles: Vec<_> = (1..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t..chunks.len())
                        .step_by(threads)
                        .map(|c| (c, f(chunks[c])))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mine: Vec<_> = (0..chunks.len()).step_by(threads).map(|c| (c, f(chunks[c]))).collect();
        for (c, r) in mine {
            results[c] = Some(r);
        }
        for handle in handles {
            for (c, r) in handle.join().expect("a validation thread panicked") {
                results[c] = Some(r);
            }
        }
    });
    results.into_iter().flat_map(|r| r.expect("every chunk done")).collect()
}
