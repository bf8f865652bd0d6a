//! Graceful shutdown with a batch job in flight: the server stops without
//! waiting for the job, job watchers get a final UNAVAILABLE status, and
//! the job resumes and finishes after a restart.

mod common;

use breakeven::grpc::pb;
use breakeven::grpc::pb::job_service_client::JobServiceClient;
use breakeven::grpc::pb::scenario_service_client::ScenarioServiceClient;
use common::{TestServer, temp_db};
use tonic::Code;

const ITEMS: usize = 8;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_watchers_and_the_job_resumes_after_a_restart() {
    let db = temp_db();
    let server = TestServer::start_on(db.clone()).await;
    let channel = server.channel().await;
    let id = ScenarioServiceClient::new(channel.clone())
        .create_scenario(pb::CreateScenarioRequest {
            name: "assistant".into(),
            scenario: Some(scenario()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .id;
    let mut jobs = JobServiceClient::new(channel);
    let job = jobs
        .submit_batch(pb::SubmitBatchRequest {
            name: "long".into(),
            options: Some(pb::RunOptions {
                kind: pb::RunKind::Simulation.into(),
                simulation: Some(pb::RunSimulationRequest {
                    paths: 20_000,
                    seed: 3,
                    // Every path the projection: the test needs only the load.
                    allow_deterministic: true,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            items: Some(pb::submit_batch_request::Items::Scenarios(
                pb::ScenarioList {
                    ids: vec![id; ITEMS],
                },
            )),
        })
        .await
        .unwrap()
        .into_inner();
    let mut watch = jobs
        .watch_job(pb::WatchJobRequest { id: job.id.clone() })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.state(), pb::JobState::Running);

    // Stop while items are running; the stop returns once the server has.
    server.stop().await;
    let end = loop {
        match watch.message().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the watch ended without a status"),
            Err(status) => break status,
        }
    };
    assert_eq!(end.code(), Code::Unavailable, "{end:?}");

    let server = TestServer::start_on(db.clone()).await;
    let mut jobs = JobServiceClient::new(server.channel().await);
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
    assert_eq!(last.succeeded_items as usize, ITEMS);
    server.stop().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}
