//! Misbehave fixture: `Hoard` allocates without bound; the host must stop it at the memory limit.

use weft_sdk::{Context, ContractError};

/// The fixture.
#[derive(Default)]
pub struct Hoard;

#[weft_sdk::contract]
impl Hoard {
    /// Keeps allocating 1 MiB blocks and touching them until memory runs out.
    #[transaction]
    fn hoard(&self, _ctx: &mut Context) -> Result<usize, ContractError> {
        let mut blocks: Vec<Vec<u8>> = Vec::new();
        loop {
            blocks.push(vec![1u8; 1 << 20]);
            std::hint::black_box(&blocks);
        }
    }
}
