//! The one place that decides how Wasm executes: [`build_config`] turns a [`RuntimeConfig`] into
//! the `wasmtime::Config` every node uses, and [`operator_costs`] prices each instruction in
//! fuel. A golden-hash test (`tests/golden.rs`) guards both: change anything here that alters
//! execution and it fails.

use std::time::Duration;

use wasmtime::{
    Config, Enabled, InstanceAllocationStrategy, OperatorCost, PoolingAllocationConfig,
    WasmFeatures,
};

use crate::validate::ValidationLimits;

/// Wasm proposals a contract may use: the WebAssembly 2.0 set without SIMD. Rust's
/// `wasm32-unknown-unknown` output uses bulk memory, sign extension, saturating float-to-int,
/// multi-value, mutable globals and (for `call_indirect` encoding) reference types.
pub const ALLOWED_FEATURES: WasmFeatures = WasmFeatures::MUTABLE_GLOBAL
    .union(WasmFeatures::SATURATING_FLOAT_TO_INT)
    .union(WasmFeatures::SIGN_EXTENSION)
    .union(WasmFeatures::REFERENCE_TYPES)
    .union(WasmFeatures::MULTI_VALUE)
    .union(WasmFeatures::BULK_MEMORY)
    .union(WasmFeatures::FLOATS);

/// Proposals switched off in the engine (the validator rejects them first, naming the rule).
const DISABLED_FEATURES: WasmFeatures = WasmFeatures::GC_TYPES
    .union(WasmFeatures::SIMD)
    .union(WasmFeatures::RELAXED_SIMD)
    .union(WasmFeatures::THREADS)
    .union(WasmFeatures::SHARED_EVERYTHING_THREADS)
    .union(WasmFeatures::TAIL_CALL)
    .union(WasmFeatures::MULTI_MEMORY)
    .union(WasmFeatures::EXCEPTIONS)
    .union(WasmFeatures::LEGACY_EXCEPTIONS)
    .union(WasmFeatures::MEMORY64)
    .union(WasmFeatures::EXTENDED_CONST)
    .union(WasmFeatures::FUNCTION_REFERENCES)
    .union(WasmFeatures::GC)
    .union(WasmFeatures::CUSTOM_PAGE_SIZES)
    .union(WasmFeatures::STACK_SWITCHING)
    .union(WasmFeatures::WIDE_ARITHMETIC)
    .union(WasmFeatures::MEMORY_CONTROL)
    .union(WasmFeatures::COMPONENT_MODEL);

/// Default fuel budget of one invocation. With the calibrated costs one fuel unit is about
/// 0.03 ns of work whatever the contract does (see `docs/determinism.md`), so this is roughly
/// 0.15 s of computation: far above what any sample transaction needs (a simple invoke uses a
/// few tens of thousands).
pub const DEFAULT_FUEL: u64 = 5_000_000_000;

/// Version of every fuel price: the operator table ([`operator_cost_of`]), the host-call
/// prices ([`HOST_FUEL`]) and the growth prices ([`MEMORY_GROW_FUEL`] and its neighbours).
/// Prices decide how much fuel an invocation uses and where it runs out, which are part of
/// its result: changing any price, or the pre-compile rewrite (`crate::rewrite`, whose guard
/// runs metered), is a protocol change. Compiled artifacts record it, so a node recompiles
/// what an older version compiled. Bump this with it, update the golden
/// hash (`tests/golden.rs`) and record the change in `docs/determinism.md`.
pub const FUEL_PRICES_VERSION: u32 = 4;

/// Fuel charged by host functions, up front, before they do any work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostFuel {
    /// Charged for every host call.
    pub per_call: u64,
    /// Charged per byte the call reads from or writes to guest memory or state.
    pub per_byte: u64,
    /// Charged per entry the call makes the host record or keep: a read (also each read of a
    /// range), a write, a recorded range, an event, a log line, the response, a history entry.
    pub per_entry: u64,
    /// Charged on top of `per_entry` for a put or delete of a key the write set does not
    /// hold yet: a new entry in an ordered map of up to `MAX_WRITES` keys.
    pub per_write: u64,
    /// Charged for opening an iterator over committed state (range or history).
    pub per_iterator: u64,
    /// Charged for each read of committed state (`state_get`, `range_open`, and `range_next`
    /// of an iterator that is not exhausted): on a peer that is a sled lookup, several times
    /// an in-memory one.
    pub per_state_read: u64,
}

/// Host-call prices, calibrated with `cargo bench -p weft-runtime --bench fuel_floods` so a
/// flood of any one host function exhausts the budget in about the time a flood of plain
/// instructions does (figures in `docs/determinism.md`). Each byte copied is priced like a
/// byte of `memory.copy`.
pub const HOST_FUEL: HostFuel = HostFuel {
    per_call: 1_200,
    per_byte: 1,
    per_entry: 1_500,
    per_write: 5_000,
    per_iterator: 2_500,
    per_state_read: 9_500,
};

/// Everything a node can tune about contract execution. Only the fuel budget may differ per
/// contract (see [`crate::Simulator::set_fuel_limit`]); the rest must be the same on every
/// node of a network, except the wall-clock guard, which never decides a ledger result.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Fuel given to each invocation unless the contract has an override.
    pub fuel_per_invocation: u64,
    /// Largest linear memory (and hence heap) of one instance, in bytes.
    pub max_memory_bytes: usize,
    /// Largest Wasm stack of one invocation, in bytes.
    pub max_wasm_stack: usize,
    /// Native stack of the threads contracts run on. Must exceed `max_wasm_stack` plus room
    /// for host frames; [`crate::Simulator::new`] enforces at least `max_wasm_stack + 1 MiB`.
    pub thread_stack: usize,
    /// Largest table of one instance, in elements.
    pub max_table_elements: usize,
    /// Instances that may exist at once (pooling-allocator slots).
    pub instance_slots: u32,
    /// Bytes of linear memory kept resident in a freed pooling slot; only the pages dirtied
    /// in them are reset, the rest is decommitted with `madvise`. Default 1 MiB: SDK contracts
    /// start with 640 KiB (64 KiB stack, 512 KiB arena, data), and decommitting part of it on
    /// every invocation costs TLB shootdowns that stop simulations from scaling across cores
    /// (measured: 256 KiB gives 9.9 us on 1 thread and 18.7 us per simulation on 2; 1 MiB gives
    /// 7.6 us and 4.0 us).
    pub memory_keep_resident: usize,
    /// Wall-clock guard for one invocation; firing is a node failure, never a result.
    pub wall_clock_deadline: Duration,
    /// Backstop on one compile's wall time: past it the install fails as a node condition
    /// (`DeployError::CompileBudget`), never as a verdict on the module, which the static
    /// compile-cost caps in `limits` decide the same on every node.
    pub compile_budget: Duration,
    /// Compiled modules kept loaded in memory (least recently used are dropped first).
    pub loaded_modules: usize,
    /// Threads running contracts.
    pub worker_threads: usize,
    /// Deploy-time caps on module shape.
    pub limits: ValidationLimits,
}

impl Default for RuntimeConfig {
    fn default() -> RuntimeConfig {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        RuntimeConfig {
            fuel_per_invocation: DEFAULT_FUEL,
            max_memory_bytes: 64 << 20,
            max_wasm_stack: 512 << 10,
            thread_stack: 8 << 20,
            max_table_elements: 1_000,
            instance_slots: 128,
            memory_keep_resident: 1 << 20,
            wall_clock_deadline: Duration::from_secs(10),
            compile_budget: Duration::from_secs(10),
            loaded_modules: 2_048,
            worker_threads: workers,
            limits: ValidationLimits::default(),
        }
    }
}

/// How often the epoch (wall-clock guard) advances.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Builds THE engine configuration for deterministic, metered, bounded execution.
///
/// * fuel metering with calibrated per-operator costs ([`operator_costs`]): the only
///   ledger-visible interruption;
/// * epoch interruption as a wall-clock guard only (its firing is a node failure);
/// * NaN canonicalization, so float results are bit-identical on every CPU;
/// * only [`ALLOWED_FEATURES`]: no SIMD (so no relaxed SIMD), no threads, no GC, no
///   exceptions, no multi-memory, no memory64;
/// * a bounded Wasm stack;
/// * the pooling allocator with one memory and one table per instance, bounded sizes, and a
///   small resident size, so instantiation pays no `mmap`/`munmap`;
/// * no WASI, clock or randomness: the only imports are the host functions of `weft_v1`.
pub fn build_config(cfg: &RuntimeConfig) -> Config {
    let mut c = Config::new();
    c.wasm_features(DISABLED_FEATURES, false);
    c.wasm_features(ALLOWED_FEATURES, true);
    c.relaxed_simd_deterministic(true);
    c.consume_fuel(true);
    c.operator_cost(operator_costs());
    c.epoch_interruption(true);
    c.cranelift_nan_canonicalization(true);
    c.max_wasm_stack(cfg.max_wasm_stack);
    // Backtraces are engine text we never show; skipping them makes traps cheaper.
    c.wasm_backtrace_max_frames(None);
    c.generate_address_map(false);

    let mut pool = PoolingAllocationConfig::new();
    pool.total_core_instances(cfg.instance_slots)
        .total_memories(cfg.instance_slots)
        .total_tables(cfg.instance_slots)
        .max_memories_per_module(1)
        .max_tables_per_module(1)
        .max_memory_size(cfg.max_memory_bytes)
        .table_elements(cfg.max_table_elements)
        .linear_memory_keep_resident(cfg.memory_keep_resident)
        .table_keep_resident(16 << 10)
        // Reset only the pages a call dirtied (Linux 6.7+'s `PAGEMAP_SCAN`; elsewhere the
        // first `memory_keep_resident` bytes are reset whole, as before).
        .pagemap_scan(Enabled::Auto)
        .max_unused_warm_slots(cfg.instance_slots.min(32));
    c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    c
}

/// How an operator class is priced, in fuel units. Calibrated with
/// `cargo bench -p weft-runtime --bench fuel_calibration` (figures in `docs/determinism.md`):
/// one fuel unit is about 0.035 ns of work. Ordinary instructions cost
/// [`BASE_OPERATOR_FUEL`]; calls, divisions and NaN-canonicalized float arithmetic cost what
/// they take; the bulk-memory instructions are library calls with a flat price plus 1 per byte.
pub fn operator_cost_of(name: &str) -> u8 {
    match name {
        // No code is generated for these.
        "Nop" | "Drop" | "Block" | "Loop" | "End" | "Else" | "Unreachable" | "Return" => 0,
        // A library call and, when the size changes, an `mprotect` and page faults: the
        // limiter adds `MEMORY_GROW_FUEL` and `MEMORY_PAGE_FUEL` per page on top.
        "MemoryGrow" | "TableGrow" => 255,
        // Library calls (a wasm-to-host transition each), plus 1 per byte or element.
        "MemoryFill" => 160,
        "TableCopy" | "TableInit" => 200,
        "MemoryInit" | "TableFill" => 15,
        "MemoryCopy" => 8,
        "DataDrop" | "ElemDrop" => 10,
        "TableGet" | "TableSet" => 25,
        "MemorySize" | "TableSize" => 10,
        // A taken branch, and for a loop's back edge the fuel and epoch checks at its header:
        // an empty `(loop (br 0))` spends ~0.5 ns per turn, not the 0.07 of an `i32.add`.
        "Br" | "BrIf" | "BrTable" => BRANCH_FUEL,
        "If" => 10,
        // Entry (fuel load and check, epoch check), frame and return.
        "Call" => 90,
        "CallIndirect" => 140,
        "I32Mul" | "I64Mul" => 16,
        // Register moves and immediates: cheaper than the arithmetic they feed.
        "LocalGet" | "LocalSet" | "LocalTee" | "GlobalGet" | "GlobalSet" | "I32Const"
        | "I64Const" | "F32Const" | "F64Const" => MOVE_OPERATOR_FUEL,
        "I32DivS" | "I32DivU" | "I32RemS" | "I32RemU" | "I64DivS" | "I64DivU" | "I64RemS"
        | "I64RemU" => 80,
        "F32Div" | "F64Div" | "F32Sqrt" | "F64Sqrt" => 255,
        "I32TruncSatF32S" | "I32TruncSatF32U" | "I32TruncSatF64S" | "I32TruncSatF64U"
        | "I64TruncSatF32S" | "I64TruncSatF32U" | "I64TruncSatF64S" | "I64TruncSatF64U"
        | "I32TruncF32S" | "I32TruncF32U" | "I32TruncF64S" | "I32TruncF64U" | "I64TruncF32S"
        | "I64TruncF32U" | "I64TruncF64S" | "I64TruncF64U" => 60,
        "F32Add" | "F32Sub" | "F32Mul" | "F32Min" | "F32Max" | "F32Ceil" | "F32Floor"
        | "F32Trunc" | "F32Nearest" | "F64Add" | "F64Sub" | "F64Mul" | "F64Min" | "F64Max"
        | "F64Ceil" | "F64Floor" | "F64Trunc" | "F64Nearest" | "F32DemoteF64" | "F64PromoteF32"
        | "F32ConvertI32S" | "F32ConvertI32U" | "F32ConvertI64S" | "F32ConvertI64U"
        | "F64ConvertI32S" | "F64ConvertI32U" | "F64ConvertI64S" | "F64ConvertI64U" => 125,
        _ => BASE_OPERATOR_FUEL,
    }
}

/// Fuel of an ordinary instruction (a byte of `memory.fill`/`memory.copy` costs 1). A
/// dependent chain of integer arithmetic runs at about one instruction a cycle.
pub const BASE_OPERATOR_FUEL: u8 = 3;

/// Fuel of a local or global access or a constant, which mostly become register moves or
/// immediates of the arithmetic around them.
pub(crate) const MOVE_OPERATOR_FUEL: u8 = 2;

/// Fuel of a branch (`br`, `br_if`, `br_table`): every loop turn takes one. The fuel and
/// epoch checks at a loop's header make a back edge cost far more than an ordinary
/// instruction; a branch out of blocks pays the same, so a flood of those is overcharged.
pub const BRANCH_FUEL: u8 = 16;

/// Fuel added by the memory limiter for each `memory.grow` that reaches it: the library call
/// costs ~25 ns and a growth that changes the size ~770 ns (an `mprotect`), far more than the
/// 255 an operator can be priced at. It is charged at the next host call or at the end of the
/// invocation; at most `max_memory_bytes / 64 KiB` growths can succeed anyway.
pub const MEMORY_GROW_FUEL: u64 = 20_000;

/// Fuel added for a `memory.grow` or `table.grow` the limiter refuses (and for a table growth,
/// whose elements the operator prices): a library call and the limiter, ~30 ns.
pub const MEMORY_GROW_NOOP_FUEL: u64 = 1_000;

/// Fuel added per 64 KiB page a `memory.grow` adds: growing and touching a page measured
/// ~26 us (16 first-touch page faults), which no instruction price covers.
pub const MEMORY_PAGE_FUEL: u64 = 1_000_000;

/// The calibrated per-operator fuel costs (see [`operator_cost_of`]).
pub fn operator_costs() -> OperatorCost {
    let mut cost = OperatorCost::new();
    macro_rules! set_each {
        ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*) )*) => {
            $( cost.$op = operator_cost_of(stringify!($op)); )*
        };
    }
    wasmparser::for_each_operator!(set_each);
    cost.variable.memory_copy_per_byte = 1;
    // A filled byte costs 1/2: the fill guard (`crate::rewrite`) copies half of them.
    cost.variable.memory_fill_per_byte = 0;
    cost.variable.memory_init_per_byte = 1;
    // Nothing per page asked for: a request past 4 GiB (which the limiter would never see) is
    // answered by the guard (`crate::rewrite`) without a library call; any other request
    // reaches the limiter, which prices the call and the pages actually added
    // (`MEMORY_GROW_NOOP_FUEL`, `MEMORY_PAGE_FUEL`).
    cost.variable.memory_grow_per_page = 0;
    cost.variable.table_copy_per_element = 1;
    cost.variable.table_fill_per_element = 1;
    cost.variable.table_init_per_element = 1;
    cost.variable.table_grow_per_element = 1;
    cost
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_accepts_the_configuration() {
        let engine = wasmtime::Engine::new(&build_config(&RuntimeConfig::default()));
        assert!(engine.is_ok(), "{:?}", engine.err());
    }

    #[test]
    fn costs_price_bulk_memory_and_growth_above_plain_instructions() {
        let c = operator_costs();
        assert_eq!(c.Nop, 0);
        assert_eq!(c.I32Add, BASE_OPERATOR_FUEL);
        assert!(c.MemoryFill > 10 * BASE_OPERATOR_FUEL);
        assert!(c.MemoryGrow > c.MemoryFill);
        assert!(c.F64Div > c.F64Add && c.F64Add > c.I64Add);
        assert_eq!(c.variable.memory_grow_per_page, 0, "the limiter prices growth");
        assert!(c.Br >= 5 * BASE_OPERATOR_FUEL, "a loop turn costs far more than an add");
        assert!(c.LocalGet < c.I32Add && c.I32Const < c.I32Add);
        assert_eq!(c.variable.memory_fill_per_byte, 0, "the fill guard prices the bytes");
    }
}
