//! The PostgreSQL backend: one database that several replicas share, as
//! their store and their work queue. With `sqlite.rs`, the only place with
//! SQL; the PostgreSQL dialect lives here and in `postgres/`.
//!
//! [`Backend`] is synchronous and [`super::Store`] calls it on tokio's
//! blocking pool. This backend keeps a small runtime of its own that
//! drives the connections; each call blocks its (blocking-pool) thread on
//! that runtime until the database answers. Every wait is bounded: the
//! connect timeout, the pool's wait, create and recycle timeouts, and a
//! statement timeout set on each connection.
//!
//! Migrations run in one transaction under a transaction-level advisory
//! lock, so replicas starting together apply each once and the losers
//! find nothing to do; a schema whose oldest compatible build is newer
//! than this one is refused. No session state is kept (no session
//! advisory locks, no LISTEN), so a pooler in transaction mode is fine.

mod copy;
mod custom;
mod jobs;
mod runs;
mod sims;

use std::future::Future;
use std::time::Duration;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use super::custom::{CustomEntry, ImportedPrice};
use super::jobs::{ItemResult, Lease, LeaseKey, NewJob, PendingItem, StoredJob};
use super::runs::{RunQuery, StoredRun};
use super::{
    Backend, Expected, ListQuery, OrderKey, Page, Revision, ScenarioFields, StoredScenario,
    not_found,
};
use crate::error::{Error, Result};
use crate::estimator::{Calibration, Tuning};

/// Schema migrations, each with the oldest schema version a build must
/// know to use the database once it is applied (`min_compatible`): an
/// additive step keeps the previous value, so builds N and N+1 run side by
/// side during a rolling deploy. Never edit a released entry.
const MIGRATIONS: &[(&str, u32)] = &[
    (
        // 1: everything the SQLite file holds at its version 6.
        r#"
    CREATE TABLE scenarios (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        team        TEXT NOT NULL,
        -- JSON array, in the order given; scenario_tags indexes the values.
        tags        TEXT NOT NULL,
        description TEXT NOT NULL,
        revision    BIGINT NOT NULL,
        -- Times are unix milliseconds, UTC.
        created_at  BIGINT NOT NULL,
        updated_at  BIGINT NOT NULL,
        last_run_at BIGINT,
        body        BYTEA NOT NULL
    );
    CREATE INDEX scenarios_by_name ON scenarios (name COLLATE "C", id COLLATE "C");
    CREATE INDEX scenarios_by_created ON scenarios (created_at, id COLLATE "C");
    CREATE INDEX scenarios_by_last_run ON scenarios (last_run_at, id COLLATE "C");
    CREATE INDEX scenarios_by_team ON scenarios (team, created_at, id COLLATE "C");

    CREATE TABLE scenario_tags (
        tag         TEXT NOT NULL,
        scenario_id TEXT NOT NULL REFERENCES scenarios (id) ON DELETE CASCADE,
        PRIMARY KEY (tag, scenario_id)
    );
    CREATE INDEX scenario_tags_by_scenario ON scenario_tags (scenario_id);

    CREATE TABLE scenario_revisions (
        scenario_id TEXT NOT NULL REFERENCES scenarios (id) ON DELETE CASCADE,
        revision    BIGINT NOT NULL,
        name        TEXT NOT NULL,
        team        TEXT NOT NULL,
        tags        TEXT NOT NULL,
        description TEXT NOT NULL,
        created_at  BIGINT NOT NULL,
        body        BYTEA NOT NULL,
        PRIMARY KEY (scenario_id, revision)
    );

    CREATE TABLE calibrations (
        name                TEXT PRIMARY KEY,
        bandwidth_scale     DOUBLE PRECISION NOT NULL,
        compute_scale       DOUBLE PRECISION NOT NULL,
        allreduce_latency_s DOUBLE PRECISION NOT NULL,
        expected_error      DOUBLE PRECISION NOT NULL,
        points              BIGINT NOT NULL,
        saved_at            BIGINT NOT NULL
    );

    CREATE TABLE runs (
        id                TEXT PRIMARY KEY,
        scenario_id       TEXT NOT NULL,
        scenario_revision BIGINT NOT NULL,
        team              TEXT NOT NULL,
        kind              TEXT NOT NULL,
        created_at        BIGINT NOT NULL,
        job_id            TEXT,
        engine_version    TEXT NOT NULL,
        catalog_version   TEXT NOT NULL,
        key_figures       BYTEA NOT NULL,
        inputs            BYTEA NOT NULL,
        output            BYTEA NOT NULL
    );
    CREATE INDEX runs_by_created ON runs (created_at, id COLLATE "C");
    CREATE INDEX runs_by_scenario ON runs (scenario_id, created_at, id COLLATE "C");
    CREATE INDEX runs_by_job ON runs (job_id, created_at, id COLLATE "C");

    CREATE TABLE jobs (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL,
        team       TEXT NOT NULL,
        options    BYTEA NOT NULL,
        cancelled  BOOLEAN NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    );
    CREATE INDEX jobs_by_created ON jobs (created_at, id COLLATE "C");

    -- The work queue. The lease columns are not indexed, so heartbeats
    -- are HOT updates, and pages keep room for them.
    CREATE TABLE job_items (
        job_id            TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        idx               INTEGER NOT NULL,
        label             TEXT NOT NULL,
        scenario_id       TEXT NOT NULL,
        scenario_revision BIGINT NOT NULL,
        scenario          BYTEA NOT NULL,
        -- pending, succeeded, failed or cancelled.
        state             TEXT NOT NULL,
        run_id            TEXT,
        error             TEXT NOT NULL DEFAULT '',
        attempt           INTEGER NOT NULL DEFAULT 0,
        lease_owner       TEXT,
        lease_until       TIMESTAMPTZ,
        PRIMARY KEY (job_id, idx)
    ) WITH (fillfactor = 70);
    CREATE INDEX job_items_open ON job_items (job_id, idx) WHERE state = 'pending';

    CREATE TABLE custom_entries (
        kind       TEXT NOT NULL,
        name       TEXT NOT NULL,
        team       TEXT NOT NULL,
        text       TEXT NOT NULL,
        revision   BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (kind, name)
    );

    CREATE TABLE imported_prices (
        team           TEXT NOT NULL,
        price_id       TEXT NOT NULL,
        effective_date TEXT NOT NULL,
        path           TEXT NOT NULL,
        text           TEXT NOT NULL,
        created_at     BIGINT NOT NULL,
        PRIMARY KEY (team, price_id, effective_date)
    );

    -- Moves with every change to what replicas cache.
    CREATE TABLE store_epoch (
        id    INTEGER PRIMARY KEY CHECK (id = 1),
        epoch BIGINT NOT NULL
    );
    INSERT INTO store_epoch (id, epoch) VALUES (1, 0);
    "#,
        1,
    ),
    (
        // 2: simulations split across replicas, and their slices: leased
        // tasks like job items, deleted once merged.
        r#"
    CREATE TABLE sim_runs (
        id                TEXT PRIMARY KEY,
        engine_version    TEXT NOT NULL,
        -- The encoded breakeven.v1.RunInputs every slice is computed from.
        inputs            BYTEA NOT NULL,
        remaining         INTEGER NOT NULL,
        -- running, or failed with error.
        state             TEXT NOT NULL,
        error             TEXT NOT NULL DEFAULT '',
        created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
        -- The replica that took the call keeps the run alive; past this
        -- it is gone and the run is deleted.
        coordinator_until TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE sim_slices (
        run_id      TEXT NOT NULL REFERENCES sim_runs (id) ON DELETE CASCADE,
        slice       INTEGER NOT NULL,
        first_chunk BIGINT NOT NULL,
        chunks      BIGINT NOT NULL,
        -- pending or done.
        state       TEXT NOT NULL,
        attempt     INTEGER NOT NULL DEFAULT 0,
        lease_owner TEXT,
        lease_until TIMESTAMPTZ,
        -- The slice's part (montecarlo::split::SlicePart), once done.
        part        BYTEA,
        PRIMARY KEY (run_id, slice)
    ) WITH (fillfactor = 70);
    CREATE INDEX sim_slices_open ON sim_slices (run_id, slice) WHERE state = 'pending';
    -- Parts are compact already and live for seconds: store them
    -- uncompressed rather than spend time compressing them.
    ALTER TABLE sim_slices ALTER COLUMN part SET STORAGE EXTERNAL;
    "#,
        1,
    ),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// The first key of the advisory lock migrations hold ("brea" in ASCII);
/// the second is the schema's name hashed, so that databases in other
/// schemas of the same server migrate independently.
const MIGRATION_LOCK: i32 = 0x6272_6561;

const COLUMNS: &str = "s.id, s.name, s.team, s.tags, s.description, s.revision, \
                       s.created_at, s.updated_at, s.last_run_at, s.body";

/// Settings of the PostgreSQL backend; every wait has a bound.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Most connections this process opens.
    pub pool_size: usize,
    /// How long opening a connection, or waiting for a free one, may take.
    pub connect_timeout: Duration,
    /// The longest one statement may run before the database cancels it.
    pub statement_timeout: Duration,
    /// Names the connections in `pg_stat_activity`.
    pub application_name: String,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            pool_size: 8,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            application_name: "breakeven".into(),
        }
    }
}

/// Everything the store keeps, in a PostgreSQL database.
pub struct Postgres {
    pool: Pool,
    /// Drives the connections; shut down without waiting when dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("pool", &self.pool.status())
            .finish_non_exhaustive()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Postgres {
    /// Connects to `url` (`postgres://user@host:port/db?options=…`) and
    /// brings the schema up to date. The password, if any, is never
    /// logged or shown in errors.
    pub fn open(url: &str, options: PostgresOptions) -> Result<Self> {
        let db = Self::connect(url, options)?;
        db.prepare()?;
        Ok(db)
    }

    /// Sets up the pool for `url` without connecting: the first call
    /// connects. [`Backend::prepare`] migrates.
    pub fn connect(url: &str, options: PostgresOptions) -> Result<Self> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
            Error::FailedPrecondition(format!("--database-url is not a PostgreSQL URL: {e}"))
        })?;
        let timeout_ms = |d: Duration| d.as_millis().max(1);
        let settings = format!(
            "-c statement_timeout={} -c idle_in_transaction_session_timeout={}",
            timeout_ms(options.statement_timeout),
            timeout_ms(options.statement_timeout * 2),
        );
        let merged = match config.get_options() {
            Some(given) if !given.is_empty() => format!("{given} {settings}"),
            _ => settings,
        };
        config
            .options(&merged)
            .connect_timeout(options.connect_timeout)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .application_name(&options.application_name);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.connect_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| Error::Internal(format!("database pool: {e}")))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("breakeven-postgres")
            .enable_all()
            .build()
            .map_err(|e| Error::Internal(format!("database runtime: {e}")))?;
        Ok(Self {
            pool,
            runtime: Some(runtime),
        })
    }

    /// Runs `work` to completion on this backend's runtime. Called on a
    /// blocking-pool thread (or any thread outside a runtime).
    fn block<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        match &self.runtime {
            Some(runtime) => runtime.handle().block_on(work),
            None => Err(Error::Internal("database runtime gone".into())),
        }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(pool_error)
    }

    /// Applies the missing migrations in one transaction, under an
    /// advisory lock that makes other replicas wait their turn.
    async fn migrate(&self) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))",
            &[&MIGRATION_LOCK],
        )
        .await
        .map_err(db)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version        INTEGER PRIMARY KEY,
                 min_compatible INTEGER NOT NULL,
                 applied_at     TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .await
        .map_err(db)?;
        let row = tx
            .query_one(
                "SELECT coalesce(max(version), 0), \
                        coalesce(max(min_compatible) FILTER (WHERE version = \
                            (SELECT max(version) FROM schema_migrations)), 0) \
                 FROM schema_migrations",
                &[],
            )
            .await
            .map_err(db)?;
        let version = row.get::<_, i32>(0).max(0) as u32;
        let min_compatible = row.get::<_, i32>(1).max(0) as u32;
        if version > SCHEMA_VERSION && min_compatible > SCHEMA_VERSION {
            return Err(Error::FailedPrecondition(format!(
                "database schema version {version} is newer than this build supports \
                 ({SCHEMA_VERSION}; it needs a build of version {min_compatible} or later); \
                 run a newer breakeven"
            )));
        }
        for (i, (sql, min_compatible)) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let step = i as i32 + 1;
            tx.batch_execute(sql)
                .await
                .map_err(|e| Error::Internal(format!("migration {step} failed: {e}")))?;
            tx.execute(
                "INSERT INTO schema_migrations (version, min_compatible) VALUES ($1, $2)",
                &[&step, &(*min_compatible as i32)],
            )
            .await
            .map_err(db)?;
            tracing::info!(version = step, "database schema migrated");
        }
        tx.commit().await.map_err(db)
    }
}

/// Maps PostgreSQL failures to the domain. A database out of reach, a
/// statement cut short by its timeout, a conflict with another
/// transaction or a server shutting down are UNAVAILABLE (nothing was
/// written; retry); anything else is a fault of ours.
fn db(e: tokio_postgres::Error) -> Error {
    let Some(code) = e.code() else {
        return Error::Unavailable(format!(
            "the database cannot be reached ({e}); nothing was written, retry later"
        ));
    };
    let transient = [
        SqlState::QUERY_CANCELED,
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::T_R_DEADLOCK_DETECTED,
        SqlState::LOCK_NOT_AVAILABLE,
        SqlState::ADMIN_SHUTDOWN,
        SqlState::CRASH_SHUTDOWN,
        SqlState::CANNOT_CONNECT_NOW,
        SqlState::TOO_MANY_CONNECTIONS,
        SqlState::DISK_FULL,
        SqlState::OUT_OF_MEMORY,
        SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
    ];
    if transient.contains(code) || code.code().starts_with("08") {
        Error::Unavailable(format!(
            "the database could not complete the call ({e}); nothing was written, retry later"
        ))
    } else {
        Error::Internal(format!("database: {e}"))
    }
}

fn pool_error(e: deadpool_postgres::PoolError) -> Error {
    match e {
        deadpool_postgres::PoolError::Backend(e) => db(e),
        other => Error::Unavailable(format!(
            "no database connection ({other}); nothing was written, retry later"
        )),
    }
}

fn tags_json(tags: &[String]) -> Result<String> {
    serde_json::to_string(tags).map_err(|e| Error::Internal(format!("encoding tags: {e}")))
}

fn parse_tags(text: &str) -> Result<Vec<String>> {
    serde_json::from_str(text).map_err(|e| Error::Internal(format!("stored tags: {e}")))
}

/// A stored count or revision as u32; negative or huge values are ours to
/// have written wrongly.
fn u32_of(value: i64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

fn scenario_row(row: &Row) -> Result<StoredScenario> {
    Ok(StoredScenario {
        id: row.get(0),
        name: row.get(1),
        team: row.get(2),
        tags: parse_tags(row.get(3))?,
        description: row.get(4),
        revision: u32_of(row.get(5)),
        created_at: row.get(6),
        updated_at: row.get(7),
        last_run_at: row.get(8),
        body: row.get(9),
    })
}

async fn load(client: &impl GenericClient, id: &str, lock: bool) -> Result<StoredScenario> {
    let sql = format!(
        "SELECT {COLUMNS} FROM scenarios s WHERE s.id = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    let row = client.query_opt(&sql, &[&id]).await.map_err(db)?;
    match row {
        Some(row) => scenario_row(&row),
        None => Err(not_found(id)),
    }
}

/// Writes `s` as its revision `s.revision`: the row, its tags and the copy
/// in `scenario_revisions`.
async fn write(client: &impl GenericClient, s: &StoredScenario) -> Result<()> {
    let tags = tags_json(&s.tags)?;
    let revision = i64::from(s.revision);
    client
        .execute(
            "INSERT INTO scenarios (id, name, team, tags, description, revision, created_at, \
                                    updated_at, last_run_at, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, team = excluded.team, \
                 tags = excluded.tags, description = excluded.description, \
                 revision = excluded.revision, updated_at = excluded.updated_at, \
                 body = excluded.body",
            &[
                &s.id,
                &s.name,
                &s.team,
                &tags,
                &s.description,
                &revision,
                &s.created_at,
                &s.updated_at,
                &s.last_run_at,
                &s.body,
            ],
        )
        .await
        .map_err(db)?;
    client
        .execute("DELETE FROM scenario_tags WHERE scenario_id = $1", &[&s.id])
        .await
        .map_err(db)?;
    for tag in &s.tags {
        client
            .execute(
                "INSERT INTO scenario_tags (tag, scenario_id) VALUES ($1, $2)",
                &[tag, &s.id],
            )
            .await
            .map_err(db)?;
    }
    client
        .execute(
            "INSERT INTO scenario_revisions (scenario_id, revision, name, team, tags, \
                                             description, created_at, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &s.id,
                &revision,
                &s.name,
                &s.team,
                &tags,
                &s.description,
                &s.updated_at,
                &s.body,
            ],
        )
        .await
        .map_err(db)?;
    Ok(())
}

/// Moves the store epoch, in the caller's transaction.
async fn bump_epoch(client: &impl GenericClient) -> Result<()> {
    client
        .execute("UPDATE store_epoch SET epoch = epoch + 1 WHERE id = 1", &[])
        .await
        .map_err(db)?;
    Ok(())
}

/// `text` as a LIKE pattern matching it anywhere, `\` escaping wildcards.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// ASCII-only lower case in SQL, as SQLite's LIKE compares: other letters
/// match only exactly, on both backends.
fn ascii_lower(expr: &str) -> String {
    format!("translate({expr}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')")
}

/// Parameters of a query assembled from fixed fragments.
type Params = Vec<Box<dyn ToSql + Sync + Send>>;

fn refs(params: &Params) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

impl Backend for Postgres {
    fn create(&self, id: &str, fields: &ScenarioFields, now: i64) -> Result<StoredScenario> {
        self.block(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db)?;
            let taken = tx
                .query_opt("SELECT 1 FROM scenarios WHERE id = $1", &[&id])
                .await
                .map_err(db)?
                .is_some();
            if taken {
                return Err(Error::Internal(format!("scenario id {id} already taken")));
            }
            let s = StoredScenario {
                id: id.to_string(),
                name: fields.name.clone(),
                team: fields.team.clone(),
                tags: fields.tags.clone(),
                description: fields.description.clone(),
                revision: 1,
                created_at: now,
                updated_at: now,
                last_run_at: None,
                body: fields.body.clone(),
            };
            write(&tx, &s).await?;
            tx.commit().await.map_err(db)?;
            Ok(s)
        })
    }

    fn get(&self, id: &str) -> Result<StoredScenario> {
        self.block(async { load(&self.client().await?, id, false).await })
    }

    fn list(&self, query: &ListQuery) -> Result<Page<StoredScenario>> {
        let mut conditions = Vec::new();
        let mut params: Params = Vec::new();
        if !query.name_contains.is_empty() {
            params.push(Box::new(contains_pattern(&query.name_contains)));
            conditions.push(format!(
                "{} LIKE {} ESCAPE '\\'",
                ascii_lower("s.name"),
                ascii_lower(&format!("${}", params.len()))
            ));
        }
        if !query.tag.is_empty() {
            params.push(Box::new(query.tag.clone()));
            conditions.push(format!(
                "s.id IN (SELECT scenario_id FROM scenario_tags WHERE tag = ${})",
                params.len()
            ));
        }
        if !query.team.is_empty() {
            params.push(Box::new(query.team.clone()));
            conditions.push(format!("s.team = ${}", params.len()));
        }
        if let Some(after) = query.created_after {
            params.push(Box::new(after));
            conditions.push(format!("s.created_at > ${}", params.len()));
        }
        if let Some(before) = query.created_before {
            params.push(Box::new(before));
            conditions.push(format!("s.created_at < ${}", params.len()));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        // Byte order, and NULLs (never run) first ascending, as SQLite.
        let (direction, nulls) = if query.order.descending {
            ("DESC", "NULLS LAST")
        } else {
            ("ASC", "NULLS FIRST")
        };
        let column = match query.order.key {
            OrderKey::Name => format!("s.name COLLATE \"C\" {direction}"),
            OrderKey::CreateTime => format!("s.created_at {direction}"),
            OrderKey::LastRunTime => format!("s.last_run_at {direction} {nulls}"),
        };
        self.block(async {
            let mut client = self.client().await?;
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(db)?;
            let total: i64 = tx
                .query_one(
                    &format!("SELECT COUNT(*) FROM scenarios s{filter}"),
                    &refs(&params),
                )
                .await
                .map_err(db)?
                .get(0);
            let n = params.len();
            let mut window = params;
            window.push(Box::new(i64::from(query.limit)));
            window.push(Box::new(i64::try_from(query.offset).unwrap_or(i64::MAX)));
            let rows = tx
                .query(
                    &format!(
                        "SELECT {COLUMNS} FROM scenarios s{filter} \
                         ORDER BY {column}, s.id COLLATE \"C\" {direction} \
                         LIMIT ${} OFFSET ${}",
                        n + 1,
                        n + 2
                    ),
                    &refs(&window),
                )
                .await
                .map_err(db)?;
            tx.commit().await.map_err(db)?;
            Ok(Page {
                items: rows.iter().map(scenario_row).collect::<Result<_>>()?,
                total: total.max(0) as u64,
            })
        })
    }

    fn update(
        &self,
        id: &str,
        fields: &ScenarioFields,
        expected: &Expected,
        now: i64,
    ) -> Result<StoredScenario> {
        self.block(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db)?;
            // The row lock holds off other savers between check and write.
            let current = load(&tx, id, true).await?;
            expected.check(&current)?;
            let next = StoredScenario {
                name: fields.name.clone(),
                team: fields.team.clone(),
                tags: fields.tags.clone(),
                description: fields.description.clone(),
                revision: current.revision + 1,
                updated_at: now.max(current.updated_at + 1),
                body: fields.body.clone(),
                ..current
            };
            write(&tx, &next).await?;
            tx.commit().await.map_err(db)?;
            Ok(next)
        })
    }

    fn delete(&self, id: &str, expected: &Expected) -> Result<()> {
        self.block(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db)?;
            let current = load(&tx, id, true).await?;
            expected.check(&current)?;
            tx.execute("DELETE FROM scenarios WHERE id = $1", &[&id])
                .await
                .map_err(db)?;
            tx.commit().await.map_err(db)
        })
    }

    fn revisions(&self, id: &str, offset: u64, limit: u32) -> Result<Page<Revision>> {
        self.block(async {
            let mut client = self.client().await?;
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(db)?;
            let total: i64 = tx
                .query_opt("SELECT revision FROM scenarios WHERE id = $1", &[&id])
                .await
                .map_err(db)?
                .ok_or_else(|| not_found(id))?
                .get(0);
            let rows = tx
                .query(
                    "SELECT scenario_id, revision, name, team, tags, description, created_at, \
                            body \
                     FROM scenario_revisions WHERE scenario_id = $1 \
                     ORDER BY revision DESC LIMIT $2 OFFSET $3",
                    &[
                        &id,
                        &i64::from(limit),
                        &i64::try_from(offset).unwrap_or(i64::MAX),
                    ],
                )
                .await
                .map_err(db)?;
            tx.commit().await.map_err(db)?;
            let items = rows
                .iter()
                .map(|row| {
                    Ok(Revision {
                        scenario_id: row.get(0),
                        revision: u32_of(row.get(1)),
                        name: row.get(2),
                        team: row.get(3),
                        tags: parse_tags(row.get(4))?,
                        description: row.get(5),
                        created_at: row.get(6),
                        body: row.get(7),
                    })
                })
                .collect::<Result<_>>()?;
            Ok(Page {
                items,
                total: total.max(0) as u64,
            })
        })
    }

    fn record_run(&self, id: &str, now: i64) -> Result<()> {
        self.block(async {
            let changed = self
                .client()
                .await?
                .execute(
                    "UPDATE scenarios SET last_run_at = $2 WHERE id = $1",
                    &[&id, &now],
                )
                .await
                .map_err(db)?;
            if changed == 0 {
                return Err(not_found(id));
            }
            Ok(())
        })
    }

    fn save_calibration(&self, c: &Calibration, now: i64) -> Result<()> {
        self.block(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db)?;
            tx.execute(
                "INSERT INTO calibrations (name, bandwidth_scale, compute_scale, \
                 allreduce_latency_s, expected_error, points, saved_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (name) DO UPDATE SET bandwidth_scale = $2, compute_scale = $3, \
                 allreduce_latency_s = $4, expected_error = $5, points = $6, saved_at = $7",
                &[
                    &c.name,
                    &c.tuning.bandwidth_scale,
                    &c.tuning.compute_scale,
                    &c.tuning.allreduce_latency_s,
                    &c.expected_error,
                    &(c.points as i64),
                    &now,
                ],
            )
            .await
            .map_err(db)?;
            bump_epoch(&tx).await?;
            tx.commit().await.map_err(db)
        })
    }

    fn calibrations(&self) -> Result<Vec<Calibration>> {
        self.block(async {
            let rows = self
                .client()
                .await?
                .query(
                    "SELECT name, bandwidth_scale, compute_scale, allreduce_latency_s, \
                     expected_error, points FROM calibrations ORDER BY name COLLATE \"C\"",
                    &[],
                )
                .await
                .map_err(db)?;
            Ok(rows
                .iter()
                .map(|row| Calibration {
                    name: row.get(0),
                    tuning: Tuning {
                        bandwidth_scale: row.get(1),
                        compute_scale: row.get(2),
                        allreduce_latency_s: row.get(3),
                    },
                    expected_error: row.get(4),
                    points: row.get::<_, i64>(5).max(0) as usize,
                })
                .collect())
        })
    }

    fn insert_run(&self, run: &StoredRun) -> Result<()> {
        self.block(self.insert_run_tx(run))
    }

    fn get_run(&self, id: &str) -> Result<StoredRun> {
        self.block(self.get_run_row(id))
    }

    fn list_runs(&self, query: &RunQuery) -> Result<Page<StoredRun>> {
        self.block(self.list_run_rows(query))
    }

    fn scenario_exists(&self, id: &str) -> Result<()> {
        self.block(async {
            let found = self
                .client()
                .await?
                .query_opt("SELECT 1 FROM scenarios WHERE id = $1", &[&id])
                .await
                .map_err(db)?
                .is_some();
            if found { Ok(()) } else { Err(not_found(id)) }
        })
    }

    fn create_job(&self, id: &str, job: &NewJob, now: i64) -> Result<StoredJob> {
        self.block(self.create_job_tx(id, job, now))
    }

    fn get_job(&self, id: &str, with_items: bool) -> Result<StoredJob> {
        self.block(self.get_job_row(id, with_items))
    }

    fn list_jobs(&self, team: &str, offset: u64, limit: u32) -> Result<Page<StoredJob>> {
        self.block(self.list_job_rows(team, offset, limit))
    }

    fn open_jobs(&self) -> Result<u32> {
        self.block(self.open_job_count())
    }

    fn cancel_job(&self, id: &str, now: i64) -> Result<StoredJob> {
        self.block(self.cancel_job_tx(id, now))
    }

    fn claim_items(&self, lease: &Lease, limit: u32) -> Result<Vec<PendingItem>> {
        self.block(self.claim_item_rows(lease, limit))
    }

    fn heartbeat(&self, lease: &Lease, held: &[LeaseKey]) -> Result<Vec<LeaseKey>> {
        self.block(self.heartbeat_rows(lease, held))
    }

    fn release_leases(&self, owner: Option<&str>) -> Result<u32> {
        self.block(self.release_lease_rows(owner))
    }

    fn finish_item(&self, item: &LeaseKey, result: &ItemResult, now: i64) -> Result<bool> {
        self.block(self.finish_item_tx(item, result, now))
    }

    fn store_epoch(&self) -> Result<i64> {
        self.block(async {
            Ok(self
                .client()
                .await?
                .query_one("SELECT epoch FROM store_epoch WHERE id = 1", &[])
                .await
                .map_err(db)?
                .get(0))
        })
    }

    fn shared(&self) -> bool {
        true
    }

    fn prepare(&self) -> Result<()> {
        self.block(self.migrate())
    }

    fn export_rows(
        &self,
        table: super::copy::Table,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<super::copy::Record>> {
        self.block(self.export_table(table, offset, limit))
    }

    fn create_sim_run(
        &self,
        id: &str,
        engine_version: &str,
        inputs: &[u8],
        slices: &[(u64, u64)],
        coordinator_ttl: Duration,
    ) -> Result<()> {
        self.block(self.create_sim_run_tx(id, engine_version, inputs, slices, coordinator_ttl))
    }

    fn claim_slice(
        &self,
        lease: &Lease,
        engine_version: &str,
    ) -> Result<Option<super::sims::ClaimedSlice>> {
        self.block(self.claim_slice_row(lease, engine_version))
    }

    fn heartbeat_slices(&self, lease: &Lease, held: &[LeaseKey]) -> Result<Vec<LeaseKey>> {
        self.block(self.heartbeat_slice_rows(lease, held))
    }

    fn finish_slice(&self, slice: &LeaseKey, part: &[u8]) -> Result<bool> {
        self.block(self.finish_slice_tx(slice, part))
    }

    fn sim_run_status(
        &self,
        id: &str,
        coordinator_ttl: Duration,
    ) -> Result<super::sims::SimRunStatus> {
        self.block(self.sim_run_row(id, coordinator_ttl))
    }

    fn sim_run_parts(&self, id: &str) -> Result<Vec<Vec<u8>>> {
        self.block(self.sim_run_part_rows(id))
    }

    fn end_sim_run(&self, id: &str) -> Result<()> {
        self.block(self.end_sim_run_tx(id))
    }

    fn release_slice_leases(&self, owner: &str) -> Result<u32> {
        self.block(self.release_slice_rows(owner))
    }

    fn import_rows(
        &self,
        next: &mut dyn FnMut() -> Result<Option<Vec<super::copy::Record>>>,
    ) -> Result<()> {
        self.block(self.import_all(next))
    }

    fn ping(&self) -> Result<()> {
        self.block(async {
            self.client()
                .await?
                .query_one("SELECT 1", &[])
                .await
                .map_err(db)?;
            Ok(())
        })
    }

    fn custom_entries(&self) -> Result<Vec<CustomEntry>> {
        self.block(self.custom_rows())
    }

    fn custom_entry(&self, kind: &str, name: &str) -> Result<CustomEntry> {
        self.block(self.custom_row(kind, name))
    }

    fn put_custom_entry(
        &self,
        entry: &CustomEntry,
        create: bool,
        expected_revision: Option<u32>,
        now: i64,
    ) -> Result<CustomEntry> {
        self.block(self.put_custom_row(entry, create, expected_revision, now))
    }

    fn delete_custom_entry(&self, kind: &str, name: &str) -> Result<()> {
        self.block(self.delete_custom_row(kind, name))
    }

    fn imported_prices(&self) -> Result<Vec<ImportedPrice>> {
        self.block(self.imported_rows())
    }

    fn put_imported_prices(&self, prices: &[ImportedPrice], now: i64) -> Result<()> {
        self.block(self.put_imported_rows(prices, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testdb;

    #[test]
    fn replicas_starting_together_migrate_once() {
        let schema = testdb::schema();
        let opened: Vec<_> = (0..3)
            .map(|_| {
                let url = schema.url.clone();
                std::thread::spawn(move || Postgres::open(&url, PostgresOptions::default()))
            })
            .collect();
        let dbs: Vec<_> = opened
            .into_iter()
            .map(|t| t.join().unwrap().unwrap())
            .collect();
        assert_eq!(
            schema.query("SELECT version::text FROM schema_migrations ORDER BY version"),
            (1..=SCHEMA_VERSION)
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
        );
        dbs[0].ping().unwrap();
        // Opening again finds nothing to do.
        drop(dbs);
        Postgres::open(&schema.url, PostgresOptions::default()).unwrap();
        assert_eq!(
            schema.query("SELECT count(*)::text FROM schema_migrations"),
            [SCHEMA_VERSION.to_string()]
        );
    }

    #[test]
    fn a_newer_schema_is_refused_unless_it_says_it_is_compatible() {
        let schema = testdb::schema();
        Postgres::open(&schema.url, PostgresOptions::default()).unwrap();
        let next = SCHEMA_VERSION + 1;
        // An additive step from a newer build: still usable here.
        schema.query(&format!(
            "INSERT INTO schema_migrations (version, min_compatible) VALUES ({next}, 1)"
        ));
        Postgres::open(&schema.url, PostgresOptions::default()).unwrap();
        // One that needs the newer build: refused, nothing touched.
        let after = next + 1;
        schema.query(&format!(
            "INSERT INTO schema_migrations (version, min_compatible) VALUES ({after}, {after})"
        ));
        let err = Postgres::open(&schema.url, PostgresOptions::default()).unwrap_err();
        assert!(
            matches!(&err, Error::FailedPrecondition(m) if m.contains("newer than this build")),
            "{err:?}"
        );
    }

    #[test]
    fn an_unreachable_database_is_unavailable_within_the_timeout() {
        // A port nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let options = PostgresOptions {
            connect_timeout: Duration::from_millis(500),
            ..Default::default()
        };
        let err = Postgres::open(
            &format!("postgres://postgres@127.0.0.1:{port}/test"),
            options,
        )
        .unwrap_err();
        assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
        let err = Postgres::open("mysql://x", PostgresOptions::default()).unwrap_err();
        assert!(matches!(err, Error::FailedPrecondition(_)), "{err:?}");
    }

    #[test]
    fn split_runs_lease_their_slices_and_go_when_their_coordinator_does() {
        use crate::store::Lease;
        let schema = testdb::schema();
        let db = Postgres::open(&schema.url, PostgresOptions::default()).unwrap();
        let long = Duration::from_secs(60);
        let a = Lease {
            ttl: Duration::from_millis(300),
            ..Lease::new()
        };
        let b = Lease {
            ttl: long,
            ..Lease::new()
        };
        db.create_sim_run("sim_1", "e1", b"in", &[(0, 2), (2, 2), (4, 1)], long)
            .unwrap();
        // Another engine version's replica takes nothing.
        assert!(db.claim_slice(&b, "e0").unwrap().is_none());
        let first = db.claim_slice(&a, "e1").unwrap().unwrap();
        assert_eq!(
            (first.key.index, first.key.attempt, first.chunks),
            (0, 1, 2)
        );
        assert_eq!(first.inputs, b"in");
        let second = db.claim_slice(&b, "e1").unwrap().unwrap();
        assert_eq!(second.key.index, 1);
        assert!(db.finish_slice(&second.key, b"p1").unwrap());
        assert!(!db.finish_slice(&second.key, b"again").unwrap());
        // A's lease runs out: B takes slice 0 over; A's part is refused.
        std::thread::sleep(Duration::from_millis(500));
        let taken = db.claim_slice(&b, "e1").unwrap().unwrap();
        assert_eq!((taken.key.index, taken.key.attempt), (0, 2));
        // Released (a replica shutting down), it is taken at once, under
        // the same attempt number.
        assert_eq!(db.release_slice_leases(&b.owner).unwrap(), 1);
        let taken = db.claim_slice(&b, "e1").unwrap().unwrap();
        assert_eq!((taken.key.index, taken.key.attempt), (0, 2));
        assert!(
            db.heartbeat_slices(&a, std::slice::from_ref(&first.key))
                .unwrap()
                .is_empty()
        );
        assert!(!db.finish_slice(&first.key, b"late").unwrap());
        assert!(db.finish_slice(&taken.key, b"p0").unwrap());
        let status = db.sim_run_status("sim_1", long).unwrap();
        assert_eq!((status.remaining, status.done_chunks), (1, 4));
        let last = db.claim_slice(&b, "e1").unwrap().unwrap();
        let kept = db
            .heartbeat_slices(&b, std::slice::from_ref(&last.key))
            .unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0], last.key);
        assert!(db.finish_slice(&last.key, b"p2").unwrap());
        assert_eq!(db.sim_run_status("sim_1", long).unwrap().remaining, 0);
        assert_eq!(
            db.sim_run_parts("sim_1").unwrap(),
            [b"p0".to_vec(), b"p1".to_vec(), b"p2".to_vec()]
        );
        db.end_sim_run("sim_1").unwrap();
        assert!(matches!(
            db.sim_run_status("sim_1", long),
            Err(Error::NotFound(_))
        ));
        // A run whose coordinator stops calling is swept by the next claim.
        db.create_sim_run("sim_2", "e1", b"in", &[(0, 1)], Duration::from_millis(100))
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(db.claim_slice(&b, "e1").unwrap().is_none());
        assert!(matches!(
            db.sim_run_status("sim_2", long),
            Err(Error::NotFound(_))
        ));
        assert_eq!(schema.query("SELECT count(*)::text FROM sim_slices"), ["0"]);
    }

    #[test]
    fn a_statement_past_its_timeout_is_unavailable() {
        let schema = testdb::schema();
        Postgres::open(&schema.url, PostgresOptions::default()).unwrap();
        let options = PostgresOptions {
            statement_timeout: Duration::from_millis(200),
            ..Default::default()
        };
        let db = Postgres::connect(&schema.url, options).unwrap();
        let err = db
            .block(async {
                db.client()
                    .await?
                    .batch_execute("SELECT pg_sleep(2)")
                    .await
                    .map_err(super::db)
            })
            .unwrap_err();
        assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
        db.ping().unwrap();
    }
}
