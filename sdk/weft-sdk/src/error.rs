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

/// Context for errors, as `anyhow::Context` gives it: `.context("reading the asset")?` turns
/// any error (or a `None`) into a [`ContractError`] whose message is `context: cause`. A
/// [`ContractError`]'s status is kept; other errors become status 500.
///
/// ```
/// use weft_sdk::{ContractError, ResultExt};
///
/// fn price(raw: &str) -> Result<u64, ContractError> {
///     raw.parse::<u64>().with_context(|| format!("price {raw:?}"))
/// }
/// assert_eq!(price("x").unwrap_err().message(), "price \"x\": invalid digit found in string");
/// let missing: Option<u64> = None;
/// let err = missing.context("no such asset").map_err(|e| e.with_status_of(404)).unwrap_err();
/// assert_eq!((err.status(), err.message()), (404, "no such asset"));
/// ```
pub trait ResultExt<T> {
    /// The error, or `None`, with `context` in front of its message.
    fn context(self, context: impl fmt::Display) -> Result<T, ContractError>;

    /// [`ResultExt::context`] with the context computed only on error.
    fn with_context<D: fmt::Display>(self, f: impl FnOnce() -> D) -> Result<T, ContractError>;
}

impl<T, E: Into<ContractError>> ResultExt<T> for std::result::Result<T, E> {
    fn context(self, context: impl fmt::Display) -> Result<T, ContractError> {
        self.map_err(|e| e.into().prefixed(context))
    }

    fn with_context<D: fmt::Display>(self, f: impl FnOnce() -> D) -> Result<T, ContractError> {
        self.map_err(|e| e.into().prefixed(f()))
    }
}

impl<T> ResultExt<T> for Option<T> {
    fn context(self, context: impl fmt::Display) -> Result<T, ContractError> {
        self.ok_or_else(|| ContractError::new(context.to_string()))
    }

    fn with_context<D: fmt::Display>(self, f: impl FnOnce() -> D) -> Result<T, ContractError> {
        self.ok_or_else(|| ContractError::new(f().to_string()))
    }
}

impl ContractError {
    fn prefixed(self, context: impl fmt::Display) -> ContractError {
        ContractError { status: self.status, message: format!("{context}: {}", self.message) }
    }

    /// This error with status `status` (400 or more; below becomes 500), e.g. 404 for a
    /// missing key found by [`ResultExt::context`].
    pub fn with_status_of(self, status: i32) -> ContractError {
        ContractError::with_status(status, self.message)
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

    #[test]
    fn context_keeps_the_status_and_prefixes_the_message() {
        let refused: Result<(), ContractError> = Err(ContractError::with_status(403, "no"));
        let err = refused.context("minting").unwrap_err();
        assert_eq!((err.status(), err.message()), (403, "minting: no"));
        let host: Result<(), Error> = Err(Error::Host(ReturnCode::KeyTooLong));
        let err = host.with_context(|| "writing k").unwrap_err();
        assert_eq!((err.status(), err.message()), (500, "writing k: key is longer than the limit"));
        assert_eq!(Some(1).context("x").unwrap(), 1);
    }
}
