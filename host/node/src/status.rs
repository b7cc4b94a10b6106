//! THE one mapping from node errors to gRPC statuses. Services return `Result<_, Error>`
//! and convert here, so every failure reaches clients with the same code for the same cause
//! and a readable message.

use tonic::{Code, Status};
use weft_ledger::transaction::ProposalRejection;
use weft_runtime::FailureKind;

use crate::error::Error;

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
        Error::DuplicateTx(_) => Code::AlreadyExists,
        Error::NotInstalled(_) | Error::Initialization(_) => Code::FailedPrecondition,
        Error::ContractFailed { failure, .. } => match failure.kind {
            FailureKind::InvalidInput => Code::InvalidArgument,
            FailureKind::ErrorStatus if (400..500).contains(&failure.status) => {
                Code::InvalidArgument
            }
            _ => Code::Aborted,
        },
        Error::Deploy(_) => Code::InvalidArgument,
        Error::NotFound(_) => Code::NotFound,
        Error::Overloaded(_) | Error::TooManyRequests(_) => Code::ResourceExhausted,
        Error::ShuttingDown | Error::Busy(_) => Code::Unavailable,
        Error::Runtime(_)
        | Error::Ledger(_)
        | Error::State(_)
        | Error::Rwset(_)
        | Error::Io { .. } => Code::Internal,
        Error::Config(_) => Code::FailedPrecondition,
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Status {
        let code = code_of(&error);
        if code == Code::Internal {
            tracing::error!(%error, "request failed on the node");
        }
        Status::new(code, error.to_string())
    }
}

#[cfg(test)]
mod tests {
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
            (Error::Initialization("i".into()), Code::FailedPrecondition),
            (Error::Overloaded("q".into()), Code::ResourceExhausted),
            (Error::TooManyRequests(2), Code::ResourceExhausted),
            (Error::ShuttingDown, Code::Unavailable),
            (Error::from(weft_runtime::NodeError::Deadline), Code::Unavailable),
        ];
        for (error, code) in cases {
            let message = error.to_string();
            let status = Status::from(error);
            assert_eq!(status.code(), code, "{message}");
            assert_eq!(status.message(), message);
        }
    }

    #[test]
    fn a_fired_wall_clock_guard_tells_the_client_to_retry_never_internal() {
        let status = Status::from(Error::from(weft_runtime::NodeError::Deadline));
        assert_eq!(status.code(), Code::Unavailable);
        assert!(status.message().starts_with("node overloaded, retry: "), "{}", status.message());
        let other = Status::from(Error::from(weft_runtime::NodeError::WorkersGone));
        assert_eq!(other.code(), Code::Internal);
    }
}
