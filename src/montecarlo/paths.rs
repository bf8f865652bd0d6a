//! Drawing one path: the monthly multipliers of every process and the
//! values of the uncertain static inputs, from the path's own stream.

use nalgebra::DMatrix;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::inputs::{ApiPriceProcess, DemandProcess, FACTORS, Stochastic};

/// Months per year, and the time step in years.
const DT: f64 = 1.0 / 12.0;

/// Buffers for one path, reused across paths.
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
    /// Uniforms behind each static value (for fixing inputs in a tornado).
    normals: Vec<f64>,
}

/// The generator of path `index`: ChaCha8 keyed by the seed, one stream per
/// path (pair, when antithetic) — portable and independent of how paths
/// are spread across threads.
pub fn stream(seed: u64, index: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(b"brkeven1");
    let mut rng = ChaCha8Rng::from_seed(key);
    rng.set_stream(index);
    rng
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
    /// OU decay and noise scale per step.
    gpu_decay: f64,
    gpu_scale: f64,
    /// −(variance of the OU term)/2 plus the trend, per month.
    gpu_log_level: Vec<f64>,
    /// Expected API cuts per month.
    cuts_per_month: f64,
    /// Expected failures per month on the nominal fleet.
    failures_per_month: f64,
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
        if let Some(ApiPriceProcess::SameProduct { cuts_per_year, .. }) = &s.api_price {
            c.cuts_per_month = cuts_per_year * DT;
        }
        // Failures as a share of the fleet: the monthly hazard, with Poisson
        // noise on a nominal fleet of 64 GPUs.
        c.failures_per_month = (1.0 - (1.0 - s.annual_failure_rate).powf(DT)) * 64.0;
        c
    }

    /// Fills `out` for path `index`; with `antithetic`, odd paths mirror
    /// the draws of the even path before them.
    pub fn draw(&self, c: &Constants, seed: u64, index: u64, antithetic: bool, out: &mut PathDraw) {
        let (stream_id, mirror) = if antithetic {
            (index / 2, index % 2 == 1)
        } else {
            (index, false)
        };
        let mut rng = stream(seed, stream_id);
        let h = self.horizon;
        let s = self.stochastic;
        let sign = if mirror { -1.0 } else { 1.0 };
        let uniform = |rng: &mut ChaCha8Rng| {
            let u: f64 = rng.random();
            if mirror { 1.0 - u } else { u }
        };

        out.statics.clear();
        for (i, (_, dist)) in s.uncertain.iter().enumerate() {
            let u = uniform(&mut rng).clamp(1e-12, 1.0 - 1e-12);
            let value = match self.fixed.iter().find(|(p, _)| *p == i) {
                Some(&(_, v)) => v,
                None => dist.quantile(u),
            };
            out.statics.push(value);
        }
        let ceiling = match &s.demand {
            Some(DemandProcess::Logistic { ceiling, .. }) => {
                ceiling.quantile(uniform(&mut rng).clamp(1e-12, 1.0 - 1e-12))
            }
            _ => 0.0,
        };

        for v in [
            &mut out.demand,
            &mut out.api_price,
            &mut out.gpu_price,
            &mut out.power_price,
            &mut out.throughput,
            &mut out.failures,
        ] {
            v.clear();
            v.resize(h, 1.0);
        }
        out.failures.fill(0.0);
        let any_process = s.demand.is_some()
            || s.api_price.is_some()
            || s.gpu_price.is_some()
            || s.power_price.is_some()
            || s.throughput.is_some()
            || s.annual_failure_rate > 0.0;
        if !any_process {
            return;
        }

        let (mut w_demand, mut log_api, mut ou_gpu, mut w_power, mut w_tp) =
            (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
        let sqrt_dt = DT.sqrt();
        out.normals.resize(FACTORS.len(), 0.0);
        for t in 0..h {
            let tau = t as f64 * DT;
            if t > 0 {
                // Correlated shocks for the step from month t to t+1.
                let mut e = [0.0f64; 5];
                for x in e.iter_mut() {
                    let z: f64 = rng.sample(StandardNormal);
                    *x = sign * z;
                }
                let z = match &self.cholesky {
                    Some(l) => {
                        let mut z = [0.0; 5];
                        for (i, zi) in z.iter_mut().enumerate() {
                            *zi = (0..=i).map(|j| l[(i, j)] * e[j]).sum();
                        }
                        z
                    }
                    None => e,
                };
                w_demand += sqrt_dt * z[0];
                w_power += sqrt_dt * z[3];
                w_tp += sqrt_dt * z[4];
                match &s.api_price {
                    Some(ApiPriceProcess::SameProduct {
                        annual_drift,
                        cut_size,
                        ..
                    }) => {
                        log_api += annual_drift * DT;
                        let cuts = poisson_quantile(uniform(&mut rng), c.cuts_per_month);
                        for _ in 0..cuts {
                            let share =
                                cut_size.quantile(uniform(&mut rng).clamp(1e-12, 1.0 - 1e-12));
                            log_api += (1.0 - share).max(1e-9).ln();
                        }
                    }
                    Some(ApiPriceProcess::ConstantCapability {
                        annual_factor,
                        volatility,
                    }) => {
                        log_api += -annual_factor.ln() * DT + volatility * sqrt_dt * z[1]
                            - volatility * volatility * DT / 2.0;
                    }
                    None => {}
                }
                if let Some(g) = &s.gpu_price {
                    ou_gpu = ou_gpu * c.gpu_decay + g.volatility * c.gpu_scale * z[2];
                }
                if s.annual_failure_rate > 0.0 {
                    out.failures[t] =
                        poisson_quantile(uniform(&mut rng), c.failures_per_month) as f64 / 64.0;
                }
            }
            if let Some(d) = &s.demand {
                let (volatility, level) = match d {
                    DemandProcess::Gbm { volatility } => (*volatility, 1.0),
                    DemandProcess::Logistic { volatility, .. } => {
                        let r = (1.0 + self.base_growth).ln();
                        let r0 = self.base_requests_per_day.max(1e-9);
                        let logistic = ceiling / (1.0 + (ceiling / r0 - 1.0) * (-r * tau).exp());
                        (*volatility, logistic / (r0 * (r * tau).exp()))
                    }
                };
                out.demand[t] =
                    level * (volatility * w_demand - volatility * volatility * tau / 2.0).exp();
            }
            if s.api_price.is_some() {
                out.api_price[t] = log_api.exp();
            }
            if s.gpu_price.is_some() {
                out.gpu_price[t] = (c.gpu_log_level[t] + ou_gpu).exp();
            }
            if let Some(p) = &s.power_price {
                out.power_price[t] = ((1.0 + p.annual_drift).ln() * tau + p.volatility * w_power
                    - p.volatility * p.volatility * tau / 2.0)
                    .exp();
            }
            if let Some(p) = &s.throughput {
                out.throughput[t] = ((1.0 + p.annual_drift).ln() * tau + p.volatility * w_tp
                    - p.volatility * p.volatility * tau / 2.0)
                    .exp();
            }
        }
    }
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
    fn streams_depend_on_seed_and_index_only() {
        let a: u64 = stream(7, 3).random();
        let b: u64 = stream(7, 3).random();
        let c: u64 = stream(7, 4).random();
        let d: u64 = stream(8, 3).random();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }
}
