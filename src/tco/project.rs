//! The month-by-month cost model: API spend against self-hosting, and the
//! break-even month. Pure arithmetic over a [`Plan`] and a path of monthly
//! multipliers, so the Monte Carlo engine can run it on many paths.

use chrono::NaiveDate;

use super::finance::{self, Returns, TIE_USD};
use super::plan::{ApiRates, Costs, MonthHours, Plan};
use super::scenario::{Routing, VolumeDiscount};

/// Multipliers applied month by month (index t−1); an empty slice means 1.
/// The deterministic projection uses none.
#[derive(Debug, Clone, Copy, Default)]
pub struct PathInputs<'a> {
    /// On the request rate.
    pub demand: &'a [f64],
    /// On API prices.
    pub api_price: &'a [f64],
    /// On GPU rental prices and on capex paid that month.
    pub gpu_price: &'a [f64],
    /// On the electricity price.
    pub power_price: &'a [f64],
    /// On the requests per second one replica sustains.
    pub throughput: &'a [f64],
    /// Share of owned GPUs that fail this month and are replaced at the
    /// month's capex (0 when empty).
    pub failures: &'a [f64],
}

fn at(series: &[f64], i: usize) -> f64 {
    series.get(i).copied().unwrap_or(1.0)
}

/// One month of the projection. Costs in USD.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Month {
    /// 1-based month number.
    pub t: u32,
    pub requests_per_day: f64,
    /// API-tokenizer tokens of all traffic this month.
    pub input_tokens: f64,
    pub output_tokens: f64,
    /// All traffic on the API.
    pub api_cost: f64,
    /// All traffic on the fine-tuned API model (training in month 1).
    pub fine_tuned_api_cost: f64,
    /// Requests per day served by the open model (quality factor applied).
    pub self_hosted_requests_per_day: f64,
    /// Requests per day the self-host option still sends to the API.
    pub api_requests_per_day_in_self_host: f64,
    pub replicas_needed: u32,
    pub gpus_needed: u32,
    /// GPUs rented or in service.
    pub gpus_held: u32,
    pub rental: f64,
    pub depreciation: f64,
    pub cost_of_capital: f64,
    pub power: f64,
    pub colocation: f64,
    pub staff: f64,
    /// Capex paid this month (cash view).
    pub capex_paid: f64,
    /// Replacement of failed owned GPUs, expensed and paid this month.
    pub replacements: f64,
    /// Resale of the fleet at the horizon (cash inflow, month H only).
    pub resale: f64,
    /// Loss on disposal of the fleet at the horizon (remaining book value
    /// less resale; negative for a gain), P&L view, month H only.
    pub disposal: f64,
    /// Book value of the GPUs held at the end of the month (after
    /// depreciation and any disposal).
    pub book_value: f64,
    /// API spend of the traffic the self-host option does not serve.
    pub residual_api_cost: f64,
    /// Self-host option, P&L view.
    pub self_host_pnl: f64,
    /// Self-host option, cash view.
    pub self_host_cash: f64,
    /// Self-hosted work over the capacity of the GPUs held (rented, or in
    /// service, idle ones included) in operating hours, 0–1.
    pub utilization: f64,
    /// The same over every hour of the month.
    pub utilization_whole_month: f64,
    /// Month 1 only: capex paid in month 0, before the horizon (in the
    /// cash view's cumulative totals from month 1 on).
    pub capex_paid_month_0: f64,
    pub cumulative_api: f64,
    pub cumulative_self_host_pnl: f64,
    pub cumulative_self_host_cash: f64,
}

/// API cost of a month of traffic at `rates`, with prompt-cache reads and
/// writes, batch and the volume discount of the highest tier the month's
/// spend reaches.
#[allow(clippy::too_many_arguments)]
pub fn api_cost(
    rates: &ApiRates,
    multiplier: f64,
    requests_per_day: f64,
    input_tokens: f64,
    output_tokens: f64,
    cached_fraction: f64,
    cache_write_fraction: f64,
    batch_fraction: f64,
    days: f64,
    tiers: &[VolumeDiscount],
) -> f64 {
    let tokens_in = days * requests_per_day * input_tokens;
    let tokens_out = days * requests_per_day * output_tokens;
    let fresh = (1.0 - cached_fraction - cache_write_fraction).max(0.0);
    let list = (tokens_in
        * (fresh * rates.input
            + cached_fraction * rates.cached_input
            + cache_write_fraction * rates.cache_write)
        + tokens_out * rates.output)
        / 1e6
        * multiplier;
    let spend = list * (1.0 - batch_fraction * rates.batch_discount);
    spend * (1.0 - volume_discount(tiers, spend))
}

/// The discount of the highest tier whose threshold `spend` reaches.
pub fn volume_discount(tiers: &[VolumeDiscount], spend: f64) -> f64 {
    tiers
        .iter()
        .filter(|t| spend >= t.monthly_spend_usd)
        .max_by(|a, b| a.monthly_spend_usd.total_cmp(&b.monthly_spend_usd))
        .map_or(0.0, |t| t.discount)
}

/// A cohort of owned GPUs, depreciating `monthly` until month `end`
/// (exclusive).
#[derive(Debug, Clone, Copy)]
struct Cohort {
    end: u32,
    monthly: f64,
    gpus: u32,
}

impl Plan {
    /// The first month owned GPUs serve: 1 + lead time, or 1 when the
    /// opening fleet is installed already (and always 1 for rentals).
    pub fn first_service_month(&self) -> u32 {
        match &self.costs {
            Costs::Owned(o) if !o.installed_at_start => 1 + o.lead_time_months,
            _ => 1,
        }
    }

    /// Replicas needed to serve `requests_per_day` of self-hosted work at
    /// the target utilisation, with the path's throughput multiplier.
    pub fn replicas_for(&self, requests_per_day: f64, throughput: f64) -> u32 {
        if requests_per_day <= 0.0 {
            return 0;
        }
        let peak_rps = requests_per_day / self.traffic.operating_seconds_per_day
            * self.traffic.peak_to_average;
        let per_replica = self.replica_requests_per_s * throughput * self.sizing.target_utilization;
        // The quotient rounded up, capped: `min` first, then truncation and
        // one comparison rather than `f64::ceil`, which baseline x86-64
        // makes a libm call (this runs every month of every projection).
        let needed = (peak_rps / per_replica).min(f64::from(u32::MAX / 1024));
        let whole = needed as u32;
        let needed = if f64::from(whole) < needed {
            whole + 1
        } else {
            whole
        };
        needed.max(self.sizing.min_replicas)
    }

    /// Runs the model over `path`, writing one [`Month`] per month into
    /// `months` (cleared first, so a buffer can be reused across paths).
    pub fn run(&self, path: &PathInputs, months: &mut Vec<Month>) {
        months.clear();
        let w = &self.traffic;
        let sh = &self.sizing;
        // Traffic arrives on operating days; rentals run the whole month.
        let seconds = w.operating_seconds_per_day;
        let tp = self.tensor_parallel;
        let share = match self.routing {
            Routing::Fraction { self_hosted } => self_hosted,
            _ => 1.0,
        };
        let fine_tune = self.fine_tune;
        let mut cohorts: Vec<Cohort> = Vec::new();
        let mut month_0_capex = 0.0;
        // Cost of capital on capex paid before its GPUs serve (construction
        // in progress), by month (index t−1): added in the second pass.
        let mut in_progress = vec![0.0; self.horizon];
        let first_service = self.first_service_month();
        // Cohorts all depreciate over the same months and enter in order, so
        // they also expire in order: the depreciation of a month is a
        // running sum, not a scan.
        let mut expired = 0;
        let mut depreciation = 0.0;
        let mut held: u32 = 0;
        let mut book = 0.0;
        // Compound factors advance by a monthly step (one multiply, not a
        // power per month).
        let growth_step = (1.0 + w.annual_growth).powf(1.0 / 12.0);
        let mut growth = 1.0;
        let rental_step = match &self.costs {
            Costs::Rented { annual_decline, .. } => (1.0 - annual_decline).powf(1.0 / 12.0),
            Costs::Owned(_) => 1.0,
        };
        let mut rental_factor = 1.0;

        for i in 0..self.horizon {
            let t = i as u32 + 1;
            // Traffic arrives on operating days; rentals run the whole
            // month.
            let MonthHours {
                days: month_days,
                operating_days: days,
                hours,
                operating_hours,
            } = self.month_hours[i];
            let idle_hours = hours - operating_hours;
            if i > 0 {
                growth *= growth_step;
                rental_factor *= rental_step;
            }
            let rates = &self.api_rates[i];
            let api_mult = at(path.api_price, i);
            let gpu_mult = at(path.gpu_price, i);
            let throughput = at(path.throughput, i);
            let requests = w.requests_per_day * growth * at(path.demand, i);
            let api = |rpd: f64, input: f64, mult: f64| {
                api_cost(
                    rates,
                    mult,
                    rpd,
                    input,
                    w.output_tokens,
                    w.cached_input_fraction,
                    w.cache_write_fraction,
                    w.batch_fraction,
                    days,
                    &self.volume_discounts,
                )
            };
            let mut m = Month {
                t,
                requests_per_day: requests,
                input_tokens: days * requests * w.input_tokens,
                output_tokens: days * requests * w.output_tokens,
                api_cost: api(requests, w.input_tokens, api_mult),
                ..Month::default()
            };
            if let Some(ft) = fine_tune {
                let input = (w.input_tokens - ft.prompt_tokens_saved).max(0.0);
                m.fine_tuned_api_cost = api(requests, input, api_mult * ft.price_multiplier)
                    + if t == 1 { ft.training_cost_usd } else { 0.0 };
            }

            // Self-hosted work, in open-model requests.
            let wanted = requests * share * sh.quality_factor;
            // Owned GPUs ordered for month 1 serve from month 1 + lead
            // time unless installed already; until then, no self-hosting.
            let (served, replicas) = match self.routing {
                _ if t < first_service => (0.0, 0),
                // A fixed fleet serves each hour up to its capacity.
                Routing::Overflow { gpus } => {
                    let replicas = gpus / tp;
                    let per_replica_per_day =
                        self.replica_requests_per_s * throughput * sh.target_utilization * seconds;
                    let capacity = f64::from(replicas) * per_replica_per_day;
                    (w.load_shape.served(wanted, capacity), replicas)
                }
                _ => (wanted, self.replicas_for(wanted, throughput)),
            };
            m.self_hosted_requests_per_day = served;
            m.replicas_needed = replicas;
            m.gpus_needed = replicas * tp;
            m.api_requests_per_day_in_self_host = (requests - served / sh.quality_factor).max(0.0);
            m.residual_api_cost = if m.api_requests_per_day_in_self_host > 0.0 {
                api(
                    m.api_requests_per_day_in_self_host,
                    w.input_tokens,
                    api_mult,
                )
            } else {
                0.0
            };

            match &self.costs {
                Costs::Rented {
                    usd_per_gpu_hour, ..
                } => {
                    m.gpus_held = match self.routing {
                        Routing::Overflow { gpus } => gpus,
                        _ => m.gpus_needed,
                    };
                    m.rental = f64::from(m.gpus_held)
                        * hours
                        * usd_per_gpu_hour
                        * rental_factor
                        * gpu_mult;
                    m.self_host_pnl = m.rental;
                    m.self_host_cash = m.rental;
                }
                Costs::Owned(o) => {
                    let target = match self.routing {
                        _ if t < first_service => 0,
                        Routing::Overflow { gpus } => gpus,
                        _ => m.gpus_needed,
                    };
                    // A fixed overflow fleet is bought as given; growing
                    // fleets in whole lots.
                    let added = if target > held {
                        match self.routing {
                            Routing::Overflow { .. } => target - held,
                            _ => (target - held).div_ceil(o.lot_gpus) * o.lot_gpus,
                        }
                    } else {
                        0
                    };
                    // Cohorts at the end of their depreciation life this
                    // month, replaced by the same GPUs when the scenario
                    // says so (the old ones retire at zero book value).
                    let renewed: u32 = if o.replace_at_end_of_life {
                        cohorts[expired..]
                            .iter()
                            .take_while(|c| c.end <= t)
                            .map(|c| c.gpus)
                            .sum()
                    } else {
                        0
                    };
                    let bought = added + renewed;
                    if bought > 0 {
                        // Paid `lead_time_months` before service, month 1 at
                        // the earliest; or, when the scenario says so, the
                        // opening fleet and whatever falls due before month 1
                        // in month 0.
                        let due = t.saturating_sub(o.lead_time_months);
                        let before_start =
                            o.purchase_in_month_0 && (t == first_service || due == 0);
                        let pay = if before_start { 0 } else { due.max(1) };
                        let capex = f64::from(bought)
                            * o.capex_per_gpu
                            * if before_start {
                                1.0
                            } else {
                                at(path.gpu_price, pay as usize - 1)
                            };
                        let monthly = capex / f64::from(o.depreciation_months);
                        cohorts.push(Cohort {
                            end: t + o.depreciation_months,
                            monthly,
                            gpus: bought,
                        });
                        depreciation += monthly;
                        book += capex;
                        held += added;
                        if before_start {
                            month_0_capex += capex;
                        } else if pay == t {
                            m.capex_paid += capex;
                        } else {
                            months[pay as usize - 1].capex_paid += capex;
                        }
                        // From payment to service, the capex earns its cost
                        // of capital as construction in progress.
                        for k in pay.max(1)..t {
                            in_progress[k as usize - 1] += o.cost_of_capital / 12.0 * capex;
                        }
                    }
                    m.gpus_held = held;
                    let g = f64::from(held);
                    m.cost_of_capital = o.cost_of_capital / 12.0 * book;
                    while expired < cohorts.len() && cohorts[expired].end <= t {
                        depreciation -= cohorts[expired].monthly;
                        expired += 1;
                    }
                    // Guard the running sum against drift to a tiny negative.
                    if expired == cohorts.len() {
                        depreciation = 0.0;
                    }
                    m.depreciation = depreciation;
                    book -= m.depreciation;
                    m.power = g
                        * o.kw_at_load_per_gpu
                        * operating_hours
                        * o.power_usd_per_kwh
                        * at(path.power_price, i);
                    if idle_hours > 0.0 {
                        m.power += g
                            * o.kw_idle_per_gpu
                            * idle_hours
                            * o.power_usd_per_kwh
                            * at(path.power_price, i);
                    }
                    m.colocation = g * o.kw_provisioned_per_gpu * o.colocation_usd_per_kw_month;
                    m.staff = o.staff_usd_per_month + o.staff_usd_per_gpu_month * g;
                    m.replacements = g
                        * path.failures.get(i).copied().unwrap_or(0.0)
                        * o.capex_per_gpu
                        * gpu_mult;
                    if i + 1 == self.horizon && !o.keep_at_horizon {
                        // Sold at the horizon: the proceeds in cash, the
                        // gain or loss against book value in the P&L.
                        let remaining = book.max(0.0);
                        m.resale = o.resale_fraction * remaining;
                        m.disposal = remaining - m.resale;
                        book = 0.0;
                    }
                    m.book_value = book;
                    m.self_host_pnl = m.depreciation
                        + m.cost_of_capital
                        + m.power
                        + m.colocation
                        + m.staff
                        + m.replacements
                        + m.disposal;
                }
            }
            // Over the GPUs held (rented, or in service), idle ones
            // included: a lot bigger than the need, or an owned fleet that
            // outlives its demand, lowers it.
            let capacity = f64::from(m.gpus_held) / f64::from(tp)
                * self.replica_requests_per_s
                * throughput
                * seconds;
            m.utilization = if capacity > 0.0 {
                (served / capacity).min(1.0)
            } else {
                0.0
            };
            // The same over every hour of the billing month.
            m.utilization_whole_month = m.utilization * (seconds * days) / (86_400.0 * month_days);
            months.push(m);
        }

        // Second pass: cash needs payments booked before their month ran.
        // The capex comes last, so that everything before it is known when
        // its month runs (which is what lets the Monte Carlo engine's batch
        // version of this model work in one pass).
        let (mut api_total, mut pnl_total, mut cash_total) = (0.0, 0.0, month_0_capex);
        if let Some(first) = months.first_mut() {
            first.capex_paid_month_0 = month_0_capex;
        }
        for (m, &cip) in months.iter_mut().zip(&in_progress) {
            m.self_host_pnl += m.residual_api_cost;
            m.self_host_pnl += cip;
            m.cost_of_capital += cip;
            if matches!(self.costs, Costs::Owned(_)) {
                m.self_host_cash = m.replacements + m.power + m.colocation + m.staff - m.resale;
            }
            m.self_host_cash += m.residual_api_cost;
            m.self_host_cash += m.capex_paid;
            api_total += m.api_cost;
            pnl_total += m.self_host_pnl;
            cash_total += m.self_host_cash;
            m.cumulative_api = api_total;
            m.cumulative_self_host_pnl = pnl_total;
            m.cumulative_self_host_cash = cash_total;
        }
    }
}

/// Which view of self-hosting costs break-even uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Basis {
    /// Depreciation and cost of capital spread the purchase.
    #[default]
    ProfitAndLoss,
    /// Capex when paid, resale at the end.
    Cash,
}

/// Headline figures of a projection.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub basis: Basis,
    /// First month from which cumulative self-host cost stays below
    /// cumulative API cost, by more than a cent, through the horizon;
    /// `None`: not within it (a tie is not a break-even).
    pub break_even_month: Option<u32>,
    /// The crossing within the break-even month, interpolated linearly
    /// between the ends of the months around it (e.g. 17.8 for a crossing
    /// eight tenths into month 18); 0 when self-hosting is never behind.
    pub break_even_months_fractional: Option<f64>,
    /// First month in which cumulative self-host cost is below cumulative
    /// API cost by more than a cent, even if it later rises above.
    pub first_crossover_month: Option<u32>,
    /// The self-host option holds no GPUs and serves nothing in any month
    /// (its routing sends nothing to the open model): it is the API option
    /// itself, neither cheaper nor dearer.
    pub identical_to_api: bool,
    /// Capex paid in month 0, before the horizon (cash view).
    pub capex_paid_month_0: f64,
    pub total_api: f64,
    pub total_fine_tuned_api: f64,
    pub total_self_host_pnl: f64,
    pub total_self_host_cash: f64,
    /// Present value of each option's cash flows at the scenario's rate.
    pub npv_api: f64,
    pub npv_fine_tuned_api: f64,
    pub npv_self_host: f64,
    /// API-tokenizer tokens over the horizon.
    pub total_tokens: f64,
    pub api_cost_per_million_tokens: f64,
    pub self_host_cost_per_million_tokens: f64,
    /// Self-host cost per million tokens counting only the busy share of
    /// the GPUs held: a secondary figure, since idle GPUs are paid for.
    pub self_host_usage_only_cost_per_million_tokens: f64,
    pub mean_utilization: f64,
    /// Mean utilisation over every hour of each month.
    pub mean_utilization_whole_month: f64,
    /// The decision to self-host as an investment: IRR, payback, ROI.
    pub returns: Returns,
    /// How the self-host option's P&L and cash views reconcile.
    pub bridge: Bridge,
}

/// The self-host option's cumulative P&L and cash costs over the horizon,
/// reconciled: every other line is the same in both views.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Bridge {
    /// Capex paid, month 0 included (cash).
    pub capex: f64,
    /// Depreciation booked (P&L).
    pub depreciation: f64,
    /// Loss on disposal at the horizon, negative for a gain (P&L).
    pub disposal: f64,
    /// Resale proceeds at the horizon (cash inflow).
    pub resale: f64,
    /// Cost of capital, in service and before (P&L only).
    pub cost_of_capital: f64,
    /// Book value at the horizon not disposed of (a kept fleet).
    pub book_value_carried: f64,
}

impl Bridge {
    /// Cumulative P&L cost less cumulative cash cost that these lines
    /// account for: depreciation + disposal + cost of capital + resale −
    /// capex.
    pub fn pnl_less_cash(&self) -> f64 {
        self.depreciation + self.disposal + self.cost_of_capital + self.resale - self.capex
    }

    /// The bridge of months produced by [`Plan::run`].
    pub fn of(months: &[Month]) -> Bridge {
        let sum = |f: fn(&Month) -> f64| months.iter().map(f).sum::<f64>();
        Bridge {
            capex: months.first().map_or(0.0, |m| m.capex_paid_month_0) + sum(|m| m.capex_paid),
            depreciation: sum(|m| m.depreciation),
            disposal: sum(|m| m.disposal),
            resale: sum(|m| m.resale),
            cost_of_capital: sum(|m| m.cost_of_capital),
            book_value_carried: months.last().map_or(0.0, |m| m.book_value),
        }
    }
}

/// Whether cumulative self-host cost `self_host` is ahead of the API's,
/// i.e. cheaper by more than a cent ([`TIE_USD`]): a tie is not ahead.
#[inline(always)]
pub fn ahead(self_host: f64, api: f64) -> bool {
    self_host < api - TIE_USD
}

/// The first month from which cumulative self-host cost stays below
/// cumulative API cost, by more than a cent, through the last month.
pub fn summarize_break_even(months: &[Month], basis: Basis) -> Option<u32> {
    let loses = |m: &Month| {
        let self_host = match basis {
            Basis::ProfitAndLoss => m.cumulative_self_host_pnl,
            Basis::Cash => m.cumulative_self_host_cash,
        };
        !ahead(self_host, m.cumulative_api)
    };
    match months.iter().rposition(loses) {
        None if !months.is_empty() => Some(1),
        Some(last_loss) if last_loss + 1 < months.len() => Some(last_loss as u32 + 2),
        _ => None,
    }
}

/// Summarises months produced by [`Plan::run`].
pub fn summarize(plan: &Plan, months: &[Month], basis: Basis) -> Summary {
    let self_host = |m: &Month| match basis {
        Basis::ProfitAndLoss => m.cumulative_self_host_pnl,
        Basis::Cash => m.cumulative_self_host_cash,
    };
    let break_even_month = summarize_break_even(months, basis);
    let month_0 = months.first().map_or(0.0, |m| m.capex_paid_month_0);
    let break_even_months_fractional = break_even_month.map(|t| {
        // Self-host minus API, cumulative, at the end of month t − 1 (month
        // 0: what was paid before the horizon) and of month t.
        let behind = |i: usize| -> f64 {
            if i == 0 {
                return match basis {
                    Basis::ProfitAndLoss => 0.0,
                    Basis::Cash => month_0,
                };
            }
            let m = &months[i - 1];
            self_host(m) - m.cumulative_api
        };
        let (before, after) = (behind(t as usize - 1), behind(t as usize));
        if before <= 0.0 {
            f64::from(t - 1)
        } else {
            f64::from(t - 1) + before / (before - after)
        }
    });
    let first_crossover_month = months
        .iter()
        .position(|m| ahead(self_host(m), m.cumulative_api))
        .map(|i| i as u32 + 1);
    let monthly = ((1.0 + plan.discount_rate).powf(1.0 / 12.0)) - 1.0;
    let pv = |f: &dyn Fn(&Month) -> f64| -> f64 {
        months
            .iter()
            .map(|m| f(m) / (1.0 + monthly).powi(m.t as i32))
            .sum()
    };
    let total_tokens: f64 = months
        .iter()
        .map(|m| m.input_tokens + m.output_tokens)
        .sum();
    let last = months.last().copied().unwrap_or_default();
    let per_mtok = |cost: f64| {
        if total_tokens > 0.0 {
            cost / total_tokens * 1e6
        } else {
            0.0
        }
    };
    let used: f64 = months
        .iter()
        .map(|m| (m.self_host_pnl - m.residual_api_cost) * m.utilization + m.residual_api_cost)
        .sum();
    Summary {
        basis,
        break_even_month,
        break_even_months_fractional,
        first_crossover_month,
        identical_to_api: months
            .iter()
            .all(|m| m.gpus_held == 0 && m.self_hosted_requests_per_day == 0.0),
        capex_paid_month_0: month_0,
        total_api: last.cumulative_api,
        total_fine_tuned_api: months.iter().map(|m| m.fine_tuned_api_cost).sum(),
        total_self_host_pnl: last.cumulative_self_host_pnl,
        total_self_host_cash: last.cumulative_self_host_cash,
        npv_api: pv(&|m| m.api_cost),
        npv_fine_tuned_api: pv(&|m| m.fine_tuned_api_cost),
        // Month 0 is not discounted.
        npv_self_host: month_0 + pv(&|m| m.self_host_cash),
        total_tokens,
        api_cost_per_million_tokens: per_mtok(last.cumulative_api),
        self_host_cost_per_million_tokens: per_mtok(match basis {
            Basis::ProfitAndLoss => last.cumulative_self_host_pnl,
            Basis::Cash => last.cumulative_self_host_cash,
        }),
        self_host_usage_only_cost_per_million_tokens: per_mtok(used),
        mean_utilization: if months.is_empty() {
            0.0
        } else {
            months.iter().map(|m| m.utilization).sum::<f64>() / months.len() as f64
        },
        mean_utilization_whole_month: if months.is_empty() {
            0.0
        } else {
            months
                .iter()
                .map(|m| m.utilization_whole_month)
                .sum::<f64>()
                / months.len() as f64
        },
        returns: finance::returns(months, plan.discount_rate, plan.tax_rate),
        bridge: Bridge::of(months),
    }
}

/// The first day of month `t` of the plan.
pub fn month_date(plan: &Plan, t: u32) -> NaiveDate {
    plan.scenario.month_start(t).unwrap_or_default()
}
