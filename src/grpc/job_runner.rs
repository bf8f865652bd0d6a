//! Runs the items of batch jobs in the background, a few at a time.
//!
//! The runner asks the store for pending items, runs each like
//! RunScenario would, and records its outcome and run in one transaction.
//! Nothing about an item is held only in memory: after a crash or a
//! restart the items still pending are simply picked up again, and an item
//! whose outcome was committed is never run twice (the store refuses to
//! finish an item that is no longer pending).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prost::Message as _;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use super::execute;
use super::pb;
use super::runs::stored_run;
use crate::catalog::LiveCatalog;
use crate::error::Error;
use crate::estimator::calibrate::Calibrations;
use crate::store::jobs::item_run_id;
use crate::store::{ItemResult, PendingItem, Store};

/// How long the runner waits before asking an unavailable store again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The background runner of batch jobs; shared by JobService.
#[derive(Debug)]
pub struct JobRunner {
    store: Store,
    catalog: Arc<LiveCatalog>,
    calibrations: Arc<Calibrations>,
    workers: usize,
    wake: Notify,
    /// Bumped whenever a job changes, for WatchJob.
    changed: watch::Sender<u64>,
    /// The items running in this process and their stop flags.
    running: Mutex<HashMap<(String, u32), Arc<AtomicBool>>>,
    /// Set once the server begins to shut down.
    stopping: watch::Sender<bool>,
}

impl JobRunner {
    /// A runner of at most `workers` items at once (at least one).
    pub fn new(
        store: Store,
        catalog: Arc<LiveCatalog>,
        calibrations: Arc<Calibrations>,
        workers: usize,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            catalog,
            calibrations,
            workers: workers.max(1),
            wake: Notify::new(),
            changed: watch::channel(0).0,
            running: Mutex::new(HashMap::new()),
            stopping: watch::channel(false).0,
        })
    }

    /// Stops the runner: running items stop and stay pending, watchers
    /// get a final status.
    pub fn begin_shutdown(&self) {
        self.stopping.send_replace(true);
    }

    /// A receiver that turns true when the server begins to shut down.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    /// Tells the runner that new items may be waiting.
    pub fn wake(&self) {
        self.wake.notify_one();
        self.bump();
    }

    /// A receiver that sees a new value whenever some job changed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Stops the items of `job_id` running in this process.
    pub fn cancel(&self, job_id: &str) {
        for ((job, _), flag) in self.running().iter() {
            if job == job_id {
                flag.store(true, Ordering::Relaxed);
            }
        }
        self.bump();
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<(String, u32), Arc<AtomicBool>>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs items until [`JobRunner::begin_shutdown`]. Items still running
    /// then are stopped and stay pending, to run again at the next start.
    pub async fn run(self: Arc<Self>) {
        let mut stopping = self.stopping();
        let shutdown = async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        };
        tokio::pin!(shutdown);
        let mut tasks = JoinSet::new();
        loop {
            let free = self.workers.saturating_sub(tasks.len());
            let mut retry = false;
            if free > 0 {
                let skip: Vec<(String, u32)> = self.running().keys().cloned().collect();
                match self.store.pending_items(free as u32, skip).await {
                    Ok(items) => {
                        for item in items {
                            let flag = Arc::new(AtomicBool::new(false));
                            self.running()
                                .insert((item.job_id.clone(), item.index), Arc::clone(&flag));
                            tasks.spawn(Arc::clone(&self).run_item(item, flag));
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read pending job items; retrying");
                        retry = true;
                    }
                }
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = self.wake.notified() => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                () = tokio::time::sleep(RETRY_AFTER), if retry => {}
            }
        }
        for flag in self.running().values() {
            flag.store(true, Ordering::Relaxed);
        }
        // Let the stopped items return so that none writes after shutdown.
        while tasks.join_next().await.is_some() {}
    }

    async fn run_item(self: Arc<Self>, item: PendingItem, stop: Arc<AtomicBool>) {
        let key = (item.job_id.clone(), item.index);
        let outcome = self.compute(&item, Arc::clone(&stop)).await;
        let result = match outcome {
            Ok(run) => Some(ItemResult::Succeeded(Box::new(run))),
            // Stopped by CancelJob (the item is already marked) or by
            // shutdown (it stays pending): record nothing.
            Err(Error::Cancelled(_)) if stop.load(Ordering::Relaxed) => None,
            Err(Error::Internal(detail)) => {
                tracing::error!(job = %item.job_id, item = item.index, %detail, "job item failed");
                Some(ItemResult::Failed("internal error".into()))
            }
            Err(e) => Some(ItemResult::Failed(e.to_string())),
        };
        if let Some(result) = result {
            // A store that is busy for a moment gets a few more tries; if it
            // stays unavailable the item stays pending and runs again.
            for attempt in 1..=5 {
                match self
                    .store
                    .finish_item(&item.job_id, item.index, result.clone())
                    .await
                {
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(job = %item.job_id, item = item.index, attempt, error = %e,
                            "cannot record a job item");
                        tokio::time::sleep(RETRY_AFTER).await;
                    }
                }
            }
        }
        self.running().remove(&key);
        self.bump();
    }

    /// Prepares and computes an item's run, as RunScenario would.
    async fn compute(
        &self,
        item: &PendingItem,
        stop: Arc<AtomicBool>,
    ) -> crate::error::Result<crate::store::StoredRun> {
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
