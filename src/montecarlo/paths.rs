//! Drawing one path: the monthly multipliers of every process and the
//! values of the uncertain static inputs, from the path's own stream.

use nalgebra::DMatrix;

use super::random::{self, LaneStreams, Stream};

use super::inputs::{ApiPriceProcess, DemandProcess, Stochastic};
use crate::tco::{InputRows, LANES, Row};

/// Months per year, and the time step in years.
const DT: f64 = 1.0 / 12.0;

/// One path's draw, by [`Drawer::draw`]: what [`Drawer::draw_batch`]
/// puts in one lane.
#[derive(Debug, Clone, Default)]
pub struct PathDraw {
    pub demand: Vec<f64>,
    pub api_price: Vec<f64>,
    pub gpu_price: Vec<f64>,
    pub power_price: Vec<f64>,
    pub throughput: Vec<f64>,
    pub failures: Vec<f64>,
    /// Values of the uncertain static inputs, in the order given.
    pub statics: Vec<f64>,
    rows: [Vec<Row>; 6],
    batch: BatchDraw,
}

/// Everything needed to draw paths, prepared once.
pub struct Drawer<'a> {
    pub stochastic: &'a Stochastic,
    pub horizon: usize,
    /// Lower Cholesky factor of the shock correlation, if any.
    pub cholesky: Option<DMatrix<f64>>,
    /// Deterministic requests/day and growth, for logistic adoption.
    pub base_requests_per_day: f64,
    pub base_growth: f64,
    /// Statics fixed at a value (tornado cases): (position, value).
    pub fixed: Vec<(usize, f64)>,
}

/// Per-month constants of the processes, computed once per run.
#[derive(Debug, Clone, Default)]
pub struct Constants {
    /// OU decay and noise (volatility included) per step.
    gpu_decay: f64,
    gpu_scale: f64,
    /// −(variance of the OU term)/2 plus the trend, per month.
    gpu_log_level: Vec<f64>,
    /// The same-product API price's drift, as a multiplier per month: cuts
    /// multiply into it, so a month without a cut needs no exponential.
    api_drift: Vec<f64>,
    /// The lognormal walks, by factor: σ·√Δt, and per month the logarithm
    /// of the mean path less half the variance — the walk is
    /// exp(trend + σ·W), whose mean is the mean path.
    walks: [Option<(f64, Vec<f64>)>; 5],
    /// exp(r·τ) and exp(−r·τ) of each month, for logistic demand at the
    /// scenario's initial growth rate r.
    logistic: Vec<(f64, f64)>,
    /// API cuts, and failures on the nominal fleet, per month.
    cuts: Poisson,
    failures: Poisson,
    /// Which of the [`FACTORS`](super::inputs::FACTORS) get a normal draw
    /// each month: those a process uses, and with a correlation every
    /// factor up to the last used one (the Cholesky factor is lower
    /// triangular, so later shocks do not reach earlier factors).
    drawn: [bool; 5],
}

impl Drawer<'_> {
    /// The constants `draw` needs; compute once and pass to every call.
    pub fn constants(&self) -> Constants {
        let s = self.stochastic;
        let mut c = Constants::default();
        if let Some(g) = &s.gpu_price {
            let k = g.reversion_per_year;
            (c.gpu_decay, c.gpu_scale) = if k > 0.0 {
                (
                    (-k * DT).exp(),
                    ((1.0 - (-2.0 * k * DT).exp()) / (2.0 * k)).sqrt(),
                )
            } else {
                (1.0, DT.sqrt())
            };
            c.gpu_scale *= g.volatility;
            c.gpu_log_level = (0..self.horizon)
                .map(|t| {
                    let tau = t as f64 * DT;
                    let variance = if k > 0.0 {
                        g.volatility * g.volatility * (1.0 - (-2.0 * k * tau).exp()) / (2.0 * k)
                    } else {
                        g.volatility * g.volatility * tau
                    };
                    (1.0 - g.annual_decline).ln() * tau - variance / 2.0
                })
                .collect();
        }
        let sqrt_dt = DT.sqrt();
        // A walk whose logarithm has mean `drift`·τ before the correction.
        let walk = |drift: f64, sigma: f64| {
            let trend = (0..self.horizon)
                .map(|t| {
                    let tau = t as f64 * DT;
                    drift * tau - sigma * sigma * tau / 2.0
                })
                .collect();
            Some((sigma * sqrt_dt, trend))
        };
        if let Some(
            DemandProcess::Gbm { volatility } | DemandProcess::Logistic { volatility, .. },
        ) = &s.demand
        {
            c.walks[0] = walk(0.0, *volatility);
        }
        if let Some(ApiPriceProcess::ConstantCapability {
            annual_factor,
            volatility,
        }) = &s.api_price
        {
            c.walks[1] = walk(-annual_factor.ln(), *volatility);
        }
        if let Some(p) = &s.power_price {
            c.walks[3] = walk((1.0 + p.annual_drift).ln(), p.volatility);
        }
        if let Some(p) = &s.throughput {
            c.walks[4] = walk((1.0 + p.annual_drift).ln(), p.volatility);
        }
        if let Some(ApiPriceProcess::SameProduct {
            annual_drift,
            cuts_per_year,
            ..
        }) = &s.api_price
        {
            c.api_drift = (0..self.horizon)
                .map(|t| (annual_drift * DT * t as f64).exp())
                .collect();
            c.cuts = Poisson::new(cuts_per_year * DT);
        }
        if let Some(DemandProcess::Logistic { .. }) = &s.demand {
            let r = (1.0 + self.base_growth).ln();
            c.logistic = (0..self.horizon)
                .map(|t| {
                    let tau = t as f64 * DT;
                    ((r * tau).exp(), (-r * tau).exp())
                })
                .collect();
        }
        // Failures as a share of the fleet: the monthly hazard, with Poisson
        // noise on a nominal fleet of 64 GPUs.
        c.failures = Poisson::new((1.0 - (1.0 - s.annual_failure_rate).powf(DT)) * 64.0);
        let used = [
            s.demand.is_some(),
            matches!(
                s.api_price,
                Some(ApiPriceProcess::ConstantCapability { .. })
            ),
            s.gpu_price.is_some(),
            s.power_price.is_some(),
            s.throughput.is_some(),
        ];
        let last_used = used.iter().rposition(|&u| u);
        for (k, drawn) in c.drawn.iter_mut().enumerate() {
            *drawn = match (&self.cholesky, last_used) {
                (Some(_), Some(last)) => k <= last,
                _ => used[k],
            };
        }
        c
    }

    /// Fills `out` for path `index` alone: lane 0 of a batch drawn from
    /// it, with an empty row for each process left out.
    pub fn draw(&self, c: &Constants, seed: u64, index: u64, antithetic: bool, out: &mut PathDraw) {
        let h = self.horizon;
        for (rows, neutral) in out.rows.iter_mut().zip([1.0, 1.0, 1.0, 1.0, 1.0, 0.0]) {
            rows.clear();
            rows.resize(h, [neutral; LANES]);
        }
        let [
            demand,
            api_price,
            gpu_price,
            power_price,
            throughput,
            failures,
        ] = &mut out.rows;
        let rows = InputRows {
            demand,
            api_price,
            gpu_price,
            power_price,
            throughput,
            failures,
        };
        self.draw_batch(c, seed, index, 1, antithetic, &mut out.batch, rows);
        let s = self.stochastic;
        let drawn = [
            s.demand.is_some(),
            s.api_price.is_some(),
            s.gpu_price.is_some(),
            s.power_price.is_some(),
            s.throughput.is_some(),
            s.annual_failure_rate > 0.0,
        ];
        let paths = [
            &mut out.demand,
            &mut out.api_price,
            &mut out.gpu_price,
            &mut out.power_price,
            &mut out.throughput,
            &mut out.failures,
        ];
        for ((path, rows), drawn) in paths.into_iter().zip(&out.rows).zip(drawn) {
            path.clear();
            if drawn {
                path.extend(rows.iter().map(|row| row[0]));
            }
        }
        out.statics.clone_from(&out.batch.statics[0]);
    }
}

/// Buffers for a batch of paths drawn by [`Drawer::draw_batch`], reused
/// across batches.
#[derive(Debug, Clone, Default)]
pub struct BatchDraw {
    /// Values of the uncertain static inputs of each lane, in the order
    /// given.
    pub statics: Vec<Vec<f64>>,
    /// The normals of each of the five factors, by month and lane.
    shocks: [Vec<Row>; 5],
    /// Each lane's uncertain logistic ceiling.
    ceiling: Vec<f64>,
    /// Each lane's extra stream.
    extra: Vec<Stream>,
}

impl Drawer<'_> {
    /// Draws paths `first..first + n` into lanes `0..n` of `rows`; lane l
    /// holds path `first + l`, whatever `first` is: a path draws from its
    /// own streams only (see [`random`]).
    ///
    /// From its extra stream a path first takes its uncertain static
    /// values and its logistic ceiling, if any. Then, month by month, the
    /// main streams of all lanes give, together, one word for each drawn
    /// factor's normal and one for the month's two Poisson counts (API
    /// price cuts in its high half, failures in its low); a normal the
    /// ziggurat's fast path rejects, and the size of each cut, come from
    /// the lane's extra stream as they arise. With `antithetic`, odd paths
    /// read the streams of the even path before them and mirror every draw
    /// (negated normals, 1 − u uniforms, complemented bits).
    ///
    /// The rest — correlation, walks, exponentials, trends — is the same
    /// arithmetic on every lane, a month at a time across the lanes. Rows
    /// of processes left out are not touched; lanes from `n` on repeat the
    /// last path.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub fn draw_batch(
        &self,
        c: &Constants,
        seed: u64,
        first: u64,
        n: usize,
        antithetic: bool,
        out: &mut BatchDraw,
        rows: InputRows<'_>,
    ) {
        let h = self.horizon;
        let s = self.stochastic;
        let n = n.min(LANES);
        let same_product = match &s.api_price {
            Some(ApiPriceProcess::SameProduct { cut_size, .. }) => Some(cut_size),
            _ => None,
        };
        let failures = s.annual_failure_rate > 0.0;
        out.statics.resize_with(LANES, Vec::new);
        out.ceiling.resize(LANES, 0.0);
        for (shocks, &drawn) in out.shocks.iter_mut().zip(&c.drawn) {
            if drawn && shocks.len() != h {
                *shocks = vec![[0.0; LANES]; h];
            }
        }

        // Each lane's streams, and what it takes from its extra stream
        // before the months.
        let mut main = LaneStreams::default();
        let mut sign = [1.0; LANES];
        let mut mirror_bits = [0u64; LANES];
        let mut mirrored = [false; LANES];
        out.extra.clear();
        for lane in 0..LANES {
            let index = first + lane.min(n.max(1) - 1) as u64;
            let (stream_id, mirror) = if antithetic {
                (index / 2, index % 2 == 1)
            } else {
                (index, false)
            };
            main.seed(lane, &Stream::new(seed, stream_id, 0));
            let mut extra = Stream::new(seed, stream_id, 1);
            if mirror {
                sign[lane] = -1.0;
                mirror_bits[lane] = u64::MAX;
                mirrored[lane] = true;
            }
            let reflect = |u: f64| if mirror { 1.0 - u } else { u };
            let statics = &mut out.statics[lane];
            statics.clear();
            for (i, (_, dist)) in s.uncertain.iter().enumerate() {
                let u = reflect(extra.uniform()).clamp(1e-12, 1.0 - 1e-12);
                let value = match self.fixed.iter().find(|(p, _)| *p == i) {
                    Some(&(_, v)) => v,
                    None => dist.quantile(u),
                };
                statics.push(value);
            }
            out.ceiling[lane] = match &s.demand {
                Some(DemandProcess::Logistic { ceiling, .. }) => {
                    ceiling.quantile(reflect(extra.uniform()).clamp(1e-12, 1.0 - 1e-12))
                }
                _ => 0.0,
            };
            out.extra.push(extra);
        }

        // The months, all lanes together.
        let zig = random::ziggurat();
        let mut words = [0u64; LANES];
        let mut counts = [0u64; LANES];
        let mut cut_factor = [1.0f64; LANES];
        if same_product.is_some() {
            rows.api_price[0] = [1.0; LANES];
        }
        if failures {
            rows.failures[0] = [0.0; LANES];
        }
        for t in 1..h {
            for (shocks, &drawn) in out.shocks.iter_mut().zip(&c.drawn) {
                if !drawn {
                    continue;
                }
                main.next(&mut words);
                let row = &mut shocks[t];
                if !random::fast_normals(zig, &words, &sign, row) {
                    for l in 0..LANES {
                        if !random::fast_normal(zig, words[l]).1 {
                            row[l] = sign[l] * random::normal_from(words[l], &mut out.extra[l]);
                        }
                    }
                }
            }
            if same_product.is_some() || failures {
                main.next(&mut words);
                for (w, m) in words.iter_mut().zip(&mirror_bits) {
                    *w ^= m;
                }
                if let Some(cut_size) = same_product {
                    c.cuts.counts(&words, 32, 0, &mut counts);
                    if counts.iter().any(|&k| k > 0) {
                        for l in 0..LANES {
                            for _ in 0..counts[l] {
                                let u = out.extra[l].uniform();
                                let u = if mirrored[l] { 1.0 - u } else { u };
                                let u = u.clamp(1e-12, 1.0 - 1e-12);
                                cut_factor[l] *= (1.0 - cut_size.quantile(u)).max(1e-9);
                            }
                        }
                    }
                    // The product of the cuts so far; the drift comes below.
                    rows.api_price[t] = cut_factor;
                }
                if failures {
                    c.failures.counts(&words, 0, 0, &mut counts);
                    for (f, &k) in rows.failures[t].iter_mut().zip(&counts) {
                        *f = small_to_f64(k) / 64.0;
                    }
                }
            }
        }

        // The rest, a month at a time across the lanes.
        if let Some(l) = &self.cholesky {
            for t in 1..h {
                let mut e = [[0.0f64; LANES]; 5];
                for (e, shocks) in e.iter_mut().zip(&out.shocks) {
                    if let Some(row) = shocks.get(t) {
                        *e = *row;
                    }
                }
                for (i, shocks) in out.shocks.iter_mut().enumerate() {
                    if let Some(row) = shocks.get_mut(t) {
                        for (lane, z) in row.iter_mut().enumerate() {
                            *z = (0..=i).map(|j| l[(i, j)] * e[j][lane]).sum();
                        }
                    }
                }
            }
        }
        let walked = [
            Some(&mut *rows.demand),
            Some(&mut *rows.api_price),
            None,
            Some(&mut *rows.power_price),
            Some(&mut *rows.throughput),
        ];
        for ((walked, walk), shocks) in walked.into_iter().zip(&c.walks).zip(&out.shocks) {
            if let (Some(walked), Some((scale, trend))) = (walked, walk) {
                let mut w = [0.0; LANES];
                for ((row, z), m) in walked.iter_mut().zip(shocks).zip(trend) {
                    for lane in 0..LANES {
                        w[lane] += scale * z[lane];
                        row[lane] = m + w[lane];
                    }
                }
                exp_in_place(walked.as_flattened_mut());
            }
        }
        if let Some(DemandProcess::Logistic { .. }) = &s.demand {
            let r0 = self.base_requests_per_day.max(1e-9);
            for (row, (grow, shrink)) in rows.demand.iter_mut().zip(&c.logistic) {
                for (m, &ceiling) in row.iter_mut().zip(&out.ceiling) {
                    let logistic = ceiling / (1.0 + (ceiling / r0 - 1.0) * shrink);
                    *m *= logistic / (r0 * grow);
                }
            }
        }
        if same_product.is_some() {
            for (row, drift) in rows.api_price.iter_mut().zip(&c.api_drift) {
                for m in row {
                    *m *= drift;
                }
            }
        }
        if s.gpu_price.is_some() {
            let mut ou = [0.0; LANES];
            for ((row, z), level) in rows
                .gpu_price
                .iter_mut()
                .zip(&out.shocks[2])
                .zip(&c.gpu_log_level)
            {
                for lane in 0..LANES {
                    ou[lane] = ou[lane] * c.gpu_decay + c.gpu_scale * z[lane];
                    row[lane] = level + ou[lane];
                }
            }
            exp_in_place(rows.gpu_price.as_flattened_mut());
        }
    }
}

/// eˣ for every element, in plain IEEE arithmetic: Cody–Waite reduction
/// x = k·ln 2 + r with |r| ≤ ln 2 / 2, then the Taylor series of eʳ to
/// degree 13 (truncation below 1e-17; evaluated by Estrin's scheme) and
/// 2ᵏ put in the exponent bits. Within 5e-16 (two units in the last
/// place) of the true value, a few times faster than the libm call, which
/// does not vectorise (exponentials were most of a path's draw with it),
/// and the same bits on every platform and libm.
/// Arguments are clamped to ±708, far outside anything a path reaches.
#[inline(always)]
pub fn exp_in_place(xs: &mut [f64]) {
    for x in xs {
        *x = exp_scalar(*x);
    }
}

#[inline(always)]
pub fn exp_scalar(x: f64) -> f64 {
    // ln 2 split so that k·LN2_HI is exact for |k| < 2¹¹.
    const LN2_HI: f64 = 6.931_471_803_691_238e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    // Adding 1.5·2⁵² rounds to an integer, left in the low mantissa bits.
    const SHIFTER: f64 = 6_755_399_441_055_744.0;
    const INVERSE_FACTORIALS: [f64; 14] = [
        1.0,
        1.0,
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5_040.0,
        1.0 / 40_320.0,
        1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
        1.0 / 6_227_020_800.0,
    ];
    let x = x.clamp(-708.0, 708.0);
    let shifted = x * std::f64::consts::LOG2_E + SHIFTER;
    let k = shifted.to_bits().wrapping_sub(SHIFTER.to_bits()) as i64;
    let kf = shifted - SHIFTER;
    let r = (x - kf * LN2_HI) - kf * LN2_LO;
    // Estrin's scheme: the pairs, quads and the rest in a tree of depth
    // four rather than a chain of thirteen steps, so that a loop over a
    // row keeps the floating-point units busy.
    let c = &INVERSE_FACTORIALS;
    let r2 = r * r;
    let r4 = r2 * r2;
    let r8 = r4 * r4;
    let pair = |k: usize| c[k] + c[k + 1] * r;
    let low = (pair(0) + pair(2) * r2) + (pair(4) + pair(6) * r2) * r4;
    let high = (pair(8) + pair(10) * r2) + pair(12) * r4;
    let p = low + high * r8;
    p * f64::from_bits(((k + 1023) as u64) << 52)
}

/// The Poisson(λ) counts of a run, tabulated once: for a draw from 32
/// random bits b, whose uniform is (b + ½)/2³², the last b of each count —
/// the cumulative probabilities [`poisson_quantile`] sums, scaled — so a
/// draw compares integers rather than taking an exponential and a sum.
#[derive(Debug, Clone)]
struct Poisson {
    last_bits: Vec<i64>,
    /// The first four entries, padded with values no draw exceeds.
    head: [i64; 4],
}

impl Default for Poisson {
    /// No events.
    fn default() -> Self {
        Self::new(0.0)
    }
}

impl Poisson {
    fn new(lambda: f64) -> Self {
        let mut last_bits = Vec::new();
        if lambda > 0.0 {
            let mut p = (-lambda).exp();
            let mut cdf = p;
            let mut k = 0u32;
            loop {
                // (b + ½)/2³² ≤ cdf exactly when b ≤ cdf·2³² − ½, which is
                // computed exactly.
                last_bits.push((cdf * 4_294_967_296.0 - 0.5).floor() as i64);
                if k == 10_000 || (k > 0 && p < 1e-300) {
                    break;
                }
                k += 1;
                p *= lambda / f64::from(k);
                cdf += p;
            }
        }
        // Draws beyond every entry get the last count, so the last entry
        // may as well be the last draw; and no draw goes past the first
        // entry that reaches it.
        match last_bits.iter().position(|&b| b >= i64::from(u32::MAX)) {
            Some(end) => last_bits.truncate(end + 1),
            None => last_bits.push(i64::from(u32::MAX)),
        }
        let mut head = [i64::MAX; 4];
        for (h, &b) in head.iter_mut().zip(&last_bits) {
            *h = b;
        }
        Self { last_bits, head }
    }

    /// `poisson_quantile((b + ½)/2³², λ)` for each word's 32 bits from
    /// `shift` (mirrored by `mirror_bits`): the number of entries below b,
    /// the table being increasing. The first four entries are counted for
    /// every word, without a branch — whether a month has a count at all is
    /// as good as random, so a search would mispredict often, and a row of
    /// comparisons vectorises — and the rest, which a month at the rates
    /// here reaches once in thousands, searched for afterwards.
    ///
    /// The counts are 64-bit, as wide as the comparisons, so that the
    /// comparisons' results need no narrowing.
    fn counts(&self, words: &[u64], shift: u32, mirror_bits: u32, out: &mut [u64]) {
        let bits = |w: u64| i64::from((w >> shift) as u32 ^ mirror_bits);
        let [t0, t1, t2, t3] = self.head;
        for (n, &w) in out.iter_mut().zip(words) {
            let b = bits(w);
            *n = u64::from(b > t0) + u64::from(b > t1) + u64::from(b > t2) + u64::from(b > t3);
        }
        if out.iter().fold(false, |beyond, &n| beyond | (n == 4)) {
            for (n, &w) in out.iter_mut().zip(words) {
                if *n == 4 {
                    *n = self.count_beyond_head(bits(w));
                }
            }
        }
    }

    #[cold]
    fn count_beyond_head(&self, b: i64) -> u64 {
        4 + self.last_bits[4..]
            .iter()
            .take_while(|&&last| last < b)
            .count() as u64
    }
}

/// `n as f64` for n < 2⁵², exactly: n in the mantissa of 2⁵², less 2⁵².
/// Unlike the conversion, which AVX2 lacks for 64-bit integers, this
/// vectorises.
#[inline(always)]
fn small_to_f64(n: u64) -> f64 {
    const TWO_52: f64 = 4_503_599_627_370_496.0;
    f64::from_bits(TWO_52.to_bits() | n) - TWO_52
}

/// The Poisson(λ) count at quantile `u` (inverse CDF by summation; λ is a
/// monthly rate, so a handful of terms).
pub fn poisson_quantile(u: f64, lambda: f64) -> u32 {
    if lambda <= 0.0 {
        return 0;
    }
    let mut p = (-lambda).exp();
    let mut cdf = p;
    let mut k = 0u32;
    while u > cdf && k < 10_000 {
        k += 1;
        p *= lambda / f64::from(k);
        cdf += p;
        if p < 1e-300 {
            break;
        }
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_quantiles_follow_the_cdf() {
        assert_eq!(poisson_quantile(0.1, 1.0), 0); // P(0) = 0.368
        assert_eq!(poisson_quantile(0.5, 1.0), 1); // P(≤1) = 0.736
        assert_eq!(poisson_quantile(0.9, 1.0), 2); // P(≤2) = 0.920
        assert_eq!(poisson_quantile(0.9, 0.0), 0);
    }

    #[test]
    fn the_exponential_is_within_a_few_ulps() {
        let mut xs: Vec<f64> = (0..200_001)
            .map(|i| -700.0 + 1400.0 * i as f64 / 200_000.0)
            .collect();
        xs.extend((0..20_001).map(|i| -1.0 + i as f64 / 10_000.0));
        let mut ys = xs.clone();
        exp_in_place(&mut ys);
        for (x, y) in xs.iter().zip(&ys) {
            let want = x.exp();
            assert!(
                ((y - want) / want).abs() < 5e-16,
                "exp({x}) = {y}, not {want}"
            );
        }
        let mut exact = [0.0, 1.0, -1.0];
        exp_in_place(&mut exact);
        assert_eq!(exact[0], 1.0);
    }

    #[test]
    fn small_counts_convert_exactly() {
        for n in (0..20_000).chain([1 << 40, (1 << 52) - 1]) {
            assert_eq!(small_to_f64(n), n as f64, "{n}");
        }
    }

    #[test]
    fn tabulated_counts_match_the_summation() {
        let unit = |bits: u32| (f64::from(bits) + 0.5) / 4_294_967_296.0;
        let mut rng = super::random::Stream::new(1, 2, 0);
        for lambda in [0.0, 0.041_666, 0.27, 4.3, 64.0] {
            let table = Poisson::new(lambda);
            let edges = table.last_bits.iter().flat_map(|&b| [b - 1, b, b + 1]);
            let random = (0..20_000).map(|_| i64::from(rng.next_u64() as u32));
            let ends = [0, u32::MAX as i64];
            let bits: Vec<u32> = (edges.chain(random).chain(ends))
                .filter(|b| (0..1 << 32).contains(b))
                .map(|b| b as u32)
                .collect();
            // In the high half of each word, and in the low half mirrored.
            let words: Vec<u64> = bits
                .iter()
                .map(|&b| u64::from(b) << 32 | u64::from(b))
                .collect();
            let (mut high, mut mirrored) = (vec![0; bits.len()], vec![0; bits.len()]);
            table.counts(&words, 32, 0, &mut high);
            table.counts(&words, 0, u32::MAX, &mut mirrored);
            for ((&b, &n), &m) in bits.iter().zip(&high).zip(&mirrored) {
                let want = |u| u64::from(poisson_quantile(u, lambda));
                assert_eq!(n, want(unit(b)), "{lambda} {b}");
                assert_eq!(m, want(1.0 - unit(b)), "{lambda} !{b}");
            }
        }
    }
}
