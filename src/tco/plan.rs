//! A scenario resolved against the catalogue and the estimator once, so
//! that the monthly model ([`super::project`]) does arithmetic only.

use crate::catalog::{ApiPrice, Catalog, Gpu, Precision};
use crate::error::{Error, Result};
use crate::estimator::{self, Calibration, Estimate, Query, Targets, Workload};

use super::scenario::{Deployment, FineTune, Routing, Scenario, VolumeDiscount};

/// API rates in force in one month, $ per million tokens, before the
/// scenario's expected decline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ApiRates {
    pub input: f64,
    pub cached_input: f64,
    pub output: f64,
    /// Share of the bill the batch API saves on eligible traffic.
    pub batch_discount: f64,
}

impl ApiRates {
    /// The rates of a catalogue entry for prompts of `input_tokens`: the
    /// highest long-context tier the prompt exceeds applies.
    pub fn of(price: &ApiPrice, input_tokens: f64) -> ApiRates {
        let tier = price
            .long_context
            .iter()
            .rfind(|t| input_tokens > f64::from(t.above_input_tokens));
        let (input, output, cached) = match tier {
            Some(t) => (
                t.input_usd_per_mtok,
                t.output_usd_per_mtok,
                t.cached_input_usd_per_mtok,
            ),
            None => (
                price.input_usd_per_mtok,
                price.output_usd_per_mtok,
                price.cached_input_usd_per_mtok,
            ),
        };
        let batch_discount = price
            .batch_input_usd_per_mtok
            .map(|b| (1.0 - b / price.input_usd_per_mtok).clamp(0.0, 1.0))
            .unwrap_or(0.0);
        ApiRates {
            input,
            cached_input: cached.unwrap_or(input),
            output,
            batch_discount,
        }
    }
}

/// The owned deployment with catalogue defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedCosts {
    /// Purchase plus server cost per GPU, USD.
    pub capex_per_gpu: f64,
    pub depreciation_months: u32,
    pub cost_of_capital: f64,
    pub resale_fraction: f64,
    /// kW drawn per GPU at load, PUE included.
    pub kw_at_load_per_gpu: f64,
    pub power_usd_per_kwh: f64,
    /// Provisioned kW per GPU (TDP plus host), billed by colocation.
    pub kw_provisioned_per_gpu: f64,
    pub colocation_usd_per_kw_month: f64,
    pub staff_usd_per_month: f64,
    pub staff_usd_per_gpu_month: f64,
    pub lead_time_months: u32,
    pub lot_gpus: u32,
}

/// How self-hosted GPUs are paid for, resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum Costs {
    Rented {
        usd_per_gpu_hour: f64,
        annual_decline: f64,
    },
    Owned(OwnedCosts),
}

/// A validated scenario with everything looked up.
#[derive(Debug, Clone)]
pub struct Plan {
    pub scenario: Scenario,
    pub horizon: usize,
    pub hours_per_month: f64,
    /// API rates for each month (index t−1), at catalogue prices in force
    /// on the first day, times the expected decline.
    pub api_rates: Vec<ApiRates>,
    /// The catalogue entries behind `api_rates`, one per distinct entry.
    pub api_prices: Vec<ApiPrice>,
    pub volume_discounts: Vec<VolumeDiscount>,
    pub fine_tune: Option<FineTune>,
    /// The throughput estimate for one replica on the open model's tokens.
    pub estimate: Estimate,
    /// The estimator query behind `estimate`, for sweeps and curves of the
    /// same configuration.
    pub query: Query,
    pub gpu: Gpu,
    pub tensor_parallel: u32,
    /// Requests per second one replica sustains within the targets.
    pub replica_requests_per_s: f64,
    pub costs: Costs,
    pub routing: Routing,
}

/// Validates `scenario` and resolves it. `prefix` goes before field paths
/// in errors (e.g. "scenario.").
pub fn plan(
    catalog: &Catalog,
    scenario: &Scenario,
    calibration: &Calibration,
    prefix: &str,
) -> Result<Plan> {
    scenario.validate(catalog, prefix)?;
    let horizon = scenario.horizon_months as usize;
    let w = &scenario.workload;

    let mut api_rates = Vec::with_capacity(horizon);
    let mut api_prices: Vec<ApiPrice> = Vec::new();
    for t in 1..=scenario.horizon_months {
        let day = scenario.month_start(t)?;
        let price = catalog
            .prices()
            .in_force(&scenario.api.price_id, day)
            .map_err(|e| match e {
                Error::NotFound(m) => {
                    Error::FailedPrecondition(format!("{prefix}api.price_id: {m}"))
                }
                other => other,
            })?;
        if api_prices
            .last()
            .is_none_or(|p| p.effective_date != price.effective_date)
        {
            api_prices.push(price.clone());
        }
        let decline = (1.0 - scenario.api.annual_price_decline).powf(f64::from(t - 1) / 12.0);
        let rates = ApiRates::of(price, w.input_tokens);
        api_rates.push(ApiRates {
            input: rates.input * decline,
            cached_input: rates.cached_input * decline,
            output: rates.output * decline,
            batch_discount: rates.batch_discount,
        });
    }

    let s = &scenario.self_host;
    let gpu = catalog.gpu(&s.gpu)?.clone();
    let weights = Precision::parse(&s.precision).unwrap_or(Precision::Bf16);
    let kv = Precision::parse(&s.kv_precision).unwrap_or(match weights {
        Precision::Fp8 | Precision::Fp4 => Precision::Fp8,
        _ => Precision::Bf16,
    });
    // The open model sees the same text as more or fewer tokens.
    let tokens = |n: f64| {
        (n * s.tokenizer_ratio)
            .round()
            .clamp(1.0, f64::from(u32::MAX)) as u32
    };
    let limit = |v: f64| (v > 0.0).then_some(v);
    let query = Query {
        model: s.model.clone(),
        gpu: s.gpu.clone(),
        weight_precision: weights,
        kv_precision: kv,
        tensor_parallel: s.tensor_parallel,
        layout: None,
        workload: Workload {
            input_tokens: tokens(w.input_tokens),
            output_tokens: tokens(w.output_tokens),
            concurrency: 0,
        },
        targets: Targets {
            ttft_s: limit(s.ttft_seconds),
            tpot_s: limit(s.tpot_seconds),
        },
    };
    let estimate = estimator::estimate(catalog, &query, calibration)
        .map_err(|e| prefix_error(e, &format!("{prefix}self_host.")))?;
    if !estimate.meets_targets {
        return Err(Error::FailedPrecondition(format!(
            "{prefix}self_host: {} on {} cannot meet the latency targets even one request at a time \
             (TTFT {:.3} s, TPOT {:.4} s)",
            s.model, s.gpu, estimate.ttft_s, estimate.tpot_s
        )));
    }

    let costs = match &s.deployment {
        Deployment::Rented(r) => Costs::Rented {
            usd_per_gpu_hour: match r.rate.as_str() {
                "reserved" => gpu.rental_reserved_1y_per_gpu_hour.usd,
                "custom" => r.usd_per_gpu_hour,
                _ => gpu.rental_on_demand_per_gpu_hour.usd,
            },
            annual_decline: r.annual_price_decline,
        },
        Deployment::Owned(o) => {
            let or = |v: f64, default: f64| if v > 0.0 { v } else { default };
            let host_kw = o.host_watts_per_gpu / 1000.0;
            let tdp_kw = gpu.tdp_w / 1000.0;
            Costs::Owned(OwnedCosts {
                capex_per_gpu: or(o.purchase_usd_per_gpu, gpu.purchase_per_gpu.usd)
                    + or(
                        o.server_usd_per_gpu,
                        gpu.server_per_gpu.as_ref().map_or(0.0, |f| f.usd),
                    ),
                depreciation_months: o.depreciation_months,
                cost_of_capital: o.cost_of_capital,
                resale_fraction: o.resale_fraction,
                kw_at_load_per_gpu: (tdp_kw * o.load_fraction + host_kw) * o.pue,
                power_usd_per_kwh: o.power_usd_per_kwh,
                kw_provisioned_per_gpu: tdp_kw + host_kw,
                colocation_usd_per_kw_month: o.colocation_usd_per_kw_month,
                staff_usd_per_month: o.staff_usd_per_month,
                staff_usd_per_gpu_month: o.staff_usd_per_gpu_month,
                lead_time_months: o.lead_time_months,
                lot_gpus: if o.lot_gpus > 0 {
                    o.lot_gpus
                } else {
                    gpu.gpus_per_node
                },
            })
        }
    };

    Ok(Plan {
        query,
        horizon,
        hours_per_month: w.days_per_month * 24.0,
        api_rates,
        api_prices,
        volume_discounts: scenario.api.volume_discounts.clone(),
        fine_tune: scenario.api.fine_tune,
        replica_requests_per_s: estimate.requests_per_second_per_replica,
        tensor_parallel: estimate.tensor_parallel,
        estimate,
        gpu,
        costs,
        routing: scenario.routing,
        scenario: scenario.clone(),
    })
}

fn prefix_error(err: Error, prefix: &str) -> Error {
    match err {
        Error::InvalidArgument(v) => Error::InvalidArgument(
            v.into_iter()
                .map(|v| {
                    crate::error::FieldViolation::new(format!("{prefix}{}", v.field), v.description)
                })
                .collect(),
        ),
        Error::FailedPrecondition(m) => Error::FailedPrecondition(format!("{prefix}{m}")),
        other => other,
    }
}
