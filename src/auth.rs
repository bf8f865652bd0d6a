//! Bearer tokens and teams.
//!
//! With a token file (`serve --tokens FILE`), every call except health
//! checks, reflection and catalogue reads must carry
//! `authorization: Bearer <token>`; the token names the caller's team,
//! which the handlers use to show each team only its own scenarios, runs,
//! jobs and custom entries. The file holds one `TOKEN TEAM` pair per line
//! (`#` starts a comment) and is read again whenever it changes, so tokens
//! can be added or revoked without a restart. Tokens are compared in
//! constant time and never logged.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::SystemTime;

use tonic::codegen::http;

/// The caller's team, put in each authenticated request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team(pub String);

/// Calls that need no token: probes, reflection and catalogue reads (but
/// not the listing of a team's custom entries).
fn is_open(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/")
        || path.starts_with("/grpc.reflection.")
        || path
            .strip_prefix("/breakeven.v1.CatalogService/")
            .is_some_and(|method| {
                (method.starts_with("List") || method.starts_with("Get"))
                    && !method.contains("CatalogEntr")
            })
}

/// Token → team pairs read from a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tokens(Vec<(String, String)>);

impl Tokens {
    /// Reads `TOKEN TEAM` lines; a malformed line is an error naming it.
    pub fn parse(text: &str) -> Result<Tokens, String> {
        let mut pairs = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut words = line.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some(token), Some(team), None) if token.len() >= 16 => {
                    pairs.push((token.to_string(), team.to_string()));
                }
                (Some(_), Some(_), None) => {
                    return Err(format!(
                        "line {}: tokens must be at least 16 characters",
                        i + 1
                    ));
                }
                _ => return Err(format!("line {}: expected `TOKEN TEAM`", i + 1)),
            }
        }
        Ok(Tokens(pairs))
    }

    /// The team of `token`. Every entry is compared, in time that depends
    /// only on the lengths, so timing tells nothing about which token (if
    /// any) matched.
    pub fn team(&self, token: &str) -> Option<&str> {
        let mut found = None;
        for (known, team) in &self.0 {
            if constant_time_eq(known.as_bytes(), token.as_bytes()) {
                found = Some(team.as_str());
            }
        }
        found
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// A file's modification time and size: when either changes, it is read
/// again.
type Stamp = (SystemTime, u64);

/// A token file, read again when its modification time or size changes.
#[derive(Debug)]
pub struct TokenFile {
    path: PathBuf,
    state: Mutex<(Option<Stamp>, Arc<Tokens>)>,
}

impl TokenFile {
    /// Reads the file now; an unreadable or malformed file is an error.
    pub fn open(path: &Path) -> Result<Self, String> {
        let (stamp, tokens) = read(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            state: Mutex::new((Some(stamp), Arc::new(tokens))),
        })
    }

    /// The tokens in force, reloading the file if it changed. A file that
    /// became unreadable or malformed keeps the previous tokens (and says
    /// so in the log), so a half-written edit locks nobody out.
    pub fn current(&self) -> Arc<Tokens> {
        let stamp = stamp(&self.path).ok();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if stamp.is_some() && stamp != state.0 {
            match read(&self.path) {
                Ok((stamp, tokens)) => {
                    tracing::info!(file = %self.path.display(), "token file reloaded");
                    *state = (Some(stamp), Arc::new(tokens));
                }
                Err(e) => {
                    tracing::warn!(file = %self.path.display(), error = %e,
                        "token file not reloaded; the previous tokens stay in force");
                    state.0 = stamp;
                }
            }
        }
        Arc::clone(&state.1)
    }
}

fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let meta = std::fs::metadata(path)?;
    Ok((meta.modified()?, meta.len()))
}

fn read(path: &Path) -> Result<(Stamp, Tokens), String> {
    let stamp = stamp(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let tokens = Tokens::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((stamp, tokens))
}

/// Checks bearer tokens in front of the services; without a token file it
/// lets everything through untouched.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    tokens: Option<Arc<TokenFile>>,
}

impl AuthLayer {
    pub fn new(tokens: Option<Arc<TokenFile>>) -> Self {
        Self { tokens }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Auth<S> {
        Auth {
            inner,
            tokens: self.tokens.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Auth<S> {
    inner: S,
    tokens: Option<Arc<TokenFile>>,
}

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for Auth<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        if let Some(file) = &self.tokens {
            let tokens = file.current();
            let bearer = request
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            match bearer.and_then(|t| tokens.team(t)) {
                Some(team) => {
                    request.extensions_mut().insert(Team(team.to_string()));
                }
                None if is_open(request.uri().path()) => {}
                None => {
                    let message = if bearer.is_some() {
                        "the bearer token is not valid"
                    } else {
                        "this call needs an `authorization: Bearer <token>` header"
                    };
                    let response = tonic::Status::unauthenticated(message).into_http();
                    return Box::pin(async move { Ok(response) });
                }
            }
        }
        // The clone that was polled ready serves this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(inner.call(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_files_name_the_bad_line() {
        let tokens = Tokens::parse(
            "# token team\n0123456789abcdef research\n\n  fedcba9876543210   platform # ops\n",
        )
        .unwrap();
        assert_eq!(tokens.team("0123456789abcdef"), Some("research"));
        assert_eq!(tokens.team("fedcba9876543210"), Some("platform"));
        assert_eq!(tokens.team("fedcba987654321"), None);
        assert_eq!(tokens.team(""), None);
        let err = Tokens::parse("0123456789abcdef research\nshort team\n").unwrap_err();
        assert!(err.starts_with("line 2"), "{err}");
        let err = Tokens::parse("a b c\n").unwrap_err();
        assert!(err.contains("TOKEN TEAM"), "{err}");
    }

    #[test]
    fn probes_reflection_and_catalogue_reads_are_open() {
        for open in [
            "/grpc.health.v1.Health/Check",
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "/breakeven.v1.CatalogService/ListGpus",
            "/breakeven.v1.CatalogService/GetApiPrice",
        ] {
            assert!(is_open(open), "{open}");
        }
        for closed in [
            "/breakeven.v1.CatalogService/CreateCatalogEntry",
            "/breakeven.v1.CatalogService/ListCatalogEntries",
            "/breakeven.v1.ScenarioService/ListScenarios",
            "/breakeven.v1.SimulationService/Project",
        ] {
            assert!(!is_open(closed), "{closed}");
        }
    }
}
