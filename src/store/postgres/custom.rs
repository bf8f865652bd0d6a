//! SQL of custom catalogue entries and imported prices.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{Postgres, bump_epoch, db, u32_of};
use crate::error::{Error, Result};
use crate::store::custom::{CustomEntry, ImportedPrice, custom_not_found};

const COLUMNS: &str = "kind, name, team, text, revision, created_at, updated_at";

fn entry_row(row: &Row) -> CustomEntry {
    CustomEntry {
        kind: row.get(0),
        name: row.get(1),
        team: row.get(2),
        text: row.get(3),
        revision: u32_of(row.get(4)),
        created_at: row.get(5),
        updated_at: row.get(6),
    }
}

impl Postgres {
    pub(super) async fn custom_rows(&self) -> Result<Vec<CustomEntry>> {
        let rows = self
            .client()
            .await?
            .query(
                format!(
                    "SELECT {COLUMNS} FROM custom_entries \
                     ORDER BY kind COLLATE \"C\", name COLLATE \"C\""
                )
                .as_str(),
                &[],
            )
            .await
            .map_err(db)?;
        Ok(rows.iter().map(entry_row).collect())
    }

    pub(super) async fn custom_row(&self, kind: &str, name: &str) -> Result<CustomEntry> {
        self.client()
            .await?
            .query_opt(
                format!("SELECT {COLUMNS} FROM custom_entries WHERE kind = $1 AND name = $2")
                    .as_str(),
                &[&kind, &name],
            )
            .await
            .map_err(db)?
            .map(|row| entry_row(&row))
            .ok_or_else(|| custom_not_found(kind, name))
    }

    pub(super) async fn put_custom_row(
        &self,
        entry: &CustomEntry,
        create: bool,
        expected_revision: Option<u32>,
        now: i64,
    ) -> Result<CustomEntry> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        if create {
            // Two creators of one name: the primary key makes the second
            // wait for the first and then find its row.
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0))",
                &[&entry.kind, &entry.name],
            )
            .await
            .map_err(db)?;
        }
        let current = tx
            .query_opt(
                format!(
                    "SELECT {COLUMNS} FROM custom_entries WHERE kind = $1 AND name = $2 \
                     FOR UPDATE"
                )
                .as_str(),
                &[&entry.kind, &entry.name],
            )
            .await
            .map_err(db)?
            .map(|row| entry_row(&row));
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
        tx.execute(
            "INSERT INTO custom_entries (kind, name, team, text, revision, created_at, \
                                         updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (kind, name) DO UPDATE SET text = excluded.text, \
                 revision = excluded.revision, updated_at = excluded.updated_at",
            &[
                &saved.kind,
                &saved.name,
                &saved.team,
                &saved.text,
                &i64::from(saved.revision),
                &saved.created_at,
                &saved.updated_at,
            ],
        )
        .await
        .map_err(db)?;
        bump_epoch(&tx).await?;
        tx.commit().await.map_err(db)?;
        Ok(saved)
    }

    pub(super) async fn delete_custom_row(&self, kind: &str, name: &str) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        let changed = tx
            .execute(
                "DELETE FROM custom_entries WHERE kind = $1 AND name = $2",
                &[&kind, &name],
            )
            .await
            .map_err(db)?;
        if changed == 0 {
            return Err(custom_not_found(kind, name));
        }
        bump_epoch(&tx).await?;
        tx.commit().await.map_err(db)
    }

    pub(super) async fn imported_rows(&self) -> Result<Vec<ImportedPrice>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT team, price_id, effective_date, path, text, created_at \
                 FROM imported_prices \
                 ORDER BY team COLLATE \"C\", price_id COLLATE \"C\", effective_date",
                &[],
            )
            .await
            .map_err(db)?;
        Ok(rows
            .iter()
            .map(|row| ImportedPrice {
                team: row.get(0),
                price_id: row.get(1),
                effective_date: row.get(2),
                path: row.get(3),
                text: row.get(4),
                created_at: row.get(5),
            })
            .collect())
    }

    /// One transaction for the whole import.
    pub(super) async fn put_imported_rows(&self, prices: &[ImportedPrice], now: i64) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        for p in prices {
            tx.execute(
                "INSERT INTO imported_prices \
                 (team, price_id, effective_date, path, text, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (team, price_id, effective_date) DO UPDATE SET \
                     path = excluded.path, text = excluded.text, \
                     created_at = excluded.created_at",
                &[
                    &p.team,
                    &p.price_id,
                    &p.effective_date,
                    &p.path,
                    &p.text,
                    &now,
                ],
            )
            .await
            .map_err(db)?;
        }
        bump_epoch(&tx).await?;
        tx.commit().await.map_err(db)
    }
}
