//! Copying a whole store from one backend to another (`breakeven
//! migrate-store`): every table row by row, in one transaction on the
//! target, then both sides read back and compared table by table, by count
//! and by digest.
//!
//! The target must be empty, or hold exactly what the source holds (then
//! the copy is a no-op); a target with other data is refused untouched.
//! Leases are not copied: a copied pending item is free to claim.

use crate::digest::fnv1a;
use crate::error::{Error, Result};
use crate::estimator::Calibration;

use super::{Backend, CustomEntry, ImportedPrice, Revision, StoredRun, StoredScenario};

/// Rows read or written in one go.
const BATCH: u32 = 200;

/// The tables a store holds, in the order they are copied (a row's
/// references come before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Scenarios,
    Revisions,
    Calibrations,
    Runs,
    Jobs,
    Items,
    CustomEntries,
    ImportedPrices,
}

impl Table {
    pub const ALL: [Table; 8] = [
        Table::Scenarios,
        Table::Revisions,
        Table::Calibrations,
        Table::Runs,
        Table::Jobs,
        Table::Items,
        Table::CustomEntries,
        Table::ImportedPrices,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Scenarios => "scenarios",
            Table::Revisions => "scenario revisions",
            Table::Calibrations => "calibrations",
            Table::Runs => "runs",
            Table::Jobs => "jobs",
            Table::Items => "job items",
            Table::CustomEntries => "custom entries",
            Table::ImportedPrices => "imported prices",
        }
    }
}

/// A job row as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub id: String,
    pub name: String,
    pub team: String,
    pub options: Vec<u8>,
    pub cancelled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A job item row as stored, without its lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRecord {
    pub job_id: String,
    pub index: u32,
    pub label: String,
    pub scenario_id: String,
    pub scenario_revision: u32,
    pub scenario: Vec<u8>,
    pub state: String,
    pub run_id: Option<String>,
    pub error: String,
    pub attempt: u32,
}

/// One stored row of any table. A scenario's tags travel with it.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Scenario(StoredScenario),
    Revision(Revision),
    Calibration(Calibration, i64),
    Run(StoredRun),
    Job(JobRecord),
    Item(ItemRecord),
    Custom(CustomEntry),
    Imported(ImportedPrice),
}

impl Record {
    /// The row's bytes, each field length-prefixed, for the digest.
    fn encode(&self, out: &mut Vec<u8>) {
        fn text(out: &mut Vec<u8>, s: &[u8]) {
            out.extend((s.len() as u64).to_le_bytes());
            out.extend(s);
        }
        fn int(out: &mut Vec<u8>, v: i64) {
            out.extend(v.to_le_bytes());
        }
        fn opt(out: &mut Vec<u8>, v: Option<&[u8]>) {
            match v {
                Some(v) => {
                    out.push(1);
                    text(out, v);
                }
                None => out.push(0),
            }
        }
        match self {
            Record::Scenario(s) => {
                for t in [&s.id, &s.name, &s.team, &s.description] {
                    text(out, t.as_bytes());
                }
                int(out, s.tags.len() as i64);
                for tag in &s.tags {
                    text(out, tag.as_bytes());
                }
                int(out, i64::from(s.revision));
                int(out, s.created_at);
                int(out, s.updated_at);
                int(out, s.last_run_at.unwrap_or(i64::MIN));
                text(out, &s.body);
            }
            Record::Revision(r) => {
                for t in [&r.scenario_id, &r.name, &r.team, &r.description] {
                    text(out, t.as_bytes());
                }
                int(out, r.tags.len() as i64);
                for tag in &r.tags {
                    text(out, tag.as_bytes());
                }
                int(out, i64::from(r.revision));
                int(out, r.created_at);
                text(out, &r.body);
            }
            Record::Calibration(c, saved_at) => {
                text(out, c.name.as_bytes());
                for v in [
                    c.tuning.bandwidth_scale,
                    c.tuning.compute_scale,
                    c.tuning.allreduce_latency_s,
                    c.expected_error,
                ] {
                    out.extend(v.to_bits().to_le_bytes());
                }
                int(out, c.points as i64);
                int(out, *saved_at);
            }
            Record::Run(r) => {
                for t in [
                    &r.id,
                    &r.scenario_id,
                    &r.team,
                    &r.kind,
                    &r.engine_version,
                    &r.catalog_version,
                ] {
                    text(out, t.as_bytes());
                }
                int(out, i64::from(r.scenario_revision));
                int(out, r.created_at);
                opt(out, r.job_id.as_deref().map(str::as_bytes));
                text(out, &r.key_figures);
                text(out, &r.inputs);
                text(out, &r.output);
            }
            Record::Job(j) => {
                for t in [&j.id, &j.name, &j.team] {
                    text(out, t.as_bytes());
                }
                text(out, &j.options);
                int(out, i64::from(j.cancelled));
                int(out, j.created_at);
                int(out, j.updated_at);
            }
            Record::Item(i) => {
                for t in [&i.job_id, &i.label, &i.scenario_id, &i.state, &i.error] {
                    text(out, t.as_bytes());
                }
                int(out, i64::from(i.index));
                int(out, i64::from(i.scenario_revision));
                int(out, i64::from(i.attempt));
                text(out, &i.scenario);
                opt(out, i.run_id.as_deref().map(str::as_bytes));
            }
            Record::Custom(e) => {
                for t in [&e.kind, &e.name, &e.team, &e.text] {
                    text(out, t.as_bytes());
                }
                int(out, i64::from(e.revision));
                int(out, e.created_at);
                int(out, e.updated_at);
            }
            Record::Imported(p) => {
                for t in [&p.team, &p.price_id, &p.effective_date, &p.path, &p.text] {
                    text(out, t.as_bytes());
                }
                int(out, p.created_at);
            }
        }
    }
}

/// A table's row count and the digest of its rows in key order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSum {
    pub table: Table,
    pub rows: u64,
    pub digest: u64,
}

/// What a copy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// False when the target held the same data already.
    pub copied: bool,
    /// Per table, as read back from the target (equal to the source's).
    pub tables: Vec<TableSum>,
}

/// Counts and digests every table of `store`.
pub fn summarize(store: &dyn Backend) -> Result<Vec<TableSum>> {
    Table::ALL
        .iter()
        .map(|&table| {
            let mut rows = 0u64;
            let mut bytes = Vec::new();
            let mut offset = 0u64;
            loop {
                let batch = store.export_rows(table, offset, BATCH)?;
                if batch.is_empty() {
                    break;
                }
                offset += batch.len() as u64;
                rows += batch.len() as u64;
                for record in &batch {
                    record.encode(&mut bytes);
                }
            }
            Ok(TableSum {
                table,
                rows,
                digest: fnv1a(bytes),
            })
        })
        .collect()
}

/// Copies everything `from` holds into `to`, then checks both sides match.
pub fn copy_store(from: &dyn Backend, to: &dyn Backend) -> Result<CopyReport> {
    let source = summarize(from)?;
    let target = summarize(to)?;
    if target == source {
        return Ok(CopyReport {
            copied: false,
            tables: target,
        });
    }
    if let Some(held) = target.iter().find(|t| t.rows > 0) {
        return Err(Error::FailedPrecondition(format!(
            "the target already holds other data ({} {}); copy into an empty database, \
             nothing was written",
            held.rows,
            held.table.name()
        )));
    }
    let mut tables = Table::ALL.iter();
    let mut table = tables.next().copied();
    let mut offset = 0u64;
    let mut next = || -> Result<Option<Vec<Record>>> {
        while let Some(current) = table {
            let batch = from.export_rows(current, offset, BATCH)?;
            if batch.is_empty() {
                table = tables.next().copied();
                offset = 0;
                continue;
            }
            offset += batch.len() as u64;
            return Ok(Some(batch));
        }
        Ok(None)
    };
    to.import_rows(&mut next)?;
    let copied = summarize(to)?;
    if copied != source {
        let wrong: Vec<_> = source
            .iter()
            .zip(&copied)
            .filter(|(a, b)| a != b)
            .map(|(a, b)| {
                format!(
                    "{}: {} rows {:016x} vs {} rows {:016x}",
                    a.table.name(),
                    a.rows,
                    a.digest,
                    b.rows,
                    b.digest
                )
            })
            .collect();
        return Err(Error::Internal(format!(
            "the copy does not match its source: {}",
            wrong.join("; ")
        )));
    }
    Ok(CopyReport {
        copied: true,
        tables: copied,
    })
}
