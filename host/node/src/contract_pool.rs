//! Where endorsements and queries run: on a thread whose native stack fits the deepest Wasm
//! stack a contract may use.
//!
//! Two kinds of thread qualify. The node's own contract threads (this pool) take jobs over a
//! channel: a hand-off costs two thread wake-ups, which on a small machine is a large part of
//! a query. The async runtime's workers qualify too when the process built its runtime with
//! [`crate::node::async_runtime`] (the `weft` binary does): a job then runs inline on the
//! worker that received the request. A contract may run for as long as its fuel allows
//! (a fraction of a second), so inline runs are capped to leave at least one worker free for
//! network I/O: the others hand off.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use weft_runtime::Simulator;

use crate::error::{Error, Result};

type Job = Box<dyn FnOnce() + Send>;

/// Contract threads, and the choice between them and running inline.
#[derive(Debug)]
pub struct ContractPool {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    sim: Simulator,
    /// Jobs running inline on async workers now.
    inline: AtomicUsize,
}

impl ContractPool {
    /// Starts `threads` contract threads.
    pub fn start(sim: &Simulator, threads: usize) -> Result<ContractPool> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            sim.spawn_contract_thread(&format!("weft-endorse-{i}"), move || {
                loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            })
            .map_err(Error::io("spawning a contract thread"))?;
        }
        Ok(ContractPool {
            jobs: Mutex::new(Some(tx)),
            sim: sim.clone(),
            inline: AtomicUsize::new(0),
        })
    }

    /// Runs `f` where contracts may run: inline if this is an async worker with the contract
    /// stack and an inline slot is free, else on a contract thread.
    pub async fn run<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce() -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        if self.sim.runs_inline_here()
            && let Some(_slot) = self.inline_slot()
        {
            return f();
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = reply.send(f());
        });
        {
            let jobs = self.jobs.lock().map_err(|_| Error::ShuttingDown)?;
            jobs.as_ref().ok_or(Error::ShuttingDown)?.send(job).map_err(|_| Error::ShuttingDown)?;
        }
        answer.await.map_err(|_| Error::ShuttingDown)?
    }

    /// A slot for an inline run, if fewer than all but one of the async workers hold one
    /// (so a runtime with a single worker never runs contracts inline).
    fn inline_slot(&self) -> Option<InlineSlot<'_>> {
        let workers = tokio::runtime::Handle::try_current().ok()?.metrics().num_workers();
        let cap = workers.saturating_sub(1);
        self.inline
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < cap).then_some(n + 1))
            .ok()
            .map(|_| InlineSlot(&self.inline))
    }

    /// Stops the threads once the queued jobs are done.
    pub fn close(&self) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
    }
}

/// An inline run in progress; released when dropped (also if the job panics).
struct InlineSlot<'a>(&'a AtomicUsize);

impl Drop for InlineSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread_name() -> Result<String> {
        Ok(std::thread::current().name().unwrap_or_default().to_string())
    }

    #[test]
    fn runs_inline_only_on_declared_workers_and_leaves_one_worker_free() {
        let dir = tempfile::tempdir().unwrap();
        let sim = Simulator::open(dir.path(), weft_runtime::RuntimeConfig::default()).unwrap();
        let pool = Arc::new(ContractPool::start(&sim, 1).unwrap());

        // The node's runtime: declared workers, all but one of which may run inline at once.
        // (Spawned: `block_on` itself runs on the calling thread, not on a worker.)
        let runtime = crate::node::async_runtime().unwrap();
        let on_worker = pool.clone();
        let (workers, first, after_cap) = runtime
            .block_on(runtime.spawn(async move {
                let pool = on_worker;
                let workers = tokio::runtime::Handle::current().metrics().num_workers();
                let first = pool.run(thread_name).await.unwrap();
                // With every inline slot held, the next job is handed off.
                let held: Vec<_> = std::iter::from_fn(|| pool.inline_slot()).collect();
                assert_eq!(held.len(), workers - 1);
                (workers, first, pool.run(thread_name).await.unwrap())
            }))
            .unwrap();
        if workers > 1 {
            assert!(first.starts_with("tokio-rt-worker"), "{first}");
        } else {
            assert_eq!(first, "weft-endorse-0", "one worker never runs contracts inline");
        }
        assert_eq!(after_cap, "weft-endorse-0");

        // Any other runtime: always handed off.
        let plain = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        assert_eq!(plain.block_on(pool.run(thread_name)).unwrap(), "weft-endorse-0");
        pool.close();
    }
}
