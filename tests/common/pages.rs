//! A server with the browser view and two teams' tokens, scenarios saved
//! for a team over gRPC, and a plain HTTP client for the pages.

use std::net::SocketAddr;
use std::sync::Arc;

use breakeven::auth::TokenFile;
use breakeven::catalog::Catalog;
use breakeven::grpc::pb;
use breakeven::grpc::pb::run_service_client::RunServiceClient;
use breakeven::grpc::pb::scenario_service_client::ScenarioServiceClient;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tonic::codegen::Bytes;
use tonic::codegen::http::{self, HeaderMap, StatusCode};

use super::{TestServer, temp_db};

pub const RESEARCH: &str = "research-token-0123456789";
pub const PLATFORM: &str = "platform-token-9876543210";

/// A server with tokens for teams `research` and `platform` and the pages
/// on a second listener.
pub struct PagesServer {
    pub grpc: TestServer,
    pub http: SocketAddr,
    tokens: std::path::PathBuf,
}

impl Drop for PagesServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.tokens);
    }
}

impl PagesServer {
    pub async fn start() -> PagesServer {
        let tokens = std::env::temp_dir().join(format!(
            "breakeven-pages-tokens-{}-{}",
            std::process::id(),
            super::cli::unique()
        ));
        std::fs::write(
            &tokens,
            format!("{RESEARCH} research\n{PLATFORM} platform\n"),
        )
        .unwrap();
        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = http.local_addr().unwrap();
        let options = breakeven::server::Options {
            tokens: Some(Arc::new(TokenFile::open(&tokens).unwrap())),
            http: Some(http),
            ..Default::default()
        };
        let grpc = TestServer::start_with_options(
            temp_db(),
            Catalog::embedded().expect("built-in catalogue loads"),
            options,
        )
        .await;
        PagesServer {
            grpc,
            http: addr,
            tokens,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// Saves `scenario` under `name` and `tags` for the team of `token`.
    pub async fn save(
        &self,
        token: &str,
        name: &str,
        tags: &[&str],
        scenario: pb::Scenario,
    ) -> pb::SavedScenario {
        let mut client = ScenarioServiceClient::new(self.grpc.channel().await);
        client
            .create_scenario(authed(
                token,
                pb::CreateScenarioRequest {
                    name: name.into(),
                    tags: tags.iter().map(|t| t.to_string()).collect(),
                    scenario: Some(scenario),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
    }

    /// Runs a saved scenario as a projection for the team of `token`.
    pub async fn run(&self, token: &str, scenario_id: &str) -> pb::Run {
        RunServiceClient::new(self.grpc.channel().await)
            .run_scenario(authed(
                token,
                pb::RunScenarioRequest {
                    scenario_id: scenario_id.into(),
                    options: Some(pb::RunOptions {
                        kind: pb::RunKind::Projection.into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
    }

    /// How many runs the team of `token` has kept.
    pub async fn run_count(&self, token: &str) -> i32 {
        RunServiceClient::new(self.grpc.channel().await)
            .list_runs(authed(token, pb::ListRunsRequest::default()))
            .await
            .unwrap()
            .into_inner()
            .total_size
    }
}

pub fn authed<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

/// A small scenario that projects quickly.
pub fn scenario(requests_per_day: f64) -> pb::Scenario {
    pb::Scenario {
        name: "support bot".into(),
        horizon_months: 24,
        start_month: "2026-01".into(),
        workload: Some(pb::WorkloadSpec {
            requests_per_day,
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
            gpu_id: "h100-sxm".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// One HTTP exchange with the pages.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn location(&self) -> &str {
        self.headers
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The value a `Set-Cookie` header gives cookie `name`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(http::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.to_string())
    }
}

/// `method url` with `cookies` ("a=1; b=2") and a form body.
pub async fn request(method: &str, url: &str, cookies: &str, form: Option<&str>) -> Answer {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut builder = http::Request::builder().method(method).uri(url);
    if !cookies.is_empty() {
        builder = builder.header(http::header::COOKIE, cookies);
    }
    if form.is_some() {
        builder = builder.header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        );
    }
    let body = Full::new(Bytes::from(form.unwrap_or("").to_string()));
    let response = client.request(builder.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// Signs in with `token`: the cookies of the signed-in browser.
pub async fn sign_in(server: &PagesServer, token: &str) -> String {
    let form = request("GET", &server.url("/signin"), "", None).await;
    let csrf = form.cookie("breakeven_csrf").expect("a form token cookie");
    let cookies = format!("breakeven_csrf={csrf}");
    let signed = request(
        "POST",
        &server.url("/signin"),
        &cookies,
        Some(&format!("csrf={csrf}&token={token}")),
    )
    .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    let session = signed
        .cookie("breakeven_session")
        .expect("a session cookie");
    format!("breakeven_csrf={csrf}; breakeven_session={session}")
}
