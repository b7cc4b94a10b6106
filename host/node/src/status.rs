//! THE one mapping from node errors to gRPC statuses. Services return `Result<_, Error>`
//! and convert here, so every failure reaches clients with the same code for the same cause
//! and a readable message. Messages quote what the client sent with [`weft_proto::quote`];
//! here the whole message is bounded too ([`MAX_MESSAGE_BYTES`]), for text no refusal
//! controls (a contract's own error message echoing its arguments). Failed answers are
//! logged with their method by `service::edge`, `INTERNAL` at error level.

use tonic::{Code, Status};
use weft_orderer::Error as OrdererError;
use weft_proto::quote::truncate;
use weft_protocol::transaction::ProposalRejection;
use weft_runtime::{DeployError, FailureKind};

use crate::error::Error;

/// The longest status message sent, in bytes (before a "… (N bytes in all)" note): with
/// gRPC's percent-encoding at most three times as much, well within the 8 KiB of metadata
/// gRPC clients accept by default.
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// The largest contract error payload a status carries in its details (base64 in a header,
/// beside the message): a larger one is left out, so the refusal still reaches the client.
pub const MAX_DETAILS_PAYLOAD_BYTES: usize = 2048;

/// The gRPC code for `error`.
pub fn code_of(error: &Error) -> Code {
    match error {
        Error::BadRequest(_) => Code::InvalidArgument,
        Error::Rejected(ProposalRejection::UnknownContract(_)) => Code::NotFound,
        Error::Rejected(ProposalRejection::BadSignature | ProposalRejection::UnknownCreator(_)) => {
            Code::Unauthenticated
        }
        Error::Rejected(_) => Code::InvalidArgument,
        Error::BadSignature(_) => Code::Unauthenticated,
        Error::PermissionDenied(_) => Code::PermissionDenied,
        Error::DuplicateTx(_) | Error::AlreadyExists(_) => Code::AlreadyExists,
        Error::NotInstalled(_) | Error::Initialization(_) => Code::FailedPrecondition,
        // Fabric's gateway: ABORTED, "failed to collect enough transaction endorsements" or
        // "ProposalResponsePayloads do not match".
        Error::Endorsement(_) => Code::Aborted,
        Error::ContractFailed { failure, .. } => match failure.kind {
            FailureKind::InvalidInput => Code::InvalidArgument,
            FailureKind::ErrorStatus if (400..500).contains(&failure.status) => {
                Code::InvalidArgument
            }
            _ => Code::Aborted,
        },
        // A compile over the node's time budget is the node's condition, not the module's.
        Error::Deploy(DeployError::CompileBudget(_)) => Code::Unavailable,
        Error::Deploy(_) => Code::InvalidArgument,
        Error::NotFound(_) => Code::NotFound,
        Error::TooManyRequests(_) => Code::ResourceExhausted,
        Error::Orderer(e) => match e {
            OrdererError::Overloaded(_) => Code::ResourceExhausted,
            // The etcd cluster did not answer: the client may retry (on another node).
            OrdererError::ShuttingDown | OrdererError::Unavailable(_) => Code::Unavailable,
            OrdererError::TooLarge { .. } => Code::InvalidArgument,
            OrdererError::BeyondTip { .. }
            | OrdererError::Missing(_)
            | OrdererError::Pruned { .. }
            | OrdererError::Source { .. }
            | OrdererError::Corrupt { .. }
            | OrdererError::Config(_)
            | OrdererError::Start(_) => Code::Internal,
        },
        Error::ShuttingDown | Error::Busy(_) => Code::Unavailable,
        Error::Runtime(_)
        | Error::Ledger(_)
        | Error::State(_)
        | Error::Rwset(_)
        | Error::Io { .. }
        | Error::Internal(_) => Code::Internal,
        Error::Config(_) | Error::Channel(_) => Code::FailedPrecondition,
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Status {
        let code = code_of(&error);
        let message = truncate(&error.to_string(), MAX_MESSAGE_BYTES).to_string();
        // A contract's own error response (status 400 or more) also travels as an encoded
        // `weft.v1.Response` in the status details, so clients show its status, message and
        // payload as the contract set them (see `client::contract_response`). Details ride in
        // a header, which clients cap (8-16 KiB): a payload that would not fit is left out
        // and the message is cut like the status message.
        if let Error::ContractFailed { failure, .. } = &error
            && failure.kind == FailureKind::ErrorStatus
        {
            let fits = failure.payload.len() <= MAX_DETAILS_PAYLOAD_BYTES;
            let response = weft_proto::v1::Response {
                status: failure.status,
                message: truncate(&failure.message, MAX_MESSAGE_BYTES).to_string(),
                payload: if fits { failure.payload.clone() } else { Vec::new() },
            };
            let details = tonic::codegen::Bytes::from(prost::Message::encode_to_vec(&response));
            return Status::with_details(code, message, details);
        }
        Status::new(code, message)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn codes_are_the_documented_ones() {
        let cases = [
            (Error::BadRequest("x".into()), Code::InvalidArgument),
            (Error::Rejected(ProposalRejection::UnknownContract("c".into())), Code::NotFound),
            (Error::Rejected(ProposalRejection::BadSignature), Code::Unauthenticated),
            (Error::Rejected(ProposalRejection::BadTxId), Code::InvalidArgument),
            (Error::PermissionDenied("p".into()), Code::PermissionDenied),
            (Error::DuplicateTx("t".into()), Code::AlreadyExists),
            (Error::AlreadyExists("c".into()), Code::AlreadyExists),
            (Error::Initialization("i".into()), Code::FailedPrecondition),
            (OrdererError::Overloaded("q".into()).into(), Code::ResourceExhausted),
            (OrdererError::ShuttingDown.into(), Code::Unavailable),
            (OrdererError::TooLarge { size: 2, max: 1 }.into(), Code::InvalidArgument),
            (OrdererError::BeyondTip { from: 2, height: 1 }.into(), Code::Internal),
            (OrdererError::Unavailable("etcd: x".into()).into(), Code::Unavailable),
            (OrdererError::Pruned { number: 1, first: 5 }.into(), Code::Internal),
            (Error::TooManyRequests(2), Code::ResourceExhausted),
            (Error::ShuttingDown, Code::Unavailable),
            (Error::Deploy(DeployError::CompileBudget(Duration::from_secs(10))), Code::Unavailable),
            (Error::from(weft_runtime::RuntimeError::Deadline), Code::Unavailable),
            (
                crate::collect::CollectError::ResultsDiffer {
                    tx_id: "t".into(),
                    local: vec!["Org1".into()],
                    differing: vec![("Org2".into(), "its response differs".into())],
                }
                .into(),
                Code::Aborted,
            ),
            (
                crate::collect::CollectError::TooFew {
                    contract: "c".into(),
                    policy: "'Org2.peer'".into(),
                    local: vec!["Org1".into()],
                    endorsed: vec![],
                    failed: vec![("Org2".into(), "it lists no peers".into())],
                }
                .into(),
                Code::Aborted,
            ),
        ];
        for (error, code) in cases {
            let message = error.to_string();
            let status = Status::from(error);
            assert_eq!(status.code(), code, "{message}");
            assert_eq!(status.message(), message);
            assert!(weft_client::contract_response(&status).is_none());
        }
    }

    #[test]
    fn contract_error_details_are_bounded_and_only_for_error_statuses() {
        let failure = |kind, payload: usize| weft_runtime::ContractFailure {
            kind,
            status: 500,
            message: "m".repeat(4096),
            payload: vec![7; payload],
            fuel_used: 1,
        };
        let status = |kind, payload| {
            Status::from(Error::ContractFailed {
                contract: "c".into(),
                failure: failure(kind, payload),
            })
        };
        let small = weft_client::contract_response(&status(FailureKind::ErrorStatus, 100)).unwrap();
        assert_eq!(
            (small.payload.len(), small.message.len() <= MAX_MESSAGE_BYTES + 32),
            (100, true)
        );
        let large = status(FailureKind::ErrorStatus, 1 << 20);
        assert!(large.details().len() < 2 * MAX_MESSAGE_BYTES, "{}", large.details().len());
        assert!(weft_client::contract_response(&large).unwrap().payload.is_empty());
        for kind in [FailureKind::Panic, FailureKind::InvalidInput] {
            assert!(weft_client::contract_response(&status(kind, 10)).is_none(), "{kind:?}");
        }
    }

    #[test]
    fn messages_are_bounded_whatever_they_quote() {
        let name = "n".repeat(1 << 20);
        let cases = [
            Error::Rejected(ProposalRejection::UnknownContract(name.clone())),
            Error::Rejected(ProposalRejection::WrongChannel(name.clone())),
            Error::Rejected(ProposalRejection::UnknownCreator(name.clone())),
            Error::DuplicateTx(name.clone()),
            // Text no refusal quotes itself: bounded as a whole.
            Error::NotFound(name.clone()),
        ];
        for error in cases {
            let status = Status::from(error);
            assert!(status.message().len() <= MAX_MESSAGE_BYTES + 32, "{}", status.message().len());
            assert!(status.message().contains("1048576 bytes"), "{}", &status.message()[..200]);
        }
    }

    #[test]
    fn a_fired_wall_clock_guard_tells_the_client_to_retry_never_internal() {
        let status = Status::from(Error::from(weft_runtime::RuntimeError::Deadline));
        assert_eq!(status.code(), Code::Unavailable);
        assert!(status.message().starts_with("node overloaded, retry: "), "{}", status.message());
        let other = Status::from(Error::from(weft_runtime::RuntimeError::WorkersGone));
        assert_eq!(other.code(), Code::Internal);
    }

    #[test]
    fn a_contract_error_response_travels_in_the_details() {
        let failure = weft_runtime::ContractFailure {
            kind: FailureKind::ErrorStatus,
            status: 403,
            message: "not yours".into(),
            payload: b"p".to_vec(),
            fuel_used: 1,
        };
        let status = Status::from(Error::ContractFailed { contract: "c".into(), failure });
        assert_eq!(status.code(), Code::InvalidArgument);
        let response = weft_client::contract_response(&status).unwrap();
        assert_eq!((response.status, response.message.as_str()), (403, "not yours"));
        assert_eq!(response.payload, b"p");
    }
}
