//! Misbehave fixture: `Spin` loops forever; the host must stop it with out of fuel.

use weft_sdk::{Context, ContractError};

/// The fixture.
#[derive(Default)]
pub struct Spin;

#[weft_sdk::contract]
impl Spin {
    /// Never returns.
    #[transaction]
    fn spin(&self, _ctx: &mut Context) -> Result<u64, ContractError> {
        let mut n = 0u64;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
            if std::hint::black_box(n) == 0 {
                return Ok(n);
            }
        }
    }
}
