//! The commands that need no server: `serve` itself, `check-data`,
//! `accuracy` and `speed`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use super::exit::Failure;
use crate::catalog::Catalog;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:50051")]
    addr: SocketAddr,
    /// Directory holding hardware/, models/ and prices/; the catalogue
    /// built into the binary when omitted.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// SQLite file holding saved scenarios; created if missing.
    #[arg(long, default_value = "breakeven.db")]
    db: PathBuf,
    /// Keep everything in this PostgreSQL database instead of --db, shared
    /// with other replicas (postgres://USER[:PASSWORD]@HOST[:PORT]/DB).
    #[arg(
        long,
        env = "BREAKEVEN_DATABASE_URL",
        value_name = "URL",
        conflicts_with = "db",
        hide_env_values = true
    )]
    database_url: Option<String>,
    /// Most connections to --database-url this replica opens.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=1000))]
    db_pool_size: u16,
    /// Seconds to wait for a connection to --database-url, new or pooled,
    /// before a call answers UNAVAILABLE.
    #[arg(long, default_value = "5", value_name = "SECONDS", value_parser = seconds)]
    db_connect_timeout: Duration,
    /// Seconds one statement may run on --database-url before it is
    /// cancelled.
    #[arg(long, default_value = "30", value_name = "SECONDS", value_parser = seconds)]
    db_statement_timeout: Duration,
    /// Seconds a claimed job item stays leased to this replica unless its
    /// heartbeat (every third of it) extends it; after a crash, another
    /// replica takes the item over once it runs out.
    #[arg(long, default_value = "30", value_name = "SECONDS", value_parser = seconds)]
    job_lease_ttl: Duration,
    /// With --database-url: spread simulations of at least this many
    /// paths × months across the replicas, in slices of whole chunks; the
    /// result is the same to the bit.
    #[arg(long, default_value_t = crate::server::DEFAULT_SPLIT_THRESHOLD, value_name = "PATH_MONTHS")]
    split_threshold: u64,
    /// Chunks of 16,384 paths in one slice of a split simulation.
    #[arg(long, default_value_t = crate::montecarlo::split::SLICE_CHUNKS,
          value_parser = clap::value_parser!(u64).range(1..=1024), value_name = "CHUNKS")]
    split_slice_chunks: u64,
    /// Save the example scenarios of examples/ (tagged "example") unless
    /// the database holds them already.
    #[arg(long)]
    seed_examples: bool,
    /// A file of `TOKEN TEAM` lines: every call but health checks,
    /// reflection and catalogue reads then needs `authorization: Bearer
    /// TOKEN`, and each team sees only its own scenarios, runs and jobs.
    /// Read again whenever it changes.
    #[arg(long)]
    tokens: Option<PathBuf>,
    /// Batch job items run at once.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    job_workers: u16,
    /// Serve over TLS with this certificate chain (PEM, leaf first).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require client certificates signed by these CA certificates (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// Serve Prometheus metrics at http://HOST:PORT/metrics (plain HTTP).
    #[arg(long, value_name = "HOST:PORT")]
    metrics_addr: Option<SocketAddr>,
    /// Let browser pages from this origin (`https://host[:port]`) call the
    /// API over gRPC-Web; repeat for more. Without it, no cross-origin
    /// browser call is allowed.
    #[arg(long = "cors-origin", value_name = "ORIGIN", value_parser = crate::web::parse_origin)]
    cors_origins: Vec<String>,
    /// Serve the browser view at http://HOST:PORT/ (https:// with
    /// --tls-cert): saved scenarios, runs, reports, comparisons and
    /// downloads, with the same tokens and teams as the API.
    #[arg(long, value_name = "HOST:PORT")]
    http_addr: Option<SocketAddr>,
}

#[derive(Debug, clap::Args)]
pub struct AccuracyArgs {
    /// A CSV table in the format of benchmarks/measured_throughput.csv
    /// (repeat for more); both public tables in benchmarks/ when left out.
    #[arg(long)]
    measurements: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct SpeedArgs {
    /// Paths of the Monte Carlo run (60 months each).
    #[arg(long, default_value_t = 1_000_000)]
    paths: u64,
    /// Also write the speed scenario, resolved, to this JSON file: the
    /// input of the NumPy baseline in benches/numpy.
    #[arg(long)]
    plan_json: Option<PathBuf>,
    /// Also compute every path's IRR and payback month in the Monte Carlo
    /// run (off by default, as in a simulation that does not ask for them).
    #[arg(long)]
    investment: bool,
}

#[derive(Debug, clap::Args)]
pub struct MigrateStoreArgs {
    /// The SQLite file to copy from (as `serve --db` uses it).
    #[arg(long, value_name = "FILE")]
    from: PathBuf,
    /// The PostgreSQL database to copy into (as `serve --database-url`
    /// takes it): empty, or holding this very data already.
    #[arg(
        long,
        value_name = "URL",
        env = "BREAKEVEN_DATABASE_URL",
        hide_env_values = true
    )]
    to: String,
}

#[derive(Debug, clap::Args)]
pub struct CheckDataArgs {
    /// Directory holding hardware/, models/ and prices/; the built-in
    /// catalogue when omitted.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// A positive number of seconds, fractions allowed.
fn seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!(
            "{text:?} is not a number of seconds above 0 and at most 86400"
        )),
    }
}

/// The error chain of a local failure on one line.
fn local(err: anyhow::Error) -> Failure {
    Failure::Local(format!("{err:#}"))
}

pub async fn serve(args: ServeArgs) -> Result<(), Failure> {
    let ServeArgs {
        addr,
        data_dir,
        db,
        database_url,
        db_pool_size,
        db_connect_timeout,
        db_statement_timeout,
        job_lease_ttl,
        split_threshold,
        split_slice_chunks,
        seed_examples,
        tokens,
        job_workers,
        tls_cert,
        tls_key,
        tls_client_ca,
        metrics_addr,
        cors_origins,
        http_addr,
    } = args;
    let run = async {
        let catalog = Arc::new(load_catalog(data_dir.as_deref())?);
        let store = match &database_url {
            Some(url) => {
                let options = crate::store::PostgresOptions {
                    pool_size: usize::from(db_pool_size),
                    connect_timeout: db_connect_timeout,
                    statement_timeout: db_statement_timeout,
                    ..Default::default()
                };
                crate::store::Store::open_postgres(url, options)
                    .await
                    .context("cannot open the --database-url database")?
            }
            None => crate::store::Store::open_sqlite(&db, Default::default())
                .await
                .with_context(|| format!("cannot open database {}", db.display()))?,
        };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let metrics = match metrics_addr {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen for metrics on {addr}"))?,
            ),
            None => None,
        };
        let http = match http_addr {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen for the browser view on {addr}"))?,
            ),
            None => None,
        };
        if seed_examples {
            let added = crate::grpc::seed_examples(&store, &catalog).await?;
            tracing::info!(added, "example scenarios saved");
        }
        let tokens = match tokens {
            Some(path) => Some(Arc::new(
                crate::auth::TokenFile::open(&path).map_err(anyhow::Error::msg)?,
            )),
            None => None,
        };
        // clap makes --tls-cert and --tls-key come together.
        let tls = tls_cert
            .zip(tls_key)
            .map(|(cert, key)| crate::server::TlsFiles {
                cert,
                key,
                client_ca: tls_client_ca,
            });
        let options = crate::server::Options {
            job_workers: usize::from(job_workers),
            job_lease_ttl,
            split_threshold,
            split_slice_chunks,
            tokens,
            tls,
            metrics,
            cors_origins,
            http,
        };
        crate::server::run_with(listener, catalog, store, options, shutdown_signal()).await
    };
    run.await.map_err(local)
}

pub fn accuracy(args: AccuracyArgs) -> Result<(), Failure> {
    let run = || -> anyhow::Result<String> {
        let catalog = Catalog::embedded()?;
        use crate::estimator::{accuracy, calibrate};
        let tables = if args.measurements.is_empty() {
            vec![
                calibrate::PUBLIC_MEASUREMENTS.to_string(),
                calibrate::PUBLIC_MEASUREMENTS_2026.to_string(),
            ]
        } else {
            args.measurements
                .iter()
                .map(|path| {
                    std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read {}", path.display()))
                })
                .collect::<anyhow::Result<_>>()?
        };
        let mut points = Vec::new();
        for text in &tables {
            points.extend(calibrate::parse_csv(text)?);
        }
        Ok(format!(
            "{}\n{}",
            calibrate::accuracy_table(&catalog, &points),
            accuracy::family_tables(&catalog, &points)
        ))
    };
    super::output::print(&run().map_err(local)?)
}

pub fn speed(args: SpeedArgs) -> Result<(), Failure> {
    let run = || -> anyhow::Result<String> {
        let catalog = Catalog::embedded()?;
        if let Some(path) = &args.plan_json {
            std::fs::write(path, crate::speed::bench_plan_json(&catalog)?)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(crate::speed::report(&catalog, args.paths, args.investment)?)
    };
    super::output::print(&run().map_err(local)?)
}

pub async fn migrate_store(args: MigrateStoreArgs) -> Result<(), Failure> {
    let MigrateStoreArgs { from, to } = args;
    let run = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        use crate::store::{Postgres, Sqlite, copy};
        // Never create the source: a mistyped path is an error.
        if !from.is_file() {
            anyhow::bail!("{} is not a file", from.display());
        }
        let source = Sqlite::open(&from, Default::default())
            .with_context(|| format!("cannot open {}", from.display()))?;
        let target =
            Postgres::open(&to, Default::default()).context("cannot open the --to database")?;
        let report = copy::copy_store(&source, &target)?;
        let mut text = if report.copied {
            format!(
                "copied {} into the --to database; both sides match:\n",
                from.display()
            )
        } else {
            "the --to database holds this data already; nothing to do:\n".to_string()
        };
        text.push_str(&format!(
            "{:<20} {:>8}  {:<16}\n",
            "table", "rows", "digest"
        ));
        for t in &report.tables {
            text.push_str(&format!(
                "{:<20} {:>8}  {:016x}\n",
                t.table.name(),
                t.rows,
                t.digest
            ));
        }
        Ok(text)
    })
    .await
    .map_err(|e| local(anyhow::anyhow!("the copy failed: {e}")))?;
    super::output::print(&run.map_err(local)?)
}

pub fn check_data(args: CheckDataArgs) -> Result<(), Failure> {
    let catalog = load_catalog(args.data_dir.as_deref()).map_err(local)?;
    super::output::print(&format!(
        "catalogue ok: {} GPUs, {} models, {} API price entries\n",
        catalog.gpus().count(),
        catalog.models().count(),
        catalog.prices().entries().len()
    ))
}

fn load_catalog(data_dir: Option<&Path>) -> anyhow::Result<Catalog> {
    let catalog = match data_dir {
        Some(dir) => Catalog::from_dir(dir),
        None => Catalog::embedded(),
    }?;
    tracing::info!(
        gpus = catalog.gpus().count(),
        models = catalog.models().count(),
        prices = catalog.prices().entries().len(),
        "catalogue loaded"
    );
    Ok(catalog)
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
