//! Conversions between domain values and generated protobuf types.

use chrono::NaiveDate;

use super::pb;
use crate::catalog::{self, Precision};
use crate::error::{Error, Result};
use crate::tco::scenario as sc;

/// Reads an optional `YYYY-MM-DD` field; empty means today (UTC).
pub fn date_or_today(field: &str, value: &str) -> Result<NaiveDate> {
    if value.is_empty() {
        return Ok(chrono::Utc::now().date_naive());
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| {
        Error::invalid(
            field,
            format!("{value:?} is not a date in the form YYYY-MM-DD"),
        )
    })
}

/// A required id field.
pub fn required<'a>(field: &str, value: &'a str) -> Result<&'a str> {
    if value.trim().is_empty() {
        Err(Error::invalid(field, "is required"))
    } else {
        Ok(value)
    }
}

/// Reads a precision enum field; unspecified gives `default`.
pub fn precision_or(field: &str, value: i32, default: Precision) -> Result<Precision> {
    match pb::Precision::try_from(value) {
        Ok(pb::Precision::Unspecified) => Ok(default),
        Ok(pb::Precision::Bf16) => Ok(Precision::Bf16),
        Ok(pb::Precision::Fp8) => Ok(Precision::Fp8),
        Ok(pb::Precision::Int8) => Ok(Precision::Int8),
        Ok(pb::Precision::Fp4) => Ok(Precision::Fp4),
        Ok(pb::Precision::Int4) => Ok(Precision::Int4),
        Err(_) => Err(Error::invalid(
            field,
            format!("{value} is not a known precision"),
        )),
    }
}

fn date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn opt_date(d: Option<NaiveDate>) -> String {
    d.map(date).unwrap_or_default()
}

impl From<Precision> for pb::Precision {
    fn from(p: Precision) -> Self {
        match p {
            Precision::Bf16 => pb::Precision::Bf16,
            Precision::Fp8 => pb::Precision::Fp8,
            Precision::Int8 => pb::Precision::Int8,
            Precision::Fp4 => pb::Precision::Fp4,
            Precision::Int4 => pb::Precision::Int4,
        }
    }
}

impl From<&catalog::Provenance> for pb::Provenance {
    fn from(p: &catalog::Provenance) -> Self {
        Self {
            source: p.source.clone(),
            as_of: date(p.as_of),
            assumption: p.assumption,
            notes: p.notes.clone(),
        }
    }
}

impl From<&catalog::UsdFigure> for pb::UsdFigure {
    fn from(f: &catalog::UsdFigure) -> Self {
        Self {
            usd: f.usd,
            provenance: Some((&f.provenance).into()),
        }
    }
}

impl From<&catalog::Gpu> for pb::Gpu {
    fn from(g: &catalog::Gpu) -> Self {
        Self {
            // Set by the handler, which knows the catalogue it came from.
            custom_entry: String::new(),
            id: g.id.clone(),
            name: g.name.clone(),
            vendor: g.vendor.clone(),
            architecture: g.architecture.clone(),
            form_factor: g.form_factor.clone(),
            release_date: opt_date(g.release_date),
            memory_gb: g.memory_gb,
            memory_bandwidth_tb_s: g.memory_bandwidth_tb_s,
            tdp_w: g.tdp_w,
            interconnect: g.interconnect.clone(),
            interconnect_gb_s: g.interconnect_gb_s,
            gpus_per_node: g.gpus_per_node,
            peak_compute: g
                .dense_tflops
                .iter()
                .map(|(&precision, &tflops)| pb::PeakCompute {
                    precision: pb::Precision::from(precision).into(),
                    dense_tflops: tflops,
                })
                .collect(),
            specs_provenance: Some((&g.specs_provenance).into()),
            purchase_per_gpu: Some((&g.purchase_per_gpu).into()),
            server_per_gpu: g.server_per_gpu.as_ref().map(Into::into),
            rental_on_demand_per_gpu_hour: g.rental_on_demand_per_gpu_hour.as_ref().map(Into::into),
            rental_reserved_1y_per_gpu_hour: g
                .rental_reserved_1y_per_gpu_hour
                .as_ref()
                .map(Into::into),
            efficiency: Some(pb::Efficiency {
                memory_bandwidth: g.efficiency.memory_bandwidth,
                compute: g.efficiency.compute,
                provenance: Some((&g.efficiency.provenance).into()),
            }),
        }
    }
}

impl From<&catalog::Model> for pb::Model {
    fn from(m: &catalog::Model) -> Self {
        Self {
            custom_entry: String::new(),
            id: m.id.clone(),
            name: m.name.clone(),
            developer: m.developer.clone(),
            license: m.license.clone(),
            release_date: date(m.release_date),
            total_params_b: m.total_params_b,
            active_params_b: m.active_params_b,
            layers: m.layers,
            hidden_size: m.hidden_size,
            intermediate_size: m.intermediate_size,
            attention_heads: m.attention_heads,
            kv_heads: m.kv_heads,
            head_dim: m.head_dim,
            vocab_size: m.vocab_size,
            max_context: m.max_context,
            attention: m.attention.name().to_string(),
            native_precision: pb::Precision::from(m.native_precision).into(),
            mla: m.mla.map(|mla| pb::MultiHeadLatentAttention {
                kv_lora_rank: mla.kv_lora_rank,
                qk_rope_head_dim: mla.qk_rope_head_dim,
            }),
            moe: m.moe.map(|moe| pb::MixtureOfExperts {
                experts: moe.experts,
                experts_per_token: moe.experts_per_token,
                shared_experts: moe.shared_experts,
                moe_layers: moe.moe_layers,
                routed_expert_params_b: moe.routed_expert_params_b,
            }),
            sliding_window: m.sliding_window.map(|w| pb::SlidingWindow {
                tokens: w.tokens,
                layers: w.layers,
            }),
            provenance: Some((&m.provenance).into()),
        }
    }
}

impl From<&catalog::ApiPrice> for pb::ApiPrice {
    fn from(p: &catalog::ApiPrice) -> Self {
        Self {
            custom_entry: String::new(),
            id: p.id.clone(),
            name: p.name.clone(),
            provider: p.provider.clone(),
            provider_name: p.provider_name.clone(),
            api_model: p.api_model.clone(),
            tier: p.tier.name().to_string(),
            effective_date: date(p.effective_date),
            end_date: opt_date(p.end_date),
            retired_date: opt_date(p.retired_date),
            input_usd_per_mtok: p.input_usd_per_mtok,
            output_usd_per_mtok: p.output_usd_per_mtok,
            cached_input_usd_per_mtok: p.cached_input_usd_per_mtok,
            cache_write_usd_per_mtok: p.cache_write_usd_per_mtok,
            batch_input_usd_per_mtok: p.batch_input_usd_per_mtok,
            batch_output_usd_per_mtok: p.batch_output_usd_per_mtok,
            context_window: p.context_window,
            max_output_tokens: p.max_output_tokens.unwrap_or(0),
            long_context: p
                .long_context
                .iter()
                .map(|t| pb::LongContextTier {
                    above_input_tokens: t.above_input_tokens,
                    input_usd_per_mtok: t.input_usd_per_mtok,
                    output_usd_per_mtok: t.output_usd_per_mtok,
                    cached_input_usd_per_mtok: t.cached_input_usd_per_mtok,
                })
                .collect(),
            open_weights_model: p.open_weights_model.clone().unwrap_or_default(),
            provenance: Some((&p.provenance).into()),
        }
    }
}

/// A scenario read from a file, in the form the API takes. The reverse of
/// `simulation::scenario`: a field the file leaves out stays unset, so the
/// server fills the same default and lists it among the assumptions.
/// Fails only on a precision name the API has no value for.
impl TryFrom<&sc::Scenario> for pb::Scenario {
    type Error = Error;

    fn try_from(s: &sc::Scenario) -> Result<Self> {
        let w = &s.workload;
        let a = &s.api;
        let h = &s.self_host;
        let precision = |field: &str, name: &str| -> Result<i32> {
            if name.is_empty() {
                return Ok(pb::Precision::Unspecified.into());
            }
            Precision::parse(name)
                .map(|p| pb::Precision::from(p).into())
                .ok_or_else(|| {
                    Error::invalid(
                        field,
                        format!("{name:?} is not one of bf16, fp8, int8, fp4, int4"),
                    )
                })
        };
        let deployment = match &h.deployment {
            sc::Deployment::Rented(r) => {
                pb::self_host_option::Deployment::Rented(pb::RentedDeployment {
                    rate: r.rate.clone().unwrap_or_default(),
                    usd_per_gpu_hour: r.usd_per_gpu_hour,
                    annual_price_decline: r.annual_price_decline,
                })
            }
            sc::Deployment::Owned(o) => {
                pb::self_host_option::Deployment::Owned(pb::OwnedDeployment {
                    purchase_usd_per_gpu: o.purchase_usd_per_gpu,
                    server_usd_per_gpu: o.server_usd_per_gpu,
                    depreciation_months: o.depreciation_months,
                    cost_of_capital: o.cost_of_capital,
                    resale_fraction: o.resale_fraction,
                    power_usd_per_kwh: o.power_usd_per_kwh,
                    pue: o.pue,
                    load_fraction: o.load_fraction,
                    host_watts_per_gpu: o.host_watts_per_gpu,
                    colocation_usd_per_kw_month: o.colocation_usd_per_kw_month,
                    staff_usd_per_month: o.staff_usd_per_month,
                    staff_usd_per_gpu_month: o.staff_usd_per_gpu_month,
                    lead_time_months: o.lead_time_months,
                    lot_gpus: o.lot_gpus,
                    watts_per_gpu: o.watts_per_gpu,
                    idle_watts_per_gpu: o.idle_watts_per_gpu,
                    purchase_in_month_0: o.purchase_in_month_0,
                    installed_at_start: o.installed_at_start,
                    terminal: o.terminal.clone(),
                    end_of_life: o.end_of_life.clone(),
                })
            }
        };
        let routing = match s.routing {
            sc::Routing::AllSelfHosted => None,
            sc::Routing::Fraction { self_hosted } => Some(pb::Routing {
                mode: Some(pb::routing::Mode::SelfHostedFraction(self_hosted)),
            }),
            sc::Routing::Overflow { gpus } => Some(pb::Routing {
                mode: Some(pb::routing::Mode::OverflowGpus(gpus)),
            }),
        };
        Ok(pb::Scenario {
            name: s.name.clone(),
            horizon_months: s.horizon_months,
            start_month: s.start_month.clone(),
            defaults: match s.defaults {
                None => String::new(),
                Some(sc::DefaultsMode::Catalogue) => "catalogue".into(),
                Some(sc::DefaultsMode::None) => "none".into(),
            },
            discount_rate: s.discount_rate,
            tax_rate: s.tax_rate,
            workload: Some(pb::WorkloadSpec {
                requests_per_day: w.requests_per_day.unwrap_or(0.0),
                input_tokens: w.input_tokens.unwrap_or(0.0),
                output_tokens: w.output_tokens.unwrap_or(0.0),
                cached_input_fraction: w.cached_input_fraction,
                cache_write_fraction: w.cache_write_fraction,
                batch_fraction: w.batch_fraction,
                peak_to_average: w.peak_to_average,
                load_shape: w.load_shape.clone().unwrap_or_default(),
                days_per_month: w.days_per_month.and_then(sc::DaysPerMonth::fixed),
                calendar_days: w
                    .days_per_month
                    .is_some_and(|d| d.fixed().is_none())
                    .then_some(true),
                annual_growth: w.annual_growth,
                duty_cycle: w.duty_cycle.map(|d| pb::DutyCycle {
                    hours_per_day: d.hours_per_day,
                    days_per_month: d.days_per_month,
                }),
                tokens_per_month: w.tokens_per_month.map(|t| pb::TokensPerMonth {
                    input: t.input,
                    output: t.output,
                    total: t.total,
                    input_share: t.input_share,
                }),
            }),
            api: Some(pb::ApiOption {
                price_id: a.price_id.clone(),
                annual_price_decline: a.annual_price_decline,
                volume_discounts: a
                    .volume_discounts
                    .iter()
                    .map(|v| pb::VolumeDiscount {
                        monthly_spend_usd: v.monthly_spend_usd,
                        discount: v.discount,
                    })
                    .collect(),
                fine_tune: a.fine_tune.map(|f| pb::FineTune {
                    training_cost_usd: f.training_cost_usd,
                    price_multiplier: f.price_multiplier,
                    prompt_tokens_saved: f.prompt_tokens_saved,
                }),
            }),
            self_host: Some(pb::SelfHostOption {
                model_id: h.model.clone(),
                gpu_id: h.gpu.clone(),
                precision: precision(
                    "self_host.precision",
                    h.precision.as_deref().unwrap_or_default(),
                )?,
                kv_cache_precision: precision("self_host.kv_precision", &h.kv_precision)?,
                tensor_parallel: h.tensor_parallel,
                ttft_seconds: h.ttft_seconds,
                tpot_seconds: h.tpot_seconds,
                target_utilization: h.target_utilization,
                min_replicas: h.min_replicas,
                tokenizer_ratio: h.tokenizer_ratio,
                quality_factor: h.quality_factor,
                deployment: Some(deployment),
                calibration: h.calibration.clone(),
                throughput_override: h.throughput_override.map(|o| pb::ThroughputOverride {
                    output_tokens_per_second_per_gpu: o.output_tokens_per_second_per_gpu,
                    requests_per_second_per_replica: o.requests_per_second_per_replica,
                    expected_error: o.expected_error,
                }),
            }),
            routing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_or_name_the_field() {
        assert_eq!(
            date_or_today("as_of", "2025-02-09").unwrap(),
            NaiveDate::from_ymd_opt(2025, 2, 9).unwrap()
        );
        let err = date_or_today("as_of", "09/02/2025").unwrap_err();
        assert!(matches!(&err, Error::InvalidArgument(v) if v[0].field == "as_of"));
        assert!(date_or_today("as_of", "").is_ok());
    }

    #[test]
    fn blank_ids_are_rejected() {
        assert!(required("id", "  ").is_err());
        assert_eq!(required("id", "h200").unwrap(), "h200");
    }

    /// Every example file survives file → protobuf → the server's reading
    /// unchanged, so a file sent by the command line means what it says.
    #[test]
    fn example_scenarios_round_trip_through_protobuf() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let scenario = sc::Scenario::from_toml(&text).unwrap();
            let wire = pb::Scenario::try_from(&scenario).unwrap();
            let back = crate::grpc::simulation::scenario(Some(&wire)).unwrap();
            assert_eq!(back, scenario, "{}", path.display());
            seen += 1;
        }
        assert!(seen >= 5);
    }

    #[test]
    fn an_unknown_precision_names_its_field() {
        let text = include_str!("../../examples/hybrid-overflow.toml")
            .replace("precision = \"fp8\"", "precision = \"fp16\"");
        let scenario = sc::Scenario::from_toml(&text).unwrap();
        let err = pb::Scenario::try_from(&scenario).unwrap_err();
        assert!(err.to_string().contains("self_host.precision"), "{err}");
    }

    /// The owned deployment as stored before its fields had presence: plain
    /// proto3 scalars, where 0 was not written and meant "the default".
    #[derive(Clone, PartialEq, prost::Message)]
    struct StoredOwned {
        #[prost(double, tag = "1")]
        purchase_usd_per_gpu: f64,
        #[prost(double, tag = "2")]
        server_usd_per_gpu: f64,
        #[prost(uint32, tag = "3")]
        depreciation_months: u32,
        #[prost(double, tag = "11")]
        staff_usd_per_month: f64,
        #[prost(uint32, tag = "14")]
        lot_gpus: u32,
    }

    /// Bytes stored by earlier versions read with the meaning they had: a
    /// zero was never written, so it reads as unset and takes the default
    /// it stood for; a value set reads as set.
    #[test]
    fn stored_scenarios_from_before_presence_keep_their_meaning() {
        use prost::Message as _;
        let old = StoredOwned {
            purchase_usd_per_gpu: 0.0,
            server_usd_per_gpu: 5_000.0,
            depreciation_months: 0,
            staff_usd_per_month: 2_000.0,
            lot_gpus: 0,
        };
        let new = pb::OwnedDeployment::decode(old.encode_to_vec().as_slice()).unwrap();
        assert_eq!(new.purchase_usd_per_gpu, None);
        assert_eq!(new.server_usd_per_gpu, Some(5_000.0));
        assert_eq!(new.depreciation_months, None);
        assert_eq!(new.staff_usd_per_month, Some(2_000.0));
        assert_eq!(new.lot_gpus, None);
        // And what is stored now reads back under the old schema too.
        let back = StoredOwned::decode(new.encode_to_vec().as_slice()).unwrap();
        assert_eq!(back, old);
    }
}
