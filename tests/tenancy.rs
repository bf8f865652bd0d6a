//! Bearer tokens and teams: without a valid token only probes, reflection
//! and catalogue reads answer; with one, a team sees and changes only its
//! own scenarios, runs, jobs and custom entries, and another team's ids
//! are NOT_FOUND. The token file is read again when it changes.

mod common;

use std::sync::Arc;

use breakeven::auth::TokenFile;
use breakeven::catalog::Catalog;
use breakeven::grpc::pb;
use breakeven::grpc::pb::catalog_service_client::CatalogServiceClient;
use breakeven::grpc::pb::job_service_client::JobServiceClient;
use breakeven::grpc::pb::run_service_client::RunServiceClient;
use breakeven::grpc::pb::scenario_service_client::ScenarioServiceClient;
use common::{TestServer, temp_db};
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

const ALICE: &str = "alice-token-0123456789";
const BOB: &str = "bob-token-9876543210ab";
const CAROL: &str = "carol-token-5555555555";

type Authed = InterceptedService<Channel, Bearer>;

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
struct Bearer(Option<&'static str>);

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = self.0 {
            let value: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
            request.metadata_mut().insert("authorization", value);
        }
        Ok(request)
    }
}

struct Team {
    scenarios: ScenarioServiceClient<Authed>,
    runs: RunServiceClient<Authed>,
    jobs: JobServiceClient<Authed>,
    catalog: CatalogServiceClient<Authed>,
}

async fn team(server: &TestServer, token: Option<&'static str>) -> Team {
    let channel = server.channel().await;
    let bearer = Bearer(token);
    Team {
        scenarios: ScenarioServiceClient::with_interceptor(channel.clone(), bearer.clone()),
        runs: RunServiceClient::with_interceptor(channel.clone(), bearer.clone()),
        jobs: JobServiceClient::with_interceptor(channel.clone(), bearer.clone()),
        catalog: CatalogServiceClient::with_interceptor(channel, bearer),
    }
}

fn scenario() -> pb::Scenario {
    pb::Scenario {
        name: "private".into(),
        horizon_months: 12,
        start_month: "2026-01".into(),
        workload: Some(pb::WorkloadSpec {
            requests_per_day: 100_000.0,
            input_tokens: 800.0,
            output_tokens: 200.0,
            ..Default::default()
        }),
        api: Some(pb::ApiOption {
            price_id: "gpt-4o-mini".into(),
            ..Default::default()
        }),
        self_host: Some(pb::SelfHostOption {
            model_id: "llama-3.1-8b".into(),
            gpu_id: "l40s".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn projection() -> Option<pb::RunOptions> {
    Some(pb::RunOptions {
        kind: pb::RunKind::Projection.into(),
        ..Default::default()
    })
}

struct Setup {
    server: TestServer,
    tokens: std::path::PathBuf,
}

async fn setup() -> Setup {
    let tokens = temp_db().with_extension("tokens");
    std::fs::write(&tokens, format!("{ALICE} research\n{BOB} platform\n")).unwrap();
    let options = breakeven::server::Options {
        tokens: Some(Arc::new(TokenFile::open(&tokens).unwrap())),
        ..Default::default()
    };
    let server =
        TestServer::start_with_options(temp_db(), Catalog::embedded().unwrap(), options).await;
    Setup { server, tokens }
}

fn assert_code<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: Code, what: &str) {
    match result {
        Ok(v) => panic!("{what}: expected {code:?}, got {v:?}"),
        Err(status) => assert_eq!(status.code(), code, "{what}: {status:?}"),
    }
}

#[tokio::test]
async fn calls_without_a_valid_token_are_unauthenticated_except_open_ones() {
    let s = setup().await;
    let mut anonymous = team(&s.server, None).await;
    let mut forged = team(&s.server, Some("not-a-token-at-all-00")).await;
    assert_code(
        anonymous
            .scenarios
            .list_scenarios(pb::ListScenariosRequest::default())
            .await,
        Code::Unauthenticated,
        "list without a token",
    );
    assert_code(
        forged
            .scenarios
            .list_scenarios(pb::ListScenariosRequest::default())
            .await,
        Code::Unauthenticated,
        "list with a forged token",
    );
    assert_code(
        anonymous
            .catalog
            .list_catalog_entries(pb::ListCatalogEntriesRequest {})
            .await,
        Code::Unauthenticated,
        "custom entries without a token",
    );
    // Catalogue reads and health checks stay open.
    anonymous
        .catalog
        .list_gpus(pb::ListGpusRequest::default())
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(s.server.channel().await);
    health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_team_never_sees_another_teams_scenarios_runs_jobs_or_entries() {
    let s = setup().await;
    let mut alice = team(&s.server, Some(ALICE)).await;
    let mut bob = team(&s.server, Some(BOB)).await;

    let saved = alice
        .scenarios
        .create_scenario(pb::CreateScenarioRequest {
            name: "private".into(),
            scenario: Some(scenario()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(saved.team, "research");
    assert_code(
        alice
            .scenarios
            .create_scenario(pb::CreateScenarioRequest {
                name: "elsewhere".into(),
                team: "platform".into(),
                scenario: Some(scenario()),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "saving under another team",
    );
    let run = alice
        .runs
        .run_scenario(pb::RunScenarioRequest {
            scenario_id: saved.id.clone(),
            revision: 0,
            options: projection(),
        })
        .await
        .unwrap()
        .into_inner();
    let job = alice
        .jobs
        .submit_batch(pb::SubmitBatchRequest {
            name: "nightly".into(),
            options: projection(),
            items: Some(pb::submit_batch_request::Items::Scenarios(
                pb::ScenarioList {
                    ids: vec![saved.id.clone()],
                },
            )),
        })
        .await
        .unwrap()
        .into_inner();
    let gpu = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hardware/l40s.toml"),
    )
    .unwrap()
    .replacen("id = \"l40s\"", "id = \"research-l40s\"", 1);
    alice
        .catalog
        .create_catalog_entry(pb::CreateCatalogEntryRequest {
            kind: pb::CatalogEntryKind::Gpu.into(),
            name: "research-l40s".into(),
            toml: gpu.clone(),
            ..Default::default()
        })
        .await
        .unwrap();

    let id = saved.id.clone();
    let b = &mut bob;
    assert_code(
        b.scenarios
            .get_scenario(pb::GetScenarioRequest { id: id.clone() })
            .await,
        Code::NotFound,
        "GetScenario",
    );
    assert_code(
        b.scenarios
            .update_scenario(pb::UpdateScenarioRequest {
                id: id.clone(),
                name: "taken".into(),
                scenario: Some(scenario()),
                ..Default::default()
            })
            .await,
        Code::NotFound,
        "UpdateScenario",
    );
    assert_code(
        b.scenarios
            .delete_scenario(pb::DeleteScenarioRequest {
                id: id.clone(),
                etag: String::new(),
            })
            .await,
        Code::NotFound,
        "DeleteScenario",
    );
    assert_code(
        b.scenarios
            .list_scenario_revisions(pb::ListScenarioRevisionsRequest {
                id: id.clone(),
                ..Default::default()
            })
            .await,
        Code::NotFound,
        "ListScenarioRevisions",
    );
    let listed = b
        .scenarios
        .list_scenarios(pb::ListScenariosRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.total_size, 0);
    assert_code(
        b.scenarios
            .list_scenarios(pb::ListScenariosRequest {
                team: "research".into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "listing another team",
    );
    assert_code(
        b.runs
            .run_scenario(pb::RunScenarioRequest {
                scenario_id: id.clone(),
                revision: 0,
                options: projection(),
            })
            .await,
        Code::NotFound,
        "RunScenario",
    );
    assert_code(
        b.runs
            .get_run(pb::GetRunRequest { id: run.id.clone() })
            .await,
        Code::NotFound,
        "GetRun",
    );
    assert_code(
        b.runs
            .replay_run(pb::ReplayRunRequest { id: run.id.clone() })
            .await,
        Code::NotFound,
        "ReplayRun",
    );
    assert_code(
        b.runs
            .export_run(pb::ExportRunRequest {
                id: run.id.clone(),
                table: 0,
                format: 0,
            })
            .await,
        Code::NotFound,
        "ExportRun",
    );
    assert_code(
        b.runs
            .compare_runs(pb::CompareRunsRequest {
                baseline_id: run.id.clone(),
                other_ids: vec![run.id.clone()],
            })
            .await,
        Code::NotFound,
        "CompareRuns",
    );
    let runs = b
        .runs
        .list_runs(pb::ListRunsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(runs.total_size, 0);
    assert_code(
        b.jobs
            .get_job(pb::GetJobRequest { id: job.id.clone() })
            .await,
        Code::NotFound,
        "GetJob",
    );
    assert_code(
        b.jobs
            .cancel_job(pb::CancelJobRequest { id: job.id.clone() })
            .await,
        Code::NotFound,
        "CancelJob",
    );
    assert_code(
        b.jobs
            .watch_job(pb::WatchJobRequest { id: job.id.clone() })
            .await,
        Code::NotFound,
        "WatchJob",
    );
    assert_code(
        b.jobs
            .submit_batch(pb::SubmitBatchRequest {
                name: "borrowed".into(),
                options: projection(),
                items: Some(pb::submit_batch_request::Items::Scenarios(
                    pb::ScenarioList {
                        ids: vec![id.clone()],
                    },
                )),
            })
            .await,
        Code::NotFound,
        "SubmitBatch",
    );
    let jobs = b
        .jobs
        .list_jobs(pb::ListJobsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(jobs.total_size, 0);
    let entries = b
        .catalog
        .list_catalog_entries(pb::ListCatalogEntriesRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(entries.entries.is_empty());
    assert_code(
        b.catalog
            .delete_catalog_entry(pb::DeleteCatalogEntryRequest {
                kind: pb::CatalogEntryKind::Gpu.into(),
                name: "research-l40s".into(),
            })
            .await,
        Code::NotFound,
        "DeleteCatalogEntry",
    );

    // The owner still has everything.
    alice
        .scenarios
        .get_scenario(pb::GetScenarioRequest { id })
        .await
        .unwrap();
    alice
        .runs
        .get_run(pb::GetRunRequest { id: run.id })
        .await
        .unwrap();
    let mine = alice
        .jobs
        .list_jobs(pb::ListJobsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mine.total_size, 1);
}

#[tokio::test]
async fn the_token_file_is_read_again_when_it_changes() {
    let s = setup().await;
    let list = |token: &'static str| {
        let server = &s.server;
        async move {
            let mut t = team(server, Some(token)).await;
            t.scenarios
                .list_scenarios(pb::ListScenariosRequest::default())
                .await
        }
    };
    list(ALICE).await.unwrap();
    assert_code(list(CAROL).await, Code::Unauthenticated, "carol before");
    // Carol is added and Alice revoked.
    std::fs::write(
        &s.tokens,
        format!("{BOB} platform\n{CAROL} finance # new\n"),
    )
    .unwrap();
    list(CAROL).await.unwrap();
    assert_code(list(ALICE).await, Code::Unauthenticated, "alice after");
    // A broken edit keeps the tokens in force.
    std::fs::write(&s.tokens, "half-written").unwrap();
    list(CAROL).await.unwrap();
    let _ = std::fs::remove_file(&s.tokens);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_sends_its_token() {
    let s = setup().await;
    let url = format!("http://{}", s.server.addr);
    let list = move |token: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_breakeven"));
        command
            .args(["--server", &url, "scenario", "list"])
            .env_remove("BREAKEVEN_TOKEN");
        if let Some(token) = token {
            command.env("BREAKEVEN_TOKEN", token);
        }
        command.output().unwrap()
    };
    let with = tokio::task::spawn_blocking(move || (list(Some(ALICE)), list(None)))
        .await
        .unwrap();
    assert!(with.0.status.success(), "{with:?}");
    // UNAUTHENTICATED is gRPC code 16: exit 26.
    assert_eq!(with.1.status.code(), Some(26), "{:?}", with.1);
}
