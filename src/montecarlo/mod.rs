//! The Monte Carlo engine: the TCO model run over many random paths of
//! demand, API prices, GPU prices, power prices, throughput and failures,
//! with uncertain static inputs, in parallel and reproducibly.
//!
//! Path i draws from its own Xoshiro256++ streams keyed by (seed, i)
//! ([`random`]). Paths are processed in fixed chunks; chunks run in
//! parallel (rayon) in waves and their aggregates merge in chunk order, so
//! a request gives bit-identical results on any number of threads. No I/O,
//! no gRPC.
//!
//! Within a chunk, paths go in batches of [`LANES`]: the batch's paths are
//! drawn side by side, their generators advancing together ([`paths`]),
//! the cost model runs on the batch side by side ([`crate::tco::batch`]),
//! and the batch's monthly figures enter the monthly aggregates a month at
//! a time ([`aggregate`]), so that the hot loops run over rows of numbers
//! the compiler vectorises. Where the
//! processor has AVX2, the chunk's code is compiled a second time for it,
//! with the same results to the bit.

pub mod aggregate;
pub mod inputs;
pub mod paths;
pub mod progress;
pub mod random;
pub mod sketch;
pub mod sobol;
pub mod split;

use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

pub use inputs::{ApiPriceProcess, DemandProcess, Distribution, GpuPriceProcess, Stochastic, Walk};
pub use progress::Progress;

use crate::error::{Error, Result};
use crate::tco::plan::{Costs, Plan};
use crate::tco::{Basis, Batch, LANES};
use aggregate::Aggregate;
use paths::{BatchDraw, Drawer};
use progress::Board;

/// Version of the engine's arithmetic, stored with every result: a change
/// that alters numbers bumps it, whether in the Monte Carlo engine itself
/// or in the models it runs. 3: the throughput estimator's model of
/// mixture-of-experts serving (layouts, grouped-GEMM efficiency) moved the
/// numbers of MoE scenarios; dense ones are unchanged. 4: projections
/// carry the investment figures (IRR, payback, ROI, NPV of savings); a
/// tie is no longer a break-even; utilisation is over the GPUs held;
/// owned fleets follow the lead time, refresh and disposal rules; cache
/// writes are priced; percentiles are exact where every path agrees, with
/// exact min and max.
/// 5: the estimator times linear layers and attention as separate
/// kernels, runs prefill nearer peak than decode steps, FP4 weights on
/// Hopper's FP8 units, and collectives over PCIe below the link rate,
/// which moves the throughput of every scenario that estimates it.
/// 6: a fixed (overflow) fleet serves each hour of the day's load shape up
/// to its capacity, rather than the day at the peak's rate, which moves
/// the numbers of overflow scenarios.
pub const ENGINE_VERSION: &str = "breakeven-mc/6";

/// Paths per chunk: the unit of parallel work and of reproducible sums.
/// A chunk sets up its own buffers and sketches (a few hundred, one per
/// month and series), and its aggregate is merged into the total; at 2,048
/// paths that was a tenth of the work, and 16,384 measured about 7% faster
/// than 8,192 on two threads. A chunk is still only some tens of
/// milliseconds, and checks for cancellation every batch of [`LANES`]
/// paths.
pub const CHUNK: u64 = 16_384;

/// A chunk's sketches count in 16 bits ([`sketch::Count`]): no bucket of
/// theirs can pass 65,535.
type ChunkAggregate = Aggregate<u16>;
const _: () = assert!(CHUNK <= u16::MAX as u64);

/// Largest path count and horizon a request may ask for.
pub const MAX_PATHS: u64 = 10_000_000;
pub const MAX_MONTHS: usize = 240;

/// How to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub paths: u64,
    pub seed: u64,
    /// Pair each path with its mirror image (negated normals, 1−u
    /// uniforms) to reduce variance.
    pub antithetic: bool,
    pub basis: Basis,
    /// Paths per tornado case; 0 skips the tornado.
    pub tornado_paths: u64,
    /// The investment figures of every path (IRR, payback), when asked
    /// for: they cost a root search per path.
    pub finance: Option<FinanceQuestions>,
}

/// What the caller asks of the paths' investment figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FinanceQuestions {
    /// Annual rate an IRR must exceed.
    pub hurdle_rate: f64,
    /// Months within which the purchase should pay back.
    pub payback_months: u32,
}

/// The distribution of the paths' investment figures.
#[derive(Debug, Clone, PartialEq)]
pub struct FinanceOutcome {
    pub hurdle_rate: f64,
    pub payback_months: u32,
    /// Annual IRR over the paths that have one.
    pub irr: Stats,
    /// Share of paths whose flows never change sign (no IRR).
    pub p_no_irr: f64,
    /// Share of paths whose IRR exceeds the hurdle rate.
    pub p_irr_above_hurdle: f64,
    /// Share of paths that have paid back by month t (index t−1).
    pub p_payback_by: Vec<f64>,
    /// Share of paths that pay back within `payback_months`.
    pub p_payback_within: f64,
    /// Share of paths that do not pay back within the horizon.
    pub p_no_payback: f64,
}

/// Distribution summary of one quantity.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Stats {
    pub p5: f64,
    pub p25: f64,
    pub p50: f64,
    pub p75: f64,
    pub p95: f64,
    pub mean: f64,
    /// Standard error of the mean.
    pub std_error: f64,
    /// The smallest and largest value over all paths, exactly.
    pub min: f64,
    pub max: f64,
}

impl Stats {
    fn of(series: &aggregate::Series) -> Stats {
        let n = series.count.max(1) as f64;
        let variance = if series.count > 1 {
            series.m2 / (n - 1.0)
        } else {
            0.0
        };
        // The sketch's relative error applies only where values differ:
        // when every path has the same value, each percentile is that value
        // exactly, and none lies outside the exact range.
        let (min, max) = if series.count > 0 {
            (series.min, series.max)
        } else {
            (0.0, 0.0)
        };
        let q = |p| {
            if min == max {
                min
            } else {
                series.sketch.quantile(p).clamp(min, max)
            }
        };
        Stats {
            min,
            max,
            p5: q(0.05),
            p25: q(0.25),
            p50: q(0.5),
            p75: q(0.75),
            p95: q(0.95),
            mean: series.mean,
            std_error: (variance / n).sqrt(),
        }
    }
}

/// One month of the distribution.
#[derive(Debug, Clone, PartialEq)]
pub struct MonthStats {
    pub t: u32,
    pub api: Stats,
    pub self_host: Stats,
    pub cumulative_api: Stats,
    pub cumulative_self_host: Stats,
    pub cumulative_savings: Stats,
    pub mean_utilization: f64,
    /// Probability that break-even has happened by this month, and its
    /// standard error.
    pub p_break_even_by: f64,
    pub p_break_even_by_se: f64,
}

/// One bar of a tornado: an uncertain input at its P10 and P90.
#[derive(Debug, Clone, PartialEq)]
pub struct TornadoBar {
    pub input: String,
    pub low_value: f64,
    pub high_value: f64,
    /// Median NPV of savings with the input at its P10 and P90.
    pub npv_at_low: f64,
    pub npv_at_high: f64,
}

/// The result of a simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub paths: u64,
    pub seed: u64,
    pub antithetic: bool,
    pub engine_version: &'static str,
    pub months: Vec<MonthStats>,
    pub p_no_break_even: f64,
    pub p_self_host_cheaper: f64,
    pub npv_savings: Stats,
    /// Loss of savings at the 5th percentile (positive when savings are
    /// negative there), and the mean beyond it.
    pub var_95: f64,
    pub cvar_95: f64,
    pub tornado: Vec<TornadoBar>,
    /// Spearman rank correlation of each driver with the NPV of savings.
    pub rank_correlations: Vec<(String, f64)>,
    /// Relative error bound of every percentile.
    pub quantile_relative_error: f64,
    /// The investment figures, when the settings ask for them.
    pub finance: Option<FinanceOutcome>,
}

/// Checks the settings and the stochastic inputs against the plan.
pub fn validate(plan: &Plan, stochastic: &Stochastic, settings: &Settings) -> Result<()> {
    if settings.paths == 0 || settings.paths > MAX_PATHS {
        return Err(Error::invalid(
            "paths",
            format!("must be 1–{MAX_PATHS}, got {}", settings.paths),
        ));
    }
    if plan.horizon > MAX_MONTHS {
        return Err(Error::invalid(
            "scenario.horizon_months",
            format!("must be at most {MAX_MONTHS}"),
        ));
    }
    stochastic.validate("stochastic.")?;
    for (i, (name, _)) in stochastic.uncertain.iter().enumerate() {
        let applies = !matches!(
            (name.split('.').next(), &plan.costs),
            (Some("rented"), Costs::Owned(_)) | (Some("owned"), Costs::Rented { .. })
        );
        if !applies {
            return Err(Error::invalid(
                format!("stochastic.uncertain[{i}].input"),
                format!("{name:?} does not apply to this scenario's deployment"),
            ));
        }
        if name == "workload.peak_to_average" && plan.traffic.load_shape_given {
            return Err(Error::invalid(
                format!("stochastic.uncertain[{i}].input"),
                "the scenario gives workload.load_shape, whose busiest hour bounds \
                 peak_to_average; remove load_shape to let the day's shape follow a varying \
                 peak_to_average",
            ));
        }
    }
    Ok(())
}

/// Sets the uncertain static inputs of a path on a scratch plan; returns
/// the multiplier the API-decline input puts on month t (applied by the
/// caller to the API price path).
fn apply_statics(
    base: &Plan,
    scratch: &mut Plan,
    stochastic: &Stochastic,
    values: &[f64],
) -> Option<f64> {
    let mut api_decline = None;
    for ((name, _), &v) in stochastic.uncertain.iter().zip(values) {
        let w = &mut scratch.traffic;
        match name.as_str() {
            "workload.requests_per_day" => w.requests_per_day = v.max(0.0),
            "workload.annual_growth" => w.annual_growth = v.max(-0.99),
            "workload.cached_input_fraction" => w.cached_input_fraction = v.clamp(0.0, 1.0),
            "workload.batch_fraction" => w.batch_fraction = v.clamp(0.0, 1.0),
            "workload.peak_to_average" => w.set_peak_to_average(v.max(1.0)),
            "api.annual_price_decline" => api_decline = Some(v.clamp(0.0, 0.99)),
            "self_host.target_utilization" => {
                scratch.sizing.target_utilization = v.clamp(0.01, 1.0)
            }
            "self_host.quality_factor" => scratch.sizing.quality_factor = v.max(0.01),
            other => match (&mut scratch.costs, &base.costs) {
                (
                    Costs::Rented {
                        usd_per_gpu_hour, ..
                    },
                    _,
                ) if other == "rented.usd_per_gpu_hour" => *usd_per_gpu_hour = v.max(0.0),
                (Costs::Owned(o), _) => match other {
                    "owned.capex_per_gpu" => o.capex_per_gpu = v.max(0.0),
                    "owned.power_usd_per_kwh" => o.power_usd_per_kwh = v.max(0.0),
                    "owned.cost_of_capital" => o.cost_of_capital = v.max(0.0),
                    "owned.resale_fraction" => o.resale_fraction = v.clamp(0.0, 1.0),
                    "owned.staff_usd_per_month" => o.staff_usd_per_month = v.max(0.0),
                    _ => {}
                },
                _ => {}
            },
        }
    }
    api_decline
}

struct Job<'a> {
    plan: &'a Plan,
    stochastic: &'a Stochastic,
    settings: &'a Settings,
    drawer: Drawer<'a>,
    constants: paths::Constants,
    discount: Vec<f64>,
}

impl<'a> Job<'a> {
    /// Prepares a run; `fixed` pins uncertain inputs (tornado cases).
    fn new(
        plan: &'a Plan,
        stochastic: &'a Stochastic,
        settings: &'a Settings,
        fixed: Vec<(usize, f64)>,
    ) -> Result<Self> {
        let cholesky = if stochastic.correlation.is_empty() {
            None
        } else {
            Some(
                inputs::cholesky(&stochastic.correlation)
                    .map_err(|why| Error::invalid("stochastic.correlation", why))?,
            )
        };
        let monthly = (1.0 + plan.discount_rate).powf(1.0 / 12.0) - 1.0;
        let discount = (1..=plan.horizon)
            .map(|t| (1.0 + monthly).powi(-(t as i32)))
            .collect();
        let drawer = Drawer {
            stochastic,
            horizon: plan.horizon,
            cholesky,
            base_requests_per_day: plan.traffic.requests_per_day,
            base_growth: plan.traffic.annual_growth,
            fixed,
        };
        Ok(Job {
            plan,
            stochastic,
            settings,
            constants: drawer.constants(),
            drawer,
            discount,
        })
    }

    /// Runs paths [start, end) in order into one aggregate, with the AVX2
    /// build where the processor has it.
    fn chunk(&self, start: u64, end: u64, cancel: &AtomicBool, board: &Board) -> ChunkAggregate {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor has AVX2, as just checked.
            return unsafe { self.chunk_avx2(start, end, cancel, board) };
        }
        self.chunk_portable(start, end, cancel, board)
    }

    /// [`Job::chunk_portable`] compiled for AVX2, where the loops over a
    /// batch's lanes and a path's months take four doubles at a time
    /// rather than two. Without fused multiply-adds, which round
    /// differently, every operation is the same IEEE operation, so the
    /// results are the same bits as the portable build's (a test compares
    /// the two).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn chunk_avx2(
        &self,
        start: u64,
        end: u64,
        cancel: &AtomicBool,
        board: &Board,
    ) -> ChunkAggregate {
        self.chunk_portable(start, end, cancel, board)
    }

    /// Runs paths [start, end) in order into one aggregate, a batch of
    /// [`LANES`] paths at a time: the batch's paths are drawn, each from
    /// its own stream, into the batch's input rows; lanes get their own
    /// uncertain static inputs, if any; then the cost model runs on the
    /// whole batch side by side and the batch enters the aggregate, and
    /// its paths are counted on `board`.
    #[inline(always)]
    fn chunk_portable(
        &self,
        start: u64,
        end: u64,
        cancel: &AtomicBool,
        board: &Board,
    ) -> ChunkAggregate {
        let plan = self.plan;
        let h = plan.horizon;
        let uncertain = !self.stochastic.uncertain.is_empty();
        let mut scratch = plan.clone();
        let mut draw = BatchDraw::default();
        let mut batch = Batch::new(plan);
        let mut agg = ChunkAggregate::new(h);
        let hurdle = self.settings.finance.map(|f| f.hurdle_rate);
        if hurdle.is_some() {
            agg.finance = Some(aggregate::FinanceAgg::new(h));
        }
        let mut flows = Vec::with_capacity(h + 1);
        let mut drivers: Vec<Vec<f64>> = Vec::new();
        let base_decline = plan.api_annual_price_decline;
        for first in (start..end).step_by(LANES) {
            if cancel.load(Ordering::Relaxed) {
                break;
            }
            let n = ((end - first) as usize).min(LANES);
            self.drawer.draw_batch(
                &self.constants,
                self.settings.seed,
                first,
                n,
                self.settings.antithetic,
                &mut draw,
                batch.input_rows(),
            );
            let rows = batch.input_rows();
            if uncertain && self.stochastic.api_price.is_none() {
                // Ones, which an uncertain API decline below may have
                // changed in the last batch.
                rows.api_price.fill([1.0; LANES]);
            }
            // The drivers of rank correlation: static values, and where
            // each process ended (before any uncertain API decline).
            drivers.clear();
            for lane in 0..n {
                if first + lane as u64 >= aggregate::RANK_SAMPLE as u64 {
                    break;
                }
                let last = |rows: &[crate::tco::Row]| rows.last().map_or(1.0, |r| r[lane]);
                let mut d = draw.statics[lane].clone();
                d.extend([
                    last(rows.demand),
                    last(rows.api_price),
                    last(rows.gpu_price),
                    last(rows.throughput),
                ]);
                drivers.push(d);
            }
            if uncertain {
                for lane in 0..n {
                    scratch.traffic = plan.traffic.clone();
                    scratch.sizing = plan.sizing.clone();
                    scratch.costs = plan.costs.clone();
                    let decline =
                        apply_statics(plan, &mut scratch, self.stochastic, &draw.statics[lane]);
                    if let Some(d) = decline {
                        let rows = batch.input_rows();
                        for (t, row) in rows.api_price.iter_mut().enumerate() {
                            row[lane] *= ((1.0 - d) / (1.0 - base_decline)).powf(t as f64 / 12.0);
                        }
                    }
                    batch.set_statics(lane, &scratch);
                }
            }
            plan.run_batch(&mut batch);
            agg.add_batch(
                first,
                n,
                &batch,
                self.settings.basis,
                &self.discount,
                |lane| std::mem::take(&mut drivers[lane]),
            );
            if let (Some(finance), Some(hurdle)) = (&mut agg.finance, hurdle) {
                finance.add_batch(n, &batch, hurdle, &mut flows);
            }
            board.add(n as u64);
        }
        agg
    }

    /// Runs `paths` paths in waves of parallel chunks, merged in order.
    /// A wave's chunks are merged while the next wave runs, so that no
    /// thread waits on the merging; the chunks count their paths on
    /// `board`, and each merge publishes its running estimates there.
    fn run(&self, paths: u64, cancel: &AtomicBool, board: &Board) -> Result<Aggregate> {
        let chunks = paths.div_ceil(CHUNK);
        let wave = (rayon::current_num_threads() as u64 * 2).max(1);
        let mut total = Aggregate::new(self.plan.horizon);
        if self.settings.finance.is_some() {
            total.finance = Some(aggregate::FinanceAgg::new(self.plan.horizon));
        }
        let mut done = 0;
        // The last wave's chunks, not merged yet.
        let mut pending: Vec<ChunkAggregate> = Vec::new();
        while done < chunks || !pending.is_empty() {
            if cancel.load(Ordering::Relaxed) {
                return Err(Error::Cancelled("simulation cancelled".into()));
            }
            let upto = (done + wave).min(chunks);
            let merge = |total: &mut Aggregate, parts: Vec<ChunkAggregate>| {
                if parts.is_empty() {
                    return;
                }
                for part in parts {
                    total.merge(part);
                }
                board.publish(total);
            };
            let (parts, ()) = rayon::join(
                || {
                    (done..upto)
                        .into_par_iter()
                        .map(|c| {
                            if cancel.load(Ordering::Relaxed) {
                                return ChunkAggregate::new(self.plan.horizon);
                            }
                            self.chunk(c * CHUNK, ((c + 1) * CHUNK).min(paths), cancel, board)
                        })
                        .collect::<Vec<_>>()
                },
                || merge(&mut total, std::mem::take(&mut pending)),
            );
            if cancel.load(Ordering::Relaxed) {
                return Err(Error::Cancelled("simulation cancelled".into()));
            }
            pending = parts;
            done = upto;
        }
        Ok(total)
    }
}

/// Runs the simulation. `progress` sees running figures as the work
/// starts, about every 5% of the paths, and at the end (from a thread of
/// its own: see [`progress`]); setting `cancel` stops the work within a
/// batch of paths.
pub fn simulate(
    plan: &Plan,
    stochastic: &Stochastic,
    settings: &Settings,
    cancel: &AtomicBool,
    progress: impl FnMut(Progress) + Send,
) -> Result<Outcome> {
    validate(plan, stochastic, settings)?;
    // The tornado's cases read the NPV only.
    let tornado_settings = Settings {
        finance: None,
        ..settings.clone()
    };
    let job = |fixed: Vec<(usize, f64)>| {
        let settings = if fixed.is_empty() {
            settings
        } else {
            &tornado_settings
        };
        Job::new(plan, stochastic, settings, fixed)
    };
    let total_paths = settings.paths;
    let main = job(Vec::new())?;
    let agg = progress::reporting(total_paths, progress, |board| {
        main.run(total_paths, cancel, board)
    })?;

    let tornado = tornado(plan, stochastic, settings, cancel)?;
    Ok(finish(stochastic, settings, agg, tornado))
}

/// Tornado: each uncertain input at its P10 and P90, the others at the
/// scenario's own value, on common random numbers.
fn tornado(
    plan: &Plan,
    stochastic: &Stochastic,
    settings: &Settings,
    cancel: &AtomicBool,
) -> Result<Vec<TornadoBar>> {
    let job = |fixed: Vec<(usize, f64)>| Job::new(plan, stochastic, settings, fixed);
    let total_paths = settings.paths;
    let mut tornado = Vec::new();
    if settings.tornado_paths > 0 {
        for (i, (name, dist)) in stochastic.uncertain.iter().enumerate() {
            let base_value = |j: usize| -> f64 {
                let (n, d) = &stochastic.uncertain[j];
                base_of(plan, n).unwrap_or_else(|| d.quantile(0.5))
            };
            let case = |value: f64| -> Result<f64> {
                let mut fixed: Vec<(usize, f64)> = (0..stochastic.uncertain.len())
                    .filter(|&j| j != i)
                    .map(|j| (j, base_value(j)))
                    .collect();
                fixed.push((i, value));
                let paths = settings.tornado_paths.min(total_paths);
                let a = job(fixed)?.run(paths, cancel, &Board::quiet())?;
                Ok(a.npv_savings.sketch.quantile(0.5))
            };
            let (low, high) = (dist.quantile(0.10), dist.quantile(0.90));
            tornado.push(TornadoBar {
                input: name.clone(),
                low_value: low,
                high_value: high,
                npv_at_low: case(low)?,
                npv_at_high: case(high)?,
            });
        }
        tornado.sort_by(|a, b| {
            (b.npv_at_high - b.npv_at_low)
                .abs()
                .total_cmp(&(a.npv_at_high - a.npv_at_low).abs())
        });
    }

    Ok(tornado)
}

/// The scenario's own value of an uncertain input.
fn base_of(plan: &Plan, name: &str) -> Option<f64> {
    let (w, sh) = (&plan.traffic, &plan.sizing);
    Some(match name {
        "workload.requests_per_day" => w.requests_per_day,
        "workload.annual_growth" => w.annual_growth,
        "workload.cached_input_fraction" => w.cached_input_fraction,
        "workload.batch_fraction" => w.batch_fraction,
        "workload.peak_to_average" => w.peak_to_average,
        "api.annual_price_decline" => plan.api_annual_price_decline,
        "self_host.target_utilization" => sh.target_utilization,
        "self_host.quality_factor" => sh.quality_factor,
        other => match &plan.costs {
            Costs::Rented {
                usd_per_gpu_hour, ..
            } if other == "rented.usd_per_gpu_hour" => *usd_per_gpu_hour,
            Costs::Owned(o) => match other {
                "owned.capex_per_gpu" => o.capex_per_gpu,
                "owned.power_usd_per_kwh" => o.power_usd_per_kwh,
                "owned.cost_of_capital" => o.cost_of_capital,
                "owned.resale_fraction" => o.resale_fraction,
                "owned.staff_usd_per_month" => o.staff_usd_per_month,
                _ => return None,
            },
            _ => return None,
        },
    })
}

fn finish(
    stochastic: &Stochastic,
    settings: &Settings,
    agg: Aggregate,
    tornado: Vec<TornadoBar>,
) -> Outcome {
    let n = agg.paths.max(1);
    let nf = n as f64;
    let mut reached = 0u64;
    let months = agg
        .months
        .iter()
        .enumerate()
        .map(|(i, m)| {
            reached += agg.break_even_at[i];
            let p = reached as f64 / nf;
            MonthStats {
                t: i as u32 + 1,
                api: Stats::of(&m.api),
                self_host: Stats::of(&m.self_host),
                cumulative_api: Stats::of(&m.cumulative_api),
                cumulative_self_host: Stats::of(&m.cumulative_self_host),
                cumulative_savings: Stats::of(&m.cumulative_savings),
                mean_utilization: m.utilization_sum / nf,
                p_break_even_by: p,
                p_break_even_by_se: (p * (1.0 - p) / nf).sqrt(),
            }
        })
        .collect();
    let p5 = agg.npv_savings.sketch.quantile(0.05);
    let tail = agg.npv_savings.sketch.tail_mean_below(0.05);

    let mut names: Vec<String> = stochastic
        .uncertain
        .iter()
        .map(|(n, _)| n.clone())
        .collect();
    names.extend(
        [
            "demand at horizon",
            "API price at horizon",
            "GPU price at horizon",
            "throughput at horizon",
        ]
        .map(String::from),
    );
    let npvs: Vec<f64> = agg.sample.iter().map(|(_, v)| *v).collect();
    let rank_correlations = names
        .into_iter()
        .enumerate()
        .map(|(k, name)| {
            let xs: Vec<f64> = agg.sample.iter().map(|(d, _)| d[k]).collect();
            (name, spearman(&xs, &npvs))
        })
        .collect();
    Outcome {
        paths: agg.paths,
        seed: settings.seed,
        antithetic: settings.antithetic,
        engine_version: ENGINE_VERSION,
        months,
        p_no_break_even: *agg.break_even_at.last().unwrap_or(&0) as f64 / nf,
        p_self_host_cheaper: agg.p_self_host_cheaper(),
        npv_savings: Stats::of(&agg.npv_savings),
        var_95: -p5,
        cvar_95: -tail,
        tornado,
        rank_correlations,
        quantile_relative_error: sketch::ALPHA,
        finance: settings.finance.zip(agg.finance.as_ref()).map(|(q, f)| {
            let mut paid = 0u64;
            let p_payback_by: Vec<f64> = f.payback_at[..f.payback_at.len() - 1]
                .iter()
                .map(|&k| {
                    paid += k;
                    paid as f64 / nf
                })
                .collect();
            let within = (q.payback_months as usize).min(p_payback_by.len());
            FinanceOutcome {
                hurdle_rate: q.hurdle_rate,
                payback_months: q.payback_months,
                irr: Stats::of(&f.irr),
                p_no_irr: f.no_irr as f64 / nf,
                p_irr_above_hurdle: f.above_hurdle as f64 / nf,
                p_payback_within: if within == 0 {
                    0.0
                } else {
                    p_payback_by[within - 1]
                },
                p_no_payback: *f.payback_at.last().unwrap_or(&0) as f64 / nf,
                p_payback_by,
            }
        }),
    }
}

/// Spearman rank correlation (average ranks for ties); 0 when either side
/// is constant.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    fn ranks(v: &[f64]) -> Vec<f64> {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
        let mut r = vec![0.0; v.len()];
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
                j += 1;
            }
            let avg = (i + j) as f64 / 2.0 + 1.0;
            for k in i..=j {
                r[idx[k]] = avg;
            }
            i = j + 1;
        }
        r
    }
    if x.len() < 2 || x.len() != y.len() {
        return 0.0;
    }
    let (rx, ry) = (ranks(x), ranks(y));
    let n = rx.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in rx.iter().zip(&ry) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    if sxx == 0.0 || syy == 0.0 {
        0.0
    } else {
        sxy / (sxx * syy).sqrt()
    }
}

#[cfg(test)]
mod tests;
