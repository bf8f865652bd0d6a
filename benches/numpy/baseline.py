"""A vectorised NumPy version of breakeven's Monte Carlo run on the speed
scenario: the baseline someone would write without the engine.

The scenario is `BENCH_SCENARIO` in src/speed.rs (Llama 3.1 70B in FP8 on
owned H100s against GPT-4o, 60 months), read resolved from the JSON that
`breakeven speed --plan-json FILE` writes: the API rates per month, the
throughput of a replica, the owned-GPU costs. The processes and the monthly
cost model are the engine's (src/montecarlo/paths.rs, src/tco/project.rs):

- demand: geometric Brownian motion around the scenario's growth, mean
  preserving;
- API price: the same product's price with a drift and cuts arriving as a
  Poisson process, each removing a uniform share of the price;
- GPU prices: an Ornstein-Uhlenbeck swing in logs around a declining
  trend, which prices the capex of each purchase (paid `lead_time_months`
  ahead) and of replacements;
- failures: Poisson counts on a nominal fleet of 64 GPUs at the monthly
  hazard, replaced at the month's capex;
- the monthly model: API cost with caching and batch discounts; replicas
  for the peak at the target utilisation; GPUs bought in lots, depreciated
  straight-line in cohorts, cost of capital on the book value, power,
  colocation, staff, replacements, resale at the horizon; P&L and cash
  views.

The statistics are the engine's too: per month and for each of API cost,
self-host cost, their cumulative sums and the cumulative savings, the mean,
its standard error and the 5th-95th percentiles; the probability of break-
even by each month; the NPV of savings (cash flows) and its percentiles;
the probability that self-hosting is cheaper over the horizon. The monthly
percentiles come from the same logarithmic buckets as the engine's sketch
(128 a binary octave, the top mantissa bits), counted with np.bincount, as
holding every path's 300 monthly values to sort them would take gigabytes.

Simplifications, none of which changes the expected values:

- paths are independent draws from NumPy's PCG64, not antithetic pairs
  from Xoshiro256++ streams keyed by path, so the figures agree with the
  engine's within Monte Carlo error, not to the bit;
- Poisson counts come from the inverse CDF of a 53-bit uniform rather
  than of 32 bits of a word shared by two counts, and the normals from
  NumPy's ziggurat rather than the engine's;
- the scenario has no volume discounts and sends all traffic to owned
  GPUs, so neither tiers nor the other routings and rented GPUs are
  implemented (`--plan-json` refuses other deployments, and the script
  checks for tiers);
- no rank correlations (the engine computes them over at most 100,000
  paths, a small part of its time).

Paths are simulated in chunks (--chunk, 50,000 by default) to bound
memory, to about 0.8 GB.

Usage: python baseline.py --plan plan.json [--paths 1000000] [--seed 1]
(benches/numpy/compare.sh writes plan.json and runs both implementations).
"""

import argparse
import json
import math
import time

import numpy as np

DT = 1.0 / 12.0
# Buckets of the quantile sketch, as the engine's: the top 7 mantissa bits
# and the exponent of |value|, so 128 buckets a binary octave; magnitudes
# below 2**-13 count as zero; octaves from 2**-13 up to 2**51; both signs.
SHIFT = 52 - 7
ZERO_BITS = np.float64(2.0**-13).view(np.int64) >> SHIFT
SPAN = 64 * 128
BUCKETS = 2 * SPAN + 1  # negative, positive, and zero last
SERIES = 5  # API, self-host, cumulative API, cumulative self-host, savings
# The engine's cap on replicas, u32::MAX / 1024.
MAX_REPLICAS = float((2**32 - 1) // 1024)


def bucket_keys(values):
    """The sketch bucket of each value: 0..SPAN-1 for negative values, the
    same range shifted by SPAN for positive ones, BUCKETS-1 for zero."""
    index = (np.abs(values).view(np.int64) >> SHIFT) - ZERO_BITS
    key = np.minimum(index, SPAN - 1) + np.where(values > 0, SPAN, 0)
    return np.where(index < 0, BUCKETS - 1, key)


def bucket_value(key):
    """A bucket's representative: the harmonic mean of its ends, within
    1/257 of every member (as the engine's sketch)."""
    if key == BUCKETS - 1:
        return 0.0
    sign = 1.0 if key >= SPAN else -1.0
    bits = (key % SPAN + ZERO_BITS) << SHIFT
    low = float(np.int64(bits).view(np.float64))
    high = float(np.int64(bits + (1 << SHIFT)).view(np.float64))
    return sign * 2.0 * low * high / (low + high)


# Histogram slots in value order: most negative first, zero, then positive
# ascending.
ORDER = np.concatenate([np.arange(SPAN - 1, -1, -1), [BUCKETS - 1], np.arange(SPAN, 2 * SPAN)])


def quantile(counts, q):
    """The q-quantile of a histogram of bucket counts, ranked as the
    engine's sketch ranks: the value of rank floor(q * (n - 1))."""
    rank = math.floor(q * (counts.sum() - 1))
    at = int(np.searchsorted(np.cumsum(counts[ORDER]), rank, side="right"))
    return bucket_value(int(ORDER[min(at, len(ORDER) - 1)]))


def poisson(rng, lam, shape):
    """Poisson counts by inverse CDF on a table, as the engine draws them
    (and several times faster than Generator.poisson at these rates)."""
    if lam <= 0.0:
        return np.zeros(shape, dtype=np.int64)
    k = np.arange(64)
    pmf = np.exp(-lam + k * math.log(lam) - np.array([math.lgamma(i + 1) for i in k]))
    return np.minimum(np.searchsorted(np.cumsum(pmf), rng.random(shape)), 63)


class Totals:
    """Sums over paths, merged chunk by chunk."""

    def __init__(self, horizon):
        self.paths = 0
        self.sums = np.zeros((SERIES, horizon))
        self.squares = np.zeros((SERIES, horizon))
        self.histograms = np.zeros((SERIES, horizon, BUCKETS), dtype=np.int64)
        self.break_even_at = np.zeros(horizon + 1, dtype=np.int64)
        self.cheaper = 0
        self.utilization = np.zeros(horizon)
        self.npv = []


def simulate_chunk(plan, n, rng, totals):
    h = plan["horizon_months"]
    w = plan["workload"]
    sh = plan["self_host"]
    o = plan["owned"]
    s = plan["stochastic"]
    rates = plan["api_rates"]
    tau = np.arange(h) * DT

    # Demand: GBM, mean-preserving.
    sigma = s["demand_volatility"]
    walk = np.zeros((h, n))
    walk[1:] = np.cumsum(sigma * math.sqrt(DT) * rng.standard_normal((h - 1, n)), axis=0)
    demand = np.exp(walk - (sigma * sigma * tau / 2.0)[:, None])

    # API price: drift and Poisson cuts of a uniform share.
    cuts = poisson(rng, s["api_cuts_per_year"] * DT, (h - 1, n))
    log_cuts = np.zeros((h - 1, n))
    low, high = s["api_cut_share"]
    for k in range(1, int(cuts.max(initial=0)) + 1):
        hit = cuts >= k
        log_cuts[hit] += np.log(np.maximum(1.0 - rng.uniform(low, high, hit.sum()), 1e-9))
    api_mult = np.ones((h, n))
    api_mult[1:] = np.exp(np.cumsum(log_cuts, axis=0))
    api_mult *= np.exp(s["api_annual_drift"] * tau)[:, None]

    # GPU prices: OU in logs around the declining trend.
    k = s["gpu_reversion_per_year"]
    vol = s["gpu_volatility"]
    decay = math.exp(-k * DT)
    scale = vol * math.sqrt((1.0 - math.exp(-2.0 * k * DT)) / (2.0 * k))
    variance = vol * vol * (1.0 - np.exp(-2.0 * k * tau)) / (2.0 * k)
    level = math.log(1.0 - s["gpu_annual_decline"]) * tau - variance / 2.0
    shocks = rng.standard_normal((h - 1, n))
    ou = np.zeros((h, n))
    for t in range(1, h):
        ou[t] = ou[t - 1] * decay + scale * shocks[t - 1]
    gpu = np.exp(level[:, None] + ou)

    # Failures on the nominal fleet of 64.
    hazard = (1.0 - (1.0 - s["annual_failure_rate"]) ** DT) * 64.0
    failures = np.zeros((h, n))
    failures[1:] = poisson(rng, hazard, (h - 1, n)) / 64.0

    # The monthly model, a month at a time over every path.
    days, hours = w["days_per_month"], sh["hours_per_month"]
    rps, tp = sh["replica_requests_per_s"], sh["tensor_parallel"]
    qf, tu, pta = sh["quality_factor"], sh["target_utilization"], w["peak_to_average"]
    cached, batch = w["cached_input_fraction"], w["batch_fraction"]
    months, lot, lead = o["depreciation_months"], o["lot_gpus"], o["lead_time_months"]
    growth_step = (1.0 + w["annual_growth"]) ** (1.0 / 12.0)

    def api_cost(t, rpd):
        per_input = (1.0 - cached) * rates["input"][t] + cached * rates["cached_input"][t]
        tokens_in = days * rpd * w["input_tokens"]
        tokens_out = days * rpd * w["output_tokens"]
        listed = (tokens_in * per_input + tokens_out * rates["output"][t]) / 1e6 * api_mult[t]
        return listed * (1.0 - batch * rates["batch_discount"][t])

    held = np.zeros(n)
    depreciation = np.zeros(n)
    book = np.zeros(n)
    live = np.zeros(n)
    expiring = np.zeros((h, n))
    expires = np.zeros((h, n))
    capex_paid = np.zeros((h, n))
    api = np.zeros((h, n))
    pnl = np.zeros((h, n))
    cash = np.zeros((h, n))
    utilization = np.zeros((h, n))
    growth = 1.0
    for t in range(h):
        if t > 0:
            growth *= growth_step
        requests = w["requests_per_day"] * growth * demand[t]
        api[t] = api_cost(t, requests)
        served = requests * qf
        needed = np.ceil(np.minimum(served / 86_400.0 * pta / (rps * tu), MAX_REPLICAS))
        replicas = np.where(served > 0, np.maximum(needed, sh["min_replicas"]), 0.0)
        short = replicas * tp - held
        added = np.where(short > 0, np.ceil(short / lot) * lot, 0.0)
        pay = max(t + 1 - lead, 1) - 1
        capex = added * o["capex_per_gpu"] * gpu[pay]
        if t + months < h:
            expiring[t + months] = capex / months
            expires[t + months] = short > 0
        live += short > 0
        depreciation += capex / months
        book += capex
        held += added
        capex_paid[pay] += capex
        cost_of_capital = o["cost_of_capital"] / 12.0 * book
        depreciation -= expiring[t]
        live -= expires[t]
        depreciation = np.where(live == 0, 0.0, depreciation)
        book -= depreciation
        power = held * o["kw_at_load_per_gpu"] * hours * o["power_usd_per_kwh"]
        colocation = held * o["kw_provisioned_per_gpu"] * o["colocation_usd_per_kw_month"]
        staff = o["staff_usd_per_month"] + o["staff_usd_per_gpu_month"] * held
        replacements = held * failures[t] * o["capex_per_gpu"] * gpu[t]
        resale = o["resale_fraction"] * np.maximum(book, 0.0) if t + 1 == h else 0.0
        left = np.maximum(requests - served / qf, 0.0)
        residual = np.where(left > 0, api_cost(t, left), 0.0)
        running = power + colocation + staff + replacements
        pnl[t] = depreciation + cost_of_capital + running + residual
        cash[t] = running - resale + residual
        capacity = replicas * rps * 86_400.0
        busy = served / np.where(capacity > 0, capacity, 1.0)
        utilization[t] = np.where(capacity > 0, np.minimum(busy, 1.0), 0.0)
    cash += capex_paid

    # Statistics.
    cumulative_api = np.cumsum(api, axis=0)
    cumulative_sh = np.cumsum(pnl, axis=0)
    series = [api, pnl, cumulative_api, cumulative_sh, cumulative_api - cumulative_sh]
    totals.paths += n
    for k, values in enumerate(series):
        totals.sums[k] += values.sum(axis=1)
        totals.squares[k] += (values * values).sum(axis=1)
        keys = (bucket_keys(values) + (np.arange(h) * BUCKETS)[:, None]).ravel()
        totals.histograms[k] += np.bincount(keys, minlength=h * BUCKETS).reshape(h, BUCKETS)
    behind = cumulative_sh > cumulative_api
    after_last_loss = np.where(behind.any(axis=0), h - np.argmax(behind[::-1], axis=0), 0)
    totals.break_even_at += np.bincount(np.minimum(after_last_loss, h), minlength=h + 1)
    totals.cheaper += int((cumulative_sh[-1] <= cumulative_api[-1]).sum())
    totals.utilization += utilization.sum(axis=1)
    monthly = (1.0 + plan["discount_rate"]) ** (1.0 / 12.0) - 1.0
    discount = (1.0 + monthly) ** -np.arange(1, h + 1)
    totals.npv.append(((api - cash) * discount[:, None]).sum(axis=0))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", required=True, help="JSON from breakeven speed --plan-json")
    parser.add_argument("--paths", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with open(args.plan) as f:
        plan = json.load(f)
    if plan["volume_discounts"]:
        raise SystemExit("the baseline does not implement volume discounts")
    h = plan["horizon_months"]

    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    totals = Totals(h)
    done = 0
    while done < args.paths:
        n = min(args.chunk, args.paths - done)
        simulate_chunk(plan, n, rng, totals)
        done += n
    npv = np.concatenate(totals.npv)
    n = totals.paths
    means = totals.sums / n
    std_errors = np.sqrt(np.maximum(totals.squares / n - means * means, 0.0) / (n - 1))
    levels = (0.05, 0.25, 0.5, 0.75, 0.95)
    percentiles = [
        [[quantile(totals.histograms[k, t], q) for q in levels] for k in range(SERIES)]
        for t in range(h)
    ]
    p_break_even_by = np.cumsum(totals.break_even_at[:h]) / n
    npv_percentiles = np.percentile(npv, [5, 25, 50, 75, 95])
    wall = time.perf_counter() - start

    print(f"NumPy {np.__version__} baseline, {args.paths} paths x {h} months: {wall:.2f} s "
          f"({args.paths * h / wall / 1e6:.2f} M path-months/s)")
    print(f"(median NPV of savings {npv_percentiles[2]:.0f} USD, "
          f"P(self-hosting cheaper) {totals.cheaper / n:.3f}, "
          f"P(break-even by month {h}) {p_break_even_by[-1]:.3f}, "
          f"utilisation in month {h} {totals.utilization[-1] / n:.3f})")
    print(f"(means over {h} months, ± one standard error: "
          f"API {means[2, -1]:.0f} ± {std_errors[2, -1]:.0f} USD, "
          f"self-hosting {means[3, -1]:.0f} ± {std_errors[3, -1]:.0f} USD, "
          f"NPV of savings {npv.mean():.0f} ± {npv.std(ddof=1) / math.sqrt(n):.0f} USD)")
    print(f"(month {h} percentiles of cumulative savings, P5..P95: "
          + ", ".join(f"{v:.0f}" for v in percentiles[-1][4]) + ")")


if __name__ == "__main__":
    main()
