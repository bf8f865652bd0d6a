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

use super::random::Stream;

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
    let evaluated: Vec<(f64, f64, Vec<f64>)> = (0..rows)
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
    let mut design = Design {
        a: Vec::with_capacity(rows),
        b: Vec::with_capacity(rows),
        ab: vec![Vec::with_capacity(rows); k],
    };
    for (a, b, ab) in evaluated {
        if a.is_finite() && b.is_finite() && ab.iter().all(|y| y.is_finite()) {
            design.a.push(a);
            design.b.push(b);
            for (column, y) in design.ab.iter_mut().zip(ab) {
                column.push(y);
            }
        }
    }
    design
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
}
