//! Break-even maps: savings over a grid of two inputs, and the boundary
//! where self-hosting starts to win.

use crate::error::{Error, Result};

use super::plan::Plan;
use super::project::{Basis, PathInputs, summarize_break_even};

/// An input a map can vary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapInput {
    RequestsPerDay,
    AnnualGrowth,
    ApiPriceMultiplier,
    ApiAnnualPriceDecline,
    GpuPriceMultiplier,
    TargetUtilization,
    PeakToAverage,
}

impl MapInput {
    pub fn name(self) -> &'static str {
        match self {
            MapInput::RequestsPerDay => "requests per day",
            MapInput::AnnualGrowth => "annual growth",
            MapInput::ApiPriceMultiplier => "API price multiplier",
            MapInput::ApiAnnualPriceDecline => "annual API price decline",
            MapInput::GpuPriceMultiplier => "GPU price multiplier",
            MapInput::TargetUtilization => "target utilisation",
            MapInput::PeakToAverage => "peak-to-average ratio",
        }
    }

    /// The values this input may take.
    fn bounds(self) -> (f64, f64) {
        match self {
            MapInput::RequestsPerDay => (0.0, 1e12),
            MapInput::AnnualGrowth => (-0.99, 100.0),
            MapInput::ApiPriceMultiplier | MapInput::GpuPriceMultiplier => (0.01, 100.0),
            MapInput::ApiAnnualPriceDecline => (0.0, 0.99),
            MapInput::TargetUtilization => (0.01, 1.0),
            MapInput::PeakToAverage => (1.0, 100.0),
        }
    }
}

/// One axis: `steps` values from `from` to `to`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Axis {
    pub input: MapInput,
    pub from: f64,
    pub to: f64,
    pub steps: u32,
}

impl Axis {
    fn values(&self) -> Vec<f64> {
        let n = self.steps as usize;
        (0..n)
            .map(|i| self.from + (self.to - self.from) * i as f64 / (n - 1) as f64)
            .collect()
    }

    fn check(&self, field: &str) -> Result<()> {
        let (lo, hi) = self.input.bounds();
        let ok = |v: f64| v.is_finite() && v >= lo && v <= hi;
        if !(2..=50).contains(&self.steps) {
            return Err(Error::invalid(
                format!("{field}.steps"),
                format!("must be 2–50, got {}", self.steps),
            ));
        }
        if !ok(self.from) {
            return Err(Error::invalid(
                format!("{field}.from"),
                format!("must be in [{lo}, {hi}] for {}", self.input.name()),
            ));
        }
        if !ok(self.to) {
            return Err(Error::invalid(
                format!("{field}.to"),
                format!("must be in [{lo}, {hi}] for {}", self.input.name()),
            ));
        }
        Ok(())
    }
}

/// One grid point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    pub x: f64,
    pub y: f64,
    /// API minus self-host over the horizon: positive when self-hosting saves.
    pub savings: f64,
    pub break_even_month: Option<u32>,
}

/// Where savings change sign along y for one x.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundaryPoint {
    pub x: f64,
    pub y: f64,
    pub wins_above: bool,
}

/// The map and its boundary.
#[derive(Debug, Clone, PartialEq)]
pub struct Map {
    pub cells: Vec<Cell>,
    pub boundary: Vec<BoundaryPoint>,
    pub description: String,
}

/// Savings over the grid of `x` × `y`.
pub fn break_even_map(plan: &Plan, x: Axis, y: Axis, basis: Basis) -> Result<Map> {
    x.check("x")?;
    y.check("y")?;
    if x.input == y.input {
        return Err(Error::invalid("y.input", "must differ from x.input"));
    }
    // A day the scenario gives has its busiest hour: no peak below it.
    if plan.traffic.load_shape_given {
        let busiest = plan.traffic.load_shape.peak();
        for (axis, field) in [(&x, "x"), (&y, "y")] {
            if axis.input == MapInput::PeakToAverage && axis.from.min(axis.to) < busiest {
                return Err(Error::invalid(
                    format!("{field}.from"),
                    format!(
                        "the scenario's workload.load_shape has its busiest hour at {busiest:.4} \
                         times the average; the peak-to-average ratio cannot be below it"
                    ),
                ));
            }
        }
    }
    let (xs, ys) = (x.values(), y.values());
    let mut cells = Vec::with_capacity(xs.len() * ys.len());
    let mut months = Vec::with_capacity(plan.horizon);
    for &yv in &ys {
        for &xv in &xs {
            let mut p = plan.clone();
            let mut api = 1.0;
            let mut gpu = 1.0;
            for (input, value) in [(x.input, xv), (y.input, yv)] {
                match input {
                    MapInput::RequestsPerDay => p.traffic.requests_per_day = value,
                    MapInput::AnnualGrowth => p.traffic.annual_growth = value,
                    MapInput::ApiPriceMultiplier => api = value,
                    MapInput::ApiAnnualPriceDecline => {
                        let old = plan.api_annual_price_decline;
                        for (i, rates) in p.api_rates.iter_mut().enumerate() {
                            let years = i as f64 / 12.0;
                            let f = ((1.0 - value) / (1.0 - old)).powf(years);
                            rates.input *= f;
                            rates.cached_input *= f;
                            rates.output *= f;
                        }
                        p.api_annual_price_decline = value;
                    }
                    MapInput::GpuPriceMultiplier => gpu = value,
                    MapInput::TargetUtilization => p.sizing.target_utilization = value,
                    MapInput::PeakToAverage => p.traffic.set_peak_to_average(value),
                }
            }
            let api_series = vec![api; plan.horizon];
            let gpu_series = vec![gpu; plan.horizon];
            let path = PathInputs {
                api_price: &api_series,
                gpu_price: &gpu_series,
                ..PathInputs::default()
            };
            p.run(&path, &mut months);
            let last = months.last().copied().unwrap_or_default();
            let self_host = match basis {
                Basis::ProfitAndLoss => last.cumulative_self_host_pnl,
                Basis::Cash => last.cumulative_self_host_cash,
            };
            cells.push(Cell {
                x: xv,
                y: yv,
                savings: last.cumulative_api - self_host,
                break_even_month: summarize_break_even(&months, basis),
            });
        }
    }

    let mut boundary = Vec::new();
    for (i, &xv) in xs.iter().enumerate() {
        let column: Vec<&Cell> = (0..ys.len()).map(|j| &cells[j * xs.len() + i]).collect();
        if let Some(pair) = column
            .windows(2)
            .find(|w| (w[0].savings > 0.0) != (w[1].savings > 0.0))
        {
            let (a, b) = (pair[0], pair[1]);
            let y = a.y + (b.y - a.y) * a.savings / (a.savings - b.savings);
            boundary.push(BoundaryPoint {
                x: xv,
                y,
                wins_above: b.savings > 0.0,
            });
        }
    }
    let description = describe(&x, &y, &cells, &boundary);
    Ok(Map {
        cells,
        boundary,
        description,
    })
}

fn describe(x: &Axis, y: &Axis, cells: &[Cell], boundary: &[BoundaryPoint]) -> String {
    let wins = cells.iter().filter(|c| c.savings > 0.0).count();
    if wins == 0 {
        return format!(
            "the API is cheaper everywhere on this map ({} {}–{}, {} {}–{})",
            x.input.name(),
            x.from,
            x.to,
            y.input.name(),
            y.from,
            y.to
        );
    }
    if wins == cells.len() {
        return "self-hosting is cheaper everywhere on this map".into();
    }
    let parts: Vec<String> = boundary
        .iter()
        .map(|b| {
            format!(
                "at {} {:.4}, self-hosting wins {} {} {:.4}",
                x.input.name(),
                b.x,
                if b.wins_above { "above" } else { "below" },
                y.input.name(),
                b.y
            )
        })
        .collect();
    if parts.is_empty() {
        format!(
            "self-hosting wins in {wins} of {} cells; its edge runs along {}",
            cells.len(),
            x.input.name()
        )
    } else {
        parts.join("; ")
    }
}
