//! Misbehave fixture: `Boom` panics with a message; the caller must get the message.

use weft_sdk::{Context, ContractError};

/// The fixture.
#[derive(Default)]
pub struct Boom;

#[weft_sdk::contract]
impl Boom {
    /// Panics after writing a key (the write must not be endorsed).
    #[transaction]
    fn boom(&self, ctx: &mut Context, code: u32) -> Result<(), ContractError> {
        ctx.put("written-before-panic", "x")?;
        let items = [1, 2, 3];
        let index = std::hint::black_box(code as usize);
        panic!("boom {code}: {}", items.get(index).copied().unwrap_or(0));
    }
}
