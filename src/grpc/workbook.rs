//! ExportRun's workbook: a kept run's stored outputs mapped field by field
//! into [`report::Workbook`], which `src/report/xlsx.rs` writes. Every
//! number is the stored one; only the catalogue sources are worked out
//! again, from the run's own files ([`execute::sources_of`]).

use chrono::{DateTime, NaiveDate, Utc};

use super::execute::{self, Kind};
use super::pb;
use super::simulation::scenario;
use crate::error::{Error, Result};
use crate::montecarlo::Stats;
use crate::report::{
    self, AssumptionLine, Figure, Investment, MonthLine, SensitivityLine, Simulation,
    SimulationMonth, SobolLine, TornadoLine, Value,
};

/// The .xlsx bytes of a kept run (with its inputs and outputs).
pub(super) fn xlsx(run: &pb::Run) -> Result<Vec<u8>> {
    report::xlsx(&workbook(run)?)
}

/// The workbook's data, from the run as stored.
pub(super) fn workbook(run: &pb::Run) -> Result<report::Workbook> {
    let inputs = run
        .inputs
        .as_ref()
        .ok_or_else(|| Error::Internal(format!("run {} has no inputs", run.id)))?;
    let output = run.output.clone().unwrap_or_default();
    let projection = output.projection.clone().unwrap_or_default();
    let summary = projection.summary.clone().unwrap_or_default();
    let assumptions = projection.assumptions.iter().map(assumption).collect();
    let sim = output.simulation.as_ref();
    let sensitivities = output
        .break_even
        .as_ref()
        .map(|b| b.sensitivities.iter().map(sensitivity).collect())
        .unwrap_or_default();
    Ok(report::Workbook {
        title: format!("breakeven run {}", run.id),
        created: DateTime::parse_from_rfc3339(&run.create_time)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        summary: summary_figures(run, &output),
        inputs: input_figures(inputs)?,
        assumptions,
        months: projection.months.iter().map(month).collect(),
        capex_month_0: summary.capex_paid_month_0,
        simulation: sim.map(simulation),
        tornado: sim
            .map(|s| {
                s.tornado
                    .iter()
                    .map(|t| TornadoLine {
                        input: t.input.clone(),
                        low_value: t.low_value,
                        high_value: t.high_value,
                        npv_at_low: t.npv_at_low,
                        npv_at_high: t.npv_at_high,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        rank_correlations: sim
            .map(|s| {
                s.rank_correlations
                    .iter()
                    .map(|r| (r.input.clone(), r.spearman))
                    .collect()
            })
            .unwrap_or_default(),
        sobol: sim
            .map(|s| {
                s.sobol
                    .iter()
                    .map(|i| SobolLine {
                        input: i.input.clone(),
                        output: i.output.clone(),
                        first_order: i.first_order,
                        first_order_low: i.first_order_low,
                        first_order_high: i.first_order_high,
                        total: i.total,
                        total_low: i.total_low,
                        total_high: i.total_high,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        sensitivities,
        sources: execute::sources_of(inputs)?,
    })
}

fn date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

fn summary_figures(run: &pb::Run, output: &pb::RunOutput) -> Vec<Figure> {
    let projection = output.projection.clone().unwrap_or_default();
    let s = projection.summary.unwrap_or_default();
    let k = run.key_figures.unwrap_or_default();
    let fig = |label: &str, value: Value, unit: &str, field: &str| Figure {
        label: label.into(),
        value,
        unit: unit.into(),
        field: field.into(),
    };
    let text = |t: &str| Value::Text(t.to_string());
    let kind = Kind::from_pb(run.kind, "kind").map_or("unknown", Kind::name);
    let basis = match pb::CostBasis::try_from(s.basis) {
        Ok(pb::CostBasis::Cash) => "cash",
        _ => "profit and loss",
    };
    let created = DateTime::parse_from_rfc3339(&run.create_time)
        .map(|t| Value::Instant(t.with_timezone(&Utc)))
        .unwrap_or_else(|_| text(&run.create_time));
    let month = |t: u32| {
        if t > 0 {
            Value::Number(f64::from(t))
        } else {
            text("never")
        }
    };
    let mut out = vec![
        fig("Run", text(&run.id), "", "id"),
        fig("Scenario", text(&run.scenario_id), "", "scenario_id"),
        fig(
            "Scenario revision",
            Value::Number(f64::from(run.scenario_revision)),
            "",
            "scenario_revision",
        ),
        fig("Kind", text(kind), "", "kind"),
        fig("Run at", created, "UTC", "create_time"),
        fig(
            "Engine version",
            text(&run.engine_version),
            "",
            "engine_version",
        ),
        fig(
            "Catalogue version",
            text(&run.catalog_version),
            "",
            "catalog_version",
        ),
        fig("Cost basis of break-even", text(basis), "", "summary.basis"),
        fig(
            "API option: total over the horizon",
            Value::Money(s.total_api),
            "USD",
            "summary.total_api",
        ),
        fig(
            "API option: net present value",
            Value::Money(s.npv_api),
            "USD",
            "summary.npv_api",
        ),
        fig(
            "API option: cost per million tokens",
            Value::Money(s.api_cost_per_million_tokens),
            "USD per million tokens",
            "summary.api_cost_per_million_tokens",
        ),
    ];
    if s.total_fine_tuned_api != 0.0 {
        out.extend([
            fig(
                "Fine-tuned API: total over the horizon",
                Value::Money(s.total_fine_tuned_api),
                "USD",
                "summary.total_fine_tuned_api",
            ),
            fig(
                "Fine-tuned API: net present value",
                Value::Money(s.npv_fine_tuned_api),
                "USD",
                "summary.npv_fine_tuned_api",
            ),
        ]);
    }
    out.extend([
        fig(
            "Self-host option: total, P&L view",
            Value::Money(s.total_self_host_pnl),
            "USD",
            "summary.total_self_host_pnl",
        ),
        fig(
            "Self-host option: total, cash view",
            Value::Money(s.total_self_host_cash),
            "USD",
            "summary.total_self_host_cash",
        ),
        fig(
            "Self-host option: net present value",
            Value::Money(s.npv_self_host),
            "USD",
            "summary.npv_self_host",
        ),
        fig(
            "Self-host option: cost per million tokens",
            Value::Money(s.self_host_cost_per_million_tokens),
            "USD per million tokens",
            "summary.self_host_cost_per_million_tokens",
        ),
        fig(
            "Self-host option: capex paid in month 0",
            Value::Money(s.capex_paid_month_0),
            "USD",
            "summary.capex_paid_month_0",
        ),
        fig(
            "Self-host option: mean utilisation",
            Value::Percent(s.mean_utilization),
            "",
            "summary.mean_utilization",
        ),
        fig(
            "Savings over the horizon (API less self-host, on the basis)",
            Value::Money(k.savings),
            "USD",
            "key_figures.savings",
        ),
        fig(
            "Identical to the API (nothing routed to the open model)",
            Value::Bool(s.identical_to_api),
            "",
            "summary.identical_to_api",
        ),
        fig(
            "Breaks even within the horizon",
            Value::Bool(s.breaks_even),
            "",
            "summary.breaks_even",
        ),
        fig(
            "Break-even month",
            month(s.break_even_month),
            "month",
            "summary.break_even_month",
        ),
    ]);
    if let Some(d) = date(&s.break_even_date) {
        out.push(fig(
            "Break-even date",
            Value::Date(d),
            "",
            "summary.break_even_date",
        ));
    }
    if let Some(f) = s.break_even_months_fractional {
        out.push(fig(
            "Break-even, months (interpolated)",
            Value::Number(f),
            "months",
            "summary.break_even_months_fractional",
        ));
    }
    out.push(fig(
        "First crossover month",
        month(s.first_crossover_month),
        "month",
        "summary.first_crossover_month",
    ));
    let r = s.returns.clone().unwrap_or_default();
    let optional_month = |t: Option<u32>| t.map_or_else(|| text("not within the horizon"), month);
    out.extend([
        fig(
            "Net present value of savings (API less self-host, cash)",
            Value::Money(r.npv),
            "USD",
            "summary.returns.npv",
        ),
        fig(
            "IRR of self-hosting",
            r.irr.map_or_else(|| text(&r.irr_note), Value::Percent),
            "a year",
            "summary.returns.irr",
        ),
    ]);
    if r.irr.is_some() && !r.irr_note.is_empty() {
        out.push(fig(
            "IRR note",
            text(&r.irr_note),
            "",
            "summary.returns.irr_note",
        ));
    }
    out.extend([
        fig(
            "Payback month (cash)",
            optional_month(r.payback_month),
            "month",
            "summary.returns.payback_month",
        ),
        fig(
            "Discounted payback month",
            optional_month(r.discounted_payback_month),
            "month",
            "summary.returns.discounted_payback_month",
        ),
        fig(
            "Return on self-host spend over the horizon",
            r.roi
                .map_or_else(|| text("none (no self-host spend)"), Value::Percent),
            "",
            "summary.returns.roi",
        ),
    ]);
    if r.tax_rate > 0.0 {
        out.extend([
            fig(
                "Tax rate",
                Value::Percent(r.tax_rate),
                "",
                "summary.returns.tax_rate",
            ),
            fig(
                "Net present value of savings after tax",
                Value::Money(r.npv_after_tax),
                "USD",
                "summary.returns.npv_after_tax",
            ),
            fig(
                "IRR of self-hosting after tax",
                r.irr_after_tax
                    .map_or_else(|| text(&r.irr_after_tax_note), Value::Percent),
                "a year",
                "summary.returns.irr_after_tax",
            ),
            fig(
                "Depreciation tax shield",
                Value::Money(r.depreciation_tax_shield),
                "USD",
                "summary.returns.depreciation_tax_shield",
            ),
        ]);
    }
    let volume = s.break_even_volume.clone().unwrap_or_default();
    out.push(if volume.reached {
        fig(
            "Break-even volume",
            Value::Number(volume.requests_per_day),
            "requests per day",
            "summary.break_even_volume.requests_per_day",
        )
    } else {
        fig(
            "Break-even volume",
            text(&format!("not reached: {}", volume.not_reached_reason)),
            "",
            "summary.break_even_volume.requests_per_day",
        )
    });
    out.extend([
        fig(
            "Replica tensor-parallel size",
            Value::Number(f64::from(s.tensor_parallel)),
            "GPUs",
            "summary.tensor_parallel",
        ),
        fig(
            "Requests per second per replica",
            Value::Number(s.replica_requests_per_second),
            "requests per second",
            "summary.replica_requests_per_second",
        ),
        fig(
            "Output tokens per second per GPU",
            Value::Number(s.output_tokens_per_second_per_gpu),
            "tokens per second",
            "summary.output_tokens_per_second_per_gpu",
        ),
        fig(
            "Expected error of that throughput",
            Value::Percent(s.throughput_expected_error),
            "",
            "summary.throughput_expected_error",
        ),
        fig(
            "API prices used",
            text(&s.api_prices_used.join(", ")),
            "",
            "summary.api_prices_used",
        ),
    ]);
    if let Some(sim) = &output.simulation {
        out.extend([
            fig(
                "Simulation: P(self-hosting cheaper)",
                Value::Percent(sim.p_self_host_cheaper),
                "",
                "simulation.p_self_host_cheaper",
            ),
            fig(
                "Simulation: P(no break-even)",
                Value::Percent(sim.p_no_break_even),
                "",
                "simulation.p_no_break_even",
            ),
            fig(
                "Simulation: median NPV of savings",
                Value::Money(sim.npv_savings.map_or(0.0, |n| n.p50)),
                "USD",
                "simulation.npv_savings.p50",
            ),
            fig(
                "Simulation: value at risk, 95%",
                Value::Money(sim.var_95),
                "USD",
                "simulation.var_95",
            ),
            fig(
                "Simulation: conditional value at risk, 95%",
                Value::Money(sim.cvar_95),
                "USD",
                "simulation.cvar_95",
            ),
            fig(
                "Simulation: paths",
                Value::Number(sim.paths as f64),
                "",
                "simulation.paths",
            ),
        ]);
    }
    out
}

/// The scenario's fields as given (unset ones are not serialised: they are
/// in the assumptions), each with its unit; then the run options.
fn input_figures(inputs: &pb::RunInputs) -> Result<Vec<Figure>> {
    let domain = scenario(inputs.scenario.as_ref())?;
    let json = serde_json::to_value(&domain)
        .map_err(|e| Error::Internal(format!("cannot flatten scenario: {e}")))?;
    let mut out = Vec::new();
    flatten("", &json, &mut out);
    if let Some(o) = &inputs.options {
        let kind = Kind::from_pb(o.kind, "options.kind").map_or("unknown", Kind::name);
        let text = |label: &str, value: String, field: &str| Figure {
            label: label.into(),
            value: Value::Text(value),
            unit: String::new(),
            field: field.into(),
        };
        out.push(text("run kind", kind.into(), "options.kind"));
        if let Some(sim) = &o.simulation {
            out.push(text(
                "simulation paths",
                sim.paths.to_string(),
                "options.simulation.paths",
            ));
            out.push(text(
                "simulation seed",
                sim.seed.to_string(),
                "options.simulation.seed",
            ));
        }
    }
    if let Some(c) = &inputs.calibration {
        out.push(Figure {
            label: "calibration".into(),
            value: Value::Text(c.name.clone()),
            unit: String::new(),
            field: "calibration".into(),
        });
    }
    Ok(out)
}

fn flatten(path: &str, value: &serde_json::Value, out: &mut Vec<Figure>) {
    use serde_json::Value as J;
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match value {
        J::Object(map) => map.iter().for_each(|(k, v)| flatten(&join(k), v, out)),
        J::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{path}[{i}]"), v, out);
            }
        }
        J::Null => {}
        other => {
            let name = path.rsplit('.').next().unwrap_or(path);
            let name = name.split('[').next().unwrap_or(name);
            let (unit, kind) = unit_of(name);
            let value = match other {
                J::Number(n) => {
                    let n = n.as_f64().unwrap_or_default();
                    match kind {
                        Reads::Money => Value::Money(n),
                        Reads::Fraction => Value::Percent(n),
                        Reads::Number => Value::Number(n),
                    }
                }
                J::Bool(b) => Value::Bool(*b),
                J::String(s) => Value::Text(s.clone()),
                _ => Value::Text(other.to_string()),
            };
            out.push(Figure {
                label: name.replace('_', " "),
                value,
                unit: unit.into(),
                field: path.to_string(),
            });
        }
    }
}

/// How a scenario number reads.
#[derive(Debug, Clone, Copy)]
enum Reads {
    Money,
    Fraction,
    Number,
}

/// The unit of a scenario field, from its name: the scenario's names end
/// in their unit (`_usd_per_gpu_hour`, `_months`, `_fraction`), and the
/// few that do not are listed.
fn unit_of(name: &str) -> (&'static str, Reads) {
    use Reads::*;
    const SUFFIXES: [(&str, &str, Reads); 18] = [
        ("_usd_per_gpu_hour", "USD per GPU-hour", Money),
        ("_usd_per_gpu_month", "USD per GPU per month", Money),
        ("_usd_per_kw_month", "USD per kW per month", Money),
        ("_usd_per_kwh", "USD per kWh", Money),
        ("_usd_per_gpu", "USD per GPU", Money),
        ("_usd_per_month", "USD per month", Money),
        ("_usd", "USD", Money),
        ("_fraction", "", Fraction),
        ("_months", "months", Number),
        ("_month", "", Number),
        ("_watts_per_gpu", "W per GPU", Number),
        ("_seconds", "seconds", Number),
        ("requests_per_day", "requests per day", Number),
        (
            "requests_per_second_per_replica",
            "requests per second",
            Number,
        ),
        (
            "output_tokens_per_second_per_gpu",
            "tokens per second",
            Number,
        ),
        ("tokens_per_month", "tokens per month", Number),
        ("_tokens", "tokens", Number),
        ("_gpus", "GPUs", Number),
    ];
    if let Some((_, unit, kind)) = SUFFIXES.iter().find(|(s, _, _)| name.ends_with(s)) {
        return (unit, *kind);
    }
    match name {
        "discount_rate" | "annual_growth" | "annual_price_decline" | "cost_of_capital" => {
            ("per year", Fraction)
        }
        "target_utilization" | "expected_error" | "duty_cycle" | "input_share" | "discount"
        | "quality_factor" => ("", Fraction),
        "hours_per_day" => ("hours per day", Number),
        "days_per_month" => ("days", Number),
        "min_replicas" => ("replicas", Number),
        "tensor_parallel" => ("GPUs", Number),
        "pue" | "peak_to_average" | "price_multiplier" | "tokenizer_ratio" => ("ratio", Number),
        "load_shape" => ("hourly weight", Number),
        _ => ("", Number),
    }
}

fn assumption(a: &pb::Assumption) -> AssumptionLine {
    let origin = match pb::AssumptionOrigin::try_from(a.origin) {
        Ok(pb::AssumptionOrigin::Scenario) => "scenario",
        Ok(pb::AssumptionOrigin::Catalogue) => "catalogue",
        Ok(pb::AssumptionOrigin::BuiltInDefault) => "built-in default",
        Ok(pb::AssumptionOrigin::Derived) => "derived",
        _ => "",
    };
    AssumptionLine {
        field: a.field.clone(),
        value: a.value.clone(),
        origin: origin.into(),
        entry: a.entry.clone(),
        source: a.source.clone(),
    }
}

fn month(m: &pb::MonthRow) -> MonthLine {
    MonthLine {
        month: m.month,
        date: date(&m.date),
        requests_per_day: m.requests_per_day,
        input_tokens: m.input_tokens,
        output_tokens: m.output_tokens,
        api_cost: m.api_cost,
        fine_tuned_api_cost: m.fine_tuned_api_cost,
        self_hosted_requests_per_day: m.self_hosted_requests_per_day,
        api_requests_per_day_in_self_host: m.api_requests_per_day_in_self_host,
        replicas_needed: m.replicas_needed,
        gpus_needed: m.gpus_needed,
        gpus_held: m.gpus_held,
        rental: m.rental,
        depreciation: m.depreciation,
        cost_of_capital: m.cost_of_capital,
        power: m.power,
        colocation: m.colocation,
        staff: m.staff,
        disposal: m.disposal,
        book_value: m.book_value,
        residual_api_cost: m.residual_api_cost,
        self_host_pnl: m.self_host_pnl,
        capex_paid: m.capex_paid,
        resale: m.resale,
        self_host_cash: m.self_host_cash,
        utilization: m.utilization,
        utilization_whole_month: m.utilization_whole_month,
        cumulative_api: m.cumulative_api,
        cumulative_self_host_pnl: m.cumulative_self_host_pnl,
        cumulative_self_host_cash: m.cumulative_self_host_cash,
    }
}

fn stats(p: &Option<pb::Percentiles>) -> Stats {
    let p = p.unwrap_or_default();
    Stats {
        p5: p.p5,
        p25: p.p25,
        p50: p.p50,
        p75: p.p75,
        p95: p.p95,
        mean: p.mean,
        std_error: p.std_error,
        min: p.min,
        max: p.max,
    }
}

fn simulation(s: &pb::SimulationResult) -> Simulation {
    Simulation {
        months: s
            .months
            .iter()
            .map(|m| SimulationMonth {
                month: m.month,
                date: date(&m.date),
                api: stats(&m.api),
                self_host: stats(&m.self_host),
                cumulative_api: stats(&m.cumulative_api),
                cumulative_self_host: stats(&m.cumulative_self_host),
                cumulative_savings: stats(&m.cumulative_savings),
                mean_utilization: m.mean_utilization,
                p_break_even_by: m.p_break_even_by,
                p_break_even_by_se: m.p_break_even_by_se,
            })
            .collect(),
        npv_savings: stats(&s.npv_savings),
        var_95: s.var_95,
        cvar_95: s.cvar_95,
        p_no_break_even: s.p_no_break_even,
        p_self_host_cheaper: s.p_self_host_cheaper,
        paths: s.paths,
        seed: s.seed,
        antithetic: s.antithetic,
        quantile_relative_error: s.quantile_relative_error,
        investment: s.investment.as_ref().map(|x| Investment {
            hurdle_rate: x.hurdle_rate,
            payback_within_months: x.payback_within_months,
            irr: stats(&x.irr),
            p_no_irr: x.p_no_irr,
            p_irr_above_hurdle: x.p_irr_above_hurdle,
            p_payback_by: x.p_payback_by.clone(),
            p_payback_within: x.p_payback_within,
            p_no_payback: x.p_no_payback,
        }),
    }
}

fn sensitivity(c: &pb::SensitivityCase) -> SensitivityLine {
    let volume = c.break_even_volume.clone().unwrap_or_default();
    SensitivityLine {
        input: c.input.clone(),
        change: c.change,
        break_even_month: (c.break_even_month > 0).then_some(c.break_even_month),
        break_even_volume: volume.reached.then_some(volume.requests_per_day),
        horizon_savings: c.horizon_savings,
    }
}
