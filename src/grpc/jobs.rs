//! `breakeven.v1.JobService`: batch jobs over saved scenarios, stored with
//! their items and run in the background by [`JobRunner`].

use std::sync::Arc;

use prost::Message as _;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::convert::required;
use super::execute;
use super::pb;
use super::runs::scenario_at;
use super::scenarios::{next_token, rfc3339, window};
use super::tenant::{caller, filter, visible};
use crate::catalog::{Catalog, LiveCatalog, Precision};
use crate::engine::JobRunner;
use crate::error::{Error, FieldViolation, Result};
use crate::store::jobs::MAX_ITEMS;
use crate::store::{ItemState, NewItem, NewJob, Store, StoredJob};

/// Most axes in one sweep.
pub const MAX_AXES: usize = 4;
/// Most unfinished jobs the server holds; more are RESOURCE_EXHAUSTED.
pub const MAX_OPEN_JOBS: u32 = 32;

#[derive(Debug, Clone)]
pub struct JobApi {
    store: Store,
    catalog: Arc<LiveCatalog>,
    runner: Arc<JobRunner>,
}

impl JobApi {
    pub fn new(store: Store, catalog: Arc<LiveCatalog>, runner: Arc<JobRunner>) -> Self {
        Self {
            store,
            catalog,
            runner,
        }
    }

    /// The items of a submission, each with the scenario it will run.
    async fn items(
        &self,
        items: Option<&pb::submit_batch_request::Items>,
        caller: Option<&str>,
    ) -> Result<Vec<NewItem>> {
        use pb::submit_batch_request::Items;
        match items {
            None => Err(Error::invalid("items", "give scenarios or a sweep")),
            Some(Items::Scenarios(list)) => {
                check_count("scenarios.ids", list.ids.len())?;
                let mut items = Vec::with_capacity(list.ids.len());
                for (i, id) in list.ids.iter().enumerate() {
                    let id = required(&format!("scenarios.ids[{i}]"), id)?;
                    let (scenario, revision, _) = scenario_at(&self.store, id, 0, caller).await?;
                    items.push(NewItem {
                        label: id.to_string(),
                        scenario_id: id.to_string(),
                        scenario_revision: revision,
                        scenario: scenario.encode_to_vec(),
                    });
                }
                Ok(items)
            }
            Some(Items::Sweep(sweep)) => {
                let id = required("sweep.scenario_id", &sweep.scenario_id)?;
                let axes = axes(&self.catalog.get(), &sweep.axes)?;
                let (base, revision, _) = scenario_at(&self.store, id, 0, caller).await?;
                Ok(grid(&axes)
                    .into_iter()
                    .map(|values| {
                        let mut scenario = base.clone();
                        let mut label = id.to_string();
                        for (axis, value) in axes.iter().zip(values) {
                            axis.input.apply(&mut scenario, &value);
                            label.push_str(&format!(" {}={value}", axis.input.name()));
                        }
                        NewItem {
                            label,
                            scenario_id: id.to_string(),
                            scenario_revision: revision,
                            scenario: scenario.encode_to_vec(),
                        }
                    })
                    .collect())
            }
        }
    }
}

impl JobApi {
    /// The job `id` with its items if the caller may see it; NOT_FOUND
    /// otherwise.
    async fn visible_job(&self, id: &str, caller: Option<&str>) -> Result<StoredJob> {
        let job = self.store.get_job(id, true).await?;
        if visible(&job.team, caller) {
            Ok(job)
        } else {
            Err(crate::store::jobs::job_not_found(id))
        }
    }
}

fn check_count(field: &str, n: usize) -> Result<()> {
    if n == 0 || n > MAX_ITEMS {
        return Err(Error::invalid(
            field,
            format!("a batch holds 1 to {MAX_ITEMS} items, got {n}"),
        ));
    }
    Ok(())
}

/// A sweepable input of a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    Gpu,
    Model,
    Precision,
    ApiPrice,
    AnnualGrowth,
    RequestsPerDay,
}

const INPUTS: [Input; 6] = [
    Input::Gpu,
    Input::Model,
    Input::Precision,
    Input::ApiPrice,
    Input::AnnualGrowth,
    Input::RequestsPerDay,
];

impl Input {
    fn name(self) -> &'static str {
        match self {
            Input::Gpu => "self_host.gpu_id",
            Input::Model => "self_host.model_id",
            Input::Precision => "self_host.precision",
            Input::ApiPrice => "api.price_id",
            Input::AnnualGrowth => "workload.annual_growth",
            Input::RequestsPerDay => "workload.requests_per_day",
        }
    }

    fn numeric(self) -> bool {
        matches!(self, Input::AnnualGrowth | Input::RequestsPerDay)
    }

    fn apply(self, s: &mut pb::Scenario, value: &Value) {
        let host = s.self_host.get_or_insert_with(Default::default);
        match (self, value) {
            (Input::Gpu, Value::Text(v)) => host.gpu_id = v.clone(),
            (Input::Model, Value::Text(v)) => host.model_id = v.clone(),
            (Input::Precision, Value::Precision(p)) => host.precision = *p,
            (Input::ApiPrice, Value::Text(v)) => {
                s.api.get_or_insert_with(Default::default).price_id = v.clone();
            }
            (Input::AnnualGrowth, Value::Number(v)) => {
                s.workload
                    .get_or_insert_with(Default::default)
                    .annual_growth = Some(*v);
            }
            (Input::RequestsPerDay, Value::Number(v)) => {
                s.workload
                    .get_or_insert_with(Default::default)
                    .requests_per_day = *v;
            }
            _ => unreachable!("axes() pairs each input with values of its type"),
        }
    }
}

/// One value on a sweep axis.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Text(String),
    Number(f64),
    /// A `breakeven.v1.Precision` value, with its name for labels.
    Precision(i32),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Text(t) => f.write_str(t),
            Value::Number(n) => write!(f, "{n}"),
            Value::Precision(p) => {
                let name = pb::Precision::try_from(*p)
                    .ok()
                    .and_then(|p| super::convert::precision_or("", p.into(), Precision::Bf16).ok());
                f.write_str(name.map_or("?", Precision::name))
            }
        }
    }
}

#[derive(Debug)]
struct Axis {
    input: Input,
    values: Vec<Value>,
}

/// Checks every axis and value, naming each bad one, and the grid's size.
fn axes(catalog: &Catalog, given: &[pb::SweepAxis]) -> Result<Vec<Axis>> {
    if given.is_empty() || given.len() > MAX_AXES {
        return Err(Error::invalid(
            "sweep.axes",
            format!("give 1 to {MAX_AXES} axes, got {}", given.len()),
        ));
    }
    let mut bad = Vec::new();
    let mut axes = Vec::new();
    for (i, a) in given.iter().enumerate() {
        let field = format!("sweep.axes[{i}]");
        let Some(input) = INPUTS.into_iter().find(|n| n.name() == a.input) else {
            let names: Vec<_> = INPUTS.iter().map(|n| n.name()).collect();
            bad.push(FieldViolation::new(
                format!("{field}.input"),
                format!("{:?} is not one of {}", a.input, names.join(", ")),
            ));
            continue;
        };
        if axes.iter().any(|x: &Axis| x.input == input) {
            bad.push(FieldViolation::new(
                format!("{field}.input"),
                format!("{} is swept twice", input.name()),
            ));
        }
        let (values_field, count) = if input.numeric() {
            ("number_values", a.number_values.len())
        } else {
            ("text_values", a.text_values.len())
        };
        if count == 0 {
            bad.push(FieldViolation::new(
                format!("{field}.{values_field}"),
                format!("{} needs at least one value here", input.name()),
            ));
        }
        let mut values = Vec::new();
        for (j, v) in a.text_values.iter().enumerate() {
            let at = format!("{field}.text_values[{j}]");
            let known = match input {
                Input::Gpu => catalog.gpu(v).map(|_| Value::Text(v.clone())),
                Input::Model => catalog.model(v).map(|_| Value::Text(v.clone())),
                Input::ApiPrice => {
                    if catalog.prices().ids().any(|id| id == v) {
                        Ok(Value::Text(v.clone()))
                    } else {
                        Err(Error::NotFound(format!("api price {v:?} not found")))
                    }
                }
                Input::Precision => Precision::parse(v)
                    .map(|p| Value::Precision(pb::Precision::from(p).into()))
                    .ok_or_else(|| {
                        Error::invalid(&at, format!("{v:?} is not a precision such as fp8"))
                    }),
                Input::AnnualGrowth | Input::RequestsPerDay => Err(Error::invalid(
                    &at,
                    format!("{} takes number_values", input.name()),
                )),
            };
            match known {
                Ok(value) => values.push(value),
                Err(e) => bad.push(FieldViolation::new(at, e.to_string())),
            }
        }
        for (j, &v) in a.number_values.iter().enumerate() {
            let at = format!("{field}.number_values[{j}]");
            let problem = match input {
                Input::AnnualGrowth if !(v.is_finite() && v > -1.0 && v <= 100.0) => {
                    Some("must be a finite growth rate above -1 and at most 100")
                }
                Input::RequestsPerDay if !(v.is_finite() && v > 0.0) => {
                    Some("must be a positive finite number")
                }
                Input::AnnualGrowth | Input::RequestsPerDay => None,
                _ => Some("this input takes text_values"),
            };
            match problem {
                Some(p) => bad.push(FieldViolation::new(at, format!("{p}, got {v}"))),
                None => values.push(Value::Number(v)),
            }
        }
        axes.push(Axis { input, values });
    }
    if !bad.is_empty() {
        return Err(Error::InvalidArgument(bad));
    }
    let size = axes
        .iter()
        .try_fold(1usize, |n, a| n.checked_mul(a.values.len()))
        .unwrap_or(usize::MAX);
    check_count("sweep.axes", size)?;
    Ok(axes)
}

/// Every combination of the axes' values, the last axis varying fastest.
fn grid(axes: &[Axis]) -> Vec<Vec<Value>> {
    axes.iter().fold(vec![Vec::new()], |combos, axis| {
        combos
            .iter()
            .flat_map(|c| {
                axis.values.iter().map(move |v| {
                    let mut next = c.clone();
                    next.push(v.clone());
                    next
                })
            })
            .collect()
    })
}

fn job_pb(job: StoredJob) -> pb::Job {
    let state = if job.cancelled {
        pb::JobState::Cancelled
    } else if job.finished() {
        pb::JobState::Done
    } else {
        pb::JobState::Running
    };
    pb::Job {
        state: state.into(),
        total_items: job.total,
        succeeded_items: job.succeeded,
        failed_items: job.failed,
        cancelled_items: job.cancelled_items,
        create_time: rfc3339(job.created_at),
        update_time: rfc3339(job.updated_at),
        items: job
            .items
            .into_iter()
            .map(|i| pb::JobItem {
                index: i.index,
                label: i.label,
                state: match i.state {
                    ItemState::Pending => pb::JobItemState::Pending,
                    ItemState::Succeeded => pb::JobItemState::Succeeded,
                    ItemState::Failed => pb::JobItemState::Failed,
                    ItemState::Cancelled => pb::JobItemState::Cancelled,
                }
                .into(),
                run_id: i.run_id.unwrap_or_default(),
                error: i.error,
            })
            .collect(),
        id: job.id,
        name: job.name,
        team: job.team,
    }
}

#[tonic::async_trait]
impl pb::job_service_server::JobService for JobApi {
    type WatchJobStream = ReceiverStream<std::result::Result<pb::Job, Status>>;

    async fn submit_batch(
        &self,
        request: Request<pb::SubmitBatchRequest>,
    ) -> Result<Response<pb::Job>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        let options = r.options.unwrap_or_default();
        // A batch that could only fail item by item is refused whole.
        execute::check_new_options(&options, "options.")?;
        let items = self.items(r.items.as_ref(), caller.as_deref()).await?;
        let open = self.store.open_jobs().await?;
        if open >= MAX_OPEN_JOBS {
            return Err(Error::ResourceExhausted(format!(
                "{open} jobs are still running; submit again when one finishes \
                 (at most {MAX_OPEN_JOBS})"
            ))
            .into());
        }
        let team = match (&caller, items.first()) {
            (Some(team), _) => team.clone(),
            (None, Some(first)) => self.store.get(&first.scenario_id).await?.team,
            (None, None) => String::new(),
        };
        let job = self
            .store
            .create_job(NewJob {
                name: r.name,
                team,
                options: options.encode_to_vec(),
                items,
            })
            .await?;
        self.runner.wake();
        Ok(Response::new(job_pb(job)))
    }

    async fn get_job(
        &self,
        request: Request<pb::GetJobRequest>,
    ) -> Result<Response<pb::Job>, Status> {
        let id = required("id", &request.get_ref().id)?;
        let job = self.visible_job(id, caller(&request).as_deref()).await?;
        Ok(Response::new(job_pb(job)))
    }

    async fn list_jobs(
        &self,
        request: Request<pb::ListJobsRequest>,
    ) -> Result<Response<pb::ListJobsResponse>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        let team = filter("team", "", caller.as_deref())?;
        let filters = ["ListJobs", &team];
        let (offset, limit) = window(r.page_size, &r.page_token, &filters)?;
        let page = self.store.list_jobs(&team, offset, limit).await?;
        let next_page_token = next_token(offset, page.items.len(), page.total, &filters);
        Ok(Response::new(pb::ListJobsResponse {
            jobs: page.items.into_iter().map(job_pb).collect(),
            next_page_token,
            total_size: i32::try_from(page.total).unwrap_or(i32::MAX),
        }))
    }

    async fn cancel_job(
        &self,
        request: Request<pb::CancelJobRequest>,
    ) -> Result<Response<pb::Job>, Status> {
        let id = required("id", &request.get_ref().id)?;
        self.visible_job(id, caller(&request).as_deref()).await?;
        let job = self.store.cancel_job(id).await?;
        self.runner.cancel(id);
        Ok(Response::new(job_pb(job)))
    }

    async fn watch_job(
        &self,
        request: Request<pb::WatchJobRequest>,
    ) -> Result<Response<Self::WatchJobStream>, Status> {
        let caller = caller(&request);
        let id = required("id", &request.get_ref().id)?.to_string();
        // Subscribe before the first read, so no change falls in between.
        let mut changed = self.runner.subscribe();
        let first = self.visible_job(&id, caller.as_deref()).await?;
        let (tx, rx) = mpsc::channel(8);
        let store = self.store.clone();
        let mut stopping = self.runner.stopping();
        tokio::spawn(async move {
            let mut job = first;
            let mut last = None;
            loop {
                let finished = job.finished();
                let message = job_pb(job);
                if last.as_ref() != Some(&message) {
                    if tx.send(Ok(message.clone())).await.is_err() {
                        return;
                    }
                    last = Some(message);
                }
                if finished {
                    return;
                }
                tokio::select! {
                    () = tx.closed() => return,
                    result = changed.changed() => if result.is_err() { return },
                    _ = async { stopping.wait_for(|stop| *stop).await.map(|_| ()) } => {
                        let _ = tx
                            .send(Err(Status::unavailable(
                                "the server is shutting down; the job resumes when it \
                                 starts again, watch it then",
                            )))
                            .await;
                        return;
                    }
                }
                job = match store.get_job(&id, true).await {
                    Ok(job) => job,
                    Err(e) => {
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                };
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(input: &str, text: &[&str], numbers: &[f64]) -> pb::SweepAxis {
        pb::SweepAxis {
            input: input.into(),
            text_values: text.iter().map(|s| s.to_string()).collect(),
            number_values: numbers.to_vec(),
        }
    }

    #[test]
    fn a_grid_holds_every_combination_in_order() {
        let catalog = Catalog::embedded().unwrap();
        let axes = axes(
            &catalog,
            &[
                axis("self_host.gpu_id", &["h100-sxm", "h200"], &[]),
                axis("workload.annual_growth", &[], &[0.0, 0.5, 1.0]),
            ],
        )
        .unwrap();
        let grid = grid(&axes);
        assert_eq!(grid.len(), 6);
        assert_eq!(
            grid[0],
            [Value::Text("h100-sxm".into()), Value::Number(0.0)]
        );
        assert_eq!(grid[5], [Value::Text("h200".into()), Value::Number(1.0)]);
    }

    #[test]
    fn bad_axes_name_each_field() {
        let catalog = Catalog::embedded().unwrap();
        let Err(Error::InvalidArgument(v)) = axes(
            &catalog,
            &[
                axis("self_host.gpu_id", &["h100-sxm", "tpu-v9"], &[]),
                axis("workload.annual_growth", &[], &[f64::NAN]),
                axis("colour", &[], &[]),
                axis("self_host.precision", &["fp3"], &[]),
            ],
        ) else {
            panic!("accepted");
        };
        let fields: Vec<_> = v.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "sweep.axes[0].text_values[1]",
                "sweep.axes[1].number_values[0]",
                "sweep.axes[2].input",
                "sweep.axes[3].text_values[0]",
            ]
        );
    }

    #[test]
    fn oversized_grids_are_refused() {
        let catalog = Catalog::embedded().unwrap();
        let many: Vec<f64> = (1..=40).map(f64::from).collect();
        let err = axes(
            &catalog,
            &[
                axis("workload.requests_per_day", &[], &many),
                axis("workload.annual_growth", &[], &many),
            ],
        )
        .unwrap_err();
        assert!(err.to_string().contains("1600"), "{err}");
    }
}
