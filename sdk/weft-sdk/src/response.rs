//! [`Response`]: what a contract returns for one call.

use weft_abi::status;

use crate::ContractError;

/// A contract's response: a status (below 400 is success, 400 and above is an error and the
/// transaction is not endorsed), a message and a payload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    /// Fabric-style status: 200 for success, 500 for a contract error.
    pub status: i32,
    /// Human-readable message (usually empty on success).
    pub message: String,
    /// The result bytes.
    pub payload: Vec<u8>,
}

impl Response {
    /// Status 200 with this payload.
    pub fn success(payload: impl Into<Vec<u8>>) -> Response {
        Response { status: status::OK, message: String::new(), payload: payload.into() }
    }

    /// Status 500 with this message.
    pub fn error(message: impl Into<String>) -> Response {
        Response { status: status::ERROR, message: message.into(), payload: Vec::new() }
    }

    /// Whether the status is below 400.
    pub fn is_success(&self) -> bool {
        self.status < status::ERROR_THRESHOLD
    }
}

impl From<ContractError> for Response {
    fn from(err: ContractError) -> Response {
        Response { status: err.status(), message: err.message().to_owned(), payload: Vec::new() }
    }
}
