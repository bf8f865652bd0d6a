//! The server under sustained mixed load: `cargo bench --bench load`.
//!
//! Starts the server in this process on 127.0.0.1:0 and has 32 clients,
//! each on its own connection, call it back to back for 30 seconds
//! (`LOAD_SECONDS` to change): ListGpus, GetApiPrice, EstimateThroughput,
//! Project and small RunSimulation calls in fixed proportions. Prints the
//! calls and errors per method (RESOURCE_EXHAUSTED from RunSimulation is
//! the simulation limit working and is counted apart), latency
//! percentiles, and the resident memory of the process at the start, the
//! middle and the end, which should stay flat.
//!
//! The clients run in the same process and runtime as the server, so the
//! figures are for the pair; latencies are from each client's view. The
//! latency histograms have a fixed size, so the clients' own memory does
//! not grow with the run.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use breakeven::catalog::Catalog;
use breakeven::grpc::pb;
use breakeven::grpc::pb::catalog_service_client::CatalogServiceClient;
use breakeven::grpc::pb::estimator_service_client::EstimatorServiceClient;
use breakeven::grpc::pb::simulation_service_client::SimulationServiceClient;
use rand::{Rng as _, SeedableRng as _};
use tokio::net::TcpListener;
use tonic::Code;
use tonic::transport::Channel;

const CLIENTS: usize = 32;

/// The calls, and how many of each in 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Method {
    ListGpus,
    GetApiPrice,
    EstimateThroughput,
    Project,
    RunSimulation,
}

const MIX: [(Method, u32); 5] = [
    (Method::ListGpus, 30),
    (Method::GetApiPrice, 25),
    (Method::EstimateThroughput, 25),
    (Method::Project, 15),
    (Method::RunSimulation, 5),
];

/// Latencies in buckets 1% wide from 1 µs to 100 s: a fixed size however
/// long the run, with percentiles good to about 1%.
struct Histogram {
    counts: Vec<u64>,
}

impl Histogram {
    const PER_DECADE: f64 = 230.0; // 10^(1/230) ≈ 1.01
    const DECADES: f64 = 8.0;

    fn new() -> Self {
        Self {
            counts: vec![0; (Self::PER_DECADE * Self::DECADES) as usize + 1],
        }
    }

    fn record(&mut self, latency: Duration) {
        let micros = latency.as_secs_f64() * 1e6;
        let index = (micros.max(1.0).log10() * Self::PER_DECADE) as usize;
        let last = self.counts.len() - 1;
        self.counts[index.min(last)] += 1;
    }

    fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
    }

    fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The upper edge of the bucket holding quantile `q`.
    fn quantile(&self, q: f64) -> Duration {
        let wanted = (q * self.count() as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= wanted {
                let micros = 10f64.powf((i + 1) as f64 / Self::PER_DECADE);
                return Duration::from_secs_f64(micros / 1e6);
            }
        }
        Duration::ZERO
    }
}

/// What one client saw.
struct Tally {
    latency: BTreeMap<Method, Histogram>,
    /// Calls by method and gRPC status code (`Code` as its number).
    codes: BTreeMap<(Method, i32), u64>,
}

impl Tally {
    fn new() -> Self {
        Self {
            latency: MIX.iter().map(|(m, _)| (*m, Histogram::new())).collect(),
            codes: BTreeMap::new(),
        }
    }

    fn merge(&mut self, other: Tally) {
        for (method, h) in &other.latency {
            self.latency.get_mut(method).expect("every method").merge(h);
        }
        for (key, n) in other.codes {
            *self.codes.entry(key).or_default() += n;
        }
    }
}

/// Resident memory of this process, in MB, from /proc (Linux only).
fn rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn show_rss(rss: Option<f64>) -> String {
    rss.map_or_else(|| "unknown".to_string(), |mb| format!("{mb:.1} MB"))
}

/// A year of GPT-4o mini against Llama 3.1 8B on rented H100s.
fn scenario() -> pb::Scenario {
    pb::Scenario {
        name: "load".into(),
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

/// Makes one call of `method`; its status code.
async fn call(channel: &Channel, method: Method, n: u64) -> Code {
    let result = match method {
        Method::ListGpus => CatalogServiceClient::new(channel.clone())
            .list_gpus(pb::ListGpusRequest::default())
            .await
            .map(drop),
        Method::GetApiPrice => CatalogServiceClient::new(channel.clone())
            .get_api_price(pb::GetApiPriceRequest {
                id: "gpt-4o-mini".into(),
                as_of: "2025-01-15".into(),
            })
            .await
            .map(drop),
        Method::EstimateThroughput => EstimatorServiceClient::new(channel.clone())
            .estimate_throughput(pb::EstimateThroughputRequest {
                model_id: "llama-3.1-70b".into(),
                gpu_id: "h100-sxm".into(),
                weight_precision: pb::Precision::Fp8.into(),
                workload: Some(pb::Workload {
                    input_tokens: 1_000,
                    output_tokens: 300,
                    concurrency: 0,
                }),
                targets: Some(pb::LatencyTargets {
                    ttft_seconds: 0.0,
                    tpot_seconds: 0.05,
                }),
                ..Default::default()
            })
            .await
            .map(drop),
        Method::Project => SimulationServiceClient::new(channel.clone())
            .project(pb::ProjectRequest {
                scenario: Some(scenario()),
                basis: 0,
            })
            .await
            .map(drop),
        Method::RunSimulation => SimulationServiceClient::new(channel.clone())
            .run_simulation(pb::RunSimulationRequest {
                scenario: Some(scenario()),
                stochastic: Some(pb::StochasticInputs {
                    demand: Some(pb::stochastic_inputs::Demand::DemandGbm(pb::DemandGbm {
                        volatility: 0.3,
                    })),
                    ..Default::default()
                }),
                paths: 2_048,
                seed: n,
                ..Default::default()
            })
            .await
            .map(drop),
    };
    match result {
        Ok(()) => Code::Ok,
        Err(status) => status.code(),
    }
}

/// One client: calls back to back until `until`.
async fn client(channel: Channel, seed: u64, until: Instant) -> Tally {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut tally = Tally::new();
    let mut n = 0;
    while Instant::now() < until {
        let mut pick = rng.random_range(0..100);
        let method = MIX
            .iter()
            .find(|(_, share)| {
                let hit = pick < *share;
                pick = pick.saturating_sub(*share);
                hit
            })
            .map_or(Method::ListGpus, |(m, _)| *m);
        let start = Instant::now();
        let code = call(&channel, method, n).await;
        n += 1;
        tally
            .latency
            .get_mut(&method)
            .expect("every method")
            .record(start.elapsed());
        *tally.codes.entry((method, code as i32)).or_default() += 1;
    }
    tally
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; a name filter means another bench.
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"load".contains(a.as_str()))
    {
        return Ok(());
    }
    let seconds: u64 = match std::env::var("LOAD_SECONDS") {
        Ok(s) => s.parse()?,
        Err(_) => 30,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(Duration::from_secs(seconds)))
}

async fn run(length: Duration) -> anyhow::Result<()> {
    let db = std::env::temp_dir().join(format!("breakeven-bench-load-{}.db", std::process::id()));
    let store = breakeven::store::Store::open_sqlite(&db, Default::default()).await?;
    let catalog = Arc::new(Catalog::embedded()?);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(breakeven::server::run(listener, catalog, store, async {
        let _ = stopped.await;
    }));

    let mut channels = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        channels.push(
            Channel::from_shared(format!("http://{addr}"))?
                .connect()
                .await?,
        );
    }
    let rss_start = rss_mb();
    let start = Instant::now();
    let until = start + length;
    let clients: Vec<_> = channels
        .into_iter()
        .enumerate()
        .map(|(i, channel)| tokio::spawn(client(channel, i as u64, until)))
        .collect();
    tokio::time::sleep(length / 2).await;
    let rss_middle = rss_mb();
    let mut total = Tally::new();
    for c in clients {
        total.merge(c.await?);
    }
    let elapsed = start.elapsed();
    let rss_end = rss_mb();
    let _ = stop.send(());
    server.await??;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }

    println!(
        "{CLIENTS} clients for {:.1} s on {} threads",
        elapsed.as_secs_f64(),
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    println!(
        "{:<20} {:>9} {:>9} {:>8} {:>8} {:>8}  errors",
        "method", "calls", "calls/s", "p50 ms", "p95 ms", "p99 ms"
    );
    let mut all = 0;
    for (method, h) in &total.latency {
        let calls = h.count();
        all += calls;
        let errors: Vec<String> = total
            .codes
            .iter()
            .filter(|((m, code), _)| m == method && *code != Code::Ok as i32)
            .map(|((_, code), n)| {
                let code = Code::from_i32(*code);
                let note = if code == Code::ResourceExhausted {
                    " (simulation limit, intended)"
                } else {
                    ""
                };
                format!("{code:?} {n}{note}")
            })
            .collect();
        println!(
            "{:<20} {:>9} {:>9.0} {:>8} {:>8} {:>8}  {}",
            format!("{method:?}"),
            calls,
            calls as f64 / elapsed.as_secs_f64(),
            ms(h.quantile(0.50)),
            ms(h.quantile(0.95)),
            ms(h.quantile(0.99)),
            if errors.is_empty() {
                "none".to_string()
            } else {
                errors.join(", ")
            }
        );
    }
    let unexpected: u64 = total
        .codes
        .iter()
        .filter(|((m, code), _)| {
            let code = Code::from_i32(*code);
            code != Code::Ok && !(*m == Method::RunSimulation && code == Code::ResourceExhausted)
        })
        .map(|(_, n)| n)
        .sum();
    println!(
        "all calls            {all:>9} {:>9.0}; unexpected errors: {unexpected}",
        all as f64 / elapsed.as_secs_f64()
    );
    println!(
        "resident memory: start {}, middle {}, end {}",
        show_rss(rss_start),
        show_rss(rss_middle),
        show_rss(rss_end)
    );
    Ok(())
}
