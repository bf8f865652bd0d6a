//! Prices from LiteLLM's `model_prices_and_context_window.json`, imported
//! as dated prices of existing catalogue ids.
//!
//! The catalogue ships `prices/litellm-map.toml`, which says which LiteLLM
//! key each catalogue price id corresponds to. [`plan`] reads a copy of the
//! LiteLLM file against a catalogue and says, for one effective date, what
//! would change against the prices in force: the new dated entries (as
//! price files under [`IMPORTED_ROOT`]), the ids left as they are, the
//! figures that look like unit slips (never imported), the mapped keys the
//! file lacks, and the keys nothing maps to (never guessed). It does no
//! I/O; the caller keeps the files and rebuilds the catalogue with them.
//!
//! Six prices are read (input, output, cached input, cache write, batch
//! input and output). The long-context ones (`*_above_200k_tokens`) are
//! not: LiteLLM's thresholds do not always match the catalogue's tiers,
//! so a new entry keeps the tiers of the entry in force.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde_json::Value;

use super::check::Checker;
use super::price::{self, USD_PER_MTOK};
use super::{ApiPrice, Catalog, EntryKind};
use crate::error::{Error, FieldViolation, Result};

/// The mapping file, relative to the data root.
pub const MAP_FILE: &str = "prices/litellm-map.toml";

/// Where imported price files live among a catalogue's files:
/// `imported/<price id>/<effective date>/prices/<provider>.toml`.
pub const IMPORTED_ROOT: &str = "imported";

/// The LiteLLM key that documents the file's format rather than a model.
const SAMPLE_SPEC: &str = "sample_spec";

/// A new figure this many times the catalogue's (or this many times
/// smaller) is a per-1k or per-1M figure entered per token, or the reverse:
/// list prices of one offer move by far less between two readings.
pub const SLIP_FACTOR: f64 = 1000.0;

/// The path of the imported entry of `id` from `date`.
pub fn imported_path(id: &str, date: NaiveDate, provider: &str) -> String {
    format!("{IMPORTED_ROOT}/{id}/{date}/prices/{provider}.toml")
}

/// Whether a catalogue file is an imported price.
pub fn is_imported(path: &str) -> bool {
    path.starts_with(IMPORTED_ROOT) && path[IMPORTED_ROOT.len()..].starts_with('/')
}

/// Parses and checks the mapping file: catalogue price id → LiteLLM key.
pub(crate) fn parse_map(text: &str, check: &mut Checker) -> Option<BTreeMap<String, String>> {
    let map: BTreeMap<String, String> = super::parse_toml(text, check)?;
    for (id, key) in &map {
        check.id(id, id, None);
        check.non_empty(id, key);
    }
    Some(map)
}

/// One price figure an import may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PriceField {
    Input,
    Output,
    CachedInput,
    CacheWrite,
    BatchInput,
    BatchOutput,
}

impl PriceField {
    pub const ALL: [PriceField; 6] = [
        PriceField::Input,
        PriceField::Output,
        PriceField::CachedInput,
        PriceField::CacheWrite,
        PriceField::BatchInput,
        PriceField::BatchOutput,
    ];

    /// The short name used in change lists.
    pub fn name(self) -> &'static str {
        match self {
            PriceField::Input => "input",
            PriceField::Output => "output",
            PriceField::CachedInput => "cached_input",
            PriceField::CacheWrite => "cache_write",
            PriceField::BatchInput => "batch_input",
            PriceField::BatchOutput => "batch_output",
        }
    }

    /// The LiteLLM field, in $ per token.
    pub fn litellm(self) -> &'static str {
        match self {
            PriceField::Input => "input_cost_per_token",
            PriceField::Output => "output_cost_per_token",
            PriceField::CachedInput => "cache_read_input_token_cost",
            PriceField::CacheWrite => "cache_creation_input_token_cost",
            PriceField::BatchInput => "input_cost_per_token_batches",
            PriceField::BatchOutput => "output_cost_per_token_batches",
        }
    }

    /// The price-file field, in $ per million tokens.
    fn catalogue(self) -> &'static str {
        match self {
            PriceField::Input => "input_usd_per_mtok",
            PriceField::Output => "output_usd_per_mtok",
            PriceField::CachedInput => "cached_input_usd_per_mtok",
            PriceField::CacheWrite => "cache_write_usd_per_mtok",
            PriceField::BatchInput => "batch_input_usd_per_mtok",
            PriceField::BatchOutput => "batch_output_usd_per_mtok",
        }
    }

    pub fn get(self, p: &ApiPrice) -> Option<f64> {
        match self {
            PriceField::Input => Some(p.input_usd_per_mtok),
            PriceField::Output => Some(p.output_usd_per_mtok),
            PriceField::CachedInput => p.cached_input_usd_per_mtok,
            PriceField::CacheWrite => p.cache_write_usd_per_mtok,
            PriceField::BatchInput => p.batch_input_usd_per_mtok,
            PriceField::BatchOutput => p.batch_output_usd_per_mtok,
        }
    }

    fn set(self, p: &mut ApiPrice, value: f64) {
        match self {
            PriceField::Input => p.input_usd_per_mtok = value,
            PriceField::Output => p.output_usd_per_mtok = value,
            PriceField::CachedInput => p.cached_input_usd_per_mtok = Some(value),
            PriceField::CacheWrite => p.cache_write_usd_per_mtok = Some(value),
            PriceField::BatchInput => p.batch_input_usd_per_mtok = Some(value),
            PriceField::BatchOutput => p.batch_output_usd_per_mtok = Some(value),
        }
    }

    /// Input and output must be in the file; the others are optional.
    fn required(self) -> bool {
        matches!(self, PriceField::Input | PriceField::Output)
    }
}

/// One figure of one id, before and after ($ per million tokens; `None`
/// where the catalogue has no such price).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    pub field: PriceField,
    pub old: Option<f64>,
    pub new: Option<f64>,
}

/// An id whose price in force differs from the file's.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceChange {
    pub price_id: String,
    pub litellm_key: String,
    /// The effective date of the price in force that this one follows.
    pub replaces_from: NaiveDate,
    pub fields: Vec<FieldChange>,
}

/// A figure that is not imported because it cannot be right.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitSlip {
    pub price_id: String,
    pub litellm_key: String,
    /// The LiteLLM field.
    pub field: String,
    /// The figure as the file gives it, in $ per token.
    pub usd_per_token: f64,
    pub reason: String,
}

/// A mapping entry: a catalogue price id and its LiteLLM key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedKey {
    pub price_id: String,
    pub litellm_key: String,
}

/// What importing a LiteLLM file on one date would do.
#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    pub effective_date: NaiveDate,
    /// Ids that get a new dated entry, in id order.
    pub changes: Vec<PriceChange>,
    /// Ids whose price in force equals the file's.
    pub unchanged: Vec<String>,
    /// Figures refused as unit slips; their ids are not imported.
    pub slips: Vec<UnitSlip>,
    /// Mapping entries whose key the file lacks.
    pub not_found: Vec<MappedKey>,
    /// Mapping entries of ids retired before the effective date.
    pub retired: Vec<MappedKey>,
    /// Keys of the file that no mapping entry names.
    pub unmapped: Vec<String>,
    /// The new entries as catalogue files: (path, text).
    pub files: Vec<(String, String)>,
}

/// Reads `json` (LiteLLM's price file) against `catalog` and plans the
/// dated entries effective from `date`; `today` is the `as_of` the new
/// entries carry. An effective date that does not follow the price in
/// force of a changed id is FAILED_PRECONDITION naming the ids.
pub fn plan(catalog: &Catalog, json: &[u8], date: NaiveDate, today: NaiveDate) -> Result<Import> {
    let file = parse_file(json)?;
    let Some(map) = catalog.litellm_map() else {
        return Err(Error::FailedPrecondition(format!(
            "this catalogue has no {MAP_FILE}, so no LiteLLM key maps to a price id"
        )));
    };
    let mapped: BTreeSet<&str> = map.values().map(String::as_str).collect();
    let mut import = Import {
        effective_date: date,
        changes: Vec::new(),
        unchanged: Vec::new(),
        slips: Vec::new(),
        not_found: Vec::new(),
        retired: Vec::new(),
        unmapped: file
            .keys()
            .filter(|k| k.as_str() != SAMPLE_SPEC && !mapped.contains(k.as_str()))
            .cloned()
            .collect(),
        files: Vec::new(),
    };
    let mut too_early = Vec::new();
    for (id, key) in map {
        let mapped_key = || MappedKey {
            price_id: id.clone(),
            litellm_key: key.clone(),
        };
        let Some(record) = file.get(key) else {
            import.not_found.push(mapped_key());
            continue;
        };
        let dated: Vec<&ApiPrice> = catalog
            .prices()
            .entries()
            .iter()
            .filter(|p| &p.id == id)
            .collect();
        let (Some(first), Some(latest)) = (dated.first(), dated.last()) else {
            continue;
        };
        let Some(current) = dated.iter().find(|p| p.in_force_on(date)) else {
            if date < first.effective_date {
                too_early.push(format!("{id} (first priced {})", first.effective_date));
            } else {
                import.retired.push(mapped_key());
            }
            continue;
        };
        let figures = figures(key, record)?;
        let (entry, slips) = candidate(current, id, key, &figures, date, today);
        if !slips.is_empty() {
            import.slips.extend(slips);
            continue;
        }
        let fields: Vec<FieldChange> = PriceField::ALL
            .into_iter()
            .filter_map(|field| {
                let old = field.get(current);
                let new = field.get(&entry.price);
                (!same(old, new)).then_some(FieldChange { field, old, new })
            })
            .collect();
        if fields.is_empty() {
            import.unchanged.push(id.clone());
            continue;
        }
        // A new entry must follow every entry of the id; only a previous
        // import of the same day may be replaced by this one.
        let replaces_import = latest.effective_date == date
            && catalog
                .defined_in(EntryKind::Price, id)
                .contains(&imported_path(id, date, &latest.provider).as_str());
        if date < latest.effective_date || (date == latest.effective_date && !replaces_import) {
            too_early.push(format!(
                "{id} (price in force from {})",
                latest.effective_date
            ));
            continue;
        }
        import.files.push((
            imported_path(id, date, &current.provider),
            entry.text.clone(),
        ));
        import.changes.push(PriceChange {
            price_id: id.clone(),
            litellm_key: key.clone(),
            replaces_from: current.effective_date,
            fields,
        });
    }
    if !too_early.is_empty() {
        return Err(Error::FailedPrecondition(format!(
            "effective_date {date} is not after the price in force of {}; give a later \
             effective date",
            too_early.join(", ")
        )));
    }
    Ok(import)
}

/// Parses the file: a JSON object keyed by model name.
fn parse_file(json: &[u8]) -> Result<serde_json::Map<String, Value>> {
    let field = "litellm_json";
    if json.is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    match serde_json::from_slice::<Value>(json) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::invalid(
            field,
            "must be a JSON object keyed by model name (LiteLLM's \
             model_prices_and_context_window.json)",
        )),
        Err(err) => Err(Error::invalid(
            field,
            format!(
                "is not valid JSON: line {} column {}: {err}",
                err.line(),
                err.column()
            ),
        )),
    }
}

/// The prices of one record in $ per million tokens. A zero for an
/// optional price means LiteLLM knows no separate charge, so it counts as
/// absent; a figure that is not a number is INVALID_ARGUMENT naming the key.
fn figures(key: &str, record: &Value) -> Result<BTreeMap<PriceField, f64>> {
    let Value::Object(record) = record else {
        return Err(Error::invalid(
            format!("litellm_json[{key:?}]"),
            "must be an object of prices",
        ));
    };
    let mut figures = BTreeMap::new();
    for field in PriceField::ALL {
        match record.get(field.litellm()) {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) => {
                let v = n.as_f64().unwrap_or(f64::NAN);
                if v != 0.0 || field.required() {
                    figures.insert(field, v);
                }
            }
            Some(other) => {
                return Err(Error::InvalidArgument(vec![FieldViolation::new(
                    format!("litellm_json[{key:?}].{}", field.litellm()),
                    format!("must be a number of dollars per token, got {other}"),
                )]));
            }
        }
    }
    Ok(figures)
}

/// $ per token to $ per million tokens, rounded to a millionth of a
/// dollar so that 2.5e-06 reads as 2.5 rather than 2.4999999999999996.
fn per_mtok(usd_per_token: f64) -> f64 {
    (usd_per_token * 1e12).round() / 1e6
}

fn same(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0),
        _ => false,
    }
}

/// The entry the file's figures would make, and its slips.
struct Candidate {
    price: ApiPrice,
    text: String,
}

/// The entry in force with the file's figures put in, checked: a figure
/// far from the catalogue's or outside what the loader accepts is a slip.
fn candidate(
    current: &ApiPrice,
    id: &str,
    key: &str,
    figures: &BTreeMap<PriceField, f64>,
    date: NaiveDate,
    today: NaiveDate,
) -> (Candidate, Vec<UnitSlip>) {
    let mut slips = Vec::new();
    let slip = |field: PriceField, per_token: f64, reason: String| UnitSlip {
        price_id: id.to_string(),
        litellm_key: key.to_string(),
        field: field.litellm().to_string(),
        usd_per_token: per_token,
        reason,
    };
    let mut price = current.clone();
    for field in PriceField::ALL {
        let Some(&per_token) = figures.get(&field) else {
            if field.required() {
                slips.push(slip(
                    field,
                    f64::NAN,
                    "is missing, so the record cannot be read as a price".into(),
                ));
            }
            continue;
        };
        let new = per_mtok(per_token);
        let (lo, hi) = USD_PER_MTOK;
        if !new.is_finite() || !(lo..=hi).contains(&new) {
            slips.push(slip(
                field,
                per_token,
                format!(
                    "is ${new} per million tokens, outside the plausible {lo}–{hi}: a per-1k or \
                     per-1M figure entered per token?"
                ),
            ));
            continue;
        }
        if let Some(old) = field.get(current).filter(|&old| old > 0.0) {
            let ratio = new / old;
            if !(1.0 / SLIP_FACTOR..=SLIP_FACTOR).contains(&ratio) {
                slips.push(slip(
                    field,
                    per_token,
                    format!(
                        "is ${new} per million tokens, {ratio:.3e} times the price in force \
                         (${old}): a per-1k or per-1M figure entered per token?"
                    ),
                ));
                continue;
            }
        }
        field.set(&mut price, new);
    }
    price.effective_date = date;
    let text = render(&price, key, current, today);
    // The loader's own checks (output over input, cached and batch at most
    // the standard price…) on the entry as it would be stored.
    if slips.is_empty() {
        let mut issues = Vec::new();
        price::parse(
            &text,
            &price.provider,
            &mut Checker::new("imported", &mut issues),
        );
        for issue in issues {
            let field = PriceField::ALL
                .into_iter()
                .find(|f| issue.field.rsplit('.').next() == Some(f.catalogue()))
                .unwrap_or(PriceField::Input);
            let per_token = figures.get(&field).copied().unwrap_or(f64::NAN);
            slips.push(slip(field, per_token, issue.reason));
        }
    }
    (Candidate { price, text }, slips)
}

/// The new entry as a one-entry price file.
fn render(p: &ApiPrice, key: &str, current: &ApiPrice, today: NaiveDate) -> String {
    use std::fmt::Write as _;
    let s = |v: &str| serde_json::to_string(v).unwrap_or_default();
    let mut t = String::new();
    let _ = writeln!(t, "provider = {}", s(&p.provider));
    let _ = writeln!(t, "provider_name = {}", s(&p.provider_name));
    let _ = writeln!(t, "\n[[price]]");
    let _ = writeln!(t, "id = {}", s(&p.id));
    let _ = writeln!(t, "name = {}", s(&p.name));
    let _ = writeln!(t, "api_model = {}", s(&p.api_model));
    let _ = writeln!(t, "tier = {}", s(p.tier.name()));
    let _ = writeln!(t, "effective_date = \"{}\"", p.effective_date);
    if let Some(r) = p.retired_date {
        let _ = writeln!(t, "retired_date = \"{r}\"");
    }
    for field in PriceField::ALL {
        if let Some(v) = field.get(p) {
            let _ = writeln!(t, "{} = {v:?}", field.catalogue());
        }
    }
    let _ = writeln!(t, "context_window = {}", p.context_window);
    if let Some(m) = p.max_output_tokens {
        let _ = writeln!(t, "max_output_tokens = {m}");
    }
    if let Some(m) = &p.open_weights_model {
        let _ = writeln!(t, "open_weights_model = {}", s(m));
    }
    let _ = writeln!(
        t,
        "source = {}",
        s(&format!(
            "LiteLLM model_prices_and_context_window.json key {key}, imported with breakeven \
             catalog import-litellm"
        ))
    );
    let _ = writeln!(t, "as_of = \"{today}\"");
    let _ = writeln!(
        t,
        "notes = {}",
        s(&format!(
            "Prices from the LiteLLM file; the other fields, and any price the file does not \
             give, are those of the entry in force from {} (source: {}).",
            current.effective_date, current.provenance.source
        ))
    );
    for tier in &p.long_context {
        let _ = writeln!(t, "\n[[price.long_context]]");
        let _ = writeln!(t, "above_input_tokens = {}", tier.above_input_tokens);
        let _ = writeln!(t, "input_usd_per_mtok = {:?}", tier.input_usd_per_mtok);
        let _ = writeln!(t, "output_usd_per_mtok = {:?}", tier.output_usd_per_mtok);
        if let Some(c) = tier.cached_input_usd_per_mtok {
            let _ = writeln!(t, "cached_input_usd_per_mtok = {c:?}");
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn catalog() -> Catalog {
        Catalog::embedded().unwrap_or_else(|e| panic!("{e}"))
    }

    /// A few records: a changed price, an unchanged one, a per-1k slip
    /// (the $150/MTok Gemini 2.0 Flash Lite), an absolute slip, a retired
    /// model, a key nothing maps to and LiteLLM's format description.
    const FILE: &str = r#"{
        "sample_spec": {"input_cost_per_token": 0.0, "mode": "one of: chat, embedding"},
        "deepseek/deepseek-chat": {
            "input_cost_per_token": 3e-07, "output_cost_per_token": 4.2e-07,
            "cache_read_input_token_cost": 2.8e-08, "cache_creation_input_token_cost": 0.0,
            "litellm_provider": "deepseek", "mode": "chat"
        },
        "gemini/gemini-2.0-flash": {
            "input_cost_per_token": 1e-07, "output_cost_per_token": 4e-07,
            "cache_read_input_token_cost": 2.5e-08, "litellm_provider": "gemini"
        },
        "gemini/gemini-2.0-flash-lite": {
            "input_cost_per_token": 1.5e-04, "output_cost_per_token": 3e-07
        },
        "claude-sonnet-4-5": {
            "input_cost_per_token": 3e-06, "output_cost_per_token": 0.015
        },
        "claude-3-opus-20240229": {
            "input_cost_per_token": 1e-05, "output_cost_per_token": 5e-05
        },
        "acme/brand-new-model": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06}
    }"#;

    fn plan_on(catalog: &Catalog, json: &str, on: &str) -> Result<Import> {
        plan(catalog, json.as_bytes(), date(on), date("2026-07-25"))
    }

    #[test]
    fn the_map_covers_every_price_id_that_cites_a_litellm_key() {
        let catalog = catalog();
        let map = catalog.litellm_map().expect("prices/litellm-map.toml");
        for id in catalog.prices().ids() {
            let latest = catalog
                .prices()
                .entries()
                .iter()
                .rfind(|p| p.id == id)
                .unwrap();
            if !latest.provenance.source.contains("LiteLLM") {
                continue;
            }
            let key = map
                .get(id)
                .unwrap_or_else(|| panic!("{id} cites LiteLLM but has no mapping entry"));
            assert!(
                latest.provenance.source.contains(key.as_str()),
                "{id} maps to {key}, which its source does not name"
            );
        }
        assert!(map.keys().all(|id| catalog.prices().ids().any(|i| i == id)));
    }

    #[test]
    fn a_map_entry_for_an_unknown_id_stops_loading() {
        let mut files: Vec<(String, String)> = catalog()
            .files()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect();
        for (path, text) in &mut files {
            if path == MAP_FILE {
                text.push_str("\"gpt-9\" = \"gpt-9\"\n");
            }
        }
        let err = Catalog::from_files(files).unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert_eq!(err.0[0].file, MAP_FILE);
        assert_eq!(err.0[0].field, "gpt-9");
    }

    #[test]
    fn the_plan_sorts_every_mapped_key() {
        let catalog = catalog();
        let import = plan_on(&catalog, FILE, "2026-08-01").unwrap();
        assert_eq!(
            import.changes,
            [PriceChange {
                price_id: "deepseek-v3".into(),
                litellm_key: "deepseek/deepseek-chat".into(),
                replaces_from: date("2025-09-29"),
                fields: vec![FieldChange {
                    field: PriceField::Input,
                    old: Some(0.28),
                    new: Some(0.3),
                }],
            }]
        );
        assert_eq!(import.unchanged, ["gemini-2.0-flash"]);
        assert_eq!(import.unmapped, ["acme/brand-new-model"]);
        assert_eq!(
            import.retired,
            [MappedKey {
                price_id: "claude-3-opus".into(),
                litellm_key: "claude-3-opus-20240229".into()
            }]
        );
        let map = catalog.litellm_map().unwrap();
        assert_eq!(import.not_found.len(), map.len() - 5);
        assert_eq!(import.files.len(), 1);
        assert_eq!(
            import.files[0].0,
            "imported/deepseek-v3/2026-08-01/prices/deepseek.toml"
        );
    }

    #[test]
    fn unit_slips_name_key_and_field_and_are_not_imported() {
        let import = plan_on(&catalog(), FILE, "2026-08-01").unwrap();
        let slips: Vec<(&str, &str)> = import
            .slips
            .iter()
            .map(|s| (s.litellm_key.as_str(), s.field.as_str()))
            .collect();
        assert_eq!(
            slips,
            [
                ("claude-sonnet-4-5", "output_cost_per_token"),
                ("gemini/gemini-2.0-flash-lite", "input_cost_per_token"),
            ]
        );
        assert!(import.slips[1].reason.contains("times the price in force"));
        assert!(import.slips[0].reason.contains("outside the plausible"));
        assert!(
            !import
                .changes
                .iter()
                .any(|c| c.price_id.starts_with("claude-sonnet") || c.price_id.contains("lite"))
        );
    }

    #[test]
    fn inconsistent_figures_are_slips_too() {
        // Cached input above the standard input price.
        let file = r#"{"deepseek/deepseek-chat": {"input_cost_per_token": 2.8e-07,
            "output_cost_per_token": 4.2e-07, "cache_read_input_token_cost": 5e-07}}"#;
        let import = plan_on(&catalog(), file, "2026-08-01").unwrap();
        assert_eq!(import.slips.len(), 1, "{:?}", import.slips);
        assert_eq!(import.slips[0].field, "cache_read_input_token_cost");
        assert!(import.changes.is_empty());
    }

    #[test]
    fn an_effective_date_before_the_price_in_force_names_the_id() {
        // DeepSeek V3 changed price on 2025-09-29.
        let err = plan_on(&catalog(), FILE, "2025-09-15").unwrap_err();
        let Error::FailedPrecondition(message) = err else {
            panic!("{err:?}")
        };
        assert!(message.contains("deepseek-v3"), "{message}");
        // Not before the first price either, nor on the day of the latest.
        for on in ["2024-01-01", "2025-09-29"] {
            assert!(matches!(
                plan_on(&catalog(), FILE, on),
                Err(Error::FailedPrecondition(_))
            ));
        }
    }

    #[test]
    fn a_malformed_file_names_line_and_column_and_a_bad_figure_its_key() {
        let err = plan_on(&catalog(), "{\n  \"gpt-4o\": {,\n}", "2026-08-01").unwrap_err();
        assert!(err.to_string().contains("line 2 column"), "{err}");
        assert!(err.to_string().contains("litellm_json"), "{err}");
        let err = plan_on(&catalog(), "[1, 2]", "2026-08-01").unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
        let file = r#"{"deepseek/deepseek-chat": {"input_cost_per_token": "0.28"}}"#;
        let err = plan_on(&catalog(), file, "2026-08-01").unwrap_err();
        assert!(
            err.to_string()
                .contains("litellm_json[\"deepseek/deepseek-chat\"].input_cost_per_token"),
            "{err}"
        );
    }

    /// The catalogue with an import's files on top.
    fn with(
        catalog: &Catalog,
        files: &[(String, String)],
    ) -> Result<Catalog, super::super::LoadError> {
        Catalog::from_files(
            catalog
                .files()
                .map(|(p, t)| (p.to_string(), t.to_string()))
                .chain(files.iter().cloned()),
        )
    }

    #[test]
    fn an_imported_entry_is_a_later_dated_price_of_the_same_id() {
        let base = catalog();
        let import = plan_on(&base, FILE, "2026-08-01").unwrap();
        let after = with(&base, &import.files).unwrap_or_else(|e| panic!("{e}"));
        let prices = after.prices();
        assert_eq!(
            prices
                .in_force("deepseek-v3", date("2026-07-31"))
                .unwrap()
                .input_usd_per_mtok,
            0.28
        );
        let new = prices.in_force("deepseek-v3", date("2026-08-01")).unwrap();
        assert_eq!(new.input_usd_per_mtok, 0.3);
        assert_eq!(new.cached_input_usd_per_mtok, Some(0.028));
        assert!(new.provenance.source.contains("deepseek/deepseek-chat"));
        // A second import of the same day replaces it; an earlier one is
        // refused; the same file again changes nothing.
        let again = FILE.replace("3e-07", "3.1e-07");
        let second = plan_on(&after, &again, "2026-08-01").unwrap();
        assert_eq!(second.changes[0].fields[0].old, Some(0.3));
        assert!(plan_on(&after, &again, "2026-07-31").is_err());
        assert!(
            plan_on(&after, FILE, "2026-08-02")
                .unwrap()
                .changes
                .is_empty()
        );
    }

    #[test]
    fn an_imported_file_never_creates_an_id_or_rewrites_history() {
        let base = catalog();
        let import = plan_on(&base, FILE, "2026-08-01").unwrap();
        let (path, text) = &import.files[0];
        let new_id = vec![(
            path.replace("deepseek-v3", "deepseek-v9"),
            text.replace("\"deepseek-v3\"", "\"deepseek-v9\""),
        )];
        let err = with(&base, &new_id).unwrap_err();
        assert!(err.0.iter().any(|i| i.field == "price.id"), "{err}");
        let early = vec![(
            path.replace("2026-08-01", "2025-01-01"),
            text.replace("\"2026-08-01\"", "\"2025-01-01\""),
        )];
        let err = with(&base, &early).unwrap_err();
        assert!(
            err.0.iter().any(|i| i.field == "price.effective_date"),
            "{err}"
        );
    }

    #[test]
    fn per_token_figures_read_as_round_dollars_per_million() {
        assert_eq!(per_mtok(2.5e-06), 2.5);
        assert_eq!(per_mtok(7.5e-08), 0.075);
        assert!(same(Some(0.28), Some(0.1 + 0.18)));
        assert!(!same(None, Some(0.0)));
    }
}
