//! Where endorsements and queries run: on a thread whose native stack fits the deepest Wasm
//! stack a contract may use.
//!
//! Two kinds of thread qualify. The node's own contract threads (this pool) take jobs over a
//! channel: a hand-off costs two thread wake-ups, which on a small machine is a large part of
//! a query. The async runtime's workers qualify too when the process built its runtime with
//! [`crate::node::async_runtime`] (the `weft` binary does): a job then runs inline on the
//! worker that received the request, on a leash ([`weft_runtime::on_leash`]). A worker held
//! by a contract serves no network I/O, so a run still going 10 to 20 ms after it started is
//! cut short there, thrown away (a simulation writes nothing) and run again on a contract
//! thread, where it may take its whole budget. Its contract then runs nothing inline for
//! [`INLINE_BAR`]: a contract whose calls keep running long costs the workers at most one
//! leash per worker every ten seconds, however its callers time them. No bar is set when the
//! run again, alone on a thread, takes less than the shortest leash
//! ([`weft_runtime::LEASH_MIN`]): the run was then cut short for waiting, not for the
//! contract's work. Under load that happens: every read of state waits while a block is
//! applied (sled holds reads during a batch), and a busy machine may leave a thread without
//! a core for as long. A contract is let off so once per [`INLINE_BAR`] at most, so that one
//! whose work depends on state its callers change between the two runs cannot keep doing it.
//!
//! Fairness: handed-off jobs wait in one queue per contract, served round robin, and one
//! contract may hold at most [`ContractPool::share`] of the contract threads at once (all but
//! one, and at least one). So a contract whose every call burns its whole fuel budget keeps
//! at most its share busy, however many of its calls are waiting, and another contract's
//! jobs find a thread without queueing behind them. A contract whose last job ran 20 ms or
//! more (a loop burning its budget) is "heavy" until one of its jobs is shorter: it never
//! runs inline and holds at most half the threads, so the cores it leaves serve the others.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use weft_runtime::{RuntimeError, Simulator};

use crate::error::{Error, Result};
use crate::metrics::Metrics;

/// A handed-off job; returns how long it ran, if it ran a contract (see [`ran_contract`]).
type Job = Box<dyn FnOnce() -> Option<Duration> + Send>;

/// Whether a job's outcome comes from running a contract, so its time says how heavy the
/// contract is. A request refused before any contract ran (a bad signature over megabytes
/// of arguments, say) says nothing about the contract it names, and must not let a client
/// without a key mark another's contract heavy.
fn ran_contract<T>(result: &Result<T>) -> bool {
    matches!(result, Ok(_) | Err(Error::ContractFailed { .. } | Error::Busy(_)))
}

/// Jobs waiting for a contract thread, per contract, and the threads each contract holds.
#[derive(Default)]
struct Queue {
    /// Waiting jobs per contract, oldest first.
    waiting: HashMap<String, VecDeque<Job>>,
    /// Contracts with waiting jobs, in the order they are served next (round robin).
    turn: VecDeque<String>,
    /// Contract threads each contract holds now.
    running: HashMap<String, usize>,
    /// Contracts whose last job ran [`HEAVY_JOB`] or longer (a loop burning its budget):
    /// they never run inline and hold at most half the threads, so the cores they leave
    /// serve everyone else.
    heavy: HashSet<String>,
    /// Contracts a run of which was cut short on its leash, and until when they run nothing
    /// inline.
    barred: HashMap<String, Instant>,
    /// Contracts a cut of which was forgiven ([`Queue::forgive`]), and when.
    forgiven: HashMap<String, Instant>,
    closed: bool,
}

/// A job this long marks its contract heavy until one of its jobs is shorter.
const HEAVY_JOB: Duration = Duration::from_millis(20);

/// How long a contract runs nothing inline after one of its runs was cut short on its leash.
pub const INLINE_BAR: Duration = Duration::from_secs(10);

impl Queue {
    /// The next job of the first contract in turn that holds fewer than `share` threads;
    /// that contract goes to the back of the turn.
    fn next(&mut self, share: usize) -> Option<(String, Job)> {
        let at = self.turn.iter().position(|c| {
            let cap = if self.heavy.contains(c) { share.div_ceil(2) } else { share };
            self.running.get(c).copied().unwrap_or(0) < cap
        })?;
        let contract = self.turn.remove(at)?;
        let jobs = self.waiting.get_mut(&contract)?;
        let job = jobs.pop_front()?;
        if jobs.is_empty() {
            self.waiting.remove(&contract);
        } else {
            self.turn.push_back(contract.clone());
        }
        *self.running.entry(contract.clone()).or_insert(0) += 1;
        Some((contract, job))
    }

    /// Notes that a job of `contract` took `took` (inline or on a thread).
    fn took(&mut self, contract: &str, took: Duration) {
        if took >= HEAVY_JOB {
            if !self.heavy.contains(contract) {
                self.heavy.insert(contract.to_owned());
            }
        } else if !self.heavy.is_empty() {
            self.heavy.remove(contract);
        }
    }

    /// Whether a job of `contract` may run inline now: the contract is neither heavy nor
    /// barred (a bar that has run out is forgotten).
    fn may_run_inline(&mut self, contract: &str, now: Instant) -> bool {
        if self.heavy.contains(contract) {
            return false;
        }
        match self.barred.get(contract) {
            Some(until) if now < *until => false,
            Some(_) => {
                self.barred.remove(contract);
                true
            }
            None => true,
        }
    }

    /// Notes that a run of `contract` was cut short on its leash: heavy, and barred from
    /// inline runs for [`INLINE_BAR`]. Returns the end of the bar.
    fn cut_short(&mut self, contract: &str, now: Instant) -> Instant {
        let until = now + INLINE_BAR;
        self.heavy.insert(contract.to_owned());
        self.barred.insert(contract.to_owned(), until);
        until
    }

    /// Lifts the bar a cut set (ending at `until`) and the heavy mark, when the run cut short
    /// took less than [`weft_runtime::LEASH_MIN`] on its own: it was cut short for waiting,
    /// not for the contract's work. Not if a later cut has set another bar, nor more than once
    /// per contract every [`INLINE_BAR`]: a contract whose work depends on state its callers
    /// change between the two runs gains one leash more per worker, never a stream of them.
    /// Returns whether it lifted the bar.
    fn forgive(&mut self, contract: &str, until: Instant, now: Instant) -> bool {
        if self.barred.get(contract) != Some(&until) {
            return false;
        }
        if self.forgiven.get(contract).is_some_and(|at| now < *at + INLINE_BAR) {
            return false;
        }
        self.forgiven.insert(contract.to_owned(), now);
        self.barred.remove(contract);
        self.heavy.remove(contract);
        true
    }

    fn done(&mut self, contract: &str) {
        if let Some(n) = self.running.get_mut(contract) {
            *n -= 1;
            if *n == 0 {
                self.running.remove(contract);
            }
        }
    }
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Contract threads, and the choice between them and running inline.
pub struct ContractPool {
    shared: Arc<Shared>,
    sim: Simulator,
    /// Contract threads one contract may hold at once.
    share: usize,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for ContractPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContractPool").field("share", &self.share).finish_non_exhaustive()
    }
}

impl ContractPool {
    /// Starts `threads` contract threads; runs cut short on their leash are counted in
    /// `metrics`.
    pub fn start(sim: &Simulator, threads: usize, metrics: Arc<Metrics>) -> Result<ContractPool> {
        let threads = threads.max(1);
        let share = threads.saturating_sub(1).max(1);
        let shared = Arc::new(Shared::default());
        for i in 0..threads {
            let shared = shared.clone();
            sim.spawn_contract_thread(&format!("weft-endorse-{i}"), move || serve(&shared, share))
                .map_err(Error::io("spawning a contract thread"))?;
        }
        Ok(ContractPool { shared, sim: sim.clone(), share, metrics })
    }

    /// Contract threads one contract may hold at once: all but one, and at least one.
    pub fn share(&self) -> usize {
        self.share
    }

    /// Runs `f`, a job of `contract`, where contracts may run: inline on its leash if this is
    /// an async worker with the contract stack and `contract` may run inline, else (and
    /// again, if the leash cut it short) on a contract thread once `contract` holds fewer
    /// than its share of them. So `f` may be called twice.
    pub async fn run<T, F>(&self, contract: &str, f: F) -> Result<T>
    where
        F: Fn() -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        // The end of the bar set if the leash cuts this run short.
        let mut cut = None;
        if self.sim.runs_inline_here()
            && self.shared.lock().may_run_inline(contract, Instant::now())
        {
            let started = Instant::now();
            match weft_runtime::on_leash(&f) {
                Err(Error::Runtime(RuntimeError::Preempted)) => {
                    cut = Some(self.shared.lock().cut_short(contract, Instant::now()));
                    self.metrics.run_cut_short();
                }
                result => {
                    if ran_contract(&result) {
                        self.shared.lock().took(contract, started.elapsed());
                    }
                    return result;
                }
            }
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let started = Instant::now();
            let result = f();
            let took = started.elapsed();
            let ran = ran_contract(&result).then_some(took);
            let _ = reply.send((result, took));
            ran
        });
        {
            let mut queue = self.shared.lock();
            if queue.closed {
                return Err(Error::ShuttingDown);
            }
            match queue.waiting.get_mut(contract) {
                Some(jobs) => jobs.push_back(job),
                None => {
                    queue.waiting.insert(contract.to_owned(), VecDeque::from([job]));
                    queue.turn.push_back(contract.to_owned());
                }
            }
        }
        self.shared.changed.notify_all();
        let (result, took) = answer.await.map_err(|_| Error::ShuttingDown)?;
        if let Some(until) = cut {
            // A short run that waited on its worker (for a block being applied, or for a
            // core) longer than the leash: the run again says so.
            if ran_contract(&result)
                && took < weft_runtime::LEASH_MIN
                && self.shared.lock().forgive(contract, until, Instant::now())
            {
                self.metrics.run_cut_short_waiting();
                tracing::debug!(
                    contract,
                    ?took,
                    "a contract run was cut short on its leash while its worker waited: \
                     it ran again in less than a leash, so its contract is not barred"
                );
            } else {
                tracing::info!(
                    contract,
                    ?took,
                    bar = ?INLINE_BAR,
                    "a contract run outlasted its leash on an async worker and ran again on a \
                     contract thread: the contract's jobs run only there for a while"
                );
            }
        }
        result
    }

    /// Stops the threads once the queued jobs are done.
    pub fn close(&self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
    }
}

/// A contract thread: runs the next job it may run, until the pool is closed and drained.
fn serve(shared: &Shared, share: usize) {
    let mut queue = shared.lock();
    loop {
        if let Some((contract, job)) = queue.next(share) {
            drop(queue);
            // A job that panics must still give its thread back to its contract.
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            queue = shared.lock();
            if let Ok(Some(took)) = ran {
                queue.took(&contract, took);
            }
            queue.done(&contract);
            shared.changed.notify_all();
            continue;
        }
        if queue.closed && queue.waiting.is_empty() {
            return;
        }
        queue = shared.changed.wait(queue).unwrap_or_else(|e| e.into_inner());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A pool of `threads` contract threads over a fresh runtime (the directory holds its
    /// code cache).
    fn pool_of(threads: usize) -> (tempfile::TempDir, Arc<ContractPool>) {
        let dir = tempfile::tempdir().unwrap();
        let sim = Simulator::open(dir.path(), weft_runtime::RuntimeConfig::default()).unwrap();
        (dir, Arc::new(ContractPool::start(&sim, threads, Arc::default()).unwrap()))
    }

    fn thread_name() -> Result<String> {
        Ok(std::thread::current().name().unwrap_or_default().to_string())
    }

    #[test]
    fn runs_inline_on_declared_workers_and_hands_off_elsewhere() {
        let (_dir, pool) = pool_of(1);

        // The node's runtime: declared workers run jobs inline. (Spawned: `block_on` itself
        // runs on the calling thread, not on a worker.)
        let runtime = crate::node::async_runtime().unwrap();
        let on_worker = pool.clone();
        let inline = runtime
            .block_on(runtime.spawn(async move { on_worker.run("c", thread_name).await }))
            .unwrap()
            .unwrap();
        assert!(inline.starts_with("tokio-rt-worker"), "{inline}");

        // Any other runtime: always handed off.
        let plain = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        assert_eq!(plain.block_on(pool.run("c", thread_name)).unwrap(), "weft-endorse-0");
        pool.close();
    }

    #[test]
    fn a_run_cut_short_on_its_leash_runs_again_on_a_contract_thread_and_bars_its_contract() {
        let (_dir, pool) = pool_of(1);
        let runtime = crate::node::async_runtime().unwrap();
        // A job the leash cuts short wherever it is on one (as a long contract run would be),
        // and that says where it ran everywhere else.
        let calls = Arc::new(Mutex::new(Vec::new()));
        let long = {
            let calls = calls.clone();
            move || {
                let name = thread_name()?;
                calls.lock().unwrap().push(name.clone());
                if name.starts_with("tokio-rt-worker") {
                    return Err(Error::Runtime(RuntimeError::Preempted));
                }
                // As long again on the thread: the cut was for its work.
                std::thread::sleep(weft_runtime::LEASH_MIN);
                Ok(name)
            }
        };
        let on_worker = pool.clone();
        let (ran, next, other) = runtime
            .block_on(runtime.spawn(async move {
                let ran = on_worker.run("c", long).await;
                // Barred: c's next job goes straight to a thread; another contract's does not.
                let next = on_worker.run("c", thread_name).await;
                (ran, next, on_worker.run("d", thread_name).await)
            }))
            .unwrap();
        assert_eq!(ran.unwrap(), "weft-endorse-0", "run again on a contract thread");
        let calls = calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert!(calls[0].starts_with("tokio-rt-worker"), "{calls:?}");
        assert_eq!(next.unwrap(), "weft-endorse-0");
        assert!(other.unwrap().starts_with("tokio-rt-worker"));
        assert_eq!(pool.metrics.runs_cut_short(), 1);
        assert_eq!(pool.metrics.runs_cut_short_waiting(), 0);

        // The bar runs out after INLINE_BAR. (Being heavy ends with c's next short job, as
        // `next` was; here at once, not to wait for that thread's bookkeeping.)
        let mut queue = pool.shared.lock();
        queue.heavy.remove("c");
        assert!(!queue.may_run_inline("c", Instant::now()));
        assert!(!queue.may_run_inline("c", Instant::now() + INLINE_BAR / 2));
        assert!(queue.may_run_inline("c", Instant::now() + INLINE_BAR));
        assert!(!queue.barred.contains_key("c"), "a bar run out is forgotten");
        drop(queue);
        pool.close();
    }

    #[test]
    fn a_run_cut_short_that_is_short_on_its_own_leaves_its_contract_unbarred() {
        let (_dir, pool) = pool_of(1);
        let runtime = crate::node::async_runtime().unwrap();
        // Cut short on the worker (as when the machine deschedules it mid-run), then quick
        // on the thread; the next job then runs on a worker again.
        let cut_once = Arc::new(AtomicUsize::new(0));
        let job = {
            let cut_once = cut_once.clone();
            move || {
                let name = thread_name()?;
                if name.starts_with("tokio-rt-worker")
                    && cut_once.fetch_add(1, Ordering::SeqCst) == 0
                {
                    return Err(Error::Runtime(RuntimeError::Preempted));
                }
                Ok(name)
            }
        };
        let on_worker = pool.clone();
        let (ran, next) = runtime
            .block_on(runtime.spawn(async move {
                let ran = on_worker.run("c", job.clone()).await;
                (ran, on_worker.run("c", job).await)
            }))
            .unwrap();
        assert_eq!(ran.unwrap(), "weft-endorse-0", "run again on a contract thread");
        assert!(next.unwrap().starts_with("tokio-rt-worker"), "c is not barred");
        assert_eq!(pool.metrics.runs_cut_short(), 1);
        assert_eq!(pool.metrics.runs_cut_short_waiting(), 1);
        let mut queue = pool.shared.lock();
        assert!(queue.may_run_inline("c", Instant::now()));
        assert!(!queue.barred.contains_key("c"));

        // One forgiveness per contract every INLINE_BAR: c's next cut stands.
        let now = Instant::now();
        let again = queue.cut_short("c", now);
        assert!(!queue.forgive("c", again, now));
        assert!(!queue.may_run_inline("c", now));
        let later = now + INLINE_BAR;
        queue.heavy.remove("c"); // as c's next short job would
        assert!(queue.may_run_inline("c", later), "the bar ran out");
        // A bar a later cut set stays when an earlier cut is forgiven.
        let first = queue.cut_short("c", later);
        let second = queue.cut_short("c", later + Duration::from_millis(1));
        assert!(!queue.forgive("c", first, later));
        assert!(!queue.may_run_inline("c", later));
        assert!(queue.forgive("c", second, later));
        assert!(queue.may_run_inline("c", later));
        drop(queue);
        pool.close();
    }

    #[test]
    fn a_contract_whose_jobs_run_long_holds_at_most_half_the_threads_until_one_is_short() {
        let mut queue = Queue::default();
        for _ in 0..4 {
            queue
                .waiting
                .entry("a".into())
                .or_default()
                .push_back(Box::new(|| Some(Duration::ZERO)));
        }
        queue.turn.push_back("a".into());
        queue.took("a", HEAVY_JOB);
        // Share 3 of 4 threads, but heavy: two at most.
        assert!(queue.next(3).is_some() && queue.next(3).is_some());
        assert!(queue.next(3).is_none());
        queue.done("a");
        queue.took("a", Duration::from_millis(1));
        assert!(queue.next(3).is_some() && queue.next(3).is_some());
        assert_eq!(queue.running["a"], 3);
    }

    #[test]
    fn only_jobs_that_ran_a_contract_mark_it_heavy() {
        let (_dir, pool) = pool_of(2);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let slow = |result: fn() -> Result<()>| {
            move || {
                std::thread::sleep(HEAVY_JOB * 2);
                result()
            }
        };
        // Whether c is heavy once the thread that ran its job has done its bookkeeping (it
        // answers first, then notes the time and gives the thread back, under one lock).
        let heavy_after = |result: fn() -> Result<()>| {
            let _ = runtime.block_on(pool.run("c", slow(result)));
            loop {
                let queue = pool.shared.lock();
                if !queue.running.contains_key("c") {
                    return queue.heavy.contains("c");
                }
                drop(queue);
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        // A slow refusal before any contract ran (e.g. a forged signature over megabytes).
        let refused = || Err(Error::BadSignature("forged".into()));
        assert!(!heavy_after(refused), "a refusal marked c heavy");
        assert!(heavy_after(|| Ok(())), "a long contract run marks c heavy");
        pool.close();
    }

    #[test]
    fn a_contract_holding_its_share_does_not_hold_up_another() {
        let (_dir, pool) = pool_of(3);
        assert_eq!(pool.share(), 2);
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();

        // "Runaway" jobs of contract a: each holds its thread until released. Six of them,
        // more than there are threads.
        let (release, released) = std::sync::mpsc::channel::<()>();
        let released = Arc::new(Mutex::new(released));
        let holding = Arc::new(AtomicUsize::new(0));
        let runaway: Vec<_> = (0..6)
            .map(|_| {
                let (pool, released, holding) = (pool.clone(), released.clone(), holding.clone());
                runtime.spawn(async move {
                    pool.run("a", move || {
                        holding.fetch_add(1, Ordering::SeqCst);
                        let _ = released.lock().unwrap().recv();
                        holding.fetch_sub(1, Ordering::SeqCst);
                        Ok(())
                    })
                    .await
                })
            })
            .collect();
        while holding.load(Ordering::SeqCst) < 2 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }

        // Contract b is served while a holds its whole share and has four more jobs waiting.
        for _ in 0..3 {
            let served = runtime.block_on(async {
                tokio::time::timeout(std::time::Duration::from_secs(30), pool.run("b", thread_name))
                    .await
            });
            assert!(served.expect("b is served while a saturates").unwrap().starts_with("weft-"));
        }
        assert_eq!(holding.load(Ordering::SeqCst), 2, "a never holds more than its share");

        for _ in 0..6 {
            release.send(()).unwrap();
        }
        for job in runaway {
            runtime.block_on(job).unwrap().unwrap();
        }
        pool.close();
    }
}
