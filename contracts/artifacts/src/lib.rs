//! # weft-contract-artifacts: the workspace's contracts, built to `.wasm`
//!
//! The build script compiles every contract crate listed in its `CONTRACTS` table to
//! `wasm32-unknown-unknown` with `--profile contract` (the deployable, size-oriented build) in
//! a nested `cargo build`, and this crate exposes one path constant per contract plus
//! [`ALL`]. Tests and benchmarks of the host load real contract modules from here, so every
//! `cargo test` runs against the `.wasm` the current sources produce.
//!
//! ```
//! let wasm = std::fs::read(weft_contract_artifacts::KV).unwrap();
//! assert_eq!(&wasm[..4], b"\0asm");
//! assert!(weft_contract_artifacts::ALL.iter().any(|c| c.package == "asset-transfer"));
//! ```
//!
//! To add a contract (a sample or a host-test fixture such as `contracts/misbehave/*`): create
//! the crate (crate-type `["cdylib", "rlib"]`), add it to the workspace members, and add one
//! line to `CONTRACTS` in `build.rs`. The constant is the package name in upper snake case.

/// Why a contract is in the workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A sample contract users read and port. Held to the size limit.
    Sample,
    /// A contract that exists to test the host (it may misbehave on purpose).
    Fixture,
}

/// One built contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Contract {
    /// The Cargo package name.
    pub package: &'static str,
    /// Absolute path of the `.wasm` file.
    pub path: &'static str,
    /// Sample or fixture.
    pub kind: Kind,
}

/// The largest a sample contract's release `.wasm` may be, in bytes.
pub const MAX_SAMPLE_SIZE: u64 = 150 * 1024;

include!(concat!(env!("OUT_DIR"), "/contracts.rs"));

/// A hand-written contract (WAT text) whose every invocation emits the event `Ping` with payload
/// `hi` and answers `hi`: the sample contracts emit no events, and event streams need some.
pub const PINGER_WAT: &str = r#"(module
  (import "weft_v1" "set_response" (func $resp (param i32 i32 i32 i32 i32) (result i32)))
  (import "weft_v1" "emit_event" (func $emit (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "hi")
  (data (i32.const 8) "Ping")
  (func (export "weft_init") (result i32) i32.const 0)
  (func (export "weft_invoke") (result i32)
    (drop (call $emit (i32.const 8) (i32.const 4) (i32.const 0) (i32.const 2)))
    (drop (call $resp (i32.const 200) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 2)))
    i32.const 0))"#;

/// Where a Rust-built module's shadow stack starts, which is its size: rustc places the stack
/// first in linear memory, and its pointer is the first global (a mutable `i32`). `None` if the
/// module does not have that shape. The SDK's fast path gives 64 KiB (`.cargo/config.toml`).
pub fn shadow_stack_size(wasm: &[u8]) -> Option<i32> {
    use wasmparser::{Operator, Parser, Payload, ValType};
    Parser::new(0).parse_all(wasm).find_map(|payload| match payload.ok()? {
        Payload::GlobalSection(reader) => {
            let global = reader.into_iter().next()?.ok()?;
            if !global.ty.mutable || global.ty.content_type != ValType::I32 {
                return None;
            }
            match global.init_expr.get_operators_reader().read().ok()? {
                Operator::I32Const { value } => Some(value),
                _ => None,
            }
        }
        _ => None,
    })
}
