//! # weft-runtime: the sandboxed Wasm contract runtime
//!
//! Contracts are Wasm modules built against `weft-sdk` (ABI: `weft-abi`). This crate checks
//! them at deploy time, compiles and caches them, and runs them deterministically, metered by
//! fuel and bounded in memory and stack, recording what they read and wrote with
//! [`weft_rwset::TxSimulator`]. A run ends in one of three ways:
//!
//! * `Ok(Ok(Simulation))`: the contract succeeded; endorse its read/write set;
//! * `Ok(Err(ContractFailure))`: the contract failed deterministically (trap, out of fuel,
//!   panic, status >= 400, ...), identically on every node; never endorse;
//! * `Err(RuntimeError)`: this node failed (I/O, corrupt cache, deadline); never endorse.
//!
//! ```
//! use std::sync::Arc;
//! use weft_runtime::{Invocation, RuntimeConfig, Simulator};
//! use weft_rwset::MemoryState;
//!
//! // A contract that answers every call with status 200 and the payload "hi".
//! let wasm = wat::parse_str(r#"(module
//!   (import "weft_v1" "set_response" (func $resp (param i32 i32 i32 i32 i32) (result i32)))
//!   (memory (export "memory") 1)
//!   (data (i32.const 0) "hi")
//!   (func (export "weft_init") (result i32) i32.const 0)
//!   (func (export "weft_invoke") (result i32)
//!     (drop (call $resp (i32.const 200) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 2)))
//!     i32.const 0))"#).unwrap();
//!
//! let dir = tempfile::tempdir().unwrap();
//! let sim = Simulator::open(dir.path(), RuntimeConfig::default()).unwrap();
//! let hash = sim.deploy(&wasm).unwrap();
//! let state = Arc::new(MemoryState::default());
//! let outcome = sim.invoke(&hash, &Invocation::new("hello", "greet", &[""; 0]), state, None);
//! let done = outcome.unwrap().unwrap();
//! assert_eq!(done.response.payload, b"hi");
//! assert!(done.fuel_used > 0);
//! ```
//!
//! A thread that must not be held long (an async runtime's worker) runs contracts
//! [`on_leash`]: a run still going 10 to 20 ms after it started ends in
//! [`RuntimeError::Preempted`] and its caller runs it again elsewhere.
//!
//! Deploy-time validation ([`validate`]) decides from the module's bytes alone, including a
//! static measure of what compiling will cost ([`compile_cost`]), so every node installs or
//! refuses the same modules.
//!
//! For contract tests on real `.wasm`, [`Harness`] adds an in-memory ledger around the same
//! [`Simulator`]. `docs/determinism.md` explains every engine switch, the fuel costs (versioned:
//! [`FUEL_PRICES_VERSION`]), the host-memory limit and the one rewrite made to a module before
//! it is compiled (`rewrite.rs`: fills of nothing skip `memset`, growths of 0 the library call).

mod cache;
pub mod compile_cost;
mod engine;
mod error;
mod harness;
mod host;
mod invocation;
mod outcome;
mod rewrite;
mod simulator;
mod validate;

pub use cache::CodeHash;
pub use engine::{
    ALLOWED_FEATURES, BASE_OPERATOR_FUEL, BRANCH_FUEL, DEFAULT_FUEL, FUEL_PRICES_VERSION,
    HOST_FUEL, HostFuel, MEMORY_GROW_FUEL, MEMORY_GROW_NOOP_FUEL, MEMORY_PAGE_FUEL, RuntimeConfig,
    build_config, operator_cost_of, operator_costs,
};
pub use error::{DeployError, Result, RuntimeError};
pub use harness::Harness;
pub use outcome::{ContractFailure, FailureKind, Outcome, Simulation};
pub use simulator::{LEASH_MIN, LEASH_TICKS, Simulator, declare_contract_thread, on_leash};
pub use validate::{ModuleShape, ValidationError, ValidationLimits, validate};
pub use weft_rwset::report::CommittedBlock;
pub use weft_rwset::{Creator, Invocation, SharedHistory, SharedState};
