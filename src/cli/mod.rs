//! The `breakeven` command line: the flags of every subcommand and where
//! each one goes.
//!
//! `serve`, `check-data`, `accuracy` and `speed` work on this machine
//! ([`local`]). The others are clients of a running server and live one file
//! per command group: [`catalog`] (with [`custom`] for `catalog custom` and
//! [`litellm`] for `catalog import-litellm`),
//! [`estimate`], [`project`] (`project` and `breakeven`), [`simulate`],
//! [`scenario`], [`run`] (`scenario run` and the kept runs) and [`job`]; a
//! new group adds a file and a variant of [`Command`]. Each builds a
//! request with the generated client, prints the answer through [`output`]
//! (tables, `--json`, `--csv`, with the figures from [`format`]) and returns
//! a [`Failure`] that [`exit`] turns into the documented exit code.
//!
//! Scenario files are read with the library's own loader before any call
//! ([`file`]), so a mistake is reported with its line and field without a
//! server.

pub mod calibrate;
pub mod catalog;
pub mod custom;
pub mod estimate;
pub mod exit;
pub mod file;
pub mod format;
pub mod job;
pub mod litellm;
pub mod local;
pub mod output;
pub mod project;
pub mod report;
pub mod run;
pub mod scenario;
pub mod simulate;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tonic::Status;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

pub use exit::Failure;
use output::{Format, Output};

/// Where `serve` listens by default, and so where clients look.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Whether and when self-hosting an open-weight LLM beats paying an API per token"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every client subcommand takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The breakeven server to call.
    #[arg(
        long,
        global = true,
        env = "BREAKEVEN_SERVER",
        default_value = DEFAULT_SERVER,
        value_name = "URL"
    )]
    pub server: String,
    /// Print the response as JSON (the protobuf JSON mapping, with the
    /// field names of the .proto files).
    #[arg(long, global = true, conflicts_with = "csv")]
    pub json: bool,
    /// Print the result table as CSV, with raw numbers.
    #[arg(long, global = true)]
    pub csv: bool,
    /// Leave out the assumptions and warnings printed under a summary.
    #[arg(long, global = true)]
    pub quiet: bool,
    /// Bearer token for a server started with `--tokens` (better passed
    /// through the environment, which other users cannot list).
    #[arg(long, global = true, env = "BREAKEVEN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The CA certificate (PEM) that signed the certificate of an
    /// https:// server.
    #[arg(long, global = true, value_name = "PEM")]
    pub tls_ca: Option<std::path::PathBuf>,
}

/// A connection to the server that sends the bearer token, if any, with
/// every call.
pub type Connection = InterceptedService<Channel, Bearer>;

/// Adds `authorization: Bearer <token>` to each call.
#[derive(Debug, Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gRPC service.
    Serve(local::ServeArgs),
    /// Compare the estimator with the measured throughput shipped in
    /// benchmarks/ (or another table in that format) and print the errors.
    Accuracy(local::AccuracyArgs),
    /// Time the estimator, the projection and a Monte Carlo run on this
    /// machine and print the figures.
    Speed(local::SpeedArgs),
    /// Load and validate the catalogue, report what it holds, and exit.
    CheckData(local::CheckDataArgs),
    /// Copy everything a SQLite file holds (scenarios and their revisions,
    /// runs, jobs, custom entries, imported prices, calibrations) into an
    /// empty PostgreSQL database, and check counts and digests.
    MigrateStore(local::MigrateStoreArgs),
    /// List the server's GPUs, models and API prices; add, update and
    /// remove custom entries; import LiteLLM's prices.
    #[command(subcommand)]
    Catalog(catalog::Command),
    /// Throughput, latency and cost of a model on a GPU for a workload.
    Estimate(estimate::Args),
    /// Fit the estimator to measured throughput (CSV or vLLM benchmark
    /// JSON) and keep the result on the server under a name.
    Calibrate(calibrate::Args),
    /// Project a scenario file month by month.
    Project(project::ProjectArgs),
    /// Break-even volume and month of a scenario file, with sensitivities.
    #[command(name = "breakeven")]
    BreakEven(project::BreakEvenArgs),
    /// Run a scenario file over many random paths, with progress.
    Simulate(simulate::Args),
    /// Write a scenario template; save, list, show, update, delete and run
    /// scenarios on the server.
    #[command(subcommand)]
    Scenario(scenario::Command),
    /// Kept runs of saved scenarios: show, list, compare, replay, export.
    #[command(subcommand)]
    Run(run::Command),
    /// Batches of runs in the background: submit, watch, list, show,
    /// cancel.
    #[command(subcommand)]
    Job(job::Command),
    /// Write the HTML report of a kept run (and, with --charts, each chart
    /// as SVG or PNG).
    Report(report::Args),
}

impl Cli {
    /// The log level when `RUST_LOG` is unset: the server logs each
    /// request; clients only say when something is wrong.
    pub fn default_log_level(&self) -> &'static str {
        match self.command {
            Command::Serve(_) => "info",
            _ => "warn",
        }
    }
}

/// Runs the command, prints any failure and gives the exit code.
pub async fn run(cli: Cli) -> ExitCode {
    exit::finish(dispatch(cli).await)
}

async fn dispatch(cli: Cli) -> Result<(), Failure> {
    let global = &cli.global;
    let out = Output {
        format: match (global.json, global.csv) {
            (true, _) => Format::Json,
            (_, true) => Format::Csv,
            _ => Format::Table,
        },
        quiet: global.quiet,
    };
    match cli.command {
        Command::Serve(args) => local::serve(args).await,
        Command::Accuracy(args) => local::accuracy(args),
        Command::Speed(args) => local::speed(args),
        Command::CheckData(args) => local::check_data(args),
        Command::MigrateStore(args) => local::migrate_store(args).await,
        Command::Catalog(command) => catalog::run(global, out, command).await,
        Command::Estimate(args) => estimate::run(global, out, args).await,
        Command::Calibrate(args) => calibrate::run(global, out, args).await,
        Command::Project(args) => project::project(global, out, args).await,
        Command::BreakEven(args) => project::break_even(global, out, args).await,
        Command::Simulate(args) => simulate::run(global, out, args).await,
        Command::Scenario(command) => scenario::run(global, out, command).await,
        Command::Run(command) => run::run(global, out, command).await,
        Command::Job(command) => job::run(global, out, command).await,
        Command::Report(args) => report::run(global, args).await,
    }
}

/// A channel to the server, connected now so that a wrong address is
/// reported as such rather than as the first call's failure.
pub async fn connect(global: &Global) -> Result<Connection, Failure> {
    let bearer = match &global.token {
        None => Bearer(None),
        Some(token) => {
            Bearer(Some(format!("Bearer {}", token.trim()).parse().map_err(
                |_| Failure::Usage("--token must be printable ASCII".into()),
            )?))
        }
    };
    let channel = channel(global).await?;
    Ok(InterceptedService::new(channel, bearer))
}

async fn channel(global: &Global) -> Result<Channel, Failure> {
    let url = if global.server.contains("://") {
        global.server.clone()
    } else {
        format!("http://{}", global.server)
    };
    let mut endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| Failure::Usage(format!("--server {url:?} is not a URL: {e}")))?
        .connect_timeout(Duration::from_secs(10));
    match (&global.tls_ca, url.starts_with("https://")) {
        (Some(ca), true) => {
            let pem = crate::tls::read_certificates("--tls-ca", ca)
                .map_err(|e| Failure::Usage(e.to_string()))?;
            endpoint = endpoint
                .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)))
                .map_err(|e| Failure::Usage(format!("--tls-ca: {e}")))?;
        }
        (Some(_), false) => {
            return Err(Failure::Usage(format!(
                "--tls-ca is for an https:// server; --server is {url}"
            )));
        }
        (None, true) => {
            return Err(Failure::Usage(format!(
                "--server {url} uses TLS: give --tls-ca with the CA certificate that signed its certificate"
            )));
        }
        (None, false) => {}
    }
    endpoint
        .connect()
        .await
        .map_err(|e| Failure::no_server(&url, &e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn the_flags_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn json_and_csv_exclude_each_other() {
        let err =
            Cli::try_parse_from(["breakeven", "--json", "--csv", "catalog", "gpus"]).unwrap_err();
        assert_eq!(err.exit_code(), i32::from(exit::USAGE));
    }
}
