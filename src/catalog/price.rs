//! Dated API price lists: what a provider charges per million tokens, and
//! since when.
//!
//! Each `prices/<provider>.toml` holds `[[price]]` entries. An id may have
//! several entries with different effective dates: a price applies from its
//! effective date until the day before the next entry of the same id, or
//! until the model's retirement.

use chrono::NaiveDate;
use serde::Deserialize;

use super::Provenance;
use super::check::Checker;
use crate::error::{Error, Result};

/// Where a model sits in its provider's line-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Flagship,
    Mid,
    Economy,
    /// An open-weight model sold per token by an inference provider.
    OpenWeights,
}

impl Tier {
    pub fn name(self) -> &'static str {
        match self {
            Tier::Flagship => "flagship",
            Tier::Mid => "mid",
            Tier::Economy => "economy",
            Tier::OpenWeights => "open-weights",
        }
    }
}

/// One dated price of one API model.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiPrice {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub provider_name: String,
    pub api_model: String,
    pub tier: Tier,
    pub effective_date: NaiveDate,
    /// Last day in force: the day before the next entry of the same id, or
    /// the retirement date; `None` while open-ended.
    pub end_date: Option<NaiveDate>,
    pub retired_date: Option<NaiveDate>,
    pub input_usd_per_mtok: f64,
    pub output_usd_per_mtok: f64,
    pub cached_input_usd_per_mtok: Option<f64>,
    pub cache_write_usd_per_mtok: Option<f64>,
    pub batch_input_usd_per_mtok: Option<f64>,
    pub batch_output_usd_per_mtok: Option<f64>,
    pub context_window: u32,
    pub max_output_tokens: Option<u32>,
    /// Prices for long prompts, by increasing threshold.
    pub long_context: Vec<LongContextTier>,
    pub open_weights_model: Option<String>,
    pub provenance: Provenance,
}

impl ApiPrice {
    /// Whether this entry is the one in force on `date`.
    pub fn in_force_on(&self, date: NaiveDate) -> bool {
        self.effective_date <= date && self.end_date.is_none_or(|end| date <= end)
    }
}

/// Prices that apply when the prompt exceeds a length.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongContextTier {
    pub above_input_tokens: u32,
    pub input_usd_per_mtok: f64,
    pub output_usd_per_mtok: f64,
    pub cached_input_usd_per_mtok: Option<f64>,
}

/// Every dated price entry, ordered by id then effective date.
#[derive(Debug, Clone, Default)]
pub struct PriceBook {
    entries: Vec<ApiPrice>,
}

/// Which entries a listing wants.
#[derive(Debug, Clone, Default)]
pub struct PriceQuery {
    /// Provider id; empty for all.
    pub provider: String,
    /// Catalogue id, API model string or open-weight model id; empty for all.
    pub model: String,
    /// The day of interest.
    pub as_of: NaiveDate,
    /// Every entry that took effect on or before `as_of`, not only those in
    /// force then.
    pub include_history: bool,
}

impl PriceBook {
    /// Orders the entries, derives end dates and checks what only the whole
    /// book can show: duplicate dates, an id used by two providers.
    pub(crate) fn new(
        mut entries: Vec<(String, ApiPrice)>,
        issues: &mut Vec<super::Issue>,
    ) -> Self {
        entries.sort_by(|(_, a), (_, b)| (&a.id, a.effective_date).cmp(&(&b.id, b.effective_date)));
        for pair in entries.windows(2) {
            let ((_, a), (file, b)) = (&pair[0], &pair[1]);
            if a.id != b.id {
                continue;
            }
            let mut check = Checker::new(file, issues);
            if a.effective_date == b.effective_date {
                check.fail(
                    "price.effective_date",
                    format!("{} has two entries dated {}", b.id, b.effective_date),
                );
            }
            if a.provider != b.provider {
                check.fail(
                    "price.id",
                    format!("{} is also listed by provider {}", b.id, a.provider),
                );
            }
        }
        let mut entries: Vec<ApiPrice> = entries.into_iter().map(|(_, p)| p).collect();
        for i in 0..entries.len() {
            let next_start = entries
                .get(i + 1)
                .filter(|next| next.id == entries[i].id)
                .map(|next| next.effective_date);
            let day_before_next = next_start.and_then(|d| d.pred_opt());
            entries[i].end_date = match (day_before_next, entries[i].retired_date) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Self { entries }
    }

    /// All entries, ordered by id then effective date.
    pub fn entries(&self) -> &[ApiPrice] {
        &self.entries
    }

    /// The distinct ids.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.entries
            .chunk_by(|a, b| a.id == b.id)
            .map(|dated| dated[0].id.as_str())
    }

    /// The price of `id` in force on `date`.
    pub fn in_force(&self, id: &str, date: NaiveDate) -> Result<&ApiPrice> {
        let mut dated = self.entries.iter().filter(|e| e.id == id).peekable();
        let Some(first) = dated.peek() else {
            return Err(Error::NotFound(format!("api price {id:?} not found")));
        };
        let first_date = first.effective_date;
        dated.find(|e| e.in_force_on(date)).ok_or_else(|| {
            if date < first_date {
                Error::NotFound(format!(
                    "api price {id:?} has no price before {first_date} (asked for {date})"
                ))
            } else {
                Error::NotFound(format!("api price {id:?} was retired before {date}"))
            }
        })
    }

    /// The entries a listing asks for, in catalogue order.
    pub fn query(&self, q: &PriceQuery) -> Vec<&ApiPrice> {
        self.entries
            .iter()
            .filter(|e| q.provider.is_empty() || e.provider.eq_ignore_ascii_case(&q.provider))
            .filter(|e| {
                q.model.is_empty()
                    || e.id == q.model
                    || e.api_model == q.model
                    || e.open_weights_model.as_deref() == Some(q.model.as_str())
            })
            .filter(|e| {
                if q.include_history {
                    e.effective_date <= q.as_of
                } else {
                    e.in_force_on(q.as_of)
                }
            })
            .collect()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderFile {
    provider: String,
    provider_name: String,
    #[serde(default)]
    price: Vec<PriceFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceFile {
    id: String,
    name: String,
    api_model: String,
    tier: String,
    effective_date: String,
    retired_date: Option<String>,
    input_usd_per_mtok: f64,
    output_usd_per_mtok: f64,
    cached_input_usd_per_mtok: Option<f64>,
    cache_write_usd_per_mtok: Option<f64>,
    batch_input_usd_per_mtok: Option<f64>,
    batch_output_usd_per_mtok: Option<f64>,
    context_window: u32,
    max_output_tokens: Option<u32>,
    open_weights_model: Option<String>,
    source: String,
    as_of: String,
    notes: Option<String>,
    #[serde(default)]
    long_context: Vec<LongContextTier>,
}

/// $ per million tokens outside this range is almost surely a unit slip: a
/// per-token figure entered per million (too small) or a per-thousand figure
/// (too large).
pub(crate) const USD_PER_MTOK: (f64, f64) = (0.001, 1000.0);
/// Output over input price; list prices sit between 1x and 8x.
const OUTPUT_INPUT_RATIO: (f64, f64) = (0.25, 12.0);

/// Parses and checks one `prices/*.toml` file.
pub(crate) fn parse(text: &str, stem: &str, check: &mut Checker) -> Option<Vec<ApiPrice>> {
    let f: ProviderFile = super::parse_toml(text, check)?;
    check.id("provider", &f.provider, Some(stem));
    check.non_empty("provider_name", &f.provider_name);
    if f.price.is_empty() {
        check.fail(
            "price",
            "a provider file needs at least one [[price]] entry",
        );
    }
    let entries = f
        .price
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            entry(
                p,
                &format!("price[{i}]."),
                &f.provider,
                &f.provider_name,
                check,
            )
        })
        .collect();
    Some(entries)
}

fn entry(
    p: PriceFile,
    at: &str,
    provider: &str,
    provider_name: &str,
    check: &mut Checker,
) -> ApiPrice {
    let field = |name: &str| format!("{at}{name}");
    check.id(&field("id"), &p.id, None);
    check.non_empty(&field("name"), &p.name);
    check.non_empty(&field("api_model"), &p.api_model);
    let tier = match p.tier.as_str() {
        "flagship" => Tier::Flagship,
        "mid" => Tier::Mid,
        "economy" => Tier::Economy,
        "open-weights" => Tier::OpenWeights,
        other => {
            check.fail(
                &field("tier"),
                format!("{other:?} is not one of flagship, mid, economy, open-weights"),
            );
            Tier::Mid
        }
    };
    let effective_date = check
        .date(&field("effective_date"), &p.effective_date)
        .unwrap_or_default();
    let retired_date = p
        .retired_date
        .as_deref()
        .and_then(|d| check.date(&field("retired_date"), d));
    if retired_date.is_some_and(|r| r < effective_date) {
        check.fail(&field("retired_date"), "is before effective_date");
    }
    let (lo, hi) = USD_PER_MTOK;
    check.range(
        &field("input_usd_per_mtok"),
        p.input_usd_per_mtok,
        lo,
        hi,
        "USD/MTok",
    );
    check.range(
        &field("output_usd_per_mtok"),
        p.output_usd_per_mtok,
        lo,
        hi,
        "USD/MTok",
    );
    let ratio = p.output_usd_per_mtok / p.input_usd_per_mtok;
    if ratio.is_finite() && !(OUTPUT_INPUT_RATIO.0..=OUTPUT_INPUT_RATIO.1).contains(&ratio) {
        check.fail(
            &field("output_usd_per_mtok"),
            format!("is {ratio:.2}x the input price: check the units of both"),
        );
    }
    let at_most = |check: &mut Checker, name: &str, value: Option<f64>, limit: f64, what: &str| {
        if let Some(value) = value {
            check.range(&field(name), value, lo, hi, "USD/MTok");
            if value > limit {
                check.fail(
                    &field(name),
                    format!("{value} is above the {what} price {limit}"),
                );
            }
        }
    };
    at_most(
        check,
        "cached_input_usd_per_mtok",
        p.cached_input_usd_per_mtok,
        p.input_usd_per_mtok,
        "input",
    );
    at_most(
        check,
        "batch_input_usd_per_mtok",
        p.batch_input_usd_per_mtok,
        p.input_usd_per_mtok,
        "input",
    );
    at_most(
        check,
        "batch_output_usd_per_mtok",
        p.batch_output_usd_per_mtok,
        p.output_usd_per_mtok,
        "output",
    );
    if let Some(write) = p.cache_write_usd_per_mtok {
        check.range(
            &field("cache_write_usd_per_mtok"),
            write,
            lo,
            hi,
            "USD/MTok",
        );
    }
    check.count(
        &field("context_window"),
        p.context_window.into(),
        1000,
        10_000_000,
    );
    if let Some(max) = p.max_output_tokens {
        check.count(&field("max_output_tokens"), max.into(), 1, 10_000_000);
    }
    let mut previous_threshold = 0;
    for (i, tier) in p.long_context.iter().enumerate() {
        let at = format!("long_context[{i}].");
        if tier.above_input_tokens <= previous_threshold
            || tier.above_input_tokens >= p.context_window
        {
            check.fail(
                &field(&format!("{at}above_input_tokens")),
                "thresholds must increase and stay below the context window",
            );
        }
        previous_threshold = tier.above_input_tokens;
        check.range(
            &field(&format!("{at}input_usd_per_mtok")),
            tier.input_usd_per_mtok,
            lo,
            hi,
            "USD/MTok",
        );
        check.range(
            &field(&format!("{at}output_usd_per_mtok")),
            tier.output_usd_per_mtok,
            lo,
            hi,
            "USD/MTok",
        );
    }
    if tier == Tier::OpenWeights && p.open_weights_model.is_none() {
        check.fail(
            &field("open_weights_model"),
            "an open-weights offer must name its model",
        );
    }
    let provenance = check.provenance(at, &p.source, &p.as_of, false, p.notes.as_deref());
    ApiPrice {
        id: p.id,
        name: p.name,
        provider: provider.to_string(),
        provider_name: provider_name.to_string(),
        api_model: p.api_model,
        tier,
        effective_date,
        end_date: None,
        retired_date,
        input_usd_per_mtok: p.input_usd_per_mtok,
        output_usd_per_mtok: p.output_usd_per_mtok,
        cached_input_usd_per_mtok: p.cached_input_usd_per_mtok,
        cache_write_usd_per_mtok: p.cache_write_usd_per_mtok,
        batch_input_usd_per_mtok: p.batch_input_usd_per_mtok,
        batch_output_usd_per_mtok: p.batch_output_usd_per_mtok,
        context_window: p.context_window,
        max_output_tokens: p.max_output_tokens,
        long_context: p.long_context,
        open_weights_model: p.open_weights_model,
        provenance,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEEPSEEK: &str = r#"
provider = "deepseek"
provider_name = "DeepSeek"

[[price]]
id = "deepseek-v3"
name = "DeepSeek V3"
api_model = "deepseek-chat"
tier = "economy"
effective_date = "2024-12-26"
input_usd_per_mtok = 0.14
output_usd_per_mtok = 0.28
context_window = 64000
source = "launch announcement"
as_of = "2024-12-26"

[[price]]
id = "deepseek-v3"
name = "DeepSeek V3"
api_model = "deepseek-chat"
tier = "economy"
effective_date = "2025-02-09"
input_usd_per_mtok = 0.27
output_usd_per_mtok = 1.10
cached_input_usd_per_mtok = 0.07
context_window = 64000
source = "pricing page"
as_of = "2025-02-09"
"#;

    fn book(text: &str) -> (PriceBook, Vec<super::super::Issue>) {
        let mut issues = Vec::new();
        let entries = parse(
            text,
            "deepseek",
            &mut Checker::new("prices/deepseek.toml", &mut issues),
        )
        .unwrap_or_default()
        .into_iter()
        .map(|p| ("prices/deepseek.toml".to_string(), p))
        .collect();
        let book = PriceBook::new(entries, &mut issues);
        (book, issues)
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_price_in_force_changes_on_the_effective_date() {
        let (book, issues) = book(DEEPSEEK);
        assert_eq!(issues, []);
        assert_eq!(
            book.in_force("deepseek-v3", date("2025-02-08"))
                .unwrap()
                .input_usd_per_mtok,
            0.14
        );
        assert_eq!(
            book.in_force("deepseek-v3", date("2025-02-09"))
                .unwrap()
                .input_usd_per_mtok,
            0.27
        );
        assert_eq!(book.entries()[0].end_date, Some(date("2025-02-08")));
        assert_eq!(book.entries()[1].end_date, None);
        assert!(matches!(
            book.in_force("deepseek-v3", date("2024-01-01")),
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            book.in_force("gpt-9", date("2025-01-01")),
            Err(Error::NotFound(_))
        ));
    }

    #[test]
    fn history_and_filters() {
        let (book, _) = book(DEEPSEEK);
        let q = |model: &str, history: bool| PriceQuery {
            provider: String::new(),
            model: model.to_string(),
            as_of: date("2025-06-01"),
            include_history: history,
        };
        assert_eq!(book.query(&q("", false)).len(), 1);
        assert_eq!(book.query(&q("deepseek-chat", true)).len(), 2);
        assert_eq!(book.query(&q("gpt-4o", true)).len(), 0);
        assert_eq!(book.ids().collect::<Vec<_>>(), ["deepseek-v3"]);
    }

    #[test]
    fn unit_slips_and_bad_tiers_are_caught() {
        let cases = [
            (
                "input_usd_per_mtok = 0.14",
                "input_usd_per_mtok = 0.00000014",
                "price[0].input_usd_per_mtok",
            ),
            (
                "output_usd_per_mtok = 0.28",
                "output_usd_per_mtok = 280.0",
                "price[0].output_usd_per_mtok",
            ),
            (
                "cached_input_usd_per_mtok = 0.07",
                "cached_input_usd_per_mtok = 0.7",
                "price[1].cached_input_usd_per_mtok",
            ),
            (
                "effective_date = \"2025-02-09\"",
                "effective_date = \"2024-12-26\"",
                "price.effective_date",
            ),
        ];
        for (from, to, field) in cases {
            let (_, issues) = book(&DEEPSEEK.replacen(from, to, 1));
            assert!(
                issues.iter().any(|i| i.field == field),
                "{to}: expected an issue on {field}, got {issues:?}"
            );
        }
    }

    #[test]
    fn retirement_ends_the_last_entry() {
        let text = DEEPSEEK.replacen(
            "effective_date = \"2025-02-09\"",
            "effective_date = \"2025-02-09\"\nretired_date = \"2025-09-30\"",
            1,
        );
        let (book, issues) = book(&text);
        assert_eq!(issues, []);
        assert!(book.in_force("deepseek-v3", date("2025-09-30")).is_ok());
        assert!(book.in_force("deepseek-v3", date("2025-10-01")).is_err());
    }
}
