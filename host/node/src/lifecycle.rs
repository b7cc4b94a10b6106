//! Contract lifecycle on the node, as in Fabric: the `.wasm` is *installed* per peer (the
//! runtime's cache, addressed by code hash; admins only), and the contract is *defined* on
//! the channel by a transaction of the built-in `_lifecycle` contract (functions [`DEPLOY`],
//! [`UPGRADE`] or [`DEFINE`] of `weft_protocol::lifecycle`, one argument: an encoded
//! `ContractDefinition` carrying the code hash), which goes through endorsement, ordering
//! and validation like any other. The ledger learns definitions from committed `_lifecycle`
//! state (`weft_protocol::channel`), so every peer replaying the chain reaches the same
//! definitions. An upgrade is a new
//! definition of the same name; transactions endorsed on the old version before it commits
//! still validate (their read/write sets are checked, not their code).
//!
//! Initialization (Fabric 2.x's `--init-required` and `--isInit`, the peer's
//! `CheckInvocation`): a definition with `init_required` accepts, for each version, exactly
//! one init transaction (`Proposal.is_init`), which runs the contract's init entry, before
//! any other transaction. [`check_invocation`] decides it from the key [`INITIALIZED_KEY`] of
//! the contract's own namespace, read (and on init written) as part of the transaction's
//! read/write set, so two racing inits conflict at validation (MVCC).
use prost::Message;
use weft_ledger::Ledger;
use weft_proto::quote::quote;
use weft_proto::v1::{ContractDefinition, Identity, NsReadWriteSet, Proposal, Response};
use weft_protocol::channel::{Channel, LIFECYCLE};
use weft_protocol::identity::{Role, role_name};
use weft_protocol::lifecycle::{DEFINE, DEPLOY, UPGRADE, install_message, join_message};
use weft_protocol::names;
use weft_runtime::{CodeHash, Simulator};
use weft_rwset::{Mode, SimError, StateView, TxSimulator};

use crate::error::{Error, Result};

/// Fabric's `InitializedKeyName`: `"\x00" + U+10FFFF + "initialized"`, in the contract's own
/// namespace, holding the version last initialized. No composite key or plain range query
/// of the contract can reach it.
pub const INITIALIZED_KEY: &[u8] = b"\x00\xf4\x8f\xbf\xbfinitialized";

/// Checks that `signer` is an admin of a channel organization and signed
/// [`install_message`] of `wasm`.
pub fn check_install(
    channel: &Channel,
    wasm: &[u8],
    signer: &Identity,
    signature: &[u8],
) -> Result<()> {
    check_admin_signed(channel, &install_message(wasm), signer, signature, "installing contracts")
}

/// Checks that `signer` is an admin of an organization of `channel` (the channel joined, as
/// its genesis configuration lists it) and signed [`join_message`] of `genesis`.
pub fn check_join(
    channel: &Channel,
    genesis: &[u8],
    signer: &Identity,
    signature: &[u8],
) -> Result<()> {
    check_admin_signed(
        channel,
        &join_message(genesis),
        signer,
        signature,
        &format!("joining channel {}", quote(channel.name())),
    )
}

/// Checks that `signer` is a member of `channel` whose key signed `message`, and an admin
/// (who alone may do `what`).
fn check_admin_signed(
    channel: &Channel,
    message: &[u8],
    signer: &Identity,
    signature: &[u8],
    what: &str,
) -> Result<()> {
    let member = channel.membership().resolve(signer).ok_or_else(|| {
        Error::BadSignature(format!(
            "unknown signer of organization {} on channel {}",
            quote(&signer.msp_id),
            quote(channel.name())
        ))
    })?;
    if signature.len() != 64 {
        return Err(Error::BadSignature("the signature is not 64 bytes".into()));
    }
    if !member.key.verify(message, signature) {
        return Err(Error::BadSignature(format!("the signature for {what} does not verify")));
    }
    if member.role != Role::Admin {
        return Err(Error::PermissionDenied(format!(
            "{what} needs an admin of {}; {} is a {}",
            member.msp_id,
            member.id(),
            role_name(member.role)
        )));
    }
    Ok(())
}

/// Simulates a `_lifecycle` proposal: checks the creator is an admin and the definition is
/// well-formed with installed code, that the function fits what is defined ([`DEPLOY`]: a
/// new name; [`UPGRADE`]: a defined name; either: a new version), then reads and writes the
/// definition's key (so racing definitions of one name conflict at validation).
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
            quote(&creator.msp_id)
        )));
    }
    if ![DEFINE, DEPLOY, UPGRADE].contains(&proposal.function.as_str()) || proposal.args.len() != 1
    {
        return Err(Error::BadRequest(format!(
            "{LIFECYCLE} has the functions {DEPLOY:?}, {UPGRADE:?} and {DEFINE:?} (either), each \
             with one argument (an encoded ContractDefinition); got {} with {} arguments",
            quote(&proposal.function),
            proposal.args.len()
        )));
    }
    if proposal.is_init {
        return Err(Error::Initialization(format!("{LIFECYCLE} cannot be called as init")));
    }
    let bytes = &proposal.args[0];
    let def = ContractDefinition::decode(bytes.as_slice())
        .map_err(|e| Error::BadRequest(format!("the contract definition does not decode: {e}")))?;
    names::check(&def.name, &def.version).map_err(|e| Error::BadRequest(e.to_string()))?;
    let def = channel
        .decode_definition(def.name.as_bytes(), bytes)
        .map_err(|e| Error::BadRequest(e.to_string()))?;
    let hash = CodeHash(def.code_hash.as_slice().try_into().expect("checked: 32 bytes"));
    if !sim.is_deployed(&hash) {
        return Err(Error::NotInstalled(format!(
            "{} (code {}; install it first)",
            quote(&def.name),
            hash.to_hex()
        )));
    }
    match (proposal.function.as_str(), channel.contract(&def.name)) {
        (DEPLOY, Some(existing)) => {
            return Err(Error::BadRequest(format!(
                "contract {} is already defined (version {}); upgrade it to a new version \
                 instead (weft contract upgrade)",
                quote(&def.name),
                quote(&existing.version)
            )));
        }
        (UPGRADE, None) => {
            return Err(Error::BadRequest(format!(
                "contract {} is not defined on channel {}; deploy it first (weft contract deploy)",
                quote(&def.name),
                channel.name()
            )));
        }
        (_, Some(existing)) if existing.version == def.version => {
            return Err(Error::BadRequest(format!(
                "contract {} is already defined with version {}; an upgrade needs a new version",
                quote(&def.name),
                quote(&def.version)
            )));
        }
        _ => {}
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

/// What the lifecycle decided about an invocation of a contract before it runs.
#[derive(Clone, Debug, PartialEq)]
pub struct InvocationCheck {
    /// Run the contract's init entry (an init transaction), not its invoke entry.
    pub init: bool,
    /// What the check read and wrote in the contract's namespace ([`INITIALIZED_KEY`]);
    /// merge the contract's read/write set after it (`weft_rwset::merge`).
    pub rwset: NsReadWriteSet,
}

/// Fabric's `CheckInvocation` for a proposal to contract `def`, with `is_init` as the
/// proposal says, reading `state` (the contract's committed namespace). If the definition
/// requires init, reads [`INITIALIZED_KEY`] (recorded with its version) and the contract
/// needs init unless it holds `def.version`. An init is refused if the definition does not
/// require init or the version is already initialized; otherwise it writes
/// [`INITIALIZED_KEY`] = version and runs the init entry. Any other transaction is refused
/// while the version needs init.
pub fn check_invocation<S: StateView>(
    def: &ContractDefinition,
    is_init: bool,
    state: S,
) -> Result<InvocationCheck> {
    let mut tx = TxSimulator::new(def.name.clone(), &state, Mode::Invoke);
    let sim_err = |e: SimError| match e {
        SimError::State(e) => Error::State(e),
        SimError::Contract(code) => Error::BadRequest(format!("initialization check: {code:?}")),
        SimError::HostMemory(e) => Error::BadRequest(format!("initialization check: {e}")),
    };
    if def.init_required {
        let initialized = tx.get(INITIALIZED_KEY).map_err(sim_err)?;
        let needs_init = initialized.as_deref() != Some(def.version.as_bytes());
        if is_init {
            if !needs_init {
                return Err(Error::Initialization(format!(
                    "contract '{}' is already initialized for version {:?} but called as init",
                    def.name, def.version
                )));
            }
            tx.put(INITIALIZED_KEY, def.version.as_bytes()).map_err(sim_err)?;
        } else if needs_init {
            return Err(Error::Initialization(format!(
                "contract '{}' has not been initialized for version {:?}, must call as init \
                 first (an init transaction: weft invoke --init)",
                def.name, def.version
            )));
        }
    } else if is_init {
        return Err(Error::Initialization(format!(
            "contract '{}' does not require initialization but called as init (its definition \
             has no init_required)",
            def.name
        )));
    }
    Ok(InvocationCheck { init: is_init, rwset: tx.finish().map_err(sim_err)? })
}

#[cfg(test)]
mod tests {
    use weft_rwset::{KvRead, KvWrite, MemoryState, Version};

    use super::*;

    fn def(version: &str, init_required: bool) -> ContractDefinition {
        ContractDefinition {
            name: "ab".into(),
            version: version.into(),
            init_required,
            ..Default::default()
        }
    }

    fn initialized(version: &str) -> MemoryState {
        let mut state = MemoryState::default();
        state.insert(INITIALIZED_KEY, version.as_bytes(), Version { block_num: 4, tx_num: 1 });
        state
    }

    fn message(result: Result<InvocationCheck>) -> String {
        let err = result.unwrap_err();
        assert!(matches!(err, Error::Initialization(_)), "{err:?}");
        err.to_string()
    }

    #[test]
    fn the_initialized_key_is_fabrics() {
        assert_eq!(INITIALIZED_KEY, "\u{0}\u{10FFFF}initialized".as_bytes());
    }

    #[test]
    fn without_init_required_nothing_is_read_and_init_is_refused() {
        let state = MemoryState::default();
        let check = check_invocation(&def("1", false), false, &state).unwrap();
        assert_eq!(
            check,
            InvocationCheck {
                init: false,
                rwset: NsReadWriteSet { namespace: "ab".into(), ..Default::default() }
            }
        );
        let refused = message(check_invocation(&def("1", false), true, &state));
        assert!(refused.contains("does not require initialization but called as init"));
    }

    #[test]
    fn init_reads_and_writes_the_key_once_per_version() {
        let fresh = MemoryState::default();
        let refused = message(check_invocation(&def("1", true), false, &fresh));
        assert!(refused.contains("has not been initialized for version \"1\""), "{refused}");
        let check = check_invocation(&def("1", true), true, &fresh).unwrap();
        assert!(check.init);
        assert_eq!(
            check.rwset.reads,
            vec![KvRead { key: INITIALIZED_KEY.to_vec(), version: None }]
        );
        assert_eq!(
            check.rwset.writes,
            vec![KvWrite { key: INITIALIZED_KEY.to_vec(), is_delete: false, value: b"1".to_vec() }]
        );

        let done = initialized("1");
        let check = check_invocation(&def("1", true), false, &done).unwrap();
        let version = Some(Version { block_num: 4, tx_num: 1 });
        assert_eq!(check.rwset.reads, vec![KvRead { key: INITIALIZED_KEY.to_vec(), version }]);
        assert!(check.rwset.writes.is_empty() && !check.init);
        let again = message(check_invocation(&def("1", true), true, &done));
        assert!(again.contains("already initialized for version \"1\""), "{again}");

        // An upgrade that requires init needs a new init; one that does not, does not.
        assert!(message(check_invocation(&def("2", true), false, &done)).contains("must call"));
        assert!(check_invocation(&def("2", true), true, &done).unwrap().init);
        assert!(check_invocation(&def("2", false), false, &done).unwrap().rwset.reads.is_empty());
    }
}
