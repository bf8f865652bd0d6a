//! `serve --metrics-addr`: a scrape of /metrics after a few calls counts
//! them by method and status, with a consistent latency histogram and the
//! simulation and job figures.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use breakeven::catalog::Catalog;
use breakeven::grpc::pb;
use breakeven::grpc::pb::catalog_service_client::CatalogServiceClient;
use breakeven::grpc::pb::simulation_service_client::SimulationServiceClient;
use breakeven::server::Options;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tonic::Code;
use tonic::transport::Channel;

/// A server with a metrics listener; stopped (and its database removed)
/// when dropped.
struct Server {
    grpc: SocketAddr,
    metrics: SocketAddr,
    _stop: oneshot::Sender<()>,
    db: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.db.display()));
        }
    }
}

async fn start() -> Server {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let metrics = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let (grpc, metrics_addr) = (
        listener.local_addr().expect("addr"),
        metrics.local_addr().expect("addr"),
    );
    let db = common::temp_db();
    let store = breakeven::store::Store::open_sqlite(&db, Default::default())
        .await
        .expect("open test database");
    let catalog = Arc::new(Catalog::embedded().expect("built-in catalogue loads"));
    let options = Options {
        metrics: Some(metrics),
        ..Options::default()
    };
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(breakeven::server::run_with(
        listener,
        catalog,
        store,
        options,
        async move {
            let _ = stopped.await;
        },
    ));
    Server {
        grpc,
        metrics: metrics_addr,
        _stop: stop,
        db,
    }
}

/// GETs `path` over plain HTTP/1.1; the status line and the body.
async fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .expect("send request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("read response");
    let (head, body) = response.split_once("\r\n\r\n").expect("headers end");
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "a rendered page has a known length"
    );
    (
        head.lines().next().unwrap_or_default().to_string(),
        body.to_string(),
    )
}

/// One sample line: name, labels, value.
type Samples = Vec<(String, BTreeMap<String, String>, f64)>;

/// Parses the text format (enough of it for what the server writes).
fn parse(text: &str) -> Samples {
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a value");
        let value: f64 = value.parse().expect("a number");
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let rest = rest.strip_suffix('}').expect("closing brace");
                let labels = rest
                    .split("\",")
                    .map(|pair| {
                        let (k, v) = pair.split_once("=\"").expect("label=\"value\"");
                        (k.to_string(), v.trim_end_matches('"').to_string())
                    })
                    .collect();
                (name.to_string(), labels)
            }
            None => (series.to_string(), BTreeMap::new()),
        };
        samples.push((name, labels, value));
    }
    samples
}

/// The value of the one sample of `name` whose labels include `labels`.
fn value(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<f64> = samples
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| *v)
        .collect();
    assert!(
        matching.len() <= 1,
        "{name} {labels:?} matches {matching:?}"
    );
    matching.first().copied()
}

const LIST_GPUS: &str = "breakeven.v1.CatalogService/ListGpus";
const GET_GPU: &str = "breakeven.v1.CatalogService/GetGpu";
const RUN_SIMULATION: &str = "breakeven.v1.SimulationService/RunSimulation";

/// A year of GPT-4o mini against Llama 3.1 8B on rented H100s.
fn scenario() -> pb::Scenario {
    pb::Scenario {
        horizon_months: 12,
        start_month: "2025-06".into(),
        workload: Some(pb::WorkloadSpec {
            requests_per_day: 100_000.0,
            input_tokens: 1_000.0,
            output_tokens: 200.0,
            ..Default::default()
        }),
        api: Some(pb::ApiOption {
            price_id: "gpt-4o-mini".into(),
            ..Default::default()
        }),
        self_host: Some(pb::SelfHostOption {
            model_id: "llama-3.1-8b".into(),
            gpu_id: "h100-sxm".into(),
            precision: pb::Precision::Bf16.into(),
            deployment: Some(pb::self_host_option::Deployment::Rented(
                pb::RentedDeployment {
                    rate: "on_demand".into(),
                    ..Default::default()
                },
            )),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_scrape_counts_calls_by_method_and_status() {
    let server = start().await;
    let channel = Channel::from_shared(format!("http://{}", server.grpc))
        .expect("valid uri")
        .connect()
        .await
        .expect("connect");
    let mut catalog = CatalogServiceClient::new(channel.clone());
    for _ in 0..3 {
        catalog
            .list_gpus(pb::ListGpusRequest::default())
            .await
            .expect("ListGpus");
    }
    let missing = catalog
        .get_gpu(pb::GetGpuRequest {
            id: "no-such-gpu".into(),
        })
        .await
        .expect_err("unknown GPU");
    assert_eq!(missing.code(), Code::NotFound);
    let paths = 4_096;
    SimulationServiceClient::new(channel)
        .run_simulation(pb::RunSimulationRequest {
            scenario: Some(scenario()),
            paths,
            seed: 1,
            // Every path the projection: the test needs only the load.
            allow_deterministic: true,
            ..Default::default()
        })
        .await
        .expect("RunSimulation");

    let (status, text) = get(server.metrics, "/metrics").await;
    assert!(status.contains("200"), "{status}");
    for (name, kind) in [
        ("breakeven_requests_total", "counter"),
        ("breakeven_request_duration_seconds", "histogram"),
        ("breakeven_simulations_in_flight", "gauge"),
        ("breakeven_simulation_paths_total", "counter"),
        ("breakeven_job_items_pending", "gauge"),
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} {kind}\n")),
            "{name}:\n{text}"
        );
        assert!(text.contains(&format!("# HELP {name} ")), "{name}:\n{text}");
    }
    let samples = parse(&text);
    let requests = |method: &str, code: &str| {
        value(
            &samples,
            "breakeven_requests_total",
            &[("method", method), ("code", code)],
        )
    };
    assert_eq!(requests(LIST_GPUS, "OK"), Some(3.0));
    assert_eq!(requests(GET_GPU, "NOT_FOUND"), Some(1.0));
    assert_eq!(requests(GET_GPU, "OK"), None);
    assert_eq!(requests(RUN_SIMULATION, "OK"), Some(1.0));

    for (method, calls) in [(LIST_GPUS, 3.0), (GET_GPU, 1.0), (RUN_SIMULATION, 1.0)] {
        let mut buckets: Vec<(f64, f64)> = samples
            .iter()
            .filter(|(n, l, _)| {
                n == "breakeven_request_duration_seconds_bucket"
                    && l.get("method").map(String::as_str) == Some(method)
            })
            .map(|(_, l, v)| {
                let le = l["le"].as_str();
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().expect("le is a number")
                };
                (le, *v)
            })
            .collect();
        assert!(buckets.len() > 5, "{method}: {buckets:?}");
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(
            buckets.windows(2).all(|w| w[0].1 <= w[1].1),
            "{method}: cumulative counts never fall: {buckets:?}"
        );
        let count = value(
            &samples,
            "breakeven_request_duration_seconds_count",
            &[("method", method)],
        );
        assert_eq!(count, Some(calls), "{method}");
        assert_eq!(
            buckets.last().map(|b| b.1),
            count,
            "{method}: +Inf is the count"
        );
        let sum = value(
            &samples,
            "breakeven_request_duration_seconds_sum",
            &[("method", method)],
        )
        .expect("a sum");
        assert!(sum > 0.0, "{method}: {sum}");
    }

    assert_eq!(
        value(&samples, "breakeven_simulations_in_flight", &[]),
        Some(0.0)
    );
    let simulated = value(&samples, "breakeven_simulation_paths_total", &[]).expect("paths");
    assert!(simulated >= paths as f64, "{simulated}");
    assert_eq!(
        value(&samples, "breakeven_job_items_pending", &[]),
        Some(0.0)
    );

    // Only /metrics is served.
    let (status, _) = get(server.metrics, "/other").await;
    assert!(status.contains("404"), "{status}");
}
