//! How numbers read in the command line's tables: dollars with thousands
//! separators, percentages, counts and months.
//!
//! Pure functions of their arguments; machine output (`--json`, `--csv`)
//! never goes through them, so a figure is rounded only where a person
//! reads it.

use chrono::{Datelike, NaiveDate};

use crate::report::format as shared;

/// Whole US dollars with thousands separators: `$1,234,567`, `-$5,000`
/// (as in reports).
pub fn usd(value: f64) -> String {
    shared::money(value)
}

/// US dollars to the cent, for unit prices: `$0.15`, `$2,345.60`.
pub fn usd_cents(value: f64) -> String {
    shared::money_cents(value)
}

/// A unit price small or large: cents from $1, up to four significant
/// figures below it (`$0.075`, `$0.0042`), so a cheap price does not read
/// as `$0.00`.
pub fn usd_price(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 1.0 || magnitude == 0.0 || !magnitude.is_finite() {
        return usd_cents(value);
    }
    let decimals = (3 - magnitude.log10().floor() as i32).clamp(2, 12) as usize;
    signed(value, |v| {
        let text = format!("${v:.decimals$}");
        let trimmed = text.trim_end_matches('0');
        let kept = trimmed
            .len()
            .max(text.find('.').map_or(text.len(), |dot| dot + 3));
        text[..kept].to_string()
    })
}

/// A fraction as a percentage with one decimal: 0.125 → `12.5%`.
pub fn percent(fraction: f64) -> String {
    shared::percent(fraction, 1)
}

/// A count with thousands separators: `1,000,000`. Rounds to a whole number.
pub fn count(value: f64) -> String {
    shared::number(value, 0)
}

/// A number with thousands separators and `decimals` decimals:
/// `12,345.7`.
pub fn number(value: f64, decimals: usize) -> String {
    shared::number(value, decimals)
}

/// A month as `YYYY-MM`.
pub fn month(date: NaiveDate) -> String {
    format!("{:04}-{:02}", date.year(), date.month())
}

/// The `YYYY-MM` of month `t` (1-based) of a scenario starting in the month
/// of `start`; `None` when `t` is 0, which the API uses for "never".
pub fn month_of(start: NaiveDate, t: u32) -> Option<String> {
    let t = t.checked_sub(1)?;
    let months = start.year() * 12 + start.month0() as i32 + t as i32;
    let date = NaiveDate::from_ymd_opt(months.div_euclid(12), months.rem_euclid(12) as u32 + 1, 1)?;
    Some(month(date))
}

/// A `YYYY-MM-DD` date from the API as `YYYY-MM`; other text unchanged.
pub fn month_of_date(text: &str) -> String {
    match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(date) => month(date),
        Err(_) => text.to_string(),
    }
}

/// A whole number of months and its date: `month 14 (2026-07)`, or
/// `never` for 0.
pub fn month_and_date(start: NaiveDate, t: u32) -> String {
    match month_of(start, t) {
        Some(date) => format!("month {t} ({date})"),
        None => "never".into(),
    }
}

/// Seconds in the unit a person would use: `850 ms`, `2.40 s`.
/// `text` broken into lines of at most `width` characters at spaces (a
/// longer word stands on a line of its own).
pub fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split_whitespace() {
        let len = word.chars().count();
        if line > 0 && line + 1 + len > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += len;
    }
    out
}

pub fn seconds(value: f64) -> String {
    if value.is_finite() && value.abs() < 1.0 {
        format!("{:.0} ms", value * 1000.0)
    } else {
        format!("{value:.2} s")
    }
}

/// Applies `shown` to the magnitude and puts a minus sign in front of the
/// currency symbol: `-$5`, not `$-5`. Non-finite values print as Rust does.
fn signed(value: f64, shown: impl Fn(f64) -> String) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let text = shown(value.abs());
    // Rounding can leave nothing to be negative about: -0.004 → "$0".
    let is_zero = text.chars().all(|c| !c.is_ascii_digit() || c == '0');
    if value < 0.0 && !is_zero {
        format!("-{text}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_have_separators_and_a_leading_sign() {
        let cases = [
            (0.0, "$0"),
            (999.4, "$999"),
            (1_000.0, "$1,000"),
            (1_234_567.0, "$1,234,567"),
            (1_234_567.5, "$1,234,568"),
            (-5_000.0, "-$5,000"),
            (-0.4, "$0"),
            (123_456_789_012.0, "$123,456,789,012"),
        ];
        for (value, expected) in cases {
            assert_eq!(usd(value), expected, "{value}");
        }
        assert_eq!(usd(f64::NAN), "n/a");
    }

    #[test]
    fn unit_prices_keep_their_significant_digits() {
        let cases = [
            (0.15, "$0.15"),
            (0.075, "$0.075"),
            (0.123456, "$0.1235"),
            (2.5, "$2.50"),
            (2_345.6, "$2,345.60"),
            (0.0042, "$0.0042"),
            (0.0, "$0.00"),
            (-0.6, "-$0.60"),
        ];
        for (value, expected) in cases {
            assert_eq!(usd_price(value), expected, "{value}");
        }
        assert_eq!(usd_cents(1_234.567), "$1,234.57");
    }

    #[test]
    fn percentages_have_one_decimal() {
        assert_eq!(percent(0.125), "12.5%");
        assert_eq!(percent(1.0), "100.0%");
        assert_eq!(percent(0.0), "0.0%");
        assert_eq!(percent(-0.0004), "0.0%");
        assert_eq!(percent(-0.2), "-20.0%");
    }

    #[test]
    fn counts_and_numbers_are_grouped() {
        assert_eq!(count(1_000_000.0), "1,000,000");
        assert_eq!(count(999.6), "1,000");
        assert_eq!(count(12.0), "12");
        assert_eq!(number(12_345.67, 1), "12,345.7");
        assert_eq!(number(-0.5, 2), "-0.50");
    }

    #[test]
    fn months_count_from_the_start() {
        let start = NaiveDate::from_ymd_opt(2025, 6, 1).unwrap();
        assert_eq!(month_of(start, 1).as_deref(), Some("2025-06"));
        assert_eq!(month_of(start, 7).as_deref(), Some("2025-12"));
        assert_eq!(month_of(start, 8).as_deref(), Some("2026-01"));
        assert_eq!(month_of(start, 22).as_deref(), Some("2027-03"));
        assert_eq!(month_of(start, 0), None);
        assert_eq!(month_and_date(start, 22), "month 22 (2027-03)");
        assert_eq!(month_and_date(start, 0), "never");
    }

    #[test]
    fn wrap_breaks_at_spaces_within_the_width() {
        assert_eq!(wrap("aa bb cc", 5), "aa bb\ncc");
        assert_eq!(wrap("a  verylongword b", 4), "a\nverylongword\nb");
        assert_eq!(wrap("", 10), "");
        assert_eq!(month_of_date("2027-03-01"), "2027-03");
        assert_eq!(month_of_date(""), "");
    }

    #[test]
    fn seconds_switch_to_milliseconds_below_one() {
        assert_eq!(seconds(0.0423), "42 ms");
        assert_eq!(seconds(2.4), "2.40 s");
    }
}
