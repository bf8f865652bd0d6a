//! Arbitrary requests against a real server: numbers that are NaN,
//! infinite, negative or huge, unknown ids and enum values, strings of any
//! text and missing messages. Whatever comes in, the answer is a result or
//! a status the caller can act on — never INTERNAL or UNKNOWN (a panic or
//! an unmapped error) — and every INVALID_ARGUMENT names its fields in
//! `google.rpc.BadRequest`.
//!
//! Each property starts one server and sends every case to it; the values
//! are mostly plausible, so that cases get past the first check and reach
//! the estimator, the cost model and the Monte Carlo engine.

mod common;

use std::time::Duration;

use breakeven::grpc::pb;
use breakeven::grpc::pb::estimator_service_client::EstimatorServiceClient;
use breakeven::grpc::pb::simulation_service_client::SimulationServiceClient;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tonic::{Code, Status};
use tonic_types::StatusExt as _;

/// Cases per property: enough to reach most checks, few enough for a
/// debug build to run them in seconds.
const CASES: u32 = 64;

/// Sends every case of `strategy` to one server started for it; `call`
/// makes the call and returns the status it got (OK for a response).
fn check<S, F>(strategy: S, call: F)
where
    S: Strategy,
    F: AsyncFn(&tonic::transport::Channel, S::Value) -> Status,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = runtime.block_on(common::TestServer::start());
    let channel = runtime.block_on(server.channel());
    // PROPTEST_CASES runs more (or fewer) cases.
    let defaults = Config::default();
    let cases = if std::env::var_os("PROPTEST_CASES").is_some() {
        defaults.cases
    } else {
        CASES
    };
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..defaults
    });
    let result = runner.run(&strategy, |request| {
        let status = runtime
            .block_on(async {
                tokio::time::timeout(Duration::from_secs(60), call(&channel, request)).await
            })
            .map_err(|_| TestCaseError::fail("no answer within 60 s"))?;
        acceptable(&status)
    });
    runtime.block_on(server.stop());
    if let Err(err) = result {
        panic!("{err}");
    }
}

/// The property itself.
fn acceptable(status: &Status) -> Result<(), TestCaseError> {
    match status.code() {
        Code::Ok | Code::NotFound | Code::FailedPrecondition => Ok(()),
        Code::InvalidArgument => {
            let Some(bad) = status.get_details_bad_request() else {
                return Err(TestCaseError::fail(format!(
                    "INVALID_ARGUMENT without BadRequest details: {status:?}"
                )));
            };
            if bad.field_violations.is_empty()
                || bad.field_violations.iter().any(|v| v.field.is_empty())
            {
                return Err(TestCaseError::fail(format!(
                    "INVALID_ARGUMENT without a field path: {bad:?}"
                )));
            }
            Ok(())
        }
        // INTERNAL, UNKNOWN (a panic or an unmapped error) and anything
        // else no validation path should produce.
        _ => Err(TestCaseError::fail(format!("{status:?}"))),
    }
}

/// The status of a finished call; OK for a response.
fn outcome<T>(result: Result<tonic::Response<T>, Status>) -> Status {
    result.err().unwrap_or_else(|| Status::ok(""))
}

/// A number: usually in `plausible`, sometimes anything a double can be.
fn number(plausible: std::ops::Range<f64>) -> impl Strategy<Value = f64> + Clone {
    prop_oneof![
        60 => plausible,
        1 => prop::sample::select(vec![
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -1.0,
            -0.0,
            0.0,
            1e300,
            -1e300,
            f64::MIN_POSITIVE,
            f64::MAX,
        ]),
        1 => any::<f64>(),
    ]
}

/// A count: usually in `plausible`, sometimes zero or anything.
fn count(plausible: std::ops::RangeInclusive<u32>) -> impl Strategy<Value = u32> + Clone {
    prop_oneof![30 => plausible, 1 => Just(0u32), 1 => any::<u32>()]
}

/// A 64-bit count: usually in `plausible`, sometimes out of any range.
fn count64(plausible: std::ops::RangeInclusive<u64>) -> impl Strategy<Value = u64> + Clone {
    prop_oneof![
        30 => plausible,
        1 => prop::sample::select(vec![0u64, 100_000_000, u64::MAX]),
    ]
}

/// An id: usually one of `known`, sometimes any text.
fn id(known: &'static [&'static str]) -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        30 => prop::sample::select(known).prop_map(str::to_string),
        1 => Just(String::new()),
        1 => any::<String>(),
    ]
}

/// An enum value: usually defined (`0..=max`), sometimes any integer.
fn enumeration(max: i32) -> impl Strategy<Value = i32> + Clone {
    prop_oneof![30 => 0..=max, 1 => any::<i32>()]
}

/// A sub-message that is present most of the time.
fn present<S: Strategy>(s: S) -> prop::option::OptionStrategy<S> {
    prop::option::weighted(0.95, s)
}

/// Usually the default calibration, sometimes a name that is not kept.
fn calibration() -> impl Strategy<Value = String> + Clone {
    prop_oneof![20 => Just(String::new()), 1 => Just("unknown".to_string()), 1 => any::<String>()]
}

const MODELS: &[&str] = &[
    "llama-3.1-8b",
    "llama-3.1-70b",
    "mixtral-8x7b",
    "deepseek-v3",
];
const GPUS: &[&str] = &["h100-sxm", "l4", "a100-80gb", "mi300x"];
const PRICES: &[&str] = &[
    "gpt-4o-mini",
    "gpt-4o",
    "claude-haiku-4.5",
    "gemini-2.5-flash",
];
/// Usually a month every price above is listed in; sometimes one before
/// some of them, or no month at all.
fn month() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        30 => prop::sample::select(&["2025-06", "2025-09", "2026-01", "2026-06"][..])
            .prop_map(str::to_string),
        1 => prop::sample::select(&["2024-01", "2025-13", "1999-01", "June", ""][..])
            .prop_map(str::to_string),
        1 => any::<String>(),
    ]
}

/// Tensor parallelism: usually a power of two up to 8, sometimes not.
fn tensor_parallel() -> impl Strategy<Value = u32> + Clone {
    prop_oneof![
        30 => prop::sample::select(&[1u32, 2, 4, 8][..]),
        1 => count(0..=16),
    ]
}
const RATES: &[&str] = &["on_demand", "reserved", "custom"];
const PRECISION_MAX: i32 = 5;
/// The largest Layout value.
const LAYOUT_MAX: i32 = 3;
const BASIS_MAX: i32 = 2;

fn workload_spec() -> BoxedStrategy<pb::WorkloadSpec> {
    (
        // Up to the largest volume the model accepts (10^12 a day).
        prop_oneof![4 => number(1.0..1e7), 1 => 1e7..=1e12, 1 => Just(1e12)],
        number(1.0..3e4),
        number(1.0..4e3),
        number(0.0..1.0),
        number(0.0..1.0),
        number(1.0..5.0),
        number(28.0..31.0),
        number(-0.5..3.0),
    )
        .prop_map(
            |(requests, input, output, cached, batch, peak, days, growth)| pb::WorkloadSpec {
                requests_per_day: requests,
                input_tokens: input,
                output_tokens: output,
                cached_input_fraction: Some(cached),
                batch_fraction: Some(batch),
                peak_to_average: Some(peak),
                days_per_month: Some(days),
                annual_growth: Some(growth),
                ..Default::default()
            },
        )
        .boxed()
}

fn api_option() -> BoxedStrategy<pb::ApiOption> {
    let discount =
        (number(0.0..1e6), number(0.0..0.5)).prop_map(|(spend, discount)| pb::VolumeDiscount {
            monthly_spend_usd: spend,
            discount,
        });
    let fine_tune = (number(0.0..1e5), number(0.5..3.0), number(0.0..1e4)).prop_map(
        |(cost, multiplier, saved)| pb::FineTune {
            training_cost_usd: cost,
            price_multiplier: multiplier,
            prompt_tokens_saved: saved,
        },
    );
    (
        id(PRICES),
        number(0.0..0.5),
        prop::collection::vec(discount, 0..3),
        prop::option::weighted(0.3, fine_tune),
    )
        .prop_map(
            |(price_id, decline, volume_discounts, fine_tune)| pb::ApiOption {
                price_id,
                annual_price_decline: Some(decline),
                volume_discounts,
                fine_tune,
            },
        )
        .boxed()
}

fn owned() -> BoxedStrategy<pb::OwnedDeployment> {
    (
        (
            number(0.0..50_000.0),
            number(0.0..20_000.0),
            count(12..=72),
            prop::option::of(number(0.0..0.2)),
            number(0.0..0.6),
            prop::option::of(number(0.02..0.3)),
            prop::option::of(number(1.0..2.0)),
        ),
        (
            prop::option::of(number(0.1..1.0)),
            prop::option::of(number(0.0..1000.0)),
            prop::option::of(number(0.0..400.0)),
            number(0.0..50_000.0),
            number(0.0..500.0),
            count(0..=6),
            count(1..=8),
        ),
    )
        .prop_map(
            |(
                (purchase, server, depreciation, capital, resale, power, pue),
                (load, host, colocation, staff, staff_per_gpu, lead, lot),
            )| pb::OwnedDeployment {
                purchase_usd_per_gpu: Some(purchase),
                server_usd_per_gpu: Some(server),
                depreciation_months: Some(depreciation),
                cost_of_capital: capital,
                resale_fraction: Some(resale),
                power_usd_per_kwh: power,
                pue,
                load_fraction: load,
                host_watts_per_gpu: host,
                colocation_usd_per_kw_month: colocation,
                staff_usd_per_month: Some(staff),
                staff_usd_per_gpu_month: Some(staff_per_gpu),
                lead_time_months: Some(lead),
                lot_gpus: Some(lot),
                ..Default::default()
            },
        )
        .boxed()
}

fn self_host_option() -> BoxedStrategy<pb::SelfHostOption> {
    use pb::self_host_option::Deployment;
    let rented =
        (id(RATES), number(0.5..10.0), number(0.0..0.5)).prop_map(|(rate, usd, decline)| {
            Deployment::Rented(pb::RentedDeployment {
                rate,
                usd_per_gpu_hour: Some(usd),
                annual_price_decline: Some(decline),
            })
        });
    let deployment = prop_oneof![3 => rented, 2 => owned().prop_map(Deployment::Owned)];
    (
        (
            id(MODELS),
            id(GPUS),
            enumeration(PRECISION_MAX),
            enumeration(PRECISION_MAX),
            tensor_parallel(),
            number(0.0..5.0),
            number(0.0..0.2),
        ),
        (
            prop::option::of(number(0.1..1.0)),
            prop::option::of(count(0..=4)),
            number(0.8..1.5),
            number(0.5..1.5),
            present(deployment),
            calibration(),
        ),
    )
        .prop_map(
            |(
                (model_id, gpu_id, precision, kv, tp, ttft, tpot),
                (utilization, min_replicas, tokenizer, quality, deployment, calibration),
            )| pb::SelfHostOption {
                model_id,
                gpu_id,
                precision,
                kv_cache_precision: kv,
                tensor_parallel: tp,
                ttft_seconds: ttft,
                tpot_seconds: tpot,
                target_utilization: utilization,
                min_replicas,
                tokenizer_ratio: Some(tokenizer),
                quality_factor: Some(quality),
                deployment,
                calibration,
                ..Default::default()
            },
        )
        .boxed()
}

fn routing() -> BoxedStrategy<pb::Routing> {
    use pb::routing::Mode;
    prop::option::of(prop_oneof![
        number(0.0..1.0).prop_map(Mode::SelfHostedFraction),
        count(0..=16).prop_map(Mode::OverflowGpus),
    ])
    .prop_map(|mode| pb::Routing { mode })
    .boxed()
}

fn scenario() -> BoxedStrategy<pb::Scenario> {
    (
        prop_oneof![4 => Just("fuzz".to_string()), 1 => any::<String>()],
        prop_oneof![30 => 1u32..=36, 1 => Just(240u32), 1 => any::<u32>()],
        month(),
        prop::option::of(number(0.0..0.2)),
        present(workload_spec()),
        present(api_option()),
        present(self_host_option()),
        prop::option::weighted(0.2, routing()),
    )
        .prop_map(
            |(name, horizon, start, discount, workload, api, self_host, routing)| pb::Scenario {
                name,
                horizon_months: horizon,
                start_month: start,
                discount_rate: discount,
                workload,
                api,
                self_host,
                routing,
                ..Default::default()
            },
        )
        .boxed()
}

fn project_request() -> BoxedStrategy<pb::ProjectRequest> {
    (present(scenario()), enumeration(BASIS_MAX))
        .prop_map(|(scenario, basis)| pb::ProjectRequest { scenario, basis })
        .boxed()
}

fn estimate_request() -> BoxedStrategy<pb::EstimateThroughputRequest> {
    let workload = (count(1..=32_000), count(1..=4_000), count(0..=256)).prop_map(
        |(input, output, concurrency)| pb::Workload {
            input_tokens: input,
            output_tokens: output,
            concurrency,
        },
    );
    let targets =
        (number(0.0..5.0), number(0.0..0.2)).prop_map(|(ttft, tpot)| pb::LatencyTargets {
            ttft_seconds: ttft,
            tpot_seconds: tpot,
        });
    (
        id(MODELS),
        id(GPUS),
        enumeration(PRECISION_MAX),
        enumeration(PRECISION_MAX),
        tensor_parallel(),
        present(workload),
        prop::option::weighted(0.5, targets),
        calibration(),
        enumeration(LAYOUT_MAX),
    )
        .prop_map(
            |(model_id, gpu_id, weights, kv, tp, workload, targets, calibration, layout)| {
                pb::EstimateThroughputRequest {
                    model_id,
                    gpu_id,
                    weight_precision: weights,
                    kv_cache_precision: kv,
                    tensor_parallel: tp,
                    workload,
                    targets,
                    calibration,
                    layout,
                }
            },
        )
        .boxed()
}

fn distribution() -> BoxedStrategy<pb::DistributionSpec> {
    use pb::distribution_spec::Kind;
    let modal = (number(0.0..1.0), number(0.0..2.0), number(1.0..3.0))
        .prop_map(|(min, mode, max)| pb::ModalDistribution { min, mode, max });
    let moments = (
        number(0.0..2.0),
        number(0.0..1.0),
        prop::option::of(number(-1.0..0.5)),
        prop::option::of(number(1.0..5.0)),
    )
        .prop_map(|(mean, sd, min, max)| pb::MomentDistribution { mean, sd, min, max });
    prop::option::of(prop_oneof![
        number(0.0..2.0).prop_map(Kind::Fixed),
        (number(0.0..1.0), number(1.0..2.0))
            .prop_map(|(min, max)| Kind::Uniform(pb::UniformDistribution { min, max })),
        modal.clone().prop_map(Kind::Triangular),
        modal.prop_map(Kind::Pert),
        moments.clone().prop_map(Kind::Normal),
        moments.prop_map(Kind::Lognormal),
    ])
    .prop_map(|kind| pb::DistributionSpec { kind })
    .boxed()
}

fn stochastic() -> BoxedStrategy<pb::StochasticInputs> {
    use pb::stochastic_inputs::{ApiPrice, Demand};
    let demand = prop::option::of(prop_oneof![
        number(0.0..1.0).prop_map(|volatility| Demand::DemandGbm(pb::DemandGbm { volatility })),
        (present(distribution()), number(0.0..1.0)).prop_map(|(ceiling, volatility)| {
            Demand::DemandLogistic(pb::DemandLogistic {
                ceiling,
                volatility,
            })
        }),
    ]);
    let api_price = prop::option::of(prop_oneof![
        (number(-0.5..0.5), number(0.0..4.0), present(distribution())).prop_map(
            |(drift, cuts, cut_size)| ApiPrice::SameProduct(pb::SameProductPrice {
                annual_drift: drift,
                cuts_per_year: cuts,
                cut_size,
            })
        ),
        (number(0.1..1.0), number(0.0..1.0)).prop_map(|(factor, volatility)| {
            ApiPrice::ConstantCapability(pb::ConstantCapabilityPrice {
                annual_factor: factor,
                volatility,
            })
        }),
    ]);
    let gpu_price = (number(0.0..0.5), number(0.0..1.0), number(0.0..2.0)).prop_map(
        |(decline, volatility, reversion)| pb::GpuPriceSpec {
            annual_decline: decline,
            volatility,
            reversion_per_year: reversion,
        },
    );
    let walk = (number(-0.2..0.2), number(0.0..1.0)).prop_map(|(drift, volatility)| pb::WalkSpec {
        annual_drift: drift,
        volatility,
    });
    let uncertain = (
        id(&[
            "workload.requests_per_day",
            "workload.annual_growth",
            "api.annual_price_decline",
            "self_host.target_utilization",
            "rented.usd_per_gpu_hour",
            "owned.capex_per_gpu",
        ]),
        present(distribution()),
    )
        .prop_map(|(input, distribution)| pb::UncertainInput {
            input,
            distribution,
        });
    (
        demand,
        api_price,
        prop::option::of(gpu_price),
        prop::option::of(walk.clone()),
        prop::option::of(walk),
        number(0.0..0.2),
        prop::collection::vec(uncertain, 0..3),
        prop_oneof![
            3 => Just(Vec::new()),
            1 => prop::collection::vec(number(-1.0..1.0), 0..20),
        ],
    )
        .prop_map(
            |(
                demand,
                api_price,
                gpu_price,
                power_price,
                throughput,
                failures,
                uncertain,
                correlation,
            )| {
                pb::StochasticInputs {
                    demand,
                    api_price,
                    gpu_price,
                    power_price,
                    throughput,
                    annual_failure_rate: failures,
                    uncertain,
                    correlation,
                }
            },
        )
        .boxed()
}

fn simulation_request() -> BoxedStrategy<pb::RunSimulationRequest> {
    (
        present(scenario()),
        present(stochastic()),
        // Valid path counts stay small so that a case that passes every
        // check still finishes quickly.
        count64(1..=2_048),
        any::<u64>(),
        any::<bool>(),
        enumeration(BASIS_MAX),
        prop_oneof![3 => Just(0u64), 1 => 0u64..=512, 1 => Just(u64::MAX)],
        any::<bool>(),
    )
        .prop_map(
            |(
                scenario,
                stochastic,
                paths,
                seed,
                antithetic,
                basis,
                tornado_paths,
                allow_deterministic,
            )| {
                pb::RunSimulationRequest {
                    scenario,
                    stochastic,
                    paths,
                    seed,
                    antithetic,
                    basis,
                    tornado_paths,
                    allow_deterministic,
                    ..Default::default()
                }
            },
        )
        .boxed()
}

#[test]
fn project_never_fails_internally() {
    check(project_request(), async |channel, request| {
        outcome(
            SimulationServiceClient::new(channel.clone())
                .project(request)
                .await,
        )
    });
}

#[test]
fn estimate_throughput_never_fails_internally() {
    check(estimate_request(), async |channel, request| {
        outcome(
            EstimatorServiceClient::new(channel.clone())
                .estimate_throughput(request)
                .await,
        )
    });
}

#[test]
fn run_simulation_never_fails_internally() {
    check(simulation_request(), async |channel, request| {
        outcome(
            SimulationServiceClient::new(channel.clone())
                .run_simulation(request)
                .await,
        )
    });
}

#[test]
fn find_break_even_never_fails_internally() {
    check(
        (present(scenario()), enumeration(BASIS_MAX)),
        async |channel, (scenario, basis)| {
            outcome(
                SimulationServiceClient::new(channel.clone())
                    .find_break_even(pb::FindBreakEvenRequest { scenario, basis })
                    .await,
            )
        },
    );
}

/// A LiteLLM price file of a few records: mapped and unmapped keys, each
/// price present or not and any number (NaN and infinities make the file
/// invalid JSON, which must be INVALID_ARGUMENT too).
fn import_request() -> BoxedStrategy<pb::ImportPricesRequest> {
    const KEYS: &[&str] = &[
        "gpt-4o-mini",
        "gpt-4.1",
        "deepseek/deepseek-chat",
        "claude-sonnet-4-5",
        "gemini/gemini-2.0-flash",
        "claude-3-opus-20240229",
        "acme/unknown-model",
    ];
    const FIELDS: [&str; 6] = [
        "input_cost_per_token",
        "output_cost_per_token",
        "cache_read_input_token_cost",
        "cache_creation_input_token_cost",
        "input_cost_per_token_batches",
        "output_cost_per_token_batches",
    ];
    let figure = prop::option::weighted(0.8, number(1e-8..1e-4));
    let record = (
        prop::sample::select(KEYS),
        prop::collection::vec(figure, FIELDS.len()),
    );
    let date = prop_oneof![
        4 => (2024i32..=2028, 1u32..=12, 1u32..=28)
            .prop_map(|(y, m, d)| format!("{y}-{m:02}-{d:02}")),
        1 => Just(String::new()),
        1 => ".{0,12}",
    ];
    (
        prop::collection::vec(record, 0..6),
        date,
        any::<bool>(),
        prop::option::weighted(0.05, ".{0,40}"),
    )
        .prop_map(|(records, effective_date, dry_run, junk)| {
            let body: Vec<String> = records
                .iter()
                .map(|(key, figures)| {
                    let prices: Vec<String> = FIELDS
                        .iter()
                        .zip(figures)
                        .filter_map(|(f, v)| v.map(|v| format!("\"{f}\": {v:?}")))
                        .collect();
                    format!("\"{key}\": {{{}}}", prices.join(", "))
                })
                .collect();
            let json = junk.unwrap_or_else(|| format!("{{{}}}", body.join(", ")));
            pb::ImportPricesRequest {
                litellm_json: json.into_bytes(),
                effective_date,
                dry_run,
                team: String::new(),
            }
        })
        .boxed()
}

#[test]
fn import_prices_never_fails_internally() {
    check(import_request(), async |channel, request| {
        outcome(
            pb::catalog_service_client::CatalogServiceClient::new(channel.clone())
                .import_prices(request)
                .await,
        )
    });
}
