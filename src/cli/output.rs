//! What a command prints: aligned tables for people, the response as JSON
//! or a table as CSV for programs.
//!
//! A command builds a [`Report`] of records and tables whose cells carry
//! both the text a person reads (`$1,234,567`) and the raw value (`1234567.25`);
//! [`Output::show`] prints the text, the raw values as CSV, or the protobuf
//! response itself as JSON. JSON is the protobuf JSON mapping with the field
//! names of the `.proto` files, every field present, enums by name and 64-bit
//! integers as numbers.

use std::borrow::Cow;
use std::io::Write as _;
use std::sync::LazyLock;

use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};

use super::exit::Failure;
use crate::grpc::pb;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// Where a command's results go, in the format asked for.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub format: Format,
    /// Leave out the assumptions and warnings under summaries.
    pub quiet: bool,
}

/// One value: how it reads and what a program gets.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub shown: String,
    pub raw: String,
}

impl Cell {
    /// Text that reads the same for people and programs.
    pub fn text(text: impl Into<String>) -> Cell {
        let text = text.into();
        Cell {
            shown: text.clone(),
            raw: text,
        }
    }

    /// A number shown as `shown`; programs get it in full precision.
    pub fn number(shown: impl Into<String>, raw: f64) -> Cell {
        Cell {
            shown: shown.into(),
            raw: raw.to_string(),
        }
    }

    /// A whole number shown with separators.
    pub fn count(value: impl Into<u64>) -> Cell {
        let value = value.into();
        Cell {
            shown: super::format::count(value as f64),
            raw: value.to_string(),
        }
    }

    /// Yes or no; programs get `true` or `false`.
    pub fn flag(value: bool) -> Cell {
        Cell {
            shown: if value { "yes" } else { "no" }.into(),
            raw: value.to_string(),
        }
    }
}

/// A table column: its CSV header, its title for people and whether its
/// cells line up on the right (numbers) or the left. Most columns are fixed;
/// some are named after what they hold (one per compared run).
#[derive(Debug, Clone)]
pub struct Column {
    pub key: Cow<'static, str>,
    pub title: Cow<'static, str>,
    pub numeric: bool,
}

/// A left-aligned column.
pub fn text(key: impl Into<Cow<'static, str>>, title: impl Into<Cow<'static, str>>) -> Column {
    Column {
        key: key.into(),
        title: title.into(),
        numeric: false,
    }
}

/// A right-aligned column.
pub fn num(key: impl Into<Cow<'static, str>>, title: impl Into<Cow<'static, str>>) -> Column {
    Column {
        key: key.into(),
        title: title.into(),
        numeric: true,
    }
}

/// Rows under titled columns.
#[derive(Debug, Clone)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn new(columns: Vec<Column>) -> Table {
        Table {
            columns,
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<Cell>) {
        debug_assert_eq!(row.len(), self.columns.len(), "row width");
        self.rows.push(row);
    }

    fn render(&self, out: &mut String) {
        let widths: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                self.rows
                    .iter()
                    .map(|r| width(&r[i].shown))
                    .chain([width(&c.title)])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: Vec<&str>, out: &mut String| {
            let mut text = String::new();
            for (i, (cell, column)) in cells.iter().zip(&self.columns).enumerate() {
                if i > 0 {
                    text.push_str("  ");
                }
                let pad = " ".repeat(widths[i] - width(cell));
                if column.numeric {
                    text.push_str(&pad);
                    text.push_str(cell);
                } else {
                    text.push_str(cell);
                    text.push_str(&pad);
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(self.columns.iter().map(|c| c.title.as_ref()).collect(), out);
        let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
        line(rule.iter().map(String::as_str).collect(), out);
        for row in &self.rows {
            line(row.iter().map(|c| c.shown.as_str()).collect(), out);
        }
    }

    fn csv(&self) -> Result<String, Failure> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        let failed = |e: csv::Error| Failure::Local(format!("cannot write CSV: {e}"));
        writer
            .write_record(self.columns.iter().map(|c| c.key.as_ref()))
            .map_err(failed)?;
        for row in &self.rows {
            writer
                .write_record(row.iter().map(|c| c.raw.as_str()))
                .map_err(failed)?;
        }
        let bytes = writer
            .into_inner()
            .map_err(|e| Failure::Local(format!("cannot write CSV: {e}")))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// Labelled values, one per line.
#[derive(Debug, Clone, Default)]
pub struct Record {
    pub fields: Vec<(&'static str, &'static str, Cell)>,
}

impl Record {
    pub fn new() -> Record {
        Record::default()
    }

    /// Adds a value under a CSV key and a title for people.
    pub fn add(&mut self, key: &'static str, title: &'static str, cell: Cell) -> &mut Record {
        self.fields.push((key, title, cell));
        self
    }

    fn render(&self, out: &mut String) {
        let label = self.fields.iter().map(|f| width(f.1)).max().unwrap_or(0);
        for (_, title, cell) in &self.fields {
            let pad = " ".repeat(label - width(title));
            out.push_str(format!("{title}{pad}  {}", cell.shown).trim_end());
            out.push('\n');
        }
    }

    /// The record as a one-row table.
    fn as_table(&self) -> Table {
        Table {
            columns: self
                .fields
                .iter()
                .map(|&(key, title, _)| text(key, title))
                .collect(),
            rows: vec![self.fields.iter().map(|f| f.2.clone()).collect()],
        }
    }
}

/// A block of a report.
#[derive(Debug, Clone)]
pub enum Block {
    Title(String),
    Record(Record),
    Table(Table),
    /// Lines printed as they are, set apart like a record.
    Text(String),
    /// The assumptions and warnings under a summary: like text, and left
    /// out with `--quiet`.
    Notes(String),
}

/// What a command prints for people, and which part is its CSV.
///
/// With `--csv` a report prints its last table; one without a table prints
/// its first record as a header row and a value row.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub blocks: Vec<Block>,
}

impl Report {
    pub fn new() -> Report {
        Report::default()
    }

    pub fn title(&mut self, title: impl Into<String>) -> &mut Report {
        self.blocks.push(Block::Title(title.into()));
        self
    }

    pub fn record(&mut self, record: Record) -> &mut Report {
        self.blocks.push(Block::Record(record));
        self
    }

    pub fn table(&mut self, table: Table) -> &mut Report {
        self.blocks.push(Block::Table(table));
        self
    }

    /// Lines for people only; `--csv` leaves them out.
    pub fn text(&mut self, text: impl Into<String>) -> &mut Report {
        self.blocks.push(Block::Text(text.into()));
        self
    }

    /// The values an answer used that the scenario did not give, with
    /// where they came from, and the answer's warnings: for people only,
    /// and left out with `--quiet`. Nothing when there are none.
    pub fn assumptions(
        &mut self,
        assumptions: &[pb::Assumption],
        warnings: &[String],
    ) -> &mut Report {
        if let Some(notes) = assumptions_text(assumptions, warnings) {
            self.blocks.push(Block::Notes(notes));
        }
        self
    }

    /// Removes the blocks `--quiet` leaves out.
    pub fn quiet(&mut self) {
        self.blocks.retain(|b| !matches!(b, Block::Notes(_)));
    }

    /// The text for people: blocks separated by blank lines.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (i, block) in self.blocks.iter().enumerate() {
            let follows_title = i > 0 && matches!(self.blocks[i - 1], Block::Title(_));
            if i > 0 && !follows_title {
                out.push('\n');
            }
            match block {
                Block::Title(text) | Block::Text(text) | Block::Notes(text) => {
                    out.push_str(text.trim_end());
                    out.push('\n');
                }
                Block::Record(record) => record.render(&mut out),
                Block::Table(table) => table.render(&mut out),
            }
        }
        out
    }

    /// The CSV text: the last table, or the first record as one row.
    pub fn csv(&self) -> Result<String, Failure> {
        let table = self.blocks.iter().rev().find_map(|b| match b {
            Block::Table(t) => Some(t.clone()),
            _ => None,
        });
        let table = table.or_else(|| {
            self.blocks.iter().find_map(|b| match b {
                Block::Record(r) => Some(r.as_table()),
                _ => None,
            })
        });
        match table {
            Some(table) => table.csv(),
            None => Ok(String::new()),
        }
    }
}

/// The lines of [`Report::assumptions`]: each value not typed in the
/// scenario (field, value, where from) in aligned columns, then warnings.
pub fn assumptions_text(assumptions: &[pb::Assumption], warnings: &[String]) -> Option<String> {
    let rows: Vec<(&str, &str, String)> = assumptions
        .iter()
        .filter_map(|a| {
            let from = match pb::AssumptionOrigin::try_from(a.origin) {
                Ok(pb::AssumptionOrigin::Scenario) => return None,
                Ok(pb::AssumptionOrigin::Catalogue) => {
                    format!("catalogue {}: {}", a.entry, a.source)
                }
                Ok(pb::AssumptionOrigin::BuiltInDefault) => format!("default: {}", a.source),
                Ok(pb::AssumptionOrigin::Derived) => format!("derived: {}", a.source),
                _ => a.source.clone(),
            };
            Some((a.field.as_str(), a.value.as_str(), from))
        })
        .collect();
    if rows.is_empty() && warnings.is_empty() {
        return None;
    }
    let mut out = String::new();
    if !rows.is_empty() {
        let field = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
        let value = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0);
        out.push_str("assumed (not in the scenario; --quiet hides these):\n");
        for (f, v, from) in &rows {
            out.push_str(&format!("  {f:<field$}  {v:<value$}  {from}\n"));
        }
    }
    for w in warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    Some(out)
}

impl Output {
    /// Prints `report` for people or as CSV, or `message` as JSON.
    pub fn show<M: Proto>(
        &self,
        message: &M,
        report: impl FnOnce() -> Report,
    ) -> Result<(), Failure> {
        match self.format {
            Format::Json => print(&json(message)?),
            Format::Csv => print(&report().csv()?),
            Format::Table => {
                let mut report = report();
                if self.quiet {
                    report.quiet();
                }
                print(&report.render())
            }
        }
    }

    /// Prints a one-line confirmation for people, or `message` as JSON. For
    /// results that are not a table, `--csv` is refused before the call.
    pub fn done<M: Proto>(
        &self,
        message: &M,
        line: impl FnOnce() -> String,
    ) -> Result<(), Failure> {
        match self.format {
            Format::Json => print(&json(message)?),
            Format::Csv | Format::Table => print(&format!("{}\n", line())),
        }
    }

    /// A usage error when `--csv` is asked of a command that prints no
    /// table.
    pub fn no_csv(&self, command: &str) -> Result<(), Failure> {
        if self.format == Format::Csv {
            Err(Failure::Usage(format!(
                "`{command}` prints no table; use --json or leave out --csv"
            )))
        } else {
            Ok(())
        }
    }
}

/// Writes to standard output; a closed pipe (`| head`) is not an error.
pub fn print(text: &str) -> Result<(), Failure> {
    print_bytes(text.as_bytes())
}

/// Writes bytes to standard output as they come (streamed CSV), flushed;
/// a closed pipe is not an error.
pub fn print_bytes(bytes: &[u8]) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Failure::Local(format!(
            "cannot write to standard output: {e}"
        ))),
        _ => Ok(()),
    }
}

/// A generated message and its full protobuf name, to find its descriptor.
pub trait Proto: prost::Message {
    const NAME: &'static str;
}

macro_rules! proto_names {
    ($($message:ident),* $(,)?) => {
        $(impl Proto for pb::$message {
            const NAME: &'static str = concat!("breakeven.v1.", stringify!($message));
        })*
        #[cfg(test)]
        const PROTO_NAMES: &[&str] = &[$(<pb::$message as Proto>::NAME),*];
    };
}

proto_names!(
    ListGpusResponse,
    Gpu,
    ListModelsResponse,
    Model,
    ListApiPricesResponse,
    ApiPrice,
    ThroughputEstimate,
    CalibrateResponse,
    ProjectResponse,
    FindBreakEvenResponse,
    SimulationResult,
    SavedScenario,
    ListScenariosResponse,
    DeleteScenarioResponse,
    ListScenarioRevisionsResponse,
    Run,
    ListRunsResponse,
    CompareRunsResponse,
    ReplayRunResponse,
    Job,
    ListJobsResponse,
    CatalogEntry,
    ListCatalogEntriesResponse,
    DeleteCatalogEntryResponse,
    ImportPricesResponse,
);

/// The descriptors the server embeds for reflection.
static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET).expect("the embedded descriptors decode")
});

/// `message` in the protobuf JSON mapping, pretty-printed, with a newline.
pub fn json<M: Proto>(message: &M) -> Result<String, Failure> {
    let descriptor = POOL
        .get_message_by_name(M::NAME)
        .ok_or_else(|| Failure::Local(format!("no descriptor for {}", M::NAME)))?;
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .map_err(|e| Failure::Local(format!("cannot re-read {}: {e}", M::NAME)))?;
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .skip_default_fields(false)
        .stringify_64_bit_integers(false);
    let mut serializer = serde_json::Serializer::pretty(Vec::new());
    dynamic
        .serialize_with_options(&mut serializer, &options)
        .map_err(|e| Failure::Local(format!("cannot write JSON: {e}")))?;
    let mut text = String::from_utf8_lossy(&serializer.into_inner()).into_owned();
    text.push('\n');
    Ok(text)
}

/// Display width of table text; every character counts as one column,
/// which holds for the names and figures the catalogue carries.
fn width(text: &str) -> usize {
    text.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut table = Table::new(vec![text("id", "id"), num("usd", "cost")]);
        table.push(vec![Cell::text("a"), Cell::number("$1,234", 1234.5)]);
        table.push(vec![Cell::text("longer"), Cell::number("$5", 5.0)]);
        table
    }

    #[test]
    fn tables_pad_text_left_and_numbers_right() {
        let mut out = String::new();
        sample().render(&mut out);
        assert_eq!(
            out,
            "id        cost\n\
             ------  ------\n\
             a       $1,234\n\
             longer      $5\n"
        );
    }

    #[test]
    fn csv_has_keys_and_raw_values() {
        let mut report = Report::new();
        let mut record = Record::new();
        record.add("total", "total", Cell::number("$9", 9.25));
        report.record(record).table(sample());
        assert_eq!(report.csv().unwrap(), "id,usd\na,1234.5\nlonger,5\n");
    }

    #[test]
    fn a_report_without_a_table_gives_its_record_as_one_row() {
        let mut record = Record::new();
        record
            .add("id", "id", Cell::text("scn_1"))
            .add("revision", "revision", Cell::count(3u32));
        let mut report = Report::new();
        report.record(record);
        assert_eq!(report.csv().unwrap(), "id,revision\nscn_1,3\n");
        assert_eq!(report.render(), "id        scn_1\nrevision  3\n");
    }

    #[test]
    fn every_named_message_has_a_descriptor() {
        for name in PROTO_NAMES {
            assert!(POOL.get_message_by_name(name).is_some(), "{name}");
        }
    }

    #[test]
    fn json_uses_proto_field_names_and_enum_names() {
        let estimate = pb::ThroughputEstimate {
            bound: pb::Bound::MemoryBandwidth.into(),
            output_tokens_per_second_per_gpu: 1500.0,
            ..Default::default()
        };
        let value: serde_json::Value = serde_json::from_str(&json(&estimate).unwrap()).unwrap();
        assert_eq!(value["bound"], "BOUND_MEMORY_BANDWIDTH");
        assert_eq!(value["output_tokens_per_second_per_gpu"], 1500.0);
        assert_eq!(value["meets_targets"], false);
    }
}
