//! SQL of kept runs.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row};

use super::{Sqlite, db};
use crate::error::Result;
use crate::store::runs::{RunQuery, StoredRun, run_not_found};
use crate::store::{Page, not_found};

const COLUMNS: &str = "id, scenario_id, scenario_revision, team, kind, created_at, job_id, \
                       engine_version, catalog_version, key_figures";

fn run_row(row: &Row<'_>) -> rusqlite::Result<StoredRun> {
    Ok(StoredRun {
        id: row.get(0)?,
        scenario_id: row.get(1)?,
        scenario_revision: row.get(2)?,
        team: row.get(3)?,
        kind: row.get(4)?,
        created_at: row.get(5)?,
        job_id: row.get(6)?,
        engine_version: row.get(7)?,
        catalog_version: row.get(8)?,
        key_figures: row.get(9)?,
        inputs: Vec::new(),
        output: Vec::new(),
    })
}

/// Inserts `run` and notes the run on its scenario, if that still exists
/// (a deleted scenario's runs are kept: they carry their inputs).
pub(super) fn insert(conn: &Connection, run: &StoredRun) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO runs (id, scenario_id, scenario_revision, team, kind, created_at, job_id, \
                           engine_version, catalog_version, key_figures, inputs, output) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )
    .and_then(|mut stmt| {
        stmt.execute(rusqlite::params![
            run.id,
            run.scenario_id,
            run.scenario_revision,
            run.team,
            run.kind,
            run.created_at,
            run.job_id,
            run.engine_version,
            run.catalog_version,
            run.key_figures,
            run.inputs,
            run.output,
        ])
    })
    .map_err(db)?;
    conn.prepare_cached(
        "UPDATE scenarios SET last_run_at = max(coalesce(last_run_at, 0), ?2) WHERE id = ?1",
    )
    .and_then(|mut stmt| stmt.execute(rusqlite::params![run.scenario_id, run.created_at]))
    .map_err(db)?;
    Ok(())
}

impl Sqlite {
    pub(super) fn insert_run_tx(&self, run: &StoredRun) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(db)?;
        insert(&tx, run)?;
        tx.commit().map_err(db)
    }

    pub(super) fn get_run_row(&self, id: &str) -> Result<StoredRun> {
        let conn = self.conn();
        conn.prepare_cached(&format!(
            "SELECT {COLUMNS}, inputs, output FROM runs WHERE id = ?1"
        ))
        .and_then(|mut stmt| {
            stmt.query_row([id], |row| {
                let mut run = run_row(row)?;
                run.inputs = row.get(10)?;
                run.output = row.get(11)?;
                Ok(run)
            })
            .optional()
        })
        .map_err(db)?
        .ok_or_else(|| run_not_found(id))
    }

    pub(super) fn list_run_rows(&self, query: &RunQuery) -> Result<Page<StoredRun>> {
        // Fixed fragments only; every value is a bound parameter.
        let mut conditions = Vec::new();
        let mut params: Vec<Value> = Vec::new();
        for (column, value) in [
            ("scenario_id", &query.scenario_id),
            ("job_id", &query.job_id),
            ("kind", &query.kind),
            ("team", &query.team),
        ] {
            if !value.is_empty() {
                params.push(Value::Text(value.clone()));
                conditions.push(format!("{column} = ?{}", params.len()));
            }
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        let conn = self.conn();
        let tx = conn.unchecked_transaction().map_err(db)?;
        let total: i64 = tx
            .prepare_cached(&format!("SELECT COUNT(*) FROM runs{filter}"))
            .and_then(|mut stmt| {
                stmt.query_row(rusqlite::params_from_iter(&params), |row| row.get(0))
            })
            .map_err(db)?;
        let n = params.len();
        params.push(Value::Integer(i64::from(query.limit)));
        params.push(Value::Integer(
            i64::try_from(query.offset).unwrap_or(i64::MAX),
        ));
        let items = tx
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM runs{filter} ORDER BY created_at DESC, id DESC \
                 LIMIT ?{} OFFSET ?{}",
                n + 1,
                n + 2
            ))
            .and_then(|mut stmt| {
                stmt.query_map(rusqlite::params_from_iter(&params), run_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(Page {
            items,
            total: total.max(0) as u64,
        })
    }
}

/// Checks that a scenario exists, for callers that must refuse unknown ids.
pub(super) fn scenario_exists(conn: &Connection, id: &str) -> Result<()> {
    let found: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM scenarios WHERE id = ?1)")
        .and_then(|mut stmt| stmt.query_row([id], |row| row.get(0)))
        .map_err(db)?;
    if found { Ok(()) } else { Err(not_found(id)) }
}
