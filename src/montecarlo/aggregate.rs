//! Streaming, mergeable aggregation of path results. Memory grows with the
//! horizon and the sketches' spread, not with the number of paths (except
//! the bounded sample kept for rank correlations).

use super::sketch::{Count, Sketch};
use crate::tco::finance;
use crate::tco::project::ahead;
use crate::tco::{Basis, Batch, LANES};

/// Paths whose inputs and NPV are kept for rank correlations.
pub const RANK_SAMPLE: usize = 100_000;

/// Running mean and variance (Welford; merged with Chan et al.'s formula)
/// and a sketch of one quantity, counting in `C`. Identical values give
/// their exact mean and a variance of exactly zero, so a simulation without
/// randomness reproduces the deterministic projection to the bit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series<C = u32> {
    pub count: u64,
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub m2: f64,
    /// The smallest and largest value, exactly (meaningless while
    /// `count` is 0).
    pub min: f64,
    pub max: f64,
    pub sketch: Sketch<C>,
}

/// A batch's count, mean and sum of squared deviations.
#[derive(Debug, Clone, Copy)]
struct Moments {
    count: u64,
    mean: f64,
    m2: f64,
}

impl<C: Count> Series<C> {
    pub fn add(&mut self, v: f64) {
        self.extremes(v, v);
        self.count += 1;
        let delta = v - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (v - self.mean);
        self.sketch.add(v);
    }

    /// Adds a batch of values to each series: the batch's own mean (taken
    /// about its first value, so identical values stay exact) and squared
    /// deviations, merged in — one division per batch rather than per
    /// value. The series' sums run side by side, so that their chains of
    /// additions overlap; each series' sums are the same operations as
    /// alone, so the result is too.
    ///
    /// Inlined, like the rest of a chunk's loop, so that the engine's AVX2
    /// build of a chunk covers it (see `montecarlo::Job::chunk`).
    #[inline(always)]
    pub fn add_each<const N: usize>(series: [&mut Self; N], values: [&[f64]; N]) {
        let len = values[0].len();
        if len == 0 {
            return;
        }
        let first = values.map(|v| v[0]);
        let n = len as f64;
        let (sums, lo, hi) = sum4_and_extremes_each(values, |k, v| v - first[k]);
        let mean: [f64; N] = std::array::from_fn(|k| first[k] + sums[k] / n);
        let m2 = sum4_each(values, |k, v| (v - mean[k]) * (v - mean[k]));
        for (k, series) in series.into_iter().enumerate() {
            series.extremes(lo[k], hi[k]);
            series.sketch.add_all(values[k]);
            series.merge_moments(Moments {
                count: len as u64,
                mean: mean[k],
                m2: m2[k],
            });
        }
    }

    /// Widens the exact range to take in `lo..=hi` (before `count` grows).
    #[inline(always)]
    fn extremes(&mut self, lo: f64, hi: f64) {
        if self.count == 0 {
            (self.min, self.max) = (lo, hi);
        } else {
            self.min = self.min.min(lo);
            self.max = self.max.max(hi);
        }
    }

    /// Chan et al.'s merge of another range's moments.
    fn merge_moments(&mut self, other: Moments) {
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

    /// Merges another range's moments alone (count, mean, sum of squared
    /// deviations), as [`Series::merge`] does before the sketch.
    pub fn merge_moments_of(&mut self, count: u64, mean: f64, m2: f64) {
        self.merge_moments(Moments { count, mean, m2 });
    }

    /// Adds `other`, which may count in a narrower type.
    pub fn merge<D: Count>(&mut self, other: &Series<D>)
    where
        C: From<D>,
    {
        if other.count > 0 {
            self.extremes(other.min, other.max);
        }
        self.merge_moments(Moments {
            count: other.count,
            mean: other.mean,
            m2: other.m2,
        });
        self.sketch.merge(&other.sketch);
    }
}

/// Σ f(k, v) over the `values[k]` of each k, kept in four interleaved
/// partial sums added up at the end: a fixed order, so the result depends
/// on the values only, and one the compiler can carry out with vector
/// additions (a plain running sum must be added strictly in turn). Every
/// `values[k]` is as long as the first.
#[inline(always)]
fn sum4_each<const N: usize>(values: [&[f64]; N], f: impl Fn(usize, f64) -> f64) -> [f64; N] {
    let len = values[0].len();
    let mut partial = [[0.0; 4]; N];
    for quad in 0..len / 4 {
        for (k, p) in partial.iter_mut().enumerate() {
            let at = &values[k][quad * 4..quad * 4 + 4];
            for (p, &v) in p.iter_mut().zip(at) {
                *p += f(k, v);
            }
        }
    }
    let rest = len / 4 * 4;
    for (k, p) in partial.iter_mut().enumerate() {
        for (p, &v) in p.iter_mut().zip(&values[k][rest..len]) {
            *p += f(k, v);
        }
    }
    partial.map(|p| (p[0] + p[1]) + (p[2] + p[3]))
}

/// [`sum4_each`], and the smallest and largest of each of `values` (not
/// empty) from the same pass, four running extremes a series side by side
/// as there are four sums: one chain of comparisons per value would wait
/// on the last. Extremes taken in any order are the same values, so they
/// are exact.
#[inline(always)]
fn sum4_and_extremes_each<const N: usize>(
    values: [&[f64]; N],
    f: impl Fn(usize, f64) -> f64,
) -> ([f64; N], [f64; N], [f64; N]) {
    let len = values[0].len();
    let mut partial = [[0.0; 4]; N];
    let mut lo = values.map(|v| [v[0]; 4]);
    let mut hi = lo;
    let mut add = |k: usize, at: &[f64]| {
        let (p, l, h) = (&mut partial[k], &mut lo[k], &mut hi[k]);
        for (((p, l), h), &v) in p.iter_mut().zip(l.iter_mut()).zip(h.iter_mut()).zip(at) {
            *p += f(k, v);
            *l = if v < *l { v } else { *l };
            *h = if v > *h { v } else { *h };
        }
    };
    for quad in 0..len / 4 {
        for (k, v) in values.iter().enumerate() {
            add(k, &v[quad * 4..quad * 4 + 4]);
        }
    }
    let rest = len / 4 * 4;
    for (k, v) in values.iter().enumerate() {
        add(k, &v[rest..len]);
    }
    (
        partial.map(|p| (p[0] + p[1]) + (p[2] + p[3])),
        lo.map(|[a, b, c, d]| a.min(b).min(c.min(d))),
        hi.map(|[a, b, c, d]| a.max(b).max(c.max(d))),
    )
}

/// Σ f(v) over `values`, as [`sum4_each`].
fn sum4(values: &[f64], f: impl Fn(f64) -> f64) -> f64 {
    sum4_each([values], |_, v| f(v))[0]
}

/// Per-month accumulators.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MonthAgg<C = u32> {
    pub api: Series<C>,
    pub self_host: Series<C>,
    pub cumulative_api: Series<C>,
    pub cumulative_self_host: Series<C>,
    pub cumulative_savings: Series<C>,
    pub utilization_sum: f64,
}

/// Everything accumulated over a range of paths, with sketches counting
/// in `C`: a chunk's aggregate counts in 16 bits (see
/// [`Count`]), the simulation's in 32.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Aggregate<C = u32> {
    pub paths: u64,
    pub months: Vec<MonthAgg<C>>,
    /// Paths whose break-even month is t (index t−1); the last slot counts
    /// paths that never break even.
    pub break_even_at: Vec<u64>,
    /// Paths where self-hosting costs no more over the horizon.
    pub cheaper_over_horizon: u64,
    /// NPV of savings (API minus self-host, cash flows).
    pub npv_savings: Series<C>,
    /// (static input values and process summaries, NPV) of the first paths.
    pub sample: Vec<(Vec<f64>, f64)>,
    /// The investment figures, when asked for.
    pub finance: Option<FinanceAgg<C>>,
}

/// The investment figures of the paths: each path's IRR and payback month
/// from its incremental cash flows (API cost less self-host cash).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FinanceAgg<C = u32> {
    /// Annual IRR of the paths that have one.
    pub irr: Series<C>,
    /// Paths without an IRR.
    pub no_irr: u64,
    /// Paths whose IRR exceeds the hurdle rate.
    pub above_hurdle: u64,
    /// Paths whose payback month is t (index t−1); the last slot counts
    /// paths that do not pay back within the horizon.
    pub payback_at: Vec<u64>,
}

impl<C: Count> FinanceAgg<C> {
    pub fn new(horizon: usize) -> Self {
        Self {
            payback_at: vec![0; horizon + 1],
            ..Default::default()
        }
    }

    /// Adds the first `n` lanes of `batch`, run by [`Plan::run_batch`].
    ///
    /// [`Plan::run_batch`]: crate::tco::Plan::run_batch
    pub fn add_batch(&mut self, n: usize, batch: &Batch, hurdle_rate: f64, flows: &mut Vec<f64>) {
        let h = batch.api.len();
        for lane in 0..n {
            flows.clear();
            flows.push(-batch.capex_month_0[lane]);
            for i in 0..h {
                flows.push(batch.api[i][lane] - batch.self_host_cash[i][lane]);
            }
            let month = finance::payback_month(flows).map_or(h, |t| t as usize - 1);
            self.payback_at[month] += 1;
            match finance::irr_fast(flows).annual() {
                Some(irr) => {
                    self.irr.add(irr);
                    if irr > hurdle_rate {
                        self.above_hurdle += 1;
                    }
                }
                None => self.no_irr += 1,
            }
        }
    }

    fn merge<D: Count>(&mut self, other: &FinanceAgg<D>)
    where
        C: From<D>,
    {
        self.irr.merge(&other.irr);
        self.no_irr += other.no_irr;
        self.above_hurdle += other.above_hurdle;
        for (a, b) in self.payback_at.iter_mut().zip(&other.payback_at) {
            *a += b;
        }
    }
}

impl<C: Count> Aggregate<C> {
    pub fn new(horizon: usize) -> Self {
        Self {
            months: vec![MonthAgg::default(); horizon],
            break_even_at: vec![0; horizon + 1],
            ..Default::default()
        }
    }

    /// Share of the paths where self-hosting costs no more over the
    /// horizon (0 without paths).
    pub fn p_self_host_cheaper(&self) -> f64 {
        self.cheaper_over_horizon as f64 / self.paths.max(1) as f64
    }

    /// Adds the first `n` lanes of a batch run by [`Plan::run_batch`],
    /// paths `first..first + n`, month by month: each month's series take
    /// the batch's values in a run while their sketches are in cache.
    /// `discount` holds the monthly discount factors; `drivers(lane)` the
    /// values kept for rank correlation, asked for paths within the sample.
    ///
    /// Inlined, like the rest of a chunk's loop, so that the engine's AVX2
    /// build of a chunk covers it (see `montecarlo::Job::chunk`).
    ///
    /// [`Plan::run_batch`]: crate::tco::Plan::run_batch
    #[inline(always)]
    pub fn add_batch(
        &mut self,
        first: u64,
        n: usize,
        batch: &Batch,
        basis: Basis,
        discount: &[f64],
        mut drivers: impl FnMut(usize) -> Vec<f64>,
    ) {
        let self_host = match basis {
            Basis::ProfitAndLoss => &batch.self_host_pnl,
            Basis::Cash => &batch.self_host_cash,
        };
        let mut cumulative_api = [0.0; LANES];
        let mut cumulative_sh = [0.0; LANES];
        let mut savings = [0.0; LANES];
        let mut npv = [0.0; LANES];
        // Capex paid in month 0, before the horizon: in the cash view's
        // cumulative totals from the start, and undiscounted in the NPV.
        for l in 0..LANES {
            let month_0 = batch.capex_month_0[l];
            if basis == Basis::Cash {
                cumulative_sh[l] = month_0;
            }
            npv[l] = 0.0 - month_0;
        }
        // The month after the last in which self-hosting is behind,
        // cumulatively: the break-even month if within the horizon.
        let mut after_last_loss = [0u32; LANES];
        for (i, (agg, &d)) in self.months.iter_mut().zip(discount).enumerate() {
            let (api, sh, cash) = (&batch.api[i], &self_host[i], &batch.self_host_cash[i]);
            for l in 0..LANES {
                cumulative_api[l] += api[l];
                cumulative_sh[l] += sh[l];
                savings[l] = cumulative_api[l] - cumulative_sh[l];
                npv[l] += (api[l] - cash[l]) * d;
                if !ahead(cumulative_sh[l], cumulative_api[l]) {
                    after_last_loss[l] = i as u32 + 1;
                }
            }
            Series::add_each(
                [
                    &mut agg.api,
                    &mut agg.self_host,
                    &mut agg.cumulative_api,
                    &mut agg.cumulative_self_host,
                    &mut agg.cumulative_savings,
                ],
                [
                    &api[..n],
                    &sh[..n],
                    &cumulative_api[..n],
                    &cumulative_sh[..n],
                    &savings[..n],
                ],
            );
            agg.utilization_sum += sum4(&batch.utilization[i][..n], |u| u);
        }
        let h = self.months.len();
        for lane in 0..n {
            self.paths += 1;
            // As `summarize_break_even`: never behind is month 1, behind
            // in the last month is no break-even.
            let month = after_last_loss[lane] as usize;
            let slot = if month < h { month } else { h };
            self.break_even_at[slot] += 1;
            if h > 0 && ahead(cumulative_sh[lane], cumulative_api[lane]) {
                self.cheaper_over_horizon += 1;
            }
            self.npv_savings.add(npv[lane]);
            let index = first + lane as u64;
            if (index as usize) < RANK_SAMPLE {
                self.sample.push((drivers(lane), npv[lane]));
            }
        }
    }

    /// Adds `other`, which covers the paths right after this one's and
    /// may count in a narrower type.
    pub fn merge<D: Count>(&mut self, other: Aggregate<D>)
    where
        C: From<D>,
    {
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
        if let (Some(a), Some(b)) = (&mut self.finance, &other.finance) {
            a.merge(b);
        }
    }
}
