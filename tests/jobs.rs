//! JobService through the generated client: batches of saved scenarios and
//! sweeps run in the background, watched, cancelled and listed.

mod common;

use breakeven::grpc::pb;
use breakeven::grpc::pb::job_service_client::JobServiceClient;
use breakeven::grpc::pb::run_service_client::RunServiceClient;
use breakeven::grpc::pb::scenario_service_client::ScenarioServiceClient;
use common::TestServer;
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

fn scenario(gpu: &str) -> pb::Scenario {
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
            gpu_id: gpu.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn projection() -> pb::RunOptions {
    pb::RunOptions {
        kind: pb::RunKind::Projection.into(),
        ..Default::default()
    }
}

struct Clients {
    jobs: JobServiceClient<Channel>,
    runs: RunServiceClient<Channel>,
    scenarios: ScenarioServiceClient<Channel>,
}

async fn clients(server: &TestServer) -> Clients {
    let channel = server.channel().await;
    Clients {
        jobs: JobServiceClient::new(channel.clone()),
        runs: RunServiceClient::new(channel.clone()),
        scenarios: ScenarioServiceClient::new(channel),
    }
}

impl Clients {
    async fn save(&mut self, gpu: &str) -> String {
        self.scenarios
            .create_scenario(pb::CreateScenarioRequest {
                name: format!("assistant on {gpu}"),
                team: "research".into(),
                scenario: Some(scenario(gpu)),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .id
    }

    async fn submit(
        &mut self,
        items: pb::submit_batch_request::Items,
        options: pb::RunOptions,
    ) -> Result<pb::Job, tonic::Status> {
        self.jobs
            .submit_batch(pb::SubmitBatchRequest {
                name: "nightly".into(),
                options: Some(options),
                items: Some(items),
            })
            .await
            .map(|r| r.into_inner())
    }

    /// Watches the job until the stream ends; returns every state seen.
    async fn watch(&mut self, id: &str) -> Vec<pb::Job> {
        let mut stream = self
            .jobs
            .watch_job(pb::WatchJobRequest { id: id.into() })
            .await
            .unwrap()
            .into_inner();
        let mut seen = Vec::new();
        while let Some(job) = stream.message().await.unwrap() {
            seen.push(job);
        }
        seen
    }
}

fn list(ids: &[String]) -> pb::submit_batch_request::Items {
    pb::submit_batch_request::Items::Scenarios(pb::ScenarioList { ids: ids.to_vec() })
}

#[tokio::test]
async fn a_batch_runs_every_scenario_once_and_keeps_the_runs() {
    let server = TestServer::start().await;
    let mut c = clients(&server).await;
    let ids = vec![
        c.save("h100-sxm").await,
        c.save("l40s").await,
        c.save("h200").await,
    ];
    let job = c.submit(list(&ids), projection()).await.unwrap();
    assert!(job.id.starts_with("job_"));
    assert_eq!(job.total_items, 3);
    assert_eq!(job.team, "research");

    let seen = c.watch(&job.id).await;
    let last = seen.last().unwrap();
    assert_eq!(last.state(), pb::JobState::Done);
    assert_eq!(last.succeeded_items, 3);
    let done: Vec<u32> = seen.iter().map(|j| j.succeeded_items).collect();
    assert!(done.windows(2).all(|w| w[0] <= w[1]), "{done:?}");

    for (item, id) in last.items.iter().zip(&ids) {
        assert_eq!(item.state(), pb::JobItemState::Succeeded);
        assert_eq!(item.label, *id);
        let run = c
            .runs
            .get_run(pb::GetRunRequest {
                id: item.run_id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(run.scenario_id, *id);
        assert_eq!(run.job_id, job.id);
    }
    let runs = c
        .runs
        .list_runs(pb::ListRunsRequest {
            job_id: job.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(runs.total_size, 3);
}

#[tokio::test]
async fn a_sweep_runs_every_combination() {
    let server = TestServer::start().await;
    let mut c = clients(&server).await;
    let id = c.save("h100-sxm").await;
    let sweep = pb::Sweep {
        scenario_id: id.clone(),
        axes: vec![
            pb::SweepAxis {
                input: "self_host.gpu_id".into(),
                text_values: vec!["h100-sxm".into(), "h200".into()],
                ..Default::default()
            },
            pb::SweepAxis {
                input: "workload.annual_growth".into(),
                number_values: vec![0.0, 1.0],
                ..Default::default()
            },
        ],
    };
    let job = c
        .submit(pb::submit_batch_request::Items::Sweep(sweep), projection())
        .await
        .unwrap();
    assert_eq!(job.total_items, 4);
    let last = c.watch(&job.id).await.pop().unwrap();
    assert_eq!(last.succeeded_items, 4, "{:?}", last.items);
    let labels: Vec<&str> = last.items.iter().map(|i| i.label.as_str()).collect();
    assert_eq!(
        labels[1],
        format!("{id} self_host.gpu_id=h100-sxm workload.annual_growth=1")
    );
    // Growth raises the API bill; the GPU changes the self-hosted one.
    let mut totals = Vec::new();
    for item in &last.items {
        let run = c
            .runs
            .get_run(pb::GetRunRequest {
                id: item.run_id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        let inputs = run.inputs.unwrap();
        let s = inputs.scenario.unwrap();
        totals.push((
            s.self_host.unwrap().gpu_id,
            s.workload.unwrap().annual_growth,
            run.key_figures.unwrap().total_api,
        ));
    }
    assert_eq!(totals[0].0, "h100-sxm");
    assert_eq!(totals[3].0, "h200");
    assert!(totals[1].2 > totals[0].2, "{totals:?}");
    assert_eq!(totals[0].2, totals[2].2, "{totals:?}");
}

#[tokio::test]
async fn cancelling_skips_what_has_not_run() {
    let server = TestServer::start().await;
    let mut c = clients(&server).await;
    let id = c.save("h100-sxm").await;
    let options = pb::RunOptions {
        kind: pb::RunKind::Simulation.into(),
        simulation: Some(pb::RunSimulationRequest {
            paths: 200_000,
            seed: 1,
            // Every path the projection: the test needs only long items.
            allow_deterministic: true,
            ..Default::default()
        }),
        ..Default::default()
    };
    let ids = vec![id; 5];
    let job = c.submit(list(&ids), options).await.unwrap();
    let cancelled = c
        .jobs
        .cancel_job(pb::CancelJobRequest { id: job.id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cancelled.state(), pb::JobState::Cancelled);
    let last = c.watch(&job.id).await.pop().unwrap();
    assert_eq!(last.state(), pb::JobState::Cancelled);
    assert_eq!(
        last.succeeded_items + last.cancelled_items + last.failed_items,
        5
    );
    assert!(last.cancelled_items >= 4, "{last:?}");
    // Cancelling again changes nothing.
    let again = c
        .jobs
        .cancel_job(pb::CancelJobRequest { id: job.id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.cancelled_items, last.cancelled_items);
}

#[tokio::test]
async fn failed_items_say_why_and_the_job_goes_on() {
    let server = TestServer::start().await;
    let mut c = clients(&server).await;
    let fits = c.save("h100-sxm").await;
    // A 405B model in BF16 does not fit one L4 (and TP is pinned to 1).
    let mut big = scenario("l4");
    let host = big.self_host.as_mut().unwrap();
    host.model_id = "llama-3.1-405b".into();
    host.tensor_parallel = 1;
    let too_big = c
        .scenarios
        .create_scenario(pb::CreateScenarioRequest {
            name: "too big".into(),
            scenario: Some(big),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .id;
    let job = c
        .submit(list(&[too_big, fits]), projection())
        .await
        .unwrap();
    let last = c.watch(&job.id).await.pop().unwrap();
    assert_eq!(last.state(), pb::JobState::Done);
    assert_eq!((last.succeeded_items, last.failed_items), (1, 1));
    assert_eq!(last.items[0].state(), pb::JobItemState::Failed);
    assert!(
        last.items[0].error.contains("GB"),
        "{}",
        last.items[0].error
    );
    assert!(last.items[0].run_id.is_empty());
}

#[tokio::test]
async fn bad_submissions_name_the_field() {
    let server = TestServer::start().await;
    let mut c = clients(&server).await;
    let id = c.save("h100-sxm").await;
    let check = |err: tonic::Status, code: Code, field: &str| {
        assert_eq!(err.code(), code, "{err:?}");
        if code == Code::InvalidArgument {
            let fields: Vec<String> = err
                .get_details_bad_request()
                .unwrap()
                .field_violations
                .into_iter()
                .map(|v| v.field)
                .collect();
            assert_eq!(fields, [field], "{err:?}");
        }
    };
    let err = c.submit(list(&[]), projection()).await.unwrap_err();
    check(err, Code::InvalidArgument, "scenarios.ids");
    let err = c
        .submit(list(&vec![id.clone(); 1001]), projection())
        .await
        .unwrap_err();
    check(err, Code::InvalidArgument, "scenarios.ids");
    let err = c
        .submit(list(std::slice::from_ref(&id)), pb::RunOptions::default())
        .await
        .unwrap_err();
    check(err, Code::InvalidArgument, "options.kind");
    let err = c
        .submit(list(&["scn_0000000000000000".into()]), projection())
        .await
        .unwrap_err();
    check(err, Code::NotFound, "");
    let err = c
        .jobs
        .get_job(pb::GetJobRequest {
            id: "job_0000000000000000".into(),
        })
        .await
        .unwrap_err();
    check(err, Code::NotFound, "");
    let listed = c
        .jobs
        .list_jobs(pb::ListJobsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.total_size, 0, "nothing was stored");
}

/// A batch of simulations in which nothing is random is refused whole, and
/// no job is kept.
#[tokio::test]
async fn a_batch_with_nothing_random_is_refused_at_submission() {
    let server = TestServer::start().await;
    let mut c = clients(&server).await;
    let id = c.save("h100-sxm").await;
    let options = pb::RunOptions {
        kind: pb::RunKind::Simulation.into(),
        simulation: Some(pb::RunSimulationRequest {
            paths: 1_000,
            seed: 1,
            ..Default::default()
        }),
        ..Default::default()
    };
    let status = c.submit(list(&[id]), options).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("allow_deterministic"),
        "{status:?}"
    );
    let jobs = c
        .jobs
        .list_jobs(pb::ListJobsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(jobs.jobs.is_empty(), "{jobs:?}");
}
