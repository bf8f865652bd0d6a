//! Comparing every option for one workload: each API price in the
//! catalogue and each self-host configuration that fits.

use crate::catalog::{Catalog, Precision};
use crate::error::{Error, Result};
use crate::estimator::Calibration;

use super::project::PathInputs;
use super::scenario::{Routing, Scenario};

/// One option's costs.
#[derive(Debug, Clone, PartialEq)]
pub struct CostOption {
    pub kind: OptionKind,
    pub id: String,
    pub month_one_cost: f64,
    pub horizon_cost: f64,
    pub cost_per_million_tokens: f64,
    pub gpus_month_one: u32,
    pub tensor_parallel: u32,
    pub notes: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionKind {
    Api,
    SelfHost,
}

/// Every option for `template`'s workload, horizon and self-host settings,
/// ranked by horizon cost; also what was skipped and why.
pub fn compare(
    catalog: &Catalog,
    template: &Scenario,
    calibration: &Calibration,
) -> Result<(Vec<CostOption>, Vec<String>)> {
    let start = template.month_start(1)?;
    let mut options = Vec::new();
    let mut skipped = Vec::new();
    let mut months = Vec::new();

    // The API side: any valid self-host setting works, only API lines are read.
    let mut probe = template.clone();
    probe.routing = Routing::AllSelfHosted;
    let in_force: Vec<_> = catalog
        .prices()
        .ids()
        .filter_map(|id| catalog.prices().in_force(id, start).ok())
        .collect();
    // The probe needs a price offered through the whole horizon; prices
    // retired earlier are skipped below, not fatal.
    let end = template.month_start(template.horizon_months)?;
    let Some(lasting) = in_force
        .iter()
        .find(|p| catalog.prices().in_force(&p.id, end).is_ok())
    else {
        return Err(Error::FailedPrecondition(format!(
            "no API price is in force from {start} through {end}"
        )));
    };
    probe.api.price_id = lasting.id.clone();
    let base = first_fitting(catalog, &probe, calibration)?;
    for price in &in_force {
        let mut s = base.clone();
        s.api.price_id = price.id.clone();
        let plan = match super::plan::plan(catalog, &s, calibration, "") {
            Ok(p) => p,
            Err(e) => {
                skipped.push(format!("{}: {e}", price.id));
                continue;
            }
        };
        plan.run(&PathInputs::default(), &mut months);
        let total: f64 = months.iter().map(|m| m.api_cost).sum();
        let tokens: f64 = months
            .iter()
            .map(|m| m.input_tokens + m.output_tokens)
            .sum();
        options.push(CostOption {
            kind: OptionKind::Api,
            id: price.id.clone(),
            month_one_cost: months[0].api_cost,
            horizon_cost: total,
            cost_per_million_tokens: if tokens > 0.0 {
                total / tokens * 1e6
            } else {
                0.0
            },
            gpus_month_one: 0,
            tensor_parallel: 0,
            notes: format!("{} {}", price.provider_name, price.name),
        });
    }

    for model in catalog.models() {
        for gpu in catalog.gpus() {
            for precision in [
                Precision::Bf16,
                Precision::Fp8,
                Precision::Fp4,
                Precision::Int4,
            ] {
                let compute = crate::estimator::roofline::compute_precision(precision);
                if !gpu.dense_tflops.contains_key(&compute) {
                    continue;
                }
                let mut s = base.clone();
                s.self_host.model = model.id.clone();
                s.self_host.gpu = gpu.id.clone();
                s.self_host.precision = Some(precision.name().into());
                s.self_host.kv_precision = String::new();
                s.self_host.tensor_parallel = 0;
                let id = format!("{}/{}/{}", model.id, gpu.id, precision);
                let plan = match super::plan::plan(catalog, &s, calibration, "") {
                    Ok(p) => p,
                    Err(e) => {
                        skipped.push(format!("{id}: {e}"));
                        continue;
                    }
                };
                plan.run(&PathInputs::default(), &mut months);
                let total: f64 = months.iter().map(|m| m.self_host_pnl).sum();
                let tokens: f64 = months
                    .iter()
                    .map(|m| m.input_tokens + m.output_tokens)
                    .sum();
                options.push(CostOption {
                    kind: OptionKind::SelfHost,
                    id,
                    month_one_cost: months[0].self_host_pnl,
                    horizon_cost: total,
                    cost_per_million_tokens: if tokens > 0.0 {
                        total / tokens * 1e6
                    } else {
                        0.0
                    },
                    gpus_month_one: months[0].gpus_held,
                    tensor_parallel: plan.tensor_parallel,
                    notes: format!(
                        "{:.0} output tok/s/GPU ±{:.0}%",
                        plan.estimate.output_tokens_per_second_per_gpu,
                        plan.estimate.expected_error * 100.0
                    ),
                });
            }
        }
    }
    options.sort_by(|a, b| {
        a.horizon_cost
            .total_cmp(&b.horizon_cost)
            .then_with(|| a.id.cmp(&b.id))
    });
    Ok((options, skipped))
}

/// The template with a self-host option that plans, so that API options
/// can be costed; validation errors of the template come out here.
fn first_fitting(
    catalog: &Catalog,
    template: &Scenario,
    calibration: &Calibration,
) -> Result<Scenario> {
    template.validate(catalog, "")?;
    // The template's own model may not fit; the API lines do not care.
    if super::plan::plan(catalog, template, calibration, "").is_ok() {
        return Ok(template.clone());
    }
    let mut fallback = template.clone();
    fallback.self_host.model = "llama-3.1-8b".into();
    fallback.self_host.gpu = catalog
        .gpus()
        .max_by(|a, b| a.memory_gb.total_cmp(&b.memory_gb))
        .map(|g| g.id.clone())
        .unwrap_or_default();
    fallback.self_host.precision = Some("bf16".into());
    fallback.self_host.ttft_seconds = 0.0;
    fallback.self_host.tpot_seconds = 0.0;
    super::plan::plan(catalog, &fallback, calibration, "").map(|_| fallback)
}
