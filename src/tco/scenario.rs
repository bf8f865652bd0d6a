//! The scenario: a workload, the API option and the self-hosting option to
//! compare, over a horizon. Read from TOML files (serde) and from the API;
//! one validation serves both.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, Precision};
use crate::error::{Error, FieldViolation, Result};

use super::load_shape::LoadShape;

/// Everything a projection needs.
///
/// A field that has a default is an `Option`: absent (None) takes the
/// default, which the plan lists among its assumptions; present is taken
/// as given, 0 included, and a value outside its range is an error, never
/// replaced.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A label for reports.
    #[serde(default)]
    pub name: String,
    /// Months to project, 1–240.
    pub horizon_months: u32,
    /// First month, `YYYY-MM`.
    pub start_month: String,
    /// Where unset fields come from: the catalogue and the built-in
    /// defaults, or nowhere (every cost and sizing field required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaults: Option<DefaultsMode>,
    /// Annual rate for discounting cash flows to a net present value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount_rate: Option<f64>,
    /// Tax rate on profits, for the after-tax investment figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_rate: Option<f64>,
    pub workload: WorkloadSpec,
    pub api: ApiOption,
    pub self_host: SelfHostOption,
    #[serde(default)]
    pub routing: Routing,
}

/// Where the values of unset fields come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DefaultsMode {
    /// Catalogue figures and the built-in defaults (the default).
    #[default]
    Catalogue,
    /// None: every cost and sizing field must be given, for reproducing
    /// someone else's numbers.
    None,
}

/// The traffic to serve.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// Requests per (operating) day in the first month; or give
    /// `tokens_per_month`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_day: Option<f64>,
    /// Mean prompt tokens per request (API tokenizer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<f64>,
    /// Mean generated tokens per request (API tokenizer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<f64>,
    /// The first month's traffic as token volumes, instead of
    /// `requests_per_day`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_month: Option<TokensPerMonth>,
    /// Share of input tokens the API serves from its prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input_fraction: Option<f64>,
    /// Share of input tokens written to the API's prompt cache, charged at
    /// the price's cache-write rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_fraction: Option<f64>,
    /// Share of traffic that can go through a batch API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_fraction: Option<f64>,
    /// Peak request rate over the average (over operating hours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_to_average: Option<f64>,
    /// The day's load shape: 24 relative weights, one per hour (per 24th
    /// of the operating hours under a duty cycle), scaled to mean 1. A
    /// fixed (overflow) fleet serves each hour up to its capacity; by
    /// default a linear rise to one daily peak at `peak_to_average`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_shape: Option<Vec<f64>>,
    /// Days in a billing month: a number (28–31), or "calendar" for each
    /// month's actual days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_per_month: Option<DaysPerMonth>,
    /// Compound annual growth of requests, e.g. 1.5 for +150% a year.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annual_growth: Option<f64>,
    /// When the service runs and the traffic arrives; all day, every day
    /// of the billing month when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duty_cycle: Option<DutyCycle>,
}

/// A month's traffic in tokens (API tokenizer): `input` and `output`, or
/// `total` with `input_share`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TokensPerMonth {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<f64>,
    /// Share of `total` that is input, 0–1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_share: Option<f64>,
}

/// Operating hours: the service runs (and traffic arrives) this many
/// hours a day on this many days a month.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DutyCycle {
    /// Hours a day, (0, 24].
    pub hours_per_day: f64,
    /// Operating days a month, (0, days_per_month].
    pub days_per_month: f64,
}

/// Paying an API per token.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ApiOption {
    /// Catalogue price id, e.g. "gpt-4o-mini"; the price in force on the
    /// first day of each month applies.
    pub price_id: String,
    /// Expected further decline of that price per year, 0–1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annual_price_decline: Option<f64>,
    /// Discounts on a month's whole bill once its spend reaches a threshold.
    #[serde(default)]
    pub volume_discounts: Vec<VolumeDiscount>,
    /// Optionally, a fine-tuned variant to compare as well.
    pub fine_tune: Option<FineTune>,
}

/// A volume-discount tier.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeDiscount {
    /// Monthly spend (after caching and batch discounts, before this
    /// discount) from which the discount applies, USD.
    pub monthly_spend_usd: f64,
    /// Discount on the whole month's bill, 0–1.
    pub discount: f64,
}

/// Fine-tuning the API model instead of prompting it.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FineTune {
    /// One-off training cost, USD, charged in month 1.
    pub training_cost_usd: f64,
    /// Per-token price of the tuned model over the base model's.
    pub price_multiplier: f64,
    /// Prompt tokens per request no longer sent (instructions, examples).
    #[serde(default)]
    pub prompt_tokens_saved: f64,
}

/// Serving an open-weight model on GPUs.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SelfHostOption {
    /// Catalogue model id.
    pub model: String,
    /// Catalogue GPU id.
    pub gpu: String,
    /// Weight precision name (bf16, fp8, int8, fp4, int4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<String>,
    /// KV-cache precision; unset for the estimator's default.
    #[serde(default)]
    pub kv_precision: String,
    /// Tensor-parallel degree; 0 for the smallest that fits.
    #[serde(default)]
    pub tensor_parallel: u32,
    /// Time-to-first-token limit, seconds; 0 for none.
    #[serde(default)]
    pub ttft_seconds: f64,
    /// Time-per-output-token limit, seconds; 0 for none.
    #[serde(default)]
    pub tpot_seconds: f64,
    /// Load at which replicas are sized, 0–1: headroom for bursts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_utilization: Option<f64>,
    /// Replicas kept however low the load, for availability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_replicas: Option<u32>,
    /// Open-model tokens per API token for the same text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer_ratio: Option<f64>,
    /// Extra requests the open model needs for the same outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality_factor: Option<f64>,
    /// Optional name of a throughput calibration.
    #[serde(default)]
    pub calibration: String,
    /// Throughput measured by the user, used instead of the estimator's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput_override: Option<ThroughputOverride>,
    pub deployment: Deployment,
}

/// A measured throughput at the workload: one of the two rates.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ThroughputOverride {
    /// Output tokens per second per GPU (open-model tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens_per_second_per_gpu: Option<f64>,
    /// Requests per second one replica sustains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_second_per_replica: Option<f64>,
    /// Expected relative error of the measurement (0.1 = ±10%); 0 when
    /// unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_error: Option<f64>,
}

/// How the GPUs are paid for.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
// A scenario is read once per request: the owned variant's size does not
// matter, and boxing it would only complicate every match.
#[allow(clippy::large_enum_variant)]
pub enum Deployment {
    Rented(Rented),
    Owned(Owned),
}

/// GPUs rented by the hour.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Rented {
    /// "on_demand" or "reserved" (one-year) catalogue rate, or "custom".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<String>,
    /// $ per GPU-hour when rate is "custom" (or unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usd_per_gpu_hour: Option<f64>,
    /// Expected decline of the rental price per year, 0–1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annual_price_decline: Option<f64>,
}

/// GPUs bought and run in a colocation facility. Every field is optional;
/// 0 is taken as 0.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Owned {
    /// Price per GPU, USD; the catalogue's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase_usd_per_gpu: Option<f64>,
    /// Rest of the server per GPU, USD; the catalogue's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_usd_per_gpu: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depreciation_months: Option<u32>,
    /// Annual cost of capital on the book value, 0–1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_of_capital: Option<f64>,
    /// Share of the remaining book value recovered at the horizon, 0–1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resale_fraction: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_usd_per_kwh: Option<f64>,
    /// Power usage effectiveness, ≥ 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pue: Option<f64>,
    /// Average draw at load as a share of TDP, 0–1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_fraction: Option<f64>,
    /// Host (CPU, memory, network) watts per GPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_watts_per_gpu: Option<f64>,
    /// Average watts per GPU at load, host share included: instead of
    /// TDP × load_fraction + host_watts_per_gpu.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watts_per_gpu: Option<f64>,
    /// Watts per GPU, host share included, outside operating hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_watts_per_gpu: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub colocation_usd_per_kw_month: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff_usd_per_month: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff_usd_per_gpu_month: Option<f64>,
    /// Months between ordering (and paying for) GPUs and using them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_time_months: Option<u32>,
    /// GPUs bought at a time; the GPU's per-node count when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot_gpus: Option<u32>,
    /// Pay for the opening fleet in month 0, before the horizon (in
    /// service from month 1), rather than in month 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase_in_month_0: Option<bool>,
    /// The opening fleet is already installed and serves from month 1;
    /// otherwise GPUs ordered for month 1 serve from month
    /// 1 + lead_time_months, and until then the traffic goes to the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed_at_start: Option<bool>,
    /// At the horizon: "resale" (sell the fleet at resale_fraction of its
    /// book value, booking the gain or loss on disposal) or "keep" (carry
    /// the book value past the horizon, no disposal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminal: Option<String>,
    /// A cohort at the end of its depreciation life within the horizon:
    /// "replace" (buy the same GPUs again, lead time applies) or "keep"
    /// (run it on at zero book value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_of_life: Option<String>,
}

/// Days in a billing month: the same number every month, or each
/// month's calendar days.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum DaysPerMonth {
    Days(f64),
    Rule(DaysRule),
}

impl<'de> Deserialize<'de> for DaysPerMonth {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = DaysPerMonth;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(
                    f,
                    "days_per_month: a number of days (28–31) or \"calendar\""
                )
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Self::Value, E> {
                Ok(DaysPerMonth::Days(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Self::Value, E> {
                Ok(DaysPerMonth::Days(v as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Self::Value, E> {
                Ok(DaysPerMonth::Days(v as f64))
            }
            fn visit_str<E: serde::de::Error>(
                self,
                v: &str,
            ) -> std::result::Result<Self::Value, E> {
                match v {
                    "calendar" => Ok(DaysPerMonth::Rule(DaysRule::Calendar)),
                    other => Err(E::custom(format!(
                        "days_per_month must be a number of days (28–31) or \"calendar\", got {other:?}"
                    ))),
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// The word a scenario gives for `days_per_month`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DaysRule {
    /// Each month's actual number of days.
    Calendar,
}

impl DaysPerMonth {
    /// The fixed number of days, `None` for calendar months.
    pub fn fixed(self) -> Option<f64> {
        match self {
            DaysPerMonth::Days(d) => Some(d),
            DaysPerMonth::Rule(DaysRule::Calendar) => None,
        }
    }
}

impl std::fmt::Display for DaysPerMonth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DaysPerMonth::Days(d) => write!(f, "{d}"),
            DaysPerMonth::Rule(DaysRule::Calendar) => write!(f, "calendar (each month's days)"),
        }
    }
}

/// Which traffic goes where.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum Routing {
    /// Everything self-hosted.
    #[default]
    AllSelfHosted,
    /// This share self-hosted, the rest on the API.
    Fraction { self_hosted: f64 },
    /// A fixed fleet of GPUs serves what it can; the rest goes to the API.
    Overflow { gpus: u32 },
}

/// A built-in default: its value and why.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Default_<T: 'static> {
    pub value: T,
    /// The source, or "Assumption." with the reasoning.
    pub reason: &'static str,
}

/// Defaults, each with its source.
pub mod defaults {
    use super::Default_ as D;

    pub const TAX_RATE: D<f64> = D {
        value: 0.0,
        reason: "no tax unless stated: after-tax figures equal pre-tax ones",
    };
    pub const DISCOUNT_RATE: D<f64> = D {
        value: 0.08,
        reason: "a typical corporate hurdle rate; assumption",
    };
    pub const PEAK_TO_AVERAGE: D<f64> = D {
        value: 2.0,
        reason: "a daily peak twice the mean is common for interactive traffic; assumption",
    };
    pub const DAYS_PER_MONTH: D<f64> = D {
        value: 30.0,
        reason: "the convention of per-token pricing examples",
    };
    pub const CACHED_INPUT_FRACTION: D<f64> = D {
        value: 0.0,
        reason: "no prompt caching unless stated",
    };
    pub const CACHE_WRITE_FRACTION: D<f64> = D {
        value: 0.0,
        reason: "no prompt-cache writes unless stated",
    };
    pub const BATCH_FRACTION: D<f64> = D {
        value: 0.0,
        reason: "no batch API traffic unless stated",
    };
    pub const ANNUAL_GROWTH: D<f64> = D {
        value: 0.0,
        reason: "constant traffic unless stated",
    };
    pub const API_ANNUAL_PRICE_DECLINE: D<f64> = D {
        value: 0.0,
        reason: "catalogue prices only, no further decline unless stated",
    };
    pub const PRECISION: D<&str> = D {
        value: "bf16",
        reason: "the native precision of most open-weight releases",
    };
    pub const TARGET_UTILIZATION: D<f64> = D {
        value: 0.7,
        reason: "headroom for bursts and replica failure; assumption",
    };
    pub const MIN_REPLICAS: D<u32> = D {
        value: 2,
        reason: "so one replica can fail or be upgraded; assumption",
    };
    pub const TOKENIZER_RATIO: D<f64> = D {
        value: 1.0,
        reason: "the open model's tokenizer taken as the API's; assumption",
    };
    pub const QUALITY_FACTOR: D<f64> = D {
        value: 1.0,
        reason: "the open model taken as good as the API's; assumption",
    };
    pub const RATE: D<&str> = D {
        value: "on_demand",
        reason: "the catalogue's on-demand rental rate",
    };
    pub const RENTAL_PRICE_DECLINE: D<f64> = D {
        value: 0.0,
        reason: "constant rental price unless stated",
    };
    pub const DEPRECIATION_MONTHS: D<u32> = D {
        value: 60,
        reason: "hyperscalers depreciate servers over 5–6 years",
    };
    pub const COST_OF_CAPITAL: D<f64> = D {
        value: 0.08,
        reason: "8% a year; assumption",
    };
    pub const RESALE_FRACTION: D<f64> = D {
        value: 0.0,
        reason: "no resale value unless stated",
    };
    pub const POWER_USD_PER_KWH: D<f64> = D {
        value: 0.08,
        reason: "US industrial electricity, about 7–9 ¢ in many states (EIA 2024)",
    };
    pub const PUE: D<f64> = D {
        value: 1.0,
        reason: "the default colocation rate is all-in and bills cooling; own data centres \
                 average 1.56 (Uptime Institute 2024)",
    };
    pub const LOAD_FRACTION: D<f64> = D {
        value: 0.7,
        reason: "70% of TDP on average under serving load; assumption",
    };
    pub const HOST_WATTS_PER_GPU: D<f64> = D {
        value: 150.0,
        reason: "CPUs, memory, NICs and fans of an 8-GPU server, ~1.2 kW of a ~6.8 kW HGX H100 \
                 system; assumption",
    };
    /// Share of TDP a GPU draws idle, outside operating hours.
    pub const IDLE_FRACTION_OF_TDP: D<f64> = D {
        value: 0.1,
        reason: "an idle H100 SXM draws about 70 W of its 700 W TDP (nvidia-smi readings); \
                 host watts added at full; assumption",
    };
    pub const COLOCATION_USD_PER_KW_MONTH: D<f64> = D {
        value: 184.0,
        reason: "North American primary markets (CBRE, H2 2024)",
    };
    pub const STAFF: D<f64> = D {
        value: 0.0,
        reason: "no staff cost unless stated",
    };
    pub const LEAD_TIME_MONTHS: D<u32> = D {
        value: 0,
        reason: "GPUs in service the month they are paid for unless stated",
    };
    pub const PURCHASE_IN_MONTH_0: D<bool> = D {
        value: false,
        reason: "the opening fleet is paid in month 1 unless stated",
    };
    pub const INSTALLED_AT_START: D<bool> = D {
        value: false,
        reason: "GPUs ordered for month 1 arrive after the lead time unless stated",
    };
    pub const TERMINAL: D<&str> = D {
        value: "resale",
        reason: "the fleet is sold at the horizon unless stated",
    };
    pub const END_OF_LIFE: D<&str> = D {
        value: "replace",
        reason: "GPUs are replaced at the end of their depreciation life unless stated",
    };
}

impl Scenario {
    /// Reads a scenario file; errors give the line and the field.
    pub fn from_toml(text: &str) -> Result<Scenario> {
        toml::from_str(text).map_err(|err| {
            let line = err
                .span()
                .map(|s| text[..s.start].matches('\n').count() + 1)
                .unwrap_or(0);
            Error::invalid(format!("line {line}"), err.message().to_string())
        })
    }

    /// The first day of month `t` (1-based).
    pub fn month_start(&self, t: u32) -> Result<NaiveDate> {
        let start = parse_month(&self.start_month)
            .ok_or_else(|| Error::invalid("scenario.start_month", "must be YYYY-MM"))?;
        let months = start.year() * 12 + start.month0() as i32 + (t as i32 - 1);
        NaiveDate::from_ymd_opt(months.div_euclid(12), months.rem_euclid(12) as u32 + 1, 1)
            .ok_or_else(|| Error::invalid("scenario.start_month", "is out of range"))
    }

    /// Whether unset fields must be given (`defaults = "none"`).
    pub fn no_defaults(&self) -> bool {
        self.defaults == Some(DefaultsMode::None)
    }

    /// Checks every field given; `prefix` is prepended to field paths.
    /// Unset fields are not checked here: their defaults are in range.
    pub fn validate(&self, catalog: &Catalog, prefix: &str) -> Result<()> {
        let mut v = Violations {
            prefix,
            list: Vec::new(),
        };
        if !(1..=240).contains(&self.horizon_months) {
            v.fail(
                "horizon_months",
                format!("must be 1–240, got {}", self.horizon_months),
            );
        }
        match parse_month(&self.start_month) {
            Some(d) if (2015..=2100).contains(&d.year()) => {}
            _ => v.fail(
                "start_month",
                format!(
                    "{:?} is not a month YYYY-MM between 2015 and 2100",
                    self.start_month
                ),
            ),
        }
        v.range_opt("discount_rate", self.discount_rate, 0.0, 1.0);
        v.range_opt("tax_rate", self.tax_rate, 0.0, 0.99);
        let w = &self.workload;
        match (&w.tokens_per_month, w.requests_per_day) {
            (Some(_), Some(_)) => v.fail(
                "workload.requests_per_day",
                "give either requests_per_day or tokens_per_month, not both",
            ),
            (None, None) => v.fail(
                "workload.requests_per_day",
                "is required (or give workload.tokens_per_month)",
            ),
            (None, Some(r)) => v.range("workload.requests_per_day", r, 0.0, 1e12),
            (Some(t), None) => {
                let at = |f: &str| format!("workload.tokens_per_month.{f}");
                match (t.input, t.output, t.total, t.input_share) {
                    (Some(i), Some(o), None, None) => {
                        v.range(&at("input"), i, 0.0, 1e18);
                        v.range(&at("output"), o, 0.0, 1e18);
                        if i + o <= 0.0 {
                            v.fail(&at("output"), "input and output cannot both be 0");
                        }
                    }
                    (None, None, Some(total), Some(share)) => {
                        v.positive(&at("total"), total, 1e18);
                        v.range(&at("input_share"), share, 0.0, 1.0);
                    }
                    _ => v.fail(
                        "workload.tokens_per_month",
                        "give input and output, or total and input_share",
                    ),
                }
            }
        }
        let tokens_given = w.tokens_per_month.is_some();
        for (field, value) in [
            ("workload.input_tokens", w.input_tokens),
            ("workload.output_tokens", w.output_tokens),
        ] {
            match value {
                Some(n) => v.positive(field, n, 10_000_000.0),
                None if !tokens_given => v.fail(field, "is required"),
                None => {}
            }
        }
        if tokens_given && w.input_tokens.is_some() != w.output_tokens.is_some() {
            v.fail(
                "workload.output_tokens",
                "give both input_tokens and output_tokens per request, or neither",
            );
        }
        v.range_opt(
            "workload.cached_input_fraction",
            w.cached_input_fraction,
            0.0,
            1.0,
        );
        v.range_opt(
            "workload.cache_write_fraction",
            w.cache_write_fraction,
            0.0,
            1.0,
        );
        let share = |x: Option<f64>| x.filter(|x| (0.0..=1.0).contains(x)).unwrap_or(0.0);
        if share(w.cached_input_fraction) + share(w.cache_write_fraction) > 1.0 {
            v.fail(
                "workload.cache_write_fraction",
                "cached_input_fraction and cache_write_fraction add up to more than 1",
            );
        }
        v.range_opt("workload.batch_fraction", w.batch_fraction, 0.0, 1.0);
        v.range_opt("workload.peak_to_average", w.peak_to_average, 1.0, 100.0);
        if let Some(given) = &w.load_shape {
            match LoadShape::from_weights(given) {
                None => v.fail(
                    "workload.load_shape",
                    format!(
                        "must be 24 hourly weights, finite, non-negative and not all zero; \
                         got {} values",
                        given.len()
                    ),
                ),
                Some(shape) => {
                    if let Some(peak) = w.peak_to_average
                        && peak < shape.peak() * (1.0 - 1e-9)
                    {
                        v.fail(
                            "workload.peak_to_average",
                            format!(
                                "{peak} is below the load shape's busiest hour, {:.4} times \
                                 the average; the peak is at least that hour",
                                shape.peak()
                            ),
                        );
                    }
                }
            }
        }
        v.range_opt(
            "workload.days_per_month",
            w.days_per_month.and_then(DaysPerMonth::fixed),
            28.0,
            31.0,
        );
        v.range_opt("workload.annual_growth", w.annual_growth, -0.99, 100.0);
        if let Some(d) = &w.duty_cycle {
            v.positive("workload.duty_cycle.hours_per_day", d.hours_per_day, 24.0);
            // Calendar months: the shortest, February, bounds the duty.
            let days = w
                .days_per_month
                .map_or(defaults::DAYS_PER_MONTH.value, |d| {
                    d.fixed().unwrap_or(28.0)
                });
            v.positive("workload.duty_cycle.days_per_month", d.days_per_month, days);
        }

        let a = &self.api;
        if catalog.prices().ids().all(|id| id != a.price_id) {
            v.fail(
                "api.price_id",
                format!("{:?} is not a catalogue price id", a.price_id),
            );
        }
        v.range_opt(
            "api.annual_price_decline",
            a.annual_price_decline,
            0.0,
            0.99,
        );
        for (i, tier) in a.volume_discounts.iter().enumerate() {
            v.range(
                &format!("api.volume_discounts[{i}].monthly_spend_usd"),
                tier.monthly_spend_usd,
                0.0,
                1e12,
            );
            v.range(
                &format!("api.volume_discounts[{i}].discount"),
                tier.discount,
                0.0,
                0.99,
            );
        }
        if let Some(ft) = &a.fine_tune {
            v.range(
                "api.fine_tune.training_cost_usd",
                ft.training_cost_usd,
                0.0,
                1e10,
            );
            v.range(
                "api.fine_tune.price_multiplier",
                ft.price_multiplier,
                0.01,
                100.0,
            );
            v.range(
                "api.fine_tune.prompt_tokens_saved",
                ft.prompt_tokens_saved,
                0.0,
                w.input_tokens.unwrap_or(f64::INFINITY).max(0.0),
            );
        }

        let s = &self.self_host;
        if catalog.model(&s.model).is_err() {
            v.fail(
                "self_host.model",
                format!("{:?} is not a catalogue model", s.model),
            );
        }
        if catalog.gpu(&s.gpu).is_err() {
            v.fail(
                "self_host.gpu",
                format!("{:?} is not a catalogue GPU", s.gpu),
            );
        }
        if let Some(p) = &s.precision
            && Precision::parse(p).is_none()
        {
            v.fail(
                "self_host.precision",
                format!("{p:?} is not one of bf16, fp8, int8, fp4, int4"),
            );
        }
        if !s.kv_precision.is_empty() && Precision::parse(&s.kv_precision).is_none() {
            v.fail(
                "self_host.kv_precision",
                format!(
                    "{:?} is not one of bf16, fp8, int8, fp4, int4",
                    s.kv_precision
                ),
            );
        }
        v.range("self_host.ttft_seconds", s.ttft_seconds, 0.0, 3600.0);
        v.range("self_host.tpot_seconds", s.tpot_seconds, 0.0, 3600.0);
        if let Some(u) = s.target_utilization
            && !(u > 0.0 && u <= 1.0)
        {
            v.fail(
                "self_host.target_utilization",
                format!("must be in (0, 1], got {u}"),
            );
        }
        if s.min_replicas.is_some_and(|n| n > 100_000) {
            v.fail("self_host.min_replicas", "must be at most 100000");
        }
        v.range_opt("self_host.tokenizer_ratio", s.tokenizer_ratio, 0.25, 4.0);
        v.range_opt("self_host.quality_factor", s.quality_factor, 0.25, 10.0);
        if let Some(o) = &s.throughput_override {
            let at = |f: &str| format!("self_host.throughput_override.{f}");
            match (
                o.output_tokens_per_second_per_gpu,
                o.requests_per_second_per_replica,
            ) {
                (Some(t), None) => v.positive(&at("output_tokens_per_second_per_gpu"), t, 1e7),
                (None, Some(r)) => v.positive(&at("requests_per_second_per_replica"), r, 1e6),
                _ => v.fail(
                    "self_host.throughput_override",
                    "give one of output_tokens_per_second_per_gpu and \
                     requests_per_second_per_replica",
                ),
            }
            v.range_opt(&at("expected_error"), o.expected_error, 0.0, 1.0);
        }
        match &s.deployment {
            Deployment::Rented(r) => {
                let at = |f: &str| format!("self_host.deployment.rented.{f}");
                match (r.rate.as_deref(), r.usd_per_gpu_hour) {
                    (None | Some("custom"), Some(usd)) => {
                        v.range(&at("usd_per_gpu_hour"), usd, 0.0, 1000.0)
                    }
                    (Some("custom"), None) => v.fail(
                        &at("usd_per_gpu_hour"),
                        "is required when rate is \"custom\"",
                    ),
                    (None | Some("on_demand" | "reserved"), None) => {}
                    (Some("on_demand" | "reserved"), Some(_)) => v.fail(
                        &at("usd_per_gpu_hour"),
                        "applies only when rate is \"custom\"",
                    ),
                    (Some(other), _) => v.fail(
                        &at("rate"),
                        format!("{other:?} is not one of on_demand, reserved, custom"),
                    ),
                }
                v.range_opt(
                    &at("annual_price_decline"),
                    r.annual_price_decline,
                    0.0,
                    0.99,
                );
            }
            Deployment::Owned(o) => {
                let at = |f: &str| format!("self_host.deployment.owned.{f}");
                v.range_opt(
                    &at("purchase_usd_per_gpu"),
                    o.purchase_usd_per_gpu,
                    0.0,
                    1e7,
                );
                v.range_opt(&at("server_usd_per_gpu"), o.server_usd_per_gpu, 0.0, 1e7);
                if let Some(m) = o.depreciation_months
                    && !(1..=240).contains(&m)
                {
                    v.fail(
                        &at("depreciation_months"),
                        format!("must be 1–240, got {m}"),
                    );
                }
                v.range_opt(&at("cost_of_capital"), o.cost_of_capital, 0.0, 1.0);
                v.range_opt(&at("resale_fraction"), o.resale_fraction, 0.0, 1.0);
                v.range_opt(&at("power_usd_per_kwh"), o.power_usd_per_kwh, 0.0, 10.0);
                v.range_opt(&at("pue"), o.pue, 1.0, 3.0);
                v.range_opt(&at("load_fraction"), o.load_fraction, 0.0, 1.0);
                v.range_opt(
                    &at("host_watts_per_gpu"),
                    o.host_watts_per_gpu,
                    0.0,
                    10_000.0,
                );
                v.range_opt(&at("watts_per_gpu"), o.watts_per_gpu, 0.0, 20_000.0);
                v.range_opt(
                    &at("idle_watts_per_gpu"),
                    o.idle_watts_per_gpu,
                    0.0,
                    20_000.0,
                );
                if o.watts_per_gpu.is_some()
                    && (o.load_fraction.is_some() || o.host_watts_per_gpu.is_some())
                {
                    v.fail(
                        &at("watts_per_gpu"),
                        "give either watts_per_gpu or load_fraction and host_watts_per_gpu",
                    );
                }
                v.range_opt(
                    &at("colocation_usd_per_kw_month"),
                    o.colocation_usd_per_kw_month,
                    0.0,
                    10_000.0,
                );
                v.range_opt(&at("staff_usd_per_month"), o.staff_usd_per_month, 0.0, 1e9);
                v.range_opt(
                    &at("staff_usd_per_gpu_month"),
                    o.staff_usd_per_gpu_month,
                    0.0,
                    1e7,
                );
                if o.lead_time_months.is_some_and(|m| m > 36) {
                    v.fail(&at("lead_time_months"), "must be at most 36");
                }
                if let Some(t) = &o.terminal
                    && !matches!(t.as_str(), "resale" | "keep")
                {
                    v.fail(
                        &at("terminal"),
                        format!("must be \"resale\" or \"keep\", got {t:?}"),
                    );
                }
                if let Some(e) = &o.end_of_life
                    && !matches!(e.as_str(), "replace" | "keep")
                {
                    v.fail(
                        &at("end_of_life"),
                        format!("must be \"replace\" or \"keep\", got {e:?}"),
                    );
                }
                match o.lot_gpus {
                    Some(0) => v.fail(&at("lot_gpus"), "must be at least 1"),
                    Some(n) if n > 1024 => v.fail(&at("lot_gpus"), "must be at most 1024"),
                    _ => {}
                }
            }
        }
        match self.routing {
            Routing::AllSelfHosted => {}
            Routing::Fraction { self_hosted } => {
                v.range("routing.fraction.self_hosted", self_hosted, 0.0, 1.0)
            }
            Routing::Overflow { gpus } => {
                if gpus == 0 || gpus > 1_000_000 {
                    v.fail(
                        "routing.overflow.gpus",
                        format!("must be 1–1000000, got {gpus}"),
                    );
                }
            }
        }
        v.finish()
    }
}

/// Parses `YYYY-MM` (or a full date, whose day is ignored) to the first day.
pub fn parse_month(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    let date = NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(text, "%Y-%m-%d"))
        .ok()?;
    date.with_day(1)
}

pub(crate) struct Violations<'a> {
    prefix: &'a str,
    list: Vec<FieldViolation>,
}

impl Violations<'_> {
    fn fail(&mut self, field: &str, why: impl Into<String>) {
        self.list
            .push(FieldViolation::new(format!("{}{field}", self.prefix), why));
    }

    fn range(&mut self, field: &str, value: f64, lo: f64, hi: f64) {
        if !(value.is_finite() && value >= lo && value <= hi) {
            self.fail(
                field,
                format!("must be a number in [{lo}, {hi}], got {value}"),
            );
        }
    }

    fn range_opt(&mut self, field: &str, value: Option<f64>, lo: f64, hi: f64) {
        if let Some(value) = value {
            self.range(field, value, lo, hi);
        }
    }

    fn positive(&mut self, field: &str, value: f64, hi: f64) {
        if !(value.is_finite() && value > 0.0 && value <= hi) {
            self.fail(
                field,
                format!("must be positive and at most {hi}, got {value}"),
            );
        }
    }

    fn finish(self) -> Result<()> {
        if self.list.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidArgument(self.list))
        }
    }
}
