//! SQL of copying a whole store (`migrate-store`): rows in key order (byte
//! order, as SQLite sorts) out, rows as they are in.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{Postgres, db, parse_tags, scenario_row, tags_json, u32_of};
use crate::error::Result;
use crate::estimator::{Calibration, Tuning};
use crate::store::copy::{ItemRecord, JobRecord, Record, Table};
use crate::store::{CustomEntry, ImportedPrice, Revision, StoredRun};

fn select(table: Table) -> &'static str {
    match table {
        Table::Scenarios => {
            "SELECT s.id, s.name, s.team, s.tags, s.description, s.revision, s.created_at, \
             s.updated_at, s.last_run_at, s.body FROM scenarios s ORDER BY s.id COLLATE \"C\""
        }
        Table::Revisions => {
            "SELECT scenario_id, revision, name, team, tags, description, created_at, body \
             FROM scenario_revisions ORDER BY scenario_id COLLATE \"C\", revision"
        }
        Table::Calibrations => {
            "SELECT name, bandwidth_scale, compute_scale, allreduce_latency_s, expected_error, \
             points, saved_at FROM calibrations ORDER BY name COLLATE \"C\""
        }
        Table::Runs => {
            "SELECT id, scenario_id, scenario_revision, team, kind, created_at, job_id, \
             engine_version, catalog_version, key_figures, inputs, output FROM runs \
             ORDER BY id COLLATE \"C\""
        }
        Table::Jobs => {
            "SELECT id, name, team, options, cancelled, created_at, updated_at FROM jobs \
             ORDER BY id COLLATE \"C\""
        }
        Table::Items => {
            "SELECT job_id, idx, label, scenario_id, scenario_revision, scenario, state, run_id, \
             error, attempt FROM job_items ORDER BY job_id COLLATE \"C\", idx"
        }
        Table::CustomEntries => {
            "SELECT kind, name, team, text, revision, created_at, updated_at FROM custom_entries \
             ORDER BY kind COLLATE \"C\", name COLLATE \"C\""
        }
        Table::ImportedPrices => {
            "SELECT team, price_id, effective_date, path, text, created_at FROM imported_prices \
             ORDER BY team COLLATE \"C\", price_id COLLATE \"C\", effective_date COLLATE \"C\""
        }
    }
}

fn record(table: Table, row: &Row) -> Result<Record> {
    Ok(match table {
        Table::Scenarios => Record::Scenario(scenario_row(row)?),
        Table::Revisions => Record::Revision(Revision {
            scenario_id: row.get(0),
            revision: u32_of(row.get(1)),
            name: row.get(2),
            team: row.get(3),
            tags: parse_tags(row.get(4))?,
            description: row.get(5),
            created_at: row.get(6),
            body: row.get(7),
        }),
        Table::Calibrations => Record::Calibration(
            Calibration {
                name: row.get(0),
                tuning: Tuning {
                    bandwidth_scale: row.get(1),
                    compute_scale: row.get(2),
                    allreduce_latency_s: row.get(3),
                },
                expected_error: row.get(4),
                points: row.get::<_, i64>(5).max(0) as usize,
            },
            row.get(6),
        ),
        Table::Runs => Record::Run(StoredRun {
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
            inputs: row.get(10),
            output: row.get(11),
        }),
        Table::Jobs => Record::Job(JobRecord {
            id: row.get(0),
            name: row.get(1),
            team: row.get(2),
            options: row.get(3),
            cancelled: row.get(4),
            created_at: row.get(5),
            updated_at: row.get(6),
        }),
        Table::Items => Record::Item(ItemRecord {
            job_id: row.get(0),
            index: row.get::<_, i32>(1) as u32,
            label: row.get(2),
            scenario_id: row.get(3),
            scenario_revision: u32_of(row.get(4)),
            scenario: row.get(5),
            state: row.get(6),
            run_id: row.get(7),
            error: row.get(8),
            attempt: row.get::<_, i32>(9) as u32,
        }),
        Table::CustomEntries => Record::Custom(CustomEntry {
            kind: row.get(0),
            name: row.get(1),
            team: row.get(2),
            text: row.get(3),
            revision: u32_of(row.get(4)),
            created_at: row.get(5),
            updated_at: row.get(6),
        }),
        Table::ImportedPrices => Record::Imported(ImportedPrice {
            team: row.get(0),
            price_id: row.get(1),
            effective_date: row.get(2),
            path: row.get(3),
            text: row.get(4),
            created_at: row.get(5),
        }),
    })
}

async fn insert(client: &impl GenericClient, record: &Record) -> Result<()> {
    async fn run(
        client: &impl GenericClient,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<()> {
        let stmt = client.prepare_cached(sql).await.map_err(db)?;
        client.execute(&stmt, params).await.map_err(db)?;
        Ok(())
    }
    match record {
        Record::Scenario(s) => {
            run(
                client,
                "INSERT INTO scenarios (id, name, team, tags, description, revision, created_at, \
                 updated_at, last_run_at, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
                    &s.id,
                    &s.name,
                    &s.team,
                    &tags_json(&s.tags)?,
                    &s.description,
                    &i64::from(s.revision),
                    &s.created_at,
                    &s.updated_at,
                    &s.last_run_at,
                    &s.body,
                ],
            )
            .await?;
            for tag in &s.tags {
                run(
                    client,
                    "INSERT INTO scenario_tags (tag, scenario_id) VALUES ($1, $2)",
                    &[tag, &s.id],
                )
                .await?;
            }
            Ok(())
        }
        Record::Revision(r) => {
            run(
                client,
                "INSERT INTO scenario_revisions (scenario_id, revision, name, team, tags, \
                 description, created_at, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &r.scenario_id,
                    &i64::from(r.revision),
                    &r.name,
                    &r.team,
                    &tags_json(&r.tags)?,
                    &r.description,
                    &r.created_at,
                    &r.body,
                ],
            )
            .await
        }
        Record::Calibration(c, saved_at) => {
            run(
                client,
                "INSERT INTO calibrations (name, bandwidth_scale, compute_scale, \
                 allreduce_latency_s, expected_error, points, saved_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &c.name,
                    &c.tuning.bandwidth_scale,
                    &c.tuning.compute_scale,
                    &c.tuning.allreduce_latency_s,
                    &c.expected_error,
                    &(c.points as i64),
                    saved_at,
                ],
            )
            .await
        }
        Record::Run(r) => {
            run(
                client,
                "INSERT INTO runs (id, scenario_id, scenario_revision, team, kind, created_at, \
                 job_id, engine_version, catalog_version, key_figures, inputs, output) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                &[
                    &r.id,
                    &r.scenario_id,
                    &i64::from(r.scenario_revision),
                    &r.team,
                    &r.kind,
                    &r.created_at,
                    &r.job_id,
                    &r.engine_version,
                    &r.catalog_version,
                    &r.key_figures,
                    &r.inputs,
                    &r.output,
                ],
            )
            .await
        }
        Record::Job(j) => {
            run(
                client,
                "INSERT INTO jobs (id, name, team, options, cancelled, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &j.id,
                    &j.name,
                    &j.team,
                    &j.options,
                    &j.cancelled,
                    &j.created_at,
                    &j.updated_at,
                ],
            )
            .await
        }
        Record::Item(i) => {
            run(
                client,
                "INSERT INTO job_items (job_id, idx, label, scenario_id, scenario_revision, \
                 scenario, state, run_id, error, attempt) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
                    &i.job_id,
                    &(i.index as i32),
                    &i.label,
                    &i.scenario_id,
                    &i64::from(i.scenario_revision),
                    &i.scenario,
                    &i.state,
                    &i.run_id,
                    &i.error,
                    &(i.attempt as i32),
                ],
            )
            .await
        }
        Record::Custom(e) => {
            run(
                client,
                "INSERT INTO custom_entries (kind, name, team, text, revision, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &e.kind,
                    &e.name,
                    &e.team,
                    &e.text,
                    &i64::from(e.revision),
                    &e.created_at,
                    &e.updated_at,
                ],
            )
            .await
        }
        Record::Imported(p) => {
            run(
                client,
                "INSERT INTO imported_prices (team, price_id, effective_date, path, text, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &p.team,
                    &p.price_id,
                    &p.effective_date,
                    &p.path,
                    &p.text,
                    &p.created_at,
                ],
            )
            .await
        }
    }
}

impl Postgres {
    pub(super) async fn export_table(
        &self,
        table: Table,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<Record>> {
        let client = self.client().await?;
        let rows = client
            .query(
                format!("{} LIMIT $1 OFFSET $2", select(table)).as_str(),
                &[
                    &i64::from(limit),
                    &i64::try_from(offset).unwrap_or(i64::MAX),
                ],
            )
            .await
            .map_err(db)?;
        rows.iter().map(|row| record(table, row)).collect()
    }

    /// One transaction for the whole copy; the source is read between
    /// batches, on this thread.
    pub(super) async fn import_all(
        &self,
        next: &mut dyn FnMut() -> Result<Option<Vec<Record>>>,
    ) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        while let Some(batch) = next()? {
            for record in &batch {
                insert(&tx, record).await?;
            }
        }
        super::bump_epoch(&tx).await?;
        tx.commit().await.map_err(db)
    }
}
