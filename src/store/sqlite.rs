//! The SQLite backend: one file in WAL mode, versioned migrations, every
//! query parameterised.
//!
//! One connection behind a std `Mutex`: SQLite lets one writer in at a time
//! anyway, each call is short (milliseconds), and callers are already on
//! tokio's blocking pool, so a blocking lock costs no async worker. Other
//! processes may open the same file; the busy timeout lets them take turns
//! and a lock still held when it runs out is UNAVAILABLE.

mod copy;
mod custom;
mod jobs;
mod runs;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::estimator::{Calibration, Tuning};
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior};

use super::custom::{CustomEntry, ImportedPrice};
use super::jobs::{ItemResult, Lease, LeaseKey, NewJob, PendingItem, StoredJob};
use super::runs::{RunQuery, StoredRun};
use super::{
    Backend, Expected, ListQuery, OrderKey, Page, Revision, ScenarioFields, StoredScenario,
    not_found,
};
use crate::error::{Error, Result};

/// Schema migrations, applied in order; after the i-th (from 1) the file's
/// `PRAGMA user_version` is i. Never edit a released entry: add a new one.
const MIGRATIONS: &[&str] = &[
    // 1: scenarios, their revisions and a tag index.
    r#"
    CREATE TABLE scenarios (
        id          TEXT PRIMARY KEY NOT NULL,
        name        TEXT NOT NULL,
        team        TEXT NOT NULL,
        -- JSON array, in the order given; scenario_tags indexes the values.
        tags        TEXT NOT NULL,
        description TEXT NOT NULL,
        revision    INTEGER NOT NULL,
        -- Times are unix milliseconds, UTC.
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        last_run_at INTEGER,
        -- The encoded breakeven.v1.Scenario.
        body        BLOB NOT NULL
    ) STRICT;
    CREATE INDEX scenarios_by_name ON scenarios (name, id);
    CREATE INDEX scenarios_by_created ON scenarios (created_at, id);
    CREATE INDEX scenarios_by_last_run ON scenarios (last_run_at, id);
    CREATE INDEX scenarios_by_team ON scenarios (team, created_at, id);

    CREATE TABLE scenario_tags (
        tag         TEXT NOT NULL,
        scenario_id TEXT NOT NULL REFERENCES scenarios (id) ON DELETE CASCADE,
        PRIMARY KEY (tag, scenario_id)
    ) STRICT, WITHOUT ROWID;
    -- Lets a delete find a scenario's tags without a scan.
    CREATE INDEX scenario_tags_by_scenario ON scenario_tags (scenario_id);

    -- Every revision, the current one included.
    CREATE TABLE scenario_revisions (
        scenario_id TEXT NOT NULL REFERENCES scenarios (id) ON DELETE CASCADE,
        revision    INTEGER NOT NULL,
        name        TEXT NOT NULL,
        team        TEXT NOT NULL,
        tags        TEXT NOT NULL,
        description TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        body        BLOB NOT NULL,
        PRIMARY KEY (scenario_id, revision)
    ) STRICT;
    "#,
    // 2: throughput calibrations, kept across restarts.
    r#"
    CREATE TABLE calibrations (
        name                TEXT PRIMARY KEY NOT NULL,
        bandwidth_scale     REAL NOT NULL,
        compute_scale       REAL NOT NULL,
        allreduce_latency_s REAL NOT NULL,
        expected_error      REAL NOT NULL,
        points              INTEGER NOT NULL,
        saved_at            INTEGER NOT NULL
    ) STRICT;
    "#,
    // 3: kept runs, batch jobs and their items.
    r#"
    -- No foreign key to scenarios: a run outlives its scenario, since it
    -- carries the inputs it was computed from.
    CREATE TABLE runs (
        id                TEXT PRIMARY KEY NOT NULL,
        scenario_id       TEXT NOT NULL,
        scenario_revision INTEGER NOT NULL,
        team              TEXT NOT NULL,
        kind              TEXT NOT NULL,
        created_at        INTEGER NOT NULL,
        job_id            TEXT,
        engine_version    TEXT NOT NULL,
        catalog_version   TEXT NOT NULL,
        -- Encoded breakeven.v1.KeyFigures, RunInputs and RunOutput.
        key_figures       BLOB NOT NULL,
        inputs            BLOB NOT NULL,
        output            BLOB NOT NULL
    ) STRICT;
    CREATE INDEX runs_by_created ON runs (created_at, id);
    CREATE INDEX runs_by_scenario ON runs (scenario_id, created_at, id);
    CREATE INDEX runs_by_job ON runs (job_id, created_at, id);

    CREATE TABLE jobs (
        id         TEXT PRIMARY KEY NOT NULL,
        name       TEXT NOT NULL,
        team       TEXT NOT NULL,
        -- Encoded breakeven.v1.RunOptions.
        options    BLOB NOT NULL,
        cancelled  INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX jobs_by_created ON jobs (created_at, id);

    CREATE TABLE job_items (
        job_id            TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        idx               INTEGER NOT NULL,
        label             TEXT NOT NULL,
        scenario_id       TEXT NOT NULL,
        scenario_revision INTEGER NOT NULL,
        -- Encoded breakeven.v1.Scenario, as submitted.
        scenario          BLOB NOT NULL,
        -- pending, succeeded, failed or cancelled.
        state             TEXT NOT NULL,
        run_id            TEXT,
        error             TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (job_id, idx)
    ) STRICT;
    CREATE INDEX job_items_by_state ON job_items (state, job_id, idx);
    "#,
    // 4: custom catalogue entries.
    r#"
    CREATE TABLE custom_entries (
        -- The data directory: hardware, models or prices.
        kind       TEXT NOT NULL,
        name       TEXT NOT NULL,
        team       TEXT NOT NULL,
        -- The entry in the data-file format.
        text       TEXT NOT NULL,
        revision   INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (kind, name)
    ) STRICT;
    "#,
    // 5: prices a team imported (catalog import-litellm): each a dated
    // entry of an existing price id, seen by that team only.
    r#"
    CREATE TABLE imported_prices (
        team           TEXT NOT NULL,
        price_id       TEXT NOT NULL,
        -- YYYY-MM-DD, the first day the price applies.
        effective_date TEXT NOT NULL,
        -- The catalogue path of the entry's price file.
        path           TEXT NOT NULL,
        -- The entry in the price-file format.
        text           TEXT NOT NULL,
        created_at     INTEGER NOT NULL,
        PRIMARY KEY (team, price_id, effective_date)
    ) STRICT;
    "#,
    // 6: leases on job items (the attempt that holds the item, its owner
    // and until when, unix milliseconds), and a counter of changes to
    // what every server caches (custom entries, imported prices,
    // calibrations).
    r#"
    ALTER TABLE job_items ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE job_items ADD COLUMN lease_owner TEXT;
    ALTER TABLE job_items ADD COLUMN lease_until INTEGER;
    CREATE TABLE store_epoch (
        id    INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
        epoch INTEGER NOT NULL
    ) STRICT;
    INSERT INTO store_epoch (id, epoch) VALUES (1, 0);
    "#,
];

/// The database's clock in unix milliseconds, for leases.
pub(super) const NOW_MS: &str = "CAST(unixepoch('subsec') * 1000 AS INTEGER)";

/// Moves the store epoch, in the caller's transaction.
fn bump_epoch(conn: &Connection) -> Result<()> {
    conn.prepare_cached("UPDATE store_epoch SET epoch = epoch + 1 WHERE id = 1")
        .and_then(|mut stmt| stmt.execute([]))
        .map_err(db)?;
    Ok(())
}

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

const COLUMNS: &str = "s.id, s.name, s.team, s.tags, s.description, s.revision, \
                       s.created_at, s.updated_at, s.last_run_at, s.body";

/// Settings of the SQLite backend.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// How long a call waits for another connection's lock before it gives
    /// up with UNAVAILABLE.
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// Saved scenarios in one SQLite file.
#[derive(Debug)]
pub struct Sqlite {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl Sqlite {
    /// Opens or creates the file, then brings its schema up to date. A file
    /// written by a newer build is refused untouched.
    pub fn open(path: &Path, options: SqliteOptions) -> Result<Self> {
        let cannot = |e: rusqlite::Error| {
            Error::FailedPrecondition(format!("cannot open database {}: {e}", path.display()))
        };
        let mut conn = Connection::open(path).map_err(cannot)?;
        conn.busy_timeout(options.busy_timeout).map_err(cannot)?;
        check_version(&conn, path)?;
        // WAL lets readers go on while one writer commits. In WAL mode
        // synchronous=NORMAL cannot corrupt the file; a power cut may lose
        // the last commits, which is the trade SQLite recommends for WAL.
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))
            .map_err(cannot)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::FailedPrecondition(format!(
                "database {} cannot use write-ahead logging (journal mode is {mode})",
                path.display()
            )));
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(cannot)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(cannot)?;
        migrate(&mut conn, path)?;
        Ok(Self {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A panic while the lock was held left no transaction open (rusqlite
    /// rolls back on drop), so the connection is still sound.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn user_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

fn check_version(conn: &Connection, path: &Path) -> Result<u32> {
    let version = user_version(conn).map_err(|e| {
        Error::FailedPrecondition(format!("cannot open database {}: {e}", path.display()))
    })?;
    if version > SCHEMA_VERSION {
        return Err(Error::FailedPrecondition(format!(
            "database schema version {version} is newer than this build supports \
             ({SCHEMA_VERSION}); run a newer breakeven or point --db at another file ({})",
            path.display()
        )));
    }
    Ok(version)
}

/// Applies the missing migrations, each in its own transaction together
/// with its version bump. The version is read again inside the write lock,
/// so two processes starting at once apply each step once.
fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let version = check_version(&tx, path)?;
        let Some(sql) = MIGRATIONS.get(version as usize) else {
            return Ok(());
        };
        tx.execute_batch(sql)
            .map_err(|e| Error::Internal(format!("migration {} failed: {e}", version + 1)))?;
        tx.pragma_update(None, "user_version", version + 1)
            .map_err(db)?;
        tx.commit().map_err(db)?;
        tracing::info!(version = version + 1, "database schema migrated");
    }
}

/// Maps SQLite failures to the domain: contention and a full or failing
/// disk are UNAVAILABLE with the reason (the transaction was rolled back);
/// anything else is a fault of ours.
fn db(e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Error::Unavailable(format!(
            "the database is locked by another writer ({e}); nothing was written, retry later"
        )),
        Some(ErrorCode::DiskFull) => Error::Unavailable(format!(
            "the database or disk is full ({e}); nothing was written"
        )),
        Some(ErrorCode::ReadOnly) => Error::Unavailable(format!(
            "the database is read-only ({e}); nothing was written"
        )),
        Some(ErrorCode::SystemIoFailure) => Error::Unavailable(format!(
            "the database hit a disk I/O error ({e}); nothing was written"
        )),
        _ => Error::Internal(format!("database: {e}")),
    }
}

fn tags_json(tags: &[String]) -> Result<String> {
    serde_json::to_string(tags).map_err(|e| Error::Internal(format!("encoding tags: {e}")))
}

fn scenario_row(row: &Row<'_>) -> rusqlite::Result<StoredScenario> {
    Ok(StoredScenario {
        id: row.get(0)?,
        name: row.get(1)?,
        team: row.get(2)?,
        tags: parse_tags(row, 3)?,
        description: row.get(4)?,
        revision: row.get(5)?,
        created_at: row.get(6)?,
        updated_at: row.get(7)?,
        last_run_at: row.get(8)?,
        body: row.get(9)?,
    })
}

fn parse_tags(row: &Row<'_>, index: usize) -> rusqlite::Result<Vec<String>> {
    let text: String = row.get(index)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn load(conn: &Connection, id: &str) -> Result<StoredScenario> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM scenarios s WHERE s.id = ?1"
    ))
    .and_then(|mut stmt| stmt.query_row([id], scenario_row).optional())
    .map_err(db)?
    .ok_or_else(|| not_found(id))
}

/// Writes `s` as its revision `s.revision`: the row, its tags and the copy
/// in `scenario_revisions`.
fn write(conn: &Connection, s: &StoredScenario) -> Result<()> {
    let tags = tags_json(&s.tags)?;
    conn.prepare_cached(
        "INSERT INTO scenarios (id, name, team, tags, description, revision, created_at, \
                                updated_at, last_run_at, body) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, team = excluded.team, \
             tags = excluded.tags, description = excluded.description, \
             revision = excluded.revision, updated_at = excluded.updated_at, \
             body = excluded.body",
    )
    .and_then(|mut stmt| {
        stmt.execute(rusqlite::params![
            s.id,
            s.name,
            s.team,
            tags,
            s.description,
            s.revision,
            s.created_at,
            s.updated_at,
            s.last_run_at,
            s.body,
        ])
    })
    .map_err(db)?;
    conn.prepare_cached("DELETE FROM scenario_tags WHERE scenario_id = ?1")
        .and_then(|mut stmt| stmt.execute([&s.id]))
        .map_err(db)?;
    let mut insert_tag = conn
        .prepare_cached("INSERT INTO scenario_tags (tag, scenario_id) VALUES (?1, ?2)")
        .map_err(db)?;
    for tag in &s.tags {
        insert_tag.execute([tag, &s.id]).map_err(db)?;
    }
    conn.prepare_cached(
        "INSERT INTO scenario_revisions (scenario_id, revision, name, team, tags, description, \
                                         created_at, body) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .and_then(|mut stmt| {
        stmt.execute(rusqlite::params![
            s.id,
            s.revision,
            s.name,
            s.team,
            tags,
            s.description,
            s.updated_at,
            s.body,
        ])
    })
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

impl Backend for Sqlite {
    fn create(&self, id: &str, fields: &ScenarioFields, now: i64) -> Result<StoredScenario> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
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
        // A repeated id would turn this insert into an update; refuse it.
        let taken: bool = tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM scenarios WHERE id = ?1)")
            .and_then(|mut stmt| stmt.query_row([id], |row| row.get(0)))
            .map_err(db)?;
        if taken {
            return Err(Error::Internal(format!("scenario id {id} already taken")));
        }
        write(&tx, &s)?;
        tx.commit().map_err(db)?;
        Ok(s)
    }

    fn get(&self, id: &str) -> Result<StoredScenario> {
        load(&self.conn(), id)
    }

    fn list(&self, query: &ListQuery) -> Result<Page<StoredScenario>> {
        // The text is assembled only from fixed fragments; every value the
        // caller sent is a bound parameter.
        let mut conditions = Vec::new();
        let mut params: Vec<Value> = Vec::new();
        if !query.name_contains.is_empty() {
            params.push(Value::Text(contains_pattern(&query.name_contains)));
            conditions.push(format!("s.name LIKE ?{} ESCAPE '\\'", params.len()));
        }
        if !query.tag.is_empty() {
            params.push(Value::Text(query.tag.clone()));
            conditions.push(format!(
                "s.id IN (SELECT scenario_id FROM scenario_tags WHERE tag = ?{})",
                params.len()
            ));
        }
        if !query.team.is_empty() {
            params.push(Value::Text(query.team.clone()));
            conditions.push(format!("s.team = ?{}", params.len()));
        }
        if let Some(after) = query.created_after {
            params.push(Value::Integer(after));
            conditions.push(format!("s.created_at > ?{}", params.len()));
        }
        if let Some(before) = query.created_before {
            params.push(Value::Integer(before));
            conditions.push(format!("s.created_at < ?{}", params.len()));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        let column = match query.order.key {
            OrderKey::Name => "s.name",
            OrderKey::CreateTime => "s.created_at",
            OrderKey::LastRunTime => "s.last_run_at",
        };
        let direction = if query.order.descending {
            "DESC"
        } else {
            "ASC"
        };

        let conn = self.conn();
        // Count and page in one read transaction, so they agree.
        let tx = conn.unchecked_transaction().map_err(db)?;
        let total: i64 = tx
            .prepare_cached(&format!("SELECT COUNT(*) FROM scenarios s{filter}"))
            .and_then(|mut stmt| {
                stmt.query_row(rusqlite::params_from_iter(&params), |row| row.get(0))
            })
            .map_err(db)?;
        let window = params.len();
        params.push(Value::Integer(i64::from(query.limit)));
        params.push(Value::Integer(
            i64::try_from(query.offset).unwrap_or(i64::MAX),
        ));
        let sql = format!(
            "SELECT {COLUMNS} FROM scenarios s{filter} \
             ORDER BY {column} {direction}, s.id {direction} \
             LIMIT ?{} OFFSET ?{}",
            window + 1,
            window + 2
        );
        let items = tx
            .prepare_cached(&sql)
            .and_then(|mut stmt| {
                stmt.query_map(rusqlite::params_from_iter(&params), scenario_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(Page {
            items,
            total: total.max(0) as u64,
        })
    }

    fn update(
        &self,
        id: &str,
        fields: &ScenarioFields,
        expected: &Expected,
        now: i64,
    ) -> Result<StoredScenario> {
        let mut conn = self.conn();
        // IMMEDIATE takes the write lock before reading, so no other
        // process can save between the check and the write.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let current = load(&tx, id)?;
        expected.check(&current)?;
        let next = StoredScenario {
            name: fields.name.clone(),
            team: fields.team.clone(),
            tags: fields.tags.clone(),
            description: fields.description.clone(),
            revision: current.revision + 1,
            // Keep updated_at increasing so each etag is new even when two
            // saves fall in the same millisecond.
            updated_at: now.max(current.updated_at + 1),
            body: fields.body.clone(),
            ..current
        };
        write(&tx, &next)?;
        tx.commit().map_err(db)?;
        Ok(next)
    }

    fn delete(&self, id: &str, expected: &Expected) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let current = load(&tx, id)?;
        expected.check(&current)?;
        // Tags and revisions go with it (ON DELETE CASCADE).
        tx.prepare_cached("DELETE FROM scenarios WHERE id = ?1")
            .and_then(|mut stmt| stmt.execute([id]))
            .map_err(db)?;
        tx.commit().map_err(db)
    }

    fn revisions(&self, id: &str, offset: u64, limit: u32) -> Result<Page<Revision>> {
        let conn = self.conn();
        let tx = conn.unchecked_transaction().map_err(db)?;
        let total: i64 = tx
            .prepare_cached("SELECT revision FROM scenarios WHERE id = ?1")
            .and_then(|mut stmt| stmt.query_row([id], |row| row.get(0)).optional())
            .map_err(db)?
            .ok_or_else(|| not_found(id))?;
        let items = tx
            .prepare_cached(
                "SELECT scenario_id, revision, name, team, tags, description, created_at, body \
                 FROM scenario_revisions WHERE scenario_id = ?1 \
                 ORDER BY revision DESC LIMIT ?2 OFFSET ?3",
            )
            .and_then(|mut stmt| {
                stmt.query_map(
                    rusqlite::params![
                        id,
                        i64::from(limit),
                        i64::try_from(offset).unwrap_or(i64::MAX)
                    ],
                    |row| {
                        Ok(Revision {
                            scenario_id: row.get(0)?,
                            revision: row.get(1)?,
                            name: row.get(2)?,
                            team: row.get(3)?,
                            tags: parse_tags(row, 4)?,
                            description: row.get(5)?,
                            created_at: row.get(6)?,
                            body: row.get(7)?,
                        })
                    },
                )?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(Page {
            items,
            total: total.max(0) as u64,
        })
    }

    fn save_calibration(&self, c: &Calibration, now: i64) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        tx.prepare_cached(
            "INSERT INTO calibrations (name, bandwidth_scale, compute_scale, \
                 allreduce_latency_s, expected_error, points, saved_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT (name) DO UPDATE SET bandwidth_scale = ?2, compute_scale = ?3, \
                 allreduce_latency_s = ?4, expected_error = ?5, points = ?6, saved_at = ?7",
        )
        .and_then(|mut stmt| {
            stmt.execute(rusqlite::params![
                c.name,
                c.tuning.bandwidth_scale,
                c.tuning.compute_scale,
                c.tuning.allreduce_latency_s,
                c.expected_error,
                c.points as i64,
                now
            ])
        })
        .map_err(db)?;
        bump_epoch(&tx)?;
        tx.commit().map_err(db)
    }

    fn calibrations(&self) -> Result<Vec<Calibration>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT name, bandwidth_scale, compute_scale, allreduce_latency_s, \
                 expected_error, points FROM calibrations ORDER BY name",
            )
            .map_err(db)?;
        let rows = stmt
            .query_map([], |row| {
                Ok(Calibration {
                    name: row.get(0)?,
                    tuning: Tuning {
                        bandwidth_scale: row.get(1)?,
                        compute_scale: row.get(2)?,
                        allreduce_latency_s: row.get(3)?,
                    },
                    expected_error: row.get(4)?,
                    points: row.get::<_, i64>(5)? as usize,
                })
            })
            .map_err(db)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
    }

    fn record_run(&self, id: &str, now: i64) -> Result<()> {
        let changed = self
            .conn()
            .prepare_cached("UPDATE scenarios SET last_run_at = ?2 WHERE id = ?1")
            .and_then(|mut stmt| stmt.execute(rusqlite::params![id, now]))
            .map_err(db)?;
        if changed == 0 {
            return Err(not_found(id));
        }
        Ok(())
    }

    fn insert_run(&self, run: &StoredRun) -> Result<()> {
        self.insert_run_tx(run)
    }

    fn get_run(&self, id: &str) -> Result<StoredRun> {
        self.get_run_row(id)
    }

    fn list_runs(&self, query: &RunQuery) -> Result<Page<StoredRun>> {
        self.list_run_rows(query)
    }

    fn scenario_exists(&self, id: &str) -> Result<()> {
        runs::scenario_exists(&self.conn(), id)
    }

    fn create_job(&self, id: &str, job: &NewJob, now: i64) -> Result<StoredJob> {
        self.create_job_tx(id, job, now)
    }

    fn get_job(&self, id: &str, with_items: bool) -> Result<StoredJob> {
        self.get_job_row(id, with_items)
    }

    fn list_jobs(&self, team: &str, offset: u64, limit: u32) -> Result<Page<StoredJob>> {
        self.list_job_rows(team, offset, limit)
    }

    fn open_jobs(&self) -> Result<u32> {
        self.open_job_count()
    }

    fn cancel_job(&self, id: &str, now: i64) -> Result<StoredJob> {
        self.cancel_job_tx(id, now)
    }

    fn claim_items(&self, lease: &Lease, limit: u32) -> Result<Vec<PendingItem>> {
        self.claim_item_rows(lease, limit)
    }

    fn heartbeat(&self, lease: &Lease, held: &[LeaseKey]) -> Result<Vec<LeaseKey>> {
        self.heartbeat_rows(lease, held)
    }

    fn release_leases(&self, owner: Option<&str>) -> Result<u32> {
        self.release_lease_rows(owner)
    }

    fn finish_item(&self, item: &LeaseKey, result: &ItemResult, now: i64) -> Result<bool> {
        self.finish_item_tx(item, result, now)
    }

    fn store_epoch(&self) -> Result<i64> {
        self.conn()
            .query_row("SELECT epoch FROM store_epoch WHERE id = 1", [], |row| {
                row.get(0)
            })
            .map_err(db)
    }

    fn export_rows(
        &self,
        table: super::copy::Table,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<super::copy::Record>> {
        self.export_table(table, offset, limit)
    }

    fn import_rows(
        &self,
        next: &mut dyn FnMut() -> Result<Option<Vec<super::copy::Record>>>,
    ) -> Result<()> {
        self.import_all(next)
    }

    fn ping(&self) -> Result<()> {
        self.conn()
            .query_row("SELECT 1", [], |_| Ok(()))
            .map_err(db)
    }

    fn custom_entries(&self) -> Result<Vec<CustomEntry>> {
        self.custom_rows()
    }

    fn custom_entry(&self, kind: &str, name: &str) -> Result<CustomEntry> {
        self.custom_row(kind, name)
    }

    fn put_custom_entry(
        &self,
        entry: &CustomEntry,
        create: bool,
        expected_revision: Option<u32>,
        now: i64,
    ) -> Result<CustomEntry> {
        self.put_custom_row(entry, create, expected_revision, now)
    }

    fn delete_custom_entry(&self, kind: &str, name: &str) -> Result<()> {
        self.delete_custom_row(kind, name)
    }

    fn imported_prices(&self) -> Result<Vec<ImportedPrice>> {
        self.imported_rows()
    }

    fn put_imported_prices(&self, prices: &[ImportedPrice], now: i64) -> Result<()> {
        self.put_imported_rows(prices, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh file under the temp dir, removed (with its WAL) on drop.
    struct TempDb(PathBuf);

    impl TempDb {
        fn new(name: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "breakeven-store-{name}-{}-{}.db",
                std::process::id(),
                super::super::now_ms()
            ));
            Self(path)
        }
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
            }
        }
    }

    fn fields(name: &str, tags: &[&str]) -> ScenarioFields {
        ScenarioFields {
            name: name.into(),
            team: "ml".into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            description: String::new(),
            body: vec![1, 2, 3],
        }
    }

    fn pragma<T: rusqlite::types::FromSql>(db: &Sqlite, name: &str) -> T {
        db.conn()
            .pragma_query_value(None, name, |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn opens_in_wal_mode_with_foreign_keys_and_a_busy_timeout() {
        let file = TempDb::new("pragmas");
        let db = Sqlite::open(&file.0, SqliteOptions::default()).unwrap();
        assert_eq!(pragma::<String>(&db, "journal_mode"), "wal");
        assert_eq!(pragma::<i64>(&db, "foreign_keys"), 1);
        assert_eq!(pragma::<i64>(&db, "busy_timeout"), 5000);
        assert_eq!(pragma::<u32>(&db, "user_version"), SCHEMA_VERSION);
    }

    #[test]
    fn migrations_are_idempotent() {
        let file = TempDb::new("migrate");
        let db = Sqlite::open(&file.0, SqliteOptions::default()).unwrap();
        let s = db.create("scn_a", &fields("a", &["x"]), 1).unwrap();
        drop(db);
        for _ in 0..2 {
            let db = Sqlite::open(&file.0, SqliteOptions::default()).unwrap();
            assert_eq!(pragma::<u32>(&db, "user_version"), SCHEMA_VERSION);
            assert_eq!(db.get("scn_a").unwrap(), s);
            let mut conn = db.conn();
            migrate(&mut conn, &file.0).unwrap();
        }
    }

    #[test]
    fn an_older_file_is_upgraded_in_place() {
        let file = TempDb::new("upgrade");
        // A file from before any migration: some other table, version 0.
        let conn = Connection::open(&file.0).unwrap();
        conn.execute_batch("CREATE TABLE unrelated (x INTEGER)")
            .unwrap();
        drop(conn);
        let db = Sqlite::open(&file.0, SqliteOptions::default()).unwrap();
        assert_eq!(pragma::<u32>(&db, "user_version"), SCHEMA_VERSION);
        db.create("scn_a", &fields("a", &[]), 1).unwrap();
    }

    #[test]
    fn a_newer_file_is_refused_untouched() {
        let file = TempDb::new("newer");
        let conn = Connection::open(&file.0).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(conn);
        let err = Sqlite::open(&file.0, SqliteOptions::default()).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("is newer than this build supports"),
            "{message}"
        );
        let conn = Connection::open(&file.0).unwrap();
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "delete", "journal mode changed on a refused file");
    }

    #[test]
    fn deleting_removes_tags_and_revisions() {
        let file = TempDb::new("cascade");
        let db = Sqlite::open(&file.0, SqliteOptions::default()).unwrap();
        db.create("scn_a", &fields("a", &["x", "y"]), 1).unwrap();
        db.update("scn_a", &fields("a", &["z"]), &Expected::default(), 2)
            .unwrap();
        db.delete("scn_a", &Expected::default()).unwrap();
        let count = |table: &str| -> i64 {
            db.conn()
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(count("scenario_tags"), 0);
        assert_eq!(count("scenario_revisions"), 0);
        assert!(matches!(db.get("scn_a"), Err(Error::NotFound(_))));
    }

    #[test]
    fn wildcards_in_a_name_filter_match_literally() {
        let file = TempDb::new("like");
        let db = Sqlite::open(&file.0, SqliteOptions::default()).unwrap();
        for (id, name) in [("scn_1", "50% off"), ("scn_2", "500 off"), ("scn_3", "a_b")] {
            db.create(id, &fields(name, &[]), 1).unwrap();
        }
        let names = |text: &str| -> Vec<String> {
            db.list(&ListQuery {
                name_contains: text.into(),
                limit: 10,
                ..Default::default()
            })
            .unwrap()
            .items
            .into_iter()
            .map(|s| s.name)
            .collect()
        };
        assert_eq!(names("0%"), ["50% off"]);
        assert_eq!(names("_"), ["a_b"]);
        assert_eq!(names("OFF").len(), 2);
    }

    #[test]
    fn a_full_disk_is_unavailable_and_writes_nothing() {
        let file = TempDb::new("full");
        let db = Sqlite::open(&file.0, SqliteOptions::default()).unwrap();
        db.create("scn_a", &fields("a", &["x"]), 1).unwrap();
        // Cap the file at its current size: the next page it needs fails
        // as SQLITE_FULL, as a full disk would.
        let pages: i64 = pragma(&db, "page_count");
        db.conn()
            .pragma_update(None, "max_page_count", pages)
            .unwrap();
        let big = ScenarioFields {
            body: vec![7; 1 << 20],
            ..fields("a", &["y"])
        };
        let err = db
            .update("scn_a", &big, &Expected::default(), 2)
            .unwrap_err();
        assert!(
            matches!(&err, Error::Unavailable(m) if m.contains("full")),
            "{err:?}"
        );
        let err = db.create("scn_b", &big, 2).unwrap_err();
        assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
        let s = db.get("scn_a").unwrap();
        assert_eq!((s.revision, s.tags), (1, vec!["x".to_string()]));
        assert!(matches!(db.get("scn_b"), Err(Error::NotFound(_))));
    }

    #[test]
    fn a_lock_held_elsewhere_is_unavailable_and_writes_nothing() {
        let file = TempDb::new("busy");
        let options = SqliteOptions {
            busy_timeout: Duration::from_millis(50),
        };
        let db = Sqlite::open(&file.0, options).unwrap();
        db.create("scn_a", &fields("a", &[]), 1).unwrap();
        let other = Connection::open(&file.0).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let err = db
            .update("scn_a", &fields("b", &[]), &Expected::default(), 2)
            .unwrap_err();
        assert!(
            matches!(&err, Error::Unavailable(m) if m.contains("locked")),
            "{err:?}"
        );
        other.execute_batch("ROLLBACK").unwrap();
        assert_eq!(db.get("scn_a").unwrap().name, "a");
    }

    #[test]
    fn integrity_check_passes_after_writes() {
        let file = TempDb::new("integrity");
        let db = Sqlite::open(&file.0, SqliteOptions::default()).unwrap();
        for i in 0..50 {
            db.create(&format!("scn_{i}"), &fields("n", &["t"]), i)
                .unwrap();
        }
        assert_eq!(pragma::<String>(&db, "integrity_check"), "ok");
        let orphans: i64 = db
            .conn()
            .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(orphans, 0);
    }
}
