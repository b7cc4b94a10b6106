//! Errors of SDK calls, and the error a transaction function returns.

use std::fmt;

use weft_abi::{ReturnCode, status};

/// Why an SDK call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The host refused the call (an empty or too long key, a write during a query, too many
    /// events...). The code is part of the ABI; see [`ReturnCode`].
    #[error("{}", .0.description())]
    Host(ReturnCode),
    /// A composite key part or a plain range bound broke the key rules (see [`crate::composite`]).
    #[error("invalid key: {0}")]
    InvalidKey(String),
}

impl From<ReturnCode> for Error {
    fn from(code: ReturnCode) -> Error {
        Error::Host(code)
    }
}

/// `Result` with the SDK's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The error a transaction function returns: it becomes an error response (status 500 unless
/// another status of 400 or more is chosen) whose message is the error's text.
///
/// Any `std::error::Error` converts into it, so `?` works on SDK calls and on `serde_json`:
///
/// ```
/// use weft_sdk::ContractError;
///
/// fn parse(raw: &str) -> Result<u64, ContractError> {
///     let n: u64 = raw.parse()?; // ParseIntError -> ContractError
///     if n == 0 {
///         return Err(ContractError::new("zero is not allowed"));
///     }
///     Ok(n)
/// }
/// assert_eq!(parse("0").unwrap_err().message(), "zero is not allowed");
/// assert_eq!(parse("x").unwrap_err().status(), 500);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContractError {
    status: i32,
    message: String,
}

impl ContractError {
    /// An error with status 500 and this message.
    pub fn new(message: impl Into<String>) -> ContractError {
        ContractError { status: status::ERROR, message: message.into() }
    }

    /// An error with a chosen status. A status below 400 would read as success, so it is
    /// replaced by 500.
    pub fn with_status(status: i32, message: impl Into<String>) -> ContractError {
        let status = if status < status::ERROR_THRESHOLD { status::ERROR } else { status };
        ContractError { status, message: message.into() }
    }

    /// The response status (400 or more).
    pub fn status(&self) -> i32 {
        self.status
    }

    /// The response message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ContractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error> From<E> for ContractError {
    fn from(err: E) -> ContractError {
        ContractError::new(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_below_400_become_500() {
        assert_eq!(ContractError::with_status(200, "x").status(), 500);
        assert_eq!(ContractError::with_status(404, "x").status(), 404);
        let from_sdk: ContractError = Error::Host(ReturnCode::ReadOnly).into();
        assert_eq!(from_sdk.message(), "state cannot be written during a query");
    }
}
