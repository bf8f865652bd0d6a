//! `breakeven scenario …`: a template to start from, and the scenarios
//! saved on the server with their revisions; `scenario run` is in
//! [`super::run`] with the other commands on runs.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::exit::Failure;
use super::file::ScenarioFile;
use super::format::{count, usd};
use super::output::{Cell, Output, Record, Report, Table, num, print, text};
use super::run::RunFlags;
use super::{Global, connect};
use crate::grpc::pb;
use crate::grpc::pb::scenario_service_client::ScenarioServiceClient;

/// A commented scenario that parses, validates against the built-in
/// catalogue and projects; `scenario init` writes it.
pub const TEMPLATE: &str = include_str!("scenario_template.toml");

/// Entries asked for per page: the most the API gives.
const PAGE_SIZE: i32 = 500;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented scenario file to start from.
    Init {
        /// Write it here (never over an existing file) instead of printing
        /// it.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Save a scenario file on the server.
    Create {
        /// The scenario file.
        file: PathBuf,
        #[command(flatten)]
        meta: Metadata,
    },
    /// List saved scenarios, oldest first unless --order-by says otherwise.
    List {
        /// Only scenarios whose name contains this text.
        #[arg(long, value_name = "TEXT")]
        name_contains: Option<String>,
        /// Only scenarios with this tag.
        #[arg(long)]
        tag: Option<String>,
        /// Only scenarios of this team.
        #[arg(long)]
        team: Option<String>,
        /// Only scenarios created after this instant, RFC 3339
        /// (2025-01-31T00:00:00Z).
        #[arg(long, value_name = "TIME")]
        created_after: Option<String>,
        /// Only scenarios created before this instant, RFC 3339.
        #[arg(long, value_name = "TIME")]
        created_before: Option<String>,
        /// "name", "create_time" or "last_run_time", optionally followed by
        /// " desc".
        #[arg(long, value_name = "ORDER")]
        order_by: Option<String>,
    },
    /// Show a saved scenario.
    Show {
        /// The scenario id, scn_….
        id: String,
    },
    /// Replace a saved scenario with a file, keeping the name, team, tags
    /// and description unless given; the previous revision is kept.
    Update {
        /// The scenario id, scn_….
        id: String,
        /// The new scenario file.
        file: PathBuf,
        /// Update only if the scenario still has this etag; by default the
        /// etag read just before the update, so a change made by someone
        /// else in between is never overwritten.
        #[arg(long)]
        etag: Option<String>,
        #[command(flatten)]
        meta: Metadata,
    },
    /// Delete a saved scenario and all its revisions.
    Delete {
        /// The scenario id, scn_….
        id: String,
        /// Delete only if the scenario still has this etag.
        #[arg(long)]
        etag: Option<String>,
    },
    /// List the revisions of a saved scenario, newest first.
    Revisions {
        /// The scenario id, scn_….
        id: String,
    },
    /// Run a saved scenario on the server and keep the run (see `breakeven
    /// run`); prints the run id and its key figures.
    Run {
        /// The scenario id, scn_….
        id: String,
        /// Run this revision; the current one by default.
        #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
        revision: u32,
        #[command(flatten)]
        flags: RunFlags,
    },
}

/// Name, team, tags and description of a saved scenario. An update keeps
/// those it is not given.
#[derive(Debug, clap::Args)]
pub struct Metadata {
    /// Display name; on create, the file's `name` when omitted.
    #[arg(long)]
    name: Option<String>,
    /// Owning team.
    #[arg(long)]
    team: Option<String>,
    /// A label to filter by; repeat for more (an update replaces them all).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Free text.
    #[arg(long)]
    description: Option<String>,
}

pub async fn run(global: &Global, out: Output, command: Command) -> Result<(), Failure> {
    match command {
        Command::Init { out: path } => {
            out.no_csv("scenario init")?;
            init(path.as_deref())
        }
        Command::Create { file, meta } => {
            let file = ScenarioFile::read(&file)?;
            let mut client = ScenarioServiceClient::new(connect(global).await?);
            let saved = client
                .create_scenario(pb::CreateScenarioRequest {
                    name: meta.name.unwrap_or_else(|| file.scenario.name.clone()),
                    team: meta.team.unwrap_or_default(),
                    tags: meta.tags,
                    description: meta.description.unwrap_or_default(),
                    scenario: Some(file.wire.clone()),
                })
                .await
                .map_err(|status| file.locate(status.into()))?
                .into_inner();
            out.show(&saved, || saved_report(&saved))
        }
        Command::List {
            name_contains,
            tag,
            team,
            created_after,
            created_before,
            order_by,
        } => {
            let mut client = ScenarioServiceClient::new(connect(global).await?);
            let mut all = pb::ListScenariosResponse::default();
            loop {
                let page = client
                    .list_scenarios(pb::ListScenariosRequest {
                        name_contains: name_contains.clone().unwrap_or_default(),
                        tag: tag.clone().unwrap_or_default(),
                        team: team.clone().unwrap_or_default(),
                        created_after: created_after.clone().unwrap_or_default(),
                        created_before: created_before.clone().unwrap_or_default(),
                        order_by: order_by.clone().unwrap_or_default(),
                        page_size: PAGE_SIZE,
                        page_token: all.next_page_token.clone(),
                    })
                    .await?
                    .into_inner();
                all.scenarios.extend(page.scenarios);
                all.total_size = page.total_size;
                all.next_page_token = page.next_page_token;
                if all.next_page_token.is_empty() {
                    break;
                }
            }
            out.show(&all, || {
                let mut report = Report::new();
                report.table(list_table(&all.scenarios));
                report
            })
        }
        Command::Show { id } => {
            let mut client = ScenarioServiceClient::new(connect(global).await?);
            let saved = client
                .get_scenario(pb::GetScenarioRequest { id })
                .await?
                .into_inner();
            out.show(&saved, || saved_report(&saved))
        }
        Command::Update {
            id,
            file,
            etag,
            meta,
        } => {
            let file = ScenarioFile::read(&file)?;
            let mut client = ScenarioServiceClient::new(connect(global).await?);
            let current = client
                .get_scenario(pb::GetScenarioRequest { id: id.clone() })
                .await?
                .into_inner();
            let saved = client
                .update_scenario(pb::UpdateScenarioRequest {
                    id,
                    name: meta.name.unwrap_or(current.name),
                    team: meta.team.unwrap_or(current.team),
                    tags: if meta.tags.is_empty() {
                        current.tags
                    } else {
                        meta.tags
                    },
                    description: meta.description.unwrap_or(current.description),
                    scenario: Some(file.wire.clone()),
                    etag: etag.unwrap_or(current.etag),
                    expected_revision: 0,
                })
                .await
                .map_err(|status| file.locate(status.into()))?
                .into_inner();
            out.show(&saved, || saved_report(&saved))
        }
        Command::Delete { id, etag } => {
            out.no_csv("scenario delete")?;
            let mut client = ScenarioServiceClient::new(connect(global).await?);
            let response = client
                .delete_scenario(pb::DeleteScenarioRequest {
                    id: id.clone(),
                    etag: etag.unwrap_or_default(),
                })
                .await?
                .into_inner();
            out.done(&response, || format!("deleted {id}"))
        }
        Command::Revisions { id } => {
            let mut client = ScenarioServiceClient::new(connect(global).await?);
            let mut all = pb::ListScenarioRevisionsResponse::default();
            loop {
                let page = client
                    .list_scenario_revisions(pb::ListScenarioRevisionsRequest {
                        id: id.clone(),
                        page_size: PAGE_SIZE,
                        page_token: all.next_page_token.clone(),
                    })
                    .await?
                    .into_inner();
                all.revisions.extend(page.revisions);
                all.total_size = page.total_size;
                all.next_page_token = page.next_page_token;
                if all.next_page_token.is_empty() {
                    break;
                }
            }
            out.show(&all, || {
                let mut report = Report::new();
                report.table(revisions_table(&all.revisions));
                report
            })
        }
        Command::Run {
            id,
            revision,
            flags,
        } => super::run::scenario_run(global, out, id, revision, &flags).await,
    }
}

/// Prints the template, or writes it to a new file.
fn init(path: Option<&Path>) -> Result<(), Failure> {
    let Some(path) = path else {
        return print(TEMPLATE);
    };
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .and_then(|mut file| file.write_all(TEMPLATE.as_bytes()));
    match written {
        Ok(()) => {
            eprintln!(
                "wrote {}; edit it, then `breakeven project {}`",
                path.display(),
                path.display()
            );
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Failure::Local(format!(
            "{} exists already; choose another --out or remove it",
            path.display()
        ))),
        Err(e) => Err(Failure::Local(format!(
            "cannot write {}: {e}",
            path.display()
        ))),
    }
}

fn saved_report(s: &pb::SavedScenario) -> Report {
    let mut meta = Record::new();
    meta.add("id", "id", Cell::text(&s.id))
        .add("name", "name", Cell::text(&s.name))
        .add("team", "team", Cell::text(&s.team))
        .add("tags", "tags", Cell::text(s.tags.join(", ")))
        .add("revision", "revision", Cell::count(s.revision))
        .add("etag", "etag", Cell::text(&s.etag))
        .add("create_time", "created", Cell::text(&s.create_time))
        .add("update_time", "updated", Cell::text(&s.update_time))
        .add("last_run_time", "last run", Cell::text(&s.last_run_time));
    if !s.description.is_empty() {
        meta.add("description", "description", Cell::text(&s.description));
    }
    if let Some(scenario) = &s.scenario {
        add_overview(&mut meta, scenario);
    }
    let mut report = Report::new();
    report.record(meta);
    report
}

/// The few fields that say what a scenario compares.
pub(super) fn add_overview(record: &mut Record, s: &pb::Scenario) {
    let w = s.workload.clone().unwrap_or_default();
    let api = s.api.clone().unwrap_or_default();
    let host = s.self_host.clone().unwrap_or_default();
    let deployment = match &host.deployment {
        Some(pb::self_host_option::Deployment::Owned(_)) => "owned".to_string(),
        Some(pb::self_host_option::Deployment::Rented(r)) if !r.rate.is_empty() => {
            format!("rented, {}", r.rate.replace('_', " "))
        }
        _ => "rented, on demand".to_string(),
    };
    let precision = match super::catalog::precision_name(host.precision) {
        name if name.is_empty() => "bf16".to_string(),
        name => name,
    };
    record
        .add(
            "horizon",
            "horizon",
            Cell::text(format!(
                "{} months from {}",
                s.horizon_months, s.start_month
            )),
        )
        .add(
            "requests_per_day",
            "requests/day",
            Cell::number(count(w.requests_per_day), w.requests_per_day),
        )
        .add(
            "tokens",
            "tokens in/out",
            Cell::text(format!(
                "{} / {}",
                count(w.input_tokens),
                count(w.output_tokens)
            )),
        )
        .add("api_price_id", "API", Cell::text(&api.price_id))
        .add(
            "self_host",
            "self-host",
            Cell::text(format!(
                "{} {} on {} ({deployment})",
                host.model_id, precision, host.gpu_id
            )),
        );
    if let Some(ft) = &api.fine_tune {
        record.add(
            "fine_tune_training_cost_usd",
            "fine-tune training",
            Cell::number(usd(ft.training_cost_usd), ft.training_cost_usd),
        );
    }
}

fn list_table(scenarios: &[pb::SavedScenario]) -> Table {
    let mut table = Table::new(vec![
        text("id", "id"),
        text("name", "name"),
        text("team", "team"),
        text("tags", "tags"),
        num("revision", "revision"),
        text("update_time", "updated"),
        text("last_run_time", "last run"),
    ]);
    for s in scenarios {
        table.push(vec![
            Cell::text(&s.id),
            Cell::text(&s.name),
            Cell::text(&s.team),
            Cell::text(s.tags.join(", ")),
            Cell::count(s.revision),
            Cell::text(&s.update_time),
            Cell::text(&s.last_run_time),
        ]);
    }
    table
}

fn revisions_table(revisions: &[pb::ScenarioRevision]) -> Table {
    let mut table = Table::new(vec![
        num("revision", "revision"),
        text("name", "name"),
        text("team", "team"),
        text("tags", "tags"),
        text("create_time", "saved"),
    ]);
    for r in revisions {
        table.push(vec![
            Cell::count(r.revision),
            Cell::text(&r.name),
            Cell::text(&r.team),
            Cell::text(r.tags.join(", ")),
            Cell::text(&r.create_time),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::tco::Scenario;

    #[test]
    fn the_template_parses_and_validates_against_the_built_in_catalogue() {
        let scenario = Scenario::from_toml(TEMPLATE).unwrap();
        scenario
            .validate(&Catalog::embedded().unwrap(), "")
            .unwrap();
        pb::Scenario::try_from(&scenario).unwrap();
    }

    /// The commented-out settings are valid too: uncommented, with owned
    /// GPUs instead of rented ones and the overflow routing, the file still
    /// validates.
    #[test]
    fn the_templates_optional_sections_validate_when_uncommented() {
        fn uncomment(line: &str) -> Option<&str> {
            let rest = line.strip_prefix("# ")?;
            let key = rest.split('=').next()?.trim();
            let setting = rest.contains('=')
                && !key.is_empty()
                && key.chars().all(|c| c.is_ascii_lowercase() || c == '_');
            (rest.starts_with('[') || setting).then_some(rest)
        }
        let mut lines = Vec::new();
        let mut skipping = false;
        for line in TEMPLATE.lines() {
            let line = uncomment(line).unwrap_or(line);
            if line.starts_with('[') {
                skipping = line == "[self_host.deployment.rented]" || line == "[routing.fraction]";
            }
            if !skipping {
                lines.push(line);
            }
        }
        let scenario = Scenario::from_toml(&lines.join("\n")).unwrap();
        scenario
            .validate(&Catalog::embedded().unwrap(), "")
            .unwrap();
        assert!(matches!(
            scenario.self_host.deployment,
            crate::tco::scenario::Deployment::Owned(_)
        ));
        assert!(scenario.api.fine_tune.is_some());
        assert_eq!(scenario.api.volume_discounts.len(), 1);
        assert_eq!(
            scenario.routing,
            crate::tco::scenario::Routing::Overflow { gpus: 16 }
        );
    }
}
