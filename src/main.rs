//! The `breakeven` command: parses flags, sets up logging, calls the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use breakeven::catalog::Catalog;

#[derive(Parser)]
#[command(
    version,
    about = "Whether and when self-hosting an open-weight LLM beats paying an API per token"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gRPC service.
    Serve {
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
        /// Batch job items run at once.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
        job_workers: u16,
    },
    /// Compare the estimator with the measured throughput shipped in
    /// benchmarks/ (or another table in that format) and print the errors.
    Accuracy {
        /// A CSV table in the format of benchmarks/measured_throughput.csv.
        #[arg(long)]
        measurements: Option<PathBuf>,
    },
    /// Time the estimator, the projection and a Monte Carlo run on this
    /// machine and print the figures.
    Speed {
        /// Paths of the Monte Carlo run (60 months each).
        #[arg(long, default_value_t = 1_000_000)]
        paths: u64,
    },
    /// Load and validate the catalogue, report what it holds, and exit.
    CheckData {
        /// Directory holding hardware/, models/ and prices/; the built-in
        /// catalogue when omitted.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Colour only on a terminal: logs sent to a file or a collector stay
    // plain text.
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    match Cli::parse().command {
        Command::Serve {
            addr,
            data_dir,
            db,
            job_workers,
        } => {
            let catalog = Arc::new(load_catalog(data_dir.as_deref())?);
            let store = breakeven::store::Store::open_sqlite(&db, Default::default())
                .await
                .with_context(|| format!("cannot open database {}", db.display()))?;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?;
            let options = breakeven::server::Options {
                job_workers: usize::from(job_workers),
            };
            breakeven::server::run_with(listener, catalog, store, options, shutdown_signal()).await
        }
        Command::Accuracy { measurements } => {
            let catalog = Catalog::embedded()?;
            let text = match measurements {
                Some(path) => std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?,
                None => breakeven::estimator::calibrate::PUBLIC_MEASUREMENTS.to_string(),
            };
            let points = breakeven::estimator::calibrate::parse_csv(&text)?;
            print!(
                "{}",
                breakeven::estimator::calibrate::accuracy_table(&catalog, &points)
            );
            Ok(())
        }
        Command::Speed { paths } => {
            print!(
                "{}",
                breakeven::speed::report(&Catalog::embedded()?, paths)?
            );
            Ok(())
        }
        Command::CheckData { data_dir } => {
            let catalog = load_catalog(data_dir.as_deref())?;
            println!(
                "catalogue ok: {} GPUs, {} models, {} API price entries",
                catalog.gpus().count(),
                catalog.models().count(),
                catalog.prices().entries().len()
            );
            Ok(())
        }
    }
}

fn load_catalog(data_dir: Option<&std::path::Path>) -> anyhow::Result<Catalog> {
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
