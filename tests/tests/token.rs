//! The token sample through the real node: access control decided by the caller's identity as
//! the channel configuration lists it, with identities of both organizations of the dev
//! network. The same checks run natively in `contracts/token`'s tests on `MockStub`.

use prost::Message;
use tonic::Code;
use weft_client::Deploy;
use weft_e2e::{TestNet, args};
use weft_proto::v1::TxValidationCode;
use weft_protocol::policy;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minting_is_for_org1_clients_and_tokens_cross_organizations() {
    let net = TestNet::start(|_| {}).await;
    let wasm = std::fs::read(weft_contract_artifacts::TOKEN).expect("sample built");
    let deployed =
        net.admin.deploy(Deploy::new("token", "1", policy::peer("Org1"), wasm)).await.unwrap();
    assert_eq!(deployed.definition.status.code(), TxValidationCode::Valid, "{deployed:?}");
    // Both organizations' peers endorse (the one dev node holds both keys).
    let org2 = net.connect_as("org2:client").await;
    let org1_admin = net.connect_as("org1:admin").await;

    let init = net.client.submit("token", "Initialize", args(&["Weft", "WFT", "2"])).await;
    assert_eq!(init.unwrap().status.code(), TxValidationCode::Valid);

    // The caller's identity reaches the contract as the channel lists it: the same ids the
    // contract's native tests see on MockStub.
    let id = |r: weft_proto::v1::Response| String::from_utf8(r.payload).unwrap();
    let me = net.client.evaluate("token", "ClientAccountID", vec![]).await.unwrap();
    assert_eq!(id(me), "Org1::client");
    let them = org2.evaluate("token", "ClientAccountID", vec![]).await.unwrap();
    assert_eq!(id(them), "Org2::client");

    // Another organization's client is refused, with the contract's reason.
    let refused = org2.submit("token", "Mint", args(&["5"])).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(
        refused.message().contains("Org2::client is not allowed: only members of Org1 may do this"),
        "{refused:?}"
    );
    // So is Org1's admin: the role is checked too.
    let admin = org1_admin.submit("token", "Mint", args(&["5"])).await.unwrap_err();
    assert!(admin.message().contains("this needs role client; its role is admin"), "{admin:?}");

    let minted = net.client.submit("token", "Mint", args(&["1000"])).await.unwrap();
    assert_eq!(minted.status.code(), TxValidationCode::Valid);
    assert_eq!(minted.response.payload, b"1000");
    let sent = net.client.submit("token", "Transfer", args(&["Org2::client", "300"])).await;
    assert_eq!(sent.unwrap().status.code(), TxValidationCode::Valid);

    // Org2's client spends what it received.
    let balance = org2.evaluate("token", "ClientAccountBalance", vec![]).await.unwrap();
    assert_eq!(balance.payload, b"300");
    let back = org2.submit("token", "Transfer", args(&["Org1::client", "100"])).await.unwrap();
    assert_eq!(back.status.code(), TxValidationCode::Valid);
    let org1 = net.client.evaluate("token", "BalanceOf", args(&["Org1::client"])).await.unwrap();
    assert_eq!(org1.payload, b"800");
    let supply = org2.evaluate("token", "TotalSupply", vec![]).await.unwrap();
    assert_eq!(supply.payload, b"1000");
}

/// Attributes set for an identity in the channel configuration reach the contract on the
/// node, with the role and stable id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attributes_from_the_channel_configuration_reach_the_contract() {
    let net = TestNet::start(|config| {
        let mut genesis = config.channel_config().unwrap();
        let org2 = genesis.organizations.iter_mut().find(|o| o.msp_id == "Org2").unwrap();
        let client = org2.identities.iter_mut().find(|i| i.name == "client").unwrap();
        client.attributes = vec![
            weft_proto::v1::Attribute { name: "minter".into(), value: "true".into() },
            weft_proto::v1::Attribute { name: "dept".into(), value: "sales".into() },
        ];
        std::fs::write(&config.genesis, genesis.encode_to_vec()).unwrap();
    })
    .await;
    let wasm = std::fs::read(weft_contract_artifacts::TOKEN).expect("sample built");
    let deployed =
        net.admin.deploy(Deploy::new("token", "1", policy::peer("Org1"), wasm)).await.unwrap();
    assert_eq!(deployed.definition.status.code(), TxValidationCode::Valid, "{deployed:?}");
    let org2 = net.connect_as("org2:client").await;
    let caller = org2.evaluate("token", "Caller", vec![]).await.unwrap();
    let caller: serde_json::Value = serde_json::from_slice(&caller.payload).unwrap();
    assert_eq!(
        caller,
        serde_json::json!({ "id": "Org2::client", "msp_id": "Org2", "role": "client",
                            "attributes": { "dept": "sales", "minter": "true" } })
    );
    let admin = net.admin.evaluate("token", "Caller", vec![]).await.unwrap();
    let admin: serde_json::Value = serde_json::from_slice(&admin.payload).unwrap();
    assert_eq!(
        (admin["id"].as_str(), admin["role"].as_str()),
        (Some("Org1::admin"), Some("admin"))
    );
}
