//! How figures read in reports and tables: money with thousands separators
//! and a currency sign, percentages, months as calendar dates. Shared by
//! the HTML report, the chart axes and the command-line tables, so that a
//! figure reads the same wherever it appears.
//!
//! Every function is total: a figure that is not finite reads "n/a"
//! rather than "NaN" or "inf".

use chrono::{Datelike, NaiveDate};

/// What a figure that is not a finite number reads as.
pub const NOT_AVAILABLE: &str = "n/a";

/// Whole dollars with thousands separators: `$1,234,568`, `-$950`.
pub fn money(usd: f64) -> String {
    money_with(usd, 0)
}

/// Dollars and cents with thousands separators: `$1,234.57`, `$0.15`.
pub fn money_cents(usd: f64) -> String {
    money_with(usd, 2)
}

/// Dollars with `decimals` places and thousands separators; a value that
/// rounds to zero has no sign.
pub fn money_with(usd: f64, decimals: usize) -> String {
    if !usd.is_finite() {
        return NOT_AVAILABLE.into();
    }
    let digits = grouped(usd.abs(), decimals);
    if usd < 0.0 && !is_zero(&digits) {
        format!("-${digits}")
    } else {
        format!("${digits}")
    }
}

/// Dollars in three significant figures with a magnitude suffix, for
/// chart axes and tight columns: `$950`, `$12.3k`, `$1.25M`, `-$3.4B`.
pub fn money_compact(usd: f64) -> String {
    if !usd.is_finite() {
        return NOT_AVAILABLE.into();
    }
    let text = compact(usd.abs());
    if usd < 0.0 && !is_zero(&text) {
        format!("-${text}")
    } else {
        format!("${text}")
    }
}

/// A number with thousands separators and `decimals` places:
/// `1,234,567.9`.
pub fn number(value: f64, decimals: usize) -> String {
    if !value.is_finite() {
        return NOT_AVAILABLE.into();
    }
    let digits = grouped(value.abs(), decimals);
    if value < 0.0 && !is_zero(&digits) {
        format!("-{digits}")
    } else {
        digits
    }
}

/// A count in three significant figures with a magnitude suffix (k, M, B,
/// T): `950`, `12.3k`, `4.5M`.
pub fn number_compact(value: f64) -> String {
    if !value.is_finite() {
        return NOT_AVAILABLE.into();
    }
    let text = compact(value.abs());
    if value < 0.0 && !is_zero(&text) {
        format!("-{text}")
    } else {
        text
    }
}

/// A fraction as a percentage with `decimals` places: `0.1234` → `12.3%`
/// with one decimal.
pub fn percent(fraction: f64, decimals: usize) -> String {
    if !fraction.is_finite() {
        return NOT_AVAILABLE.into();
    }
    format!("{}%", number(fraction * 100.0, decimals))
}

/// The first day of month `t` (1-based) counted from `start`, which is
/// month 1; `None` past the calendar's range.
pub fn month_date(start: NaiveDate, t: u32) -> Option<NaiveDate> {
    let months = i64::from(start.year()) * 12 + i64::from(start.month0()) + i64::from(t) - 1;
    let year = i32::try_from(months.div_euclid(12)).ok()?;
    NaiveDate::from_ymd_opt(year, months.rem_euclid(12) as u32 + 1, 1)
}

/// Month `t` (1-based) of a scenario that starts in `start`, as a
/// calendar month: `Jun 2025`.
pub fn month(start: NaiveDate, t: u32) -> String {
    match month_date(start, t) {
        Some(date) => date.format("%b %Y").to_string(),
        None => format!("month {t}"),
    }
}

/// A break-even month with its date, or that it does not happen within
/// the horizon: `month 9 (Feb 2026)`, `not within the horizon`.
pub fn break_even(start: NaiveDate, month_number: Option<u32>) -> String {
    match month_number {
        Some(t) => format!("month {t} ({})", month(start, t)),
        None => "not within the horizon".into(),
    }
}

/// `value` (≥ 0) rounded to `decimals` places with a comma between
/// groups of three integer digits.
fn grouped(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    let (int, frac) = match text.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (text.as_str(), None),
    };
    let mut out = String::with_capacity(text.len() + int.len() / 3);
    for (i, digit) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    if let Some(frac) = frac {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// `value` (≥ 0) in three significant figures with k, M, B or T.
fn compact(value: f64) -> String {
    const SUFFIXES: [(f64, &str); 4] = [(1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")];
    for (scale, suffix) in SUFFIXES {
        // Round first, so that 999,950 reads 1.00M rather than 1000k.
        if round_significant(value, 3) >= scale {
            return format!("{}{suffix}", significant(value / scale, 3));
        }
    }
    significant(value, 3)
}

/// `value` (≥ 0) in `digits` significant figures, trailing zeros of the
/// fraction dropped: 12.0 → `12`, 0.125 → `0.125`, 1234.0 → `1,234`.
fn significant(value: f64, digits: i32) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let magnitude = value.log10().floor() as i32;
    let decimals = (digits - 1 - magnitude).max(0) as usize;
    let text = grouped(value, decimals);
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

fn round_significant(value: f64, digits: i32) -> f64 {
    if value == 0.0 {
        return 0.0;
    }
    let scale = 10f64.powi(digits - 1 - value.log10().floor() as i32);
    (value * scale).round() / scale
}

fn is_zero(digits: &str) -> bool {
    digits.chars().all(|c| matches!(c, '0' | ',' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(cases: &[(f64, &str)], f: fn(f64) -> String) {
        for &(value, expected) in cases {
            assert_eq!(f(value), expected, "for {value}");
        }
    }

    #[test]
    fn money_has_thousands_separators_and_a_sign_before_the_currency() {
        check(
            &[
                (0.0, "$0"),
                (7.4, "$7"),
                (999.0, "$999"),
                (1000.0, "$1,000"),
                (1_234_567.8, "$1,234,568"),
                (-950.2, "-$950"),
                (-1_500_000.0, "-$1,500,000"),
                (-0.3, "$0"),
                (f64::NAN, "n/a"),
                (f64::INFINITY, "n/a"),
            ],
            money,
        );
    }

    #[test]
    fn money_in_cents_keeps_two_places() {
        check(
            &[
                (0.15, "$0.15"),
                (1234.567, "$1,234.57"),
                (-0.004, "$0.00"),
                (-12.5, "-$12.50"),
            ],
            money_cents,
        );
    }

    #[test]
    fn compact_money_keeps_three_significant_figures() {
        check(
            &[
                (0.0, "$0"),
                (0.125, "$0.125"),
                (12.0, "$12"),
                (950.0, "$950"),
                (999.6, "$1k"),
                (12_345.0, "$12.3k"),
                (1_250_000.0, "$1.25M"),
                (999_950.0, "$1M"),
                (-3_400_000_000.0, "-$3.4B"),
                (2e13, "$20T"),
            ],
            money_compact,
        );
    }

    #[test]
    fn numbers_group_digits_and_keep_decimals() {
        assert_eq!(number(1_234_567.89, 1), "1,234,567.9");
        assert_eq!(number(-1234.0, 0), "-1,234");
        assert_eq!(number(12.0, 2), "12.00");
        assert_eq!(number(123.0, 0), "123");
        assert_eq!(number(f64::NAN, 0), "n/a");
        check(
            &[(0.5, "0.5"), (4_500_000.0, "4.5M"), (-12_300.0, "-12.3k")],
            number_compact,
        );
    }

    #[test]
    fn percentages_scale_fractions() {
        assert_eq!(percent(0.1234, 1), "12.3%");
        assert_eq!(percent(1.0, 0), "100%");
        assert_eq!(percent(0.0, 0), "0%");
        assert_eq!(percent(-0.05, 1), "-5.0%");
        assert_eq!(percent(12.5, 0), "1,250%");
        assert_eq!(percent(f64::NAN, 1), "n/a");
    }

    #[test]
    fn months_count_from_the_start_month() {
        let start = NaiveDate::from_ymd_opt(2025, 6, 1).unwrap();
        assert_eq!(month(start, 1), "Jun 2025");
        assert_eq!(month(start, 7), "Dec 2025");
        assert_eq!(month(start, 8), "Jan 2026");
        assert_eq!(month(start, 31), "Dec 2027");
        assert_eq!(
            month_date(start, 13),
            NaiveDate::from_ymd_opt(2026, 6, 1),
            "a year on"
        );
        // A start in mid-month counts whole calendar months.
        let mid = NaiveDate::from_ymd_opt(2024, 12, 15).unwrap();
        assert_eq!(month(mid, 2), "Jan 2025");
        assert_eq!(month_date(NaiveDate::MAX, 240), None);
        assert_eq!(month(NaiveDate::MAX, 240), "month 240");
    }

    #[test]
    fn break_even_reads_as_a_month_and_date_or_not_at_all() {
        let start = NaiveDate::from_ymd_opt(2025, 6, 1).unwrap();
        assert_eq!(break_even(start, Some(9)), "month 9 (Feb 2026)");
        assert_eq!(break_even(start, None), "not within the horizon");
    }
}
