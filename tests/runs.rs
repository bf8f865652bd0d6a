//! RunService through the generated client: runs kept with their inputs,
//! identical after a restart, reproducible after the catalogue changes,
//! compared and exported.

mod common;

use breakeven::catalog::Catalog;
use breakeven::grpc::pb;
use breakeven::grpc::pb::run_service_client::RunServiceClient;
use breakeven::grpc::pb::scenario_service_client::ScenarioServiceClient;
use common::{TestServer, temp_db};
use prost::Message as _;
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

fn scenario(gpu: &str) -> pb::Scenario {
    pb::Scenario {
        name: "support bot".into(),
        horizon_months: 24,
        start_month: "2026-01".into(),
        workload: Some(pb::WorkloadSpec {
            requests_per_day: 400_000.0,
            input_tokens: 1500.0,
            output_tokens: 300.0,
            annual_growth: Some(0.5),
            ..Default::default()
        }),
        api: Some(pb::ApiOption {
            price_id: "gpt-4o-mini".into(),
            ..Default::default()
        }),
        self_host: Some(pb::SelfHostOption {
            model_id: "llama-3.1-8b".into(),
            gpu_id: gpu.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn options(kind: pb::RunKind) -> pb::RunOptions {
    pb::RunOptions {
        kind: kind.into(),
        simulation: (kind == pb::RunKind::Simulation).then(|| pb::RunSimulationRequest {
            paths: 2000,
            seed: 7,
            stochastic: Some(pb::StochasticInputs {
                demand: Some(pb::stochastic_inputs::Demand::DemandGbm(pb::DemandGbm {
                    volatility: 0.4,
                })),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

struct Clients {
    runs: RunServiceClient<Channel>,
    scenarios: ScenarioServiceClient<Channel>,
}

async fn clients(server: &TestServer) -> Clients {
    let channel = server.channel().await;
    Clients {
        runs: RunServiceClient::new(channel.clone()),
        scenarios: ScenarioServiceClient::new(channel),
    }
}

impl Clients {
    async fn save(&mut self, gpu: &str) -> pb::SavedScenario {
        self.scenarios
            .create_scenario(pb::CreateScenarioRequest {
                name: format!("bot on {gpu}"),
                team: "platform".into(),
                scenario: Some(scenario(gpu)),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
    }

    async fn run(&mut self, scenario_id: &str, kind: pb::RunKind) -> pb::Run {
        self.runs
            .run_scenario(pb::RunScenarioRequest {
                scenario_id: scenario_id.into(),
                revision: 0,
                options: Some(options(kind)),
            })
            .await
            .unwrap()
            .into_inner()
    }

    async fn get(&mut self, id: &str) -> pb::Run {
        self.runs
            .get_run(pb::GetRunRequest { id: id.into() })
            .await
            .unwrap()
            .into_inner()
    }

    async fn export(&mut self, id: &str, table: pb::ExportTable) -> Result<String, tonic::Status> {
        let mut stream = self
            .runs
            .export_run(pb::ExportRunRequest {
                id: id.into(),
                table: table.into(),
                format: 0,
            })
            .await?
            .into_inner();
        let mut text = Vec::new();
        while let Some(chunk) = stream.message().await? {
            text.extend(chunk.data);
        }
        Ok(String::from_utf8(text).unwrap())
    }
}

/// The data files of the built-in catalogue, copied under a temp dir.
fn data_copy() -> std::path::PathBuf {
    let root = temp_db().with_extension("data");
    for dir in ["hardware", "models", "prices"] {
        let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        std::fs::create_dir_all(root.join(dir)).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), root.join(dir).join(entry.file_name())).unwrap();
        }
    }
    root
}

#[tokio::test]
async fn a_run_reads_back_identical_after_a_restart() {
    let db = temp_db();
    let server = TestServer::start_on(db.clone()).await;
    let mut c = clients(&server).await;
    let saved = c.save("h100-sxm").await;
    let run = c.run(&saved.id, pb::RunKind::Simulation).await;
    assert!(run.id.starts_with("run_"), "{}", run.id);
    assert_eq!(run.scenario_revision, 1);
    assert_eq!(run.team, "platform");
    let output = run.output.clone().unwrap();
    assert_eq!(output.projection.as_ref().unwrap().months.len(), 24);
    assert_eq!(output.simulation.as_ref().unwrap().paths, 2000);
    let inputs = run.inputs.clone().unwrap();
    let files: Vec<&str> = inputs
        .catalog_files
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    assert!(files.contains(&"hardware/h100-sxm.toml"), "{files:?}");
    assert!(files.contains(&"prices/openai.toml"), "{files:?}");
    let before = c.get(&run.id).await.encode_to_vec();
    assert_eq!(before, run.encode_to_vec());
    server.stop().await;

    let server = TestServer::start_on(db.clone()).await;
    let mut c = clients(&server).await;
    assert_eq!(c.get(&run.id).await.encode_to_vec(), before);
    let replay = c
        .runs
        .replay_run(pb::ReplayRunRequest { id: run.id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert!(replay.identical);
    assert_eq!(replay.output.unwrap(), output);
    let saved = c
        .scenarios
        .get_scenario(pb::GetScenarioRequest { id: saved.id })
        .await
        .unwrap()
        .into_inner();
    assert!(!saved.last_run_time.is_empty());
    server.stop().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

#[tokio::test]
async fn a_replay_ignores_later_catalogue_changes() {
    let db = temp_db();
    let data = data_copy();
    let server = TestServer::start_with(db.clone(), Catalog::from_dir(&data).unwrap()).await;
    let mut c = clients(&server).await;
    let saved = c.save("h100-sxm").await;
    let run = c.run(&saved.id, pb::RunKind::BreakEven).await;
    server.stop().await;

    // The API price doubles in the data files.
    let prices = data.join("prices/openai.toml");
    let text = std::fs::read_to_string(&prices).unwrap();
    let changed = text.replacen(
        "input_usd_per_mtok = 0.15\n",
        "input_usd_per_mtok = 0.3\n",
        1,
    );
    assert_ne!(text, changed, "the price line was found");
    std::fs::write(&prices, changed).unwrap();

    let server = TestServer::start_with(db.clone(), Catalog::from_dir(&data).unwrap()).await;
    let mut c = clients(&server).await;
    let replay = c
        .runs
        .replay_run(pb::ReplayRunRequest { id: run.id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert!(replay.identical);
    let fresh = c.run(&saved.id, pb::RunKind::BreakEven).await;
    let total = |r: &pb::Run| r.key_figures.as_ref().unwrap().total_api;
    assert!(
        total(&fresh) > total(&run) * 1.3,
        "{} vs {}",
        total(&fresh),
        total(&run)
    );
    server.stop().await;
    let _ = std::fs::remove_dir_all(&data);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

#[tokio::test]
async fn runs_compare_line_by_line_and_name_the_changed_inputs() {
    let server = TestServer::start().await;
    let mut c = clients(&server).await;
    let h100 = c.save("h100-sxm").await;
    let l40s = c.save("l40s").await;
    let base = c.run(&h100.id, pb::RunKind::Projection).await;
    let other = c.run(&l40s.id, pb::RunKind::Projection).await;
    let diff = c
        .runs
        .compare_runs(pb::CompareRunsRequest {
            baseline_id: base.id.clone(),
            other_ids: vec![other.id.clone()],
        })
        .await
        .unwrap()
        .into_inner();
    let line = |name: &str| {
        diff.lines
            .iter()
            .find(|l| l.name == name)
            .unwrap_or_else(|| panic!("no line {name}"))
            .clone()
    };
    let rental = line("rental");
    let months = &base
        .output
        .as_ref()
        .unwrap()
        .projection
        .as_ref()
        .unwrap()
        .months;
    let base_rental: f64 = months.iter().map(|m| m.rental).sum();
    assert_eq!(rental.baseline, base_rental);
    assert_eq!(rental.differences[0], rental.others[0] - rental.baseline);
    let api = line("api_cost");
    assert_eq!(api.differences, [0.0], "same traffic, same API bill");
    assert!(
        diff.input_changes
            .iter()
            .any(|c| c.starts_with("scenario.self_host.gpu: \"h100-sxm\" -> \"l40s\"")),
        "{:?}",
        diff.input_changes
    );
    assert!(diff.baseline.unwrap().inputs.is_none());

    // A run that never breaks even has no break-even month or volume: the
    // lines say so, rather than comparing a 0 as if it were a month.
    let mut tiny = scenario("h100-sxm");
    tiny.workload.as_mut().unwrap().requests_per_day = 10.0;
    let never = c
        .scenarios
        .create_scenario(pb::CreateScenarioRequest {
            name: "ten requests a day".into(),
            team: "platform".into(),
            scenario: Some(tiny),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let never = c.run(&never.id, pb::RunKind::Projection).await;
    assert_eq!(never.key_figures.unwrap().break_even_month, 0);
    let diff = c
        .runs
        .compare_runs(pb::CompareRunsRequest {
            baseline_id: base.id.clone(),
            other_ids: vec![never.id.clone()],
        })
        .await
        .unwrap()
        .into_inner();
    let base_month = base.key_figures.unwrap().break_even_month;
    let line = diff
        .lines
        .iter()
        .find(|l| l.name == "break_even_month")
        .unwrap();
    assert_eq!(line.others_missing, [true], "{line:?}");
    assert_eq!(line.baseline_missing, base_month == 0, "{line:?}");
    assert_eq!(
        (line.others[0], line.differences[0]),
        (0.0, 0.0),
        "{line:?}"
    );
    let rental = diff.lines.iter().find(|l| l.name == "rental").unwrap();
    assert!(!rental.baseline_missing && rental.others_missing == [false]);

    let err = c
        .runs
        .compare_runs(pb::CompareRunsRequest {
            baseline_id: base.id.clone(),
            other_ids: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn exports_stream_csv_that_matches_the_run() {
    let server = TestServer::start().await;
    let mut c = clients(&server).await;
    let saved = c.save("h100-sxm").await;
    let run = c.run(&saved.id, pb::RunKind::Simulation).await;
    let months = run
        .output
        .as_ref()
        .unwrap()
        .projection
        .as_ref()
        .unwrap()
        .months
        .clone();

    let text = c.export(&run.id, pb::ExportTable::Months).await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), months.len());
    for (row, m) in rows.iter().zip(&months) {
        assert_eq!(row[col("date")], m.date);
        assert_eq!(row[col("api_cost")].parse::<f64>().unwrap(), m.api_cost);
        assert_eq!(
            row[col("cumulative_self_host_pnl")].parse::<f64>().unwrap(),
            m.cumulative_self_host_pnl
        );
    }

    let summary = c.export(&run.id, pb::ExportTable::Summary).await.unwrap();
    let savings: f64 = csv::Reader::from_reader(summary.as_bytes())
        .records()
        .map(Result::unwrap)
        .find(|r| &r[0] == "savings")
        .unwrap()[1]
        .parse()
        .unwrap();
    assert_eq!(savings, run.key_figures.as_ref().unwrap().savings);

    let sim = c
        .export(&run.id, pb::ExportTable::SimulationMonths)
        .await
        .unwrap();
    assert_eq!(
        csv::Reader::from_reader(sim.as_bytes()).records().count(),
        24
    );

    let projection = c.run(&saved.id, pb::RunKind::Projection).await;
    let err = c
        .export(&projection.id, pb::ExportTable::SimulationMonths)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
}

#[tokio::test]
async fn listings_filter_by_scenario_and_kind() {
    let server = TestServer::start().await;
    let mut c = clients(&server).await;
    let a = c.save("h100-sxm").await;
    let b = c.save("l40s").await;
    for _ in 0..3 {
        c.run(&a.id, pb::RunKind::Projection).await;
    }
    c.run(&a.id, pb::RunKind::BreakEven).await;
    c.run(&b.id, pb::RunKind::Projection).await;
    let list = |scenario_id: &str, kind: pb::RunKind, page_token: String| pb::ListRunsRequest {
        scenario_id: scenario_id.into(),
        kind: kind.into(),
        page_size: 2,
        page_token,
        ..Default::default()
    };
    let first = c
        .runs
        .list_runs(list(&a.id, pb::RunKind::Unspecified, String::new()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.total_size, 4);
    assert_eq!(first.runs.len(), 2);
    assert!(
        first
            .runs
            .iter()
            .all(|r| r.inputs.is_none() && r.key_figures.is_some())
    );
    let second = c
        .runs
        .list_runs(list(
            &a.id,
            pb::RunKind::Unspecified,
            first.next_page_token.clone(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.runs.len(), 2);
    assert!(second.next_page_token.is_empty());
    let kinds = c
        .runs
        .list_runs(list(&a.id, pb::RunKind::BreakEven, String::new()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kinds.total_size, 1);
    let err = c
        .runs
        .list_runs(list(&b.id, pb::RunKind::Unspecified, first.next_page_token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn bad_requests_name_the_field_and_unknown_ids_are_not_found() {
    let server = TestServer::start().await;
    let mut c = clients(&server).await;
    let saved = c.save("h100-sxm").await;
    let err = c
        .runs
        .run_scenario(pb::RunScenarioRequest {
            scenario_id: saved.id.clone(),
            revision: 0,
            options: Some(pb::RunOptions::default()),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let fields: Vec<String> = err
        .get_details_bad_request()
        .unwrap()
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["options.kind"]);

    for (id, revision) in [("scn_0000000000000000", 0), (saved.id.as_str(), 9)] {
        let err = c
            .runs
            .run_scenario(pb::RunScenarioRequest {
                scenario_id: id.into(),
                revision,
                options: Some(options(pb::RunKind::Projection)),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{id} {revision}");
    }
    let err = c
        .runs
        .get_run(pb::GetRunRequest {
            id: "run_0000000000000000".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn seeded_examples_are_saved_once_and_each_runs() {
    let db = temp_db();
    let catalog = Catalog::embedded().unwrap();
    let store = breakeven::store::Store::open_sqlite(&db, Default::default())
        .await
        .unwrap();
    let added = breakeven::grpc::seed_examples(&store, &catalog)
        .await
        .unwrap();
    assert_eq!(added, breakeven::tco::examples::EXAMPLES.len());
    assert_eq!(
        breakeven::grpc::seed_examples(&store, &catalog)
            .await
            .unwrap(),
        0
    );
    drop(store);

    let server = TestServer::start_on(db.clone()).await;
    let mut c = clients(&server).await;
    let listed = c
        .scenarios
        .list_scenarios(pb::ListScenariosRequest {
            tag: "example".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.total_size as usize, added);
    for saved in listed.scenarios {
        let run = c.run(&saved.id, pb::RunKind::BreakEven).await;
        assert!(run.key_figures.unwrap().total_api > 0.0, "{}", saved.name);
    }
    server.stop().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

/// A simulation run with nothing random is refused before anything is
/// kept, unless its options allow it.
#[tokio::test]
async fn a_run_with_nothing_random_is_refused_and_keeps_nothing() {
    let server = TestServer::start().await;
    let mut c = clients(&server).await;
    let saved = c.save("h100-sxm").await;
    let mut options = options(pb::RunKind::Simulation);
    options.simulation.as_mut().unwrap().stochastic = None;
    let request = pb::RunScenarioRequest {
        scenario_id: saved.id.clone(),
        options: Some(options.clone()),
        ..Default::default()
    };
    let status = c.runs.run_scenario(request.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("allow_deterministic"),
        "{status:?}"
    );
    let listed = c
        .runs
        .list_runs(pb::ListRunsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.runs.is_empty(), "{listed:?}");

    options.simulation.as_mut().unwrap().allow_deterministic = true;
    let run = c
        .runs
        .run_scenario(pb::RunScenarioRequest {
            options: Some(options),
            ..request
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(run.kind(), pb::RunKind::Simulation);
}

#[tokio::test]
async fn a_replay_of_a_run_kept_under_an_older_engine_names_it() {
    let db = temp_db();
    let server = TestServer::start_on(db.clone()).await;
    let mut c = clients(&server).await;
    let saved = c.save("h100-sxm").await;
    let run = c.run(&saved.id, pb::RunKind::Projection).await;
    let replay = c
        .runs
        .replay_run(pb::ReplayRunRequest { id: run.id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert!(replay.identical);
    assert_eq!(replay.stored_engine_version, replay.engine_version);
    assert!(
        replay.explanation.starts_with("identical"),
        "{}",
        replay.explanation
    );
    server.stop().await;

    // The run as an older engine kept it: another version, and outputs
    // without the figures that engine did not compute.
    let mut output = run.output.clone().unwrap();
    output
        .projection
        .as_mut()
        .unwrap()
        .summary
        .as_mut()
        .unwrap()
        .returns = None;
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let changed = conn
            .execute(
                "UPDATE runs SET engine_version = 'breakeven-mc/1', output = ?1 WHERE id = ?2",
                rusqlite::params![output.encode_to_vec(), run.id],
            )
            .unwrap();
        assert_eq!(changed, 1);
    }
    let server = TestServer::start_on(db.clone()).await;
    let mut c = clients(&server).await;
    let replay = c
        .runs
        .replay_run(pb::ReplayRunRequest { id: run.id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert!(!replay.identical);
    assert_eq!(replay.stored_engine_version, "breakeven-mc/1");
    assert!(
        replay
            .explanation
            .contains("computed by engine breakeven-mc/1")
            && replay.explanation.contains(&replay.engine_version),
        "{}",
        replay.explanation
    );
    server.stop().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}
