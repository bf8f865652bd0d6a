//! Hand-computed expectations for each part of the monthly model.

use super::*;
use crate::catalog::Catalog;
use crate::error::Error;
use crate::estimator::{Calibration, Tuning};
use scenario::{Deployment, FineTune, Owned, Rented, Routing};

fn catalog() -> Catalog {
    Catalog::embedded().unwrap()
}

fn defaults() -> Calibration {
    Calibration {
        name: "default".into(),
        tuning: Tuning::default(),
        expected_error: 0.15,
        points: 0,
    }
}

/// 100,000 requests a day of 1,000 tokens in and 200 out, GPT-4o mini
/// against Llama 3.1 8B on rented H100s.
fn base() -> Scenario {
    Scenario::from_toml(
        r#"
        horizon_months = 12
        start_month = "2025-06"
        [workload]
        requests_per_day = 100000
        input_tokens = 1000
        output_tokens = 200
        peak_to_average = 2.0
        [api]
        price_id = "gpt-4o-mini"
        [self_host]
        model = "llama-3.1-8b"
        gpu = "h100-sxm"
        precision = "bf16"
        target_utilization = 0.5
        min_replicas = 1
        [self_host.deployment.rented]
        rate = "custom"
        usd_per_gpu_hour = 2.0
        "#,
    )
    .unwrap()
}

fn run(s: &Scenario) -> Projection {
    project(&catalog(), s, &defaults(), Basis::ProfitAndLoss).unwrap()
}

fn cents(x: f64) -> i64 {
    (x * 100.0).round() as i64
}

#[test]
fn api_cost_is_tokens_times_list_prices() {
    let p = run(&base());
    // 100,000 × 1,000 × $0.15/M + 100,000 × 200 × $0.60/M = $27/day; × 30.
    assert_eq!(cents(p.months[0].api_cost), 81_000);
    assert_eq!(p.months[0].input_tokens, 3e9);
    assert_eq!(p.months.len(), 12);
}

#[test]
fn caching_batching_and_volume_discounts_compose() {
    let mut s = base();
    s.workload.cached_input_fraction = Some(0.5);
    s.workload.batch_fraction = Some(0.4);
    s.api.volume_discounts = vec![
        scenario::VolumeDiscount {
            monthly_spend_usd: 100.0,
            discount: 0.05,
        },
        scenario::VolumeDiscount {
            monthly_spend_usd: 500.0,
            discount: 0.10,
        },
        scenario::VolumeDiscount {
            monthly_spend_usd: 5_000.0,
            discount: 0.20,
        },
    ];
    let p = run(&s);
    // Input: half at $0.15, half cached at $0.075 → $337.50; output $360.
    // Batch API halves the price of 40% of traffic: × 0.8 → $558.
    // $558 reaches the $500 tier: × 0.9 → $502.20.
    assert_eq!(cents(p.months[0].api_cost), 50_220);
}

#[test]
fn growth_compounds_monthly_from_an_annual_rate() {
    let mut s = base();
    s.workload.annual_growth = Some(1.0);
    let p = run(&s);
    let ratio = p.months[6].requests_per_day / p.months[0].requests_per_day;
    assert!((ratio - 2f64.sqrt()).abs() < 1e-12);
}

#[test]
fn rented_capacity_follows_peak_load_and_utilisation() {
    let p = run(&base());
    let m = p.months[0];
    let peak_rps = 100_000.0 / 86_400.0 * 2.0;
    let replicas = (peak_rps / (p.plan.replica_requests_per_s * 0.5)).ceil() as u32;
    assert_eq!(m.replicas_needed, replicas.max(1));
    assert_eq!(m.gpus_held, m.replicas_needed * p.plan.tensor_parallel);
    assert_eq!(cents(m.rental), cents(f64::from(m.gpus_held) * 720.0 * 2.0));
    assert_eq!(m.self_host_pnl, m.rental);
    assert!(m.utilization > 0.0 && m.utilization <= 0.5 + 1e-9);
}

#[test]
fn rental_decline_applies_from_the_second_month() {
    let mut s = base();
    s.self_host.deployment = Deployment::Rented(Rented {
        rate: Some("custom".into()),
        usd_per_gpu_hour: Some(2.0),
        annual_price_decline: Some(0.19),
    });
    s.workload.requests_per_day = Some(1000.0);
    let p = run(&s);
    let (m1, m7) = (p.months[0], p.months[6]);
    assert_eq!(m1.gpus_held, m7.gpus_held);
    assert!(
        (m7.rental / m1.rental - 0.9).abs() < 1e-12,
        "0.81^(6/12) = 0.9"
    );
}

fn owned() -> Owned {
    Owned {
        purchase_usd_per_gpu: Some(20_000.0),
        server_usd_per_gpu: Some(5_000.0),
        depreciation_months: Some(50),
        cost_of_capital: Some(0.12),
        resale_fraction: Some(0.5),
        power_usd_per_kwh: Some(0.10),
        pue: Some(1.5),
        load_fraction: Some(0.5),
        host_watts_per_gpu: Some(100.0),
        colocation_usd_per_kw_month: Some(200.0),
        staff_usd_per_month: Some(1_000.0),
        staff_usd_per_gpu_month: Some(50.0),
        lead_time_months: Some(0),
        lot_gpus: Some(8),
        ..Owned::default()
    }
}

#[test]
fn owned_costs_match_a_hand_count() {
    let mut s = base();
    s.workload.requests_per_day = Some(1000.0);
    s.horizon_months = 3;
    s.self_host.deployment = Deployment::Owned(owned());
    let p = run(&s);
    let m = p.months[0];
    // One replica on one H100, bought as a lot of 8.
    assert_eq!((m.gpus_needed, m.gpus_held), (1, 8));
    // Utilisation over the eight GPUs held, not the one needed: 1,000
    // requests a day over eight replicas' capacity in a day.
    let one_replica_a_day = p.plan.replica_requests_per_s * 86_400.0;
    assert!((m.utilization - 1000.0 / (8.0 * one_replica_a_day)).abs() < 1e-15);
    // $25,000 × 8 over 50 months.
    assert_eq!(cents(m.depreciation), 400_000);
    // 12%/12 of the $200,000 book before the month's depreciation.
    assert_eq!(cents(m.cost_of_capital), 200_000);
    // (700 W × 0.5 + 100 W) × 1.5 PUE = 0.675 kW; × 720 h × $0.10 × 8.
    assert_eq!(cents(m.power), cents(0.675 * 720.0 * 0.10 * 8.0));
    // (0.7 + 0.1) kW provisioned × $200 × 8.
    assert_eq!(cents(m.colocation), 128_000);
    assert_eq!(cents(m.staff), 140_000);
    assert_eq!(cents(m.capex_paid), 20_000_000);
    // Month 2: book is $196,000 before depreciation.
    assert_eq!(cents(p.months[1].cost_of_capital), 196_000);
    // At the horizon, half the remaining book comes back: $188,000 / 2.
    assert_eq!(cents(p.months[2].resale), 9_400_000);
    let cash: f64 = p.months.iter().map(|m| m.self_host_cash).sum();
    let expected = 200_000.0 + 3.0 * (m.power + m.colocation + m.staff) - 94_000.0;
    assert_eq!(cents(cash), cents(expected));
}

#[test]
fn purchases_are_paid_a_lead_time_early_and_never_sold_before_the_horizon() {
    let mut s = base();
    s.horizon_months = 24;
    s.workload.requests_per_day = Some(2_000_000.0);
    s.workload.annual_growth = Some(3.0);
    let mut o = owned();
    o.lead_time_months = Some(3);
    s.self_host.deployment = Deployment::Owned(o);
    let p = run(&s);
    let held: Vec<u32> = p.months.iter().map(|m| m.gpus_held).collect();
    assert!(held.windows(2).all(|w| w[1] >= w[0]));
    assert!(held.iter().all(|h| h % 8 == 0));
    let added = p
        .months
        .iter()
        .zip(p.months.iter().skip(1))
        .position(|(a, b)| b.gpus_held > a.gpus_held)
        .unwrap()
        + 2;
    // The GPUs entering service in month `added` were paid three months before.
    assert!(
        p.months[added - 4].capex_paid > 0.0,
        "paid in month {}",
        added - 3
    );
    let paid: f64 = p.months.iter().map(|m| m.capex_paid).sum();
    assert_eq!(
        cents(paid),
        cents(f64::from(*held.last().unwrap()) * 25_000.0)
    );
}

#[test]
fn a_price_change_inside_the_horizon_is_taken_from_the_catalogue() {
    let mut s = base();
    s.api.price_id = "deepseek-v3".into();
    s.start_month = "2025-01".into();
    s.horizon_months = 3;
    let p = run(&s);
    // $0.14/$0.28 until February 2025, then $0.27/$1.10 (first day of month).
    let day = |input: f64, output: f64| 100_000.0 * (1000.0 * input + 200.0 * output) / 1e6 * 30.0;
    assert_eq!(cents(p.months[0].api_cost), cents(day(0.14, 0.28)));
    assert_eq!(cents(p.months[1].api_cost), cents(day(0.14, 0.28)));
    assert_eq!(cents(p.months[2].api_cost), cents(day(0.27, 1.10)));
    assert_eq!(p.plan.api_prices.len(), 2);
}

#[test]
fn fraction_routing_sizes_for_the_share_and_bills_the_rest() {
    let mut s = base();
    s.routing = Routing::Fraction { self_hosted: 0.25 };
    let p = run(&s);
    let m = p.months[0];
    assert_eq!(cents(m.residual_api_cost), cents(0.75 * m.api_cost));
    assert_eq!(m.self_hosted_requests_per_day, 25_000.0);
    assert_eq!(
        cents(m.self_host_pnl),
        cents(m.rental + m.residual_api_cost)
    );
}

/// Twelve busy hours at 1.5 times the average and twelve quiet ones at
/// 0.5 (given as 3 and 1: weights are scaled to mean 1).
fn two_level_day() -> Vec<f64> {
    (0..24).map(|h| if h < 12 { 3.0 } else { 1.0 }).collect()
}

#[test]
fn overflow_routing_fills_a_fixed_fleet_each_hour_and_spills_to_the_api() {
    // The fleet's day at a flat load: C = 2 replicas × rps × 50% × 86,400 s.
    let mut s = base();
    s.routing = Routing::Overflow { gpus: 2 };
    let rps = run(&s).plan.replica_requests_per_s;
    let c = 2.0 * rps * 0.5 * 86_400.0;

    // A day of exactly C requests. Busy hours bring 1.5·C/24 against a
    // capacity of C/24 and spill 0.5·C/24 each, twelve times: C/4 goes to
    // the API, 3C/4 is served, and the fleet runs at 3C/4 ÷ (C/0.5) =
    // 37.5% of its full capacity. (Served at the peak's rate all day, as
    // before the load shape, it was C/1.5.)
    s.workload.requests_per_day = Some(c);
    s.workload.load_shape = Some(two_level_day());
    let p = run(&s);
    let m = p.months[0];
    assert_eq!(m.gpus_held, 2);
    assert!((m.self_hosted_requests_per_day - 0.75 * c).abs() < 1e-6 * c);
    assert!((m.api_requests_per_day_in_self_host - 0.25 * c).abs() < 1e-6 * c);
    assert!((m.utilization - 0.375).abs() < 1e-9, "{}", m.utilization);
    assert!(
        p.plan
            .assumptions
            .iter()
            .any(|a| a.field == "workload.load_shape" && a.origin == plan::Origin::Scenario)
    );

    // The default day for a peak of 2 (2 − d/6 at d hours from midday):
    // the hours within 6 of midday spill (1 − d/6)·C/24, which add up to
    // (1 + 2·(5/6 + 4/6 + 3/6 + 2/6 + 1/6))·C/24 = 6·C/24 = C/4.
    s.workload.load_shape = None;
    let m = run(&s).months[0];
    assert!((m.self_hosted_requests_per_day - 0.75 * c).abs() < 1e-6 * c);

    // Far beyond the fleet it serves its capacity in every hour with
    // traffic: C on the two-level day, 23/24 of C on the default day,
    // whose midnight hour is empty.
    s.workload.requests_per_day = Some(100.0 * c);
    for (shape, served) in [(Some(two_level_day()), c), (None, c * 23.0 / 24.0)] {
        s.workload.load_shape = shape;
        let m = run(&s).months[0];
        assert!((m.self_hosted_requests_per_day - served).abs() < 1e-6 * c);
    }
    // A busiest hour above the peak given is refused at the field.
    s.workload.load_shape = Some(two_level_day());
    s.workload.peak_to_average = Some(1.4);
    let err = project(&catalog(), &s, &defaults(), Basis::ProfitAndLoss).unwrap_err();
    assert!(
        err.to_string().contains("workload.peak_to_average"),
        "{err}"
    );
}

#[test]
fn the_quality_factor_and_tokenizer_ratio_add_self_hosted_work() {
    let mut s = base();
    s.self_host.quality_factor = Some(1.5);
    let p = run(&s);
    assert_eq!(p.months[0].self_hosted_requests_per_day, 150_000.0);
    let mut s = base();
    s.self_host.tokenizer_ratio = Some(1.2);
    let longer = run(&s);
    assert!(longer.plan.replica_requests_per_s < run(&base()).plan.replica_requests_per_s);
}

#[test]
fn fine_tuning_charges_training_once_and_scales_prices() {
    let mut s = base();
    s.api.fine_tune = Some(FineTune {
        training_cost_usd: 5_000.0,
        price_multiplier: 2.0,
        prompt_tokens_saved: 500.0,
    });
    let p = run(&s);
    // 500 tokens in at $0.30/M and 200 out at $1.20/M: $15 + $24 per 1,000 requests/day → $39 × 100 × 30.
    assert_eq!(
        cents(p.months[1].fine_tuned_api_cost),
        cents(100_000.0 * (500.0 * 0.30 + 200.0 * 1.20) / 1e6 * 30.0)
    );
    assert_eq!(
        cents(p.months[0].fine_tuned_api_cost - p.months[1].fine_tuned_api_cost),
        500_000
    );
}

#[test]
fn a_scenario_that_never_breaks_even_says_so() {
    let mut s = base();
    s.workload.requests_per_day = Some(100.0);
    s.self_host.min_replicas = Some(2);
    let p = run(&s);
    assert_eq!(p.summary.break_even_month, None);
    assert_eq!(p.summary.first_crossover_month, None);
    assert!(p.summary.total_self_host_pnl > p.summary.total_api);
}

#[test]
fn break_even_month_is_where_self_hosting_stays_ahead() {
    let mut s = base();
    s.horizon_months = 36;
    s.workload.requests_per_day = Some(2_000_000.0);
    s.self_host.deployment = Deployment::Owned(owned());
    let p = run(&s);
    let m = p
        .summary
        .break_even_month
        .expect("large volume breaks even");
    for month in &p.months[m as usize - 1..] {
        assert!(month.cumulative_self_host_pnl <= month.cumulative_api);
    }
    if m > 1 {
        let before = p.months[m as usize - 2];
        assert!(before.cumulative_self_host_pnl > before.cumulative_api);
    }
    assert!(p.summary.first_crossover_month.unwrap() <= m);
}

#[test]
fn break_even_volume_separates_cheaper_from_dearer() {
    let p = run(&base());
    let volume = p.break_even_volume;
    let v = volume
        .requests_per_day
        .expect("rented H100s beat GPT-4o mini at some volume");
    let continuous = volume.continuous_requests_per_day.unwrap();
    assert!(v > 0.0 && continuous >= 0.0, "{volume:?}");
    let month1 = |rpd: f64| {
        let mut s = base();
        s.workload.requests_per_day = Some(rpd);
        let p = run(&s);
        (p.months[0].self_host_pnl, p.months[0].api_cost)
    };
    for factor in [1.0, 1.5, 3.0, 10.0] {
        let (sh, api) = month1(v * factor + 1.0);
        assert!(sh <= api + 1e-6, "at {factor}x: {sh} > {api}");
    }
    let (sh, api) = month1(v * 0.9);
    assert!(
        sh > api,
        "just below the break-even volume the API is cheaper"
    );
}

#[test]
fn invalid_scenarios_name_every_field() {
    let mut s = base();
    s.horizon_months = 0;
    s.workload.requests_per_day = Some(-5.0);
    s.workload.input_tokens = Some(f64::NAN);
    s.workload.cached_input_fraction = Some(1.5);
    s.self_host.target_utilization = Some(0.0);
    s.self_host.model = "llama-9".into();
    s.api.price_id = "gpt-9".into();
    let err = project(&catalog(), &s, &defaults(), Basis::ProfitAndLoss).unwrap_err();
    let Error::InvalidArgument(v) = err else {
        panic!("{err:?}")
    };
    let fields: Vec<_> = v.iter().map(|v| v.field.as_str()).collect();
    for expected in [
        "scenario.horizon_months",
        "scenario.workload.requests_per_day",
        "scenario.workload.input_tokens",
        "scenario.workload.cached_input_fraction",
        "scenario.self_host.target_utilization",
        "scenario.self_host.model",
        "scenario.api.price_id",
    ] {
        assert!(
            fields.contains(&expected),
            "{expected} missing from {fields:?}"
        );
    }
}

#[test]
fn a_model_that_does_not_fit_is_a_failed_precondition() {
    let mut s = base();
    s.self_host.model = "llama-3.1-405b".into();
    s.self_host.gpu = "l4".into();
    let err = project(&catalog(), &s, &defaults(), Basis::ProfitAndLoss).unwrap_err();
    assert!(
        matches!(&err, Error::FailedPrecondition(m) if m.contains("GB short")),
        "{err:?}"
    );
}

#[test]
fn scenario_files_report_the_line_of_a_mistake() {
    let err = Scenario::from_toml(
        "horizon_months = 12\nstart_month = \"2025-01\"\n[workload]\nrequests_per_dya = 5\n",
    )
    .unwrap_err();
    let Error::InvalidArgument(v) = err else {
        panic!()
    };
    assert_eq!(v[0].field, "line 4");
    assert!(
        v[0].description.contains("requests_per_dya"),
        "{}",
        v[0].description
    );
}

#[test]
fn sensitivities_move_the_answers_the_right_way() {
    let mut s = base();
    s.horizon_months = 24;
    s.workload.requests_per_day = Some(20_000.0);
    let p = run(&s);
    let table = sensitivities(&p.plan, Basis::ProfitAndLoss);
    assert_eq!(table.len(), 6);
    let find = |input: &str, change: f64| {
        table
            .iter()
            .find(|x| x.input == input && x.change == change)
            .unwrap()
            .clone()
    };
    // Dearer APIs make self-hosting win at lower volume; dearer GPUs at higher.
    let (api_down, api_up) = (find("api_price", -0.2), find("api_price", 0.2));
    assert!(
        api_up.break_even_volume.requests_per_day.unwrap()
            < api_down.break_even_volume.requests_per_day.unwrap()
    );
    let (gpu_down, gpu_up) = (find("gpu_price", -0.2), find("gpu_price", 0.2));
    assert!(
        gpu_down.break_even_volume.requests_per_day.unwrap()
            < gpu_up.break_even_volume.requests_per_day.unwrap()
    );
    assert!(api_up.horizon_savings > api_down.horizon_savings);
}

/// The crossing is interpolated inside the break-even month: with
/// cumulative self-host minus API at +d₀ at the end of month t − 1 and −d₁
/// at the end of month t, it lies d₀ / (d₀ + d₁) into month t.
#[test]
fn the_fractional_break_even_interpolates_within_the_month() {
    let mut s = base();
    s.horizon_months = 36;
    s.workload.requests_per_day = Some(2_000_000.0);
    s.self_host.deployment = Deployment::Owned(owned());
    let p = project(&catalog(), &s, &defaults(), Basis::Cash).unwrap();
    let t = p.summary.break_even_month.expect("breaks even") as usize;
    let behind = |i: usize| {
        let m = &p.months[i - 1];
        m.cumulative_self_host_cash - m.cumulative_api
    };
    let (before, after) = (behind(t - 1), behind(t));
    assert!(before > 0.0 && after <= 0.0);
    let expected = (t - 1) as f64 + before / (before - after);
    assert_eq!(p.summary.break_even_months_fractional, Some(expected));
    assert!(expected > (t - 1) as f64 && expected <= t as f64);

    // Never behind: the crossing is at the start.
    let mut cheap = base();
    cheap.self_host.deployment = Deployment::Rented(Rented {
        usd_per_gpu_hour: Some(0.0),
        ..Rented::default()
    });
    let p = run(&cheap);
    assert_eq!(p.summary.break_even_month, Some(1));
    assert_eq!(p.summary.break_even_months_fractional, Some(0.0));
    // Never ahead: none.
    let mut dear = base();
    dear.self_host.deployment = Deployment::Rented(Rented {
        usd_per_gpu_hour: Some(500.0),
        ..Rented::default()
    });
    assert_eq!(run(&dear).summary.break_even_months_fractional, None);
}

/// A month-0 purchase moves the opening fleet's payment before month 1:
/// the cumulative cash is the same from month 1 on, the P&L unchanged.
#[test]
fn a_month_0_purchase_is_paid_before_month_1() {
    let mut s = base();
    s.workload.requests_per_day = Some(1_000.0);
    s.self_host.deployment = Deployment::Owned(owned());
    let month_1 = project(&catalog(), &s, &defaults(), Basis::Cash).unwrap();
    let mut o = owned();
    o.purchase_in_month_0 = Some(true);
    s.self_host.deployment = Deployment::Owned(o);
    let month_0 = project(&catalog(), &s, &defaults(), Basis::Cash).unwrap();
    let capex = month_1.months[0].capex_paid;
    assert!(capex > 0.0);
    assert_eq!(month_0.months[0].capex_paid, 0.0);
    assert_eq!(month_0.summary.capex_paid_month_0, capex);
    for (a, b) in month_1.months.iter().zip(&month_0.months) {
        assert!((a.cumulative_self_host_cash - b.cumulative_self_host_cash).abs() < 1e-6);
        assert_eq!(a.self_host_pnl, b.self_host_pnl);
    }
    // Undiscounted in the NPV, so it weighs more than paid a month later.
    assert!(month_0.summary.npv_self_host > month_1.summary.npv_self_host);
}

#[test]
fn returns_follow_the_incremental_cash_flows_of_every_example() {
    for (name, text) in examples::EXAMPLES {
        let s = Scenario::from_toml(text).unwrap();
        let p = run(&s);
        let r = &p.summary.returns;
        // Month 0 then each month's API cost less self-host cash.
        assert_eq!(r.flows.len(), p.months.len() + 1, "{name}");
        assert_eq!(r.flows[0], -p.summary.capex_paid_month_0, "{name}");
        for m in &p.months {
            assert_eq!(r.flows[m.t as usize], m.api_cost - m.self_host_cash);
        }
        // The NPV of the flows is the two options' NPVs apart.
        let apart = p.summary.npv_api - p.summary.npv_self_host;
        assert!(
            (r.npv - apart).abs() < 1e-6 * apart.abs().max(1.0),
            "{name}: {} vs {apart}",
            r.npv
        );
        // Payback on cash is the cash break-even month.
        let cash = summarize(&p.plan, &p.months, Basis::Cash);
        assert_eq!(r.payback_month, cash.break_even_month, "{name}");
        // At the IRR the flows are worth nothing today.
        if let Some(irr) = r.irr.annual() {
            let at_irr = finance::npv(&r.flows, irr);
            let scale: f64 = r.flows.iter().map(|c| c.abs()).sum();
            assert!(at_irr.abs() < 1e-9 * scale, "{name}: {at_irr}");
        }
    }
}

#[test]
fn an_owned_fleet_bought_in_month_0_has_a_hand_checked_irr() {
    // The owned fleet of `owned_costs_match_a_hand_count`, paid in month 0,
    // 12 months: 8 GPUs × $25,000 = $200,000 out in month 0; each month the
    // API would cost A and the fleet runs for power + colocation + staff =
    // O; at the horizon half the remaining book comes back.
    let mut s = base();
    s.workload.requests_per_day = Some(1000.0);
    let mut o = owned();
    o.purchase_in_month_0 = Some(true);
    s.self_host.deployment = Deployment::Owned(o);
    let p = run(&s);
    let r = &p.summary.returns;
    let m = p.months[0];
    let api = m.api_cost;
    let opex = m.power + m.colocation + m.staff;
    // Book after 12 months of $4,000: $152,000; resale $76,000.
    assert_eq!(cents(p.months[11].resale), 7_600_000);
    assert_eq!(r.flows[0], -200_000.0);
    assert_eq!(cents(r.flows[1]), cents(api - opex));
    assert_eq!(cents(r.flows[12]), cents(api - opex + 76_000.0));
    // The API bill of 1,000 requests a day is below the fleet's running
    // cost: months 0–11 lose, the resale makes month 12 a gain: one sign
    // change, so one IRR, far below zero. As a spreadsheet's goal seek
    // would: find v with −200,000 − (O − A)(v + … + v¹²) + 76,000 v¹² = 0
    // by halving an interval, then annual = v^−12 − 1.
    assert!(api < opex);
    let loss = opex - api;
    let pv = |v: f64| {
        -200_000.0 - loss * (1..=12).map(|t| v.powi(t)).sum::<f64>() + 76_000.0 * v.powi(12)
    };
    let (mut lo, mut hi) = (1.0, 10.0);
    assert!(pv(lo) < 0.0 && pv(hi) > 0.0);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if pv(mid) < 0.0 { lo = mid } else { hi = mid }
    }
    let by_hand = lo.powi(-12) - 1.0;
    let finance::Irr::Rate { annual, unique } = r.irr else {
        panic!("expected a rate, got {:?}", r.irr);
    };
    assert!(unique);
    assert!((annual - by_hand).abs() < 1e-9, "{annual} vs {by_hand}");
    assert!(annual < -0.5);
    assert_eq!(r.payback_month, None);
    assert_eq!(r.discounted_payback_month, None);
    // ROI: net over the spend, by hand.
    let spend = 200_000.0 + 12.0 * opex - 76_000.0;
    let net = -200_000.0 + 12.0 * (api - opex) + 76_000.0;
    assert!((r.roi.unwrap() - net / spend).abs() < 1e-12);
}

#[test]
fn routing_nothing_to_the_open_model_is_identical_to_the_api() {
    for deployment in [
        Deployment::Owned(owned()),
        base().self_host.deployment.clone(),
    ] {
        let mut s = base();
        s.routing = Routing::Fraction { self_hosted: 0.0 };
        s.self_host.deployment = deployment;
        for basis in [Basis::ProfitAndLoss, Basis::Cash] {
            let p = project(&catalog(), &s, &defaults(), basis).unwrap();
            assert!(p.months.iter().all(|m| m.gpus_held == 0));
            for m in &p.months {
                assert_eq!(m.self_host_pnl, m.api_cost);
                assert_eq!(m.self_host_cash, m.api_cost);
            }
            // Equal costs are a tie: no break-even, no crossover, no
            // payback, no IRR; the summary says why.
            assert!(p.summary.identical_to_api);
            assert_eq!(p.summary.break_even_month, None);
            assert_eq!(p.summary.first_crossover_month, None);
            assert_eq!(p.summary.returns.payback_month, None);
            assert_eq!(p.summary.returns.irr, finance::Irr::NoSignChange);
        }
    }
    assert!(!run(&base()).summary.identical_to_api);
}

#[test]
fn a_tie_within_a_cent_is_not_a_break_even() {
    // Months whose cumulative costs are equal, then a cent apart, then
    // more: break-even needs self-hosting cheaper by more than a cent.
    let month = |t: u32, api: f64, sh: f64| Month {
        t,
        cumulative_api: api,
        cumulative_self_host_pnl: sh,
        cumulative_self_host_cash: sh,
        ..Month::default()
    };
    let tied = [month(1, 100.0, 100.0), month(2, 200.0, 200.0)];
    assert_eq!(summarize_break_even(&tied, Basis::ProfitAndLoss), None);
    let a_cent = [month(1, 100.0, 100.0), month(2, 200.01, 200.0)];
    assert_eq!(summarize_break_even(&a_cent, Basis::Cash), None);
    let ahead = [month(1, 100.0, 100.0), month(2, 200.02, 200.0)];
    assert_eq!(summarize_break_even(&ahead, Basis::Cash), Some(2));
}

/// The owned fleet of `owned()` for 1,000 requests a day (one GPU needed,
/// eight held), over `horizon` months.
fn small_owned(horizon: u32, edit: impl FnOnce(&mut Owned)) -> Scenario {
    let mut s = base();
    s.workload.requests_per_day = Some(1000.0);
    s.horizon_months = horizon;
    let mut o = owned();
    edit(&mut o);
    s.self_host.deployment = Deployment::Owned(o);
    s
}

#[test]
fn a_lead_time_delays_the_opening_fleet_unless_installed() {
    // Lead time 3: the eight GPUs ordered and paid in month 1 serve from
    // month 4; months 1–3 send everything to the API, and the $200,000
    // paid earns 1% a month of cost of capital from payment.
    let p = run(&small_owned(6, |o| o.lead_time_months = Some(3)));
    for m in &p.months[..3] {
        assert_eq!(m.gpus_held, 0, "month {}", m.t);
        assert_eq!(m.self_hosted_requests_per_day, 0.0);
        assert_eq!(m.residual_api_cost, m.api_cost);
        assert_eq!((m.depreciation, m.power, m.colocation), (0.0, 0.0, 0.0));
        // Construction in progress: 12% / 12 of $200,000.
        assert_eq!(cents(m.cost_of_capital), 200_000);
        // Fixed staff, plus the API bill, plus the cost of capital.
        assert_eq!(
            cents(m.self_host_pnl),
            cents(1_000.0 + m.api_cost + 2_000.0)
        );
    }
    assert_eq!(cents(p.months[0].capex_paid), 20_000_000);
    let m4 = p.months[3];
    assert_eq!(m4.gpus_held, 8);
    assert_eq!(m4.residual_api_cost, 0.0);
    assert_eq!(m4.capex_paid, 0.0);
    assert_eq!(cents(m4.depreciation), 400_000);
    assert_eq!(cents(m4.cost_of_capital), 200_000);

    // Installed at the start: in service in month 1, paid in month 1, no
    // cost of capital before service.
    let p = run(&small_owned(6, |o| {
        o.lead_time_months = Some(3);
        o.installed_at_start = Some(true);
    }));
    let m1 = p.months[0];
    assert_eq!(m1.gpus_held, 8);
    assert_eq!(m1.residual_api_cost, 0.0);
    assert_eq!(cents(m1.capex_paid), 20_000_000);
    assert_eq!(cents(m1.cost_of_capital), 200_000);
    assert_eq!(cents(m1.depreciation), 400_000);
    assert!(p.summary.returns.flows.len() == 7);
}

#[test]
fn a_depreciation_life_inside_the_horizon_replaces_or_keeps_the_fleet() {
    // 120 months, a 48-month life: $200,000 depreciates $4,166.67 a month.
    let replace = run(&small_owned(120, |o| o.depreciation_months = Some(48)));
    let paid: Vec<(u32, i64)> = replace
        .months
        .iter()
        .filter(|m| m.capex_paid > 0.0)
        .map(|m| (m.t, cents(m.capex_paid)))
        .collect();
    // Bought in month 1, replaced in months 49 and 97.
    assert_eq!(
        paid,
        vec![(1, 20_000_000), (49, 20_000_000), (97, 20_000_000)]
    );
    assert!(replace.months.iter().all(|m| m.gpus_held == 8));
    assert!(
        replace
            .months
            .iter()
            .all(|m| cents(m.depreciation) == 416_667)
    );
    // At the horizon the third cohort has 24 of 48 months left: book
    // $100,000, sold for half, a $50,000 loss on disposal in the P&L.
    let last = replace.months[119];
    assert_eq!(cents(last.resale), 5_000_000);
    assert_eq!(cents(last.disposal), 5_000_000);
    assert_eq!(last.book_value, 0.0);

    // Kept: no purchase after month 1, no depreciation or cost of capital
    // after month 48, nothing left to sell.
    let keep = run(&small_owned(120, |o| {
        o.depreciation_months = Some(48);
        o.end_of_life = Some("keep".into());
    }));
    assert_eq!(keep.months.iter().filter(|m| m.capex_paid > 0.0).count(), 1);
    for m in &keep.months[48..] {
        // (The book value left is rounding, well under a cent.)
        assert_eq!((cents(m.depreciation), cents(m.cost_of_capital)), (0, 0));
        assert_eq!(m.gpus_held, 8);
    }
    assert_eq!(cents(keep.months[119].resale), 0);
    assert_eq!(cents(keep.months[119].disposal), 0);
}

#[test]
fn the_pnl_view_books_the_loss_on_disposal_or_carries_the_book_value() {
    // Three months of the hand-counted fleet: book $188,000 at the horizon,
    // sold for $94,000, a $94,000 loss in month 3's P&L.
    let sold = run(&small_owned(3, |_| {}));
    let m3 = sold.months[2];
    assert_eq!(cents(m3.resale), 9_400_000);
    assert_eq!(cents(m3.disposal), 9_400_000);
    assert_eq!(
        cents(m3.self_host_pnl),
        cents(
            m3.depreciation + m3.cost_of_capital + m3.power + m3.colocation + m3.staff + 94_000.0
        )
    );
    // Over the horizon the views differ by the cost of capital alone:
    // $2,000 + $1,960 + $1,920.
    let b = sold.summary.bridge;
    assert_eq!(cents(b.cost_of_capital), 588_000);
    let gap = sold.months[2].cumulative_self_host_pnl - sold.months[2].cumulative_self_host_cash;
    assert_eq!(cents(gap), 588_000);
    assert_eq!(cents(b.pnl_less_cash()), 588_000);

    // Kept: no resale, no disposal, $188,000 of book carried; the views
    // differ by the cost of capital less that book value.
    let kept = run(&small_owned(3, |o| o.terminal = Some("keep".into())));
    let m3 = kept.months[2];
    assert_eq!((m3.resale, m3.disposal), (0.0, 0.0));
    assert_eq!(cents(m3.book_value), 18_800_000);
    let b = kept.summary.bridge;
    assert_eq!(cents(b.book_value_carried), 18_800_000);
    let gap = m3.cumulative_self_host_pnl - m3.cumulative_self_host_cash;
    assert_eq!(cents(gap), 588_000 - 18_800_000);
    assert_eq!(cents(b.pnl_less_cash()), cents(gap));
}

/// Cumulative P&L less cumulative cash over the horizon, against the
/// bridge: equal to the cent, and for a sold fleet equal to the cost of
/// capital alone (a kept one: less the book value carried).
fn check_bridge(label: &str, p: &Projection) {
    let last = p.months.last().unwrap();
    let gap = last.cumulative_self_host_pnl - last.cumulative_self_host_cash;
    let b = p.summary.bridge;
    assert!(
        (gap - b.pnl_less_cash()).abs() < 0.005,
        "{label}: P&L − cash {gap} against the bridge {}",
        b.pnl_less_cash()
    );
    let expected = b.cost_of_capital - b.book_value_carried;
    assert!(
        (gap - expected).abs() < 0.005,
        "{label}: P&L − cash {gap} against cost of capital less book carried {expected}"
    );
}

#[test]
fn every_example_reconciles_its_pnl_and_cash_views() {
    for (name, text) in examples::EXAMPLES {
        let s = Scenario::from_toml(text).unwrap();
        check_bridge(name, &run(&s));
    }
}

mod bridge_properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn random_owned_scenarios_reconcile_to_the_cent(
            horizon in 1u32..=120,
            requests in 100.0f64..3_000_000.0,
            growth in -0.5f64..3.0,
            depreciation in 6u32..=72,
            lead in 0u32..=6,
            installed in any::<bool>(),
            month_0 in any::<bool>(),
            keep_at_horizon in any::<bool>(),
            keep_at_end in any::<bool>(),
            cost_of_capital in 0.0f64..0.3,
            resale in 0.0f64..1.0,
            lot in 1u32..=16,
            overflow in proptest::option::of(1u32..64),
        ) {
            let mut s = small_owned(horizon, |o| {
                o.depreciation_months = Some(depreciation);
                o.lead_time_months = Some(lead);
                o.installed_at_start = Some(installed);
                o.purchase_in_month_0 = Some(month_0);
                o.terminal = Some(if keep_at_horizon { "keep" } else { "resale" }.into());
                o.end_of_life = Some(if keep_at_end { "keep" } else { "replace" }.into());
                o.cost_of_capital = Some(cost_of_capital);
                o.resale_fraction = Some(resale);
                o.lot_gpus = Some(lot);
            });
            s.workload.requests_per_day = Some(requests);
            s.workload.annual_growth = Some(growth);
            if let Some(gpus) = overflow {
                s.routing = Routing::Overflow { gpus };
            }
            let p = run(&s);
            check_bridge(&format!("{s:?}"), &p);
        }
    }
}

#[test]
fn the_steady_state_cost_of_an_owned_gpu_is_levelised() {
    // $25,000 over 50 months at 1% a month: the capital recovery factor
    // 0.01 × 1.01^50 / (1.01^50 − 1) = 0.0255127 gives $637.82 a month;
    // plus power 0.675 kW × 720 h × $0.10 = $48.60, colocation 0.8 kW ×
    // $200 = $160 and staff $50 per GPU: $896.42.
    let p = run(&small_owned(12, |_| {}));
    assert_eq!(cents(p.break_even_volume.monthly_cost_per_gpu), 89_642);
}

#[test]
fn cache_writes_are_charged_at_the_cache_write_rate() {
    // Claude 3.5 Sonnet: $3/M input, $0.30/M cached, $3.75/M written to
    // the cache, $15/M output. 100,000 requests a day of 1,000 tokens in
    // (half read from the cache, a fifth written to it) and 200 out, 30
    // days: 3e9 input tokens × (0.3 × $3 + 0.5 × $0.30 + 0.2 × $3.75)/M
    // = $5,400, plus 6e8 output tokens × $15/M = $9,000: $14,400.
    let mut s = base();
    s.horizon_months = 3;
    s.api.price_id = "claude-3.5-sonnet".into();
    s.workload.cached_input_fraction = Some(0.5);
    s.workload.cache_write_fraction = Some(0.2);
    let p = run(&s);
    assert_eq!(cents(p.months[0].api_cost), 1_440_000);
    // Without the writes, the same tokens at the input rate: $13,950.
    s.workload.cache_write_fraction = None;
    assert_eq!(cents(run(&s).months[0].api_cost), 1_395_000);
    // The catalogue's Anthropic prices have cache-write rates: no warning.
    assert!(
        !p.plan.warnings.iter().any(|w| w.contains("cache-write")),
        "{:?}",
        p.plan.warnings
    );
}

#[test]
fn rates_the_catalogue_lacks_are_warned_about_by_field_and_price() {
    // Anthropic's entries list no batch rate: a batch share is charged at
    // list prices, and said so.
    let mut s = base();
    s.horizon_months = 3;
    s.api.price_id = "claude-3.5-sonnet".into();
    s.workload.batch_fraction = Some(0.5);
    let p = run(&s);
    let batch: Vec<&String> = p
        .plan
        .warnings
        .iter()
        .filter(|w| w.starts_with("workload.batch_fraction"))
        .collect();
    assert_eq!(batch.len(), 1, "{:?}", p.plan.warnings);
    assert!(
        batch[0].contains("claude-3.5-sonnet@2024-06-20"),
        "{}",
        batch[0]
    );
    // Without a batch rate, the batch share changes nothing.
    s.workload.batch_fraction = None;
    assert_eq!(run(&s).months[0].api_cost, p.months[0].api_cost);
}

#[test]
fn the_new_owned_and_caching_fields_are_checked_by_name() {
    let mut s = small_owned(12, |o| {
        o.terminal = Some("sell".into());
        o.end_of_life = Some("scrap".into());
    });
    s.workload.cached_input_fraction = Some(0.7);
    s.workload.cache_write_fraction = Some(0.4);
    let err = project(&catalog(), &s, &defaults(), Basis::ProfitAndLoss).unwrap_err();
    let Error::InvalidArgument(v) = err else {
        panic!("{err:?}")
    };
    let fields: Vec<_> = v.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "scenario.workload.cache_write_fraction",
            "scenario.self_host.deployment.owned.terminal",
            "scenario.self_host.deployment.owned.end_of_life",
        ]
    );
    // Left out, each is a default listed with the answer.
    let p = run(&small_owned(12, |_| {}));
    for field in [
        "workload.cache_write_fraction",
        "self_host.deployment.owned.installed_at_start",
        "self_host.deployment.owned.terminal",
        "self_host.deployment.owned.end_of_life",
    ] {
        let a = p
            .plan
            .assumptions
            .iter()
            .find(|a| a.field == field)
            .unwrap_or_else(|| panic!("{field} not listed"));
        assert!(a.is_default(), "{field}");
    }
}

#[test]
fn after_tax_flows_shield_depreciation_month_by_month() {
    let mut s = small_owned(12, |o| o.purchase_in_month_0 = Some(true));
    s.tax_rate = Some(0.21);
    let p = run(&s);
    let r = &p.summary.returns;
    let a = &r.after_tax;
    assert_eq!(a.tax_rate, 0.21);
    assert_eq!(a.flows[0], r.flows[0]);
    for m in &p.months {
        // Before-tax flow less 21% of (API − running costs − depreciation
        // − loss on disposal); the cost of capital is not deductible.
        let deductible = m.power + m.colocation + m.staff + m.depreciation + m.disposal;
        let expected = r.flows[m.t as usize] - 0.21 * (m.api_cost - deductible);
        assert!(
            (a.flows[m.t as usize] - expected).abs() < 1e-6,
            "month {}",
            m.t
        );
    }
    // $200,000 over 50 months: $4,000 a month, 21% of it for 12 months.
    assert_eq!(cents(a.depreciation_tax_shield), cents(0.21 * 48_000.0));
    // Unset, the rate is 0 and listed as a default.
    let p = run(&small_owned(12, |_| {}));
    assert_eq!(p.summary.returns.after_tax.flows, p.summary.returns.flows);
    assert!(
        p.plan
            .assumptions
            .iter()
            .any(|a| a.field == "tax_rate" && a.is_default())
    );
}

#[test]
fn calendar_days_bill_each_month_its_own_days() {
    // From June 2025: June has 30 days, July 31, February 2026 28.
    let text = r#"
        horizon_months = 9
        start_month = "2025-06"
        [workload]
        requests_per_day = 100000
        input_tokens = 1000
        output_tokens = 200
        peak_to_average = 2.0
        days_per_month = "calendar"
        [api]
        price_id = "gpt-4o-mini"
        [self_host]
        model = "llama-3.1-8b"
        gpu = "h100-sxm"
        precision = "bf16"
        target_utilization = 0.5
        min_replicas = 1
        [self_host.deployment.rented]
        rate = "custom"
        usd_per_gpu_hour = 2.0
        "#;
    let s = Scenario::from_toml(text).unwrap();
    let p = run(&s);
    let fixed = run(&base());
    // June: 30 days, as the fixed convention.
    assert_eq!(p.months[0].api_cost, fixed.months[0].api_cost);
    assert_eq!(p.months[0].rental, fixed.months[0].rental);
    // July: 31/30 of it; February: 28/30.
    for (i, days) in [(1, 31.0), (8, 28.0)] {
        let m = p.months[i];
        assert_eq!(
            cents(m.api_cost),
            cents(fixed.months[0].api_cost * days / 30.0)
        );
        assert_eq!(
            cents(m.rental),
            cents(f64::from(m.gpus_held) * days * 24.0 * 2.0)
        );
    }
    assert!(
        p.plan
            .assumptions
            .iter()
            .any(|a| a.field == "workload.days_per_month" && a.value.starts_with("calendar"))
    );
    // A word other than "calendar" is refused at the field.
    let err = Scenario::from_toml(&text.replace("\"calendar\"", "\"actual\"")).unwrap_err();
    assert!(err.to_string().contains("days_per_month"), "{err}");
}

#[test]
fn a_fixed_fleet_has_a_break_even_volume_or_says_why_not() {
    // Two rented H100s at $2 an hour: $2,880 a month. GPT-4o mini charges
    // 30 × (1,000 × $0.15 + 200 × $0.60) / 10^6 = $0.0081 a month per
    // request a day, so the fleet pays from 2,880 / 0.0081 = 355,555.6
    // requests a day that it serves, if it can serve that many.
    let mut s = base();
    s.routing = Routing::Overflow { gpus: 2 };
    let p = run(&s);
    let v = p.break_even_volume;
    let full = 2.0 * v.requests_per_day_per_replica;
    assert!(full > 355_556.0, "the fleet serves only {full} a day");
    assert_eq!(v.requests_per_day, Some(355_556.0));
    assert!((v.continuous_requests_per_day.unwrap() - 2_880.0 / 0.0081).abs() < 1e-3);
    assert_eq!(v.not_reached, None);

    // Dearer GPUs than the API could ever charge for the fleet's traffic:
    // not reached, and the reason names both monthly figures.
    if let Deployment::Rented(r) = &mut s.self_host.deployment {
        r.usd_per_gpu_hour = Some(500.0);
    }
    let v = run(&s).break_even_volume;
    assert_eq!(v.requests_per_day, None);
    let reason = v.not_reached.unwrap().to_string();
    assert!(reason.contains("$720000 a month"), "{reason}");
}

#[test]
fn a_fixed_fleet_past_its_peak_counts_the_hours_it_still_serves() {
    // The two-level day and a fleet whose day at a flat load is C. It
    // serves all of a volume V up to C/1.5; past it, V − 12·(1.5V − C)/24
    // = 0.25·V + C/2. Priced so that it pays from a served volume of
    // 0.8·C, it pays from V = (0.8·C − C/2)/0.25 = 1.2·C.
    let mut s = base();
    s.routing = Routing::Overflow { gpus: 2 };
    s.workload.load_shape = Some(two_level_day());
    let c = 2.0 * run(&s).plan.replica_requests_per_s * 0.5 * 86_400.0;
    // $0.0081 a month per request a day (above); 2 GPUs × 24 × 30 hours.
    let rate = 0.8 * c * 0.0081 / (2.0 * 24.0 * 30.0);
    if let Deployment::Rented(r) = &mut s.self_host.deployment {
        r.usd_per_gpu_hour = Some(rate);
    }
    let v = run(&s).break_even_volume;
    let found = v.continuous_requests_per_day.unwrap();
    assert!(
        (found - 1.2 * c).abs() < 1e-6 * c,
        "{found} against {}",
        1.2 * c
    );
    assert_eq!(v.requests_per_day, Some(found.ceil()));
    // Priced above what the API would charge for C a day, it never pays.
    if let Deployment::Rented(r) = &mut s.self_host.deployment {
        r.usd_per_gpu_hour = Some(1.01 * c * 0.0081 / (2.0 * 24.0 * 30.0));
    }
    let v = run(&s).break_even_volume;
    assert!(matches!(
        v.not_reached,
        Some(breakeven::NotReached::FixedFleetDearer { .. })
    ));
}

#[test]
fn a_map_over_the_peak_stays_above_the_days_busiest_hour() {
    use map::{Axis, MapInput, break_even_map};
    let mut s = base();
    s.routing = Routing::Overflow { gpus: 2 };
    s.workload.load_shape = Some(two_level_day());
    let plan = run(&s).plan;
    let axis = |input, from, to| Axis {
        input,
        from,
        to,
        steps: 3,
    };
    let growth = axis(MapInput::AnnualGrowth, 0.0, 1.0);
    // The two-level day's busiest hour is 1.5 times the average.
    let err = break_even_map(
        &plan,
        axis(MapInput::PeakToAverage, 1.2, 3.0),
        growth,
        Basis::Cash,
    )
    .unwrap_err();
    assert!(err.to_string().contains("x.from"), "{err}");
    let map = break_even_map(
        &plan,
        axis(MapInput::PeakToAverage, 1.5, 3.0),
        growth,
        Basis::Cash,
    )
    .unwrap();
    assert_eq!(map.cells.len(), 9);
}
