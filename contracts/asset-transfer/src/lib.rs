//! # asset-transfer: Fabric's `asset-transfer-basic` sample as a Weft contract
//!
//! Assets are JSON documents stored under their id, with the same field names and order as
//! the Go sample, so clients written for Fabric read the same bytes. Functions: `InitLedger`,
//! `CreateAsset`, `ReadAsset`, `UpdateAsset`, `DeleteAsset`, `AssetExists`, `TransferAsset`
//! (returns the previous owner) and `GetAllAssets` (a full range scan, as a JSON array).

use serde::{Deserialize, Serialize};
use weft_sdk::{Context, ContractError};

/// An asset, serialized like the Go sample's struct (fields in alphabetical order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asset {
    /// Appraised value.
    #[serde(rename = "AppraisedValue")]
    pub appraised_value: u64,
    /// Color.
    #[serde(rename = "Color")]
    pub color: String,
    /// Id (also the state key).
    #[serde(rename = "ID")]
    pub id: String,
    /// Current owner.
    #[serde(rename = "Owner")]
    pub owner: String,
    /// Size.
    #[serde(rename = "Size")]
    pub size: u32,
}

/// The contract.
#[derive(Default)]
pub struct AssetTransfer;

fn not_found(id: &str) -> ContractError {
    ContractError::new(format!("the asset {id} does not exist"))
}

impl AssetTransfer {
    fn load(ctx: &Context, id: &str) -> Result<Option<Asset>, ContractError> {
        match ctx.get(id)? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    fn store(ctx: &Context, asset: &Asset) -> Result<(), ContractError> {
        ctx.put(&asset.id, serde_json::to_vec(asset)?)?;
        Ok(())
    }
}

#[weft_sdk::contract]
impl AssetTransfer {
    /// Creates the sample's six assets.
    #[transaction]
    fn init_ledger(&self, ctx: &mut Context) -> Result<(), ContractError> {
        let assets = [
            ("asset1", "blue", 5, "Tomoko", 300),
            ("asset2", "red", 5, "Brad", 400),
            ("asset3", "green", 10, "Jin Soo", 500),
            ("asset4", "yellow", 10, "Max", 600),
            ("asset5", "black", 15, "Adriana", 700),
            ("asset6", "white", 15, "Michel", 800),
        ];
        for (id, color, size, owner, appraised_value) in assets {
            let asset = Asset {
                appraised_value,
                color: color.into(),
                id: id.into(),
                owner: owner.into(),
                size,
            };
            Self::store(ctx, &asset)?;
        }
        Ok(())
    }

    /// Creates an asset; fails if one with this id exists.
    #[transaction]
    fn create_asset(
        &self,
        ctx: &mut Context,
        id: String,
        color: String,
        size: u32,
        owner: String,
        appraised_value: u64,
    ) -> Result<(), ContractError> {
        if ctx.get(&id)?.is_some() {
            return Err(ContractError::new(format!("the asset {id} already exists")));
        }
        Self::store(ctx, &Asset { appraised_value, color, id, owner, size })
    }

    /// The asset with this id; fails if there is none.
    #[transaction]
    fn read_asset(&self, ctx: &mut Context, id: String) -> Result<Asset, ContractError> {
        Self::load(ctx, &id)?.ok_or_else(|| not_found(&id))
    }

    /// Replaces an existing asset.
    #[transaction]
    fn update_asset(
        &self,
        ctx: &mut Context,
        id: String,
        color: String,
        size: u32,
        owner: String,
        appraised_value: u64,
    ) -> Result<(), ContractError> {
        if ctx.get(&id)?.is_none() {
            return Err(not_found(&id));
        }
        Self::store(ctx, &Asset { appraised_value, color, id, owner, size })
    }

    /// Deletes an existing asset.
    #[transaction]
    fn delete_asset(&self, ctx: &mut Context, id: String) -> Result<(), ContractError> {
        if ctx.get(&id)?.is_none() {
            return Err(not_found(&id));
        }
        ctx.del(&id)?;
        Ok(())
    }

    /// Whether an asset with this id exists.
    #[transaction]
    fn asset_exists(&self, ctx: &mut Context, id: String) -> Result<bool, ContractError> {
        Ok(ctx.get(&id)?.is_some())
    }

    /// Gives an asset to a new owner; returns the previous owner.
    #[transaction]
    fn transfer_asset(
        &self,
        ctx: &mut Context,
        id: String,
        new_owner: String,
    ) -> Result<String, ContractError> {
        let mut asset = Self::load(ctx, &id)?.ok_or_else(|| not_found(&id))?;
        let old_owner = std::mem::replace(&mut asset.owner, new_owner);
        Self::store(ctx, &asset)?;
        Ok(old_owner)
    }

    /// Every asset, in key order.
    #[transaction]
    fn get_all_assets(&self, ctx: &mut Context) -> Result<Vec<Asset>, ContractError> {
        let mut assets = Vec::new();
        for kv in ctx.range("", "")? {
            assets.push(serde_json::from_slice(&kv?.value)?);
        }
        Ok(assets)
    }
}

#[cfg(test)]
mod tests {
    use weft_sdk::testing::{ContractHarness, MockStub, TxValidationCode};

    use super::*;

    fn ledger() -> MockStub<AssetTransfer> {
        let mut stub = MockStub::new("basic", AssetTransfer);
        let init = stub.submit("InitLedger", &[]);
        assert!(init.is_success(), "{}", init.message());
        stub
    }

    #[test]
    fn init_ledger_creates_six_assets_readable_by_get_all() {
        let mut stub = ledger();
        let all = stub.query("GetAllAssets", &[]);
        let assets: Vec<Asset> = all.json();
        assert_eq!(assets.len(), 6);
        assert_eq!(assets[2].owner, "Jin Soo");
        // Same bytes as the Go sample writes.
        assert_eq!(
            stub.committed(b"asset1").unwrap(),
            br#"{"AppraisedValue":300,"Color":"blue","ID":"asset1","Owner":"Tomoko","Size":5}"#
        );
        // A full scan, recorded as exhausted over [0x01, unbounded).
        let range = &all.rwset.range_queries_info[0];
        assert!(range.itr_exhausted);
        assert_eq!(range.reads.len(), 6);
    }

    #[test]
    fn create_then_read_and_create_twice_fails() {
        let mut stub = ledger();
        let created = stub.submit("CreateAsset", &["asset7", "orange", "3", "Ana", "150"]);
        assert!(created.is_success(), "{}", created.message());
        let read = stub.query("ReadAsset", &["asset7"]);
        let asset: Asset = read.json();
        assert_eq!((asset.size, asset.appraised_value, asset.owner.as_str()), (3, 150, "Ana"));
        let again = stub.invoke("CreateAsset", &["asset7", "orange", "3", "Ana", "150"]);
        assert_eq!(again.message(), "the asset asset7 already exists");
        assert_eq!(again.response.status, 500);
    }

    #[test]
    fn read_update_delete_of_a_missing_asset_fail() {
        let mut stub = ledger();
        for (f, args) in [
            ("ReadAsset", vec!["nope"]),
            ("UpdateAsset", vec!["nope", "c", "1", "o", "1"]),
            ("DeleteAsset", vec!["nope"]),
            ("TransferAsset", vec!["nope", "someone"]),
        ] {
            assert_eq!(stub.invoke(f, &args).message(), "the asset nope does not exist", "{f}");
        }
        assert!(stub.pending().is_empty());
    }

    #[test]
    fn update_and_delete_change_committed_state() {
        let mut stub = ledger();
        assert!(stub.submit("UpdateAsset", &["asset1", "purple", "6", "Tom", "301"]).is_success());
        assert_eq!(stub.query("ReadAsset", &["asset1"]).json::<Asset>().color, "purple");
        assert_eq!(stub.query("AssetExists", &["asset1"]).payload_str(), "true");
        assert!(stub.submit("DeleteAsset", &["asset1"]).is_success());
        assert_eq!(stub.query("AssetExists", &["asset1"]).payload_str(), "false");
        assert_eq!(stub.query("GetAllAssets", &[]).json::<Vec<Asset>>().len(), 5);
    }

    #[test]
    fn transfer_returns_the_old_owner_and_records_a_read_and_a_write() {
        let mut stub = ledger();
        let tx = stub.submit("TransferAsset", &["asset2", "Zoe"]);
        assert_eq!(tx.payload_str(), "Brad");
        assert_eq!(tx.rwset.reads.len(), 1);
        assert_eq!(tx.rwset.writes.len(), 1);
        assert_eq!(stub.query("ReadAsset", &["asset2"]).json::<Asset>().owner, "Zoe");
    }

    /// Written over `ContractHarness`, so the same scenario can run on a harness that executes
    /// the built `.wasm`.
    fn transfer_scenario(ledger: &mut impl ContractHarness) {
        assert!(ledger.invoke("InitLedger", &[]).is_success());
        ledger.commit();
        assert_eq!(ledger.invoke("TransferAsset", &["asset3", "Kim"]).payload_str(), "Jin Soo");
        // Same block, not yet committed: a second transfer still sees the old owner...
        assert_eq!(ledger.invoke("TransferAsset", &["asset3", "Lee"]).payload_str(), "Jin Soo");
        // ...so at commit it conflicts with the first, and the first transfer stands.
        let block = ledger.commit();
        assert_eq!(block.codes(), [TxValidationCode::Valid, TxValidationCode::MvccReadConflict]);
        assert_eq!(block.report.verdicts[1].conflict.as_ref().unwrap().key, b"asset3");
        assert_eq!(ledger.query("ReadAsset", &["asset3"]).json::<Asset>().owner, "Kim");
    }

    #[test]
    fn transfers_in_one_block_see_the_state_before_the_block() {
        transfer_scenario(&mut MockStub::new("basic", AssetTransfer));
    }

    #[test]
    fn bad_arguments_are_errors() {
        let mut stub = ledger();
        let tx = stub.invoke("CreateAsset", &["a", "c", "-3", "o", "1"]);
        assert!(tx.message().starts_with("argument 2 (size) of CreateAsset"), "{}", tx.message());
        assert_eq!(stub.invoke("ReadAsset", &[]).message(), "ReadAsset takes 1 arguments, got 0");
    }
}
