//! The test vectors of `docs/protocol.md`, recomputed with the code the node and the CLI use:
//! the inputs are read from the document and every output printed there must be what the
//! real functions produce, byte for byte. The document and the code cannot drift apart.

use std::collections::HashMap;

use prost::Message;
use weft_proto::v1::{ContractEvent, KvWrite, NsReadWriteSet, Response, Timestamp, TxReadWriteSet};
use weft_protocol::identity::SigningIdentity;
use weft_protocol::transaction::{self, ProposalSpec};

/// The `name = value` lines of the fenced blocks under "## Test vectors".
fn vectors() -> HashMap<String, String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/protocol.md");
    let doc = std::fs::read_to_string(path).expect("docs/protocol.md");
    let section = doc.split("\n## Test vectors").nth(1).expect("a Test vectors section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut values = HashMap::new();
    let mut in_block = false;
    for line in section.lines() {
        if line.starts_with("```") {
            in_block = !in_block;
            continue;
        }
        let Some((name, value)) = line.split_once(" = ").filter(|_| in_block) else { continue };
        let value = value.trim();
        let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
        assert!(
            values.insert(name.trim().to_string(), value.to_string()).is_none(),
            "vector {name} is given twice"
        );
    }
    values
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd hex {text}");
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

struct Doc(HashMap<String, String>);

impl Doc {
    fn get(&self, name: &str) -> &str {
        self.0.get(name).unwrap_or_else(|| panic!("docs/protocol.md has no vector {name}"))
    }

    fn secret(&self, name: &str) -> [u8; 32] {
        unhex(self.get(name)).try_into().expect("a 32-byte secret")
    }

    /// Records whether the document prints `computed` for `name`.
    fn check(&self, name: &str, computed: &str, checked: &mut Vec<(String, Option<String>)>) {
        let wrong = (self.0.get(name).map(String::as_str) != Some(computed))
            .then(|| format!("{name} = {computed}"));
        checked.push((name.to_string(), wrong));
    }
}

#[test]
fn the_documented_vectors_are_what_the_code_computes() {
    let doc = Doc(vectors());
    let mut checked = Vec::new();
    let client = SigningIdentity::from_secret(doc.get("msp_id"), doc.secret("client_secret"));
    let peer = SigningIdentity::from_secret(doc.get("msp_id"), doc.secret("peer_secret"));
    doc.check("client_public_key", &hex(&client.public_key()), &mut checked);
    doc.check("peer_public_key", &hex(&peer.public_key()), &mut checked);
    doc.check("client_identity", &hex(&client.identity().encode_to_vec()), &mut checked);
    doc.check("peer_identity", &hex(&peer.identity().encode_to_vec()), &mut checked);

    // The proposal, its id, bytes, signature and hash.
    let args = vec![doc.get("arg0").as_bytes().to_vec(), doc.get("arg1").as_bytes().to_vec()];
    let proposal = transaction::new_proposal(
        client.identity(),
        ProposalSpec {
            channel: doc.get("channel").into(),
            contract: doc.get("contract").into(),
            function: doc.get("function").into(),
            args,
            nonce: unhex(doc.get("nonce")),
            timestamp: Timestamp {
                seconds: doc.get("timestamp_seconds").parse().unwrap(),
                nanos: doc.get("timestamp_nanos").parse().unwrap(),
            },
        },
    );
    doc.check("tx_id", &proposal.tx_id, &mut checked);
    let signed = transaction::sign_proposal(&client, &proposal, vec![]);
    doc.check("proposal", &hex(&signed.proposal), &mut checked);
    doc.check("proposal_signature", &hex(&signed.signature), &mut checked);
    doc.check("proposal_hash", &hex(&transaction::proposal_hash(&signed.proposal)), &mut checked);

    // What the peer endorses: its payload, the bytes it signs and its signature.
    let (contract, function) = (doc.get("contract"), doc.get("function"));
    let rwset = TxReadWriteSet {
        ns_rwset: vec![NsReadWriteSet {
            namespace: contract.into(),
            writes: vec![KvWrite {
                key: doc.get("arg0").into(),
                is_delete: false,
                value: doc.get("arg1").into(),
            }],
            ..Default::default()
        }],
    };
    let event = ContractEvent {
        contract: contract.into(),
        tx_id: proposal.tx_id.clone(),
        name: function.into(),
        payload: doc.get("arg0").into(),
    };
    let response =
        Response { status: doc.get("response_status").parse().unwrap(), ..Default::default() };
    let payload = transaction::response_payload(
        &signed.proposal,
        response,
        rwset,
        vec![event],
        doc.get("contract_version"),
    );
    doc.check("response_payload", &hex(&payload), &mut checked);
    let message = transaction::endorsement_message(&payload, peer.identity());
    doc.check("endorsement_message", &hex(&message), &mut checked);
    let endorsement = transaction::endorse(&peer, &payload);
    doc.check("endorsement_signature", &hex(&endorsement.signature), &mut checked);

    // The client's envelope over the transaction.
    let envelope =
        transaction::envelope(&client, signed.proposal.clone(), payload, vec![endorsement]);
    doc.check("transaction", &hex(&envelope.payload), &mut checked);
    doc.check("envelope_signature", &hex(&envelope.signature), &mut checked);

    // An install request's signed message.
    let wasm = unhex(doc.get("wasm"));
    let install = weft_protocol::lifecycle::install_message(&wasm);
    doc.check("install_message", &hex(&install), &mut checked);
    doc.check("install_signature", &hex(&client.sign(&install)), &mut checked);

    // Every vector the document gives is an input used above or an output checked here.
    let inputs = [
        "client_secret",
        "peer_secret",
        "msp_id",
        "channel",
        "contract",
        "function",
        "arg0",
        "arg1",
        "nonce",
        "timestamp_seconds",
        "timestamp_nanos",
        "response_status",
        "contract_version",
        "wasm",
    ];
    let wrong: Vec<&String> = checked.iter().filter_map(|(_, wrong)| wrong.as_ref()).collect();
    assert!(
        wrong.is_empty(),
        "docs/protocol.md differs from what the code computes; the code's values:\n{}",
        wrong.iter().map(|w| w.as_str()).collect::<Vec<_>>().join("\n")
    );
    let mut unused: Vec<&String> = doc
        .0
        .keys()
        .filter(|k| !inputs.contains(&k.as_str()) && !checked.iter().any(|(c, _)| c == *k))
        .collect();
    unused.sort();
    assert!(unused.is_empty(), "docs/protocol.md has vectors no test checks: {unused:?}");
}
