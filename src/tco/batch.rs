//! The monthly model over a batch of paths side by side, for the Monte
//! Carlo engine.
//!
//! [`Plan::run`] is the reference: one path, every line of a [`Month`],
//! which the projection reports. The engine runs the model on every path
//! and month and reads four of those lines, so [`Plan::run_batch`] runs it
//! on [`LANES`] paths at once, month by month: each quantity is a [`Row`]
//! of one value per path, each step is the same arithmetic on every lane,
//! and the loops over lanes compile to vector instructions. A decision
//! becomes a selection (a lane that buys no GPUs this month buys zero of
//! them, at zero cost), and counts of replicas and GPUs are whole numbers
//! held in `f64`, exact far beyond any fleet.
//!
//! The arithmetic is the reference's, operation for operation, so every
//! lane's figures are the same bits as [`Plan::run`] on that lane's path:
//! the tests below check it on random paths for each deployment and
//! routing, and the engine's own tests check that a simulation without
//! randomness reproduces the deterministic projection exactly.
//!
//! [`Month`]: super::Month

use super::load_shape::LoadShape;
use super::plan::{Costs, MonthHours, Plan};
use super::project::{PathInputs, volume_discount};
use super::scenario::Routing;

/// Paths in a batch: enough for the per-month overhead to vanish and the
/// vector loops to run long, few enough that a batch's rows stay in the
/// near caches. With the batch's random streams run side by side, 32
/// measured about 5% faster than 64, and 16 and 128 slower.
pub const LANES: usize = 32;

/// One value per lane.
pub type Row = [f64; LANES];

/// The input rows of a [`Batch`], one [`Row`] per month (index t−1), as
/// [`Batch::input_rows`] lends them.
pub struct InputRows<'a> {
    pub demand: &'a mut [Row],
    pub api_price: &'a mut [Row],
    pub gpu_price: &'a mut [Row],
    pub power_price: &'a mut [Row],
    pub throughput: &'a mut [Row],
    pub failures: &'a mut [Row],
}

/// The inputs an uncertain static value may change, one value per lane;
/// everything else comes from the plan.
#[derive(Debug, Clone)]
struct Statics {
    requests_per_day: Row,
    /// Monthly growth factor, from the annual growth.
    growth_step: Row,
    cached_input_fraction: Row,
    batch_fraction: Row,
    peak_to_average: Row,
    /// Read by fixed (overflow) fleets only, and set for them only.
    load_shape: [LoadShape; LANES],
    target_utilization: Row,
    quality_factor: Row,
    usd_per_gpu_hour: Row,
    capex_per_gpu: Row,
    power_usd_per_kwh: Row,
    cost_of_capital: Row,
    resale_fraction: Row,
    staff_usd_per_month: Row,
}

/// A batch of paths: their inputs, and after [`Plan::run_batch`] their
/// monthly figures, as one [`Row`] per month (index t−1).
#[derive(Debug, Clone)]
pub struct Batch {
    horizon: usize,
    statics: Box<Statics>,
    /// The last annual growth set, and its monthly step.
    growth: (f64, f64),
    /// Whether each input's rows (demand to failures) still hold their
    /// neutral value in every lane.
    neutral: [bool; 6],
    demand: Vec<Row>,
    api_price: Vec<Row>,
    gpu_price: Vec<Row>,
    power_price: Vec<Row>,
    throughput: Vec<Row>,
    failures: Vec<Row>,
    /// The API option.
    pub api: Vec<Row>,
    /// The self-host option, P&L view.
    pub self_host_pnl: Vec<Row>,
    /// The self-host option, cash view.
    pub self_host_cash: Vec<Row>,
    /// Self-hosted work over the capacity held, 0–1.
    pub utilization: Vec<Row>,
    /// Owned GPUs: capex paid in each month (a later month may still add
    /// to an earlier one, when GPUs take time to arrive), and the monthly
    /// depreciation of the cohort that expires in each month, with 1 where
    /// there is one (at most one cohort enters, so one expires, a month).
    capex_paid: Vec<Row>,
    /// Owned GPUs: capex paid in month 0, before the horizon.
    pub capex_month_0: Row,
    expiring: Vec<Row>,
    expires: Vec<Row>,
    /// Owned GPUs: the GPUs of the cohort that expires in each month (to
    /// replace at the end of their life), and the cost of capital of capex
    /// paid before its GPUs serve, by month.
    expiring_gpus: Vec<Row>,
    in_progress: Vec<Row>,
}

impl Batch {
    /// A batch for `plan`, every lane set to the plan itself on the path
    /// of ones.
    pub fn new(plan: &Plan) -> Self {
        let h = plan.horizon;
        let zero = [0.0; LANES];
        let rows = |v: f64| vec![[v; LANES]; h];
        let mut batch = Batch {
            horizon: h,
            growth: (f64::NAN, f64::NAN),
            neutral: [true; 6],
            statics: Box::new(Statics {
                requests_per_day: zero,
                growth_step: zero,
                cached_input_fraction: zero,
                batch_fraction: zero,
                peak_to_average: zero,
                load_shape: [LoadShape::default(); LANES],
                target_utilization: zero,
                quality_factor: zero,
                usd_per_gpu_hour: zero,
                capex_per_gpu: zero,
                power_usd_per_kwh: zero,
                cost_of_capital: zero,
                resale_fraction: zero,
                staff_usd_per_month: zero,
            }),
            demand: rows(1.0),
            api_price: rows(1.0),
            gpu_price: rows(1.0),
            power_price: rows(1.0),
            throughput: rows(1.0),
            failures: rows(0.0),
            api: rows(0.0),
            self_host_pnl: rows(0.0),
            self_host_cash: rows(0.0),
            utilization: rows(0.0),
            capex_paid: rows(0.0),
            capex_month_0: zero,
            expiring: rows(0.0),
            expires: rows(0.0),
            expiring_gpus: rows(0.0),
            in_progress: rows(0.0),
        };
        for lane in 0..LANES {
            batch.set(lane, plan, &PathInputs::default());
        }
        batch
    }

    /// Puts in `lane` the path `path` under `plan`: the batch's plan with
    /// this path's uncertain static inputs applied (only those differ).
    ///
    /// Inlined, like the rest of a chunk's loop, so that the engine's AVX2
    /// build of a chunk covers it (see `montecarlo::Job::chunk`).
    #[inline(always)]
    pub fn set(&mut self, lane: usize, plan: &Plan, path: &PathInputs) {
        self.set_statics(lane, plan);
        self.set_path(lane, path);
    }

    /// The rows of the path inputs, for a drawer that writes every lane's
    /// path in place rather than through [`Batch::set`]. A row a drawer
    /// leaves alone keeps what it held: its neutral value (ones, or no
    /// failures) in a new batch.
    pub fn input_rows(&mut self) -> InputRows<'_> {
        self.neutral = [false; 6];
        InputRows {
            demand: &mut self.demand,
            api_price: &mut self.api_price,
            gpu_price: &mut self.gpu_price,
            power_price: &mut self.power_price,
            throughput: &mut self.throughput,
            failures: &mut self.failures,
        }
    }

    /// Puts in `lane` the static inputs of `plan`: the batch's plan with
    /// that lane's uncertain static inputs applied.
    #[inline(always)]
    pub fn set_statics(&mut self, lane: usize, plan: &Plan) {
        let w = &plan.traffic;
        let sh = &plan.sizing;
        let s = &mut *self.statics;
        s.requests_per_day[lane] = w.requests_per_day;
        // A power per path is a noticeable cost next to the rest of this;
        // paths mostly share their growth, so the last one is remembered.
        if self.growth.0 != w.annual_growth {
            self.growth = (w.annual_growth, (1.0 + w.annual_growth).powf(1.0 / 12.0));
        }
        s.growth_step[lane] = self.growth.1;
        s.cached_input_fraction[lane] = w.cached_input_fraction;
        s.batch_fraction[lane] = w.batch_fraction;
        s.peak_to_average[lane] = w.peak_to_average;
        if let Routing::Overflow { .. } = plan.routing {
            s.load_shape[lane] = w.load_shape;
        }
        s.target_utilization[lane] = sh.target_utilization;
        s.quality_factor[lane] = sh.quality_factor;
        match &plan.costs {
            Costs::Rented {
                usd_per_gpu_hour, ..
            } => s.usd_per_gpu_hour[lane] = *usd_per_gpu_hour,
            Costs::Owned(o) => {
                s.capex_per_gpu[lane] = o.capex_per_gpu;
                s.power_usd_per_kwh[lane] = o.power_usd_per_kwh;
                s.cost_of_capital[lane] = o.cost_of_capital;
                s.resale_fraction[lane] = o.resale_fraction;
                s.staff_usd_per_month[lane] = o.staff_usd_per_month;
            }
        }
    }

    /// Puts `path` in `lane`'s input rows.
    #[inline(always)]
    fn set_path(&mut self, lane: usize, path: &PathInputs) {
        let h = self.horizon;
        // A full row is copied as is; an empty one stands for ones, or no
        // failures, which a row holds until a path first sets it, so that
        // the rows of processes a simulation leaves out cost nothing.
        let inputs = [
            (&mut self.demand, path.demand, 1.0),
            (&mut self.api_price, path.api_price, 1.0),
            (&mut self.gpu_price, path.gpu_price, 1.0),
            (&mut self.power_price, path.power_price, 1.0),
            (&mut self.throughput, path.throughput, 1.0),
            (&mut self.failures, path.failures, 0.0),
        ];
        for ((rows, series, missing), neutral) in inputs.into_iter().zip(&mut self.neutral) {
            if series.is_empty() && *neutral {
                continue;
            }
            if series.len() >= h {
                for (row, &v) in rows.iter_mut().zip(series) {
                    row[lane] = v;
                }
            } else {
                for (i, row) in rows.iter_mut().enumerate() {
                    row[lane] = series.get(i).copied().unwrap_or(missing);
                }
            }
            *neutral &= series.is_empty();
        }
    }
}

/// `ceil(x)` for 0 ≤ x < 2⁵² in plain arithmetic: adding and removing
/// 2⁵² rounds to the nearest whole number (the spacing of doubles there is
/// 1), and one comparison corrects it. `f64::ceil` is a libm call on
/// baseline x86-64, and a conversion to an integer and back costs range
/// checks; either keeps the loops over lanes from vectorising.
#[inline(always)]
fn ceil_small(x: f64) -> f64 {
    const TWO_52: f64 = 4_503_599_627_370_496.0;
    let nearest = (x + TWO_52) - TWO_52;
    if nearest < x { nearest + 1.0 } else { nearest }
}

impl Plan {
    /// Runs the model on every lane of `batch`, filling its `api`,
    /// `self_host_pnl`, `self_host_cash` and `utilization` rows; lane l of
    /// month i equals the same line of month i of [`Plan::run`] on lane l's
    /// path under lane l's plan, to the bit.
    ///
    /// Inlined, like the rest of a chunk's loop, so that the engine's AVX2
    /// build of a chunk covers it (see `montecarlo::Job::chunk`).
    #[inline(always)]
    pub fn run_batch(&self, b: &mut Batch) {
        let h = self.horizon;
        assert_eq!(b.horizon, h, "a batch is made for one plan");
        let s = &*b.statics;
        let w = &self.traffic;
        let seconds = w.operating_seconds_per_day;
        let rps = self.replica_requests_per_s;
        let tp = f64::from(self.tensor_parallel);
        let min_replicas = f64::from(self.sizing.min_replicas);
        let cap = f64::from(u32::MAX / 1024);
        let share = match self.routing {
            Routing::Fraction { self_hosted } => self_hosted,
            _ => 1.0,
        };
        // A fixed fleet, and the replicas it makes.
        let overflow = match self.routing {
            Routing::Overflow { gpus } => {
                Some((f64::from(gpus), f64::from(gpus / self.tensor_parallel)))
            }
            _ => None,
        };
        let rental_step = match &self.costs {
            Costs::Rented { annual_decline, .. } => (1.0 - annual_decline).powf(1.0 / 12.0),
            Costs::Owned(_) => 1.0,
        };
        let first_service = self.first_service_month();
        let mut rental_factor = 1.0;
        let mut growth = [1.0; LANES];
        // Owned fleets.
        let mut held = [0.0; LANES];
        let mut depreciation = [0.0; LANES];
        let mut book = [0.0; LANES];
        let mut live = [0.0; LANES];
        // The rows of owned fleets hold the last batch's figures. Month i
        // writes `expiring`, `expires` and `expiring_gpus` at i +
        // depreciation months (zero when nothing is bought) before any
        // month reads them there, and no month writes them below the
        // depreciation life, where they stay zero; `capex_paid` and
        // `in_progress` are added to from month i on only, so each is
        // cleared at the start of its month.
        let owned = matches!(self.costs, Costs::Owned(_));
        b.capex_month_0 = [0.0; LANES];

        // The cost of capital a month, as `Plan::run` has it: rate ÷ 12.
        let mut monthly_rate = [0.0; LANES];
        if let Costs::Owned(_) = self.costs {
            for (rate, annual) in monthly_rate.iter_mut().zip(&s.cost_of_capital) {
                *rate = annual / 12.0;
            }
        }
        let mut requests = [0.0; LANES];
        let mut served = [0.0; LANES];
        let mut replicas = [0.0; LANES];
        let mut api_requests = [0.0; LANES];
        let mut residual = [0.0; LANES];
        let mut capex = [0.0; LANES];
        let mut cohort = [0.0; LANES];
        // GPUs held this month (rented, or owned and in service).
        let mut gpus = [0.0; LANES];
        for i in 0..h {
            let t = i as u32 + 1;
            // Traffic arrives on operating days; rentals run the whole
            // month.
            let MonthHours {
                days: _,
                operating_days: days,
                hours,
                operating_hours,
            } = self.month_hours[i];
            let idle_hours = hours - operating_hours;
            if owned {
                b.capex_paid[i] = [0.0; LANES];
                b.in_progress[i] = [0.0; LANES];
            }
            if i > 0 {
                for (g, step) in growth.iter_mut().zip(&s.growth_step) {
                    *g *= step;
                }
                rental_factor *= rental_step;
            }
            let rates = &self.api_rates[i];
            // This month's rows, bound once: the loops over lanes below then
            // index fixed-size arrays only, which is what lets them
            // vectorise.
            let (demand, api_mult, gpu_mult, throughput) = (
                &b.demand[i],
                &b.api_price[i],
                &b.gpu_price[i],
                &b.throughput[i],
            );
            let (power_price, failures) = (&b.power_price[i], &b.failures[i]);
            let api_cost = &mut b.api[i];
            // Written here and copied out at the end of the month: stores
            // to the stack cannot alias the rows read, which the compiler
            // would otherwise have to rule out at run time before using
            // vector instructions.
            let mut pnl = [0.0; LANES];
            let mut cash = [0.0; LANES];
            let mut utilization = [0.0; LANES];
            for l in 0..LANES {
                requests[l] = s.requests_per_day[l] * growth[l] * demand[l];
            }
            // API cost of `rpd` requests a day: `project::api_cost`, a row
            // at a time.
            let api = |out: &mut Row, rpd: &Row| {
                for l in 0..LANES {
                    let cached = s.cached_input_fraction[l];
                    let written = w.cache_write_fraction;
                    let tokens_in = days * rpd[l] * w.input_tokens;
                    let tokens_out = days * rpd[l] * w.output_tokens;
                    let fresh = (1.0 - cached - written).max(0.0);
                    let list = (tokens_in
                        * (fresh * rates.input
                            + cached * rates.cached_input
                            + written * rates.cache_write)
                        + tokens_out * rates.output)
                        / 1e6
                        * api_mult[l];
                    out[l] = list * (1.0 - s.batch_fraction[l] * rates.batch_discount);
                }
                // Without tiers the discount is 0, and x·(1 − 0) is x.
                if !self.volume_discounts.is_empty() {
                    for spend in out.iter_mut() {
                        *spend *= 1.0 - volume_discount(&self.volume_discounts, *spend);
                    }
                }
            };
            api(api_cost, &requests);

            // Self-hosted work, in open-model requests, and the replicas
            // it needs (`Plan::replicas_for`); none before owned GPUs first
            // serve.
            match overflow {
                _ if t < first_service => {
                    served = [0.0; LANES];
                    replicas = [0.0; LANES];
                }
                Some((_, fleet_replicas)) => {
                    for l in 0..LANES {
                        let wanted = requests[l] * share * s.quality_factor[l];
                        let per_replica_per_day =
                            rps * throughput[l] * s.target_utilization[l] * seconds;
                        let capacity = fleet_replicas * per_replica_per_day;
                        served[l] = s.load_shape[l].served(wanted, capacity);
                        replicas[l] = fleet_replicas;
                    }
                }
                None => {
                    for l in 0..LANES {
                        let wanted = requests[l] * share * s.quality_factor[l];
                        let peak_rps = wanted / seconds * s.peak_to_average[l];
                        let per_replica = rps * throughput[l] * s.target_utilization[l];
                        let needed =
                            ceil_small((peak_rps / per_replica).min(cap)).max(min_replicas);
                        served[l] = wanted;
                        replicas[l] = if wanted <= 0.0 { 0.0 } else { needed };
                    }
                }
            }
            let mut any_residual = false;
            for l in 0..LANES {
                api_requests[l] = (requests[l] - served[l] / s.quality_factor[l]).max(0.0);
                any_residual |= api_requests[l] > 0.0;
            }
            // Traffic left on the API: none at all, most months, when
            // everything is self-hosted.
            if any_residual {
                api(&mut residual, &api_requests);
                for (r, &n) in residual.iter_mut().zip(&api_requests) {
                    if n <= 0.0 {
                        *r = 0.0;
                    }
                }
            } else {
                residual = [0.0; LANES];
            }

            match &self.costs {
                Costs::Rented { .. } => {
                    for l in 0..LANES {
                        let gpus_held = match overflow {
                            Some((fleet, _)) => fleet,
                            None => replicas[l] * tp,
                        };
                        gpus[l] = gpus_held;
                        let rental =
                            gpus_held * hours * s.usd_per_gpu_hour[l] * rental_factor * gpu_mult[l];
                        pnl[l] = rental + residual[l];
                        cash[l] = rental + residual[l];
                    }
                }
                Costs::Owned(o) => {
                    let lot = f64::from(o.lot_gpus);
                    let months = f64::from(o.depreciation_months);
                    // Capex is paid `lead_time_months` before the GPUs
                    // serve, at that month's prices (month 1 at the
                    // earliest).
                    let due = t.saturating_sub(o.lead_time_months);
                    // The opening fleet, and whatever falls due before month 1, is
                    // paid in month 0 when the scenario says so.
                    let before_start = o.purchase_in_month_0 && (t == first_service || due == 0);
                    let pay = (due.max(1) - 1) as usize;
                    let price_then = if before_start {
                        &[1.0; LANES]
                    } else {
                        &b.gpu_price[pay]
                    };
                    // A fixed overflow fleet is bought as given; growing
                    // fleets in whole lots.
                    let mut wanted = [0.0; LANES];
                    match overflow {
                        _ if t < first_service => {}
                        Some((fleet, _)) => {
                            for l in 0..LANES {
                                wanted[l] = fleet - held[l];
                            }
                        }
                        None => {
                            for l in 0..LANES {
                                let short = replicas[l] * tp - held[l];
                                wanted[l] = ceil_small(short / lot) * lot;
                            }
                        }
                    }
                    // The cohort at the end of its life this month, replaced
                    // by the same GPUs when the scenario says so.
                    let renewed = if o.replace_at_end_of_life {
                        b.expiring_gpus[i]
                    } else {
                        [0.0; LANES]
                    };
                    let mut bought = [0.0; LANES];
                    // From payment to service, the capex earns its cost of
                    // capital as construction in progress, this much a
                    // month.
                    let mut carried = [0.0; LANES];
                    let mut any_capex = false;
                    for l in 0..LANES {
                        let added = if wanted[l] > 0.0 { wanted[l] } else { 0.0 };
                        bought[l] = added + renewed[l];
                        capex[l] = bought[l] * s.capex_per_gpu[l] * price_then[l];
                        carried[l] = monthly_rate[l] * capex[l];
                        any_capex |= capex[l] != 0.0;
                        cohort[l] = if bought[l] > 0.0 { 1.0 } else { 0.0 };
                        held[l] += added;
                    }
                    let paid_month = if before_start { 0 } else { pay + 1 };
                    if any_capex {
                        for row in &mut b.in_progress[paid_month.max(1) - 1..i] {
                            for (c, add) in row.iter_mut().zip(&carried) {
                                *c += add;
                            }
                        }
                    }
                    // The cohort bought this month expires in month index
                    // `end` (none expires within the horizon past it).
                    let end = i + o.depreciation_months as usize;
                    let mut monthly = [0.0; LANES];
                    for l in 0..LANES {
                        monthly[l] = capex[l] / months;
                        live[l] += cohort[l];
                        depreciation[l] += monthly[l];
                        book[l] += capex[l];
                    }
                    if end < h {
                        b.expiring[end] = monthly;
                        b.expires[end] = cohort;
                        b.expiring_gpus[end] = bought;
                    }
                    let paid_row = if before_start {
                        &mut b.capex_month_0
                    } else {
                        &mut b.capex_paid[pay]
                    };
                    for (paid, c) in paid_row.iter_mut().zip(&capex) {
                        *paid += c;
                    }
                    let (expiring, expires) = (&b.expiring[i], &b.expires[i]);
                    let mut cost_of_capital = [0.0; LANES];
                    for l in 0..LANES {
                        cost_of_capital[l] = monthly_rate[l] * book[l];
                        depreciation[l] -= expiring[l];
                        live[l] -= expires[l];
                        // Guard the running sum against drift to a tiny
                        // negative.
                        depreciation[l] = if live[l] == 0.0 { 0.0 } else { depreciation[l] };
                        book[l] -= depreciation[l];
                    }
                    let mut resale = [0.0; LANES];
                    let mut disposal = [0.0; LANES];
                    if i + 1 == h && !o.keep_at_horizon {
                        for l in 0..LANES {
                            let remaining = book[l].max(0.0);
                            resale[l] = s.resale_fraction[l] * remaining;
                            disposal[l] = remaining - resale[l];
                            book[l] = 0.0;
                        }
                    }
                    gpus = held;
                    for l in 0..LANES {
                        let g = held[l];
                        let mut power = g
                            * o.kw_at_load_per_gpu
                            * operating_hours
                            * s.power_usd_per_kwh[l]
                            * power_price[l];
                        if idle_hours > 0.0 {
                            power += g
                                * o.kw_idle_per_gpu
                                * idle_hours
                                * s.power_usd_per_kwh[l]
                                * power_price[l];
                        }
                        let colocation =
                            g * o.kw_provisioned_per_gpu * o.colocation_usd_per_kw_month;
                        let staff = s.staff_usd_per_month[l] + o.staff_usd_per_gpu_month * g;
                        let replacements = g * failures[l] * s.capex_per_gpu[l] * gpu_mult[l];
                        pnl[l] = depreciation[l]
                            + cost_of_capital[l]
                            + power
                            + colocation
                            + staff
                            + replacements
                            + disposal[l]
                            + residual[l];
                        // The capex paid this month comes last, once no
                        // later month can add to it.
                        cash[l] =
                            replacements + power + colocation + staff - resale[l] + residual[l];
                    }
                }
            }
            for l in 0..LANES {
                let capacity = gpus[l] / tp * rps * throughput[l] * seconds;
                let busy = (served[l] / capacity).min(1.0);
                utilization[l] = if capacity > 0.0 { busy } else { 0.0 };
            }
            b.self_host_pnl[i] = pnl;
            b.self_host_cash[i] = cash;
            b.utilization[i] = utilization;
        }
        if let Costs::Owned(o) = &self.costs {
            for (cash, capex) in b.self_host_cash.iter_mut().zip(&b.capex_paid) {
                for (c, p) in cash.iter_mut().zip(capex) {
                    *c += p;
                }
            }
            // Only capex paid before service earns this.
            if o.lead_time_months > 0 {
                for (pnl, cip) in b.self_host_pnl.iter_mut().zip(&b.in_progress) {
                    for (p, c) in pnl.iter_mut().zip(cip) {
                        *p += c;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::catalog::Catalog;
    use crate::estimator::Calibration;
    use crate::tco::scenario::VolumeDiscount;
    use crate::tco::{Month, Scenario, plan};

    fn scenario(deployment: &str, lead_time: u32) -> Scenario {
        let deployment = match deployment {
            "owned" => format!(
                "[self_host.deployment.owned]\nlead_time_months = {lead_time}\n\
                 depreciation_months = 18\nresale_fraction = 0.2\nlot_gpus = 4"
            ),
            _ => "[self_host.deployment.rented]\nannual_price_decline = 0.1".to_string(),
        };
        Scenario::from_toml(&format!(
            r#"
            horizon_months = 30
            start_month = "2025-06"
            [workload]
            requests_per_day = 400000
            input_tokens = 1000
            output_tokens = 250
            annual_growth = 0.6
            cached_input_fraction = 0.2
            cache_write_fraction = 0.05
            batch_fraction = 0.1
            [api]
            price_id = "gpt-4o"
            [self_host]
            model = "llama-3.1-70b"
            gpu = "h100-sxm"
            precision = "fp8"
            quality_factor = 1.1
            {deployment}
            "#
        ))
        .unwrap()
    }

    /// A random path: every multiplier between 0.3 and 3, failures up to
    /// 5% a month, and a month of no demand at all.
    fn random_path(rng: &mut ChaCha8Rng, h: usize) -> [Vec<f64>; 6] {
        let mut row =
            |lo: f64, hi: f64| -> Vec<f64> { (0..h).map(|_| rng.random_range(lo..hi)).collect() };
        let mut demand = row(0.3, 3.0);
        demand[h / 2] = 0.0;
        [
            demand,
            row(0.3, 3.0),
            row(0.3, 3.0),
            row(0.3, 3.0),
            row(0.3, 3.0),
            row(0.0, 0.05),
        ]
    }

    fn inputs(path: &[Vec<f64>; 6]) -> PathInputs<'_> {
        PathInputs {
            demand: &path[0],
            api_price: &path[1],
            gpu_price: &path[2],
            power_price: &path[3],
            throughput: &path[4],
            failures: &path[5],
        }
    }

    /// Each lane gets its own path and its own plan (as uncertain static
    /// inputs give), and must match `Plan::run` on them to the bit.
    fn check(base: &Scenario) {
        let catalog = Catalog::embedded().unwrap();
        let calibration = Calibration::defaults();
        let plan = plan(&catalog, base, &calibration, "").unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut batch = Batch::new(&plan);
        // A batch is reused: run it once on other paths first, so that
        // what a run leaves in its rows must not leak into the next.
        let other: Vec<_> = (0..LANES)
            .map(|_| random_path(&mut rng, plan.horizon))
            .collect();
        for (lane, path) in other.iter().enumerate() {
            batch.set(lane, &plan, &inputs(path));
        }
        plan.run_batch(&mut batch);
        let mut lanes = Vec::new();
        for lane in 0..LANES {
            let mut p = plan.clone();
            let w = &mut p.traffic;
            w.requests_per_day *= rng.random_range(0.0..3.0);
            w.annual_growth = rng.random_range(-0.5..2.0);
            w.cached_input_fraction = rng.random_range(0.0..1.0);
            w.batch_fraction = rng.random_range(0.0..1.0);
            w.set_peak_to_average(rng.random_range(1.0..3.0));
            // Some lanes with a day of their own.
            if lane % 5 == 2 {
                let weights: Vec<f64> = (0..24).map(|_| rng.random_range(0.0..4.0)).collect();
                w.load_shape = LoadShape::from_weights(&weights).unwrap();
                w.load_shape_given = true;
            }
            p.sizing.target_utilization = rng.random_range(0.2..1.0);
            p.sizing.quality_factor = rng.random_range(0.5..2.0);
            match &mut p.costs {
                Costs::Rented {
                    usd_per_gpu_hour, ..
                } => *usd_per_gpu_hour *= rng.random_range(0.5..2.0),
                Costs::Owned(o) => {
                    o.capex_per_gpu *= rng.random_range(0.5..2.0);
                    o.power_usd_per_kwh *= rng.random_range(0.5..2.0);
                    o.cost_of_capital = rng.random_range(0.0..0.2);
                    o.resale_fraction = rng.random_range(0.0..0.5);
                    o.staff_usd_per_month *= rng.random_range(0.0..2.0);
                }
            }
            // Some lanes on the path of ones.
            let path = if lane % 7 == 3 {
                Default::default()
            } else {
                random_path(&mut rng, plan.horizon)
            };
            batch.set(lane, &p, &inputs(&path));
            lanes.push((p, path));
        }
        plan.run_batch(&mut batch);
        let mut months: Vec<Month> = Vec::new();
        for (lane, (p, path)) in lanes.iter().enumerate() {
            p.run(&inputs(path), &mut months);
            for (i, m) in months.iter().enumerate() {
                let got = (
                    batch.api[i][lane],
                    batch.self_host_pnl[i][lane],
                    batch.self_host_cash[i][lane],
                    batch.utilization[i][lane],
                );
                let want = (m.api_cost, m.self_host_pnl, m.self_host_cash, m.utilization);
                assert_eq!(
                    got, want,
                    "lane {lane}, month {}: (api, pnl, cash, utilization)",
                    m.t
                );
            }
        }
    }

    /// Operating hours with idle power outside them, and the opening
    /// fleet paid in month 0.
    #[test]
    fn duty_cycles_and_month_0_purchases_match_the_reference_to_the_bit() {
        for lead_time in [0, 2] {
            let mut s = scenario("owned", lead_time);
            s.workload.duty_cycle = Some(crate::tco::scenario::DutyCycle {
                hours_per_day: 9.0,
                days_per_month: 21.0,
            });
            if let crate::tco::scenario::Deployment::Owned(o) = &mut s.self_host.deployment {
                o.idle_watts_per_gpu = Some(120.0);
                o.purchase_in_month_0 = Some(true);
            }
            check(&s);
            let catalog = Catalog::embedded().unwrap();
            let plan = plan(&catalog, &s, &Calibration::defaults(), "").unwrap();
            let mut batch = Batch::new(&plan);
            plan.run_batch(&mut batch);
            let mut months = Vec::new();
            plan.run(&PathInputs::default(), &mut months);
            assert!(months[0].capex_paid_month_0 > 0.0);
            assert_eq!(batch.capex_month_0[0], months[0].capex_paid_month_0);
        }
    }

    #[test]
    fn every_lane_is_the_reference_model_to_the_bit() {
        for deployment in ["rented", "owned"] {
            for lead_time in [0, 2] {
                for routing in [
                    Routing::AllSelfHosted,
                    Routing::Fraction { self_hosted: 0.4 },
                    Routing::Overflow { gpus: 16 },
                ] {
                    for tiers in [false, true] {
                        let mut s = scenario(deployment, lead_time);
                        s.routing = routing;
                        if tiers {
                            s.api.volume_discounts = vec![
                                VolumeDiscount {
                                    monthly_spend_usd: 50_000.0,
                                    discount: 0.05,
                                },
                                VolumeDiscount {
                                    monthly_spend_usd: 200_000.0,
                                    discount: 0.12,
                                },
                            ];
                        }
                        check(&s);
                    }
                }
            }
        }
    }

    /// The owned fleet's options: installed at the start or arriving after
    /// the lead time, sold or kept at the horizon, replaced or kept at the
    /// end of its depreciation life (18 months, within the 30).
    #[test]
    fn owned_fleet_options_match_the_reference_to_the_bit() {
        for installed in [false, true] {
            for terminal in ["resale", "keep"] {
                for end_of_life in ["replace", "keep"] {
                    for routing in [Routing::AllSelfHosted, Routing::Overflow { gpus: 16 }] {
                        let mut s = scenario("owned", 3);
                        s.routing = routing;
                        if let crate::tco::scenario::Deployment::Owned(o) =
                            &mut s.self_host.deployment
                        {
                            o.installed_at_start = Some(installed);
                            o.terminal = Some(terminal.into());
                            o.end_of_life = Some(end_of_life.into());
                        }
                        check(&s);
                    }
                }
            }
        }
    }

    /// Calendar months, with and without a duty cycle.
    #[test]
    fn calendar_months_match_the_reference_to_the_bit() {
        for deployment in ["rented", "owned"] {
            for duty in [false, true] {
                let mut s = scenario(deployment, 1);
                s.workload.days_per_month = Some(crate::tco::scenario::DaysPerMonth::Rule(
                    crate::tco::scenario::DaysRule::Calendar,
                ));
                if duty {
                    s.workload.duty_cycle = Some(crate::tco::scenario::DutyCycle {
                        hours_per_day: 10.0,
                        days_per_month: 22.0,
                    });
                }
                check(&s);
            }
        }
    }
}
