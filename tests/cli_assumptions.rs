//! The `breakeven` binary shows the values an answer assumed under its
//! summary (and hides them with --quiet), the interpolated break-even
//! time, and fits a calibration with `breakeven calibrate`.

mod common;

use std::path::Path;

use common::TestServer;
use common::cli::{example, run};

fn data(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_prints_what_it_assumed_unless_quiet() {
    let server = TestServer::start().await;
    let file = example("hybrid-overflow.toml");
    let file = file.to_str().unwrap();
    let shown = run(&server, &["project", file]).await.ok();
    let out = &shown.stdout;
    assert!(out.contains("assumed (not in the scenario"), "{out}");
    // A catalogue figure with its entry, and a built-in default with its
    // reason.
    let purchase = out
        .lines()
        .find(|l| l.contains("owned.purchase_usd_per_gpu"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(purchase.contains("25000") && purchase.contains("catalogue h100-sxm"));
    let days = out
        .lines()
        .find(|l| l.contains("workload.days_per_month"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(days.contains("30") && days.contains("default:"), "{days}");
    // Under the summary, before the months.
    let at = out.find("assumed (not in the scenario").unwrap();
    assert!(out.find("breaks even").unwrap() < at);
    // (The months table's header; the summary's break-even volume is in
    // requests/day too.)
    assert!(at < out.find("month  date").unwrap());

    let quiet = run(&server, &["--quiet", "project", file]).await.ok();
    assert!(!quiet.stdout.contains("assumed"), "{}", quiet.stdout);
    assert!(quiet.stdout.contains("breaks even"));
    // CSV is the months table alone either way.
    let csv = run(&server, &["--csv", "project", file]).await.ok();
    assert!(!csv.stdout.contains("assumed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breakeven_prints_the_fractional_crossing() {
    let server = TestServer::start().await;
    let shown = run(
        &server,
        &[
            "breakeven",
            &data("published-analysis.toml"),
            "--basis",
            "cash",
        ],
    )
    .await
    .ok();
    let line = shown
        .stdout
        .lines()
        .find(|l| l.contains("crossing at"))
        .unwrap_or_else(|| panic!("{}", shown.stdout));
    assert!(line.contains("13.13 months"), "{line}");
    // Everything was stated: no built-in default, only the catalogue's
    // price and what was worked out from the inputs.
    assert!(!shown.stdout.contains("default:"), "{}", shown.stdout);
    assert!(
        shown.stdout.contains("catalogue gpt-4o"),
        "{}",
        shown.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calibrate_keeps_a_named_calibration_scenarios_can_use() {
    let server = TestServer::start().await;
    // The H200 rows of the measurements table, which all fit.
    let table = std::fs::read_to_string(data("measured_throughput.csv")).unwrap();
    let rows: Vec<&str> = table
        .lines()
        .enumerate()
        .filter(|(i, l)| *i == 0 || l.starts_with("trtllm09-h200-"))
        .map(|(_, l)| l)
        .collect();
    assert!(rows.len() > 2);
    let csv = common::cli::TempFile::new(Some(&rows.join("\n")));
    let fitted = run(
        &server,
        &["calibrate", "acme-bench", "--measurements", csv.path()],
    )
    .await
    .ok();
    assert!(fitted.stdout.contains("acme-bench"), "{}", fitted.stdout);
    assert!(
        fitted.stdout.contains("median error after"),
        "{}",
        fitted.stdout
    );
    let json = run(
        &server,
        &[
            "--json",
            "calibrate",
            "acme-bench-2",
            "--measurements",
            csv.path(),
        ],
    )
    .await
    .ok()
    .json();
    assert_eq!(json["name"], "acme-bench-2");
    assert!(json["residuals"].as_array().is_some_and(|r| !r.is_empty()));

    let text = std::fs::read_to_string(example("llama-70b-fp8-rented-h100-vs-gpt-4o-mini.toml"))
        .unwrap()
        .replacen(
            "[self_host]",
            "[self_host]\ncalibration = \"acme-bench\"",
            1,
        )
        // No latency target: the point is which throughput is used.
        .replacen("tpot_seconds = 0.04", "tpot_seconds = 0", 1);
    let file = common::cli::TempFile::new(Some(&text));
    let projected = run(&server, &["--json", "project", file.path()])
        .await
        .ok()
        .json();
    let derived = projected["assumptions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["field"] == "self_host.throughput")
        .cloned()
        .unwrap();
    assert!(
        derived["source"].as_str().unwrap().contains("acme-bench"),
        "{derived}"
    );

    // Nothing to fit is a usage error before any call.
    let none = run(&server, &["calibrate", "empty"]).await;
    assert_eq!(none.code, common::cli::USAGE, "{}", none.stderr);
}
