//! The decision to self-host seen as an investment: the incremental cash
//! flows of choosing self-hosting over the API, and the figures a finance
//! team reads off them: internal rate of return, simple and discounted
//! payback month, return on what self-hosting spends, and the net present
//! value of the savings. Pure arithmetic over months produced by
//! [`Plan::run`](super::Plan::run).
//!
//! The flow of month t (t = 1…H) is what the API option would have paid
//! that month less what the self-host option pays in cash (which includes
//! the API spend it still incurs and the resale of the fleet at the
//! horizon); month 0 carries the capex paid before the horizon, as an
//! outflow. Rates are annual, compounded monthly:
//! monthly = (1 + annual)^(1/12) − 1, the convention of the projection's
//! NPVs.

use super::project::Month;

/// Self-hosting is ahead only when cheaper by more than this (one cent):
/// two options that cost the same are tied, which is neither a saving nor
/// a break-even, and amounts within a cent of zero count as zero.
pub const TIE_USD: f64 = 0.01;

/// Lowest annual rate the IRR search considers (−99.99%).
const MIN_ANNUAL_RATE: f64 = -0.9999;
/// Highest annual rate the IRR search considers (10^6, i.e. 100,000,000%).
const MAX_ANNUAL_RATE: f64 = 1e6;
/// Step of the search grid in u = ln(1 + monthly rate).
const GRID_STEP: f64 = 1e-3;

/// The range of u = ln(1 + monthly rate) the IRR search considers, and
/// the grid steps that cover it.
fn search_range() -> (f64, f64, usize) {
    let lo = (1.0 + MIN_ANNUAL_RATE).ln() / 12.0;
    let hi = (1.0 + MAX_ANNUAL_RATE).ln() / 12.0;
    (lo, hi, ((hi - lo) / GRID_STEP).ceil() as usize)
}

/// Internal rate of return of the incremental cash flows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Irr {
    /// The annual rate at which the flows' present value is zero.
    /// `unique` is false when the flows change sign more than once: then
    /// several rates can solve the equation and this is the one nearest
    /// 0%.
    Rate { annual: f64, unique: bool },
    /// The flows never change sign (all savings, all costs, or all zero):
    /// no rate makes their present value zero, so there is no IRR.
    NoSignChange,
    /// The flows change sign but no rate between −99.99% and 10^8% a year
    /// makes their present value zero.
    OutOfRange,
}

impl Irr {
    /// The annual rate, where there is one.
    pub fn annual(self) -> Option<f64> {
        match self {
            Irr::Rate { annual, .. } => Some(annual),
            _ => None,
        }
    }

    /// Why there is no rate, in words (`None` when there is one).
    pub fn reason(self) -> Option<&'static str> {
        match self {
            Irr::Rate { .. } => None,
            Irr::NoSignChange => Some("no IRR: the incremental cash flows never change sign"),
            Irr::OutOfRange => Some(
                "no IRR: no rate between -99.99% and 100,000,000% a year makes the flows' present value zero",
            ),
        }
    }
}

/// Investment figures of self-hosting against the API.
#[derive(Debug, Clone, PartialEq)]
pub struct Returns {
    /// Incremental cash flows, index 0 = month 0 (capex paid before the
    /// horizon, negative), index t = month t.
    pub flows: Vec<f64>,
    pub irr: Irr,
    /// First month from whose end the cumulative incremental cash stays
    /// above zero (by more than a cent) through the horizon; `None`
    /// when it does not within the horizon.
    pub payback_month: Option<u32>,
    /// The same with each month's flow discounted at the scenario's rate.
    pub discounted_payback_month: Option<u32>,
    /// Net savings over the horizon (Σ flows) ÷ the self-host option's cash
    /// spend (month 0 included); `None` when that spend is not positive.
    pub roi: Option<f64>,
    /// Present value of the flows at the scenario's discount rate (month 0
    /// undiscounted): NPV of the API option less that of self-hosting.
    pub npv: f64,
    /// The same decision after tax.
    pub after_tax: AfterTax,
}

/// The incremental cash flows after tax at `tax_rate`, paid in the month
/// the profit arises. Self-hosting changes taxable profit by the API bill
/// it avoids less the expenses it books: its P&L cost without the cost of
/// capital (an opportunity cost, not a deductible expense), i.e. running
/// costs, depreciation, the loss on disposal and the residual API bill.
/// A negative change is a tax saving (the business has other profits to
/// offset). So flow after tax = flow − rate × (API − (P&L − cost of
/// capital)), and depreciation shields rate × depreciation.
#[derive(Debug, Clone, PartialEq)]
pub struct AfterTax {
    pub tax_rate: f64,
    /// Index 0 = month 0, as [`Returns::flows`].
    pub flows: Vec<f64>,
    pub irr: Irr,
    pub npv: f64,
    /// Tax rate × depreciation over the horizon.
    pub depreciation_tax_shield: f64,
    /// Extra tax over the horizon from self-hosting's savings (negative
    /// when it lowers the tax bill).
    pub tax: f64,
}

/// Present value at the annual `rate` (month 0 undiscounted), summed month
/// by month as the NPVs of the projection are.
fn present_value(flows: &[f64], rate: f64) -> f64 {
    let v = 1.0 / (1.0 + monthly_rate(rate));
    let mut factor = 1.0;
    flows
        .iter()
        .map(|&c| {
            let d = c * factor;
            factor *= v;
            d
        })
        .sum()
}

/// Capital recovery factor: the level payment per month, for `months`
/// months at the monthly rate `rate`, that repays 1 today:
/// i (1 + i)^n / ((1 + i)^n − 1), and 1/n at a zero rate.
pub fn capital_recovery_factor(rate: f64, months: u32) -> f64 {
    let n = f64::from(months.max(1));
    if rate == 0.0 {
        return 1.0 / n;
    }
    let growth = (1.0 + rate).powf(n);
    rate * growth / (growth - 1.0)
}

/// The monthly rate equivalent to `annual`, compounded monthly.
pub fn monthly_rate(annual: f64) -> f64 {
    (1.0 + annual).powf(1.0 / 12.0) - 1.0
}

/// Incremental cash flows of months produced by [`Plan::run`]: index 0 is
/// the capex paid in month 0 (as an outflow), index t the API cost of
/// month t less the self-host option's cash cost.
pub fn incremental_flows(months: &[Month]) -> Vec<f64> {
    let month_0 = months.first().map_or(0.0, |m| m.capex_paid_month_0);
    std::iter::once(-month_0)
        .chain(months.iter().map(|m| m.api_cost - m.self_host_cash))
        .collect()
}

/// Present value of `flows` (index = month) at the annual `rate`.
pub fn npv(flows: &[f64], annual_rate: f64) -> f64 {
    let v = 1.0 / (1.0 + monthly_rate(annual_rate));
    // Horner from the last month back: Σ c_t v^t.
    flows.iter().rev().fold(0.0, |acc, &c| acc * v + c)
}

/// Σ c_t x^t.
fn polynomial(flows: &[f64], x: f64) -> f64 {
    flows.iter().rev().fold(0.0, |acc, &c| acc * x + c)
}

/// Number of sign changes of `flows`, ignoring amounts within a cent of
/// zero.
pub fn sign_changes(flows: &[f64]) -> usize {
    let mut last = 0.0_f64;
    let mut changes = 0;
    for &c in flows {
        if c.abs() <= TIE_USD {
            continue;
        }
        if last != 0.0 && (c > 0.0) != (last > 0.0) {
            changes += 1;
        }
        last = c;
    }
    changes
}

/// Σ c_t x^t and Σ t·|c_t|·x^t, the second a bound on the slope of the
/// first in u = −ln x at every point to the right of u (each term's
/// slope, −t·c_t·e^(−u·t), only shrinks as u grows).
fn polynomial_and_slope_bound(flows: &[f64], x: f64) -> (f64, f64) {
    let mut value = 0.0;
    let mut bound = 0.0;
    for (t, &c) in flows.iter().enumerate().rev() {
        value = value * x + c;
        bound = bound * x + t as f64 * c.abs();
    }
    (value, bound)
}

/// The same seen from the other end: Σ c_t y^(T−t) with y = e^u (the
/// present value times e^(u·T), so of the same sign) and Σ (T−t)·|c_t|·
/// y^(T−t), a bound on its slope in u at every point to the left of u.
fn reversed_and_slope_bound(flows: &[f64], y: f64) -> (f64, f64) {
    let last = flows.len().saturating_sub(1);
    let mut value = 0.0;
    let mut bound = 0.0;
    for (t, &c) in flows.iter().enumerate() {
        value = value * y + c;
        bound = bound * y + (last - t) as f64 * c.abs();
    }
    (value, bound)
}

/// Grid steps from a point where a function is `value`, its slope bounded
/// by `bound` on the side scanned, over which it cannot reach zero (half
/// the distance, for rounding), at most `limit`.
fn safe_steps(value: f64, bound: f64, limit: usize) -> usize {
    if value == 0.0 || bound == 0.0 {
        return if value == 0.0 { 0 } else { limit };
    }
    let reach = 0.5 * value.abs() / bound / GRID_STEP;
    if reach >= limit as f64 {
        limit
    } else {
        reach as usize
    }
}

/// Internal rate of return of `flows` (index = month), annualised.
///
/// The equation Σ c_t (1 + r)^−t = 0 is solved in u = ln(1 + r). On a grid
/// of u in steps of 0.001 over the rates from −99.99% to 10^8% a year,
/// the brackets are the grid intervals over which the present value
/// changes sign (or meets zero); the answer is the bracket nearest u = 0
/// (r = 0%, the leftmost of two as near), narrowed by bisection to the
/// precision of a double. With one sign change in the flows (Descartes'
/// rule of signs) the root is unique.
///
/// The grid is searched outwards from u = 0, to the first bracket on each
/// side, and without evaluating every point: to the right of u the present
/// value cannot reach zero within |PV(u)| ÷ Σ t·|c_t|·e^(−u·t), and to the
/// left within the same for the flows read backwards (the present value
/// times e^(u·T)), so the grid points in half that stretch share the sign
/// of PV(u) and are stepped over. The answer is that of a scan of every
/// grid point (a test compares the two on random flows).
pub fn irr(flows: &[f64]) -> Irr {
    let changes = sign_changes(flows);
    if changes == 0 {
        return Irr::NoSignChange;
    }
    let pv = |u: f64| polynomial(flows, (-u).exp());
    let (lo, hi, steps) = search_range();
    let grid = |k: usize| (lo + k as f64 * GRID_STEP).min(hi);
    // The last grid point at or below u = 0.
    let mut k0 = ((-lo / GRID_STEP) as usize).min(steps);
    while k0 > 0 && grid(k0) > 0.0 {
        k0 -= 1;
    }
    while k0 < steps && grid(k0 + 1) <= 0.0 {
        k0 += 1;
    }
    let (at_k0, bound_k0) = polynomial_and_slope_bound(flows, (-grid(k0)).exp());
    let distance = |(a, b): (f64, f64)| a.abs().min(b.abs());

    // Rightwards from k0: the first interval (k, k + 1) that brackets.
    let mut right = None;
    let (mut k, mut prev) = (k0, at_k0);
    let mut bound = bound_k0;
    while k < steps {
        // Grid points k + 1 ..= k + skip have the sign of PV at k.
        let skip = safe_steps(prev, bound, steps - k);
        let next = k + skip + 1;
        if next > steps {
            break;
        }
        let u = grid(next);
        let (value, slope) = polynomial_and_slope_bound(flows, (-u).exp());
        if prev == 0.0 && skip == 0 {
            right = Some((grid(k), grid(k)));
            break;
        }
        if (prev < 0.0) != (value < 0.0) || value == 0.0 {
            right = Some((grid(next - 1), u));
            break;
        }
        (k, prev, bound) = (next, value, slope);
    }

    // Leftwards from k0: the first interval (m, m + 1) that brackets, no
    // farther from 0 than the right one.
    let mut left = None;
    let reach = right.map_or(0, |r| {
        let d = distance(r);
        ((d / GRID_STEP) as usize + 2).min(k0)
    });
    let floor = if right.is_some() { k0 - reach } else { 0 };
    let (mut k, mut value) = (k0, at_k0);
    let mut bound = reversed_and_slope_bound(flows, grid(k0).exp());
    while k > floor {
        // Grid points k − skip ..= k − 1 have the sign of PV at k (none
        // are stepped over from a zero).
        let skip = if value == 0.0 {
            0
        } else {
            safe_steps(bound.0, bound.1, k - floor)
        };
        if skip >= k - floor {
            break;
        }
        let m = k - skip - 1;
        let prev = pv(grid(m));
        // The value at m + 1: PV at k itself, or a point stepped over,
        // of its sign and not zero.
        let at_next = if skip == 0 { value } else { value.signum() };
        if prev == 0.0 {
            // A zero at m closes the interval (m − 1, m) as well, which is
            // as near and further left.
            left = Some(if m > 0 && pv(grid(m - 1)) != 0.0 {
                (grid(m - 1), grid(m))
            } else {
                (grid(m), grid(m))
            });
            break;
        }
        if (prev < 0.0) != (at_next < 0.0) || at_next == 0.0 {
            left = Some((grid(m), grid(m + 1)));
            break;
        }
        (k, value) = (m, prev);
        bound = reversed_and_slope_bound(flows, grid(m).exp());
    }

    let best = match (left, right) {
        (Some(l), Some(r)) => Some(if distance(l) <= distance(r) { l } else { r }),
        (l, r) => l.or(r),
    };
    let Some((a, b)) = best else {
        return Irr::OutOfRange;
    };
    // (1 + r)^12 − 1 with 1 + r = e^u.
    Irr::Rate {
        annual: (12.0 * narrow(flows, a, b)).exp_m1(),
        unique: changes == 1,
    }
}

/// The root of the present value in u within the bracket [a, b] (a = b
/// for a zero at a grid point), to the precision of a double: Newton's
/// steps (the slope comes with the value, Σ t·c_t·e^(−u·t)) while they
/// stay inside the bracket, which each evaluation narrows, and at least
/// halve the step before; halving the bracket otherwise.
fn narrow(flows: &[f64], mut a: f64, mut b: f64) -> f64 {
    let at = |u: f64| {
        let x = (-u).exp();
        let (mut value, mut slope) = (0.0, 0.0);
        for (t, &c) in flows.iter().enumerate().rev() {
            value = value * x + c;
            slope = slope * x + t as f64 * c;
        }
        (value, -slope)
    };
    let fa = at(a).0;
    if fa == 0.0 || a >= b {
        return a;
    }
    let mut u = 0.5 * (a + b);
    let mut last_step = b - a;
    for _ in 0..200 {
        let (f, slope) = at(u);
        if f == 0.0 {
            return u;
        }
        if (f < 0.0) == (fa < 0.0) {
            a = u;
        } else {
            b = u;
        }
        // A Newton step that leaves the bracket, or does not halve the
        // step before it, gives way to halving the bracket.
        let newton = u - f / slope;
        let next = if newton > a && newton < b && (newton - u).abs() <= 0.5 * last_step {
            newton
        } else {
            0.5 * (a + b)
        };
        last_step = (next - u).abs();
        // Nothing left to narrow: Newton's step vanishes, or the bracket
        // is two neighbouring doubles.
        if next == u || next <= a || next >= b {
            return u;
        }
        u = next;
    }
    u
}

/// [`irr`] for many paths: with one sign change (a unique root) the
/// present value changes sign once between the ends of the range, so
/// halving that range finds the root without the scan; flows that change
/// sign more often fall back to [`irr`].
pub fn irr_fast(flows: &[f64]) -> Irr {
    match sign_changes(flows) {
        0 => Irr::NoSignChange,
        1 => {
            let pv = |u: f64| polynomial(flows, (-u).exp());
            let (lo, hi, _) = search_range();
            let (f_lo, f_hi) = (pv(lo), pv(hi));
            if f_lo == 0.0 {
                return Irr::Rate {
                    annual: (12.0 * lo).exp_m1(),
                    unique: true,
                };
            }
            if (f_lo < 0.0) == (f_hi < 0.0) {
                return Irr::OutOfRange;
            }
            Irr::Rate {
                annual: (12.0 * narrow(flows, lo, hi)).exp_m1(),
                unique: true,
            }
        }
        _ => irr(flows),
    }
}

/// First month t ≥ 1 from which the running sum of `flows` (month 0
/// included) stays above a cent through the last month.
pub fn payback_month(flows: &[f64]) -> Option<u32> {
    let mut cumulative = 0.0;
    let mut last_behind: Option<usize> = None;
    for (t, &c) in flows.iter().enumerate() {
        cumulative += c;
        if cumulative <= TIE_USD {
            last_behind = Some(t);
        }
    }
    let months = flows.len().checked_sub(1)?;
    match last_behind {
        // Ahead from month 0 on: cannot happen with a non-positive month 0
        // flow, but then the first month pays back.
        None if months > 0 => Some(1),
        Some(t) if t < months => Some(t as u32 + 1),
        _ => None,
    }
}

/// Investment figures of months produced by [`Plan::run`], discounted at
/// the annual `discount_rate`, before and after tax at `tax_rate`.
pub fn returns(months: &[Month], discount_rate: f64, tax_rate: f64) -> Returns {
    let flows = incremental_flows(months);
    let v = 1.0 / (1.0 + monthly_rate(discount_rate));
    let mut factor = 1.0;
    let discounted: Vec<f64> = flows
        .iter()
        .map(|&c| {
            let d = c * factor;
            factor *= v;
            d
        })
        .collect();
    let spend: f64 = months.first().map_or(0.0, |m| m.capex_paid_month_0)
        + months.iter().map(|m| m.self_host_cash).sum::<f64>();
    let net: f64 = flows.iter().sum();
    let mut tax = 0.0;
    let after: Vec<f64> = std::iter::once(flows[0])
        .chain(months.iter().zip(&flows[1..]).map(|(m, &flow)| {
            let taxable = m.api_cost - (m.self_host_pnl - m.cost_of_capital);
            tax += tax_rate * taxable;
            flow - tax_rate * taxable
        }))
        .collect();
    let after_tax = AfterTax {
        tax_rate,
        irr: irr(&after),
        npv: present_value(&after, discount_rate),
        depreciation_tax_shield: tax_rate * months.iter().map(|m| m.depreciation).sum::<f64>(),
        tax,
        flows: after,
    };
    Returns {
        irr: irr(&flows),
        payback_month: payback_month(&flows),
        discounted_payback_month: payback_month(&discounted),
        roi: (spend > TIE_USD).then(|| net / spend),
        npv: discounted.iter().sum(),
        flows,
        after_tax,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} vs {b}");
    }

    #[test]
    fn irr_of_a_spreadsheet_case() {
        // Month 0: −10,000; months 1–12: +1,000. In a spreadsheet,
        // =RATE(12, 1000, -10000) = 2.92285408% a month (NPV at that
        // rate: 1000 × (1 − 1.0292285408^−12) / 0.0292285408 = 10,000.00),
        // and =(1+RATE(12, 1000, -10000))^12−1 = 41.2999% a year.
        let mut flows = vec![-10_000.0];
        flows.extend([1_000.0; 12]);
        let Irr::Rate { annual, unique } = irr(&flows) else {
            panic!("expected a rate");
        };
        assert!(unique);
        let monthly = monthly_rate(annual);
        close(monthly, 0.029_228_540_8, 1e-10);
        close(annual, 0.412_998_984, 1e-8);
        close(npv(&flows, annual), 0.0, 1e-6);
    }

    #[test]
    fn capital_recovery_factor_by_hand() {
        // 1% a month over 48 months: 1.01^48 = 1.6122261; 0.016122261 /
        // 0.6122261 = 0.0263338: $25,000 costs $658.35 a month levelised,
        // against $520.83 of depreciation plus $250 of cost of capital on
        // the full price in month 1.
        let crf = capital_recovery_factor(0.01, 48);
        close(crf, 0.026_333_8, 1e-7);
        close(25_000.0 * crf, 658.35, 0.005);
        // The payments' present value at that rate is the price.
        let pv: f64 = (1..=48).map(|t| 658.345 / 1.01_f64.powi(t)).sum();
        close(pv, 25_000.0, 0.05);
        close(capital_recovery_factor(0.0, 50), 0.02, 1e-15);
    }

    #[test]
    fn the_fast_irr_agrees_with_the_scan() {
        let mut flows = vec![-10_000.0];
        flows.extend([1_000.0; 12]);
        let (a, b) = (
            irr(&flows).annual().unwrap(),
            irr_fast(&flows).annual().unwrap(),
        );
        close(a, b, 1e-12);
        assert_eq!(irr_fast(&[0.0, 1.0]), Irr::NoSignChange);
        let several = [-100.0, 230.0, -132.0];
        assert_eq!(irr_fast(&several), irr(&several));
    }

    /// The scan of every grid point, which [`irr`] steps over in part.
    fn irr_scanning_every_point(flows: &[f64]) -> Irr {
        let changes = sign_changes(flows);
        if changes == 0 {
            return Irr::NoSignChange;
        }
        let pv = |u: f64| polynomial(flows, (-u).exp());
        let (lo, hi, steps) = search_range();
        let mut best: Option<(f64, f64)> = None;
        let (mut prev_u, mut prev) = (lo, pv(lo));
        for k in 1..=steps {
            let u = (lo + k as f64 * GRID_STEP).min(hi);
            let value = pv(u);
            let bracket = if prev == 0.0 {
                Some((prev_u, prev_u))
            } else if (prev < 0.0) != (value < 0.0) || value == 0.0 {
                Some((prev_u, u))
            } else {
                None
            };
            if let Some((a, b)) = bracket {
                let distance = a.abs().min(b.abs());
                if best.is_none_or(|(x, y)| distance < x.abs().min(y.abs())) {
                    best = Some((a, b));
                }
            }
            (prev_u, prev) = (u, value);
        }
        match best {
            None => Irr::OutOfRange,
            // The same narrowing as `irr`'s, from the same bracket.
            Some((a, b)) => Irr::Rate {
                annual: (12.0 * narrow(flows, a, b)).exp_m1(),
                unique: changes == 1,
            },
        }
    }

    #[test]
    fn stepping_over_the_grid_gives_the_full_scans_answer() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let mut out_of_range = 0;
        for case in 0..6_000 {
            let months = rng.random_range(1..=120);
            let scale = 10f64.powi(rng.random_range(0..7));
            let mut flows: Vec<f64> = (0..=months)
                .map(|_| rng.random_range(-1.0..1.0) * scale)
                .collect();
            // Purchases up front, refreshes, exact zeros, and roots at the
            // grid's own points now and then.
            match case % 9 {
                0 => flows[0] = -scale * months as f64 * 0.3,
                1 => flows.iter_mut().step_by(7).for_each(|c| *c = 0.0),
                2 => flows = vec![-100.0, 230.0, -132.0],
                // A root at 0%, one far below it, one far above it.
                3 => flows = vec![-1.0, 0.0, 1.0],
                4 => {
                    flows = vec![-scale; 2];
                    flows.extend(vec![scale * 0.01; months]);
                }
                5 => {
                    flows = vec![-scale];
                    flows.extend(vec![scale * 5.0; months]);
                }
                // A purchase, savings, and a refresh in the middle.
                6 => {
                    flows = (0..=months)
                        .map(|t| if t == 0 { -scale * 20.0 } else { scale })
                        .collect();
                    flows[months / 2] = -scale * 15.0;
                }
                _ => {}
            }
            let (fast, full) = (irr(&flows), irr_scanning_every_point(&flows));
            assert_eq!(fast, full, "{flows:?}");
            out_of_range += usize::from(full == Irr::OutOfRange);
        }
        // The cases include flows with no root in range as well.
        assert!(out_of_range > 0 && out_of_range < 6_000, "{out_of_range}");
    }

    #[test]
    fn irr_of_two_months_solves_the_quadratic() {
        // −100 + 60 v + 60 v² = 0 → v = (−60 + √(3600 + 24000)) / 120
        // = 0.884 backwards: 1 + r = 1/v.
        let flows = [-100.0, 60.0, 60.0];
        let v = (-60.0 + (3600.0_f64 + 24_000.0).sqrt()) / 120.0;
        let monthly = 1.0 / v - 1.0;
        let annual = irr(&flows).annual().unwrap();
        close(monthly_rate(annual), monthly, 1e-12);
        close(monthly, 0.130_662_386, 1e-9);
    }

    #[test]
    fn negative_irr_when_the_savings_do_not_repay() {
        // −1,000 then +90 × 10: repays 900 of 1,000, so the rate is below
        // zero; at that rate the present value is zero.
        let mut flows = vec![-1_000.0];
        flows.extend([90.0; 10]);
        let annual = irr(&flows).annual().unwrap();
        assert!(annual < 0.0);
        close(npv(&flows, annual), 0.0, 1e-8);
    }

    #[test]
    fn no_irr_without_a_sign_change() {
        assert_eq!(irr(&[0.0, 5.0, 5.0]), Irr::NoSignChange);
        assert_eq!(irr(&[-5.0, -5.0]), Irr::NoSignChange);
        assert_eq!(irr(&[0.0, 0.0, 0.0]), Irr::NoSignChange);
        // Rounding noise is not a sign change.
        assert_eq!(irr(&[0.0, 1e-9, -1e-9]), Irr::NoSignChange);
        assert!(
            Irr::NoSignChange
                .reason()
                .unwrap()
                .contains("never change sign")
        );
    }

    #[test]
    fn several_sign_changes_flag_the_rate_as_not_unique() {
        // −100, +230, −132: roots at 10% and 20% a month; the one nearer
        // 0% is 10%.
        let flows = [-100.0, 230.0, -132.0];
        let Irr::Rate { annual, unique } = irr(&flows) else {
            panic!("expected a rate");
        };
        assert!(!unique);
        close(monthly_rate(annual), 0.10, 1e-12);
    }

    #[test]
    fn payback_months_simple_and_discounted() {
        // Month 0: −1,000; months 1–6: +250. Cumulative: −750, −500, −250,
        // 0, 250, 500 → simple payback in month 5 (month 4 only ties).
        let mut flows = vec![-1_000.0];
        flows.extend([250.0; 6]);
        assert_eq!(payback_month(&flows), Some(5));
        // At 12% a year (v = 1.12^(−1/12) = 0.990600), discounted: four
        // months bring 250 × (v + v² + v³ + v⁴) = 976.7 < 1,000, five
        // 1,215.2 > 1,000: payback in month 5.
        let r = returns_of(&flows, 0.12);
        assert_eq!(r.payback_month, Some(5));
        assert_eq!(r.discounted_payback_month, Some(5));
        // At 100% a year (5.946% a month) four months bring
        // 250 × Σ v^t = 867.3, five 1,054.6: still month 5. At 300% a year
        // (12.246% a month): five months 895.7, six 1,020.7 → month 6.
        assert_eq!(returns_of(&flows, 1.0).discounted_payback_month, Some(5));
        assert_eq!(returns_of(&flows, 3.0).discounted_payback_month, Some(6));
    }

    #[test]
    fn payback_must_hold_to_the_horizon() {
        // Ahead in month 1, behind again in month 2, ahead from month 3.
        assert_eq!(payback_month(&[0.0, 10.0, -20.0, 30.0]), Some(3));
        // Ahead then behind at the end: no payback.
        assert_eq!(payback_month(&[0.0, 10.0, -20.0]), None);
        // Never ahead by more than a cent.
        assert_eq!(payback_month(&[0.0, 0.0, 0.004]), None);
        // Ahead from month 1 with no month-0 outlay.
        assert_eq!(payback_month(&[0.0, 1.0, 1.0]), Some(1));
    }

    /// `returns` over flows given directly (month t's API cost is the
    /// flow, self-host cash zero; month 0 as capex).
    fn returns_of(flows: &[f64], rate: f64) -> Returns {
        let months: Vec<Month> = flows[1..]
            .iter()
            .enumerate()
            .map(|(i, &c)| Month {
                t: i as u32 + 1,
                api_cost: c.max(0.0),
                self_host_cash: (-c).max(0.0),
                capex_paid_month_0: if i == 0 { -flows[0] } else { 0.0 },
                ..Month::default()
            })
            .collect();
        returns(&months, rate, 0.0)
    }

    #[test]
    fn roi_and_npv_by_hand() {
        // Month 0 capex 1,000, then each month the API would cost 500 and
        // self-hosting pays 200 in cash: flows −1,000, +300, +300, +300.
        let months: Vec<Month> = (1..=3)
            .map(|t| Month {
                t,
                api_cost: 500.0,
                self_host_cash: 200.0,
                capex_paid_month_0: if t == 1 { 1_000.0 } else { 0.0 },
                ..Month::default()
            })
            .collect();
        let r = returns(&months, 0.0, 0.0);
        assert_eq!(r.flows, vec![-1_000.0, 300.0, 300.0, 300.0]);
        // Net −100 over a spend of 1,000 + 3 × 200 = 1,600.
        close(r.roi.unwrap(), -100.0 / 1_600.0, 1e-15);
        close(r.npv, -100.0, 1e-12);
        assert_eq!(r.payback_month, None);
        // At 10% a year: v = 1.1^(−1/12) = 0.992089; 300 (v + v² + v³)
        // = 885.84 → NPV −114.16.
        let v = 1.1_f64.powf(-1.0 / 12.0);
        let r = returns(&months, 0.10, 0.0);
        close(r.npv, -1_000.0 + 300.0 * (v + v * v + v * v * v), 1e-9);
        close(r.npv, -114.16, 0.01);
    }

    #[test]
    fn after_tax_npv_and_irr_by_hand() {
        // Month 0: capex 12,000 (12 GPUs at 1,000), depreciated 1,000 a
        // month over 12 months; each month the API would cost 3,000, and
        // self-hosting pays 800 of running costs and books 100 of cost of
        // capital. Tax at 25%.
        let months: Vec<Month> = (1..=12)
            .map(|t| Month {
                t,
                api_cost: 3_000.0,
                self_host_cash: 800.0,
                depreciation: 1_000.0,
                cost_of_capital: 100.0,
                self_host_pnl: 800.0 + 1_000.0 + 100.0,
                capex_paid_month_0: if t == 1 { 12_000.0 } else { 0.0 },
                ..Month::default()
            })
            .collect();
        let r = returns(&months, 0.0, 0.25);
        let a = &r.after_tax;
        // Taxable profit rises by 3,000 − (800 + 1,000) = 1,200 a month:
        // 300 of tax, so each month's flow is 2,200 − 300 = 1,900, which is
        // (3,000 − 800) × 0.75 + 0.25 × 1,000 of depreciation tax shield.
        assert_eq!(a.flows[0], -12_000.0);
        for &f in &a.flows[1..] {
            close(f, 1_900.0, 1e-9);
        }
        close(a.tax, 12.0 * 300.0, 1e-9);
        close(a.depreciation_tax_shield, 3_000.0, 1e-9);
        // Undiscounted: −12,000 + 12 × 1,900 = 10,800 (before tax 14,400).
        close(a.npv, 10_800.0, 1e-9);
        close(r.npv, 14_400.0, 1e-9);
        // At 10% a year, v = 1.1^(−1/12): NPV = −12,000 + 1,900 × Σ v^t.
        let v = 1.1_f64.powf(-1.0 / 12.0);
        let annuity: f64 = (1..=12).map(|t| v.powi(t)).sum();
        let r10 = returns(&months, 0.10, 0.25);
        close(r10.after_tax.npv, -12_000.0 + 1_900.0 * annuity, 1e-9);
        // The IRR after tax: 1,900 a month for 12 months repays 12,000 at
        // =RATE(12, 1900, -12000) = 11.5835% a month (goal seek below),
        // below the pre-tax =RATE(12, 2200, -12000).
        let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            let pv: f64 = (1..=12).map(|t| 1_900.0 / (1.0 + mid).powi(t)).sum();
            if pv > 12_000.0 { lo = mid } else { hi = mid }
        }
        close(monthly_rate(a.irr.annual().unwrap()), lo, 1e-10);
        close(lo, 0.115_835, 1e-6);
        assert!(a.irr.annual().unwrap() < r.irr.annual().unwrap());
        // No tax: the same flows as before tax.
        assert_eq!(returns(&months, 0.0, 0.0).after_tax.flows, r.flows);
    }
}
