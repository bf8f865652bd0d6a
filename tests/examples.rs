//! The scenario files in `examples/`: each one parses, projects, and says
//! what its README line says.

use std::path::{Path, PathBuf};

use breakeven::catalog::Catalog;
use breakeven::estimator::{Calibration, Tuning};
use breakeven::tco::{self, Basis, Projection, Scenario};

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// Every `*.toml` file in `examples/`, by name.
fn example_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .expect("examples/ exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    files
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

fn load(name: &str) -> Scenario {
    let path = examples_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Scenario::from_toml(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn calibration() -> Calibration {
    Calibration {
        name: "default".into(),
        tuning: Tuning::default(),
        expected_error: 0.0,
        points: 0,
    }
}

fn project(scenario: &Scenario, basis: Basis) -> Projection {
    tco::project(
        &Catalog::embedded().expect("built-in catalogue loads"),
        scenario,
        &calibration(),
        basis,
    )
    .unwrap_or_else(|e| panic!("{}: {e}", scenario.name))
}

fn cents(x: f64) -> i64 {
    (x * 100.0).round() as i64
}

fn assert_positive(what: &str, value: f64) {
    assert!(value.is_finite() && value > 0.0, "{what} = {value}");
}

#[test]
fn there_are_at_least_five_examples() {
    let files = example_files();
    assert!(files.len() >= 5, "{files:?}");
}

#[test]
fn every_example_parses_and_projects_on_both_bases() {
    for path in example_files() {
        let name = file_name(&path);
        let text = std::fs::read_to_string(&path).unwrap();
        let scenario = Scenario::from_toml(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!scenario.name.is_empty(), "{name} has no name");
        for basis in [Basis::ProfitAndLoss, Basis::Cash] {
            let p = project(&scenario, basis);
            let what = |field: &str| format!("{name} ({basis:?}): {field}");
            assert_eq!(
                p.months.len(),
                scenario.horizon_months as usize,
                "{}",
                what("months")
            );
            let s = &p.summary;
            assert_positive(&what("total_api"), s.total_api);
            assert_positive(&what("total_self_host_pnl"), s.total_self_host_pnl);
            assert_positive(&what("total_self_host_cash"), s.total_self_host_cash);
            assert_positive(&what("npv_api"), s.npv_api);
            assert_positive(&what("total_tokens"), s.total_tokens);
            assert_positive(
                &what("api_cost_per_million_tokens"),
                s.api_cost_per_million_tokens,
            );
            assert_positive(
                &what("self_host_cost_per_million_tokens"),
                s.self_host_cost_per_million_tokens,
            );
            // Cash can go negative in the month a fleet is resold.
            for m in &p.months {
                for (field, value) in [
                    ("api_cost", m.api_cost),
                    ("self_host_pnl", m.self_host_pnl),
                    ("utilization", m.utilization),
                ] {
                    assert!(
                        value.is_finite() && value >= 0.0,
                        "{} month {}: {field} = {value}",
                        what(""),
                        m.t
                    );
                }
            }
        }
    }
}

#[test]
fn the_readme_lists_every_example_and_nothing_else() {
    let readme = std::fs::read_to_string(examples_dir().join("README.md")).unwrap();
    let mut listed: Vec<&str> = readme
        .lines()
        .filter_map(|line| line.strip_prefix("- `"))
        .filter_map(|rest| rest.split('`').next())
        .collect();
    listed.sort_unstable();
    let files: Vec<String> = example_files().iter().map(|p| file_name(p)).collect();
    assert_eq!(listed, files);
}

/// The API bill of month 1 is tokens times GPT-4o mini's list prices,
/// $0.15 in and $0.60 out per million, with no cache, batch or discount.
#[test]
fn rented_70b_month_one_api_cost_is_tokens_times_gpt_4o_mini_list_prices() {
    let s = load("llama-70b-fp8-rented-h100-vs-gpt-4o-mini.toml");
    assert_eq!(s.api.price_id, "gpt-4o-mini");
    assert_eq!(s.workload.cached_input_fraction, Some(0.0));
    assert_eq!(s.workload.batch_fraction, Some(0.0));
    assert!(s.api.volume_discounts.is_empty());
    let p = project(&s, Basis::ProfitAndLoss);
    let w = &s.workload;
    let days = w.days_per_month.and_then(|d| d.fixed()).unwrap_or(30.0);
    let (requests, input, output) = (
        w.requests_per_day.unwrap(),
        w.input_tokens.unwrap(),
        w.output_tokens.unwrap(),
    );
    let hand = days * requests * (input * 0.15 + output * 0.60) / 1e6;
    assert_eq!(cents(p.months[0].api_cost), cents(hand));
    assert_eq!(
        p.summary.break_even_month, None,
        "GPT-4o mini stays cheaper"
    );
}

#[test]
fn rented_70b_traffic_grows_eight_percent_a_month() {
    let s = load("llama-70b-fp8-rented-h100-vs-gpt-4o-mini.toml");
    let p = project(&s, Basis::ProfitAndLoss);
    assert_eq!((s.horizon_months, s.start_month.as_str()), (36, "2025-06"));
    assert_eq!(p.months[0].requests_per_day, 100_000.0);
    for pair in p.months.windows(2) {
        let growth = pair[1].requests_per_day / pair[0].requests_per_day;
        assert!(
            (growth - 1.08).abs() < 1e-6,
            "month {}: {growth}",
            pair[1].t
        );
    }
}

#[test]
fn owned_deepseek_books_every_cost_line_and_is_not_paid_back_in_ten_months() {
    let s = load("deepseek-v3-owned-h200-vs-claude-sonnet.toml");
    let pnl = project(&s, Basis::ProfitAndLoss);
    let first = pnl.months[0];
    let last = *pnl.months.last().unwrap();
    assert_eq!(pnl.plan.tensor_parallel, 8);
    assert_eq!(first.rental, 0.0);
    // Ordered and paid in month 1, the servers arrive after the 3-month
    // lead time: until then the API serves everything, and the capex earns
    // its cost of capital from payment.
    for m in &pnl.months[..3] {
        assert_eq!(m.gpus_held, 0);
        assert_eq!(m.residual_api_cost, m.api_cost);
    }
    let in_service = pnl.months[3];
    assert!(in_service.gpus_held > 0);
    for (line, value) in [
        ("capex_paid", first.capex_paid),
        ("cost_of_capital", first.cost_of_capital),
        ("staff", first.staff),
        ("depreciation", in_service.depreciation),
        ("power", in_service.power),
        ("colocation", in_service.colocation),
        ("resale", last.resale),
        // Sold at the horizon below book value: a loss on disposal.
        ("disposal", last.disposal),
    ] {
        assert_positive(line, value);
    }
    assert!(pnl.months.iter().all(|m| m.gpus_held % 8 == 0));
    // With the loss on disposal booked, the P&L view tells what the cash
    // view does: ten months do not pay for the servers.
    assert!(pnl.summary.break_even_month.is_none());
    assert!(pnl.summary.total_self_host_pnl > pnl.summary.total_api);
    let cash = project(&s, Basis::Cash);
    assert_eq!(cash.summary.break_even_month, None);
    assert!(cash.summary.total_self_host_cash > cash.summary.total_api);
    // The two views differ by the cost of capital alone.
    let b = pnl.summary.bridge;
    let gap = pnl.summary.total_self_host_pnl - pnl.summary.total_self_host_cash;
    assert!((gap - b.cost_of_capital).abs() < 0.005, "{gap} vs {b:?}");
}

#[test]
fn hybrid_keeps_its_fleet_fixed_and_sends_the_surplus_to_the_api() {
    let s = load("hybrid-overflow.toml");
    let p = project(&s, Basis::ProfitAndLoss);
    assert!(p.months.iter().all(|m| m.gpus_held == 16));
    let last = p.months.last().unwrap();
    assert!(last.api_requests_per_day_in_self_host > 0.0);
    assert!(last.residual_api_cost > 0.0 && last.residual_api_cost < last.api_cost);
}

#[test]
fn fine_tuning_beats_prompting_once_training_is_paid() {
    let s = load("fine-tune-vs-prompting.toml");
    let ft = s.api.fine_tune.expect("the example fine-tunes");
    let p = project(&s, Basis::ProfitAndLoss);
    let (m1, m2) = (p.months[0], p.months[1]);
    // Month 1 carries the training run on top of the month's traffic.
    let traffic = m1.fine_tuned_api_cost - ft.training_cost_usd;
    assert!(traffic > 0.0 && traffic < m1.api_cost);
    assert!(m2.fine_tuned_api_cost < m2.api_cost);
    assert!(p.summary.total_fine_tuned_api < p.summary.total_api);
}

#[test]
fn small_model_on_l4_loses_to_gemini_flash() {
    let s = load("llama-8b-l4-vs-gemini-flash.toml");
    let p = project(&s, Basis::ProfitAndLoss);
    assert_eq!(p.summary.break_even_month, None);
    assert!(p.summary.total_self_host_pnl > p.summary.total_api);
}

/// `scenario init`'s template is the first scenario a newcomer runs: it
/// breaks even within its horizon on both bases, and not in month 1 (the
/// crossing is what the projection shows), while an example keeps the case
/// that never breaks even.
#[test]
fn the_template_breaks_even_within_its_horizon_and_an_example_never_does() {
    let template = Scenario::from_toml(breakeven::cli::scenario::TEMPLATE).unwrap();
    for basis in [Basis::ProfitAndLoss, Basis::Cash] {
        let p = project(&template, basis);
        let month = p
            .summary
            .break_even_month
            .expect("the template breaks even");
        assert!(
            month > 1 && month < template.horizon_months,
            "month {month} of {}",
            template.horizon_months
        );
        assert!(p.summary.total_api > p.summary.total_self_host_pnl);
    }
    let never = project(
        &load("llama-70b-fp8-rented-h100-vs-gpt-4o-mini.toml"),
        Basis::ProfitAndLoss,
    );
    assert_eq!(never.summary.break_even_month, None);
}
