//! CompareRuns: a baseline run beside others, figure by figure, the way a
//! cost tool shows the difference between today's plan and a proposed one.

use std::collections::BTreeMap;

use super::execute;
use super::pb;
use super::simulation::scenario;
use crate::error::{Error, Result};

/// One figure of a run: name, unit and value; `None` where the run has no
/// such figure (a break-even month that never comes, a volume not reached).
pub(super) type Figure = (&'static str, &'static str, Option<f64>);

/// Every horizon cost line and headline figure of a run, in a fixed order.
pub(super) fn figures(run: &pb::Run) -> Vec<Figure> {
    let output = run.output.clone().unwrap_or_default();
    let projection = output.projection.unwrap_or_default();
    let s = projection.summary.unwrap_or_default();
    let k = run.key_figures.unwrap_or_default();
    let sum = |f: fn(&pb::MonthRow) -> f64| projection.months.iter().map(f).sum::<f64>();
    // A month of 0 is the API's "never".
    let month = |t: u32| (t > 0).then_some(f64::from(t));
    let mut out: Vec<Figure> = vec![
        ("api_cost", "usd", Some(sum(|m| m.api_cost))),
        (
            "fine_tuned_api_cost",
            "usd",
            Some(sum(|m| m.fine_tuned_api_cost)),
        ),
        ("rental", "usd", Some(sum(|m| m.rental))),
        ("depreciation", "usd", Some(sum(|m| m.depreciation))),
        ("cost_of_capital", "usd", Some(sum(|m| m.cost_of_capital))),
        ("power", "usd", Some(sum(|m| m.power))),
        ("colocation", "usd", Some(sum(|m| m.colocation))),
        ("staff", "usd", Some(sum(|m| m.staff))),
        ("capex_paid", "usd", Some(sum(|m| m.capex_paid))),
        ("resale", "usd", Some(sum(|m| m.resale))),
        (
            "residual_api_cost",
            "usd",
            Some(sum(|m| m.residual_api_cost)),
        ),
        ("self_host_pnl", "usd", Some(sum(|m| m.self_host_pnl))),
        ("self_host_cash", "usd", Some(sum(|m| m.self_host_cash))),
        ("total_self_host", "usd", Some(k.total_self_host)),
        ("savings", "usd", Some(k.savings)),
        ("npv_api", "usd", Some(s.npv_api)),
        ("npv_self_host", "usd", Some(s.npv_self_host)),
        ("break_even_month", "month", month(s.break_even_month)),
        (
            "first_crossover_month",
            "month",
            month(s.first_crossover_month),
        ),
        (
            "api_cost_per_million_tokens",
            "usd_per_million_tokens",
            Some(s.api_cost_per_million_tokens),
        ),
        (
            "self_host_cost_per_million_tokens",
            "usd_per_million_tokens",
            Some(s.self_host_cost_per_million_tokens),
        ),
        ("mean_utilization", "fraction", Some(s.mean_utilization)),
        (
            "peak_gpus_held",
            "gpus",
            Some(
                projection
                    .months
                    .iter()
                    .map(|m| f64::from(m.gpus_held))
                    .fold(0.0, f64::max),
            ),
        ),
        (
            "break_even_volume",
            "requests_per_day",
            s.break_even_volume
                .filter(|v| v.reached)
                .map(|v| v.requests_per_day),
        ),
    ];
    if let Some(sim) = output.simulation {
        out.extend([
            (
                "p_self_host_cheaper",
                "probability",
                Some(sim.p_self_host_cheaper),
            ),
            ("p_no_break_even", "probability", Some(sim.p_no_break_even)),
            (
                "median_npv_savings",
                "usd",
                Some(sim.npv_savings.map_or(0.0, |n| n.p50)),
            ),
            ("var_95", "usd", Some(sim.var_95)),
            ("cvar_95", "usd", Some(sim.cvar_95)),
        ]);
    }
    out
}

/// Puts `others` beside `baseline`. Figures only some runs have (the
/// simulation's) are left out unless every run has them.
pub(super) fn compare(baseline: pb::Run, others: Vec<pb::Run>) -> Result<pb::CompareRunsResponse> {
    let base = figures(&baseline);
    let rest: Vec<BTreeMap<&str, Option<f64>>> = others
        .iter()
        .map(|o| figures(o).into_iter().map(|(n, _, v)| (n, v)).collect())
        .collect();
    let lines = base
        .iter()
        .filter(|(name, _, _)| rest.iter().all(|r| r.contains_key(name)))
        .map(|&(name, unit, value)| {
            let values: Vec<Option<f64>> = rest.iter().map(|r| r[name]).collect();
            pb::ComparedLine {
                name: name.to_string(),
                unit: unit.to_string(),
                baseline: value.unwrap_or(0.0),
                others: values.iter().map(|v| v.unwrap_or(0.0)).collect(),
                differences: values
                    .iter()
                    .map(|v| match (v, value) {
                        (Some(v), Some(base)) => v - base,
                        _ => 0.0,
                    })
                    .collect(),
                baseline_missing: value.is_none(),
                others_missing: values.iter().map(Option::is_none).collect(),
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
