//! SQL of batch jobs and their items.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::{Sqlite, db};
use crate::error::{Error, Result};
use crate::store::Page;
use crate::store::jobs::{
    ItemResult, ItemState, NewJob, PendingItem, StoredItem, StoredJob, job_not_found,
};

const JOB_COLUMNS: &str = "j.id, j.name, j.team, j.cancelled, j.created_at, j.updated_at, \
     (SELECT COUNT(*) FROM job_items i WHERE i.job_id = j.id), \
     (SELECT COUNT(*) FROM job_items i WHERE i.job_id = j.id AND i.state = 'pending'), \
     (SELECT COUNT(*) FROM job_items i WHERE i.job_id = j.id AND i.state = 'succeeded'), \
     (SELECT COUNT(*) FROM job_items i WHERE i.job_id = j.id AND i.state = 'failed'), \
     (SELECT COUNT(*) FROM job_items i WHERE i.job_id = j.id AND i.state = 'cancelled')";

fn job_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredJob> {
    Ok(StoredJob {
        id: row.get(0)?,
        name: row.get(1)?,
        team: row.get(2)?,
        cancelled: row.get(3)?,
        created_at: row.get(4)?,
        updated_at: row.get(5)?,
        total: row.get(6)?,
        pending: row.get(7)?,
        succeeded: row.get(8)?,
        failed: row.get(9)?,
        cancelled_items: row.get(10)?,
        items: Vec::new(),
    })
}

fn load(conn: &Connection, id: &str, with_items: bool) -> Result<StoredJob> {
    let mut job = conn
        .prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs j WHERE j.id = ?1"))
        .and_then(|mut stmt| stmt.query_row([id], job_row).optional())
        .map_err(db)?
        .ok_or_else(|| job_not_found(id))?;
    if with_items {
        let mut stmt = conn
            .prepare_cached(
                "SELECT idx, label, state, run_id, error FROM job_items \
                 WHERE job_id = ?1 ORDER BY idx",
            )
            .map_err(db)?;
        job.items = stmt
            .query_map([id], |row| {
                let state: String = row.get(2)?;
                Ok(StoredItem {
                    index: row.get(0)?,
                    label: row.get(1)?,
                    state: ItemState::parse(&state).unwrap_or(ItemState::Failed),
                    run_id: row.get(3)?,
                    error: row.get(4)?,
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(db)?;
    }
    Ok(job)
}

impl Sqlite {
    pub(super) fn create_job_tx(&self, id: &str, job: &NewJob, now: i64) -> Result<StoredJob> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        tx.prepare_cached(
            "INSERT INTO jobs (id, name, team, options, cancelled, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, 0, ?5, ?5)",
        )
        .and_then(|mut stmt| {
            stmt.execute(rusqlite::params![id, job.name, job.team, job.options, now])
        })
        .map_err(db)?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO job_items (job_id, idx, label, scenario_id, scenario_revision, \
                                            scenario, state) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending')",
                )
                .map_err(db)?;
            for (index, item) in job.items.iter().enumerate() {
                insert
                    .execute(rusqlite::params![
                        id,
                        index as i64,
                        item.label,
                        item.scenario_id,
                        item.scenario_revision,
                        item.scenario,
                    ])
                    .map_err(db)?;
            }
        }
        let stored = load(&tx, id, false)?;
        tx.commit().map_err(db)?;
        Ok(stored)
    }

    pub(super) fn get_job_row(&self, id: &str, with_items: bool) -> Result<StoredJob> {
        let conn = self.conn();
        let tx = conn.unchecked_transaction().map_err(db)?;
        let job = load(&tx, id, with_items)?;
        tx.commit().map_err(db)?;
        Ok(job)
    }

    pub(super) fn list_job_rows(
        &self,
        team: &str,
        offset: u64,
        limit: u32,
    ) -> Result<Page<StoredJob>> {
        let conn = self.conn();
        let tx = conn.unchecked_transaction().map_err(db)?;
        // ?1 is the team, or empty for every team.
        let total: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM jobs WHERE ?1 = '' OR team = ?1",
                [team],
                |row| row.get(0),
            )
            .map_err(db)?;
        let items = tx
            .prepare_cached(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs j WHERE ?1 = '' OR j.team = ?1 \
                 ORDER BY j.created_at DESC, j.id DESC LIMIT ?2 OFFSET ?3"
            ))
            .and_then(|mut stmt| {
                stmt.query_map(
                    rusqlite::params![
                        team,
                        i64::from(limit),
                        i64::try_from(offset).unwrap_or(i64::MAX)
                    ],
                    job_row,
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

    pub(super) fn open_job_count(&self) -> Result<u32> {
        self.conn()
            .query_row(
                "SELECT COUNT(DISTINCT job_id) FROM job_items WHERE state = 'pending'",
                [],
                |row| row.get(0),
            )
            .map_err(db)
    }

    pub(super) fn cancel_job_tx(&self, id: &str, now: i64) -> Result<StoredJob> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let job = load(&tx, id, false)?;
        if !job.finished() {
            tx.prepare_cached("UPDATE jobs SET cancelled = 1, updated_at = ?2 WHERE id = ?1")
                .and_then(|mut stmt| stmt.execute(rusqlite::params![id, now]))
                .map_err(db)?;
            tx.prepare_cached(
                "UPDATE job_items SET state = 'cancelled' WHERE job_id = ?1 AND state = 'pending'",
            )
            .and_then(|mut stmt| stmt.execute([id]))
            .map_err(db)?;
        }
        let job = load(&tx, id, true)?;
        tx.commit().map_err(db)?;
        Ok(job)
    }

    pub(super) fn pending_item_rows(
        &self,
        limit: u32,
        skip: &[(String, u32)],
    ) -> Result<Vec<PendingItem>> {
        let conn = self.conn();
        // Oldest job first, items in order. `skip` (the items running in
        // this process) is short: at most the runner's concurrency.
        let mut stmt = conn
            .prepare_cached(
                "SELECT i.job_id, i.idx, j.team, i.scenario_id, i.scenario_revision, \
                        i.scenario, j.options \
                 FROM job_items i JOIN jobs j ON j.id = i.job_id \
                 WHERE i.state = 'pending' \
                 ORDER BY j.created_at, i.job_id, i.idx LIMIT ?1",
            )
            .map_err(db)?;
        let wanted = i64::from(limit) + skip.len() as i64;
        let rows = stmt
            .query_map([wanted], |row| {
                Ok(PendingItem {
                    job_id: row.get(0)?,
                    index: row.get(1)?,
                    team: row.get(2)?,
                    scenario_id: row.get(3)?,
                    scenario_revision: row.get(4)?,
                    scenario: row.get(5)?,
                    options: row.get(6)?,
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(db)?;
        Ok(rows
            .into_iter()
            .filter(|p| !skip.iter().any(|(j, i)| *j == p.job_id && *i == p.index))
            .take(limit as usize)
            .collect())
    }

    pub(super) fn finish_item_tx(
        &self,
        job_id: &str,
        index: u32,
        result: &ItemResult,
        now: i64,
    ) -> Result<bool> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let state: Option<String> = tx
            .prepare_cached("SELECT state FROM job_items WHERE job_id = ?1 AND idx = ?2")
            .and_then(|mut stmt| {
                stmt.query_row(rusqlite::params![job_id, index], |row| row.get(0))
                    .optional()
            })
            .map_err(db)?;
        match state.as_deref() {
            None => return Err(job_not_found(job_id)),
            Some("pending") => {}
            // Cancelled meanwhile, or finished by another process.
            Some(_) => return Ok(false),
        }
        let (state, run_id, error) = match result {
            ItemResult::Succeeded(run) => {
                if run.job_id.as_deref() != Some(job_id) {
                    return Err(Error::Internal(format!(
                        "run {} does not belong to job {job_id}",
                        run.id
                    )));
                }
                super::runs::insert(&tx, run)?;
                ("succeeded", Some(run.id.as_str()), "")
            }
            ItemResult::Failed(reason) => ("failed", None, reason.as_str()),
        };
        tx.prepare_cached(
            "UPDATE job_items SET state = ?3, run_id = ?4, error = ?5 \
             WHERE job_id = ?1 AND idx = ?2",
        )
        .and_then(|mut stmt| stmt.execute(rusqlite::params![job_id, index, state, run_id, error]))
        .map_err(db)?;
        tx.prepare_cached("UPDATE jobs SET updated_at = max(updated_at, ?2) WHERE id = ?1")
            .and_then(|mut stmt| stmt.execute(rusqlite::params![job_id, now]))
            .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(true)
    }
}
