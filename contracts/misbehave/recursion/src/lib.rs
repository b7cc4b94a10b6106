//! Misbehave fixture: `Descend` recurses without bound; the host must stop it at the stack limit.

use weft_sdk::{Context, ContractError};

/// The fixture.
#[derive(Default)]
pub struct Descend;

#[inline(never)]
fn down(n: u64) -> u64 {
    // An exit the optimizer cannot see through, which is never taken.
    if std::hint::black_box(n) == u64::MAX {
        return 0;
    }
    // Not a tail call: the addition happens after the recursive call returns.
    std::hint::black_box(down(std::hint::black_box(n + 1))).wrapping_add(n)
}

#[weft_sdk::contract]
impl Descend {
    /// Never returns.
    #[transaction]
    fn descend(&self, _ctx: &mut Context) -> Result<u64, ContractError> {
        Ok(down(0))
    }
}
