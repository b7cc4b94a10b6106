//! Contract definitions committed through the `_lifecycle` namespace: admin-only, checked,
//! effective from the next block, the same through `append` and the pipelined `append_all`,
//! and restored when the ledger reopens.

use prost::Message;
use weft_ledger::Ledger;
use weft_proto::v1::{ContractDefinition, KvWrite, NsReadWriteSet, TxValidationCode};
use weft_protocol::channel::LIFECYCLE;
use weft_protocol::policy;
use weft_protocol::testing::{TestNetwork, TxSpec};

use TxValidationCode::{IllegalWriteset, InvalidChaincode, Valid};

fn define(name: &str, version: &str) -> NsReadWriteSet {
    let def = ContractDefinition {
        name: name.into(),
        version: version.into(),
        policy: Some(policy::peer("Org1")),
        code_hash: vec![9; 32],
        init_required: false,
    };
    NsReadWriteSet {
        namespace: LIFECYCLE.into(),
        writes: vec![KvWrite {
            key: name.as_bytes().to_vec(),
            is_delete: false,
            value: def.encode_to_vec(),
        }],
        ..Default::default()
    }
}

fn put(ns: &str, key: &str) -> NsReadWriteSet {
    NsReadWriteSet {
        namespace: ns.into(),
        writes: vec![KvWrite { key: key.into(), is_delete: false, value: b"v".to_vec() }],
        ..Default::default()
    }
}

#[test]
fn definitions_commit_through_lifecycle_and_survive_reopen() {
    for pipelined in [false, true] {
        let net = TestNetwork::new("ch1", 1, &[]);
        let org = net.org(0);
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path(), net.config.clone()).unwrap();
        let tx = |client, contract, nonce: &str, rwset| {
            net.envelope(TxSpec::new(client, contract, nonce, rwset, vec![&org.peer])).1
        };
        let block0 = vec![
            // Not defined yet.
            tx(&org.client, "asset", "a0", put("asset", "k")),
            // A client (not an admin) may not define contracts.
            tx(&org.client, LIFECYCLE, "l0", define("asset", "1")),
            // A contract may not write the lifecycle namespace.
            tx(&org.client, "asset", "a1", define("asset", "1")),
            // The admin defines it.
            tx(&org.admin, LIFECYCLE, "l1", define("asset", "1")),
            // Definitions apply from the next block on.
            tx(&org.client, "asset", "a2", put("asset", "k")),
        ];
        let block1 = vec![tx(&org.client, "asset", "a3", put("asset", "k"))];
        let want = [
            vec![InvalidChaincode, IllegalWriteset, InvalidChaincode, Valid, InvalidChaincode],
            vec![Valid],
        ];
        let mut codes = Vec::new();
        if pipelined {
            let b0 = ledger.next_block(block0);
            let hash = weft_protocol::block::header_hash(b0.header.as_ref().unwrap());
            let b1 = weft_protocol::block::new_block(1, hash.to_vec(), block1);
            ledger.append_all([b0, b1], |c| codes.push(c.codes)).unwrap();
        } else {
            codes.push(ledger.append(ledger.next_block(block0)).unwrap().codes);
            codes.push(ledger.append(ledger.next_block(block1)).unwrap().codes);
        }
        assert_eq!(codes, want, "pipelined: {pipelined}");
        let def = ledger.channel().contract("asset").cloned().unwrap();
        assert_eq!(def.version, "1");
        drop(ledger);

        let reopened = Ledger::open(dir.path(), net.config.clone()).unwrap();
        assert_eq!(reopened.channel().contract("asset"), Some(&def));
        assert_eq!(reopened.channel().contracts().len(), 1);
        // An upgrade replaces the definition.
        let upgrade = tx(&org.admin, LIFECYCLE, "l2", define("asset", "2"));
        let committed = reopened.append(reopened.next_block(vec![upgrade])).unwrap();
        assert_eq!(committed.codes, vec![Valid]);
        assert_eq!(reopened.channel().contract("asset").unwrap().version, "2");
        reopened.verify_chain().unwrap();
    }
}

#[test]
fn a_hand_made_definition_with_a_bad_name_or_version_is_invalid() {
    let net = TestNetwork::new("ch1", 1, &[]);
    let org = net.org(0);
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), net.config.clone()).unwrap();
    let long_version = "1".repeat(100_000);
    let bad = [
        ("../x", "1"),
        ("a/b", "1"),
        (".", "1"),
        ("a\nb", "1"),
        ("\u{1b}[31mred", "1"),
        ("a\u{202e}b", "1"),
        ("_mine", "1"),
        ("ok", "1 0"),
        ("ok", "1\n"),
        ("ok", &long_version),
    ];
    let mut block = Vec::new();
    for (i, (name, version)) in bad.iter().enumerate() {
        // Signed by the admin, endorsed by the right peer: only the name or version is wrong.
        let spec = TxSpec::new(
            &org.admin,
            LIFECYCLE,
            format!("l{i}").as_str(),
            define(name, version),
            vec![&org.peer],
        );
        block.push(net.envelope(spec).1);
    }
    block.push(
        net.envelope(TxSpec::new(
            &org.admin,
            LIFECYCLE,
            "good",
            define("a-b_c", "1.0+x"),
            vec![&org.peer],
        ))
        .1,
    );
    let codes = ledger.append(ledger.next_block(block)).unwrap().codes;
    let mut want = vec![IllegalWriteset; bad.len()];
    want.push(Valid);
    assert_eq!(codes, want);
    assert_eq!(ledger.channel().contracts().len(), 1);
    assert_eq!(ledger.channel().contract("a-b_c").unwrap().version, "1.0+x");
}
