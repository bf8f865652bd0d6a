//! SQL of batch jobs and their items.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::{NOW_MS, Sqlite, db};
use crate::error::{Error, Result};
use crate::store::Page;
use crate::store::jobs::{
    ItemResult, ItemState, Lease, LeaseKey, NewJob, PendingItem, StoredItem, StoredJob,
    job_not_found,
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
                "UPDATE job_items SET state = 'cancelled', lease_owner = NULL, lease_until = NULL \
                 WHERE job_id = ?1 AND state = 'pending'",
            )
            .and_then(|mut stmt| stmt.execute([id]))
            .map_err(db)?;
        }
        let job = load(&tx, id, true)?;
        tx.commit().map_err(db)?;
        Ok(job)
    }

    pub(super) fn claim_item_rows(&self, lease: &Lease, limit: u32) -> Result<Vec<PendingItem>> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        // Items whose last lease ran out fail, so they stop coming back.
        let failed = tx
            .prepare_cached(&format!(
                "UPDATE job_items SET state = 'failed', error = ?2, lease_owner = NULL, \
                     lease_until = NULL \
                 WHERE state = 'pending' AND attempt >= ?1 \
                   AND (lease_until IS NULL OR lease_until < {NOW_MS}) \
                 RETURNING job_id"
            ))
            .and_then(|mut stmt| {
                stmt.query_map(
                    rusqlite::params![lease.max_attempts, lease.abandoned()],
                    |row| row.get::<_, String>(0),
                )?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(db)?;
        for job in failed {
            touch(&tx, &job)?;
        }
        // Oldest job first, items in order; one writer at a time, so the
        // rows read here are the rows updated.
        let claimed = tx
            .prepare_cached(&format!(
                "UPDATE job_items SET attempt = attempt + 1, lease_owner = ?1, \
                     lease_until = {NOW_MS} + ?2 \
                 WHERE (job_id, idx) IN ( \
                     SELECT i.job_id, i.idx FROM job_items i JOIN jobs j ON j.id = i.job_id \
                     WHERE i.state = 'pending' AND i.attempt < ?3 \
                       AND (i.lease_until IS NULL OR i.lease_until < {NOW_MS}) \
                     ORDER BY j.created_at, i.job_id, i.idx LIMIT ?4) \
                 RETURNING job_id, idx"
            ))
            .and_then(|mut stmt| {
                stmt.query_map(
                    rusqlite::params![
                        lease.owner,
                        lease.ttl_ms(),
                        lease.max_attempts,
                        i64::from(limit)
                    ],
                    |row| Ok((row.get::<_, String>(0)?, row.get::<_, u32>(1)?)),
                )?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(db)?;
        let mut items = Vec::with_capacity(claimed.len());
        {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT i.job_id, i.idx, i.attempt, j.team, i.scenario_id, \
                            i.scenario_revision, i.scenario, j.options, j.created_at \
                     FROM job_items i JOIN jobs j ON j.id = i.job_id \
                     WHERE i.job_id = ?1 AND i.idx = ?2",
                )
                .map_err(db)?;
            for (job, index) in claimed {
                let row = stmt
                    .query_row(rusqlite::params![job, index], |row| {
                        Ok((
                            PendingItem {
                                job_id: row.get(0)?,
                                index: row.get(1)?,
                                attempt: row.get(2)?,
                                team: row.get(3)?,
                                scenario_id: row.get(4)?,
                                scenario_revision: row.get(5)?,
                                scenario: row.get(6)?,
                                options: row.get(7)?,
                            },
                            row.get::<_, i64>(8)?,
                        ))
                    })
                    .map_err(db)?;
                items.push(row);
            }
        }
        tx.commit().map_err(db)?;
        items.sort_by(|(a, at), (b, bt)| (at, &a.job_id, a.index).cmp(&(bt, &b.job_id, b.index)));
        Ok(items.into_iter().map(|(item, _)| item).collect())
    }

    pub(super) fn heartbeat_rows(&self, lease: &Lease, held: &[LeaseKey]) -> Result<Vec<LeaseKey>> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let mut kept = Vec::with_capacity(held.len());
        {
            let mut stmt = tx
                .prepare_cached(&format!(
                    "UPDATE job_items SET lease_until = {NOW_MS} + ?5 \
                     WHERE job_id = ?1 AND idx = ?2 AND attempt = ?3 AND lease_owner = ?4 \
                       AND state = 'pending'"
                ))
                .map_err(db)?;
            for key in held {
                let changed = stmt
                    .execute(rusqlite::params![
                        key.job_id,
                        key.index,
                        key.attempt,
                        lease.owner,
                        lease.ttl_ms()
                    ])
                    .map_err(db)?;
                if changed == 1 {
                    kept.push(key.clone());
                }
            }
        }
        tx.commit().map_err(db)?;
        Ok(kept)
    }

    pub(super) fn release_lease_rows(&self, owner: Option<&str>) -> Result<u32> {
        let changed = self
            .conn()
            .prepare_cached(
                "UPDATE job_items SET lease_owner = NULL, lease_until = NULL, \
                     attempt = max(attempt - 1, 0) \
                 WHERE state = 'pending' AND lease_owner IS NOT NULL \
                   AND (?1 IS NULL OR lease_owner = ?1)",
            )
            .and_then(|mut stmt| stmt.execute([owner]))
            .map_err(db)?;
        Ok(u32::try_from(changed).unwrap_or(u32::MAX))
    }

    pub(super) fn finish_item_tx(
        &self,
        item: &LeaseKey,
        result: &ItemResult,
        now: i64,
    ) -> Result<bool> {
        let job_id = item.job_id.as_str();
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let found: Option<(String, u32)> = tx
            .prepare_cached("SELECT state, attempt FROM job_items WHERE job_id = ?1 AND idx = ?2")
            .and_then(|mut stmt| {
                stmt.query_row(rusqlite::params![job_id, item.index], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()
            })
            .map_err(db)?;
        match found {
            None => return Err(job_not_found(job_id)),
            Some((state, attempt)) if state == "pending" && attempt == item.attempt => {}
            // Cancelled meanwhile, finished by another runner, or claimed
            // again after this attempt's lease ran out.
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
            "UPDATE job_items SET state = ?3, run_id = ?4, error = ?5, lease_owner = NULL, \
                 lease_until = NULL \
             WHERE job_id = ?1 AND idx = ?2",
        )
        .and_then(|mut stmt| {
            stmt.execute(rusqlite::params![job_id, item.index, state, run_id, error])
        })
        .map_err(db)?;
        tx.prepare_cached("UPDATE jobs SET updated_at = max(updated_at, ?2) WHERE id = ?1")
            .and_then(|mut stmt| stmt.execute(rusqlite::params![job_id, now]))
            .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(true)
    }
}

/// Notes that a job changed now, for watchers.
fn touch(conn: &Connection, job_id: &str) -> Result<()> {
    conn.prepare_cached(&format!(
        "UPDATE jobs SET updated_at = max(updated_at, {NOW_MS}) WHERE id = ?1"
    ))
    .and_then(|mut stmt| stmt.execute([job_id]))
    .map_err(db)?;
    Ok(())
}
