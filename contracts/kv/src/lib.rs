//! # kv: the smallest Weft contract
//!
//! `Put key value`, `Get key` (fails if the key is missing) and `Del key`; each write emits an
//! event (`Put` or `Del`, the key as payload), delivered when it commits. Built to
//! `wasm32-unknown-unknown` it is the `.wasm` a peer runs; natively, its tests run on
//! `weft_sdk::testing::MockStub`.

use weft_sdk::{Context, ContractError};

/// The contract. It keeps no data of its own: everything is in the ledger's state.
#[derive(Default)]
pub struct Kv;

#[weft_sdk::contract]
impl Kv {
    /// Sets `key` to `value` (an empty value deletes the key).
    #[transaction]
    fn put(&self, ctx: &mut Context, key: String, value: String) -> Result<(), ContractError> {
        ctx.put(&key, &value)?;
        ctx.set_event("Put", &key)?;
        Ok(())
    }

    /// The committed value of `key`.
    #[transaction]
    fn get(&self, ctx: &mut Context, key: String) -> Result<String, ContractError> {
        let value = ctx.get(&key)?.ok_or_else(|| ContractError::new(format!("{key} not found")))?;
        Ok(String::from_utf8(value)?)
    }

    /// Deletes `key`.
    #[transaction]
    fn del(&self, ctx: &mut Context, key: String) -> Result<(), ContractError> {
        ctx.del(&key)?;
        ctx.set_event("Del", &key)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use weft_sdk::testing::MockStub;

    use super::Kv;

    #[test]
    fn put_then_get_after_commit() {
        let mut stub = MockStub::new("kv", Kv);
        let put = stub.submit("Put", &["greeting", "hello"]);
        assert!(put.is_success());
        assert_eq!(put.events.len(), 1);
        assert_eq!(
            (put.events[0].name.as_str(), &put.events[0].payload[..]),
            ("Put", &b"greeting"[..])
        );
        let got = stub.query("Get", &["greeting"]);
        assert_eq!(got.payload_str(), "hello");
        assert_eq!(got.rwset.reads.len(), 1);
    }

    #[test]
    fn get_of_a_missing_key_is_an_error() {
        let mut stub = MockStub::new("kv", Kv);
        let got = stub.query("Get", &["nope"]);
        assert_eq!((got.response.status, got.message()), (500, "nope not found"));
    }

    #[test]
    fn del_removes_the_key_and_bad_calls_are_errors() {
        let mut stub = MockStub::new("kv", Kv);
        stub.submit("Put", &["k", "v"]);
        assert!(stub.submit("Del", &["k"]).is_success());
        assert_eq!(stub.committed(b"k"), None);
        assert_eq!(stub.invoke("Put", &["k"]).message(), "Put takes 2 arguments, got 1");
        assert_eq!(
            stub.invoke("Nope", &[]).message(),
            "function \"Nope\" is not defined by this contract"
        );
        // Keys must not be empty (a host rule, enforced identically here).
        assert_eq!(stub.invoke("Put", &["", "v"]).message(), "key is empty");
    }
}
