//! Runs the items of batch jobs in the background, a few at a time, on
//! every replica.
//!
//! The runner claims pending items from the store under a lease
//! ([`crate::store::Lease`]), runs each through [`ItemWork`], and records
//! its outcome and run in one transaction that only commits while the item
//! is still pending under the attempt that ran it. A heartbeat extends the
//! leases every third of their time to live; a lease the heartbeat did not
//! extend was lost (the job was cancelled, or the lease ran out and another
//! replica took the item), and the item stops. Nothing about an item is
//! held only in memory: after a crash its lease runs out and another
//! replica, or this one restarted, takes it over; a clean shutdown releases
//! the leases at once.

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::error::{Error, Result};
use crate::store::{ItemResult, Lease, LeaseKey, PendingItem, Store, StoredRun};

/// How long the runner waits before asking an unavailable store again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Computes an item's run. A stop flag set while it runs asks it to return
/// [`Error::Cancelled`] soon.
pub trait ItemWork: Send + Sync + 'static {
    fn run(
        &self,
        item: PendingItem,
        stop: Arc<AtomicBool>,
    ) -> Pin<Box<dyn Future<Output = Result<StoredRun>> + Send + 'static>>;
}

/// Settings of a runner.
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// Items run at once (at least one).
    pub workers: usize,
    /// The lease each claim takes; its owner names this runner.
    pub lease: Lease,
    /// How often a runner on a shared database looks for new items that
    /// other replicas submitted (with up to as much again of jitter).
    pub poll: Duration,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        Self {
            workers: 1,
            lease: Lease::new(),
            poll: Duration::from_millis(500),
        }
    }
}

/// An item running here: its attempt and stop flag.
#[derive(Debug)]
struct Running {
    attempt: u32,
    stop: Arc<AtomicBool>,
}

/// The background runner of batch jobs; shared by JobService.
pub struct JobRunner {
    store: Store,
    work: Arc<dyn ItemWork>,
    options: RunnerOptions,
    wake: Notify,
    /// Bumped whenever a job may have changed, for WatchJob.
    changed: watch::Sender<u64>,
    /// The items running in this process, by job and position.
    running: Mutex<HashMap<(String, u32), Running>>,
    /// Set once the server begins to shut down.
    stopping: watch::Sender<bool>,
}

impl std::fmt::Debug for JobRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobRunner")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl JobRunner {
    pub fn new(store: Store, work: Arc<dyn ItemWork>, mut options: RunnerOptions) -> Arc<Self> {
        options.workers = options.workers.max(1);
        Arc::new(Self {
            store,
            work,
            options,
            wake: Notify::new(),
            changed: watch::channel(0).0,
            running: Mutex::new(HashMap::new()),
            stopping: watch::channel(false).0,
        })
    }

    /// Who this runner's leases name.
    pub fn owner(&self) -> &str {
        &self.options.lease.owner
    }

    /// Stops the runner: running items stop and their leases are
    /// released, watchers get a final status.
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

    /// A receiver that sees a new value whenever some job may have
    /// changed: here, or (on a shared database) at each poll.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Stops the items of `job_id` running in this process; other
    /// replicas stop theirs at their next heartbeat.
    pub fn cancel(&self, job_id: &str) {
        for ((job, _), running) in self.running().iter() {
            if job == job_id {
                running.stop.store(true, Ordering::Relaxed);
            }
        }
        self.bump();
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<(String, u32), Running>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next poll: the interval plus up to as much again, so replicas
    /// started together do not poll in step.
    fn poll_delay(&self) -> Duration {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(crate::store::now_ms() as u64);
        let fraction = (hasher.finish() % 1000) as u32;
        self.options.poll + self.options.poll * fraction / 1000
    }

    /// Runs items until [`JobRunner::begin_shutdown`]. Items still running
    /// then are stopped and their leases released, so that another
    /// replica, or the next start, takes them at once.
    pub async fn run(self: Arc<Self>) {
        let shared = self.store.shared();
        if !shared {
            // One server per file: any lease left in it belonged to a
            // process that is gone (fencing keeps this safe regardless).
            if let Err(e) = self.store.release_leases(None).await {
                tracing::warn!(error = %e, "cannot release leases left by an earlier start");
            }
        }
        let heartbeat = tokio::spawn(Arc::clone(&self).heartbeat());
        let mut stopping = self.stopping();
        let shutdown = async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        };
        tokio::pin!(shutdown);
        let mut tasks = JoinSet::new();
        loop {
            let free = self.options.workers.saturating_sub(tasks.len());
            let mut retry = false;
            if free > 0 {
                match self
                    .store
                    .claim_items(self.options.lease.clone(), free as u32)
                    .await
                {
                    Ok(items) => {
                        for item in items {
                            let stop = Arc::new(AtomicBool::new(false));
                            self.running().insert(
                                (item.job_id.clone(), item.index),
                                Running {
                                    attempt: item.attempt,
                                    stop: Arc::clone(&stop),
                                },
                            );
                            tasks.spawn(Arc::clone(&self).run_item(item, stop));
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot claim job items; retrying");
                        retry = true;
                    }
                }
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = self.wake.notified() => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                () = tokio::time::sleep(RETRY_AFTER), if retry => {}
                () = tokio::time::sleep(self.poll_delay()), if shared && !retry => {
                    // Items may have finished on other replicas.
                    self.bump();
                }
            }
        }
        for running in self.running().values() {
            running.stop.store(true, Ordering::Relaxed);
        }
        // Let the stopped items return so that none writes after shutdown.
        while tasks.join_next().await.is_some() {}
        heartbeat.abort();
        match self
            .store
            .release_leases(Some(self.owner().to_string()))
            .await
        {
            Ok(0) => {}
            Ok(released) => tracing::info!(released, "job item leases released"),
            Err(e) => tracing::warn!(error = %e,
                "cannot release job item leases; other replicas take the items when they run out"),
        }
    }

    /// Extends the leases of the items running here every third of their
    /// time to live; stops the items whose lease was lost.
    async fn heartbeat(self: Arc<Self>) {
        let every = (self.options.lease.ttl / 3).max(Duration::from_millis(50));
        loop {
            tokio::time::sleep(every).await;
            let held: Vec<LeaseKey> = self
                .running()
                .iter()
                .map(|((job_id, index), r)| LeaseKey {
                    job_id: job_id.clone(),
                    index: *index,
                    attempt: r.attempt,
                })
                .collect();
            if held.is_empty() {
                continue;
            }
            match self
                .store
                .heartbeat(self.options.lease.clone(), held.clone())
                .await
            {
                Ok(kept) => {
                    let running = self.running();
                    for key in held.iter().filter(|k| !kept.contains(k)) {
                        if let Some(r) = running.get(&(key.job_id.clone(), key.index))
                            && r.attempt == key.attempt
                            && !r.stop.swap(true, Ordering::Relaxed)
                        {
                            tracing::warn!(job = %key.job_id, item = key.index,
                                attempt = key.attempt,
                                "job item lease lost (cancelled, or taken over); stopping it");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot extend job item leases"),
            }
        }
    }

    async fn run_item(self: Arc<Self>, item: PendingItem, stop: Arc<AtomicBool>) {
        let key = item.key();
        let outcome = self.work.run(item, Arc::clone(&stop)).await;
        let result = match outcome {
            Ok(run) => Some(ItemResult::Succeeded(Box::new(run))),
            // Stopped by CancelJob (the item is already marked), by a lost
            // lease (another attempt holds it) or by shutdown (it stays
            // pending): record nothing.
            Err(Error::Cancelled(_)) if stop.load(Ordering::Relaxed) => None,
            Err(Error::Internal(detail)) => {
                tracing::error!(job = %key.job_id, item = key.index, %detail, "job item failed");
                Some(ItemResult::Failed("internal error".into()))
            }
            Err(e) => Some(ItemResult::Failed(e.to_string())),
        };
        if let Some(result) = result {
            // A store that is out of reach for a moment gets a few more
            // tries; if it stays so, the lease runs out and the item runs
            // again under its next attempt.
            for attempt in 1..=5 {
                match self.store.finish_item(key.clone(), result.clone()).await {
                    Ok(true) => break,
                    Ok(false) => {
                        tracing::warn!(job = %key.job_id, item = key.index,
                            attempt = key.attempt,
                            "job item result refused: its lease was lost; nothing recorded");
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(job = %key.job_id, item = key.index, attempt, error = %e,
                            "cannot record a job item");
                        tokio::time::sleep(RETRY_AFTER).await;
                    }
                }
            }
        }
        {
            let mut running = self.running();
            let slot = (key.job_id.clone(), key.index);
            // The same item may run here again under a later attempt.
            if running.get(&slot).is_some_and(|r| r.attempt == key.attempt) {
                running.remove(&slot);
            }
        }
        self.bump();
    }
}
