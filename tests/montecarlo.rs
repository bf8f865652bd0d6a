//! RunSimulation and StreamSimulation over gRPC: reproducible results,
//! streamed progress, limits, and cancellation that frees the server.

mod common;

use std::time::Duration;

use breakeven::grpc::pb;
use breakeven::grpc::pb::simulation_service_client::SimulationServiceClient;
use prost::Message as _;
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

async fn client(server: &common::TestServer) -> SimulationServiceClient<Channel> {
    SimulationServiceClient::new(server.channel().await)
}

/// GPT-4o mini against Llama 3.1 70B FP8 on owned H100s, 24 months.
fn scenario(horizon_months: u32) -> pb::Scenario {
    pb::Scenario {
        name: "risk".into(),
        horizon_months,
        start_month: "2025-06".into(),
        discount_rate: Some(0.08),
        workload: Some(pb::WorkloadSpec {
            requests_per_day: 2_000_000.0,
            input_tokens: 1000.0,
            output_tokens: 250.0,
            annual_growth: Some(0.5),
            ..Default::default()
        }),
        api: Some(pb::ApiOption {
            price_id: "gpt-4o".into(),
            ..Default::default()
        }),
        self_host: Some(pb::SelfHostOption {
            model_id: "llama-3.1-70b".into(),
            gpu_id: "h100-sxm".into(),
            precision: pb::Precision::Fp8.into(),
            deployment: Some(pb::self_host_option::Deployment::Owned(Default::default())),
            ..Default::default()
        }),
        routing: None,
        ..Default::default()
    }
}

fn stochastic() -> pb::StochasticInputs {
    pb::StochasticInputs {
        demand: Some(pb::stochastic_inputs::Demand::DemandGbm(pb::DemandGbm {
            volatility: 0.4,
        })),
        api_price: Some(pb::stochastic_inputs::ApiPrice::SameProduct(
            pb::SameProductPrice {
                annual_drift: -0.1,
                cuts_per_year: 0.5,
                cut_size: Some(pb::DistributionSpec {
                    kind: Some(pb::distribution_spec::Kind::Uniform(
                        pb::UniformDistribution {
                            min: 0.5,
                            max: 0.67,
                        },
                    )),
                }),
            },
        )),
        gpu_price: Some(pb::GpuPriceSpec {
            annual_decline: 0.15,
            volatility: 0.3,
            reversion_per_year: 1.0,
        }),
        uncertain: vec![pb::UncertainInput {
            input: "owned.power_usd_per_kwh".into(),
            distribution: Some(pb::DistributionSpec {
                kind: Some(pb::distribution_spec::Kind::Pert(pb::ModalDistribution {
                    min: 0.05,
                    mode: 0.08,
                    max: 0.15,
                })),
            }),
        }],
        ..Default::default()
    }
}

fn request(paths: u64, horizon_months: u32) -> pb::RunSimulationRequest {
    pb::RunSimulationRequest {
        scenario: Some(scenario(horizon_months)),
        stochastic: Some(stochastic()),
        paths,
        seed: 2025,
        antithetic: true,
        basis: pb::CostBasis::ProfitAndLoss.into(),
        tornado_paths: paths.min(200),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_simulation_reports_distributions_and_repeats_to_the_byte() {
    let server = common::TestServer::start().await;
    let mut client = client(&server).await;
    let first = client
        .run_simulation(request(2_000, 24))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.paths, 2_000);
    assert_eq!(first.seed, 2025);
    assert_eq!(first.months.len(), 24);
    assert!(!first.catalog_version.is_empty() && !first.engine_version.is_empty());
    assert_eq!(first.months[0].date, "2025-06-01");
    for m in &first.months {
        let p = m.cumulative_savings.as_ref().unwrap();
        assert!(p.p5 <= p.p25 && p.p25 <= p.p50 && p.p50 <= p.p75 && p.p75 <= p.p95);
        assert!((0.0..=1.0).contains(&m.p_break_even_by));
    }
    let last = first.months.last().unwrap();
    assert!((last.p_break_even_by + first.p_no_break_even - 1.0).abs() < 1e-12);
    assert_eq!(first.tornado.len(), 1);
    assert_eq!(first.tornado[0].input, "owned.power_usd_per_kwh");
    assert!(
        first
            .rank_correlations
            .iter()
            .any(|r| r.input == "demand at horizon")
    );
    assert!(first.quantile_relative_error > 0.0);

    let again = client
        .run_simulation(request(2_000, 24))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.encode_to_vec(), again.encode_to_vec());
}

#[tokio::test]
async fn a_streamed_simulation_reports_progress_then_the_result() {
    let server = common::TestServer::start().await;
    let mut stream = client(&server)
        .await
        .stream_simulation(request(20_000, 12))
        .await
        .unwrap()
        .into_inner();
    let mut done = Vec::new();
    let mut last = None;
    let mut result = None;
    while let Some(event) = stream.message().await.unwrap() {
        match event.event.unwrap() {
            pb::simulation_event::Event::Progress(p) => {
                assert!(result.is_none(), "progress after the result");
                assert_eq!(p.paths_total, 20_000);
                assert!(p.estimate_paths <= p.paths_done, "{p:?}");
                if p.estimate_paths == 0 {
                    assert_eq!((p.mean_npv_savings, p.p_self_host_cheaper), (0.0, 0.0));
                }
                done.push(p.paths_done);
                last = Some(p);
            }
            pb::simulation_event::Event::Result(r) => result = Some(r),
        }
    }
    assert!(!done.is_empty());
    assert_eq!(done[0], 0, "the first report comes as the work starts");
    assert!(done.windows(2).all(|w| w[1] > w[0]));
    let result = result.unwrap();
    assert_eq!(result.paths, 20_000);
    // The last report covers every path, with the result's own figures.
    let last = last.unwrap();
    assert_eq!((last.paths_done, last.estimate_paths), (20_000, 20_000));
    assert_eq!(
        last.p_self_host_cheaper, result.p_self_host_cheaper,
        "{last:?}"
    );
}

#[tokio::test]
async fn bad_simulation_requests_name_their_field() {
    let server = common::TestServer::start().await;
    let mut client = client(&server).await;
    let mut not_positive_definite = request(10, 12);
    let mut correlation = vec![0.0; 25];
    for i in 0..5 {
        correlation[i * 5 + i] = 1.0;
    }
    for (a, b, v) in [(0, 1, 0.9), (0, 2, 0.9), (1, 2, -0.9)] {
        correlation[a * 5 + b] = v;
        correlation[b * 5 + a] = v;
    }
    not_positive_definite
        .stochastic
        .as_mut()
        .unwrap()
        .correlation = correlation;
    let mut unknown_input = request(10, 12);
    unknown_input.stochastic.as_mut().unwrap().uncertain[0].input = "workload.mood".into();
    let cases = [
        (request(0, 12), "paths"),
        (request(10_000_001, 12), "paths"),
        (not_positive_definite, "stochastic.correlation"),
        (unknown_input, "stochastic.uncertain[0].input"),
        (
            pb::RunSimulationRequest {
                tornado_paths: 500,
                ..request(10, 12)
            },
            "tornado_paths",
        ),
        (request(10, 0), "scenario.horizon_months"),
    ];
    for (req, field) in cases {
        let status = client.run_simulation(req).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        let details = status.get_error_details();
        let fields: Vec<_> = details
            .bad_request()
            .unwrap()
            .field_violations
            .iter()
            .map(|v| v.field.clone())
            .collect();
        assert!(
            fields.iter().any(|f| f == field),
            "{field} not in {fields:?}"
        );
    }
}

/// Retries a small simulation until a slot is free, for at most 30 s.
async fn small_run_succeeds(client: &mut SimulationServiceClient<Channel>) -> bool {
    for _ in 0..1500 {
        match client.run_simulation(request(100, 12)).await {
            Ok(_) => return true,
            Err(s) if s.code() == Code::ResourceExhausted => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(s) => panic!("{s:?}"),
        }
    }
    false
}

#[tokio::test]
async fn simulations_beyond_the_limit_are_refused_and_cancelled_ones_free_their_slot() {
    let server = common::TestServer::start().await;
    let mut client = client(&server).await;
    // Two long runs take both slots; each streams its first progress
    // only once it is running.
    let mut running = Vec::new();
    for _ in 0..breakeven::server::MAX_SIMULATIONS {
        let mut stream = client
            .stream_simulation(request(10_000_000, 240))
            .await
            .unwrap()
            .into_inner();
        let first = stream.message().await.unwrap().unwrap();
        assert!(matches!(
            first.event,
            Some(pb::simulation_event::Event::Progress(_))
        ));
        running.push(stream);
    }
    let refused = client.run_simulation(request(100, 12)).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    // Hanging up cancels them; their slots come back.
    drop(running);
    assert!(small_run_succeeds(&mut client).await);
}

#[tokio::test]
async fn a_deadline_stops_a_unary_simulation() {
    let server = common::TestServer::start().await;
    let mut client = client(&server).await;
    let mut req = tonic::Request::new(request(10_000_000, 240));
    req.set_timeout(Duration::from_millis(300));
    let status = client.run_simulation(req).await.unwrap_err();
    assert!(
        matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{status:?}"
    );
    // The abandoned run stops and gives its slot back.
    assert!(small_run_succeeds(&mut client).await);
    assert!(small_run_succeeds(&mut client).await);
}

/// A simulation in which nothing is random is refused, naming what to set,
/// unless the caller asks for it; drifts alone move every path alike.
#[tokio::test]
async fn a_simulation_with_nothing_random_needs_allow_deterministic() {
    let server = common::TestServer::start().await;
    let mut client = client(&server).await;
    let drift_only = pb::StochasticInputs {
        throughput: Some(pb::WalkSpec {
            annual_drift: 0.3,
            volatility: 0.0,
        }),
        ..Default::default()
    };
    for stochastic in [None, Some(drift_only)] {
        let req = pb::RunSimulationRequest {
            stochastic,
            ..request(64, 12)
        };
        let status = client.run_simulation(req.clone()).await.unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
        for named in ["stochastic.demand", "allow_deterministic"] {
            assert!(status.message().contains(named), "{status:?}");
        }
        let status = client.stream_simulation(req.clone()).await.unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");

        // Asked for, it runs, and every path is the projection.
        let result = client
            .run_simulation(pb::RunSimulationRequest {
                allow_deterministic: true,
                ..req
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(result.paths, 64);
        let last = result.months.last().unwrap();
        let savings = last.cumulative_savings.as_ref().unwrap();
        assert_eq!(savings.p5, savings.p95, "{savings:?}");
    }
}

/// Sobol indices come with a simulation that asks for them, the same
/// bytes on every call, and a request that cannot have them is refused by
/// field.
#[tokio::test]
async fn sobol_indices_attribute_the_variance_to_the_uncertain_inputs() {
    let server = common::TestServer::start().await;
    let mut client = client(&server).await;
    let mut req = request(256, 24);
    let uncertain = &mut req.stochastic.as_mut().unwrap().uncertain;
    uncertain.push(pb::UncertainInput {
        input: "workload.requests_per_day".into(),
        distribution: Some(pb::DistributionSpec {
            kind: Some(pb::distribution_spec::Kind::Uniform(
                pb::UniformDistribution {
                    min: 500_000.0,
                    max: 4_000_000.0,
                },
            )),
        }),
    });
    req.sobol_rows = 400;
    let first = client
        .run_simulation(req.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.sobol_rows, 400);
    let npv: Vec<_> = first
        .sobol
        .iter()
        .filter(|i| i.output == "npv_savings")
        .collect();
    assert_eq!(npv.len(), 2, "{:?}", first.sobol);
    let demand = npv
        .iter()
        .find(|i| i.input == "workload.requests_per_day")
        .unwrap();
    let power = npv
        .iter()
        .find(|i| i.input == "owned.power_usd_per_kwh")
        .unwrap();
    assert!(demand.total > power.total, "{npv:?}");
    for i in &first.sobol {
        assert!(i.first_order_low <= i.first_order && i.first_order <= i.first_order_high);
        assert!(i.total_low <= i.total && i.total <= i.total_high);
    }
    let again = client
        .run_simulation(req.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.encode_to_vec(), first.encode_to_vec());

    let mut none_uncertain = req.clone();
    none_uncertain
        .stochastic
        .as_mut()
        .unwrap()
        .uncertain
        .clear();
    let mut too_many = req.clone();
    too_many.sobol_rows = 50_001;
    for bad in [none_uncertain, too_many] {
        let status = client.run_simulation(bad).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        let fields: Vec<_> = status
            .get_error_details()
            .bad_request()
            .unwrap()
            .field_violations
            .iter()
            .map(|v| v.field.clone())
            .collect();
        assert_eq!(fields, ["sobol_rows"]);
    }
}

#[tokio::test]
async fn investment_figures_come_when_asked_for_and_bad_questions_name_their_field() {
    let server = common::TestServer::start().await;
    let mut client = SimulationServiceClient::new(server.channel().await);
    let plain = client
        .run_simulation(request(2_000, 24))
        .await
        .unwrap()
        .into_inner();
    assert!(plain.investment.is_none());

    let mut asked = request(2_000, 24);
    asked.hurdle_rate = Some(0.1);
    asked.payback_within_months = Some(12);
    let reply = client.run_simulation(asked).await.unwrap().into_inner();
    let i = reply.investment.expect("asked for");
    assert_eq!((i.hurdle_rate, i.payback_within_months), (0.1, 12));
    assert_eq!(i.p_payback_by.len(), 24);
    assert!(i.p_payback_by.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(i.p_payback_within, i.p_payback_by[11]);
    assert!((i.p_payback_by[23] + i.p_no_payback - 1.0).abs() < 1e-12);
    for p in [i.p_no_irr, i.p_irr_above_hurdle] {
        assert!((0.0..=1.0).contains(&p), "{p}");
    }
    assert!(i.p_irr_above_hurdle + i.p_no_irr <= 1.0 + 1e-12);
    // The rest of the result is the same as without the question.
    assert_eq!(reply.npv_savings, plain.npv_savings);

    for (field, edit) in [
        (
            "hurdle_rate",
            (|r: &mut pb::RunSimulationRequest| r.hurdle_rate = Some(-2.0))
                as fn(&mut pb::RunSimulationRequest),
        ),
        ("payback_within_months", |r| {
            r.payback_within_months = Some(0)
        }),
    ] {
        let mut bad = request(100, 12);
        edit(&mut bad);
        let status = client.run_simulation(bad).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status.message().contains(field), "{}", status.message());
    }
}
