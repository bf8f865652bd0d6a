//! CompareRuns: a baseline run beside others, figure by figure, the way a
//! cost tool shows the difference between today's plan and a proposed one.

use std::collections::BTreeMap;

use super::execute;
use super::pb;
use super::simulation::scenario;
use crate::error::{Error, Result};

/// One figure of a run: name, unit and value.
pub(super) type Figure = (&'static str, &'static str, f64);

/// Every horizon cost line and headline figure of a run, in a fixed order.
pub(super) fn figures(run: &pb::Run) -> Vec<Figure> {
    let output = run.output.clone().unwrap_or_default();
    let projection = output.projection.unwrap_or_default();
    let s = projection.summary.unwrap_or_default();
    let k = run.key_figures.unwrap_or_default();
    let sum = |f: fn(&pb::MonthRow) -> f64| projection.months.iter().map(f).sum::<f64>();
    let mut out: Vec<Figure> = vec![
        ("api_cost", "usd", sum(|m| m.api_cost)),
        ("fine_tuned_api_cost", "usd", sum(|m| m.fine_tuned_api_cost)),
        ("rental", "usd", sum(|m| m.rental)),
        ("depreciation", "usd", sum(|m| m.depreciation)),
        ("cost_of_capital", "usd", sum(|m| m.cost_of_capital)),
        ("power", "usd", sum(|m| m.power)),
        ("colocation", "usd", sum(|m| m.colocation)),
        ("staff", "usd", sum(|m| m.staff)),
        ("capex_paid", "usd", sum(|m| m.capex_paid)),
        ("resale", "usd", sum(|m| m.resale)),
        ("residual_api_cost", "usd", sum(|m| m.residual_api_cost)),
        ("self_host_pnl", "usd", sum(|m| m.self_host_pnl)),
        ("self_host_cash", "usd", sum(|m| m.self_host_cash)),
        ("total_self_host", "usd", k.total_self_host),
        ("savings", "usd", k.savings),
        ("npv_api", "usd", s.npv_api),
        ("npv_self_host", "usd", s.npv_self_host),
        ("break_even_month", "month", f64::from(s.break_even_month)),
        (
            "first_crossover_month",
            "month",
            f64::from(s.first_crossover_month),
        ),
        (
            "api_cost_per_million_tokens",
            "usd_per_million_tokens",
            s.api_cost_per_million_tokens,
        ),
        (
            "self_host_cost_per_million_tokens",
            "usd_per_million_tokens",
            s.self_host_cost_per_million_tokens,
        ),
        ("mean_utilization", "fraction", s.mean_utilization),
        (
            "peak_gpus_held",
            "gpus",
            projection
                .months
                .iter()
                .map(|m| f64::from(m.gpus_held))
                .fold(0.0, f64::max),
        ),
        (
            "break_even_volume",
            "requests_per_day",
            s.break_even_volume
                .filter(|v| v.reached)
                .map_or(0.0, |v| v.requests_per_day),
        ),
    ];
    if let Some(sim) = output.simulation {
        out.extend([
            (
                "p_self_host_cheaper",
                "probability",
                sim.p_self_host_cheaper,
            ),
            ("p_no_break_even", "probability", sim.p_no_break_even),
            (
                "median_npv_savings",
                "usd",
                sim.npv_savings.map_or(0.0, |n| n.p50),
            ),
            ("var_95", "usd", sim.var_95),
            ("cvar_95", "usd", sim.cvar_95),
        ]);
    }
    out
}

/// Puts `others` beside `baseline`. Figures only some runs have (the
/// simulation's) are left out unless every run has them.
pub(super) fn compare(baseline: pb::Run, others: Vec<pb::Run>) -> Result<pb::CompareRunsResponse> {
    let base = figures(&baseline);
    let rest: Vec<BTreeMap<&str, f64>> = others
        .iter()
        .map(|o| figures(o).into_iter().map(|(n, _, v)| (n, v)).collect())
        .collect();
    let lines = base
        .iter()
        .filter(|(name, _, _)| rest.iter().all(|r| r.contains_key(name)))
        .map(|&(name, unit, value)| {
            let values: Vec<f64> = rest.iter().map(|r| r[name]).collect();
            pb::ComparedLine {
                name: name.to_string(),
                unit: unit.to_string(),
                baseline: value,
                differences: values.iter().map(|v| v - value).collect(),
                others: values,
            }
        })
        .collect();
    let base_inputs = flat_inputs(&baseline)?;
    let mut input_changes = Vec::new();
    for other in &others {
        let theirs = flat_inputs(other)?;
        let keys: std::collections::BTreeSet<&String> =
            base_inputs.keys().chain(theirs.keys()).collect();
        for key in keys {
            let (a, b) = (base_inputs.get(key), theirs.get(key));
            if a != b {
                let show = |v: Option<&String>| v.cloned().unwrap_or_else(|| "(none)".into());
                input_changes.push(format!("{key}: {} -> {} ({})", show(a), show(b), other.id));
            }
        }
    }
    let strip = |mut run: pb::Run| {
        run.inputs = None;
        run.output = None;
        run
    };
    Ok(pb::CompareRunsResponse {
        baseline: Some(strip(baseline)),
        others: others.into_iter().map(strip).collect(),
        lines,
        input_changes,
    })
}

/// A run's scenario and options as `path = value` pairs.
fn flat_inputs(run: &pb::Run) -> Result<BTreeMap<String, String>> {
    let inputs = run.inputs.clone().unwrap_or_default();
    let domain = scenario(inputs.scenario.as_ref())?;
    let value = serde_json::to_value(&domain)
        .map_err(|e| Error::Internal(format!("cannot flatten scenario: {e}")))?;
    let mut out = BTreeMap::new();
    flatten("scenario", &value, &mut out);
    if let Some(o) = &inputs.options {
        let kind = execute::Kind::from_pb(o.kind, "options.kind").map_or("?", |k| k.name());
        out.insert("options.kind".into(), kind.to_string());
        out.insert("options.basis".into(), o.basis.to_string());
        if let Some(sim) = &o.simulation {
            out.insert("options.simulation.paths".into(), sim.paths.to_string());
            out.insert("options.simulation.seed".into(), sim.seed.to_string());
            out.insert(
                "options.simulation.antithetic".into(),
                sim.antithetic.to_string(),
            );
        }
    }
    if let Some(c) = &inputs.calibration {
        out.insert("calibration".into(), c.name.clone());
    }
    Ok(out)
}

fn flatten(prefix: &str, value: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                flatten(&format!("{prefix}.{k}"), v, out);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}
