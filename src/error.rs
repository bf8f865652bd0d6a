//! The domain error: what went wrong, in words that say what to fix.
//!
//! Domain modules return [`Error`]; only `grpc::status` turns it into a gRPC
//! status, so no domain code knows the wire protocol.

/// One invalid field of a request, scenario or data file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field, e.g. `workload.input_tokens`.
    pub field: String,
    /// What is wrong with it and what would be accepted.
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

impl std::fmt::Display for FieldViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.description)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller sent something unusable; each violation names its field.
    #[error("invalid argument: {}", join(.0))]
    InvalidArgument(Vec<FieldViolation>),
    /// An id that names nothing (or nothing in force on the date asked).
    #[error("{0}")]
    NotFound(String),
    /// The request is well-formed but cannot be answered in this state,
    /// e.g. a model that does not fit on the GPUs asked for.
    #[error("{0}")]
    FailedPrecondition(String),
    /// A limit was reached; the caller may retry later or ask for less.
    #[error("{0}")]
    ResourceExhausted(String),
    /// What the caller asked to create exists already.
    #[error("{0}")]
    AlreadyExists(String),
    /// The request met another one: e.g. an edit based on a revision that
    /// has since changed. The caller should read again and retry.
    #[error("{0}")]
    Aborted(String),
    /// A resource the server needs is out of reach for now (a locked
    /// database, a full disk); nothing was written and the call may be
    /// retried.
    #[error("{0}")]
    Unavailable(String),
    /// The caller cancelled or its deadline passed; the work stopped.
    #[error("{0}")]
    Cancelled(String),
    /// A fault of ours; the message is logged, never sent to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A single invalid field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Error::InvalidArgument(vec![FieldViolation::new(field, description)])
    }
}

fn join(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
