//! Sobol sensitivity indices: how much of an output's variance each
//! uncertain input explains on its own (first order, S_i) and with all its
//! interactions (total, S_Ti).
//!
//! Saltelli's sampling scheme: two independent N × k matrices of uniforms A
//! and B, and for each input i the matrix A_B^i, which is A with column i
//! taken from B; the model runs N·(k + 2) times. The estimators are
//! Jansen's (Saltelli et al. 2010, "Variance based sensitivity analysis of
//! model output", table 2, estimators (f) and (b)):
//!
//! - S_i  = (V − ½·mean[(f(B) − f(A_B^i))²]) / V
//! - S_Ti = ½·mean[(f(A) − f(A_B^i))²] / V
//!
//! with V the variance of f over the rows of A and B together. Confidence
//! intervals come from a percentile bootstrap over the rows.
//!
//! Reproducible: row j's uniforms come from a stream keyed by the seed and
//! j alone, rows are evaluated in parallel and gathered in order, and every
//! sum runs in row order, so the indices are the same bytes on any number
//! of threads.

use rayon::prelude::*;

use super::Stochastic;
use super::random::Stream;
use crate::tco::{Basis, PathInputs, Plan, summarize_break_even};

/// Stream key of the Saltelli rows, distinct from the paths' streams.
const SALTELLI_STREAM: u64 = 0x5a17_e111;
/// Stream key of the bootstrap draws.
const BOOTSTRAP_STREAM: u64 = 0xb007_5742;

/// One input's indices with their 95% bootstrap intervals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Index {
    pub first: f64,
    pub first_low: f64,
    pub first_high: f64,
    pub total: f64,
    pub total_low: f64,
    pub total_high: f64,
}

/// The model outputs of a Saltelli design, row by row.
#[derive(Debug, Clone)]
pub struct Design {
    /// f(A), f(B), and f(A_B^i) for each input i (`ab[i][row]`).
    a: Vec<f64>,
    b: Vec<f64>,
    ab: Vec<Vec<f64>>,
}

/// Runs `model` on the Saltelli design of `rows` rows over `k` inputs;
/// `model` maps k uniforms in [0, 1) to the output (through each input's
/// inverse CDF). Rows whose outputs are not finite are dropped whole.
pub fn run<F>(k: usize, rows: usize, seed: u64, model: F) -> Design
where
    F: Fn(&[f64]) -> f64 + Sync,
{
    let [design] = run_many(k, rows, seed, |u| [model(u)]);
    design
}

/// One row's outputs: f(A), f(B) and f(A_B^i) for each input i.
type Row<const M: usize> = ([f64; M], [f64; M], Vec<[f64; M]>);

/// [`run`] for a model with `M` outputs, each with a design of its own
/// from the same rows.
pub fn run_many<const M: usize, F>(k: usize, rows: usize, seed: u64, model: F) -> [Design; M]
where
    F: Fn(&[f64]) -> [f64; M] + Sync,
{
    let evaluated: Vec<Row<M>> = (0..rows)
        .into_par_iter()
        .map(|row| {
            let mut stream = Stream::new(seed, SALTELLI_STREAM, row as u64);
            let a: Vec<f64> = (0..k).map(|_| stream.uniform()).collect();
            let b: Vec<f64> = (0..k).map(|_| stream.uniform()).collect();
            let mut mixed = a.clone();
            let ab = (0..k)
                .map(|i| {
                    mixed[i] = b[i];
                    let y = model(&mixed);
                    mixed[i] = a[i];
                    y
                })
                .collect();
            (model(&a), model(&b), ab)
        })
        .collect();
    std::array::from_fn(|m| {
        let mut design = Design {
            a: Vec::with_capacity(rows),
            b: Vec::with_capacity(rows),
            ab: vec![Vec::with_capacity(rows); k],
        };
        for (a, b, ab) in &evaluated {
            if a[m].is_finite() && b[m].is_finite() && ab.iter().all(|y| y[m].is_finite()) {
                design.a.push(a[m]);
                design.b.push(b[m]);
                for (column, y) in design.ab.iter_mut().zip(ab) {
                    column.push(y[m]);
                }
            }
        }
        design
    })
}

/// Sobol indices of a scenario's NPV of savings and break-even month with
/// respect to its uncertain inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Sensitivity {
    /// The uncertain inputs, in the request's order.
    pub inputs: Vec<String>,
    /// Saltelli rows run (each N·(k + 2) projections).
    pub rows: usize,
    /// Indices of the NPV of savings; `None` when it does not vary.
    pub npv_savings: Option<Vec<Index>>,
    /// Indices of the break-even month (a path that never breaks even
    /// counts as the month after the horizon); `None` when it does not
    /// vary.
    pub break_even_month: Option<Vec<Index>>,
}

/// Bootstrap resamples behind the intervals.
pub const RESAMPLES: usize = 200;

/// The Sobol indices of `plan` with respect to the uncertain inputs of
/// `stochastic`: each row draws every uncertain input from its
/// distribution and runs the projection with the monthly shocks at their
/// expected path (the processes' spread is the simulation's, not an
/// input's). `None` without uncertain inputs.
pub fn of_plan(
    plan: &Plan,
    stochastic: &Stochastic,
    basis: Basis,
    rows: usize,
    seed: u64,
) -> Option<Sensitivity> {
    let k = stochastic.uncertain.len();
    if k == 0 || rows == 0 {
        return None;
    }
    let monthly = (1.0 + plan.discount_rate).powf(1.0 / 12.0) - 1.0;
    let discount: Vec<f64> = (1..=plan.horizon)
        .map(|t| (1.0 + monthly).powi(-(t as i32)))
        .collect();
    let base_decline = plan.api_annual_price_decline;
    let model = |u: &[f64]| -> [f64; 2] {
        let values: Vec<f64> = stochastic
            .uncertain
            .iter()
            .zip(u)
            .map(|((_, d), &u)| d.quantile(u))
            .collect();
        let mut scratch = plan.clone();
        let api_price: Vec<f64> =
            match super::apply_statics(plan, &mut scratch, stochastic, &values) {
                Some(d) => (0..plan.horizon)
                    .map(|t| ((1.0 - d) / (1.0 - base_decline)).powf(t as f64 / 12.0))
                    .collect(),
                None => Vec::new(),
            };
        let mut months = Vec::with_capacity(plan.horizon);
        scratch.run(
            &PathInputs {
                api_price: &api_price,
                ..Default::default()
            },
            &mut months,
        );
        // As the simulation counts it: month-0 capex undiscounted, then
        // each month's API cost less self-host cash, discounted.
        let mut npv = -months.first().map_or(0.0, |m| m.capex_paid_month_0);
        let mut previous_api = 0.0;
        for (m, d) in months.iter().zip(&discount) {
            npv += (m.cumulative_api - previous_api - m.self_host_cash) * d;
            previous_api = m.cumulative_api;
        }
        let month = summarize_break_even(&months, basis).unwrap_or(plan.horizon as u32 + 1);
        [npv, f64::from(month)]
    };
    let [npv, month] = run_many(k, rows, seed, model);
    Some(Sensitivity {
        inputs: stochastic
            .uncertain
            .iter()
            .map(|(n, _)| n.clone())
            .collect(),
        rows,
        npv_savings: npv.indices(RESAMPLES, seed),
        break_even_month: month.indices(RESAMPLES, seed),
    })
}

impl Design {
    /// Rows kept.
    pub fn rows(&self) -> usize {
        self.a.len()
    }

    /// The indices of every input, with intervals from `resamples`
    /// bootstrap resamples of the rows; `None` when the output does not
    /// vary (every index would be 0/0) or fewer than two rows are left.
    pub fn indices(&self, resamples: usize, seed: u64) -> Option<Vec<Index>> {
        let n = self.rows();
        if n < 2 {
            return None;
        }
        let all: Vec<usize> = (0..n).collect();
        let point = self.estimate(&all)?;
        let draws: Vec<Option<Vec<(f64, f64)>>> = (0..resamples)
            .into_par_iter()
            .map(|r| {
                let mut stream = Stream::new(seed, BOOTSTRAP_STREAM, r as u64);
                let rows: Vec<usize> = (0..n)
                    .map(|_| ((stream.uniform() * n as f64) as usize).min(n - 1))
                    .collect();
                self.estimate(&rows)
            })
            .collect();
        let draws: Vec<Vec<(f64, f64)>> = draws.into_iter().flatten().collect();
        Some(
            point
                .iter()
                .enumerate()
                .map(|(i, &(first, total))| {
                    let mut firsts: Vec<f64> = draws.iter().map(|d| d[i].0).collect();
                    let mut totals: Vec<f64> = draws.iter().map(|d| d[i].1).collect();
                    let (first_low, first_high) = interval(&mut firsts, first);
                    let (total_low, total_high) = interval(&mut totals, total);
                    Index {
                        first,
                        first_low,
                        first_high,
                        total,
                        total_low,
                        total_high,
                    }
                })
                .collect(),
        )
    }

    /// (S_i, S_Ti) of each input over the rows given (with repeats).
    fn estimate(&self, rows: &[usize]) -> Option<Vec<(f64, f64)>> {
        let n = rows.len() as f64;
        // Variance over A and B together, in two passes for accuracy.
        let mean = rows.iter().map(|&j| self.a[j] + self.b[j]).sum::<f64>() / (2.0 * n);
        let variance = rows
            .iter()
            .map(|&j| (self.a[j] - mean).powi(2) + (self.b[j] - mean).powi(2))
            .sum::<f64>()
            / (2.0 * n - 1.0);
        if variance <= f64::EPSILON * mean.abs().max(1.0) {
            return None;
        }
        Some(
            self.ab
                .iter()
                .map(|ab| {
                    let (mut first, mut total) = (0.0, 0.0);
                    for &j in rows {
                        first += (self.b[j] - ab[j]).powi(2);
                        total += (self.a[j] - ab[j]).powi(2);
                    }
                    let first = (variance - first / (2.0 * n)) / variance;
                    let total = total / (2.0 * n) / variance;
                    (first, total)
                })
                .collect(),
        )
    }
}

/// The 2.5th and 97.5th percentiles of bootstrap estimates (the point
/// estimate for both when there are none).
fn interval(values: &mut [f64], point: f64) -> (f64, f64) {
    if values.is_empty() {
        return (point, point);
    }
    values.sort_by(f64::total_cmp);
    let at =
        |q: f64| values[((q * (values.len() - 1) as f64).round() as usize).min(values.len() - 1)];
    (at(0.025), at(0.975))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    /// Ishigami and Homma's test function with a = 7, b = 0.1 over
    /// U(−π, π)³, whose indices are known in closed form.
    fn ishigami(u: &[f64]) -> f64 {
        let x: Vec<f64> = u.iter().map(|u| -PI + 2.0 * PI * u).collect();
        x[0].sin() + 7.0 * x[1].sin().powi(2) + 0.1 * x[2].powi(4) * x[0].sin()
    }

    /// (S_i, S_Ti) of the Ishigami function.
    fn analytic() -> [(f64, f64); 3] {
        let (a, b) = (7.0f64, 0.1f64);
        let pi4 = PI.powi(4);
        let pi8 = PI.powi(8);
        let v1 = 0.5 * (1.0 + b * pi4 / 5.0).powi(2);
        let v2 = a * a / 8.0;
        let v13 = b * b * pi8 * (1.0 / 18.0 - 1.0 / 50.0);
        let v = v1 + v2 + v13;
        [(v1 / v, (v1 + v13) / v), (v2 / v, v2 / v), (0.0, v13 / v)]
    }

    #[test]
    fn ishigami_indices_fall_within_their_intervals() {
        let design = run(3, 20_000, 42, ishigami);
        assert_eq!(design.rows(), 20_000);
        let indices = design.indices(200, 7).unwrap();
        for (i, (index, (first, total))) in indices.iter().zip(analytic()).enumerate() {
            assert!(
                index.first_low <= first && first <= index.first_high,
                "S_{} = {first:.4} outside [{:.4}, {:.4}] (estimate {:.4})",
                i + 1,
                index.first_low,
                index.first_high,
                index.first
            );
            assert!(
                index.total_low <= total && total <= index.total_high,
                "S_T{} = {total:.4} outside [{:.4}, {:.4}] (estimate {:.4})",
                i + 1,
                index.total_low,
                index.total_high,
                index.total
            );
            // The intervals say something: well under the unit range.
            assert!(index.first_high - index.first_low < 0.1, "{index:?}");
            assert!(index.total_high - index.total_low < 0.1, "{index:?}");
        }
        // The known values, for the record: S1 0.314, S2 0.442, S3 0,
        // S_T1 0.558, S_T2 0.442, S_T3 0.244.
        let exact = analytic();
        assert!((exact[0].0 - 0.3139).abs() < 1e-3 && (exact[2].1 - 0.2437).abs() < 1e-3);
    }

    #[test]
    fn the_same_seed_gives_the_same_bytes_on_any_thread_count() {
        let on = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| run(3, 3_000, 9, ishigami).indices(50, 3).unwrap())
        };
        let bits = |indices: Vec<Index>| -> Vec<u64> {
            indices
                .iter()
                .flat_map(|i| {
                    [
                        i.first,
                        i.first_low,
                        i.first_high,
                        i.total,
                        i.total_low,
                        i.total_high,
                    ]
                })
                .map(f64::to_bits)
                .collect()
        };
        assert_eq!(bits(on(1)), bits(on(4)));
    }

    #[test]
    fn an_output_that_does_not_vary_has_no_indices() {
        assert!(run(2, 100, 1, |_| 5.0).indices(10, 1).is_none());
        // An input the output ignores explains nothing.
        let indices = run(2, 5_000, 1, |u| u[0]).indices(50, 1).unwrap();
        assert!(indices[1].total.abs() < 1e-12, "{:?}", indices[1]);
        assert!((indices[0].total - 1.0).abs() < 0.05, "{:?}", indices[0]);
    }

    /// An owned fleet against GPT-4o mini with three uncertain inputs, of
    /// which demand matters most and the quality factor not at all.
    fn plan_and_inputs() -> (Plan, Stochastic) {
        use crate::estimator::{Calibration, Tuning};
        let scenario = crate::tco::Scenario::from_toml(
            r#"
            horizon_months = 36
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
            [self_host.deployment.owned]
            lot_gpus = 1
            "#,
        )
        .unwrap();
        let calibration = Calibration {
            name: "default".into(),
            tuning: Tuning::default(),
            expected_error: 0.0,
            points: 0,
        };
        let plan = crate::tco::plan(
            &crate::catalog::Catalog::embedded().unwrap(),
            &scenario,
            &calibration,
            "scenario.",
        )
        .unwrap();
        let stochastic = Stochastic {
            uncertain: vec![
                (
                    "workload.requests_per_day".into(),
                    super::super::Distribution::Uniform {
                        min: 50_000.0,
                        max: 800_000.0,
                    },
                ),
                (
                    "owned.capex_per_gpu".into(),
                    super::super::Distribution::Uniform {
                        min: 20_000.0,
                        max: 30_000.0,
                    },
                ),
                (
                    "owned.resale_fraction".into(),
                    super::super::Distribution::Fixed(0.3),
                ),
            ],
            ..Default::default()
        };
        (plan, stochastic)
    }

    #[test]
    fn a_scenarios_indices_rank_its_inputs_and_repeat() {
        let (plan, stochastic) = plan_and_inputs();
        let s = of_plan(&plan, &stochastic, Basis::ProfitAndLoss, 1_000, 5).unwrap();
        assert_eq!(s.inputs.len(), 3);
        let npv = s.npv_savings.as_ref().unwrap();
        assert!(npv[0].total > 0.5, "demand drives the NPV: {npv:?}");
        assert!(npv[0].total > npv[1].total, "{npv:?}");
        assert_eq!(npv[2].total, 0.0, "a fixed input explains nothing");
        for index in npv {
            assert!(index.first_low <= index.first && index.first <= index.first_high);
            assert!(index.total_low <= index.total && index.total <= index.total_high);
        }
        let again = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| of_plan(&plan, &stochastic, Basis::ProfitAndLoss, 1_000, 5).unwrap());
        assert_eq!(again, s, "the same on one thread");
        assert!(of_plan(&plan, &Stochastic::default(), Basis::ProfitAndLoss, 100, 5).is_none());
    }
}
