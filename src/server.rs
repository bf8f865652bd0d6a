//! Runs the gRPC server: catalogue, health and reflection services, TLS,
//! gRPC-Web with CORS, one log line and one metrics record per request,
//! the metrics endpoint, graceful shutdown.
//!
//! [`run`] takes its listener and shutdown signal as arguments, so tests
//! start a real server on an ephemeral port and stop it when they are done.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tonic::codegen::http::{self, HeaderMap};
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::catalog::{Catalog, ImportedFile, LiveCatalog};
use crate::engine::{JobRunner, RunnerOptions};
use crate::estimator::calibrate::{self, Calibration, Calibrations};
use crate::grpc::{
    CatalogApi, EstimatorApi, ItemExecutor, JobApi, RunApi, ScenarioApi, SimulationApi, pb,
};
use crate::metrics::{Metrics, Sample};
use crate::store::Store;
pub use crate::tls::TlsFiles;

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

/// Paths × months from which a simulation is spread across replicas: a
/// 10,000,000-path × 60-month run is, one of 1,000,000 × 240 is not.
pub const DEFAULT_SPLIT_THRESHOLD: u64 = 500_000_000;

/// How long calls in flight may take to finish once shutdown begins.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Settings of a server beyond its listener, catalogue and store.
#[derive(Debug)]
pub struct Options {
    /// Batch job items run at once.
    pub job_workers: usize,
    /// How long a claimed job item stays leased to this server unless its
    /// heartbeat extends it.
    pub job_lease_ttl: Duration,
    /// On a shared database, simulations of at least this many paths ×
    /// months are spread across the replicas.
    pub split_threshold: u64,
    /// Chunks of paths in one slice of a split simulation.
    pub split_slice_chunks: u64,
    /// Bearer tokens and their teams; `None` serves everyone as one team.
    pub tokens: Option<Arc<crate::auth::TokenFile>>,
    /// Serve gRPC over TLS with these files; plain text when `None`.
    pub tls: Option<TlsFiles>,
    /// Serve `GET /metrics` (Prometheus text, plain HTTP) on this listener.
    pub metrics: Option<TcpListener>,
    /// Browser origins allowed to call over gRPC-Web (CORS), as
    /// [`crate::web::parse_origin`] returns them; none when empty.
    pub cors_origins: Vec<String>,
    /// Serve the browser view (HTML pages, [`crate::browser`]) on this
    /// listener, over TLS when `tls` is set.
    pub http: Option<TcpListener>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            job_workers: 1,
            job_lease_ttl: crate::store::jobs::DEFAULT_LEASE_TTL,
            split_threshold: DEFAULT_SPLIT_THRESHOLD,
            split_slice_chunks: crate::montecarlo::split::SLICE_CHUNKS,
            tokens: None,
            tls: None,
            metrics: None,
            cors_origins: Vec::new(),
            http: None,
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
    // Unusable TLS files or origins stop the start before anything else
    // happens. HTTP/1.1 is accepted for gRPC-Web; plain gRPC stays on
    // HTTP/2.
    let cors = crate::web::Cors::new(&options.cors_origins)?;
    let http_tls = match (&options.http, &options.tls) {
        (Some(_), Some(files)) => Some(files.http_config()?),
        _ => None,
    };
    let mut server = Server::builder().accept_http1(true);
    if let Some(files) = &options.tls {
        server = server
            .tls_config(files.server_config()?)
            // tonic's error says only "transport error"; rustls' reason is
            // its source.
            .map_err(|e| files.refused(error_chain(std::error::Error::source(&e).unwrap_or(&e))))?;
        tracing::info!(
            cert = %files.cert.display(),
            client_certificates = files.client_ca.is_some(),
            "TLS on"
        );
    }

    // The defaults' expected error comes from the measurements shipped in
    // benchmarks/, scored against this catalogue.
    let measurements = calibrate::parse_csv(calibrate::PUBLIC_MEASUREMENTS)?;
    let calibrations = Arc::new(Calibrations::new(Calibration::uncalibrated(
        &catalog,
        &measurements,
    )));

    let (health, health_service) = tonic_health::server::health_reporter();

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
    // in the database, and the kept calibrations. A database that does not
    // answer yet (a replica started before it) is waited for in the
    // background, NOT_SERVING meanwhile.
    let live = Arc::new(LiveCatalog::new((*catalog).clone()));
    let mut epoch = None;
    if store.is_ready() {
        epoch = Some(store.store_epoch().await?);
        load_kept(&store, &live, &calibrations).await?;
        set_health(&health, true).await;
    } else {
        set_health(&health, false).await;
    }
    let catalog = live;
    let mut simulation = SimulationApi::new(
        Arc::clone(&catalog),
        Arc::clone(&calibrations),
        MAX_SIMULATIONS,
    );
    // On a shared database every replica works slices of large runs.
    let slices = store.shared().then(|| {
        let mut lease = crate::store::Lease::new();
        lease.ttl = options.job_lease_ttl;
        let runner = crate::engine::SliceRunner::new(
            store.clone(),
            Arc::new(crate::grpc::SliceExecutor),
            lease,
            Duration::from_millis(500),
        );
        simulation = simulation
            .clone()
            .with_splitter(Arc::new(crate::engine::Splitter::new(
                store.clone(),
                Arc::clone(&runner),
                options.split_threshold,
                options.split_slice_chunks,
            )));
        let task = tokio::spawn(Arc::clone(&runner).run());
        (runner, task)
    });
    let (slices, slices_task) = match slices {
        Some((runner, task)) => (Some(runner), Some(task)),
        None => (None, None),
    };

    let mut lease = crate::store::Lease::new();
    lease.ttl = options.job_lease_ttl;
    let runner = JobRunner::new(
        store.clone(),
        ItemExecutor::new(Arc::clone(&catalog), Arc::clone(&calibrations)),
        RunnerOptions {
            workers: options.job_workers,
            lease,
            ..RunnerOptions::default()
        },
    );
    let jobs = tokio::spawn(Arc::clone(&runner).run());
    let (stopping, mut stop_seen) = tokio::sync::watch::channel(false);
    if store.shared() {
        tokio::spawn(watch_store(
            store.clone(),
            Arc::clone(&catalog),
            Arc::clone(&calibrations),
            health.clone(),
            epoch,
            stopping.subscribe(),
        ));
    }
    let runner_for_shutdown = Arc::clone(&runner);
    let mut metrics_stop = stopping.subscribe();
    let metrics = Metrics::new(method_names()?);
    let metrics_endpoint = options.metrics.map(|listener| {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, "serving metrics at /metrics");
        }
        let scrape = {
            let metrics = metrics.clone();
            let pending = PendingItems::new(store.clone(), runner.subscribe());
            move || {
                let metrics = metrics.clone();
                let pending = pending.clone();
                async move {
                    metrics.render(&Sample {
                        simulations_in_flight: crate::grpc::simulations_running(),
                        simulation_paths: crate::grpc::simulation_paths(),
                        job_items_pending: pending.count().await,
                    })
                }
            }
        };
        tokio::spawn(crate::metrics::serve(listener, scrape, async move {
            // A closed channel means the server is gone: stop too.
            let _ = metrics_stop.wait_for(|stop| *stop).await;
        }))
    });

    let scenario_api = ScenarioApi::new(store.clone(), Arc::clone(&catalog));
    let run_api = RunApi::new(
        store.clone(),
        Arc::clone(&catalog),
        Arc::clone(&calibrations),
        simulation.slots(),
    );
    let browser = options.http.map(|listener| {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, tls = http_tls.is_some(), "serving the browser view");
        }
        let pages = crate::browser::Browser::new(
            scenario_api.clone(),
            run_api.clone(),
            options.tokens.clone(),
            http_tls.is_some(),
        );
        let mut stop = stopping.subscribe();
        tokio::spawn(crate::browser::serve(
            listener,
            http_tls,
            pages,
            async move {
                let _ = stop.wait_for(|stop| *stop).await;
            },
        ))
    });

    let shutdown = async move {
        shutdown.await;
        let _ = stopping.send(true);
        // Job items stop (and stay pending); job watchers get a final
        // status rather than holding the shutdown open.
        runner_for_shutdown.begin_shutdown();
        if let Some(slices) = &slices {
            slices.begin_shutdown();
        }
        tracing::info!("shutting down: finishing requests in flight");
        set_health(&health, false).await;
    };

    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "serving");
    }
    let serve = server
        .timeout(MAX_CALL_DURATION)
        // gRPC-Web outermost: the layers below see its calls as plain gRPC,
        // so they are logged, authenticated and counted the same way.
        .layer(cors)
        .layer(tonic_web::GrpcWebLayer::new())
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
        .layer(RecordLayer(metrics))
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
            pb::scenario_service_server::ScenarioServiceServer::new(scenario_api)
        ))
        .add_service(limited!(pb::job_service_server::JobServiceServer::new(
            JobApi::new(store.clone(), Arc::clone(&catalog), runner)
        )))
        .add_service(limited!(pb::run_service_server::RunServiceServer::new(
            run_api
        )))
        .add_service(limited!(
            pb::simulation_service_server::SimulationServiceServer::new(simulation)
        ))
        // TCP_NODELAY: without it a response's last frame can wait for
        // the client's delayed ACK, about 40 ms on Linux.
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        );
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
    // Likewise the slice runner, which releases its leases as it stops.
    if let Some(task) = slices_task {
        task.await?;
    }
    if let Some(endpoint) = metrics_endpoint {
        endpoint.await??;
    }
    if let Some(pages) = browser {
        pages.await??;
    }
    Ok(())
}

/// How often a replica on a shared database checks that it answers and
/// whether what replicas cache (custom entries, imported prices,
/// calibrations) changed elsewhere.
const STORE_POLL: Duration = Duration::from_secs(2);

/// Every served service's health (and the server's, ""), at once.
async fn set_health(health: &tonic_health::server::HealthReporter, serving: bool) {
    use tonic_health::ServingStatus;
    let status = if serving {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    for name in [
        "",
        <pb::catalog_service_server::CatalogServiceServer<CatalogApi> as tonic::server::NamedService>::NAME,
        <pb::estimator_service_server::EstimatorServiceServer<EstimatorApi> as tonic::server::NamedService>::NAME,
        <pb::simulation_service_server::SimulationServiceServer<SimulationApi> as tonic::server::NamedService>::NAME,
        <pb::scenario_service_server::ScenarioServiceServer<ScenarioApi> as tonic::server::NamedService>::NAME,
        <pb::run_service_server::RunServiceServer<RunApi> as tonic::server::NamedService>::NAME,
        <pb::job_service_server::JobServiceServer<JobApi> as tonic::server::NamedService>::NAME,
    ] {
        health.set_service_status(name, status).await;
    }
}

/// Loads what the database keeps for every replica's caches: the
/// calibrations and the custom entries and imported prices over the data
/// files. One that no longer loads is left out, loudly.
async fn load_kept(
    store: &Store,
    live: &LiveCatalog,
    calibrations: &Calibrations,
) -> anyhow::Result<()> {
    for saved in store.calibrations().await? {
        calibrations.insert(saved)?;
    }
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
    let imported: Vec<_> = store
        .imported_prices()
        .await?
        .into_iter()
        .map(|p| ImportedFile {
            team: p.team,
            path: p.path,
            text: p.text,
        })
        .collect();
    for (file, err) in live.load_imports(&imported) {
        tracing::warn!(team = %file.team, path = %file.path, %err,
            "imported price left out: it no longer loads");
    }
    Ok(())
}

/// On a shared database: migrates once it answers, then every
/// [`STORE_POLL`] checks that it still answers (NOT_SERVING while it does
/// not) and reloads the caches when the store epoch moved, so a change
/// made through another replica is in force here within seconds.
async fn watch_store(
    store: Store,
    live: Arc<LiveCatalog>,
    calibrations: Arc<Calibrations>,
    health: tonic_health::server::HealthReporter,
    mut epoch: Option<i64>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut serving = epoch.is_some();
    loop {
        let answered = async {
            store.prepare().await?;
            let now = store.store_epoch().await?;
            if epoch != Some(now) {
                load_kept(&store, &live, &calibrations)
                    .await
                    .map_err(|e| crate::error::Error::Unavailable(format!("{e:#}")))?;
                if epoch.is_some() {
                    tracing::info!(epoch = now, "kept entries changed elsewhere; reloaded");
                }
                epoch = Some(now);
            }
            Ok::<_, crate::error::Error>(())
        }
        .await;
        if *stop.borrow() {
            return;
        }
        match answered {
            Ok(()) if !serving => {
                tracing::info!("the database answers; serving");
                set_health(&health, true).await;
                serving = true;
            }
            Err(e) if serving => {
                tracing::warn!(error = %e, "the database does not answer; not serving");
                set_health(&health, false).await;
                serving = false;
            }
            Err(e) => tracing::debug!(error = %e, "the database still does not answer"),
            Ok(()) => {}
        }
        tokio::select! {
            () = tokio::time::sleep(STORE_POLL) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// An error and its sources on one line.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Every method the server offers, as `package.Service/Method`: the only
/// method labels the metrics take, so that made-up paths cannot grow them.
fn method_names() -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for set in [
        pb::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
    ] {
        let pool = prost_reflect::DescriptorPool::decode(set)?;
        for service in pool.services() {
            for method in service.methods() {
                names.push(format!("{}/{}", service.full_name(), method.name()));
            }
        }
    }
    Ok(names)
}

/// The batch job items not yet finished, summed over the jobs at scrape
/// time. The sum reads every job's counts, so it is kept until the job
/// runner reports a change (a job submitted or cancelled, an item done):
/// an idle server's scrapes cost nothing.
#[derive(Clone)]
struct PendingItems {
    store: Store,
    state: Arc<tokio::sync::Mutex<(tokio::sync::watch::Receiver<u64>, Option<u64>)>>,
}

impl PendingItems {
    /// Jobs read per store call.
    const PAGE: u32 = 500;

    fn new(store: Store, changes: tokio::sync::watch::Receiver<u64>) -> Self {
        Self {
            store,
            state: Arc::new(tokio::sync::Mutex::new((changes, None))),
        }
    }

    /// `None` when the store cannot be read now.
    async fn count(&self) -> Option<u64> {
        // One scrape counts at a time; another waits and reuses its sum.
        let mut state = self.state.lock().await;
        let (changes, last) = &mut *state;
        if last.is_none() || changes.has_changed().unwrap_or(true) {
            changes.borrow_and_update();
            *last = match self.sum().await {
                Ok(n) => Some(n),
                Err(err) => {
                    tracing::warn!(%err, "cannot count pending job items for /metrics");
                    None
                }
            };
        }
        *last
    }

    async fn sum(&self) -> crate::Result<u64> {
        let mut pending = 0;
        let mut offset = 0;
        loop {
            let page = self.store.list_jobs("", offset, Self::PAGE).await?;
            pending += page.items.iter().map(|j| u64::from(j.pending)).sum::<u64>();
            offset += page.items.len() as u64;
            if page.items.len() < Self::PAGE as usize {
                return Ok(pending);
            }
        }
    }
}

/// Records every call in [`Metrics`] when its response ends: at once for
/// a "trailers-only" response, whose status is in the headers; at the
/// trailers for any other; as CANCELLED when the client goes away first.
#[derive(Clone)]
struct RecordLayer(Metrics);

impl<S> tower::Layer<S> for RecordLayer {
    type Service = Record<S>;

    fn layer(&self, inner: S) -> Record<S> {
        Record {
            inner,
            metrics: self.0.clone(),
        }
    }
}

#[derive(Clone)]
struct Record<S> {
    inner: S,
    metrics: Metrics,
}

impl<S, B> tower::Service<http::Request<tonic::body::Body>> for Record<S>
where
    S: tower::Service<http::Request<tonic::body::Body>, Response = http::Response<B>>,
    S::Future: Send + 'static,
    B: http_body::Body<Data = tonic::codegen::Bytes> + Send + Unpin + 'static,
    B::Error: Into<tonic::codegen::StdError>,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let mut call = Call {
            metrics: self.metrics.clone(),
            path: request.uri().path().to_string(),
            start: Instant::now(),
            done: false,
        };
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = match response.await {
                Ok(response) => response,
                Err(err) => {
                    call.finish(None);
                    return Err(err);
                }
            };
            if let Some(code) = grpc_status(response.headers()) {
                call.finish(code.parse().ok());
            }
            Ok(response.map(|inner| tonic::body::Body::new(RecordedBody { inner, call })))
        })
    }
}

/// One call being recorded; recorded as CANCELLED if dropped unfinished.
struct Call {
    metrics: Metrics,
    path: String,
    start: Instant,
    done: bool,
}

impl Call {
    fn finish(&mut self, code: Option<i32>) {
        if !self.done {
            self.done = true;
            self.metrics.record(&self.path, code, self.start.elapsed());
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.finish(Some(tonic::Code::Cancelled as i32));
    }
}

/// A response body that finishes its [`Call`] at the trailers.
struct RecordedBody<B> {
    inner: B,
    call: Call,
}

impl<B: http_body::Body + Unpin> http_body::Body for RecordedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        let this = &mut *self;
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(trailers) = frame.trailers_ref() {
                    this.call
                        .finish(grpc_status(trailers).and_then(|c| c.parse().ok()));
                }
            }
            // The stream broke, or ended without a status.
            Some(Err(_)) | None => this.call.finish(None),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The gRPC status code in a response's headers or trailers.
fn grpc_status(headers: &HeaderMap) -> Option<&str> {
    headers.get("grpc-status").and_then(|v| v.to_str().ok())
}

/// Writes the log line of a call whose status came in the trailers.
fn log_trailers(trailers: Option<&HeaderMap>, latency: Duration, span: &Span) {
    let code = trailers.and_then(grpc_status).unwrap_or("0");
    log_call(code, latency, span);
}

/// Writes the log line of a call whose status came in the headers.
fn log_headers(response: &http::Response<tonic::body::Body>, latency: Duration, span: &Span) {
    if let Some(code) = grpc_status(response.headers()) {
        log_call(code, latency, span);
    }
}

fn log_call(code: &str, latency: Duration, span: &Span) {
    let status = code
        .parse::<i32>()
        .map(|c| format!("{:?}", tonic::Code::from_i32(c)))
        .unwrap_or_else(|_| code.to_string());
    let latency_ms = millis(latency);
    span.in_scope(|| tracing::info!(status, %latency_ms, "request"));
}

/// Milliseconds to the microsecond, as the log line shows them: a float's
/// full expansion (`0.18346300000000001`) says nothing more.
fn millis(latency: Duration) -> String {
    format!("{:.3}", latency.as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_are_logged_to_the_microsecond() {
        assert_eq!(millis(Duration::from_nanos(183_463)), "0.183");
        assert_eq!(millis(Duration::from_micros(12_345_678)), "12345.678");
        assert_eq!(millis(Duration::ZERO), "0.000");
    }
}
