//! Saying what you mean: a value given is taken as given (0 included), an
//! unset one takes a default that the answer lists with where it came from,
//! a value out of range is an error naming the field, and a fleet that
//! cannot serve is refused or warned about. Through the generated client
//! against a real server.

mod common;

use breakeven::grpc::pb;
use breakeven::grpc::pb::catalog_service_client::CatalogServiceClient;
use breakeven::grpc::pb::simulation_service_client::SimulationServiceClient;
use breakeven::tco::Scenario;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

fn read(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// A scenario file in the form the command line sends it.
fn wire(path: &str) -> pb::Scenario {
    let scenario = Scenario::from_toml(&read(path)).unwrap();
    pb::Scenario::try_from(&scenario).unwrap()
}

async fn simulation(server: &common::TestServer) -> SimulationServiceClient<Channel> {
    SimulationServiceClient::new(server.channel().await)
}

async fn project(
    server: &common::TestServer,
    scenario: pb::Scenario,
    basis: pb::CostBasis,
) -> Result<pb::ProjectResponse, Status> {
    simulation(server)
        .await
        .project(pb::ProjectRequest {
            scenario: Some(scenario),
            basis: basis.into(),
        })
        .await
        .map(|r| r.into_inner())
}

fn violated_fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_error_details()
        .bad_request()
        .expect("BadRequest details")
        .field_violations
        .iter()
        .map(|v| v.field.clone())
        .collect()
}

fn find<'a>(assumptions: &'a [pb::Assumption], field: &str) -> &'a pb::Assumption {
    assumptions
        .iter()
        .find(|a| a.field == field)
        .unwrap_or_else(|| panic!("{field} is not among the assumptions: {assumptions:#?}"))
}

fn origin(a: &pb::Assumption) -> pb::AssumptionOrigin {
    pb::AssumptionOrigin::try_from(a.origin).unwrap()
}

/// Llama 3.1 8B on H100s bought at catalogue prices against GPT-4o mini:
/// the base of the single-field cases below.
fn owned() -> pb::Scenario {
    pb::Scenario {
        horizon_months: 12,
        start_month: "2025-06".into(),
        workload: Some(pb::WorkloadSpec {
            requests_per_day: 100_000.0,
            input_tokens: 1_000.0,
            output_tokens: 200.0,
            ..Default::default()
        }),
        api: Some(pb::ApiOption {
            price_id: "gpt-4o-mini".into(),
            ..Default::default()
        }),
        self_host: Some(pb::SelfHostOption {
            model_id: "llama-3.1-8b".into(),
            gpu_id: "h100-sxm".into(),
            min_replicas: Some(1),
            deployment: Some(pb::self_host_option::Deployment::Owned(
                pb::OwnedDeployment::default(),
            )),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn owned_with(edit: impl FnOnce(&mut pb::OwnedDeployment)) -> pb::Scenario {
    let mut s = owned();
    if let Some(pb::self_host_option::Deployment::Owned(o)) =
        s.self_host.as_mut().unwrap().deployment.as_mut()
    {
        edit(o);
    }
    s
}

/// The published-style analysis of `tests/data/published-analysis.toml`:
/// $250,000 of hardware paid before month 1, then each month GPT-4o's bill
/// against the electricity of operating hours only. Break-even comes when
/// the hardware is paid back: cost ÷ (monthly API − monthly electricity).
#[tokio::test]
async fn a_published_analysis_reproduces_its_fractional_break_even() {
    let server = common::TestServer::start().await;
    let reply = project(
        &server,
        wire("tests/data/published-analysis.toml"),
        pb::CostBasis::Cash,
    )
    .await
    .unwrap();
    let s = reply.summary.clone().unwrap();

    let hardware: f64 = 8.0 * (25_000.0 + 6_250.0);
    // 100,000 requests on each of 22 operating days, 1,500 tokens in and
    // 500 out, at GPT-4o's $2.50 and $10 per million (prices/openai.toml,
    // from 2024-10-02).
    let api = 22.0 * 100_000.0 * (1_500.0 * 2.5 + 500.0 * 10.0) / 1e6;
    // 8 GPUs at 1,000 W for 8 hours on 22 days, at $0.15 per kWh.
    let electricity = 8.0 * 1.0 * (8.0 * 22.0) * 0.15;
    let hand = hardware / (api - electricity);
    assert!((hand - 13.1314).abs() < 1e-3, "{hand}");

    assert_eq!(s.api_prices_used, ["gpt-4o@2024-10-02"]);
    assert_eq!(s.capex_paid_month_0, hardware);
    let fractional = s.break_even_months_fractional.expect("breaks even");
    assert!(
        (fractional - hand).abs() < 1e-9 * hand,
        "{fractional} against {hand}"
    );
    assert_eq!(s.break_even_month, hand.ceil() as u32);
    let m1 = &reply.months[0];
    assert_eq!(m1.api_cost, api);
    assert!((m1.power - electricity).abs() < 1e-9);
    assert_eq!((m1.colocation, m1.staff, m1.capex_paid), (0.0, 0.0, 0.0));
    assert_eq!(m1.residual_api_cost, 0.0, "the fleet serves all traffic");
    // Cash paid before month 1 is in the running total from the start.
    assert_eq!(m1.cumulative_self_host_cash, hardware + m1.power);
    // The benchmark is used and shown as the scenario's, and the fleet's
    // layout is said.
    assert_eq!(s.output_tokens_per_second_per_gpu, 2_500.0);
    assert_eq!(s.throughput_expected_error, 0.1);
    let a = &reply.assumptions;
    assert_eq!(
        origin(find(a, "self_host.throughput_override")),
        pb::AssumptionOrigin::Scenario
    );
    assert_eq!(find(a, "self_host.layout").value, "1 replica × TP8");
    // With defaults = "none" nothing is a built-in default.
    let defaulted: Vec<_> = a
        .iter()
        .filter(|a| origin(a) == pb::AssumptionOrigin::BuiltInDefault)
        .collect();
    assert!(defaulted.is_empty(), "{defaulted:#?}");
    // Utilisation over operating hours and over the whole month.
    assert!(m1.utilization > 0.0);
    let share = (8.0 * 22.0) / (24.0 * 30.0);
    assert!((m1.utilization_whole_month - m1.utilization * share).abs() < 1e-12);
}

/// An example file's answer lists what it assumed: catalogue prices with
/// their source, built-in defaults with their reason.
#[tokio::test]
async fn an_example_lists_the_catalogue_figures_and_defaults_it_used() {
    let server = common::TestServer::start().await;
    let reply = project(
        &server,
        wire("examples/hybrid-overflow.toml"),
        pb::CostBasis::ProfitAndLoss,
    )
    .await
    .unwrap();
    let a = &reply.assumptions;
    let purchase = find(a, "self_host.deployment.owned.purchase_usd_per_gpu");
    assert_eq!(origin(purchase), pb::AssumptionOrigin::Catalogue);
    assert_eq!(purchase.entry, "h100-sxm");
    assert_eq!(purchase.value, "25000");
    assert!(!purchase.source.is_empty());
    let days = find(a, "workload.days_per_month");
    assert_eq!(origin(days), pb::AssumptionOrigin::BuiltInDefault);
    assert_eq!(days.value, "30");
    assert!(days.source.contains("convention"), "{}", days.source);
    // Given in the file.
    let colocation = find(a, "self_host.deployment.owned.colocation_usd_per_kw_month");
    assert_eq!(origin(colocation), pb::AssumptionOrigin::Scenario);
    assert_eq!(colocation.value, "184");
    assert_eq!(find(a, "self_host.layout").value, "8 replicas × TP2");
    for x in a {
        assert_ne!(origin(x), pb::AssumptionOrigin::Unspecified, "{x:?}");
        if origin(x) != pb::AssumptionOrigin::Scenario {
            assert!(!x.source.is_empty(), "{x:?} says where it came from");
        }
    }
    // The same list comes with FindBreakEven and simulations.
    let mut client = simulation(&server).await;
    let b = client
        .find_break_even(pb::FindBreakEvenRequest {
            scenario: Some(wire("examples/hybrid-overflow.toml")),
            basis: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(b.assumptions, reply.assumptions);
    let sim = client
        .run_simulation(pb::RunSimulationRequest {
            scenario: Some(wire("examples/hybrid-overflow.toml")),
            paths: 64,
            seed: 1,
            allow_deterministic: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(sim.assumptions, reply.assumptions);
}

/// Zero is taken as zero where zero means something.
#[tokio::test]
async fn zero_costs_are_taken_as_zero_not_replaced_by_the_catalogue() {
    let server = common::TestServer::start().await;
    let catalogue = project(&server, owned(), pb::CostBasis::Cash)
        .await
        .unwrap();
    let zeros = project(
        &server,
        owned_with(|o| {
            o.server_usd_per_gpu = Some(0.0);
            o.host_watts_per_gpu = Some(0.0);
            o.colocation_usd_per_kw_month = Some(0.0);
            o.cost_of_capital = Some(0.0);
        }),
        pb::CostBasis::Cash,
    )
    .await
    .unwrap();
    let (c, z) = (&catalogue.months[0], &zeros.months[0]);
    assert_eq!(c.gpus_held, z.gpus_held);
    let gpus = f64::from(z.gpus_held);
    // The catalogue's H100: $25,000 plus $8,750 of server per GPU.
    assert_eq!(c.capex_paid, gpus * (25_000.0 + 8_750.0));
    assert_eq!(z.capex_paid, gpus * 25_000.0);
    assert_eq!(z.colocation, 0.0);
    assert_eq!(z.cost_of_capital, 0.0);
    // 700 W × 70% with no host watts, 720 hours at 8 ¢.
    assert!((z.power - gpus * 0.49 * 720.0 * 0.08).abs() < 1e-6);
    let server_cost = find(
        &zeros.assumptions,
        "self_host.deployment.owned.server_usd_per_gpu",
    );
    assert_eq!(
        (origin(server_cost), server_cost.value.as_str()),
        (pb::AssumptionOrigin::Scenario, "0")
    );
    let colocation = find(
        &catalogue.assumptions,
        "self_host.deployment.owned.colocation_usd_per_kw_month",
    );
    assert_eq!(origin(colocation), pb::AssumptionOrigin::BuiltInDefault);
    assert_eq!(colocation.value, "184");
}

/// A value out of range is an error naming the field, never replaced by a
/// default.
#[tokio::test]
async fn out_of_range_values_are_errors_naming_the_field() {
    let server = common::TestServer::start().await;
    let cases: Vec<(pb::Scenario, &str)> = vec![
        (
            owned_with(|o| o.depreciation_months = Some(0)),
            "scenario.self_host.deployment.owned.depreciation_months",
        ),
        (
            owned_with(|o| o.lot_gpus = Some(0)),
            "scenario.self_host.deployment.owned.lot_gpus",
        ),
        (
            {
                let mut s = owned();
                s.workload.as_mut().unwrap().peak_to_average = Some(0.0);
                s
            },
            "scenario.workload.peak_to_average",
        ),
        (
            {
                let mut s = owned();
                s.workload.as_mut().unwrap().days_per_month = Some(0.0);
                s
            },
            "scenario.workload.days_per_month",
        ),
        (
            {
                let mut s = owned();
                s.workload.as_mut().unwrap().load_shape = vec![1.0; 23];
                s
            },
            "scenario.workload.load_shape",
        ),
        (
            {
                // The busiest hour is 3 times the average; a peak of 2
                // cannot be.
                let mut s = owned();
                let w = s.workload.as_mut().unwrap();
                w.load_shape = [vec![3.0; 8], vec![0.0; 16]].concat();
                w.peak_to_average = Some(2.0);
                s
            },
            "scenario.workload.peak_to_average",
        ),
        (
            {
                let mut s = owned();
                s.self_host.as_mut().unwrap().tokenizer_ratio = Some(0.0);
                s
            },
            "scenario.self_host.tokenizer_ratio",
        ),
        (
            {
                let mut s = owned();
                s.self_host.as_mut().unwrap().quality_factor = Some(0.0);
                s
            },
            "scenario.self_host.quality_factor",
        ),
        (
            owned_with(|o| {
                o.watts_per_gpu = Some(900.0);
                o.load_fraction = Some(0.5);
            }),
            "scenario.self_host.deployment.owned.watts_per_gpu",
        ),
    ];
    for (scenario, field) in cases {
        let status = project(&server, scenario, pb::CostBasis::Cash)
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), [field]);
    }
}

/// With `defaults = "none"` every unset cost and sizing field is named.
#[tokio::test]
async fn defaults_none_requires_every_field() {
    let server = common::TestServer::start().await;
    let mut s = owned();
    s.defaults = "none".into();
    let status = project(&server, s, pb::CostBasis::Cash).await.unwrap_err();
    let fields = violated_fields(&status);
    for field in [
        "scenario.discount_rate",
        "scenario.workload.peak_to_average",
        "scenario.self_host.target_utilization",
        "scenario.self_host.deployment.owned.purchase_usd_per_gpu",
        "scenario.self_host.deployment.owned.server_usd_per_gpu",
        "scenario.self_host.deployment.owned.colocation_usd_per_kw_month",
        "scenario.self_host.deployment.owned.staff_usd_per_month",
        "scenario.self_host.deployment.owned.lot_gpus",
    ] {
        assert!(fields.iter().any(|f| f == field), "{field} in {fields:?}");
    }
    // Given, min_replicas is not asked for again.
    assert!(
        !fields
            .iter()
            .any(|f| f == "scenario.self_host.min_replicas")
    );
    let mut s = owned();
    s.defaults = "some".into();
    let status = project(&server, s, pb::CostBasis::Cash).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["scenario.defaults"]);
}

fn overflow(model: &str, precision: pb::Precision, gpus: u32, tp: u32) -> pb::Scenario {
    let mut s = owned();
    s.routing = Some(pb::Routing {
        mode: Some(pb::routing::Mode::OverflowGpus(gpus)),
    });
    let h = s.self_host.as_mut().unwrap();
    h.model_id = model.into();
    h.precision = precision.into();
    h.tensor_parallel = tp;
    s
}

/// A fixed fleet that cannot form one replica is refused; GPUs a layout
/// leaves idle and a fleet below its minimum replicas are warned about;
/// any group size the model and node allow is used to fill the fleet.
#[tokio::test]
async fn fixed_fleets_are_laid_out_or_refused_never_silently_empty() {
    let server = common::TestServer::start().await;
    let status = project(
        &server,
        overflow("llama-3.1-70b", pb::Precision::Fp8, 6, 8),
        pb::CostBasis::Cash,
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("routing.overflow.gpus"),
        "{status:?}"
    );

    // 7 GPUs at TP2: three replicas and one idle GPU, said so.
    let reply = project(
        &server,
        overflow("llama-3.1-70b", pb::Precision::Fp8, 7, 2),
        pb::CostBasis::Cash,
    )
    .await
    .unwrap();
    assert_eq!(reply.months[0].replicas_needed, 3);
    assert_eq!(
        find(&reply.assumptions, "self_host.layout").value,
        "3 replicas × TP2"
    );
    assert!(
        reply
            .warnings
            .iter()
            .any(|w| w.contains("1 GPUs are paid for and idle")),
        "{:?}",
        reply.warnings
    );
    // One replica where two are the minimum.
    let reply = project(
        &server,
        {
            let mut s = overflow("llama-3.1-70b", pb::Precision::Fp8, 2, 2);
            s.self_host.as_mut().unwrap().min_replicas = Some(2);
            s
        },
        pb::CostBasis::Cash,
    )
    .await
    .unwrap();
    assert!(
        reply.warnings.iter().any(|w| w.contains("min_replicas")),
        "{:?}",
        reply.warnings
    );

    // Mistral Large 2 in BF16 needs four H100s; six make one group of six
    // (its 96 heads split six ways), not one of four and two idle.
    let reply = project(
        &server,
        overflow("mistral-large-2", pb::Precision::Bf16, 6, 0),
        pb::CostBasis::Cash,
    )
    .await
    .unwrap();
    assert_eq!(reply.summary.unwrap().tensor_parallel, 6);
    assert_eq!(
        find(&reply.assumptions, "self_host.layout").value,
        "1 replica × TP6"
    );
    assert!(reply.warnings.is_empty(), "{:?}", reply.warnings);
}

/// A fixed fleet serves each hour of the day's shape up to its capacity:
/// a day given by the caller is used as given (its busiest hour becomes
/// the peak), and without one the default day is listed among the
/// assumptions.
#[tokio::test]
async fn a_fixed_fleet_serves_the_day_hour_by_hour() {
    let server = common::TestServer::start().await;
    let mut s = overflow("llama-3.1-70b", pb::Precision::Fp8, 2, 2);
    let default_day = project(&server, s.clone(), pb::CostBasis::Cash)
        .await
        .unwrap();
    assert_eq!(
        origin(find(&default_day.assumptions, "workload.load_shape")),
        pb::AssumptionOrigin::BuiltInDefault
    );
    // Far more traffic than the fleet serves: the default day has an empty
    // midnight hour, the flat day none, so the fleet serves 24/23 as much.
    s.workload.as_mut().unwrap().requests_per_day = 1e9;
    let tent = project(&server, s.clone(), pb::CostBasis::Cash)
        .await
        .unwrap();
    s.workload.as_mut().unwrap().load_shape = vec![5.0; 24];
    s.workload.as_mut().unwrap().peak_to_average = None;
    let flat = project(&server, s.clone(), pb::CostBasis::Cash)
        .await
        .unwrap();
    let (a, b) = (
        tent.months.last().unwrap().self_hosted_requests_per_day,
        flat.months.last().unwrap().self_hosted_requests_per_day,
    );
    assert!((b / a - 24.0 / 23.0).abs() < 1e-9, "{a} {b}");
    let peak = find(&flat.assumptions, "workload.peak_to_average");
    assert_eq!(peak.value, "1");
    assert_eq!(origin(peak), pb::AssumptionOrigin::Derived);
    assert_eq!(
        origin(find(&flat.assumptions, "workload.load_shape")),
        pb::AssumptionOrigin::Scenario
    );
}

/// A measured throughput replaces the estimator's; in requests per second
/// per replica as well as in tokens per second per GPU.
#[tokio::test]
async fn a_throughput_override_sizes_the_fleet() {
    let server = common::TestServer::start().await;
    let mut s = owned();
    s.self_host.as_mut().unwrap().throughput_override = Some(pb::ThroughputOverride {
        requests_per_second_per_replica: Some(1.0),
        ..Default::default()
    });
    s.self_host.as_mut().unwrap().target_utilization = Some(1.0);
    s.workload.as_mut().unwrap().peak_to_average = Some(1.0);
    let reply = project(&server, s, pb::CostBasis::Cash).await.unwrap();
    let summary = reply.summary.unwrap();
    assert_eq!(summary.replica_requests_per_second, 1.0);
    assert_eq!(summary.throughput_expected_error, 0.0);
    // 100,000 a day at one request a second a replica.
    assert_eq!(
        reply.months[0].replicas_needed,
        (100_000.0_f64 / 86_400.0).ceil() as u32
    );
    let mut s = owned();
    s.self_host.as_mut().unwrap().throughput_override = Some(pb::ThroughputOverride::default());
    let status = project(&server, s, pb::CostBasis::Cash).await.unwrap_err();
    assert_eq!(
        violated_fields(&status),
        ["scenario.self_host.throughput_override"]
    );
}

/// A workload given as token volumes is costed at those volumes.
#[tokio::test]
async fn a_token_volume_workload_is_costed_at_its_volumes() {
    let server = common::TestServer::start().await;
    let mut s = owned();
    let w = s.workload.as_mut().unwrap();
    w.requests_per_day = 0.0;
    w.input_tokens = 0.0;
    w.output_tokens = 0.0;
    w.tokens_per_month = Some(pb::TokensPerMonth {
        total: Some(4e9),
        input_share: Some(0.75),
        ..Default::default()
    });
    let reply = project(&server, s, pb::CostBasis::Cash).await.unwrap();
    let m = &reply.months[0];
    assert!((m.input_tokens - 3e9).abs() < 1.0, "{}", m.input_tokens);
    assert!((m.output_tokens - 1e9).abs() < 1.0, "{}", m.output_tokens);
    // GPT-4o mini: $0.15 in, $0.60 out per million.
    assert!((m.api_cost - (3e3 * 0.15 + 1e3 * 0.60)).abs() < 1e-6);
    let shape = find(&reply.assumptions, "workload.input_tokens");
    assert_eq!(origin(shape), pb::AssumptionOrigin::BuiltInDefault);
    assert_eq!(shape.value, "750");
    let rpd = find(&reply.assumptions, "workload.requests_per_day");
    assert_eq!(origin(rpd), pb::AssumptionOrigin::Derived);
}

/// A duty cycle sizes for its hours and prices idle power outside them.
#[tokio::test]
async fn a_duty_cycle_sizes_for_operating_hours_and_charges_idle_power() {
    let server = common::TestServer::start().await;
    let mut s = owned_with(|o| {
        o.idle_watts_per_gpu = Some(100.0);
        o.host_watts_per_gpu = Some(0.0);
        o.load_fraction = Some(1.0);
    });
    s.workload.as_mut().unwrap().duty_cycle = Some(pb::DutyCycle {
        hours_per_day: 12.0,
        days_per_month: 20.0,
    });
    let reply = project(&server, s, pb::CostBasis::Cash).await.unwrap();
    let m = &reply.months[0];
    let gpus = f64::from(m.gpus_held);
    // 700 W for 240 operating hours, 100 W for the other 480, at 8 ¢.
    let hand = gpus * (0.7 * 240.0 + 0.1 * 480.0) * 0.08;
    assert!((m.power - hand).abs() < 1e-6, "{} against {hand}", m.power);
    // 20 days of traffic.
    assert!((m.input_tokens - 20.0 * 100_000.0 * 1_000.0).abs() < 1.0);
    assert!(m.utilization_whole_month < m.utilization);
}

/// A GPU bought outright needs no rental rates; renting it then needs a
/// rate of its own.
#[tokio::test]
async fn an_owned_custom_gpu_needs_no_rental_rates() {
    let server = common::TestServer::start().await;
    let toml =
        read("hardware/h100-sxm.toml").replacen("id = \"h100-sxm\"", "id = \"acme-h100-owned\"", 1);
    // Cut both rental sections (each ends at the next blank line).
    let mut kept = Vec::new();
    let mut skipping = false;
    for line in toml.lines() {
        if line.starts_with('[') {
            skipping = line.starts_with("[rental");
        }
        if !skipping {
            kept.push(line);
        }
    }
    let mut catalog = CatalogServiceClient::new(server.channel().await);
    catalog
        .create_catalog_entry(pb::CreateCatalogEntryRequest {
            kind: pb::CatalogEntryKind::Gpu.into(),
            name: "acme-h100-owned".into(),
            team: String::new(),
            toml: kept.join("\n"),
        })
        .await
        .unwrap();
    let mut s = owned();
    s.self_host.as_mut().unwrap().gpu_id = "acme-h100-owned".into();
    project(&server, s.clone(), pb::CostBasis::Cash)
        .await
        .unwrap();
    s.self_host.as_mut().unwrap().deployment = Some(pb::self_host_option::Deployment::Rented(
        pb::RentedDeployment::default(),
    ));
    let status = project(&server, s, pb::CostBasis::Cash).await.unwrap_err();
    assert_eq!(
        violated_fields(&status),
        ["scenario.self_host.deployment.rented.usd_per_gpu_hour"]
    );
}
