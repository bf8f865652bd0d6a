//! The one mapping from domain errors to gRPC statuses.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::error::Error;

/// The wait RESOURCE_EXHAUSTED answers suggest before a retry.
pub const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// The wait UNAVAILABLE answers suggest before a retry.
pub const UNAVAILABLE_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

impl From<Error> for Status {
    fn from(err: Error) -> Self {
        match err {
            Error::InvalidArgument(violations) => {
                let message = Error::InvalidArgument(violations.clone()).to_string();
                let mut details = ErrorDetails::new();
                for v in violations {
                    details.add_bad_request_violation(v.field, v.description);
                }
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            Error::NotFound(message) => Status::not_found(message),
            Error::FailedPrecondition(message) => Status::failed_precondition(message),
            Error::ResourceExhausted(message) => {
                // Limits here are on work in flight, which frees up within
                // seconds; tell well-behaved clients when to come back.
                let details = ErrorDetails::with_retry_info(Some(RETRY_AFTER));
                Status::with_error_details(Code::ResourceExhausted, message, details)
            }
            Error::Cancelled(message) => Status::cancelled(message),
            Error::Aborted(message) => Status::aborted(message),
            Error::AlreadyExists(message) => Status::already_exists(message),
            Error::Unavailable(message) => {
                // A database out of reach or busy: worth a retry soon.
                let details = ErrorDetails::with_retry_info(Some(UNAVAILABLE_RETRY_AFTER));
                Status::with_error_details(Code::Unavailable, message, details)
            }
            Error::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                Status::internal("internal")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_arguments_carry_field_violations() {
        let status = Status::from(Error::invalid("as_of", "must be YYYY-MM-DD"));
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let bad = details.bad_request().expect("bad request details");
        assert_eq!(bad.field_violations[0].field, "as_of");
        assert!(status.message().contains("as_of"));
    }

    #[test]
    fn unavailable_says_when_to_retry() {
        let status = Status::from(Error::Unavailable("the database is down".into()));
        assert_eq!(status.code(), Code::Unavailable);
        let retry = status.get_error_details().retry_info().cloned();
        assert_eq!(
            retry.and_then(|r| r.retry_delay),
            Some(UNAVAILABLE_RETRY_AFTER)
        );
    }

    #[test]
    fn internal_causes_stay_on_the_server() {
        let status = Status::from(Error::Internal("disk I/O error at /var/db".into()));
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal");
    }
}
