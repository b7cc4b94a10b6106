//! # weft-sdk: write Weft smart contracts in Rust
//!
//! A contract is a plain `impl` block. `#[weft_sdk::contract]` makes each `#[transaction]`
//! method a named transaction function, parses its arguments, turns its result into the
//! response, and generates the Wasm exports; the crate builds to `wasm32-unknown-unknown` for
//! the peer and runs natively, unchanged, in `cargo test` through [`testing::MockStub`], which
//! records read/write sets exactly as a peer does.
//!
//! ```
//! use weft_sdk::serde::{Deserialize, Serialize};
//! use weft_sdk::{Context, ContractError, serde_json, testing::MockStub};
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! #[serde(crate = "weft_sdk::serde")]
//! struct Note { text: String, stars: u32 }
//!
//! #[derive(Default)]
//! struct Notes;
//!
//! #[weft_sdk::contract]
//! impl Notes {
//!     /// Called as `Write`: arguments are strings, numbers, or JSON for other types.
//!     #[transaction]
//!     fn write(&self, ctx: &mut Context, id: String, note: Note) -> Result<(), ContractError> {
//!         if ctx.get(&id)?.is_some() {
//!             return Err(ContractError::new(format!("note {id} already exists")));
//!         }
//!         ctx.put(&id, serde_json::to_vec(&note)?)?;
//!         ctx.set_event("NoteWritten", id.as_bytes())?;
//!         Ok(())
//!     }
//!
//!     /// Called as `Read`: the result is returned as JSON.
//!     #[transaction]
//!     fn read(&self, ctx: &mut Context, id: String) -> Result<Note, ContractError> {
//!         let bytes = ctx.get(&id)?.ok_or_else(|| ContractError::new("no such note"))?;
//!         Ok(serde_json::from_slice(&bytes)?)
//!     }
//! }
//!
//! let mut stub = MockStub::new("notes", Notes);
//! let tx = stub.submit("Write", &["n1", r#"{"text":"hi","stars":3}"#]);
//! assert!(tx.is_success(), "{}", tx.message());
//! assert_eq!(tx.events[0].name, "NoteWritten");
//! assert_eq!(tx.rwset.writes[0].key, b"n1");
//! assert_eq!(stub.query("Read", &["n1"]).json::<Note>(), Note { text: "hi".into(), stars: 3 });
//! // Errors become responses with status 500.
//! let again = stub.invoke("Write", &["n1", r#"{"text":"x","stars":1}"#]);
//! assert_eq!((again.response.status, again.message()), (500, "note n1 already exists"));
//! ```
//!
//! ## What a contract can reach
//!
//! Everything goes through [`Context`]: the call's function and arguments, transaction id,
//! channel, the creator ([`Creator`]: organization, [`Role`], stable id `MSP::name` and
//! attributes, with `assert_*` checks for access control), the proposal's timestamp, transient data, state (`get`, `put`, `del`,
//! ranges, composite keys, history) and events. There is no clock, randomness, floating point
//! or I/O in this API: every peer must compute the same result.
//!
//! Rules a contract author must know (they are the peer's, and [`testing::MockStub`] follows
//! them exactly): a transaction never reads its own writes (`get` after `put` returns the
//! committed value); writing an empty value deletes; a range scan is recorded and re-checked at
//! commit, up to the last key the contract consumed if it stopped early.
//!
//! A panic becomes an error response carrying the panic message, on the peer and in tests.
//!
//! ## JSON
//!
//! The SDK re-exports the [`serde`] and [`serde_json`] it is built with, so a contract needs
//! no other dependency and uses the same versions the SDK is tested with. Types that derive
//! `Serialize` or `Deserialize` through the re-export name it with
//! `#[serde(crate = "weft_sdk::serde")]`, as in the example above.
//!
//! ## The fast path
//!
//! On wasm32 the SDK installs a bump allocator over a static arena of [`ARENA_SIZE`] bytes
//! (feature `fast-alloc`, on by default; `default-features = false` turns it off), so ordinary
//! calls never execute `memory.grow`. Together with a 64 KiB stack (linker flag
//! `-zstack-size=65536`, which `weft contract build` passes) a fresh instance costs a fraction of
//! what a default Rust module costs. See `docs/writing-contracts.md`.

mod alloc;
mod backend;
pub mod composite;
mod context;
mod contract;
mod error;
mod identity;
mod response;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

#[doc(hidden)]
pub mod __private;

pub use alloc::ARENA_SIZE;
pub use context::{Context, HistoryIter, KeyModification, KeyValue, RangeIter};
pub use contract::Contract;
pub use error::{ContractError, Error, Result, ResultExt};
pub use identity::{Creator, FORBIDDEN, Role};
pub use response::Response;
/// The `serde` the SDK is built with, for contracts' own types (derive with
/// `#[serde(crate = "weft_sdk::serde")]`).
pub use serde;
/// The `serde_json` the SDK is built with.
pub use serde_json;
pub use weft_abi::{LogLevel, Timestamp};
pub use weft_sdk_macros::contract;
