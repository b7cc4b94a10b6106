//! The messages of contract lifecycle that clients and nodes agree on: the functions of the
//! built-in [`LIFECYCLE`](crate::channel::LIFECYCLE) contract, which define a contract on
//! the channel (one argument: an encoded `ContractDefinition`), and the messages an admin
//! signs to install a contract's code on a peer ([`install_message`]) and to join a peer to
//! a channel ([`join_message`]). What a definition must hold is
//! [`crate::channel::Channel::decode_definition`]; the node's `lifecycle` module runs them.

/// The `_lifecycle` function that defines a new contract, or upgrades one to a new version.
pub const DEFINE: &str = "define";

/// The `_lifecycle` function that defines a new contract: refused if the name is defined.
pub const DEPLOY: &str = "deploy";

/// The `_lifecycle` function that upgrades a defined contract to a new version: refused if
/// the name is not defined or the version is unchanged.
pub const UPGRADE: &str = "upgrade";

/// The message an admin signs to install `wasm`: a domain tag and the code hash (blake3 of
/// the `.wasm`).
///
/// ```
/// let message = weft_protocol::lifecycle::install_message(b"\0asm");
/// assert_eq!(&message[..15], b"weft install v1");
/// assert_eq!(&message[15..], blake3::hash(b"\0asm").as_bytes());
/// ```
pub fn install_message(wasm: &[u8]) -> Vec<u8> {
    let mut message = b"weft install v1".to_vec();
    message.extend_from_slice(blake3::hash(wasm).as_bytes());
    message
}

/// The message an admin of an organization of a channel signs to join a peer to it: a
/// domain tag and the hash (blake3) of the channel's encoded genesis `ChannelConfig`.
///
/// ```
/// let message = weft_protocol::lifecycle::join_message(b"genesis");
/// assert_eq!(&message[..12], b"weft join v1");
/// assert_eq!(&message[12..], blake3::hash(b"genesis").as_bytes());
/// ```
pub fn join_message(genesis: &[u8]) -> Vec<u8> {
    let mut message = b"weft join v1".to_vec();
    message.extend_from_slice(blake3::hash(genesis).as_bytes());
    message
}
