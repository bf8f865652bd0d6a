//! `breakeven.v1.SimulationService`: projections, break-even, maps and
//! option comparisons over the TCO model.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::pb;
use prost::Message as _;

use super::simulate::{self, SimulationSlots};
use super::tenant::caller;
use crate::catalog::{LiveCatalog, Precision};
use crate::error::{Error, Result};
use crate::estimator::calibrate::Calibrations;
use crate::tco::{
    self, Basis, BreakEvenVolume, Scenario,
    map::{Axis, MapInput},
    plan::Origin,
    scenario::{self as sc},
};

#[derive(Debug, Clone)]
pub struct SimulationApi {
    catalog: Arc<LiveCatalog>,
    calibrations: Arc<Calibrations>,
    slots: Arc<SimulationSlots>,
    /// Spreads large runs across replicas, on a shared database.
    splitter: Option<Arc<crate::engine::Splitter>>,
}

impl SimulationApi {
    /// `max_simulations` bounds how many Monte Carlo runs execute at once.
    pub fn new(
        catalog: Arc<LiveCatalog>,
        calibrations: Arc<Calibrations>,
        max_simulations: usize,
    ) -> Self {
        Self {
            catalog,
            calibrations,
            slots: Arc::new(SimulationSlots::new(max_simulations)),
            splitter: None,
        }
    }

    /// Spreads runs that `splitter` wants across the replicas.
    pub fn with_splitter(mut self, splitter: Arc<crate::engine::Splitter>) -> Self {
        self.splitter = Some(splitter);
        self
    }

    /// The slots shared with other services that run simulations.
    pub(crate) fn slots(&self) -> Arc<SimulationSlots> {
        Arc::clone(&self.slots)
    }

    /// The catalogue the caller's team sees (its imported prices included).
    fn catalog_for<T>(&self, request: &Request<T>) -> Arc<crate::catalog::Catalog> {
        self.catalog.for_team(&caller(request).unwrap_or_default())
    }

    fn simulation_request(
        &self,
        catalog: &crate::catalog::Catalog,
        req: &pb::RunSimulationRequest,
    ) -> Result<simulate::Request> {
        let calibration = self.calibrations.get(
            req.scenario
                .as_ref()
                .and_then(|s| s.self_host.as_ref())
                .map_or("", |h| h.calibration.as_str()),
        )?;
        simulate::require_random(req)?;
        let mut request = simulate::request(catalog, &calibration, req)?;
        if let Some(splitter) = &self.splitter {
            let (paths, months) = request.size();
            if splitter.wants(paths, months) {
                // What every replica computes from: the scenario with the
                // catalogue files and calibration it uses.
                let options = pb::RunOptions {
                    kind: pb::RunKind::Simulation.into(),
                    basis: req.basis,
                    simulation: Some(pb::RunSimulationRequest {
                        scenario: None,
                        ..req.clone()
                    }),
                };
                let scenario = req.scenario.clone().unwrap_or_default();
                let inputs =
                    super::execute::prepare(catalog, &self.calibrations, scenario, options)?;
                let from_inputs = Box::new(super::execute::simulation_of(&inputs)?);
                request.split(simulate::Split {
                    splitter: Arc::clone(splitter),
                    inputs: inputs.encode_to_vec(),
                    from_inputs,
                });
            }
        }
        Ok(request)
    }

    /// Resolves a scenario into a plan: validation, catalogue, estimator.
    fn plan(&self, catalog: &crate::catalog::Catalog, scenario: &Scenario) -> Result<tco::Plan> {
        let calibration = self.calibrations.get(&scenario.self_host.calibration)?;
        tco::plan(catalog, scenario, &calibration, "scenario.")
    }
}

/// Runs CPU-heavy work off the async workers; a panic becomes INTERNAL.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Internal(format!("worker failed: {e}")))?
}

#[tonic::async_trait]
impl pb::simulation_service_server::SimulationService for SimulationApi {
    type StreamSimulationStream =
        tokio_stream::wrappers::ReceiverStream<std::result::Result<pb::SimulationEvent, Status>>;

    async fn run_simulation(
        &self,
        request: Request<pb::RunSimulationRequest>,
    ) -> Result<Response<pb::SimulationResult>, Status> {
        let catalog = self.catalog_for(&request);
        let request = self.simulation_request(&catalog, request.get_ref())?;
        let dates = simulate::context(&request);
        let (outcome, sobol) = simulate::run(&self.slots, request, |_| true).await?;
        Ok(Response::new(simulate::result(
            &outcome,
            sobol.as_ref(),
            catalog.version(),
            &dates,
        )))
    }

    async fn stream_simulation(
        &self,
        request: Request<pb::RunSimulationRequest>,
    ) -> Result<Response<Self::StreamSimulationStream>, Status> {
        let catalog = self.catalog_for(&request);
        let request = self.simulation_request(&catalog, request.get_ref())?;
        let dates = simulate::context(&request);
        Ok(Response::new(simulate::stream(
            &self.slots,
            request,
            catalog.version(),
            dates,
        )?))
    }

    async fn project(
        &self,
        request: Request<pb::ProjectRequest>,
    ) -> Result<Response<pb::ProjectResponse>, Status> {
        let catalog = self.catalog_for(&request);
        let req = request.into_inner();
        let scenario = scenario(req.scenario.as_ref())?;
        let basis = basis(req.basis)?;
        let calibration = self.calibrations.get(&scenario.self_host.calibration)?;
        let projection =
            blocking(move || tco::project(&catalog, &scenario, &calibration, basis)).await?;
        Ok(Response::new(projection_response(&projection)))
    }

    async fn find_break_even(
        &self,
        request: Request<pb::FindBreakEvenRequest>,
    ) -> Result<Response<pb::FindBreakEvenResponse>, Status> {
        let catalog = self.catalog_for(&request);
        let req = request.into_inner();
        let scenario = scenario(req.scenario.as_ref())?;
        let basis = basis(req.basis)?;
        let plan = self.plan(&catalog, &scenario)?;
        let response = blocking(move || Ok(break_even_response(&plan, basis))).await?;
        Ok(Response::new(response))
    }

    async fn break_even_map(
        &self,
        request: Request<pb::BreakEvenMapRequest>,
    ) -> Result<Response<pb::BreakEvenMapResponse>, Status> {
        let catalog = self.catalog_for(&request);
        let req = request.into_inner();
        let scenario = scenario(req.scenario.as_ref())?;
        let basis = basis(req.basis)?;
        let x = axis("x", req.x.as_ref())?;
        let y = axis("y", req.y.as_ref())?;
        let plan = self.plan(&catalog, &scenario)?;
        let map = blocking(move || tco::map::break_even_map(&plan, x, y, basis)).await?;
        Ok(Response::new(pb::BreakEvenMapResponse {
            cells: map
                .cells
                .iter()
                .map(|c| pb::MapCell {
                    x: c.x,
                    y: c.y,
                    savings: c.savings,
                    breaks_even: c.break_even_month.is_some(),
                    break_even_month: c.break_even_month.unwrap_or(0),
                })
                .collect(),
            boundary: map
                .boundary
                .iter()
                .map(|b| pb::BoundaryPoint {
                    x: b.x,
                    y: b.y,
                    wins_above: b.wins_above,
                })
                .collect(),
            description: map.description,
        }))
    }

    async fn compare_options(
        &self,
        request: Request<pb::CompareOptionsRequest>,
    ) -> Result<Response<pb::CompareOptionsResponse>, Status> {
        let catalog = self.catalog_for(&request);
        let req = request.into_inner();
        let template = pb::Scenario {
            name: "comparison".into(),
            horizon_months: req.horizon_months,
            start_month: req.start_month.clone(),
            discount_rate: None,
            tax_rate: None,
            workload: req.workload,
            api: Some(pb::ApiOption {
                price_id: catalog
                    .prices()
                    .ids()
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                ..Default::default()
            }),
            self_host: Some(pb::SelfHostOption {
                model_id: "llama-3.1-8b".into(),
                gpu_id: "h100-sxm".into(),
                ..req.self_host.unwrap_or_default()
            }),
            routing: None,
            defaults: String::new(),
        };
        let template = scenario(Some(&template))?;
        let calibration = self.calibrations.get(&template.self_host.calibration)?;
        let (mut options, skipped) =
            blocking(move || tco::compare::compare(&catalog, &template, &calibration)).await?;
        if req.limit > 0 {
            options.truncate(req.limit as usize);
        }
        Ok(Response::new(pb::CompareOptionsResponse {
            options: options
                .into_iter()
                .map(|o| pb::CostOption {
                    kind: match o.kind {
                        tco::compare::OptionKind::Api => "api".into(),
                        tco::compare::OptionKind::SelfHost => "self_host".into(),
                    },
                    id: o.id,
                    month_one_cost: o.month_one_cost,
                    horizon_cost: o.horizon_cost,
                    cost_per_million_tokens: o.cost_per_million_tokens,
                    gpus_month_one: o.gpus_month_one,
                    tensor_parallel: o.tensor_parallel,
                    notes: o.notes,
                })
                .collect(),
            skipped,
        }))
    }
}

/// Break-even month, volume and sensitivities of a plan.
// `horizon_difference` is deprecated on the wire but still filled in for the
// clients that read it.
#[allow(deprecated)]
pub(super) fn break_even_response(plan: &tco::Plan, basis: Basis) -> pb::FindBreakEvenResponse {
    let mut months = Vec::new();
    plan.run(&tco::PathInputs::default(), &mut months);
    let summary = tco::summarize(plan, &months, basis);
    let volume = plan.break_even_volume(tco::Adjust::default());
    pb::FindBreakEvenResponse {
        break_even_volume: Some(volume_pb(&volume)),
        breaks_even: summary.break_even_month.is_some(),
        break_even_month: summary.break_even_month.unwrap_or(0),
        first_crossover_month: summary.first_crossover_month.unwrap_or(0),
        sensitivities: tco::sensitivities(plan, basis)
            .into_iter()
            .map(|s| pb::SensitivityCase {
                input: s.input.to_string(),
                change: s.change,
                breaks_even: s.break_even_month.is_some(),
                break_even_month: s.break_even_month.unwrap_or(0),
                break_even_volume: Some(volume_pb(&s.break_even_volume)),
                horizon_savings: s.horizon_savings,
                horizon_difference: -s.horizon_savings,
            })
            .collect(),
        break_even_months_fractional: summary.break_even_months_fractional,
        assumptions: assumptions_pb(plan),
        warnings: plan.warnings.clone(),
        returns: Some(returns_pb(&summary.returns)),
        identical_to_api: summary.identical_to_api,
    }
}

fn irr_note(irr: tco::finance::Irr) -> String {
    match irr {
        tco::finance::Irr::Rate { unique: false, .. } => {
            "the incremental cash flows change sign more than once: other rates may also make their present value zero; this is the one nearest 0%".to_string()
        }
        other => other.reason().unwrap_or_default().to_string(),
    }
}

fn returns_pb(r: &tco::finance::Returns) -> pb::InvestmentReturns {
    let a = &r.after_tax;
    pb::InvestmentReturns {
        irr: r.irr.annual(),
        irr_note: irr_note(r.irr),
        tax_rate: a.tax_rate,
        flows_after_tax: a.flows.clone(),
        irr_after_tax: a.irr.annual(),
        irr_after_tax_note: irr_note(a.irr),
        npv_after_tax: a.npv,
        depreciation_tax_shield: a.depreciation_tax_shield,
        tax: a.tax,
        payback_month: r.payback_month,
        discounted_payback_month: r.discounted_payback_month,
        roi: r.roi,
        npv: r.npv,
        flows: r.flows.clone(),
    }
}

pub(super) fn basis(value: i32) -> Result<Basis> {
    match pb::CostBasis::try_from(value) {
        Ok(pb::CostBasis::Unspecified | pb::CostBasis::ProfitAndLoss) => Ok(Basis::ProfitAndLoss),
        Ok(pb::CostBasis::Cash) => Ok(Basis::Cash),
        Err(_) => Err(Error::invalid(
            "basis",
            format!("{value} is not a cost basis"),
        )),
    }
}

fn axis(field: &str, a: Option<&pb::MapAxis>) -> Result<Axis> {
    let a = a.ok_or_else(|| Error::invalid(field, "is required"))?;
    let input = match pb::MapInput::try_from(a.input) {
        Ok(pb::MapInput::RequestsPerDay) => MapInput::RequestsPerDay,
        Ok(pb::MapInput::AnnualGrowth) => MapInput::AnnualGrowth,
        Ok(pb::MapInput::ApiPriceMultiplier) => MapInput::ApiPriceMultiplier,
        Ok(pb::MapInput::ApiAnnualPriceDecline) => MapInput::ApiAnnualPriceDecline,
        Ok(pb::MapInput::GpuPriceMultiplier) => MapInput::GpuPriceMultiplier,
        Ok(pb::MapInput::TargetUtilization) => MapInput::TargetUtilization,
        Ok(pb::MapInput::PeakToAverage) => MapInput::PeakToAverage,
        _ => {
            return Err(Error::invalid(
                format!("{field}.input"),
                "must name an input",
            ));
        }
    };
    Ok(Axis {
        input,
        from: a.from,
        to: a.to,
        steps: a.steps,
    })
}

fn precision_name(field: &str, value: i32, default: &str) -> Result<String> {
    if value == 0 {
        return Ok(default.to_string());
    }
    Ok(super::convert::precision_or(field, value, Precision::Bf16)?
        .name()
        .to_string())
}

/// Reads a protobuf scenario into the domain's. Unset optional fields stay
/// unset: the plan fills them and lists what it filled. Field-level checks
/// happen in `Scenario::validate`.
pub fn scenario(s: Option<&pb::Scenario>) -> Result<Scenario> {
    let s = s.ok_or_else(|| Error::invalid("scenario", "is required"))?;
    let w = s
        .workload
        .clone()
        .ok_or_else(|| Error::invalid("scenario.workload", "is required"))?;
    let a = s
        .api
        .clone()
        .ok_or_else(|| Error::invalid("scenario.api", "is required"))?;
    let h = s
        .self_host
        .clone()
        .ok_or_else(|| Error::invalid("scenario.self_host", "is required"))?;
    let deployment = match h.deployment {
        None => sc::Deployment::Rented(sc::Rented::default()),
        Some(pb::self_host_option::Deployment::Rented(r)) => sc::Deployment::Rented(sc::Rented {
            rate: (!r.rate.is_empty()).then_some(r.rate),
            usd_per_gpu_hour: r.usd_per_gpu_hour,
            annual_price_decline: r.annual_price_decline,
        }),
        Some(pb::self_host_option::Deployment::Owned(o)) => sc::Deployment::Owned(sc::Owned {
            purchase_usd_per_gpu: o.purchase_usd_per_gpu,
            server_usd_per_gpu: o.server_usd_per_gpu,
            depreciation_months: o.depreciation_months,
            cost_of_capital: o.cost_of_capital,
            resale_fraction: o.resale_fraction,
            power_usd_per_kwh: o.power_usd_per_kwh,
            pue: o.pue,
            load_fraction: o.load_fraction,
            host_watts_per_gpu: o.host_watts_per_gpu,
            watts_per_gpu: o.watts_per_gpu,
            idle_watts_per_gpu: o.idle_watts_per_gpu,
            colocation_usd_per_kw_month: o.colocation_usd_per_kw_month,
            staff_usd_per_month: o.staff_usd_per_month,
            staff_usd_per_gpu_month: o.staff_usd_per_gpu_month,
            lead_time_months: o.lead_time_months,
            lot_gpus: o.lot_gpus,
            purchase_in_month_0: o.purchase_in_month_0,
            installed_at_start: o.installed_at_start,
            terminal: o.terminal,
            end_of_life: o.end_of_life,
        }),
    };
    let routing = match s.routing.as_ref().and_then(|r| r.mode) {
        None => sc::Routing::AllSelfHosted,
        Some(pb::routing::Mode::SelfHostedFraction(f)) => sc::Routing::Fraction { self_hosted: f },
        Some(pb::routing::Mode::OverflowGpus(gpus)) => sc::Routing::Overflow { gpus },
    };
    let defaults = match s.defaults.as_str() {
        "" => None,
        "catalogue" => Some(sc::DefaultsMode::Catalogue),
        "none" => Some(sc::DefaultsMode::None),
        other => {
            return Err(Error::invalid(
                "scenario.defaults",
                format!("{other:?} is not one of catalogue, none"),
            ));
        }
    };
    let tokens = w.tokens_per_month.map(|t| sc::TokensPerMonth {
        input: t.input,
        output: t.output,
        total: t.total,
        input_share: t.input_share,
    });
    // Proto3 cannot tell 0 from unset on these plain fields: 0 is unset
    // with token volumes (where they are optional) and 0 without.
    let plain = |v: f64, optional: bool| (!(optional && v == 0.0)).then_some(v);
    let sizes_optional = tokens.is_some();
    Ok(Scenario {
        name: s.name.clone(),
        horizon_months: s.horizon_months,
        start_month: s.start_month.clone(),
        defaults,
        discount_rate: s.discount_rate,
        tax_rate: s.tax_rate,
        workload: sc::WorkloadSpec {
            requests_per_day: plain(w.requests_per_day, sizes_optional),
            input_tokens: plain(w.input_tokens, sizes_optional),
            output_tokens: plain(w.output_tokens, sizes_optional),
            tokens_per_month: tokens,
            cached_input_fraction: w.cached_input_fraction,
            cache_write_fraction: w.cache_write_fraction,
            batch_fraction: w.batch_fraction,
            peak_to_average: w.peak_to_average,
            load_shape: (!w.load_shape.is_empty()).then(|| w.load_shape.clone()),
            days_per_month: match (w.calendar_days, w.days_per_month) {
                (Some(true), Some(_)) => {
                    return Err(Error::invalid(
                        "scenario.workload.calendar_days",
                        "give days_per_month or calendar_days, not both",
                    ));
                }
                (Some(true), None) => Some(sc::DaysPerMonth::Rule(sc::DaysRule::Calendar)),
                (_, days) => days.map(sc::DaysPerMonth::Days),
            },
            annual_growth: w.annual_growth,
            duty_cycle: w.duty_cycle.map(|d| sc::DutyCycle {
                hours_per_day: d.hours_per_day,
                days_per_month: d.days_per_month,
            }),
        },
        api: sc::ApiOption {
            price_id: a.price_id,
            annual_price_decline: a.annual_price_decline,
            volume_discounts: a
                .volume_discounts
                .iter()
                .map(|v| sc::VolumeDiscount {
                    monthly_spend_usd: v.monthly_spend_usd,
                    discount: v.discount,
                })
                .collect(),
            fine_tune: a.fine_tune.map(|f| sc::FineTune {
                training_cost_usd: f.training_cost_usd,
                price_multiplier: f.price_multiplier,
                prompt_tokens_saved: f.prompt_tokens_saved,
            }),
        },
        self_host: sc::SelfHostOption {
            model: h.model_id,
            gpu: h.gpu_id,
            precision: match h.precision {
                0 => None,
                p => Some(precision_name("scenario.self_host.precision", p, "bf16")?),
            },
            kv_precision: precision_name(
                "scenario.self_host.kv_cache_precision",
                h.kv_cache_precision,
                "",
            )?,
            tensor_parallel: h.tensor_parallel,
            ttft_seconds: h.ttft_seconds,
            tpot_seconds: h.tpot_seconds,
            target_utilization: h.target_utilization,
            min_replicas: h.min_replicas,
            tokenizer_ratio: h.tokenizer_ratio,
            quality_factor: h.quality_factor,
            calibration: h.calibration,
            throughput_override: h.throughput_override.map(|o| sc::ThroughputOverride {
                output_tokens_per_second_per_gpu: o.output_tokens_per_second_per_gpu,
                requests_per_second_per_replica: o.requests_per_second_per_replica,
                expected_error: o.expected_error,
            }),
            deployment,
        },
        routing,
    })
}

/// The assumptions and warnings of a plan, in the API's form.
pub(super) fn assumptions_pb(plan: &tco::Plan) -> Vec<pb::Assumption> {
    plan.assumptions
        .iter()
        .map(|a| {
            let (origin, entry, source) = match &a.origin {
                Origin::Scenario => (pb::AssumptionOrigin::Scenario, "", ""),
                Origin::Catalogue { entry, source } => (
                    pb::AssumptionOrigin::Catalogue,
                    entry.as_str(),
                    source.as_str(),
                ),
                Origin::Default { reason } => {
                    (pb::AssumptionOrigin::BuiltInDefault, "", reason.as_str())
                }
                Origin::Derived { how } => (pb::AssumptionOrigin::Derived, "", how.as_str()),
            };
            pb::Assumption {
                field: a.field.clone(),
                value: a.value.clone(),
                origin: origin.into(),
                entry: entry.to_string(),
                source: source.to_string(),
            }
        })
        .collect()
}

fn volume_pb(v: &BreakEvenVolume) -> pb::BreakEvenVolume {
    pb::BreakEvenVolume {
        reached: v.requests_per_day.is_some(),
        requests_per_day: v.requests_per_day.unwrap_or(0.0),
        continuous_reached: v.continuous_requests_per_day.is_some(),
        continuous_requests_per_day: v.continuous_requests_per_day.unwrap_or(0.0),
        monthly_cost_per_gpu: v.monthly_cost_per_gpu,
        requests_per_day_per_replica: v.requests_per_day_per_replica,
        not_reached_reason: v.not_reached.map_or_else(String::new, |r| r.to_string()),
    }
}

pub(super) fn projection_response(p: &tco::Projection) -> pb::ProjectResponse {
    let date = |t: u32| {
        tco::project::month_date(&p.plan, t)
            .format("%Y-%m-%d")
            .to_string()
    };
    let s = &p.summary;
    pb::ProjectResponse {
        months: p
            .months
            .iter()
            .map(|m| pb::MonthRow {
                month: m.t,
                date: date(m.t),
                requests_per_day: m.requests_per_day,
                input_tokens: m.input_tokens,
                output_tokens: m.output_tokens,
                api_cost: m.api_cost,
                fine_tuned_api_cost: m.fine_tuned_api_cost,
                self_hosted_requests_per_day: m.self_hosted_requests_per_day,
                api_requests_per_day_in_self_host: m.api_requests_per_day_in_self_host,
                replicas_needed: m.replicas_needed,
                gpus_needed: m.gpus_needed,
                gpus_held: m.gpus_held,
                rental: m.rental,
                depreciation: m.depreciation,
                cost_of_capital: m.cost_of_capital,
                power: m.power,
                colocation: m.colocation,
                staff: m.staff,
                capex_paid: m.capex_paid,
                resale: m.resale,
                residual_api_cost: m.residual_api_cost,
                self_host_pnl: m.self_host_pnl,
                self_host_cash: m.self_host_cash,
                utilization: m.utilization,
                cumulative_api: m.cumulative_api,
                cumulative_self_host_pnl: m.cumulative_self_host_pnl,
                cumulative_self_host_cash: m.cumulative_self_host_cash,
                utilization_whole_month: m.utilization_whole_month,
                disposal: m.disposal,
                book_value: m.book_value,
            })
            .collect(),
        summary: Some(pb::ProjectionSummary {
            breaks_even: s.break_even_month.is_some(),
            break_even_month: s.break_even_month.unwrap_or(0),
            break_even_date: s.break_even_month.map(date).unwrap_or_default(),
            first_crossover_month: s.first_crossover_month.unwrap_or(0),
            basis: match s.basis {
                Basis::ProfitAndLoss => pb::CostBasis::ProfitAndLoss,
                Basis::Cash => pb::CostBasis::Cash,
            }
            .into(),
            total_api: s.total_api,
            total_fine_tuned_api: s.total_fine_tuned_api,
            total_self_host_pnl: s.total_self_host_pnl,
            total_self_host_cash: s.total_self_host_cash,
            npv_api: s.npv_api,
            npv_fine_tuned_api: s.npv_fine_tuned_api,
            npv_self_host: s.npv_self_host,
            api_cost_per_million_tokens: s.api_cost_per_million_tokens,
            self_host_cost_per_million_tokens: s.self_host_cost_per_million_tokens,
            self_host_usage_only_cost_per_million_tokens: s
                .self_host_usage_only_cost_per_million_tokens,
            mean_utilization: s.mean_utilization,
            break_even_volume: Some(volume_pb(&p.break_even_volume)),
            tensor_parallel: p.plan.tensor_parallel,
            replica_requests_per_second: p.plan.replica_requests_per_s,
            output_tokens_per_second_per_gpu: p.plan.estimate.output_tokens_per_second_per_gpu,
            throughput_expected_error: p.plan.estimate.expected_error,
            api_prices_used: p
                .plan
                .api_prices
                .iter()
                .map(|a| format!("{}@{}", a.id, a.effective_date))
                .collect(),
            break_even_months_fractional: s.break_even_months_fractional,
            capex_paid_month_0: s.capex_paid_month_0,
            mean_utilization_whole_month: s.mean_utilization_whole_month,
            returns: Some(returns_pb(&s.returns)),
            identical_to_api: s.identical_to_api,
            bridge: Some(pb::PnlCashBridge {
                capex: s.bridge.capex,
                depreciation: s.bridge.depreciation,
                disposal: s.bridge.disposal,
                resale: s.bridge.resale,
                cost_of_capital: s.bridge.cost_of_capital,
                book_value_carried: s.bridge.book_value_carried,
                pnl_less_cash: s.bridge.pnl_less_cash(),
            }),
        }),
        assumptions: assumptions_pb(&p.plan),
        warnings: p.plan.warnings.clone(),
    }
}
