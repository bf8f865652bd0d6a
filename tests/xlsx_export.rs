//! ExportRun with `format = XLSX` and `run export --format xlsx`: the
//! workbook of a kept run, read back with calamine. Every value equals the
//! run's stored output; the Monthly sheet's cumulative columns and totals
//! are formulas over the monthly cells; the command line writes the same
//! bytes as the API; bad input gets the documented codes.

mod common;

use std::collections::HashMap;
use std::io::Cursor;
use std::time::Instant;

use breakeven::grpc::pb;
use breakeven::grpc::pb::run_service_client::RunServiceClient;
use breakeven::grpc::pb::scenario_service_client::ScenarioServiceClient;
use calamine::{Data, Range, Reader, Xlsx, open_workbook_from_rs};
use common::TestServer;
use common::cli::{NOT_FOUND, USAGE, run, unique};
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

fn scenario(horizon_months: u32) -> pb::Scenario {
    pb::Scenario {
        name: "support bot".into(),
        horizon_months,
        start_month: "2026-01".into(),
        workload: Some(pb::WorkloadSpec {
            requests_per_day: 400_000.0,
            input_tokens: 1500.0,
            output_tokens: 300.0,
            annual_growth: Some(0.5),
            ..Default::default()
        }),
        api: Some(pb::ApiOption {
            price_id: "gpt-4o-mini".into(),
            ..Default::default()
        }),
        self_host: Some(pb::SelfHostOption {
            model_id: "llama-3.1-8b".into(),
            gpu_id: "h100-sxm".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn options(kind: pb::RunKind) -> pb::RunOptions {
    pb::RunOptions {
        kind: kind.into(),
        simulation: (kind == pb::RunKind::Simulation).then(|| pb::RunSimulationRequest {
            paths: 2000,
            seed: 7,
            tornado_paths: 500,
            sobol_rows: 300,
            // The paths' IRR and payback month.
            hurdle_rate: Some(0.15),
            payback_within_months: Some(24),
            stochastic: Some(pb::StochasticInputs {
                demand: Some(pb::stochastic_inputs::Demand::DemandGbm(pb::DemandGbm {
                    volatility: 0.4,
                })),
                // An uncertain input, so that the tornado has a bar.
                uncertain: vec![pb::UncertainInput {
                    input: "workload.annual_growth".into(),
                    distribution: Some(pb::DistributionSpec {
                        kind: Some(pb::distribution_spec::Kind::Uniform(
                            pb::UniformDistribution { min: 0.2, max: 0.8 },
                        )),
                    }),
                }],
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Saves a scenario of `horizon_months` and keeps a run of `kind` of it.
async fn keep(channel: &Channel, horizon_months: u32, kind: pb::RunKind) -> pb::Run {
    let saved = ScenarioServiceClient::new(channel.clone())
        .create_scenario(pb::CreateScenarioRequest {
            name: format!("bot over {horizon_months} months"),
            team: "finance".into(),
            scenario: Some(scenario(horizon_months)),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut runs = RunServiceClient::new(channel.clone());
    let kept = runs
        .run_scenario(pb::RunScenarioRequest {
            scenario_id: saved.id,
            revision: 0,
            options: Some(options(kind)),
        })
        .await
        .unwrap()
        .into_inner();
    // As GetRun returns it: inputs and outputs as stored.
    runs.get_run(pb::GetRunRequest { id: kept.id })
        .await
        .unwrap()
        .into_inner()
}

/// The workbook of run `id` through ExportRun, and how many chunks it came in.
async fn export(channel: &Channel, id: &str) -> Result<(Vec<u8>, usize), tonic::Status> {
    let mut stream = RunServiceClient::new(channel.clone())
        .export_run(pb::ExportRunRequest {
            id: id.into(),
            table: 0,
            format: pb::ExportFormat::Xlsx.into(),
        })
        .await?
        .into_inner();
    let (mut bytes, mut chunks) = (Vec::new(), 0);
    while let Some(chunk) = stream.message().await? {
        bytes.extend(chunk.data);
        chunks += 1;
    }
    Ok((bytes, chunks))
}

/// One sheet's values and formulas.
struct Sheet {
    values: Range<Data>,
    formulas: Range<String>,
}

impl Sheet {
    fn value(&self, row: u32, col: u32) -> &Data {
        self.values.get_value((row, col)).unwrap_or(&Data::Empty)
    }

    fn number(&self, row: u32, col: u32) -> f64 {
        match self.value(row, col) {
            Data::Float(v) => *v,
            Data::Int(v) => *v as f64,
            other => panic!("row {row} col {col}: not a number: {other:?}"),
        }
    }

    fn text(&self, row: u32, col: u32) -> String {
        match self.value(row, col) {
            Data::String(s) => s.clone(),
            other => panic!("row {row} col {col}: not text: {other:?}"),
        }
    }

    fn formula(&self, row: u32, col: u32) -> String {
        self.formulas
            .get_value((row, col))
            .cloned()
            .unwrap_or_default()
    }

    /// Column `col` of the header row → its position.
    fn column(&self, name: &str) -> u32 {
        (0..self.values.width() as u32)
            .find(|&c| matches!(self.value(0, c), Data::String(s) if s == name))
            .unwrap_or_else(|| panic!("no column {name}"))
    }
}

struct Book {
    names: Vec<String>,
    sheets: HashMap<String, Sheet>,
}

impl Book {
    fn open(bytes: &[u8]) -> Book {
        let mut xlsx: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes.to_vec())).unwrap();
        let names = xlsx.sheet_names();
        let sheets = names
            .iter()
            .map(|n| {
                let sheet = Sheet {
                    values: xlsx.worksheet_range(n).unwrap(),
                    formulas: xlsx.worksheet_formula(n).unwrap(),
                };
                (n.clone(), sheet)
            })
            .collect();
        Book { names, sheets }
    }

    fn sheet(&self, name: &str) -> &Sheet {
        &self.sheets[name]
    }

    /// The Summary sheet's values by their Field column.
    fn summary(&self) -> HashMap<String, Data> {
        let s = self.sheet("Summary");
        (1..s.values.height() as u32)
            .map(|r| (s.text(r, 3), s.value(r, 1).clone()))
            .collect()
    }
}

fn number(d: &Data) -> f64 {
    match d {
        Data::Float(v) => *v,
        Data::Int(v) => *v as f64,
        other => panic!("not a number: {other:?}"),
    }
}

/// Checks every sheet of `book` against the stored `run`.
fn check(book: &Book, run: &pb::Run) {
    let output = run.output.clone().unwrap();
    let projection = output.projection.clone().unwrap();
    let s = projection.summary.clone().unwrap();

    let mut expected = vec!["Summary", "Inputs", "Monthly"];
    if output.simulation.is_some() {
        expected.push("Simulation");
    }
    if output.simulation.is_some() || output.break_even.is_some() {
        expected.push("Sensitivity");
    }
    expected.push("Sources");
    assert_eq!(book.names, expected);

    // Summary: the key figures, as stored.
    let summary = book.summary();
    assert_eq!(summary["id"], Data::String(run.id.clone()));
    assert_eq!(
        summary["engine_version"],
        Data::String(run.engine_version.clone())
    );
    assert_eq!(
        summary["catalog_version"],
        Data::String(run.catalog_version.clone())
    );
    assert!(
        matches!(summary["create_time"], Data::DateTime(_)),
        "{:?}",
        summary["create_time"]
    );
    for (field, value) in [
        ("summary.total_api", s.total_api),
        ("summary.npv_api", s.npv_api),
        ("summary.total_self_host_pnl", s.total_self_host_pnl),
        ("summary.total_self_host_cash", s.total_self_host_cash),
        ("summary.npv_self_host", s.npv_self_host),
        ("summary.mean_utilization", s.mean_utilization),
        ("summary.capex_paid_month_0", s.capex_paid_month_0),
        (
            "key_figures.savings",
            run.key_figures.unwrap_or_default().savings,
        ),
    ] {
        assert_eq!(number(&summary[field]), value, "{field}");
    }
    // The investment figures: NPV of savings and IRR as stored, payback as
    // a month or "not within the horizon".
    let r = s.returns.clone().unwrap();
    assert_eq!(number(&summary["summary.returns.npv"]), r.npv);
    match r.irr {
        Some(irr) => assert_eq!(number(&summary["summary.returns.irr"]), irr),
        None => assert_eq!(
            summary["summary.returns.irr"],
            Data::String(r.irr_note.clone())
        ),
    }
    match r.payback_month {
        Some(t) => assert_eq!(
            number(&summary["summary.returns.payback_month"]),
            f64::from(t)
        ),
        None => assert_eq!(
            summary["summary.returns.payback_month"],
            Data::String("not within the horizon".into())
        ),
    }
    assert!(summary.contains_key("summary.returns.discounted_payback_month"));
    assert!(summary.contains_key("summary.returns.roi"));
    if s.break_even_month > 0 {
        assert_eq!(
            number(&summary["summary.break_even_month"]),
            f64::from(s.break_even_month)
        );
    } else {
        assert_eq!(
            summary["summary.break_even_month"],
            Data::String("never".into())
        );
    }
    match s.break_even_months_fractional {
        Some(f) => assert_eq!(number(&summary["summary.break_even_months_fractional"]), f),
        None => assert!(!summary.contains_key("summary.break_even_months_fractional")),
    }

    // Inputs: the scenario as given, and every assumption.
    let inputs = book.sheet("Inputs");
    let given: HashMap<String, Data> = (1..inputs.values.height() as u32)
        .filter(|&r| matches!(inputs.value(r, 3), Data::String(_)))
        .map(|r| (inputs.text(r, 3), inputs.value(r, 1).clone()))
        .collect();
    assert_eq!(number(&given["workload.requests_per_day"]), 400_000.0);
    assert_eq!(number(&given["workload.annual_growth"]), 0.5);
    assert_eq!(
        given["self_host.gpu"],
        Data::String("h100-sxm".into()),
        "{given:?}"
    );
    let fields_listed: Vec<String> = (0..inputs.values.height() as u32)
        .filter_map(|r| match inputs.value(r, 0) {
            Data::String(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    for a in &projection.assumptions {
        assert!(fields_listed.contains(&a.field), "assumption {}", a.field);
    }

    // Monthly: every stored value; the cumulative columns and the totals
    // are formulas whose cached results are the stored figures.
    let m = book.sheet("Monthly");
    assert_eq!(m.text(1, 1), "before month 1");
    let col = |name: &str| m.column(name);
    let cum_api = col("Cumulative API");
    let cum_pnl = col("Cumulative self-host (P&L)");
    let cum_cash = col("Cumulative self-host (cash)");
    let api = col("API cost");
    let cash = col("Self-host (cash)");
    assert_eq!(m.number(1, cum_cash), s.capex_paid_month_0);
    for (i, row) in projection.months.iter().enumerate() {
        let r = 2 + i as u32;
        assert_eq!(m.number(r, 0), f64::from(row.month));
        assert!(matches!(m.value(r, 1), Data::DateTime(_)));
        for (name, value) in [
            ("Requests per day", row.requests_per_day),
            ("Input tokens", row.input_tokens),
            ("Output tokens", row.output_tokens),
            ("API cost", row.api_cost),
            ("Fine-tuned API cost", row.fine_tuned_api_cost),
            ("GPUs held", f64::from(row.gpus_held)),
            ("Rental", row.rental),
            ("Depreciation", row.depreciation),
            ("Cost of capital", row.cost_of_capital),
            ("Power", row.power),
            ("Colocation", row.colocation),
            ("Staff", row.staff),
            ("Residual API cost", row.residual_api_cost),
            ("Self-host (P&L)", row.self_host_pnl),
            ("Capex paid", row.capex_paid),
            ("Resale", row.resale),
            ("Self-host (cash)", row.self_host_cash),
            ("Utilisation", row.utilization),
            ("Cumulative API", row.cumulative_api),
            ("Cumulative self-host (P&L)", row.cumulative_self_host_pnl),
            ("Cumulative self-host (cash)", row.cumulative_self_host_cash),
        ] {
            assert_eq!(m.number(r, col(name)), value, "month {} {name}", row.month);
        }
        // `=Z2+F3`: the month before plus this month's line.
        let cell = |r: u32, c: u32| format!("{}{}", letters(c), r + 1);
        assert_eq!(
            m.formula(r, cum_api),
            format!("{}+{}", cell(r - 1, cum_api), cell(r, api))
        );
        assert_eq!(
            m.formula(r, cum_cash),
            format!("{}+{}", cell(r - 1, cum_cash), cell(r, cash))
        );
        assert!(m.formula(r, cum_pnl).contains('+'));
    }
    let total = 2 + projection.months.len() as u32;
    assert_eq!(m.text(total, 0), "Total");
    assert_eq!(
        m.formula(total, api),
        format!("SUM({}2:{}{})", letters(api), letters(api), total)
    );
    let api_total: f64 = projection.months.iter().map(|m| m.api_cost).sum();
    assert_eq!(m.number(total, api), api_total);
    // The totals agree with the summary's to rounding.
    assert!((m.number(total, api) - s.total_api).abs() <= 1e-6 * s.total_api.abs());
    let last = total - 1;
    assert!(
        (m.number(total, cash) - m.number(last, cum_cash)).abs()
            <= 1e-6 * s.total_self_host_cash.abs().max(1.0)
    );

    // Simulation: every month's percentiles and the risk figures.
    if let Some(sim) = &output.simulation {
        let sh = book.sheet("Simulation");
        for (i, month) in sim.months.iter().enumerate() {
            let r = 1 + i as u32;
            assert_eq!(sh.number(r, 0), f64::from(month.month));
            let api = month.api.unwrap();
            let savings = month.cumulative_savings.unwrap();
            assert_eq!(sh.number(r, sh.column("API P5")), api.p5);
            assert_eq!(sh.number(r, sh.column("API P95")), api.p95);
            assert_eq!(
                sh.number(r, sh.column("Cumulative savings P50")),
                savings.p50
            );
            assert_eq!(
                sh.number(r, sh.column("Cumulative savings mean")),
                savings.mean
            );
            assert_eq!(
                sh.number(r, sh.column("P(break-even by month)")),
                month.p_break_even_by
            );
        }
        let label = sh.column("Risk figure");
        let risk: HashMap<String, f64> = (1..sh.values.height() as u32)
            .filter(|&r| matches!(sh.value(r, label), Data::String(_)))
            .filter_map(|r| match sh.value(r, label + 1) {
                Data::Float(v) => Some((sh.text(r, label), *v)),
                _ => None,
            })
            .collect();
        let npv = sim.npv_savings.unwrap();
        assert_eq!(risk["NPV of savings P5"], npv.p5);
        assert_eq!(risk["NPV of savings P50"], npv.p50);
        assert_eq!(risk["NPV of savings P95"], npv.p95);
        assert_eq!(risk["Value at risk, 95%"], sim.var_95);
        assert_eq!(risk["Conditional value at risk, 95%"], sim.cvar_95);
        let investment = sim.investment.as_ref().expect("the run asked for them");
        let irr = investment.irr.unwrap();
        assert_eq!(risk["IRR a year P50"], irr.p50);
        assert_eq!(risk["IRR a year P95"], irr.p95);
        assert_eq!(risk["P(no IRR)"], investment.p_no_irr);
        assert_eq!(risk["Hurdle rate a year"], 0.15);
        assert_eq!(
            risk["P(IRR above the hurdle)"],
            investment.p_irr_above_hurdle
        );
        assert_eq!(
            risk["P(payback within 24 months)"],
            investment.p_payback_within
        );
        assert_eq!(
            risk["P(no payback within the horizon)"],
            investment.p_no_payback
        );
        for (i, paid) in investment.p_payback_by.iter().enumerate() {
            let r = 1 + i as u32;
            assert_eq!(sh.number(r, sh.column("P(paid back by month)")), *paid);
        }
        assert_eq!(
            number(&summary["simulation.p_self_host_cheaper"]),
            sim.p_self_host_cheaper
        );

        let sens = book.sheet("Sensitivity");
        assert!(!sim.tornado.is_empty() && !sim.rank_correlations.is_empty());
        for (i, bar) in sim.tornado.iter().enumerate() {
            let r = 1 + i as u32;
            assert_eq!(sens.text(r, 0), bar.input);
            assert_eq!(sens.number(r, 3), bar.npv_at_low);
            assert_eq!(sens.number(r, 4), bar.npv_at_high);
        }
        for (i, rho) in sim.rank_correlations.iter().enumerate() {
            let r = 1 + i as u32;
            assert_eq!(sens.text(r, 6), rho.input);
            assert_eq!(sens.number(r, 7), rho.spearman);
        }
        assert!(!sim.sobol.is_empty());
        for (i, index) in sim.sobol.iter().enumerate() {
            let r = 1 + i as u32;
            assert_eq!(sens.text(r, 15), index.input);
            assert_eq!(sens.text(r, 16), index.output);
            assert_eq!(sens.number(r, 17), index.first_order);
            assert_eq!(sens.number(r, 20), index.total);
            assert_eq!(sens.number(r, 22), index.total_high);
        }
    }
    if let Some(b) = &output.break_even {
        let sens = book.sheet("Sensitivity");
        assert!(!b.sensitivities.is_empty());
        for (i, case) in b.sensitivities.iter().enumerate() {
            let r = 1 + i as u32;
            assert_eq!(sens.number(r, 10), case.change);
            assert_eq!(sens.number(r, 13), case.horizon_savings);
        }
    }

    // Sources: each catalogue figure with its source and a real date.
    let src = book.sheet("Sources");
    assert!(src.values.height() > 2);
    for r in 1..src.values.height() as u32 {
        assert!(!src.text(r, 2).is_empty(), "row {r} has no source");
        assert!(matches!(src.value(r, 3), Data::DateTime(_)), "row {r}");
    }
    assert!(
        (1..src.values.height() as u32).any(|r| src.text(r, 0).contains("price from")),
        "no API price among the sources"
    );
}

/// A column's letters: 0 → A, 25 → Z, 26 → AA.
fn letters(mut col: u32) -> String {
    let mut out = String::new();
    loop {
        out.insert(0, (b'A' + (col % 26) as u8) as char);
        if col < 26 {
            return out;
        }
        col = col / 26 - 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workbooks_hold_the_stored_outputs_with_live_formulas() {
    let server = TestServer::start().await;
    let channel = server.channel().await;
    for kind in [
        pb::RunKind::Projection,
        pb::RunKind::BreakEven,
        pb::RunKind::Simulation,
    ] {
        let kept = keep(&channel, 24, kind).await;
        let (bytes, _) = export(&channel, &kept.id).await.unwrap();
        check(&Book::open(&bytes), &kept);

        // The command line writes the same file.
        let path = std::env::temp_dir().join(format!("breakeven-{}.xlsx", unique()));
        let out = path.to_str().unwrap();
        run(
            &server,
            &["run", "export", &kept.id, "--format", "xlsx", "--out", out],
        )
        .await
        .ok();
        let written = std::fs::read(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(written, bytes, "{kind:?}: the CLI's file differs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_240_month_simulation_makes_a_workbook_that_opens() {
    let server = TestServer::start().await;
    let channel = server.channel().await;
    let kept = keep(&channel, 240, pb::RunKind::Simulation).await;
    let started = Instant::now();
    let (bytes, chunks) = export(&channel, &kept.id).await.unwrap();
    let elapsed = started.elapsed();
    let opened = Instant::now();
    let book = Book::open(&bytes);
    println!(
        "240-month simulation workbook: {} bytes in {chunks} chunks, exported in {:.0} ms, \
         read back in {:.0} ms",
        bytes.len(),
        elapsed.as_secs_f64() * 1e3,
        opened.elapsed().as_secs_f64() * 1e3,
    );
    assert!(chunks > 1, "a file this size streams in several chunks");
    check(&book, &kept);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_exports_get_the_documented_codes() {
    let server = TestServer::start().await;
    let channel = server.channel().await;
    let kept = keep(&channel, 12, pb::RunKind::Projection).await;

    let err = RunServiceClient::new(channel.clone())
        .export_run(pb::ExportRunRequest {
            id: kept.id.clone(),
            table: 0,
            format: 99,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    let fields: Vec<String> = err
        .get_details_bad_request()
        .unwrap()
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["format"]);

    let err = export(&channel, "run_0000000000000000").await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");

    // The command line: a workbook needs a file, and says so before any call.
    let no_out = run(&server, &["run", "export", &kept.id, "--format", "xlsx"]).await;
    assert_eq!(no_out.code, USAGE, "{}", no_out.stderr);
    assert!(no_out.stderr.contains("--out"), "{}", no_out.stderr);
    assert!(no_out.stdout.is_empty());
    let path = std::env::temp_dir().join(format!("breakeven-{}.xlsx", unique()));
    let out = path.to_str().unwrap();
    let unknown = run(
        &server,
        &[
            "run",
            "export",
            "run_0000000000000000",
            "--format",
            "xlsx",
            "--out",
            out,
        ],
    )
    .await;
    assert_eq!(unknown.code, NOT_FOUND, "{}", unknown.stderr);
    assert!(!path.exists(), "an unknown run leaves no file behind");
}
