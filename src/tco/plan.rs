//! A scenario resolved against the catalogue and the estimator once, so
//! that the monthly model ([`super::project`]) does arithmetic only.

use crate::catalog::{ApiPrice, Catalog, Gpu, Precision, UsdFigure};
use crate::error::{Error, FieldViolation, Result};
use crate::estimator::{self, Calibration, Estimate, Query, Targets, Workload, memory};

use super::load_shape::LoadShape;
use super::scenario::{
    DaysPerMonth, Default_, Deployment, FineTune, Routing, Scenario, VolumeDiscount, defaults,
};

/// API rates in force in one month, $ per million tokens, before the
/// scenario's expected decline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ApiRates {
    pub input: f64,
    pub cached_input: f64,
    /// Input tokens written to the prompt cache (the input rate where the
    /// catalogue lists no cache-write rate).
    pub cache_write: f64,
    pub output: f64,
    /// Share of the bill the batch API saves on eligible traffic.
    pub batch_discount: f64,
}

impl ApiRates {
    /// The rates of a catalogue entry for prompts of `input_tokens`: the
    /// highest long-context tier the prompt exceeds applies.
    pub fn of(price: &ApiPrice, input_tokens: f64) -> ApiRates {
        let tier = price
            .long_context
            .iter()
            .rfind(|t| input_tokens > f64::from(t.above_input_tokens));
        let (input, output, cached) = match tier {
            Some(t) => (
                t.input_usd_per_mtok,
                t.output_usd_per_mtok,
                t.cached_input_usd_per_mtok,
            ),
            None => (
                price.input_usd_per_mtok,
                price.output_usd_per_mtok,
                price.cached_input_usd_per_mtok,
            ),
        };
        let batch_discount = price
            .batch_input_usd_per_mtok
            .map(|b| (1.0 - b / price.input_usd_per_mtok).clamp(0.0, 1.0))
            .unwrap_or(0.0);
        ApiRates {
            input,
            cached_input: cached.unwrap_or(input),
            // Providers quote one cache-write rate, whatever the tier.
            cache_write: price.cache_write_usd_per_mtok.unwrap_or(input),
            output,
            batch_discount,
        }
    }
}

/// The days and hours of one month.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MonthHours {
    /// Days in the billing month.
    pub days: f64,
    /// Days the service runs and traffic arrives.
    pub operating_days: f64,
    /// Hours in the billing month (rentals, colocation, idle power).
    pub hours: f64,
    /// Operating hours.
    pub operating_hours: f64,
}

/// The traffic of a scenario with every default filled in: what the
/// monthly model reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Traffic {
    /// Requests per operating day in month 1.
    pub requests_per_day: f64,
    /// Mean prompt and generated tokens per request (API tokenizer).
    pub input_tokens: f64,
    pub output_tokens: f64,
    pub cached_input_fraction: f64,
    pub cache_write_fraction: f64,
    pub batch_fraction: f64,
    /// Peak request rate over the average of operating hours.
    pub peak_to_average: f64,
    /// How a day's requests spread over its hours.
    pub load_shape: LoadShape,
    /// Whether the scenario gave the shape (else it follows
    /// `peak_to_average`: [`Traffic::set_peak_to_average`]).
    pub load_shape_given: bool,
    /// Days in a billing month (rentals, and idle power, run all of them).
    pub days_per_month: f64,
    pub annual_growth: f64,
    /// Days a month the service runs and traffic arrives.
    pub operating_days: f64,
    /// Seconds a day the service runs: 86,400 without a duty cycle.
    pub operating_seconds_per_day: f64,
}

impl Traffic {
    /// Sets the peak-to-average ratio, and the day's shape with it unless
    /// the scenario gave the shape.
    pub fn set_peak_to_average(&mut self, peak: f64) {
        self.peak_to_average = peak;
        if !self.load_shape_given {
            self.load_shape = LoadShape::from_peak(peak);
        }
    }
}

/// Self-host sizing inputs with every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Sizing {
    pub target_utilization: f64,
    pub min_replicas: u32,
    pub tokenizer_ratio: f64,
    pub quality_factor: f64,
}

/// Where a value the computation used came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// Given in the scenario.
    Scenario,
    /// A catalogue entry: its id and the figure's source and date.
    Catalogue { entry: String, source: String },
    /// A built-in default, with its source or reason.
    Default { reason: String },
    /// Worked out from other inputs (the throughput estimate, a layout).
    Derived { how: String },
}

/// One value a computation used, and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Assumption {
    /// Scenario field path, e.g. "self_host.deployment.owned.pue".
    pub field: String,
    pub value: String,
    pub origin: Origin,
}

impl Assumption {
    /// Whether the value was not typed by the user.
    pub fn is_default(&self) -> bool {
        !matches!(self.origin, Origin::Scenario)
    }
}

/// The owned deployment with catalogue defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedCosts {
    /// Purchase plus server cost per GPU, USD.
    pub capex_per_gpu: f64,
    pub depreciation_months: u32,
    pub cost_of_capital: f64,
    pub resale_fraction: f64,
    /// kW drawn per GPU at load, PUE included.
    pub kw_at_load_per_gpu: f64,
    /// kW drawn per GPU outside operating hours, PUE included.
    pub kw_idle_per_gpu: f64,
    pub power_usd_per_kwh: f64,
    /// Provisioned kW per GPU (TDP plus host), billed by colocation.
    pub kw_provisioned_per_gpu: f64,
    pub colocation_usd_per_kw_month: f64,
    pub staff_usd_per_month: f64,
    pub staff_usd_per_gpu_month: f64,
    pub lead_time_months: u32,
    pub lot_gpus: u32,
    /// Purchases due before month 1 are paid in month 0 (before the
    /// horizon) rather than in month 1.
    pub purchase_in_month_0: bool,
    /// The opening fleet serves from month 1 whatever the lead time.
    pub installed_at_start: bool,
    /// Keep the fleet at the horizon (book value carried) rather than
    /// sell it.
    pub keep_at_horizon: bool,
    /// Replace a cohort at the end of its depreciation life rather than
    /// run it on at zero book value.
    pub replace_at_end_of_life: bool,
}

/// How self-hosted GPUs are paid for, resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum Costs {
    Rented {
        usd_per_gpu_hour: f64,
        annual_decline: f64,
    },
    Owned(OwnedCosts),
}

/// A validated scenario with everything looked up.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The scenario as given.
    pub scenario: Scenario,
    /// Its traffic and sizing with the defaults filled in.
    pub traffic: Traffic,
    pub sizing: Sizing,
    pub discount_rate: f64,
    /// Tax rate on profits, for the after-tax investment figures.
    pub tax_rate: f64,
    pub api_annual_price_decline: f64,
    pub horizon: usize,
    /// Hours in a billing month.
    pub hours_per_month: f64,
    /// Each month's days and hours (index t−1): all the same, or each
    /// month's calendar days with `days_per_month = "calendar"`.
    pub month_hours: Vec<MonthHours>,
    /// Hours a month the service runs.
    pub operating_hours_per_month: f64,
    /// API rates for each month (index t−1), at catalogue prices in force
    /// on the first day, times the expected decline.
    pub api_rates: Vec<ApiRates>,
    /// The catalogue entries behind `api_rates`, one per distinct entry.
    pub api_prices: Vec<ApiPrice>,
    pub volume_discounts: Vec<VolumeDiscount>,
    pub fine_tune: Option<FineTune>,
    /// The throughput estimate for one replica on the open model's tokens
    /// (its rates replaced by the scenario's throughput override if any).
    pub estimate: Estimate,
    /// The estimator query behind `estimate`, for sweeps and curves of the
    /// same configuration.
    pub query: Query,
    pub gpu: Gpu,
    pub tensor_parallel: u32,
    /// Requests per second one replica sustains within the targets.
    pub replica_requests_per_s: f64,
    pub costs: Costs,
    pub routing: Routing,
    /// Every value the computation uses, with where it came from.
    pub assumptions: Vec<Assumption>,
    /// Things the user should know about the answer (idle GPUs, a fixed
    /// fleet below the minimum replicas).
    pub warnings: Vec<String>,
}

/// Fills unset fields, recording each value used and where it came from;
/// with `defaults = "none"` an unset field is an error instead.
struct Resolver<'a> {
    prefix: &'a str,
    none: bool,
    assumptions: Vec<Assumption>,
    missing: Vec<FieldViolation>,
}

impl Resolver<'_> {
    fn note(&mut self, field: &str, value: impl std::fmt::Display, origin: Origin) {
        self.assumptions.push(Assumption {
            field: field.to_string(),
            value: value.to_string(),
            origin,
        });
    }

    fn require(&mut self, field: &str) {
        self.missing.push(FieldViolation::new(
            format!("{}{field}", self.prefix),
            "is required when defaults = \"none\"",
        ));
    }

    /// The given value, or the built-in default.
    fn take<T: Copy + std::fmt::Display>(
        &mut self,
        field: &str,
        given: Option<T>,
        default: Default_<T>,
    ) -> T {
        match given {
            Some(v) => {
                self.note(field, v, Origin::Scenario);
                v
            }
            None => {
                if self.none {
                    self.require(field);
                }
                self.note(
                    field,
                    default.value,
                    Origin::Default {
                        reason: default.reason.to_string(),
                    },
                );
                default.value
            }
        }
    }

    /// The given value, or a catalogue figure.
    fn catalogue(
        &mut self,
        field: &str,
        given: Option<f64>,
        entry: &str,
        figure: Option<&UsdFigure>,
    ) -> f64 {
        match (given, figure) {
            (Some(v), _) => {
                self.note(field, v, Origin::Scenario);
                v
            }
            (None, Some(f)) => {
                if self.none {
                    self.require(field);
                }
                let p = &f.provenance;
                let mut source = format!("{} ({})", p.source, p.as_of);
                if p.assumption {
                    source.push_str("; assumption");
                }
                self.note(
                    field,
                    f.usd,
                    Origin::Catalogue {
                        entry: entry.to_string(),
                        source,
                    },
                );
                f.usd
            }
            (None, None) => {
                self.missing.push(FieldViolation::new(
                    format!("{}{field}", self.prefix),
                    format!("is required: the catalogue entry {entry:?} has no such figure"),
                ));
                0.0
            }
        }
    }

    fn finish(self) -> Result<Vec<Assumption>> {
        if self.missing.is_empty() {
            Ok(self.assumptions)
        } else {
            Err(Error::InvalidArgument(self.missing))
        }
    }
}

/// A request of this many tokens stands in for the request shape when
/// the workload is given only as token volumes.
const NOMINAL_REQUEST_TOKENS: f64 = 1000.0;

/// Validates `scenario` and resolves it. `prefix` goes before field paths
/// in errors (e.g. "scenario.").
pub fn plan(
    catalog: &Catalog,
    scenario: &Scenario,
    calibration: &Calibration,
    prefix: &str,
) -> Result<Plan> {
    scenario.validate(catalog, prefix)?;
    let mut r = Resolver {
        prefix,
        none: scenario.no_defaults(),
        assumptions: Vec::new(),
        missing: Vec::new(),
    };
    let horizon = scenario.horizon_months as usize;
    let w = &scenario.workload;
    let discount_rate = r.take(
        "discount_rate",
        scenario.discount_rate,
        defaults::DISCOUNT_RATE,
    );
    let tax_rate = r.take("tax_rate", scenario.tax_rate, defaults::TAX_RATE);
    let days_rule = r.take(
        "workload.days_per_month",
        w.days_per_month,
        Default_ {
            value: DaysPerMonth::Days(defaults::DAYS_PER_MONTH.value),
            reason: defaults::DAYS_PER_MONTH.reason,
        },
    );
    // Each month's days: the fixed number, or the calendar's.
    let month_days: Vec<f64> = (1..=scenario.horizon_months)
        .map(|t| match days_rule.fixed() {
            Some(d) => Ok(d),
            None => {
                let start = scenario.month_start(t)?;
                let next = scenario.month_start(t + 1)?;
                Ok((next - start).num_days() as f64)
            }
        })
        .collect::<Result<_>>()?;
    let days_per_month = month_days.first().copied().unwrap_or(30.0);
    let (operating_days, hours_per_day) = match &w.duty_cycle {
        Some(d) => {
            r.note(
                "workload.duty_cycle.hours_per_day",
                d.hours_per_day,
                Origin::Scenario,
            );
            r.note(
                "workload.duty_cycle.days_per_month",
                d.days_per_month,
                Origin::Scenario,
            );
            (d.days_per_month, d.hours_per_day)
        }
        None => {
            r.note(
                "workload.duty_cycle",
                "24 h a day, every day",
                Origin::Default {
                    reason: "the service runs around the clock unless a duty cycle is given".into(),
                },
            );
            (days_per_month, 24.0)
        }
    };
    // Requests and their shape: given, or from token volumes.
    let (requests_per_day, input_tokens, output_tokens) = match &w.tokens_per_month {
        None => {
            let rpd = w.requests_per_day.unwrap_or(0.0);
            let (i, o) = (
                w.input_tokens.unwrap_or(1.0),
                w.output_tokens.unwrap_or(1.0),
            );
            r.note("workload.requests_per_day", rpd, Origin::Scenario);
            r.note("workload.input_tokens", i, Origin::Scenario);
            r.note("workload.output_tokens", o, Origin::Scenario);
            (rpd, i, o)
        }
        Some(t) => {
            let (input, output) = match (t.input, t.output, t.total, t.input_share) {
                (Some(i), Some(o), ..) => (i, o),
                (_, _, Some(total), Some(share)) => (total * share, total * (1.0 - share)),
                _ => (0.0, 0.0),
            };
            r.note("workload.tokens_per_month.input", input, Origin::Scenario);
            r.note("workload.tokens_per_month.output", output, Origin::Scenario);
            let share = input / (input + output);
            let (i, o) = match (w.input_tokens, w.output_tokens) {
                (Some(i), Some(o)) => {
                    if ((i / (i + o)) - share).abs() > 0.01 {
                        return Err(Error::invalid(
                            format!("{prefix}workload.input_tokens"),
                            format!(
                                "the request shape {i}:{o} does not match the input share \
                                 {share:.3} of tokens_per_month; give matching sizes or none"
                            ),
                        ));
                    }
                    r.note("workload.input_tokens", i, Origin::Scenario);
                    r.note("workload.output_tokens", o, Origin::Scenario);
                    (i, o)
                }
                _ => {
                    let i = (NOMINAL_REQUEST_TOKENS * share).max(1.0);
                    let o = (NOMINAL_REQUEST_TOKENS * (1.0 - share)).max(1.0);
                    let reason = "only token volumes were given: a request is taken as 1,000 \
                                  tokens in their input:output ratio, which shapes the \
                                  throughput estimate and the API's long-context tier";
                    for (field, v) in [("workload.input_tokens", i), ("workload.output_tokens", o)]
                    {
                        r.note(
                            field,
                            v,
                            Origin::Default {
                                reason: reason.into(),
                            },
                        );
                    }
                    (i, o)
                }
            };
            let rpd = (input + output) / (i + o) / operating_days;
            r.note(
                "workload.requests_per_day",
                rpd,
                Origin::Derived {
                    how: "tokens_per_month over the tokens per request and the operating days"
                        .into(),
                },
            );
            (rpd, i, o)
        }
    };
    // The peak sizes growing fleets; the day's shape decides what a fixed
    // fleet serves. Either follows from the other when only one is given.
    let given_shape = w.load_shape.as_deref().and_then(LoadShape::from_weights);
    let peak_to_average = match (w.peak_to_average, given_shape) {
        (None, Some(shape)) => {
            r.note(
                "workload.peak_to_average",
                shape.peak(),
                Origin::Derived {
                    how: "the busiest hour of workload.load_shape over the average".into(),
                },
            );
            shape.peak()
        }
        _ => r.take(
            "workload.peak_to_average",
            w.peak_to_average,
            defaults::PEAK_TO_AVERAGE,
        ),
    };
    let load_shape = match given_shape {
        Some(shape) => {
            r.note("workload.load_shape", "24 hourly weights", Origin::Scenario);
            shape
        }
        None => {
            // Only a fixed fleet reads the shape; a peak of 1 allows only
            // the flat day.
            if let Routing::Overflow { .. } = scenario.routing {
                if peak_to_average == 1.0 {
                    r.note(
                        "workload.load_shape",
                        "flat",
                        Origin::Derived {
                            how: "a peak of 1 leaves every hour at the average".into(),
                        },
                    );
                } else {
                    if r.none {
                        r.require("workload.load_shape");
                    }
                    r.note(
                        "workload.load_shape",
                        format!("one daily peak at {peak_to_average} times the average"),
                        Origin::Default {
                            reason: "traffic rises linearly to one daily peak at midday and falls \
                                 back towards midnight (an assumption; give 24 hourly weights \
                                 for the real day)"
                                .into(),
                        },
                    );
                }
            }
            LoadShape::from_peak(peak_to_average)
        }
    };
    let traffic = Traffic {
        requests_per_day,
        input_tokens,
        output_tokens,
        cached_input_fraction: r.take(
            "workload.cached_input_fraction",
            w.cached_input_fraction,
            defaults::CACHED_INPUT_FRACTION,
        ),
        cache_write_fraction: r.take(
            "workload.cache_write_fraction",
            w.cache_write_fraction,
            defaults::CACHE_WRITE_FRACTION,
        ),
        batch_fraction: r.take(
            "workload.batch_fraction",
            w.batch_fraction,
            defaults::BATCH_FRACTION,
        ),
        peak_to_average,
        load_shape,
        load_shape_given: w.load_shape.is_some(),
        days_per_month,
        annual_growth: r.take(
            "workload.annual_growth",
            w.annual_growth,
            defaults::ANNUAL_GROWTH,
        ),
        operating_days,
        operating_seconds_per_day: hours_per_day * 3600.0,
    };
    if let Some(ft) = &scenario.api.fine_tune
        && ft.prompt_tokens_saved > traffic.input_tokens
    {
        return Err(Error::invalid(
            format!("{prefix}api.fine_tune.prompt_tokens_saved"),
            format!(
                "must be at most the {} input tokens per request",
                traffic.input_tokens
            ),
        ));
    }
    let api_annual_price_decline = r.take(
        "api.annual_price_decline",
        scenario.api.annual_price_decline,
        defaults::API_ANNUAL_PRICE_DECLINE,
    );

    let mut api_rates = Vec::with_capacity(horizon);
    let mut api_prices: Vec<ApiPrice> = Vec::new();
    for t in 1..=scenario.horizon_months {
        let day = scenario.month_start(t)?;
        let price = catalog
            .prices()
            .in_force(&scenario.api.price_id, day)
            .map_err(|e| match e {
                Error::NotFound(m) => {
                    Error::FailedPrecondition(format!("{prefix}api.price_id: {m}"))
                }
                other => other,
            })?;
        if api_prices
            .last()
            .is_none_or(|p| p.effective_date != price.effective_date)
        {
            api_prices.push(price.clone());
        }
        let decline = (1.0 - api_annual_price_decline).powf(f64::from(t - 1) / 12.0);
        let rates = ApiRates::of(price, traffic.input_tokens);
        api_rates.push(ApiRates {
            input: rates.input * decline,
            cached_input: rates.cached_input * decline,
            cache_write: rates.cache_write * decline,
            output: rates.output * decline,
            batch_discount: rates.batch_discount,
        });
    }
    for p in &api_prices {
        r.note(
            "api.price",
            format!(
                "${}/M input, ${}/M output from {}",
                p.input_usd_per_mtok, p.output_usd_per_mtok, p.effective_date
            ),
            Origin::Catalogue {
                entry: p.id.clone(),
                source: format!("{} ({})", p.provenance.source, p.provenance.as_of),
            },
        );
    }

    let s = &scenario.self_host;
    let gpu = catalog.gpu(&s.gpu)?.clone();
    let sizing = Sizing {
        target_utilization: r.take(
            "self_host.target_utilization",
            s.target_utilization,
            defaults::TARGET_UTILIZATION,
        ),
        min_replicas: r.take(
            "self_host.min_replicas",
            s.min_replicas,
            defaults::MIN_REPLICAS,
        ),
        tokenizer_ratio: r.take(
            "self_host.tokenizer_ratio",
            s.tokenizer_ratio,
            defaults::TOKENIZER_RATIO,
        ),
        quality_factor: r.take(
            "self_host.quality_factor",
            s.quality_factor,
            defaults::QUALITY_FACTOR,
        ),
    };
    let precision = match &s.precision {
        Some(p) => {
            r.note("self_host.precision", p, Origin::Scenario);
            p.clone()
        }
        None => r
            .take("self_host.precision", None, defaults::PRECISION)
            .to_string(),
    };
    let weights = Precision::parse(&precision).unwrap_or(Precision::Bf16);
    let kv = Precision::parse(&s.kv_precision).unwrap_or(match weights {
        Precision::Fp8 | Precision::Fp4 => Precision::Fp8,
        _ => Precision::Bf16,
    });
    // The open model sees the same text as more or fewer tokens.
    let tokens = |n: f64| {
        (n * sizing.tokenizer_ratio)
            .round()
            .clamp(1.0, f64::from(u32::MAX)) as u32
    };
    let limit = |v: f64| (v > 0.0).then_some(v);
    let mut query = Query {
        model: s.model.clone(),
        gpu: s.gpu.clone(),
        weight_precision: weights,
        kv_precision: kv,
        tensor_parallel: s.tensor_parallel,
        layout: None,
        workload: Workload {
            input_tokens: tokens(traffic.input_tokens),
            output_tokens: tokens(traffic.output_tokens),
            concurrency: 0,
        },
        targets: Targets {
            ttft_s: limit(s.ttft_seconds),
            tpot_s: limit(s.tpot_seconds),
        },
    };
    if s.kv_precision.is_empty() && r.none {
        r.require("self_host.kv_precision");
    }
    r.note(
        "self_host.kv_precision",
        kv.name(),
        if s.kv_precision.is_empty() {
            Origin::Default {
                reason: "fp8 with fp8 or fp4 weights, bf16 otherwise (the serving engines' \
                         usual pairing)"
                    .into(),
            }
        } else {
            Origin::Scenario
        },
    );
    r.note(
        "routing",
        match scenario.routing {
            Routing::AllSelfHosted => "all traffic self-hosted".to_string(),
            Routing::Fraction { self_hosted } => format!("{self_hosted} self-hosted"),
            Routing::Overflow { gpus } => {
                format!("a fixed fleet of {gpus} GPUs, the rest on the API")
            }
        },
        if scenario.routing == Routing::AllSelfHosted {
            Origin::Default {
                reason: "everything self-hosted unless a routing is given".into(),
            }
        } else {
            Origin::Scenario
        },
    );
    let estimate_with = |query: &Query| {
        estimator::estimate(catalog, query, calibration)
            .map_err(|e| prefix_error(e, &format!("{prefix}self_host.")))
    };
    let mut estimate = estimate_with(&query)?;
    let mut warnings = price_warnings(&api_prices, &traffic);

    // A fixed fleet is laid out as replicas × tensor-parallel groups: when
    // the smallest group that fits leaves GPUs over, a larger group the
    // interconnect allows may use them all (6 GPUs as 2 × TP3).
    if let Routing::Overflow { gpus } = scenario.routing {
        let model = catalog.model(&s.model)?;
        if s.tensor_parallel == 0 && !gpus.is_multiple_of(estimate.tensor_parallel) {
            let better = (estimate.tensor_parallel + 1..=gpus.min(gpu.gpus_per_node))
                .filter(|&tp| gpus.is_multiple_of(tp) && memory::tp_allowed(model, &gpu, tp))
                .find_map(|tp| {
                    let q = Query {
                        tensor_parallel: tp,
                        ..query.clone()
                    };
                    estimate_with(&q).ok().map(|e| (q, e))
                });
            if let Some((q, e)) = better {
                query = q;
                estimate = e;
            }
        }
        let tp = estimate.tensor_parallel;
        let replicas = gpus / tp;
        if replicas == 0 {
            return Err(Error::FailedPrecondition(format!(
                "{prefix}routing.overflow.gpus: {gpus} GPUs cannot form one replica of {} \
                 on {} at tensor-parallel {tp}",
                s.model, s.gpu
            )));
        }
        let idle = gpus - replicas * tp;
        if idle > 0 {
            warnings.push(format!(
                "routing.overflow.gpus: {gpus} GPUs make {replicas} replicas at \
                 tensor-parallel {tp}; {idle} GPUs are paid for and idle"
            ));
        }
        if replicas < sizing.min_replicas {
            warnings.push(format!(
                "self_host.min_replicas: the fixed fleet makes {replicas} replicas, fewer \
                 than the minimum of {}; the fleet's {replicas} are used",
                sizing.min_replicas
            ));
        }
        r.note(
            "self_host.layout",
            format!(
                "{replicas} replica{} × TP{tp}",
                if replicas == 1 { "" } else { "s" }
            ),
            Origin::Derived {
                how: if s.tensor_parallel == 0 {
                    "the smallest tensor-parallel group that fits and uses the fleet".into()
                } else {
                    "the fleet over the given tensor-parallel degree".into()
                },
            },
        );
    } else {
        r.note(
            "self_host.tensor_parallel",
            estimate.tensor_parallel,
            if s.tensor_parallel == 0 {
                Origin::Derived {
                    how: "the smallest power-of-two group that fits the model and a sequence"
                        .into(),
                }
            } else {
                Origin::Scenario
            },
        );
    }

    match &s.throughput_override {
        Some(o) => {
            let tp = f64::from(estimate.tensor_parallel);
            let output_per_request = traffic.output_tokens * sizing.tokenizer_ratio;
            let (rps, per_gpu) = match (
                o.output_tokens_per_second_per_gpu,
                o.requests_per_second_per_replica,
            ) {
                (Some(t), _) => (t * tp / output_per_request, t),
                (None, Some(rps)) => (rps, rps * output_per_request / tp),
                (None, None) => (0.0, 0.0),
            };
            let scale = if estimate.output_tokens_per_second_per_gpu > 0.0 {
                per_gpu / estimate.output_tokens_per_second_per_gpu
            } else {
                0.0
            };
            estimate.requests_per_second_per_replica = rps;
            estimate.output_tokens_per_second_per_gpu = per_gpu;
            estimate.total_tokens_per_second_per_gpu *= scale;
            estimate.decode_tokens_per_s *= scale;
            estimate.expected_error = o.expected_error.unwrap_or(0.0);
            estimate.calibration = "throughput_override".into();
            // The user's measurement holds at its own latency.
            estimate.meets_targets = true;
            r.note(
                "self_host.throughput_override",
                format!("{per_gpu} output tokens/s per GPU, {rps} requests/s per replica"),
                Origin::Scenario,
            );
        }
        None => {
            if !estimate.meets_targets {
                return Err(Error::FailedPrecondition(format!(
                    "{prefix}self_host: {} on {} cannot meet the latency targets even one \
                     request at a time (TTFT {:.3} s, TPOT {:.4} s)",
                    s.model, s.gpu, estimate.ttft_s, estimate.tpot_s
                )));
            }
            // The latency limits shape the estimate (an override is the
            // user's measurement at its own latency, so they do not apply).
            for (field, limit) in [
                ("self_host.ttft_seconds", s.ttft_seconds),
                ("self_host.tpot_seconds", s.tpot_seconds),
            ] {
                if limit > 0.0 {
                    r.note(field, limit, Origin::Scenario);
                } else {
                    r.note(
                        field,
                        "none",
                        Origin::Default {
                            reason: "no latency limit when 0 or unset: throughput at the best \
                                     batch"
                                .into(),
                        },
                    );
                }
            }
            let e = &gpu.efficiency;
            r.note(
                "self_host.gpu.efficiency",
                format!(
                    "{} of memory bandwidth, {} of compute",
                    e.memory_bandwidth, e.compute
                ),
                Origin::Catalogue {
                    entry: gpu.id.clone(),
                    source: format!("{} ({})", e.provenance.source, e.provenance.as_of),
                },
            );
            r.note(
                "self_host.throughput",
                format!(
                    "{:.1} output tokens/s per GPU, {:.3} requests/s per replica (±{:.0}%)",
                    estimate.output_tokens_per_second_per_gpu,
                    estimate.requests_per_second_per_replica,
                    estimate.expected_error * 100.0
                ),
                Origin::Derived {
                    how: format!(
                        "the estimator (rooflines, continuous batching), calibration {:?}",
                        estimate.calibration
                    ),
                },
            );
        }
    }

    let costs = match &s.deployment {
        Deployment::Rented(d) => {
            let at = |f: &str| format!("self_host.deployment.rented.{f}");
            let rate = match (d.rate.as_deref(), d.usd_per_gpu_hour) {
                (_, Some(usd)) => {
                    r.note(&at("usd_per_gpu_hour"), usd, Origin::Scenario);
                    usd
                }
                (rate, None) => {
                    let rate = match rate {
                        Some(named) => {
                            r.note(&at("rate"), named, Origin::Scenario);
                            named
                        }
                        None => r.take(&at("rate"), None, defaults::RATE),
                    };
                    let figure = if rate == "reserved" {
                        gpu.rental_reserved_1y_per_gpu_hour.as_ref()
                    } else {
                        gpu.rental_on_demand_per_gpu_hour.as_ref()
                    };
                    // A catalogue rate is a catalogue value: with
                    // defaults = "none" the rate must be given in dollars.
                    r.catalogue(&at("usd_per_gpu_hour"), None, &gpu.id, figure)
                }
            };
            Costs::Rented {
                usd_per_gpu_hour: rate,
                annual_decline: r.take(
                    &at("annual_price_decline"),
                    d.annual_price_decline,
                    defaults::RENTAL_PRICE_DECLINE,
                ),
            }
        }
        Deployment::Owned(o) => {
            let at = |f: &str| format!("self_host.deployment.owned.{f}");
            let purchase = r.catalogue(
                &at("purchase_usd_per_gpu"),
                o.purchase_usd_per_gpu,
                &gpu.id,
                Some(&gpu.purchase_per_gpu),
            );
            let server = match (o.server_usd_per_gpu, gpu.server_per_gpu.as_ref()) {
                (None, None) => r.take(
                    &at("server_usd_per_gpu"),
                    None,
                    Default_ {
                        value: 0.0,
                        reason: "the catalogue entry gives no server cost (the purchase price \
                                 covers the system)",
                    },
                ),
                (given, figure) => r.catalogue(&at("server_usd_per_gpu"), given, &gpu.id, figure),
            };
            let pue = r.take(&at("pue"), o.pue, defaults::PUE);
            let tdp_kw = gpu.tdp_w / 1000.0;
            let (kw_at_load, host_kw) = match o.watts_per_gpu {
                Some(watts) => {
                    r.note(&at("watts_per_gpu"), watts, Origin::Scenario);
                    // Provisioned power is still the nameplate: TDP plus
                    // the default host share.
                    (watts / 1000.0, defaults::HOST_WATTS_PER_GPU.value / 1000.0)
                }
                None => {
                    let load = r.take(
                        &at("load_fraction"),
                        o.load_fraction,
                        defaults::LOAD_FRACTION,
                    );
                    let host = r.take(
                        &at("host_watts_per_gpu"),
                        o.host_watts_per_gpu,
                        defaults::HOST_WATTS_PER_GPU,
                    ) / 1000.0;
                    (tdp_kw * load + host, host)
                }
            };
            r.note(
                "self_host.gpu.tdp_w",
                gpu.tdp_w,
                Origin::Catalogue {
                    entry: gpu.id.clone(),
                    source: format!(
                        "{} ({})",
                        gpu.specs_provenance.source, gpu.specs_provenance.as_of
                    ),
                },
            );
            r.note(
                "self_host.deployment.owned.provisioned_watts_per_gpu",
                (tdp_kw + host_kw) * 1000.0,
                Origin::Derived {
                    how: if o.watts_per_gpu.is_some() {
                        format!(
                            "TDP plus the default host share ({} W): colocation bills \
                             provisioned power, not the draw at load",
                            defaults::HOST_WATTS_PER_GPU.value
                        )
                    } else {
                        "TDP plus host watts, billed by colocation".into()
                    },
                },
            );
            let idle_kw = if operating_days * hours_per_day < days_per_month * 24.0 {
                match o.idle_watts_per_gpu {
                    Some(w) => {
                        r.note(&at("idle_watts_per_gpu"), w, Origin::Scenario);
                        w / 1000.0
                    }
                    None => {
                        if r.none {
                            r.require(&at("idle_watts_per_gpu"));
                        }
                        let d = defaults::IDLE_FRACTION_OF_TDP;
                        let watts = gpu.tdp_w * d.value + host_kw * 1000.0;
                        r.note(
                            &at("idle_watts_per_gpu"),
                            watts,
                            Origin::Default {
                                reason: format!("{} of TDP plus host: {}", d.value, d.reason),
                            },
                        );
                        watts / 1000.0
                    }
                }
            } else {
                0.0
            };
            let lot_default = Default_ {
                value: gpu.gpus_per_node,
                reason: "one node of the GPU's catalogue entry at a time",
            };
            let lot = r.take(&at("lot_gpus"), o.lot_gpus, lot_default);
            if !lot.is_multiple_of(estimate.tensor_parallel)
                && !matches!(scenario.routing, Routing::Overflow { .. })
            {
                warnings.push(format!(
                    "self_host.deployment.owned.lot_gpus: lots of {lot} GPUs do not divide into \
                     tensor-parallel groups of {}; some GPUs bought stay idle",
                    estimate.tensor_parallel
                ));
            }
            Costs::Owned(OwnedCosts {
                capex_per_gpu: purchase + server,
                depreciation_months: r.take(
                    &at("depreciation_months"),
                    o.depreciation_months,
                    defaults::DEPRECIATION_MONTHS,
                ),
                cost_of_capital: r.take(
                    &at("cost_of_capital"),
                    o.cost_of_capital,
                    defaults::COST_OF_CAPITAL,
                ),
                resale_fraction: r.take(
                    &at("resale_fraction"),
                    o.resale_fraction,
                    defaults::RESALE_FRACTION,
                ),
                kw_at_load_per_gpu: kw_at_load * pue,
                kw_idle_per_gpu: idle_kw * pue,
                power_usd_per_kwh: r.take(
                    &at("power_usd_per_kwh"),
                    o.power_usd_per_kwh,
                    defaults::POWER_USD_PER_KWH,
                ),
                kw_provisioned_per_gpu: tdp_kw + host_kw,
                colocation_usd_per_kw_month: r.take(
                    &at("colocation_usd_per_kw_month"),
                    o.colocation_usd_per_kw_month,
                    defaults::COLOCATION_USD_PER_KW_MONTH,
                ),
                staff_usd_per_month: r.take(
                    &at("staff_usd_per_month"),
                    o.staff_usd_per_month,
                    defaults::STAFF,
                ),
                staff_usd_per_gpu_month: r.take(
                    &at("staff_usd_per_gpu_month"),
                    o.staff_usd_per_gpu_month,
                    defaults::STAFF,
                ),
                lead_time_months: r.take(
                    &at("lead_time_months"),
                    o.lead_time_months,
                    defaults::LEAD_TIME_MONTHS,
                ),
                lot_gpus: lot,
                purchase_in_month_0: r.take(
                    &at("purchase_in_month_0"),
                    o.purchase_in_month_0,
                    defaults::PURCHASE_IN_MONTH_0,
                ),
                installed_at_start: r.take(
                    &at("installed_at_start"),
                    o.installed_at_start,
                    defaults::INSTALLED_AT_START,
                ),
                // Validated: one of the two words.
                keep_at_horizon: r.take(
                    &at("terminal"),
                    o.terminal
                        .as_deref()
                        .map(|t| if t == "keep" { "keep" } else { "resale" }),
                    defaults::TERMINAL,
                ) == "keep",
                replace_at_end_of_life: r.take(
                    &at("end_of_life"),
                    o.end_of_life
                        .as_deref()
                        .map(|e| if e == "keep" { "keep" } else { "replace" }),
                    defaults::END_OF_LIFE,
                ) == "replace",
            })
        }
    };
    let mut costs = costs;
    if matches!(scenario.routing, Routing::Fraction { self_hosted } if self_hosted == 0.0) {
        // No self-hosted work: no fleet, and no one to run it.
        if let Costs::Owned(o) = &mut costs {
            o.staff_usd_per_month = 0.0;
        }
        warnings.push(
            "routing.fraction.self_hosted: 0 sends nothing to the open model, so the self-host \
             option holds no GPUs and pays no staff: it is identical to the API"
                .to_string(),
        );
    }
    let assumptions = r.finish()?;

    Ok(Plan {
        query,
        horizon,
        hours_per_month: traffic.days_per_month * 24.0,
        operating_hours_per_month: traffic.operating_days * hours_per_day,
        month_hours: month_days
            .iter()
            .map(|&d| {
                // Operating days: the duty cycle's, or every day.
                let operating = if w.duty_cycle.is_some() {
                    traffic.operating_days
                } else {
                    d
                };
                MonthHours {
                    days: d,
                    operating_days: operating,
                    hours: d * 24.0,
                    operating_hours: operating * hours_per_day,
                }
            })
            .collect(),
        api_rates,
        api_prices,
        volume_discounts: scenario.api.volume_discounts.clone(),
        fine_tune: scenario.api.fine_tune,
        replica_requests_per_s: estimate.requests_per_second_per_replica,
        tensor_parallel: estimate.tensor_parallel,
        estimate,
        gpu,
        costs,
        routing: scenario.routing,
        scenario: scenario.clone(),
        traffic,
        sizing,
        discount_rate,
        tax_rate,
        api_annual_price_decline,
        assumptions,
        warnings,
    })
}

/// What the scenario asks of the prices that the catalogue cannot price:
/// each names the workload field and the price entry.
fn price_warnings(prices: &[ApiPrice], traffic: &Traffic) -> Vec<String> {
    let mut out = Vec::new();
    for p in prices {
        let entry = format!("{}@{}", p.id, p.effective_date);
        if traffic.batch_fraction > 0.0 && p.batch_input_usd_per_mtok.is_none() {
            out.push(format!(
                "workload.batch_fraction: price {entry} has no batch rate, so batch traffic is \
                 charged at list prices"
            ));
        }
        if traffic.cached_input_fraction > 0.0 {
            let tier = p
                .long_context
                .iter()
                .rfind(|t| traffic.input_tokens > f64::from(t.above_input_tokens));
            let cached = match tier {
                Some(t) => t.cached_input_usd_per_mtok,
                None => p.cached_input_usd_per_mtok,
            };
            if cached.is_none() {
                let which = tier.map_or(String::new(), |t| {
                    format!(" for prompts above {} tokens", t.above_input_tokens)
                });
                out.push(format!(
                    "workload.cached_input_fraction: price {entry} has no cached-input \
                     rate{which}, so cached tokens are charged at the input rate"
                ));
            }
        }
        if traffic.cache_write_fraction > 0.0 && p.cache_write_usd_per_mtok.is_none() {
            out.push(format!(
                "workload.cache_write_fraction: price {entry} lists no cache-write rate, so \
                 tokens written to the cache are charged at the input rate"
            ));
        }
        if p.context_window > 0 && traffic.input_tokens > f64::from(p.context_window) {
            out.push(format!(
                "workload.input_tokens: prompts of {} tokens exceed the {} token context window \
                 of price {entry}, and no long-context rate is known for them",
                traffic.input_tokens, p.context_window
            ));
        }
    }
    out
}

fn prefix_error(err: Error, prefix: &str) -> Error {
    match err {
        Error::InvalidArgument(v) => Error::InvalidArgument(
            v.into_iter()
                .map(|v| {
                    crate::error::FieldViolation::new(format!("{prefix}{}", v.field), v.description)
                })
                .collect(),
        ),
        Error::FailedPrecondition(m) => Error::FailedPrecondition(format!("{prefix}{m}")),
        other => other,
    }
}
