//! `breakeven speed`: wall-clock figures of the hot paths on this machine,
//! printed for the README and for capacity planning. Timings are measured
//! here, never asserted in tests; `cargo bench` gives the statistically
//! careful version of the same figures.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use crate::catalog::{Catalog, Precision};
use crate::estimator::{self, Calibration, Query, Targets, Workload};
use crate::montecarlo::{
    self, ApiPriceProcess, DemandProcess, Distribution, GpuPriceProcess, Settings, Stochastic,
};
use crate::tco::scenario::Routing;
use crate::tco::{self, Basis, PathInputs, Scenario};

/// A 60-month owned-H100 scenario with every process switched on.
pub const BENCH_SCENARIO: &str = r#"
name = "speed"
horizon_months = 60
start_month = "2025-06"
[workload]
requests_per_day = 500000
input_tokens = 1000
output_tokens = 250
annual_growth = 0.8
cached_input_fraction = 0.3
[api]
price_id = "gpt-4o"
[self_host]
model = "llama-3.1-70b"
gpu = "h100-sxm"
precision = "fp8"
[self_host.deployment.owned]
lead_time_months = 2
staff_usd_per_month = 20000
"#;

/// The stochastic inputs of the speed run.
pub fn bench_stochastic() -> Stochastic {
    Stochastic {
        demand: Some(DemandProcess::Gbm { volatility: 0.4 }),
        api_price: Some(ApiPriceProcess::SameProduct {
            annual_drift: -0.1,
            cuts_per_year: 0.5,
            cut_size: Distribution::Uniform {
                min: 0.5,
                max: 0.67,
            },
        }),
        gpu_price: Some(GpuPriceProcess {
            annual_decline: 0.15,
            volatility: 0.3,
            reversion_per_year: 1.0,
        }),
        annual_failure_rate: 0.05,
        ..Default::default()
    }
}

fn per_call(iterations: u32, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    start.elapsed() / iterations
}

/// Runs the measurements and returns the report; `investment` also asks
/// the Monte Carlo run for every path's IRR and payback month (a hurdle of
/// 15% a year, payback within 24 months).
pub fn report(catalog: &Catalog, paths: u64, investment: bool) -> crate::Result<String> {
    let calibration = Calibration::defaults();
    let scenario = Scenario::from_toml(BENCH_SCENARIO)?;
    let query = Query {
        model: "llama-3.1-70b".into(),
        gpu: "h100-sxm".into(),
        weight_precision: Precision::Fp8,
        kv_precision: Precision::Fp8,
        tensor_parallel: 0,
        layout: None,
        workload: Workload {
            input_tokens: 1000,
            output_tokens: 250,
            concurrency: 0,
        },
        targets: Targets {
            ttft_s: Some(2.0),
            tpot_s: Some(0.05),
        },
    };
    let estimate = per_call(2_000, || {
        std::hint::black_box(estimator::estimate(catalog, &query, &calibration).ok());
    });
    let mut long = scenario.clone();
    long.horizon_months = 240;
    let project = per_call(200, || {
        std::hint::black_box(tco::project(catalog, &long, &calibration, Basis::ProfitAndLoss).ok());
    });
    let plan = tco::plan(catalog, &long, &calibration, "")?;
    let mut months = Vec::with_capacity(240);
    let core = per_call(2_000, || {
        plan.run(&PathInputs::default(), &mut months);
        std::hint::black_box(&months);
    });

    let plan60 = tco::plan(catalog, &scenario, &calibration, "")?;
    let settings = Settings {
        paths,
        seed: 1,
        antithetic: true,
        basis: Basis::ProfitAndLoss,
        tornado_paths: 0,
        finance: investment.then_some(montecarlo::FinanceQuestions {
            hurdle_rate: 0.15,
            payback_months: 24,
        }),
    };
    let start = Instant::now();
    let outcome = montecarlo::simulate(
        &plan60,
        &bench_stochastic(),
        &settings,
        &AtomicBool::new(false),
        |_| {},
    )?;
    let wall = start.elapsed();
    let path_months = paths as f64 * 60.0;
    let last = (outcome.months.last())
        .ok_or_else(|| crate::Error::Internal("a 60-month run without months".into()))?;

    Ok(format!(
        "breakeven speed on {threads} threads\n\
         EstimateThroughput (llama-3.1-70b fp8, h100-sxm, best within targets): {estimate:>10.2?}\n\
         Project, 240 months end to end:                                         {project:>10.2?}\n\
         per-path core, 240 months:                                              {core:>10.2?} ({per_month:.1} ns per month)\n\
         Monte Carlo, {paths} paths x 60 months, investment figures {on}:        {wall:>10.2?} ({rate:.1} M path-months/s)\n\
         (median NPV of savings {npv:.0} USD, P(self-hosting cheaper) {p:.3})\n\
         (means over 60 months, ± one standard error: API {api:.0} ± {api_se:.0} USD, \
         self-hosting {sh:.0} ± {sh_se:.0} USD, NPV of savings {npv_mean:.0} ± {npv_se:.0} USD)\n",
        threads = rayon::current_num_threads(),
        on = if investment { "on " } else { "off" },
        per_month = core.as_nanos() as f64 / 240.0,
        rate = path_months / wall.as_secs_f64() / 1e6,
        npv = outcome.npv_savings.p50,
        p = outcome.p_self_host_cheaper,
        api = last.cumulative_api.mean,
        api_se = last.cumulative_api.std_error,
        sh = last.cumulative_self_host.mean,
        sh_se = last.cumulative_self_host.std_error,
        npv_mean = outcome.npv_savings.mean,
        npv_se = outcome.npv_savings.std_error,
    ))
}

/// The speed run's scenario resolved — the figures the model uses, after
/// the catalogue and the estimator — and its stochastic inputs, as JSON:
/// what another implementation of the model needs to run the same
/// scenario (`benches/numpy/baseline.py` reads it).
pub fn bench_plan_json(catalog: &Catalog) -> crate::Result<String> {
    let plan = tco::plan(
        catalog,
        &Scenario::from_toml(BENCH_SCENARIO)?,
        &Calibration::defaults(),
        "",
    )?;
    let (tco::plan::Costs::Owned(o), Routing::AllSelfHosted) = (&plan.costs, plan.routing) else {
        return Err(crate::Error::Internal(
            "--plan-json covers owned GPUs serving all traffic, which the speed scenario no longer is"
                .into(),
        ));
    };
    let w = &plan.traffic;
    let sh = &plan.sizing;
    let rates =
        |f: fn(&tco::plan::ApiRates) -> f64| -> Vec<f64> { plan.api_rates.iter().map(f).collect() };
    let stochastic = bench_stochastic();
    let (
        Some(DemandProcess::Gbm {
            volatility: demand_volatility,
        }),
        Some(ApiPriceProcess::SameProduct {
            annual_drift,
            cuts_per_year,
            cut_size:
                Distribution::Uniform {
                    min: cut_min,
                    max: cut_max,
                },
        }),
        Some(gpu),
    ) = (
        stochastic.demand,
        stochastic.api_price,
        stochastic.gpu_price,
    )
    else {
        return Err(crate::Error::Internal(
            "--plan-json covers GBM demand, same-product API prices with uniform cuts and GPU prices, \
             which the speed run's processes no longer are"
                .into(),
        ));
    };
    let json = serde_json::json!({
        "scenario": plan.scenario.name,
        "horizon_months": plan.horizon,
        "discount_rate": plan.discount_rate,
        "workload": {
            "requests_per_day": w.requests_per_day,
            "input_tokens": w.input_tokens,
            "output_tokens": w.output_tokens,
            "annual_growth": w.annual_growth,
            "cached_input_fraction": w.cached_input_fraction,
            "batch_fraction": w.batch_fraction,
            "peak_to_average": w.peak_to_average,
            "days_per_month": w.days_per_month,
        },
        "api_rates": {
            "input": rates(|r| r.input),
            "cached_input": rates(|r| r.cached_input),
            "output": rates(|r| r.output),
            "batch_discount": rates(|r| r.batch_discount),
        },
        "volume_discounts": plan.volume_discounts.iter()
            .map(|t| [t.monthly_spend_usd, t.discount]).collect::<Vec<_>>(),
        "self_host": {
            "replica_requests_per_s": plan.replica_requests_per_s,
            "tensor_parallel": plan.tensor_parallel,
            "target_utilization": sh.target_utilization,
            "quality_factor": sh.quality_factor,
            "min_replicas": sh.min_replicas,
            "hours_per_month": plan.hours_per_month,
        },
        "owned": {
            "capex_per_gpu": o.capex_per_gpu,
            "depreciation_months": o.depreciation_months,
            "cost_of_capital": o.cost_of_capital,
            "resale_fraction": o.resale_fraction,
            "kw_at_load_per_gpu": o.kw_at_load_per_gpu,
            "power_usd_per_kwh": o.power_usd_per_kwh,
            "kw_provisioned_per_gpu": o.kw_provisioned_per_gpu,
            "colocation_usd_per_kw_month": o.colocation_usd_per_kw_month,
            "staff_usd_per_month": o.staff_usd_per_month,
            "staff_usd_per_gpu_month": o.staff_usd_per_gpu_month,
            "lead_time_months": o.lead_time_months,
            "lot_gpus": o.lot_gpus,
        },
        "stochastic": {
            "demand_volatility": demand_volatility,
            "api_annual_drift": annual_drift,
            "api_cuts_per_year": cuts_per_year,
            "api_cut_share": [cut_min, cut_max],
            "gpu_annual_decline": gpu.annual_decline,
            "gpu_volatility": gpu.volatility,
            "gpu_reversion_per_year": gpu.reversion_per_year,
            "annual_failure_rate": stochastic.annual_failure_rate,
        },
        "settings": { "seed": 1, "antithetic": true, "basis": "profit_and_loss" },
    });
    Ok(serde_json::to_string_pretty(&json).unwrap_or_default())
}
