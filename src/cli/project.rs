//! `breakeven project FILE` and `breakeven breakeven FILE`: a scenario
//! file month by month, and its break-even volume and month.

use std::path::PathBuf;

use chrono::NaiveDate;

use super::exit::Failure;
use super::file::ScenarioFile;
use super::format::{count, month_and_date, month_of_date, number, percent, usd, usd_price, wrap};
use super::output::{Cell, Output, Record, Report, Table, num, text};
use super::{Global, connect};
use crate::grpc::pb;
use crate::grpc::pb::simulation_service_client::SimulationServiceClient;
use crate::tco::Scenario;

/// Which view of self-hosting costs to compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Basis {
    /// Profit and loss: depreciation and cost of capital spread a purchase.
    Pnl,
    /// Cash: a purchase counts when paid, resale at the end.
    Cash,
}

impl From<Basis> for pb::CostBasis {
    fn from(basis: Basis) -> Self {
        match basis {
            Basis::Pnl => pb::CostBasis::ProfitAndLoss,
            Basis::Cash => pb::CostBasis::Cash,
        }
    }
}

impl Basis {
    /// The basis of a request's `basis` field; unset is profit and loss,
    /// as the API reads it.
    pub fn of(value: i32) -> Basis {
        match pb::CostBasis::try_from(value) {
            Ok(pb::CostBasis::Cash) => Basis::Cash,
            _ => Basis::Pnl,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ProjectArgs {
    /// A scenario file (see `breakeven scenario init`).
    file: PathBuf,
    /// Basis of the break-even month and the self-host columns.
    #[arg(long, value_enum, default_value_t = Basis::Pnl)]
    basis: Basis,
}

#[derive(Debug, clap::Args)]
pub struct BreakEvenArgs {
    /// A scenario file (see `breakeven scenario init`).
    file: PathBuf,
    /// Basis of the break-even month.
    #[arg(long, value_enum, default_value_t = Basis::Pnl)]
    basis: Basis,
}

/// The first day of the scenario, for month dates; `None` only for a start
/// month the server would have refused.
fn start(scenario: &Scenario) -> Option<NaiveDate> {
    scenario.month_start(1).ok()
}

/// Month `t` and its date, or only the number without a start date.
pub(super) fn month_cell(start: Option<NaiveDate>, t: u32) -> Cell {
    let shown = match start {
        Some(start) => month_and_date(start, t),
        None if t == 0 => "never".into(),
        None => format!("month {t}"),
    };
    Cell::number(shown, f64::from(t))
}

pub async fn project(global: &Global, out: Output, args: ProjectArgs) -> Result<(), Failure> {
    let file = ScenarioFile::read(&args.file)?;
    let mut client = SimulationServiceClient::new(connect(global).await?);
    let response = client
        .project(pb::ProjectRequest {
            scenario: Some(file.wire.clone()),
            basis: pb::CostBasis::from(args.basis).into(),
        })
        .await
        .map_err(|status| file.locate(status.into()))?
        .into_inner();
    out.show(&response, || {
        projection_report(&file.scenario, args.basis, &response)
    })
}

fn projection_report(scenario: &Scenario, basis: Basis, p: &pb::ProjectResponse) -> Report {
    let s = p.summary.clone().unwrap_or_default();
    let start = start(scenario);
    let (total_self_host, self_host_title) = match basis {
        Basis::Pnl => (s.total_self_host_pnl, "self-host total (P&L)"),
        Basis::Cash => (s.total_self_host_cash, "self-host total (cash)"),
    };
    let mut summary = Record::new();
    summary
        .add(
            "break_even_month",
            "breaks even",
            break_even_cell(start, s.breaks_even, s.break_even_month, s.identical_to_api),
        )
        .add(
            "break_even_months_fractional",
            "crossing at",
            fractional(s.break_even_months_fractional),
        )
        .add(
            "first_crossover_month",
            "first crossover",
            month_cell(start, s.first_crossover_month),
        )
        .add(
            "total_api",
            "API total",
            Cell::number(usd(s.total_api), s.total_api),
        )
        .add(
            "total_self_host",
            self_host_title,
            Cell::number(usd(total_self_host), total_self_host),
        )
        .add(
            "savings",
            "savings (API − self-host)",
            Cell::number(
                usd(s.total_api - total_self_host),
                s.total_api - total_self_host,
            ),
        );
    if s.total_fine_tuned_api > 0.0 {
        summary.add(
            "total_fine_tuned_api",
            "fine-tuned API total",
            Cell::number(usd(s.total_fine_tuned_api), s.total_fine_tuned_api),
        );
    }
    summary
        .add(
            "npv_api",
            "API NPV",
            Cell::number(usd(s.npv_api), s.npv_api),
        )
        .add(
            "npv_self_host",
            "self-host NPV (cash)",
            Cell::number(usd(s.npv_self_host), s.npv_self_host),
        );
    if let Some(r) = &s.returns {
        returns_rows(&mut summary, start, r);
    }
    summary
        .add(
            "api_cost_per_million_tokens",
            "API per M tokens",
            Cell::number(
                usd_price(s.api_cost_per_million_tokens),
                s.api_cost_per_million_tokens,
            ),
        )
        .add(
            "self_host_cost_per_million_tokens",
            "self-host per M tokens",
            Cell::number(
                usd_price(s.self_host_cost_per_million_tokens),
                s.self_host_cost_per_million_tokens,
            ),
        )
        .add(
            "mean_utilization",
            "mean utilisation",
            Cell::number(percent(s.mean_utilization), s.mean_utilization),
        );
    // With a duty cycle, the operating hours' figure and the month's differ.
    if s.mean_utilization_whole_month < s.mean_utilization {
        summary.add(
            "mean_utilization_whole_month",
            "over every hour",
            Cell::number(
                percent(s.mean_utilization_whole_month),
                s.mean_utilization_whole_month,
            ),
        );
    }
    if let Some(v) = &s.break_even_volume {
        summary.add(
            "break_even_requests_per_day",
            "break-even volume",
            volume(v),
        );
    }
    summary
        .add(
            "tensor_parallel",
            "GPUs per replica",
            Cell::count(s.tensor_parallel),
        )
        .add(
            "output_tokens_per_second_per_gpu",
            "output tokens/s per GPU",
            Cell::number(
                format!(
                    "{} (±{})",
                    number(s.output_tokens_per_second_per_gpu, 0),
                    percent(s.throughput_expected_error)
                ),
                s.output_tokens_per_second_per_gpu,
            ),
        )
        .add(
            "api_prices_used",
            "API prices used",
            Cell::text(s.api_prices_used.join(", ")),
        );

    let mut report = Report::new();
    report.title(title(scenario)).record(summary);
    if let Some(note) = s
        .break_even_volume
        .as_ref()
        .and_then(|v| volume_note(s.breaks_even, v))
    {
        report.text(note);
    }
    report
        .assumptions(&p.assumptions, &p.warnings)
        .table(months_table(basis, &p.months));
    report
}

/// When self-hosting breaks even; an option that routes nothing to the open
/// model is the API itself, which is said rather than "never".
pub(super) fn break_even_cell(
    start: Option<NaiveDate>,
    breaks_even: bool,
    month: u32,
    identical_to_api: bool,
) -> Cell {
    if identical_to_api {
        Cell::number(
            "identical to the API (nothing routed to the open model)",
            0.0,
        )
    } else if breaks_even {
        month_cell(start, month)
    } else {
        Cell::number("not within the horizon", 0.0)
    }
}

/// IRR, payback and ROI of the decision to self-host.
pub(super) fn returns_rows(
    summary: &mut Record,
    start: Option<NaiveDate>,
    r: &pb::InvestmentReturns,
) {
    let payback = |t: Option<u32>| match t {
        Some(t) => month_cell(start, t),
        None => Cell::number("not within the horizon", 0.0),
    };
    summary
        .add(
            "npv_savings",
            "NPV of savings",
            Cell::number(usd(r.npv), r.npv),
        )
        .add(
            "irr",
            "IRR (a year)",
            match r.irr {
                Some(irr) if r.irr_note.is_empty() => Cell::number(percent(irr), irr),
                // The flows change sign more than once.
                Some(irr) => {
                    Cell::number(format!("{} (one of several possible)", percent(irr)), irr)
                }
                None => Cell::text(r.irr_note.clone()),
            },
        )
        .add("payback_month", "payback (cash)", payback(r.payback_month))
        .add(
            "discounted_payback_month",
            "discounted payback",
            payback(r.discounted_payback_month),
        )
        .add(
            "roi",
            "ROI over the horizon",
            match r.roi {
                Some(roi) => Cell::number(percent(roi), roi),
                None => Cell::text("none (no self-host spend)"),
            },
        );
    if r.tax_rate > 0.0 {
        summary
            .add(
                "npv_after_tax",
                "NPV of savings after tax",
                Cell::number(usd(r.npv_after_tax), r.npv_after_tax),
            )
            .add(
                "irr_after_tax",
                "IRR after tax",
                match r.irr_after_tax {
                    Some(irr) if r.irr_after_tax_note.is_empty() => Cell::number(percent(irr), irr),
                    Some(irr) => {
                        Cell::number(format!("{} (one of several possible)", percent(irr)), irr)
                    }
                    None => Cell::text(r.irr_after_tax_note.clone()),
                },
            )
            .add(
                "depreciation_tax_shield",
                "depreciation tax shield",
                Cell::number(usd(r.depreciation_tax_shield), r.depreciation_tax_shield),
            );
    }
}

/// The projection month by month, self-host costs on `basis`.
pub(super) fn months_table(basis: Basis, months: &[pb::MonthRow]) -> Table {
    let mut table = Table::new(vec![
        num("month", "month"),
        text("date", "date"),
        num("requests_per_day", "requests/day"),
        num("gpus_held", "GPUs held"),
        num("api_cost", "API"),
        num("self_host", "self-host"),
        num("cumulative_api", "API to date"),
        num("cumulative_self_host", "self-host to date"),
        num("utilization", "utilisation of held"),
    ]);
    for m in months {
        let (cost, cumulative) = match basis {
            Basis::Pnl => (m.self_host_pnl, m.cumulative_self_host_pnl),
            Basis::Cash => (m.self_host_cash, m.cumulative_self_host_cash),
        };
        table.push(vec![
            Cell::count(m.month),
            Cell::text(month_of_date(&m.date)),
            Cell::number(count(m.requests_per_day), m.requests_per_day),
            Cell::count(m.gpus_held),
            Cell::number(usd(m.api_cost), m.api_cost),
            Cell::number(usd(cost), cost),
            Cell::number(usd(m.cumulative_api), m.cumulative_api),
            Cell::number(usd(cumulative), cumulative),
            Cell::number(percent(m.utilization), m.utilization),
        ]);
    }
    table
}

/// The heading of a scenario's report.
fn title(scenario: &Scenario) -> String {
    let name = if scenario.name.is_empty() {
        "scenario"
    } else {
        &scenario.name
    };
    format!(
        "{name}: {} months from {}",
        scenario.horizon_months, scenario.start_month
    )
}

/// The interpolated break-even time in months, e.g. "17.8 months".
pub(super) fn fractional(months: Option<f64>) -> Cell {
    match months {
        Some(m) => Cell::number(format!("{} months", number(m, 2)), m),
        None => Cell::number("never", 0.0),
    }
}

/// A break-even volume in requests a day, or "not reached".
pub(super) fn volume(v: &pb::BreakEvenVolume) -> Cell {
    if v.reached {
        Cell::number(
            format!("{} requests/day", count(v.requests_per_day)),
            v.requests_per_day,
        )
    } else {
        Cell::text("not reached")
    }
}

/// The two break-even answers ask different questions; where one is
/// reached and the other is not, say which asks what, and why the volume
/// is not reached.
pub(super) fn volume_note(breaks_even: bool, v: &pb::BreakEvenVolume) -> Option<String> {
    if v.reached == breaks_even {
        return None;
    }
    let mut note = String::from(
        "The break-even month is when the cumulative costs cross as the scenario unfolds; \
         the break-even volume is the daily volume from which self-hosting is cheaper \
         in every month at month-1 prices.",
    );
    if !v.not_reached_reason.is_empty() {
        note.push_str(&format!(" No break-even volume: {}.", v.not_reached_reason));
    }
    Some(wrap(&note, 78))
}

pub async fn break_even(global: &Global, out: Output, args: BreakEvenArgs) -> Result<(), Failure> {
    let file = ScenarioFile::read(&args.file)?;
    let mut client = SimulationServiceClient::new(connect(global).await?);
    let response = client
        .find_break_even(pb::FindBreakEvenRequest {
            scenario: Some(file.wire.clone()),
            basis: pb::CostBasis::from(args.basis).into(),
        })
        .await
        .map_err(|status| file.locate(status.into()))?
        .into_inner();
    out.show(&response, || break_even_report(&file.scenario, &response))
}

fn break_even_report(scenario: &Scenario, b: &pb::FindBreakEvenResponse) -> Report {
    let start = start(scenario);
    let v = b.break_even_volume.clone().unwrap_or_default();
    let mut summary = Record::new();
    summary
        .add(
            "break_even_requests_per_day",
            "break-even volume",
            volume(&v),
        )
        .add(
            "continuous_requests_per_day",
            "with fractional GPUs",
            if v.continuous_reached && v.continuous_requests_per_day == 0.0 {
                // Rented GPUs with no fixed costs: divisible GPUs would pay
                // from the first request.
                Cell::number("any volume (no fixed costs)", 0.0)
            } else if v.continuous_reached {
                Cell::number(
                    format!("{} requests/day", count(v.continuous_requests_per_day)),
                    v.continuous_requests_per_day,
                )
            } else {
                Cell::text("not reached")
            },
        )
        .add(
            "break_even_month",
            "breaks even",
            break_even_cell(start, b.breaks_even, b.break_even_month, b.identical_to_api),
        )
        .add(
            "break_even_months_fractional",
            "crossing at",
            fractional(b.break_even_months_fractional),
        )
        .add(
            "first_crossover_month",
            "first crossover",
            month_cell(start, b.first_crossover_month),
        )
        .add(
            "monthly_cost_per_gpu",
            "monthly cost per GPU",
            Cell::number(usd(v.monthly_cost_per_gpu), v.monthly_cost_per_gpu),
        )
        .add(
            "requests_per_day_per_replica",
            "requests/day per replica",
            Cell::number(
                count(v.requests_per_day_per_replica),
                v.requests_per_day_per_replica,
            ),
        );
    if let Some(r) = &b.returns {
        returns_rows(&mut summary, start, r);
    }

    let mut sensitivities = Table::new(vec![
        text("input", "input"),
        num("change", "change"),
        text("breaks_even", "breaks even"),
        num("break_even_month", "month"),
        num("break_even_requests_per_day", "break-even requests/day"),
        num("horizon_savings", "savings (API − self-host)"),
    ]);
    for case in &b.sensitivities {
        let volume = case.break_even_volume.clone().unwrap_or_default();
        let change = if case.change > 0.0 {
            format!("+{}", percent(case.change))
        } else {
            percent(case.change)
        };
        sensitivities.push(vec![
            Cell::text(&case.input),
            Cell::number(change, case.change),
            Cell::flag(case.breaks_even),
            month_cell(start, case.break_even_month),
            if volume.reached {
                Cell::number(count(volume.requests_per_day), volume.requests_per_day)
            } else {
                Cell::text("")
            },
            Cell::number(usd(case.horizon_savings), case.horizon_savings),
        ]);
    }

    let mut report = Report::new();
    report.title(title(scenario)).record(summary);
    if let Some(note) = volume_note(b.breaks_even, &v) {
        report.text(note);
    }
    report
        .assumptions(&b.assumptions, &b.warnings)
        .table(sensitivities);
    report
}
