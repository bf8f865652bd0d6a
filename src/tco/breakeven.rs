//! Break-even volume, sensitivities and break-even maps: questions answered
//! by running the monthly model ([`super::project`]) many times.

use super::load_shape::HOURS;
use super::plan::{ApiRates, Costs, Plan};
use super::project::{Basis, Month, PathInputs, api_cost};
use super::scenario::Routing;

/// From what volume self-hosting stays cheaper.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BreakEvenVolume {
    /// Smallest requests/day from which self-hosting costs no more than the
    /// API every month at steady state (month-1 prices, whole GPUs, minimum
    /// replicas and purchase lots); `None` when no volume does.
    pub requests_per_day: Option<f64>,
    /// The same without rounding GPUs, replicas or lots.
    pub continuous_requests_per_day: Option<f64>,
    /// Monthly cost of one GPU at steady state, USD.
    pub monthly_cost_per_gpu: f64,
    /// Requests per day one replica serves at the target utilisation.
    pub requests_per_day_per_replica: f64,
    /// Why `requests_per_day` is `None`.
    pub not_reached: Option<NotReached>,
}

/// Why no volume makes self-hosting cheaper at steady state. This answers
/// a different question from the break-even month (when cumulative costs
/// cross as the scenario unfolds), so a scenario can break even in some
/// month and still have no break-even volume.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NotReached {
    /// `routing.overflow`: the fixed fleet costs more a month than the API
    /// would charge for all the traffic it can serve.
    FixedFleetDearer {
        gpus: u32,
        fleet_usd_per_month: f64,
        api_usd_per_month_at_capacity: f64,
    },
    /// The routing sends nothing to the open model.
    NothingSelfHosted,
    /// The estimate gives a replica no capacity within the latency targets.
    NoCapacity,
    /// A replica costs more per request at full load than the API charges,
    /// so more volume only widens the gap.
    ApiCheaperPerRequest {
        api_usd_per_request: f64,
        self_host_usd_per_request: f64,
    },
    /// The volume would need more than ten million replicas.
    BeyondTenMillionReplicas,
}

impl std::fmt::Display for NotReached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotReached::FixedFleetDearer {
                gpus,
                fleet_usd_per_month,
                api_usd_per_month_at_capacity,
            } => write!(
                f,
                "the fixed fleet of {gpus} GPUs (routing.overflow) costs \
                 ${fleet_usd_per_month:.0} a month at month-1 prices, more than the API would \
                 charge (${api_usd_per_month_at_capacity:.0}) for all the traffic it can serve, \
                 so no volume pays"
            ),
            NotReached::NothingSelfHosted => {
                write!(f, "the routing sends no traffic to the open model")
            }
            NotReached::NoCapacity => {
                write!(f, "a replica serves no requests within the latency targets")
            }
            NotReached::ApiCheaperPerRequest {
                api_usd_per_request,
                self_host_usd_per_request,
            } => write!(
                f,
                "at month-1 prices a fully used replica costs ${self_host_usd_per_request:.6} \
                 per request against the API's ${api_usd_per_request:.6}, so no volume pays"
            ),
            NotReached::BeyondTenMillionReplicas => {
                write!(f, "it would take more than ten million replicas")
            }
        }
    }
}

/// Multipliers for "what if" questions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adjust {
    pub api_price: f64,
    pub gpu_price: f64,
}

impl Default for Adjust {
    fn default() -> Self {
        Self {
            api_price: 1.0,
            gpu_price: 1.0,
        }
    }
}

impl Plan {
    /// Month-1 steady-state cost of one GPU and the fixed monthly cost.
    fn steady_costs(&self, adjust: Adjust) -> (f64, f64) {
        match &self.costs {
            Costs::Rented {
                usd_per_gpu_hour, ..
            } => (
                self.hours_per_month * usd_per_gpu_hour * adjust.gpu_price,
                0.0,
            ),
            Costs::Owned(o) => {
                // Levelised: the annuity that repays the capex, with its
                // cost of capital, over the depreciation life. A GPU at the
                // end of that life has no book value left, so the resale
                // fraction (of remaining book value) recovers nothing.
                let capex = o.capex_per_gpu * adjust.gpu_price;
                let per_gpu = capex
                    * super::finance::capital_recovery_factor(
                        o.cost_of_capital / 12.0,
                        o.depreciation_months,
                    )
                    + (o.kw_at_load_per_gpu * self.operating_hours_per_month
                        + o.kw_idle_per_gpu
                            * (self.hours_per_month - self.operating_hours_per_month))
                        * o.power_usd_per_kwh
                    + o.kw_provisioned_per_gpu * o.colocation_usd_per_kw_month
                    + o.staff_usd_per_gpu_month;
                (per_gpu, o.staff_usd_per_month)
            }
        }
    }

    /// Month-1 API cost of `requests_per_day`.
    fn steady_api(&self, requests_per_day: f64, adjust: Adjust) -> f64 {
        let w = &self.traffic;
        let rates: &ApiRates = &self.api_rates[0];
        api_cost(
            rates,
            adjust.api_price,
            requests_per_day,
            w.input_tokens,
            w.output_tokens,
            w.cached_input_fraction,
            w.cache_write_fraction,
            w.batch_fraction,
            w.operating_days,
            &self.volume_discounts,
        )
    }

    /// A fixed (overflow) fleet: the volume from which its cost a month is
    /// below what the API would charge for the traffic it serves.
    ///
    /// At a volume V the fleet serves each hour up to its capacity
    /// ([`LoadShape::served`]): all of V while the busiest hour fits, then
    /// less than V, up to its capacity in every hour with traffic. The
    /// API's bill for what it serves rises with that, dropping where a
    /// volume discount starts, so the answer is found on the served
    /// volume, past the last point at which the API's bill is not above
    /// the fleet's cost, and turned back into the volume that makes the
    /// fleet serve it.
    ///
    /// [`LoadShape::served`]: super::load_shape::LoadShape::served
    fn fixed_fleet_break_even(
        &self,
        gpus: u32,
        per_gpu: f64,
        fixed: f64,
        adjust: Adjust,
        mut result: BreakEvenVolume,
    ) -> BreakEvenVolume {
        let (w, sh) = (&self.traffic, &self.sizing);
        let shape = &w.load_shape;
        // API-side requests a day the fleet serves at a flat load.
        let flat = f64::from(gpus / self.tensor_parallel)
            * self.replica_requests_per_s
            * sh.target_utilization
            * w.operating_seconds_per_day
            / sh.quality_factor;
        let busy_hours = shape.weights().iter().filter(|w| **w > 0.0).count();
        let quietest = shape
            .weights()
            .iter()
            .copied()
            .filter(|w| *w > 0.0)
            .fold(f64::INFINITY, f64::min);
        // The most it serves, from the volume at which its quietest busy
        // hour fills.
        let full = flat * busy_hours as f64 / HOURS as f64;
        let saturation = flat / quietest;
        if full.is_nan() || full <= 0.0 {
            result.not_reached = Some(NotReached::NoCapacity);
            return result;
        }
        let cost = f64::from(gpus) * per_gpu + fixed;
        let pays = |v: f64| self.steady_api(v, adjust) > cost;
        // Between volume-discount thresholds the API's bill only rises.
        let api_per_request = self.steady_api(1.0, adjust);
        let mut bounds = vec![0.0, full];
        for tier in &self.volume_discounts {
            let v = tier.monthly_spend_usd / api_per_request;
            if v > 0.0 && v < full {
                bounds.push(v);
            }
        }
        bounds.sort_by(f64::total_cmp);
        if !pays(full) {
            result.not_reached = Some(NotReached::FixedFleetDearer {
                gpus,
                fleet_usd_per_month: cost,
                api_usd_per_month_at_capacity: self.steady_api(full, adjust),
            });
            return result;
        }
        // From the top segment down: the first whose start does not pay
        // holds the answer.
        let mut answer = 0.0;
        for seg in bounds.windows(2).rev() {
            let (a, b) = (seg[0], seg[1]);
            let start = a + (b - a) * 1e-12;
            if pays(start.max(1e-9)) {
                continue;
            }
            let (mut lo, mut hi) = (a, b);
            for _ in 0..100 {
                let mid = 0.5 * (lo + hi);
                if pays(mid) {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            answer = hi;
            break;
        }
        // The volume at which the fleet serves `answer`: the volume itself
        // while the busiest hour fits, else found by bisection (what the
        // fleet serves only rises with the volume, until saturation).
        let volume = if shape.served(answer, flat) >= answer {
            answer
        } else {
            let (mut lo, mut hi) = (answer, saturation);
            for _ in 0..200 {
                let mid = 0.5 * (lo + hi);
                if shape.served(mid, flat) >= answer {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            hi
        };
        result.requests_per_day = Some(volume.ceil());
        result.continuous_requests_per_day = Some(volume);
        result
    }

    /// The volume from which self-hosting stays cheaper at steady state.
    ///
    /// Self-hosting costs a step function of volume (one step per replica,
    /// or per purchase lot); the API costs a rising line (with drops where
    /// volume discounts start). Within step k, self-hosting loses wherever
    /// the API costs less than the step; the answer is just past the last
    /// such point.
    pub fn break_even_volume(&self, adjust: Adjust) -> BreakEvenVolume {
        let (w, sh) = (&self.traffic, &self.sizing);
        let (per_gpu, fixed) = self.steady_costs(adjust);
        let tp = self.tensor_parallel;
        let share = match self.routing {
            Routing::Fraction { self_hosted } => self_hosted,
            Routing::AllSelfHosted | Routing::Overflow { .. } => 1.0,
        };
        let unreached = NotReached::NothingSelfHosted;
        // API-side requests/day one replica serves.
        let capacity =
            self.replica_requests_per_s * sh.target_utilization * w.operating_seconds_per_day
                / w.peak_to_average
                / sh.quality_factor;
        let mut result = BreakEvenVolume {
            monthly_cost_per_gpu: per_gpu,
            requests_per_day_per_replica: capacity,
            ..Default::default()
        };
        if share <= 0.0 {
            result.not_reached = Some(unreached);
            return result;
        }
        if capacity <= 0.0 {
            result.not_reached = Some(NotReached::NoCapacity);
            return result;
        }
        if let Routing::Overflow { gpus } = self.routing {
            return self.fixed_fleet_break_even(gpus, per_gpu, fixed, adjust, result);
        }
        let api_per_request = self.steady_api(1.0, adjust);
        let replica_cost = per_gpu * f64::from(tp);
        let api_cheaper = NotReached::ApiCheaperPerRequest {
            api_usd_per_request: api_per_request,
            self_host_usd_per_request: replica_cost / capacity,
        };
        // Continuous: fixed + V/capacity × replica cost = api(V), no discounts.
        let margin = api_per_request - replica_cost / capacity;
        if margin > 0.0 {
            result.continuous_requests_per_day = Some(fixed / margin / share);
        }

        let lot = match &self.costs {
            Costs::Owned(o) => o.lot_gpus,
            Costs::Rented { .. } => 1,
        };
        let step_cost = |replicas: u32| -> f64 {
            let gpus = replicas.max(sh.min_replicas) * tp;
            f64::from(gpus.div_ceil(lot) * lot) * per_gpu + fixed
        };
        // Beyond this many replicas the API's slope outruns every step.
        let slope_gap = api_per_request * capacity - replica_cost;
        if slope_gap <= 0.0 {
            result.not_reached = Some(api_cheaper);
            return result;
        }
        let last_possible =
            ((f64::from(lot) * per_gpu + fixed + replica_cost) / slope_gap).ceil() + 2.0;
        if last_possible > 1e7 {
            result.not_reached = Some(NotReached::BeyondTenMillionReplicas);
            return result;
        }
        let mut answer = 0.0;
        for k in 1..=(last_possible as u32).max(sh.min_replicas + 1) {
            let (lo, hi) = (capacity * f64::from(k - 1), capacity * f64::from(k));
            let cost = step_cost(k);
            // The API's cost is lowest just above the segment's start or
            // just above a volume-discount threshold inside it.
            let mut candidates = vec![lo];
            for tier in &self.volume_discounts {
                let v = tier.monthly_spend_usd / api_per_request;
                if v > lo && v < hi {
                    candidates.push(v);
                }
            }
            if candidates
                .iter()
                .any(|&v| self.steady_api(v.max(1e-9), adjust) < cost)
            {
                // Bisect for the point past which the API costs more.
                let (mut a, mut b) = (lo, hi);
                if self.steady_api(hi, adjust) < cost {
                    answer = hi;
                    continue;
                }
                for _ in 0..60 {
                    let mid = 0.5 * (a + b);
                    if self.steady_api(mid, adjust) < cost {
                        a = mid;
                    } else {
                        b = mid;
                    }
                }
                answer = b;
            }
        }
        result.requests_per_day = Some(answer.ceil() / share);
        result
    }
}

/// The first month from which self-hosting stays cheaper, for months run
/// with [`Plan::run`].
pub fn break_even_month(months: &[Month], basis: Basis) -> Option<u32> {
    super::project::summarize_break_even(months, basis)
}

/// How the break-even answers move when one input changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Sensitivity {
    /// "annual_growth", "api_price" or "gpu_price".
    pub input: &'static str,
    /// Relative change applied, e.g. −0.2.
    pub change: f64,
    pub break_even_month: Option<u32>,
    pub break_even_volume: BreakEvenVolume,
    /// Savings over the horizon: API cost minus self-host cost, positive
    /// when self-hosting saves.
    pub horizon_savings: f64,
}

/// Break-even month and volume with growth, API price and GPU price each
/// moved by −20% and +20%.
pub fn sensitivities(plan: &Plan, basis: Basis) -> Vec<Sensitivity> {
    let mut out = Vec::new();
    let mut months = Vec::new();
    for input in ["annual_growth", "api_price", "gpu_price"] {
        for change in [-0.2, 0.2] {
            let mut p = plan.clone();
            let mut adjust = Adjust::default();
            let series = vec![1.0 + change; plan.horizon];
            let mut path = PathInputs::default();
            match input {
                "annual_growth" => p.traffic.annual_growth *= 1.0 + change,
                "api_price" => {
                    adjust.api_price = 1.0 + change;
                    path.api_price = &series;
                }
                _ => {
                    adjust.gpu_price = 1.0 + change;
                    path.gpu_price = &series;
                }
            }
            p.run(&path, &mut months);
            let last = months.last().copied().unwrap_or_default();
            let sh = match basis {
                Basis::ProfitAndLoss => last.cumulative_self_host_pnl,
                Basis::Cash => last.cumulative_self_host_cash,
            };
            out.push(Sensitivity {
                input,
                change,
                break_even_month: break_even_month(&months, basis),
                break_even_volume: p.break_even_volume(adjust),
                horizon_savings: last.cumulative_api - sh,
            });
        }
    }
    out
}
