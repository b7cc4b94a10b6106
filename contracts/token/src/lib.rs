//! # token: an ERC-20-style fungible token (Fabric's `token-erc-20` sample) as a Weft contract
//!
//! Accounts are callers' stable ids ([`weft_sdk::Creator::id`], e.g. `Org1::client`), so one
//! account per identity, the same in `cargo test` and on a node.
//!
//! Access control, decided from the caller's identity as the channel configuration lists it:
//!
//! * `Initialize(name, symbol, decimals)` runs once; the caller's organization becomes the
//!   *minter organization*.
//! * `Mint(amount)` and `Burn(amount)` are for **clients of the minter organization** only
//!   (role `client`, organization as recorded by `Initialize`); anyone else gets status 403
//!   with a message naming who they are and what is required. Minted tokens go to, and burnt
//!   tokens come from, the caller's account.
//! * `Transfer(to, amount)`, `Approve(spender, amount)` and
//!   `TransferFrom(from, to, amount)` are open to every identity of the channel, moving the
//!   caller's own tokens or an allowance the caller was given.
//!
//! Queries: `Name`, `Symbol`, `Decimals`, `TotalSupply`, `BalanceOf(account)`,
//! `ClientAccountID`, `ClientAccountBalance`, `Allowance(owner, spender)`, `MinterOrg`, and
//! `Caller` (the caller's id, organization, role and attributes, as JSON).
//!
//! Events (JSON payloads): `Transfer` `{"from", "to", "value"}` (`from` is empty for a mint,
//! `to` for a burn) and `Approval` `{"owner", "spender", "value"}`. Amounts are `u64` and
//! checked: an overflow is refused, never wrapped.

use serde::Serialize;
use weft_sdk::composite::create_composite_key;
use weft_sdk::{Context, ContractError, Role};

/// The contract.
#[derive(Default)]
pub struct Token;

const NAME: &str = "name";
const SYMBOL: &str = "symbol";
const DECIMALS: &str = "decimals";
const TOTAL_SUPPLY: &str = "totalSupply";
const MINTER_ORG: &str = "minterOrg";
const BALANCE: &str = "balance";
const ALLOWANCE: &str = "allowance";

#[derive(Serialize)]
struct TransferEvent<'a> {
    from: &'a str,
    to: &'a str,
    value: u64,
}

/// The caller as `Caller` describes it.
#[derive(Serialize)]
pub struct Caller {
    id: String,
    msp_id: String,
    role: &'static str,
    attributes: std::collections::BTreeMap<String, String>,
}

#[derive(Serialize)]
struct ApprovalEvent<'a> {
    owner: &'a str,
    spender: &'a str,
    value: u64,
}

fn text(ctx: &Context, key: &str) -> Result<Option<String>, ContractError> {
    ctx.get(key)?.map(String::from_utf8).transpose().map_err(ContractError::from)
}

fn number(ctx: &Context, key: &[u8]) -> Result<u64, ContractError> {
    match ctx.get(key)? {
        Some(bytes) => Ok(String::from_utf8(bytes)?.parse()?),
        None => Ok(0),
    }
}

fn balance_key(account: &str) -> Result<Vec<u8>, ContractError> {
    Ok(create_composite_key(BALANCE, &[account])?)
}

fn allowance_key(owner: &str, spender: &str) -> Result<Vec<u8>, ContractError> {
    Ok(create_composite_key(ALLOWANCE, &[owner, spender])?)
}

fn initialized(ctx: &Context) -> Result<String, ContractError> {
    text(ctx, MINTER_ORG)?.ok_or_else(|| {
        ContractError::with_status(409, "the token is not initialized: call Initialize first")
    })
}

fn positive(amount: u64) -> Result<u64, ContractError> {
    if amount == 0 {
        return Err(ContractError::with_status(400, "the amount must be positive"));
    }
    Ok(amount)
}

/// Refuses anyone but a client of the minter organization.
fn assert_minter(ctx: &Context) -> Result<String, ContractError> {
    let minter_org = initialized(ctx)?;
    let me = ctx.creator();
    me.assert_msp_id(&minter_org)?;
    me.assert_role(Role::Client)?;
    Ok(me.id())
}

/// Moves `value` from `from` to `to` (both accounts must differ) and emits `Transfer`.
fn move_tokens(ctx: &Context, from: &str, to: &str, value: u64) -> Result<(), ContractError> {
    if from == to {
        return Err(ContractError::with_status(400, "cannot transfer to the same account"));
    }
    if to.is_empty() {
        return Err(ContractError::with_status(400, "the recipient account is empty"));
    }
    let (from_key, to_key) = (balance_key(from)?, balance_key(to)?);
    let from_balance = number(ctx, &from_key)?;
    let left = from_balance.checked_sub(value).ok_or_else(|| {
        ContractError::with_status(
            400,
            format!("{from} holds {from_balance}, cannot transfer {value}"),
        )
    })?;
    let to_balance = number(ctx, &to_key)?
        .checked_add(value)
        .ok_or_else(|| ContractError::with_status(400, format!("{to}'s balance would overflow")))?;
    ctx.put(&from_key, left.to_string())?;
    ctx.put(&to_key, to_balance.to_string())?;
    ctx.set_event("Transfer", serde_json::to_vec(&TransferEvent { from, to, value })?)?;
    Ok(())
}

// Each function stays out of line: otherwise LTO inlines all of them into the generated
// dispatch, one function body near the host's 16 KiB limit per function.
#[weft_sdk::contract]
impl Token {
    /// `Initialize(name, symbol, decimals)`: once; the caller's organization becomes the
    /// minter organization.
    #[transaction]
    #[inline(never)]
    fn initialize(
        &self,
        ctx: &mut Context,
        name: String,
        symbol: String,
        decimals: u8,
    ) -> Result<(), ContractError> {
        if let Some(org) = text(ctx, MINTER_ORG)? {
            return Err(ContractError::with_status(
                409,
                format!("the token is already initialized (minter organization {org})"),
            ));
        }
        ctx.put(NAME, &name)?;
        ctx.put(SYMBOL, &symbol)?;
        ctx.put(DECIMALS, decimals.to_string())?;
        ctx.put(MINTER_ORG, ctx.creator().msp_id)?;
        Ok(())
    }

    /// `Mint(amount)`: new tokens into the caller's account. Clients of the minter
    /// organization only.
    #[transaction]
    #[inline(never)]
    fn mint(&self, ctx: &mut Context, amount: u64) -> Result<u64, ContractError> {
        let minter = assert_minter(ctx)?;
        let amount = positive(amount)?;
        let key = balance_key(&minter)?;
        let balance = number(ctx, &key)?
            .checked_add(amount)
            .ok_or_else(|| ContractError::with_status(400, "the balance would overflow"))?;
        let supply = number(ctx, TOTAL_SUPPLY.as_bytes())?
            .checked_add(amount)
            .ok_or_else(|| ContractError::with_status(400, "the total supply would overflow"))?;
        ctx.put(&key, balance.to_string())?;
        ctx.put(TOTAL_SUPPLY, supply.to_string())?;
        let event = TransferEvent { from: "", to: &minter, value: amount };
        ctx.set_event("Transfer", serde_json::to_vec(&event)?)?;
        Ok(balance)
    }

    /// `Burn(amount)`: removes tokens from the caller's account. Clients of the minter
    /// organization only.
    #[transaction]
    #[inline(never)]
    fn burn(&self, ctx: &mut Context, amount: u64) -> Result<u64, ContractError> {
        let minter = assert_minter(ctx)?;
        let amount = positive(amount)?;
        let key = balance_key(&minter)?;
        let held = number(ctx, &key)?;
        let balance = held.checked_sub(amount).ok_or_else(|| {
            ContractError::with_status(400, format!("{minter} holds {held}, cannot burn {amount}"))
        })?;
        let supply = number(ctx, TOTAL_SUPPLY.as_bytes())?.saturating_sub(amount);
        ctx.put(&key, balance.to_string())?;
        ctx.put(TOTAL_SUPPLY, supply.to_string())?;
        let event = TransferEvent { from: &minter, to: "", value: amount };
        ctx.set_event("Transfer", serde_json::to_vec(&event)?)?;
        Ok(balance)
    }

    /// `Transfer(to, amount)`: from the caller's account to account `to`.
    #[transaction]
    #[inline(never)]
    fn transfer(&self, ctx: &mut Context, to: String, amount: u64) -> Result<(), ContractError> {
        initialized(ctx)?;
        move_tokens(ctx, &ctx.creator().id(), &to, positive(amount)?)
    }

    /// `Approve(spender, amount)`: lets `spender` transfer up to `amount` of the caller's
    /// tokens (replacing any previous allowance; 0 revokes it).
    #[transaction]
    #[inline(never)]
    fn approve(
        &self,
        ctx: &mut Context,
        spender: String,
        amount: u64,
    ) -> Result<(), ContractError> {
        initialized(ctx)?;
        let owner = ctx.creator().id();
        ctx.put(allowance_key(&owner, &spender)?, amount.to_string())?;
        let event = ApprovalEvent { owner: &owner, spender: &spender, value: amount };
        ctx.set_event("Approval", serde_json::to_vec(&event)?)?;
        Ok(())
    }

    /// `TransferFrom(from, to, amount)`: moves `from`'s tokens to `to`, spending the
    /// allowance `from` gave the caller.
    #[transaction]
    #[inline(never)]
    fn transfer_from(
        &self,
        ctx: &mut Context,
        from: String,
        to: String,
        amount: u64,
    ) -> Result<(), ContractError> {
        initialized(ctx)?;
        let spender = ctx.creator().id();
        let key = allowance_key(&from, &spender)?;
        let allowed = number(ctx, &key)?;
        let amount = positive(amount)?;
        let left = allowed.checked_sub(amount).ok_or_else(|| {
            ContractError::with_status(
                403,
                format!("{spender} may spend {allowed} of {from}'s tokens, not {amount}"),
            )
        })?;
        move_tokens(ctx, &from, &to, amount)?;
        ctx.put(&key, left.to_string())?;
        Ok(())
    }

    /// `BalanceOf(account)`.
    #[transaction]
    #[inline(never)]
    fn balance_of(&self, ctx: &mut Context, account: String) -> Result<u64, ContractError> {
        initialized(ctx)?;
        number(ctx, &balance_key(&account)?)
    }

    /// `ClientAccountBalance`: the caller's balance.
    #[transaction]
    #[inline(never)]
    fn client_account_balance(&self, ctx: &mut Context) -> Result<u64, ContractError> {
        initialized(ctx)?;
        number(ctx, &balance_key(&ctx.creator().id())?)
    }

    /// `ClientAccountID`: the caller's account id (its stable id, `MSP::name`). Named
    /// explicitly: the PascalCase of `client_account_id` would be `ClientAccountId`.
    #[transaction(name = "ClientAccountID")]
    #[inline(never)]
    fn client_account_id(&self, ctx: &mut Context) -> Result<String, ContractError> {
        Ok(ctx.creator().id())
    }

    /// `Caller`: the caller's identity as the contract sees it, as JSON: `id`, `msp_id`,
    /// `role` and `attributes` (from the channel configuration).
    #[transaction]
    #[inline(never)]
    fn caller(&self, ctx: &mut Context) -> Result<Caller, ContractError> {
        let me = ctx.creator();
        Ok(Caller {
            id: me.id(),
            role: me.role.name(),
            msp_id: me.msp_id,
            attributes: me.attributes,
        })
    }

    /// `Allowance(owner, spender)`.
    #[transaction]
    #[inline(never)]
    fn allowance(
        &self,
        ctx: &mut Context,
        owner: String,
        spender: String,
    ) -> Result<u64, ContractError> {
        initialized(ctx)?;
        number(ctx, &allowance_key(&owner, &spender)?)
    }

    /// `TotalSupply`.
    #[transaction]
    #[inline(never)]
    fn total_supply(&self, ctx: &mut Context) -> Result<u64, ContractError> {
        initialized(ctx)?;
        number(ctx, TOTAL_SUPPLY.as_bytes())
    }

    /// `Name`.
    #[transaction]
    #[inline(never)]
    fn name(&self, ctx: &mut Context) -> Result<String, ContractError> {
        initialized(ctx)?;
        Ok(text(ctx, NAME)?.unwrap_or_default())
    }

    /// `Symbol`.
    #[transaction]
    #[inline(never)]
    fn symbol(&self, ctx: &mut Context) -> Result<String, ContractError> {
        initialized(ctx)?;
        Ok(text(ctx, SYMBOL)?.unwrap_or_default())
    }

    /// `Decimals`.
    #[transaction]
    #[inline(never)]
    fn decimals(&self, ctx: &mut Context) -> Result<u8, ContractError> {
        initialized(ctx)?;
        Ok(text(ctx, DECIMALS)?.unwrap_or_default().parse()?)
    }

    /// `MinterOrg`: the organization whose clients may mint and burn.
    #[transaction]
    #[inline(never)]
    fn minter_org(&self, ctx: &mut Context) -> Result<String, ContractError> {
        initialized(ctx)
    }
}

#[cfg(test)]
mod tests {
    use weft_sdk::Role;
    use weft_sdk::testing::{Identity, MockStub};

    use super::Token;

    fn ok(tx: weft_sdk::testing::TxRecord) -> weft_sdk::testing::TxRecord {
        assert!(tx.is_success(), "{} {}: {}", tx.function, tx.response.status, tx.message());
        tx
    }

    /// Initialized by Org1's client (the default identity, as on a dev network), with 1000
    /// minted into `Org1::client`.
    fn token() -> MockStub<Token> {
        let mut stub = MockStub::new("token", Token);
        ok(stub.submit("Initialize", &["Weft Token", "WFT", "2"]));
        ok(stub.submit("Mint", &["1000"]));
        stub
    }

    #[test]
    fn the_default_caller_is_the_dev_networks_org1_client() {
        let mut stub = token();
        assert_eq!(stub.query("ClientAccountID", &[]).payload_str(), "Org1::client");
        assert_eq!(stub.query("MinterOrg", &[]).payload_str(), "Org1");
        assert_eq!(stub.query("ClientAccountBalance", &[]).payload_str(), "1000");
        assert_eq!(stub.query("TotalSupply", &[]).payload_str(), "1000");
        assert_eq!(stub.query("Decimals", &[]).payload_str(), "2");
        assert_eq!(stub.query("Symbol", &[]).payload_str(), "WFT");
    }

    #[test]
    fn the_caller_is_described_with_role_and_attributes() {
        let mut stub = token();
        stub.set_identity(Identity::new("Org2", "ops", Role::Admin).with_attribute("dept", "ops"));
        let caller: serde_json::Value = stub.query("Caller", &[]).json();
        assert_eq!(
            caller,
            serde_json::json!({ "id": "Org2::ops", "msp_id": "Org2", "role": "admin",
                                "attributes": { "dept": "ops" } })
        );
    }

    #[test]
    fn only_clients_of_the_minter_org_mint_and_burn() {
        let mut stub = token();
        stub.act_as("Org2", "client");
        let refused = stub.invoke("Mint", &["5"]);
        assert_eq!(refused.response.status, 403);
        assert_eq!(
            refused.message(),
            "Org2::client is not allowed: only members of Org1 may do this"
        );
        assert_eq!(stub.invoke("Burn", &["5"]).response.status, 403);
        stub.act_as("Org1", "admin");
        let admin = stub.invoke("Mint", &["5"]);
        assert_eq!(admin.response.status, 403);
        assert!(admin.message().contains("this needs role client; its role is admin"));
        // An identity a test makes up: Org1 client by another name has its own account.
        stub.set_identity(Identity::new("Org1", "treasury", Role::Client));
        assert_eq!(ok(stub.submit("Mint", &["5"])).payload_str(), "5");
        assert!(stub.pending().is_empty());
        assert_eq!(stub.query("TotalSupply", &[]).payload_str(), "1005");
        assert_eq!(ok(stub.submit("Burn", &["5"])).payload_str(), "0");
        assert_eq!(stub.invoke("Burn", &["1"]).response.status, 400);
    }

    #[test]
    fn transfer_moves_tokens_between_organizations_with_an_event() {
        let mut stub = token();
        let tx = ok(stub.submit("Transfer", &["Org2::client", "300"]));
        assert_eq!(tx.events[0].name, "Transfer");
        assert_eq!(
            tx.events[0].payload,
            br#"{"from":"Org1::client","to":"Org2::client","value":300}"#
        );
        stub.act_as("Org2", "client");
        assert_eq!(stub.query("ClientAccountBalance", &[]).payload_str(), "300");
        let over = stub.invoke("Transfer", &["Org1::client", "301"]);
        assert_eq!(
            (over.response.status, over.message()),
            (400, "Org2::client holds 300, cannot transfer 301")
        );
        assert_eq!(stub.invoke("Transfer", &["Org2::client", "1"]).response.status, 400);
        assert_eq!(stub.invoke("Transfer", &["Org1::client", "0"]).response.status, 400);
        assert_eq!(stub.query("BalanceOf", &["Org1::client"]).payload_str(), "700");
    }

    #[test]
    fn transfer_from_spends_an_allowance_and_no_more() {
        let mut stub = token();
        let approve = ok(stub.submit("Approve", &["Org2::client", "100"]));
        assert_eq!(
            approve.events[0].payload,
            br#"{"owner":"Org1::client","spender":"Org2::client","value":100}"#
        );
        stub.act_as("Org2", "client");
        ok(stub.submit("TransferFrom", &["Org1::client", "Org2::admin", "60"]));
        assert_eq!(stub.query("Allowance", &["Org1::client", "Org2::client"]).payload_str(), "40");
        let over = stub.invoke("TransferFrom", &["Org1::client", "Org2::admin", "41"]);
        assert_eq!(over.response.status, 403);
        assert_eq!(over.message(), "Org2::client may spend 40 of Org1::client's tokens, not 41");
        assert_eq!(stub.query("BalanceOf", &["Org2::admin"]).payload_str(), "60");
        assert_eq!(stub.query("BalanceOf", &["Org1::client"]).payload_str(), "940");
    }

    #[test]
    fn initialize_runs_once_and_everything_else_waits_for_it() {
        let mut stub = MockStub::new("token", Token);
        let early = stub.invoke("Mint", &["1"]);
        assert_eq!(
            (early.response.status, early.message()),
            (409, "the token is not initialized: call Initialize first")
        );
        ok(stub.submit("Initialize", &["T", "T", "0"]));
        stub.act_as("Org2", "admin");
        let again = stub.invoke("Initialize", &["U", "U", "0"]);
        assert_eq!(again.response.status, 409);
        assert!(again.message().contains("minter organization Org1"));
    }
}
