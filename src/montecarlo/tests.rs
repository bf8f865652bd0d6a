//! Statistical and reproducibility checks of the engine.

use std::sync::atomic::AtomicBool;

use super::inputs::FACTORS;
use super::paths::{Drawer, PathDraw};
use super::*;
use crate::catalog::Catalog;
use crate::estimator::{Calibration, Tuning};
use crate::tco::{self, Scenario};

fn plan(horizon: u32) -> Plan {
    let scenario = Scenario::from_toml(&format!(
        r#"
        horizon_months = {horizon}
        start_month = "2025-06"
        [workload]
        requests_per_day = 200000
        input_tokens = 1000
        output_tokens = 200
        annual_growth = 0.5
        [api]
        price_id = "gpt-4o-mini"
        [self_host]
        model = "llama-3.1-8b"
        gpu = "h100-sxm"
        precision = "fp8"
        min_replicas = 1
        [self_host.deployment.owned]
        lot_gpus = 1
        "#
    ))
    .unwrap();
    let calibration = Calibration {
        name: "default".into(),
        tuning: Tuning::default(),
        expected_error: 0.0,
        points: 0,
    };
    tco::plan(
        &Catalog::embedded().unwrap(),
        &scenario,
        &calibration,
        "scenario.",
    )
    .unwrap()
}

fn settings(paths: u64) -> Settings {
    Settings {
        paths,
        seed: 42,
        antithetic: false,
        basis: Basis::ProfitAndLoss,
        tornado_paths: 0,
        finance: None,
    }
}

fn run(plan: &Plan, stochastic: &Stochastic, settings: &Settings) -> Outcome {
    simulate(plan, stochastic, settings, &AtomicBool::new(false), |_| {}).unwrap()
}

#[test]
fn without_randomness_every_path_is_the_deterministic_projection() {
    let plan = plan(24);
    let mut months = Vec::new();
    plan.run(&tco::PathInputs::default(), &mut months);
    // No processes at all, and every process at zero volatility and drift.
    let flat = Walk {
        annual_drift: 0.0,
        volatility: 0.0,
    };
    let still = Stochastic {
        demand: Some(DemandProcess::Gbm { volatility: 0.0 }),
        api_price: Some(ApiPriceProcess::SameProduct {
            annual_drift: 0.0,
            cuts_per_year: 0.0,
            cut_size: Distribution::Fixed(0.5),
        }),
        gpu_price: Some(GpuPriceProcess {
            annual_decline: 0.0,
            volatility: 0.0,
            reversion_per_year: 1.0,
        }),
        power_price: Some(flat),
        throughput: Some(flat),
        ..Default::default()
    };
    for stochastic in [Stochastic::default(), still] {
        check_deterministic(&months, &run(&plan, &stochastic, &settings(600)));
    }
}

fn check_deterministic(months: &[tco::Month], outcome: &Outcome) {
    for (m, s) in months.iter().zip(&outcome.months) {
        assert_eq!(s.api.mean, m.api_cost, "month {}", m.t);
        assert_eq!(s.self_host.mean, m.self_host_pnl, "month {}", m.t);
        assert_eq!(s.cumulative_api.mean, m.cumulative_api);
        assert_eq!(s.cumulative_self_host.mean, m.cumulative_self_host_pnl);
        assert_eq!(s.api.std_error, 0.0);
        assert_eq!(s.self_host.std_error, 0.0);
        // Every path has the same value: every percentile is that value
        // exactly, not the sketch's rounding of it, and so are min and max.
        for (stats, value) in [
            (&s.api, m.api_cost),
            (&s.self_host, m.self_host_pnl),
            (&s.cumulative_api, m.cumulative_api),
            (&s.cumulative_self_host, m.cumulative_self_host_pnl),
            (
                &s.cumulative_savings,
                m.cumulative_api - m.cumulative_self_host_pnl,
            ),
        ] {
            assert_eq!(
                [
                    stats.p5, stats.p25, stats.p50, stats.p75, stats.p95, stats.min, stats.max
                ],
                [value; 7],
                "month {}",
                m.t
            );
        }
    }
    let deterministic = tco::summarize_break_even(months, Basis::ProfitAndLoss);
    for s in &outcome.months {
        let expected = if deterministic.is_some_and(|b| s.t >= b) {
            1.0
        } else {
            0.0
        };
        assert_eq!(s.p_break_even_by, expected, "month {}", s.t);
    }
    assert_eq!(
        outcome.p_no_break_even,
        if deterministic.is_some() { 0.0 } else { 1.0 }
    );
}

/// Hardware paid in month 0 and a business-hours duty cycle: the cash
/// view of every path starts from the month-0 payment, as the projection's
/// does, and the NPV counts it undiscounted.
#[test]
fn a_month_0_purchase_starts_every_cash_path_as_the_projection_does() {
    let scenario = Scenario::from_toml(
        r#"
        horizon_months = 24
        start_month = "2025-06"
        [workload]
        requests_per_day = 200000
        input_tokens = 1000
        output_tokens = 200
        [workload.duty_cycle]
        hours_per_day = 10
        days_per_month = 21
        [api]
        price_id = "gpt-4o"
        [self_host]
        model = "llama-3.1-8b"
        gpu = "h100-sxm"
        precision = "fp8"
        min_replicas = 1
        [self_host.deployment.owned]
        lot_gpus = 1
        idle_watts_per_gpu = 80
        purchase_in_month_0 = true
        "#,
    )
    .unwrap();
    let calibration = Calibration {
        name: "default".into(),
        tuning: Tuning::default(),
        expected_error: 0.0,
        points: 0,
    };
    let plan = tco::plan(&Catalog::embedded().unwrap(), &scenario, &calibration, "").unwrap();
    let mut months = Vec::new();
    plan.run(&tco::PathInputs::default(), &mut months);
    let summary = tco::summarize(&plan, &months, Basis::Cash);
    assert!(summary.capex_paid_month_0 > 0.0);
    let cash = Settings {
        basis: Basis::Cash,
        ..settings(100)
    };
    let outcome = run(&plan, &Stochastic::default(), &cash);
    for (m, s) in months.iter().zip(&outcome.months) {
        assert_eq!(
            s.cumulative_self_host.mean, m.cumulative_self_host_cash,
            "month {}",
            m.t
        );
    }
    let savings = summary.npv_api - summary.npv_self_host;
    assert!(
        (outcome.npv_savings.mean - savings).abs() <= 1e-9 * savings.abs(),
        "{} against {savings}",
        outcome.npv_savings.mean
    );
    let deterministic = tco::summarize_break_even(&months, Basis::Cash);
    assert_eq!(
        outcome.p_no_break_even,
        if deterministic.is_some() { 0.0 } else { 1.0 }
    );
}

fn drawer<'a>(stochastic: &'a Stochastic, horizon: usize) -> Drawer<'a> {
    Drawer {
        stochastic,
        horizon,
        cholesky: if stochastic.correlation.is_empty() {
            None
        } else {
            Some(inputs::cholesky(&stochastic.correlation).unwrap())
        },
        base_requests_per_day: 1000.0,
        base_growth: 0.5,
        fixed: Vec::new(),
    }
}

#[test]
fn gbm_demand_keeps_the_deterministic_mean_and_lognormal_quantiles() {
    let sigma = 0.6;
    let stochastic = Stochastic {
        demand: Some(DemandProcess::Gbm { volatility: sigma }),
        ..Default::default()
    };
    let d = drawer(&stochastic, 25);
    let c = d.constants();
    let mut draw = PathDraw::default();
    let n = 20_000;
    let mut at_24: Vec<f64> = (0..n)
        .map(|i| {
            d.draw(&c, 7, i, false, &mut draw);
            draw.demand[24]
        })
        .collect();
    let mean = at_24.iter().sum::<f64>() / n as f64;
    let sd = (at_24.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
    let se = sd / (n as f64).sqrt();
    assert!((mean - 1.0).abs() < 3.0 * se, "mean {mean} ± {se}");
    // Two years in: ln M ~ N(−σ²·2/2, σ²·2).
    at_24.sort_by(f64::total_cmp);
    let tau: f64 = 2.0;
    for (q, z) in [(0.1, -1.281_551_6), (0.5, 0.0), (0.9, 1.281_551_6)] {
        let expected = (-sigma * sigma * tau / 2.0 + sigma * tau.sqrt() * z).exp();
        let got = at_24[(q * n as f64) as usize];
        assert!(
            (got / expected - 1.0).abs() < 0.04,
            "q{q}: {got} vs {expected}"
        );
    }
}

#[test]
fn api_price_cuts_arrive_at_their_rate() {
    let stochastic = Stochastic {
        api_price: Some(ApiPriceProcess::SameProduct {
            annual_drift: 0.0,
            cuts_per_year: 1.5,
            cut_size: Distribution::Fixed(0.5),
        }),
        ..Default::default()
    };
    let d = drawer(&stochastic, 37);
    let c = d.constants();
    let mut draw = PathDraw::default();
    let n = 20_000u64;
    let counts: Vec<f64> = (0..n)
        .map(|i| {
            d.draw(&c, 11, i, false, &mut draw);
            -draw.api_price[36].log2()
        })
        .collect();
    let mean = counts.iter().sum::<f64>() / n as f64;
    // Three years at 1.5 cuts a year: Poisson mean and variance 4.5.
    let se = (4.5f64 / n as f64).sqrt();
    assert!((mean - 4.5).abs() < 3.0 * se, "{mean}");
    let var = counts.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    assert!((var / 4.5 - 1.0).abs() < 0.05, "variance {var}");
}

/// The 5 × 5 identity, row by row: uncorrelated factors.
fn identity_correlation() -> Vec<f64> {
    (0..25)
        .map(|k| if k % 6 == 0 { 1.0 } else { 0.0 })
        .collect()
}

#[test]
fn the_correlation_matrix_shows_in_the_sampled_shocks() {
    let mut correlation = identity_correlation();
    // demand with power price.
    correlation[3] = 0.6;
    correlation[15] = 0.6;
    // demand against throughput.
    correlation[4] = -0.4;
    correlation[20] = -0.4;
    assert_eq!(FACTORS[3], "power_price");
    let stochastic = Stochastic {
        demand: Some(DemandProcess::Gbm { volatility: 0.3 }),
        power_price: Some(Walk {
            annual_drift: 0.0,
            volatility: 0.2,
        }),
        throughput: Some(Walk {
            annual_drift: 0.0,
            volatility: 0.1,
        }),
        correlation,
        ..Default::default()
    };
    let d = drawer(&stochastic, 13);
    let c = d.constants();
    let mut draw = PathDraw::default();
    let (mut xs, mut ys, mut zs) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..4000 {
        d.draw(&c, 3, i, false, &mut draw);
        for t in 1..13 {
            xs.push((draw.demand[t] / draw.demand[t - 1]).ln());
            ys.push((draw.power_price[t] / draw.power_price[t - 1]).ln());
            zs.push((draw.throughput[t] / draw.throughput[t - 1]).ln());
        }
    }
    let pearson = |a: &[f64], b: &[f64]| {
        let n = a.len() as f64;
        let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
        let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
        let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
        let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
        cov / (va * vb).sqrt()
    };
    assert!(
        (pearson(&xs, &ys) - 0.6).abs() < 0.03,
        "{}",
        pearson(&xs, &ys)
    );
    assert!(
        (pearson(&xs, &zs) + 0.4).abs() < 0.03,
        "{}",
        pearson(&xs, &zs)
    );
}

fn risky() -> Stochastic {
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
        annual_failure_rate: 0.06,
        uncertain: vec![
            (
                "workload.requests_per_day".into(),
                Distribution::Pert {
                    min: 100_000.0,
                    mode: 200_000.0,
                    max: 400_000.0,
                },
            ),
            (
                "owned.capex_per_gpu".into(),
                Distribution::Triangular {
                    min: 25_000.0,
                    mode: 30_000.0,
                    max: 40_000.0,
                },
            ),
        ],
        ..Default::default()
    }
}

#[test]
fn the_same_seed_gives_identical_results_on_any_thread_count() {
    let plan = plan(36);
    let stochastic = risky();
    // Several chunks, a last one cut short, and a last batch cut short.
    let mut s = settings(3 * CHUNK + 1_001);
    s.antithetic = true;
    s.tornado_paths = 300;
    let on = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| run(&plan, &stochastic, &s))
    };
    let one = on(1);
    for threads in [2, 16, 2] {
        let other = on(threads);
        assert_eq!(one, other, "{threads} threads");
        assert_eq!(format!("{one:?}"), format!("{other:?}"));
    }
    let mut other = s.clone();
    other.seed = 43;
    assert_ne!(run(&plan, &stochastic, &other).npv_savings, one.npv_savings);
}

#[test]
fn the_vector_build_gives_the_portable_build_to_the_bit() {
    // On a processor without AVX2 both are the portable build, and this
    // checks only that a chunk is a pure function of its paths.
    let plan = plan(36);
    let stochastic = risky();
    for antithetic in [false, true] {
        let mut s = settings(5_000);
        s.antithetic = antithetic;
        let job = Job::new(&plan, &stochastic, &s, Vec::new()).unwrap();
        let cancel = AtomicBool::new(false);
        let board = progress::Board::quiet();
        let dispatched = job.chunk(100, 3_000, &cancel, &board);
        let portable = job.chunk_portable(100, 3_000, &cancel, &board);
        assert_eq!(dispatched.paths, 2_900);
        assert!(dispatched == portable, "antithetic: {antithetic}");
    }
}

#[test]
fn antithetic_paths_mirror_their_partners() {
    let sigma = 0.5;
    let stochastic = Stochastic {
        demand: Some(DemandProcess::Gbm { volatility: sigma }),
        annual_failure_rate: 0.2,
        ..Default::default()
    };
    let d = drawer(&stochastic, 25);
    let c = d.constants();
    let (mut even, mut odd) = (PathDraw::default(), PathDraw::default());
    for pair in 0..50 {
        d.draw(&c, 9, 2 * pair, true, &mut even);
        d.draw(&c, 9, 2 * pair + 1, true, &mut odd);
        for t in 0..25 {
            // ln M = σW − σ²τ/2, with W and −W.
            let tau = t as f64 / 12.0;
            let sum = even.demand[t].ln() + odd.demand[t].ln();
            assert!(
                (sum + sigma * sigma * tau).abs() < 1e-12,
                "{pair} {t}: {sum}"
            );
        }
    }
}

#[test]
fn failures_arrive_at_their_rate() {
    let stochastic = Stochastic {
        annual_failure_rate: 0.3,
        ..Default::default()
    };
    let d = drawer(&stochastic, 61);
    let c = d.constants();
    let mut draw = PathDraw::default();
    let n = 5_000u64;
    let mut counts = Vec::new();
    for i in 0..n {
        d.draw(&c, 13, i, false, &mut draw);
        counts.extend(draw.failures[1..].iter().map(|f| f * 64.0));
    }
    // Poisson counts on the nominal fleet of 64 at the monthly hazard.
    let lambda = (1.0 - 0.7f64.powf(1.0 / 12.0)) * 64.0;
    let m = counts.len() as f64;
    let mean = counts.iter().sum::<f64>() / m;
    assert!(
        (mean - lambda).abs() < 3.0 * (lambda / m).sqrt(),
        "{mean} vs {lambda}"
    );
    let var = counts.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / (m - 1.0);
    assert!(
        (var / lambda - 1.0).abs() < 0.03,
        "variance {var} vs {lambda}"
    );
}

#[test]
fn risk_outputs_are_consistent() {
    let plan = plan(36);
    let mut s = settings(4_000);
    s.tornado_paths = 500;
    let outcome = run(&plan, &risky(), &s);
    let last = outcome.months.last().unwrap();
    assert!(outcome.p_no_break_even >= 0.0 && outcome.p_no_break_even <= 1.0);
    assert!((last.p_break_even_by + outcome.p_no_break_even - 1.0).abs() < 1e-12);
    assert!(
        outcome
            .months
            .windows(2)
            .all(|w| w[1].p_break_even_by >= w[0].p_break_even_by)
    );
    let n = &outcome.npv_savings;
    assert!(n.p5 <= n.p25 && n.p25 <= n.p50 && n.p50 <= n.p75 && n.p75 <= n.p95);
    assert!(outcome.cvar_95 >= outcome.var_95 - 1e-6 * outcome.var_95.abs());
    // More requests make self-hosting save more: the strongest driver.
    let (name, rho) = &outcome.rank_correlations[0];
    assert_eq!(name, "workload.requests_per_day");
    assert!(*rho > 0.0);
    assert_eq!(outcome.tornado.len(), 2);
    let volume = outcome
        .tornado
        .iter()
        .find(|b| b.input == "workload.requests_per_day")
        .unwrap();
    assert!(volume.npv_at_high > volume.npv_at_low);
    let capex = outcome
        .tornado
        .iter()
        .find(|b| b.input == "owned.capex_per_gpu")
        .unwrap();
    assert!(capex.npv_at_high < capex.npv_at_low);
}

#[test]
fn cancelling_stops_the_work() {
    let plan = plan(60);
    let cancel = AtomicBool::new(true);
    let err = simulate(&plan, &risky(), &settings(1_000_000), &cancel, |_| {}).unwrap_err();
    assert!(matches!(err, Error::Cancelled(_)));
}

#[test]
fn limits_and_bad_inputs_name_their_field() {
    let plan = plan(12);
    let check = |stochastic: Stochastic, paths: u64, field: &str| {
        let err = simulate(
            &plan,
            &stochastic,
            &settings(paths),
            &AtomicBool::new(false),
            |_| {},
        )
        .unwrap_err();
        let Error::InvalidArgument(v) = err else {
            panic!("{err:?}")
        };
        assert!(v.iter().any(|v| v.field == field), "{field}: {v:?}");
    };
    check(Stochastic::default(), 0, "paths");
    check(Stochastic::default(), MAX_PATHS + 1, "paths");
    check(
        Stochastic {
            correlation: vec![1.0; 25],
            ..Default::default()
        },
        10,
        "stochastic.correlation",
    );
    check(
        Stochastic {
            uncertain: vec![("workload.colour".into(), Distribution::Fixed(1.0))],
            ..Default::default()
        },
        10,
        "stochastic.uncertain[0].input",
    );
    check(
        Stochastic {
            uncertain: vec![("rented.usd_per_gpu_hour".into(), Distribution::Fixed(1.0))],
            ..Default::default()
        },
        10,
        "stochastic.uncertain[0].input",
    );
    check(
        Stochastic {
            demand: Some(DemandProcess::Gbm {
                volatility: f64::NAN,
            }),
            ..Default::default()
        },
        10,
        "stochastic.demand.volatility",
    );
    // A varying peak with a fixed day whose busiest hour bounds it.
    let mut shaped = plan.clone();
    shaped.traffic.load_shape_given = true;
    let err = simulate(
        &shaped,
        &Stochastic {
            uncertain: vec![("workload.peak_to_average".into(), Distribution::Fixed(3.0))],
            ..Default::default()
        },
        &settings(10),
        &AtomicBool::new(false),
        |_| {},
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("stochastic.uncertain[0].input")
            && err.to_string().contains("load_shape"),
        "{err}"
    );
}

#[test]
fn a_batch_is_drawn_as_its_paths_are_one_by_one() {
    let mut correlation = identity_correlation();
    correlation[3] = 0.5;
    correlation[15] = 0.5;
    correlation[2] = -0.3;
    correlation[10] = -0.3;
    let mut every_process = risky();
    every_process.power_price = Some(Walk {
        annual_drift: 0.02,
        volatility: 0.2,
    });
    every_process.throughput = Some(Walk {
        annual_drift: 0.3,
        volatility: 0.1,
    });
    every_process.correlation = correlation;
    let logistic = Stochastic {
        demand: Some(DemandProcess::Logistic {
            volatility: 0.2,
            ceiling: Distribution::Uniform {
                min: 5_000.0,
                max: 9_000.0,
            },
        }),
        api_price: Some(ApiPriceProcess::ConstantCapability {
            annual_factor: 4.0,
            volatility: 0.3,
        }),
        ..Default::default()
    };
    let quiet = Stochastic {
        annual_failure_rate: 0.1,
        ..Default::default()
    };
    for (stochastic, fixed) in [
        (risky(), vec![]),
        (risky(), vec![(1, 31_000.0)]),
        (every_process, vec![]),
        (logistic, vec![]),
        (quiet, vec![]),
    ] {
        let mut d = drawer(&stochastic, 25);
        d.fixed = fixed;
        let c = d.constants();
        for antithetic in [false, true] {
            let plan = plan(25);
            let mut batch = Batch::new(&plan);
            let mut batch_draw = paths::BatchDraw::default();
            let mut one = PathDraw::default();
            // A full batch, then one cut short, into the same buffers.
            for (first, n) in [(64, LANES), (128 + 7, LANES - 5)] {
                d.draw_batch(
                    &c,
                    5,
                    first,
                    n,
                    antithetic,
                    &mut batch_draw,
                    batch.input_rows(),
                );
                let rows = batch.input_rows();
                for lane in 0..n {
                    d.draw(&c, 5, first + lane as u64, antithetic, &mut one);
                    assert_eq!(batch_draw.statics[lane], one.statics);
                    for (row, path) in [
                        (&*rows.demand, &one.demand),
                        (&*rows.api_price, &one.api_price),
                        (&*rows.gpu_price, &one.gpu_price),
                        (&*rows.power_price, &one.power_price),
                        (&*rows.throughput, &one.throughput),
                        (&*rows.failures, &one.failures),
                    ] {
                        let lane_values: Vec<u64> = row.iter().map(|r| r[lane].to_bits()).collect();
                        let want: Vec<u64> = if path.is_empty() {
                            let neutral = if std::ptr::eq(row, &*rows.failures) {
                                0.0
                            } else {
                                1.0
                            };
                            vec![f64::to_bits(neutral); 25]
                        } else {
                            path.iter().map(|v| v.to_bits()).collect()
                        };
                        assert_eq!(lane_values, want, "path {}", first + lane as u64);
                    }
                }
            }
        }
    }
}

/// FNV-1a of the outcome's full printout (every number in its shortest
/// exact form).
fn fingerprint(outcome: &Outcome) -> u64 {
    format!("{outcome:?}")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
}

#[test]
fn the_engine_version_pins_the_numbers() {
    // Results stored under ENGINE_VERSION must replay to the bit: a change
    // that alters any number of these runs must bump ENGINE_VERSION, and
    // then the fingerprints here.
    let plan = plan(36);
    let mut s = settings(CHUNK + 2_345);
    s.antithetic = true;
    s.tornado_paths = 500;
    let first = run(&plan, &risky(), &s);

    let mut correlation = identity_correlation();
    for (i, j, rho) in [(0, 1, 0.3), (0, 2, -0.2), (3, 4, 0.5)] {
        correlation[i * FACTORS.len() + j] = rho;
        correlation[j * FACTORS.len() + i] = rho;
    }
    let walk = Walk {
        annual_drift: -0.05,
        volatility: 0.2,
    };
    let other = Stochastic {
        demand: Some(DemandProcess::Logistic {
            ceiling: Distribution::Lognormal {
                mean: 2_000_000.0,
                sd: 800_000.0,
                min: 500_000.0,
                max: 8_000_000.0,
            },
            volatility: 0.2,
        }),
        api_price: Some(ApiPriceProcess::ConstantCapability {
            annual_factor: 4.0,
            volatility: 0.3,
        }),
        power_price: Some(walk),
        throughput: Some(walk),
        correlation,
        ..risky()
    };
    s.antithetic = false;
    s.basis = Basis::Cash;
    s.seed = 7;
    let second = run(&plan, &other, &s);
    assert_eq!(ENGINE_VERSION, "breakeven-mc/6");
    assert_eq!(
        [fingerprint(&first), fingerprint(&second)],
        [3_216_820_321_309_347_393, 16_520_449_384_712_072_316],
        "{ENGINE_VERSION}"
    );
}

#[test]
fn slices_run_apart_and_merged_give_the_local_run_to_the_bit() {
    slices_merge_to_the_local_run(None);
}

#[test]
fn slices_carry_the_investment_figures_to_the_bit() {
    slices_merge_to_the_local_run(Some(FinanceQuestions {
        hurdle_rate: 0.2,
        payback_months: 18,
    }));
}

fn slices_merge_to_the_local_run(finance: Option<FinanceQuestions>) {
    let plan = plan(36);
    let stochastic = risky();
    // Three chunks, the last cut short, the tornado, antithetic pairs.
    let mut s = settings(2 * CHUNK + 1_001);
    s.antithetic = true;
    s.tornado_paths = 300;
    s.finance = finance;
    let local = run(&plan, &stochastic, &s);
    if let Some(f) = &local.finance {
        // Paths with an IRR and paths without, so that both are carried.
        assert!(f.p_no_irr < 1.0 && f.irr.min < f.irr.max, "{f:?}");
    }
    let cancel = AtomicBool::new(false);
    let slice = |first: u64, chunks: u64| {
        let part = split::run_slice(&plan, &stochastic, &s, first, chunks, &cancel).unwrap();
        let decoded = split::SlicePart::decode(&part.encode()).unwrap();
        assert_eq!(decoded, part);
        decoded
    };
    // One chunk a slice, stored and read back, handed over in any order.
    let mut parts: Vec<_> = split::slices(s.paths, 1)
        .into_iter()
        .rev()
        .map(|(first, chunks)| slice(first, chunks))
        .collect();
    parts.rotate_left(1);
    let merged = split::merge(&plan, &stochastic, &s, parts.clone(), &cancel).unwrap();
    assert_eq!(merged, local);
    assert_eq!(format!("{merged:?}"), format!("{local:?}"));
    // Two slices of two chunks and one.
    let halves = vec![slice(2, 1), slice(0, 2)];
    let merged = split::merge(&plan, &stochastic, &s, halves, &cancel).unwrap();
    assert_eq!(format!("{merged:?}"), format!("{local:?}"));
    // A missing slice is refused, not merged into a wrong answer.
    parts.remove(1);
    assert!(split::merge(&plan, &stochastic, &s, parts, &cancel).is_err());
    let bytes = slice(0, 1).encode();
    assert!(split::SlicePart::decode(&bytes[..bytes.len() - 1]).is_err());
}

#[test]
fn min_and_max_are_exact_and_bound_the_percentiles() {
    let plan = plan(24);
    let outcome = run(&plan, &risky(), &settings(3_000));
    for s in &outcome.months {
        for stats in [&s.api, &s.self_host, &s.cumulative_savings] {
            assert!(stats.min < stats.max, "month {}: {stats:?}", s.t);
            let p = [stats.p5, stats.p25, stats.p50, stats.p75, stats.p95];
            assert!(
                p.iter().all(|&v| stats.min <= v && v <= stats.max),
                "{stats:?}"
            );
            assert!(p.windows(2).all(|w| w[0] <= w[1]), "{stats:?}");
        }
    }
}

#[test]
fn without_randomness_every_path_has_the_projections_irr_and_payback() {
    let plan = plan(24);
    let mut months = Vec::new();
    plan.run(&tco::PathInputs::default(), &mut months);
    let deterministic = tco::finance::returns(&months, plan.discount_rate, 0.0);
    let mut s = settings(600);
    s.finance = Some(crate::montecarlo::FinanceQuestions {
        hurdle_rate: 0.0,
        payback_months: 12,
    });
    let outcome = run(&plan, &Stochastic::default(), &s);
    let f = outcome.finance.expect("asked for");
    match deterministic.irr.annual() {
        Some(irr) => {
            // Every path's IRR is the projection's, to the search's
            // precision, and the percentiles are that one value.
            assert!((f.irr.p50 - irr).abs() < 1e-9, "{} vs {irr}", f.irr.p50);
            assert_eq!(f.irr.min, f.irr.max);
            assert_eq!(f.p_no_irr, 0.0);
            assert_eq!(f.p_irr_above_hurdle, if irr > 0.0 { 1.0 } else { 0.0 });
        }
        None => assert_eq!(f.p_no_irr, 1.0),
    }
    // Payback: no path before the projection's month, every path from it.
    for (i, &p) in f.p_payback_by.iter().enumerate() {
        let paid = deterministic
            .payback_month
            .is_some_and(|m| i as u32 + 1 >= m);
        assert_eq!(p, if paid { 1.0 } else { 0.0 }, "month {}", i + 1);
    }
    // The rest of the outcome does not depend on the question.
    let mut without = s.clone();
    without.finance = None;
    let plain = run(&plan, &Stochastic::default(), &without);
    assert_eq!(plain.months, outcome.months);
    assert_eq!(plain.npv_savings, outcome.npv_savings);
}
