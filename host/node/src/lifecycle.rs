//! Contract lifecycle on the node, as in Fabric: the `.wasm` is *installed* per peer (the
//! runtime's cache, addressed by code hash; admins only), and the contract is *defined* on
//! the channel by a transaction of the built-in `_lifecycle` contract (function
//! [`DEFINE`], one argument: an encoded `ContractDefinition` carrying the code hash), which
//! goes through endorsement, ordering and validation like any other. The ledger learns
//! definitions from committed `_lifecycle` state (`weft_ledger::channel`), so every peer
//! replaying the chain reaches the same definitions. An upgrade is a new definition of the
//! same name; transactions endorsed on the old version before it commits still validate
//! (their read/write sets are checked, not their code).

use prost::Message;
use weft_ledger::Ledger;
use weft_ledger::channel::{Channel, LIFECYCLE};
use weft_ledger::identity::Role;
use weft_proto::v1::{ContractDefinition, Identity, NsReadWriteSet, Proposal, Response};
use weft_runtime::{CodeHash, Simulator};
use weft_rwset::{Mode, SimError, TxSimulator};

use crate::error::{Error, Result};

/// The `_lifecycle` function that defines (or upgrades) a contract.
pub const DEFINE: &str = "define";

/// The message an admin signs to install `wasm`: a domain tag and the code hash.
pub fn install_message(wasm: &[u8]) -> Vec<u8> {
    let mut message = b"weft install v1".to_vec();
    message.extend_from_slice(CodeHash::of(wasm).0.as_slice());
    message
}

/// Checks that `signer` is an admin of a channel organization and signed
/// [`install_message`] of `wasm`.
pub fn check_install(
    channel: &Channel,
    wasm: &[u8],
    signer: &Identity,
    signature: &[u8],
) -> Result<()> {
    let member = channel.membership().resolve(signer).ok_or_else(|| {
        Error::BadSignature(format!("unknown signer of organization {:?}", signer.msp_id))
    })?;
    let signature = ed25519_dalek_signature(signature)?;
    member
        .key
        .verify_strict(&install_message(wasm), &signature)
        .map_err(|_| Error::BadSignature("the install signature does not verify".into()))?;
    if member.role != Role::Admin {
        return Err(Error::PermissionDenied(format!(
            "installing contracts needs an admin of {}; this key is a member",
            signer.msp_id
        )));
    }
    Ok(())
}

fn ed25519_dalek_signature(bytes: &[u8]) -> Result<ed25519_dalek::Signature> {
    ed25519_dalek::Signature::from_slice(bytes)
        .map_err(|_| Error::BadSignature("the signature is not 64 bytes".into()))
}

/// Simulates a `_lifecycle` proposal: checks the creator is an admin and the definition is
/// well-formed with installed code, then reads and writes the definition's key.
pub fn simulate(
    channel: &Channel,
    ledger: &Ledger,
    sim: &Simulator,
    proposal: &Proposal,
) -> Result<(Response, NsReadWriteSet)> {
    let creator = proposal.creator.clone().unwrap_or_default();
    let admin = channel.membership().resolve(&creator).is_some_and(|m| m.role == Role::Admin);
    if !admin {
        return Err(Error::PermissionDenied(format!(
            "defining contracts needs an admin of {}; the creator is not one",
            creator.msp_id
        )));
    }
    if proposal.function != DEFINE || proposal.args.len() != 1 {
        return Err(Error::BadRequest(format!(
            "{LIFECYCLE} has one function, {DEFINE:?}, with one argument (an encoded ContractDefinition)"
        )));
    }
    let bytes = &proposal.args[0];
    let def = ContractDefinition::decode(bytes.as_slice())
        .map_err(|e| Error::BadRequest(format!("the contract definition does not decode: {e}")))?;
    let def = channel
        .decode_definition(def.name.as_bytes(), bytes)
        .map_err(|e| Error::BadRequest(e.to_string()))?;
    let hash = CodeHash(def.code_hash.as_slice().try_into().expect("checked: 32 bytes"));
    if !sim.is_deployed(&hash) {
        return Err(Error::NotInstalled(format!(
            "{} (code {}; install it first)",
            def.name,
            hash.to_hex()
        )));
    }
    if channel.contract(&def.name).is_some_and(|d| d.version == def.version) {
        return Err(Error::BadRequest(format!(
            "contract {} is already defined with version {:?}; an upgrade needs a new version",
            def.name, def.version
        )));
    }
    let state = ledger.shared_namespace(LIFECYCLE);
    let mut tx = TxSimulator::new(LIFECYCLE, &state, Mode::Invoke);
    let sim_err = |e: SimError| Error::BadRequest(format!("lifecycle simulation: {e}"));
    tx.get(def.name.as_bytes()).map_err(sim_err)?;
    tx.put(def.name.as_bytes(), bytes).map_err(sim_err)?;
    let rwset = tx.finish().map_err(sim_err)?;
    let message = format!("defined {} version {}", def.name, def.version);
    Ok((Response { status: 200, message, payload: Vec::new() }, rwset))
}
