//! What the server counts, and the Prometheus text exposition it is read
//! in (`serve --metrics-addr`).
//!
//! Calls are recorded by the server's request layer as they end; the
//! figures that describe the present (simulations running, job items
//! waiting) are read when `/metrics` is scraped and handed to
//! [`Metrics::render`] as a [`Sample`]. The registry is a mutex around a
//! small map: one lock per call, held for a few additions, costs nothing
//! next to a gRPC round trip, and a scrape sees every figure of one
//! instant together. It knows nothing of gRPC types or the store.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::TcpListener;

/// Upper bounds of the latency histogram's buckets, in seconds: from a
/// catalogue lookup (well under a millisecond) to a long Monte Carlo run.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    120.0,
];

/// The method label of a path that is none of the server's methods, so
/// that a client making up paths cannot grow the registry without bound.
pub const UNKNOWN_METHOD: &str = "unknown";

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The registry of one server; clones share it.
#[derive(Debug, Clone)]
pub struct Metrics {
    known: Arc<HashSet<String>>,
    calls: Arc<Mutex<BTreeMap<String, MethodCalls>>>,
}

/// Figures read at scrape time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    /// Monte Carlo runs computing now.
    pub simulations_in_flight: u64,
    /// Main paths simulated since the process started.
    pub simulation_paths: u64,
    /// Batch job items waiting to run (or running); `None` when the store
    /// could not be read, and the metric is then left out of the scrape.
    pub job_items_pending: Option<u64>,
}

#[derive(Debug, Default)]
struct MethodCalls {
    /// Calls by gRPC status name.
    codes: BTreeMap<&'static str, u64>,
    /// Calls per latency bucket (not cumulative); the last slot counts
    /// calls slower than every bound.
    buckets: [u64; LATENCY_BUCKETS.len() + 1],
    seconds: f64,
}

impl Metrics {
    /// A registry for a server whose gRPC methods are `methods`, each
    /// written `package.Service/Method` (the request path without its
    /// leading slash).
    pub fn new(methods: impl IntoIterator<Item = String>) -> Self {
        Self {
            known: Arc::new(methods.into_iter().collect()),
            calls: Arc::default(),
        }
    }

    /// Counts one finished call of the request path `path` with the gRPC
    /// status `code` (`None`: no status was sent, counted as UNKNOWN).
    pub fn record(&self, path: &str, code: Option<i32>, latency: Duration) {
        let method = path.strip_prefix('/').unwrap_or(path);
        let method = if self.known.contains(method) {
            method
        } else {
            UNKNOWN_METHOD
        };
        let seconds = latency.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|&le| seconds <= le)
            .unwrap_or(LATENCY_BUCKETS.len());
        let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        // Look up before inserting: the common case allocates nothing.
        if !calls.contains_key(method) {
            calls.insert(method.to_string(), MethodCalls::default());
        }
        let entry = calls.get_mut(method).expect("inserted above");
        *entry.codes.entry(code_name(code)).or_default() += 1;
        entry.buckets[bucket] += 1;
        entry.seconds += seconds;
    }

    /// Every metric in the Prometheus text exposition format.
    pub fn render(&self, sample: &Sample) -> String {
        let mut out = String::new();
        let calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);

        header(
            &mut out,
            "breakeven_requests_total",
            "counter",
            "gRPC calls finished, by method and status code.",
        );
        for (method, c) in calls.iter() {
            for (code, n) in &c.codes {
                let _ = writeln!(
                    out,
                    "breakeven_requests_total{{method=\"{}\",code=\"{code}\"}} {n}",
                    escape(method)
                );
            }
        }

        header(
            &mut out,
            "breakeven_request_duration_seconds",
            "histogram",
            "Time from a call's request to the end of its response, by method.",
        );
        for (method, c) in calls.iter() {
            let method = escape(method);
            let mut cumulative = 0;
            for (le, n) in LATENCY_BUCKETS.iter().zip(&c.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "breakeven_request_duration_seconds_bucket{{method=\"{method}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let count: u64 = c.buckets.iter().sum();
            let _ = writeln!(
                out,
                "breakeven_request_duration_seconds_bucket{{method=\"{method}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "breakeven_request_duration_seconds_sum{{method=\"{method}\"}} {}",
                c.seconds
            );
            let _ = writeln!(
                out,
                "breakeven_request_duration_seconds_count{{method=\"{method}\"}} {count}"
            );
        }
        drop(calls);

        header(
            &mut out,
            "breakeven_simulations_in_flight",
            "gauge",
            "Monte Carlo runs computing now.",
        );
        let _ = writeln!(
            out,
            "breakeven_simulations_in_flight {}",
            sample.simulations_in_flight
        );
        header(
            &mut out,
            "breakeven_simulation_paths_total",
            "counter",
            "Monte Carlo paths simulated; rate() gives paths per second.",
        );
        let _ = writeln!(
            out,
            "breakeven_simulation_paths_total {}",
            sample.simulation_paths
        );
        if let Some(pending) = sample.job_items_pending {
            header(
                &mut out,
                "breakeven_job_items_pending",
                "gauge",
                "Batch job items not yet finished: the job queue's depth.",
            );
            let _ = writeln!(out, "breakeven_job_items_pending {pending}");
        }
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value as the text format wants it: backslash, double quote and
/// line feed escaped.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// The canonical name of a gRPC status code, as grpc-status carries it.
pub fn code_name(code: Option<i32>) -> &'static str {
    match code {
        Some(0) => "OK",
        Some(1) => "CANCELLED",
        Some(3) => "INVALID_ARGUMENT",
        Some(4) => "DEADLINE_EXCEEDED",
        Some(5) => "NOT_FOUND",
        Some(6) => "ALREADY_EXISTS",
        Some(7) => "PERMISSION_DENIED",
        Some(8) => "RESOURCE_EXHAUSTED",
        Some(9) => "FAILED_PRECONDITION",
        Some(10) => "ABORTED",
        Some(11) => "OUT_OF_RANGE",
        Some(12) => "UNIMPLEMENTED",
        Some(13) => "INTERNAL",
        Some(14) => "UNAVAILABLE",
        Some(15) => "DATA_LOSS",
        Some(16) => "UNAUTHENTICATED",
        _ => "UNKNOWN",
    }
}

/// Serves `GET /metrics` on `listener` over plain HTTP/1 until `shutdown`
/// completes; `scrape` renders the page. Any other path is 404.
pub async fn serve<F, Fut>(
    listener: TcpListener,
    scrape: F,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = String> + Send + 'static,
{
    use axum::http::header;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let scrape = scrape.clone();
            async move { ([(header::CONTENT_TYPE, CONTENT_TYPE)], scrape().await) }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> Metrics {
        Metrics::new(["breakeven.v1.CatalogService/GetGpu".to_string()])
    }

    #[test]
    fn calls_are_counted_by_method_and_code() {
        let m = metrics();
        let path = "/breakeven.v1.CatalogService/GetGpu";
        m.record(path, Some(0), Duration::from_micros(300));
        m.record(path, Some(0), Duration::from_millis(3));
        m.record(path, Some(5), Duration::from_secs(500));
        m.record("/made.up/Path", Some(12), Duration::ZERO);
        let text = m.render(&Sample::default());
        let method = "method=\"breakeven.v1.CatalogService/GetGpu\"";
        for line in [
            format!("breakeven_requests_total{{{method},code=\"OK\"}} 2"),
            format!("breakeven_requests_total{{{method},code=\"NOT_FOUND\"}} 1"),
            "breakeven_requests_total{method=\"unknown\",code=\"UNIMPLEMENTED\"} 1".to_string(),
            format!("breakeven_request_duration_seconds_bucket{{{method},le=\"0.0005\"}} 1"),
            format!("breakeven_request_duration_seconds_bucket{{{method},le=\"0.005\"}} 2"),
            format!("breakeven_request_duration_seconds_bucket{{{method},le=\"120\"}} 2"),
            format!("breakeven_request_duration_seconds_bucket{{{method},le=\"+Inf\"}} 3"),
            format!("breakeven_request_duration_seconds_count{{{method}}} 3"),
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "no line {line:?} in\n{text}"
            );
        }
        assert!(!text.contains("breakeven_job_items_pending"));
    }

    #[test]
    fn sampled_figures_are_shown() {
        let text = metrics().render(&Sample {
            simulations_in_flight: 2,
            simulation_paths: 40_960,
            job_items_pending: Some(7),
        });
        for line in [
            "# TYPE breakeven_simulations_in_flight gauge",
            "breakeven_simulations_in_flight 2",
            "# TYPE breakeven_simulation_paths_total counter",
            "breakeven_simulation_paths_total 40960",
            "breakeven_job_items_pending 7",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "no line {line:?} in\n{text}"
            );
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    }
}
