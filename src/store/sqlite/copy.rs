//! SQL of copying a whole store (`migrate-store`): rows in key order out,
//! rows as they are in.

use rusqlite::{Connection, Row, TransactionBehavior};

use super::{Sqlite, db, parse_tags, scenario_row, tags_json};
use crate::error::Result;
use crate::estimator::{Calibration, Tuning};
use crate::store::copy::{ItemRecord, JobRecord, Record, Table};
use crate::store::{CustomEntry, ImportedPrice, Revision, StoredRun};

fn select(table: Table) -> &'static str {
    match table {
        Table::Scenarios => {
            "SELECT s.id, s.name, s.team, s.tags, s.description, s.revision, s.created_at, \
             s.updated_at, s.last_run_at, s.body FROM scenarios s ORDER BY s.id"
        }
        Table::Revisions => {
            "SELECT scenario_id, revision, name, team, tags, description, created_at, body \
             FROM scenario_revisions ORDER BY scenario_id, revision"
        }
        Table::Calibrations => {
            "SELECT name, bandwidth_scale, compute_scale, allreduce_latency_s, expected_error, \
             points, saved_at FROM calibrations ORDER BY name"
        }
        Table::Runs => {
            "SELECT id, scenario_id, scenario_revision, team, kind, created_at, job_id, \
             engine_version, catalog_version, key_figures, inputs, output FROM runs ORDER BY id"
        }
        Table::Jobs => {
            "SELECT id, name, team, options, cancelled, created_at, updated_at FROM jobs \
             ORDER BY id"
        }
        Table::Items => {
            "SELECT job_id, idx, label, scenario_id, scenario_revision, scenario, state, run_id, \
             error, attempt FROM job_items ORDER BY job_id, idx"
        }
        Table::CustomEntries => {
            "SELECT kind, name, team, text, revision, created_at, updated_at FROM custom_entries \
             ORDER BY kind, name"
        }
        Table::ImportedPrices => {
            "SELECT team, price_id, effective_date, path, text, created_at FROM imported_prices \
             ORDER BY team, price_id, effective_date"
        }
    }
}

fn record(table: Table, row: &Row<'_>) -> rusqlite::Result<Record> {
    Ok(match table {
        Table::Scenarios => Record::Scenario(scenario_row(row)?),
        Table::Revisions => Record::Revision(Revision {
            scenario_id: row.get(0)?,
            revision: row.get(1)?,
            name: row.get(2)?,
            team: row.get(3)?,
            tags: parse_tags(row, 4)?,
            description: row.get(5)?,
            created_at: row.get(6)?,
            body: row.get(7)?,
        }),
        Table::Calibrations => Record::Calibration(
            Calibration {
                name: row.get(0)?,
                tuning: Tuning {
                    bandwidth_scale: row.get(1)?,
                    compute_scale: row.get(2)?,
                    allreduce_latency_s: row.get(3)?,
                },
                expected_error: row.get(4)?,
                points: row.get::<_, i64>(5)?.max(0) as usize,
            },
            row.get(6)?,
        ),
        Table::Runs => Record::Run(StoredRun {
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
            inputs: row.get(10)?,
            output: row.get(11)?,
        }),
        Table::Jobs => Record::Job(JobRecord {
            id: row.get(0)?,
            name: row.get(1)?,
            team: row.get(2)?,
            options: row.get(3)?,
            cancelled: row.get(4)?,
            created_at: row.get(5)?,
            updated_at: row.get(6)?,
        }),
        Table::Items => Record::Item(ItemRecord {
            job_id: row.get(0)?,
            index: row.get(1)?,
            label: row.get(2)?,
            scenario_id: row.get(3)?,
            scenario_revision: row.get(4)?,
            scenario: row.get(5)?,
            state: row.get(6)?,
            run_id: row.get(7)?,
            error: row.get(8)?,
            attempt: row.get(9)?,
        }),
        Table::CustomEntries => Record::Custom(CustomEntry {
            kind: row.get(0)?,
            name: row.get(1)?,
            team: row.get(2)?,
            text: row.get(3)?,
            revision: row.get(4)?,
            created_at: row.get(5)?,
            updated_at: row.get(6)?,
        }),
        Table::ImportedPrices => Record::Imported(ImportedPrice {
            team: row.get(0)?,
            price_id: row.get(1)?,
            effective_date: row.get(2)?,
            path: row.get(3)?,
            text: row.get(4)?,
            created_at: row.get(5)?,
        }),
    })
}

fn insert(conn: &Connection, record: &Record) -> Result<()> {
    use rusqlite::params;
    let run = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> Result<()> {
        conn.prepare_cached(sql)
            .and_then(|mut stmt| stmt.execute(p))
            .map_err(db)?;
        Ok(())
    };
    match record {
        Record::Scenario(s) => {
            let tags = tags_json(&s.tags)?;
            run(
                "INSERT INTO scenarios (id, name, team, tags, description, revision, created_at, \
                 updated_at, last_run_at, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    s.id,
                    s.name,
                    s.team,
                    tags,
                    s.description,
                    s.revision,
                    s.created_at,
                    s.updated_at,
                    s.last_run_at,
                    s.body
                ],
            )?;
            for tag in &s.tags {
                run(
                    "INSERT INTO scenario_tags (tag, scenario_id) VALUES (?1, ?2)",
                    params![tag, s.id],
                )?;
            }
            Ok(())
        }
        Record::Revision(r) => run(
            "INSERT INTO scenario_revisions (scenario_id, revision, name, team, tags, \
             description, created_at, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                r.scenario_id,
                r.revision,
                r.name,
                r.team,
                tags_json(&r.tags)?,
                r.description,
                r.created_at,
                r.body
            ],
        ),
        Record::Calibration(c, saved_at) => run(
            "INSERT INTO calibrations (name, bandwidth_scale, compute_scale, allreduce_latency_s, \
             expected_error, points, saved_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                c.name,
                c.tuning.bandwidth_scale,
                c.tuning.compute_scale,
                c.tuning.allreduce_latency_s,
                c.expected_error,
                c.points as i64,
                saved_at
            ],
        ),
        Record::Run(r) => run(
            "INSERT INTO runs (id, scenario_id, scenario_revision, team, kind, created_at, \
             job_id, engine_version, catalog_version, key_figures, inputs, output) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                r.id,
                r.scenario_id,
                r.scenario_revision,
                r.team,
                r.kind,
                r.created_at,
                r.job_id,
                r.engine_version,
                r.catalog_version,
                r.key_figures,
                r.inputs,
                r.output
            ],
        ),
        Record::Job(j) => run(
            "INSERT INTO jobs (id, name, team, options, cancelled, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                j.id,
                j.name,
                j.team,
                j.options,
                j.cancelled,
                j.created_at,
                j.updated_at
            ],
        ),
        Record::Item(i) => run(
            "INSERT INTO job_items (job_id, idx, label, scenario_id, scenario_revision, scenario, \
             state, run_id, error, attempt) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                i.job_id,
                i.index,
                i.label,
                i.scenario_id,
                i.scenario_revision,
                i.scenario,
                i.state,
                i.run_id,
                i.error,
                i.attempt
            ],
        ),
        Record::Custom(e) => run(
            "INSERT INTO custom_entries (kind, name, team, text, revision, created_at, \
             updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                e.kind,
                e.name,
                e.team,
                e.text,
                e.revision,
                e.created_at,
                e.updated_at
            ],
        ),
        Record::Imported(p) => run(
            "INSERT INTO imported_prices (team, price_id, effective_date, path, text, \
             created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                p.team,
                p.price_id,
                p.effective_date,
                p.path,
                p.text,
                p.created_at
            ],
        ),
    }
}

impl Sqlite {
    pub(super) fn export_table(
        &self,
        table: Table,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<Record>> {
        let conn = self.conn();
        conn.prepare_cached(&format!("{} LIMIT ?1 OFFSET ?2", select(table)))
            .and_then(|mut stmt| {
                stmt.query_map(
                    rusqlite::params![i64::from(limit), i64::try_from(offset).unwrap_or(i64::MAX)],
                    |row| record(table, row),
                )?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(db)
    }

    pub(super) fn import_all(
        &self,
        next: &mut dyn FnMut() -> Result<Option<Vec<Record>>>,
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        while let Some(batch) = next()? {
            for record in &batch {
                insert(&tx, record)?;
            }
        }
        super::bump_epoch(&tx)?;
        tx.commit().map_err(db)
    }
}
