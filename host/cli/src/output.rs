//! JSON renderings of responses, blocks and transactions.
//!
//! A contract's response has one shape, in `weft query` and `weft invoke` alike (invoke adds
//! where and how the transaction committed), and for a refusal too:
//!
//! ```text
//! {"status": 200, "message": "", "payload": "..."}                       query, refusal
//! {"status": 200, "message": "", "payload": "...",
//!  "tx_id": "...", "code": "VALID", "block": 7, "block_hash": "...", "conflicts": []}  invoke
//! ```
//!
//! The payload is printed as the contract returned it, never re-parsed: UTF-8 text as a JSON
//! string (a token named "100" stays the string "100"; a JSON document stays a string holding
//! it), other bytes as `{"hex": "..."}`. `--raw` writes the payload bytes alone instead.

use serde_json::{Value, json};
use weft_client::{Deployed, Submitted};
use weft_node::config::hex;
use weft_proto::v1::{
    Block, Conflict, ContractDefinition, ContractEvent, GetTransactionResponse, KeyModification,
    Proposal, Response, Transaction, TxValidationCode,
};
use weft_protocol::decoded::{DecodedTx, TxDecodeError};
use weft_rwset::text::is_unsafe;

/// Prints `value` as pretty JSON on stdout, [terminal-safe](terminal_safe).
pub(crate) fn print(value: &Value) -> anyhow::Result<()> {
    println!("{}", terminal_safe(serde_json::to_string_pretty(value)?));
    Ok(())
}

/// Prints `value` as one line of JSON on stdout, [terminal-safe](terminal_safe).
pub(crate) fn print_line(value: &Value) {
    println!("{}", terminal_safe(value.to_string()));
}

/// JSON text with every character `weft_rwset::text::is_unsafe` names (DEL, C1 controls,
/// bidirectional overrides, line separators; not the newlines of its layout) written as a
/// `\uXXXX` escape, so contract- or client-supplied strings cannot drive or reorder the
/// terminal. JSON already escapes C0 controls; the others can only occur inside strings,
/// where the escape means the same.
pub(crate) fn terminal_safe(json: String) -> String {
    // Newlines outside strings are the layout of pretty JSON; inside strings JSON escapes them.
    let unsafe_char = |c: char| c != '\n' && is_unsafe(c);
    if !json.chars().any(unsafe_char) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if unsafe_char(c) {
            // Every unsafe character is in the Basic Multilingual Plane: one JSON escape.
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// A payload as JSON if it is JSON, else as a string if UTF-8, else as hex.
fn payload(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
        return v;
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Value::String(s.to_string()),
        Err(_) => json!({ "hex": hex(bytes) }),
    }
}

/// A stored value as a string if UTF-8, else as hex.
fn text_or_hex(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(s) => Value::String(s.to_string()),
        Err(_) => json!({ "hex": hex(bytes) }),
    }
}

/// One event as a single JSON line.
pub(crate) fn event(block: u64, e: &ContractEvent) -> Value {
    json!({ "block": block, "tx_id": e.tx_id, "contract": e.contract, "name": e.name, "payload": payload(&e.payload) })
}

/// A contract's response: status, message and the payload as it is (see the module docs).
pub(crate) fn response(r: &Response) -> Value {
    json!({ "status": r.status, "message": r.message, "payload": text_or_hex(&r.payload) })
}

fn code_name(code: i32) -> &'static str {
    TxValidationCode::try_from(code).map_or("UNKNOWN", |c| c.as_str_name())
}

fn conflicts(list: &[Conflict]) -> Value {
    list.iter()
        .map(|c| {
            json!({
                "namespace": c.namespace,
                "key": String::from_utf8_lossy(&c.key),
                "recorded": c.recorded.map(|v| [v.block_num, v.tx_num]),
                "current": c.current.map(|v| [v.block_num, v.tx_num]),
                "written_by_tx": c.written_by_tx,
            })
        })
        .collect()
}

/// A committed transaction: its response (as [`response`]) with the transaction id, the
/// validation code, the block and its hash, and any conflicts.
pub(crate) fn submitted(s: &Submitted) -> Value {
    let mut value = response(&s.response);
    value["tx_id"] = json!(s.tx_id);
    value["code"] = json!(code_name(s.status.code));
    value["block"] = json!(s.status.block_number);
    value["block_hash"] = json!(hex(&s.status.block_hash));
    value["conflicts"] = conflicts(&s.status.conflicts);
    value
}

/// Writes the payload's bytes alone to stdout (`--raw`).
pub(crate) fn raw(payload: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(payload)?;
    out.flush()?;
    Ok(())
}

/// A deploy or upgrade: the definition transaction, as [`submitted`], with the init
/// transaction (or null) under `init`.
pub(crate) fn deployed(d: &Deployed) -> Value {
    let mut value = submitted(&d.definition);
    value["init"] = d.init.as_ref().map_or(Value::Null, submitted);
    value
}

pub(crate) fn contracts(defs: &[ContractDefinition]) -> Value {
    defs.iter()
        .map(|d| {
            json!({
                "name": d.name,
                "version": d.version,
                "init_required": d.init_required,
                "policy": d.policy.as_ref().map(weft_protocol::policy::describe),
                "code_hash": hex(&d.code_hash),
            })
        })
        .collect()
}

/// A key's history, oldest first; a delete has a null value.
pub(crate) fn history(modifications: &[KeyModification]) -> Value {
    modifications
        .iter()
        .map(|m| {
            let version = m.version.unwrap_or_default();
            let ts = m.timestamp.unwrap_or_default();
            json!({
                "tx_id": m.tx_id,
                "block": version.block_num,
                "tx": version.tx_num,
                "timestamp": timestamp(ts.seconds, ts.nanos),
                "is_delete": m.is_delete,
                "value": if m.is_delete { Value::Null } else { text_or_hex(&m.value) },
            })
        })
        .collect()
}

/// RFC 3339 in UTC (e.g. `2026-11-21T01:02:03.000000004Z`), or the raw seconds and nanos if
/// out of range.
fn timestamp(seconds: i64, nanos: u32) -> Value {
    match time_rfc3339(seconds, nanos) {
        Some(text) => Value::String(text),
        None => json!({ "seconds": seconds, "nanos": nanos }),
    }
}

/// A transaction as JSON, with `"malformed"` naming the layer that did not decode if one did
/// not: its fields are then empty, or, when only the response payload does not decode, the
/// response is null.
fn envelope(decoded: Result<DecodedTx, TxDecodeError>) -> Value {
    let (tx, proposal, result, malformed) = match decoded {
        Ok(decoded) => {
            let result = decoded.response_payload();
            let (_, tx, proposal) = decoded.into_parts();
            let malformed = result.as_ref().err().copied();
            (tx, proposal, result.unwrap_or_default(), malformed)
        }
        Err(e) => (Transaction::default(), Proposal::default(), Default::default(), Some(e)),
    };
    let mut value = json!({
        "tx_id": proposal.tx_id,
        "contract": proposal.contract,
        "function": proposal.function,
        "is_init": proposal.is_init,
        "args": proposal.args.iter().map(|a| payload(a)).collect::<Vec<_>>(),
        "creator": proposal.creator.map(|c| json!({ "msp_id": c.msp_id, "public_key": hex(&c.public_key) })),
        "response": result.response.as_ref().map(response),
        "endorsers": tx.endorsements.iter().filter_map(|e| e.endorser.as_ref().map(|i| i.msp_id.clone())).collect::<Vec<_>>(),
    });
    if let Some(e) = malformed {
        value["malformed"] = json!(e.to_string());
    }
    value
}

pub(crate) fn block(b: &Block) -> Value {
    let header = b.header.clone().unwrap_or_default();
    let metadata = b.metadata.clone().unwrap_or_default();
    let txs: Vec<Value> = b
        .data
        .as_ref()
        .map(|d| d.envelopes.as_slice())
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            let mut tx = envelope(DecodedTx::decode(bytes));
            tx["code"] = json!(metadata.validation_codes.get(i).map(|c| code_name(*c)));
            tx
        })
        .collect();
    json!({
        "number": header.number,
        "hash": hex(&weft_protocol::block::header_hash(&header)),
        "previous_hash": hex(&header.previous_hash),
        "data_hash": hex(&header.data_hash),
        "commit_hash": hex(&metadata.commit_hash),
        "transactions": txs,
        "conflicts": conflicts(&metadata.conflicts),
    })
}

pub(crate) fn transaction(t: &GetTransactionResponse) -> Value {
    let mut value = match &t.envelope {
        Some(e) => envelope(DecodedTx::from_envelope(e.clone())),
        None => Value::Null,
    };
    value["code"] = json!(code_name(t.code));
    value["block"] = json!(t.block_number);
    value["tx_index"] = json!(t.tx_index);
    value["conflicts"] = conflicts(&t.conflicts);
    value
}

/// `seconds` (since the Unix epoch) and `nanos` as RFC 3339 UTC, for years 0 to 9999.
fn time_rfc3339(seconds: i64, nanos: u32) -> Option<String> {
    if nanos >= 1_000_000_000 {
        return None;
    }
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(0..=9999).contains(&year) {
        return None;
    }
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_valid_json_without_terminal_controls() {
        let message = "done\n\x1b[31m\u{7f}\u{9b}2J\u{202e}txet";
        let r = Response { status: 200, message: message.into(), payload: b"\xff".to_vec() };
        let text = terminal_safe(serde_json::to_string_pretty(&response(&r)).unwrap());
        assert!(!text.chars().any(|c| is_unsafe(c) && c != '\n'), "{text}");
        assert!(text.contains(r#""done\n\u001b[31m\u007f\u009b2J\u202etxet""#), "{text}");
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["message"], message);
        assert_eq!(terminal_safe("{\"a\": 1}".into()), "{\"a\": 1}");
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(time_rfc3339(0, 0).unwrap(), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(time_rfc3339(951_782_400, 5).unwrap(), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(time_rfc3339(1_795_222_923, 0).unwrap(), "2026-11-21T01:02:03.000000000Z");
        assert_eq!(time_rfc3339(-1, 0).unwrap(), "1969-12-31T23:59:59.000000000Z");
        assert!(time_rfc3339(i64::MAX, 0).is_none());
        assert_eq!(timestamp(0, 2_000_000_000), json!({ "seconds": 0, "nanos": 2_000_000_000u32 }));
    }

    #[test]
    fn responses_print_the_payload_as_it_is() {
        let r = |payload: &[u8]| Response {
            status: 200,
            message: String::new(),
            payload: payload.to_vec(),
        };
        assert_eq!(response(&r(b"100"))["payload"], json!("100"));
        assert_eq!(response(&r(br#"{"a":1}"#))["payload"], json!(r#"{"a":1}"#));
        assert_eq!(response(&r(b""))["payload"], json!(""));
        assert_eq!(response(&r(b"\xff"))["payload"], json!({ "hex": "ff" }));
        let status = weft_proto::v1::CommitStatusResponse {
            tx_id: "t".into(),
            code: TxValidationCode::Valid as i32,
            block_number: 4,
            conflicts: vec![],
            block_hash: vec![0xab],
        };
        let done = Submitted { tx_id: "t".into(), response: r(b"7"), status };
        let value = submitted(&done);
        assert_eq!(
            value,
            json!({ "status": 200, "message": "", "payload": "7", "tx_id": "t", "code": "VALID",
                    "block": 4, "block_hash": "ab", "conflicts": [] })
        );
    }

    #[test]
    fn history_values_are_text_or_hex_and_deletes_null() {
        let entry = |value: &[u8], is_delete| KeyModification {
            tx_id: "t".into(),
            version: Some(weft_proto::v1::Version { block_num: 3, tx_num: 1 }),
            timestamp: Some(weft_proto::v1::Timestamp { seconds: 0, nanos: 0 }),
            is_delete,
            value: value.to_vec(),
        };
        let out = history(&[entry(b"100", false), entry(b"\xff\x00", false), entry(b"", true)]);
        assert_eq!(out[0]["value"], "100");
        assert_eq!((out[0]["block"].as_u64(), out[0]["tx"].as_u64()), (Some(3), Some(1)));
        assert_eq!(out[1]["value"], json!({ "hex": "ff00" }));
        assert_eq!((out[2]["value"].is_null(), &out[2]["is_delete"]), (true, &json!(true)));
    }

    #[test]
    fn transactions_name_the_layer_that_does_not_decode() {
        use prost::Message;
        use weft_protocol::identity::SigningIdentity;
        use weft_protocol::transaction::{self, ProposalSpec};

        let client = SigningIdentity::from_seed("Org1", "client");
        let invocation = ProposalSpec {
            channel: "ch1".into(),
            contract: "kv".into(),
            function: "put".into(),
            args: vec![b"k".to_vec()],
            nonce: b"n".to_vec(),
            ..Default::default()
        };
        let proposal = transaction::new_proposal(client.identity(), invocation);
        let proposal_bytes = proposal.encode_to_vec();
        let payload = transaction::response_payload(
            &proposal_bytes,
            Response { status: 200, message: String::new(), payload: b"ok".to_vec() },
            Default::default(),
            vec![],
            "1",
        );
        let good = transaction::envelope(&client, proposal_bytes.clone(), payload, vec![]);
        let value = envelope(DecodedTx::from_envelope(good.clone()));
        assert_eq!((&value["tx_id"], &value["function"]), (&json!(proposal.tx_id), &json!("put")));
        assert_eq!(value["response"]["payload"], "ok");
        assert!(value.get("malformed").is_none(), "{value}");
        let block = Block {
            data: Some(weft_proto::v1::BlockData { envelopes: vec![good.encode_to_vec()] }),
            ..Default::default()
        };
        assert_eq!(self::block(&block)["transactions"][0]["tx_id"], json!(proposal.tx_id));

        let unreadable = transaction::envelope(&client, proposal_bytes, vec![0xff; 4], vec![]);
        let value = envelope(DecodedTx::from_envelope(unreadable));
        assert_eq!((&value["function"], &value["response"]), (&json!("put"), &Value::Null));
        assert_eq!(value["malformed"], "the envelope's response payload does not decode");
        let junk = envelope(DecodedTx::decode(b"\x0a\xff"));
        assert_eq!(
            (&junk["tx_id"], &junk["malformed"]),
            (&json!(""), &json!("the envelope does not decode"))
        );
    }
}
