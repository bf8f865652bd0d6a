//! Large simulations spread across the replicas of a shared database.
//!
//! The replica that takes the call ([`Splitter`]) cuts the run into slices
//! of whole chunks, stores them as leased tasks and waits, reporting
//! progress as slices finish; every replica's [`SliceRunner`] (its own
//! included) claims slices, computes them and stores their parts, fenced
//! on the attempt like job items. When none is left, the coordinator reads
//! the parts in order and the caller merges them
//! ([`crate::montecarlo::split::merge`]): the same bytes as the run on one
//! machine. A call that is cancelled or goes away deletes its run, and the
//! slices running elsewhere stop at their next heartbeat.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};

use crate::error::{Error, Result};
use crate::montecarlo::{CHUNK, ENGINE_VERSION, split};
use crate::store::{Lease, Store};

/// How long a split run lives without its coordinator asking after it.
const COORDINATOR_TTL: Duration = Duration::from_secs(10);
/// How often the coordinator looks at its run.
const STATUS_EVERY: Duration = Duration::from_millis(100);

/// Computes a slice of the run its inputs describe. Blocks; a stop flag
/// set meanwhile asks it to return [`Error::Cancelled`] soon.
pub trait SliceWork: Send + Sync + 'static {
    fn run(
        &self,
        inputs: &[u8],
        first_chunk: u64,
        chunks: u64,
        stop: &AtomicBool,
    ) -> Result<Vec<u8>>;
}

/// Claims and computes slices of split runs, one at a time (a slice uses
/// every core).
pub struct SliceRunner {
    store: Store,
    work: Arc<dyn SliceWork>,
    lease: Lease,
    poll: Duration,
    wake: Notify,
    stopping: watch::Sender<bool>,
}

impl std::fmt::Debug for SliceRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SliceRunner")
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl SliceRunner {
    pub fn new(store: Store, work: Arc<dyn SliceWork>, lease: Lease, poll: Duration) -> Arc<Self> {
        Arc::new(Self {
            store,
            work,
            lease,
            poll,
            wake: Notify::new(),
            stopping: watch::channel(false).0,
        })
    }

    /// Tells the runner that slices may be waiting.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops the runner; a slice running is stopped and its lease released.
    pub fn begin_shutdown(&self) {
        self.stopping.send_replace(true);
    }

    pub async fn run(self: Arc<Self>) {
        let mut stopping = self.stopping.subscribe();
        loop {
            let stop = *stopping.borrow();
            if stop {
                // The slice that was running has stopped: let another
                // replica take it at once.
                match self.store.release_slice_leases(&self.lease.owner).await {
                    Ok(0) => {}
                    Ok(released) => tracing::info!(released, "simulation slice leases released"),
                    Err(e) => tracing::warn!(error = %e,
                        "cannot release simulation slice leases; they run out instead"),
                }
                return;
            }
            let wait = match self
                .store
                .claim_slice(self.lease.clone(), ENGINE_VERSION)
                .await
            {
                Ok(Some(slice)) => {
                    self.work_on(slice).await;
                    continue;
                }
                Ok(None) => self.poll,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim simulation slices; retrying");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                _ = stopping.wait_for(|s| *s) => {}
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Computes one slice, heartbeating its lease, and stores its part.
    async fn work_on(&self, slice: crate::store::sims::ClaimedSlice) {
        let stop = Arc::new(AtomicBool::new(false));
        let key = slice.key.clone();
        let work = Arc::clone(&self.work);
        let flag = Arc::clone(&stop);
        let mut compute = tokio::task::spawn_blocking(move || {
            work.run(&slice.inputs, slice.first_chunk, slice.chunks, &flag)
        });
        let every = (self.lease.ttl / 3).max(Duration::from_millis(50));
        let mut last_beat = Instant::now();
        let outcome = loop {
            tokio::select! {
                done = &mut compute => break done,
                () = tokio::time::sleep(every.min(Duration::from_millis(250))) => {}
            }
            let stopping = *self.stopping.borrow();
            if stopping {
                stop.store(true, Ordering::Relaxed);
            }
            if last_beat.elapsed() < every {
                continue;
            }
            last_beat = Instant::now();
            match self
                .store
                .heartbeat_slices(self.lease.clone(), vec![key.clone()])
                .await
            {
                Ok(kept) if kept.is_empty() => {
                    if !stop.swap(true, Ordering::Relaxed) {
                        tracing::warn!(run = %key.job_id, slice = key.index,
                            "simulation slice lease lost (run ended, or taken over); stopping it");
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot extend a simulation slice lease"),
            }
        };
        let part = match outcome {
            Ok(Ok(part)) => part,
            Ok(Err(Error::Cancelled(_))) if stop.load(Ordering::Relaxed) => return,
            Ok(Err(e)) => {
                tracing::error!(run = %key.job_id, slice = key.index, error = %e,
                    "simulation slice failed; it runs again when its lease runs out");
                return;
            }
            Err(e) => {
                tracing::error!(run = %key.job_id, slice = key.index, error = %e,
                    "simulation slice worker failed");
                return;
            }
        };
        for attempt in 1..=5 {
            match self.store.finish_slice(key.clone(), part.clone()).await {
                Ok(true) => return,
                Ok(false) => {
                    tracing::warn!(run = %key.job_id, slice = key.index,
                        "simulation slice result refused: its lease was lost");
                    return;
                }
                Err(e) => {
                    tracing::warn!(run = %key.job_id, slice = key.index, attempt, error = %e,
                        "cannot store a simulation slice");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

/// Decides which simulations to split and coordinates them.
#[derive(Debug)]
pub struct Splitter {
    store: Store,
    runner: Arc<SliceRunner>,
    /// Paths × months from which a run is split.
    threshold: u64,
    /// Chunks in one slice.
    per_slice: u64,
    handle: tokio::runtime::Handle,
}

/// Deletes a split run when its coordinator is done with it, however it
/// ends.
struct EndOnDrop {
    store: Store,
    id: String,
    handle: tokio::runtime::Handle,
}

impl Drop for EndOnDrop {
    fn drop(&mut self) {
        let (store, id) = (self.store.clone(), std::mem::take(&mut self.id));
        self.handle.spawn(async move {
            if let Err(e) = store.end_sim_run(&id).await {
                tracing::warn!(run = %id, error = %e,
                    "cannot delete a split simulation; it is swept once its coordinator lapses");
            }
        });
    }
}

impl Splitter {
    /// Must be made inside the runtime that serves.
    pub fn new(store: Store, runner: Arc<SliceRunner>, threshold: u64, per_slice: u64) -> Self {
        Self {
            store,
            runner,
            threshold,
            per_slice: per_slice.max(1),
            handle: tokio::runtime::Handle::current(),
        }
    }

    /// Whether a run of `paths` × `months` is split: at or above the
    /// threshold, and into at least two slices.
    pub fn wants(&self, paths: u64, months: usize) -> bool {
        paths.saturating_mul(months as u64) >= self.threshold
            && paths.div_ceil(CHUNK) > self.per_slice
    }

    /// Runs the simulation `inputs` describe across the replicas and
    /// returns its slices' parts in order. Blocks: call it on the blocking
    /// pool. `progress` hears the paths done as slices finish (on this
    /// thread, outside any runtime, so it may block); `cancel` stops the
    /// run everywhere.
    pub fn run_blocking(
        &self,
        inputs: Vec<u8>,
        paths: u64,
        cancel: &AtomicBool,
        mut progress: impl FnMut(u64),
    ) -> Result<Vec<Vec<u8>>> {
        let block = |work| self.handle.block_on(work);
        let slices = split::slices(paths, self.per_slice);
        let count = slices.len();
        let id = self.handle.block_on(self.store.create_sim_run(
            ENGINE_VERSION,
            inputs,
            slices,
            COORDINATOR_TTL,
        ))?;
        tracing::info!(run = %id, slices = count, paths, "simulation split across replicas");
        let _end = EndOnDrop {
            store: self.store.clone(),
            id: id.clone(),
            handle: self.handle.clone(),
        };
        self.runner.wake();
        let mut reported = None;
        let mut failing_since: Option<Instant> = None;
        loop {
            if cancel.load(Ordering::Relaxed) {
                return Err(Error::Cancelled("simulation cancelled".into()));
            }
            match block(self.store.sim_run_status(&id, COORDINATOR_TTL)) {
                Ok(status) => {
                    failing_since = None;
                    if !status.error.is_empty() {
                        return Err(Error::Internal(format!(
                            "split simulation {id} failed: {}",
                            status.error
                        )));
                    }
                    let done = (status.done_chunks * CHUNK).min(paths);
                    if reported != Some(done) {
                        progress(done);
                        reported = Some(done);
                    }
                    if status.remaining == 0 {
                        return self.handle.block_on(self.store.sim_run_parts(&id));
                    }
                }
                // The database away for a moment: the run outlives it.
                Err(Error::Unavailable(why)) => {
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > COORDINATOR_TTL / 2 {
                        return Err(Error::Unavailable(why));
                    }
                }
                Err(e) => return Err(e),
            }
            std::thread::sleep(STATUS_EVERY);
        }
    }
}
