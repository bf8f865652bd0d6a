//! The charts: each one drawn by one function onto any plotters backend,
//! then rendered to SVG text or PNG bytes by `render`.
//!
//! Text is laid out with the bundled DejaVu Sans (registered once as
//! plotters' "sans-serif"), so a PNG looks the same on every machine and
//! needs no system font. An SVG names the family "sans-serif" and leaves
//! the glyphs to whatever displays it.

use std::ops::Range;
use std::sync::OnceLock;

use chrono::NaiveDate;
use plotters::coord::Shift;
use plotters::coord::combinators::IntoLogRange;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{Error, Result};
use crate::estimator::{Estimate, ScalingPoint};
use crate::montecarlo::{MonthStats, Outcome, Stats};

use super::format;
use super::{Format, Tornado};

/// Width and height of every chart, pixels (SVG user units).
pub const SIZE: (u32, u32) = (960, 540);

/// DejaVu Sans 2.37; its licence is `fonts/LICENSE-DejaVu.txt`.
static FONT: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");

const API: RGBColor = RGBColor(31, 119, 180);
const SELF_HOSTED: RGBColor = RGBColor(217, 95, 2);
const NEUTRAL: RGBColor = RGBColor(90, 90, 90);
const LOW: RGBColor = RGBColor(66, 146, 198);
const HIGH: RGBColor = RGBColor(214, 96, 77);
const LOSS: RGBColor = RGBColor(214, 39, 40);
const GRID: RGBColor = RGBColor(225, 225, 225);

const CAPTION: u32 = 22;
const LABEL: u32 = 15;
const NOTE: u32 = 13;

type Drawn<DB> = std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// One chart, drawable on any backend.
trait Chart {
    /// What the chart shows, for error messages.
    const NAME: &'static str;
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn<DB>;
}

/// Registers the bundled font as plotters' "sans-serif", once.
fn register_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(Error::Internal(
            "the bundled chart font does not parse".into(),
        ))
    }
}

fn failed<E: std::fmt::Debug>(name: &str) -> impl FnOnce(E) -> Error + '_ {
    move |err| Error::Internal(format!("drawing the {name} chart: {err:?}"))
}

/// Draws `chart` and encodes it.
fn render<C: Chart>(chart: &C, format: Format) -> Result<Vec<u8>> {
    register_font()?;
    match format {
        Format::Svg => {
            let mut text = String::new();
            {
                let root = SVGBackend::with_string(&mut text, SIZE).into_drawing_area();
                chart.draw(&root).map_err(failed(C::NAME))?;
                root.present().map_err(failed(C::NAME))?;
            }
            Ok(text.into_bytes())
        }
        Format::Png => {
            let (w, h) = SIZE;
            let mut rgb = vec![0u8; w as usize * h as usize * 3];
            {
                let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
                chart.draw(&root).map_err(failed(C::NAME))?;
                root.present().map_err(failed(C::NAME))?;
            }
            encode_png(&rgb, w, h)
        }
    }
}

fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .write_header()
        .and_then(|mut writer| writer.write_image_data(rgb))
        .map_err(|err| Error::Internal(format!("encoding a chart as PNG: {err}")))?;
    Ok(out)
}

fn font(size: u32) -> TextStyle<'static> {
    TextStyle::from(("sans-serif", size).into_font())
}

fn note(size: u32, color: &'static RGBColor) -> TextStyle<'static> {
    font(size).color(color)
}

/// Lower and upper bounds padded by 5% of the span, and never a span of
/// zero (which plotters cannot draw).
fn padded(lo: f64, hi: f64) -> (f64, f64) {
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
    let span = hi - lo;
    if span > 0.0 && span.is_finite() {
        (lo - 0.05 * span, hi + 0.05 * span)
    } else {
        let pad = (lo.abs() * 0.1).max(1.0);
        (lo - pad, hi + pad)
    }
}

/// Month numbers to label on a time axis: the first month, then every
/// `step` months, with `step` the smallest of 1, 2, 3, 6, 12, 24, … that
/// keeps the labels to about twelve.
fn month_ticks(horizon: u32) -> Vec<f64> {
    let step = [1, 2, 3, 6, 12]
        .into_iter()
        .chain((2..).map(|k| 12 * k))
        .find(|&s| horizon.div_ceil(s) <= 12)
        .unwrap_or(12);
    (1..=horizon.max(1))
        .step_by(step as usize)
        .map(f64::from)
        .collect()
}

/// A linear axis with grid lines and labels at chosen values only.
/// (plotters' own `WithKeyPoints` over `f64` lacks the value formatter a
/// mesh needs, so this is the few lines it takes to have one.)
struct Ticked {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ticked {
    fn new(range: Range<f64>, ticks: Vec<f64>) -> Ticked {
        Ticked {
            inner: range.into(),
            ticks,
        }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            // Bold lines only.
            return Vec::new();
        }
        let every = self
            .ticks
            .len()
            .div_ceil(hint.max_num_points().max(1))
            .max(1);
        self.ticks.iter().copied().step_by(every).collect()
    }

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }
}

/// The month axis: 1 to the horizon (at least a span of one month).
fn month_axis(horizon: u32) -> Ticked {
    Ticked::new(1.0..f64::from(horizon.max(2)), month_ticks(horizon))
}

/// Labels a month number as its calendar month when the start is known.
fn month_label(start: Option<NaiveDate>, t: f64) -> String {
    let t = t.round().max(1.0) as u32;
    match start {
        Some(start) => format::month(start, t),
        None => format!("month {t}"),
    }
}

fn is_band(lower: &[f64], upper: &[f64]) -> bool {
    let scale = upper
        .iter()
        .chain(lower)
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(1e-9);
    lower
        .iter()
        .zip(upper)
        .any(|(lo, hi)| (hi - lo).abs() > 1e-9 * scale)
}

/// A closed polygon from `upper` left to right and `lower` back.
fn band(xs: &[f64], lower: &[f64], upper: &[f64]) -> Vec<(f64, f64)> {
    xs.iter()
        .zip(upper)
        .map(|(&x, &y)| (x, y))
        .chain(xs.iter().zip(lower).rev().map(|(&x, &y)| (x, y)))
        .collect()
}

fn non_empty<T>(items: &[T], field: &str) -> Result<()> {
    if items.is_empty() {
        Err(Error::invalid(field, "is empty: there is nothing to draw"))
    } else {
        Ok(())
    }
}

// ---------------------------------------------------------------------
// 1. Cumulative cost of both options.

struct CumulativeCost<'a> {
    months: &'a [MonthStats],
    start: Option<NaiveDate>,
}

/// Cumulative cost of the API and of self-hosting month by month: the
/// medians as lines, the P25–P75 and P5–P95 ranges as shaded bands (drawn
/// only where paths differ), and a dashed line at the month by which half
/// the paths have broken even ([`super::median_break_even`]; for a
/// projection, its break-even month). Months are labelled as calendar
/// months from `start`, the scenario's first month.
pub fn cumulative_cost(months: &[MonthStats], start: NaiveDate, format: Format) -> Result<Vec<u8>> {
    cumulative_cost_from(months, Some(start), format)
}

/// [`cumulative_cost`] with months labelled by number when the start is
/// unknown.
pub(super) fn cumulative_cost_from(
    months: &[MonthStats],
    start: Option<NaiveDate>,
    format: Format,
) -> Result<Vec<u8>> {
    non_empty(months, "months")?;
    render(&CumulativeCost { months, start }, format)
}

impl Chart for CumulativeCost<'_> {
    const NAME: &'static str = "cumulative cost";

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn<DB> {
        root.fill(&WHITE)?;
        let months = self.months;
        let horizon = months.len() as u32;
        let top = months
            .iter()
            .map(|m| m.cumulative_api.p95.max(m.cumulative_self_host.p95))
            .fold(0.0, f64::max);
        let bottom = months
            .iter()
            .map(|m| m.cumulative_api.p5.min(m.cumulative_self_host.p5))
            .fold(0.0, f64::min);
        let (_, y_top) = padded(bottom, top);
        let mut chart = ChartBuilder::on(root)
            .caption("Cumulative cost: API against self-hosting", font(CAPTION))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(84)
            .build_cartesian_2d(month_axis(horizon), bottom..y_top)?;
        let start = self.start;
        let x_label = |t: &f64| month_label(start, *t);
        let y_label = |y: &f64| format::money_compact(*y);
        chart
            .configure_mesh()
            .light_line_style(GRID.mix(0.0))
            .bold_line_style(GRID)
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label)
            .x_desc("Month")
            .y_desc("Cumulative cost (USD)")
            .label_style(font(LABEL))
            .axis_desc_style(font(LABEL))
            .draw()?;

        let xs: Vec<f64> = months.iter().map(|m| f64::from(m.t)).collect();
        let options = [
            (
                "API",
                API,
                months.iter().map(|m| m.cumulative_api).collect::<Vec<_>>(),
            ),
            (
                "Self-hosted",
                SELF_HOSTED,
                months.iter().map(|m| m.cumulative_self_host).collect(),
            ),
        ];
        // Bands of both options first, so that neither median line is
        // drawn over by the other option's shading.
        for (name, color, stats) in &options {
            let color = *color;
            let series = |f: fn(&Stats) -> f64| stats.iter().map(f).collect::<Vec<f64>>();
            for (range, (lower, upper), opacity) in [
                ("P5–P95", (series(|s| s.p5), series(|s| s.p95)), 0.12),
                ("P25–P75", (series(|s| s.p25), series(|s| s.p75)), 0.25),
            ] {
                if !is_band(&lower, &upper) {
                    continue;
                }
                chart
                    .draw_series([Polygon::new(band(&xs, &lower, &upper), color.mix(opacity))])?
                    .label(format!("{name}, {range}"))
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 6), (x + 22, y + 6)], color.mix(opacity).filled())
                    });
            }
        }
        // A projection has one path: its lines are no medians.
        let spread = options.iter().any(|(_, _, stats)| {
            let lower: Vec<f64> = stats.iter().map(|s| s.p5).collect();
            let upper: Vec<f64> = stats.iter().map(|s| s.p95).collect();
            is_band(&lower, &upper)
        });
        for (name, color, stats) in &options {
            let color = *color;
            let median: Vec<(f64, f64)> = xs.iter().zip(stats).map(|(&x, s)| (x, s.p50)).collect();
            chart
                .draw_series([PathElement::new(median, color.stroke_width(3))])?
                .label(if spread {
                    format!("{name}, median")
                } else {
                    name.to_string()
                })
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(3))
                });
        }

        if let Some(t) = super::median_break_even(months) {
            let x = f64::from(t);
            chart.draw_series([DashedPathElement::new(
                [(x, bottom), (x, y_top)],
                8,
                5,
                NEUTRAL.stroke_width(2),
            )])?;
            let uncertain = months
                .iter()
                .any(|m| m.p_break_even_by > 0.0 && m.p_break_even_by < 1.0);
            let label = if uncertain {
                format!("half the paths broken even: {}", month_label(self.start, x))
            } else {
                format!("break-even: {}", month_label(self.start, x))
            };
            // Right of the line, or left of it in the last third.
            let (style, offset) = if f64::from(t) > f64::from(horizon) * 0.66 {
                (
                    note(LABEL, &NEUTRAL).pos(Pos::new(HPos::Right, VPos::Top)),
                    (-6, 6),
                )
            } else {
                (note(LABEL, &NEUTRAL), (6, 6))
            };
            chart.draw_series([EmptyElement::at((x, y_top)) + Text::new(label, offset, style)])?;
        }

        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .margin(12)
            .label_font(font(LABEL))
            .background_style(WHITE.mix(0.85))
            .border_style(GRID)
            .draw()
    }
}

// ---------------------------------------------------------------------
// 2. Probability of break-even by month.

struct BreakEvenProbability<'a> {
    months: &'a [MonthStats],
    start: Option<NaiveDate>,
}

/// The probability that self-hosting has broken even by each month, with
/// its 95% interval from the simulation's standard error where there is
/// one, and a reference line at 50%.
pub fn break_even_probability(
    months: &[MonthStats],
    start: NaiveDate,
    format: Format,
) -> Result<Vec<u8>> {
    break_even_probability_from(months, Some(start), format)
}

/// [`break_even_probability`] with months labelled by number when the
/// start is unknown.
pub(super) fn break_even_probability_from(
    months: &[MonthStats],
    start: Option<NaiveDate>,
    format: Format,
) -> Result<Vec<u8>> {
    non_empty(months, "months")?;
    render(&BreakEvenProbability { months, start }, format)
}

impl Chart for BreakEvenProbability<'_> {
    const NAME: &'static str = "break-even probability";

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn<DB> {
        root.fill(&WHITE)?;
        let months = self.months;
        let horizon = months.len() as u32;
        let mut chart = ChartBuilder::on(root)
            .caption("Probability of having broken even, by month", font(CAPTION))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(month_axis(horizon), 0.0..1.0)?;
        let start = self.start;
        let x_label = |t: &f64| month_label(start, *t);
        let y_label = |y: &f64| format::percent(*y, 0);
        chart
            .configure_mesh()
            .light_line_style(GRID.mix(0.0))
            .bold_line_style(GRID)
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label)
            .x_desc("Month")
            .y_desc("Probability")
            .label_style(font(LABEL))
            .axis_desc_style(font(LABEL))
            .draw()?;

        let xs: Vec<f64> = months.iter().map(|m| f64::from(m.t)).collect();
        let interval = |sign: f64| -> Vec<f64> {
            months
                .iter()
                .map(|m| (m.p_break_even_by + sign * 1.96 * m.p_break_even_by_se).clamp(0.0, 1.0))
                .collect()
        };
        let (lower, upper) = (interval(-1.0), interval(1.0));
        if is_band(&lower, &upper) {
            chart
                .draw_series([Polygon::new(
                    band(&xs, &lower, &upper),
                    SELF_HOSTED.mix(0.2),
                )])?
                .label("95% interval (simulation error)")
                .legend(|(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 22, y + 6)], SELF_HOSTED.mix(0.2).filled())
                });
        }
        chart.draw_series([DashedPathElement::new(
            [(1.0, 0.5), (f64::from(horizon.max(2)), 0.5)],
            6,
            6,
            NEUTRAL.stroke_width(1),
        )])?;
        let line: Vec<(f64, f64)> = xs
            .iter()
            .zip(months)
            .map(|(&x, m)| (x, m.p_break_even_by))
            .collect();
        chart
            .draw_series([PathElement::new(line, SELF_HOSTED.stroke_width(3))])?
            .label("P(break-even by month)")
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 22, y)], SELF_HOSTED.stroke_width(3))
            });
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .margin(12)
            .label_font(font(LABEL))
            .background_style(WHITE.mix(0.85))
            .border_style(GRID)
            .draw()
    }
}

// ---------------------------------------------------------------------
// 3. The NPV distribution.

struct NpvDistribution<'a> {
    outcome: &'a Outcome,
}

/// The distribution of the net present value of savings from
/// self-hosting, drawn from the quantiles the simulation keeps (P5, P25,
/// median, P75, P95), the mean, and the mean of the worst 5% (CVaR):
/// a box of P25–P75 with whiskers to P5 and P95, and losses shaded.
pub fn npv_distribution(outcome: &Outcome, format: Format) -> Result<Vec<u8>> {
    render(&NpvDistribution { outcome }, format)
}

impl Chart for NpvDistribution<'_> {
    const NAME: &'static str = "NPV distribution";

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn<DB> {
        root.fill(&WHITE)?;
        let o = self.outcome;
        let s = o.npv_savings;
        let worst = -o.cvar_95;
        let values = [s.p5, s.p25, s.p50, s.p75, s.p95, s.mean, worst, 0.0];
        let lo = values
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .fold(f64::INFINITY, f64::min);
        let hi = values
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .fold(f64::NEG_INFINITY, f64::max);
        // Room at both ends for the centred quantile labels.
        let (x0, x1) = padded(lo - 0.06 * (hi - lo), hi + 0.06 * (hi - lo));
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!(
                    "NPV of savings from self-hosting ({} paths)",
                    format::number(o.paths as f64, 0)
                ),
                font(CAPTION),
            )
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(16)
            .build_cartesian_2d(x0..x1, 0.0..1.0)?;
        let x_label = |x: &f64| format::money_compact(*x);
        chart
            .configure_mesh()
            .disable_y_mesh()
            .disable_y_axis()
            .light_line_style(GRID.mix(0.0))
            .bold_line_style(GRID)
            .x_label_formatter(&x_label)
            .x_desc("Net present value of savings (USD); below zero self-hosting costs more")
            .label_style(font(LABEL))
            .axis_desc_style(font(LABEL))
            .draw()?;

        if x0 < 0.0 {
            chart
                .draw_series([Rectangle::new(
                    [(x0, 0.0), (0.0_f64.min(x1), 1.0)],
                    LOSS.mix(0.07).filled(),
                )])?
                .label("loss: self-hosting costs more")
                .legend(|(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 22, y + 6)], LOSS.mix(0.07).filled())
                });
        }
        chart.draw_series([DashedPathElement::new(
            [(0.0, 0.0), (0.0, 1.0)],
            6,
            5,
            NEUTRAL.stroke_width(1),
        )])?;
        let (mid, half) = (0.45, 0.14);
        chart
            .draw_series([PathElement::new(
                vec![(s.p5, mid), (s.p95, mid)],
                SELF_HOSTED.stroke_width(2),
            )])?
            .label("P5–P95")
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 22, y)], SELF_HOSTED.stroke_width(2))
            });
        chart.draw_series([s.p5, s.p95].map(|x| {
            PathElement::new(
                vec![(x, mid - half / 2.0), (x, mid + half / 2.0)],
                SELF_HOSTED.stroke_width(2),
            )
        }))?;
        chart
            .draw_series([Rectangle::new(
                [(s.p25, mid - half), (s.p75, mid + half)],
                SELF_HOSTED.mix(0.35).filled(),
            )])?
            .label("P25–P75")
            .legend(|(x, y)| {
                Rectangle::new(
                    [(x, y - 6), (x + 22, y + 6)],
                    SELF_HOSTED.mix(0.35).filled(),
                )
            });
        chart
            .draw_series([PathElement::new(
                vec![(s.p50, mid - half), (s.p50, mid + half)],
                BLACK.stroke_width(3),
            )])?
            .label("median")
            .legend(|(x, y)| {
                PathElement::new(
                    vec![(x + 11, y - 7), (x + 11, y + 7)],
                    BLACK.stroke_width(3),
                )
            });
        chart
            .draw_series([Circle::new((s.mean, mid), 6, BLACK.filled())])?
            .label("mean")
            .legend(|(x, y)| Circle::new((x + 11, y), 5, BLACK.filled()));
        if worst.is_finite() {
            chart
                .draw_series([TriangleMarker::new((worst, mid), 8, LOSS.filled())])?
                .label("mean of the worst 5% (CVaR 95%)")
                .legend(|(x, y)| TriangleMarker::new((x + 11, y), 7, LOSS.filled()));
        }
        // Each quantile named above the box, centred on it, each on the
        // lowest row where it runs into no label already placed: close
        // quantiles (a small spread) stack instead of overlapping.
        let centred = note(NOTE, &NEUTRAL).pos(Pos::new(HPos::Center, VPos::Bottom));
        let labels: Vec<(String, f64)> = [
            ("P5", s.p5),
            ("P25", s.p25),
            ("median", s.p50),
            ("P75", s.p75),
            ("P95", s.p95),
        ]
        .into_iter()
        .map(|(name, x)| (format!("{name} {}", format::money_compact(x)), x))
        .collect();
        let mut spans = Vec::with_capacity(labels.len());
        for (text, x) in &labels {
            let (width, _) = root.estimate_text_size(text, &centred)?;
            let (px, _) = chart.backend_coord(&(*x, mid + half));
            spans.push((f64::from(px), f64::from(width)));
        }
        for ((text, x), row) in labels.iter().zip(label_rows(&spans, LABEL_GAP)) {
            let rise = 10 + row as i32 * (NOTE as i32 + 6);
            chart.draw_series([EmptyElement::at((*x, mid + half))
                + Text::new(text.clone(), (0, -rise), centred.clone())])?;
        }
        // The legend sits below the box, clear of the stacked labels above,
        // in the corner away from the median.
        let corner = if s.p50 > 0.5 * (x0 + x1) {
            SeriesLabelPosition::LowerLeft
        } else {
            SeriesLabelPosition::LowerRight
        };
        chart
            .configure_series_labels()
            .position(corner)
            .margin(12)
            .label_font(font(LABEL))
            .background_style(WHITE.mix(0.85))
            .border_style(GRID)
            .draw()
    }
}

/// Pixels kept free between two labels on one row.
const LABEL_GAP: f64 = 6.0;

/// Rows for labels centred at `spans[i].0` and `spans[i].1` wide: each on
/// the lowest row where it keeps `gap` pixels from every label already
/// placed on that row, so no two labels overlap however close their
/// values are.
fn label_rows(spans: &[(f64, f64)], gap: f64) -> Vec<usize> {
    let mut placed: Vec<(usize, f64, f64)> = Vec::new();
    let mut rows = Vec::with_capacity(spans.len());
    for &(centre, width) in spans {
        let (left, right) = (centre - width / 2.0, centre + width / 2.0);
        let row = (0..)
            .find(|&row| {
                placed
                    .iter()
                    .filter(|(r, _, _)| *r == row)
                    .all(|&(_, l, r)| right + gap <= l || left >= r + gap)
            })
            .expect("some row is free");
        placed.push((row, left, right));
        rows.push(row);
    }
    rows
}

// ---------------------------------------------------------------------
// 4. The tornado.

struct TornadoChart<'a> {
    tornado: &'a Tornado,
}

/// A tornado: for each input, the measure with the input at its low and
/// at its high value, as bars from the base value; the widest swing on
/// top.
pub fn tornado(tornado: &Tornado, format: Format) -> Result<Vec<u8>> {
    non_empty(&tornado.rows, "tornado.rows")?;
    render(&TornadoChart { tornado }, format)
}

impl Chart for TornadoChart<'_> {
    const NAME: &'static str = "tornado";

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn<DB> {
        root.fill(&WHITE)?;
        let t = self.tornado;
        let mut rows: Vec<_> = t.rows.iter().collect();
        rows.sort_by(|a, b| {
            (b.at_high - b.at_low)
                .abs()
                .total_cmp(&(a.at_high - a.at_low).abs())
        });
        let n = rows.len();
        let values = rows
            .iter()
            .flat_map(|r| [r.at_low, r.at_high])
            .chain([t.base])
            .filter(|v| v.is_finite());
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        let (x0, x1) = padded(lo, hi);
        let longest = rows
            .iter()
            .map(|r| r.input.chars().count())
            .max()
            .unwrap_or(0);
        let label_area = (longest as u32 * 8 + 24).clamp(100, 400);
        // Row i (0 on top) is centred on y = n − 1 − i; below the last row,
        // room for the legend (about a fifth of the plot's height).
        let floor = -0.6 - 0.25 * (n as f64 + 0.2);
        let y_of = |i: usize| (n - 1 - i) as f64;
        let ticks: Vec<f64> = (0..n).map(y_of).collect();
        let mut chart = ChartBuilder::on(root)
            .caption(format!("{}: what moves it", t.measure), font(CAPTION))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(label_area)
            .build_cartesian_2d(x0..x1, Ticked::new(floor..n as f64 - 0.4, ticks))?;
        let names: Vec<String> = rows.iter().map(|r| r.input.clone()).collect();
        let y_label = move |y: &f64| {
            let i = (n as f64 - 1.0 - y.round()) as usize;
            names.get(i).cloned().unwrap_or_default()
        };
        let x_label = |x: &f64| format::money_compact(*x);
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(GRID.mix(0.0))
            .bold_line_style(GRID)
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label)
            .x_desc(format!("{} (USD)", t.measure))
            .label_style(font(LABEL))
            .axis_desc_style(font(LABEL))
            .draw()?;

        let half = 0.32;
        for (i, row) in rows.iter().enumerate() {
            let y = y_of(i);
            let bar = |value: f64, color: RGBColor| {
                Rectangle::new(
                    [(t.base, y - half), (value, y + half)],
                    color.mix(0.85).filled(),
                )
            };
            // The farther end first, so that a nearer one on the same side
            // stays visible on top of it.
            let mut ends = [(row.at_low, LOW), (row.at_high, HIGH)];
            ends.sort_by(|a, b| (b.0 - t.base).abs().total_cmp(&(a.0 - t.base).abs()));
            chart.draw_series(ends.iter().map(|&(v, c)| bar(v, c)))?;
        }
        // Empty series carry the legend.
        chart
            .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())?
            .label(t.low_label.clone())
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 22, y + 6)], LOW.mix(0.85).filled()));
        chart
            .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())?
            .label(t.high_label.clone())
            .legend(|(x, y)| {
                Rectangle::new([(x, y - 6), (x + 22, y + 6)], HIGH.mix(0.85).filled())
            });
        chart
            .draw_series([PathElement::new(
                vec![(t.base, floor), (t.base, n as f64 - 0.4)],
                BLACK.stroke_width(2),
            )])?
            .label(format!("base: {}", format::money_compact(t.base)))
            .legend(|(x, y)| {
                PathElement::new(
                    vec![(x + 11, y - 7), (x + 11, y + 7)],
                    BLACK.stroke_width(2),
                )
            });
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .margin(12)
            .label_font(font(LABEL))
            .background_style(WHITE.mix(0.85))
            .border_style(GRID)
            .draw()
    }
}

// ---------------------------------------------------------------------
// 5. Throughput against interactivity.

struct Throughput<'a> {
    points: &'a [Estimate],
    best: Option<&'a Estimate>,
}

/// The concurrency sweep: generated tokens per second per GPU against
/// generated tokens per second each user sees, one point per concurrency
/// (labelled with it), hollow where the latency targets fail, and the
/// best point within the targets ringed.
pub fn throughput(points: &[Estimate], best: Option<&Estimate>, format: Format) -> Result<Vec<u8>> {
    non_empty(points, "points")?;
    render(&Throughput { points, best }, format)
}

impl Chart for Throughput<'_> {
    const NAME: &'static str = "throughput";

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn<DB> {
        root.fill(&WHITE)?;
        let xy = |e: &Estimate| {
            (
                e.tokens_per_second_per_user,
                e.output_tokens_per_second_per_gpu,
            )
        };
        let all = self.points.iter().chain(self.best).map(xy);
        let (xmax, ymax) = all.fold((0.0f64, 0.0f64), |(a, b), (x, y)| (a.max(x), b.max(y)));
        let (_, x1) = padded(0.0, xmax);
        let (_, y1) = padded(0.0, ymax);
        let first = &self.points[0];
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!(
                    "Throughput against interactivity (tensor parallel {})",
                    first.tensor_parallel
                ),
                font(CAPTION),
            )
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(84)
            .build_cartesian_2d(0.0..x1, 0.0..y1)?;
        let x_label = |x: &f64| format::number_compact(*x);
        let y_label = |y: &f64| format::number_compact(*y);
        chart
            .configure_mesh()
            .light_line_style(GRID.mix(0.0))
            .bold_line_style(GRID)
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label)
            .x_desc("Generated tokens/s per user (1 / time per output token)")
            .y_desc("Generated tokens/s per GPU")
            .label_style(font(LABEL))
            .axis_desc_style(font(LABEL))
            .draw()?;

        let mut sorted: Vec<&Estimate> = self.points.iter().collect();
        sorted.sort_by_key(|e| e.concurrency);
        chart
            .draw_series([PathElement::new(
                sorted.iter().map(|e| xy(e)).collect::<Vec<_>>(),
                API.stroke_width(2),
            )])?
            .label("by concurrency")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], API.stroke_width(2)));
        let (meet, miss): (Vec<&Estimate>, Vec<&Estimate>) =
            sorted.iter().partition(|e| e.meets_targets);
        if !meet.is_empty() {
            chart
                .draw_series(meet.iter().map(|e| Circle::new(xy(e), 5, API.filled())))?
                .label("meets the latency targets")
                .legend(|(x, y)| Circle::new((x + 11, y), 5, API.filled()));
        }
        if !miss.is_empty() {
            chart.draw_series(miss.iter().map(|e| Circle::new(xy(e), 5, WHITE.filled())))?;
            chart
                .draw_series(
                    miss.iter()
                        .map(|e| Circle::new(xy(e), 5, API.stroke_width(2))),
                )?
                .label("misses the latency targets")
                .legend(|(x, y)| Circle::new((x + 11, y), 5, API.stroke_width(2)));
        }
        chart.draw_series(sorted.iter().map(|e| {
            EmptyElement::at(xy(e))
                + Text::new(e.concurrency.to_string(), (7, -18), note(NOTE, &NEUTRAL))
        }))?;
        if let Some(best) = self.best {
            chart
                .draw_series([Circle::new(xy(best), 11, SELF_HOSTED.stroke_width(3))])?
                .label(format!(
                    "best within targets: {} concurrent",
                    best.concurrency
                ))
                .legend(|(x, y)| Circle::new((x + 11, y), 7, SELF_HOSTED.stroke_width(3)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .margin(12)
            .label_font(font(LABEL))
            .background_style(WHITE.mix(0.85))
            .border_style(GRID)
            .draw()
    }
}

// ---------------------------------------------------------------------
// 6. Cost per million tokens against model size.

struct Scaling<'a> {
    points: &'a [ScalingPoint],
}

/// The scaling curve: rental cost per million tokens (generated, and
/// prompt plus generated) against total parameters, both on log scales,
/// each point labelled with its model; models that do not fit are listed
/// under the plot.
pub fn scaling(points: &[ScalingPoint], format: Format) -> Result<Vec<u8>> {
    if fitting(points).is_empty() {
        return Err(Error::invalid(
            "points",
            "holds no model that fits: there is nothing to draw",
        ));
    }
    render(&Scaling { points }, format)
}

/// The points with an estimate, which a log scale can place.
fn fitting(points: &[ScalingPoint]) -> Vec<(&ScalingPoint, &Estimate)> {
    points
        .iter()
        .filter_map(|p| p.estimate.as_ref().ok().map(|e| (p, e)))
        .filter(|(p, e)| {
            p.total_params_b > 0.0
                && e.cost_per_million_output_tokens_usd > 0.0
                && e.cost_per_million_total_tokens_usd > 0.0
        })
        .collect()
}

impl Chart for Scaling<'_> {
    const NAME: &'static str = "scaling";

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn<DB> {
        root.fill(&WHITE)?;
        let fits = fitting(self.points);
        let missing: Vec<&str> = self
            .points
            .iter()
            .filter(|p| p.estimate.is_err())
            .map(|p| p.model.as_str())
            .collect();
        let range = |values: &mut dyn Iterator<Item = f64>| {
            let (lo, hi) = values.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
            // A log axis padded by a factor of 1.6 each way.
            (lo / 1.6, hi * 1.6)
        };
        let (x0, x1) = range(&mut fits.iter().map(|(p, _)| p.total_params_b));
        let (y0, y1) = range(&mut fits.iter().flat_map(|(_, e)| {
            [
                e.cost_per_million_output_tokens_usd,
                e.cost_per_million_total_tokens_usd,
            ]
        }));
        let gpu_note = if missing.is_empty() {
            String::new()
        } else {
            format!("Does not fit: {}", missing.join(", "))
        };
        let (plot, footer) = if missing.is_empty() {
            (root.clone(), None)
        } else {
            let (plot, footer) = root.split_vertically(SIZE.1 - 28);
            (plot, Some(footer))
        };
        let mut chart = ChartBuilder::on(&plot)
            .caption("Cost per million tokens against model size", font(CAPTION))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(84)
            .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())?;
        let x_label = |x: &f64| format!("{}B", format::number_compact(*x));
        let y_label = |y: &f64| format::money_compact(*y);
        chart
            .configure_mesh()
            .light_line_style(GRID.mix(0.0))
            .bold_line_style(GRID)
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label)
            .x_desc("Total parameters (billions, log scale)")
            .y_desc("On-demand rental per million tokens (USD, log scale)")
            .label_style(font(LABEL))
            .axis_desc_style(font(LABEL))
            .draw()?;

        for (name, color, pick) in [
            (
                "per million generated tokens",
                SELF_HOSTED,
                (|e: &Estimate| e.cost_per_million_output_tokens_usd) as fn(&Estimate) -> f64,
            ),
            (
                "per million prompt + generated tokens",
                API,
                |e: &Estimate| e.cost_per_million_total_tokens_usd,
            ),
        ] {
            // Points only: neighbouring models differ in more than size
            // (dense or mixture of experts, attention), so a line between
            // them would suggest a trend that is not there.
            chart
                .draw_series(
                    fits.iter()
                        .map(|(p, e)| Circle::new((p.total_params_b, pick(e)), 5, color.filled())),
                )?
                .label(name)
                .legend(move |(x, y)| Circle::new((x + 11, y), 5, color.filled()));
        }
        // Names to the right of their points, or to the left near the
        // right edge so that they stay inside the plot.
        let right_edge = (x0.ln() + 0.75 * (x1.ln() - x0.ln())).exp();
        chart.draw_series(fits.iter().map(|(p, e)| {
            let (style, offset) = if p.total_params_b > right_edge {
                (
                    note(NOTE, &NEUTRAL).pos(Pos::new(HPos::Right, VPos::Top)),
                    (-7, -18),
                )
            } else {
                (note(NOTE, &NEUTRAL), (7, -18))
            };
            EmptyElement::at((p.total_params_b, e.cost_per_million_output_tokens_usd))
                + Text::new(p.model.clone(), offset, style)
        }))?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .margin(12)
            .label_font(font(LABEL))
            .background_style(WHITE.mix(0.85))
            .border_style(GRID)
            .draw()?;
        if let Some(footer) = footer {
            footer.draw(&Text::new(gpu_note, (24, 4), note(NOTE, &NEUTRAL)))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_ticks_stay_near_twelve_and_start_at_month_one() {
        assert_eq!(month_ticks(1), [1.0]);
        assert_eq!(month_ticks(6), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(
            month_ticks(24),
            [
                1.0, 3.0, 5.0, 7.0, 9.0, 11.0, 13.0, 15.0, 17.0, 19.0, 21.0, 23.0
            ]
        );
        assert_eq!(month_ticks(36).len(), 12);
        assert_eq!(
            month_ticks(60),
            [1.0, 7.0, 13.0, 19.0, 25.0, 31.0, 37.0, 43.0, 49.0, 55.0]
        );
        assert!(month_ticks(240).len() <= 12);
    }

    /// Label boxes as the NPV chart lays them out: no two on one row
    /// overlap, whether the quantiles are far apart (one row) or nearly
    /// equal (stacked).
    #[test]
    fn quantile_labels_never_overlap() {
        let boxes = |spans: &[(f64, f64)]| {
            let rows = label_rows(spans, LABEL_GAP);
            for (i, (&(ci, wi), &ri)) in spans.iter().zip(&rows).enumerate() {
                for (&(cj, wj), &rj) in spans[..i].iter().zip(&rows) {
                    if ri == rj {
                        let apart = (ci - cj).abs() - (wi + wj) / 2.0;
                        assert!(apart >= LABEL_GAP, "{spans:?} on rows {rows:?}");
                    }
                }
            }
            rows
        };
        // Wide spread: all on the first row.
        assert_eq!(
            boxes(&[
                (100.0, 60.0),
                (250.0, 60.0),
                (400.0, 70.0),
                (550.0, 60.0),
                (700.0, 60.0)
            ]),
            [0, 0, 0, 0, 0]
        );
        // All five quantiles within a few pixels: five rows.
        assert_eq!(
            boxes(&[
                (400.0, 60.0),
                (401.0, 60.0),
                (402.0, 72.0),
                (403.0, 60.0),
                (404.0, 60.0)
            ]),
            [0, 1, 2, 3, 4]
        );
        // Neighbours close, outer ones apart: rows reused where free.
        assert_eq!(
            boxes(&[
                (100.0, 60.0),
                (380.0, 60.0),
                (400.0, 72.0),
                (420.0, 60.0),
                (700.0, 60.0)
            ]),
            [0, 0, 1, 2, 0]
        );
    }

    #[test]
    fn padding_never_leaves_an_empty_span() {
        assert_eq!(padded(0.0, 100.0), (-5.0, 105.0));
        let (lo, hi) = padded(3.0, 3.0);
        assert!(lo < 3.0 && hi > 3.0);
        assert_eq!(padded(10.0, 0.0), (-0.5, 10.5));
    }

    #[test]
    fn a_band_needs_some_width() {
        assert!(!is_band(&[1.0, 2.0], &[1.0, 2.0]));
        assert!(is_band(&[1.0, 2.0], &[1.0, 2.5]));
        assert_eq!(
            band(&[1.0, 2.0], &[0.0, 1.0], &[5.0, 6.0]),
            [(1.0, 5.0), (2.0, 6.0), (2.0, 1.0), (1.0, 0.0)]
        );
    }
}
