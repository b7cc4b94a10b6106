//! Misbehave fixture: `Raw` abuses the ABI through `weft_abi::sys` directly (out-of-bounds
//! pointers, oversized keys and values, thousands of open iterators, writes during a query).

use weft_sdk::{Context, ContractError};

/// The fixture.
#[derive(Default)]
pub struct Raw;

#[cfg(target_arch = "wasm32")]
mod abuse {
    use weft_abi::sys;

    /// `state_get` with a pointer far past the end of memory (traps: ABI misuse).
    pub(crate) fn bad_pointer() -> i64 {
        // SAFETY: a fixture: the host must refuse the pointer without touching memory.
        unsafe { sys::state_get(0xFFFF_FF00, 0x1000) }
    }

    /// Return codes of an oversized key and an oversized value.
    pub(crate) fn oversized() -> (i32, i32) {
        let key = vec![b'k'; weft_abi::limits::MAX_KEY_LEN as usize + 1];
        let value = vec![b'v'; weft_abi::limits::MAX_VALUE_LEN as usize + 1];
        // SAFETY: both buffers are live and their lengths are exact.
        unsafe {
            (
                sys::state_put(key.as_ptr() as u32, key.len() as u32, b"v".as_ptr() as u32, 1),
                sys::state_put(b"k".as_ptr() as u32, 1, value.as_ptr() as u32, value.len() as u32),
            )
        }
    }

    /// Opens iterators until refused, up to `n`; returns (opened, first refusal code).
    pub(crate) fn iterators(n: u32) -> (u32, i64) {
        let mut opened = 0;
        for _ in 0..n {
            // SAFETY: empty ranges; no memory is read.
            let r = unsafe { sys::range_open(0, 0, 0, 0) };
            if r < 0 {
                return (opened, r);
            }
            opened += 1;
        }
        (opened, 0)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod abuse {
    pub(crate) fn bad_pointer() -> i64 {
        unreachable!("wasm32 only")
    }
    pub(crate) fn oversized() -> (i32, i32) {
        unreachable!("wasm32 only")
    }
    pub(crate) fn iterators(_: u32) -> (u32, i64) {
        unreachable!("wasm32 only")
    }
}

#[weft_sdk::contract]
impl Raw {
    /// Passes an out-of-bounds pointer to `state_get`.
    #[transaction]
    fn bad_pointer(&self, _ctx: &mut Context) -> Result<i64, ContractError> {
        Ok(abuse::bad_pointer())
    }

    /// Returns the codes of an oversized key and value, as "key,value".
    #[transaction]
    fn oversized(&self, _ctx: &mut Context) -> Result<String, ContractError> {
        let (k, v) = abuse::oversized();
        Ok(format!("{k},{v}"))
    }

    /// Opens 5,000 iterators without closing them; returns "opened,refusal".
    #[transaction]
    fn iterators(&self, _ctx: &mut Context) -> Result<String, ContractError> {
        let (opened, refusal) = abuse::iterators(5_000);
        Ok(format!("{opened},{refusal}"))
    }

    /// Writes a key, ignoring the result (fails the call if it is a query).
    #[transaction]
    fn write(&self, ctx: &mut Context) -> Result<(), ContractError> {
        let _ = ctx.put("k", "v");
        Ok(())
    }

    /// Computes with floats, including NaN-producing operations; returns the bits in hex.
    #[transaction]
    fn floats(&self, _ctx: &mut Context, x: String) -> Result<String, ContractError> {
        let x: f64 = x.parse().map_err(|_| ContractError::new("not a number"))?;
        let zero = std::hint::black_box(0.0);
        let nan = std::hint::black_box(x * zero) / zero;
        let root = std::hint::black_box(-x).sqrt();
        let sum = (0..1000).map(|i| (f64::from(i) * x).sin()).sum::<f64>();
        Ok(format!("{:016x} {:016x} {:016x}", nan.to_bits(), root.to_bits(), sum.to_bits()))
    }
}
