//! The `breakeven` binary's client subcommands against a real server: what
//! they print agrees with the same call made through the generated client,
//! and failures end with the documented exit codes.

mod common;

use std::io::BufRead as _;
use std::path::Path;
use std::process::{Command, Stdio};

use breakeven::cli::output::json;
use breakeven::grpc::pb;
use breakeven::grpc::pb::estimator_service_client::EstimatorServiceClient;
use breakeven::grpc::pb::simulation_service_client::SimulationServiceClient;
use breakeven::tco::Scenario;
use common::TestServer;
use common::cli::{
    BIN, CANCELLED, INVALID_ARGUMENT, NOT_FOUND, Run, TempFile, UNAVAILABLE, USAGE, command,
    example, run, same, same_csv,
};
use serde_json::Value;
use tonic::Code;

fn scenario_from(path: &Path) -> (Scenario, pb::Scenario) {
    let scenario = Scenario::from_toml(&std::fs::read_to_string(path).unwrap()).unwrap();
    let wire = pb::Scenario::try_from(&scenario).unwrap();
    (scenario, wire)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_listings_agree_with_the_api() {
    let server = TestServer::start().await;
    let mut client = server.catalog().await;

    let gpus = client
        .list_gpus(pb::ListGpusRequest {
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let table = run(&server, &["catalog", "gpus"]).await.ok();
    assert!(table.stdout.contains("h100-sxm"), "{}", table.stdout);
    assert!(table.stdout.contains("$25,000"), "{}", table.stdout);
    let output = run(&server, &["--json", "catalog", "gpus"]).await.ok();
    assert_eq!(
        output.json(),
        serde_json::from_str::<Value>(&json(&gpus).unwrap()).unwrap()
    );
    let rows = run(&server, &["--csv", "catalog", "gpus"]).await.ok().csv();
    assert_eq!(rows.len(), gpus.gpus.len());
    for (row, gpu) in rows.iter().zip(&gpus.gpus) {
        assert_eq!(row["id"], gpu.id);
        same_csv(&row["memory_gb"], gpu.memory_gb);
        same_csv(
            &row["purchase_per_gpu"],
            gpu.purchase_per_gpu.as_ref().unwrap().usd,
        );
    }

    let models = client
        .list_models(pb::ListModelsRequest {
            developer: "meta".into(),
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!models.models.is_empty());
    let output = run(
        &server,
        &["--json", "catalog", "models", "--developer", "meta"],
    )
    .await
    .ok();
    assert_eq!(
        output.json(),
        serde_json::from_str::<Value>(&json(&models).unwrap()).unwrap()
    );

    let prices = client
        .list_api_prices(pb::ListApiPricesRequest {
            provider: "openai".into(),
            as_of: "2025-01-15".into(),
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let args = [
        "catalog",
        "prices",
        "--provider",
        "openai",
        "--as-of",
        "2025-01-15",
    ];
    let table = run(&server, &args).await.ok();
    assert!(
        table.stdout.contains("in force on 2025-01-15"),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("gpt-4o-mini"), "{}", table.stdout);
    assert!(table.stdout.contains("$0.15"), "{}", table.stdout);
    let output = run(&server, &[&["--json"][..], &args].concat()).await.ok();
    let value = output.json();
    assert_eq!(value["as_of"], "2025-01-15");
    assert_eq!(
        value,
        serde_json::from_str::<Value>(&json(&prices).unwrap()).unwrap()
    );
    let rows = run(&server, &[&["--csv"][..], &args].concat())
        .await
        .ok()
        .csv();
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str()).collect();
    let expected: Vec<&str> = prices.prices.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, expected);
    for (row, price) in rows.iter().zip(&prices.prices) {
        same_csv(&row["output_usd_per_mtok"], price.output_usd_per_mtok);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_id_ends_with_the_not_found_code() {
    let server = TestServer::start().await;
    let output = run(&server, &["catalog", "gpus", "no-such-gpu"]).await;
    assert_eq!(output.code, NOT_FOUND, "{}", output.stderr);
    assert!(output.stderr.contains("NOT_FOUND"), "{}", output.stderr);
    let output = run(&server, &["scenario", "show", "scn_0000000000000000"]).await;
    assert_eq!(output.code, NOT_FOUND, "{}", output.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn estimate_flags_mirror_the_request() {
    let server = TestServer::start().await;
    let request = pb::EstimateThroughputRequest {
        model_id: "llama-3.1-70b".into(),
        gpu_id: "h100-sxm".into(),
        weight_precision: pb::Precision::Fp8.into(),
        workload: Some(pb::Workload {
            input_tokens: 1000,
            output_tokens: 300,
            concurrency: 0,
        }),
        targets: Some(pb::LatencyTargets {
            ttft_seconds: 0.0,
            tpot_seconds: 0.05,
        }),
        ..Default::default()
    };
    let estimate = EstimatorServiceClient::new(server.channel().await)
        .estimate_throughput(request)
        .await
        .unwrap()
        .into_inner();
    let args = [
        "estimate",
        "--model",
        "llama-3.1-70b",
        "--gpu",
        "h100-sxm",
        "--precision",
        "fp8",
        "--input-tokens",
        "1000",
        "--output-tokens",
        "300",
        "--tpot",
        "0.05",
    ];
    let table = run(&server, &args).await.ok();
    let shown = breakeven::cli::format::number(estimate.output_tokens_per_second_per_gpu, 0);
    assert!(table.stdout.contains(&shown), "{}", table.stdout);
    assert!(table.stdout.contains("meets targets"), "{}", table.stdout);

    let value = run(&server, &[&["--json"][..], &args].concat())
        .await
        .ok()
        .json();
    same(
        &value["output_tokens_per_second_per_gpu"],
        estimate.output_tokens_per_second_per_gpu,
    );
    assert_eq!(value["tensor_parallel"], estimate.tensor_parallel);
    assert_eq!(
        value,
        serde_json::from_str::<Value>(&json(&estimate).unwrap()).unwrap()
    );

    let rows = run(&server, &[&["--csv"][..], &args].concat())
        .await
        .ok()
        .csv();
    assert_eq!(rows.len(), 1);
    same_csv(
        &rows[0]["output_tokens_per_second_per_gpu"],
        estimate.output_tokens_per_second_per_gpu,
    );
    same_csv(&rows[0]["tpot_seconds"], estimate.tpot_seconds);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_prints_months_as_dates_and_agrees_with_the_api() {
    let server = TestServer::start().await;
    let file = example("llama-70b-fp8-rented-h100-vs-gpt-4o-mini.toml");
    let (scenario, wire) = scenario_from(&file);
    let response = SimulationServiceClient::new(server.channel().await)
        .project(pb::ProjectRequest {
            scenario: Some(wire),
            basis: pb::CostBasis::ProfitAndLoss.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let path = file.to_str().unwrap();

    let table = run(&server, &["project", path]).await.ok();
    assert!(table.stdout.contains(&scenario.name), "{}", table.stdout);
    // Month 36 of a scenario starting in June 2025.
    assert!(table.stdout.contains("2028-05"), "{}", table.stdout);
    let total = response.summary.as_ref().unwrap().total_api;
    assert!(
        table.stdout.contains(&breakeven::cli::format::usd(total)),
        "{}",
        table.stdout
    );

    let value = run(&server, &["--json", "project", path]).await.ok().json();
    assert_eq!(value["months"].as_array().unwrap().len(), 36);
    same(&value["summary"]["total_api"], total);
    assert_eq!(
        value,
        serde_json::from_str::<Value>(&json(&response).unwrap()).unwrap()
    );

    let rows = run(&server, &["--csv", "project", path]).await.ok().csv();
    assert_eq!(rows.len(), response.months.len());
    for (row, month) in rows.iter().zip(&response.months) {
        assert_eq!(row["month"], month.month.to_string());
        assert_eq!(row["date"], month.date[..7]);
        same_csv(&row["api_cost"], month.api_cost);
        same_csv(&row["self_host"], month.self_host_pnl);
        same_csv(&row["cumulative_api"], month.cumulative_api);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breakeven_gives_the_volume_and_the_month_as_a_date() {
    let server = TestServer::start().await;
    let file = example("fine-tune-vs-prompting.toml");
    let (_, wire) = scenario_from(&file);
    let response = SimulationServiceClient::new(server.channel().await)
        .find_break_even(pb::FindBreakEvenRequest {
            scenario: Some(wire),
            basis: pb::CostBasis::ProfitAndLoss.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(response.breaks_even);
    let volume = response.break_even_volume.as_ref().unwrap();
    let path = file.to_str().unwrap();

    let table = run(&server, &["breakeven", path]).await.ok();
    let month = format!("month {} (2025-", response.break_even_month);
    assert!(table.stdout.contains(&month), "{}", table.stdout);
    let requests = breakeven::cli::format::count(volume.requests_per_day);
    assert!(table.stdout.contains(&requests), "{}", table.stdout);

    let value = run(&server, &["--json", "breakeven", path])
        .await
        .ok()
        .json();
    assert_eq!(
        value,
        serde_json::from_str::<Value>(&json(&response).unwrap()).unwrap()
    );
    assert_eq!(value["break_even_month"], response.break_even_month);

    let rows = run(&server, &["--csv", "breakeven", path]).await.ok().csv();
    assert_eq!(rows.len(), response.sensitivities.len());
    for (row, case) in rows.iter().zip(&response.sensitivities) {
        assert_eq!(row["input"], case.input);
        same_csv(&row["change"], case.change);
        same_csv(&row["horizon_savings"], case.horizon_savings);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_scenario_file_is_reported_with_its_line_before_any_call() {
    let server = TestServer::start().await;
    let text = std::fs::read_to_string(example("hybrid-overflow.toml")).unwrap();
    let line_of = |key: &str| text.lines().position(|l| l.starts_with(key)).unwrap() + 1;
    // Misspell a key.
    let line = line_of("output_tokens");
    let bad = TempFile::new(Some(&text.replacen("output_tokens", "output_tokenz", 1)));
    for command in ["project", "breakeven", "simulate"] {
        let output = run(&server, &[command, bad.path()]).await;
        assert_eq!(output.code, USAGE, "{command}: {}", output.stderr);
        assert!(
            output
                .stderr
                .contains(&format!("{}: line {line}:", bad.path())),
            "{command}: {}",
            output.stderr
        );
        assert!(output.stderr.contains("output_tokenz"), "{}", output.stderr);
    }

    // A value only the server can judge: the line comes from the file.
    let line = line_of("price_id");
    let unknown = TempFile::new(Some(
        &text.replace("together-llama-3.3-70b", "no-such-price"),
    ));
    let output = run(&server, &["project", unknown.path()]).await;
    assert_eq!(output.code, INVALID_ARGUMENT, "{}", output.stderr);
    assert!(
        output
            .stderr
            .contains(&format!("line {line}: scenario.api.price_id")),
        "{}",
        output.stderr
    );

    let missing = TempFile::new(None);
    let output = run(&server, &["project", missing.path()]).await;
    assert_eq!(output.code, USAGE, "{}", output.stderr);
    assert!(output.stderr.contains("cannot read"), "{}", output.stderr);
}

#[test]
fn no_server_is_one_clear_line_and_the_unavailable_code() {
    // A port that was free a moment ago and has nothing listening now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let output: Run = Command::new(BIN)
        .env("BREAKEVEN_SERVER", &url)
        .args(["catalog", "gpus"])
        .output()
        .unwrap()
        .into();
    assert_eq!(output.code, UNAVAILABLE, "{}", output.stderr);
    // Called by its path, the advice uses the same path (relative to the
    // working directory, as `cargo run` and `target/release/…` users type).
    let here = std::env::current_dir().unwrap();
    let shown = Path::new(BIN).strip_prefix(&here).unwrap_or(Path::new(BIN));
    assert_eq!(
        output.stderr.trim(),
        format!(
            "error: no breakeven server at {url}: connection refused; \
             start one with `{} serve`",
            shown.display()
        )
    );
    assert!(output.stdout.is_empty());

    // Found on the PATH, it is plain `breakeven`.
    let dir = Path::new(BIN).parent().unwrap();
    let output: Run = Command::new("breakeven")
        .env("PATH", dir)
        .env("BREAKEVEN_SERVER", &url)
        .args(["catalog", "gpus"])
        .output()
        .unwrap()
        .into();
    assert_eq!(output.code, UNAVAILABLE, "{}", output.stderr);
    assert_eq!(
        output.stderr.trim(),
        format!(
            "error: no breakeven server at {url}: connection refused; \
             start one with `breakeven serve`"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_are_created_listed_shown_updated_and_deleted() {
    let server = TestServer::start().await;
    let file = example("hybrid-overflow.toml");
    let path = file.to_str().unwrap();

    let created = run(
        &server,
        &[
            "--json", "scenario", "create", path, "--team", "infra", "--tag", "gpu", "--tag",
            "owned",
        ],
    )
    .await
    .ok()
    .json();
    let id = created["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("scn_"), "{created}");
    assert_eq!(created["name"], "Hybrid: 16 owned H100 + Together overflow");
    assert_eq!(created["revision"], 1);

    let rows = run(&server, &["--csv", "scenario", "list", "--tag", "owned"])
        .await
        .ok()
        .csv();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["id"], id);
    assert_eq!(rows[0]["team"], "infra");
    let none = run(&server, &["--csv", "scenario", "list", "--team", "nobody"])
        .await
        .ok()
        .csv();
    assert!(none.is_empty());

    let shown = run(&server, &["scenario", "show", &id]).await.ok();
    for text in [
        id.as_str(),
        "infra",
        "gpu, owned",
        "600,000",
        "together-llama-3.3-70b",
    ] {
        assert!(shown.stdout.contains(text), "{text}: {}", shown.stdout);
    }

    // The update keeps name, team and tags, and checks the etag it read.
    let other = example("llama-8b-l4-vs-gemini-flash.toml");
    let updated = run(
        &server,
        &["--json", "scenario", "update", &id, other.to_str().unwrap()],
    )
    .await
    .ok()
    .json();
    assert_eq!(updated["revision"], 2);
    assert_eq!(updated["team"], "infra");
    assert_eq!(updated["tags"], serde_json::json!(["gpu", "owned"]));
    let stale = run(
        &server,
        &[
            "scenario",
            "update",
            &id,
            path,
            "--etag",
            created["etag"].as_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(stale.code, 10 + Code::Aborted as i32, "{}", stale.stderr);

    let revisions = run(&server, &["--csv", "scenario", "revisions", &id])
        .await
        .ok()
        .csv();
    let numbers: Vec<&str> = revisions.iter().map(|r| r["revision"].as_str()).collect();
    assert_eq!(numbers, ["2", "1"]);

    let deleted = run(&server, &["scenario", "delete", &id]).await.ok();
    assert!(deleted.stdout.contains(&id), "{}", deleted.stdout);
    let gone = run(&server, &["scenario", "show", &id]).await;
    assert_eq!(gone.code, NOT_FOUND, "{}", gone.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_init_writes_a_template_that_parses_and_projects() {
    let server = TestServer::start().await;
    let printed = run(&server, &["scenario", "init"]).await.ok();
    Scenario::from_toml(&printed.stdout).expect("the template parses");

    let file = TempFile::new(None);
    run(&server, &["scenario", "init", "--out", file.path()])
        .await
        .ok();
    assert_eq!(std::fs::read_to_string(&file.0).unwrap(), printed.stdout);
    let projected = run(&server, &["--json", "project", file.path()])
        .await
        .ok()
        .json();
    assert_eq!(projected["months"].as_array().unwrap().len(), 36);

    // Never over an existing file.
    let again = run(&server, &["scenario", "init", "--out", file.path()]).await;
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert!(again.stderr.contains("exists"), "{}", again.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_streams_progress_and_gives_the_runs_result() {
    let server = TestServer::start().await;
    let file = example("hybrid-overflow.toml");
    let (_, wire) = scenario_from(&file);
    let result = SimulationServiceClient::new(server.channel().await)
        .run_simulation(pb::RunSimulationRequest {
            scenario: Some(wire),
            stochastic: Some(pb::StochasticInputs {
                demand: Some(pb::stochastic_inputs::Demand::DemandGbm(pb::DemandGbm {
                    volatility: 0.3,
                })),
                ..Default::default()
            }),
            paths: 4_000,
            seed: 7,
            basis: pb::CostBasis::ProfitAndLoss.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let args = [
        "simulate",
        file.to_str().unwrap(),
        "--paths",
        "4000",
        "--seed",
        "7",
        "--demand-volatility",
        "0.3",
    ];

    let table = run(&server, &args).await.ok();
    assert!(
        table.stderr.contains("progress: 100.0%"),
        "{}",
        table.stderr
    );
    assert!(table.stdout.contains("self-host cheaper over the horizon"));
    assert!(table.stdout.contains("2027-12"), "{}", table.stdout);

    // The same seed gives the same numbers, streamed or not.
    let value = run(&server, &[&["--json"][..], &args].concat())
        .await
        .ok()
        .json();
    assert_eq!(value["paths"], 4_000);
    assert_eq!(
        value,
        serde_json::from_str::<Value>(&json(&result).unwrap()).unwrap()
    );

    let rows = run(&server, &[&["--csv"][..], &args].concat())
        .await
        .ok()
        .csv();
    assert_eq!(rows.len(), result.months.len());
    for (row, month) in rows.iter().zip(&result.months) {
        same_csv(&row["p_break_even_by"], month.p_break_even_by);
        same_csv(
            &row["cumulative_savings_p50"],
            month.cumulative_savings.as_ref().unwrap().p50,
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_cancels_a_simulation_and_frees_its_slot() {
    let server = TestServer::start().await;
    let file = example("hybrid-overflow.toml");
    let mut child = command(
        &server,
        &[
            "simulate",
            file.to_str().unwrap(),
            "--paths",
            "10000000",
            "--demand-volatility",
            "0.3",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();

    let (code, stderr) = tokio::task::spawn_blocking(move || {
        let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let mut seen = Vec::new();
        // The run is under way once the server has sent progress.
        for line in lines.by_ref() {
            let line = line.unwrap();
            let started = line.starts_with("progress:");
            seen.push(line);
            if started {
                break;
            }
        }
        assert!(
            seen.last().is_some_and(|l| l.starts_with("progress:")),
            "{seen:?}"
        );
        let status = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        seen.extend(lines.map(Result::unwrap));
        (child.wait().unwrap().code(), seen.join("\n"))
    })
    .await
    .unwrap();
    assert_eq!(code, Some(CANCELLED), "{stderr}");
    assert!(stderr.ends_with("cancelled"), "{stderr}");

    // The server stops the abandoned run and frees its slot: both of the
    // slots it allows can be taken again. The run stops at its next batch,
    // so poll rather than expect it at once. The two runs held for the
    // check are long enough to overlap, and short enough that one left over
    // when the test's runtime shuts down stops soon.
    let (_, wire) = scenario_from(&file);
    let request = pb::RunSimulationRequest {
        scenario: Some(wire),
        paths: 200_000,
        seed: 1,
        // Every path the projection: the test needs only the load.
        allow_deterministic: true,
        ..Default::default()
    };
    let mut client = SimulationServiceClient::new(server.channel().await);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let first = client.stream_simulation(request.clone()).await;
        let second = client.stream_simulation(request.clone()).await;
        match (first, second) {
            (Ok(_), Ok(_)) => break,
            (first, second) => {
                for outcome in [first, second] {
                    if let Err(status) = outcome {
                        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                    }
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "the cancelled simulation never gave its slot back"
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// `simulate` with nothing random says so in plain words and exits with the
/// usage code; `--allow-deterministic` runs it, noting that every path is
/// the projection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_with_nothing_random_says_what_to_set() {
    let server = TestServer::start().await;
    let file = example("hybrid-overflow.toml");
    let file = file.to_str().unwrap();
    let refused = run(&server, &["simulate", file, "--paths", "200"]).await;
    assert_eq!(refused.code, USAGE, "{}", refused.stderr);
    for words in [
        "nothing in this simulation is random",
        "--demand-volatility",
        "--allow-deterministic",
    ] {
        assert!(refused.stderr.contains(words), "{}", refused.stderr);
    }
    let allowed = run(
        &server,
        &["simulate", file, "--paths", "200", "--allow-deterministic"],
    )
    .await
    .ok();
    assert!(
        allowed
            .stderr
            .contains("every path is the scenario's projection"),
        "{}",
        allowed.stderr
    );
}
