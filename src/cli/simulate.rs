//! `breakeven simulate FILE`: a Monte Carlo run streamed from the server,
//! with a progress bar fed by its progress events.
//!
//! Ctrl-C drops the stream; the server notices the hang-up and stops the
//! run, so its slot is free for the next one. The command then says
//! "cancelled" and exits with the CANCELLED code.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressStyle};
use tonic::Status;

use super::exit::Failure;
use super::file::ScenarioFile;
use super::format::{count, month_of, month_of_date, number, percent, usd};
use super::output::{Cell, Output, Record, Report, Table, num, text};
use super::project::Basis;
use super::{Global, connect};
use crate::grpc::pb;
use crate::grpc::pb::simulation_service_client::SimulationServiceClient;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A scenario file (see `breakeven scenario init`).
    file: PathBuf,
    /// Basis of break-even.
    #[arg(long, value_enum, default_value_t = Basis::Pnl)]
    basis: Basis,
    #[command(flatten)]
    settings: Settings,
}

/// How many paths, the seed and what is random: the flags of `simulate`,
/// shared with the commands that run saved scenarios as simulations.
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Random paths to run, 1–10,000,000.
    #[arg(long, default_value_t = 10_000)]
    pub paths: u64,
    /// Seed: the same scenario, flags and seed give the same numbers.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Pair each path with its mirror image (less noise for the same
    /// paths).
    #[arg(long)]
    antithetic: bool,
    /// Paths per tornado case; 0 for no tornado.
    #[arg(long, default_value_t = 0)]
    tornado_paths: u64,
    /// Annual volatility of demand around the scenario's growth
    /// (geometric Brownian motion), e.g. 0.3.
    #[arg(long, value_name = "SIGMA")]
    demand_volatility: Option<f64>,
    /// Annual volatility of the API price around the scenario's price path
    /// (a lognormal walk with no further trend).
    #[arg(long, value_name = "SIGMA")]
    api_price_volatility: Option<f64>,
    /// Annual volatility of GPU rental and purchase prices around the
    /// scenario's path (swings that revert within about a year).
    #[arg(long, value_name = "SIGMA")]
    gpu_price_volatility: Option<f64>,
    /// Annual volatility of throughput per GPU (a lognormal walk).
    #[arg(long, value_name = "SIGMA")]
    throughput_volatility: Option<f64>,
    /// Annual share of owned GPUs that fail and are replaced at current
    /// prices.
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    failure_rate: f64,
    /// Run even though nothing is random (no volatility flag, no failure
    /// rate): every path is then the scenario's projection.
    #[arg(long)]
    allow_deterministic: bool,
    /// Each path's IRR and payback month: the share of paths whose IRR
    /// beats this annual rate (e.g. 0.15).
    #[arg(long, value_name = "RATE")]
    hurdle_rate: Option<f64>,
    /// Each path's IRR and payback month: the share of paths that pay back
    /// within this many months.
    #[arg(long, value_name = "MONTHS")]
    payback_within: Option<u32>,
}

impl Settings {
    /// What is random. The API takes richer processes (price cuts, adoption
    /// curves, uncertain inputs, correlations) than these flags describe.
    pub fn stochastic(&self) -> Option<pb::StochasticInputs> {
        let walk = |sigma: f64| pb::WalkSpec {
            annual_drift: 0.0,
            volatility: sigma,
        };
        let inputs = pb::StochasticInputs {
            demand: self.demand_volatility.map(|volatility| {
                pb::stochastic_inputs::Demand::DemandGbm(pb::DemandGbm { volatility })
            }),
            api_price: self.api_price_volatility.map(|volatility| {
                pb::stochastic_inputs::ApiPrice::ConstantCapability(pb::ConstantCapabilityPrice {
                    annual_factor: 1.0,
                    volatility,
                })
            }),
            gpu_price: self
                .gpu_price_volatility
                .map(|volatility| pb::GpuPriceSpec {
                    annual_decline: 0.0,
                    volatility,
                    reversion_per_year: 1.0,
                }),
            power_price: None,
            throughput: self.throughput_volatility.map(walk),
            annual_failure_rate: self.failure_rate,
            uncertain: Vec::new(),
            correlation: Vec::new(),
        };
        (inputs != pb::StochasticInputs::default()).then_some(inputs)
    }

    /// The request these flags describe, for `scenario` (none when the
    /// server supplies a saved one) on `basis`.
    pub fn request(
        &self,
        scenario: Option<pb::Scenario>,
        basis: Basis,
    ) -> pb::RunSimulationRequest {
        pb::RunSimulationRequest {
            scenario,
            stochastic: self.stochastic(),
            paths: self.paths,
            seed: self.seed,
            antithetic: self.antithetic,
            basis: pb::CostBasis::from(basis).into(),
            tornado_paths: self.tornado_paths,
            allow_deterministic: self.allow_deterministic,
            sobol_rows: 0,
            hurdle_rate: self.hurdle_rate,
            payback_within_months: self.payback_within,
        }
    }

    /// Refuses a simulation in which nothing is random, in plain words,
    /// unless `--allow-deterministic` asks for one; then says on standard
    /// error that every path is the projection.
    pub fn check_random(&self) -> Result<(), Failure> {
        if self.stochastic().is_some() {
            return Ok(());
        }
        if !self.allow_deterministic {
            return Err(Failure::Usage(
                "nothing in this simulation is random, so every path would be the \
                 scenario's projection: give at least one of --demand-volatility, \
                 --api-price-volatility, --gpu-price-volatility, --throughput-volatility \
                 or --failure-rate (or pass --allow-deterministic to run it anyway)"
                    .into(),
            ));
        }
        eprintln!(
            "note: nothing is random (no --*-volatility or --failure-rate): \
             every path is the scenario's projection"
        );
        Ok(())
    }
}

pub async fn run(global: &Global, out: Output, args: Args) -> Result<(), Failure> {
    let file = ScenarioFile::read(&args.file)?;
    let request = args.settings.request(Some(file.wire.clone()), args.basis);
    args.settings.check_random()?;
    let mut client = SimulationServiceClient::new(connect(global).await?);
    let mut progress = Progress::new(args.settings.paths);
    let work = async {
        let mut stream = client
            .stream_simulation(request)
            .await
            .map_err(|status| file.locate(status.into()))?
            .into_inner();
        while let Some(event) = stream.message().await? {
            match event.event {
                Some(pb::simulation_event::Event::Progress(p)) => progress.update(&p),
                Some(pb::simulation_event::Event::Result(result)) => return Ok(result),
                None => {}
            }
        }
        Err(Failure::Status(Status::unknown(
            "the server ended the stream without a result",
        )))
    };
    // Polled first on every wake-up, so the handler is in place before the
    // call starts; leaving this function drops the stream, which tells the
    // server to stop.
    let result = tokio::select! {
        biased;
        Ok(()) = tokio::signal::ctrl_c() => Err(Failure::Cancelled),
        result = work => result,
    };
    progress.finish();
    let result = result?;
    out.show(&result, || {
        report(file.scenario.month_start(1).ok(), &result)
    })
}

/// Progress on standard error: a bar with an ETA on a terminal, a plain
/// line per event otherwise (logs, pipes, tests).
struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    fn new(paths: u64) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = ProgressBar::new(paths);
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} paths, ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar: Some(bar) }
    }

    fn update(&mut self, p: &pb::SimulationProgress) {
        let running = if p.estimate_paths == 0 {
            String::from("estimates after the first paths are merged")
        } else {
            format!(
                "mean NPV of savings {}, self-host cheaper {} (first {} paths)",
                usd(p.mean_npv_savings),
                percent(p.p_self_host_cheaper),
                count(p.estimate_paths as f64),
            )
        };
        match &self.bar {
            Some(bar) => {
                bar.set_length(p.paths_total);
                bar.set_position(p.paths_done);
                bar.set_message(running);
            }
            None => eprintln!(
                "progress: {} ({} of {} paths), {running}",
                percent(p.paths_done as f64 / p.paths_total.max(1) as f64),
                count(p.paths_done as f64),
                count(p.paths_total as f64),
            ),
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

fn percentile_cells(p: Option<&pb::Percentiles>) -> [Cell; 3] {
    let p = p.copied().unwrap_or_default();
    [
        Cell::number(usd(p.p5), p.p5),
        Cell::number(usd(p.p50), p.p50),
        Cell::number(usd(p.p95), p.p95),
    ]
}

/// The result for people; `start` is the first day of the scenario, for
/// month dates.
pub(super) fn report(start: Option<NaiveDate>, r: &pb::SimulationResult) -> Report {
    let npv = r.npv_savings.unwrap_or_default();
    let likely = r
        .months
        .iter()
        .find(|m| m.p_break_even_by >= 0.5)
        .map(|m| m.month)
        .unwrap_or(0);
    let likely_date = start.and_then(|start| month_of(start, likely));
    let mut summary = Record::new();
    summary
        .add("paths", "paths", Cell::count(r.paths))
        .add("seed", "seed", Cell::count(r.seed))
        .add(
            "p_self_host_cheaper",
            "self-host cheaper over the horizon",
            Cell::number(percent(r.p_self_host_cheaper), r.p_self_host_cheaper),
        )
        .add(
            "p_no_break_even",
            "no break-even within the horizon",
            Cell::number(percent(r.p_no_break_even), r.p_no_break_even),
        )
        .add(
            "break_even_likely_month",
            "half the paths break even",
            Cell::number(
                match likely_date {
                    Some(date) => format!("by month {likely} ({date})"),
                    None => "fewer than half the paths break even within the horizon".into(),
                },
                f64::from(likely),
            ),
        )
        .add(
            "npv_savings_p5",
            "NPV of savings, 5th percentile",
            Cell::number(usd(npv.p5), npv.p5),
        )
        .add(
            "npv_savings_p50",
            "NPV of savings, median",
            Cell::number(usd(npv.p50), npv.p50),
        )
        .add(
            "npv_savings_p95",
            "NPV of savings, 95th percentile",
            Cell::number(usd(npv.p95), npv.p95),
        )
        .add(
            "npv_savings_mean",
            "NPV of savings, mean",
            Cell::number(
                format!("{} (±{})", usd(npv.mean), usd(npv.std_error)),
                npv.mean,
            ),
        )
        .add(
            "var_95",
            "value at risk (95%)",
            Cell::number(usd(r.var_95), r.var_95),
        )
        .add(
            "cvar_95",
            "conditional value at risk (95%)",
            Cell::number(usd(r.cvar_95), r.cvar_95),
        )
        .add(
            "quantile_relative_error",
            "percentiles within",
            Cell::number(
                format!("±{}", percent(r.quantile_relative_error)),
                r.quantile_relative_error,
            ),
        );
    if let Some(i) = &r.investment {
        let irr = i.irr.unwrap_or_default();
        summary
            .add(
                "irr_p50",
                "IRR, median (paths with one)",
                Cell::number(percent(irr.p50), irr.p50),
            )
            .add(
                "irr_p5",
                "IRR, 5th to 95th percentile",
                Cell::number(
                    format!("{} to {}", percent(irr.p5), percent(irr.p95)),
                    irr.p5,
                ),
            )
            .add(
                "p_irr_above_hurdle",
                "IRR above the hurdle rate",
                Cell::number(
                    format!(
                        "{} of paths (hurdle {})",
                        percent(i.p_irr_above_hurdle),
                        percent(i.hurdle_rate)
                    ),
                    i.p_irr_above_hurdle,
                ),
            )
            .add(
                "p_no_irr",
                "no IRR (flows never change sign)",
                Cell::number(percent(i.p_no_irr), i.p_no_irr),
            )
            .add(
                "p_payback_within",
                "paid back within the months asked",
                Cell::number(
                    format!(
                        "{} of paths within {} months",
                        percent(i.p_payback_within),
                        i.payback_within_months
                    ),
                    i.p_payback_within,
                ),
            );
    }

    let mut report = Report::new();
    report
        .record(summary)
        .assumptions(&r.assumptions, &r.warnings);

    if !r.tornado.is_empty() {
        let mut tornado = Table::new(vec![
            text("input", "input (P10 to P90)"),
            num("low_value", "low"),
            num("high_value", "high"),
            num("npv_at_low", "NPV of savings at low"),
            num("npv_at_high", "at high"),
        ]);
        for bar in &r.tornado {
            tornado.push(vec![
                Cell::text(&bar.input),
                Cell::number(number(bar.low_value, 3), bar.low_value),
                Cell::number(number(bar.high_value, 3), bar.high_value),
                Cell::number(usd(bar.npv_at_low), bar.npv_at_low),
                Cell::number(usd(bar.npv_at_high), bar.npv_at_high),
            ]);
        }
        report.table(tornado);
    }

    if !r.sobol.is_empty() {
        let mut sobol = Table::new(vec![
            text("input", "input"),
            text("output", "Sobol index of"),
            num("first_order", "first order"),
            num("first_order_low", "95% from"),
            num("first_order_high", "to"),
            num("total", "total"),
            num("total_low", "95% from"),
            num("total_high", "to"),
        ]);
        for i in &r.sobol {
            let mut row = vec![Cell::text(&i.input), Cell::text(&i.output)];
            for v in [
                i.first_order,
                i.first_order_low,
                i.first_order_high,
                i.total,
                i.total_low,
                i.total_high,
            ] {
                row.push(Cell::number(number(v, 3), v));
            }
            sobol.push(row);
        }
        report.table(sobol);
    }

    let mut months = Table::new(vec![
        num("month", "month"),
        text("date", "date"),
        num("p_break_even_by", "broken even"),
        num("cumulative_savings_p5", "savings to date P5"),
        num("cumulative_savings_p50", "median"),
        num("cumulative_savings_p95", "P95"),
        num("mean_utilization", "utilisation"),
    ]);
    for m in &r.months {
        let [p5, p50, p95] = percentile_cells(m.cumulative_savings.as_ref());
        months.push(vec![
            Cell::count(m.month),
            Cell::text(month_of_date(&m.date)),
            Cell::number(percent(m.p_break_even_by), m.p_break_even_by),
            p5,
            p50,
            p95,
            Cell::number(percent(m.mean_utilization), m.mean_utilization),
        ]);
    }
    report.table(months);
    report
}
