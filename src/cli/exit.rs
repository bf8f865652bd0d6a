//! How a command ends: the one mapping from failures to messages and exit
//! codes.
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | success |
//! | 1 | a local failure: a file could not be written, the catalogue did not load, the server could not start |
//! | 2 | a usage error or an unusable input file, found before any call |
//! | 10 + n | the server answered with gRPC status code n (11 CANCELLED, 13 INVALID_ARGUMENT, 15 NOT_FOUND, 18 RESOURCE_EXHAUSTED, 19 FAILED_PRECONDITION, 20 ABORTED, 23 INTERNAL, 24 UNAVAILABLE, …) |
//!
//! No server at the address is UNAVAILABLE (24), as a gRPC client sees it;
//! Ctrl-C during a call is CANCELLED (11), also when it only stops watching
//! a job that goes on. `run replay --check` finding different outputs is 1.
//! The README repeats this table.

use std::process::ExitCode;

use tonic::{Code, Status};

/// Why a command failed.
#[derive(Debug)]
pub enum Failure {
    /// Wrong flags or an input file that cannot be used as it is.
    Usage(String),
    /// Something on this machine went wrong.
    Local(String),
    /// Nothing answers at the server address. `program` is this binary as
    /// the user invoked it, for the command that starts a server.
    NoServer {
        url: String,
        reason: String,
        program: String,
    },
    /// The server answered with an error.
    Status(Status),
    /// The user interrupted the call.
    Cancelled,
    /// The user stopped following something that goes on without the
    /// command (a batch job); the message says what happens to it.
    Detached(String),
}

/// The code of a run that succeeded.
pub const SUCCESS: u8 = 0;
/// The code of a local failure.
pub const LOCAL: u8 = 1;
/// The code of a usage error or a bad input file (also clap's own).
pub const USAGE: u8 = 2;
/// Codes from here on are this plus the gRPC status code.
pub const GRPC_BASE: u8 = 10;

/// The exit code of a command that got gRPC status `code`.
pub fn grpc(code: Code) -> u8 {
    GRPC_BASE + code as u8
}

impl Failure {
    pub fn code(&self) -> u8 {
        match self {
            Failure::Usage(_) => USAGE,
            Failure::Local(_) => LOCAL,
            Failure::NoServer { .. } => grpc(Code::Unavailable),
            Failure::Status(status) => grpc(status.code()),
            Failure::Cancelled | Failure::Detached(_) => grpc(Code::Cancelled),
        }
    }

    /// A transport error met while connecting to `url`.
    pub fn no_server(url: &str, err: &(dyn std::error::Error + 'static)) -> Failure {
        Failure::NoServer {
            url: url.to_string(),
            reason: connect_reason(err),
            program: invoked_as(
                std::env::args_os().next().as_deref(),
                std::env::current_dir().ok().as_deref(),
            ),
        }
    }
}

/// This binary as the user called it, so that advice to run another of
/// its commands reads the same way: `breakeven` when found on the PATH,
/// else the path typed (`target/release/breakeven`), relative to `cwd`
/// where it lies below it (`cargo run` passes an absolute path).
fn invoked_as(argv0: Option<&std::ffi::OsStr>, cwd: Option<&std::path::Path>) -> String {
    let Some(argv0) = argv0 else {
        return "breakeven".into();
    };
    let path = std::path::Path::new(argv0);
    if path.components().count() <= 1 {
        return argv0.to_string_lossy().into_owned();
    }
    let shown = cwd
        .and_then(|cwd| path.strip_prefix(cwd).ok())
        .unwrap_or(path);
    shown.to_string_lossy().into_owned()
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Usage(message) | Failure::Local(message) => f.write_str(message),
            Failure::NoServer {
                url,
                reason,
                program,
            } => write!(
                f,
                "no breakeven server at {url}: {reason}; start one with `{program} serve`"
            ),
            Failure::Status(status) => {
                // The server's own "invalid argument: " would repeat the code.
                let message = status.message();
                let message = message
                    .strip_prefix("invalid argument: ")
                    .unwrap_or(message);
                write!(f, "{}: {message}", code_name(status.code()))
            }
            Failure::Cancelled => f.write_str("cancelled"),
            Failure::Detached(message) => f.write_str(message),
        }
    }
}

impl From<Status> for Failure {
    fn from(status: Status) -> Self {
        Failure::Status(status)
    }
}

/// Prints the failure, if any, on standard error and gives the exit code.
pub fn finish(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::from(SUCCESS),
        Err(failure @ (Failure::Cancelled | Failure::Detached(_))) => {
            eprintln!("{failure}");
            ExitCode::from(failure.code())
        }
        Err(failure) => {
            eprintln!("error: {failure}");
            ExitCode::from(failure.code())
        }
    }
}

/// The gRPC name of a status code, as the `.proto` comments write it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The innermost I/O error of a failed connection in words ("connection
/// refused"), or the whole chain when there is none.
fn connect_reason(err: &(dyn std::error::Error + 'static)) -> String {
    let mut chain = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
                std::io::ErrorKind::TimedOut => "connection timed out".into(),
                _ => io.to_string(),
            };
        }
        chain.push(e.to_string());
        next = e.source();
    }
    chain.dedup();
    chain.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_documented_table() {
        let check = |failure: Failure, code: u8| assert_eq!(failure.code(), code, "{failure}");
        check(Failure::Usage("bad flag".into()), 2);
        check(Failure::Local("disk full".into()), 1);
        check(Failure::Cancelled, 11);
        check(Failure::Detached("stopped watching".into()), 11);
        check(Failure::Status(Status::invalid_argument("x")), 13);
        check(Failure::Status(Status::not_found("x")), 15);
        check(Failure::Status(Status::resource_exhausted("x")), 18);
        check(Failure::Status(Status::failed_precondition("x")), 19);
        check(Failure::Status(Status::aborted("x")), 20);
        check(Failure::Status(Status::internal("x")), 23);
        check(
            Failure::NoServer {
                url: "http://127.0.0.1:1".into(),
                reason: "connection refused".into(),
                program: "breakeven".into(),
            },
            24,
        );
    }

    #[test]
    fn a_refused_connection_is_named_with_the_fix() {
        #[derive(Debug)]
        struct Wrapper(std::io::Error);
        impl std::fmt::Display for Wrapper {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("transport error")
            }
        }
        impl std::error::Error for Wrapper {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let err = Wrapper(std::io::ErrorKind::ConnectionRefused.into());
        let Failure::NoServer { url, reason, .. } = Failure::no_server("http://127.0.0.1:1", &err)
        else {
            panic!("not a missing server");
        };
        let failure = Failure::NoServer {
            url,
            reason,
            program: "breakeven".into(),
        };
        assert_eq!(
            failure.to_string(),
            "no breakeven server at http://127.0.0.1:1: connection refused; \
             start one with `breakeven serve`"
        );
    }

    #[test]
    fn advice_names_the_binary_as_it_was_called() {
        let called = |argv0: &str, cwd: &str| {
            invoked_as(
                Some(std::ffi::OsStr::new(argv0)),
                Some(std::path::Path::new(cwd)),
            )
        };
        assert_eq!(called("breakeven", "/home/me"), "breakeven");
        assert_eq!(
            called("target/release/breakeven", "/src/breakeven"),
            "target/release/breakeven"
        );
        assert_eq!(
            called("/src/breakeven/target/release/breakeven", "/src/breakeven"),
            "target/release/breakeven"
        );
        assert_eq!(
            called("/opt/bin/breakeven", "/home/me"),
            "/opt/bin/breakeven"
        );
        assert_eq!(invoked_as(None, None), "breakeven");
    }

    #[test]
    fn statuses_print_their_grpc_name() {
        let failure = Failure::from(Status::not_found("no saved scenario scn_0"));
        assert_eq!(failure.to_string(), "NOT_FOUND: no saved scenario scn_0");
    }
}
