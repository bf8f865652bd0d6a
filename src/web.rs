//! gRPC-Web on the main port, for planning tools in a browser: CORS for
//! the origins of `serve --cors-origin` and nothing else.
//!
//! tonic-web's translation sits outside the request log, token and metrics
//! layers (see `server.rs`), so a gRPC-Web call reaches them as the plain
//! gRPC call it becomes: same method, same `authorization` header, same
//! status in the trailers. This module owns only the CORS side; it must
//! not touch a request that carries no `Origin`, which is every plain gRPC
//! client.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tonic::codegen::http::{self, HeaderName, HeaderValue, Method, Request, Response, header};
use tower::{Layer, Service};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Request headers a gRPC-Web client sends beyond the CORS-safelisted ones.
const ALLOW_HEADERS: [&str; 5] = [
    "content-type",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
    "authorization",
];

/// Response headers a browser script may read: where the status is when a
/// call fails before its body ("trailers-only").
const EXPOSE_HEADERS: [&str; 3] = ["grpc-status", "grpc-message", "grpc-status-details-bin"];

/// How long a browser may keep a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// Checks a `--cors-origin` value: `scheme://host[:port]` as a browser
/// sends it in `Origin` (no path, no trailing slash), lowercased.
pub fn parse_origin(text: &str) -> Result<String, String> {
    let origin = text.to_ascii_lowercase();
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| format!("{text:?} must start with https:// or http://"))?;
    if rest.is_empty() || rest.contains(['/', '?', '#']) || HeaderValue::from_str(&origin).is_err()
    {
        return Err(format!(
            "{text:?} must be an origin like https://planner.example.com, without a path or a trailing slash"
        ));
    }
    Ok(origin)
}

/// CORS for a fixed list of origins (possibly empty). A request from one
/// of them goes through tower-http's CORS layer: preflights are answered
/// with the gRPC-Web headers allowed, responses carry the exposed status
/// headers. A preflight from any other origin is refused with 403 and no
/// CORS header; any other request passes through untouched.
#[derive(Debug, Clone)]
pub struct Cors {
    origins: Arc<[HeaderValue]>,
    cors: CorsLayer,
}

impl Cors {
    /// `origins` as [`parse_origin`] returns them.
    pub fn new(origins: &[String]) -> anyhow::Result<Self> {
        let origins: Arc<[HeaderValue]> = origins
            .iter()
            .map(|o| HeaderValue::from_str(o))
            .collect::<Result<_, _>>()?;
        let cors = CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins.iter().cloned()))
            // gRPC-Web calls are all POSTs.
            .allow_methods([Method::POST])
            .allow_headers(ALLOW_HEADERS.map(HeaderName::from_static))
            .expose_headers(EXPOSE_HEADERS.map(HeaderName::from_static))
            .max_age(PREFLIGHT_MAX_AGE);
        Ok(Self { origins, cors })
    }
}

impl<S> Layer<S> for Cors {
    type Service = CorsService<S>;

    fn layer(&self, inner: S) -> CorsService<S> {
        CorsService {
            inner,
            cors: self.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CorsService<S> {
    inner: S,
    cors: Cors,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CorsService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let allowed = request
            .headers()
            .get(header::ORIGIN)
            .is_some_and(|origin| self.cors.origins.contains(origin));
        if allowed {
            // The service made ready is the one called; a clone takes its
            // place for the next call.
            let ready = self.inner.clone();
            let inner = std::mem::replace(&mut self.inner, ready);
            let mut cors = self.cors.cors.layer(inner);
            Box::pin(cors.call(request))
        } else if request.method() == Method::OPTIONS {
            // A preflight from an origin not listed: no CORS header, and
            // not passed on, so it cannot reach a service as a call.
            let mut refused = Response::new(ResBody::default());
            *refused.status_mut() = http::StatusCode::FORBIDDEN;
            Box::pin(std::future::ready(Ok(refused)))
        } else {
            Box::pin(self.inner.call(request))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked_and_lowercased() {
        assert_eq!(
            parse_origin("https://Planner.Example.com").unwrap(),
            "https://planner.example.com"
        );
        assert_eq!(
            parse_origin("http://localhost:5173").unwrap(),
            "http://localhost:5173"
        );
        for bad in [
            "planner.example.com",
            "https://",
            "https://planner.example.com/",
            "https://planner.example.com/app",
            "ftp://planner.example.com",
            "*",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }
}
