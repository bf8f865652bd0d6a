//! `CatalogService.ImportPrices` and `catalog import-litellm`: LiteLLM's
//! price file, trimmed to a few dozen keys (tests/data/), imported as dated
//! prices of the importing team only.
//!
//! The trimmed file holds the real 2026-07-24 records of its keys except
//! two: GPT-4o mini cut to $0.12/$0.48 (the changed price) and Gemini 2.0
//! Flash at $150/$600 per million, the unit slip LiteLLM really carried on
//! 2025-02-07. GPT-4.1 and the others are unchanged; `1024-x-1024/dall-e-2`,
//! `azure/gpt-4o` and a few more map to no catalogue id.

mod common;

use std::sync::Arc;

use breakeven::auth::TokenFile;
use breakeven::catalog::Catalog;
use breakeven::grpc::pb;
use breakeven::grpc::pb::catalog_service_client::CatalogServiceClient;
use breakeven::grpc::pb::run_service_client::RunServiceClient;
use breakeven::grpc::pb::scenario_service_client::ScenarioServiceClient;
use breakeven::grpc::pb::simulation_service_client::SimulationServiceClient;
use common::cli::{self, INVALID_ARGUMENT};
use common::{TestServer, temp_db};
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic_types::StatusExt;

const ALICE: &str = "alice-token-0123456789";
const BOB: &str = "bob-token-9876543210ab";
const FAILED_PRECONDITION: i32 = 19;

fn trimmed() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/litellm_model_prices_trimmed.json")
}

fn trimmed_bytes() -> Vec<u8> {
    std::fs::read(trimmed()).unwrap()
}

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

type Authed = InterceptedService<Channel, Bearer>;

struct Team {
    catalog: CatalogServiceClient<Authed>,
    simulation: SimulationServiceClient<Authed>,
    scenarios: ScenarioServiceClient<Authed>,
    runs: RunServiceClient<Authed>,
}

async fn team(server: &TestServer, token: Option<&'static str>) -> Team {
    let channel = server.channel().await;
    Team {
        catalog: CatalogServiceClient::with_interceptor(channel.clone(), Bearer(token)),
        simulation: SimulationServiceClient::with_interceptor(channel.clone(), Bearer(token)),
        scenarios: ScenarioServiceClient::with_interceptor(channel.clone(), Bearer(token)),
        runs: RunServiceClient::with_interceptor(channel, Bearer(token)),
    }
}

/// A server that checks tokens: alice is in team research, bob in platform.
async fn start(db: std::path::PathBuf) -> TestServer {
    let tokens = db.with_extension("tokens");
    std::fs::write(&tokens, format!("{ALICE} research\n{BOB} platform\n")).unwrap();
    let options = breakeven::server::Options {
        tokens: Some(Arc::new(TokenFile::open(&tokens).unwrap())),
        ..Default::default()
    };
    TestServer::start_with_options(db, Catalog::embedded().unwrap(), options).await
}

fn import(date: &str, dry_run: bool) -> pb::ImportPricesRequest {
    pb::ImportPricesRequest {
        litellm_json: trimmed_bytes(),
        effective_date: date.into(),
        dry_run,
        team: String::new(),
    }
}

/// Every price entry a team sees, with its whole history.
async fn listing(t: &mut Team) -> Vec<pb::ApiPrice> {
    t.catalog
        .list_api_prices(pb::ListApiPricesRequest {
            as_of: "2030-01-01".into(),
            include_history: true,
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .prices
}

async fn input_price(t: &mut Team, id: &str, as_of: &str) -> f64 {
    t.catalog
        .get_api_price(pb::GetApiPriceRequest {
            id: id.into(),
            as_of: as_of.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .input_usd_per_mtok
}

/// A scenario on GPT-4o mini from September 2026.
fn scenario() -> pb::Scenario {
    pb::Scenario {
        name: "support bot".into(),
        horizon_months: 6,
        start_month: "2026-09".into(),
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

/// The API cost of the scenario's first month.
async fn api_cost(t: &mut Team) -> f64 {
    t.simulation
        .project(pb::ProjectRequest {
            scenario: Some(scenario()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .months[0]
        .api_cost
}

fn field(change: &pb::PriceChange, name: &str) -> (Option<f64>, Option<f64>) {
    let f = change
        .fields
        .iter()
        .find(|f| f.field == name)
        .unwrap_or_else(|| panic!("no {name} in {change:?}"));
    (f.old_usd_per_mtok, f.new_usd_per_mtok)
}

fn mapping(price_id: &str, key: &str) -> pb::LitellmMapping {
    pb::LitellmMapping {
        price_id: price_id.into(),
        litellm_key: key.into(),
    }
}

#[tokio::test]
async fn a_dry_run_lists_the_changes_and_changes_nothing() {
    let server = start(temp_db()).await;
    let mut alice = team(&server, Some(ALICE)).await;
    let before = listing(&mut alice).await;

    let r = alice
        .catalog
        .import_prices(import("2026-08-01", true))
        .await
        .unwrap()
        .into_inner();
    assert!(r.dry_run);
    assert_eq!(r.team, "research");
    assert_eq!(r.effective_date, "2026-08-01");
    // The changed price, field by field.
    let ids: Vec<&str> = r.changes.iter().map(|c| c.price_id.as_str()).collect();
    assert_eq!(ids, ["gpt-4o-mini"]);
    let mini = &r.changes[0];
    assert_eq!(mini.litellm_key, "gpt-4o-mini");
    assert_eq!(mini.replaces_effective_date, "2024-07-18");
    assert_eq!(field(mini, "input"), (Some(0.15), Some(0.12)));
    assert_eq!(field(mini, "output"), (Some(0.6), Some(0.48)));
    assert_eq!(field(mini, "cached_input"), (Some(0.075), Some(0.06)));
    assert_eq!(field(mini, "batch_input"), (Some(0.075), Some(0.06)));
    assert_eq!(field(mini, "batch_output"), (Some(0.3), Some(0.24)));
    assert_eq!(mini.fields.len(), 5);
    // The unchanged ones.
    for id in ["gpt-4.1", "gpt-4o", "claude-sonnet-4.5", "deepseek-v3"] {
        assert!(r.unchanged.iter().any(|u| u == id), "{id}: {r:?}");
    }
    // The slip: named by key and field, and not imported.
    let slips: Vec<(&str, &str, &str)> = r
        .slips
        .iter()
        .map(|s| {
            (
                s.price_id.as_str(),
                s.litellm_key.as_str(),
                s.field.as_str(),
            )
        })
        .collect();
    assert_eq!(
        slips,
        [
            (
                "gemini-2.0-flash",
                "gemini/gemini-2.0-flash",
                "input_cost_per_token"
            ),
            (
                "gemini-2.0-flash",
                "gemini/gemini-2.0-flash",
                "output_cost_per_token"
            ),
        ]
    );
    assert_eq!(r.slips[0].usd_per_token, 1.5e-4);
    assert!(r.slips[0].reason.contains("times the price in force"));
    // Keys nothing maps to, mapped keys the file lacks, retired ids.
    for key in [
        "1024-x-1024/dall-e-2",
        "azure/gpt-4o",
        "openrouter/openai/gpt-4o",
    ] {
        assert!(r.unmapped.iter().any(|u| u == key), "{key}");
    }
    assert!(!r.unmapped.iter().any(|u| u == "sample_spec"));
    assert!(r.not_found.contains(&mapping("gpt-5.6", "gpt-5.6")));
    assert_eq!(
        r.retired,
        [mapping("claude-3-opus", "claude-3-opus-20240229")]
    );

    // Nothing stored: the listing and the price in force are as before.
    assert_eq!(listing(&mut alice).await, before);
    assert_eq!(
        input_price(&mut alice, "gpt-4o-mini", "2026-09-01").await,
        0.15
    );

    // The command line gives the same change list, and stores nothing.
    let file = trimmed();
    let args = [
        "--token",
        ALICE,
        "--json",
        "catalog",
        "import-litellm",
        file.to_str().unwrap(),
        "--effective-date",
        "2026-08-01",
        "--dry-run",
    ];
    let json = cli::run(&server, &args).await.ok().json();
    assert_eq!(json["dry_run"], true);
    assert_eq!(json["changes"][0]["price_id"], "gpt-4o-mini");
    assert_eq!(json["changes"][0]["fields"][0]["field"], "input");
    cli::same(&json["changes"][0]["fields"][0]["old_usd_per_mtok"], 0.15);
    cli::same(&json["changes"][0]["fields"][0]["new_usd_per_mtok"], 0.12);
    assert_eq!(json["slips"].as_array().unwrap().len(), 2);
    // Without a token the server refuses the import.
    let anonymous = cli::run(&server, &args[2..]).await;
    assert_eq!(
        anonymous.code,
        10 + Code::Unauthenticated as i32,
        "{}",
        anonymous.stderr
    );
    let mut args = args.to_vec();
    args.retain(|a| *a != "--json");
    let table = cli::run(&server, &args).await.ok().stdout;
    assert!(table.contains("dry run, nothing stored"), "{table}");
    assert!(table.contains("gemini/gemini-2.0-flash"), "{table}");
    let row = table
        .lines()
        .find(|l| l.starts_with("gpt-4o-mini") && l.contains(" input "))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("$0.15") && row.contains("$0.12"), "{row}");
    assert_eq!(listing(&mut alice).await, before);
}

#[tokio::test]
async fn an_import_prices_the_team_from_its_effective_date_and_no_one_else() {
    let db = temp_db();
    let server = start(db.clone()).await;
    let mut alice = team(&server, Some(ALICE)).await;
    let mut bob = team(&server, Some(BOB)).await;
    let mut anonymous = team(&server, None).await;
    let bob_before = listing(&mut bob).await;
    let cost_before = api_cost(&mut alice).await;

    let file = trimmed();
    let out = cli::run(
        &server,
        &[
            "--token",
            ALICE,
            "catalog",
            "import-litellm",
            file.to_str().unwrap(),
            "--effective-date",
            "2026-08-01",
        ],
    )
    .await
    .ok()
    .stdout;
    assert!(out.contains("imported: 1 changed"), "{out}");

    // Alice's team: the new price from the effective date on.
    assert_eq!(
        input_price(&mut alice, "gpt-4o-mini", "2026-07-31").await,
        0.15
    );
    assert_eq!(
        input_price(&mut alice, "gpt-4o-mini", "2026-08-01").await,
        0.12
    );
    let new = alice
        .catalog
        .get_api_price(pb::GetApiPriceRequest {
            id: "gpt-4o-mini".into(),
            as_of: "2026-09-01".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(new.output_usd_per_mtok, 0.48);
    assert_eq!(new.effective_date, "2026-08-01");
    let source = new.provenance.unwrap().source;
    assert!(source.contains("LiteLLM"), "{source}");
    // The slipped figures were not imported.
    assert_eq!(
        input_price(&mut alice, "gemini-2.0-flash", "2026-09-01").await,
        0.1
    );
    // Its projections use it: every GPT-4o mini price fell by a fifth.
    let cost_after = api_cost(&mut alice).await;
    assert!(
        (cost_after / cost_before - 0.8).abs() < 1e-9,
        "{cost_before} → {cost_after}"
    );

    // A kept run of the team's saved scenario prices the same, carries the
    // imported file and replays identically.
    let saved = alice
        .scenarios
        .create_scenario(pb::CreateScenarioRequest {
            name: "support bot".into(),
            scenario: Some(scenario()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let run = alice
        .runs
        .run_scenario(pb::RunScenarioRequest {
            scenario_id: saved.id,
            revision: 0,
            options: Some(pb::RunOptions {
                kind: pb::RunKind::Projection.into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let months = &run
        .output
        .as_ref()
        .unwrap()
        .projection
        .as_ref()
        .unwrap()
        .months;
    assert_eq!(months[0].api_cost, cost_after);
    let files: Vec<&str> = run
        .inputs
        .as_ref()
        .unwrap()
        .catalog_files
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    assert!(
        files.contains(&"imported/gpt-4o-mini/2026-08-01/prices/openai.toml"),
        "{files:?}"
    );
    let replay = alice
        .runs
        .replay_run(pb::ReplayRunRequest { id: run.id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert!(replay.identical);

    // Another team, and callers without a token, still see the old price.
    assert_eq!(
        input_price(&mut bob, "gpt-4o-mini", "2026-09-01").await,
        0.15
    );
    assert_eq!(
        input_price(&mut anonymous, "gpt-4o-mini", "2026-09-01").await,
        0.15
    );
    assert_eq!(api_cost(&mut bob).await, cost_before);
    assert_eq!(listing(&mut bob).await, bob_before);

    // The same file again changes nothing more.
    let again = alice
        .catalog
        .import_prices(import("2026-08-01", false))
        .await
        .unwrap()
        .into_inner();
    assert!(again.changes.is_empty(), "{again:?}");
    assert!(again.unchanged.iter().any(|u| u == "gpt-4o-mini"));

    // Kept across a restart.
    server.stop().await;
    let server = start(db).await;
    let mut alice = team(&server, Some(ALICE)).await;
    let mut bob = team(&server, Some(BOB)).await;
    assert_eq!(
        input_price(&mut alice, "gpt-4o-mini", "2026-09-01").await,
        0.12
    );
    assert_eq!(
        input_price(&mut bob, "gpt-4o-mini", "2026-09-01").await,
        0.15
    );
}

fn violation_fields(status: &tonic::Status) -> Vec<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn bad_input_is_refused_clearly_and_stores_nothing() {
    let server = start(temp_db()).await;
    let mut alice = team(&server, Some(ALICE)).await;
    let before = listing(&mut alice).await;

    // A file that is not JSON: the line and column.
    let mut broken = import("2026-08-01", false);
    broken.litellm_json = b"{\n  \"gpt-4o-mini\": {\"input_cost_per_token\": 1.2e-07,,\n}".to_vec();
    let status = alice.catalog.import_prices(broken).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violation_fields(&status), ["litellm_json"]);
    assert!(status.message().contains("line 2 column"), "{status:?}");

    // A price that is not a number: the key and field.
    let text = String::from_utf8(trimmed_bytes()).unwrap().replacen(
        "\"input_cost_per_token\": 1.2e-07",
        "\"input_cost_per_token\": \"0.12\"",
        1,
    );
    let mut bad_figure = import("2026-08-01", false);
    bad_figure.litellm_json = text.into_bytes();
    let status = alice.catalog.import_prices(bad_figure).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        violation_fields(&status),
        ["litellm_json[\"gpt-4o-mini\"].input_cost_per_token"]
    );

    // A date that is not a date.
    let status = alice
        .catalog
        .import_prices(import("2026-02-30", false))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violation_fields(&status), ["effective_date"]);

    // A date before the price in force of a changed id names the id.
    let status = alice
        .catalog
        .import_prices(import("2024-06-01", false))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("gpt-4o-mini"), "{status:?}");
    assert_eq!(listing(&mut alice).await, before);

    // After an import, an earlier date is refused the same way, and
    // another team is free to pick its own.
    alice
        .catalog
        .import_prices(import("2026-08-01", false))
        .await
        .unwrap();
    let imported = listing(&mut alice).await;
    let status = alice
        .catalog
        .import_prices(import("2026-07-15", true))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status
            .message()
            .contains("gpt-4o-mini (price in force from 2026-08-01)"),
        "{status:?}"
    );
    assert_eq!(listing(&mut alice).await, imported);
    let mut bob = team(&server, Some(BOB)).await;
    bob.catalog
        .import_prices(import("2026-07-15", true))
        .await
        .unwrap();

    // A team other than the token's is refused.
    let mut other = import("2026-09-01", false);
    other.team = "platform".into();
    let status = alice.catalog.import_prices(other).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violation_fields(&status), ["team"]);

    // The command line: exit codes and the file named in its complaint.
    let file = cli::TempFile::new(Some("{\"gpt-4o-mini\": [1,\n"));
    let run = cli::run(
        &server,
        &["--token", ALICE, "catalog", "import-litellm", file.path()],
    )
    .await;
    assert_eq!(run.code, INVALID_ARGUMENT, "{}", run.stderr);
    assert!(run.stderr.contains(file.path()), "{}", run.stderr);
    assert!(run.stderr.contains("line 2"), "{}", run.stderr);
    let trimmed = trimmed();
    let path = trimmed.to_str().unwrap();
    for (date, code, says) in [
        ("yesterday", INVALID_ARGUMENT, "effective_date"),
        ("2024-06-01", FAILED_PRECONDITION, "gpt-4o-mini"),
    ] {
        let run = cli::run(
            &server,
            &[
                "--token",
                ALICE,
                "catalog",
                "import-litellm",
                path,
                "--effective-date",
                date,
            ],
        )
        .await;
        assert_eq!(run.code, code, "{date}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{date}: {}", run.stderr);
    }
    assert_eq!(listing(&mut alice).await, imported);
}
