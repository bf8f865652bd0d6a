//! Validation of catalogue data files: every problem is collected with the
//! file and the field it concerns, so that one start-up reports all of them.

use chrono::NaiveDate;

use super::Provenance;

/// A problem found in a data file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// The file, relative to the data directory (e.g. `hardware/h100-sxm.toml`).
    pub file: String,
    /// The field inside it (e.g. `specs.memory_bandwidth_tb_s`).
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for Issue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.file, self.reason)
        } else {
            write!(f, "{}: {}: {}", self.file, self.field, self.reason)
        }
    }
}

/// Every problem found while loading the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid catalogue data:\n  {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
pub struct LoadError(pub Vec<Issue>);

/// Collects the issues of one file.
pub(crate) struct Checker<'a> {
    file: &'a str,
    issues: &'a mut Vec<Issue>,
}

/// Earliest date a catalogue figure may carry; anything older is a typo.
const EARLIEST: (i32, u32, u32) = (2010, 1, 1);

impl<'a> Checker<'a> {
    pub fn new(file: &'a str, issues: &'a mut Vec<Issue>) -> Self {
        Self { file, issues }
    }

    pub fn fail(&mut self, field: &str, reason: impl Into<String>) {
        self.issues.push(Issue {
            file: self.file.to_string(),
            field: field.to_string(),
            reason: reason.into(),
        });
    }

    /// `value` must be finite and within `lo..=hi` (in `unit`).
    pub fn range(&mut self, field: &str, value: f64, lo: f64, hi: f64, unit: &str) {
        if !value.is_finite() || value < lo || value > hi {
            self.fail(
                field,
                format!("{value} {unit} is outside the plausible range {lo}–{hi} {unit}"),
            );
        }
    }

    /// Integer flavour of [`Checker::range`].
    pub fn count(&mut self, field: &str, value: u64, lo: u64, hi: u64) {
        if value < lo || value > hi {
            self.fail(
                field,
                format!("{value} is outside the plausible range {lo}–{hi}"),
            );
        }
    }

    pub fn non_empty(&mut self, field: &str, value: &str) {
        if value.trim().is_empty() {
            self.fail(field, "must not be empty");
        }
    }

    /// A stable id: lowercase letters, digits, `-` and `.`, starting with a
    /// letter or digit, and equal to the file's stem when `stem` is given.
    pub fn id(&mut self, field: &str, id: &str, stem: Option<&str>) {
        if !is_valid_id(id) {
            self.fail(
                field,
                format!("{id:?} is not a valid id (lowercase letters, digits, '-' and '.')"),
            );
        }
        if let Some(stem) = stem
            && stem != id
        {
            self.fail(
                field,
                format!("{id:?} does not match the file name {stem:?}"),
            );
        }
    }

    /// Parses a `YYYY-MM-DD` date no earlier than 2010.
    pub fn date(&mut self, field: &str, value: &str) -> Option<NaiveDate> {
        match NaiveDate::parse_from_str(value, "%Y-%m-%d") {
            Ok(date) if date >= earliest() => Some(date),
            Ok(date) => {
                self.fail(field, format!("{date} is before {}", earliest()));
                None
            }
            Err(err) => {
                self.fail(field, format!("{value:?} is not a YYYY-MM-DD date ({err})"));
                None
            }
        }
    }

    /// Checks a group's provenance fields and builds the domain value.
    pub fn provenance(
        &mut self,
        prefix: &str,
        source: &str,
        as_of: &str,
        assumption: bool,
        notes: Option<&str>,
    ) -> Provenance {
        self.non_empty(&format!("{prefix}source"), source);
        let as_of = self
            .date(&format!("{prefix}as_of"), as_of)
            .unwrap_or_else(earliest);
        // An assumption must say how it was derived, in its source or notes.
        if assumption && source.trim().len() + notes.map_or(0, |n| n.trim().len()) < 20 {
            self.fail(
                &format!("{prefix}notes"),
                "an assumption must say how it was derived",
            );
        }
        Provenance {
            source: source.trim().to_string(),
            as_of,
            assumption,
            notes: notes.unwrap_or_default().trim().to_string(),
        }
    }
}

fn earliest() -> NaiveDate {
    NaiveDate::from_ymd_opt(EARLIEST.0, EARLIEST.1, EARLIEST.2).expect("valid constant date")
}

/// Whether `id` is a valid catalogue id: 1–64 lowercase letters, digits,
/// '-' and '.', starting with a letter or digit.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_reports_file_field_and_bounds() {
        let mut issues = Vec::new();
        let mut check = Checker::new("hardware/x.toml", &mut issues);
        check.range("specs.memory_bandwidth_tb_s", 33.5, 0.1, 10.0, "TB/s");
        check.range("specs.tdp_w", f64::NAN, 30.0, 2000.0, "W");
        check.range("specs.memory_gb", 80.0, 8.0, 512.0, "GB");
        assert_eq!(issues.len(), 2);
        assert_eq!(issues[0].file, "hardware/x.toml");
        assert_eq!(issues[0].field, "specs.memory_bandwidth_tb_s");
        assert!(
            issues[0].reason.contains("0.1–10 TB/s"),
            "{}",
            issues[0].reason
        );
    }

    #[test]
    fn ids_are_lowercase_and_match_the_file() {
        assert!(is_valid_id("llama-3.1-70b"));
        assert!(!is_valid_id("Llama-3.1-70B"));
        assert!(!is_valid_id("-h100"));
        assert!(!is_valid_id("h100 sxm"));
        let mut issues = Vec::new();
        Checker::new("f", &mut issues).id("id", "h100-sxm", Some("h100-pcie"));
        assert_eq!(issues.len(), 1);
    }

    #[test]
    fn dates_must_parse_and_be_recent() {
        let mut issues = Vec::new();
        let mut check = Checker::new("f", &mut issues);
        assert!(check.date("as_of", "2024-06-01").is_some());
        assert!(check.date("as_of", "2024-13-01").is_none());
        assert!(check.date("as_of", "1999-01-01").is_none());
        assert_eq!(issues.len(), 2);
    }

    #[test]
    fn assumptions_need_notes() {
        let mut issues = Vec::new();
        let mut check = Checker::new("f", &mut issues);
        check.provenance("purchase.", "estimate", "2025-01-01", true, None);
        check.provenance("rental.", "", "2025-01-01", false, None);
        let fields: Vec<_> = issues.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(fields, ["purchase.notes", "rental.source"]);
    }
}
