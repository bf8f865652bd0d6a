//! Custom catalogue entries through CatalogService: added in the data-file
//! format, kept across restarts, listed beside the built-in entries, never
//! replacing one, and usable by scenarios and runs.

mod common;

use breakeven::grpc::pb;
use breakeven::grpc::pb::catalog_service_client::CatalogServiceClient;
use breakeven::grpc::pb::run_service_client::RunServiceClient;
use breakeven::grpc::pb::scenario_service_client::ScenarioServiceClient;
use breakeven::grpc::pb::simulation_service_client::SimulationServiceClient;
use common::{TestServer, temp_db};
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

fn built_in(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// The H100 profile under a new id, with a quoted rental rate.
fn quoted_gpu(id: &str, usd_per_hour: &str) -> String {
    built_in("hardware/h100-sxm.toml")
        .replacen("id = \"h100-sxm\"", &format!("id = \"{id}\""), 1)
        .replacen(
            "usd_per_gpu_hour = 2.99",
            &format!("usd_per_gpu_hour = {usd_per_hour}"),
            1,
        )
}

/// A negotiated price list with one entry, half GPT-4o mini's list price.
const NEGOTIATED: &str = r#"
provider = "acme-openai"
provider_name = "OpenAI (Acme enterprise agreement)"

[[price]]
id = "acme-gpt-4o-mini"
name = "GPT-4o mini, negotiated"
api_model = "gpt-4o-mini"
tier = "economy"
effective_date = "2025-01-01"
input_usd_per_mtok = 0.075
output_usd_per_mtok = 0.3
context_window = 128000
source = "Acme-OpenAI order form 2025-01"
as_of = "2025-01-01"
"#;

fn create(kind: pb::CatalogEntryKind, name: &str, toml: &str) -> pb::CreateCatalogEntryRequest {
    pb::CreateCatalogEntryRequest {
        kind: kind.into(),
        name: name.into(),
        team: "acme".into(),
        toml: toml.into(),
    }
}

fn scenario(price_id: &str, gpu: &str) -> pb::Scenario {
    pb::Scenario {
        name: "negotiated".into(),
        horizon_months: 12,
        start_month: "2026-01".into(),
        workload: Some(pb::WorkloadSpec {
            requests_per_day: 300_000.0,
            input_tokens: 1000.0,
            output_tokens: 200.0,
            ..Default::default()
        }),
        api: Some(pb::ApiOption {
            price_id: price_id.into(),
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

async fn catalog(server: &TestServer) -> CatalogServiceClient<Channel> {
    CatalogServiceClient::new(server.channel().await)
}

#[tokio::test]
async fn a_custom_gpu_is_listed_beside_the_built_in_ones_and_survives_a_restart() {
    let db = temp_db();
    let server = TestServer::start_on(db.clone()).await;
    let mut c = catalog(&server).await;
    let before = c
        .list_gpus(pb::ListGpusRequest::default())
        .await
        .unwrap()
        .into_inner()
        .total_size;
    let entry = c
        .create_catalog_entry(create(
            pb::CatalogEntryKind::Gpu,
            "acme-h100-quote",
            &quoted_gpu("acme-h100-quote", "2.49"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(entry.ids, ["acme-h100-quote"]);
    assert_eq!(entry.revision, 1);
    let list = c
        .list_gpus(pb::ListGpusRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.total_size, before + 1);
    let built_in = list.gpus.iter().find(|g| g.id == "h100-sxm").unwrap();
    assert!(built_in.custom_entry.is_empty());
    server.stop().await;

    let server = TestServer::start_on(db.clone()).await;
    let mut c = catalog(&server).await;
    let gpu = c
        .get_gpu(pb::GetGpuRequest {
            id: "acme-h100-quote".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(gpu.custom_entry, "acme-h100-quote");
    assert_eq!(gpu.rental_on_demand_per_gpu_hour.unwrap().usd, 2.49);
    server.stop().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

#[tokio::test]
async fn a_custom_entry_never_replaces_a_defined_id() {
    let server = TestServer::start().await;
    let mut c = catalog(&server).await;
    // The built-in H100 under its own id.
    let err = c
        .create_catalog_entry(create(
            pb::CatalogEntryKind::Gpu,
            "h100-sxm",
            &quoted_gpu("h100-sxm", "1.00"),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists, "{err:?}");
    // A price list that would add to gpt-4o-mini's built-in history.
    let sneaky = NEGOTIATED.replace("acme-gpt-4o-mini", "gpt-4o-mini");
    let err = c
        .create_catalog_entry(create(
            pb::CatalogEntryKind::ApiPrices,
            "acme-openai",
            &sneaky,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists, "{err:?}");
    let price = CatalogServiceClient::get_api_price(
        &mut c,
        pb::GetApiPriceRequest {
            id: "gpt-4o-mini".into(),
            as_of: "2026-01-01".into(),
        },
    )
    .await
    .unwrap()
    .into_inner();
    assert_eq!(price.input_usd_per_mtok, 0.15);
    assert!(price.custom_entry.is_empty());
    // The same name twice.
    let toml = quoted_gpu("acme-h100-quote", "2.49");
    c.create_catalog_entry(create(pb::CatalogEntryKind::Gpu, "acme-h100-quote", &toml))
        .await
        .unwrap();
    let err = c
        .create_catalog_entry(create(pb::CatalogEntryKind::Gpu, "acme-h100-quote", &toml))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
}

#[tokio::test]
async fn bad_entries_name_the_field_and_change_nothing() {
    let server = TestServer::start().await;
    let mut c = catalog(&server).await;
    let fields = |err: tonic::Status| -> Vec<String> {
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        err.get_details_bad_request()
            .unwrap()
            .field_violations
            .into_iter()
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect()
    };
    let err = c
        .create_catalog_entry(create(pb::CatalogEntryKind::Gpu, "x", "id = \n"))
        .await
        .unwrap_err();
    let f = fields(err);
    assert!(
        f[0].starts_with("toml: ") && f[0].contains("line 1"),
        "{f:?}"
    );

    // A GPU whose id does not match the entry's name.
    let err = c
        .create_catalog_entry(create(
            pb::CatalogEntryKind::Gpu,
            "acme-a",
            &quoted_gpu("acme-b", "2"),
        ))
        .await
        .unwrap_err();
    let f = fields(err);
    assert!(f.iter().any(|v| v.starts_with("toml.id")), "{f:?}");

    let err = c
        .create_catalog_entry(create(pb::CatalogEntryKind::Unspecified, "Bad Name", ""))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let listed = c
        .list_catalog_entries(pb::ListCatalogEntriesRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(listed.entries.is_empty());
}

#[tokio::test]
async fn a_negotiated_price_drives_projections_and_kept_runs_outlive_it() {
    let server = TestServer::start().await;
    let channel = server.channel().await;
    let mut c = CatalogServiceClient::new(channel.clone());
    let simulation = SimulationServiceClient::new(channel.clone());
    let mut scenarios = ScenarioServiceClient::new(channel.clone());
    let mut runs = RunServiceClient::new(channel);
    c.create_catalog_entry(create(
        pb::CatalogEntryKind::ApiPrices,
        "acme-openai",
        NEGOTIATED,
    ))
    .await
    .unwrap();

    let total_api = |scenario: pb::Scenario| {
        let mut simulation = simulation.clone();
        async move {
            simulation
                .project(pb::ProjectRequest {
                    scenario: Some(scenario),
                    basis: 0,
                })
                .await
                .map(|r| r.into_inner().summary.unwrap().total_api)
        }
    };
    let list = total_api(scenario("gpt-4o-mini", "h100-sxm"))
        .await
        .unwrap();
    let negotiated = total_api(scenario("acme-gpt-4o-mini", "h100-sxm"))
        .await
        .unwrap();
    assert!(
        (negotiated / list - 0.5).abs() < 1e-9,
        "{negotiated} vs {list}"
    );

    let saved = scenarios
        .create_scenario(pb::CreateScenarioRequest {
            name: "negotiated".into(),
            scenario: Some(scenario("acme-gpt-4o-mini", "h100-sxm")),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let run = runs
        .run_scenario(pb::RunScenarioRequest {
            scenario_id: saved.id.clone(),
            revision: 0,
            options: Some(pb::RunOptions {
                kind: pb::RunKind::Projection.into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let files: Vec<String> = run
        .inputs
        .unwrap()
        .catalog_files
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert!(
        files.contains(&"custom/prices/acme-openai.toml".to_string()),
        "{files:?}"
    );

    // A stale revision is refused; the current one goes through.
    let err = c
        .update_catalog_entry(pb::UpdateCatalogEntryRequest {
            kind: pb::CatalogEntryKind::ApiPrices.into(),
            name: "acme-openai".into(),
            toml: NEGOTIATED.replace("0.075", "0.06"),
            expected_revision: 7,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    c.delete_catalog_entry(pb::DeleteCatalogEntryRequest {
        kind: pb::CatalogEntryKind::ApiPrices.into(),
        name: "acme-openai".into(),
    })
    .await
    .unwrap();
    let err = total_api(scenario("acme-gpt-4o-mini", "h100-sxm"))
        .await
        .unwrap_err();
    assert!(
        matches!(err.code(), Code::NotFound | Code::InvalidArgument),
        "{err:?}"
    );
    let replay = runs
        .replay_run(pb::ReplayRunRequest { id: run.id })
        .await
        .unwrap()
        .into_inner();
    assert!(replay.identical);
}
