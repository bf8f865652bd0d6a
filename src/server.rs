//! Runs the gRPC server: catalogue, health and reflection services, one log
//! line per request, graceful shutdown.
//!
//! [`run`] takes its listener and shutdown signal as arguments, so tests
//! start a real server on an ephemeral port and stop it when they are done.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::codegen::http::{self, HeaderMap};
use tonic::transport::Server;
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::catalog::{Catalog, LiveCatalog};
use crate::estimator::calibrate::{self, Calibration, Calibrations};
use crate::grpc::{
    CatalogApi, EstimatorApi, JobApi, JobRunner, RunApi, ScenarioApi, SimulationApi, pb,
};
use crate::store::Store;

/// Monte Carlo runs executing at once; more get RESOURCE_EXHAUSTED. Each
/// uses every core, so more than two only queue behind each other.
pub const MAX_SIMULATIONS: usize = 2;

/// Largest request message the server reads.
pub const MAX_REQUEST_BYTES: usize = 4 << 20;
/// Largest response message the server writes (a 240-month simulation
/// result is well under 1 MiB).
pub const MAX_RESPONSE_BYTES: usize = 16 << 20;
/// Longest a call may take before the server answers DEADLINE_EXCEEDED,
/// whatever deadline the client set: a bound on any one request's work.
pub const MAX_CALL_DURATION: Duration = Duration::from_secs(15 * 60);

/// How long calls in flight may take to finish once shutdown begins.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Settings of a server beyond its listener, catalogue and store.
#[derive(Debug, Clone)]
pub struct Options {
    /// Batch job items run at once.
    pub job_workers: usize,
    /// Bearer tokens and their teams; `None` serves everyone as one team.
    pub tokens: Option<Arc<crate::auth::TokenFile>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            job_workers: 1,
            tokens: None,
        }
    }
}

/// A generated service server with the message size limits applied.
macro_rules! limited {
    ($server:expr) => {
        $server
            .max_decoding_message_size(MAX_REQUEST_BYTES)
            .max_encoding_message_size(MAX_RESPONSE_BYTES)
    };
}

/// Serves on `listener` with default [`Options`] until `shutdown`
/// completes, then lets requests in flight finish.
pub async fn run(
    listener: TcpListener,
    catalog: Arc<Catalog>,
    store: Store,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_with(listener, catalog, store, Options::default(), shutdown).await
}

/// Serves on `listener` until `shutdown` completes, then lets requests in
/// flight finish. Batch job items still running are stopped and stay
/// pending, to resume at the next start.
pub async fn run_with(
    listener: TcpListener,
    catalog: Arc<Catalog>,
    store: Store,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // The defaults' expected error comes from the measurements shipped in
    // benchmarks/, scored against this catalogue.
    let measurements = calibrate::parse_csv(calibrate::PUBLIC_MEASUREMENTS)?;
    let calibrations = Arc::new(Calibrations::new(Calibration::uncalibrated(
        &catalog,
        &measurements,
    )));
    for saved in store.calibrations().await? {
        calibrations.insert(saved)?;
    }

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<pb::catalog_service_server::CatalogServiceServer<CatalogApi>>()
        .await;
    health
        .set_serving::<pb::estimator_service_server::EstimatorServiceServer<EstimatorApi>>()
        .await;
    health
        .set_serving::<pb::simulation_service_server::SimulationServiceServer<SimulationApi>>()
        .await;
    health
        .set_serving::<pb::scenario_service_server::ScenarioServiceServer<ScenarioApi>>()
        .await;
    health
        .set_serving::<pb::run_service_server::RunServiceServer<RunApi>>()
        .await;
    health
        .set_serving::<pb::job_service_server::JobServiceServer<JobApi>>()
        .await;

    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    // Each builder adds its own reflection descriptors; add the other
    // version's so that either one lists both.
    let reflection_v1 = reflection()
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = reflection()
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    // The catalogue in force: the data files plus the custom entries kept
    // in the database. One that no longer loads is left out, loudly.
    let live = Arc::new(LiveCatalog::new((*catalog).clone()));
    let custom: Vec<_> = store
        .custom_entries()
        .await?
        .iter()
        .filter_map(crate::grpc::custom_file)
        .collect();
    for (file, err) in live.load_custom(&custom) {
        tracing::warn!(kind = file.kind.dir(), name = %file.name, %err,
            "custom catalogue entry left out: it no longer loads");
    }
    let catalog = live;
    let simulation = SimulationApi::new(
        Arc::clone(&catalog),
        Arc::clone(&calibrations),
        MAX_SIMULATIONS,
    );

    let runner = JobRunner::new(
        store.clone(),
        Arc::clone(&catalog),
        Arc::clone(&calibrations),
        options.job_workers,
    );
    let jobs = tokio::spawn(Arc::clone(&runner).run());
    let (stopping, mut stop_seen) = tokio::sync::watch::channel(false);
    let runner_for_shutdown = Arc::clone(&runner);

    let shutdown = async move {
        shutdown.await;
        let _ = stopping.send(true);
        // Job items stop (and stay pending); job watchers get a final
        // status rather than holding the shutdown open.
        runner_for_shutdown.begin_shutdown();
        tracing::info!("shutting down: finishing requests in flight");
        health
            .set_not_serving::<pb::catalog_service_server::CatalogServiceServer<CatalogApi>>()
            .await;
    };

    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "serving");
    }
    let serve = Server::builder()
        .timeout(MAX_CALL_DURATION)
        .layer(
            // One log line per call with its method, gRPC status and latency.
            // A call that fails before its body starts carries its status in
            // the response headers ("trailers-only"); any other call in the
            // trailers at the end of the stream, where the line is written.
            TraceLayer::new_for_grpc()
                .make_span_with(|request: &http::Request<tonic::body::Body>| {
                    tracing::info_span!("grpc", method = %request.uri().path())
                })
                .on_request(())
                .on_response(log_headers)
                .on_eos(log_trailers)
                .on_failure(()),
        )
        .layer(crate::auth::AuthLayer::new(options.tokens.clone()))
        .layer(crate::catch_panic::CatchPanicLayer)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(limited!(
            pb::catalog_service_server::CatalogServiceServer::new(CatalogApi::new(
                Arc::clone(&catalog),
                store.clone(),
            ))
        ))
        .add_service(limited!(
            pb::estimator_service_server::EstimatorServiceServer::new(EstimatorApi::new(
                Arc::clone(&catalog),
                Arc::clone(&calibrations),
                store.clone(),
            ))
        ))
        .add_service(limited!(
            pb::scenario_service_server::ScenarioServiceServer::new(ScenarioApi::new(
                store.clone(),
                Arc::clone(&catalog),
            ))
        ))
        .add_service(limited!(pb::job_service_server::JobServiceServer::new(
            JobApi::new(store.clone(), Arc::clone(&catalog), runner)
        )))
        .add_service(limited!(pb::run_service_server::RunServiceServer::new(
            RunApi::new(
                store,
                Arc::clone(&catalog),
                Arc::clone(&calibrations),
                simulation.slots(),
            )
        )))
        .add_service(limited!(
            pb::simulation_service_server::SimulationServiceServer::new(simulation)
        ))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown);
    // Calls in flight get SHUTDOWN_GRACE to finish once shutdown begins;
    // then the server stops regardless.
    let grace = async move {
        let _ = stop_seen.wait_for(|stop| *stop).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        served = serve => served?,
        () = grace => tracing::warn!(
            grace_s = SHUTDOWN_GRACE.as_secs(),
            "calls still in flight after the grace period; stopping anyway"
        ),
    }
    // The runner stopped with the shutdown signal; wait until no item can
    // write any more.
    jobs.await?;
    Ok(())
}

/// Writes the log line of a call whose status came in the trailers.
fn log_trailers(trailers: Option<&HeaderMap>, latency: Duration, span: &Span) {
    let code = trailers
        .and_then(|t| t.get("grpc-status"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("0");
    log_call(code, latency, span);
}

/// Writes the log line of a call whose status came in the headers.
fn log_headers(response: &http::Response<tonic::body::Body>, latency: Duration, span: &Span) {
    if let Some(code) = response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
    {
        log_call(code, latency, span);
    }
}

fn log_call(code: &str, latency: Duration, span: &Span) {
    let status = code
        .parse::<i32>()
        .map(|c| format!("{:?}", tonic::Code::from_i32(c)))
        .unwrap_or_else(|_| code.to_string());
    span.in_scope(|| tracing::info!(status, latency_ms = latency.as_secs_f64() * 1e3, "request"));
}
