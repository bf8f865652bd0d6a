//! SQL of custom catalogue entries.

use rusqlite::{OptionalExtension, Row, TransactionBehavior};

use super::{Sqlite, bump_epoch, db};
use crate::error::{Error, Result};
use crate::store::custom::{CustomEntry, ImportedPrice, custom_not_found};

const COLUMNS: &str = "kind, name, team, text, revision, created_at, updated_at";

fn entry_row(row: &Row<'_>) -> rusqlite::Result<CustomEntry> {
    Ok(CustomEntry {
        kind: row.get(0)?,
        name: row.get(1)?,
        team: row.get(2)?,
        text: row.get(3)?,
        revision: row.get(4)?,
        created_at: row.get(5)?,
        updated_at: row.get(6)?,
    })
}

impl Sqlite {
    pub(super) fn custom_rows(&self) -> Result<Vec<CustomEntry>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM custom_entries ORDER BY kind, name"
            ))
            .map_err(db)?;
        stmt.query_map([], entry_row)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(db)
    }

    pub(super) fn custom_row(&self, kind: &str, name: &str) -> Result<CustomEntry> {
        self.conn()
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM custom_entries WHERE kind = ?1 AND name = ?2"
            ))
            .and_then(|mut stmt| stmt.query_row([kind, name], entry_row).optional())
            .map_err(db)?
            .ok_or_else(|| custom_not_found(kind, name))
    }

    /// Inserts a new entry, or replaces an existing one's text when
    /// `create` is false (checking `expected_revision` if given).
    pub(super) fn put_custom_row(
        &self,
        entry: &CustomEntry,
        create: bool,
        expected_revision: Option<u32>,
        now: i64,
    ) -> Result<CustomEntry> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let current = tx
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM custom_entries WHERE kind = ?1 AND name = ?2"
            ))
            .and_then(|mut stmt| {
                stmt.query_row([&entry.kind, &entry.name], entry_row)
                    .optional()
            })
            .map_err(db)?;
        let saved = match (create, current) {
            (true, Some(_)) => {
                return Err(Error::AlreadyExists(format!(
                    "a custom {} entry named {:?} exists already; update it instead",
                    entry.kind, entry.name
                )));
            }
            (false, None) => return Err(custom_not_found(&entry.kind, &entry.name)),
            (true, None) => CustomEntry {
                revision: 1,
                created_at: now,
                updated_at: now,
                ..entry.clone()
            },
            (false, Some(current)) => {
                if let Some(expected) = expected_revision
                    && expected != current.revision
                {
                    return Err(Error::Aborted(format!(
                        "custom entry {} changed since it was read (expected revision \
                         {expected}, now {}); read it again and retry",
                        entry.name, current.revision
                    )));
                }
                CustomEntry {
                    revision: current.revision + 1,
                    created_at: current.created_at,
                    updated_at: now.max(current.updated_at + 1),
                    team: current.team.clone(),
                    ..entry.clone()
                }
            }
        };
        tx.prepare_cached(
            "INSERT INTO custom_entries (kind, name, team, text, revision, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT (kind, name) DO UPDATE SET text = excluded.text, \
                 revision = excluded.revision, updated_at = excluded.updated_at",
        )
        .and_then(|mut stmt| {
            stmt.execute(rusqlite::params![
                saved.kind,
                saved.name,
                saved.team,
                saved.text,
                saved.revision,
                saved.created_at,
                saved.updated_at
            ])
        })
        .map_err(db)?;
        bump_epoch(&tx)?;
        tx.commit().map_err(db)?;
        Ok(saved)
    }

    pub(super) fn delete_custom_row(&self, kind: &str, name: &str) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let changed = tx
            .prepare_cached("DELETE FROM custom_entries WHERE kind = ?1 AND name = ?2")
            .and_then(|mut stmt| stmt.execute([kind, name]))
            .map_err(db)?;
        if changed == 0 {
            return Err(custom_not_found(kind, name));
        }
        bump_epoch(&tx)?;
        tx.commit().map_err(db)
    }
}

impl Sqlite {
    pub(super) fn imported_rows(&self) -> Result<Vec<ImportedPrice>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT team, price_id, effective_date, path, text, created_at \
                 FROM imported_prices ORDER BY team, price_id, effective_date",
            )
            .map_err(db)?;
        stmt.query_map([], |row| {
            Ok(ImportedPrice {
                team: row.get(0)?,
                price_id: row.get(1)?,
                effective_date: row.get(2)?,
                path: row.get(3)?,
                text: row.get(4)?,
                created_at: row.get(5)?,
            })
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(db)
    }

    /// One transaction for the whole import: a failure on any entry
    /// leaves every stored price as it was.
    pub(super) fn put_imported_rows(&self, prices: &[ImportedPrice], now: i64) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO imported_prices \
                     (team, price_id, effective_date, path, text, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                     ON CONFLICT (team, price_id, effective_date) DO UPDATE SET \
                         path = excluded.path, text = excluded.text, \
                         created_at = excluded.created_at",
                )
                .map_err(db)?;
            for p in prices {
                stmt.execute(rusqlite::params![
                    p.team,
                    p.price_id,
                    p.effective_date,
                    p.path,
                    p.text,
                    now
                ])
                .map_err(db)?;
            }
        }
        bump_epoch(&tx)?;
        tx.commit().map_err(db)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteOptions;

    fn price(team: &str, id: &str, date: &str, text: &str) -> ImportedPrice {
        ImportedPrice {
            team: team.into(),
            price_id: id.into(),
            effective_date: date.into(),
            path: format!("imported/{id}/{date}/prices/openai.toml"),
            text: text.into(),
            created_at: 0,
        }
    }

    #[test]
    fn an_import_is_stored_whole_or_not_at_all() {
        let path =
            std::env::temp_dir().join(format!("breakeven-imported-{}.db", std::process::id()));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        let db = Sqlite::open(&path, SqliteOptions::default()).unwrap();
        db.put_imported_rows(&[price("a", "gpt-4o", "2026-08-01", "v1")], 1)
            .unwrap();
        // The same team, id and date replaces; another team's is its own.
        db.put_imported_rows(
            &[
                price("a", "gpt-4o", "2026-08-01", "v2"),
                price("b", "gpt-4o", "2026-08-01", "b"),
            ],
            2,
        )
        .unwrap();
        let texts = |db: &Sqlite| -> Vec<(String, String)> {
            db.imported_rows()
                .unwrap()
                .into_iter()
                .map(|p| (p.team, p.text))
                .collect()
        };
        assert_eq!(
            texts(&db),
            [("a".into(), "v2".into()), ("b".into(), "b".into())]
        );
        // A failure on the second entry leaves the first unstored too.
        db.conn()
            .execute_batch(
                "CREATE TRIGGER refuse BEFORE INSERT ON imported_prices \
                 WHEN NEW.price_id = 'o3' BEGIN SELECT RAISE(ABORT, 'refused'); END;",
            )
            .unwrap();
        let failed = db.put_imported_rows(
            &[
                price("a", "gpt-4.1", "2026-08-01", "new"),
                price("a", "o3", "2026-08-01", "new"),
            ],
            3,
        );
        assert!(failed.is_err());
        assert_eq!(
            texts(&db),
            [("a".into(), "v2".into()), ("b".into(), "b".into())]
        );
        drop(db);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
