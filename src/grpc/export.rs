//! ExportRun: a kept run's tables as CSV, cut into chunks for streaming.
//!
//! Numbers are written in Rust's shortest round-trip form, so a spreadsheet
//! or script reads back exactly the values the run holds.

use super::compare_runs::figures;
use super::pb;
use crate::error::{Error, Result};

/// The CSV text of `table`, header first, in chunks of `rows` rows.
pub(super) fn csv_chunks(
    run: &pb::Run,
    table: pb::ExportTable,
    rows: usize,
) -> Result<Vec<Vec<u8>>> {
    let (header, body) = match table {
        pb::ExportTable::Unspecified | pb::ExportTable::Months => months(run),
        pb::ExportTable::Summary => summary(run),
        pb::ExportTable::SimulationMonths => simulation_months(run)?,
    };
    let mut chunks = Vec::new();
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(&header).map_err(internal)?;
    for (i, record) in body.iter().enumerate() {
        writer.write_record(record).map_err(internal)?;
        if (i + 1).is_multiple_of(rows.max(1)) {
            let full = std::mem::replace(&mut writer, csv::Writer::from_writer(Vec::new()));
            chunks.push(full.into_inner().map_err(internal)?);
        }
    }
    let last = writer.into_inner().map_err(internal)?;
    if !last.is_empty() || chunks.is_empty() {
        chunks.push(last);
    }
    Ok(chunks)
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("writing CSV: {e}"))
}

type Table = (Vec<String>, Vec<Vec<String>>);

fn months(run: &pb::Run) -> Table {
    let header = [
        "month",
        "date",
        "requests_per_day",
        "input_tokens",
        "output_tokens",
        "api_cost",
        "fine_tuned_api_cost",
        "self_hosted_requests_per_day",
        "api_requests_per_day_in_self_host",
        "replicas_needed",
        "gpus_needed",
        "gpus_held",
        "rental",
        "depreciation",
        "cost_of_capital",
        "power",
        "colocation",
        "staff",
        "capex_paid",
        "resale",
        "residual_api_cost",
        "self_host_pnl",
        "self_host_cash",
        "utilization",
        "cumulative_api",
        "cumulative_self_host_pnl",
        "cumulative_self_host_cash",
        "disposal",
        "book_value",
    ];
    let months = run
        .output
        .as_ref()
        .and_then(|o| o.projection.as_ref())
        .map(|p| p.months.as_slice())
        .unwrap_or_default();
    let body = months
        .iter()
        .map(|m| {
            let mut row = vec![m.month.to_string(), m.date.clone()];
            row.extend(
                [
                    m.requests_per_day,
                    m.input_tokens,
                    m.output_tokens,
                    m.api_cost,
                    m.fine_tuned_api_cost,
                    m.self_hosted_requests_per_day,
                    m.api_requests_per_day_in_self_host,
                ]
                .iter()
                .map(f64::to_string),
            );
            row.extend([m.replicas_needed, m.gpus_needed, m.gpus_held].map(|n| n.to_string()));
            row.extend(
                [
                    m.rental,
                    m.depreciation,
                    m.cost_of_capital,
                    m.power,
                    m.colocation,
                    m.staff,
                    m.capex_paid,
                    m.resale,
                    m.residual_api_cost,
                    m.self_host_pnl,
                    m.self_host_cash,
                    m.utilization,
                    m.cumulative_api,
                    m.cumulative_self_host_pnl,
                    m.cumulative_self_host_cash,
                    m.disposal,
                    m.book_value,
                ]
                .iter()
                .map(f64::to_string),
            );
            row
        })
        .collect();
    (header.map(String::from).to_vec(), body)
}

fn summary(run: &pb::Run) -> Table {
    let mut body = vec![
        vec!["run_id".into(), run.id.clone(), String::new()],
        vec!["scenario_id".into(), run.scenario_id.clone(), String::new()],
        vec![
            "scenario_revision".into(),
            run.scenario_revision.to_string(),
            String::new(),
        ],
        vec!["create_time".into(), run.create_time.clone(), String::new()],
        vec![
            "engine_version".into(),
            run.engine_version.clone(),
            String::new(),
        ],
        vec![
            "catalog_version".into(),
            run.catalog_version.clone(),
            String::new(),
        ],
    ];
    body.extend(figures(run).into_iter().map(|(name, unit, value)| {
        // A figure the run does not have ("never", "not reached")
        // is an empty cell, not 0.
        let value = value.map_or_else(String::new, |v| v.to_string());
        vec![name.to_string(), value, unit.to_string()]
    }));
    (vec!["name".into(), "value".into(), "unit".into()], body)
}

fn simulation_months(run: &pb::Run) -> Result<Table> {
    let sim = run
        .output
        .as_ref()
        .and_then(|o| o.simulation.as_ref())
        .ok_or_else(|| {
            Error::FailedPrecondition(format!(
                "run {} is not a simulation run; export its months or summary instead",
                run.id
            ))
        })?;
    let series = [
        "api",
        "self_host",
        "cumulative_api",
        "cumulative_self_host",
        "cumulative_savings",
    ];
    let mut header = vec!["month".to_string(), "date".to_string()];
    for s in series {
        for stat in ["p5", "p25", "p50", "p75", "p95", "mean", "std_error"] {
            header.push(format!("{s}_{stat}"));
        }
    }
    header.extend(["mean_utilization", "p_break_even_by", "p_break_even_by_se"].map(String::from));
    let body = sim
        .months
        .iter()
        .map(|m| {
            let mut row = vec![m.month.to_string(), m.date.clone()];
            for p in [
                &m.api,
                &m.self_host,
                &m.cumulative_api,
                &m.cumulative_self_host,
                &m.cumulative_savings,
            ] {
                let p = p.unwrap_or_default();
                row.extend(
                    [p.p5, p.p25, p.p50, p.p75, p.p95, p.mean, p.std_error].map(|v| v.to_string()),
                );
            }
            row.extend(
                [m.mean_utilization, m.p_break_even_by, m.p_break_even_by_se]
                    .map(|v| v.to_string()),
            );
            row
        })
        .collect();
    Ok((header, body))
}
