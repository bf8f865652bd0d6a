//! The scenario: a workload, the API option and the self-hosting option to
//! compare, over a horizon. Read from TOML files (serde) and from the API;
//! one validation serves both.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, Precision};
use crate::error::{Error, FieldViolation, Result};

/// Everything a projection needs.
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
    /// Annual rate for discounting cash flows to a net present value.
    #[serde(default = "defaults::discount_rate")]
    pub discount_rate: f64,
    pub workload: WorkloadSpec,
    pub api: ApiOption,
    pub self_host: SelfHostOption,
    #[serde(default)]
    pub routing: Routing,
}

/// The traffic to serve.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// Requests per day in the first month.
    pub requests_per_day: f64,
    /// Mean prompt tokens per request (API tokenizer).
    pub input_tokens: f64,
    /// Mean generated tokens per request (API tokenizer).
    pub output_tokens: f64,
    /// Share of input tokens the API serves from its prompt cache.
    #[serde(default)]
    pub cached_input_fraction: f64,
    /// Share of traffic that can go through a batch API.
    #[serde(default)]
    pub batch_fraction: f64,
    /// Peak request rate over the average.
    #[serde(default = "defaults::peak_to_average")]
    pub peak_to_average: f64,
    /// Days in a billing month.
    #[serde(default = "defaults::days_per_month")]
    pub days_per_month: f64,
    /// Compound annual growth of requests, e.g. 1.5 for +150% a year.
    #[serde(default)]
    pub annual_growth: f64,
}

/// Paying an API per token.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiOption {
    /// Catalogue price id, e.g. "gpt-4o-mini"; the price in force on the
    /// first day of each month applies.
    pub price_id: String,
    /// Expected further decline of that price per year, 0–1.
    #[serde(default)]
    pub annual_price_decline: f64,
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
    #[serde(default = "defaults::precision")]
    pub precision: String,
    /// KV-cache precision; empty for the estimator's default.
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
    #[serde(default = "defaults::target_utilization")]
    pub target_utilization: f64,
    /// Replicas kept however low the load, for availability.
    #[serde(default = "defaults::min_replicas")]
    pub min_replicas: u32,
    /// Open-model tokens per API token for the same text.
    #[serde(default = "defaults::one")]
    pub tokenizer_ratio: f64,
    /// Extra requests the open model needs for the same outcome.
    #[serde(default = "defaults::one")]
    pub quality_factor: f64,
    /// Optional name of a throughput calibration.
    #[serde(default)]
    pub calibration: String,
    pub deployment: Deployment,
}

/// How the GPUs are paid for.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum Deployment {
    Rented(Rented),
    Owned(Owned),
}

/// GPUs rented by the hour.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rented {
    /// "on_demand" or "reserved" (one-year) catalogue rate, or "custom".
    #[serde(default = "defaults::rate")]
    pub rate: String,
    /// $ per GPU-hour when rate is "custom".
    #[serde(default)]
    pub usd_per_gpu_hour: f64,
    /// Expected decline of the rental price per year, 0–1.
    #[serde(default)]
    pub annual_price_decline: f64,
}

/// GPUs bought and run in a colocation facility.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Owned {
    /// Price per GPU, USD; 0 takes the catalogue's.
    #[serde(default)]
    pub purchase_usd_per_gpu: f64,
    /// Rest of the server per GPU, USD; 0 takes the catalogue's.
    #[serde(default)]
    pub server_usd_per_gpu: f64,
    #[serde(default = "defaults::depreciation_months")]
    pub depreciation_months: u32,
    /// Annual cost of capital on the book value, 0–1.
    #[serde(default = "defaults::cost_of_capital")]
    pub cost_of_capital: f64,
    /// Share of the remaining book value recovered at the horizon, 0–1.
    #[serde(default)]
    pub resale_fraction: f64,
    #[serde(default = "defaults::power_usd_per_kwh")]
    pub power_usd_per_kwh: f64,
    /// Power usage effectiveness, ≥ 1.
    #[serde(default = "defaults::pue")]
    pub pue: f64,
    /// Average draw at load as a share of TDP, 0–1.
    #[serde(default = "defaults::load_fraction")]
    pub load_fraction: f64,
    /// Host (CPU, memory, network) watts per GPU.
    #[serde(default = "defaults::host_watts_per_gpu")]
    pub host_watts_per_gpu: f64,
    #[serde(default = "defaults::colocation_usd_per_kw_month")]
    pub colocation_usd_per_kw_month: f64,
    #[serde(default)]
    pub staff_usd_per_month: f64,
    #[serde(default)]
    pub staff_usd_per_gpu_month: f64,
    /// Months between ordering (and paying for) GPUs and using them.
    #[serde(default)]
    pub lead_time_months: u32,
    /// GPUs bought at a time; 0 takes the GPU's per-node count.
    #[serde(default)]
    pub lot_gpus: u32,
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

/// Defaults, each with its source.
pub mod defaults {
    /// 8% a year: a typical corporate hurdle rate. Assumption.
    pub fn discount_rate() -> f64 {
        0.08
    }
    /// 2x: a daily peak twice the mean is common for interactive traffic.
    /// Assumption.
    pub fn peak_to_average() -> f64 {
        2.0
    }
    /// 30 days, the convention of per-token pricing examples.
    pub fn days_per_month() -> f64 {
        30.0
    }
    pub fn precision() -> String {
        "bf16".into()
    }
    /// 70%: headroom for bursts and replica failure. Assumption.
    pub fn target_utilization() -> f64 {
        0.7
    }
    /// 2 replicas, so one can fail or be upgraded. Assumption.
    pub fn min_replicas() -> u32 {
        2
    }
    pub fn one() -> f64 {
        1.0
    }
    pub fn rate() -> String {
        "on_demand".into()
    }
    /// 60 months: hyperscalers depreciate servers over 5–6 years.
    pub fn depreciation_months() -> u32 {
        60
    }
    /// 8% a year. Assumption.
    pub fn cost_of_capital() -> f64 {
        0.08
    }
    /// 8 ¢/kWh: US industrial electricity, about 7–9 ¢ in many states (EIA
    /// 2024).
    pub fn power_usd_per_kwh() -> f64 {
        0.08
    }
    /// 1.0: the default colocation rate is all-in and already bills cooling,
    /// so PUE is not applied on top. Own data centres average 1.56 (Uptime
    /// Institute 2024): set it with colocation at 0.
    pub fn pue() -> f64 {
        1.0
    }
    /// 70% of TDP on average under serving load. Assumption.
    pub fn load_fraction() -> f64 {
        0.7
    }
    /// 150 W per GPU for CPUs, memory, NICs and fans of an 8-GPU server
    /// (~1.2 kW of a ~6.8 kW HGX H100 system). Assumption.
    pub fn host_watts_per_gpu() -> f64 {
        150.0
    }
    /// $184 per kW per month: North American primary markets (CBRE, H2
    /// 2024).
    pub fn colocation_usd_per_kw_month() -> f64 {
        184.0
    }
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

    /// Checks every field; `prefix` is prepended to field paths.
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
        v.range("discount_rate", self.discount_rate, 0.0, 1.0);
        let w = &self.workload;
        v.range("workload.requests_per_day", w.requests_per_day, 0.0, 1e12);
        v.positive("workload.input_tokens", w.input_tokens, 10_000_000.0);
        v.positive("workload.output_tokens", w.output_tokens, 10_000_000.0);
        v.range(
            "workload.cached_input_fraction",
            w.cached_input_fraction,
            0.0,
            1.0,
        );
        v.range("workload.batch_fraction", w.batch_fraction, 0.0, 1.0);
        v.range("workload.peak_to_average", w.peak_to_average, 1.0, 100.0);
        v.range("workload.days_per_month", w.days_per_month, 28.0, 31.0);
        v.range("workload.annual_growth", w.annual_growth, -0.99, 100.0);

        let a = &self.api;
        if catalog.prices().ids().all(|id| id != a.price_id) {
            v.fail(
                "api.price_id",
                format!("{:?} is not a catalogue price id", a.price_id),
            );
        }
        v.range(
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
                w.input_tokens.max(0.0),
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
        if Precision::parse(&s.precision).is_none() {
            v.fail(
                "self_host.precision",
                format!("{:?} is not one of bf16, fp8, int8, fp4, int4", s.precision),
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
        if !(s.target_utilization > 0.0 && s.target_utilization <= 1.0) {
            v.fail(
                "self_host.target_utilization",
                format!("must be in (0, 1], got {}", s.target_utilization),
            );
        }
        if s.min_replicas > 100_000 {
            v.fail("self_host.min_replicas", "must be at most 100000");
        }
        v.range("self_host.tokenizer_ratio", s.tokenizer_ratio, 0.25, 4.0);
        v.range("self_host.quality_factor", s.quality_factor, 0.25, 10.0);
        match &s.deployment {
            Deployment::Rented(r) => {
                match r.rate.as_str() {
                    "on_demand" | "reserved" => {}
                    "custom" => v.positive(
                        "self_host.deployment.rented.usd_per_gpu_hour",
                        r.usd_per_gpu_hour,
                        1000.0,
                    ),
                    other => v.fail(
                        "self_host.deployment.rented.rate",
                        format!("{other:?} is not one of on_demand, reserved, custom"),
                    ),
                }
                v.range(
                    "self_host.deployment.rented.annual_price_decline",
                    r.annual_price_decline,
                    0.0,
                    0.99,
                );
            }
            Deployment::Owned(o) => {
                let at = |f: &str| format!("self_host.deployment.owned.{f}");
                v.range(
                    &at("purchase_usd_per_gpu"),
                    o.purchase_usd_per_gpu,
                    0.0,
                    1e7,
                );
                v.range(&at("server_usd_per_gpu"), o.server_usd_per_gpu, 0.0, 1e7);
                if !(1..=240).contains(&o.depreciation_months) {
                    v.fail(
                        &at("depreciation_months"),
                        format!("must be 1–240, got {}", o.depreciation_months),
                    );
                }
                v.range(&at("cost_of_capital"), o.cost_of_capital, 0.0, 1.0);
                v.range(&at("resale_fraction"), o.resale_fraction, 0.0, 1.0);
                v.range(&at("power_usd_per_kwh"), o.power_usd_per_kwh, 0.0, 10.0);
                v.range(&at("pue"), o.pue, 1.0, 3.0);
                v.range(&at("load_fraction"), o.load_fraction, 0.0, 1.0);
                v.range(
                    &at("host_watts_per_gpu"),
                    o.host_watts_per_gpu,
                    0.0,
                    10_000.0,
                );
                v.range(
                    &at("colocation_usd_per_kw_month"),
                    o.colocation_usd_per_kw_month,
                    0.0,
                    10_000.0,
                );
                v.range(&at("staff_usd_per_month"), o.staff_usd_per_month, 0.0, 1e9);
                v.range(
                    &at("staff_usd_per_gpu_month"),
                    o.staff_usd_per_gpu_month,
                    0.0,
                    1e7,
                );
                if o.lead_time_months > 36 {
                    v.fail(&at("lead_time_months"), "must be at most 36");
                }
                if o.lot_gpus > 1024 {
                    v.fail(&at("lot_gpus"), "must be at most 1024");
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

struct Violations<'a> {
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
