//! gRPC-Web on the main port: the same answers as plain gRPC through
//! tonic-web's client over HTTP/1.1, CORS only for the `--cors-origin`
//! origins, tokens and metrics as for any call.

mod common;

use std::sync::Arc;

use breakeven::auth::TokenFile;
use breakeven::catalog::Catalog;
use breakeven::grpc::pb;
use breakeven::grpc::pb::simulation_service_client::SimulationServiceClient;
use breakeven::server::Options;
use common::{TestServer, temp_db};
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tonic::Code;
use tonic::codegen::Bytes;
use tonic::codegen::http::{self, HeaderMap, StatusCode};
use tonic_web::{GrpcWebCall, GrpcWebClientLayer, GrpcWebClientService};

const PLANNER: &str = "https://planner.example.com";
const TOKEN: &str = "research-token-0123456789";

type WebChannel = GrpcWebClientService<Client<HttpConnector, GrpcWebCall<tonic::body::Body>>>;

/// A SimulationService client that speaks gRPC-Web over HTTP/1.1, as a
/// browser library does.
fn web_client(server: &TestServer) -> SimulationServiceClient<WebChannel> {
    let http = Client::builder(TokioExecutor::new()).build_http();
    let channel = tower::ServiceBuilder::new()
        .layer(GrpcWebClientLayer::new())
        .service(http);
    let origin = format!("http://{}", server.addr)
        .parse()
        .expect("valid uri");
    SimulationServiceClient::with_origin(channel, origin)
}

async fn grpc_client(server: &TestServer) -> SimulationServiceClient<tonic::transport::Channel> {
    SimulationServiceClient::new(server.channel().await)
}

async fn server_with(options: Options) -> TestServer {
    TestServer::start_with_options(temp_db(), Catalog::embedded().unwrap(), options).await
}

async fn with_origins(origins: &[&str]) -> TestServer {
    server_with(Options {
        cors_origins: origins.iter().map(|o| o.to_string()).collect(),
        ..Default::default()
    })
    .await
}

/// A year of GPT-4o mini against Llama 3.1 8B on rented H100s.
fn scenario() -> pb::Scenario {
    pb::Scenario {
        horizon_months: 12,
        start_month: "2025-06".into(),
        workload: Some(pb::WorkloadSpec {
            requests_per_day: 100_000.0,
            input_tokens: 1_000.0,
            output_tokens: 200.0,
            annual_growth: Some(0.5),
            ..Default::default()
        }),
        api: Some(pb::ApiOption {
            price_id: "gpt-4o-mini".into(),
            ..Default::default()
        }),
        self_host: Some(pb::SelfHostOption {
            model_id: "llama-3.1-8b".into(),
            gpu_id: "h100-sxm".into(),
            precision: pb::Precision::Bf16.into(),
            deployment: Some(pb::self_host_option::Deployment::Rented(
                pb::RentedDeployment {
                    rate: "on_demand".into(),
                    ..Default::default()
                },
            )),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn project() -> pb::ProjectRequest {
    pb::ProjectRequest {
        scenario: Some(scenario()),
        ..Default::default()
    }
}

fn simulation() -> pb::RunSimulationRequest {
    pb::RunSimulationRequest {
        scenario: Some(scenario()),
        stochastic: Some(pb::StochasticInputs {
            demand: Some(pb::stochastic_inputs::Demand::DemandGbm(pb::DemandGbm {
                volatility: 0.4,
            })),
            ..Default::default()
        }),
        paths: 40_000,
        seed: 7,
        ..Default::default()
    }
}

/// A stream's events, to the end, split into the progress reports and the
/// one result.
async fn drain(
    mut stream: tonic::Streaming<pb::SimulationEvent>,
) -> (Vec<pb::SimulationProgress>, pb::SimulationResult) {
    let mut progress = Vec::new();
    let mut result = None;
    while let Some(event) = stream.message().await.expect("stream event") {
        match event.event.expect("an event") {
            pb::simulation_event::Event::Progress(p) => {
                assert!(result.is_none(), "progress after the result");
                progress.push(p);
            }
            pb::simulation_event::Event::Result(r) => {
                assert!(result.replace(r).is_none(), "two results");
            }
        }
    }
    (progress, result.expect("a result"))
}

#[tokio::test]
async fn a_unary_call_answers_as_over_grpc() {
    let server = TestServer::start().await;
    let web = web_client(&server)
        .project(project())
        .await
        .expect("Project over gRPC-Web")
        .into_inner();
    let grpc = grpc_client(&server)
        .await
        .project(project())
        .await
        .expect("Project over gRPC")
        .into_inner();
    assert!(!web.months.is_empty());
    assert_eq!(web, grpc);
}

#[tokio::test]
async fn a_server_stream_answers_as_over_grpc() {
    let server = TestServer::start().await;
    let web = web_client(&server)
        .stream_simulation(simulation())
        .await
        .expect("StreamSimulation over gRPC-Web")
        .into_inner();
    let (web_progress, web_result) = drain(web).await;
    let grpc = grpc_client(&server)
        .await
        .stream_simulation(simulation())
        .await
        .expect("StreamSimulation over gRPC")
        .into_inner();
    let (grpc_progress, grpc_result) = drain(grpc).await;
    // The result is reproducible to the bit; how many progress reports
    // come before it depends on timing, so only their shape is compared.
    assert_eq!(web_result, grpc_result);
    assert_eq!(web_result.paths, 40_000);
    for progress in [&web_progress, &grpc_progress] {
        assert!(!progress.is_empty(), "progress before the result");
        assert_eq!(progress[0].paths_done, 0);
        assert!(
            progress
                .windows(2)
                .all(|w| w[1].paths_done > w[0].paths_done)
        );
        assert!(progress.iter().all(|p| p.paths_total == 40_000));
    }
}

/// An `OPTIONS` preflight for a gRPC-Web call from `origin`.
async fn preflight(server: &TestServer, origin: &str) -> (StatusCode, HeaderMap) {
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let request = http::Request::builder()
        .method("OPTIONS")
        .uri(format!(
            "http://{}/breakeven.v1.SimulationService/Project",
            server.addr
        ))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,x-grpc-web,x-user-agent,grpc-timeout,authorization",
        )
        .body(Empty::new())
        .unwrap();
    let response = client.request(request).await.expect("preflight answered");
    (response.status(), response.headers().clone())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {headers:?}"))
        .to_str()
        .unwrap()
}

/// Whether a comma-separated header lists `item`, in any case.
fn lists(headers: &HeaderMap, name: &str, item: &str) -> bool {
    header(headers, name)
        .split(',')
        .any(|i| i.trim().eq_ignore_ascii_case(item))
}

fn assert_no_cors(headers: &HeaderMap) {
    let cors: Vec<_> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("access-control-"))
        .collect();
    assert!(cors.is_empty(), "CORS headers {cors:?} in {headers:?}");
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_gets_the_grpc_web_headers() {
    let server = with_origins(&[PLANNER, "http://localhost:5173"]).await;
    let (status, headers) = preflight(&server, PLANNER).await;
    assert!(status.is_success(), "{status}");
    assert_eq!(header(&headers, "access-control-allow-origin"), PLANNER);
    assert!(lists(&headers, "access-control-allow-methods", "POST"));
    for name in [
        "content-type",
        "x-grpc-web",
        "x-user-agent",
        "grpc-timeout",
        "authorization",
    ] {
        assert!(
            lists(&headers, "access-control-allow-headers", name),
            "{name}: {headers:?}"
        );
    }
    let (_, headers) = preflight(&server, "http://localhost:5173").await;
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        "http://localhost:5173"
    );
}

#[tokio::test]
async fn a_preflight_from_another_origin_gets_no_cors_headers() {
    let server = with_origins(&[PLANNER]).await;
    for origin in [
        "https://evil.example.com",
        "https://planner.example.com.evil.example.com",
        "http://planner.example.com",
        "null",
    ] {
        let (status, headers) = preflight(&server, origin).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{origin}");
        assert_no_cors(&headers);
    }
    // Without --cors-origin no origin is allowed.
    let server = TestServer::start().await;
    let (status, headers) = preflight(&server, PLANNER).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_no_cors(&headers);
}

#[tokio::test]
async fn a_call_from_an_allowed_origin_exposes_the_status_headers() {
    let server = with_origins(&[PLANNER]).await;
    let mut request = tonic::Request::new(project());
    request
        .metadata_mut()
        .insert("origin", PLANNER.parse().unwrap());
    let response = web_client(&server).project(request).await.expect("Project");
    let headers = response.metadata().clone().into_headers();
    assert_eq!(header(&headers, "access-control-allow-origin"), PLANNER);
    for name in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
        assert!(
            lists(&headers, "access-control-expose-headers", name),
            "{name}: {headers:?}"
        );
    }

    // Another origin's call is served (a browser would withhold the
    // answer from the page) but gets no CORS allowance.
    let mut request = tonic::Request::new(project());
    request
        .metadata_mut()
        .insert("origin", "https://evil.example.com".parse().unwrap());
    let response = web_client(&server).project(request).await.expect("Project");
    assert_no_cors(&response.metadata().clone().into_headers());
}

#[tokio::test]
async fn tokens_are_needed_over_grpc_web_too() {
    let tokens = temp_db().with_extension("tokens");
    std::fs::write(&tokens, format!("{TOKEN} research\n")).unwrap();
    let server = server_with(Options {
        tokens: Some(Arc::new(TokenFile::open(&tokens).unwrap())),
        ..Default::default()
    })
    .await;
    let mut web = web_client(&server);

    let refused = web.project(project()).await.expect_err("no token");
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");

    let mut forged = tonic::Request::new(project());
    forged.metadata_mut().insert(
        "authorization",
        "Bearer not-a-token-at-all-00".parse().unwrap(),
    );
    let refused = web.project(forged).await.expect_err("forged token");
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");

    let mut signed = tonic::Request::new(project());
    signed
        .metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let answer = web.project(signed).await.expect("with a token");
    assert!(!answer.into_inner().months.is_empty());
    let _ = std::fs::remove_file(&tokens);
}

#[tokio::test]
async fn grpc_web_calls_are_counted_in_the_metrics() {
    let metrics = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_addr = metrics.local_addr().unwrap();
    let server = server_with(Options {
        metrics: Some(metrics),
        ..Default::default()
    })
    .await;
    web_client(&server)
        .project(project())
        .await
        .expect("Project");

    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let response = client
        .get(format!("http://{metrics_addr}/metrics").parse().unwrap())
        .await
        .expect("scrape");
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    let counted = text.lines().any(|line| {
        line.starts_with("breakeven_requests_total{")
            && line.contains(r#"method="breakeven.v1.SimulationService/Project""#)
            && line.contains(r#"code="OK""#)
            && line.ends_with(" 1")
    });
    assert!(counted, "{text}");
}
