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
}

impl Aggregate {
    pub fn new(horizon: usize) -> Self {
        Self {
            months: vec![MonthAgg::default(); horizon],
            break_even_at: vec![0; horizon + 1],
            ..Default::default()
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
        for ((m, agg), d) in months.iter().zip(self.months.iter_mut()).zip(discount) {
            let (sh, cumulative_sh) = match basis {
                Basis::ProfitAndLoss => (m.self_host_pnl, m.cumulative_self_host_pnl),
                Basis::Cash => (m.self_host_cash, m.cumulative_self_host_cash),
            };
            agg.api.add(m.api_cost);
            agg.self_host.add(sh);
            agg.cumulative_api.add(m.cumulative_api);
            agg.cumulative_self_host.add(cumulative_sh);
            agg.cumulative_savings.add(m.cumulative_api - cumulative_sh);
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
    pub fn merge(&mut self, other: Aggregate) {
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
