//! `breakeven job …`: batches of saved-scenario runs the server works
//! through in the background: submitted, watched, listed, shown and
//! cancelled.
//!
//! A job belongs to the server, not to the command that submitted it:
//! Ctrl-C while watching stops only the watching, and says how to follow
//! or cancel the job afterwards.

use std::io::IsTerminal as _;
use std::time::Duration;

use clap::{ArgGroup, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use tonic::Status;

use super::exit::Failure;
use super::output::{Cell, Format, Output, Record, Report, Table, num, text};
use super::run::RunFlags;
use super::{Global, connect};
use crate::grpc::pb;
use crate::grpc::pb::job_service_client::JobServiceClient;

/// Entries asked for per page: the most the API gives.
const PAGE_SIZE: i32 = 500;

/// Sweep inputs that take numbers; the others take text (ids, precision
/// names). The server checks the input names themselves.
const NUMERIC_INPUTS: [&str; 2] = ["workload.annual_growth", "workload.requests_per_day"];

// Parsed once per invocation: the submit variant's size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run saved scenarios, or every combination of a sweep, in the
    /// background.
    Submit(SubmitArgs),
    /// Follow a job until it finishes; Ctrl-C stops watching, not the job.
    Watch {
        /// The job id, job_….
        id: String,
    },
    /// List jobs, newest first.
    List,
    /// Show a job and each of its items.
    Show {
        /// The job id, job_….
        id: String,
    },
    /// Cancel a job: items not yet run are skipped, finished runs are kept.
    Cancel {
        /// The job id, job_….
        id: String,
    },
}

#[derive(Debug, clap::Args)]
#[command(group(ArgGroup::new("items").required(true).args(["scenarios", "sweep"])))]
pub struct SubmitArgs {
    /// Run these saved scenarios, one item each; repeat the flag or list
    /// several ids after it.
    #[arg(long = "scenario", value_name = "ID", num_args = 1..)]
    scenarios: Vec<String>,
    /// Run this saved scenario over every combination of the --axis values.
    #[arg(long, value_name = "ID", requires = "axes")]
    sweep: Option<String>,
    /// INPUT=V1,V2,…: the values to try for one input of the sweep; repeat
    /// for up to four axes. Inputs: self_host.gpu_id, self_host.model_id,
    /// self_host.precision, api.price_id, workload.annual_growth,
    /// workload.requests_per_day.
    #[arg(long = "axis", value_name = "INPUT=VALUES", requires = "sweep")]
    axes: Vec<String>,
    /// A name shown in listings.
    #[arg(long)]
    name: Option<String>,
    /// Follow the job until it finishes, as `job watch` does.
    #[arg(long)]
    watch: bool,
    #[command(flatten)]
    run: RunFlags,
}

impl SubmitArgs {
    fn request(&self) -> Result<pb::SubmitBatchRequest, Failure> {
        let items = match &self.sweep {
            Some(scenario_id) => pb::submit_batch_request::Items::Sweep(pb::Sweep {
                scenario_id: scenario_id.clone(),
                axes: self
                    .axes
                    .iter()
                    .map(|a| axis(a))
                    .collect::<Result<_, _>>()?,
            }),
            None => pb::submit_batch_request::Items::Scenarios(pb::ScenarioList {
                ids: self.scenarios.clone(),
            }),
        };
        Ok(pb::SubmitBatchRequest {
            name: self.name.clone().unwrap_or_default(),
            options: Some(self.run.options()?),
            items: Some(items),
        })
    }
}

/// One `--axis INPUT=V1,V2,…`.
fn axis(spec: &str) -> Result<pb::SweepAxis, Failure> {
    let usage = |why: String| {
        Failure::Usage(format!(
            "--axis {spec:?}: {why}; write INPUT=V1,V2,…, e.g. self_host.gpu_id=h100-sxm,h200"
        ))
    };
    let (input, values) = spec.split_once('=').ok_or_else(|| usage("no '='".into()))?;
    let input = input.trim();
    let values: Vec<&str> = values
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    if input.is_empty() || values.is_empty() {
        return Err(usage("needs an input and at least one value".into()));
    }
    let mut axis = pb::SweepAxis {
        input: input.to_string(),
        ..Default::default()
    };
    if NUMERIC_INPUTS.contains(&input) {
        for v in values {
            let number = v
                .replace('_', "")
                .parse::<f64>()
                .map_err(|_| usage(format!("{v:?} is not a number")))?;
            axis.number_values.push(number);
        }
    } else {
        axis.text_values = values.into_iter().map(String::from).collect();
    }
    Ok(axis)
}

pub async fn run(global: &Global, out: Output, command: Command) -> Result<(), Failure> {
    match command {
        Command::Submit(args) => {
            let request = args.request()?;
            let mut client = JobServiceClient::new(connect(global).await?);
            let job = client.submit_batch(request).await?.into_inner();
            if !args.watch {
                if out.format == Format::Table {
                    eprintln!(
                        "follow it with `breakeven job watch {}`; it runs whether or not it is watched",
                        job.id
                    );
                }
                return out.show(&job, || job_report(&job));
            }
            if out.format == Format::Table {
                eprintln!("submitted {} ({} items)", job.id, job.total_items);
            }
            let job = watch(&mut client, &job.id).await?;
            out.show(&job, || job_report(&job))
        }
        Command::Watch { id } => {
            let mut client = JobServiceClient::new(connect(global).await?);
            let job = watch(&mut client, &id).await?;
            out.show(&job, || job_report(&job))
        }
        Command::List => {
            let mut client = JobServiceClient::new(connect(global).await?);
            let mut all = pb::ListJobsResponse::default();
            loop {
                let page = client
                    .list_jobs(pb::ListJobsRequest {
                        page_size: PAGE_SIZE,
                        page_token: all.next_page_token.clone(),
                    })
                    .await?
                    .into_inner();
                all.jobs.extend(page.jobs);
                all.total_size = page.total_size;
                all.next_page_token = page.next_page_token;
                if all.next_page_token.is_empty() {
                    break;
                }
            }
            out.show(&all, || {
                let mut report = Report::new();
                report.table(list_table(&all.jobs));
                report
            })
        }
        Command::Show { id } => {
            let mut client = JobServiceClient::new(connect(global).await?);
            let job = client.get_job(pb::GetJobRequest { id }).await?.into_inner();
            out.show(&job, || job_report(&job))
        }
        Command::Cancel { id } => {
            let mut client = JobServiceClient::new(connect(global).await?);
            let job = client
                .cancel_job(pb::CancelJobRequest { id })
                .await?
                .into_inner();
            out.show(&job, || job_report(&job))
        }
    }
}

/// Follows the job's states until it finishes and gives the last one.
/// Ctrl-C drops the stream; the job carries on on the server.
async fn watch(
    client: &mut JobServiceClient<super::Connection>,
    id: &str,
) -> Result<pb::Job, Failure> {
    let mut progress = Progress::new();
    let work = async {
        let mut stream = client
            .watch_job(pb::WatchJobRequest { id: id.to_string() })
            .await?
            .into_inner();
        let mut last = None;
        while let Some(job) = stream.message().await? {
            progress.update(&job);
            last = Some(job);
        }
        match last {
            Some(job) if job.state != i32::from(pb::JobState::Running) => Ok(job),
            _ => Err(Failure::Status(Status::unavailable(format!(
                "the server ended the watch before {id} finished; \
                 `breakeven job watch {id}` follows it again"
            )))),
        }
    };
    let result = tokio::select! {
        biased;
        Ok(()) = tokio::signal::ctrl_c() => Err(Failure::Detached(format!(
            "stopped watching; {id} goes on on the server \
             (`breakeven job watch {id}` follows it again, \
             `breakeven job cancel {id}` stops it)"
        ))),
        result = work => result,
    };
    progress.finish();
    result
}

/// Items finished (succeeded, failed or skipped) out of all.
fn done(job: &pb::Job) -> u32 {
    job.succeeded_items + job.failed_items + job.cancelled_items
}

/// Progress on standard error: a bar of items on a terminal, a plain line
/// per change otherwise (logs, pipes, tests).
struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    fn new() -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = ProgressBar::new(0);
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} items, ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar: Some(bar) }
    }

    fn update(&mut self, job: &pb::Job) {
        let outcome = format!(
            "{} succeeded, {} failed, {} cancelled",
            job.succeeded_items, job.failed_items, job.cancelled_items
        );
        match &self.bar {
            Some(bar) => {
                bar.set_length(u64::from(job.total_items));
                bar.set_position(u64::from(done(job)));
                bar.set_message(outcome);
            }
            None => eprintln!(
                "progress: {} of {} items ({outcome}), {}",
                done(job),
                job.total_items,
                state_name(job.state)
            ),
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

fn state_name(value: i32) -> &'static str {
    match pb::JobState::try_from(value) {
        Ok(pb::JobState::Running) => "running",
        Ok(pb::JobState::Done) => "done",
        Ok(pb::JobState::Cancelled) => "cancelled",
        Ok(pb::JobState::Unspecified) | Err(_) => "",
    }
}

fn item_state_name(value: i32) -> &'static str {
    match pb::JobItemState::try_from(value) {
        Ok(pb::JobItemState::Pending) => "pending",
        Ok(pb::JobItemState::Succeeded) => "succeeded",
        Ok(pb::JobItemState::Failed) => "failed",
        Ok(pb::JobItemState::Cancelled) => "cancelled",
        Ok(pb::JobItemState::Unspecified) | Err(_) => "",
    }
}

/// A job's state and counts, then its items (the CSV) when it has them.
fn job_report(job: &pb::Job) -> Report {
    let mut record = Record::new();
    record
        .add("id", "job", Cell::text(&job.id))
        .add("name", "name", Cell::text(&job.name))
        .add("team", "team", Cell::text(&job.team))
        .add("state", "state", Cell::text(state_name(job.state)))
        .add("total_items", "items", Cell::count(job.total_items))
        .add(
            "succeeded_items",
            "succeeded",
            Cell::count(job.succeeded_items),
        )
        .add("failed_items", "failed", Cell::count(job.failed_items))
        .add(
            "cancelled_items",
            "cancelled",
            Cell::count(job.cancelled_items),
        )
        .add("create_time", "submitted", Cell::text(&job.create_time))
        .add("update_time", "updated", Cell::text(&job.update_time));
    let mut report = Report::new();
    report.record(record);
    if !job.items.is_empty() {
        let mut items = Table::new(vec![
            num("index", "index"),
            text("label", "label"),
            text("state", "state"),
            text("run_id", "run"),
            text("error", "error"),
        ]);
        for item in &job.items {
            items.push(vec![
                Cell::count(item.index),
                Cell::text(&item.label),
                Cell::text(item_state_name(item.state)),
                Cell::text(&item.run_id),
                Cell::text(&item.error),
            ]);
        }
        report.table(items);
    }
    report
}

fn list_table(jobs: &[pb::Job]) -> Table {
    let mut table = Table::new(vec![
        text("id", "id"),
        text("name", "name"),
        text("team", "team"),
        text("state", "state"),
        num("total_items", "items"),
        num("succeeded_items", "succeeded"),
        num("failed_items", "failed"),
        num("cancelled_items", "cancelled"),
        text("create_time", "submitted"),
        text("update_time", "updated"),
    ]);
    for j in jobs {
        table.push(vec![
            Cell::text(&j.id),
            Cell::text(&j.name),
            Cell::text(&j.team),
            Cell::text(state_name(j.state)),
            Cell::count(j.total_items),
            Cell::count(j.succeeded_items),
            Cell::count(j.failed_items),
            Cell::count(j.cancelled_items),
            Cell::text(&j.create_time),
            Cell::text(&j.update_time),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_take_text_or_numbers_by_input() {
        let gpus = axis("self_host.gpu_id=h100-sxm, h200").unwrap();
        assert_eq!(gpus.input, "self_host.gpu_id");
        assert_eq!(gpus.text_values, ["h100-sxm", "h200"]);
        assert!(gpus.number_values.is_empty());

        let growth = axis("workload.annual_growth=0,0.5,1_000").unwrap();
        assert_eq!(growth.number_values, [0.0, 0.5, 1000.0]);
        assert!(growth.text_values.is_empty());

        for bad in [
            "self_host.gpu_id",
            "=h100-sxm",
            "self_host.gpu_id=",
            "workload.requests_per_day=lots",
        ] {
            let err = axis(bad).unwrap_err();
            assert_eq!(err.code(), super::super::exit::USAGE, "{bad}");
        }
    }
}
