//! # marbles: Fabric's `marbles02` sample as a Weft contract
//!
//! Marbles are JSON documents stored under their name. Each marble also has an index entry,
//! the composite key `color~name` (value `0x00`), so `transferMarblesBasedOnColor` finds all
//! marbles of a color with a partial composite key query instead of scanning everything.
//! `delete` removes the marble and its index entry. `getMarblesByRange` is a plain range query
//! by name; `getHistoryForMarble` reads a marble's committed history.

use serde::{Deserialize, Serialize};
use weft_sdk::composite::{create_composite_key, split_composite_key};
use weft_sdk::{Context, ContractError};

/// The index's object type.
pub const INDEX: &str = "color~name";

/// A marble, serialized like the Go sample's struct.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marble {
    /// Always `"marble"`.
    #[serde(rename = "docType")]
    pub doc_type: String,
    /// Name (also the state key).
    pub name: String,
    /// Color (indexed).
    pub color: String,
    /// Size.
    pub size: u32,
    /// Owner.
    pub owner: String,
}

/// One result of a range query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The state key.
    #[serde(rename = "Key")]
    pub key: String,
    /// The marble stored there.
    #[serde(rename = "Record")]
    pub record: Marble,
}

/// One committed change of a marble.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The transaction that made it.
    #[serde(rename = "TxId")]
    pub tx_id: String,
    /// The marble after the change (`None` for a delete).
    #[serde(rename = "Value")]
    pub value: Option<Marble>,
    /// The transaction's timestamp, seconds since the Unix epoch.
    #[serde(rename = "Timestamp")]
    pub timestamp: i64,
    /// Whether the change was a delete.
    #[serde(rename = "IsDelete")]
    pub is_delete: bool,
}

/// The contract.
#[derive(Default)]
pub struct Marbles;

fn load(ctx: &Context, name: &str) -> Result<Marble, ContractError> {
    let bytes = ctx
        .get(name)?
        .ok_or_else(|| ContractError::new(format!("marble {name} does not exist")))?;
    Ok(serde_json::from_slice(&bytes)?)
}

fn transfer(ctx: &Context, name: &str, new_owner: &str) -> Result<(), ContractError> {
    let mut marble = load(ctx, name)?;
    marble.owner = new_owner.to_owned();
    ctx.put(name, serde_json::to_vec(&marble)?)?;
    Ok(())
}

#[weft_sdk::contract]
impl Marbles {
    /// Creates a marble and its `color~name` index entry; fails if the name is taken.
    #[transaction(name = "initMarble")]
    fn init_marble(
        &self,
        ctx: &mut Context,
        name: String,
        color: String,
        size: u32,
        owner: String,
    ) -> Result<(), ContractError> {
        if ctx.get(&name)?.is_some() {
            return Err(ContractError::new(format!("marble {name} already exists")));
        }
        let color = color.to_ascii_lowercase();
        let owner = owner.to_ascii_lowercase();
        let index_key = create_composite_key(INDEX, &[&color, &name])?;
        let marble = Marble { doc_type: "marble".into(), name, color, size, owner };
        ctx.put(&marble.name, serde_json::to_vec(&marble)?)?;
        // The index entry needs a non-empty value (an empty one would be a delete).
        ctx.put(index_key, [0u8])?;
        Ok(())
    }

    /// The marble with this name.
    #[transaction(name = "readMarble")]
    fn read_marble(&self, ctx: &mut Context, name: String) -> Result<Marble, ContractError> {
        load(ctx, &name)
    }

    /// Deletes a marble and its index entry.
    #[transaction(name = "delete")]
    fn delete(&self, ctx: &mut Context, name: String) -> Result<(), ContractError> {
        let marble = load(ctx, &name)?;
        ctx.del(&name)?;
        ctx.del(create_composite_key(INDEX, &[&marble.color, &marble.name])?)?;
        Ok(())
    }

    /// Gives a marble to a new owner.
    #[transaction(name = "transferMarble")]
    fn transfer_marble(
        &self,
        ctx: &mut Context,
        name: String,
        new_owner: String,
    ) -> Result<(), ContractError> {
        transfer(ctx, &name, &new_owner.to_ascii_lowercase())
    }

    /// Gives every marble of a color to a new owner (via the index); returns how many moved.
    #[transaction(name = "transferMarblesBasedOnColor")]
    fn transfer_marbles_based_on_color(
        &self,
        ctx: &mut Context,
        color: String,
        new_owner: String,
    ) -> Result<u32, ContractError> {
        let new_owner = new_owner.to_ascii_lowercase();
        let mut moved = 0;
        for entry in ctx.composite_range(INDEX, &[&color])? {
            let (_, attributes) = split_composite_key(&entry?.key)?;
            let name = attributes
                .get(1)
                .ok_or_else(|| ContractError::new("malformed color~name index entry"))?;
            transfer(ctx, name, &new_owner)?;
            moved += 1;
        }
        Ok(moved)
    }

    /// Marbles with `start <= name < end`.
    #[transaction(name = "getMarblesByRange")]
    fn get_marbles_by_range(
        &self,
        ctx: &mut Context,
        start: String,
        end: String,
    ) -> Result<Vec<Record>, ContractError> {
        let mut records = Vec::new();
        for kv in ctx.range(&start, &end)? {
            let kv = kv?;
            records.push(Record {
                key: String::from_utf8(kv.key)?,
                record: serde_json::from_slice(&kv.value)?,
            });
        }
        Ok(records)
    }

    /// The committed history of a marble, oldest first.
    #[transaction(name = "getHistoryForMarble")]
    fn get_history_for_marble(
        &self,
        ctx: &mut Context,
        name: String,
    ) -> Result<Vec<Change>, ContractError> {
        let mut changes = Vec::new();
        for change in ctx.history(&name)? {
            let change = change?;
            let value =
                if change.is_delete { None } else { Some(serde_json::from_slice(&change.value)?) };
            changes.push(Change {
                tx_id: change.tx_id,
                value,
                timestamp: change.timestamp.seconds,
                is_delete: change.is_delete,
            });
        }
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use weft_sdk::testing::MockStub;

    use super::*;

    fn ledger() -> MockStub<Marbles> {
        let mut stub = MockStub::new("marbles", Marbles);
        for args in [
            ["marble1", "blue", "35", "tom"],
            ["marble2", "red", "50", "tom"],
            ["marble3", "blue", "70", "tom"],
            ["marble4", "green", "10", "ana"],
        ] {
            let tx = stub.invoke("initMarble", &args);
            assert!(tx.is_success(), "{}", tx.message());
        }
        stub.commit();
        stub
    }

    #[test]
    fn init_marble_writes_the_marble_and_its_index_entry() {
        let stub = ledger();
        assert_eq!(stub.committed(b"\0color~name\0blue\0marble1\0").as_deref(), Some(&[0u8][..]));
        let marble: Marble = serde_json::from_slice(&stub.committed(b"marble1").unwrap()).unwrap();
        assert_eq!((marble.doc_type.as_str(), marble.size), ("marble", 35));
    }

    #[test]
    fn init_marble_twice_fails() {
        let mut stub = ledger();
        let tx = stub.invoke("initMarble", &["marble1", "blue", "1", "x"]);
        assert_eq!(tx.message(), "marble marble1 already exists");
    }

    #[test]
    fn transfer_by_color_uses_the_index_and_moves_only_that_color() {
        let mut stub = ledger();
        let tx = stub.submit("transferMarblesBasedOnColor", &["blue", "Jerry"]);
        assert_eq!(tx.payload_str(), "2");
        let range = &tx.rwset.range_queries_info[0];
        assert_eq!(range.start_key, b"\0color~name\0blue\0");
        assert!(range.itr_exhausted);
        let owners: Vec<String> = ["marble1", "marble2", "marble3"]
            .iter()
            .map(|m| stub.query("readMarble", &[m]).json::<Marble>().owner)
            .collect();
        assert_eq!(owners, ["jerry", "tom", "jerry"]);
    }

    #[test]
    fn range_by_name_returns_marbles_only() {
        let mut stub = ledger();
        let tx = stub.query("getMarblesByRange", &["marble1", "marble3"]);
        let records: Vec<Record> = tx.json();
        let keys: Vec<&str> = records.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["marble1", "marble2"]);
        let all: Vec<Record> = stub.query("getMarblesByRange", &["", ""]).json();
        assert_eq!(all.len(), 4, "index entries are composite keys: never in a plain range");
    }

    #[test]
    fn delete_removes_the_marble_and_its_index_entry() {
        let mut stub = ledger();
        let tx = stub.submit("delete", &["marble1"]);
        assert!(tx.is_success(), "{}", tx.message());
        assert_eq!(stub.committed(b"marble1"), None);
        assert_eq!(stub.committed(b"\0color~name\0blue\0marble1\0"), None);
        assert_eq!(
            stub.query("transferMarblesBasedOnColor", &["blue", "x"]).message(),
            "state cannot be written during a query"
        );
        assert_eq!(stub.submit("transferMarblesBasedOnColor", &["blue", "x"]).payload_str(), "1");
        assert_eq!(stub.invoke("delete", &["marble1"]).message(), "marble marble1 does not exist");
    }

    #[test]
    fn history_shows_each_committed_change() {
        let mut stub = ledger();
        stub.submit("transferMarble", &["marble2", "Bo"]);
        stub.submit("delete", &["marble2"]);
        let changes: Vec<Change> = stub.query("getHistoryForMarble", &["marble2"]).json();
        let owners: Vec<Option<&str>> =
            changes.iter().map(|c| c.value.as_ref().map(|m| m.owner.as_str())).collect();
        assert_eq!(owners, [Some("tom"), Some("bo"), None]);
        assert!(changes[2].is_delete);
        assert!(changes[0].timestamp < changes[1].timestamp);
    }

    #[test]
    fn missing_marbles_are_errors() {
        let mut stub = ledger();
        assert_eq!(stub.query("readMarble", &["nope"]).message(), "marble nope does not exist");
        assert_eq!(
            stub.invoke("transferMarble", &["nope", "x"]).message(),
            "marble nope does not exist"
        );
    }
}
