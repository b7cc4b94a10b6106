//! JSON renderings of responses, blocks and transactions.

use prost::Message;
use serde_json::{Value, json};
use weft_node::client::{Deployed, Submitted};
use weft_node::config::hex;
use weft_proto::v1::{
    Block, Conflict, ContractDefinition, ContractEvent, Envelope, GetTransactionResponse, Proposal,
    ProposalResponsePayload, Response, Transaction, TxValidationCode,
};

/// Prints `value` as pretty JSON on stdout.
pub(crate) fn print(value: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
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

/// One event as a single JSON line.
pub(crate) fn event(block: u64, e: &ContractEvent) -> Value {
    json!({ "block": block, "tx_id": e.tx_id, "contract": e.contract, "name": e.name, "payload": payload(&e.payload) })
}

pub(crate) fn response(r: &Response) -> Value {
    json!({ "status": r.status, "message": r.message, "payload": payload(&r.payload) })
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

pub(crate) fn submitted(s: &Submitted) -> Value {
    json!({
        "tx_id": s.tx_id,
        "code": code_name(s.status.code),
        "block": s.status.block_number,
        "conflicts": conflicts(&s.status.conflicts),
        "response": response(&s.response),
    })
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
                "code_hash": hex(&d.code_hash),
            })
        })
        .collect()
}

fn envelope(bytes_or: &Envelope) -> Value {
    let tx = Transaction::decode(bytes_or.payload.as_slice()).unwrap_or_default();
    let proposal = Proposal::decode(tx.proposal.as_slice()).unwrap_or_default();
    let result =
        ProposalResponsePayload::decode(tx.response_payload.as_slice()).unwrap_or_default();
    json!({
        "tx_id": proposal.tx_id,
        "contract": proposal.contract,
        "function": proposal.function,
        "is_init": proposal.is_init,
        "args": proposal.args.iter().map(|a| payload(a)).collect::<Vec<_>>(),
        "creator": proposal.creator.map(|c| json!({ "msp_id": c.msp_id, "public_key": hex(&c.public_key) })),
        "response": result.response.as_ref().map(response),
        "endorsers": tx.endorsements.iter().filter_map(|e| e.endorser.as_ref().map(|i| i.msp_id.clone())).collect::<Vec<_>>(),
    })
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
            let mut tx = envelope(&Envelope::decode(bytes.as_slice()).unwrap_or_default());
            tx["code"] = json!(metadata.validation_codes.get(i).map(|c| code_name(*c)));
            tx
        })
        .collect();
    json!({
        "number": header.number,
        "hash": hex(&weft_ledger::block::header_hash(&header)),
        "previous_hash": hex(&header.previous_hash),
        "data_hash": hex(&header.data_hash),
        "commit_hash": hex(&metadata.commit_hash),
        "transactions": txs,
        "conflicts": conflicts(&metadata.conflicts),
    })
}

pub(crate) fn transaction(t: &GetTransactionResponse) -> Value {
    let mut value = t.envelope.as_ref().map(envelope).unwrap_or(Value::Null);
    value["code"] = json!(code_name(t.code));
    value["block"] = json!(t.block_number);
    value["tx_index"] = json!(t.tx_index);
    value["conflicts"] = conflicts(&t.conflicts);
    value
}
