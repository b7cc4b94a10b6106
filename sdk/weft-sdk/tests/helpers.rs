//! Typed state helpers, error context and the caller's identity, through `MockStub` (the same
//! recording as on a peer).

use serde::{Deserialize, Serialize};
use weft_sdk::testing::{Identity, MockStub, dev_network};
use weft_sdk::{Context, ContractError, ResultExt, Role};

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Item {
    name: String,
    count: u32,
}

#[derive(Default)]
struct Store;

#[weft_sdk::contract]
impl Store {
    #[transaction]
    fn put_item(&self, ctx: &mut Context, id: String, item: Item) -> Result<(), ContractError> {
        ctx.put_json(&id, &item)
    }

    #[transaction]
    fn get_item(&self, ctx: &mut Context, id: String) -> Result<Item, ContractError> {
        ctx.get_json(&id)?
            .with_context(|| format!("no item {id}"))
            .map_err(|e| e.with_status_of(404))
    }

    #[transaction]
    fn add(&self, ctx: &mut Context, key: String, n: u64) -> Result<u64, ContractError> {
        let now: u64 = ctx.get_number(&key).context("adding")?.unwrap_or(0);
        let next = now.checked_add(n).context("adding: overflow")?;
        ctx.put_number(&key, next)?;
        Ok(next)
    }

    #[transaction]
    fn admin_only(&self, ctx: &mut Context) -> Result<String, ContractError> {
        let me = ctx.creator();
        me.assert_role(Role::Admin).context("admin_only")?;
        me.assert_attribute("dept", "ops")?;
        Ok(me.id())
    }
}

#[test]
fn json_and_numbers_round_trip_and_bad_values_name_the_key() {
    let mut stub = MockStub::new("store", Store);
    assert!(stub.submit("PutItem", &["i1", r#"{"name":"bolt","count":3}"#]).is_success());
    assert_eq!(stub.committed(b"i1").unwrap(), br#"{"name":"bolt","count":3}"#);
    assert_eq!(
        stub.query("GetItem", &["i1"]).json::<Item>(),
        Item { name: "bolt".into(), count: 3 }
    );
    let missing = stub.query("GetItem", &["i2"]);
    assert_eq!((missing.response.status, missing.message()), (404, "no item i2"));
    assert_eq!(stub.submit("Add", &["n", "5"]).payload_str(), "5");
    assert_eq!(stub.submit("Add", &["n", "2"]).payload_str(), "7");
    assert_eq!(stub.committed(b"n").unwrap(), b"7");
    let not_a_number = stub.invoke("Add", &["i1", "1"]);
    assert_eq!(not_a_number.message(), "adding: state key i1 does not hold a u64 in decimal text");
    let overflow = stub.invoke("Add", &["n", &u64::MAX.to_string()]);
    assert_eq!(overflow.message(), "adding: overflow");
    let not_json = stub.query("GetItem", &["n"]);
    assert!(
        not_json.message().starts_with("state key n does not hold the JSON of a"),
        "{}",
        not_json.message()
    );
}

#[test]
fn the_default_caller_is_the_dev_networks_client_and_tests_choose_others() {
    let mut stub = MockStub::new("store", Store);
    assert_eq!(stub.identity(), &dev_network::default_creator());
    assert_eq!(stub.identity().id(), "Org1::client");
    let refused = stub.query("AdminOnly", &[]);
    assert_eq!(refused.response.status, 403);
    assert_eq!(
        refused.message(),
        "admin_only: Org1::client is not allowed: this needs role admin; its role is client"
    );
    stub.act_as("Org2", "admin");
    let no_attribute = stub.query("AdminOnly", &[]);
    assert!(no_attribute.message().ends_with("this identity does not have it"));
    stub.set_identity(Identity::new("Org2", "ops", Role::Admin).with_attribute("dept", "ops"));
    assert_eq!(stub.query("AdminOnly", &[]).payload_str(), "Org2::ops");
}

#[test]
#[should_panic(expected = "a dev network has no identity client in Org3")]
fn acting_as_an_unknown_dev_identity_says_what_exists() {
    MockStub::new("store", Store).act_as("Org3", "client");
}

#[derive(Default)]
struct Guarded;

#[weft_sdk::contract]
impl Guarded {
    /// Every transaction function is for Org1 members only; the refusal stops the call.
    #[before]
    fn members_of_org1(&self, ctx: &mut Context) -> Result<(), ContractError> {
        ctx.set_event("Checked", ctx.function())?;
        ctx.creator().assert_msp_id("Org1")
    }

    #[init]
    fn init(&self, ctx: &mut Context) -> Result<(), ContractError> {
        ctx.put("init", "done")?;
        Ok(())
    }

    #[transaction]
    fn write(&self, ctx: &mut Context, key: String) -> Result<(), ContractError> {
        ctx.put(&key, "x")?;
        Ok(())
    }
}

#[test]
fn a_before_hook_runs_before_every_transaction_function_and_can_refuse() {
    let mut stub = MockStub::new("guarded", Guarded);
    let allowed = stub.invoke("Write", &["k"]);
    assert!(allowed.is_success(), "{}", allowed.message());
    assert_eq!(
        (allowed.events[0].name.as_str(), allowed.events[0].payload.as_slice()),
        ("Checked", b"Write".as_slice())
    );
    assert_eq!(allowed.rwset.writes[0].key, b"k");
    stub.act_as("Org2", "client");
    let refused = stub.invoke("Write", &["k"]);
    assert_eq!(refused.response.status, 403);
    assert!(refused.rwset.writes.is_empty() && refused.events.len() == 1);
    // Not before init, nor for an unknown function.
    assert!(stub.init("init", &[]).is_success());
    assert!(stub.invoke("Nope", &[]).message().contains("is not defined"));
}

#[test]
fn a_contract_describes_its_functions() {
    let mut stub = MockStub::new("store", Store);
    let described: serde_json::Value = stub.query("weft:describe", &[]).json();
    let functions = described["functions"].as_array().unwrap();
    let names: Vec<&str> = functions.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["PutItem", "GetItem", "Add", "AdminOnly"]);
    assert_eq!(
        functions[0]["args"],
        serde_json::json!([{ "name": "id", "type": "String" }, { "name": "item", "type": "Item" }])
    );
    assert_eq!(functions[2]["returns"], "Result<u64, ContractError>");
    assert_eq!(
        (&described["init"], &described["before"]),
        (&serde_json::Value::Null, &serde_json::json!(false))
    );
    let guarded: serde_json::Value = MockStub::new("g", Guarded).query("weft:describe", &[]).json();
    assert_eq!(guarded["before"], true);
    assert_eq!(guarded["init"]["name"], "init");
    assert_eq!(guarded["functions"][0]["args"][0]["name"], "key");
}
