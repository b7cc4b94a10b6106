//! [`Simulator`]: deploys contracts and runs init, invoke and query against a committed-state
//! snapshot, on threads whose native stack is known to exceed the Wasm stack limit.

use std::cell::Cell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use wasmtime::{Engine, Extern, Linker, Module, ResourceLimiter, Store, Trap};
use weft_rwset::Mode;

use crate::cache::{CodeHash, LoadedContract, ModuleCache};
use crate::engine::{
    EPOCH_TICK, HOST_FUEL, MEMORY_GROW_FUEL, MEMORY_GROW_NOOP_FUEL, MEMORY_PAGE_FUEL,
    RuntimeConfig, build_config,
};
use crate::error::{DeployError, Result, RuntimeError};
use crate::host::{StoreData, linker};
use crate::invocation::{HostStop, InvocationState};
use crate::outcome::{ContractFailure, FailureKind, Outcome, Simulation};
use crate::validate::{ModuleShape, validate};
use weft_rwset::{Invocation, SharedHistory, SharedState};

/// Which entry point to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    Init,
    Invoke,
}

thread_local! {
    /// Native stack size of the current thread, if it was spawned by this crate or declared
    /// with [`declare_contract_thread`].
    static CONTRACT_STACK: Cell<usize> = const { Cell::new(0) };
}

/// Declares that the current thread was created with a native stack of `stack` bytes, so
/// that simulations called on it run inline (no hand-off to the worker pool) when `stack` is
/// at least the configured [`RuntimeConfig::thread_stack`]. For threads this crate did not
/// spawn: e.g. an async runtime's workers built with that stack size (call it from the
/// runtime's thread-start hook). A wrong claim cannot corrupt memory: a Wasm stack deeper
/// than the thread's would hit the thread's guard page and abort the process.
pub fn declare_contract_thread(stack: usize) {
    CONTRACT_STACK.with(|s| s.set(stack));
}

thread_local! {
    /// Whether runs on the current thread are on a leash ([`on_leash`]).
    static LEASHED: Cell<bool> = const { Cell::new(false) };
}

/// Epoch ticks a run on a leash may last: it is cut short at the second tick after it
/// started, 10 to 20 ms into the run (the epoch advances every 10 ms).
pub const LEASH_TICKS: u64 = 2;

/// The shortest run a leash can cut: one epoch tick (a cut comes at the second tick after
/// the start, so a whole tick has passed). A run cut short that then takes less than this
/// on its own was cut because its thread waited (the machine busy), not for its work.
pub const LEASH_MIN: Duration = EPOCH_TICK;

/// Calls `f` with every simulation it makes on this thread on a leash: a run still going
/// [`LEASH_TICKS`] epoch ticks after it started is cut short and ends in
/// [`RuntimeError::Preempted`], its result thrown away. For threads that must not be held
/// for long, such as an async runtime's workers: the caller runs the job again where it may
/// take its whole budget. Nothing a leashed run did is kept (a simulation writes nothing),
/// except the lines it logged, which the run again logs a second time.
pub fn on_leash<R>(f: impl FnOnce() -> R) -> R {
    /// Puts back what the thread was before, also if `f` panics.
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            LEASHED.with(|leashed| leashed.set(self.0));
        }
    }
    let _restore = Restore(LEASHED.with(|leashed| leashed.replace(true)));
    f()
}

type Job = Box<dyn FnOnce() + Send>;

struct Inner {
    config: RuntimeConfig,
    engine: Engine,
    linker: Linker<StoreData>,
    cache: ModuleCache,
    compile_lock: Arc<Mutex<()>>,
    fuel_limits: RwLock<HashMap<CodeHash, u64>>,
    jobs: Mutex<Option<Sender<Job>>>,
    _epoch: Sender<()>,
}

/// Runs contracts: deploy, then init, invoke (endorsement) and query (evaluate).
///
/// Cheap to clone; clones share the engine, cache and threads. Every call returns
/// `Result<Outcome>`: the outer error is a node failure (never endorsed), the inner
/// [`Outcome`] is what the contract deterministically did.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

fn engine_err(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Engine(e.to_string())
}

impl Simulator {
    /// Opens a simulator whose compiled modules live in `contract_dir` (created if missing).
    /// Modules stored there by an earlier run are loaded on first use without recompiling.
    pub fn open(contract_dir: &Path, mut config: RuntimeConfig) -> Result<Simulator> {
        config.thread_stack = config.thread_stack.max(config.max_wasm_stack + (1 << 20));
        let engine = Engine::new(&build_config(&config)).map_err(engine_err)?;
        let linker = linker(&engine).map_err(engine_err)?;
        let cache = ModuleCache::open(contract_dir, config.loaded_modules)?;

        let (epoch_tx, epoch_rx) = mpsc::channel::<()>();
        let ticker = engine.clone();
        std::thread::Builder::new()
            .name("weft-epoch".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = epoch_rx.recv_timeout(EPOCH_TICK) {
                    ticker.increment_epoch();
                }
            })
            .map_err(io_err("spawning the epoch thread"))?;

        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        for i in 0..config.worker_threads.max(1) {
            let rx = job_rx.clone();
            spawn_with_stack(format!("weft-contract-{i}"), config.thread_stack, move || {
                worker(&rx)
            })
            .map_err(io_err("spawning a contract thread"))?;
        }
        Ok(Simulator {
            inner: Arc::new(Inner {
                config,
                engine,
                linker,
                cache,
                compile_lock: Arc::new(Mutex::new(())),
                fuel_limits: RwLock::new(HashMap::new()),
                jobs: Mutex::new(Some(job_tx)),
                _epoch: epoch_tx,
            }),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// Validates, compiles and stores a module; returns its code hash. Deploying the same bytes
    /// again is a no-op. A refused module leaves nothing behind.
    pub fn deploy(&self, wasm: &[u8]) -> Result<CodeHash, DeployError> {
        let hash = CodeHash::of(wasm);
        if self.inner.cache.get(&hash).is_some() || self.load(&hash).is_ok() {
            return Ok(hash);
        }
        let shape = validate(wasm, &self.inner.config.limits)?;
        tracing::debug!(%hash, ?shape, "module passed deploy-time validation");
        let module = self.compile(wasm)?;
        let artifact = module.serialize().map_err(|e| DeployError::Compile(e.to_string()))?;
        let loaded = Arc::new(LoadedContract::new(&self.inner.linker, &module)?);
        self.inner.cache.store(&hash, wasm, &artifact)?;
        self.inner.cache.insert(hash, loaded);
        tracing::info!(%hash, bytes = wasm.len(), "contract deployed");
        Ok(hash)
    }

    /// Checks a module against the deploy-time rules without compiling or storing it.
    pub fn validate(&self, wasm: &[u8]) -> Result<ModuleShape, DeployError> {
        Ok(validate(wasm, &self.inner.config.limits)?)
    }

    /// Compiles on a separate thread, one compile at a time, within the compile budget.
    fn compile(&self, wasm: &[u8]) -> Result<Module, DeployError> {
        let budget = self.inner.config.compile_budget;
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel();
        let engine = self.inner.engine.clone();
        let lock = self.inner.compile_lock.clone();
        // What is compiled is the module with its fills and growths guarded (`rewrite.rs`).
        let bytes = crate::rewrite::guard(wasm).map_err(DeployError::Compile)?.into_owned();
        spawn_with_stack("weft-compile".into(), self.inner.config.thread_stack, move || {
            let _one_at_a_time = lock.lock().unwrap_or_else(|e| e.into_inner());
            let _ = started_tx.send(());
            let _ = done_tx.send(Module::new(&engine, &bytes).map_err(|e| e.to_string()));
        })
        .map_err(io_err("spawning the compile thread"))?;
        started_rx.recv().map_err(|_| DeployError::Compile("compile thread failed".into()))?;
        match done_rx.recv_timeout(budget) {
            Ok(Ok(module)) => Ok(module),
            Ok(Err(message)) => Err(DeployError::Compile(message)),
            Err(RecvTimeoutError::Timeout) => Err(DeployError::CompileBudget(budget)),
            Err(RecvTimeoutError::Disconnected) => {
                Err(DeployError::Compile("compile thread failed".into()))
            }
        }
    }

    /// Makes a stored contract ready to run, loading its artifact without compiling. If the
    /// artifact was built by another engine version, the stored module is recompiled.
    pub fn load(&self, hash: &CodeHash) -> Result<()> {
        self.loaded(hash).map(|_| ())
    }

    /// Loads every stored contract (for example at startup). Returns how many there are.
    pub fn load_all(&self) -> Result<usize> {
        let stored = self.inner.cache.stored()?;
        for hash in &stored {
            self.load(hash)?;
        }
        Ok(stored.len())
    }

    /// Whether a contract with this hash is deployed on this node.
    pub fn is_deployed(&self, hash: &CodeHash) -> bool {
        self.inner.cache.get(hash).is_some() || self.inner.cache.is_stored(hash)
    }

    /// Number of contracts loaded in memory.
    pub fn loaded_contracts(&self) -> usize {
        self.inner.cache.loaded_len()
    }

    fn loaded(&self, hash: &CodeHash) -> Result<Arc<LoadedContract>> {
        if let Some(c) = self.inner.cache.get(hash) {
            return Ok(c);
        }
        let module = match self.inner.cache.load_artifact(&self.inner.engine, hash)? {
            None => return Err(RuntimeError::UnknownContract(hash.to_hex())),
            Some(Ok(module)) => module,
            Some(Err(stale)) => {
                tracing::warn!(%hash, %stale, "cached artifact is stale; recompiling");
                let wasm =
                    self.inner.cache.wasm(hash)?.ok_or_else(|| RuntimeError::CorruptCache {
                        hash: hash.to_hex(),
                        reason: "stale artifact and no stored module".into(),
                    })?;
                let module = self.compile(&wasm).map_err(|e| RuntimeError::CorruptCache {
                    hash: hash.to_hex(),
                    reason: e.to_string(),
                })?;
                let artifact = module.serialize().map_err(engine_err)?;
                self.inner.cache.store(hash, &wasm, &artifact)?;
                module
            }
        };
        let loaded = Arc::new(LoadedContract::new(&self.inner.linker, &module)?);
        self.inner.cache.insert(*hash, loaded.clone());
        Ok(loaded)
    }

    /// Sets (or with `None` clears) the fuel budget of one contract's invocations.
    pub fn set_fuel_limit(&self, hash: &CodeHash, fuel: Option<u64>) {
        let mut limits = self.inner.fuel_limits.write().unwrap_or_else(|e| e.into_inner());
        match fuel {
            Some(f) => limits.insert(*hash, f),
            None => limits.remove(hash),
        };
    }

    fn fuel_for(&self, hash: &CodeHash) -> u64 {
        let limits = self.inner.fuel_limits.read().unwrap_or_else(|e| e.into_inner());
        limits.get(hash).copied().unwrap_or(self.inner.config.fuel_per_invocation)
    }

    /// Runs the contract's init function. Writes are recorded, never applied.
    pub fn init(
        &self,
        contract: &CodeHash,
        invocation: impl Into<Arc<Invocation>>,
        state: SharedState,
        history: Option<SharedHistory>,
    ) -> Result<Outcome> {
        self.run(contract, Entry::Init, Mode::Invoke, invocation, state, history)
    }

    /// Simulates a transaction for endorsement: runs `invocation.function` and returns the
    /// response, read/write set, events and fuel used. Committed state is never written.
    /// `invocation` is given by value or as an `Arc` where the caller has no further use
    /// for it (the run keeps it without a copy), or borrowed (copied); so for
    /// [`Simulator::init`] and [`Simulator::query`].
    pub fn invoke(
        &self,
        contract: &CodeHash,
        invocation: impl Into<Arc<Invocation>>,
        state: SharedState,
        history: Option<SharedHistory>,
    ) -> Result<Outcome> {
        self.run(contract, Entry::Invoke, Mode::Invoke, invocation, state, history)
    }

    /// Evaluates a read-only query: a `put` or `del` makes the outcome a
    /// [`FailureKind::WriteDuringQuery`] failure.
    pub fn query(
        &self,
        contract: &CodeHash,
        invocation: impl Into<Arc<Invocation>>,
        state: SharedState,
        history: Option<SharedHistory>,
    ) -> Result<Outcome> {
        self.run(contract, Entry::Invoke, Mode::Query, invocation, state, history)
    }

    /// Whether simulations called on the current thread run inline (it has the configured
    /// contract stack: spawned by [`Simulator::spawn_contract_thread`] or declared with
    /// [`declare_contract_thread`]).
    pub fn runs_inline_here(&self) -> bool {
        CONTRACT_STACK.with(Cell::get) >= self.inner.config.thread_stack
    }

    /// Spawns a thread with the configured contract stack on which simulations run inline,
    /// without a hand-off to the worker pool. Nodes run their endorsement loops on these.
    pub fn spawn_contract_thread<F, T>(
        &self,
        name: &str,
        f: F,
    ) -> std::io::Result<std::thread::JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        spawn_with_stack(name.to_owned(), self.inner.config.thread_stack, f)
    }

    fn run(
        &self,
        contract: &CodeHash,
        entry: Entry,
        mode: Mode,
        invocation: impl Into<Arc<Invocation>>,
        state: SharedState,
        history: Option<SharedHistory>,
    ) -> Result<Outcome> {
        let input = invocation.into();
        if let Err(rule) = input.check_limits() {
            return Ok(Err(ContractFailure::new(FailureKind::InvalidInput, rule)));
        }
        let loaded = self.loaded(contract)?;
        let fuel = self.fuel_for(contract);
        let inner = self.inner.clone();
        let job = move || execute(&inner, &loaded, entry, mode, input, state, history, fuel);
        if self.runs_inline_here() {
            return job();
        }
        let (tx, rx) = mpsc::sync_channel(1);
        let sender = {
            let jobs = self.inner.jobs.lock().unwrap_or_else(|e| e.into_inner());
            jobs.clone().ok_or(RuntimeError::WorkersGone)?
        };
        sender
            .send(Box::new(move || {
                let _ = tx.send(job());
            }))
            .map_err(|_| RuntimeError::WorkersGone)?;
        rx.recv().map_err(|_| RuntimeError::WorkersGone)?
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the job channel stops the workers; dropping `_epoch` stops the ticker.
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

fn io_err(context: &'static str) -> impl FnOnce(std::io::Error) -> RuntimeError {
    move |source| {
        tracing::error!(context, %source, "thread spawn failed");
        RuntimeError::Thread(source)
    }
}

fn spawn_with_stack<F, T>(
    name: String,
    stack: usize,
    f: F,
) -> std::io::Result<std::thread::JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    std::thread::Builder::new().name(name).stack_size(stack).spawn(move || {
        CONTRACT_STACK.with(|s| s.set(stack));
        f()
    })
}

fn worker(jobs: &Mutex<Receiver<Job>>) {
    loop {
        let job = {
            let rx = jobs.lock().unwrap_or_else(|e| e.into_inner());
            rx.recv()
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

impl ResourceLimiter for StoreData {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = desired <= self.inv.max_memory_bytes;
        self.inv.limit_hit |= !ok;
        // Initial allocation at instantiation is not a `memory.grow`.
        if self.memory.is_some() {
            let price = if ok && desired > current {
                let pages = ((desired - current) / (64 << 10)) as u64;
                MEMORY_GROW_FUEL + pages * MEMORY_PAGE_FUEL
            } else {
                MEMORY_GROW_NOOP_FUEL
            };
            self.owe(price)?;
        }
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = desired <= self.inv.max_table_elements;
        self.inv.limit_hit |= !ok;
        // Elements are priced by the operator table; the library call is priced here.
        if self.memory.is_some() {
            self.owe(MEMORY_GROW_NOOP_FUEL)?;
        }
        Ok(ok)
    }
}

impl StoreData {
    /// Owes `units` for a growth; past the fuel left, the invocation ends out of fuel (the
    /// growth traps, and the stop says why).
    fn owe(&mut self, units: u64) -> wasmtime::Result<()> {
        self.inv.meter.owe(units).map_err(|stop| {
            self.inv.stop = Some(stop.into());
            wasmtime::Error::msg("out of fuel")
        })
    }
}

/// Runs one invocation on the current thread (which must have the contract stack).
#[allow(clippy::too_many_arguments)]
fn execute(
    inner: &Inner,
    loaded: &LoadedContract,
    entry: Entry,
    mode: Mode,
    input: Arc<Invocation>,
    state: SharedState,
    history: Option<SharedHistory>,
    fuel: u64,
) -> Result<Outcome> {
    let started = Instant::now();
    let mut inv = InvocationState::new(input, state, history, mode, HOST_FUEL);
    inv.meter.fuel = fuel;
    inv.max_memory_bytes = inner.config.max_memory_bytes;
    inv.max_table_elements = inner.config.max_table_elements;
    let mut store = Store::new(&inner.engine, StoreData { inv, memory: None });
    store.limiter(|data| data as &mut dyn ResourceLimiter);
    store.set_fuel(fuel).map_err(engine_err)?;
    let leashed = LEASHED.with(Cell::get);
    let ticks = inner.config.wall_clock_deadline.as_nanos() / EPOCH_TICK.as_nanos() + 1;
    let ticks = u64::try_from(ticks).unwrap_or(u64::MAX);
    store.set_epoch_deadline(if leashed { ticks.min(LEASH_TICKS) } else { ticks });
    store.epoch_deadline_trap();

    let result = (|| {
        let instance = loaded.pre.instantiate(&mut store)?;
        if let Some(Extern::Memory(memory)) = instance.get_module_export(&mut store, &loaded.memory)
        {
            store.data_mut().memory = Some(memory);
        }
        let export = match entry {
            Entry::Init => &loaded.init,
            Entry::Invoke => &loaded.invoke,
        };
        let func = instance
            .get_module_export(&mut store, export)
            .and_then(Extern::into_func)
            .ok_or_else(|| wasmtime::Error::msg("entry point missing"))?;
        func.typed::<(), i32>(&store)?.call(&mut store, ())
    })();
    let mut fuel_used = fuel - store.get_fuel().unwrap_or(0);
    let mut data = store.into_data();
    // Growth not yet paid for at a host call is paid now; past the budget it is out of fuel.
    fuel_used = fuel_used.saturating_add(std::mem::take(&mut data.inv.meter.debt));
    let stop = data.inv.stop.take();
    let outcome = match result {
        Ok(_) if fuel_used > fuel => {
            Ok(Err(ContractFailure::new(FailureKind::OutOfFuel, "out of fuel")))
        }
        Ok(code) => completed(data, code, fuel_used),
        Err(err) => match classify(err, stop, data.inv.limit_hit) {
            Err(RuntimeError::Deadline) if leashed => Err(RuntimeError::Preempted),
            classified => classified.map(Err),
        },
    }?;
    let fuel_used = fuel_used.min(fuel);
    let outcome = outcome.map_err(|mut failure| {
        failure.fuel_used = fuel_used;
        failure
    });
    tracing::trace!(elapsed = ?started.elapsed(), fuel_used, ok = outcome.is_ok(), "invocation");
    Ok(outcome)
}

/// The contract returned normally: decide success or failure from what it recorded.
fn completed(data: StoreData, code: i32, fuel_used: u64) -> Result<Outcome> {
    if code != weft_abi::export::COMPLETED {
        return Ok(Err(ContractFailure::new(
            FailureKind::AbiMisuse,
            format!("entry point returned {code}, not {}", weft_abi::export::COMPLETED),
        )));
    }
    let recorded = match data.inv.finish() {
        Ok(r) => r,
        Err(HostStop::Node(e)) => return Err(RuntimeError::State(e)),
        Err(HostStop::Contract(kind, message)) => {
            return Ok(Err(ContractFailure::new(kind, message)));
        }
    };
    if recorded.wrote_during_query {
        return Ok(Err(ContractFailure::new(
            FailureKind::WriteDuringQuery,
            "state cannot be written during a query",
        )));
    }
    let Some(response) = recorded.response else {
        return Ok(Err(ContractFailure::new(
            FailureKind::AbiMisuse,
            "the contract returned without setting a response",
        )));
    };
    if response.status >= weft_abi::status::ERROR_THRESHOLD {
        return Ok(Err(ContractFailure {
            kind: FailureKind::ErrorStatus,
            status: response.status,
            message: response.message,
            payload: response.payload,
            fuel_used,
        }));
    }
    Ok(Ok(Simulation {
        response,
        rwset: recorded.rwset,
        events: recorded.events,
        fuel_used,
        logs: recorded.logs,
    }))
}

/// THE conversion deciding on which side an execution error lands: a deterministic contract
/// failure with a stable message, or a node failure.
fn classify(
    err: wasmtime::Error,
    stop: Option<HostStop>,
    limit_hit: bool,
) -> Result<ContractFailure> {
    match stop {
        Some(HostStop::Contract(kind, message)) => return Ok(ContractFailure::new(kind, message)),
        Some(HostStop::Node(e)) => return Err(RuntimeError::State(e)),
        None => {}
    }
    let Some(trap) = err.downcast_ref::<Trap>().copied() else {
        if limit_hit {
            return Ok(ContractFailure::new(FailureKind::MemoryLimit, "memory limit exceeded"));
        }
        return Err(engine_err(format!("{err:#}")));
    };
    let (kind, message) = match trap {
        Trap::OutOfFuel => (FailureKind::OutOfFuel, "out of fuel"),
        Trap::Interrupt => return Err(RuntimeError::Deadline),
        Trap::StackOverflow => (FailureKind::StackOverflow, "stack limit exceeded"),
        _ if limit_hit => (FailureKind::MemoryLimit, "memory limit exceeded"),
        Trap::MemoryOutOfBounds => (FailureKind::Trap, "out-of-bounds memory access"),
        Trap::TableOutOfBounds => (FailureKind::Trap, "out-of-bounds table access"),
        Trap::IndirectCallToNull => (FailureKind::Trap, "indirect call to a null entry"),
        Trap::BadSignature => (FailureKind::Trap, "indirect call signature mismatch"),
        Trap::IntegerOverflow => (FailureKind::Trap, "integer overflow"),
        Trap::IntegerDivisionByZero => (FailureKind::Trap, "integer division by zero"),
        Trap::BadConversionToInteger => (FailureKind::Trap, "invalid conversion to integer"),
        Trap::UnreachableCodeReached => (FailureKind::Trap, "unreachable executed"),
        _ => (FailureKind::Trap, "trap"),
    };
    Ok(ContractFailure::new(kind, message))
}
