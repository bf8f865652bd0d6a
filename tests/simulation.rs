//! SimulationService through the generated client against a real server.

mod common;

use breakeven::grpc::pb;
use breakeven::grpc::pb::simulation_service_client::SimulationServiceClient;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

async fn simulation(server: &common::TestServer) -> SimulationServiceClient<Channel> {
    SimulationServiceClient::new(server.channel().await)
}

/// 100,000 requests a day of 1,000 tokens in and 200 out.
fn workload() -> pb::WorkloadSpec {
    pb::WorkloadSpec {
        requests_per_day: 100_000.0,
        input_tokens: 1_000.0,
        output_tokens: 200.0,
        peak_to_average: Some(2.0),
        ..Default::default()
    }
}

/// Twelve months from June 2025: GPT-4o mini against Llama 3.1 8B in BF16
/// on H100 SXM rented at $2 per GPU-hour, one replica at minimum.
fn scenario() -> pb::Scenario {
    pb::Scenario {
        name: "gpt-4o-mini vs llama-3.1-8b".into(),
        horizon_months: 12,
        start_month: "2025-06".into(),
        discount_rate: None,
        workload: Some(workload()),
        api: Some(pb::ApiOption {
            price_id: "gpt-4o-mini".into(),
            ..Default::default()
        }),
        self_host: Some(pb::SelfHostOption {
            model_id: "llama-3.1-8b".into(),
            gpu_id: "h100-sxm".into(),
            precision: pb::Precision::Bf16.into(),
            target_utilization: Some(0.5),
            min_replicas: Some(1),
            deployment: Some(pb::self_host_option::Deployment::Rented(
                pb::RentedDeployment {
                    rate: "custom".into(),
                    usd_per_gpu_hour: Some(2.0),
                    annual_price_decline: Some(0.0),
                },
            )),
            ..Default::default()
        }),
        routing: None,
        ..Default::default()
    }
}

/// `scenario()` with its requests per day replaced.
fn at_volume(requests_per_day: f64) -> pb::Scenario {
    let mut s = scenario();
    s.workload.as_mut().unwrap().requests_per_day = requests_per_day;
    s
}

/// `scenario()` on H100s bought at catalogue prices ($25,000 + $8,750 per
/// GPU, lots of 8) and run with the documented defaults.
fn owned() -> pb::Scenario {
    let mut s = scenario();
    s.self_host.as_mut().unwrap().deployment = Some(pb::self_host_option::Deployment::Owned(
        pb::OwnedDeployment {
            staff_usd_per_month: Some(2_000.0),
            resale_fraction: Some(0.4),
            ..Default::default()
        },
    ));
    s
}

/// The API bill of a 30-day month at `input`/`output` $ per million tokens.
fn hand_api_cost(requests_per_day: f64, input: f64, output: f64) -> f64 {
    30.0 * requests_per_day * (1_000.0 * input + 200.0 * output) / 1e6
}

fn cents(x: f64) -> i64 {
    (x * 100.0).round() as i64
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
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

/// The fields named by an INVALID_ARGUMENT status's BadRequest details.
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

/// Summary and month rows agree: totals are the last cumulative values,
/// cumulative columns are running sums, the break-even month and date match.
fn assert_consistent(label: &str, reply: &pb::ProjectResponse, horizon: u32) {
    let months = &reply.months;
    assert_eq!(months.len(), horizon as usize, "{label}");
    let (mut api, mut pnl, mut cash) = (0.0, 0.0, 0.0);
    for (i, m) in months.iter().enumerate() {
        assert_eq!(m.month, i as u32 + 1, "{label}");
        api += m.api_cost;
        pnl += m.self_host_pnl;
        cash += m.self_host_cash;
        assert!(close(m.cumulative_api, api), "{label} month {}", m.month);
        assert!(
            close(m.cumulative_self_host_pnl, pnl),
            "{label} month {}",
            m.month
        );
        assert!(
            close(m.cumulative_self_host_cash, cash),
            "{label} month {}",
            m.month
        );
    }
    let s = reply.summary.as_ref().expect("summary");
    let last = months.last().unwrap();
    assert_eq!(s.total_api, last.cumulative_api, "{label}");
    assert_eq!(
        s.total_self_host_pnl, last.cumulative_self_host_pnl,
        "{label}"
    );
    assert_eq!(
        s.total_self_host_cash, last.cumulative_self_host_cash,
        "{label}"
    );
    assert_eq!(s.breaks_even, s.break_even_month > 0, "{label}");
    if s.breaks_even {
        let row = &months[s.break_even_month as usize - 1];
        assert_eq!(s.break_even_date, row.date, "{label}");
        assert!(s.break_even_date.ends_with("-01"), "{label}");
        assert!(s.first_crossover_month <= s.break_even_month, "{label}");
    } else {
        assert!(s.break_even_date.is_empty(), "{label}");
    }
    assert!(!s.api_prices_used.is_empty(), "{label}");
}

#[tokio::test]
async fn project_prices_month_one_from_the_catalogue_and_runs_the_totals() {
    let server = common::TestServer::start().await;
    let reply = project(&server, scenario(), pb::CostBasis::Unspecified)
        .await
        .unwrap();
    assert_consistent("base", &reply, 12);
    let m1 = &reply.months[0];
    assert_eq!(m1.date, "2025-06-01");
    assert_eq!(reply.months[11].date, "2026-05-01");
    // GPT-4o mini: $0.15 in and $0.60 out per million → $27 a day → $810.
    assert_eq!(
        cents(m1.api_cost),
        cents(hand_api_cost(100_000.0, 0.15, 0.60))
    );
    assert_eq!(cents(m1.api_cost), 81_000);
    assert_eq!(m1.input_tokens, 3e9);
    let s = reply.summary.unwrap();
    assert_eq!(s.basis(), pb::CostBasis::ProfitAndLoss);
    assert_eq!(s.api_prices_used, ["gpt-4o-mini@2024-07-18"]);
    assert!(s.tensor_parallel >= 1);
    assert!(s.replica_requests_per_second > 0.0);
    assert!(s.output_tokens_per_second_per_gpu > 0.0);
    assert!(s.break_even_volume.is_some());
}

#[tokio::test]
async fn the_summary_agrees_with_the_months_whether_or_not_it_breaks_even() {
    let server = common::TestServer::start().await;
    let cases = [
        ("100 requests/day, never", at_volume(100.0), false),
        ("2M requests/day, rented", at_volume(2_000_000.0), true),
        ("owned", owned(), false),
        (
            // Sold after 12 months at 40% of book, the fleet books a loss on
            // disposal that 2M requests a day do not make up; kept, it
            // breaks even.
            "owned, 2M requests/day, sold",
            {
                let mut s = owned();
                s.workload.as_mut().unwrap().requests_per_day = 2_000_000.0;
                s
            },
            false,
        ),
        (
            "owned, 2M requests/day, kept",
            {
                let mut s = owned();
                s.workload.as_mut().unwrap().requests_per_day = 2_000_000.0;
                if let Some(pb::self_host_option::Deployment::Owned(o)) =
                    s.self_host.as_mut().unwrap().deployment.as_mut()
                {
                    o.terminal = Some("keep".into());
                }
                s
            },
            true,
        ),
    ];
    for (label, s, breaks_even) in cases {
        let horizon = s.horizon_months;
        for basis in [pb::CostBasis::ProfitAndLoss, pb::CostBasis::Cash] {
            let reply = project(&server, s.clone(), basis).await.unwrap();
            let label = format!("{label} ({basis:?})");
            assert_consistent(&label, &reply, horizon);
            let summary = reply.summary.unwrap();
            assert_eq!(summary.basis(), basis, "{label}");
            if basis == pb::CostBasis::ProfitAndLoss {
                assert_eq!(summary.breaks_even, breaks_even, "{label}");
            }
        }
    }
}

#[tokio::test]
async fn owned_gpus_show_depreciation_power_colocation_and_capex_in_cash() {
    let server = common::TestServer::start().await;
    let pnl = project(&server, owned(), pb::CostBasis::ProfitAndLoss)
        .await
        .unwrap();
    let cash = project(&server, owned(), pb::CostBasis::Cash)
        .await
        .unwrap();
    let m1 = &pnl.months[0];
    assert_eq!(m1.rental, 0.0);
    assert_eq!(m1.gpus_held % 8, 0, "bought in lots of one 8-GPU server");
    for (line, value) in [
        ("depreciation", m1.depreciation),
        ("cost_of_capital", m1.cost_of_capital),
        ("power", m1.power),
        ("colocation", m1.colocation),
        ("staff", m1.staff),
    ] {
        assert!(value > 0.0, "{line} = {value}");
    }
    // Catalogue H100 SXM: $25,000 plus $8,750 of server per GPU.
    assert_eq!(
        cents(m1.capex_paid),
        cents(f64::from(m1.gpus_held) * 33_750.0)
    );
    // 60 months by default.
    assert_eq!(cents(m1.depreciation), cents(m1.capex_paid / 60.0));
    assert_eq!(
        cents(m1.self_host_pnl),
        cents(m1.depreciation + m1.cost_of_capital + m1.power + m1.colocation + m1.staff)
    );
    assert_eq!(
        cents(m1.self_host_cash),
        cents(m1.capex_paid + m1.power + m1.colocation + m1.staff)
    );
    let last = pnl.months.last().unwrap();
    assert!(last.resale > 0.0);

    // The cash view front-loads the purchase: it is dearer early, and its
    // summary says which basis it used.
    let (p, c) = (pnl.summary.unwrap(), cash.summary.unwrap());
    assert_eq!(c.basis(), pb::CostBasis::Cash);
    assert!(m1.cumulative_self_host_cash > m1.cumulative_self_host_pnl);
    assert_eq!(p.total_self_host_cash, c.total_self_host_cash);
    assert!(
        c.self_host_cost_per_million_tokens != p.self_host_cost_per_million_tokens,
        "each basis prices its own view"
    );
}

#[tokio::test]
async fn a_price_change_inside_the_horizon_applies_from_the_next_month() {
    let server = common::TestServer::start().await;
    let mut s = scenario();
    s.api.as_mut().unwrap().price_id = "deepseek-v3".into();
    s.start_month = "2025-01".into();
    s.horizon_months = 3;
    let reply = project(&server, s, pb::CostBasis::Unspecified)
        .await
        .unwrap();
    // $0.14/$0.28 until 2025-02-08, then $0.27/$1.10; a month is priced on
    // its first day, so February is still at the old price.
    let per_request = |m: &pb::MonthRow| m.api_cost / (30.0 * m.requests_per_day);
    let months = &reply.months;
    assert_eq!(
        cents(months[0].api_cost),
        cents(hand_api_cost(100_000.0, 0.14, 0.28))
    );
    assert_eq!(
        cents(months[1].api_cost),
        cents(hand_api_cost(100_000.0, 0.14, 0.28))
    );
    assert_eq!(
        cents(months[2].api_cost),
        cents(hand_api_cost(100_000.0, 0.27, 1.10))
    );
    assert!(per_request(&months[2]) > per_request(&months[0]));
    assert_eq!(
        reply.summary.unwrap().api_prices_used,
        ["deepseek-v3@2024-12-26", "deepseek-v3@2025-02-08"]
    );
}

#[tokio::test]
async fn a_self_hosted_fraction_leaves_the_rest_on_the_api() {
    let server = common::TestServer::start().await;
    let mut s = scenario();
    s.routing = Some(pb::Routing {
        mode: Some(pb::routing::Mode::SelfHostedFraction(0.25)),
    });
    let reply = project(&server, s, pb::CostBasis::Unspecified)
        .await
        .unwrap();
    for m in &reply.months {
        assert_eq!(
            cents(m.residual_api_cost),
            cents(0.75 * m.api_cost),
            "month {}",
            m.month
        );
        assert_eq!(m.self_hosted_requests_per_day, 25_000.0);
        assert_eq!(m.api_requests_per_day_in_self_host, 75_000.0);
        assert_eq!(
            cents(m.self_host_pnl),
            cents(m.rental + m.residual_api_cost)
        );
    }
}

#[tokio::test]
async fn an_overflow_fleet_serves_what_it_can_and_spills_the_rest() {
    let server = common::TestServer::start().await;
    let mut s = at_volume(5_000_000.0);
    s.routing = Some(pb::Routing {
        mode: Some(pb::routing::Mode::OverflowGpus(2)),
    });
    let reply = project(&server, s, pb::CostBasis::Unspecified)
        .await
        .unwrap();
    for m in &reply.months {
        assert_eq!(m.gpus_held, 2, "month {}", m.month);
        assert!(m.api_requests_per_day_in_self_host > 0.0);
        assert!(m.self_hosted_requests_per_day > 0.0);
        assert!(close(
            m.self_hosted_requests_per_day + m.api_requests_per_day_in_self_host,
            m.requests_per_day
        ));
        assert!(m.residual_api_cost > 0.0 && m.residual_api_cost < m.api_cost);
        assert_eq!(cents(m.rental), cents(2.0 * 720.0 * 2.0));
    }
}

#[tokio::test]
async fn find_break_even_reports_the_volume_and_six_sensitivities() {
    let server = common::TestServer::start().await;
    let mut s = at_volume(2_000_000.0);
    s.horizon_months = 24;
    let reply = simulation(&server)
        .await
        .find_break_even(pb::FindBreakEvenRequest {
            scenario: Some(s),
            basis: pb::CostBasis::ProfitAndLoss.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let volume = reply.break_even_volume.unwrap();
    assert!(volume.reached, "{volume:?}");
    assert!(volume.requests_per_day > 0.0 && volume.requests_per_day < 2_000_000.0);
    assert!(volume.requests_per_day_per_replica > 0.0);
    // $2 per GPU-hour × 720 hours.
    assert_eq!(cents(volume.monthly_cost_per_gpu), 144_000);
    assert!(reply.breaks_even);
    assert!(reply.break_even_month >= 1 && reply.first_crossover_month <= reply.break_even_month);

    let mut cases: Vec<(String, f64)> = reply
        .sensitivities
        .iter()
        .map(|c| (c.input.clone(), c.change))
        .collect();
    cases.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let expected: Vec<(String, f64)> = ["annual_growth", "api_price", "gpu_price"]
        .into_iter()
        .flat_map(|input| [(input.to_string(), -0.2), (input.to_string(), 0.2)])
        .collect();
    assert_eq!(cases, expected);
    for c in &reply.sensitivities {
        assert_eq!(c.breaks_even, c.break_even_month > 0, "{c:?}");
        assert!(c.horizon_savings.is_finite(), "{c:?}");
        // The deprecated field is the same figure with the other sign.
        #[allow(deprecated)]
        let difference = c.horizon_difference;
        assert_eq!(difference, -c.horizon_savings, "{c:?}");
    }

    let case = |input: &str, change: f64| {
        reply
            .sensitivities
            .iter()
            .find(|c| c.input == input && c.change == change)
            .unwrap()
    };
    let volume_of = |c: &pb::SensitivityCase| {
        let v = c.break_even_volume.as_ref().unwrap();
        assert!(v.reached, "{c:?}");
        v.requests_per_day
    };
    // A dearer API makes self-hosting pay at a lower volume; dearer GPUs at
    // a higher one.
    assert!(volume_of(case("api_price", 0.2)) < volume_of(case("api_price", -0.2)));
    assert!(volume_of(case("gpu_price", -0.2)) < volume_of(case("gpu_price", 0.2)));
    // Savings are API minus self-host cost: a dearer API saves more.
    assert!(case("api_price", 0.2).horizon_savings > case("api_price", -0.2).horizon_savings);

    // The investment figures: rented GPUs need no outlay, so the
    // incremental flows are savings from month 1 on and never change sign:
    // no IRR, stated, and payback at the first month of savings that last.
    let r = reply.returns.unwrap();
    assert_eq!(r.flows.len(), 25);
    assert_eq!(r.flows[0], 0.0);
    if r.flows.iter().all(|&c| c >= 0.0) {
        assert_eq!(r.irr, None);
        assert!(r.irr_note.contains("never change sign"), "{}", r.irr_note);
    }
    assert!(r.payback_month.is_some());
    assert!(r.discounted_payback_month >= r.payback_month);
    assert!(r.roi.unwrap() > 0.0);
    let undiscounted: f64 = r.flows.iter().sum();
    assert!(r.npv > 0.0 && r.npv < undiscounted);
}

#[tokio::test]
async fn an_owned_fleet_paid_up_front_has_an_irr_that_zeroes_its_flows() {
    let server = common::TestServer::start().await;
    let mut s = owned();
    s.workload.as_mut().unwrap().requests_per_day = 2_000_000.0;
    let reply = project(&server, s, pb::CostBasis::Cash).await.unwrap();
    let r = reply.summary.unwrap().returns.unwrap();
    // The purchase of month 1 is an outflow; the savings come after.
    assert!(r.flows[1] < 0.0, "{:?}", r.flows);
    let irr = r.irr.expect("one sign change: one IRR");
    // Σ c_t (1 + irr)^(−t/12) = 0, as a spreadsheet's NPV would check it.
    let at_irr: f64 = r
        .flows
        .iter()
        .enumerate()
        .map(|(t, c)| c * (1.0 + irr).powf(-(t as f64) / 12.0))
        .sum();
    let scale: f64 = r.flows.iter().map(|c| c.abs()).sum();
    assert!(at_irr.abs() < 1e-9 * scale, "{at_irr}");
}

#[tokio::test]
async fn a_dearer_api_breaks_even_at_a_lower_volume() {
    let server = common::TestServer::start().await;
    let mut client = simulation(&server).await;
    let mut volumes = Vec::new();
    // GPT-4o ($2.50/$10) against GPT-4o mini ($0.15/$0.60), same workload.
    for price_id in ["gpt-4o-mini", "gpt-4o"] {
        let mut s = scenario();
        s.api.as_mut().unwrap().price_id = price_id.into();
        let volume = client
            .find_break_even(pb::FindBreakEvenRequest {
                scenario: Some(s),
                basis: pb::CostBasis::Unspecified.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .break_even_volume
            .unwrap();
        assert!(volume.reached, "{price_id}: {volume:?}");
        volumes.push(volume.requests_per_day);
    }
    assert!(volumes[1] < volumes[0], "{volumes:?}");
}

fn axis(input: pb::MapInput, from: f64, to: f64, steps: u32) -> Option<pb::MapAxis> {
    Some(pb::MapAxis {
        input: input.into(),
        from,
        to,
        steps,
    })
}

#[tokio::test]
async fn break_even_map_covers_the_grid_and_locates_the_boundary() {
    let server = common::TestServer::start().await;
    let reply = simulation(&server)
        .await
        .break_even_map(pb::BreakEvenMapRequest {
            scenario: Some(scenario()),
            x: axis(pb::MapInput::RequestsPerDay, 10_000.0, 2_000_000.0, 5),
            y: axis(pb::MapInput::ApiPriceMultiplier, 0.25, 2.0, 4),
            basis: pb::CostBasis::Unspecified.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.cells.len(), 20);
    let xs = [10_000.0, 507_500.0, 1_005_000.0, 1_502_500.0, 2_000_000.0];
    let ys: Vec<f64> = (0..4).map(|j| 0.25 + 1.75 * f64::from(j) / 3.0).collect();
    for (j, y) in ys.iter().enumerate() {
        for (i, x) in xs.iter().enumerate() {
            let cell = &reply.cells[j * xs.len() + i];
            assert!(close(cell.x, *x) && close(cell.y, *y), "{cell:?}");
            assert_eq!(cell.breaks_even, cell.break_even_month > 0, "{cell:?}");
        }
    }
    // All traffic is self-hosted, so a dearer API only adds to the savings.
    for i in 0..xs.len() {
        let column: Vec<f64> = (0..ys.len())
            .map(|j| reply.cells[j * xs.len() + i].savings)
            .collect();
        assert!(column.windows(2).all(|w| w[1] > w[0]), "{column:?}");
    }
    assert!(!reply.boundary.is_empty(), "{}", reply.description);
    for point in &reply.boundary {
        assert!((0.25..=2.0).contains(&point.y), "{point:?}");
        assert!(point.wins_above, "{point:?}");
        assert!(xs.iter().any(|x| close(*x, point.x)), "{point:?}");
    }
    assert!(!reply.description.is_empty());
}

#[tokio::test]
async fn break_even_map_rejects_a_bad_axis_by_field() {
    let server = common::TestServer::start().await;
    let mut client = simulation(&server).await;
    let cases = [
        (
            "the same input on both axes",
            axis(pb::MapInput::RequestsPerDay, 1_000.0, 10_000.0, 3),
            axis(pb::MapInput::RequestsPerDay, 1_000.0, 10_000.0, 3),
            "y.input",
        ),
        (
            "a single step",
            axis(pb::MapInput::RequestsPerDay, 1_000.0, 10_000.0, 1),
            axis(pb::MapInput::AnnualGrowth, 0.0, 1.0, 3),
            "x.steps",
        ),
        (
            "no input",
            axis(pb::MapInput::Unspecified, 1_000.0, 10_000.0, 3),
            axis(pb::MapInput::AnnualGrowth, 0.0, 1.0, 3),
            "x.input",
        ),
        (
            "an out-of-range value",
            axis(pb::MapInput::RequestsPerDay, 1_000.0, 10_000.0, 3),
            axis(pb::MapInput::TargetUtilization, 0.5, 1.5, 3),
            "y.to",
        ),
        (
            "a missing axis",
            axis(pb::MapInput::RequestsPerDay, 1_000.0, 10_000.0, 3),
            None,
            "y",
        ),
    ];
    for (label, x, y, field) in cases {
        let status = client
            .break_even_map(pb::BreakEvenMapRequest {
                scenario: Some(scenario()),
                x,
                y,
                basis: 0,
            })
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), [field], "{label}");
    }
}

#[tokio::test]
async fn compare_options_ranks_api_and_self_host_options_by_cost() {
    let server = common::TestServer::start().await;
    let mut client = simulation(&server).await;
    // Six months from June 2025: Claude 3.5 Sonnet (retired 2025-10-21)
    // and GPT-4.5 (2025-07-13) are skipped, the rest are in force.
    let request = |limit: u32| pb::CompareOptionsRequest {
        workload: Some(workload()),
        horizon_months: 6,
        start_month: "2025-06".into(),
        self_host: None,
        limit,
    };
    let all = client
        .compare_options(request(0))
        .await
        .unwrap()
        .into_inner();
    for kind in ["api", "self_host"] {
        assert!(all.options.iter().any(|o| o.kind == kind), "no {kind}");
    }
    assert!(
        all.options
            .windows(2)
            .all(|w| w[0].horizon_cost <= w[1].horizon_cost),
        "sorted by horizon cost"
    );
    for o in &all.options {
        assert!(o.horizon_cost.is_finite() && o.horizon_cost >= 0.0, "{o:?}");
        match o.kind.as_str() {
            "api" => assert_eq!((o.gpus_month_one, o.tensor_parallel), (0, 0), "{o:?}"),
            "self_host" => {
                assert_eq!(o.id.split('/').count(), 3, "{o:?}");
                assert!(o.gpus_month_one >= 1 && o.tensor_parallel >= 1, "{o:?}");
            }
            other => panic!("unknown kind {other:?}"),
        }
    }
    let mini = all.options.iter().find(|o| o.id == "gpt-4o-mini").unwrap();
    assert_eq!(
        cents(mini.month_one_cost),
        cents(hand_api_cost(100_000.0, 0.15, 0.60))
    );
    // Some models do not fit on small GPUs, and the reply says which.
    assert!(!all.skipped.is_empty());
    for prefix in ["llama-3.1-405b/l4/", "claude-3.5-sonnet: "] {
        assert!(
            all.skipped.iter().any(|s| s.starts_with(prefix)),
            "{prefix} not in {:?}",
            all.skipped
        );
    }

    let top = client
        .compare_options(request(5))
        .await
        .unwrap()
        .into_inner();
    let ids = |options: &[pb::CostOption]| -> Vec<String> {
        options.iter().map(|o| o.id.clone()).collect()
    };
    assert_eq!(ids(&top.options), ids(&all.options[..5]));
}

#[tokio::test]
async fn compare_options_skips_prices_retired_inside_the_horizon() {
    let server = common::TestServer::start().await;
    // Claude 3 Opus, first in the catalogue, was retired on 2026-01-04.
    let reply = simulation(&server)
        .await
        .compare_options(pb::CompareOptionsRequest {
            workload: Some(workload()),
            horizon_months: 12,
            start_month: "2025-06".into(),
            self_host: None,
            limit: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(reply.options.iter().any(|o| o.id == "gpt-4o-mini"));
    assert!(
        reply
            .skipped
            .iter()
            .any(|s| s.starts_with("claude-3-opus: ")),
        "{:?}",
        reply.skipped
    );
}

#[tokio::test]
async fn invalid_scenarios_name_the_field_under_scenario() {
    let server = common::TestServer::start().await;
    type Edit = fn(&mut pb::Scenario);
    let cases: [(&str, Edit); 8] = [
        ("scenario.horizon_months", |s| s.horizon_months = 0),
        ("scenario.workload.requests_per_day", |s| {
            s.workload.as_mut().unwrap().requests_per_day = -1.0
        }),
        ("scenario.workload.input_tokens", |s| {
            s.workload.as_mut().unwrap().input_tokens = f64::NAN
        }),
        ("scenario.workload.cached_input_fraction", |s| {
            s.workload.as_mut().unwrap().cached_input_fraction = Some(1.5)
        }),
        ("scenario.self_host.target_utilization", |s| {
            s.self_host.as_mut().unwrap().target_utilization = Some(0.0)
        }),
        ("scenario.api.price_id", |s| {
            s.api.as_mut().unwrap().price_id = "gpt-9".into()
        }),
        ("scenario.self_host.model", |s| {
            s.self_host.as_mut().unwrap().model_id = "llama-9".into()
        }),
        ("scenario.workload", |s| s.workload = None),
    ];
    for (field, edit) in cases {
        let mut s = scenario();
        edit(&mut s);
        let status = project(&server, s, pb::CostBasis::Unspecified)
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), [field]);
    }

    let status = simulation(&server)
        .await
        .project(pb::ProjectRequest {
            scenario: None,
            basis: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["scenario"]);
}

#[tokio::test]
async fn every_scenario_method_uses_the_same_field_paths() {
    let server = common::TestServer::start().await;
    let mut client = simulation(&server).await;
    let mut s = scenario();
    s.horizon_months = 0;
    let find = client
        .find_break_even(pb::FindBreakEvenRequest {
            scenario: Some(s.clone()),
            basis: 0,
        })
        .await
        .unwrap_err();
    let map = client
        .break_even_map(pb::BreakEvenMapRequest {
            scenario: Some(s),
            x: axis(pb::MapInput::RequestsPerDay, 1_000.0, 10_000.0, 3),
            y: axis(pb::MapInput::AnnualGrowth, 0.0, 1.0, 3),
            basis: 0,
        })
        .await
        .unwrap_err();
    for status in [find, map] {
        assert_eq!(violated_fields(&status), ["scenario.horizon_months"]);
    }
}

#[tokio::test]
async fn a_model_that_does_not_fit_the_gpu_is_a_failed_precondition() {
    let server = common::TestServer::start().await;
    let mut s = scenario();
    let h = s.self_host.as_mut().unwrap();
    h.model_id = "llama-3.1-405b".into();
    h.gpu_id = "l4".into();
    let status = project(&server, s, pb::CostBasis::Unspecified)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("GB short"),
        "{}",
        status.message()
    );
}
