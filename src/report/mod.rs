//! Reports: charts (SVG or PNG) and a self-contained HTML page drawn from
//! the domain's results — projections, simulation outcomes, sensitivities,
//! concurrency sweeps and scaling curves.
//!
//! [`mod@format`] says how money, percentages and months read, for reports
//! and command-line tables alike; `chart.rs` draws each chart
//! ([`cumulative_cost`], [`break_even_probability`], [`npv_distribution`],
//! [`tornado()`], [`throughput`], [`scaling`]); `html.rs` lays a whole
//! [`Report`] out on one page ([`html()`]); `xlsx.rs` writes a kept run
//! as an Excel [`Workbook`] ([`xlsx()`]). Pure: no I/O, no clock, no
//! gRPC — the caller decides where the bytes go. Text is measured with a
//! bundled font (`fonts/`), so rendering needs nothing installed on the
//! machine.

mod chart;
pub mod format;
mod html;
mod xlsx;

pub use chart::{
    SIZE, break_even_probability, cumulative_cost, npv_distribution, scaling, throughput, tornado,
};
pub(crate) use html::STYLE;
pub use html::{Report, Source, Sweep, charts, escape, html, sources};
pub use xlsx::{
    AssumptionLine, Figure, Investment, MonthLine, SensitivityLine, Simulation, SimulationMonth,
    SobolLine, TornadoLine, Value, Workbook, xlsx,
};

use crate::montecarlo::{MonthStats, Outcome, Stats};
use crate::tco::{Basis, Month, Sensitivity};

/// What a chart is rendered to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// SVG text (UTF-8), with a `viewBox` so that it scales.
    Svg,
    /// An 8-bit RGB PNG of [`SIZE`] pixels.
    Png,
}

/// A tornado chart's data: how far a measure moves when each input goes
/// from its low to its high value, the others held.
#[derive(Debug, Clone, PartialEq)]
pub struct Tornado {
    /// What the bars measure, e.g. "Median NPV of savings".
    pub measure: String,
    /// The measure with every input at its base value: where bars start.
    pub base: f64,
    /// What "low" means, for the legend, e.g. "input at its P10".
    pub low_label: String,
    /// What "high" means, e.g. "input at its P90".
    pub high_label: String,
    pub rows: Vec<TornadoRow>,
}

/// One input of a tornado.
#[derive(Debug, Clone, PartialEq)]
pub struct TornadoRow {
    /// The input's label, with its low and high values where known.
    pub input: String,
    /// The measure with the input at its low value.
    pub at_low: f64,
    /// The measure with the input at its high value.
    pub at_high: f64,
}

impl Tornado {
    /// The simulation's tornado: median NPV of savings with each uncertain
    /// input at its P10 and P90; the base is the median over all paths.
    pub fn from_outcome(outcome: &Outcome) -> Tornado {
        Tornado {
            measure: "Median NPV of savings".into(),
            base: outcome.npv_savings.p50,
            low_label: "input at its P10".into(),
            high_label: "input at its P90".into(),
            rows: outcome
                .tornado
                .iter()
                .map(|bar| TornadoRow {
                    input: format!(
                        "{} ({} to {})",
                        bar.input,
                        format::number_compact(bar.low_value),
                        format::number_compact(bar.high_value)
                    ),
                    at_low: bar.npv_at_low,
                    at_high: bar.npv_at_high,
                })
                .collect(),
        }
    }

    /// The deterministic sensitivities ([`crate::tco::sensitivities`]):
    /// savings over the horizon (API cost less self-hosting cost) with each
    /// input moved down and up. `base_savings` is the same figure for the
    /// scenario as it is.
    pub fn from_sensitivities(sensitivities: &[Sensitivity], base_savings: f64) -> Tornado {
        let mut rows: Vec<TornadoRow> = Vec::new();
        let (mut down, mut up) = (None, None);
        for s in sensitivities {
            let savings = s.horizon_savings;
            let name = sensitivity_label(s.input);
            let row = match rows.iter_mut().find(|r| r.input == name) {
                Some(row) => row,
                None => {
                    rows.push(TornadoRow {
                        input: name,
                        at_low: base_savings,
                        at_high: base_savings,
                    });
                    rows.last_mut().expect("just pushed")
                }
            };
            if s.change < 0.0 {
                row.at_low = savings;
                down.get_or_insert(s.change);
            } else {
                row.at_high = savings;
                up.get_or_insert(s.change);
            }
        }
        let label = |change: Option<f64>, fallback: &str| match change {
            Some(c) => format!(
                "input {}{}",
                if c > 0.0 { "+" } else { "" },
                format::percent(c, 0)
            ),
            None => fallback.to_string(),
        };
        Tornado {
            measure: "Savings over the horizon".into(),
            base: base_savings,
            low_label: label(down, "input lower"),
            high_label: label(up, "input higher"),
            rows,
        }
    }
}

/// How a [`Sensitivity`] input reads in a chart or table.
pub fn sensitivity_label(input: &str) -> String {
    match input {
        "annual_growth" => "annual growth".into(),
        "api_price" => "API price".into(),
        "gpu_price" => "GPU price".into(),
        other => other.replace('_', " "),
    }
}

/// The months of a deterministic projection in the shape of a
/// simulation's, every percentile equal to the one value, so that the
/// cost charts can draw a projection when there is no simulation (the
/// bands then have no width and are left out).
pub fn projected_months(months: &[Month], basis: Basis) -> Vec<MonthStats> {
    let one = |v: f64| Stats {
        p5: v,
        p25: v,
        p50: v,
        p75: v,
        p95: v,
        mean: v,
        std_error: 0.0,
        min: v,
        max: v,
    };
    let break_even = crate::tco::summarize_break_even(months, basis);
    months
        .iter()
        .map(|m| {
            let self_host = match basis {
                Basis::ProfitAndLoss => (m.self_host_pnl, m.cumulative_self_host_pnl),
                Basis::Cash => (m.self_host_cash, m.cumulative_self_host_cash),
            };
            MonthStats {
                t: m.t,
                api: one(m.api_cost),
                self_host: one(self_host.0),
                cumulative_api: one(m.cumulative_api),
                cumulative_self_host: one(self_host.1),
                cumulative_savings: one(m.cumulative_api - self_host.1),
                mean_utilization: m.utilization,
                p_break_even_by: if break_even.is_some_and(|b| m.t >= b) {
                    1.0
                } else {
                    0.0
                },
                p_break_even_by_se: 0.0,
            }
        })
        .collect()
}

/// The first month by which at least half the simulated paths have broken
/// even (for [`projected_months`], the break-even month); `None` if that
/// never happens within the horizon.
pub fn median_break_even(months: &[MonthStats]) -> Option<u32> {
    months
        .iter()
        .find(|m| m.p_break_even_by >= 0.5)
        .map(|m| m.t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::montecarlo::TornadoBar;

    fn sensitivity(input: &'static str, change: f64, savings: f64) -> Sensitivity {
        Sensitivity {
            input,
            change,
            break_even_month: None,
            break_even_volume: Default::default(),
            horizon_savings: savings,
        }
    }

    #[test]
    fn sensitivities_pair_up_by_input_as_savings() {
        let t = Tornado::from_sensitivities(
            &[
                sensitivity("annual_growth", -0.2, 50.0),
                sensitivity("annual_growth", 0.2, 150.0),
                sensitivity("api_price", -0.2, -30.0),
                sensitivity("api_price", 0.2, 230.0),
            ],
            100.0,
        );
        assert_eq!(t.base, 100.0);
        assert_eq!(t.low_label, "input -20%");
        assert_eq!(t.high_label, "input +20%");
        assert_eq!(
            t.rows,
            [
                TornadoRow {
                    input: "annual growth".into(),
                    at_low: 50.0,
                    at_high: 150.0
                },
                TornadoRow {
                    input: "API price".into(),
                    at_low: -30.0,
                    at_high: 230.0
                },
            ]
        );
    }

    #[test]
    fn the_simulation_tornado_keeps_the_input_range_in_the_label() {
        let outcome = Outcome {
            paths: 1,
            seed: 0,
            antithetic: false,
            engine_version: "test",
            months: Vec::new(),
            p_no_break_even: 0.0,
            p_self_host_cheaper: 0.0,
            npv_savings: Stats {
                p50: 7.0,
                ..Default::default()
            },
            var_95: 0.0,
            cvar_95: 0.0,
            tornado: vec![TornadoBar {
                input: "owned.power_usd_per_kwh".into(),
                low_value: 0.06,
                high_value: 0.125,
                npv_at_low: 9.0,
                npv_at_high: 4.0,
            }],
            rank_correlations: Vec::new(),
            quantile_relative_error: 0.005,
            finance: None,
        };
        let t = Tornado::from_outcome(&outcome);
        assert_eq!(t.base, 7.0);
        assert_eq!(t.rows[0].input, "owned.power_usd_per_kwh (0.06 to 0.125)");
        assert_eq!((t.rows[0].at_low, t.rows[0].at_high), (9.0, 4.0));
    }

    #[test]
    fn half_the_paths_mark_the_median_break_even() {
        let month = |t, p| MonthStats {
            t,
            api: Stats::default(),
            self_host: Stats::default(),
            cumulative_api: Stats::default(),
            cumulative_self_host: Stats::default(),
            cumulative_savings: Stats::default(),
            mean_utilization: 0.0,
            p_break_even_by: p,
            p_break_even_by_se: 0.0,
        };
        let mut months = vec![month(1, 0.1), month(2, 0.49), month(3, 0.5), month(4, 0.9)];
        assert_eq!(median_break_even(&months), Some(3));
        months.truncate(2);
        assert_eq!(median_break_even(&months), None);
    }
}
