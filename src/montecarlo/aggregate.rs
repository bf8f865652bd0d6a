//! Streaming, mergeable aggregation of path results. Memory grows with the
//! horizon and the sketches' spread, not with the number of paths (except
//! the bounded sample kept for rank correlations).

use super::sketch::Sketch;
use crate::tco::{Basis, Month, summarize_break_even};

/// Paths whose inputs and NPV are kept for rank correlations.
pub const RANK_SAMPLE: usize = 100_000;

/// Running mean and variance (Welford; merged with Chan et al.'s formula)
/// and a sketch of one quantity. Identical values give their exact mean and
/// a variance of exactly zero, so a simulation without randomness
/// reproduces the deterministic projection to the bit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    pub count: u64,
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub m2: f64,
    pub sketch: Sketch,
}

impl Series {
    pub fn add(&mut self, v: f64) {
        self.count += 1;
        let delta = v - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (v - self.mean);
        self.sketch.add(v);
    }

    /// Adds a batch of values in order: the batch's own mean (taken about
    /// its first value, so identical values stay exact) and squared
    /// deviations, merged in — one division per batch rather than per value.
    pub fn add_all(&mut self, values: &[f64]) {
        let Some(&first) = values.first() else { return };
        let n = values.len() as f64;
        let shift: f64 = values.iter().map(|v| v - first).sum();
        let mean = first + shift / n;
        let m2: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
        for &v in values {
            self.sketch.add(v);
        }
        let batch = Series {
            count: values.len() as u64,
            mean,
            m2,
            sketch: Sketch::default(),
        };
        self.merge_moments(&batch);
    }

    fn merge_moments(&mut self, other: &Series) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            self.count = other.count;
            self.mean = other.mean;
            self.m2 = other.m2;
            return;
        }
        let (na, nb) = (self.count as f64, other.count as f64);
        let n = na + nb;
        let delta = other.mean - self.mean;
        self.mean += delta * nb / n;
        self.m2 += other.m2 + delta * delta * na * nb / n;
        self.count += other.count;
    }

    pub fn merge(&mut self, other: &Series) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = other.clone();
            return;
        }
        let (na, nb) = (self.count as f64, other.count as f64);
        let n = na + nb;
        let delta = other.mean - self.mean;
        self.mean += delta * nb / n;
        self.m2 += other.m2 + delta * delta * na * nb / n;
        self.count += other.count;
        self.sketch.merge(&other.sketch);
    }
}

/// Per-month accumulators.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MonthAgg {
    pub api: Series,
    pub self_host: Series,
    pub cumulative_api: Series,
    pub cumulative_self_host: Series,
    pub cumulative_savings: Series,
    pub utilization_sum: f64,
}

/// Everything accumulated over a range of paths.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Aggregate {
    pub paths: u64,
    pub months: Vec<MonthAgg>,
    /// Paths whose break-even month is t (index t−1); the last slot counts
    /// paths that never break even.
    pub break_even_at: Vec<u64>,
    /// Paths where self-hosting costs no more over the horizon.
    pub cheaper_over_horizon: u64,
    /// NPV of savings (API minus self-host, cash flows).
    pub npv_savings: Series,
    /// (static input values and process summaries, NPV) of the first paths.
    pub sample: Vec<(Vec<f64>, f64)>,
    /// Values waiting to enter the monthly series, one row per (month,
    /// series): inserting a whole chunk into one sketch at a time keeps it
    /// in cache, where path-by-path insertion touched every sketch per path.
    pending: Vec<Vec<f64>>,
}

/// Monthly series: API, self-host, and their cumulative sums and savings.
const SERIES: usize = 5;

impl Aggregate {
    pub fn new(horizon: usize) -> Self {
        Self {
            months: vec![MonthAgg::default(); horizon],
            break_even_at: vec![0; horizon + 1],
            pending: vec![Vec::new(); horizon * SERIES],
            ..Default::default()
        }
    }

    /// Moves the pending values into the monthly series, in path order.
    pub fn flush(&mut self) {
        for (i, agg) in self.months.iter_mut().enumerate() {
            let series = [
                &mut agg.api,
                &mut agg.self_host,
                &mut agg.cumulative_api,
                &mut agg.cumulative_self_host,
                &mut agg.cumulative_savings,
            ];
            for (k, target) in series.into_iter().enumerate() {
                let values = &mut self.pending[i * SERIES + k];
                target.add_all(values);
                values.clear();
            }
        }
    }

    /// Adds one path's months. `discount` holds the monthly discount
    /// factors; `drivers` the values kept for rank correlation when
    /// `index` is within the sample.
    pub fn add(
        &mut self,
        index: u64,
        months: &[Month],
        basis: Basis,
        discount: &[f64],
        drivers: impl FnOnce() -> Vec<f64>,
    ) {
        self.paths += 1;
        let mut npv = 0.0;
        for (i, ((m, agg), d)) in months
            .iter()
            .zip(self.months.iter_mut())
            .zip(discount)
            .enumerate()
        {
            let (sh, cumulative_sh) = match basis {
                Basis::ProfitAndLoss => (m.self_host_pnl, m.cumulative_self_host_pnl),
                Basis::Cash => (m.self_host_cash, m.cumulative_self_host_cash),
            };
            let row = &mut self.pending[i * SERIES..(i + 1) * SERIES];
            row[0].push(m.api_cost);
            row[1].push(sh);
            row[2].push(m.cumulative_api);
            row[3].push(cumulative_sh);
            row[4].push(m.cumulative_api - cumulative_sh);
            agg.utilization_sum += m.utilization;
            npv += (m.api_cost - m.self_host_cash) * d;
        }
        let slot = match summarize_break_even(months, basis) {
            Some(t) => t as usize - 1,
            None => self.break_even_at.len() - 1,
        };
        self.break_even_at[slot] += 1;
        if let Some(last) = months.last() {
            let sh = match basis {
                Basis::ProfitAndLoss => last.cumulative_self_host_pnl,
                Basis::Cash => last.cumulative_self_host_cash,
            };
            if sh <= last.cumulative_api {
                self.cheaper_over_horizon += 1;
            }
        }
        self.npv_savings.add(npv);
        if (index as usize) < RANK_SAMPLE {
            self.sample.push((drivers(), npv));
        }
    }

    /// Adds `other`, which covers the paths right after this one's.
    pub fn merge(&mut self, mut other: Aggregate) {
        self.flush();
        other.flush();
        self.paths += other.paths;
        for (a, b) in self.months.iter_mut().zip(&other.months) {
            a.api.merge(&b.api);
            a.self_host.merge(&b.self_host);
            a.cumulative_api.merge(&b.cumulative_api);
            a.cumulative_self_host.merge(&b.cumulative_self_host);
            a.cumulative_savings.merge(&b.cumulative_savings);
            a.utilization_sum += b.utilization_sum;
        }
        for (a, b) in self.break_even_at.iter_mut().zip(&other.break_even_at) {
            *a += b;
        }
        self.cheaper_over_horizon += other.cheaper_over_horizon;
        self.npv_savings.merge(&other.npv_savings);
        self.sample.extend(other.sample);
    }
}
