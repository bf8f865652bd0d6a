//! `breakeven scenario run` and `breakeven run …`: runs of saved scenarios,
//! kept on the server with everything that reproduces them; shown, listed,
//! compared, replayed and exported.
//!
//! The run-kind flags ([`RunFlags`]) are shared with `job submit`, and their
//! simulation part with `simulate`, so the three read the same way.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use clap::Subcommand;
use tonic::Status;

use super::exit::Failure;
use super::format::{count, number, percent, usd, usd_price};
use super::output::{Cell, Output, Record, Report, Table, num, print_bytes, text};
use super::project::{Basis, month_cell, months_table, volume};
use super::simulate::Settings;
use super::{Global, connect};
use crate::grpc::pb;
use crate::grpc::pb::run_service_client::RunServiceClient;

/// Entries asked for per page: the most the API gives.
const PAGE_SIZE: i32 = 500;

/// What a run computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// The deterministic projection.
    Projection,
    /// The projection plus break-even volume and sensitivities.
    BreakEven,
    /// The projection plus a Monte Carlo simulation.
    Simulation,
}

impl From<Kind> for pb::RunKind {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::Projection => pb::RunKind::Projection,
            Kind::BreakEven => pb::RunKind::BreakEven,
            Kind::Simulation => pb::RunKind::Simulation,
        }
    }
}

/// A run kind as the flags write it.
fn kind_name(value: i32) -> &'static str {
    match pb::RunKind::try_from(value) {
        Ok(pb::RunKind::Projection) => "projection",
        Ok(pb::RunKind::BreakEven) => "break-even",
        Ok(pb::RunKind::Simulation) => "simulation",
        Ok(pb::RunKind::Unspecified) | Err(_) => "",
    }
}

/// How to run a saved scenario: `scenario run` and `job submit`.
#[derive(Debug, clap::Args)]
pub struct RunFlags {
    /// What to compute.
    #[arg(long, value_enum, default_value_t = Kind::Projection)]
    kind: Kind,
    /// Basis of the break-even month and the self-host totals.
    #[arg(long, value_enum, default_value_t = Basis::Pnl)]
    basis: Basis,
    #[command(flatten, next_help_heading = "With --kind simulation")]
    simulation: Settings,
}

impl RunFlags {
    /// The options these flags describe. Volatilities without
    /// `--kind simulation` would be silently ignored, so they are refused.
    pub fn options(&self) -> Result<pb::RunOptions, Failure> {
        let simulation = match self.kind {
            Kind::Simulation => {
                self.simulation.check_random()?;
                Some(self.simulation.request(None, self.basis))
            }
            _ if self.simulation.stochastic().is_some() => {
                return Err(Failure::Usage(
                    "--*-volatility and --failure-rate describe a simulation; \
                     add --kind simulation"
                        .into(),
                ));
            }
            _ => None,
        };
        Ok(pb::RunOptions {
            kind: pb::RunKind::from(self.kind).into(),
            basis: pb::CostBasis::from(self.basis).into(),
            simulation,
        })
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show a kept run: key figures, what it was computed from, its months.
    Show {
        /// The run id, run_….
        id: String,
    },
    /// List kept runs, newest first.
    List {
        /// Only runs of this saved scenario.
        #[arg(long, value_name = "ID")]
        scenario: Option<String>,
        /// Only runs of this batch job.
        #[arg(long, value_name = "ID")]
        job: Option<String>,
        /// Only runs of this kind.
        #[arg(long, value_enum)]
        kind: Option<Kind>,
    },
    /// Put runs beside a baseline: every cost line and key figure with its
    /// difference, and the inputs that changed.
    Compare {
        /// The run the others are measured against.
        baseline: String,
        /// One to 20 other runs.
        #[arg(required = true)]
        others: Vec<String>,
    },
    /// Compute a kept run again from its stored inputs and say whether the
    /// outputs are identical.
    Replay {
        /// The run id, run_….
        id: String,
        /// Exit with 1 when the outputs differ.
        #[arg(long)]
        check: bool,
    },
    /// Write a run's table as CSV, or the whole run as an Excel workbook,
    /// as the server streams it.
    Export {
        /// The run id, run_….
        id: String,
        /// Which table (CSV only; a workbook holds them all) [default: months].
        #[arg(long, value_enum)]
        table: Option<ExportTable>,
        /// The file format; xlsx needs --out.
        #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
        format: ExportFormat,
        /// Write to this file (replacing it) instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// The tables `run export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportTable {
    /// The projection month by month.
    Months,
    /// Key figures and horizon totals, one name,value row each.
    Summary,
    /// Simulation runs: the percentiles of each month.
    SimulationMonths,
}

/// The file formats `run export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// CSV text: one table.
    Csv,
    /// An Excel workbook of the whole run (Summary, Inputs, Monthly,
    /// Simulation, Sensitivity, Sources).
    Xlsx,
}

impl From<ExportFormat> for pb::ExportFormat {
    fn from(format: ExportFormat) -> Self {
        match format {
            ExportFormat::Csv => pb::ExportFormat::Csv,
            ExportFormat::Xlsx => pb::ExportFormat::Xlsx,
        }
    }
}

impl From<ExportTable> for pb::ExportTable {
    fn from(table: ExportTable) -> Self {
        match table {
            ExportTable::Months => pb::ExportTable::Months,
            ExportTable::Summary => pb::ExportTable::Summary,
            ExportTable::SimulationMonths => pb::ExportTable::SimulationMonths,
        }
    }
}

/// `scenario run ID`: runs a saved scenario and keeps the run. Ctrl-C
/// drops the call, which stops a simulation on the server.
pub async fn scenario_run(
    global: &Global,
    out: Output,
    scenario_id: String,
    revision: u32,
    flags: &RunFlags,
) -> Result<(), Failure> {
    let options = flags.options()?;
    let mut client = RunServiceClient::new(connect(global).await?);
    let call = client.run_scenario(pb::RunScenarioRequest {
        scenario_id,
        revision,
        options: Some(options),
    });
    let run = tokio::select! {
        biased;
        Ok(()) = tokio::signal::ctrl_c() => return Err(Failure::Cancelled),
        result = call => result?.into_inner(),
    };
    out.show(&run, || {
        let mut report = Report::new();
        if let Some(heading) = heading(&run) {
            report.title(heading);
        }
        report.record(key_figures(&run));
        report
    })
}

pub async fn run(global: &Global, out: Output, command: Command) -> Result<(), Failure> {
    match command {
        Command::Show { id } => {
            let mut client = RunServiceClient::new(connect(global).await?);
            let run = client.get_run(pb::GetRunRequest { id }).await?.into_inner();
            out.show(&run, || show_report(&run))
        }
        Command::List {
            scenario,
            job,
            kind,
        } => {
            let mut client = RunServiceClient::new(connect(global).await?);
            let mut all = pb::ListRunsResponse::default();
            loop {
                let page = client
                    .list_runs(pb::ListRunsRequest {
                        scenario_id: scenario.clone().unwrap_or_default(),
                        job_id: job.clone().unwrap_or_default(),
                        kind: kind
                            .map_or(pb::RunKind::Unspecified, pb::RunKind::from)
                            .into(),
                        page_size: PAGE_SIZE,
                        page_token: all.next_page_token.clone(),
                    })
                    .await?
                    .into_inner();
                all.runs.extend(page.runs);
                all.total_size = page.total_size;
                all.next_page_token = page.next_page_token;
                if all.next_page_token.is_empty() {
                    break;
                }
            }
            out.show(&all, || {
                let mut report = Report::new();
                report.table(list_table(&all.runs));
                report
            })
        }
        Command::Compare { baseline, others } => {
            let mut client = RunServiceClient::new(connect(global).await?);
            let response = client
                .compare_runs(pb::CompareRunsRequest {
                    baseline_id: baseline,
                    other_ids: others,
                })
                .await?
                .into_inner();
            out.show(&response, || compare_report(&response))
        }
        Command::Replay { id, check } => {
            let mut client = RunServiceClient::new(connect(global).await?);
            let replay = client
                .replay_run(pb::ReplayRunRequest { id: id.clone() })
                .await?
                .into_inner();
            out.show(&replay, || {
                let mut record = Record::new();
                record
                    .add("id", "run", Cell::text(&id))
                    .add("identical", "identical", Cell::flag(replay.identical))
                    .add(
                        "engine_version",
                        "engine version now",
                        Cell::text(&replay.engine_version),
                    )
                    .add(
                        "stored_engine_version",
                        "computed by",
                        Cell::text(&replay.stored_engine_version),
                    )
                    .add(
                        "explanation",
                        "explanation",
                        Cell::text(&replay.explanation),
                    );
                let mut report = Report::new();
                report.record(record);
                report
            })?;
            if check && !replay.identical {
                return Err(Failure::Local(format!(
                    "the replay of {id} differs from its stored outputs: {}",
                    replay.explanation
                )));
            }
            Ok(())
        }
        Command::Export {
            id,
            table,
            format,
            out: path,
        } => {
            if out.format == super::output::Format::Json {
                return Err(Failure::Usage(
                    "`run export` writes CSV or XLSX; leave out --json".into(),
                ));
            }
            if format == ExportFormat::Xlsx {
                // A workbook is binary: it goes to a file, never a terminal
                // or a pipe that expects text.
                if path.is_none() {
                    return Err(Failure::Usage(
                        "`run export --format xlsx` writes a binary file: give --out FILE".into(),
                    ));
                }
                if table.is_some() {
                    return Err(Failure::Usage(
                        "a workbook holds every table; leave out --table with --format xlsx".into(),
                    ));
                }
            }
            let mut client = RunServiceClient::new(connect(global).await?);
            let mut stream = client
                .export_run(pb::ExportRunRequest {
                    id,
                    table: pb::ExportTable::from(table.unwrap_or(ExportTable::Months)).into(),
                    format: pb::ExportFormat::from(format).into(),
                })
                .await?
                .into_inner();
            match path {
                None => {
                    while let Some(chunk) = stream.message().await? {
                        print_bytes(&chunk.data)?;
                    }
                    Ok(())
                }
                Some(path) => {
                    export_to(&path, &mut stream).await?;
                    eprintln!("wrote {}", path.display());
                    Ok(())
                }
            }
        }
    }
}

/// Writes the streamed chunks to `path` as they arrive. The file is created
/// with the first chunk, so an unknown run leaves nothing behind, and
/// removed again if the stream breaks off.
async fn export_to(
    path: &Path,
    stream: &mut tonic::Streaming<pb::ExportRunChunk>,
) -> Result<(), Failure> {
    let cannot =
        |e: std::io::Error| Failure::Local(format!("cannot write {}: {e}", path.display()));
    let mut file = None;
    loop {
        let chunk = match stream.message().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(status) => {
                if file.is_some() {
                    let _ = std::fs::remove_file(path);
                }
                return Err(status.into());
            }
        };
        let writer = match &mut file {
            Some(writer) => writer,
            None => file.insert(std::io::BufWriter::new(
                std::fs::File::create(path).map_err(cannot)?,
            )),
        };
        writer.write_all(&chunk.data).map_err(cannot)?;
    }
    match file {
        Some(mut writer) => writer.flush().map_err(cannot),
        None => Err(Failure::Status(Status::unknown(
            "the server ended the export without any data",
        ))),
    }
}

/// The first day of a run's scenario, for month dates; `None` for a
/// listing, which carries no inputs.
fn start(run: &pb::Run) -> Option<NaiveDate> {
    let scenario = run.inputs.as_ref()?.scenario.as_ref()?;
    NaiveDate::parse_from_str(&format!("{}-01", scenario.start_month), "%Y-%m-%d").ok()
}

/// The basis the run's totals are on.
fn basis(run: &pb::Run) -> Option<Basis> {
    let options = run.inputs.as_ref()?.options.as_ref()?;
    Some(Basis::of(options.basis))
}

/// "Support bot: 36 months from 2025-06", from the run's inputs.
fn heading(run: &pb::Run) -> Option<String> {
    let s = run.inputs.as_ref()?.scenario.as_ref()?;
    let name = if s.name.is_empty() {
        "scenario"
    } else {
        &s.name
    };
    Some(format!(
        "{name}: {} months from {}",
        s.horizon_months, s.start_month
    ))
}

/// A break-even month as a cell: its number and date, or why there is none.
fn break_even_cell(start: Option<NaiveDate>, breaks_even: bool, month: u32) -> Cell {
    if breaks_even {
        month_cell(start, month)
    } else {
        Cell::number("not within the horizon", 0.0)
    }
}

/// The run's id, what it ran and its headline figures.
fn key_figures(run: &pb::Run) -> Record {
    let k = run.key_figures.unwrap_or_default();
    let mut record = Record::new();
    record
        .add("id", "run", Cell::text(&run.id))
        .add("scenario_id", "scenario", Cell::text(&run.scenario_id))
        .add(
            "scenario_revision",
            "revision",
            Cell::count(run.scenario_revision),
        )
        .add("kind", "kind", Cell::text(kind_name(run.kind)))
        .add("create_time", "ran", Cell::text(&run.create_time));
    if !run.job_id.is_empty() {
        record.add("job_id", "job", Cell::text(&run.job_id));
    }
    let self_host_title = match basis(run) {
        Some(Basis::Pnl) => "self-host total (P&L)",
        Some(Basis::Cash) => "self-host total (cash)",
        None => "self-host total",
    };
    record
        .add(
            "break_even_month",
            "breaks even",
            break_even_cell(start(run), k.breaks_even, k.break_even_month),
        )
        .add(
            "total_api",
            "API total",
            Cell::number(usd(k.total_api), k.total_api),
        )
        .add(
            "total_self_host",
            self_host_title,
            Cell::number(usd(k.total_self_host), k.total_self_host),
        )
        .add(
            "savings",
            "savings (API − self-host)",
            Cell::number(usd(k.savings), k.savings),
        )
        .add(
            "npv_api",
            "API NPV",
            Cell::number(usd(k.npv_api), k.npv_api),
        )
        .add(
            "npv_self_host",
            "self-host NPV (cash)",
            Cell::number(usd(k.npv_self_host), k.npv_self_host),
        );
    let output = run.output.as_ref();
    if let Some(v) = output
        .and_then(|o| o.break_even.as_ref())
        .and_then(|b| b.break_even_volume.as_ref())
    {
        record.add(
            "break_even_requests_per_day",
            "break-even volume",
            volume(v),
        );
    }
    if run.kind == i32::from(pb::RunKind::Simulation) {
        record
            .add(
                "p_self_host_cheaper",
                "self-host cheaper (simulated)",
                Cell::number(percent(k.p_self_host_cheaper), k.p_self_host_cheaper),
            )
            .add(
                "median_npv_savings",
                "NPV of savings, median",
                Cell::number(usd(k.median_npv_savings), k.median_npv_savings),
            );
    }
    record
}

/// What a run was computed from.
fn inputs_record(run: &pb::Run) -> Record {
    let inputs = run.inputs.clone().unwrap_or_default();
    let mut record = Record::new();
    if !run.team.is_empty() {
        record.add("team", "team", Cell::text(&run.team));
    }
    if let Some(scenario) = &inputs.scenario {
        super::scenario::add_overview(&mut record, scenario);
    }
    let options = inputs.options.unwrap_or_default();
    record.add(
        "basis",
        "basis",
        Cell::text(match Basis::of(options.basis) {
            Basis::Pnl => "P&L",
            Basis::Cash => "cash",
        }),
    );
    if let Some(sim) = &options.simulation {
        record.add(
            "simulation",
            "simulation",
            Cell::text(format!(
                "{} paths, seed {}{}",
                count(sim.paths as f64),
                sim.seed,
                if sim.antithetic { ", antithetic" } else { "" }
            )),
        );
    }
    let files: Vec<&str> = inputs
        .catalog_files
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    record.add(
        "catalog_files",
        "catalogue files",
        Cell::text(files.join(", ")),
    );
    if let Some(c) = &inputs.calibration {
        record.add(
            "calibration",
            "calibration",
            Cell::text(format!(
                "{} (expected error ±{}, {} points)",
                c.name,
                percent(c.expected_error),
                count(c.points as f64)
            )),
        );
    }
    record
        .add(
            "engine_version",
            "engine version",
            Cell::text(&run.engine_version),
        )
        .add(
            "catalog_version",
            "catalogue version",
            Cell::text(&run.catalog_version),
        );
    record
}

/// `run show`: heading, key figures, inputs, and the months (its CSV).
fn show_report(run: &pb::Run) -> Report {
    let mut report = Report::new();
    if let Some(heading) = heading(run) {
        report.title(heading);
    }
    report.record(key_figures(run));
    if let Some(o) = &run.output {
        // The same values whatever the run computed: its scenario's.
        if let Some(p) = &o.projection {
            report.assumptions(&p.assumptions, &p.warnings);
        } else if let Some(b) = &o.break_even {
            report.assumptions(&b.assumptions, &b.warnings);
        } else if let Some(s) = &o.simulation {
            report.assumptions(&s.assumptions, &s.warnings);
        }
    }
    report.record(inputs_record(run));
    let months = run
        .output
        .as_ref()
        .and_then(|o| o.projection.as_ref())
        .map(|p| p.months.as_slice())
        .unwrap_or_default();
    report.table(months_table(basis(run).unwrap_or(Basis::Pnl), months));
    report
}

fn list_table(runs: &[pb::Run]) -> Table {
    let mut table = Table::new(vec![
        text("id", "id"),
        text("scenario_id", "scenario"),
        num("scenario_revision", "revision"),
        text("kind", "kind"),
        text("create_time", "ran"),
        text("job_id", "job"),
        num("break_even_month", "breaks even"),
        num("total_api", "API total"),
        num("total_self_host", "self-host total"),
        num("savings", "savings"),
    ]);
    for r in runs {
        let k = r.key_figures.unwrap_or_default();
        table.push(vec![
            Cell::text(&r.id),
            Cell::text(&r.scenario_id),
            Cell::count(r.scenario_revision),
            Cell::text(kind_name(r.kind)),
            Cell::text(&r.create_time),
            Cell::text(&r.job_id),
            month_cell(None, k.break_even_month),
            Cell::number(usd(k.total_api), k.total_api),
            Cell::number(usd(k.total_self_host), k.total_self_host),
            Cell::number(usd(k.savings), k.savings),
        ]);
    }
    table
}

/// A figure a run does not have: a month that never comes, a volume not
/// reached; its difference from anything is left blank.
/// For programs (CSV) the cell is empty.
fn missing(unit: &str, difference: bool) -> Cell {
    let shown = match unit {
        _ if difference => "",
        "month" => "never",
        _ => "not reached",
    };
    Cell {
        shown: shown.into(),
        raw: String::new(),
    }
}

/// A compared figure in its unit; a difference carries its sign.
fn figure(unit: &str, value: f64, difference: bool) -> Cell {
    let shown = match unit {
        "usd" => usd(value),
        "usd_per_million_tokens" => usd_price(value),
        "probability" | "fraction" => percent(value),
        "month" | "gpus" | "requests_per_day" => count(value),
        _ => number(value, 2),
    };
    let shown = if difference && value > 0.0 && !shown.starts_with('-') {
        format!("+{shown}")
    } else {
        shown
    };
    Cell::number(shown, value)
}

/// `run compare`: one row per figure, a value column per run and a
/// difference column per other run; then the changed inputs.
fn compare_report(c: &pb::CompareRunsResponse) -> Report {
    let baseline = c.baseline.clone().unwrap_or_default();
    let mut columns = vec![
        text("line", "line"),
        text("unit", "unit"),
        num("baseline", format!("{} (baseline)", baseline.id)),
    ];
    for other in &c.others {
        columns.push(num(other.id.clone(), other.id.clone()));
        columns.push(num(
            format!("{}_difference", other.id),
            if c.others.len() == 1 {
                "difference".to_string()
            } else {
                format!("difference {}", other.id)
            },
        ));
    }
    let mut table = Table::new(columns);
    for line in &c.lines {
        let value = |missing_here: bool, value: f64, difference: bool| {
            if missing_here {
                missing(&line.unit, difference)
            } else {
                figure(&line.unit, value, difference)
            }
        };
        let mut row = vec![
            Cell::text(&line.name),
            Cell::text(&line.unit),
            value(line.baseline_missing, line.baseline, false),
        ];
        for (i, _) in c.others.iter().enumerate() {
            let other = line.others.get(i).copied().unwrap_or(f64::NAN);
            let difference = line.differences.get(i).copied().unwrap_or(f64::NAN);
            let other_missing = line.others_missing.get(i).copied().unwrap_or(false);
            row.push(value(other_missing, other, false));
            row.push(value(
                other_missing || line.baseline_missing,
                difference,
                true,
            ));
        }
        table.push(row);
    }
    let mut report = Report::new();
    let describe = |r: &pb::Run| {
        format!(
            "{}: {} revision {}, {}",
            r.id,
            r.scenario_id,
            r.scenario_revision,
            kind_name(r.kind)
        )
    };
    let mut runs = vec![format!("baseline {}", describe(&baseline))];
    runs.extend(c.others.iter().map(|o| format!("compared {}", describe(o))));
    report.text(runs.join("\n")).table(table);
    if c.input_changes.is_empty() {
        report.text("no input changes");
    } else {
        let changes: Vec<String> = c.input_changes.iter().map(|l| format!("  {l}")).collect();
        report.text(format!("input changes:\n{}", changes.join("\n")));
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_carry_their_sign_and_units() {
        let shown =
            |unit: &str, value: f64, difference: bool| figure(unit, value, difference).shown;
        assert_eq!(shown("usd", 1_234.4, false), "$1,234");
        assert_eq!(shown("usd", 1_234.4, true), "+$1,234");
        assert_eq!(shown("usd", -5_000.0, true), "-$5,000");
        assert_eq!(shown("usd", 0.0, true), "$0");
        assert_eq!(shown("probability", 0.05, true), "+5.0%");
        assert_eq!(missing("month", false).shown, "never");
        assert_eq!(missing("requests_per_day", false).shown, "not reached");
        assert_eq!(missing("month", true).shown, "");
        assert_eq!(missing("month", false).raw, "");
        assert_eq!(shown("month", -3.0, true), "-3");
        assert_eq!(figure("usd", 1_234.4, false).raw, "1234.4");
    }
}
