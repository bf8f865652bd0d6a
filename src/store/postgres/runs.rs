//! SQL of kept runs.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{Params, Postgres, db, refs, u32_of};
use crate::error::Result;
use crate::store::Page;
use crate::store::runs::{RunQuery, StoredRun, run_not_found};

const COLUMNS: &str = "id, scenario_id, scenario_revision, team, kind, created_at, job_id, \
                       engine_version, catalog_version, key_figures";

fn run_row(row: &Row) -> StoredRun {
    StoredRun {
        id: row.get(0),
        scenario_id: row.get(1),
        scenario_revision: u32_of(row.get(2)),
        team: row.get(3),
        kind: row.get(4),
        created_at: row.get(5),
        job_id: row.get(6),
        engine_version: row.get(7),
        catalog_version: row.get(8),
        key_figures: row.get(9),
        inputs: Vec::new(),
        output: Vec::new(),
    }
}

/// Inserts `run` and notes the run on its scenario, if that still exists
/// (a deleted scenario's runs are kept: they carry their inputs).
pub(super) async fn insert(client: &impl GenericClient, run: &StoredRun) -> Result<()> {
    client
        .execute(
            "INSERT INTO runs (id, scenario_id, scenario_revision, team, kind, created_at, \
                               job_id, engine_version, catalog_version, key_figures, inputs, \
                               output) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            &[
                &run.id,
                &run.scenario_id,
                &i64::from(run.scenario_revision),
                &run.team,
                &run.kind,
                &run.created_at,
                &run.job_id,
                &run.engine_version,
                &run.catalog_version,
                &run.key_figures,
                &run.inputs,
                &run.output,
            ],
        )
        .await
        .map_err(db)?;
    client
        .execute(
            "UPDATE scenarios SET last_run_at = GREATEST(coalesce(last_run_at, 0), $2) \
             WHERE id = $1",
            &[&run.scenario_id, &run.created_at],
        )
        .await
        .map_err(db)?;
    Ok(())
}

impl Postgres {
    pub(super) async fn insert_run_tx(&self, run: &StoredRun) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        insert(&tx, run).await?;
        tx.commit().await.map_err(db)
    }

    pub(super) async fn get_run_row(&self, id: &str) -> Result<StoredRun> {
        let row = self
            .client()
            .await?
            .query_opt(
                &format!("SELECT {COLUMNS}, inputs, output FROM runs WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(db)?
            .ok_or_else(|| run_not_found(id))?;
        let mut run = run_row(&row);
        run.inputs = row.get(10);
        run.output = row.get(11);
        Ok(run)
    }

    pub(super) async fn list_run_rows(&self, query: &RunQuery) -> Result<Page<StoredRun>> {
        let mut conditions = Vec::new();
        let mut params: Params = Vec::new();
        for (column, value) in [
            ("scenario_id", &query.scenario_id),
            ("job_id", &query.job_id),
            ("kind", &query.kind),
            ("team", &query.team),
        ] {
            if !value.is_empty() {
                params.push(Box::new(value.clone()));
                conditions.push(format!("{column} = ${}", params.len()));
            }
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
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
                format!("SELECT COUNT(*) FROM runs{filter}").as_str(),
                &refs(&params),
            )
            .await
            .map_err(db)?
            .get(0);
        let n = params.len();
        params.push(Box::new(i64::from(query.limit)));
        params.push(Box::new(i64::try_from(query.offset).unwrap_or(i64::MAX)));
        let rows = tx
            .query(
                format!(
                    "SELECT {COLUMNS} FROM runs{filter} \
                     ORDER BY created_at DESC, id COLLATE \"C\" DESC LIMIT ${} OFFSET ${}",
                    n + 1,
                    n + 2
                )
                .as_str(),
                &refs(&params),
            )
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(Page {
            items: rows.iter().map(run_row).collect(),
            total: total.max(0) as u64,
        })
    }
}
