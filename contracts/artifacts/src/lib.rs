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

/// A hand-written contract (WAT text) whose texts carry control characters: every invocation
/// logs [`CONTROL_TEXT`]; function `Abort` aborts (panics) with `boom\n\x1b[2J\xff`
/// (invalid UTF-8 at the end), `Error` answers status 500 with message [`CONTROL_TEXT`], any
/// other function answers 200 with it. What reaches logs and clients must be escaped.
pub const CONTROL_TEXT_WAT: &str = r#"(module
  (import "weft_v1" "tx_field" (func $tx_field (param i32) (result i64)))
  (import "weft_v1" "take_result" (func $take (param i32 i32) (result i32)))
  (import "weft_v1" "set_response" (func $resp (param i32 i32 i32 i32 i32) (result i32)))
  (import "weft_v1" "log" (func $log (param i32 i32 i32) (result i32)))
  (import "weft_v1" "abort" (func $abort (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "ok\n\1b[31mforged\e2\80\ae!")
  (data (i32.const 32) "boom\n\1b[2J\ff")
  (func (export "weft_init") (result i32) i32.const 0)
  (func (export "weft_invoke") (result i32)
    (drop (call $take (i32.const 1000) (i32.wrap_i64 (call $tx_field (i32.const 0)))))
    (drop (call $log (i32.const 3) (i32.const 0) (i32.const 18)))
    (if (i32.eq (i32.load8_u (i32.const 1000)) (i32.const 65))
      (then (call $abort (i32.const 32) (i32.const 10))))
    (if (i32.eq (i32.load8_u (i32.const 1000)) (i32.const 69)) (then
      (drop (call $resp (i32.const 500) (i32.const 0) (i32.const 18) (i32.const 0) (i32.const 0)))
      (return (i32.const 0))))
    (drop (call $resp (i32.const 200) (i32.const 0) (i32.const 18) (i32.const 0) (i32.const 0)))
    i32.const 0))"#;

/// The message [`CONTROL_TEXT_WAT`] logs and answers: a newline, an ANSI colour, a
/// right-to-left override.
pub const CONTROL_TEXT: &[u8] = b"ok\n\x1b[31mforged\xe2\x80\xae!";

/// [`CONTROL_TEXT`] as the host escapes it.
pub const CONTROL_TEXT_ESCAPED: &str = "ok\\n\\u{1b}[31mforged\\u{202e}!";

/// [`CONTROL_TEXT_WAT`]'s abort message as the host escapes it.
pub const CONTROL_ABORT_ESCAPED: &str = "boom\\n\\u{1b}[2J\u{FFFD}";

/// A hostile module (WAT text) built to be slow to compile while it passes the deploy-time caps
/// on module size, functions, body size, locals and `br_table`s: `functions` functions, each
/// with `locals` `i64` locals, nesting `depth` blocks and then holding `branches` `br_if`s,
/// the i-th to label `i % depth` (so branches leave every level), each after an update of one
/// local so many values stay live across the branches. About 11 bytes per branch with locals,
/// 4 without. The deploy-time compile-cost bound must refuse the large ones.
pub fn branch_flood_wat(functions: usize, depth: usize, branches: usize, locals: usize) -> String {
    let mut funcs = String::new();
    for _ in 0..functions {
        funcs.push_str("(func (param i32) (result i32)");
        if locals > 0 {
            funcs.push_str(&format!(" (local{})", " i64".repeat(locals)));
        }
        funcs.push_str(&" block".repeat(depth));
        for i in 0..branches {
            if locals > 0 {
                let l = 1 + i % locals;
                funcs.push_str(&format!(" local.get {l} i64.const 1 i64.add local.set {l}"));
            }
            funcs.push_str(&format!(" local.get 0 br_if {}", i % depth.max(1)));
        }
        funcs.push_str(&" end".repeat(depth));
        funcs.push_str(" i32.const 0)\n");
    }
    format!(
        r#"(module {funcs} (memory (export "memory") 1)
            (func (export "weft_init") (result i32) i32.const 0)
            (func (export "weft_invoke") (result i32) i32.const 0))"#
    )
}

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
