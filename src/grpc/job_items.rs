//! What background work computes, for the work engine: a batch item (its
//! stored scenario and the job's options, decoded from their wire form,
//! run as RunScenario would run them), and a slice of a simulation split
//! across replicas (from the run's inputs alone).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use prost::Message as _;

use super::execute;
use super::pb;
use super::runs::stored_run;
use crate::catalog::LiveCatalog;
use crate::engine::{ItemWork, SliceWork};
use crate::error::{Error, Result};
use crate::estimator::calibrate::Calibrations;
use crate::store::jobs::item_run_id;
use crate::store::{PendingItem, StoredRun};

/// Runs job items against the live catalogue (the job's team's view) and
/// the kept calibrations.
#[derive(Debug)]
pub struct ItemExecutor {
    catalog: Arc<LiveCatalog>,
    calibrations: Arc<Calibrations>,
}

impl ItemExecutor {
    pub fn new(catalog: Arc<LiveCatalog>, calibrations: Arc<Calibrations>) -> Arc<Self> {
        Arc::new(Self {
            catalog,
            calibrations,
        })
    }

    /// Prepares and computes an item's run, as RunScenario would.
    async fn compute(&self, item: PendingItem, stop: Arc<AtomicBool>) -> Result<StoredRun> {
        let decode = |what: &str, e: prost::DecodeError| {
            Error::Internal(format!(
                "job {} item {} {what} does not decode: {e}",
                item.job_id, item.index
            ))
        };
        let scenario =
            pb::Scenario::decode(item.scenario.as_slice()).map_err(|e| decode("scenario", e))?;
        let options =
            pb::RunOptions::decode(item.options.as_slice()).map_err(|e| decode("options", e))?;
        let kind = execute::check_options(Some(&options), "options.")?;
        // The job's team's catalogue: its imported prices apply.
        let catalog = self.catalog.for_team(&item.team);
        let inputs = execute::prepare(&catalog, &self.calibrations, scenario, options)?;
        let (inputs, output) = tokio::task::spawn_blocking(move || {
            execute::compute(&inputs, &stop).map(|o| (inputs, o))
        })
        .await
        .map_err(|e| Error::Internal(format!("job worker failed: {e}")))??;
        let mut run = stored_run(
            &item.scenario_id,
            item.scenario_revision,
            &item.team,
            kind,
            &inputs,
            &output,
        )?;
        run.id = item_run_id(&item.job_id, item.index);
        run.job_id = Some(item.job_id.clone());
        Ok(run)
    }
}

impl ItemWork for ItemExecutor {
    fn run(
        &self,
        item: PendingItem,
        stop: Arc<AtomicBool>,
    ) -> Pin<Box<dyn Future<Output = Result<StoredRun>> + Send + 'static>> {
        let this = Self {
            catalog: Arc::clone(&self.catalog),
            calibrations: Arc::clone(&self.calibrations),
        };
        Box::pin(async move { this.compute(item, stop).await })
    }
}

/// Computes slices of split simulations from their stored inputs.
#[derive(Debug, Default)]
pub struct SliceExecutor;

impl SliceWork for SliceExecutor {
    fn run(
        &self,
        inputs: &[u8],
        first_chunk: u64,
        chunks: u64,
        stop: &AtomicBool,
    ) -> Result<Vec<u8>> {
        let inputs = pb::RunInputs::decode(inputs)
            .map_err(|e| Error::Internal(format!("split simulation inputs do not decode: {e}")))?;
        let request = execute::simulation_of(&inputs)?;
        super::simulate::slice(&request, first_chunk, chunks, stop)
    }
}
