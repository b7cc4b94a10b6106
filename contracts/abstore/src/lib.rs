//! # abstore: Fabric's `chaincode_example02` as a Weft contract
//!
//! Two entities hold integer amounts. `init A Aval B Bval` sets them; `invoke A B X` moves `X`
//! from `A` to `B` (it fails on a negative `X`, a missing entity, or too little in `A`);
//! `query A` returns `A`'s amount; `delete A` removes `A`. Function names are the sample's
//! lowercase ones.

use weft_sdk::{Context, ContractError};

/// The contract.
#[derive(Default)]
pub struct Abstore;

fn amount(ctx: &Context, entity: &str) -> Result<i64, ContractError> {
    let bytes =
        ctx.get(entity)?.ok_or_else(|| ContractError::new(format!("entity {entity} not found")))?;
    Ok(String::from_utf8(bytes)?.parse()?)
}

#[weft_sdk::contract]
impl Abstore {
    /// `init A Aval B Bval`.
    #[init]
    fn init(
        &self,
        ctx: &mut Context,
        a: String,
        a_value: i64,
        b: String,
        b_value: i64,
    ) -> Result<(), ContractError> {
        if a_value < 0 || b_value < 0 {
            return Err(ContractError::new("amounts cannot be negative"));
        }
        ctx.put(&a, a_value.to_string())?;
        ctx.put(&b, b_value.to_string())?;
        Ok(())
    }

    /// `invoke A B X`: moves `X` from `A` to `B`.
    #[transaction(name = "invoke")]
    fn transfer(
        &self,
        ctx: &mut Context,
        a: String,
        b: String,
        x: i64,
    ) -> Result<(), ContractError> {
        if x < 0 {
            return Err(ContractError::new(format!("cannot move a negative amount ({x})")));
        }
        let a_value = amount(ctx, &a)?;
        let b_value = amount(ctx, &b)?;
        if a_value < x {
            return Err(ContractError::new(format!("{a} holds {a_value}, cannot move {x}")));
        }
        let b_after =
            b_value.checked_add(x).ok_or_else(|| ContractError::new("amount overflows"))?;
        ctx.put(&a, (a_value - x).to_string())?;
        ctx.put(&b, b_after.to_string())?;
        Ok(())
    }

    /// `query A`: `A`'s amount.
    #[transaction(name = "query")]
    fn query(&self, ctx: &mut Context, a: String) -> Result<i64, ContractError> {
        amount(ctx, &a)
    }

    /// `delete A`.
    #[transaction(name = "delete")]
    fn delete(&self, ctx: &mut Context, a: String) -> Result<(), ContractError> {
        ctx.del(&a)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use weft_sdk::testing::MockStub;

    use super::Abstore;

    fn ledger() -> MockStub<Abstore> {
        let mut stub = MockStub::new("abstore", Abstore);
        let init = stub.init("init", &["A", "100", "B", "200"]);
        assert!(init.is_success(), "{}", init.message());
        stub.commit();
        stub
    }

    #[test]
    fn init_then_query() {
        let mut stub = ledger();
        assert_eq!(stub.query("query", &["A"]).payload_str(), "100");
        assert_eq!(stub.query("query", &["B"]).payload_str(), "200");
    }

    #[test]
    fn invoke_moves_value_from_a_to_b() {
        let mut stub = ledger();
        let tx = stub.submit("invoke", &["A", "B", "10"]);
        assert!(tx.is_success(), "{}", tx.message());
        assert_eq!(tx.rwset.reads.len(), 2);
        assert_eq!(tx.rwset.writes.len(), 2);
        assert_eq!(stub.query("query", &["A"]).payload_str(), "90");
        assert_eq!(stub.query("query", &["B"]).payload_str(), "210");
    }

    #[test]
    fn invoke_refuses_negative_missing_and_too_large_amounts() {
        let mut stub = ledger();
        assert_eq!(
            stub.invoke("invoke", &["A", "B", "-5"]).message(),
            "cannot move a negative amount (-5)"
        );
        assert_eq!(stub.invoke("invoke", &["A", "C", "5"]).message(), "entity C not found");
        assert_eq!(
            stub.invoke("invoke", &["A", "B", "101"]).message(),
            "A holds 100, cannot move 101"
        );
        assert!(stub.invoke("invoke", &["A", "B", "ten"]).message().starts_with("argument 2 (x)"));
        assert!(stub.pending().is_empty());
        assert_eq!(stub.query("query", &["A"]).payload_str(), "100");
    }

    #[test]
    fn init_refuses_bad_amounts() {
        let mut stub = MockStub::new("abstore", Abstore);
        assert!(!stub.init("init", &["A", "x", "B", "1"]).is_success());
        assert!(!stub.init("init", &["A", "-1", "B", "1"]).is_success());
        assert!(!stub.init("init", &["A", "1"]).is_success());
    }

    #[test]
    fn delete_then_query_fails() {
        let mut stub = ledger();
        assert!(stub.submit("delete", &["A"]).is_success());
        assert_eq!(stub.query("query", &["A"]).message(), "entity A not found");
    }
}
