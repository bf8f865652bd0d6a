//! `breakeven.v1.RunService`: runs of saved scenarios, kept with the inputs
//! that reproduce them; listing, comparison, replay and export (CSV or
//! an Excel workbook).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use prost::Message as _;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::convert::required;
use super::execute::{self, Kind};
use super::pb;
use super::scenarios::{decode, next_token, rfc3339, visible_scenario, window};
use super::simulate::{CancelOnDrop, SimulationSlots};
use super::tenant::{caller, filter, visible};
use crate::catalog::LiveCatalog;
use crate::error::{Error, Result};
use crate::estimator::calibrate::Calibrations;
use crate::montecarlo::ENGINE_VERSION;
use crate::store::{RunQuery, Store, StoredRun};

/// Most runs one CompareRuns puts beside the baseline.
pub const MAX_COMPARED: usize = 20;
/// Rows per streamed CSV chunk.
const CSV_ROWS_PER_CHUNK: usize = 64;
/// Bytes per streamed workbook chunk: well under gRPC's 4 MiB message limit.
const XLSX_BYTES_PER_CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct RunApi {
    store: Store,
    catalog: Arc<LiveCatalog>,
    calibrations: Arc<Calibrations>,
    slots: Arc<SimulationSlots>,
}

impl RunApi {
    /// Simulation runs take a slot from `slots`, shared with
    /// SimulationService.
    pub fn new(
        store: Store,
        catalog: Arc<LiveCatalog>,
        calibrations: Arc<Calibrations>,
        slots: Arc<SimulationSlots>,
    ) -> Self {
        Self {
            store,
            catalog,
            calibrations,
            slots,
        }
    }
}

impl RunApi {
    /// Runs a saved scenario for `caller` and keeps the run (RunScenario);
    /// `progress` hears how a simulation advances. The work stops if the
    /// returned future is dropped.
    pub async fn run(
        &self,
        caller: Option<&str>,
        r: pb::RunScenarioRequest,
        mut progress: impl FnMut(crate::montecarlo::Progress) + Send + 'static,
    ) -> Result<pb::Run> {
        let id = required("scenario_id", &r.scenario_id)?;
        let options = r.options.unwrap_or_default();
        let kind = execute::check_options(Some(&options), "options.")?;
        let (scenario, revision, team) = scenario_at(&self.store, id, r.revision, caller).await?;
        // The scenario's team's catalogue: its imported prices apply.
        let catalog = self.catalog.for_team(&team);
        let inputs = execute::prepare(&catalog, &self.calibrations, scenario, options)?;
        // A simulation holds one of the shared slots; the work stops when
        // the caller goes away.
        let permit = match kind {
            Kind::Simulation => Some(self.slots.acquire()?),
            _ => None,
        };
        let cancel = Arc::new(AtomicBool::new(false));
        let _guard = CancelOnDrop(Arc::clone(&cancel));
        let (inputs, output) = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            execute::compute_watched(&inputs, &cancel, &mut progress).map(|o| (inputs, o))
        })
        .await
        .map_err(|e| Error::Internal(format!("run worker failed: {e}")))??;
        let run = stored_run(id, revision, &team, kind, &inputs, &output)?;
        let run = self.store.insert_run(run).await?;
        run_pb(run, true)
    }

    /// The HTML report of a kept run (with its inputs), recomputed from
    /// them ([`super::report_of`]); a simulation run holds one of the
    /// shared slots while it runs again.
    pub async fn report(&self, run: pb::Run) -> Result<crate::report::Report> {
        let permit = match run.kind() {
            pb::RunKind::Simulation => Some(self.slots.acquire()?),
            _ => None,
        };
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            super::report_of(&run)
        })
        .await
        .map_err(|e| Error::Internal(format!("report worker failed: {e}")))?
    }

    /// The kept run `id` if the caller may see it; NOT_FOUND otherwise.
    async fn visible_run(&self, id: &str, caller: Option<&str>) -> Result<StoredRun> {
        let run = self.store.get_run(id).await?;
        if visible(&run.team, caller) {
            Ok(run)
        } else {
            Err(crate::store::runs::run_not_found(id))
        }
    }
}

/// The scenario body of a saved scenario at `revision` (0 for current),
/// with the revision number and team.
pub(super) async fn scenario_at(
    store: &Store,
    id: &str,
    revision: u32,
    caller: Option<&str>,
) -> Result<(pb::Scenario, u32, String)> {
    let current = visible_scenario(store, id, caller).await?;
    if revision == 0 || revision == current.revision {
        return Ok((decode(id, &current.body)?, current.revision, current.team));
    }
    if revision > current.revision {
        return Err(Error::NotFound(format!(
            "scenario {id} has no revision {revision} (latest is {})",
            current.revision
        )));
    }
    let page = store
        .revisions(id, u64::from(current.revision - revision), 1)
        .await?;
    let r = page
        .items
        .into_iter()
        .find(|r| r.revision == revision)
        .ok_or_else(|| Error::NotFound(format!("scenario {id} has no revision {revision}")))?;
    Ok((decode(id, &r.body)?, r.revision, r.team))
}

/// A kept run with its inputs and outputs, as the wire shows it.
pub(super) fn run_pb(run: StoredRun, full: bool) -> Result<pb::Run> {
    let corrupt = |what: &str, e: prost::DecodeError| {
        Error::Internal(format!("stored run {} {what} do not decode: {e}", run.id))
    };
    let key_figures = pb::KeyFigures::decode(run.key_figures.as_slice())
        .map_err(|e| corrupt("key figures", e))?;
    let (inputs, output) = if full {
        (
            Some(pb::RunInputs::decode(run.inputs.as_slice()).map_err(|e| corrupt("inputs", e))?),
            Some(pb::RunOutput::decode(run.output.as_slice()).map_err(|e| corrupt("outputs", e))?),
        )
    } else {
        (None, None)
    };
    Ok(pb::Run {
        kind: Kind::parse(&run.kind)
            .map_or(pb::RunKind::Unspecified, Kind::to_pb)
            .into(),
        create_time: rfc3339(run.created_at),
        job_id: run.job_id.unwrap_or_default(),
        key_figures: Some(key_figures),
        inputs,
        output,
        id: run.id,
        scenario_id: run.scenario_id,
        scenario_revision: run.scenario_revision,
        team: run.team,
        engine_version: run.engine_version,
        catalog_version: run.catalog_version,
    })
}

/// The row to keep for a run computed from `inputs`.
pub(super) fn stored_run(
    scenario_id: &str,
    scenario_revision: u32,
    team: &str,
    kind: Kind,
    inputs: &pb::RunInputs,
    output: &pb::RunOutput,
) -> Result<StoredRun> {
    let basis = inputs.options.as_ref().map_or(0, |o| o.basis);
    Ok(StoredRun {
        id: String::new(),
        scenario_id: scenario_id.to_string(),
        scenario_revision,
        team: team.to_string(),
        kind: kind.name().to_string(),
        created_at: 0,
        job_id: None,
        engine_version: ENGINE_VERSION.to_string(),
        catalog_version: execute::catalog_of(inputs)?.version(),
        key_figures: execute::key_figures(output, basis).encode_to_vec(),
        inputs: inputs.encode_to_vec(),
        output: output.encode_to_vec(),
    })
}

type ExportStream =
    Pin<Box<dyn Stream<Item = std::result::Result<pb::ExportRunChunk, Status>> + Send>>;

#[tonic::async_trait]
impl pb::run_service_server::RunService for RunApi {
    type ExportRunStream = ExportStream;

    async fn run_scenario(
        &self,
        request: Request<pb::RunScenarioRequest>,
    ) -> Result<Response<pb::Run>, Status> {
        let caller = caller(&request);
        let run = self
            .run(caller.as_deref(), request.into_inner(), |_| {})
            .await?;
        Ok(Response::new(run))
    }

    async fn get_run(
        &self,
        request: Request<pb::GetRunRequest>,
    ) -> Result<Response<pb::Run>, Status> {
        let id = required("id", &request.get_ref().id)?;
        let run = self.visible_run(id, caller(&request).as_deref()).await?;
        Ok(Response::new(run_pb(run, true)?))
    }

    async fn list_runs(
        &self,
        request: Request<pb::ListRunsRequest>,
    ) -> Result<Response<pb::ListRunsResponse>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        let team = filter("team", "", caller.as_deref())?;
        let kind = match r.kind {
            0 => String::new(),
            k => Kind::from_pb(k, "kind")?.name().to_string(),
        };
        let filters = ["ListRuns", &r.scenario_id, &r.job_id, &kind];
        let (offset, limit) = window(r.page_size, &r.page_token, &filters)?;
        let page = self
            .store
            .list_runs(RunQuery {
                scenario_id: r.scenario_id.clone(),
                job_id: r.job_id.clone(),
                kind: kind.clone(),
                team,
                offset,
                limit,
            })
            .await?;
        let next_page_token = next_token(offset, page.items.len(), page.total, &filters);
        Ok(Response::new(pb::ListRunsResponse {
            runs: page
                .items
                .into_iter()
                .map(|run| run_pb(run, false))
                .collect::<Result<_>>()?,
            next_page_token,
            total_size: i32::try_from(page.total).unwrap_or(i32::MAX),
        }))
    }

    async fn compare_runs(
        &self,
        request: Request<pb::CompareRunsRequest>,
    ) -> Result<Response<pb::CompareRunsResponse>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        let baseline_id = required("baseline_id", &r.baseline_id)?;
        if r.other_ids.is_empty() || r.other_ids.len() > MAX_COMPARED {
            return Err(Error::invalid(
                "other_ids",
                format!(
                    "give 1 to {MAX_COMPARED} runs to compare, got {}",
                    r.other_ids.len()
                ),
            )
            .into());
        }
        let baseline = run_pb(
            self.visible_run(baseline_id, caller.as_deref()).await?,
            true,
        )?;
        let mut others = Vec::with_capacity(r.other_ids.len());
        for (i, id) in r.other_ids.iter().enumerate() {
            let id = required(&format!("other_ids[{i}]"), id)?;
            others.push(run_pb(
                self.visible_run(id, caller.as_deref()).await?,
                true,
            )?);
        }
        Ok(Response::new(super::compare_runs::compare(
            baseline, others,
        )?))
    }

    async fn replay_run(
        &self,
        request: Request<pb::ReplayRunRequest>,
    ) -> Result<Response<pb::ReplayRunResponse>, Status> {
        let id = required("id", &request.get_ref().id)?;
        let stored = self.visible_run(id, caller(&request).as_deref()).await?;
        let inputs = pb::RunInputs::decode(stored.inputs.as_slice())
            .map_err(|e| Error::Internal(format!("stored run {id} inputs do not decode: {e}")))?;
        let kind = execute::check_options(inputs.options.as_ref(), "options.")?;
        let permit = match kind {
            Kind::Simulation => Some(self.slots.acquire()?),
            _ => None,
        };
        let cancel = Arc::new(AtomicBool::new(false));
        let _guard = CancelOnDrop(Arc::clone(&cancel));
        let output = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            execute::compute(&inputs, &cancel)
        })
        .await
        .map_err(|e| Error::Internal(format!("run worker failed: {e}")))??;
        let identical = output.encode_to_vec() == stored.output;
        Ok(Response::new(pb::ReplayRunResponse {
            identical,
            engine_version: ENGINE_VERSION.to_string(),
            explanation: replay_explanation(identical, &stored.engine_version),
            stored_engine_version: stored.engine_version,
            output: Some(output),
        }))
    }

    async fn export_run(
        &self,
        request: Request<pb::ExportRunRequest>,
    ) -> Result<Response<Self::ExportRunStream>, Status> {
        let caller = caller(&request);
        let r = request.into_inner();
        let id = required("id", &r.id)?;
        let table = pb::ExportTable::try_from(r.table)
            .map_err(|_| Error::invalid("table", format!("{} is not an export table", r.table)))?;
        let format = pb::ExportFormat::try_from(r.format).map_err(|_| {
            Error::invalid(
                "format",
                format!("{} is not an export format; use CSV or XLSX", r.format),
            )
        })?;
        let run = run_pb(self.visible_run(id, caller.as_deref()).await?, true)?;
        let chunks = match format {
            pb::ExportFormat::Unspecified | pb::ExportFormat::Csv => {
                super::export::csv_chunks(&run, table, CSV_ROWS_PER_CHUNK)?
            }
            // Building a workbook works the CPU (a 240-month run, a few
            // tens of milliseconds): off the async workers.
            pb::ExportFormat::Xlsx => tokio::task::spawn_blocking(move || {
                let bytes = super::workbook::xlsx(&run)?;
                Ok::<_, Error>(
                    bytes
                        .chunks(XLSX_BYTES_PER_CHUNK)
                        .map(<[u8]>::to_vec)
                        .collect(),
                )
            })
            .await
            .map_err(|e| Error::Internal(format!("workbook worker failed: {e}")))??,
        };
        let stream = tokio_stream::iter(
            chunks
                .into_iter()
                .map(|data| Ok(pb::ExportRunChunk { data })),
        );
        Ok(Response::new(Box::pin(stream)))
    }
}

/// What a replay's comparison means, for a run computed by `stored`.
fn replay_explanation(identical: bool, stored: &str) -> String {
    match (identical, stored == ENGINE_VERSION) {
        (true, true) => format!("identical: recomputed by the same engine, {ENGINE_VERSION}"),
        (true, false) => format!(
            "identical, although the run was computed by engine {stored} and recomputed by {ENGINE_VERSION}"
        ),
        (false, true) => format!(
            "differs: recomputed by the same engine, {ENGINE_VERSION}, from the run's kept inputs and catalogue files"
        ),
        (false, false) => format!(
            "differs: the run was computed by engine {stored}; this server runs {ENGINE_VERSION}, whose numbers differ on purpose (see \"Engine versions\" in README.md)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_explains_itself_in_words() {
        assert!(
            replay_explanation(true, ENGINE_VERSION)
                .starts_with("identical: recomputed by the same engine")
        );
        let older = replay_explanation(false, "breakeven-mc/1");
        assert!(
            older.contains("computed by engine breakeven-mc/1"),
            "{older}"
        );
        assert!(
            older.contains(&format!("this server runs {ENGINE_VERSION}")),
            "{older}"
        );
        let same = replay_explanation(false, ENGINE_VERSION);
        assert!(same.contains("same engine"), "{same}");
    }
}
