//! The Excel workbook of a kept run: what a finance team opens months
//! later. One sheet per concern — Summary, Inputs, Monthly, Simulation,
//! Sensitivity, Sources — written with rust_xlsxwriter.
//!
//! The Monthly sheet's cumulative columns and totals row are live formulas
//! over the monthly cells (`=SUM(F2:F242)`, `=Z2+F3`), so an auditor can
//! trace every total to the lines it adds; each formula also carries the
//! value the engine computed as its cached result, so a reader that does
//! not recalculate (or a script) sees the run's own numbers.
//!
//! Plain data in ([`Workbook`], filled by the caller from a run), bytes
//! out: no I/O, no clock, no gRPC.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use rust_xlsxwriter::utility::row_col_to_cell;
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Formula, Worksheet, XlsxError};

use super::Source;
use crate::error::{Error, Result};
use crate::montecarlo::Stats;

/// Everything the workbook shows. Sheets without data are left out
/// (Simulation without `simulation`; Sensitivity without any of its rows).
#[derive(Debug, Clone, Default)]
pub struct Workbook {
    /// The workbook's title, e.g. "breakeven run run_0123…".
    pub title: String,
    /// When the run was made: the file's creation time, so that the same
    /// run gives the same bytes (the module reads no clock). `None` gives
    /// the start of 2000.
    pub created: Option<DateTime<Utc>>,
    /// Key figures of both options and of the run, in order.
    pub summary: Vec<Figure>,
    /// The scenario as run, every field given, with its value and unit.
    pub inputs: Vec<Figure>,
    /// Every value the computation used and where it came from.
    pub assumptions: Vec<AssumptionLine>,
    /// The deterministic projection, month by month.
    pub months: Vec<MonthLine>,
    /// Capex paid before month 1 (cash view), the Monthly sheet's month 0.
    pub capex_month_0: f64,
    /// The Monte Carlo result, for simulation runs.
    pub simulation: Option<Simulation>,
    /// The simulation's tornado, widest bar first.
    pub tornado: Vec<TornadoLine>,
    /// Spearman's rho of each driver with the NPV of savings.
    pub rank_correlations: Vec<(String, f64)>,
    /// Sobol indices of the uncertain inputs, where the run asked for them.
    pub sobol: Vec<SobolLine>,
    /// Break-even with growth and prices moved (break-even runs).
    pub sensitivities: Vec<SensitivityLine>,
    /// The catalogue figures the run used ([`super::sources`]).
    pub sources: Vec<Source>,
}

/// One labelled figure of the Summary or Inputs sheet.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// What it is, in words.
    pub label: String,
    pub value: Value,
    /// Its unit in words ("USD", "months"); empty for text.
    pub unit: String,
    /// The field it comes from ("summary.total_api",
    /// "self_host.deployment.owned.pue"), for whoever checks it against
    /// the API.
    pub field: String,
}

/// A cell's value and how it reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// US dollars, in currency format.
    Money(f64),
    /// A fraction shown as a percentage (0.25 reads 25.0%).
    Percent(f64),
    /// A plain number.
    Number(f64),
    /// A calendar date.
    Date(NaiveDate),
    /// An instant, shown in UTC.
    Instant(DateTime<Utc>),
    Text(String),
    Bool(bool),
}

/// One entry of a run's `assumptions`.
#[derive(Debug, Clone, PartialEq)]
pub struct AssumptionLine {
    pub field: String,
    pub value: String,
    /// "scenario", "catalogue", "built-in default" or "derived".
    pub origin: String,
    /// The catalogue entry id, for catalogue figures.
    pub entry: String,
    pub source: String,
}

/// One month of the projection: every cost line of both options.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MonthLine {
    pub month: u32,
    pub date: Option<NaiveDate>,
    pub requests_per_day: f64,
    pub input_tokens: f64,
    pub output_tokens: f64,
    pub api_cost: f64,
    pub fine_tuned_api_cost: f64,
    pub self_hosted_requests_per_day: f64,
    pub api_requests_per_day_in_self_host: f64,
    pub replicas_needed: u32,
    pub gpus_needed: u32,
    pub gpus_held: u32,
    pub rental: f64,
    pub depreciation: f64,
    pub cost_of_capital: f64,
    pub power: f64,
    pub colocation: f64,
    pub staff: f64,
    /// Loss on disposal at the horizon (negative: a gain), P&L view.
    pub disposal: f64,
    /// Book value of the owned GPUs at the end of the month.
    pub book_value: f64,
    pub residual_api_cost: f64,
    pub self_host_pnl: f64,
    pub capex_paid: f64,
    pub resale: f64,
    pub self_host_cash: f64,
    pub utilization: f64,
    pub utilization_whole_month: f64,
    pub cumulative_api: f64,
    pub cumulative_self_host_pnl: f64,
    pub cumulative_self_host_cash: f64,
}

/// A simulation's per-month distributions and risk figures.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Simulation {
    pub months: Vec<SimulationMonth>,
    pub npv_savings: Stats,
    pub var_95: f64,
    pub cvar_95: f64,
    pub p_no_break_even: f64,
    pub p_self_host_cheaper: f64,
    pub paths: u64,
    pub seed: u64,
    pub antithetic: bool,
    pub quantile_relative_error: f64,
    /// The paths' investment figures, when the run asked for them.
    pub investment: Option<Investment>,
}

/// The distribution of the paths' IRR and payback month.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Investment {
    pub hurdle_rate: f64,
    pub payback_within_months: u32,
    /// Annual IRR over the paths that have one.
    pub irr: Stats,
    pub p_no_irr: f64,
    pub p_irr_above_hurdle: f64,
    /// Share of paths paid back by month t (index t−1).
    pub p_payback_by: Vec<f64>,
    pub p_payback_within: f64,
    pub p_no_payback: f64,
}

/// One simulated month.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SimulationMonth {
    pub month: u32,
    pub date: Option<NaiveDate>,
    pub api: Stats,
    pub self_host: Stats,
    pub cumulative_api: Stats,
    pub cumulative_self_host: Stats,
    pub cumulative_savings: Stats,
    pub mean_utilization: f64,
    pub p_break_even_by: f64,
    pub p_break_even_by_se: f64,
}

/// One tornado bar: the median NPV of savings with one input at its P10
/// and at its P90.
#[derive(Debug, Clone, PartialEq)]
pub struct TornadoLine {
    pub input: String,
    pub low_value: f64,
    pub high_value: f64,
    pub npv_at_low: f64,
    pub npv_at_high: f64,
}

/// One input's Sobol indices for one output, with 95% intervals.
#[derive(Debug, Clone, PartialEq)]
pub struct SobolLine {
    pub input: String,
    /// "npv_savings" or "break_even_month".
    pub output: String,
    pub first_order: f64,
    pub first_order_low: f64,
    pub first_order_high: f64,
    pub total: f64,
    pub total_low: f64,
    pub total_high: f64,
}

/// One deterministic sensitivity case.
#[derive(Debug, Clone, PartialEq)]
pub struct SensitivityLine {
    pub input: String,
    /// Relative change applied, e.g. -0.2.
    pub change: f64,
    /// `None` when the case does not break even within the horizon.
    pub break_even_month: Option<u32>,
    /// `None` when no volume is reached.
    pub break_even_volume: Option<f64>,
    pub horizon_savings: f64,
}

/// One monthly line of the Monthly sheet: its header, how it reads, its
/// value in a month, and whether the totals row adds it up (money and
/// tokens; not rates, counts of GPUs or utilisation).
struct Line {
    header: &'static str,
    format: Fmt,
    value: fn(&MonthLine) -> f64,
    total: bool,
}

const fn line(header: &'static str, format: Fmt, value: fn(&MonthLine) -> f64) -> Line {
    let total = matches!(format, Fmt::Money);
    Line {
        header,
        format,
        value,
        total,
    }
}

/// The Monthly sheet's lines, from column C on (A is the month, B its
/// date); the three cumulative columns follow them.
const LINES: [Line; 25] = [
    line("Requests per day", Fmt::Number, |m| m.requests_per_day),
    Line {
        total: true,
        ..line("Input tokens", Fmt::Number, |m| m.input_tokens)
    },
    Line {
        total: true,
        ..line("Output tokens", Fmt::Number, |m| m.output_tokens)
    },
    line("API cost", Fmt::Money, |m| m.api_cost),
    line("Fine-tuned API cost", Fmt::Money, |m| m.fine_tuned_api_cost),
    line("Self-hosted requests per day", Fmt::Number, |m| {
        m.self_hosted_requests_per_day
    }),
    line(
        "API requests per day (self-host option)",
        Fmt::Number,
        |m| m.api_requests_per_day_in_self_host,
    ),
    line("Replicas needed", Fmt::Integer, |m| {
        f64::from(m.replicas_needed)
    }),
    line("GPUs needed", Fmt::Integer, |m| f64::from(m.gpus_needed)),
    line("GPUs held", Fmt::Integer, |m| f64::from(m.gpus_held)),
    line("Rental", Fmt::Money, |m| m.rental),
    line("Depreciation", Fmt::Money, |m| m.depreciation),
    line("Cost of capital", Fmt::Money, |m| m.cost_of_capital),
    line("Power", Fmt::Money, |m| m.power),
    line("Colocation", Fmt::Money, |m| m.colocation),
    line("Staff", Fmt::Money, |m| m.staff),
    line("Loss on disposal", Fmt::Money, |m| m.disposal),
    line("Residual API cost", Fmt::Money, |m| m.residual_api_cost),
    line("Self-host (P&L)", Fmt::Money, |m| m.self_host_pnl),
    line("Capex paid", Fmt::Money, |m| m.capex_paid),
    line("Resale", Fmt::Money, |m| m.resale),
    line("Self-host (cash)", Fmt::Money, |m| m.self_host_cash),
    Line {
        total: false,
        ..line("Book value", Fmt::Money, |m| m.book_value)
    },
    line("Utilisation", Fmt::Percent, |m| m.utilization),
    line("Utilisation, whole month", Fmt::Percent, |m| {
        m.utilization_whole_month
    }),
];

/// The column of the line headed `header`.
fn column(header: &str) -> u16 {
    let i = LINES
        .iter()
        .position(|l| l.header == header)
        .expect("a line of LINES");
    2 + i as u16
}

/// The cumulative columns: header, the line each adds up, and its value
/// in month 0 and in a month.
type Cumulative = (&'static str, &'static str, fn(&MonthLine) -> f64);
const CUMULATIVE: [Cumulative; 3] = [
    ("Cumulative API", "API cost", |m| m.cumulative_api),
    ("Cumulative self-host (P&L)", "Self-host (P&L)", |m| {
        m.cumulative_self_host_pnl
    }),
    ("Cumulative self-host (cash)", "Self-host (cash)", |m| {
        m.cumulative_self_host_cash
    }),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fmt {
    Money,
    Percent,
    Number,
    Integer,
}

/// The workbook's formats, made once.
struct Formats {
    header: Format,
    money: Format,
    percent: Format,
    number: Format,
    integer: Format,
    month: Format,
    date: Format,
    instant: Format,
    bold: Format,
    bold_money: Format,
    bold_number: Format,
}

impl Formats {
    fn new() -> Formats {
        Formats {
            header: Format::new().set_bold().set_text_wrap(),
            money: Format::new().set_num_format("$#,##0.00"),
            percent: Format::new().set_num_format("0.00%"),
            number: Format::new().set_num_format("#,##0.####"),
            integer: Format::new().set_num_format("0"),
            month: Format::new().set_num_format("mmm yyyy"),
            date: Format::new().set_num_format("yyyy-mm-dd"),
            instant: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss \"UTC\""),
            bold: Format::new().set_bold(),
            bold_money: Format::new().set_bold().set_num_format("$#,##0.00"),
            bold_number: Format::new().set_bold().set_num_format("#,##0.####"),
        }
    }

    fn of(&self, f: Fmt) -> &Format {
        match f {
            Fmt::Money => &self.money,
            Fmt::Percent => &self.percent,
            Fmt::Number => &self.number,
            Fmt::Integer => &self.integer,
        }
    }
}

/// The workbook as the bytes of an .xlsx file.
pub fn xlsx(book: &Workbook) -> Result<Vec<u8>> {
    build(book).map_err(|e| Error::Internal(format!("writing the workbook: {e}")))
}

fn build(book: &Workbook) -> std::result::Result<Vec<u8>, XlsxError> {
    let f = Formats::new();
    let mut wb = rust_xlsxwriter::Workbook::new();
    let created = match book.created {
        Some(t) => instant(t)?,
        None => ExcelDateTime::from_ymd(2000, 1, 1)?,
    };
    wb.set_properties(
        &DocProperties::new()
            .set_title(&book.title)
            .set_creation_datetime(&created),
    );
    figures(wb.add_worksheet().set_name("Summary")?, &f, &book.summary)?;
    inputs(wb.add_worksheet().set_name("Inputs")?, &f, book)?;
    monthly(wb.add_worksheet().set_name("Monthly")?, &f, book)?;
    if let Some(sim) = &book.simulation {
        simulation(wb.add_worksheet().set_name("Simulation")?, &f, sim)?;
    }
    if !(book.tornado.is_empty()
        && book.rank_correlations.is_empty()
        && book.sensitivities.is_empty()
        && book.sobol.is_empty())
    {
        sensitivity(wb.add_worksheet().set_name("Sensitivity")?, &f, book)?;
    }
    sources(wb.add_worksheet().set_name("Sources")?, &f, &book.sources)?;
    wb.save_to_buffer()
}

/// A header row at `row` from `col` on, in bold.
fn header(
    ws: &mut Worksheet,
    f: &Formats,
    row: u32,
    col: u16,
    names: &[&str],
) -> std::result::Result<(), XlsxError> {
    for (i, name) in names.iter().enumerate() {
        ws.write_string_with_format(row, col + i as u16, *name, &f.header)?;
    }
    Ok(())
}

/// Frozen header row; columns fitted to their contents, within reason.
fn finish(ws: &mut Worksheet) {
    ws.set_freeze_panes(1, 0).ok();
    fit(ws);
}

/// Columns as wide as their contents, but no wider than about 60
/// characters (long source notes wrap rather than push the rest away).
fn fit(ws: &mut Worksheet) {
    ws.set_autofit_max_width(480).autofit();
}

fn excel_date(d: NaiveDate) -> std::result::Result<ExcelDateTime, XlsxError> {
    ExcelDateTime::from_ymd(d.year() as u16, d.month() as u8, d.day() as u8)
}

fn instant(t: DateTime<Utc>) -> std::result::Result<ExcelDateTime, XlsxError> {
    excel_date(t.date_naive())?.and_hms(
        t.hour() as u16,
        t.minute() as u8,
        f64::from(t.second()) + f64::from(t.timestamp_subsec_millis()) / 1000.0,
    )
}

fn write_value(
    ws: &mut Worksheet,
    f: &Formats,
    row: u32,
    col: u16,
    value: &Value,
) -> std::result::Result<(), XlsxError> {
    match value {
        Value::Money(v) => ws.write_number_with_format(row, col, *v, &f.money)?,
        Value::Percent(v) => ws.write_number_with_format(row, col, *v, &f.percent)?,
        Value::Number(v) => ws.write_number_with_format(row, col, *v, &f.number)?,
        Value::Date(d) => ws.write_datetime_with_format(row, col, excel_date(*d)?, &f.date)?,
        Value::Instant(t) => ws.write_datetime_with_format(row, col, instant(*t)?, &f.instant)?,
        Value::Text(s) => ws.write_string(row, col, s)?,
        Value::Bool(b) => ws.write_boolean(row, col, *b)?,
    };
    Ok(())
}

/// Figure, Value, Unit, Field: the Summary sheet, and the top of Inputs.
fn figure_rows(
    ws: &mut Worksheet,
    f: &Formats,
    first: u32,
    figures: &[Figure],
) -> std::result::Result<(), XlsxError> {
    for (i, fig) in figures.iter().enumerate() {
        let row = first + i as u32;
        ws.write_string(row, 0, &fig.label)?;
        write_value(ws, f, row, 1, &fig.value)?;
        ws.write_string(row, 2, &fig.unit)?;
        ws.write_string(row, 3, &fig.field)?;
    }
    Ok(())
}

fn figures(
    ws: &mut Worksheet,
    f: &Formats,
    figures: &[Figure],
) -> std::result::Result<(), XlsxError> {
    header(ws, f, 0, 0, &["Figure", "Value", "Unit", "Field"])?;
    figure_rows(ws, f, 1, figures)?;
    finish(ws);
    Ok(())
}

fn inputs(ws: &mut Worksheet, f: &Formats, book: &Workbook) -> std::result::Result<(), XlsxError> {
    header(ws, f, 0, 0, &["Input", "Value", "Unit", "Field"])?;
    figure_rows(ws, f, 1, &book.inputs)?;
    if !book.assumptions.is_empty() {
        // The assumptions below the scenario: every value the answer used,
        // given or filled in, and where it came from.
        let top = book.inputs.len() as u32 + 2;
        ws.write_string_with_format(top, 0, "Assumptions: every value the run used", &f.bold)?;
        header(
            ws,
            f,
            top + 1,
            0,
            &["Field", "Value", "Origin", "Catalogue entry", "Source"],
        )?;
        for (i, a) in book.assumptions.iter().enumerate() {
            let row = top + 2 + i as u32;
            ws.write_string(row, 0, &a.field)?;
            ws.write_string(row, 1, &a.value)?;
            ws.write_string(row, 2, &a.origin)?;
            ws.write_string(row, 3, &a.entry)?;
            ws.write_string(row, 4, &a.source)?;
        }
    }
    finish(ws);
    Ok(())
}

/// Row 1 is the header, row 2 month 0 (capex paid before the horizon),
/// then one row per month, then the totals.
fn monthly(ws: &mut Worksheet, f: &Formats, book: &Workbook) -> std::result::Result<(), XlsxError> {
    let mut names = vec!["Month", "Date"];
    names.extend(LINES.iter().map(|l| l.header));
    names.extend(CUMULATIVE.iter().map(|c| c.0));
    header(ws, f, 0, 0, &names)?;
    let first_cumulative = 2 + LINES.len() as u16;
    let cell = |row: u32, col: u16| row_col_to_cell(row, col);

    // Month 0: only the purchases made before the first month, which the
    // cash view's running sum starts from.
    let zero = 1u32;
    let month_0 = |header: &str| match header {
        "Capex paid" | "Self-host (cash)" => book.capex_month_0,
        _ => 0.0,
    };
    ws.write_number_with_format(zero, 0, 0.0, &f.integer)?;
    ws.write_string(zero, 1, "before month 1")?;
    for header in ["Capex paid", "Self-host (cash)"] {
        ws.write_number_with_format(zero, column(header), month_0(header), &f.money)?;
    }
    for (i, (_, source, _)) in CUMULATIVE.iter().enumerate() {
        ws.write_formula_with_format(
            zero,
            first_cumulative + i as u16,
            Formula::new(format!("={}", cell(zero, column(source))))
                .set_result(month_0(source).to_string()),
            &f.money,
        )?;
    }

    for (i, m) in book.months.iter().enumerate() {
        let row = zero + 1 + i as u32;
        ws.write_number_with_format(row, 0, f64::from(m.month), &f.integer)?;
        if let Some(d) = m.date {
            ws.write_datetime_with_format(row, 1, excel_date(d)?, &f.month)?;
        }
        for (j, l) in LINES.iter().enumerate() {
            ws.write_number_with_format(row, 2 + j as u16, (l.value)(m), f.of(l.format))?;
        }
        // Running sums: last month's cumulative plus this month's line,
        // cached with the engine's own cumulative figure.
        for (j, (_, source, value)) in CUMULATIVE.iter().enumerate() {
            let col = first_cumulative + j as u16;
            let formula = format!("={}+{}", cell(row - 1, col), cell(row, column(source)));
            ws.write_formula_with_format(
                row,
                col,
                Formula::new(formula).set_result(value(m).to_string()),
                &f.money,
            )?;
        }
    }

    // Totals: SUM over month 0 and every month; the cached result is the
    // same sum taken here in month order.
    let last = zero + book.months.len() as u32;
    let total_row = last + 1;
    ws.write_string_with_format(total_row, 0, "Total", &f.bold)?;
    for (j, l) in LINES.iter().enumerate().filter(|(_, l)| l.total) {
        let col = 2 + j as u16;
        let total = book
            .months
            .iter()
            .map(l.value)
            .fold(month_0(l.header), |a, b| a + b);
        let format = match l.format {
            Fmt::Money => &f.bold_money,
            _ => &f.bold_number,
        };
        ws.write_formula_with_format(
            total_row,
            col,
            Formula::new(format!("=SUM({}:{})", cell(zero, col), cell(last, col)))
                .set_result(total.to_string()),
            format,
        )?;
    }
    ws.set_freeze_panes(1, 2).ok();
    fit(ws);
    Ok(())
}

const STATS: [&str; 7] = ["P5", "P25", "P50", "P75", "P95", "mean", "std error"];

fn stats_values(s: &Stats) -> [f64; 7] {
    [s.p5, s.p25, s.p50, s.p75, s.p95, s.mean, s.std_error]
}

/// Months in columns A.., the risk figures to their right.
fn simulation(
    ws: &mut Worksheet,
    f: &Formats,
    sim: &Simulation,
) -> std::result::Result<(), XlsxError> {
    let series = [
        "API",
        "Self-host",
        "Cumulative API",
        "Cumulative self-host",
        "Cumulative savings",
    ];
    let mut names = vec!["Month".to_string(), "Date".to_string()];
    for s in series {
        names.extend(STATS.iter().map(|stat| format!("{s} {stat}")));
    }
    names.extend(
        [
            "Mean utilisation",
            "P(break-even by month)",
            "Its std error",
        ]
        .map(String::from),
    );
    if sim.investment.is_some() {
        names.push("P(paid back by month)".into());
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    header(ws, f, 0, 0, &refs)?;
    for (i, m) in sim.months.iter().enumerate() {
        let row = 1 + i as u32;
        ws.write_number_with_format(row, 0, f64::from(m.month), &f.integer)?;
        if let Some(d) = m.date {
            ws.write_datetime_with_format(row, 1, excel_date(d)?, &f.month)?;
        }
        let mut col = 2u16;
        for s in [
            &m.api,
            &m.self_host,
            &m.cumulative_api,
            &m.cumulative_self_host,
            &m.cumulative_savings,
        ] {
            for v in stats_values(s) {
                ws.write_number_with_format(row, col, v, &f.money)?;
                col += 1;
            }
        }
        for v in [m.mean_utilization, m.p_break_even_by, m.p_break_even_by_se] {
            ws.write_number_with_format(row, col, v, &f.percent)?;
            col += 1;
        }
        if let Some(paid) = sim.investment.as_ref().and_then(|x| x.p_payback_by.get(i)) {
            ws.write_number_with_format(row, col, *paid, &f.percent)?;
        }
    }
    let left = names.len() as u16 + 1;
    header(ws, f, 0, left, &["Risk figure", "Value"])?;
    let npv = stats_values(&sim.npv_savings);
    let mut rows: Vec<(String, Value)> = STATS
        .iter()
        .zip(npv)
        .map(|(stat, v)| (format!("NPV of savings {stat}"), Value::Money(v)))
        .collect();
    rows.extend([
        ("Value at risk, 95%".to_string(), Value::Money(sim.var_95)),
        (
            "Conditional value at risk, 95%".into(),
            Value::Money(sim.cvar_95),
        ),
        (
            "P(self-hosting cheaper over the horizon)".into(),
            Value::Percent(sim.p_self_host_cheaper),
        ),
        (
            "P(no break-even within the horizon)".into(),
            Value::Percent(sim.p_no_break_even),
        ),
        ("Paths".into(), Value::Number(sim.paths as f64)),
        ("Seed".into(), Value::Text(sim.seed.to_string())),
        ("Antithetic pairs".into(), Value::Bool(sim.antithetic)),
        (
            "Relative error bound of each percentile".into(),
            Value::Percent(sim.quantile_relative_error),
        ),
    ]);
    if let Some(x) = &sim.investment {
        let irr = stats_values(&x.irr);
        rows.extend(
            STATS
                .iter()
                .zip(irr)
                .map(|(stat, v)| (format!("IRR a year {stat}"), Value::Percent(v))),
        );
        rows.extend([
            ("P(no IRR)".to_string(), Value::Percent(x.p_no_irr)),
            ("Hurdle rate a year".into(), Value::Percent(x.hurdle_rate)),
            (
                "P(IRR above the hurdle)".into(),
                Value::Percent(x.p_irr_above_hurdle),
            ),
            (
                format!("P(payback within {} months)", x.payback_within_months),
                Value::Percent(x.p_payback_within),
            ),
            (
                "P(no payback within the horizon)".into(),
                Value::Percent(x.p_no_payback),
            ),
        ]);
    }
    for (i, (label, value)) in rows.iter().enumerate() {
        let row = 1 + i as u32;
        ws.write_string(row, left, label)?;
        write_value(ws, f, row, left + 1, value)?;
    }
    ws.set_freeze_panes(1, 2).ok();
    fit(ws);
    Ok(())
}

/// Four tables side by side under one frozen header row: the tornado,
/// the rank correlations, the break-even sensitivities, the Sobol indices.
fn sensitivity(
    ws: &mut Worksheet,
    f: &Formats,
    book: &Workbook,
) -> std::result::Result<(), XlsxError> {
    header(
        ws,
        f,
        0,
        0,
        &[
            "Tornado input",
            "P10 value",
            "P90 value",
            "Median NPV of savings at P10",
            "Median NPV of savings at P90",
        ],
    )?;
    for (i, t) in book.tornado.iter().enumerate() {
        let row = 1 + i as u32;
        ws.write_string(row, 0, &t.input)?;
        ws.write_number_with_format(row, 1, t.low_value, &f.number)?;
        ws.write_number_with_format(row, 2, t.high_value, &f.number)?;
        ws.write_number_with_format(row, 3, t.npv_at_low, &f.money)?;
        ws.write_number_with_format(row, 4, t.npv_at_high, &f.money)?;
    }
    header(ws, f, 0, 6, &["Driver", "Spearman rank correlation"])?;
    for (i, (driver, rho)) in book.rank_correlations.iter().enumerate() {
        let row = 1 + i as u32;
        ws.write_string(row, 6, driver)?;
        ws.write_number_with_format(row, 7, *rho, &f.number)?;
    }
    header(
        ws,
        f,
        0,
        9,
        &[
            "Sensitivity input",
            "Change",
            "Break-even month",
            "Break-even volume, requests per day",
            "Savings over the horizon",
        ],
    )?;
    for (i, s) in book.sensitivities.iter().enumerate() {
        let row = 1 + i as u32;
        ws.write_string(row, 9, super::sensitivity_label(&s.input))?;
        ws.write_number_with_format(row, 10, s.change, &f.percent)?;
        match s.break_even_month {
            Some(m) => ws.write_number_with_format(row, 11, f64::from(m), &f.integer)?,
            None => ws.write_string(row, 11, "never")?,
        };
        match s.break_even_volume {
            Some(v) => ws.write_number_with_format(row, 12, v, &f.number)?,
            None => ws.write_string(row, 12, "not reached")?,
        };
        ws.write_number_with_format(row, 13, s.horizon_savings, &f.money)?;
    }
    header(
        ws,
        f,
        0,
        15,
        &[
            "Sobol input",
            "Output",
            "First-order index",
            "95% low",
            "95% high",
            "Total index",
            "95% low",
            "95% high",
        ],
    )?;
    for (i, s) in book.sobol.iter().enumerate() {
        let row = 1 + i as u32;
        ws.write_string(row, 15, &s.input)?;
        ws.write_string(row, 16, &s.output)?;
        for (j, v) in [
            s.first_order,
            s.first_order_low,
            s.first_order_high,
            s.total,
            s.total_low,
            s.total_high,
        ]
        .into_iter()
        .enumerate()
        {
            ws.write_number_with_format(row, 17 + j as u16, v, &f.number)?;
        }
    }
    finish(ws);
    Ok(())
}

fn sources(
    ws: &mut Worksheet,
    f: &Formats,
    sources: &[Source],
) -> std::result::Result<(), XlsxError> {
    header(
        ws,
        f,
        0,
        0,
        &["Figure", "Value", "Source", "As of", "Assumption", "Notes"],
    )?;
    for (i, s) in sources.iter().enumerate() {
        let row = 1 + i as u32;
        ws.write_string(row, 0, &s.figure)?;
        ws.write_string(row, 1, &s.value)?;
        ws.write_string(row, 2, &s.provenance.source)?;
        ws.write_datetime_with_format(row, 3, excel_date(s.provenance.as_of)?, &f.date)?;
        ws.write_boolean(row, 4, s.provenance.assumption)?;
        ws.write_string(row, 5, &s.provenance.notes)?;
    }
    finish(ws);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_run_still_makes_a_workbook() {
        let bytes = xlsx(&Workbook::default()).unwrap();
        // A zip archive, and the same one every time: no clock read.
        assert_eq!(&bytes[..2], b"PK");
        assert_eq!(bytes, xlsx(&Workbook::default()).unwrap());
    }
}
