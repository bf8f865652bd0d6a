//! What a simulation draws at random: processes for the monthly shocks,
//! distributions for uncertain static inputs, and the correlation between
//! the shocks. All optional: a simulation without them reproduces the
//! deterministic projection.

use nalgebra::DMatrix;

use crate::error::{Error, FieldViolation, Result};

/// A distribution for an uncertain scalar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Distribution {
    Fixed(f64),
    Uniform {
        min: f64,
        max: f64,
    },
    Triangular {
        min: f64,
        mode: f64,
        max: f64,
    },
    /// Beta-PERT with the usual weight 4 on the mode.
    Pert {
        min: f64,
        mode: f64,
        max: f64,
    },
    /// Normal, truncated to [min, max] (which may be infinite).
    Normal {
        mean: f64,
        sd: f64,
        min: f64,
        max: f64,
    },
    /// Lognormal given by the mean and standard deviation of the variable
    /// itself, truncated to [min, max].
    Lognormal {
        mean: f64,
        sd: f64,
        min: f64,
        max: f64,
    },
}

impl Distribution {
    /// Whether draws can differ: anything but a fixed value or an empty
    /// range.
    pub fn varies(&self) -> bool {
        match *self {
            Distribution::Fixed(_) => false,
            Distribution::Uniform { min, max }
            | Distribution::Triangular { min, max, .. }
            | Distribution::Pert { min, max, .. } => min < max,
            Distribution::Normal { sd, .. } | Distribution::Lognormal { sd, .. } => sd > 0.0,
        }
    }

    /// The value at quantile `u` in (0, 1): inverse-CDF sampling keeps one
    /// uniform per draw, which makes antithetic pairs and P10/P90 cases
    /// exact.
    pub fn quantile(&self, u: f64) -> f64 {
        match *self {
            Distribution::Fixed(v) => v,
            Distribution::Uniform { min, max } => min + (max - min) * u,
            Distribution::Triangular { min, mode, max } => {
                let c = if max > min {
                    (mode - min) / (max - min)
                } else {
                    0.5
                };
                if u < c {
                    min + ((max - min) * (mode - min) * u).sqrt()
                } else {
                    max - ((max - min) * (max - mode) * (1.0 - u)).sqrt()
                }
            }
            Distribution::Pert { min, mode, max } => {
                if max <= min {
                    return min;
                }
                let a = 1.0 + 4.0 * (mode - min) / (max - min);
                let b = 1.0 + 4.0 * (max - mode) / (max - min);
                min + (max - min) * beta_quantile(u, a, b)
            }
            Distribution::Normal { mean, sd, min, max } => {
                let (lo, hi) = (normal_cdf((min - mean) / sd), normal_cdf((max - mean) / sd));
                mean + sd * normal_quantile(lo + (hi - lo) * u)
            }
            Distribution::Lognormal { mean, sd, min, max } => {
                let s2 = (1.0 + (sd / mean).powi(2)).ln();
                let (mu, s) = (mean.ln() - s2 / 2.0, s2.sqrt());
                let z = |x: f64| {
                    if x <= 0.0 {
                        f64::NEG_INFINITY
                    } else {
                        (x.ln() - mu) / s
                    }
                };
                let (lo, hi) = (normal_cdf(z(min)), normal_cdf(z(max)));
                (mu + s * normal_quantile(lo + (hi - lo) * u)).exp()
            }
        }
    }

    fn check(&self, field: &str, out: &mut Vec<FieldViolation>) {
        let finite = |v: f64| v.is_finite();
        let mut fail = |why: &str| out.push(FieldViolation::new(field, why));
        match *self {
            Distribution::Fixed(v) if !finite(v) => fail("value must be finite"),
            Distribution::Uniform { min, max } if !(finite(min) && finite(max) && min <= max) => {
                fail("uniform needs finite min <= max")
            }
            Distribution::Triangular { min, mode, max } | Distribution::Pert { min, mode, max }
                if !(finite(min)
                    && finite(mode)
                    && finite(max)
                    && min <= mode
                    && mode <= max
                    && min < max) =>
            {
                fail("needs finite min <= mode <= max with min < max")
            }
            Distribution::Normal { mean, sd, min, max }
                if !(finite(mean) && finite(sd) && sd > 0.0 && min < max) =>
            {
                fail("normal needs a finite mean, sd > 0 and min < max")
            }
            Distribution::Lognormal { mean, sd, min, max }
                if !(finite(mean)
                    && mean > 0.0
                    && finite(sd)
                    && sd > 0.0
                    && min < max
                    && max > 0.0) =>
            {
                fail("lognormal needs mean > 0, sd > 0 and min < max")
            }
            _ => {}
        }
    }
}

/// Standard normal CDF (Abramowitz–Stegun 7.1.26 via erfc; |error| < 1.5e-7).
pub fn normal_cdf(x: f64) -> f64 {
    if x == f64::INFINITY {
        return 1.0;
    }
    if x == f64::NEG_INFINITY {
        return 0.0;
    }
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erfc = poly * (-z * z).exp();
    if x >= 0.0 {
        1.0 - 0.5 * erfc
    } else {
        0.5 * erfc
    }
}

/// Standard normal quantile (Acklam's rational approximation, relative
/// error below 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383_577_518_672_69e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let low = 0.02425;
    if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    }
}

/// Quantile of Beta(a, b) by bisection on the regularised incomplete beta
/// (numerical integration is plenty for the PERT shapes used here).
fn beta_quantile(u: f64, a: f64, b: f64) -> f64 {
    // CDF on a fixed grid by Simpson's rule, then linear interpolation.
    const N: usize = 512;
    let pdf = |x: f64| x.powf(a - 1.0) * (1.0 - x).powf(b - 1.0);
    let mut cdf = [0.0f64; N + 1];
    let h = 1.0 / N as f64;
    for i in 1..=N {
        let (x0, x1) = ((i - 1) as f64 * h, i as f64 * h);
        let xm = 0.5 * (x0 + x1);
        cdf[i] = cdf[i - 1] + h / 6.0 * (pdf(x0).min(1e300) + 4.0 * pdf(xm) + pdf(x1).min(1e300));
    }
    let total = cdf[N];
    let target = u * total;
    let i = cdf.partition_point(|&c| c < target).clamp(1, N);
    let (c0, c1) = (cdf[i - 1], cdf[i]);
    let frac = if c1 > c0 {
        (target - c0) / (c1 - c0)
    } else {
        0.0
    };
    ((i - 1) as f64 + frac) * h
}

/// Monthly demand around the deterministic path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DemandProcess {
    /// Geometric Brownian motion with this annual volatility, corrected so
    /// that its mean is the deterministic path.
    Gbm { volatility: f64 },
    /// Logistic adoption towards an uncertain ceiling (requests/day), at
    /// the growth rate the scenario implies at the start, plus optional
    /// GBM noise.
    Logistic {
        ceiling: Distribution,
        volatility: f64,
    },
}

/// How API prices move.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ApiPriceProcess {
    /// The same product's list price: slow drift plus sudden cuts arriving
    /// as a Poisson process.
    SameProduct {
        /// Annual log drift (e.g. −0.10).
        annual_drift: f64,
        /// Expected cuts per year.
        cuts_per_year: f64,
        /// Share of the price a cut removes (e.g. uniform 0.5–0.67).
        cut_size: Distribution,
    },
    /// The price of a constant capability level: falls `annual_factor`
    /// fold a year (e.g. 10 for tenfold), with log volatility.
    ConstantCapability { annual_factor: f64, volatility: f64 },
}

/// GPU rental (and replacement capex) prices: a declining trend with
/// mean-reverting swings (Ornstein–Uhlenbeck in logs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GpuPriceProcess {
    /// Annual decline of the trend, 0–1.
    pub annual_decline: f64,
    /// Annual volatility of the swings.
    pub volatility: f64,
    /// Speed of reversion to the trend, per year.
    pub reversion_per_year: f64,
}

/// A one-factor lognormal walk for power prices or throughput gains.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Walk {
    /// Annual drift of the multiplier (e.g. 0.3 for +30% a year).
    pub annual_drift: f64,
    pub volatility: f64,
}

/// The correlated monthly shocks, in this order.
pub const FACTORS: [&str; 5] = [
    "demand",
    "api_price",
    "gpu_price",
    "power_price",
    "throughput",
];

/// Scalars of a scenario that may carry a distribution instead of a value:
/// those that do not change the throughput estimate (which is computed once
/// per scenario; its uncertainty is the `throughput` walk).
pub const UNCERTAIN_INPUTS: [&str; 14] = [
    "workload.requests_per_day",
    "workload.annual_growth",
    "workload.cached_input_fraction",
    "workload.batch_fraction",
    "workload.peak_to_average",
    "api.annual_price_decline",
    "self_host.target_utilization",
    "self_host.quality_factor",
    "rented.usd_per_gpu_hour",
    "owned.capex_per_gpu",
    "owned.power_usd_per_kwh",
    "owned.cost_of_capital",
    "owned.resale_fraction",
    "owned.staff_usd_per_month",
];

/// Everything random about a simulation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stochastic {
    pub demand: Option<DemandProcess>,
    pub api_price: Option<ApiPriceProcess>,
    pub gpu_price: Option<GpuPriceProcess>,
    pub power_price: Option<Walk>,
    pub throughput: Option<Walk>,
    /// Annual share of GPUs that fail and are replaced at current capex.
    pub annual_failure_rate: f64,
    /// (input name from [`UNCERTAIN_INPUTS`], distribution).
    pub uncertain: Vec<(String, Distribution)>,
    /// Correlation of the monthly shocks over [`FACTORS`], row-major 5×5;
    /// empty for independent shocks.
    pub correlation: Vec<f64>,
}

impl Stochastic {
    /// Whether any path can differ from another: a process with volatility
    /// or price cuts, a failure rate, or an uncertain input with a spread.
    /// Drifts alone move every path alike.
    pub fn is_random(&self) -> bool {
        let demand = match &self.demand {
            Some(DemandProcess::Gbm { volatility }) => *volatility > 0.0,
            Some(DemandProcess::Logistic {
                ceiling,
                volatility,
            }) => *volatility > 0.0 || ceiling.varies(),
            None => false,
        };
        let api_price = match &self.api_price {
            Some(ApiPriceProcess::SameProduct {
                cuts_per_year,
                cut_size,
                ..
            }) => *cuts_per_year > 0.0 && (cut_size.varies() || cut_size.quantile(0.5) != 0.0),
            Some(ApiPriceProcess::ConstantCapability { volatility, .. }) => *volatility > 0.0,
            None => false,
        };
        let walk = |w: &Option<Walk>| w.is_some_and(|w| w.volatility > 0.0);
        demand
            || api_price
            || self.gpu_price.is_some_and(|g| g.volatility > 0.0)
            || walk(&self.power_price)
            || walk(&self.throughput)
            || self.annual_failure_rate > 0.0
            || self.uncertain.iter().any(|(_, d)| d.varies())
    }

    /// Refuses a simulation in which nothing is random, unless the caller
    /// asked for one: every path would be the projection.
    pub fn require_random(&self, allow_deterministic: bool) -> Result<()> {
        if allow_deterministic || self.is_random() {
            return Ok(());
        }
        Err(Error::FailedPrecondition(
            "nothing in this simulation is random, so every path would be the projection: \
             give stochastic.demand, stochastic.api_price, stochastic.gpu_price, \
             stochastic.power_price or stochastic.throughput a volatility (or price cuts), \
             set stochastic.annual_failure_rate, or add an uncertain input with a spread; \
             or set allow_deterministic to run it anyway"
                .into(),
        ))
    }

    /// Checks everything; `prefix` goes before field paths.
    pub fn validate(&self, prefix: &str) -> Result<()> {
        let mut out = Vec::new();
        let f = |name: &str| format!("{prefix}{name}");
        let range = |name: &str, v: f64, lo: f64, hi: f64, out: &mut Vec<FieldViolation>| {
            if !(v.is_finite() && v >= lo && v <= hi) {
                out.push(FieldViolation::new(
                    f(name),
                    format!("must be in [{lo}, {hi}], got {v}"),
                ));
            }
        };
        match &self.demand {
            Some(DemandProcess::Gbm { volatility }) => {
                range("demand.volatility", *volatility, 0.0, 5.0, &mut out)
            }
            Some(DemandProcess::Logistic {
                ceiling,
                volatility,
            }) => {
                range("demand.volatility", *volatility, 0.0, 5.0, &mut out);
                ceiling.check(&f("demand.ceiling"), &mut out);
                if ceiling.quantile(0.0001) <= 0.0 {
                    out.push(FieldViolation::new(f("demand.ceiling"), "must be positive"));
                }
            }
            None => {}
        }
        match &self.api_price {
            Some(ApiPriceProcess::SameProduct {
                annual_drift,
                cuts_per_year,
                cut_size,
            }) => {
                range("api_price.annual_drift", *annual_drift, -5.0, 5.0, &mut out);
                range(
                    "api_price.cuts_per_year",
                    *cuts_per_year,
                    0.0,
                    52.0,
                    &mut out,
                );
                cut_size.check(&f("api_price.cut_size"), &mut out);
                let (lo, hi) = (cut_size.quantile(1e-9), cut_size.quantile(1.0 - 1e-9));
                if !(lo >= 0.0 && hi < 1.0) {
                    out.push(FieldViolation::new(
                        f("api_price.cut_size"),
                        "a cut removes a share in [0, 1) of the price",
                    ));
                }
            }
            Some(ApiPriceProcess::ConstantCapability {
                annual_factor,
                volatility,
            }) => {
                range(
                    "api_price.annual_factor",
                    *annual_factor,
                    1.0,
                    1000.0,
                    &mut out,
                );
                range("api_price.volatility", *volatility, 0.0, 5.0, &mut out);
            }
            None => {}
        }
        if let Some(g) = &self.gpu_price {
            range(
                "gpu_price.annual_decline",
                g.annual_decline,
                0.0,
                0.99,
                &mut out,
            );
            range("gpu_price.volatility", g.volatility, 0.0, 5.0, &mut out);
            range(
                "gpu_price.reversion_per_year",
                g.reversion_per_year,
                0.0,
                100.0,
                &mut out,
            );
        }
        for (name, walk) in [
            ("power_price", &self.power_price),
            ("throughput", &self.throughput),
        ] {
            if let Some(w) = walk {
                range(
                    &format!("{name}.annual_drift"),
                    w.annual_drift,
                    -0.99,
                    10.0,
                    &mut out,
                );
                range(
                    &format!("{name}.volatility"),
                    w.volatility,
                    0.0,
                    5.0,
                    &mut out,
                );
            }
        }
        range(
            "annual_failure_rate",
            self.annual_failure_rate,
            0.0,
            1.0,
            &mut out,
        );
        for (i, (name, dist)) in self.uncertain.iter().enumerate() {
            if !UNCERTAIN_INPUTS.contains(&name.as_str()) {
                out.push(FieldViolation::new(
                    f(&format!("uncertain[{i}].input")),
                    format!("{name:?} is not one of {}", UNCERTAIN_INPUTS.join(", ")),
                ));
            }
            if self.uncertain[..i].iter().any(|(n, _)| n == name) {
                out.push(FieldViolation::new(
                    f(&format!("uncertain[{i}].input")),
                    format!("{name:?} is given twice"),
                ));
            }
            dist.check(&f(&format!("uncertain[{i}].distribution")), &mut out);
        }
        if !self.correlation.is_empty()
            && let Err(why) = cholesky(&self.correlation)
        {
            out.push(FieldViolation::new(f("correlation"), why));
        }
        if out.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidArgument(out))
        }
    }
}

/// The lower Cholesky factor of a correlation matrix over [`FACTORS`], or
/// which property it lacks. Never repaired silently.
pub fn cholesky(values: &[f64]) -> std::result::Result<DMatrix<f64>, String> {
    let n = FACTORS.len();
    if values.len() != n * n {
        return Err(format!(
            "must have {} entries ({n}×{n} over {}), got {}",
            n * n,
            FACTORS.join(", "),
            values.len()
        ));
    }
    let m = DMatrix::from_row_slice(n, n, values);
    for i in 0..n {
        if (m[(i, i)] - 1.0).abs() > 1e-12 {
            return Err(format!("diagonal entry {i} is {}, not 1", m[(i, i)]));
        }
        for j in 0..n {
            if !m[(i, j)].is_finite() || m[(i, j)].abs() > 1.0 {
                return Err(format!(
                    "entry ({i}, {j}) is {}, outside [-1, 1]",
                    m[(i, j)]
                ));
            }
            if (m[(i, j)] - m[(j, i)]).abs() > 1e-12 {
                return Err(format!(
                    "is not symmetric: ({i}, {j}) = {} but ({j}, {i}) = {}",
                    m[(i, j)],
                    m[(j, i)]
                ));
            }
        }
    }
    nalgebra::Cholesky::new(m)
        .map(|c| c.l())
        .ok_or_else(|| "is not positive definite".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_spread_volatility_cuts_or_failures_make_paths_differ() {
        let none = Stochastic::default();
        assert!(!none.is_random());
        assert!(none.require_random(true).is_ok());
        assert!(matches!(
            none.require_random(false),
            Err(Error::FailedPrecondition(_))
        ));
        let drift = Walk {
            annual_drift: 0.3,
            volatility: 0.0,
        };
        let cases = [
            (
                Stochastic {
                    throughput: Some(drift),
                    ..Default::default()
                },
                false,
            ),
            (
                Stochastic {
                    throughput: Some(Walk {
                        volatility: 0.1,
                        ..drift
                    }),
                    ..Default::default()
                },
                true,
            ),
            (
                Stochastic {
                    demand: Some(DemandProcess::Gbm { volatility: 0.0 }),
                    ..Default::default()
                },
                false,
            ),
            (
                Stochastic {
                    demand: Some(DemandProcess::Logistic {
                        ceiling: Distribution::Uniform { min: 1e6, max: 2e6 },
                        volatility: 0.0,
                    }),
                    ..Default::default()
                },
                true,
            ),
            (
                Stochastic {
                    api_price: Some(ApiPriceProcess::SameProduct {
                        annual_drift: -0.1,
                        cuts_per_year: 0.0,
                        cut_size: Distribution::Uniform { min: 0.5, max: 0.6 },
                    }),
                    ..Default::default()
                },
                false,
            ),
            (
                Stochastic {
                    api_price: Some(ApiPriceProcess::SameProduct {
                        annual_drift: 0.0,
                        cuts_per_year: 1.0,
                        cut_size: Distribution::Fixed(0.5),
                    }),
                    ..Default::default()
                },
                true,
            ),
            (
                Stochastic {
                    annual_failure_rate: 0.02,
                    ..Default::default()
                },
                true,
            ),
            (
                Stochastic {
                    uncertain: vec![("owned.cost_of_capital".into(), Distribution::Fixed(0.1))],
                    ..Default::default()
                },
                false,
            ),
            (
                Stochastic {
                    uncertain: vec![(
                        "owned.cost_of_capital".into(),
                        Distribution::Triangular {
                            min: 0.05,
                            mode: 0.1,
                            max: 0.2,
                        },
                    )],
                    ..Default::default()
                },
                true,
            ),
        ];
        for (stochastic, random) in cases {
            assert_eq!(stochastic.is_random(), random, "{stochastic:?}");
        }
    }

    #[test]
    fn quantiles_hit_their_bounds_and_medians() {
        let tri = Distribution::Triangular {
            min: 0.0,
            mode: 1.0,
            max: 4.0,
        };
        assert!((tri.quantile(0.0) - 0.0).abs() < 1e-12 && (tri.quantile(1.0) - 4.0).abs() < 1e-12);
        assert!(
            (tri.quantile(0.25) - 1.0).abs() < 1e-12,
            "the mode sits at F = (mode-min)/(max-min)"
        );
        let pert = Distribution::Pert {
            min: 0.0,
            mode: 5.0,
            max: 10.0,
        };
        assert!((pert.quantile(0.5) - 5.0).abs() < 1e-3);
        let normal = Distribution::Normal {
            mean: 10.0,
            sd: 2.0,
            min: f64::NEG_INFINITY,
            max: f64::INFINITY,
        };
        assert!((normal.quantile(0.975) - (10.0 + 2.0 * 1.959964)).abs() < 1e-4);
        let truncated = Distribution::Normal {
            mean: 0.0,
            sd: 1.0,
            min: 0.0,
            max: f64::INFINITY,
        };
        assert!(truncated.quantile(0.001) >= 0.0);
        let logn = Distribution::Lognormal {
            mean: 100.0,
            sd: 50.0,
            min: 0.0,
            max: f64::INFINITY,
        };
        let s2 = (1.0f64 + 0.25).ln();
        assert!((logn.quantile(0.5) - (100f64.ln() - s2 / 2.0).exp()).abs() < 1e-6);
    }

    #[test]
    fn correlation_matrices_are_checked_not_repaired() {
        let mut identity = vec![0.0; 25];
        for i in 0..5 {
            identity[i * 5 + i] = 1.0;
        }
        assert!(cholesky(&identity).is_ok());
        let mut asym = identity.clone();
        asym[1] = 0.5;
        assert!(cholesky(&asym).unwrap_err().contains("symmetric"));
        let mut diag = identity.clone();
        diag[0] = 0.9;
        assert!(cholesky(&diag).unwrap_err().contains("diagonal"));
        let mut not_pd = identity.clone();
        for (a, b) in [(0, 1), (0, 2), (1, 2)] {
            let v = if (a, b) == (1, 2) { -0.9 } else { 0.9 };
            not_pd[a * 5 + b] = v;
            not_pd[b * 5 + a] = v;
        }
        assert!(cholesky(&not_pd).unwrap_err().contains("positive definite"));
        assert!(cholesky(&identity[..9]).unwrap_err().contains("25 entries"));
    }
}
