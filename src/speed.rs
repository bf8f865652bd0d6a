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

/// Runs the measurements and returns the report.
pub fn report(catalog: &Catalog, paths: u64) -> crate::Result<String> {
    let calibration = Calibration::defaults();
    let scenario = Scenario::from_toml(BENCH_SCENARIO)?;
    let query = Query {
        model: "llama-3.1-70b".into(),
        gpu: "h100-sxm".into(),
        weight_precision: Precision::Fp8,
        kv_precision: Precision::Fp8,
        tensor_parallel: 0,
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

    Ok(format!(
        "breakeven speed on {threads} threads\n\
         EstimateThroughput (llama-3.1-70b fp8, h100-sxm, best within targets): {estimate:>10.2?}\n\
         Project, 240 months end to end:                                         {project:>10.2?}\n\
         per-path core, 240 months:                                              {core:>10.2?} ({per_month:.1} ns per month)\n\
         Monte Carlo, {paths} paths x 60 months:                                 {wall:>10.2?} ({rate:.1} M path-months/s)\n\
         (median NPV of savings {npv:.0} USD, P(self-hosting cheaper) {p:.3})\n",
        threads = rayon::current_num_threads(),
        per_month = core.as_nanos() as f64 / 240.0,
        rate = path_months / wall.as_secs_f64() / 1e6,
        npv = outcome.npv_savings.p50,
        p = outcome.p_self_host_cheaper,
    ))
}
