//! Persistent storage of saved scenarios: the only module with SQL.
//!
//! Handlers see one type, [`Store`], whose methods are async and run the
//! database work on tokio's blocking pool, so no query ever holds an async
//! worker. Behind it sits a [`Backend`]: synchronous, plain Rust values in
//! and out. [`sqlite::Sqlite`] keeps everything in one file for one
//! server; [`postgres::Postgres`] in a PostgreSQL database that several
//! replicas share. Both keep the same rules, checked by one test suite
//! (`conformance`).
//!
//! The store treats a scenario's body as opaque bytes (the encoded protobuf
//! the gRPC edge hands it); it knows names, teams, tags, revisions and
//! times, and checks their limits itself so that every backend keeps the
//! same rules.

#[cfg(test)]
mod conformance;
pub mod copy;
pub mod custom;
pub mod jobs;
pub mod postgres;
pub mod runs;
pub mod sims;
pub mod sqlite;
#[doc(hidden)]
pub mod testdb;

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, FieldViolation, Result};

pub use custom::{CustomEntry, ImportedPrice};
pub use jobs::{
    ItemResult, ItemState, Lease, LeaseKey, NewItem, NewJob, PendingItem, StoredItem, StoredJob,
};
pub use postgres::{Postgres, PostgresOptions};
pub use runs::{RunQuery, StoredRun};
pub use sqlite::{Sqlite, SqliteOptions};

/// Longest scenario name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest team name, in characters.
pub const MAX_TEAM_CHARS: usize = 64;
/// Most tags on one scenario.
pub const MAX_TAGS: usize = 20;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 64;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;

/// The current revision of a saved scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredScenario {
    /// `scn_` and 16 hex digits, assigned on creation.
    pub id: String,
    pub name: String,
    /// Empty for none.
    pub team: String,
    /// In the order given.
    pub tags: Vec<String>,
    pub description: String,
    /// 1 on creation, one more on every update.
    pub revision: u32,
    /// Unix milliseconds, UTC.
    pub created_at: i64,
    /// When the current revision was saved; unix milliseconds, UTC.
    pub updated_at: i64,
    /// When the scenario last ran; unix milliseconds, UTC.
    pub last_run_at: Option<i64>,
    /// The encoded scenario, opaque to the store.
    pub body: Vec<u8>,
}

impl StoredScenario {
    /// An opaque tag that changes with every revision; clients send it back
    /// to make an edit conditional on nobody having saved in between.
    pub fn etag(&self) -> String {
        etag(&self.id, self.revision, self.updated_at)
    }
}

/// One saved revision, current or earlier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    pub scenario_id: String,
    pub revision: u32,
    pub name: String,
    pub team: String,
    pub tags: Vec<String>,
    pub description: String,
    /// When this revision was saved; unix milliseconds, UTC.
    pub created_at: i64,
    pub body: Vec<u8>,
}

/// What a client sends to save a scenario, or to replace its fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScenarioFields {
    pub name: String,
    pub team: String,
    pub tags: Vec<String>,
    pub description: String,
    pub body: Vec<u8>,
}

impl ScenarioFields {
    /// Checks the limits every backend keeps, naming each bad field.
    pub fn validate(&self) -> Result<()> {
        let mut bad = Vec::new();
        let chars = |s: &str| s.chars().count();
        if self.name.trim().is_empty() {
            bad.push(FieldViolation::new("name", "is required"));
        } else if chars(&self.name) > MAX_NAME_CHARS {
            bad.push(FieldViolation::new(
                "name",
                format!("must be at most {MAX_NAME_CHARS} characters"),
            ));
        }
        if chars(&self.team) > MAX_TEAM_CHARS {
            bad.push(FieldViolation::new(
                "team",
                format!("must be at most {MAX_TEAM_CHARS} characters"),
            ));
        }
        if self.tags.len() > MAX_TAGS {
            bad.push(FieldViolation::new(
                "tags",
                format!("at most {MAX_TAGS} tags, got {}", self.tags.len()),
            ));
        }
        let mut seen = HashSet::new();
        for (i, tag) in self.tags.iter().enumerate() {
            let field = format!("tags[{i}]");
            if tag.trim().is_empty() {
                bad.push(FieldViolation::new(field, "must not be empty"));
            } else if chars(tag) > MAX_TAG_CHARS {
                bad.push(FieldViolation::new(
                    field,
                    format!("must be at most {MAX_TAG_CHARS} characters"),
                ));
            } else if !seen.insert(tag.as_str()) {
                bad.push(FieldViolation::new(field, format!("repeats {tag:?}")));
            }
        }
        if chars(&self.description) > MAX_DESCRIPTION_CHARS {
            bad.push(FieldViolation::new(
                "description",
                format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
            ));
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidArgument(bad))
        }
    }
}

/// What an edit expects the current revision to be; `None` skips a check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    pub etag: Option<String>,
    pub revision: Option<u32>,
}

impl Expected {
    /// ABORTED unless `current` is the revision the client read.
    pub fn check(&self, current: &StoredScenario) -> Result<()> {
        let stale = |what: String| {
            Error::Aborted(format!(
                "scenario {} changed since it was read ({what}, now revision {}); \
                 read it again and retry",
                current.id, current.revision
            ))
        };
        if let Some(etag) = &self.etag
            && *etag != current.etag()
        {
            return Err(stale(format!("etag {etag:?} is not current")));
        }
        if let Some(revision) = self.revision
            && revision != current.revision
        {
            return Err(stale(format!("expected revision {revision}")));
        }
        Ok(())
    }
}

/// The key saved scenarios are listed by; ties are broken by id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OrderKey {
    Name,
    #[default]
    CreateTime,
    /// Never-run scenarios sort before every run one.
    LastRunTime,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Order {
    pub key: OrderKey,
    pub descending: bool,
}

/// Filters, order and the window of one listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Names containing this text (ASCII case-insensitive); empty for all.
    pub name_contains: String,
    /// Scenarios carrying this exact tag; empty for all.
    pub tag: String,
    /// Scenarios of this exact team; empty for all.
    pub team: String,
    /// Created strictly after, unix milliseconds.
    pub created_after: Option<i64>,
    /// Created strictly before, unix milliseconds.
    pub created_before: Option<i64>,
    pub order: Order,
    /// Matching scenarios to skip.
    pub offset: u64,
    /// Most scenarios to return.
    pub limit: u32,
}

/// One window of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Entries matching the query across all pages.
    pub total: u64,
}

/// A storage engine. Methods block; [`Store`] calls them off the async
/// workers. Each write is one transaction: it happens whole or not at all.
/// Unknown ids are [`Error::NotFound`]; a busy or full database is
/// [`Error::Unavailable`] with the reason.
pub trait Backend: Send + Sync + 'static {
    /// Saves revision 1 of a new scenario under `id`, created at `now`.
    fn create(&self, id: &str, fields: &ScenarioFields, now: i64) -> Result<StoredScenario>;
    fn get(&self, id: &str) -> Result<StoredScenario>;
    fn list(&self, query: &ListQuery) -> Result<Page<StoredScenario>>;
    /// Checks `expected` against the current revision and, in the same
    /// transaction, saves `fields` as the next one.
    fn update(
        &self,
        id: &str,
        fields: &ScenarioFields,
        expected: &Expected,
        now: i64,
    ) -> Result<StoredScenario>;
    /// Deletes the scenario and its revisions, after checking `expected`.
    fn delete(&self, id: &str, expected: &Expected) -> Result<()>;
    /// Revisions newest first.
    fn revisions(&self, id: &str, offset: u64, limit: u32) -> Result<Page<Revision>>;
    /// Notes that the scenario ran at `now`; no new revision.
    fn record_run(&self, id: &str, now: i64) -> Result<()>;
    /// Keeps a throughput calibration, replacing one of the same name.
    fn save_calibration(&self, calibration: &crate::estimator::Calibration, now: i64)
    -> Result<()>;
    /// Every kept calibration, by name.
    fn calibrations(&self) -> Result<Vec<crate::estimator::Calibration>>;
    /// Keeps a run and notes it on its scenario (if that still exists).
    fn insert_run(&self, run: &StoredRun) -> Result<()>;
    /// A run with its inputs and outputs.
    fn get_run(&self, id: &str) -> Result<StoredRun>;
    /// Runs newest first, without inputs and outputs.
    fn list_runs(&self, query: &RunQuery) -> Result<Page<StoredRun>>;
    /// NOT_FOUND unless a scenario has this id.
    fn scenario_exists(&self, id: &str) -> Result<()>;
    /// Saves a job and all of its items, pending, in one transaction.
    fn create_job(&self, id: &str, job: &NewJob, now: i64) -> Result<StoredJob>;
    fn get_job(&self, id: &str, with_items: bool) -> Result<StoredJob>;
    /// Jobs newest first, without items; of one team unless `team` is
    /// empty.
    fn list_jobs(&self, team: &str, offset: u64, limit: u32) -> Result<Page<StoredJob>>;
    /// How many jobs still have pending items.
    fn open_jobs(&self) -> Result<u32>;
    /// Marks the job cancelled and its pending items skipped; a finished
    /// job is left as it is. Returns the job with its items.
    fn cancel_job(&self, id: &str, now: i64) -> Result<StoredJob>;
    /// Claims up to `limit` pending items that no live lease holds, oldest
    /// job first, under `lease`: each one's attempt goes up by one. Items
    /// whose last lease ran out after `lease.max_attempts` claims fail
    /// first, with [`Lease::abandoned`] as their error.
    fn claim_items(&self, lease: &Lease, limit: u32) -> Result<Vec<PendingItem>>;
    /// Extends the leases `lease.owner` still holds among `held` (pending,
    /// same attempt); returns those it extended. One missing was lost:
    /// cancelled, finished elsewhere, or taken over after it ran out.
    fn heartbeat(&self, lease: &Lease, held: &[LeaseKey]) -> Result<Vec<LeaseKey>>;
    /// Gives up `owner`'s leases (every lease when `None`) so that other
    /// runners take the items at once; a released claim does not count as
    /// an attempt. Only for a runner whose items have stopped.
    fn release_leases(&self, owner: Option<&str>) -> Result<u32>;
    /// Records how an item ended (with its run, in the same transaction)
    /// if it is still pending under `attempt`; false when it no longer
    /// was, and then nothing is written.
    fn finish_item(&self, item: &LeaseKey, result: &ItemResult, now: i64) -> Result<bool>;
    /// A number that moves whenever custom entries, imported prices or
    /// calibrations change, so a replica knows when to reload them.
    fn store_epoch(&self) -> Result<i64>;
    /// Whether other processes may write the same data at any moment
    /// (several replicas on one database), so caches are checked against
    /// [`Backend::store_epoch`] and queues polled.
    fn shared(&self) -> bool {
        false
    }
    /// Answers if the database can be reached.
    fn ping(&self) -> Result<()>;
    /// One window of a table's rows in key order (byte order of text
    /// keys), for copying between backends.
    fn export_rows(&self, table: copy::Table, offset: u64, limit: u32)
    -> Result<Vec<copy::Record>>;
    /// Writes every batch `next` yields, in one transaction: all or
    /// nothing. Scenarios before their revisions, jobs before their items.
    fn import_rows(
        &self,
        next: &mut dyn FnMut() -> Result<Option<Vec<copy::Record>>>,
    ) -> Result<()>;
    /// Saves a split simulation run and its slices, pending; the run lives
    /// while [`Backend::sim_run_status`] is called within
    /// `coordinator_ttl`.
    fn create_sim_run(
        &self,
        _id: &str,
        _engine_version: &str,
        _inputs: &[u8],
        _slices: &[(u64, u64)],
        _coordinator_ttl: std::time::Duration,
    ) -> Result<()> {
        Err(sims::unsupported())
    }
    /// Claims one pending slice of a live run of `engine_version` that no
    /// live lease holds; first deletes runs whose coordinator is gone and
    /// fails runs with a slice whose last lease ran out.
    fn claim_slice(
        &self,
        _lease: &Lease,
        _engine_version: &str,
    ) -> Result<Option<sims::ClaimedSlice>> {
        Ok(None)
    }
    /// Extends the slice leases `lease.owner` still holds among `held`.
    fn heartbeat_slices(&self, _lease: &Lease, _held: &[LeaseKey]) -> Result<Vec<LeaseKey>> {
        Ok(Vec::new())
    }
    /// Stores a slice's part if the slice is still pending under the
    /// attempt; false (nothing written) otherwise.
    fn finish_slice(&self, _slice: &LeaseKey, _part: &[u8]) -> Result<bool> {
        Err(sims::unsupported())
    }
    /// Where the run stands; keeps it alive for `coordinator_ttl` more.
    fn sim_run_status(
        &self,
        _id: &str,
        _coordinator_ttl: std::time::Duration,
    ) -> Result<sims::SimRunStatus> {
        Err(sims::unsupported())
    }
    /// The parts of a run whose slices are all done, in slice order.
    fn sim_run_parts(&self, _id: &str) -> Result<Vec<Vec<u8>>> {
        Err(sims::unsupported())
    }
    /// Deletes the run and its slices; running slices stop at their next
    /// heartbeat.
    fn end_sim_run(&self, _id: &str) -> Result<()> {
        Ok(())
    }
    /// Gives up `owner`'s slice leases, as [`Backend::release_leases`]
    /// does for job items.
    fn release_slice_leases(&self, _owner: &str) -> Result<u32> {
        Ok(0)
    }
    /// Brings the schema up to date if that is still to do (a backend
    /// opened before its database answered); nothing otherwise.
    fn prepare(&self) -> Result<()> {
        Ok(())
    }
    /// Every custom catalogue entry, by kind and name.
    fn custom_entries(&self) -> Result<Vec<CustomEntry>>;
    fn custom_entry(&self, kind: &str, name: &str) -> Result<CustomEntry>;
    /// Saves a new entry (`create`), or the next revision of an existing
    /// one if `expected_revision` still holds. ALREADY_EXISTS, NOT_FOUND or
    /// ABORTED otherwise.
    fn put_custom_entry(
        &self,
        entry: &CustomEntry,
        create: bool,
        expected_revision: Option<u32>,
        now: i64,
    ) -> Result<CustomEntry>;
    fn delete_custom_entry(&self, kind: &str, name: &str) -> Result<()>;
    /// Every imported price, by team, id and date.
    fn imported_prices(&self) -> Result<Vec<ImportedPrice>>;
    /// Saves the entries of one import in one transaction: all or none.
    /// An entry of the same team, id and date replaces the earlier one.
    fn put_imported_prices(&self, prices: &[ImportedPrice], now: i64) -> Result<()>;
}

/// The scenario store the handlers use; cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
    /// False until the schema is known to be up to date; calls are
    /// UNAVAILABLE meanwhile.
    ready: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Wraps any backend.
    pub fn new(backend: impl Backend) -> Self {
        Self {
            backend: Arc::new(backend),
            ready: Arc::new(std::sync::atomic::AtomicBool::new(true)),
        }
    }

    /// Whether the schema is up to date and calls may go through.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Migrates the database if that is still to do; the store is ready
    /// once this succeeds.
    pub async fn prepare(&self) -> Result<()> {
        if self.is_ready() {
            return Ok(());
        }
        let backend = Arc::clone(&self.backend);
        tokio::task::spawn_blocking(move || backend.prepare())
            .await
            .map_err(|e| Error::Internal(format!("storage worker failed: {e}")))??;
        self.ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Opens (creating if needed) and migrates the SQLite file at `path`,
    /// on the blocking pool.
    pub async fn open_sqlite(path: &Path, options: SqliteOptions) -> Result<Self> {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || Sqlite::open(&path, options))
            .await
            .map_err(|e| Error::Internal(format!("opening the database failed: {e}")))?
            .map(Self::new)
    }

    pub async fn create(&self, fields: ScenarioFields) -> Result<StoredScenario> {
        fields.validate()?;
        let id = new_id("scn");
        self.blocking(move |b| b.create(&id, &fields, now_ms()))
            .await
    }

    pub async fn get(&self, id: &str) -> Result<StoredScenario> {
        let id = id.to_string();
        self.blocking(move |b| b.get(&id)).await
    }

    pub async fn list(&self, query: ListQuery) -> Result<Page<StoredScenario>> {
        self.blocking(move |b| b.list(&query)).await
    }

    /// Saves `fields` as the next revision if `expected` still holds.
    pub async fn update(
        &self,
        id: &str,
        fields: ScenarioFields,
        expected: Expected,
    ) -> Result<StoredScenario> {
        fields.validate()?;
        let id = id.to_string();
        self.blocking(move |b| b.update(&id, &fields, &expected, now_ms()))
            .await
    }

    pub async fn delete(&self, id: &str, expected: Expected) -> Result<()> {
        let id = id.to_string();
        self.blocking(move |b| b.delete(&id, &expected)).await
    }

    /// Revisions newest first.
    pub async fn revisions(&self, id: &str, offset: u64, limit: u32) -> Result<Page<Revision>> {
        let id = id.to_string();
        self.blocking(move |b| b.revisions(&id, offset, limit))
            .await
    }

    /// Notes that the scenario ran now.
    pub async fn record_run(&self, id: &str) -> Result<()> {
        let id = id.to_string();
        self.blocking(move |b| b.record_run(&id, now_ms())).await
    }

    pub async fn save_calibration(&self, calibration: crate::estimator::Calibration) -> Result<()> {
        self.blocking(move |b| b.save_calibration(&calibration, now_ms()))
            .await
    }

    pub async fn calibrations(&self) -> Result<Vec<crate::estimator::Calibration>> {
        self.blocking(|b| b.calibrations()).await
    }

    /// Keeps a run made now; fills in its id and time.
    pub async fn insert_run(&self, mut run: StoredRun) -> Result<StoredRun> {
        run.id = new_id("run");
        run.created_at = now_ms();
        self.blocking(move |b| b.insert_run(&run).map(|()| run))
            .await
    }

    pub async fn get_run(&self, id: &str) -> Result<StoredRun> {
        let id = id.to_string();
        self.blocking(move |b| b.get_run(&id)).await
    }

    pub async fn list_runs(&self, query: RunQuery) -> Result<Page<StoredRun>> {
        self.blocking(move |b| b.list_runs(&query)).await
    }

    pub async fn scenario_exists(&self, id: &str) -> Result<()> {
        let id = id.to_string();
        self.blocking(move |b| b.scenario_exists(&id)).await
    }

    pub async fn create_job(&self, job: NewJob) -> Result<StoredJob> {
        job.validate()?;
        let id = new_id("job");
        self.blocking(move |b| b.create_job(&id, &job, now_ms()))
            .await
    }

    pub async fn get_job(&self, id: &str, with_items: bool) -> Result<StoredJob> {
        let id = id.to_string();
        self.blocking(move |b| b.get_job(&id, with_items)).await
    }

    pub async fn list_jobs(&self, team: &str, offset: u64, limit: u32) -> Result<Page<StoredJob>> {
        let team = team.to_string();
        self.blocking(move |b| b.list_jobs(&team, offset, limit))
            .await
    }

    pub async fn open_jobs(&self) -> Result<u32> {
        self.blocking(|b| b.open_jobs()).await
    }

    pub async fn cancel_job(&self, id: &str) -> Result<StoredJob> {
        let id = id.to_string();
        self.blocking(move |b| b.cancel_job(&id, now_ms())).await
    }

    pub async fn claim_items(&self, lease: Lease, limit: u32) -> Result<Vec<PendingItem>> {
        self.blocking(move |b| b.claim_items(&lease, limit)).await
    }

    pub async fn heartbeat(&self, lease: Lease, held: Vec<LeaseKey>) -> Result<Vec<LeaseKey>> {
        self.blocking(move |b| b.heartbeat(&lease, &held)).await
    }

    pub async fn release_leases(&self, owner: Option<String>) -> Result<u32> {
        self.blocking(move |b| b.release_leases(owner.as_deref()))
            .await
    }

    /// Records how an item ended under the attempt that ran it; a
    /// succeeded item's run gets its time now.
    pub async fn finish_item(&self, item: LeaseKey, mut result: ItemResult) -> Result<bool> {
        let now = now_ms();
        if let ItemResult::Succeeded(run) = &mut result {
            run.created_at = now;
        }
        self.blocking(move |b| b.finish_item(&item, &result, now))
            .await
    }

    pub async fn create_sim_run(
        &self,
        engine_version: &str,
        inputs: Vec<u8>,
        slices: Vec<(u64, u64)>,
        coordinator_ttl: std::time::Duration,
    ) -> Result<String> {
        let id = new_id("sim");
        let engine_version = engine_version.to_string();
        let run = id.clone();
        self.blocking(move |b| {
            b.create_sim_run(&run, &engine_version, &inputs, &slices, coordinator_ttl)
        })
        .await?;
        Ok(id)
    }

    pub async fn claim_slice(
        &self,
        lease: Lease,
        engine_version: &str,
    ) -> Result<Option<sims::ClaimedSlice>> {
        let engine_version = engine_version.to_string();
        self.blocking(move |b| b.claim_slice(&lease, &engine_version))
            .await
    }

    pub async fn heartbeat_slices(
        &self,
        lease: Lease,
        held: Vec<LeaseKey>,
    ) -> Result<Vec<LeaseKey>> {
        self.blocking(move |b| b.heartbeat_slices(&lease, &held))
            .await
    }

    pub async fn finish_slice(&self, slice: LeaseKey, part: Vec<u8>) -> Result<bool> {
        self.blocking(move |b| b.finish_slice(&slice, &part)).await
    }

    pub async fn sim_run_status(
        &self,
        id: &str,
        coordinator_ttl: std::time::Duration,
    ) -> Result<sims::SimRunStatus> {
        let id = id.to_string();
        self.blocking(move |b| b.sim_run_status(&id, coordinator_ttl))
            .await
    }

    pub async fn sim_run_parts(&self, id: &str) -> Result<Vec<Vec<u8>>> {
        let id = id.to_string();
        self.blocking(move |b| b.sim_run_parts(&id)).await
    }

    pub async fn release_slice_leases(&self, owner: &str) -> Result<u32> {
        let owner = owner.to_string();
        self.blocking(move |b| b.release_slice_leases(&owner)).await
    }

    pub async fn end_sim_run(&self, id: &str) -> Result<()> {
        let id = id.to_string();
        self.blocking(move |b| b.end_sim_run(&id)).await
    }

    pub async fn store_epoch(&self) -> Result<i64> {
        self.blocking(|b| b.store_epoch()).await
    }

    pub async fn ping(&self) -> Result<()> {
        self.blocking(|b| b.ping()).await
    }

    /// See [`Backend::shared`].
    pub fn shared(&self) -> bool {
        self.backend.shared()
    }

    pub async fn custom_entries(&self) -> Result<Vec<CustomEntry>> {
        self.blocking(|b| b.custom_entries()).await
    }

    pub async fn custom_entry(&self, kind: &str, name: &str) -> Result<CustomEntry> {
        let (kind, name) = (kind.to_string(), name.to_string());
        self.blocking(move |b| b.custom_entry(&kind, &name)).await
    }

    pub async fn put_custom_entry(
        &self,
        entry: CustomEntry,
        create: bool,
        expected_revision: Option<u32>,
    ) -> Result<CustomEntry> {
        self.blocking(move |b| b.put_custom_entry(&entry, create, expected_revision, now_ms()))
            .await
    }

    pub async fn delete_custom_entry(&self, kind: &str, name: &str) -> Result<()> {
        let (kind, name) = (kind.to_string(), name.to_string());
        self.blocking(move |b| b.delete_custom_entry(&kind, &name))
            .await
    }

    pub async fn imported_prices(&self) -> Result<Vec<ImportedPrice>> {
        self.blocking(|b| b.imported_prices()).await
    }

    pub async fn put_imported_prices(&self, prices: Vec<ImportedPrice>) -> Result<()> {
        self.blocking(move |b| b.put_imported_prices(&prices, now_ms()))
            .await
    }

    /// Opens the PostgreSQL database at `url` and migrates it. A database
    /// that does not answer yet leaves the store not ready (every call
    /// UNAVAILABLE) until [`Store::prepare`] succeeds; a bad URL or a
    /// schema too new for this build is an error.
    pub async fn open_postgres(url: &str, options: PostgresOptions) -> Result<Self> {
        let backend = Postgres::connect(url, options)?;
        let store = Self::new(backend);
        store.ready.store(false, Ordering::Release);
        match store.prepare().await {
            Ok(()) => {}
            Err(Error::Unavailable(why)) => {
                tracing::warn!(%why, "the database does not answer yet; retrying in the background");
            }
            Err(e) => return Err(e),
        }
        Ok(store)
    }

    /// Runs `work` on the blocking pool; a panic there becomes INTERNAL.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&dyn Backend) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        if !self.is_ready() {
            return Err(Error::Unavailable(
                "the database has not answered since this server started; retry later".into(),
            ));
        }
        let backend = Arc::clone(&self.backend);
        tokio::task::spawn_blocking(move || work(backend.as_ref()))
            .await
            .map_err(|e| Error::Internal(format!("storage worker failed: {e}")))?
    }
}

/// The not-found error every backend returns for an unknown id.
pub fn not_found(id: &str) -> Error {
    Error::NotFound(format!("no saved scenario has id {id:?}"))
}

/// A new id: a process-wide counter and the clock, hashed with std's
/// randomly keyed SipHash, so ids neither repeat nor reveal how many
/// scenarios exist. The primary key still refuses a duplicate outright.
pub(crate) fn new_id(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{prefix}_{:016x}", hasher.finish())
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// FNV-1a over the id, revision and save time: stable across restarts and
/// builds, unlike std's hasher, so an etag read before a restart still
/// matches after it.
fn etag(id: &str, revision: u32, updated_at: i64) -> String {
    let hash = crate::digest::fnv1a(
        id.bytes()
            .chain(revision.to_le_bytes())
            .chain(updated_at.to_le_bytes()),
    );
    format!("{revision}-{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> ScenarioFields {
        ScenarioFields {
            name: "chatbot".into(),
            tags: vec!["a".into(), "b".into()],
            ..Default::default()
        }
    }

    #[test]
    fn ids_are_distinct_and_well_formed() {
        let ids: HashSet<String> = (0..10_000).map(|_| new_id("scn")).collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids.iter().take(10) {
            assert_eq!(id.len(), 20, "{id}");
            assert!(id.starts_with("scn_"));
            assert!(id[4..].chars().all(|c| c.is_ascii_hexdigit()));
        }
    }

    #[test]
    fn limits_name_each_bad_field() {
        assert!(fields().validate().is_ok());
        let bad = ScenarioFields {
            name: " ".into(),
            team: "t".repeat(65),
            tags: vec!["x".into(), "".into(), "x".into(), "y".repeat(65)],
            description: "d".repeat(10_001),
            body: Vec::new(),
        };
        let Err(Error::InvalidArgument(v)) = bad.validate() else {
            panic!("accepted");
        };
        let names: Vec<_> = v.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            names,
            [
                "name",
                "team",
                "tags[1]",
                "tags[2]",
                "tags[3]",
                "description"
            ]
        );
        let many = ScenarioFields {
            tags: (0..21).map(|i| i.to_string()).collect(),
            ..fields()
        };
        assert!(many.validate().unwrap_err().to_string().contains("tags"));
    }

    #[test]
    fn stale_etags_and_revisions_abort() {
        let current = StoredScenario {
            id: "scn_1".into(),
            name: "n".into(),
            team: String::new(),
            tags: Vec::new(),
            description: String::new(),
            revision: 2,
            created_at: 1,
            updated_at: 2,
            last_run_at: None,
            body: Vec::new(),
        };
        let ok = [
            Expected::default(),
            Expected {
                etag: Some(current.etag()),
                revision: Some(2),
            },
        ];
        for e in ok {
            assert!(e.check(&current).is_ok(), "{e:?}");
        }
        let stale = [
            Expected {
                etag: Some(etag("scn_1", 1, 1)),
                revision: None,
            },
            Expected {
                etag: None,
                revision: Some(1),
            },
        ];
        for e in stale {
            assert!(matches!(e.check(&current), Err(Error::Aborted(_))), "{e:?}");
        }
    }
}
