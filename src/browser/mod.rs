//! The browser view of `serve --http-addr`: HTML pages over the same
//! store, services, tokens and teams as the gRPC API. Saved scenarios
//! (filtered, in numbered pages), a scenario with its runs and its
//! revisions with what each changed, a run as its report, runs compared
//! side by side, downloads (CSV, the Excel workbook, the scenario's TOML),
//! and one action: running a saved scenario, followed while it runs.
//!
//! The pages call the gRPC services' own implementations in-process, with
//! the caller's team in the request exactly where [`crate::auth`] puts it,
//! so tenancy, validation and error answers are the API's. This module
//! only translates: HTTP in, a service call, HTML out (`pages.rs`). It has
//! no SQL and no business logic. Sign-in and form protection are in
//! `session.rs`; runs followed from the browser in `tasks.rs`.

mod pages;
mod session;
mod tasks;

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::{TcpListener, TcpStream};
use tokio_stream::StreamExt as _;

use crate::auth::{Team, TokenFile};
use crate::grpc::pb::run_service_server::RunService as _;
use crate::grpc::pb::scenario_service_server::ScenarioService as _;
use crate::grpc::{RunApi, ScenarioApi, pb};
use pages::{Chrome, ListFilters};
use tasks::{State as TaskState, Tasks};

/// Saved scenarios per page of the list.
const PAGE: u64 = 25;
/// Runs listed on a scenario's page.
const RUNS_SHOWN: i32 = 50;
/// Revisions listed on a scenario's page.
const REVISIONS_SHOWN: i32 = 100;
/// Reports kept rendered: a run never changes, and a simulation run's
/// report takes as long to compute as the run did.
const REPORTS_KEPT: usize = 16;

/// What the pages need: the services they call and how callers sign in.
#[derive(Clone)]
pub struct Browser(Arc<Inner>);

struct Inner {
    scenarios: ScenarioApi,
    runs: RunApi,
    tokens: Option<Arc<TokenFile>>,
    /// Cookies are `Secure` when the pages are served over TLS.
    secure: bool,
    tasks: Tasks,
    reports: Mutex<VecDeque<(String, Arc<str>)>>,
}

impl Browser {
    pub fn new(
        scenarios: ScenarioApi,
        runs: RunApi,
        tokens: Option<Arc<TokenFile>>,
        secure: bool,
    ) -> Self {
        Self(Arc::new(Inner {
            scenarios,
            runs,
            tokens,
            secure,
            tasks: Tasks::default(),
            reports: Mutex::new(VecDeque::new()),
        }))
    }

    /// The pages' routes.
    pub fn router(self) -> axum::Router {
        axum::Router::new()
            .route("/", get(|| async { see_other("/scenarios") }))
            .route("/signin", get(sign_in_form).post(sign_in))
            .route("/signout", post(sign_out))
            .route("/scenarios", get(scenario_list))
            .route("/scenarios/{id}", get(scenario))
            .route("/scenarios/{id}/scenario.toml", get(scenario_toml))
            .route("/scenarios/{id}/run", post(run_scenario))
            .route("/tasks/{id}", get(task))
            .route("/runs/{id}", get(run_report))
            .route("/runs/{id}/export.csv", get(export_csv))
            .route("/runs/{id}/workbook.xlsx", get(export_xlsx))
            .route("/compare", get(compare))
            .fallback(not_found)
            .with_state(self)
    }

    /// Who is asking: their team (with tokens, from the session cookie)
    /// and their form token; without a valid sign-in, why not.
    fn visitor(&self, headers: &HeaderMap) -> Result<Visitor, SignInFirst> {
        let (csrf, new_csrf) = match session::csrf_cookie(headers) {
            Some(token) => (token.to_string(), false),
            None => (session::random_hex(32), true),
        };
        let team = match &self.0.tokens {
            None => None,
            Some(tokens) => match session::signed_in(headers, tokens) {
                Some(team) => Some(team),
                None => {
                    return Err(SignInFirst {
                        // A revoked or tampered session is forgotten.
                        forget: session::cookie(headers, session::SESSION_COOKIE).is_some(),
                    });
                }
            },
        };
        Ok(Visitor {
            team,
            csrf,
            new_csrf,
        })
    }

    /// The answer to a visitor who must sign in first: the sign-in page.
    fn sign_in_first(&self, why: SignInFirst) -> Response {
        let mut response = see_other("/signin");
        if why.forget {
            response.headers_mut().append(
                header::SET_COOKIE,
                session::set_cookie(session::SESSION_COOKIE, "", self.0.secure, Some(0)),
            );
        }
        response
    }

    /// An HTML answer with the headers every page carries.
    fn page(&self, visitor: &Visitor, status: StatusCode, html: String) -> Response {
        let mut response = (status, html).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        secure_headers(headers);
        if visitor.new_csrf {
            headers.append(
                header::SET_COOKIE,
                session::set_cookie(session::CSRF_COOKIE, &visitor.csrf, self.0.secure, None),
            );
        }
        response
    }

    /// The page for an API error: its HTTP status and message.
    fn failure(&self, visitor: &Visitor, status: &tonic::Status) -> Response {
        let (code, title) = http_status(status.code());
        let html = pages::problem(&visitor.chrome(), title, status.message());
        self.page(visitor, code, html)
    }

    fn bad_request(&self, visitor: &Visitor, message: &str) -> Response {
        let html = pages::problem(&visitor.chrome(), "Bad request", message);
        self.page(visitor, StatusCode::BAD_REQUEST, html)
    }

    fn forbidden(&self, visitor: &Visitor, message: &str) -> Response {
        let html = pages::problem(&visitor.chrome(), "Refused", message);
        self.page(visitor, StatusCode::FORBIDDEN, html)
    }

    fn cached_report(&self, id: &str) -> Option<Arc<str>> {
        let reports = self
            .0
            .reports
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        reports
            .iter()
            .find(|(run, _)| run == id)
            .map(|(_, html)| Arc::clone(html))
    }

    fn keep_report(&self, id: &str, html: Arc<str>) {
        let mut reports = self
            .0
            .reports
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if reports.len() >= REPORTS_KEPT {
            reports.pop_front();
        }
        reports.push_back((id.to_string(), html));
    }
}

/// A visitor without a valid sign-in; `forget` when their session cookie
/// must be removed.
struct SignInFirst {
    forget: bool,
}

/// The caller of one page.
struct Visitor {
    team: Option<String>,
    csrf: String,
    /// Whether the form token is new and its cookie must be set.
    new_csrf: bool,
}

impl Visitor {
    fn chrome(&self) -> Chrome<'_> {
        Chrome {
            team: self.team.as_deref(),
            csrf: &self.csrf,
        }
    }

    /// A service request from this visitor: their team where the token
    /// layer would put it.
    fn call<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Some(team) = &self.team {
            request.extensions_mut().insert(Team(team.clone()));
        }
        request
    }
}

impl axum::extract::FromRequestParts<Browser> for Visitor {
    /// The sign-in page, for a visitor who must sign in first.
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        browser: &Browser,
    ) -> Result<Self, Response> {
        browser
            .visitor(&parts.headers)
            .map_err(|why| browser.sign_in_first(why))
    }
}

/// Serves the pages on `listener` (over TLS with `tls`) until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    tls: Option<rustls::ServerConfig>,
    browser: Browser,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = browser.router();
    match tls {
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        Some(config) => {
            let listener = TlsListener::new(listener, config)?;
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}

/// Headers on every page: no scripts, styles only inline, nothing from
/// elsewhere, no framing, nothing cached (pages show a team's data).
fn secure_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // `same-origin`, not `no-referrer`: under the latter a browser posts
    // forms with `Origin: null`, which the form check must refuse.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// The HTTP status and page title of a gRPC status code.
fn http_status(code: tonic::Code) -> (StatusCode, &'static str) {
    use tonic::Code;
    match code {
        Code::InvalidArgument | Code::OutOfRange => (StatusCode::BAD_REQUEST, "Bad request"),
        Code::NotFound => (StatusCode::NOT_FOUND, "Not found"),
        Code::AlreadyExists | Code::Aborted | Code::FailedPrecondition => {
            (StatusCode::CONFLICT, "Cannot do that")
        }
        Code::Unauthenticated => (StatusCode::UNAUTHORIZED, "Sign in"),
        Code::PermissionDenied => (StatusCode::FORBIDDEN, "Refused"),
        Code::ResourceExhausted | Code::Unavailable | Code::Cancelled => {
            (StatusCode::SERVICE_UNAVAILABLE, "Busy: try again shortly")
        }
        Code::DeadlineExceeded => (StatusCode::GATEWAY_TIMEOUT, "Took too long"),
        Code::Unimplemented => (StatusCode::NOT_IMPLEMENTED, "Not available"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong"),
    }
}

async fn not_found(State(b): State<Browser>, v: Visitor) -> Response {
    let html = pages::problem(&v.chrome(), "Not found", "there is no such page");
    b.page(&v, StatusCode::NOT_FOUND, html)
}

async fn sign_in_form(State(b): State<Browser>, headers: HeaderMap) -> Response {
    if b.0.tokens.is_none() {
        return see_other("/scenarios");
    }
    let v = Visitor {
        team: None,
        csrf: session::csrf_cookie(&headers)
            .map(str::to_string)
            .unwrap_or_else(|| session::random_hex(32)),
        new_csrf: session::csrf_cookie(&headers).is_none(),
    };
    let html = pages::sign_in(&v.csrf, None);
    b.page(&v, StatusCode::OK, html)
}

#[derive(serde::Deserialize)]
struct SignInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
}

async fn sign_in(
    State(b): State<Browser>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let Some(tokens) = &b.0.tokens else {
        return see_other("/scenarios");
    };
    let v = Visitor {
        team: None,
        csrf: session::csrf_cookie(&headers)
            .map(str::to_string)
            .unwrap_or_else(|| session::random_hex(32)),
        new_csrf: session::csrf_cookie(&headers).is_none(),
    };
    if let Some(why) = session::refuse_post(&headers, &form.csrf) {
        return b.forbidden(&v, why);
    }
    let token = form.token.trim();
    if tokens.current().team(token).is_none() {
        let html = pages::sign_in(&v.csrf, Some("that token is not valid"));
        return b.page(&v, StatusCode::UNAUTHORIZED, html);
    }
    let mut response = see_other("/scenarios");
    response.headers_mut().append(
        header::SET_COOKIE,
        session::session_cookie(token, b.0.secure),
    );
    response
}

#[derive(serde::Deserialize)]
struct PlainForm {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(
    State(b): State<Browser>,
    headers: HeaderMap,
    v: Visitor,
    Form(form): Form<PlainForm>,
) -> Response {
    if let Some(why) = session::refuse_post(&headers, &form.csrf) {
        return b.forbidden(&v, why);
    }
    let mut response = see_other("/signin");
    response.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(session::SESSION_COOKIE, "", b.0.secure, Some(0)),
    );
    response
}

async fn scenario_list(
    State(b): State<Browser>,
    v: Visitor,
    Query(filters): Query<ListFilters>,
) -> Response {
    let page = if filters.page.is_empty() {
        1
    } else {
        match filters.page.parse::<u64>() {
            Ok(n) if n >= 1 => n,
            _ => {
                return b.bad_request(
                    &v,
                    &format!("page must be a whole number from 1, got {:?}", filters.page),
                );
            }
        }
    };
    let request = pb::ListScenariosRequest {
        name_contains: filters.name.clone(),
        tag: filters.tag.clone(),
        team: filters.team.clone(),
        order_by: "create_time desc".into(),
        page_size: PAGE as i32,
        ..Default::default()
    };
    // A page far beyond the end is answered without asking the store for it.
    let offset = (page - 1).saturating_mul(PAGE);
    let list = match b
        .0
        .scenarios
        .list(v.team.as_deref(), request, Some(offset))
        .await
    {
        Ok(list) => list,
        Err(e) => return b.failure(&v, &e.into()),
    };
    let total = u64::try_from(list.total_size).unwrap_or(0);
    let pages = total.div_ceil(PAGE).max(1);
    if page > pages {
        let html = pages::problem(
            &v.chrome(),
            "Not found",
            &format!(
                "there is no page {page}: the scenarios that match fill {pages} page{}",
                if pages == 1 { "" } else { "s" }
            ),
        );
        return b.page(&v, StatusCode::NOT_FOUND, html);
    }
    let html = pages::scenario_list(&v.chrome(), &filters, &list, page, pages);
    b.page(&v, StatusCode::OK, html)
}

async fn scenario(State(b): State<Browser>, v: Visitor, Path(id): Path<String>) -> Response {
    let s = &b.0.scenarios;
    let saved = match s
        .get_scenario(v.call(pb::GetScenarioRequest { id: id.clone() }))
        .await
    {
        Ok(r) => r.into_inner(),
        Err(status) => return b.failure(&v, &status),
    };
    let revisions = match s
        .list_scenario_revisions(v.call(pb::ListScenarioRevisionsRequest {
            id: id.clone(),
            page_size: REVISIONS_SHOWN,
            ..Default::default()
        }))
        .await
    {
        Ok(r) => r.into_inner(),
        Err(status) => return b.failure(&v, &status),
    };
    let runs = match b
        .0
        .runs
        .list_runs(v.call(pb::ListRunsRequest {
            scenario_id: id,
            page_size: RUNS_SHOWN,
            ..Default::default()
        }))
        .await
    {
        Ok(r) => r.into_inner(),
        Err(status) => return b.failure(&v, &status),
    };
    let view = pages::ScenarioView {
        saved: &saved,
        revisions: &revisions.revisions,
        more_revisions: i64::from(!revisions.next_page_token.is_empty()),
        runs: &runs.runs,
        runs_total: i64::from(runs.total_size),
    };
    let html = pages::scenario_page(&v.chrome(), &view);
    b.page(&v, StatusCode::OK, html)
}

async fn scenario_toml(State(b): State<Browser>, v: Visitor, Path(id): Path<String>) -> Response {
    let saved = match b
        .0
        .scenarios
        .get_scenario(v.call(pb::GetScenarioRequest { id: id.clone() }))
        .await
    {
        Ok(r) => r.into_inner(),
        Err(status) => return b.failure(&v, &status),
    };
    let text = crate::grpc::domain_scenario(saved.scenario.as_ref())
        .map_err(tonic::Status::from)
        .and_then(|s| toml::to_string(&s).map_err(|e| tonic::Status::internal(format!("{e}"))));
    match text {
        Ok(text) => download(&format!("{id}.toml"), "application/toml", text.into_bytes()),
        Err(status) => b.failure(&v, &status),
    }
}

/// A file to save, under `name`.
fn download(name: &str, content_type: &'static str, bytes: Vec<u8>) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Ids are ASCII letters, digits and underscores.
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    secure_headers(headers);
    response
}

/// The run form. Every field is text, so that a bad value is answered by
/// the page, naming the field.
#[derive(serde::Deserialize)]
struct RunForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    basis: String,
    #[serde(default)]
    paths: String,
    #[serde(default)]
    seed: String,
    #[serde(default)]
    demand_volatility: String,
    #[serde(default)]
    api_price_volatility: String,
    #[serde(default)]
    gpu_price_volatility: String,
}

impl RunForm {
    /// The options the form asks for, or what is wrong with it. A
    /// volatility left empty sets no process; one given is sent as given.
    fn options(&self) -> Result<(pb::RunOptions, &'static str), String> {
        let (kind, name) = match self.kind.as_str() {
            "projection" => (pb::RunKind::Projection, "projection"),
            "break_even" => (pb::RunKind::BreakEven, "break-even"),
            "simulation" => (pb::RunKind::Simulation, "simulation"),
            other => {
                return Err(format!(
                    "kind must be projection, break_even or simulation, got {other:?}"
                ));
            }
        };
        let basis = match self.basis.as_str() {
            "pnl" | "" => pb::CostBasis::ProfitAndLoss,
            "cash" => pb::CostBasis::Cash,
            other => return Err(format!("basis must be pnl or cash, got {other:?}")),
        };
        let simulation = if kind == pb::RunKind::Simulation {
            let whole = |field: &str, text: &str| {
                text.trim()
                    .parse::<u64>()
                    .map_err(|_| format!("{field} must be a whole number, got {text:?}"))
            };
            let sigma = |field: &str, text: &str| -> Result<Option<f64>, String> {
                let text = text.trim();
                if text.is_empty() {
                    return Ok(None);
                }
                match text.parse::<f64>() {
                    Ok(v) if v.is_finite() && v >= 0.0 => Ok(Some(v)),
                    _ => Err(format!(
                        "{field} must be a number of at least 0, got {text:?}"
                    )),
                }
            };
            let demand = sigma("demand volatility", &self.demand_volatility)?;
            let api = sigma("API price volatility", &self.api_price_volatility)?;
            let gpu = sigma("GPU price volatility", &self.gpu_price_volatility)?;
            Some(pb::RunSimulationRequest {
                paths: whole("paths", &self.paths)?,
                seed: whole("seed", &self.seed)?,
                stochastic: Some(pb::StochasticInputs {
                    demand: demand.map(|volatility| {
                        pb::stochastic_inputs::Demand::DemandGbm(pb::DemandGbm { volatility })
                    }),
                    api_price: api.map(|volatility| {
                        pb::stochastic_inputs::ApiPrice::ConstantCapability(
                            pb::ConstantCapabilityPrice {
                                annual_factor: 1.0,
                                volatility,
                            },
                        )
                    }),
                    gpu_price: gpu.map(|volatility| pb::GpuPriceSpec {
                        annual_decline: 0.0,
                        volatility,
                        reversion_per_year: 1.0,
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            })
        } else {
            None
        };
        Ok((
            pb::RunOptions {
                kind: kind.into(),
                basis: basis.into(),
                simulation,
            },
            name,
        ))
    }
}

async fn run_scenario(
    State(b): State<Browser>,
    headers: HeaderMap,
    v: Visitor,
    Path(id): Path<String>,
    Form(form): Form<RunForm>,
) -> Response {
    if let Some(why) = session::refuse_post(&headers, &form.csrf) {
        return b.forbidden(&v, why);
    }
    let (options, kind) = match form.options() {
        Ok(options) => options,
        Err(why) => return b.bad_request(&v, &why),
    };
    let Some(task) = b.0.tasks.start(v.team.clone(), &id, kind) else {
        return b.failure(
            &v,
            &tonic::Status::resource_exhausted(format!(
                "{} runs started from the browser are running already",
                tasks::MAX_RUNNING
            )),
        );
    };
    let request = pb::RunScenarioRequest {
        scenario_id: id,
        revision: 0,
        options: Some(options),
    };
    let (runs, tasks, team, task_id) = (
        b.0.runs.clone(),
        b.0.tasks.clone(),
        v.team.clone(),
        task.clone(),
    );
    tokio::spawn(async move {
        let progress = {
            let (tasks, id) = (tasks.clone(), task_id.clone());
            move |p: crate::montecarlo::Progress| {
                tasks.update(
                    &id,
                    TaskState::Running {
                        done: p.paths_done,
                        total: p.paths_total,
                    },
                )
            }
        };
        let state = match runs.run(team.as_deref(), request, progress).await {
            Ok(run) => TaskState::Done(run.id),
            Err(e) => TaskState::Failed(e.into()),
        };
        tasks.update(&task_id, state);
    });
    see_other(&format!("/tasks/{task}"))
}

async fn task(State(b): State<Browser>, v: Visitor, Path(id): Path<String>) -> Response {
    let Some(task) = b.0.tasks.get(&id, v.team.as_deref()) else {
        return b.failure(
            &v,
            &tonic::Status::not_found(format!("no run in progress {id} on this server")),
        );
    };
    match task.state {
        TaskState::Running { done, total } => {
            let html = pages::task(
                &v.chrome(),
                &task.kind,
                &task.scenario_id,
                (done, total),
                task.started.elapsed().as_secs(),
            );
            b.page(&v, StatusCode::OK, html)
        }
        TaskState::Done(run) => see_other(&format!("/runs/{run}")),
        TaskState::Failed(status) => b.failure(&v, &status),
    }
}

async fn run_report(State(b): State<Browser>, v: Visitor, Path(id): Path<String>) -> Response {
    // The run is read first, whatever is cached, so that only a caller who
    // may see it gets its report.
    let run = match b
        .0
        .runs
        .get_run(v.call(pb::GetRunRequest { id: id.clone() }))
        .await
    {
        Ok(r) => r.into_inner(),
        Err(status) => return b.failure(&v, &status),
    };
    // The bars carry this visitor's team and form token, so they are
    // added to each answer, never kept with the report.
    let nav = pages::run_nav(&v.chrome(), &run);
    let report = match b.cached_report(&id) {
        Some(html) => html,
        None => {
            let report = match b.0.runs.report(run).await {
                Ok(report) => report,
                Err(e) => return b.failure(&v, &e.into()),
            };
            let html: Arc<str> = crate::report::html(&report).into();
            b.keep_report(&id, Arc::clone(&html));
            html
        }
    };
    // The bars go at the top of the report's own page.
    let html = match report.split_once("<body>\n") {
        Some((head, rest)) => format!("{head}<body>\n{nav}{rest}"),
        None => report.to_string(),
    };
    b.page(&v, StatusCode::OK, html)
}

#[derive(serde::Deserialize)]
struct ExportQuery {
    #[serde(default)]
    table: String,
}

async fn export_csv(
    State(b): State<Browser>,
    v: Visitor,
    Path(id): Path<String>,
    Query(q): Query<ExportQuery>,
) -> Response {
    let table = match q.table.as_str() {
        "" | "months" => pb::ExportTable::Months,
        "summary" => pb::ExportTable::Summary,
        "simulation_months" => pb::ExportTable::SimulationMonths,
        other => {
            return b.bad_request(
                &v,
                &format!("table must be months, summary or simulation_months, got {other:?}"),
            );
        }
    };
    let name = format!("{id}-{}.csv", table.as_str_name().to_ascii_lowercase());
    match export(&b, &v, id, table, pb::ExportFormat::Csv).await {
        Ok(bytes) => download(&name, "text/csv; charset=utf-8", bytes),
        Err(status) => b.failure(&v, &status),
    }
}

async fn export_xlsx(State(b): State<Browser>, v: Visitor, Path(id): Path<String>) -> Response {
    let name = format!("{id}.xlsx");
    match export(
        &b,
        &v,
        id,
        pb::ExportTable::Unspecified,
        pb::ExportFormat::Xlsx,
    )
    .await
    {
        Ok(bytes) => download(
            &name,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            bytes,
        ),
        Err(status) => b.failure(&v, &status),
    }
}

/// A kept run exported through ExportRun, its chunks joined.
async fn export(
    b: &Browser,
    v: &Visitor,
    id: String,
    table: pb::ExportTable,
    format: pb::ExportFormat,
) -> Result<Vec<u8>, tonic::Status> {
    let mut stream =
        b.0.runs
            .export_run(v.call(pb::ExportRunRequest {
                id,
                table: table.into(),
                format: format.into(),
            }))
            .await?
            .into_inner();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk?.data);
    }
    Ok(bytes)
}

async fn compare(
    State(b): State<Browser>,
    v: Visitor,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let baseline = pairs
        .iter()
        .find(|(k, _)| k == "baseline")
        .map(|(_, id)| id.clone())
        .unwrap_or_default();
    let others: Vec<String> = pairs
        .iter()
        .filter(|(k, id)| k == "other" && *id != baseline)
        .map(|(_, id)| id.clone())
        .collect();
    if baseline.is_empty() {
        return b.bad_request(&v, "choose the baseline run");
    }
    if others.is_empty() {
        return b.bad_request(
            &v,
            "tick at least one other run to compare with the baseline",
        );
    }
    match b
        .0
        .runs
        .compare_runs(v.call(pb::CompareRunsRequest {
            baseline_id: baseline,
            other_ids: others,
        }))
        .await
    {
        Ok(r) => {
            let html = pages::comparison(&v.chrome(), &r.into_inner());
            b.page(&v, StatusCode::OK, html)
        }
        Err(status) => b.failure(&v, &status),
    }
}

/// TLS connections for the pages: handshakes run beside the accept loop
/// (each bounded by [`crate::tls::HANDSHAKE_TIMEOUT`]), so a slow client
/// holds up nobody else.
struct TlsListener {
    ready: tokio::sync::mpsc::Receiver<(tokio_rustls::server::TlsStream<TcpStream>, SocketAddr)>,
    addr: SocketAddr,
}

impl TlsListener {
    fn new(listener: TcpListener, config: rustls::ServerConfig) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let (tx, ready) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(pair) => pair,
                    Err(err) => {
                        tracing::warn!(%err, "browser view: accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, ready) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(crate::tls::HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
                    if let Ok(Ok(stream)) = handshake.await {
                        let _ = ready.send((stream, peer)).await;
                    }
                });
                if tx.is_closed() {
                    return;
                }
            }
        });
        Ok(Self { ready, addr })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(pair) => pair,
            // The accept loop ended: nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(kind: &str) -> RunForm {
        RunForm {
            csrf: String::new(),
            kind: kind.into(),
            basis: "cash".into(),
            paths: "2000".into(),
            seed: "7".into(),
            demand_volatility: "0.3".into(),
            api_price_volatility: String::new(),
            gpu_price_volatility: "0".into(),
        }
    }

    #[test]
    fn the_run_form_becomes_options_as_given() {
        let (options, name) = form("simulation").options().unwrap();
        assert_eq!(name, "simulation");
        assert_eq!(options.basis(), pb::CostBasis::Cash);
        let sim = options.simulation.unwrap();
        assert_eq!((sim.paths, sim.seed), (2000, 7));
        let stochastic = sim.stochastic.unwrap();
        assert!(stochastic.api_price.is_none(), "left empty: no process");
        assert_eq!(stochastic.gpu_price.unwrap().volatility, 0.0, "0 is 0");
        let (options, _) = form("projection").options().unwrap();
        assert!(options.simulation.is_none());
        for (field, value) in [("kind", "monte"), ("paths", "ten"), ("demand", "-1")] {
            let mut f = form("simulation");
            match field {
                "kind" => f.kind = value.into(),
                "paths" => f.paths = value.into(),
                _ => f.demand_volatility = value.into(),
            }
            let err = f.options().unwrap_err();
            assert!(err.contains(field), "{err}");
        }
    }

    #[test]
    fn api_errors_keep_their_meaning_over_http() {
        assert_eq!(http_status(tonic::Code::NotFound).0, StatusCode::NOT_FOUND);
        assert_eq!(
            http_status(tonic::Code::InvalidArgument).0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            http_status(tonic::Code::ResourceExhausted).0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            http_status(tonic::Code::Internal).0,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}

#[cfg(test)]
mod toml_tests {
    /// The scenario file a page offers for download reads back as the same
    /// scenario, for every example.
    #[test]
    fn downloaded_scenario_files_read_back_the_same() {
        for (name, text) in crate::tco::examples::EXAMPLES {
            let scenario = crate::tco::Scenario::from_toml(text).unwrap();
            let written = toml::to_string(&scenario).unwrap();
            let read = crate::tco::Scenario::from_toml(&written)
                .unwrap_or_else(|e| panic!("{name}: {e}\n{written}"));
            assert_eq!(read, scenario, "{name}\n{written}");
        }
    }
}
