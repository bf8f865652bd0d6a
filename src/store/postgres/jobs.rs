//! SQL of batch jobs, their items and the items' leases.
//!
//! A claim takes rows with `FOR UPDATE SKIP LOCKED`, so runners claiming
//! at once never wait on each other nor take the same item; every state
//! change of an item is fenced on `state = 'pending' AND attempt = $a`, so
//! a runner whose lease ran out can change nothing once another holds it.
//! Lease times are the database's clock (`now()`), never a replica's.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{Postgres, db, u32_of};
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

fn job_row(row: &Row) -> StoredJob {
    StoredJob {
        id: row.get(0),
        name: row.get(1),
        team: row.get(2),
        cancelled: row.get(3),
        created_at: row.get(4),
        updated_at: row.get(5),
        total: u32_of(row.get(6)),
        pending: u32_of(row.get(7)),
        succeeded: u32_of(row.get(8)),
        failed: u32_of(row.get(9)),
        cancelled_items: u32_of(row.get(10)),
        items: Vec::new(),
    }
}

async fn load(client: &impl GenericClient, id: &str, with_items: bool) -> Result<StoredJob> {
    let mut job = client
        .query_opt(
            format!("SELECT {JOB_COLUMNS} FROM jobs j WHERE j.id = $1").as_str(),
            &[&id],
        )
        .await
        .map_err(db)?
        .map(|row| job_row(&row))
        .ok_or_else(|| job_not_found(id))?;
    if with_items {
        let rows = client
            .query(
                "SELECT idx, label, state, run_id, error FROM job_items \
                 WHERE job_id = $1 ORDER BY idx",
                &[&id],
            )
            .await
            .map_err(db)?;
        job.items = rows
            .iter()
            .map(|row| StoredItem {
                index: row.get::<_, i32>(0) as u32,
                label: row.get(1),
                state: ItemState::parse(row.get(2)).unwrap_or(ItemState::Failed),
                run_id: row.get(3),
                error: row.get(4),
            })
            .collect();
    }
    Ok(job)
}

/// The lease key in the first three columns of a row: (job or run id,
/// item or slice index, attempt).
pub(super) fn lease_key(row: &Row) -> LeaseKey {
    LeaseKey {
        job_id: row.get(0),
        index: row.get::<_, i32>(1) as u32,
        attempt: row.get::<_, i32>(2) as u32,
    }
}

/// Lease time to live as seconds for `make_interval`.
fn ttl_secs(lease: &Lease) -> f64 {
    lease.ttl_ms() as f64 / 1000.0
}

fn index_of(index: u32) -> Result<i32> {
    i32::try_from(index).map_err(|_| Error::Internal(format!("item index {index} out of range")))
}

impl Postgres {
    pub(super) async fn create_job_tx(
        &self,
        id: &str,
        job: &NewJob,
        now: i64,
    ) -> Result<StoredJob> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        tx.execute(
            "INSERT INTO jobs (id, name, team, options, cancelled, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, false, $5, $5)",
            &[&id, &job.name, &job.team, &job.options, &now],
        )
        .await
        .map_err(db)?;
        let insert = tx
            .prepare_cached(
                "INSERT INTO job_items (job_id, idx, label, scenario_id, scenario_revision, \
                                        scenario, state) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'pending')",
            )
            .await
            .map_err(db)?;
        for (index, item) in job.items.iter().enumerate() {
            tx.execute(
                &insert,
                &[
                    &id,
                    &(index as i32),
                    &item.label,
                    &item.scenario_id,
                    &i64::from(item.scenario_revision),
                    &item.scenario,
                ],
            )
            .await
            .map_err(db)?;
        }
        let stored = load(&tx, id, false).await?;
        tx.commit().await.map_err(db)?;
        Ok(stored)
    }

    pub(super) async fn get_job_row(&self, id: &str, with_items: bool) -> Result<StoredJob> {
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(db)?;
        let job = load(&tx, id, with_items).await?;
        tx.commit().await.map_err(db)?;
        Ok(job)
    }

    pub(super) async fn list_job_rows(
        &self,
        team: &str,
        offset: u64,
        limit: u32,
    ) -> Result<Page<StoredJob>> {
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
                "SELECT COUNT(*) FROM jobs WHERE $1 = '' OR team = $1",
                &[&team],
            )
            .await
            .map_err(db)?
            .get(0);
        let rows = tx
            .query(
                format!(
                    "SELECT {JOB_COLUMNS} FROM jobs j WHERE $1 = '' OR j.team = $1 \
                     ORDER BY j.created_at DESC, j.id COLLATE \"C\" DESC LIMIT $2 OFFSET $3"
                )
                .as_str(),
                &[
                    &team,
                    &i64::from(limit),
                    &i64::try_from(offset).unwrap_or(i64::MAX),
                ],
            )
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(Page {
            items: rows.iter().map(job_row).collect(),
            total: total.max(0) as u64,
        })
    }

    pub(super) async fn open_job_count(&self) -> Result<u32> {
        let count: i64 = self
            .client()
            .await?
            .query_one(
                "SELECT COUNT(DISTINCT job_id) FROM job_items WHERE state = 'pending'",
                &[],
            )
            .await
            .map_err(db)?
            .get(0);
        Ok(u32_of(count))
    }

    pub(super) async fn cancel_job_tx(&self, id: &str, now: i64) -> Result<StoredJob> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        // The job row's lock orders cancels of one job.
        let found = tx
            .query_opt("SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE", &[&id])
            .await
            .map_err(db)?;
        if found.is_none() {
            return Err(job_not_found(id));
        }
        let job = load(&tx, id, false).await?;
        if !job.finished() {
            tx.execute(
                "UPDATE jobs SET cancelled = true, updated_at = $2 WHERE id = $1",
                &[&id, &now],
            )
            .await
            .map_err(db)?;
            tx.execute(
                "UPDATE job_items SET state = 'cancelled', lease_owner = NULL, \
                     lease_until = NULL \
                 WHERE job_id = $1 AND state = 'pending'",
                &[&id],
            )
            .await
            .map_err(db)?;
        }
        let job = load(&tx, id, true).await?;
        tx.commit().await.map_err(db)?;
        Ok(job)
    }

    pub(super) async fn claim_item_rows(
        &self,
        lease: &Lease,
        limit: u32,
    ) -> Result<Vec<PendingItem>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        let max_attempts = i32::try_from(lease.max_attempts).unwrap_or(i32::MAX);
        // Items whose last lease ran out fail, so they stop coming back.
        tx.execute(
            "WITH lost AS ( \
                 SELECT job_id, idx FROM job_items \
                 WHERE state = 'pending' AND attempt >= $1 \
                   AND (lease_until IS NULL OR lease_until < now()) \
                 FOR UPDATE SKIP LOCKED), \
             failed AS ( \
                 UPDATE job_items i SET state = 'failed', error = $2, lease_owner = NULL, \
                     lease_until = NULL \
                 FROM lost WHERE (i.job_id, i.idx) = (lost.job_id, lost.idx) \
                 RETURNING i.job_id) \
             UPDATE jobs SET updated_at = GREATEST(updated_at, \
                 (extract(epoch FROM now()) * 1000)::bigint) \
             WHERE id IN (SELECT job_id FROM failed)",
            &[&max_attempts, &lease.abandoned()],
        )
        .await
        .map_err(db)?;
        let claim = tx
            .prepare_cached(
                "WITH c AS ( \
                     SELECT i.job_id, i.idx FROM job_items i JOIN jobs j ON j.id = i.job_id \
                     WHERE i.state = 'pending' AND i.attempt < $3 \
                       AND (i.lease_until IS NULL OR i.lease_until < now()) \
                     ORDER BY j.created_at, i.job_id COLLATE \"C\", i.idx \
                     LIMIT $4 FOR UPDATE OF i SKIP LOCKED) \
                 UPDATE job_items i SET attempt = i.attempt + 1, lease_owner = $1, \
                     lease_until = now() + make_interval(secs => $2) \
                 FROM c, jobs j \
                 WHERE (i.job_id, i.idx) = (c.job_id, c.idx) AND j.id = i.job_id \
                 RETURNING i.job_id, i.idx, i.attempt, j.team, i.scenario_id, \
                     i.scenario_revision, i.scenario, j.options, j.created_at",
            )
            .await
            .map_err(db)?;
        let rows = tx
            .query(
                &claim,
                &[
                    &lease.owner,
                    &ttl_secs(lease),
                    &max_attempts,
                    &i64::from(limit),
                ],
            )
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        let mut items: Vec<(i64, PendingItem)> = rows
            .iter()
            .map(|row| {
                (
                    row.get(8),
                    PendingItem {
                        job_id: row.get(0),
                        index: row.get::<_, i32>(1) as u32,
                        attempt: row.get::<_, i32>(2) as u32,
                        team: row.get(3),
                        scenario_id: row.get(4),
                        scenario_revision: u32_of(row.get(5)),
                        scenario: row.get(6),
                        options: row.get(7),
                    },
                )
            })
            .collect();
        items.sort_by(|(at, a), (bt, b)| (at, &a.job_id, a.index).cmp(&(bt, &b.job_id, b.index)));
        Ok(items.into_iter().map(|(_, item)| item).collect())
    }

    pub(super) async fn heartbeat_rows(
        &self,
        lease: &Lease,
        held: &[LeaseKey],
    ) -> Result<Vec<LeaseKey>> {
        if held.is_empty() {
            return Ok(Vec::new());
        }
        let jobs: Vec<&str> = held.iter().map(|k| k.job_id.as_str()).collect();
        let indexes = held
            .iter()
            .map(|k| index_of(k.index))
            .collect::<Result<Vec<_>>>()?;
        let attempts: Vec<i32> = held
            .iter()
            .map(|k| i32::try_from(k.attempt).unwrap_or(i32::MAX))
            .collect();
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "UPDATE job_items SET lease_until = now() + make_interval(secs => $2) \
                 WHERE lease_owner = $1 AND state = 'pending' \
                   AND (job_id, idx, attempt) IN \
                       (SELECT * FROM unnest($3::text[], $4::int[], $5::int[])) \
                 RETURNING job_id, idx, attempt",
            )
            .await
            .map_err(db)?;
        let rows = client
            .query(
                &stmt,
                &[&lease.owner, &ttl_secs(lease), &jobs, &indexes, &attempts],
            )
            .await
            .map_err(db)?;
        Ok(rows.iter().map(lease_key).collect())
    }

    pub(super) async fn release_lease_rows(&self, owner: Option<&str>) -> Result<u32> {
        let changed = self
            .client()
            .await?
            .execute(
                "UPDATE job_items SET lease_owner = NULL, lease_until = NULL, \
                     attempt = GREATEST(attempt - 1, 0) \
                 WHERE state = 'pending' AND lease_owner IS NOT NULL \
                   AND ($1::text IS NULL OR lease_owner = $1)",
                &[&owner],
            )
            .await
            .map_err(db)?;
        Ok(u32::try_from(changed).unwrap_or(u32::MAX))
    }

    pub(super) async fn finish_item_tx(
        &self,
        item: &LeaseKey,
        result: &ItemResult,
        now: i64,
    ) -> Result<bool> {
        let job_id = item.job_id.as_str();
        let index = index_of(item.index)?;
        let attempt = i32::try_from(item.attempt).unwrap_or(i32::MAX);
        let (state, run_id, error) = match result {
            ItemResult::Succeeded(run) => {
                if run.job_id.as_deref() != Some(job_id) {
                    return Err(Error::Internal(format!(
                        "run {} does not belong to job {job_id}",
                        run.id
                    )));
                }
                ("succeeded", Some(run.id.as_str()), "")
            }
            ItemResult::Failed(reason) => ("failed", None, reason.as_str()),
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        // The fence: only the attempt that holds the item may end it.
        let finish = tx
            .prepare_cached(
                "UPDATE job_items SET state = $4, run_id = $5, error = $6, lease_owner = NULL, \
                     lease_until = NULL \
                 WHERE job_id = $1 AND idx = $2 AND state = 'pending' AND attempt = $3",
            )
            .await
            .map_err(db)?;
        let changed = tx
            .execute(
                &finish,
                &[&job_id, &index, &attempt, &state, &run_id, &error],
            )
            .await
            .map_err(db)?;
        if changed == 0 {
            let exists = tx
                .query_opt(
                    "SELECT 1 FROM job_items WHERE job_id = $1 AND idx = $2",
                    &[&job_id, &index],
                )
                .await
                .map_err(db)?
                .is_some();
            tx.rollback().await.map_err(db)?;
            return if exists {
                Ok(false)
            } else {
                Err(job_not_found(job_id))
            };
        }
        if let ItemResult::Succeeded(run) = result {
            super::runs::insert(&tx, run).await?;
        }
        tx.execute(
            "UPDATE jobs SET updated_at = GREATEST(updated_at, $2) WHERE id = $1",
            &[&job_id, &now],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }
}
