//! SQL of simulations split across replicas: runs and their leased slices.

use std::time::Duration;

use deadpool_postgres::GenericClient;

use super::jobs::lease_key;
use super::{Postgres, db};
use crate::error::{Error, Result};
use crate::store::LeaseKey;
use crate::store::jobs::Lease;
use crate::store::sims::{ClaimedSlice, SimRunStatus, sim_run_gone};

fn secs(d: Duration) -> f64 {
    d.as_secs_f64().max(0.001)
}

fn int(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::Internal(format!("{v} out of range")))
}

impl Postgres {
    pub(super) async fn create_sim_run_tx(
        &self,
        id: &str,
        engine_version: &str,
        inputs: &[u8],
        slices: &[(u64, u64)],
        coordinator_ttl: Duration,
    ) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        tx.execute(
            "INSERT INTO sim_runs (id, engine_version, inputs, remaining, state, \
                                   coordinator_until) \
             VALUES ($1, $2, $3, $4, 'running', now() + make_interval(secs => $5))",
            &[
                &id,
                &engine_version,
                &inputs,
                &(slices.len() as i32),
                &secs(coordinator_ttl),
            ],
        )
        .await
        .map_err(db)?;
        let insert = tx
            .prepare_cached(
                "INSERT INTO sim_slices (run_id, slice, first_chunk, chunks, state) \
                 VALUES ($1, $2, $3, $4, 'pending')",
            )
            .await
            .map_err(db)?;
        for (slice, &(first, chunks)) in slices.iter().enumerate() {
            tx.execute(
                &insert,
                &[&id, &(slice as i32), &int(first)?, &int(chunks)?],
            )
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    pub(super) async fn claim_slice_row(
        &self,
        lease: &Lease,
        engine_version: &str,
    ) -> Result<Option<ClaimedSlice>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        // Runs whose coordinator went away: nobody waits for them.
        tx.execute("DELETE FROM sim_runs WHERE coordinator_until < now()", &[])
            .await
            .map_err(db)?;
        let max_attempts = i32::try_from(lease.max_attempts).unwrap_or(i32::MAX);
        // A slice whose last lease ran out fails its run.
        tx.execute(
            "UPDATE sim_runs r SET state = 'failed', error = $2 \
             WHERE r.state = 'running' AND EXISTS ( \
                 SELECT 1 FROM sim_slices s WHERE s.run_id = r.id AND s.state = 'pending' \
                   AND s.attempt >= $1 AND (s.lease_until IS NULL OR s.lease_until < now()))",
            &[&max_attempts, &lease.abandoned()],
        )
        .await
        .map_err(db)?;
        let claim = tx
            .prepare_cached(
                "WITH c AS ( \
                     SELECT s.run_id, s.slice FROM sim_slices s JOIN sim_runs r ON r.id = s.run_id \
                     WHERE r.state = 'running' AND r.engine_version = $3 \
                       AND s.state = 'pending' AND s.attempt < $4 \
                       AND (s.lease_until IS NULL OR s.lease_until < now()) \
                     ORDER BY r.created_at, s.run_id COLLATE \"C\", s.slice \
                     LIMIT 1 FOR UPDATE OF s SKIP LOCKED) \
                 UPDATE sim_slices s SET attempt = s.attempt + 1, lease_owner = $1, \
                     lease_until = now() + make_interval(secs => $2) \
                 FROM c, sim_runs r \
                 WHERE (s.run_id, s.slice) = (c.run_id, c.slice) AND r.id = s.run_id \
                 RETURNING s.run_id, s.slice, s.attempt, s.first_chunk, s.chunks, r.inputs",
            )
            .await
            .map_err(db)?;
        let row = tx
            .query_opt(
                &claim,
                &[
                    &lease.owner,
                    &secs(lease.ttl),
                    &engine_version,
                    &max_attempts,
                ],
            )
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(row.map(|row| ClaimedSlice {
            key: lease_key(&row),
            first_chunk: row.get::<_, i64>(3) as u64,
            chunks: row.get::<_, i64>(4) as u64,
            inputs: row.get(5),
        }))
    }

    pub(super) async fn heartbeat_slice_rows(
        &self,
        lease: &Lease,
        held: &[LeaseKey],
    ) -> Result<Vec<LeaseKey>> {
        if held.is_empty() {
            return Ok(Vec::new());
        }
        let runs: Vec<&str> = held.iter().map(|k| k.job_id.as_str()).collect();
        let slices: Vec<i32> = held.iter().map(|k| k.index as i32).collect();
        let attempts: Vec<i32> = held.iter().map(|k| k.attempt as i32).collect();
        let client = self.client().await?;
        let rows = client
            .query(
                "UPDATE sim_slices SET lease_until = now() + make_interval(secs => $2) \
                 WHERE lease_owner = $1 AND state = 'pending' \
                   AND (run_id, slice, attempt) IN \
                       (SELECT * FROM unnest($3::text[], $4::int[], $5::int[])) \
                 RETURNING run_id, slice, attempt",
                &[&lease.owner, &secs(lease.ttl), &runs, &slices, &attempts],
            )
            .await
            .map_err(db)?;
        Ok(rows.iter().map(lease_key).collect())
    }

    pub(super) async fn finish_slice_tx(&self, slice: &LeaseKey, part: &[u8]) -> Result<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        let changed = tx
            .execute(
                "UPDATE sim_slices SET state = 'done', part = $4, lease_owner = NULL, \
                     lease_until = NULL \
                 WHERE run_id = $1 AND slice = $2 AND attempt = $3 AND state = 'pending'",
                &[
                    &slice.job_id,
                    &(slice.index as i32),
                    &(slice.attempt as i32),
                    &part,
                ],
            )
            .await
            .map_err(db)?;
        if changed == 0 {
            tx.rollback().await.map_err(db)?;
            return Ok(false);
        }
        tx.execute(
            "UPDATE sim_runs SET remaining = remaining - 1 WHERE id = $1",
            &[&slice.job_id],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    pub(super) async fn sim_run_row(
        &self,
        id: &str,
        coordinator_ttl: Duration,
    ) -> Result<SimRunStatus> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "UPDATE sim_runs SET coordinator_until = \
                     GREATEST(coordinator_until, now() + make_interval(secs => $2)) \
                 WHERE id = $1 \
                 RETURNING remaining, error, \
                     (SELECT coalesce(sum(chunks), 0)::bigint FROM sim_slices \
                      WHERE run_id = $1 AND state = 'done')",
                &[&id, &secs(coordinator_ttl)],
            )
            .await
            .map_err(db)?
            .ok_or_else(|| sim_run_gone(id))?;
        Ok(SimRunStatus {
            remaining: row.get::<_, i32>(0).max(0) as u32,
            error: row.get(1),
            done_chunks: row.get::<_, i64>(2).max(0) as u64,
        })
    }

    pub(super) async fn sim_run_part_rows(&self, id: &str) -> Result<Vec<Vec<u8>>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT part FROM sim_slices WHERE run_id = $1 AND state = 'done' \
                 ORDER BY slice",
                &[&id],
            )
            .await
            .map_err(db)?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    pub(super) async fn release_slice_rows(&self, owner: &str) -> Result<u32> {
        let changed = self
            .client()
            .await?
            .execute(
                "UPDATE sim_slices SET lease_owner = NULL, lease_until = NULL, \
                     attempt = GREATEST(attempt - 1, 0) \
                 WHERE lease_owner = $1 AND state = 'pending'",
                &[&owner],
            )
            .await
            .map_err(db)?;
        Ok(u32::try_from(changed).unwrap_or(u32::MAX))
    }

    pub(super) async fn end_sim_run_tx(&self, id: &str) -> Result<()> {
        self.client()
            .await?
            .execute("DELETE FROM sim_runs WHERE id = $1", &[&id])
            .await
            .map_err(db)?;
        Ok(())
    }
}
