//! The `breakeven` binary's commands on kept runs, batch jobs and custom
//! catalogue entries against a real server: what they print agrees with the
//! same calls through the generated clients, and failures end with the
//! documented exit codes.

mod common;

use breakeven::cli::output::json;
use breakeven::grpc::pb;
use breakeven::grpc::pb::job_service_client::JobServiceClient;
use breakeven::grpc::pb::run_service_client::RunServiceClient;
use common::TestServer;
use common::cli::{NOT_FOUND, TempFile, USAGE, example, run, same_csv, unique};
use serde_json::Value;

/// The example every test here saves: Llama 3.1 70B FP8 on rented H100s
/// against GPT-4o mini, 36 months.
const EXAMPLE: &str = "llama-70b-fp8-rented-h100-vs-gpt-4o-mini.toml";
const MONTHS: usize = 36;

/// Saves a scenario file with `scenario create` and gives its id.
async fn save(server: &TestServer, path: &str) -> String {
    let saved = run(server, &["--json", "scenario", "create", path])
        .await
        .ok()
        .json();
    saved["id"].as_str().unwrap().to_string()
}

/// `message` as the command line's `--json` prints it.
fn as_json<M: breakeven::cli::output::Proto>(message: &M) -> Value {
    serde_json::from_str(&json(message).unwrap()).unwrap()
}

/// Every chunk of ExportRun, concatenated.
async fn export(server: &TestServer, id: &str, table: pb::ExportTable) -> String {
    let mut stream = RunServiceClient::new(server.channel().await)
        .export_run(pb::ExportRunRequest {
            id: id.into(),
            table: table.into(),
            format: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.message().await.unwrap() {
        bytes.extend(chunk.data);
    }
    String::from_utf8(bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_runs_are_kept_shown_listed_exported_and_replayed() {
    let server = TestServer::start().await;
    let file = example(EXAMPLE);
    let scenario_id = save(&server, file.to_str().unwrap()).await;
    let mut runs = RunServiceClient::new(server.channel().await);

    // A projection: the table names the run and its key figures.
    let table = run(&server, &["scenario", "run", &scenario_id]).await.ok();
    let projection_id = table
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("run "))
        .map(|rest| rest.trim().to_string())
        .unwrap_or_else(|| panic!("no run id: {}", table.stdout));
    assert!(projection_id.starts_with("run_"), "{}", table.stdout);
    let projection = runs
        .get_run(pb::GetRunRequest {
            id: projection_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let figures = projection.key_figures.unwrap();
    for text in [
        "API total".to_string(),
        breakeven::cli::format::usd(figures.total_api),
        scenario_id.clone(),
    ] {
        assert!(table.stdout.contains(&text), "{text}: {}", table.stdout);
    }

    // A small simulation, through the same flags as `simulate`.
    let simulation = run(
        &server,
        &[
            "--json",
            "scenario",
            "run",
            &scenario_id,
            "--kind",
            "simulation",
            "--paths",
            "2000",
            "--seed",
            "7",
            "--demand-volatility",
            "0.3",
        ],
    )
    .await
    .ok()
    .json();
    assert_eq!(simulation["kind"], "RUN_KIND_SIMULATION");
    assert_eq!(simulation["output"]["simulation"]["paths"], 2000);
    assert_eq!(simulation["output"]["simulation"]["seed"], 7);
    let simulation_id = simulation["id"].as_str().unwrap().to_string();

    // `run show --json` is GetRun's answer; the table shows the inputs.
    let stored = runs
        .get_run(pb::GetRunRequest {
            id: simulation_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let shown = run(&server, &["--json", "run", "show", &simulation_id])
        .await
        .ok()
        .json();
    assert_eq!(shown, as_json(&stored));
    assert_eq!(simulation, shown);
    let shown = run(&server, &["run", "show", &simulation_id]).await.ok();
    for text in [
        "hardware/h100-sxm.toml",
        "prices/openai.toml",
        "2,000 paths, seed 7",
        stored.engine_version.as_str(),
        stored.catalog_version.as_str(),
        "2028-05",
    ] {
        assert!(shown.stdout.contains(text), "{text}: {}", shown.stdout);
    }
    let rows = run(&server, &["--csv", "run", "show", &simulation_id])
        .await
        .ok()
        .csv();
    assert_eq!(rows.len(), MONTHS);

    // Listings: every run, newest first; filtered by kind.
    let listed = runs
        .list_runs(pb::ListRunsRequest {
            scenario_id: scenario_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let rows = run(
        &server,
        &["--csv", "run", "list", "--scenario", &scenario_id],
    )
    .await
    .ok()
    .csv();
    assert_eq!(rows.len(), 2);
    assert_eq!(listed.total_size, 2);
    for (row, r) in rows.iter().zip(&listed.runs) {
        assert_eq!(row["id"], r.id);
        assert_eq!(
            row["kind"],
            if r.id == simulation_id {
                "simulation"
            } else {
                "projection"
            }
        );
        same_csv(&row["savings"], r.key_figures.as_ref().unwrap().savings);
    }
    let rows = run(&server, &["--csv", "run", "list", "--kind", "simulation"])
        .await
        .ok()
        .csv();
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str()).collect();
    assert_eq!(ids, [simulation_id.as_str()]);

    // Exports: the streamed CSV itself, to standard output or a file.
    let streamed = export(&server, &projection_id, pb::ExportTable::Months).await;
    let printed = run(
        &server,
        &["run", "export", &projection_id, "--table", "months"],
    )
    .await
    .ok();
    assert_eq!(printed.stdout, streamed);
    let months = printed.csv();
    assert_eq!(months.len(), MONTHS);
    let rows = &projection
        .output
        .as_ref()
        .unwrap()
        .projection
        .as_ref()
        .unwrap()
        .months;
    for (row, month) in months.iter().zip(rows) {
        same_csv(&row["api_cost"], month.api_cost);
    }
    let out = TempFile::new(None);
    run(
        &server,
        &[
            "run",
            "export",
            &simulation_id,
            "--table",
            "simulation-months",
            "--out",
            out.path(),
        ],
    )
    .await
    .ok();
    assert_eq!(
        std::fs::read_to_string(&out.0).unwrap(),
        export(&server, &simulation_id, pb::ExportTable::SimulationMonths).await
    );

    // A replay from the stored inputs is identical.
    let replay = run(&server, &["run", "replay", "--check", &simulation_id])
        .await
        .ok();
    assert!(
        replay
            .stdout
            .lines()
            .any(|l| l.starts_with("identical") && l.ends_with("yes")),
        "{}",
        replay.stdout
    );

    // An unknown run, and volatility flags without a simulation.
    let unknown = run(&server, &["run", "show", "run_0000000000000000"]).await;
    assert_eq!(unknown.code, NOT_FOUND, "{}", unknown.stderr);
    assert!(unknown.stderr.contains("NOT_FOUND"), "{}", unknown.stderr);
    let unknown = run(
        &server,
        &["run", "export", "run_0000000000000000", "--out", out.path()],
    )
    .await;
    assert_eq!(unknown.code, NOT_FOUND, "{}", unknown.stderr);
    let mixed = run(
        &server,
        &[
            "scenario",
            "run",
            &scenario_id,
            "--demand-volatility",
            "0.3",
        ],
    )
    .await;
    assert_eq!(mixed.code, USAGE, "{}", mixed.stderr);
    assert!(
        mixed.stderr.contains("--kind simulation"),
        "{}",
        mixed.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_compare_line_by_line_with_the_changed_inputs() {
    let server = TestServer::start().await;
    let file = example(EXAMPLE);
    let text = std::fs::read_to_string(&file).unwrap();
    let on_h200 = TempFile::new(Some(&text.replacen(
        "gpu = \"h100-sxm\"",
        "gpu = \"h200\"",
        1,
    )));
    let h100 = save(&server, file.to_str().unwrap()).await;
    let h200 = save(&server, on_h200.path()).await;
    let mut ids = Vec::new();
    for scenario_id in [&h100, &h200] {
        let value = run(&server, &["--json", "scenario", "run", scenario_id])
            .await
            .ok()
            .json();
        ids.push(value["id"].as_str().unwrap().to_string());
    }
    let compared = RunServiceClient::new(server.channel().await)
        .compare_runs(pb::CompareRunsRequest {
            baseline_id: ids[0].clone(),
            other_ids: vec![ids[1].clone()],
        })
        .await
        .unwrap()
        .into_inner();
    let rental = compared.lines.iter().find(|l| l.name == "rental").unwrap();
    assert_ne!(rental.differences[0], 0.0);

    let table = run(&server, &["run", "compare", &ids[0], &ids[1]])
        .await
        .ok();
    let rental_line = table
        .stdout
        .lines()
        .find(|l| l.starts_with("rental "))
        .unwrap_or_else(|| panic!("no rental line: {}", table.stdout));
    let difference = breakeven::cli::format::usd(rental.differences[0]);
    assert!(rental_line.contains(&difference), "{rental_line}");
    assert!(table.stdout.contains("difference"), "{}", table.stdout);
    assert!(
        table
            .stdout
            .contains("scenario.self_host.gpu: \"h100-sxm\" -> \"h200\""),
        "{}",
        table.stdout
    );
    for change in &compared.input_changes {
        assert!(table.stdout.contains(change.as_str()), "{change}");
    }

    let value = run(&server, &["--json", "run", "compare", &ids[0], &ids[1]])
        .await
        .ok()
        .json();
    assert_eq!(value, as_json(&compared));
    let rows = run(&server, &["--csv", "run", "compare", &ids[0], &ids[1]])
        .await
        .ok()
        .csv();
    assert_eq!(rows.len(), compared.lines.len());
    // A figure a run does not have (a break-even month that never comes)
    // is an empty cell, and so is its difference.
    let cell = |cell: &str, missing: bool, value: f64| {
        if missing {
            assert_eq!(cell, "");
        } else {
            same_csv(cell, value);
        }
    };
    for (row, line) in rows.iter().zip(&compared.lines) {
        assert_eq!(row["line"], line.name);
        let other_missing = line.others_missing[0];
        cell(&row["baseline"], line.baseline_missing, line.baseline);
        cell(&row[&ids[1]], other_missing, line.others[0]);
        cell(
            &row[&format!("{}_difference", ids[1])],
            line.baseline_missing || other_missing,
            line.differences[0],
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_sweep_finishes_and_agrees_with_the_job_service() {
    let server = TestServer::start().await;
    let scenario_id = save(&server, example(EXAMPLE).to_str().unwrap()).await;
    let mut jobs = JobServiceClient::new(server.channel().await);

    let submitted = run(
        &server,
        &[
            "--json",
            "job",
            "submit",
            "--sweep",
            &scenario_id,
            "--axis",
            "self_host.gpu_id=h100-sxm,h200",
            "--axis",
            "workload.annual_growth=0,0.5",
            "--name",
            "gpu by growth",
            "--watch",
        ],
    )
    .await
    .ok();
    assert!(
        submitted.stderr.contains("progress: 4 of 4 items"),
        "{}",
        submitted.stderr
    );
    let job = submitted.json();
    assert_eq!(job["state"], "JOB_STATE_DONE");
    assert_eq!(job["total_items"], 4);
    assert_eq!(job["succeeded_items"], 4);
    assert_eq!(job["name"], "gpu by growth");
    let job_id = job["id"].as_str().unwrap().to_string();

    let stored = jobs
        .get_job(pb::GetJobRequest { id: job_id.clone() })
        .await
        .unwrap()
        .into_inner();
    let shown = run(&server, &["--json", "job", "show", &job_id])
        .await
        .ok()
        .json();
    assert_eq!(shown, as_json(&stored));
    let items = run(&server, &["--csv", "job", "show", &job_id])
        .await
        .ok()
        .csv();
    assert_eq!(items.len(), 4);
    for (row, item) in items.iter().zip(&stored.items) {
        assert_eq!(row["state"], "succeeded");
        assert_eq!(row["run_id"], item.run_id);
        assert_eq!(row["label"], item.label);
    }
    let runs = run(&server, &["--csv", "run", "list", "--job", &job_id])
        .await
        .ok()
        .csv();
    assert_eq!(runs.len(), 4);

    // Cancelling a finished job changes nothing.
    let cancelled = run(&server, &["--json", "job", "cancel", &job_id])
        .await
        .ok()
        .json();
    assert_eq!(cancelled["state"], "JOB_STATE_DONE");
    let after = jobs
        .get_job(pb::GetJobRequest { id: job_id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.state, i32::from(pb::JobState::Done));
    assert_eq!(after.succeeded_items, 4);

    // A list of scenarios, submitted and then watched on its own.
    let job = run(
        &server,
        &[
            "--json",
            "job",
            "submit",
            "--scenario",
            &scenario_id,
            "--kind",
            "break-even",
        ],
    )
    .await
    .ok()
    .json();
    let second = job["id"].as_str().unwrap().to_string();
    let watched = run(&server, &["--json", "job", "watch", &second])
        .await
        .ok()
        .json();
    assert_eq!(watched["state"], "JOB_STATE_DONE");
    assert_eq!(watched["succeeded_items"], 1);
    let listed = run(&server, &["--csv", "job", "list"]).await.ok().csv();
    let ids: Vec<&str> = listed.iter().map(|r| r["id"].as_str()).collect();
    assert_eq!(ids, [second.as_str(), job_id.as_str()]);

    let bad = run(
        &server,
        &[
            "job",
            "submit",
            "--sweep",
            &scenario_id,
            "--axis",
            "workload.annual_growth=fast",
        ],
    )
    .await;
    assert_eq!(bad.code, USAGE, "{}", bad.stderr);
    let unknown = run(&server, &["job", "show", "job_0000000000000000"]).await;
    assert_eq!(unknown.code, NOT_FOUND, "{}", unknown.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_gpus_are_added_listed_shown_and_removed() {
    let server = TestServer::start().await;
    let id = format!("acme-h100-quote-{}", unique());
    let built_in = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/hardware/h100-sxm.toml"
    ))
    .unwrap();
    // A quoted rental below list and still above the reserved rate.
    let quoted = built_in
        .replacen("id = \"h100-sxm\"", &format!("id = \"{id}\""), 1)
        .replacen("usd_per_gpu_hour = 2.99", "usd_per_gpu_hour = 2.49", 1);
    assert_ne!(quoted, built_in);
    let file = TempFile::named(&id, Some(&quoted));

    let added = run(
        &server,
        &[
            "--json",
            "catalog",
            "custom",
            "add",
            "gpu",
            file.path(),
            "--team",
            "infra",
        ],
    )
    .await
    .ok()
    .json();
    assert_eq!(added["name"], id.as_str());
    assert_eq!(added["kind"], "CATALOG_ENTRY_KIND_GPU");
    assert_eq!(added["team"], "infra");

    let gpus = run(&server, &["--csv", "catalog", "gpus"]).await.ok().csv();
    let row = gpus
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("{id} is not listed"));
    same_csv(&row["rental_on_demand_per_gpu_hour"], 2.49);

    let listed = run(&server, &["--csv", "catalog", "custom", "list"])
        .await
        .ok()
        .csv();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["kind"], "gpu");
    assert_eq!(listed[0]["ids"], id);
    let entry = server
        .catalog()
        .await
        .get_catalog_entry(pb::GetCatalogEntryRequest {
            kind: pb::CatalogEntryKind::Gpu.into(),
            name: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let shown = run(
        &server,
        &["--json", "catalog", "custom", "show", "gpu", &id],
    )
    .await
    .ok()
    .json();
    assert_eq!(shown, as_json(&entry));
    let shown = run(&server, &["catalog", "custom", "show", "gpu", &id])
        .await
        .ok();
    assert!(
        shown.stdout.contains("usd_per_gpu_hour = 2.49"),
        "{}",
        shown.stdout
    );

    // The same id again is refused; a file that is not there is a usage error.
    let again = run(&server, &["catalog", "custom", "add", "gpu", file.path()]).await;
    assert_eq!(
        again.code,
        10 + tonic::Code::AlreadyExists as i32,
        "{}",
        again.stderr
    );
    let missing = TempFile::new(None);
    let output = run(
        &server,
        &["catalog", "custom", "add", "gpu", missing.path()],
    )
    .await;
    assert_eq!(output.code, USAGE, "{}", output.stderr);

    let removed = run(&server, &["catalog", "custom", "remove", "gpu", &id])
        .await
        .ok();
    assert!(removed.stdout.contains(&id), "{}", removed.stdout);
    let gone = run(&server, &["catalog", "gpus", &id]).await;
    assert_eq!(gone.code, NOT_FOUND, "{}", gone.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_is_one_self_contained_page_with_its_charts() {
    let server = TestServer::start().await;
    let file = example(EXAMPLE);
    let scenario_id = save(&server, file.to_str().unwrap()).await;
    let made = run(
        &server,
        &[
            "--json",
            "scenario",
            "run",
            &scenario_id,
            "--kind",
            "simulation",
            "--paths",
            "2000",
            "--demand-volatility",
            "0.3",
        ],
    )
    .await
    .ok()
    .json();
    let run_id = made["id"].as_str().unwrap().to_string();
    let dir = std::env::temp_dir().join(format!("breakeven-report-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("report.html");
    let charts = dir.join("charts");
    run(
        &server,
        &[
            "report",
            &run_id,
            "--out",
            page.to_str().unwrap(),
            "--charts",
            charts.to_str().unwrap(),
            "--chart-format",
            "png",
        ],
    )
    .await
    .ok();
    let html = std::fs::read_to_string(&page).unwrap();
    let doc = roxmltree::Document::parse(html.trim_start_matches("<!DOCTYPE html>").trim())
        .expect("the page parses as XML");
    let svgs = doc.descendants().filter(|n| n.has_tag_name("svg")).count();
    assert!(svgs >= 5, "{svgs} inline charts");
    for external in ["src=\"http", "<link", "<script src", "url(http"] {
        assert!(!html.contains(external), "the page loads {external}");
    }
    assert!(html.contains("gpt-4o-mini"), "the inputs are shown");
    for name in [
        "cumulative-cost",
        "break-even-probability",
        "npv-distribution",
        "sensitivity",
        "throughput",
        "scaling",
    ] {
        let png = std::fs::read(charts.join(format!("{name}.png")))
            .unwrap_or_else(|e| panic!("{name}.png: {e}"));
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name}.png");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
