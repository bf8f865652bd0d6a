//! Turns a panic while serving a call into an INTERNAL answer.
//!
//! Handlers run their heavy work on the blocking pool, where a panic
//! already comes back as an error; this layer catches the rest (a panic in
//! a handler's own code), logs it with a request number and answers
//! `INTERNAL`, and the server goes on serving. Without it the client
//! would see its connection reset.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tonic::codegen::http;

/// The layer; see the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct CatchPanicLayer;

impl<S> tower::Layer<S> for CatchPanicLayer {
    type Service = CatchPanic<S>;

    fn layer(&self, inner: S) -> CatchPanic<S> {
        CatchPanic { inner }
    }
}

#[derive(Debug, Clone)]
pub struct CatchPanic<S> {
    inner: S,
}

static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for CatchPanic<S>
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

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let id = NEXT_REQUEST.fetch_add(1, Ordering::Relaxed);
        let method = request.uri().path().to_string();
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        // Building the future can panic as well as polling it.
        let future = std::panic::catch_unwind(AssertUnwindSafe(|| inner.call(request)));
        Box::pin(async move {
            let outcome = match future {
                Ok(future) => CatchUnwind(Box::pin(future)).await,
                Err(panic) => Err(panic),
            };
            outcome.unwrap_or_else(|panic| {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(no message)".into());
                tracing::error!(request = id, %method, panic = %message, "handler panicked");
                Ok(tonic::Status::internal(format!("internal error (request {id})")).into_http())
            })
        })
    }
}

/// Polls the inner future, catching a panic inside `poll`.
struct CatchUnwind<F>(F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(&mut *inner).poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::{Layer as _, Service as _, ServiceExt as _};

    fn grpc_status(response: &http::Response<tonic::body::Body>) -> Option<&str> {
        response
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_internal_and_the_service_goes_on() {
        let handler = tower::service_fn(|request: http::Request<()>| async move {
            if request.uri().path() == "/boom" {
                panic!("boom");
            }
            Ok::<_, std::convert::Infallible>(tonic::Status::ok("fine").into_http())
        });
        let mut service = CatchPanicLayer.layer(handler);
        let boom = http::Request::builder().uri("/boom").body(()).unwrap();
        let response = service.ready().await.unwrap().call(boom).await.unwrap();
        assert_eq!(grpc_status(&response), Some("13"));
        let fine = http::Request::builder().uri("/fine").body(()).unwrap();
        let response = service.ready().await.unwrap().call(fine).await.unwrap();
        assert_eq!(grpc_status(&response), Some("0"));
    }
}
