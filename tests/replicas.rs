//! Several `breakeven serve` processes on loopback sharing one PostgreSQL
//! database (a schema of its own per test; see `breakeven::store::testdb`):
//! a replica killed mid-sweep, one paused past its lease, one stopped with
//! SIGTERM, a custom entry added through one replica and used on another,
//! and the database going away and coming back. These tests start server
//! processes and run one at a time (a file-level mutex), with short
//! leases.

use std::net::SocketAddr;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

mod common;

use breakeven::grpc::pb;
use breakeven::grpc::pb::catalog_service_client::CatalogServiceClient;
use breakeven::grpc::pb::estimator_service_client::EstimatorServiceClient;
use breakeven::grpc::pb::job_service_client::JobServiceClient;
use breakeven::grpc::pb::run_service_client::RunServiceClient;
use breakeven::grpc::pb::scenario_service_client::ScenarioServiceClient;
use breakeven::grpc::pb::simulation_service_client::SimulationServiceClient;
use breakeven::store::testdb::{self, TestSchema};
use tokio::sync::{Mutex, watch};
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;

/// One multi-process test at a time: each starts several servers.
static SERIAL: Mutex<()> = Mutex::const_new(());

async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    SERIAL.lock().await
}

/// A `breakeven serve --database-url` child process.
struct Replica {
    child: Child,
    addr: SocketAddr,
}

impl Replica {
    fn start(url: &str, lease_ttl: &str, workers: &str) -> Self {
        Self::start_with(url, lease_ttl, workers, &[])
    }

    fn start_with(url: &str, lease_ttl: &str, workers: &str, more: &[&str]) -> Self {
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "--database-url".as_ref(),
            url.as_ref(),
            "--job-lease-ttl".as_ref(),
            lease_ttl.as_ref(),
            "--job-workers".as_ref(),
            workers.as_ref(),
        ];
        args.extend(more.iter().map(std::ffi::OsStr::new));
        let (child, addr) =
            common::process::serve_with_env(&args, None, &[("RAYON_NUM_THREADS", "1")]);
        Self { child, addr }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .expect("connect")
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name}");
    }

    /// The SQL condition on `lease_owner` for this process's leases.
    fn owns(&self) -> String {
        format!("lease_owner LIKE 'runner\\_{}\\_%'", self.pid())
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn scenario() -> pb::Scenario {
    pb::Scenario {
        name: "assistant".into(),
        horizon_months: 12,
        start_month: "2026-01".into(),
        workload: Some(pb::WorkloadSpec {
            requests_per_day: 200_000.0,
            input_tokens: 1000.0,
            output_tokens: 250.0,
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

/// A sweep of `items` simulations of `paths` paths each, submitted
/// through `channel`; returns the job id.
async fn submit(channel: Channel, items: usize, paths: u64) -> String {
    let mut scenarios = ScenarioServiceClient::new(channel.clone());
    let id = scenarios
        .create_scenario(pb::CreateScenarioRequest {
            name: "assistant".into(),
            scenario: Some(scenario()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .id;
    let options = pb::RunOptions {
        kind: pb::RunKind::Simulation.into(),
        simulation: Some(pb::RunSimulationRequest {
            paths,
            seed: 11,
            stochastic: Some(pb::StochasticInputs {
                demand: Some(pb::stochastic_inputs::Demand::DemandGbm(pb::DemandGbm {
                    volatility: 0.3,
                })),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    JobServiceClient::new(channel)
        .submit_batch(pb::SubmitBatchRequest {
            name: "sweep".into(),
            options: Some(options),
            items: Some(pb::submit_batch_request::Items::Scenarios(
                pb::ScenarioList {
                    ids: vec![id; items],
                },
            )),
        })
        .await
        .unwrap()
        .into_inner()
        .id
}

/// Polls `check` every 20 ms until it holds; panics after `limit`.
async fn wait_until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "waited {limit:?} for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn count(schema: &TestSchema, sql: &str) -> i64 {
    schema.query(sql)[0].parse().unwrap()
}

/// Waits for the job to finish (read through `channel`) and returns it.
async fn finished(channel: Channel, job: &str, limit: Duration) -> pb::Job {
    let mut jobs = JobServiceClient::new(channel);
    let start = Instant::now();
    loop {
        let state = jobs
            .get_job(pb::GetJobRequest { id: job.into() })
            .await
            .unwrap()
            .into_inner();
        if state.state() == pb::JobState::Done {
            return state;
        }
        assert!(
            start.elapsed() < limit,
            "job not done after {limit:?}: {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every item succeeded once: one run each, ids distinct, the listing by
/// job agrees, no lease left.
async fn each_item_ran_once(channel: Channel, schema: &TestSchema, job: &pb::Job, items: usize) {
    assert_eq!(job.succeeded_items as usize, items, "{job:?}");
    let runs = RunServiceClient::new(channel)
        .list_runs(pb::ListRunsRequest {
            job_id: job.id.clone(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(runs.total_size as usize, items);
    let ids: std::collections::HashSet<_> = runs.runs.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids.len(), items);
    for item in &job.items {
        assert!(ids.contains(&item.run_id), "{item:?}");
    }
    assert_eq!(count(schema, "SELECT count(*) FROM runs"), items as i64);
    assert_eq!(
        count(
            schema,
            "SELECT count(*) FROM job_items WHERE lease_owner IS NOT NULL"
        ),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_sweep_loses_nothing_and_repeats_nothing() {
    let _serial = serial().await;
    let schema = testdb::schema();
    let a = Replica::start(&schema.url, "2", "2");
    let b = Replica::start(&schema.url, "2", "2");
    let c = Replica::start(&schema.url, "2", "2");
    let job = submit(a.channel().await, 60, 30_000).await;
    // Kill B while it holds a lease, once some items are done.
    let held_by_b = format!(
        "SELECT count(*) FROM job_items WHERE {} AND lease_until > now()",
        b.owns()
    );
    wait_until("B to hold a lease", Duration::from_secs(20), || {
        count(&schema, &held_by_b) > 0
            && count(
                &schema,
                "SELECT count(*) FROM job_items WHERE state = 'succeeded'",
            ) >= 3
    })
    .await;
    let taken: Vec<String> = schema.query(&format!(
        "SELECT idx::text FROM job_items WHERE {} AND state = 'pending'",
        b.owns()
    ));
    b.signal("KILL");
    let done = finished(a.channel().await, &job, Duration::from_secs(60)).await;
    each_item_ran_once(c.channel().await, &schema, &done, 60).await;
    // The items B held ran again elsewhere, under a later attempt.
    assert!(!taken.is_empty());
    for idx in taken {
        let attempt = count(
            &schema,
            &format!("SELECT attempt FROM job_items WHERE idx = {idx}"),
        );
        assert!(attempt >= 2, "item {idx} attempt {attempt}");
    }
    drop((a, b, c));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_paused_past_its_lease_cannot_complete_late() {
    let _serial = serial().await;
    let schema = testdb::schema();
    let a = Replica::start(&schema.url, "1", "1");
    let b = Replica::start(&schema.url, "1", "1");
    let job = submit(a.channel().await, 6, 100_000).await;
    let held_by_b = format!(
        "SELECT idx::text FROM job_items WHERE {} AND state = 'pending'",
        b.owns()
    );
    let mut paused = Vec::new();
    wait_until("B to hold a lease", Duration::from_secs(20), || {
        paused = schema.query(&held_by_b);
        !paused.is_empty()
    })
    .await;
    b.signal("STOP");
    // A takes B's item over once the lease runs out and finishes the job.
    let done = finished(a.channel().await, &job, Duration::from_secs(60)).await;
    b.signal("CONT");
    // B wakes up: its heartbeat or its completion finds the lease gone.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let done_again = finished(b.channel().await, &job, Duration::from_secs(5)).await;
    assert_eq!(done.items, done_again.items);
    each_item_ran_once(a.channel().await, &schema, &done_again, 6).await;
    let attempt = count(
        &schema,
        &format!("SELECT attempt FROM job_items WHERE idx = {}", paused[0]),
    );
    assert!(attempt >= 2, "attempt {attempt}");
    drop((a, b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_releases_leases_for_the_others_at_once() {
    let _serial = serial().await;
    let schema = testdb::schema();
    // Leases of a minute: only a release lets A take B's items in time.
    let a = Replica::start(&schema.url, "60", "1");
    let mut b = Replica::start(&schema.url, "60", "1");
    let job = submit(a.channel().await, 4, 100_000).await;
    let held_by_b = format!("SELECT count(*) FROM job_items WHERE {}", b.owns());
    wait_until("B to hold a lease", Duration::from_secs(20), || {
        count(&schema, &held_by_b) > 0
    })
    .await;
    b.signal("TERM");
    assert!(b.child.wait().unwrap().success());
    assert_eq!(count(&schema, &held_by_b), 0, "B left its leases");
    let done = finished(a.channel().await, &job, Duration::from_secs(40)).await;
    each_item_ran_once(a.channel().await, &schema, &done, 4).await;
    drop((a, b));
}

fn quoted_gpu(id: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hardware/h100-sxm.toml"),
    )
    .unwrap()
    .replacen("id = \"h100-sxm\"", &format!("id = \"{id}\""), 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_gpu_added_through_one_replica_is_used_by_another() {
    let _serial = serial().await;
    let schema = testdb::schema();
    let a = Replica::start(&schema.url, "2", "1");
    let c = Replica::start(&schema.url, "2", "1");
    let estimate = || pb::EstimateThroughputRequest {
        model_id: "llama-3.1-8b".into(),
        gpu_id: "acme-h100".into(),
        workload: Some(pb::Workload {
            input_tokens: 1000,
            output_tokens: 200,
            concurrency: 16,
        }),
        ..Default::default()
    };
    let mut on_c = EstimatorServiceClient::new(c.channel().await);
    let err = on_c.estimate_throughput(estimate()).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    CatalogServiceClient::new(a.channel().await)
        .create_catalog_entry(pb::CreateCatalogEntryRequest {
            kind: pb::CatalogEntryKind::Gpu.into(),
            name: "acme-h100".into(),
            team: "acme".into(),
            toml: quoted_gpu("acme-h100"),
        })
        .await
        .unwrap();
    let start = Instant::now();
    let answer = loop {
        match on_c.estimate_throughput(estimate()).await {
            Ok(answer) => break answer.into_inner(),
            Err(e) if e.code() == Code::NotFound => {
                assert!(start.elapsed() < Duration::from_secs(10), "still {e:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e:?}"),
        }
    };
    assert!(answer.output_tokens_per_second_per_gpu > 0.0, "{answer:?}");
    drop((a, c));
}

/// A TCP proxy in front of the test server that can cut every
/// connection and refuse new ones, as a database that went away would.
struct Proxy {
    addr: SocketAddr,
    up: watch::Sender<bool>,
}

impl Proxy {
    async fn start(upstream: String, up: bool) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = watch::channel(up);
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !*rx.borrow() {
                    continue; // dropped: refused
                }
                let mut rx = rx.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = rx.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self { addr, up: tx }
    }

    fn set(&self, up: bool) {
        self.up.send_replace(up);
    }
}

/// `url` with its host and port replaced by `addr`.
fn through(url: &str, addr: SocketAddr) -> (String, String) {
    let rest = url.split_once("://").unwrap().1;
    let authority_start = rest.find('@').map_or(0, |i| i + 1);
    let authority_end = rest[authority_start..]
        .find(['/', '?'])
        .map_or(rest.len(), |i| authority_start + i);
    let upstream = rest[authority_start..authority_end].to_string();
    let upstream = if upstream.contains(':') {
        upstream
    } else {
        format!("{upstream}:5432")
    };
    let proxied = format!(
        "postgres://{}{addr}{}",
        &rest[..authority_start],
        &rest[authority_end..]
    );
    (proxied, upstream)
}

async fn health(channel: Channel) -> ServingStatus {
    HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .status()
}

async fn wait_health(channel: &Channel, want: ServingStatus, limit: Duration) {
    let start = Instant::now();
    loop {
        let now = health(channel.clone()).await;
        if now == want {
            return;
        }
        assert!(start.elapsed() < limit, "health {now:?} after {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn assert_unavailable_with_retry(channel: Channel) {
    let err = ScenarioServiceClient::new(channel)
        .list_scenarios(pb::ListScenariosRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    let retry = err.get_error_details().retry_info().cloned();
    assert!(
        retry.and_then(|r| r.retry_delay).is_some(),
        "no RetryInfo: {err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_database_calls_are_unavailable_and_work_resumes_when_it_is_back() {
    let _serial = serial().await;
    let schema = testdb::schema();
    let (proxied, upstream) = through(&schema.url, "127.0.0.1:1".parse().unwrap());
    let proxy = Proxy::start(upstream, false).await;
    let (url, _) = through(&proxied, proxy.addr);
    let url = format!(
        "{url}{}connect_timeout=1",
        if url.contains('?') { '&' } else { '?' }
    );
    // Started before the database answers: not serving, calls refused.
    let a = Replica::start(&url, "2", "2");
    let channel = a.channel().await;
    assert_eq!(health(channel.clone()).await, ServingStatus::NotServing);
    assert_unavailable_with_retry(channel.clone()).await;
    assert_eq!(
        count(
            &schema,
            &format!(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = '{}'",
                schema.name
            )
        ),
        0,
        "migrated without a database"
    );
    proxy.set(true);
    wait_health(&channel, ServingStatus::Serving, Duration::from_secs(10)).await;

    // The database goes away mid-sweep for a few seconds.
    let job = submit(channel.clone(), 12, 8_000).await;
    wait_until("a few items to finish", Duration::from_secs(20), || {
        count(
            &schema,
            "SELECT count(*) FROM job_items WHERE state = 'succeeded'",
        ) >= 2
    })
    .await;
    proxy.set(false);
    wait_health(&channel, ServingStatus::NotServing, Duration::from_secs(10)).await;
    assert_unavailable_with_retry(channel.clone()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.set(true);
    wait_health(&channel, ServingStatus::Serving, Duration::from_secs(10)).await;
    let done = finished(channel.clone(), &job, Duration::from_secs(60)).await;
    each_item_ran_once(channel, &schema, &done, 12).await;
    drop(a);
}

/// A simulation big enough to split into several one-chunk slices.
fn big_simulation() -> pb::RunSimulationRequest {
    pb::RunSimulationRequest {
        scenario: Some(scenario()),
        paths: 6 * 16_384 + 123,
        seed: 7,
        antithetic: true,
        stochastic: Some(pb::StochasticInputs {
            demand: Some(pb::stochastic_inputs::Demand::DemandGbm(pb::DemandGbm {
                volatility: 0.3,
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The result of `big_simulation` on one server with its SQLite file, as
/// bytes.
async fn on_one_machine() -> Vec<u8> {
    use prost::Message as _;
    let server = common::TestServer::start().await;
    let result = SimulationServiceClient::new(server.channel().await)
        .run_simulation(big_simulation())
        .await
        .unwrap()
        .into_inner();
    server.stop().await;
    result.encode_to_vec()
}

/// Lease owners seen on slices until `done` is set.
fn watch_slice_owners(
    schema_url: String,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<std::collections::BTreeSet<String>> {
    std::thread::spawn(move || {
        let mut owners = std::collections::BTreeSet::new();
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            if let Ok(rows) = query_rows(
                &schema_url,
                "SELECT DISTINCT lease_owner FROM sim_slices WHERE lease_owner IS NOT NULL",
            ) {
                owners.extend(rows);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        owners
    })
}

/// Rows of one text column; errors (say, before the tables exist) are
/// returned, not panicked on.
fn query_rows(url: &str, sql: &str) -> Result<Vec<String>, String> {
    let url = url.to_string();
    let sql = sql.to_string();
    // A thread of its own: callers may be on a runtime's thread.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(connection);
            let rows = client.query(&sql, &[]).await.map_err(|e| e.to_string())?;
            Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
        })
    })
    .join()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_simulation_gives_the_bytes_of_one_machine_even_when_a_replica_dies() {
    use prost::Message as _;
    let _serial = serial().await;
    let expected = on_one_machine().await;
    let schema = testdb::schema();
    let split = ["--split-threshold", "1", "--split-slice-chunks", "1"];
    let a = Replica::start_with(&schema.url, "2", "1", &split);
    let b = Replica::start_with(&schema.url, "2", "1", &split);
    let c = Replica::start_with(&schema.url, "2", "1", &split);

    // All three at work: the same bytes, and the slices spread.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let owners = watch_slice_owners(schema.url.clone(), std::sync::Arc::clone(&done));
    let result = SimulationServiceClient::new(a.channel().await)
        .run_simulation(big_simulation())
        .await
        .unwrap()
        .into_inner();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let owners = owners.join().unwrap();
    assert_eq!(result.encode_to_vec(), expected, "split result differs");
    assert!(owners.len() >= 2, "slices ran on {owners:?} only");
    assert_eq!(
        count(&schema, "SELECT count(*) FROM sim_runs"),
        0,
        "run left behind"
    );

    // Streamed through another replica: progress as slices finish, then
    // the same result.
    let mut events = SimulationServiceClient::new(c.channel().await)
        .stream_simulation(big_simulation())
        .await
        .unwrap()
        .into_inner();
    let mut done_so_far = Vec::new();
    let mut streamed = None;
    while let Some(event) = events.message().await.unwrap() {
        match event.event.unwrap() {
            pb::simulation_event::Event::Progress(p) => done_so_far.push(p.paths_done),
            pb::simulation_event::Event::Result(r) => streamed = Some(r),
        }
    }
    assert_eq!(streamed.unwrap().encode_to_vec(), expected);
    assert!(
        done_so_far.windows(2).all(|w| w[0] <= w[1]),
        "{done_so_far:?}"
    );
    assert_eq!(done_so_far.last(), Some(&big_simulation().paths));

    // B dies holding a slice: its slice is taken over, the bytes the same.
    let channel = a.channel().await;
    let call = tokio::spawn(async move {
        SimulationServiceClient::new(channel)
            .run_simulation(big_simulation())
            .await
    });
    let held_by_b = format!("SELECT count(*) FROM sim_slices WHERE {}", b.owns());
    wait_until("B to hold a slice", Duration::from_secs(30), || {
        query_rows(
            &schema.url,
            &held_by_b.replace("count(*)", "count(*)::text"),
        )
        .is_ok_and(|rows| rows.first().is_some_and(|n| n != "0"))
    })
    .await;
    b.signal("KILL");
    let result = call.await.unwrap().unwrap().into_inner();
    assert_eq!(
        result.encode_to_vec(),
        expected,
        "split result differs after a kill"
    );
    assert_eq!(count(&schema, "SELECT count(*) FROM sim_runs"), 0);

    // A caller that goes away: its run and slices are deleted.
    let mut events = SimulationServiceClient::new(a.channel().await)
        .stream_simulation(big_simulation())
        .await
        .unwrap()
        .into_inner();
    events.message().await.unwrap();
    wait_until("the run to be stored", Duration::from_secs(10), || {
        count(&schema, "SELECT count(*) FROM sim_runs") == 1
    })
    .await;
    drop(events);
    wait_until("the run to be deleted", Duration::from_secs(10), || {
        count(&schema, "SELECT count(*) FROM sim_runs") == 0
            && count(&schema, "SELECT count(*) FROM sim_slices") == 0
    })
    .await;
    drop((a, b, c));
}
