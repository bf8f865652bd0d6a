//! A batch job survives the server being killed (SIGKILL) mid-job: started
//! again on the same file, the server resumes the job and finishes it with
//! every item run exactly once, no completed result lost, and the file
//! intact.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

mod common;

use breakeven::grpc::pb;
use breakeven::grpc::pb::job_service_client::JobServiceClient;
use breakeven::grpc::pb::run_service_client::RunServiceClient;
use breakeven::grpc::pb::scenario_service_client::ScenarioServiceClient;
use tonic::transport::Channel;

const ITEMS: usize = 16;

/// The server binary as a child process.
struct ServerProcess {
    child: Child,
    addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `breakeven serve` on an ephemeral port.
    fn start(db: &Path) -> Self {
        let (child, addr) = common::process::serve(&["--db".as_ref(), db.as_os_str()], None);
        Self { child, addr }
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .expect("connect")
    }

    fn kill_hard(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().unwrap();
    }

    fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        assert!(self.child.wait().unwrap().success());
    }
}

/// This process's database file, removed before and after the test: a
/// file of the same name can only be left by an earlier test process with
/// the same process id that was killed before it cleaned up.
struct TempDb(PathBuf);

impl TempDb {
    fn new() -> Self {
        let db =
            Self(std::env::temp_dir().join(format!("breakeven-restart-{}.db", std::process::id())));
        db.remove();
        db
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        self.remove();
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

fn pending_items(db: &Path, job: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT COUNT(*) FROM job_items WHERE job_id = ?1 AND state = 'pending'",
        [job],
        |row| row.get(0),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_resumes_after_a_hard_kill_and_runs_each_item_once() {
    let db = TempDb::new();
    let server = ServerProcess::start(&db.0);
    let channel = server.channel().await;
    let mut scenarios = ScenarioServiceClient::new(channel.clone());
    let mut jobs = JobServiceClient::new(channel);
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
            paths: 4_000,
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
    let job = jobs
        .submit_batch(pb::SubmitBatchRequest {
            name: "resumable".into(),
            options: Some(options),
            items: Some(pb::submit_batch_request::Items::Scenarios(
                pb::ScenarioList {
                    ids: vec![id; ITEMS],
                },
            )),
        })
        .await
        .unwrap()
        .into_inner();

    // Kill the server once two items are done.
    let mut watch = jobs
        .watch_job(pb::WatchJobRequest { id: job.id.clone() })
        .await
        .unwrap()
        .into_inner();
    let mut before = None;
    while let Some(state) = watch.message().await.unwrap() {
        if state.succeeded_items >= 2 {
            before = Some(state);
            break;
        }
    }
    let before = before.expect("two items finished before the stream ended");
    server.kill_hard();
    drop(watch);
    let left = pending_items(&db.0, &job.id);
    assert!(left > 0, "the kill came before the job finished");

    let server = ServerProcess::start(&db.0);
    let channel = server.channel().await;
    let mut jobs = JobServiceClient::new(channel.clone());
    let mut runs = RunServiceClient::new(channel);
    let mut watch = jobs
        .watch_job(pb::WatchJobRequest { id: job.id.clone() })
        .await
        .unwrap()
        .into_inner();
    let mut last = None;
    while let Some(state) = watch.message().await.unwrap() {
        last = Some(state);
    }
    let last = last.unwrap();
    assert_eq!(last.state(), pb::JobState::Done);
    assert_eq!(last.succeeded_items as usize, ITEMS, "{last:?}");

    // Results committed before the kill are the same ones after it.
    for (old, new) in before.items.iter().zip(&last.items) {
        if old.state() == pb::JobItemState::Succeeded {
            assert_eq!(old.run_id, new.run_id);
        }
    }
    let mut run_ids: Vec<&str> = last.items.iter().map(|i| i.run_id.as_str()).collect();
    run_ids.sort();
    run_ids.dedup();
    assert_eq!(run_ids.len(), ITEMS);
    let listed = runs
        .list_runs(pb::ListRunsRequest {
            job_id: job.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.total_size as usize, ITEMS);

    // The same inputs gave the same numbers on either side of the kill.
    let output = |id: String| {
        let mut runs = runs.clone();
        async move {
            runs.get_run(pb::GetRunRequest { id })
                .await
                .unwrap()
                .into_inner()
                .output
        }
    };
    let first = output(last.items[0].run_id.clone()).await;
    let final_one = output(last.items[ITEMS - 1].run_id.clone()).await;
    assert_eq!(first, final_one);
    server.stop();

    let conn = rusqlite::Connection::open(&db.0).unwrap();
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(verdict, "ok");
    let kept: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM runs WHERE job_id = ?1",
            [&job.id],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(kept as usize, ITEMS);
}
