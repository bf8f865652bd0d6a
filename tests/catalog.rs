//! CatalogService through the generated client against a real server.

mod common;

use breakeven::grpc::pb;
use tonic::Code;
use tonic_types::StatusExt;

const GPU_IDS: [&str; 12] = [
    "h100-sxm",
    "h100-pcie",
    "h200",
    "b200",
    "a100-80gb",
    "a100-40gb",
    "l40s",
    "l4",
    "a10g",
    "mi300x",
    "mi325x",
    "rtx-4090",
];

#[tokio::test]
async fn list_gpus_returns_every_required_profile_with_figures() {
    let server = common::TestServer::start().await;
    let mut client = server.catalog().await;
    let reply = client
        .list_gpus(pb::ListGpusRequest {
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(reply.next_page_token.is_empty());
    assert_eq!(reply.total_size as usize, reply.gpus.len());
    for id in GPU_IDS {
        let gpu = reply
            .gpus
            .iter()
            .find(|g| g.id == id)
            .unwrap_or_else(|| panic!("{id} missing"));
        assert!(
            gpu.memory_gb > 0.0 && gpu.memory_bandwidth_tb_s > 0.0,
            "{id}"
        );
        assert!(!gpu.peak_compute.is_empty(), "{id}");
        let rental = gpu.rental_on_demand_per_gpu_hour.as_ref().unwrap();
        assert!(
            !rental.provenance.as_ref().unwrap().source.is_empty(),
            "{id}"
        );
    }
    let amd = client
        .list_gpus(pb::ListGpusRequest {
            vendor: "amd".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(amd.gpus.iter().all(|g| g.vendor == "AMD"));
    assert!(amd.gpus.iter().any(|g| g.id == "mi300x"));
}

#[tokio::test]
async fn get_gpu_returns_the_datasheet_figures() {
    let server = common::TestServer::start().await;
    let gpu = server
        .catalog()
        .await
        .get_gpu(pb::GetGpuRequest {
            id: "h100-sxm".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(gpu.memory_gb, 80.0);
    assert_eq!(gpu.memory_bandwidth_tb_s, 3.35);
    let bf16 = gpu
        .peak_compute
        .iter()
        .find(|p| p.precision() == pb::Precision::Bf16)
        .unwrap();
    assert!(
        (bf16.dense_tflops - 989.4).abs() < 1.0,
        "dense, not sparse: {}",
        bf16.dense_tflops
    );
}

#[tokio::test]
async fn models_include_moe_and_mla_architectures() {
    let server = common::TestServer::start().await;
    let mut client = server.catalog().await;
    let v3 = client
        .get_model(pb::GetModelRequest {
            id: "deepseek-v3".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v3.attention, "mla");
    assert_eq!(v3.mla.unwrap().kv_lora_rank, 512);
    let moe = v3.moe.unwrap();
    assert_eq!((moe.experts, moe.experts_per_token), (256, 8));
    assert!((v3.total_params_b - 671.0).abs() < 5.0);
    let dense = client
        .get_model(pb::GetModelRequest {
            id: "llama-3.1-70b".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(dense.moe.is_none());
    assert_eq!((dense.layers, dense.kv_heads, dense.head_dim), (80, 8, 128));
}

/// Follows next_page_token with a small page size and returns every id seen.
async fn walk<F, Fut>(mut page: F) -> Vec<String>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = (Vec<String>, String, i32)>,
{
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let (ids, next, total) = page(token).await;
        assert!(ids.len() <= 3);
        seen.extend(ids);
        if next.is_empty() {
            assert_eq!(seen.len(), total as usize);
            return seen;
        }
        token = next;
    }
}

#[tokio::test]
async fn pagination_visits_every_entry_exactly_once() {
    let server = common::TestServer::start().await;
    let client = server.catalog().await;

    let gpus = walk(|page_token| {
        let mut client = client.clone();
        async move {
            let r = client
                .list_gpus(pb::ListGpusRequest {
                    page_size: 3,
                    page_token,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            (
                r.gpus.into_iter().map(|g| g.id).collect(),
                r.next_page_token,
                r.total_size,
            )
        }
    })
    .await;
    let models = walk(|page_token| {
        let mut client = client.clone();
        async move {
            let r = client
                .list_models(pb::ListModelsRequest {
                    page_size: 3,
                    page_token,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            (
                r.models.into_iter().map(|m| m.id).collect(),
                r.next_page_token,
                r.total_size,
            )
        }
    })
    .await;
    let prices = walk(|page_token| {
        let mut client = client.clone();
        async move {
            let r = client
                .list_api_prices(pb::ListApiPricesRequest {
                    include_history: true,
                    as_of: "2026-07-24".into(),
                    page_size: 3,
                    page_token,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            let keys = r
                .prices
                .into_iter()
                .map(|p| format!("{}@{}", p.id, p.effective_date));
            (keys.collect(), r.next_page_token, r.total_size)
        }
    })
    .await;

    for (what, ids, at_least) in [
        ("gpus", gpus, 12),
        ("models", models, 13),
        ("prices", prices, 30),
    ] {
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "{what}: an entry was seen twice");
        assert!(ids.len() >= at_least, "{what}: only {} entries", ids.len());
    }
}

async fn price_on(
    client: &mut pb::catalog_service_client::CatalogServiceClient<tonic::transport::Channel>,
    id: &str,
    as_of: &str,
) -> pb::ApiPrice {
    client
        .get_api_price(pb::GetApiPriceRequest {
            id: id.into(),
            as_of: as_of.into(),
        })
        .await
        .unwrap_or_else(|s| panic!("{id} on {as_of}: {s}"))
        .into_inner()
}

#[tokio::test]
async fn as_of_picks_the_price_in_force_across_a_change() {
    let server = common::TestServer::start().await;
    let mut client = server.catalog().await;
    // DeepSeek V3 launched at $0.14/$0.28 and moved to $0.27/$1.10 in February 2025.
    let before = price_on(&mut client, "deepseek-v3", "2025-01-15").await;
    let after = price_on(&mut client, "deepseek-v3", "2025-03-01").await;
    assert_eq!(
        (before.input_usd_per_mtok, before.output_usd_per_mtok),
        (0.14, 0.28)
    );
    assert_eq!(
        (after.input_usd_per_mtok, after.output_usd_per_mtok),
        (0.27, 1.10)
    );
    assert!(!before.end_date.is_empty() && before.end_date < after.effective_date);

    // Claude 3.5 Haiku launched at $1/$5 and was cut to $0.80/$4.
    let launch = price_on(&mut client, "claude-3.5-haiku", "2024-11-10").await;
    let cut = price_on(&mut client, "claude-3.5-haiku", "2025-06-01").await;
    assert_eq!(
        (launch.input_usd_per_mtok, cut.input_usd_per_mtok),
        (1.0, 0.80)
    );

    // Listing as of a date shows one entry per id, the one in force then.
    let listed = client
        .list_api_prices(pb::ListApiPricesRequest {
            model: "deepseek-v3".into(),
            as_of: "2025-03-01".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let direct: Vec<_> = listed
        .prices
        .iter()
        .filter(|p| p.id == "deepseek-v3")
        .collect();
    assert_eq!(direct.len(), 1);
    assert_eq!(direct[0].input_usd_per_mtok, 0.27);
    assert_eq!(listed.as_of, "2025-03-01");
}

#[tokio::test]
async fn the_brief_price_list_is_covered() {
    let server = common::TestServer::start().await;
    let mut client = server.catalog().await;
    // (id, date, input, output): figures the product brief quotes, where the
    // published price agrees with it.
    let cases = [
        ("gemini-2.0-flash", "2025-06-01", 0.10, 0.40),
        ("gpt-4o-mini", "2025-06-01", 0.15, 0.60),
        ("claude-3.5-haiku", "2025-06-01", 0.80, 4.00),
        ("gpt-4o", "2025-06-01", 2.50, 10.00),
        ("claude-3.5-sonnet", "2025-06-01", 3.00, 15.00),
        ("claude-3-opus", "2025-06-01", 15.00, 75.00),
        ("gemini-1.5-pro", "2025-06-01", 1.25, 5.00),
        ("mistral-large", "2025-06-01", 2.00, 6.00),
        ("deepseek-v3", "2025-06-01", 0.27, 1.10),
        // The brief says $10/$30; the published price wins.
        ("gpt-4.5", "2025-04-01", 75.00, 150.00),
    ];
    for (id, date, input, output) in cases {
        let price = price_on(&mut client, id, date).await;
        assert_eq!(
            (price.input_usd_per_mtok, price.output_usd_per_mtok),
            (input, output),
            "{id}"
        );
        assert!(!price.provenance.unwrap().source.is_empty(), "{id}");
    }
}

#[tokio::test]
async fn unknown_ids_are_not_found_and_named() {
    let server = common::TestServer::start().await;
    let mut client = server.catalog().await;
    let gpu = client
        .get_gpu(pb::GetGpuRequest { id: "h900".into() })
        .await
        .unwrap_err();
    let model = client
        .get_model(pb::GetModelRequest {
            id: "llama-9".into(),
        })
        .await
        .unwrap_err();
    let price = client
        .get_api_price(pb::GetApiPriceRequest {
            id: "gpt-9".into(),
            as_of: String::new(),
        })
        .await
        .unwrap_err();
    let early = client
        .get_api_price(pb::GetApiPriceRequest {
            id: "deepseek-v3".into(),
            as_of: "2020-01-01".into(),
        })
        .await
        .unwrap_err();
    for (status, name) in [
        (gpu, "h900"),
        (model, "llama-9"),
        (price, "gpt-9"),
        (early, "deepseek-v3"),
    ] {
        assert_eq!(status.code(), Code::NotFound, "{name}");
        assert!(status.message().contains(name), "{}", status.message());
    }
}

#[tokio::test]
async fn bad_arguments_name_their_field() {
    let server = common::TestServer::start().await;
    let mut client = server.catalog().await;
    let statuses = [
        (
            client
                .get_gpu(pb::GetGpuRequest { id: String::new() })
                .await
                .unwrap_err(),
            "id",
        ),
        (
            client
                .list_gpus(pb::ListGpusRequest {
                    page_size: -1,
                    ..Default::default()
                })
                .await
                .unwrap_err(),
            "page_size",
        ),
        (
            client
                .list_models(pb::ListModelsRequest {
                    page_token: "not-a-token".into(),
                    ..Default::default()
                })
                .await
                .unwrap_err(),
            "page_token",
        ),
        (
            client
                .list_api_prices(pb::ListApiPricesRequest {
                    as_of: "yesterday".into(),
                    ..Default::default()
                })
                .await
                .unwrap_err(),
            "as_of",
        ),
        (
            client
                .get_api_price(pb::GetApiPriceRequest {
                    id: "gpt-4o".into(),
                    as_of: "2025-02-30".into(),
                })
                .await
                .unwrap_err(),
            "as_of",
        ),
    ];
    for (status, field) in statuses {
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        let details = status.get_error_details();
        let violations = &details
            .bad_request()
            .expect("BadRequest details")
            .field_violations;
        assert_eq!(violations[0].field, field);
    }
}

#[tokio::test]
async fn a_page_token_is_refused_with_other_filters() {
    let server = common::TestServer::start().await;
    let mut client = server.catalog().await;
    let first = client
        .list_api_prices(pb::ListApiPricesRequest {
            page_size: 2,
            as_of: "2026-01-01".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!first.next_page_token.is_empty());
    let status = client
        .list_api_prices(pb::ListApiPricesRequest {
            page_size: 2,
            as_of: "2025-01-01".into(),
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}
