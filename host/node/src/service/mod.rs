//! Thin tonic services: decode the request, call the node's parts, map errors with
//! [`crate::status`].

pub mod admin;
pub mod gateway;
pub mod ledger;

use crate::error::Error;

/// A required message field, or a clear error naming it.
pub(crate) fn required<T>(field: Option<T>, name: &str) -> Result<T, Error> {
    field.ok_or_else(|| Error::BadRequest(format!("the request has no {name}")))
}
