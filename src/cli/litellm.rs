//! `breakeven catalog import-litellm FILE`: LiteLLM's price file imported
//! as dated prices of the caller's team, or on `--dry-run` only compared
//! with the prices in force.
//!
//! The file is sent as it is; the server maps its keys through the
//! catalogue's `prices/litellm-map.toml` and checks every figure.

use std::path::{Path, PathBuf};

use tonic::Code;
use tonic_types::StatusExt as _;

use super::exit::Failure;
use super::output::{Cell, Output, Report, Table, num, text};
use super::{Global, connect};
use crate::grpc::pb;
use crate::grpc::pb::catalog_service_client::CatalogServiceClient;

/// Flags of `catalog import-litellm`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// LiteLLM's model_prices_and_context_window.json (prices per token).
    pub file: PathBuf,
    /// First day the imported prices apply, YYYY-MM-DD; today (UTC) by
    /// default. It must follow the price in force of every changed id.
    #[arg(long, value_name = "DATE")]
    pub effective_date: Option<String>,
    /// Print what would change and store nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Team the prices are for (the token's team when the server checks
    /// tokens).
    #[arg(long)]
    pub team: Option<String>,
}

pub async fn run(global: &Global, out: Output, args: Args) -> Result<(), Failure> {
    let litellm_json = std::fs::read(&args.file)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", args.file.display())))?;
    let mut client = CatalogServiceClient::new(connect(global).await?);
    let response = client
        .import_prices(pb::ImportPricesRequest {
            litellm_json,
            effective_date: args.effective_date.unwrap_or_default(),
            dry_run: args.dry_run,
            team: args.team.unwrap_or_default(),
        })
        .await
        .map_err(|status| in_file(&args.file, status))?
        .into_inner();
    out.show(&response, || report(&response))
}

/// Problems in the file (`litellm_json…`) are prefixed with its name;
/// the status code is unchanged.
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
        .map(|v| match v.field.strip_prefix("litellm_json") {
            Some(rest) => format!("{}{rest}: {}", path.display(), v.description),
            None => format!("{}: {}", v.field, v.description),
        })
        .collect();
    if lines.is_empty() {
        return Failure::Status(status);
    }
    Failure::Status(tonic::Status::new(status.code(), lines.join("\n")))
}

/// The summary, the slips and what was not imported, then the change
/// list (the `--csv` table): one row per id and field, old → new.
fn report(r: &pb::ImportPricesResponse) -> Report {
    let mut report = Report::new();
    let team = if r.team.is_empty() {
        String::new()
    } else {
        format!(" for team {}", r.team)
    };
    let verb = if r.dry_run {
        "dry run, nothing stored:"
    } else {
        "imported:"
    };
    report.title(format!(
        "LiteLLM prices effective {}{team} ({verb} {} changed, {} unchanged, {} unit slips, \
         {} not in the file, {} retired, {} keys unmapped)",
        r.effective_date,
        r.changes.len(),
        r.unchanged.len(),
        r.slips.len(),
        r.not_found.len(),
        r.retired.len(),
        r.unmapped.len(),
    ));
    if !r.slips.is_empty() {
        let mut slips = Table::new(vec![
            text("price_id", "unit slip, not imported"),
            text("litellm_key", "LiteLLM key"),
            text("field", "field"),
            num("usd_per_token", "$/token"),
            text("reason", "why"),
        ]);
        for s in &r.slips {
            slips.push(vec![
                Cell::text(&s.price_id),
                Cell::text(&s.litellm_key),
                Cell::text(&s.field),
                Cell::number(format!("{:e}", s.usd_per_token), s.usd_per_token),
                Cell::text(&s.reason),
            ]);
        }
        report.table(slips);
    }
    let listing = |title: &str, items: Vec<String>| {
        (!items.is_empty()).then(|| format!("{title} ({}): {}", items.len(), items.join(", ")))
    };
    let mapped = |m: &[pb::LitellmMapping]| {
        m.iter()
            .map(|m| format!("{} ({})", m.price_id, m.litellm_key))
            .collect()
    };
    for line in [
        listing("unchanged", r.unchanged.clone()),
        listing("not in the file", mapped(&r.not_found)),
        listing("retired before the date", mapped(&r.retired)),
        unmapped(&r.unmapped),
    ]
    .into_iter()
    .flatten()
    {
        report.text(line);
    }
    let mut changes = Table::new(vec![
        text("price_id", "price id"),
        text("litellm_key", "LiteLLM key"),
        text("field", "field"),
        num("old_usd_per_mtok", "old $/MTok"),
        num("new_usd_per_mtok", "new $/MTok"),
        text("replaces", "in force from"),
    ]);
    let price = |v: Option<f64>| match v {
        // Every digit: a change of $0.005 must not read as none.
        Some(v) => Cell::number(format!("${v}"), v),
        None => Cell::text("none"),
    };
    for c in &r.changes {
        for f in &c.fields {
            changes.push(vec![
                Cell::text(&c.price_id),
                Cell::text(&c.litellm_key),
                Cell::text(&f.field),
                price(f.old_usd_per_mtok),
                price(f.new_usd_per_mtok),
                Cell::text(&c.replaces_effective_date),
            ]);
        }
    }
    report.table(changes);
    report
}

/// Keys shown of those nothing maps to; LiteLLM's file has thousands
/// (images, embeddings, other hosts), all of them in `--json`.
const UNMAPPED_SHOWN: usize = 20;

fn unmapped(keys: &[String]) -> Option<String> {
    if keys.is_empty() {
        return None;
    }
    let shown = &keys[..keys.len().min(UNMAPPED_SHOWN)];
    let more = keys.len() - shown.len();
    let rest = if more > 0 {
        format!(", and {more} more (all of them with --json)")
    } else {
        String::new()
    };
    Some(format!(
        "unmapped keys, not imported ({}): {}{rest}",
        keys.len(),
        shown.join(", ")
    ))
}
