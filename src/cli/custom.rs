//! `breakeven catalog custom …`: the server's custom catalogue entries (a
//! team's GPU quote, a negotiated API price, a model of its own), given as
//! files in the data-file format and listed beside the built-in entries.
//!
//! Files are sent as they are: the server checks them with the catalogue's
//! own loader, and its complaints come back with the file's name.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use tonic::Code;
use tonic_types::StatusExt as _;

use super::exit::Failure;
use super::output::{Cell, Output, Record, Report, Table, num, text};
use super::{Global, connect};
use crate::grpc::pb;
use crate::grpc::pb::catalog_service_client::CatalogServiceClient;

/// What a custom entry defines, which is the data file it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// A GPU profile, as in hardware/*.toml; named by its GPU id.
    Gpu,
    /// A model architecture, as in models/*.toml; named by its model id.
    Model,
    /// A provider's API prices, as in prices/*.toml; named by its provider.
    Prices,
}

impl From<Kind> for pb::CatalogEntryKind {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::Gpu => pb::CatalogEntryKind::Gpu,
            Kind::Model => pb::CatalogEntryKind::Model,
            Kind::Prices => pb::CatalogEntryKind::ApiPrices,
        }
    }
}

/// A kind as the command line writes it.
fn kind_name(value: i32) -> &'static str {
    match pb::CatalogEntryKind::try_from(value) {
        Ok(pb::CatalogEntryKind::Gpu) => "gpu",
        Ok(pb::CatalogEntryKind::Model) => "model",
        Ok(pb::CatalogEntryKind::ApiPrices) => "prices",
        Ok(pb::CatalogEntryKind::Unspecified) | Err(_) => "",
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the custom entries by kind and name.
    List,
    /// Show a custom entry and its file.
    Show {
        #[arg(value_enum)]
        kind: Kind,
        /// The entry's name: the GPU or model id, or the provider.
        name: String,
    },
    /// Add a custom entry from a data file; it never replaces an id that
    /// is already defined.
    Add {
        #[arg(value_enum)]
        kind: Kind,
        /// The file, in the format of hardware/, models/ or prices/.
        file: PathBuf,
        /// The entry's name; the file's name without .toml by default.
        #[arg(long)]
        name: Option<String>,
        /// Owning team.
        #[arg(long)]
        team: Option<String>,
    },
    /// Replace a custom entry's file.
    Update {
        #[arg(value_enum)]
        kind: Kind,
        /// The entry's name.
        name: String,
        /// The new file.
        file: PathBuf,
        /// Update only if the entry is still at this revision.
        #[arg(long, value_name = "R")]
        revision: Option<u32>,
    },
    /// Remove a custom entry. Saved scenarios that use it no longer run;
    /// kept runs still replay.
    Remove {
        #[arg(value_enum)]
        kind: Kind,
        /// The entry's name.
        name: String,
    },
}

pub async fn run(global: &Global, out: Output, command: Command) -> Result<(), Failure> {
    match command {
        Command::List => {
            let mut client = CatalogServiceClient::new(connect(global).await?);
            let all = client
                .list_catalog_entries(pb::ListCatalogEntriesRequest {})
                .await?
                .into_inner();
            out.show(&all, || {
                let mut report = Report::new();
                report.table(list_table(&all.entries));
                report
            })
        }
        Command::Show { kind, name } => {
            let mut client = CatalogServiceClient::new(connect(global).await?);
            let entry = client
                .get_catalog_entry(pb::GetCatalogEntryRequest {
                    kind: pb::CatalogEntryKind::from(kind).into(),
                    name,
                })
                .await?
                .into_inner();
            out.show(&entry, || entry_report(&entry, true))
        }
        Command::Add {
            kind,
            file,
            name,
            team,
        } => {
            let toml = read(&file)?;
            let name = match name {
                Some(name) => name,
                None => stem(&file)?,
            };
            let mut client = CatalogServiceClient::new(connect(global).await?);
            let entry = client
                .create_catalog_entry(pb::CreateCatalogEntryRequest {
                    kind: pb::CatalogEntryKind::from(kind).into(),
                    name,
                    team: team.unwrap_or_default(),
                    toml,
                })
                .await
                .map_err(|status| in_file(&file, status))?
                .into_inner();
            out.show(&entry, || entry_report(&entry, false))
        }
        Command::Update {
            kind,
            name,
            file,
            revision,
        } => {
            let toml = read(&file)?;
            let mut client = CatalogServiceClient::new(connect(global).await?);
            let entry = client
                .update_catalog_entry(pb::UpdateCatalogEntryRequest {
                    kind: pb::CatalogEntryKind::from(kind).into(),
                    name,
                    toml,
                    expected_revision: revision.unwrap_or(0),
                })
                .await
                .map_err(|status| in_file(&file, status))?
                .into_inner();
            out.show(&entry, || entry_report(&entry, false))
        }
        Command::Remove { kind, name } => {
            out.no_csv("catalog custom remove")?;
            let mut client = CatalogServiceClient::new(connect(global).await?);
            let response = client
                .delete_catalog_entry(pb::DeleteCatalogEntryRequest {
                    kind: pb::CatalogEntryKind::from(kind).into(),
                    name: name.clone(),
                })
                .await?
                .into_inner();
            out.done(&response, || {
                format!(
                    "removed {} {name}",
                    kind_name(pb::CatalogEntryKind::from(kind).into())
                )
            })
        }
    }
}

/// The file's text; one that cannot be read is a usage error.
fn read(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))
}

/// The default entry name: `acme-h100.toml` is `acme-h100`.
fn stem(path: &Path) -> Result<String, Failure> {
    path.file_stem()
        .and_then(|s| s.to_str())
        .map(String::from)
        .ok_or_else(|| {
            Failure::Usage(format!(
                "cannot name an entry after {}; give --name",
                path.display()
            ))
        })
}

/// The server's field problems (`toml.rental_on_demand.usd_per_gpu_hour:
/// …`) prefixed with the file they are in. The status code is unchanged.
fn in_file(path: &Path, status: tonic::Status) -> Failure {
    let details = status.get_error_details();
    let Some(bad) = details
        .bad_request()
        .filter(|_| status.code() == Code::InvalidArgument)
    else {
        return Failure::Status(status);
    };
    let lines: Vec<String> = bad
        .field_violations
        .iter()
        .map(|v| format!("{}: {}: {}", path.display(), v.field, v.description))
        .collect();
    if lines.is_empty() {
        return Failure::Status(status);
    }
    Failure::Status(tonic::Status::new(status.code(), lines.join("\n")))
}

/// An entry's name, kind and revision; with `file`, its text too.
fn entry_report(e: &pb::CatalogEntry, file: bool) -> Report {
    let mut record = Record::new();
    record
        .add("kind", "kind", Cell::text(kind_name(e.kind)))
        .add("name", "name", Cell::text(&e.name))
        .add("team", "team", Cell::text(&e.team))
        .add("ids", "defines", Cell::text(e.ids.join(", ")))
        .add("revision", "revision", Cell::count(e.revision))
        .add("create_time", "created", Cell::text(&e.create_time))
        .add("update_time", "updated", Cell::text(&e.update_time));
    let mut report = Report::new();
    report.record(record);
    if file {
        report.text(&e.toml);
    }
    report
}

fn list_table(entries: &[pb::CatalogEntry]) -> Table {
    let mut table = Table::new(vec![
        text("kind", "kind"),
        text("name", "name"),
        text("team", "team"),
        text("ids", "defines"),
        num("revision", "revision"),
        text("update_time", "updated"),
    ]);
    for e in entries {
        table.push(vec![
            Cell::text(kind_name(e.kind)),
            Cell::text(&e.name),
            Cell::text(&e.team),
            Cell::text(e.ids.join(", ")),
            Cell::count(e.revision),
            Cell::text(&e.update_time),
        ]);
    }
    table
}
